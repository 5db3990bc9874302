# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_network against the real kernel and the real Debian CNI plugins (root).

Prefix pnn, subnets in 10.223.0.0/16 and fd00:223::/32 (tests/lib/pnn_env.py). The module
runs through Ansible;
the conflists it writes are loaded with our loader and attached with ``_attach`` (the
core every attachment module uses), then traffic proves they work.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import podnet_testlib as tl
from pnn_env import HOST_LOCAL_DIR, Env

from ansible_collections.podnet.cni.plugins.module_utils import _attach
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: netns, links, iptables")


@pytest.fixture
def env(tmp_path):
    e = Env(str(tmp_path))
    yield e
    e.cleanup()


def ping(netns: str, address: str, tries: int = 5) -> bool:
    """One echo reply from address, trying a few times (IPv6 DAD may still be running)."""
    cmd = "ping6" if ":" in address else "ping"
    for _attempt in range(tries):
        proc = subprocess.run(["ip", "netns", "exec", os.path.basename(netns), "busybox", cmd,
                               "-c", "1", "-W", "1", address],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if proc.returncode == 0:
            return True
    return False


def in_netns(netns: str, argv) -> str:
    return tl.netns_exec(os.path.basename(netns), argv).stdout.decode()


def nat_rules_of(cid: str) -> list:
    out = tl.run(["iptables-save", "-t", "nat"]).stdout.decode().splitlines()
    out += tl.run(["ip6tables-save", "-t", "nat"]).stdout.decode().splitlines()
    return [line for line in out if cid in line]


def test_dual_stack_bridge_works_and_absent_removes_bridge(env):
    net, br = env.name("n"), env.name("b")
    res = env.module(name=net, bridge=br, subnets=[{"subnet": env.v4()}, {"subnet": env.v6()}])
    assert res["changed"] and not res.get("failed"), res
    assert res["network"]["plugins"] == ["bridge", "portmap", "firewall", "tuning"]
    conf = env.ctx().get_network(net)  # our loader reads it
    assert conf.cni_version == "0.4.0" and conf.capabilities() == {"ips": True, "portMappings": True}

    gw4, gw6 = env.v4().replace(".0/24", ".1"), env.v6().replace("::/64", "::1")
    static4 = env.v4().replace(".0/24", ".42")
    static6 = env.v6().replace("::/64", "::42")
    entry = env.attach(net, "c1", ips=[static4, static6])  # both through the ips capability
    addrs = in_netns(entry.netns, ["ip", "-o", "addr", "show", "dev", "eth0"])
    assert static4 + "/24" in addrs and static6 + "/64" in addrs
    routes = in_netns(entry.netns, ["ip", "route", "show", "default"])
    assert "via %s" % gw4 in routes
    assert "via %s" % gw6 in in_netns(entry.netns, ["ip", "-6", "route", "show", "default"])
    assert ping(entry.netns, gw4) and ping(entry.netns, gw6)
    assert any("MASQUERADE" in line or "CNI-" in line for line in nat_rules_of(env.name("c1")))

    _attach.remove(env.ctx(), entry)
    assert os.path.isdir("/sys/class/net/%s/bridge" % br)
    res = env.module(name=net, state="absent")
    expected = ["removed %s" % res["config_path"], "deleted bridge %s" % br]
    assert res["changed"] and res["actions"] == expected, res
    assert not os.path.exists("/sys/class/net/%s" % br)


def test_internal_network_has_no_masquerade_and_no_way_out(env):
    net, br = env.name("n"), env.name("b")
    res = env.module(name=net, bridge=br, internal=True, subnets=[{"subnet": env.v4()}],
                     cni_version="1.0.0")   # the real plugins take both versions we write
    assert res["changed"] and res["conflist"]["cniVersion"] == "1.0.0", res
    entry = env.attach(net, "c1")
    cid = env.name("c1")
    assert nat_rules_of(cid) == []                      # ipMasq false: no CNI-… chain for it
    assert in_netns(entry.netns, ["ip", "route", "show", "default"]).strip() == ""
    assert "inet " not in tl.run(["ip", "-o", "addr", "show", "dev", br]).stdout.decode()
    assert not ping(entry.netns, env.v4().replace(".0/24", ".1"), tries=1)


def kernel_has(kind: str, parent: str) -> bool:
    name = "pnnprobe%d" % (os.getpid() % 100000)
    proc = subprocess.run(["ip", "link", "add", name[:15], "link", parent, "type", kind],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    subprocess.run(["ip", "link", "delete", name[:15]], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return proc.returncode == 0


@pytest.mark.parametrize("driver, mode", [("macvlan", "bridge"), ("ipvlan", "l2")])
def test_vlan_driver_on_a_parent_link(env, driver, mode):
    parent = env.parent_link("d")
    net = env.name("n")
    res = env.module(name=net, driver=driver, parent=parent, mode=mode,
                     subnets=[{"subnet": env.v4(), "range_start": env.v4().replace(".0/24", ".10")}])
    assert res["changed"] and res["conflist"]["plugins"][0]["master"] == parent, res
    assert res["network"]["plugins"] == [driver]
    if not kernel_has(driver, parent):
        pytest.skip("this kernel has no %s driver: the conflist is written, not attached" % driver)
    a = env.attach(net, "a")
    b = env.attach(net, "b")
    ip_b = b.result["ips"][0]["address"].split("/")[0]
    assert ip_b.endswith(".11")                        # range_start honoured (.10 went to a)
    assert ping(a.netns, ip_b)                         # siblings on one parent talk


def _address(entry: cnicache.CacheEntry) -> str:
    return entry.result["ips"][0]["address"].split("/")[0]


def test_ip_range_addresses_stay_inside_the_range(env, tmp_path):
    """podman's --ip-range: the real host-local hands out the CIDR's addresses only, never the
    subnet's broadcast address (podman's own rendering would), and skips the gateway."""
    net, br = env.name("n"), env.name("b")
    base = env.v4().replace(".0/24", ".")
    args = dict(name=net, bridge=br, subnets=[{"subnet": env.v4(), "ip_range": base + "252/30"}])
    check = env.module(check=True, diff=True, **args)
    assert check["changed"] and not os.path.exists(env.config_dir), check
    res = env.module(diff=True, **args)
    assert res["changed"] and res["diff"]["after"] == check["diff"]["after"] == res["conflist"], res
    rng = res["conflist"]["plugins"][0]["ipam"]["ranges"][0][0]
    assert (rng["rangeStart"], rng["rangeEnd"]) == (base + "252", base + "254")
    for again in (env.module(check=True, **args), env.module(**args)):
        assert not again["changed"], again
    got = [_address(env.attach(net, "c%d" % i)) for i in range(3)]
    assert sorted(got) == [base + "252", base + "253", base + "254"]
    with pytest.raises(Exception, match="no IP addresses available"):  # .255 is never handed out
        env.attach(net, "c3")

    # a range holding the gateway (.1): host-local skips it, .0 is not in the range
    net2, br2 = env.name("m"), env.name("d")
    base2 = env.v4(1).replace(".0/24", ".")
    res = env.module(name=net2, bridge=br2, subnets=[{"subnet": env.v4(1), "ip_range": base2 + "0/30"}])
    assert res["changed"], res
    a, b = env.attach(net2, "d0"), env.attach(net2, "d1")
    assert sorted([_address(a), _address(b)]) == [base2 + "2", base2 + "3"]
    assert ping(a.netns, _address(b)) and ping(a.netns, base2 + "1")  # they work: peer, gateway


def test_overlap_is_an_error_naming_both(env):
    first = env.module(name=env.name("n1"), bridge=env.name("b1"), subnets=[{"subnet": env.v4()}])
    assert first["changed"], first
    wider = env.v4().rsplit(".", 2)[0] + ".0.0/16"
    res = env.module(name=env.name("n2"), bridge=env.name("b2"), subnets=[{"subnet": wider}])
    assert res.get("failed") and "overlaps subnet %s of network %s" % (env.v4(), env.name("n1")) \
        in res["msg"] and env.name("n2") in res["msg"], res
    assert sorted(os.listdir(env.config_dir)) == ["%s.conflist" % env.name("n1")]


def test_missing_parent_and_dnsname_fail_before_writing(env, tmp_path):
    res = env.module(name=env.name("n"), driver="macvlan", parent=env.name("nope"),
                     subnets=[{"subnet": env.v4()}])
    assert res.get("failed") and "parent interface %s" % env.name("nope") in res["msg"], res
    # the real plugins, but no dnsname among them (whether or not the host has it)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for ptype in os.listdir(tl.PLUGIN_DIR):
        if ptype != "dnsname":
            (plugins / ptype).symlink_to(os.path.join(tl.PLUGIN_DIR, ptype))
    res = env.module(name=env.name("n"), bridge=env.name("b"), dns_enabled=True,
                     subnets=[{"subnet": env.v4()}], cni_plugin_dirs=[str(plugins)])
    assert res.get("failed") and "CNI plugin 'dnsname' not found" in res["msg"], res
    assert not os.path.exists(env.config_dir) or os.listdir(env.config_dir) == []
    # without dns_enabled the same plugin dir is enough
    res = env.module(name=env.name("n"), bridge=env.name("b"), subnets=[{"subnet": env.v4()}],
                     cni_plugin_dirs=[str(plugins)])
    assert res["changed"] and not res["failed"], res


def test_in_use_refused_unless_force_and_old_attachment_detaches(env):
    net, br = env.name("n"), env.name("b")
    assert env.module(name=net, bridge=br, subnets=[{"subnet": env.v4()}])["changed"]
    entry = env.attach(net, "c1")
    for args in ({"state": "absent"}, {"mtu": 1400, "subnets": [{"subnet": env.v4()}]}):
        res = env.module(name=net, bridge=br, **args)
        assert res.get("failed") and "in use by %s (eth0)" % env.name("c1") in res["msg"], res
    path = os.path.join(env.config_dir, "%s.conflist" % net)
    assert os.path.exists(path)
    res = env.module(name=net, state="absent", force=True)
    assert res["changed"] and res["in_use"] == [{"container_id": env.name("c1"), "interface": "eth0"}]
    assert not os.path.exists(path)
    assert os.path.exists("/sys/class/net/%s" % br)       # a port is still on it: kept
    # the attachment still detaches with the configuration cached when it was made
    _attach.remove(env.ctx(), entry)
    assert nat_rules_of(env.name("c1")) == []
    left = set(os.listdir(os.path.join(HOST_LOCAL_DIR, net)))
    assert left <= {"lock", "last_reserved_ip.0"}          # the reservation is released


def run_playbook(tmp_path, tasks: list) -> dict:
    """Run tasks in one play on localhost (one Ansible start for many steps); returns
    {"r<i>": result of task i}."""
    rc, results = tl.run_plays(str(tmp_path), tl.play(tasks), env={"ANSIBLE_PIPELINING": "1"})
    assert rc == 0, results
    return {"r%d" % i: result for i, (dummy, result) in enumerate(results)}


def test_check_mode_diff_idempotency(env, tmp_path):
    net, br = env.name("n"), env.name("b")
    env.networks.append(net)
    env.links.append(br)
    args = dict(env.common(), name=net, bridge=br,
                subnets=[{"subnet": env.v4()}, {"subnet": env.v6()}])
    path = os.path.join(env.config_dir, "%s.conflist" % net)
    mod = "podnet.cni.cni_network"
    stat = {"ansible.builtin.stat": {"path": path, "get_checksum": False, "get_mime": False,
                                     "get_attributes": False}}
    r = run_playbook(tmp_path, [
        {mod: args, "check_mode": True, "diff": True},                       # r0 create, check
        stat,                                                                # r1
        {mod: args, "diff": True},                                           # r2 create
        stat,                                                                # r3
        {mod: args, "check_mode": True, "diff": True},                       # r4 idempotent, check
        {mod: args, "diff": True},                                           # r5 idempotent
        {mod: dict(args, mtu=1400), "check_mode": True, "diff": True},       # r6 change, check
        stat,                                                                # r7
        {mod: dict(env.common(), name=net, state="absent"), "check_mode": True},  # r8
        stat,                                                                # r9
        {mod: dict(env.common(), name=net, state="absent"), "diff": True},   # r10
        stat,                                                                # r11
        {mod: dict(env.common(), name=net, state="absent"), "check_mode": True},  # r12
        {mod: dict(env.common(), name=net, state="absent")},                 # r13
    ])
    assert r["r0"]["changed"] and r["r0"]["diff"]["before"] == {} and not r["r1"]["stat"]["exists"]
    assert r["r2"]["changed"] and r["r2"]["diff"]["after"] == r["r0"]["diff"]["after"] == r["r2"]["conflist"]
    assert r["r3"]["stat"]["mode"] == "0644"
    for key in ("r4", "r5"):
        assert not r[key]["changed"] and r[key]["diff"]["before"] == r[key]["diff"]["after"], r[key]
    assert r["r6"]["changed"] and r["r6"]["diff"]["after"]["plugins"][0]["mtu"] == 1400
    assert "mtu" not in r["r6"]["diff"]["before"]["plugins"][0]
    assert r["r7"]["stat"]["mtime"] == r["r3"]["stat"]["mtime"]          # nothing rewritten
    assert r["r8"]["changed"] and r["r9"]["stat"]["exists"]
    assert r["r10"]["changed"] and r["r10"]["diff"]["after"] == {} and not r["r11"]["stat"]["exists"]
    assert not r["r12"]["changed"] and not r["r13"]["changed"]


@pytest.mark.skipif(not (os.path.exists(os.path.join(tl.PLUGIN_DIR, "dnsname"))
                         and shutil.which("dnsmasq")),
                    reason="the dnsname plugin or dnsmasq is not installed")
def test_dns_enabled_network_resolves_container_names(env):
    net, br = env.name("n"), env.name("b")
    res = env.module(name=net, bridge=br, dns_enabled=True, dns_domain="pnn.test",
                     subnets=[{"subnet": env.v4()}])
    assert res["changed"] and res["network"]["plugins"][-1] == "dnsname", res
    try:
        a = env.attach(net, "a")
        env.attach(net, "b")
        gw = env.v4().replace(".0/24", ".1")
        out = tl.netns_exec(os.path.basename(a.netns),
                            ["busybox", "nslookup", "%s.pnn.test" % env.name("b"), gw],
                            check=False).stdout.decode()
        assert env.v4().rsplit(".", 1)[0] + "." in out.split("Name:")[-1], out
    finally:
        env.cleanup()
        tl.stop_dnsname_dnsmasq(net)
        _drop_bridge_rules(br)


def _drop_bridge_rules(bridge: str) -> None:
    """dnsname leaves "-A INPUT -i <bridge> ... --dport 53 -j ACCEPT" after its last DEL:
    delete the filter rules naming this test's bridge (never anyone else's)."""
    for tool in ("iptables", "ip6tables"):
        out = subprocess.run([tool + "-save", "-t", "filter"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=False).stdout.decode()
        for line in out.splitlines():
            words = line.split()
            if line.startswith("-A ") and "-i" in words and words[words.index("-i") + 1] == bridge:
                subprocess.run([tool, "-t", "filter", "-D"] + words[1:], check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
