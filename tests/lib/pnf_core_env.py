# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the core functional tests (prefix pnf, subnets 10.220.0.0/16, host
ports 20200-20299): real namespaces, the real Debian CNI plugins, real iptables.

Each test gets its own CNI config, cache, state and host-local data dirs (host_env.HostEnv);
names start with ``pnfXXXX`` (random per run). Everything is removed in finalizers, also
on failure. The batch (pnc_batch_env) and network-mode (pnj_modes_env) areas derive their
environments from ``CoreEnv``.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import shlex
import socket
import subprocess
import sys
from typing import Any, Dict, List, Optional

import podnet_testlib as tl
from host_env import HostEnv


def _mu() -> Any:
    """The collection's module_utils, imported when first used: a conftest that imports
    them at load time upsets pytest-ansible's collection finder for the unit tests
    collected after it ("collection metadata was not loaded")."""
    # pylint: disable=import-outside-toplevel
    from types import SimpleNamespace
    from ansible_collections.podnet.cni.plugins.module_utils import _attach, _container, _container_request, _netns
    from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
    from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
    return SimpleNamespace(attach=_attach, container=_container, container_request=_container_request, netns=_netns, cache=cnicache,
                           HostContext=HostContext)


PLUGIN_DIR = "/usr/lib/cni"
PREFIX = tl.unique_prefix("pnf")
PORTS = range(20200, 20300)
SHARED_CHAINS = {"CNI-FORWARD", "CNI-ADMIN", "CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK",
                 "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-OUTPUT", "CNI-ISOLATION-STAGE-1",
                 "CNI-ISOLATION-STAGE-2"}
_subnets = itertools.count(random.randrange(0, 200))
_ports = itertools.count(random.randrange(0, 100))


def sh(*argv: str, check: bool = True) -> str:
    proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(argv), proc.stderr.decode()))
    return proc.stdout.decode()


def iptables_lines(markers: List[str]) -> List[str]:
    """iptables-save lines of our objects: rules mentioning a marker (container id,
    subnet prefix) and every line of the per-container CNI-* chains they jump to."""
    text = sh("iptables-save", check=False)
    table, ours, chains = "", [], set()
    lines = []
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        lines.append((table, line))
    for table, line in lines:
        if line.startswith("-A") and any(m in line for m in markers):
            ours.append("%s %s" % (table, line))
            words = line.split()
            if "-j" in words:
                target = words[words.index("-j") + 1]
                if target.startswith("CNI-") and target not in SHARED_CHAINS:
                    chains.add((table, target))
    for table, line in lines:
        words = line.split()
        if len(words) > 1 and ((line.startswith(":") and (table, words[0][1:]) in chains)
                               or (words[0] == "-A" and (table, words[1]) in chains)):
            entry = "%s %s" % (table, line.split(" [")[0] if line.startswith(":") else line)
            if entry not in ours:
                ours.append(entry)
    return sorted(ours)


def remove_iptables(markers: List[str]) -> None:
    """Delete our leftover rules and chains (never anything else)."""
    lines = iptables_lines(markers)
    chains = {tuple(l.split()[:2]) for l in lines if l.split()[1].startswith(":")}
    for entry in lines:
        table, rest = entry.split(" ", 1)
        if rest.startswith("-A "):
            argv = shlex.split(rest)
            subprocess.run(["iptables", "-t", table, "-D"] + argv[1:], stderr=subprocess.DEVNULL, check=False)
    for table, decl in chains:
        subprocess.run(["iptables", "-t", table, "-F", decl[1:]], stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["iptables", "-t", table, "-X", decl[1:]], stderr=subprocess.DEVNULL, check=False)


def free_port(ports: range = PORTS) -> int:
    for dummy in range(len(ports)):
        port = ports[next(_ports) % len(ports)]
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
        if str(port) not in sh("iptables-save", "-t", "nat", check=False):
            return port
    raise AssertionError("no free port in %d-%d" % (ports[0], ports[-1]))


