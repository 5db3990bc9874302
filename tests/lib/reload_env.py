# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall concern: an isolated "host" for the reload and firewalld tests
(tests/functional/reload; prefix ``pnl``, subnets in 10.225.0.0/16, host ports 20700-20799).

The tests wipe firewalls (``iptables -F/-X``, ``nft flush ruleset``): that must never
happen in the machine's own network namespace. So each test gets a network namespace
``pnl-XXXX-h`` that plays the host: the library and the module run inside it (a forked
child that ``setns``es, or ``ip netns exec``), so the CNI bridges, iptables and nftables
state of the test live there and vanish with it. Container namespaces are ordinary
``/run/netns/pnl-XXXX-cN`` mounts whose veths peer into the test host. A client namespace
``pnl-XXXX-cl`` is wired to the test host by a veth pair and plays the outside world
(it reaches published ports, and it has no route back to the container subnets, so
it only answers masqueraded traffic).

The test host's own firewall is "FORWARD policy DROP, accept DNATed connections" (the
shape of firewalld's or a hardened host's): a wipe leaves that baseline in place, as a
firewall reload does, so containers lose what the CNI plugins had added.

iptables-legacy is selected without ``update-alternatives``: a directory first in PATH
where ``iptables``/``ip6tables``(-save/-restore) point to ``xtables-legacy-multi`` (the
plugins exec ``iptables`` from PATH; the test asserts their rules land in legacy).

``ReloadEnv`` is a host_env.HostEnv (prefix, private dirs) whose namespaces, rules and
cleanup are the test host's: nothing of it is ever torn down from the machine's own
namespace. ``WATCHER`` is the firewall_reload_hook role's firewalld watcher.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence

import podnet_testlib as T
from host_env import HostEnv

REPO = T.REPO
PYTHON = T.VENV_PYTHON if os.path.exists(T.VENV_PYTHON) else sys.executable
MODULE = os.path.join(REPO, "plugins", "modules", "container_net_reload.py")
WATCHER = os.path.join(REPO, "roles", "firewall_reload_hook", "files", "podnet-firewalld-reload")
LEGACY_MULTI = "/usr/sbin/xtables-legacy-multi"
LEGACY_NAMES = ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save",
                "ip6tables-restore")
SERVER_PORT = 8080
CLIENT_PORT = 9090

# a server in the client namespace that answers each connection with the peer address
PEER_SERVER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(16)\n"
    "while True:\n"
    "    c, a = s.accept(); c.sendall((a[0] + '\\n').encode()); c.close()\n")


