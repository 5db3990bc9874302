# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Over 450 lines: one attachment's ADD/DEL/CHECK, its cache entry, intent and rollback are one transaction; the preflight checks guard it.
"""Attach, detach and check one container's CNI networks.

An attachment is keyed by (network, container id, interface) — the libcni key — and
lives in the libcni cache. ``AttachmentSpec`` is what the user wants; the functions
here turn it into a RuntimeConf, run the chain (inside ``ctx.call_cni``), write or
remove the cache entry, and roll back a chain that failed half-way.
"""
from __future__ import annotations

import functools
import ipaddress
import os
import re
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _concurrency, _netns, _procgroup, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._cni import rules as cnirules
from ansible_collections.podnet.cni.plugins.module_utils import _hostports, _intent
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext, ip_reservation_owner
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    CniPluginError, ConfigError, LockError, PodnetError, RootlessError, StateError, ValidationError)
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import Unreadable

# what a DEL may say when a firewall reload already removed the plugin's rules
EXPECTED_DEL_ERRORS = cniexec.EXPECTED_DEL_ERRORS
tolerate_missing_rules = cniexec.is_missing_rules_error

# the main plugins that create CNI_IFNAME in the container: an ADD of them where that
# name exists already fails ("already exists"), and its rollback DEL would delete the
# interface that was there (and release its IP): such an ADD never starts
CREATES_INTERFACE = ("bridge", "macvlan", "ipvlan", "ptp", "vlan", "host-device", "dummy", "tap")


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
              container_id: str, other_entries: Optional[Sequence[cnicache.CacheEntry]] = None,
              unreadable: Sequence[Unreadable] = ()) -> None:
    """Raise ValidationError/ConfigError for what would make the ADD fail.

    ``other_entries``/``unreadable``: the cache's usable entries and unusable files (read
    here when other_entries is None)."""
    _validate.attachment_names_fit(conf.name, container_id, spec.ifname)
    ctx.validate_plugins(conf)
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
        if other_entries is None:
            other_entries, unreadable = cnicache.scan(ctx.cache_dir)
        _hostports.check_conflicts(ctx.cache_dir, spec.port_mappings, container_id, other_entries)
        if not ctx.rootless:
            for warning in _hostports.listening_warnings(
                    spec.port_mappings, functools.partial(ctx.once, "bound_ports", _hostports.bound_ports)):
                if warning not in ctx.warnings:
                    ctx.warnings.append(warning)
        if unreadable:
            for item in unreadable:
                warning = "cannot be used (left alone): %s" % item
                if warning not in ctx.warnings:
                    ctx.warnings.append(warning)
            check_ports_in_rules(ctx, conf, spec, container_id, other_entries, unreadable)


def check_ports_in_rules(ctx: HostContext, conf: cniconf.NetworkConfigList, spec: AttachmentSpec,
                         container_id: str, entries: Sequence[cnicache.CacheEntry],
                         unreadable: Sequence[Unreadable]) -> None:
    """With unusable cache files around, the cache cannot say which host ports are taken:
    look at portmap's DNAT rules instead. A port DNATed by a chain no usable entry (and
    not this container) owns is taken by an attachment we cannot read."""
    known = {cnirules.dnat_chain(e.network, e.container_id) for e in entries}
    known.add(cnirules.dnat_chain(conf.name, container_id))
    wanted = _hostports.host_ports(_validate.cni_port_mappings(spec.port_mappings))
    for chain, hip, hport, proto in ctx.call_cni(cnirules.mapped_host_ports, ctx.executor):
        if chain in known:
            continue
        for want in wanted:
            if _hostports.clash((hip, hport, proto), want):
                raise ValidationError(
                    "host port %d/%s is already mapped (iptables chain %s) by an attachment no "
                    "usable cache entry describes; the cache holds files that cannot be used: %s"
                    % (want[1], want[2], chain, "; ".join(str(u) for u in unreadable)),
                    value=want[1], chain=chain)


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

