# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI results: version conversion and podman-inspect-like settings."""
from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError

CURRENT = "1.0.0"
V03 = ("0.3.0", "0.3.1", "0.4.0")
V02 = ("0.1.0", "0.2.0")
V1 = ("1.0.0", "1.1.0")


# dotted-quad IPv4 (and a prefix) decided by a regex: ipaddress costs ~10 us a call, and a
# scan of the cache validates every entry's addresses (others go to ipaddress)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(r"%s(?:\.%s){3}\Z" % (_OCTET, _OCTET))
_IPV4_PREFIX = re.compile(r"%s(?:\.%s){3}/(?:3[0-2]|[12]?\d)\Z" % (_OCTET, _OCTET))


def _parses(value: Any, fast: Any, parse: Any) -> bool:
    """value is a string the IPv4 regex fast takes, or else ipaddress's parse."""
    if not isinstance(value, str):
        return False
    if fast.match(value):
        return True
    try:
        return bool(parse(value))
    except ValueError:
        return False


def _is_cidr(value: Any) -> bool:
    return isinstance(value, str) and "/" in value and _parses(value, _IPV4_PREFIX, ipaddress.ip_interface)


def _is_ip(value: Any) -> bool:
    return _parses(value, _IPV4, ipaddress.ip_address)


def _is_net(value: Any) -> bool:
    return _parses(value, _IPV4_PREFIX, lambda v: ipaddress.ip_network(v, strict=False))


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _routes_problem(routes: Any, where: str) -> Optional[str]:
    if not isinstance(routes, list):
        return "%s is not a list" % where
    for i, route in enumerate(routes):
        if not isinstance(route, dict) or not _is_net(route.get("dst")):
            return "%s[%d] has no valid dst: %.200r" % (where, i, route)
        if route.get("gw") not in (None, "") and not _is_ip(route.get("gw")):
            return "%s[%d].gw is not an IP address: %.200r" % (where, i, route.get("gw"))
    return None


def problem(result: Any) -> Optional[str]:
    """Why result is not a usable CNI result (of any version), or None.

    Only what this collection reads is checked (interfaces, ips, routes, dns, the 0.2.0
    ip4/ip6 blocks); other keys are the plugins' business."""
    if not isinstance(result, dict):
        return "not a JSON object: %.200r" % (result,)
    if "cniVersion" in result and not isinstance(result["cniVersion"], str):
        return "cniVersion is not a string: %.200r" % (result["cniVersion"],)
    interfaces = result.get("interfaces", [])
    if not isinstance(interfaces, list):
        return "interfaces is not a list: %.200r" % (interfaces,)
    for i, iface in enumerate(interfaces):
        if not isinstance(iface, dict) or not isinstance(iface.get("name"), str):
            return "interfaces[%d] is not an object with a name: %.200r" % (i, iface)
        for key in ("mac", "sandbox"):
            if not isinstance(iface.get(key, ""), str):
                return "interfaces[%d].%s is not a string: %.200r" % (i, key, iface[key])
    ips = result.get("ips", [])
    if not isinstance(ips, list):
        return "ips is not a list: %.200r" % (ips,)
    for i, ip in enumerate(ips):
        if not isinstance(ip, dict):
            return "ips[%d] is not an object: %.200r" % (i, ip)
        if not _is_cidr(ip.get("address")):
            return "ips[%d].address is not an address/prefix: %.200r" % (i, ip.get("address"))
        if ip.get("gateway") not in (None, "") and not _is_ip(ip.get("gateway")):
            return "ips[%d].gateway is not an IP address: %.200r" % (i, ip.get("gateway"))
        index = ip.get("interface")
        # (an index past the list is tolerated: readers bound-check it)
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            return "ips[%d].interface is not an index: %.200r" % (i, index)
    why = _routes_problem(result.get("routes", []), "routes")
    if why:
        return why
    for key in ("ip4", "ip6"):  # 0.1.0/0.2.0
        block = result.get(key)
        if block is None:
            continue
        if not isinstance(block, dict) or not _is_cidr(block.get("ip")):
            return "%s has no valid ip: %.200r" % (key, block)
        if block.get("gateway") not in (None, "") and not _is_ip(block.get("gateway")):
            return "%s.gateway is not an IP address: %.200r" % (key, block.get("gateway"))
        why = _routes_problem(block.get("routes", []), key + ".routes")
        if why:
            return why
    dns = result.get("dns", {})
    if not isinstance(dns, dict):
        return "dns is not an object: %.200r" % (dns,)
    for key in ("nameservers", "search", "options"):
        if not _str_list(dns.get(key, [])):
            return "dns.%s is not a list of strings: %.200r" % (key, dns[key])
    if not isinstance(dns.get("domain", ""), str):
        return "dns.domain is not a string: %.200r" % (dns["domain"],)
    return None


