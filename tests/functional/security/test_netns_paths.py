# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace paths are never used as given (issue 15, items 2, 3 and 7).

- ``/proc/PID/ns/net`` names a live namespace: accepted, attached, never created,
  unmounted or removed (item 2);
- an ordinary file named as a netns, or recorded as one, is refused or left alone, never
  truncated, mounted over or deleted; a failed run leaves no record it did not have
  before (item 3);
- long ids get default namespaces that cannot collide, and ids too long for the files
  that name them are refused clearly (item 7).
Prefix pns, subnets 10.230.0.0/16, host ports 21000-21099 (pns_env).
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

import pns_env

pnb_env = pns_env.pnb_env


def _ok(res):
    assert not res.get("failed"), json.dumps(res)[:2500]
    assert "unexpected error" not in json.dumps(res)
    return res


def _refused(res, *names):
    assert res.get("failed"), "accepted: %s" % json.dumps(res)[:2500]
    msg = res.get("msg", "")
    assert "unexpected error" not in msg and "Traceback" not in msg, msg
    for n in names:
        assert n in msg, "message does not name %r: %s" % (n, msg)
    return res


def _addresses_in(pid):
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", "-4", "addr", "show"],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return [line.split()[3] for line in out.splitlines() if " lo " not in line]


def _record(pns, cid):
    path = os.path.join(pns.state_dir, "containers", "%s.json" % cid)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# --- item 2: /proc/PID/ns/net ---

@pytest.fixture
def ns_proc():
    """A process in a network namespace of its own."""
    proc = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    try:
        for dummy in range(200):  # unshare has made the namespace when the link changes
            if os.stat("/proc/%d/ns/net" % proc.pid).st_ino != os.stat("/proc/self/ns/net").st_ino:
                break
            subprocess.run(["sleep", "0.01"], check=False)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_procfs_namespace_link_is_accepted_and_never_removed(pns, ns_proc):
    net = pns.network("p")["name"]
    cid = pns.cid("p1")
    path = "/proc/%d/ns/net" % ns_proc.pid
    args = pns.common(container_id=cid, netns=path, networks=[net])
    res = _ok(pns.run("container_netns", args, check=True))
    assert res["changed"]
    assert not any(a["action"] in ("create_netns", "pin_netns", "remove_stale_netns")
                   for a in res["actions"]), res["actions"]
    res = _ok(pns.run("container_netns", args))
    assert res["changed"] and res["netns"] == path
    ip = res["network_settings"]["IPAddress"]
    assert any(a.startswith(ip + "/") for a in _addresses_in(ns_proc.pid))
    assert not _ok(pns.run("container_netns", args))["changed"]   # idempotent
    # cni_attachment: a second network through the same link
    net2 = pns.network("p2")["name"]
    res = _ok(pns.run("cni_attachment", pns.common(container_id=cid, netns=path, network=net2)))
    assert res["changed"] and res["interface"] == "eth1"
    assert len(_addresses_in(ns_proc.pid)) == 2
    _ok(pns.run("cni_attachment", pns.common(container_id=cid, netns=path, network=net2, state="absent")))
    # absent detaches and leaves the process's namespace alone (nothing to unmount)
    res = _ok(pns.run("container_netns", pns.common(container_id=cid, netns=path, state="absent")))
    assert not any(a["action"] in ("remove_netns", "remove_stale_netns") for a in res["actions"]), res
    assert ns_proc.poll() is None and os.path.exists(path)
    assert _addresses_in(ns_proc.pid) == []
    assert _record(pns, cid) is None


def test_procfs_namespace_link_of_a_dead_process_is_refused(pns):
    net = pns.network("d")["name"]
    proc = subprocess.Popen(["true"])
    proc.wait()
    path = "/proc/%d/ns/net" % proc.pid
    before = pns.snapshot()
    for check in (True, False):
        _refused(pns.run("container_netns", pns.common(container_id=pns.cid("d1"), netns=path,
                                                       networks=[net]), check=check), path)
        _refused(pns.run("cni_attachment", pns.common(container_id=pns.cid("d1"), netns=path,
                                                      network=net), check=check), path)
    pnb_env.assert_same(before, pns.snapshot(), "after a dead process's namespace")


