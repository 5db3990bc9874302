# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``cni_network``: plan (validate the spec against the config dir, the other networks,
the libcni cache and the host's links and routes; touches nothing) and apply (write or
remove ``<name>.conflist``, as the owner of a user's directory; delete a bridge of ours
left without ports). The conflist itself is built by ``_cni/netconf``; the batch form is
``_network_batch``."""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _hostnet, _procs, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni.netconf import (
    NetworkSpec, Subnet, bridge_users, build_conflist, check_plugins, default_bridge_name,
    pick_free_subnet, render, subnet_overlaps)
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import remove_file, write_atomic
from ansible_collections.podnet.cni.plugins.module_utils._plan import Plan


class NetworkPlan(Plan):
    """What the module will do to one network: the file before and after (parsed JSON, or
    the text when it is not JSON), who uses the network, and ``actions``: ``write`` the
    file, or ``remove`` it and ``delete_bridge`` (set by ``plan``). The diff is the file's
    content."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.before: Optional[Any] = None
        self.after: Optional[Dict[str, Any]] = None
        self.in_use: List[Dict[str, Any]] = []
        self.remove_bridge: Optional[str] = None
        self.warnings: List[str] = []

    def plan_actions(self) -> None:
        self.actions = []
        if self.before == self.after:
            return
        if self.after is not None:
            self.add("write", path=self.path)
            return
        if self.before is not None:
            self.add("remove", path=self.path)
        if self.remove_bridge:
            self.add("delete_bridge", bridge=self.remove_bridge)

    def get_before_after(self) -> Dict[str, Any]:
        return {"before": self.before if self.before is not None else {},
                "after": self.after if self.after is not None else {},
                "before_header": self.path, "after_header": self.path}


# what the module reports of each action (cni_network's ``actions`` are these texts)
_DONE = {"write": "written %(path)s", "remove": "removed %(path)s",
         "delete_bridge": "deleted bridge %(bridge)s"}


def _read_existing(path: str) -> Tuple[Optional[Any], Optional[bytes]]:
    if os.path.islink(path):
        raise ConfigError("refusing %s: it is a symlink" % path, path=path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror), path=path)
    try:
        return json.loads(data), data
    except ValueError:
        return data.decode("utf-8", "replace"), data


def _existing_conf(before: Any, raw: Optional[bytes], path: str) -> Optional[cniconf.NetworkConfigList]:
    if not isinstance(before, dict) or raw is None:
        return None
    try:
        return cniconf.conflist_from_bytes(raw, path)
    except ConfigError:
        return None


