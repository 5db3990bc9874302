# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Managed hosts for the fleet test bed (molecule/fleet) and the fleet benchmark: privileged
podman containers started from Debian root file systems (tests/tools/debian_rootfs.sh), on
a podman network of their own, reached over SSH as a non-root login user with sudo.

  python3 fleet_hosts.py up --id ID --dir DIR --subnet 10.240.N.0/24 NAME=RELEASE [NAME=RELEASE...]
      builds one root fs per release (in parallel), starts the hosts, waits for their sshd;
      prints the hosts as JSON: [{instance, address, user, port, identity_file}]
  python3 fleet_hosts.py down --id ID --dir DIR
      closes the SSH masters, removes the hosts and the network, removes DIR
  python3 fleet_hosts.py leftovers --id ID --dir DIR --subnet 10.240.N.0/24
      lists what of the run is still on this machine (JSON); exit 1 when anything is

What a host is, and why:
- `podman run --privileged --init --rootfs DIR/rootfs/RELEASE:O`: no image registry; the :O
  overlay keeps the root fs pristine, so hosts of one release share it. PID 1 is catatonit
  (reaps what the roles leave orphaned: the rootless holder, slirp4netns, async jobs), its
  child a boot script that creates the login user and runs sshd in the foreground. No
  systemd: nothing in the scenario needs it (firewall_reload_hook does; it is not run here).
- Nothing installed beyond the root fs's openssh-server, python3 and sudo. What the boot
  script adds is what cloud-init adds to a VM: the login user `pnxadmin` with this run's
  public key and password-less sudo, and the host's own SSH host key (generated here, so the
  controller's known_hosts file is written before the first connection: StrictHostKeyChecking
  stays on).
- podman with the CNI backend as PEERS.md says (runc, cgroupfs, default_ulimits), through
  a private containers.conf and storage.conf: the storage, the network config (a conflist
  with bridge `ID0`, host-local data in DIR), runtime files and events all live in DIR.
  Only podman's own CNI cache entries go to /var/lib/cni/results (libcni's default); they
  go when the hosts are removed, and `leftovers` checks that.

Names: everything is ID-prefixed (ID matches ^pnx[0-9a-z]{1,8}$); hosts get .11, .12, ... of the
subnet, in the order given. Root only. Standard library only.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import glob
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOTFS_BUILDER = os.path.join(HERE, "debian_rootfs.sh")
LOGIN_USER = "pnxadmin"
LABEL = "podnet.fleet"
ID_RE = re.compile(r"^pnx[0-9a-z]{1,8}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
RELEASE_RE = re.compile(r"^[a-z]+$")
SSH_WAIT = 60.0

BOOT_SCRIPT = """#!/bin/sh
# PID 1's child in a fleet host (podnet.cni tests/tools/fleet_hosts.py): what cloud-init
# would do (the login user with the run's key and password-less sudo), then sshd with the
# host key made for this host.
set -eu
if ! id {user} >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh {user}
  install -d -m 0700 -o {user} -g {user} /home/{user}/.ssh
  install -m 0600 -o {user} -g {user} /pnx-boot/authorized_keys /home/{user}/.ssh/authorized_keys
  printf '%s\\n' '{user} ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/{user}
  chmod 0440 /etc/sudoers.d/{user}
fi
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e -h /pnx-boot/ssh_host_ed25519_key
""".format(user=LOGIN_USER)


def log(msg: str) -> None:
    print("[fleet_hosts] %s" % msg, file=sys.stderr, flush=True)


def run(argv: Sequence[str], env: Optional[Dict[str, str]] = None, check: bool = True,
        timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), proc.returncode,
                                                proc.stderr.decode(errors="replace").strip()[-2000:]))
    return proc


