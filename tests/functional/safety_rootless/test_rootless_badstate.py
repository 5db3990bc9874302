# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The "bad state" half for the rootless pid files: a corrupt, wrong-typed, foreign or
garbage ``pause.pid`` (the holder) or ``slirp4netns.json`` (the rootless CNI namespace's
slirp4netns). Each case ends in a clear message naming the file, nothing is signalled that
is not ours, and the system is unchanged: the same processes, the same files (the bad one
included), the same forwarded ports. A well-formed pid file naming a process that is not
ours is stale (the holder died, its pid was reused): that process is left alone."""
from __future__ import annotations

import json
import os
import secrets

import pytest

import pnq_env as E

TAG = secrets.token_hex(2)
NET = "pnq%sbs" % TAG
CID = "pnq%sc1" % TAG
NEW = "pnq%snew" % TAG
CIDR = E.subnet(21)
PORT = E.port(10)


@pytest.fixture(scope="module")
def world(quser):
    conf_dir = E.user_conflist(quser, NET, 20)
    res = quser.direct("rootless_cni_ns", {"cidr": CIDR})
    assert res.get("changed") is True, res
    res = quser.direct("container_netns", {"container_id": CID, "networks": [NET],
                                           "cni_config_dir": conf_dir,
                                           "port_mappings": [{"host_port": PORT, "container_port": 80}]})
    assert res.get("changed") is True, res
    yield {"conf": conf_dir}
    quser.direct("container_netns", {"container_id": CID, "state": "absent", "cni_config_dir": conf_dir})


def _garbage(content):
    def make(user, path):
        E.write_as(user, path, content)
    return make


def _json(transform):
    def make(user, path):
        with open(path) as f:
            data = json.load(f)
        E.write_as(user, path, json.dumps(transform(data)).encode())
    return make


def _directory(user, path):
    os.unlink(path)
    os.mkdir(path, 0o700)
    os.chown(path, user.uid, user.gid)


def _symlink(user, path):
    target = path + ".elsewhere"
    os.rename(path, target)
    os.symlink(target, path)
    os.lchown(path, user.uid, user.gid)


def _root_owned(user, path):
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)


def _fifo(user, path):
    os.unlink(path)
    os.mkfifo(path, 0o600)
    os.chown(path, user.uid, user.gid)


BAD = [
    ("empty", _garbage(b"")),
    ("not-json", _garbage(b"\x00\xffgarbage{")),
    ("a-list", _garbage(b"[1, 2, 3]")),
    ("pid-a-string", _json(lambda d: dict(d, pid="1; rm -rf /"))),
    ("pid-negative", _json(lambda d: dict(d, pid=-1))),
    ("pid-huge", _json(lambda d: dict(d, pid=2 ** 70))),
    ("no-start-time", _json(lambda d: {k: v for k, v in d.items() if k != "start_time"})),
    ("cmdline-not-a-list", _json(lambda d: dict(d, cmdline="slirp4netns"))),
    ("a-directory", _directory),
    ("a-symlink", _symlink),
    ("owned-by-root", _root_owned),
    ("a-fifo", _fifo),
]


def _restore(user, path, saved):
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
    elif os.path.isdir(path):
        os.rmdir(path)
    if os.path.lexists(path + ".elsewhere"):
        os.unlink(path + ".elsewhere")
    E.write_as(user, path, saved)


# every kind for the holder's pid file; the same loader reads slirp4netns.json: a sample
CASES = [("holder", c, m) for c, m in BAD] + [
    ("slirp", c, m) for c, m in BAD if c in ("not-json", "pid-a-string", "cmdline-not-a-list",
                                             "a-directory", "owned-by-root", "a-fifo")]


@pytest.mark.parametrize("which,case,make", CASES, ids=["%s-%s" % (w, c) for w, c, _m in CASES])
def test_bad_pid_file_is_named_and_nothing_changes(quser, world, which, case, make):
    path = quser.state_path(which)
    with open(path, "rb") as f:
        saved = f.read()
    make(quser, path)
    try:
        procs = sorted((p["pid"], p["cmdline"]) for p in quser.processes())
        files = E.user_files(quser)
        fwds = E.hostfwds(quser)
        host = E.snapshot_host(["pnq" + TAG, "10.232.20.", "10.232.21.", "tap0"])
        runs = [
            ("rootless_cni_ns", {"cidr": CIDR}),
            ("rootless_cni_ns", {"state": "absent", "force": True}),
            ("container_netns", {"container_id": NEW, "networks": [NET], "cni_config_dir": world["conf"]}),
        ]
        for module, args in runs:
            res = quser.direct(module, args)
            assert res.get("failed") is True, (module, args, res)
            assert path in res["msg"], (module, res["msg"])
            assert "unexpected error" not in res["msg"], res["msg"]
            assert sorted((p["pid"], p["cmdline"]) for p in quser.processes()) == procs, module
            assert E.user_files(quser) == files, module
            assert E.hostfwds(quser) == fwds, module
            assert E.snapshot_host(["pnq" + TAG, "10.232.20.", "10.232.21.", "tap0"]) == host
        check = quser.direct("rootless_cni_ns", {"cidr": CIDR}, check=True)
        assert check.get("failed") is True and path in check["msg"], check
    finally:
        _restore(quser, path, saved)
    # restored: everything works as before
    res = quser.direct("rootless_cni_ns", {"cidr": CIDR})
    assert res["changed"] is False, res


@pytest.mark.parametrize("which", ["holder", "slirp"])
def test_pid_file_naming_another_live_process_is_stale_and_that_process_untouched(quser, world, which):
    """A well-formed record whose pid is some other process of the user (the recorded
    one died and its pid was reused): never signalled; the holder or slirp4netns is
    rebuilt only if the real one is really gone."""
    path = quser.state_path(which)
    with open(path, "rb") as f:
        saved = f.read()
    other = quser.spawn_as_user(["sleep", "300"])
    try:
        data = json.loads(saved)
        data["pid"] = other.pid
        E.write_as(quser, path, json.dumps(data).encode())
        procs = sorted((p["pid"], p["cmdline"]) for p in quser.processes())
        res = quser.direct("rootless_cni_ns", {"cidr": CIDR})
        assert other.poll() is None, "a process that is not ours was signalled"
        if which == "holder":
            # the real holder still runs: no second one is started beside it
            assert res.get("failed") is True and path in res["msg"], res
            assert "unexpected error" not in res["msg"]
            assert sorted((p["pid"], p["cmdline"]) for p in quser.processes()) == procs
        else:
            # a slirp4netns whose record is lost is restarted: ours is found by its netns
            assert res.get("failed") is not True, res
            slirps = E.user_slirps(quser, zombies=False)
            assert len(slirps) == 1, slirps
            assert [f["host_port"] for f in E.hostfwds(quser)] == [PORT], "forwards not restored"
    finally:
        other.kill()
        other.wait()
    if which == "holder":
        _restore(quser, path, saved)
    res = quser.direct("rootless_cni_ns", {"cidr": CIDR})
    assert res.get("failed") is not True and res["changed"] is False, res
