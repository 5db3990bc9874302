# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the rootless tests (prefix pnr, subnets 10.224.0.0/16): ``ruser``, a real
unprivileged user per test file (tests/lib/rootless_user.py)."""
from __future__ import annotations

import pytest

import rootless_user


@pytest.fixture(scope="module")
def ruser(user_tree):
    why = rootless_user.needs()
    if why:
        pytest.skip(why)
    with rootless_user.rootless_user(rootless_user.PREFIX, user_tree) as user:
        yield user
