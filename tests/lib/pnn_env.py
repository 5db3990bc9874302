# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the cni_network tests (tests/functional/network): prefix ``pnn``,
subnets in 10.223.0.0/16 and fd00:223::/32, no host ports.

``Env`` is a host_env.HostEnv (private config, cache and state dirs; the networks it
writes are the module's) that attaches namespaces through ``_attach`` (the core every
attachment module uses) and makes parent links for macvlan/ipvlan; its cleanup also
removes those links and the host-local reservations of its networks (in the default
/var/lib/cni/networks: the module writes no dataDir).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from typing import Any, Dict, List

import podnet_testlib as tl
from host_env import HostEnv

HOST_LOCAL_DIR = "/var/lib/cni/networks"


class Env(HostEnv):
    """One test's private world: config/cache/state dirs, names under a unique prefix,
    and everything created, removed again by ``cleanup`` even after a failure."""

    PREFIX = "pnn"
    NET16 = "10.223"
    MAKE_CONFIG_DIR = False  # cni_network makes it (and its check mode must not)

    def __init__(self, tmp: str) -> None:
        super().__init__(tmp)
        self.octet = random.randint(1, 250)   # third octet of this test's subnets
        self.networks: List[str] = []
        self.links: List[str] = []

    def v4(self, i: int = 0) -> str:
        return self.subnet((self.octet + i) % 256)

    def v6(self, i: int = 0) -> str:
        return "fd00:223:%x::/64" % ((self.octet + i) % 65536)

    def common(self) -> Dict[str, Any]:
        return self.module_args()

    def module(self, check: bool = False, diff: bool = False, **args: Any) -> Dict[str, Any]:
        if "name" in args and args["name"] not in self.networks:
            self.networks.append(args["name"])
        if args.get("bridge"):
            self.links.append(args["bridge"])
        return run_cni_network(self.module_args(**args), check=check, diff=diff)

    def ctx(self) -> Any:
        from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
        return HostContext(self.config_dir, list(self.plugin_dirs), self.cache_dir, self.state_dir)

    def new_netns(self, suffix: str) -> str:
        from ansible_collections.podnet.cni.plugins.module_utils import _netns
        path = _netns.resolve(self.name(suffix))
        _netns.create(path)
        self.namespaces.append(os.path.basename(path))
        _netns.bring_lo_up(path)
        return path

    def attach(self, network: str, suffix: str, ips: Any = ()) -> Any:
        from ansible_collections.podnet.cni.plugins.module_utils import _attach
        ctx = self.ctx()
        path = self.new_netns(suffix)
        cid = self.name(suffix)
        spec = _attach.AttachmentSpec(network, "eth0", ips=list(ips))
        return _attach.add(ctx, ctx.get_network(network), spec, cid, cid, path)

    def parent_link(self, suffix: str) -> str:
        """An up link to hang macvlan/ipvlan on: one end of a veth pair (this kernel has
        no dummy driver)."""
        link = self.name(suffix)
        tl.run(["ip", "link", "add", link, "type", "veth", "peer", "name", link + "p"])
        self.links.append(link)
        for name in (link, link + "p"):
            tl.run(["ip", "link", "set", name, "up"])
        return link

    def cleanup(self) -> None:
        super().cleanup()
        for link in self.links:
            subprocess.run(["ip", "link", "delete", link], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        for net in self.networks:
            shutil.rmtree(os.path.join(HOST_LOCAL_DIR, net), ignore_errors=True)


def run_cni_network(args: Dict[str, Any], check: bool = False, diff: bool = False) -> Dict[str, Any]:
    """Execute the module as Ansible's controller would ship it (its argument spec, check
    mode and diff flags), without the controller's ~1 s start: the check-mode, diff and
    idempotency steps go through ansible-playbook in test_check_mode_diff_idempotency."""
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=diff)}
    env = dict(os.environ, PYTHONPATH=tl.BUILD)
    proc = subprocess.run([tl.VENV_PYTHON, "-m", "ansible_collections.podnet.cni.plugins.modules.cni_network"],
                          input=json.dumps(payload).encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, cwd=tl.REPO, check=False)
    try:
        result = json.loads(proc.stdout.decode())
    except ValueError:
        raise AssertionError("no result from the module (rc=%d):\n%s\n%s"
                             % (proc.returncode, proc.stdout.decode()[-3000:], proc.stderr.decode()[-3000:]))
    result.setdefault("failed", False)
    return result
