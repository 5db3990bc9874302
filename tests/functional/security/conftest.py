# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the namespace-safety tests: ``pns``, one test's PnsEnv (prefix pns,
subnets 10.230.0.0/16, host ports 21000-21099; see pns_env.py), cleaned up afterwards."""
from __future__ import annotations

import pytest

import pns_env
from host_env import area_env


@pytest.fixture
def pns(tmp_path):
    with area_env(pns_env.PnsEnv, str(tmp_path)) as env:
        yield env
