# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the rootless pieces of one user live (``Layout``), and how a CNI call runs among
them: in a forked child of a process that joined the holder, inside the rootless CNI netns,
in podman v3's mount recipe, with the port mappings slirp4netns delivers.

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
import stat
from typing import Any, Callable, Optional

from ansible_collections.podnet.cni.plugins.module_utils import _procs
from ansible_collections.podnet.cni.plugins.module_utils import _syscalls as sc
from ansible_collections.podnet.cni.plugins.module_utils._cni.exec import RuntimeConf
from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError

CNI_NETNS_NAME = "rootless-cni-ns"
PERSISTENT_CNI_DIR = "/var/lib/cni"


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


def call_cni(layout: Layout, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """fn (which executes plugins) in a forked child inside the rootless CNI netns, in the
    mount recipe; a RuntimeConf argument is given the rootless port mappings."""
    args = tuple(_rootless_runtime_conf(a) if isinstance(a, RuntimeConf) else a for a in args)

    def prepare() -> None:
        enter_cni_recipe(layout, layout.cni_netns)
    return _procs.run_in_child(fn, *args, prepare=prepare, **kwargs)
