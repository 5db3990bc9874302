# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_mode container:<id>, ns:<path> and host (issue 12): no CNI calls for them, the
record says what the container uses, check mode and diff exact, clear errors before
anything changes. Real namespaces, the Debian CNI plugins, real traffic: a server in the
joiner's namespace answers on the owner's IP."""
from __future__ import annotations

import json
import os

import podnet_testlib as tl


def _record(env, cid):
    with open(os.path.join(env.state_dir, "containers", "%s.json" % cid)) as f:
        return json.load(f)


def test_a_joiner_shares_the_owners_namespace(env):
    net = env.network()
    owner, joiner, peer = env.cid("own"), env.cid("join"), env.cid("peer")
    port = env.free_port()
    made = env.netns(container_id=owner, netns=owner, networks=[net["name"]])
    assert made["changed"] and not made.get("failed"), made
    ip = made["network_settings"]["IPAddress"]
    assert env.netns(container_id=peer, netns=peer, networks=[net["name"]])["changed"]
    cache_before = env.cache_files()

    join = dict(container_id=joiner, network_mode="container:%s" % owner)
    check = env.netns(check=True, diff=True, **join)
    assert check["changed"] is True and not check.get("failed"), check
    assert check["actions"] == [{"action": "join_netns", "netns": "/run/netns/%s" % owner,
                                 "container": owner}]
    assert check["diff"]["before"]["container"]["network_mode"] is None
    assert check["diff"]["after"]["container"] == {
        "netns": "/run/netns/%s" % owner, "name": joiner, "network_mode": "container:%s" % owner,
        "networks": {}}
    assert joiner + ".json" not in env.records()
    res = env.netns(diff=True, **join)
    assert res["changed"] is True and res["actions"] == check["actions"], res
    assert res["diff"] == check["diff"]
    # what it reports is the owner's (podman's inspect delegates to the owner too)
    assert res["netns"] == "/run/netns/%s" % owner
    assert res["network_settings"]["IPAddress"] == ip
    assert env.cache_files() == cache_before  # no CNI call: no attachment of its own
    rec = _record(env, joiner)
    assert (rec["network_mode"], rec["joins"], rec["netns_origin"]) == (
        "container:%s" % owner, owner, "shared")
    again = env.netns(diff=True, **join)
    assert again["changed"] is False and again["actions"] == [], again
    assert again["diff"]["before"] == again["diff"]["after"]

    # a server started in the joiner's namespace answers on the owner's IP
    env.server(res["netns"].rsplit("/", 1)[1], port, "joined")
    assert tl.tcp_get(ip, port, netns=peer) == "joined"

    # a joiner has no namespace of its own to connect networks to
    con = env.connect(container_id=joiner, network=net["name"])
    assert con.get("failed") and "connect container %s instead" % owner in con["msg"], con

    info = env.info(container_id=joiner)
    c = info["containers"][joiner]
    assert c["network_mode"] == "container:%s" % owner and c["joins"] == owner, c
    assert c["network_settings"]["IPAddress"] == ip

    # removing the owner while it has a joiner: refused, nothing changed (check mode too)
    for check_mode in (True, False):
        refused = env.netns(check=check_mode, container_id=owner, netns=owner, state="absent")
        assert refused.get("failed") and joiner in refused["msg"] and "force" in refused["msg"], refused
    assert tl.tcp_get(ip, port, netns=peer) == "joined"
    # removing the joiner never touches the owner
    gone = env.netns(container_id=joiner, state="absent")
    assert gone["changed"] is True and [a["action"] for a in gone["actions"]] == ["forget_record"], gone
    assert joiner + ".json" not in env.records()
    assert tl.tcp_get(ip, port, netns=peer) == "joined"
    assert env.netns(container_id=joiner, state="absent")["changed"] is False
    # force removes the owner and its joiners' records
    assert env.netns(**join)["changed"] is True
    forced = env.netns(container_id=owner, netns=owner, state="absent", force=True)
    assert forced["changed"] is True, forced
    assert {"action": "forget_joiner", "container": joiner} in forced["actions"]
    assert joiner + ".json" not in env.records() and owner + ".json" not in env.records()
    env.stop_procs()
    env.netns(container_id=peer, netns=peer, state="absent")
    env.assert_nothing_left()


def test_joining_what_is_not_there_or_not_joinable_fails_clearly(env):
    net = env.network()
    owner, joiner, other = env.cid("own"), env.cid("join"), env.cid("oth")
    res = env.netns(container_id=joiner, network_mode="container:%s" % owner)
    assert res.get("failed") and "container %s is not present" % owner in res["msg"], res
    assert env.netns(container_id=owner, netns=owner, networks=[net["name"]])["changed"]
    assert env.netns(container_id=joiner, network_mode="container:%s" % owner)["changed"]
    chained = env.netns(container_id=other, network_mode="container:%s" % joiner)
    assert chained.get("failed") and "join that one" in chained["msg"], chained
    # a container with a namespace of its own is not switched over it
    switch = env.netns(container_id=owner, network_mode="host")
    assert switch.get("failed") and "remove it first" in switch["msg"], switch
    assert env.records() == sorted([owner + ".json", joiner + ".json"])
    # a batch removing the owner and its joiner together needs no force
    res = env.netns(containers=[{"container_id": owner, "netns": owner, "state": "absent"},
                                {"container_id": joiner, "state": "absent"}])
    assert res["changed"] is True and not res.get("failed"), res
    env.assert_nothing_left()


def test_ns_mode_uses_an_existing_namespace_as_it_is(env):
    cid = env.cid("ns")
    name = env.name("theirs")
    path = "/run/netns/%s" % name
    tl.run(["ip", "netns", "add", name])
    env.cleanups.append(lambda: tl.run(["ip", "netns", "del", name], check=False))
    args = dict(container_id=cid, network_mode="ns:%s" % path)
    check = env.netns(check=True, diff=True, **args)
    assert check["changed"] is True and check["actions"] == [{"action": "use_netns", "netns": path}], check
    res = env.netns(**args)
    assert res["changed"] is True and res["netns"] == path, res
    assert env.cache_files() == []
    assert env.netns(**args)["changed"] is False
    gone = env.netns(container_id=cid, state="absent")
    assert [a["action"] for a in gone["actions"]] == ["forget_record"], gone
    assert os.path.ismount(path)  # only our record went
    missing = env.netns(container_id=cid, network_mode="ns:/run/netns/%s" % env.name("nope"))
    assert missing.get("failed") and "not a live network namespace" in missing["msg"], missing
    # the host's namespace (this test runs in it; PID 1's link may not be readable here)
    host = env.netns(container_id=cid, network_mode="ns:/proc/%d/ns/net" % os.getpid())
    assert host.get("failed") and "never a container's" in host["msg"], host
    tl.run(["ip", "netns", "del", name])
    env.assert_nothing_left()


def test_host_mode_has_no_namespace_and_refuses_ports(env):
    cid = env.cid("host")
    ports = env.netns(check=True, container_id=cid, network_mode="host",
                      port_mappings=[{"container_port": 80, "host_port": env.free_port()}])
    assert ports.get("failed") and "process binds host ports itself" in ports["msg"], ports
    check = env.netns(check=True, diff=True, container_id=cid, network_mode="host")
    assert check["changed"] is True and check["actions"] == [{"action": "use_host_netns", "netns": None}]
    assert check["diff"]["after"]["container"]["network_mode"] == "host"
    res = env.netns(container_id=cid, network_mode="host")
    assert res["changed"] is True and res["netns"] is None and res["network_settings"] == {}, res
    assert _record(env, cid)["network_mode"] == "host"
    assert env.netns(container_id=cid, network_mode="host")["changed"] is False
    joiner = env.netns(container_id=env.cid("j"), network_mode="container:%s" % cid)
    assert joiner.get("failed") and "network_mode host" in joiner["msg"], joiner
    # reload and prune leave it alone
    assert env.module("container_net_reload", containers=["all"], prune_stale=True).get("failed") is not True
    assert _record(env, cid)["network_mode"] == "host"
    assert env.netns(container_id=cid, state="absent")["changed"] is True
    env.assert_nothing_left()