def refuse_existing_interface(conf: cniconf.NetworkConfigList, netns: str, ifname: str,
                              in_thread: bool = True) -> None:
    """ValidationError when the ADD would create ifname in netns and it is there already
    (no usable cache entry says which attachment made it): the ADD would fail, and its
    rollback DEL would delete that interface and release its address. ``in_thread``:
    False for a rootless planner (see _netns.link_exists)."""
    if netns and conf.plugin_types and conf.plugin_types[0] in CREATES_INTERFACE \
            and _netns.link_exists(netns, ifname, doubt=False, in_thread=in_thread):
        raise ValidationError(
            "interface %s already exists in %s and no usable cache entry of network %s says it "
            "is its attachment: podnet.cni adds nothing over it (a failed ADD's rollback would "
            "delete it). Remove what made it with the tool that made it (or `ip -n <netns> link "
            "del %s` if it is a leftover), or choose another interface name"
            % (ifname, netns, conf.name, ifname), value=ifname, netns=netns, network=conf.name)


def _add_chain(ctx_executor: cniexec.PluginExecutor, conf: cniconf.NetworkConfigList,
               rt: cniexec.RuntimeConf) -> Dict[str, Any]:
    """ADD; on failure DEL the same chain so nothing of it is left, then re-raise.

    The DEL gets what the plugins that ran returned (``partial_result``), whatever the
    failure was. The exception says whether that undo is complete
    (``rollback_complete``): if a DEL failed, the caller keeps the ADD's intent so a
    later run retries the undo."""
    try:
        refuse_existing_interface(conf, rt.netns, rt.ifname)
    except BaseException as exc:
        _mark_rollback(exc, [])  # refused before anything ran
        raise
    try:
        return cniexec.add_network_list(ctx_executor, conf, rt)
    except BaseException as exc:
        if not getattr(exc, "add_started", True):  # no plugin ran: nothing to undo
            _mark_rollback(exc, [])
            raise
        partial = getattr(exc, "partial_result", None)  # the result of the plugins that ran
        problems = _undo(ctx_executor, conf, rt, partial)
        if problems and all(isinstance(e, CniPluginError) and _concurrency.is_race(e) for e in problems):
            problems = _undo(ctx_executor, conf, rt, partial)  # a DEL that lost a race: once more
        _mark_rollback(exc, [str(e) for e in problems])
        raise


def _undo(ctx_executor: cniexec.PluginExecutor, conf: cniconf.NetworkConfigList,
          rt: cniexec.RuntimeConf, partial: Optional[Dict[str, Any]]) -> List[BaseException]:
    """DEL the chain of a failed ADD; returns the errors that leave something behind
    ("rule/chain not there" is expected and dropped). A DEL is idempotent: it may run
    again."""
    try:
        tolerated: List[Any] = _intent.undo_chain(ctx_executor, conf, rt, partial, lambda e: True)
    except Exception as del_exc:
        tolerated = [del_exc]
    return [e for e in tolerated or []
            if not (isinstance(e, CniPluginError) and tolerate_missing_rules(e))]


# errors that, raised around the chain rather than by it, mean no plugin ran
_REFUSED_BEFORE_THE_CHAIN = (ValidationError, ConfigError, StateError, RootlessError, LockError)


def _mark_rollback(exc: BaseException, problems: List[str]) -> None:
    if problems and isinstance(exc, PodnetError):
        exc.details.setdefault("rollback_errors", problems)
    try:
        exc.rollback_complete = not problems  # type: ignore[attr-defined]
    except AttributeError:
        pass


def _refuse_a_shared_file_name(ctx: HostContext, entry: cnicache.CacheEntry) -> None:
    """Cache and intent files are named <network>-<container>-<interface> and '-' may be
    in each part: two attachments can share a name, and the second would overwrite the
    first's state (which then looks gone: its IP released, its rules kept)."""
    for what, path, other in (
            ("cache entry", cnicache.entry_path(ctx.cache_dir, *entry.key),
             cnicache.other_holder(ctx.cache_dir, *entry.key)),
            ("intent", _intent.path_of(ctx, entry), _intent.other_holder(ctx, entry))):
        if other is not None:
            raise PodnetError(
                "cannot attach container %s to network %s (%s): its %s file %s already holds "
                "container %s on network %s (%s); names that contain '-' can map to one file "
                "- rename the network or the container" % (entry.container_id, entry.network, entry.ifname,
                                                           what, path, other[1], other[0], other[2]),
                network=entry.network, container=entry.container_id, path=path)


