# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared pieces of the benchmarks: names, the conflist, the raw plugin driver (the
floor), statistics, cleanup and the markdown/JSON report.

Everything a benchmark creates is named ``bench-p…`` / ``benchp…`` (netns, networks,
bridges, container ids) and lies in 10.213.64.0/18 (10.213.0.0/16 is the benchmarks'
range; baseline.sh uses the lower quarter), the role scenario's network in 10.213.128.0/20.
Host ports start at 46000.
"""
from __future__ import annotations

import glob
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, ".build")
if BUILD not in sys.path:
    sys.path.insert(0, BUILD)

CNI_PATH = os.environ.get("CNI_PATH", "/usr/lib/cni")
WORK = os.environ.get("BENCH_WORK", "/tmp/bench-podnet")
RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(ROOT, "bench", "results"))
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "46000"))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")

# one network per scenario, so scenarios never see each other's rules
NETWORKS = {
    "attach": dict(name="bench-pattach", bridge="benchpbr0", subnet="10.213.64.0/20", gw="10.213.64.1"),
    "batch": dict(name="bench-pbatch", bridge="benchpbr1", subnet="10.213.80.0/20", gw="10.213.80.1"),
    "reload": dict(name="bench-preload", bridge="benchpbr2", subnet="10.213.96.0/20", gw="10.213.96.1"),
    "podman": dict(name="bench-ppod", bridge="benchpbr3", subnet="10.213.112.0/20", gw="10.213.112.1"),
    "role": dict(name="bench-prole", bridge="benchpbr4", subnet="10.213.128.0/20", gw="10.213.128.1"),
}
MARK = re.compile(r"10\.213\.(6[4-9]|[7-9][0-9]|1[0-3][0-9]|14[0-3])\.|bench-p(attach|batch|reload|pod|role)")
SHARED_CHAINS = {"CNI-FORWARD", "CNI-ADMIN", "CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK",
                 "CNI-HOSTPORT-MASQ", "CNI-ISOLATION-STAGE-1", "CNI-ISOLATION-STAGE-2"}

now = time.perf_counter_ns


def log(*args: Any) -> None:
    print("[bench]", *args, file=sys.stderr, flush=True)


def sh(cmd: Sequence[str], env: Optional[Dict[str, str]] = None, inp: Optional[bytes] = None,
       check: bool = True, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), env=env, input=inp, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("%s -> rc %d: %s" % (" ".join(map(str, cmd)), proc.returncode,
                                                proc.stderr.decode(errors="replace").strip()[-1500:]))
    return proc


def conflist(net: Dict[str, str], data_dir: Optional[str] = None) -> Dict[str, Any]:
    """The shape podman v3/v4 (CNI backend) writes: bridge + host-local + portmap +
    firewall + tuning; the same as baseline.sh."""
    ipam: Dict[str, Any] = {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                            "ranges": [[{"subnet": net["subnet"], "gateway": net["gw"]}]]}
    if data_dir:
        ipam["dataDir"] = data_dir
    return {"cniVersion": "0.4.0", "name": net["name"], "plugins": [
        {"type": "bridge", "bridge": net["bridge"], "isGateway": True, "ipMasq": True,
         "hairpinMode": True, "ipam": ipam, "capabilities": {"ips": True}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall", "backend": ""},
        {"type": "tuning"}]}


def write_conflist(config_dir: str, net: Dict[str, str]) -> str:
    os.makedirs(config_dir, mode=0o755, exist_ok=True)
    path = os.path.join(config_dir, "%s.conflist" % net["name"])
    with open(path, "w") as f:
        json.dump(conflist(net), f, indent=1)
    return path


# ----------------------------------------------------------------- the raw floor
class RawDriver:
    """Exec each plugin of a conflist the way libcni does, nothing more: the floor the
    library is compared with. Same env, stdin and CNI_ARGS as the library passes."""

    def __init__(self, lst: Dict[str, Any]) -> None:
        self.lst = lst
        self.base_env = dict(os.environ)

    def stdin(self, plugin: Dict[str, Any], prev: Optional[Dict[str, Any]], caps: Dict[str, Any]) -> bytes:
        c = dict(plugin)
        c["name"] = self.lst["name"]
        c["cniVersion"] = self.lst["cniVersion"]
        rc = {k: caps[k] for k, on in (plugin.get("capabilities") or {}).items() if on and k in caps}
        if rc:
            c["runtimeConfig"] = rc
        if prev is not None:
            c["prevResult"] = prev
        return json.dumps(c).encode()

    def env(self, cmd: str, cid: str, netns: str, ifname: str, args: str) -> Dict[str, str]:
        env = dict(self.base_env)
        env.update(CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=netns, CNI_ARGS=args,
                   CNI_IFNAME=ifname, CNI_PATH=CNI_PATH)
        return env

    def run(self, ptype: str, cmd: str, env: Dict[str, str], stdin: bytes) -> Optional[Dict[str, Any]]:
        p = subprocess.run([os.path.join(CNI_PATH, ptype)], env=env, input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if p.returncode != 0:
            raise RuntimeError("%s %s: rc %d: %r %r" % (ptype, cmd, p.returncode, p.stdout[-800:],
                                                        p.stderr[-800:]))
        return json.loads(p.stdout) if cmd == "ADD" else None

    def add(self, cid: str, netns: str, caps: Dict[str, Any], ifname: str = "eth0",
            args: str = "") -> Dict[str, Any]:
        prev = None
        env = self.env("ADD", cid, netns, ifname, args)
        for plugin in self.lst["plugins"]:
            prev = self.run(plugin["type"], "ADD", env, self.stdin(plugin, prev, caps))
        return prev or {}

    def delete(self, cid: str, netns: str, caps: Dict[str, Any], result: Optional[Dict[str, Any]],
               ifname: str = "eth0", args: str = "") -> None:
        env = self.env("DEL", cid, netns, ifname, args)
        for plugin in reversed(self.lst["plugins"]):
            self.run(plugin["type"], "DEL", env, self.stdin(plugin, result, caps))


def cni_args_for(cid: str, name: str) -> str:
    """The CNI_ARGS the library passes (podman/ocicni's set), so raw and library send
    the plugins identical input."""
    return "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s" % (
        name, name, cid)


def port_caps(port: Optional[int]) -> Dict[str, Any]:
    if port is None:
        return {}
    return {"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]}


def cnitool_path() -> Optional[str]:
    for cand in (os.environ.get("CNITOOL"), shutil.which("cnitool"), "/var/cache/podnet-test/cnitool/cnitool"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def ns_add(path: str) -> None:
    sh(["ip", "netns", "add", os.path.basename(path)])


def ns_del(path: str) -> None:
    sh(["ip", "netns", "del", os.path.basename(path)], check=False)


# ----------------------------------------------------------------- statistics
class Results:
    def __init__(self) -> None:
        self.samples: Dict[Tuple[str, str], List[float]] = {}
        self.ratios: List[Dict[str, Any]] = []
        self.notes: List[str] = []
        self.meta: Dict[str, Any] = {}

    def rec(self, tool: str, op: str, ms: float) -> None:
        self.samples.setdefault((tool, op), []).append(ms)

    def has(self, tool: str, op: str) -> bool:
        return bool(self.samples.get((tool, op)))

    def stats(self, tool: str, op: str) -> Dict[str, Any]:
        return stats(self.samples[(tool, op)])

    def ratio(self, what: str, num: Tuple[str, str], den: Tuple[str, str], target: Optional[str] = None,
              key: str = "median_ms") -> Optional[float]:
        if not (self.has(*num) and self.has(*den)):
            return None
        a, b = self.stats(*num)[key], self.stats(*den)[key]
        r = a / b if b else float("inf")
        self.ratios.append({"what": what, "numerator": " / ".join(num), "denominator": " / ".join(den),
                            "num_ms": round(a, 2), "den_ms": round(b, 2), "ratio": round(r, 3),
                            "basis": key, "target": target})
        return r

    def ratio_values(self, what: str, a: float, b: float, num: str, den: str,
                     target: Optional[str] = None, basis: str = "total") -> float:
        r = a / b if b else float("inf")
        self.ratios.append({"what": what, "numerator": num, "denominator": den, "num_ms": round(a, 2),
                            "den_ms": round(b, 2), "ratio": round(r, 3), "basis": basis, "target": target})
        return r

    def trend(self, tool: str, op: str) -> Optional[Dict[str, Any]]:
        v = self.samples.get((tool, op)) or []
        if len(v) < 8:
            return None
        q = len(v) // 4
        return {"q1_median_ms": round(statistics.median(v[:q]), 2),
                "q4_median_ms": round(statistics.median(v[-q:]), 2),
                "q4_over_q1": round(statistics.median(v[-q:]) / statistics.median(v[:q]), 3)}

    def rows(self) -> List[Dict[str, Any]]:
        out = []
        for (tool, op), v in self.samples.items():
            row = {"tool": tool, "op": op}
            row.update({k: (round(x, 3) if isinstance(x, float) else x) for k, x in stats(v).items()})
            t = self.trend(tool, op)
            if t:
                row["trend"] = t
            out.append(row)
        return out

    def to_json(self) -> Dict[str, Any]:
        return {"meta": self.meta, "results": self.rows(), "ratios": self.ratios, "notes": self.notes,
                "samples_ms": [{"tool": t, "op": o, "ms": [round(x, 3) for x in v]}
                               for (t, o), v in self.samples.items()]}

    def markdown(self, title: str) -> str:
        lines = ["## %s" % title, ""]
        if self.meta:
            lines.append("Run: " + ", ".join("%s=%s" % (k, v) for k, v in self.meta.items()
                                             if k in ("N", "warmup", "ports", "start", "loadavg_start",
                                                      "host")))
            lines.append("")
        lines += ["| tool | operation | n | median ms | p95 ms | mean ms | Q4/Q1 median |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r in self.rows():
            t = r.get("trend") or {}
            lines.append("| %s | %s | %d | %.1f | %.1f | %.1f | %s |" % (
                r["tool"], r["op"], r["n"], r["median_ms"], r["p95_ms"], r["mean_ms"],
                "%.2f" % t["q4_over_q1"] if t else "–"))
        if self.ratios:
            lines += ["", "| ratio | numerator | denominator | value | target |", "|---|---|---|---:|---|"]
            for r in self.ratios:
                lines.append("| %s | %s (%.1f ms) | %s (%.1f ms) | **%.3f×** | %s |" % (
                    r["what"], r["numerator"], r["num_ms"], r["denominator"], r["den_ms"], r["ratio"],
                    r["target"] or ""))
        for n in self.notes:
            lines.append("")
            lines.append("- note: %s" % n)
        return "\n".join(lines) + "\n"


def stats(xs: Sequence[float]) -> Dict[str, Any]:
    s = sorted(xs)
    n = len(s)
    return {"n": n, "mean_ms": statistics.fmean(s), "median_ms": statistics.median(s),
            "p95_ms": s[max(0, math.ceil(0.95 * n) - 1)],  # nearest rank
            "min_ms": s[0], "max_ms": s[-1]}


def timed(fn: Callable[..., Any], *a: Any, **k: Any) -> Tuple[float, Any]:
    t = now()
    r = fn(*a, **k)
    return (now() - t) / 1e6, r


def host_meta() -> Dict[str, Any]:
    cpu = "?"
    try:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), "?")
    except OSError:
        pass
    plugins = sh(["dpkg-query", "-W", "-f", "${Version}", "containernetworking-plugins"],
                 check=False).stdout.decode().strip()
    return {"host": "%d cpus, %s, kernel %s, plugins %s" % (os.cpu_count() or 0, cpu, os.uname().release,
                                                            plugins or "?"),
            "start": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "loadavg_start": " ".join(open("/proc/loadavg").read().split()[:3])}


def write_report(name: str, title: str, res: Results) -> Tuple[str, str]:
    os.makedirs(RESULTS, exist_ok=True)
    jpath = os.path.join(RESULTS, "%s.json" % name)
    mpath = os.path.join(RESULTS, "%s.md" % name)
    with open(jpath, "w") as f:
        json.dump(res.to_json(), f, indent=1)
    md = res.markdown(title)
    with open(mpath, "w") as f:
        f.write(md)
    print(md, flush=True)
    return jpath, mpath


# ----------------------------------------------------------------- cleanup
def ipt_sweep() -> List[str]:
    """Remove iptables rules that mention our subnets or networks (and the per-attachment
    chains only they jump to). Shared CNI chains are never flushed."""
    found = []
    for table in ("filter", "nat", "mangle", "raw"):
        p = sh(["iptables-save", "-t", table], check=False)
        lines = p.stdout.decode(errors="replace").splitlines()
        ours = [l for l in lines if l.startswith("-A ") and MARK.search(l)]
        targets = set()
        for l in ours:
            found.append("%s: %s" % (table, l))
            toks = shlex.split(l)
            if "-j" in toks:
                t = toks[toks.index("-j") + 1]
                if t.startswith("CNI-") and t not in SHARED_CHAINS:
                    targets.add(t)
        for l in ours:
            sh(["iptables", "-w", "-t", table, "-D"] + shlex.split(l)[1:], check=False)
        for c in targets:
            rest = [l for l in lines if l.startswith("-A %s " % c)]
            if all(MARK.search(l) for l in rest):
                sh(["iptables", "-w", "-t", table, "-F", c], check=False)
                sh(["iptables", "-w", "-t", table, "-X", c], check=False)
    return found


def link_names(filter_args: Sequence[str] = ()) -> List[str]:
    """Links of the current netns (netlink: /sys may belong to another netns under nsenter)."""
    out = sh(["ip", "-o", "link", "show"] + list(filter_args), check=False).stdout.decode(errors="replace")
    return [l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if ":" in l]


def del_links(prefixes: Sequence[str]) -> None:
    for v in link_names():
        if v.startswith(tuple(prefixes)):
            sh(["ip", "link", "del", v], check=False)


def remove_netns_prefixed(prefix: str, run_dir: str = "/run/netns") -> List[str]:
    gone = []
    if os.path.isdir(run_dir):
        for n in os.listdir(run_dir):
            if n.startswith(prefix):
                path = os.path.join(run_dir, n)
                sh(["umount", "-l", path], check=False)
                try:
                    os.unlink(path)
                except OSError:
                    pass
                gone.append(n)
    return gone


def cleanup_network(net: Dict[str, str], cache_dir: Optional[str] = None) -> None:
    """DEL every cached attachment of net (from cache_dir), then sweep what is left."""
    if cache_dir and os.path.isdir(os.path.join(cache_dir, "results")):
        from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
        from ansible_collections.podnet.cni.plugins.module_utils import _attach
        from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
        ctx = HostContext(config_dir=os.path.join(WORK, "none"), plugin_dirs=[CNI_PATH],
                          cache_dir=cache_dir, state_dir=os.path.join(WORK, "state-cleanup"))
        for e in cnicache.list_entries(cache_dir, network=net["name"]):
            try:
                _attach.remove(ctx, e, netns=e.netns if os.path.exists(e.netns) else "",
                               tolerate=lambda err: True)
            except Exception as exc:  # noqa: BLE001 - best effort
                log("cleanup DEL %s: %s" % (e.container_id, exc))
                cnicache.delete(cache_dir, e.network, e.container_id, e.ifname)
    if net["bridge"] in link_names():
        for port in link_names(["master", net["bridge"]]):
            sh(["ip", "link", "del", port], check=False)
        sh(["ip", "link", "del", net["bridge"]], check=False)
    shutil.rmtree("/var/lib/cni/networks/%s" % net["name"], ignore_errors=True)
    for f in glob.glob("/var/lib/cni/results/%s-*" % net["name"]):
        os.unlink(f)


def cleanup_scenario(net: Dict[str, str], cache_dir: str, ns_prefix: str, base: str) -> None:
    """Everything one scenario made: its network's attachments, namespaces, rules, files."""
    cleanup_network(net, cache_dir)
    remove_netns_prefixed(ns_prefix)
    ipt_sweep()
    shutil.rmtree(base, ignore_errors=True)


def leftovers(ns_prefix: str = "bench-p") -> List[str]:
    bad = []
    if os.path.isdir("/run/netns"):
        bad += ["netns %s" % n for n in os.listdir("/run/netns") if n.startswith(ns_prefix)]
    bad += ["link %s" % n for n in link_names() if n.startswith("benchp")]
    for t in ("filter", "nat"):
        bad += ["iptables %s: %s" % (t, l) for l in sh(["iptables-save", "-t", t], check=False)
                .stdout.decode(errors="replace").splitlines() if l.startswith("-A") and MARK.search(l)]
    for net in NETWORKS.values():
        bad += glob.glob("/var/lib/cni/networks/%s" % net["name"])
        bad += glob.glob("/var/lib/cni/results/%s-*" % net["name"])
    return bad


# ----------------------------------------------------------------- running our modules
def run_module_direct(module: str, args: Dict[str, Any], check: bool = False) -> Tuple[float, Dict[str, Any]]:
    """The module file run with an args file (the code Ansible runs, without Ansible):
    (wall ms, result)."""
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "args-%s-%d.json" % (module, os.getpid()))
    body = dict(args)
    body["_ansible_check_mode"] = check
    with open(path, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": body}, f)
    env = dict(os.environ, PYTHONPATH=BUILD)
    t0 = now()
    proc = subprocess.run([VENV_PY, os.path.join(ROOT, "plugins", "modules", "%s.py" % module), path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    dt = (now() - t0) / 1e6
    os.unlink(path)
    out = proc.stdout.decode(errors="replace")
    try:
        res = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
    except ValueError:
        res = {"failed": True, "msg": "no JSON: %s %s" % (out[-1500:], proc.stderr.decode(errors="replace")[-1500:])}
    return dt, res


def run_playbook(tasks_yaml: str, extra: Dict[str, Any], name: str, section: str = "tasks") -> float:
    """One play on localhost with the given tasks (or roles: ``section="roles"``); wall ms.
    Raises on failure."""
    os.makedirs(WORK, exist_ok=True)
    pb = os.path.join(WORK, "%s.yml" % name)
    with open(pb, "w") as f:
        f.write("- hosts: localhost\n  gather_facts: false\n  vars:\n"
                "    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n  %s:\n"
                % section + tasks_yaml)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=BUILD, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_PIPELINING="1")
    t0 = now()
    proc = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           pb, "-e", json.dumps(extra)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    dt = (now() - t0) / 1e6
    os.unlink(pb)
    if proc.returncode != 0:
        raise RuntimeError("ansible-playbook %s failed:\n%s\n%s" % (name, proc.stdout.decode(errors="replace")[-3000:],
                                                                    proc.stderr.decode(errors="replace")[-2000:]))
    return dt


# ----------------------------------------------------------------- podman (CNI backend)
class Podman:
    """Debian's podman with the CNI backend, private root/runroot/containers.conf and a
    network config dir holding only our conflist; containers from a busybox --rootfs."""

    def __init__(self, net: Dict[str, str], tag: str) -> None:
        self.net = net
        self.base = os.path.join(WORK, "podman-%s" % tag)
        self.runroot = "/run/bench-ppodman-%s" % tag
        self.netconf = os.path.join(self.base, "cni")
        self.conf = os.path.join(self.base, "containers.conf")
        self.rootfs = os.path.join(self.base, "rootfs")
        self.cmd = ["podman", "--root", os.path.join(self.base, "root"), "--runroot", self.runroot]
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf)
        self.names: List[str] = []

    @staticmethod
    def available() -> bool:
        return shutil.which("podman") is not None and shutil.which("runc") is not None

    def setup(self) -> None:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: reap conmon
        os.makedirs(self.netconf, exist_ok=True)
        os.makedirs(os.path.join(self.runroot, "tmp"), exist_ok=True)
        write_conflist(self.netconf, self.net)
        with open(self.conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                    '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                    'tmp_dir = "%s/tmp"\n[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["%s"]\n'
                    'network_config_dir = "%s"\n' % (self.runroot, CNI_PATH, self.netconf))
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "run"):
            os.makedirs(os.path.join(self.rootfs, d), exist_ok=True)
        bb = shutil.which("busybox") or "/bin/busybox"
        shutil.copy2(bb, os.path.join(self.rootfs, "bin", "busybox"))
        for l in ("sh", "sleep"):
            if not os.path.lexists(os.path.join(self.rootfs, "bin", l)):
                os.symlink("busybox", os.path.join(self.rootfs, "bin", l))
        be = self.run("info", "--format", "{{.Host.NetworkBackend}}").stdout.decode().strip()
        if be != "cni":
            raise RuntimeError("podman network backend is %r, not cni" % be)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh(self.cmd + list(args), env=self.env, check=check)

    def start(self, name: str, network: str, port: Optional[int] = None) -> None:
        a = ["run", "-d", "--name", name, "--network", network]
        if port:
            a += ["-p", "%d:80/tcp" % port]
        self.run(*(a + ["--rootfs", self.rootfs, "sleep", "1000000"]))
        self.names.append(name)

    @staticmethod
    def reap() -> None:
        while True:
            try:
                pid, dummy = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def cleanup(self) -> None:
        if os.path.exists(self.conf):
            self.run("rm", "-a", "-f", "-t", "0", check=False)
            self.reap()
        mounts = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4]
                if mp.startswith((self.base + "/", self.runroot + "/")) or mp == self.runroot:
                    mounts.append(mp)
        for mp in sorted(mounts, key=len, reverse=True):
            sh(["umount", "-l", mp], check=False)
        shutil.rmtree(self.runroot, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)


# ----------------------------------------------------------------- an isolated "host"
def run_isolated(tag: str, script: str, argv: Sequence[str]) -> Optional[int]:
    """Re-run script inside a fresh network namespace ``bench-phost<tag>`` acting as the
    host (bridges, veth host ends, every iptables rule live there and die with it), so
    a benchmark never bloats or disturbs the real host's ruleset. Returns the inner
    exit code, or None when already inside (the caller then does the work)."""
    if os.environ.get("BENCH_INNER") == "1" or os.environ.get("BENCH_NO_ISOLATION") == "1":
        return None
    name = "bench-phost%s" % tag
    sh(["ip", "netns", "del", name], check=False)
    sh(["ip", "netns", "add", name])
    try:
        # nsenter, not `ip netns exec`: that remounts /sys without the cgroup mounts runc needs
        inner = ["nsenter", "--net=/run/netns/%s" % name, "--", VENV_PY, os.path.abspath(script)] + list(argv)
        env = dict(os.environ, BENCH_INNER="1")
        subprocess.run(inner[:3] + ["ip", "link", "set", "lo", "up"], check=False)
        return subprocess.call(inner, env=env)
    finally:
        sh(["ip", "netns", "del", name], check=False)
