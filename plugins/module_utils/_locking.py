# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fcntl lock files, the one implementation: per container, per network (IPAM), the
host-port claims, the rootless lock, and host-local's own lock taken by the GC."""
from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from ansible_collections.podnet.cni.plugins.module_utils._errors import LockError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import ensure_private_dir
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

DEFAULT_TIMEOUT = C.LOCK_TIMEOUT


def _open(path: str, private_dir: bool) -> int:
    if private_dir:
        ensure_private_dir(os.path.dirname(path))
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:  # ELOOP: a symlink planted where the lock goes
        raise LockError("cannot open lock file %s: %s" % (path, exc.strerror), path=path)


def _acquire(fd: int, path: str, mode: int, deadline: Optional[float], timeout: Optional[float],
             what: str) -> None:
    if deadline is None:  # no timeout: wait as long as it takes
        fcntl.flock(fd, mode)
        return
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                raise LockError("timed out after %.0fs waiting for %s %s" % (timeout, what, path),
                                path=path)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


@contextmanager
def file_lock(path: str, timeout: Optional[float] = DEFAULT_TIMEOUT, shared: bool = False,
              private_dir: bool = True, survive_unlink: bool = False,
              what: str = "lock") -> Iterator[None]:
    """Hold an flock on path (created 0600, never through a symlink) for the with-block.

    flock locks die with the process, so a killed module never leaves a lock behind.
    ``private_dir``: the lock's directory is ours (created 0700, refused when it is a
    symlink or another user's); false for a directory of another program (host-local's).
    ``timeout`` None waits as long as it takes. ``survive_unlink``: the file may be removed
    by a holder (a teardown): after locking, the path must still name the locked file, else
    lock again. ``what`` names the lock in the timeout message.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    while True:
        fd = _open(path, private_dir)
        try:
            _acquire(fd, path, mode, deadline, timeout, what)
            if not survive_unlink:
                break
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)
