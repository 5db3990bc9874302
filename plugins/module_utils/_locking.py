# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fcntl lock files: one per container, one per network (IPAM), one for rootless."""
from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from typing import Iterator

from ansible_collections.podnet.cni.plugins.module_utils._errors import LockError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import ensure_private_dir

DEFAULT_TIMEOUT = 120.0


@contextmanager
def file_lock(path: str, timeout: float = DEFAULT_TIMEOUT, shared: bool = False) -> Iterator[None]:
    """Hold an flock on path (created 0600 in a 0700 dir) for the with-block.

    flock locks die with the process, so a killed module never leaves a lock behind.
    """
    ensure_private_dir(os.path.dirname(path))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:  # ELOOP: a symlink planted where the lock goes
        raise LockError("cannot open lock file %s: %s" % (path, exc.strerror), path=path)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LockError("timed out after %.0fs waiting for lock %s" % (timeout, path),
                                    path=path)
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        yield
    finally:
        os.close(fd)
