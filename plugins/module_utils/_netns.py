# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Over 450 lines: every operation on named namespaces shares the run-dir mount and the rules for entering one from a thread or a fork.
"""Named network namespaces: create, pin, inspect, remove, list, enter.

A named namespace is an nsfs bind mount on a file in a run dir (/run/netns as root,
like ``ip netns``). Everything here is plain syscalls: no exec, no pyroute2.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import socket
import stat
import struct
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

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


# a live process's namespace link, used as given (never created, unmounted or removed)
PROC_LINK_RE = re.compile(r"^/proc/([0-9]+|self|thread-self)/ns/net$")
# the default name of a container's namespace: podnet-<id> for ids of up to 64 characters
# (podman's length); longer ids keep 64 and add a hash, so the name is longer than any
# short id's (71 characters) and no two ids share one
DEFAULT_PREFIX = "podnet-"
DEFAULT_ID_CHARS = 64


def default_name(container_id: str) -> str:
    """The namespace name derived from a container id; never the same for two ids."""
    if len(container_id) <= DEFAULT_ID_CHARS:
        return DEFAULT_PREFIX + container_id
    digest = hashlib.sha256(container_id.encode()).hexdigest()[:32]
    return "%s%s.%s" % (DEFAULT_PREFIX, container_id[:DEFAULT_ID_CHARS], digest)


def legacy_default_name(container_id: str) -> str:
    """The name releases before 0.2 derived (the first 64 characters only)."""
    return DEFAULT_PREFIX + container_id[:DEFAULT_ID_CHARS]


def is_proc_link(path: str) -> bool:
    """True for /proc/PID/ns/net (and /proc/self|thread-self/ns/net)."""
    return isinstance(path, str) and bool(PROC_LINK_RE.match(path))


def resolve(name_or_path: str, run_dir: str = DEFAULT_RUN_DIR) -> str:
    """Path of a namespace given as a name (in run_dir) or an absolute path.

    A path must be absolute and normalised (no '..', no '//'), and its last
    component must not be a symlink; its directory may be reached through one
    (/var/run -> /run), which is resolved. ``/proc/PID/ns/net`` is the exception: a
    live process's namespace, kept as given (see ``is_proc_link``).
    """
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ValidationError("invalid netns %r: empty" % (name_or_path,), value=name_or_path)
    if "/" not in name_or_path:
        return os.path.join(run_dir, validate_name(name_or_path))
    path = name_or_path
    if not path.startswith("/") or ".." in path.split("/") or os.path.normpath(path) != path:
        raise ValidationError("invalid netns path %r: it must be absolute and normalised, "
                              "without '..'" % path, value=path)
    if is_proc_link(path):
        return path
    if os.path.islink(path):
        raise ValidationError("invalid netns path %r: it is a symlink" % path, value=path)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def ident(path: str) -> Optional[Tuple[int, int]]:
    """(device, inode) of the namespace at path (a /proc link is followed), else None."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def own_namespaces() -> Dict[Tuple[int, int], str]:
    """The namespaces that are never a container's: this process's (and thread's) own
    and PID 1's (the host's; unreadable to an unprivileged user, who has its own)."""
    found: Dict[Tuple[int, int], str] = {}
    for path, what in (("/proc/thread-self/ns/net", "the module's own network namespace"),
                       ("/proc/self/ns/net", "the module's own network namespace"),
                       ("/proc/1/ns/net", "the host's network namespace (PID 1's)")):
        key = ident(path)
        if key is not None and is_netns(path):
            found.setdefault(key, what)
    return found


def not_removable(path: str, run_dir: str) -> Optional[str]:
    """Why path must not be unmounted or removed by us, or None when it may: only a
    direct entry of run_dir that is an nsfs mount, or an empty regular file of ours (the
    mount point a create or pin makes first, left empty by a run killed in between)."""
    if not isinstance(path, str) or not path.startswith("/"):
        return "it is not an absolute path"
    if is_proc_link(path):
        return "it is a process's namespace link, not a namespace we made"
    if os.path.dirname(path) != os.path.realpath(run_dir):
        return "it is outside %s, where this module makes namespaces" % os.path.realpath(run_dir)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return "it cannot be inspected: %s" % exc.strerror
    if stat.S_ISLNK(st.st_mode):
        return "it is a symlink"
    if is_netns(path):
        return None
    if not stat.S_ISREG(st.st_mode):
        return "it is not a network namespace (not even a regular file)"
    if st.st_size != 0:
        return "it is not a network namespace but a file with data"
    if st.st_uid != os.geteuid():
        return "it is not a network namespace but an empty file of uid %d" % st.st_uid
    return None


def is_netns(path: str) -> bool:
    """True when path is a live network namespace (an nsfs mount or /proc/PID/ns/net)."""
    try:
        return sc.fs_type(path) == sc.NSFS_MAGIC
    except OSError:
        return False


def status(path: str) -> str:
    """'mounted', 'stale' (a file that is not an nsfs mount) or 'absent'. A /proc link
    is 'mounted' while its process lives (and may be entered), else 'absent'; a symlink
    is never a namespace of ours ('stale')."""
    if is_proc_link(path):
        return "mounted" if is_netns(path) else "absent"
    if os.path.islink(path):
        return "stale"
    if is_netns(path):
        return "mounted"
    if os.path.lexists(path):
        return "stale"
    return "absent"


