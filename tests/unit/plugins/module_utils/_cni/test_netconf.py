# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_network's conflist generator and its checks (_cni/netconf.py): pure logic (plan and apply:
../test_network.py; the host's routes: ../test_hostnet.py)."""
from __future__ import annotations

import pytest

from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import netconf
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError


def spec(**kw):
    kw.setdefault("name", "pnnu")
    return netconf.NetworkSpec(**kw)


# --- subnets ---

@pytest.mark.parametrize("args, expected", [
    (("10.223.1.0/24",), {"subnet": "10.223.1.0/24", "gateway": "10.223.1.1"}),
    (("10.223.1.77/24",), {"subnet": "10.223.1.0/24", "gateway": "10.223.1.1"}),  # host bits
    (("10.223.1.0/24", "10.223.1.254"), {"subnet": "10.223.1.0/24", "gateway": "10.223.1.254"}),
    (("10.223.1.0/24", None, "10.223.1.10", "10.223.1.20"),
     {"subnet": "10.223.1.0/24", "rangeStart": "10.223.1.10", "rangeEnd": "10.223.1.20",
      "gateway": "10.223.1.1"}),
    (("fd00:223:1::/64",), {"subnet": "fd00:223:1::/64", "gateway": "fd00:223:1::1"}),
    (("FD00:223:1:0::/64", "fd00:223:1::FFFF"),
     {"subnet": "fd00:223:1::/64", "gateway": "fd00:223:1::ffff"}),
])
def test_subnet_range(args, expected):
    rng = netconf.Subnet(*args).to_range()
    assert rng == expected
    assert list(rng) == [k for k in ("subnet", "rangeStart", "rangeEnd", "gateway") if k in rng]


@pytest.mark.parametrize("args, fragment", [
    (("10.223.1.0/33",), "invalid subnet"),
    (("nonsense",), "invalid subnet"),
    (("10.223.1.0/31",), "too small"),
    (("fd00::/127",), "too small"),
    (("10.223.1.0/24", "10.223.2.1"), "gateway 10.223.2.1 is outside"),
    (("10.223.1.0/24", "fd00::1"), "outside the subnet"),
    (("10.223.1.0/24", "10.223.1.0"), "network address"),
    (("10.223.1.0/24", "10.223.1.255"), "broadcast address"),
    (("10.223.1.0/24", "x"), "invalid gateway"),
    (("10.223.1.0/24", None, "10.223.0.5"), "range_start 10.223.0.5 is outside"),
    (("10.223.1.0/24", None, None, "10.223.3.5"), "range_end 10.223.3.5 is outside"),
    (("10.223.1.0/24", None, "10.223.1.50", "10.223.1.40"), "is after range_end"),
])
def test_subnet_errors(args, fragment):
    with pytest.raises(ValidationError, match=fragment):
        netconf.Subnet(*args)


# ip_range (podman's --ip-range): the CIDR's addresses a container may get, as host-local's
# rangeStart/rangeEnd; the subnet's network and IPv4 broadcast addresses are left out
# (podman v3/v4 write the range's first address + 1 and its last, which hands out the
# subnet's broadcast when the range ends the subnet)
@pytest.mark.parametrize("subnet, ip_range, start, end", [
    ("10.223.1.0/24", "10.223.1.128/25", "10.223.1.128", "10.223.1.254"),   # no broadcast
    ("10.223.1.0/24", "10.223.1.0/30", "10.223.1.1", "10.223.1.3"),         # no network addr
    ("10.223.1.0/24", "10.223.1.64/26", "10.223.1.64", "10.223.1.127"),     # inside: all of it
    ("10.223.1.0/24", "10.223.1.77/26", "10.223.1.64", "10.223.1.127"),     # host bits
    ("10.223.1.0/24", "10.223.1.0/24", "10.223.1.1", "10.223.1.254"),       # the whole subnet
    ("10.223.1.0/24", "10.223.1.9/32", "10.223.1.9", "10.223.1.9"),         # one address
    ("fd00:223:1::/64", "fd00:223:1::/120", "fd00:223:1::1", "fd00:223:1::ff"),
    ("fd00:223:1::/64", "fd00:223:1:0:ffff:ffff:ffff:ff00/120",
     "fd00:223:1:0:ffff:ffff:ffff:ff00", "fd00:223:1:0:ffff:ffff:ffff:ffff"),  # no broadcast in v6
    ("FD00:223:1::/64", "FD00:223:1::100/120", "fd00:223:1::100", "fd00:223:1::1ff"),
])
def test_ip_range(subnet, ip_range, start, end):
    s = netconf.parse_subnets([{"subnet": subnet, "ip_range": ip_range}])[0]
    rng = s.to_range()
    assert (rng["rangeStart"], rng["rangeEnd"]) == (start, end)
    assert list(rng) == ["subnet", "rangeStart", "rangeEnd", "gateway"]
    # the file's range reads back as the same range_start/range_end (idempotent, no ip_range kept)
    back = netconf.Subnet(rng["subnet"], rng["gateway"], rng["rangeStart"], rng["rangeEnd"])
    assert back.to_range() == rng


