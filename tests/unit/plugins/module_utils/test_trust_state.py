# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nothing on disk is trusted, nothing a plugin prints is trusted (issue 15, items 4-6,
9, 10, 12, 13): state files are read only when they are whole, well-typed files of
ours; plugin results are validated before they are chained or cached; every ADD
failure carries what the plugins before it returned; plugin output is capped; plugins
die with the process that started them; an intent stays until its undo succeeded.

Real files, real processes (script plugins); no root needed except where said."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _gc, _intent, _procgroup, _procs, _state
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as ce
from ansible_collections.podnet.cni.plugins.module_utils._cni import result as cniresult
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import CniPluginError, StateError
from ansible_collections.podnet.cni.plugins.module_utils._fsutil import read_json

RT = ce.RuntimeConf("pnd-c1", "", "eth0", [["IgnoreUnknown", "1"]])
CONFIG = {"cniVersion": "1.0.0", "name": "pnd-net", "plugins": [
    {"type": "bridge", "bridge": "pndbr0", "ipam": {"type": "host-local",
                                                    "ranges": [[{"subnet": "10.231.1.0/24"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": True}}, {"type": "firewall"}]}
GOOD_RESULT = {"cniVersion": "1.0.0",
               "interfaces": [{"name": "pndbr0", "mac": "0a:58:0a:e7:01:01"},
                              {"name": "veth1", "mac": "0a:58:0a:e7:01:02"},
                              {"name": "eth0", "mac": "0a:58:0a:e7:01:03", "sandbox": "/run/netns/c1"}],
               "ips": [{"address": "10.231.1.3/24", "gateway": "10.231.1.1", "interface": 2}],
               "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}


def conf():
    return cniconf.conflist_from_bytes(json.dumps(CONFIG).encode(), "test")


def entry_json(**changes):
    data = {"kind": "cniCacheV1", "containerId": "pnd-c1",
            "config": base64.b64encode(json.dumps(CONFIG).encode()).decode(),
            "ifName": "eth0", "networkName": "pnd-net", "netns": "/run/netns/c1",
            "cniArgs": [["IgnoreUnknown", "1"]],
            "capabilityArgs": {"portMappings": [{"hostPort": 21100, "containerPort": 80,
                                                 "protocol": "tcp"}]},
            "result": GOOD_RESULT}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not DROP}


DROP = object()


# --- read_json: only whole files of ours ---

def _write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def test_read_json_refuses_what_we_cannot_have_written(tmp_path):
    good = _write(str(tmp_path / "good"), '{"a": 1}')
    assert read_json(good) == {"a": 1}
    assert read_json(str(tmp_path / "missing")) is None
    cases = {}
    os.symlink(good, str(tmp_path / "link"))
    cases["link"] = "symlink"
    os.mkfifo(str(tmp_path / "fifo"))  # opened, a FIFO would block the module forever
    cases["fifo"] = "not a regular file"
    os.mkdir(str(tmp_path / "dir"))
    cases["dir"] = "not a regular file"
    _write(str(tmp_path / "open"), "{}", 0o666)
    cases["open"] = "writable by group or others"
    with open(str(tmp_path / "huge"), "w") as f:
        f.truncate(100 * 1024 * 1024)  # sparse: costs nothing, would cost 100 MB to read
    os.chmod(str(tmp_path / "huge"), 0o600)
    cases["huge"] = "too large"
    _write(str(tmp_path / "deep"), "[" * 200000)
    cases["deep"] = "nested too deeply"
    _write(str(tmp_path / "torn"), '{"kind": "cniCac')
    cases["torn"] = "corrupt JSON"
    with open(str(tmp_path / "binary"), "wb") as f:
        f.write(b"\xff\xfe\x00garbage")
    os.chmod(str(tmp_path / "binary"), 0o600)
    cases["binary"] = "corrupt JSON"
    if os.geteuid() == 0:
        _write(str(tmp_path / "theirs"), "{}")
        os.chown(str(tmp_path / "theirs"), 65534, 65534)
        cases["theirs"] = "owned by uid 65534"
    for name, reason in cases.items():
        path = str(tmp_path / name)
        with pytest.raises(StateError) as err:
            read_json(path)
        assert path in str(err.value) and reason in err.value.details["reason"], (name, str(err.value))


# --- plugin results ---

@pytest.mark.parametrize("result", [
    GOOD_RESULT,
    {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.231.1.3/24", "interface": 0}]},
    {"cniVersion": "0.2.0", "ip4": {"ip": "10.231.1.3/24", "gateway": "10.231.1.1",
                                    "routes": [{"dst": "0.0.0.0/0", "gw": "10.231.1.1"}]}},
    {"cniVersion": "1.0.0"},
    {"cniVersion": "1.0.0", "ips": [{"address": "fd00::3/64"}], "dns": {"nameservers": ["10.0.0.1"]}},
], ids=["1.0.0", "0.4.0", "0.2.0", "empty", "v6+dns"])
def test_valid_results_pass(result):
    assert cniresult.problem(result) is None


@pytest.mark.parametrize("result,why", [
    ("garbage", "not a JSON object"),
    ([1, 2], "not a JSON object"),
    ({"interfaces": "x"}, "interfaces is not a list"),
    ({"interfaces": ["eth0"]}, "interfaces[0]"),
    ({"interfaces": [{"name": "eth0", "sandbox": 7}]}, "interfaces[0].sandbox"),
    ({"ips": "10.231.1.3/24"}, "ips is not a list"),
    ({"ips": ["10.231.1.3/24"]}, "ips[0] is not an object"),
    ({"ips": [{"address": "not-an-ip/24"}]}, "ips[0].address"),
    ({"ips": [{"address": "10.231.1.3"}]}, "ips[0].address"),
    ({"ips": [{"address": 17}]}, "ips[0].address"),
    ({"ips": [{"address": "10.231.1.3/24", "gateway": "gw"}]}, "ips[0].gateway"),
    ({"ips": [{"address": "10.231.1.3/24", "interface": "2"}]}, "ips[0].interface"),
    ({"routes": [{"gw": "10.231.1.1"}]}, "routes[0]"),
    ({"routes": {"dst": "0.0.0.0/0"}}, "routes is not a list"),
    ({"ip4": {"ip": "bad"}}, "ip4"),
    ({"dns": []}, "dns is not an object"),
    ({"dns": {"nameservers": "10.0.0.1"}}, "dns.nameservers"),
    ({"cniVersion": 1}, "cniVersion"),
])
def test_invalid_results_are_named(result, why):
    assert why in (cniresult.problem(result) or "")


# --- cache entries ---

@pytest.mark.parametrize("changes,why", [
    ({"result": "garbage"}, "result: not a JSON object"),
    ({"result": {"interfaces": "x"}}, "result: interfaces"),
    ({"result": {"ips": ["10.231.1.3/24"]}}, "result: ips[0]"),
    ({"result": {"ips": [{"address": "not-an-ip/24"}]}}, "result: ips[0].address"),
    ({"kind": "somethingElse"}, "not a libcni cache entry"),
    ({"containerId": 5}, "containerId"),
    ({"ifName": DROP}, "ifName"),
    ({"netns": ["x"]}, "netns"),
    ({"config": "%%% not base64"}, "config"),
    ({"config": base64.b64encode(b"not json").decode()}, "config"),
    ({"cniArgs": "IP=1.2.3.4"}, "cniArgs"),
    ({"cniArgs": [["IP"]]}, "cniArgs"),
    ({"capabilityArgs": {"portMappings": "x"}}, "portMappings"),
    ({"capabilityArgs": {"portMappings": [{"hostPort": "80", "containerPort": 80}]}}, "hostPort"),
    ({"capabilityArgs": {"portMappings": [{"hostPort": 70000, "containerPort": 80}]}}, "hostPort"),
    ({"capabilityArgs": {"aliases": {"pnd-net": "web"}}}, "aliases"),
    ({"capabilityArgs": []}, "capabilityArgs"),
])
def test_wrong_typed_cache_entries_are_unusable(tmp_path, changes, why):
    cache_dir = str(tmp_path)
    os.makedirs(os.path.join(cache_dir, "results"))
    path = _write(cnicache.entry_path(cache_dir, "pnd-net", "pnd-c1", "eth0"), json.dumps(entry_json(**changes)))
    entries, bad = cnicache.scan(cache_dir)
    assert entries == [] and [u.path for u in bad] == [path]
    assert why in bad[0].reason, bad[0].reason
    with pytest.raises(StateError, match=path):
        cnicache.read(cache_dir, "pnd-net", "pnd-c1", "eth0")


def test_libcni_11_entry_takes_its_netns_from_the_sandbox(tmp_path):
    """podman 4's CNI backend and Debian's cnitool (libcni <= 1.1) cache no netns."""
    cache_dir = str(tmp_path)
    os.makedirs(os.path.join(cache_dir, "results"))
    _write(cnicache.entry_path(cache_dir, "pnd-net", "pnd-c1", "eth0"), json.dumps(entry_json(netns=DROP)))
    (entry,) = cnicache.list_entries(cache_dir)
    assert entry.netns == "/run/netns/c1"
    # no sandbox of our interface: the first one with a sandbox; none at all: unknown
    res = dict(GOOD_RESULT, interfaces=[{"name": "other", "sandbox": "/run/netns/x"}])
    _write(entry.path, json.dumps(entry_json(netns=DROP, result=res)))
    assert cnicache.list_entries(cache_dir)[0].netns == "/run/netns/x"
    _write(entry.path, json.dumps(entry_json(netns=DROP, result={"cniVersion": "1.0.0"})))
    assert cnicache.list_entries(cache_dir)[0].netns == ""


# --- records and intents ---

@pytest.mark.parametrize("record,why", [
    ([], "not a JSON object"),
    ({"container_id": "pnd-other"}, "container_id"),
    ({"container_id": "pnd-c1", "netns": 5}, "netns"),
    ({"container_id": "pnd-c1", "networks": "x"}, "networks"),
    ({"container_id": "pnd-c1", "networks": [{"network": "n", "interface": "eth0", "ips": "1.2.3.4"}]},
     "networks[0].ips"),
    ({"container_id": "pnd-c1", "pid": "1"}, "pid"),
    ({"container_id": "pnd-c1", "port_mappings": "x"}, "port_mappings"),
    # read back for network_settings.Ports (slirp4netns mode): a mapping we could have written
    ({"container_id": "pnd-c1", "port_mappings": [{"host_port": "x", "container_port": 80}]},
     "port_mappings: invalid port_mappings entry"),
])
def test_wrong_typed_records_are_refused_naming_the_file(tmp_path, record, why):
    state_dir = str(tmp_path)
    os.makedirs(os.path.join(state_dir, "containers"))
    path = _write(_state.record_path(state_dir, "pnd-c1"), json.dumps(record))
    with pytest.raises(StateError) as err:
        _state.load(state_dir, "pnd-c1")
    assert path in str(err.value) and why in str(err.value)
    assert "is not changed" in str(err.value)
    records, bad = _state.scan(state_dir)
    assert records == {} and [u.path for u in bad] == [path]


def _ctx(tmp_path, **kw):
    return HostContext(config_dir=str(tmp_path / "net.d"), plugin_dirs=[str(tmp_path / "plugins")],
                       cache_dir=str(tmp_path / "cache"), state_dir=str(tmp_path / "state"), **kw)


def test_unusable_intents_are_reported_not_skipped(tmp_path):
    ctx = _ctx(tmp_path)
    good = cnicache.CacheEntry("pnd-net", "pnd-c1", "eth0", "/run/netns/c1", json.dumps(CONFIG).encode())
    path = _intent.mark(ctx, good)
    with open(path) as f:
        assert "podnetPluginGroup" in json.load(f)
    _write(os.path.join(_intent.pending_dir(ctx), "pnd-net-pnd-c1-eth1.json"), '{"kind": "cniCa')
    _write(os.path.join(_intent.pending_dir(ctx), "pnd-net-pnd-c2-eth0.json"),
           json.dumps(dict(entry_json(containerId="pnd-c2", result=DROP), podnetPluginGroup="x")))
    intents, bad = _intent.scan(ctx)
    assert [i.ifname for i in intents] == ["eth0"] and intents[0].group["pgid"] > 1
    assert sorted(u.name for u in bad) == ["pnd-net-pnd-c1-eth1.json", "pnd-net-pnd-c2-eth0.json"]
    assert [u.name for u in _intent.scan(ctx, "pnd-c2")[1]] == ["pnd-net-pnd-c2-eth0.json"]


# --- ADD: every failure carries the partial result (item 6) and results are validated (item 5) ---

class Script:
    """An executor answering ADD from a table of results per plugin; DELs are recorded."""

    def __init__(self, results):
        self.results = results
        self.calls = []

    def run(self, ptype, command, rt, stdin, network=""):
        data = json.loads(stdin)
        self.calls.append((ptype, command, data.get("prevResult")))
        if command == "ADD":
            value = self.results.get(ptype, {"cniVersion": "1.0.0", "ips": [{"address": "10.231.1.3/24"}]})
            if isinstance(value, Exception):
                raise value
            return value
        return None


FIRST = {"cniVersion": "1.0.0", "ips": [{"address": "10.231.1.3/24"}]}


@pytest.mark.parametrize("portmap_output,message", [
    (None, "no result on ADD"),
    ({"cniVersion": "1.0.0", "interfaces": "x"}, "invalid result on ADD: interfaces"),
    ({"cniVersion": "1.0.0", "ips": ["10.231.1.3/24"]}, "invalid result on ADD: ips[0]"),
    ({"cniVersion": "1.0.0", "ips": [{"address": "not-an-ip/24"}]}, "invalid result on ADD: ips[0].address"),
    (CniPluginError("boom", code=7, plugin="portmap", command="ADD"), "boom"),
])
def test_add_failure_of_any_kind_keeps_the_partial_result(portmap_output, message):
    ex = Script({"bridge": FIRST, "portmap": portmap_output})
    with pytest.raises(CniPluginError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        ce.add_network_list(ex, conf(), RT)
    assert err.value.partial_result == FIRST and err.value.add_started


def test_rollback_dels_with_the_partial_result_whatever_failed(monkeypatch):
    """The firewall plugin finds its FORWARD rules by the IPs in prevResult: a rollback
    without it leaks them (it did for a plugin that exited 0 without output)."""
    ex = Script({"bridge": FIRST, "portmap": FIRST, "firewall": None})
    with pytest.raises(CniPluginError, match="no result") as err:
        _attach._add_chain(ex, conf(), RT)
    dels = [(p, prev) for p, cmd, prev in ex.calls if cmd == "DEL"]
    assert [p for p, dummy in dels] == ["firewall", "portmap", "bridge"]
    assert all(prev == FIRST for dummy, prev in dels)
    assert err.value.rollback_complete


def test_rollback_that_fails_is_incomplete():
    class FailingDel(Script):
        def run(self, ptype, command, rt, stdin, network=""):
            if command == "DEL" and ptype == "bridge":
                raise CniPluginError("timed out after 3s", code=-1, plugin=ptype, command=command)
            return super().run(ptype, command, rt, stdin, network)
    ex = FailingDel({"bridge": FIRST, "firewall": CniPluginError("x", plugin="firewall", command="ADD")})
    with pytest.raises(CniPluginError) as err:
        _attach._add_chain(ex, conf(), RT)
    assert err.value.rollback_complete is False
    assert "timed out" in err.value.details["rollback_errors"][0]


def test_intent_stays_until_the_undo_succeeded(tmp_path, monkeypatch):
    """Item 10: a rollback that could not finish keeps the intent (the next run undoes
    the rest); a complete one drops it."""
    ctx = _ctx(tmp_path)
    spec = _attach.AttachmentSpec("pnd-net", "eth0")

    def failing(ok):
        def chain(executor, c, rt):
            exc = CniPluginError("injected", plugin="firewall", command="ADD")
            _attach._mark_rollback(exc, [] if ok else ["CNI plugin bridge failed on DEL: timed out"])
            raise exc
        return chain
    monkeypatch.setattr(_attach, "_add_chain", failing(False))
    with pytest.raises(CniPluginError) as err:
        _attach.add(ctx, conf(), spec, "pnd-c1", "pnd-c1", "")
    assert "next run of this container retries it" in str(err.value)
    assert [i.key for i in _intent.pending(ctx)] == [("pnd-net", "pnd-c1", "eth0")]
    os.unlink(err.value.details["intent"])
    monkeypatch.setattr(_attach, "_add_chain", failing(True))
    with pytest.raises(CniPluginError):
        _attach.add(ctx, conf(), spec, "pnd-c1", "pnd-c1", "")
    assert _intent.pending(ctx) == []


# --- plugin output is capped (item 12) ---

def test_ten_megabytes_of_stderr_are_cut(scripts):
    scripts("loud", "cat >/dev/null; head -c 10000000 /dev/zero | tr '\\0' x >&2; exit 1\n")
    with pytest.raises(CniPluginError) as err:
        ce.PluginExecutor([scripts.dir]).run("loud", "ADD", RT, b"{}")
    result = json.dumps({"msg": str(err.value), **err.value.details})
    assert len(result) < 300 * 1024, len(result)
    assert "more bytes cut" in err.value.stderr and "more bytes cut" in str(err.value)


def test_huge_error_json_is_cut(scripts):
    scripts("wordy", "cat >/dev/null; printf '{\"code\":7,\"msg\":\"'; head -c 3000000 /dev/zero | tr '\\0' m;"
                     " printf '\",\"details\":\"'; head -c 3000000 /dev/zero | tr '\\0' d; printf '\"}'; exit 1\n")
    with pytest.raises(CniPluginError) as err:
        ce.PluginExecutor([scripts.dir]).run("wordy", "ADD", RT, b"{}")
    assert len(err.value.cni_msg) < 70 * 1024 and len(err.value.cni_details) < 70 * 1024
    assert len(str(err.value)) < 150 * 1024


def test_a_result_too_large_fails_the_add(scripts):
    scripts("fat", "cat >/dev/null; printf '{\"cniVersion\":\"1.0.0\",\"x\":\"'; "
                   "head -c 2000000 /dev/zero | tr '\\0' x; printf '\"}'\n")
    with pytest.raises(CniPluginError, match="result larger than"):
        ce.PluginExecutor([scripts.dir]).run("fat", "ADD", RT, b"{}")


def test_non_object_output_fails(scripts):
    scripts("list", "cat >/dev/null; echo '[1, 2]'\n")
    with pytest.raises(CniPluginError, match="not a JSON object"):
        ce.PluginExecutor([scripts.dir]).run("list", "ADD", RT, b"{}")


# --- plugins do not outlive their process (item 9) ---

DRIVER = r"""
import os, sys
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as ce
rt = ce.RuntimeConf("pnd-c1", "", "eth0")
ce.PluginExecutor([sys.argv[1]], timeout=600).run("slow", "ADD", rt, b"{}")
"""


def _wait_gone(pid, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in "ZX":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def test_plugins_and_their_children_die_with_the_process(scripts, tmp_path):
    """A module killed (SIGKILL) while a plugin runs: the plugin, and what it started
    (here a child shell, as an iptables waiting for the xtables lock), are killed."""
    marker = str(tmp_path / "pids")
    scripts("slow", "cat >/dev/null; sh -c 'echo $$ >> %s; exec sleep 600' & echo $$ >> %s; wait\n"
            % (marker, marker))
    # the child imports the collection from where this test does (.build here, the
    # matrix's copy of the collection in its root fs)
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, scripts.dir],
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if os.path.exists(marker) and len(open(marker).read().split()) == 2:
            break
        time.sleep(0.02)
    pids = [int(p) for p in open(marker).read().split()]
    assert len(pids) == 2
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    left = [p for p in pids if not _wait_gone(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "plugin processes outlived the killed module: %s" % left


def test_stop_kills_what_is_left_of_a_dead_runs_group(scripts):
    proc = subprocess.Popen(["sleep", "600"], process_group=0)
    group = {"pgid": proc.pid, "start_time": _procs.process_identity(proc.pid).start_time}
    # the leader is another process now (pid reused): not ours to signal
    _procgroup.PluginGroup.stop({"pgid": proc.pid, "start_time": group["start_time"] + 1})
    assert proc.poll() is None
    _procgroup.PluginGroup.stop(group)
    assert proc.wait(timeout=10) == -signal.SIGKILL


# --- GC: what cannot be read is kept and reported (item 4) ---

def test_gc_keeps_what_an_unusable_entry_may_hold(tmp_path):
    ctx = _ctx(tmp_path)
    data_dir = str(tmp_path / "ipam")
    config = dict(CONFIG, plugins=[dict(CONFIG["plugins"][0], ipam={
        "type": "host-local", "dataDir": data_dir, "ranges": [[{"subnet": "10.231.1.0/24"}]]})])
    os.makedirs(ctx.config_dir)
    _write(os.path.join(ctx.config_dir, "pnd-net.conflist"), json.dumps(config))
    os.makedirs(os.path.join(data_dir, "pnd-net"))
    for ip, cid in (("10.231.1.3", "pnd-c1"), ("10.231.1.4", "pnd-orphan")):
        res = _write(os.path.join(data_dir, "pnd-net", ip), "%s\r\neth0" % cid)
        os.utime(res, (time.time() - 3600, time.time() - 3600))
    os.makedirs(os.path.join(ctx.cache_dir, "results"))
    bad = _write(cnicache.entry_path(ctx.cache_dir, "pnd-net", "pnd-c1", "eth0"), '{"kind": "cniCacheV1", "res')
    _write(cnicache.entry_path(ctx.cache_dir, "pnd-net", "pnd-nons", "eth0"),
           json.dumps(entry_json(containerId="pnd-nons", netns=DROP, result={"cniVersion": "1.0.0"})))
    os.makedirs(os.path.join(ctx.state_dir, "containers"))
    rec = _write(_state.record_path(ctx.state_dir, "pnd-c9"), "[]")
    out = _gc.prune_stale(ctx)
    assert [r["ip"] for r in out["pruned"]["reservations"]] == ["10.231.1.4"]
    assert sorted(u["path"] for u in out["pruned"]["unreadable"]) == sorted([bad, rec])
    assert [s["container_id"] for s in out["pruned"]["skipped"]] == ["pnd-nons"]
    assert any(bad in w for w in out["warnings"])
    assert os.path.exists(bad) and os.path.exists(rec)
    assert os.path.exists(os.path.join(data_dir, "pnd-net", "10.231.1.3"))
