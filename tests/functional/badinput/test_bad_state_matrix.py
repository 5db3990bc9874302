# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad state (issue 15): the "bad input" half that lives on disk. A file of the libcni
cache, a container record, an intent or a slirp4netns pid file is truncated, garbage,
wrong-typed, another tool's, a symlink, another user's, writable by others, huge, a
FIFO or a directory. In every case:

- a module run that would change the container the file may belong to fails (check
  mode too) with a message naming the file, and changes nothing;
- no module crashes (``unexpected error``) on it, for that container or any other;
- it does not block other containers, container_netns_info or the GC, which report it;
- a snapshot of the host (links, addresses, routes, rules, namespaces, cache, records,
  intents, pid files, reservations) taken before equals the one after.

Prefix pnd, subnets 10.231.0.0/16, host ports 21100-21199 (tests/lib/pnd_env.py).
Rootless pid files are covered by the rootless tests.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest

import pnb_env
import pnd_env


class World:
    def __init__(self, env: pnd_env.PndEnv) -> None:
        self.env = env
        self.net = env.network("n")["name"]
        self.net2 = env.network("n2")["name"]
        self.port = env.port(0)
        self.a = env.cid("a")          # the container the bad files belong to
        self.o = env.cid("o")          # a bystander
        self.ghost = env.cid("ghost")  # a container nobody knows
        self.args_a = env.common(container_id=self.a, netns=self.a, networks=[self.net],
                                 port_mappings=[{"host_port": self.port, "container_port": 80}])
        self.args_o = env.common(container_id=self.o, netns=self.o, networks=[self.net])
        for args in (self.args_a, self.args_o):
            res = env.run("container_netns", args)
            assert not res.get("failed"), res

    def path(self, location: str) -> str:
        env = self.env
        cid = self.ghost if location.endswith("ghost") else self.a
        if location.startswith("cache"):
            return env.entry_path(self.net, cid)
        if location.startswith("intent"):
            return env.intent_path(self.net, cid, "eth1")
        if location.startswith("record"):
            return env.record_path(cid)
        return os.path.join(env.state_dir, "slirp4netns", hashlib.sha256(cid.encode()).hexdigest()[:20] + ".json")

    def valid(self, location: str) -> bytes:
        """A whole, valid file for that location (its content, where the case needs one)."""
        cid = self.ghost if location.endswith("ghost") else self.a
        if location.startswith("cache"):
            with open(self.env.entry_path(self.net, self.a), "rb") as f:
                data = json.load(f)
            data["containerId"] = cid
            return json.dumps(data).encode()
        if location.startswith("intent"):
            with open(self.env.entry_path(self.net, self.a), "rb") as f:
                data = json.load(f)
            data.update(containerId=cid, ifName="eth1")
            data.pop("result")
            return json.dumps(data).encode()
        if location.startswith("record"):
            with open(self.env.record_path(self.a), "rb") as f:
                data = json.load(f)
            data["container_id"] = cid
            return json.dumps(data).encode()
        return json.dumps({"pid": 1, "start_time": 1, "cmdline": ["/usr/bin/slirp4netns"],
                           "container_id": cid, "netns": "/run/netns/" + cid, "netns_inode": 1,
                           "hostfwds": []}).encode()


WRONG_TYPED = {
    "cache": lambda d: dict(d, result="garbage"),
    "intent": lambda d: dict(d, containerId=17),
    "record": lambda d: dict(d, networks="x"),
    "pidfile": lambda d: dict(d, pid="one"),
}
FOREIGN = {  # valid JSON of another tool or another container
    "cache": lambda d: dict(d, kind="crioCacheV9"),
    "intent": lambda d: {"kind": "somethingElse", "owner": "another tool"},
    "record": lambda d: dict(d, container_id="pnd-someone-else"),
    "pidfile": lambda d: {"Pid": 1234, "engine": "another tool"},
}


