# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Over 450 lines: cni_attachment's entry model, plan, execute and result shaping, single and batch, one entry type throughout.
"""Run-time attachments (``cni_attachment``): connect or disconnect one container to one
network while it runs, as podman's NetworkConnect/NetworkDisconnect do, alone or as a
batch.

Planning reads the container records, the libcni cache and the netns mounts (no fork,
no plugin, except CNI CHECK when ``verify`` asks for it), so an idempotent run costs a
few file reads per entry. Execution groups the entries by container (one container's
entries run in order under its lock) and runs the groups on a bounded thread pool: the
plugins are subprocesses, so threads overlap their exec and iptables time.

Concurrency (the pool, the gate that runs the first ADD of each network alone, the
retry of race errors) is shared with ``container_netns``'s batch: see ``_concurrency``.
"""
from __future__ import annotations

import ipaddress
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _concurrency, _intent, _netns, _state, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    ConfigError, PodnetError, StateError, ValidationError, batch_failed_msg, batch_invalid)
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import Unreadable, unreadable_error
from ansible_collections.podnet.cni.plugins.module_utils._pending import WHY, warn_once
from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan

DEFAULT_WORKERS = _concurrency.DEFAULT_WORKERS
ENTRY_KEYS = ("container_id", "name", "netns", "network", "interface", "ips", "mac", "aliases",
              "port_mappings", "cni_args", "capability_args", "verify", "state")
# the single form's options (one entry; the module's other options are verify and state)
SINGLE_KEYS = ENTRY_KEYS[:-2]


class EntryRequest:
    """One validated entry: (container, network, interface) and what it should be."""

    def __init__(self, ctx: HostContext, item: Dict[str, Any], index: int = 0) -> None:
        unknown = _validate.unknown_keys(item, ENTRY_KEYS)
        if unknown:
            raise ValidationError("attachment %d: %s" % (index, unknown), value=sorted(set(item) - set(ENTRY_KEYS)))
        self.index = index
        self.container_id = _validate.container_id(item.get("container_id"))
        self.name = _validate.container_id(item["name"], "name") if item.get("name") else None
        self.netns = ctx.netns_path(item["netns"]) if item.get("netns") else None
        self.network = cniconf.validate_network_name(item.get("network"))
        self.interface = _validate.ifname(item["interface"]) if item.get("interface") else None
        ips = item.get("ips") or []
        self.ips = _validate.ip_list([ips] if isinstance(ips, str) else ips)
        self.mac = _validate.mac(item["mac"]) if item.get("mac") else None
        # None (not given) keeps what an existing attachment has; [] asks for none
        self.given = {k for k in ("aliases", "port_mappings", "cni_args", "capability_args")
                      if item.get(k) is not None}
        self.aliases = _validate.aliases(item.get("aliases"))
        self.port_mappings = _validate.port_mappings(item.get("port_mappings"))
        self.cni_args = _validate.cni_args(item.get("cni_args"))
        caps = item.get("capability_args") or {}
        if not isinstance(caps, dict):
            raise ValidationError("attachment %d: capability_args must be a dict, got %r"
                                  % (index, caps), value=caps)
        self.capability_args = dict(caps)
        self.verify = bool(item.get("verify"))
        self.state = item.get("state") or "present"
        if self.state not in ("present", "absent"):
            raise ValidationError("invalid state %r: use present or absent" % (self.state,),
                                  value=self.state)
        if self.netns and self.state == "present" and _netns.is_proc_link(self.netns):
            # asked before a rootless module joins the holder (it cannot follow the link then)
            ctx.refuse_host_netns(self.netns)

    @property
    def label(self) -> str:
        return "%s/%s%s" % (self.container_id, self.network,
                            "/%s" % self.interface if self.interface else "")


