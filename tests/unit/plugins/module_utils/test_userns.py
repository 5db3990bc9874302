# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_userns: the pure logic of the user namespace's id maps (sub-id ranges, newuidmap
arguments)."""
from __future__ import annotations

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _userns


@pytest.mark.parametrize("content,user,uid,expected", [
    ("alice:100000:65536\nbob:165536:65536\n", "alice", 1000, [(100000, 65536)]),
    ("1000:100000:65536\n", "alice", 1000, [(100000, 65536)]),
    ("alice:100000:1000\nalice:300000:2000\n", "alice", 1000, [(100000, 1000), (300000, 2000)]),
    ("bob:1:2\nbroken\nalice:x:1\nalice:5:0\n", "alice", 1000, []),
])
def test_subid_ranges(tmp_path, content, user, uid, expected):
    path = tmp_path / "subuid"
    path.write_text(content)
    assert _userns.subid_ranges(str(path), user, uid) == expected


def test_map_args_root_then_subids():
    assert _userns.map_args(1000, [(100000, 1000), (300000, 2000)]) == \
        ["0", "1000", "1", "1", "100000", "1000", "1001", "300000", "2000"]
