# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reload containers' CNI networks after a firewall reload wiped the plugins' rules
(podman's ``network reload``): plan, then execute per container and attachment.

- Targets: the listed container ids, or ``all`` = every container with a record plus
  every cache entry whose netns is alive (other tools' attachments included).
- Health of an attachment (without ``force``): CNI CHECK with the cached config and
  result, plus a look at the nat rules the bridge plugin's ``ipMasq`` owns (CHECK never
  looks at them). A network whose cniVersion cannot CHECK (< 0.4.0, or
  ``disableCheck``) is judged by the chains and rules its plugins own (bridge masquerade,
  portmap DNAT, firewall FORWARD accept) and by its interface in the netns.
  All CHECKs run in one ``ctx.call_cni`` (one fork rootless) on a few worker threads.
- Reload of an attachment: DEL with the cached config, tolerating the errors of rules that
  are already gone, then ADD with the cached config and the same interface, IPs, MAC,
  aliases, ports and extra args/capabilities, on every network (podman v4 behaviour).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _concurrency, _gc, _intent, _netns, _state
from ansible_collections.podnet.cni.plugins.module_utils import _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._cni.rules import (
    list_rules, missing_rules, owned_rules, verifiable_rules)
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    CniPluginError, ConfigError, PodnetError, ValidationError)
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import unreadable_error
from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

# CHECK spends its time in plugin start-up and iptables execs, much of it waiting: on
# 2 cores, 30 healthy attachments took 8.4 s with 1 worker, 3.1 s with 4, 2.3 s with 8
CHECK_WORKERS = C.DEFAULT_WORKERS


# --- health of many attachments in one go ---

class Job:
    """One attachment to judge: CHECK and/or rules and/or its interface."""

    __slots__ = ("conf", "rt", "result", "use_check", "rules", "tolerate", "verifiable")

    def __init__(self, conf: cniconf.NetworkConfigList, entry: cnicache.CacheEntry) -> None:
        self.conf = conf
        self.rt = cniexec.RuntimeConf(entry.container_id, entry.netns, entry.ifname,
                                      entry.cni_args, entry.capability_args)
        self.result = entry.result
        self.use_check = cniexec.check_supported(conf)
        self.rules = owned_rules(conf, entry, fallback=not self.use_check)
        self.tolerate = _attach.false_check_alarm(entry)
        detail = verifiable_rules(conf, entry)
        self.verifiable = detail if self.use_check else {}
        if not self.use_check:  # no CHECK to fall back on: the rules decide
            self.rules += detail.get("portmap", [])

    def tables(self) -> List[str]:
        return [r[1] for r in self.rules] + [r[1] for rs in self.verifiable.values() for r in rs]


def _judge(executor: cniexec.PluginExecutor, job: Job, listing: Dict[str, List[str]]) -> Optional[str]:
    # the rules first: one listing for all jobs, so after a wipe no CHECK runs at all
    gone = missing_rules(job.rules, listing)
    if gone:
        return "missing " + "; ".join(gone)
    if job.use_check:
        skip = [ptype for ptype, rules in job.verifiable.items() if not missing_rules(rules, listing)]
        try:
            cniexec.check_network_list(executor, job.conf, job.rt, job.result, tolerate=job.tolerate,
                                       skip=skip)
        except CniPluginError as exc:
            return str(exc)
        except ConfigError as exc:
            return str(exc)
    elif job.conf.plugin_types and job.conf.plugin_types[0] in ("bridge", "macvlan", "ipvlan", "ptp"):
        try:
            if not _netns.link_exists(job.rt.netns, job.rt.ifname):  # no fork per attachment
                return "interface %s is missing in %s" % (job.rt.ifname, job.rt.netns)
        except PodnetError as exc:
            return str(exc)
    return None


