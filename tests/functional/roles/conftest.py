# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the role tests: the port-string area's names (prefix ``pnp``, subnets
10.237.200.0/24 and up of 10.237.0.0/16, host ports 21800-21899; see tests/lib/pnp_env.py)."""
from __future__ import annotations

import os
import secrets
import shutil
import stat
import tempfile

import pytest

import rootless_user
from host_env import area_env
from pnp_env import Env


@pytest.fixture
def bare_user():
    """A real user pnp<random> with a home of its own and nothing else: no sub-ids (useradd
    allocates none), no /run/user/UID. Everything of it is removed afterwards, and
    /dev/net/tun gets its mode back."""
    if os.geteuid() != 0:
        pytest.skip("needs root: useradd, chown")
    name = "pnp%s" % secrets.token_hex(3)
    home = tempfile.mkdtemp(prefix=name + "-", dir="/tmp")
    tun_mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
    try:
        pw = rootless_user.add_user(name, home, subids=False)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        os.chmod(home, 0o755)
        yield pw
    finally:
        rootless_user.remove_user(name)
        os.chmod("/dev/net/tun", tun_mode)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def env():
    """A private world of the pnp area (tests/lib/pnp_env.py), cleaned up after the test."""
    with area_env(Env, why="needs root: real namespaces, CNI plugins and iptables") as e:
        yield e
