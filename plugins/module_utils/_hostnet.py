# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's own network as /proc and /sys show it (read-only): the IPv4 routes of the
main table, the interface of the default route, links and bridge ports. ``cni_network``
checks a network's bridge, parent and subnet against them."""
from __future__ import annotations

import ipaddress
import os
from typing import Any, List, Optional

SYS_NET = "/sys/class/net"
PROC_ROUTE = "/proc/net/route"


def _route_rows() -> List[List[str]]:
    """The rows of /proc/net/route (the host's IPv4 main table), split; none when it
    cannot be read."""
    try:
        with open(PROC_ROUTE) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    return [fields for fields in (line.split() for line in lines) if len(fields) >= 8]


def ipv4_routes() -> List[Any]:
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


def link_exists(ifname: str) -> bool:
    return os.path.exists(os.path.join(SYS_NET, ifname))


def is_bridge(ifname: str) -> bool:
    return os.path.isdir(os.path.join(SYS_NET, ifname, "bridge"))


def bridge_ports(ifname: str) -> List[str]:
    try:
        return sorted(os.listdir(os.path.join(SYS_NET, ifname, "brif")))
    except OSError:
        return []
