# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attach, detach and check one container's CNI networks.

An attachment is keyed by (network, container id, interface) — the libcni key — and
lives in the libcni cache. ``AttachmentSpec`` is what the user wants; the functions
here turn it into a RuntimeConf, run the chain (inside ``ctx.call_cni``), write or
remove the cache entry, and roll back a chain that failed half-way.
"""
from __future__ import annotations

import ipaddress
import os
import re
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _netns, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils import _intent
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext, ip_reservation_owner
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    CniPluginError, ConfigError, PodnetError, ValidationError)

# what a DEL may say when a firewall reload already removed the plugin's rules
EXPECTED_DEL_ERRORS = (
    "Couldn't load target `CNI-",
    "Chain 'CNI-",
    "does not exist",
    "No such file or directory",
    "No chain/target/match by that name",
    "Could not process rule: No such file or directory",
)


def tolerate_missing_rules(err: CniPluginError) -> bool:
    text = "%s %s %s" % (err.cni_msg, err.cni_details, err.stderr)
    return any(marker in text for marker in EXPECTED_DEL_ERRORS)


class AttachmentSpec:
    """What the user asks of one (network, interface) of a container."""

    __slots__ = ("network", "ifname", "ips", "mac", "aliases", "port_mappings", "cni_args",
                 "capability_args")

    def __init__(self, network: str, ifname: str, ips: Sequence[str] = (), mac: Optional[str] = None,
                 aliases: Sequence[str] = (), port_mappings: Sequence[Dict[str, Any]] = (),
                 cni_args: Sequence[Sequence[str]] = (),
                 capability_args: Optional[Dict[str, Any]] = None) -> None:
        self.network = cniconf.validate_network_name(network)
        self.ifname = _validate.ifname(ifname)
        self.ips = _validate.ip_list(ips)
        self.mac = _validate.mac(mac) if mac else None
        self.aliases = _validate.aliases(aliases)
        self.port_mappings = _validate.port_mappings(port_mappings)
        self.cni_args = _validate.cni_args(cni_args)
        self.capability_args = dict(capability_args or {})

    def to_dict(self) -> Dict[str, Any]:
        return {"network": self.network, "interface": self.ifname, "ips": list(self.ips),
                "mac": self.mac, "aliases": list(self.aliases),
                "port_mappings": [dict(p) for p in self.port_mappings],
                "cni_args": [list(a) for a in self.cni_args],
                "capability_args": dict(self.capability_args)}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "AttachmentSpec":
        return cls(data["network"], data["interface"], data.get("ips") or [], data.get("mac"),
                   data.get("aliases") or [], data.get("port_mappings") or [],
                   data.get("cni_args") or [], data.get("capability_args") or {})


def runtime_conf(conf: cniconf.NetworkConfigList, spec: AttachmentSpec, container_id: str,
                 container_name: str, netns: str) -> cniexec.RuntimeConf:
    """The RuntimeConf podman/ocicni would build for this attachment."""
    args: List[List[str]] = [["IgnoreUnknown", "1"], ["K8S_POD_NAMESPACE", container_name],
                             ["K8S_POD_NAME", container_name],
                             ["K8S_POD_INFRA_CONTAINER_ID", container_id]]
    caps: Dict[str, Any] = {}
    declared = conf.capabilities()
    if spec.ips:
        if declared.get("ips"):
            caps["ips"] = list(spec.ips)
        elif len(spec.ips) == 1:
            args.append(["IP", spec.ips[0]])
    if spec.mac:
        args.append(["MAC", spec.mac])
        if declared.get("mac"):
            caps["mac"] = spec.mac
    if spec.port_mappings:
        caps["portMappings"] = _validate.cni_port_mappings(spec.port_mappings)
    if spec.aliases:
        caps["aliases"] = {conf.name: list(spec.aliases)}
    for key, value in spec.cni_args:
        args = [a for a in args if a[0] != key] + [[key, value]]
    caps.update(spec.capability_args)
    return cniexec.RuntimeConf(container_id, netns, spec.ifname, args, caps)


def effective_conf(conf: cniconf.NetworkConfigList, spec: AttachmentSpec) -> cniconf.NetworkConfigList:
    """conf, or a copy carrying several static IPs as ``args.cni.ips`` when the plugins
    declare no ``ips`` capability (the CNI convention host-local reads)."""
    if len(spec.ips) < 2 or conf.capabilities().get("ips"):
        return conf
    plugins = []
    for plugin in conf.plugins:
        plugin = dict(plugin)
        if isinstance(plugin.get("ipam"), dict):
            args = dict(plugin.get("args") or {})
            cni = dict(args.get("cni") or {})
            cni["ips"] = list(spec.ips)
            args["cni"] = cni
            plugin["args"] = args
        plugins.append(plugin)
    return cniconf.NetworkConfigList(conf.name, conf.cni_version, plugins, conf.raw,
                                     conf.disable_check, conf.path)


# --- preflight: everything that can be known before touching the host ---

def preflight(ctx: HostContext, conf: cniconf.NetworkConfigList, spec: AttachmentSpec,
              container_id: str, other_entries: Optional[Sequence[cnicache.CacheEntry]] = None) -> None:
    """Raise ValidationError/ConfigError for what would make the ADD fail."""
    _validate.attachment_names_fit(conf.name, container_id, spec.ifname)
    cniconf.validate_plugins(conf, ctx.plugin_dirs)
    for ip in spec.ips:
        cniconf.check_ip_in_network(conf, ipaddress.ip_address(ip))
        owner = ip_reservation_owner(ctx, conf, ip)
        if owner and owner[0] and owner[0] != container_id:
            raise ValidationError("IP %s is already taken in network %s by container %s"
                                  % (ip, conf.name, owner[0]), value=ip, network=conf.name)
    if spec.mac and "tuning" not in conf.plugin_types and not conf.capabilities().get("mac"):
        raise ValidationError("network %s cannot set MAC %s: add the tuning plugin to its chain"
                              % (conf.name, spec.mac), value=spec.mac, network=conf.name)
    if spec.port_mappings:
        if not conf.capabilities().get("portMappings"):
            raise ValidationError("network %s cannot map ports: no plugin of its chain declares "
                                  "the portMappings capability (add portmap)" % conf.name,
                                  network=conf.name)
        ctx.check_port_mappings(spec.port_mappings)
        check_port_conflicts(ctx, spec, container_id, other_entries)


def check_port_conflicts(ctx: HostContext, spec: AttachmentSpec, container_id: str,
                         entries: Optional[Sequence[cnicache.CacheEntry]] = None) -> None:
    wanted = cnicache.host_ports(_validate.cni_port_mappings(spec.port_mappings))
    if entries is None:
        entries = cnicache.list_entries(ctx.cache_dir)
    for entry in entries:
        if entry.container_id == container_id:
            continue
        for hip, hport, proto in cnicache.host_ports(entry.capability_args.get("portMappings") or []):
            for whip, wport, wproto in wanted:
                if hport == wport and proto == wproto and (not hip or not whip or hip == whip):
                    raise ValidationError(
                        "host port %d/%s is already mapped by container %s (network %s)"
                        % (wport, wproto, entry.container_id, entry.network),
                        value=wport, container=entry.container_id)


class BatchClaims:
    """What the entries of one batch ask for, so that two of them never get the same
    static IP of a network or the same host port (checked before anything changes)."""

    def __init__(self) -> None:
        self.ips: Dict[Tuple[str, str], str] = {}  # (network, ip) -> owner
        self.ports: Dict[Tuple[int, str], Dict[str, str]] = {}  # (port, proto) -> host ip -> owner

    def claim(self, owner: str, network: str, ips: Sequence[str],
              port_mappings: Sequence[Dict[str, Any]]) -> None:
        """Raise ValidationError naming both owners when another one has claimed the same."""
        for ip in ips:
            other = self.ips.get((network, ip))
            if other and other != owner:
                raise ValidationError("IP %s in network %s is requested for both %s and %s"
                                      % (ip, network, other, owner), value=ip, owner=other)
            self.ips[(network, ip)] = owner
        for hip, port, proto in cnicache.host_ports(_validate.cni_port_mappings(port_mappings)):
            holders = self.ports.setdefault((port, proto), {})
            for ohip, other in holders.items():
                if other != owner and (not ohip or not hip or ohip == hip):
                    raise ValidationError("host port %d/%s is requested for both %s and %s"
                                          % (port, proto, other, owner), value=port, owner=other)
            holders[hip] = owner


# --- comparing a live attachment with a spec ---

def _norm_pm(pms: Any) -> List[Tuple[str, int, int, str]]:
    out = []
    for pm in pms or []:
        try:
            out.append((pm.get("hostIP", "") or "", int(pm["hostPort"]), int(pm["containerPort"]),
                        pm.get("protocol", "tcp").lower()))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return sorted(out)


def entry_spec_view(entry: cnicache.CacheEntry) -> Dict[str, Any]:
    """What a cache entry says about addresses, MAC, aliases and ports (for diffs)."""
    aliases = entry.capability_args.get("aliases") or {}
    return {"network": entry.network, "interface": entry.ifname,
            "ips": sorted(cniresult.addresses(entry.result)),
            "mac": (cniresult.mac_of(entry.result, entry.ifname) or "").lower() or None,
            "aliases": sorted(aliases.get(entry.network, []) if isinstance(aliases, dict) else []),
            "port_mappings": [list(p) for p in _norm_pm(entry.capability_args.get("portMappings"))]}


def spec_view(spec: AttachmentSpec, actual: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The same view for a spec; unset ips/mac take the actual values (any is fine)."""
    return {"network": spec.network, "interface": spec.ifname,
            "ips": sorted(spec.ips) if spec.ips else (actual or {}).get("ips", []),
            "mac": spec.mac if spec.mac else (actual or {}).get("mac"),
            "aliases": list(spec.aliases),
            "port_mappings": [list(p) for p in _norm_pm(_validate.cni_port_mappings(spec.port_mappings))]}


