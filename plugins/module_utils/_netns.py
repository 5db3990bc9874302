# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named network namespaces: create, pin, inspect, remove, list, enter.

A named namespace is an nsfs bind mount on a file in a run dir (/run/netns as root,
like ``ip netns``). Everything here is plain syscalls: no exec, no pyroute2.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import socket
import struct
from typing import Any, Callable, Dict, List

from ansible_collections.podnet.cni.plugins.module_utils import _syscalls as sc
from ansible_collections.podnet.cni.plugins.module_utils._errors import NetnsError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._procs import run_in_child

DEFAULT_RUN_DIR = "/run/netns"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_MAX = 200


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > NAME_MAX or name in (".", ".."):
        raise ValidationError("invalid netns name %r: use letters, digits, '_', '.', '-' "
                              "(not starting with a symbol, at most %d chars)" % (name, NAME_MAX),
                              value=name)
    return name


def resolve(name_or_path: str, run_dir: str = DEFAULT_RUN_DIR) -> str:
    """Path of a namespace given as a name (in run_dir) or an absolute path.

    A path must be absolute and normalised (no '..', no '//'), and its last
    component must not be a symlink; its directory may be reached through one
    (/var/run -> /run), which is resolved.
    """
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ValidationError("invalid netns %r: empty" % (name_or_path,), value=name_or_path)
    if "/" not in name_or_path:
        return os.path.join(run_dir, validate_name(name_or_path))
    path = name_or_path
    if not path.startswith("/") or ".." in path.split("/") or os.path.normpath(path) != path:
        raise ValidationError("invalid netns path %r: it must be absolute and normalised, "
                              "without '..'" % path, value=path)
    if os.path.islink(path):
        raise ValidationError("invalid netns path %r: it is a symlink" % path, value=path)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def is_netns(path: str) -> bool:
    """True when path is a live network namespace (an nsfs mount or /proc/PID/ns/net)."""
    try:
        return sc.fs_type(path) == sc.NSFS_MAGIC
    except OSError:
        return False


def status(path: str) -> str:
    """'mounted', 'stale' (a file that is not an nsfs mount) or 'absent'."""
    if is_netns(path):
        return "mounted"
    if os.path.lexists(path):
        return "stale"
    return "absent"


