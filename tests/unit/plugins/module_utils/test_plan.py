# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_plan.Plan: ordered actions as dicts, the diff, changed; ModuleLogic's defaults."""
from __future__ import annotations

import pytest

from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan


def test_actions_are_dicts_in_order():
    p = Plan()
    first = p.add("create_netns", netns="/run/netns/a")
    p.add("attach", network="n", interface="eth0")
    assert first == {"action": "create_netns", "netns": "/run/netns/a"}
    assert p.actions == [first, {"action": "attach", "network": "n", "interface": "eth0"}]


@pytest.mark.parametrize("actions,diff,changed", [
    ([], [], False),
    ([], [("c", {"a": 1}, {"a": 1})], False),
    ([("save_record", {})], [("c", 1, 1)], True),
    ([], [("c", None, {"a": 1})], True),  # a difference alone is a change
])
def test_changed(actions, diff, changed):
    p = Plan()
    for name, kw in actions:
        p.add(name, **kw)
    for name, before, after in diff:
        p.diff.add(name, before, after)
    assert p.changed is changed


def test_get_before_after_is_the_trackers():
    p = Plan()
    p.diff.add("container", {"netns": None}, {"netns": "/run/netns/a"})
    assert p.get_before_after() == {"before": {"container": {"netns": None}},
                                    "after": {"container": {"netns": "/run/netns/a"}}}


def test_a_subclass_carries_its_own_fields_and_diff():
    class FilePlan(Plan):
        def __init__(self, path):
            super().__init__()
            self.path = path

        def get_before_after(self):
            return {"before": {}, "after": {"x": 1}, "before_header": self.path,
                    "after_header": self.path}

    p = FilePlan("/etc/x")
    p.add("write", path=p.path)
    assert p.changed and p.get_before_after()["after_header"] == "/etc/x"


class _Ctx:
    def __init__(self):
        self.sessions = []

    def session(self, check_mode=False):
        self.sessions.append(check_mode)
        from contextlib import nullcontext
        return nullcontext(self)


class _Module:
    params = {"a": 1}


def test_module_logic_defaults():
    logic = ModuleLogic()
    ctx = _Ctx()
    assert logic.options(_Module()) == {"a": 1}
    assert logic.request(ctx, "req") == "req"
    with logic.session(ctx, True):
        pass
    assert ctx.sessions == [True]
    with logic.guard(ctx, "req"):
        pass
    assert logic.predict(ctx, Plan()) is None
    assert logic.result(ctx, Plan(), {"changed": False}, True) == {"changed": False}
    assert logic.result(ctx, Plan(), None, False) == {}
    with pytest.raises(NotImplementedError):
        logic.plan(ctx, "req")
    with pytest.raises(NotImplementedError):
        logic.execute(ctx, Plan())