def mismatches(spec: AttachmentSpec, entry: cnicache.CacheEntry) -> List[str]:
    """Which requested properties the live attachment does not have ([] = up to date)."""
    actual = entry_spec_view(entry)
    wanted = spec_view(spec, actual)
    diffs = [key for key in ("ips", "mac", "aliases", "port_mappings") if wanted[key] != actual[key]]
    for key, value in spec.cni_args:
        if entry.arg(key) != value:
            diffs.append("cni_args")
            break
    for key, value in spec.capability_args.items():
        if entry.capability_args.get(key) != value:
            diffs.append("capability_args")
            break
    return diffs


# --- execution ---

def _add_chain(ctx_executor: cniexec.PluginExecutor, conf: cniconf.NetworkConfigList,
               rt: cniexec.RuntimeConf) -> Dict[str, Any]:
    """ADD; on failure DEL the same chain so nothing of it is left, then re-raise."""
    try:
        return cniexec.add_network_list(ctx_executor, conf, rt)
    except BaseException as exc:
        partial = getattr(exc, "partial_result", None)  # the result of the plugins that ran
        try:
            tolerated: List[Any] = cniexec.del_network_list(ctx_executor, conf, rt, partial,
                                                            tolerate=lambda e: True)
        except Exception as del_exc:
            tolerated = [del_exc]
        # what the rollback could not undo (e.g. a DEL that timed out on a host with a huge
        # ruleset) is named on the error; "rule/chain not there" is expected and dropped
        problems = [str(e) for e in tolerated or []
                    if not (isinstance(e, CniPluginError) and tolerate_missing_rules(e))]
        if problems and isinstance(exc, PodnetError):
            exc.details.setdefault("rollback_errors", problems)
        raise


