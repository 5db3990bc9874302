# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_container: request validation, interface naming, plans and their diffs.

The kernel is the one thing replaced here: namespace status comes from a dict
(tests/lib/plan_context.py; the ``ctx`` fixture is in this folder's conftest.py;
tests/functional/core proves the same plans against real namespaces).
"""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _container, _container_request, _netns, _state
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError

from plan_context import apply, fake_result


def request(ctx, networks=("pnf-a",), **kw):
    kw.setdefault("container_id", "pnf-c1")
    return _container_request.ContainerRequest(ctx, networks=list(networks), **kw)


def actions(plan):
    return [(a["action"], a.get("network"), a.get("interface")) for a in plan.actions]


# --- naming ---

@pytest.mark.parametrize("networks,expected", [
    (["pnf-a"], [("pnf-a", "eth0")]),
    (["pnf-a", "pnf-b", "pnf-c"], [("pnf-a", "eth0"), ("pnf-b", "eth1"), ("pnf-c", "eth2")]),
    ([{"name": "pnf-a", "interface": "net0"}, "pnf-b"], [("pnf-a", "net0"), ("pnf-b", "eth1")]),
    (["pnf-a", {"name": "pnf-b", "interface": "eth0"}], [("pnf-a", "eth1"), ("pnf-b", "eth0")]),
    (["pnf-a", "pnf-b", {"name": "pnf-c", "interface": "eth1"}],
     [("pnf-a", "eth0"), ("pnf-b", "eth2"), ("pnf-c", "eth1")]),
])
def test_interface_names_fresh(ctx, networks, expected):
    plan = _container.plan(ctx, request(ctx, networks))
    assert [(s.network, s.ifname) for s in plan.specs] == expected
    assert actions(plan) == [("create_netns", None, None)] + [("attach", n, i) for n, i in expected]
    assert plan.changed


def test_existing_interfaces_are_kept_and_only_the_difference_planned(ctx):
    req = request(ctx, ["pnf-a", "pnf-b"])
    apply(ctx, req, _container.plan(ctx, req))
    # drop pnf-a, add pnf-c in front: pnf-b keeps eth1, pnf-c takes the free eth0
    req2 = request(ctx, ["pnf-c", "pnf-b"])
    plan = _container.plan(ctx, req2)
    assert [(s.network, s.ifname) for s in plan.specs] == [("pnf-c", "eth0"), ("pnf-b", "eth1")]
    assert actions(plan) == [("detach", "pnf-a", "eth0"), ("attach", "pnf-c", "eth0")]
    apply(ctx, req2, plan)
    # pnf-a comes back at the end: eth0 and eth1 are taken, so eth2
    req3 = request(ctx, ["pnf-c", "pnf-b", "pnf-a"])
    plan = _container.plan(ctx, req3)
    assert actions(plan) == [("attach", "pnf-a", "eth2")]


def test_reordering_changes_nothing(ctx):
    req = request(ctx, ["pnf-a", "pnf-b"])
    apply(ctx, req, _container.plan(ctx, req))
    plan = _container.plan(ctx, request(ctx, ["pnf-b", "pnf-a"]))
    assert [(s.network, s.ifname) for s in plan.specs] == [("pnf-b", "eth1"), ("pnf-a", "eth0")]
    assert [a for a in actions(plan) if a[0] != "save_record"] == []


def test_second_plan_is_empty_and_unchanged(ctx):
    req = request(ctx, ["pnf-a", {"name": "pnf-b", "ips": ["10.220.2.7"], "aliases": ["db"]}],
                  port_mappings=[{"container_port": 80, "host_port": 20201}],
                  static_ip="10.220.1.9", static_mac="02:00:00:22:00:01")
    first = _container.plan(ctx, req)
    apply(ctx, req, first)
    second = _container.plan(ctx, req)
    assert second.actions == []
    assert second.changed is False
    diff = second.diff.get_before_after()
    assert diff["before"] == diff["after"]


def test_record_missing_for_an_existing_attachment_is_saved(ctx):
    req = request(ctx)
    apply(ctx, req, _container.plan(ctx, req))
    _state.delete(ctx.state_dir, req.container_id)
    plan = _container.plan(ctx, req)
    assert actions(plan) == [("save_record", None, None)]
    assert plan.changed


def test_static_ip_mac_and_ports_go_to_the_first_network(ctx):
    req = request(ctx, ["pnf-a", "pnf-b"], static_ip="10.220.1.9", static_mac="02:00:00:22:00:01",
                  port_mappings=[{"container_port": 80, "host_port": 20201, "host_ip": "127.0.0.1"}])
    first, second = _container.plan(ctx, req).specs
    assert (first.ips, first.mac) == (["10.220.1.9"], "02:00:00:22:00:01")
    assert first.port_mappings[0]["host_port"] == 20201
    assert (second.ips, second.mac, second.port_mappings) == ([], None, [])


def test_network_entry_addresses_win_over_static_ones(ctx):
    req = request(ctx, [{"name": "pnf-a", "ips": "10.220.1.20", "mac": "02:00:00:22:00:02"}],
                  static_ip="10.220.1.9", static_mac="02:00:00:22:00:01")
    spec = _container.plan(ctx, req).specs[0]
    assert (spec.ips, spec.mac) == (["10.220.1.20"], "02:00:00:22:00:02")


@pytest.mark.parametrize("change,reason", [
    ({"static_ip": "10.220.1.30"}, "ips"),
    ({"static_mac": "02:00:00:22:00:09"}, "mac"),
    ({"port_mappings": [{"container_port": 81, "host_port": 20201}]}, "port_mappings"),
    ({"networks": [{"name": "pnf-a", "aliases": ["web2"]}]}, "aliases"),
])
def test_changed_properties_reattach(ctx, change, reason):
    base = {"networks": [{"name": "pnf-a", "aliases": ["web"]}], "static_ip": "10.220.1.9",
            "static_mac": "02:00:00:22:00:01",
            "port_mappings": [{"container_port": 80, "host_port": 20201}]}
    req = request(ctx, **base)
    apply(ctx, req, _container.plan(ctx, req))
    base.update(change)
    plan = _container.plan(ctx, request(ctx, **base))
    assert [(a["action"], a["reasons"]) for a in plan.actions] == [("reattach", [reason])]
    diff = plan.diff.get_before_after()
    assert diff["before"]["container"]["networks"]["pnf-a"] != \
        diff["after"]["container"]["networks"]["pnf-a"]


def test_stale_entries_are_detached(ctx):
    req = request(ctx)
    apply(ctx, req, _container.plan(ctx, req))
    ctx.ns[req.netns] = "absent"   # e.g. after a reboot: the netns is gone, the cache is not
    plan = _container.plan(ctx, req)
    assert [(a["action"], a.get("stale")) for a in plan.actions] == [
        ("detach", True), ("create_netns", None), ("attach", None)]


def test_stale_netns_file_is_replaced(ctx):
    req = request(ctx)
    ctx.ns[req.netns] = "stale"
    assert actions(_container.plan(ctx, req))[:2] == [
        ("remove_stale_netns", None, None), ("create_netns", None, None)]


def test_pid_pins_instead_of_creating(ctx):
    req = request(ctx, pid=os.getpid())
    plan = _container.plan(ctx, req)
    assert plan.actions[0] == {"action": "pin_netns", "netns": req.netns, "pid": os.getpid()}
    assert plan.record["netns_origin"] == "pinned"


@pytest.mark.parametrize("extra", [{"pid": "self"}, {"pid": 1}, {"netns": "/proc/self/ns/net"},
                                   {"netns": "/proc/1/ns/net"}])
def test_the_modules_own_and_the_hosts_namespace_are_refused(ctx, extra):
    ctx._forbidden = None
    if extra.get("pid") == "self":
        extra = {"pid": os.getpid()}
    if (extra.get("pid") == 1 or extra.get("netns") == "/proc/1/ns/net") and _netns.ident("/proc/1/ns/net") is None:
        pytest.skip("PID 1's namespace cannot be read here (not even its identity)")
    ctx.ns["/proc/self/ns/net"] = ctx.ns["/proc/1/ns/net"] = "mounted"
    with pytest.raises(ValidationError, match="never a container's"):
        _container.plan(ctx, request(ctx, **extra))


def test_a_gone_pid_is_refused_in_planning(ctx):
    with pytest.raises(ValidationError, match="no such process"):
        _container.plan(ctx, request(ctx, pid=2 ** 22 + 7))


def test_diff_of_a_new_container(ctx):
    req = request(ctx, ["pnf-a"], static_ip="10.220.1.9", name="web")
    diff = _container.plan(ctx, req).diff.get_before_after()
    assert diff["before"] == {"container": {"netns": None, "name": None, "network_mode": None,
                                            "networks": {}}}
    after = diff["after"]["container"]
    assert (after["netns"], after["name"], after["network_mode"]) == (req.netns, "web", "bridge")
    assert after["networks"] == {"pnf-a": {"network": "pnf-a", "interface": "eth0",
                                           "ips": ["10.220.1.9"], "mac": None, "aliases": [],
                                           "port_mappings": []}}


# --- absent ---

def test_absent_of_nothing_is_unchanged(ctx):
    plan = _container.plan(ctx, request(ctx, [], state="absent"))
    assert plan.actions == [] and plan.changed is False


def test_absent_detaches_and_removes_a_created_netns(ctx):
    req = request(ctx, ["pnf-a", "pnf-b"])
    apply(ctx, req, _container.plan(ctx, req))
    plan = _container.plan(ctx, request(ctx, [], state="absent"))
    assert sorted(actions(plan)) == [("detach", "pnf-a", "eth0"), ("detach", "pnf-b", "eth1"),
                                     ("remove_netns", None, None)]
    diff = plan.diff.get_before_after()
    assert set(diff["before"]["container"]["networks"]) == {"pnf-a", "pnf-b"}
    assert diff["after"]["container"] == {"netns": None, "name": None, "network_mode": None,
                                          "networks": {}}


def test_absent_unmounts_a_netns_we_pinned_and_is_idempotent(ctx):
    req = request(ctx, pid=os.getpid())
    apply(ctx, req, _container.plan(ctx, req))
    assert _state.load(ctx.state_dir, "pnf-c1")["netns_origin"] == "pinned"
    plan = _container.plan(ctx, request(ctx, [], state="absent"))
    # the pin is ours (the process keeps its namespace): it goes, as podman's teardownNetNS
    assert actions(plan) == [("detach", "pnf-a", "eth0"), ("remove_netns", None, None)]
    assert plan.diff.get_before_after()["after"]["container"]["netns"] is None
    cnicache.delete(ctx.cache_dir, "pnf-a", "pnf-c1", "eth0")
    _state.delete(ctx.state_dir, "pnf-c1")
    ctx.ns.clear()
    again = _container.plan(ctx, request(ctx, [], state="absent"))
    assert again.actions == []
    assert again.changed is False


def test_absent_leaves_a_netns_that_existed_before(ctx):
    path = ctx.netns_path("pnf-theirs")
    ctx.ns[path] = "mounted"
    req = request(ctx, netns="pnf-theirs")
    apply(ctx, req, _container.plan(ctx, req))
    assert _state.load(ctx.state_dir, "pnf-c1")["netns_origin"] == "existing"
    plan = _container.plan(ctx, request(ctx, [], state="absent", netns="pnf-theirs"))
    assert actions(plan) == [("detach", "pnf-a", "eth0")]


def test_absent_forgets_a_lone_record(ctx):
    req = request(ctx)
    apply(ctx, req, _container.plan(ctx, req))
    cnicache.delete(ctx.cache_dir, "pnf-a", "pnf-c1", "eth0")
    ctx.ns.clear()
    assert actions(_container.plan(ctx, request(ctx, [], state="absent"))) == [
        ("forget_record", None, None)]


# --- bad input: ValidationError naming the value, before anything happens ---

@pytest.mark.parametrize("kw,needle", [
    ({"container_id": "-bad"}, "invalid container_id '-bad'"),
    ({"container_id": "a/b"}, "invalid container_id 'a/b'"),
    ({"name": "x y"}, "invalid name 'x y'"),
    ({"netns": "../etc"}, "invalid netns path '../etc'"),
    ({"netns": ".."}, "invalid netns name '..'"),
    ({"netns": "/run/netns/../x"}, "'/run/netns/../x'"),
    ({"pid": 0}, "invalid pid 0"),
    ({"network_mode": "bogus"}, "invalid network_mode 'bogus'"),
    ({"network_mode": "host"}, "networks are only used with network_mode=bridge, not 'host'"),
    ({"network_mode": "host", "networks": [], "netns": "x"}, "netns cannot be used with network_mode host"),
    ({"network_mode": "host", "networks": [], "pid": 1}, "pid cannot be used with network_mode host"),
    ({"network_mode": "host", "networks": [], "port_mappings": [{"container_port": 80}]},
     "port_mappings cannot be used with network_mode host: the process binds host ports itself"),
    ({"network_mode": "container:", "networks": []}, "the container of network_mode container:"),
    ({"network_mode": "container:a/b", "networks": []}, "'a/b'"),
    ({"network_mode": "container:pnf-c1", "networks": []}, "cannot join its own namespace"),
    ({"network_mode": "container:pnf-o", "networks": [], "port_mappings": [{"container_port": 80}]},
     "ports are mapped on the networks of container pnf-o"),
    ({"network_mode": "ns:relative", "networks": []}, "must be an absolute path"),
    ({"network_mode": "ns:/run/netns/../x", "networks": []}, "'/run/netns/../x'"),
    ({"network_mode": "none"}, "only used with network_mode=bridge"),
    ({"networks": []}, "needs at least one network"),
    ({"networks": ["pnf-a", "pnf-a"]}, "network 'pnf-a' is listed twice"),
    ({"networks": [{"name": "pnf-a", "interface": "x0"}, {"name": "pnf-b", "interface": "x0"}]},
     "interface name 'x0' is used twice"),
    ({"networks": [{"name": "pnf-a", "interface": "averyveryverylongname"}]},
     "'averyveryverylongname'"),
    ({"networks": [{"name": "pnf-a", "interface": "eth:0"}]}, "'eth:0'"),
    ({"networks": [{"name": "pnf-a", "ifname": "eth0"}]},
     "unknown key ifname (valid keys: aliases, interface, ips, mac, name)"),
    ({"networks": [{"name": "pnf-a", "ifname": "eth0", "ip": "x"}]}, "unknown keys ifname, ip (valid keys: "),
    ({"networks": [{"interface": "eth0"}]}, "invalid network entry"),
    ({"networks": [{"name": "pnf-a", "ips": ["10.220.1.300"]}]}, "'10.220.1.300'"),
    ({"networks": [{"name": "pnf-a", "mac": "01:00:5e:00:00:01"}]}, "'01:00:5e:00:00:01'"),
    ({"networks": [{"name": "pnf-a", "aliases": ["-x"]}]}, "'-x'"),
    ({"static_ip": "10.220.1"}, "invalid static_ip '10.220.1'"),
    ({"static_mac": "zz:00:00:00:00:01"}, "'zz:00:00:00:00:01'"),
    ({"port_mappings": [{"container_port": 70000}]}, "container_port 70000"),
    ({"port_mappings": [{"container_port": 80, "protocol": "icmp"}]}, "'icmp'"),
])
def test_bad_request(ctx, kw, needle):
    with pytest.raises(ValidationError) as info:
        request(ctx, **kw)
    assert needle in str(info.value)


@pytest.mark.parametrize("kw,error,needle", [
    ({"networks": ["pnf-nope"]}, ValidationError, "unknown CNI network 'pnf-nope'"),
    ({"static_ip": "10.220.2.9"}, ValidationError, "IP 10.220.2.9 is outside every range of network pnf-a"),
    ({"networks": ["pnf-plain"], "static_mac": "02:00:00:22:00:01"}, ValidationError,
     "cannot set MAC 02:00:00:22:00:01"),
    ({"networks": ["pnf-plain"], "port_mappings": [{"container_port": 80}]}, ValidationError,
     "network pnf-plain cannot map ports"),
])
def test_bad_plan(ctx, kw, error, needle):
    with pytest.raises(error) as info:
        _container.plan(ctx, request(ctx, **kw))
    assert needle in str(info.value)


def test_missing_plugin_binary(ctx):
    os.unlink(os.path.join(ctx.plugin_dirs[0], "tuning"))
    with pytest.raises(ConfigError, match="CNI plugin 'tuning' not found"):
        _container.plan(ctx, request(ctx))


def test_plugins_looked_up_once_per_task(ctx, monkeypatch):
    # a batch plans many containers of one network: the binaries are found once per task
    from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
    calls = []
    real = cniconf.validate_plugins
    monkeypatch.setattr(cniconf, "validate_plugins", lambda conf, dirs: calls.append(conf.name) or real(conf, dirs))
    for cid in ("pnf-one", "pnf-two"):
        _container.plan(ctx, request(ctx, container_id=cid))
    assert calls == ["pnf-a"]
    fresh = type(ctx)(ctx.config_dir, ctx.plugin_dirs, ctx.cache_dir, ctx.state_dir, ctx.netns_dir)
    os.unlink(os.path.join(ctx.plugin_dirs[0], "tuning"))  # the next task looks again
    with pytest.raises(ConfigError, match="CNI plugin 'tuning' not found"):
        _container.plan(fresh, request(fresh))


def test_ip_taken_by_another_container(ctx):
    os.makedirs(os.path.join(ctx.ipam_dir, "pnf-a"))
    with open(os.path.join(ctx.ipam_dir, "pnf-a", "10.220.1.9"), "w") as f:
        f.write("pnf-other\neth0")
    with pytest.raises(ValidationError, match="10.220.1.9 is already taken in network pnf-a by "
                                              "container pnf-other"):
        _container.plan(ctx, request(ctx, static_ip="10.220.1.9"))
    # our own reservation (a re-run) is fine
    _container.plan(ctx, request(ctx, container_id="pnf-other", static_ip="10.220.1.9"))


def test_host_port_taken_by_another_container(ctx):
    other = request(ctx, container_id="pnf-c2",
                    port_mappings=[{"container_port": 80, "host_port": 20202}])
    apply(ctx, other, _container.plan(ctx, other))
    with pytest.raises(ValidationError, match="host port 20202/tcp is already mapped by "
                                              "container pnf-c2"):
        _container.plan(ctx, request(ctx, port_mappings=[{"container_port": 8080,
                                                          "host_port": 20202}]))
    # another protocol is fine
    _container.plan(ctx, request(ctx, port_mappings=[{"container_port": 80, "host_port": 20202,
                                                      "protocol": "udp"}]))


def test_unknown_network_names_skipped_files(ctx, conf_dir):
    conf_dir("pnf-broken.conflist", "{not json")
    ctx.reload_networks()
    with pytest.raises(ValidationError) as info:
        _container.plan(ctx, request(ctx, ["pnf-broken"]))
    assert "unknown CNI network 'pnf-broken'" in str(info.value)
    assert "pnf-broken.conflist" in str(info.value)
    assert "not valid JSON" in str(info.value)


def test_record_json_is_private(ctx):
    req = request(ctx)
    apply(ctx, req, _container.plan(ctx, req))
    path = _state.record_path(ctx.state_dir, "pnf-c1")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with open(path) as f:
        record = json.load(f)
    assert record["netns_origin"] == "created"
    assert record["networks"][0]["interface"] == "eth0"


def test_a_new_netns_name_removes_the_one_we_created(ctx):
    req = request(ctx, netns="pnf-old")
    apply(ctx, req, _container.plan(ctx, req))
    plan = _container.plan(ctx, request(ctx, netns="pnf-new"))
    assert [(a["action"], a.get("netns")) for a in plan.actions] == [
        ("detach", None), ("remove_netns", ctx.netns_path("pnf-old")),
        ("create_netns", ctx.netns_path("pnf-new")), ("attach", None)]


def test_a_new_netns_name_unmounts_the_one_we_pinned(ctx):
    req = request(ctx, netns="pnf-old", pid=os.getpid())
    apply(ctx, req, _container.plan(ctx, req))
    plan = _container.plan(ctx, request(ctx, netns="pnf-new"))
    assert [(a["action"], a.get("netns")) for a in plan.actions] == [
        ("detach", None), ("remove_netns", ctx.netns_path("pnf-old")),
        ("create_netns", ctx.netns_path("pnf-new")), ("attach", None)]


def test_a_new_netns_name_keeps_one_that_existed_before(ctx):
    ctx.ns[ctx.netns_path("pnf-old")] = "mounted"
    req = request(ctx, netns="pnf-old")
    apply(ctx, req, _container.plan(ctx, req))
    plan = _container.plan(ctx, request(ctx, netns="pnf-new"))
    assert [a["action"] for a in plan.actions] == ["detach", "create_netns", "attach"]


# --- durable connects (issue 12): who attached a network decides who detaches it ---

def connect(ctx, req, network, ifname, attached_by="cni_attachment", record=True):
    """What cni_attachment leaves: a cache entry in the container's netns and (``record``)
    the network in the container's record, attached by ``attached_by``."""
    spec = _attach.AttachmentSpec(network, ifname)
    conf = ctx.get_network(network)
    rt = _attach.runtime_conf(conf, spec, req.container_id, req.name, req.netns)
    cnicache.write(ctx.cache_dir, cnicache.CacheEntry(network, req.container_id, ifname, req.netns,
                                                      conf.raw, rt.args, rt.capability_args,
                                                      fake_result(spec)))
    if record:
        rec = _state.load(ctx.state_dir, req.container_id)
        item = spec.to_dict()
        if attached_by is not None:
            item["attached_by"] = attached_by
        rec["networks"].append(item)
        _state.save(ctx.state_dir, rec)


