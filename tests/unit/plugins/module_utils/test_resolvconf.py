# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_resolvconf: slirp4netns DNS first, then the host's usable resolvers, search, options."""
from __future__ import annotations

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _resolvconf as r


@pytest.mark.parametrize("host,dns,ipv6,expected", [
    ("nameserver 192.0.2.53\n", "10.0.2.3", False, "nameserver 10.0.2.3\nnameserver 192.0.2.53\n"),
    # systemd-resolved's stub and other localhost resolvers are unreachable from a netns
    ("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.com\n", "10.0.2.3", False,
     "nameserver 10.0.2.3\nsearch example.com\noptions edns0 trust-ad\n"),
    ("nameserver ::1\nnameserver 127.0.0.1\nnameserver 198.51.100.1\n", "10.0.2.3", False,
     "nameserver 10.0.2.3\nnameserver 198.51.100.1\n"),
    # IPv6 resolvers only with IPv6, then slirp4netns' own fd00::3 too
    ("nameserver 2001:db8::53\nnameserver 192.0.2.53\n", "10.0.2.3", False,
     "nameserver 10.0.2.3\nnameserver 192.0.2.53\n"),
    ("nameserver 2001:db8::53\n", "10.0.2.3", True,
     "nameserver 10.0.2.3\nnameserver fd00::3\nnameserver 2001:db8::53\n"),
    # the last search/domain line wins; comments and duplicates are dropped
    ("# comment\ndomain a.example\nsearch b.example c.example\nnameserver 192.0.2.1 # x\n"
     "nameserver 192.0.2.1\n", "10.41.0.3", False,
     "nameserver 10.41.0.3\nnameserver 192.0.2.1\nsearch b.example c.example\n"),
    ("", "10.0.2.3", False, "nameserver 10.0.2.3\n"),
    ("nameserver 10.0.2.3\n", "10.0.2.3", False, "nameserver 10.0.2.3\n"),
])
def test_build(host, dns, ipv6, expected):
    assert r.build(host, dns, ipv6) == expected


@pytest.mark.parametrize("server,expected", [
    ("127.0.0.53", True), ("127.1.2.3", True), ("::1", True), ("192.0.2.1", False),
    ("fe80::1%eth0", False), ("not-an-ip", False),
])
def test_is_localhost(server, expected):
    assert r.is_localhost(server) is expected


def test_read_host_missing(tmp_path):
    assert r.read_host(str(tmp_path / "nope")) == ""
