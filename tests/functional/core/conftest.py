# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the core functional tests (prefix pnf, subnets 10.220.0.0/16, host
ports 20200-20299); the environment itself is in pnf_core_env.py."""
from __future__ import annotations

import pytest

from host_env import area_env
from pnf_core_env import CoreEnv, free_port, link_info
from podnet_testlib import wait_for


@pytest.fixture
def core(tmp_path):
    with area_env(CoreEnv, tmp_path) as env:
        yield env


@pytest.fixture
def port():
    return free_port()


@pytest.fixture(name="wait_for")
def wait_for_fixture():
    return wait_for


@pytest.fixture(name="link_info")
def link_info_fixture():
    return link_info
