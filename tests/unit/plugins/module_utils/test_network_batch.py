# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_network_batch: a batch of networks applied one after the other (tests/functional/batch
runs batches against the real host)."""
from __future__ import annotations

from ansible_collections.podnet.cni.plugins.module_utils import _network, _network_batch
from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError


def test_a_network_batch_plans_again_after_an_entry_failed(monkeypatch):
    """Each entry was planned as if the ones before it were done (overlaps, free subnets,
    bridge names): after a failed one the rest are planned again against the disk, and
    one that no longer plans is not applied. (A failing write is injected: the
    orchestration is what is tested.)"""
    applied, replanned = [], []

    def apply(plan, run_command):
        applied.append(plan)
        if plan == "first":
            raise PodnetError("cannot remove bridge br-first")
        return ["wrote " + plan]

    def replan(item):
        replanned.append(item.label)
        if item.label == "b":
            raise PodnetError("subnet 10.1.0.0/24 overlaps network a")
        item.plan = "third, again"
    monkeypatch.setattr(_network, "apply", apply)
    items = [_network_batch.NetworkItem(i, {"name": n}, "/nonexistent") for i, n in enumerate(("a", "b", "c"))]
    for item, plan in zip(items, ("first", "second", "third")):
        item.plan = plan
    _network_batch.apply_all(items, run_command=None, replan=replan)
    assert replanned == ["b", "c"] and applied == ["first", "third, again"]
    assert [i.error for i in items] == [
        "cannot remove bridge br-first",
        "not applied: subnet 10.1.0.0/24 overlaps network a (planned again after an earlier entry failed)",
        None]
    assert items[2].actions == ["wrote third, again"]
