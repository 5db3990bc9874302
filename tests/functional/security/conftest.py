# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the namespace-safety tests: ``pns``, one test's PnsEnv (prefix pns,
subnets 10.230.0.0/16, host ports 21000-21099; see pns_env.py), cleaned up afterwards."""
from __future__ import annotations

import os

import pytest

import pns_env  # noqa: E402


@pytest.fixture
def pns(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    env = pns_env.PnsEnv(str(tmp_path))
    try:
        yield env
    finally:
        env.cleanup()
