# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault injection with the real plugins: a plugin failing at each position of the
chain, a plugin that hangs, the module killed with SIGKILL at random points of an
attach, and 20 concurrent attaches to one network. After each fault the host is as
before (or converges on the next run): no veth, IP reservation, iptables chain, cache
entry, record or namespace is left behind."""
from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

import pnb_env

CHAIN = ["bridge", "portmap", "firewall", "tuning"]
KILL_AT = ["bridge", "host-local", "portmap", "firewall", "tuning"]


def _present(pnb, cid, ns, nets, port=None, plugin_dirs=None, **extra):
    args = pnb.common(container_id=cid, netns=ns, networks=nets, **extra)
    if port:
        args["port_mappings"] = [{"host_port": port, "container_port": 80}]
    if plugin_dirs:
        args["cni_plugin_dirs"] = plugin_dirs
    return args


def _absent(pnb, cid, ns):
    return pnb.common(container_id=cid, netns=ns, state="absent")


@pytest.mark.parametrize("failing_net", [0, 1], ids=["first-network", "second-network"])
@pytest.mark.parametrize("position", range(len(CHAIN)), ids=CHAIN)
def test_add_failure_at_each_chain_position_leaves_nothing(pnb, tmp_path, position, failing_net):
    """ADD fails in plugin `position` of network `failing_net`: the module fails naming the
    plugin, and everything this run did (the other network too) is rolled back."""
    n0 = pnb.network("a")["name"]
    n1 = pnb.network("b")["name"]
    # the wrapper fails ADD only for the chosen network, so the other one really attaches
    failing_name = (n0, n1)[failing_net]
    bad = pnb_env.wrapper_plugin_dir(str(tmp_path / "bad-plugins"), {})
    wrapper = os.path.join(bad, CHAIN[position])
    os.unlink(wrapper)
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "input=$(cat)\n"
                "if [ \"$CNI_COMMAND\" = ADD ] && printf '%%s' \"$input\" | grep -q '\"name\": *\"%s\"'; then\n"
                "  echo '{\"cniVersion\":\"0.4.0\",\"code\":11,\"msg\":\"pnb injected failure in %s\"}'\n"
                "  exit 1\nfi\n"
                "printf '%%s' \"$input\" | exec %s\n"
                % (failing_name, CHAIN[position], os.path.join(pnb_env.PLUGIN_DIR, CHAIN[position])))
    os.chmod(wrapper, 0o755)
    cid, ns = pnb.cid("c1"), pnb.name("c1")
    before = pnb.snapshot()
    res = pnb.run("container_netns", _present(pnb, cid, ns, [n0, n1], port=pnb.port(), plugin_dirs=[bad]))
    assert res.get("failed"), res
    assert "pnb injected failure in %s" % CHAIN[position] in res["msg"], res["msg"]
    assert CHAIN[position] in res["msg"] and failing_name in res["msg"], res["msg"]
    pnb_env.assert_same(before, pnb.snapshot(), "after ADD failed in %s of %s" % (CHAIN[position], failing_name))
    # and the same request with working plugins succeeds from that clean state
    res = pnb.run("container_netns", _present(pnb, cid, ns, [n0, n1], port=pnb.port(1)))
    assert not res.get("failed"), res
    res = pnb.run("container_netns", _absent(pnb, cid, ns))
    assert not res.get("failed"), res
    pnb_env.assert_same(before, pnb.snapshot(), "after absent")


@pytest.mark.parametrize("how", ["hang-add", "hang-add-child"])
def test_hanging_plugin_times_out_and_rolls_back(pnb, tmp_path, how):
    """A plugin that never answers (itself, or through a child holding its stdout): the
    plugin_timeout fires, the module fails saying so, and the chain is rolled back."""
    net = pnb.network("h")["name"]
    plugins = pnb_env.wrapper_plugin_dir(str(tmp_path / "plugins"), {"firewall": how})
    cid, ns = pnb.cid("h1"), pnb.name("h1")
    before = pnb.snapshot()
    t0 = time.monotonic()
    res = pnb.run("container_netns", _present(pnb, cid, ns, [net], port=pnb.port(), plugin_dirs=[plugins],
                                              plugin_timeout=3), timeout=120)
    elapsed = time.monotonic() - t0
    assert res.get("failed"), res
    assert "timed out" in res["msg"] and "firewall" in res["msg"], res["msg"]
    assert elapsed < 100, "the module did not return within its timeout (%.0fs)" % elapsed
    pnb.wait_plugins_gone(timeout=10)
    pnb_env.assert_same(before, pnb.snapshot(), "after a hanging firewall plugin (%s)" % how)


def _state_ok(pnb, cid, ns, net):
    """The container is attached: netns mounted, eth0 has an address of the network,
    one cache entry, a record, one reservation."""
    from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
    from ansible_collections.podnet.cni.plugins.module_utils import _netns
    path = os.path.join("/run/netns", ns)
    assert _netns.status(path) == "mounted"
    entries = cnicache.list_entries(pnb.cache_dir, container_id=cid)
    assert [(e.network, e.ifname) for e in entries] == [(net, "eth0")]
    assert os.path.exists(os.path.join(pnb.state_dir, "containers", "%s.json" % cid))
    res = pnb_env.T.run(["ip", "-n", ns, "-o", "-4", "addr", "show", "eth0"]).stdout.decode()
    ips = list(entries[0].result.get("ips", []))
    assert ips and ips[0]["address"].split("/")[0] in res, (ips, res)
    owners = pnb.reservations(net)
    assert list(owners.values()) == [cid], owners


def test_sigkill_at_random_points_of_an_attach_converges(pnb):
    """The module is killed with SIGKILL at a random moment of an attach (20 times): the
    next `present` converges to a working attachment and `absent` leaves nothing."""
    net = pnb.network("k")["name"]
    before = pnb.snapshot()
    # how long an uninterrupted attach takes here, to spread the kills over all of it
    cid, ns = pnb.cid("k0"), pnb.name("k0")
    t0 = time.monotonic()
    res = pnb.run("container_netns", _present(pnb, cid, ns, [net], port=pnb.port()))
    span = time.monotonic() - t0
    assert not res.get("failed"), res
    assert not pnb.run("container_netns", _absent(pnb, cid, ns)).get("failed")
    rng = random.Random(int(os.environ.get("PNB_SEED", "0")) or None)
    kills = []
    for i in range(20):
        cid, ns = pnb.cid("k%d" % (i + 1)), pnb.name("k%d" % (i + 1))
        port = pnb.port(i)
        proc = pnb.spawn("container_netns", _present(pnb, cid, ns, [net], port=port))
        if i % 2 == 0:   # right when a given plugin of the chain (or its IPAM) starts
            target = KILL_AT[(i // 2) % len(KILL_AT)]
            t0 = time.monotonic()
            pnb.wait_for_plugin(target, cid, proc)
            delay = time.monotonic() - t0
            where = "when %s started (%.3fs)" % (target, delay)
        else:            # at a random moment of the whole run
            delay = rng.uniform(0.05, span * 1.1)
            time.sleep(delay)
            where = "at %.3fs" % delay
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills.append((where, killed))
        pnb.wait_plugins_gone()
        res = pnb.run("container_netns", _present(pnb, cid, ns, [net], port=port))
        assert not res.get("failed"), ("present after SIGKILL %s did not converge" % where, res)
        _state_ok(pnb, cid, ns, net)
        res2 = pnb.run("container_netns", _present(pnb, cid, ns, [net], port=port))
        assert not res2.get("failed") and not res2["changed"], ("not idempotent after recovery", res2)
        res = pnb.run("container_netns", _absent(pnb, cid, ns))
        assert not res.get("failed"), res
        pnb_env.assert_same(before, pnb.snapshot(), "after SIGKILL %s then present + absent" % where)
    assert sum(1 for dummy, k in kills if k) >= 10, "too few kills hit a running module: %s" % kills


def test_twenty_concurrent_attaches_to_one_network(pnb):
    """20 module processes attach 20 containers to one network at once: all succeed, no
    IP is handed out twice, every cache entry and record is whole."""
    from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
    net = pnb.network("p")["name"]
    before = pnb.snapshot()
    n = 20
    cids = [pnb.cid("p%02d" % i) for i in range(n)]
    # 20 chains contend for the xtables lock (with whatever else runs on the host): this
    # test is about correctness, so the per-plugin timeout is generous
    procs = [pnb.spawn("container_netns", _present(pnb, cid, pnb.name("p%02d" % i), [net],
                                                   port=pnb_env.PORT_BASE + 50 + i, plugin_timeout=600))
             for i, cid in enumerate(cids)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        results.append(pnb_env.parse_module_output(out))
    failed = [r for r in results if r.get("failed")]
    assert not failed, failed
    ips = [r["network_settings"]["IPAddress"] for r in results]
    assert len(set(ips)) == n, "duplicate IPs: %s" % sorted(ips)
    entries = cnicache.list_entries(pnb.cache_dir)
    assert sorted(e.container_id for e in entries) == sorted(cids)
    for e in entries:                      # whole JSON, right key, a result with the IP
        with open(e.path) as f:
            data = json.load(f)
        assert data["kind"] == "cniCacheV1" and data["networkName"] == net
        assert data["result"]["ips"][0]["address"].split("/")[0] in ips
    for cid in cids:
        with open(os.path.join(pnb.state_dir, "containers", "%s.json" % cid)) as f:
            assert json.load(f)["container_id"] == cid
    owners = pnb.reservations(net)
    assert sorted(owners.values()) == sorted(cids) and sorted(owners) == sorted(ips)
    leftovers = [f for f in os.listdir(os.path.join(pnb.cache_dir, "results")) if ".tmp." in f]
    assert not leftovers, leftovers
    # and 20 concurrent detaches leave nothing
    procs = [pnb.spawn("container_netns", _absent(pnb, cid, pnb.name("p%02d" % i)))
             for i, cid in enumerate(cids)]
    for proc in procs:
        out, dummy = proc.communicate(timeout=300)
        r = pnb_env.parse_module_output(out)
        assert not r.get("failed"), r
    pnb_env.assert_same(before, pnb.snapshot(), "after 20 concurrent attaches and detaches")


def test_sigkill_during_cni_attachment_converges(pnb):
    """cni_attachment killed when each plugin of the chain starts: the next run converges
    (its planner must undo the interrupted ADD, see _intent) and absent leaves nothing."""
    net = pnb.network("ka")["name"]
    before = pnb.snapshot()
    for i, target in enumerate(KILL_AT):
        cid = pnb.cid("ka%d" % i)
        pnb_env.T.run(["ip", "netns", "add", cid])
        args = pnb.common(container_id=cid, netns=cid, network=net,
                          port_mappings=[{"host_port": pnb.port(i), "container_port": 80}])
        proc = pnb.spawn("cni_attachment", args)
        pnb.wait_for_plugin(target, cid, proc)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
        pnb.wait_plugins_gone()
        res = pnb.run("cni_attachment", args)
        assert not res.get("failed"), ("cni_attachment after SIGKILL when %s started" % target, res)
        res = pnb.run("cni_attachment", args)
        assert not res.get("failed") and not res["changed"], res
        res = pnb.run("cni_attachment", dict(args, state="absent"))
        assert not res.get("failed"), res
        pnb_env.T.run(["ip", "netns", "del", cid])
        pnb_env.assert_same(before, pnb.snapshot(), "after SIGKILL of cni_attachment when %s started" % target)
