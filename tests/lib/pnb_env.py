# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the robustness, bad-input and security tests (prefix ``pnb``,
subnets in 10.227.0.0/16, host ports 20900-20999).

``PnbEnv`` (a host_env.HostEnv) gives one test its own CNI config dir, cache dir, state dir
and host-local data dir, networks named ``pnbXXXX-…`` on bridges ``pnbXXXXbrN``, runs modules as
separate processes (the module file executed directly with an args file: exactly the
code Ansible runs, without Ansible's own seconds of start-up), takes host snapshots
limited to what this test could have touched, and cleans everything up.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import podnet_testlib as T
from host_env import HostEnv

REPO = T.REPO
BUILD = T.BUILD
PYTHON = T.VENV_PYTHON if os.path.exists(T.VENV_PYTHON) else sys.executable
MODULES_DIR = os.path.join(REPO, "plugins", "modules")
PLUGIN_DIR = T.PLUGIN_DIR
PORT_BASE = 20900
SHARED_CHAINS = {"CNI-FORWARD", "CNI-ADMIN", "CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK",
                 "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-OUTPUT", "CNI-ISOLATION-STAGE-1",
                 "CNI-ISOLATION-STAGE-2", "POSTROUTING", "PREROUTING", "OUTPUT", "INPUT", "FORWARD"}


def module_path(name: str) -> str:
    return os.path.join(MODULES_DIR, "%s.py" % name)


def module_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = BUILD
    env.pop("ANSIBLE_MODULE_ARGS", None)
    env.update(extra or {})
    return env


def parse_module_output(out: bytes) -> Dict[str, Any]:
    text = out.decode("utf-8", "replace")
    start = text.find("{")
    if start < 0:
        return {"failed": True, "msg": "no JSON from module", "raw": text[-3000:]}
    try:
        return json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError:
        return {"failed": True, "msg": "bad JSON from module", "raw": text[-3000:]}


class PnbEnv(HostEnv):
    """One test's private CNI world, its modules run as processes. Another test area
    subclasses it with its own PREFIX, NET16 (a /16) and PORT_BASE (100 ports)."""

    PREFIX = "pnb"
    NET16 = "10.227"
    PORT_BASE = PORT_BASE

    def __init__(self, tmp_path: str, tag: str = "") -> None:
        super().__init__(tmp_path)                      # pnb + 4 hex
        self.args_dir = os.path.join(self.tmp, "args")
        for d in (self.args_dir, self.ipam_dir):
            os.makedirs(d, exist_ok=True)
        self.networks: Dict[str, Dict[str, Any]] = {}
        self.subnets: List[str] = []
        self.container_ids: List[str] = []
        self._nargs = 0

    # --- names ---
    def name(self, suffix: str) -> str:
        return "%s-%s" % (self.prefix, suffix)

    def cid(self, suffix: str) -> str:
        cid = self.name(suffix)
        if cid not in self.container_ids:
            self.container_ids.append(cid)
        return cid

    def netns_path(self, suffix: str) -> str:
        return os.path.join("/run/netns", self.name(suffix))

    def new_subnet(self) -> str:
        while True:
            subnet = self.subnet(random.randint(0, 255))
            if subnet not in self.subnets:
                self.subnets.append(subnet)
                return subnet

    def port(self, offset: int = 0) -> int:
        return self.PORT_BASE + (random.randint(0, 9) * 10 + offset) % 100

    # --- networks ---
    def network(self, suffix: str = "net", cni_version: str = "0.4.0", portmap: bool = True,
                firewall: bool = True, tuning: bool = True, write: bool = True,
                **kw: Any) -> Dict[str, Any]:
        subnet = kw.pop("subnet", None) or self.new_subnet()
        bridge = "%sbr%d" % (self.prefix, len(self.bridges))
        conf = self.bridge_network(self.name(suffix), bridge, subnet, write=False, cni_version=cni_version,
                                   portmap=portmap, firewall=firewall, tuning=tuning, **kw)
        if tuning:
            # static MACs go through the tuning plugin's "mac" capability (podman's chain)
            for p in conf["plugins"]:
                if p["type"] == "tuning":
                    p["capabilities"] = {"mac": True}
        if write:
            self.write_conf(conf)
        self.networks[conf["name"]] = conf
        return conf

    def common(self, **extra: Any) -> Dict[str, Any]:
        return self.module_args(**extra)

    # --- running modules as processes ---
    def args_file(self, args: Dict[str, Any], check: bool = False, diff: bool = False) -> str:
        self._nargs += 1
        path = os.path.join(self.args_dir, "args-%d.json" % self._nargs)
        body = dict(args)
        body["_ansible_check_mode"] = check
        body["_ansible_diff"] = diff
        body["_ansible_tmpdir"] = self.args_dir
        body["_ansible_remote_tmp"] = self.args_dir
        with open(path, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": body}, f)
        return path

    def spawn(self, module: str, args: Dict[str, Any], check: bool = False,
              env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
        proc = subprocess.Popen([PYTHON, module_path(module), self.args_file(args, check)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=module_env(env),
                                cwd=self.tmp)
        self.procs.append(proc)
        return proc

    def run(self, module: str, args: Dict[str, Any], check: bool = False, diff: bool = False,
            timeout: float = 180, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        proc = subprocess.run([PYTHON, module_path(module), self.args_file(args, check, diff)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=module_env(env),
                              cwd=self.tmp, timeout=timeout, check=False)
        result = parse_module_output(proc.stdout)
        result["_rc"] = proc.returncode
        if "raw" in result:
            result["raw"] += "\nSTDERR:\n" + proc.stderr.decode("utf-8", "replace")[-3000:]
        return result

    # --- snapshots ---
    def markers(self) -> List[str]:
        marks = [self.prefix] + list(self.container_ids)
        for s in self.subnets:
            marks.append(s.rsplit(".", 1)[0] + ".")
        return marks

    def _mine(self, line: str) -> bool:
        return any(m in line for m in self.markers())

    def _rules(self, argv: Sequence[str]) -> List[str]:
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
        lines = proc.stdout.decode("utf-8", "replace").splitlines()
        ours = [l for l in lines if l.startswith("-A ") and self._mine(l)]
        chains = set()
        for l in ours:
            toks = l.split()
            chains.add(toks[1])
            if "-j" in toks:
                chains.add(toks[toks.index("-j") + 1])
        chains -= SHARED_CHAINS
        rows = set(ours)
        for l in lines:
            if l.startswith(":") and l[1:].split(" ")[0] in chains:
                rows.add(l.split(" ")[0])          # the declaration, without counters
            elif l.startswith("-A ") and l.split()[1] in chains:
                rows.add(l)
        return sorted(rows)

    def _files(self, top: str) -> Dict[str, str]:
        out = {}
        for dirpath, dummy, filenames in os.walk(top):
            for f in filenames:
                p = os.path.join(dirpath, f)
                if f.endswith(".lock") or f == "lock":
                    continue                              # flock files may stay
                try:
                    with open(p, "rb") as fh:
                        out[os.path.relpath(p, top)] = hashlib.sha256(fh.read()).hexdigest()[:16]
                except OSError:
                    out[os.path.relpath(p, top)] = "?"
        return out

    def snapshot(self) -> Dict[str, Any]:
        def lines(argv: Sequence[str]) -> List[str]:
            proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
            return sorted(l for l in proc.stdout.decode("utf-8", "replace").splitlines() if self._mine(l))

        def not_bridge(rows: List[str]) -> List[str]:
            # the bridge plugin creates a network's bridge (with the gateway address and
            # its route) on first use and never deletes it, as with podman: that is the
            # network's, not a container's. Ports enslaved to it still show up.
            out = []
            for row in rows:
                toks = row.replace("@", " ").split()
                dev = toks[1].rstrip(":") if len(toks) > 1 and toks[0].endswith(":") else None
                if dev in self.bridges:
                    continue
                if " proto kernel " in row and any("dev %s " % b in row + " " for b in self.bridges):
                    continue
                out.append(row)
            return out
        nft = subprocess.run(["nft", "list", "ruleset"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
        return {
            "links": not_bridge(lines(["ip", "-o", "link", "show"])),
            "addrs": not_bridge(lines(["ip", "-o", "addr", "show"])),
            "routes": not_bridge(lines(["ip", "route", "show"])),
            "netns": sorted(n for n in os.listdir("/run/netns") if n.startswith(self.prefix))
            if os.path.isdir("/run/netns") else [],
            "iptables": self._rules(["iptables-save"]),
            "ip6tables": self._rules(["ip6tables-save"]),
            "nft": sorted(l.strip() for l in nft.stdout.decode("utf-8", "replace").splitlines()
                          if self._mine(l)),
            "cache": self._files(self.cache_dir),
            "records": self._files(os.path.join(self.state_dir, "containers")),
            "ipam": {k: v for k, v in self._files(self.ipam_dir).items()
                     if not k.endswith("last_reserved_ip.0")},
            "default_cache": sorted(f for f in glob.glob("/var/lib/cni/results/*")
                                    if self.prefix in os.path.basename(f)),
        }

    def reservations(self, network: str) -> Dict[str, str]:
        """host-local: reserved IP -> container id."""
        out = {}
        d = os.path.join(self.ipam_dir, network)
        for f in os.listdir(d) if os.path.isdir(d) else []:
            if f.startswith("last_reserved") or f == "lock":
                continue
            with open(os.path.join(d, f)) as fh:
                out[f] = fh.read().splitlines()[0].strip()
        return out

    # --- waiting for orphans of a killed module ---
    def plugin_processes(self) -> List[int]:
        """pids of processes running with one of our container ids in CNI_CONTAINERID."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if b"CNI_CONTAINERID=" + self.prefix.encode() in env:
                pids.append(int(d))
        return pids

    def wait_for_plugin(self, ptype: str, container_id: str, proc: subprocess.Popen,
                        timeout: float = 30.0) -> bool:
        """Wait until plugin ptype runs for container_id (True) or proc ended (False)."""
        want = b"CNI_CONTAINERID=" + container_id.encode() + b"\0"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open("/proc/%s/comm" % d, "rb") as f:
                        if f.read().strip() != ptype.encode()[:15]:
                            continue
                    with open("/proc/%s/environ" % d, "rb") as f:
                        if want in f.read() + b"\0":
                            return True
                except OSError:
                    continue
            time.sleep(0.001)
        return False

    def wait_plugins_gone(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.plugin_processes():
            if time.monotonic() > deadline:
                raise AssertionError("plugin processes still running: %s" % self.plugin_processes())
            time.sleep(0.05)

    # --- cleanup ---
    def cleanup(self) -> List[str]:  # type: ignore[override]
        """Undo everything this env may have created, found by prefix (another test's
        names never match); returns what had to be removed."""
        left: List[str] = []
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in self.plugin_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for cache_dir in (self.cache_dir, "/var/lib/cni"):
            left += T.delete_cached_attachments(self.config_dir, cache_dir, self.state_dir,
                                                select=lambda e: e.container_id.startswith(self.prefix))
        if os.path.isdir("/run/netns"):
            for n in os.listdir("/run/netns"):
                # ours by name, or the default namespace (podnet-<id>) of one of our ids
                if n.startswith((self.prefix, "podnet-" + self.prefix)):
                    left.append("netns %s" % n)
                    subprocess.run(["umount", "-l", os.path.join("/run/netns", n)],
                                   stderr=subprocess.DEVNULL, check=False)
                    try:
                        os.unlink(os.path.join("/run/netns", n))
                    except OSError:
                        pass
        for link in os.listdir("/sys/class/net"):
            if link.startswith(self.prefix):
                left.append("link %s" % link)
                subprocess.run(["ip", "link", "del", link], stderr=subprocess.DEVNULL, check=False)
        left += self.sweep_rules()
        return left

    def sweep_rules(self) -> List[str]:
        """Rules naming the prefix, container ids or subnets, and the per-container chains
        they jump to when nothing else is in them (every table)."""
        found = []
        for table in ("filter", "nat", "mangle", "raw"):
            lines = subprocess.run(["iptables-save", "-t", table], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, check=False).stdout.decode("utf-8", "replace").splitlines()
            ours = [l for l in lines if l.startswith("-A ") and self._mine(l)]
            targets = set()
            for l in ours:
                found.append("iptables %s: %s" % (table, l))
                toks = shlex.split(l)
                if "-j" in toks and toks[toks.index("-j") + 1].startswith("CNI-"):
                    targets.add(toks[toks.index("-j") + 1])
                subprocess.run(["iptables", "-w", "-t", table, "-D"] + toks[1:], stderr=subprocess.DEVNULL, check=False)
            for c in targets - SHARED_CHAINS:
                rest = [l for l in lines if l.startswith("-A %s " % c)]
                if all(self._mine(l) for l in rest):
                    subprocess.run(["iptables", "-w", "-t", table, "-F", c], stderr=subprocess.DEVNULL, check=False)
                    subprocess.run(["iptables", "-w", "-t", table, "-X", c], stderr=subprocess.DEVNULL, check=False)
        return found


def assert_same(before: Dict[str, Any], after: Dict[str, Any], what: str = "") -> None:
    diffs = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            b, a = before.get(key), after.get(key)
            if isinstance(b, list) and isinstance(a, list):
                diffs[key] = {"gone": sorted(set(b) - set(a)), "new": sorted(set(a) - set(b))}
            elif isinstance(b, dict) and isinstance(a, dict):
                diffs[key] = {"gone": sorted(set(b) - set(a)), "new": sorted(set(a) - set(b)),
                              "changed": sorted(k for k in set(a) & set(b) if a[k] != b[k])}
            else:
                diffs[key] = {"before": b, "after": a}
    assert not diffs, "host state changed %s: %s" % (what, json.dumps(diffs, indent=1))


def wrapper_plugin_dir(directory: str, behaviours: Dict[str, str], real_dir: str = PLUGIN_DIR) -> str:
    """A plugin dir where every real plugin is symlinked except the ones in behaviours,
    which become small wrappers: 'fail-add' (error JSON on ADD, real plugin otherwise),
    'hang-add' (the plugin itself blocks on ADD), 'hang-add-child' (a child holding the
    plugin's stdout blocks on ADD)."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(real_dir):
        dst = os.path.join(directory, name)
        if name in behaviours or os.path.lexists(dst):
            continue
        os.symlink(os.path.join(real_dir, name), dst)
    bodies = {
        "fail-add": 'if [ "$CNI_COMMAND" = ADD ]; then\n'
                    '  echo \'{"cniVersion":"0.4.0","code":11,"msg":"pnb injected failure in %(name)s"}\'\n'
                    '  exit 1\nfi\nexec %(real)s\n',
        "hang-add": 'if [ "$CNI_COMMAND" = ADD ]; then exec sleep 600; fi\nexec %(real)s\n',
        "hang-add-child": 'if [ "$CNI_COMMAND" = ADD ]; then sleep 600; exit 0; fi\nexec %(real)s\n',
    }
    for name, how in behaviours.items():
        path = os.path.join(directory, name)
        if os.path.lexists(path):
            os.unlink(path)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + bodies[how] % {"name": name, "real": os.path.join(real_dir, name)})
        os.chmod(path, 0o755)
    return directory
