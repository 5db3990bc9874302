# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the role tests: the port-string area's names (prefix ``pnp``, subnets
10.237.200.0/24 and up of 10.237.0.0/16, host ports 21800-21899; see ports/pnp_env.py)."""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile

import pytest


def _run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)


def _drop_lines(path, name):
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return
    with open(path, "w") as f:
        f.writelines(l for l in lines if not l.startswith(name + ":"))


@pytest.fixture
def bare_user():
    """A real user pnp<random> with a home of its own and nothing else: no sub-ids (useradd's
    are dropped), no /run/user/UID. Everything of it is removed afterwards, and
    /dev/net/tun gets its mode back."""
    if os.geteuid() != 0:
        pytest.skip("needs root: useradd, chown")
    name = "pnp%s" % secrets.token_hex(3)
    home = tempfile.mkdtemp(prefix=name + "-", dir="/tmp")
    tun_mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
    res = _run(["useradd", "-M", "-d", home, "-s", "/bin/sh", name])
    assert res.returncode == 0, res.stderr.decode()
    pw = pwd.getpwnam(name)
    try:
        os.chown(home, pw.pw_uid, pw.pw_gid)
        os.chmod(home, 0o755)
        for path in ("/etc/subuid", "/etc/subgid"):
            _drop_lines(path, name)
        yield pw
    finally:
        shutil.rmtree("/run/user/%d" % pw.pw_uid, ignore_errors=True)
        _run(["userdel", name])
        for path in ("/etc/subuid", "/etc/subgid"):
            _drop_lines(path, name)
        os.chmod("/dev/net/tun", tun_mode)
        shutil.rmtree(home, ignore_errors=True)
