# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_cni/result: version conversion both ways and the podman-inspect settings."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cr
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError

IFACES = [{"name": "pnfbr0", "mac": "aa:aa:aa:aa:aa:aa"},
          {"name": "veth1", "mac": "bb:bb:bb:bb:bb:bb"},
          {"name": "eth0", "mac": "02:00:00:00:00:05", "sandbox": "/run/netns/pnf-c1"}]
ROUTES = [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:220::1"}]
DNS = {"nameservers": ["10.220.3.1"]}

V1 = {"cniVersion": "1.0.0", "interfaces": IFACES,
      "ips": [{"address": "10.220.3.5/24", "gateway": "10.220.3.1", "interface": 2},
              {"address": "fd00:220::5/64", "gateway": "fd00:220::1", "interface": 2}],
      "routes": ROUTES, "dns": DNS}
V04 = {"cniVersion": "0.4.0", "interfaces": IFACES,
       "ips": [{"version": "4", "address": "10.220.3.5/24", "gateway": "10.220.3.1", "interface": 2},
               {"version": "6", "address": "fd00:220::5/64", "gateway": "fd00:220::1",
                "interface": 2}],
       "routes": ROUTES, "dns": DNS}
V031 = dict(copy.deepcopy(V04), cniVersion="0.3.1")
V030 = dict(copy.deepcopy(V04), cniVersion="0.3.0")
V02 = {"cniVersion": "0.2.0",
       "ip4": {"ip": "10.220.3.5/24", "gateway": "10.220.3.1", "routes": [{"dst": "0.0.0.0/0"}]},
       "ip6": {"ip": "fd00:220::5/64", "gateway": "fd00:220::1",
               "routes": [{"dst": "::/0", "gw": "fd00:220::1"}]},
       "dns": DNS}
# what 0.2.0 can say in the current shape: no interfaces, no interface index
V1_FROM_V02 = {"cniVersion": "1.0.0",
               "ips": [{"address": "10.220.3.5/24", "gateway": "10.220.3.1"},
                       {"address": "fd00:220::5/64", "gateway": "fd00:220::1"}],
               "routes": ROUTES, "dns": DNS}


@pytest.mark.parametrize("source,target,expected", [
    (V1, "1.0.0", V1),
    (V1, "0.4.0", V04),
    (V1, "0.3.1", V031),
    (V1, "0.3.0", V030),
    (V04, "1.0.0", V1),
    (V031, "1.0.0", V1),
    (V031, "0.4.0", V04),
    (V04, "0.3.1", V031),
    (V02, "1.0.0", V1_FROM_V02),
    (V02, "0.4.0", dict(copy.deepcopy(V1_FROM_V02), cniVersion="0.4.0", ips=[
        {"address": "10.220.3.5/24", "gateway": "10.220.3.1", "version": "4"},
        {"address": "fd00:220::5/64", "gateway": "fd00:220::1", "version": "6"}])),
    (V1, "0.2.0", V02),
    (V04, "0.2.0", V02),
    (V02, "0.2.0", V02),
])
def test_convert(source, target, expected):
    before = copy.deepcopy(source)
    assert cr.convert(source, target) == expected
    assert source == before   # never mutated


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0", "1.0.0"])
def test_round_trip(version):
    assert cr.convert(cr.convert(V1, version), "1.0.0") == V1


def test_convert_to_020_keeps_the_first_address_of_each_family():
    many = copy.deepcopy(V1)
    many["ips"].insert(1, {"address": "10.220.3.6/24", "interface": 2})
    many["routes"] = [{"dst": "10.0.0.0/8", "gw": "10.220.3.1"}]
    out = cr.convert(many, "0.2.0")
    assert out["ip4"] == {"ip": "10.220.3.5/24", "gateway": "10.220.3.1",
                          "routes": [{"dst": "10.0.0.0/8", "gw": "10.220.3.1"}]}
    assert out["ip6"] == {"ip": "fd00:220::5/64", "gateway": "fd00:220::1"}


def test_convert_to_020_drops_routes_of_a_missing_family():
    only4 = {"cniVersion": "1.0.0", "ips": [{"address": "10.220.3.5/24"}], "routes": ROUTES}
    assert cr.convert(only4, "0.2.0") == {"cniVersion": "0.2.0", "ip4": {
        "ip": "10.220.3.5/24", "routes": [{"dst": "0.0.0.0/0"}]}}


@pytest.mark.parametrize("bad,target,needle", [
    (V1, "2.0.0", "unsupported CNI result version '2.0.0'"),
    ("nope", "1.0.0", "must be a JSON object"),
    (None, "1.0.0", "must be a JSON object"),
])
def test_convert_bad(bad, target, needle):
    with pytest.raises(ConfigError, match=needle):
        cr.convert(bad, target)


@pytest.mark.parametrize("result,addrs,mac", [
    (V1, ["10.220.3.5", "fd00:220::5"], "02:00:00:00:00:05"),
    (V04, ["10.220.3.5", "fd00:220::5"], "02:00:00:00:00:05"),
    (V02, ["10.220.3.5", "fd00:220::5"], None),
    ({}, [], None),
])
def test_addresses_and_mac(result, addrs, mac):
    assert cr.addresses(result) == addrs
    assert cr.mac_of(result) == mac
    assert cr.mac_of(result, "eth1") is None


def test_container_interfaces():
    assert cr.container_interfaces(V1) == [IFACES[2]]


BASIC_EMPTY = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
               "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
               "MacAddress": "", "SecondaryIPAddresses": [], "SecondaryIPv6Addresses": []}


