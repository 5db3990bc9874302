# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durable connects (issue 12): a network connected with cni_attachment stays when
container_netns runs again with a list that does not name it, and goes with
purge_networks: true. Real namespaces, the Debian CNI plugins, real traffic."""
from __future__ import annotations

import json

import podnet_testlib as tl


def test_connected_network_survives_a_rerun_and_goes_with_purge(env):
    n1, n2 = env.network(), env.network()
    web, peer = env.cid("web"), env.cid("peer")
    port = env.free_port()
    res = env.netns(container_id=web, netns=web, networks=[n1["name"]])
    assert res["changed"] and not res.get("failed"), res
    res = env.netns(container_id=peer, netns=peer, networks=[n2["name"]])
    assert res["changed"] and not res.get("failed"), res
    con = env.connect(container_id=web, netns=web, network=n2["name"])
    assert con["changed"] and con["interface"] == "eth1", con
    ip2 = con["attachment"]["ips"][0]
    assert ip2.startswith(n2["prefix"])
    env.server(web, port, "durable")
    assert tl.tcp_get(ip2, port, netns=peer) == "durable"

    # a re-run that does not name n2: nothing to do, n2 stays (check mode says the same)
    args = dict(container_id=web, netns=web, networks=[n1["name"]])
    check = env.netns(check=True, diff=True, **args)
    assert check["changed"] is False and check["actions"] == [], check
    assert check["diff"]["before"] == check["diff"]["after"]
    again = env.netns(diff=True, **args)
    assert again["changed"] is False and again["actions"] == [], again
    assert sorted(again["network_settings"]["Networks"]) == sorted([n1["name"], n2["name"]])
    assert tl.tcp_get(ip2, port, netns=peer) == "durable"
    # a new network of container_netns's list takes a free interface, n2 keeps eth1
    n3 = env.network()
    wider = env.netns(**dict(args, networks=[n1["name"], n3["name"]]))
    assert [(a["action"], a["network"], a["interface"]) for a in wider["actions"]] == [
        ("attach", n3["name"], "eth2")], wider
    # ... and dropping it again detaches only it: container_netns attached it
    narrow = env.netns(**args)
    assert [(a["action"], a["network"]) for a in narrow["actions"]] == [("detach", n3["name"])], narrow
    assert tl.tcp_get(ip2, port, netns=peer) == "durable"
    record = json.load(open("%s/containers/%s.json" % (env.state_dir, web)))
    assert [(n["network"], n["attached_by"]) for n in record["networks"]] == [
        (n1["name"], "container_netns"), (n2["name"], "cni_attachment")]

    # purge_networks: check mode predicts the detach, the run does it, traffic stops
    purge = dict(args, purge_networks=True)
    check = env.netns(check=True, diff=True, **purge)
    assert check["changed"] is True, check
    assert [(a["action"], a["network"]) for a in check["actions"]] == [("detach", n2["name"])]
    assert list(check["diff"]["after"]["container"]["networks"]) == [n1["name"]]
    assert tl.tcp_get(ip2, port, netns=peer) == "durable"
    purged = env.netns(**purge)
    assert purged["changed"] is True and purged["actions"] == check["actions"], purged
    assert list(purged["network_settings"]["Networks"]) == [n1["name"]]
    assert tl.tcp_get(ip2, port, netns=peer, timeout=1.0) == ""
    assert env.netns(**purge)["changed"] is False

    env.stop_procs()
    for cid in (web, peer):
        assert env.netns(container_id=cid, netns=cid, state="absent")["changed"] is True
    env.assert_nothing_left()


def test_batch_keeps_connected_networks_and_purges_on_request(env):
    n1, n2 = env.network(), env.network()
    a, b = env.cid("a"), env.cid("b")

    def batch(check=False, **extra):
        entries = [dict({"container_id": cid, "netns": cid, "networks": [n1["name"]]}, **extra)
                   for cid in (a, b)]
        return env.netns(check=check, diff=True, containers=entries)

    assert batch()["changed"] is True
    for cid in (a, b):
        assert env.connect(container_id=cid, netns=cid, network=n2["name"])["changed"] is True
    again = batch()
    assert again["changed"] is False and again["actions"] == [], again
    for cid in (a, b):
        assert sorted(again["containers"][cid]["network_settings"]["Networks"]) == sorted(
            [n1["name"], n2["name"]])
    check = batch(check=True, purge_networks=True)
    assert check["changed"] is True
    assert sorted((x["container_id"], x["action"], x["network"]) for x in check["actions"]) == sorted(
        [(a, "detach", n2["name"]), (b, "detach", n2["name"])])
    purged = batch(purge_networks=True)
    assert purged["changed"] is True and not purged.get("failed"), purged
    for cid in (a, b):
        assert list(purged["containers"][cid]["network_settings"]["Networks"]) == [n1["name"]]
    assert batch(purge_networks=True)["changed"] is False
    for cid in (a, b):
        env.netns(container_id=cid, netns=cid, state="absent")
    env.assert_nothing_left()
