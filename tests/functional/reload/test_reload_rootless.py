# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_net_reload rootless, as a real unprivileged user: the wipe happens inside
the user's own rootless CNI namespace (never the machine's), the module checks and
reloads there through the rootless context, the port forwarded by slirp4netns works again.

The user and its helpers come from tests/lib/rootless_user.py (RootlessUser);
the user here is named with this suite's prefix (pnl)."""
from __future__ import annotations

import json
import os
import secrets
import subprocess

import pytest

import podnet_testlib as T
import rootless_user as R

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create the test user")

TAG = secrets.token_hex(2)
NET = "pnl%srn" % TAG
PORT = 20790 + secrets.randbelow(10)
CID = "pnl%src1" % TAG
TEXT = "pnl-%s" % TAG


@pytest.fixture(scope="module")
def user(user_tree):
    why = R.needs()
    if why:
        pytest.skip(why)
    with R.rootless_user("pnl", user_tree) as u:
        yield u


def tcp_get(port, tries=10):
    return T.tcp_get("127.0.0.1", port, timeout=2.0, tries=tries, delay=0.3)


def test_rootless_wipe_and_reload(user):
    conf_dir = os.path.join(user.tmp, "net.d")
    os.makedirs(conf_dir, mode=0o755)
    octet = 10 + secrets.randbelow(200)
    path = T.write_conflist(conf_dir, T.bridge_conflist(NET, "pnl%srb" % TAG, "10.225.%d.0/24" % octet))
    os.chmod(path, 0o644)
    server = None
    try:
        made = user.direct("container_netns", {
            "container_id": CID, "networks": [NET], "cni_config_dir": conf_dir,
            "port_mappings": [{"host_port": PORT, "container_port": 8080, "host_ip": "127.0.0.1"}]})
        assert made["changed"] is True, made
        server = user.in_netns(user.netns_path("podnet-%s" % CID),
                               ["busybox", "nc", "-ll", "-p", "8080", "-e", "busybox", "echo", TEXT],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert tcp_get(PORT) == TEXT
        args = {"containers": ["all"], "cni_config_dir": conf_dir}
        healthy = user.direct("container_net_reload", args)
        assert healthy["changed"] is False and healthy["reloaded"] == 0, json.dumps(healthy["containers"])[:1500]

        # wipe the rules inside the user's rootless CNI namespace (not the machine's)
        cni_ns = user.netns_path("rootless-cni-ns")
        for argv in (["-t", "nat", "-F"], ["-t", "nat", "-X"], ["-F"], ["-X"]):
            out = user.run_in_netns(cni_ns, ["iptables", "-w"] + argv)
            assert "rror" not in out, out
        assert tcp_get(PORT, tries=2) == ""

        predicted = user.direct("container_net_reload", args, check=True)
        assert predicted["changed"] is True and predicted["reloaded"] == 1, predicted
        done = user.direct("container_net_reload", args)
        assert done["changed"] is True, done
        net = done["containers"][CID]["networks"][NET]
        assert net["state"] == "reloaded" and net["ips_preserved"] and net["mac_preserved"], net
        assert net["ips"] == [made["network_settings"]["IPAddress"]]
        assert tcp_get(PORT) == TEXT
        assert user.direct("container_net_reload", args)["changed"] is False
    finally:
        if server is not None:
            server.kill()
            server.wait()
        user.direct("container_netns", {"container_id": CID, "state": "absent", "cni_config_dir": conf_dir})
