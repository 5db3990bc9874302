# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Item 13 of issue 15 with real podman (Debian's 4.3, CNI backend, libcni 1.1: its cache
entries hold no ``netns``): podman's containers with host ports next to ours on one
network.

- container_netns_info shows podman's attachments with their namespace (was null);
- after a nat+filter wipe, container_net_reload (all) restores podman's host ports too,
  with the same addresses (it skipped them);
- ``podman network reload`` afterwards leaves no rule twice;
- prune_stale leaves podman's live attachments alone (it DELed them: no netns read as
  "gone"), and cleans them up once podman's containers died without a DEL.

Everything runs in a private "host" (pnd_env.PrivateHost: its own network and mount
namespaces, tmpfs on /var/lib/cni, /run/netns and /dev/shm): the wipe flushes that
host's tables only, podman's cache is that host's, nothing of the real host changes.
Needs podman and runc (``make test`` installs them).
"""
from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

import pnd_env
from pnd_env import PndEnv, PrivateHost

CACHE = "/var/lib/cni"   # podman's libcni cache (a tmpfs of the private host)


class Pod:
    """Debian's podman with the CNI backend: private root, runroot and containers.conf,
    its networks in our CNI config dir; containers from a busybox --rootfs."""

    def __init__(self, host: PrivateHost, env: PndEnv, runroot: str) -> None:
        self.host = host
        self.env = env
        self.runroot = runroot
        self.conf = os.path.join(env.tmp, "containers.conf")
        self.rootfs = os.path.join(env.tmp, "rootfs")
        self.environ = dict(os.environ, CONTAINERS_CONF=self.conf)
        with open(self.conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                    '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                    'tmp_dir = "%s/tmp"\n[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["%s"]\n'
                    'network_config_dir = "%s"\n' % (runroot, pnd_env.pnb_env.PLUGIN_DIR, env.config_dir))
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "run"):
            os.makedirs(os.path.join(self.rootfs, d), exist_ok=True)
        shutil.copy2(shutil.which("busybox") or "/bin/busybox", os.path.join(self.rootfs, "bin", "busybox"))
        os.symlink("busybox", os.path.join(self.rootfs, "bin", "sh"))

    def __call__(self, *args: str, check: bool = True):
        argv = ["podman", "--root", os.path.join(self.runroot, "root"), "--runroot",
                os.path.join(self.runroot, "run")] + list(args)
        return self.host.run(argv, check=check, env=self.environ)

    def start(self, name: str, network: str, port: int) -> str:
        out = self("run", "-d", "--name", name, "--network", network, "-p", "%d:8080/tcp" % port,
                   "--rootfs", self.rootfs, "/bin/busybox", "nc", "-ll", "-p", "8080", "-e",
                   "/bin/busybox", "echo", name)
        return out["stdout"].strip()

    def inspect(self, name: str):
        return json.loads(self("inspect", name)["stdout"])[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces, podman")
    if not (shutil.which("podman") and shutil.which("runc")):
        pytest.skip("podman and runc are not installed (make test-deps installs them)")
    env = PndEnv(str(tmp_path_factory.mktemp("podman")))
    runroot = "/run/%s-podman" % env.prefix   # short: conmon's socket paths must fit 108 bytes
    host = PrivateHost(tmpfs=[runroot])
    pod = Pod(host, env, runroot)
    try:
        yield env, host, pod
    finally:
        pod("rm", "-a", "-f", "-t", "0", check=False)
        host.close()               # the namespaces, tmpfs and every rule go with it


def _common(env, **kw):
    return env.common(cni_cache_dir=CACHE, **kw)


PROBE = ("import socket, sys\n"
         "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)\n"
         "s.settimeout(3)\n"
         "print(s.recv(100).decode().strip())\n")


def _get(host, ip, port):
    """What answers on ip:port from the private host ("" for nothing: without its DNAT rule
    a podman port reaches the socket podman holds it with, which never answers)."""
    out = host.run([sys.executable, "-c", PROBE, ip, str(port)], check=False, timeout=20)
    return out["stdout"].strip() if out["rc"] == 0 else ""


def _duplicated_rules(host):
    dups = []
    for table in ("nat", "filter"):
        lines = [l for l in host.run(["iptables-save", "-t", table])["stdout"].splitlines() if l.startswith("-A ")]
        dups += sorted({l for l in lines if lines.count(l) > 1})
    return dups


def test_podman_attachments_next_to_ours(world):
    env, host, pod = world
    net = env.network("pod")
    name, gw = net["name"], net["plugins"][0]["ipam"]["ranges"][0][0]["gateway"]
    ports = {"pndpod1": env.port(0), "pndpod2": env.port(1), "ours": env.port(2)}
    ids = {n: pod.start(n, name, ports[n]) for n in ("pndpod1", "pndpod2")}
    ours = env.cid("ours")
    mapping = {"host_port": ports["ours"], "container_port": 8080}
    res = host.module(env, "container_netns", _common(env, container_id=ours, netns=ours, networks=[name],
                                                      port_mappings=[mapping]))
    assert not res.get("failed"), res
    host.run(["ip", "netns", "exec", ours, "busybox", "nc", "-ll", "-p", "8080", "-e", "busybox", "echo", "ours"],
             background=True)
    ips = {n: pod.inspect(n)["NetworkSettings"]["Networks"][name]["IPAddress"] for n in ids}
    ips["ours"] = res["network_settings"]["IPAddress"]
    sandboxes = {n: pod.inspect(n)["NetworkSettings"]["SandboxKey"] for n in ids}
    assert pnd_env.wait_for(lambda: all(_get(host, gw, ports[n]) == n for n in ports), 20), \
        {n: _get(host, gw, ports[n]) for n in ports}

    # info: podman's attachments with their namespace (libcni 1.1 caches none)
    info = host.module(env, "container_netns_info", _common(env, statistics=False))
    assert not info.get("failed"), info
    for n, cid in ids.items():
        c = info["containers"][cid]
        assert c["netns"] == sandboxes[n] and c["netns_status"] == "mounted", c
        (att,) = c["attachments"]
        assert (att["origin"], att["netns"], att["ips"]) == ("podman", sandboxes[n], [ips[n]]), att
        assert c["network_settings"]["IPAddress"] == ips[n]

    # prune_stale leaves podman's live attachments alone
    res = host.module(env, "container_net_reload", _common(env, containers=["all"], prune_stale=True))
    assert not res.get("failed") and not res["changed"], res
    assert res["pruned"]["attachments"] == []
    assert all(_get(host, gw, ports[n]) == n for n in ports)

    # a firewall wipe (of this private host), then our reload restores everyone's ports
    for table in ("nat", "filter"):
        host.run(["iptables", "-w", "-t", table, "-F"])
        host.run(["iptables", "-w", "-t", table, "-X"])
    assert not any(_get(host, gw, ports[n]) == n for n in ports)
    res = host.module(env, "container_net_reload", _common(env, containers=["all"]))
    assert not res.get("failed"), res
    for n, cid in list(ids.items()) + [("ours", ours)]:
        (item,) = res["containers"][cid]["networks"].values()
        assert item["state"] == "reloaded" and item["ips"] == [ips[n]] and item["ips_preserved"], (n, item)
    assert pnd_env.wait_for(lambda: all(_get(host, gw, ports[n]) == n for n in ports), 20), \
        {n: _get(host, gw, ports[n]) for n in ports}
    assert _duplicated_rules(host) == []

    # podman's own reload afterwards: nothing twice, same addresses, still answering
    pod("network", "reload", "--all")
    assert _duplicated_rules(host) == []
    assert {n: pod.inspect(n)["NetworkSettings"]["Networks"][name]["IPAddress"] for n in ids} == \
        {n: ips[n] for n in ids}
    assert pnd_env.wait_for(lambda: all(_get(host, gw, ports[n]) == n for n in ports), 20)
    res = host.module(env, "container_net_reload", _common(env, containers=["all"]))
    assert not res.get("failed") and not res["changed"], res

    # podman's containers die without a DEL (as in a crash): prune_stale cleans up after them
    for n in ids:
        state = pod.inspect(n)["State"]
        host.run(["kill", "-9", str(state["ConmonPid"]), str(state["Pid"])], check=False)
        host.run(["umount", sandboxes[n]])          # (paths of the private host's mounts)
        host.run(["rm", "-f", sandboxes[n]])
    res = host.module(env, "container_net_reload", _common(env, containers=["all"], prune_stale=True))
    assert not res.get("failed"), res
    assert sorted(a["container_id"] for a in res["pruned"]["attachments"]) == sorted(ids.values())
    rules = host.run(["iptables-save"])["stdout"]
    for n in ids:
        assert ips[n] + "/" not in rules and ips[n] + ":" not in rules, (n, ips[n])
    left = host.run(["ls", os.path.join(CACHE, "results")])["stdout"].split()
    assert left == ["%s-%s-eth0" % (name, ours)], left
    assert list(env.reservations(name).values()) == [ours]
    assert _get(host, gw, ports["ours"]) == "ours"
    res = host.module(env, "container_netns", _common(env, container_id=ours, netns=ours, state="absent"))
    assert not res.get("failed"), res
