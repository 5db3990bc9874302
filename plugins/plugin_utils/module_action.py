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
"""
from __future__ import annotations

import gc
from typing import Any, Dict, Optional

from ansible.plugins.action.normal import ActionModule as NormalAction


class ModuleAction(NormalAction):
    """``normal``, with the collector off while the task runs (restored after)."""

    def run(self, tmp: Optional[str] = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return super().run(tmp, task_vars)
        finally:
            if was_enabled:
                gc.enable()
