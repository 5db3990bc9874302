# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of podnet.cni.container_net_reload: see plugins/plugin_utils/module_action.py."""
from __future__ import annotations

from ansible_collections.podnet.cni.plugins.plugin_utils.module_action import ModuleAction


class ActionModule(ModuleAction):
    """Runs the module as Ansible's normal action does (collector off for the task)."""
