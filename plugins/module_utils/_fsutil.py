# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private files and directories: 0700 dirs, 0600 files, atomic writes, no symlinks."""
from __future__ import annotations

import errno
import json
import os
import stat
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils._errors import StateError


def ensure_private_dir(path: str, mode: int = 0o700) -> None:
    """Create path (and parents) with mode; refuse a symlink or a dir owned by someone else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = os.path.dirname(path.rstrip("/"))
        if parent and parent != path:
            if not os.path.isdir(parent):
                ensure_private_dir(parent, mode)
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            pass
        except OSError as exc:
            raise denied("cannot create directory", path, exc)
        st = os.lstat(path)
    except OSError as exc:
        raise denied("cannot use directory", path, exc)
    if stat.S_ISLNK(st.st_mode):
        raise StateError("refusing state directory %s: it is a symlink" % path, path=path)
    if not stat.S_ISDIR(st.st_mode):
        raise StateError("refusing state directory %s: not a directory" % path, path=path)
    if st.st_uid != os.geteuid():
        raise StateError("refusing state directory %s: owned by uid %d, not %d"
                         % (path, st.st_uid, os.geteuid()), path=path)


def denied(what: str, path: str, exc: OSError, start: Optional[str] = None) -> StateError:
    """A StateError for an OSError on path that says whose the nearest parent is (a
    directory of another user is the usual cause of "Permission denied")."""
    hint = ""
    parent = os.path.dirname((start or path).rstrip("/"))
    while parent and parent != "/":
        try:
            st = os.stat(parent)
        except OSError:
            parent = os.path.dirname(parent)
            continue
        if st.st_uid != os.geteuid() and not os.access(parent, os.W_OK | os.X_OK):
            hint = " (%s belongs to uid %d, mode %04o: use a directory of your own)" % (
                parent, st.st_uid, stat.S_IMODE(st.st_mode))
        break
    return StateError("%s %s: %s%s" % (what, path, exc.strerror or exc, hint), path=path)


def check_usable_dir(path: Optional[str], what: str = "directory") -> None:
    """StateError when this user cannot read path (a state or cache location), or cannot
    reach where it would be created: said before anything is read or changed, with whose
    directory is in the way, instead of a "Permission denied" from deep inside."""
    if not path:
        return
    probe = path.rstrip("/") or "/"
    while probe != "/" and not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    need = os.R_OK | os.X_OK if probe == (path.rstrip("/") or "/") else os.W_OK | os.X_OK
    if os.path.isdir(probe) and not os.access(probe, need):
        raise denied("cannot use %s" % what, path,
                     PermissionError(13, os.strerror(13)), start=probe + "/x")


def refuse_symlink(path: Optional[str], what: str = "path") -> None:
    """StateError when path (a state or cache location) is a symlink: files written there
    would land wherever the link points."""
    if path and os.path.islink(path.rstrip("/") or "/"):
        raise StateError("refusing %s %s: it is a symlink (give the real directory)" % (what, path),
                         path=path)


# a state or cache file is a few KiB; a larger one is not what we wrote (libcni's entries
# hold a conflist and a result: far below this)
MAX_STATE_FILE = 4 * 1024 * 1024


class Unreadable:
    """A state or cache file that cannot be trusted (corrupt, wrong-typed, foreign, a
    symlink, ...): where it is and why. Never acted upon, always reported."""

    __slots__ = ("path", "reason", "kind")

    def __init__(self, path: str, reason: str, kind: str = "cache") -> None:
        self.path = path
        self.reason = reason
        self.kind = kind

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def may_belong_to(self, container_id: str) -> bool:
        """Whether the file may describe container_id: its name is
        ``<network>-<container id>-<ifname>`` (libcni's, never parsed: names contain '-'),
        so any name holding ``-<id>-`` may. Errs on the side of "may"."""
        return ("-%s-" % container_id) in self.name

    def may_be_of_network(self, network: str) -> bool:
        return self.name.startswith(network + "-")

    def to_dict(self) -> Dict[str, str]:
        return {"path": self.path, "kind": self.kind, "reason": self.reason}

    def __str__(self) -> str:
        return "%s: %s" % (self.path, self.reason)


def unreadable_error(subject: str, items: Sequence[Unreadable]) -> StateError:
    """The error refusing to change subject (e.g. "container web1") because files that may
    describe it cannot be used: names each file and reason, and what to do."""
    many = len(items) > 1
    return StateError(
        "%s is not changed: %s that may describe it cannot be used: %s. podnet.cni never guesses "
        "what such a file held (it may be the only record of a live attachment: its addresses, "
        "its rules and how to undo them). Restore %s, or remove %s once what %s described is "
        "gone (docs/state-and-trust.md says how), then run again"
        % (subject, "%d files" % len(items) if many else "a file",
           "; ".join("%s (%s)" % (i.path, i.reason) for i in items),
           "them" if many else "it", "them" if many else "it", "they" if many else "it"),
        paths=[i.path for i in items], unreadable=[i.to_dict() for i in items])


def _unsafe(path: str, st: os.stat_result, max_size: int) -> Optional[str]:
    """Why the file behind st is not to be read as ours (None: fine)."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a symlink"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != os.geteuid():
        return "owned by uid %d, not %d" % (st.st_uid, os.geteuid())
    if st.st_mode & 0o022:
        return "writable by group or others (mode %04o)" % stat.S_IMODE(st.st_mode)
    if st.st_size > max_size:
        return "too large (%d bytes, at most %d)" % (st.st_size, max_size)
    return None


def read_json(path: str, max_size: int = MAX_STATE_FILE) -> Optional[Any]:
    """JSON content of path, None when absent.

    StateError (naming the path, with the reason in ``reason``) for what is not a file we
    could have written: a symlink, anything but a regular file (a FIFO would block, a
    device have side effects: neither is opened), a file of another user or writable by
    others, one larger than max_size, and content that is not JSON."""
    def refuse(reason: str) -> StateError:
        return StateError("cannot read %s: %s" % (path, reason), path=path, reason=reason)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc))
    reason = _unsafe(path, st, max_size)
    if reason:
        raise refuse(reason)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise refuse("it is a symlink" if exc.errno == errno.ELOOP else exc.strerror or str(exc))
    with os.fdopen(fd, "rb") as f:
        reason = _unsafe(path, os.fstat(fd), max_size)  # replaced meanwhile?
        if reason:
            raise refuse(reason)
        data = f.read(max_size + 1)
    if len(data) > max_size:
        raise refuse("too large (more than %d bytes)" % max_size)
    try:
        return json.loads(data)
    except ValueError as exc:  # UnicodeDecodeError too
        raise StateError("corrupt JSON in %s: %s" % (path, exc), path=path,
                         reason="corrupt JSON: %s" % exc)
    except RecursionError:
        raise refuse("JSON nested too deeply")


