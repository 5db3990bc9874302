# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libcni result cache, shared with cnitool, podman's CNI backend and CRI-O.

``<cache_dir>/results/<network>-<container id>-<ifname>`` holds JSON of kind
``cniCacheV1``. File names are never parsed (network names contain '-'): entries are
matched by their fields.

Nothing read here is trusted: a file that is not a whole, well-typed entry (truncated,
garbage, another tool's format, a symlink, another user's, huge) is never taken for "no
entry" and never acted upon; ``scan`` reports it (``Unreadable``) next to the usable
entries, ``read`` raises StateError for it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._errors import StateError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import (
    Unreadable, list_names, read_json, remove_file, write_private)

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
    def from_json(cls, data: Any, path: str = "") -> "CacheEntry":
        """The entry in data; StateError (naming path, the reason in ``reason``) when data
        is not a whole, well-typed cniCacheV1 entry: nothing of a bad one is guessed."""
        why = entry_problem(data)
        if why:
            raise StateError("unusable CNI cache entry %s: %s" % (path or "(unnamed)", why),
                             path=path, reason=why)
        config = base64.b64decode(data.get("config") or "")
        result = data.get("result") or {}
        ifname = data["ifName"]
        # libcni <= 1.1 (podman 4's CNI backend, Debian's cnitool) caches no netns: the
        # container interface's sandbox in the result is the same path
        netns = data.get("netns") or sandbox_of(result, ifname)
        return cls(data["networkName"], data["containerId"], ifname, netns, config,
                   data.get("cniArgs") or [], data.get("capabilityArgs") or {}, result, path)


def sandbox_of(result: Dict[str, Any], ifname: str) -> str:
    """The netns path a result names for its container interface ("" when none)."""
    sandboxes = [i.get("sandbox") for i in result.get("interfaces") or [] if i.get("sandbox")]
    named = [i.get("sandbox") for i in result.get("interfaces") or []
             if i.get("sandbox") and i.get("name") == ifname]
    for path in named + sandboxes:
        if isinstance(path, str) and path.startswith("/"):
            return path
    return ""


def _port_mapping_problem(pm: Any) -> Optional[str]:
    if not isinstance(pm, dict):
        return "is not an object"
    for key in ("hostPort", "containerPort"):
        value = pm.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            return "%s is not a port number: %.100r" % (key, value)
    for key in ("protocol", "hostIP"):
        if not isinstance(pm.get(key, ""), str):
            return "%s is not a string: %.100r" % (key, pm[key])
    return None


def _capability_problem(caps: Any) -> Optional[str]:
    if not isinstance(caps, dict):
        return "capabilityArgs is not an object"
    pms = caps.get("portMappings", [])
    if not isinstance(pms, list):
        return "capabilityArgs.portMappings is not a list: %.100r" % (pms,)
    for i, pm in enumerate(pms):
        why = _port_mapping_problem(pm)
        if why:
            return "capabilityArgs.portMappings[%d] %s" % (i, why)
    aliases = caps.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
            isinstance(v, list) and all(isinstance(a, str) for a in v) for v in aliases.values()):
        return "capabilityArgs.aliases is not an object of name lists: %.100r" % (aliases,)
    ips = caps.get("ips", [])
    if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
        return "capabilityArgs.ips is not a list of strings: %.100r" % (ips,)
    if not isinstance(caps.get("mac", ""), str):
        return "capabilityArgs.mac is not a string: %.100r" % (caps["mac"],)
    return None


