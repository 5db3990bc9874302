# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the "never trust what is on disk" tests (prefix pnd, 10.231.0.0/16,
host ports 21100-21199; see tests/lib/pnd_env.py)."""
from __future__ import annotations

import pytest

from host_env import area_env
from pnd_env import PndEnv


@pytest.fixture
def pnd(tmp_path):
    with area_env(PndEnv, str(tmp_path)) as env:
        yield env