def add(ctx: HostContext, conf: cniconf.NetworkConfigList, spec: AttachmentSpec,
        container_id: str, container_name: str, netns: str) -> cnicache.CacheEntry:
    """ADD one attachment and cache it (only after the whole chain succeeded).

    The intent written first stays when the ADD failed and its undo did not complete
    (or this process dies): the next run of the container finishes the undo."""
    ctx.refuse_host_netns(netns)  # planners refuse it already: the last line of defence
    _refuse_a_shared_file_name(ctx, cnicache.CacheEntry(conf.name, container_id, spec.ifname, netns))
    rt = runtime_conf(conf, spec, container_id, container_name, netns)
    # host ports: claimed for the host from the conflict check to the cache write (root)
    with _hostports.claim(ctx, container_id, conf.name, rt.capability_args.get("portMappings")):
        # an intent first: if this process dies mid-chain, the next run undoes the rest (_intent)
        intent = _intent.mark(ctx, cnicache.CacheEntry(conf.name, container_id, spec.ifname, netns,
                                                       conf.raw, rt.args, rt.capability_args))
        try:
            entry = _add_and_cache(ctx, conf, spec, rt, container_id, netns)
        except BaseException as exc:
            # the chain marks every error of its own; an unmarked refusal came from before
            # it (rootless: the namespace's state checked on the way in): nothing ran
            if getattr(exc, "rollback_complete", isinstance(exc, _REFUSED_BEFORE_THE_CHAIN)):
                _intent.clear(intent)
            elif isinstance(exc, PodnetError):
                exc.details["intent"] = intent
                exc.msg += (" (its undo is incomplete: the next run of this container retries it, "
                            "from %s)" % intent)
            raise
        _intent.clear(intent)  # cached
        return entry


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
    except BaseException as exc:
        problems: List[str] = []
        try:
            if hooked:
                ctx.attachment_removed(entry)
            tolerated = ctx.call_cni(_intent.undo_chain, ctx.executor, conf, rt, result,
                                     lambda e: True)
            problems = [str(e) for e in tolerated or []
                        if not (isinstance(e, CniPluginError) and tolerate_missing_rules(e))]
        except Exception as del_exc:  # the undo failed: the intent stays
            problems = [str(del_exc)]
        _mark_rollback(exc, problems)
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
    return _in_stand_in(ctx, entry.ifname, _cached_addresses(entry),
                        lambda netns: remove(ctx, entry, netns=netns, tolerate=tolerate))


def _in_stand_in(ctx: HostContext, ifname: str, addresses: Sequence[str],
                 action: Callable[[str], Any]) -> Any:
    """action(netns) with a throwaway namespace holding a stand-in link ifname with
    addresses (CIDRs), or with "" when there are none or it cannot be built."""
    if ctx.rootless or not addresses:
        return action("")
    # one per thread: a batch releases several containers' attachments at once
    tmp = ctx.netns_path("podnet-del-%d-%d" % (os.getpid(), threading.get_native_id()))
    try:
        if ctx.netns_status(tmp) != "absent":
            ctx.remove_netns(tmp)
        ctx.create_netns(tmp)
    except PodnetError:
        return action("")
    try:
        try:
            _netns.run_in_netns(tmp, _stand_in_link, ifname, addresses)
        except Exception:  # no stand-in: the spec's way still releases the rest
            return action("")
        return action(tmp)
    finally:
        ctx.remove_netns(tmp)


