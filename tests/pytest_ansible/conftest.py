# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module-level tests driven through pytest-ansible against localhost (root, real plugins).

Run with the Makefile's environment (ANSIBLE_COLLECTIONS_PATH=.build) or:
    ANSIBLE_COLLECTIONS_PATH=.build .venv/bin/python -m pytest tests/pytest_ansible
Names: pnm + random hex; subnets in 10.226.0.0/16; own CNI config, cache and state dirs.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PYTHON = os.path.join(REPO, ".venv", "bin", "python")
# interpreter discovery finds a broken pyenv shim on these machines: never discover
os.environ.setdefault("ANSIBLE_PYTHON_INTERPRETER", VENV_PYTHON if os.path.exists(VENV_PYTHON) else sys.executable)
os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "false")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Host:
    """localhost through pytest-ansible: run('podnet.cni.x', check=True, **args) -> result dict."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._plugin = request.config.pluginmanager.getplugin("ansible")
        self._request = request
        self._managers: Dict[bool, Any] = {}

    def _manager(self, check: bool) -> Any:
        if check not in self._managers:
            self._managers[check] = self._plugin.initialize(
                self._request.config, self._request, inventory="localhost,", connection="local",
                host_pattern="localhost", check=check, diff=True)
        return self._managers[check]

    def run(self, module: str, check: bool = False, **args: Any) -> Dict[str, Any]:
        dispatcher = self._manager(check).localhost
        if check:
            # pytest-ansible 26's ad-hoc dispatcher drops its `check` option (only connection,
            # user and become reach the play): set check_mode/diff on the task itself
            build = dispatcher._build_play_ds

            def build_checked(complex_args: Dict[str, Any]) -> Dict[str, Any]:
                play = build(complex_args)
                for task in play["tasks"]:
                    task.update(check_mode=True, diff=True)
                return play
            dispatcher._build_play_ds = build_checked
        result = getattr(dispatcher, module)(**args)
        return dict(result["localhost"])


@pytest.fixture
def host(request: pytest.FixtureRequest) -> Host:
    if os.geteuid() != 0:
        pytest.skip("needs root: the CNI plugins need CAP_NET_ADMIN")
    if not os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
        pytest.skip("needs ANSIBLE_COLLECTIONS_PATH pointing at .build (run through make)")
    return Host(request)


class Scratch:
    """This test's names, subnets and directories; everything removed in cleanup()."""

    def __init__(self) -> None:
        self.id = "pnm" + secrets.token_hex(2)
        octet = 2 * secrets.randbelow(126)  # 10.226.<even>/24 and the next one
        self.net_a, self.net_b = "10.226.%d" % octet, "10.226.%d" % (octet + 1)
        self.dir = tempfile.mkdtemp(prefix=self.id + "-", dir="/tmp")
        self.common = {"cni_config_dir": os.path.join(self.dir, "net.d"),
                       "cni_cache_dir": os.path.join(self.dir, "cache"),
                       "state_dir": os.path.join(self.dir, "state")}
        self.netns = []  # names in /run/netns
        self.networks = []

    def name(self, suffix: str) -> str:
        return "%s-%s" % (self.id, suffix)

    def cleanup(self, host: Host) -> None:
        for ns in self.netns:
            # the module first (DEL through the plugins: chains, reservations), then by hand
            host.run("podnet.cni.container_netns", container_id=ns, netns=ns, state="absent", **self.common)
            subprocess.run(["ip", "netns", "delete", ns], stderr=subprocess.DEVNULL, check=False)
        for net in self.networks:
            host.run("podnet.cni.cni_network", name=net, state="absent", force=True, **self.common)
            subprocess.run(["ip", "link", "delete", net.replace("-", "")[:15]], stderr=subprocess.DEVNULL,
                           check=False)
            shutil.rmtree("/var/lib/cni/networks/%s" % net, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def scratch(host: Host):
    s = Scratch()
    try:
        yield s
    finally:
        s.cleanup(host)
