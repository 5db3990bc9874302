# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rootless state files, never trusted: read, checked and refused with the file named.

``pause.pid`` (the holder), ``slirp4netns.json`` (the slirp4netns of the rootless CNI
netns), ``attachments.json`` (forwarded host ports per attachment) and
``rootless-options.json`` (the options declared with ``rootless_cni_ns``) are written by
us, atomically, 0600. Anything else found there (a symlink, a FIFO, a directory, a file of
another user or open to others, not JSON, wrong types) is not ours to act on: a guess
could signal a process that is not ours, start a second holder beside a live one or a
second slirp4netns on the same namespace. So such a file stops the run before anything
changes, with a message naming it and what to do.
"""
from __future__ import annotations

import os
import stat
from typing import Any, Callable, Dict, Optional

from ansible_collections.podnet.cni.plugins.module_utils import _slirp4netns as slirp
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    PodnetError, RootlessError, StateError)
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import read_json, write_json

MAX_SIZE = 1024 * 1024
PID_MAX = 4194304  # the kernel's upper limit of pid_max
OPTIONS_VERSION = 1


def file_problem(st: os.stat_result) -> Optional[str]:
    """Why a file is not one we could have written (None: it may be)."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a symlink"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != os.geteuid():
        return "owned by uid %d, not by this user" % st.st_uid
    if st.st_mode & 0o022:
        return "writable by group or others (mode %04o)" % stat.S_IMODE(st.st_mode)
    if st.st_size > MAX_SIZE:
        return "too large (%d bytes)" % st.st_size
    return None


def load(path: str, check: Callable[[Any], Optional[str]], what: str, advice: str) -> Optional[Any]:
    """The checked JSON content of path; None when there is no such file.

    RootlessError naming the file (and why) when it is there but unusable."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        reason: Optional[str] = exc.strerror or str(exc)
    else:
        reason = file_problem(st)
    data = None
    if reason is None:
        try:
            data = read_json(path)
        except StateError as exc:
            reason = str(exc.details.get("reason") or exc.msg.replace(path, "").strip(": "))
        except (OSError, RecursionError, ValueError) as exc:
            reason = str(exc)
        else:
            if data is None:  # removed meanwhile
                return None
            reason = check(data)
    if reason:
        raise RootlessError("%s %s cannot be used (%s). %s Nothing was changed."
                            % (what, path, reason, advice), path=path, reason=reason)
    return data


def _int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def identity_problem(data: Any) -> Optional[str]:
    """Why data is not a process identity {pid, start_time, cmdline} (None: it is)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if not _int(data.get("pid"), 2, PID_MAX):
        return "pid %r is not a process id" % (data.get("pid"),)
    if not _int(data.get("start_time"), 0, 2 ** 63):
        return "start_time %r is not a start time" % (data.get("start_time"),)
    cmdline = data.get("cmdline")
    if not isinstance(cmdline, list) or not cmdline or not all(isinstance(a, str) for a in cmdline):
        return "cmdline is not a list of strings"
    return None


def holder_problem(data: Any) -> Optional[str]:
    return identity_problem(data) or (
        None if isinstance(data.get("map", ""), str) else "map is not a string")


def slirp_problem(data: Any) -> Optional[str]:
    why = identity_problem(data)
    if why:
        return why
    if not isinstance(data.get("binary"), str) or not os.path.isabs(data["binary"]):
        return "binary is not an absolute path"
    if data.get("netns_inode") is not None and not _int(data["netns_inode"], 0, 2 ** 64):
        return "netns_inode is not an inode number"
    for key in ("options", "features"):
        if not isinstance(data.get(key), dict):
            return "%s is not a JSON object" % key
    return None


def attachments_problem(data: Any) -> Optional[str]:
    if not isinstance(data, dict):
        return "not a JSON object"
    for key, value in data.items():
        if not isinstance(value, dict) or not isinstance(value.get("netns", ""), str):
            return "the entry of %r is not {netns, hostfwds}" % key
        why = slirp.hostfwds_problem(value.get("hostfwds", []))
        if why:
            return "the entry of %r: %s" % (key, why)
    return None


# --- the declared options of the rootless CNI namespace (rootless_cni_ns) ---

NONE_TYPE = type(None)
# option -> allowed types (None: not given, the default)
OPTION_TYPES: Dict[str, tuple] = {
    "path": (str, type(None)), "mtu": (int, type(None)), "cidr": (str, type(None)),
    "enable_ipv6": (bool,), "disable_host_loopback": (bool,), "outbound_addr": (str, type(None)),
    "enable_sandbox": (bool, type(None)), "enable_seccomp": (bool, type(None)),
}


def declared_options(params: Dict[str, Any]) -> Dict[str, Any]:
    """The options as rootless_cni_ns declares them (module params, defaults filled in,
    sandbox/seccomp None = when supported), validated."""
    out = {"path": params.get("path"), "mtu": params.get("mtu"), "cidr": params.get("cidr"),
           "enable_ipv6": bool(params.get("enable_ipv6", False)),
           "disable_host_loopback": bool(params.get("disable_host_loopback", True)),
           "outbound_addr": params.get("outbound_addr"),
           "enable_sandbox": params.get("enable_sandbox"),
           "enable_seccomp": params.get("enable_seccomp")}
    why = options_problem(dict(out, version=OPTIONS_VERSION))
    if why:
        raise RootlessError("invalid rootless options: %s" % why)
    return out


def options_problem(data: Any) -> Optional[str]:
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("version") != OPTIONS_VERSION:
        return "version %r is not %d" % (data.get("version"), OPTIONS_VERSION)
    unknown = sorted(set(data) - set(OPTION_TYPES) - {"version"})
    if unknown:
        return "unknown keys %s" % ", ".join(unknown)
    for key, types in OPTION_TYPES.items():
        value = data.get(key)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            return "%s %r is not a %s" % (key, value, "/".join(
                "null" if t is NONE_TYPE else t.__name__ for t in types))
    if data.get("path") is not None and not os.path.isabs(data["path"]):
        return "path %r is not absolute" % data["path"]
    try:
        slirp_options(data, {"sandbox": True, "seccomp": True})
    except PodnetError as exc:
        return exc.msg
    return None


def slirp_options(declared: Dict[str, Any], features: Dict[str, bool]) -> slirp.SlirpOptions:
    """SlirpOptions of declared options: sandbox and seccomp, when not set, are on when this
    slirp4netns supports them (podman's default)."""
    def auto(key: str, feature: str) -> bool:
        value = declared.get(key)
        return bool(features.get(feature)) if value is None else bool(value)
    return slirp.SlirpOptions(declared.get("mtu"), declared.get("cidr"),
                              bool(declared.get("enable_ipv6", False)),
                              bool(declared.get("disable_host_loopback", True)),
                              declared.get("outbound_addr"), auto("enable_sandbox", "sandbox"),
                              auto("enable_seccomp", "seccomp"))


def load_options(path: str) -> Optional[Dict[str, Any]]:
    data = load(path, options_problem, "the rootless options file",
                "It holds what rootless_cni_ns declared; run rootless_cni_ns with the options you "
                "want (it rewrites the file), or remove it to use the defaults.")
    if data is None:
        return None
    data = dict(data)
    data.pop("version", None)
    return data


def save_options(path: str, declared: Dict[str, Any]) -> None:
    write_json(path, dict(declared, version=OPTIONS_VERSION))
