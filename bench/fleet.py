# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet: 1, 2 and 4 managed hosts x 25 containers each, through one playbook over SSH
(forks >= hosts), as a user runs the collection: the container_network role, one bridge
network, one host port per container, `become` from a login user.

The hosts are the fleet test bed's (tests/tools/fleet_hosts.py): privileged podman
containers from one Debian 12 root fs, on a podman network of their own. They are made
once, provisioned once with cni_host (packages from Debian's mirror: reported, not part
of the figures), then each fleet size runs, on the first N hosts:
  ping     one play with one ping: connection set-up plus one module round trip (the
           "empty play" of this shape; subtracted in the "minus ping" column)
  first    container_network, 25 containers present (namespace, bridge, veth, IP, port)
  again    the same playbook: nothing to do
  absent   the 25 containers absent
Each phase records the wall time, the CPU time spent inside each host (its cgroup's
cpuacct.usage) and on the controller (ansible-playbook and every process it waited for).

All hosts share this machine's cores (2 here): past 2 busy hosts the wall time is bound by
CPU, not by the hosts' count. The report says what the figure would be with a core per
host (the 1-host wall time, as long as the controller keeps up) and the CPU floor
(all CPU seconds / cores) the measured figure meets.

Names: pnxb + a random suffix; hosts' network 10.240.250.0/24; containers 10.241.250.0/24
inside each host; host ports 21420-21444 (inside each host). Root only; cleans up (and
checks that nothing is left) even on failure.

Usage: bench/fleet.py [--sizes 1,2,4] [-n 25] [--repeat 1] [--out fleet]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from typing import Any, Dict, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import benchlib as B  # noqa: E402
import fleet_hosts as F  # noqa: E402

SUBNET = "10.240.250.0/24"
CONTAINER_NET = "10.241.250"
PORT_BASE = 21420
ANSIBLE_PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")


