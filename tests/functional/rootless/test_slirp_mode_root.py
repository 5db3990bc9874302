# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_mode slirp4netns as root (podman's setupSlirp4netns works for root too):
a port through the container's own slirp4netns, idempotent, stopped with the container.
The module runs directly (an args file, as Ansible runs it) with private state and cache
dirs."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile

import pytest

import podnet_testlib as T

PORT = 20696

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("slirp4netns"),
                                reason="needs root and slirp4netns")


def run_module(tmp: str, args: dict) -> dict:
    return T.run_module_file("container_netns", args, tag="pnr-slirp")


def answer(port: int) -> str:
    return T.tcp_get("127.0.0.1", port, timeout=3.0, tries=25, delay=0.2)


def test_slirp4netns_mode_as_root():
    tmp = tempfile.mkdtemp(prefix="pnr-slirp-")
    name = "pnr%s" % secrets.token_hex(4)
    base = {"container_id": name, "netns": name, "state_dir": os.path.join(tmp, "state"),
            "cni_cache_dir": os.path.join(tmp, "cache")}
    args = dict(base, network_mode="slirp4netns",
                port_mappings=[{"host_port": PORT, "container_port": 8080, "host_ip": "127.0.0.1"}])
    server = None
    try:
        res = run_module(tmp, args)
        assert [a["action"] for a in res["actions"]] == ["create_netns", "start_slirp4netns"], res
        assert run_module(tmp, args)["changed"] is False
        server = subprocess.Popen(["ip", "netns", "exec", name, "busybox", "nc", "-ll", "-p", "8080",
                                   "-e", "busybox", "echo", name], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        assert answer(PORT) == name
        res = run_module(tmp, dict(base, state="absent"))
        assert [a["action"] for a in res["actions"]] == ["stop_slirp4netns", "remove_netns"], res
        out = subprocess.run(["pgrep", "-af", "slirp4netns"], stdout=subprocess.PIPE, check=False)
        assert ("/run/netns/%s " % name) not in out.stdout.decode()
    finally:
        if server is not None:
            server.kill()
            server.wait()
        run_module(tmp, dict(base, state="absent"))
        subprocess.run(["ip", "netns", "delete", name], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
