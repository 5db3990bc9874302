# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures every functional area shares: ``user_tree``, what an unprivileged test user
runs a module from when it runs one directly (tests/lib/unprivileged.py says why)."""
from __future__ import annotations


import pytest

from unprivileged import UserTree  # noqa: E402


@pytest.fixture(scope="session")
def user_tree():
    tree = UserTree()
    try:
        yield tree
    finally:
        tree.remove()
