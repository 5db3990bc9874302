# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the fault-injection tests (prefix pnb, 10.227.0.0/16)."""
from __future__ import annotations

import os

import pytest

from pnb_env import PnbEnv  # noqa: E402


@pytest.fixture
def pnb(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    env = PnbEnv(str(tmp_path))
    yield env
    env.cleanup()
