# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reload keeps going (issue 12): when the DEL of an attachment fails with an error that
is not an expected "missing rule/chain" one, container_net_reload still ADDs it with the
same IPs and MAC and reports both (podman logs the DEL error and sets the network up
again); a network is never left down because a DEL failed.

The failing DEL comes from a real plugin executable at the end of the chain (the real
Debian plugins before it): ``pnj-faildel`` passes ADD and CHECK through and fails DEL
with CNI error 999 while a marker file exists. Nothing in the real plugin set fails on
demand, so this stand-in is the one thing not real here."""
from __future__ import annotations

import json
import os
import stat

import podnet_testlib as tl

PLUGIN = r'''#!/usr/bin/python3
import json, os, sys
cmd = os.environ.get("CNI_COMMAND")
conf = json.load(sys.stdin) if cmd != "VERSION" else {}
if cmd == "VERSION":
    print(json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}))
elif cmd == "ADD":
    print(json.dumps(conf.get("prevResult") or {"cniVersion": conf["cniVersion"]}))
elif cmd == "DEL" and os.path.exists(conf["marker"]):
    print(json.dumps({"cniVersion": conf["cniVersion"], "code": 999,
                      "msg": "pnj injected DEL failure"}))
    sys.exit(1)
'''


def test_a_failed_del_is_reported_and_the_add_still_runs(env):
    plugdir = os.path.join(env.tmp, "plugins")
    os.makedirs(plugdir)
    path = os.path.join(plugdir, "pnj-faildel")
    with open(path, "w") as f:
        f.write(PLUGIN)
    os.chmod(path, stat.S_IRWXU)
    env.plugin_dirs = [plugdir, "/usr/lib/cni"]
    marker = os.path.join(env.tmp, "fail-del")
    net = env.network()
    net["conf"]["plugins"].append({"type": "pnj-faildel", "marker": marker})
    tl.write_conflist(env.config_dir, net["conf"])
    cid, peer = env.cid("web"), env.cid("peer")
    port = env.free_port()
    made = env.netns(container_id=cid, netns=cid, networks=[net["name"]],
                     static_mac="02:36:00:00:00:0a")
    assert made["changed"] and not made.get("failed"), made
    ip = made["network_settings"]["IPAddress"]
    assert env.netns(container_id=peer, netns=peer, networks=[net["name"]])["changed"]
    env.server(cid, port, "still-up")
    assert tl.tcp_get(ip, port, netns=peer) == "still-up"

    with open(marker, "w"):
        pass
    res = env.module("container_net_reload", containers=[cid], force=True)
    assert not res.get("failed"), res
    item = res["containers"][cid]["networks"][net["name"]]
    assert item["state"] == "reloaded", item
    assert "pnj injected DEL failure" in item["del_error"], item
    assert item["ips"] == [ip] and item["ips_preserved"] is True, item
    assert item["mac"] == "02:36:00:00:00:0a" and item["mac_preserved"] is True, item
    # (newer ansible-core returns warnings as objects: their text is in there either way)
    assert "pnj injected DEL failure" in json.dumps(res.get("warnings")), res
    # the network is up again (a new veth, the same address), and nothing is doubled
    assert tl.tcp_get(ip, port, netns=peer) == "still-up"
    assert len(env.bridge_ports()) == 2
    assert len(env.reservations()) == 2
    os.unlink(marker)
    env.stop_procs()
    for c in (cid, peer):
        assert env.netns(container_id=c, netns=c, state="absent")["changed"] is True
    env.assert_nothing_left()
