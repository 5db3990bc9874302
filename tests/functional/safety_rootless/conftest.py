# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the rootless-safety tests (prefix pnq, subnets 10.232.0.0/16, host ports
21200-21299; the environment is tests/lib/pnq_env.py)."""
from __future__ import annotations

import os

import pytest

import pnq_env


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    why = pnq_env.needs()
    if why:
        skip = pytest.mark.skip(reason=why)
        for item in items:
            if str(item.fspath).startswith(here):
                item.add_marker(skip)


@pytest.fixture(scope="module")
def quser(user_tree):
    """One pnq user per test file (tests of a file run in order and share it)."""
    with pnq_env.rootless_user(user_tree) as user:
        yield user


@pytest.fixture
def root_env():
    env = pnq_env.RootEnv()
    try:
        yield env
    finally:
        env.cleanup()


@pytest.fixture
def fresh_user(user_tree):
    """A user of its own for one test."""
    with pnq_env.rootless_user(user_tree) as user:
        yield user
