# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI plugin execution per the spec (ADD, DEL, CHECK, VERSION), as libcni does it.

- env: CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH;
- stdin: the plugin's config with the list's ``name`` and ``cniVersion`` injected,
  ``prevResult`` (ADD: the previous plugin's result; DEL/CHECK on 0.4.0+: the cached
  result) and ``runtimeConfig`` holding only the capabilities the plugin declares;
- ADD runs the plugins in order, DEL in reverse order, CHECK in order;
- a failing plugin's error JSON (code, msg, details) is kept in CniPluginError, each
  text cut at OUTPUT_LIMIT (a plugin may write megabytes to stderr);
- an ADD result is validated before it is chained or cached: an invalid one fails the ADD;
- every failure of an ADD carries what the plugins before it returned
  (``partial_result``), so the rollback DEL finds their rules;
- no plugin outlives this process: each joins one process group per process, which a
  small watchdog kills if this process dies (``_procgroup.PluginGroup``).
"""
from __future__ import annotations

import json
import os
import select
import selectors
import subprocess
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _procgroup
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._cni.config import (
    NetworkConfigList, find_plugin)
from ansible_collections.podnet.cni.plugins.module_utils._cni.result import convert
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    CniPluginError, ConfigError)
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

DEFAULT_TIMEOUT = C.PLUGIN_TIMEOUT
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
# what is kept of a plugin's stderr, and of the msg and details of its error JSON: a
# plugin that writes 10 MB to stderr must not make a 30 MB module result
OUTPUT_LIMIT = 64 * 1024
# a result larger than this is no CNI result (and would not fit the cache's read limit)
RESULT_LIMIT = 1024 * 1024

# what a DEL may say when the rules it removes are gone already (a firewall reload, or an
# ADD interrupted before the plugin that makes them)
EXPECTED_DEL_ERRORS = (
    "Couldn't load target `CNI-",
    "Chain 'CNI-",
    "does not exist",
    "No such file or directory",
    "No chain/target/match by that name",
    "Could not process rule: No such file or directory",
)


def is_missing_rules_error(err: CniPluginError) -> bool:
    text = "%s %s %s" % (err.cni_msg, err.cni_details, err.stderr)
    return any(marker in text for marker in EXPECTED_DEL_ERRORS)


def cut(text: str, limit: int = OUTPUT_LIMIT, dropped: int = 0) -> str:
    """text, at most limit characters of it, with a note saying how much was cut."""
    extra = max(len(text) - limit, 0) + dropped
    if not extra:
        return text
    return "%s\n[... %d more bytes cut: podnet.cni keeps %d bytes of plugin output]" % (
        text[:limit], extra, limit)


def version_tuple(version: str) -> Tuple[int, ...]:
    try:
        return tuple(int(p) for p in (version or "0.0.0").split("."))
    except ValueError:
        return (0, 0, 0)


def supports_prev_result_on_del(version: str) -> bool:
    return version_tuple(version) >= (0, 4, 0)


def supports_check(version: str) -> bool:
    return version_tuple(version) >= (0, 4, 0)


class RuntimeConf:
    """What the runtime passes to a network list (libcni's RuntimeConf)."""

    __slots__ = ("container_id", "netns", "ifname", "args", "capability_args")

    def __init__(self, container_id: str, netns: str, ifname: str,
                 args: Sequence[Sequence[str]] = (),
                 capability_args: Optional[Dict[str, Any]] = None) -> None:
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args: List[List[str]] = [list(a) for a in args]
        self.capability_args: Dict[str, Any] = dict(capability_args or {})

    def cni_args_string(self) -> str:
        return ";".join("%s=%s" % (k, v) for k, v in self.args)


def plugin_stdin(conf: NetworkConfigList, plugin: Dict[str, Any], rt: RuntimeConf,
                 prev_result: Optional[Dict[str, Any]] = None) -> bytes:
    """The bytes a plugin reads on stdin (libcni buildOneConfig + injectRuntimeConfig)."""
    data = dict(plugin)
    data["name"] = conf.name
    data["cniVersion"] = conf.cni_version
    if prev_result is not None:
        data["prevResult"] = prev_result
    else:
        data.pop("prevResult", None)
    runtime = {}
    for cap, supported in (plugin.get("capabilities") or {}).items():
        if supported and cap in rt.capability_args:
            runtime[cap] = rt.capability_args[cap]
    if runtime:
        data["runtimeConfig"] = runtime
    return json.dumps(data).encode()


def _path_with_sbin(path: str) -> str:
    parts = [p for p in path.split(":") if p]
    for extra in SBIN_DIRS:
        if extra not in parts:
            parts.append(extra)
    return ":".join(parts)


class PluginExecutor:
    """Runs plugin binaries found in plugin_dirs, each with a timeout."""

    def __init__(self, plugin_dirs: Sequence[str], timeout: float = DEFAULT_TIMEOUT,
                 environ: Optional[Dict[str, str]] = None) -> None:
        self.plugin_dirs = list(plugin_dirs)
        self.timeout = timeout
        base = dict(os.environ if environ is None else environ)
        base["PATH"] = _path_with_sbin(base.get("PATH", ""))
        self._environ = base
        self._paths: Dict[str, str] = {}

    def plugin_path(self, ptype: str, network: str = "") -> str:
        path = self._paths.get(ptype)
        if path is None:
            path = find_plugin(ptype, self.plugin_dirs)
            if path is None:
                raise ConfigError("CNI plugin %r not found in %s" % (ptype, ":".join(self.plugin_dirs)),
                                  plugin=ptype, network=network)
            self._paths[ptype] = path
        return path

    def env(self, command: str, rt: Optional[RuntimeConf]) -> Dict[str, str]:
        env = dict(self._environ)
        env["CNI_COMMAND"] = command
        env["CNI_PATH"] = ":".join(self.plugin_dirs)
        if rt is not None:
            env["CNI_CONTAINERID"] = rt.container_id
            env["CNI_NETNS"] = rt.netns
            env["CNI_IFNAME"] = rt.ifname
            env["CNI_ARGS"] = rt.cni_args_string()
        else:
            # VERSION: never pass on CNI_* of our own environment; older skel versions
            # want NETNS and IFNAME set (libcni passes "dummy" too)
            env.update({"CNI_CONTAINERID": "", "CNI_NETNS": "dummy", "CNI_IFNAME": "dummy",
                        "CNI_ARGS": ""})
        return env

    def run(self, ptype: str, command: str, rt: Optional[RuntimeConf], stdin: bytes,
            network: str = "") -> Optional[Dict[str, Any]]:
        """Run one plugin; its parsed JSON output for ADD and VERSION (None when it printed
        nothing), None for DEL and CHECK (libcni ignores their output too)."""
        path = self.plugin_path(ptype, network)
        try:
            # no start_new_session/preexec_fn: they cost a full fork (~2-4 ms per exec)
            # instead of vfork; joining the process group (Python 3.11+) does not
            proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=self.env(command, rt),
                                    close_fds=True, **_procgroup.PluginGroup.popen_kwargs())
        except (OSError, subprocess.SubprocessError) as exc:
            raise CniPluginError("cannot execute %s: %s" % (path, getattr(exc, "strerror", None) or exc),
                                 code=-1, plugin=ptype, command=command, network=network)
        try:
            (out, out_dropped), (err, err_dropped) = _exchange(proc, stdin, self.timeout)
        except BaseException as exc:
            _procgroup.kill_tree(proc)
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            raise CniPluginError("timed out after %.0fs" % self.timeout, code=-1, plugin=ptype,
                                 command=command, network=network)
        stderr = cut(err.decode("utf-8", "replace"), dropped=err_dropped)
        if proc.returncode != 0:
            code, msg, details = proc.returncode, "", ""
            try:
                data = json.loads(out) if not out_dropped else None
                code = int(data.get("code", code))
                msg = cut(str(data.get("msg", "")))
                details = cut(str(data.get("details", "")))
            except (ValueError, AttributeError, TypeError, RecursionError):
                msg = stderr.strip() or cut(out.decode("utf-8", "replace").strip(), dropped=out_dropped)
            raise CniPluginError(msg or "exit status %d" % proc.returncode, code=code,
                                 plugin=ptype, command=command, network=network,
                                 details=details, stderr=stderr)
        if command not in ("ADD", "VERSION") or not out.strip():
            return None
        if out_dropped:
            raise CniPluginError("result larger than %d bytes" % RESULT_LIMIT, code=-1,
                                 plugin=ptype, command=command, network=network, stderr=stderr)
        try:
            data = json.loads(out)
        except (ValueError, RecursionError):
            raise CniPluginError("invalid JSON result: %r" % out[:200], code=-1,
                                 plugin=ptype, command=command, network=network, stderr=stderr)
        if not isinstance(data, dict):
            raise CniPluginError("result is not a JSON object: %r" % out[:200], code=-1,
                                 plugin=ptype, command=command, network=network, stderr=stderr)
        return data


