# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``RootlessContext``: the HostContext of an unprivileged user. Everything happens inside
the holder's user+mount namespace (``_userns``), joined for the whole session under the
rootless lock; CNI calls run in the rootless CNI netns through the mount recipe
(``_rootless_cni``), which is built on demand (``_rootless_netns``); host ports are
forwarded through the slirp4netns API and recorded per attachment. Where things live:
``_rootless_cni.Layout``.
"""
from __future__ import annotations

import os
import pwd
from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from ansible_collections.podnet.cni.plugins.module_utils import _netns, _procs, _userns
from ansible_collections.podnet.cni.plugins.module_utils import _rootless_state as rstate
from ansible_collections.podnet.cni.plugins.module_utils import _slirp4netns as slirp
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError, RootlessError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import ensure_private_dir, remove_file, write_json
from ansible_collections.podnet.cni.plugins.module_utils._locking import file_lock
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C
from ansible_collections.podnet.cni.plugins.module_utils._pending import WHY, Pending
from ansible_collections.podnet.cni.plugins.module_utils._rootless_cni import Layout, call_cni, default_config_dir, runtime_dir
from ansible_collections.podnet.cni.plugins.module_utils._rootless_netns import RootlessNetns

LOCK_TIMEOUT = C.LOCK_TIMEOUT

HOLDER_ADVICE = ("It records the holder process (podnet-pause) of this user; if none runs "
                 "(pgrep -u USER -f podnet-pause), remove the file, else restore it.")
ATTACHMENTS_ADVICE = ("It lists the host ports slirp4netns forwards for each attachment; remove it "
                      "once the forwarded ports are gone (rootless_cni_ns state=absent force=true "
                      "stops slirp4netns), or restore it.")


def rootless_lock(path: str, timeout: float = LOCK_TIMEOUT):
    """An exclusive flock on path that survives the file being removed by a teardown."""
    return file_lock(path, timeout, survive_unlink=True, what="the rootless lock")


class RootlessContext(RootlessNetns, HostContext):
    """HostContext of an unprivileged user: everything happens inside the holder's
    user+mount namespace, and CNI plugins run in the rootless CNI netns."""

    rootless = True

    def __init__(self, layout: Layout, **kwargs: Any) -> None:
        kwargs["config_dir"] = kwargs.get("config_dir") or default_config_dir()
        kwargs["netns_dir"] = layout.netns_dir
        kwargs["cache_dir"] = kwargs.get("cache_dir") or layout.cache_dir
        kwargs["state_dir"] = kwargs.get("state_dir") or layout.base
        super().__init__(**kwargs)
        self.layout = layout
        self.check_mode = False
        self.slirp_path: Optional[str] = None
        self.holder: Optional[_procs.ProcessIdentity] = None
        self.joined = False
        self.removed_something = False
        self.built_cni_ns = False
        self.cni_ready = False
        self.changes: List[str] = []
        try:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            self.user = str(os.geteuid())

    @classmethod
    def from_params(cls, params: Dict[str, Any], pending: Optional[Pending] = None,
                    **kwargs: Any) -> "RootlessContext":
        if os.geteuid() == 0 and _userns.in_initial_userns():
            raise ValidationError("rootless mode is for an unprivileged user: this module runs as "
                                  "root (set rootless: false, or become an unprivileged user)")
        warnings = []
        try:
            runtime = runtime_dir()
        except RootlessError as exc:
            # check mode: the runtime dir an earlier task would make (cni_host) is predicted
            path = exc.details.get("runtime_dir")
            if not (pending and isinstance(path, str) and pending.has_dir(path)
                    and not os.path.lexists(path)):
                raise
            runtime = os.path.normpath(path)
            warnings.append("check mode: XDG_RUNTIME_DIR %s does not exist yet; predicted: %s"
                            % (runtime, WHY))
        ctx = cls(Layout(runtime), **kwargs)
        ctx.warnings.extend(warnings)
        ctx.slirp_path = params.get("path") if isinstance(params.get("path"), str) else None
        return ctx

    def describe(self) -> Dict[str, Any]:
        data = super().describe()
        data["runtime_dir"] = self.layout.runtime
        return data

    def ipam_data_dir(self, data_dir: str) -> str:
        """host-local's dataDir as seen from here: /var/lib/cni and /run are bound from
        the rootless dir inside the CNI calls."""
        norm = os.path.normpath(data_dir)
        for target in (self.layout.var_target, "/run"):
            if norm == target or norm.startswith(target.rstrip("/") + "/"):
                return self.layout.inner(norm)
        return data_dir

    # --- session: lock, join, clean up ---
    @contextmanager
    def session(self, check_mode: bool = False) -> Iterator["RootlessContext"]:
        self.check_mode = check_mode
        with ExitStack() as stack:
            if not check_mode:
                stack.enter_context(rootless_lock(self.layout.lock_file))
            self.holder = self.live_holder()
            if self.holder is not None:
                _userns.join(self.holder.pid)
                self.joined = True
            ok = False
            try:
                yield self
                ok = True
            finally:
                if not check_mode and self.joined and (self.removed_something or
                                                       (self.built_cni_ns and not ok)):
                    try:
                        self.cleanup_if_unused()
                    except PodnetError as exc:
                        self.warnings.append("rootless cleanup: %s" % exc)

    def live_holder(self) -> Optional[_procs.ProcessIdentity]:
        """The holder recorded in the pid file if it runs; None when none runs. A pid file
        that is not ours, or a holder of this runtime dir that runs although the pid file
        does not name it, stops the run: starting a second holder would orphan the first
        with every namespace in it."""
        path = self.layout.pid_file
        stored = _procs.identity_from_dict(rstate.load(path, rstate.holder_problem,
                                                       "the rootless holder's pid file",
                                                       HOLDER_ADVICE.replace("USER", self.user)))
        if stored is not None and _procs.is_ours(stored) and _userns.HOLDER_TAG in stored.cmdline:
            return stored
        running = _userns.find_holders(self.layout.netns_dir)
        if running:
            raise RootlessError(
                "the rootless holder's pid file %s %s, but the holder of %s runs as pid %s: "
                "restore the pid file, or stop that holder (its namespaces go with it). "
                "Nothing was changed." % (
                    path, "names pid %d, which is not the holder" % stored.pid if stored else "is missing",
                    self.layout.runtime, ", ".join(str(p.pid) for p in running)),
                path=path, pids=[p.pid for p in running])
        return None

    def ensure_holder(self) -> bool:
        """Join the holder, starting one when none is alive. True when started."""
        if self.joined:
            return False
        if self.check_mode:
            raise RootlessError("the rootless holder is not running (check mode cannot start it)")
        if not _userns.in_initial_userns():
            raise RootlessError("cannot start a rootless holder from inside a user namespace")
        ensure_private_dir(self.layout.base)
        remove_file(self.layout.pid_file)  # stale: its pid is not our holder (left alone)
        self.holder = _userns.start_holder(self.layout.netns_dir, self.layout.pid_file)
        _userns.join(self.holder.pid)
        self.joined = True
        self.changes.append("holder")
        return True

    def daemon_pid_ns(self) -> Optional[str]:
        """The holder's pid namespace, when it has one of its own (older holders do not):
        slirp4netns started there is the holder's to reap."""
        if not self.joined or self.holder is None or _userns.same_ns(self.holder.pid, "pid"):
            return None
        return "/proc/%d/ns/pid" % self.holder.pid

    # --- namespaces inside the holder ---
    def netns_status(self, path: str) -> str:
        if not self.joined and os.path.dirname(path) == os.path.realpath(self.layout.netns_dir):
            # without the holder no namespace of ours exists: a file is a leftover
            return "stale" if os.path.lexists(path) else "absent"
        return super().netns_status(path)

    def host_netns_reason(self, path: str) -> Optional[str]:
        """The host's and the module's own namespaces, and the rootless CNI netns itself
        (where the plugins run), are never a container's."""
        if path and os.path.normpath(path) == self.layout.cni_netns:
            return "the rootless CNI network namespace"
        what = super().host_netns_reason(path)
        if what is None and path and self.joined:
            key = _netns.ident(path)
            if key is not None and key == _netns.ident(self.layout.cni_netns):
                return "the rootless CNI network namespace"
        return what

    def create_netns(self, path: str) -> None:
        self.ensure_holder()
        super().create_netns(path)

    def pin_netns(self, pid: int, path: str) -> None:
        self.check_pid(pid)
        self.ensure_holder()
        super().pin_netns(pid, path)

    def check_pid(self, pid: int) -> None:
        """A rootless module can pin only the namespace of the user's own processes (its
        sub-ids included: the processes of its containers): say whose a pid is, rather
        than the kernel's refusal to open another user's /proc/PID/ns/net. (The user's own
        process in the host's namespace is refused by refuse_host_netns.)"""
        try:
            owner = os.stat("/proc/%d" % pid).st_uid
        except OSError:
            return  # gone: pid_netns says "no such process"
        mine = owner == os.geteuid()
        if not mine and _userns.in_initial_userns():
            ranges = _userns.subid_ranges("/etc/subuid", self.user, os.geteuid())
            mine = any(start <= owner < start + count for start, count in ranges)
        elif not mine:  # joined: whatever is mapped is the user's
            mine = owner != _userns.overflow_uid()
        if not mine:
            raise ValidationError("pid %d is not a process of %s (it belongs to uid %d): a rootless "
                                  "module can only pin the network namespace of the user's own "
                                  "processes" % (pid, self.user, owner), value=pid)

    def remove_netns(self, path: str) -> bool:
        self._refuse("remove", path, self.not_removable(path))
        self.removed_something = True
        if not self.joined:
            try:
                os.unlink(path)  # a leftover file: its mount died with the holder
                return True
            except FileNotFoundError:
                return False
            except OSError as exc:
                raise RootlessError("cannot remove %s: %s" % (path, exc.strerror), netns=path)
        return super().remove_netns(path)

    def bring_lo_up(self, path: str) -> bool:
        self.ensure_holder()
        return super().bring_lo_up(path)

    # --- CNI calls ---
    def call_cni(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run fn (which executes plugins) in a forked child inside the rootless CNI netns
        with the mount recipe; the namespace is built first when needed."""
        if not self.cni_ready:  # once per session: a batch makes many calls
            self.ensure_cni_ns()
            self.cni_ready = True
        return call_cni(self.layout, fn, *args, **kwargs)

    # --- attachments: host ports through slirp4netns ---
    def _attachments(self) -> Dict[str, Any]:
        data = rstate.load(self.layout.attachments, rstate.attachments_problem,
                           "the rootless attachments file", ATTACHMENTS_ADVICE)
        return data if data is not None else {}

    @staticmethod
    def _key(entry: cnicache.CacheEntry) -> str:
        return "\t".join(entry.key)

    def check_port_mappings(self, mappings: Any) -> None:
        """slirp4netns forwards TCP and UDP from IPv4 host addresses only: say so before
        anything is attached, not after the ADD (which would then be rolled back)."""
        slirp.check_forwardable(mappings)

    def attachment_added(self, entry: cnicache.CacheEntry) -> None:
        """Forward the attachment's host ports through slirp4netns and record them; on any
        failure the forwards added here are removed again (the port stays free)."""
        fwds = slirp.hostfwds(entry.capability_args.get("portMappings"))
        data = self._attachments()  # an unusable file stops this before any forward
        added: List[List[Any]] = []
        try:
            if fwds:
                slirp.add_hostfwds(self.layout.api_socket, self.running_options().net.guest, fwds,
                                   added=added, warn=self.warnings.append)
            data[self._key(entry)] = {"netns": entry.netns, "hostfwds": fwds}
            write_json(self.layout.attachments, data)
        except BaseException:
            try:
                self._remove_fwds(added)
            except PodnetError as exc:
                self.warnings.append("could not remove the ports just forwarded for %s: %s"
                                     % (entry.container_id, exc))
            raise

    def attachment_removed(self, entry: cnicache.CacheEntry) -> None:
        self.removed_something = True
        data = self._attachments()
        record = data.pop(self._key(entry), None)
        fwds = (record or {}).get("hostfwds") or slirp.hostfwds(entry.capability_args.get("portMappings"))
        if fwds and self.joined:
            try:
                self._remove_fwds(fwds)
            except PodnetError as exc:
                self.warnings.append("could not remove forwarded ports of %s: %s"
                                     % (entry.container_id, exc))
        if os.path.isdir(self.layout.rdir):
            write_json(self.layout.attachments, data)

    def _remove_fwds(self, fwds: Sequence[Sequence[Any]]) -> None:
        if not fwds or not os.path.exists(self.layout.api_socket):
            return
        health = self.slirp_health()[0]
        if health not in ("ok", "options"):
            return
        slirp.remove_hostfwds(self.layout.api_socket, fwds)
