# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""check_mode_pending (_pending): what tasks earlier in a check run would create is
predicted in check mode, with a warning, and only that; a real run never reads it.
Temp dirs only; the namespaces are a table (as in test_connect)."""
from __future__ import annotations

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _connect, _network, _pending
from ansible_collections.podnet.cni.plugins.module_utils._cni import netconf
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError


class TableContext(HostContext):
    def __init__(self, tmp_path, config_dir, plugin_dir, mounted=()):
        super().__init__(config_dir, [plugin_dir], str(tmp_path / "cache"), str(tmp_path / "state"))
        self.mounted = set(mounted)

    def netns_status(self, path):
        return "mounted" if path in self.mounted else "absent"


def network_result(config_dir, name, subnet="10.238.1.0/24", bridge="pnkbr1"):
    """What a registered cni_network task (single form) returns for a new network."""
    conflist = netconf.build_conflist(netconf.NetworkSpec(name=name, subnets=[subnet]), bridge=bridge)
    return {"changed": True, "config_path": "%s/%s.conflist" % (config_dir, name), "conflist": conflist}


def test_nothing_pending_outside_check_mode(tmp_path):
    value = {"plugins": True, "networks": [network_result(str(tmp_path), "pnka")], "netns": ["x"],
             "dirs": [str(tmp_path)]}
    assert not _pending.from_param(value, check_mode=False)
    assert not _pending.from_param(None, check_mode=True)
    assert _pending.from_param(value, check_mode=True)


@pytest.mark.parametrize("shape", ["single", "batch", "item"])
def test_networks_from_registered_results(tmp_path, shape):
    single = network_result("/etc/cni/net.d", "pnka")
    value = {"single": [single],
             "batch": [{"changed": True, "networks": {"pnka": dict(single, failed=False)}}],
             "item": [dict(single, failed=False)]}[shape]
    pending = _pending.from_param({"networks": value}, check_mode=True)
    conf = pending.network("/etc/cni/net.d/", "pnka")
    assert conf.name == "pnka" and conf.plugin_types == ["bridge", "portmap", "firewall", "tuning"]
    assert conf.raw == netconf.render(single["conflist"])   # the bytes the task would write
    assert pending.network("/etc/cni/other.d", "pnka") is None   # another directory
    assert pending.network("/etc/cni/net.d", "pnkb") is None


def test_skipped_and_failed_results_predict_nothing():
    value = [{"changed": False, "skipped": True},
             dict(network_result("/etc/cni/net.d", "pnka"), failed=True)]
    assert not _pending.from_param({"networks": value}, check_mode=True)


@pytest.mark.parametrize("item, match", [
    ("pnka", "must be a registered cni_network result"),
    ({"config_path": "relative.conflist", "conflist": {}}, "absolute path"),
    ({"config_path": "/x/pnka.conflist", "conflist": "text"}, "must be a dict"),
    ({"config_path": "/x/pnka.conflist", "conflist": {"name": "pnka", "plugins": []}}, "no plugins"),
])
def test_bad_networks_are_named(item, match):
    with pytest.raises(ValidationError, match=match):
        _pending.from_param({"networks": [item]}, check_mode=True)


def test_context_predicts_a_pending_network_with_a_warning(tmp_path, conf_dir, plugin_dir):
    ctx = TableContext(tmp_path, conf_dir.dir, plugin_dir)
    with pytest.raises(ValidationError, match="unknown CNI network 'pnka'"):
        ctx.get_network("pnka")
    ctx.pending = _pending.from_param({"networks": [network_result(conf_dir.dir, "pnka")]}, True)
    assert ctx.get_network("pnka").name == "pnka"
    assert len(ctx.warnings) == 1 and "network pnka is not defined yet" in ctx.warnings[0]
    with pytest.raises(ValidationError, match="unknown CNI network 'pnkb'"):
        ctx.get_network("pnkb")   # not pending: fails as in a real run


def test_context_prefers_the_file_when_it_is_what_would_be_written(tmp_path, conf_dir, plugin_dir):
    result = network_result(conf_dir.dir, "pnka")
    conf_dir("pnka.conflist", netconf.render(result["conflist"]))
    ctx = TableContext(tmp_path, conf_dir.dir, plugin_dir)
    ctx.pending = _pending.from_param({"networks": [result]}, True)
    assert ctx.get_network("pnka").path == "%s/pnka.conflist" % conf_dir.dir
    assert ctx.warnings == []
    # a task that would rewrite it: the new definition, said so
    other = network_result(conf_dir.dir, "pnka", subnet="10.238.2.0/24")
    ctx = TableContext(tmp_path, conf_dir.dir, plugin_dir)
    ctx.pending = _pending.from_param({"networks": [other]}, True)
    assert "10.238.2.0/24" in ctx.get_network("pnka").raw.decode()
    assert "network pnka differs" in ctx.warnings[0]


def test_context_a_network_that_would_be_removed_is_unknown(tmp_path, conf_dir, plugin_dir):
    result = network_result(conf_dir.dir, "pnka")
    conf_dir("pnka.conflist", netconf.render(result["conflist"]))
    ctx = TableContext(tmp_path, conf_dir.dir, plugin_dir)
    ctx.pending = _pending.from_param(
        {"networks": [{"config_path": result["config_path"], "conflist": None}]}, True)
    with pytest.raises(ValidationError, match="would remove it"):
        ctx.get_network("pnka")


def test_missing_plugins_are_predicted_only_when_pending(tmp_path, conf_dir):
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    result = network_result(conf_dir.dir, "pnka")
    conf = _pending.from_param({"networks": [result]}, True).network(conf_dir.dir, "pnka")
    ctx = TableContext(tmp_path, conf_dir.dir, str(empty))
    with pytest.raises(ConfigError, match="CNI plugin 'bridge' not found"):
        ctx.validate_plugins(conf)
    ctx.pending = _pending.from_param({"plugins": True}, True)
    ctx.validate_plugins(conf)
    assert len(ctx.warnings) == 1 and "would install them" in ctx.warnings[0]
    # cni_network's planner: the same
    spec = netconf.NetworkSpec(name="pnkb", subnets=["10.238.3.0/24"])
    with pytest.raises(ConfigError, match="not found"):
        _network.plan(spec, conf_dir.dir, [str(empty)], str(tmp_path / "cache"))
    plan = _network.plan(spec, conf_dir.dir, [str(empty)], str(tmp_path / "cache"), plugins_pending=True)
    assert plan.changed and any("would install it" in w for w in plan.warnings)


def test_attachment_to_a_pending_netns(tmp_path, conf_dir, plugin_dir, bridge_conflist):
    conf_dir("a.conflist", bridge_conflist("pnka", "10.238.4.0/24"))
    ctx = TableContext(tmp_path, conf_dir.dir, plugin_dir)
    req = _connect.EntryRequest(ctx, {"container_id": "pnkc1", "network": "pnka", "netns": "pnkc1"}, 0)
    with pytest.raises(ValidationError, match="netns /run/netns/pnkc1 of container pnkc1 does not exist"):
        _connect.plan_entries(ctx, [req], run_check=False)
    ctx.pending = _pending.from_param({"netns": ["/run/netns/pnkc1"]}, True)
    req = _connect.EntryRequest(ctx, {"container_id": "pnkc1", "network": "pnka", "netns": "pnkc1"}, 0)
    plans = _connect.plan_entries(ctx, [req], run_check=False)
    assert plans[0].action == "attach" and plans[0].ifname == "eth0"
    assert any("netns /run/netns/pnkc1 of container pnkc1 does not exist yet" in w for w in ctx.warnings)
