# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures every functional area shares: ``user_tree``, what an unprivileged test user
runs a module from when it runs one directly (tests/lib/unprivileged.py says why), and
the leftover guard (tests/lib/leftovers.py): a run that leaves namespaces, links, users
or per-container CNI chains behind fails, naming them.

SIGTERM and SIGHUP (a timeout, a closed terminal, ``kill``) end the run the way Ctrl-C
does, so every fixture still cleans up; Python's default would exit at once, skipping
every finally block."""
from __future__ import annotations

import signal

import pytest

import leftovers
from unprivileged import UserTree  # noqa: E402


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _interrupt)


@pytest.fixture(scope="session", autouse=True)
def no_leftovers():
    """Leftovers of killed earlier runs removed first (when no other run is alive); at the
    end, what this run left is removed and the run fails naming it."""
    entry = leftovers.register()
    try:
        if not leftovers.others_alive():
            stale = leftovers.snapshot()
            if any(stale.values()):
                leftovers.remove(stale)
                print("\nremoved what earlier, killed test runs left: %s" % leftovers.describe(stale))
        before = leftovers.snapshot()
        yield
        left = leftovers.new_since(before, leftovers.snapshot())
        if left:
            if leftovers.others_alive():
                print("\nwarning: new since this run started (maybe another run's): %s"
                      % leftovers.describe(left))
            else:
                leftovers.remove(left)
                pytest.fail("this run left behind (now removed): %s" % leftovers.describe(left),
                            pytrace=False)
    finally:
        leftovers.unregister(entry)


@pytest.fixture(scope="session")
def user_tree():
    tree = UserTree()
    try:
        yield tree
    finally:
        tree.remove()