def _exchange(proc: subprocess.Popen, data: bytes,
              timeout: float) -> Tuple[Tuple[bytes, int], Tuple[bytes, int]]:
    """communicate() with a deadline, minus its cost: Popen.wait(timeout) polls with
    sleeps (~1 ms per exec, more under load); here the exit is awaited on a pidfd.

    Keeps at most RESULT_LIMIT bytes of stdout and OUTPUT_LIMIT of stderr (the rest is
    read and dropped, so the plugin never blocks); returns (kept, dropped count) of each."""
    deadline = time.monotonic() + timeout
    chunks: Dict[Any, List[bytes]] = {proc.stdout: [], proc.stderr: []}
    room = {proc.stdout: RESULT_LIMIT, proc.stderr: OUTPUT_LIMIT}
    dropped = {proc.stdout: 0, proc.stderr: 0}
    view = memoryview(data)
    with selectors.DefaultSelector() as sel:
        if view:
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()  # type: ignore[union-attr]
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            for key, dummy in sel.select(remaining):
                if key.fileobj is proc.stdin:
                    try:
                        view = view[os.write(key.fd, view[:select.PIPE_BUF]):]
                    except BrokenPipeError:
                        view = view[len(view):]
                    if not view:
                        sel.unregister(key.fileobj)
                        proc.stdin.close()  # type: ignore[union-attr]
                else:
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        keep = chunk[:room[key.fileobj]]
                        room[key.fileobj] -= len(keep)
                        dropped[key.fileobj] += len(chunk) - len(keep)
                        if keep:
                            chunks[key.fileobj].append(keep)
                    else:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()  # type: ignore[union-attr]
    remaining = max(deadline - time.monotonic(), 0.0)
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            pidfd = None
    if pidfd is not None:
        try:
            ready, dummy, dummy = select.select([pidfd], [], [], remaining)
        finally:
            os.close(pidfd)
        if not ready:
            raise subprocess.TimeoutExpired(proc.args, timeout)
    proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
    return ((b"".join(chunks[proc.stdout]), dropped[proc.stdout]),
            (b"".join(chunks[proc.stderr]), dropped[proc.stderr]))


