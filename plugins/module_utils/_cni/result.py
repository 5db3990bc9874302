# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI results: version conversion and podman-inspect-like settings."""
from __future__ import annotations

import copy
import ipaddress
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError

CURRENT = "1.0.0"
V03 = ("0.3.0", "0.3.1", "0.4.0")
V02 = ("0.1.0", "0.2.0")
V1 = ("1.0.0", "1.1.0")


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