def add(ctx: HostContext, conf: cniconf.NetworkConfigList, spec: AttachmentSpec,
        container_id: str, container_name: str, netns: str) -> cnicache.CacheEntry:
    """ADD one attachment and cache it (only after the whole chain succeeded)."""
    ctx.refuse_host_netns(netns)  # planners refuse it already: the last line of defence
    rt = runtime_conf(conf, spec, container_id, container_name, netns)
    # an intent first: if this process dies mid-chain, the next run undoes the rest (_intent)
    intent = _intent.mark(ctx, cnicache.CacheEntry(conf.name, container_id, spec.ifname, netns,
                                                   conf.raw, rt.args, rt.capability_args))
    try:
        return _add_and_cache(ctx, conf, spec, rt, container_id, netns)
    finally:
        _intent.clear(intent)  # cached, or rolled back


def _add_and_cache(ctx: HostContext, conf: cniconf.NetworkConfigList, spec: AttachmentSpec,
                   rt: cniexec.RuntimeConf, container_id: str, netns: str) -> cnicache.CacheEntry:
    result = ctx.run_add(conf.name, bool(spec.port_mappings), _add_chain, ctx.executor,
                         effective_conf(conf, spec), rt)
    entry = cnicache.CacheEntry(conf.name, container_id, spec.ifname, netns, conf.raw, rt.args,
                                rt.capability_args, result)
    hooked = False
    try:
        ctx.attachment_added(entry)  # rootless: host ports through slirp4netns
        hooked = True
        cnicache.write(ctx.cache_dir, entry)
    except BaseException:
        if hooked:
            ctx.attachment_removed(entry)
        ctx.call_cni(cniexec.del_network_list, ctx.executor, conf, rt, result,
                     tolerate=lambda e: True)
        raise
    return entry


