# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the "never trust what is on disk" tests (prefix pnd, 10.231.0.0/16,
host ports 21100-21199; see tests/lib/pnd_env.py)."""
from __future__ import annotations

import os

import pytest

from pnd_env import PndEnv  # noqa: E402


@pytest.fixture
def pnd(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    env = PndEnv(str(tmp_path))
    yield env
    env.cleanup()
