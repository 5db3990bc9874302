# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security of the state: records, cache and locks are 0600 in 0700 dirs; state paths
that are symlinks are refused (nothing is written through them, nothing changes); an
unprivileged user can neither read nor change root's records, nor use another user's
namespace. The users are real (useradd), named pnb…, removed afterwards."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile

import pytest

import pnb_env
import rootless_user
from unprivileged import USER_PYTHON


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def pnb(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    # a world-traversable base (pytest's own tmp is 0700): any denial the users meet
    # must come from the modes of our state, not from the test's directory
    base = tempfile.mkdtemp(prefix="pnb-sec-", dir="/tmp")
    os.chmod(base, 0o755)
    env = pnb_env.PnbEnv(base)
    try:
        yield env
    finally:
        env.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def _present(pnb, cid, net, **kw):
    args = pnb.common(container_id=cid, netns=cid, networks=[net],
                      port_mappings=[{"host_port": pnb.port(), "container_port": 80}])
    args.update(kw)
    return args


def test_state_and_cache_files_are_0600_in_0700_dirs(pnb):
    net = pnb.network("m")["name"]
    cid = pnb.cid("m1")
    res = pnb.run("container_netns", _present(pnb, cid, net))
    assert not res.get("failed"), res
    dirs = [pnb.state_dir, os.path.join(pnb.state_dir, "containers"), os.path.join(pnb.cache_dir, "results")]
    dirs += [d for d in (os.path.join(pnb.state_dir, "locks"), os.path.join(pnb.state_dir, "pending"))
             if os.path.isdir(d)]
    files = [os.path.join(pnb.state_dir, "containers", "%s.json" % cid)]
    files += [os.path.join(pnb.cache_dir, "results", f) for f in os.listdir(os.path.join(pnb.cache_dir, "results"))]
    if os.path.isdir(os.path.join(pnb.state_dir, "locks")):
        files += [os.path.join(pnb.state_dir, "locks", f) for f in os.listdir(os.path.join(pnb.state_dir, "locks"))]
    assert len(files) >= 2
    bad = ["%s %o" % (d, _mode(d)) for d in dirs if _mode(d) != 0o700]
    bad += ["%s %o" % (f, _mode(f)) for f in files if _mode(f) != 0o600]
    assert not bad, "wrong modes: %s" % bad
    for p in dirs + files:
        assert os.lstat(p).st_uid == 0
    assert not pnb.run("container_netns", pnb.common(container_id=cid, netns=cid, state="absent")).get("failed")


def _victim(pnb):
    path = os.path.join(pnb.tmp, "victim")
    with open(path, "w") as f:
        f.write("precious\n")
    os.chmod(path, 0o644)
    return path


def _plant(kind, pnb, cid, net, victim):
    """A symlink where the module will read or write state."""
    if kind == "record":
        d = os.path.join(pnb.state_dir, "containers")
        os.makedirs(d, mode=0o700)
        os.chmod(pnb.state_dir, 0o700)
        path = os.path.join(d, "%s.json" % cid)
    elif kind == "containers-dir":
        os.makedirs(pnb.state_dir, mode=0o700)
        os.makedirs(os.path.join(pnb.tmp, "elsewhere"))
        path = os.path.join(pnb.state_dir, "containers")
        os.symlink(os.path.join(pnb.tmp, "elsewhere"), path)
        return path
    elif kind == "cache-entry":
        d = os.path.join(pnb.cache_dir, "results")
        os.makedirs(d, mode=0o700)
        os.chmod(pnb.cache_dir, 0o700)
        path = os.path.join(d, "%s-%s-eth0" % (net, cid))
    elif kind == "lock":
        d = os.path.join(pnb.state_dir, "locks")
        os.makedirs(d, mode=0o700)
        os.chmod(pnb.state_dir, 0o700)
        path = os.path.join(d, "%s.lock" % cid)
    elif kind == "state-dir":
        os.makedirs(os.path.join(pnb.tmp, "elsewhere"))
        os.symlink(os.path.join(pnb.tmp, "elsewhere"), pnb.state_dir)
        return pnb.state_dir
    os.symlink(victim, path)
    return path


@pytest.mark.parametrize("kind", ["state-dir", "containers-dir", "record", "cache-entry", "lock"])
def test_symlinked_state_paths_are_refused(pnb, kind):
    net = pnb.network("s")["name"]
    cid = pnb.cid("s1")
    victim = _victim(pnb)
    link = _plant(kind, pnb, cid, net, victim)
    before = pnb.snapshot()
    res = pnb.run("container_netns", _present(pnb, cid, net))
    assert res.get("failed"), "a symlinked %s was used: %s" % (kind, json.dumps(res)[:1500])
    msg = res["msg"]
    assert "unexpected error" not in msg, msg
    assert link in msg or os.path.basename(link) in msg, msg
    with open(victim) as f:
        assert f.read() == "precious\n"
    assert _mode(victim) == 0o644
    if os.path.isdir(os.path.join(pnb.tmp, "elsewhere")):
        assert os.listdir(os.path.join(pnb.tmp, "elsewhere")) == []
    after = pnb.snapshot()
    for key in ("cache", "records"):   # the planted link itself may show up as unreadable
        before.pop(key, None)
        after.pop(key, None)
    pnb_env.assert_same(before, after, "after refusing a symlinked %s" % kind)


# --- unprivileged users ---

def _make_user(tmp):
    name = "pnb%s" % secrets.token_hex(3)
    pw = rootless_user.add_user(name, tmp)
    return name, pw.pw_uid, pw.pw_gid


def _as_user(name, argv, env=None):
    """argv as user name: the distribution's python, never the checkout (the user may not
    reach it; tests/lib/unprivileged.py)."""
    environ = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}
    environ.update(env or {})
    return subprocess.run(["runuser", "-u", name, "--", "env", "-i"]
                          + ["%s=%s" % kv for kv in sorted(environ.items())] + list(argv),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=False)


