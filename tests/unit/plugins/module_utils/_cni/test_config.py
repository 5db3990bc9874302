# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_cni/config: loading with libcni/ocicni rules, validation, host-local ranges."""
from __future__ import annotations

import ipaddress
import json
import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cc
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError


def test_sorted_order_and_extensions(conf_dir, bridge_conflist):
    conf_dir("20-b.conflist", bridge_conflist("b"))
    conf_dir("10-a.conf", {"cniVersion": "0.4.0", "name": "a", "type": "bridge"})
    conf_dir("30-c.json", {"cniVersion": "0.4.0", "name": "c", "type": "macvlan"})
    conf_dir("05-x.txt", bridge_conflist("x"))
    conf_dir("06-y.conflist.bak", bridge_conflist("y"))
    os.mkdir(os.path.join(conf_dir.dir, "07-dir.conflist"))
    assert [os.path.basename(p) for p in cc.config_files(conf_dir.dir)] == \
        ["10-a.conf", "20-b.conflist", "30-c.json"]
    networks, warnings = cc.load_networks(conf_dir.dir)
    assert list(networks) == ["a", "b", "c"]
    assert warnings == []


def test_missing_dir_is_empty(tmp_path):
    assert cc.load_networks(str(tmp_path / "nope")) == ({}, [])


def test_conf_upconverted_like_libcni(conf_dir):
    # libcni ConfListFromConf: {"name", "cniVersion", "plugins": [the conf]} through
    # json.Marshal of a map: sorted keys, compact, HTML characters escaped
    conf_dir("a.conf", '{"type": "bridge", "name": "a", "cniVersion": "0.4.0",\n'
                       ' "bridge": "pnf<br>", "ipam": {"type": "host-local", "subnet": "10.220.9.0/24"},'
                       ' "mtu": 1500}')
    conf = cc.load_networks(conf_dir.dir)[0]["a"]
    assert conf.raw == (b'{"cniVersion":"0.4.0","name":"a","plugins":[{"bridge":"pnf\\u003cbr\\u003e",'
                        b'"cniVersion":"0.4.0","ipam":{"subnet":"10.220.9.0/24","type":"host-local"},'
                        b'"mtu":1500,"name":"a","type":"bridge"}]}')
    assert conf.plugin_types == ["bridge"]
    assert conf.cni_version == "0.4.0"
    assert json.loads(conf.raw)["plugins"][0]["bridge"] == "pnf<br>"


def test_conf_without_version(conf_dir):
    conf_dir("a.conf", {"name": "a", "type": "bridge"})
    conf = cc.load_networks(conf_dir.dir)[0]["a"]
    assert conf.cni_version == ""
    assert conf.raw == b'{"cniVersion":"","name":"a","plugins":[{"name":"a","type":"bridge"}]}'


def test_conflist_bytes_kept_verbatim(conf_dir):
    text = '{ "cniVersion": "1.0.0",\n  "name": "n", "plugins": [ {"type": "bridge"} ] }\n'
    conf_dir("n.conflist", text)
    conf = cc.load_networks(conf_dir.dir)[0]["n"]
    assert conf.raw == text.encode()
    assert conf.path == os.path.join(conf_dir.dir, "n.conflist")