def entry_problem(data: Any) -> Optional[str]:
    """Why data is not a usable cniCacheV1 entry (None: it is)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("kind") != KIND:
        return "kind is %.100r, not %s (not a libcni cache entry)" % (data.get("kind"), KIND)
    for key in ("containerId", "networkName", "ifName"):
        if not isinstance(data.get(key), str) or not data[key]:
            return "%s is missing or not a string: %.100r" % (key, data.get(key))
    if not isinstance(data.get("netns", ""), str):
        return "netns is not a string: %.100r" % (data["netns"],)
    config = data.get("config", "")
    if not isinstance(config, str):
        return "config is not a base64 string"
    if config:
        try:
            raw = base64.b64decode(config, validate=True)
            conf = json.loads(raw)
        except (ValueError, TypeError, RecursionError) as exc:
            return "config is not base64 of a JSON network configuration (%s)" % exc
        if not isinstance(conf, dict):
            return "config is not a JSON object"
    args = data.get("cniArgs")
    args = [] if args is None else args
    if not isinstance(args, list) or not all(
            isinstance(a, list) and len(a) == 2 and all(isinstance(x, str) for x in a) for a in args):
        return "cniArgs is not a list of [name, value] string pairs: %.100r" % (args,)
    caps = data.get("capabilityArgs")
    why = _capability_problem({} if caps is None else caps)
    if why:
        return why
    if "result" in data and data["result"] is not None:
        why = cniresult.problem(data["result"])
        if why:
            return "result: " + why
    return None


def host_ports(mappings: Any) -> List[Tuple[str, int, str]]:
    """(host IP or "", host port, protocol) of CNI ``portMappings`` (as cached in
    capabilityArgs; ranges already expanded); what is not a mapping is left out."""
    out = []
    for m in mappings or []:
        if not isinstance(m, dict) or "hostPort" not in m:
            continue
        try:
            out.append((str(m.get("hostIP", "") or ""), int(m["hostPort"]),
                        str(m.get("protocol", "tcp")).lower()))
        except (TypeError, ValueError):
            continue
    return out


def results_dir(cache_dir: str) -> str:
    return os.path.join(cache_dir, "results")


def entry_path(cache_dir: str, network: str, container_id: str, ifname: str) -> str:
    return os.path.join(results_dir(cache_dir), "%s-%s-%s" % (network, container_id, ifname))


def read(cache_dir: str, network: str, container_id: str, ifname: str) -> Optional[CacheEntry]:
    """The entry of that key; None when there is none. StateError when its file is there
    but unusable (never taken for "no entry": it may describe a live attachment)."""
    path = entry_path(cache_dir, network, container_id, ifname)
    data = read_json(path)
    if data is None:
        return None
    entry = CacheEntry.from_json(data, path)
    if entry.key != (network, container_id, ifname):
        return None  # another key with the same file name (names contain '-')
    return entry


def other_holder(cache_dir: str, network: str, container_id: str,
                 ifname: str) -> Optional[Tuple[str, str, str]]:
    """The key of another attachment whose entry has this key's file name ('-' separates
    the parts and may be in them, as in libcni's names): an ADD of this key would
    overwrite it. StateError when that file is unusable."""
    path = entry_path(cache_dir, network, container_id, ifname)
    data = read_json(path)
    if data is None:
        return None
    key = CacheEntry.from_json(data, path).key
    return None if key == (network, container_id, ifname) else key


def write(cache_dir: str, entry: CacheEntry) -> str:
    path = entry_path(cache_dir, entry.network, entry.container_id, entry.ifname)
    write_private(path, json.dumps(entry.to_json()).encode())
    entry.path = path
    return path


def delete(cache_dir: str, network: str, container_id: str, ifname: str) -> bool:
    """Remove the entry of that key (never another key's file of the same name)."""
    try:
        if other_holder(cache_dir, network, container_id, ifname) is not None:
            return False
    except StateError:
        pass  # unusable: it names no other key we could tell
    return remove_file(entry_path(cache_dir, network, container_id, ifname))


_TMP_RE = re.compile(r"\.tmp\.\d+$")  # write_private's temp files (ours, half written)


def scan(cache_dir: str, container_id: Optional[str] = None,
         network: Optional[str] = None) -> Tuple[List[CacheEntry], List[Unreadable]]:
    """Every usable cache entry, filtered by its fields (never by file name), and every
    file that is not one (corrupt, wrong-typed, foreign, a symlink, ...). With a filter,
    only the unusable files whose name may belong to it."""
    directory = results_dir(cache_dir)
    entries: List[CacheEntry] = []
    unreadable: List[Unreadable] = []
    for name in list_names(directory):
        if container_id is not None and container_id not in name:
            continue  # cheap pre-filter: the id is always part of the name
        if _TMP_RE.search(name):
            continue
        path = os.path.join(directory, name)
        try:
            data = read_json(path)
            if data is None:
                continue  # removed meanwhile
            entry = CacheEntry.from_json(data, path)
        except StateError as exc:
            bad = Unreadable(path, exc.details.get("reason") or str(exc))
            if (container_id is None or bad.may_belong_to(container_id)) and \
                    (network is None or bad.may_be_of_network(network)):
                unreadable.append(bad)
            continue
        if container_id is not None and entry.container_id != container_id:
            continue
        if network is not None and entry.network != network:
            continue
        entries.append(entry)
    return entries, unreadable


def list_entries(cache_dir: str, container_id: Optional[str] = None,
                 network: Optional[str] = None) -> List[CacheEntry]:
    """Every usable cache entry, filtered by its fields. Unusable files are left out:
    callers that act on a container or on host-wide resources use ``scan``."""
    return scan(cache_dir, container_id, network)[0]


class CacheView:
    """The cache read once for a batch: each container's entries, every entry of the host
    when asked (port conflicts), and the files that cannot be used. One container alone
    reads only its own files."""

    def __init__(self, cache_dir: str, container_ids: Sequence[str]) -> None:
        self.cache_dir = cache_dir
        ids = set(container_ids)
        self._all: Optional[Tuple[List[CacheEntry], List[Unreadable]]] = None
        self._by_port: Optional[Dict[Tuple[int, str], List[CacheEntry]]] = None
        if len(ids) == 1:
            entries, self._unreadable = scan(cache_dir, container_id=next(iter(ids)))
        else:
            self._all = scan(cache_dir)
            entries = [e for e in self._all[0] if e.container_id in ids]
            self._unreadable = self._all[1]
        self.by_container: Dict[str, List[CacheEntry]] = {cid: [] for cid in ids}
        for e in entries:
            self.by_container.setdefault(e.container_id, []).append(e)

    def container_entries(self, container_id: str) -> List[CacheEntry]:
        if container_id not in self.by_container:  # not one of the batch: read it now
            return list_entries(self.cache_dir, container_id=container_id)
        return list(self.by_container[container_id])

    def container_unreadable(self, container_id: str) -> List[Unreadable]:
        """The unusable files that may hold an attachment of the container."""
        if container_id not in self.by_container:
            return scan(self.cache_dir, container_id=container_id)[1]
        return [u for u in self._unreadable if u.may_belong_to(container_id)]

    def all_entries(self) -> Tuple[List[CacheEntry], List[Unreadable]]:
        """Every usable entry of the host, and every unusable file."""
        if self._all is None:
            self._all = scan(self.cache_dir)
        return self._all

    def port_holders(self, mappings: Sequence[Dict[str, Any]]) -> List[CacheEntry]:
        """The entries mapping any host port (and protocol) of these CNI ``portMappings``:
        what a port conflict check must look at (an index: no scan of every entry)."""
        if self._by_port is None:
            self._by_port = {}
            for entry in self.all_entries()[0]:
                for dummy, port, proto in host_ports(entry.capability_args.get("portMappings")):
                    self._by_port.setdefault((port, proto), []).append(entry)
        out: List[CacheEntry] = []
        for dummy, port, proto in host_ports(mappings):
            out.extend(e for e in self._by_port.get((port, proto), []) if not any(e is o for o in out))
        return out


# --- cnitool's attachments (libcni's cnitool names the container after the netns path) ---

def cnitool_container_id(netns_path: str) -> str:
    """The container id cnitool uses for a netns path (libcni's cnitool: sha512 prefix)."""
    return "cnitool-" + hashlib.sha512(netns_path.encode()).hexdigest()[:20]


def cnitool_netns_paths(netns_dir: str) -> Dict[str, str]:
    """cnitool container id → netns path, for every namespace in netns_dir (cnitool's cache
    entries, libcni 1.1, hold no netns: the path is found by its hash)."""
    try:
        names = os.listdir(netns_dir)
    except OSError:
        return {}
    paths = [os.path.join(netns_dir, n) for n in names]
    return {cnitool_container_id(p): p for p in paths}


def find_cnitool_netns(netns_dir: str, cid: str) -> Optional[str]:
    """The netns path in netns_dir that cnitool's container id cid was made for, if any."""
    return cnitool_netns_paths(netns_dir).get(cid)


def with_netns(entry: CacheEntry, netns: str) -> CacheEntry:
    """The entry with its netns filled in (libcni before 1.2 does not cache it)."""
    if entry.netns or not netns:
        return entry
    return CacheEntry(entry.network, entry.container_id, entry.ifname, netns, entry.config,
                      entry.cni_args, entry.capability_args, entry.result, entry.path)