class StatusMemo:
    """The status of namespaces, asked once per path for a whole run (many attachments
    share a netns). ``status_of`` is how the caller's context asks (a rootless context
    answers from inside the holder); an empty path is 'absent'."""

    def __init__(self, status_of: Optional[Callable[[str], str]] = None) -> None:
        self._status_of = status_of or status  # (the module's function: this class has a status too)
        self._seen: Dict[str, str] = {}

    def status(self, path: str) -> str:
        if not path:
            return "absent"
        if path not in self._seen:
            self._seen[path] = self._status_of(path)
        return self._seen[path]

    def alive(self, path: str) -> bool:
        return self.status(path) == "mounted"


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


_SHARED_RUN_DIRS: Set[str] = set()  # seen shared once: stays shared (no re-read per create)


def _is_shared_mount(path: str) -> bool:
    if path in _SHARED_RUN_DIRS:
        return True
    if _read_shared_mount(path):
        _SHARED_RUN_DIRS.add(path)
        return True
    return False


def _read_shared_mount(path: str) -> bool:
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


@contextmanager
def thread_in_netns(path: Optional[str]) -> Iterator[None]:
    """This thread alone inside the namespace at path (a fresh one when None) for the
    with-block, and back in its own after it: what a forked child does, without the fork
    (a module with worker threads forks slowly). Only where the process may enter its own
    namespace again: root in the initial user namespace, not a rootless process that
    joined its holder. NetnsError when it cannot return: never go on in the wrong one."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if path is None:
            sc.unshare(sc.CLONE_NEWNET)
        else:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(target, sc.CLONE_NEWNET)
            finally:
                os.close(target)
        try:
            yield
        finally:
            try:
                sc.setns(own, sc.CLONE_NEWNET)
            except OSError as exc:
                raise NetnsError("cannot return to our own netns: %s" % exc.strerror)
    finally:
        os.close(own)


def _bind_new_netns_here(path: str) -> None:
    with thread_in_netns(None):
        sc.mount("/proc/thread-self/ns/net", path, "none", sc.MS_BIND)


def create(path: str, shared_run_dir: bool = True, in_thread: bool = False) -> None:
    """Create a fresh network namespace pinned at path (which must not exist);
    ``in_thread``: in this thread (``thread_in_netns``) rather than a forked child."""
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
        if in_thread:
            _bind_new_netns_here(path)
        else:
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


def set_link_up(ifname: str = "lo", sock: Optional[socket.socket] = None) -> bool:
    """Bring ifname up in the current netns (or the one ``sock`` was opened in) with one
    ioctl. True when it was down."""
    with sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", ifname.encode(), 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        if flags & IFF_UP:
            return False
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", ifname.encode(), flags | IFF_UP))
        return True


SIOCGIFINDEX = 0x8933


def _has_link(ifname: str, sock: Optional[socket.socket] = None) -> bool:
    """Whether ifname exists in the current netns (or the one ``sock`` was opened in)."""
    with sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCGIFINDEX, struct.pack("16si", ifname.encode(), 0))
    return True


def link_exists(path: str, ifname: str, doubt: bool = True, in_thread: bool = True) -> bool:
    """Whether ifname exists in the namespace at path. ``in_thread`` (a DEL asks this each
    time): without a fork, through a socket opened while this thread is briefly in that
    namespace; not for a rootless process that joined its holder's user namespace (it
    could not come back to the host's netns): a forked child then. On any doubt (no
    permission, odd name) the answer is ``doubt``; NetnsError if this thread could not
    return to its own namespace."""
    try:
        if not in_thread:
            try:
                return bool(run_in_netns(path, _has_link, ifname))
            except NetnsError:  # cannot enter it: a doubt, as a failed setns below
                return doubt
        with thread_in_netns(path):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        return _has_link(ifname, sock)
    except OSError as exc:
        return doubt if exc.errno != errno.ENODEV else False
    except (ValueError, struct.error):
        return doubt


def bring_lo_up(path: str, in_thread: bool = False) -> bool:
    """Bring the loopback up in the namespace at path (the bridge plugin does not);
    ``in_thread``: through a socket this thread opens there, without a fork."""
    if not in_thread:
        return run_in_netns(path, set_link_up, "lo")
    with thread_in_netns(path):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return set_link_up("lo", sock)


def link_names(path: str) -> List[str]:
    """Interface names inside the namespace at path (from /sys of that netns is not
    reachable without a mount, so ask the kernel: socket.if_nameindex in the child)."""
    return run_in_netns(path, lambda: [pair[1] for pair in socket.if_nameindex()])


SIOCGIFHWADDR = 0x8927
SIOCSIFHWADDR = 0x8924
ARPHRD_ETHER = 1


def repair_zero_mac(ifname: str) -> bool:
    """In the current netns: give ifname a random locally administered MAC if its MAC is
    all zeros. True when repaired.

    The bridge plugin sets a new bridge's MAC to itself only at the end of its first ADD.
    If that ADD stops before (killed, or failed and rolled back), the bridge keeps the
    MAC of its first port, and when that port goes the MAC becomes zero: every later ADD
    then fails with "could not set bridge's mac: invalid argument"
    (containernetworking/plugins#620). A random MAC is what a new bridge gets anyway."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            req = struct.pack("16sH14s", ifname.encode(), 0, b"")
            family, data = struct.unpack("16sH14s", fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, req))[1:]
            if family != ARPHRD_ETHER or any(data[:6]):
                return False
            mac = bytearray(os.urandom(6))
            mac[0] = (mac[0] & 0xFE) | 0x02  # unicast, locally administered
            fcntl.ioctl(s.fileno(), SIOCSIFHWADDR,
                        struct.pack("16sH14s", ifname.encode(), ARPHRD_ETHER, bytes(mac)))
            return True
    except (OSError, ValueError, struct.error):
        return False
