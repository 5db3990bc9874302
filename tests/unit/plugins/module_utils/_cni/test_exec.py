# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_cni/exec: stdin and env building, ADD/DEL/CHECK chaining, plugin error handling.

The chain logic is driven through a recording executor; PluginExecutor itself runs
small shell scripts standing in for plugins (the real plugins are in tests/functional).
"""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _attach
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cc
from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as ce
from ansible_collections.podnet.cni.plugins.module_utils._errors import CniPluginError, ConfigError


def conflist(version="1.0.0", disable_check=False):
    obj = {"cniVersion": version, "name": "pnf-net", "disableCheck": disable_check, "plugins": [
        {"type": "bridge", "name": "ignored", "bridge": "pnfbr0",
         "ipam": {"type": "host-local", "subnet": "10.220.3.0/24"}},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        {"type": "tuning", "capabilities": {"mac": False}},
        {"type": "dnsname", "capabilities": {"aliases": True}},
    ]}
    return cc.conflist_from_bytes(json.dumps(obj).encode())


RT = ce.RuntimeConf("c1", "/run/netns/pnf-c1", "eth0",
                    [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "web"]],
                    {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
                     "mac": "02:00:00:00:00:01", "aliases": {"pnf-net": ["web"]},
                     "bandwidth": {"ingressRate": 1}})


@pytest.mark.parametrize("index,prev,expected_runtime", [
    (0, None, None),                                       # bridge declares nothing
    (1, {"cniVersion": "1.0.0", "ips": []},
     {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}),
    (2, None, None),                                       # mac declared false
    (3, None, {"aliases": {"pnf-net": ["web"]}}),
])
def test_plugin_stdin(index, prev, expected_runtime):
    conf = conflist()
    data = json.loads(ce.plugin_stdin(conf, conf.plugins[index], RT, prev))
    assert data["name"] == "pnf-net"          # the list's name wins over the plugin's
    assert data["cniVersion"] == "1.0.0"
    assert data["type"] == conf.plugins[index]["type"]
    if prev is None:
        assert "prevResult" not in data
    else:
        assert data["prevResult"] == prev
    if expected_runtime is None:
        assert "runtimeConfig" not in data
    else:
        assert data["runtimeConfig"] == expected_runtime
    assert conf.plugins[0]["name"] == "ignored"   # the loaded config is not mutated


def test_plugin_stdin_capability_not_requested():
    conf = conflist()
    rt = ce.RuntimeConf("c1", "/ns", "eth0")
    assert "runtimeConfig" not in json.loads(ce.plugin_stdin(conf, conf.plugins[1], rt))


def test_plugin_stdin_drops_a_stale_prev_result():
    conf = conflist()
    plugin = dict(conf.plugins[0], prevResult={"old": True})
    assert "prevResult" not in json.loads(ce.plugin_stdin(conf, plugin, RT, None))


@pytest.mark.parametrize("args,expected", [
    ([], ""),
    ([["IgnoreUnknown", "1"]], "IgnoreUnknown=1"),
    ([["IgnoreUnknown", "1"], ["K8S_POD_NAME", "web"], ["IP", "10.220.3.5"]],
     "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.220.3.5"),
])
def test_cni_args_string(args, expected):
    assert ce.RuntimeConf("c", "/ns", "eth0", args).cni_args_string() == expected


def test_env_for_a_command():
    ex = ce.PluginExecutor(["/a", "/b"], environ={"PATH": "/usr/bin:/bin", "CNI_NETNS": "leak",
                                                  "HOME": "/root"})
    env = ex.env("ADD", RT)
    assert env["CNI_COMMAND"] == "ADD"
    assert env["CNI_CONTAINERID"] == "c1"
    assert env["CNI_NETNS"] == "/run/netns/pnf-c1"
    assert env["CNI_IFNAME"] == "eth0"
    assert env["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"
    assert env["CNI_PATH"] == "/a:/b"
    assert env["HOME"] == "/root"
    # plugins run iptables from PATH: the sbin dirs are always there
    assert env["PATH"].split(":")[:2] == ["/usr/bin", "/bin"]
    assert {"/usr/sbin", "/sbin"} <= set(env["PATH"].split(":"))


def test_env_for_version_does_not_leak_ours():
    ex = ce.PluginExecutor(["/a"], environ={"PATH": "/bin", "CNI_NETNS": "/leak",
                                            "CNI_CONTAINERID": "leak", "CNI_ARGS": "X=1"})
    env = ex.env("VERSION", None)
    assert env["CNI_COMMAND"] == "VERSION"
    assert env["CNI_CONTAINERID"] == ""
    assert env["CNI_ARGS"] == ""
    assert env["CNI_NETNS"] == "dummy"
    assert env["CNI_IFNAME"] == "dummy"


class Recorder:
    """An executor that records each call and answers from a script of results."""

    def __init__(self, results=None, fail=None):
        self.calls = []
        self.results = results or {}
        self.fail = fail or {}

    def run(self, ptype, command, rt, stdin, network=""):
        self.calls.append((ptype, command, json.loads(stdin)))
        if (ptype, command) in self.fail:
            raise CniPluginError(self.fail[(ptype, command)], code=7, plugin=ptype,
                                 command=command, network=network)
        return self.results.get((ptype, command), {"cniVersion": "1.0.0", "from": ptype})


def test_add_chains_prev_result_in_order():
    rec = Recorder()
    result = ce.add_network_list(rec, conflist(), RT)
    assert [c[0] for c in rec.calls] == ["bridge", "portmap", "tuning", "dnsname"]
    assert "prevResult" not in rec.calls[0][2]
    for i in range(1, 4):
        assert rec.calls[i][2]["prevResult"]["from"] == rec.calls[i - 1][0]
    assert result == {"cniVersion": "1.0.0", "from": "dnsname"}


def test_add_converts_a_result_of_another_version():
    old = {"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.220.3.2/24"}]}
    rec = Recorder(results={("bridge", "ADD"): old})
    conf = conflist("0.4.0")
    ce.add_network_list(rec, conf, RT)
    assert rec.calls[1][2]["prevResult"] == {"cniVersion": "0.4.0", "ips": [
        {"version": "4", "address": "10.220.3.2/24"}]}


def test_add_without_result_fails():
    rec = Recorder(results={("portmap", "ADD"): None})
    with pytest.raises(CniPluginError, match="portmap failed on ADD.*no result"):
        ce.add_network_list(rec, conflist(), RT)
    assert [c[0] for c in rec.calls] == ["bridge", "portmap"]


@pytest.mark.parametrize("version,prev_expected", [
    ("1.0.0", {"cniVersion": "1.0.0", "ips": [{"address": "10.220.3.2/24"}]}),
    ("0.4.0", {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.220.3.2/24"}]}),
    ("0.3.1", None),   # no prevResult on DEL before 0.4.0
])
def test_del_reverse_order_with_cached_result(version, prev_expected):
    cached = {"cniVersion": "1.0.0", "ips": [{"address": "10.220.3.2/24"}]}
    rec = Recorder()
    assert ce.del_network_list(rec, conflist(version), RT, cached) == []
    assert [c[0] for c in rec.calls] == ["dnsname", "tuning", "portmap", "bridge"]
    assert all(c[1] == "DEL" for c in rec.calls)
    for call in rec.calls:
        assert call[2].get("prevResult") == prev_expected
    assert rec.calls[2][2]["runtimeConfig"]["portMappings"][0]["hostPort"] == 8080


def test_del_runs_every_plugin_and_raises_the_first_error():
    rec = Recorder(fail={("tuning", "DEL"): "boom", ("bridge", "DEL"): "later"})
    with pytest.raises(CniPluginError, match="tuning failed on DEL.*boom"):
        ce.del_network_list(rec, conflist(), RT, None)
    assert [c[0] for c in rec.calls] == ["dnsname", "tuning", "portmap", "bridge"]


def test_del_tolerated_errors_are_returned():
    rec = Recorder(fail={("portmap", "DEL"): "Couldn't load target `CNI-DN-123'"})
    tolerated = ce.del_network_list(rec, conflist(), RT, None,
                                    tolerate=_attach.tolerate_missing_rules)
    assert [e.plugin for e in tolerated] == ["portmap"]
    assert len(rec.calls) == 4


def test_check_in_order_with_cached_result():
    cached = {"cniVersion": "1.0.0", "ips": []}
    rec = Recorder()
    ce.check_network_list(rec, conflist(), RT, cached)
    assert [(c[0], c[1]) for c in rec.calls] == [
        ("bridge", "CHECK"), ("portmap", "CHECK"), ("tuning", "CHECK"), ("dnsname", "CHECK")]
    assert all(c[2]["prevResult"] == cached for c in rec.calls)


def test_check_disabled_or_unsupported():
    rec = Recorder()
    ce.check_network_list(rec, conflist(disable_check=True), RT, {})
    assert rec.calls == []
    assert ce.check_supported(conflist()) is True
    assert ce.check_supported(conflist(disable_check=True)) is False
    assert ce.check_supported(conflist("0.3.1")) is False
    with pytest.raises(ConfigError, match="CHECK needs cniVersion 0.4.0"):
        ce.check_network_list(rec, conflist("0.3.1"), RT, {})


@pytest.mark.parametrize("version,expected", [
    ("1.0.0", (1, 0, 0)), ("0.4.0", (0, 4, 0)), ("", (0, 0, 0)), ("x", (0, 0, 0)),
])
def test_version_tuple(version, expected):
    assert ce.version_tuple(version) == expected


# --- PluginExecutor with script plugins ---

def test_run_passes_stdin_and_env(scripts):
    scripts("echo", 'cat > "$0.in"; env > "$0.env"; '
                    'echo \'{"cniVersion":"1.0.0","ips":[]}\'\n')
    ex = ce.PluginExecutor([scripts.dir])
    result = ex.run("echo", "ADD", RT, b'{"x":1}', "pnf-net")
    assert result == {"cniVersion": "1.0.0", "ips": []}
    with open(os.path.join(scripts.dir, "echo.in")) as f:
        assert f.read() == '{"x":1}'
    with open(os.path.join(scripts.dir, "echo.env")) as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    assert env["CNI_COMMAND"] == "ADD"
    assert env["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"


def test_run_keeps_the_error_json(scripts):
    scripts("bad", 'echo \'{"cniVersion":"1.0.0","code":11,"msg":"no IP addresses available",'
                   '"details":"range 10.220.3.0/24 is full"}\'; echo noise >&2; exit 1\n')
    ex = ce.PluginExecutor([scripts.dir])
    with pytest.raises(CniPluginError) as info:
        ex.run("bad", "ADD", RT, b"{}", "pnf-net")
    err = info.value
    assert (err.code, err.cni_msg, err.cni_details) == (
        11, "no IP addresses available", "range 10.220.3.0/24 is full")
    assert (err.plugin, err.command, err.network) == ("bad", "ADD", "pnf-net")
    assert err.stderr == "noise\n"
    assert str(err) == ("CNI plugin bad failed on ADD for network pnf-net (code 11): "
                        "no IP addresses available: range 10.220.3.0/24 is full")
    assert err.details["cni_code"] == 11


def test_run_error_without_json_uses_stderr(scripts):
    scripts("crash", "echo 'panic: oops' >&2; exit 2\n")
    with pytest.raises(CniPluginError) as info:
        ce.PluginExecutor([scripts.dir]).run("crash", "DEL", RT, b"{}")
    assert info.value.code == 2
    assert info.value.cni_msg == "panic: oops"


@pytest.mark.parametrize("body,result", [("exit 0\n", None), ("echo '  '\n", None)])
def test_run_empty_output(scripts, body, result):
    scripts("quiet", body)
    assert ce.PluginExecutor([scripts.dir]).run("quiet", "DEL", RT, b"{}") is result


def test_run_invalid_json_result(scripts):
    scripts("junk", "echo 'not json'\n")
    with pytest.raises(CniPluginError, match="invalid JSON result"):
        ce.PluginExecutor([scripts.dir]).run("junk", "ADD", RT, b"{}")


def test_run_timeout(scripts):
    scripts("slow", "exec sleep 30\n")
    ex = ce.PluginExecutor([scripts.dir], timeout=0.3)
    with pytest.raises(CniPluginError) as info:
        ex.run("slow", "ADD", RT, b"{}", "pnf-net")
    assert info.value.code == -1
    assert "timed out" in str(info.value)


def test_run_missing_plugin(scripts):
    with pytest.raises(ConfigError, match="CNI plugin 'nope' not found in %s" % scripts.dir):
        ce.PluginExecutor([scripts.dir]).run("nope", "ADD", RT, b"{}")


def test_plugin_versions(scripts):
    scripts("v", 'cat >/dev/null; echo "{\\"cniVersion\\":\\"1.0.0\\",\\"supportedVersions\\":'
                 '[\\"0.4.0\\",\\"1.0.0\\"],\\"netns\\":\\"$CNI_NETNS\\"}"\n')
    info = ce.plugin_versions(ce.PluginExecutor([scripts.dir]), "v")
    assert info["supportedVersions"] == ["0.4.0", "1.0.0"]
    assert info["netns"] == "dummy"


# --- the RuntimeConf podman would build (CNI_ARGS and capabilities) ---

def _spec(**kw):
    kw.setdefault("network", "pnf-net")
    kw.setdefault("ifname", "eth0")
    return _attach.AttachmentSpec(**kw)


@pytest.mark.parametrize("spec_kw,extra_args,caps", [
    ({}, [], {}),
    ({"ips": ["10.220.3.9"]}, [["IP", "10.220.3.9"]], {}),
    ({"mac": "02:00:00:00:00:09"}, [["MAC", "02:00:00:00:00:09"]], {}),
    ({"port_mappings": [{"container_port": 80, "host_port": 8080, "host_ip": "127.0.0.1"}]}, [],
     {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp",
                        "hostIP": "127.0.0.1"}]}),
    ({"aliases": ["web", "app"]}, [], {"aliases": {"pnf-net": ["app", "web"]}}),
    ({"cni_args": {"K8S_POD_NAME": "other", "FOO": "bar"}}, [["FOO", "bar"]], {}),
    ({"capability_args": {"bandwidth": {"ingressRate": 1}}}, [],
     {"bandwidth": {"ingressRate": 1}}),
])
def test_runtime_conf(spec_kw, extra_args, caps):
    rt = _attach.runtime_conf(conflist(), _spec(**spec_kw), "c1", "web", "/run/netns/x")
    base = [["IgnoreUnknown", "1"], ["K8S_POD_NAMESPACE", "web"], ["K8S_POD_NAME", "web"],
            ["K8S_POD_INFRA_CONTAINER_ID", "c1"]]
    if "cni_args" in spec_kw:
        base = [a for a in base if a[0] != "K8S_POD_NAME"] + [["K8S_POD_NAME", "other"]]
    assert rt.args == base + extra_args
    assert rt.capability_args == caps
    assert (rt.container_id, rt.netns, rt.ifname) == ("c1", "/run/netns/x", "eth0")
    assert rt.cni_args_string().startswith("IgnoreUnknown=1;")


def test_runtime_conf_ips_capability():
    obj = {"cniVersion": "1.0.0", "name": "n", "plugins": [
        {"type": "bridge", "capabilities": {"ips": True, "mac": True},
         "ipam": {"type": "static"}}]}
    conf = cc.conflist_from_bytes(json.dumps(obj).encode())
    rt = _attach.runtime_conf(conf, _spec(network="n", ips=["10.220.3.9"], mac="02:00:00:00:00:09"),
                              "c1", "web", "/ns")
    assert rt.capability_args == {"ips": ["10.220.3.9"], "mac": "02:00:00:00:00:09"}
    assert ["IP", "10.220.3.9"] not in rt.args
    assert ["MAC", "02:00:00:00:00:09"] in rt.args
