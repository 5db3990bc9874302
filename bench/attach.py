# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attach and detach N namespaces: the library against direct plugin exec of the same
chain, in the same run, interleaved (so both see the same growing ruleset).

Per index i three containers are made, in a rotating order:
  raw   ``ip netns add`` + ``lo`` up + the plugin chain exec'd directly (the floor);
  attach  the library's attachment layer (``_attach.add`` / ``_attach.remove``) on a
        namespace made beforehand: the CNI part alone, compared with the raw chain;
  container  the library's whole container path (``_container.plan`` + ``execute``
        under the container lock: netns, lo, preflight, ADD, cache, record), compared
        with raw netns + lo + chain.
Then an idempotent re-run of every container (plan: nothing to do), then detach.
With ``--module`` the same is done through ansible-playbook (container_netns in a loop),
next to a loop of ``ansible.builtin.ping`` that shows Ansible's own per-item cost.

Everything runs in a network namespace of its own acting as the host (bench-phosta):
the growing ruleset never slows the real host (BENCH_NO_ISOLATION=1 runs in the host).

Usage: bench/attach.py [-n 50] [-n 200 ...] [--module] [--warmup 2] [--no-ports]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _container, _container_request, _netns  # noqa: E402
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext  # noqa: E402

NET = B.NETWORKS["attach"]
NS_DIR = "/run/netns"
NS_PREFIX = "bench-pa-"


def paths(tag: str) -> dict:
    base = os.path.join(B.WORK, "attach-%s" % tag)
    return {"base": base, "netconf": os.path.join(base, "netconf"), "cache": os.path.join(base, "cache"),
            "state": os.path.join(base, "state")}


def make_ctx(p: dict) -> HostContext:
    return HostContext(config_dir=p["netconf"], plugin_dirs=[B.CNI_PATH], cache_dir=p["cache"],
                       state_dir=p["state"])


