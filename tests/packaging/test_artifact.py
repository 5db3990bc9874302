# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Galaxy artifact holds what users need and none of the developer's files."""
from __future__ import annotations

import fnmatch
import json
import os
import tarfile

import pytest

from pkg_helpers import DEVELOPER_FILES, REPO, galaxy, source_files

REQUIRED = ("LICENSE", "README.md", "MANIFEST.json", "FILES.json", "meta/runtime.yml",
            "meta/execution-environment.yml", "bindep.txt", "CHANGELOG.md", "CHANGELOG.rst",
            "changelogs/changelog.yaml",
            "plugins/modules/container_netns.py", "plugins/module_utils/_cni/exec.py",
            "plugins/doc_fragments", "roles/cni_host/tasks/main.yml",
            "roles/container_network/meta/argument_specs.yml", "docs/getting-started.md")


def test_name_and_version(artifact):
    meta = galaxy()
    assert os.path.basename(artifact) == "podnet-cni-%s.tar.gz" % meta["version"]


@pytest.mark.parametrize("path", REQUIRED)
def test_holds(artifact_members, path):
    assert path in artifact_members


@pytest.mark.parametrize("top", ["plugins/modules", "roles", "docs"])
def test_holds_every_tracked_file_of(artifact_members, top):
    """Nothing of the collection's own content is lost to a too wide build_ignore."""
    wanted = [p for p in source_files() if p.startswith(top + "/") and "__pycache__" not in p]
    assert wanted and not [p for p in wanted if p not in artifact_members]


def test_license_is_the_gpl3_text(artifact):
    with tarfile.open(artifact) as tar:
        text = tar.extractfile("LICENSE").read().decode()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE") and "Version 3, 29 June 2007" in text
    assert "TERMS AND CONDITIONS" in text and "END OF TERMS AND CONDITIONS" in text
    with open(os.path.join(REPO, "LICENSE")) as f:
        assert f.read() == text
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]


def test_no_placeholder_links(artifact):
    """No public home yet: repository/documentation/issues/homepage are left out, not faked."""
    with tarfile.open(artifact) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    for key in ("repository", "documentation", "issues", "homepage"):
        assert not info.get(key) or "invalid" not in info[key] and "example" not in info[key], key


@pytest.mark.parametrize("pattern", [
    ".venv*", ".build*", ".cache*", "*.pytest_cache*", "*__pycache__*", "*.pyc", "tests/output*",
    "bench*", "molecule/*/.molecule*", ".idea*", ".vscode*", ".mypy_cache*", "*.swp", ".ansible/*",
    "collections/*", "*/.vagrant*", "*.log", ".git*", ".ci*", "Makefile", "scripts*",
    "requirements-test.txt", ".ansible-lint", "*.tar.gz",
])
def test_no_developer_files(artifact_members, pattern):
    assert not [m for m in artifact_members if fnmatch.fnmatch(m, pattern)]


def test_planted_developer_files_all_left_out(artifact_members):
    assert not [p for p in DEVELOPER_FILES if p in artifact_members]
