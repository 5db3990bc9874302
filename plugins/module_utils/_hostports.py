# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host ports of port mappings: the conflict check, and (root) the claim that makes the
check and the ADD atomic per host.

portmap's DNAT rules take a host port for the whole host, and nothing binds it: two ADDs
of the same host port both succeed, and the later DNAT silently shadows the earlier. The
conflict check reads the libcni cache, and an ADD writes its entry there a few hundred
milliseconds after the check: runs started together all passed the check (issue 15).

So, as root, an ADD with host ports first claims them, under one lock for the host held
only for the claim: check against the cache *and* the claims of the ADDs in progress,
then write a claim file. The plugin chain runs outside the lock (ADDs of different ports
still overlap); the claim goes once the cache entry is written or the ADD rolled back, so
at every moment a port being mapped is seen as a claim or as a cache entry. A claim whose
process is gone (a killed run) is dropped by the next claimer.

Rootless needs none of it: one user's runs are serialised by the rootless lock from plan
to cache write, and between users (and any other process) the kernel arbitrates, since
slirp4netns binds the host port (the second bind fails: "port in use"). A root DNAT that
shadows a rootless forward is not arbitrated by anyone: both sides warn (_slirp4netns
probes from the rootless side, ``listening`` here from the root side).

Layout: ``/run/podnet/hostports/lock`` and ``/run/podnet/hostports/<claim>.json`` ({pid,
start_time, container_id, network, ports}; 0600 in a 0700 dir, root's, on tmpfs).
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import threading
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _procs, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import read_json, remove_file, write_json
from ansible_collections.podnet.cni.plugins.module_utils._locking import file_lock
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

HOSTPORTS_DIR = "/run/podnet/hostports"
LOCK_TIMEOUT = C.LOCK_TIMEOUT

HostPort = Tuple[str, int, str]  # (host IP or "", port, protocol)


# (host IP, host port, protocol) of CNI portMappings: the cache's reading of them
host_ports = cnicache.host_ports


def clash(a: HostPort, b: HostPort) -> bool:
    """Do two host ports collide? Same port and protocol, and the same or any address."""
    return a[1] == b[1] and a[2] == b[2] and (not a[0] or not b[0] or a[0] == b[0])


# who maps which host ports: (container id, network, host ports)
Holder = Tuple[str, str, List[HostPort]]


def holders_of(entries: Sequence[cnicache.CacheEntry]) -> List[Holder]:
    return [(e.container_id, e.network, host_ports(e.capability_args.get("portMappings")))
            for e in entries]


def find_conflict(wanted: Sequence[HostPort], holders: Sequence[Holder],
                  container_id: str) -> Optional[Tuple[HostPort, Holder]]:
    for holder in holders:
        if holder[0] == container_id:
            continue
        for have in holder[2]:
            for want in wanted:
                if clash(have, want):
                    return want, holder
    return None


_MEMO: Dict[str, Tuple[Tuple[int, int, int], Optional[Holder]]] = {}


def cached_holders(cache_dir: str) -> List[Holder]:
    """The host ports of every readable cache entry, as list_entries reads them, but each
    file parsed once per process (kept by inode, mtime and size: the cache is written by
    rename), so a claim under the host lock stays short in a batch of many."""
    try:
        scan = os.scandir(cnicache.results_dir(cache_dir))
    except OSError:
        return []
    out = []
    with scan:
        for item in scan:
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            hit = _MEMO.get(item.path)
            if hit is None or hit[0] != key:
                try:
                    data = read_json(item.path)
                    entry = cnicache.CacheEntry.from_json(data, item.path) if data else None
                except Exception:  # unreadable: skipped, as list_entries does
                    entry = None
                hit = (key, holders_of([entry])[0] if entry is not None else None)
                _MEMO[item.path] = hit
            if hit[1] is not None:
                out.append(hit[1])
    return out


def check_conflicts(cache_dir: str, port_mappings: Sequence[Dict[str, Any]], container_id: str,
                    entries: Optional[Sequence[cnicache.CacheEntry]] = None) -> None:
    """ValidationError when another container's cached attachment maps one of the ports."""
    wanted = host_ports(_validate.cni_port_mappings(port_mappings))
    if entries is None:
        entries = cnicache.list_entries(cache_dir)
    found = find_conflict(wanted, holders_of(entries), container_id)
    if found:
        raise _mapped_error(*found)


def _mapped_error(want: HostPort, holder: Holder) -> ValidationError:
    return ValidationError("host port %d/%s is already mapped by container %s (network %s)"
                           % (want[1], want[2], holder[0], holder[1]),
                           value=want[1], container=holder[0])


# --- the root side of a shadowed rootless port ---

_PROC_NET = (("tcp", "/proc/net/tcp", "0A"), ("tcp", "/proc/net/tcp6", "0A"),
             ("udp", "/proc/net/udp", "07"), ("udp", "/proc/net/udp6", "07"))


def _proc_addr(text: str) -> str:
    """The address of a /proc/net/{tcp,udp}[6] local_address ("" for any)."""
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        addr = ipaddress.IPv4Address(raw[::-1])
    else:  # four little-endian 32-bit words
        addr = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
    return "" if addr.is_unspecified else str(addr)


def bound_ports() -> Set[HostPort]:
    """(address or "" for any, port, protocol) of the listening TCP and bound UDP sockets
    of this netns."""
    out: Set[HostPort] = set()
    for proto, path, state in _PROC_NET:
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == state:
                try:
                    addr, port = fields[1].rsplit(":", 1)
                    out.add((_proc_addr(addr), int(port, 16), proto))
                except ValueError:
                    continue
    return out


def listening_warnings(port_mappings: Sequence[Dict[str, Any]],
                       bound: Optional[Callable[[], Set[HostPort]]] = None) -> List[str]:
    """Root: a host port some socket of the host is bound to (a service, a rootless user's
    slirp4netns) would lose its traffic to the DNAT of the mapping: say so. ``bound``:
    where the bound ports come from (a batch reads them once: each read of /proc/net/*
    walks the kernel's socket tables, ~5 ms a file on a busy host)."""
    wanted = host_ports(_validate.cni_port_mappings(port_mappings))
    if not wanted:
        return []
    bound = (bound or bound_ports)()
    return ["host port %d/%s is bound on this host by a listening socket (a service, or a rootless "
            "user's slirp4netns): the DNAT of this mapping takes its traffic, so that socket gets "
            "none; choose another host_port unless this is meant" % (port, proto)
            for hip, port, proto in wanted if any(clash((hip, port, proto), b) for b in bound)]


# --- claims (root) ---

def _claim_problem(data: Any) -> Optional[str]:
    if not isinstance(data, dict) or _procs.identity_from_dict(data) is None:
        return "not a claim"
    ports = data.get("ports")
    if not isinstance(ports, list) or not all(
            isinstance(p, list) and len(p) == 3 and isinstance(p[0], str) and isinstance(p[1], int)
            and isinstance(p[2], str) for p in ports):
        return "ports is not a list of [host IP, port, protocol]"
    if not isinstance(data.get("container_id"), str):
        return "container_id is not a string"
    return None


def _live_claims(directory: str, warnings: List[str],
                 me: Optional[_procs.ProcessIdentity] = None) -> List[Dict[str, Any]]:
    """The claims of runs that still run; the others are removed (their run died).
    ``me``: this process's identity (its own claims need no look at /proc)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    out = []
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            data = read_json(path)
        except StateError as exc:
            data, why = None, exc.msg
        else:
            why = _claim_problem(data) if data is not None else None
        if data is None and why is None:
            continue
        if why is not None:  # our own dir, root's: a torn file is no claim of a live run
            warnings.append("dropped the unusable host port claim %s: %s" % (path, why))
            remove_file(path)
            continue
        owner = _procs.identity_from_dict(data)  # checked by _claim_problem: not None
        if owner is not None and me is not None and (owner.pid, owner.start_time, owner.cmdline) \
                == (me.pid, me.start_time, me.cmdline):
            out.append(data)  # a claim of this very run (another thread of a batch): live
            continue
        if owner is None or not _procs.is_same_process(
                _procs.ProcessIdentity(owner.pid, os.geteuid(), owner.start_time, owner.cmdline)):
            remove_file(path)  # its run was killed: nothing holds these ports any more
            continue
        out.append(data)
    return out


_OWN: Dict[int, _procs.ProcessIdentity] = {}  # pid -> identity: this process's, read once
_THREAD_LOCKS: Dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _own_identity() -> _procs.ProcessIdentity:
    pid = os.getpid()  # keyed by pid: a forked child reads its own
    if pid not in _OWN:
        me = _procs.process_identity(pid)
        if me is None:
            raise StateError("cannot read this process's own identity in /proc")
        _OWN[pid] = me
    return _OWN[pid]


def _thread_lock(directory: str) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(directory, threading.Lock())


@contextmanager
def claim(ctx: Any, container_id: str, network: str, port_mappings: Any,
          directory: Optional[str] = None) -> Iterator[None]:
    """Hold the host ports of an ADD from the conflict check to the cache write (root;
    rootless and mappings without host ports: nothing to do)."""
    wanted = host_ports(port_mappings)
    if ctx.rootless or not wanted:
        yield
        return
    directory = directory or getattr(ctx, "hostports_dir", None) or HOSTPORTS_DIR
    me = _own_identity()
    path = os.path.join(directory, "%d-%s.json" % (me.pid, secrets.token_hex(6)))
    # the threads of a batch queue on a thread lock first: woken as soon as it is free,
    # where flock's polling would sleep up to 0.1 s; flock still orders the processes
    with _thread_lock(directory), file_lock(os.path.join(directory, "lock"), LOCK_TIMEOUT):
        found = find_conflict(wanted, cached_holders(ctx.cache_dir), container_id)
        if found:
            raise _mapped_error(*found)
        for other in _live_claims(directory, ctx.warnings, me):
            if other["container_id"] == container_id:
                continue
            for have in other["ports"]:
                for want in wanted:
                    if clash((have[0], have[1], have[2]), want):
                        raise ValidationError(
                            "host port %d/%s is being mapped right now by container %s (network "
                            "%s, another run)" % (want[1], want[2], other["container_id"],
                                                  other.get("network")),
                            value=want[1], container=other["container_id"])
        write_json(path, dict(_procs.identity_to_dict(me), container_id=container_id,
                              network=network, ports=[list(p) for p in wanted]))
    try:
        yield
    finally:
        remove_file(path)
