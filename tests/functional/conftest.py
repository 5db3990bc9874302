# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures every functional area shares: ``user_tree``, what an unprivileged test user
runs a module from when it runs one directly (tests/lib/unprivileged.py says why)."""
from __future__ import annotations

import os
import sys

import pytest

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")
if LIB not in sys.path:
    sys.path.insert(0, LIB)
from unprivileged import UserTree  # noqa: E402


@pytest.fixture(scope="session")
def user_tree():
    tree = UserTree()
    try:
        yield tree
    finally:
        tree.remove()
