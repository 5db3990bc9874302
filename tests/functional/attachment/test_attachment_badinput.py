# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input of issue 3 for cni_attachment: each a clear error naming the bad value,
with nothing changed on the host (cache, IPAM, iptables, interfaces, records)."""
from __future__ import annotations

import json
import os

import pytest

from pna_env import run_module


@pytest.fixture(scope="module")
def world(module_env):
    """net1 (portmap+tuning) and net2 (no tuning), container a attached to net1 as eth0 with
    10.222.50.10 and host port 20495; an empty container b. Shared: every test checks
    that it changed nothing."""
    env = module_env
    net1 = env.network("1", 50)
    net2 = env.network("2", 51, tuning=False)
    a, b = env.add_netns("a"), env.add_netns("b")
    res = run_module("cni_attachment", dict(env.common, container_id=env.name("a"), netns=a,
                                            network=net1, ips=["10.222.50.10"],
                                            port_mappings=[{"host_port": 20495,
                                                            "container_port": 80}]))
    assert res["changed"], res
    return env, net1, net2, a, b


def _snapshot(env, netns):
    links = {ns: sorted(l["ifname"] for l in json.loads(env.exec_in(ns, ["ip", "-j", "link"]).stdout))
             for ns in netns}
    records = sorted(os.listdir(os.path.join(env.state_dir, "containers")))
    return {"cache": sorted(e.path for e in env.cache_entries()), "ipam": env.ipam_reservations(),
            "iptables": env.iptables_lines(), "links": links, "records": records,
            "record_a": open(os.path.join(env.state_dir, "containers", env.name("a") + ".json")).read()}


CASES = [
    # (id, request for container b unless it names another, fragment of msg)
    ("ip-outside", {"network": "N1", "ips": ["10.222.99.5"]}, "10.222.99.5 is outside every range"),
    ("ip-taken", {"network": "N1", "ips": ["10.222.50.10"]}, "10.222.50.10 is already taken"),
    ("duplicate-interface", {"container_id": "A", "network": "N2", "interface": "eth0"},
     "interface eth0 of container"),
    ("port-taken", {"network": "N1", "port_mappings": [{"host_port": 20495, "container_port": 8080}]},
     "host port 20495/tcp is already mapped by container"),
    ("unknown-network", {"network": "NOPE"}, "unknown CNI network"),
    ("mac-without-tuning", {"network": "N2", "mac": "02:22:51:00:00:01"}, "add the tuning plugin"),
    ("mac-multicast", {"network": "N1", "mac": "01:00:5e:00:00:01"}, "multicast"),
    ("bad-ip", {"network": "N1", "ips": ["10.222.50.300"]}, "invalid IP address '10.222.50.300'"),
    ("two-ipv4", {"network": "N1", "ips": ["10.222.50.20", "10.222.50.21"]}, "at most one IPv4"),
    ("bad-ifname", {"network": "N1", "interface": "a-very-long-interface-name"}, "longer than 15"),
    ("missing-netns", {"container_id": "GHOST", "network": "N1"}, "does not exist"),
    ("bad-container-id", {"container_id": "../evil", "network": "N1"}, "invalid container_id"),
    ("bad-port", {"network": "N1", "port_mappings": [{"host_port": 70000, "container_port": 80}]},
     "70000"),
    ("bad-cni-arg", {"network": "N1", "cni_args": {"K;X": "1"}}, "invalid CNI arg"),
]


def _fill(env, net1, net2, b, req):
    names = {"N1": net1, "N2": net2, "NOPE": env.name("nope"), "A": env.name("a"),
             "GHOST": env.name("ghost")}
    out = {"container_id": env.name("b"), "netns": b}
    for k, v in req.items():
        out[k] = names.get(v, v) if isinstance(v, str) else v
    if out["container_id"] != env.name("b"):
        out.pop("netns")
    return out


@pytest.mark.parametrize("case,req,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_before_anything_changes(world, case, req, fragment):
    env, net1, net2, a, b = world
    before = _snapshot(env, [a, b])
    args = _fill(env, net1, net2, b, req)
    for check in (True, False):
        res = run_module("cni_attachment", dict(env.common, **args), check=check)
        assert res.get("failed") is True, (case, res)
        assert fragment in res["msg"], (case, res["msg"])
        assert _snapshot(env, [a, b]) == before, case


def test_bad_batch_entry_fails_the_whole_batch_first(world):
    env, net1, net2, a, b = world
    c = env.add_netns("c")
    before = _snapshot(env, [a, b, c])
    entries = [{"container_id": env.name("c"), "netns": c, "network": net1},
               {"container_id": env.name("b"), "netns": b, "network": net1, "ips": ["10.222.99.9"]},
               {"container_id": env.name("c"), "netns": c, "network": net2, "ips": ["10.222.51.7"]},
               {"container_id": env.name("b"), "netns": b, "network": net2, "ips": ["10.222.51.7"]}]
    res = run_module("cni_attachment", dict(env.common, attachments=entries))
    assert res.get("failed") is True, res
    assert "2 of 4 attachments are invalid, nothing was changed" in res["msg"], res["msg"]
    assert "10.222.99.9" in res["msg"] and "requested for both" in res["msg"]
    assert _snapshot(env, [a, b, c]) == before
    assert before["links"][c] == ["lo"]


def test_single_and_batch_options_are_exclusive(env):
    res = run_module("cni_attachment", dict(env.common, network="x", attachments=[]))
    assert res.get("failed") and "mutually exclusive" in res["msg"], res
    res = run_module("cni_attachment", dict(env.common, network="x"))
    assert res.get("failed") and "container_id" in res["msg"], res
