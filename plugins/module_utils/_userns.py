# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rootless holder: a pause process that owns the user's user, mount and pid
namespaces. It is started mapped by its parent (uid 0 → the user; the full sub-id ranges via
newuidmap/newgidmap when configured, root only otherwise) with the netns dir made rshared
inside, found by what it is rather than by a pid file, and joined (setns user, then mnt:
the joining process must be single-threaded).
"""
from __future__ import annotations

import os
import pwd
import select
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _procs
from ansible_collections.podnet.cni.plugins.module_utils import _syscalls as sc
from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import write_json

HOLDER_TAG = "podnet-pause"
# The holder is the init of a pid namespace of its own: whatever the modules start from
# there (slirp4netns, dnsmasq) is reparented to it when its starter exits, and reaped at
# once (SIGCHLD ignored: the kernel reaps). It waits for a stop signal, race-free.
PAUSE_CODE = ("import signal\n"
              "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
              "stop = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}\n"
              "signal.pthread_sigmask(signal.SIG_BLOCK, stop)\n"
              "signal.sigwaitinfo(stop)\n")


def in_initial_userns() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            first = f.readline().split()
    except OSError:
        return True
    return first[:3] == ["0", "0", "4294967295"]


def overflow_uid() -> int:
    try:
        with open("/proc/sys/kernel/overflowuid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 65534


def _mount_points(pid: int) -> List[str]:
    try:
        with open("/proc/%d/mountinfo" % pid, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    return [line.split()[4] for line in lines if len(line.split()) > 4]


def find_holders(netns_dir: str) -> List[_procs.ProcessIdentity]:
    """Holders of this runtime dir that run, found by what they are rather than by the pid
    file: a podnet-pause of this user whose mount namespace has the netns dir mounted, and
    that lives in our pid namespace (an older holder) or is the init of one made from ours.
    A privileged container on this host may run a holder of a user with our uid and our
    runtime dir: it is visible in our /proc but lives deeper (its own pid namespace below
    the container's), and it is not ours."""
    return [p for p in _procs.own_processes()
            if p.cmdline[-1:] == [HOLDER_TAG] and "-c" in p.cmdline
            and _procs.here_or_child_init(p.pid)
            and netns_dir in _mount_points(p.pid)]


def subid_ranges(path: str, user: str, uid: int) -> List[Tuple[int, int]]:
    """(start, count) ranges of /etc/subuid or /etc/subgid for the user."""
    ranges = []
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) != 3 or fields[0] not in (user, str(uid)):
                    continue
                try:
                    start, count = int(fields[1]), int(fields[2])
                except ValueError:
                    continue
                if count > 0:
                    ranges.append((start, count))
    except OSError:
        return []
    return ranges


def map_args(own: int, ranges: Sequence[Tuple[int, int]]) -> List[str]:
    """newuidmap triples: 0 → own id, then the sub-ids from 1 on."""
    args = ["0", str(own), "1"]
    inner = 1
    for start, count in ranges:
        args += [str(inner), str(start), str(count)]
        inner += count
    return args