def _ip_version(cidr: str) -> str:
    return "6" if ":" in cidr.split("/")[0] else "4"


def to_current(result: Dict[str, Any]) -> Dict[str, Any]:
    """Any result version → the 1.0.0 shape (ips without 'version')."""
    version = str(result.get("cniVersion") or "")
    out = copy.deepcopy(result)
    if version in V02 or ("ip4" in result or "ip6" in result) and "ips" not in result:
        ips: List[Dict[str, Any]] = []
        routes: List[Dict[str, Any]] = []
        for key in ("ip4", "ip6"):
            block = result.get(key)
            if not isinstance(block, dict) or not block.get("ip"):
                continue
            entry = {"address": block["ip"]}
            if block.get("gateway"):
                entry["gateway"] = block["gateway"]
            ips.append(entry)
            routes.extend(block.get("routes") or [])
        out = {"cniVersion": CURRENT, "ips": ips}
        if routes:
            out["routes"] = routes
        if result.get("dns"):
            out["dns"] = copy.deepcopy(result["dns"])
        return out
    for ip in out.get("ips") or []:
        ip.pop("version", None)
    out["cniVersion"] = CURRENT
    return out


def convert(result: Dict[str, Any], to_version: str) -> Dict[str, Any]:
    """Convert a result to to_version (0.3.x/0.4.0/1.0.0; 0.2.0 from any)."""
    if not isinstance(result, dict):
        raise ConfigError("a CNI result must be a JSON object, got %r" % (result,))
    if str(result.get("cniVersion")) == to_version:
        return copy.deepcopy(result)
    current = to_current(result)
    if to_version in V1 or to_version == "":
        current["cniVersion"] = to_version or CURRENT
        return current
    if to_version in V03:
        out = copy.deepcopy(current)
        out["cniVersion"] = to_version
        for ip in out.get("ips") or []:
            ip["version"] = _ip_version(ip.get("address", ""))
        return out
    if to_version in V02:
        out: Dict[str, Any] = {"cniVersion": to_version}
        for ip in current.get("ips") or []:
            key = "ip6" if _ip_version(ip.get("address", "")) == "6" else "ip4"
            if key in out:
                continue
            block = {"ip": ip["address"]}
            if ip.get("gateway"):
                block["gateway"] = ip["gateway"]
            out[key] = block
        # 0.2.0 keeps routes inside the ip4/ip6 block of their family (libcni drops
        # routes of a family that has no address)
        for route in current.get("routes") or []:
            key = "ip6" if ":" in str(route.get("dst", "")) else "ip4"
            if key in out:
                out[key].setdefault("routes", []).append(copy.deepcopy(route))
        if current.get("dns"):
            out["dns"] = current["dns"]
        return out
    raise ConfigError("unsupported CNI result version %r" % to_version)


