# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the "never trust what is on disk" tests (prefix ``pnd``, subnets
in 10.231.0.0/16, host ports 21100-21199): PnbEnv's private CNI world under names of
their own, and the bad files the tests plant.

``PrivateHost`` (podman interop) goes further: a network *and* mount namespace acting
as the host, with its own tmpfs on /var/lib/cni (podman's CNI cache cannot be moved),
/run/netns and /dev/shm, so podman, its plugins, their rules and our modules all live
there and a firewall wipe there touches nothing of the real host.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence

import pnb_env
from pnb_env import PnbEnv, T  # noqa: F401 - T for the tests of this area

PORT_BASE = 21100


class PndEnv(PnbEnv):
    """PnbEnv with the pnd prefix, subnets and ports."""

    PREFIX = "pnd"
    NET16 = "10.231"
    PORT_BASE = PORT_BASE

    # --- state files ---
    def entry_path(self, network: str, cid: str, ifname: str = "eth0") -> str:
        return os.path.join(self.cache_dir, "results", "%s-%s-%s" % (network, cid, ifname))

    def intent_path(self, network: str, cid: str, ifname: str = "eth0") -> str:
        return os.path.join(self.state_dir, "pending", "%s-%s-%s.json" % (network, cid, ifname))

    def record_path(self, cid: str) -> str:
        return os.path.join(self.state_dir, "containers", "%s.json" % cid)

    def _files(self, top: str) -> Dict[str, str]:
        """PnbEnv's file hashes, safe for the bad files the tests plant: a FIFO is never
        opened, a symlink is shown as such, a huge file is hashed by its size and head."""
        out = {}
        for dirpath, dirnames, filenames in os.walk(top):
            for f in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                p = os.path.join(dirpath, f)
                if f.endswith(".lock") or f == "lock":
                    continue
                rel = os.path.relpath(p, top)
                try:
                    st = os.lstat(p)
                    if os.path.islink(p):
                        out[rel] = "link:" + os.readlink(p)
                    elif not os.path.isfile(p):
                        out[rel] = "special:%o" % st.st_mode
                    else:
                        with open(p, "rb") as fh:
                            head = fh.read(1024 * 1024)
                        out[rel] = "%s:%d:%o:%d" % (hashlib.sha256(head).hexdigest()[:16], st.st_size,
                                                    st.st_mode, st.st_uid)
                except OSError:
                    out[rel] = "?"
        return out

    def snapshot(self) -> Dict[str, Any]:
        """PnbEnv's snapshot, plus every file of the state dir (intents, pid files)."""
        snap = super().snapshot()
        snap["state"] = self._files(self.state_dir)
        return snap

    def forward_rules(self, ip: str) -> List[str]:
        """The firewall plugin's CNI-FORWARD accepts for ip."""
        out = T.run(["iptables-save", "-t", "filter"]).stdout.decode()
        return [l for l in out.splitlines() if l.startswith("-A CNI-FORWARD") and ip + "/32" in l]


def warnings_of(res: Dict[str, Any]) -> List[str]:
    """A module result's warnings as text (newer ansible-core returns them as objects)."""
    out = []
    for w in res.get("warnings") or []:
        if isinstance(w, dict):
            w = (w.get("event") or {}).get("msg") or w.get("msg") or json.dumps(w)
        out.append(str(w))
    return out


def names_file(texts: Sequence[str], path: str) -> bool:
    """Whether one of texts names the file at path (ansible-core may shorten a long path
    in a warning to ``first/.../last``: the file name is kept)."""
    return any(path in t or (os.path.basename(path) in t and "cannot be used" in t) for t in texts)


def write_bytes(path: str, data: bytes, mode: int = 0o600) -> str:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".pnd"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.rename(tmp, path)
    return path


def wrapper_plugin(directory: str, name: str, body: str, real_dir: str = pnb_env.PLUGIN_DIR) -> str:
    """A plugin dir (real plugins linked) where ``name`` runs ``body`` (sh; ``$REAL`` is
    the real plugin, the plugin's stdin is saved in ``$input``)."""
    pnb_env.wrapper_plugin_dir(directory, {}, real_dir)
    path = os.path.join(directory, name)
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "w") as f:
        f.write("#!/bin/sh\nREAL=%s\ninput=$(cat)\n%s" % (os.path.join(real_dir, name), body))
    os.chmod(path, 0o755)
    return directory


