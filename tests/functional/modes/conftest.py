# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the network-mode tests (prefix pnj, subnets 10.236.0.0/16, host ports
21700-21799; ``env_w``: prefix pnw, 10.242.0.0/16, host ports 22100-22199, for the
slirp4netns inspection and batch joiner tests); the environment is tests/lib/pnj_modes_env.py."""
from __future__ import annotations

import pytest

from host_env import area_env
from pnj_modes_env import ModesEnv, pnw_env


@pytest.fixture
def env(tmp_path):
    with area_env(ModesEnv, tmp_path) as e:
        yield e


@pytest.fixture
def env_w(tmp_path):
    with area_env(pnw_env, tmp_path) as e:
        yield e