def container_interfaces(result: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The result's interfaces inside the container (those with a sandbox)."""
    return [i for i in result.get("interfaces") or [] if i.get("sandbox")]


def addresses(result: Dict[str, Any]) -> List[str]:
    """Container IPs (without prefix) of a result of any version."""
    # 0.3.0+ results list "ips" already: read them without to_current's deep copy
    # (this runs for every cached attachment on the idempotent path)
    ips = result.get("ips") if isinstance(result.get("ips"), list) else to_current(result).get("ips")
    return [ip["address"].split("/")[0] for ip in ips or []
            if isinstance(ip, dict) and ip.get("address")]


def mac_of(result: Dict[str, Any], ifname: Optional[str] = None) -> Optional[str]:
    for iface in container_interfaces(result):
        if ifname is None or iface.get("name") == ifname:
            return iface.get("mac")
    return None


def basic_network_config(result: Dict[str, Any]) -> Dict[str, Any]:
    """podman's resultToBasicNetworkConfig: first v4/v6 address, secondaries, MAC."""
    res = to_current(result)
    interfaces = res.get("interfaces") or []
    config: Dict[str, Any] = {
        "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "MacAddress": "", "SecondaryIPAddresses": [], "SecondaryIPv6Addresses": [],
    }
    for ip in res.get("ips") or []:
        try:
            iface = ipaddress.ip_interface(ip["address"])
        except (KeyError, ValueError):
            continue
        idx = ip.get("interface")
        if iface.version == 4 and not config["IPAddress"]:
            config["IPAddress"] = str(iface.ip)
            config["IPPrefixLen"] = iface.network.prefixlen
            config["Gateway"] = ip.get("gateway", "")
            if isinstance(idx, int) and 0 <= idx < len(interfaces):
                config["MacAddress"] = interfaces[idx].get("mac", "")
        elif iface.version == 4:
            config["SecondaryIPAddresses"].append(str(iface))
        elif not config["GlobalIPv6Address"]:
            config["GlobalIPv6Address"] = str(iface.ip)
            config["GlobalIPv6PrefixLen"] = iface.network.prefixlen
            config["IPv6Gateway"] = ip.get("gateway", "")
            if not config["MacAddress"] and isinstance(idx, int) and 0 <= idx < len(interfaces):
                config["MacAddress"] = interfaces[idx].get("mac", "")
        else:
            config["SecondaryIPv6Addresses"].append(str(iface))
    if not config["MacAddress"]:
        config["MacAddress"] = mac_of(res) or ""
    return config


def ports_settings(port_mappings: Sequence[Dict[str, Any]]) -> Dict[str, List[Dict[str, str]]]:
    """podman's Ports map: "80/tcp" -> [{"HostIp", "HostPort"}] from CNI portMappings."""
    ports: Dict[str, List[Dict[str, str]]] = {}
    for pm in port_mappings:
        key = "%d/%s" % (pm["containerPort"], pm.get("protocol", "tcp"))
        ports.setdefault(key, []).append({"HostIp": pm.get("hostIP", ""),
                                          "HostPort": str(pm["hostPort"])})
    return ports


def network_settings(netns: str, networks: Sequence[Dict[str, Any]],
                     port_mappings: Sequence[Dict[str, Any]] = ()) -> Dict[str, Any]:
    """podman-inspect NetworkSettings from attached networks.

    networks: ordered dicts with ``name``, ``interface``, ``result`` and ``aliases``.
    The top-level basic config is the first network's, as for podman's default network.
    """
    settings: Dict[str, Any] = {"SandboxKey": netns, "Ports": ports_settings(port_mappings),
                                "Networks": {}}
    first: Optional[Dict[str, Any]] = None
    for net in networks:
        basic = basic_network_config(net.get("result") or {})
        if first is None:
            first = basic
        entry = dict(basic)
        entry.update({"NetworkID": net["name"], "InterfaceName": net.get("interface", ""),
                      "Aliases": list(net.get("aliases") or [])})
        settings["Networks"][net["name"]] = entry
    settings.update(first or basic_network_config({}))
    return settings