def test_the_record_says_container_netns_attached_its_networks(ctx):
    req = request(ctx, ["pnf-a", "pnf-b"])
    plan = _container.plan(ctx, req)
    assert [n["attached_by"] for n in plan.record["networks"]] == ["container_netns"] * 2


def test_a_connected_network_stays_when_the_list_does_not_name_it(ctx):
    req = request(ctx, ["pnf-a"])
    apply(ctx, req, _container.plan(ctx, req))
    connect(ctx, req, "pnf-b", "eth1")
    plan = _container.plan(ctx, req)
    assert plan.actions == [] and plan.changed is False
    diff = plan.diff.get_before_after()
    assert diff["before"] == diff["after"]
    assert "pnf-b" in diff["after"]["container"]["networks"]
    # the record keeps it, as cni_attachment's
    assert [(n["network"], n["attached_by"]) for n in plan.record["networks"]] == [
        ("pnf-a", "container_netns"), ("pnf-b", "cni_attachment")]


def test_purge_networks_detaches_every_network_not_listed(ctx):
    req = request(ctx, ["pnf-a"])
    apply(ctx, req, _container.plan(ctx, req))
    connect(ctx, req, "pnf-b", "eth1")
    connect(ctx, req, "pnf-c", "eth2", record=False)  # another tool's (cnitool, podman)
    assert _container.plan(ctx, req).actions == []
    purge = request(ctx, ["pnf-a"], purge_networks=True)
    plan = _container.plan(ctx, purge)
    assert sorted(actions(plan)) == [("detach", "pnf-b", "eth1"), ("detach", "pnf-c", "eth2")]
    assert list(plan.diff.get_before_after()["after"]["container"]["networks"]) == ["pnf-a"]
    assert [n["network"] for n in plan.record["networks"]] == ["pnf-a"]


