# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rootless CNI namespace over its lifetime (issue 15): declared options survive the
on-demand rebuild (item 14), slirp4netns is reaped after the on-demand teardown (15), it
is hardened with --enable-sandbox/--enable-seccomp by default with a way out (16), and
``state=absent force=true`` does what it says and leaves a state that recovers (13d).

The tests run in file order and share one user."""
from __future__ import annotations

import glob
import json
import os
import secrets
import stat
import subprocess

import pnq_env as E

TAG = secrets.token_hex(2)
NET = "pnq%sns" % TAG
CIDR = E.subnet(31)
PORT = E.port(30)
SLIRP_PORT = E.port(31)
TEXT = "pnq-%s" % TAG


def cid(name: str) -> str:
    return "pnq%s%s" % (TAG, name)


def slirp_cmdline(user, netns_part="rootless-cni-ns"):
    procs = E.user_slirps(user, netns_part, zombies=False)
    assert len(procs) == 1, procs
    return procs[0]["cmdline"].split()


def container(user, conf, name, **kw):
    args = {"container_id": cid(name), "networks": [NET], "cni_config_dir": conf}
    args.update(kw)
    return user.direct("container_netns", args)


def test_declared_options_survive_the_rebuild_on_demand(quser):
    conf = E.user_conflist(quser, NET, 30)
    declared = {"cidr": CIDR, "mtu": 1500, "enable_sandbox": False, "disable_host_loopback": False}
    res = quser.direct("rootless_cni_ns", declared)
    assert res["changed"] is True and res["options"]["mtu"] == 1500, res
    path = E.rootless_paths(quser)["options"]
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == quser.uid
    # a container comes and goes: the last one leaving takes the namespace down
    assert container(quser, conf, "a")["changed"] is True
    assert container(quser, conf, "a", state="absent")["changed"] is True
    assert quser.processes() == [], "the on-demand teardown left processes"
    # the next container builds it again: with the declared options, not the defaults
    res = container(quser, conf, "b")
    assert res.get("changed") is True, res
    argv = slirp_cmdline(quser)
    assert "--mtu=1500" in argv and "--cidr=%s" % CIDR in argv, argv
    assert "--enable-sandbox" not in argv and "--disable-host-loopback" not in argv, argv
    assert "--enable-seccomp" in argv, argv  # not declared: on, as supported
    assert res["network_settings"]["IPAddress"].startswith("10.232.30.")
    # and the same declaration is no change
    again = quser.direct("rootless_cni_ns", declared)
    assert again["changed"] is False, again
    check = quser.direct("rootless_cni_ns", declared, check=True, diff=True)
    assert check["changed"] is False and check["diff"]["before"] == check["diff"]["after"], check
    assert container(quser, conf, "b", state="absent")["changed"] is True


def test_options_file_is_validated_when_read(quser):
    conf = E.user_conflist(quser, NET, 30)
    path = E.rootless_paths(quser)["options"]
    with open(path) as f:
        good = f.read()
    E.write_as(quser, path, json.dumps(dict(json.loads(good), mtu="1500; rm -rf ~")).encode())
    res = container(quser, conf, "c")
    assert res.get("failed") is True and path in res["msg"] and "mtu" in res["msg"], res
    assert "unexpected error" not in res["msg"]
    assert quser.processes() == []
    # rootless_cni_ns declares again: the bad file is replaced, with a warning
    declared = {"cidr": CIDR, "mtu": 1500, "enable_sandbox": False, "disable_host_loopback": False}
    res = quser.direct("rootless_cni_ns", declared)
    assert res["changed"] is True and "save_options" in [a["action"] for a in res["actions"]], res
    assert path in E.warnings_text(res), res
    with open(path) as f:
        assert json.loads(f.read()) == json.loads(good)
    assert quser.direct("rootless_cni_ns", {"state": "absent"})["changed"] is True


def test_sandbox_and_seccomp_by_default_with_a_way_out(quser):
    res = quser.direct("rootless_cni_ns", {"cidr": CIDR})
    assert res["changed"] is True and res["features"]["sandbox"] and res["features"]["seccomp"]
    argv = slirp_cmdline(quser)
    assert "--enable-sandbox" in argv and "--enable-seccomp" in argv, argv
    res = quser.direct("rootless_cni_ns", {"cidr": CIDR, "enable_seccomp": False})
    assert "start_slirp4netns" in [a["action"] for a in res["actions"]], res
    argv = slirp_cmdline(quser)
    assert "--enable-sandbox" in argv and "--enable-seccomp" not in argv, argv
    assert quser.direct("rootless_cni_ns", {"state": "absent"})["changed"] is True
    # network_mode slirp4netns: the container's own slirp4netns alike
    args = {"container_id": cid("s"), "network_mode": "slirp4netns",
            "port_mappings": [{"host_port": SLIRP_PORT, "container_port": 8080}]}
    res = quser.direct("container_netns", args)
    assert res.get("changed") is True, res
    netns = quser.netns_path("podnet-%s" % cid("s"))
    argv = slirp_cmdline(quser, netns)
    assert "--enable-sandbox" in argv and "--enable-seccomp" in argv, argv
    off = dict(args, slirp4netns_options={"enable_sandbox": False, "enable_seccomp": False})
    res = quser.direct("container_netns", off)
    assert [a["action"] for a in res["actions"]] == ["start_slirp4netns"], res
    argv = slirp_cmdline(quser, netns)
    assert "--enable-sandbox" not in argv and "--enable-seccomp" not in argv, argv
    assert quser.direct("container_netns", off)["changed"] is False
    assert [f["host_port"] for f in E.api(glob.glob(os.path.join(
        quser.runtime, "podnet", "slirp4netns", "*.sock"))[0], {"execute": "list_hostfwd"})["entries"]] \
        == [SLIRP_PORT]
    assert quser.direct("container_netns", {"container_id": cid("s"), "state": "absent"})["changed"]
    assert quser.processes() == []


def test_slirp4netns_is_reaped_after_the_on_demand_teardown(quser):
    """The holder is the parent of slirp4netns (the init of its own pid namespace) and
    reaps it: no defunct slirp4netns stays behind while the holder lives on."""
    conf = E.user_conflist(quser, NET, 30)
    assert container(quser, conf, "keep", network_mode="none", networks=[])["changed"] is True
    assert container(quser, conf, "d")["changed"] is True
    holder = quser.holder_pid()
    slirps = E.user_slirps(quser)
    assert len(slirps) == 1 and slirps[0]["ppid"] == holder, (slirps, holder)
    assert container(quser, conf, "d", state="absent")["changed"] is True
    assert E.proc_stat(holder) is not None, "the holder must live on (a namespace is left)"
    assert E.wait_for(lambda: E.user_slirps(quser) == [], timeout=0.5), E.user_slirps(quser)
    assert container(quser, conf, "keep", state="absent")["changed"] is True
    assert quser.processes() == []


def test_force_absent_does_what_it_says_and_recovers(quser):
    conf = E.user_conflist(quser, NET, 30)
    paths = E.rootless_paths(quser)
    ports = [{"host_port": PORT, "container_port": 8080}]
    res = container(quser, conf, "f", port_mappings=ports)
    assert res.get("changed") is True, res
    ip = res["network_settings"]["IPAddress"]
    assert container(quser, conf, "n", network_mode="none", networks=[])["changed"] is True
    assert [f["host_port"] for f in E.hostfwds(quser)] == [PORT]
    refused = quser.direct("rootless_cni_ns", {"state": "absent"})
    assert refused.get("failed") and "attachment" in refused["msg"], refused
    check = quser.direct("rootless_cni_ns", {"state": "absent", "force": True}, check=True)
    res = quser.direct("rootless_cni_ns", {"state": "absent", "force": True})
    assert res.get("changed") is True, res
    assert [a["action"] for a in check["actions"]] == [a["action"] for a in res["actions"]], (check, res)
    assert "stop_holder" in [a["action"] for a in res["actions"]], res
    assert "cache entries" in E.warnings_text(res), res
    # the holder and slirp4netns are gone, with the namespaces; the port is free again
    assert quser.processes() == [] and quser.mounts() == []
    assert E.port_free(PORT)
    # the cache entry and the IP reservation remain for a later detach (as the message says)
    entries = os.listdir(os.path.join(paths["cache"], "results"))
    assert [e for e in entries if cid("f") in e], entries
    reservations = glob.glob(os.path.join(paths["cache"], "networks", NET, "10.232.*"))
    assert [os.path.basename(r) for r in reservations] == [ip], reservations
    # present builds the container again, and its port answers
    res = container(quser, conf, "f", port_mappings=ports)
    assert res.get("changed") is True, res
    server = quser.in_netns(quser.netns_path("podnet-%s" % cid("f")),
                            ["busybox", "nc", "-ll", "-p", "8080", "-e", "busybox", "echo", TEXT],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert E.tcp_get("127.0.0.1", PORT) == TEXT
    finally:
        server.kill()
        server.wait()
    # the network_mode none container: present re-creates its namespace, absent forgets it
    assert container(quser, conf, "n", network_mode="none", networks=[])["changed"] is True
    for name in ("f", "n"):
        assert container(quser, conf, name, state="absent")["changed"] is True
    assert quser.processes() == [] and quser.mounts() == []
    assert not glob.glob(os.path.join(paths["cache"], "networks", NET, "10.232.*"))


def test_force_absent_then_detach_releases(quser):
    conf = E.user_conflist(quser, NET, 30)
    paths = E.rootless_paths(quser)
    assert container(quser, conf, "g")["changed"] is True
    res = quser.direct("rootless_cni_ns", {"state": "absent", "force": True})
    assert res["changed"] is True and quser.processes() == [], res
    res = container(quser, conf, "g", state="absent")
    assert res["changed"] is True and not res.get("failed"), res
    assert not glob.glob(os.path.join(paths["cache"], "results", "*"))
    assert not glob.glob(os.path.join(paths["cache"], "networks", NET, "10.232.*"))
    assert quser.processes() == [] and quser.mounts() == []
