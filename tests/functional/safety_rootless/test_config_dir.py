# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI config dir of a rootless user (issue 15, item 17): ~/.config/cni/net.d by
default, as podman's; root writing a conflist into a user's home leaves nothing of root's
there (the write runs as the owner of the directory, so a symlink planted there cannot
redirect it either)."""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile

import pnq_env as E

TAG = secrets.token_hex(2)


def _owners(base, path):
    """uid of every path component from base (excluded) down to path."""
    out = {}
    rel = os.path.relpath(path, base)
    cur = base
    for part in rel.split(os.sep):
        cur = os.path.join(cur, part)
        out[os.path.relpath(cur, base)] = os.lstat(cur).st_uid
    return out


def test_root_writes_into_a_home_as_its_user_and_rootless_reads_it_by_default(fresh_user):
    user = fresh_user
    os.chown(user.tmp, user.uid, user.gid)  # the user's home (useradd -d) is the user's
    net = "pnq%scd" % TAG
    conf_dir = os.path.join(user.tmp, ".config", "cni", "net.d")
    args = {"name": net, "cni_config_dir": conf_dir, "subnets": [{"subnet": E.subnet(70)}],
            "cni_plugin_dirs": [E.PLUGIN_DIR]}
    res = E.run_module_root("cni_network", args)
    assert res.get("changed") is True, res
    path = os.path.join(conf_dir, net + ".conflist")
    owners = _owners(user.tmp, path)
    assert set(owners.values()) == {user.uid}, owners
    assert E.run_module_root("cni_network", args)["changed"] is False
    # the user's modules find it without being told where (podman's rootless default)
    res = user.direct("container_netns", {"container_id": "pnq%sc" % TAG, "networks": [net]})
    assert res.get("changed") is True, res
    assert res["network_settings"]["IPAddress"].startswith("10.232.70.")
    assert user.direct("container_netns", {"container_id": "pnq%sc" % TAG, "state": "absent"})["changed"]
    # a rootless cni_network writes there too, and sees root's file as the same network
    res = user.direct("cni_network", {"name": net, "subnets": [{"subnet": E.subnet(70)}]})
    assert res["changed"] is False and res["config_path"] == path, res
    # root removes it, as the user again
    res = E.run_module_root("cni_network", dict(args, state="absent"))
    assert res["changed"] is True and not os.path.exists(path), res
    assert set(_owners(user.tmp, conf_dir).values()) == {user.uid}


def test_a_symlink_planted_in_the_home_cannot_redirect_roots_write(fresh_user):
    user = fresh_user
    os.chown(user.tmp, user.uid, user.gid)
    target = tempfile.mkdtemp(prefix="pnq-rootdir-")  # root's, 0700
    try:
        os.makedirs(os.path.join(user.tmp, ".config"))
        os.symlink(target, os.path.join(user.tmp, ".config", "cni"))
        os.lchown(os.path.join(user.tmp, ".config", "cni"), user.uid, user.gid)
        os.chown(os.path.join(user.tmp, ".config"), user.uid, user.gid)
        net = "pnq%ssy" % TAG
        res = E.run_module_root("cni_network", {
            "name": net, "cni_config_dir": os.path.join(user.tmp, ".config", "cni", "net.d"),
            "subnets": [{"subnet": E.subnet(71)}], "cni_plugin_dirs": [E.PLUGIN_DIR]})
        assert res.get("failed") is True, res
        assert "unexpected error" not in res["msg"] and "uid %d" % user.uid in res["msg"], res["msg"]
        assert os.listdir(target) == [], "root's directory was written through the user's symlink"
    finally:
        shutil.rmtree(target, ignore_errors=True)
