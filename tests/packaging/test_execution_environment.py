# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/execution-environment.yml describes the controller; bindep.txt the managed hosts.

``ansible-builder create`` writes the build context only (no container is built here)."""
from __future__ import annotations

import functools
import os
import re

import pytest
import yaml
from bindep.depends import Depends

from pkg_helpers import REPO, run, tool

EE = os.path.join(REPO, "meta", "execution-environment.yml")
# what the managed hosts need: never in the controller's image
HOST_PACKAGES = ("containernetworking-plugins", "cni-plugins", "slirp4netns", "uidmap", "shadow",
                 "iptables", "nftables", "iproute", "pyroute2")


def test_create_writes_a_build_context(tmp_path):
    context = tmp_path / "context"
    run([tool("ansible-builder"), "create", "-f", EE, "-c", str(context)])
    containerfile = (context / "Containerfile").read_text()
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M).group(1).split()
    assert refs == ["ansible-core", "ansible-runner"]          # ansible-core not pinned
    assert not [p for p in HOST_PACKAGES if p in containerfile]
    # no Python or system requirements copied into the context: the controller needs none
    assert not (context / "_build" / "requirements.txt").exists()
    assert not (context / "_build" / "bindep.txt").exists()


def test_definition_pins_nothing_and_names_no_host_package():
    with open(EE) as f:
        text = f.read()
    ee = yaml.safe_load(text)
    assert ee["version"] == 3
    assert ee["dependencies"]["ansible_core"] == {"package_pip": "ansible-core"}
    # introspection reads python/system as paths relative to the collection root, create
    # relative to meta/: the controller needs neither, so neither is given
    assert "python" not in ee["dependencies"] and "system" not in ee["dependencies"]
    assert not [p for p in HOST_PACKAGES if p in str(ee)]


def test_introspection_of_the_installed_collection_adds_nothing(installed):
    """What ansible-builder adds to an EE that lists podnet.cni in its galaxy requirements."""
    out = run([tool("ansible-builder"), "introspect", installed]).stdout.decode()
    data = yaml.safe_load(out[out.index("---"):])
    assert data == {"python": [], "system": []}


# --- bindep.txt: the managed hosts' packages per platform (what cni_host installs) ---

PLATFORMS = {
    # bindep's own profiles for these systems (bindep.depends.Depends.platform_profiles)
    "debian": ["platform:debian", "platform:dpkg"],
    "ubuntu": ["platform:ubuntu", "platform:dpkg"],
    "fedora": ["platform:fedora", "platform:redhat", "platform:rpm"],
    "rhel": ["platform:rhel", "platform:redhat", "platform:rpm"],
    "opensuse": ["platform:opensuse", "platform:opensuse-tumbleweed", "platform:suse", "platform:rpm"],
    "arch": ["platform:arch", "platform:pacman"],
}
EXPECTED = {
    "debian": {"containernetworking-plugins", "iptables", "nftables", "iproute2", "slirp4netns",
               "uidmap", "python3", "python3-pyroute2"},
    "fedora": {"containernetworking-plugins", "iptables-nft", "nftables", "iproute", "slirp4netns",
               "shadow-utils", "python3", "python3-pyroute2"},
    "opensuse": {"cni-plugins", "iptables", "nftables", "iproute2", "slirp4netns", "shadow",
                 "python3", "python3-pyroute2"},
    "arch": {"cni-plugins", "iptables", "nftables", "iproute2", "slirp4netns", "shadow", "python"},
}
EXPECTED["ubuntu"] = EXPECTED["debian"]
EXPECTED["rhel"] = EXPECTED["fedora"]


@functools.lru_cache(maxsize=None)
def bindep_file() -> Depends:
    """bindep's own parser (a few seconds to build its grammar: once)."""
    with open(os.path.join(REPO, "bindep.txt")) as f:
        return Depends(f.read())


def bindep_packages(platform):
    return {rule[0] for rule in bindep_file().active_rules(PLATFORMS[platform])}


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_bindep_names_per_platform(platform):
    assert bindep_packages(platform) == EXPECTED[platform]


@pytest.mark.parametrize("platform, family", [("debian", "Debian"), ("fedora", "RedHat"),
                                              ("opensuse", "Suse")])
def test_bindep_agrees_with_cni_host(platform, family):
    """bindep.txt lists what the cni_host role installs on that OS family (iptables backend)."""
    with open(os.path.join(REPO, "roles", "cni_host", "vars", "%s.yml" % family)) as f:
        role = yaml.safe_load(f)
    installs = set(role["cni_host_family_packages"]) | set(role["cni_host_family_python_packages"])
    installs |= set(role["cni_host_family_firewall_packages"]["iptables"])
    installs |= set(role["cni_host_family_firewall_packages"]["nftables"])
    assert installs <= bindep_packages(platform)
