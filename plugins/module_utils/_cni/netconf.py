# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI network definitions: build a conflist the way ``podman network create`` (v3, CNI
backend) shapes it, and check it against the other networks (subnet overlaps, shared
bridges, the plugins it needs). Pure logic: nothing here reads the host (its routes and
links: ``_hostnet``) or writes a file (``cni_network``'s plan and apply: ``_network``).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

DRIVERS = C.DRIVERS
MODES = C.DRIVER_MODES
CNI_VERSIONS = C.CNI_VERSIONS
DEFAULT_CNI_VERSION = C.DEFAULT_CNI_VERSION
DEFAULT_DNS_DOMAIN = C.DEFAULT_DNS_DOMAIN
SUBNET_KEYS = ("subnet", "gateway", "range_start", "range_end", "ip_range")
AUTO_POOL = ipaddress.ip_network("10.89.0.0/16")  # podman picks 10.89.N.0/24 for new networks
NAME_MAX = 200                          # <name>.conflist must fit a file name


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

    def __init__(self, name: Any, driver: str = C.DEFAULT_DRIVER, bridge: Optional[str] = None,
                 parent: Optional[str] = None, mode: Optional[str] = None,
                 subnets: Optional[Sequence[Any]] = None, routes: Optional[Sequence[Any]] = None,
                 internal: bool = False, mtu: Optional[int] = None, vlan: Optional[int] = None,
                 dns_enabled: bool = False, dns_domain: Optional[str] = None,
                 isolate: bool = False, hairpin: bool = True,
                 cni_version: Optional[str] = None, state: str = C.DEFAULT_STATE, force: bool = False) -> None:
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


# --- checks against the other networks and the plugin dirs ---

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


def pick_free_subnet(networks: Dict[str, cniconf.NetworkConfigList], own_name: str,
                     host_routes: Sequence[Any] = ()) -> Subnet:
    """The first 10.89.N.0/24 used by no other network and no host route (podman's rule;
    ``host_routes``: the host's, ``_hostnet.ipv4_routes()``)."""
    taken = [s for n, conf in networks.items() if n != own_name for s in cniconf.subnets(conf)]
    taken += list(host_routes)
    for candidate in AUTO_POOL.subnets(new_prefix=24):
        if not any(candidate.version == t.version and candidate.overlaps(t) for t in taken):
            return Subnet(candidate)
    raise ValidationError("no free subnet left in %s: give subnets explicitly" % AUTO_POOL)


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
