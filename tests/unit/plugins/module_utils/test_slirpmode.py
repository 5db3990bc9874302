# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_slirpmode (network_mode slirp4netns): the container's own slirp4netns options (issue 12)
and the API socket path's limit."""
from __future__ import annotations

import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _slirpmode
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError


def test_slirp_mode_options_are_validated_and_normalised():
    declared = _slirpmode.declared_options({"mtu": 1500, "cidr": "10.236.9.7/24",
                                            "allow_host_loopback": True})
    assert declared == {"enable_sandbox": None, "enable_seccomp": None, "mtu": 1500,
                        "cidr": "10.236.9.0/24", "enable_ipv6": None, "outbound_addr": None,
                        "allow_host_loopback": True}
    for bad, needle in (({"mtu": 100}, "mtu 100"), ({"cidr": "10.236.9.0/29"}, "10.236.9.0/29"),
                        ({"outbound_addr": "::1"}, "'::1'"), ({"enable_ipv6": "yes"}, "'yes'"),
                        ({"port_handler": "rootlesskit"}, "port_handler")):
        with pytest.raises(ValidationError, match=needle):
            _slirpmode.declared_options(bad)


def test_a_slirp_state_from_before_the_new_options_is_not_restarted():
    old = {"enable_sandbox": None, "enable_seccomp": None}  # what 0.1.0 recorded
    assert _slirpmode._same_options(old, _slirpmode.declared_options(None))
    assert not _slirpmode._same_options(old, _slirpmode.declared_options({"mtu": 1500}))


def test_api_socket_path_too_long_is_refused_naming_the_state_dir(tmp_path):
    """A unix socket path holds at most 107 bytes: slirp4netns mode under a long state_dir
    is refused while planning (check mode too), naming state_dir, before anything starts;
    slirp4netns itself would only fail after the namespace was made."""
    long_dir = os.path.join(str(tmp_path), "d" * (108 - len(str(tmp_path))))
    with pytest.raises(ValidationError) as err:
        _slirpmode.plan_steps(long_dir, "c1", "/run/netns/c1", [], wanted=True, netns_new=True)
    assert "state_dir" in str(err.value) and long_dir in str(err.value)
    assert "107" in str(err.value)
    assert not os.path.exists(long_dir)
    # removing needs no socket: a container that is going away is not refused
    assert _slirpmode.plan_steps(long_dir, "c1", "/run/netns/c1", [], wanted=False, netns_new=False) == []
    # at the limit it plans a start
    short = os.path.join(str(tmp_path), "s")
    assert _slirpmode.plan_steps(short, "c1", "/run/netns/c1", [], wanted=True, netns_new=True)[0][0] \
        == "start_slirp4netns"