def recover_interrupted(ctx: HostContext, intent: _intent.Intent) -> None:
    """Undo an ADD a dead run left half-done (see _intent), then drop its intent.

    First whatever of that run still runs is stopped (its plugin process group: an
    orphan would go on adding rules for the address the undo releases). Unless the ADD
    finished and was cached, DEL with the recorded config and a prevResult naming the
    IPs host-local reserved for it (firewall and portmap find their rules by them), in
    the namespace if it is alive, else next to a stand-in link (see remove_gone).
    Errors other than "rule already gone" fail the recovery and keep the intent.
    StateError when the cache entry of that key is there but unusable: it may say the
    ADD finished, so nothing is undone on a guess."""
    if intent.group:
        _procgroup.PluginGroup.stop(intent.group)
    if cnicache.read(ctx.cache_dir, intent.network, intent.container_id, intent.ifname) is None:
        try:
            conf = cniconf.conflist_from_bytes(intent.config, "intent %s" % intent.path)
        except ConfigError:
            conf = ctx.get_network(intent.network)
        prev = _intent.reserved_result(ctx, conf, intent)

        def undo(netns: str) -> Any:
            rt = cniexec.RuntimeConf(intent.container_id, netns, intent.ifname, intent.cni_args,
                                     intent.capability_args)
            return ctx.call_cni(_intent.undo_chain, ctx.executor, conf, rt, prev,
                                cniexec.is_missing_rules_error)
        try:
            if intent.netns and ctx.netns_status(intent.netns) == "mounted":
                undo(intent.netns)
            else:
                _in_stand_in(ctx, intent.ifname, [ip["address"] for ip in (prev or {}).get("ips", [])],
                             undo)
        except PodnetError as exc:
            raise PodnetError("could not undo the interrupted ADD of %s to network %s (%s), recorded "
                              "in %s: %s; the intent stays for the next run"
                              % (intent.container_id, intent.network, intent.ifname, intent.path, exc),
                              path=intent.path, network=intent.network, container=intent.container_id)
    _intent.clear(intent.path)


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


def restore(ctx: HostContext, entry: cnicache.CacheEntry, container_name: str, netns: str) -> cnicache.CacheEntry:
    """ADD a removed attachment again, with its cached config and the same addresses."""
    return add(ctx, conf_of_entry(ctx, entry), spec_from_entry(entry), entry.container_id,
               container_name, netns)


class OperationLog:
    """What one operation attached and detached, so a failure can undo exactly that: DEL
    what it added, then ADD back (same addresses) what it removed from a live namespace."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.added: List[cnicache.CacheEntry] = []
        self.removed: List[Tuple[cnicache.CacheEntry, str, str]] = []
        self.restored: List[str] = []

    def add(self, conf: cniconf.NetworkConfigList, spec: AttachmentSpec, container_id: str,
            container_name: str, netns: str) -> cnicache.CacheEntry:
        entry = add(self.ctx, conf, spec, container_id, container_name, netns)
        self.added.append(entry)
        return entry

    def remove(self, entry: cnicache.CacheEntry, container_name: str, netns: str,
               tolerate: Optional[Callable[[CniPluginError], bool]] = None) -> List[str]:
        """DEL an attachment whose namespace lives; a rollback puts it back."""
        warnings = remove(self.ctx, entry, tolerate=tolerate)
        self.removed.append((entry, container_name, netns))
        return warnings

    def rollback(self, put_back: bool = True) -> List[str]:
        """DEL everything added by this operation, newest first, then (``put_back``) ADD
        back what it removed while that namespace is still there; returns what failed
        (``restored`` lists the network/interface pairs put back)."""
        problems = []
        for entry in reversed(self.added):
            try:
                remove(self.ctx, entry, tolerate=lambda e: True)
            except PodnetError as exc:
                problems.append(str(exc))
        self.added = []
        for entry, name, netns in reversed(self.removed if put_back else []):
            if self.ctx.netns_status(netns) != "mounted":
                continue
            try:
                restore(self.ctx, entry, name, netns)
                self.restored.append("%s/%s" % (entry.network, entry.ifname))
            except PodnetError as exc:
                problems.append("%s/%s not put back: %s" % (entry.network, entry.ifname, exc))
        self.removed = []
        self.restored.sort()
        return problems
