# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI network definitions: build a conflist the way ``podman network create`` (v3, CNI
backend) shapes it, validate it against the host, compare it with what is on disk.

The pure part (``NetworkSpec``, ``build_conflist``, ``subnet_overlaps``) has no host
access; ``plan``/``apply`` read the config dir, the libcni cache and /sys, and write or
remove ``<config_dir>/<name>.conflist``.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _procs, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import remove_file, write_atomic
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

DRIVERS = C.DRIVERS
MODES = {"macvlan": ("bridge", "vepa", "private", "passthru"), "ipvlan": ("l2", "l3", "l3s")}
CNI_VERSIONS = C.CNI_VERSIONS
DEFAULT_CNI_VERSION = C.DEFAULT_CNI_VERSION
DEFAULT_DNS_DOMAIN = C.DEFAULT_DNS_DOMAIN
SUBNET_KEYS = ("subnet", "gateway", "range_start", "range_end", "ip_range")
AUTO_POOL = ipaddress.ip_network("10.89.0.0/16")  # podman picks 10.89.N.0/24 for new networks
NAME_MAX = 200                          # <name>.conflist must fit a file name
SYS_NET = "/sys/class/net"
PROC_ROUTE = "/proc/net/route"


# --- the spec: module params, validated without touching the host ---

class Subnet:
    """One host-local range: subnet, gateway (default: first host), optional lease range,
    given as range_start/range_end or as podman's ip_range (a CIDR inside the subnet)."""

    __slots__ = ("subnet", "gateway", "range_start", "range_end")

    def __init__(self, subnet: Any, gateway: Any = None, range_start: Any = None,
                 range_end: Any = None, ip_range: Any = None) -> None:
        try:
            net = ipaddress.ip_network(str(subnet).strip(), strict=False)
        except ValueError:
            raise ValidationError("invalid subnet %r: expected a CIDR like 10.89.0.0/24" % (subnet,),
                                  value=subnet)
        if net.num_addresses < 4:
            raise ValidationError("subnet %s is too small: it needs room for a gateway and at "
                                  "least one container (IPv4 /30, IPv6 /126 at most)" % net,
                                  value=str(net))
        self.subnet = net
        self.gateway = self._address(gateway, "gateway") if gateway else net.network_address + 1
        if ip_range:
            if range_start or range_end:
                raise ValidationError("subnet %s: ip_range and range_start/range_end exclude each "
                                      "other (both set host-local's rangeStart/rangeEnd): give one"
                                      % net, value=str(net))
            range_start, range_end = self._ip_range(ip_range)
        self.range_start = self._address(range_start, "range_start") if range_start else None
        self.range_end = self._address(range_end, "range_end") if range_end else None
        if self.range_start and self.range_end and self.range_start > self.range_end:
            raise ValidationError("subnet %s: range_start %s is after range_end %s"
                                  % (net, self.range_start, self.range_end), value=str(net))

    def _address(self, value: Any, what: str) -> Any:
        try:
            addr = ipaddress.ip_address(str(value).strip())
        except ValueError:
            raise ValidationError("subnet %s: invalid %s %r" % (self.subnet, what, value), value=value)
        if addr.version != self.subnet.version or addr not in self.subnet:
            raise ValidationError("subnet %s: %s %s is outside the subnet" % (self.subnet, what, addr),
                                  value=str(addr))
        if addr == self.subnet.network_address or (
                addr.version == 4 and addr == self.subnet.broadcast_address):
            raise ValidationError("subnet %s: %s %s is the %s address of the subnet"
                                  % (self.subnet, what, addr,
                                     "network" if addr == self.subnet.network_address else "broadcast"),
                                  value=str(addr))
        return addr

    def _ip_range(self, value: Any) -> Tuple[Any, Any]:
        """podman's ip_range as host-local's rangeStart/rangeEnd: every address of the CIDR a
        container may get. Unlike podman (the range's first address + 1 to its last, which
        hands out the subnet's broadcast address when the range ends the subnet), the range's
        own first and last addresses are kept and only the subnet's network and IPv4
        broadcast addresses are left out; host-local skips the gateway by itself."""
        net = self.subnet
        try:
            rng = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            raise ValidationError("subnet %s: invalid ip_range %r: expected a CIDR inside the subnet"
                                  % (net, value), value=value)
        if rng.version != net.version:
            raise ValidationError("subnet %s: ip_range %s is IPv%d, the subnet %s IPv%d"
                                  % (net, rng, rng.version, net, net.version), value=str(rng))
        if not rng.subnet_of(net):
            raise ValidationError("subnet %s: ip_range %s is not inside the subnet %s" % (net, rng, net),
                                  value=str(rng))
        last_host = net.broadcast_address - 1 if net.version == 4 else net.broadcast_address
        start = max(rng.network_address, net.network_address + 1)
        end = min(rng.broadcast_address, last_host)
        if start > end:
            raise ValidationError("subnet %s: ip_range %s holds no address a container can get (only "
                                  "the subnet's network or broadcast address)" % (net, rng),
                                  value=str(rng))
        if start == end == self.gateway:
            raise ValidationError("subnet %s: ip_range %s holds only the gateway %s"
                                  % (net, rng, self.gateway), value=str(rng))
        return start, end

    @property
    def version(self) -> int:
        return self.subnet.version

    def to_range(self) -> Dict[str, str]:
        """The host-local range object, keys in podman's order."""
        rng = {"subnet": str(self.subnet)}
        if self.range_start:
            rng["rangeStart"] = str(self.range_start)
        if self.range_end:
            rng["rangeEnd"] = str(self.range_end)
        rng["gateway"] = str(self.gateway)
        return rng

    def to_dict(self) -> Dict[str, Optional[str]]:
        return {"subnet": str(self.subnet), "gateway": str(self.gateway),
                "range_start": str(self.range_start) if self.range_start else None,
                "range_end": str(self.range_end) if self.range_end else None}

    @classmethod
    def from_range(cls, rng: "cniconf.IpRange") -> "Subnet":
        return cls(rng.subnet, rng.gateway, rng.start, rng.end)