class EntryPlan(Plan):
    """What one entry needs: an action, its spec, the entries it replaces or removes;
    then what running it did. Its ``actions`` (none, or the one) are set by
    ``plan_entries``; a batch's diff is ``diff`` (it depends on what ran)."""

    def __init__(self, req: EntryRequest) -> None:
        super().__init__()
        self.req = req
        self.action = "none"  # none | attach | reattach | repair | detach
        self.reasons: List[str] = []
        self.netns = ""
        self.ifname = req.interface or ""
        self.spec: Optional[_attach.AttachmentSpec] = None
        self.old: List[cnicache.CacheEntry] = []  # what is replaced or removed
        self.current: Optional[cnicache.CacheEntry] = None
        self.before: Optional[Dict[str, Any]] = None
        self.after: Optional[Dict[str, Any]] = None
        self.check_error: Optional[str] = None
        # outcome
        self.entry: Optional[cnicache.CacheEntry] = None
        self.error: Optional[str] = None
        self.error_details: Dict[str, Any] = {}
        self.warnings: List[str] = []
        self.done = False
        self.touched = False  # something ran (a DEL) even if the entry then failed

    @property
    def changed(self) -> bool:
        return self.action != "none"

    @property
    def key(self) -> str:
        return "%s/%s/%s" % (self.req.container_id, self.req.network, self.ifname or "*")

    def plan_actions(self) -> None:
        self.actions = []
        if self.action == "none":
            return
        item = self.add(self.action, container_id=self.req.container_id, network=self.req.network)
        if self.action == "detach":
            item["interfaces"] = [e.ifname for e in self.old]
        else:
            item["interface"] = self.ifname
        if self.reasons:
            item["reasons"] = list(self.reasons)
        if self.check_error:
            item["check_error"] = self.check_error


# --- planning ---

class _Snapshot:
    """Cache entries and records read once for the whole batch, and per container what of
    its state cannot be used (such a container is not changed: see ``refusals``)."""

    def __init__(self, ctx: HostContext, container_ids: Sequence[str],
                 refused: Optional[Dict[str, PodnetError]] = None) -> None:
        self.ctx = ctx
        self.cache = cnicache.CacheView(ctx.cache_dir, container_ids)
        self.by_container = self.cache.by_container
        ids = set(container_ids)
        intents, intents_bad = _intent.scan(ctx) if ids else ([], [])
        # interfaces of interrupted ADDs (check mode: the real run undoes them first)
        self.interrupted: Dict[str, Set[str]] = {}
        for intent in intents:
            self.interrupted.setdefault(intent.container_id, set()).add(intent.ifname)
        self.refusals: Dict[str, PodnetError] = dict(refused or {})
        self.records: Dict[str, Optional[Dict[str, Any]]] = {}
        for cid in ids:
            try:
                self.records[cid] = _state.load(ctx.state_dir, cid)
            except StateError as exc:
                self.records[cid] = None
                self.refusals.setdefault(cid, exc)
                continue
            bad = self.cache.container_unreadable(cid) + [u for u in intents_bad if u.may_belong_to(cid)]
            if bad:
                self.refusals.setdefault(cid, unreadable_error("container %s" % cid, bad))
        self.netns_status = _netns.StatusMemo(ctx.netns_status).status


