# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: every scenario, one after the other, each in its own process (each
cleans up after itself), then one summary (markdown + JSON) in bench/results/.

  attach   N = 10, 50, 200: library vs raw chain (+ the module through ansible-playbook at 50)
  batch    N = 50: one cni_attachment batch task vs sequential raw chains vs podman connect
  reload   N = 50: container_net_reload vs podman network reload --all, after a wipe (in
           an isolated "host" netns) and with nothing broken
  role     N = 50 and 200: the container_network role through ansible-playbook (first
           converge, re-run, absent, each minus an empty play) vs sequential raw chains
  task     what each module's task costs the controller before it runs (its AnsiballZ
           payload) against ansible.builtin.ping's
  rootless bench/rootless_start.py, when it exists
  fleet    1, 2, 4 managed hosts (podman containers from a Debian root fs, over SSH) x 25
           containers each through one playbook (bench/fleet.py; --quick: 1, 2 hosts x 5)

Usage: bench/run.py [--quick] [--only attach,batch,...]
  --quick  N = 10 everywhere (a smoke run, ~3 minutes)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib as B  # noqa: E402


def scenarios(quick: bool):
    ns = ["10"] if quick else ["10", "50", "200"]
    n = "10" if quick else "50"
    attach = ["attach.py", "--module", "--module-n", n]
    for x in ns:
        attach += ["-n", x]
    out = [("attach", attach, ["attach-n%s" % x for x in ns]),
           ("batch", ["batch.py", "-n", n], ["batch-n%s" % n]),
           ("reload", ["reload.py", "-n", n], ["reload-n%s" % n]),
           ("role", ["role.py"] + [a for x in (["10"] if quick else ["50", "200"]) for a in ("-n", x)],
            ["role"])]
    out.append(("task", ["task_cost.py"] + (["--rounds", "3"] if quick else []), ["task_cost"]))
    out.append(("fleet", ["fleet.py"] + (["--sizes", "1,2", "-n", "5"] if quick else []), ["fleet"]))
    if os.path.exists(os.path.join(HERE, "rootless_start.py")):
        out.append(("rootless", ["rootless_start.py", "--json", os.path.join(B.RESULTS, "rootless_start.json")],
                    ["rootless_start"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("make bench must run as root", file=sys.stderr)
        return 2
    only = set(filter(None, args.only.split(",")))
    t0 = time.time()
    status = {}
    reports = []
    for name, cmd, outs in scenarios(args.quick):
        if only and name not in only:
            continue
        B.log("=== %s: %s" % (name, " ".join(cmd)))
        t = time.time()
        rc = subprocess.call([sys.executable, os.path.join(HERE, cmd[0])] + cmd[1:])
        status[name] = {"rc": rc, "wall_s": round(time.time() - t, 1)}
        reports += list(outs)
    md = ["# make bench — %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"), "",
          "Host: %s. Load average at the start: %s." % (B.host_meta()["host"], B.host_meta()["loadavg_start"]),
          "Scenarios: " + ", ".join("%s (rc %d, %.0f s)" % (k, v["rc"], v["wall_s"]) for k, v in status.items()),
          ""]
    merged = {"status": status, "reports": {}}
    for rep in reports:
        mp, jp = os.path.join(B.RESULTS, rep + ".md"), os.path.join(B.RESULTS, rep + ".json")
        if os.path.exists(mp):
            with open(mp) as f:
                md.append(f.read())
        if os.path.exists(jp):
            with open(jp) as f:
                merged["reports"][rep] = json.load(f)
            if not os.path.exists(mp):      # a scenario that prints its own table (rootless)
                md.append("## %s\n\n```\n%s\n```\n" % (rep, json.dumps(merged["reports"][rep], indent=1)[:3000]))
    os.makedirs(B.RESULTS, exist_ok=True)
    with open(os.path.join(B.RESULTS, "summary.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(B.RESULTS, "summary.json"), "w") as f:
        json.dump(merged, f, indent=1)
    print("\n".join(md))
    B.log("all scenarios done in %.0f s; summary in %s" % (time.time() - t0,
                                                           os.path.join(B.RESULTS, "summary.md")))
    return 0 if all(v["rc"] == 0 for v in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
