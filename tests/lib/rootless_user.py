# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real unprivileged user for the rootless tests, created here and removed afterwards:
useradd (+ sub-ids), /run/user/UID owned 0700, /dev/net/tun 0666 for the duration.
Modules run as that user through ansible (become_method su) and directly (runuser), with
the distribution's interpreter and never from the checkout, which the user may not reach
(tests/lib/unprivileged.py).

Areas name their users with their own prefix (``pnr`` the rootless tests, ``pnq`` the
rootless-safety tests, ``pnl`` the rootless reload test, ``pnb`` the state-security tests,
``pnp`` the role tests). A user goes the way the leftover guard removes one a killed run
left (leftovers' _remove_user: its processes, the user, /run/user/UID, its sub-ids)."""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

import pidtree
from leftovers import _remove_user as remove_user  # noqa: F401 - one way to remove a test user
from podnet_testlib import ANSIBLE, BUILD
from unprivileged import USER_PYTHON, UserTree

PREFIX = "pnr"
SUBID_BASE = 3100000  # only used when useradd did not allocate sub-ids itself


def _run(argv: List[str], **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, **kw)


def needs() -> Optional[str]:
    if os.geteuid() != 0:
        return "needs root (creates a test user)"
    for tool in ("useradd", "userdel", "runuser", "su", "nsenter", "slirp4netns", "busybox"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            return "needs %s" % tool
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    return None


class RootlessUser:
    def __init__(self, name: str, tmp: str, tree: UserTree) -> None:
        self.name = name
        self.tree = tree
        pw = pwd.getpwnam(name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.runtime = "/run/user/%d" % self.uid
        self.tmp = tmp

    # --- running modules ---
    def ansible(self, module: str, args: Dict[str, Any], check: bool = False,
                diff: bool = False) -> Dict[str, Any]:
        """The module through ansible, become su to the user; its result dict."""
        argv = [ANSIBLE, "localhost", "-c", "local", "-i", "localhost,", "-m", "podnet.cni." + module,
                "-a", json.dumps(args), "-e", "ansible_python_interpreter=%s" % USER_PYTHON,
                "--become", "--become-user", self.name, "--become-method", "su"]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=BUILD, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
                   ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
        env.pop("XDG_RUNTIME_DIR", None)
        proc = _run(argv, env=env, cwd=self.tmp)
        out = proc.stdout.decode()
        try:
            head = out.index("localhost | ")
            data = json.loads(out[out.index("{", head):])
            if out[head:].startswith("localhost | FAILED"):
                data["failed"] = True  # the minimal callback says so in the header only
            return data
        except ValueError:
            raise AssertionError("ansible gave no result (rc=%d):\n%s\n%s"
                                 % (proc.returncode, out[-3000:], proc.stderr.decode()[-3000:]))

    def direct(self, module: str, args: Dict[str, Any], check: bool = False, diff: bool = False,
               env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """The module run by the user's python with an args file (no ansible), from the
        session's copy of the collection (the user may not reach the checkout)."""
        params = dict(args)
        params["_ansible_check_mode"] = check
        params["_ansible_diff"] = diff
        path = os.path.join(self.tmp, "args-%s.json" % secrets.token_hex(4))
        with open(path, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": params}, f)
        os.chmod(path, 0o644)
        environ = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.tmp, "LANG": "C.UTF-8"}
        environ.update(self.tree.env())
        environ.update(env or {})
        argv = ["runuser", "-u", self.name, "--", "env", "-i"] + \
            ["%s=%s" % kv for kv in sorted(environ.items())] + self.tree.module_argv(module, path)
        proc = _run(argv, cwd=self.tmp)
        os.unlink(path)
        try:
            data = json.loads(proc.stdout.decode())
            if "changed" not in data and "failed" not in data:
                raise ValueError("not a module result")
            return data
        except ValueError:
            raise AssertionError("module gave no JSON (rc=%d):\n%s\n%s"
                                 % (proc.returncode, proc.stdout.decode()[-3000:],
                                    proc.stderr.decode()[-3000:]))

    # --- looking inside ---
    def state(self, name: str) -> Optional[Dict[str, Any]]:
        path = {"holder": os.path.join(self.runtime, "podnet", "pause.pid"),
                "slirp": os.path.join(self.runtime, "podnet", "rootless-cni", "slirp4netns.json")}[name]
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def state_path(self, name: str) -> str:
        return {"holder": os.path.join(self.runtime, "podnet", "pause.pid"),
                "slirp": os.path.join(self.runtime, "podnet", "rootless-cni", "slirp4netns.json")}[name]

    def holder_pid(self) -> int:
        data = self.state("holder")
        assert data, "no holder recorded"
        return int(data["pid"])

    def netns_path(self, name: str) -> str:
        return os.path.join(self.runtime, "netns", name)

    def in_netns(self, netns: str, argv: List[str], **kw: Any) -> subprocess.Popen:
        """A process in one of the user's namespaces (joined through the holder)."""
        return subprocess.Popen(["nsenter", "-t", str(self.holder_pid()), "-U", "-m", "--",
                                 "nsenter", "--net=%s" % netns, "--"] + argv, **kw)

    def run_in_netns(self, netns: str, argv: List[str], timeout: float = 10) -> str:
        proc = self.in_netns(netns, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.communicate(timeout=timeout)[0]
        return out.decode()

    def processes(self) -> List[Dict[str, Any]]:
        """The user's live processes of our pid namespace tree (pidtree: a container's user
        of the same uid is not this one; zombies of reparented daemons excluded: pid 1 here
        reaps late)."""
        out = []
        for pid in pidtree.user_pids(self.uid):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            out.append({"pid": pid, "cmdline": cmd})
        return out

    def mounts(self) -> List[str]:
        """Mount points under the user's runtime dir in any mount namespace of our pid
        namespace tree's processes (pidtree: not a container's user of the same uid)."""
        found = set()
        for entry in pidtree.tree_pids(self.uid, any_owner=True):
            try:
                with open("/proc/%s/mountinfo" % entry) as f:
                    for line in f:
                        if self.runtime + "/" in line or (" %s " % self.runtime) in line:
                            found.add(line.split()[4])
            except OSError:
                continue
        return sorted(found)

    def spawn_as_user(self, argv: List[str]) -> subprocess.Popen:
        def demote() -> None:
            os.setgid(self.gid)
            os.setgroups([])
            os.setuid(self.uid)
        return subprocess.Popen(argv, preexec_fn=demote, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)


def add_user(name: str, home: str, subids: bool = True) -> pwd.struct_passwd:
    """useradd NAME (home HOME, not created; /bin/sh); without ``subids`` useradd allocates
    no sub-ids (SUB_UID_COUNT=0)."""
    argv = ["useradd", "-M", "-d", home, "-s", "/bin/sh"]
    if not subids:
        argv += ["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]
    res = _run(argv + [name])
    assert res.returncode == 0, res.stderr.decode()
    return pwd.getpwnam(name)


def _ensure_subids(name: str) -> None:
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                if any(line.split(":")[0] == name for line in f):
                    continue
        except FileNotFoundError:
            pass
        with open(path, "a") as f:
            f.write("%s:%d:65536\n" % (name, SUBID_BASE + secrets.randbelow(100) * 65536))


@contextmanager
def rootless_user(prefix: str, tree: UserTree) -> Iterator[RootlessUser]:
    """A real user <prefix><random> (sub-ids, /run/user/UID 0700, /dev/net/tun 0666 while
    it exists), running modules from ``tree``; afterwards its processes are killed and
    everything of it removed."""
    name = "%s%s" % (prefix, secrets.token_hex(3))
    tmp = tempfile.mkdtemp(prefix=name + "-", dir="/tmp")
    os.chmod(tmp, 0o755)  # the user reads its config files here
    tun_mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
    made_run_user = not os.path.isdir("/run/user")
    add_user(name, tmp)
    try:
        _ensure_subids(name)
        user = RootlessUser(name, tmp, tree)
        os.makedirs("/run/user", mode=0o755, exist_ok=True)
        os.mkdir(user.runtime, 0o700)
        os.chown(user.runtime, user.uid, user.gid)
        os.chmod("/dev/net/tun", 0o666)
        yield user
    finally:
        remove_user(name)
        os.chmod("/dev/net/tun", tun_mode)
        shutil.rmtree(tmp, ignore_errors=True)
        if made_run_user:
            try:
                os.rmdir("/run/user")
            except OSError:
                pass