def run_lib(n: int, warmup: int, ports: bool, res: B.Results, tag: str) -> None:
    p = paths(tag)
    B.write_conflist(p["netconf"], NET)
    ctx = make_ctx(p)
    lst = B.conflist(NET)
    raw = B.RawDriver(lst)
    conf = ctx.get_network(NET["name"])
    idx = list(range(n, n + warmup)) + list(range(n))  # warm-up first, untimed
    rawres = {}
    attach_entries = {}
    creqs = {}

    def port(base: int, i: int):
        return B.PORT_BASE + base + i if ports else None

    def raw_up(i: int) -> None:
        cid, ns = "benchpa-r-%04d" % i, os.path.join(NS_DIR, "%sr-%04d" % (NS_PREFIX, i))
        t0 = B.now()
        B.ns_add(ns)
        B.sh(["ip", "-n", os.path.basename(ns), "link", "set", "lo", "up"])
        t1 = B.now()
        rawres[i] = raw.add(cid, ns, B.port_caps(port(0, i)), args=B.cni_args_for(cid, cid))
        t2 = B.now()
        if i < n:
            res.rec("raw", "ADD chain", (t2 - t1) / 1e6)
            res.rec("raw", "netns add + lo up + ADD chain", (t2 - t0) / 1e6)

    def attach_up(i: int) -> None:
        cid, ns = "benchpa-a-%04d" % i, os.path.join(NS_DIR, "%sa-%04d" % (NS_PREFIX, i))
        _netns.create(ns)
        pm = [{"host_port": port(1000, i), "container_port": 80}] if ports else []
        t0 = B.now()
        spec = _attach.AttachmentSpec(NET["name"], "eth0", port_mappings=pm)
        attach_entries[i] = _attach.add(ctx, conf, spec, cid, cid, ns)
        dt = (B.now() - t0) / 1e6
        if i < n:
            res.rec("library", "attach (_attach.add)", dt)

    def container_up(i: int) -> None:
        cid, ns = "benchpa-c-%04d" % i, os.path.join(NS_DIR, "%sc-%04d" % (NS_PREFIX, i))
        pm = [{"host_port": port(2000, i), "container_port": 80}] if ports else []
        t0 = B.now()
        req = _container_request.ContainerRequest(ctx, cid, netns=ns, networks=[NET["name"]], port_mappings=pm)
        with ctx.container_lock(cid):
            plan = _container.plan(ctx, req)
            _container.execute(ctx, req, plan)
        dt = (B.now() - t0) / 1e6
        creqs[i] = (cid, ns, pm)
        if i < n:
            res.rec("library", "container present (plan+execute)", dt)

    def container_again(i: int) -> None:
        cid, ns, pm = creqs[i]
        t0 = B.now()
        req = _container_request.ContainerRequest(ctx, cid, netns=ns, networks=[NET["name"]], port_mappings=pm)
        with ctx.container_lock(cid):
            plan = _container.plan(ctx, req)
        dt = (B.now() - t0) / 1e6
        if plan.changed:
            raise RuntimeError("idempotent re-run of %s planned %s" % (cid, plan.actions))
        if i < n:
            res.rec("library", "container present again (idempotent)", dt)

    def raw_down(i: int) -> None:
        cid, ns = "benchpa-r-%04d" % i, os.path.join(NS_DIR, "%sr-%04d" % (NS_PREFIX, i))
        t0 = B.now()
        raw.delete(cid, ns, B.port_caps(port(0, i)), rawres.pop(i), args=B.cni_args_for(cid, cid))
        t1 = B.now()
        B.ns_del(ns)
        t2 = B.now()
        if i < n:
            res.rec("raw", "DEL chain", (t1 - t0) / 1e6)
            res.rec("raw", "DEL chain + netns del", (t2 - t0) / 1e6)

    def attach_down(i: int) -> None:
        ns = os.path.join(NS_DIR, "%sa-%04d" % (NS_PREFIX, i))
        t0 = B.now()
        _attach.remove(ctx, attach_entries.pop(i))
        dt = (B.now() - t0) / 1e6
        _netns.remove(ns)
        if i < n:
            res.rec("library", "detach (_attach.remove)", dt)

    def container_down(i: int) -> None:
        cid, ns, dummy = creqs.pop(i)
        t0 = B.now()
        req = _container_request.ContainerRequest(ctx, cid, netns=ns, networks=[], state="absent")
        with ctx.container_lock(cid):
            plan = _container.plan(ctx, req)
            _container.execute(ctx, req, plan)
        dt = (B.now() - t0) / 1e6
        if i < n:
            res.rec("library", "container absent (plan+execute)", dt)

    cnitool = B.cnitool_path()
    cenv = dict(os.environ, NETCONFPATH=p["netconf"], CNI_PATH=B.CNI_PATH)

    def cnitool_env(i: int) -> dict:
        env = dict(cenv)
        if ports:
            env["CAP_ARGS"] = json.dumps(B.port_caps(port(3000, i)))
        return env

    def cnitool_up(i: int) -> None:
        ns = os.path.join(NS_DIR, "%st-%04d" % (NS_PREFIX, i))
        _netns.create(ns)
        dt, dummy = B.timed(B.sh, [cnitool, "add", NET["name"], ns], env=cnitool_env(i))
        if i < n:
            res.rec("cnitool", "add", dt)

    def cnitool_down(i: int) -> None:
        ns = os.path.join(NS_DIR, "%st-%04d" % (NS_PREFIX, i))
        dt, dummy = B.timed(B.sh, [cnitool, "del", NET["name"], ns], env=cnitool_env(i))
        _netns.remove(ns)
        if i < n:
            res.rec("cnitool", "del", dt)

    def rotate(fns, i):
        k = i % len(fns)
        for fn in fns[k:] + fns[:k]:
            fn(i)

    B.log("library vs raw: N=%d (+%d warm-up), ports=%s" % (n, warmup, ports))
    try:
        ups, downs = [raw_up, attach_up, container_up], [raw_down, attach_down, container_down]
        if cnitool:
            ups.append(cnitool_up)
            downs.append(cnitool_down)
        else:
            res.notes.append("cnitool not found (tests/tools/build_cnitool.sh builds it): cnitool rows skipped")
        for i in idx:
            rotate(ups, i)
        for i in idx:
            container_again(i)
        for i in idx:
            rotate(downs, i)
    finally:
        for i in list(rawres):
            cid = "benchpa-r-%04d" % i
            try:
                raw.delete(cid, os.path.join(NS_DIR, "%sr-%04d" % (NS_PREFIX, i)),
                           B.port_caps(port(0, i)), rawres.pop(i), args=B.cni_args_for(cid, cid))
            except Exception as exc:  # noqa: BLE001
                B.log("cleanup raw %s: %s" % (cid, exc))
        cleanup(tag)
    suffix = " N=%d" % n
    res.ratio("library attach / raw ADD" + suffix, ("library", "attach (_attach.add)"), ("raw", "ADD chain"),
              "≤ 1.05")
    res.ratio("library detach / raw DEL" + suffix, ("library", "detach (_attach.remove)"), ("raw", "DEL chain"),
              "≤ 1.05")
    res.ratio("library container present / raw netns+lo+ADD" + suffix,
              ("library", "container present (plan+execute)"), ("raw", "netns add + lo up + ADD chain"), "≤ 1.05")
    res.ratio("library container absent / raw DEL+netns del" + suffix,
              ("library", "container absent (plan+execute)"), ("raw", "DEL chain + netns del"), "≤ 1.05")
    res.ratio("cnitool add / raw ADD" + suffix, ("cnitool", "add"), ("raw", "ADD chain"))
    res.ratio("library attach / cnitool add" + suffix, ("library", "attach (_attach.add)"), ("cnitool", "add"))
    res.ratio("library detach / cnitool del" + suffix, ("library", "detach (_attach.remove)"), ("cnitool", "del"))
    res.ratio("idempotent re-run / first run" + suffix, ("library", "container present again (idempotent)"),
              ("library", "container present (plan+execute)"), "< 0.05")