def parse_subnets(items: Optional[Sequence[Any]]) -> Optional[List[Subnet]]:
    """None when not given; else the validated list (no duplicates, no overlap among them)."""
    if items is None:
        return None
    result: List[Subnet] = []
    for item in items:
        if isinstance(item, str):
            item = {"subnet": item}
        if not isinstance(item, dict) or not item.get("subnet"):
            raise ValidationError("invalid subnets entry %r: expected {%s}"
                                  % (item, ", ".join(SUBNET_KEYS)), value=item)
        unknown = set(item) - set(SUBNET_KEYS)
        if unknown:
            raise ValidationError("subnets entry %s: unknown keys %s (valid: %s)"
                                  % (item["subnet"], ", ".join(sorted(unknown)), ", ".join(SUBNET_KEYS)),
                                  value=item)
        result.append(Subnet(item["subnet"], item.get("gateway"), item.get("range_start"),
                             item.get("range_end"), item.get("ip_range")))
    for i, a in enumerate(result):
        for b in result[i + 1:]:
            if a.version == b.version and a.subnet.overlaps(b.subnet):
                raise ValidationError("subnets %s and %s overlap" % (a.subnet, b.subnet),
                                      value=str(b.subnet))
    return result


def parse_routes(items: Optional[Sequence[Any]]) -> List[Dict[str, str]]:
    routes = []
    for item in items or []:
        if isinstance(item, str):
            item = {"dst": item}
        if not isinstance(item, dict) or not item.get("dst"):
            raise ValidationError("invalid route %r: expected {dst, gw}" % (item,), value=item)
        dst = _validate.cidr(item["dst"], "route destination")
        route = {"dst": dst}
        if item.get("gw"):
            gw = _validate.ip(item["gw"], "route gateway")
            if ipaddress.ip_address(gw).version != ipaddress.ip_network(dst).version:
                raise ValidationError("route to %s: gateway %s is of another IP version"
                                      % (dst, gw), value=gw)
            route["gw"] = gw
        routes.append(route)
    return routes


