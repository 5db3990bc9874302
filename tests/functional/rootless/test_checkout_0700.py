# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rootless runners work wherever the checkout lives (issue 13).

A newcomer clones into /root/<dir> (0700 on Debian) or a ``mktemp -d`` directory (0700):
the unprivileged test user cannot traverse it, so nothing the user runs may come from the
checkout. The first tests run one module as the user through Ansible and one directly;
the last one re-runs them from this very checkout bind-mounted inside a 0700 directory (in
a private mount namespace: nobody else sees the mount, it goes with the namespace).
Prefix pnr (the rootless area's), no subnets, no host ports."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NESTED = "PODNET_TEST_IN_0700_CHECKOUT"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create the test user")

# mount the checkout at argv[2], then become argv[3:] (in the private mount namespace
# unshare made: the mount disappears with it)
_MOUNT_AND_EXEC = """
import os, subprocess, sys
subprocess.run(["mount", "--bind", sys.argv[1], sys.argv[2]], check=True)
os.chdir(sys.argv[2])
os.execv(sys.argv[3], sys.argv[3:])
"""


def test_module_through_ansible(ruser):
    res = ruser.ansible("rootless_cni_ns", {"state": "absent"})
    assert not res.get("failed") and res["changed"] is False, res


def test_module_run_directly(ruser):
    res = ruser.direct("container_netns_info", {})
    assert not res.get("failed") and res["containers"] == {}, res
    # the user's python has pyroute2: statistics come from netlink, as on a managed host
    assert not [w for w in res.get("warnings", []) if "pyroute2" in w], res


def test_prereq_check_names_what_the_user_cannot_run():
    script = os.path.join(REPO, "scripts", "check-prereqs.sh")
    ok = subprocess.run([script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert ok.returncode == 0, ok.stderr.decode()
    outer = tempfile.mkdtemp(prefix="pnr-0700-")   # what a venv under /root looks like to others
    try:
        python = os.path.join(outer, "python3")
        os.symlink("/usr/bin/python3", python)
        bad = subprocess.run([script, python], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        err = bad.stderr.decode()
        assert bad.returncode == 1 and "cannot run %s" % python in err and "Permission denied" in err, err
    finally:
        shutil.rmtree(outer)


def test_from_a_checkout_other_users_cannot_traverse():
    if os.environ.get(NESTED):
        pytest.skip("this is the run inside the 0700 directory")
    outer = tempfile.mkdtemp(prefix="pnr-0700-")
    try:
        assert stat.S_IMODE(os.stat(outer).st_mode) == 0o700
        there = os.path.join(outer, "podnet-cni")
        os.mkdir(there)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANSIBLE_", "PYTEST_", "PYTHON"))}
        env.update({NESTED: "1", "PATH": "%s/.venv/bin:%s" % (there, os.environ.get("PATH", "/usr/bin:/bin")),
                    "PYTHONPATH": os.path.join(there, ".build"),
                    "ANSIBLE_COLLECTIONS_PATH": os.path.join(there, ".build"),
                    "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"})
        argv = ["unshare", "--mount", "--propagation", "private", "--",
                "/usr/bin/python3", "-c", _MOUNT_AND_EXEC, REPO, there,
                os.path.join(there, ".venv", "bin", "python"), "-m", "pytest", "-p", "no:cacheprovider",
                "-q", "-rs", "-k", "not other_users_cannot_traverse",
                os.path.join(there, os.path.relpath(os.path.abspath(__file__), REPO))]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              timeout=600, check=False)
        out = proc.stdout.decode(errors="replace")
        assert proc.returncode == 0, out[-6000:]
        summary = out.strip().splitlines()[-1]
        assert re.search(r"\b3 passed\b", summary) and not re.search("failed|error|skipped", summary), \
            out[-3000:]
    finally:
        # the mount went with its namespace: what is left are two empty directories
        for path in (os.path.join(outer, "podnet-cni"), outer):
            if os.path.isdir(path):
                os.rmdir(path)
