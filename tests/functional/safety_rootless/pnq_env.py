# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the rootless-safety tests (issue 15: host ports, rootless namespace options,
forced teardown, pid files, messages, config dirs). Fixtures are in conftest.py.

Area: prefix ``pnq`` (users ``pnq<random>``, networks, bridges, namespaces, container ids),
subnets in 10.232.0.0/16, host ports 21200-21299. Real components only: a real
unprivileged user (useradd, removed afterwards), real slirp4netns, real CNI plugins and
iptables; root tests run in private config/cache/state dirs and clean up what they made.
The user and its helpers come from tests/functional/rootless/conftest.py (RootlessUser).
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
BUILD = os.path.join(REPO, ".build")
PYTHON = os.path.join(REPO, ".venv", "bin", "python")
PLUGIN_DIR = "/usr/lib/cni"
if BUILD not in sys.path:
    sys.path.insert(0, BUILD)

_spec = importlib.util.spec_from_file_location(
    "pnq_rootless_helpers", os.path.join(os.path.dirname(HERE), "rootless", "conftest.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)

PREFIX = "pnq"
PORT_BASE = 21200  # .. 21299


def port(offset: int) -> int:
    assert 0 <= offset < 100
    return PORT_BASE + offset


def subnet(third: int) -> str:
    return "10.232.%d.0/24" % third


def needs() -> Optional[str]:
    return R._needs()


@contextmanager
def rootless_user() -> Iterator[Any]:
    """A real user pnq<random> (sub-ids, /run/user/UID 0700, /dev/net/tun 0666 while it
    exists); everything of it is removed afterwards, its processes killed."""
    name = "%s%s" % (PREFIX, secrets.token_hex(3))
    tmp = tempfile.mkdtemp(prefix=name + "-", dir="/tmp")
    os.chmod(tmp, 0o755)
    tun_mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
    made_run_user = not os.path.isdir("/run/user")
    res = R._run(["useradd", "-M", "-d", tmp, "-s", "/bin/sh", name])
    assert res.returncode == 0, res.stderr.decode()
    user = None
    try:
        R._ensure_subids(name)
        user = R.RootlessUser(name, tmp)
        os.makedirs("/run/user", mode=0o755, exist_ok=True)
        os.mkdir(user.runtime, 0o700)
        os.chown(user.runtime, user.uid, user.gid)
        os.chmod("/dev/net/tun", 0o666)
        yield user
    finally:
        if user is not None:
            R._kill_user_processes(user.uid)
            shutil.rmtree(user.runtime, ignore_errors=True)
        R._run(["userdel", name])
        R._drop_subids(name)
        os.chmod("/dev/net/tun", tun_mode)
        shutil.rmtree(tmp, ignore_errors=True)
        if made_run_user:
            try:
                os.rmdir("/run/user")
            except OSError:
                pass


def user_conflist(user: Any, name: str, third: int, directory: Optional[str] = None) -> str:
    """A bridge network (podman v3's chain) in the user's config dir; returns the dir."""
    conf_dir = directory or os.path.join(user.tmp, "net.d")
    os.makedirs(conf_dir, mode=0o755, exist_ok=True)
    conf = {"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": name[:13] + "br", "isGateway": True, "ipMasq": True,
         "hairpinMode": True,
         "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                  "ranges": [[{"subnet": subnet(third)}]]}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall"}, {"type": "tuning"}]}
    path = os.path.join(conf_dir, name + ".conflist")
    with open(path, "w") as f:
        json.dump(conf, f)
    os.chmod(path, 0o644)
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
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data or b"{}")


def hostfwds(user: Any) -> List[Dict[str, Any]]:
    """What the rootless slirp4netns forwards now ([] when it is not running)."""
    sock = rootless_paths(user)["sock"]
    if not os.path.exists(sock):
        return []
    try:
        return api(sock, {"execute": "list_hostfwd"}).get("entries") or []
    except OSError:
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
    """slirp4netns processes of the user (live and, with zombies, defunct): pid, state, ppid.
    A zombie has no cmdline: it counts when its comm is slirp4netns."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.stat("/proc/%d" % pid).st_uid != user.uid:
                continue
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


def wait_for(predicate: Any, timeout: float = 5.0, step: float = 0.05) -> bool:
    """Poll predicate until true or timeout (a bound for slow machines, never an assertion
    on speed)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return
    wait_for(lambda: (proc_stat(pid) or ["X"])[0] in ("Z", "X"))


def tcp_get(host: str, number: int, tries: int = 20) -> str:
    last = ""
    for _attempt in range(tries):
        try:
            with socket.create_connection((host, number), timeout=2) as s:
                s.settimeout(2)
                data = s.recv(100).decode().strip()
            if data:
                return data
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    return last


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
