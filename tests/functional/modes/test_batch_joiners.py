# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_mode container:<id> in the batch form of container_netns when the owner is
another entry of the same batch (issue 12): owners are planned and run before their
joiners (whatever the order of the list), check mode predicts the joiner exactly, a
joiner whose owner failed fails naming it, removal in one task takes joiners before
their owner without force, and a cycle, a self-reference or a joiner of an owner the same
task removes is refused before anything changes. Real namespaces, the Debian CNI plugins,
real traffic. Prefix pnw, subnets 10.242.0.0/16, host ports 22100-22199."""
from __future__ import annotations

import json
import os

import pytest

import podnet_testlib as tl


@pytest.fixture
def env(env_w):
    return env_w


def _record(env, cid):
    with open(os.path.join(env.state_dir, "containers", "%s.json" % cid)) as f:
        return json.load(f)


def test_owner_and_joiner_made_and_removed_in_one_batch(env):
    net = env.network()
    owner, joiner = env.cid("own"), env.cid("join")
    port = env.free_port()
    # the joiner is listed first: the batch orders them itself
    entries = [{"container_id": joiner, "network_mode": "container:%s" % owner},
               {"container_id": owner, "netns": owner, "networks": [net["name"]],
                "port_mappings": [{"host_port": port, "container_port": 8080,
                                   "host_ip": "127.0.0.1"}]}]
    before = env.snapshot()
    check = env.netns(check=True, diff=True, containers=entries)
    assert check["changed"] is True and not check.get("failed"), check
    assert env.snapshot() == before  # check mode touched nothing
    joined = check["containers"][joiner]
    assert joined["changed"] is True and joined["actions"] == [
        {"action": "join_netns", "netns": "/run/netns/%s" % owner, "container": owner}], joined
    assert check["diff"]["after"][joiner] == {
        "netns": "/run/netns/%s" % owner, "name": joiner, "network_mode": "container:%s" % owner,
        "networks": {}}
    assert [a["action"] for a in check["containers"][owner]["actions"]] == ["create_netns", "attach"]

    res = env.netns(diff=True, containers=entries)
    assert res["changed"] is True and res["failed_containers"] == 0 and not res.get("failed"), res
    assert res["actions"] == check["actions"] and res["diff"] == check["diff"]
    for cid in (owner, joiner):
        assert res["containers"][cid]["actions"] == check["containers"][cid]["actions"]
    ip = res["containers"][owner]["network_settings"]["IPAddress"]
    assert ip.startswith(net["prefix"])
    assert res["containers"][joiner]["netns"] == "/run/netns/%s" % owner
    assert res["containers"][joiner]["network_settings"]["IPAddress"] == ip
    assert res["containers"][joiner]["network_settings"]["Ports"] == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    rec = _record(env, joiner)
    assert (rec["joins"], rec["netns_origin"]) == (owner, "shared")
    # real traffic: a server in the joiner's namespace answers on the owner's IP and port
    env.server(owner, 8080, "joined-in-batch")
    assert tl.tcp_get(ip, 8080) == "joined-in-batch"
    assert tl.tcp_get("127.0.0.1", port) == "joined-in-batch"

    for again in (env.netns(check=True, diff=True, containers=entries),
                  env.netns(diff=True, containers=entries)):
        assert again["changed"] is False and again["actions"] == [], (again["actions"], again.get("msg"))

    # both removed in one task, the owner listed first: the joiner goes first, no force
    gone_entries = [{"container_id": owner, "netns": owner, "state": "absent"},
                    {"container_id": joiner, "state": "absent"}]
    check = env.netns(check=True, containers=gone_entries)
    assert check["changed"] is True and not check.get("failed"), check
    assert [a["action"] for a in check["containers"][joiner]["actions"]] == ["forget_record"]
    env.stop_procs()
    gone = env.netns(containers=gone_entries, workers=4)
    assert gone["changed"] is True and not gone.get("failed"), gone
    assert gone["actions"] == check["actions"]
    assert env.netns(containers=gone_entries)["changed"] is False
    env.assert_nothing_left()


def test_a_joiner_whose_owner_failed_fails_naming_it(env):
    good, bad = env.network(), env.failing_network()
    owner, joiner, other = env.cid("own"), env.cid("join"), env.cid("oth")
    entries = [{"container_id": joiner, "network_mode": "container:%s" % owner},
               {"container_id": owner, "netns": owner, "networks": [bad["name"]]},
               {"container_id": other, "netns": other, "networks": [good["name"]]}]
    check = env.netns(check=True, containers=entries)
    assert check["changed"] is True and not check.get("failed"), check  # fails only for real
    res = env.netns(containers=entries, workers=3)
    assert res.get("failed") is True and res["failed_containers"] == 2, res
    assert res["containers"][owner]["failed"] is True and "pnw_no_such" in res["containers"][owner]["msg"]
    failed = res["containers"][joiner]
    assert failed["failed"] is True and failed["changed"] is False, failed
    assert "container %s" % owner in failed["msg"] and "failed" in failed["msg"], failed
    assert res["containers"][other]["failed"] is False and res["containers"][other]["changed"] is True
    records = env.records()
    assert joiner + ".json" not in records and owner + ".json" not in records
    assert owner not in env.snapshot()["netns"]
    env.netns(containers=[{"container_id": other, "netns": other, "state": "absent"}])
    env.assert_nothing_left()


@pytest.mark.parametrize("case", ["cycle", "self", "owner_removed", "chain"])
def test_cycles_self_references_and_removed_owners_refused_before_anything_changes(env, case):
    net = env.network()
    a, b, c = env.cid("a"), env.cid("b"), env.cid("c")
    fresh = {"container_id": c, "netns": c, "networks": [net["name"]]}
    entries = {
        "cycle": [{"container_id": a, "network_mode": "container:%s" % b},
                  {"container_id": b, "network_mode": "container:%s" % a}, fresh],
        "self": [{"container_id": a, "network_mode": "container:%s" % a}, fresh],
        "owner_removed": [{"container_id": a, "network_mode": "container:%s" % b},
                          {"container_id": b, "netns": b, "state": "absent"}, fresh],
        "chain": [{"container_id": a, "network_mode": "container:%s" % b},
                  {"container_id": b, "network_mode": "container:%s" % c}, fresh],
    }[case]
    wants = {"cycle": ["in a cycle", a, b], "self": ["cannot join its own namespace", a],
             "owner_removed": ["container %s, which the same task removes" % b],
             "chain": ["join that one", c]}[case]
    before = env.snapshot()
    for check_mode in (True, False):
        res = env.netns(check=check_mode, containers=entries)
        assert res.get("failed") and "nothing was changed" in res["msg"], res
        assert all(w in res["msg"] for w in wants), (wants, res["msg"])
        assert env.snapshot() == before
    env.assert_nothing_left()
