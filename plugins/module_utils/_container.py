# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
from ansible_collections.podnet.cni.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import Unreadable, unreadable_error
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

NETWORK_MODES = C.NETWORK_MODES
# the modes without a namespace of the container's own and without CNI calls: the host's
# (host), another container's (container:<id>), an existing one used as it is (ns:<path>)
SHARED_KINDS = ("host", "container", "ns")
SHARED_ORIGIN = "shared"  # the netns_origin of a record of such a mode


def mode_kind(network_mode: Optional[str]) -> str:
    """bridge, none, slirp4netns, host, container or ns (of a network_mode value)."""
    mode = network_mode or "bridge"
    for prefix in ("container:", "ns:"):
        if mode.startswith(prefix):
            return prefix[:-1]
    return mode


ATTACHED_BY_US = _state.BY_CONTAINER_NETNS  # see _state: who attached a network
# the netns origins whose mount in our netns dir is ours to remove (never "existing")
OURS = ("created", "pinned")
# the keys of a networks entry given as a dict (documented as the option's suboptions)
NETWORK_ENTRY_KEYS = ("name", "aliases", "interface", "ips", "mac")


class ContainerRequest:
    """The validated module parameters of container_netns."""

    def __init__(self, ctx: HostContext, container_id: str, name: Optional[str] = None,
                 netns: Optional[str] = None, pid: Optional[int] = None,
                 network_mode: str = "bridge", networks: Sequence[Any] = (),
                 port_mappings: Sequence[Dict[str, Any]] = (), static_ip: Optional[str] = None,
                 static_mac: Optional[str] = None, state: str = "present",
                 slirp4netns_options: Optional[Dict[str, Any]] = None,
                 purge_networks: bool = False, force: bool = False) -> None:
        self.container_id = _validate.container_id(container_id)
        self.name = _validate.container_id(name, "name") if name else self.container_id
        self.force = bool(force)
        recorded = None
        self.recorded_kind: Optional[str] = None  # absent: the recorded mode's kind
        if netns is None:
            rec = _state.load(ctx.state_dir, self.container_id) or {}
            recorded = rec.get("netns")
            if state == "absent" and rec:
                self.recorded_kind = mode_kind(rec.get("network_mode"))
            if state == "present" and recorded != ctx.netns_path(_netns.legacy_default_name(
                    self.container_id)):
                # present keeps the default name, except the one an id longer than 64
                # characters got before names were made collision-free (its namespace lives)
                recorded = None
            # absent without naming the namespace: the one recorded for the container (it
            # may not be the default), so its attachments are not taken for stale
        self.netns = recorded if isinstance(recorded, str) and recorded else \
            ctx.netns_path(netns) if netns else ctx.default_netns(self.container_id)
        if pid is not None and (isinstance(pid, bool) or int(pid) < 1):
            raise ValidationError("invalid pid %r" % (pid,), value=pid)
        self.pid = int(pid) if pid is not None else None
        self.kind = mode_kind(network_mode) if isinstance(network_mode, str) else ""
        if self.kind not in ("bridge", "none", "slirp4netns") + SHARED_KINDS:
            raise ValidationError("invalid network_mode %r: use one of %s"
                                  % (network_mode, ", ".join(NETWORK_MODES)), value=network_mode)
        self.network_mode = network_mode
        self.joins: Optional[str] = None  # container:<id>: the owner of the namespace
        if self.kind in SHARED_KINDS:
            self._shared_mode(ctx, network_mode, netns, state, port_mappings)
        if state == "present":
            # the host's namespace, asked here too: a rootless module cannot follow another
            # process's namespace link once it has joined the holder's user namespace
            if self.pid is not None:
                ctx.check_pid(self.pid)  # rootless: whose process it is, said first
                ctx.refuse_host_netns("/proc/%d/ns/net" % self.pid, pid=self.pid)
            if _netns.is_proc_link(self.netns):
                ctx.refuse_host_netns(self.netns)
        self.state = state
        if not isinstance(purge_networks, bool):
            raise ValidationError("invalid purge_networks %r: true or false" % (purge_networks,),
                                  value=purge_networks)
        self.purge_networks = purge_networks
        self.slirp4netns_options = _slirpmode.declared_options(slirp4netns_options)
        self.port_mappings = _validate.port_mappings(port_mappings)
        # the ports its own slirp4netns forwards (slirp4netns mode; a joiner: its owner's),
        # shown in network_settings.Ports as the bridge mode's CNI port mappings are
        self.slirp_ports: List[Dict[str, Any]] = _validate.cni_port_mappings(self.port_mappings) \
            if self.kind == "slirp4netns" else []
        self.static_ip = _validate.ip(static_ip, "static_ip") if static_ip else None
        self.static_mac = _validate.mac(static_mac) if static_mac else None
        self.entries = [self._entry(n) for n in networks or []]
        names = [e["name"] for e in self.entries]
        for n in names:
            if names.count(n) > 1:
                raise ValidationError("network %r is listed twice" % n, value=n)
        if network_mode != "bridge" and self.entries:
            raise ValidationError("networks are only used with network_mode=bridge, not %r"
                                  % network_mode, value=network_mode)
        if network_mode == "bridge" and state == "present" and not self.entries:
            raise ValidationError("network_mode=bridge needs at least one network in networks")
        explicit = [e["interface"] for e in self.entries if e["interface"]]
        for i in explicit:
            if explicit.count(i) > 1:
                raise ValidationError("interface name %r is used twice" % i, value=i)

    def _shared_mode(self, ctx: HostContext, mode: str, netns: Optional[str], state: str,
                     port_mappings: Sequence[Any]) -> None:
        """host, container:<id>, ns:<path>: what they name, and what they cannot have."""
        what = "network_mode %s" % mode
        if self.kind == "container":
            self.joins = _validate.container_id(mode[len("container:"):], "the container of %s" % what)
            if self.joins == self.container_id:
                raise ValidationError("invalid %s: a container cannot join its own namespace" % what,
                                      value=mode)
        elif self.kind == "ns":
            path = mode[len("ns:"):]
            if not path.startswith("/"):
                raise ValidationError("invalid %s: the namespace must be an absolute path" % what,
                                      value=mode)
            self.netns = ctx.netns_path(path)  # normalised, no '..' (ValidationError)
        if state != "present":
            return
        if netns is not None and not (self.kind == "ns" and ctx.netns_path(netns) == self.netns):
            raise ValidationError("netns cannot be used with %s: the namespace is %s" % (
                what, {"host": "the host's", "container": "the one of container %s" % self.joins,
                       "ns": "the one it names"}[self.kind]), value=netns)
        if self.pid is not None:
            raise ValidationError("pid cannot be used with %s (it brings its namespace)" % what,
                                  value=self.pid)
        if port_mappings:
            raise ValidationError(
                "port_mappings cannot be used with %s: %s" % (what, {
                    "host": "the process binds host ports itself",
                    "container": "ports are mapped on the networks of container %s" % self.joins,
                    "ns": "the namespace is used as it is (no CNI calls)"}[self.kind]),
                value=mode)
        if self.kind == "host":
            self.netns = ""

    @staticmethod
    def _entry(item: Any) -> Dict[str, Any]:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise ValidationError("invalid network entry %r: a network name, or a dict with "
                                  "'name' and the keys %s" % (item, ", ".join(NETWORK_ENTRY_KEYS[1:])),
                                  value=item)
        unknown = _validate.unknown_keys(item, NETWORK_ENTRY_KEYS)
        if unknown:
            raise ValidationError("invalid network entry %r: %s" % (item, unknown), value=item)
        ips = item.get("ips") or []
        if isinstance(ips, str):
            ips = [ips]
        return {"name": item["name"],
                "interface": _validate.ifname(item["interface"]) if item.get("interface") else None,
                "ips": _validate.ip_list(ips), "mac": _validate.mac(item["mac"]) if item.get("mac") else None,
                "aliases": _validate.aliases(item.get("aliases"))}

    def specs(self, current: Sequence[cnicache.CacheEntry],
              reserved: Sequence[str] = ()) -> List[_attach.AttachmentSpec]:
        """Attachment specs with interface names: explicit, else the one a network already
        has, else eth<index> when free, else the lowest free ethN (``reserved``: the
        interfaces of networks that stay without being listed)."""
        used = {e["interface"] for e in self.entries if e["interface"]} | set(reserved)
        names: List[Optional[str]] = []
        for e in self.entries:
            name = e["interface"]
            if name is None:
                for entry in current:
                    if entry.network == e["name"] and entry.ifname not in used:
                        name = entry.ifname
                        used.add(name)
                        break
            names.append(name)
        for i, e in enumerate(self.entries):
            if names[i] is None:
                n = i if "eth%d" % i not in used else 0
                while "eth%d" % n in used:
                    n += 1
                names[i] = "eth%d" % n
                used.add(names[i])
        specs = []
        for i, e in enumerate(self.entries):
            ips = e["ips"] or ([self.static_ip] if i == 0 and self.static_ip else [])
            mac = e["mac"] or (self.static_mac if i == 0 else None)
            pms = self.port_mappings if i == 0 else []
            specs.append(_attach.AttachmentSpec(e["name"], names[i] or "", ips, mac, e["aliases"],
                                                pms))
        return specs


