# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_network ``networks:`` (the cni_host role's one task) with the real plugins: check
mode exact against the real run, a diff per network, idempotence, each entry checked
against the earlier ones, bad input refused before a file is written, a failed write
reported for its network while the others are done."""
from __future__ import annotations

import json
import os
import subprocess

import podnet_testlib as tl
from pnc_batch_env import sh


def _networks(env, entries, check=False, diff=False, **kw):
    return tl.run_module_file("cni_network", dict(env.module_args(networks=entries), **kw),
                              check=check, diff=diff)


def _files(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def _subnet(env, i):
    return "%s.%d.0/24" % (env.net16, 200 + (int(env.prefix[-4:], 16) + i) % 50)


def test_networks_check_apply_idempotent_in_use(env):
    names = [env.name("n") for dummy in range(3)]
    bridges = ["%sm%d" % (env.prefix, i) for i in range(3)]
    env.bridges.extend(bridges)
    entries = [{"name": names[0], "bridge": bridges[0], "subnets": [{"subnet": _subnet(env, 0)}]},
               {"name": names[1], "bridge": bridges[1], "subnets": [{"subnet": _subnet(env, 1)}],
                "internal": True},
               {"name": names[2], "bridge": bridges[2], "subnets": [{"subnet": _subnet(env, 2)}],
                "cni_version": "1.0.0"}]
    before = _files(env.config_dir)
    check = _networks(env, entries, check=True, diff=True)
    assert check["changed"] is True and not check.get("failed"), check
    assert _files(env.config_dir) == before  # check mode wrote nothing
    assert check["actions"] == ["written %s/%s.conflist" % (env.config_dir, n) for n in names]
    assert [d["after_header"] for d in check["diff"]] == ["%s/%s.conflist" % (env.config_dir, n) for n in names]
    assert all(d["before"] == {} for d in check["diff"])
    assert check["networks"][names[1]]["network"]["plugins"] == ["bridge", "portmap", "firewall", "tuning"]

    apply = _networks(env, entries, diff=True)
    assert apply["changed"] is True and apply["failed_networks"] == 0 and not apply.get("failed")
    assert apply["actions"] == check["actions"] and apply["diff"] == check["diff"]
    assert {n: r["conflist"] for n, r in apply["networks"].items()} == \
        {n: r["conflist"] for n, r in check["networks"].items()}
    for name in names:
        with open(os.path.join(env.config_dir, name + ".conflist")) as f:
            assert json.load(f) == apply["networks"][name]["conflist"]
    for again in (_networks(env, entries, check=True, diff=True), _networks(env, entries, diff=True)):
        assert again["changed"] is False and again["actions"] == [], again
        assert all(d["before"] == d["after"] for d in again["diff"])

    # the networks work: a container on the first (through container_netns' batch)
    cid = env.cid("on")
    assert env.batch([env.entry(cid, names[0])])["failed_containers"] == 0
    # changing a network in use is refused (with the others unchanged), naming it
    changed = [dict(entries[0], subnets=[{"subnet": _subnet(env, 3)}]), entries[1], entries[2]]
    res = _networks(env, changed)
    assert res.get("failed") and not res.get("changed"), res
    assert "network %s is in use by %s (eth0)" % (names[0], cid) in res["msg"]
    assert "1 of 3 networks are invalid, nothing was changed" in res["msg"]
    env.batch([{"container_id": cid}], state="absent")
    # all absent, state once for the task; the bridges go with them
    gone = _networks(env, [{"name": n} for n in names], state="absent")
    assert gone["changed"] is True and not gone.get("failed"), gone
    assert "deleted bridge %s" % bridges[0] in gone["actions"]
    assert _files(env.config_dir) == before
    assert _networks(env, [{"name": n} for n in names], state="absent")["changed"] is False
    env.assert_nothing_left()


def test_networks_checked_against_each_other_and_bad_input(env):
    a, b, c = env.name("a"), env.name("b"), env.name("c")
    other_dir = os.path.join(env.tmp, "other.d")
    sub = _subnet(env, 10)
    cases = [
        ([{"name": a, "subnets": [{"subnet": sub}]}, {"name": b, "subnets": [{"subnet": sub}]}],
         ["%s: subnet %s of network %s overlaps subnet %s of network %s" % (b, sub, b, sub, a)]),
        ([{"name": a, "bridge": "pncsame0", "subnets": [{"subnet": sub}]},
          {"name": b, "bridge": "pncsame0", "subnets": [{"subnet": _subnet(env, 11)}]}],
         ["%s: bridge pncsame0 is already used by network %s" % (b, a)]),
        ([{"name": a, "subnets": [{"subnet": sub}]}, {"name": a, "subnets": [{"subnet": sub}]}],
         ["network %s is listed 2 times" % a]),
        ([{"name": a, "subnets": [{"subnet": "10.233.300.0/24"}]}, {"name": b, "mtu": 10},
          {"name": c, "subnets": [{"subnet": _subnet(env, 12)}]}],
         ["2 of 3 networks are invalid", "%s: invalid subnet '10.233.300.0/24'" % a, "%s: invalid mtu 10" % b]),
    ]
    for entries, needles in cases:
        res = _networks(env, entries)
        assert res.get("failed") and not res.get("changed"), res
        for needle in needles:
            assert needle in res["msg"], (needle, res["msg"])
        assert _files(env.config_dir) == [] and _files(other_dir) == []
    res = _networks(env, [{"name": a}], name=b)
    assert res.get("failed") and "mutually exclusive" in res["msg"]
    # the same subnet in two config dirs is fine (each dir is its own set of networks)
    res = _networks(env, [{"name": a, "subnets": [{"subnet": sub}]},
                          {"name": b, "subnets": [{"subnet": sub}], "cni_config_dir": other_dir}])
    assert res["changed"] and not res.get("failed"), res
    assert _files(env.config_dir) == [a + ".conflist"] and _files(other_dir) == [b + ".conflist"]
    assert res["networks"][b]["config_path"] == os.path.join(other_dir, b + ".conflist")


def test_failed_write_reported_others_done_rerun_converges(env):
    """An entry whose directory is read-only fails on its own; the others are written."""
    ro_dir = os.path.join(env.tmp, "ro.d")
    os.makedirs(ro_dir)
    sh("mount", "--bind", ro_dir, ro_dir)
    env.cleanups.append(lambda: subprocess.run(["umount", "-l", ro_dir], check=False))
    sh("mount", "-o", "remount,bind,ro", ro_dir)
    a, b, c = env.name("a"), env.name("b"), env.name("c")
    entries = [{"name": a, "subnets": [{"subnet": _subnet(env, 20)}]},
               {"name": b, "subnets": [{"subnet": _subnet(env, 21)}], "cni_config_dir": ro_dir},
               {"name": c, "subnets": [{"subnet": _subnet(env, 22)}]}]
    res = _networks(env, entries)
    assert res.get("failed") is True and res["changed"] is True and res["failed_networks"] == 1, res
    assert res["msg"].startswith("1 of 3 networks failed (each rolled back): %s: " % b)
    assert "Read-only file system" in res["msg"]
    assert res["networks"][b]["failed"] and res["networks"][b]["changed"] is False
    assert res["networks"][a]["changed"] and res["networks"][c]["changed"]
    assert _files(env.config_dir) == sorted([a + ".conflist", c + ".conflist"]) and _files(ro_dir) == []
    sh("mount", "-o", "remount,bind,rw", ro_dir)
    rerun = _networks(env, entries)
    assert not rerun.get("failed") and [n for n, r in rerun["networks"].items() if r["changed"]] == [b]
    assert _networks(env, entries)["changed"] is False