def add_network_list(executor: PluginExecutor, conf: NetworkConfigList,
                     rt: RuntimeConf) -> Dict[str, Any]:
    """ADD every plugin in order, chaining prevResult; the final result in the list's version.

    Any failure (an error, a timeout, no output, output that is no valid result) is
    raised with ``partial_result`` (the last valid result, which names the IPs the
    firewall and portmap plugins keyed their rules on: the rollback DEL needs it) and
    ``add_started`` (whether any plugin ran: if none did, there is nothing to undo)."""
    prev: Optional[Dict[str, Any]] = None
    started = False
    for plugin in conf.plugins:
        stdin = plugin_stdin(conf, plugin, rt, prev)
        try:
            started = True
            result = executor.run(plugin["type"], "ADD", rt, stdin, conf.name)
            if result is None:
                raise CniPluginError("no result on ADD", code=-1, plugin=plugin["type"],
                                     command="ADD", network=conf.name)
            why = cniresult.problem(result)
            if why:
                raise CniPluginError("invalid result on ADD: %s" % why, code=-1,
                                     plugin=plugin["type"], command="ADD", network=conf.name)
            if conf.cni_version and str(result.get("cniVersion")) != conf.cni_version:
                result = convert(result, conf.cni_version)
        except BaseException as exc:
            _mark_progress(exc, prev, started)
            raise
        prev = result
    return prev or {}