def default_bridge_name(name: str) -> str:
    """``cni-<name>`` when it fits IFNAMSIZ (15), else ``cni-`` + 11 hex of sha256(name).

    Deterministic (podman's ``cni-podmanN`` depends on what else exists, so the same task
    on two hosts would pick different devices)."""
    candidate = "cni-" + name
    if len(candidate) <= _validate.IFNAME_MAX:
        return candidate
    return "cni-" + hashlib.sha256(name.encode()).hexdigest()[:11]


class NetworkSpec:
    """The validated module parameters; ``None`` means "not given" where that matters."""

    def __init__(self, name: Any, driver: str = "bridge", bridge: Optional[str] = None,
                 parent: Optional[str] = None, mode: Optional[str] = None,
                 subnets: Optional[Sequence[Any]] = None, routes: Optional[Sequence[Any]] = None,
                 internal: bool = False, mtu: Optional[int] = None, vlan: Optional[int] = None,
                 dns_enabled: bool = False, dns_domain: Optional[str] = None,
                 isolate: bool = False, hairpin: bool = True,
                 cni_version: Optional[str] = None, state: str = "present", force: bool = False) -> None:
        self.name = cniconf.validate_network_name(name)
        if len(name) > NAME_MAX:
            raise ValidationError("invalid network name %r: longer than %d characters"
                                  % (name, NAME_MAX), value=name)
        if driver not in DRIVERS:
            raise ValidationError("invalid driver %r: one of %s" % (driver, ", ".join(DRIVERS)),
                                  value=driver)
        self.driver = driver
        self.state = state
        self.force = bool(force)
        self.bridge = _validate.ifname(bridge) if bridge else None
        self.parent = _validate.ifname(parent) if parent else None
        self.mode = mode or None
        self.subnets = parse_subnets(subnets)
        self.routes = parse_routes(routes)
        self.internal = bool(internal)
        self.mtu = int(mtu) if mtu else None
        self.vlan = int(vlan) if vlan else None
        self.dns_enabled = bool(dns_enabled)
        self.dns_domain = dns_domain or DEFAULT_DNS_DOMAIN
        self.isolate = bool(isolate)
        self.hairpin = bool(hairpin)
        self.cni_version = cni_version or DEFAULT_CNI_VERSION
        if state == "present":
            self._check_options()

    def _check_options(self) -> None:
        if self.cni_version not in CNI_VERSIONS:
            raise ValidationError("invalid cni_version %r: one of %s"
                                  % (self.cni_version, ", ".join(CNI_VERSIONS)), value=self.cni_version)
        if self.mtu is not None and not 68 <= self.mtu <= 65535:
            raise ValidationError("invalid mtu %d: between 68 and 65535" % self.mtu, value=self.mtu)
        if self.driver == "bridge":
            for opt in ("parent", "mode"):
                if getattr(self, opt):
                    raise ValidationError("%s is for the macvlan and ipvlan drivers, not bridge" % opt,
                                          value=getattr(self, opt))
            if self.vlan is not None and not 1 <= self.vlan <= 4094:
                raise ValidationError("invalid vlan %d: between 1 and 4094" % self.vlan, value=self.vlan)
        else:
            bad = [opt for opt, on in (("bridge", self.bridge), ("vlan", self.vlan),
                                       ("dns_enabled", self.dns_enabled), ("isolate", self.isolate))
                   if on]
            if bad:
                raise ValidationError("%s: only for the bridge driver, not %s"
                                      % (", ".join(bad), self.driver), value=bad)
            if self.mode and self.mode not in MODES[self.driver]:
                raise ValidationError("invalid %s mode %r: one of %s"
                                      % (self.driver, self.mode, ", ".join(MODES[self.driver])),
                                      value=self.mode)
            if self.subnets is not None and not self.subnets:
                raise ValidationError("subnets is empty: omit it for DHCP, or give at least one")
        if self.dns_enabled and self.internal:
            raise ValidationError("dns_enabled and internal exclude each other: an internal "
                                  "network's bridge has no address for dnsmasq to listen on")
        if self.dns_domain and not all(part and len(part) <= 63 and part.replace("-", "").isalnum()
                                       for part in self.dns_domain.split(".")):
            raise ValidationError("invalid dns_domain %r" % self.dns_domain, value=self.dns_domain)
        if self.subnets is not None and self.driver == "bridge" and not self.subnets:
            raise ValidationError("subnets is empty: omit it to pick a free 10.89.N.0/24, or give "
                                  "at least one")


