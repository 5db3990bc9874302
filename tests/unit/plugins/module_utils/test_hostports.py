# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_hostports: which host ports collide, and the claims that make the conflict check and
the ADD atomic (real files and locks in a temporary directory, a real dead process)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _hostports as hp
from ansible_collections.podnet.cni.plugins.module_utils import _procs, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError


def pm(port, proto="tcp", ip=""):
    out = {"hostPort": port, "containerPort": 80, "protocol": proto}
    if ip:
        out["hostIP"] = ip
    return out


@pytest.mark.parametrize("a,b,expected", [
    (("", 80, "tcp"), ("", 80, "tcp"), True),
    (("", 80, "tcp"), ("", 80, "udp"), False),
    (("", 80, "tcp"), ("127.0.0.1", 80, "tcp"), True),
    (("10.0.0.1", 80, "tcp"), ("127.0.0.1", 80, "tcp"), False),
    (("", 80, "tcp"), ("", 81, "tcp"), False),
])
def test_clash(a, b, expected):
    assert hp.clash(a, b) is expected


class Ctx:
    rootless = False

    def __init__(self, tmp):
        self.cache_dir = str(tmp / "cache")
        self.hostports_dir = str(tmp / "hostports")
        self.warnings = []


def _cache(ctx, cid, port):
    cnicache.write(ctx.cache_dir, cnicache.CacheEntry("net", cid, "eth0", "/ns", b"{}", [],
                                                      {"portMappings": [pm(port)]}, {}))


def _claims(ctx):
    return sorted(n for n in os.listdir(ctx.hostports_dir) if n.endswith(".json"))


def test_claim_while_held_and_released_after(tmp_path):
    ctx = Ctx(tmp_path)
    with hp.claim(ctx, "a", "net", [pm(8080)]):
        assert len(_claims(ctx)) == 1
        with pytest.raises(ValidationError, match="8080/tcp is being mapped right now by container a"):
            with hp.claim(ctx, "b", "net", [pm(8080)]):
                pass
        with hp.claim(ctx, "b", "net", [pm(8081)]):  # another port: fine, concurrently
            assert len(_claims(ctx)) == 2
        with hp.claim(ctx, "a", "net2", [pm(8080)]):  # the same container: its own
            pass
    assert _claims(ctx) == []


def test_claim_sees_the_cache(tmp_path):
    ctx = Ctx(tmp_path)
    _cache(ctx, "a", 8080)
    with pytest.raises(ValidationError, match="already mapped by container a"):
        with hp.claim(ctx, "b", "net", [pm(8080, ip="127.0.0.1")]):
            pass
    assert _claims(ctx) == []


def test_claim_of_a_dead_run_is_dropped(tmp_path):
    ctx = Ctx(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    os.makedirs(ctx.hostports_dir)
    stale = os.path.join(ctx.hostports_dir, "%d-x.json" % dead.pid)
    with open(stale, "w") as f:
        json.dump({"pid": dead.pid, "start_time": 1, "cmdline": ["true"], "container_id": "z",
                   "network": "net", "ports": [["", 8080, "tcp"]]}, f)
    with open(os.path.join(ctx.hostports_dir, "junk.json"), "w") as f:
        f.write("{not json")
    with hp.claim(ctx, "b", "net", [pm(8080)]):
        pass
    assert _claims(ctx) == []
    assert any("junk.json" in w for w in ctx.warnings)


def test_rootless_and_portless_claim_nothing(tmp_path):
    ctx = Ctx(tmp_path)
    ctx.rootless = True
    with hp.claim(ctx, "a", "net", [pm(8080)]):
        assert not os.path.exists(ctx.hostports_dir)
    ctx.rootless = False
    with hp.claim(ctx, "a", "net", [{"containerPort": 80}]):
        assert not os.path.exists(ctx.hostports_dir)


def test_claim_names_this_process(tmp_path):
    ctx = Ctx(tmp_path)
    with hp.claim(ctx, "a", "net", [pm(8080)]):
        with open(os.path.join(ctx.hostports_dir, _claims(ctx)[0])) as f:
            data = json.load(f)
        me = _procs.process_identity(os.getpid())
        assert (data["pid"], data["start_time"]) == (me.pid, me.start_time)
        assert data["ports"] == [["", 8080, "tcp"]]


def test_listening_socket_is_warned(tmp_path):
    import socket
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        warnings = hp.listening_warnings(_validate.port_mappings([{"host_port": port, "container_port": 80}]))
    assert len(warnings) == 1 and "%d/tcp" % port in warnings[0]


def test_listening_ports_read_once_per_task(tmp_path):
    # a batch plans every container against one read of the bound sockets (ctx.once)
    from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
    ctx = HostContext(cache_dir=str(tmp_path / "cache"), state_dir=str(tmp_path / "state"))
    reads = []

    def bound():
        reads.append(1)
        return {("", 8080, "tcp")}

    def source():
        return ctx.once("bound_ports", bound)

    for port in (8080, 8081, 8080):
        hp.listening_warnings(_validate.port_mappings([{"host_port": port, "container_port": 80}]), source)
    assert len(reads) == 1
    assert hp.listening_warnings(_validate.port_mappings([{"host_port": 8080, "container_port": 80}]), source)
    assert not hp.listening_warnings(_validate.port_mappings([{"host_port": 8081, "container_port": 80}]), source)


def test_own_claims_are_live_without_proc(tmp_path, monkeypatch):
    # the other threads of this run hold claims too: no /proc read per claim for them;
    # another process's claim is still checked against /proc
    me = hp._own_identity()
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(dict(_procs.identity_to_dict(me), container_id="c1", network="n",
                                    ports=[["", 8080, "tcp"]])))
    seen = []
    monkeypatch.setattr(_procs, "is_same_process", lambda ident: seen.append(ident.pid) or False)
    assert [c["container_id"] for c in hp._live_claims(str(tmp_path), [], me)] == ["c1"]
    assert not seen
    other = dict(_procs.identity_to_dict(me), pid=me.pid + 1, container_id="c2", network="n",
                 ports=[["", 8081, "tcp"]])
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert [c["container_id"] for c in hp._live_claims(str(tmp_path), [], me)] == ["c1"]
    assert seen == [me.pid + 1] and not (tmp_path / "other.json").exists()
