# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RootlessContext (_rootless_context): port mappings slirp4netns cannot forward fail before
anything is attached; IPAM data dirs map into the rootless dir; real root is refused."""
from __future__ import annotations

import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _rootless_cni as rcni
from ansible_collections.podnet.cni.plugins.module_utils import _userns, _validate
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


def test_ipam_data_dir_maps_into_the_rootless_dir(tmp_path):
    layout = rcni.Layout(str(tmp_path))
    ctx = RootlessContext(layout, config_dir=str(tmp_path))
    inner = os.path.join(layout.rdir, layout.var_target.lstrip("/"))
    assert ctx.ipam_data_dir("/var/lib/cni/networks").startswith(inner)
    assert ctx.ipam_data_dir("/run/ipam") == os.path.join(layout.rdir, "run", "ipam")
    assert ctx.ipam_data_dir("/srv/ipam") == "/srv/ipam"
    assert ctx.cache_dir == os.path.join(layout.rdir, "var", "lib", "cni")


@pytest.mark.skipif(os.geteuid() != 0 or not _userns.in_initial_userns(), reason="needs real root")
def test_rootless_refused_for_real_root():
    with pytest.raises(ValidationError, match="unprivileged user"):
        RootlessContext.from_params({})
