# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-container records: ``<state_dir>/containers/<id>.json`` (0600 in 0700 dirs).

A record has the lifetime of the namespaces (state_dir is on tmpfs): it says what the
user asked for (networks, interface names, static addresses, aliases, ports) and
whether we created the netns; live state comes from the kernel and the CNI cache.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _validate
from ansible_collections.podnet.cni.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import (
    Unreadable, ensure_private_dir, read_json, remove_file, unreadable_error, write_json)
from ansible_collections.podnet.cni.plugins.module_utils._locking import DEFAULT_TIMEOUT, file_lock

RECORD_VERSION = 1
# who attached a network of a container (``attached_by`` of each of the record's networks):
# container_netns detaches only its own; what cni_attachment connected stays (durable)
# unless purge_networks. A record written before attached_by was kept: container_netns's.
BY_CONTAINER_NETNS = "container_netns"
BY_CNI_ATTACHMENT = "cni_attachment"
DEFAULT_ROOT_STATE_DIR = "/run/podnet"


def default_state_dir(uid: Optional[int] = None) -> str:
    uid = os.geteuid() if uid is None else uid
    if uid == 0:
        return DEFAULT_ROOT_STATE_DIR
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/run/user/%d" % uid
    return os.path.join(runtime, "podnet")


def containers_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "containers")


def record_path(state_dir: str, cid: str) -> str:
    return os.path.join(containers_dir(state_dir), "%s.json" % _validate.container_id(cid))


_STR_KEYS = ("name", "netns", "netns_origin", "network_mode", "static_ip", "static_mac",
             "managed_by", "joins")
_NET_LIST_KEYS = ("ips", "aliases")


def record_problem(record: Any, cid: str) -> Optional[str]:
    """Why a record is not one we could have written for cid (None: it is)."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("container_id") != cid:
        return "container_id is %.100r, not %r" % (record.get("container_id"), cid)
    for key in _STR_KEYS:
        if not isinstance(record.get(key), (str, type(None))):
            return "%s is not a string: %.100r" % (key, record[key])
    pid = record.get("pid")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
        return "pid is not a number: %.100r" % (pid,)
    pms = record.get("port_mappings") or []
    if not isinstance(pms, list) or not all(isinstance(pm, dict) for pm in pms):
        return "port_mappings is not a list of objects: %.100r" % (pms,)
    try:
        _validate.port_mappings(pms)
    except ValidationError as exc:
        return "port_mappings: %s" % exc.msg
    nets = record.get("networks") or []
    if not isinstance(nets, list):
        return "networks is not a list: %.100r" % (nets,)
    for i, net in enumerate(nets):
        if not isinstance(net, dict) or not isinstance(net.get("network"), str) \
                or not isinstance(net.get("interface"), (str, type(None))):
            return "networks[%d] is not an object with a network and an interface: %.100r" % (i, net)
        for key in _NET_LIST_KEYS:
            value = net.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return "networks[%d].%s is not a list of strings: %.100r" % (i, key, value)
        if not isinstance(net.get("attached_by"), (str, type(None))):
            return "networks[%d].attached_by is not a string: %.100r" % (i, net["attached_by"])
        if not isinstance(net.get("mac"), (str, type(None))):
            return "networks[%d].mac is not a string: %.100r" % (i, net["mac"])
        pms = net.get("port_mappings") or []
        if not isinstance(pms, list) or not all(isinstance(pm, dict) for pm in pms):
            return "networks[%d].port_mappings is not a list of objects: %.100r" % (i, pms)
        args = net.get("cni_args") or []
        if not isinstance(args, list) or not all(isinstance(a, list) and len(a) == 2 for a in args):
            return "networks[%d].cni_args is not a list of pairs: %.100r" % (i, args)
        if not isinstance(net.get("capability_args") or {}, dict):
            return "networks[%d].capability_args is not an object" % i
    return None


def load(state_dir: str, cid: str) -> Optional[Dict[str, Any]]:
    """The record of cid; None when there is none. StateError (naming the file, the reason
    in ``reason``) when the file is there but not a record we could have written."""
    path = record_path(state_dir, cid)
    try:
        record = read_json(path)
        why = record_problem(record, cid) if record is not None else None
    except StateError as exc:
        why = exc.details.get("reason") or str(exc)
    if why:
        raise unreadable_error("container %s" % cid, [Unreadable(path, why, "record")])
    return record


def scan(state_dir: str) -> Tuple[Dict[str, Dict[str, Any]], List[Unreadable]]:
    """Every usable record by container id, and the files that are not one."""
    records: Dict[str, Dict[str, Any]] = {}
    bad: List[Unreadable] = []
    for cid in list_ids(state_dir):
        try:
            record = load(state_dir, cid)
        except StateError as exc:
            bad.extend(Unreadable(**item) for item in exc.details.get("unreadable") or [])
            continue
        if record is not None:
            records[cid] = record
    return records, bad


def save(state_dir: str, record: Dict[str, Any]) -> None:
    record = dict(record)
    record["version"] = RECORD_VERSION
    ensure_private_dir(state_dir)
    write_json(record_path(state_dir, record["container_id"]), record)


def delete(state_dir: str, cid: str) -> bool:
    return remove_file(record_path(state_dir, cid))


def list_ids(state_dir: str) -> List[str]:
    try:
        names = os.listdir(containers_dir(state_dir))
    except FileNotFoundError:
        return []
    return sorted(n[:-5] for n in names if n.endswith(".json") and _validate.ID_RE.match(n[:-5]))


def container_lock(state_dir: str, cid: str, timeout: float = DEFAULT_TIMEOUT):
    """The per-container lock every mutation of one container holds."""
    return file_lock(os.path.join(state_dir, "locks", "%s.lock" % _validate.container_id(cid)),
                     timeout)
