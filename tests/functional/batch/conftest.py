# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the batch tests (prefix pnc, subnets 10.233.0.0/16, host ports
21300-21399); the environment is in pnc_batch_env.py."""
from __future__ import annotations

import os

import pytest

from pnc_batch_env import BatchEnv  # noqa: E402

collect_ignore = ["pnc_batch_env.py"]


@pytest.fixture
def env(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    e = BatchEnv(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()
