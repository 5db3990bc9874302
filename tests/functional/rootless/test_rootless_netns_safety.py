# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace safety for a real unprivileged user (issue 15, items 1 and 3, rootless).

The module's own namespace as seen from where it runs (the host's: a rootless module
joins only the holder's user and mount namespaces), and the rootless CNI netns where
the plugins run, are never a container's: refused in check mode and for real, through
``pid``, ``/proc/PID/ns/net`` and the path. An ordinary file of the user's named as a
netns is refused untouched, and a failed present in root's namespace leaves no record
that a later absent would act on. Names pns…, subnets in 10.230.0.0/16 (pns_env).
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
from typing import Any, Dict, List

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create the test user")

TAG = secrets.token_hex(2)
NET = "pns%snet" % TAG
BRIDGE = "pns%sbr" % TAG
OCTET = 10 + secrets.randbelow(200)
SUBNET = "10.230.%d.0/24" % OCTET
CID = "pns%sc1" % TAG
REFUSED = "never a container's"


def _lines(argv: List[str], tokens: List[str]) -> List[str]:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    return sorted(l for l in proc.stdout.decode().splitlines()
                  if any(t in l for t in tokens) and not l.startswith("#"))


def host_snapshot(user) -> Dict[str, List[str]]:
    tokens = [user.name, "pns" + TAG, "10.230.%d." % OCTET, "tap0"]
    return {"links": _lines(["ip", "-o", "link", "show"], tokens),
            "addrs": _lines(["ip", "-o", "addr", "show"], tokens),
            "routes": _lines(["ip", "route", "show", "table", "all"], tokens),
            "routes6": _lines(["ip", "-6", "route", "show", "table", "all"], tokens),
            "iptables": _lines(["iptables-save"], tokens),
            "netns": _lines(["ip", "netns", "list"], tokens)}


@pytest.fixture(scope="module")
def world(ruser):
    conf_dir = os.path.join(ruser.tmp, "net.d")
    os.makedirs(conf_dir, mode=0o755)
    conflist = {"cniVersion": "1.0.0", "name": NET, "plugins": [
        {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True,
         "ipam": {"type": "host-local", "routes": [], "ranges": [[{"subnet": SUBNET}]]}},
        {"type": "firewall"}]}
    path = os.path.join(conf_dir, NET + ".conflist")
    with open(path, "w") as f:
        json.dump(conflist, f)
    os.chmod(path, 0o644)
    proc = ruser.spawn_as_user(["sleep", "600"])   # the user's process, in the host's netns
    rootns = "pns%sroot" % TAG
    subprocess.run(["ip", "netns", "add", rootns], check=True)
    before = host_snapshot(ruser)
    try:
        yield {"conf": conf_dir, "pid": proc.pid, "before": before, "rootns": rootns}
    finally:
        proc.kill()
        proc.wait()
        ruser.direct("rootless_cni_ns", {"state": "absent", "force": True})
        subprocess.run(["ip", "netns", "del", rootns], stderr=subprocess.DEVNULL, check=False)


def _refused(res, *names):
    assert res.get("failed"), "accepted: %s" % json.dumps(res)[:2000]
    msg = res.get("msg", "")
    assert "unexpected error" not in msg, msg
    for n in names:
        assert n in msg, (n, msg)


def _both(ruser, module, args, *names):
    for check in (True, False):
        _refused(ruser.direct(module, args, check=check), *names)


def test_the_users_own_namespace_and_the_rootless_cni_netns_are_refused(ruser, world):
    res = ruser.direct("rootless_cni_ns", {"state": "present"})
    assert not res.get("failed"), res
    cni_ns = res["netns"]
    pid = world["pid"]
    link = "/proc/%d/ns/net" % pid
    base = {"container_id": CID, "cni_config_dir": world["conf"]}
    cases = [
        ("container_netns", dict(base, networks=[NET], pid=pid), [str(pid), REFUSED]),
        ("container_netns", dict(base, networks=[NET], netns=link), [link, REFUSED]),
        ("container_netns", dict(base, networks=[NET], netns="/proc/self/ns/net"),
         ["/proc/self/ns/net", REFUSED]),
        ("container_netns", dict(base, networks=[NET], netns=cni_ns),
         [cni_ns, "rootless CNI network namespace", REFUSED]),
        ("cni_attachment", dict(base, network=NET, netns=link), [link, REFUSED]),
        ("cni_attachment", dict(base, network=NET, netns=cni_ns), [cni_ns, REFUSED]),
        ("cni_attachment", {"cni_config_dir": world["conf"],
                            "attachments": [{"container_id": CID, "network": NET, "netns": link}]},
         [link, REFUSED]),
    ]
    for module, args, names in cases:
        _both(ruser, module, args, *names)
    assert not os.path.exists(os.path.join(ruser.runtime, "podnet", "containers", "%s.json" % CID))
    assert host_snapshot(ruser) == world["before"]
    # the rootless namespace is as it was: one more present changes nothing
    again = ruser.direct("rootless_cni_ns", {"state": "present"})
    assert not again.get("failed") and not again["changed"], again


def test_a_users_file_named_as_netns_is_refused_untouched(ruser, world):
    victim = os.path.join(ruser.tmp, "notes-%s.txt" % TAG)
    with open(victim, "w") as f:
        f.write("precious\n")
    os.chown(victim, ruser.uid, ruser.gid)
    args = {"container_id": CID, "cni_config_dir": world["conf"], "networks": [NET], "netns": victim}
    _both(ruser, "container_netns", args, victim)
    res = ruser.direct("container_netns", {"container_id": CID, "netns": victim, "state": "absent"})
    assert "unexpected error" not in json.dumps(res), res
    with open(victim) as f:
        assert f.read() == "precious\n"
    assert os.stat(victim).st_dev == os.stat(ruser.tmp).st_dev
    assert host_snapshot(ruser) == world["before"]


def test_a_failed_present_in_roots_namespace_leaves_no_record(ruser, world):
    rootns = "/run/netns/%s" % world["rootns"]
    args: Dict[str, Any] = {"container_id": CID, "cni_config_dir": world["conf"], "networks": [NET],
                            "netns": rootns}
    res = ruser.direct("container_netns", args)
    assert res.get("failed"), res
    assert "unexpected error" not in res["msg"], res
    assert not os.path.exists(os.path.join(ruser.runtime, "podnet", "containers", "%s.json" % CID))
    res = ruser.direct("container_netns", {"container_id": CID, "state": "absent"})
    assert not res.get("failed") and not res["changed"], res
    assert os.path.exists(rootns)
    assert host_snapshot(ruser) == world["before"]
