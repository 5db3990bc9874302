# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_fsutil: the names of a state directory (the cache, intent and reservation scans)."""
from __future__ import annotations

from ansible_collections.podnet.cni.plugins.module_utils import _fsutil


def test_list_names_sorted_and_none_for_a_missing_dir_or_a_file(tmp_path):
    for name in ("b", "a.json", "c"):
        (tmp_path / name).write_text("")
    assert _fsutil.list_names(str(tmp_path)) == ["a.json", "b", "c"]
    assert _fsutil.list_names(str(tmp_path / "missing")) == []
    assert _fsutil.list_names(str(tmp_path / "b")) == []  # a file, not a directory
