# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet test bed's clean-up and its check (tests/tools/fleet_hosts.py `down` and
`leftovers`, what molecule/fleet's destroy runs): the check sees each kind of thing a run
can leave on this machine, and `down` removes what a half-made run left.

Prefix pnxt + random hex, subnet 10.240.253.0/24 (the fleet's range is pnx, 10.240.0.0/16;
these tests make no hosts and no podman network). Root. Everything made here is removed
in finalizers, also on failure.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

import fleet_hosts as F

SUBNET = "10.240.253.0/24"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (links, mounts, iptables)")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if check and proc.returncode:
        raise AssertionError("%s: %s" % (" ".join(argv), proc.stderr.decode()))
    return proc


@pytest.fixture
def run(request):
    run_id = "pnxt" + secrets.token_hex(2)
    fleet = F.Fleet(run_id, "/var/tmp/" + run_id, SUBNET)
    undo = []
    request.addfinalizer(lambda: [u() for u in reversed(undo)])
    return fleet, undo


def test_leftovers_sees_every_kind_of_thing(run):
    fleet, undo = run
    assert fleet.leftovers() == {}

    os.makedirs(os.path.join(fleet.dir, "m"))
    undo.append(lambda: sh("rm", "-rf", "--one-file-system", fleet.dir, check=False))
    sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", os.path.join(fleet.dir, "m"))
    undo.append(lambda: sh("umount", os.path.join(fleet.dir, "m"), check=False))
    sh("ip", "link", "add", fleet.id + "0", "type", "bridge")
    undo.append(lambda: sh("ip", "link", "delete", fleet.id + "0", check=False))
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", fleet.id])
    undo.append(lambda: (proc.kill(), proc.wait()))
    sh("iptables", "-N", fleet.id)
    undo.append(lambda: (sh("iptables", "-F", fleet.id, check=False), sh("iptables", "-X", fleet.id, check=False)))
    sh("iptables", "-A", fleet.id, "-s", "10.240.253.7/32", "-j", "RETURN")
    cache = "/var/lib/cni/results/%s-test-eth0" % fleet.id
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w", encoding="utf-8") as f:
        json.dump({"kind": "cniCacheV1", "networkName": fleet.id, "containerId": "test"}, f)
    undo.append(lambda: os.unlink(cache))

    left = fleet.leftovers()
    assert left["directory"] == [fleet.dir]
    assert os.path.join(fleet.dir, "m") in left["mounts"]
    assert left["links"] == [fleet.id + "0"]
    assert any(line.startswith("%d " % proc.pid) for line in left["processes"])
    assert any("10.240.253.7" in line for line in left["iptables"])
    assert left["cni_cache"] == [cache]

    for u in reversed(undo):
        u()
    undo.clear()
    assert fleet.leftovers() == {}


def test_down_removes_what_a_half_made_run_left(run):
    """A create that failed after the run's directory, a mount below it and the bridge
    existed (no podman config yet): down removes them, leftovers finds nothing."""
    fleet, undo = run
    os.makedirs(os.path.join(fleet.dir, "rootfs", "bookworm", "proc"))
    undo.append(lambda: sh("rm", "-rf", "--one-file-system", fleet.dir, check=False))
    target = os.path.join(fleet.dir, "rootfs", "bookworm", "proc")
    sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", target)
    undo.append(lambda: sh("umount", target, check=False))
    sh("ip", "link", "add", fleet.id + "0", "type", "bridge")
    undo.append(lambda: sh("ip", "link", "delete", fleet.id + "0", check=False))
    assert fleet.leftovers()

    assert fleet.down() == []
    assert fleet.leftovers() == {}
