# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iptables rules the reference plugins write (containernetworking/plugins 1.x,
iptables backend): their chain names, reading them back with the ``iptables`` the
plugins run, and which of them an attachment owns (what reload looks for before it
trusts, or instead of, a CNI CHECK)."""
from __future__ import annotations

import hashlib
import subprocess
from typing import Dict, List, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult

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


# --- the rules the plugins own (iptables backend, as containernetworking/plugins 1.x) ---

def owned_rules(conf: cniconf.NetworkConfigList, entry: cnicache.CacheEntry,
                fallback: bool) -> List[Tuple[str, ...]]:
    """What must exist in the IPv4 rules for this attachment.

    Items: ("chain", table, chain) or ("rule", table, chain, *fragments): an ``-A chain``
    line holding every fragment. Always the bridge masquerade (CHECK ignores it) and
    portmap's DNAT chain (portmap always uses iptables: a missing chain spares the CHECK);
    with ``fallback`` (no CHECK) also the firewall plugin's rules (its iptables backend:
    with firewalld running it may use firewalld instead, which only CHECK can tell).
    """
    ips4 = [ip for ip in cniresult.addresses(entry.result) if ":" not in ip]
    rules: List[Tuple[str, ...]] = []
    for plugin in conf.plugins:
        ptype = plugin.get("type")
        if ptype == "bridge" and plugin.get("ipMasq") and ips4:
            chain = masq_chain(conf.name, entry.container_id)
            rules.append(("chain", "nat", chain))
            for ip in ips4:
                rules.append(("rule", "nat", "POSTROUTING", "-s %s/32" % ip, "-j %s" % chain))
        elif ptype == "portmap" and entry.capability_args.get("portMappings") and ips4:
            chain = dnat_chain(conf.name, entry.container_id)
            rules.append(("chain", "nat", chain))
            rules.append(("rule", "nat", "CNI-HOSTPORT-DNAT", "-j %s" % chain))
            rules.append(("rule", "nat", "PREROUTING", "-j CNI-HOSTPORT-DNAT"))
        elif fallback and ptype == "firewall" and plugin.get("backend", "iptables") == "iptables":
            rules.append(("rule", "filter", "FORWARD", "-j CNI-FORWARD"))
            for ip in ips4:
                rules.append(("rule", "filter", "CNI-FORWARD", "-s %s/32" % ip, "-j ACCEPT"))
    return rules


def missing_rules(rules: Sequence[Tuple[str, ...]], listing: Dict[str, List[str]]) -> List[str]:
    """The items of ``rules`` absent from ``iptables -S`` listings by table."""
    missing = []
    for item in rules:
        lines = listing.get(item[1], [])
        if item[0] == "chain":
            if ("-N %s" % item[2]) not in lines:
                missing.append("chain %s in table %s" % (item[2], item[1]))
        else:
            head = "-A %s " % item[2]
            if not any(line.startswith(head) and all(f + " " in line + " " for f in item[3:])
                       for line in lines):
                missing.append("rule %s in chain %s of table %s" % (" ".join(item[3:]), item[2], item[1]))
    return missing


def verifiable_rules(conf: cniconf.NetworkConfigList, entry: cnicache.CacheEntry) -> Dict[str, List[Tuple[str, ...]]]:
    """Per plugin type, the rules whose presence shows that plugin's CHECK would pass
    (so the CHECK, half of the idempotent run's time, can be skipped): portmap's DNAT
    rule of every mapping, the firewall plugin's FORWARD accepts (iptables backend).
    When one is missing the plugin's own CHECK decides (firewalld backend, other
    rule formats)."""
    ips4 = [ip for ip in cniresult.addresses(entry.result) if ":" not in ip]
    out: Dict[str, List[Tuple[str, ...]]] = {}
    if not ips4 or len(ips4) > 1:
        return out
    ip = ips4[0]
    for plugin in conf.plugins:
        ptype = plugin.get("type")
        pms = entry.capability_args.get("portMappings")
        if ptype == "portmap" and pms and isinstance(pms, list):
            chain = dnat_chain(conf.name, entry.container_id)
            rules: List[Tuple[str, ...]] = []
            for pm in pms:
                try:
                    rules.append(("rule", "nat", chain, "-p %s" % str(pm.get("protocol", "tcp")).lower(),
                                  "--dport %d" % int(pm["hostPort"]),
                                  "--to-destination %s:%d" % (ip, int(pm["containerPort"]))))
                except (KeyError, TypeError, ValueError, AttributeError):
                    return {k: v for k, v in out.items() if k != "portmap"}
            out["portmap"] = rules
        elif ptype == "firewall" and plugin.get("backend", "iptables") == "iptables":
            out["firewall"] = [("rule", "filter", "FORWARD", "-j CNI-FORWARD"),
                               ("rule", "filter", "CNI-FORWARD", "-s %s/32" % ip, "-j ACCEPT"),
                               ("rule", "filter", "CNI-FORWARD", "-d %s/32" % ip, "-j ACCEPT")]
    return out
