# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_reload: the rules the plugins own, false CHECK alarms, target selection, plans and
reports. The kernel is replaced by a dict of namespace states and ``iptables -S`` by a
listing (tests/functional/reload runs the same against real wipes)."""
from __future__ import annotations

import json

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _reload, _state
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import config as cniconf
from ansible_collections.podnet.cni.plugins.module_utils._cni import rules as cnirules
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import CniPluginError, ValidationError

LIVE = "/run/netns/pnl-live"
DEAD = "/run/netns/pnl-dead"


class FakeNsContext(HostContext):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ns = {LIVE: "mounted", LIVE + "2": "mounted"}

    def netns_status(self, path):
        return self.ns.get(path, "absent")


def result(ip, mac="0a:58:0a:e1:01:02", ifname="eth0"):
    return {"cniVersion": "1.0.0",
            "interfaces": [{"name": "br"}, {"name": ifname, "mac": mac, "sandbox": "/x"}],
            "ips": [{"address": ip + ("/64" if ":" in ip else "/24"), "interface": 1}]}


def entry(net="pnl-n1", cid="pnlc1", netns=LIVE, ip="10.225.1.2", ports=(), ifname="eth0",
          config=b""):
    caps = {"portMappings": [{"hostPort": p, "containerPort": 80, "protocol": "tcp"} for p in ports]} \
        if ports else {}
    return cnicache.CacheEntry(net, cid, ifname, netns, config,
                               [["IgnoreUnknown", "1"], ["K8S_POD_NAME", cid]], caps, result(ip, ifname=ifname))


def conflist(name="pnl-n1", masq=True, portmap=True, firewall=True, backend=None, version="1.0.0",
             disable_check=False):
    plugins = [{"type": "bridge", "bridge": "pnlbr", "ipMasq": masq,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.225.1.0/24"}]]}}]
    if portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}})
    if firewall:
        plugins.append({"type": "firewall", **({"backend": backend} if backend else {})})
    data = {"cniVersion": version, "name": name, "plugins": plugins}
    if disable_check:
        data["disableCheck"] = True
    return cniconf.conflist_from_bytes(json.dumps(data).encode())


# --- chain names (checked against the real plugins 1.1.1: see tests/functional/reload) ---

def test_chain_names_match_the_plugins():
    assert cnirules.masq_chain("pnlexp", "pnlexpc1") == "CNI-c1ee2f7bb03eae5f4ffd5faf"
    assert cnirules.dnat_chain("pnlexp", "pnlexpc1") == "CNI-DN-c1ee2f7bb03eae5f4ffd5"
    assert len(cnirules.masq_chain("x" * 300, "y")) == 28  # iptables' chain name limit


M = cnirules.masq_chain("pnl-n1", "pnlc1")
D = cnirules.dnat_chain("pnl-n1", "pnlc1")


@pytest.mark.parametrize("conf,ent,fallback,expected", [
    (conflist(), entry(), False,
     [("chain", "nat", M), ("rule", "nat", "POSTROUTING", "-s 10.225.1.2/32", "-j " + M)]),
    (conflist(masq=False, firewall=False), entry(ports=[8080]), False,
     [("chain", "nat", D), ("rule", "nat", "CNI-HOSTPORT-DNAT", "-j " + D),
      ("rule", "nat", "PREROUTING", "-j CNI-HOSTPORT-DNAT")]),
    (conflist(masq=False, portmap=False), entry(ports=[8080]), False, []),
    (conflist(masq=False), entry(ports=[8080]), True,
     [("chain", "nat", D), ("rule", "nat", "CNI-HOSTPORT-DNAT", "-j " + D),
      ("rule", "nat", "PREROUTING", "-j CNI-HOSTPORT-DNAT"),
      ("rule", "filter", "FORWARD", "-j CNI-FORWARD"),
      ("rule", "filter", "CNI-FORWARD", "-s 10.225.1.2/32", "-j ACCEPT")]),
    (conflist(masq=False, firewall=False), entry(), True, []),  # no ports: portmap owns nothing
    (conflist(masq=False, portmap=False, backend="firewalld"), entry(), True, []),
    (conflist(), entry(ip="fd00::2"), True, [("rule", "filter", "FORWARD", "-j CNI-FORWARD")]),
])
def test_owned_rules(conf, ent, fallback, expected):
    assert cnirules.owned_rules(conf, ent, fallback) == expected


LISTING = {"nat": ["-N %s" % M, "-A POSTROUTING -s 10.225.1.2/32 -m comment --comment \"x\" -j %s" % M],
           "filter": ["-A FORWARD -j CNI-FORWARD", "-A CNI-FORWARD -s 10.225.1.20/32 -j ACCEPT"]}


@pytest.mark.parametrize("rules,missing", [
    ([("chain", "nat", M)], []),
    ([("chain", "nat", D)], ["chain %s in table nat" % D]),
    ([("rule", "nat", "POSTROUTING", "-s 10.225.1.2/32", "-j " + M)], []),
    ([("rule", "nat", "POSTROUTING", "-s 10.225.1.3/32", "-j " + M)],
     ["rule -s 10.225.1.3/32 -j %s in chain POSTROUTING of table nat" % M]),
    # 10.225.1.2/32 must not match the rule of 10.225.1.20/32
    ([("rule", "filter", "CNI-FORWARD", "-s 10.225.1.2/32", "-j ACCEPT")],
     ["rule -s 10.225.1.2/32 -j ACCEPT in chain CNI-FORWARD of table filter"]),
    ([("rule", "mangle", "X", "-j Y")], ["rule -j Y in chain X of table mangle"]),
])
def test_missing_rules(rules, missing):
    assert cnirules.missing_rules(rules, LISTING) == missing


def perr(plugin, msg):
    return CniPluginError(msg, code=999, plugin=plugin, command="CHECK", network="n")


@pytest.mark.parametrize("ent,err,tolerated", [
    (entry(), perr("portmap", "could not check ipv6 dnat: chain CNI-DN-x not found"), True),
    (entry(ip="fd00::2"), perr("portmap", "could not check ipv6 dnat: chain CNI-DN-x not found"), False),
    (entry(), perr("portmap", "could not check ipv4 dnat: chain CNI-DN-x not found"), False),
    (entry(), perr("firewall", "could not check ipv6 dnat"), False),
])
def test_false_check_alarm(ent, err, tolerated):
    assert _attach.false_check_alarm(ent)(err) is tolerated


# --- targets, plans, reports ---

@pytest.fixture
def ctx(tmp_path, plugin_dir):
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    for name in ("pnl-n1", "pnl-n2"):
        (conf_dir / ("%s.conflist" % name)).write_bytes(conflist(name, masq=False).raw)
    return FakeNsContext(config_dir=str(conf_dir), plugin_dirs=[plugin_dir],
                         cache_dir=str(tmp_path / "cache"), state_dir=str(tmp_path / "state"))


def put(ctx, *entries):
    for e in entries:
        if not e.config:
            e.config = ctx.get_network(e.network).raw
        cnicache.write(ctx.cache_dir, e)


def record(ctx, cid, netns, networks):
    _state.save(ctx.state_dir, {"container_id": cid, "name": cid, "netns": netns,
                                "networks": [{"network": n, "interface": i} for n, i in networks]})


def test_select_all_takes_records_and_other_tools_live_entries(ctx):
    put(ctx, entry("pnl-n2", "pnlc1", ifname="eth1", ip="10.225.2.2"), entry("pnl-n1", "pnlc1"),
        entry("pnl-n1", "podman0123", netns=LIVE + "2", ip="10.225.1.3"),
        entry("pnl-n1", "gone", netns=DEAD, ip="10.225.1.4"))
    record(ctx, "pnlc1", LIVE, [("pnl-n1", "eth0"), ("pnl-n2", "eth1")])
    record(ctx, "pnlnonet", LIVE + "2", [])  # network_mode none: a target with nothing to do
    record(ctx, "pnlrebooted", DEAD, [("pnl-n1", "eth0")])
    targets = _reload.select_targets(ctx, ["all"])
    assert [t.container_id for t in targets] == ["pnlc1", "pnlnonet", "podman0123"]
    assert [(e.network, e.ifname) for e in targets[0].entries] == [("pnl-n1", "eth0"), ("pnl-n2", "eth1")]
    assert targets[1].entries == [] and targets[2].netns == LIVE + "2"


@pytest.mark.parametrize("containers,match", [
    ([], "empty"),
    (["all", "pnlc1"], "'all' cannot be combined"),
    (["pnlunknown"], "no record and no attachment"),
    (["pnlrebooted"], "is gone"),
    (["a/b"], "invalid container id"),
])
def test_select_rejects(ctx, containers, match):
    record(ctx, "pnlrebooted", DEAD, [])
    with pytest.raises(ValidationError, match=match):
        _reload.select_targets(ctx, containers)


def test_plan_force_needs_no_check_and_reports(ctx, monkeypatch):
    put(ctx, entry(), entry("pnl-n2", ifname="eth1", ip="10.225.2.2"))
    monkeypatch.setattr(_reload, "judge_all", lambda *a, **k: pytest.fail("force must not CHECK"))
    p = _reload.plan(ctx, ["pnlc1"], force=True)
    assert p.changed and sorted(p.to_reload("pnlc1")) == [("pnl-n1", "eth0"), ("pnl-n2", "eth1")]
    rep = _reload.report(p, check_mode=True)["pnlc1"]
    assert rep["networks"]["pnl-n1"]["state"] == "would_reload"
    assert rep["networks"]["pnl-n1"]["ips"] == ["10.225.1.2"]
    assert sorted(rep["reloaded"]) == ["pnl-n1", "pnl-n2"]


def test_plan_checks_and_reloads_only_broken(ctx, monkeypatch):
    put(ctx, entry(), entry("pnl-n2", ifname="eth1", ip="10.225.2.2"))
    seen = []

    def judge(executor, jobs, workers, *rts):
        assert [r.container_id for r in rts] == [j.rt.container_id for j in jobs]
        seen.append((len(jobs), workers))
        return [None if j.conf.name == "pnl-n1" else "CNI plugin firewall failed" for j in jobs]
    monkeypatch.setattr(_reload, "judge_all", judge)
    p = _reload.plan(ctx, ["all"], workers=3)
    assert seen == [(2, 3)]
    assert p.to_reload("pnlc1") == [("pnl-n2", "eth1")]
    # the one Plan type: an action per attachment to reload
    assert p.actions == [{"action": "reload", "container_id": "pnlc1", "network": "pnl-n2",
                          "interface": "eth1"}]
    rep = _reload.report(p, {"pnlc1": {"networks": {"pnl-n2/eth1": {"state": "reloaded"}},
                                       "errors": []}})["pnlc1"]
    assert rep["networks"]["pnl-n1"]["state"] == "healthy"
    assert rep["networks"]["pnl-n2"]["state"] == "reloaded" and rep["reloaded"] == ["pnl-n2"]
    assert p.diff.get_before_after() == {
        "before": {"pnlc1": {"pnl-n1/eth0": "healthy", "pnl-n2/eth1": "broken"}},
        "after": {"pnlc1": {"pnl-n1/eth0": "healthy", "pnl-n2/eth1": "healthy"}}}


def test_plan_nothing_broken_is_unchanged(ctx, monkeypatch):
    put(ctx, entry())
    monkeypatch.setattr(_reload, "judge_all", lambda e, jobs, w, *rts: [None] * len(jobs))
    p = _reload.plan(ctx, ["all"])
    assert not p.changed and p.to_reload("pnlc1") == [] and p.actions == []


def test_judge_all_uses_check_then_rules(ctx, monkeypatch):
    """Stub plugins answer CHECK with success; the masquerade rule then decides."""
    conf = conflist(masq=True, portmap=False, firewall=False)
    jobs = [_reload.Job(conf, entry()), _reload.Job(conf, entry(cid="pnlc2", ip="10.225.1.3"))]
    listing = {"nat": ["-N %s" % M, "-A POSTROUTING -s 10.225.1.2/32 -j %s" % M]}
    monkeypatch.setattr(_reload, "list_rules", lambda executor, tables: listing)
    verdicts = _reload.judge_all(ctx.executor, jobs, workers=2)
    assert verdicts[0] is None
    assert verdicts[1].startswith("missing chain %s" % cnirules.masq_chain("pnl-n1", "pnlc2"))


def test_judge_reports_a_failing_check(tmp_path, monkeypatch):
    plugins = tmp_path / "failing"
    plugins.mkdir()
    script = "#!/bin/sh\necho '{\"code\": 999, \"msg\": \"chain CNI-FORWARD not found\"}'\nexit 1\n"
    for name in ("bridge", "firewall"):
        (plugins / name).write_text(script)
        (plugins / name).chmod(0o755)
    ctx = FakeNsContext(plugin_dirs=[str(plugins)], cache_dir=str(tmp_path / "c"),
                        state_dir=str(tmp_path / "s"))
    job = _reload.Job(conflist(masq=False, portmap=False), entry())
    monkeypatch.setattr(_reload, "list_rules", lambda executor, tables: {})
    (why,) = _reload.judge_all(ctx.executor, [job])
    assert "CNI plugin bridge failed on CHECK" in why and "CNI-FORWARD not found" in why


@pytest.mark.parametrize("conf", [conflist(disable_check=True), conflist(version="0.3.1"),
                                  conflist(version="0.3.0", firewall=False)])
def test_networks_without_check_fall_back_to_rules(conf):
    job = _reload.Job(conf, entry(ports=[8080]))
    assert not job.use_check and job.verifiable == {}
    assert ("chain", "nat", D) in job.rules
    assert ("rule", "nat", D, "-p tcp", "--dport 8080", "--to-destination 10.225.1.2:80") in job.rules


def test_verifiable_rules():
    ent = entry(ports=[8080])
    rules = cnirules.verifiable_rules(conflist(), ent)
    assert rules["portmap"] == [("rule", "nat", D, "-p tcp", "--dport 8080", "--to-destination 10.225.1.2:80")]
    assert ("rule", "filter", "CNI-FORWARD", "-s 10.225.1.2/32", "-j ACCEPT") in rules["firewall"]
    assert "firewall" not in cnirules.verifiable_rules(conflist(backend="firewalld"), ent)
    assert "portmap" not in cnirules.verifiable_rules(conflist(), entry())  # no ports
    assert cnirules.verifiable_rules(conflist(), entry(ip="fd00::2", ports=[8080])) == {}


@pytest.mark.parametrize("dnat_present,healthy", [(True, True), (False, False)])
def test_plugins_shown_healthy_by_their_rules_are_not_checked(tmp_path, monkeypatch, dnat_present, healthy):
    """A failing portmap stub: skipped when its DNAT rule is listed, run (and failing) when not."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for name, script in (("bridge", "exit 0"), ("firewall", "exit 0"),
                         ("portmap", "echo '{\"code\": 999, \"msg\": \"rule not found\"}'; exit 1")):
        (plugins / name).write_text("#!/bin/sh\n%s\n" % script)
        (plugins / name).chmod(0o755)
    ctx = FakeNsContext(plugin_dirs=[str(plugins)], cache_dir=str(tmp_path / "c"),
                        state_dir=str(tmp_path / "s"))
    job = _reload.Job(conflist(masq=False), entry(ports=[8080]))
    nat = ["-N %s" % D, "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
           "-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 8080 -j %s" % D]
    if dnat_present:
        nat.append("-A %s -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.225.1.2:80" % D)
    monkeypatch.setattr(_reload, "list_rules", lambda executor, tables: {"nat": nat, "filter": []})
    (why,) = _reload.judge_all(ctx.executor, [job])
    assert (why is None) is healthy
    if not healthy:
        assert "portmap failed on CHECK" in why


