# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base of every functional test area's environment: one test's private CNI
world in the host's network namespace.

``HostEnv`` gives a test a name prefix of its area (``PREFIX`` + 4 random hex digits), a
private directory with the CNI config, cache, state and host-local data dirs, bridge
networks in the area's /16 (``NET16``), named namespaces, the module arguments that point
a module at those dirs, and a cleanup that removes everything of the test, also after a
failure: a CNI DEL of what is still cached, the iptables rules naming the prefix, the
namespaces, the bridges, the processes it started, the private directory.

Each area derives its environment from it (tests/lib/<area>_env.py) and keeps its own
prefix, subnets and host ports, so areas never meet:

==========  ===============  =================  ==============================
prefix      subnets          host ports         environment
==========  ===============  =================  ==============================
pnf         10.220.0.0/16    20200-20299        pnf_core_env.CoreEnv
pna         10.222.0.0/16    20400-20499        pna_env.Env
pnn         10.223.0.0/16    -                  pnn_env.Env
pnr         10.224.0.0/16    -                  rootless_user (the rootless user)
pnl         10.225.0.0/16    20700-20799        reload_env.ReloadEnv
pnb         10.227.0.0/16    20900-20999        pnb_env.PnbEnv
pns         10.230.0.0/16    21000-21099        pns_env.PnsEnv
pnd         10.231.0.0/16    21100-21199        pnd_env.PndEnv
pnq         10.232.0.0/16    21200-21299        pnq_env.RootEnv
pnc         10.233.0.0/16    21300-21399        pnc_batch_env.BatchEnv
pnj         10.236.0.0/16    21700-21799        pnj_modes_env.ModesEnv
pnp         10.237.0.0/16    21800-21899        pnp_env.Env
pnw         10.242.0.0/16    22100-22199        pnj_modes_env.ModesEnv (env_w)
==========  ===============  =================  ==============================

(Outside these environments: pnm 10.226 is molecule's, pnx 10.240/10.241 the fleet's,
pnk 10.238 the fresh-host check run's, pne the getting-started run's, pnv the matrix's.)
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import podnet_testlib as T

NEEDS_ROOT = "needs root: real namespaces and CNI plugins"


class HostEnv:
    """One test's private world (see the module's docstring). ``tmp_path``: the directory
    to use (pytest's, kept); without it a private one is made (and removed by cleanup).
    ``prefix``: a prefix chosen by the caller (an area sharing one per session)."""

    PREFIX = "pnx"
    NET16 = ""
    PORT_BASE = 0
    MAKE_CONFIG_DIR = True   # False: the test leaves making it to a module

    def __init__(self, tmp_path: Any = None, prefix: Optional[str] = None) -> None:
        self.prefix = prefix or T.unique_prefix(self.PREFIX)
        self.net16 = self.NET16
        self._own_tmp = tmp_path is None
        if tmp_path is None:
            self.tmp = tempfile.mkdtemp(prefix="%s-" % self.prefix)
            os.chmod(self.tmp, 0o700)
        else:
            self.tmp = str(tmp_path)
        self.config_dir = os.path.join(self.tmp, "net.d")
        self.cache_dir = os.path.join(self.tmp, "cache")
        self.state_dir = os.path.join(self.tmp, "state")
        self.ipam_dir = os.path.join(self.tmp, "ipam")
        self.plugin_dirs = [T.PLUGIN_DIR]
        if self.MAKE_CONFIG_DIR:
            os.makedirs(self.config_dir, exist_ok=True)
        self.bridges: List[str] = []
        self.namespaces: List[str] = []       # named namespaces (ip netns) of the test
        self.procs: List[subprocess.Popen] = []

    # --- names, networks, namespaces ---
    def name(self, suffix: str) -> str:
        return self.prefix + suffix

    def subnet(self, third: int) -> str:
        """The /24 of the area's /16 whose third octet is ``third``."""
        return "%s.%d.0/24" % (self.net16, third)

    def module_args(self, **kw: Any) -> Dict[str, Any]:
        """The common options that point a module at this test's dirs, plus ``kw``."""
        args = {"cni_config_dir": self.config_dir, "cni_plugin_dirs": list(self.plugin_dirs),
                "cni_cache_dir": self.cache_dir, "state_dir": self.state_dir}
        args.update(kw)
        return args

    def write_conf(self, conf: Dict[str, Any]) -> str:
        return T.write_conflist(self.config_dir, conf)

    def bridge_network(self, name: str, bridge: str, subnet: str, write: bool = True,
                       **kw: Any) -> Dict[str, Any]:
        """tests/lib's bridge chain (podman v3's) for ``subnet``, gateway .1, host-local
        data in this test's dir; written to the config dir, the bridge removed by cleanup."""
        conf = T.bridge_conflist(name, bridge, subnet, gateway=subnet.rsplit(".", 1)[0] + ".1",
                                 data_dir=self.ipam_dir, **kw)
        if write:
            self.write_conf(conf)
        self.bridges.append(bridge)
        return conf

    def add_netns(self, suffix: str) -> str:
        name = self.name(suffix)
        T.run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        return name

    # --- cleanup ---
    def stop_procs(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []

    def delete_cached(self) -> List[str]:
        """A CNI DEL of every attachment cached in this test's cache dir."""
        return T.delete_cached_attachments(self.config_dir, self.cache_dir, self.state_dir)

    def sweep_rules(self) -> List[str]:
        """Delete the iptables and ip6tables rules that name this test's prefix (never
        another's); returns them."""
        found = []
        for save, tool in (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")):
            table = ""
            for line in T.run([save], check=False).stdout.decode().splitlines():
                if line.startswith("*"):
                    table = line[1:]
                elif line.startswith("-A ") and self.prefix in line:
                    found.append("%s %s: %s" % (tool, table, line))
                    T.run([tool, "-w", "-t", table, "-D"] + shlex.split(line)[1:], check=False)
        return found

    def cleanup(self) -> None:
        """Everything of this test, even after a failure: processes, cached attachments
        (DEL), rules naming the prefix, namespaces, bridges, the private dir."""
        self.stop_procs()
        self.delete_cached()
        self.sweep_rules()  # e.g. dnsname's "-A INPUT -i <bridge> --dport 53" stays after DEL
        for ns in self.namespaces:
            T.run(["ip", "netns", "del", ns], check=False)
        for br in self.bridges:
            T.run(["ip", "link", "del", br], check=False)
        if self._own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def area_env(make: Callable[..., Any], *args: Any, why: str = NEEDS_ROOT) -> Iterator[Any]:
    """What an area's fixture yields: ``make(*args)`` (an environment), cleaned up
    afterwards whatever happened; the test is skipped, saying ``why``, when not root."""
    if os.geteuid() != 0:
        pytest.skip(why)
    env = make(*args)
    try:
        yield env
    finally:
        env.cleanup()
