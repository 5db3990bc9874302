# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_validate: every accepted value normalised, every rejected one named in the error."""
from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _validate as v
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError


def rejects(fn, value, *args, needle=None):
    with pytest.raises(ValidationError) as info:
        fn(value, *args)
    text = str(info.value)
    assert (needle if needle is not None else repr(value)) in text, text
    return info.value


@pytest.mark.parametrize("value", [
    "a", "A", "0", "abc123", "web-1", "web_1", "web.1", "a" * 250, "0123456789abcdef" * 4,
    "x..y", "a-", "a.",
])
def test_container_id_ok(value):
    assert v.container_id(value) == value


@pytest.mark.parametrize("value", [
    "", "-a", "_a", ".a", "..", "a/b", "../etc", "a b", "a:b", "a;b", "a\nb", "é", "a" * 254 + "/",
    None, 12, ["a"],
])
def test_container_id_bad(value):
    err = rejects(v.container_id, value)
    assert "[A-Za-z0-9][A-Za-z0-9_.-]*" in str(err)


@pytest.mark.parametrize("length", [251, 253, 300])
def test_container_id_too_long_for_its_files(length):
    """<id>.json and <id>.lock must fit in a file name (255): at most 250 characters."""
    assert "too long (%d characters, at most 250" % length in str(rejects(v.container_id, "a" * length))
    assert v.container_id("a" * 253, "name") == "a" * 253   # a name is no file name


@pytest.mark.parametrize("network, cid, ifname, ok", [
    ("n" * 9, "c" * 235, "eth0", True), ("n" * 9, "c" * 236, "eth0", False),
    ("n", "c" * 64, "eth15", True), ("n" * 200, "c" * 50, "eth0", False),
])
def test_attachment_names_fit_in_a_file_name(network, cid, ifname, ok):
    if ok:
        v.attachment_names_fit(network, cid, ifname)
    else:
        assert "is too long for network" in str(rejects(v.attachment_names_fit, network, cid, ifname,
                                                        needle=network))


def test_container_id_names_the_option():
    assert "invalid name 'x y'" in str(rejects(v.container_id, "x y", "name"))


@pytest.mark.parametrize("value", ["eth0", "e", "a" * 15, "net-1.2_x", "ETH0", "eth@1", "veth%d"])
def test_ifname_ok(value):
    assert v.ifname(value) == value


@pytest.mark.parametrize("value,why", [
    ("a" * 16, "longer than 15"),
    ("averyveryverylongname", "longer than 15"),
    ("eth/0", "'/'"),
    ("eth:0", "':'"),
    ("eth 0", "whitespace"),
    ("eth\t0", "whitespace"),
    ("eth0\n", "whitespace"),
    (".", "'.'"),
    ("..", "'..'"),
    ("", "empty"),
    (None, "empty"),
])
def test_ifname_bad(value, why):
    err = rejects(v.ifname, value)
    assert why in str(err)


@pytest.mark.parametrize("value,norm", [
    ("10.220.0.5", "10.220.0.5"),
    (" 10.220.0.5 ", "10.220.0.5"),
    ("fd00:0:0::1", "fd00::1"),
    ("FD00::A", "fd00::a"),
    # the interpreter's own form: Python 3.13 writes IPv4-mapped addresses as RFC 5952 says
    # (::ffff:10.0.0.1), older ones in hex (::ffff:a00:1); one host compares with one Python
    ("::ffff:10.0.0.1", str(ipaddress.ip_address("::ffff:10.0.0.1"))),
])
def test_ip_ok(value, norm):
    assert v.ip(value) == norm


@pytest.mark.parametrize("value", [
    "10.220.0.256", "10.220.0", "10.220.0.5/24", "abc", "", "fd00:::1", "1.2.3.4.5",
    "fe80::1%eth0", None,
])
def test_ip_bad(value):
    rejects(v.ip, value)


def test_ip_names_the_option():
    assert "invalid static_ip 'x'" in str(rejects(v.ip, "x", "static_ip"))


