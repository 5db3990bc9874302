# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What tasks earlier in the same check run would have created (the modules'
``check_mode_pending`` option), so that a check run on a host that has nothing yet
predicts instead of failing on it.

Only in check mode, and only what is listed: the CNI plugins a package task would
install, the networks a ``cni_network`` task would write (its registered result: the
conflist as it would be written, in the directory it would be written to), the
namespaces a ``container_netns`` task would create, the directories (a rootless user's
runtime directory) a task would make. Everything predicted is said in a warning. What
is missing and not listed fails as it does in a real run; a real run never reads this.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError

OPTION = "check_mode_pending"
WHY = "a task earlier in this check run would create it (check_mode_pending)"


class Pending:
    """Nothing pending unless built from the option in check mode."""

    def __init__(self, plugins: bool = False,
                 networks: Optional[Dict[str, Optional[cniconf.NetworkConfigList]]] = None,
                 netns: Optional[List[str]] = None, dirs: Optional[List[str]] = None) -> None:
        self.plugins = plugins
        # config path -> the network as it would be written (None: it would be removed)
        self.networks = networks or {}
        self.netns = list(netns or [])
        self.dirs = {os.path.normpath(d) for d in dirs or []}

    def __bool__(self) -> bool:
        return bool(self.plugins or self.networks or self.netns or self.dirs)

    def network(self, config_dir: str, name: str) -> Optional[Any]:
        """The network name of config_dir as an earlier task would leave it: a
        NetworkConfigList, False when it would be removed, None when nothing is pending."""
        config_dir = os.path.normpath(config_dir)
        for path, conf in self.networks.items():
            if os.path.dirname(path) != config_dir:
                continue
            if conf is None and os.path.basename(path) == "%s.conflist" % name:
                return False
            if conf is not None and conf.name == name:
                return conf
        return None

    def has_netns(self, path: str, resolve: Any) -> bool:
        """Whether path is a namespace an earlier task would create (``resolve`` turns a
        listed name into a path)."""
        wanted = os.path.normpath(path)
        return any(os.path.normpath(resolve(n)) == wanted for n in self.netns if n)

    def has_dir(self, path: str) -> bool:
        return os.path.normpath(path) in self.dirs


def _flatten(results: List[Any]) -> List[Dict[str, Any]]:
    """cni_network results: single-form results, batch results (their ``networks``) or
    their items; a skipped or failed task's result has nothing to add."""
    out: List[Dict[str, Any]] = []
    for index, item in enumerate(results):
        if not isinstance(item, dict):
            raise ValidationError("%s.networks[%d] must be a registered cni_network result, "
                                  "not %r" % (OPTION, index, item), value=item)
        if isinstance(item.get("networks"), dict):
            out.extend(v for v in item["networks"].values() if isinstance(v, dict))
        elif "config_path" in item:
            out.append(item)
    return out


def _network(item: Dict[str, Any]) -> Any:
    path = item.get("config_path")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValidationError("%s.networks: config_path must be an absolute path, not %r"
                              % (OPTION, path), value=path)
    conflist = item.get("conflist")
    if conflist is None:
        return os.path.normpath(path), None
    if not isinstance(conflist, dict):
        raise ValidationError("%s.networks: the conflist of %s must be a dict" % (OPTION, path),
                              value=path)
    # imported here: every module builds a context through this file, and under Ansible
    # each run compiles what it imports (netconf, the conflist writer: ~50 ms)
    from ansible_collections.podnet.cni.plugins.module_utils._cni import netconf
    try:
        conf = cniconf.conflist_from_bytes(netconf.render(conflist), path)
    except ConfigError as exc:
        raise ValidationError("%s.networks: %s" % (OPTION, exc.msg), value=path) from None
    return os.path.normpath(path), conf


def from_param(value: Optional[Dict[str, Any]], check_mode: bool) -> Pending:
    """The Pending of the module option (empty outside check mode: a real run never
    predicts)."""
    if not check_mode or not value:
        return Pending()
    networks: Dict[str, Optional[cniconf.NetworkConfigList]] = {}
    for item in _flatten(list(value.get("networks") or [])):
        if item.get("failed") or item.get("skipped"):
            continue
        path, conf = _network(item)
        networks[path] = conf
    netns = [n for n in value.get("netns") or [] if isinstance(n, str) and n]
    return Pending(bool(value.get("plugins")), networks, netns, list(value.get("dirs") or []))


def warn_once(warnings: List[str], text: str) -> None:
    if text not in warnings:
        warnings.append(text)


def missing_plugins(types: List[str], plugin_dirs: List[str], pending: Pending,
                    what: str, warnings: List[str]) -> List[str]:
    """The plugin types not found in plugin_dirs. When plugins are pending they are
    predicted (one warning) and [] is returned."""
    missing = [t for t in types if cniconf.find_plugin(t, plugin_dirs) is None]
    if missing and pending.plugins:
        warn_once(warnings, "check mode: CNI plugin(s) %s of %s not found in %s; predicted: "
                  "a task earlier in this check run would install them (check_mode_pending)"
                  % (", ".join(missing), what, ":".join(plugin_dirs)))
        return []
    return missing
