# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_common.run_module: what a module's body gathered as warnings reaches the user on
failure too (a typed error, an unexpected one), not only on success.

Each case runs a real AnsibleModule in a child python (args file, JSON on stdout), as
Ansible runs a module."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest


SCRIPT = textwrap.dedent("""
    import sys
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.podnet.cni.plugins.module_utils._common import (
        argument_spec, build_context, run_module)
    from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError

    def body(module):
        ctx = build_context(module.params)
        ctx.warnings.append("from the context")
        how = module.params["how"]
        if how == "typed":
            raise PodnetError("it failed", warnings=["from the error"], changed=True)
        if how == "bug":
            raise KeyError("oops")
        return {"changed": False, "warnings": ctx.warnings + ["from the result"]}

    module = AnsibleModule(argument_spec=argument_spec(how={"type": "str"}),
                           supports_check_mode=True)
    run_module(module, body)
""")


def run(tmp_path, how):
    script = tmp_path / "mod.py"
    script.write_text(SCRIPT)
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "how": how, "rootless": False, "cni_config_dir": str(tmp_path / "net.d"),
        "cni_cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state")}}))
    proc = subprocess.run([sys.executable, str(script), str(args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
                          text=True, check=False)
    out = proc.stdout
    assert "{" in out, proc.stderr
    return json.loads(out[out.index("{"):])


def messages(result):
    """The warnings' texts (ansible-core 2.19 wraps each in a WarningSummary)."""
    return [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings") or []]


@pytest.mark.parametrize("how,failed,warnings", [
    ("ok", False, ["from the context", "from the result"]),
    ("typed", True, ["from the context", "from the error"]),
    ("bug", True, ["from the context"]),
])
def test_warnings_reach_the_user_on_success_and_failure(tmp_path, how, failed, warnings):
    result = run(tmp_path, how)
    assert bool(result.get("failed")) is failed, result
    assert messages(result) == warnings, result


def test_a_typed_failure_keeps_its_message_and_changed(tmp_path):
    result = run(tmp_path, "typed")
    assert result["msg"] == "it failed"
    assert result["changed"] is True


def test_a_bug_says_so(tmp_path):
    result = run(tmp_path, "bug")
    assert result["msg"].startswith("unexpected error: KeyError"), result
