# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iptables rules the reference plugins write (containernetworking/plugins 1.x,
iptables backend): their chain names, and reading them back with the ``iptables`` the
plugins run."""
from __future__ import annotations

import hashlib
import subprocess
from typing import Dict, List, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec

IPTABLES_TIMEOUT = 30.0


def _hash(network: str, container_id: str) -> str:
    return hashlib.sha512((network + container_id).encode()).hexdigest()


def masq_chain(network: str, container_id: str) -> str:
    """The bridge plugin's ipMasq chain: ``CNI-`` + 24 hex of sha512(name + id)."""
    return "CNI-" + _hash(network, container_id)[:24]


def dnat_chain(network: str, container_id: str) -> str:
    """portmap's per-container DNAT chain: ``CNI-DN-`` + 21 hex of sha512(name + id)."""
    return "CNI-DN-" + _hash(network, container_id)[:21]


def list_rules(executor: cniexec.PluginExecutor, tables: Sequence[str],
               binary: str = "iptables") -> Dict[str, List[str]]:
    """``iptables -S`` of each table, with the PATH the plugins get (so the same backend:
    iptables-nft or -legacy, whichever ``iptables`` they run). A table that cannot be
    listed reads as empty."""
    env = executor.env("CHECK", None)
    out: Dict[str, List[str]] = {}
    for table in tables:
        try:
            proc = subprocess.run([binary, "-w", "-t", table, "-S"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, timeout=IPTABLES_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired):
            out[table] = []
            continue
        out[table] = proc.stdout.decode("utf-8", "replace").splitlines() if proc.returncode == 0 else []
    return out


def dnat_ports(lines: Sequence[str]) -> List[Tuple[str, str, int, str]]:
    """(chain, host IP or "", host port, protocol) of every DNAT rule portmap wrote in its
    per-container chains (``-A CNI-DN-… [-d IP/32] -p tcp … --dport N -j DNAT …``)."""
    out = []
    for line in lines:
        toks = line.split()
        if len(toks) < 2 or toks[0] != "-A" or not toks[1].startswith("CNI-DN-") \
                or "-j" not in toks or toks[toks.index("-j") + 1:toks.index("-j") + 2] != ["DNAT"]:
            continue
        try:
            port = int(toks[toks.index("--dport") + 1])
        except (ValueError, IndexError):
            continue
        proto = toks[toks.index("-p") + 1].lower() if "-p" in toks[:-1] else "tcp"
        host = toks[toks.index("-d") + 1].split("/")[0] if "-d" in toks[:-1] else ""
        out.append((toks[1], host, port, proto))
    return out


def mapped_host_ports(executor: cniexec.PluginExecutor) -> List[Tuple[str, str, int, str]]:
    """``dnat_ports`` of the IPv4 and IPv6 nat tables (run where the plugins run)."""
    return (dnat_ports(list_rules(executor, ["nat"])["nat"])
            + dnat_ports(list_rules(executor, ["nat"], "ip6tables")["nat"]))