@pytest.mark.parametrize("values,expected", [
    ([], []),
    (None, []),
    (["10.220.0.5"], ["10.220.0.5"]),
    (["10.220.0.5", "fd00::5"], ["10.220.0.5", "fd00::5"]),
])
def test_ip_list_ok(values, expected):
    assert v.ip_list(values) == expected


@pytest.mark.parametrize("values,needle", [
    (["10.220.0.5", "10.220.0.5"], "duplicate"),
    (["10.220.0.5", "10.220.0.6"], "at most one IPv4"),
    (["fd00::5", "fd00::6"], "at most one IPv6"),
    (["10.220.0.5", "nope"], "'nope'"),
])
def test_ip_list_bad(values, needle):
    with pytest.raises(ValidationError, match=needle):
        v.ip_list(values)


@pytest.mark.parametrize("value,norm", [
    ("10.220.0.0/24", "10.220.0.0/24"),
    ("10.220.0.7/24", "10.220.0.0/24"),
    ("fd00::1/64", "fd00::/64"),
])
def test_cidr(value, norm):
    assert v.cidr(value) == norm


@pytest.mark.parametrize("value", ["10.220.0.0/33", "x/24", ""])
def test_cidr_bad(value):
    rejects(v.cidr, value)


@pytest.mark.parametrize("value,norm", [
    ("02:42:ac:11:00:02", "02:42:ac:11:00:02"),
    ("02:42:AC:11:00:02", "02:42:ac:11:00:02"),
    ("02-42-ac-11-00-02", "02:42:ac:11:00:02"),
    ("00:16:3e:00:00:01", "00:16:3e:00:00:01"),
    ("fe:ff:ff:ff:ff:ff", "fe:ff:ff:ff:ff:ff"),
])
def test_mac_ok(value, norm):
    assert v.mac(value) == norm


@pytest.mark.parametrize("value,why", [
    ("01:00:5e:00:00:01", "multicast"),     # IPv4 multicast
    ("33:33:00:00:00:01", "multicast"),     # IPv6 multicast
    ("ff:ff:ff:ff:ff:ff", "multicast"),     # broadcast
    ("03:00:00:00:00:01", "multicast"),
    ("00:00:00:00:00:00", "all-zero"),
    ("02:42:ac:11:00", "six hex octets"),
    ("02:42:ac:11:00:02:03", "six hex octets"),
    ("02:42-ac:11:00:02", "six hex octets"),  # mixed separators
    ("0242.ac11.0002", "six hex octets"),
    ("02:42:ac:11:00:gg", "six hex octets"),
    ("", "six hex octets"),
    (None, "six hex octets"),
])
def test_mac_bad(value, why):
    err = rejects(v.mac, value)
    assert why in str(err)


@pytest.mark.parametrize("value,expected", [(1, 1), (65535, 65535), ("8080", 8080), (" 80", 80)])
def test_port_ok(value, expected):
    assert v.port(value) == expected


@pytest.mark.parametrize("value,why", [
    (0, "between 1 and 65535"), (65536, "between 1 and 65535"), (-1, "between 1 and 65535"),
    ("0", "between 1 and 65535"), (True, "between 1 and 65535"),
    ("http", "not an integer"), ("1.5", "not an integer"), (80.0, "not an integer"),
    ("0x50", "not an integer"), (None, "not an integer"), ("", "not an integer"),
])
def test_port_bad(value, why):
    err = rejects(v.port, value)
    assert why in str(err)


@pytest.mark.parametrize("value,norm", [("tcp", "tcp"), ("UDP", "udp"), ("sctp", "sctp")])
def test_protocol_ok(value, norm):
    assert v.protocol(value) == norm


@pytest.mark.parametrize("value", ["icmp", "tcp ", "", None, "tcp/udp"])
def test_protocol_bad(value):
    assert "tcp, udp, sctp" in str(rejects(v.protocol, value))


