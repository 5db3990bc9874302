# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""podnet.cni.container_netns through Ansible: check mode predicts exactly and changes
nothing, --diff gives before/after dicts, re-runs are unchanged, absent is idempotent,
and bad input fails with a message naming the value before anything changes.

Several tasks share one ansible-playbook run: Ansible's start-up is the slow part."""
from __future__ import annotations

import os

from pnf_core_env import run_playbook

MODULE = "podnet.cni.container_netns"


def task(args, check=False, name=None):
    return {"name": name or "task", MODULE: args, "check_mode": check, "ignore_errors": True}


def test_check_apply_idempotent_diff_absent(core):
    n1, n2 = core.network(), core.network()
    cid = core.cid()
    base = core.module_args(container_id=cid, netns=cid, networks=[n1["name"]],
                            static_ip=n1["prefix"] + "40")
    wider = dict(base, networks=[n1["name"], {"name": n2["name"], "aliases": ["db"]}])
    nothing = core.snapshot()

    # 1. check mode on a new container: changed, the plan, nothing on the host
    [check] = run_playbook(core.tmp, [task(base, check=True)])
    assert check["changed"] is True, check
    assert [a["action"] for a in check["actions"]] == ["create_netns", "attach"]
    assert check["netns"] is None
    assert check["diff"]["before"] == {"container": {"netns": None, "name": None,
                                                     "network_mode": None, "networks": {}}}
    assert check["diff"]["after"]["container"]["networks"][n1["name"]]["ips"] == [n1["prefix"] + "40"]
    assert core.snapshot() == nothing
    assert not os.path.exists(os.path.join(core.state_dir, "containers"))

    # 2. apply (as predicted), then check and apply again: nothing to do; a check with a
    #    second network predicts exactly what the apply after it does
    apply, recheck, reapply, check_wider = run_playbook(core.tmp, [
        task(base), task(base, check=True), task(base), task(wider, check=True)])
    assert apply["changed"] is True and apply["actions"] == check["actions"], apply
    assert apply["diff"] == check["diff"]
    assert apply["network_settings"]["IPAddress"] == n1["prefix"] + "40"
    assert apply["netns"] == "/run/netns/%s" % cid
    for again in (recheck, reapply):
        assert again["changed"] is False and again["actions"] == [], again
        assert again["diff"]["before"] == again["diff"]["after"]
        assert again["network_settings"] == apply["network_settings"]
    assert check_wider["changed"] is True
    assert [(a["action"], a["network"], a["interface"]) for a in check_wider["actions"]] == [
        ("attach", n2["name"], "eth1")]
    before, after = check_wider["diff"]["before"]["container"], check_wider["diff"]["after"]["container"]
    assert isinstance(before, dict) and isinstance(after, dict)
    assert list(before["networks"]) == [n1["name"]]
    assert sorted(after["networks"]) == sorted([n1["name"], n2["name"]])
    assert after["networks"][n2["name"]]["aliases"] == ["db"]
    assert before["networks"][n1["name"]] == after["networks"][n1["name"]]
    attached = core.snapshot()
    assert len(attached["cache"]) == 1 and len(attached["bridge_ports"]) == 1

    # 3. apply the wider list: exactly the predicted step; check mode of absent changes nothing
    widened, check_absent = run_playbook(core.tmp, [
        task(wider), task(core.module_args(container_id=cid, netns=cid, state="absent"), check=True)])
    assert widened["changed"] is True and widened["actions"] == check_wider["actions"]
    assert widened["diff"]["after"] == check_wider["diff"]["after"]
    assert widened["network_settings"]["Networks"][n2["name"]]["Aliases"] == ["db"]
    assert check_absent["changed"] is True
    assert sorted(a["action"] for a in check_absent["actions"]) == ["detach", "detach", "remove_netns"]
    assert check_absent["diff"]["after"]["container"]["networks"] == {}
    wide = core.snapshot()
    assert len(wide["cache"]) == 2 and len(wide["bridge_ports"]) == 2

    # 4. absent, twice, and a check of absent afterwards
    absent = core.module_args(container_id=cid, netns=cid, state="absent")
    gone, gone_again, check_gone = run_playbook(core.tmp, [
        task(absent), task(absent), task(absent, check=True)])
    assert gone["changed"] is True and gone["actions"] == check_absent["actions"]
    assert gone["netns"] is None and gone["network_settings"] == {}
    for again in (gone_again, check_gone):
        assert again["changed"] is False and again["actions"] == [], again
    core.assert_nothing_left()


