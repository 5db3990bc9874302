# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_mode slirp4netns: one slirp4netns per container on the container's own
namespace (podman's setupSlirp4netns), its port mappings through the API socket,
stopped with the container.

State: ``<state_dir>/slirp4netns/<hash>.json`` (identity of the process, the netns
inode it serves, the forwarded ports), the API socket and log next to it (the hash of
the container id keeps the socket path within the 108 bytes of a unix address).
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _netns, _procs, _validate
from ansible_collections.podnet.cni.plugins.module_utils import _slirp4netns as slirp
from ansible_collections.podnet.cni.plugins.module_utils import _syscalls as sc
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    PodnetError, RootlessError, StateError, ValidationError)
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import (
    Unreadable, ensure_private_dir, read_json, remove_file, unreadable_error, write_json)


def _paths(state_dir: str, cid: str) -> Tuple[str, str, str]:
    base = os.path.join(state_dir, "slirp4netns")
    name = hashlib.sha256(cid.encode()).hexdigest()[:20]
    return (os.path.join(base, name + ".json"), os.path.join(base, name + ".sock"),
            os.path.join(base, name + ".log"))


def state_problem(data: Any) -> Optional[str]:
    """Why data is not a state file we could have written (None: it is)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if _procs.identity_from_dict(data) is None:
        return "pid, start_time and cmdline are not a process identity"
    if not isinstance(data.get("netns"), str) or not isinstance(data.get("netns_inode"), int):
        return "netns or netns_inode missing or of the wrong type"
    return slirp.hostfwds_problem(data.get("hostfwds") or [], guest_port=True)


def load(state_dir: str, cid: str) -> Optional[Dict[str, Any]]:
    """The container's slirp4netns state; None when there is none. StateError when the
    file is there but unusable: the process it names may still run, so nothing is
    started or stopped on a guess."""
    path = _paths(state_dir, cid)[0]
    try:
        data = read_json(path)
        why = state_problem(data) if data is not None else None
    except StateError as exc:
        why = exc.details.get("reason") or str(exc)
    if why:
        raise unreadable_error("container %s" % cid, [Unreadable(path, why, "pid file")])
    return data


TAP = slirp.DEFAULT_TAP  # the container's device of its slirp4netns: its network_io


def port_mappings_of(record: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The CNI-shaped port mappings a container of network_mode slirp4netns forwards (its
    record's, validated by ``_state``), for ``network_settings.Ports``; [] in other modes."""
    if not record or record.get("network_mode") != "slirp4netns":
        return []
    return _validate.cni_port_mappings(_validate.port_mappings(record.get("port_mappings") or []))


def wanted_hostfwds(port_mappings: Sequence[Dict[str, Any]]) -> List[List[Any]]:
    """The container's forwards, sorted: in slirp4netns mode the container holds the tap,
    so slirp4netns forwards straight to its container ports."""
    return sorted(slirp.hostfwds(_validate.cni_port_mappings(port_mappings), guest_port=True))


def running(state: Optional[Dict[str, Any]], netns: str) -> bool:
    """The recorded slirp4netns still runs, on this very namespace."""
    ident = _procs.identity_from_dict(state)
    if not _procs.is_ours(ident) or not slirp.is_slirp_of(ident, netns):
        return False
    try:
        return (state or {}).get("netns_inode") == os.stat(netns).st_ino and _netns.is_netns(netns)
    except OSError:
        return False


OPTIONS = ("enable_sandbox", "enable_seccomp", "mtu", "cidr", "enable_ipv6", "outbound_addr",
           "allow_host_loopback")
_BOOLS = ("enable_sandbox", "enable_seccomp", "enable_ipv6", "allow_host_loopback")