# --- item 3: ordinary files ---

def _precious(directory, name="notes.txt"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("precious\n")
    os.chmod(path, 0o644)
    return path


def _intact(path):
    with open(path) as f:
        assert f.read() == "precious\n", "%s was changed" % path
    assert os.stat(path).st_dev == os.stat(os.path.dirname(path)).st_dev, "%s is a mount point" % path


def test_an_ordinary_file_named_as_netns_is_refused_untouched(pns):
    net = pns.network("f")["name"]
    outside = _precious(pns.tmp)
    inside = _precious("/run/netns", pns.name("notes"))    # in our netns dir, with data
    before = pns.snapshot()
    try:
        for netns in (outside, inside, pns.name("notes")):
            for check in (True, False):
                _refused(pns.run("container_netns", pns.common(container_id=pns.cid("f1"), netns=netns,
                                                               networks=[net]), check=check),
                         netns if "/" in netns else inside)
                _refused(pns.run("cni_attachment", pns.common(container_id=pns.cid("f1"), netns=netns,
                                                              network=net), check=check))
            _intact(outside)
            _intact(inside)
        pnb_env.assert_same(before, pns.snapshot(), "after an ordinary file as netns")
        assert _record(pns, pns.cid("f1")) is None
    finally:
        os.unlink(inside)


def test_a_new_namespace_is_only_made_in_the_netns_dir(pns):
    net = pns.network("o")["name"]
    target = os.path.join(pns.tmp, "newns")
    before = pns.snapshot()
    for check in (True, False):
        _refused(pns.run("container_netns", pns.common(container_id=pns.cid("o1"), netns=target,
                                                       networks=[net]), check=check), target)
    assert not os.path.lexists(target)
    pnb_env.assert_same(before, pns.snapshot(), "after a netns path outside the netns dir")


def test_an_empty_mount_point_left_in_the_netns_dir_is_reused(pns):
    """The decision: an empty regular file in our netns dir, under the name asked for, is
    a mount point a killed run left (nothing to lose): it becomes the namespace."""
    net = pns.network("e")["name"]
    name = pns.name("e1")
    path = os.path.join("/run/netns", name)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o444))
    args = pns.common(container_id=pns.cid("e1"), netns=name, networks=[net])
    res = _ok(pns.run("container_netns", args))
    assert res["changed"] and res["netns"] == path
    assert any(a["action"] == "remove_stale_netns" for a in res["actions"]), res["actions"]
    _ok(pns.run("container_netns", dict(args, state="absent")))
    assert not os.path.lexists(path)


def _write_record(pns, cid, netns, origin="created"):
    d = os.path.join(pns.state_dir, "containers")
    os.makedirs(d, mode=0o700, exist_ok=True)
    os.chmod(pns.state_dir, 0o700)
    path = os.path.join(d, "%s.json" % cid)
    with open(path, "w") as f:
        json.dump({"version": 1, "container_id": cid, "name": cid, "netns": netns,
                   "netns_origin": origin, "pid": None, "network_mode": "bridge", "networks": [],
                   "port_mappings": [], "static_ip": None, "static_mac": None}, f)
    os.chmod(path, 0o600)


@pytest.mark.parametrize("how", ["absent", "prune_stale"])
def test_a_record_naming_an_ordinary_file_never_deletes_it(pns, how):
    pns.network("r")
    outside = _precious(pns.tmp)
    inside = _precious("/run/netns", pns.name("rec"))
    try:
        for n, victim in enumerate((outside, inside)):
            cid = pns.cid("r%d" % n)
            _write_record(pns, cid, victim)
            for check in (True, False):
                if how == "absent":
                    res = pns.run("container_netns", pns.common(container_id=cid, state="absent"),
                                  check=check)
                else:
                    res = pns.run("container_net_reload", pns.common(containers=["all"], prune_stale=True),
                                  check=check)
                assert "unexpected error" not in json.dumps(res), res
                assert not any(a.get("action") in ("remove_netns", "remove_stale_netns")
                               for a in res.get("actions") or []), res
                if how == "prune_stale":
                    assert not any(r.get("remove_netns") for r in
                                   (res.get("pruned") or {}).get("records") or []), res
                _intact(victim)
    finally:
        os.unlink(inside)


