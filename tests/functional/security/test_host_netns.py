# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's own network namespace is never a container's (issue 15, item 1).

These tests aim every attaching module at the network namespace the test itself runs
in — this machine's host namespace when run as usual — through a ``pid`` of a process
living there, ``/proc/PID/ns/net``, PID 1's namespace and a named mount of it
(``ip netns attach``). Each is refused in check mode and for real, and nothing appears
in that namespace: no link, address or route mentioning the test's prefix, bridge or
subnet (networks here add no default route, so even a wrong ADD could not touch the
host's routing beyond its own subnet). Whatever a failing run left there is removed
again by the fixture, before the env's own cleanup.
Prefix pns, subnets 10.230.0.0/16 (pns_env).
"""
from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest

import pns_env

pnb_env = pns_env.pnb_env
REFUSED = "never a container's"


@pytest.fixture
def host(pns):
    """A process in this namespace, the namespace's view before, and cleanup after."""
    before = pns_env.host_view(pns)
    proc = subprocess.Popen(["sleep", "600"])
    pin = pns.name("hostpin")
    host_state = {"pid": proc.pid, "before": before, "pin": pin}
    try:
        yield host_state
    finally:
        proc.kill()
        proc.wait()
        left = pns_env.undo_host_changes(pns, host_state["before"])
        subprocess.run(["ip", "netns", "del", pin], stderr=subprocess.DEVNULL, check=False)
        # a network's bridge stays by design (as with podman); anything else is a leak
        left = [item for item in left if item.split()[-1] not in pns.bridges]
        assert not left, "the test left this in the host namespace: %s" % left


def _pid1_unreadable():
    try:
        os.stat("/proc/1/ns/net")
        return False
    except OSError:
        return True


def _assert_refused(res, *names):
    assert res.get("failed"), "the host's namespace was accepted: %s" % json.dumps(res)[:2000]
    msg = res.get("msg", "")
    assert "unexpected error" not in msg, msg
    assert any(n in msg for n in names), (names, msg)
    if _pid1_unreadable() and any("1" in n.split("/")[:3] or n == "pid 1" for n in names):
        # where even root cannot follow PID 1's link (a VM's init with its own rules), its
        # namespace cannot be compared: it is refused as unreadable instead
        assert REFUSED in msg or "cannot be read" in msg or "not a live network namespace" in msg \
            or "not a network namespace" in msg, msg
    else:
        assert REFUSED in msg, msg


def _run_both(pns, module, args, *names):
    for check in (True, False):
        _assert_refused(pns.run(module, args, check=check), *names)


def _assert_host_untouched(pns, host, before_env):
    diff = pns_env.host_diff(host["before"], pns_env.host_view(pns))
    assert not diff, "the host namespace changed: %s" % json.dumps(diff, indent=1)
    after = pns.snapshot()
    for key in ("netns",):   # the pin made by the test itself
        before_env.pop(key, None)
        after.pop(key, None)
    pnb_env.assert_same(before_env, after, "after aiming at the host namespace")


def _ifname(pns):
    return pns.prefix + "c"


def test_container_netns_refuses_the_hosts_namespace(pns, host):
    net = pns.network_without_routes("h")["name"]
    subprocess.run(["ip", "netns", "attach", host["pin"], str(host["pid"])], check=True)
    before = pns.snapshot()
    cid = pns.cid("h1")
    nets = [{"name": net, "interface": _ifname(pns)}]
    pid = host["pid"]
    cases = [
        (dict(pid=pid, netns=pns.name("h1")), str(pid)),
        (dict(pid=1, netns=pns.name("h1")), "pid 1"),
        (dict(netns="/proc/%d/ns/net" % pid), "/proc/%d/ns/net" % pid),
        (dict(netns="/proc/1/ns/net"), "/proc/1/ns/net"),
        (dict(netns=host["pin"]), host["pin"]),
        (dict(netns="/proc/self/ns/net"), "/proc/self/ns/net"),
    ]
    for extra, name in cases:
        args = pns.common(container_id=cid, networks=nets,
                          port_mappings=[{"host_port": pns.port(), "container_port": 80}])
        args.update(extra)
        _run_both(pns, "container_netns", args, name)
    assert not os.path.exists(os.path.join(pns.state_dir, "containers", "%s.json" % cid))
    _assert_host_untouched(pns, host, before)


def test_cni_attachment_refuses_the_hosts_namespace_single_and_batch(pns, host):
    net = pns.network_without_routes("a")["name"]
    subprocess.run(["ip", "netns", "attach", host["pin"], str(host["pid"])], check=True)
    good_ns = pns.name("good")
    subprocess.run(["ip", "netns", "add", good_ns], check=True)
    before = pns.snapshot()
    cid = pns.cid("a1")
    for netns in ("/proc/%d/ns/net" % host["pid"], "/proc/1/ns/net", host["pin"]):
        args = pns.common(container_id=cid, netns=netns, network=net, interface=_ifname(pns))
        _run_both(pns, "cni_attachment", args, netns)
        # a batch with one good entry: the whole batch is refused, nothing changes
        batch = pns.common(attachments=[
            {"container_id": pns.cid("good"), "netns": good_ns, "network": net},
            {"container_id": cid, "netns": netns, "network": net, "interface": _ifname(pns)}])
        _run_both(pns, "cni_attachment", batch, netns)
    _assert_host_untouched(pns, host, before)


def _forge_entry(pns, template_path, cid, netns, ifname):
    """A cache entry as another tool could have written it: the template's attachment,
    moved to another container, namespace and interface."""
    with open(template_path) as f:
        data = json.load(f)
    data["containerId"] = cid
    data["netns"] = netns
    data["ifName"] = ifname
    data["cniArgs"] = [[k, cid if k == "K8S_POD_INFRA_CONTAINER_ID" else v] for k, v in data["cniArgs"]]
    for iface in data["result"].get("interfaces") or []:
        if iface.get("sandbox"):
            iface["sandbox"] = netns
            iface["name"] = ifname
    json.loads(base64.b64decode(data["config"]))  # still the real config
    path = os.path.join(os.path.dirname(template_path), "%s-%s-%s" % (data["networkName"], cid, ifname))
    with open(path, "w") as f:
        json.dump(data, f)
    os.chmod(path, 0o600)
    return path


def _iface(ifname):
    """The host interface ifname: its index (a DEL + ADD would make a new one), addresses
    and routes."""
    def out(argv):
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              check=False).stdout.decode().split()
    link = out(["ip", "-o", "link", "show", "dev", ifname])
    return {"index": link[:1], "addrs": out(["ip", "-o", "addr", "show", "dev", ifname]),
            "routes": out(["ip", "route", "show", "table", "all", "dev", ifname]),
            "routes6": out(["ip", "-6", "route", "show", "table", "all", "dev", ifname])}


