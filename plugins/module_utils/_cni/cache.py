# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libcni result cache, shared with cnitool, podman's CNI backend and CRI-O.

``<cache_dir>/results/<network>-<container id>-<ifname>`` holds JSON of kind
``cniCacheV1``. File names are never parsed (network names contain '-'): entries are
matched by their fields.
"""
from __future__ import annotations

import base64
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils._fsutil import (
    read_json, remove_file, write_private)

KIND = "cniCacheV1"


class CacheEntry:
    __slots__ = ("network", "container_id", "ifname", "netns", "config", "cni_args",
                 "capability_args", "result", "path")

    def __init__(self, network: str, container_id: str, ifname: str, netns: str = "",
                 config: bytes = b"", cni_args: Sequence[Sequence[str]] = (),
                 capability_args: Optional[Dict[str, Any]] = None,
                 result: Optional[Dict[str, Any]] = None, path: str = "") -> None:
        self.network = network
        self.container_id = container_id
        self.ifname = ifname
        self.netns = netns
        self.config = config
        self.cni_args: List[List[str]] = [list(a) for a in cni_args]
        self.capability_args: Dict[str, Any] = dict(capability_args or {})
        self.result: Dict[str, Any] = dict(result or {})
        self.path = path

    @property
    def key(self) -> Tuple[str, str, str]:
        return (self.network, self.container_id, self.ifname)

    def arg(self, name: str) -> Optional[str]:
        for key, value in self.cni_args:
            if key == name:
                return value
        return None

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {
            "kind": KIND,
            "containerId": self.container_id,
            "config": base64.b64encode(self.config).decode(),
            "ifName": self.ifname,
            "networkName": self.network,
        }
        if self.netns:
            data["netns"] = self.netns
        if self.cni_args:
            data["cniArgs"] = self.cni_args
        if self.capability_args:
            data["capabilityArgs"] = self.capability_args
        if self.result:
            data["result"] = self.result
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any], path: str = "") -> Optional["CacheEntry"]:
        if not isinstance(data, dict) or data.get("kind") != KIND:
            return None
        try:
            config = base64.b64decode(data.get("config") or "")
        except (ValueError, TypeError):
            config = b""
        return cls(data.get("networkName", ""), data.get("containerId", ""),
                   data.get("ifName", ""), data.get("netns", ""), config,
                   data.get("cniArgs") or [], data.get("capabilityArgs") or {},
                   data.get("result") or {}, path)


def host_ports(mappings: Any) -> List[Tuple[str, int, str]]:
    """(host IP, host port, protocol) of CNI ``portMappings`` (as cached in capabilityArgs)."""
    return [(m.get("hostIP", "") or "", int(m["hostPort"]), m.get("protocol", "tcp").lower())
            for m in mappings or [] if isinstance(m, dict) and "hostPort" in m]


def results_dir(cache_dir: str) -> str:
    return os.path.join(cache_dir, "results")


def entry_path(cache_dir: str, network: str, container_id: str, ifname: str) -> str:
    return os.path.join(results_dir(cache_dir), "%s-%s-%s" % (network, container_id, ifname))


def read(cache_dir: str, network: str, container_id: str, ifname: str) -> Optional[CacheEntry]:
    path = entry_path(cache_dir, network, container_id, ifname)
    try:
        data = read_json(path)
    except Exception:
        return None
    if data is None:
        return None
    entry = CacheEntry.from_json(data, path)
    if entry is None or entry.key != (network, container_id, ifname):
        return None
    return entry


def write(cache_dir: str, entry: CacheEntry) -> str:
    path = entry_path(cache_dir, entry.network, entry.container_id, entry.ifname)
    write_private(path, json.dumps(entry.to_json()).encode())
    entry.path = path
    return path


def delete(cache_dir: str, network: str, container_id: str, ifname: str) -> bool:
    return remove_file(entry_path(cache_dir, network, container_id, ifname))


def list_entries(cache_dir: str, container_id: Optional[str] = None,
                 network: Optional[str] = None) -> List[CacheEntry]:
    """Every readable cache entry, filtered by its fields (never by file name)."""
    directory = results_dir(cache_dir)
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    entries = []
    for name in names:
        if container_id is not None and container_id not in name:
            continue  # cheap pre-filter: the id is always part of the name
        try:
            data = read_json(os.path.join(directory, name))
        except Exception:
            continue
        entry = CacheEntry.from_json(data, os.path.join(directory, name)) if data else None
        if entry is None:
            continue
        if container_id is not None and entry.container_id != container_id:
            continue
        if network is not None and entry.network != network:
            continue
        entries.append(entry)
    return entries


class CacheView:
    """The cache read once for a batch: each container's entries, and every entry of the
    host when asked (port conflicts). One container alone reads only its own files."""

    def __init__(self, cache_dir: str, container_ids: Sequence[str]) -> None:
        self.cache_dir = cache_dir
        ids = set(container_ids)
        self._all: Optional[List[CacheEntry]] = None
        self._by_port: Optional[Dict[Tuple[int, str], List[CacheEntry]]] = None
        if len(ids) == 1:
            entries = list_entries(cache_dir, container_id=next(iter(ids)))
        else:
            self._all = list_entries(cache_dir)
            entries = [e for e in self._all if e.container_id in ids]
        self.by_container: Dict[str, List[CacheEntry]] = {cid: [] for cid in ids}
        for e in entries:
            self.by_container.setdefault(e.container_id, []).append(e)

    def container_entries(self, container_id: str) -> List[CacheEntry]:
        if container_id not in self.by_container:  # not one of the batch: read it now
            return list_entries(self.cache_dir, container_id=container_id)
        return list(self.by_container[container_id])

    def all_entries(self) -> List[CacheEntry]:
        if self._all is None:
            self._all = list_entries(self.cache_dir)
        return self._all

    def port_holders(self, mappings: Sequence[Dict[str, Any]]) -> List[CacheEntry]:
        """The entries mapping any host port (and protocol) of these CNI ``portMappings``:
        what a port conflict check must look at (an index: no scan of every entry)."""
        if self._by_port is None:
            self._by_port = {}
            for entry in self.all_entries():
                for dummy, port, proto in host_ports(entry.capability_args.get("portMappings")):
                    self._by_port.setdefault((port, proto), []).append(entry)
        out: List[CacheEntry] = []
        for dummy, port, proto in host_ports(mappings):
            out.extend(e for e in self._by_port.get((port, proto), []) if not any(e is o for o in out))
        return out