def judge_all(executor: cniexec.PluginExecutor, jobs: Sequence[Job],
              workers: int = CHECK_WORKERS, *rts: cniexec.RuntimeConf) -> List[Optional[str]]:
    """None (healthy) or the reason, per job; runs where the plugins run (ctx.call_cni).

    ``rts`` (one per job) replace the jobs' RuntimeConfs: ctx.call_cni hands its
    top-level RuntimeConf arguments to the plugins as the context needs them (rootless:
    port mappings without hostIP), so they travel as arguments of their own.
    """
    for job, rt in zip(jobs, rts):
        job.rt = rt
    tables = sorted({t for job in jobs for t in job.tables()})
    listing = list_rules(executor, tables) if tables else {}
    if len(jobs) <= 1 or workers <= 1:
        return [_judge(executor, job, listing) for job in jobs]
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        return list(pool.map(lambda job: _judge(executor, job, listing), jobs))


# --- targets ---

class Target:
    """One container to reload: id, name, netns and its live attachments, in order."""

    def __init__(self, container_id: str, netns: str, entries: List[cnicache.CacheEntry],
                 record: Optional[Dict[str, Any]] = None,
                 refusal: Optional[PodnetError] = None) -> None:
        self.container_id = container_id
        self.netns = netns
        self.entries = entries
        self.record = record
        # why this container is not changed (files that may be its cannot be used)
        self.refusal = refusal


def _ordered(entries: List[cnicache.CacheEntry], record: Optional[Dict[str, Any]]) -> List[cnicache.CacheEntry]:
    order = {(n.get("network"), n.get("interface")): i
             for i, n in enumerate((record or {}).get("networks") or []) if isinstance(n, dict)}
    return sorted(entries, key=lambda e: (order.get((e.network, e.ifname), len(order)), e.ifname, e.network))


def select_targets(ctx: HostContext, containers: Sequence[str]) -> List[Target]:
    """The containers to look at; a listed id that has no live netns is a ValidationError
    (raised before anything changes)."""
    if not containers:
        raise ValidationError("containers is empty: give container ids or 'all'")
    select_all = list(containers) == ["all"]
    if not select_all:
        for cid in containers:
            if cid == "all":
                raise ValidationError("containers: 'all' cannot be combined with ids", value=cid)
            _validate.any_container_id(cid)  # other tools' ids too
    live = _netns.StatusMemo(ctx.netns_status).alive
    entries = []
    usable, unreadable = cnicache.scan(ctx.cache_dir)
    for e in usable:
        host = ctx.host_netns_reason(e.netns) if live(e.netns) else None
        if host is None:
            entries.append(e)
            continue
        # never DEL/ADD in the host's namespace, whatever a cache entry says
        why = ("container %s: attachment %s/%s is in netns %s, which is %s, never a "
               "container's: not reloaded" % (e.container_id, e.network, e.ifname, e.netns, host))
        if not select_all and e.container_id in containers:
            raise ValidationError(why, value=e.container_id)
        ctx.warnings.append(why)
    records, bad_records = _state.scan(ctx.state_dir)
    unreadable += _intent.scan(ctx)[1] + bad_records
    if select_all:
        ids = sorted(set(records) | {e.container_id for e in entries if live(e.netns)})
    else:
        ids = list(dict.fromkeys(containers))
    targets = []
    owned: Set[str] = set()
    for cid in ids:
        record = records.get(cid)
        netns = (record or {}).get("netns") or ""
        mine = [e for e in entries if e.container_id == cid and live(e.netns)
                and (not netns or e.netns == netns)]
        bad = [u for u in unreadable
               if u.may_belong_to(cid) or (u.kind == "record" and u.name == cid + ".json")]
        if record is not None and netns and not live(netns):
            if not select_all:
                raise ValidationError("container %s: its netns %s is gone (prune_stale cleans up "
                                      "what it left)" % (cid, netns), value=cid)
            continue
        if record is None and not mine and not bad:
            raise ValidationError("container %s: no record and no attachment with a live netns in %s"
                                  % (cid, ctx.cache_dir), value=cid)
        refusal = unreadable_error("container %s" % cid, bad) if bad else None
        owned.update(u.path for u in bad)
        targets.append(Target(cid, netns or (mine[0].netns if mine else ""), _ordered(mine, record),
                              record, refusal))
    # what no target may own is reported all the same, never skipped silently
    ctx.warnings.extend("cannot be used (left alone): %s" % u for u in unreadable if u.path not in owned)
    return targets