@pytest.mark.parametrize("entry, fragment", [
    ({"ip_range": "10.223.2.0/25"}, r"ip_range 10.223.2.0/25 is not inside the subnet 10.223.1.0/24"),
    ({"ip_range": "10.223.0.0/16"}, r"ip_range 10.223.0.0/16 is not inside the subnet"),
    ({"ip_range": "fd00::/120"}, r"ip_range fd00::/120 is IPv6, the subnet 10.223.1.0/24 IPv4"),
    ({"ip_range": "10.223.1.300/25"}, r"invalid ip_range '10.223.1.300/25'"),
    ({"ip_range": "bogus"}, r"invalid ip_range 'bogus': expected a CIDR"),
    ({"ip_range": "10.223.1.0/32"}, r"ip_range 10.223.1.0/32 holds no address a container can get"),
    ({"ip_range": "10.223.1.255/32"}, r"holds no address a container can get"),
    ({"ip_range": "10.223.1.0/31"}, r"ip_range 10.223.1.0/31 holds only the gateway 10.223.1.1"),
    ({"ip_range": "10.223.1.128/26", "range_start": "10.223.1.130"},
     r"ip_range and range_start/range_end exclude each other"),
    ({"ip_range": "10.223.1.128/26", "range_end": "10.223.1.140"}, r"exclude each other"),
])
def test_ip_range_errors(entry, fragment):
    with pytest.raises(ValidationError, match=fragment):
        netconf.parse_subnets([dict(entry, subnet="10.223.1.0/24")])


def test_ip_range_builds_host_local_range():
    conf = netconf.build_conflist(spec(subnets=[{"subnet": "10.223.1.0/24", "gateway": "10.223.1.254",
                                                 "ip_range": "10.223.1.192/26"}]), bridge="b")
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{
        "subnet": "10.223.1.0/24", "rangeStart": "10.223.1.192", "rangeEnd": "10.223.1.254",
        "gateway": "10.223.1.254"}]]


@pytest.mark.parametrize("items, fragment", [
    ([{"subnet": "10.223.0.0/16"}, {"subnet": "10.223.5.0/24"}], "overlap"),
    ([{"subnet": "10.223.1.0/24"}, {"subnet": "10.223.1.0/24"}], "overlap"),
    ([{"gateway": "10.223.1.1"}], "invalid subnets entry"),
    ([{"subnet": "10.223.1.0/24", "gw": "10.223.1.1"}], "unknown keys gw"),
])
def test_parse_subnets_errors(items, fragment):
    with pytest.raises(ValidationError, match=fragment):
        netconf.parse_subnets(items)


def test_parse_subnets_dual_stack_and_strings():
    subnets = netconf.parse_subnets(["10.223.1.0/24", {"subnet": "fd00:223:1::/64"}])
    assert [str(s.subnet) for s in subnets] == ["10.223.1.0/24", "fd00:223:1::/64"]
    assert netconf.parse_subnets(None) is None


@pytest.mark.parametrize("items, expected", [
    ([{"dst": "10.99.0.0/16", "gw": "10.223.1.254"}], [{"dst": "10.99.0.0/16", "gw": "10.223.1.254"}]),
    ([{"dst": "10.99.0.7/16"}], [{"dst": "10.99.0.0/16"}]),
    (["fd00:99::/48"], [{"dst": "fd00:99::/48"}]),
])
def test_parse_routes(items, expected):
    assert netconf.parse_routes(items) == expected


@pytest.mark.parametrize("items, fragment", [
    ([{"dst": "10.99.0.0/16", "gw": "fd00::1"}], "another IP version"),
    ([{"dst": "bogus"}], "invalid route destination"),
    ([{"gw": "10.0.0.1"}], "invalid route"),
])
def test_parse_routes_errors(items, fragment):
    with pytest.raises(ValidationError, match=fragment):
        netconf.parse_routes(items)


