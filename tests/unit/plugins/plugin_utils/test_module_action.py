# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module runs under the collection's action (plugins/plugin_utils/module_action.py):
Ansible's ``normal`` action with the cyclic garbage collector off for the task, put back
as it was afterwards, also when the task raises.

Ansible's own ``normal.run`` is replaced here by a probe that records the collector's
state: running it for real needs a whole play (a task executor, a connection, a loaded
module); the integration targets, molecule and the benchmarks run every module through
ansible-playbook and so through this action."""
from __future__ import annotations

import gc
import glob
import importlib
import os

from unittest import mock

import pytest
from ansible.executor.process.worker import WorkerProcess
from ansible.plugins.action.normal import ActionModule as NormalAction

from ansible_collections.podnet.cni.plugins.plugin_utils import module_action
from ansible_collections.podnet.cni.plugins.plugin_utils.module_action import ModuleAction

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))


def test_the_modules_are_found():
    assert "container_netns" in MODULES and len(MODULES) >= 6


@pytest.mark.parametrize("module", MODULES)
def test_every_module_runs_under_the_collection_action(module):
    action = importlib.import_module("ansible_collections.podnet.cni.plugins.action." + module)
    assert issubclass(action.ActionModule, ModuleAction), (
        "plugins/action/%s.py must subclass plugin_utils.module_action.ModuleAction" % module)


@pytest.fixture
def probe(monkeypatch):
    """normal.run replaced by a probe: what the collector was while it ran."""
    seen = []

    def fake_run(self, tmp=None, task_vars=None):
        seen.append(gc.isenabled())
        if task_vars and task_vars.get("raise"):
            raise RuntimeError("the task failed")
        return {"changed": False}

    monkeypatch.setattr(NormalAction, "run", fake_run)
    was = gc.isenabled()
    yield seen
    if was:
        gc.enable()
    else:
        gc.disable()


def action():
    return ModuleAction.__new__(ModuleAction)  # run() needs no constructor state


def test_the_collector_is_off_while_the_task_runs_and_back_after(probe):
    gc.enable()
    assert action().run(task_vars={}) == {"changed": False}
    assert probe == [False]
    assert gc.isenabled()


def test_the_collector_is_back_when_the_task_raises(probe):
    gc.enable()
    with pytest.raises(RuntimeError, match="the task failed"):
        action().run(task_vars={"raise": True})
    assert probe == [False] and gc.isenabled()


def test_a_collector_that_was_off_stays_off(probe):
    gc.disable()
    action().run(task_vars={})
    assert probe == [False] and not gc.isenabled()


@pytest.fixture
def unfrozen():
    """Whatever a test froze goes back to the collector's oldest generation after it."""
    yield
    gc.unfreeze()


def test_in_a_task_worker_what_lives_at_the_end_is_frozen_not_collected(probe, unfrozen, monkeypatch):
    """A worker runs one task and exits: re-enabling the collector over the ≈170k objects
    a 50-container batch leaves in the youngest generation would collect them at once
    (50–100 ms) for nothing; frozen, the collector only sees what comes after."""
    monkeypatch.setattr(module_action, "runs_in_task_worker", lambda: True)
    gc.enable()
    alive = [[] for dummy in range(1000)]  # objects the task leaves behind
    action().run(task_vars={})
    assert probe == [False] and gc.isenabled()
    assert gc.get_freeze_count() >= len(alive)


def test_outside_a_task_worker_nothing_is_frozen(probe, unfrozen, monkeypatch):
    monkeypatch.setattr(module_action, "runs_in_task_worker", lambda: False)
    gc.enable()
    action().run(task_vars={})
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_a_worker_is_told_apart_from_this_process():
    """pytest's process is no task worker; a forked Ansible WorkerProcess is (checked in
    the child: multiprocessing's current_process() there is the WorkerProcess)."""
    assert not module_action.runs_in_task_worker()
    fake = WorkerProcess.__new__(WorkerProcess)
    with mock.patch("multiprocessing.current_process", return_value=fake):
        assert module_action.runs_in_task_worker()
