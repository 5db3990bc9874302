# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rootless port mappings slirp4netns cannot forward fail before anything is attached."""
from __future__ import annotations

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _validate
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError
from ansible_collections.podnet.cni.plugins.module_utils._rootless_context import RootlessContext


def _pms(**kw):
    return _validate.port_mappings([dict({"container_port": 80, "host_port": 8080}, **kw)])


@pytest.mark.parametrize("kw, bad", [
    ({"protocol": "sctp"}, "sctp"),
    ({"host_ip": "::1"}, "::1"),
])
def test_rootless_refuses_what_slirp4netns_cannot_forward(kw, bad):
    with pytest.raises(ValidationError) as err:
        RootlessContext.check_port_mappings(None, _pms(**kw))  # no instance state used
    assert bad in str(err.value)


@pytest.mark.parametrize("kw", [{}, {"protocol": "udp"}, {"host_ip": "127.0.0.1"}])
def test_rootless_accepts_tcp_udp_ipv4(kw):
    RootlessContext.check_port_mappings(None, _pms(**kw))
