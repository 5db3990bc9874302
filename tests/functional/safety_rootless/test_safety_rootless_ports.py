# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rootless host ports and errors a user can act on (issue 15, items 13b and 13c): a
rolled-back ADD takes its slirp4netns forward back, a port in use is named as such, a
root DNAT that shadows a rootless port is warned about (from both sides), another user's
directories and processes give a message instead of "unexpected error"."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile

import pytest

import pnq_env as E

TAG = secrets.token_hex(2)
NET = "pnq%spt" % TAG
HOST_TOKENS = ["pnq" + TAG, "10.232.60.", "tap0"]  # what of ours could show in the host netns


def cid(name: str) -> str:
    return "pnq%s%s" % (TAG, name)


@pytest.fixture(scope="module")
def conf(quser):
    return E.user_conflist(quser, NET, 60)


def _args(conf, name, port=None, **kw):
    args = {"container_id": cid(name), "networks": [NET], "cni_config_dir": conf}
    if port:
        args["port_mappings"] = [{"host_port": port, "container_port": 8080}]
    args.update(kw)
    return args


def _cache_ids(user):
    results = os.path.join(E.rootless_paths(user)["cache"], "results")
    ids = []
    for name in sorted(os.listdir(results)) if os.path.isdir(results) else []:
        with open(os.path.join(results, name)) as f:
            ids.append(json.load(f)["containerId"])
    return ids


def test_rolled_back_add_takes_its_forward_back(quser, conf):
    """The ADD and the forward succeed, then recording the forward fails: everything is
    undone, the forward too, and the port is free for anyone."""
    first = quser.direct("container_netns", _args(conf, "a", E.port(60)))
    assert first.get("changed") is True, first
    paths = E.rootless_paths(quser)
    # attachments.json becomes a mount point in the holder's mount namespace: it can be
    # read, but not replaced (rename onto a mount point: EBUSY)
    shadow = os.path.join(quser.tmp, "attachments-copy.json")
    shutil.copy(paths["attachments"], shadow)
    os.chown(shadow, quser.uid, quser.gid)
    holder = str(quser.holder_pid())
    subprocess.run(["nsenter", "-t", holder, "-m", "--", "mount", "--bind", shadow,
                    paths["attachments"]], check=True)
    try:
        before = (E.hostfwds(quser), _cache_ids(quser), E.snapshot_host(HOST_TOKENS))
        res = quser.direct("container_netns", _args(conf, "b", E.port(61)))
        assert res.get("failed") is True, res
        assert paths["attachments"] in res["msg"] and "unexpected error" not in res["msg"], res["msg"]
        assert (E.hostfwds(quser), _cache_ids(quser), E.snapshot_host(HOST_TOKENS)) == before
        assert E.port_free(E.port(61)), "the forward of the rolled-back ADD is still there"
    finally:
        subprocess.run(["nsenter", "-t", holder, "-m", "--", "umount", paths["attachments"]],
                       check=False)
    res = quser.direct("container_netns", _args(conf, "b", E.port(61)))
    assert res.get("changed") is True, res
    assert sorted(f["host_port"] for f in E.hostfwds(quser)) == [E.port(60), E.port(61)]
    assert quser.direct("container_netns", _args(conf, "b", state="absent"))["changed"]


def test_port_in_use_is_named(quser, conf):
    sock = E.listen(E.port(62))
    try:
        before = (E.hostfwds(quser), _cache_ids(quser), E.snapshot_host(HOST_TOKENS))
        res = quser.direct("container_netns", _args(conf, "c", E.port(62)))
        assert res.get("failed") is True, res
        assert "host port %d/tcp" % E.port(62) in res["msg"] and "in use" in res["msg"], res["msg"]
        assert "bad request" not in res["msg"] and "unexpected error" not in res["msg"]
        assert (E.hostfwds(quser), _cache_ids(quser), E.snapshot_host(HOST_TOKENS)) == before
    finally:
        sock.close()


