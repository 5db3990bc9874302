# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rootless CNI network namespace and its slirp4netns, as ``RootlessContext`` builds
them (on demand, or declared by rootless_cni_ns), checks their health, and tears them down
when nothing uses them (podman's Cleanup): the part of the context that is one namespace's
lifecycle. A mixin of ``RootlessContext``: it works on the context's layout, holder and
session state (``joined``, ``check_mode``, ``built_cni_ns``, ``cni_ready``).
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _netns, _procs, _resolvconf
from ansible_collections.podnet.cni.plugins.module_utils import _rootless_state as rstate
from ansible_collections.podnet.cni.plugins.module_utils import _slirp4netns as slirp
from ansible_collections.podnet.cni.plugins.module_utils import _syscalls as sc
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import ensure_private_dir, remove_file, write_json, write_private
from ansible_collections.podnet.cni.plugins.module_utils._rootless_cni import Layout


def find_slirps(netns: str, holder: Optional[int]) -> List[_procs.ProcessIdentity]:
    """slirp4netns processes of this user serving netns (their command line names it) in our
    pid namespace or the holder's (pid; not a container's user of our uid:
    _procs.here_or_in_pid_ns_of)."""
    return [p for p in _procs.own_processes() if slirp.is_slirp_of(p, netns)
            and _procs.here_or_in_pid_ns_of(p.pid, holder)]


SLIRP_ADVICE = ("It records the slirp4netns of the rootless CNI namespace; if none runs "
                "(pgrep -u USER slirp4netns), remove the file, else restore it.")


class RootlessNetns:
    """The rootless CNI netns and its slirp4netns (mixed into RootlessContext)."""

    # what of the context this works on (set by RootlessContext)
    layout: Layout
    user: str
    cache_dir: str
    warnings: List[str]
    check_mode: bool
    joined: bool
    holder: Optional[_procs.ProcessIdentity]
    built_cni_ns: bool
    cni_ready: bool
    slirp_path: Optional[str]
    ensure_holder: Callable[[], bool]
    live_holder: Callable[[], Optional[_procs.ProcessIdentity]]
    daemon_pid_ns: Callable[[], Optional[str]]
    _attachments: Callable[[], Dict[str, Any]]

    def holder_pid(self) -> Optional[int]:
        """The pid of the holder joined (None: none runs; the session joined it if one did)."""
        return self.holder.pid if self.joined and self.holder is not None else None

    def slirp_state(self) -> Optional[Dict[str, Any]]:
        return rstate.load(self.layout.slirp_file, rstate.slirp_problem, "the slirp4netns state file",
                           SLIRP_ADVICE.replace("USER", self.user))

    def running_options(self) -> slirp.SlirpOptions:
        """The options the running slirp4netns was started with (its addresses)."""
        recorded = (self.slirp_state() or {}).get("options") or {}
        try:
            return slirp.SlirpOptions(**{k: recorded[k] for k in slirp.SlirpOptions.FIELDS if k in recorded})
        except (TypeError, ValidationError):
            return slirp.SlirpOptions()

    def declared_options(self) -> Optional[Dict[str, Any]]:
        """What rootless_cni_ns declared last (None: nothing, the defaults)."""
        return rstate.load_options(self.layout.options_file)

    def wanted_slirp(self, declared: Optional[Dict[str, Any]] = None,
                     binary: Optional[str] = None) -> Tuple[str, Dict[str, bool], slirp.SlirpOptions]:
        """binary, features and options of the slirp4netns to start: the declared options
        (rootless_cni_ns; on every rebuild, also on demand), else the defaults."""
        if declared is None:
            declared = self.declared_options() or {}
        state = self.slirp_state() or {}
        binary = slirp.find_binary(binary or declared.get("path") or state.get("binary")
                                   or self.slirp_path)
        features = slirp.detect_features(binary)
        return binary, features, rstate.slirp_options(declared, features)

    def _netns_inode(self) -> Optional[int]:
        if not self.joined or _netns.status(self.layout.cni_netns) != "mounted":
            return None
        return os.stat(self.layout.cni_netns).st_ino

    def slirp_health(self, opts: Optional[slirp.SlirpOptions] = None,
                     binary: Optional[str] = None) -> Tuple[str, Optional[Dict[str, Any]]]:
        """('ok'|'dead'|'stale'|'options'|'api', state) of slirp4netns for the CNI netns."""
        state = self.slirp_state()
        if state is None:
            return "dead", None
        ident = _procs.identity_from_dict(state)
        if not _procs.is_ours(ident) or not slirp.is_slirp_of(ident, self.layout.cni_netns):
            return "dead", state
        inode = self._netns_inode()
        if inode is None or state.get("netns_inode") != inode:
            return "stale", state
        if opts is not None and state.get("options") != opts.to_dict():
            return "options", state
        if binary is not None and state.get("binary") != binary:
            return "options", state
        try:
            slirp.list_hostfwd(self.layout.api_socket)
        except RootlessError:
            return "api", state
        return "ok", state

    def plan_cni_ns(self, opts: Optional[slirp.SlirpOptions] = None,
                    binary: Optional[str] = None) -> List[Dict[str, Any]]:
        """What ensure_cni_ns would do (no side effects)."""
        actions: List[Dict[str, Any]] = []
        holder = self.joined or self.live_holder() is not None
        if not holder:
            actions.append({"action": "start_holder"})
        if not holder or _netns.status(self.layout.cni_netns) != "mounted":
            actions.append({"action": "create_netns", "netns": self.layout.cni_netns})
            health = "dead"
            self.slirp_state()  # an unusable state file stops check mode as it stops the run
        else:
            health = self.slirp_health(opts, binary)[0]
        if self.recipe_dirs_missing():
            actions.append({"action": "create_dirs", "paths": self.recipe_dirs_missing()})
        wanted = self.resolv_conf_text(self._dns_options(opts, health))
        try:
            with open(self.layout.resolv_conf) as f:
                current = f.read()
        except OSError:
            current = None
        if current != wanted:
            actions.append({"action": "write_resolv_conf", "path": self.layout.resolv_conf})
        if health != "ok":  # the same order as ensure_cni_ns
            reason = {"dead": "not running", "stale": "serves an old namespace",
                      "options": "options changed", "api": "API socket not answering"}[health]
            actions.append({"action": "start_slirp4netns", "reason": reason})
        return actions

    def _dns_options(self, opts: Optional[slirp.SlirpOptions], health: str) -> slirp.SlirpOptions:
        """The options whose addresses resolv.conf names: those asked for, else those of
        the running slirp4netns, else those it would be started with (declared)."""
        if opts is not None:
            return opts
        if health == "ok":
            return self.running_options()
        return rstate.slirp_options(self.declared_options() or {}, {})

    def recipe_dirs_missing(self) -> List[str]:
        """The private run dir and /var/lib/cni stand-in of the CNI mount recipe, if absent."""
        return [p for p in (self.layout.inner("/run"), self.layout.inner(self.layout.var_target))
                if not os.path.isdir(p)]

    def resolv_conf_text(self, opts: slirp.SlirpOptions) -> str:
        return _resolvconf.build(_resolvconf.read_host(), opts.net.dns, opts.enable_ipv6)

    def ensure_cni_ns(self, opts: Optional[slirp.SlirpOptions] = None,
                      binary: Optional[str] = None,
                      features: Optional[Dict[str, bool]] = None) -> List[Dict[str, Any]]:
        """Make sure of holder, CNI netns, slirp4netns (restarted when dead, stale, deaf, or
        on other options when opts are given) and resolv.conf. Without opts (a namespace
        built on demand) a running slirp4netns is kept as it is, and a new one gets the
        options declared with rootless_cni_ns. Returns the actions taken."""
        if self.check_mode:
            actions = self.plan_cni_ns(opts, binary)
            if actions:
                raise RootlessError("the rootless CNI namespace is not ready (check mode cannot "
                                    "build it): %s" % ", ".join(a["action"] for a in actions))
            return []
        actions: List[Dict[str, Any]] = []
        if self.ensure_holder():
            actions.append({"action": "start_holder"})
        layout = self.layout
        ensure_private_dir(layout.rdir)
        status = _netns.status(layout.cni_netns)
        if status != "mounted":
            if status == "stale":
                _netns.remove(layout.cni_netns)
            _netns.create(layout.cni_netns)
            _netns.bring_lo_up(layout.cni_netns)
            self.built_cni_ns = True
            actions.append({"action": "create_netns", "netns": layout.cni_netns})
        missing = self.recipe_dirs_missing()
        if missing:
            for path in missing:
                os.makedirs(path, mode=0o700, exist_ok=True)
            actions.append({"action": "create_dirs", "paths": missing})
        health, state = self.slirp_health(opts, binary)
        text = self.resolv_conf_text(self._dns_options(opts, health))
        try:
            with open(layout.resolv_conf) as f:
                current: Optional[str] = f.read()
        except OSError:
            current = None
        if current != text:
            write_private(layout.resolv_conf, text.encode(), 0o644)
            actions.append({"action": "write_resolv_conf", "path": layout.resolv_conf})
        if health != "ok":
            if opts is None or binary is None:
                binary, features, opts = self.wanted_slirp(binary=binary)
            self._stop_slirps(state)
            features = features if features is not None else slirp.detect_features(binary)
            ident = slirp.start(binary, features, opts, layout.cni_netns, layout.api_socket,
                                layout.slirp_log, preexec=sc.private_mount_ns,
                                pid_ns=self.daemon_pid_ns())
            write_json(layout.slirp_file, dict(_procs.identity_to_dict(ident), binary=binary,
                                               netns_inode=self._netns_inode(),
                                               options=opts.to_dict(), features=features))
            actions.append({"action": "start_slirp4netns", "pid": ident.pid})
            self.restore_hostfwds(opts)
        return actions

    def _stop_slirps(self, state: Optional[Dict[str, Any]]) -> List[int]:
        """Stop the recorded slirp4netns of the CNI netns and any other of ours serving it
        (its record lost): only processes of this user whose command line names the
        namespace. Returns their pids."""
        stopped = []
        found = find_slirps(self.layout.cni_netns, self.holder_pid())
        idents = [_procs.identity_from_dict(state)] + found
        for ident in idents:
            if ident is None or ident.pid in stopped:
                continue
            if _procs.is_ours(ident) and slirp.is_slirp_of(ident, self.layout.cni_netns):
                _procs.terminate(ident, same=_procs.is_ours)
                stopped.append(ident.pid)
        return stopped

    def restore_hostfwds(self, opts: Optional[slirp.SlirpOptions] = None) -> None:
        """Re-add the forwarded ports of every recorded attachment (after a restart)."""
        opts = opts or self.running_options()
        slirp.add_hostfwds(self.layout.api_socket, opts.net.guest,
                           [fwd for record in self._attachments().values()
                            for fwd in record.get("hostfwds", [])])

    def slirp_pid(self) -> Optional[int]:
        state = self.slirp_state()
        ident = _procs.identity_from_dict(state)
        return ident.pid if ident is not None and _procs.is_ours(ident) else None

    # --- cleanup ---
    def attachment_count(self) -> int:
        keys = set(self._attachments())
        entries, unreadable = cnicache.scan(self.cache_dir)
        keys.update("\t".join(e.key) for e in entries)
        keys.update(u.path for u in unreadable)  # may be a live attachment: keep the netns
        return len(keys)

    def other_namespaces(self) -> List[str]:
        if not self.joined:
            return []
        return [n["path"] for n in _netns.list_netns(self.layout.netns_dir)
                if n["status"] == "mounted" and n["path"] != self.layout.cni_netns]

    def cleanup_if_unused(self) -> List[Dict[str, Any]]:
        """podman's Cleanup, lock-safe: no attachment left → tear down the CNI netns; no
        namespace left in the holder either → stop the holder too."""
        if self.attachment_count():
            return []
        return self.teardown()

    def teardown(self, keep_holder: Optional[bool] = None, dry_run: bool = False,
                 force: bool = False) -> List[Dict[str, Any]]:
        """Stop slirp4netns (only processes that still are ours), remove the CNI netns and
        the rootless dir; stop the holder unless other namespaces live in it.

        With force (attachments remain): every slirp4netns of the user's namespaces and
        the holder stop too, with every namespace in it; the libcni cache and host-local's
        reservations (rdir/var) stay, so a later detach releases the addresses and
        ``container_netns state=present`` builds a container again. With dry_run, only say
        what would be done."""
        actions: List[Dict[str, Any]] = []
        layout = self.layout
        if not dry_run:
            self.cni_ready = False
        state = self.slirp_state()
        if dry_run:
            ident = _procs.identity_from_dict(state)
            pids = [p.pid for p in [ident] + find_slirps(layout.cni_netns, self.holder_pid())
                    if p is not None and _procs.is_ours(p) and slirp.is_slirp_of(p, layout.cni_netns)]
        else:
            pids = self._stop_slirps(state)
        for pid in sorted(set(pids)):
            actions.append({"action": "stop_slirp4netns", "pid": pid})
        if os.path.lexists(layout.cni_netns):
            if not dry_run:
                if self.joined:
                    _netns.remove(layout.cni_netns)
                else:
                    remove_file(layout.cni_netns)
            actions.append({"action": "remove_netns", "netns": layout.cni_netns})
        keep = layout.inner("/var") if force and os.path.isdir(layout.inner("/var")) else None
        if os.path.isdir(layout.rdir):
            if not dry_run:
                _remove_tree_except(layout.rdir, keep)
            action: Dict[str, Any] = {"action": "remove_dir", "path": layout.rdir}
            if keep:
                action["kept"] = keep
            actions.append(action)
        if keep_holder is None:
            keep_holder = bool(self.other_namespaces()) and not force
        if not keep_holder:
            if force:
                for ident in self.namespace_slirps():
                    if not dry_run:
                        _procs.terminate(ident, same=_procs.is_ours)
                    actions.append({"action": "stop_slirp4netns", "pid": ident.pid,
                                    "netns": next(a for a in ident.cmdline
                                                  if a.startswith(layout.netns_dir + "/"))})
            gone = self.other_namespaces()
            holder = self.holder if self.joined else self.live_holder()
            if holder is not None and _procs.is_ours(holder):
                if not dry_run:
                    _procs.terminate(holder, same=_procs.is_ours)
                action = {"action": "stop_holder", "pid": holder.pid}
                if gone:
                    action["namespaces"] = gone
                actions.append(action)
            elif os.path.lexists(layout.pid_file):
                actions.append({"action": "remove_pid_file", "path": layout.pid_file})
            if not dry_run:
                remove_file(layout.pid_file)
                self._remove_leftovers()
        return actions

    def namespace_slirps(self) -> List[_procs.ProcessIdentity]:
        """slirp4netns of this user serving a container namespace in the holder
        (network_mode slirp4netns), the rootless CNI netns' own excluded."""
        prefix = self.layout.netns_dir + "/"
        holder = self.holder_pid()
        return [p for p in _procs.own_processes()
                if p.cmdline and os.path.basename(p.cmdline[0]) == "slirp4netns"
                and self.layout.cni_netns not in p.cmdline
                and any(a.startswith(prefix) for a in p.cmdline)
                and _procs.here_or_in_pid_ns_of(p.pid, holder)]

    def _remove_leftovers(self) -> None:
        layout = self.layout
        if self.joined:
            try:
                sc.umount2(layout.netns_dir, sc.MNT_DETACH)
            except OSError:
                pass
        for path in (layout.netns_dir,):
            try:
                os.rmdir(path)
            except OSError:
                pass
        remove_file(layout.lock_file)
        try:
            os.rmdir(layout.base)
        except OSError:
            pass


def _remove_tree_except(path: str, keep: Optional[str]) -> None:
    """rmtree path, but leave keep (a directory inside it) and its parents in place."""
    if not keep:
        shutil.rmtree(path, ignore_errors=True)
        return
    for root, dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            if not full.startswith(keep + "/"):
                remove_file(full)
        for name in list(dirs):
            full = os.path.join(root, name)
            if full == keep or full.startswith(keep + "/"):
                dirs.remove(name)
            elif os.path.islink(full):
                remove_file(full)
                dirs.remove(name)
            elif not keep.startswith(full + "/"):
                shutil.rmtree(full, ignore_errors=True)
                dirs.remove(name)
