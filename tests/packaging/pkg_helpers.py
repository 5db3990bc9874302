# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of tests/packaging: the published collection (artifact, execution environment,
changelog).

No root, no host changes: everything is built and read in pytest's temporary dirs with the
checkout's own tools (.venv: ansible-galaxy, ansible-builder, antsibull-changelog)."""
from __future__ import annotations

import os
import subprocess
from typing import Dict, List

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")

# what a developer's checkout holds besides the sources, planted into the copy the artifact is
# built from (a checkout whose .gitignore misses one, or a source tarball, must not ship them)
DEVELOPER_FILES = (
    ".venv/bin/python", ".build/dist/old.tar.gz", ".cache/firewalld/x", ".pytest_cache/v/x",
    "tests/unit/__pycache__/x.cpython-311.pyc", "plugins/modules/__pycache__/x.pyc",
    "tests/output/junit/x.xml", "bench/results/summary.md", "molecule/default/.molecule/state.yml",
    ".idea/workspace.xml", ".vscode/settings.json", ".mypy_cache/x", "roles/cni_host/tasks/main.yml.swp",
    "podnet-cni-0.0.1.tar.gz", ".ansible/collections/x", "collections/ansible_collections/x",
    "molecule/vagrant/.vagrant/x", "t.log",
)


def tool(name: str) -> str:
    return os.path.join(VENV_BIN, name)


def run(argv: List[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, **kw)
    assert proc.returncode == 0, "%s failed (rc=%d):\n%s\n%s" % (
        " ".join(argv), proc.returncode, proc.stdout.decode()[-3000:], proc.stderr.decode()[-3000:])
    return proc


def source_files() -> List[str]:
    """The files `make build` stages: what git knows (tracked and new, not ignored), or the
    whole tree outside a git checkout."""
    proc = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    if proc.returncode == 0:
        return [p for p in proc.stdout.decode().split("\0") if p and os.path.lexists(os.path.join(REPO, p))]
    found = []
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv", ".build")]
        found += [os.path.relpath(os.path.join(top, f), REPO) for f in files]
    return found


def galaxy() -> Dict:
    with open(os.path.join(REPO, "galaxy.yml")) as f:
        return yaml.safe_load(f)
