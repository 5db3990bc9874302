# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_gc planning: what is stale, which reservations are attributable and orphaned, and
that a reservation is released only while it still names the same holder. Namespace
states come from a dict; tests/functional/reload prunes after a real reboot simulation."""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _gc, _state
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext

LIVE = "/run/netns/pnl-live"
DEAD = "/run/netns/pnl-dead"


class FakeNsContext(HostContext):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ns = {LIVE: "mounted", "/run/netns/pnl-stalefile": "stale"}

    def netns_status(self, path):
        return self.ns.get(path, "absent")


def conf_bytes(name, data_dir):
    return json.dumps({"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": "pnlbr", "ipam": {
            "type": "host-local", "dataDir": data_dir,
            "ranges": [[{"subnet": "10.225.1.0/24"}]]}}]}).encode()


@pytest.fixture
def ctx(tmp_path, plugin_dir):
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    c = FakeNsContext(config_dir=str(conf_dir), plugin_dirs=[plugin_dir],
                      cache_dir=str(tmp_path / "cache"), state_dir=str(tmp_path / "state"))
    c.data_dir = str(tmp_path / "ipam")
    (conf_dir / "pnl-n1.conflist").write_bytes(conf_bytes("pnl-n1", c.data_dir))
    return c


def put_entry(ctx, net, cid, netns, ip, config=None):
    e = cnicache.CacheEntry(net, cid, "eth0", netns, config or conf_bytes(net, ctx.data_dir), [], {},
                            {"cniVersion": "1.0.0", "ips": [{"address": ip + "/24"}]})
    cnicache.write(ctx.cache_dir, e)
    return e


def reserve(ctx, net, ip, cid, ifname="eth0", age=600.0):
    d = os.path.join(ctx.data_dir, net)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, ip)
    with open(path, "w") as f:
        f.write(cid + ("\r\n" + ifname if ifname else ""))
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def test_plan_sorts_stale_from_live(ctx):
    put_entry(ctx, "pnl-n1", "pnllive", LIVE, "10.225.1.2")
    put_entry(ctx, "pnl-n1", "pnlgone", DEAD, "10.225.1.3")
    reserve(ctx, "pnl-n1", "10.225.1.2", "pnllive")
    reserve(ctx, "pnl-n1", "10.225.1.3", "pnlgone")           # released by the DEL of its entry
    reserve(ctx, "pnl-n1", "10.225.1.4", "pnlcrashed")        # orphaned
    reserve(ctx, "pnl-n1", "10.225.1.5", "pnlinflight", age=1)  # too young
    reserve(ctx, "pnl-n1", "10.225.1.6", "pnllive", ifname="eth1")  # live container, other ifname
    reserve(ctx, "pnl-n1", "10.225.1.7", "pnlold", ifname="")    # host-local < 0.8: id only
    for name in ("lock", "last_reserved_ip.0", "not-an-ip"):
        with open(os.path.join(ctx.data_dir, "pnl-n1", name), "w") as f:
            f.write("pnlx")
    _state.save(ctx.state_dir, {"container_id": "pnllive", "netns": LIVE})
    _state.save(ctx.state_dir, {"container_id": "pnlrebooted", "netns": DEAD, "netns_origin": "created"})
    _state.save(ctx.state_dir, {"container_id": "pnlstale", "netns": "/run/netns/pnl-stalefile",
                                "netns_origin": "created"})
    p = _gc.plan(ctx)
    assert p.changed
    assert [e.container_id for e in p.stale_entries] == ["pnlgone"]
    assert p.records == [
        {"container_id": "pnlrebooted", "netns": DEAD, "remove_netns": False},
        {"container_id": "pnlstale", "netns": "/run/netns/pnl-stalefile", "remove_netns": True}]
    assert sorted(r.ip for r in p.reservations) == ["10.225.1.4", "10.225.1.7"]
    report = p.to_dict()
    assert report["attachments"][0]["ips"] == ["10.225.1.3"] and report["errors"] == []
    # the one Plan type: the actions in the order execute takes them
    assert [a["action"] for a in p.actions] == ["detach_stale", "forget_record", "forget_record",
                                                "release_reservation", "release_reservation"]
    assert [a["container_id"] for a in p.actions[:3]] == ["pnlgone", "pnlrebooted", "pnlstale"]
    assert sorted(a["ip"] for a in p.actions[3:]) == ["10.225.1.4", "10.225.1.7"]


def test_reservations_of_unattributable_networks_are_never_touched(ctx, tmp_path):
    # a network neither in the config dir nor in a cache entry: its dir is not ours
    reserve(ctx, "pnl-foreign", "10.225.9.4", "someone")
    # a network known only from a (stale) cache entry's config is attributable
    put_entry(ctx, "pnl-cached", "pnlgone", DEAD, "10.225.8.2")
    reserve(ctx, "pnl-cached", "10.225.8.9", "pnlcrashed")
    p = _gc.plan(ctx)
    assert [(r.network, r.ip) for r in p.reservations] == [("pnl-cached", "10.225.8.9")]


def test_min_age_and_nothing_to_do(ctx):
    reserve(ctx, "pnl-n1", "10.225.1.4", "pnlcrashed", age=30)
    assert not _gc.plan(ctx).changed and _gc.plan(ctx).actions == []
    assert [r.ip for r in _gc.plan(ctx, min_age=10).reservations] == ["10.225.1.4"]


def test_release_only_the_same_holder(ctx):
    path = reserve(ctx, "pnl-n1", "10.225.1.4", "pnlcrashed")
    (res,) = _gc.plan(ctx).reservations
    with open(path, "w") as f:
        f.write("pnlnewowner\r\neth0")  # re-allocated meanwhile
    assert _gc.release_reservation(res) is False and os.path.exists(path)
    reserve(ctx, "pnl-n1", "10.225.1.4", "pnlcrashed")
    assert _gc.release_reservation(res) is True and not os.path.exists(path)
    assert _gc.release_reservation(res) is False


def test_prune_stale_check_mode_touches_nothing(ctx):
    path = reserve(ctx, "pnl-n1", "10.225.1.4", "pnlcrashed")
    _state.save(ctx.state_dir, {"container_id": "pnlrebooted", "netns": DEAD})
    out = _gc.prune_stale(ctx, check_mode=True)
    assert out["changed"] and [r["ip"] for r in out["pruned"]["reservations"]] == ["10.225.1.4"]
    assert os.path.exists(path) and _state.list_ids(ctx.state_dir) == ["pnlrebooted"]
    done = _gc.prune_stale(ctx)
    assert done["changed"] and not os.path.exists(path) and _state.list_ids(ctx.state_dir) == []
    assert done["pruned"]["records"][0]["container_id"] == "pnlrebooted"
    assert _gc.prune_stale(ctx) == {"changed": False, "warnings": [], "pruned": {
        "attachments": [], "interrupted": [], "records": [], "reservations": [], "unreadable": [],
        "skipped": [], "errors": []}}
