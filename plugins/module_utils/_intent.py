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
intent found later belongs to an interrupted ADD: ``recover`` DELs it with the recorded
config and a prevResult rebuilt from the host-local reservation (firewall and portmap
find their rules by the container's IP), then drops it.
"""
from __future__ import annotations

import ipaddress
import json
import os
from typing import Any, Dict, List, Optional

from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import read_json, remove_file, write_private


def pending_dir(ctx: HostContext) -> str:
    return os.path.join(ctx.state_dir, "pending")


def _path(ctx: HostContext, entry: cnicache.CacheEntry) -> str:
    return os.path.join(pending_dir(ctx), "%s-%s-%s.json" % (entry.network, entry.container_id, entry.ifname))


def mark(ctx: HostContext, entry: cnicache.CacheEntry) -> str:
    """Record an ADD about to start (entry without a result); returns the intent's path."""
    path = _path(ctx, entry)
    write_private(path, json.dumps(entry.to_json()).encode())
    return path


def clear(path: str) -> None:
    remove_file(path)


def pending(ctx: HostContext, container_id: Optional[str] = None) -> List[cnicache.CacheEntry]:
    """Intents left by interrupted ADDs (filtered by their fields, never by file name)."""
    directory = pending_dir(ctx)
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in names:
        if not name.endswith(".json") or (container_id is not None and container_id not in name):
            continue
        path = os.path.join(directory, name)
        try:
            entry = cnicache.CacheEntry.from_json(read_json(path) or {}, path)
        except Exception:  # a torn or foreign file: not ours to act on
            continue
        if entry is not None and (container_id is None or entry.container_id == container_id):
            out.append(entry)
    return out


def _reserved_result(ctx: HostContext, conf: cniconf.NetworkConfigList,
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
                with open(os.path.join(directory, ip_name), "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
            except (ValueError, OSError):
                continue
            if not lines or lines[0].strip() != entry.container_id:
                continue
            if len(lines) > 1 and lines[1].strip() != entry.ifname:
                continue
            plen = next((r.subnet.prefixlen for r in ranges if r.contains(ip)), ip.max_prefixlen)
            item: Dict[str, Any] = {"address": "%s/%d" % (ip, plen)}
            if cniexec.version_tuple(conf.cni_version) < (1, 0, 0):
                item["version"] = str(ip.version)
            ips.append(item)
    if not ips:
        return None
    return {"cniVersion": conf.cni_version, "ips": ips}


def recover(ctx: HostContext, entry: cnicache.CacheEntry) -> None:
    """Undo an interrupted ADD (unless it finished and was cached) and drop its intent."""
    if cnicache.read(ctx.cache_dir, entry.network, entry.container_id, entry.ifname) is None:
        try:
            conf = cniconf.conflist_from_bytes(entry.config, "intent %s" % entry.path)
        except ConfigError:
            conf = ctx.get_network(entry.network)
        netns = entry.netns if entry.netns and ctx.netns_status(entry.netns) == "mounted" else ""
        rt = cniexec.RuntimeConf(entry.container_id, netns, entry.ifname, entry.cni_args,
                                 entry.capability_args)
        ctx.call_cni(cniexec.del_network_list, ctx.executor, conf, rt,
                     _reserved_result(ctx, conf, entry), tolerate=lambda e: True)
    clear(entry.path)
