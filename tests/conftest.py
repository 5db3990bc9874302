# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the suite runs in parallel (``make test``: pytest-xdist, ``-n N --dist loadscope``).

Every functional area has a name prefix, a subnet and a host-port range of its own, so
areas can run side by side; the tests of one area share their area's names and run one
after the other, on one worker. Areas that share a host-wide setting run as one: the
unprivileged-user areas each open /dev/net/tun to everyone for their duration and put its
mode back afterwards, which must not happen while another of them still needs it. Unit
tests touch nothing on the host and are spread by file.

A parallel run's temporary directories live under a short base (/tmp/pnt…): xdist puts
each worker's under ``<base>/popen-gwN``, and under pytest's default base a slirp4netns
API socket in a test's state dir outgrew the 107 bytes of a unix socket path.

The scheduler is xdist's loadscope with our scopes (an area), given through xdist's
``pytest_xdist_make_scheduler`` hook: its ``xdist_group`` marks do not reach the scheduler
under pytest 9 (xdist 3.8 renames ``item._nodeid``, which pytest 9 no longer reads).
"""
from __future__ import annotations

import shutil
import tempfile
from typing import Optional

import pytest

# areas that must not overlap each other, by the host-wide thing they share
# (every area with a real unprivileged user sets /dev/net/tun 0666 and restores it)
SHARED_SCOPES = {
    "rootless": "dev-net-tun", "safety_rootless": "dev-net-tun", "roles": "dev-net-tun",
    "reload": "dev-net-tun", "security": "dev-net-tun",
}


def area_of(test_path: str) -> Optional[str]:
    """The scope of a test file (its path from the repository root, as in a node id): its
    area (tests/functional/<area>, or the directory under tests/), None for unit tests."""
    parts = test_path.split("/")
    if len(parts) < 3 or parts[0] != "tests" or parts[1] == "unit":
        return None
    area = parts[2] if parts[1] == "functional" and len(parts) > 3 else parts[1]
    return SHARED_SCOPES.get(area, area)


_SHORT_BASETEMP = pytest.StashKey[str]()


def pytest_configure(config):
    parallel = getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput")
    if parallel and config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="pnt", dir="/tmp")
        config.stash[_SHORT_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config):
    if _SHORT_BASETEMP in config.stash:
        shutil.rmtree(config.stash[_SHORT_BASETEMP], ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class AreaScheduling(LoadScopeScheduling):
        """loadscope, a scope being an area (unit tests: their file)."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return area_of(path) or path

    return AreaScheduling(config, log)
