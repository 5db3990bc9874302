# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""resolv.conf for a namespace behind slirp4netns: the slirp4netns DNS forwarder first,
then the host's nameservers (localhost resolvers filtered out: they are not reachable
from another network namespace), then the host's search domains and options."""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional, Sequence

HOST_RESOLV_CONF = "/etc/resolv.conf"
SLIRP_DNS6 = "fd00::3"  # slirp4netns's IPv6 DNS with --enable-ipv6


def parse(text: str) -> Dict[str, List[str]]:
    """nameservers, search domains (the last search/domain line wins) and options."""
    nameservers: List[str] = []
    search: List[str] = []
    options: List[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        key, values = fields[0], fields[1:]
        if key == "nameserver" and values:
            nameservers.append(values[0])
        elif key in ("search", "domain"):
            search = list(values)
        elif key == "options":
            options.extend(values)
    return {"nameservers": nameservers, "search": search, "options": options}


def is_localhost(server: str) -> bool:
    try:
        return ipaddress.ip_address(server.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def filter_nameservers(servers: Sequence[str], keep_ipv6: bool = True) -> List[str]:
    out: List[str] = []
    for s in servers:
        if is_localhost(s):
            continue
        if not keep_ipv6 and ":" in s:
            continue
        if s not in out:
            out.append(s)
    return out


def build(host_text: str, slirp_dns: Optional[str], enable_ipv6: bool = False) -> str:
    """The resolv.conf text: slirp DNS first, then the host's usable resolvers."""
    host = parse(host_text)
    servers: List[str] = []
    if slirp_dns:
        servers.append(slirp_dns)
        if enable_ipv6:
            servers.append(SLIRP_DNS6)
    for s in filter_nameservers(host["nameservers"], keep_ipv6=enable_ipv6):
        if s not in servers:
            servers.append(s)
    lines = ["nameserver %s" % s for s in servers]
    if host["search"]:
        lines.append("search %s" % " ".join(host["search"]))
    if host["options"]:
        lines.append("options %s" % " ".join(host["options"]))
    return "\n".join(lines) + "\n"


def read_host(path: str = HOST_RESOLV_CONF) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
