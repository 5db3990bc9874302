# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reload after a firewall wipe: container_net_reload against ``podman network reload
--all`` (Debian podman, CNI backend), N containers each on the same conflist with one
port mapping, and the idempotent reload with nothing broken against a forced one.

The wipe (``iptables -t nat -F/-X``, ``-t filter -F/-X``) never touches the real host:
the whole benchmark runs in its own "host" network namespace (``bench-phost``), where
the bridge, the veths' host ends and every rule live; the containers' namespaces hang
off it. Targets (issue 5): after a wipe ours ≤ 1.0× podman; with nothing broken < 30%
of a forced reload.

Usage: bench/reload.py [-n 50] [--rounds 2] [--no-podman]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

NET = B.NETWORKS["reload"]
HOST_NS = "bench-phost"
NS_PREFIX = "bench-pr-"
BASE = os.path.join(B.WORK, "reload")
P = {"netconf": os.path.join(BASE, "netconf"), "cache": os.path.join(BASE, "cache"),
     "state": os.path.join(BASE, "state")}


def common() -> dict:
    return {"cni_config_dir": P["netconf"], "cni_plugin_dirs": [B.CNI_PATH], "cni_cache_dir": P["cache"],
            "state_dir": P["state"]}


def wipe() -> None:
    """What a firewall reload does to CNI's rules (in bench-phost only)."""
    for table in ("nat", "filter"):
        B.sh(["iptables", "-w", "-t", table, "-F"])
        B.sh(["iptables", "-w", "-t", table, "-X"])


def reload_ours(res: B.Results, op: str, force: bool = False, expect_changed: bool = True) -> None:
    dt, r = B.run_module_direct("container_net_reload", dict(common(), containers=["all"], force=force))
    if r.get("failed") or bool(r.get("changed")) != expect_changed:
        raise RuntimeError("reload (%s) gave %s" % (op, json.dumps(r)[:3000]))
    res.rec("module", op, dt)