def _module_as_user(pnb, tree, name, module, args, env=None):
    path = pnb.args_file(args)
    os.chmod(pnb.args_dir, 0o755)
    os.chmod(path, 0o644)
    proc = _as_user(name, tree.module_argv(module, path), dict(tree.env(), **(env or {})))
    return pnb_env.parse_module_output(proc.stdout)


@pytest.fixture
def users(pnb):
    if shutil.which("runuser") is None or shutil.which("useradd") is None:
        pytest.skip("needs useradd and runuser")
    os.chmod(pnb.tmp, 0o755)
    made = []
    try:
        for dummy in range(2):
            name, uid, gid = _make_user(pnb.tmp)
            made.append((name, uid, gid))
        yield made
    finally:
        for name, dummy, dummy in made:
            rootless_user.remove_user(name)


def test_user_cannot_read_or_change_roots_records(pnb, users, user_tree):
    net = pnb.network("u")["name"]
    cid = pnb.cid("u1")
    res = pnb.run("container_netns", _present(pnb, cid, net))
    assert not res.get("failed"), res
    record = os.path.join(pnb.state_dir, "containers", "%s.json" % cid)
    entry = os.path.join(pnb.cache_dir, "results", os.listdir(os.path.join(pnb.cache_dir, "results"))[0])
    with open(record, "rb") as f:
        rec_before = f.read()
    name = users[0][0]
    for path in (record, entry, os.path.join(pnb.state_dir, "containers")):
        proc = _as_user(name, [USER_PYTHON, "-c", "import os,sys\n"
                               "p=sys.argv[1]\n"
                               "os.listdir(p) if os.path.isdir(p) else open(p).read()", path])
        assert proc.returncode != 0 and b"PermissionError" in proc.stderr, (path, proc.stderr.decode()[-500:])
    before = pnb.snapshot()
    # the module as that user, aimed at root's state and cache: refused, nothing changes
    for state in ("absent", "present"):
        args = pnb.common(container_id=cid, netns=cid, networks=[net] if state == "present" else [],
                          state=state, rootless=False)
        res = _module_as_user(pnb, user_tree, name, "container_netns", args)
        assert res.get("failed"), res
    with open(record, "rb") as f:
        assert f.read() == rec_before
    pnb_env.assert_same(before, pnb.snapshot(), "after an unprivileged user aimed at root's state")
    assert not pnb.run("container_netns", pnb.common(container_id=cid, netns=cid, state="absent")).get("failed")