@pytest.mark.parametrize("filename,content,needle", [
    ("bad.conflist", "{not json", "not valid JSON"),
    ("bad.conflist", "", "not valid JSON"),
    ("bad.conflist", "[1, 2]", "not a JSON object"),
    ("bad.conflist", {"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}, "network name None"),
    ("bad.conflist", {"cniVersion": "1.0.0", "name": "-x", "plugins": [{"type": "bridge"}]},
     "network name '-x'"),
    ("bad.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": []}, "no plugins"),
    ("bad.conflist", {"cniVersion": "1.0.0", "name": "n"}, "no plugins"),
    ("bad.conflist", {"cniVersion": 1, "name": "n", "plugins": [{"type": "bridge"}]}, "cniVersion"),
    ("bad.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"bridge": "x"}]},
     "plugin type None"),
    ("bad.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../bin/sh"}]},
     "plugin type '../bin/sh'"),
    ("bad.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": ["bridge"]}, "not an object"),
    ("bad.conflist", {"cniVersion": "1.0.0", "name": "n",
                      "plugins": [{"type": "portmap", "capabilities": ["portMappings"]}]},
     "capabilities"),
    ("bad.conf", {"cniVersion": "1.0.0", "name": "n"}, "plugin type None"),
    ("bad.conf", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "bridge"}]},
     "holds one plugin"),
    ("bad.json", "nope", "not valid JSON"),
])
def test_invalid_file_skipped_with_warning(conf_dir, filename, content, needle, bridge_conflist):
    path = conf_dir(filename, content)
    conf_dir("zz-good.conflist", bridge_conflist("good"))
    networks, warnings = cc.load_networks(conf_dir.dir)
    assert list(networks) == ["good"]
    assert len(warnings) == 1
    assert warnings[0].startswith("skipped CNI config %s" % path)
    assert needle in warnings[0]


def test_first_of_a_name_wins(conf_dir, bridge_conflist):
    first = conf_dir("10-net.conflist", bridge_conflist("net1", bridge="pnfbr-a"))
    second = conf_dir("20-net.conf", {"cniVersion": "0.4.0", "name": "net1", "type": "macvlan"})
    networks, warnings = cc.load_networks(conf_dir.dir)
    assert networks["net1"].path == first
    assert networks["net1"].plugins[0]["bridge"] == "pnfbr-a"
    assert warnings == ["skipped CNI config %s: network net1 is already defined by %s"
                        % (second, first)]


def test_disable_check_and_capabilities(conf_dir, bridge_conflist):
    obj = bridge_conflist("n")
    obj["disableCheck"] = "true"
    obj["plugins"].append({"type": "dnsname", "capabilities": {"aliases": True, "mac": False}})
    conf_dir("n.conflist", obj)
    conf = cc.load_networks(conf_dir.dir)[0]["n"]
    assert conf.disable_check is True
    assert conf.capabilities() == {"portMappings": True, "aliases": True}
    assert conf.plugin_types == ["bridge", "portmap", "firewall", "tuning", "dnsname"]


def test_validate_plugins(conf_dir, plugin_dir, tmp_path, bridge_conflist):
    conf_dir("n.conflist", bridge_conflist("n"))
    conf = cc.load_networks(conf_dir.dir)[0]["n"]
    paths = cc.validate_plugins(conf, [str(tmp_path / "empty"), plugin_dir])
    assert paths["bridge"] == os.path.join(plugin_dir, "bridge")
    assert set(paths) == {"bridge", "portmap", "firewall", "tuning"}


