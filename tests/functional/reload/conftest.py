# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the reload tests (prefix pnl, subnets 10.225.0.0/16, host ports
20700-20799): each test's isolated test host, tests/lib/reload_env.py."""
from __future__ import annotations

import pytest

from reload_env import ReloadEnv


@pytest.fixture
def env():
    """A test host with the nftables iptables backend, set up."""
    e = ReloadEnv("nft")
    try:
        yield e.setup()
    finally:
        e.cleanup()


@pytest.fixture
def make_env():
    """make(backend, cni_version, disable_check, firewall_plugin): test hosts of a test's
    choosing, each set up; all cleaned up afterwards."""
    envs = []

    def make(backend="nft", cni_version="1.0.0", disable_check=False, firewall_plugin=True):
        env = ReloadEnv(backend, cni_version, disable_check, firewall_plugin)
        envs.append(env)
        return env.setup()
    yield make
    for env in envs:
        env.cleanup()