def test_user_cannot_use_another_users_namespace(pnb, users, user_tree):
    """User A has a rootless container namespace; user B cannot attach it, detach it or
    read its records."""
    (a, uid_a, gid_a), (b, uid_b, gid_b) = users
    for uid, gid in ((uid_a, gid_a), (uid_b, gid_b)):
        os.makedirs("/run/user", mode=0o755, exist_ok=True)
        os.mkdir("/run/user/%d" % uid, 0o700)
        os.chown("/run/user/%d" % uid, uid, gid)
    tun = stat.S_IMODE(os.stat("/dev/net/tun").st_mode) if os.path.exists("/dev/net/tun") else None
    if tun is None:
        pytest.skip("no /dev/net/tun: slirp4netns cannot run")
    os.chmod("/dev/net/tun", 0o666)
    try:
        conf_dir = os.path.join(pnb.tmp, "user-a-net.d")
        os.makedirs(conf_dir)
        conf = pnb.network("ua", write=False)
        for p in conf["plugins"]:
            p.get("ipam", {}).pop("dataDir", None)
        pnb_env.T.write_conflist(conf_dir, conf)
        os.chmod(conf_dir, 0o755)
        env_a = {"XDG_RUNTIME_DIR": "/run/user/%d" % uid_a, "HOME": pnb.tmp}
        res = _module_as_user(pnb, user_tree, a, "rootless_cni_ns", {"state": "present"}, env_a)
        assert not res.get("failed"), "rootless_cni_ns as %s: %s" % (a, res)
        cid = pnb.cid("ua1")
        res = _module_as_user(pnb, user_tree, a, "container_netns",
                              {"container_id": cid, "networks": [conf["name"]], "cni_config_dir": conf_dir},
                              env_a)
        assert not res.get("failed"), "container_netns as %s: %s" % (a, res)
        ns_a = res["netns"]
        state_a = "/run/user/%d/podnet" % uid_a
        env_b = {"XDG_RUNTIME_DIR": "/run/user/%d" % uid_b, "HOME": pnb.tmp}
        # (module, args, what the refusal names): each attempt of B fails naming what it may
        # not use; detaching (None) finds nothing of B's to detach: it changes nothing, and
        # A's attachment stays (A's re-run below)
        attempts = [
            ("container_netns", {"container_id": pnb.cid("ub1"), "netns": ns_a, "networks": [conf["name"]],
                                 "cni_config_dir": conf_dir}, ns_a),
            ("container_netns", {"container_id": cid, "state": "absent", "state_dir": state_a}, state_a),
            ("container_netns_info", {"container_id": cid, "state_dir": state_a}, state_a),
            ("cni_attachment", {"container_id": cid, "netns": ns_a, "network": conf["name"],
                                "cni_config_dir": conf_dir, "state": "absent"}, None),
        ]
        for module, args, named in attempts:
            res = _module_as_user(pnb, user_tree, b, module, args, env_b)
            assert not res.get("changed"), (module, args, res)
            if named is None:
                assert not res.get("failed") and res.get("actions") == [], (module, args, res)
            else:
                assert res.get("failed") and named in res.get("msg", ""), (module, args, named, res)
            assert not res.get("containers"), res   # nothing of A's shown
        # A's container is intact: a re-run as A changes nothing
        res = _module_as_user(pnb, user_tree, a, "container_netns",
                              {"container_id": cid, "networks": [conf["name"]], "cni_config_dir": conf_dir},
                              env_a)
        assert not res.get("failed") and not res.get("changed"), res
        _module_as_user(pnb, user_tree, a, "container_netns", {"container_id": cid, "state": "absent"}, env_a)
        _module_as_user(pnb, user_tree, a, "rootless_cni_ns", {"state": "absent"}, env_a)
    finally:
        os.chmod("/dev/net/tun", tun)
