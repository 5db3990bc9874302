# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One CNI plugin exec three ways, interleaved: the executor of ``_cni/exec.py`` (what
every ADD/DEL/CHECK goes through), ``AnsibleModule.run_command`` with the same argv,
environment and stdin, and a bare ``subprocess.run`` (the floor). It is the measurement
behind the sanity ignore entry of ``_cni/exec.py`` on ansible-core 2.21
(tests/sanity/ignore-2.21.txt): pylint's ansible-bad-function asks for run_command there.

The plugin is asked for VERSION (a Go binary start, nothing changed on the host).

Usage: bench/exec_run_command.py [-n 150] [--plugin bridge] [--out NAME]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

from ansible.module_utils import basic  # noqa: E402
from ansible_collections.podnet.cni.plugins.module_utils._cni.exec import PluginExecutor  # noqa: E402

STDIN = json.dumps({"cniVersion": "1.0.0", "name": "bench-version", "type": "bridge"}).encode()


def make_module() -> basic.AnsibleModule:
    """An AnsibleModule outside a play: its arguments as AnsiballZ would hand them over."""
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": {}}).encode()  # pylint: disable=protected-access
    if hasattr(basic, "_ANSIBLE_PROFILE"):  # ansible-core 2.19+: the serialization profile too
        basic._ANSIBLE_PROFILE = "legacy"  # pylint: disable=protected-access
    return basic.AnsibleModule(argument_spec={})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("-n", type=int, default=150)
    ap.add_argument("--plugin", default="bridge")
    ap.add_argument("--out", default="exec_run_command")
    args = ap.parse_args()

    executor = PluginExecutor([B.CNI_PATH])
    path = executor.plugin_path(args.plugin)
    env = executor.env("VERSION", None)
    module = make_module()
    res = B.Results()

    def lib() -> None:
        executor.run(args.plugin, "VERSION", None, STDIN)

    def run_command() -> None:
        rc, dummy, err = module.run_command([path], data=STDIN, binary_data=True, environ_update=env)
        if rc != 0:
            raise RuntimeError(err)

    def bare() -> None:
        subprocess.run([path], input=STDIN, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       check=True)

    ways = [("executor", lib), ("run_command", run_command), ("subprocess.run", bare)]
    for i in range(args.n + 2):
        for tool, fn in ways[i % 3:] + ways[:i % 3]:  # rotate the order: no way always goes first
            ms = B.timed(fn)[0]
            if i >= 2:  # two warm-up rounds
                res.rec(tool, "VERSION exec", ms)
    res.ratio("executor / subprocess.run", ("executor", "VERSION exec"), ("subprocess.run", "VERSION exec"))
    res.ratio("run_command / subprocess.run", ("run_command", "VERSION exec"), ("subprocess.run", "VERSION exec"))
    res.ratio("run_command / executor", ("run_command", "VERSION exec"), ("executor", "VERSION exec"))
    B.write_report(args.out, "One plugin exec: executor, run_command, subprocess.run (N=%d)" % args.n, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
