# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Intents: what an ADD in progress would leave behind if the process died half-way.

The libcni cache is written only after a whole chain succeeded, so a module killed
(SIGKILL, OOM, a lost connection) in the middle of an ADD leaves a veth, an IP
reservation and iptables rules that no cache entry describes: the next ADD of the same
(network, id, interface) then fails ("already exists", "duplicate allocation") and a
later ``absent`` never cleans them. Before the first plugin runs, an intent holding the
same data as a cache entry (config, args, capability args; no result) is written to
``<state_dir>/pending/``; it is removed once the ADD was cached or rolled back. An
intent found later belongs to an interrupted ADD: ``_attach.recover_interrupted`` DELs it
with the recorded config and a prevResult rebuilt from the host-local reservation
(firewall and portmap find their rules by the container's IP), then drops it.

The intent also records the process group of the plugins of that run
(``_procgroup.PluginGroup``): before undoing anything, the recovery makes sure none of them
is still running (an orphan would go on adding rules for the address the undo releases).
An intent stays until its undo succeeded: a failed rollback, or a failed recovery,
leaves it for the next run. An intent file that is not a whole, well-typed one is never
guessed at: ``scan`` reports it, and the container it may belong to is not changed.
"""
from __future__ import annotations

import ipaddress
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _netns, _procgroup
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext, read_reservation
from ansible_collections.podnet.cni.plugins.module_utils._errors import StateError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import (
    Unreadable, list_names, read_json, remove_file, write_private)


def pending_dir(ctx: HostContext) -> str:
    return os.path.join(ctx.state_dir, "pending")


def path_of(ctx: HostContext, entry: cnicache.CacheEntry) -> str:
    return os.path.join(pending_dir(ctx), "%s-%s-%s.json" % (entry.network, entry.container_id, entry.ifname))


class Intent(cnicache.CacheEntry):
    """A cache entry (without result) and the plugin process group of its run."""

    __slots__ = ("group",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group: Optional[Dict[str, int]] = None


def mark(ctx: HostContext, entry: cnicache.CacheEntry) -> str:
    """Record an ADD about to start (entry without a result); returns the intent's path."""
    path = path_of(ctx, entry)
    data = entry.to_json()
    group = _procgroup.PluginGroup.identity()
    if group:
        data["podnetPluginGroup"] = group
    write_private(path, json.dumps(data).encode())
    return path


def other_holder(ctx: HostContext, entry: cnicache.CacheEntry) -> Optional[Tuple[str, str, str]]:
    """The key of another attachment whose intent has this entry's file name (see
    ``cnicache.other_holder``). StateError when that file is unusable."""
    path = path_of(ctx, entry)
    data = read_json(path)
    if data is None:
        return None
    key = Intent.from_json(data, path).key
    return None if key == entry.key else key


def clear(path: str) -> None:
    remove_file(path)


def _load(path: str) -> Intent:
    data = read_json(path)
    if data is None:
        raise FileNotFoundError(path)
    intent = Intent.from_json(data, path)
    group = data.get("podnetPluginGroup")
    if group is not None:
        if not isinstance(group, dict) or not all(
                isinstance(group.get(k), int) and not isinstance(group.get(k), bool)
                for k in ("pgid", "start_time")):
            raise StateError("unusable intent %s: podnetPluginGroup is not {pgid, start_time}: "
                             "%.100r" % (path, group), path=path,
                             reason="podnetPluginGroup is not {pgid, start_time}")
        intent.group = {"pgid": group["pgid"], "start_time": group["start_time"]}
    return intent


def scan(ctx: HostContext, container_id: Optional[str] = None) -> Tuple[List[Intent], List[Unreadable]]:
    """Intents left by interrupted ADDs (filtered by their fields, never by file name), and
    the files in the intent dir that are not one (with a container id: only those whose
    name may be its)."""
    directory = pending_dir(ctx)
    out: List[Intent] = []
    bad: List[Unreadable] = []
    for name in list_names(directory):
        if not name.endswith(".json") or (container_id is not None and container_id not in name):
            continue  # (write_private's temp files end in .tmp.<pid>)
        path = os.path.join(directory, name)
        try:
            intent = _load(path)
        except FileNotFoundError:
            continue
        except StateError as exc:
            item = Unreadable(path, exc.details.get("reason") or str(exc), "intent")
            if container_id is None or item.may_belong_to(container_id):
                bad.append(item)
            continue
        if container_id is None or intent.container_id == container_id:
            out.append(intent)
    return out, bad


def pending(ctx: HostContext, container_id: Optional[str] = None) -> List[Intent]:
    """The usable intents (see ``scan`` for the unusable files)."""
    return scan(ctx, container_id)[0]


def undo_chain(executor: cniexec.PluginExecutor, conf: cniconf.NetworkConfigList,
               rt: cniexec.RuntimeConf, prev: Optional[Dict[str, Any]],
               tolerate: Any) -> List[Any]:
    """DEL the chain of an ADD that did not finish (a rollback, a recovery), then repair
    the network's bridge if that ADD was its first and left it with a zero MAC (see
    ``_netns.repair_zero_mac``). Runs where the plugins run (``ctx.call_cni``)."""
    try:
        return cniexec.del_network_list(executor, conf, rt, prev, tolerate=tolerate)
    finally:
        main = conf.plugins[0] if conf.plugins else {}
        if main.get("type") == "bridge":
            _netns.repair_zero_mac(str(main.get("bridge") or "cni0"))


def reserved_result(ctx: HostContext, conf: cniconf.NetworkConfigList,
                    entry: cnicache.CacheEntry) -> Optional[Dict[str, Any]]:
    """A result naming the IPs host-local reserved for (id, interface), if any."""
    ips = []
    ranges = cniconf.ipam_ranges(conf)
    for data_dir, name in cniconf.iter_ipam_dirs(conf):
        directory = os.path.join(ctx.ipam_data_dir(data_dir), name)
        try:
            files = os.listdir(directory)
        except OSError:
            continue
        for ip_name in files:
            try:
                ip = ipaddress.ip_address(ip_name)
            except ValueError:
                continue
            held = read_reservation(os.path.join(directory, ip_name))
            if held is None or held[0] != entry.container_id:
                continue
            if held[1] and held[1] != entry.ifname:
                continue
            plen = next((r.subnet.prefixlen for r in ranges if r.contains(ip)), ip.max_prefixlen)
            item: Dict[str, Any] = {"address": "%s/%d" % (ip, plen)}
            if cniexec.version_tuple(conf.cni_version) < (1, 0, 0):
                item["version"] = str(ip.version)
            ips.append(item)
    if not ips:
        return None
    return {"cniVersion": conf.cni_version, "ips": ips}
