# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only inspection of containers' networking (``container_netns_info``).

A container is anything with a record (``_state``) or a libcni cache entry — so
attachments made by cnitool, podman's CNI backend or CRI-O are shown too. Interface
statistics come from netlink inside the container's namespace (as podman's
getContainerNetIO does): pyroute2 is imported once in this process, only when
statistics are asked for, and the dump runs in a forked child that joined the netns.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _intent, _netns, _slirpmode, _state
from ansible_collections.podnet.cni.plugins.module_utils import _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError, StateError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import Unreadable
from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan

_PODMAN_ID = re.compile(r"[0-9a-f]{64}\Z")
STAT_KEYS = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors",
             "rx_dropped", "tx_dropped")
# /proc/net/dev columns (fallback without pyroute2): rx 8 fields, then tx 8 fields
_PROC_COLS = {"rx_bytes": 0, "rx_packets": 1, "rx_errors": 2, "rx_dropped": 3,
              "tx_bytes": 8, "tx_packets": 9, "tx_errors": 10, "tx_dropped": 11}


def _netlink_links() -> List[Dict[str, Any]]:
    """Links of the current netns with stats, MAC, MTU, state and addresses (netlink)."""
    from pyroute2 import IPRoute  # imported by the parent already: no cost here

    out: Dict[int, Dict[str, Any]] = {}
    with IPRoute() as ipr:
        for link in ipr.get_links():
            stats = link.get_attr("IFLA_STATS64") or link.get_attr("IFLA_STATS") or {}
            out[link["index"]] = {
                "name": link.get_attr("IFLA_IFNAME"),
                "mac": link.get_attr("IFLA_ADDRESS"),
                "mtu": link.get_attr("IFLA_MTU"),
                "state": link.get_attr("IFLA_OPERSTATE"),
                "up": bool(link["flags"] & 1),
                "addresses": [],
                "stats": {k: int(stats.get(k, 0) or 0) for k in STAT_KEYS},
            }
        for addr in ipr.get_addr():
            item = out.get(addr["index"])
            if item is not None:
                item["addresses"].append("%s/%d" % (addr.get_attr("IFA_ADDRESS"), addr["prefixlen"]))
    return list(out.values())


def _procfs_links() -> List[Dict[str, Any]]:
    """The same from /proc/self/net/dev (it shows the reader's netns) when pyroute2 is absent."""
    links = []
    with open("/proc/self/net/dev") as f:
        for line in f.read().splitlines()[2:]:
            name, dummy, rest = line.partition(":")
            cols = rest.split()
            links.append({"name": name.strip(), "mac": None, "mtu": None, "state": None,
                          "up": None, "addresses": [],
                          "stats": {k: int(cols[i]) for k, i in _PROC_COLS.items()}})
    return links


def have_pyroute2() -> bool:
    try:
        import pyroute2  # noqa: F401  (lazy: ~0.2 s, only when statistics are wanted)
    except ImportError:
        return False
    return True


def interface_stats(netns: str, use_netlink: bool = True) -> Dict[str, Dict[str, Any]]:
    """Interfaces of the namespace at netns by name (one forked child per namespace)."""
    links = _netns.run_in_netns(netns, _netlink_links if use_netlink else _procfs_links)
    return {link["name"]: link for link in links}


def _find_netns(ctx: HostContext, cid: str, record: Optional[Dict[str, Any]],
                entries: Sequence[cnicache.CacheEntry],
                cnitool_paths: Dict[str, str]) -> Optional[str]:
    if record and record.get("netns"):
        return str(record["netns"])
    for e in entries:
        if e.netns:
            return e.netns
    return cnitool_paths.get(cid)


def _cnitool_paths(ctx: HostContext) -> Dict[str, str]:
    """cnitool container id → netns path, for every namespace in the netns dir."""
    return cnicache.cnitool_netns_paths(ctx.netns_dir)


def _origin(cid: str, entry: cnicache.CacheEntry, in_record: bool) -> str:
    """Who most likely made an attachment (for the reader; never used for decisions)."""
    if in_record:
        return "podnet"
    if cid.startswith("cnitool-"):
        return "cnitool"
    if entry.arg("K8S_POD_INFRA_CONTAINER_ID") == cid:
        return "podman"  # podman v3
    if _PODMAN_ID.match(cid) and entry.arg("K8S_POD_NAME"):
        return "podman"  # podman 4 passes only K8S_POD_NAME (podman#12083)
    return "other"


