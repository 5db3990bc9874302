# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input about namespaces, ids and addresses (issue 15, items 1, 3, 7 and 18): each
case is refused in check mode as in the real run — check mode must never predict a
change the run refuses — with a message naming the bad value, and the host snapshot
(links, addresses, routes, rules, namespaces, cache, records, reservations) is the same
afterwards. Prefix pns, subnets 10.230.0.0/16, host ports 21000-21099 (see
tests/functional/security/pns_env.py).
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

import pns_env

pnb_env = pns_env.pnb_env


def _unused_pid():
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) - 1
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    return pid


class World:
    def __init__(self, env):
        self.env = env
        conf = env.network("net")
        self.net = conf["name"]
        rng = conf["plugins"][0]["ipam"]["ranges"][0][0]
        base = rng["subnet"].rsplit(".", 1)[0]
        self.network_addr, self.broadcast, self.gateway = base + ".0", base + ".255", rng["gateway"]
        self.live = env.cid("live")
        self.live_ns = env.name("live")
        self.dead_pid = _unused_pid()
        self.file = os.path.join(env.tmp, "notes.txt")
        with open(self.file, "w") as f:
            f.write("precious\n")
        self.long_id = env.prefix + "-" + "z" * (240 - len(env.prefix) - 1)

    def cn(self, **kw):
        args = self.env.common(container_id=self.env.cid("new"), netns=self.env.name("new"),
                               networks=[self.net])
        args.update(kw)
        return args

    def ca(self, **kw):
        args = self.env.common(container_id=self.live, netns=self.live_ns, network=self.net,
                               interface="eth1")
        args.update(kw)
        return args


CASES = [
    # item 18: what the run refuses, check mode refuses
    ("cn-pid-gone", "container_netns", lambda w: w.cn(pid=w.dead_pid), lambda w: str(w.dead_pid)),
    ("cn-ip-network-address", "container_netns", lambda w: w.cn(static_ip=w.network_addr),
     lambda w: w.network_addr),
    ("cn-ip-broadcast", "container_netns", lambda w: w.cn(static_ip=w.broadcast), lambda w: w.broadcast),
    ("cn-ip-gateway", "container_netns", lambda w: w.cn(static_ip=w.gateway), lambda w: w.gateway),
    ("cn-ip-outside", "container_netns", lambda w: w.cn(static_ip="192.0.2.44"), lambda w: "192.0.2.44"),
    ("cn-timeout-negative", "container_netns", lambda w: w.cn(plugin_timeout=-1), lambda w: "plugin_timeout"),
    ("ca-ip-gateway", "cni_attachment", lambda w: w.ca(ips=[w.gateway]), lambda w: w.gateway),
    ("ca-ip-broadcast", "cni_attachment", lambda w: w.ca(ips=[w.broadcast]), lambda w: w.broadcast),
    ("ca-timeout-negative", "cni_attachment", lambda w: w.ca(plugin_timeout=-5), lambda w: "plugin_timeout"),
    ("rl-timeout-negative", "container_net_reload",
     lambda w: w.env.common(containers=["all"], plugin_timeout=-1), lambda w: "plugin_timeout"),
    # item 1: the host's namespace
    ("cn-pid-1", "container_netns", lambda w: w.cn(pid=1), lambda w: "pid 1"),
    ("cn-netns-proc-1", "container_netns", lambda w: w.cn(netns="/proc/1/ns/net"), lambda w: "/proc/1/ns/net"),
    ("ca-netns-proc-self", "cni_attachment", lambda w: w.ca(netns="/proc/self/ns/net"),
     lambda w: "/proc/self/ns/net"),
    # item 2/3: namespace paths
    ("cn-netns-proc-gone", "container_netns", lambda w: w.cn(netns="/proc/%d/ns/net" % w.dead_pid),
     lambda w: "/proc/%d/ns/net" % w.dead_pid),
    ("cn-netns-proc-other", "container_netns", lambda w: w.cn(netns="/proc/1/ns/mnt"),
     lambda w: "/proc/1/ns/mnt"),
    ("cn-netns-file", "container_netns", lambda w: w.cn(netns=w.file), lambda w: w.file),
    ("cn-netns-dir", "container_netns", lambda w: w.cn(netns=w.env.tmp), lambda w: w.env.tmp),
    ("cn-netns-outside-dir", "container_netns", lambda w: w.cn(netns=os.path.join(w.env.tmp, "nsx")),
     lambda w: os.path.join(w.env.tmp, "nsx")),
    ("ca-netns-file", "cni_attachment", lambda w: w.ca(netns=w.file), lambda w: w.file),
    # item 7: ids too long for the files that name them
    ("cn-id-240", "container_netns", lambda w: w.cn(container_id=w.long_id), lambda w: "too long"),
    ("ca-id-240", "cni_attachment", lambda w: w.ca(container_id=w.long_id), lambda w: "too long"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    env = pns_env.PnsEnv(str(tmp_path_factory.mktemp("badinput-netns")))
    try:
        w = World(env)
        res = env.run("container_netns", env.common(container_id=w.live, netns=w.live_ns, networks=[w.net]))
        assert not res.get("failed"), res
        yield w
    finally:
        env.cleanup()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_namespace_input_is_refused_in_check_mode_too(world, case):
    dummy, module, build, expect = case
    args = build(world)
    before = world.env.snapshot()
    for check in (True, False):
        res = world.env.run(module, args, check=check)
        assert res.get("failed"), "accepted bad input (check=%s): %s" % (check, json.dumps(res)[:1500])
        msg = res.get("msg", "")
        assert "unexpected error" not in msg and "Traceback" not in msg, msg
        assert expect(world) in msg, "message does not name %r: %s" % (expect(world), msg)
    with open(world.file) as f:
        assert f.read() == "precious\n"
    pnb_env.assert_same(before, world.env.snapshot(), "after bad input %s" % case[0])
    assert not subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                              check=True).stdout.decode().count(world.env.name("new"))
