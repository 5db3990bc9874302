# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Interoperability with libcni through cnitool, built from Debian's source package
(tests/tools/build_cnitool.sh; the first build takes a minute, later runs reuse it).

cnitool 1.1 always uses libcni's default cache dir /var/lib/cni (it has no option for
another), so these tests use it too; they only touch cache entries of their own
(prefixed) networks. Its container id is cnitool- + sha512(netns path)[:20 hex]."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from pna_env import REPO, PLUGIN_DIR, run_module, sh, tcp_get, tcp_server

CNI_CACHE = "/var/lib/cni"


@pytest.fixture(scope="session")
def cnitool():
    script = os.path.join(REPO, "tests", "tools", "build_cnitool.sh")
    proc = subprocess.run([script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        pytest.skip("cannot build cnitool from Debian's source package golang-github-appc-cni: "
                    + proc.stderr.decode()[-500:].strip())
    return proc.stdout.decode().strip().splitlines()[-1]


def _cnitool(env, tool, cmd, net, netns_path, caps=None, check=True):
    e = dict(os.environ, NETCONFPATH=env.config_dir, CNI_PATH=PLUGIN_DIR)
    if caps:
        e["CAP_ARGS"] = json.dumps(caps)
    return sh([tool, cmd, net, netns_path], check=check, env=e)


def _cid(path):
    from ansible_collections.podnet.cni.plugins.module_utils._cni.cache import cnitool_container_id
    return cnitool_container_id(path)


@pytest.fixture
def cenv(env):
    env.cache_dir = CNI_CACHE
    return env


def test_our_attachment_passes_cnitool_check_and_is_removed_by_cnitool_del(cenv, cnitool, servers):
    env = cenv
    net = env.network("t", 60)
    ns = env.add_netns("t")
    path = "/run/netns/" + ns
    cid = _cid(path)
    env.cnitool_netns[cid] = path
    args = dict(env.common, container_id=cid, netns=path, network=net, ips=["10.222.60.9"],
                mac="02:22:60:00:00:09")
    res = run_module("cni_attachment", args)
    assert res["changed"] and res["interface"] == "eth0", res
    chk = _cnitool(env, cnitool, "check", net, path, check=False)
    assert chk.returncode == 0, chk.stderr.decode() + chk.stdout.decode()

    # a broken attachment fails cnitool check; verify=true repairs it; cnitool agrees
    env.exec_in(ns, ["ip", "addr", "flush", "dev", "eth0"])
    assert _cnitool(env, cnitool, "check", net, path, check=False).returncode != 0
    res = run_module("cni_attachment", dict(args, verify=True))
    assert res["changed"] and res["actions"][0]["action"] == "repair", res
    assert _cnitool(env, cnitool, "check", net, path, check=False).returncode == 0

    # with a port mapping, portmap 1.1.1's own CHECK always fails on its IPv6 half (it looks
    # for the IPv4 DNAT rules with ip6tables) — for cnitool's attachments too. Its IPv4
    # half passed; our verify knows this false alarm and does not "repair" every run.
    pm = {"host_port": 20480, "container_port": 8080, "host_ip": "127.0.0.1"}
    caps = {"portMappings": [{"hostPort": 20480, "containerPort": 8080, "protocol": "tcp",
                              "hostIP": "127.0.0.1"}]}
    res = run_module("cni_attachment", dict(args, port_mappings=[pm]))
    assert res["changed"] and res["actions"][0]["reasons"] == ["port_mappings"], res
    chk = _cnitool(env, cnitool, "check", net, path, caps, check=False)
    assert chk.returncode == 0 or b"could not check ipv6 dnat" in chk.stderr, chk.stderr
    assert run_module("cni_attachment", dict(args, port_mappings=[pm], verify=True))["changed"] is False

    servers.append(tcp_server(env, ns, 8080, "via-port"))
    assert tcp_get("127.0.0.1", 20480) == "via-port"

    # cnitool del (with the port mappings in CAP_ARGS, as libcni needs) removes it all
    dele = _cnitool(env, cnitool, "del", net, path, caps, check=False)
    assert dele.returncode == 0, dele.stderr.decode()
    assert env.cache_entries() == []
    assert env.ipam_reservations() == []
    assert [l for l in sh(["iptables-save"]).stdout.decode().splitlines() if cid in l] == []
    assert tcp_get("127.0.0.1", 20480, tries=1, timeout=1) == ""
    links = [l["ifname"] for l in json.loads(env.exec_in(ns, ["ip", "-j", "link"]).stdout)]
    assert links == ["lo"]


def test_cnitool_attachment_is_seen_kept_and_detached_by_us(cenv, cnitool):
    env = cenv
    net = env.network("u", 61)
    ns = env.add_netns("u")
    path = "/run/netns/" + ns
    cid = _cid(path)
    env.cnitool_netns[cid] = path
    caps = {"portMappings": [{"hostPort": 20481, "containerPort": 80, "protocol": "tcp"}]}
    add = _cnitool(env, cnitool, "add", net, path, caps, check=False)
    assert add.returncode == 0, add.stderr.decode()
    ip = json.loads(add.stdout)["ips"][0]["address"].split("/")[0]

    # container_netns_info sees it (netns found from the id: libcni 1.1 does not cache it)
    info = run_module("container_netns_info", dict(env.common, container_id=cid))
    assert info["changed"] is False, info
    c = info["containers"][cid]
    assert c["netns"] == path and c["netns_status"] == "mounted" and c["recorded"] is False
    (att,) = c["attachments"]
    assert att["origin"] == "cnitool" and att["network"] == net and att["ips"] == [ip]
    assert att["port_mappings"] == [["", 20481, 80, "tcp"]]
    assert c["network_settings"]["IPAddress"] == ip
    assert c["network_settings"]["Ports"] == {"80/tcp": [{"HostIp": "", "HostPort": "20481"}]}
    assert "eth0" in c["interfaces"] and c["interfaces"]["eth0"]["stats"]["tx_packets"] >= 0
    everything = run_module("container_netns_info", dict(env.common, statistics=False))
    assert cid in everything["containers"]

    # cni_attachment: already attached (with and without netns: found the same way)
    for extra in ({"netns": path}, {}):
        for check in (True, False):
            res = run_module("cni_attachment", dict(env.common, container_id=cid, network=net, **extra),
                             check=check)
            assert res["changed"] is False and not res.get("failed"), res
            assert res["interface"] == "eth0" and res["attachment"]["ips"] == [ip]
    res = run_module("cni_attachment", dict(env.common, container_id=cid, network=net, verify=True))
    assert res["changed"] is False, res

    # and detached by us, with cnitool's cached capability args: DNAT rules go too
    res = run_module("cni_attachment", dict(env.common, container_id=cid, network=net,
                                            state="absent"))
    assert res["changed"] is True and not res.get("failed"), res
    assert env.cache_entries() == [] and env.ipam_reservations() == []
    assert [l for l in sh(["iptables-save"]).stdout.decode().splitlines() if cid in l] == []
    links = list(json.loads(env.exec_in(ns, ["ip", "-j", "link"]).stdout))
    assert [l["ifname"] for l in links] == ["lo"] and "UP" in links[0]["flags"]
    # cnitool agrees it is gone: its own del of the same attachment is a no-op success
    assert _cnitool(env, cnitool, "del", net, path, caps, check=False).returncode == 0
