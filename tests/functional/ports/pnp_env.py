# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The port-string tests' world (conftest.py holds the fixture; a module of its own name so
no other directory's conftest shadows it).

Real kernel, real Debian CNI plugins (bridge, host-local, portmap, firewall), real iptables.
Every name starts with ``pnp`` plus a random suffix, every subnet lies in 10.237.0.0/16,
host ports in 21800-21899; config, cache, IPAM and state dirs are private temporary dirs.
The cleanup DELs whatever is still cached, drops rules naming the prefix, removes the
namespaces and bridges and stops the servers, even when a test failed.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib")
if LIB not in sys.path:
    sys.path.insert(0, LIB)
import podnet_testlib as T  # noqa: E402

PORT_BASE = 21800
# a tiny TCP (answers TEXT) or UDP (echoes TEXT to every datagram) server in a netns
SERVER = ("import socket,sys\nproto,port,text=sys.argv[1],int(sys.argv[2]),sys.argv[3].encode()\n"
          "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM if proto=='udp' else socket.SOCK_STREAM)\n"
          "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',port))\n"
          "if proto=='udp':\n while True:\n  d,a=s.recvfrom(100);s.sendto(text,a)\n"
          "s.listen(8)\nwhile True:\n c,_=s.accept();c.sendall(text+b'\\n');c.close()\n")


def udp_get(host: str, port: int, tries: int = 20) -> str:
    """What a UDP server at host:port answers ('' when nothing comes back)."""
    code = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(0.5)\n"
            "for i in range(%d):\n s.sendto(b'?',(sys.argv[1],int(sys.argv[2])))\n"
            " try:\n  print(s.recv(100).decode());break\n except socket.timeout:\n  pass\n" % tries)
    proc = subprocess.run([sys.executable, "-c", code, host, str(port)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=tries + 5, check=False)
    return proc.stdout.decode().strip()


class Env:
    """One test's private world: prefix, dirs, networks, namespaces, servers."""

    def __init__(self) -> None:
        self.prefix = T.unique_prefix("pnp")
        # each test its own ten host ports, so a re-run never meets a port in TIME_WAIT
        self.port = PORT_BASE + 10 * (int(self.prefix[-2:], 16) % 10)
        self.tmp = tempfile.mkdtemp(prefix="%s-" % self.prefix)
        os.chmod(self.tmp, 0o700)
        self.config_dir = os.path.join(self.tmp, "net.d")
        self.cache_dir = os.path.join(self.tmp, "cache")
        self.state_dir = os.path.join(self.tmp, "state")
        self.ipam_dir = os.path.join(self.tmp, "ipam")
        os.makedirs(self.config_dir)
        self.bridges: List[str] = []
        self.netns: List[str] = []
        self.servers: List[subprocess.Popen] = []

    @property
    def common(self) -> Dict[str, Any]:
        return {"cni_config_dir": self.config_dir, "cni_cache_dir": self.cache_dir,
                "state_dir": self.state_dir, "cni_plugin_dirs": [T.PLUGIN_DIR]}

    def name(self, suffix: str) -> str:
        return self.prefix + suffix

    def network(self, suffix: str, third_octet: int) -> str:
        """A bridge network pnp<rand><suffix> on 10.237.<third_octet>.0/24 with portmap."""
        name, bridge = self.name(suffix), self.name("b" + suffix)[:15]
        T.write_conflist(self.config_dir, T.bridge_conflist(
            name, bridge, "10.237.%d.0/24" % third_octet, data_dir=self.ipam_dir))
        self.bridges.append(bridge)
        return name

    def add_netns(self, suffix: str) -> str:
        name = self.name(suffix)
        T.run(["ip", "netns", "add", name])
        self.netns.append(name)
        return name

    def serve(self, netns: str, proto: str, port: int, text: str) -> None:
        self.servers.append(subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-c", SERVER, proto, str(port), text],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if proto == "tcp":
            T.wait_listening(netns, port)

    def module(self, module: str, args: Dict[str, Any], check: bool = False) -> Dict[str, Any]:
        return T.run_module_file(module, dict(self.common, **args), check=check, tag="pnp")

    def rules(self) -> List[str]:
        """iptables-save lines naming one of this test's networks or containers."""
        return T.container_chains(self.prefix)

    def dnat_rules(self) -> List[str]:
        return [l for l in T.run(["iptables-save", "-t", "nat"]).stdout.decode().splitlines()
                if "-j DNAT" in l and "10.237." in l]

    def playbook(self, tasks: List[Dict[str, Any]], only: str = "") -> List[Dict[str, Any]]:
        """Tasks on localhost in one ansible-playbook run; the result of every task (whose
        name contains ``only``: a role's task among the role's others)."""
        path = os.path.join(self.tmp, "play-%d.yml" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:  # JSON is YAML
            json.dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], f)
        argv = [os.path.join(T.REPO, ".venv", "bin", "ansible-playbook"), "-c", "local",
                "-i", "localhost,", path, "-e", "ansible_python_interpreter=%s" % T.VENV_PYTHON]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=T.ansible_env({"ANSIBLE_RETRY_FILES_ENABLED": "false"}),
                              cwd=self.tmp, check=False)
        out = proc.stdout.decode()
        for line in reversed(out.splitlines()):
            if line.startswith('{"tasks"'):
                return [t["result"] for t in json.loads(line)["tasks"] if only in t["task"]]
        raise AssertionError("ansible-playbook gave no results (rc=%d):\n%s\n%s"
                             % (proc.returncode, out[-3000:], proc.stderr.decode()[-3000:]))

    def cleanup(self) -> None:
        for proc in self.servers:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        T.delete_cached_attachments(self.config_dir, self.cache_dir, self.state_dir)
        for save, tool in (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")):
            table = ""
            for line in T.run([save], check=False).stdout.decode().splitlines():
                if line.startswith("*"):
                    table = line[1:]
                elif line.startswith("-A ") and self.prefix in line:
                    T.run([tool, "-t", table, "-D"] + shlex.split(line)[1:], check=False)
        for ns in self.netns:
            T.run(["ip", "netns", "del", ns], check=False)
        for br in self.bridges:
            T.run(["ip", "link", "del", br], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
