# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the network-mode tests (tests/functional/modes: durable connects,
purge_networks, pinned namespaces, container:/ns:/host modes): prefix pnj, subnets
10.236.0.0/16, host ports 21700-21799; and prefix pnw, 10.242.0.0/16, host ports
22100-22199 for the slirp4netns inspection and batch joiner tests (``pnw_env``).

It is the core tests' CoreEnv (real namespaces, the real Debian CNI plugins, real
iptables; private config, cache, state and host-local dirs per test) with names, subnets
and ports of its own, and everything removed in the finaliser, also on failure.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import podnet_testlib as tl
from pnf_core_env import CoreEnv, sh

__all__ = ["ModesEnv", "pnw_env", "sh"]  # sh: for the tests of this area
PREFIX = tl.unique_prefix("pnj")


class ModesEnv(CoreEnv):
    PREFIX = "pnj"
    NET16 = "10.236"
    PORT_BASE = 21700

    def __init__(self, tmp_path: Any, prefix: str = PREFIX, net16: Optional[str] = None,
                 ports: Optional[range] = None) -> None:
        super().__init__(tmp_path, prefix, net16, ports)

    def module(self, module: str, check: bool = False, diff: bool = False,
               **kw: Any) -> Dict[str, Any]:
        """A module file run as Ansible runs it, with this test's private dirs."""
        return tl.run_module_file(module, self.module_args(**kw), check=check, diff=diff)

    def netns(self, check: bool = False, diff: bool = False, **kw: Any) -> Dict[str, Any]:
        return self.module("container_netns", check=check, diff=diff, **kw)

    def connect(self, check: bool = False, diff: bool = False, **kw: Any) -> Dict[str, Any]:
        return self.module("cni_attachment", check=check, diff=diff, **kw)

    def info(self, **kw: Any) -> Dict[str, Any]:
        return self.module("container_netns_info", **kw)


def pnw_env(tmp_path: Any) -> ModesEnv:
    """A ModesEnv under the area's second names: prefix pnw (new for each test),
    10.242.0.0/16, host ports 22100-22199."""
    return ModesEnv(tmp_path, tl.unique_prefix("pnw"), "10.242", range(22100, 22200))
