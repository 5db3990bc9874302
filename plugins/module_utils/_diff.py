# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before/after tracking for check mode and --diff (data, not text)."""
from __future__ import annotations

import copy
from typing import Any, Dict, List


def _copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, tuples, scalars) without deepcopy's
    memo bookkeeping (a batch of 200 containers records 400 views); anything else through
    ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return copy.deepcopy(value)


class DifferenceTracker:
    """Record (name, before, after); yield Ansible's ``diff`` as before/after dicts."""

    def __init__(self) -> None:
        self._items: List[Dict[str, Any]] = []

    def add(self, name: str, before: Any, after: Any) -> None:
        self._items.append({"name": name, "before": _copy(before), "after": _copy(after)})

    @property
    def has_difference(self) -> bool:
        return any(i["before"] != i["after"] for i in self._items)

    def differences(self) -> List[Dict[str, Any]]:
        return [i for i in self._items if i["before"] != i["after"]]

    def get_before_after(self) -> Dict[str, Dict[str, Any]]:
        return {"before": {i["name"]: i["before"] for i in self._items},
                "after": {i["name"]: i["after"] for i in self._items}}
