# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Garbage collection of state that outlived its namespaces (after a reboot, a crash,
or a tool that removed a namespace without DEL).

Three kinds of leftovers, in this order:

1. libcni cache entries whose netns is not a live namespace: DEL with the cached
   config, args and result and an empty netns (the CNI spec's "the namespace is gone":
   plugins release what they hold outside it, the IP above all), then drop the entry;
2. container records whose netns is gone (and the dead netns file we created);
3. host-local reservations held by no cache entry — only in the dataDir of a network
   we can attribute (defined in ``cni_config_dir`` or in a cache entry), only when the
   file is older than ``min_age`` seconds (an ADD of another tool writes the
   reservation before its cache entry) and only under host-local's own lock.

An attachment whose netns is alive is never touched. ``plan`` has no side effects
(check mode); ``execute`` re-checks each item under the container lock.

What cannot be read is never pruned and never guessed at, and blocks nothing else:
unusable cache entries, intents and records are reported (``unreadable``), and a
reservation whose cache entry is unusable is kept (that entry may hold it). An entry
that names no namespace (neither a ``netns`` field nor a sandbox in its result) may be
alive: it is reported (``skipped``), not pruned.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _intent, _netns, _state, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext, read_reservation
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    ConfigError, PodnetError, StateError, ValidationError)
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import Unreadable, list_names
from ansible_collections.podnet.cni.plugins.module_utils._locking import file_lock
from ansible_collections.podnet.cni.plugins.module_utils._plan import Plan

# an ADD in flight (of a tool that does not take our lock) has a reservation and no cache
# entry yet for a few hundred ms; a reservation this young is never called orphaned
RESERVATION_MIN_AGE = 60.0
HOST_LOCAL_SKIP = ("lock",)


class Reservation(NamedTuple):
    """One host-local reservation file: ``<dataDir>/<network>/<ip>`` = "id\\r\\nifname"."""

    network: str
    ip: str
    container_id: str
    ifname: str
    path: str
    mtime: float

    def to_dict(self) -> Dict[str, Any]:
        return {"network": self.network, "ip": self.ip, "container_id": self.container_id,
                "interface": self.ifname, "path": self.path}


def _entry_report(entry: cnicache.CacheEntry) -> Dict[str, Any]:
    return {"network": entry.network, "container_id": entry.container_id,
            "interface": entry.ifname, "netns": entry.netns,
            "ips": cniresult.addresses(entry.result or {})}


def _skipped_report(entry: cnicache.CacheEntry) -> Dict[str, Any]:
    return {"network": entry.network, "container_id": entry.container_id,
            "interface": entry.ifname, "path": entry.path,
            "reason": "names no netns (no netns field, no sandbox in its result): it may be alive"}


class PrunePlan(Plan):
    """What is stale. ``actions``, in the order ``execute`` takes them: undo each
    interrupted ADD, detach each stale attachment, forget each record, release each
    orphaned reservation (set by ``plan`` from the lists it fills)."""

    def __init__(self) -> None:
        super().__init__()
        self.stale_entries: List[cnicache.CacheEntry] = []
        self.records: List[Dict[str, Any]] = []
        self.reservations: List[Reservation] = []
        self.unreadable: List[Unreadable] = []
        self.skipped: List[cnicache.CacheEntry] = []
        # ADDs that did not finish (their intent stays) and whose namespace is gone
        self.interrupted: List[_intent.Intent] = []

    def plan_actions(self) -> None:
        self.actions = (
            [dict(_entry_report(i), action="recover_interrupted") for i in self.interrupted]
            + [dict(_entry_report(e), action="detach_stale") for e in self.stale_entries]
            + [dict(r, action="forget_record") for r in self.records]
            + [dict(r.to_dict(), action="release_reservation") for r in self.reservations])

    def warnings(self) -> List[str]:
        return ["not pruned, cannot be used: %s" % u for u in self.unreadable]

    def to_dict(self) -> Dict[str, Any]:
        return {"attachments": [_entry_report(e) for e in self.stale_entries],
                "interrupted": [_entry_report(i) for i in self.interrupted],
                "records": [dict(r) for r in self.records],
                "reservations": [r.to_dict() for r in self.reservations],
                "unreadable": [u.to_dict() for u in self.unreadable],
                "skipped": [_skipped_report(e) for e in self.skipped],
                "errors": []}