def test_a_failed_present_leaves_no_record(pns):
    """The container's first present fails (a plugin fails its ADD) in a namespace that
    is not ours: no record stays, so no later absent takes the namespace for ours."""
    plugin_dir = pnb_env.wrapper_plugin_dir(os.path.join(pns.tmp, "plugins"), {"firewall": "fail-add"})
    net = pns.network("x")["name"]
    foreign = pns.name("foreign")
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    cid = pns.cid("x1")
    before = pns.snapshot()
    for netns in (foreign, os.path.join("/run/netns", foreign)):
        res = pns.run("container_netns", pns.common(container_id=cid, netns=netns, networks=[net],
                                                    cni_plugin_dirs=[plugin_dir]))
        _refused(res, "pnb injected failure")
        assert _record(pns, cid) is None, "a failed present left a record: %s" % _record(pns, cid)
    # and when the namespace is to be created: the failed run removes it and its record
    res = pns.run("container_netns", pns.common(container_id=cid, netns=pns.name("x1"), networks=[net],
                                                cni_plugin_dirs=[plugin_dir]))
    _refused(res, "pnb injected failure")
    assert _record(pns, cid) is None
    pnb_env.assert_same(before, pns.snapshot(), "after failed presents")
    assert os.path.exists(os.path.join("/run/netns", foreign))


# --- item 7: long ids ---

def test_long_ids_sharing_their_first_64_characters_get_their_own_namespaces(pns):
    net = pns.network("l")["name"]
    stem = pns.prefix + "-" + "x" * (70 - len(pns.prefix))
    a, b = pns.cid(stem + "a"), pns.cid(stem + "b")
    res_a = _ok(pns.run("container_netns", pns.common(container_id=a, networks=[net])))
    res_b = _ok(pns.run("container_netns", pns.common(container_id=b, networks=[net])))
    assert res_a["netns"] != res_b["netns"], (res_a["netns"], res_b["netns"])
    assert res_a["network_settings"]["IPAddress"] != res_b["network_settings"]["IPAddress"]
    # both stay as they are
    for cid in (a, b):
        assert not _ok(pns.run("container_netns", pns.common(container_id=cid, networks=[net])))["changed"]
    for res in (res_a, res_b):
        out = subprocess.run(["nsenter", "--net=%s" % res["netns"], "ip", "-o", "-4", "addr", "show", "eth0"],
                             stdout=subprocess.PIPE, check=True).stdout.decode()
        assert res["network_settings"]["IPAddress"] + "/" in out
    for cid in (a, b):
        _ok(pns.run("container_netns", pns.common(container_id=cid, state="absent")))
    assert not [n for n in os.listdir("/run/netns") if pns.prefix in n]


@pytest.mark.parametrize("length", [236, 250, 253])
def test_ids_too_long_for_their_files_are_refused_clearly(pns, length):
    net = pns.network("t")["name"]
    cid = pns.cid(("y" * 300)[:length - len(pns.prefix) - 1])
    assert len(cid) == length
    subprocess.run(["ip", "netns", "add", pns.name("t1")], check=True)  # cni_attachment's
    before = pns.snapshot()
    for check in (True, False):
        _refused(pns.run("container_netns", pns.common(container_id=cid, netns=pns.name("t1"),
                                                       networks=[net]), check=check), "too long")
        _refused(pns.run("cni_attachment", pns.common(container_id=cid, netns=pns.name("t1"),
                                                      network=net), check=check), "too long")
    pnb_env.assert_same(before, pns.snapshot(), "after an id too long")
