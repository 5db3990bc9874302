# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_rootless_state: a rootless state file that is not what we wrote is refused with its
name and the reason, before anything acts on it (never opened when it is a FIFO)."""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _rootless_state as rs
from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError

GOOD = {"pid": 4242, "start_time": 123, "cmdline": ["python", "-c", "x", "podnet-pause"], "map": "full"}


def _load(path):
    return rs.load(str(path), rs.holder_problem, "the pid file", "Advice.")


def test_good_and_absent(tmp_path):
    path = tmp_path / "pause.pid"
    assert _load(path) is None
    path.write_text(json.dumps(GOOD))
    os.chmod(path, 0o600)
    assert _load(path) == GOOD


@pytest.mark.parametrize("content,reason", [
    (b"", "corrupt JSON"), (b"\x00\xff{", "corrupt JSON"), (b"[1]", "not a JSON object"),
    (json.dumps(dict(GOOD, pid="1")).encode(), "pid"), (json.dumps(dict(GOOD, pid=1)).encode(), "pid"),
    (json.dumps(dict(GOOD, pid=True)).encode(), "pid"), (json.dumps(dict(GOOD, pid=2 ** 40)).encode(), "pid"),
    (json.dumps(dict(GOOD, start_time=-1)).encode(), "start_time"),
    (json.dumps(dict(GOOD, cmdline="x")).encode(), "cmdline"),
    (json.dumps(dict(GOOD, cmdline=[])).encode(), "cmdline"),
    (json.dumps(dict(GOOD, map=3)).encode(), "map"),
])
def test_bad_content_is_named(tmp_path, content, reason):
    path = tmp_path / "pause.pid"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(RootlessError) as info:
        _load(path)
    assert str(path) in str(info.value) and reason in str(info.value)
    assert "Advice." in str(info.value)


@pytest.mark.parametrize("kind,reason", [
    ("fifo", "not a regular file"), ("dir", "not a regular file"), ("symlink", "symlink"),
    ("open", "writable by group or others"),
])
def test_bad_files_are_named_and_not_opened(tmp_path, kind, reason):
    path = tmp_path / "pause.pid"
    if kind == "fifo":
        os.mkfifo(path, 0o600)  # opening it would block forever
    elif kind == "dir":
        path.mkdir()
    elif kind == "symlink":
        (tmp_path / "elsewhere").write_text(json.dumps(GOOD))
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.write_text(json.dumps(GOOD))
        os.chmod(path, 0o666)
    with pytest.raises(RootlessError) as info:
        _load(path)
    assert str(path) in str(info.value) and reason in str(info.value)


@pytest.mark.parametrize("data,ok", [
    ({"k": {"netns": "/ns", "hostfwds": [["tcp", "0.0.0.0", 8080]]}}, True),
    ({"k": {"netns": "/ns", "hostfwds": [["sctp", "0.0.0.0", 8080]]}}, False),
    ({"k": {"netns": "/ns", "hostfwds": [["tcp", "0.0.0.0", 70000]]}}, False),
    ({"k": {"netns": 3, "hostfwds": []}}, False),
    ({"k": "x"}, False), ([], False),
])
def test_attachments_file(data, ok):
    assert (rs.attachments_problem(data) is None) is ok
