# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' documentation as a Galaxy user reads it: every module and option says since
which version it exists, every module its requirements and (through the attributes
fragment) that it runs on Linux; what the code accepts is what the docs list (port mapping
keys and protocols, networks entry keys, macvlan/ipvlan modes), documented once."""
from __future__ import annotations

import ast
import glob
import os

import pytest
import yaml

from ansible_collections.podnet.cni.plugins.module_utils import _container_request, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import netconf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
FRAGMENTS = sorted(glob.glob(os.path.join(ROOT, "plugins", "doc_fragments", "*.py")))


def docs(path, name="DOCUMENTATION"):
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no %s" % (path, name))


def walk(options, prefix=""):
    for key, spec in (options or {}).items():
        yield prefix + key, spec
        yield from walk(spec.get("suboptions"), prefix + key + ".")


def test_there_are_modules():
    assert len(MODULES) >= 6


@pytest.mark.parametrize("path", MODULES + FRAGMENTS, ids=os.path.basename)
def test_every_option_has_version_added(path):
    doc = docs(path)
    missing = [name for name, spec in walk(doc.get("options")) if not spec.get("version_added")]
    assert missing == [], "%s: options without version_added: %s" % (path, missing)
    for name, spec in walk(doc.get("options")):
        assert str(spec["version_added"]) in ("0.1.0", "0.2.0"), (name, spec["version_added"])


@pytest.mark.parametrize("path", MODULES, ids=os.path.basename)
def test_every_module_has_version_requirements_and_linux(path):
    doc = docs(path)
    assert str(doc.get("version_added")) == "0.1.0"  # every module shipped in 0.1.0
    requirements = list(doc.get("requirements") or [])
    if "podnet.cni.common.requirements" in doc["extends_documentation_fragment"]:
        requirements += docs(os.path.join(ROOT, "plugins", "doc_fragments", "common.py"),
                             "REQUIREMENTS")["requirements"]
    assert requirements, "%s lists no requirements" % path
    assert any("Linux" in r for r in requirements)
    assert "podnet.cni.common.attributes" in doc["extends_documentation_fragment"]


def test_the_attributes_say_linux():
    attrs = docs(os.path.join(ROOT, "plugins", "doc_fragments", "common.py"), "ATTRIBUTES")
    assert attrs["attributes"]["platform"]["platforms"] == "Linux"


def test_port_mappings_documented_once_as_the_parser_takes_them():
    fragment = docs(os.path.join(ROOT, "plugins", "doc_fragments", "port_mappings.py"))
    option = fragment["options"]["port_mappings"]
    assert option["elements"] == "raw"
    assert sorted(option["suboptions"]) == sorted(_validate.PORT_MAPPING_KEYS)
    assert option["suboptions"]["protocol"]["choices"] == list(_validate.PROTOCOLS)
    for name in ("container_netns", "cni_attachment"):
        doc = docs(os.path.join(ROOT, "plugins", "modules", name + ".py"))
        assert "podnet.cni.port_mappings" in doc["extends_documentation_fragment"]
        assert "port_mappings" not in doc["options"]  # the fragment's, not a copy


def test_networks_entry_keys_are_suboptions():
    doc = docs(os.path.join(ROOT, "plugins", "modules", "container_netns.py"))
    subs = doc["options"]["networks"]["suboptions"]
    assert sorted(subs) == sorted(_container_request.NETWORK_ENTRY_KEYS)
    assert subs["name"]["required"] is True


def test_network_mode_choices_are_the_drivers_modes():
    doc = docs(os.path.join(ROOT, "plugins", "modules", "cni_network.py"))
    modes = sorted({m for ms in netconf.MODES.values() for m in ms})
    assert sorted(doc["options"]["mode"]["choices"]) == modes
    assert sorted(doc["options"]["networks"]["suboptions"]["mode"]["choices"]) == modes
