# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the cni_attachment / container_netns_info functional tests (conftest.py
holds the fixtures; a module of its own name so no other directory's conftest shadows it).

Real kernel, real Debian CNI plugins, real iptables. Every name starts with ``pna`` plus
a random suffix, every subnet lies in 10.222.0.0/16, host ports in 20400-20499; config,
cache, IPAM and state dirs are private temporary dirs. The finaliser DELs whatever is
still cached, removes namespaces and bridges, and stops a dnsmasq started for them.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.path.join(REPO, ".build")
PLUGIN_DIR = "/usr/lib/cni"
import podnet_testlib as T  # noqa: E402


def sh(argv: List[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _rules_with(needle: str, save: str) -> List[List[str]]:
    """(table, rule argv) of every rule in <save> output that mentions needle."""
    import shlex
    out, table = [], ""
    for line in sh([save], check=False).stdout.decode().splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A ") and needle in line:
            out.append([table] + shlex.split(line)[1:])
    return out


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


class Env:
    """One test's private world: prefix, dirs, networks, namespaces; cleaned up at the end."""

    def __init__(self) -> None:
        self.prefix = "pna" + secrets.token_hex(2)
        self.tmp = tempfile.mkdtemp(prefix="%s-" % self.prefix)
        os.chmod(self.tmp, 0o700)
        self.config_dir = os.path.join(self.tmp, "net.d")
        self.cache_dir = os.path.join(self.tmp, "cache")
        self.state_dir = os.path.join(self.tmp, "state")
        self.ipam_dir = os.path.join(self.tmp, "ipam")
        os.makedirs(self.config_dir)
        self.bridges: List[str] = []
        self.netns: List[str] = []
        self.networks: List[str] = []
        self.cnitool_netns: Dict[str, str] = {}  # cnitool container id -> netns path

    @property
    def common(self) -> Dict[str, Any]:
        return {"cni_config_dir": self.config_dir, "cni_cache_dir": self.cache_dir,
                "state_dir": self.state_dir, "cni_plugin_dirs": [PLUGIN_DIR]}

    def name(self, suffix: str) -> str:
        return self.prefix + suffix

    def network(self, suffix: str, third_octet: int, **kw: Any) -> str:
        """Write a bridge network pna<rand><suffix> on 10.222.<third_octet>.0/24."""
        name = self.name(suffix)
        bridge = self.name("b" + suffix)[:15]
        conf = bridge_conflist(name, bridge, "10.222.%d.0/24" % third_octet, self.ipam_dir, **kw)
        self.write_conf(conf)
        self.bridges.append(bridge)
        self.networks.append(name)
        return name

    def write_conf(self, conf: Dict[str, Any]) -> str:
        path = os.path.join(self.config_dir, "%s.conflist" % conf["name"])
        with open(path, "w") as f:
            json.dump(conf, f)
        return path

    def add_netns(self, suffix: str) -> str:
        name = self.name(suffix)
        sh(["ip", "netns", "add", name])
        self.netns.append(name)
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

    def _drop_rules(self) -> None:
        """Delete iptables rules that name this test's prefix (never anyone else's)."""
        for save, tool in (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")):
            for rule in _rules_with(self.prefix, save):
                sh([tool, "-t", rule[0], "-D"] + rule[1:], check=False)

    def cleanup(self) -> None:
        # ours only, even in /var/lib/cni
        T.delete_cached_attachments(self.config_dir, self.cache_dir, self.state_dir,
                                    select=lambda e: e.network.startswith(self.prefix),
                                    netns_of=lambda e: e.netns or self.cnitool_netns.get(e.container_id, ""))
        self._drop_rules()  # e.g. dnsname's "-A INPUT -i <bridge> --dport 53" stays after DEL
        for ns in self.netns:
            sh(["ip", "netns", "del", ns], check=False)
        for br in self.bridges:
            sh(["ip", "link", "del", br], check=False)
        for net in self.networks:  # dnsname keeps its dnsmasq per network here
            d = os.path.join("/run/containers/cni/dnsname", net)
            pidfile = os.path.join(d, "pidfile")
            if os.path.exists(pidfile):
                try:
                    pid = int(open(pidfile).read().strip())
                    cmd = open("/proc/%d/cmdline" % pid, "rb").read()
                    if b"dnsmasq" in cmd and net.encode() in cmd:
                        os.kill(pid, 15)
                except (OSError, ValueError):
                    pass
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def tcp_server(env: Env, netns: str, port: int, text: str) -> subprocess.Popen:
    """A TCP server in netns answering each connection with text (python, no busybox needed)."""
    code = ("import socket,sys\ns=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n"
            "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            "s.bind((sys.argv[1],int(sys.argv[2])));s.listen(8)\n"
            "while True:\n c,_=s.accept();c.sendall(sys.argv[3].encode()+b'\\n');c.close()\n")
    return subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", code, "0.0.0.0",
                             str(port), text], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tcp_get(host: str, port: int, netns: Optional[str] = None, timeout: float = 3.0,
            tries: int = 20) -> str:
    """What the server at host:port says ('' when unreachable); retries while it starts."""
    return T.tcp_get(host, port, netns, timeout, tries)
