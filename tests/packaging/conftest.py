# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of tests/packaging: the artifact built once per session, and installed."""
from __future__ import annotations

import os
import shutil
import tarfile
from typing import List

import pytest

from pkg_helpers import DEVELOPER_FILES, REPO, run, source_files, tool  # noqa: E402


@pytest.fixture(scope="session")
def artifact(tmp_path_factory) -> str:
    """podnet-cni-<version>.tar.gz built by ansible-galaxy from a copy of the sources with
    every kind of developer file planted in it."""
    tmp = tmp_path_factory.mktemp("artifact")
    stage = tmp / "stage"
    for rel in source_files():
        dest = stage / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), dest, follow_symlinks=False)
    for rel in DEVELOPER_FILES:
        dest = stage / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("developer file\n")
    run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(tmp / "dist"), str(stage)])
    (path,) = (tmp / "dist").iterdir()
    return str(path)


@pytest.fixture(scope="session")
def artifact_members(artifact) -> List[str]:
    with tarfile.open(artifact) as tar:
        return [m.name for m in tar.getmembers()]


@pytest.fixture(scope="session")
def installed(artifact, tmp_path_factory) -> str:
    """The artifact installed as a user would: <dir>/ansible_collections/podnet/cni."""
    dest = tmp_path_factory.mktemp("installed")
    run([tool("ansible-galaxy"), "collection", "install", "--force", "-p", str(dest), artifact],
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest)))
    return str(dest)