def test_an_attachment_recorded_in_the_hosts_namespace_is_never_reattached_nor_deleted_there(pns, host):
    """A cache entry that names the host's namespace (written by another tool, or by
    hand): reload (force) does not DEL/ADD there, and a detach does not delete the host
    interface of that name."""
    net = pns.network_without_routes("r")["name"]
    subprocess.run(["ip", "netns", "attach", host["pin"], str(host["pid"])], check=True)
    good = pns.cid("r0")
    res = pns.run("container_netns", pns.common(container_id=good, netns=pns.name("r0"), networks=[net]))
    assert not res.get("failed"), res
    results = os.path.join(pns.cache_dir, "results")
    template = os.path.join(results, os.listdir(results)[0])
    ifname = _ifname(pns)
    cid = pns.cid("r1")
    forged = os.path.join(results, "none")
    try:
        # an interface of that name in the host: a DEL run there would delete it
        subprocess.run(["ip", "link", "add", ifname, "type", "veth", "peer", "name", pns.prefix + "p"],
                       check=True)
        host["before"] = pns_env.host_view(pns)
        iface = _iface(ifname)
        forged = _forge_entry(pns, template, cid, "/run/netns/%s" % host["pin"], ifname)
        for containers in ([cid], ["all"]):
            res = pns.run("container_net_reload", pns.common(containers=containers, force=True))
            text = json.dumps(res)
            assert "unexpected error" not in text, text[:2000]
            assert REFUSED in text, text[:2000]
            # (the good container is reloaded with "all": its own veth is new, legitimately)
            assert _iface(ifname) == iface, "reload touched the host's %s" % ifname
        # the good container was reloaded with "all" and still works the same
        assert not pns.run("container_netns", pns.common(container_id=good, netns=pns.name("r0"),
                                                         networks=[net])).get("changed")
        res = pns.run("cni_attachment", pns.common(container_id=cid, network=net, interface=ifname,
                                                   state="absent"))
        assert "unexpected error" not in json.dumps(res), res
        assert os.path.exists("/sys/class/net/%s" % ifname), "a detach deleted the host's %s" % ifname
        assert _iface(ifname) == iface, "a detach touched the host's %s" % ifname
    finally:
        if os.path.exists(forged):
            os.unlink(forged)
        subprocess.run(["ip", "link", "del", ifname], stderr=subprocess.DEVNULL, check=False)
        pns.run("container_netns", pns.common(container_id=good, netns=pns.name("r0"), state="absent"))
