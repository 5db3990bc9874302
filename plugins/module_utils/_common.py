# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module shares: the common options, building the HostContext, the one
runner every module's ``main()`` calls (``run``: a ``_plan.ModuleLogic`` driven through
request → plan → execute, check mode = plan and predict only), and turning a typed error
into one ``fail_json``."""
from __future__ import annotations

import os
import traceback
from typing import Any, Callable, Dict, List, Tuple

from ansible_collections.podnet.cni.plugins.module_utils import _constants as C
from ansible_collections.podnet.cni.plugins.module_utils._errors import PodnetError
from ansible_collections.podnet.cni.plugins.module_utils._plan import ModuleLogic, Plan

COMMON_ARGUMENT_SPEC: Dict[str, Any] = {
    "cni_config_dir": {"type": "path"},
    "cni_plugin_dirs": {"type": "list", "elements": "path"},
    "cni_cache_dir": {"type": "path"},
    "state_dir": {"type": "path"},
    "rootless": {"type": "bool"},
    "plugin_timeout": {"type": "float", "default": C.PLUGIN_TIMEOUT},
}

# what tasks earlier in the same check run would create (check mode only; _pending),
# documented by the doc fragment podnet.cni.common.check_mode_pending
CHECK_MODE_PENDING_SPEC: Dict[str, Any] = {
    "check_mode_pending": {"type": "dict", "options": {
        "plugins": {"type": "bool", "default": False},
        "networks": {"type": "list", "elements": "dict", "default": []},
        "netns": {"type": "list", "elements": "str", "default": []},
        "dirs": {"type": "list", "elements": "path", "default": []},
    }},
}


# port mappings, as container_netns and cni_attachment take them: dicts or podman/docker
# strings ("127.0.0.1:8080:80/tcp"), validated and normalised by _validate.port_mappings
# (documented once: doc_fragments/port_mappings.py)
PORT_MAPPINGS_SPEC: Dict[str, Any] = {"type": "list", "elements": "raw"}


# the state option (container_netns, cni_attachment, cni_network, rootless_cni_ns; its type,
# choices and default documented by the doc fragment podnet.cni.common.state), and a batch
# entry's, which defaults to the task's
STATE_SPEC: Dict[str, Any] = {"type": "str", "choices": list(C.STATES), "default": C.DEFAULT_STATE}
ENTRY_STATE_SPEC: Dict[str, Any] = {"type": "str", "choices": list(C.STATES)}

# how many containers or attachments at a time (the batches, container_net_reload)
WORKERS_SPEC: Dict[str, Any] = {"type": "int", "default": C.DEFAULT_WORKERS}


def batch_option(single: Dict[str, Any], **entry: Any) -> Dict[str, Any]:
    """The list option of a batch form (containers, attachments, networks): entries that
    take the single form's options, ``entry`` replacing or adding some (a required id, the
    entry's own state); documented by the same doc fragment as the single form's."""
    return {"type": "list", "elements": "dict", "options": dict(single, **entry)}


def argument_spec(**specific: Any) -> Dict[str, Any]:
    spec = dict(COMMON_ARGUMENT_SPEC)
    spec.update(specific)
    return spec


def single_or_batch(batch_key: str, single: Dict[str, Any], entry: Dict[str, Any],
                    **task: Any) -> Dict[str, Any]:
    """AnsibleModule's arguments for a module with two forms that exclude each other: the
    single form (``single``'s options at the top level) and the batch form (``batch_key``,
    a list of entries taking the same options, ``entry`` replacing or adding some);
    ``task`` holds the options given once for the task in either form. The common options
    are added; check mode is supported."""
    spec = argument_spec(**task)
    spec.update(single)
    spec[batch_key] = batch_option(single, **entry)
    return {"argument_spec": spec, "mutually_exclusive": [(batch_key, k) for k in single],
            "supports_check_mode": True}


def is_rootless(params: Dict[str, Any]) -> bool:
    value = params.get("rootless")
    return os.geteuid() != 0 if value is None else bool(value)


# the contexts this module run built (one run per process): run_module emits their
# warnings when the body fails, as the body's result carries them on success
_BUILT: List[Any] = []


def build_context(params: Dict[str, Any], check_mode: bool = False):
    """The HostContext for these module params (rootless when asked or not uid 0); in
    check mode with what ``check_mode_pending`` says earlier tasks would create."""
    from ansible_collections.podnet.cni.plugins.module_utils._pending import from_param
    pending = from_param(params.get("check_mode_pending"), check_mode)
    from ansible_collections.podnet.cni.plugins.module_utils._fsutil import check_usable_dir, refuse_symlink
    for key in ("state_dir", "cni_cache_dir"):  # refused in check mode too, before any read
        refuse_symlink(params.get(key), key)
        check_usable_dir(params.get(key), key)
    timeout = params.get("plugin_timeout")
    if timeout is not None and not timeout > 0:  # the run would fail on it: check mode too
        from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError
        raise ValidationError("invalid plugin_timeout %r: seconds, more than 0" % (timeout,),
                              value=timeout)
    kwargs = {"config_dir": params.get("cni_config_dir"),
              "plugin_dirs": params.get("cni_plugin_dirs"),
              "cache_dir": params.get("cni_cache_dir"),
              "state_dir": params.get("state_dir"),
              "timeout": params.get("plugin_timeout") or C.PLUGIN_TIMEOUT}
    if is_rootless(params):
        from ansible_collections.podnet.cni.plugins.module_utils._rootless_context import RootlessContext
        ctx = RootlessContext.from_params(params, pending=pending, **kwargs)
    else:
        from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
        ctx = HostContext(**kwargs)
    ctx.pending = pending
    _BUILT.append(ctx)  # its warnings reach the user even when the module fails
    return ctx


def _warn_all(module: Any, *lists: Any) -> None:
    """Each warning once, in order."""
    seen: List[str] = []
    for warnings in lists:
        for w in warnings or []:
            if w not in seen:
                seen.append(w)
                module.warn(w)


def run_module(module: Any, body: Callable[[Any], Dict[str, Any]]) -> None:
    """Call body(module) and exit with its result; a PodnetError becomes one fail_json.
    Warnings reach the user either way: on failure those of every context the body built
    (``build_context``) and those the error carries (``warnings=`` in its details)."""
    del _BUILT[:]
    try:
        result = body(module)
    except PodnetError as exc:
        details = {k: v for k, v in exc.details.items() if k not in ("msg", "changed", "warnings")}
        if exc.details.get("changed") is True:  # a failure after a change says so
            details["changed"] = True
        _warn_all(module, *[ctx.warnings for ctx in _BUILT], exc.details.get("warnings"))
        module.fail_json(msg=str(exc), **details)
    except Exception as exc:  # a bug: say so, with the traceback
        _warn_all(module, *[ctx.warnings for ctx in _BUILT])
        module.fail_json(msg="unexpected error: %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
    else:
        for w in result.pop("warnings", None) or []:
            module.warn(w)
        module.exit_json(**result)


def drive(logic: ModuleLogic, ctx: Any, options: Any, check_mode: bool,
          with_diff: bool = False) -> Tuple[Plan, Dict[str, Any]]:
    """One module run after its context is built: (plan, the module's return).
    Check mode plans and predicts, never executes; the diff is the plan's."""
    request = logic.request(ctx, options)
    with logic.session(ctx, check_mode):
        if check_mode:
            plan = logic.plan(ctx, request)
            outcome = logic.predict(ctx, plan)
        else:
            with logic.guard(ctx, request):  # what no other run may change meanwhile
                plan = logic.plan(ctx, request)
                outcome = logic.execute(ctx, plan)
    # after the session: warnings its end added (rootless cleanup) are in the result
    result = logic.result(ctx, plan, outcome, check_mode)
    diff = plan.get_before_after() if with_diff else None
    if diff is not None:  # (a read-only module has none)
        result["diff"] = diff
    return plan, result


def run(module: Any, logic: ModuleLogic) -> None:
    """What every module's ``main()`` calls once its AnsibleModule is built: run the
    module's logic and exit with its result. A result with ``msg`` (an entry of a batch
    failed, after the others were done) fails the task with all of it, ``changed``
    included; a PodnetError fails it with its message (see ``run_module``)."""
    def body(module: Any) -> Dict[str, Any]:
        options = logic.options(module)  # before any read: a missing option fails first
        ctx = build_context(module.params, module.check_mode)
        dummy, result = drive(logic, ctx, options, module.check_mode, module._diff)
        if result.get("msg"):
            for w in result.pop("warnings", None) or []:
                module.warn(w)
            module.fail_json(**result)
        return result
    run_module(module, body)
