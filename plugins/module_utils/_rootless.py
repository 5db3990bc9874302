# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rootless operation: the holder of the user's user+mount namespace, the rootless CNI
network namespace behind slirp4netns, the mount recipe every CNI call runs in, host
port forwarding through the slirp4netns API, and cleanup when nothing uses it.

Layout (R = $XDG_RUNTIME_DIR, default /run/user/UID):
  R/podnet/pause.pid              the holder's identity (pid, start time, cmdline; JSON)
  R/podnet/rootless-options.json  the options declared with rootless_cni_ns (every rebuild
                                  of the namespace uses them; they outlive the teardown)
  R/podnet/rootless.lock          serialises every change of the rootless namespaces
  R/netns/                        the user's named netns (rshared inside the holder)
  R/netns/rootless-cni-ns         the rootless CNI netns (slirp4netns, bridges, portmap)
  R/podnet/rootless-cni/          private dir of the CNI mount recipe:
      run/                        bound over /run in every CNI call (xtables.lock, dnsname)
      var/lib/cni/                bound over /var/lib/cni: host-local reservations and
                                  the default libcni cache of rootless mode (results/)
      resolv.conf                 slirp4netns DNS first, then the host's resolvers
      slirp4netns.json|.sock|.log its identity and options, API socket, log
      attachments.json            attachments made in the rootless netns and their
                                  forwarded host ports (re-added when slirp4netns restarts)