def plant(world: World, location: str, kind: str) -> str:
    """Put a bad file of that kind at the location; returns its path."""
    path = world.path(location)
    valid = world.valid(location)
    base = location.split("-")[0]
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    if kind == "truncated":
        pnd_env.write_bytes(path, valid[:len(valid) * 2 // 3])
    elif kind == "garbage":
        pnd_env.write_bytes(path, b"\x00\x9f\xff not json at all \x07")
    elif kind == "not-an-object":
        pnd_env.write_bytes(path, b'["a", "list"]')
    elif kind == "deep":
        pnd_env.write_bytes(path, b"[" * 100000)
    elif kind == "wrong-typed":
        pnd_env.write_bytes(path, json.dumps(WRONG_TYPED[base](json.loads(valid))).encode())
    elif kind == "foreign":
        pnd_env.write_bytes(path, json.dumps(FOREIGN[base](json.loads(valid))).encode())
    elif kind == "symlink":
        target = os.path.join(world.env.tmp, "elsewhere-%s" % location)
        pnd_env.write_bytes(target, valid)
        os.symlink(target, path)
    elif kind == "other-owner":
        pnd_env.write_bytes(path, valid)
        os.chown(path, 65534, 65534)
    elif kind == "world-writable":
        pnd_env.write_bytes(path, valid, 0o666)
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(64 * 1024 * 1024)
        os.chmod(path, 0o600)
    elif kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "directory":
        os.mkdir(path, 0o700)
    else:
        raise AssertionError(kind)
    return path


ALL_KINDS = ["truncated", "garbage", "not-an-object", "deep", "wrong-typed", "foreign", "symlink",
             "other-owner", "world-writable", "huge", "fifo", "directory"]
CASES = ([("cache-a", k) for k in ALL_KINDS]
         + [("intent-a", k) for k in ("truncated", "wrong-typed", "symlink", "fifo")]
         + [("record-a", k) for k in ("garbage", "wrong-typed", "foreign", "other-owner")]
         + [("pidfile-a", k) for k in ("garbage", "wrong-typed", "symlink", "huge")]
         + [("cache-ghost", k) for k in ("truncated", "foreign", "fifo")]
         + [("intent-ghost", k) for k in ("garbage", "other-owner")]
         + [("record-ghost", k) for k in ("wrong-typed", "directory")])
# the slower checks (a reload of every container, another container's attach and detach)
# run for the first kind of each location
FULL = {c for i, c in enumerate(CASES) if i == 0 or CASES[i - 1][0] != c[0]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    env = pnd_env.PndEnv(str(tmp_path_factory.mktemp("badstate")))
    try:
        yield World(env)
    finally:
        for name in os.listdir(env.tmp):  # planted leftovers must not trip the cleanup
            if name.startswith("elsewhere-"):
                os.unlink(os.path.join(env.tmp, name))
        env.cleanup()


def _no_crash(res):
    text = json.dumps(res)
    assert "unexpected error" not in text and "Traceback" not in text, text[:3000]


def _refused(res, path):
    _no_crash(res)
    assert res.get("failed"), "accepted: %s" % json.dumps(res)[:2000]
    assert path in res.get("msg", ""), "message does not name %s: %s" % (path, res.get("msg", "")[:2000])


def _reported(res, path):
    _no_crash(res)
    assert pnd_env.names_file(pnd_env.warnings_of(res), path), res.get("warnings")


def test_matrix_covers_every_location():
    assert len(CASES) >= 30 and len(set(CASES)) == len(CASES)
    assert {c[0] for c in CASES} == {"cache-a", "intent-a", "record-a", "pidfile-a", "cache-ghost",
                                     "intent-ghost", "record-ghost"}


@pytest.mark.parametrize("location,kind", CASES, ids=["%s-%s" % c for c in CASES])
def test_bad_state_is_named_and_changes_nothing(world, location, kind):
    env = world.env
    saved = {}
    for loc in ("cache-a", "record-a"):
        with open(world.path(loc), "rb") as f:
            saved[world.path(loc)] = f.read()
    path = plant(world, location, kind)
    try:
        before = env.snapshot()
        ours = location.endswith("-a")
        detach_a = env.common(container_id=world.a, netns=world.a, state="absent")
        # the container the file may belong to
        if ours:
            if location != "pidfile-a":  # (a bridge container does not read slirp4netns state)
                _refused(env.run("container_netns", world.args_a, check=True), path)
                _refused(env.run("container_netns", world.args_a), path)
                _refused(env.run("cni_attachment", env.common(container_id=world.a, netns=world.a,
                                                              network=world.net2)), path)
            else:  # only its absent reads it: check mode too
                _refused(env.run("container_netns", detach_a, check=True), path)
            _refused(env.run("container_netns", detach_a), path)
        else:
            res = env.run("container_netns", world.args_a)
            _no_crash(res)
            assert not res.get("failed") and not res["changed"], res
            if location == "cache-ghost":       # the host port check had to read it
                _reported(res, path)
        # the others: info reports it, the GC goes on around it and names it
        info = env.run("container_netns_info", env.common(statistics=False))
        assert not info.get("failed"), info
        if location != "pidfile-a":
            _reported(info, path)
            assert path in [u["path"] for u in info["unreadable"]]
            if ours:
                assert path in [u["path"] for u in info["containers"][world.a]["unreadable"]]
        gc = env.run("container_net_reload", env.common(containers=[world.o], prune_stale=True))
        assert not gc.get("failed") and not gc["changed"], gc
        if location != "pidfile-a":
            _reported(gc, path)
            assert path in [u["path"] for u in gc["pruned"]["unreadable"]]
        if (location, kind) in FULL:
            reload_all = env.run("container_net_reload", env.common(containers=["all"]))
            if ours and location != "pidfile-a":
                _refused(reload_all, path)       # that container is not reloaded, the others are
            else:
                _no_crash(reload_all)
                assert not reload_all.get("failed") and not reload_all["changed"], reload_all
            for state in ("present", "absent"):  # another container is not blocked
                res = env.run("cni_attachment", env.common(container_id=world.o, netns=world.o,
                                                           network=world.net2, state=state))
                assert not res.get("failed") and res["changed"], res
        pnb_env.assert_same(before, env.snapshot(), "with a %s file at %s" % (kind, location))
    finally:
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        elif os.path.lexists(path):
            os.unlink(path)
        for p, data in saved.items():
            pnd_env.write_bytes(p, data)
    res = env.run("container_netns", world.args_a)
    assert not res.get("failed") and not res["changed"], res