def conf_of_entry(ctx: HostContext, entry: cnicache.CacheEntry) -> cniconf.NetworkConfigList:
    """The config the attachment was made with (from the cache), else the current one."""
    if entry.config:
        try:
            return cniconf.conflist_from_bytes(entry.config, "cache entry %s" % entry.path)
        except ConfigError:
            pass
    return ctx.get_network(entry.network)


def remove(ctx: HostContext, entry: cnicache.CacheEntry, netns: Optional[str] = None,
           tolerate: Optional[Callable[[CniPluginError], bool]] = None) -> List[str]:
    """DEL with the cached config, args and result; then drop the cache entry.

    Returns the messages of tolerated errors. ``netns`` overrides the cached path
    ("" for a namespace that is gone: the plugins then only release what they hold).
    """
    conf = conf_of_entry(ctx, entry)
    path = entry.netns if netns is None else netns
    host = ctx.host_netns_reason(path)
    if host:
        # an attachment recorded in the host's namespace (another tool's, or forged) is
        # never torn down there: DEL as for a namespace that is gone, which releases
        # what the plugins hold outside it (IPs, rules) and touches no interface
        ctx.warnings.append("attachment %s/%s/%s names netns %s, which is %s, never a "
                            "container's: DEL ran without it"
                            % (entry.network, entry.container_id, entry.ifname, path, host))
        path = ""
    elif netns is None:
        _restore_missing_link(ctx, entry)
    rt = cniexec.RuntimeConf(entry.container_id, path,
                             entry.ifname, entry.cni_args, entry.capability_args)
    tolerated = ctx.call_cni(cniexec.del_network_list, ctx.executor, conf, rt, entry.result,
                             tolerate=tolerate)
    cnicache.delete(ctx.cache_dir, entry.network, entry.container_id, entry.ifname)
    ctx.attachment_removed(entry)
    return [str(e) for e in tolerated or []]


def _stand_in_link(ifname: str, addresses: Sequence[str]) -> None:
    """In the current netns: a link named ifname holding addresses (CIDRs). A veth
    pair, as the dummy driver is not always there; pyroute2 only on this rare path."""
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        ipr.link("add", ifname=ifname, kind="veth", peer="podnet-peer")
        index = ipr.link_lookup(ifname=ifname)[0]
        for cidr in addresses:
            addr, plen = cidr.split("/")
            ipr.addr("add", index=index, address=addr, prefixlen=int(plen))


def _cached_addresses(entry: cnicache.CacheEntry) -> List[str]:
    return [ip["address"] for ip in cniresult.to_current(entry.result).get("ips") or []
            if ip.get("address")]


def _restore_missing_link(ctx: HostContext, entry: cnicache.CacheEntry) -> None:
    """Before a DEL in a live namespace whose container interface was deleted: put a
    stand-in with the cached addresses there, so the bridge plugin finds them and
    tears down its masquerade rule (see remove_gone). Best effort, root only."""
    addresses = _cached_addresses(entry)
    if ctx.rootless or not addresses or not entry.netns or _netns.status(entry.netns) != "mounted":
        return
    if _netns.link_exists(entry.netns, entry.ifname):
        return
    try:
        _netns.run_in_netns(entry.netns, _stand_in_link, entry.ifname, addresses)
    except Exception:
        pass  # the DEL still releases everything else


