# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the fault-injection tests (prefix pnb, 10.227.0.0/16)."""
from __future__ import annotations

import pytest

from host_env import area_env
from pnb_env import PnbEnv


@pytest.fixture
def pnb(tmp_path):
    with area_env(PnbEnv, str(tmp_path)) as env:
        yield env