@pytest.mark.parametrize("result,expected", [
    ({}, BASIC_EMPTY),
    (V1, dict(BASIC_EMPTY, Gateway="10.220.3.1", IPAddress="10.220.3.5", IPPrefixLen=24,
              IPv6Gateway="fd00:220::1", GlobalIPv6Address="fd00:220::5", GlobalIPv6PrefixLen=64,
              MacAddress="02:00:00:00:00:05")),
    (V04, dict(BASIC_EMPTY, Gateway="10.220.3.1", IPAddress="10.220.3.5", IPPrefixLen=24,
               IPv6Gateway="fd00:220::1", GlobalIPv6Address="fd00:220::5", GlobalIPv6PrefixLen=64,
               MacAddress="02:00:00:00:00:05")),
    ({"cniVersion": "1.0.0", "interfaces": IFACES, "ips": [
        {"address": "10.220.3.5/24", "interface": 2}, {"address": "10.220.4.5/16", "interface": 2},
        {"address": "fd00::5/64"}, {"address": "fd01::5/48"}]},
     dict(BASIC_EMPTY, IPAddress="10.220.3.5", IPPrefixLen=24, GlobalIPv6Address="fd00::5",
          GlobalIPv6PrefixLen=64, MacAddress="02:00:00:00:00:05",
          SecondaryIPAddresses=["10.220.4.5/16"], SecondaryIPv6Addresses=["fd01::5/48"])),
])
def test_basic_network_config(result, expected):
    assert cr.basic_network_config(result) == expected


def test_ports_settings():
    assert cr.ports_settings([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"},
        {"hostPort": 8081, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 53, "containerPort": 53, "protocol": "udp"},
    ]) == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"},
                      {"HostIp": "", "HostPort": "8081"}],
           "53/udp": [{"HostIp": "", "HostPort": "53"}]}


def test_network_settings_shape():
    second = {"cniVersion": "0.4.0", "interfaces": [
        {"name": "eth1", "mac": "02:00:00:00:01:05", "sandbox": "/ns"}],
        "ips": [{"version": "4", "address": "10.220.4.5/24", "gateway": "10.220.4.1",
                 "interface": 0}]}
    settings = cr.network_settings("/run/netns/pnf-c1", [
        {"name": "front", "interface": "eth0", "result": V1, "aliases": ["web"]},
        {"name": "back", "interface": "eth1", "result": second},
    ], [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"}])
    assert set(settings) == set(BASIC_EMPTY) | {"SandboxKey", "Ports", "Networks"}
    assert settings["SandboxKey"] == "/run/netns/pnf-c1"
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    # the top level is the first network's
    assert (settings["IPAddress"], settings["Gateway"], settings["MacAddress"]) == (
        "10.220.3.5", "10.220.3.1", "02:00:00:00:00:05")
    assert list(settings["Networks"]) == ["front", "back"]
    back = settings["Networks"]["back"]
    assert set(back) == set(BASIC_EMPTY) | {"NetworkID", "InterfaceName", "Aliases"}
    assert (back["NetworkID"], back["InterfaceName"], back["Aliases"]) == ("back", "eth1", [])
    assert (back["IPAddress"], back["IPPrefixLen"], back["MacAddress"]) == (
        "10.220.4.5", 24, "02:00:00:00:01:05")
    assert settings["Networks"]["front"]["Aliases"] == ["web"]


def test_network_settings_without_networks():
    settings = cr.network_settings("/ns", [])
    assert settings == dict(BASIC_EMPTY, SandboxKey="/ns", Ports={}, Networks={})
