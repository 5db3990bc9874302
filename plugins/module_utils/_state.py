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
from typing import Any, Dict, List, Optional

from ansible_collections.podnet.cni.plugins.module_utils import _validate
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import (
    ensure_private_dir, read_json, remove_file, write_json)
from ansible_collections.podnet.cni.plugins.module_utils._locking import file_lock

RECORD_VERSION = 1
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


def load(state_dir: str, cid: str) -> Optional[Dict[str, Any]]:
    record = read_json(record_path(state_dir, cid))
    if record is not None and not isinstance(record, dict):
        return None
    return record


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


def container_lock(state_dir: str, cid: str, timeout: float = 120.0):
    """The per-container lock every mutation of one container holds."""
    return file_lock(os.path.join(state_dir, "locks", "%s.lock" % _validate.container_id(cid)),
                     timeout)
