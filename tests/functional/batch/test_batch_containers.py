# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_netns ``containers:`` on the real kernel with the real plugins: check mode
exact against the real run, a diff per container, idempotence, mixed present/absent, one
failing container rolled back while the others are done (and a re-run converges),
concurrency on one network with host ports, bad input refused before anything changes."""
from __future__ import annotations

import json
import os

import podnet_testlib as tl
from pnc_batch_env import sh


def _ports(env, n):
    ports = []
    while len(ports) < n:
        port = env.free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _pm(port, cport=8080):
    return [{"host_port": port, "container_port": cport, "host_ip": "127.0.0.1"}]


def test_mixed_batch_check_exact_diff_idempotent_absent(env):
    a, b = env.network(), env.network()
    old = env.cid("old")
    env.apply(old, networks=[a["name"]])  # an existing container the batch removes
    cids = [env.cid("c") for dummy in range(4)]
    ports = _ports(env, 4)
    entries = [env.entry(cid, a["name"], port_mappings=_pm(p)) for cid, p in zip(cids, ports)]
    entries[1]["static_ip"] = a["prefix"] + "50"
    entries[2]["networks"] = [a["name"], {"name": b["name"], "ips": [b["prefix"] + "60"],
                                          "aliases": ["db"]}]
    entries.append({"container_id": old, "state": "absent"})
    before = env.snapshot()

    check = env.batch(entries, check=True, diff=True, workers=4)
    assert check["changed"] is True and not check.get("failed"), check
    assert env.snapshot() == before  # check mode touched nothing
    assert sorted(check["containers"]) == sorted(cids + [old])
    assert [s["action"] for s in check["containers"][cids[0]]["actions"]] == ["create_netns", "attach"]
    assert [s["action"] for s in check["containers"][old]["actions"]] == ["detach", "remove_netns"]
    assert check["diff"]["before"][old]["networks"][a["name"]]["interface"] == "eth0"
    assert check["diff"]["after"][old] == {"netns": None, "name": None, "network_mode": None,
                                           "networks": {}}
    assert check["diff"]["after"][cids[1]]["networks"][a["name"]]["ips"] == [a["prefix"] + "50"]
    assert check["diff"]["after"][cids[2]]["networks"][b["name"]]["aliases"] == ["db"]
    for cid in cids + [old]:  # the per-container diff is the single form's
        assert check["containers"][cid]["diff"] == {"before": {"container": check["diff"]["before"][cid]},
                                                    "after": {"container": check["diff"]["after"][cid]}}
    assert {s["container_id"] for s in check["actions"]} == set(cids + [old])

    apply = env.batch(entries, diff=True, workers=4)
    assert apply["changed"] is True and apply["failed_containers"] == 0 and not apply.get("failed"), apply
    assert apply["actions"] == check["actions"]
    assert apply["diff"] == check["diff"]
    for cid in cids + [old]:
        done, predicted = apply["containers"][cid], check["containers"][cid]
        assert done["changed"] is predicted["changed"] is True and done["failed"] is False
        assert done["actions"] == predicted["actions"]
    settings = apply["containers"][cids[1]]["network_settings"]
    assert settings["IPAddress"] == a["prefix"] + "50"
    assert apply["containers"][cids[2]]["network_settings"]["Networks"][b["name"]]["IPAddress"] == \
        b["prefix"] + "60"
    assert apply["containers"][cids[0]]["network_settings"]["Ports"]["8080/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": str(ports[0])}]
    assert apply["containers"][old]["netns"] is None and apply["containers"][old]["network_settings"] == {}
    assert b["prefix"] + "60" in env.addresses(cids[2])["eth1"]
    # real traffic: the host port of a container reaches it
    env.server(cids[3], 8080, "hello-" + cids[3])
    assert tl.tcp_get("127.0.0.1", ports[3]) == "hello-" + cids[3]

    # nothing to do: in check mode and for real
    for again in (env.batch(entries, check=True, diff=True), env.batch(entries, diff=True)):
        assert again["changed"] is False and again["actions"] == [], again
        assert not any(c["changed"] for c in again["containers"].values())
        assert again["diff"]["before"] == again["diff"]["after"]
        assert again["containers"][cids[1]]["network_settings"] == settings
    state = env.snapshot()
    assert len(state["cache"]) == 5 and len(state["netns"]) == 4 and len(state["records"]) == 4

    # everything absent in one batch (state given once for the task), twice
    gone = env.batch([{"container_id": cid} for cid in cids + [old]], state="absent", workers=4)
    assert gone["changed"] is True and not gone.get("failed"), gone
    assert gone["containers"][old]["changed"] is False
    again = env.batch([{"container_id": cid} for cid in cids + [old]], state="absent")
    assert again["changed"] is False and again["actions"] == []
    env.stop_procs()
    env.assert_nothing_left()


def test_failing_container_rolled_back_others_done_rerun_converges(env):
    good = env.network()
    bad = env.failing_network()
    cids = [env.cid("g") for dummy in range(3)]
    broken = env.cid("bad")
    ports = _ports(env, 4)
    entries = [env.entry(cid, good["name"], port_mappings=_pm(p)) for cid, p in zip(cids, ports)]
    entries.insert(1, env.entry(broken, bad["name"], port_mappings=_pm(ports[3])))

    check = env.batch(entries, check=True)
    assert check["changed"] is True and not check.get("failed")  # the plugin fails only for real
    res = env.batch(entries, workers=3, diff=True)
    assert res.get("failed") is True and res["changed"] is True, res
    assert res["failed_containers"] == 1
    # the diff says what was done: nothing for the one rolled back
    assert res["diff"]["before"][broken] == res["diff"]["after"][broken]
    assert res["containers"][broken]["diff"]["before"] == res["containers"][broken]["diff"]["after"]
    assert all(res["diff"]["before"][c] != res["diff"]["after"][c] for c in cids)
    assert res["msg"].startswith("1 of 4 containers failed (each rolled back): %s: " % broken)
    assert "tuning" in res["msg"] and "pnc_no_such" in res["msg"]
    failed = res["containers"][broken]
    assert failed["failed"] is True and failed["changed"] is False and failed["plugin"] == "tuning"
    assert failed["netns"] is None and failed["network_settings"] == {}
    for cid in cids:
        assert res["containers"][cid]["failed"] is False and res["containers"][cid]["changed"] is True
    # nothing of the failed container: no namespace, cache entry, reservation, rule, record
    state = env.snapshot()
    assert broken not in state["netns"] and len(state["netns"]) == 3
    assert not [f for f in state["cache"] if broken in f]
    assert not [r for r in state["reservations"] if r.startswith(bad["name"] + "/")]
    assert not [l for l in state["iptables"] if broken in l or str(ports[3]) in l or bad["prefix"] in l]
    assert "%s.json" % broken not in state["records"]

    # the network repaired, a re-run converges: only the failed container changes
    tl.write_conflist(env.config_dir, bad["conf"])
    rerun = env.batch(entries, workers=3)
    assert rerun["changed"] is True and not rerun.get("failed"), rerun
    assert [c for c, r in rerun["containers"].items() if r["changed"]] == [broken]
    assert env.batch(entries)["changed"] is False
    env.batch(entries, state="absent")
    env.batch([{"container_id": c} for c in cids + [broken]], state="absent")
    env.assert_nothing_left()


def test_bad_input_and_claims_refused_before_anything_changes(env):
    net = env.network()
    holder = env.cid("hold")
    taken = env.free_port()
    env.apply(holder, networks=[net["name"]], port_mappings=_pm(taken))
    c1, c2, c3 = env.cid("x"), env.cid("y"), env.cid("z")
    p1, p2 = _ports(env, 2)
    ok1, ok2 = env.entry(c1, net["name"], port_mappings=_pm(p1)), env.entry(c2, net["name"])
    before = env.snapshot()
    cases = [
        ([ok1, dict(ok1, port_mappings=[])], ["container %s is listed 2 times" % c1]),
        ([ok1, dict(ok2, netns=c1)], ["netns /run/netns/%s is claimed by both %s and %s" % (c1, c1, c2)]),
        ([ok1, dict(ok2, static_ip=net["prefix"] + "7"), env.entry(c3, net["name"], static_ip=net["prefix"] + "7")],
         ["IP %s7 in network %s is requested for both %s and %s" % (net["prefix"], net["name"], c2, c3)]),
        ([ok1, dict(ok2, port_mappings=[{"host_port": p1, "container_port": 1}])],
         ["host port %d/tcp is requested for both %s and %s" % (p1, c1, c2)]),
        ([ok1, dict(ok2, static_mac="02:42:zz:00:00:01")], ["%s: invalid MAC address '02:42:zz:00:00:01'" % c2]),
        ([ok1, dict(ok2, networks=[env.name("nope")])], ["%s: unknown CNI network" % c2]),
        ([ok1, dict(ok2, port_mappings=_pm(taken))],
         ["%s: host port %d/tcp is already mapped by container %s" % (c2, taken, holder)]),
        ([dict(ok1, networks=[]), dict(ok2, static_ip="10.9.9.9"), ok2],
         ["3 of 3 containers are invalid", "%s: network_mode=bridge needs at least one network" % c1,
          "container %s is listed 2 times" % c2]),
    ]
    for entries, needles in cases:
        res = env.batch(entries)
        assert res.get("failed") is True and not res.get("changed"), (entries, res)
        for needle in needles:
            assert needle in res["msg"], (needle, res["msg"])
        assert "unexpected error" not in res["msg"]
        if len(needles) == 1 and len(entries) > 1:
            assert "of %d containers are invalid, nothing was changed" % len(entries) in res["msg"]
    # the module's own argument checks
    res = env.batch([ok1], container_id=c3)
    assert res.get("failed") and "mutually exclusive" in res["msg"] and "containers" in res["msg"]
    res = env.batch([{"netns": c1}])
    assert res.get("failed") and "container_id" in res["msg"]
    res = env.batch([ok1], workers=0)
    assert res.get("failed") and "workers must be at least 1, got 0" in res["msg"]
    res = tl.run_module_file("container_netns", env.module_args(networks=[net["name"]]))
    assert res.get("failed") and "container_id" in res["msg"] and "containers" in res["msg"]
    assert env.snapshot() == before
    env.absent(holder)
    env.assert_nothing_left()


def test_concurrent_batch_on_one_network_with_host_ports(env):
    """12 containers, 8 workers, one network, a host port each, in a fresh "host" netns
    where no CNI chain exists yet: every port reaches its container, no shared jump rule
    is duplicated, and absent leaves nothing."""
    host = env.name("h")
    sh("ip", "netns", "add", host)
    env.cleanups.append(lambda: sh("ip", "netns", "del", host, check=False))
    sh("ip", "-n", host, "link", "set", "lo", "up")
    into_host = ["nsenter", "--net=/run/netns/%s" % host, "--"]
    net = env.network()
    cids = [env.cid("w") for dummy in range(12)]
    ports = _ports(env, 12)
    entries = [env.entry(cid, net["name"], port_mappings=_pm(p)) for cid, p in zip(cids, ports)]
    res = env.batch(entries, workers=8, prefix=into_host)
    assert res["changed"] is True and res["failed_containers"] == 0 and not res.get("failed"), \
        {c: r.get("msg") for c, r in res["containers"].items() if r.get("failed")}
    rules = sh("ip", "netns", "exec", host, "iptables-save").splitlines()
    jumps = [r for r in rules if r.startswith("-A ") and (" -j CNI-HOSTPORT-" in r or " -j CNI-FORWARD" in r)
             and r.split()[1] in ("PREROUTING", "OUTPUT", "POSTROUTING", "FORWARD")]
    assert len(jumps) == len(set(jumps)) == 4, "duplicated or missing jump rules:\n" + "\n".join(jumps)
    for port in ports:
        assert len([r for r in rules if "--dport %d " % port in r or "--dports %d " % port in r]) >= 1
    ips = {res["containers"][c]["network_settings"]["IPAddress"] for c in cids}
    assert len(ips) == 12
    for i in (0, 7, 11):
        env.server(cids[i], 8080, "hi-%d" % i)
        assert tl.tcp_get("127.0.0.1", ports[i], netns=host) == "hi-%d" % i
    again = env.batch(entries, workers=8, prefix=into_host)
    assert again["changed"] is False and again["actions"] == []
    env.stop_procs()
    gone = env.batch(entries, state="absent", workers=8, prefix=into_host)
    assert gone["changed"] is True and gone["failed_containers"] == 0, gone
    rules = sh("ip", "netns", "exec", host, "iptables-save")
    assert not [l for l in rules.splitlines() if l.startswith("-A") and (net["prefix"] in l or
                                                                         any(c in l for c in cids))]
    assert env.snapshot()["cache"] == [] and env.snapshot()["netns"] == [host]


def test_absent_after_namespaces_vanished_runs_concurrently(env):
    """Containers whose namespaces were removed behind our back: their attachments are
    released through throwaway namespaces, several at once (one per thread)."""
    from ansible_collections.podnet.cni.plugins.module_utils import _netns
    net = env.network()
    cids = [env.cid("v") for dummy in range(6)]
    entries = [env.entry(cid, net["name"]) for cid in cids]
    assert env.batch(entries, workers=6)["failed_containers"] == 0
    for cid in cids:
        _netns.remove("/run/netns/%s" % cid)
    gone = env.batch([{"container_id": c} for c in cids], state="absent", workers=6)
    assert gone["changed"] is True and gone["failed_containers"] == 0 and not gone.get("failed"), gone
    assert all(s.get("stale") for c in cids for s in gone["containers"][c]["actions"]
               if s["action"] == "detach")
    assert not [n for n in os.listdir("/run/netns") if n.startswith("podnet-del-")]
    env.assert_nothing_left()


def test_check_mode_predicts_a_mixed_change_exactly(env):
    """Existing containers changed in several ways in one batch: check mode's actions,
    diff and per-container changed are exactly what the real run then does."""
    a, b = env.network(), env.network()
    keep, grow, shrink, move = (env.cid(s) for s in ("k", "g", "s", "m"))
    port = env.free_port()
    start = [env.entry(keep, a["name"]), env.entry(grow, a["name"]),
             env.entry(shrink, a["name"], b["name"]), env.entry(move, a["name"], static_ip=a["prefix"] + "201")]
    assert env.batch(start)["failed_containers"] == 0
    change = [env.entry(keep, a["name"]), env.entry(grow, a["name"], b["name"], port_mappings=_pm(port)),
              env.entry(shrink, a["name"]), env.entry(move, a["name"], static_ip=a["prefix"] + "200")]
    check = env.batch(change, check=True, diff=True)
    apply = env.batch(change, diff=True)
    assert not apply.get("failed"), apply.get("msg")
    assert json.dumps(apply["actions"]) == json.dumps(check["actions"])
    assert apply["diff"] == check["diff"]
    assert {c: r["changed"] for c, r in apply["containers"].items()} == \
        {c: r["changed"] for c, r in check["containers"].items()} == \
        {keep: False, grow: True, shrink: True, move: True}
    assert [s["action"] for s in apply["containers"][move]["actions"]] == ["reattach"]
    assert apply["containers"][move]["network_settings"]["IPAddress"] == a["prefix"] + "200"
    assert env.batch(change, check=True)["changed"] is False
    env.batch(change, state="absent")
    env.assert_nothing_left()


def test_namespaces_made_and_entered_from_worker_threads(env):
    """Root makes namespaces and brings lo up in the calling thread (no fork): from 8
    threads at once each gets a namespace of its own, and every thread is back in the
    host's namespace afterwards."""
    from concurrent.futures import ThreadPoolExecutor
    from ansible_collections.podnet.cni.plugins.module_utils import _netns
    ctx = env.ctx()
    paths = ["/run/netns/%s" % env.name("t") for dummy in range(16)]
    host = os.stat("/proc/self/ns/net").st_ino

    def make(path):
        ctx.create_netns(path)
        up = ctx.bring_lo_up(path)
        return up, os.stat("/proc/thread-self/ns/net").st_ino

    try:
        with ThreadPoolExecutor(8) as pool:
            done = list(pool.map(make, paths))
        assert all(up is True for up, dummy in done)  # lo was down in each fresh namespace
        assert all(ino == host for dummy, ino in done)  # every thread came back
        inodes = {os.stat(p).st_ino for p in paths}
        assert len(inodes) == 16 and host not in inodes
        assert all(_netns.status(p) == "mounted" for p in paths)
        for p in paths:
            out = sh("ip", "-n", os.path.basename(p), "-o", "link", "show", "lo")
            assert "UP" in out.split("<", 1)[1].split(">", 1)[0]
            assert ctx.bring_lo_up(p) is False  # already up
    finally:
        for p in paths:
            _netns.remove(p)


def test_static_addresses_go_before_dynamic_ones(env):
    """host-local hands out the lowest free address: a dynamic entry listed (or running)
    before a static one would take the static one's address (seen on the fleet: "requested
    IP ... is not available"). The batch adds the static ones first."""
    net = env.network()
    dynamic, static = env.cid("dyn"), env.cid("sta")
    wanted = net["prefix"] + "2"  # the first address a dynamic ADD gets (.1 is the gateway)
    entries = [env.entry(dynamic, net["name"]),
               dict(env.entry(static, net["name"]), static_ip=wanted)]
    for workers in (1, 4):
        res = env.batch(entries, workers=workers)
        assert res["failed_containers"] == 0 and not res.get("failed"), res
        assert res["containers"][static]["network_settings"]["IPAddress"] == wanted
        assert res["containers"][dynamic]["network_settings"]["IPAddress"] != wanted
        gone = env.batch([dict(e, state="absent") for e in entries], workers=workers)
        assert gone["failed_containers"] == 0, gone
