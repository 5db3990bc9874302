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


def run(tmp_path, how, script_text=SCRIPT, **flags):
    """Run the module script with ``how`` (and ``_ansible_*`` flags); its JSON result."""
    script = tmp_path / "mod.py"
    script.write_text(script_text)
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict({
        "how": how, "rootless": False, "cni_config_dir": str(tmp_path / "net.d"),
        "cni_cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state")}, **flags)}))
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


# --- run(module, logic): the one runner every module's main() calls ---

LOGIC_SCRIPT = textwrap.dedent("""
    from contextlib import contextmanager
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.podnet.cni.plugins.module_utils._common import argument_spec, run
    from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError, ValidationError
    from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan

    calls = []

    class Logic(ModuleLogic):
        def options(self, module):
            calls.append("options")
            if module.params["how"] == "bad-option":
                raise ValidationError("missing required arguments: x")
            return module.params["how"]

        def request(self, ctx, how):
            calls.append("request")
            return how

        @contextmanager
        def guard(self, ctx, how):
            calls.append("guard")
            yield
            calls.append("unguard")

        def plan(self, ctx, how):
            calls.append("plan")
            p = Plan()
            p.add("touch", what="x")
            p.diff.add("thing", None, {"x": 1})
            p.request = how
            ctx.warnings.append("from planning")
            if how == "no-diff":
                p.get_before_after = lambda: None
            return p

        def predict(self, ctx, p):
            calls.append("predict")
            return {"actions": p.actions}

        def execute(self, ctx, p):
            calls.append("execute")
            if p.request == "raise":
                raise PodnetError("it broke", changed=True)
            return {"actions": p.actions}

        def result(self, ctx, p, outcome, check_mode):
            out = dict(outcome, changed=p.changed, calls=list(calls), warnings=ctx.warnings)
            if p.request == "entry-failed":
                out["msg"] = "1 of 2 entries failed"
            return out

    module = AnsibleModule(argument_spec=argument_spec(how={"type": "str"}),
                           supports_check_mode=True)
    run(module, Logic())
""")


def run_logic(tmp_path, how, check=False, diff=False):
    return run(tmp_path, how, LOGIC_SCRIPT, _ansible_check_mode=check, _ansible_diff=diff)


def test_check_mode_plans_and_predicts_and_never_executes(tmp_path):
    result = run_logic(tmp_path, "ok", check=True, diff=True)
    assert result["calls"] == ["options", "request", "plan", "predict"]
    assert result["changed"] is True and result["actions"] == [{"action": "touch", "what": "x"}]
    assert result["diff"] == {"before": {"thing": None}, "after": {"thing": {"x": 1}}}
    assert messages(result) == ["from planning"]


def test_a_real_run_plans_and_executes_inside_the_guard(tmp_path):
    result = run_logic(tmp_path, "ok")
    assert result["calls"] == ["options", "request", "guard", "plan", "execute", "unguard"]
    assert "diff" not in result  # only with --diff


def test_a_plan_without_a_diff_adds_none(tmp_path):
    assert "diff" not in run_logic(tmp_path, "no-diff", diff=True)


def test_a_result_with_msg_fails_with_all_of_it(tmp_path):
    result = run_logic(tmp_path, "entry-failed", diff=True)
    assert result["failed"] is True and result["msg"] == "1 of 2 entries failed"
    assert result["changed"] is True and result["actions"] and result["diff"]["after"]
    assert messages(result) == ["from planning"]


def test_an_error_while_executing_keeps_the_warnings_and_changed(tmp_path):
    result = run_logic(tmp_path, "raise")
    assert result["failed"] is True and result["msg"] == "it broke" and result["changed"] is True
    assert messages(result) == ["from planning"]


def test_a_bad_option_fails_before_the_context_is_built(tmp_path):
    result = run_logic(tmp_path, "bad-option")
    assert result["failed"] is True and result["msg"] == "missing required arguments: x"
    assert not (tmp_path / "state").exists() and not (tmp_path / "cache").exists()