# --- building the conflist ---

def _ipam(subnets: Optional[Sequence[Subnet]], routes: Sequence[Dict[str, str]],
          internal: bool) -> Dict[str, Any]:
    if subnets is None:  # macvlan/ipvlan without subnets: DHCP, as podman v3
        return {"type": "dhcp"}
    all_routes = [dict(r) for r in routes]
    if not internal:
        # a default route per IP version present, unless the user gave one
        for version, dst in ((4, "0.0.0.0/0"), (6, "::/0")):
            if any(s.version == version for s in subnets) and not any(r["dst"] == dst for r in routes):
                all_routes.append({"dst": dst})
    ipam: Dict[str, Any] = {"type": "host-local"}
    if all_routes:
        ipam["routes"] = all_routes
    ipam["ranges"] = [[s.to_range()] for s in subnets]
    return ipam


def build_conflist(spec: NetworkSpec, bridge: Optional[str] = None, parent: Optional[str] = None,
                   subnets: Optional[Sequence[Subnet]] = None) -> Dict[str, Any]:
    """The conflist podman v3 would write for spec, with the host-dependent defaults
    (bridge name, parent, subnets) already resolved and passed in.

    The main plugin declares the ``ips`` capability when its IPAM is host-local (as podman
    v3.3+ does): several static addresses (IPv4 + IPv6) only reach host-local that way,
    ``IP=`` in CNI_ARGS carries one. ``mac`` is not declared: podman v3 passes ``MAC=`` in
    CNI_ARGS, which ``tuning`` reads, and that works with every plugin version.
    """
    subnets = spec.subnets if subnets is None else subnets
    ipam = _ipam(subnets, spec.routes, spec.internal)
    plugins: List[Dict[str, Any]] = []
    if spec.driver == "bridge":
        main: Dict[str, Any] = {"type": "bridge", "bridge": bridge or spec.bridge,
                                "isGateway": not spec.internal, "ipMasq": not spec.internal}
        if spec.mtu:
            main["mtu"] = spec.mtu
        main["hairpinMode"] = spec.hairpin
        if spec.vlan:
            main["vlan"] = spec.vlan
        main["ipam"] = ipam
        main["capabilities"] = {"ips": True}
        plugins.append(main)
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}})
        firewall: Dict[str, Any] = {"type": "firewall", "backend": ""}
        if spec.isolate:
            firewall["ingressPolicy"] = "same-bridge"  # podman's isolate option
        plugins.append(firewall)
        plugins.append({"type": "tuning"})
        if spec.dns_enabled:
            plugins.append({"type": "dnsname", "domainName": spec.dns_domain,
                            "capabilities": {"aliases": True}})
    else:
        main = {"type": spec.driver, "master": parent or spec.parent}
        if spec.mode:
            main["mode"] = spec.mode
        if spec.mtu:
            main["mtu"] = spec.mtu
        main["ipam"] = ipam
        if ipam["type"] == "host-local":
            main["capabilities"] = {"ips": True}
        plugins.append(main)
    return {"cniVersion": spec.cni_version, "name": spec.name, "plugins": plugins}


def render(conflist: Dict[str, Any]) -> bytes:
    """The file bytes: podman's 3-space indent, keys in build order, trailing newline."""
    return (json.dumps(conflist, indent=3) + "\n").encode()


def conflist_view(conflist: Dict[str, Any]) -> Dict[str, Any]:
    """What the conflist says about the module's options (for return values)."""
    main = conflist["plugins"][0] if conflist.get("plugins") else {}
    conf = cniconf.NetworkConfigList(conflist.get("name", ""), conflist.get("cniVersion", ""),
                                     conflist.get("plugins") or [], b"")
    return {"driver": main.get("type"), "bridge": main.get("bridge"), "parent": main.get("master"),
            "subnets": [Subnet.from_range(r).to_dict() for r in cniconf.ipam_ranges(conf)],
            "plugins": conf.plugin_types}


