# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit-test fixtures: pure logic, no root, no host changes."""
from __future__ import annotations

import json

import pytest


def bridge_conflist(name="net1", subnet="10.220.1.0/24", version="1.0.0", bridge="pnfbr1",
                    extra_plugins=("portmap", "firewall", "tuning"), **ipam_extra):
    """A podman-like bridge conflist as a dict."""
    ipam = {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": subnet, "gateway": subnet.rsplit(".", 1)[0] + ".1"}]]}
    ipam.update(ipam_extra)
    plugins = [{"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True,
                "hairpinMode": True, "ipam": ipam}]
    for ptype in extra_plugins:
        plugin = {"type": ptype}
        if ptype == "portmap":
            plugin["capabilities"] = {"portMappings": True}
        plugins.append(plugin)
    return {"cniVersion": version, "name": name, "plugins": plugins}


@pytest.fixture
def conf_dir(tmp_path):
    """A CNI config dir; ``write(filename, obj_or_text)`` adds a file."""
    directory = tmp_path / "net.d"
    directory.mkdir()

    def write(filename, content):
        data = content if isinstance(content, (str, bytes)) else json.dumps(content)
        path = directory / filename
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    write.dir = str(directory)
    return write


@pytest.fixture
def plugin_dir(tmp_path):
    """A plugin dir with executable stubs for the usual plugin types."""
    directory = tmp_path / "plugins"
    directory.mkdir()
    for ptype in ("bridge", "host-local", "portmap", "firewall", "tuning", "macvlan", "dnsname"):
        path = directory / ptype
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return str(directory)


@pytest.fixture(name="bridge_conflist")
def bridge_conflist_fixture():
    """The bridge_conflist() builder as a fixture (no conftest imports across test dirs)."""
    return bridge_conflist


@pytest.fixture(name="scripts")
def scripts_fixture(tmp_path):
    """Script plugins: ``scripts(name, body)`` writes an executable sh script in
    ``scripts.dir``."""
    def make(name, body):
        path = tmp_path / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        return str(path)
    make.dir = str(tmp_path)
    return make


ALL_PLUGINS = ("bridge", "host-local", "dhcp", "portmap", "firewall", "tuning", "macvlan", "ipvlan",
               "dnsname")


@pytest.fixture
def plugins(tmp_path):
    """A plugin dir with executable stubs; ``plugins(without=...)`` leaves some out."""
    def make(without=()):
        directory = tmp_path / ("plugins-" + "-".join(without))
        directory.mkdir(exist_ok=True)
        for ptype in ALL_PLUGINS:
            if ptype in without:
                continue
            path = directory / ptype
            path.write_text("#!/bin/sh\nexit 0\n")
            path.chmod(0o755)
        return [str(directory)]
    return make