def valid_id(cid: str) -> bool:
    try:
        _validate.container_id(cid)
        return True
    except ValidationError:
        return False


@contextmanager
def maybe_container_lock(ctx: HostContext, cid: str) -> Iterator[None]:
    """Our container lock when the id is one we could have made; other tools' ids (any
    string libcni accepts) cannot name a lock file safely and are not ours to race."""
    if valid_id(cid):
        with ctx.container_lock(cid):
            yield
    else:
        yield


# --- host-local reservations ---

def _attributable_dirs(ctx: HostContext, entries: Sequence[cnicache.CacheEntry]) -> List[Tuple[str, str]]:
    """(directory of reservations, network name) of every host-local network we know."""
    confs: List[cniconf.NetworkConfigList] = list(ctx.networks().values())
    for entry in entries:
        try:
            confs.append(_attach.conf_of_entry(ctx, entry))
        except (ConfigError, ValidationError):
            continue
    seen: Set[Tuple[str, str]] = set()
    out: List[Tuple[str, str]] = []
    for conf in confs:
        for data_dir, name in cniconf.iter_ipam_dirs(conf):
            item = (os.path.join(ctx.ipam_data_dir(data_dir), name), name)
            if item not in seen:
                seen.add(item)
                out.append(item)
    return out


def _read_reservation(directory: str, network: str, name: str) -> Optional[Reservation]:
    if name in HOST_LOCAL_SKIP or name.startswith("last_reserved_ip"):
        return None
    try:
        ip = str(ipaddress.ip_address(name))
    except ValueError:
        return None
    path = os.path.join(directory, name)
    held = read_reservation(path)
    if held is None:
        return None
    return Reservation(network, ip, held[0], held[1], path, held[2])


def list_reservations(ctx: HostContext, entries: Sequence[cnicache.CacheEntry]) -> List[Reservation]:
    out: List[Reservation] = []
    for directory, network in _attributable_dirs(ctx, entries):
        for name in list_names(directory):
            res = _read_reservation(directory, network, name)
            if res is not None:
                out.append(res)
    return out


def _owned(res: Reservation, keys: Set[Tuple[str, str, str]], pairs: Set[Tuple[str, str]]) -> bool:
    if res.ifname:
        return (res.network, res.container_id, res.ifname) in keys
    return (res.network, res.container_id) in pairs  # host-local < 0.8 wrote no ifname


def _maybe_held_by(ctx: HostContext, res: Reservation, unreadable: Sequence[Unreadable]) -> bool:
    """Whether an unusable cache file may be the entry holding res (by its file name)."""
    if not unreadable:
        return False
    if res.ifname:
        path = cnicache.entry_path(ctx.cache_dir, res.network, res.container_id, res.ifname)
        return any(u.path == path for u in unreadable)
    head = "%s-%s-" % (res.network, res.container_id)
    return any(u.name.startswith(head) for u in unreadable)


def orphan_reservations(ctx: HostContext, owners: Sequence[cnicache.CacheEntry],
                        known: Sequence[cnicache.CacheEntry], live_ids: Set[str],
                        min_age: float = RESERVATION_MIN_AGE,
                        now: Optional[float] = None,
                        unreadable: Sequence[Unreadable] = ()) -> List[Reservation]:
    """Reservations no entry of ``owners`` (nor an unusable cache file that may be that
    entry) holds, of networks attributable from the config dir or ``known`` entries,
    older than min_age, of no live container."""
    keys = {e.key for e in owners}
    pairs = {(e.network, e.container_id) for e in owners}
    now = time.time() if now is None else now
    return [r for r in list_reservations(ctx, known)
            if not _owned(r, keys, pairs) and r.container_id not in live_ids
            and now - r.mtime >= min_age and not _maybe_held_by(ctx, r, unreadable)]


