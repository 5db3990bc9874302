# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input across the modules: each case fails with a message naming the bad value,
and a snapshot of links, addresses, routes, iptables/nft rules, namespaces, the CNI
config dir, cache, records and IP reservations taken before equals the one after.

One live container (attached with an IP and a host port) and two networks exist for
the whole module, so conflicts (IP taken, port mapped, interface used, overlapping
subnet) are real.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest

import pnb_env


class World:
    """What the cases refer to."""

    def __init__(self, env: pnb_env.PnbEnv) -> None:
        self.env = env
        self.net = env.network("net")["name"]
        self.net2 = env.network("net2")["name"]
        self.subnet = env.networks[self.net]["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
        self.live = env.cid("live")
        self.live_ns = env.name("live")
        self.port = env.port(0)
        self.live_ip = None
        self.other = env.cid("other")          # a running container with no network yet
        pnb_env.T.run(["ip", "netns", "add", self.other])
        # a conflist that is not JSON, one with a missing plugin binary, one with a bad name
        with open(os.path.join(env.config_dir, "%s.conflist" % env.name("broken")), "w") as f:
            f.write('{"cniVersion": "0.4.0", "name": "%s", "plugins": [ {"type": "bridge",, }' % env.name("broken"))
        noplug = env.network("noplug", write=False)
        noplug["plugins"].append({"type": "pnb-no-such-plugin"})
        pnb_env.T.write_conflist(env.config_dir, noplug)
        self.noplug = noplug["name"]
        # a symlink where a state path should be, and a netns path that is a symlink
        self.link_state = os.path.join(env.tmp, "state-link")
        os.makedirs(os.path.join(env.tmp, "elsewhere"), exist_ok=True)
        os.symlink(os.path.join(env.tmp, "elsewhere"), self.link_state)
        self.link_ns = os.path.join(env.tmp, "ns-link")
        os.symlink("/proc/self/ns/net", self.link_ns)

    def base(self, **kw):
        return self.env.common(**kw)

    def cn(self, **kw):
        """container_netns args for a new container (overridable)."""
        args = self.base(container_id=self.env.cid("new"), netns=self.env.name("new"),
                         networks=[self.net])
        args.update(kw)
        return args

    def ca(self, **kw):
        """cni_attachment args: attach the live container to net2 (overridable)."""
        args = self.base(container_id=self.live, netns=self.live_ns, network=self.net2)
        args.update(kw)
        return args

    def nw(self, **kw):
        """cni_network args for a new network (overridable)."""
        args = self.base(name=self.env.name("nn"), driver="bridge", bridge="%snn0" % self.env.prefix,
                         subnets=[{"subnet": "10.227.254.0/24"}])
        args.update(kw)
        return args


# (id, module, args(world) -> dict, what the message must contain (world -> str))
CASES = [
    # --- container_netns: ids and names ---
    ("cn-id-slash", "container_netns", lambda w: w.cn(container_id="pnb/evil"), lambda w: "pnb/evil"),
    ("cn-id-leading-dash", "container_netns", lambda w: w.cn(container_id="-pnbx"), lambda w: "-pnbx"),
    ("cn-id-space", "container_netns", lambda w: w.cn(container_id="pnb x"), lambda w: "pnb x"),
    ("cn-id-too-long", "container_netns", lambda w: w.cn(container_id="p" * 300), lambda w: "p" * 40),
    ("cn-id-dotdot", "container_netns", lambda w: w.cn(container_id="../../etc"), lambda w: "../../etc"),
    ("cn-name-semicolon", "container_netns", lambda w: w.cn(name="web;rm"), lambda w: "web;rm"),
    ("cn-netns-dotdot-path", "container_netns", lambda w: w.cn(netns="/run/netns/../../tmp/pnbx"),
     lambda w: "/run/netns/../../tmp/pnbx"),
    ("cn-netns-relative", "container_netns", lambda w: w.cn(netns="run/netns/pnbx"), lambda w: "run/netns/pnbx"),
    ("cn-netns-name-dotdot", "container_netns", lambda w: w.cn(netns=".."), lambda w: ".."),
    ("cn-netns-symlink", "container_netns", lambda w: w.cn(netns=w.link_ns), lambda w: w.link_ns),
    # --- interfaces ---
    ("cn-if-slash", "container_netns", lambda w: w.cn(networks=[{"name": w.net, "interface": "eth0/1"}]),
     lambda w: "eth0/1"),
    ("cn-if-too-long", "container_netns",
     lambda w: w.cn(networks=[{"name": w.net, "interface": "eth0123456789abc"}]), lambda w: "eth0123456789abc"),
    ("cn-if-space", "container_netns", lambda w: w.cn(networks=[{"name": w.net, "interface": "eth 0"}]),
     lambda w: "eth 0"),
    ("cn-if-colon", "container_netns", lambda w: w.cn(networks=[{"name": w.net, "interface": "eth0:1"}]),
     lambda w: "eth0:1"),
    # --- IPs and MACs ---
    ("cn-ip-garbage", "container_netns", lambda w: w.cn(static_ip="10.227.999.1"), lambda w: "10.227.999.1"),
    ("cn-ip-outside", "container_netns", lambda w: w.cn(static_ip="192.0.2.77"), lambda w: "192.0.2.77"),
    ("cn-ip-taken", "container_netns", lambda w: w.cn(static_ip=w.live_ip), lambda w: w.live_ip),
    ("cn-ip-two-v4", "container_netns",
     lambda w: w.cn(networks=[{"name": w.net, "ips": ["10.227.1.5", "10.227.1.6"]}]), lambda w: "10.227.1.6"),
    ("cn-mac-garbage", "container_netns", lambda w: w.cn(static_mac="zz:zz:zz:zz:zz:zz"),
     lambda w: "zz:zz:zz:zz:zz:zz"),
    ("cn-mac-multicast", "container_netns", lambda w: w.cn(static_mac="01:00:5e:00:00:01"),
     lambda w: "01:00:5e:00:00:01"),
    ("cn-mac-short", "container_netns", lambda w: w.cn(static_mac="02:42:ac:11:00"), lambda w: "02:42:ac:11:00"),
    # --- ports and protocols ---
    ("cn-port-too-big", "container_netns",
     lambda w: w.cn(port_mappings=[{"host_port": 70000, "container_port": 80}]), lambda w: "70000"),
    ("cn-port-zero", "container_netns",
     lambda w: w.cn(port_mappings=[{"host_port": 0, "container_port": 80}]), lambda w: "0"),
    ("cn-port-not-int", "container_netns",
     lambda w: w.cn(port_mappings=[{"host_port": 20950, "container_port": "http"}]), lambda w: "http"),
    ("cn-protocol", "container_netns",
     lambda w: w.cn(port_mappings=[{"host_port": 20951, "container_port": 80, "protocol": "icmp"}]),
     lambda w: "icmp"),
    ("cn-host-ip", "container_netns",
     lambda w: w.cn(port_mappings=[{"host_port": 20952, "container_port": 80, "host_ip": "999.1.1.1"}]),
     lambda w: "999.1.1.1"),
    ("cn-port-range-overflow", "container_netns",
     lambda w: w.cn(port_mappings=[{"host_port": 65530, "container_port": 80, "range": 10}]), lambda w: "10"),
    ("cn-port-taken", "container_netns",
     lambda w: w.cn(port_mappings=[{"host_port": w.port, "container_port": 80}]), lambda w: str(w.port)),
    ("cn-port-twice", "container_netns",
     lambda w: w.cn(port_mappings=[{"host_port": 20953, "container_port": 80},
                                   {"host_port": 20953, "container_port": 81}]), lambda w: "20953"),
    # --- networks and configs ---
    ("cn-unknown-network", "container_netns", lambda w: w.cn(networks=["pnb-nonexistent"]),
     lambda w: "pnb-nonexistent"),
    ("cn-bad-network-name", "container_netns", lambda w: w.cn(networks=["bad name!"]), lambda w: "bad name!"),
    ("cn-conflist-not-json", "container_netns", lambda w: w.cn(networks=[w.env.name("broken")]),
     lambda w: w.env.name("broken")),
    ("cn-missing-plugin", "container_netns", lambda w: w.cn(networks=[w.noplug]), lambda w: "pnb-no-such-plugin"),
    ("cn-network-twice", "container_netns", lambda w: w.cn(networks=[w.net, w.net]), lambda w: w.net),
    ("cn-entry-unknown-key", "container_netns", lambda w: w.cn(networks=[{"name": w.net, "bogus": 1}]),
     lambda w: "bogus"),
    ("cn-alias", "container_netns", lambda w: w.cn(networks=[{"name": w.net, "aliases": ["bad alias!"]}]),
     lambda w: "bad alias!"),
    # --- wrong types ---
    ("cn-pid-type", "container_netns", lambda w: w.cn(pid="abc"), lambda w: "abc"),
    ("cn-network-mode", "container_netns", lambda w: w.cn(network_mode="bogus"), lambda w: "bogus"),
    ("cn-state", "container_netns", lambda w: w.cn(state="gone"), lambda w: "gone"),
    # Ansible's own float conversion message names the option, not the value
    ("cn-timeout-type", "container_netns", lambda w: w.cn(plugin_timeout="soon"), lambda w: "plugin_timeout"),
    # --- paths ---
    ("cn-state-dir-symlink", "container_netns", lambda w: w.cn(state_dir=w.link_state), lambda w: w.link_state),
    ("cn-cache-dir-symlink", "container_netns", lambda w: w.cn(cni_cache_dir=w.link_state),
     lambda w: w.link_state),
    # --- cni_attachment ---
    ("ca-unknown-network", "cni_attachment", lambda w: w.ca(network="pnb-nonexistent"), lambda w: "pnb-nonexistent"),
    ("ca-id", "cni_attachment", lambda w: w.ca(container_id="a/b"), lambda w: "a/b"),
    ("ca-if-too-long", "cni_attachment", lambda w: w.ca(interface="averyveryverylong"),
     lambda w: "averyveryverylong"),
    ("ca-if-duplicate", "cni_attachment", lambda w: w.ca(interface="eth0"), lambda w: "eth0"),
    ("ca-ip-outside", "cni_attachment", lambda w: w.ca(network=w.net2, ips=["192.0.2.9"]), lambda w: "192.0.2.9"),
    ("ca-ip-taken", "cni_attachment",
     lambda w: w.ca(container_id=w.other, netns=w.other, network=w.net, ips=[w.live_ip]),
     lambda w: w.live_ip),
    ("ca-mac", "cni_attachment", lambda w: w.ca(mac="02:42:ac:11:00:zz"), lambda w: "02:42:ac:11:00:zz"),
    ("ca-port-taken", "cni_attachment",
     lambda w: w.ca(container_id=w.other, netns=w.other, port_mappings=[{"host_port": w.port, "container_port": 80}]),
     lambda w: str(w.port)),
    ("ca-cni-args-key", "cni_attachment", lambda w: w.ca(cni_args={"bad;key": "v"}), lambda w: "bad;key"),
    ("ca-cni-args-value", "cni_attachment", lambda w: w.ca(cni_args={"K": "a;b"}), lambda w: "a;b"),
    ("ca-netns-dotdot", "cni_attachment", lambda w: w.ca(netns="/run/netns/../x"), lambda w: "/run/netns/../x"),
    ("ca-batch-bad-entry", "cni_attachment",
     lambda w: w.base(attachments=[{"container_id": w.live, "netns": w.live_ns, "network": w.net2,
                                    "interface": "bad/if"}]), lambda w: "bad/if"),
    # --- cni_network ---
    ("nw-name", "cni_network", lambda w: w.nw(name="bad/name"), lambda w: "bad/name"),
    ("nw-subnet-garbage", "cni_network", lambda w: w.nw(subnets=[{"subnet": "10.227.0.0/33"}]),
     lambda w: "10.227.0.0/33"),
    ("nw-subnet-overlap", "cni_network", lambda w: w.nw(subnets=[{"subnet": w.subnet}]), lambda w: w.subnet),
    ("nw-gateway-outside", "cni_network",
     lambda w: w.nw(subnets=[{"subnet": "10.227.254.0/24", "gateway": "10.227.253.1"}]), lambda w: "10.227.253.1"),
    ("nw-range-outside", "cni_network",
     lambda w: w.nw(subnets=[{"subnet": "10.227.254.0/24", "range_start": "10.227.1.10"}]),
     lambda w: "10.227.1.10"),
    ("nw-driver", "cni_network", lambda w: w.nw(driver="overlay"), lambda w: "overlay"),
    ("nw-bridge-too-long", "cni_network", lambda w: w.nw(bridge="averyveryverylongbridge"),
     lambda w: "averyveryverylongbridge"),
    ("nw-mtu-type", "cni_network", lambda w: w.nw(mtu="big"), lambda w: "big"),
    ("nw-vlan-range", "cni_network", lambda w: w.nw(vlan=5000), lambda w: "5000"),
    ("nw-route", "cni_network", lambda w: w.nw(routes=[{"dst": "not-a-cidr"}]), lambda w: "not-a-cidr"),
    # --- container_net_reload and container_netns_info ---
    ("rl-id", "container_net_reload", lambda w: w.base(containers=["a/../b"]), lambda w: "a/../b"),
    ("info-id", "container_netns_info", lambda w: w.base(container_id="../etc"), lambda w: "../etc"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    env = pnb_env.PnbEnv(str(tmp_path_factory.mktemp("badinput")))
    try:
        w = World(env)
        res = env.run("container_netns", env.common(
            container_id=w.live, netns=w.live_ns, networks=[w.net],
            port_mappings=[{"host_port": w.port, "container_port": 80}]))
        assert not res.get("failed"), res
        w.live_ip = res["network_settings"]["IPAddress"]
        yield w
    finally:
        env.cleanup()


def _config_files(env):
    out = {}
    for name in sorted(os.listdir(env.config_dir)):
        with open(os.path.join(env.config_dir, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()[:16]
    return out


def test_matrix_is_big_enough():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_naming_the_value_and_changes_nothing(world, case):
    dummy, module, build, expect = case
    args = build(world)
    before = world.env.snapshot()
    before["config"] = _config_files(world.env)
    for check in (True, False):
        res = world.env.run(module, args, check=check)
        assert res.get("failed"), "accepted bad input (check=%s): %s" % (check, json.dumps(res)[:1500])
        msg = res.get("msg", "")
        assert "unexpected error" not in msg and "Traceback" not in msg, msg
        assert expect(world) in msg, "message does not name %r: %s" % (expect(world), msg)
    after = world.env.snapshot()
    after["config"] = _config_files(world.env)
    pnb_env.assert_same(before, after, "after bad input %s" % case[0])
