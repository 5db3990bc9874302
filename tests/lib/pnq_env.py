# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the rootless-safety tests (tests/functional/safety_rootless; issue 15:
host ports, rootless namespace options, forced teardown, pid files, messages, config dirs).
Fixtures are in that area's conftest.py.

Area: prefix ``pnq`` (users ``pnq<random>``, networks, bridges, namespaces, container ids),
subnets in 10.232.0.0/16, host ports 21200-21299. Real components only: a real
unprivileged user (useradd, removed afterwards), real slirp4netns, real CNI plugins and
iptables; root tests run in private config/cache/state dirs and clean up what they made.
The user and its helpers come from rootless_user.py (RootlessUser); the root side is a
host_env.HostEnv.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
from typing import Any, Dict, List, Optional

import pidtree
import podnet_testlib as T
import rootless_user as R
from host_env import HostEnv

PLUGIN_DIR = T.PLUGIN_DIR

wait_for = T.wait_for  # for the tests of this area
PREFIX = "pnq"
PORT_BASE = 21200  # .. 21299


def port(offset: int) -> int:
    assert 0 <= offset < 100
    return PORT_BASE + offset


def subnet(third: int) -> str:
    return "10.232.%d.0/24" % third


def needs() -> Optional[str]:
    return R.needs()


def rootless_user(tree: Any) -> Any:
    """A real user pnq<random> (the rootless suite's harness) running modules from
    ``tree`` (the session's user_tree), removed afterwards."""
    return R.rootless_user(PREFIX, tree)


def user_conflist(user: Any, name: str, third: int, directory: Optional[str] = None) -> str:
    """A bridge network (podman v3's chain) in the user's config dir; returns the dir."""
    conf_dir = directory or os.path.join(user.tmp, "net.d")
    os.makedirs(conf_dir, mode=0o755, exist_ok=True)
    conf = T.bridge_conflist(name, name[:13] + "br", subnet(third))
    os.chmod(T.write_conflist(conf_dir, conf), 0o644)
    return conf_dir


def rootless_paths(user: Any) -> Dict[str, str]:
    base = os.path.join(user.runtime, "podnet")
    rdir = os.path.join(base, "rootless-cni")
    return {"base": base, "rdir": rdir, "pid": os.path.join(base, "pause.pid"),
            "slirp": os.path.join(rdir, "slirp4netns.json"),
            "sock": os.path.join(rdir, "slirp4netns.sock"),
            "attachments": os.path.join(rdir, "attachments.json"),
            "cache": os.path.join(rdir, "var", "lib", "cni"),
            "options": os.path.join(base, "rootless-options.json"),
            "cni_ns": os.path.join(user.runtime, "netns", "rootless-cni-ns")}


def api(sock: str, request: Dict[str, Any]) -> Dict[str, Any]:
    """One request on a slirp4netns API socket (root may use the user's socket)."""
    from ansible_collections.podnet.cni.plugins.module_utils import _slirp4netns
    return _slirp4netns.api_call(sock, request)


def hostfwds(user: Any) -> List[Dict[str, Any]]:
    """What the rootless slirp4netns forwards now ([] when it is not running)."""
    sock = rootless_paths(user)["sock"]
    if not os.path.exists(sock):
        return []
    from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError
    try:
        return api(sock, {"execute": "list_hostfwd"}).get("entries") or []
    except RootlessError:
        return []


def port_free(number: int, proto: str = "tcp") -> bool:
    """Can the port be bound on all host addresses right now?"""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", number))
        except OSError:
            return False
    return True


def listen(number: int, host: str = "0.0.0.0") -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, number))
    s.listen(4)
    return s


