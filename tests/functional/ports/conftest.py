# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the port-string tests (prefix pnp, subnets 10.237.0.0/16, host ports
21800-21899); the environment is tests/lib/pnp_env.py."""
from __future__ import annotations

import pytest

from host_env import area_env
from pnp_env import Env


@pytest.fixture
def env():
    with area_env(Env, why="needs root: real namespaces, CNI plugins and iptables") as e:
        yield e