class Plan:
    def __init__(self) -> None:
        self.actions: List[Dict[str, Any]] = []
        self.diff = DifferenceTracker()
        self.record: Optional[Dict[str, Any]] = None
        self.specs: List[_attach.AttachmentSpec] = []

    def add(self, action: str, **kw: Any) -> None:
        item = {"action": action}
        item.update(kw)
        self.actions.append(item)

    @property
    def changed(self) -> bool:
        return bool(self.actions) or self.diff.has_difference


def _view_of_entries(entries: Sequence[cnicache.CacheEntry]) -> Dict[str, Any]:
    return {e.network: _attach.entry_spec_view(e) for e in entries}


def _record_view(record: Optional[Dict[str, Any]], netns_state: str, netns: str) -> Dict[str, Any]:
    return {"netns": netns if netns_state == "mounted" else None,
            "name": (record or {}).get("name"),
            "network_mode": (record or {}).get("network_mode")}


def plan(ctx: HostContext, req: ContainerRequest,
         view: Optional[cnicache.CacheView] = None, leaving: Sequence[str] = (),
         batch: Optional[Mapping[str, ContainerRequest]] = None) -> Plan:
    """Compare the request with the record, the kernel and the cache; no side effects.

    ``view``: the cache as a batch read it once (else read here). ``leaving``: the
    containers the same batch removes (joiners of this one that need no ``force``).
    ``batch``: the requests of the containers the same batch makes present (an owner a
    joiner can join although it does not exist yet: the batch runs it first)."""
    p = Plan()
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


def _plan_shared(ctx: HostContext, req: ContainerRequest, p: Plan, record: Optional[Dict[str, Any]],
                 own: Sequence[Any]) -> Plan:
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


def _plan_joiners(ctx: HostContext, req: ContainerRequest, p: Plan, leaving: Sequence[str]) -> None:
    """Removing a container whose namespace others joined (network_mode container:<id>):
    refused unless force, which forgets the joiners' records too (they lose their network
    with the namespace). Joiners the same batch removes need no force."""
    records, dummy = _state.scan(ctx.state_dir)
    joiners = sorted(cid for cid, rec in records.items()
                     if rec.get("joins") == req.container_id and cid not in leaving)
    if joiners and not req.force:
        raise ValidationError("container %s cannot be removed: %s joined its network namespace "
                              "(network_mode container:%s); remove them first, or use force=true "
                              "(which removes their records too)"
                              % (req.container_id, ", ".join(joiners), req.container_id),
                              value=req.container_id, joiners=joiners)
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


def _record_networks(p: Plan, record: Optional[Dict[str, Any]],
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


def execute(ctx: HostContext, req: ContainerRequest, p: Plan) -> Dict[str, Any]:
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


def _save_origin(ctx: HostContext, p: Plan) -> None:
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
