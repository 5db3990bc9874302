# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_rootless_cni: the pure logic of running CNI rootless (the RuntimeConf the plugins get,
the nearest existing path, the runtime dir's checks)."""
from __future__ import annotations

import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _rootless_cni as rcni
from ansible_collections.podnet.cni.plugins.module_utils._cni.exec import RuntimeConf
from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError


def test_runtime_conf_loses_host_ip_only_for_the_plugins():
    rt = RuntimeConf("c1", "/ns", "eth0", [["IgnoreUnknown", "1"]],
                     {"portMappings": [{"hostPort": 1, "containerPort": 2, "protocol": "tcp",
                                        "hostIP": "127.0.0.1"}], "aliases": {"n": ["a"]}})
    out = rcni._rootless_runtime_conf(rt)
    assert out.capability_args["portMappings"] == [{"hostPort": 1, "containerPort": 2, "protocol": "tcp"}]
    assert out.capability_args["aliases"] == {"n": ["a"]}
    assert rt.capability_args["portMappings"][0]["hostIP"] == "127.0.0.1"  # the cache keeps it


@pytest.mark.parametrize("exists,path,expected", [
    ({"/var/lib/cni"}, "/var/lib/cni", "/var/lib/cni"),
    ({"/var/lib"}, "/var/lib/cni", "/var/lib"),
    (set(), "/var/lib/cni", "/"),
])
def test_nearest_existing(monkeypatch, exists, path, expected):
    monkeypatch.setattr(os.path, "exists", lambda p: p in exists)
    assert rcni.nearest_existing(path) == expected


def test_runtime_dir_checks(tmp_path, monkeypatch):
    good = tmp_path / "rt"
    good.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(good))
    assert rcni.runtime_dir(os.geteuid()) == str(good)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    with pytest.raises(RootlessError, match="does not exist"):
        rcni.runtime_dir(os.geteuid())
    os.chmod(good, 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(good))
    with pytest.raises(RootlessError, match="0700"):
        rcni.runtime_dir(os.geteuid())
    with pytest.raises(RootlessError, match="owned by uid"):
        rcni.runtime_dir(os.geteuid() + 1)
