# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rootless end to end, as a real unprivileged user: rootless_cni_ns and container_netns
through ansible (become su) and run directly; traffic through a slirp4netns-forwarded
port; container to container; faults (killed slirp4netns or holder, stale pid files,
bad XDG_RUNTIME_DIR); nothing of the user left afterwards; the host untouched.

The tests run in file order and share one user and one rootless namespace.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from typing import Any, Dict, List

import pytest

PREFIX = "pnr"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create the test user")

TAG = secrets.token_hex(2)
NET = "%s%snet" % (PREFIX, TAG)
BRIDGE = "%s%sbr" % (PREFIX, TAG)
SUBNET_OCTET = 10 + secrets.randbelow(200)
SUBNET = "10.224.%d.0/24" % SUBNET_OCTET
SLIRP_CIDR = "10.224.%d.0/24" % (SUBNET_OCTET + 1)
PORT1 = 20600 + secrets.randbelow(30)
PORT2 = PORT1 + 30
PORT3 = PORT1 + 60
C1 = "%s%sc1" % (PREFIX, TAG)
C2 = "%s%sc2" % (PREFIX, TAG)
C3 = "%s%ss3" % (PREFIX, TAG)
TEXT = "hello-%s" % TAG


def _lines(argv: List[str], tokens: List[str]) -> List[str]:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    return sorted(l for l in proc.stdout.decode().splitlines()
                  if any(t in l for t in tokens) and not l.startswith("#"))


def host_snapshot(user_name: str) -> Dict[str, List[str]]:
    """What of ours could show up in the host's own netns: names with our prefix, our
    subnets, a tap device, our netns names."""
    tokens = [user_name, PREFIX + TAG, "10.224.%d." % SUBNET_OCTET, "10.224.%d." % (SUBNET_OCTET + 1),
              "tap0"]
    return {"links": _lines(["ip", "-o", "link", "show"], tokens),
            "addrs": _lines(["ip", "-o", "addr", "show"], tokens),
            "iptables": _lines(["iptables-save"], tokens),
            "ip6tables": _lines(["ip6tables-save"], tokens),
            "nft": _lines(["nft", "list", "ruleset"], tokens),
            "netns": _lines(["ip", "netns", "list"], tokens),
            "routes": _lines(["ip", "route", "show", "table", "all"], tokens)}


def tcp_get(host: str, port: int, tries: int = 25) -> str:
    """What the server at host:port says; retried while the server starts."""
    last = ""
    for _attempt in range(tries):
        try:
            with socket.create_connection((host, port), timeout=3) as s:
                s.settimeout(3)
                data = b""
                while True:
                    chunk = s.recv(100)
                    if not chunk:
                        break
                    data += chunk
            last = data.decode().strip()
            if last:
                return last
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    return last


@pytest.fixture(scope="module")
def env(ruser):
    """Config dir with one bridge network, servers started by the tests, a host snapshot."""
    conf_dir = os.path.join(ruser.tmp, "net.d")
    os.makedirs(conf_dir, mode=0o755)
    conflist = {"cniVersion": "1.0.0", "name": NET, "plugins": [
        {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
         "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                  "ranges": [[{"subnet": SUBNET}]]}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall"}, {"type": "tuning"}]}
    with open(os.path.join(conf_dir, NET + ".conflist"), "w") as f:
        json.dump(conflist, f)
    os.chmod(os.path.join(conf_dir, NET + ".conflist"), 0o644)
    data: Dict[str, Any] = {"conf": conf_dir, "servers": [], "before": host_snapshot(ruser.name)}
    yield data
    for proc in data["servers"]:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def container_args(env: Dict[str, Any], cid: str, ports: List[Dict[str, Any]] = (), **kw: Any) -> Dict[str, Any]:
    args = {"container_id": cid, "networks": [NET], "cni_config_dir": env["conf"],
            "port_mappings": list(ports)}
    args.update(kw)
    return args


