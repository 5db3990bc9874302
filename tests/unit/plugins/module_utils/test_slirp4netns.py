# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_slirp4netns: feature detection from --help, addresses from the CIDR, the argv,
API replies (a real unix socket server stands in for slirp4netns' API), and the host
forwards of port mappings."""
from __future__ import annotations

import json
import os
import socket
import threading

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _rootless_state as rstate
from ansible_collections.podnet.cni.plugins.module_utils import _slirp4netns as s
from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError, ValidationError

HELP_1_2 = """Usage: slirp4netns [OPTION]... PID|PATH [TAPNAME]
-c, --configure          bring up the interface
-e, --exit-fd=FD         specify the FD for terminating slirp4netns
-r, --ready-fd=FD        specify the FD to write to when the network is configured
-m, --mtu=MTU            specify MTU (default=1500, max=65521)
-6, --enable-ipv6        enable IPv6 (experimental)
-a, --api-socket=PATH    specify API socket path
--cidr=CIDR              specify network address CIDR (default=10.0.2.0/24)
--disable-host-loopback  prohibit connecting to 127.0.0.1:* on the host namespace
--netns-type=TYPE \t specify network namespace type ([path|pid], default=pid)
--userns-path=PATH\t specify user namespace path
--enable-sandbox         create a new mount namespace (and drop all caps except CAP_NET_BIND_SERVICE if running as the root)
--enable-seccomp         enable seccomp to limit syscalls (experimental)
--outbound-addr=IPv4     sets outbound ipv4 address to bound to (experimental)
--disable-dns            disables 10.0.2.3 (or configured internal ip) to host dns redirect (experimental)
"""

HELP_0_3 = """Usage: slirp4netns [OPTION]... PID TAPNAME
-c, --configure          bring up the interface
-e, --exit-fd=FD         specify the FD for terminating slirp4netns
-r, --ready-fd=FD        specify the FD to write to when the network is configured
-m, --mtu=MTU            specify MTU (default=1500, max=65521)
"""

ALL = s.parse_features(HELP_1_2)


@pytest.mark.parametrize("text,feature,expected", [
    (HELP_1_2, "netns_type", True), (HELP_1_2, "sandbox", True), (HELP_1_2, "seccomp", True),
    (HELP_1_2, "api_socket", True), (HELP_1_2, "cidr", True), (HELP_1_2, "outbound_addr", True),
    (HELP_1_2, "outbound_addr6", False), (HELP_1_2, "disable_dns", True), (HELP_1_2, "ipv6", True),
    (HELP_0_3, "configure", True), (HELP_0_3, "mtu", True), (HELP_0_3, "netns_type", False),
    (HELP_0_3, "api_socket", False), (HELP_0_3, "sandbox", False), ("", "configure", False),
])
def test_parse_features(text, feature, expected):
    assert s.parse_features(text)[feature] is expected


@pytest.mark.parametrize("cidr,gateway,dns,guest", [
    (None, "10.0.2.2", "10.0.2.3", "10.0.2.100"),
    ("10.41.0.0/24", "10.41.0.2", "10.41.0.3", "10.41.0.100"),
    ("10.41.0.7/24", "10.41.0.2", "10.41.0.3", "10.41.0.100"),
    ("192.168.128.0/17", "192.168.128.2", "192.168.128.3", "192.168.128.100"),
    ("10.9.9.0/25", "10.9.9.2", "10.9.9.3", "10.9.9.100"),
])
def test_addresses_from_cidr(cidr, gateway, dns, guest):
    net = s.SlirpNetwork(cidr)
    assert (net.gateway, net.dns, net.guest) == (gateway, dns, guest)


@pytest.mark.parametrize("cidr,needle", [
    ("10.9.9.0/26", "/25 or shorter"), ("fd00::/64", "IPv4"), ("nonsense", "nonsense"),
    ("10.0.0.0/33", "10.0.0.0/33"),
])
def test_bad_cidr(cidr, needle):
    with pytest.raises(ValidationError) as info:
        s.SlirpNetwork(cidr)
    assert needle in str(info.value)


@pytest.mark.parametrize("kwargs,needle", [
    ({"mtu": 100}, "mtu"), ({"mtu": 70000}, "mtu"), ({"mtu": True}, "mtu"),
    ({"outbound_addr": "::1"}, "outbound_addr"), ({"outbound_addr": "x"}, "outbound_addr"),
])
def test_bad_options(kwargs, needle):
    with pytest.raises(ValidationError) as info:
        s.SlirpOptions(**kwargs)
    assert needle in str(info.value)


def test_args_default_like_podman():
    """podman hardens slirp4netns with --enable-sandbox and --enable-seccomp whenever the
    binary supports them: so do the declared defaults (unset = when supported)."""
    opts = rstate.slirp_options({}, ALL)
    argv = s.build_args("/usr/bin/slirp4netns", ALL, opts, "/run/user/1/netns/ns",
                        "/run/user/1/api.sock", 5)
    assert argv == ["/usr/bin/slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
                    "--enable-sandbox", "--enable-seccomp", "--api-socket=/run/user/1/api.sock",
                    "--ready-fd=5", "--netns-type=path", "/run/user/1/netns/ns", "tap0"]


@pytest.mark.parametrize("declared,features,sandbox,seccomp", [
    ({}, HELP_1_2, True, True),
    ({}, HELP_0_3, False, False),  # an old slirp4netns: left out, not an error
    ({"enable_sandbox": False}, HELP_1_2, False, True),
    ({"enable_sandbox": False, "enable_seccomp": False}, HELP_1_2, False, False),
    ({"enable_seccomp": True}, HELP_0_3, False, True),  # asked for: build_args refuses it
])
def test_sandbox_and_seccomp_default_when_supported(declared, features, sandbox, seccomp):
    opts = rstate.slirp_options(declared, s.parse_features(features))
    assert (opts.enable_sandbox, opts.enable_seccomp) == (sandbox, seccomp)


def test_declared_options_round_trip_and_validation(tmp_path):
    path = str(tmp_path / "rootless-options.json")
    declared = rstate.declared_options({"mtu": 1500, "cidr": "10.41.0.0/24", "enable_sandbox": False})
    rstate.save_options(path, declared)
    assert rstate.load_options(path) == declared
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    for bad in ({"mtu": "1500"}, {"cidr": "10.41.0.0/29"}, {"enable_sandbox": "yes"},
                {"outbound_addr": "::1"}, {"path": "relative/slirp4netns"}, {"other": 1}):
        with open(path, "w") as f:
            json.dump(dict(declared, version=1, **bad), f)
        with pytest.raises(RootlessError) as info:
            rstate.load_options(path)
        assert path in str(info.value)
    with open(path, "w") as f:
        f.write("{truncated")
    with pytest.raises(RootlessError, match="rootless-options.json"):
        rstate.load_options(path)


def test_args_all_options():
    opts = s.SlirpOptions(mtu=1500, cidr="10.41.0.0/24", enable_ipv6=True, disable_host_loopback=False,
                          outbound_addr="192.0.2.1", enable_sandbox=True, enable_seccomp=True)
    argv = s.build_args("slirp4netns", ALL, opts, "1234", None, 3, netns_type="pid")
    assert argv == ["slirp4netns", "--configure", "--mtu=1500", "--cidr=10.41.0.0/24", "--enable-ipv6",
                    "--outbound-addr=192.0.2.1", "--enable-sandbox", "--enable-seccomp",
                    "--ready-fd=3", "1234", "tap0"]


@pytest.mark.parametrize("opts,needle", [
    ({"enable_sandbox": True, "disable_host_loopback": False}, "--enable-sandbox"),
    ({"cidr": "10.1.0.0/24"}, "--cidr"),
    ({"enable_seccomp": True, "disable_host_loopback": False}, "--enable-seccomp"),
    ({}, "--disable-host-loopback"),
])
def test_args_unsupported_option_is_named(opts, needle):
    with pytest.raises(RootlessError) as info:
        s.build_args("slirp4netns", s.parse_features(HELP_0_3), s.SlirpOptions(**opts), "1", None, 3,
                     netns_type="pid")
    assert needle in str(info.value)


@pytest.mark.parametrize("ip,expected", [(None, "0.0.0.0"), ("", "0.0.0.0"), ("127.0.0.1", "127.0.0.1")])
def test_hostfwd_host_addr(ip, expected):
    assert s.hostfwd_host_addr(ip) == expected


def test_hostfwd_ipv6_refused():
    with pytest.raises(ValidationError):
        s.hostfwd_host_addr("::1")


@pytest.fixture
def api(tmp_path):
    """A unix socket server answering like slirp4netns' API; records the requests."""
    path = str(tmp_path / "api.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(5)
    state = {"requests": [], "replies": []}

    def loop():
        while True:
            try:
                conn = srv.accept()[0]
            except OSError:
                return
            with conn:
                data = b""
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                state["requests"].append(json.loads(data))
                conn.sendall(state["replies"].pop(0))
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield path, state
    srv.close()


def test_api_add_list_remove(api):
    path, state = api
    state["replies"] += [b'{"return": {"id": 7}}',
                         b'{"entries": [{"id": 7, "proto": "tcp", "host_addr": "127.0.0.1", '
                         b'"host_port": 8080, "guest_addr": "10.0.2.100", "guest_port": 8080}]}',
                         b'{"return": {}}']
    assert s.add_hostfwd(path, "tcp", "127.0.0.1", 8080, "10.0.2.100", 8080) == 7
    entries = s.list_hostfwd(path)
    assert s.find_hostfwd(entries, "tcp", "127.0.0.1", 8080)["id"] == 7
    assert s.find_hostfwd(entries, "udp", "127.0.0.1", 8080) is None
    assert s.find_hostfwd(entries, "tcp", "0.0.0.0", 8080) is None
    s.remove_hostfwd(path, 7)
    assert state["requests"] == [
        {"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_addr": "127.0.0.1",
                                                 "host_port": 8080, "guest_addr": "10.0.2.100",
                                                 "guest_port": 8080}},
        {"execute": "list_hostfwd"},
        {"execute": "remove_hostfwd", "arguments": {"id": 7}}]


def test_api_error_is_raised(api):
    path, state = api
    state["replies"].append(b'{"error": {"desc": "bad request: add_hostfwd: slirp_add_hostfwd failed"}}')
    with pytest.raises(RootlessError) as info:
        s.add_hostfwd(path, "tcp", "0.0.0.0", 80, "10.0.2.100", 80)
    assert "slirp_add_hostfwd failed" in str(info.value)


def test_api_socket_missing(tmp_path):
    with pytest.raises(RootlessError) as info:
        s.list_hostfwd(str(tmp_path / "nope.sock"))
    assert "list_hostfwd" in str(info.value)


def test_sctp_not_forwarded():
    with pytest.raises(ValidationError):
        s.add_hostfwd("/nonexistent", "sctp", "0.0.0.0", 80, "10.0.2.100", 80)


# --- host forwards of port mappings ---

def test_hostfwds_of_port_mappings():
    pms = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"},
           {"hostPort": 53, "containerPort": 53, "protocol": "UDP"}, {"containerPort": 1}]
    assert s.hostfwds(pms) == [["tcp", "127.0.0.1", 8080], ["udp", "0.0.0.0", 53]]
    # network_mode slirp4netns: straight to the container port
    assert s.hostfwds(pms, guest_port=True) == [["tcp", "127.0.0.1", 8080, 80],
                                                ["udp", "0.0.0.0", 53, 53]]


@pytest.mark.parametrize("fwds,guest_port,ok", [
    ([["tcp", "0.0.0.0", 8080]], False, True),
    ([["tcp", "0.0.0.0", 8080, 80]], True, True),
    ([["tcp", "0.0.0.0", 8080]], True, False),          # the guest port missing
    ([["tcp", "0.0.0.0", 8080, 80]], False, False),
    ([["sctp", "0.0.0.0", 8080, 80]], True, False),
    ([["udp", "0.0.0.0", 8080, 70000]], True, False),
    ([["udp", "0.0.0.0", True, 80]], True, False),
    ("tcp", True, False),
])
def test_hostfwds_problem_one_shape_with_or_without_guest_port(fwds, guest_port, ok):
    assert (s.hostfwds_problem(fwds, guest_port=guest_port) is None) is ok
