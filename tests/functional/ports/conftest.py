# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the port-string tests (prefix pnp, subnets 10.237.0.0/16, host ports
21800-21899); the environment itself is in pnp_env.py."""
from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from pnp_env import Env  # noqa: E402

collect_ignore = ["pnp_env.py"]


@pytest.fixture
def env():
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces, CNI plugins and iptables")
    e = Env()
    try:
        yield e
    finally:
        e.cleanup()
