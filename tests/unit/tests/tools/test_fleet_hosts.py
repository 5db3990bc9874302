# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/tools/fleet_hosts.py (the fleet test bed's hosts): what it accepts before it
touches anything. Pure logic: no root, nothing made."""
from __future__ import annotations

import os

import pytest

import fleet_hosts as F  # noqa: E402


@pytest.mark.parametrize("run_id, directory, subnet, error", [
    ("pnx1a2b", "/var/tmp/pnx1a2b", "10.240.7.0/24", None),
    ("pnx1a2b", "/var/tmp/pnx1a2b", None, None),
    ("web", "/var/tmp/web", "10.240.7.0/24", "id must match"),
    ("pnx1A2B", "/var/tmp/x", "10.240.7.0/24", "id must match"),
    ("pnx-1", "/var/tmp/x", "10.240.7.0/24", "id must match"),
    ("pnx1a2b", "var/tmp/pnx", "10.240.7.0/24", "absolute path"),
    ("pnx1a2b", "/", "10.240.7.0/24", "absolute path"),
    ("pnx1a2b", "/var/tmp/", "10.240.7.0/24", "absolute path"),
    ("pnx1a2b", "/var/tmp/pnx1a2b", "10.240.0.0/16", "IPv4 /24"),
    ("pnx1a2b", "/var/tmp/pnx1a2b", "fd00::/64", "IPv4 /24"),
    ("pnx1a2b", "/var/tmp/pnx1a2b", "10.240.7.1/24", "host bits"),
])
def test_fleet_refuses_bad_names_before_anything(run_id, directory, subnet, error):
    if error is None:
        fleet = F.Fleet(run_id, directory, subnet)
        assert fleet.container("deb12-a") == run_id + "-deb12-a"
        assert fleet.env["CONTAINERS_CONF"] == os.path.join(directory.rstrip("/"), "podman", "containers.conf")
    else:
        with pytest.raises(ValueError, match=error):
            F.Fleet(run_id, directory, subnet)


@pytest.mark.parametrize("specs, expected", [
    (["deb12-a=bookworm", "deb13=trixie"], [("deb12-a", "bookworm"), ("deb13", "trixie")]),
    (["a=bookworm", "b=bookworm"], [("a", "bookworm"), ("b", "bookworm")]),
    (["a"], ValueError),
    (["a=Bookworm"], ValueError),
    (["A=bookworm"], ValueError),
    (["a=bookworm;rm"], ValueError),
    (["a=bookworm", "a=trixie"], ValueError),
])
def test_parse_hosts(specs, expected):
    if expected is ValueError:
        with pytest.raises(ValueError):
            F.parse_hosts(specs)
    else:
        assert F.parse_hosts(specs) == expected


def test_boot_script_makes_the_login_user_and_runs_sshd_in_the_foreground():
    assert "useradd --create-home --shell /bin/sh pnxadmin" in F.BOOT_SCRIPT
    assert "NOPASSWD: ALL" in F.BOOT_SCRIPT
    assert F.BOOT_SCRIPT.rstrip().endswith("exec /usr/sbin/sshd -D -e -h /pnx-boot/ssh_host_ed25519_key")
