# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes: run a callable in a forked child, start a daemon with a ready fd,
identify a process safely before signalling it."""
from __future__ import annotations

import os
import pickle
import signal
import time
import traceback
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from ansible_collections.podnet.cni.plugins.module_utils import _syscalls as sc
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
    The child dies with its parent (SIGKILL on the parent's death): a module killed
    while its child runs CNI plugins leaves nothing going on.
    """
    rfd, wfd = os.pipe()
    parent = os.getpid()
    sc.libc()  # loaded before the fork: the child only calls it
    pid = os.fork()
    if pid == 0:  # child
        os.close(rfd)
        status = 0
        try:
            try:
                sc.set_parent_death_signal(signal.SIGKILL)
            except OSError:
                pass
            if os.getppid() != parent:  # the parent died before that
                os._exit(1)
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


def identity_from_dict(data: Any) -> Optional[ProcessIdentity]:
    """A ProcessIdentity stored as {pid, start_time, cmdline} in a state file (no uid:
    it reads differently inside and outside a user namespace)."""
    if not isinstance(data, dict):
        return None
    try:
        return ProcessIdentity(int(data["pid"]), -1, int(data["start_time"]),
                               [str(a) for a in data["cmdline"]])
    except (KeyError, TypeError, ValueError):
        return None


def identity_to_dict(ident: ProcessIdentity) -> Dict[str, Any]:
    return {"pid": ident.pid, "start_time": ident.start_time, "cmdline": ident.cmdline}