def test_root_dnat_shadowing_a_rootless_port_is_warned_both_ways(quser, conf, root_env):
    env = root_env
    net = env.network("s", 61)
    # root maps a port first: the rootless mapping of the same port cannot be reached
    ns = env.add_netns("s1")
    res = E.run_module_root("container_netns", dict(env.common, container_id=env.name("s1"),
                                                    netns=ns, networks=[net], port_mappings=[
                                                        {"host_port": E.port(63), "container_port": 80}]))
    assert res.get("changed") is True, res
    res = quser.direct("container_netns", _args(conf, "d", E.port(63)))
    assert res["changed"] is True and not res.get("failed"), res
    text = E.warnings_text(res)
    assert "host port %d/tcp" % E.port(63) in text and "DNAT" in text, text
    assert quser.direct("container_netns", _args(conf, "d", state="absent"))["changed"]
    # a rootless port first: root's mapping of it is warned about (the listener loses it)
    assert quser.direct("container_netns", _args(conf, "e", E.port(64)))["changed"]
    try:
        ns2 = env.add_netns("s2")
        res = E.run_module_root("container_netns", dict(
            env.common, container_id=env.name("s2"), netns=ns2, networks=[net],
            port_mappings=[{"host_port": E.port(64), "container_port": 80}]))
        assert res.get("changed") is True, res
        text = E.warnings_text(res)
        assert "host port %d/tcp" % E.port(64) in text and "listening" in text, text
    finally:
        assert quser.direct("container_netns", _args(conf, "e", state="absent"))["changed"]
    # a port nobody else has: no warning
    res = quser.direct("container_netns", _args(conf, "f", E.port(65)))
    assert res["changed"] is True and "DNAT" not in E.warnings_text(res), res
    assert quser.direct("container_netns", _args(conf, "f", state="absent"))["changed"]


@pytest.fixture
def foreign_dir():
    base = tempfile.mkdtemp(prefix="pnq-foreign-", dir="/tmp")
    os.chmod(base, 0o700)  # root's, closed
    yield base
    shutil.rmtree(base, ignore_errors=True)


MODULE_ARGS = {
    "container_netns": {"container_id": "pnqx", "networks": [NET]},
    "cni_attachment": {"container_id": "pnqx", "network": NET},
    "container_netns_info": {"container_id": "pnqx"},
    "container_net_reload": {"containers": ["all"]},
    "cni_network": {"name": "pnq%sz" % TAG, "subnets": [{"subnet": "10.232.66.0/24"}]},
}


@pytest.mark.parametrize("module", sorted(MODULE_ARGS))
@pytest.mark.parametrize("key", ["state_dir", "cni_cache_dir"])
def test_another_users_directory_is_a_clear_error(quser, conf, foreign_dir, module, key):
    before = E.user_files(quser)
    for sub in ("", "sub"):
        path = os.path.join(foreign_dir, sub) if sub else foreign_dir
        args = dict(MODULE_ARGS[module], cni_config_dir=conf, **{key: path})
        for check in (True, False):
            res = quser.direct(module, args, check=check)
            assert res.get("failed") is True, res
            assert "unexpected error" not in res["msg"], res["msg"]
            assert foreign_dir in res["msg"] and "Permission denied" in res["msg"], res["msg"]
    assert E.user_files(quser) == before


def test_a_pid_of_another_user_is_named_as_such(quser, conf):
    other = subprocess.Popen(["sleep", "300"])  # root's
    try:
        for check in (True, False):
            res = quser.direct("container_netns", _args(conf, "p", pid=other.pid), check=check)
            assert res.get("failed") is True, res
            assert "pid %d" % other.pid in res["msg"] and "no such process" not in res["msg"], res["msg"]
            assert "not a process of %s" % quser.name in res["msg"], res["msg"]
        # the user's own process outside the rootless user namespace: its netns is the
        # host's (no rootless user may configure it), said as such
        mine = quser.spawn_as_user(["sleep", "300"])
        try:
            res = quser.direct("container_netns", _args(conf, "p", pid=mine.pid))
            assert res.get("failed") is True and "never a container's" in res["msg"], res
        finally:
            mine.kill()
            mine.wait()
        # a container's process (in the rootless namespaces): pinned
        made = quser.direct("container_netns", _args(conf, "q", networks=[], network_mode="none"))
        assert made.get("changed") is True, made
        inner = quser.in_netns(made["netns"], ["sleep", "300"])
        try:
            E.wait_for(lambda: any(p["cmdline"].startswith("sleep 300") for p in quser.processes()))
            pid = next(p["pid"] for p in quser.processes() if p["cmdline"].startswith("sleep 300"))
            res = quser.direct("container_netns", _args(conf, "p", pid=pid, networks=[],
                                                        network_mode="none"))
            assert res.get("changed") is True, res
        finally:
            inner.kill()
            inner.wait()
        for name in ("p", "q"):
            assert quser.direct("container_netns", {"container_id": cid(name), "state": "absent"})["changed"]
    finally:
        other.kill()
        other.wait()
