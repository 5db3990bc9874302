# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures every functional area shares: ``user_tree``, what an unprivileged test user
runs a module from when it runs one directly (tests/lib/unprivileged.py says why), and
the leftover guard (tests/lib/leftovers.py): a run that leaves namespaces, links, users
or per-container CNI chains behind fails, naming them. The guard is session hooks, not a
fixture: in a parallel run (tests/conftest.py) it runs once, in the controller, around
all the workers.

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

_GUARD = pytest.StashKey[str]()
_BEFORE = pytest.StashKey[dict]()


def _is_worker(config) -> bool:
    """A pytest-xdist worker: the run is its controller's, which guards it as a whole."""
    return hasattr(config, "workerinput")


def _report(session, line: str) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line)


def pytest_sessionstart(session):
    """Leftovers of killed earlier runs removed first (when no other run is alive), then
    what is there noted. In the controller of a parallel run, before any worker starts."""
    if _is_worker(session.config):
        return
    session.config.stash[_GUARD] = leftovers.register()
    if not leftovers.others_alive():
        stale = leftovers.snapshot()
        if any(stale.values()):
            leftovers.remove(stale)
            _report(session, "removed what earlier, killed test runs left: %s" % leftovers.describe(stale))
    session.config.stash[_BEFORE] = leftovers.snapshot()


def pytest_sessionfinish(session, exitstatus):
    """What this run left is removed and the run fails naming it (after every worker's
    fixtures have cleaned up: a controller's session ends after its workers')."""
    if _is_worker(session.config) or _GUARD not in session.config.stash:
        return
    entry = session.config.stash[_GUARD]
    try:
        left = leftovers.new_since(session.config.stash[_BEFORE], leftovers.snapshot())
        if not left:
            return
        if leftovers.others_alive():
            _report(session, "warning: new since this run started (maybe another run's): %s"
                    % leftovers.describe(left))
        else:
            leftovers.remove(left)
            _report(session, "FAILED: this run left behind (now removed): %s" % leftovers.describe(left))
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    finally:
        leftovers.unregister(entry)


@pytest.fixture(scope="session")
def user_tree():
    tree = UserTree()
    try:
        yield tree
    finally:
        tree.remove()