@pytest.mark.parametrize("name, expected", [
    ("web", "cni-web"),
    ("abcdefghijk", "cni-abcdefghijk"),          # exactly 15
])
def test_default_bridge_name_short(name, expected):
    assert netconf.default_bridge_name(name) == expected


def test_default_bridge_name_long_is_hashed_and_stable():
    a = netconf.default_bridge_name("a-rather-long-network-name")
    assert a == netconf.default_bridge_name("a-rather-long-network-name")
    assert a.startswith("cni-") and len(a) == 15
    assert a != netconf.default_bridge_name("a-rather-long-network-namf")


# --- option validation ---

@pytest.mark.parametrize("kw, fragment", [
    ({"name": "bad/name"}, "invalid network name"),
    ({"name": "-x"}, "invalid network name"),
    ({"name": "a" * 201}, "longer than 200"),
    ({"driver": "overlay"}, "invalid driver"),
    ({"bridge": "b" * 16}, "longer than 15"),
    ({"parent": "eth0"}, "parent is for the macvlan"),
    ({"mode": "l2"}, "mode is for the macvlan"),
    ({"vlan": 5000}, "invalid vlan 5000"),
    ({"mtu": 20}, "invalid mtu 20"),
    ({"mtu": 70000}, "invalid mtu 70000"),
    ({"cni_version": "0.2.0"}, "invalid cni_version"),
    ({"dns_enabled": True, "internal": True}, "exclude each other"),
    ({"dns_domain": "bad domain"}, "invalid dns_domain"),
    ({"subnets": []}, "subnets is empty"),
    ({"driver": "macvlan", "vlan": 3}, "vlan: only for the bridge driver"),
    ({"driver": "macvlan", "bridge": "br0"}, "bridge: only for the bridge driver"),
    ({"driver": "ipvlan", "dns_enabled": True}, "dns_enabled: only for the bridge"),
    ({"driver": "macvlan", "mode": "l2"}, "invalid macvlan mode 'l2'"),
    ({"driver": "ipvlan", "mode": "vepa"}, "invalid ipvlan mode 'vepa'"),
    ({"driver": "macvlan", "subnets": []}, "subnets is empty"),
])
def test_spec_errors(kw, fragment):
    with pytest.raises(ValidationError, match=fragment):
        spec(**kw)


def test_spec_absent_skips_option_checks():
    assert spec(state="absent", vlan=9999).state == "absent"


# --- the conflist ---

def test_bridge_chain_shape_and_order():
    conf = netconf.build_conflist(spec(subnets=["10.223.1.0/24"]), bridge="pnnbr")
    assert list(conf) == ["cniVersion", "name", "plugins"]
    assert conf["cniVersion"] == "0.4.0"
    main = conf["plugins"][0]
    assert list(main) == ["type", "bridge", "isGateway", "ipMasq", "hairpinMode", "ipam", "capabilities"]
    assert main["isGateway"] is True and main["ipMasq"] is True and main["hairpinMode"] is True
    assert main["capabilities"] == {"ips": True}
    assert main["ipam"] == {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                            "ranges": [[{"subnet": "10.223.1.0/24", "gateway": "10.223.1.1"}]]}
    assert conf["plugins"][1:] == [{"type": "portmap", "capabilities": {"portMappings": True}},
                                   {"type": "firewall", "backend": ""}, {"type": "tuning"}]


@pytest.mark.parametrize("kw, routes", [
    ({"subnets": ["10.223.1.0/24", "fd00:223:1::/64"]}, [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]),
    ({"subnets": ["fd00:223:1::/64"]}, [{"dst": "::/0"}]),
    ({"subnets": ["10.223.1.0/24"], "internal": True}, None),
    ({"subnets": ["10.223.1.0/24"], "internal": True, "routes": [{"dst": "10.99.0.0/16"}]},
     [{"dst": "10.99.0.0/16"}]),
    ({"subnets": ["10.223.1.0/24"], "routes": [{"dst": "0.0.0.0/0", "gw": "10.223.1.254"}]},
     [{"dst": "0.0.0.0/0", "gw": "10.223.1.254"}]),
    ({"subnets": ["10.223.1.0/24"], "routes": [{"dst": "10.99.0.0/16"}]},
     [{"dst": "10.99.0.0/16"}, {"dst": "0.0.0.0/0"}]),
])
def test_routes(kw, routes):
    ipam = netconf.build_conflist(spec(**kw), bridge="pnnbr")["plugins"][0]["ipam"]
    assert ipam.get("routes") == routes
    assert len(ipam["ranges"]) == len(kw["subnets"])