def test_a_failed_add_is_reported_per_network(tmp_path):
    """DEL succeeds, ADD fails: the network is reported failed with the plugin's error,
    the other container is still reloaded (stub plugins; no kernel involved)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    script = ('#!/bin/sh\ncat >/dev/null\n'
              'if [ "$CNI_COMMAND" = ADD ] && [ "$CNI_CONTAINERID" = pnlbad ]; then\n'
              '  echo \'{"code": 11, "msg": "no more addresses"}\'; exit 1; fi\n'
              'if [ "$CNI_COMMAND" = ADD ]; then\n'
              '  echo \'{"cniVersion": "1.0.0", "ips": [{"address": "10.225.1.2/24"}]}\'; fi\n'
              'exit 0\n')
    for name in ("bridge", "portmap", "firewall"):
        (plugins / name).write_text(script)
        (plugins / name).chmod(0o755)
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    (conf_dir / "pnl-n1.conflist").write_bytes(conflist(masq=False).raw)
    ctx = FakeNsContext(config_dir=str(conf_dir), plugin_dirs=[str(plugins)],
                        cache_dir=str(tmp_path / "cache"), state_dir=str(tmp_path / "state"))
    put(ctx, entry(cid="pnlbad"), entry(cid="pnlgood", netns=LIVE + "2", ip="10.225.1.2"))
    p = _reload.plan(ctx, ["all"], force=True)
    out = _reload.execute(ctx, p, workers=1)["containers"]
    bad = out["pnlbad"]["networks"]["pnl-n1/eth0"]
    assert bad["state"] == "failed" and "no more addresses" in bad["error"]
    assert out["pnlbad"]["errors"] and "pnl-n1" in out["pnlbad"]["errors"][0]
    assert out["pnlgood"]["networks"]["pnl-n1/eth0"]["state"] == "reloaded"
    assert out["pnlgood"]["networks"]["pnl-n1/eth0"]["ips_preserved"]
    assert [e.container_id for e in cnicache.list_entries(ctx.cache_dir)] == ["pnlgood"]
    rep = _reload.report(p, out)
    assert rep["pnlbad"]["networks"]["pnl-n1"]["state"] == "failed" and rep["pnlbad"]["reloaded"] == []


def test_result_carries_the_plans_actions(ctx, monkeypatch):
    """container_net_reload returns ``actions`` as every module does (issue 11): the plan's,
    in check mode (would do) and after a run (did)."""
    put(ctx, entry(), entry("pnl-n2", ifname="eth1", ip="10.225.2.2"))
    monkeypatch.setattr(_reload, "judge_all",
                        lambda e, jobs, w, *rts: [None if j.conf.name == "pnl-n1" else "broken" for j in jobs])
    p = _reload.plan(ctx, ["all"])
    want = [{"action": "reload", "container_id": "pnlc1", "network": "pnl-n2", "interface": "eth1"}]
    res = _reload.LOGIC.result(ctx, p, _reload.LOGIC.predict(ctx, p), check_mode=True)
    assert res["actions"] == want and res["changed"]
    done = {"containers": {"pnlc1": {"networks": {"pnl-n2/eth1": {"state": "reloaded", "changed": True}},
                                     "errors": []}}, "pruned": None}
    assert _reload.LOGIC.result(ctx, p, done, check_mode=False)["actions"] == want
