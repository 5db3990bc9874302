# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pinned namespaces (issue 12): state=absent unmounts a namespace container_netns pinned
from a pid (podman's teardownNetNS), the process lives on in it; a namespace that
existed before is never touched. Real namespaces and processes."""
from __future__ import annotations

import os
import subprocess

from pnj_modes_env import sh


def _netns_process(env):
    """A process in a network namespace of its own (unshare), whose namespace is not ours."""
    proc = env.spawn(["unshare", "--net", "sleep", "300"])
    mine = os.stat("/proc/self/ns/net").st_ino
    for dummy in range(100):
        if os.stat("/proc/%d/ns/net" % proc.pid).st_ino != mine:
            return proc
        subprocess.run(["sleep", "0.02"], check=False)
    raise AssertionError("unshare did not enter a namespace")


def test_absent_unmounts_the_pin_and_the_process_lives_on(env):
    net = env.network()
    cid = env.cid("pin")
    proc = _netns_process(env)
    path = "/run/netns/%s" % cid
    args = dict(container_id=cid, netns=cid, pid=proc.pid, networks=[net["name"]])
    res = env.netns(**args)
    assert [a["action"] for a in res["actions"]] == ["pin_netns", "attach"], res
    assert os.path.ismount(path)
    # check mode of absent predicts the unmount and does nothing
    check = env.netns(check=True, diff=True, container_id=cid, netns=cid, state="absent")
    assert [a["action"] for a in check["actions"]] == ["detach", "remove_netns"], check
    assert check["diff"]["after"]["container"]["netns"] is None
    assert os.path.ismount(path)
    gone = env.netns(container_id=cid, netns=cid, state="absent")
    assert gone["changed"] is True and gone["actions"] == check["actions"], gone
    assert cid not in os.listdir("/run/netns")
    assert proc.poll() is None  # the process lives on, in its own namespace
    links = sh("nsenter", "--net=/proc/%d/ns/net" % proc.pid, "ip", "-o", "link")
    assert [l.split(":")[1].strip() for l in links.splitlines()] == ["lo"]
    assert env.netns(container_id=cid, netns=cid, state="absent")["changed"] is False
    env.assert_nothing_left()


def test_absent_never_removes_a_namespace_that_existed_before(env):
    net = env.network()
    cid = env.cid("pre")
    path = "/run/netns/%s" % cid
    sh("ip", "netns", "add", cid)
    env.cleanups.append(lambda: sh("ip", "netns", "del", cid, check=False))
    res = env.netns(container_id=cid, netns=cid, networks=[net["name"]])
    assert [a["action"] for a in res["actions"]] == ["attach"], res
    gone = env.netns(container_id=cid, netns=cid, state="absent")
    assert [a["action"] for a in gone["actions"]] == ["detach"], gone
    assert os.path.ismount(path)
    sh("ip", "netns", "del", cid)
    env.assert_nothing_left()