# ----------------------------------------------------------------- the module via ansible-playbook
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: ansible's own per-item cost (ping)
      ansible.builtin.ping:
      loop: "{{ ids }}"
      when: what == 'ping'
    - name: container_netns per container
      podnet.cni.container_netns:
        container_id: "{{ item }}"
        netns: "bench-pa-m-{{ item[-4:] }}"
        networks: ["%(net)s"]
        port_mappings: "{{ [{'host_port': (port_base | int) + (item[-4:] | int), 'container_port': 80}] if ports | bool else [] }}"
        state: "{{ state }}"
        cni_config_dir: "%(netconf)s"
        cni_plugin_dirs: ["%(cni_path)s"]
        cni_cache_dir: "%(cache)s"
        state_dir: "%(state)s"
      loop: "{{ ids }}"
      when: what == 'module'
"""


def run_module(n: int, ports: bool, res: B.Results, tag: str) -> None:
    p = paths(tag)
    B.write_conflist(p["netconf"], NET)
    pb = os.path.join(p["base"], "playbook.yml")
    with open(pb, "w") as f:
        f.write(PLAYBOOK % {"net": NET["name"], "netconf": p["netconf"], "cni_path": B.CNI_PATH,
                            "cache": p["cache"], "state": p["state"]})
    ids = ["benchpa-m-%04d" % i for i in range(n)]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=B.BUILD, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_PIPELINING="1", ANSIBLE_STDOUT_CALLBACK="default")
    ap = os.path.join(B.ROOT, ".venv", "bin", "ansible-playbook")

    def play(what: str, state: str = "present") -> float:
        extra = json.dumps({"ids": ids, "what": what, "state": state, "ports": ports,
                            "port_base": B.PORT_BASE + 3000})
        t0 = B.now()
        proc = subprocess.run([ap, "-i", "localhost,", "-c", "local", pb, "-e", extra], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        dt = (B.now() - t0) / 1e6
        if proc.returncode != 0:
            raise RuntimeError("ansible-playbook %s/%s failed:\n%s\n%s" % (
                what, state, proc.stdout.decode(errors="replace")[-3000:], proc.stderr.decode(errors="replace")[-2000:]))
        return dt

    B.log("module via ansible-playbook: N=%d" % n)
    try:
        empty = play("none")                        # playbook start-up, nothing run
        ping = play("ping") - empty
        first = play("module") - empty
        again = play("module") - empty
        absent = play("module", "absent") - empty
    finally:
        cleanup(tag)
    for name, total in (("ping loop (ansible per-item floor)", ping), ("container_netns present loop", first),
                        ("container_netns present again (idempotent)", again),
                        ("container_netns absent loop", absent)):
        res.rec("module", name + " per item", total / n)
    res.notes.append("module rows: (playbook wall time - empty playbook wall time) / N, one run each, N=%d; "
                     "empty playbook = %.0f ms" % (n, empty))
    res.ratio("module present / raw netns+lo+ADD N=%d" % n, ("module", "container_netns present loop per item"),
              ("raw", "netns add + lo up + ADD chain"))
    res.ratio_values("module present minus ansible ping / raw netns+lo+ADD N=%d" % n,
                     (first - ping) / n, B.stats(res.samples[("raw", "netns add + lo up + ADD chain")])["median_ms"]
                     if res.has("raw", "netns add + lo up + ADD chain") else float("nan"),
                     "module - ping per item", "raw median", basis="per item")
    res.ratio("module idempotent / module first N=%d" % n,
              ("module", "container_netns present again (idempotent) per item"),
              ("module", "container_netns present loop per item"), "< 0.05 (Ansible's per-task cost dominates)")


def cleanup(tag: str) -> None:
    p = paths(tag)
    B.cleanup_network(NET, p["cache"])
    B.remove_netns_prefixed(NS_PREFIX)
    B.ipt_sweep()
    shutil.rmtree(p["base"], ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("-n", type=int, action="append", help="containers per run (repeatable; default 50)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-ports", action="store_true", help="no port mapping per container")
    ap.add_argument("--module", action="store_true", help="also run container_netns via ansible-playbook")
    ap.add_argument("--module-n", type=int, default=None, help="N for the ansible-playbook part (default: first -n)")
    ap.add_argument("--out", default="attach", help="report name under bench/results/")
    args = ap.parse_args(argv)
    if os.geteuid() == 0:
        rc = B.run_isolated("a", __file__, sys.argv[1:] if argv is None else argv)
        if rc is not None:
            return rc
    if os.geteuid() != 0:
        print("bench/attach.py must run as root", file=sys.stderr)
        return 2
    ns = args.n or [50]
    ports = not args.no_ports
    res_all = []
    status = 0
    for n in ns:
        res = B.Results()
        res.meta.update(B.host_meta())
        res.meta.update({"N": n, "warmup": args.warmup, "ports": ports})
        cleanup("n%d" % n)
        run_lib(n, args.warmup, ports, res, "n%d" % n)
        if args.module and n == (args.module_n or ns[0]):
            run_module(n, ports, res, "m%d" % n)
        B.write_report("%s-n%d" % (args.out, n), "attach/detach, N=%d" % n, res)
        res_all.append(res)
    bad = B.leftovers(NS_PREFIX)
    if bad:
        B.log("LEFTOVERS: %s" % bad)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
