# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_netns' library (plan + execute) with the real Debian plugins
(bridge + host-local + portmap + firewall + tuning): traffic, addresses, cleanup,
rollback of partial failures, attaching and detaching only the difference."""
from __future__ import annotations

import ipaddress
import json
import os

import pytest

import podnet_testlib as tl
from pnf_core_env import PLUGIN_DIR, sh

from ansible_collections.podnet.cni.plugins.module_utils import _netns, _state
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._errors import CniPluginError


def lo_is_up(netns):
    return "UP" in json.loads(sh("ip", "-n", netns, "-j", "link", "show", "lo"))[0]["flags"]


def test_two_containers_talk_and_a_port_mapping_carries_host_traffic(core, port, wait_for):
    net = core.network()
    c1, c2 = core.cid("web"), core.cid("cli")
    r1 = core.apply(c1, networks=[net["name"]],
                    port_mappings=[{"container_port": 8080, "host_port": port,
                                    "host_ip": "127.0.0.1"}])
    r2 = core.apply(c2, networks=[net["name"]])
    assert r1["changed"] and r2["changed"]
    assert [a["action"] for a in r1["actions"]] == ["create_netns", "attach"]
    ip1 = r1["network_settings"]["IPAddress"]
    ip2 = r2["network_settings"]["IPAddress"]
    assert ipaddress.ip_address(ip1) in ipaddress.ip_network(net["subnet"])
    assert ip1 != ip2
    assert r1["netns"] == "/run/netns/%s" % c1
    assert r1["network_settings"]["Ports"] == {"8080/tcp": [{"HostIp": "127.0.0.1",
                                                             "HostPort": str(port)}]}
    assert r1["network_settings"]["Networks"][net["name"]]["InterfaceName"] == "eth0"
    assert r1["network_settings"]["Gateway"] == net["prefix"] + "1"
    assert set(r1["network_status"]) == {net["name"]}
    assert lo_is_up(c1) and lo_is_up(c2)
    # the filter that proves cleanup below does see this container's rules
    snap = core.snapshot()
    assert any(c1 in line for line in snap["iptables"]), snap["iptables"]
    assert len(snap["bridge_ports"]) == 2 and len(snap["reservations"]) == 2
    assert len(snap["cache"]) == 2 and len(snap["records"]) == 2

    core.server(c1, 8080, "hello-from-c1")
    assert wait_for(lambda: tl.tcp_get(ip1, 8080, netns=c2)) == "hello-from-c1"
    assert wait_for(lambda: tl.tcp_get("127.0.0.1", port)) == "hello-from-c1"
    # and the container reaches itself on its loopback
    assert tl.tcp_get("127.0.0.1", 8080, netns=c1) == "hello-from-c1"

    again = core.apply(c1, networks=[net["name"]],
                       port_mappings=[{"container_port": 8080, "host_port": port,
                                       "host_ip": "127.0.0.1"}])
    assert again["changed"] is False and again["actions"] == []
    assert again["network_settings"] == r1["network_settings"]

    core.stop_procs()
    assert core.absent(c1)["changed"] and core.absent(c2)["changed"]
    core.assert_nothing_left()
    assert tl.tcp_get("127.0.0.1", port, timeout=1) == ""
    assert core.absent(c1)["changed"] is False


def test_static_ip_and_mac_honoured(core, link_info):
    n1, n2 = core.network(), core.network()
    cid = core.cid()
    ip1, mac1 = n1["prefix"] + "50", "02:42:0a:dc:00:32"
    ip2, mac2 = n2["prefix"] + "60", "02:42:0a:dc:00:3c"
    res = core.apply(cid, networks=[n1["name"], {"name": n2["name"], "ips": [ip2], "mac": mac2,
                                                 "interface": "net1"}],
                     static_ip=ip1, static_mac=mac1.upper())
    eth0, net1 = link_info(cid, "eth0"), link_info(cid, "net1")
    assert eth0["address"] == mac1
    assert [a["local"] for a in eth0["addr_info"] if a["family"] == "inet"] == [ip1]
    assert net1["address"] == mac2
    assert [a["local"] for a in net1["addr_info"] if a["family"] == "inet"] == [ip2]
    settings = res["network_settings"]
    assert (settings["IPAddress"], settings["MacAddress"]) == (ip1, mac1)
    assert settings["Networks"][n2["name"]]["IPAddress"] == ip2
    assert settings["Networks"][n2["name"]]["MacAddress"] == mac2
    assert sorted(core.reservations()) == sorted(["%s/%s" % (n1["name"], ip1),
                                                  "%s/%s" % (n2["name"], ip2)])
    # the same request again: nothing to do (MAC given in upper case is normalised)
    assert core.apply(cid, networks=[n1["name"], {"name": n2["name"], "ips": [ip2], "mac": mac2,
                                                  "interface": "net1"}],
                      static_ip=ip1, static_mac=mac1.upper())["changed"] is False
    core.absent(cid)
    core.assert_nothing_left()


def test_changing_the_networks_touches_only_the_difference(core, link_info):
    n1, n2, n3 = core.network(), core.network(), core.network()
    cid = core.cid()
    core.apply(cid, networks=[n1["name"], n2["name"]])
    before = link_info(cid, "eth1")
    res = core.apply(cid, networks=[n3["name"], n2["name"]])
    assert [(a["action"], a["network"], a["interface"]) for a in res["actions"]] == [
        ("detach", n1["name"], "eth0"), ("attach", n3["name"], "eth0")]
    after = link_info(cid, "eth1")
    assert (after["ifindex"], after["addr_info"]) == (before["ifindex"], before["addr_info"])
    assert [a["local"] for a in link_info(cid, "eth0")["addr_info"]
            if a["family"] == "inet"][0].startswith(n3["prefix"])
    assert lo_is_up(cid)
    assert [r.split("/")[0] for r in core.reservations()] == sorted([n2["name"], n3["name"]])
    assert sorted(e.network for e in cnicache.list_entries(core.cache_dir)) == \
        sorted([n2["name"], n3["name"]])
    # n1's rules are gone while the container lives on
    assert not [l for l in core.snapshot()["iptables"] if n1["prefix"] in l]
    record = _state.load(core.state_dir, cid)
    assert [(n["network"], n["interface"]) for n in record["networks"]] == [
        (n3["name"], "eth0"), (n2["name"], "eth1")]
    core.absent(cid)
    core.assert_nothing_left()


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_spec_versions_attach_and_detach_cleanly(core, port, version):
    # the firewall plugin of 1.1.1 speaks 0.4.0+ only
    net = core.network(cni_version=version, firewall=version != "0.3.1")
    cid = core.cid()
    res = core.apply(cid, networks=[net["name"]], port_mappings=[{"container_port": 80,
                                                                 "host_port": port}])
    assert res["network_status"][net["name"]]["cniVersion"] == version
    assert res["network_settings"]["IPAddress"].startswith(net["prefix"])
    assert any("dport %d" % port in l or "dports %d" % port in l for l in core.snapshot()["iptables"])
    core.absent(cid)
    core.assert_nothing_left()


@pytest.fixture(name="failing_plugins")
def failing_plugins_fixture(tmp_path):
    """A plugin dir: symlinks to the real plugins plus pnf-fail, which fails on ADD
    (with a CNI error JSON) and succeeds on DEL/CHECK."""
    d = tmp_path / "plugins"
    d.mkdir()
    for name in os.listdir(PLUGIN_DIR):
        (d / name).symlink_to(os.path.join(PLUGIN_DIR, name))
    fail = d / "pnf-fail"
    fail.write_text('#!/bin/sh\ncat >/dev/null\nif [ "$CNI_COMMAND" = ADD ]; then\n'
                    '  echo \'{"cniVersion":"1.0.0","code":100,"msg":"injected failure",'
                    '"details":"pnf test"}\'\n  exit 1\nfi\nexit 0\n')
    fail.chmod(0o755)
    return str(d)


def _insert_failure(core, net, position):
    conf = dict(net["conf"])
    conf["plugins"] = list(conf["plugins"])
    conf["plugins"].insert(position, {"type": "pnf-fail"})
    tl.write_conflist(core.config_dir, conf)


@pytest.mark.parametrize("position", [0, 1, 2, 3, 4])
def test_partial_add_failure_leaves_nothing(core, port, failing_plugins, position):
    net = core.network()
    _insert_failure(core, net, position)   # bridge, portmap, firewall, tuning: before each, at end
    cid = core.cid()
    with pytest.raises(CniPluginError) as info:
        core.apply(cid, ctx=core.ctx([failing_plugins]), networks=[net["name"]],
                   port_mappings=[{"container_port": 80, "host_port": port}])
    assert "CNI plugin pnf-fail failed on ADD for network %s (code 100): injected failure" \
        % net["name"] in str(info.value)
    core.assert_nothing_left()


def test_second_network_failure_rolls_back_the_first(core, port, failing_plugins):
    good, bad = core.network(), core.network()
    _insert_failure(core, bad, 4)
    ctx = core.ctx([failing_plugins])
    cid = core.cid()
    with pytest.raises(CniPluginError):
        core.apply(cid, ctx=ctx, networks=[good["name"], bad["name"]],
                   port_mappings=[{"container_port": 80, "host_port": port}])
    core.assert_nothing_left()

    # an existing container keeps what it had when adding a network fails
    first = core.apply(cid, ctx=ctx, networks=[good["name"]])
    with pytest.raises(CniPluginError):
        core.apply(cid, ctx=ctx, networks=[good["name"], bad["name"]])
    assert _netns.status("/run/netns/%s" % cid) == "mounted"
    assert [e.network for e in cnicache.list_entries(core.cache_dir)] == [good["name"]]
    assert [r.split("/")[0] for r in core.reservations()] == [good["name"]]
    assert not [l for l in core.snapshot()["iptables"] if bad["prefix"] in l]
    record = _state.load(core.state_dir, cid)
    assert [n["network"] for n in record["networks"]] == [good["name"]]
    again = core.apply(cid, ctx=ctx, networks=[good["name"]])
    assert again["changed"] is False
    assert again["network_settings"]["IPAddress"] == first["network_settings"]["IPAddress"]
    core.absent(cid)
    core.assert_nothing_left()


def test_failed_reattach_puts_the_old_attachments_back(core, port, failing_plugins):
    """A change that detaches (or re-attaches) networks and then fails puts back what it
    took away, with the same addresses: the container keeps the networks it had."""
    n1, n2, n3 = core.network(), core.network(), core.network()
    cid = core.cid()
    old_ip = "%s.7" % n1["prefix"].rstrip(".")
    first = core.apply(cid, networks=[n1["name"], n2["name"]], static_ip=old_ip)
    assert first["network_settings"]["IPAddress"] == old_ip
    before_record = _state.load(core.state_dir, cid)
    _insert_failure(core, n1, 4)  # n1's next ADD fails; its cached config does not
    ctx = core.ctx([failing_plugins])
    with pytest.raises(CniPluginError) as info:
        # n2 detached, n1 re-attached with a new address (fails), n3 attached
        core.apply(cid, ctx=ctx, networks=[n1["name"], n3["name"]],
                   static_ip="%s.8" % n1["prefix"].rstrip("."))
    assert info.value.details.get("restored") == ["%s/eth0" % n1["name"], "%s/eth1" % n2["name"]], \
        info.value.details
    assert sorted(e.network for e in cnicache.list_entries(core.cache_dir)) == sorted([n1["name"], n2["name"]])
    addrs = {a["local"] for a in link_info_addrs(cid, "eth0")}
    assert old_ip in addrs
    assert link_info_addrs(cid, "eth1")
    assert not [l for l in core.snapshot()["iptables"] if n3["prefix"] in l]
    assert _state.load(core.state_dir, cid) == before_record
    # the same request as before the failure: nothing to do
    tl.write_conflist(core.config_dir, n1["conf"])
    again = core.apply(cid, networks=[n1["name"], n2["name"]], static_ip=old_ip)
    assert again["changed"] is False, again["actions"]
    core.absent(cid)
    core.assert_nothing_left()


def link_info_addrs(netns, ifname):
    data = json.loads(sh("ip", "-n", netns, "-j", "addr", "show", "dev", ifname))
    return [a for a in data[0]["addr_info"] if a["family"] == "inet"]


def test_pinned_process_namespace(core, wait_for):
    net = core.network()
    cid = core.cid()
    proc = core.spawn(["unshare", "--net", "sleep", "300"])
    mine = os.stat("/proc/self/ns/net").st_ino
    assert wait_for(lambda: os.stat("/proc/%d/ns/net" % proc.pid).st_ino != mine)
    res = core.apply(cid, networks=[net["name"]], pid=proc.pid)
    assert [a["action"] for a in res["actions"]] == ["pin_netns", "attach"]
    # the process itself sees the interface
    links = sh("nsenter", "--net=/proc/%d/ns/net" % proc.pid, "ip", "-j", "link")
    assert sorted(l["ifname"] for l in json.loads(links)) == ["eth0", "lo"]
    assert core.apply(cid, networks=[net["name"]], pid=proc.pid)["changed"] is False
    gone = core.absent(cid)
    assert [a["action"] for a in gone["actions"]] == ["detach", "remove_netns"]
    # the pin was ours: unmounted and removed; the process lives on in its namespace
    assert not os.path.lexists("/run/netns/%s" % cid)
    assert proc.poll() is None
    links = sh("nsenter", "--net=/proc/%d/ns/net" % proc.pid, "ip", "-j", "link")
    assert sorted(l["ifname"] for l in json.loads(links)) == ["lo"]
    assert core.absent(cid)["changed"] is False
    core.assert_nothing_left()


def test_stale_netns_file_and_vanished_namespace(core):
    net = core.network()
    cid = core.cid()
    path = "/run/netns/%s" % cid
    with open(path, "w"):
        pass   # a plain file where the namespace should be (a reboot, an `ip netns` crash)
    res = core.apply(cid, networks=[net["name"]])
    assert [a["action"] for a in res["actions"]] == ["remove_stale_netns", "create_netns", "attach"]
    assert _netns.status(path) == "mounted"
    # the namespace vanishes behind our back: the next run cleans the stale attachment
    # (its IP reservation too) and attaches afresh
    _netns.remove(path)
    res = core.apply(cid, networks=[net["name"]])
    assert [(a["action"], a.get("stale")) for a in res["actions"]] == [
        ("detach", True), ("create_netns", None), ("attach", None)]
    assert len(core.reservations()) == 1 and len(core.cache_files()) == 1
    old_ip = res["network_settings"]["IPAddress"]
    # and absent after it vanished again: the masquerade rule of its address goes too
    _netns.remove(path)
    assert [l for l in core.snapshot()["iptables"] if old_ip + "/" in l]
    gone = core.absent(cid)
    assert [(a["action"], a.get("stale")) for a in gone["actions"]] == [("detach", True)]
    core.assert_nothing_left()


def test_version_and_check_with_the_real_plugins(core, port):
    from ansible_collections.podnet.cni.plugins.module_utils import _attach
    from ansible_collections.podnet.cni.plugins.module_utils._cni import exec as cniexec
    ctx = core.ctx()
    versions = cniexec.plugin_versions(ctx.executor, "bridge")
    assert {"0.4.0", "1.0.0"} <= set(versions["supportedVersions"])
    net = core.network()
    cid = core.cid()
    core.apply(cid, networks=[net["name"]], port_mappings=[{"container_port": 80,
                                                            "host_port": port}])
    [entry] = cnicache.list_entries(core.cache_dir, container_id=cid)
    assert entry.arg("IgnoreUnknown") == "1" and entry.arg("K8S_POD_NAME") == cid
    assert entry.capability_args["portMappings"] == [
        {"hostPort": port, "containerPort": 80, "protocol": "tcp"}]
    assert _attach.check(ctx, entry) is None
    sh("ip", "-n", cid, "link", "del", "eth0")      # break it behind the plugins' back
    problem = _attach.check(ctx, entry)
    assert problem and "failed on CHECK" in problem
    core.absent(cid)
    core.assert_nothing_left()


def test_a_new_netns_name_moves_the_container(core):
    net = core.network()
    cid = core.cid()
    old, new = core.name("old"), core.name("new")
    core.apply(cid, networks=[net["name"]], netns=old)
    res = core.apply(cid, networks=[net["name"]], netns=new)
    assert [a["action"] for a in res["actions"]] == ["detach", "remove_netns", "create_netns",
                                                     "attach"]
    assert core.netns_names() == [new]
    assert len(core.reservations()) == 1 and len(core.bridge_ports()) == 1
    core.apply(cid, netns=new, state="absent")
    core.assert_nothing_left()
