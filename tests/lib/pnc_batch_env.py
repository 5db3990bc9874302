# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the batch tests (tests/functional/batch: container_netns
``containers:``, cni_network ``networks:``): prefix pnc, subnets 10.233.0.0/16, host ports
21300-21399.

It is the core tests' CoreEnv (real namespaces, the real Debian CNI plugins, real
iptables; private config, cache, state and host-local dirs per test) with names, subnets
and ports of its own, and everything removed in the finaliser, also on failure.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Sequence

import podnet_testlib as tl
from pnf_core_env import CoreEnv, sh

PREFIX = tl.unique_prefix("pnc")


class BatchEnv(CoreEnv):
    PREFIX = "pnc"
    NET16 = "10.233"
    PORT_BASE = 21300

    def __init__(self, tmp_path: Any) -> None:
        super().__init__(tmp_path, PREFIX)

    def entry(self, cid: str, *networks: str, **kw: Any) -> Dict[str, Any]:
        """One ``containers`` entry whose netns is named after the container (as cleanup
        expects)."""
        item = {"container_id": cid, "netns": cid, "networks": list(networks)}
        item.update(kw)
        return item

    def batch(self, containers: Sequence[Dict[str, Any]], check: bool = False, diff: bool = False,
              prefix: Sequence[str] = (), **kw: Any) -> Dict[str, Any]:
        """container_netns with ``containers`` (the module file run as Ansible runs it)."""
        return tl.run_module_file("container_netns", self.module_args(containers=list(containers), **kw),
                                  check=check, diff=diff, prefix=prefix)

    def addresses(self, netns: str) -> Dict[str, List[str]]:
        data = json.loads(sh("ip", "-n", netns, "-j", "addr"))
        return {link["ifname"]: [a["local"] for a in link.get("addr_info", [])] for link in data}
