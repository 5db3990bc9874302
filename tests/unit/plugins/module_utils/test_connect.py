# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of cni_attachment's planner (_connect) and container_netns_info (_inspect):
interface choice, comparisons, batch conflicts, records. No root: the
namespaces are stood in for by a context whose netns_status is a table."""
from __future__ import annotations

import json

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _connect, _inspect, _state
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._common import drive
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError


class TableContext(HostContext):
    """A HostContext whose namespaces are a set of 'mounted' paths."""

    def __init__(self, tmp_path, plugin_dir, mounted=()):
        super().__init__(str(tmp_path / "net.d"), [plugin_dir], str(tmp_path / "cache"),
                         str(tmp_path / "state"))  # netns names resolve in /run/netns; nothing is opened
        self.mounted = set(mounted)

    def netns_status(self, path):
        return "mounted" if path in self.mounted else "absent"


def _result(ip, mac="0a:58:0a:00:00:02", ifname="eth0", sandbox="/x"):
    return {"cniVersion": "1.0.0",
            "interfaces": [{"name": "br"}, {"name": ifname, "mac": mac, "sandbox": sandbox}],
            "ips": [{"address": ip + "/24", "gateway": ip.rsplit(".", 1)[0] + ".1", "interface": 1}]}


@pytest.fixture
def world(tmp_path, conf_dir, plugin_dir, bridge_conflist):
    conf_dir("a.conflist", bridge_conflist("neta", "10.222.1.0/24"))
    conf_dir("b.conflist", bridge_conflist("netb", "10.222.2.0/24", bridge="pnfbr2"))
    ctx = TableContext(tmp_path, plugin_dir, {"/run/netns/c1", "/run/netns/c2"})
    ctx.config_dir = conf_dir.dir

    def cached(net, cid, ifname, ip, netns="/run/netns/c1", caps=None, args=None, mac=None):
        # the sandbox is the netns path (libcni <= 1.1 caches only that one)
        entry = cnicache.CacheEntry(net, cid, ifname, netns, b"", args or [["IgnoreUnknown", "1"]],
                                    caps or {}, _result(ip, mac or "0a:58:0a:00:00:02", ifname,
                                                        netns or "/run/netns/%s" % cid))
        cnicache.write(ctx.cache_dir, entry)
        return entry
    return ctx, cached


def _plan(ctx, *items):
    reqs = [_connect.EntryRequest(ctx, dict(i), n) for n, i in enumerate(items)]
    return _connect.plan_entries(ctx, reqs, run_check=False)


def test_cnitool_container_id_matches_cnitool():
    # seen from the real cnitool 1.1.2 (tests/functional/attachment/test_attachment_cnitool.py)
    assert cnicache.cnitool_container_id("/run/netns/pna2b10u") == "cnitool-108d056120df439ca275"


@pytest.mark.parametrize("used,expected", [
    (set(), "eth0"), ({"eth0"}, "eth1"), ({"eth1"}, "eth0"), ({"eth0", "eth1", "eth3"}, "eth2"),
    ({"net1", "eth0"}, "eth1"),
])
def test_free_ifname(used, expected):
    assert _connect._free_ifname(used) == expected


def test_plan_attach_picks_next_free_interface(world):
    ctx, cached = world
    cached("neta", "c1", "eth0", "10.222.1.5")
    (p,) = _plan(ctx, {"container_id": "c1", "netns": "c1", "network": "netb"})
    assert (p.action, p.ifname, p.netns) == ("attach", "eth1", "/run/netns/c1")


def test_plan_existing_entry_is_attached_whoever_made_it(world):
    ctx, cached = world
    cached("neta", "c1", "eth3", "10.222.1.5", netns="")  # libcni 1.1 caches no netns
    (p,) = _plan(ctx, {"container_id": "c1", "netns": "c1", "network": "neta"})
    assert (p.action, p.ifname) == ("none", "eth3")
    assert p.current.netns == "/run/netns/c1"


def test_plan_uses_record_interface_and_netns(world):
    ctx, cached = world
    _state.save(ctx.state_dir, {"container_id": "c2", "netns": "/run/netns/c2",
                                "networks": [{"network": "netb", "interface": "net7"}]})
    (p,) = _plan(ctx, {"container_id": "c2", "network": "netb"})
    assert (p.action, p.ifname, p.netns) == ("attach", "net7", "/run/netns/c2")
    (p,) = _plan(ctx, {"container_id": "c2", "network": "neta"})
    assert p.ifname == "eth0"


@pytest.mark.parametrize("request_extra,reasons", [
    ({}, []),
    ({"ips": ["10.222.1.5"]}, []),
    ({"ips": ["10.222.1.6"]}, ["ips"]),
    ({"mac": "0A:58:0A:00:00:02"}, []),
    ({"mac": "02:00:00:00:00:01"}, ["mac"]),
    ({"aliases": []}, []),
    ({"aliases": ["web"]}, ["aliases"]),
    ({"port_mappings": [{"host_port": 20401, "container_port": 80}]}, []),
    ({"port_mappings": []}, ["port_mappings"]),
    ({"port_mappings": [{"host_port": 20402, "container_port": 80}]}, ["port_mappings"]),
    ({"cni_args": {"FOO": "1"}}, ["cni_args"]),
    ({"capability_args": {"bandwidth": {"ingressRate": 1}}}, ["capability_args"]),
    ({"netns": "c2"}, ["netns"]),
])
def test_plan_compares_only_what_is_asked(world, request_extra, reasons):
    ctx, cached = world
    cached("neta", "c1", "eth0", "10.222.1.5",
           caps={"portMappings": [{"hostPort": 20401, "containerPort": 80, "protocol": "tcp"}]})
    item = {"container_id": "c1", "netns": "c1", "network": "neta"}
    item.update(request_extra)
    (p,) = _plan(ctx, item)
    assert p.reasons == reasons
    assert p.action == ("reattach" if reasons else "none")
    if reasons and "port_mappings" not in reasons:
        # what is not asked is kept: the port mapping survives a re-attach
        assert p.spec.port_mappings[0]["host_port"] == 20401
    if reasons and "ips" not in reasons:
        assert p.spec.ips == ["10.222.1.5"]  # addresses are kept too


def test_plan_detach(world):
    ctx, cached = world
    cached("neta", "c1", "eth0", "10.222.1.5")
    cached("neta", "c1", "eth5", "10.222.1.6")
    cached("netb", "c1", "eth1", "10.222.2.5")
    (p,) = _plan(ctx, {"container_id": "c1", "network": "neta", "state": "absent"})
    assert p.action == "detach" and sorted(e.ifname for e in p.old) == ["eth0", "eth5"]
    (p,) = _plan(ctx, {"container_id": "c1", "network": "neta", "interface": "eth5", "state": "absent"})
    assert [e.ifname for e in p.old] == ["eth5"]
    (p,) = _plan(ctx, {"container_id": "c1", "network": "gone-net", "state": "absent"})
    assert p.action == "none"  # an unknown network is no error when detaching


@pytest.mark.parametrize("items,fragment", [
    ([{"container_id": "c1", "netns": "c1", "network": "netb", "interface": "eth0"}],
     "interface eth0 of container c1 is already used by network neta"),
    ([{"container_id": "c1", "netns": "c1", "network": "netb", "interface": "eth4"},
      {"container_id": "c1", "netns": "c1", "network": "neta", "interface": "eth4"}],
     "requested for networks"),
    ([{"container_id": "c1", "netns": "c1", "network": "neta"},
      {"container_id": "c1", "netns": "c1", "network": "neta"}], "listed twice"),
    ([{"container_id": "c2", "netns": "c2", "network": "netb", "ips": ["10.222.2.9"]},
      {"container_id": "c1", "netns": "c1", "network": "netb", "ips": ["10.222.2.9"]}],
     "IP 10.222.2.9 in network netb is requested for both c2 and c1"),
    ([{"container_id": "c2", "netns": "c2", "network": "netb",
       "port_mappings": [{"host_port": 20400, "container_port": 1}]},
      {"container_id": "c1", "netns": "c1", "network": "netb",
       "port_mappings": [{"host_port": 20400, "container_port": 2, "host_ip": "127.0.0.1"}]}],
     "host port 20400/tcp is requested for both"),
    ([{"container_id": "c3", "network": "neta"}], "netns"),
    ([{"container_id": "c2", "netns": "c2", "network": "nope"}], "unknown CNI network"),
    ([{"container_id": "c2", "netns": "c2", "network": "neta", "ips": ["10.222.9.1"]}],
     "outside every range"),
])
def test_plan_rejects_conflicts_before_anything(world, items, fragment):
    ctx, cached = world
    cached("neta", "c1", "eth0", "10.222.1.5")
    with pytest.raises(ValidationError) as err:
        _plan(ctx, *items)
    assert fragment in str(err.value)


@pytest.mark.parametrize("item,fragment", [
    ({"container_id": "c1", "network": "neta", "bogus": 1}, "unknown key bogus (valid keys: aliases, capability_args, "),
    ({"container_id": "c 1", "network": "neta"}, "invalid container_id"),
    ({"container_id": "c1", "network": "-x"}, "invalid network name"),
    ({"container_id": "c1", "network": "neta", "state": "gone"}, "invalid state"),
    ({"container_id": "c1", "network": "neta", "capability_args": [1]}, "must be a dict"),
    ({"container_id": "c1", "network": "neta", "netns": "../x"}, "invalid netns"),
])
def test_entry_request_validation(world, item, fragment):
    ctx = world[0]
    with pytest.raises(ValidationError) as err:
        _connect.EntryRequest(ctx, item)
    assert fragment in str(err.value)


def test_record_update_keeps_format_and_order(world, tmp_path):
    ctx, cached = world
    _state.save(ctx.state_dir, {"container_id": "c1", "name": "web", "netns": "/run/netns/c1",
                                "netns_origin": "created", "network_mode": "bridge",
                                "networks": [{"network": "neta", "interface": "eth0"}]})
    (p,) = _plan(ctx, {"container_id": "c1", "netns": "c1", "network": "netb", "aliases": ["x"]})
    p.done = True
    _connect._update_record(ctx, "c1", [p])
    record = _state.load(ctx.state_dir, "c1")
    assert record["netns_origin"] == "created" and record["name"] == "web"
    assert [(n["network"], n["interface"]) for n in record["networks"]] == [
        ("neta", "eth0"), ("netb", "eth1")]
    assert record["networks"][1]["aliases"] == ["x"]


def test_record_created_and_dropped_by_cni_attachment(world):
    ctx, cached = world
    (p,) = _plan(ctx, {"container_id": "c2", "netns": "c2", "network": "neta"})
    p.done = True
    p.entry = cnicache.CacheEntry("neta", "c2", "eth0")
    _connect._update_record(ctx, "c2", [p])
    record = _state.load(ctx.state_dir, "c2")
    assert record["managed_by"] == "cni_attachment" and record["netns"] == "/run/netns/c2"
    cached("neta", "c2", "eth0", "10.222.1.7", netns="/run/netns/c2")
    (p,) = _plan(ctx, {"container_id": "c2", "network": "neta", "state": "absent"})
    p.done = True
    _connect._update_record(ctx, "c2", [p])
    assert _state.load(ctx.state_dir, "c2") is None


def test_check_mode_results_and_diff(world):
    ctx, cached = world
    cached("neta", "c1", "eth0", "10.222.1.5")
    plan, out = drive(_connect.LOGIC, ctx, _connect.ConnectTask([
        {"container_id": "c1", "netns": "c1", "network": "neta"},
        {"container_id": "c1", "netns": "c1", "network": "netb", "ips": ["10.222.2.8"]}],
        check_mode=True), check_mode=True, with_diff=True)
    plans, results = plan.entries, out["results"]
    assert [r["changed"] for r in results] == [False, True]
    assert results[1]["attachment"]["ips"] == ["10.222.2.8"]
    assert "result" not in results[1]["attachment"]  # batch output stays lean
    assert out["diff"] == plan.get_before_after()
    d = _connect.diff(plans).get_before_after()
    assert d["before"]["c1/netb/eth1"] is None and d["after"]["c1/netb/eth1"]["ips"] == ["10.222.2.8"]
    assert d["before"]["c1/neta/eth0"] == d["after"]["c1/neta/eth0"]
    # the real run: an entry that failed before anything of it ran shows no change
    plans[1].error = "refused"
    d = _connect.diff(plans).get_before_after()
    assert d["before"]["c1/netb/eth1"] is None and d["after"]["c1/netb/eth1"] is None
    assert _connect.diff(plans, check_mode=True).get_before_after()["after"]["c1/netb/eth1"]["ips"] == ["10.222.2.8"]


# --- _inspect ---

def test_inspect_totals_and_origin():
    links = {"eth0": {"stats": dict.fromkeys(_inspect.STAT_KEYS, 2)},
             "eth1": {"stats": dict.fromkeys(_inspect.STAT_KEYS, 3)},
             "lo": {"stats": dict.fromkeys(_inspect.STAT_KEYS, 100)}}
    assert _inspect._totals(links, ["eth0", "eth1", "eth9"]) == dict.fromkeys(_inspect.STAT_KEYS, 5)
    e = cnicache.CacheEntry("n", "abc", "eth0", cni_args=[["K8S_POD_INFRA_CONTAINER_ID", "abc"]])
    assert _inspect._origin("abc", e, True) == "podnet"
    assert _inspect._origin("abc", e, False) == "podman"
    assert _inspect._origin("cnitool-1", cnicache.CacheEntry("n", "cnitool-1", "eth0"), False) == "cnitool"
    assert _inspect._origin("x", cnicache.CacheEntry("n", "x", "eth0"), False) == "other"


def test_inspect_procfs_fallback_reads_this_netns():
    links = {l["name"]: l for l in _inspect._procfs_links()}
    assert "lo" in links and set(links["lo"]["stats"]) == set(_inspect.STAT_KEYS)


def test_inspect_gather_without_stats(world):
    ctx, cached = world
    cached("neta", "c1", "eth0", "10.222.1.5")
    _state.save(ctx.state_dir, {"container_id": "c1", "netns": "/run/netns/c1",
                                "networks": [{"network": "neta", "interface": "eth0"},
                                             {"network": "netb", "interface": "eth1"}]})
    out, warnings, dummy = _inspect.gather(ctx, None, stats=False)
    c = out["c1"]
    assert [(a["network"], a["cached"]) for a in c["attachments"]] == [("neta", True), ("netb", False)]
    assert c["network_settings"]["IPAddress"] == "10.222.1.5"
    assert json.dumps(out)  # JSON-serialisable for the module result


def test_plan_explicit_interface_moves_the_attachment(world):
    ctx, cached = world
    cached("neta", "c1", "eth0", "10.222.1.5")
    (p,) = _plan(ctx, {"container_id": "c1", "netns": "c1", "network": "neta", "interface": "net3"})
    assert (p.action, p.reasons, p.ifname) == ("reattach", ["interface"], "net3")
    assert [e.ifname for e in p.old] == ["eth0"] and p.spec.ips == ["10.222.1.5"]
