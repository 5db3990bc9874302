# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``container_network`` role through ansible-playbook against N sequential raw plugin
chains of the same conflist (issue 10): N containers on one bridge network, one
127.0.0.1 host port each.

Per N, in one run and in a network namespace of its own acting as the host
(bench-phostr), ``--rounds`` times (default 2): the raw floor (N netns with lo up, N ADD
chains one after the other, then N DEL chains), then the role — first converge, the same
again three times (nothing to do; each after an empty play, Ansible's fixed start-up),
everything ``state: absent``. The raw chains are gone before the role runs, so both start
from the same empty ruleset (ADD gets slower with every attachment present). Medians over
the rounds.

Ratios (targets of issue 10): (role - empty play) / raw chains — first converge ≤ 1.0× at
N=50 and N=200, idempotent re-run ≤ 0.15× at N=50 and ≤ 0.05× at N=200, absent ≤ 1.0× the
raw DEL chains. The floor counts the chains only; the netns creation and ``lo`` up that
the role also does are timed apart (``raw netns …``), and a second first-converge ratio
adds them to the floor (the same work on both sides).

Usage: bench/role.py [-n 50] [-n 200] [--workers 8] [--rounds 2] [--out role]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

from ansible_collections.podnet.cni.plugins.module_utils import _netns  # noqa: E402

NET = B.NETWORKS["role"]
NS_PREFIX = "bench-pr-"
BASE = os.path.join(B.WORK, "role")
P = {"netconf": os.path.join(BASE, "netconf"), "cache": os.path.join(BASE, "cache"),
     "state": os.path.join(BASE, "state")}
PORT0 = B.PORT_BASE + 2000


def ns(kind: str, i: int) -> str:
    return os.path.join("/run/netns", "%s%s-%04d" % (NS_PREFIX, kind, i))


def caps(i: int) -> dict:
    return {"portMappings": [{"hostPort": PORT0 + i, "containerPort": 80, "protocol": "tcp",
                              "hostIP": "127.0.0.1"}]}


def containers(n: int, state: str = "present") -> list:
    out = []
    for i in range(n):
        item = {"id": "benchpr-c-%04d" % i, "netns": os.path.basename(ns("c", i)),
                "networks": [NET["name"]],
                "port_mappings": [{"host_port": PORT0 + i, "container_port": 80,
                                   "host_ip": "127.0.0.1"}]}
        if state != "present":
            item["state"] = state
        out.append(item)
    return out


def role_vars(n: int, workers: int, state: str = "present") -> dict:
    out = {"container_network_containers": containers(n, state),
           "container_network_cni_config_dir": P["netconf"],
           "container_network_cni_plugin_dirs": [B.CNI_PATH],
           "container_network_cni_cache_dir": P["cache"],
           "container_network_state_dir": P["state"]}
    if workers:
        out["container_network_workers"] = workers
    return out


ROLE = "    - role: podnet.cni.container_network\n"


def raw_round(n: int, raw: B.RawDriver, tag: str, res: B.Results) -> None:
    """N namespaces, N ADD chains in a row, N DEL chains in a row, the namespaces removed."""
    rawres = {}
    try:
        t0 = B.now()
        for i in range(n):
            _netns.create(ns("r", i))
            _netns.bring_lo_up(ns("r", i))
        res.rec("raw", "netns create + lo up ×N (total, %s)" % tag, (B.now() - t0) / 1e6)
        t0 = B.now()
        for i in range(n):
            cid = "benchpr-r-%04d" % i
            rawres[i] = raw.add(cid, ns("r", i), caps(i), args=B.cni_args_for(cid, cid))
        res.rec("raw", "ADD chain ×N sequential (total, %s)" % tag, (B.now() - t0) / 1e6)
        t0 = B.now()
        for i in range(n):
            cid = "benchpr-r-%04d" % i
            raw.delete(cid, ns("r", i), caps(i), rawres.pop(i), args=B.cni_args_for(cid, cid))
        res.rec("raw", "DEL chain ×N sequential (total, %s)" % tag, (B.now() - t0) / 1e6)
    finally:
        for i in list(rawres):
            cid = "benchpr-r-%04d" % i
            try:
                raw.delete(cid, ns("r", i), caps(i), rawres.pop(i), args=B.cni_args_for(cid, cid))
            except Exception as exc:  # noqa: BLE001
                B.log("cleanup raw %s: %s" % (cid, exc))
        for i in range(n):
            _netns.remove(ns("r", i))


def empty_play(tag: str, res: B.Results) -> None:
    res.rec("ansible", "empty play (%s)" % tag,
            B.run_playbook("    - ansible.builtin.meta: noop\n", {}, "role-empty"))


def role_round(n: int, workers: int, tag: str, res: B.Results) -> None:
    """The role: first converge, the same again three times (each after an empty play),
    everything absent."""
    res.rec("role", "first converge (%s)" % tag,
            B.run_playbook(ROLE, role_vars(n, workers), "role-first", "roles"))
    present = sorted(os.listdir(os.path.join(P["cache"], "results")))
    if len(present) != n:
        raise RuntimeError("role converged %d of %d attachments" % (len(present), n))
    for dummy in range(3):
        empty_play(tag, res)
        res.rec("role", "idempotent re-run (%s)" % tag,
                B.run_playbook(ROLE, role_vars(n, workers), "role-again", "roles"))
    res.rec("role", "all absent (%s)" % tag,
            B.run_playbook(ROLE, role_vars(n, workers, "absent"), "role-absent", "roles"))
    left = os.listdir(os.path.join(P["cache"], "results"))
    if left:
        raise RuntimeError("role absent left %d cache entries" % len(left))


def run(n: int, workers: int, rounds: int, res: B.Results) -> None:
    """``rounds`` times: the raw floor, then the role (both from the same empty ruleset);
    ratios of the medians."""
    B.write_conflist(P["netconf"], NET)
    raw = B.RawDriver(B.conflist(NET))
    tag = "N=%d" % n
    try:
        for dummy in range(rounds):
            raw_round(n, raw, tag, res)
            role_round(n, workers, tag, res)
    finally:
        cleanup()
    empty = statistics.median(res.samples[("ansible", "empty play (%s)" % tag)])

    def total(tool: str, op: str) -> float:
        return res.stats(tool, "%s (%s)" % (op, tag))["median_ms"]

    add = res.stats("raw", "ADD chain ×N sequential (total, %s)" % tag)["median_ms"]
    dele = res.stats("raw", "DEL chain ×N sequential (total, %s)" % tag)["median_ms"]
    first, again, gone = (total("role", "first converge"), total("role", "idempotent re-run"),
                          total("role", "all absent"))
    res.ratio_values("%s: role first converge - empty play / raw ADD chains" % tag, first - empty, add,
                     "role first - empty play", "raw ADD ×N", "≤ 1.0")
    res.ratio_values("%s: role re-run - empty play / raw ADD chains" % tag, again - empty, add,
                     "role again - empty play", "raw ADD ×N", "≤ 0.15" if n <= 50 else "≤ 0.05")
    res.ratio_values("%s: role absent - empty play / raw DEL chains" % tag, gone - empty, dele,
                     "role absent - empty play", "raw DEL ×N", "≤ 1.0")
    netns_ms = res.stats("raw", "netns create + lo up ×N (total, %s)" % tag)["median_ms"]
    res.ratio_values("%s: role first converge - empty play / raw netns + ADD chains" % tag, first - empty,
                     add + netns_ms, "role first - empty play", "raw netns + lo + ADD ×N")
    res.meta.setdefault("empty_play_ms", {})[tag] = round(empty, 1)


def cleanup() -> None:
    B.cleanup_scenario(NET, P["cache"], NS_PREFIX, BASE)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("-n", type=int, action="append")
    ap.add_argument("--workers", type=int, default=0, help="container_network_workers (0: the role's default)")
    ap.add_argument("--rounds", type=int, default=2, help="raw floor + role, this many times (medians)")
    ap.add_argument("--out", default="role")
    args = ap.parse_args(argv)
    if os.geteuid() == 0:
        rc = B.run_isolated("r", __file__, sys.argv[1:] if argv is None else argv)
        if rc is not None:
            return rc
    if os.geteuid() != 0:
        print("bench/role.py must run as root", file=sys.stderr)
        return 2
    ns_list = args.n or [50, 200]
    res = B.Results()
    res.meta.update(B.host_meta())
    res.meta.update({"N": ns_list, "workers": args.workers or "role default", "ports": True,
                     "rounds": args.rounds})
    for n in ns_list:
        cleanup()
        B.log("role: N=%d" % n)
        run(n, args.workers, args.rounds, res)
    B.write_report(args.out, "container_network role vs raw chains, N=%s (totals)"
                   % "/".join(map(str, ns_list)), res)
    print(json.dumps(res.ratios, indent=1), file=sys.stderr)
    bad = B.leftovers(NS_PREFIX)
    if bad:
        B.log("LEFTOVERS: %s" % bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