# --- checks against the other networks and the host ---

def subnet_overlaps(subnets: Sequence[Subnet], networks: Dict[str, cniconf.NetworkConfigList],
                    own_name: str) -> List[Tuple[str, str, str]]:
    """(our subnet, other network, its subnet) for each overlap with another network."""
    found = []
    for other_name in sorted(networks):
        if other_name == own_name:
            continue
        for theirs in cniconf.subnets(networks[other_name]):
            for ours in subnets:
                if ours.version == theirs.version and ours.subnet.overlaps(theirs):
                    found.append((str(ours.subnet), other_name, str(theirs)))
    return found


def bridge_users(bridge: str, networks: Dict[str, cniconf.NetworkConfigList],
                 own_name: str) -> List[str]:
    return sorted(n for n, conf in networks.items() if n != own_name
                  and any(p.get("type") == "bridge" and p.get("bridge") == bridge for p in conf.plugins))


def _route_rows() -> List[List[str]]:
    """The rows of /proc/net/route (the host's IPv4 main table), split; none when it
    cannot be read."""
    try:
        with open(PROC_ROUTE) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    return [fields for fields in (line.split() for line in lines) if len(fields) >= 8]


def _host_ipv4_routes() -> List[Any]:
    """Destinations of the host's IPv4 routes (main table, from /proc/net/route)."""
    nets = []
    for fields in _route_rows():
        dst = ipaddress.IPv4Address(bytes.fromhex(fields[1])[::-1])
        mask = ipaddress.IPv4Address(bytes.fromhex(fields[7])[::-1])
        if int(mask) == 0:
            continue  # the default route overlaps everything
        nets.append(ipaddress.ip_network("%s/%s" % (dst, mask), strict=False))
    return nets


def default_route_interface() -> Optional[str]:
    """The interface of the host's IPv4 default route (podman's default macvlan parent)."""
    for fields in _route_rows():
        if fields[1] == "00000000" and fields[7] == "00000000":
            return fields[0]
    return None


def pick_free_subnet(networks: Dict[str, cniconf.NetworkConfigList], own_name: str) -> Subnet:
    """The first 10.89.N.0/24 used by no other network and no host route (podman's rule)."""
    taken = [s for n, conf in networks.items() if n != own_name for s in cniconf.subnets(conf)]
    taken += _host_ipv4_routes()
    for candidate in AUTO_POOL.subnets(new_prefix=24):
        if not any(candidate.version == t.version and candidate.overlaps(t) for t in taken):
            return Subnet(candidate)
    raise ValidationError("no free subnet left in %s: give subnets explicitly" % AUTO_POOL)


def link_exists(ifname: str) -> bool:
    return os.path.exists(os.path.join(SYS_NET, ifname))


def is_bridge(ifname: str) -> bool:
    return os.path.isdir(os.path.join(SYS_NET, ifname, "bridge"))


def bridge_ports(ifname: str) -> List[str]:
    try:
        return sorted(os.listdir(os.path.join(SYS_NET, ifname, "brif")))
    except OSError:
        return []


def required_plugins(conflist: Dict[str, Any]) -> List[str]:
    """Plugin types of the chain plus the IPAM types they delegate to, in order."""
    types: List[str] = []
    for plugin in conflist["plugins"]:
        for ptype in (plugin.get("type"), (plugin.get("ipam") or {}).get("type")):
            if ptype and ptype not in types:
                types.append(ptype)
    return types


