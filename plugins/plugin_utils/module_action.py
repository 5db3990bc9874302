# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action every module of this collection runs under: Ansible's ``normal`` action with
the cyclic garbage collector off for the task.

Why: the controller runs each task in a worker process forked from itself, so the worker
starts with every object of the run (plays, inventory, variables, loaded plugins). To build
a module's AnsiballZ payload it parses every module_utils file the module imports
(``compile(..., PyCF_ONLY_AST)``); the AST nodes it allocates trigger the collector, and
each full collection walks the whole inherited heap. For ``container_netns`` (≈ 38 of our
files beside ansible-core's own) that was about half of the build (bench/task_cost.py). The
worker runs this one task and exits, so its cycles are freed with it; reference counting
still frees everything else as it goes.

Turning the collector back on at the end would cost as much again: what the task left
alive (the task's variables, the module's result: ≈ 170,000 objects for a batch of 50
containers) is all in the youngest generation, and the next allocation collects it
(50–100 ms). In a task worker those objects are frozen first (``gc.freeze``: the collector
leaves them alone; the process exits after this task); anywhere else the collector is
simply put back.
"""
from __future__ import annotations

import gc
import multiprocessing
from typing import Any, Dict, Optional

from ansible.executor.process.worker import WorkerProcess
from ansible.plugins.action.normal import ActionModule as NormalAction


def runs_in_task_worker() -> bool:
    """Is this process one of Ansible's per-task workers (forked, gone after the task)?"""
    return isinstance(multiprocessing.current_process(), WorkerProcess)


class ModuleAction(NormalAction):
    """``normal``, with the collector off while the task runs (restored after)."""

    def run(self, tmp: Optional[str] = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return super().run(tmp, task_vars)
        finally:
            if was_enabled:
                if runs_in_task_worker():
                    gc.freeze()
                gc.enable()
