# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a ``container_netns`` batch (``containers:``) spends its own time, in-process:
the module logic (``_common.drive`` of ``_container_batch.LOGIC``) without Ansible's start-up, under cProfile.

N containers on one bridge network with one 127.0.0.1 host port each (the role
benchmark's shape), in a network namespace of its own acting as the host
(bench-phostf): first converge (timed; ``--profile-first`` profiles it too), the
idempotent re-run (check mode and real, timed and profiled), everything absent.
Prints wall times and the top functions by cumulative and own time.

Usage: bench/profile_batch.py [-n 200] [--workers 8] [--top 25] [--profile-first]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

from ansible_collections.podnet.cni.plugins.module_utils import _container_batch  # noqa: E402
from ansible_collections.podnet.cni.plugins.module_utils._common import build_context, drive  # noqa: E402

# a network of its own (its host-local data dir is named after it): runs beside bench/role.py
NET = dict(name="bench-pprof", bridge="benchpbr5", subnet="10.213.144.0/20", gw="10.213.144.1")
NS_PREFIX = "bench-pf-"
BASE = os.path.join(B.WORK, "profile")
P = {"netconf": os.path.join(BASE, "netconf"), "cache": os.path.join(BASE, "cache"),
     "state": os.path.join(BASE, "state")}
PORT0 = B.PORT_BASE + 2500


def entries(n: int, state: str = "present") -> list:
    return [{"container_id": "benchpf-c-%04d" % i, "netns": "%sc-%04d" % (NS_PREFIX, i),
             "networks": [NET["name"]], "state": state,
             "port_mappings": [{"host_port": PORT0 + i, "container_port": 80, "host_ip": "127.0.0.1",
                                "protocol": "tcp"}]}
            for i in range(n)]


def params() -> dict:
    return {"cni_config_dir": P["netconf"], "cni_plugin_dirs": [B.CNI_PATH],
            "cni_cache_dir": P["cache"], "state_dir": P["state"], "rootless": False}


class ThreadProfiles:
    """cProfile sees only the thread that enables it: the batch runs its containers on
    worker threads, so each container's execution gets a profile of its own (merged)."""

    def __init__(self) -> None:
        self.profiles: list = []
        self.lock = threading.Lock()
        self.orig = _container_batch._execute_one

    def __enter__(self) -> "ThreadProfiles":
        def profiled(*args, **kwargs):  # _execute_one's own arguments, passed through
            pr = cProfile.Profile()
            pr.enable()
            try:
                return self.orig(*args, **kwargs)
            finally:
                pr.disable()
                with self.lock:
                    self.profiles.append(pr)
        _container_batch._execute_one = profiled
        return self

    def __exit__(self, *exc) -> None:
        _container_batch._execute_one = self.orig

    def print(self, top: int) -> None:
        if not self.profiles:
            return
        stats = pstats.Stats(self.profiles[0], stream=io.StringIO())
        for pr in self.profiles[1:]:
            stats.add(pr)
        for key in ("cumulative", "tottime"):
            s = io.StringIO()
            stats.stream = s
            stats.sort_stats(key).print_stats(top)
            print("[worker threads, %d containers]" % len(self.profiles))
            print("\n".join(s.getvalue().splitlines()[:top + 12]), flush=True)


def run_once(n: int, state: str, check: bool, workers: int, prof: bool, top: int, label: str) -> dict:
    ctx = build_context(params(), check)
    if prof:
        with ThreadProfiles() as threads:
            out = _run_once(ctx, n, state, check, workers, True, top, label)
        threads.print(top)
        return out
    return _run_once(ctx, n, state, check, workers, False, top, label)


def _run_once(ctx, n: int, state: str, check: bool, workers: int, prof: bool, top: int, label: str) -> dict:
    pr = cProfile.Profile() if prof else None
    t0 = B.now()
    if pr:
        pr.enable()
    task = _container_batch.ContainerTask(True, raws=entries(n, state), workers=workers)
    dummy, out = drive(_container_batch.LOGIC, ctx, task, check, with_diff=True)  # (its session)
    if pr:
        pr.disable()
    ms = (B.now() - t0) / 1e6
    failed = [cid for cid, r in out["containers"].items() if r.get("failed")]
    print("%-28s %9.1f ms  changed=%s failed=%d  (%.2f ms per container)"
          % (label, ms, out["changed"], len(failed), ms / max(n, 1)), flush=True)
    if failed:
        raise RuntimeError("%s: failed %s: %s" % (label, failed[:3], out.get("msg")))
    if pr:
        for key in ("cumulative", "tottime"):
            s = io.StringIO()
            pstats.Stats(pr, stream=s).sort_stats(key).print_stats(top)
            print("\n".join(s.getvalue().splitlines()[:top + 12]), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--profile-first", action="store_true")
    ap.add_argument("--no-profile", action="store_true", help="timings only")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/profile_batch.py must run as root", file=sys.stderr)
        return 2
    rc = B.run_isolated("f", __file__, sys.argv[1:] if argv is None else argv)
    if rc is not None:
        return rc
    prof = not args.no_profile
    B.cleanup_scenario(NET, P["cache"], NS_PREFIX, BASE)
    for d in P.values():
        os.makedirs(d, exist_ok=True)
    B.write_conflist(P["netconf"], NET)
    try:
        first = run_once(args.n, "present", False, args.workers, prof and args.profile_first, args.top, "first converge")
        if not first["changed"]:
            raise RuntimeError("first converge changed nothing")
        for check in (True, False):
            out = run_once(args.n, "present", check, args.workers, prof, args.top,
                           "idempotent re-run%s" % (" (check)" if check else ""))
            if out["changed"]:
                raise RuntimeError("idempotent re-run changed something")
        run_once(args.n, "absent", False, args.workers, False, args.top, "absent")
    finally:
        B.cleanup_scenario(NET, P["cache"], NS_PREFIX, BASE)
    bad = B.leftovers(NS_PREFIX)
    if bad:
        B.log("LEFTOVERS: %s" % bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
