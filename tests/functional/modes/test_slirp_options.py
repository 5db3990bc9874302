# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_mode slirp4netns with podman's per-container options (issue 12): mtu and cidr
reach the container's own slirp4netns (its tap device has them), a port is forwarded to
the address in that cidr, a changed option restarts it, and absent stops it. As root
(podman's setupSlirp4netns works for root too), with the real slirp4netns."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import podnet_testlib as tl
from pnj_modes_env import sh

pytestmark = pytest.mark.skipif(not shutil.which("slirp4netns"), reason="needs slirp4netns")


def _tap(netns):
    return json.loads(sh("ip", "-n", netns, "-j", "addr", "show", "dev", "tap0"))[0]


def test_slirp4netns_options_reach_the_containers_slirp4netns(env):
    cid = env.cid("slirp")
    port = env.free_port()
    opts = {"mtu": 1500, "cidr": "10.236.250.0/24", "enable_sandbox": False}
    args = dict(container_id=cid, netns=cid, network_mode="slirp4netns", slirp4netns_options=opts,
                port_mappings=[{"host_port": port, "container_port": 8080, "host_ip": "127.0.0.1"}])
    res = env.netns(**args)
    assert [a["action"] for a in res["actions"]] == ["create_netns", "start_slirp4netns"], res
    tap = _tap(cid)
    assert tap["mtu"] == 1500
    assert [a["local"] for a in tap["addr_info"] if a["family"] == "inet"] == ["10.236.250.100"]
    assert env.netns(**args)["changed"] is False
    env.server(cid, 8080, "slirp-opts")
    assert tl.tcp_get("127.0.0.1", port) == "slirp-opts"
    # a changed option restarts it (check mode says so first)
    wider = dict(args, slirp4netns_options=dict(opts, mtu=9000))
    check = env.netns(check=True, **wider)
    assert [(a["action"], a.get("reason")) for a in check["actions"]] == [
        ("start_slirp4netns", "options changed")], check
    assert _tap(cid)["mtu"] == 1500
    assert env.netns(**wider)["actions"] == check["actions"]
    assert _tap(cid)["mtu"] == 9000
    assert tl.tcp_get("127.0.0.1", port) == "slirp-opts"
    bad = env.netns(**dict(args, slirp4netns_options={"cidr": "10.236.250.0/29"}))
    assert bad.get("failed") and "10.236.250.0/29" in bad["msg"], bad
    env.stop_procs()
    gone = env.netns(container_id=cid, netns=cid, state="absent")
    assert [a["action"] for a in gone["actions"]] == ["stop_slirp4netns", "remove_netns"], gone
    out = subprocess.run(["pgrep", "-af", "slirp4netns"], stdout=subprocess.PIPE, check=False)
    assert ("/run/netns/%s " % cid) not in out.stdout.decode()
    env.assert_nothing_left()