class Fleet:
    """One run's hosts: names, paths and the podman environment, all derived from ID and DIR."""

    def __init__(self, run_id: str, directory: str, subnet: Optional[str] = None) -> None:
        if not ID_RE.match(run_id):
            raise ValueError("id must match %s, not %r" % (ID_RE.pattern, run_id))
        if not os.path.isabs(directory) or os.path.normpath(directory) in ("/", "/tmp", "/var/tmp", "/root"):
            raise ValueError("dir must be an absolute path of its own, not %r" % directory)
        self.id = run_id
        self.dir = os.path.normpath(directory)
        self.net = ipaddress.ip_network(subnet) if subnet else None
        if self.net is not None and (self.net.version != 4 or self.net.prefixlen != 24):
            raise ValueError("subnet must be an IPv4 /24, not %s" % subnet)
        self.pod = os.path.join(self.dir, "podman")
        self.ssh = os.path.join(self.dir, "ssh")
        self.env = dict(os.environ,
                        CONTAINERS_CONF=os.path.join(self.pod, "containers.conf"),
                        CONTAINERS_STORAGE_CONF=os.path.join(self.pod, "storage.conf"))

    # ------------------------------------------------------------------ paths and names
    def rootfs(self, release: str) -> str:
        return os.path.join(self.dir, "rootfs", release)

    def container(self, name: str) -> str:
        return "%s-%s" % (self.id, name)

    @property
    def key(self) -> str:
        return os.path.join(self.ssh, "id_ed25519")

    @property
    def known_hosts(self) -> str:
        return os.path.join(self.ssh, "known_hosts")

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["podman"] + list(args), env=self.env, check=check, timeout=300)

    # ------------------------------------------------------------------ up
    def write_podman_config(self) -> None:
        assert self.net is not None
        for sub in ("net.d", "tmp", "run", "storage", "ipam", "volumes", "static"):
            os.makedirs(os.path.join(self.pod, sub), mode=0o700, exist_ok=True)
        p = self.pod
        conf = "\n".join([
            "# podnet.cni fleet hosts: podman's CNI backend as PEERS.md runs it, every path in %s" % p,
            "[containers]",
            'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
            'init_path = "/usr/libexec/podman/catatonit"',
            "[network]",
            'network_backend = "cni"',
            'cni_plugin_dirs = ["/usr/lib/cni"]',
            'network_config_dir = "%s/net.d"' % p,
            "[engine]",
            'cgroup_manager = "cgroupfs"',
            'events_logger = "file"',
            'runtime = "runc"',
            'tmp_dir = "%s/tmp"' % p,
            'volume_path = "%s/volumes"' % p,
            'static_dir = "%s/static"' % p,
            ""])
        storage = "\n".join(["[storage]", 'driver = "overlay"', 'runroot = "%s/run"' % p,
                             'graphroot = "%s/storage"' % p, ""])
        gateway = str(next(self.net.hosts()))
        conflist = {"cniVersion": "0.4.0", "name": self.id, "plugins": [
            {"type": "bridge", "bridge": self.id + "0", "isGateway": True, "ipMasq": True,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": os.path.join(p, "ipam"),
                      "routes": [{"dst": "0.0.0.0/0"}],
                      "ranges": [[{"subnet": str(self.net), "gateway": gateway}]]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall", "backend": ""},
            {"type": "tuning"}]}
        for path, text in ((os.path.join(p, "containers.conf"), conf),
                           (os.path.join(p, "storage.conf"), storage),
                           (os.path.join(p, "net.d", self.id + ".conflist"), json.dumps(conflist, indent=1))):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)

    def build_rootfs(self, releases: Sequence[str], extra: Sequence[str]) -> None:
        """One root fs per release, the builds in parallel (each is mostly dpkg: one core)."""
        todo = [r for r in dict.fromkeys(releases) if not os.path.exists(os.path.join(self.rootfs(r), "usr"))]
        if not todo:
            return
        os.makedirs(os.path.join(self.dir, "rootfs"), mode=0o755, exist_ok=True)

        def build(release: str) -> Tuple[str, float]:
            t0 = time.monotonic()
            run([ROOTFS_BUILDER, self.rootfs(release), release] + list(extra), timeout=1200)
            return release, time.monotonic() - t0

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(todo)) as ex:
            for release, secs in ex.map(build, todo):
                log("root fs %s built in %.0f s" % (release, secs))

    def write_keys(self, names: Sequence[str]) -> None:
        os.makedirs(self.ssh, mode=0o700, exist_ok=True)
        if not os.path.exists(self.key):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.id, "-f", self.key])
        for name in names:
            boot = os.path.join(self.dir, "hosts", name)
            os.makedirs(boot, mode=0o700, exist_ok=True)
            hostkey = os.path.join(boot, "ssh_host_ed25519_key")
            if not os.path.exists(hostkey):
                run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", hostkey])
            shutil.copyfile(self.key + ".pub", os.path.join(boot, "authorized_keys"))
            with open(os.path.join(boot, "boot.sh"), "w", encoding="utf-8") as f:
                f.write(BOOT_SCRIPT)
            os.chmod(os.path.join(boot, "boot.sh"), 0o755)
            os.chmod(boot, 0o755)

    def start(self, hosts: Sequence[Tuple[str, str]]) -> List[Dict[str, object]]:
        assert self.net is not None
        addrs = list(self.net.hosts())
        out: List[Dict[str, object]] = []
        known: List[str] = []
        running = set(self.podman("ps", "-a", "--format", "{{.Names}}").stdout.decode().split())
        for i, (name, release) in enumerate(hosts):
            addr = str(addrs[10 + i])
            cname = self.container(name)
            if cname not in running:
                self.podman("run", "--detach", "--name", cname, "--hostname", name,
                            "--label", "%s=%s" % (LABEL, self.id),
                            "--privileged", "--init",
                            "--network", self.id, "--ip", addr,
                            "--volume", "%s:/pnx-boot:ro" % os.path.join(self.dir, "hosts", name),
                            "--rootfs", self.rootfs(release) + ":O", "/pnx-boot/boot.sh")
            with open(os.path.join(self.dir, "hosts", name, "ssh_host_ed25519_key.pub"), encoding="utf-8") as f:
                known.append("%s %s" % (addr, " ".join(f.read().split()[:2])))
            out.append({"instance": name, "address": addr, "user": LOGIN_USER, "port": 22,
                        "identity_file": self.key, "release": release, "container": cname})
        with open(self.known_hosts, "w", encoding="utf-8") as f:
            f.write("\n".join(known) + "\n")
        for host in out:
            wait_ssh(str(host["address"]), SSH_WAIT, self.container(str(host["instance"])), self)
        return out

    def up(self, hosts: Sequence[Tuple[str, str]], extra: Sequence[str]) -> List[Dict[str, object]]:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.write_podman_config()
        self.write_keys([h[0] for h in hosts])
        self.build_rootfs([h[1] for h in hosts], extra)
        return self.start(hosts)

    # ------------------------------------------------------------------ down
    def close_ssh_masters(self) -> None:
        """Ansible's SSH connections persist (ControlPersist): the scenario puts their sockets
        in DIR/ssh, so they can be closed here instead of outliving the hosts."""
        for sock in glob.glob(os.path.join(self.ssh, "cp-*")):
            run(["ssh", "-o", "ControlPath=" + sock, "-O", "exit", "fleet-host"], check=False, timeout=10)

    def down(self) -> List[str]:
        problems: List[str] = []
        if os.path.isdir(self.ssh):
            self.close_ssh_masters()
        if os.path.exists(self.env["CONTAINERS_CONF"]):
            ids = self.podman("ps", "-a", "-q", "--filter", "label=%s=%s" % (LABEL, self.id),
                              check=False).stdout.decode().split()
            if ids:
                rm = self.podman("rm", "--force", "--time", "3", *ids, check=False)
                if rm.returncode:
                    problems.append("podman rm: %s" % rm.stderr.decode(errors="replace").strip())
            if os.path.exists(os.path.join(self.pod, "net.d", self.id + ".conflist")):
                nrm = self.podman("network", "rm", "--force", self.id, check=False)
                if nrm.returncode:
                    problems.append("podman network rm: %s" % nrm.stderr.decode(errors="replace").strip())
        # a bridge podman did not remove (a failed start), then anything still mounted below DIR
        if os.path.exists("/sys/class/net/%s0" % self.id):
            run(["ip", "link", "delete", self.id + "0"], check=False)
        for target in sorted(mounts_below(self.dir), key=len, reverse=True):
            run(["umount", target], check=False)
        if os.path.isdir(self.dir):
            rm = run(["rm", "-rf", "--one-file-system", self.dir], check=False)
            if rm.returncode:
                problems.append("rm %s: %s" % (self.dir, rm.stderr.decode(errors="replace").strip()))
        return problems

    # ------------------------------------------------------------------ leftovers
    def leftovers(self) -> Dict[str, List[str]]:
        """What of this run is still on the machine: ID-named or DIR-rooted things, rules
        for the hosts' subnet, podman's CNI cache entries of the network."""
        found: Dict[str, List[str]] = {}
        marks = [self.id, self.dir]
        if self.net is not None:   # 10.240.77.0/24 -> "10.240.77."
            marks.append(str(self.net.network_address).rsplit(".", 1)[0] + ".")
        if os.path.exists(self.dir):
            found["directory"] = [self.dir]
        found["mounts"] = sorted(set(mounts_below(self.dir)) | {
            line.split()[4] for line in read_lines("/proc/self/mountinfo") if self.id in line})
        found["links"] = [n for n in os.listdir("/sys/class/net") if n.startswith(self.id)]
        found["processes"] = processes_of(self.id, self.dir)
        found["iptables"] = [ln for ln in rules() if any(m in ln for m in marks)]
        found["cni_cache"] = cni_cache_entries(self.id)
        if os.path.exists("/var/lib/cni/networks/" + self.id):
            found["cni_cache"].append("/var/lib/cni/networks/" + self.id)
        return {k: v for k, v in found.items() if v}


