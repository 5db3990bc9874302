# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test user's processes on this host: the ones of our pid namespace tree, never all of
the uid's. The one way the tests find and kill a user's processes (rootless_user,
leftovers, the rootless_cni_ns integration target, the rootless molecule scenario).

A privileged container on the same host (a fleet host, a CI host running molecule) may
have a user with the same uid as ours, and its processes are visible in our /proc: its
holder and slirp4netns must survive our cleanup. Ours are the processes of our pid
namespace and of the pid namespaces one level below ours whose init is a process of the
user (the user's holders: the init of a pid namespace made from ours; what the modules
start there, slirp4netns and dnsmasq, lives in it). A container's pid namespace is also
one level below ours, but its init is not the user's (root's), and a holder in it is
two levels below. Levels are read from NSpid (/proc/PID/status), namespaces compared by
/proc/PID/ns/pid (as root: the tests' side; the modules place a holder the same way,
plugins/module_utils/_procs.py ns_or_child_init).

Standard library only: the integration target copies it in (``needs/file/``) and runs it
as a script: ``pidtree.py pids UID`` prints the user's pids in our tree, ``pidtree.py kill
UID`` SIGKILLs them and prints the pids it killed.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from typing import Dict, List, Optional, Tuple


def nspid(pid: object) -> Optional[List[int]]:
    """The NSpid line of /proc/PID/status; None when the process is gone."""
    try:
        with open("/proc/%s/status" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except (OSError, ValueError):
        return None
    return None


def _pid_ns(pid: int) -> Optional[Tuple[int, int]]:
    try:
        st = os.stat("/proc/%d/ns/pid" % pid)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _scan() -> Dict[int, Tuple[int, str, List[int]]]:
    """{pid: (owner uid, state, NSpid)} of every process /proc shows."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            owner = os.stat("/proc/" + entry).st_uid
            with open("/proc/%s/stat" % entry, "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0].decode()
        except (OSError, IndexError):
            continue
        ids = nspid(entry)
        if ids:
            out[int(entry)] = (owner, state, ids)
    return out


def tree_pids(uid: int, any_owner: bool = False, zombies: bool = False) -> List[int]:
    """pids of uid (of anyone with ``any_owner``) in our pid namespace tree: our pid
    namespace, and those one level below whose init is a process of uid. Zombies only
    with ``zombies``."""
    level = len(nspid("self") or [0])
    procs = _scan()
    users = {_pid_ns(pid) for pid, (owner, _s, ids) in procs.items()
             if owner == uid and len(ids) == level + 1 and ids[-1] == 1}
    users.discard(None)
    found = []
    for pid, (owner, state, ids) in sorted(procs.items()):
        if (owner != uid and not any_owner) or (state in ("Z", "X") and not zombies):
            continue
        if len(ids) == level or (len(ids) == level + 1 and _pid_ns(pid) in users):
            found.append(pid)
    return found


def user_pids(uid: int, zombies: bool = False) -> List[int]:
    """The user's processes of our pid namespace tree (live ones; zombies too with
    ``zombies``)."""
    return tree_pids(uid, zombies=zombies)


def kill_user_processes(uid: int, attempts: int = 3) -> List[int]:
    """SIGKILL the user's processes of our pid namespace tree (a holder takes its pid
    namespace with it), a few rounds for what was forked meanwhile; the pids killed."""
    killed: List[int] = []
    for _attempt in range(attempts):
        pids = user_pids(uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
        time.sleep(0.2)
    return sorted(set(killed))


def main(argv: List[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("pids", "kill") or not argv[2].isdigit():
        sys.stderr.write("usage: pidtree.py pids|kill UID\n")
        return 2
    uid = int(argv[2])
    pids = user_pids(uid) if argv[1] == "pids" else kill_user_processes(uid)
    for pid in pids:
        print(pid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