def _mark_progress(exc: BaseException, prev: Optional[Dict[str, Any]], started: bool) -> None:
    try:
        exc.partial_result = prev  # type: ignore[attr-defined]
        exc.add_started = started  # type: ignore[attr-defined]
    except AttributeError:  # an exception type without a __dict__: the rollback DELs all
        pass


def _cached_prev(conf: NetworkConfigList, cached: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if not cached:
        return None
    return convert(cached, conf.cni_version) if conf.cni_version else cached


def del_network_list(executor: PluginExecutor, conf: NetworkConfigList, rt: RuntimeConf,
                     cached_result: Optional[Dict[str, Any]] = None,
                     tolerate: Optional[Any] = None) -> List[CniPluginError]:
    """DEL every plugin in reverse order; with 0.4.0+ the cached result is prevResult.

    ``tolerate(err)`` may accept an error (e.g. a chain a firewall reload deleted): the
    accepted errors are returned and the chain goes on; any other error is raised after
    the remaining plugins have still run, so one broken plugin never strands the rest.
    """
    prev = _cached_prev(conf, cached_result) if supports_prev_result_on_del(conf.cni_version) else None
    tolerated: List[CniPluginError] = []
    first_error: Optional[CniPluginError] = None
    for plugin in reversed(conf.plugins):
        stdin = plugin_stdin(conf, plugin, rt, prev)
        try:
            executor.run(plugin["type"], "DEL", rt, stdin, conf.name)
        except CniPluginError as exc:
            if tolerate is not None and tolerate(exc):
                tolerated.append(exc)
            elif first_error is None:
                first_error = exc
    if first_error is not None:
        raise first_error
    return tolerated


def check_network_list(executor: PluginExecutor, conf: NetworkConfigList, rt: RuntimeConf,
                       cached_result: Dict[str, Any],
                       tolerate: Optional[Any] = None,
                       skip: Sequence[str] = ()) -> List[CniPluginError]:
    """CHECK every plugin in order with the cached result (0.4.0+, unless disableCheck).

    ``tolerate(err)`` may accept a plugin's error (a known false alarm, e.g. portmap
    1.1's ipv6 check of an IPv4-only container): the chain goes on and the accepted
    errors are returned; any other error is raised at once. Plugin types in ``skip``
    are not run (the caller verified their state another way).
    """
    if not supports_check(conf.cni_version):
        raise ConfigError("network %s: CHECK needs cniVersion 0.4.0 or later, it has %s"
                          % (conf.name, conf.cni_version), network=conf.name)
    if conf.disable_check:
        return []
    prev = _cached_prev(conf, cached_result)
    tolerated: List[CniPluginError] = []
    for plugin in conf.plugins:
        if plugin["type"] in skip:
            continue
        try:
            executor.run(plugin["type"], "CHECK", rt, plugin_stdin(conf, plugin, rt, prev), conf.name)
        except CniPluginError as exc:
            if tolerate is None or not tolerate(exc):
                raise
            tolerated.append(exc)
    return tolerated


def check_supported(conf: NetworkConfigList) -> bool:
    return supports_check(conf.cni_version) and not conf.disable_check


def plugin_versions(executor: PluginExecutor, ptype: str, cni_version: str = "1.0.0") -> Dict[str, Any]:
    """VERSION: which spec versions a plugin supports."""
    stdin = json.dumps({"cniVersion": cni_version}).encode()
    return executor.run(ptype, "VERSION", None, stdin) or {}
