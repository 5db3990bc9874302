# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the module_utils unit tests that plan containers (test_container,
test_container_batch)."""
from __future__ import annotations

import pytest


@pytest.fixture(name="ctx")
def ctx_fixture(tmp_path, conf_dir, plugin_dir, bridge_conflist):
    # imported here, not at the top: pytest loads this conftest before its plugins are
    # configured when a file of this folder is named on the command line, and importing
    # the collection then bypasses Ansible's collection loader (pytest-ansible installs
    # it), which breaks every later import of the collection in that run
    from plan_context import PlanContext
    ipam_dir = str(tmp_path / "ipam")
    for i, name in enumerate(("pnf-a", "pnf-b", "pnf-c")):
        conf_dir("%s.conflist" % name, bridge_conflist(name, subnet="10.220.%d.0/24" % (i + 1),
                                                       bridge="pnfbr%d" % i, dataDir=ipam_dir))
    plain = bridge_conflist("pnf-plain", subnet="10.220.9.0/24", extra_plugins=(), dataDir=ipam_dir)
    conf_dir("pnf-plain.conflist", plain)
    c = PlanContext(config_dir=conf_dir.dir, plugin_dirs=[plugin_dir],
                    cache_dir=str(tmp_path / "cache"), state_dir=str(tmp_path / "state"),
                    netns_dir=str(tmp_path / "netns"))
    c.ipam_dir = ipam_dir
    return c
