# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_mode slirp4netns seen through container_netns_info and container_netns
(issue 12): ``network_settings.Ports`` in podman's inspect shape (the bridge mode's one
implementation), ``network_io`` from the container's tap device (tap0, as podman 4's
getContainerNetIO for slirp4netns), growing with traffic through the forwarded port; a
joiner of a slirp4netns container shows the same (podman's inspect delegates). As root,
with the real slirp4netns. Prefix pnw, subnets 10.242.0.0/16, host ports 22100-22199."""
from __future__ import annotations

import shutil

import pytest

import podnet_testlib as tl

pytestmark = pytest.mark.skipif(not shutil.which("slirp4netns"), reason="needs slirp4netns")


@pytest.fixture
def env(env_w):
    return env_w


def test_slirp4netns_ports_and_network_io_from_tap0(env):
    cid, joiner = env.cid("slirp"), env.cid("join")
    port, udp = env.free_port(), env.free_port()
    args = dict(container_id=cid, netns=cid, network_mode="slirp4netns",
                slirp4netns_options={"enable_sandbox": False},
                port_mappings=[{"host_port": port, "container_port": 8080, "host_ip": "127.0.0.1"},
                               {"host_port": udp, "container_port": 53, "protocol": "udp"}])
    ports = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}],
             "53/udp": [{"HostIp": "", "HostPort": str(udp)}]}
    res = env.netns(**args)
    assert res["changed"] and not res.get("failed"), res
    assert res["network_settings"]["Ports"] == ports, res
    assert res["network_settings"]["SandboxKey"] == "/run/netns/%s" % cid
    assert env.netns(**args)["network_settings"]["Ports"] == ports

    info = env.info(container_id=cid)["containers"][cid]
    assert info["network_mode"] == "slirp4netns"
    assert info["network_settings"]["Ports"] == ports, info
    assert set(info["interfaces"]) >= {"lo", "tap0"}
    before = info["network_io"]
    assert isinstance(before, dict) and set(before) >= {"rx_bytes", "tx_bytes"}, info
    assert before == {k: info["interfaces"]["tap0"]["stats"][k] for k in before}

    # traffic through the forwarded port goes over tap0: both counters grow
    env.server(cid, 8080, "slirp-io")
    for dummy in range(3):
        assert tl.tcp_get("127.0.0.1", port, tries=10, delay=0.2) == "slirp-io"
    after = env.info(container_id=cid)["containers"][cid]["network_io"]
    assert after["rx_bytes"] > before["rx_bytes"] and after["tx_bytes"] > before["tx_bytes"], \
        (before, after)
    assert after["rx_packets"] >= before["rx_packets"] + 6, (before, after)

    # a joiner of it shows the owner's (podman's inspect delegates to the owner)
    assert env.netns(container_id=joiner, network_mode="container:%s" % cid)["changed"]
    joined = env.info(container_id=joiner)["containers"][joiner]
    assert joined["network_settings"]["Ports"] == ports, joined
    assert joined["network_io"]["tx_bytes"] >= after["tx_bytes"], joined

    env.stop_procs()
    assert env.netns(container_id=joiner, state="absent")["changed"]
    gone = env.netns(container_id=cid, netns=cid, state="absent")
    assert [a["action"] for a in gone["actions"]] == ["stop_slirp4netns", "remove_netns"], gone
    env.assert_nothing_left()
