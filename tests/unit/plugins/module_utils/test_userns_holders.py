# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_userns.find_holders counts only holders of our pid namespace tree: a process of our
pid namespace (an older holder) or the init of a pid namespace one level below ours. A
holder of a user with our uid in a privileged container on this host (its own pid
namespace below the container's) is visible in our /proc but is not ours.

The candidates are faked (own_processes, their mounts and NSpid lines): what is tested is
the filter. The real processes are in tests/functional/safety_rootless/test_foreign_holder.py;
here, with user namespaces an unprivileged ``unshare`` can make, the NSpid reading of real
processes one and two levels below ours."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _procs, _userns

NETNS_DIR = "/run/user/1001/netns"
HOLDER = [sys.executable, "-I", "-S", "-c", _userns.PAUSE_CODE, _userns.HOLDER_TAG]


@pytest.mark.parametrize("mine, theirs, ours", [
    ([40], [41], True),                  # our pid namespace (an older holder)
    ([40], [41, 1], True),               # init of a pid namespace made from ours
    ([40], [41, 2], False),              # one level below, not its init (a container's)
    ([40], [41, 7, 1], False),           # init two levels below (a container's holder)
    ([40, 3], [41, 5], True),            # /proc of an ancestor: lengths shift alike
    ([40, 3], [41, 5, 1], True),
    ([40, 3], [41, 5, 6, 1], False),
    ([40], None, False),                 # gone
    ([40], [], True),                    # no NSpid line (Linux < 4.1): cannot tell, counts
    ([], [41, 7, 1], True),
])
def test_ns_or_child_init(mine, theirs, ours):
    assert _procs.ns_or_child_init(mine, theirs) is ours


def test_find_holders_skips_holders_outside_our_pid_namespace_tree(monkeypatch):
    nspids = {"self": [500], 501: [501], 502: [502, 1], 503: [503, 9, 1], 504: [504, 4]}
    candidates = [_procs.ProcessIdentity(pid, 1001, 1, HOLDER) for pid in (501, 502, 503, 504)]
    monkeypatch.setattr(_procs, "own_processes", lambda: iter(candidates))
    monkeypatch.setattr(_procs, "nspid", nspids.get, raising=False)
    monkeypatch.setattr(_userns, "_mount_points", lambda pid: ["/", NETNS_DIR])
    assert [p.pid for p in _userns.find_holders(NETNS_DIR)] == [501, 502]


SLEEP = [sys.executable, "-c", "import time; time.sleep(60)", "pnh-probe"]
UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child"]


@pytest.mark.parametrize("argv, ours", [
    (UNSHARE + ["--"] + SLEEP, True),                                     # init one level below
    (UNSHARE + ["--", "sh", "-c", "\"$@\" & wait", "sh"] + SLEEP, False),  # pid 2 there
    (UNSHARE + ["--", "unshare", "--pid", "--fork", "--kill-child", "--"] + SLEEP, False),
    (SLEEP, True),                                                        # our pid namespace
])
def test_real_processes(argv, ours):
    """NSpid of real processes: the innermost of ``unshare --user --map-root-user ...``
    (what an unprivileged user can make)."""
    if shutil.which("unshare") is None or not _procs.nspid("self"):
        pytest.skip("needs unshare and NSpid")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        found = []
        while not found and time.monotonic() < deadline and proc.poll() is None:
            found = [p.pid for p in _procs.own_processes()
                     if p.cmdline[:1] == [sys.executable] and p.cmdline[-1:] == ["pnh-probe"]]
            time.sleep(0.02)
        if not found:
            pytest.skip("unshare cannot make a user+pid namespace here")
        assert _procs.here_or_child_init(found[0]) is ours, _procs.nspid(found[0])
    finally:
        proc.kill()  # --kill-child: the namespaces' inits die, and everything below them
        proc.wait()


def test_slirp4netns_in_the_holders_pid_namespace_only():
    """What the modules start in the holder's pid namespace (slirp4netns) is ours; the same
    command line one level below ours in another pid namespace, or two levels below, is
    not (_rootless_netns.find_slirps). Real processes: ``unshare --user --map-root-user``."""
    if shutil.which("unshare") is None or not _procs.nspid("self"):
        pytest.skip("needs unshare and NSpid")
    # sh: init of a pid namespace one level below (the holder's place); in it a probe, and
    # below it one more pid namespace with a probe of its own
    script = "\"$@\" & unshare --pid --fork --kill-child -- \"$@\" & wait"
    proc = subprocess.Popen(UNSHARE + ["--", "sh", "-c", script, "sh"] + SLEEP,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        probes = []
        while len(probes) < 2 and time.monotonic() < deadline and proc.poll() is None:
            probes = sorted((len(_procs.nspid(p.pid) or []), p.pid) for p in _procs.own_processes()
                            if p.cmdline[:1] == [sys.executable] and p.cmdline[-1:] == ["pnh-probe"])
            time.sleep(0.02)
        if len(probes) < 2:
            pytest.skip("unshare cannot make user+pid namespaces here")
        (_d1, near), (_d2, deep) = probes
        init = next(p.pid for p in _procs.own_processes() if p.cmdline[:1] == ["sh"]
                    and (_procs.nspid(p.pid) or [0])[-1] == 1 and p.cmdline[-1:] == ["pnh-probe"])
        assert _procs.here_or_in_pid_ns_of(near, init) is True
        assert _procs.here_or_in_pid_ns_of(near, None) is False
        assert _procs.here_or_in_pid_ns_of(deep, init) is False
        assert _procs.here_or_in_pid_ns_of(os.getpid(), None) is True
    finally:
        proc.kill()
        proc.wait()
