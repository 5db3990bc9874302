# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aliases reach the dnsname plugin (Debian golang-github-containernetworking-plugin-dnsname
+ dnsmasq-base): a real dnsmasq on the bridge answers the alias with the container's IP,
and forgets it on detach."""
from __future__ import annotations

import os
import shutil
import sys

import pytest

from pna_env import PLUGIN_DIR, run_module, sh

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(PLUGIN_DIR, "dnsname")) or not shutil.which("dnsmasq"),
    reason="dnsname plugin or dnsmasq not installed (apt-get install "
           "golang-github-containernetworking-plugin-dnsname dnsmasq-base)")

# a minimal DNS A query (no dig/nslookup needed in the namespace)
_QUERY = r"""
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(q, (server, 53)); data = s.recv(512)
ancount = struct.unpack(">H", data[6:8])[0]
i = len(q)
out = []
for _ in range(ancount):
    i += 2 if data[i] & 0xC0 == 0xC0 else data.index(b"\0", i) + 1 - i
    rtype, _, _, rdlen = struct.unpack(">HHIH", data[i:i + 10]); i += 10
    if rtype == 1:
        out.append(socket.inet_ntoa(data[i:i + rdlen]))
    i += rdlen
print(" ".join(out))
"""


def _resolve(env, netns, server, name):
    proc = env.exec_in(netns, [sys.executable, "-c", _QUERY, server, name], check=False)
    return proc.stdout.decode().split()


def test_aliases_resolve_through_dnsname(env):
    net = env.network("n", 73, dnsname=True)
    a, b = env.add_netns("a"), env.add_netns("b")
    res = run_module("cni_attachment", dict(env.common, container_id=env.name("a"), name=env.name("web"),
                                            netns=a, network=net, ips=["10.222.73.10"],
                                            aliases=["web", "www"]))
    assert res["changed"], res
    res = run_module("cni_attachment", dict(env.common, container_id=env.name("b"), netns=b,
                                            network=net))
    assert res["changed"], res
    hosts = open("/run/containers/cni/dnsname/%s/addnhosts" % net).read()
    assert "10.222.73.10" in hosts and "web" in hosts.split() and "www" in hosts.split()
    assert _resolve(env, b, "10.222.73.1", "web.dns.podman") == ["10.222.73.10"]
    assert _resolve(env, b, "10.222.73.1", "www.dns.podman") == ["10.222.73.10"]
    assert _resolve(env, b, "10.222.73.1", env.name("web") + ".dns.podman") == ["10.222.73.10"]
    # changing the aliases re-attaches with the new ones (same address)
    res = run_module("cni_attachment", dict(env.common, container_id=env.name("a"), network=net,
                                            aliases=["api"]))
    assert res["changed"] and res["actions"][0]["reasons"] == ["aliases"], res
    assert res["attachment"]["ips"] == ["10.222.73.10"]
    assert _resolve(env, b, "10.222.73.1", "api.dns.podman") == ["10.222.73.10"]
    assert _resolve(env, b, "10.222.73.1", "web.dns.podman") == []
    # detach: the name is gone
    res = run_module("cni_attachment", dict(env.common, container_id=env.name("a"), network=net,
                                            state="absent"))
    assert res["changed"], res
    assert _resolve(env, b, "10.222.73.1", "api.dns.podman") == []
    res = run_module("cni_attachment", dict(env.common, container_id=env.name("b"), network=net,
                                            state="absent"))
    assert res["changed"], res
    sh(["true"])
