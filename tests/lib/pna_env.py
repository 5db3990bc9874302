# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the cni_attachment / container_netns_info functional tests
(tests/functional/attachment; its conftest.py holds the fixtures).

Real kernel, real Debian CNI plugins, real iptables. Every name starts with ``pna`` plus
a random suffix, every subnet lies in 10.222.0.0/16, host ports in 20400-20499; config,
cache, IPAM and state dirs are private temporary dirs (host_env.HostEnv). The cleanup
DELs whatever of this test is still cached (in /var/lib/cni too, with the namespaces
cnitool made), removes namespaces and bridges, and stops a dnsmasq started for them.
"""
from __future__ import annotations

import os
import subprocess
from typing import Any, Dict, List, Optional

import podnet_testlib as T
from host_env import HostEnv

REPO = T.REPO
BUILD = T.BUILD
PLUGIN_DIR = T.PLUGIN_DIR


def sh(argv: List[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    return T.run(argv, check=check, **kw)


def run_module(module: str, args: Dict[str, Any], check: bool = False,
               diff: bool = False) -> Dict[str, Any]:
    """Run plugins/modules/<module>.py the way Ansible does (args file, JSON on stdout).

    Direct execution keeps the suite fast; the integration targets run the same modules
    through ansible-playbook."""
    return T.run_module_file(module, args, check, diff, tag="pna")


def bridge_conflist(name: str, bridge: str, subnet: str, data_dir: str, portmap: bool = True,
                    firewall: bool = True, tuning: bool = True, dnsname: bool = False,
                    subnet6: Optional[str] = None, cni_version: str = "1.0.0",
                    extra: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """tests/lib's bridge chain with the gateway at .1 and this area's host-local dataDir."""
    return T.bridge_conflist(name, bridge, subnet, gateway=subnet.rsplit(".", 1)[0] + ".1",
                             cni_version=cni_version, portmap=portmap, firewall=firewall,
                             tuning=tuning, data_dir=data_dir, dnsname=dnsname, subnet6=subnet6,
                             extra=extra)


class Env(HostEnv):
    """One test's private world: prefix, dirs, networks, namespaces; cleaned up at the end."""

    PREFIX = "pna"
    NET16 = "10.222"
    PORT_BASE = 20400

    def __init__(self) -> None:
        super().__init__()
        self.networks: List[str] = []
        self.cnitool_netns: Dict[str, str] = {}  # cnitool container id -> netns path

    @property
    def common(self) -> Dict[str, Any]:
        return self.module_args()

    def network(self, suffix: str, third_octet: int, **kw: Any) -> str:
        """Write a bridge network pna<rand><suffix> on 10.222.<third_octet>.0/24."""
        name = self.name(suffix)
        self.bridge_network(name, self.name("b" + suffix)[:15], self.subnet(third_octet), **kw)
        self.networks.append(name)
        return name

    def exec_in(self, netns: str, argv: List[str], check: bool = True) -> subprocess.CompletedProcess:
        return sh(["ip", "netns", "exec", netns] + argv, check=check)

    def cache_entries(self) -> List[Any]:
        """Cache entries of this test's networks (the cache dir may be the shared default)."""
        from ansible_collections.podnet.cni.plugins.module_utils._cni import cache
        return [e for e in cache.list_entries(self.cache_dir) if e.network.startswith(self.prefix)]

    def ipam_reservations(self) -> List[str]:
        out = []
        for root, dummy, files in os.walk(self.ipam_dir):
            out += [f for f in files if f[0].isdigit() or ":" in f]
        return sorted(out)

    def iptables_lines(self) -> List[str]:
        text = sh(["iptables-save"]).stdout.decode() + sh(["ip6tables-save"]).stdout.decode()
        return [l for l in text.splitlines() if self.prefix in l]

    def delete_cached(self) -> List[str]:
        # ours only, even in /var/lib/cni
        return T.delete_cached_attachments(
            self.config_dir, self.cache_dir, self.state_dir,
            select=lambda e: e.network.startswith(self.prefix),
            netns_of=lambda e: e.netns or self.cnitool_netns.get(e.container_id, ""))

    def cleanup(self) -> None:
        super().cleanup()
        for net in self.networks:  # dnsname keeps its dnsmasq per network
            T.stop_dnsname_dnsmasq(net)


def tcp_server(env: Env, netns: str, port: int, text: str) -> subprocess.Popen:
    """A TCP server in netns answering each connection with text (stopped by the env's
    cleanup at the latest)."""
    proc = T.serve(netns, "tcp", port, text)
    env.procs.append(proc)
    return proc


def tcp_get(host: str, port: int, netns: Optional[str] = None, timeout: float = 3.0,
            tries: int = 20) -> str:
    """What the server at host:port says ('' when unreachable); retries while it starts."""
    return T.tcp_get(host, port, netns, timeout, tries)
