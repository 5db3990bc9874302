# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_net_reload against real firewall wipes with real traffic, each test in its
own isolated test host (see reload_env.py): the machine's firewall is never touched."""
from __future__ import annotations

import os

import pytest

from reload_env import CLIENT_PORT, SERVER_PORT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def three_containers(env):
    """c1 on n1 (static IP and MAC, a port), c2 on n1 and n2 (a port), c3 on n2."""
    n1, n2 = env.networks
    static_ip = env.subnets[0].replace(".0/24", ".50")
    ns = {"c1": env.add_container("c1", [n1], [env.port_base], static_ip, "02:42:0a:e1:00:32"),
          "c2": env.add_container("c2", [n1, n2], [env.port_base + 1]),
          "c3": env.add_container("c3", [n2])}
    env.start_peer_server()
    return ns


def traffic_checks(env, ns):
    c2_n1, c2_n2, c3 = env.ip_of("c2", 0), env.ip_of("c2", 1), env.ip_of("c3", 1)
    return {
        "c1->c2 same bridge": (ns["c1"], c2_n1, SERVER_PORT, "c2"),
        "c1->c3 across bridges": (ns["c1"], c3, SERVER_PORT, "c3"),
        "c3->c2 second network": (ns["c3"], c2_n2, SERVER_PORT, "c2"),
        "client->c1 port mapping": (env.client, env.host_ip, env.port_base, "c1"),
        "client->c2 port mapping": (env.client, env.host_ip, env.port_base + 1, "c2"),
        "c1->client masquerade": (ns["c1"], env.client_ip, CLIENT_PORT, env.host_ip),
    }


def attachment_count(result):
    return sum(len(c["networks"]) for c in result["containers"].values())


# which connections a wipe breaks (the rest keeps working)
BROKEN = {
    "iptables": None,  # everything
    "nft-flush": None,
    "nat": {"client->c1 port mapping", "client->c2 port mapping", "c1->client masquerade"},
    # DNATed connections stay allowed by the host's own rule
    "filter": {"c1->c2 same bridge", "c1->c3 across bridges", "c3->c2 second network",
               "c1->client masquerade"},
}


@pytest.mark.parametrize("backend,wipe", [
    ("nft", "iptables"),
    ("legacy", "iptables"),
    ("nft", "nft-flush"),
    ("nft", "nat"),
])
def test_wipe_then_reload_restores_traffic(make_env, backend, wipe):
    env = make_env(backend)
    ns = three_containers(env)
    checks = traffic_checks(env, ns)
    assert all(env.probe(checks, timeout=3.0).values()), env.probe(checks)
    if backend == "legacy":  # the plugins really used iptables-legacy
        assert "CNI-HOSTPORT-DNAT" in env.rules("nat")
        assert "CNI-HOSTPORT-DNAT" not in env.rules("nat", "/usr/sbin/iptables-nft")
    before = env.entries()
    assert len(before) == 4

    healthy = env.module()
    assert not healthy.get("failed"), healthy
    assert healthy["changed"] is False and healthy["reloaded"] == 0

    env.wipe(wipe)
    broken_now = env.probe(checks)
    expect_broken = BROKEN[wipe] or set(checks)
    assert {k for k, ok in broken_now.items() if not ok} == expect_broken

    predicted = env.module(check=True, diff=True)
    assert predicted["changed"] is True, predicted
    assert predicted["reloaded"] == 4  # every attachment lost a rule it owns
    assert {n["state"] for c in predicted["containers"].values() for n in c["networks"].values()} \
        == {"would_reload"}
    assert env.entries() == before
    assert not any(env.probe(checks).get(k) for k in expect_broken)  # check mode fixed nothing

    done = env.module()
    assert not done.get("failed"), done
    assert done["changed"] is True and done["reloaded"] == 4
    for cid, c in done["containers"].items():
        assert c["errors"] == []
        for net in c["networks"].values():
            assert net["state"] == "reloaded"
            assert net["ips_preserved"] and net["mac_preserved"], net
    assert env.entries() == before  # same IPs, MACs and interfaces on every network
    assert env.ip_of("c1", 0) == env.subnets[0].replace(".0/24", ".50")
    assert before["%s/%s" % (env.cid("c1"), env.networks[0])]["mac"] == "02:42:0a:e1:00:32"
    after = env.probe(checks, timeout=3.0)
    assert all(after.values()), after
    for table in ("nat", "filter"):  # reloads side by side duplicated no shared jump
        lines = [l for l in env.rules(table).splitlines() if l.startswith("-A ")]
        assert len(lines) == len(set(lines)), sorted(l for l in lines if lines.count(l) > 1)

    again = env.module()
    assert again["changed"] is False and again["reloaded"] == 0, again
    assert attachment_count(again) == 4


def test_force_reloads_healthy_then_idempotent(make_env):
    env = make_env("nft")
    ns = three_containers(env)
    checks = traffic_checks(env, ns)
    before = env.entries()
    forced = env.module(containers=[env.cid("c2")], force=True)
    assert forced["changed"] is True and forced["reloaded"] == 2
    assert list(forced["containers"]) == [env.cid("c2")]
    assert sorted(forced["containers"][env.cid("c2")]["reloaded"]) == sorted(env.networks)
    assert env.entries() == before
    assert all(env.probe(checks, timeout=3.0).values())
    assert env.module(check=True)["changed"] is False
    assert env.module()["changed"] is False


def test_network_without_check_is_judged_by_its_rules(make_env):
    """disableCheck (like cniVersion < 0.4.0, which the firewall plugin refuses): the
    chains and rules the plugins own decide."""
    env = make_env("nft", disable_check=True)
    ns = three_containers(env)
    checks = traffic_checks(env, ns)
    assert env.module()["changed"] is False
    env.wipe("filter")
    assert {k for k, ok in env.probe(checks).items() if not ok} == BROKEN["filter"]
    result = env.module()
    assert result["changed"] is True and result["reloaded"] == 4, result
    reasons = [n["reason"] for c in result["containers"].values() for n in c["networks"].values()]
    assert all("CNI-FORWARD" in r for r in reasons), reasons
    assert all(env.probe(checks, timeout=3.0).values())
    assert env.module()["changed"] is False


def test_unknown_container_fails_before_anything(make_env):
    env = make_env("nft")
    env.add_container("c1", [env.networks[0]])
    before = env.entries()
    result = env.module(containers=[env.cid("c1"), "pnlnosuchcontainer"], force=True)
    assert result.get("failed") and "pnlnosuchcontainer" in result["msg"]
    assert env.entries() == before
    bad = env.module(containers=["all", env.cid("c1")])
    assert bad.get("failed") and "'all'" in bad["msg"]


def test_cni_0_3_1_network_is_judged_by_its_rules(make_env):
    """cniVersion 0.3.1 has no CHECK (and the firewall plugin refuses it): bridge, portmap
    and tuning, on a test host that forwards everything; a nat wipe breaks the port
    mappings and masquerade, and only the rules can tell."""
    env = make_env("nft", cni_version="0.3.1", firewall_plugin=False)
    ns = three_containers(env)
    checks = traffic_checks(env, ns)
    assert all(env.probe(checks, timeout=3.0).values())
    assert env.module()["changed"] is False
    env.wipe("nat")
    assert {k for k, ok in env.probe(checks).items() if not ok} == BROKEN["nat"]
    result = env.module()
    assert result["changed"] is True and result["reloaded"] == 4, result
    assert all(env.probe(checks, timeout=3.0).values())
    assert env.module()["changed"] is False
