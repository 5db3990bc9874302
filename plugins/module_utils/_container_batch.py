# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Over 450 lines: one plan for the whole batch (entries validated together, claims across entries, owners before joiners), one execution on workers.
"""Many containers in one ``container_netns`` task (``containers:``), each with every
guarantee of the single form.

Built on the single-container planner and executor (``_container.plan`` and
``_container.execute``), not beside them:

1. Every entry becomes a ``ContainerRequest`` (the single form's validation); then what
   two entries would both claim — a container id, a netns, a pinned pid, a static IP in a
   network, a host port — is refused. All problems are named at once and nothing changes.
2. Every entry is planned against one read of the libcni cache (``CacheView``): no plugin,
   no fork, a few file reads per container, so an idempotent batch costs about one module
   start-up. A planning problem of any entry refuses the batch, nothing changed. Entries
   are planned against the host as it is before the task: an IP or port that an
   ``absent`` entry frees is free only for the next run.
3. Only the containers whose plan changes something run, each through
   ``_container.execute`` (atomic per container: a failure undoes that container's work),
   on at most ``workers`` threads, with the first ADD of each network alone
   (``_concurrency``). Rootless batches run in order (the rootless namespace and its port
   forwards are set up lazily, check-then-create, through one API socket).
4. ``network_mode: container:<id>`` may name another entry that the batch makes present:
   it is planned against that entry's request, and the batch runs in waves, owners
   before their joiners (joiners before their owner when both are removed). A joiner
   whose owner failed is not run and fails naming it. A cycle, or a joiner of an entry
   the batch removes, is refused with the bad input.

Check mode plans exactly as the real run does (same view, same order) and stops there.
The real run holds the lock of every container of the batch from planning to the end,
as the single form holds its container's lock.
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import (
    _attach, _concurrency, _container, _container_request, _state, _validate)
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    PodnetError, ValidationError, batch_failed_msg, batch_invalid)
from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan

ENTRY_KEYS = ("container_id", "name", "netns", "pid", "network_mode", "networks",
              "port_mappings", "static_ip", "static_mac", "state", "slirp4netns_options",
              "purge_networks", "force")
# what a failed container's result carries of its error's details
ERROR_DETAILS = ("plugin", "command", "cni_code", "network", "rollback_errors", "path", "netns")


class Item:
    """One entry of the batch: request, plan, outcome."""

    def __init__(self, index: int, raw: Dict[str, Any]) -> None:
        self.index = index
        self.raw = raw
        self.req: Optional[_container_request.ContainerRequest] = None
        self.plan: Optional[_container.ContainerPlan] = None
        self.error: Optional[str] = None
        self.error_details: Dict[str, Any] = {}
        self.warnings: List[str] = []
        self.before: Any = None  # fingerprint of the container before execution
        self.changed = False  # what its result says (a failed one: judged by the host)

    @property
    def label(self) -> str:
        cid = self.req.container_id if self.req else self.raw.get("container_id")
        return str(cid) if cid else "entry %d" % self.index

    @property
    def changed_plan(self) -> bool:
        return self.plan is not None and self.plan.changed


# --- 1. requests and what entries claim ---

def lock_ids(ctx: HostContext, reqs: Sequence[_container_request.ContainerRequest]) -> List[str]:
    """The containers whose locks a task takes before it plans (sorted): its own; the owner
    of each namespace a container joins (joining reads the owner's namespace and record,
    which the owner's removal must not change meanwhile); and the joiners a forced removal
    forgets (their records go). A joiner that appears after this scan is refused when
    planning (_container._plan_joiners): the task is run again."""
    ids = {r.container_id for r in reqs}
    ids.update(r.joins for r in reqs if r.state == "present" and r.joins)
    forced = {r.container_id for r in reqs if r.state == "absent" and r.force}
    if forced:
        records, dummy = _state.scan(ctx.state_dir)
        ids.update(cid for cid, rec in records.items() if rec.get("joins") in forced)
    return sorted(ids)


def build_requests(ctx: HostContext, raws: Sequence[Dict[str, Any]]) -> List[Item]:
    """Validate every entry as the single form does; raise one ValidationError naming every
    bad entry (and every claim two entries share) before anything is read or changed."""
    items = [Item(i, dict(raw)) for i, raw in enumerate(raws)]
    problems: List[str] = []
    invalid: Set[str] = set()
    for item in items:
        raw = item.raw
        unknown = _validate.unknown_keys(raw, ENTRY_KEYS)
        try:
            if unknown:
                raise ValidationError(unknown)
            item.req = _container_request.ContainerRequest(
                ctx, raw.get("container_id"), raw.get("name"), raw.get("netns"), raw.get("pid"),
                raw.get("network_mode") or C.DEFAULT_NETWORK_MODE, raw.get("networks") or [],
                raw.get("port_mappings") or [], raw.get("static_ip"), raw.get("static_mac"),
                raw.get("state") or C.DEFAULT_STATE, slirp4netns_options=raw.get("slirp4netns_options"),
                purge_networks=bool(raw.get("purge_networks")), force=bool(raw.get("force")))
        except ValidationError as exc:
            problems.append("%s: %s" % (item.label, exc.msg))
            invalid.add(item.label)
    reqs = [i.req for i in items if i.req is not None]
    for owners, text in claim_conflicts(reqs) + join_problems(reqs):
        problems.append(text)
        invalid.update(owners)
    if problems:
        raise batch_invalid("containers", problems, len(items),
                            sum(1 for i in items if i.label in invalid))
    return items


def claim_conflicts(reqs: Sequence[_container_request.ContainerRequest]) -> List[Tuple[List[str], str]]:
    """What two entries of one batch would both own: the container id, the netns, the
    pinned process, a static IP of a network, a host port. (owners, message) per conflict."""
    problems: List[Tuple[List[str], str]] = []
    first: Dict[Tuple[str, Any], str] = {}

    def claim(kind: str, key: Any, owner: str, text: str) -> None:
        other = first.setdefault((kind, key), owner)
        if other != owner:
            problems.append(([other, owner], text % (other, owner)))

    seen_ids: Dict[str, int] = {}
    for req in reqs:
        seen_ids[req.container_id] = seen_ids.get(req.container_id, 0) + 1
    for cid, count in seen_ids.items():
        if count > 1:
            problems.append(([cid], "container %s is listed %d times" % (cid, count)))
    claims = _attach.BatchClaims()
    for req in reqs:
        cid = req.container_id
        if seen_ids[cid] > 1:
            continue
        kind = req.kind if req.state == "present" else req.recorded_kind
        if kind not in _container_request.SHARED_KINDS:  # host, container:, ns: share by design
            claim("netns", req.netns, cid, "netns %s is claimed by both %%s and %%s" % req.netns)
        if req.state != "present":
            continue
        if req.pid is not None:
            claim("pid", req.pid, cid, "the netns of pid %d is claimed by both %%s and %%s" % req.pid)
        try:
            for spec in req.specs([]):
                claims.claim(cid, spec.network, spec.ips, spec.port_mappings)
            if req.network_mode == "slirp4netns":  # host ports forwarded by its slirp4netns
                claims.claim(cid, "", (), req.port_mappings)
        except ValidationError as exc:
            problems.append(([cid] + ([str(exc.details["owner"])] if exc.details.get("owner") else []),
                             exc.msg))
    return problems


def join_problems(reqs: Sequence[_container.ContainerRequest]) -> List[Tuple[List[str], str]]:
    """network_mode container:<id> between entries of one batch: a cycle of joiners, and
    a joiner of a container the same batch removes. (owners, message) per problem."""
    present = {r.container_id: r for r in reqs if r.state == "present"}
    leaving = {r.container_id for r in reqs if r.state == "absent"}
    problems: List[Tuple[List[str], str]] = []
    cycles: Set[frozenset] = set()
    for req in reqs:
        if req.state != "present" or not req.joins:
            continue
        if req.joins in leaving:
            problems.append(([req.container_id, req.joins],
                             "container %s joins the network namespace of container %s, which the "
                             "same task removes" % (req.container_id, req.joins)))
            continue
        path = [req.container_id]
        cur = req
        while cur.joins in present and present[cur.joins].joins:
            nxt = str(cur.joins)
            if nxt in path:
                cycle = path[path.index(nxt):]
                if frozenset(cycle) not in cycles:
                    cycles.add(frozenset(cycle))
                    problems.append((cycle, "containers %s join each other's network namespace in "
                                     "a cycle (%s)" % (", ".join(sorted(cycle)),
                                                       " -> ".join(cycle + [nxt]))))
                break
            path.append(nxt)
            cur = present[nxt]
    return problems


def dependencies(ctx: HostContext, items: Sequence[Item]) -> Dict[int, List[Item]]:
    """Which entries must be done before which (by index): a joiner after the owner the
    same batch makes present; an owner the batch removes after its joiners the batch
    removes (so no ``force`` is needed)."""
    by_id = {i.req.container_id: i for i in items if i.req is not None}
    deps: Dict[int, List[Item]] = {i.index: [] for i in items}
    for item in items:
        req = item.req
        if req is None:
            continue
        if req.state == "present":
            owner = by_id.get(req.joins or "")
            if owner is not None and owner.req.state == "present":
                deps[item.index].append(owner)
            continue
        try:
            joins = (_state.load(ctx.state_dir, req.container_id) or {}).get("joins")
        except PodnetError:  # planning names it
            continue
        owner = by_id.get(joins or "")
        if owner is not None and owner.req.state == "absent":
            deps[owner.index].append(item)
    return deps


def ordered(items: Sequence[Item], deps: Dict[int, List[Item]]) -> List[List[Item]]:
    """The items in waves, each after the waves holding what it depends on (the list's
    order kept within a wave). join_problems refused every cycle before."""
    waves: List[List[Item]] = []
    done: Set[int] = set()
    left = list(items)
    wanted = {i.index for i in items}
    while left:
        wave = [i for i in left if all(d.index in done or d.index not in wanted for d in deps[i.index])]
        if not wave:  # cannot happen after join_problems; never loop forever
            raise ValidationError("containers %s depend on each other" % ", ".join(i.label for i in left))
        waves.append(wave)
        done.update(i.index for i in wave)
        left = [i for i in left if i.index not in done]
    return waves


# --- 2. planning ---

def plan_all(ctx: HostContext, items: Sequence[Item]) -> cnicache.CacheView:
    """Plan every entry against one read of the cache; raise one ValidationError naming
    every entry that cannot be planned (nothing changed)."""
    view = cnicache.CacheView(ctx.cache_dir, [i.req.container_id for i in items if i.req])
    problems = []
    leaving = {i.req.container_id for i in items if i.req and i.req.state == "absent"}
    making = {i.req.container_id: i.req for i in items if i.req and i.req.state == "present"}
    for wave in ordered(items, dependencies(ctx, items)):  # owners before their joiners
        for item in wave:
            try:
                item.plan = _container.plan(ctx, item.req, view, leaving, making)
            except PodnetError as exc:
                problems.append("%s: %s" % (item.label, exc.msg))
    if problems:
        raise batch_invalid("containers", problems, len(items))
    return view


# --- 3. execution ---

def _fingerprint(ctx: HostContext, req: _container_request.ContainerRequest,
                 entries: Sequence[cnicache.CacheEntry]) -> Any:
    """What a failed container's ``changed`` is judged by: its netns and attachments."""
    return (ctx.netns_status(req.netns),
            sorted((e.network, e.ifname, e.netns, json.dumps(e.result, sort_keys=True))
                   for e in entries))


def _execute_one(ctx: HostContext, item: Item, deps: Sequence[Item] = ()) -> None:
    req, plan = item.req, item.plan
    failed = [d for d in deps if d.error is not None]
    if failed:  # its owner (or, removing an owner, a joiner of it) failed: not run
        item.error = "not run: %s" % "; ".join(_why_not_run(item, d) for d in failed)
        return
    try:
        outcome = _container.execute(ctx, req, plan)
        item.warnings.extend(outcome["warnings"])
    except PodnetError as exc:  # execute undid this container's work before raising
        item.error = str(exc)
        item.error_details = {k: v for k, v in exc.details.items() if k in ERROR_DETAILS}
    except Exception as exc:  # a bug: keep it on the entry, never lose the others
        item.error = "unexpected error: %s: %s" % (type(exc).__name__, exc)


def _why_not_run(item: Item, dep: Item) -> str:
    if item.req.state == "present":
        return "container %s, whose network namespace it joins, failed" % dep.label
    return "container %s, which joins its network namespace, failed to be removed" % dep.label


def execute_all(ctx: HostContext, items: Sequence[Item], view: cnicache.CacheView,
                workers: int = _concurrency.DEFAULT_WORKERS) -> None:
    """Run the plans that change something; each container's failure stays on its item.
    Owners run before their joiners (joiners before their owner when both go), a wave
    at a time; an entry whose owner (or joiner) failed is not run and fails naming it.

    The caller holds every container's lock (``_concurrency.container_locks``)."""
    work = [i for i in items if i.changed_plan]
    if not work:
        return
    for item in work:
        item.before = _fingerprint(ctx, item.req, view.container_entries(item.req.container_id))
    ctx.networks()  # load once before threads share the context
    deps = dependencies(ctx, items)
    concurrent = _concurrency.overlaps(ctx, len(work), workers)
    with _concurrency.gated(ctx, concurrent):
        for wave in ordered(work, deps):
            _concurrency.run_static_first(lambda item: _execute_one(ctx, item, deps[item.index]), wave,
                                          _wants_static_ips, workers, concurrent)


def _wants_static_ips(item: Item) -> bool:
    if item.req.state != "present":
        return False
    try:
        return any(spec.ips for spec in item.req.specs([]))
    except PodnetError:  # planned already: cannot happen; order does not matter then
        return False


# --- results ---

def container_result(ctx: HostContext, item: Item, view: cnicache.CacheView, check_mode: bool,
                     with_diff: bool) -> Dict[str, Any]:
    """The single form's return for one container, plus ``failed`` and ``msg``."""
    req, plan = item.req, item.plan
    ran = not check_mode and item.changed_plan
    entries = _container.current_entries(
        ctx, req, None if ran else view.container_entries(req.container_id))
    exists = _container.container_exists(ctx, req)
    changed = plan.changed
    if item.error is not None:
        changed = item.before != _fingerprint(
            ctx, req, cnicache.list_entries(ctx.cache_dir, container_id=req.container_id))
    item.changed = changed
    out: Dict[str, Any] = {"changed": changed, "failed": item.error is not None,
                           "state": req.state, "actions": plan.actions}
    out.update(_container.report(req, entries, exists and req.state == "present"))
    if with_diff:
        out["diff"] = _item_diff(item)
    if item.error is not None:
        out["msg"] = item.error
        out.update(item.error_details)
    return out


def _item_diff(item: Item) -> Dict[str, Any]:
    """One container's diff; a failed one that was rolled back shows no change."""
    diff = item.plan.get_before_after()
    if item.error is not None and not item.changed:  # rolled back: nothing was done
        diff["after"] = diff["before"]
    return diff


def results(ctx: HostContext, items: Sequence[Item], view: cnicache.CacheView,
            check_mode: bool, with_diff: bool) -> Dict[str, Any]:
    """The module's return: ``containers`` by id, every action (with its container id),
    the diff per container, and ``msg`` naming each failed container."""
    containers: Dict[str, Any] = {}
    actions: List[Dict[str, Any]] = []
    warnings = list(ctx.warnings)
    failed: List[Tuple[str, str]] = []
    for item in items:
        cid = item.req.container_id
        res = container_result(ctx, item, view, check_mode, with_diff)
        containers[cid] = res
        actions.extend(dict(a, container_id=cid) for a in item.plan.actions)
        warnings.extend("%s: %s" % (cid, w) for w in item.warnings)
        if item.error is not None:
            failed.append((cid, item.error))
    out: Dict[str, Any] = {"changed": any(r["changed"] for r in containers.values()),
                           "containers": containers, "actions": actions,
                           "failed_containers": len(failed), "warnings": warnings}
    if with_diff:
        out["diff"] = batch_diff(items)
    if failed:
        out["msg"] = batch_failed_msg("containers", failed, len(items))
    return out


def batch_diff(items: Sequence[Item]) -> Dict[str, Any]:
    """The batch's diff: each container's, by id (after ``results`` judged the failed)."""
    before: Dict[str, Any] = {}
    after: Dict[str, Any] = {}
    for item in items:
        diff = _item_diff(item)
        before[item.req.container_id] = diff["before"]["container"]
        after[item.req.container_id] = diff["after"]["container"]
    return {"before": before, "after": after}


# --- the module: container_netns, one container or a batch ---

class ContainerTask:
    """The task: one container (``req``, from ``params``) or a batch (``items``, from
    ``raws``)."""

    def __init__(self, with_diff: bool, params: Optional[Dict[str, Any]] = None,
                 raws: Optional[List[Dict[str, Any]]] = None,
                 workers: int = _concurrency.DEFAULT_WORKERS) -> None:
        self.with_diff = with_diff
        self.params = params
        self.raws = raws
        self.workers = workers
        self.req: Optional[_container_request.ContainerRequest] = None
        self.items: List[Item] = []


class BatchPlan(Plan):
    """A batch: the entries (each with its ``_container`` plan, run and result), their
    actions in order (with the container id), the cache as they were planned against."""

    def __init__(self, items: Sequence[Item], view: Optional[cnicache.CacheView]) -> None:
        super().__init__()
        self.items = list(items)
        self.view = view
        self.actions = [dict(a, container_id=i.req.container_id) for i in self.items for a in i.plan.actions]

    @property
    def changed(self) -> bool:
        return any(i.changed_plan for i in self.items)

    def get_before_after(self) -> Dict[str, Any]:
        return batch_diff(self.items)


class ContainerNetns(ModuleLogic):
    """container_netns: the single form plans and executes one container under its lock;
    the batch plans every entry against one read of the cache, then executes those that
    change, under every entry's lock (see the top of this file)."""

    def options(self, module: Any) -> ContainerTask:
        p = module.params
        if p["containers"] is not None:
            if p["workers"] < 1:
                raise ValidationError("workers must be at least 1, got %d" % p["workers"])
            # Ansible keeps an alias (id) beside the option it names: pass the options only
            raws = [dict({k: item.get(k) for k in ENTRY_KEYS}, state=item.get("state") or p["state"])
                    for item in p["containers"]]
            return ContainerTask(module._diff, raws=raws, workers=p["workers"])
        if not p["container_id"]:
            raise ValidationError("missing required arguments: container_id (or use containers)")
        return ContainerTask(module._diff, params=p)

    def request(self, ctx: HostContext, options: ContainerTask) -> ContainerTask:
        # validated before the session: a rootless module cannot follow another process's
        # namespace link once it has joined the holder
        if options.raws is not None:
            options.items = build_requests(ctx, options.raws)
            return options
        p = options.params or {}
        options.req = _container_request.ContainerRequest(
            ctx, p["container_id"], p["name"], p["netns"], p["pid"], p["network_mode"], p["networks"],
            p["port_mappings"], p["static_ip"], p["static_mac"], p["state"],
            slirp4netns_options=p["slirp4netns_options"], purge_networks=p["purge_networks"],
            force=p["force"])
        return options

    def guard(self, ctx: HostContext, request: ContainerTask) -> Any:
        reqs = [request.req] if request.req is not None else [i.req for i in request.items or []]
        if not reqs:
            return nullcontext()
        return _concurrency.container_locks(ctx, lock_ids(ctx, reqs))

    def plan(self, ctx: HostContext, request: ContainerTask) -> Plan:
        if request.req is not None:
            p: Plan = _container.plan(ctx, request.req)
        elif request.items:
            p = BatchPlan(request.items, plan_all(ctx, request.items))
        else:
            p = BatchPlan([], None)  # an empty batch reads nothing
        p.request = request
        return p

    def predict(self, ctx: HostContext, plan: Plan) -> Dict[str, Any]:
        task = plan.request
        if isinstance(plan, BatchPlan):
            return results(ctx, plan.items, plan.view, True, task.with_diff)
        return {"entries": _container.current_entries(ctx, task.req),
                "exists": _container.container_exists(ctx, task.req)}

    def execute(self, ctx: HostContext, plan: Plan) -> Dict[str, Any]:
        task = plan.request
        if isinstance(plan, BatchPlan):
            if plan.items:
                execute_all(ctx, plan.items, plan.view, task.workers)
            return results(ctx, plan.items, plan.view, False, task.with_diff)
        if plan.changed:
            ctx.warnings.extend(_container.execute(ctx, task.req, plan)["warnings"])
        return self.predict(ctx, plan)  # what is there now

    def result(self, ctx: HostContext, plan: Plan, outcome: Dict[str, Any], check_mode: bool) -> Dict[str, Any]:
        if isinstance(plan, BatchPlan):
            return outcome
        req = plan.request.req
        out = {"changed": plan.changed, "actions": plan.actions, "warnings": ctx.warnings}
        out.update(_container.report(req, outcome["entries"], outcome["exists"] and req.state == "present"))
        return out


LOGIC = ContainerNetns()