def own_processes() -> Iterator[ProcessIdentity]:
    """Live processes of this user (uid in the current view), zombies excluded."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    uid = os.geteuid()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue
        except OSError:
            continue
        ident = process_identity(int(entry))
        if ident is not None and ident.uid == uid:
            yield ident


def nspid(pid: Union[int, str]) -> Optional[List[int]]:
    """The NSpid line of /proc/PID/status: the process's pid in each pid namespace from the
    one /proc shows down to its own ([] on a kernel without that line, before 4.1); None
    when the process is gone."""
    try:
        with open("/proc/%s/status" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except (OSError, ValueError):
        return None
    return []


def ns_or_child_init(mine: Optional[Sequence[int]], theirs: Optional[Sequence[int]]) -> bool:
    """Whether a process with NSpid ``theirs`` runs in our pid namespace (our NSpid:
    ``mine``) or is the init (pid 1) of a pid namespace one level below ours.

    By NSpid rather than the NS_GET_PARENT ioctl on /proc/PID/ns/pid: NSpid is readable
    by anyone, the ioctl needs ptrace access to the process (to open its ns file) and Linux
    4.9, and only NSpid says whether the process is its namespace's init (an older holder
    in a container whose pid namespace is a child of ours passes the ioctl's test). Both
    lists start at /proc's pid namespace, which is ours (the modules signal the pids /proc
    shows): one entry more is one level below. A process we cannot place (no NSpid line)
    passes: a holder wrongly counted stops the run, one wrongly skipped gets a second
    holder beside it."""
    if theirs is None:
        return False  # gone
    if not mine or not theirs:
        return True
    return len(theirs) == len(mine) or (len(theirs) == len(mine) + 1 and theirs[-1] == 1)


def here_or_child_init(pid: int) -> bool:
    """pid runs in our pid namespace, or is the init of one made from ours (ns_or_child_init)."""
    return ns_or_child_init(nspid("self"), nspid(pid))


def here_or_in_pid_ns_of(pid: int, other: Optional[int]) -> bool:
    """pid runs in our pid namespace, or in the one of process ``other`` (the holder: what
    the modules start there, slirp4netns). A user of our uid in a privileged container on
    this host runs processes with the same command lines in pid namespaces of its own:
    they are not ours. By NSpid (ns_or_child_init says why), then, one level below, by the
    identity of the two pid namespaces; a process whose namespace cannot be read is not
    ours (never signalled on a guess), one without an NSpid line (Linux < 4.1) is."""
    mine, theirs = nspid("self"), nspid(pid)
    if theirs is None:
        return False
    if not mine or not theirs or len(theirs) == len(mine):
        return True
    if other is None or len(theirs) != len(mine) + 1:
        return False
    try:
        a, b = os.stat("/proc/%d/ns/pid" % pid), os.stat("/proc/%d/ns/pid" % other)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def is_ours(stored: Optional[ProcessIdentity]) -> bool:
    """The recorded pid is still that process (start time, cmdline) and runs as this user.

    The uid is compared with ours in the current view: a process of the user reads as
    uid 0 from inside the holder's user namespace and as the user from outside.
    """
    if stored is None or stored.pid <= 1:
        return False
    now = process_identity(stored.pid)
    return (now is not None and now.uid == os.geteuid() and now.start_time == stored.start_time
            and now.cmdline == stored.cmdline)


def is_same_process(expected: ProcessIdentity) -> bool:
    """True when expected.pid is still the very process recorded (not a reused pid)."""
    now = process_identity(expected.pid)
    return (now is not None and now.uid == expected.uid
            and now.start_time == expected.start_time and now.cmdline == expected.cmdline)


def start_daemon(argv_for_fd: Callable[[Optional[int]], List[str]], use_ready_fd: bool = True,
                 preexec: Optional[Callable[[], None]] = None, log_path: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, timeout: float = 10.0,
                 on_spawn: Optional[Callable[[int], None]] = None,
                 what: str = "daemon", unshare_flags: int = 0,
                 pid_ns: Optional[str] = None) -> ProcessIdentity:
    """Start a detached daemon (double fork, own session) and wait until it is ready.

    ``argv_for_fd(fd)`` builds the argv given the number of the ready fd the daemon
    writes to once it is ready (None without ``use_ready_fd``: then the daemon counts as
    ready once exec succeeded). ``preexec`` runs in the daemon right before exec (for
    namespace setup); ``on_spawn(pid)`` runs in the caller after the fork and before the
    daemon execs, so it can e.g. write the daemon's uid_map while preexec waits for it.
    stdout/stderr go to log_path; on failure the daemon is killed and the log tail is
    the error. The daemon is not our child: it is reparented to the init of its pid
    namespace (the rootless holder reaps what is started from its namespaces).
    ``unshare_flags`` are unshared by the intermediate child before it forks the daemon
    (CLONE_NEWPID makes the daemon the init of a new pid namespace); with ``pid_ns`` (a
    /proc/PID/ns/pid path) the daemon is started in that pid namespace instead, and its
    init reaps it. Only the daemon goes there: the caller's other children stay in the
    caller's pid namespace (CNI plugins find their /proc/PID paths by their own pid). The
    daemon reports its own pid as /proc (the host) sees it.
    """
    ready_r = ready_w = None
    if use_ready_fd:
        ready_r, ready_w = os.pipe()
    info_r, info_w = os.pipe()  # O_CLOEXEC: the daemon's copy closes on exec
    argv = argv_for_fd(ready_w)
    environ = dict(os.environ if env is None else env)
    first = os.fork()
    if first == 0:  # intermediate child
        code = 127
        try:
            os.close(info_r)
            if ready_r is not None:
                os.close(ready_r)
            os.setsid()
            try:
                if unshare_flags:
                    sc.unshare(unshare_flags)
                if pid_ns:
                    fd = os.open(pid_ns, os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        sc.setns(fd, sc.CLONE_NEWPID)
                    finally:
                        os.close(fd)
                    # an orphan goes to the reaper of its dead parent's pid namespace: so the
                    # parent of the daemon must live in pid_ns too (one more fork)
                    inner = os.fork()
                    if inner:
                        code = os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1])
                        os._exit(code if code >= 0 else 127)
            except OSError as exc:
                os.write(info_w, ("err %s\n" % exc).encode())
                os._exit(127)
            pid = os.fork()
            if pid:
                code = 0
            else:  # the daemon
                try:
                    os.write(info_w, b"pid %d\n" % _host_pid())
                    null = os.open(os.devnull, os.O_RDWR)
                    os.dup2(null, 0)
                    if log_path:
                        out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                                      | os.O_NOFOLLOW, 0o600)
                    else:
                        out = null
                    os.dup2(out, 1)
                    os.dup2(out, 2)
                    if preexec is not None:
                        preexec()
                    if ready_w is not None:
                        os.set_inheritable(ready_w, True)
                    os.execve(argv[0], argv, environ)
                except BaseException as exc:
                    try:
                        os.write(info_w, ("err %s: %s\n" % (type(exc).__name__, exc)).encode())
                    finally:
                        os._exit(127)
        finally:
            os._exit(code)
    os.close(info_w)
    if ready_w is not None:
        os.close(ready_w)
    pid = 0
    try:
        os.waitpid(first, 0)
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(info_r, 1)
            if not chunk:
                break
            line += chunk
        if line.startswith(b"pid "):
            pid = int(line[4:])
        if pid and on_spawn is not None:
            on_spawn(pid)
        rest = _read_all(info_r).decode("utf-8", "replace").strip()
        if not pid:
            rest = (line.decode("utf-8", "replace").strip() + " " + rest).strip()
        if not pid or rest.startswith("err "):
            raise ChildFailure("cannot start %s %s: %s" % (what, argv[0], rest[4:] or "fork failed"))
        if ready_r is not None:
            _wait_ready(ready_r, pid, timeout, what, log_path)
    except BaseException:
        if pid:
            _kill_quiet(pid)
        raise
    finally:
        os.close(info_r)
        if ready_r is not None:
            os.close(ready_r)
    ident = process_identity(pid)
    if ident is None:
        raise ChildFailure("%s exited right after it was ready%s" % (what, _log_tail(log_path)))
    return ident


def _host_pid() -> int:
    """This process's pid in the pid namespace of /proc (the host's), whatever pid
    namespace the process itself is in."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return os.getpid()


def _wait_ready(fd: int, pid: int, timeout: float, what: str, log_path: Optional[str]) -> None:
    import select
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ChildFailure("%s (pid %d) was not ready within %.0fs%s"
                               % (what, pid, timeout, _log_tail(log_path)))
        readable = select.select([fd], [], [], left)[0]
        if not readable:
            continue
        data = os.read(fd, 64)
        if not data:
            raise ChildFailure("%s (pid %d) exited before it was ready%s"
                               % (what, pid, _log_tail(log_path)))
        if b"1" in data:
            return


def _log_tail(log_path: Optional[str], limit: int = 2000) -> str:
    if not log_path:
        return ""
    try:
        with open(log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return ": %s" % text[-limit:] if text else ""


def _kill_quiet(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def terminate(ident: ProcessIdentity, timeout: float = 5.0,
              same: Optional[Callable[[ProcessIdentity], bool]] = None) -> bool:
    """SIGTERM (then SIGKILL after timeout) the process, only if it still is ``ident``.

    ``same`` decides identity (default: is_same_process). Returns True when it was
    ours and is gone now, False when the pid is not that process (left alone).
    """
    check = same or is_same_process
    if not check(ident):
        return False
    try:
        os.kill(ident.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    delay = 0.002
    while time.monotonic() < deadline:
        now = process_identity(ident.pid)
        if now is None or now.start_time != ident.start_time:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    if check(ident):
        _kill_quiet(ident.pid)
    return True
