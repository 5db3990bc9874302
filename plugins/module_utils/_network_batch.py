# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many network definitions in one ``cni_network`` task (``networks:``), each with every
guarantee of the single form, on top of ``_network.plan`` and ``_network.apply``.

The entries are planned in order against one view of each config dir in which every
earlier entry is already applied, so a later network is checked against the earlier ones
exactly as a later task would be (subnet overlaps, a bridge named twice, a free subnet
picked for each). Any entry that cannot be planned refuses the batch before anything is
written, naming each. Then the plans are applied in order, under the one lock every
writer of network definitions holds; an entry whose write fails is reported and the
others are done (a file is written atomically or not at all). Check mode stops after
planning.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _network
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import netconf
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    PodnetError, ValidationError, batch_failed_msg, batch_invalid)
from ansible_collections.podnet.cni.plugins.module_utils._locking import file_lock
from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan
from ansible_collections.podnet.cni.plugins.module_utils import _validate

SPEC_KEYS = ("name", "driver", "bridge", "parent", "mode", "subnets", "routes", "internal",
             "mtu", "vlan", "dns_enabled", "dns_domain", "isolate", "hairpin", "cni_version",
             "state", "force")
ENTRY_KEYS = SPEC_KEYS + ("cni_config_dir",)


class NetworkItem:
    """One entry: its spec, its config dir, its plan and what applying it did."""

    def __init__(self, index: int, raw: Dict[str, Any], config_dir: str) -> None:
        self.index = index
        self.raw = raw
        self.config_dir = config_dir
        self.spec: Optional[netconf.NetworkSpec] = None
        self.plan: Optional[_network.NetworkPlan] = None
        self.actions: List[str] = []
        self.error: Optional[str] = None

    @property
    def label(self) -> str:
        return str(self.raw.get("name") or "entry %d" % self.index)


def build(raws: Sequence[Dict[str, Any]], config_dir: str) -> List[NetworkItem]:
    """Validate every entry as the single form does (a name listed twice too); one
    ValidationError naming every problem, before anything is read."""
    items = []
    problems = []
    seen: Dict[str, int] = {}
    for i, raw in enumerate(raws):
        item = NetworkItem(i, dict(raw), raw.get("cni_config_dir") or config_dir)
        items.append(item)
        try:
            unknown = _validate.unknown_keys(raw, ENTRY_KEYS)
            if unknown:
                raise ValidationError(unknown)
            item.spec = netconf.NetworkSpec(**{k: raw[k] for k in SPEC_KEYS if raw.get(k) is not None})
        except (ValidationError, TypeError) as exc:
            problems.append("%s: %s" % (item.label, getattr(exc, "msg", exc)))
            continue
        seen[item.spec.name] = seen.get(item.spec.name, 0) + 1
    problems += ["network %s is listed %d times" % (n, c) for n, c in seen.items() if c > 1]
    if problems:
        raise batch_invalid("networks", problems, len(items))
    return items


class _Views:
    """Each config dir's networks as loaded once, with the batch's earlier entries applied."""

    def __init__(self) -> None:
        self.dirs: Dict[str, Dict[str, cniconf.NetworkConfigList]] = {}
        self.warnings: List[str] = []

    def get(self, config_dir: str) -> Dict[str, cniconf.NetworkConfigList]:
        if config_dir not in self.dirs:
            networks, warnings = cniconf.load_networks(config_dir)
            self.dirs[config_dir] = networks
            self.warnings.extend(warnings)
        return self.dirs[config_dir]

    def apply(self, config_dir: str, plan: _network.NetworkPlan) -> None:
        view = self.dirs[config_dir]
        for name in [n for n, c in view.items() if c.path == plan.path]:
            del view[name]
        if plan.after is not None:
            view[plan.after["name"]] = cniconf.conflist_from_bytes(netconf.render(plan.after), plan.path)