def test_only_own_networks_removed_from_the_list_are_detached(ctx):
    req = request(ctx, ["pnf-a", "pnf-c"])
    apply(ctx, req, _container.plan(ctx, req))
    connect(ctx, req, "pnf-b", "eth2")
    plan = _container.plan(ctx, request(ctx, ["pnf-a"]))
    assert actions(plan) == [("detach", "pnf-c", "eth1")]
    assert sorted(plan.diff.get_before_after()["after"]["container"]["networks"]) == ["pnf-a", "pnf-b"]


def test_an_older_record_without_attached_by_counts_as_container_netns(ctx):
    req = request(ctx, ["pnf-a"])
    apply(ctx, req, _container.plan(ctx, req))
    connect(ctx, req, "pnf-b", "eth1", attached_by=None)
    rec = _state.load(ctx.state_dir, req.container_id)
    for net in rec["networks"]:
        net.pop("attached_by", None)
    _state.save(ctx.state_dir, rec)
    assert actions(_container.plan(ctx, req)) == [("detach", "pnf-b", "eth1")]


def test_a_new_network_avoids_the_interface_of_a_connected_one(ctx):
    req = request(ctx, ["pnf-a"])
    apply(ctx, req, _container.plan(ctx, req))
    connect(ctx, req, "pnf-b", "eth1")
    plan = _container.plan(ctx, request(ctx, ["pnf-a", "pnf-c"]))
    assert actions(plan) == [("attach", "pnf-c", "eth2")]


