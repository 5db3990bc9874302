# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container_network role's optional steps (prune, repair after a firewall reload):
off by default they cost one skipped task together, not one each (every task, skipped or
not, is a worker process on the controller: ≈ 30 ms, measured in docs/performance.md);
on, each runs: the repair checks the listed containers, the prune removes a recorded one
no longer listed. The first two tests list no container (nothing on the host changes: the
role's dirs are a temporary dir's); the last one uses real plugins (prefix pnp, subnet
10.237.210.0/24)."""
from __future__ import annotations

import os
import shutil
import tempfile

import podnet_testlib as T


def role_play(tmp, **role_vars):
    dirs = {"container_network_cni_config_dir": os.path.join(tmp, "net.d"),
            "container_network_cni_plugin_dirs": [T.PLUGIN_DIR],
            "container_network_cni_cache_dir": os.path.join(tmp, "cache"),
            "container_network_state_dir": os.path.join(tmp, "state")}
    os.makedirs(dirs["container_network_cni_config_dir"])
    return {"hosts": "localhost", "gather_facts": False,
            "roles": [{"role": "podnet.cni.container_network", "vars": dict(dirs, **role_vars)}]}


def ran(results):
    """Names of the tasks that ran and of those skipped, after the argument validation."""
    tasks = [(name.split(" : ", 1)[-1], res) for name, res in results
             if "Validating arguments against arg spec" not in name]
    return ([n for n, r in tasks if r["_status"] != "skipped"], [n for n, r in tasks if r["_status"] == "skipped"])


def test_off_the_optional_steps_are_one_skipped_task():
    tmp = tempfile.mkdtemp(prefix="pnp-steps-")
    try:
        rc, results = T.run_plays(tmp, [role_play(tmp, container_network_containers=[])])
        assert rc == 0, results
        done, skipped = ran(results)
        assert done == [], results
        assert skipped == ["Converge the containers' namespaces and networks",
                           "Prune and repair, if asked"], results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_on_both_optional_steps_run_and_nothing_listed_is_nothing_to_repair():
    """No container listed: the repair has nothing to check (it failed before: the reload
    module refuses an empty list)."""
    tmp = tempfile.mkdtemp(prefix="pnp-steps-")
    try:
        rc, results = T.run_plays(tmp, [role_play(tmp, container_network_containers=[],
                                                  container_network_prune=True,
                                                  container_network_prune_prefix="pnp-steps-",
                                                  container_network_reload_check=True)])
        assert rc == 0, results
        done, skipped = ran(results)
        assert done == ["Prune and repair, if asked", "Remove the containers that are no longer listed",
                        "List the containers podnet.cni knows on this host", "Repair what a firewall reload broke"], results
        assert skipped == ["Converge the containers' namespaces and networks",
                           "Remove the recorded containers that are no longer listed",  # none is recorded
                           "Reload the container networks whose firewall rules are gone"], results
        assert all(not r.get("failed") and not r.get("changed") for n, r in results), results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_on_the_repair_checks_the_listed_and_the_prune_removes_the_unlisted(env):
    net = env.network("s", 210)
    keep, drop = env.name("k"), env.name("d")
    env.namespaces += [keep, drop]  # the role creates them; the cleanup removes them after a failure
    role_vars = {"container_network_cni_config_dir": env.config_dir,
                 "container_network_cni_plugin_dirs": [T.PLUGIN_DIR],
                 "container_network_cni_cache_dir": env.cache_dir,
                 "container_network_state_dir": env.state_dir}

    def role(names, **more):
        containers = [{"id": n, "netns": n, "networks": [net]} for n in names]
        return {"name": "role", "ansible.builtin.include_role": {"name": "podnet.cni.container_network"},
                "vars": dict(role_vars, container_network_containers=containers, **more)}

    steps = {"container_network_prune": True, "container_network_prune_prefix": env.prefix,
             "container_network_reload_check": True}
    rc, results = T.run_plays(env.tmp, T.play([role([keep, drop]), role([keep], **steps)]))
    assert rc == 0, results
    by_name = [(name.split(" : ", 1)[-1], res) for name, res in results]
    reload_ = [r for n, r in by_name if n == "Reload the container networks whose firewall rules are gone"]
    prune = [r for n, r in by_name if n == "Remove the recorded containers that are no longer listed"]
    assert len(reload_) == 1 and reload_[0]["_status"] == "ok" and reload_[0]["changed"] is False, by_name
    assert sorted(reload_[0]["containers"]) == [keep], reload_
    assert len(prune) == 1 and prune[0]["changed"] is True, by_name
    assert sorted(prune[0]["containers"]) == [drop], prune
    assert os.path.exists("/run/netns/" + keep) and not os.path.exists("/run/netns/" + drop)