def describe_container(ctx: HostContext, cid: str, record: Optional[Dict[str, Any]],
                       entries: Sequence[cnicache.CacheEntry], cnitool_paths: Dict[str, str],
                       stats: bool, use_netlink: bool) -> Dict[str, Any]:
    netns = _find_netns(ctx, cid, record, entries, cnitool_paths)
    status = ctx.netns_status(netns) if netns else "unknown"
    rec_nets = [n for n in (record or {}).get("networks") or [] if isinstance(n, dict)]
    rec_keys = [(n.get("network"), n.get("interface")) for n in rec_nets]
    order = {k: i for i, k in enumerate(rec_keys)}
    entries = sorted(entries, key=lambda e: (order.get((e.network, e.ifname), len(order)), e.ifname,
                                             e.network))
    attachments: List[Dict[str, Any]] = []
    for e in entries:
        in_record = (e.network, e.ifname) in order
        view = _attach.entry_spec_view(e)
        view.update({"cached": True, "in_record": in_record, "origin": _origin(cid, e, in_record),
                     "netns": e.netns or netns, "cni_args": e.cni_args,
                     "capability_args": e.capability_args, "result": e.result})
        attachments.append(view)
    cached_keys = {(e.network, e.ifname) for e in entries}
    for n in rec_nets:
        if (n.get("network"), n.get("interface")) not in cached_keys:
            attachments.append({"network": n.get("network"), "interface": n.get("interface"),
                                "ips": n.get("ips") or [], "mac": n.get("mac"),
                                "aliases": n.get("aliases") or [],
                                "port_mappings": n.get("port_mappings") or [],
                                "cached": False, "in_record": True, "origin": "podnet",
                                "netns": netns, "cni_args": n.get("cni_args") or [],
                                "capability_args": n.get("capability_args") or {}, "result": {}})
    joins = (record or {}).get("joins")
    mode_record = record  # whose network mode the settings are: a joiner's owner's
    ifnames = [a["interface"] for a in attachments]
    if joins and netns:
        # network_mode container:<id>: the owner's settings (podman's inspect delegates too)
        entries = [e for e in cnicache.list_entries(ctx.cache_dir, container_id=joins)
                   if e.netns == netns]
        ifnames = [e.ifname for e in entries]
        owner = _owner_record(ctx, joins)
        mode_record = owner if (owner or {}).get("netns") == netns else None
    nets = [{"name": e.network, "interface": e.ifname, "result": e.result,
             "aliases": _attach.entry_spec_view(e)["aliases"]} for e in entries]
    # network_mode slirp4netns: the ports its slirp4netns forwards, the traffic of its tap
    pms: List[Dict[str, Any]] = _slirpmode.port_mappings_of(mode_record)
    if (mode_record or {}).get("network_mode") == "slirp4netns":
        ifnames.append(_slirpmode.TAP)
    for e in entries:
        pms.extend(p for p in e.capability_args.get("portMappings") or [] if isinstance(p, dict))
    settings = cniresult.network_settings(netns or "", nets, pms) if status == "mounted" else {}
    info: Dict[str, Any] = {
        "container_id": cid, "name": (record or {}).get("name") or (
            _attach.container_name_of(entries[0]) if entries else cid),
        "netns": netns, "netns_status": status,
        "netns_origin": (record or {}).get("netns_origin"),
        "network_mode": (record or {}).get("network_mode"), "joins": joins,
        "recorded": record is not None, "attachments": attachments,
        "network_settings": settings, "interfaces": {}, "network_io": None,
    }
    if stats and status == "mounted" and netns:
        try:
            links = interface_stats(netns, use_netlink)
        except PodnetError as exc:
            info["stats_error"] = str(exc)
        else:
            info["interfaces"] = links
            info["network_io"] = _totals(links, ifnames)
    return info


def _owner_record(ctx: HostContext, cid: str) -> Optional[Dict[str, Any]]:
    """The record of the container whose namespace a joiner shares (None when it has
    none or it cannot be used: the owner's own entry reports that). Its mode counts only
    while it names the namespace the joiner shares."""
    try:
        return _state.load(ctx.state_dir, cid)
    except StateError:
        return None


