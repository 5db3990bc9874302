# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the network-mode tests (prefix pnj, subnets 10.236.0.0/16, host ports
21700-21799; ``env_w``: prefix pnw, 10.242.0.0/16, host ports 22100-22199, for the
slirp4netns inspection and batch joiner tests); the environment is in pnj_modes_env.py."""
from __future__ import annotations

import os
import sys

import podnet_testlib as tl

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from pnj_modes_env import ModesEnv  # noqa: E402

collect_ignore = ["pnj_modes_env.py"]


@pytest.fixture
def env(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    e = ModesEnv(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()


@pytest.fixture
def env_w(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces and CNI plugins")
    e = ModesEnv(tmp_path, tl.unique_prefix("pnw"), "10.242", range(22100, 22200))
    try:
        yield e
    finally:
        e.cleanup()
