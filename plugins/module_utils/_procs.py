# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes: run a callable in a forked child, identify a process safely."""
from __future__ import annotations

import os
import pickle
import traceback
from typing import Any, Callable, List, Optional

from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError


class ChildFailure(PodnetError):
    """An exception in a forked child that could not be sent back as itself."""


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def run_in_child(fn: Callable[..., Any], *args: Any,
                 prepare: Optional[Callable[[], None]] = None, **kwargs: Any) -> Any:
    """Fork, run ``prepare()`` then ``fn(*args, **kwargs)`` in the child, return its result.

    Namespace changes (setns, unshare, mounts) made in the child never leak into the
    caller. The result or the exception comes back pickled through a pipe; the child
    leaves with ``os._exit`` so no atexit handler or buffered output of the parent runs.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(rfd)
        status = 0
        try:
            if prepare is not None:
                prepare()
            payload = (True, fn(*args, **kwargs))
        except BaseException as exc:  # everything goes back to the parent
            status = 1
            try:
                pickle.dumps(exc)
                payload = (False, exc)
            except Exception:
                payload = (False, ChildFailure("%s: %s" % (type(exc).__name__, exc),
                                               traceback=traceback.format_exc()))
        try:
            data = pickle.dumps(payload)
        except Exception as exc:
            data = pickle.dumps((False, ChildFailure("result not picklable: %s" % exc)))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(wfd, view):]
        finally:
            os._exit(status)
    os.close(wfd)
    try:
        data = _read_all(rfd)
    finally:
        os.close(rfd)
        os.waitpid(pid, 0)
    if not data:
        raise ChildFailure("forked child %d died without an answer" % pid)
    ok, value = pickle.loads(data)
    if ok:
        return value
    raise value


class ProcessIdentity:
    """What identifies one process over time: pid, owner uid, start time, cmdline."""

    __slots__ = ("pid", "uid", "start_time", "cmdline")

    def __init__(self, pid: int, uid: int, start_time: int, cmdline: List[str]) -> None:
        self.pid = pid
        self.uid = uid
        self.start_time = start_time
        self.cmdline = cmdline

    def to_dict(self) -> dict:
        return {"pid": self.pid, "uid": self.uid, "start_time": self.start_time,
                "cmdline": self.cmdline}


def process_identity(pid: int) -> Optional[ProcessIdentity]:
    """Read /proc/PID once; None when the process is gone (or a zombie)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read().decode("utf-8", "replace")
        uid = os.stat("/proc/%d" % pid).st_uid
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except (OSError, ValueError):
        return None
    # comm may contain spaces and parentheses: fields start after the last ')'
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return ProcessIdentity(pid, uid, int(fields[19]), cmdline)


def is_same_process(expected: ProcessIdentity) -> bool:
    """True when expected.pid is still the very process recorded (not a reused pid)."""
    now = process_identity(expected.pid)
    return (now is not None and now.uid == expected.uid
            and now.start_time == expected.start_time and now.cmdline == expected.cmdline)
