# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""firewalld's own reload, with the real firewalld, wiping the CNI rules in the test host.

firewalld is never installed (its maintainer scripts would start it in the machine's
network namespace and rewrite the machine's firewall): Debian's packages are fetched
with ``apt-get download`` into ``.cache/firewalld`` and unpacked there. It runs
  - in the test host's network namespace (``ip netns exec``), so its rules live there,
  - with a tmpfs over /run in its own mount namespace (its /run/firewalld stays there),
  - on a private dbus-daemon (``DBUS_SYSTEM_BUS_ADDRESS``), not the machine's bus,
  - with ``FirewallBackend=iptables``: its reload flushes every iptables table, the
    classic way it breaks CNI networking (the nftables backend only rebuilds its own
    table). The CNI plugins do not see this bus, so the firewall plugin uses iptables.
SIGHUP makes firewalld reload (as ``firewall-cmd --reload``, which would need polkit)
and emit its ``Reloaded`` signal.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess

import pytest

from podnet_testlib import wait_for
from reload_env import REPO, T

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

CACHE = os.path.join(REPO, ".cache", "firewalld")
PACKAGES = ("firewalld", "python3-firewall", "python3-nftables")
# in the mount namespace of `ip netns exec`: a tmpfs over /run, then exec firewalld
LAUNCH = ("import ctypes,os,sys\n"
          "libc=ctypes.CDLL(None,use_errno=True)\n"
          "if libc.mount(b'none', b'/run', b'tmpfs', 0, None) != 0: sys.exit(ctypes.get_errno())\n"
          "os.execv(sys.argv[1], sys.argv[1:])\n")


def unpacked_firewalld():
    for tool in ("dbus-daemon", "dbus-monitor"):
        if not shutil.which(tool):
            pytest.skip("needs %s" % tool)
    probe = subprocess.run(["/usr/bin/python3", "-c", "import dbus, gi"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        pytest.skip("firewalld needs python3-dbus and python3-gi for /usr/bin/python3")
    root = os.path.join(CACHE, "root")
    if os.path.exists(os.path.join(root, "usr", "sbin", "firewalld")):
        return root
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb") and os.path.exists("/usr/bin/python3")):
        pytest.skip("needs apt-get, dpkg-deb and /usr/bin/python3 to fetch firewalld")
    os.makedirs(CACHE, exist_ok=True)
    proc = subprocess.run(["apt-get", "download"] + list(PACKAGES), cwd=CACHE, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    debs = glob.glob(os.path.join(CACHE, "*.deb"))
    if proc.returncode != 0 or len(debs) < len(PACKAGES):
        pytest.skip("cannot download firewalld: %s" % proc.stdout.decode()[-300:])
    for deb in debs:
        T.run(["dpkg-deb", "-x", deb, root])
    return root


def count(path, needle):
    with open(path) as f:
        return f.read().count(needle)


def test_firewalld_reload(env):
    root = unpacked_firewalld()
    conf = os.path.join(env.tmp, "firewalld")
    shutil.copytree(os.path.join(root, "etc", "firewalld"), conf)
    with open(os.path.join(conf, "firewalld.conf")) as f:
        text = f.read().replace("FirewallBackend=nftables", "FirewallBackend=iptables")
    with open(os.path.join(conf, "firewalld.conf"), "w") as f:
        f.write(text)
    address = "unix:path=" + os.path.join(env.tmp, "bus.sock")
    env.procs.append(subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--address", address],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    assert wait_for(lambda: os.path.exists(os.path.join(env.tmp, "bus.sock")), 10)
    signals = os.path.join(env.tmp, "signals.log")
    with open(signals, "w") as out:
        env.procs.append(subprocess.Popen(
            ["dbus-monitor", "--address", address, "type='signal',interface='org.fedoraproject.FirewallD1'"],
            stdout=out, stderr=subprocess.DEVNULL))
    fw_log = os.path.join(env.tmp, "firewalld.log")
    with open(fw_log, "w") as out:
        firewalld = subprocess.Popen(
            ["ip", "netns", "exec", env.host, "/usr/bin/python3", "-c", LAUNCH, "/usr/bin/python3",
             os.path.join(root, "usr", "sbin", "firewalld"), "--nofork", "--nopid",
             "--system-config", conf, "--default-config", os.path.join(root, "usr", "lib", "firewalld"),
             "--log-target", "console"],
            env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address,
                     PYTHONPATH=os.path.join(root, "usr", "lib", "python3", "dist-packages")),
            stdout=out, stderr=subprocess.STDOUT)
    env.procs.insert(0, firewalld)  # stopped first, while its bus is still there
    # firewalld is up when its zones are in the test host's iptables
    assert wait_for(lambda: "FORWARD_ZONES" in env.rules("filter"), 120), open(fw_log).read()[-2000:]

    n1 = env.networks[0]
    ns1 = env.add_container("c1", [n1], [env.port_base])
    env.add_container("c2", [n1])
    checks = {"client->c1 port mapping": (env.client, env.host_ip, env.port_base, "c1"),
              "c1->c2": (ns1, env.ip_of("c2", 0), 8080, "c2")}
    assert all(env.probe(checks, timeout=3.0).values())
    before = env.entries()

    # firewalld reloads: the CNI rules are gone, its own REJECTs stay
    reloaded = count(signals, "member=Reloaded")
    firewalld.send_signal(signal.SIGHUP)
    assert wait_for(lambda: count(signals, "member=Reloaded") > reloaded, 120), open(fw_log).read()[-2000:]
    assert "CNI-FORWARD" not in env.rules("filter") and "FORWARD_ZONES" in env.rules("filter")
    assert not any(env.probe(checks).values())
    repaired = env.module()
    assert repaired["changed"] is True and repaired["reloaded"] == 2, repaired
    assert all(env.probe(checks, timeout=3.0).values()) and env.entries() == before
    assert env.module()["changed"] is False

    # and the watcher does the same on the signal
    log = os.path.join(env.tmp, "watcher.log")
    with open(log, "w") as out:
        env.procs.insert(0, subprocess.Popen(
            env.watcher_argv("--bus", address, "--debounce", "0.5"), stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ, PATH=env.path)))
    assert wait_for(lambda: count(log, '"watching"') == 1, 30), open(log).read()
    firewalld.send_signal(signal.SIGHUP)

    def runs():
        with open(log) as f:
            return [json.loads(line) for line in f if '"event": "reload"' in line]
    assert wait_for(lambda: len(runs()) >= 2, 120), open(log).read()
    assert runs()[-1]["reloaded"] == {env.cid("c1"): [n1], env.cid("c2"): [n1]}, runs()
    assert all(env.probe(checks, timeout=3.0).values()) and env.entries() == before