Everything is on the user's tmpfs, so it has the lifetime of the namespaces. Every
state file is checked when read (_rootless_state): one that is not ours stops the run.
"""
from __future__ import annotations

import os
import pwd
import select
import shutil
import stat
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _netns, _procs, _resolvconf
from ansible_collections.podnet.cni.plugins.module_utils import _rootless_state as rstate
from ansible_collections.podnet.cni.plugins.module_utils import _slirp4netns as slirp
from ansible_collections.podnet.cni.plugins.module_utils import _syscalls as sc
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni.exec import RuntimeConf
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import (
    PodnetError, RootlessError, ValidationError)
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import (
    ensure_private_dir, remove_file, write_json, write_private)
from ansible_collections.podnet.cni.plugins.module_utils._locking import file_lock
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C
from ansible_collections.podnet.cni.plugins.module_utils._pending import WHY, Pending

CNI_NETNS_NAME = "rootless-cni-ns"
HOLDER_TAG = "podnet-pause"
# The holder is the init of a pid namespace of its own: whatever the modules start from
# there (slirp4netns, dnsmasq) is reparented to it when its starter exits, and reaped at
# once (SIGCHLD ignored: the kernel reaps). It waits for a stop signal, race-free.
PAUSE_CODE = ("import signal\n"
              "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
              "stop = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}\n"
              "signal.pthread_sigmask(signal.SIG_BLOCK, stop)\n"
              "signal.sigwaitinfo(stop)\n")
PERSISTENT_CNI_DIR = "/var/lib/cni"
LOCK_TIMEOUT = C.LOCK_TIMEOUT


# --- the runtime dir ---

def in_initial_userns() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            first = f.readline().split()
    except OSError:
        return True
    return first[:3] == ["0", "0", "4294967295"]


def runtime_dir(uid: Optional[int] = None) -> str:
    """$XDG_RUNTIME_DIR (default /run/user/UID, as become leaves it unset), checked:
    it must exist, be a directory owned by the user and not open to others."""
    uid = os.geteuid() if uid is None else uid
    path = os.environ.get("XDG_RUNTIME_DIR") or "/run/user/%d" % uid
    hint = ("rootless mode needs the user's runtime directory, owned by the user with mode "
            "0700 (systemd-logind creates /run/user/UID at login; `loginctl enable-linger USER` "
            "keeps it; or set XDG_RUNTIME_DIR)")
    if not os.path.isabs(path):
        raise RootlessError("XDG_RUNTIME_DIR %r is not an absolute path: %s" % (path, hint), runtime_dir=path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise RootlessError("XDG_RUNTIME_DIR %s does not exist: %s" % (path, hint), runtime_dir=path)
    except OSError as exc:
        raise RootlessError("XDG_RUNTIME_DIR %s is not usable (%s): %s" % (path, exc.strerror, hint),
                            runtime_dir=path)
    if not stat.S_ISDIR(st.st_mode):
        raise RootlessError("XDG_RUNTIME_DIR %s is not a directory: %s" % (path, hint), runtime_dir=path)
    if st.st_uid != uid:
        raise RootlessError("XDG_RUNTIME_DIR %s is owned by uid %d, not by uid %d: %s"
                            % (path, st.st_uid, uid, hint), runtime_dir=path)
    if st.st_mode & 0o077:
        raise RootlessError("XDG_RUNTIME_DIR %s has mode %04o, it must be 0700: %s"
                            % (path, stat.S_IMODE(st.st_mode), hint), runtime_dir=path)
    return os.path.normpath(path)


def _overflow_uid() -> int:
    try:
        with open("/proc/sys/kernel/overflowuid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 65534


def default_config_dir(uid: Optional[int] = None) -> str:
    """podman's rootless CNI config dir: $XDG_CONFIG_HOME/cni/net.d, else
    ~/.config/cni/net.d of the user (its home from the password database: under become,
    HOME may still name the other user's)."""
    uid = os.geteuid() if uid is None else uid
    config_home = os.environ.get("XDG_CONFIG_HOME")
    if not config_home or not os.path.isabs(config_home):
        try:
            home = pwd.getpwuid(uid).pw_dir
        except KeyError:
            home = os.environ.get("HOME") or "/"
        config_home = os.path.join(home, ".config")
    return os.path.join(config_home, "cni", "net.d")


def nearest_existing(path: str) -> str:
    """path, or its nearest existing parent (a bind mount needs an existing target)."""
    while path != "/" and not os.path.exists(path):
        path = os.path.dirname(path)
    return path


class Layout:
    """Where the rootless pieces of one user live (see the module docstring)."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.base = os.path.join(runtime, "podnet")
        self.pid_file = os.path.join(self.base, "pause.pid")
        self.options_file = os.path.join(self.base, "rootless-options.json")
        self.lock_file = os.path.join(self.base, "rootless.lock")
        self.netns_dir = os.path.join(runtime, "netns")
        self.cni_netns = os.path.join(self.netns_dir, CNI_NETNS_NAME)
        self.rdir = os.path.join(self.base, "rootless-cni")
        self.slirp_file = os.path.join(self.rdir, "slirp4netns.json")
        self.api_socket = os.path.join(self.rdir, "slirp4netns.sock")
        self.slirp_log = os.path.join(self.rdir, "slirp4netns.log")
        self.resolv_conf = os.path.join(self.rdir, "resolv.conf")
        self.attachments = os.path.join(self.rdir, "attachments.json")
        self.var_target = nearest_existing(PERSISTENT_CNI_DIR)
        # the default libcni cache: /var/lib/cni inside the CNI mount recipe
        self.cache_dir = self.inner(PERSISTENT_CNI_DIR)

    def inner(self, path: str) -> str:
        """Where a path of the CNI mount namespace is, seen from outside it."""
        return os.path.join(self.rdir, path.lstrip("/"))


# --- process identity (uids compared in the caller's current view) ---

def _own_processes() -> Iterator[_procs.ProcessIdentity]:
    """Live processes of this user (uid in the current view), zombies excluded."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    uid = os.geteuid()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue
        except OSError:
            continue
        ident = _procs.process_identity(int(entry))
        if ident is not None and ident.uid == uid:
            yield ident


def _mount_points(pid: int) -> List[str]:
    try:
        with open("/proc/%d/mountinfo" % pid, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    return [line.split()[4] for line in lines if len(line.split()) > 4]


def find_holders(layout: "Layout") -> List[_procs.ProcessIdentity]:
    """Holders of this runtime dir that run, found by what they are rather than by the pid
    file: a podnet-pause of this user whose mount namespace has the netns dir mounted."""
    return [p for p in _own_processes()
            if p.cmdline[-1:] == [HOLDER_TAG] and "-c" in p.cmdline
            and layout.netns_dir in _mount_points(p.pid)]


def find_slirps(netns: str) -> List[_procs.ProcessIdentity]:
    """slirp4netns processes of this user serving netns (their command line names it)."""
    return [p for p in _own_processes() if slirp.is_slirp_of(p, netns)]


HOLDER_ADVICE = ("It records the holder process (podnet-pause) of this user; if none runs "
                 "(pgrep -u USER -f podnet-pause), remove the file, else restore it.")
SLIRP_ADVICE = ("It records the slirp4netns of the rootless CNI namespace; if none runs "
                "(pgrep -u USER slirp4netns), remove the file, else restore it.")
ATTACHMENTS_ADVICE = ("It lists the host ports slirp4netns forwards for each attachment; remove it "
                      "once the forwarded ports are gone (rootless_cni_ns state=absent force=true "
                      "stops slirp4netns), or restore it.")


# --- uid/gid maps of the holder ---

def subid_ranges(path: str, user: str, uid: int) -> List[Tuple[int, int]]:
    """(start, count) ranges of /etc/subuid or /etc/subgid for the user."""
    ranges = []
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) != 3 or fields[0] not in (user, str(uid)):
                    continue
                try:
                    start, count = int(fields[1]), int(fields[2])
                except ValueError:
                    continue
                if count > 0:
                    ranges.append((start, count))
    except OSError:
        return []
    return ranges


def map_args(own: int, ranges: Sequence[Tuple[int, int]]) -> List[str]:
    """newuidmap triples: 0 → own id, then the sub-ids from 1 on."""
    args = ["0", str(own), "1"]
    inner = 1
    for start, count in ranges:
        args += [str(inner), str(start), str(count)]
        inner += count
    return args


def id_mapping() -> Dict[str, Any]:
    """How the holder's user namespace is mapped: the full sub-id ranges via
    newuidmap/newgidmap when both are installed and configured, else root only."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/usr/sbin", "/bin", "/sbin"])
    tools = [shutil.which(t, path=search) for t in ("newuidmap", "newgidmap")]
    uranges = subid_ranges("/etc/subuid", user, uid)
    granges = subid_ranges("/etc/subgid", user, uid)
    if all(tools) and uranges and granges:
        return {"mode": "full", "newuidmap": tools[0], "newgidmap": tools[1],
                "uid_args": map_args(uid, uranges), "gid_args": map_args(gid, granges)}
    return {"mode": "root-only", "uid": uid, "gid": gid}


def _write_maps(pid: int, mapping: Dict[str, Any]) -> None:
    if mapping["mode"] == "full":
        for tool, args in ((mapping["newuidmap"], mapping["uid_args"]),
                           (mapping["newgidmap"], mapping["gid_args"])):
            proc = subprocess.run([tool, str(pid)] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, check=False, timeout=30)
            if proc.returncode != 0:
                raise RootlessError("%s failed: %s" % (os.path.basename(tool),
                                                       proc.stdout.decode("utf-8", "replace").strip()))
        return
    try:
        with open("/proc/%d/setgroups" % pid, "w") as f:
            f.write("deny")
        with open("/proc/%d/uid_map" % pid, "w") as f:
            f.write("0 %d 1\n" % mapping["uid"])
        with open("/proc/%d/gid_map" % pid, "w") as f:
            f.write("0 %d 1\n" % mapping["gid"])
    except OSError as exc:
        raise RootlessError("cannot write the uid/gid map of the holder: %s" % exc)


def _make_shared_dir(path: str) -> None:
    """Bind path on itself and make it rshared (netns mounts made there reach every
    mount namespace copied from the holder's later, like ``ip netns`` does)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    sc.mount("", path, None, sc.MS_SHARED | sc.MS_REC)


def start_holder(layout: Layout) -> _procs.ProcessIdentity:
    """Start the holder: a pause process in a new user+mount+pid namespace (its init),
    mapped by its parent (the caller) while it waits, with the netns dir made rshared
    inside."""
    mapping = id_mapping()
    sync_r, sync_w = os.pipe()
    go_r, go_w = os.pipe()
    open_fds = {sync_r, sync_w, go_r, go_w}

    def close(fd: int) -> None:
        if fd in open_fds:
            open_fds.discard(fd)
            os.close(fd)

    def preexec() -> None:  # in the holder, before exec (the namespaces exist: see below)
        os.close(sync_r)
        os.close(go_w)
        os.write(sync_w, b"u")
        if os.read(go_r, 1) != b"g":
            raise RootlessError("the parent did not map the user namespace")
        _make_shared_dir(layout.netns_dir)

    def on_spawn(pid: int) -> None:  # in the caller while the holder waits
        close(sync_w)
        close(go_r)
        ready = select.select([sync_r], [], [], 10.0)[0]
        if not ready or os.read(sync_r, 1) != b"u":
            raise RootlessError("the holder did not create its user namespace")
        _write_maps(pid, mapping)
        os.write(go_w, b"g")

    try:
        ident = _procs.start_daemon(
            lambda fd: [sys.executable, "-I", "-S", "-c", PAUSE_CODE, HOLDER_TAG],
            use_ready_fd=False, preexec=preexec, on_spawn=on_spawn, what="rootless holder",
            unshare_flags=sc.CLONE_NEWUSER | sc.CLONE_NEWNS | sc.CLONE_NEWPID)
    except _procs.ChildFailure as exc:
        raise RootlessError(str(exc))
    finally:
        for fd in list(open_fds):
            close(fd)
    try:
        write_json(layout.pid_file, dict(_procs.identity_to_dict(ident), map=mapping["mode"]))
    except BaseException:
        _procs.terminate(ident, same=_procs.is_ours)  # unrecorded, it could never be found again
        raise
    return ident


def _same_ns(pid: int, kind: str) -> bool:
    try:
        a = os.stat("/proc/self/ns/%s" % kind)
        b = os.stat("/proc/%d/ns/%s" % (pid, kind))
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def join(pid: int) -> None:
    """setns into the holder's user then mount namespace (the process must be
    single-threaded); re-chdir afterwards (joining a mount ns resets the cwd)."""
    if _same_ns(pid, "user") and _same_ns(pid, "mnt"):
        return
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = 1
    if threads != 1:
        raise RootlessError("cannot join the rootless namespaces: this process has %d threads "
                            "(join before anything starts threads)" % threads)
    try:
        cwd: Optional[str] = os.getcwd()
    except OSError:
        cwd = None
    fds = []
    try:
        fds = [os.open("/proc/%d/ns/%s" % (pid, kind), os.O_RDONLY | os.O_CLOEXEC)
               for kind in ("user", "mnt")]
        sc.setns(fds[0], sc.CLONE_NEWUSER)
        sc.setns(fds[1], sc.CLONE_NEWNS)
    except OSError as exc:
        raise RootlessError("cannot join the rootless holder (pid %d): %s" % (pid, exc), pid=pid)
    finally:
        for fd in fds:
            os.close(fd)
    try:
        os.chdir(cwd or "/")
    except OSError:
        os.chdir("/")


def rootless_lock(path: str, timeout: float = LOCK_TIMEOUT):
    """An exclusive flock on path that survives the file being removed by a teardown."""
    return file_lock(path, timeout, survive_unlink=True, what="the rootless lock")


# --- the CNI mount recipe (in a forked child) ---

def resolv_conf_target() -> str:
    """/etc/resolv.conf, or the first target of its symlink chain under /run/ (the kernel
    follows symlinks when mounting; only the first /run/ link exists in the recipe)."""
    path = "/etc/resolv.conf"
    for _depth in range(255):
        try:
            link = os.readlink(path)
        except OSError:
            return path
        path = os.path.normpath(os.path.join(os.path.dirname(path), link))
        if path.startswith("/run/"):
            return path
    raise RootlessError("too many symlinks while resolving /etc/resolv.conf")


def _bind(source: str, target: str, recursive: bool = False) -> None:
    sc.mount(source, target, None, sc.MS_BIND | (sc.MS_REC if recursive else 0))


def _mkdir_target(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)


def enter_cni_recipe(layout: Layout, netns_path: str) -> None:
    """In a forked child of a process that joined the holder: enter the rootless CNI netns
    and build podman v3's mount namespace for the plugins (order matters):
      1. R/netns → rdir/R/netns (the namespaces stay reachable under the new /run)
      2. /run/systemd → rdir/run/systemd
      3. rdir/resolv.conf → /etc/resolv.conf (or its first /run/ symlink target)
      4. rdir/var/lib/cni → /var/lib/cni (or its nearest existing parent)
      5. rdir/run → /run (recursive: keeps 1–3)
    and /usr/sbin on PATH (plugins exec iptables)."""
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, sc.CLONE_NEWNET)
    finally:
        os.close(fd)
    sc.private_mount_ns()  # never let a mount made here reach the holder's namespace
    if layout.netns_dir.startswith("/run/"):
        target = layout.inner(layout.netns_dir)
        _mkdir_target(target)
        _bind(layout.netns_dir, target, recursive=True)
    if os.path.isdir("/run/systemd"):
        target = layout.inner("/run/systemd")
        _mkdir_target(target)
        _bind("/run/systemd", target, recursive=True)
    resolv_target = resolv_conf_target()
    if os.path.exists(layout.resolv_conf):
        if resolv_target.startswith("/run/"):
            if resolv_target.startswith("/run/systemd/resolve/"):
                # systemd-resolved recreates its file: isolate the dir (podman #10929)
                rsr = layout.inner("/run/systemd/resolve")
                _mkdir_target(rsr)
                sc.mount("tmpfs", rsr, "tmpfs", sc.MS_NOEXEC | sc.MS_NOSUID | sc.MS_NODEV)
            resolv_target = layout.inner(resolv_target)
            _mkdir_target(os.path.dirname(resolv_target))
            os.close(os.open(resolv_target, os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o600))
        if os.path.exists(resolv_target):
            _bind(layout.resolv_conf, resolv_target)
    var_dir = layout.inner(layout.var_target)
    _mkdir_target(var_dir)
    _bind(var_dir, layout.var_target)
    run_dir = layout.inner("/run")
    _mkdir_target(run_dir)
    _bind(run_dir, "/run", recursive=True)
    path = os.environ.get("PATH", "")
    if "/usr/sbin" not in path.split(":"):
        os.environ["PATH"] = (path + ":" if path else "") + "/usr/sbin:/sbin"
    os.chdir("/")


def _rootless_runtime_conf(rt: RuntimeConf) -> RuntimeConf:
    """The RuntimeConf the plugins get rootless: port mappings without hostIP, since
    slirp4netns binds the host address and delivers to the namespace's own address,
    where portmap's DNAT must match (the cache keeps what the user asked)."""
    pms = rt.capability_args.get("portMappings")
    if not pms:
        return rt
    caps = dict(rt.capability_args)
    caps["portMappings"] = [{k: v for k, v in pm.items() if k != "hostIP"} if isinstance(pm, dict) else pm
                            for pm in pms]
    return RuntimeConf(rt.container_id, rt.netns, rt.ifname, rt.args, caps)


def hostfwds_of(port_mappings: Any) -> List[List[Any]]:
    """[proto, host_addr, host_port] for each CNI portMapping (ranges already expanded)."""
    out = []
    for pm in port_mappings or []:
        if not isinstance(pm, dict) or "hostPort" not in pm:
            continue
        proto = str(pm.get("protocol", "tcp")).lower()
        out.append([proto, slirp.hostfwd_host_addr(pm.get("hostIP")), int(pm["hostPort"])])
    return out


class RootlessContext(HostContext):
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
        if os.geteuid() == 0 and in_initial_userns():
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
                join(self.holder.pid)
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
        if stored is not None and _procs.is_ours(stored) and HOLDER_TAG in stored.cmdline:
            return stored
        running = find_holders(self.layout)
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
        if not in_initial_userns():
            raise RootlessError("cannot start a rootless holder from inside a user namespace")
        ensure_private_dir(self.layout.base)
        remove_file(self.layout.pid_file)  # stale: its pid is not our holder (left alone)
        self.holder = start_holder(self.layout)
        join(self.holder.pid)
        self.joined = True
        self.changes.append("holder")
        return True

    def daemon_pid_ns(self) -> Optional[str]:
        """The holder's pid namespace, when it has one of its own (older holders do not):
        slirp4netns started there is the holder's to reap."""
        if not self.joined or self.holder is None or _same_ns(self.holder.pid, "pid"):
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
        if not mine and in_initial_userns():
            ranges = subid_ranges("/etc/subuid", self.user, os.geteuid())
            mine = any(start <= owner < start + count for start, count in ranges)
        elif not mine:  # joined: whatever is mapped is the user's
            mine = owner != _overflow_uid()
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

    # --- the rootless CNI netns and slirp4netns ---
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
        idents = [_procs.identity_from_dict(state)] + find_slirps(self.layout.cni_netns)
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

    # --- CNI calls ---
    def call_cni(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run fn (which executes plugins) in a forked child inside the rootless CNI netns
        with the mount recipe; the namespace is built first when needed."""
        if not self.cni_ready:  # once per session: a batch makes many calls
            self.ensure_cni_ns()
            self.cni_ready = True
        layout = self.layout
        args = tuple(_rootless_runtime_conf(a) if isinstance(a, RuntimeConf) else a for a in args)

        def prepare() -> None:
            enter_cni_recipe(layout, layout.cni_netns)
        return _procs.run_in_child(fn, *args, prepare=prepare, **kwargs)

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
        fwds = hostfwds_of(entry.capability_args.get("portMappings"))
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
        fwds = (record or {}).get("hostfwds") or hostfwds_of(entry.capability_args.get("portMappings"))
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
            pids = [p.pid for p in [ident] + find_slirps(layout.cni_netns)
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
        return [p for p in _own_processes()
                if p.cmdline and os.path.basename(p.cmdline[0]) == "slirp4netns"
                and self.layout.cni_netns not in p.cmdline
                and any(a.startswith(prefix) for a in p.cmdline)]

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


# --- the rootless_cni_ns module ---

def _view(ctx: RootlessContext, declared: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """What exists now, for the diff."""
    joined = ctx.joined
    netns_up = joined and _netns.status(ctx.layout.cni_netns) == "mounted"
    health, state = ctx.slirp_health() if netns_up else ("dead", ctx.slirp_state())
    try:
        with open(ctx.layout.resolv_conf) as f:
            resolv: Optional[str] = f.read()
    except OSError:
        resolv = None
    return {"holder": joined, "netns": ctx.layout.cni_netns if netns_up else None,
            "slirp4netns": (state or {}).get("options") if health in ("ok", "options") else None,
            "resolv_conf": resolv, "options": declared}


def _saved_options(ctx: RootlessContext) -> Optional[Dict[str, Any]]:
    """The declared options on disk; an unusable file is replaced (said in a warning)."""
    try:
        return ctx.declared_options()
    except RootlessError as exc:
        ctx.warnings.append("the rootless options file %s cannot be used (%s): it is replaced with "
                            "the options of this task" % (ctx.layout.options_file,
                                                          exc.details.get("reason")))
        return {"unusable": exc.details.get("reason")}


def manage(ctx: HostContext, params: Dict[str, Any], check_mode: bool, diff: bool) -> Dict[str, Any]:
    """rootless_cni_ns: plan, then (outside check mode) make it so.

    present also declares the options: they are saved (0600, validated when read) and
    every later rebuild of the namespace uses them, on demand too."""
    if not isinstance(ctx, RootlessContext):
        raise ValidationError("rootless_cni_ns manages the namespace of an unprivileged user: run it "
                              "as that user (become_user) and do not set rootless: false")
    state = params.get("state") or "present"
    declared = rstate.declared_options(params)
    binary: Optional[str] = None
    features: Dict[str, bool] = {}
    opts = rstate.slirp_options(declared, features)
    if state == "present":
        binary = slirp.find_binary(declared["path"])
        features = slirp.detect_features(binary)
        opts = rstate.slirp_options(declared, features)
        # unsupported options fail here, before anything changes
        slirp.build_args(binary, features, opts, ctx.layout.cni_netns, ctx.layout.api_socket, 3)
    with ctx.session(check_mode=check_mode):
        saved = _saved_options(ctx) if state == "present" else None
        before = _view(ctx, saved)
        attachments = ctx.attachment_count()
        if state == "present":
            if check_mode:
                actions = ctx.plan_cni_ns(opts, binary)
            else:
                actions = ctx.ensure_cni_ns(opts, binary, features)
            if saved != declared:
                if not check_mode:
                    rstate.save_options(ctx.layout.options_file, declared)
                actions.append({"action": "save_options", "path": ctx.layout.options_file})
            after = {"holder": True, "netns": ctx.layout.cni_netns, "slirp4netns": opts.to_dict(),
                     "resolv_conf": ctx.resolv_conf_text(opts), "options": declared}
        else:
            force = bool(params.get("force"))
            if attachments and not force:
                raise RootlessError("the rootless CNI namespace still has %d attachment(s): detach "
                                    "them first or set force: true" % attachments,
                                    attachments=attachments)
            actions = ctx.teardown(dry_run=check_mode, force=bool(attachments))
            if attachments and actions:
                ctx.warnings.append(_forced_warning(ctx, attachments, actions))
            after = {"holder": before["holder"] and not any(a["action"] == "stop_holder" for a in actions),
                     "netns": None, "slirp4netns": None, "resolv_conf": None, "options": None}
        present = state == "present"
        pid = ctx.slirp_pid() if present else None
        result: Dict[str, Any] = {
            "changed": bool(actions), "actions": actions,
            "netns": ctx.layout.cni_netns if present else None,
            "slirp4netns_pid": pid,
            "dns": opts.net.dns,
            "addresses": opts.net.to_dict(),
            "resolv_conf": ctx.layout.resolv_conf if present else None,
            "features": features,
            "options": declared if present else None,
            "attachments": attachments,
            "warnings": ctx.warnings,
        }
    if diff:
        result["diff"] = {"before": before, "after": after}
    return result


def _forced_warning(ctx: RootlessContext, attachments: int, actions: List[Dict[str, Any]]) -> str:
    gone = [ns for a in actions if a["action"] == "stop_holder" for ns in a.get("namespaces", [])]
    text = ("%d attachment(s) lost their interfaces with the rootless CNI namespace; their libcni "
            "cache entries and IP reservations remain in %s: container_netns state=present builds "
            "such a container again, state=absent (or cni_attachment state=absent) releases it"
            % (attachments, ctx.layout.inner("/var")))
    if gone:
        text += "; the holder was stopped, with the namespaces %s" % ", ".join(gone)
    return text
