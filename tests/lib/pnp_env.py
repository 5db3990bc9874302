# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the port-string tests (tests/functional/ports; its conftest.py holds
the fixture).

Real kernel, real Debian CNI plugins (bridge, host-local, portmap, firewall), real iptables.
Every name starts with ``pnp`` plus a random suffix, every subnet lies in 10.237.0.0/16,
host ports in 21800-21899; config, cache, IPAM and state dirs are private temporary dirs
(host_env.HostEnv). The cleanup DELs whatever is still cached, drops rules naming the
prefix, removes the namespaces and bridges and stops the servers, even when a test failed.
"""
from __future__ import annotations

from typing import Any, Dict, List

import podnet_testlib as T
from host_env import HostEnv

PORT_BASE = 21800


class Env(HostEnv):
    """One test's private world: prefix, dirs, networks, namespaces, servers."""

    PREFIX = "pnp"
    NET16 = "10.237"
    PORT_BASE = PORT_BASE

    def __init__(self) -> None:
        super().__init__()
        # each test its own ten host ports, so a re-run never meets a port in TIME_WAIT
        self.port = PORT_BASE + 10 * (int(self.prefix[-2:], 16) % 10)

    @property
    def common(self) -> Dict[str, Any]:
        return self.module_args()

    def network(self, suffix: str, third_octet: int) -> str:
        """A bridge network pnp<rand><suffix> on 10.237.<third_octet>.0/24 with portmap."""
        name = self.name(suffix)
        self.bridge_network(name, self.name("b" + suffix)[:15], self.subnet(third_octet))
        return name

    def serve(self, netns: str, proto: str, port: int, text: str) -> None:
        self.procs.append(T.serve(netns, proto, port, text))

    def module(self, module: str, args: Dict[str, Any], check: bool = False) -> Dict[str, Any]:
        return T.run_module_file(module, self.module_args(**args), check=check, tag="pnp")

    def rules(self) -> List[str]:
        """iptables-save lines naming one of this test's networks or containers."""
        return T.container_chains(self.prefix)

    def dnat_rules(self) -> List[str]:
        return [l for l in T.run(["iptables-save", "-t", "nat"]).stdout.decode().splitlines()
                if "-j DNAT" in l and "10.237." in l]

    def playbook(self, tasks: List[Dict[str, Any]], only: str = "") -> List[Dict[str, Any]]:
        """Tasks on localhost in one ansible-playbook run; the result of every task (whose
        name contains ``only``: a role's task among the role's others)."""
        dummy, results = T.run_plays(self.tmp, T.play(tasks))
        return [result for task, result in results if only in task]
