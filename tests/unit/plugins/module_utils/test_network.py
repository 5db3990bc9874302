# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_network's plan and apply (_network.py) against temp config, plugin and cache dirs."""
from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _network
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._cni import netconf
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError


def no_commands(argv, **kwargs):
    """_network.apply's run_command where no command may run (no bridge to delete)."""
    raise AssertionError("unexpected command %r" % (argv,))


def spec(**kw):
    kw.setdefault("name", "pnnu")
    return netconf.NetworkSpec(**kw)


@pytest.fixture
def dirs(tmp_path, conf_dir, plugins):
    cache = tmp_path / "cache"
    return {"config_dir": conf_dir.dir, "plugin_dirs": plugins(), "cache_dir": str(cache),
            "write": conf_dir}


def test_plan_create_then_unchanged(dirs):
    s = spec(subnets=["10.223.1.0/24"], bridge="pnnbr")
    p = _network.plan(s, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert p.changed and p.before is None and _network.predicted_actions(p) == ["written %s" % p.path]
    assert _network.apply(p, no_commands) == ["written %s" % p.path]
    st = os.stat(p.path)
    assert stat.S_IMODE(st.st_mode) == 0o644
    with open(p.path, "rb") as f:
        assert f.read() == netconf.render(p.after)
    again = _network.plan(s, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert not again.changed and _network.apply(again, no_commands) == []
    # same JSON, other formatting: still unchanged, nothing rewritten
    with open(p.path, "w") as f:
        json.dump(p.after, f)
    mtime = os.stat(p.path).st_mtime_ns
    again = _network.plan(s, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert not again.changed and _network.apply(again, no_commands) == [] and os.stat(p.path).st_mtime_ns == mtime
    # a changed option changes the file; the diff is the content
    changed = _network.plan(spec(subnets=["10.223.1.0/24"], bridge="pnnbr", mtu=1400),
                            dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert changed.changed and changed.get_before_after()["before"] == p.after
    assert changed.get_before_after()["after"]["plugins"][0]["mtu"] == 1400


def test_plan_keeps_existing_bridge_and_subnets(dirs, bridge_conflist):
    dirs["write"]("pnnu.conflist", bridge_conflist("pnnu", "10.223.7.0/24", version="0.4.0",
                                                   bridge="cni-podman7"))
    p = _network.plan(spec(), dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    main = p.after["plugins"][0]
    assert main["bridge"] == "cni-podman7"
    assert main["ipam"]["ranges"] == [[{"subnet": "10.223.7.0/24", "gateway": "10.223.7.1"}]]


def test_plan_picks_free_subnet(dirs, bridge_conflist):
    dirs["write"]("a.conflist", bridge_conflist("a", "10.89.0.0/24", bridge="pnna"))
    dirs["write"]("b.conflist", bridge_conflist("b", "10.89.1.0/24", bridge="pnnb"))
    p = _network.plan(spec(), dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    subnet = p.after["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
    assert subnet.startswith("10.89.") and subnet not in ("10.89.0.0/24", "10.89.1.0/24")


def test_plan_overlap_names_both(dirs, bridge_conflist):
    dirs["write"]("other.conflist", bridge_conflist("pnnother", "10.223.0.0/16", bridge="pnno"))
    with pytest.raises(ValidationError) as err:
        _network.plan(spec(subnets=["10.223.4.0/24"]), dirs["config_dir"], dirs["plugin_dirs"],
                      dirs["cache_dir"])
    assert "subnet 10.223.4.0/24 of network pnnu overlaps subnet 10.223.0.0/16 of network pnnother" \
        in str(err.value)
    assert os.listdir(dirs["config_dir"]) == ["other.conflist"]


def test_plan_bridge_used_by_other_network(dirs, bridge_conflist):
    dirs["write"]("other.conflist", bridge_conflist("pnnother", "10.223.8.0/24", bridge="pnnshared"))
    with pytest.raises(ValidationError, match="bridge pnnshared is already used by network pnnother"):
        _network.plan(spec(subnets=["10.223.4.0/24"], bridge="pnnshared"), dirs["config_dir"],
                      dirs["plugin_dirs"], dirs["cache_dir"])


def test_plan_name_defined_by_other_file(dirs, bridge_conflist):
    dirs["write"]("00-first.conf", dict(bridge_conflist("pnnu", "10.223.8.0/24")["plugins"][0],
                                        name="pnnu", cniVersion="0.4.0"))
    with pytest.raises(ValidationError, match="already defined by .*00-first.conf"):
        _network.plan(spec(subnets=["10.223.4.0/24"]), dirs["config_dir"], dirs["plugin_dirs"],
                      dirs["cache_dir"])


def test_plan_file_of_other_name_needs_force(dirs, bridge_conflist):
    dirs["write"]("pnnu.conflist", bridge_conflist("pnnx", "10.223.8.0/24"))
    with pytest.raises(ValidationError, match="defines network 'pnnx', not 'pnnu'"):
        _network.plan(spec(subnets=["10.223.4.0/24"]), dirs["config_dir"], dirs["plugin_dirs"],
                      dirs["cache_dir"])
    p = _network.plan(spec(subnets=["10.223.8.0/24"], force=True), dirs["config_dir"],
                      dirs["plugin_dirs"], dirs["cache_dir"])
    assert p.changed and p.after["name"] == "pnnu"


def test_plan_invalid_existing_file_is_replaced(dirs):
    dirs["write"]("pnnu.conflist", "{not json")
    p = _network.plan(spec(subnets=["10.223.4.0/24"]), dirs["config_dir"], dirs["plugin_dirs"],
                      dirs["cache_dir"])
    assert p.changed and p.before == "{not json" and not p.warnings


def test_plan_parent_must_exist(dirs):
    with pytest.raises(ValidationError, match="parent interface pnnnosuch0 of macvlan network pnnu"):
        _network.plan(spec(driver="macvlan", parent="pnnnosuch0", subnets=["10.223.4.0/24"]),
                      dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])


def test_plan_parent_lo_is_accepted(dirs):
    p = _network.plan(spec(driver="ipvlan", parent="lo", mode="l3", subnets=["10.223.4.0/24"]),
                      dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert p.after["plugins"][0]["master"] == "lo"


def _cache_entry(dirs, network, cid="pnnc1"):
    cnicache.write(dirs["cache_dir"], cnicache.CacheEntry(network, cid, "eth0", "/run/netns/x", b"{}"))


@pytest.mark.parametrize("state", ["present", "absent"])
def test_plan_in_use_needs_force(dirs, state):
    s = spec(subnets=["10.223.1.0/24"], bridge="pnnbr")
    _network.apply(_network.plan(s, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"]), no_commands)
    _cache_entry(dirs, "pnnu")
    _cache_entry(dirs, "pnnu-other", "pnnc2")  # another network whose name starts alike
    changed = spec(subnets=["10.223.1.0/24"], bridge="pnnbr", mtu=1400, state=state)
    with pytest.raises(ValidationError, match=r"network pnnu is in use by pnnc1 \(eth0\)"):
        _network.plan(changed, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    # unchanged definitions do not care about users
    assert not _network.plan(s, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"]).changed
    forced = spec(subnets=["10.223.1.0/24"], bridge="pnnbr", mtu=1400, state=state, force=True)
    p = _network.plan(forced, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert p.changed and p.in_use == [{"container_id": "pnnc1", "interface": "eth0"}]


def test_plan_absent(dirs, bridge_conflist):
    p = _network.plan(spec(state="absent"), dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert not p.changed and _network.predicted_actions(p) == []
    path = dirs["write"]("pnnu.conflist", bridge_conflist("pnnu", "10.223.8.0/24", bridge="pnnnobr"))
    p = _network.plan(spec(state="absent"), dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert p.changed and p.after is None and p.remove_bridge is None  # no such device here
    assert p.get_before_after()["after"] == {} and p.get_before_after()["before"]["name"] == "pnnu"
    assert _network.apply(p, no_commands) == ["removed %s" % path] and not os.path.exists(path)


def test_ip_range_plan_is_idempotent_and_equals_the_explicit_range(dirs):
    with_range = spec(subnets=[{"subnet": "10.223.1.0/24", "ip_range": "10.223.1.128/25"}], bridge="pnnbr")
    p = _network.plan(with_range, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert p.changed and _network.apply(p, no_commands) == ["written %s" % p.path]
    assert not _network.plan(with_range, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"]).changed
    explicit = spec(subnets=[{"subnet": "10.223.1.0/24", "range_start": "10.223.1.128",
                              "range_end": "10.223.1.254"}], bridge="pnnbr")
    assert not _network.plan(explicit, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"]).changed
    other = spec(subnets=[{"subnet": "10.223.1.0/24", "ip_range": "10.223.1.0/25"}], bridge="pnnbr")
    changed = _network.plan(other, dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert changed.changed
    rng = changed.get_before_after()["after"]["plugins"][0]["ipam"]["ranges"][0][0]
    assert (rng["rangeStart"], rng["rangeEnd"]) == ("10.223.1.1", "10.223.1.127")
    assert changed.get_before_after()["before"]["plugins"][0]["ipam"]["ranges"][0][0]["rangeStart"] == "10.223.1.128"


def test_the_plan_is_the_one_plan_type_its_actions_dicts(dirs):
    """cni_network's plan is a _plan.Plan: its actions are dicts (the module reports them as
    the texts apply returns), its diff the file's content."""
    from ansible_collections.podnet.cni.plugins.module_utils._plan import Plan
    p = _network.plan(spec(subnets=["10.223.1.0/24"], bridge="pnnbr"), dirs["config_dir"],
                      dirs["plugin_dirs"], dirs["cache_dir"])
    assert isinstance(p, Plan) and p.actions == [{"action": "write", "path": p.path}]
    assert p.get_before_after()["before_header"] == p.path
    _network.apply(p, no_commands)
    gone = _network.plan(spec(state="absent"), dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert gone.actions == [{"action": "remove", "path": p.path}] and gone.changed
    assert _network.predicted_actions(gone) == ["removed %s" % p.path]
    _network.apply(gone, no_commands)
    again = _network.plan(spec(state="absent"), dirs["config_dir"], dirs["plugin_dirs"], dirs["cache_dir"])
    assert again.actions == [] and not again.changed