# ------------------------------------------------------------------ a private host
HOLDER = r"""
import json, os, signal, subprocess, sys, ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)                     # PR_SET_CHILD_SUBREAPER: conmon & co are reaped here
libc.prctl(1, signal.SIGKILL, 0, 0, 0)         # die with the test
for d in ["/var/lib/cni", "/run/netns", "/dev/shm"] + sys.argv[1:]:
    os.makedirs(d, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d], check=True)
subprocess.run(["mount", "--make-rshared", "/run/netns"], check=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
signal.signal(signal.SIGCHLD, lambda *a: None)
servers = []
print("ready", flush=True)
for line in sys.stdin:
    req = json.loads(line)
    try:
        if req.get("background"):             # a server: runs until the namespaces go
            p = subprocess.Popen(req["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=req.get("env"), start_new_session=True)
            servers.append(p)
            print(json.dumps({"rc": 0, "pid": p.pid, "stdout": "", "stderr": ""}), flush=True)
            continue
        p = subprocess.run(req["argv"], input=req.get("input", "").encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=req.get("env"), cwd=req.get("cwd"),
                           timeout=req.get("timeout", 300))
        out = {"rc": p.returncode, "stdout": p.stdout.decode("utf-8", "replace"),
               "stderr": p.stderr.decode("utf-8", "replace")}
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out = {"rc": -1, "stdout": "", "stderr": "%s: %s" % (type(exc).__name__, exc)}
    while True:                                  # reap orphans (conmon, runc leftovers)
        try:
            pid, dummy = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    print(json.dumps(out), flush=True)
for p in servers:                                # (ip netns exec puts them in a mount ns of their own)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    p.wait()
"""


class PrivateHost:
    """A process in its own network and mount namespaces that runs commands for the test
    (``run``): everything it runs, and everything those start, lives there. Its exit
    (``close``, or the test process dying) takes the namespaces, the tmpfs and every rule
    with it."""

    def __init__(self, tmpfs: Sequence[str] = ()) -> None:
        """tmpfs: more directories that get a private tmpfs (created on the host if need be,
        removed by close)."""
        self.tmpfs = [d for d in tmpfs if not os.path.exists(d)]
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private", "--", sys.executable, "-c", HOLDER]
            + list(tmpfs), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "ready":
            raise RuntimeError("private host did not start: %r" % line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def run(self, argv: Sequence[str], check: bool = True, env: Optional[Dict[str, str]] = None,
            timeout: float = 300, cwd: Optional[str] = None, stdin: str = "",
            background: bool = False) -> Dict[str, Any]:
        req = {"argv": list(argv), "env": env if env is not None else dict(os.environ), "cwd": cwd,
               "timeout": timeout, "input": stdin, "background": background}
        self.proc.stdin.write(json.dumps(req) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        out = json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]
        if check and out["rc"] != 0:
            raise AssertionError("%s failed (%s): %s %s" % (" ".join(argv), out["rc"],
                                                            out["stdout"][-2000:], out["stderr"][-2000:]))
        return out

    def module(self, env: PnbEnv, module: str, args: Dict[str, Any], check: bool = False) -> Dict[str, Any]:
        """Run a module there, as PnbEnv.run does on the host."""
        out = self.run([pnb_env.PYTHON, pnb_env.module_path(module), env.args_file(args, check)],
                       check=False, env=pnb_env.module_env(), cwd=env.tmp)
        result = pnb_env.parse_module_output(out["stdout"].encode())
        if "raw" in result:
            result["raw"] += out["stderr"][-3000:]
        return result

    def processes(self) -> List[int]:
        """Processes living in this host's mount namespace (the holder's included)."""
        try:
            mine = os.readlink("/proc/%d/ns/mnt" % self.pid)
        except OSError:
            return []
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if os.readlink("/proc/%s/ns/mnt" % name) == mine:
                        out.append(int(name))
                except OSError:
                    continue
        return out

    def close(self) -> None:
        """End the holder and everything still running in its namespaces."""
        left = [p for p in self.processes() if p != self.pid]
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for d in self.tmpfs:
            try:
                os.rmdir(d)
            except OSError:
                pass


def cache_entry_json(network: str, cid: str, ifname: str, config: Dict[str, Any],
                     result: Any, **extra: Any) -> Dict[str, Any]:
    """A libcni cache entry (as JSON) with the given fields."""
    data = {"kind": "cniCacheV1", "containerId": cid,
            "config": base64.b64encode(json.dumps(config).encode()).decode(), "ifName": ifname,
            "networkName": network, "cniArgs": [["IgnoreUnknown", "1"]], "result": result}
    data.update(extra)
    return data


wait_for = T.wait_for  # for the tests of this area
