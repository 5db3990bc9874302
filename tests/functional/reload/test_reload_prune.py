# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""prune_stale after a simulated reboot: stale attachments get DEL with an empty netns,
their IPs are free again, orphan records and reservations go, live containers stay."""
from __future__ import annotations

import os
import time

import pytest

from reload_env import SERVER_PORT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def age(path, seconds=600):
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_reboot_simulation(env):
    n1, n2 = env.networks
    static = env.subnets[0].replace(".0/24", ".60")
    env.add_container("s1", [n1], [env.port_base], static_ip=static)
    env.add_container("s2", [n1, n2])
    env.add_container("l1", [n1], [env.port_base + 1])
    env.add_container("o1", [n2])
    live_check = {"client->l1": (env.client, env.host_ip, env.port_base + 1, "l1")}
    assert env.probe(live_check, timeout=3.0) == {"client->l1": True}
    s1_dnat = [l for l in env.rules("nat").splitlines() if env.cid("s1") in l]
    assert s1_dnat

    # o1 crashed between host-local's reservation and the cache write (long ago)
    o1_ip = env.ip_of("o1", 1)
    o1_entry = os.path.join(env.cache_dir, "results", "%s-%s-eth0" % (n2, env.cid("o1")))
    env.reboot_container("o1")
    os.unlink(o1_entry)
    o1_res = os.path.join(env.data_dir, n2, o1_ip)
    age(o1_res)
    # and an ADD of another tool is in flight right now: a fresh reservation, no entry yet
    ghost = os.path.join(env.data_dir, n2, env.subnets[1].replace(".0/24", ".77"))
    with open(ghost, "w") as f:
        f.write("pnl%sghost\r\neth0" % env.tag)

    env.reboot_container("s1")
    env.reboot_container("s2", keep_record=True)
    with pytest.raises(Exception, match="already taken"):
        env.add_container("s1b", [n1], static_ip=static)
    entries_before = env.entries()
    assert len(entries_before) == 4  # s1, s2 x2, l1

    predicted = env.module(check=True, prune_stale=True)
    assert predicted["changed"] is True, predicted
    pr = predicted["pruned"]
    assert sorted((a["container_id"], a["network"]) for a in pr["attachments"]) == sorted(
        [(env.cid("s1"), n1), (env.cid("s2"), n1), (env.cid("s2"), n2)])
    assert [r["container_id"] for r in pr["records"]] == [env.cid("s2")]
    assert [(r["ip"], r["container_id"]) for r in pr["reservations"]] == [(o1_ip, env.cid("o1"))]
    assert env.entries() == entries_before and os.path.exists(o1_res)
    assert predicted["containers"][env.cid("l1")]["networks"][n1]["state"] == "healthy"

    done = env.module(prune_stale=True)
    assert not done.get("failed"), done
    assert done["changed"] is True and done["reloaded"] == 0
    assert done["pruned"]["errors"] == []
    assert len(done["pruned"]["attachments"]) == 3
    assert list(env.entries()) == ["%s/%s" % (env.cid("l1"), n1)]
    assert not os.path.exists(o1_res)
    assert os.path.exists(ghost)  # too young to be called orphaned
    assert not os.path.exists(os.path.join(env.state_dir, "containers", "%s.json" % env.cid("s2")))
    assert os.path.exists(os.path.join(env.state_dir, "containers", "%s.json" % env.cid("l1")))
    assert not [l for l in env.rules("nat").splitlines() if env.cid("s1") in l]  # DEL cleaned rules
    held = sorted(os.listdir(os.path.join(env.data_dir, n1)))
    assert static not in held and env.ip_of("l1", 0) in held
    assert env.probe(live_check, timeout=3.0) == {"client->l1": True}

    # the static IP is free again
    env.add_container("s1b", [n1], static_ip=static)
    assert env.ip_of("s1b", 0) == static

    again = env.module(prune_stale=True)
    assert again["changed"] is False, again
    age(ghost)
    late = env.module(prune_stale=True)
    assert late["changed"] is True
    assert [r["container_id"] for r in late["pruned"]["reservations"]] == ["pnl%sghost" % env.tag]
    assert not os.path.exists(ghost)
    assert env.module(prune_stale=True, check=True)["changed"] is False
    assert env.probe({"client->l1": live_check["client->l1"],
                      "l1->s1b": (env.netns["l1"].rsplit("/", 1)[1], static, SERVER_PORT, "s1b")},
                     timeout=3.0) == {"client->l1": True, "l1->s1b": True}