def declared_options(options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """slirp4netns_options of container_netns (podman's per-container slirp4netns options):
    each None (podman's default) or a validated value."""
    options = options or {}
    if not isinstance(options, dict) or set(options) - set(OPTIONS):
        raise ValidationError("invalid slirp4netns_options %r: only %s" % (options, ", ".join(OPTIONS)),
                              value=options)
    out: Dict[str, Any] = {}
    for key in OPTIONS:
        value = options.get(key)
        if value is not None and key in _BOOLS and not isinstance(value, bool):
            raise ValidationError("invalid slirp4netns_options.%s %r: true, false or unset"
                                  % (key, value), value=value)
        out[key] = value
    # mtu, cidr, outbound_addr: validated (and normalised) as the rootless namespace's are
    checked = slirp.SlirpOptions(mtu=out["mtu"], cidr=out["cidr"], outbound_addr=out["outbound_addr"])
    out["cidr"] = checked.cidr
    out["outbound_addr"] = checked.outbound_addr
    return out


def _same_options(recorded: Optional[Dict[str, Any]], declared: Dict[str, Any]) -> bool:
    """A state file from before an option existed ran with its default (None)."""
    return dict(declared_options(None), **(recorded or {})) == declared


def plan_steps(state_dir: str, cid: str, netns: str, port_mappings: Sequence[Dict[str, Any]],
               wanted: bool, netns_new: bool,
               options: Optional[Dict[str, Any]] = None) -> List[Tuple[str, Dict[str, Any]]]:
    """Steps for the container's slirp4netns: start, restart, update its ports, stop."""
    state = load(state_dir, cid)
    alive = state is not None and not netns_new and running(state, netns)
    if not wanted:
        return [("stop_slirp4netns", {"pid": state["pid"]})] if alive and state else []
    slirp.check_api_socket_path(_paths(state_dir, cid)[1], "state_dir", state_dir)
    fwds = wanted_hostfwds(port_mappings)
    if not alive:
        return [("start_slirp4netns", {"netns": netns})]
    # a record from before the options existed ran with the defaults
    if not _same_options((state or {}).get("options"), declared_options(options)):
        return [("start_slirp4netns", {"netns": netns, "reason": "options changed"})]
    sock = _paths(state_dir, cid)[1]
    try:
        slirp.list_hostfwd(sock)
    except RootlessError:
        return [("start_slirp4netns", {"netns": netns, "reason": "API socket not answering"})]
    if sorted((state or {}).get("hostfwds") or []) != fwds:
        return [("update_hostfwds", {"ports": fwds})]
    return []


def start(state_dir: str, cid: str, netns: str, port_mappings: Sequence[Dict[str, Any]],
          binary: Optional[str] = None, options: Optional[Dict[str, Any]] = None,
          pid_ns: Optional[str] = None) -> _procs.ProcessIdentity:
    """(Re)start the container's slirp4netns and forward its ports; all or nothing."""
    stop(state_dir, cid)
    path, sock, log = _paths(state_dir, cid)
    ensure_private_dir(os.path.dirname(path))
    binary = slirp.find_binary(binary)
    features = slirp.detect_features(binary)
    # podman's defaults for slirp4netns mode (sandbox and seccomp when available), unless
    # slirp4netns_options turns them off (or on: then an old slirp4netns fails clearly)
    declared = declared_options(options)
    opts = slirp.SlirpOptions(
        mtu=declared["mtu"], cidr=declared["cidr"], enable_ipv6=bool(declared["enable_ipv6"]),
        disable_host_loopback=not declared["allow_host_loopback"],
        outbound_addr=declared["outbound_addr"],
        enable_sandbox=features.get("sandbox", False) if declared["enable_sandbox"] is None
        else declared["enable_sandbox"],
        enable_seccomp=features.get("seccomp", False) if declared["enable_seccomp"] is None
        else declared["enable_seccomp"])
    ident = slirp.start(binary, features, opts, netns, sock, log, preexec=sc.private_mount_ns,
                        pid_ns=pid_ns)
    record = {"pid": ident.pid, "start_time": ident.start_time, "cmdline": ident.cmdline,
              "container_id": cid, "netns": netns, "netns_inode": os.stat(netns).st_ino,
              "hostfwds": [], "options": declared}
    try:
        write_json(path, record)
        record["hostfwds"] = _set_hostfwds(sock, opts.net.guest, [], wanted_hostfwds(port_mappings))
        write_json(path, record)
    except BaseException:
        stop(state_dir, cid)
        raise
    return ident


def _set_hostfwds(sock: str, guest: str, current: Sequence[Sequence[Any]],
                  wanted: Sequence[Sequence[Any]]) -> List[List[Any]]:
    keep = [list(w) for w in wanted]
    # gone, or now to another container port
    slirp.remove_hostfwds(sock, [fwd for fwd in current if list(fwd) not in keep])
    slirp.add_hostfwds(sock, guest, wanted)
    return keep


def update_hostfwds(state_dir: str, cid: str, port_mappings: Sequence[Dict[str, Any]]) -> None:
    path, sock = _paths(state_dir, cid)[:2]
    state = load(state_dir, cid) or {}
    guest = slirp.SlirpNetwork(None).guest
    state["hostfwds"] = _set_hostfwds(sock, guest, state.get("hostfwds") or [],
                                      wanted_hostfwds(port_mappings))
    write_json(path, state)


def stop(state_dir: str, cid: str) -> bool:
    """Stop the container's slirp4netns if the recorded pid still is it; forget it."""
    path, sock, log = _paths(state_dir, cid)
    state = load(state_dir, cid)
    stopped = False
    ident = _procs.identity_from_dict(state)
    if ident is not None and _procs.is_ours(ident) and slirp.is_slirp_of(ident, (state or {}).get("netns", "")):
        stopped = _procs.terminate(ident, same=_procs.is_ours)
    for p in (path, sock, log):
        try:
            remove_file(p)
        except OSError:
            pass
    return stopped


def describe(state_dir: str, cid: str) -> Optional[Dict[str, Any]]:
    try:
        state = load(state_dir, cid)
    except StateError:
        return None
    if state is None:
        return None
    try:
        return {"pid": state["pid"], "hostfwds": state.get("hostfwds") or [],
                "addresses": slirp.SlirpNetwork(None).to_dict()}
    except (KeyError, PodnetError):
        return None
