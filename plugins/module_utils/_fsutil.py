# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private files and directories: 0700 dirs, 0600 files, atomic writes, no symlinks."""
from __future__ import annotations

import json
import os
import stat
from typing import Any, Optional

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


def read_json(path: str) -> Optional[Any]:
    """JSON content of path, None when absent; a symlink is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError("cannot read %s: %s" % (path, exc.strerror), path=path)
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StateError("corrupt JSON in %s: %s" % (path, exc), path=path)


def write_private(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write data to path atomically (temp file + rename), mode 0600.

    A killed process leaves the old or the new file, never half of one. No fsync:
    the state dirs are on tmpfs and libcni does not sync its cache either.
    """
    directory = os.path.dirname(path)
    ensure_private_dir(directory)
    if os.path.islink(path):
        raise StateError("refusing to write %s: it is a symlink" % path, path=path)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        raise StateError("cannot write %s: %s" % (path, exc.strerror or exc), path=path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise StateError("cannot write %s: %s" % (path, exc.strerror or exc), path=path)
        raise


def write_json(path: str, obj: Any) -> None:
    write_private(path, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def remove_file(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