def inner(n: int, rounds: int, with_podman: bool, out: str) -> int:
    from ansible_collections.podnet.cni.plugins.module_utils import _container, _container_request
    from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
    res = B.Results()
    res.meta.update(B.host_meta())
    res.meta.update({"N": n, "rounds": rounds, "ports": True, "host netns": HOST_NS})
    B.sh(["ip", "link", "set", "lo", "up"])
    B.write_conflist(P["netconf"], NET)
    ctx = HostContext(config_dir=P["netconf"], plugin_dirs=[B.CNI_PATH], cache_dir=P["cache"], state_dir=P["state"])
    pod = B.Podman(NET, "reload") if with_podman and B.Podman.available() else None
    try:
        B.log("reload: attaching %d containers (ours)" % n)
        for i in range(n):
            req = _container_request.ContainerRequest(ctx, "benchpr-%04d" % i, netns="%s%04d" % (NS_PREFIX, i),
                                                      networks=[NET["name"]],
                                                      port_mappings=[{"host_port": B.PORT_BASE + i, "container_port": 80}])
            _container.execute(ctx, req, _container.plan(ctx, req))
        dt_empty, dummy = B.run_module_direct("container_net_reload", dict(common(), containers=["benchpr-none"]))
        res.rec("module", "reload of nothing (Python + Ansible start-up)", dt_empty)
        if pod:
            B.log("reload: starting %d podman containers" % n)
            pod.setup()
            for i in range(n):
                pod.start("benchpr-p-%04d" % i, NET["name"], B.PORT_BASE + 1000 + i)
        elif with_podman:
            res.notes.append("podman or runc not installed: podman rows skipped (bench/peers/install_podman.sh)")
        reload_ours(res, "container_net_reload, nothing broken", expect_changed=False)
        if pod:
            dt, dummy = B.timed(pod.run, "network", "reload", "--all")
            res.rec("podman", "network reload --all, nothing broken", dt)
        reload_ours(res, "container_net_reload force=true (forced)", force=True)
        for r in range(rounds):
            order = ["ours", "podman"] if r % 2 == 0 else ["podman", "ours"]
            for who in order:
                if who == "podman" and not pod:
                    continue
                wipe()
                if who == "ours":
                    reload_ours(res, "container_net_reload after a wipe")
                else:
                    dt, dummy = B.timed(pod.run, "network", "reload", "--all")
                    res.rec("podman", "network reload --all after a wipe", dt)
        # podman's last wipe broke ours too: repair (untimed), then ours must be whole again
        dummy, r = B.run_module_direct("container_net_reload", dict(common(), containers=["all"]))
        if r.get("failed"):
            raise RuntimeError("final reload failed: %s" % json.dumps(r)[:3000])
        nat = B.sh(["iptables-save", "-t", "nat"]).stdout.decode()
        missing = [i for i in range(n) if "--dport %d " % (B.PORT_BASE + i) not in nat]
        if missing:
            raise RuntimeError("after the last reload ports of containers %s are not mapped" % missing[:5])
        reload_ours(res, "container_net_reload right after a reload", expect_changed=False)
    finally:
        if pod:
            pod.cleanup()
        B.run_module_direct("container_net_reload", dict(common(), containers=["all"], prune_stale=True))
        for i in range(n):
            req = _container_request.ContainerRequest(ctx, "benchpr-%04d" % i, netns="%s%04d" % (NS_PREFIX, i),
                                                      networks=[], state="absent")
            try:
                _container.execute(ctx, req, _container.plan(ctx, req))
            except Exception as exc:  # noqa: BLE001
                B.log("cleanup %d: %s" % (i, exc))
    res.ratio("ours / podman, reload after a wipe", ("module", "container_net_reload after a wipe"),
              ("podman", "network reload --all after a wipe"), "≤ 1.0")
    res.ratio("ours nothing broken / ours forced", ("module", "container_net_reload, nothing broken"),
              ("module", "container_net_reload force=true (forced)"), "< 0.30")
    if res.has("module", "reload of nothing (Python + Ansible start-up)") and \
            res.has("module", "container_net_reload, nothing broken"):
        def med(o):
            return res.stats("module", o)["median_ms"]

        start = med("reload of nothing (Python + Ansible start-up)")
        res.ratio_values("ours nothing broken / forced, both minus module start-up",
                         med("container_net_reload, nothing broken") - start,
                         med("container_net_reload force=true (forced)") - start,
                         "nothing broken - start-up", "forced - start-up", "< 0.30")
    res.ratio("ours after a wipe / ours forced", ("module", "container_net_reload after a wipe"),
              ("module", "container_net_reload force=true (forced)"))
    res.ratio("ours nothing broken / podman nothing broken", ("module", "container_net_reload, nothing broken"),
              ("podman", "network reload --all, nothing broken"))
    B.write_report("%s-n%d" % (out, n), "reload after a wipe, N=%d (totals, ms)" % n, res)
    return 0


def cleanup_outer() -> None:
    B.sh(["ip", "netns", "del", HOST_NS], check=False)
    B.remove_netns_prefixed(NS_PREFIX)
    B.remove_netns_prefixed(HOST_NS)
    shutil.rmtree("/var/lib/cni/networks/%s" % NET["name"], ignore_errors=True)
    # podman's libcni cache: a DEL that failed after the wipe leaves entries (libcni
    # stops at the first plugin error); their namespaces and rules died with HOST_NS
    for f in glob.glob("/var/lib/cni/results/%s-*" % NET["name"]):
        os.unlink(f)
    shutil.rmtree(BASE, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-podman", action="store_true")
    ap.add_argument("--out", default="reload")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/reload.py must run as root", file=sys.stderr)
        return 2
    if args.inner:
        return inner(args.n, args.rounds, not args.no_podman, args.out)
    cleanup_outer()
    B.sh(["ip", "netns", "add", HOST_NS])
    try:
        # nsenter, not `ip netns exec`: that remounts /sys without the cgroup mounts runc needs
        argv2 = ["nsenter", "--net=/run/netns/%s" % HOST_NS, "--", B.VENV_PY, os.path.abspath(__file__), "--inner", "-n", str(args.n),
                 "--rounds", str(args.rounds), "--out", args.out] + (["--no-podman"] if args.no_podman else [])
        rc = subprocess.call(argv2)
    finally:
        cleanup_outer()       # deleting the "host" netns takes its bridge and rules with it
    bad = B.leftovers(NS_PREFIX)
    if bad:
        B.log("LEFTOVERS: %s" % bad)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
