# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the functional tests leave on the host, found by name, and the guard that fails a
run which left any of it.

Every test area names what it makes ``pn<area><hex>...``: namespaces, bridges, users,
container ids (so the per-container CNI chains carry ``id: "pn..."`` in their comments).
Each test cleans up after itself, on failure too (finally blocks, fixtures). What no test
can clean is the state of a run that was killed (SIGKILL, a lost machine): the next run
removes it first, unless another test run is alive on the machine (its state looks the
same), and says what it removed.

Daemons a test started for a container (slirp4netns, dnsname's dnsmasq) are found by a
test name in a path of their command line, and stopped by pid and start time.

The guard (tests/functional/conftest.py) takes a snapshot when the first functional test
starts and one when the session ends; what is new and still there is removed, and the
run fails naming it. Runs on the same machine at the same time register themselves in
``/run/podnet-tests`` (pid and start time); while another run is alive, nothing is
removed and a difference only warns (it may be the other run's).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from typing import Dict, Iterator, List, Optional, Set, Tuple

from pidtree import kill_user_processes

REGISTRY = "/run/podnet-tests"
# what a test area names: pn + area letters + random hex (pnd7493-a, pnb6da4br0, pnq1a2b3c)
TEST_NAME = re.compile(r"^pn[a-z]{1,4}[0-9a-f]{4,}")
# the per-container chains of the reference plugins (bridge masquerade, portmap DNAT)
CONTAINER_CHAIN = re.compile(r"^CNI-(DN-)?[0-9a-f]{20,}$")
COMMENT_ID = re.compile(r'id: \\?"([^"\\]+)')
# the test areas' subnets (10.220.0.0/16 .. 10.249.0.0/16)
TEST_ADDRESS = re.compile(r"\b10\.2([2-4][0-9])\.\d+\.\d+/32\b")


def _run(argv: List[str]) -> str:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else ""


# --- what is there ---

def _netns() -> Set[str]:
    try:
        return {n for n in os.listdir("/run/netns") if TEST_NAME.match(n)}
    except OSError:
        return set()


def _links() -> Set[str]:
    return {line.split()[1].split("@")[0].rstrip(":") for line in _run(["ip", "-o", "link"]).splitlines()
            if len(line.split()) > 1 and TEST_NAME.match(line.split()[1])}


def _users() -> Set[str]:
    with open("/etc/passwd") as f:
        return {line.split(":")[0] for line in f if TEST_NAME.match(line.split(":")[0])}


def _test_chains() -> Set[str]:
    """Per-container nat chains of test containers (a test id in the comments of their
    rules or of the rules that jump to them), and those nothing jumps to any more (half
    of a plugin's teardown: no container owns them)."""
    rules = [line for line in _run(["iptables-save", "-t", "nat"]).splitlines() if line.startswith("-A ")]
    chains = {line[1:].split()[0] for line in _run(["iptables-save", "-t", "nat"]).splitlines()
              if line.startswith(":") and CONTAINER_CHAIN.match(line[1:].split()[0])}
    ids: Dict[str, Set[str]] = {name: set() for name in chains}
    referenced: Set[str] = set()
    for line in rules:
        parts = line.split()
        found = set(COMMENT_ID.findall(line))
        if parts[1] in ids:
            ids[parts[1]] |= found
        if "-j" in parts and parts[parts.index("-j") + 1] in ids:
            target = parts[parts.index("-j") + 1]
            ids[target] |= found
            if parts[1] not in chains:  # jumped to from a chain a container does not own
                referenced.add(target)
    return {name for name in chains
            if any(TEST_NAME.match(i) for i in ids[name]) or name not in referenced}


def _forward_rules() -> Set[str]:
    """The firewall plugin's per-container accepts (CNI-FORWARD) of test addresses."""
    return {line for line in _run(["iptables-save", "-t", "filter"]).splitlines()
            if line.startswith("-A CNI-FORWARD ") and TEST_ADDRESS.search(line)}


# daemons a test starts for a container (slirp4netns; dnsname's dnsmasq) that outlive it
# when its run is killed: found by a test name in a path of their command line
DAEMONS = (b"slirp4netns", b"dnsmasq")
TEST_PATH = re.compile(r"/pn[a-z]{1,4}[0-9a-f]{4,}")


def _command_lines() -> Iterator[Tuple[str, List[bytes]]]:
    """(pid, argv) of every process that can still be read."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                yield name, f.read().split(b"\0")
        except OSError:
            continue


def _daemons() -> Set[str]:
    """"pid start-time" of the test daemons still running."""
    found = set()
    for name, argv in _command_lines():
        if os.path.basename(argv[0]) in DAEMONS and TEST_PATH.search(b" ".join(argv).decode("utf-8", "replace")):
            found.add("%s %s" % (name, _start_time(int(name))))
    return found


def snapshot() -> Dict[str, Set[str]]:
    return {"netns": _netns(), "links": _links(), "chains": _test_chains(), "users": _users(),
            "forward rules": _forward_rules(), "daemons": _daemons()}


def new_since(before: Dict[str, Set[str]], after: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
    return {kind: after[kind] - before.get(kind, set()) for kind in after if after[kind] - before.get(kind, set())}


def describe(found: Dict[str, Set[str]]) -> str:
    return "; ".join("%s: %s" % (kind, " | ".join(sorted(names)) if kind == "forward rules" else " ".join(sorted(names)))
                     for kind, names in sorted(found.items()) if names)


# --- removing it ---

def _remove_chains(names: Set[str]) -> None:
    """The jumps to them first (POSTROUTING, CNI-HOSTPORT-DNAT), then the chains."""
    for line in _run(["iptables-save", "-t", "nat"]).splitlines():
        parts = line.split()
        if line.startswith("-A ") and "-j" in parts and parts[parts.index("-j") + 1] in names:
            subprocess.run(["iptables", "-t", "nat", "-D"] + _argv_of(line)[1:], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in names:
        for flag in ("-F", "-X"):
            subprocess.run(["iptables", "-t", "nat", flag, name], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _argv_of(line: str) -> List[str]:
    """An iptables-save rule line as argv (comments are quoted there)."""
    return shlex.split(line)


def _remove_user(name: str) -> None:
    try:
        import pwd
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    # ours only (our pid namespace tree): a user of that uid in a privileged container on
    # this host keeps its processes, so userdel is forced (it refuses a uid with processes;
    # without -r it removes no file)
    kill_user_processes(uid)
    subprocess.run(["userdel", "-f", name], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree("/run/user/%d" % uid, ignore_errors=True)
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                lines = f.readlines()
        except OSError:
            continue
        keep = [line for line in lines if line.split(":")[0] != name]
        if keep != lines:
            with open(path, "w") as f:
                f.writelines(keep)


def _stop_daemon(pid_and_start: str) -> None:
    pid, start = pid_and_start.split()
    if str(_start_time(int(pid))) != start:
        return  # gone, or the pid is another process's now
    try:
        os.kill(int(pid), signal.SIGKILL)
    except OSError:
        pass


def remove(found: Dict[str, Set[str]]) -> None:
    for daemon in found.get("daemons", ()):
        _stop_daemon(daemon)
    for name in found.get("users", ()):  # first: their slirp4netns and holders go with them
        _remove_user(name)
    for name in found.get("netns", ()):  # the veths go with their namespace
        subprocess.run(["ip", "netns", "delete", name], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _remove_chains(set(found.get("chains", ())))
    for rule in found.get("forward rules", ()):
        subprocess.run(["iptables", "-t", "filter", "-D"] + _argv_of(rule)[1:], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in found.get("links", ()):
        subprocess.run(["ip", "link", "delete", name], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- test runs on this machine ---

def _stat_field(pid: int, field: int) -> Optional[int]:
    """A numeric field of /proc/PID/stat (1-based, as proc(5) counts). Read here, not
    through the collection: importing it from a conftest upsets pytest-ansible's
    collection finder (see pnf_core_env)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[field - 3])
    except (OSError, IndexError, ValueError):
        return None


def _start_time(pid: int) -> Optional[int]:
    """With the pid, who a process is (a pid is reused)."""
    return _stat_field(pid, 22)


def register() -> str:
    """This run in the registry; returns its file (remove it with unregister)."""
    os.makedirs(REGISTRY, mode=0o700, exist_ok=True)
    path = os.path.join(REGISTRY, "%d.json" % os.getpid())
    with open(path, "w") as f:
        json.dump({"pid": os.getpid(), "start_time": _start_time(os.getpid())}, f)
    return path


def unregister(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _parent(pid: int) -> Optional[int]:
    return _stat_field(pid, 4)


def _lineage(pid: int) -> List[int]:
    """pid and its ancestors."""
    chain = []
    while pid and pid not in chain:
        chain.append(pid)
        pid = _parent(pid) or 0
    return chain


def _unregistered_pytest_runs() -> List[int]:
    """Other pytest processes (a run of a tree without this registry, or of another
    checkout): neither this run's ancestors nor its descendants."""
    me = os.getpid()
    ancestors = set(_lineage(me))
    found = []
    for name, argv in _command_lines():
        if int(name) in ancestors:
            continue
        if not any(a.endswith(b"pytest") or a == b"pytest" or a.endswith(b"/py.test") for a in argv[:3]):
            continue
        if me not in _lineage(int(name)):
            found.append(int(name))
    return found


def others_alive() -> List[int]:
    """Other test runs alive on this machine: the registered ones (dead entries are
    dropped) and any other pytest process."""
    alive = _unregistered_pytest_runs()
    try:
        names = os.listdir(REGISTRY)
    except OSError:
        return []
    for name in names:
        path = os.path.join(REGISTRY, name)
        try:
            with open(path) as f:
                data = json.load(f)
            pid, start = int(data["pid"]), int(data["start_time"])
        except (OSError, ValueError, KeyError, TypeError):
            unregister(path)
            continue
        if pid == os.getpid():
            continue
        if _start_time(pid) == start:
            if pid not in alive:
                alive.append(pid)
        else:
            unregister(path)
    return alive
