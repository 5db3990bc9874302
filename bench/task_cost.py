# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a task of each of our modules costs Ansible's controller before the module runs:
building its AnsiballZ payload (issue 10: the fixed part of the role's idempotent re-run).

For every task, once per ansible-playbook run (its cache lives in the run's own temporary
dir), the controller finds every module_utils file the module imports, directly or not,
parses each one (``compile(..., PyCF_ONLY_AST)``) to follow its imports, and zips them; on
the host, Python then compiles every imported file from the zip (no .pyc there). Both grow
with the source the module pulls in, ours and ansible-core's own (``basic`` and its
dependencies, which ``ansible.builtin.ping`` pulls in too).

Measured in-process with ansible-core's own builder (``module_common.modify_module``),
median of ``--rounds`` builds each, the cache emptied before each: per module the build
time with Python's cyclic garbage collector on (as Ansible's ``normal`` action builds it)
and off (as this collection's action builds ours: plugins/plugin_utils/module_action.py),
the payload size, the number and bytes of our module_utils files in it, and the ratios to
ping's build. The parsing allocates an AST node per syntax element, which triggers full
collections that walk the whole heap; in a real run the worker inherits the controller's
heap (plays, inventory, variables), larger than this process's, so the collector costs it
more than it costs here.

Usage: bench/task_cost.py [--rounds 5] [--out task_cost]
"""
from __future__ import annotations

import argparse
import base64
import gc
import io
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from typing import Any, Dict, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

MODULES = ("ansible.builtin.ping", "podnet.cni.container_netns", "podnet.cni.cni_attachment",
           "podnet.cni.cni_network", "podnet.cni.container_net_reload",
           "podnet.cni.container_netns_info", "podnet.cni.rootless_cni_ns")
OURS = "ansible_collections/podnet/cni/plugins/module_utils/"
PING = MODULES[0]
OFF = "AnsiballZ build, collector off"


def builder():
    """A function building one module's payload with ansible-core's code: (ms, payload)."""
    os.environ.update(ANSIBLE_COLLECTIONS_PATH=B.BUILD, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    from ansible import constants as C
    from ansible.executor import module_common
    from ansible.plugins.loader import init_plugin_loader, module_loader
    from ansible.template import Templar
    init_plugin_loader()
    tmp = tempfile.mkdtemp(prefix="bench-ptask-")
    C.DEFAULT_LOCAL_TMP = tmp  # where the run's AnsiballZ cache lives

    def build(name: str, collector: bool = True) -> Tuple[float, bytes]:
        shutil.rmtree(os.path.join(tmp, "ansiballz_cache"), ignore_errors=True)
        gc.collect()  # each build starts from the same heap
        if not collector:
            gc.disable()
        found = module_loader.find_plugin_with_context(name)
        if not found.resolved:
            raise RuntimeError("module %s not found (make test-deps builds .build)" % name)
        t0 = B.now()
        built = module_common.modify_module(
            module_name=name, module_path=found.plugin_resolved_path, module_args={},
            templar=Templar(loader=None), task_vars={"ansible_python_interpreter": sys.executable},
            module_compression="ZIP_DEFLATED")
        took = (B.now() - t0) / 1e6
        gc.enable()
        return took, built.b_module_data
    return build, tmp


def our_files(payload: bytes) -> Tuple[int, int]:
    """(files, bytes) of our module_utils in an AnsiballZ payload (the zip is its longest
    base64 run)."""
    blob = max(re.findall(rb"[A-Za-z0-9+/=]{1000,}", payload), key=len)
    zf = zipfile.ZipFile(io.BytesIO(base64.b64decode(blob)))
    ours = [i for i in zf.infolist() if OURS in i.filename]
    return len(ours), sum(i.file_size for i in ours)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="task_cost")
    args = ap.parse_args(argv)
    build, tmp = builder()
    res = B.Results()
    res.meta.update(B.host_meta())
    res.meta["rounds"] = args.rounds
    sizes: Dict[str, Any] = {}
    try:
        for name in MODULES:
            build(name)  # warm: imports of the builder itself, file system caches
        for dummy in range(args.rounds):
            for name in MODULES:  # interleaved: the load moves all of them alike
                ms, payload = build(name)
                res.rec(name, "AnsiballZ build", ms)
                sizes[name] = (len(payload),) + our_files(payload)
                if name != PING:
                    res.rec(name, OFF, build(name, collector=False)[0])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ping = res.stats(PING, "AnsiballZ build")["median_ms"]
    for name in MODULES[1:]:
        med = res.stats(name, "AnsiballZ build")["median_ms"]
        off = res.stats(name, OFF)["median_ms"]
        short = name.rsplit(".", 1)[1]
        res.ratio_values("%s AnsiballZ build / ping's" % name, med, ping, short, PING)
        res.ratio_values("%s AnsiballZ build, collector off / on" % name, off, med,
                         short + " (collector off)", short + " (collector on)")
        res.ratio_values("%s AnsiballZ build, collector off / ping's" % name, off, ping,
                         short + " (collector off)", PING)
    res.meta["payload"] = {name: {"payload_bytes": s[0], "our_module_utils_files": s[1],
                                  "our_module_utils_bytes": s[2]} for name, s in sizes.items()}
    B.write_report(args.out, "AnsiballZ payload build per module vs ansible.builtin.ping", res)
    for name in MODULES:
        s = sizes[name]
        off = "" if name == PING else "  (collector off %6.0f ms)" % res.stats(name, OFF)["median_ms"]
        print("%-34s build %6.0f ms%s  payload %7d B  our module_utils: %2d files, %6d B"
              % (name, res.stats(name, "AnsiballZ build")["median_ms"], off, s[0], s[1], s[2]))
    return 0


if __name__ == "__main__":
    t_start = time.time()
    rc = main()
    B.log("task_cost done in %.1f s" % (time.time() - t_start))
    sys.exit(rc)
