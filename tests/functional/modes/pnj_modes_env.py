# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the network-mode tests (durable connects, purge_networks, pinned
namespaces, container:/ns:/host modes): prefix pnj, subnets 10.236.0.0/16, host ports
21700-21799.

It is the core tests' CoreEnv (real namespaces, the real Debian CNI plugins, real
iptables; private config, cache, state and host-local dirs per test) with names, subnets
and ports of its own, and everything removed in the finaliser, also on failure.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Dict

HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (os.path.join(HERE, "..", "core"), os.path.join(HERE, "..", "..", "lib")):
    if _p not in sys.path:
        sys.path.insert(0, _p)
import podnet_testlib as tl  # noqa: E402
from pnf_core_env import CoreEnv, sh  # noqa: E402

__all__ = ["ModesEnv", "sh"]  # sh: for the tests of this area
PREFIX = tl.unique_prefix("pnj")
NET16 = "10.236"
PORTS = range(21700, 21800)


class ModesEnv(CoreEnv):
    def __init__(self, tmp_path: Any, prefix: str = PREFIX, net16: str = NET16,
                 ports: range = PORTS) -> None:
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
