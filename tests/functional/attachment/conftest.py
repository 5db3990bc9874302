# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the attachment tests (prefix pna, subnets 10.222.0.0/16, host ports
20400-20499; the environment is tests/lib/pna_env.py)."""
from __future__ import annotations

import os
import subprocess
from typing import List

import pytest

from pna_env import Env


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root (netns, veth, iptables)")
        for item in items:
            if str(item.fspath).startswith(here):
                item.add_marker(skip)


@pytest.fixture
def env():
    e = Env()
    try:
        yield e
    finally:
        e.cleanup()


@pytest.fixture(scope="module")
def module_env():
    """An Env shared by a module's tests (tests must leave it as they found it)."""
    e = Env()
    try:
        yield e
    finally:
        e.cleanup()


@pytest.fixture
def servers():
    procs: List[subprocess.Popen] = []
    yield procs
    for p in procs:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
