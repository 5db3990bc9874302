# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace names and paths (issue 15, items 2, 3, 7): default names that cannot
collide, /proc links kept as given, what may ever be removed."""
from __future__ import annotations

import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _netns
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError


@pytest.mark.parametrize("cid, name", [
    ("web1", "podnet-web1"),
    ("a" * 64, "podnet-" + "a" * 64),
])
def test_short_ids_keep_their_names(cid, name):
    assert _netns.default_name(cid) == name == _netns.legacy_default_name(cid)


def test_long_ids_sharing_64_characters_get_different_names_longer_than_any_short_ids():
    a, b = "x" * 64 + "a", "x" * 64 + "b"
    names = {_netns.default_name(a), _netns.default_name(b)}
    assert len(names) == 2
    assert all(len(n) > len("podnet-") + 64 for n in names)
    assert all(_netns.validate_name(n) for n in names)
    assert _netns.default_name("y" * 250).startswith("podnet-" + "y" * 64 + ".")
    assert _netns.legacy_default_name(a) == _netns.legacy_default_name(b)  # the old collision


@pytest.mark.parametrize("path", ["/proc/1/ns/net", "/proc/12345/ns/net", "/proc/self/ns/net",
                                  "/proc/thread-self/ns/net"])
def test_proc_links_are_kept_as_given(path):
    assert _netns.is_proc_link(path)
    assert _netns.resolve(path) == path


@pytest.mark.parametrize("path", ["/proc/1/ns/mnt", "/proc/1/ns/net/x", "/proc/x1/ns/net",
                                  "/proc/1/task/1/ns/net", "/run/netns/x", 7, None])
def test_other_paths_are_no_proc_links(path):
    assert not _netns.is_proc_link(path)


def test_a_symlink_is_still_refused(tmp_path):
    link = tmp_path / "ns"
    os.symlink("/proc/self/ns/net", link)
    with pytest.raises(ValidationError, match="symlink"):
        _netns.resolve(str(link))


def test_only_empty_files_of_ours_in_the_run_dir_may_be_removed(tmp_path):
    run_dir = tmp_path / "netns"
    run_dir.mkdir()
    empty = run_dir / "empty"
    empty.write_bytes(b"")
    data = run_dir / "data"
    data.write_bytes(b"precious")
    sub = run_dir / "dir"
    sub.mkdir()
    link = run_dir / "link"
    os.symlink(str(empty), link)
    outside = tmp_path / "outside"
    outside.write_bytes(b"")
    assert _netns.not_removable(str(empty), str(run_dir)) is None
    assert _netns.not_removable(str(run_dir / "missing"), str(run_dir)) is None
    assert "file with data" in _netns.not_removable(str(data), str(run_dir))
    assert "not even a regular file" in _netns.not_removable(str(sub), str(run_dir))
    assert "symlink" in _netns.not_removable(str(link), str(run_dir))
    assert "outside" in _netns.not_removable(str(outside), str(run_dir))
    assert "outside" in _netns.not_removable(str(sub / "deeper"), str(run_dir))
    assert "namespace link" in _netns.not_removable("/proc/1/ns/net", str(run_dir))
    assert "absolute" in _netns.not_removable("relative", str(run_dir))


def test_a_symlink_is_never_a_namespace_of_ours(tmp_path):
    link = tmp_path / "ns"
    os.symlink("/proc/self/ns/net", link)
    assert _netns.status(str(link)) == "stale"
    assert _netns.status("/proc/self/ns/net") == "mounted"
    assert _netns.status("/proc/%d/ns/net" % (2 ** 22 + 9)) == "absent"