def _totals(links: Dict[str, Dict[str, Any]], ifnames: Sequence[str]) -> Dict[str, int]:
    """Sum over the container's CNI interfaces (podman reports its network's eth0), or
    its slirp4netns tap device (podman 4's getContainerNetIO does the same)."""
    total = {k: 0 for k in STAT_KEYS}
    for name in ifnames:
        link = links.get(name)
        if link:
            for k in STAT_KEYS:
                total[k] += link["stats"][k]
    return total


def gather(ctx: HostContext, container_id: Optional[str] = None,
           stats: bool = True) -> Tuple[Dict[str, Dict[str, Any]], List[str], List[Dict[str, str]]]:
    """Containers by id (one, or all known ones), warnings, and the state files that
    cannot be used (each also named in a warning, and under the containers it may
    belong to: ``unreadable``)."""
    warnings: List[str] = []
    entries, unreadable = cnicache.scan(ctx.cache_dir, container_id=container_id)
    unreadable += _intent.scan(ctx, container_id)[1]
    if container_id is not None:
        ids = [container_id]
    else:
        ids = sorted(set(_state.list_ids(ctx.state_dir)) | {e.container_id for e in entries
                                                            if e.container_id})
    by_cid: Dict[str, List[cnicache.CacheEntry]] = {}
    for e in entries:
        by_cid.setdefault(e.container_id, []).append(e)
    use_netlink = True
    if stats:
        use_netlink = have_pyroute2()
        if not use_netlink:
            warnings.append("pyroute2 is not installed: interface statistics come from "
                            "/proc/net/dev (no MAC, MTU or addresses)")
    cnitool_paths: Dict[str, str] = {}
    if any(c.startswith("cnitool-") for c in ids):
        cnitool_paths = _cnitool_paths(ctx)
    out: Dict[str, Dict[str, Any]] = {}
    for cid in ids:
        mine = [u for u in unreadable if u.may_belong_to(cid)]
        try:
            record = _state.load(ctx.state_dir, cid)
        except StateError as exc:
            mine += [Unreadable(**d) for d in exc.details.get("unreadable") or []]
            unreadable += [Unreadable(**d) for d in exc.details.get("unreadable") or []]
            record = None
        if record is None and not by_cid.get(cid) and not mine:
            continue
        out[cid] = describe_container(ctx, cid, record, by_cid.get(cid, []), cnitool_paths,
                                      stats, use_netlink)
        out[cid]["unreadable"] = [u.to_dict() for u in mine]
    warnings += ["cannot be used: %s" % u for u in unreadable]
    return out, warnings, [u.to_dict() for u in unreadable]


# --- the module: container_netns_info ---

class InfoPlan(Plan):
    """Nothing to do (read-only): what was found, for the result."""

    def __init__(self, containers: Dict[str, Dict[str, Any]], warnings: List[str],
                 unreadable: List[Dict[str, str]]) -> None:
        super().__init__()
        self.containers = containers
        self.warnings = warnings
        self.unreadable = unreadable

    def get_before_after(self) -> Any:
        return None  # a read-only module has no diff


class InfoRequest:
    def __init__(self, container_id: Optional[str], statistics: bool) -> None:
        self.container_id = container_id
        self.statistics = statistics


class ContainerNetnsInfo(ModuleLogic):
    """container_netns_info: plan = gather (read-only, in check mode as in a real run)."""

    def options(self, module: Any) -> InfoRequest:
        p = module.params
        return InfoRequest(_validate.container_id(p["container_id"]) if p["container_id"] else None,
                           p["statistics"])

    def session(self, ctx: HostContext, check_mode: bool) -> Any:
        return ctx.session(check_mode=True)  # reads only: never the rootless lock

    def plan(self, ctx: HostContext, request: InfoRequest) -> InfoPlan:
        return InfoPlan(*gather(ctx, request.container_id, request.statistics))

    def execute(self, ctx: HostContext, plan: Plan) -> None:
        return None

    def result(self, ctx: HostContext, plan: InfoPlan, outcome: Any, check_mode: bool) -> Dict[str, Any]:
        return {"changed": False, "containers": plan.containers, "unreadable": plan.unreadable,
                "warnings": ctx.warnings + plan.warnings}


LOGIC = ContainerNetnsInfo()
