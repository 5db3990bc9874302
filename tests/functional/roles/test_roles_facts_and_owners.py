# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles in plays that gather no facts, and what cni_host writes for a rootless user:
every directory it makes in the user's home, and the runtime directory, belong to the user."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

import podnet_testlib as T


def playbook(tmp, plays):
    """Plays on localhost in one ansible-playbook run: [(task name, result)] of every task."""
    return T.run_plays(tmp, plays)


def test_cni_host_makes_the_users_dirs_the_users_and_gathers_its_facts(bare_user):
    user = bare_user
    tmp = tempfile.mkdtemp(prefix="pnp-role-")
    net = "%sn" % user.pw_name
    conf_dir = os.path.join(user.pw_dir, ".config", "cni", "net.d")  # podman's rootless default
    try:
        subuid, subgid = os.path.join(tmp, "subuid"), os.path.join(tmp, "subgid")
        role_vars = {
            "cni_host_install_packages": False, "cni_host_ip_forward": False,
            "cni_host_subuid_file": subuid, "cni_host_subgid_file": subgid,
            "cni_host_plugin_dirs": [T.PLUGIN_DIR],
            "cni_host_rootless_users": [{"name": user.pw_name}],
            "cni_host_cni_cache_dir": os.path.join(tmp, "cache"),
            "cni_host_networks": [{"name": net, "cni_config_dir": conf_dir,
                                   "subnets": [{"subnet": "10.237.200.0/24"}]}]}
        play = {"hosts": "localhost", "gather_facts": False,
                "roles": [{"role": "podnet.cni.cni_host", "vars": role_vars}]}
        rc, first = playbook(tmp, [play])
        assert rc == 0, first
        gathered = [r for n, r in first
                    if n.endswith("Gather the facts the role needs (system, OS family, package manager)")]
        assert gathered and gathered[0].get("skipped") is not True, first
        assert all(not r.get("failed") for n, r in first), first

        # every directory made in the home, and the conflist, are the user's; so is /run/user/UID
        path = os.path.join(conf_dir, net + ".conflist")
        assert os.path.isfile(path)
        cur = user.pw_dir
        for part in os.path.relpath(path, user.pw_dir).split(os.sep):
            cur = os.path.join(cur, part)
            st = os.lstat(cur)
            assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid), (cur, st.st_uid, st.st_gid)
        run_dir = os.stat("/run/user/%d" % user.pw_uid)
        assert (run_dir.st_uid, oct(run_dir.st_mode & 0o777)) == (user.pw_uid, "0o700")
        for f in (subuid, subgid):
            assert open(f).read().startswith(user.pw_name + ":"), f

        # the same play again changes nothing
        rc, again = playbook(tmp, [play])
        assert rc == 0 and [n for n, r in again if r.get("changed")] == [], again
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_firewall_reload_hook_gathers_the_service_manager(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if os.path.isdir("/run/systemd/system"):  # the role would start the unit for real
        pytest.skip("systemd runs here; this test wants a host without it")
    root = str(tmp_path)
    role_vars = {"firewall_reload_hook_unit_dir": root + "/unit",
                 "firewall_reload_hook_libexec_dir": root + "/libexec",
                 "firewall_reload_hook_lib_dir": root + "/lib",
                 "firewall_reload_hook_python": T.VENV_PYTHON}
    play = {"hosts": "localhost", "gather_facts": False,
            "roles": [{"role": "podnet.cni.firewall_reload_hook", "vars": role_vars}],
            "tasks": [{"name": "The fact the unit's enabling depends on",
                       "ansible.builtin.debug": {"var": "ansible_facts.service_mgr"}}]}
    work = tempfile.mkdtemp(prefix="pnp-role-")
    try:
        rc, results = playbook(work, [play])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert rc == 0, results
    by_name = {n.split(" : ")[-1]: r for n, r in results}  # role tasks: "<role> : <name>"
    assert by_name["Gather the service manager fact"].get("skipped") is not True
    fact = by_name["The fact the unit's enabling depends on"]["ansible_facts.service_mgr"]
    assert fact and "VARIABLE IS NOT DEFINED" not in fact