def test_internal_has_no_gateway_nor_masquerade():
    main = netconf.build_conflist(spec(subnets=["10.223.1.0/24"], internal=True), bridge="b")["plugins"][0]
    assert main["isGateway"] is False and main["ipMasq"] is False


@pytest.mark.parametrize("kw, key, value", [
    ({"mtu": 1400}, "mtu", 1400),
    ({"vlan": 12}, "vlan", 12),
    ({"hairpin": False}, "hairpinMode", False),
])
def test_bridge_options(kw, key, value):
    main = netconf.build_conflist(spec(subnets=["10.223.1.0/24"], **kw), bridge="b")["plugins"][0]
    assert main[key] == value


def test_isolate_and_dns_and_version():
    conf = netconf.build_conflist(spec(subnets=["10.223.1.0/24"], isolate=True, dns_enabled=True,
                                       dns_domain="pnn.test", cni_version="1.0.0"), bridge="b")
    assert conf["cniVersion"] == "1.0.0"
    assert conf["plugins"][2] == {"type": "firewall", "backend": "", "ingressPolicy": "same-bridge"}
    assert conf["plugins"][-1] == {"type": "dnsname", "domainName": "pnn.test",
                                   "capabilities": {"aliases": True}}


@pytest.mark.parametrize("driver, mode", [("macvlan", "bridge"), ("ipvlan", "l2"), ("macvlan", None)])
def test_vlan_drivers(driver, mode):
    conf = netconf.build_conflist(spec(driver=driver, mode=mode, mtu=1500, subnets=["10.223.2.0/24"]),
                                  parent="pnnpar")
    assert len(conf["plugins"]) == 1
    main = conf["plugins"][0]
    expected_keys = ["type", "master"] + (["mode"] if mode else []) + ["mtu", "ipam", "capabilities"]
    assert list(main) == expected_keys
    assert main["type"] == driver and main["master"] == "pnnpar" and main.get("mode") == mode
    assert main["ipam"]["type"] == "host-local" and main["capabilities"] == {"ips": True}


def test_vlan_driver_without_subnets_uses_dhcp():
    main = netconf.build_conflist(spec(driver="macvlan"), parent="pnnpar")["plugins"][0]
    assert main["ipam"] == {"type": "dhcp"} and "capabilities" not in main


def test_render_loads_with_our_loader():
    conf = netconf.build_conflist(spec(subnets=["10.223.1.0/24", "fd00:223:1::/64"]), bridge="b")
    data = netconf.render(conf)
    assert data.endswith(b"}\n") and b'\n   "cniVersion"' in data
    loaded = cniconf.conflist_from_bytes(data, "x")
    assert loaded.plugin_types == ["bridge", "portmap", "firewall", "tuning"]
    assert [str(s) for s in cniconf.subnets(loaded)] == ["10.223.1.0/24", "fd00:223:1::/64"]
    assert loaded.capabilities() == {"ips": True, "portMappings": True}
    assert netconf.conflist_view(conf)["subnets"][1]["gateway"] == "fd00:223:1::1"


@pytest.mark.parametrize("without, plugin", [(("dnsname",), "dnsname"), (("host-local",), "host-local"),
                                             (("tuning",), "tuning")])
def test_missing_plugin(plugins, without, plugin):
    conf = netconf.build_conflist(spec(subnets=["10.223.1.0/24"], dns_enabled=True), bridge="b")
    with pytest.raises(ConfigError, match="CNI plugin %r not found" % plugin):
        netconf.check_plugins(conf, plugins(without))


def test_missing_dnsname_says_which_package(plugins):
    conf = netconf.build_conflist(spec(subnets=["10.223.1.0/24"], dns_enabled=True), bridge="b")
    with pytest.raises(ConfigError, match="golang-github-containernetworking-plugin-dnsname"):
        netconf.check_plugins(conf, plugins(("dnsname",)))


# --- overlap and plan against a config dir ---

@pytest.mark.parametrize("ours, overlapping", [
    ("10.223.1.0/24", True), ("10.223.1.128/25", True), ("10.223.0.0/16", True),
    ("10.223.2.0/24", False), ("fd00:223:1::/64", False),
])
def test_subnet_overlaps(conf_dir, ours, overlapping, bridge_conflist):
    conf_dir("other.conflist", bridge_conflist("other", "10.223.1.0/24"))
    networks = cniconf.load_networks(conf_dir.dir)[0]
    found = netconf.subnet_overlaps(netconf.parse_subnets([ours]), networks, "pnnu")
    assert bool(found) == overlapping
    if overlapping:
        assert found[0][1:] == ("other", "10.223.1.0/24")