def _record_networks(record: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    nets = (record or {}).get("networks") or []
    return [n for n in nets if isinstance(n, dict)]


def _resolve_netns(ctx: HostContext, req: EntryRequest, snap: _Snapshot) -> str:
    """The request's netns, else the record's, else a cached one, else the default name."""
    if req.netns:
        return req.netns
    record = snap.records.get(req.container_id)
    if record and record.get("netns"):
        return str(record["netns"])
    for e in snap.by_container.get(req.container_id, []):
        if e.netns:
            return e.netns
    if req.container_id.startswith("cnitool-"):
        found = cnicache.find_cnitool_netns(ctx.netns_dir, req.container_id)
        if found:
            return found
    return ctx.default_netns(req.container_id)


def _free_ifname(used: Set[str]) -> str:
    n = 0
    while "eth%d" % n in used:
        n += 1
    return "eth%d" % n


def _choose_ifname(req: EntryRequest, current: List[cnicache.CacheEntry],
                   record: Optional[Dict[str, Any]], claimed: Set[str]) -> str:
    """Explicit, else the one the network already has (cache, then record), else the
    lowest ethN free in the cache, the record and this batch."""
    if req.interface:
        return req.interface
    for e in sorted(current, key=lambda x: x.ifname):
        if e.network == req.network:
            return e.ifname
    for n in _record_networks(record):
        if n.get("network") == req.network and n.get("interface"):
            return str(n["interface"])
    used = {e.ifname for e in current} | {str(n.get("interface")) for n in _record_networks(record)}
    return _free_ifname(used | claimed)


def _spec(req: EntryRequest, ifname: str, ips: Sequence[str] = (),
          keep: Optional[_attach.AttachmentSpec] = None) -> _attach.AttachmentSpec:
    """The spec of a request; what it does not give is taken from ``keep`` (the existing
    attachment), so e.g. a MAC change keeps the ports cnitool or podman mapped."""
    def pick(key: str, wanted: Any, kept: Any) -> Any:
        return wanted if key in req.given or keep is None else kept
    return _attach.AttachmentSpec(
        req.network, ifname, list(req.ips or ips), req.mac,
        pick("aliases", req.aliases, keep.aliases if keep else None),
        pick("port_mappings", req.port_mappings, keep.port_mappings if keep else None),
        pick("cni_args", req.cni_args, keep.cni_args if keep else None),
        pick("capability_args", req.capability_args, keep.capability_args if keep else None))


def _differences(req: EntryRequest, view: Dict[str, Any], entry: cnicache.CacheEntry) -> List[str]:
    """What the request asks that the attachment (its ``entry_spec_view``) does not have.

    Only what the request gives is compared (the rest is kept); no spec is built, so the
    idempotent path stays a few dict comparisons per entry."""
    diffs = []
    if req.ips and sorted(req.ips) != view["ips"]:
        diffs.append("ips")
    if req.mac and req.mac != view["mac"]:
        diffs.append("mac")
    if "aliases" in req.given and list(req.aliases) != view["aliases"]:
        diffs.append("aliases")
    if "port_mappings" in req.given and _attach.spec_view(
            _attach.AttachmentSpec(req.network, entry.ifname, port_mappings=req.port_mappings)
    )["port_mappings"] != view["port_mappings"]:
        diffs.append("port_mappings")
    if any(entry.arg(k) != v for k, v in req.cni_args):
        diffs.append("cni_args")
    if any(entry.capability_args.get(k) != v for k, v in req.capability_args.items()):
        diffs.append("capability_args")
    return diffs


def _kept_ips(conf: cniconf.NetworkConfigList, entry: cnicache.CacheEntry) -> List[str]:
    """The old addresses still inside the network (kept when re-attaching for another reason)."""
    kept = []
    for ip in cniresult.addresses(entry.result):
        try:
            cniconf.check_ip_in_network(conf, ipaddress.ip_address(ip))
        except (ValidationError, ValueError):
            return []
        kept.append(ip)
    try:
        return _validate.ip_list(kept)
    except ValidationError:
        return []


def plan_entries(ctx: HostContext, reqs: Sequence[EntryRequest], run_check: bool = True,
                 refused: Optional[Dict[str, PodnetError]] = None) -> List[EntryPlan]:
    """Plans for every request; raises ValidationError/ConfigError (all problems named)
    before anything is changed. ``run_check`` runs CNI CHECK for ``verify`` entries
    (read-only: the plugins only inspect).

    A container whose state cannot be used (an unusable cache entry, intent or record
    that may be its, or ``refused``: a failed recovery) is not changed: its entries fail
    with that error, the other containers' entries go on."""
    snap = _Snapshot(ctx, [r.container_id for r in reqs], refused)
    plans: List[EntryPlan] = []
    problems: List[str] = []
    seen_keys: Dict[Tuple[str, str, str], int] = {}
    claimed: Dict[str, Dict[str, str]] = {}  # container -> ifname -> network (this batch)
    claims = _attach.BatchClaims()
    for req in reqs:
        p = EntryPlan(req)
        plans.append(p)
        refusal = snap.refusals.get(req.container_id)
        if refusal is not None:
            p.error = str(refusal)
            p.error_details = {k: v for k, v in refusal.details.items() if k not in ("msg", "changed")}
            continue
        try:
            _plan_one(ctx, req, p, snap, claimed.setdefault(req.container_id, {}), run_check)
            key = (req.container_id, req.network, p.ifname)
            if key in seen_keys:
                raise ValidationError("attachment %s is listed twice (entries %d and %d)"
                                      % (p.key, seen_keys[key], req.index), value=p.key)
            seen_keys[key] = req.index
            if p.spec is not None and p.action in ("attach", "reattach"):
                claims.claim(req.container_id, p.spec.network, p.spec.ips, p.spec.port_mappings)
            p.plan_actions()
        except (ValidationError, ConfigError) as exc:
            problems.append(exc.msg if len(reqs) == 1 else "%s: %s" % (req.label, exc.msg))
            p.error = exc.msg
    if problems:
        raise batch_invalid("attachments", problems, len(reqs))
    return plans


def _plan_one(ctx: HostContext, req: EntryRequest, p: EntryPlan, snap: _Snapshot,
              claimed: Dict[str, str], run_check: bool) -> None:
    current = snap.by_container.get(req.container_id, [])
    record = snap.records.get(req.container_id)
    p.netns = _resolve_netns(ctx, req, snap)
    if req.state == "absent":
        p.old = [e for e in current if e.network == req.network
                 and (req.interface is None or e.ifname == req.interface)]
        p.ifname = req.interface or (p.old[0].ifname if len(p.old) == 1 else "")
        p.before = [_attach.entry_spec_view(e) for e in p.old] or None
        p.after = None
        if p.old:
            p.action = "detach"
        return
    conf = ctx.get_network(req.network)  # unknown network: ValidationError
    predicted_ns = False
    mode = str((record or {}).get("network_mode") or "")
    if mode == "host" or mode.startswith(("container:", "ns:")):
        # no namespace of its own (podman refuses network connect for these modes too)
        raise ValidationError("container %s has network_mode %s: it has no network namespace of its "
                              "own to connect%s" % (req.container_id, mode, (
                                  "; connect container %s instead" % record.get("joins"))
                                  if record.get("joins") else ""), value=req.container_id)
    if snap.netns_status(p.netns) != "mounted":
        if not (ctx.pending and snap.netns_status(p.netns) == "absent"
                and ctx.pending.has_netns(p.netns, ctx.netns_path)):
            raise ValidationError("netns %s of container %s does not exist (or is not a network "
                                  "namespace): create the container first" % (p.netns, req.container_id),
                                  value=p.netns)
        predicted_ns = True
        warn_once(ctx.warnings, "check mode: netns %s of container %s does not exist yet; predicted: "
                  "%s" % (p.netns, req.container_id, WHY))
    else:
        ctx.refuse_host_netns(p.netns)
    p.ifname = _choose_ifname(req, current, record, set(claimed))
    owner = claimed.get(p.ifname)
    if owner and owner != req.network:
        raise ValidationError("interface %s of container %s is requested for networks %s and %s"
                              % (p.ifname, req.container_id, owner, req.network), value=p.ifname)
    claimed[p.ifname] = req.network
    for e in current:
        if e.ifname == p.ifname and e.network != req.network:
            raise ValidationError("interface %s of container %s is already used by network %s"
                                  % (p.ifname, req.container_id, e.network), value=p.ifname)
    existing = next((e for e in current if e.network == req.network and e.ifname == p.ifname), None)
    moved = None
    if existing is None and req.interface:
        # attached to this network under another name: move it (one interface per
        # network, as podman allows), rather than attach the network twice
        moved = next((e for e in current if e.network == req.network), None)
    if moved is not None:
        moved = cnicache.with_netns(moved, p.netns)
        p.current = moved
        p.before = _attach.entry_spec_view(moved)
        p.action, p.reasons, p.old = "reattach", ["interface"], [moved]
        keep = _attach.spec_from_entry(moved)
        p.spec = _spec(req, p.ifname, _kept_ips(conf, moved), keep)
        p.after = _attach.spec_view(p.spec, p.before)
    elif existing is None:
        p.spec = _spec(req, p.ifname)
        p.action = "attach"
        p.after = _attach.spec_view(p.spec)
        if not predicted_ns and p.ifname not in (
                {e.ifname for e in current} | snap.interrupted.get(req.container_id, set())):
            _attach.refuse_existing_interface(conf, p.netns, p.ifname, in_thread=not ctx.rootless)
    else:
        existing = cnicache.with_netns(existing, p.netns)
        p.current = existing
        p.before = _attach.entry_spec_view(existing)
        reasons = []
        if existing.netns != p.netns:
            reasons.append("netns")
        reasons += _differences(req, p.before, existing)
        keep = _attach.spec_from_entry(existing) if reasons or req.verify else None
        if reasons:
            p.action, p.reasons = "reattach", reasons
            p.spec = _spec(req, p.ifname, _kept_ips(conf, existing), keep)
            p.old = [existing]
        elif req.verify:
            if not cniexec.check_supported(conf):
                raise ConfigError("network %s cannot be verified: CNI CHECK needs cniVersion "
                                  "0.4.0 or later and disableCheck unset" % conf.name,
                                  network=conf.name)
            if run_check:
                p.check_error = _attach.check(ctx, existing)
            if p.check_error:
                p.action, p.reasons = "repair", ["check failed"]
                p.spec = _spec(req, p.ifname, keep.ips, keep)
                if not p.spec.mac and keep.mac and (
                        "tuning" in conf.plugin_types or conf.capabilities().get("mac")):
                    p.spec.mac = keep.mac
                p.old = [existing]
        p.after = _attach.spec_view(p.spec, p.before) if p.spec else p.before
    if p.spec is not None and p.action != "none":
        if p.spec.port_mappings:
            others: Optional[List[cnicache.CacheEntry]] = snap.cache.port_holders(
                _validate.cni_port_mappings(p.spec.port_mappings))
            unreadable: List[Unreadable] = snap.cache.all_entries()[1]
        else:
            others, unreadable = None, []
        _attach.preflight(ctx, conf, p.spec, req.container_id, others, unreadable)


# --- execution ---

def _container_name(req: EntryRequest, record: Optional[Dict[str, Any]],
                    current: Optional[cnicache.CacheEntry]) -> str:
    if req.name:
        return req.name
    if record and record.get("name"):
        return str(record["name"])
    if current is not None:
        return _attach.container_name_of(current)
    return req.container_id


def _execute_one(ctx: HostContext, p: EntryPlan, record: Optional[Dict[str, Any]]) -> None:
    req = p.req
    if p.action == "detach":
        p.touched = True
        netns_ok = ctx.netns_status(p.netns) == "mounted"
        for e in p.old:
            # libcni 1.1 caches no netns: give the container's
            path = e.netns or p.netns
            if ctx.netns_status(path) == "mounted":
                p.warnings += _attach.remove(ctx, e, netns=path,
                                             tolerate=_attach.tolerate_missing_rules)
            else:  # the namespace is gone: release what the plugins hold outside it
                p.warnings += _attach.remove_gone(ctx, e, tolerate=_attach.tolerate_missing_rules)
        if netns_ok:
            ctx.bring_lo_up(p.netns)  # as podman does after a disconnect
        return
    conf = ctx.get_network(req.network)
    if p.spec is None:  # planning always sets it for attach/reattach/repair
        raise PodnetError("internal error: no spec planned for %s" % p.key)
    name = _container_name(req, record, p.current)
    if p.action == "attach":
        p.entry = _attach.add(ctx, conf, p.spec, req.container_id, name, p.netns)
        return
    # reattach / repair: DEL the old attachment, ADD the new; if the ADD fails put the
    # old one back with its own addresses so the container keeps its network
    old = p.old[0]
    old_ns = old.netns if ctx.netns_status(old.netns) == "mounted" else ""
    p.touched = True
    if old_ns:
        p.warnings += _attach.remove(ctx, old, netns=old_ns, tolerate=lambda e: True)
    else:
        p.warnings += _attach.remove_gone(ctx, old, tolerate=lambda e: True)
    try:
        p.entry = _attach.add(ctx, conf, p.spec, req.container_id, name, p.netns)
    except PodnetError as exc:
        if p.action == "reattach" and old_ns == p.netns:
            try:
                _attach.restore(ctx, old, name, p.netns)
                exc.details["restored"] = True
            except PodnetError as rexc:
                exc.details["restored"] = False
                exc.details["restore_error"] = str(rexc)
        raise


def _update_record(ctx: HostContext, cid: str, plans: Sequence[EntryPlan]) -> None:
    """Write what happened into the container's record (the record format of _container)."""
    record = _state.load(ctx.state_dir, cid)
    done = [p for p in plans if p.done and p.action != "none"]
    if not done and record is not None:
        return
    if record is None:
        if not any(p.entry is not None for p in plans):
            return
        first = plans[0]
        record = {"container_id": cid, "name": first.req.name or cid, "netns": first.netns,
                  "netns_origin": "existing", "pid": None, "network_mode": "bridge",
                  "networks": [], "port_mappings": [], "static_ip": None, "static_mac": None,
                  "managed_by": "cni_attachment"}
    networks = _record_networks(record)
    for p in done:
        if p.action == "detach":
            gone = {(e.network, e.ifname) for e in p.old}
            networks = [n for n in networks if (n.get("network"), n.get("interface")) not in gone]
        elif p.spec is not None:
            item = p.spec.to_dict()
            gone = {(e.network, e.ifname) for e in p.old if e.ifname != item["interface"]}
            networks = [n for n in networks if (n.get("network"), n.get("interface")) not in gone]
            for i, n in enumerate(networks):
                if n.get("network") == item["network"] and n.get("interface") == item["interface"]:
                    # who attached it first still owns it (container_netns detaches its own)
                    item["attached_by"] = n.get("attached_by") or _state.BY_CONTAINER_NETNS
                    networks[i] = item
                    break
            else:
                item["attached_by"] = _state.BY_CNI_ATTACHMENT  # durable: container_netns keeps it
                networks.append(item)
    record["networks"] = networks
    if not networks and record.get("managed_by") == "cni_attachment":
        _state.delete(ctx.state_dir, cid)
        return
    _state.save(ctx.state_dir, record)


def execute(ctx: HostContext, plans: Sequence[EntryPlan], workers: int = DEFAULT_WORKERS) -> None:
    """Run the plans: per container in order, containers concurrently (bounded). Each
    entry's failure is kept on its plan (error, rollback done); nothing is raised.

    The caller holds the containers' locks (``_concurrency.container_locks``) from
    planning on."""
    groups: Dict[str, List[EntryPlan]] = {}
    for p in plans:
        groups.setdefault(p.req.container_id, []).append(p)
    work = [g for g in groups.values() if any(p.changed for p in g)]
    if not work:
        return
    ctx.networks()  # load once before threads share the context
    concurrent = _concurrency.overlaps(ctx, len(work), workers)

    def run_group(group: List[EntryPlan]) -> None:
        cid = group[0].req.container_id
        try:
            record = _state.load(ctx.state_dir, cid)
            for p in group:
                if not p.changed:
                    continue
                try:
                    _execute_one(ctx, p, record)
                    p.done = True
                except PodnetError as exc:
                    p.error = str(exc)
                    p.error_details = {k: v for k, v in exc.details.items()
                                       if k not in ("msg", "changed")}
                except Exception as exc:  # a bug: keep it on the entry, never lose others
                    p.error = "unexpected error: %s: %s" % (type(exc).__name__, exc)
            _update_record(ctx, cid, group)
        except PodnetError as exc:  # the record
            for p in group:
                if p.changed and p.error is None and not p.done:
                    p.error = str(exc)

    with _concurrency.gated(ctx, concurrent):
        _concurrency.run_static_first(
            run_group, work, lambda group: any(p.changed and p.spec is not None and p.spec.ips for p in group),
            workers, concurrent)


# --- reporting ---

def attachment_view(p: EntryPlan, check_mode: bool,
                    with_result: bool = True) -> Optional[Dict[str, Any]]:
    """The attachment as it is after the run (or would be, in check mode); the CNI result
    only ``with_result`` (a batch leaves it out: it is most of the output's size)."""
    if p.req.state == "absent":
        if check_mode or p.error is None:
            return None
        return p.before[0] if isinstance(p.before, list) and p.before else None
    entry = p.entry if p.entry is not None else (p.current if p.action == "none" or check_mode
                                                 or p.error else None)
    if p.error and p.entry is None and p.action == "attach":
        return None
    if entry is None:
        return dict(p.after or {}, container_id=p.req.container_id, netns=p.netns) \
            if check_mode else None
    view = _attach.entry_spec_view(entry)
    if check_mode and p.after:
        view = dict(p.after)
    view.update({"container_id": p.req.container_id, "netns": p.netns or entry.netns})
    if with_result:
        view["result"] = entry.result if not (check_mode and p.changed) else {}
    return view


def entry_result(p: EntryPlan, check_mode: bool, with_result: bool = True) -> Dict[str, Any]:
    out: Dict[str, Any] = {"container_id": p.req.container_id, "network": p.req.network,
                           "interface": p.ifname or None, "netns": p.netns or None,
                           "state": p.req.state,
                           "changed": p.changed and (check_mode or p.done or p.touched),
                           "failed": p.error is not None, "actions": p.actions,
                           "attachment": attachment_view(p, check_mode, with_result)}
    if p.error is not None:
        out["msg"] = p.error
        out.update({k: v for k, v in p.error_details.items()
                    if k in ("restored", "restore_error", "plugin", "command", "cni_code",
                             "rollback_errors")})
    if p.warnings:
        out["warnings"] = list(p.warnings)
    return out


def diff(plans: Sequence[EntryPlan], check_mode: bool = False) -> DifferenceTracker:
    """What each entry changes (check mode: would change); an entry that failed before
    anything of it ran shows none."""
    tracker = DifferenceTracker()
    for p in plans:
        after = p.after if p.req.state == "present" else None
        if not check_mode and p.error is not None and not (p.done or p.touched):
            after = p.before
        tracker.add(p.key, p.before, after)
    return tracker


def recover_interrupted(ctx: HostContext, cids: Sequence[str]) -> Dict[str, PodnetError]:
    """Undo the ADDs a killed run left half-done (see _intent) before planning: their
    veth, IP reservation and rules have no cache entry, so the plan would ADD again and
    trip over them. A killed ADD never left a cache entry, so check mode (which skips
    this) still predicts the same attach. Returns, per container, why its recovery
    failed (that container is then not changed; the others are)."""
    failed: Dict[str, PodnetError] = {}
    for cid in sorted(set(cids)):
        try:
            for intent in _intent.pending(ctx, cid):
                _attach.recover_interrupted(ctx, intent)
        except PodnetError as exc:
            failed[cid] = exc
    return failed


def requests(ctx: HostContext, items: Sequence[Any]) -> List[EntryRequest]:
    """The validated entries (built before a rootless session joins the holder: see
    EntryRequest); entries already validated pass through."""
    return [item if isinstance(item, EntryRequest) else EntryRequest(ctx, dict(item), i)
            for i, item in enumerate(items)]


# --- the module: cni_attachment, one entry or a batch ---

class ConnectTask:
    """The task: the entries (dicts, then ``reqs``), whether it is the single form, the
    worker count, and after recovery the containers that cannot be changed (``refused``)."""

    def __init__(self, items: Sequence[Any], workers: int = DEFAULT_WORKERS, single: bool = False,
                 check_mode: bool = False) -> None:
        self.items = list(items)
        self.workers = workers
        self.single = single
        self.check_mode = check_mode
        self.reqs: List[EntryRequest] = []
        self.refused: Optional[Dict[str, PodnetError]] = None


class ConnectPlan(Plan):
    """The entries' plans, their actions in order; the diff (by entry key) shows what ran."""

    def __init__(self, task: ConnectTask, entries: Sequence[EntryPlan]) -> None:
        super().__init__()
        self.request = task
        self.entries = list(entries)
        self.actions = [a for p in self.entries for a in p.actions]

    @property
    def changed(self) -> bool:
        return any(p.changed for p in self.entries)

    def get_before_after(self) -> Dict[str, Any]:
        return diff(self.entries, self.request.check_mode).get_before_after()


class CniAttachment(ModuleLogic):
    """cni_attachment: validate every entry, plan them all (under every container's lock in
    a real run, after undoing interrupted ADDs), execute per container, report per entry."""

    def options(self, module: Any) -> ConnectTask:
        p = module.params
        if p["attachments"] is None:
            missing = [k for k in ("container_id", "network") if not p[k]]
            if missing:
                raise ValidationError("missing required arguments: %s (or use attachments)"
                                      % ", ".join(missing))
            items = [{k: p[k] for k in SINGLE_KEYS}]
            items[0].update(verify=p["verify"], state=p["state"])
        else:
            items = []
            for item in p["attachments"]:
                item = dict(item)
                if item.get("verify") is None:
                    item["verify"] = p["verify"]
                if not item.get("state"):
                    item["state"] = p["state"]
                items.append(item)
        if p["workers"] < 1:
            raise ValidationError("workers must be at least 1, got %d" % p["workers"])
        return ConnectTask(items, p["workers"], p["attachments"] is None, module.check_mode)

    def request(self, ctx: HostContext, options: ConnectTask) -> ConnectTask:
        options.reqs = requests(ctx, options.items)  # before a rootless session joins the holder
        return options

    @contextmanager
    def guard(self, ctx: HostContext, request: ConnectTask) -> Iterator[None]:
        if not request.reqs:
            yield
            return
        # plan and execute under every container's lock: nothing changes in between
        ids = [r.container_id for r in request.reqs]
        with _concurrency.container_locks(ctx, ids):
            request.refused = recover_interrupted(ctx, ids)
            yield

    def plan(self, ctx: HostContext, request: ConnectTask) -> ConnectPlan:
        if not request.reqs:
            return ConnectPlan(request, [])
        return ConnectPlan(request, plan_entries(ctx, request.reqs, refused=request.refused))

    def predict(self, ctx: HostContext, plan: ConnectPlan) -> List[Dict[str, Any]]:
        return [entry_result(e, True, len(plan.entries) == 1) for e in plan.entries]

    def execute(self, ctx: HostContext, plan: ConnectPlan) -> List[Dict[str, Any]]:
        if plan.entries:
            execute(ctx, plan.entries, plan.request.workers)
        return [entry_result(e, False, len(plan.entries) == 1) for e in plan.entries]

    def result(self, ctx: HostContext, plan: ConnectPlan, outcome: List[Dict[str, Any]],
               check_mode: bool) -> Dict[str, Any]:
        failed = [r for r in outcome if r["failed"]]
        out = {"changed": any(r["changed"] for r in outcome),
               "actions": [a for r in outcome for a in r["actions"]],
               "results": outcome, "failed_entries": len(failed), "warnings": list(ctx.warnings)}
        for r in outcome:
            out["warnings"].extend("%s/%s: %s" % (r["container_id"], r["network"], w)
                                   for w in r.pop("warnings", []))
        if plan.request.single:
            out.update(attachment=outcome[0]["attachment"], interface=outcome[0]["interface"],
                       netns=outcome[0]["netns"])
        if failed:
            if len(outcome) == 1:
                out.update({k: v for k, v in failed[0].items() if k not in ("msg", "changed", "failed")})
                out["msg"] = failed[0]["msg"]
            else:
                out["msg"] = batch_failed_msg("attachments", [
                    ("%s/%s" % (r["container_id"], r["network"]), r["msg"]) for r in failed], len(outcome))
        return out


LOGIC = CniAttachment()