def proc_stat(pid: int) -> Optional[List[str]]:
    """Fields of /proc/PID/stat after the comm (state first, then ppid); None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def user_slirps(user: Any, netns_part: str = "rootless-cni-ns",
                zombies: bool = True) -> List[Dict[str, Any]]:
    """slirp4netns processes of the user in our pid namespace tree (pidtree; live and, with
    zombies, defunct): pid, state, ppid. A zombie has no cmdline: it counts when its comm is
    slirp4netns."""
    out = []
    for pid in pidtree.user_pids(user.uid, zombies=True):
        try:
            with open("/proc/%d/comm" % pid) as f:
                comm = f.read().strip()
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = proc_stat(pid)
        if comm != "slirp4netns" or fields is None:
            continue
        if fields[0] == "Z":
            if zombies:
                out.append({"pid": pid, "state": "Z", "ppid": int(fields[1]), "cmdline": ""})
        elif netns_part in cmd:
            out.append({"pid": pid, "state": fields[0], "ppid": int(fields[1]), "cmdline": cmd})
    return out


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return
    wait_for(lambda: (proc_stat(pid) or ["X"])[0] in ("Z", "X"))


def tcp_get(host: str, number: int, tries: int = 20) -> str:
    """What the server at host:port says ('' when unreachable); retried while it starts."""
    return T.tcp_get(host, number, timeout=2.0, tries=tries, delay=0.2)


def warnings_text(result: Dict[str, Any]) -> str:
    """The warnings of a module result as one text (ansible-core 2.19 returns them as
    structured summaries, earlier versions as strings)."""
    return json.dumps(result.get("warnings") or [])


def write_as(user: Any, path: str, content: bytes, mode: int = 0o600) -> None:
    """Write a file the way the user would have (owner and mode kept)."""
    with open(path, "wb") as f:
        f.write(content)
    os.chown(path, user.uid, user.gid)
    os.chmod(path, mode)


def snapshot_host(tokens: List[str]) -> Dict[str, List[str]]:
    """Lines of the host's links, addresses, routes, rules and netns naming a token."""
    def lines(argv: List[str]) -> List[str]:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
        return sorted(l for l in proc.stdout.decode().splitlines()
                      if any(t in l for t in tokens) and not l.startswith("#"))
    return {"links": lines(["ip", "-o", "link", "show"]),
            "addrs": lines(["ip", "-o", "addr", "show"]),
            "routes": lines(["ip", "route", "show", "table", "all"]),
            "iptables": lines(["iptables-save"]), "ip6tables": lines(["ip6tables-save"]),
            "nft": lines(["nft", "list", "ruleset"]), "netns": lines(["ip", "netns", "list"])}


def user_files(user: Any) -> Dict[str, Any]:
    """Every path under the user's runtime dir with its type, size, owner and mode (and
    the content of small files): the on-disk state a failed run must leave as it was.
    Lock files do not count: they are empty and stay by design (flock dies with the run)."""
    out: Dict[str, Any] = {}
    for root, dirs, files in os.walk(user.runtime):
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            if name.endswith(".lock") or name == "locks":
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            item: Dict[str, Any] = {"mode": oct(st.st_mode), "uid": st.st_uid}
            if stat.S_ISREG(st.st_mode) and st.st_size < 65536 and not name.endswith(".log"):
                with open(path, "rb") as f:
                    item["data"] = f.read()
            out[os.path.relpath(path, user.runtime)] = item
    return out


# --- root side: a private world of config, cache and state dirs, networks, namespaces ---

def run_module_root(module: str, args: Dict[str, Any], check: bool = False) -> Dict[str, Any]:
    """plugins/modules/<module>.py as root, the way Ansible runs it (args file, JSON out)."""
    return T.run_module_file(module, args, check, tag=PREFIX)


class RootEnv(HostEnv):
    """Root test world: pnq<rand> names, private dirs; cleanup DELs what is cached, removes
    namespaces and bridges, and drops rules naming the prefix."""

    PREFIX = PREFIX
    NET16 = "10.232"
    PORT_BASE = PORT_BASE

    @property
    def common(self) -> Dict[str, Any]:
        return self.module_args()

    def network(self, suffix: str, third: int) -> str:
        name = self.name(suffix)
        self.bridge_network(name, (self.prefix + "b" + suffix)[:15], subnet(third), cni_version="1.0.0")
        return name

    def dnat_rules(self, number: int) -> List[str]:
        """portmap's DNAT rules for a host port (any container)."""
        out = subprocess.run(["iptables-save", "-t", "nat"], stdout=subprocess.PIPE, check=True)
        return [l for l in out.stdout.decode().splitlines()
                if "-j DNAT" in l and "--dport %d " % number in l + " "]
