# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_context.read_reservation, the one reader of host-local reservation files (used by the
IP-taken check, intents' rebuilt results and the GC): parsed, and read hardened."""
from __future__ import annotations

import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils._context import read_reservation


@pytest.mark.parametrize("content,expected", [
    (b"abc\r\neth0", ("abc", "eth0")),
    (b"abc\neth1\n", ("abc", "eth1")),
    (b"abc", ("abc", "")),  # host-local < 0.8 wrote no ifname
    (b"", ("", "")),
])
def test_parsed(tmp_path, content, expected):
    path = tmp_path / "10.0.0.2"
    path.write_bytes(content)
    held = read_reservation(str(path))
    assert held is not None and held[:2] == expected
    assert held[2] == os.stat(str(path)).st_mtime


def test_refused_symlink_fifo_directory_missing(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"abc\r\neth0")
    os.symlink(str(target), str(tmp_path / "link"))
    os.mkfifo(str(tmp_path / "fifo"))  # never waited on
    (tmp_path / "dir").mkdir()
    for name in ("link", "fifo", "dir", "missing"):
        assert read_reservation(str(tmp_path / name)) is None, name


def test_size_is_capped(tmp_path):
    path = tmp_path / "10.0.0.3"
    path.write_bytes(b"x" * 100000)
    assert read_reservation(str(path))[0] == "x" * 4096