def write_inventory(fleet: F.Fleet, hosts: Sequence[Dict[str, Any]]) -> Tuple[str, str]:
    """An ordinary INI inventory and ansible.cfg for the hosts (what a user would write)."""
    inv = os.path.join(fleet.dir, "inventory.ini")
    ssh_args = ("-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
                "-o ControlMaster=auto -o ControlPersist=300s -o ControlPath={cp}/cp-%C").format(
                    kh=fleet.known_hosts, cp=fleet.ssh)
    lines = ["[fleet]"]
    lines += ["%s ansible_host=%s" % (h["instance"], h["address"]) for h in hosts]
    lines += ["", "[fleet:vars]", "ansible_user=%s" % F.LOGIN_USER,
              "ansible_ssh_private_key_file=%s" % fleet.key,
              "ansible_ssh_common_args='%s'" % ssh_args,
              "ansible_python_interpreter=/usr/bin/python3", "ansible_become=true", ""]
    with open(inv, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    cfg = os.path.join(fleet.dir, "ansible.cfg")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write("[defaults]\nforks = 16\nstdout_callback = ansible.builtin.default\n"
                "[connection]\npipelining = true\n")
    return inv, cfg


def write_playbooks(fleet: F.Fleet, n_containers: int) -> Dict[str, str]:
    net = fleet.id + "-net"
    containers = [{"id": "%s-c%02d" % (fleet.id, i), "netns": "%s-c%02d" % (fleet.id, i),
                   "networks": [net],
                   "port_mappings": [{"host_port": PORT_BASE + i, "container_port": 80}]}
                  for i in range(n_containers)]
    common = {"hosts": "fleet", "gather_facts": False}
    books = {
        "provision": [dict(common, name="provision", roles=[{"role": "podnet.cni.cni_host"}],
                           vars={"cni_host_networks": [{"name": net, "bridge": fleet.id + "0",
                                                        "subnets": [{"subnet": CONTAINER_NET + ".0/24"}]}]})],
        "ping": [dict(common, name="ping", tasks=[{"name": "ping", "ansible.builtin.ping": {}}])],
        "first": [dict(common, name="present", roles=[{"role": "podnet.cni.container_network"}],
                       vars={"container_network_containers": containers})],
        "absent": [dict(common, name="absent", roles=[{"role": "podnet.cni.container_network"}],
                        vars={"container_network_containers": [dict(c, state="absent") for c in containers]})],
    }
    books["again"] = books["first"]
    paths = {}
    for name, play in books.items():
        paths[name] = os.path.join(fleet.dir, "%s.yml" % name)
        with open(paths[name], "w", encoding="utf-8") as f:
            json.dump(play, f, indent=1)   # JSON is YAML
    return paths


def host_cgroups(fleet: F.Fleet, hosts: Sequence[Dict[str, Any]]) -> Dict[str, str]:
    """Each host's cpuacct.usage file (cgroup v1 or v2's cpu.stat), from its PID 1."""
    out = {}
    for h in hosts:
        pid = fleet.podman("inspect", "--format", "{{.State.Pid}}", str(h["container"])).stdout.decode().strip()
        with open("/proc/%s/cgroup" % pid, encoding="utf-8") as f:
            for line in f:
                ctrls, path = line.rstrip("\n").split(":", 2)[1:]
                if "cpuacct" in ctrls.split(","):
                    out[str(h["instance"])] = "/sys/fs/cgroup/%s%s/cpuacct.usage" % (ctrls, path)
                elif ctrls == "" and str(h["instance"]) not in out:
                    out[str(h["instance"])] = "/sys/fs/cgroup%s/cpu.stat" % path
    return out


def cpu_seconds(path: str) -> float:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith("cpu.stat"):
        usec = next(int(line.split()[1]) for line in text.splitlines() if line.startswith("usage_usec"))
        return usec / 1e6
    return int(text) / 1e9


def run_playbook(inv: str, cfg: str, book: str, limit: Sequence[str], cgroups: Dict[str, str],
                 forks: int) -> Dict[str, Any]:
    env = dict(os.environ, ANSIBLE_CONFIG=cfg, ANSIBLE_COLLECTIONS_PATH=B.BUILD,
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_NOCOLOR="1", PYTHONPATH=B.BUILD)
    before = {h: cpu_seconds(p) for h, p in cgroups.items()}
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", inv, "--limit", ",".join(limit),
                           "--forks", str(forks), book], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc %d):\n%s" % (book, proc.returncode, out[-4000:]))
    host_cpu = {h: round(cpu_seconds(cgroups[h]) - before[h], 2) for h in limit}
    changed = {h: int(m) for h, m in
               ((line.split()[0], line.split("changed=")[1].split()[0]) for line in out.splitlines()
                if " changed=" in line and line.split()[0] in limit)}
    return {"wall_s": round(wall, 2),
            "controller_cpu_s": round((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 2),
            "host_cpu_s": host_cpu, "changed": changed}


def markdown(res: Dict[str, Any]) -> str:
    m = res["meta"]
    lines = ["## fleet: %d containers per host, container_network over SSH" % m["containers_per_host"], "",
             "Run: %s; %s; provision (cni_host, apt, %d hosts at once): %.0f s." % (
                 m["host"], m["start"], m["hosts_made"], m["provision_s"]), "",
             "| hosts | phase | wall s | minus ping s | per host s | CPU in hosts s (max per host) "
             "| controller CPU s | CPU floor s | changed per host |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in res["rows"]:
        lines.append("| %d | %s | %.1f | %s | %.1f | %.1f (%.1f) | %.1f | %.1f | %s |" % (
            row["hosts"], row["phase"], row["wall_s"],
            "%.1f" % row["minus_ping_s"] if row["minus_ping_s"] is not None else "–",
            row["wall_s"] / row["hosts"], row["host_cpu_total_s"], row["host_cpu_max_s"],
            row["controller_cpu_s"], row["cpu_floor_s"],
            ",".join(str(v) for v in row["changed"].values())))
    lines += ["", "- per host s = wall / hosts; CPU floor = (CPU in hosts + controller CPU) / %d cores: "
              "a wall time at the floor means the run was CPU-bound." % m["cores"]]
    for note in res["notes"]:
        lines.append("- %s" % note)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--sizes", default="1,2,4")
    ap.add_argument("-n", type=int, default=25, help="containers per host (at most 25)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--release", default="bookworm")
    ap.add_argument("--out", default="fleet")
    args = ap.parse_args(list(argv) or None)
    if os.geteuid() != 0:
        print("bench/fleet.py must run as root", file=sys.stderr)
        return 2
    sizes = sorted({int(x) for x in args.sizes.split(",")})
    n = min(max(args.n, 1), 25)
    run_id = "pnxb" + secrets.token_hex(2)
    fleet = F.Fleet(run_id, "/var/tmp/" + run_id, SUBNET)
    res: Dict[str, Any] = {"meta": dict(B.host_meta(), containers_per_host=n, cores=os.cpu_count() or 1,
                                        hosts_made=max(sizes), release=args.release),
                           "rows": [], "notes": []}
    rc = 0
    try:
        t0 = time.perf_counter()
        hosts = fleet.up([("b%d" % (i + 1), args.release) for i in range(max(sizes))], [])
        res["meta"]["hosts_up_s"] = round(time.perf_counter() - t0, 1)
        inv, cfg = write_inventory(fleet, hosts)
        books = write_playbooks(fleet, n)
        cgroups = host_cgroups(fleet, hosts)
        names = [str(h["instance"]) for h in hosts]
        B.log("hosts up in %.0f s; provisioning with cni_host" % res["meta"]["hosts_up_s"])
        prov = run_playbook(inv, cfg, books["provision"], names, cgroups, len(names))
        res["meta"]["provision_s"] = prov["wall_s"]
        for size in sizes:
            limit = names[:size]
            for rep in range(args.repeat):
                ping = None
                for phase in ("ping", "first", "again", "absent"):
                    B.log("%d host(s), %s%s" % (size, phase, " (repeat %d)" % (rep + 1) if args.repeat > 1 else ""))
                    r = run_playbook(inv, cfg, books[phase], limit, cgroups, max(size, 5))
                    if phase == "ping":
                        ping = r["wall_s"]
                    total = sum(r["host_cpu_s"].values())
                    res["rows"].append({
                        "hosts": size, "phase": phase, "repeat": rep + 1, "wall_s": r["wall_s"],
                        "minus_ping_s": round(r["wall_s"] - ping, 2) if phase != "ping" and ping else None,
                        "host_cpu_total_s": round(total, 2), "host_cpu_max_s": max(r["host_cpu_s"].values()),
                        "controller_cpu_s": r["controller_cpu_s"],
                        "cpu_floor_s": round((total + r["controller_cpu_s"]) / res["meta"]["cores"], 2),
                        "changed": r["changed"], "host_cpu_s": r["host_cpu_s"]})
        first = {row["hosts"]: row for row in res["rows"] if row["phase"] == "first" and row["repeat"] == 1}
        if 1 in first:
            one = first[1]
            res["notes"].append(
                "with a core per host (and a controller that keeps up), every fleet size would take about "
                "the 1-host first converge, %.1f s; here %s" % (one["wall_s"], ", ".join(
                    "%d hosts take %.1f s (%.2fx)" % (k, v["wall_s"], v["wall_s"] / one["wall_s"])
                    for k, v in sorted(first.items()) if k > 1)))
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        B.log("failed: %s" % e)
        res["notes"].append("FAILED: %s" % str(e)[:500])
        rc = 1
    finally:
        problems = fleet.down()
        left = fleet.leftovers()
        if problems or left:
            B.log("cleanup: %s %s" % (problems, json.dumps(left)))
            res["notes"].append("cleanup problems: %s %s" % (problems, left))
            rc = 1
    os.makedirs(B.RESULTS, exist_ok=True)
    with open(os.path.join(B.RESULTS, args.out + ".json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
    md = markdown(res) if res["rows"] else "## fleet\n\n" + "\n".join("- %s" % x for x in res["notes"]) + "\n"
    with open(os.path.join(B.RESULTS, args.out + ".md"), "w", encoding="utf-8") as f:
        f.write(md)
    print(md, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
