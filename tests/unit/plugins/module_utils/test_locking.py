# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_locking.file_lock, the one lock-file implementation (container, network, host ports,
rootless with ``survive_unlink``, host-local's own lock with ``private_dir=False``)."""
from __future__ import annotations

import os
import threading

import pytest

from ansible_collections.podnet.cni.plugins.module_utils._errors import LockError
from ansible_collections.podnet.cni.plugins.module_utils._locking import file_lock


def test_a_held_lock_times_out_naming_the_lock(tmp_path):
    path = str(tmp_path / "locks" / "x.lock")
    with file_lock(path):
        with pytest.raises(LockError) as info:
            with file_lock(path, timeout=0.05, what="the rootless lock"):
                pass
    assert "waiting for the rootless lock %s" % path in str(info.value)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"


def test_shared_locks_share(tmp_path):
    path = str(tmp_path / "s.lock")
    with file_lock(path, shared=True):
        with file_lock(path, shared=True, timeout=0.05):
            pass


def test_a_symlink_is_never_a_lock(tmp_path):
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "l.lock"))
    with pytest.raises(LockError, match="cannot open lock file"):
        with file_lock(str(tmp_path / "l.lock")):
            pass
    assert not os.path.exists(str(tmp_path / "elsewhere"))


def test_a_directory_of_another_program_is_left_as_it_is(tmp_path):
    directory = tmp_path / "host-local"
    directory.mkdir(mode=0o755)
    os.chmod(str(directory), 0o755)
    with file_lock(str(directory / "lock"), timeout=None, private_dir=False):
        pass
    assert oct(os.stat(str(directory)).st_mode & 0o777) == "0o755"


def test_survive_unlink_locks_the_file_the_path_names_after_a_teardown(tmp_path):
    path = str(tmp_path / "r.lock")
    got = {}
    waiting = threading.Event()

    def waiter():
        waiting.set()
        with file_lock(path, timeout=10, survive_unlink=True):
            got["ino"] = os.stat(path).st_ino

    with file_lock(path, survive_unlink=True):
        old = os.stat(path).st_ino
        thread = threading.Thread(target=waiter)
        thread.start()
        waiting.wait()
        os.unlink(path)  # the teardown removes the lock file while holding it
    thread.join(10)
    assert got["ino"] == os.stat(path).st_ino  # the live file, not the removed one
    assert os.path.exists(path) and old is not None
