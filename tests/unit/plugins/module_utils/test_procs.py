# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_procs.start_daemon and terminate with real short-lived processes (sh, sleep):
ready fd, exit before ready (the log is the error), deadline, exec failure, and never
signalling a pid that is not the recorded process."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _procs


def _gone(pid: int) -> bool:
    ident = _procs.process_identity(pid)
    return ident is None


def _wait_gone(pid: int) -> bool:
    for _attempt in range(200):
        if _gone(pid):
            return True
        time.sleep(0.01)
    return False


def test_ready_then_terminate(tmp_path):
    log = str(tmp_path / "d.log")
    code = "import os, sys, time\nos.write(int(sys.argv[1]), b'1')\ntime.sleep(30)"
    ident = _procs.start_daemon(lambda fd: [sys.executable, "-c", code, str(fd)],
                                log_path=log, timeout=10)
    try:
        assert ident.cmdline[:2] == [sys.executable, "-c"]
        assert os.getsid(ident.pid) != os.getsid(0)  # detached: a session of its own
        assert _procs.terminate(ident) is True
        assert _wait_gone(ident.pid)
    finally:
        _procs._kill_quiet(ident.pid)


def test_exit_before_ready_reports_the_log(tmp_path):
    log = str(tmp_path / "d.log")
    with pytest.raises(_procs.ChildFailure) as info:
        _procs.start_daemon(lambda fd: ["/bin/sh", "-c", "echo cannot open /dev/net/tun >&2; exit 1"],
                            log_path=log, timeout=10, what="slirp4netns")
    assert "exited before it was ready" in str(info.value)
    assert "cannot open /dev/net/tun" in str(info.value)


def test_deadline_kills_the_daemon(tmp_path):
    log = str(tmp_path / "d.log")
    marker = "podnet-test-%d" % os.getpid()
    with pytest.raises(_procs.ChildFailure) as info:
        _procs.start_daemon(lambda fd: ["/bin/sh", "-c", "exec sleep 30 # %s" % marker],
                            log_path=log, timeout=0.3)
    assert "not ready within" in str(info.value)
    # nothing with our marker is left running
    out = subprocess.run(["ps", "-eo", "stat,args"], stdout=subprocess.PIPE, check=False).stdout.decode()
    assert not [l for l in out.splitlines() if marker in l and not l.startswith("Z")]


def test_exec_failure(tmp_path):
    with pytest.raises(_procs.ChildFailure) as info:
        _procs.start_daemon(lambda fd: [str(tmp_path / "no-such-binary")], timeout=5)
    assert "no-such-binary" in str(info.value)


def test_no_ready_fd_means_ready_after_exec():
    ident = _procs.start_daemon(lambda fd: ["/bin/sleep", "30"], use_ready_fd=False)
    try:
        assert ident.cmdline == ["/bin/sleep", "30"]
    finally:
        _procs.terminate(ident)


def test_preexec_failure_is_reported():
    def boom() -> None:
        raise RuntimeError("unshare: Operation not permitted")
    with pytest.raises(_procs.ChildFailure) as info:
        _procs.start_daemon(lambda fd: ["/bin/sleep", "30"], use_ready_fd=False, preexec=boom)
    assert "Operation not permitted" in str(info.value)


def test_terminate_leaves_another_process_alone():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        real = _procs.process_identity(proc.pid)
        assert real is not None
        fake = _procs.ProcessIdentity(proc.pid, real.uid, real.start_time + 1, real.cmdline)
        assert _procs.terminate(fake) is False
        assert proc.poll() is None
        other = _procs.ProcessIdentity(proc.pid, real.uid, real.start_time, ["slirp4netns"])
        assert _procs.terminate(other) is False
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