# ---------------------------------------------------------------------- helpers
def wait_ssh(addr: str, timeout: float, cname: str, fleet: Fleet) -> None:
    """Until sshd answers with its banner (the boot script has run by then)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, 22), timeout=2) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    logs = fleet.podman("logs", "--tail", "20", cname, check=False)
    raise RuntimeError("%s (%s): no sshd after %.0f s (%s); its log:\n%s%s" % (
        cname, addr, timeout, last, logs.stdout.decode(errors="replace"), logs.stderr.decode(errors="replace")))


def read_lines(path: str) -> List[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def mounts_below(directory: str) -> List[str]:
    out = []
    for line in read_lines("/proc/self/mountinfo"):
        target = line.split()[4].replace("\\040", " ")
        if target == directory or target.startswith(directory + "/"):
            out.append(target)
    return out


def processes_of(run_id: str, directory: str) -> List[str]:
    """Processes whose command line names the run, or whose root is below DIR (what runs in
    a host has the host's overlay as its root)."""
    out = []
    mine = ancestors()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) in mine:
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            root = os.readlink("/proc/%s/root" % pid)
        except OSError:
            continue
        if run_id in cmd or directory in cmd or root.startswith(directory + "/"):
            out.append("%s %s" % (pid, cmd[:200]))
    return out