class CoreEnv(HostEnv):
    """One test's private CNI world (config, cache, state, IPAM dirs; pnf names), driving
    the container API in process as the module does.

    Another test area reuses it with its own name prefix, /16 and host ports (a session
    shares one prefix per area: the module-level PREFIX)."""

    PREFIX = "pnf"
    NET16 = "10.220"
    PORT_BASE = 20200

    def __init__(self, tmp_path: Any, prefix: str = PREFIX, net16: Optional[str] = None,
                 ports: Optional[range] = None) -> None:
        super().__init__(tmp_path, prefix)
        self.net16 = net16 or self.NET16
        self.ports = ports or range(self.PORT_BASE, self.PORT_BASE + 100)
        self.networks: Dict[str, Dict[str, Any]] = {}
        self.cids: List[str] = []
        self.cleanups: List[Any] = []
        self._n = itertools.count()

    # --- names and networks ---
    def name(self, suffix: str) -> str:
        return "%s-%s%d" % (self.prefix, suffix, next(self._n))

    def cid(self, suffix: str = "c") -> str:
        cid = self.name(suffix)
        self.cids.append(cid)
        return cid

    def network(self, cni_version: str = "1.0.0", **kw: Any) -> Dict[str, Any]:
        third = next(_subnets) % 250 + 1
        subnet = self.subnet(third)
        name = self.name("net")
        bridge = "%sb%d" % (self.prefix, len(self.bridges))
        conf = self.bridge_network(name, bridge, subnet, cni_version=cni_version, **kw)
        info = {"name": name, "bridge": bridge, "subnet": subnet,
                "prefix": "%s.%d." % (self.net16, third),
                "conf": conf}
        self.networks[name] = info
        return info

    def failing_network(self) -> Dict[str, Any]:
        """A network whose chain fails in its last plugin (tuning refuses an unknown sysctl,
        ``<area>_no_such``), after bridge, host-local, portmap and firewall succeeded."""
        net = self.network()
        conf = dict(net["conf"])
        conf["plugins"] = [p for p in conf["plugins"] if p["type"] != "tuning"] + [
            {"type": "tuning", "sysctl": {"net.ipv4.conf.IFNAME.%s_no_such" % self.prefix[:3]: "1"}}]
        tl.write_conflist(self.config_dir, conf)
        return net

    def free_port(self) -> int:
        return free_port(self.ports)

    def ctx(self, plugin_dirs: Optional[List[str]] = None) -> Any:
        return _mu().HostContext(config_dir=self.config_dir, plugin_dirs=plugin_dirs or self.plugin_dirs,
                                 cache_dir=self.cache_dir, state_dir=self.state_dir)

    # --- the container API, as the module drives it ---
    def request(self, ctx: Any, cid: str, **kw: Any) -> Any:
        kw.setdefault("netns", cid)
        return _mu().container_request.ContainerRequest(ctx, cid, **kw)

    def apply(self, cid: str, ctx: Optional[Any] = None, **kw: Any) -> Dict[str, Any]:
        """plan + execute like container_netns does; returns plan, outcome, report."""
        ctx = ctx or self.ctx()
        _container = _mu().container
        req = self.request(ctx, cid, **kw)
        with ctx.container_lock(cid):
            plan = _container.plan(ctx, req)
            outcome = _container.execute(ctx, req, plan) if plan.changed else {"warnings": []}
            entries = _container.current_entries(ctx, req)
            exists = _container.container_exists(ctx, req)
        out = {"plan": plan, "changed": plan.changed, "actions": plan.actions,
               "warnings": outcome["warnings"] + ctx.warnings}
        out.update(_container.report(req, entries, exists and req.state == "present"))
        return out

    def absent(self, cid: str) -> Dict[str, Any]:
        return self.apply(cid, state="absent")

    # --- what is on the host ---
    def markers(self) -> List[str]:
        return self.cids + [n["prefix"] for n in self.networks.values()]

    def bridge_ports(self) -> List[str]:
        out = []
        for bridge in self.bridges:
            data = sh("ip", "-j", "link", "show", "master", bridge, check=False).strip()
            out += [l["ifname"] for l in json.loads(data or "[]")]
        return sorted(out)

    def reservations(self) -> List[str]:
        out = []
        for net in sorted(os.listdir(self.ipam_dir)) if os.path.isdir(self.ipam_dir) else []:
            for name in sorted(os.listdir(os.path.join(self.ipam_dir, net))):
                if name != "lock" and not name.startswith("last_reserved_ip"):
                    out.append("%s/%s" % (net, name))
        return out

    def cache_files(self) -> List[str]:
        d = os.path.join(self.cache_dir, "results")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def records(self) -> List[str]:
        d = os.path.join(self.state_dir, "containers")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def netns_names(self) -> List[str]:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(self.prefix)) \
            if os.path.isdir("/run/netns") else []

    def snapshot(self) -> Dict[str, Any]:
        """Everything of this test on the host (empty lists when nothing is left)."""
        return {"bridge_ports": self.bridge_ports(), "iptables": iptables_lines(self.markers()),
                "reservations": self.reservations(), "cache": self.cache_files(),
                "records": self.records(), "netns": self.netns_names()}

    def assert_nothing_left(self) -> None:
        snap = self.snapshot()
        assert snap == {k: [] for k in snap}, json.dumps(snap, indent=1)

    # --- processes ---
    def spawn(self, argv: List[str]) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def server(self, netns: str, port: int, text: str) -> subprocess.Popen:
        proc = tl.tcp_echo_server(netns, port, text)
        self.procs.append(proc)
        return proc

    # --- cleanup: everything of this test, even after a failure ---
    def _remove_through_collection(self) -> None:
        """Each container absent, then a CNI DEL of what is still cached, then the netns."""
        ctx = self.ctx()
        for cid in self.cids:
            try:
                self.apply(cid, ctx=ctx, state="absent")
            except Exception:
                pass
        mu = _mu()
        for entry in mu.cache.list_entries(self.cache_dir):
            try:
                mu.attach.remove(ctx, entry, tolerate=lambda e: True)
            except Exception:
                pass
        for name in self.netns_names():
            try:
                mu.netns.remove(os.path.join("/run/netns", name))
            except Exception:
                pass

    def cleanup(self) -> None:
        self.stop_procs()
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                pass
        try:
            self._remove_through_collection()
        except Exception as exc:  # noqa: BLE001 - an import can fail at teardown; the sweep must run
            sys.stderr.write("pnf cleanup: %s\n" % exc)
        for name in self.netns_names():  # what the collection did not remove
            subprocess.run(["ip", "netns", "delete", name], stderr=subprocess.DEVNULL, check=False)
        remove_iptables(self.markers())
        for bridge in self.bridges:
            subprocess.run(["ip", "link", "del", bridge], stderr=subprocess.DEVNULL, check=False)


def link_info(netns: str, ifname: str) -> Dict[str, Any]:
    data = json.loads(sh("ip", "-n", netns, "-j", "addr", "show", "dev", ifname))
    return data[0]


def run_playbook(tmp: str, tasks: List[Dict[str, Any]], diff: bool = True,
                 extra_vars: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Run tasks on localhost in one ansible-playbook process (Ansible's start-up costs
    seconds on this machine); every task's result, in order."""
    dummy, results = tl.run_plays(tmp, tl.play(tasks), diff, extra_vars,
                                  {"ANSIBLE_DEPRECATION_WARNINGS": "false", "ANSIBLE_PIPELINING": "true"})
    return [result for task, result in results]
