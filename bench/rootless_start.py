# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rootless: time from nothing to a container answering through a forwarded host port,
ours (container_netns run directly as the user + a server started in its namespace)
against ``podman run -d --network NET -p H:C --rootfs DIR`` rootless with the same
conflist (Debian podman 4.3, CNI backend, private containers.conf/storage.conf).

"Nothing" means: no holder, no rootless netns, no slirp4netns for the user (podman: no
pause process, no rootless netns). One run each (cold), then one more container with the
namespace already up (warm). Root only: creates a user ``pnrb…`` (sub-ids, /run/user/UID,
/dev/net/tun 0666 for the run) and removes it again. Subnet 10.224.240.0/24, ports 20690+.

    sudo .venv/bin/python bench/rootless_start.py [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the user runs the distribution's python on a copy of the collection: it may not reach
# the checkout (/root is 0700), see tests/lib/unprivileged.py
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from unprivileged import UserTree  # noqa: E402
NET = "pnrbench"
BRIDGE = "pnrbbr0"
SUBNET = "10.224.240.0/24"
PORTS = (20690, 20691, 20692, 20693)
TEXT = "hello-bench"


def sh(argv: List[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, **kw)
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")[-1500:]
        raise RuntimeError("%s: rc %d: %s" % (" ".join(argv), proc.returncode, err))
    return proc


def wait_answer(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                data = s.recv(100)
            if TEXT.encode() in data:
                return
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError("nothing answered on 127.0.0.1:%d" % port)


class User:
    def __init__(self) -> None:
        self.name = "pnrb%s" % secrets.token_hex(3)
        self.home = tempfile.mkdtemp(prefix=self.name + "-", dir="/tmp")
        os.chmod(self.home, 0o755)
        self.tree = UserTree(ROOT)
        sh(["useradd", "-M", "-d", self.home, "-s", "/bin/sh", self.name])
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        for path in ("/etc/subuid", "/etc/subgid"):
            with open(path) as f:
                if not any(l.split(":")[0] == self.name for l in f):
                    with open(path, "a") as out:
                        out.write("%s:3500000:65536\n" % self.name)
        self.runtime = "/run/user/%d" % self.uid
        os.makedirs("/run/user", exist_ok=True)
        os.mkdir(self.runtime, 0o700)
        os.chown(self.runtime, self.uid, self.gid)
        self.tun_mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
        os.chmod("/dev/net/tun", 0o666)
        self.conf = os.path.join(self.home, "net.d")
        os.mkdir(self.conf)
        conflist = {"cniVersion": "0.4.0", "name": NET, "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": SUBNET}]]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall"}, {"type": "tuning"}]}
        with open(os.path.join(self.conf, NET + ".conflist"), "w") as f:
            json.dump(conflist, f)
        rootfs = os.path.join(self.home, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
        for d in ("etc", "proc", "sys", "dev", "tmp", "run"):
            os.mkdir(os.path.join(rootfs, d))
        self.rootfs = rootfs
        with open(os.path.join(self.home, "containers.conf"), "w") as f:
            f.write('[network]\nnetwork_backend="cni"\ncni_plugin_dirs=["/usr/lib/cni"]\n'
                    'network_config_dir="%s"\n[engine]\ncgroup_manager="cgroupfs"\n'
                    'events_logger="file"\nruntime="runc"\n[containers]\n'
                    'default_ulimits=["nofile=1024:1024","nproc=4096:4096"]\n' % self.conf)
        with open(os.path.join(self.home, "storage.conf"), "w") as f:
            f.write('[storage]\ndriver = "vfs"\nrunroot = "%s/podman-run"\ngraphroot = "%s/storage"\n'
                    % (self.runtime, self.home))
        sh(["chown", "-R", "%d:%d" % (self.uid, self.gid), self.home])

    def env(self) -> List[str]:
        return ["HOME=%s" % self.home, "XDG_RUNTIME_DIR=%s" % self.runtime,
                "PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONPATH=%s" % self.tree.env()["PYTHONPATH"],
                "CONTAINERS_CONF=%s/containers.conf" % self.home,
                "CONTAINERS_STORAGE_CONF=%s/storage.conf" % self.home]

    def run(self, argv: List[str], check: bool = True) -> subprocess.CompletedProcess:
        return sh(["runuser", "-u", self.name, "--", "env", "-i"] + self.env() + argv, check=check,
                  cwd=self.home)

    def module(self, name: str, args: Dict[str, Any]) -> Dict[str, Any]:
        path = os.path.join(self.home, "args-%s.json" % secrets.token_hex(3))
        with open(path, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
        os.chmod(path, 0o644)
        out = self.run(self.tree.module_argv(name, path), check=False).stdout
        os.unlink(path)
        res = json.loads(out)
        if res.get("failed"):
            raise RuntimeError("%s failed: %s" % (name, res.get("msg")))
        return res

    def holder(self) -> int:
        with open(os.path.join(self.runtime, "podnet", "pause.pid")) as f:
            return int(json.load(f)["pid"])

    def processes(self) -> List[int]:
        pids = []
        for e in os.listdir("/proc"):
            if e.isdigit():
                try:
                    if os.stat("/proc/" + e).st_uid == self.uid:
                        pids.append(int(e))
                except OSError:
                    pass
        return pids

    def kill_all(self) -> None:
        for _attempt in range(3):
            pids = self.processes()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.3)

    def remove(self) -> None:
        self.kill_all()
        shutil.rmtree(self.runtime, ignore_errors=True)
        sh(["userdel", self.name], check=False)
        for path in ("/etc/subuid", "/etc/subgid"):
            with open(path) as f:
                lines = f.readlines()
            keep = [l for l in lines if l.split(":")[0] != self.name]
            if keep != lines:
                with open(path, "w") as f:
                    f.writelines(keep)
        os.chmod("/dev/net/tun", self.tun_mode)
        shutil.rmtree(self.home, ignore_errors=True)
        self.tree.remove()


def ours(user: User, cid: str, port: int) -> Dict[str, float]:
    t0 = time.perf_counter()
    res = user.module("container_netns", {"container_id": cid, "networks": [NET],
                                          "cni_config_dir": user.conf,
                                          "port_mappings": [{"host_port": port, "container_port": 8080}]})
    t1 = time.perf_counter()
    server = subprocess.Popen(["nsenter", "-t", str(user.holder()), "-U", "-m", "--", "nsenter",
                               "--net=%s" % res["netns"], "--", "busybox", "nc", "-ll", "-p", "8080",
                               "-e", "busybox", "echo", TEXT],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_answer(port)
    t2 = time.perf_counter()
    user.servers.append(server)
    return {"total_ms": (t2 - t0) * 1e3, "module_ms": (t1 - t0) * 1e3, "answer_ms": (t2 - t1) * 1e3}


def podman(user: User, port: int) -> Dict[str, float]:
    t0 = time.perf_counter()
    user.run(["podman", "run", "-d", "--network", NET, "-p", "%d:8080" % port, "--rootfs", user.rootfs,
              "/bin/busybox", "nc", "-ll", "-p", "8080", "-e", "/bin/busybox", "echo", TEXT])
    t1 = time.perf_counter()
    wait_answer(port)
    t2 = time.perf_counter()
    return {"total_ms": (t2 - t0) * 1e3, "run_ms": (t1 - t0) * 1e3, "answer_ms": (t2 - t1) * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--json", help="write the figures here too")
    opts = parser.parse_args()
    if os.geteuid() != 0:
        print("rootless_start.py: run as root (it creates a test user)", file=sys.stderr)
        return 2
    results: Dict[str, Any] = {}
    user = User()
    user.servers = []  # type: ignore[attr-defined]
    try:
        results["ours_cold"] = ours(user, "pnrb1", PORTS[0])
        results["ours_warm"] = ours(user, "pnrb2", PORTS[1])
        for server in user.servers:  # type: ignore[attr-defined]
            server.kill()
            server.wait()
        for cid in ("pnrb1", "pnrb2"):
            user.module("container_netns", {"container_id": cid, "state": "absent",
                                            "cni_config_dir": user.conf})
        user.kill_all()  # nothing of ours may be left for podman's cold start
        if shutil.which("podman"):
            try:
                results["podman_cold"] = podman(user, PORTS[2])
                results["podman_warm"] = podman(user, PORTS[3])
            except RuntimeError as exc:
                results["podman_error"] = str(exc)
            user.run(["podman", "rm", "-af", "-t", "0"], check=False)
        else:
            results["podman_error"] = "podman not installed (bench/peers/install_podman.sh)"
    finally:
        user.remove()
    print("rootless: nothing -> container answering on a forwarded port (one run, ms)")
    for key in ("ours_cold", "ours_warm", "podman_cold", "podman_warm"):
        if key in results:
            r = results[key]
            detail = ", ".join("%s %.0f" % (k[:-3], v) for k, v in r.items() if k != "total_ms")
            print("  %-12s %7.0f   (%s)" % (key, r["total_ms"], detail))
    if "podman_cold" in results:
        for kind in ("cold", "warm"):
            ratio = results["ours_%s" % kind]["total_ms"] / results["podman_%s" % kind]["total_ms"]
            results["ratio_%s" % kind] = ratio
            print("  ratio ours/podman (%s): %.2f" % (kind, ratio))
    else:
        print("  podman: %s" % results.get("podman_error"))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