def test_listing_a_connected_network_keeps_who_attached_it(ctx):
    req = request(ctx, ["pnf-a"])
    apply(ctx, req, _container.plan(ctx, req))
    connect(ctx, req, "pnf-b", "eth1")
    both = request(ctx, ["pnf-a", "pnf-b"])
    plan = _container.plan(ctx, both)
    assert [a for a in actions(plan) if a[0] != "save_record"] == []
    assert [(n["network"], n["attached_by"]) for n in plan.record["networks"]] == [
        ("pnf-a", "container_netns"), ("pnf-b", "cni_attachment")]
    apply(ctx, both, plan)
    # dropped from the list again: still cni_attachment's, so it stays
    assert _container.plan(ctx, req).actions == []


# --- network_mode container:<id>, ns:<path>, host (issue 12) ---

def test_a_joiner_plans_no_cni_call_and_records_its_owner(ctx):
    owner = request(ctx)
    apply(ctx, owner, _container.plan(ctx, owner))
    joiner = request(ctx, [], container_id="pnf-j1", network_mode="container:pnf-c1")
    plan = _container.plan(ctx, joiner)
    assert plan.actions == [{"action": "join_netns", "netns": owner.netns, "container": "pnf-c1"}]
    assert plan.specs == []
    assert (plan.record["netns"], plan.record["joins"], plan.record["netns_origin"]) == (
        owner.netns, "pnf-c1", "shared")
    apply(ctx, joiner, plan)
    assert _container.plan(ctx, joiner).actions == []
    # the owner cannot go while it has a joiner, unless force (the joiner's record goes too)
    with pytest.raises(ValidationError, match="pnf-j1 joined its network namespace"):
        _container.plan(ctx, request(ctx, [], state="absent"))
    forced = _container.plan(ctx, request(ctx, [], state="absent", force=True))
    assert ("forget_joiner", None, None) in actions(forced)
    assert {"action": "forget_joiner", "container": "pnf-j1"} in forced.actions
    # ... or when the same batch removes the joiner
    assert _container.plan(ctx, request(ctx, [], state="absent"), leaving=["pnf-j1"]).actions
    # the joiner goes alone, touching nothing of the owner
    gone = _container.plan(ctx, request(ctx, [], container_id="pnf-j1", state="absent"))
    assert gone.actions == [{"action": "forget_record"}]