def plan_all(items: Sequence[NetworkItem], plugin_dirs: Sequence[str], cache_dir: str,
             host_links: bool, plugins_pending: bool = False) -> List[str]:
    """Plan every entry in order against the views; returns the warnings. One
    ValidationError naming every entry that cannot be planned (nothing written)."""
    views = _Views()
    problems = []
    for item in items:
        networks = views.get(item.config_dir)
        try:
            item.plan = _network.plan(item.spec, item.config_dir, plugin_dirs, cache_dir, host_links,
                                      networks=networks, plugins_pending=plugins_pending)
        except PodnetError as exc:
            problems.append("%s: %s" % (item.label, exc.msg))
            continue
        views.apply(item.config_dir, item.plan)
    if problems:
        raise batch_invalid("networks", problems, len(items))
    # a skipped file that an entry rewrites or removes is no news (as in the single form)
    ours = tuple("skipped CNI config %s:" % i.plan.path for i in items)
    return [w for w in views.warnings if not w.startswith(ours)]


def apply_all(items: Sequence[NetworkItem], run_command: Callable[..., Tuple[int, str, str]],
              replan: Optional[Callable[[NetworkItem], None]] = None) -> None:
    """Apply in order. Each entry was planned as if the ones before it were done
    (overlaps, the free subnet picked, bridge names): after a failure the rest are planned
    again (``replan``) against what is on disk, and one that cannot be is not applied."""
    earlier_failed = False
    for item in items:
        if earlier_failed and replan is not None:
            try:
                replan(item)
            except PodnetError as exc:
                item.error = "not applied: %s (planned again after an earlier entry failed)" % exc.msg
                continue
        try:
            item.actions = _network.apply(item.plan, run_command)
        except PodnetError as exc:
            item.error = str(exc)
        except OSError as exc:
            item.error = "cannot write %s: %s" % (item.plan.path, exc.strerror or exc)
        earlier_failed = earlier_failed or item.error is not None


def results(items: Sequence[NetworkItem], check_mode: bool, with_diff: bool,
            warnings: Sequence[str]) -> Dict[str, Any]:
    """The module's return: ``networks`` by name (the single form's return, ``failed`` and
    ``msg``; with ``with_diff`` its diff), every action, and ``msg`` naming each failed
    network. (The top-level diff is ``NetworkBatchPlan.get_before_after``.)"""
    networks: Dict[str, Any] = {}
    actions: List[str] = []
    failed: List[Tuple[str, str]] = []
    out_warnings = list(warnings)
    for item in items:
        plan = item.plan
        done = _network.predicted_actions(plan) if check_mode else item.actions
        changed = plan.changed if check_mode or item.error is None else bool(done)
        res: Dict[str, Any] = {"changed": changed, "failed": item.error is not None,
                               "config_path": plan.path, "conflist": plan.after,
                               "network": netconf.conflist_view(plan.after) if plan.after else None,
                               "in_use": plan.in_use, "actions": done}
        if with_diff:
            res["diff"] = plan.get_before_after()
        if item.error is not None:
            res["msg"] = item.error
            failed.append((item.spec.name, item.error))
        networks[item.spec.name] = res
        actions.extend(done)
        out_warnings.extend("%s: %s" % (item.spec.name, w) for w in plan.warnings)
    out: Dict[str, Any] = {"changed": any(r["changed"] for r in networks.values()),
                           "networks": networks, "actions": actions,
                           "failed_networks": len(failed), "warnings": out_warnings}
    if failed:
        out["msg"] = batch_failed_msg("networks", failed, len(items))
    return out


# --- the module: cni_network, one network or a batch ---

class NetworkRequest:
    """The task: one ``spec``, or the batch's entries (``raws``, then ``items``)."""

    def __init__(self, run_command: Callable[..., Tuple[int, str, str]], with_diff: bool,
                 spec: Optional[netconf.NetworkSpec] = None,
                 raws: Optional[List[Dict[str, Any]]] = None) -> None:
        self.run_command = run_command  # the module's (an unused bridge is deleted with it)
        self.with_diff = with_diff
        self.spec = spec
        self.raws = raws
        self.items: List[NetworkItem] = []


