# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``container_netns``'s option model: the module parameters of one container, validated
and normalised without changing anything (``ContainerRequest``), and the network modes
they name. ``_container`` plans and executes a request; ``_container_batch`` many."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _netns, _slirpmode, _state, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

NETWORK_MODES = C.NETWORK_MODES
# the modes without a namespace of the container's own and without CNI calls: the host's
# (host), another container's (container:<id>), an existing one used as it is (ns:<path>)
SHARED_KINDS = ("host", "container", "ns")
SHARED_ORIGIN = "shared"  # the netns_origin of a record of such a mode


def mode_kind(network_mode: Optional[str]) -> str:
    """bridge, none, slirp4netns, host, container or ns (of a network_mode value)."""
    mode = network_mode or C.DEFAULT_NETWORK_MODE
    for prefix in ("container:", "ns:"):
        if mode.startswith(prefix):
            return prefix[:-1]
    return mode


ATTACHED_BY_US = _state.BY_CONTAINER_NETNS  # see _state: who attached a network
# the netns origins whose mount in our netns dir is ours to remove (never "existing")
OURS = ("created", "pinned")
# the keys of a networks entry given as a dict (documented as the option's suboptions)
NETWORK_ENTRY_KEYS = ("name", "aliases", "interface", "ips", "mac")