def test_a_joiner_needs_a_present_owner_with_a_namespace_of_its_own(ctx):
    with pytest.raises(ValidationError, match="container pnf-c1 is not present"):
        _container.plan(ctx, request(ctx, [], container_id="pnf-j1", network_mode="container:pnf-c1"))
    host = request(ctx, [], network_mode="host")
    apply(ctx, host, _container.plan(ctx, host))
    with pytest.raises(ValidationError, match="network_mode host"):
        _container.plan(ctx, request(ctx, [], container_id="pnf-j1", network_mode="container:pnf-c1"))


def test_a_container_with_its_own_namespace_is_not_switched_to_a_shared_mode(ctx):
    req = request(ctx)
    apply(ctx, req, _container.plan(ctx, req))
    with pytest.raises(ValidationError, match="remove it first"):
        _container.plan(ctx, request(ctx, [], network_mode="host"))


def test_host_mode_records_no_namespace(ctx):
    plan = _container.plan(ctx, request(ctx, [], network_mode="host"))
    assert plan.actions == [{"action": "use_host_netns", "netns": None}]
    assert plan.record["netns"] is None and plan.record["network_mode"] == "host"


def test_a_record_the_joiner_scan_cannot_read_is_reported_not_skipped(ctx):
    """Removing an owner looks for the containers that joined its namespace in the records;
    one it cannot read may be such a joiner (it would lose its network with the namespace):
    the removal warns naming the file (docs/state-and-trust.md: never silently skipped)."""
    owner = request(ctx)
    apply(ctx, owner, _container.plan(ctx, owner))
    joiner = request(ctx, [], container_id="pnf-j1", network_mode="container:pnf-c1")
    apply(ctx, joiner, _container.plan(ctx, joiner))
    path = os.path.join(ctx.state_dir, "containers", "pnf-j1.json")
    with open(path) as f:
        data = f.read()
    with open(path, "w") as f:
        f.write(data[:20])  # truncated
    _container.plan(ctx, request(ctx, [], state="absent"))
    assert [w for w in ctx.warnings if w.startswith("cannot be used (left alone): %s: " % path)], ctx.warnings