def id_mapping() -> Dict[str, Any]:
    """How the holder's user namespace is mapped: the full sub-id ranges via
    newuidmap/newgidmap when both are installed and configured, else root only."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/usr/sbin", "/bin", "/sbin"])
    tools = [shutil.which(t, path=search) for t in ("newuidmap", "newgidmap")]
    uranges = subid_ranges("/etc/subuid", user, uid)
    granges = subid_ranges("/etc/subgid", user, uid)
    if all(tools) and uranges and granges:
        return {"mode": "full", "newuidmap": tools[0], "newgidmap": tools[1],
                "uid_args": map_args(uid, uranges), "gid_args": map_args(gid, granges)}
    return {"mode": "root-only", "uid": uid, "gid": gid}


def _write_maps(pid: int, mapping: Dict[str, Any]) -> None:
    if mapping["mode"] == "full":
        for tool, args in ((mapping["newuidmap"], mapping["uid_args"]),
                           (mapping["newgidmap"], mapping["gid_args"])):
            proc = subprocess.run([tool, str(pid)] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, check=False, timeout=30)
            if proc.returncode != 0:
                raise RootlessError("%s failed: %s" % (os.path.basename(tool),
                                                       proc.stdout.decode("utf-8", "replace").strip()))
        return
    try:
        with open("/proc/%d/setgroups" % pid, "w") as f:
            f.write("deny")
        with open("/proc/%d/uid_map" % pid, "w") as f:
            f.write("0 %d 1\n" % mapping["uid"])
        with open("/proc/%d/gid_map" % pid, "w") as f:
            f.write("0 %d 1\n" % mapping["gid"])
    except OSError as exc:
        raise RootlessError("cannot write the uid/gid map of the holder: %s" % exc)


def _make_shared_dir(path: str) -> None:
    """Bind path on itself and make it rshared (netns mounts made there reach every
    mount namespace copied from the holder's later, like ``ip netns`` does)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    sc.mount("", path, None, sc.MS_SHARED | sc.MS_REC)


def start_holder(netns_dir: str, pid_file: str) -> _procs.ProcessIdentity:
    """Start the holder: a pause process in a new user+mount+pid namespace (its init),
    mapped by its parent (the caller) while it waits, with the netns dir made rshared
    inside."""
    mapping = id_mapping()
    sync_r, sync_w = os.pipe()
    go_r, go_w = os.pipe()
    open_fds = {sync_r, sync_w, go_r, go_w}

    def close(fd: int) -> None:
        if fd in open_fds:
            open_fds.discard(fd)
            os.close(fd)

    def preexec() -> None:  # in the holder, before exec (the namespaces exist: see below)
        os.close(sync_r)
        os.close(go_w)
        os.write(sync_w, b"u")
        if os.read(go_r, 1) != b"g":
            raise RootlessError("the parent did not map the user namespace")
        _make_shared_dir(netns_dir)

    def on_spawn(pid: int) -> None:  # in the caller while the holder waits
        close(sync_w)
        close(go_r)
        ready = select.select([sync_r], [], [], 10.0)[0]
        if not ready or os.read(sync_r, 1) != b"u":
            raise RootlessError("the holder did not create its user namespace")
        _write_maps(pid, mapping)
        os.write(go_w, b"g")

    try:
        ident = _procs.start_daemon(
            lambda fd: [sys.executable, "-I", "-S", "-c", PAUSE_CODE, HOLDER_TAG],
            use_ready_fd=False, preexec=preexec, on_spawn=on_spawn, what="rootless holder",
            unshare_flags=sc.CLONE_NEWUSER | sc.CLONE_NEWNS | sc.CLONE_NEWPID)
    except _procs.ChildFailure as exc:
        raise RootlessError(str(exc))
    finally:
        for fd in list(open_fds):
            close(fd)
    try:
        write_json(pid_file, dict(_procs.identity_to_dict(ident), map=mapping["mode"]))
    except BaseException:
        _procs.terminate(ident, same=_procs.is_ours)  # unrecorded, it could never be found again
        raise
    return ident


def same_ns(pid: int, kind: str) -> bool:
    try:
        a = os.stat("/proc/self/ns/%s" % kind)
        b = os.stat("/proc/%d/ns/%s" % (pid, kind))
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def join(pid: int) -> None:
    """setns into the holder's user then mount namespace (the process must be
    single-threaded); re-chdir afterwards (joining a mount ns resets the cwd)."""
    if same_ns(pid, "user") and same_ns(pid, "mnt"):
        return
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = 1
    if threads != 1:
        raise RootlessError("cannot join the rootless namespaces: this process has %d threads "
                            "(join before anything starts threads)" % threads)
    try:
        cwd: Optional[str] = os.getcwd()
    except OSError:
        cwd = None
    fds = []
    try:
        fds = [os.open("/proc/%d/ns/%s" % (pid, kind), os.O_RDONLY | os.O_CLOEXEC)
               for kind in ("user", "mnt")]
        sc.setns(fds[0], sc.CLONE_NEWUSER)
        sc.setns(fds[1], sc.CLONE_NEWNS)
    except OSError as exc:
        raise RootlessError("cannot join the rootless holder (pid %d): %s" % (pid, exc), pid=pid)
    finally:
        for fd in fds:
            os.close(fd)
    try:
        os.chdir(cwd or "/")
    except OSError:
        os.chdir("/")