# --- plan ---

class ReloadPlan(Plan):
    """Per target container, per attachment: healthy, or why it is reloaded; the stale
    leftovers to prune (``prune_stale``). ``actions``: a ``reload`` per attachment to
    reload, then ``prune`` when something is stale."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: List[Target] = []
        # per container id: per (network, ifname): None (healthy) or why it is reloaded
        self.verdicts: Dict[str, Dict[Tuple[str, str], Optional[str]]] = {}
        self.prune: Optional[_gc.PrunePlan] = None

    def to_reload(self, cid: str) -> List[Tuple[str, str]]:
        return [k for k, why in self.verdicts.get(cid, {}).items() if why is not None]


def plan(ctx: HostContext, containers: Sequence[str], force: bool = False,
         prune_stale: bool = False, workers: int = CHECK_WORKERS,
         min_age: float = _gc.RESERVATION_MIN_AGE) -> ReloadPlan:
    """Which attachments are broken (CNI CHECK and rules: read-only, so check mode runs
    them too and predicts ``changed`` exactly) and what is stale."""
    p = ReloadPlan()
    p.targets = select_targets(ctx, containers)
    jobs: List[Job] = []
    keys: List[Tuple[str, Tuple[str, str]]] = []
    for t in p.targets:
        p.verdicts[t.container_id] = {}
        for e in t.entries:
            key = (e.network, e.ifname)
            if t.refusal is not None:  # not changed: nothing to judge
                p.verdicts[t.container_id][key] = None
                continue
            if force:
                p.verdicts[t.container_id][key] = "forced"
                continue
            try:
                conf = _attach.conf_of_entry(ctx, e)
            except (ConfigError, ValidationError) as exc:
                p.verdicts[t.container_id][key] = None
                ctx.warnings.append("container %s network %s: cannot judge: %s"
                                    % (t.container_id, e.network, exc))
                continue
            jobs.append(Job(conf, e))
            keys.append((t.container_id, key))
    if jobs:
        verdicts = ctx.call_cni(judge_all, ctx.executor, jobs, workers, *[j.rt for j in jobs])
        for (cid, key), why in zip(keys, verdicts):
            p.verdicts[cid][key] = why
    for t in p.targets:
        before = {"%s/%s" % k: ("broken" if why and why != "forced" else "healthy")
                  for k, why in p.verdicts[t.container_id].items()}
        after = {k: "healthy" for k in before}
        if force:
            before = {k: "reload" for k in before}
        p.diff.add(t.container_id, before, after)
        for network, ifname in p.to_reload(t.container_id):
            p.add("reload", container_id=t.container_id, network=network, interface=ifname)
    if prune_stale:
        p.prune = _gc.plan(ctx, min_age)
        if p.prune.changed:
            p.add("prune", stale=len(p.prune.actions))
        ctx.warnings.extend(w for w in p.prune.warnings() if w not in ctx.warnings)
        pr = p.prune.to_dict()
        kinds = ("attachments", "interrupted", "records", "reservations")
        p.diff.add("stale", {k: pr[k] for k in kinds}, {k: [] for k in kinds})
    return p


# --- execute ---

def _net_report(entry: cnicache.CacheEntry) -> Dict[str, Any]:
    return {"interface": entry.ifname, "ips": sorted(cniresult.addresses(entry.result)),
            "mac": (cniresult.mac_of(entry.result, entry.ifname) or "").lower() or None}


def report(p: ReloadPlan, outcome: Optional[Dict[str, Dict[str, Any]]] = None,
           check_mode: bool = False) -> Dict[str, Any]:
    """``containers`` of the module result: per id its netns, networks and errors."""
    out: Dict[str, Any] = {}
    for t in p.targets:
        done = (outcome or {}).get(t.container_id, {})
        nets: Dict[str, Any] = {}
        for e in t.entries:
            why = p.verdicts[t.container_id].get((e.network, e.ifname))
            item = _net_report(e)
            item["reason"] = why
            if t.refusal is not None:
                item["state"] = "skipped"
                item["reason"] = "not judged: files that may describe the container cannot be used"
            elif why is None:
                item["state"] = "healthy"
            elif check_mode:
                item["state"] = "would_reload"
            else:
                item.update(done.get("networks", {}).get(e.network + "/" + e.ifname, {"state": "skipped"}))
            nets[e.network] = item
        out[t.container_id] = {
            "netns": t.netns, "networks": nets,
            "reloaded": [n for n, i in nets.items() if i["state"] in ("reloaded", "would_reload")],
            "errors": ([str(t.refusal)] if t.refusal is not None else []) + list(done.get("errors", []))}
    return out


def reload_container(ctx: HostContext, target: Target, keys: Sequence[Tuple[str, str]]) -> Dict[str, Any]:
    """DEL + ADD each attachment of ``keys``, under the container lock; errors are
    collected per attachment so one broken network does not keep the others down."""
    nets: Dict[str, Any] = {}
    errors: List[str] = []
    with _gc.maybe_container_lock(ctx, target.container_id):
        try:  # an ADD a dead run (or a failed rollback) left half-done is undone first
            for intent in _intent.pending(ctx, target.container_id):
                _attach.recover_interrupted(ctx, intent)
        except PodnetError as exc:
            return {"networks": {n + "/" + i: {"state": "failed", "error": str(exc)} for n, i in keys},
                    "errors": [str(exc)]}
        for network, ifname in keys:
            label = network + "/" + ifname
            try:
                entry = cnicache.read(ctx.cache_dir, network, target.container_id, ifname)
            except PodnetError as exc:  # unusable since planning: never guessed at
                errors.append("network %s: %s" % (network, exc))
                nets[label] = {"state": "failed", "error": str(exc)}
                continue
            if entry is None or ctx.netns_status(entry.netns) != "mounted":
                nets[label] = {"state": "skipped", "reason": "detached meanwhile"}
                continue
            old = _net_report(entry)
            touched = False  # once the DEL starts, the host changes whatever happens next
            del_error: Optional[str] = None
            try:
                conf = _attach.conf_of_entry(ctx, entry)
                spec = _attach.spec_from_entry(entry)
                touched = True
                try:
                    tolerated = _attach.remove(ctx, entry, tolerate=_attach.tolerate_missing_rules)
                except CniPluginError as exc:
                    # not a "missing rule/chain" one: every plugin's DEL has still run
                    # (del_network_list goes on past an error), so the network is set up
                    # again with the same addresses, as podman's reload does after logging
                    # the DEL error; the cache entry stays until the ADD replaces it
                    del_error, tolerated = str(exc), []
                    ctx.attachment_removed(entry)
                new = _attach.add(ctx, conf, spec, entry.container_id,
                                  _attach.container_name_of(entry), entry.netns)
            except PodnetError as exc:
                msg = str(exc) if del_error is None else "DEL failed: %s; ADD failed: %s" % (
                    del_error, exc)
                errors.append("network %s: %s" % (network, msg))
                nets[label] = {"state": "failed", "error": msg, "changed": touched,
                               "del_error": del_error}
                continue
            now = _net_report(new)
            nets[label] = {"state": "reloaded", "ips": now["ips"], "mac": now["mac"],
                           "ips_preserved": now["ips"] == old["ips"],
                           "mac_preserved": now["mac"] == old["mac"] or old["mac"] is None,
                           "tolerated_errors": tolerated, "del_error": del_error}
            if del_error is not None:
                ctx.warnings.append("container %s network %s: DEL failed (%s); set up again with "
                                    "the same addresses" % (target.container_id, network, del_error))
    return {"networks": nets, "errors": errors}


def execute(ctx: HostContext, p: ReloadPlan, min_age: float = _gc.RESERVATION_MIN_AGE,
            workers: int = 1) -> Dict[str, Any]:
    """Reload what the plan found broken (or all with force), then prune; the outcome
    ``{"containers": {id: {...}}, "pruned": report or None}``.

    With ``workers`` > 1 containers are reloaded side by side (each under its own lock).
    Only as root: rootless CNI calls fork into the user's namespaces, and a fork from a
    threaded process is not something to build on.
    """
    todo = [(t, p.to_reload(t.container_id)) for t in p.targets]
    todo = [(t, keys) for t, keys in todo if keys]
    outcome: Dict[str, Dict[str, Any]] = {}

    def reload_one(item: Tuple[Target, List[Tuple[str, str]]]) -> None:
        outcome[item[0].container_id] = reload_container(ctx, item[0], item[1])

    # after a wipe the first ADD of a network re-creates the shared chains and jumps
    # (CNI-FORWARD, CNI-HOSTPORT-*): concurrent first ADDs would each add the jump
    # (plugins 1.1), so the first ADD of each network goes alone (_concurrency's gate)
    concurrent = _concurrency.overlaps(ctx, len(todo), workers)
    with _concurrency.gated(ctx, concurrent):
        _concurrency.run_all(reload_one, todo, workers, concurrent)
    outcome = {t.container_id: outcome[t.container_id] for t, _keys in todo}
    pruned = None
    if p.prune is not None:
        pruned = _gc.execute(ctx, p.prune, min_age) if p.prune.changed else p.prune.to_dict()
    return {"containers": outcome, "pruned": pruned}


# --- the module: container_net_reload ---

class ReloadRequest:
    def __init__(self, params: Dict[str, Any], with_diff: bool) -> None:
        self.containers = params["containers"]
        self.force = params["force"]
        self.prune_stale = params["prune_stale"]
        self.workers = params["workers"]
        self.with_diff = with_diff


class ContainerNetReload(ModuleLogic):
    """container_net_reload: plan (CHECK and rules, read-only), then reload and prune."""

    def options(self, module: Any) -> ReloadRequest:
        p = module.params
        if p["workers"] < 1:
            raise ValidationError("workers must be at least 1, not %d" % p["workers"], value=p["workers"])
        return ReloadRequest(p, module._diff)

    def plan(self, ctx: HostContext, request: ReloadRequest) -> ReloadPlan:
        p = plan(ctx, request.containers, request.force, request.prune_stale, request.workers)
        p.request = request
        return p

    def predict(self, ctx: HostContext, plan: ReloadPlan) -> Dict[str, Any]:
        return {"containers": {}, "pruned": plan.prune.to_dict() if plan.prune else None}

    def execute(self, ctx: HostContext, plan: ReloadPlan) -> Dict[str, Any]:
        if not plan.changed:
            return self.predict(ctx, plan)
        return execute(ctx, plan, workers=plan.request.workers)

    def result(self, ctx: HostContext, plan: ReloadPlan, outcome: Dict[str, Any],
               check_mode: bool) -> Dict[str, Any]:
        containers = report(plan, outcome["containers"], check_mode)
        reloaded = sum(len(c["reloaded"]) for c in containers.values())
        pruned = outcome["pruned"]
        # a failed network whose DEL ran changed the host too: changed is true whenever
        # anything changed, also when the module fails (the per-container results say what)
        touched = any(n.get("changed") for c in outcome["containers"].values()
                      for n in c.get("networks", {}).values())
        changed = bool(reloaded) or touched or bool(pruned and any(pruned[k] for k in (
            "attachments", "interrupted", "records", "reservations")))
        if check_mode:
            changed = plan.changed
        result = {"changed": changed, "actions": plan.actions, "containers": containers,
                  "reloaded": reloaded, "warnings": ctx.warnings}
        if pruned is not None:
            result["pruned"] = pruned
        errors = ["container %s: %s" % (cid, e) for cid, c in containers.items() for e in c["errors"]]
        errors += ["prune: %s" % e for e in (pruned or {}).get("errors", [])]
        if errors:  # fails with all of it (the runner adds the diff only to a success)
            if plan.request.with_diff:
                result["diff"] = plan.get_before_after()
            raise PodnetError("; ".join(errors), **{k: v for k, v in result.items() if k != "warnings"})
        return result


LOGIC = ContainerNetReload()
