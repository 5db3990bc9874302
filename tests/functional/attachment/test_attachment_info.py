# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_netns_info on real namespaces: records + cache, podman-inspect settings,
netlink statistics that move with real traffic; and detaching from a vanished netns."""
from __future__ import annotations

import os

from pna_env import run_module, sh, tcp_get, tcp_server


def test_info_settings_and_statistics(env, servers):
    n1 = env.network("i", 70)
    n2 = env.network("j", 71)
    a, b = env.add_netns("a"), env.add_netns("b")
    cid = env.name("a")
    pm = [{"host_port": 20485, "container_port": 80, "host_ip": "127.0.0.1"}]
    for net, ips, extra in ((n1, ["10.222.70.5"], {"port_mappings": pm}),
                            (n2, ["10.222.71.5"], {"aliases": ["db", "cache"]})):
        res = run_module("cni_attachment", dict(env.common, container_id=cid, netns=a, network=net,
                                                ips=ips, **extra))
        assert res["changed"], res
    assert run_module("cni_attachment", dict(env.common, container_id=env.name("b"), netns=b,
                                             network=n1))["changed"]

    args = dict(env.common, container_id=cid)
    first = run_module("container_netns_info", args)
    assert first["changed"] is False and not first.get("failed"), first
    c = first["containers"][cid]
    assert c["netns"] == "/run/netns/" + a and c["netns_status"] == "mounted" and c["recorded"]
    assert [(x["network"], x["interface"], x["cached"], x["in_record"], x["origin"])
            for x in c["attachments"]] == [(n1, "eth0", True, True, "podnet"),
                                           (n2, "eth1", True, True, "podnet")]
    s = c["network_settings"]
    assert s["IPAddress"] == "10.222.70.5" and s["IPPrefixLen"] == 24
    assert s["Gateway"] == "10.222.70.1" and s["SandboxKey"] == "/run/netns/" + a
    assert s["Networks"][n2]["IPAddress"] == "10.222.71.5"
    assert s["Networks"][n2]["Aliases"] == ["cache", "db"]
    assert s["Networks"][n1]["InterfaceName"] == "eth0"
    assert s["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "20485"}]}
    eth0 = c["interfaces"]["eth0"]
    assert "10.222.70.5/24" in eth0["addresses"] and eth0["up"] and eth0["mtu"] == 1500
    assert eth0["mac"] == s["MacAddress"]
    assert set(eth0["stats"]) == {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors",
                                  "tx_errors", "rx_dropped", "tx_dropped"}

    # real traffic moves the counters (read via netlink inside the netns)
    servers.append(tcp_server(env, a, 80, "x" * 90))
    for _attempt in range(10):
        assert tcp_get("10.222.70.5", 80, netns=b) == "x" * 90
    second = run_module("container_netns_info", args, check=True)
    assert second["changed"] is False
    after = second["containers"][cid]["interfaces"]["eth0"]["stats"]
    assert after["tx_bytes"] >= eth0["stats"]["tx_bytes"] + 900
    assert after["rx_packets"] > eth0["stats"]["rx_packets"]
    io = second["containers"][cid]["network_io"]
    assert io["tx_bytes"] >= after["tx_bytes"]

    # all containers, and no statistics when not asked
    everything = run_module("container_netns_info", dict(env.common, statistics=False))
    assert set(everything["containers"]) == {cid, env.name("b")}
    assert everything["containers"][cid]["interfaces"] == {}
    assert everything["containers"][cid]["network_io"] is None
    # unknown container: empty, not a failure; a bad id: a clear error
    assert run_module("container_netns_info", dict(env.common, container_id=env.name("zz")))["containers"] == {}
    bad = run_module("container_netns_info", dict(env.common, container_id="../x"))
    assert bad.get("failed") and "invalid container_id" in bad["msg"]


def test_detach_after_the_netns_vanished(env):
    net = env.network("g", 72)
    ns = env.add_netns("g")
    cid = env.name("g")
    res = run_module("cni_attachment", dict(env.common, container_id=cid, netns=ns, network=net,
                                            port_mappings=[{"host_port": 20486, "container_port": 80}]))
    assert res["changed"], res
    sh(["ip", "netns", "del", ns])
    info = run_module("container_netns_info", dict(env.common, container_id=cid))
    c = info["containers"][cid]
    assert c["netns_status"] == "absent" and c["network_settings"] == {}
    assert c["attachments"][0]["cached"] is True
    # present on a missing netns: a clear error, nothing done
    res = run_module("cni_attachment", dict(env.common, container_id=cid, network=net))
    assert res.get("failed") and "does not exist" in res["msg"], res
    res = run_module("cni_attachment", dict(env.common, container_id=cid, network=net, state="absent"))
    assert res["changed"] and not res.get("failed"), res
    assert env.cache_entries() == [] and env.ipam_reservations() == []
    assert env.iptables_lines() == []
    assert [l for l in sh(["iptables-save"]).stdout.decode().splitlines() if cid in l] == []
    assert not os.path.exists(os.path.join(env.state_dir, "containers", cid + ".json"))