@pytest.mark.parametrize("how", ["missing", "not-executable", "directory"])
def test_validate_plugins_missing_binary(conf_dir, plugin_dir, how, bridge_conflist):
    conf_dir("n.conflist", bridge_conflist("n"))
    conf = cc.load_networks(conf_dir.dir)[0]["n"]
    target = os.path.join(plugin_dir, "firewall")
    os.unlink(target)
    if how == "not-executable":
        with open(target, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(target, 0o644)
    elif how == "directory":
        os.mkdir(target)
    with pytest.raises(ConfigError) as info:
        cc.validate_plugins(conf, [plugin_dir])
    assert "CNI plugin 'firewall' not found in %s" % plugin_dir in str(info.value)
    assert info.value.details["plugin"] == "firewall"


def test_get_network_unknown_names_it(conf_dir, bridge_conflist):
    conf_dir("n.conflist", bridge_conflist("n"))
    with pytest.raises(ValidationError) as info:
        cc.get_network(conf_dir.dir, "other")
    assert "unknown CNI network 'other'" in str(info.value)
    assert "known: n" in str(info.value)
    with pytest.raises(ValidationError, match="invalid network name '../n'"):
        cc.get_network(conf_dir.dir, "../n")
    assert cc.get_network(conf_dir.dir, "n").name == "n"


@pytest.mark.parametrize("name", ["n", "N1", "my-net", "my_net.2", "1net"])
def test_network_name_ok(name):
    assert cc.validate_network_name(name) == name


@pytest.mark.parametrize("name", ["", "-n", ".n", "a/b", "a b", None, "a:b"])
def test_network_name_bad(name):
    with pytest.raises(ValidationError):
        cc.validate_network_name(name)


RANGES = {
    "cniVersion": "1.0.0", "name": "r",
    "plugins": [{"type": "bridge", "ipam": {"type": "host-local", "ranges": [
        [{"subnet": "10.220.5.0/24", "rangeStart": "10.220.5.10", "rangeEnd": "10.220.5.20"}],
        [{"subnet": "fd00:220:5::/64"}],
    ]}}],
}


@pytest.mark.parametrize("ip,inside", [
    ("10.220.5.10", True), ("10.220.5.20", True), ("10.220.5.15", True),
    ("10.220.5.9", False), ("10.220.5.21", False), ("10.220.6.15", False),
    ("fd00:220:5::99", True), ("fd00:220:6::1", False),
])
def test_check_ip_in_network(ip, inside):
    conf = cc.conflist_from_bytes(json.dumps(RANGES).encode())
    addr = ipaddress.ip_address(ip)
    if inside:
        cc.check_ip_in_network(conf, addr)
    else:
        with pytest.raises(ValidationError) as info:
            cc.check_ip_in_network(conf, addr)
        assert "IP %s is outside every range of network r" % ip in str(info.value)
    assert [str(s) for s in cc.subnets(conf)] == ["10.220.5.0/24", "fd00:220:5::/64"]


def test_legacy_subnet_and_other_ipam(bridge_conflist):
    legacy = bridge_conflist("l")
    legacy["plugins"][0]["ipam"] = {"type": "host-local", "subnet": "10.220.7.0/24",
                                    "dataDir": "/tmp/pnf-ipam"}
    conf = cc.conflist_from_bytes(json.dumps(legacy).encode())
    assert [str(s) for s in cc.subnets(conf)] == ["10.220.7.0/24"]
    assert list(cc.iter_ipam_dirs(conf)) == [("/tmp/pnf-ipam", "l")]
    with pytest.raises(ValidationError):
        cc.check_ip_in_network(conf, ipaddress.ip_address("10.220.8.1"))
    dhcp = bridge_conflist("d")
    dhcp["plugins"][0]["ipam"] = {"type": "dhcp"}
    conf = cc.conflist_from_bytes(json.dumps(dhcp).encode())
    cc.check_ip_in_network(conf, ipaddress.ip_address("192.0.2.1"))  # not ours to judge
    assert list(cc.iter_ipam_dirs(conf)) == []


@pytest.mark.parametrize("ip, ok", [
    ("10.230.1.0", False), ("10.230.1.1", False), ("10.230.1.255", False),
    ("10.230.1.2", True), ("10.230.1.254", True), ("10.230.2.5", False),
])
def test_host_local_defaults_network_broadcast_and_gateway(ip, ok):
    rng = cc.IpRange(ipaddress.ip_network("10.230.1.0/24"))
    assert rng.contains(ipaddress.ip_address(ip)) is ok


def test_an_explicit_gateway_and_range_count():
    rng = cc.IpRange(ipaddress.ip_network("10.230.1.0/24"), gateway=ipaddress.ip_address("10.230.1.254"),
                     start=ipaddress.ip_address("10.230.1.100"))
    assert not rng.contains(ipaddress.ip_address("10.230.1.254"))
    assert rng.contains(ipaddress.ip_address("10.230.1.1")) is False   # before rangeStart
    assert rng.contains(ipaddress.ip_address("10.230.1.100"))


def test_ipv6_ranges_keep_their_last_address():
    rng = cc.IpRange(ipaddress.ip_network("fd00:230::/64"))
    assert rng.contains(ipaddress.ip_address("fd00:230::ffff:ffff:ffff:ffff"))
    assert not rng.contains(ipaddress.ip_address("fd00:230::"))
    assert not rng.contains(ipaddress.ip_address("fd00:230::1"))
