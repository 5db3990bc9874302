# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_diff.DifferenceTracker: before/after dicts, copies, difference detection."""
from __future__ import annotations

import pytest

from ansible_collections.podnet.cni.plugins.module_utils._diff import DifferenceTracker


@pytest.mark.parametrize("items,changed,differences", [
    ([], False, []),
    ([("a", 1, 1)], False, []),
    ([("a", 1, 2)], True, ["a"]),
    ([("a", {"x": [1]}, {"x": [1]}), ("b", None, "v")], True, ["b"]),
    ([("a", [], None)], True, ["a"]),
])
def test_tracker(items, changed, differences):
    t = DifferenceTracker()
    for name, before, after in items:
        t.add(name, before, after)
    assert t.has_difference is changed
    assert [d["name"] for d in t.differences()] == differences
    assert t.get_before_after() == {"before": {i[0]: i[1] for i in items},
                                    "after": {i[0]: i[2] for i in items}}


def test_values_are_copied():
    before = {"networks": {"a": {"ips": ["10.220.0.2"]}}}
    t = DifferenceTracker()
    t.add("container", before, before)
    before["networks"]["a"]["ips"].append("10.220.0.3")
    assert t.has_difference is False
    assert t.get_before_after()["before"]["container"] == {"networks": {"a": {"ips": ["10.220.0.2"]}}}
