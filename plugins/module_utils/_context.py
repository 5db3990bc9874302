# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HostContext: where things live (config, plugins, cache, state, netns dir) and how
CNI calls and namespace operations run. Root runs them directly; the rootless
context (``_rootless_context.RootlessContext``) runs them inside the user's namespaces.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _netns
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni.exec import DEFAULT_TIMEOUT, PluginExecutor
from ansible_collections.podnet.cni.plugins.module_utils._errors import NetnsError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import read_head_stat
from ansible_collections.podnet.cni.plugins.module_utils._pending import Pending, missing_plugins, warn_once
from ansible_collections.podnet.cni.plugins.module_utils._state import container_lock, default_state_dir


class HostContext:
    rootless = False

    def __init__(self, config_dir: Optional[str] = None, plugin_dirs: Optional[Sequence[str]] = None,
                 cache_dir: Optional[str] = None, state_dir: Optional[str] = None,
                 netns_dir: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.config_dir = config_dir or cniconf.DEFAULT_CONFIG_DIR
        self.plugin_dirs = list(plugin_dirs or cniconf.DEFAULT_PLUGIN_DIRS)
        self.cache_dir = cache_dir or cniconf.DEFAULT_CACHE_DIR
        self.state_dir = state_dir or default_state_dir()
        self.netns_dir = netns_dir or _netns.DEFAULT_RUN_DIR
        self.timeout = timeout
        self.executor = PluginExecutor(self.plugin_dirs, timeout)
        self._networks: Optional[Dict[str, cniconf.NetworkConfigList]] = None
        self._forbidden: Optional[Dict[Tuple[int, int], str]] = None
        self.warnings: List[str] = []
        # a concurrent batch sets a gate (_concurrency.WarmGate) that every ADD chain passes
        self.add_gate: Any = None
        # the container ids whose locks this run holds (_concurrency.container_locks); None
        # when it holds none (check mode plans without locks)
        self.locked_ids: Optional[FrozenSet[str]] = None
        # creating the first namespace may set up the netns dir: once, not in two threads;
        # later ones (the dir set up) run side by side
        self._netns_lock = threading.Lock()
        self._netns_dirs_ready: Set[str] = set()
        # check mode: what earlier tasks of the check run would have created (_pending)
        self.pending = Pending()
        # host facts a task reads once however many containers it plans (see once())
        self._once: Dict[str, Any] = {}
        self._once_lock = threading.Lock()

    def once(self, key: str, read: Callable[[], Any]) -> Any:
        """read()'s value, read once per task (this context lives for one module run):
        for host-wide facts every container of a batch would otherwise re-read (the bound
        sockets, the plugin binaries). A batch then sees them as of its first use, as the
        single form sees them once for its one container. An exception is not kept."""
        with self._once_lock:
            if key not in self._once:
                self._once[key] = read()
            return self._once[key]

    # --- CNI configuration ---
    def networks(self) -> Dict[str, cniconf.NetworkConfigList]:
        if self._networks is None:
            self._networks, warnings = cniconf.load_networks(self.config_dir)
            self.warnings.extend(warnings)
        return self._networks

    def reload_networks(self) -> None:
        self._networks = None

    def get_network(self, name: str) -> cniconf.NetworkConfigList:
        predicted = self.pending.network(self.config_dir, name) if self.pending else None
        if predicted is False:
            raise ValidationError("unknown CNI network %r: a task earlier in this check run would "
                                  "remove it from %s (check_mode_pending)" % (name, self.config_dir),
                                  value=name)
        if predicted is not None:
            on_disk = self.networks().get(name)
            if on_disk is not None and on_disk.plugins == predicted.plugins \
                    and on_disk.cni_version == predicted.cni_version:
                return on_disk
            warn_once(self.warnings, "check mode: network %s %s in %s; predicted as a task earlier "
                      "in this check run would write it (check_mode_pending)"
                      % (name, "is not defined yet" if on_disk is None else "differs", self.config_dir))
            return predicted
        try:
            return cniconf.get_network(self.config_dir, name, self.networks())
        except ValidationError as exc:
            # an invalid file may be the one the user meant: say which were skipped and why
            skipped = [w for w in self.warnings
                       if w.startswith("skipped CNI config") and "is already defined by" not in w]
            if not skipped or not exc.msg.startswith("unknown CNI network"):
                raise
            raise ValidationError("%s; %s" % (exc.msg, "; ".join(skipped)), **exc.details) from None

    def validate_plugins(self, conf: cniconf.NetworkConfigList) -> None:
        """ConfigError naming the first plugin of conf that is missing (in check mode, a
        missing plugin that an earlier task would install is predicted, with a warning)."""
        if self.pending.plugins:
            missing_plugins(conf.plugin_types, self.plugin_dirs, self.pending,
                            "network %s" % conf.name, self.warnings)
            return
        # the same binaries for every container of a batch: looked up once per task
        self.once("plugins:%s" % ",".join(conf.plugin_types),
                  lambda: cniconf.validate_plugins(conf, self.plugin_dirs))

    def ipam_data_dir(self, data_dir: str) -> str:
        """Where a host-local dataDir (as the plugins see it) is for this process."""
        return data_dir

    # --- execution ---
    @contextmanager
    def session(self, check_mode: bool = False) -> Iterator["HostContext"]:
        """Enter what the operations need (rootless: the user's namespaces) and leave it
        tidy afterwards. Root needs nothing."""
        yield self

    def call_cni(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a function that executes CNI plugins (root: right here)."""
        return fn(*args, **kwargs)

    def run_add(self, network: str, with_ports: bool, fn: Callable[..., Any], *args: Any,
                **kwargs: Any) -> Any:
        """Run an ADD chain (``call_cni`` of it): directly, or through the gate of the
        concurrent batch this context serves (first ADD of a network alone; see _concurrency)."""
        if self.add_gate is None:
            return self.call_cni(fn, *args, **kwargs)
        return self.add_gate.run(network, with_ports, self.call_cni, fn, *args, **kwargs)

    def netns_path(self, name_or_path: str) -> str:
        return _netns.resolve(name_or_path, self.netns_dir)

    def default_netns(self, container_id: str) -> str:
        """The namespace a container gets when none is named (collision-free)."""
        return self.netns_path(_netns.default_name(container_id))

    def netns_status(self, path: str) -> str:
        return _netns.status(path)

    # --- trust rules: the host's namespace is never a container's; only namespaces
    # (or empty mount points) in our netns dir are made, unmounted or removed ---
    def forbidden_netns(self) -> Dict[Tuple[int, int], str]:
        """(device, inode) → what it is, of every namespace no container may be given."""
        if self._forbidden is None:
            self._forbidden = _netns.own_namespaces()
        return self._forbidden

    def host_netns_reason(self, path: str) -> Optional[str]:
        """What path is when it is a namespace no container may have (else None)."""
        if not path:
            return None
        key = _netns.ident(path)
        return self.forbidden_netns().get(key) if key is not None else None

    def refuse_host_netns(self, path: str, pid: Optional[int] = None) -> None:
        """ValidationError when path (a pid's namespace link) is such a namespace."""
        what = self.host_netns_reason(path)
        if what is None:
            return
        if pid is not None:
            raise ValidationError("refusing pid %d: its network namespace is %s, never a "
                                  "container's" % (pid, what), value=pid)
        raise ValidationError("refusing netns %s: it is %s, never a container's" % (path, what),
                              value=path)

    def pid_netns(self, pid: int) -> str:
        """/proc/PID/ns/net of a live process whose namespace may be a container's;
        ValidationError otherwise (check mode asks this too)."""
        path = "/proc/%d/ns/net" % pid
        try:
            os.stat(path)
        except FileNotFoundError:
            raise ValidationError("invalid pid %d: no such process" % pid, value=pid) from None
        except OSError as exc:
            raise ValidationError("invalid pid %d: its network namespace cannot be read (%s)"
                                  % (pid, exc.strerror), value=pid) from None
        self.refuse_host_netns(path, pid=pid)
        return path

    def not_creatable(self, path: str) -> Optional[str]:
        """Why no namespace may be made at path (None when one may)."""
        if _netns.is_proc_link(path):
            return "it is not a live network namespace (no such process, or not one to enter)"
        if os.path.dirname(path) != os.path.realpath(self.netns_dir):
            return ("it does not exist, and namespaces are only made in %s"
                    % os.path.realpath(self.netns_dir))
        if os.path.lexists(path):
            return _netns.not_removable(path, self.netns_dir)
        return None

    def not_removable(self, path: str) -> Optional[str]:
        return _netns.not_removable(path, self.netns_dir)

    def _refuse(self, what: str, path: str, reason: Optional[str]) -> None:
        if reason:
            raise NetnsError("refusing to %s netns %s: %s" % (what, path, reason), path=path)

    def create_netns(self, path: str) -> None:
        self._refuse("create", path, self.not_creatable(path))
        # root: in this thread, no fork; rootless cannot enter its own netns again
        if os.path.dirname(path) in self._netns_dirs_ready:
            _netns.create(path, in_thread=not self.rootless)
            return
        with self._netns_lock:
            _netns.create(path, in_thread=not self.rootless)
            self._netns_dirs_ready.add(os.path.dirname(path))

    def pin_netns(self, pid: int, path: str) -> None:
        self._refuse("pin a namespace at", path, self.not_creatable(path))
        self.pid_netns(pid)
        with self._netns_lock:
            _netns.pin(pid, path)

    def remove_netns(self, path: str) -> bool:
        self._refuse("remove", path, self.not_removable(path))
        return _netns.remove(path)

    def bring_lo_up(self, path: str) -> bool:
        return _netns.bring_lo_up(path, in_thread=not self.rootless)

    def check_port_mappings(self, mappings: Any) -> None:
        """Raise ValidationError for port mappings this context cannot forward (root: any
        portmap can, so nothing)."""

    def attachment_added(self, entry: Any) -> None:
        """Called after a successful ADD, before it is cached (rootless: forward its host
        ports through slirp4netns). Raising undoes the ADD."""

    def attachment_removed(self, entry: Any) -> None:
        """Called after a DEL (rootless: remove its forwarded ports)."""

    def check_pid(self, pid: int) -> None:
        """Raise ValidationError when this context cannot use pid's namespace (root: any)."""

    def daemon_pid_ns(self) -> Optional[str]:
        """The pid namespace daemons started now should run in (whose init reaps them):
        root, none (the caller's)."""
        return None

    def container_lock(self, cid: str):
        return container_lock(self.state_dir, cid)

    def describe(self) -> Dict[str, Any]:
        return {"config_dir": self.config_dir, "plugin_dirs": self.plugin_dirs,
                "cache_dir": self.cache_dir, "state_dir": self.state_dir,
                "netns_dir": self.netns_dir, "rootless": self.rootless}


def read_reservation(path: str) -> Optional[Tuple[str, str, float]]:
    """(container id, ifname, mtime) of a host-local reservation file (``id\r\nifname``;
    no ifname before host-local 0.8), read hardened: no symlink followed, no FIFO waited
    on, at most 4 KiB; None when there is no such regular file. The one reader of them."""
    found = read_head_stat(path)
    if found is None:
        return None
    data, st = found
    lines = data.decode("utf-8", "replace").splitlines()
    return (lines[0].strip() if lines else "", lines[1].strip() if len(lines) > 1 else "",
            st.st_mtime)


def ip_reservation_owner(ctx: HostContext, conf: cniconf.NetworkConfigList,
                         ip: str) -> Optional[Tuple[str, str]]:
    """(container id, ifname) holding ip in the network's host-local store, if any."""
    for data_dir, name in cniconf.iter_ipam_dirs(conf):
        held = read_reservation(os.path.join(ctx.ipam_data_dir(data_dir), name, ip))
        if held is not None:
            return held[0], held[1]
    return None