def check_plugins(conflist: Dict[str, Any], plugin_dirs: Sequence[str],
                  pending: bool = False, warnings: Optional[List[str]] = None) -> None:
    """ConfigError naming the first plugin missing. ``pending`` (check mode: a task earlier
    in the run would install the plugins): a warning in ``warnings`` instead."""
    for ptype in required_plugins(conflist):
        if cniconf.find_plugin(ptype, plugin_dirs) is None:
            if pending and warnings is not None:
                text = ("check mode: CNI plugin %r of network %s not found in %s; predicted: a "
                        "task earlier in this check run would install it (check_mode_pending)"
                        % (ptype, conflist["name"], ":".join(plugin_dirs)))
                if text not in warnings:
                    warnings.append(text)
                continue
            hint = ""
            if ptype == "dnsname":
                hint = " (dns_enabled needs it: Debian/Ubuntu package " \
                       "golang-github-containernetworking-plugin-dnsname, Fedora podman-plugins)"
            raise ConfigError("network %s: CNI plugin %r not found in %s%s"
                              % (conflist["name"], ptype, ":".join(plugin_dirs), hint),
                              network=conflist["name"], plugin=ptype)


# --- plan and apply ---

class Plan:
    """What the module will do: the file before and after, and who uses the network."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.before: Optional[Any] = None       # parsed JSON, or the text when not JSON
        self.after: Optional[Dict[str, Any]] = None
        self.in_use: List[Dict[str, Any]] = []
        self.remove_bridge: Optional[str] = None
        self.warnings: List[str] = []

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> Dict[str, Any]:
        return {"before": self.before if self.before is not None else {},
                "after": self.after if self.after is not None else {},
                "before_header": self.path, "after_header": self.path}


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
         plugins_pending: bool = False) -> Plan:
    """Validate everything and compute the change; touches nothing.

    ``host_links=False`` (rootless: the devices live in the rootless CNI netns) skips the
    checks of the bridge and parent devices against this netns's links. ``networks``: the
    networks of config_dir as a batch sees them (its earlier entries applied), else loaded
    here. ``plugins_pending`` (check mode only): missing plugins are predicted, with a
    warning (see _pending)."""
    path = os.path.join(config_dir, "%s.conflist" % spec.name)
    result = Plan(path)
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
    if result.changed:
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
        if host_links and link_exists(bridge) and not is_bridge(bridge):
            raise ValidationError("interface %s exists on the host and is not a bridge" % bridge,
                                  value=bridge)
    else:
        parent = spec.parent or (same_driver and main.get("master")) or default_route_interface()
        if not parent:
            raise ValidationError("parent is required for %s: the host has no default route to "
                                  "take it from" % spec.driver)
        _validate.ifname(parent)
        if host_links and not link_exists(parent):
            raise ValidationError("parent interface %s of %s network %s does not exist"
                                  % (parent, spec.driver, spec.name), value=parent)
    subnets = spec.subnets
    if subnets is None and existing is not None and same_driver:
        kept = [Subnet.from_range(r) for r in cniconf.ipam_ranges(existing)]
        subnets = kept or None
    if subnets is None and spec.driver == "bridge":
        subnets = [pick_free_subnet(others, spec.name)]
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
    if not is_bridge(bridge) or bridge_ports(bridge):
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


def predicted_actions(result: Plan) -> List[str]:
    """What ``apply`` will report, for check mode."""
    if not result.changed:
        return []
    if result.after is not None:
        return ["written %s" % result.path]
    actions = ["removed %s" % result.path] if result.before is not None else []
    if result.remove_bridge:
        actions.append("deleted bridge %s" % result.remove_bridge)
    return actions


def apply(result: Plan, run_command: Callable[..., Tuple[int, str, str]]) -> List[str]:
    """Carry out a plan; returns what was done. ``run_command`` is the module's
    (``AnsibleModule.run_command``: an argv list, returns rc, stdout, stderr)."""
    done: List[str] = []
    if not result.changed:
        return done
    if result.after is not None:
        write_conflist(result.path, render(result.after))
        done.append("written %s" % result.path)
        return done
    if remove_conflist(result.path):
        done.append("removed %s" % result.path)
    if result.remove_bridge and is_bridge(result.remove_bridge) and not bridge_ports(result.remove_bridge):
        rc, dummy, err = run_command(["ip", "link", "delete", result.remove_bridge, "type", "bridge"])
        if rc == 0:
            done.append("deleted bridge %s" % result.remove_bridge)
        else:
            result.warnings.append("could not delete bridge %s: %s" % (result.remove_bridge, err.strip()))
    return done
