# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""No plugin outlives the module run that started it: every plugin this process runs joins
one process group, which a small watchdog kills if this process dies (``PluginGroup``);
a plugin that times out is killed with everything it started (``kill_tree``).
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _procs
from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError


class PluginGroup:
    """One process group for every plugin this process runs, and a watchdog that kills
    that group when this process dies.

    A module killed (SIGKILL, OOM, a lost connection) while a plugin runs must not leave
    the plugin going: it would go on adding rules for an address the next run releases.
    PR_SET_PDEATHSIG would need a full fork per exec (preexec_fn, ~2-4 ms each, measured)
    or a helper exec (setpriv: as much), fires when the *thread* that forked dies (batch
    workers are threads) and spares the plugin's own children (an iptables waiting for
    the xtables lock). Instead each plugin joins this group at exec (setpgid, kept with
    vfork on Python 3.11+), its children inherit it, and a tiny watchdog (``python -I -S``,
    the group's leader; spawning it costs this process ~0.4 ms once) waits on a pipe only
    this process writes: at a normal exit it is told to go; on EOF (this process died) it
    SIGKILLs the whole group. Forked children
    (rootless CNI calls) share the group; they die with this process (run_in_child sets
    their parent-death signal). An interrupted run's intent records the group, so the
    next run can make sure nothing of it is left before undoing its ADD (``stop``)."""

    WATCHDOG = "import os\nif not os.read(0, 1):\n    os.killpg(0, 9)\n"
    _lock = threading.Lock()
    _owner = 0
    _pgid = 0
    _start_time = 0
    _proc: Optional[subprocess.Popen] = None
    _wfd = -1

    @classmethod
    def identity(cls) -> Optional[Dict[str, int]]:
        """{pgid, start_time} of this process's group (the watchdog started on first use);
        None when it cannot be had (the plugins then run unguarded). Thread-safe: batch
        workers ask at once, and a second watchdog would orphan the first's group."""
        with cls._lock:
            pid = os.getpid()
            if cls._pgid and cls._owner != pid:
                return {"pgid": cls._pgid, "start_time": cls._start_time}  # a forked child: share it
            if not (cls._pgid and cls._proc is not None and cls._proc.poll() is None):
                cls._start()
            return {"pgid": cls._pgid, "start_time": cls._start_time} if cls._pgid else None

    @classmethod
    def _start(cls) -> None:
        cls._pgid = 0
        if not sys.executable:
            return
        rfd, wfd = os.pipe()
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", cls.WATCHDOG], stdin=rfd,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    close_fds=True, env={}, **_new_group_kwargs())
        except (OSError, subprocess.SubprocessError):
            os.close(wfd)
            return
        finally:
            os.close(rfd)
        ident = _procs.process_identity(proc.pid)
        if ident is None:  # gone at once: no guard
            os.close(wfd)
            return
        if cls._wfd >= 0 and cls._owner == os.getpid():
            os.close(cls._wfd)
        cls._owner, cls._proc, cls._wfd = os.getpid(), proc, wfd
        cls._pgid, cls._start_time = proc.pid, ident.start_time

    @classmethod
    def release(cls) -> None:
        """At a normal exit: the watchdog leaves without killing anything."""
        if cls._wfd >= 0 and cls._owner == os.getpid():
            try:
                os.write(cls._wfd, b"d")
                os.close(cls._wfd)
            except OSError:
                pass
            cls._wfd = -1

    @classmethod
    def _forget_in_child(cls) -> None:
        # a forked child must not hold the pipe open: the watchdog would never see EOF;
        # the lock may have been held by another thread of the parent
        cls._lock = threading.Lock()
        if cls._wfd >= 0:
            try:
                os.close(cls._wfd)
            except OSError:
                pass
            cls._wfd = -1

    @classmethod
    def popen_kwargs(cls) -> Dict[str, Any]:
        ident = cls.identity()
        if ident is None:
            return {}
        pgid = ident["pgid"]
        if sys.version_info >= (3, 11):
            return {"process_group": pgid}
        return {"preexec_fn": lambda: os.setpgid(0, pgid)}

    @staticmethod
    def members(pgid: int) -> List[int]:
        """Live (not zombie) processes of process group pgid."""
        return [pid for pid, fields in _proc_stats()
                if len(fields) > 2 and fields[0] not in ("Z", "X") and fields[2] == str(pgid)]

    @classmethod
    def stop(cls, group: Any, timeout: float = 10.0) -> None:
        """Make sure no process of a dead run's group is left (kill it, wait until gone).

        group is {pgid, start_time} as ``identity`` gave it. The group is that run's only
        while its number is: the leader (the watchdog) gone, or still the same process.
        PodnetError when processes stay (e.g. stuck in the kernel) past timeout."""
        try:
            pgid, start = int(group["pgid"]), int(group["start_time"])
        except (KeyError, TypeError, ValueError):
            return
        if pgid <= 1 or pgid == os.getpgrp() or pgid == cls._pgid:
            return
        leader = _procs.process_identity(pgid)
        if leader is not None and leader.start_time != start:
            return  # the number was free and is someone else's now: not ours to signal
        deadline = time.monotonic() + timeout
        while True:
            left = cls.members(pgid)
            if not left:
                return
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PodnetError("processes %s of an interrupted run (process group %d) do not "
                                  "go away" % (left, pgid), pgid=pgid)
            time.sleep(0.01)


def _new_group_kwargs() -> Dict[str, Any]:
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=PluginGroup._forget_in_child)  # pylint: disable=protected-access
atexit.register(PluginGroup.release)


def _proc_stats() -> Iterator[Tuple[int, List[str]]]:
    """(pid, the fields of /proc/PID/stat after the command name) of every process."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        yield int(name), stat[stat.rfind(")") + 2:].split()


def _descendants(pid: int) -> List[int]:
    """Every process below pid (from /proc/*/stat), children before grandchildren."""
    parents: Dict[int, List[int]] = {}
    for child, fields in _proc_stats():
        if len(fields) > 1 and fields[1].isdigit():
            parents.setdefault(int(fields[1]), []).append(child)
    out: List[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(0), []):
            if child not in out:
                out.append(child)
                todo.append(child)
    return out


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a timed-out plugin and what it started (an iptables stuck on the xtables
    lock, a child holding its stdout), then reap the plugin."""
    for pid in [proc.pid] + _descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()