def read_head_stat(path: str, limit: int = 4096) -> Optional[Tuple[bytes, os.stat_result]]:
    """The first limit bytes of a regular file (another tool's small file, e.g. a
    host-local reservation) and its stat; None when it is missing or not a regular file (a
    FIFO or a device is not waited on, a symlink not followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a directory too (fdopen would refuse it)
            return None
        return os.read(fd, limit), st
    except OSError:
        return None
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o600, hidden: bool = False) -> None:
    """Write data to path atomically (a temp file beside it, then rename), with mode
    whatever the umask; never through a symlink at the temp name. ``hidden``: the temp
    file is ``.<name>.tmp.<pid>``, made fresh (O_EXCL), so a reader of the directory's
    files (libcni loading ``*.conflist``) never sees it. Raises OSError.

    A killed process leaves the old or the new file, never half of one. No fsync:
    the state dirs are on tmpfs and libcni does not sync its cache either."""
    directory, name = os.path.split(path)
    if hidden:
        tmp = os.path.join(directory, ".%s.tmp.%d" % (name, os.getpid()))
        flags = os.O_EXCL
    else:
        tmp = "%s.tmp.%d" % (path, os.getpid())
        flags = os.O_TRUNC
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_private(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write data to path atomically (``write_atomic``), mode 0600, in a private dir
    (0700, ours), refusing a symlink at path."""
    ensure_private_dir(os.path.dirname(path))
    if os.path.islink(path):
        raise StateError("refusing to write %s: it is a symlink" % path, path=path)
    try:
        write_atomic(path, data, mode)
    except OSError as exc:
        raise StateError("cannot write %s: %s" % (path, exc.strerror or exc), path=path)


def write_json(path: str, obj: Any) -> None:
    write_private(path, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def list_names(directory: str) -> List[str]:
    """The names in directory, sorted; none when it is missing or not a directory."""
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


def remove_file(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