@pytest.mark.parametrize("pm,expected", [
    ({"container_port": 80},
     {"host_port": 80, "container_port": 80, "protocol": "tcp", "host_ip": "", "range": 1}),
    ({"container_port": 80, "host_port": 8080, "protocol": "UDP", "host_ip": "127.0.0.1"},
     {"host_port": 8080, "container_port": 80, "protocol": "udp", "host_ip": "127.0.0.1",
      "range": 1}),
    ({"container_port": 80, "host_port": 8080, "range": 3, "protocol": None, "host_ip": None},
     {"host_port": 8080, "container_port": 80, "protocol": "tcp", "host_ip": "", "range": 3}),
    ({"container_port": 65535, "range": 1},
     {"host_port": 65535, "container_port": 65535, "protocol": "tcp", "host_ip": "", "range": 1}),
])
def test_port_mapping_ok(pm, expected):
    assert v.port_mapping(pm) == expected


@pytest.mark.parametrize("pm,needle", [
    ({"container_port": 0}, "container_port 0"),
    ({"container_port": 80, "host_port": 70000}, "host_port 70000"),
    ({"container_port": 80, "protocol": "icmp"}, "'icmp'"),
    ({"container_port": 80, "host_ip": "localhost"}, "host_ip 'localhost'"),
    ({"container_port": 80, "range": 0}, "port range 0"),
    ({"container_port": 65535, "range": 2}, "port range 2"),
    ({"container_port": 80, "host_port": 65535, "range": 2}, "port range 2"),
    ({"container_port": 80, "range": "many"}, "'many'"),
    ({"container_port": 80, "range": True}, "True"),
    ({"container_port": 80, "hostport": 80},
     "invalid port_mappings entry {'container_port': 80, 'hostport': 80}: unknown key hostport "
     "(valid keys: container_port, host_ip, host_port, protocol, range)"),
    ({"container_port": 80, "hostport": 80, "ip": 1}, "unknown keys hostport, ip (valid keys: "),
    ({}, "invalid port_mappings entry {}: container_port is required"),
    ({"host_port": 80, "container_port": None}, "container_port is required"),
    (["80:80"], "invalid port_mappings entry ['80:80']: a dict with the keys container_port, "
                "host_ip, host_port, protocol, range, or a string"),
    (None, "invalid port_mappings entry None"),
    (True, "invalid port_mappings entry True"),
])
def test_port_mapping_bad(pm, needle):
    with pytest.raises(ValidationError) as info:
        v.port_mapping(pm)
    assert needle in str(info.value)


# podman/docker strings (podman's CreatePortBindings): what each one maps
def _pm(hport, cport, proto="tcp", hip="", count=1):
    return {"host_port": hport, "container_port": cport, "protocol": proto, "host_ip": hip,
            "range": count}


@pytest.mark.parametrize("text,expected", [
    ("8080:80", [_pm(8080, 80)]),
    ("80:80", [_pm(80, 80)]),
    ("127.0.0.1:8080:80/tcp", [_pm(8080, 80, hip="127.0.0.1")]),
    ("127.0.0.1:8080:80/TCP", [_pm(8080, 80, hip="127.0.0.1")]),
    ("8080-8082:80-82", [_pm(8080, 80, count=3)]),
    ("8080-8080:80-80", [_pm(8080, 80)]),
    ("[::1]:8080:80", [_pm(8080, 80, hip="::1")]),
    ("[fd00:0::1]:8080:80/udp", [_pm(8080, 80, "udp", "fd00::1")]),
    ("[::]:8080:80", [_pm(8080, 80, hip="::")]),
    ("53:53/udp", [_pm(53, 53, "udp")]),
    ("5000:5000/sctp", [_pm(5000, 5000, "sctp")]),
    ("0.0.0.0:8080:80", [_pm(8080, 80)]),  # every address, as podman
    ("10.0.0.1:1-2:65534-65535/udp", [_pm(1, 65534, "udp", "10.0.0.1", 2)]),
    ("53:53/tcp,udp", [_pm(53, 53), _pm(53, 53, "udp")]),
])
def test_port_string_ok(text, expected):
    assert v.port_mapping_entries(text) == expected
    assert v.port_mappings([text]) == sorted(expected, key=lambda p: (p["protocol"], p["host_port"]))


