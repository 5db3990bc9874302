# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every YAML block of the README and docs/ parses, and every playbook in them passes
``ansible-playbook --syntax-check`` against this collection (its roles and modules resolve).

How-to blocks are complete plays with ``become: true`` (the modules need root, or become an
unprivileged user): a reader can paste them as they are. The modules' EXAMPLES
(docs/modules.md) are task lists and are checked inside a play. Variable snippets (a role's
vars) only need to parse. Modules of other collections the docs use (ansible.posix.firewalld)
are not installed here: they get an empty stand-in, so only their name resolves."""
from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from docs_snippets import REPO, blocks, doc_files

import podnet_testlib as tl

PLAY_KEYS = ("hosts", "import_playbook")
OWN = ("podnet.cni.", "ansible.builtin.")


def all_blocks():
    for path in doc_files():
        for line, text in blocks(path, "yaml"):
            yield os.path.relpath(path, REPO), line, text


def kind(data) -> str:
    if isinstance(data, dict):
        return "vars"
    assert isinstance(data, list) and data and all(isinstance(x, dict) for x in data)
    return "plays" if all(any(k in x for k in PLAY_KEYS) for x in data) else "tasks"


def test_there_are_blocks():
    files = {f for f, _l, _t in all_blocks()}
    assert {"README.md", "docs/getting-started.md", "docs/howto-bridge-network.md",
            "docs/howto-firewall-reload.md", "docs/howto-rootless-ports.md"} <= files


BLOCKS = [("%s:%d" % (f, line), t) for f, line, t in all_blocks()]


@pytest.mark.parametrize("where, text", BLOCKS, ids=[w for w, _t in BLOCKS])
def test_block_parses_and_howtos_are_complete_plays(where, text):
    data = yaml.safe_load(text)
    if where.startswith("docs/modules.md"):
        assert kind(data) == "tasks", where
        return
    assert kind(data) in ("plays", "vars"), "%s: a task list; write the play around it" % where
    if kind(data) == "plays":
        for play in data:
            if "hosts" in play:
                assert play.get("become") is True, "%s: play %r has no become: true" % (
                    where, play.get("name", play["hosts"]))


def module_names(tasks):
    for task in tasks or []:
        for key, value in task.items():
            if key in ("block", "rescue", "always"):
                yield from module_names(value)
            elif key.count(".") == 2 and not key.startswith(OWN):
                yield key


def stub_collections(root, names):
    """An empty module per name not installed (its docs example is what is checked)."""
    for name in set(names):
        ns, coll, module = name.split(".")
        if os.path.isdir(os.path.join(tl.BUILD, "ansible_collections", ns, coll)):
            continue
        directory = root / "ansible_collections" / ns / coll / "plugins" / "modules"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ("%s.py" % module)).write_text("# stand-in for the syntax check\n")


def test_playbooks_pass_syntax_check(tmp_path):
    books, foreign = [], []
    for i, (path, line, text) in enumerate(all_blocks()):
        data = yaml.safe_load(text)
        if kind(data) == "vars":
            continue
        if kind(data) == "tasks":
            data = [{"name": "%s:%d" % (path, line), "hosts": "localhost", "gather_facts": False,
                     "tasks": data}]
        for play in data:
            foreign += module_names(play.get("tasks")) if isinstance(play, dict) else []
        book = tmp_path / ("%02d-%s-%d.yml" % (i, os.path.basename(path)[:-3], line))
        book.write_text(yaml.safe_dump(data, sort_keys=False))
        books.append(str(book))
    stubs = tmp_path / "stubs"
    stub_collections(stubs, foreign)
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[container_hosts]\nlocalhost ansible_connection=local\n")
    env = tl.ansible_env({"ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (tl.BUILD, stubs),
                          "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    playbook = os.path.join(os.path.dirname(tl.ANSIBLE), "ansible-playbook")
    for book in books:   # one call each: the failing file is named by the test
        proc = subprocess.run([playbook, "--syntax-check", "-i", str(inventory), book],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path),
                              check=False)
        assert proc.returncode == 0, "%s:\n%s" % (os.path.basename(book), proc.stdout.decode()[-3000:])


def test_bridge_howto_defines_each_network_before_using_it():
    """howto-bridge-network run top to bottom: every network a container joins was defined
    by a cni_network task above it."""
    defined, used = [], []
    for _line, text in blocks(os.path.join(REPO, "docs", "howto-bridge-network.md"), "yaml"):
        data = yaml.safe_load(text)
        tasks = data if kind(data) == "tasks" else [t for play in data for t in play.get("tasks", [])]
        for task in tasks:
            if "podnet.cni.cni_network" in task:
                defined.append(task["podnet.cni.cni_network"]["name"])
            for module, key in (("podnet.cni.cni_attachment", "network"),
                                ("podnet.cni.container_netns", "networks")):
                if module in task:
                    names = task[module][key]
                    for name in names if isinstance(names, list) else [names]:
                        name = name["name"] if isinstance(name, dict) else name
                        assert name in defined, "network %s is used before it is defined" % name
                        used.append(name)
    assert used and set(defined) >= set(used)


def test_rootless_howto_says_what_becoming_the_user_needs():
    with open(os.path.join(REPO, "docs", "howto-rootless-ports.md")) as f:
        text = f.read()
    assert "pipelining" in text and "`acl`" in text and "setfacl" in text
