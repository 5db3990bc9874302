# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release notes: changelogs/changelog.yaml, the CHANGELOG.md/.rst generated from it, the
fragments still pending, and galaxy.yml's version.

A release is ``antsibull-changelog release`` with galaxy.yml's version set to it (it moves the
fragments into changelog.yaml and writes both changelogs); right after, galaxy.yml goes to
the next version, which the fragments of later work accumulate for."""
from __future__ import annotations

import filecmp
import os
import shutil

import pytest
import yaml
from packaging.version import Version

from pkg_helpers import REPO, VENV_BIN, galaxy, run, source_files, tool

OUTPUTS = ("CHANGELOG.md", "CHANGELOG.rst")


def changelog_yaml():
    with open(os.path.join(REPO, "changelogs", "changelog.yaml")) as f:
        return yaml.safe_load(f)


def pending_fragments():
    directory = os.path.join(REPO, "changelogs", "fragments")
    return sorted(f for f in os.listdir(directory) if f.endswith((".yml", ".yaml")))


def test_fragments_lint():
    run([tool("antsibull-changelog"), "lint"], cwd=REPO)


def test_changelog_yaml_lint():
    run([tool("antsibull-changelog"), "lint-changelog-yaml", "changelogs/changelog.yaml"], cwd=REPO)


def test_config_writes_md_and_rst():
    with open(os.path.join(REPO, "changelogs", "config.yaml")) as f:
        config = yaml.safe_load(f)
    assert sorted((o["file"], o["format"]) for o in config["output"]) == [
        ("CHANGELOG.md", "md"), ("CHANGELOG.rst", "rst")]


def test_released_versions():
    releases = changelog_yaml()["releases"]
    assert "0.1.0" in releases
    first = releases["0.1.0"]
    assert first["changes"]["release_summary"].startswith("First release of podnet.cni")
    assert sorted(m["name"] for m in first["modules"]) == sorted(
        f[:-3] for f in os.listdir(os.path.join(REPO, "plugins", "modules")) if f.endswith(".py"))


def test_galaxy_version_agrees_with_the_changelog():
    """galaxy.yml names the latest release, or the next one; fragments pending go into the
    next one, never into a version already released."""
    version = Version(galaxy()["version"])
    released = sorted(Version(v) for v in changelog_yaml()["releases"])
    assert released and version >= released[-1]
    if pending_fragments():
        assert version > released[-1], (
            "fragments %s are pending but galaxy.yml's version %s is released already: set it "
            "to the next version" % (", ".join(pending_fragments()), version))


@pytest.mark.parametrize("name", OUTPUTS)
def test_generated_changelog_is_current(tmp_path, name):
    """CHANGELOG.md/.rst are what `antsibull-changelog generate` writes from changelog.yaml
    (in a copy: generating in the checkout would hide a stale file)."""
    copy = tmp_path / "collection"
    for rel in source_files():
        if rel in OUTPUTS:
            continue
        dest = copy / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), dest, follow_symlinks=False)
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    run([tool("antsibull-changelog"), "generate"], cwd=str(copy), env=env)
    assert filecmp.cmp(str(copy / name), os.path.join(REPO, name), shallow=False), \
        "%s is stale: run antsibull-changelog generate" % name


def test_rst_changelog_is_valid_rst():
    run([tool("rstcheck"), os.path.join(REPO, "CHANGELOG.rst")])


def test_md_changelog_lists_every_release():
    with open(os.path.join(REPO, "CHANGELOG.md")) as f:
        text = f.read()
    for version in changelog_yaml()["releases"]:
        assert '<a id="v%s"></a>' % version.replace(".", "-") in text