@pytest.mark.parametrize("text,needle", [
    ("80", "no host port: podman and docker publish such a port on a random host port"),
    (80, "no host port"),  # an int is a container port alone
    ("80-82", "no host port"),
    (":80", "no host port"),
    ("127.0.0.1::80", "no host port"),
    ("[::1]::80", "no host port"),
    ("8080:", "'' is not a port"),
    ("", "empty or with whitespace"),
    (" 8080:80", "empty or with whitespace"),
    ("8080 :80", "empty or with whitespace"),
    ("8080:80/", "unknown protocol ''"),
    ("8080:80/icmp", "unknown protocol 'icmp': use tcp, udp, sctp"),
    ("8080:80/tcp/udp", "the protocol can only be given once"),
    ("8080:80/tcp,", "unknown protocol ''"),
    ("1.2.3.4:5:8080:80", "too many ':'"),
    ("::1:8080:80", "too many ':'"),
    ("::1]:8080:80", "must be enclosed in []"),
    ("[::1]8080:80", "[ADDRESS]:HOST_PORT:CONTAINER_PORT"),
    ("[::1:8080:80", "[ADDRESS]:HOST_PORT:CONTAINER_PORT"),
    ("[::1]:1.2.3.4:8080:80", "[ADDRESS]:HOST_PORT:CONTAINER_PORT"),
    ("[::1]:[::2]:80", "[ADDRESS]:HOST_PORT:CONTAINER_PORT"),
    ("localhost:8080:80", "invalid host address 'localhost'"),
    ("[fe80::1%eth0]:8080:80", "invalid host address 'fe80::1%eth0'"),
    ("[]:8080:80", "invalid host address ''"),
    (":8080:80", "an empty host address"),
    ("0:80", "port 0 is not between 1 and 65535"),
    ("8080:65536", "port 65536 is not between 1 and 65535"),
    ("8080:0x50", "'0x50' is not a port"),
    ("8080:+80", "'+80' is not a port"),
    ("8080:-80", "'-80' is not a port"),
    ("8080:80-", "'80-' is not a port"),
    ("8080:82-80", "range 82-80 ends before it starts"),
    ("8080-8082:80", "host and container port ranges have different lengths: 3 and 1"),
    ("8080:80-82", "host and container port ranges have different lengths: 1 and 3"),
    ("8080-8081:80-82", "different lengths: 2 and 3"),
])
def test_port_string_bad(text, needle):
    with pytest.raises(ValidationError) as info:
        v.port_mappings([text])
    msg = str(info.value)
    assert needle in msg
    # every message names the option and the value, and shows the format
    assert msg.startswith("invalid port_mappings entry %r: " % (text,))
    assert "[[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL]" in msg


def test_port_string_names_the_option_given():
    with pytest.raises(ValidationError, match=r"^invalid containers\[0\].port_mappings entry '80'"):
        v.port_mappings(["80"], "containers[0].port_mappings")


def test_port_mapping_one_protocol_only():
    assert v.port_mapping("53:53/udp") == _pm(53, 53, "udp")
    with pytest.raises(ValidationError, match="one protocol here"):
        v.port_mapping("53:53/tcp,udp")


@pytest.mark.parametrize("value", ["8080:80", {"container_port": 80}, 42])
def test_port_mappings_not_a_list(value):
    with pytest.raises(ValidationError, match="invalid port_mappings .*a list of dicts or strings"):
        v.port_mappings(value)


def test_strings_and_dicts_mix_and_conflict():
    pms = v.port_mappings(["8080:80", {"host_port": 8081, "container_port": 81},
                           "127.0.0.1:8080:80/udp"])
    assert pms == [_pm(8080, 80), _pm(8081, 81), _pm(8080, 80, "udp", "127.0.0.1")]
    # a string and a dict for the same host port: mapped twice
    with pytest.raises(ValidationError, match="host port 8081/tcp is mapped twice"):
        v.port_mappings(["8080-8082:80-82", {"host_port": 8081, "container_port": 1}])
    # the string and its dict give the same normalised mapping (so records compare equal)
    assert v.port_mappings(["127.0.0.1:9000-9001:90-91/udp"]) == v.port_mappings(
        [{"host_port": 9000, "container_port": 90, "range": 2, "protocol": "udp",
          "host_ip": "127.0.0.1"}])