class ContainerRequest:
    """The validated module parameters of container_netns."""

    def __init__(self, ctx: HostContext, container_id: str, name: Optional[str] = None,
                 netns: Optional[str] = None, pid: Optional[int] = None,
                 network_mode: str = C.DEFAULT_NETWORK_MODE, networks: Sequence[Any] = (),
                 port_mappings: Sequence[Dict[str, Any]] = (), static_ip: Optional[str] = None,
                 static_mac: Optional[str] = None, state: str = C.DEFAULT_STATE,
                 slirp4netns_options: Optional[Dict[str, Any]] = None,
                 purge_networks: bool = False, force: bool = False) -> None:
        self.container_id = _validate.container_id(container_id)
        self.name = _validate.container_id(name, "name") if name else self.container_id
        self.force = bool(force)
        recorded = None
        self.recorded_kind: Optional[str] = None  # absent: the recorded mode's kind
        if netns is None:
            rec = _state.load(ctx.state_dir, self.container_id) or {}
            recorded = rec.get("netns")
            if state == "absent" and rec:
                self.recorded_kind = mode_kind(rec.get("network_mode"))
            if state == "present" and recorded != ctx.netns_path(_netns.legacy_default_name(
                    self.container_id)):
                # present keeps the default name, except the one an id longer than 64
                # characters got before names were made collision-free (its namespace lives)
                recorded = None
            # absent without naming the namespace: the one recorded for the container (it
            # may not be the default), so its attachments are not taken for stale
        self.netns = recorded if isinstance(recorded, str) and recorded else \
            ctx.netns_path(netns) if netns else ctx.default_netns(self.container_id)
        if pid is not None and (isinstance(pid, bool) or int(pid) < 1):
            raise ValidationError("invalid pid %r" % (pid,), value=pid)
        self.pid = int(pid) if pid is not None else None
        self.kind = mode_kind(network_mode) if isinstance(network_mode, str) else ""
        if self.kind not in ("bridge", "none", "slirp4netns") + SHARED_KINDS:
            raise ValidationError("invalid network_mode %r: use one of %s"
                                  % (network_mode, ", ".join(NETWORK_MODES)), value=network_mode)
        self.network_mode = network_mode
        self.joins: Optional[str] = None  # container:<id>: the owner of the namespace
        if self.kind in SHARED_KINDS:
            self._shared_mode(ctx, network_mode, netns, state, port_mappings)
        if state == "present":
            # the host's namespace, asked here too: a rootless module cannot follow another
            # process's namespace link once it has joined the holder's user namespace
            if self.pid is not None:
                ctx.check_pid(self.pid)  # rootless: whose process it is, said first
                ctx.refuse_host_netns("/proc/%d/ns/net" % self.pid, pid=self.pid)
            if _netns.is_proc_link(self.netns):
                ctx.refuse_host_netns(self.netns)
        self.state = state
        if not isinstance(purge_networks, bool):
            raise ValidationError("invalid purge_networks %r: true or false" % (purge_networks,),
                                  value=purge_networks)
        self.purge_networks = purge_networks
        self.slirp4netns_options = _slirpmode.declared_options(slirp4netns_options)
        self.port_mappings = _validate.port_mappings(port_mappings)
        # the ports its own slirp4netns forwards (slirp4netns mode; a joiner: its owner's),
        # shown in network_settings.Ports as the bridge mode's CNI port mappings are
        self.slirp_ports: List[Dict[str, Any]] = _validate.cni_port_mappings(self.port_mappings) \
            if self.kind == "slirp4netns" else []
        self.static_ip = _validate.ip(static_ip, "static_ip") if static_ip else None
        self.static_mac = _validate.mac(static_mac) if static_mac else None
        self.entries = [self._entry(n) for n in networks or []]
        names = [e["name"] for e in self.entries]
        for n in names:
            if names.count(n) > 1:
                raise ValidationError("network %r is listed twice" % n, value=n)
        if network_mode != "bridge" and self.entries:
            raise ValidationError("networks are only used with network_mode=bridge, not %r"
                                  % network_mode, value=network_mode)
        if network_mode == "bridge" and state == "present" and not self.entries:
            raise ValidationError("network_mode=bridge needs at least one network in networks")
        explicit = [e["interface"] for e in self.entries if e["interface"]]
        for i in explicit:
            if explicit.count(i) > 1:
                raise ValidationError("interface name %r is used twice" % i, value=i)

    def _shared_mode(self, ctx: HostContext, mode: str, netns: Optional[str], state: str,
                     port_mappings: Sequence[Any]) -> None:
        """host, container:<id>, ns:<path>: what they name, and what they cannot have."""
        what = "network_mode %s" % mode
        if self.kind == "container":
            self.joins = _validate.container_id(mode[len("container:"):], "the container of %s" % what)
            if self.joins == self.container_id:
                raise ValidationError("invalid %s: a container cannot join its own namespace" % what,
                                      value=mode)
        elif self.kind == "ns":
            path = mode[len("ns:"):]
            if not path.startswith("/"):
                raise ValidationError("invalid %s: the namespace must be an absolute path" % what,
                                      value=mode)
            self.netns = ctx.netns_path(path)  # normalised, no '..' (ValidationError)
        if state != "present":
            return
        if netns is not None and not (self.kind == "ns" and ctx.netns_path(netns) == self.netns):
            raise ValidationError("netns cannot be used with %s: the namespace is %s" % (
                what, {"host": "the host's", "container": "the one of container %s" % self.joins,
                       "ns": "the one it names"}[self.kind]), value=netns)
        if self.pid is not None:
            raise ValidationError("pid cannot be used with %s (it brings its namespace)" % what,
                                  value=self.pid)
        if port_mappings:
            raise ValidationError(
                "port_mappings cannot be used with %s: %s" % (what, {
                    "host": "the process binds host ports itself",
                    "container": "ports are mapped on the networks of container %s" % self.joins,
                    "ns": "the namespace is used as it is (no CNI calls)"}[self.kind]),
                value=mode)
        if self.kind == "host":
            self.netns = ""

    @staticmethod
    def _entry(item: Any) -> Dict[str, Any]:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise ValidationError("invalid network entry %r: a network name, or a dict with "
                                  "'name' and the keys %s" % (item, ", ".join(NETWORK_ENTRY_KEYS[1:])),
                                  value=item)
        unknown = _validate.unknown_keys(item, NETWORK_ENTRY_KEYS)
        if unknown:
            raise ValidationError("invalid network entry %r: %s" % (item, unknown), value=item)
        ips = item.get("ips") or []
        if isinstance(ips, str):
            ips = [ips]
        return {"name": item["name"],
                "interface": _validate.ifname(item["interface"]) if item.get("interface") else None,
                "ips": _validate.ip_list(ips), "mac": _validate.mac(item["mac"]) if item.get("mac") else None,
                "aliases": _validate.aliases(item.get("aliases"))}

    def specs(self, current: Sequence[cnicache.CacheEntry],
              reserved: Sequence[str] = ()) -> List[_attach.AttachmentSpec]:
        """Attachment specs with interface names: explicit, else the one a network already
        has, else eth<index> when free, else the lowest free ethN (``reserved``: the
        interfaces of networks that stay without being listed)."""
        used = {e["interface"] for e in self.entries if e["interface"]} | set(reserved)
        names: List[Optional[str]] = []
        for e in self.entries:
            name = e["interface"]
            if name is None:
                for entry in current:
                    if entry.network == e["name"] and entry.ifname not in used:
                        name = entry.ifname
                        used.add(name)
                        break
            names.append(name)
        for i, e in enumerate(self.entries):
            if names[i] is None:
                n = i if "eth%d" % i not in used else 0
                while "eth%d" % n in used:
                    n += 1
                names[i] = "eth%d" % n
                used.add(names[i])
        specs = []
        for i, e in enumerate(self.entries):
            ips = e["ips"] or ([self.static_ip] if i == 0 and self.static_ip else [])
            mac = e["mac"] or (self.static_mac if i == 0 else None)
            pms = self.port_mappings if i == 0 else []
            specs.append(_attach.AttachmentSpec(e["name"], names[i] or "", ips, mac, e["aliases"],
                                                pms))
        return specs
