# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The batch form: concurrent entries, per-entry failure and rollback, idempotent re-run,
and the cold-start race of concurrent ADDs on one network."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from pna_env import BUILD, bridge_conflist, run_module, sh


def _batch(env, entries, check=False, diff=False, **kw):
    return run_module("cni_attachment", dict(env.common, attachments=entries, **kw),
                      check=check, diff=diff)


def test_batch_attach_idempotent_and_detach(env):
    n1 = env.network("p", 40)
    n2 = env.network("q", 41)
    entries = []
    for i in range(6):
        ns = env.add_netns("c%d" % i)
        entries.append({"container_id": env.name("c%d" % i), "netns": ns, "network": n1,
                        "port_mappings": [{"host_port": 20460 + i, "container_port": 80,
                                           "host_ip": "127.0.0.1"}]})
        entries.append({"container_id": env.name("c%d" % i), "netns": ns, "network": n2,
                        "ips": ["10.222.41.%d" % (10 + i)]})
    res = _batch(env, entries, check=True)
    assert res["changed"] and len(res["actions"]) == 12 and not res.get("failed"), res
    assert env.cache_entries() == []
    res = _batch(env, entries, workers=4)
    assert res["changed"] and res["failed_entries"] == 0, res
    assert [r["interface"] for r in res["results"]] == ["eth0", "eth1"] * 6
    assert all(r["changed"] and not r["failed"] for r in res["results"])
    assert len(env.cache_entries()) == 12
    # idempotent, in check mode and for real
    assert _batch(env, entries, check=True)["changed"] is False
    again = _batch(env, entries)
    assert again["changed"] is False and again["actions"] == [], again
    # every container has its static IP on n2 (eth1) and its n1 address on eth0
    for i in range(6):
        addrs = json.loads(env.exec_in(env.name("c%d" % i), ["ip", "-j", "addr"]).stdout)
        by_name = {a["ifname"]: [x["local"] for x in a["addr_info"]] for a in addrs}
        assert "10.222.41.%d" % (10 + i) in by_name["eth1"]
        assert any(x.startswith("10.222.40.") for x in by_name["eth0"])
    gone = [dict(e, state="absent") for e in entries]
    res = _batch(env, gone)
    assert res["changed"] and res["failed_entries"] == 0, res
    assert env.cache_entries() == [] and env.ipam_reservations() == []
    assert env.iptables_lines() == []


def test_batch_failure_rolls_back_only_its_entry(env):
    good = env.network("g", 42)
    # a chain that fails in its last plugin (tuning refuses an unknown sysctl), after
    # bridge, host-local and portmap succeeded: the entry must leave nothing behind
    bad = env.name("x")
    bridge = env.name("bx")
    env.write_conf(bridge_conflist(bad, bridge, "10.222.43.0/24", env.ipam_dir, tuning=False,
                                   extra=[{"type": "tuning",
                                           "sysctl": {"net.ipv4.conf.IFNAME.pna_no_such": "1"}}]))
    env.bridges.append(bridge)
    env.networks.append(bad)
    entries = []
    for i in range(4):
        ns = env.add_netns("r%d" % i)
        entries.append({"container_id": env.name("r%d" % i), "netns": ns, "network": good})
    entries.insert(2, {"container_id": env.name("r1"), "netns": env.name("r1"), "network": bad,
                       "port_mappings": [{"host_port": 20490, "container_port": 80}]})
    res = _batch(env, entries)
    assert res.get("failed") is True and res["failed_entries"] == 1, res
    assert "1 of 5 attachments failed" in res["msg"] and bad in res["msg"]
    failed = res["results"][2]
    assert failed["failed"] and "tuning" in failed["msg"] and failed["changed"] is False
    assert [r["failed"] for r in res["results"]] == [False, False, True, False, False]
    assert sorted(e.container_id for e in env.cache_entries()) == \
        sorted(env.name("r%d" % i) for i in range(4))
    # nothing of the failed entry: no reservation in its network, no rule, no interface
    assert not os.path.exists(os.path.join(env.ipam_dir, bad)) or \
        [f for f in os.listdir(os.path.join(env.ipam_dir, bad)) if f[0].isdigit()] == []
    assert not [l for l in env.iptables_lines() if "20490" in l or bad in l]
    links = json.loads(env.exec_in(env.name("r1"), ["ip", "-j", "link"]).stdout)
    assert sorted(l["ifname"] for l in links) == ["eth0", "lo"]
    # the record of r1 only lists what is attached
    record = json.load(open(os.path.join(env.state_dir, "containers", env.name("r1") + ".json")))
    assert [n["network"] for n in record["networks"]] == [good]


