# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Over 450 lines: one container's plan and execute share their helpers (record, origin, joiners); options: _container_request.
"""One container's namespace and networks: desired state → plan → execution.

The plan is computed from the request, the container record, the kernel (is the
netns mounted?) and the libcni cache (which attachments exist). Check mode returns
the plan; execution runs it under the container lock and undoes what it did in
this run if a step fails.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _intent, _netns, _state, _validate
from ansible_collections.podnet.cni.plugins.module_utils import _slirpmode
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import Unreadable, unreadable_error
from ansible_collections.podnet.cni.plugins.module_utils._pending import warn_once
from ansible_collections.podnet.cni.plugins.module_utils._plan import Plan
from ansible_collections.podnet.cni.plugins.module_utils._container_request import (
    ATTACHED_BY_US, OURS, SHARED_KINDS, SHARED_ORIGIN, ContainerRequest, mode_kind)


class ContainerPlan(Plan):
    """One container's plan: its actions and diff, the record it leaves, and the
    attachments it wants (``specs``)."""

    def __init__(self) -> None:
        super().__init__()
        self.record: Optional[Dict[str, Any]] = None
        self.specs: List[_attach.AttachmentSpec] = []


def _view_of_entries(entries: Sequence[cnicache.CacheEntry]) -> Dict[str, Any]:
    return {e.network: _attach.entry_spec_view(e) for e in entries}


def _record_view(record: Optional[Dict[str, Any]], netns_state: str, netns: str) -> Dict[str, Any]:
    return {"netns": netns if netns_state == "mounted" else None,
            "name": (record or {}).get("name"),
            "network_mode": (record or {}).get("network_mode")}


def plan(ctx: HostContext, req: ContainerRequest,
         view: Optional[cnicache.CacheView] = None, leaving: Sequence[str] = (),
         batch: Optional[Mapping[str, ContainerRequest]] = None) -> ContainerPlan:
    """Compare the request with the record, the kernel and the cache; no side effects.

    ``view``: the cache as a batch read it once (else read here). ``leaving``: the
    containers the same batch removes (joiners of this one that need no ``force``).
    ``batch``: the requests of the containers the same batch makes present (an owner a
    joiner can join although it does not exist yet: the batch runs it first)."""
    p = ContainerPlan()
    record = _state.load(ctx.state_dir, req.container_id)  # StateError when unusable
    if req.state == "present" and req.kind in SHARED_KINDS:
        # no namespace of its own, so none of the checks below: what it joins is resolved
        req.netns = _shared_netns(ctx, req, batch or {})
    netns_state = _netns_state(ctx, req, record)
    if view is not None:
        entries, unreadable = view.container_entries(req.container_id), view.container_unreadable(req.container_id)
    else:
        entries, unreadable = cnicache.scan(ctx.cache_dir, container_id=req.container_id)
    unreadable += _intent.scan(ctx, req.container_id)[1]
    if unreadable:
        # an unusable file may hold the only record of one of its attachments: change
        # nothing of this container rather than guess (a new ADD over its interface, a
        # DEL that releases its address, an absent that forgets its rules)
        raise unreadable_error("container %s" % req.container_id, unreadable)
    live = [e for e in entries if netns_state == "mounted" and e.netns == req.netns]
    stale = [e for e in entries if e not in live]
    before = _record_view(record, netns_state, req.netns)
    before["networks"] = _view_of_entries(live)
    # ADDs a killed run left half-done: undo them first (see _intent)
    interrupted = _intent.pending(ctx, req.container_id)
    if req.state == "present" and req.kind in SHARED_KINDS:
        return _plan_shared(ctx, req, p, record, entries + interrupted)
    for e in interrupted:
        p.add("recover_interrupted", network=e.network, interface=e.ifname)
    shared = mode_kind((record or {}).get("network_mode")) in SHARED_KINDS
    if req.state == "absent":
        _plan_joiners(ctx, req, p, leaving)
    if req.state == "absent" and shared:
        # host, container:<id>, ns:<path>: the namespace is not the container's; only what
        # it holds itself (attachments connected to it by id, its record) goes
        for e in entries:
            p.add("detach", network=e.network, interface=e.ifname, stale=_gone(ctx, e, live))
        p.add("forget_record")
        p.diff.add("container", dict(_record_view(record, "mounted", (record or {}).get("netns")),
                                     networks=before["networks"]),
                   {"netns": None, "name": None, "network_mode": None, "networks": {}})
        return p
    if req.state == "absent":
        for e in entries:
            p.add("detach", network=e.network, interface=e.ifname, stale=_gone(ctx, e, live))
        # network_mode slirp4netns: its own slirp4netns goes with the container
        for action, kw in _slirpmode.plan_steps(ctx.state_dir, req.container_id, req.netns, (),
                                                False, False):
            p.add(action, **kw)
        # a namespace we made, or pinned from a pid (the mount is ours; the process keeps
        # its namespace), is unmounted as podman's teardownNetNS does; one that existed
        # before is never touched
        created = (record or {}).get("netns_origin") in OURS and (record or {}).get("netns") == req.netns
        if (created and netns_state != "absent") or (netns_state == "stale" and record is not None):
            why = ctx.not_removable(req.netns)
            if why is None:
                p.add("remove_netns", netns=req.netns)
            else:  # trust rules: never unmount or remove what is not ours
                ctx.warnings.append("left netns %s in place: %s" % (req.netns, why))
        if record is not None and not p.actions:
            p.add("forget_record")
        # a namespace we leave in place (pinned, or not ours) stays in the view, so a
        # second absent run shows no difference
        removing = any(a["action"] == "remove_netns" for a in p.actions)
        p.diff.add("container", before, {"netns": None if removing else before["netns"],
                                         "name": None, "network_mode": None, "networks": {}})
        return p

    for e in stale:
        p.add("detach", network=e.network, interface=e.ifname, stale=_gone(ctx, e, live))
    old_netns = (record or {}).get("netns")
    if old_netns and old_netns != req.netns and record.get("netns_origin") in OURS \
            and ctx.netns_status(old_netns) == "mounted" and ctx.not_removable(old_netns) is None:
        p.add("remove_netns", netns=old_netns)  # ours, under the name asked for before
    _check_netns(ctx, req, netns_state)
    if netns_state != "mounted":
        if netns_state == "stale":
            p.add("remove_stale_netns", netns=req.netns)
        if req.pid is not None:
            p.add("pin_netns", netns=req.netns, pid=req.pid)
        else:
            p.add("create_netns", netns=req.netns)

    attached_by = _attached_by(record)
    kept = _kept(req, live, attached_by)
    p.specs = req.specs(live, [e.ifname for e in kept])
    wanted = {(s.network, s.ifname) for s in p.specs}
    for e in live:
        if (e.network, e.ifname) not in wanted and e not in kept:
            p.add("detach", network=e.network, interface=e.ifname, stale=False)
    live_by_key = {(e.network, e.ifname): e for e in live}
    taken_ifnames = {e.ifname: e.network for e in live
                     if (e.network, e.ifname) in wanted or e in kept}
    other_entries: Optional[List[cnicache.CacheEntry]] = None
    other_unreadable: List[Unreadable] = []
    after_networks: Dict[str, Any] = {}
    for spec in p.specs:
        conf = ctx.get_network(spec.network)
        owner = taken_ifnames.get(spec.ifname)
        if owner and owner != spec.network:
            raise ValidationError("interface %s of container %s is already used by network %s"
                                  % (spec.ifname, req.container_id, owner), value=spec.ifname)
        entry = live_by_key.get((spec.network, spec.ifname))
        if spec.port_mappings and view is not None:  # only who holds these ports
            other_entries = view.port_holders(_validate.cni_port_mappings(spec.port_mappings))
            other_unreadable = view.all_entries()[1]
        elif spec.port_mappings and other_entries is None:
            other_entries, other_unreadable = cnicache.scan(ctx.cache_dir)
        _attach.preflight(ctx, conf, spec, req.container_id, other_entries, other_unreadable)
        if entry is None:
            if netns_state == "mounted" and spec.ifname not in {e.ifname for e in live + interrupted}:
                # (an interface of an attachment detached, or of an ADD undone, first is
                # no obstacle)
                _attach.refuse_existing_interface(conf, req.netns, spec.ifname, in_thread=not ctx.rootless)
            p.add("attach", network=spec.network, interface=spec.ifname)
            after_networks[spec.network] = _attach.spec_view(spec)
        else:
            diffs = _attach.mismatches(spec, entry)
            if diffs:
                p.add("reattach", network=spec.network, interface=spec.ifname, reasons=diffs)
            after_networks[spec.network] = _attach.spec_view(spec, _attach.entry_spec_view(entry))
    if req.network_mode == "slirp4netns" or (record or {}).get("network_mode") == "slirp4netns":
        for action, kw in _slirpmode.plan_steps(ctx.state_dir, req.container_id, req.netns,
                                                req.port_mappings, req.network_mode == "slirp4netns",
                                                netns_state != "mounted", req.slirp4netns_options):
            p.add(action, **kw)
    for e in kept:  # connected by cni_attachment (or another tool): stays as it is
        after_networks.setdefault(e.network, _attach.entry_spec_view(e))
    after = {"netns": req.netns, "name": req.name, "network_mode": req.network_mode,
             "networks": after_networks}
    p.diff.add("container", before, after)
    p.record = {"container_id": req.container_id, "name": req.name, "netns": req.netns,
                "netns_origin": _origin(record, req, netns_state), "pid": req.pid,
                "netns_ident": list(_netns.ident(req.netns) or ()) or None
                if _netns.is_proc_link(req.netns) else None,
                "network_mode": req.network_mode,
                "networks": _record_networks(p, record, attached_by, kept),
                "port_mappings": req.port_mappings, "static_ip": req.static_ip,
                "static_mac": req.static_mac}
    # nothing to do on the host, but the record is missing or says something else
    if not p.actions and (record is None or _record_core(record) != _record_core(p.record)):
        p.add("save_record")
    return p


def _shared_netns(ctx: HostContext, req: ContainerRequest,
                  batch: Mapping[str, ContainerRequest]) -> str:
    """The namespace a host/container:/ns: container uses ("" for the host's);
    ValidationError naming the problem when it cannot be used. ``batch``: the present
    requests of the same batch (an owner there is joined as it will be)."""
    what = "network_mode %s" % req.network_mode
    if req.kind == "host":
        return ""
    if req.kind == "ns":
        if ctx.netns_status(req.netns) != "mounted":
            raise ValidationError("invalid %s: %s is not a live network namespace"
                                  % (what, req.netns), value=req.network_mode)
        ctx.refuse_host_netns(req.netns)  # never a container's, as everywhere
        return req.netns
    owner = req.joins or ""
    planned = batch.get(owner)
    if planned is not None:  # made (or kept) by the same batch, before this joiner
        _refuse_unjoinable(what, owner, planned.kind, planned.joins, req.network_mode)
        req.slirp_ports = list(planned.slirp_ports)
        return planned.netns
    try:
        record = _state.load(ctx.state_dir, owner)
    except PodnetError as exc:
        raise ValidationError("invalid %s: the record of container %s cannot be used: %s"
                              % (what, owner, exc), value=req.network_mode) from None
    if record is not None:
        _refuse_unjoinable(what, owner, mode_kind(record.get("network_mode")), record.get("joins"),
                           req.network_mode)
        netns = record.get("netns") or ""
        req.slirp_ports = _slirpmode.port_mappings_of(record)
    else:  # another tool's container: its namespace as the libcni cache knows it
        netns = next((e.netns for e in cnicache.list_entries(ctx.cache_dir, container_id=owner)
                      if e.netns and ctx.netns_status(e.netns) == "mounted"), "")
    if not netns or ctx.netns_status(netns) != "mounted":
        raise ValidationError("invalid %s: container %s is not present (no record with a live "
                              "network namespace in %s, no libcni cache entry with one in %s)"
                              % (what, owner, ctx.state_dir, ctx.cache_dir), value=req.network_mode)
    ctx.refuse_host_netns(netns)
    return netns


def _refuse_unjoinable(what: str, owner: str, kind: str, joins: Optional[str], mode: str) -> None:
    """An owner that shares another's namespace, or the host's, cannot be joined."""
    if kind == "container":
        raise ValidationError("invalid %s: container %s itself shares the namespace of "
                              "container %s: join that one" % (what, owner, joins), value=mode)
    if kind == "host":
        raise ValidationError("invalid %s: container %s has network_mode host (no namespace "
                              "of its own to join)" % (what, owner), value=mode)


def _plan_shared(ctx: HostContext, req: ContainerRequest, p: ContainerPlan, record: Optional[Dict[str, Any]],
                 own: Sequence[Any]) -> ContainerPlan:
    """host, container:<id>, ns:<path>: no CNI calls, no namespace made or removed; the
    record says what the container uses. A container that has a namespace or attachments
    of its own is removed first (state=absent), never switched over them."""
    kind = mode_kind((record or {}).get("network_mode"))
    if record is not None and kind not in SHARED_KINDS or own:
        why = ("it has attachments of its own (%s)" % ", ".join(sorted({e.network for e in own}))
               if own else "it has network_mode %s with a namespace of its own"
               % (record or {}).get("network_mode"))
        raise ValidationError("container %s cannot change to network_mode %s: %s; remove it "
                              "first (state=absent)" % (req.container_id, req.network_mode, why),
                              value=req.network_mode)
    before = {"netns": (record or {}).get("netns"), "name": (record or {}).get("name"),
              "network_mode": (record or {}).get("network_mode"), "networks": {}}
    after = {"netns": req.netns or None, "name": req.name, "network_mode": req.network_mode,
             "networks": {}}
    p.diff.add("container", before, after)
    p.record = {"container_id": req.container_id, "name": req.name, "netns": req.netns or None,
                "netns_origin": SHARED_ORIGIN, "pid": None, "network_mode": req.network_mode,
                "joins": req.joins, "networks": [], "port_mappings": [], "static_ip": None,
                "static_mac": None}
    if record is None or _record_core(record) != _record_core(p.record) \
            or record.get("joins") != req.joins:
        p.add({"host": "use_host_netns", "container": "join_netns", "ns": "use_netns"}[req.kind],
              netns=req.netns or None, **({"container": req.joins} if req.joins else {}))
    return p


def _plan_joiners(ctx: HostContext, req: ContainerRequest, p: ContainerPlan, leaving: Sequence[str]) -> None:
    """Removing a container whose namespace others joined (network_mode container:<id>):
    refused unless force, which forgets the joiners' records too (they lose their network
    with the namespace). Joiners the same batch removes need no force."""
    records, unreadable = _state.scan(ctx.state_dir)
    for item in unreadable:  # may be a joiner's: it would lose its network with the namespace
        warn_once(ctx.warnings, "cannot be used (left alone): %s" % item)
    joiners = sorted(cid for cid, rec in records.items()
                     if rec.get("joins") == req.container_id and cid not in leaving)
    if joiners and not req.force:
        raise ValidationError("container %s cannot be removed: %s joined its network namespace "
                              "(network_mode container:%s); remove them first, or use force=true "
                              "(which removes their records too)"
                              % (req.container_id, ", ".join(joiners), req.container_id),
                              value=req.container_id, joiners=joiners)
    locked = ctx.locked_ids
    unlocked = [cid for cid in joiners if locked is not None and cid not in locked]
    if unlocked:  # joined after the task took its locks (_container_batch.lock_ids)
        raise ValidationError("container %s joined the network namespace of container %s while "
                              "this task was starting: run the task again (nothing was changed)"
                              % (", ".join(unlocked), req.container_id),
                              value=req.container_id, joiners=unlocked)
    for cid in joiners:
        p.add("forget_joiner", container=cid)


def _attached_by(record: Optional[Dict[str, Any]]) -> Dict[Tuple[str, str], str]:
    """(network, interface) → who attached it, of every network the record names (a
    record written before ``attached_by`` was kept: container_netns)."""
    out: Dict[Tuple[str, str], str] = {}
    for net in (record or {}).get("networks") or []:
        by = net.get("attached_by")
        out[(net["network"], net.get("interface") or "")] = by if isinstance(by, str) and by \
            else ATTACHED_BY_US
    return out


def _kept(req: ContainerRequest, live: Sequence[cnicache.CacheEntry],
          attached_by: Dict[Tuple[str, str], str]) -> List[cnicache.CacheEntry]:
    """The live attachments that stay although the list does not name their network:
    those container_netns did not attach itself (cni_attachment's, another tool's),
    unless ``purge_networks``."""
    if req.purge_networks:
        return []
    listed = {e["name"] for e in req.entries}
    return [e for e in live if e.network not in listed
            and attached_by.get((e.network, e.ifname), "") != ATTACHED_BY_US]


def _record_networks(p: ContainerPlan, record: Optional[Dict[str, Any]],
                     attached_by: Dict[Tuple[str, str], str],
                     kept: Sequence[cnicache.CacheEntry]) -> List[Dict[str, Any]]:
    """The record's networks after the plan: the listed ones (attached by whoever made
    the attachment that stays; container_netns for what it attaches now), then the
    recorded ones that stay unlisted."""
    touched = {(a["network"], a["interface"]) for a in p.actions if a["action"] in ("attach", "reattach")}
    nets = []
    for spec in p.specs:
        key = (spec.network, spec.ifname)
        item = spec.to_dict()
        item["attached_by"] = ATTACHED_BY_US if key in touched else attached_by.get(key, ATTACHED_BY_US)
        nets.append(item)
    stay = {(e.network, e.ifname) for e in kept}
    for net in (record or {}).get("networks") or []:
        if (net["network"], net.get("interface") or "") in stay:
            nets.append(dict(net))
    return nets


def _netns_state(ctx: HostContext, req: ContainerRequest, record: Optional[Dict[str, Any]]) -> str:
    """The status of the request's namespace. A /proc/PID/ns/net link whose record
    remembers another namespace (its process exited, the pid was reused) is gone."""
    state = ctx.netns_status(req.netns)
    if state == "mounted" and _netns.is_proc_link(req.netns) and record \
            and record.get("netns") == req.netns and record.get("netns_ident"):
        if list(_netns.ident(req.netns) or ()) != list(record["netns_ident"]):
            return "absent"
    return state


def _check_netns(ctx: HostContext, req: ContainerRequest, netns_state: str) -> None:
    """Everything about the namespace the run would refuse, refused in check mode too:
    a pid that is gone or lives in the host's namespace, a namespace that is the host's,
    a path that is no namespace and cannot be made one (outside our netns dir, a file
    with data, a dead process's link)."""
    if req.pid is not None:
        source = ctx.pid_netns(req.pid)
        if netns_state == "mounted" and not _netns.same_netns(req.netns, source):
            raise ValidationError("netns %s exists but is not the namespace of pid %d; remove the "
                                  "container first (state=absent)" % (req.netns, req.pid),
                                  value=req.pid)
    if netns_state == "mounted":
        ctx.refuse_host_netns(req.netns)
        return
    why = ctx.not_creatable(req.netns)
    if why:
        raise ValidationError("netns %s cannot be used: %s" % (req.netns, why), value=req.netns)


def _gone(ctx: HostContext, entry: cnicache.CacheEntry, live: Sequence[cnicache.CacheEntry]) -> bool:
    """True when the attachment's namespace no longer exists (DEL then gets netns "")."""
    return entry not in live and ctx.netns_status(entry.netns) != "mounted"


def _record_core(record: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("name", "netns", "network_mode", "networks", "port_mappings", "static_ip", "static_mac")
    core = {k: record.get(k) for k in keys}
    # a record from before attached_by says the same with it left out
    core["networks"] = [dict(n, attached_by=n.get("attached_by") or ATTACHED_BY_US)
                        for n in core["networks"] or []]
    return core


def _origin(record: Optional[Dict[str, Any]], req: ContainerRequest, netns_state: str) -> str:
    if netns_state == "mounted":
        if record and record.get("netns") == req.netns:
            return record.get("netns_origin", "existing")
        return "existing"
    return "pinned" if req.pid is not None else "created"


def execute(ctx: HostContext, req: ContainerRequest, p: ContainerPlan) -> Dict[str, Any]:
    """Run the plan; on failure undo this run's attachments and namespace, then raise."""
    log = _attach.OperationLog(ctx)
    created_here = False
    old_record = _state.load(ctx.state_dir, req.container_id)
    had_record = old_record is not None
    interrupted = {(e.network, e.ifname): e for e in _intent.pending(ctx, req.container_id)}
    entries = {(e.network, e.ifname): e
               for e in cnicache.list_entries(ctx.cache_dir, container_id=req.container_id)}
    specs = {(s.network, s.ifname): s for s in p.specs}
    warnings: List[str] = []
    try:
        for step in p.actions:
            action = step["action"]
            if action == "detach":
                entry = entries.pop((step["network"], step["interface"]), None)
                if entry is not None:
                    if step.get("stale"):  # its namespace is gone (or a stale file)
                        warnings += _attach.remove_gone(ctx, entry,
                                                        tolerate=_attach.tolerate_missing_rules)
                    else:
                        warnings += log.remove(entry, req.name, entry.netns,
                                               tolerate=_attach.tolerate_missing_rules)
            elif action == "remove_stale_netns":
                ctx.remove_netns(req.netns)
            elif action == "recover_interrupted":
                intent = interrupted.get((step["network"], step["interface"]))
                if intent is not None:
                    _attach.recover_interrupted(ctx, intent)
            elif action == "create_netns":
                _save_origin(ctx, p)
                ctx.create_netns(req.netns)
                created_here = True
                ctx.bring_lo_up(req.netns)
            elif action == "pin_netns":
                _save_origin(ctx, p)
                ctx.pin_netns(req.pid or 0, req.netns)
                created_here = True
                ctx.bring_lo_up(req.netns)
            elif action == "attach":
                spec = specs[(step["network"], step["interface"])]
                entries[(spec.network, spec.ifname)] = log.add(
                    ctx.get_network(spec.network), spec, req.container_id, req.name, req.netns)
            elif action == "reattach":
                spec = specs[(step["network"], step["interface"])]
                old = entries.pop((spec.network, spec.ifname))
                warnings += log.remove(old, req.name, old.netns, tolerate=_attach.tolerate_missing_rules)
                entries[(spec.network, spec.ifname)] = log.add(
                    ctx.get_network(spec.network), spec, req.container_id, req.name, req.netns)
            elif action == "remove_netns":
                ctx.remove_netns(step.get("netns") or req.netns)
            elif action == "start_slirp4netns":
                _slirpmode.start(ctx.state_dir, req.container_id, req.netns, req.port_mappings,
                                 options=req.slirp4netns_options, pid_ns=ctx.daemon_pid_ns())
            elif action == "update_hostfwds":
                _slirpmode.update_hostfwds(ctx.state_dir, req.container_id, req.port_mappings)
            elif action == "stop_slirp4netns":
                _slirpmode.stop(ctx.state_dir, req.container_id)
            elif action == "forget_joiner":
                _state.delete(ctx.state_dir, step["container"])
        if req.state == "absent":
            _state.delete(ctx.state_dir, req.container_id)
            return {"warnings": warnings, "entries": []}
        if any(a["action"] == "detach" and not a.get("stale") for a in p.actions):
            ctx.bring_lo_up(req.netns)  # as podman does after a disconnect
        _state.save(ctx.state_dir, p.record or {})
    except BaseException as exc:
        # absent goes on where it stopped next time; a change puts back what it took
        problems = log.rollback(put_back=req.state == "present")
        if created_here:
            try:
                ctx.remove_netns(req.netns)
                if not had_record:
                    _state.delete(ctx.state_dir, req.container_id)
            except PodnetError as rm_exc:
                problems.append(str(rm_exc))
        if isinstance(exc, PodnetError):
            if problems:
                exc.details["rollback_errors"] = problems
            if log.restored:
                exc.details["restored"] = log.restored
        if req.state == "present" and old_record is not None:
            _save_reality(ctx, req, old_record)
        elif req.state == "present" and not created_here:
            # a failed first run leaves no record (nor anything else of its own)
            _forget_quietly(ctx, req.container_id)
        raise
    ordered = [entries[(s.network, s.ifname)] for s in p.specs if (s.network, s.ifname) in entries]
    return {"warnings": warnings, "entries": ordered}


def _save_origin(ctx: HostContext, p: ContainerPlan) -> None:
    """Record that we create (or pin) the netns before doing it: a run killed right after
    would otherwise leave a namespace that looks foreign, which absent never removes."""
    _state.save(ctx.state_dir, dict(p.record or {}, networks=[]))


def _forget_quietly(ctx: HostContext, cid: str) -> None:
    try:
        _state.delete(ctx.state_dir, cid)
    except PodnetError:
        pass


def _save_reality(ctx: HostContext, req: ContainerRequest, old_record: Dict[str, Any]) -> None:
    """After a failed (rolled back) change of an existing container: its record from
    before the run, less the networks that are not attached any more."""
    live = {(e.network, e.ifname) for e in cnicache.list_entries(ctx.cache_dir, container_id=req.container_id)}
    record = dict(old_record)
    record["networks"] = [n for n in record.get("networks") or []
                          if (n["network"], n["interface"]) in live]
    try:
        _state.save(ctx.state_dir, record)
    except PodnetError:
        pass


def current_entries(ctx: HostContext, req: ContainerRequest,
                    cached: Optional[Sequence[cnicache.CacheEntry]] = None) -> List[cnicache.CacheEntry]:
    """Attachments of the container in the order of its record (``cached``: the
    container's cache entries as already read, else read here)."""
    if not req.netns or ctx.netns_status(req.netns) != "mounted":
        return []
    if req.joins and req.state == "present":  # the owner's, as podman's inspect shows them
        cached = cnicache.list_entries(ctx.cache_dir, container_id=req.joins)
    elif cached is None:
        cached = cnicache.list_entries(ctx.cache_dir, container_id=req.container_id)
    entries = [e for e in cached if e.netns == req.netns]
    order = {n: i for i, n in enumerate(e["name"] for e in req.entries)}
    return sorted(entries, key=lambda e: (order.get(e.network, len(order)), e.ifname))


def report(req: ContainerRequest, entries: Sequence[cnicache.CacheEntry], exists: bool) -> Dict[str, Any]:
    """netns, network_status and network_settings for the module result."""
    if not exists:
        return {"netns": None, "network_status": {}, "network_settings": {}}
    nets = [{"name": e.network, "interface": e.ifname, "result": e.result,
             "aliases": _attach.entry_spec_view(e)["aliases"]} for e in entries]
    pms: List[Dict[str, Any]] = list(req.slirp_ports)
    for e in entries:
        pms.extend(e.capability_args.get("portMappings") or [])
    return {"netns": req.netns,
            "network_status": {e.network: e.result for e in entries},
            "network_settings": cniresult.network_settings(req.netns, nets, pms)}


def container_exists(ctx: HostContext, req: ContainerRequest) -> bool:
    return bool(req.netns) and ctx.netns_status(req.netns) == "mounted" and os.path.exists(req.netns)
