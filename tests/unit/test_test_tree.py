# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test tree itself (tests/unit/README.md): pytest imports every test file by its
basename (prepend mode, no __init__.py), so two test files with one basename anywhere under
tests/ stop the run that collects both ("import file mismatch"), which a run of one folder
would not show. conftest.py files are exempt (pytest keeps them apart)."""
from __future__ import annotations

import collections
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(ROOT, "tests")
SKIP = {"output", "__pycache__"}  # ansible-test's output dir


def paths_by_basename():
    found = collections.defaultdict(list)
    for top, dirs, files in os.walk(TESTS):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".")]
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                found[name].append(os.path.relpath(os.path.join(top, name), ROOT))
    return found


def test_every_test_file_basename_is_unique_under_tests():
    found = paths_by_basename()
    assert "test_module_docs.py" in found  # the walk sees this tree
    clashes = {name: paths for name, paths in found.items() if len(paths) > 1}
    assert not clashes, "test files share a basename (rename one): %s" % clashes
