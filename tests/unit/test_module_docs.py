# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' documentation as a Galaxy user reads it: every module and option says since
which version it exists, every module its requirements and (through the attributes
fragment) that it runs on Linux; what the code accepts is what the docs list (port mapping
keys and protocols, networks entry keys, macvlan/ipvlan modes), documented once; a batch
form's entries take the single form's options, documented from the same fragment."""
from __future__ import annotations

import ast
import glob
import importlib
import os

import pytest
import yaml
from ansible.utils.plugin_docs import merge_fragment

from ansible_collections.podnet.cni.plugins.module_utils import _container_request, _validate
from ansible_collections.podnet.cni.plugins.module_utils._cni import netconf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
FRAGMENTS = sorted(p for p in glob.glob(os.path.join(ROOT, "plugins", "doc_fragments", "*.py"))
                   if not os.path.basename(p).startswith("_"))


def docs(path, name="DOCUMENTATION"):
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no %s" % (path, name))


def fragment(slug):
    """podnet.cni.NAME or podnet.cni.NAME.VAR: the fragment's YAML, loaded as ansible-doc
    loads it (by importing the fragment: the batch fragments are built, not literals)."""
    parts = slug.split(".")[2:]
    mod = importlib.import_module("ansible_collections.podnet.cni.plugins.doc_fragments." + parts[0])
    return yaml.safe_load(getattr(mod.ModuleDocFragment, parts[1].upper() if len(parts) > 1 else "DOCUMENTATION"))


def merged(path):
    """A module's DOCUMENTATION with its fragments merged in, by ansible's own merge (what
    ansible-doc and validate-modules read)."""
    doc = docs(path)
    for slug in doc.pop("extends_documentation_fragment", []):
        frag = fragment(slug)
        for key in ("options", "attributes"):
            if key in frag:
                merge_fragment(doc.setdefault(key, {}), frag.pop(key))
        merge_fragment(doc, frag)
    return doc


def walk(options, prefix=""):
    for key, spec in (options or {}).items():
        yield prefix + key, spec
        yield from walk(spec.get("suboptions"), prefix + key + ".")


def test_there_are_modules():
    assert len(MODULES) >= 6


@pytest.mark.parametrize("path", MODULES + FRAGMENTS, ids=os.path.basename)
def test_every_option_has_version_added(path):
    doc = merged(path) if path in MODULES else docs(path)
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
    assert merged(path)["attributes"]["platform"]["platforms"] == "Linux"


def test_the_attributes_say_linux():
    attrs = docs(os.path.join(ROOT, "plugins", "doc_fragments", "common.py"))
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
    doc = merged(os.path.join(ROOT, "plugins", "modules", "container_netns.py"))
    subs = doc["options"]["networks"]["suboptions"]
    assert sorted(subs) == sorted(_container_request.NETWORK_ENTRY_KEYS)
    assert subs["name"]["required"] is True


def test_network_mode_choices_are_the_drivers_modes():
    doc = merged(os.path.join(ROOT, "plugins", "modules", "cni_network.py"))
    modes = sorted({m for ms in netconf.MODES.values() for m in ms})
    assert sorted(doc["options"]["mode"]["choices"]) == modes
    assert sorted(doc["options"]["networks"]["suboptions"]["mode"]["choices"]) == modes


SAME = ("type", "elements", "choices", "default", "required")


@pytest.mark.parametrize("module,batch,fragment_name,own,since", [
    ("container_netns", "containers", "container_options", {"state"}, "0.2.0"),
    ("cni_network", "networks", "network_options", {"state", "force", "cni_config_dir"}, "0.2.0"),
    ("cni_attachment", "attachments", "attachment_options", {"state", "verify"}, "0.1.0"),
])
def test_batch_entries_take_the_single_forms_options(module, batch, fragment_name, own, since):
    """Each entry option of the batch form is a single-form option of the same type, choices
    and default (both documented by one fragment), or one of the entry's own."""
    doc = merged(os.path.join(ROOT, "plugins", "modules", module + ".py"))
    single = docs(os.path.join(ROOT, "plugins", "doc_fragments", fragment_name + ".py"))["options"]
    if "podnet.cni.port_mappings" in docs(os.path.join(ROOT, "plugins", "modules", module + ".py"))[
            "extends_documentation_fragment"]:
        single.update(fragment("podnet.cni.port_mappings")["options"])
    entries = doc["options"][batch]["suboptions"]
    assert set(entries) == set(single) | own
    for name, opt in single.items():
        entry = entries[name]
        for key in SAME:
            if key != "required":  # an entry needs its id: required there only
                assert entry.get(key) == opt.get(key), (batch, name, key)
        assert "As I(%s)" % name in entry["description"] or name in entry["description"], (batch, name)
        if opt.get("suboptions") and opt.get("elements") != "raw":
            assert set(entry["suboptions"]) == set(opt["suboptions"]), (batch, name)
        assert str(entry["version_added"]) == since  # when the batch form came


def test_batch_fragments_are_what_their_single_forms_make():
    """A batch form's entries are documented from the single form's options: the BATCH
    literal of each fragment is what scripts/render-batch-fragments.py writes from its
    DOCUMENTATION (make docs rewrites it)."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "render-batch-fragments.py"), "--check"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