def plan(spec: NetworkSpec, config_dir: str, plugin_dirs: Sequence[str], cache_dir: str,
         host_links: bool = True,
         networks: Optional[Dict[str, cniconf.NetworkConfigList]] = None,
         plugins_pending: bool = False) -> NetworkPlan:
    """Validate everything and compute the change; touches nothing.

    ``host_links=False`` (rootless: the devices live in the rootless CNI netns) skips the
    checks of the bridge and parent devices against this netns's links. ``networks``: the
    networks of config_dir as a batch sees them (its earlier entries applied), else loaded
    here. ``plugins_pending`` (check mode only): missing plugins are predicted, with a
    warning (see _pending)."""
    path = os.path.join(config_dir, "%s.conflist" % spec.name)
    result = NetworkPlan(path)
    result.before, raw = _read_existing(path)
    existing = _existing_conf(result.before, raw, path)
    if existing is not None and existing.name != spec.name and not spec.force:
        raise ValidationError("%s defines network %r, not %r: use force to overwrite it"
                              % (path, existing.name, spec.name), path=path)
    if networks is None:
        networks, warnings = cniconf.load_networks(config_dir)
        result.warnings.extend(w for w in warnings
                               if not w.startswith("skipped CNI config %s:" % path))
    shadow = networks.get(spec.name)
    if shadow is not None and shadow.path != path:
        if spec.state == "present":
            raise ValidationError("network %s is already defined by %s: remove that file first "
                                  "(the first file defining a name wins)" % (spec.name, shadow.path),
                                  path=shadow.path)
        result.warnings.append("network %s is still defined by %s" % (spec.name, shadow.path))
    # the networks other than ours, as the overlap and bridge checks must see them
    others = {n: c for n, c in networks.items() if c.path != path and n != spec.name}

    if spec.state == "present":
        result.after = _desired(spec, existing, others, host_links)
        check_plugins(result.after, plugin_dirs, plugins_pending, result.warnings)
    if result.before != result.after:  # (actions are set at the end)
        entries, unreadable = cnicache.scan(cache_dir, network=spec.name)
        result.in_use = [{"container_id": e.container_id, "interface": e.ifname} for e in entries]
        # a cache file that cannot be used may be an attachment of this network
        result.in_use += [{"container_id": None, "interface": None, "unreadable": str(u)}
                          for u in unreadable]
        if result.in_use and result.before is not None and not spec.force:
            users = ", ".join("%s (%s)" % (u["container_id"], u["interface"]) if u["container_id"]
                              else "an attachment whose cache file cannot be used: %s" % u["unreadable"]
                              for u in result.in_use)
            raise ValidationError("network %s is in use by %s: %s it anyway with force=true "
                                  "(attachments keep the configuration they were made with and "
                                  "detach cleanly)" % (spec.name, users,
                                                       "remove" if spec.state == "absent" else "change"),
                                  network=spec.name, in_use=result.in_use)
    if spec.state == "absent" and result.before is not None and existing is not None and host_links:
        result.remove_bridge = _bridge_to_remove(existing, others)
    result.plan_actions()
    return result


def _desired(spec: NetworkSpec, existing: Optional[cniconf.NetworkConfigList],
             others: Dict[str, cniconf.NetworkConfigList], host_links: bool = True) -> Dict[str, Any]:
    main = existing.plugins[0] if existing is not None else {}
    same_driver = main.get("type") == spec.driver
    # omitted host-dependent options keep what the network has, else take the default
    bridge = parent = None
    if spec.driver == "bridge":
        bridge = spec.bridge or (same_driver and main.get("bridge")) or default_bridge_name(spec.name)
        _validate.ifname(bridge)
        users = bridge_users(bridge, others, spec.name)
        if users:
            raise ValidationError("bridge %s is already used by network %s" % (bridge, ", ".join(users)),
                                  value=bridge)
        if host_links and _hostnet.link_exists(bridge) and not _hostnet.is_bridge(bridge):
            raise ValidationError("interface %s exists on the host and is not a bridge" % bridge,
                                  value=bridge)
    else:
        parent = spec.parent or (same_driver and main.get("master")) or _hostnet.default_route_interface()
        if not parent:
            raise ValidationError("parent is required for %s: the host has no default route to "
                                  "take it from" % spec.driver)
        _validate.ifname(parent)
        if host_links and not _hostnet.link_exists(parent):
            raise ValidationError("parent interface %s of %s network %s does not exist"
                                  % (parent, spec.driver, spec.name), value=parent)
    subnets = spec.subnets
    if subnets is None and existing is not None and same_driver:
        kept = [Subnet.from_range(r) for r in cniconf.ipam_ranges(existing)]
        subnets = kept or None
    if subnets is None and spec.driver == "bridge":
        subnets = [pick_free_subnet(others, spec.name, _hostnet.ipv4_routes())]
    if subnets:
        overlaps = subnet_overlaps(subnets, others, spec.name)
        if overlaps:
            raise ValidationError("; ".join("subnet %s of network %s overlaps subnet %s of network %s"
                                            % (ours, spec.name, theirs, other)
                                            for ours, other, theirs in overlaps),
                                  value=overlaps[0][0], network=overlaps[0][1])
    return build_conflist(spec, bridge, parent, subnets)


