# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the core functional tests (prefix pnf, subnets 10.220.0.0/16, host
ports 20200-20299); the environment itself is in pnf_core_env.py."""
from __future__ import annotations

import os

import pytest

from pnf_core_env import CoreEnv, free_port, link_info, wait_for  # noqa: E402


@pytest.fixture
def core(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    env = CoreEnv(tmp_path)
    yield env
    env.cleanup()


@pytest.fixture
def port():
    return free_port()


@pytest.fixture(name="wait_for")
def wait_for_fixture():
    return wait_for


@pytest.fixture(name="link_info")
def link_info_fixture():
    return link_info
