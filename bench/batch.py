# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""N containers attached in one batch task (cni_attachment ``attachments:``) against N
sequential raw plugin chains and ``podman network connect`` ×N, on the same conflist,
in one run. No port mappings by default: ``podman network connect`` cannot add any, so all
three do the same work (portmap runs, with nothing to map). ``--ports`` gives every
container one host port (raw chains and batch alike, podman left out): the batch then
claims its ports for the host (_hostports) around each ADD.

Rows are totals for the N containers (ms). The module runs twice: as the module file
executed directly (the code Ansible runs, without Ansible's start-up) and through
ansible-playbook (one task). Targets (issue 3): batch ≤ 0.8× the sequential raw time,
an idempotent re-run < 5% of the first run.

Runs in a network namespace of its own acting as the host (bench-phostb).

Usage: bench/batch.py [-n 50] [--workers 8] [--no-podman] [--ports]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

from ansible_collections.podnet.cni.plugins.module_utils import _netns  # noqa: E402

NET = B.NETWORKS["batch"]
HOLD = B.NETWORKS["podman"]          # podman's containers start here, then connect to NET
NS_PREFIX = "bench-pb-"
BASE = os.path.join(B.WORK, "batch")
P = {"netconf": os.path.join(BASE, "netconf"), "cache": os.path.join(BASE, "cache"),
     "state": os.path.join(BASE, "state")}


def common() -> dict:
    return {"cni_config_dir": P["netconf"], "cni_plugin_dirs": [B.CNI_PATH], "cni_cache_dir": P["cache"],
            "state_dir": P["state"]}


def ns(kind: str, i: int) -> str:
    return os.path.join("/run/netns", "%s%s-%04d" % (NS_PREFIX, kind, i))


PORT_BASE = 30000  # inside the bench's own "host" netns: no real host port is taken


def entries(n: int, state: str = "present", ports: bool = False) -> list:
    out = [{"container_id": "benchpb-b-%04d" % i, "netns": ns("b", i), "network": NET["name"],
            "state": state} for i in range(n)]
    if ports and state == "present":
        for i, e in enumerate(out):
            e["port_mappings"] = [{"host_port": PORT_BASE + i, "container_port": 80}]
    return out


def raw_caps(i: int, ports: bool) -> dict:
    if not ports:
        return {}
    return {"portMappings": [{"hostPort": PORT_BASE + i, "containerPort": 80, "protocol": "tcp"}]}


def run(n: int, workers: int, with_podman: bool, res: B.Results, ports: bool = False) -> None:
    B.write_conflist(P["netconf"], NET)
    raw = B.RawDriver(B.conflist(NET))
    for i in range(n):
        for kind in ("r", "b"):
            _netns.create(ns(kind, i))
    rawres = {}
    try:
        # 1. raw, sequential
        t0 = B.now()
        for i in range(n):
            cid = "benchpb-r-%04d" % i
            dt, rawres[i] = B.timed(raw.add, cid, ns("r", i), raw_caps(i, ports),
                                    args=B.cni_args_for(cid, cid))
            res.rec("raw", "ADD chain (each)", dt)
        res.rec("raw", "ADD chain ×N sequential (total)", (B.now() - t0) / 1e6)
        # raw, sequential DEL: before the batch, so both start from the same (empty) ruleset
        # (ADD gets slower with every attachment present: iptables scans the ruleset)
        t0 = B.now()
        for i in range(n):
            cid = "benchpb-r-%04d" % i
            dt, dummy = B.timed(raw.delete, cid, ns("r", i), raw_caps(i, ports), rawres.pop(i),
                                args=B.cni_args_for(cid, cid))
            res.rec("raw", "DEL chain (each)", dt)
        res.rec("raw", "DEL chain ×N sequential (total)", (B.now() - t0) / 1e6)
        # 2. the batch, module run directly
        args = dict(common(), attachments=entries(n, ports=ports), workers=workers)
        dt, r = B.run_module_direct("cni_attachment", args)
        if r.get("failed") or not r.get("changed"):
            raise RuntimeError("batch failed: %s" % json.dumps(r)[:3000])
        res.rec("module", "cni_attachment batch present (direct, total)", dt)
        dt, r = B.run_module_direct("cni_attachment", args)
        if r.get("failed") or r.get("changed"):
            raise RuntimeError("batch re-run not idempotent: %s" % json.dumps(r)[:3000])
        res.rec("module", "cni_attachment batch present again (direct, total)", dt)
        dt_empty, dummy = B.run_module_direct("cni_attachment", dict(common(), attachments=[], workers=workers))
        res.rec("module", "cni_attachment empty batch (direct: Python + Ansible start-up)", dt_empty)
        # batch absent (the raw attachments are gone already: same ruleset as raw DEL had)
        dt, r = B.run_module_direct("cni_attachment", dict(common(), attachments=entries(n, "absent"),
                                                           workers=workers))
        if r.get("failed"):
            raise RuntimeError("batch absent failed: %s" % json.dumps(r)[:3000])
        res.rec("module", "cni_attachment batch absent (direct, total)", dt)
        # 4. the same through ansible-playbook (one task)
        task = ("    - podnet.cni.cni_attachment:\n        attachments: \"{{ items }}\"\n        workers: %d\n"
                "        cni_config_dir: %s\n        cni_plugin_dirs: [%s]\n        cni_cache_dir: %s\n"
                "        state_dir: %s\n" % (workers, P["netconf"], B.CNI_PATH, P["cache"], P["state"]))
        empty = B.run_playbook("    - ansible.builtin.meta: noop\n", {}, "batch-empty")
        res.rec("module", "ansible-playbook empty play (start-up)", empty)
        res.rec("module", "ansible-playbook batch task present (total)",
                B.run_playbook(task, {"items": entries(n, ports=ports)}, "batch-present"))
        res.rec("module", "ansible-playbook batch task present again (total)",
                B.run_playbook(task, {"items": entries(n, ports=ports)}, "batch-again"))
        res.rec("module", "ansible-playbook batch task absent (total)",
                B.run_playbook(task, {"items": entries(n, "absent")}, "batch-absent"))
        # 5. podman network connect / disconnect ×N
        if with_podman and not ports and B.Podman.available():
            pod = B.Podman(NET, "batch")
            try:
                pod.setup()
                B.write_conflist(pod.netconf, HOLD)
                for i in range(n):
                    pod.start("benchpb-p-%04d" % i, HOLD["name"])
                t0 = B.now()
                for i in range(n):
                    dt, dummy = B.timed(pod.run, "network", "connect", NET["name"], "benchpb-p-%04d" % i)
                    res.rec("podman", "network connect (each)", dt)
                res.rec("podman", "network connect ×N (total)", (B.now() - t0) / 1e6)
                t0 = B.now()
                for i in range(n):
                    dt, dummy = B.timed(pod.run, "network", "disconnect", NET["name"], "benchpb-p-%04d" % i)
                    res.rec("podman", "network disconnect (each)", dt)
                res.rec("podman", "network disconnect ×N (total)", (B.now() - t0) / 1e6)
            finally:
                pod.cleanup()
                B.cleanup_network(HOLD)
        elif with_podman:
            res.notes.append("podman or runc not installed: podman rows skipped (bench/peers/install_podman.sh)")
    finally:
        for i in list(rawres):
            cid = "benchpb-r-%04d" % i
            try:
                raw.delete(cid, ns("r", i), raw_caps(i, ports), rawres.pop(i),
                           args=B.cni_args_for(cid, cid))
            except Exception as exc:  # noqa: BLE001
                B.log("cleanup raw %s: %s" % (cid, exc))
        cleanup()

    def tot(t, o):
        return (t, o)

    res.ratio("batch (direct) / raw sequential, attach", tot("module", "cni_attachment batch present (direct, total)"),
              tot("raw", "ADD chain ×N sequential (total)"), "≤ 0.8")
    res.ratio("batch (ansible-playbook) / raw sequential, attach",
              tot("module", "ansible-playbook batch task present (total)"), tot("raw", "ADD chain ×N sequential (total)"),
              "≤ 0.8")
    res.ratio("batch re-run / batch first run (direct)", tot("module", "cni_attachment batch present again (direct, total)"),
              tot("module", "cni_attachment batch present (direct, total)"), "< 0.05")
    res.ratio("batch re-run / batch first run (ansible-playbook)",
              tot("module", "ansible-playbook batch task present again (total)"),
              tot("module", "ansible-playbook batch task present (total)"), "< 0.05")
    if res.has("module", "cni_attachment empty batch (direct: Python + Ansible start-up)") and \
            res.has("module", "cni_attachment batch present (direct, total)"):
        def med(o):
            return res.stats("module", o)["median_ms"]

        start = med("cni_attachment empty batch (direct: Python + Ansible start-up)")
        first, again = med("cni_attachment batch present (direct, total)"), med(
            "cni_attachment batch present again (direct, total)")
        raw_total = res.stats("raw", "ADD chain ×N sequential (total)")["median_ms"]
        res.ratio_values("batch minus module start-up / raw sequential, attach", first - start, raw_total,
                         "batch (direct) - empty batch", "raw ×N", "≤ 0.8")
        res.ratio_values("batch re-run minus start-up / batch first run minus start-up", again - start,
                         first - start, "re-run - empty batch", "first - empty batch", "< 0.05")
    res.ratio("batch absent (direct) / raw sequential DEL", tot("module", "cni_attachment batch absent (direct, total)"),
              tot("raw", "DEL chain ×N sequential (total)"))
    res.ratio("podman connect ×N / raw sequential", tot("podman", "network connect ×N (total)"),
              tot("raw", "ADD chain ×N sequential (total)"))
    res.ratio("batch (direct) / podman connect ×N", tot("module", "cni_attachment batch present (direct, total)"),
              tot("podman", "network connect ×N (total)"))
    res.ratio("podman disconnect ×N / raw sequential DEL", tot("podman", "network disconnect ×N (total)"),
              tot("raw", "DEL chain ×N sequential (total)"))


def cleanup() -> None:
    B.cleanup_scenario(NET, P["cache"], NS_PREFIX, BASE)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--no-podman", action="store_true")
    ap.add_argument("--out", default="batch")
    ap.add_argument("--ports", action="store_true", help="one host port per container")
    args = ap.parse_args(argv)
    if os.geteuid() == 0:
        rc = B.run_isolated("b", __file__, sys.argv[1:] if argv is None else argv)
        if rc is not None:
            return rc
    if os.geteuid() != 0:
        print("bench/batch.py must run as root", file=sys.stderr)
        return 2
    res = B.Results()
    res.meta.update(B.host_meta())
    res.meta.update({"N": args.n, "workers": args.workers, "ports": args.ports})
    cleanup()
    B.log("batch: N=%d workers=%d" % (args.n, args.workers))
    run(args.n, args.workers, not args.no_podman, res, args.ports)
    B.write_report("%s-n%d%s" % (args.out, args.n, "-ports" if args.ports else ""),
                   "batch attach, N=%d%s (totals)" % (args.n, ", a host port each" if args.ports else ""),
                   res)
    bad = B.leftovers(NS_PREFIX)
    if bad:
        B.log("LEFTOVERS: %s" % bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