def _bridge_to_remove(existing: cniconf.NetworkConfigList,
                      others: Dict[str, cniconf.NetworkConfigList]) -> Optional[str]:
    """The bridge device podman would delete with the network: ours alone, no ports left."""
    main = existing.plugins[0]
    bridge = main.get("bridge") if main.get("type") == "bridge" else None
    if not bridge or bridge_users(bridge, others, existing.name):
        return None
    if not _hostnet.is_bridge(bridge) or _hostnet.bridge_ports(bridge):
        return None
    return bridge


def foreign_owner(path: str) -> Optional[Tuple[int, int]]:
    """(uid, gid) to write path as: as root, the innermost owner other than root of the
    existing directories above it (a user's home, or a symlink the user made there), so
    nothing root-owned is left in a user's directory; None to write as root."""
    if os.geteuid() != 0:
        return None
    probe = os.path.dirname(os.path.abspath(path))
    while True:
        try:
            st = os.lstat(probe)  # a symlink counts as its owner's, never followed here
        except OSError:
            st = None
        if st is not None and st.st_uid != 0:
            return st.st_uid, st.st_gid
        if probe == "/":
            return None
        probe = os.path.dirname(probe)


def _become(owner: Tuple[int, int]) -> Callable[[], None]:
    def prepare() -> None:  # in a forked child: from here on, the user's rights only
        os.setgroups([])
        os.setgid(owner[1])
        os.setuid(owner[0])
    return prepare


def _file_error(what: str, path: str, exc: OSError, owner: Optional[Tuple[int, int]]) -> ConfigError:
    who = " (as uid %d, the owner of the directory)" % owner[0] if owner else ""
    return ConfigError("cannot %s %s%s: %s" % (what, path, who, exc.strerror or exc), path=path)


def write_conflist(path: str, data: bytes) -> None:
    """Atomically write a config file, 0644 (a network definition is not secret).

    Under a directory of another user (root writing into a user's home), the directories
    made and the file belong to that user: the write runs as that user, in a forked child,
    so a symlink planted there cannot send it anywhere the user could not write."""
    owner = foreign_owner(path)
    try:
        if owner:
            _procs.run_in_child(_write_conflist, path, data, prepare=_become(owner))
        else:
            _write_conflist(path, data)
    except OSError as exc:
        raise _file_error("write", path, exc, owner)


def remove_conflist(path: str) -> bool:
    """Remove a config file (as the owner of its directory, see write_conflist)."""
    owner = foreign_owner(path)
    try:
        if owner:
            return bool(_procs.run_in_child(remove_file, path, prepare=_become(owner)))
        return remove_file(path)
    except OSError as exc:
        raise _file_error("remove", path, exc, owner)


def _write_conflist(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    write_atomic(path, data, 0o644, hidden=True)


def lock_path(state_dir: str) -> str:
    """The lock every writer of network definitions holds (overlap checks see the others)."""
    return os.path.join(state_dir, "locks", "cni-networks.lock")


def predicted_actions(result: NetworkPlan) -> List[str]:
    """What ``apply`` will report, for check mode."""
    return [_DONE[a["action"]] % a for a in result.actions]


def apply(result: NetworkPlan, run_command: Callable[..., Tuple[int, str, str]]) -> List[str]:
    """Carry out a plan; returns what was done. ``run_command`` is the module's
    (``AnsibleModule.run_command``: an argv list, returns rc, stdout, stderr)."""
    done: List[str] = []
    for a in result.actions:
        if a["action"] == "write":
            write_conflist(result.path, render(result.after))
        elif a["action"] == "remove":
            if not remove_conflist(result.path):
                continue  # gone meanwhile: nothing done
        elif a["action"] == "delete_bridge":
            bridge = a["bridge"]
            if not _hostnet.is_bridge(bridge) or _hostnet.bridge_ports(bridge):
                continue  # gone, or in use again: left alone
            rc, dummy, err = run_command(["ip", "link", "delete", bridge, "type", "bridge"])
            if rc != 0:
                result.warnings.append("could not delete bridge %s: %s" % (bridge, err.strip()))
                continue
        done.append(_DONE[a["action"]] % a)
    return done
