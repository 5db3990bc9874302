# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fenced code blocks of the docs, as a reader copies them (the docs tests and the
fresh-host check run read them)."""
from __future__ import annotations

import os
import re
import textwrap
from typing import List, Tuple

from podnet_testlib import REPO

DOCS = os.path.join(REPO, "docs")

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[A-Za-z0-9_-]*)[ \t]*$")


def blocks(path: str, lang: str) -> List[Tuple[int, str]]:
    """(line number, text) of each ```lang block of a markdown file; a block indented under a
    list item is dedented as a reader pastes it."""
    with open(path) as f:
        lines = f.read().splitlines()
    found = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group("lang"):
            i += 1
            continue
        indent, start = m.group("indent"), i + 1
        j = start
        while j < len(lines) and lines[j].rstrip() != indent + "```":
            j += 1
        if m.group("lang") == lang:
            found.append((start, textwrap.dedent("\n".join(lines[start:j])) + "\n"))
        i = j + 1
    return found


def doc_files() -> List[str]:
    """README.md and docs/*.md (docs/modules.md is rendered from the modules' EXAMPLES)."""
    return [os.path.join(REPO, "README.md")] + sorted(
        os.path.join(DOCS, f) for f in os.listdir(DOCS) if f.endswith(".md"))