def test_bad_input_fails_naming_the_value_and_changes_nothing(core):
    good = core.network()
    broken = core.name("broken")
    with open(os.path.join(core.config_dir, "%s.conflist" % broken), "w") as f:
        f.write('{"cniVersion": "1.0.0", "name": "%s", "plugins": [' % broken)
    noplug = dict(good["conf"], name=core.name("noplug"),
                  plugins=good["conf"]["plugins"] + [{"type": "pnf-no-such-plugin"}])
    import podnet_testlib as tl
    tl.write_conflist(core.config_dir, noplug)
    nope = core.name("nope")
    existing = core.cid("exist")
    core.apply(existing, networks=[good["name"]])
    fresh = core.cid("fresh")
    before = core.snapshot()
    before_ip = core.apply(existing, networks=[good["name"]])["network_settings"]["IPAddress"]

    def args(**kw):
        kw.setdefault("container_id", fresh)
        kw.setdefault("networks", [good["name"]])
        if kw["container_id"] == fresh:
            kw.setdefault("netns", fresh)
        return core.module_args(**kw)

    def net(**kw):
        return [dict({"name": good["name"]}, **kw)]

    p = good["prefix"]
    cases = [
        (args(container_id="-bad"), "'-bad'"),
        (args(container_id="a/b"), "'a/b'"),
        (args(container_id="x" * 254), "x" * 254),
        (args(networks=net(interface="averyveryverylongname")), "'averyveryverylongname'"),
        (args(networks=net(interface="eth/0")), "'eth/0'"),
        (args(networks=net(interface="eth:0")), "'eth:0'"),
        (args(networks=net(interface="eth 0")), "'eth 0'"),
        (args(static_ip=p + "300"), "'%s300'" % p),
        (args(networks=net(ips=["not-an-ip"])), "'not-an-ip'"),
        (args(static_mac="02:42:zz:00:00:01"), "'02:42:zz:00:00:01'"),
        (args(static_mac="01:00:5e:00:00:01"), "'01:00:5e:00:00:01'"),
        (args(port_mappings=[{"container_port": 70000}]), "70000"),
        (args(port_mappings=[{"container_port": 80, "host_port": 0}]), "host_port 0"),
        (args(port_mappings=[{"container_port": 80, "protocol": "icmp"}]), "'icmp'"),
        (args(port_mappings=[{"container_port": 65535, "range": 2}]), "port range 2"),
        (args(networks=net(aliases=["-x"])), "'-x'"),
        (args(static_ip="10.221.0.5"), "IP 10.221.0.5 is outside every range of network %s"
         % good["name"]),
        (args(networks=[nope]), "'%s'" % nope),
        (args(networks=[good["name"], nope]), "'%s'" % nope),
        (args(networks=[broken]), "%s.conflist" % broken),
        (args(networks=[noplug["name"]]), "'pnf-no-such-plugin'"),
        (args(netns="../etc/pnf"), "'../etc/pnf'"),
        (args(netns=".."), "'..'"),
        (args(netns="/run/netns/../pnf"), "'/run/netns/../pnf'"),
        # an existing container asked for a bad change keeps what it has
        (args(container_id=existing, netns=existing, networks=[good["name"], nope]), "'%s'" % nope),
        (args(container_id=existing, netns=existing, static_ip="10.221.0.5"), "10.221.0.5"),
    ]
    results = run_playbook(core.tmp, [task(a, name="case %d" % i) for i, (a, dummy) in enumerate(cases)])
    assert len(results) == len(cases)
    for (case_args, needle), result in zip(cases, results):
        assert result["_status"] == "failed", (case_args, result)
        assert needle in result["msg"], (needle, result["msg"])
        assert not result.get("changed"), result
        assert "unexpected error" not in result["msg"], result
    broken_msg = results[[case[1] for case in cases].index("%s.conflist" % broken)]["msg"]
    assert "not valid JSON" in broken_msg and "unknown CNI network '%s'" % broken in broken_msg
    assert core.snapshot() == before
    assert core.apply(existing, networks=[good["name"]])["network_settings"]["IPAddress"] == before_ip
    core.absent(existing)
    core.assert_nothing_left()


def test_check_mode_predicts_the_repair_of_a_vanished_namespace(core):
    from ansible_collections.podnet.cni.plugins.module_utils import _netns
    net = core.network()
    cid = core.cid()
    args = core.module_args(container_id=cid, netns=cid, networks=[net["name"]])
    core.apply(cid, networks=[net["name"]])
    _netns.remove("/run/netns/%s" % cid)     # gone behind our back
    stale = core.snapshot()
    check, apply, recheck = run_playbook(core.tmp, [task(args, check=True), task(args),
                                                    task(args, check=True)])
    assert check["changed"] is True
    assert [(a["action"], a.get("stale")) for a in check["actions"]] == [
        ("detach", True), ("create_netns", None), ("attach", None)]
    assert apply["changed"] is True and apply["actions"] == check["actions"]
    assert apply["diff"] == check["diff"]
    assert recheck["changed"] is False and recheck["actions"] == []
    now = core.snapshot()
    assert len(now["reservations"]) == 1 and len(now["cache"]) == 1 and now["netns"] == [cid]
    assert stale["netns"] == []
    core.absent(cid)
    core.assert_nothing_left()
