# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The import-layer check: no file of plugins/ imports a file of a higher layer, the
imports make no cycle, and every file has a layer.

The rule is the table in docs/architecture.md (between ``<!-- layers:begin -->`` and
``<!-- layers:end -->``): one line a layer, ``NUMBER NAME FILE...``. Every import of
``ansible_collections.podnet.cni.plugins.module_utils`` counts, lazy ones inside a function
too. Usage: ``check-layers.py [--root DIR]`` (default: the repository this script is in);
exit 0 when the tree keeps the rule, 1 with one line per breach otherwise.
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from typing import Dict, List, Set, Tuple

PACKAGE = "ansible_collections.podnet.cni.plugins.module_utils"
BEGIN, END = "<!-- layers:begin -->", "<!-- layers:end -->"


def read_layers(doc: str) -> Dict[str, Tuple[int, str]]:
    """{file key: (layer number, layer name)} from the doc's table."""
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit("%s: no layer table (%s … %s)" % (doc, BEGIN, END))
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    layers: Dict[str, Tuple[int, str]] = {}
    for line in table.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+(.*)$", line)
        if not m:
            continue
        for key in m.group(3).split():
            if key in layers:
                raise SystemExit("%s: %s placed twice" % (doc, key))
            layers[key] = (int(m.group(1)), m.group(2))
    if not layers:
        raise SystemExit("%s: the layer table is empty" % doc)
    return layers


def source_files(root: str) -> Dict[str, str]:
    """{file key: path} of plugins/module_utils (recursively) and plugins/modules."""
    files: Dict[str, str] = {}
    mu = os.path.join(root, "plugins", "module_utils")
    for dirpath, _dirs, names in os.walk(mu):
        for name in names:
            if name.endswith(".py") and name != "__init__.py":
                rel = os.path.relpath(os.path.join(dirpath, name), mu)
                files[rel[:-3].replace(os.sep, "/")] = os.path.join(dirpath, name)
    mods = os.path.join(root, "plugins", "modules")
    if os.path.isdir(mods):
        for name in os.listdir(mods):
            if name.endswith(".py") and name != "__init__.py":
                files["modules/" + name[:-3]] = os.path.join(mods, name)
    return files


def imports_of(path: str, known: Set[str]) -> List[Tuple[int, str]]:
    """(line, file key) for every module_utils import in the file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    found: List[Tuple[int, str]] = []

    def add(line: int, dotted: str) -> None:
        key = dotted.replace(".", "/")
        if key in known:
            found.append((line, key))
        elif key:  # a package (``_cni``) or a name inside a file (``_cni/exec/X``)
            parts = key.split("/")
            while parts and "/".join(parts) not in known:
                parts.pop()
            if parts:
                found.append((line, "/".join(parts)))

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE or node.module.startswith(PACKAGE + "."):
                rest = node.module[len(PACKAGE) + 1:]
                for alias in node.names:
                    add(node.lineno, (rest + "." if rest else "") + alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise SystemExit("%s:%d: relative import; use the full collection path"
                             % (path, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    add(node.lineno, alias.name[len(PACKAGE) + 1:])
    return found


def layer_of(key: str, layers: Dict[str, Tuple[int, str]]):
    if key in layers:
        return layers[key]
    if key.startswith("modules/") and "modules/*" in layers:
        return layers["modules/*"]
    return None


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def check(root: str) -> List[str]:
    layers = read_layers(os.path.join(root, "docs", "architecture.md"))
    files = source_files(root)
    problems: List[str] = []
    graph: Dict[str, Set[str]] = {}
    for key in sorted(files):
        if layer_of(key, layers) is None:
            problems.append("%s: in no layer of docs/architecture.md (add it to the table)"
                            % os.path.relpath(files[key], root))
    for key in sorted(files):
        mine = layer_of(key, layers)
        for line, target in imports_of(files[key], set(files)):
            if target == key:
                continue
            graph.setdefault(key, set()).add(target)
            theirs = layer_of(target, layers)
            if mine is None or theirs is None:
                continue
            if theirs[0] > mine[0]:
                problems.append("%s:%d: %s (layer %d %s) imports %s (layer %d %s): upward"
                                % (os.path.relpath(files[key], root), line, key, mine[0],
                                   mine[1], target, theirs[0], theirs[1]))
    cycle = find_cycle(graph)
    if cycle:
        problems.append("import cycle: %s" % " -> ".join(cycle))
    return problems


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = parser.parse_args(argv)
    problems = check(args.root)
    for p in problems:
        print(p)
    if problems:
        print("layer check failed: %d problem(s); the rule is docs/architecture.md" % len(problems))
        return 1
    print("layer check: no upward import, no cycle (docs/architecture.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