def serve(ruser, env, cid: str) -> None:
    proc = ruser.in_netns(ruser.netns_path("podnet-%s" % cid),
                          ["busybox", "nc", "-ll", "-p", "8080", "-e", "busybox", "echo", TEXT],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env["servers"].append(proc)


def stop_servers(env) -> None:
    for proc in env["servers"]:
        stop(proc)
    env["servers"] = []


def test_runtime_dir_missing_or_foreign_is_a_clear_error(ruser):
    res = ruser.direct("rootless_cni_ns", {"state": "present"},
                       env={"XDG_RUNTIME_DIR": "/run/user/%d/missing" % ruser.uid})
    assert res.get("failed") and "does not exist" in res["msg"] and "XDG_RUNTIME_DIR" in res["msg"]
    res = ruser.direct("rootless_cni_ns", {"state": "present"}, env={"XDG_RUNTIME_DIR": "/tmp"})
    assert res.get("failed") and "owned by uid 0" in res["msg"]
    res = ruser.direct("container_netns", {"container_id": "x", "networks": ["n"]},
                       env={"XDG_RUNTIME_DIR": "/tmp"})
    assert res.get("failed") and "XDG_RUNTIME_DIR /tmp" in res["msg"]
    assert ruser.processes() == []


def test_check_mode_builds_nothing(ruser):
    res = ruser.direct("rootless_cni_ns", {"cidr": SLIRP_CIDR}, check=True, diff=True)
    assert res["changed"] is True, res
    assert [a["action"] for a in res["actions"]] == ["start_holder", "create_netns", "create_dirs",
                                                     "write_resolv_conf", "start_slirp4netns",
                                                     "save_options"]
    assert res["diff"]["before"]["holder"] is False and res["diff"]["after"]["holder"] is True
    assert res["dns"] == "10.224.%d.3" % (SUBNET_OCTET + 1)
    assert ruser.processes() == []
    assert ruser.state("holder") is None


def test_present_then_idempotent(ruser):
    res = ruser.ansible("rootless_cni_ns", {"cidr": SLIRP_CIDR})
    assert res["changed"] is True, res
    assert [a["action"] for a in res["actions"]] == ["start_holder", "create_netns", "create_dirs",
                                                     "write_resolv_conf", "start_slirp4netns",
                                                     "save_options"]
    pid = res["slirp4netns_pid"]
    assert pid and os.path.exists("/proc/%d" % pid)
    assert res["features"]["api_socket"] and res["features"]["netns_type"]
    again = ruser.ansible("rootless_cni_ns", {"cidr": SLIRP_CIDR})
    assert again["changed"] is False, again
    assert again["slirp4netns_pid"] == pid
    check = ruser.direct("rootless_cni_ns", {"cidr": SLIRP_CIDR}, check=True, diff=True)
    assert check["changed"] is False and check["diff"]["before"] == check["diff"]["after"], check
    resolv = open(os.path.join(ruser.runtime, "podnet", "rootless-cni", "resolv.conf")).read()
    assert resolv.splitlines()[0] == "nameserver 10.224.%d.3" % (SUBNET_OCTET + 1)
    assert "nameserver 127." not in resolv
    # the holder maps the full sub-id range (uidmap is installed and useradd gave sub-ids)
    with open("/proc/%d/uid_map" % ruser.holder_pid()) as f:
        assert len(f.read().split("\n")) >= 3


def test_container_serves_on_forwarded_port(ruser, env):
    ports = [{"host_port": PORT1, "container_port": 8080, "host_ip": "127.0.0.1"}]
    check = ruser.ansible("container_netns", container_args(env, C1, ports), check=True)
    assert check["changed"] is True
    res = ruser.ansible("container_netns", container_args(env, C1, ports))
    assert res["changed"] is True, res
    assert res["network_settings"]["IPAddress"].startswith("10.224.%d." % SUBNET_OCTET)
    env["c1_ip"] = res["network_settings"]["IPAddress"]
    again = ruser.ansible("container_netns", container_args(env, C1, ports))
    assert again["changed"] is False, again
    serve(ruser, env, C1)
    assert tcp_get("127.0.0.1", PORT1) == TEXT
    # the port is forwarded on 127.0.0.1 only, as asked
    hostfwds = json.loads(open(os.path.join(ruser.runtime, "podnet", "rootless-cni",
                                            "attachments.json")).read())
    assert [["tcp", "127.0.0.1", PORT1]] in [v["hostfwds"] for v in hostfwds.values()]


def test_two_containers_reach_each_other(ruser, env):
    res = ruser.direct("container_netns", container_args(
        env, C2, [{"host_port": PORT2, "container_port": 8080}]))
    assert res["changed"] is True, res
    out = ruser.run_in_netns(ruser.netns_path("podnet-%s" % C2),
                             ["busybox", "nc", "-w", "3", env["c1_ip"], "8080"])
    assert TEXT in out


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    for _attempt in range(100):
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return
        except OSError:
            return
        time.sleep(0.05)


def test_killed_slirp4netns_is_restarted(ruser, env):
    old = ruser.state("slirp")["pid"]
    _kill(old)
    res = ruser.ansible("rootless_cni_ns", {"cidr": SLIRP_CIDR})
    assert res["changed"] is True
    assert "start_slirp4netns" in [a["action"] for a in res["actions"]]
    assert res["slirp4netns_pid"] != old
    assert tcp_get("127.0.0.1", PORT1) == TEXT  # forwarded ports were added again


def test_stale_slirp_pid_file_leaves_other_process_alone(ruser, env):
    state = ruser.state("slirp")
    _kill(state["pid"])
    other = ruser.spawn_as_user(["sleep", "300"])
    try:
        state["pid"] = other.pid
        with open(ruser.state_path("slirp"), "w") as f:
            json.dump(state, f)
        res = ruser.direct("rootless_cni_ns", {"cidr": SLIRP_CIDR})
        assert res["changed"] is True, res
        assert other.poll() is None, "a process that is not our slirp4netns was signalled"
        assert tcp_get("127.0.0.1", PORT1) == TEXT
    finally:
        stop(other)


def test_sandbox_keeps_the_namespaces(ruser, env):
    """--enable-sandbox (the default, as podman's, when slirp4netns supports it) remounts /
    in slirp4netns' own mount namespace: the holder's netns mounts must survive it
    (slirp4netns runs in a private copy). Turned off and on again, it restarts."""
    off = {"cidr": SLIRP_CIDR, "enable_sandbox": False, "enable_seccomp": False}
    res = ruser.ansible("rootless_cni_ns", off)
    assert res["changed"] is True and "start_slirp4netns" in [a["action"] for a in res["actions"]]
    assert "--enable-sandbox" not in open("/proc/%d/cmdline" % res["slirp4netns_pid"]).read()
    args = {"cidr": SLIRP_CIDR, "enable_sandbox": True, "enable_seccomp": True}
    res = ruser.ansible("rootless_cni_ns", args)
    assert res["changed"] is True and "start_slirp4netns" in [a["action"] for a in res["actions"]]
    cmdline = open("/proc/%d/cmdline" % res["slirp4netns_pid"]).read().split("\0")
    assert "--enable-sandbox" in cmdline and "--enable-seccomp" in cmdline
    assert ruser.ansible("rootless_cni_ns", args)["changed"] is False
    assert tcp_get("127.0.0.1", PORT1) == TEXT
    out = ruser.run_in_netns(ruser.netns_path("podnet-%s" % C2),
                             ["busybox", "nc", "-w", "3", env["c1_ip"], "8080"])
    assert TEXT in out


def test_killed_holder_is_rebuilt(ruser, env):
    stop_servers(env)
    _kill(ruser.holder_pid())
    other = ruser.spawn_as_user(["sleep", "300"])
    try:
        state = ruser.state("holder")
        state["pid"] = other.pid  # the holder's pid file now names another process
        with open(ruser.state_path("holder"), "w") as f:
            json.dump(state, f)
        check = ruser.direct("rootless_cni_ns", {"cidr": SLIRP_CIDR}, check=True)
        assert check["changed"] is True and check["actions"][0]["action"] == "start_holder"
        res = ruser.ansible("rootless_cni_ns", {"cidr": SLIRP_CIDR})
        assert res["changed"] is True, res
        assert [a["action"] for a in res["actions"]][:2] == ["start_holder", "create_netns"]
        assert other.poll() is None
        assert ruser.holder_pid() != other.pid
    finally:
        stop(other)
    # the containers' namespaces died with the old holder: present makes them again
    ports = [{"host_port": PORT1, "container_port": 8080, "host_ip": "127.0.0.1"}]
    res = ruser.ansible("container_netns", container_args(env, C1, ports))
    assert res["changed"] is True, res
    serve(ruser, env, C1)
    assert tcp_get("127.0.0.1", PORT1) == TEXT
    res = ruser.direct("container_netns", container_args(
        env, C2, [{"host_port": PORT2, "container_port": 8080}]))
    assert res["changed"] is True, res


def test_slirp4netns_mode_container(ruser, env):
    """network_mode slirp4netns: the container's own slirp4netns, ports through its API."""
    args = {"container_id": C3, "network_mode": "slirp4netns",
            "port_mappings": [{"host_port": PORT3, "container_port": 8080}]}
    res = ruser.ansible("container_netns", args)
    assert res["changed"] is True, res
    assert [a["action"] for a in res["actions"]] == ["create_netns", "start_slirp4netns"]
    assert ruser.ansible("container_netns", args)["changed"] is False
    serve(ruser, env, C3)
    assert tcp_get("127.0.0.1", PORT3) == TEXT
    # inspect: its ports in podman's shape, network_io from its tap0 (which carried that)
    info = ruser.direct("container_netns_info", {"container_id": C3})["containers"][C3]
    assert info["network_settings"]["Ports"] == {"8080/tcp": [{"HostIp": "", "HostPort": str(PORT3)}]}, info
    io = info["network_io"]
    assert io == {k: info["interfaces"]["tap0"]["stats"][k] for k in io} and io["tx_bytes"] > 0, info
    mine = [p for p in ruser.processes() if "slirp4netns" in p["cmdline"] and
            ruser.netns_path("podnet-%s" % C3) in p["cmdline"]]
    assert len(mine) == 1
    _kill(mine[0]["pid"])
    res = ruser.direct("container_netns", args)
    assert [a["action"] for a in res["actions"]] == ["start_slirp4netns"], res
    assert tcp_get("127.0.0.1", PORT3) == TEXT
    stop(env["servers"].pop())
    res = ruser.direct("container_netns", {"container_id": C3, "state": "absent"})
    assert [a["action"] for a in res["actions"]] == ["stop_slirp4netns", "remove_netns"], res
    assert not [p for p in ruser.processes() if ruser.netns_path("podnet-%s" % C3) in p["cmdline"]]


def test_absent_refused_while_attached(ruser, env):
    res = ruser.ansible("rootless_cni_ns", {"state": "absent"})
    assert res.get("failed") and "attachment" in res["msg"], res


def test_last_detach_leaves_nothing(ruser, env):
    stop_servers(env)
    check = ruser.direct("container_netns", {"container_id": C1, "state": "absent",
                                             "cni_config_dir": env["conf"]}, check=True, diff=True)
    assert check["changed"] is True and check["diff"]["before"] != check["diff"]["after"]
    for cid, runner in ((C1, ruser.ansible), (C2, ruser.direct)):
        res = runner("container_netns", {"container_id": cid, "state": "absent",
                                         "cni_config_dir": env["conf"]})
        assert res["changed"] is True, res
    assert ruser.processes() == []
    assert ruser.mounts() == []
    for rel in ("netns", "podnet/rootless-cni", "podnet/pause.pid"):
        assert not os.path.lexists(os.path.join(ruser.runtime, rel)), rel
    res = ruser.ansible("rootless_cni_ns", {"state": "absent"})
    assert res["changed"] is False, res
    assert host_snapshot(ruser.name) == env["before"]


def test_absent_after_present_removes_everything(ruser):
    res = ruser.direct("rootless_cni_ns", {"state": "present"})
    assert res["changed"] is True
    check = ruser.direct("rootless_cni_ns", {"state": "absent"}, check=True)
    assert check["changed"] is True and ruser.processes() != []
    res = ruser.ansible("rootless_cni_ns", {"state": "absent"})
    assert res["changed"] is True, res
    assert ruser.processes() == [] and ruser.mounts() == []
    assert not os.path.lexists(os.path.join(ruser.runtime, "netns"))


def test_parallel_runs_share_one_namespace(ruser, env):
    """Two module runs at once from nothing: the rootless lock makes one build the holder
    and the namespace and the other join them; two removals at once leave nothing."""
    import concurrent.futures
    cids = ["%s%sp%d" % (PREFIX, TAG, i) for i in (1, 2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda cid: ruser.direct("container_netns", container_args(env, cid)), cids))
    assert all(r.get("changed") is True for r in results), results
    holders = [p for p in ruser.processes() if "podnet-pause" in p["cmdline"]]
    slirps = [p for p in ruser.processes() if "rootless-cni-ns" in p["cmdline"]]
    assert len(holders) == 1 and len(slirps) == 1, ruser.processes()
    ips = [r["network_settings"]["IPAddress"] for r in results]
    assert len(set(ips)) == 2
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda cid: ruser.direct(
            "container_netns", {"container_id": cid, "state": "absent", "cni_config_dir": env["conf"]}),
            cids))
    assert all(r.get("changed") is True for r in results), results
    assert ruser.processes() == [] and ruser.mounts() == []
    assert host_snapshot(ruser.name) == env["before"]