class ReloadEnv(HostEnv):
    PREFIX = "pnl"
    NET16 = "10.225"
    PORT_BASE = 20700

    def __init__(self, backend: str = "nft", cni_version: str = "1.0.0",
                 disable_check: bool = False, firewall_plugin: bool = True) -> None:
        assert backend in ("nft", "legacy")
        super().__init__()
        tag = self.prefix[len(self.PREFIX):]
        self.tag = tag
        self.backend = backend
        self.cni_version = cni_version
        self.disable_check = disable_check
        # without the firewall plugin nothing would accept forwarded traffic past the
        # baseline's DROP: such a test host forwards everything (policy ACCEPT)
        self.firewall_plugin = firewall_plugin
        self.host = "pnl-%s-h" % tag
        self.client = "pnl-%s-cl" % tag
        octet = random.randrange(0, 252, 4)
        self.subnets = [self.subnet(octet), self.subnet(octet + 1)]
        self.host_ip = "%s.%d.1" % (self.net16, octet + 2)
        self.client_ip = "%s.%d.2" % (self.net16, octet + 2)
        self.port_base = self.PORT_BASE + random.randrange(0, 90)
        self.data_dir = self.ipam_dir
        self.networks = ["pnl%s-n1" % tag, "pnl%s-n2" % tag]
        self.netns: Dict[str, str] = {}
        self.servers: Dict[str, subprocess.Popen] = {}
        path = os.environ.get("PATH", "/usr/bin:/bin")
        if backend == "legacy":
            bindir = os.path.join(self.tmp, "bin")
            os.makedirs(bindir)
            for name in LEGACY_NAMES:
                os.symlink(LEGACY_MULTI, os.path.join(bindir, name))
            path = bindir + ":" + path
            self.iptables = os.path.join(bindir, "iptables")
        else:
            self.iptables = "/usr/sbin/iptables-nft"
        self.path = path

    # --- set-up and tear-down ---
    def setup(self) -> "ReloadEnv":
        T.run(["ip", "netns", "add", self.host])
        T.run(["ip", "netns", "add", self.client])
        for ns in (self.host, self.client):
            T.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        a, b = "pnl%sv0" % self.tag, "pnl%sv1" % self.tag
        T.run(["ip", "-n", self.host, "link", "add", a, "type", "veth", "peer", "name", b,
               "netns", self.client])
        T.run(["ip", "-n", self.host, "addr", "add", self.host_ip + "/30", "dev", a])
        T.run(["ip", "-n", self.client, "addr", "add", self.client_ip + "/30", "dev", b])
        T.run(["ip", "-n", self.host, "link", "set", a, "up"])
        T.run(["ip", "-n", self.client, "link", "set", b, "up"])
        for i, name in enumerate(self.networks):
            conf = T.bridge_conflist(name, "pnl%sb%d" % (self.tag, i + 1), self.subnets[i],
                                     cni_version=self.cni_version, firewall=self.firewall_plugin,
                                     data_dir=self.data_dir)
            if self.disable_check:
                conf["disableCheck"] = True
            T.write_conflist(self.config_dir, conf)
        self.baseline()
        return self

    def cleanup(self) -> None:
        """The test host's: servers, container namespaces, the test host and the client
        (their rules and links go with them), the private dir. No CNI DEL from the
        machine's own namespace (HostEnv.cleanup would run it there)."""
        self.stop_procs()
        for path in list(self.netns.values()):
            if os.path.lexists(path):
                subprocess.run(["umount", "-l", path], stderr=subprocess.DEVNULL, check=False)
                try:
                    os.unlink(path)
                except OSError:
                    pass
        for ns in (self.client, self.host):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- the test host's firewall ---
    def ipt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return T.run(["ip", "netns", "exec", self.host, self.iptables, "-w"] + list(args),
                     check=check)

    def baseline(self) -> None:
        if not self.firewall_plugin:
            return
        self.ipt("-P", "FORWARD", "DROP")
        self.ipt("-A", "FORWARD", "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT")

    def wipe(self, kind: str) -> None:
        """What a firewall reload does to the CNI plugins' rules."""
        if kind in ("iptables", "nat"):
            self.ipt("-t", "nat", "-F")
            self.ipt("-t", "nat", "-X")
        if kind == "iptables":
            self.ipt("-t", "filter", "-F")
            self.ipt("-t", "filter", "-X")
            self.baseline()
        elif kind == "nft-flush":
            T.run(["ip", "netns", "exec", self.host, "nft", "flush", "ruleset"])
            self.baseline()
        elif kind == "filter":
            self.ipt("-t", "filter", "-F")
            self.ipt("-t", "filter", "-X")
            self.baseline()
        elif kind != "nat":
            raise ValueError(kind)

    def rules(self, table: str, binary: Optional[str] = None) -> str:
        return T.run(["ip", "netns", "exec", self.host, binary or self.iptables, "-w", "-t", table,
                      "-S"]).stdout.decode()

    # --- the library, inside the test host ---
    def ctx_kwargs(self) -> Dict[str, Any]:
        return {"config_dir": self.config_dir, "plugin_dirs": [T.PLUGIN_DIR],
                "cache_dir": self.cache_dir, "state_dir": self.state_dir}

    def in_host(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(ctx, *args) in a forked child inside the test host, with its PATH."""
        from ansible_collections.podnet.cni.plugins.module_utils import _netns
        from ansible_collections.podnet.cni.plugins.module_utils._procs import run_in_child
        host_path = os.path.join("/run/netns", self.host)
        kwargs = self.ctx_kwargs()
        path = self.path

        def prepare() -> None:
            _netns._enter(host_path)
            os.environ["PATH"] = path

        def body() -> Any:
            from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
            return fn(HostContext(**kwargs), *args)
        return run_in_child(body, prepare=prepare)

    def add_container(self, cid: str, networks: Sequence[Any], ports: Sequence[int] = (),
                      static_ip: Optional[str] = None, static_mac: Optional[str] = None) -> str:
        name = "pnl-%s-%s" % (self.tag, cid)
        self.netns[cid] = os.path.join("/run/netns", name)
        pms = [{"host_port": p, "container_port": SERVER_PORT} for p in ports]
        self.in_host(_add_container, self.cid(cid), name, list(networks), pms, static_ip, static_mac)
        self.servers[cid] = T.tcp_echo_server(name, SERVER_PORT, cid)
        self.procs.append(self.servers[cid])
        return name

    def reboot_container(self, cid: str, keep_record: bool = False) -> None:
        """What a reboot leaves of a container: no processes, no netns mount, no record
        (tmpfs), while the CNI cache and host-local reservations (disk) remain."""
        proc = self.servers.pop(cid, None)
        if proc is not None:
            proc.kill()
            proc.wait()
        path = self.netns[cid]
        T.run(["umount", path])
        os.unlink(path)
        if not keep_record:
            os.unlink(os.path.join(self.state_dir, "containers", "%s.json" % self.cid(cid)))

    def remove_container(self, cid: str) -> None:
        self.in_host(_remove_container, self.cid(cid), os.path.basename(self.netns[cid]))

    def cid(self, short: str) -> str:
        return "pnl%s%s" % (self.tag, short)

    def entries(self) -> Dict[str, Dict[str, Any]]:
        """{"cid/network": {"ips": [...], "mac": ...}} from the libcni cache."""
        from ansible_collections.podnet.cni.plugins.module_utils import _attach
        from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
        out = {}
        for e in cnicache.list_entries(self.cache_dir):
            view = _attach.entry_spec_view(e)
            out["%s/%s" % (e.container_id, e.network)] = {"ips": view["ips"], "mac": view["mac"],
                                                          "interface": e.ifname}
        return out

    def ip_of(self, cid: str, net_index: int) -> str:
        return self.entries()["%s/%s" % (self.cid(cid), self.networks[net_index])]["ips"][0]

    # --- the module, inside the test host ---
    def module(self, check: bool = False, diff: bool = False, **args: Any) -> Dict[str, Any]:
        params = self.module_args(**args)
        params["_ansible_check_mode"] = check
        params["_ansible_diff"] = diff
        argsfile = os.path.join(self.tmp, "args.json")
        with open(argsfile, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": params}, f)
        env = dict(os.environ, PATH=self.path, PYTHONPATH=T.BUILD)
        proc = subprocess.run(["ip", "netns", "exec", self.host, PYTHON, MODULE, argsfile],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
        out = proc.stdout.decode()
        try:
            return json.loads(out[out.index("{"):])
        except ValueError:
            raise AssertionError("module printed no JSON (rc=%d):\n%s\n%s"
                                 % (proc.returncode, out[-3000:], proc.stderr.decode()[-3000:]))

    # --- the firewalld watcher (roles/firewall_reload_hook), inside the test host ---
    def watcher_argv(self, *extra: str) -> List[str]:
        return ["ip", "netns", "exec", self.host, PYTHON, WATCHER, "--collection-root", T.BUILD,
                "--cni-config-dir", self.config_dir, "--cni-plugin-dir", T.PLUGIN_DIR,
                "--cni-cache-dir", self.cache_dir, "--state-dir", self.state_dir] + list(extra)

    # --- traffic ---
    def start_peer_server(self) -> None:
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", self.client, PYTHON, "-c", PEER_SERVER, str(CLIENT_PORT)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        T.wait_listening(self.client, CLIENT_PORT)

    def get(self, from_ns: str, ip: str, port: int, timeout: float = 1.0) -> str:
        return T.tcp_get(ip, port, netns=from_ns, timeout=timeout)

    def probe(self, checks: Dict[str, tuple], timeout: float = 1.0) -> Dict[str, bool]:
        """{name: (from netns, ip, port, expected answer)} → {name: answered as expected}."""
        def one(item):
            ns, ip, port, want = item
            return self.get(ns, ip, port, timeout) == want
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(one, checks.values()))
        return dict(zip(checks, answers))


def _add_container(ctx, cid, netns, networks, pms, static_ip, static_mac):
    from ansible_collections.podnet.cni.plugins.module_utils import _container, _container_request
    req = _container_request.ContainerRequest(ctx, cid, netns=netns, networks=networks, port_mappings=pms,
                                              static_ip=static_ip, static_mac=static_mac)
    _container.execute(ctx, req, _container.plan(ctx, req))


def _remove_container(ctx, cid, netns):
    from ansible_collections.podnet.cni.plugins.module_utils import _container, _container_request
    req = _container_request.ContainerRequest(ctx, cid, netns=netns, state="absent")
    _container.execute(ctx, req, _container.plan(ctx, req))