class NetworkBatchPlan(Plan):
    """A batch: the entries (each with its ``_network`` plan), their actions in order, the
    config dirs' warnings; its diff is the list of the entries' diffs."""

    def __init__(self, items: Sequence[NetworkItem], warnings: List[str]) -> None:
        super().__init__()
        self.items = list(items)
        self.warnings = warnings
        self.actions = [dict(a, network=i.spec.name) for i in self.items for a in i.plan.actions]

    def get_before_after(self) -> List[Dict[str, Any]]:  # type: ignore[override]
        return [i.plan.get_before_after() for i in self.items]


class CniNetwork(ModuleLogic):
    """cni_network: plan (touches nothing), then write or remove, under the lock every
    writer of network definitions holds (the overlap checks must see the others)."""

    def options(self, module: Any) -> NetworkRequest:
        p = module.params
        if p["networks"] is not None:
            raws = []
            for item in p["networks"]:
                item = {k: v for k, v in item.items() if k in ENTRY_KEYS}
                item["state"] = item.get("state") or p["state"]
                item["force"] = p["force"] if item.get("force") is None else item["force"]
                raws.append(item)
            return NetworkRequest(module.run_command, module._diff, raws=raws)
        if not p["name"]:
            raise ValidationError("missing required arguments: name (or use networks)")
        return NetworkRequest(module.run_command, module._diff, spec=netconf.NetworkSpec(
            p["name"], p["driver"], p["bridge"], p["parent"], p["mode"], p["subnets"], p["routes"],
            p["internal"], p["mtu"], p["vlan"], p["dns_enabled"], p["dns_domain"], p["isolate"],
            p["hairpin"], p["cni_version"], p["state"], p["force"]))

    def request(self, ctx: Any, options: NetworkRequest) -> NetworkRequest:
        if options.raws is not None:
            options.items = build(options.raws, ctx.config_dir)
        return options

    def session(self, ctx: Any, check_mode: bool) -> Any:
        return nullcontext()  # files in the config dir: no namespace to enter

    def guard(self, ctx: Any, request: NetworkRequest) -> Any:
        if request.raws is not None and not request.items:
            return nullcontext()  # an empty batch takes (and makes) no lock
        return file_lock(_network.lock_path(ctx.state_dir))

    def plan(self, ctx: Any, request: NetworkRequest) -> Plan:
        # (pending plugins are predicted in check mode only: ctx.pending is empty otherwise)
        if request.spec is not None:
            p: Plan = _network.plan(request.spec, ctx.config_dir, ctx.plugin_dirs, ctx.cache_dir,
                                    not ctx.rootless, plugins_pending=ctx.pending.plugins)
        elif not request.items:
            p = NetworkBatchPlan([], [])
        else:
            p = NetworkBatchPlan(request.items, plan_all(request.items, ctx.plugin_dirs, ctx.cache_dir,
                                                         not ctx.rootless, ctx.pending.plugins))
        p.request = request
        return p

    def predict(self, ctx: Any, plan: Plan) -> Optional[List[str]]:
        return _network.predicted_actions(plan) if isinstance(plan, _network.NetworkPlan) else None

    def execute(self, ctx: Any, plan: Plan) -> Optional[List[str]]:
        request = plan.request
        if isinstance(plan, _network.NetworkPlan):
            return _network.apply(plan, request.run_command)
        if not plan.items:
            return None

        def replan(item: NetworkItem) -> None:
            item.plan = _network.plan(item.spec, item.config_dir, ctx.plugin_dirs, ctx.cache_dir,
                                      not ctx.rootless, networks=_Views().get(item.config_dir))
        apply_all(plan.items, request.run_command, replan)
        return None

    def result(self, ctx: Any, plan: Plan, outcome: Optional[List[str]], check_mode: bool) -> Dict[str, Any]:
        if isinstance(plan, _network.NetworkPlan):
            return {"changed": plan.changed, "config_path": plan.path, "conflist": plan.after,
                    "network": netconf.conflist_view(plan.after) if plan.after else None,
                    "in_use": plan.in_use, "actions": outcome, "warnings": ctx.warnings + plan.warnings}
        out = results(plan.items, check_mode, plan.request.with_diff, plan.warnings)
        out["warnings"] = ctx.warnings + out["warnings"]
        return out


LOGIC = CniNetwork()