def ancestors() -> set:
    """This process and its parents (whose command lines name the run: they asked)."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            with open("/proc/%d/stat" % pid, encoding="utf-8") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def rules() -> List[str]:
    """This machine's firewall rules, from every tool that has any."""
    out: List[str] = []
    for argv in (["iptables-save"], ["ip6tables-save"], ["iptables-legacy-save"], ["nft", "list", "ruleset"]):
        if shutil.which(argv[0]):
            out += run(argv, check=False).stdout.decode(errors="replace").splitlines()
    return out


def cni_cache_entries(network: str) -> List[str]:
    """libcni's result cache entries of the network (read, never guessed from file names)."""
    out = []
    for path in glob.glob("/var/lib/cni/results/*"):
        try:
            with open(path, encoding="utf-8") as f:
                if json.load(f).get("networkName") == network:
                    out.append(path)
        except (OSError, ValueError, AttributeError):
            continue
    return out


def parse_hosts(specs: Sequence[str]) -> List[Tuple[str, str]]:
    hosts = []
    for spec in specs:
        name, sep, release = spec.partition("=")
        if not sep or not NAME_RE.match(name) or not RELEASE_RE.match(release):
            raise ValueError("host must be NAME=RELEASE (e.g. deb12-a=bookworm), not %r" % spec)
        hosts.append((name, release))
    if len({h[0] for h in hosts}) != len(hosts):
        raise ValueError("host names given twice: %s" % ", ".join(specs))
    return hosts


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("up", "down", "leftovers"):
        p = sub.add_parser(cmd)
        p.add_argument("--id", required=True)
        p.add_argument("--dir", required=True)
        if cmd != "down":
            p.add_argument("--subnet", required=True)
        if cmd == "up":
            p.add_argument("--extra-package", action="append", default=[],
                           help="installed in every root fs on top of openssh-server, python3, sudo")
            p.add_argument("hosts", nargs="+", metavar="NAME=RELEASE")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("fleet_hosts.py: must run as root", file=sys.stderr)
        return 2
    try:
        fleet = Fleet(args.id, args.dir, getattr(args, "subnet", None))
        if args.cmd == "up":
            print(json.dumps(fleet.up(parse_hosts(args.hosts), args.extra_package), indent=1))
        elif args.cmd == "down":
            problems = fleet.down()
            if problems:
                print("\n".join(problems), file=sys.stderr)
                return 1
        else:
            left = fleet.leftovers()
            print(json.dumps(left, indent=1))
            return 1 if left else 0
    except (ValueError, RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print("fleet_hosts.py %s: %s" % (args.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
