# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the batch tests (prefix pnc, subnets 10.233.0.0/16, host ports
21300-21399); the environment is tests/lib/pnc_batch_env.py."""
from __future__ import annotations

import pytest

from host_env import area_env
from pnc_batch_env import BatchEnv


@pytest.fixture
def env(tmp_path):
    with area_env(BatchEnv, tmp_path) as e:
        yield e
