# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``rootless_cni_ns``: declare the rootless CNI namespace (holder, netns, slirp4netns,
resolv.conf, the options every rebuild uses) or tear it down."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _netns
from ansible_collections.podnet.cni.plugins.module_utils import _rootless_state as rstate
from ansible_collections.podnet.cni.plugins.module_utils import _slirp4netns as slirp
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan
from ansible_collections.podnet.cni.plugins.module_utils._rootless_context import RootlessContext


def _view(ctx: RootlessContext, declared: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """What exists now, for the diff."""
    joined = ctx.joined
    netns_up = joined and _netns.status(ctx.layout.cni_netns) == "mounted"
    health, state = ctx.slirp_health() if netns_up else ("dead", ctx.slirp_state())
    try:
        with open(ctx.layout.resolv_conf) as f:
            resolv: Optional[str] = f.read()
    except OSError:
        resolv = None
    return {"holder": joined, "netns": ctx.layout.cni_netns if netns_up else None,
            "slirp4netns": (state or {}).get("options") if health in ("ok", "options") else None,
            "resolv_conf": resolv, "options": declared}


def _saved_options(ctx: RootlessContext) -> Optional[Dict[str, Any]]:
    """The declared options on disk; an unusable file is replaced (said in a warning)."""
    try:
        return ctx.declared_options()
    except RootlessError as exc:
        ctx.warnings.append("the rootless options file %s cannot be used (%s): it is replaced with "
                            "the options of this task" % (ctx.layout.options_file,
                                                          exc.details.get("reason")))
        return {"unusable": exc.details.get("reason")}


class Request:
    """What the task asks for, validated before anything changes: the declared options
    and, for present, the slirp4netns binary, its features and the options it runs with
    (an option it does not support fails here)."""

    def __init__(self, ctx: RootlessContext, params: Dict[str, Any], with_diff: bool = False) -> None:
        self.with_diff = with_diff  # the diff's after is read in the session
        self.state = params.get("state") or "present"
        self.force = bool(params.get("force"))
        self.declared = rstate.declared_options(params)
        self.binary: Optional[str] = None
        self.features: Dict[str, bool] = {}
        self.opts = rstate.slirp_options(self.declared, self.features)
        if self.present:
            self.binary = slirp.find_binary(self.declared["path"])
            self.features = slirp.detect_features(self.binary)
            self.opts = rstate.slirp_options(self.declared, self.features)
            slirp.build_args(self.binary, self.features, self.opts, ctx.layout.cni_netns,
                             ctx.layout.api_socket, 3)

    @property
    def present(self) -> bool:
        return self.state == "present"


class RootlessPlan(Plan):
    """What the task would do (``actions``, in the order it does them) and what exists
    before; ``save_options`` when the declared options differ from those on disk. Its diff
    is the namespace as a whole: ``before``, and what exists after the actions taken
    (``after_view``, read in the session with the result)."""

    def __init__(self, req: Request, saved: Optional[Dict[str, Any]], before: Dict[str, Any],
                 attachments: int) -> None:
        super().__init__()
        self.req = req
        self.saved = saved
        self.before = before
        self.attachments = attachments
        self.after_view: Optional[Dict[str, Any]] = None  # set by the result, in the session

    @property
    def save_options(self) -> bool:
        return self.req.present and self.saved != self.req.declared

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def after(self, ctx: RootlessContext, actions: List[Dict[str, Any]]) -> Dict[str, Any]:
        """What exists after ``actions`` (those taken, or in check mode those planned)."""
        req = self.req
        if req.present:
            return {"holder": True, "netns": ctx.layout.cni_netns, "slirp4netns": req.opts.to_dict(),
                    "resolv_conf": ctx.resolv_conf_text(req.opts), "options": req.declared}
        return {"holder": self.before["holder"] and not any(a["action"] == "stop_holder" for a in actions),
                "netns": None, "slirp4netns": None, "resolv_conf": None, "options": None}

    def get_before_after(self) -> Dict[str, Any]:
        return {"before": self.before, "after": self.after_view}


def plan(ctx: RootlessContext, req: Request) -> RootlessPlan:
    """Inside the session: what exists and what would change (no side effects). absent
    with attachments left and without force fails here."""
    saved = _saved_options(ctx) if req.present else None
    p = RootlessPlan(req, saved, _view(ctx, saved), ctx.attachment_count())
    if req.present:
        p.actions = ctx.plan_cni_ns(req.opts, req.binary)
        if p.save_options:
            p.actions.append({"action": "save_options", "path": ctx.layout.options_file})
    else:
        if p.attachments and not req.force:
            raise RootlessError("the rootless CNI namespace still has %d attachment(s): detach "
                                "them first or set force: true" % p.attachments,
                                attachments=p.attachments)
        p.actions = ctx.teardown(dry_run=True, force=bool(p.attachments))
    return p


def execute(ctx: RootlessContext, p: RootlessPlan) -> List[Dict[str, Any]]:
    """Inside the session: make it so; the actions taken."""
    req = p.req
    if not req.present:
        return ctx.teardown(force=bool(p.attachments))
    actions = ctx.ensure_cni_ns(req.opts, req.binary, req.features)
    if p.save_options:
        rstate.save_options(ctx.layout.options_file, req.declared)
        actions.append({"action": "save_options", "path": ctx.layout.options_file})
    return actions


def _report(ctx: RootlessContext, p: RootlessPlan, actions: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The module's return, read inside the session (the slirp4netns pid, the resolv.conf
    the diff's after holds)."""
    req = p.req
    if not req.present and p.attachments and actions:
        ctx.warnings.append(_forced_warning(ctx, p.attachments, actions))
    present = req.present
    if req.with_diff:
        p.after_view = p.after(ctx, actions)
    return {
        "changed": bool(actions), "actions": actions,
        "netns": ctx.layout.cni_netns if present else None,
        "slirp4netns_pid": ctx.slirp_pid() if present else None,
        "dns": req.opts.net.dns,
        "addresses": req.opts.net.to_dict(),
        "resolv_conf": ctx.layout.resolv_conf if present else None,
        "features": req.features,
        "options": req.declared if present else None,
        "attachments": p.attachments,
        "warnings": ctx.warnings,
    }


class RootlessCniNs(ModuleLogic):
    """rootless_cni_ns: plan, then (outside check mode) make it so.

    present also declares the options: they are saved (0600, validated when read) and
    every later rebuild of the namespace uses them, on demand too."""

    def options(self, module: Any) -> Tuple[Dict[str, Any], bool]:
        return module.params, module._diff

    def request(self, ctx: HostContext, options: Tuple[Dict[str, Any], bool]) -> Request:
        if not isinstance(ctx, RootlessContext):
            raise ValidationError("rootless_cni_ns manages the namespace of an unprivileged user: run it "
                                  "as that user (become_user) and do not set rootless: false")
        return Request(ctx, options[0], options[1])

    def plan(self, ctx: RootlessContext, request: Request) -> RootlessPlan:
        return plan(ctx, request)

    def predict(self, ctx: RootlessContext, plan: RootlessPlan) -> Dict[str, Any]:
        return _report(ctx, plan, plan.actions)

    def execute(self, ctx: RootlessContext, plan: RootlessPlan) -> Dict[str, Any]:
        return _report(ctx, plan, execute(ctx, plan))


LOGIC = RootlessCniNs()


def _forced_warning(ctx: RootlessContext, attachments: int, actions: List[Dict[str, Any]]) -> str:
    gone = [ns for a in actions if a["action"] == "stop_holder" for ns in a.get("namespaces", [])]
    text = ("%d attachment(s) lost their interfaces with the rootless CNI namespace; their libcni "
            "cache entries and IP reservations remain in %s: container_netns state=present builds "
            "such a container again, state=absent (or cni_attachment state=absent) releases it"
            % (attachments, ctx.layout.inner("/var")))
    if gone:
        text += "; the holder was stopped, with the namespaces %s" % ", ".join(gone)
    return text