def _host_local_lock(directory: str):
    """host-local's own lock (flock on ``<dir>/lock``), so no ADD allocates meanwhile."""
    return file_lock(os.path.join(directory, "lock"), timeout=None, private_dir=False)


def release_reservation(res: Reservation) -> bool:
    """Remove the file if it still names the same holder. True when removed."""
    directory = os.path.dirname(res.path)
    with _host_local_lock(directory):
        now = _read_reservation(directory, res.network, os.path.basename(res.path))
        if now is None or (now.container_id, now.ifname) != (res.container_id, res.ifname):
            return False
        try:
            os.unlink(res.path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
    return True


# --- plan and execute ---

def plan(ctx: HostContext, min_age: float = RESERVATION_MIN_AGE,
         entries: Optional[Sequence[cnicache.CacheEntry]] = None) -> PrunePlan:
    """What is stale, without touching anything."""
    p = PrunePlan()
    live = _netns.StatusMemo(ctx.netns_status)
    if entries is None:
        entries, p.unreadable = cnicache.scan(ctx.cache_dir)
    intents, bad_intents = _intent.scan(ctx)
    p.unreadable += bad_intents
    # an entry naming no namespace may be alive: never taken for stale
    p.skipped = [e for e in entries if not e.netns]
    known = [e for e in entries if e.netns]
    alive = [e for e in known if live.alive(e.netns)]
    p.stale_entries = [e for e in known if not live.alive(e.netns)]
    live_ids = {e.container_id for e in alive} | {e.container_id for e in p.skipped}
    records, bad_records = _state.scan(ctx.state_dir)
    p.unreadable += bad_records
    live_ids |= {u.name[:-5] for u in bad_records}  # its record cannot say: keep what it holds
    # an interrupted ADD's reservation is what its undo finds its rules by: never released
    # on its own; with the namespace gone the undo runs here (else the container's next run)
    live_ids |= {i.container_id for i in intents}
    p.interrupted = [i for i in intents if not (i.netns and live.alive(i.netns))]
    for cid, record in sorted(records.items()):
        netns = record.get("netns") or ""
        if (netns and live.alive(netns)) or record.get("network_mode") == "host":
            live_ids.add(cid)  # (network_mode host: no namespace of its own to lose)
            continue
        p.records.append({"container_id": cid, "netns": netns or None,
                          "remove_netns": bool(netns) and live.status(netns) == "stale"
                          and record.get("netns_origin") == "created"
                          and ctx.not_removable(netns) is None})  # trust rules
    # the stale entries' DEL releases their own IPs; the rest is orphaned
    p.reservations = orphan_reservations(ctx, entries, entries, live_ids, min_age,
                                         unreadable=p.unreadable)
    p.plan_actions()
    return p


def execute(ctx: HostContext, p: PrunePlan, min_age: float = RESERVATION_MIN_AGE) -> Dict[str, Any]:
    """Prune what the plan found, each item re-checked under its lock; a report."""
    report: Dict[str, Any] = {"attachments": [], "records": [], "reservations": [], "errors": []}
    live = _netns.StatusMemo(ctx.netns_status)
    pruned_entries: List[cnicache.CacheEntry] = []
    report["interrupted"] = []
    for planned in p.interrupted:
        with maybe_container_lock(ctx, planned.container_id):
            now = [i for i in _intent.pending(ctx, planned.container_id) if i.path == planned.path]
            if not now or (now[0].netns and live.alive(now[0].netns)):
                continue  # finished meanwhile, or its namespace is back: the container's run
            try:
                _attach.recover_interrupted(ctx, now[0])
            except PodnetError as exc:
                report["errors"].append(str(exc))
                continue
            report["interrupted"].append(_entry_report(now[0]))
    for planned in p.stale_entries:
        with maybe_container_lock(ctx, planned.container_id):
            try:
                entry = cnicache.read(ctx.cache_dir, *planned.key)
            except StateError as exc:  # became unusable meanwhile: never guessed at
                report["errors"].append(str(exc))
                continue
            if entry is None or not entry.netns or ctx.netns_status(entry.netns) == "mounted":
                continue  # gone meanwhile, or its namespace is back: not ours to touch
            item = _entry_report(entry)
            try:
                # the namespace is gone: every error of the plugins about it is expected
                # (remove_gone lends the bridge plugin a stand-in link so that it also
                # tears down its masquerade rule)
                item["warnings"] = _attach.remove_gone(ctx, entry, tolerate=lambda e: True)
            except PodnetError as exc:
                report["errors"].append("DEL of stale attachment %s/%s/%s: %s"
                                        % (entry.network, entry.container_id, entry.ifname, exc))
                continue
            report["attachments"].append(item)
            pruned_entries.append(entry)
    for rec in p.records:
        cid = rec["container_id"]
        with maybe_container_lock(ctx, cid):
            try:
                record = _state.load(ctx.state_dir, cid)
            except StateError as exc:
                report["errors"].append(str(exc))
                continue
            if record is None:
                continue
            netns = record.get("netns") or ""
            if netns and live.alive(netns):
                continue
            try:
                if rec.get("remove_netns") and netns and ctx.netns_status(netns) == "stale":
                    ctx.remove_netns(netns)
                _state.delete(ctx.state_dir, cid)
            except PodnetError as exc:
                report["errors"].append("removing record of %s: %s" % (cid, exc))
                continue
            report["records"].append(dict(rec))
    # rescan: a DEL that could not release an IP leaves it orphaned now
    remaining, unreadable = cnicache.scan(ctx.cache_dir)
    live_ids = {e.container_id for e in remaining if not e.netns or live.alive(e.netns)}
    records, bad_records = _state.scan(ctx.state_dir)
    live_ids |= {u.name[:-5] for u in bad_records}
    live_ids |= {i.container_id for i in _intent.pending(ctx)}  # (an undo that failed)
    for cid, record in records.items():
        if record.get("netns") and live.alive(record["netns"]):
            live_ids.add(cid)
    report["unreadable"] = [u.to_dict() for u in p.unreadable]
    report["skipped"] = [_skipped_report(e) for e in p.skipped]
    for res in orphan_reservations(ctx, remaining, list(remaining) + pruned_entries, live_ids, min_age,
                                   unreadable=unreadable):
        try:
            with maybe_container_lock(ctx, res.container_id):
                now_entries, now_bad = cnicache.scan(ctx.cache_dir, container_id=res.container_id,
                                                     network=res.network)
                if now_entries or _maybe_held_by(ctx, res, now_bad):
                    continue  # attached meanwhile
                if release_reservation(res):
                    report["reservations"].append(res.to_dict())
        except (OSError, PodnetError) as exc:
            report["errors"].append("releasing %s in network %s: %s" % (res.ip, res.network, exc))
    return report


def prune_stale(ctx: HostContext, check_mode: bool = False,
                min_age: float = RESERVATION_MIN_AGE) -> Dict[str, Any]:
    """For other modules: plan, and unless check_mode execute; returns
    ``{"changed": bool, "pruned": report}``."""
    p = plan(ctx, min_age)
    if check_mode or not p.changed:
        return {"changed": p.changed, "pruned": p.to_dict(), "warnings": p.warnings()}
    report = execute(ctx, p, min_age)
    changed = bool(report["attachments"] or report["records"] or report["reservations"]
                   or report["interrupted"])
    return {"changed": changed, "pruned": report, "warnings": p.warnings()}