def _ensure_run_dir(run_dir: str) -> None:
    """Create run_dir and make it a shared mount, as ``ip netns add`` does, so
    namespace mounts made here propagate to mount namespaces created later."""
    os.makedirs(run_dir, mode=0o755, exist_ok=True)
    try:
        sc.mount("", run_dir, "none", sc.MS_SHARED | sc.MS_REC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        sc.mount(run_dir, run_dir, "none", sc.MS_BIND | sc.MS_REC)
        sc.mount("", run_dir, "none", sc.MS_SHARED | sc.MS_REC)


def _is_shared_mount(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[4] == path:
                    return any(opt.startswith("shared:") for opt in fields[6:fields.index("-")])
    except OSError:
        pass
    return False


def _touch(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)


def _bind_new_netns(path: str) -> None:
    sc.unshare(sc.CLONE_NEWNET)
    sc.mount("/proc/self/ns/net", path, "none", sc.MS_BIND)


def create(path: str, shared_run_dir: bool = True) -> None:
    """Create a fresh network namespace pinned at path (which must not exist)."""
    run_dir = os.path.dirname(path)
    try:
        if shared_run_dir and not _is_shared_mount(run_dir):
            _ensure_run_dir(run_dir)
        else:
            os.makedirs(run_dir, mode=0o755, exist_ok=True)
        _touch(path)
    except OSError as exc:
        raise NetnsError("cannot create netns %s: %s" % (path, exc.strerror or exc), path=path)
    try:
        run_in_child(_bind_new_netns, path)
    except BaseException as exc:
        _unlink_quiet(path)
        raise NetnsError("cannot create netns %s: %s" % (path, exc), path=path)


def pin(pid: int, path: str) -> None:
    """Bind-mount /proc/PID/ns/net at path (podman's post-configure pinning)."""
    source = "/proc/%d/ns/net" % pid
    if not os.path.exists(source):
        raise NetnsError("cannot pin the netns of pid %d: no such process" % pid, pid=pid)
    run_dir = os.path.dirname(path)
    try:
        if not _is_shared_mount(run_dir):
            _ensure_run_dir(run_dir)
        _touch(path)
    except OSError as exc:
        raise NetnsError("cannot pin netns at %s: %s" % (path, exc.strerror or exc), path=path)
    try:
        sc.mount(source, path, "none", sc.MS_BIND)
    except OSError as exc:
        _unlink_quiet(path)
        raise NetnsError("cannot pin the netns of pid %d at %s: %s" % (pid, path, exc.strerror),
                         path=path)


def same_netns(path_a: str, path_b: str) -> bool:
    try:
        a, b = os.stat(path_a), os.stat(path_b)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove(path: str) -> bool:
    """Detach-unmount and unlink path. True when something was removed."""
    existed = os.path.lexists(path)
    try:
        sc.umount2(path, sc.MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise NetnsError("cannot unmount netns %s: %s" % (path, exc.strerror), path=path)
    try:
        _unlink_quiet(path)
    except OSError as exc:
        raise NetnsError("cannot remove netns file %s: %s" % (path, exc.strerror), path=path)
    return existed


def list_netns(run_dir: str = DEFAULT_RUN_DIR) -> List[Dict[str, Any]]:
    """Every file of run_dir with its status (mounted or stale)."""
    try:
        names = sorted(os.listdir(run_dir))
    except FileNotFoundError:
        return []
    return [{"name": n, "path": os.path.join(run_dir, n), "status": status(os.path.join(run_dir, n))}
            for n in names]


def _enter(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, sc.CLONE_NEWNET)
    finally:
        os.close(fd)


def run_in_netns(path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run fn inside the network namespace at path, in a forked child."""
    def prepare() -> None:
        try:
            _enter(path)
        except OSError as exc:
            raise NetnsError("cannot enter netns %s: %s" % (path, exc.strerror), path=path)
    return run_in_child(fn, *args, prepare=prepare, **kwargs)


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def set_link_up(ifname: str = "lo") -> bool:
    """Bring ifname up in the current netns with one ioctl. True when it was down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", ifname.encode(), 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        if flags & IFF_UP:
            return False
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", ifname.encode(), flags | IFF_UP))
        return True


SIOCGIFINDEX = 0x8933


def link_exists(path: str, ifname: str) -> bool:
    """Whether ifname exists in the namespace at path, without forking (a DEL asks this
    each time): a socket opened while this thread is briefly in that namespace stays
    bound to it. On any doubt (no permission, odd name) the answer is True; NetnsError
    if this thread could not return to its own namespace."""
    try:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(target, sc.CLONE_NEWNET)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            finally:
                try:
                    sc.setns(own, sc.CLONE_NEWNET)
                except OSError as exc:  # never go on in the wrong namespace
                    raise NetnsError("cannot return to our own netns: %s" % exc.strerror)
        finally:
            os.close(target)
        with sock:
            fcntl.ioctl(sock.fileno(), SIOCGIFINDEX, struct.pack("16si", ifname.encode(), 0))
        return True
    except OSError as exc:
        return exc.errno != errno.ENODEV
    except (ValueError, struct.error):
        return True
    finally:
        os.close(own)


def bring_lo_up(path: str) -> bool:
    """Bring the loopback up in the namespace at path (the bridge plugin does not)."""
    return run_in_netns(path, set_link_up, "lo")


def link_names(path: str) -> List[str]:
    """Interface names inside the namespace at path (from /sys of that netns is not
    reachable without a mount, so ask the kernel: socket.if_nameindex in the child)."""
    return run_in_netns(path, lambda: [pair[1] for pair in socket.if_nameindex()])
