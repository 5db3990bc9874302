# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A holder of another machine's user with our user's uid is not ours.

A privileged container on this host (a fleet test host, a CI host running molecule) can
have a user with the same uid and the same runtime dir (/run/user/UID) as ours; its
holder is visible in our /proc, a podnet-pause of this uid with that netns dir mounted in
its mount namespace, and its slirp4netns has the command line ours would have. They live
in a pid namespace below the container's, not in ours (our holder: the init of a pid
namespace made from ours; older ones share ours; our slirp4netns: in the holder's). The
module must start a holder of its own and leave the foreign processes alone, also when it
stops its own slirp4netns (absent, absent force=true); the tests' scans and kills by uid
must leave them alone too.

The foreign holder is made here as root: a private mount namespace with a tmpfs over the
user's runtime dir and one over its netns dir (nothing of it reaches the host's mount
namespace), and a podnet-pause-shaped sleeper of the user in a pid namespace two levels
below ours (as a fleet host's is), or one level below but not its init (an older holder
sharing a container's pid namespace). ``unshare --kill-child``: when the test kills the
outer unshare, the init of the outer pid namespace dies and with it everything below.
Area: safety_rootless (pnq user); the slirp4netns network is 10.244.7.0/24.
"""
from __future__ import annotations

import os
import pwd
import shlex
import subprocess
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import pidtree
import pnq_env as E
import rootless_user as R
from podnet_testlib import wait_for
from unprivileged import USER_PYTHON

CIDR = "10.244.7.0/24"
HOLDER_TAG = "podnet-pause"  # _userns.HOLDER_TAG: the shape find_holders looks for
SLEEPER = "import time\ntime.sleep(3600)\n"


def _status_nspid(pid: object) -> List[int]:
    return pidtree.nspid(pid) or []


def _below_us(uid: int, match: Callable[[List[str]], bool]) -> List[int]:
    """Processes of uid in pid namespaces below ours whose argv matches."""
    level = len(_status_nspid("self"))
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = [a.decode() for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if len(_status_nspid(int(entry))) > level and match(argv):
            found.append(int(entry))
    return found


def _foreign_candidates(uid: int) -> List[int]:
    """Foreign processes shaped like a holder (what find_holders looks at)."""
    return _below_us(uid, lambda argv: argv[-1:] == [HOLDER_TAG] and "-c" in argv)


def _foreign_slirps(uid: int, netns: str) -> List[int]:
    """Foreign processes that look like a slirp4netns serving netns (what the modules'
    search for their slirp4netns looks at)."""
    return _below_us(uid, lambda argv: bool(argv) and os.path.basename(argv[0]) == "slirp4netns"
                     and netns in argv)


def _start_time(pid: int) -> Optional[str]:
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


@contextmanager
def foreign_processes(quser: Any, variant: str) -> Iterator[Dict[str, int]]:
    """A foreign podnet-pause of quser's uid with quser's netns dir mounted in its (own)
    mount namespace, and beside it (in its pid namespace) foreign slirp4netns of the
    rootless CNI netns and of a container's (a python named slirp4netns, the command line
    the modules look for); yields their pids and start times. Killed (the whole pid
    namespace tree, the mounts with it) afterwards, on failure too."""
    q = shlex.quote
    runtime, netns_dir = quser.runtime, os.path.join(quser.runtime, "netns")
    as_user = "setpriv --reuid=%d --regid=%d --clear-groups --" % (quser.uid, quser.gid)
    holder = "%s %s -I -S -c %s %s" % (as_user, USER_PYTHON, q(SLEEPER), HOLDER_TAG)
    slirp = "%s %s -I -S -c %s --configure --mtu=65520 %s tap0" % (
        as_user, q(runtime + "/slirp4netns"), q(SLEEPER), q(netns_dir + "/rootless-cni-ns"))
    container = "%s %s -I -S -c %s --configure %s tap0" % (
        as_user, q(runtime + "/slirp4netns"), q(SLEEPER), q(netns_dir + "/pnhc1"))
    slirp += " & " + container
    # in the outer pid namespace (its init is sh, root): the runtime dir and its netns dir
    # on tmpfs, private to this mount namespace
    owner = "%d:%d" % (quser.uid, quser.gid)
    script = ("mount -t tmpfs -o mode=0700 pnhrun {r} && chown {o} {r} && mkdir {n} && "
              "mount -t tmpfs -o mode=0700 pnhnetns {n} && chown {o} {n} && "
              "ln -s {py} {r}/slirp4netns && ").format(r=q(runtime), n=q(netns_dir), o=owner,
                                                       py=q(USER_PYTHON))
    if variant == "grandchild-init":  # the holder: pid 1 two levels below ours
        script += "exec unshare --pid --fork --kill-child -- sh -c %s" % q(
            "%s & exec %s" % (slirp, holder))
    else:  # the holder: not the init one level below ours (sh stays that)
        script += "{ %s & %s & wait; }" % (slirp, holder)
    # the outer unshare stays in our mount namespace (as a container's runtime does): the
    # foreign mounts are only in the foreign pid namespaces
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--", "unshare",
                             "--mount", "--propagation", "private", "--", "sh", "-c", script],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cni_netns = E.rootless_paths(quser)["cni_ns"]
    try:
        wait_for(lambda: (_foreign_candidates(quser.uid) and _foreign_slirps(quser.uid, cni_netns)
                          and _foreign_slirps(quser.uid, netns_dir + "/pnhc1"))
                 or proc.poll() is not None)
        assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
        (pid,) = _foreign_candidates(quser.uid)
        (slirp_pid,) = _foreign_slirps(quser.uid, cni_netns)
        (container_slirp,) = _foreign_slirps(quser.uid, netns_dir + "/pnhc1")
        depth = {"grandchild-init": 3, "child-not-init": 2}[variant]
        nspid = _status_nspid(pid)
        assert len(nspid) == depth and (nspid[-1] == 1) == (depth == 3), nspid
        assert len(_status_nspid(slirp_pid)) == depth
        with open("/proc/%d/mountinfo" % pid) as f:
            assert any(line.split()[4] == netns_dir for line in f), "the netns dir is not mounted"
        with open("/proc/self/mountinfo") as f:
            assert not any(line.split()[4] in (runtime, netns_dir) for line in f), \
                "the foreign mounts reached the host"
        yield {"pid": pid, "start": int(_start_time(pid) or 0),
               "slirp_pid": slirp_pid, "slirp_start": int(_start_time(slirp_pid) or 0),
               "container_slirp": container_slirp,
               "container_slirp_start": int(_start_time(container_slirp) or 0)}
    finally:
        proc.kill()  # --kill-child: the outer init dies, and every process below it
        proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]
        wait_for(lambda: not _foreign_candidates(quser.uid)
                 and not _foreign_slirps(quser.uid, cni_netns)
                 and not _foreign_slirps(quser.uid, netns_dir + "/pnhc1"))


@pytest.fixture(params=["grandchild-init", "child-not-init"])
def foreign_holder(request, quser) -> Iterator[Dict[str, int]]:
    with foreign_processes(quser, request.param) as foreign:
        yield foreign


def _alive(foreign: Dict[str, int]) -> bool:
    """The foreign holder and both foreign slirp4netns still run."""
    return all(_start_time(foreign[name]) == str(foreign[start]) for name, start in
               (("pid", "start"), ("slirp_pid", "slirp_start"),
                ("container_slirp", "container_slirp_start")))


def test_a_foreign_holder_of_the_same_uid_is_not_ours(quser, foreign_holder):
    paths = E.rootless_paths(quser)
    assert not os.path.lexists(paths["pid"])
    try:
        res = quser.direct("rootless_cni_ns", {"cidr": CIDR})
        assert res.get("failed") is not True, res
        assert res["changed"] is True and res["slirp4netns_pid"], res
        ours = quser.holder_pid()
        assert ours != foreign_holder["pid"]
        assert _status_nspid(ours)[-1:] == [1] and len(_status_nspid(ours)) == 2
        assert _alive(foreign_holder), "the module stopped the foreign holder or slirp4netns"
        again = quser.direct("rootless_cni_ns", {"cidr": CIDR})
        assert again["changed"] is False, again
        # the tests' own scan by uid sees our holder and slirp4netns, not the foreign one
        seen = {p["pid"] for p in quser.processes()}
        assert ours in seen and res["slirp4netns_pid"] in seen, seen
        assert foreign_holder["pid"] not in seen and foreign_holder["slirp_pid"] not in seen, seen
        gone = quser.direct("rootless_cni_ns", {"state": "absent"})
        assert gone["changed"] is True, gone
        assert "stop_holder" in [a["action"] for a in gone["actions"]], gone
        assert quser.processes() == [], "absent left processes of ours"
        assert _alive(foreign_holder), "absent stopped the foreign holder or slirp4netns"
        # force: every slirp4netns of the user's namespaces, and the holder
        assert quser.direct("rootless_cni_ns", {"cidr": CIDR})["changed"] is True
        forced = quser.direct("rootless_cni_ns", {"state": "absent", "force": True})
        assert forced["changed"] is True, forced
        assert quser.processes() == [], "absent force=true left processes of ours"
        assert _alive(foreign_holder), "absent force=true stopped a foreign process"
    finally:
        quser.direct("rootless_cni_ns", {"state": "absent", "force": True})


def test_the_cleanup_by_uid_leaves_a_foreign_process_alone(quser, foreign_holder):
    """What the tests kill by uid (the user's removal, the integration target's and the
    rootless molecule scenario's safety nets) is what runs in our pid namespace tree."""
    mine = quser.spawn_as_user(["sleep", "600"])
    try:
        assert wait_for(lambda: mine.pid in pidtree.user_pids(quser.uid))
        assert foreign_holder["pid"] not in pidtree.user_pids(quser.uid)
        assert quser.mounts() == [], "a mount of the foreign mount namespace counted"
        killed = pidtree.kill_user_processes(quser.uid)
        assert mine.pid in killed and foreign_holder["pid"] not in killed, killed
        assert mine.wait(timeout=10) == -9
        assert _alive(foreign_holder), "the cleanup by uid killed the foreign process"
    finally:
        if mine.poll() is None:
            mine.kill()
            mine.wait()


def test_removing_the_user_leaves_a_foreign_process_alone(fresh_user):
    """The user's removal (the fixtures', the leftover guard's) kills ours only, and removes
    the user although a foreign process of its uid still runs (userdel refuses a user with
    a running process unless forced; the foreign one is another machine's user)."""
    with foreign_processes(fresh_user, "grandchild-init") as foreign:
        mine = fresh_user.spawn_as_user(["sleep", "600"])
        try:
            R.remove_user(fresh_user.name)
            assert mine.wait(timeout=10) == -9
            with pytest.raises(KeyError):
                pwd.getpwnam(fresh_user.name)
            assert _alive(foreign), "removing the user killed the foreign process"
        finally:
            if mine.poll() is None:
                mine.kill()
                mine.wait()
