# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_attachment with real plugins and real traffic: two containers on two networks,
static IPs and MAC, a port mapping on 127.0.0.1, check mode, diff, idempotency,
re-attach of one network, verify/repair, detach keeping the others."""
from __future__ import annotations

import json
import os

from pna_env import run_module, sh, tcp_get, tcp_server


def _attach(env, check=False, diff=False, **kw):
    return run_module("cni_attachment", dict(env.common, **kw), check=check, diff=diff)


def test_two_containers_two_networks_static_addresses_ports_and_detach(env, servers):
    front = env.network("f", 30)
    back = env.network("k", 31)
    a, b = env.add_netns("a"), env.add_netns("b")
    port = 20400 + int(env.prefix[-2:], 16) % 50  # in our 20400-20449 window

    web = {"container_id": env.name("a"), "netns": a, "network": front, "ips": ["10.222.30.10"],
           "mac": "02:22:30:00:00:0a",
           "port_mappings": [{"host_port": port, "container_port": 8080, "host_ip": "127.0.0.1"}]}
    # check mode predicts the change, shows the diff and touches nothing
    res = _attach(env, check=True, diff=True, **web)
    assert res["changed"] is True and not res.get("failed"), res
    assert res["actions"] == [{"action": "attach", "container_id": env.name("a"),
                               "network": front, "interface": "eth0"}]
    key = "%s/%s/eth0" % (env.name("a"), front)
    assert res["diff"]["before"][key] is None
    assert res["diff"]["after"][key]["ips"] == ["10.222.30.10"]
    assert env.cache_entries() == [] and env.ipam_reservations() == []
    assert not os.path.exists(os.path.join(env.state_dir, "containers"))

    res = _attach(env, **web)
    assert res["changed"] is True and res["interface"] == "eth0", res
    assert res["attachment"]["ips"] == ["10.222.30.10"]
    assert res["attachment"]["mac"] == "02:22:30:00:00:0a"
    res = _attach(env, **{**web, "network": back, "ips": ["10.222.31.10"], "port_mappings": [],
                          "mac": None, "aliases": ["web"]})
    assert res["changed"] and res["interface"] == "eth1", res
    res = _attach(env, container_id=env.name("b"), netns=b, network=front, ips=["10.222.30.20"])
    assert res["changed"] and res["interface"] == "eth0", res
    res = _attach(env, container_id=env.name("b"), netns=b, network=back)
    assert res["changed"] and res["interface"] == "eth1", res
    assert res["attachment"]["ips"][0].startswith("10.222.31."), res

    # the kernel has what was asked
    links = json.loads(env.exec_in(a, ["ip", "-j", "addr"]).stdout)
    by_name = {l["ifname"]: l for l in links}
    assert by_name["eth0"]["address"] == "02:22:30:00:00:0a"
    assert "10.222.30.10" in [x["local"] for x in by_name["eth0"]["addr_info"]]
    assert "10.222.31.10" in [x["local"] for x in by_name["eth1"]["addr_info"]]

    # idempotent: every request again, nothing changes (also in check mode)
    for args in (web, dict(web, network=back, ips=["10.222.31.10"], port_mappings=[], mac=None,
                           aliases=["web"])):
        assert _attach(env, check=True, **args)["changed"] is False
        assert _attach(env, **args)["changed"] is False

    # traffic: b → a on both networks, and through the port mapping on 127.0.0.1
    servers.append(tcp_server(env, a, 8080, "hello-a"))
    assert tcp_get("10.222.30.10", 8080, netns=b) == "hello-a"
    assert tcp_get("10.222.31.10", 8080, netns=b) == "hello-a"
    assert tcp_get("127.0.0.1", port) == "hello-a"

    # a changed port re-attaches only that network; the other keeps its interface
    eth1_before = json.loads(env.exec_in(a, ["ip", "-j", "link", "show", "eth1"]).stdout)[0]["ifindex"]
    moved = {**web, "port_mappings": [{"host_port": port + 50, "container_port": 8080,
                                       "host_ip": "127.0.0.1"}]}
    res = _attach(env, check=True, **moved)
    assert res["changed"] and res["actions"][0]["action"] == "reattach", res
    assert res["actions"][0]["reasons"] == ["port_mappings"]
    res = _attach(env, **moved)
    assert res["changed"] and res["attachment"]["ips"] == ["10.222.30.10"], res
    assert res["attachment"]["mac"] == "02:22:30:00:00:0a"
    eth1_after = json.loads(env.exec_in(a, ["ip", "-j", "link", "show", "eth1"]).stdout)[0]["ifindex"]
    assert eth1_before == eth1_after
    assert tcp_get("127.0.0.1", port + 50) == "hello-a"
    assert tcp_get("127.0.0.1", port, tries=1, timeout=1) == ""

    # detach front: its port mapping and rules go, back stays, lo is up
    res = _attach(env, container_id=env.name("a"), network=front, state="absent", check=True)
    assert res["changed"] is True
    res = _attach(env, container_id=env.name("a"), network=front, state="absent")
    assert res["changed"] is True and res["attachment"] is None, res
    assert tcp_get("127.0.0.1", port + 50, tries=1, timeout=1) == ""
    assert not [l for l in env.iptables_lines() if str(port + 50) in l]
    assert not any("10.222.30.10" in r for r in env.ipam_reservations())
    names = {l["ifname"]: l for l in json.loads(env.exec_in(a, ["ip", "-j", "link"]).stdout)}
    assert "eth0" not in names and "eth1" in names
    assert "UP" in names["lo"]["flags"]
    assert tcp_get("10.222.31.10", 8080, netns=b) == "hello-a"
    assert _attach(env, container_id=env.name("a"), network=front, state="absent")["changed"] is False

    # the record keeps the remaining network; the next default interface is the free eth0
    record = json.load(open(os.path.join(env.state_dir, "containers", env.name("a") + ".json")))
    assert [(n["network"], n["interface"]) for n in record["networks"]] == [(back, "eth1")]
    res = _attach(env, container_id=env.name("a"), network=front)
    assert res["changed"] and res["interface"] == "eth0", res

    # detach everything: no rule, reservation or cache entry of ours is left
    for cid in (env.name("a"), env.name("b")):
        for net in (front, back):
            assert _attach(env, container_id=cid, network=net, state="absent")["changed"] is True
    assert env.cache_entries() == []
    assert env.ipam_reservations() == []
    assert env.iptables_lines() == []
    assert os.listdir(os.path.join(env.state_dir, "containers")) == []


def test_verify_repairs_with_the_same_addresses(env):
    net = env.network("v", 32)
    ns = env.add_netns("v")
    args = {"container_id": env.name("v"), "netns": ns, "network": net, "mac": "02:22:32:00:00:07"}
    first = _attach(env, **args)
    assert first["changed"], first
    ip = first["attachment"]["ips"][0]
    assert _attach(env, verify=True, **args)["changed"] is False
    # break it the way a careless admin would: the address is gone from the interface
    env.exec_in(ns, ["ip", "addr", "flush", "dev", "eth0"])
    res = _attach(env, verify=True, check=True, **args)
    assert res["changed"] is True and res["actions"][0]["action"] == "repair", res
    assert "check_error" in res["actions"][0]
    res = _attach(env, verify=True, **args)
    assert res["changed"] is True, res
    assert res["attachment"]["ips"] == [ip] and res["attachment"]["mac"] == "02:22:32:00:00:07"
    addrs = json.loads(env.exec_in(ns, ["ip", "-j", "addr", "show", "eth0"]).stdout)[0]["addr_info"]
    assert ip in [a["local"] for a in addrs]
    assert _attach(env, verify=True, **args)["changed"] is False


def test_dual_stack_ips(env):
    name = env.name("d")
    bridge = env.name("bd")
    from pna_env import bridge_conflist
    env.write_conf(bridge_conflist(name, bridge, "10.222.33.0/24", env.ipam_dir,
                                   subnet6="fd00:222:33::/64"))
    env.bridges.append(bridge)
    ns = env.add_netns("d")
    res = _attach(env, container_id=env.name("d"), netns=ns, network=name,
                  ips=["10.222.33.44", "fd00:222:33::44"])
    assert res["changed"], res
    assert sorted(res["attachment"]["ips"]) == ["10.222.33.44", "fd00:222:33::44"]
    addrs = json.loads(env.exec_in(ns, ["ip", "-j", "addr", "show", "eth0"]).stdout)[0]["addr_info"]
    assert {"10.222.33.44", "fd00:222:33::44"} <= {a["local"] for a in addrs}
    assert _attach(env, container_id=env.name("d"), netns=ns, network=name,
                   ips=["fd00:222:33::44", "10.222.33.44"])["changed"] is False
    # dual stack with a port mapping: verify is quiet (portmap 1.1.1's IPv6 CHECK looks
    # for the IPv4 rules in ip6tables, a false alarm the CHECK tolerates)
    pms = [{"host_port": 20449, "container_port": 80}]
    res = _attach(env, container_id=env.name("d"), netns=ns, network=name, port_mappings=pms)
    assert res["changed"] and sorted(res["attachment"]["ips"]) == ["10.222.33.44", "fd00:222:33::44"]
    res = _attach(env, container_id=env.name("d"), netns=ns, network=name, port_mappings=pms,
                  verify=True)
    assert res["changed"] is False, res


def test_rename_interface_moves_the_attachment(env):
    net = env.network("m", 34)
    ns = env.add_netns("m")
    args = {"container_id": env.name("m"), "netns": ns, "network": net}
    first = _attach(env, **args)
    ip = first["attachment"]["ips"][0]
    res = _attach(env, interface="net5", **args)
    assert res["changed"] and res["actions"][0]["reasons"] == ["interface"], res
    assert res["interface"] == "net5" and res["attachment"]["ips"] == [ip]
    links = sorted(l["ifname"] for l in json.loads(env.exec_in(ns, ["ip", "-j", "link"]).stdout))
    assert links == ["lo", "net5"]
    record = json.load(open(os.path.join(env.state_dir, "containers", env.name("m") + ".json")))
    assert [(n["network"], n["interface"]) for n in record["networks"]] == [(net, "net5")]
    assert _attach(env, **args)["changed"] is False  # the network's interface is now net5
    assert [e.ifname for e in env.cache_entries()] == ["net5"]


def test_capability_and_cni_args_reach_the_plugins(env):
    """capability_args go to the plugins declaring them (bandwidth shapes the host veth),
    cni_args land in CNI_ARGS and the cache; a change re-attaches."""
    net = env.network("w", 35, extra=[{"type": "bandwidth", "capabilities": {"bandwidth": True}}])
    ns = env.add_netns("w")
    bw = {"ingressRate": 8000000, "ingressBurst": 160000, "egressRate": 8000000,
          "egressBurst": 160000}
    args = {"container_id": env.name("w"), "netns": ns, "network": net,
            "capability_args": {"bandwidth": bw}, "cni_args": {"PNA_TAG": "x1"}}
    res = _attach(env, **args)
    assert res["changed"], res
    (entry,) = env.cache_entries()
    assert entry.capability_args["bandwidth"] == bw
    assert ["PNA_TAG", "x1"] in entry.cni_args and ["IgnoreUnknown", "1"] in entry.cni_args
    host_veth = [i["name"] for i in res["attachment"]["result"]["interfaces"]
                 if not i.get("sandbox") and i["name"].startswith("veth")][0]
    qdisc = sh(["tc", "qdisc", "show", "dev", host_veth]).stdout.decode()
    assert "tbf" in qdisc, qdisc
    assert _attach(env, **args)["changed"] is False
    retagged = dict(args)
    retagged["cni_args"] = {"PNA_TAG": "x2"}
    res = _attach(env, **retagged)
    assert res["changed"] and res["actions"][0]["reasons"] == ["cni_args"], res
    assert ["PNA_TAG", "x2"] in env.cache_entries()[0].cni_args
    assert _attach(env, container_id=env.name("w"), network=net, state="absent")["changed"]
    assert sh(["ip", "link", "show", host_veth], check=False).returncode != 0