def remove_gone(ctx: HostContext, entry: cnicache.CacheEntry,
                tolerate: Optional[Callable[[CniPluginError], bool]] = None) -> List[str]:
    """DEL an attachment whose namespace is gone (deleted behind our back, a stale file).

    With netns "" the plugins release what they hold outside it, except that the
    bridge (and ptp) plugin tears down its masquerade rule only for the addresses it
    finds on the container's link: the rule and its CNI-<hash> chain would stay, and
    the DEL of the next attachment with the same network and id would then fail
    (chain busy). So DEL runs in a throwaway namespace holding a stand-in link with
    the cached addresses; when that cannot be built, with netns "" as the spec says.
    """
    addresses = _cached_addresses(entry)
    if ctx.rootless or not addresses:
        return remove(ctx, entry, netns="", tolerate=tolerate)
    # one per thread: a batch releases several containers' attachments at once
    tmp = ctx.netns_path("podnet-del-%d-%d" % (os.getpid(), threading.get_native_id()))
    try:
        if ctx.netns_status(tmp) != "absent":
            ctx.remove_netns(tmp)
        ctx.create_netns(tmp)
    except PodnetError:
        return remove(ctx, entry, netns="", tolerate=tolerate)
    try:
        try:
            _netns.run_in_netns(tmp, _stand_in_link, entry.ifname, addresses)
        except Exception:  # no stand-in: the spec's way still releases the rest
            return remove(ctx, entry, netns="", tolerate=tolerate)
        return remove(ctx, entry, netns=tmp, tolerate=tolerate)
    finally:
        ctx.remove_netns(tmp)


def false_check_alarm(entry: cnicache.CacheEntry) -> Callable[[CniPluginError], bool]:
    """The CHECK errors that are no sign of a broken attachment.

    portmap 1.1.x checks its DNAT chain with ip6tables too, even for a container without
    an IPv6 address, and fails with "could not check ipv6 dnat" on every healthy
    IPv4-only attachment (its IPv4 check has passed by then). With an IPv6 address too
    it looks for the IPv4 rules in ip6tables (the message names an IPv4 DNAT target):
    the same false alarm.
    """
    has_v6 = any(":" in a for a in cniresult.addresses(entry.result))

    def tolerate(err: CniPluginError) -> bool:
        text = "%s %s" % (err.cni_msg, err.cni_details)
        if err.plugin != "portmap" or "could not check ipv6 dnat" not in text:
            return False
        return not has_v6 or _V4_DNAT_TARGET.search(text) is not None
    return tolerate


_V4_DNAT_TARGET = re.compile(r"--to-destination \d{1,3}(\.\d{1,3}){3}(:|\b)")


def check(ctx: HostContext, entry: cnicache.CacheEntry) -> Optional[str]:
    """CNI CHECK of a cached attachment: None when healthy, else why not.

    Raises ConfigError when the network's version cannot CHECK.
    """
    conf = conf_of_entry(ctx, entry)
    rt = cniexec.RuntimeConf(entry.container_id, entry.netns, entry.ifname, entry.cni_args,
                             entry.capability_args)
    try:
        ctx.call_cni(cniexec.check_network_list, ctx.executor, conf, rt, entry.result,
                     tolerate=false_check_alarm(entry))
    except CniPluginError as exc:
        return str(exc)
    return None


def spec_from_entry(entry: cnicache.CacheEntry) -> AttachmentSpec:
    """A spec that re-creates a cached attachment with the same addresses (reload, repair)."""
    view = entry_spec_view(entry)
    pms = [{"host_ip": h, "host_port": hp, "container_port": cp, "protocol": pr}
           for h, hp, cp, pr in view["port_mappings"]]
    standard = {"IgnoreUnknown", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID",
                "IP", "MAC"}
    extra_args = [a for a in entry.cni_args if a[0] not in standard]
    extra_caps = {k: v for k, v in entry.capability_args.items()
                  if k not in ("portMappings", "aliases", "ips", "mac")}
    return AttachmentSpec(entry.network, entry.ifname, view["ips"], view["mac"], view["aliases"],
                          pms, extra_args, extra_caps)


def container_name_of(entry: cnicache.CacheEntry) -> str:
    return entry.arg("K8S_POD_NAME") or entry.container_id


class OperationLog:
    """What one operation attached, so a failure can undo exactly that."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.added: List[cnicache.CacheEntry] = []

    def add(self, conf: cniconf.NetworkConfigList, spec: AttachmentSpec, container_id: str,
            container_name: str, netns: str) -> cnicache.CacheEntry:
        entry = add(self.ctx, conf, spec, container_id, container_name, netns)
        self.added.append(entry)
        return entry

    def rollback(self) -> List[str]:
        """DEL everything added by this operation, newest first; returns what failed."""
        problems = []
        for entry in reversed(self.added):
            try:
                remove(self.ctx, entry, tolerate=lambda e: True)
            except PodnetError as exc:
                problems.append(str(exc))
        self.added = []
        return problems
