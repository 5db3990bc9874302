# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/check-layers.py: the tree keeps docs/architecture.md's layers, and a tree that
does not (an upward import, a lazy one too, a cycle, a file in no layer) fails, named."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))  # the repository, above tests/unit/scripts
SCRIPT = os.path.join(ROOT, "scripts", "check-layers.py")
PKG = "ansible_collections.podnet.cni.plugins.module_utils"

DOC = """# arch
<!-- layers:begin -->
```text
0 foundation _errors
1 kernel     _netns _cni/exec
2 domain     _attach _other
3 modules    modules/*
```
<!-- layers:end -->
"""


def run(root):
    proc = subprocess.run([sys.executable, SCRIPT, "--root", str(root)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


def tree(tmp_path, files):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "architecture.md").write_text(DOC)
    for rel, text in files.items():
        path = tmp_path / "plugins" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


GOOD = {
    "module_utils/_errors.py": "",
    "module_utils/_netns.py": "from %s._errors import X\n" % PKG,
    "module_utils/_cni/exec.py": "from %s import _netns\n" % PKG,
    "module_utils/_attach.py": "from %s._cni import exec as e\nfrom %s import _other\n" % (PKG, PKG),
    "module_utils/_other.py": "",
    "modules/m.py": "from %s._attach import A\n" % PKG,
}


def test_this_tree_keeps_its_layers():
    code, out = run(ROOT)
    assert code == 0, out


def test_a_tree_that_keeps_the_rule_passes(tmp_path):
    code, out = run(tree(tmp_path, GOOD))
    assert code == 0, out


@pytest.mark.parametrize("rel,text,needle", [
    ("module_utils/_netns.py", "from %s._attach import A\n" % PKG,
     "_netns (layer 1 kernel) imports _attach (layer 2 domain): upward"),
    ("module_utils/_errors.py", "def f():\n    from %s._cni.exec import run\n" % PKG,
     "_errors (layer 0 foundation) imports _cni/exec (layer 1 kernel): upward"),
    ("module_utils/_cni/exec.py", "import %s.modules\nfrom %s import _attach\n" % (PKG, PKG),
     "imports _attach"),
    ("module_utils/_other.py", "from %s import _attach\n" % PKG, "import cycle: _attach -> _other -> _attach"),
    ("module_utils/_new.py", "", "_new.py: in no layer"),
])
def test_a_breach_fails_and_is_named(tmp_path, rel, text, needle):
    files = dict(GOOD)
    files[rel] = text
    code, out = run(tree(tmp_path, files))
    assert code == 1, out
    assert needle in out, out


def test_every_long_module_utils_file_says_why_at_its_top():
    """Issue 11: no module_utils file over ~450 lines without a reason written at its top
    (``# Over 450 lines: ...`` right after the license header)."""
    base = os.path.join(ROOT, "plugins", "module_utils")
    silent = []
    for dirpath, dummy, names in os.walk(base):
        for name in names:
            if not name.endswith(".py"):
                continue
            with open(os.path.join(dirpath, name)) as f:
                lines = f.read().splitlines()
            if len(lines) > 450 and not any(l.startswith("# Over 450 lines: ") for l in lines[:6]):
                silent.append("%s (%d lines)" % (os.path.relpath(os.path.join(dirpath, name), ROOT), len(lines)))
    assert not silent, "over 450 lines without a reason at the top: %s" % ", ".join(sorted(silent))