def test_port_mappings_sorted_and_conflicts():
    pms = v.port_mappings([{"container_port": 53, "protocol": "udp"},
                           {"container_port": 80, "host_port": 8080},
                           {"container_port": 53}])
    assert [(p["protocol"], p["host_port"]) for p in pms] == [("tcp", 53), ("tcp", 8080), ("udp", 53)]
    # same port, other protocol or other host IP: fine
    v.port_mappings([{"container_port": 80, "host_ip": "127.0.0.1"},
                     {"container_port": 80, "host_ip": "127.0.0.2"}])


@pytest.mark.parametrize("pms,needle", [
    ([{"container_port": 80}, {"container_port": 81, "host_port": 80}], "host port 80/tcp is mapped twice"),
    ([{"container_port": 80, "range": 5}, {"container_port": 90, "host_port": 84}], "host port 84/tcp"),
    ([{"container_port": 80, "host_ip": "127.0.0.1"},
      {"container_port": 80, "host_ip": "127.0.0.1"}], "on 127.0.0.1"),
])
def test_port_mappings_twice(pms, needle):
    with pytest.raises(ValidationError, match=needle):
        v.port_mappings(pms)


def test_cni_port_mappings_expands_ranges():
    pms = v.port_mappings([{"container_port": 80, "host_port": 8080, "range": 2,
                            "host_ip": "127.0.0.1"}, {"container_port": 53, "protocol": "udp"}])
    assert v.cni_port_mappings(pms) == [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"},
        {"hostPort": 8081, "containerPort": 81, "protocol": "tcp", "hostIP": "127.0.0.1"},
        {"hostPort": 53, "containerPort": 53, "protocol": "udp"},
    ]


@pytest.mark.parametrize("values,expected", [
    (None, []),
    (["web", "db.local", "a", "web"], ["a", "db.local", "web"]),
    (["x_y-1"], ["x_y-1"]),
])
def test_aliases_ok(values, expected):
    assert v.aliases(values) == expected


@pytest.mark.parametrize("alias", ["-web", "web-", "we b", "web/1", "", "a" * 254, 5, "web;rm"])
def test_aliases_bad(alias):
    with pytest.raises(ValidationError) as info:
        v.aliases(["ok", alias])
    assert repr(alias) in str(info.value)


@pytest.mark.parametrize("values,expected", [
    (None, []),
    ({}, []),
    ({"FOO": "bar"}, [["FOO", "bar"]]),
    ([["A", "1"], ("B", 2)], [["A", "1"], ["B", "2"]]),
    ({"K8S_POD_NAME": "x=y"}, [["K8S_POD_NAME", "x=y"]]),  # '=' in a value is fine (split once)
])
def test_cni_args_ok(values, expected):
    assert v.cni_args(values) == expected


@pytest.mark.parametrize("values,needle", [
    ({"FOO": "a;b"}, "FOO=a;b"),
    ({"FO=O": "x"}, "FO=O=x"),
    ({"1FOO": "x"}, "1FOO=x"),
    ({"F OO": "x"}, "F OO=x"),
    ([["A"]], "['A']"),
    (["AB"], "'AB'"),
])
def test_cni_args_bad(values, needle):
    with pytest.raises(ValidationError) as info:
        v.cni_args(values)
    assert needle in str(info.value)


@pytest.mark.parametrize("value", ["a", "cnitool-0123abcd", "with space", "x:y", "é", "-lead"])
def test_any_container_id_ok(value):
    """Other tools' ids (libcni: any non-empty string without '/')."""
    assert v.any_container_id(value) == value


@pytest.mark.parametrize("value", ["", "a/b", ".", "..", None, 3])
def test_any_container_id_bad(value):
    rejects(v.any_container_id, value)
