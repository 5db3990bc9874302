# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The batch forms' entries, documented from the single form's options: a module that
takes a list of entries (container_netns ``containers``, cni_network ``networks``,
cni_attachment ``attachments``) takes the single form's options in each entry, as its
argument spec reuses the single form's (the module's option dict, through
``module_utils/_common.py`` ``batch_option``). Each entry option is written as ``As
I(option).`` with the single form's type, elements, choices, default and required.

The options are written once, in a fragment's DOCUMENTATION; this script writes the
fragment's BATCH from it, between the ``BATCH`` markers of the fragment file, as a
literal (ansible-test's yamllint sanity test reads a doc fragment's attributes as string
literals only). ``make docs`` runs it; ``--check`` (``make docs-check``, a unit test)
fails when a BATCH is not what its DOCUMENTATION makes, so the forms cannot drift apart.

Usage: python scripts/render-batch-fragments.py [--check]"""
from __future__ import annotations

import ast
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAGMENTS = os.path.join(ROOT, "plugins", "doc_fragments")
BEGIN = "    # BATCH: written by scripts/render-batch-fragments.py from DOCUMENTATION, do not edit\n"
END = "    # end of BATCH\n"

# what an entry option takes over from the single form's option
_SAME = ("type", "elements", "choices", "default", "required")

# an entry's own state (module_utils/_common.py ENTRY_STATE_SPEC): the task's by default
ENTRY_STATE = {"description": "As I(state); default the task's I(state).", "type": "str",
               "choices": ["present", "absent"]}
# an entry's port_mappings (doc fragment port_mappings): the same mappings, strings included
ENTRY_PORT_MAPPINGS = {"description": "As I(port_mappings) (dicts with the same keys, or strings like C(8080:80))."}


def _entries(options, version_added, prefix=""):
    out = {}
    for name, spec in options.items():
        entry = {"description": "As I(%s%s)." % (prefix, name)}
        entry.update((k, spec[k]) for k in _SAME if k in spec)
        # a list of raw elements (names or dicts, strings or dicts) is passed on as it is:
        # its keys are the single form's, not suboptions of the entry
        if spec.get("suboptions") and spec.get("elements") != "raw":
            entry["suboptions"] = _entries(spec["suboptions"], version_added, prefix + name + ".")
        entry["version_added"] = version_added
        out[name] = entry
    return out


def batch_fragment(batch_option, version_added, fragments, overrides):
    """A fragment (YAML text) giving ``batch_option`` its ``suboptions``: every option of
    ``fragments`` (fragments' YAML texts), as the single form's, then ``overrides`` (an
    option name → keys that replace or add to what it takes over; a name no fragment
    documents is an entry option of its own)."""
    options = {}
    for text in fragments:
        options.update(yaml.safe_load(text)["options"])
    entries = _entries(options, version_added)
    for name, keys in overrides.items():
        entries.setdefault(name, {"version_added": version_added}).update(keys)
    return json.dumps({"options": {batch_option: {"suboptions": entries}}}, indent=1)


def literal(path, name="DOCUMENTATION"):
    """A string attribute of a fragment file's class, read without importing it."""
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return node.value.value
    raise SystemExit("%s has no %s" % (path, name))


def fragment_path(name):
    return os.path.join(FRAGMENTS, name + ".py")


# per fragment: the batch option, its version_added, the fragments its entries take
# options from, and what an entry says differently
BATCHES = {
    "container_options": ("containers", "0.2.0", ["container_options", "port_mappings"], {
        "container_id": {"description": "The container id, as I(container_id).", "required": True,
                         "aliases": ["id"]},
        "networks": {"description": "As I(networks) (names, or dicts with the same keys)."},
        "port_mappings": ENTRY_PORT_MAPPINGS,
        "state": ENTRY_STATE,
    }),
    "network_options": ("networks", "0.2.0", ["network_options"], {
        "name": {"required": True},
        "state": ENTRY_STATE,
        "force": {"description": "As I(force); default the task's I(force).", "type": "bool"},
        "cni_config_dir": {"description": "Where this network's file goes; default the task's I(cni_config_dir).",
                           "type": "path"},
    }),
    "attachment_options": ("attachments", "0.1.0", ["attachment_options", "port_mappings"], {
        "container_id": {"required": True},
        "network": {"required": True},
        "port_mappings": ENTRY_PORT_MAPPINGS,
        "verify": {"description": "As I(verify); default the task's I(verify).", "type": "bool"},
        "state": ENTRY_STATE,
    }),
}


def rendered(name):
    """The fragment file's text with its BATCH written from its DOCUMENTATION."""
    option, version_added, sources, overrides = BATCHES[name]
    text = batch_fragment(option, version_added, [literal(fragment_path(s)) for s in sources], overrides)
    block = BEGIN + '    BATCH = r"""\n' + text + '\n"""\n' + END
    current = open(fragment_path(name)).read()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(current):
        raise SystemExit("%s has no BATCH markers" % fragment_path(name))
    return pattern.sub(lambda m: block, current)


def main(argv):
    check = "--check" in argv
    stale = []
    for name in BATCHES:
        new = rendered(name)
        if open(fragment_path(name)).read() != new:
            stale.append(name)
            if not check:
                with open(fragment_path(name), "w") as f:
                    f.write(new)
    if check and stale:
        print("doc fragments whose BATCH is not what their DOCUMENTATION makes: %s "
              "(run: make docs)" % ", ".join(stale))
        return 1
    print("%s: %s" % ("written" if stale and not check else "up to date", ", ".join(BATCHES)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