_COLD_RACE = r"""
import json, sys
from ansible_collections.podnet.cni.plugins.module_utils import _connect
from ansible_collections.podnet.cni.plugins.module_utils._common import drive
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
args = json.loads(sys.argv[1])
ctx = HostContext(args["config_dir"], ["/usr/lib/cni"], args["cache_dir"], args["state_dir"])
plan, out = drive(_connect.LOGIC, ctx, _connect.ConnectTask(args["entries"], workers=12), False)
print(json.dumps([r["failed"] for r in out["results"]]))
"""


def test_cold_concurrent_adds_do_not_duplicate_shared_rules(env):
    """Run the batch with the plugins' "host" side in a fresh netns, where no CNI chain
    exists yet. Unserialised, 12 concurrent ADDs with port mappings there duplicated
    portmap's jump rules (``-A OUTPUT ... -j CNI-HOSTPORT-DNAT`` twice, seen with plugins
    1.1.1); the batch runs the first ADD of a network alone, so each jump exists once."""
    host = env.add_netns("h")
    net = env.network("w", 44)
    entries = []
    for i in range(12):
        ns = env.add_netns("w%d" % i)
        entries.append({"container_id": env.name("w%d" % i), "netns": "/run/netns/" + ns,
                        "network": net,
                        "port_mappings": [{"host_port": 20470 + i, "container_port": 80}]})
    args = {"config_dir": env.config_dir, "cache_dir": env.cache_dir, "state_dir": env.state_dir,
            "entries": entries}
    try:
        proc = sh(["ip", "netns", "exec", host, sys.executable, "-c", _COLD_RACE, json.dumps(args)],
                  env=dict(os.environ, PYTHONPATH=BUILD))
        assert json.loads(proc.stdout) == [False] * 12
        rules = env.exec_in(host, ["iptables-save"]).stdout.decode().splitlines()
        jumps = [r for r in rules if r.startswith("-A ") and
                 (" -j CNI-HOSTPORT-" in r or " -j CNI-FORWARD" in r) and
                 r.split()[1] in ("PREROUTING", "OUTPUT", "POSTROUTING", "FORWARD")]
        assert len(jumps) == len(set(jumps)), "duplicated jump rules:\n" + "\n".join(jumps)
        assert len(jumps) == 4, jumps  # PREROUTING+OUTPUT DNAT, POSTROUTING MASQ, FORWARD
    finally:
        # DEL in the same host netns (the finaliser would run it in the real host netns)
        cleanup = _COLD_RACE.replace("_connect.ConnectTask(args[\"entries\"], workers=12)",
                                     "_connect.ConnectTask([dict(e, state='absent') for e in args['entries']], workers=4)")
        subprocess.run(["ip", "netns", "exec", host, sys.executable, "-c", cleanup, json.dumps(args)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                       env=dict(os.environ, PYTHONPATH=BUILD))
    assert env.cache_entries() == []


def test_failed_reattach_restores_the_previous_attachment(env):
    net = env.network("z", 46)
    ns = env.add_netns("z")
    base = {"container_id": env.name("z"), "netns": ns, "network": net, "ips": ["10.222.46.7"]}
    assert run_module("cni_attachment", dict(env.common, **base))["changed"]
    # passes preflight, fails in host-local at ADD time (IP= outside every range)
    res = run_module("cni_attachment", dict(env.common, cni_args={"IP": "10.222.99.99"}, **base))
    assert res.get("failed") is True, res
    # the old attachment was deleted and put back: changed, and failed naming the cause
    assert res["restored"] is True and res["changed"] is True, res
    assert "10.222.99.99" in res["msg"] and "ADD" in res["msg"], res
    (entry,) = env.cache_entries()
    assert entry.arg("IP") == "10.222.46.7"
    addrs = json.loads(env.exec_in(ns, ["ip", "-j", "addr", "show", "eth0"]).stdout)[0]["addr_info"]
    assert "10.222.46.7" in [a["local"] for a in addrs]
    assert run_module("cni_attachment", dict(env.common, **base))["changed"] is False
