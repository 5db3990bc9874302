# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The batch forms' entries, documented from the single form's options: a module that
takes a list of entries (container_netns ``containers``, cni_network ``networks``) takes
the single form's options in each entry, as its argument spec reuses the single form's
(the module's option dict, through ``module_utils/_common.py`` ``batch_option``). Each
entry option is written here as ``As I(option).`` with the single form's type, elements,
choices, default and required, so the options are documented once and the two forms
cannot drift apart.

Not a doc fragment itself: the fragments ``container_options`` and ``network_options``
call ``batch_fragment``."""
from __future__ import annotations

import json

from ansible.module_utils.common.yaml import yaml_load

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
        options.update(yaml_load(text)["options"])
    entries = _entries(options, version_added)
    for name, keys in overrides.items():
        entries.setdefault(name, {"version_added": version_added}).update(keys)
    return json.dumps({"options": {batch_option: {"suboptions": entries}}}, indent=1)
