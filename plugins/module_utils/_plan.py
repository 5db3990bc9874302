# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one shape of every module's logic: a ``Plan`` (ordered actions, a before/after
diff, ``changed``) and ``ModuleLogic``, the steps the shared runner
(``_common.run``) drives: options → request → plan → execute (or, in check mode, only
a prediction from the plan) → result.

Foundation layer: every planner (domain, operations, module logic) builds on it, and
the runner above them drives it without knowing any module.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ContextManager, Dict, List

from ansible_collections.podnet.cni.plugins.module_utils._diff import DifferenceTracker


class Plan:
    """What a run will do: ``actions`` (dicts, in the order they run: ``{"action": NAME,
    ...}``), the ``diff`` (a DifferenceTracker: what each named thing is before and
    after) and ``changed``. Planners subclass it to carry what their execution needs
    (specs, a record, per-entry plans); a subclass whose diff is one document rather than
    named parts (a file's content) overrides ``get_before_after``."""

    def __init__(self) -> None:
        self.actions: List[Dict[str, Any]] = []
        self.diff = DifferenceTracker()
        self.request: Any = None  # what it was planned from, when execute needs it

    def add(self, action: str, **kw: Any) -> Dict[str, Any]:
        """Append one action (``{"action": action, **kw}``) and return it."""
        item: Dict[str, Any] = {"action": action}
        item.update(kw)
        self.actions.append(item)
        return item

    @property
    def changed(self) -> bool:
        return bool(self.actions) or self.diff.has_difference

    def get_before_after(self) -> Any:
        """The module's ``diff`` (Ansible's --diff): ``{"before": {...}, "after": {...}}``;
        None when the module shows none."""
        return self.diff.get_before_after()


class ModuleLogic:
    """One module's logic, as ``_common.run`` drives it (every step but ``plan`` and
    ``execute`` has a default):

    1. ``options(module)``: the module's parameters checked and shaped before anything is
       read (a missing option fails here, before the context is built);
    2. ``request(ctx, options)``: validated against the context, before the session;
    3. inside ``session(ctx, check_mode)`` (rootless: the user's namespaces):
       check mode: ``plan`` then ``predict`` (read-only: what execute would report);
       a real run: within ``guard(ctx, request)`` (the locks held from planning to the
       end), ``plan`` then ``execute``;
    4. after the session: ``result(ctx, plan, outcome, check_mode)``, the module's return
       (a ``msg`` in it fails the task with all of it); the runner adds the plan's diff.
    """

    def options(self, module: Any) -> Any:
        return module.params

    def request(self, ctx: Any, options: Any) -> Any:
        return options

    def session(self, ctx: Any, check_mode: bool) -> ContextManager[Any]:
        return ctx.session(check_mode=check_mode)

    def guard(self, ctx: Any, request: Any) -> ContextManager[Any]:
        return nullcontext()

    def plan(self, ctx: Any, request: Any) -> Plan:
        raise NotImplementedError

    def predict(self, ctx: Any, plan: Plan) -> Any:
        return None

    def execute(self, ctx: Any, plan: Plan) -> Any:
        raise NotImplementedError

    def result(self, ctx: Any, plan: Plan, outcome: Any, check_mode: bool) -> Dict[str, Any]:
        return dict(outcome or {})
