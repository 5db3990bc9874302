# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_container_batch: what entries claim, planning against one read of the cache, and the
aggregated result (per container, diff by id, msg naming each failed container).

The kernel is replaced as in test_container.py (tests/lib/plan_context.py: namespace status
from a table; the ``ctx`` fixture is in this folder's conftest.py);
tests/functional/batch proves the same against real namespaces and plugins."""
from __future__ import annotations

import os

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _container, _container_batch, _container_request
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError

from plan_context import apply


def entry(cid, *networks, **kw):
    item = {"container_id": cid, "networks": list(networks) or ["pnf-a"]}
    item.update(kw)
    return item


def pm(port, host_ip="", proto="tcp"):
    return [{"container_port": 80, "host_port": port, "host_ip": host_ip, "protocol": proto}]


def run(ctx, req, plan):
    """What execute() leaves, without plugins (plan_context.apply), and the netns file."""
    apply(ctx, req, plan)
    os.makedirs(ctx.netns_dir, exist_ok=True)
    open(req.netns, "a").close()


def converge(ctx, items):
    """What a successful real run of items leaves."""
    for item in _container_batch.build_requests(ctx, items):
        run(ctx, item.req, _container.plan(ctx, item.req))


# --- claims ---

@pytest.mark.parametrize("items,expected", [
    ([entry("c1"), entry("c2")], []),
    ([entry("c1"), entry("c1", "pnf-b")], ["container c1 is listed 2 times"]),
    ([entry("c1", netns="shared"), entry("c2", netns="shared")],
     ["netns {nsdir}/shared is claimed by both c1 and c2"]),
    ([entry("c1", netns="shared"), entry("c2", netns="shared", state="absent")],
     ["netns {nsdir}/shared is claimed by both c1 and c2"]),
    ([entry("c1", pid=4194000), entry("c2", pid=4194000)],
     ["the netns of pid 4194000 is claimed by both c1 and c2"]),
    ([entry("c1", static_ip="10.220.1.5"), entry("c2", "pnf-a", "pnf-b", static_ip="10.220.1.5")],
     ["IP 10.220.1.5 in network pnf-a is requested for both c1 and c2"]),
    ([entry("c1", static_ip="10.220.1.5"), entry("c2", "pnf-b", static_ip="10.220.1.5")], []),
    ([entry("c1", "pnf-a", {"name": "pnf-b", "ips": ["10.220.2.9"]}),
      entry("c2", {"name": "pnf-b", "ips": ["10.220.2.9"]})],
     ["IP 10.220.2.9 in network pnf-b is requested for both c1 and c2"]),
    ([entry("c1", port_mappings=pm(8080)), entry("c2", port_mappings=pm(8080, "127.0.0.1"))],
     ["host port 8080/tcp is requested for both c1 and c2"]),
    ([entry("c1", port_mappings=pm(8080, "127.0.0.1")), entry("c2", port_mappings=pm(8080, "127.0.0.2"))], []),
    ([entry("c1", port_mappings=pm(8080)), entry("c2", port_mappings=pm(8080, proto="udp"))], []),
    ([entry("c1", port_mappings=[{"container_port": 80, "host_port": 8000, "range": 10}]),
      entry("c2", port_mappings=pm(8009))], ["host port 8009/tcp is requested for both c1 and c2"]),
    ([entry("c1", port_mappings=pm(8080)), entry("c2", port_mappings=pm(8080), state="absent")], []),
    ([entry("c1", network_mode="slirp4netns", networks=[], port_mappings=pm(8080)),
      entry("c2", port_mappings=pm(8080))], ["host port 8080/tcp is requested for both c1 and c2"]),
])
def test_claim_conflicts(ctx, items, expected):
    reqs = []
    for item in items:
        item = dict(item)
        reqs.append(_container_request.ContainerRequest(
            ctx, item.pop("container_id"), **dict(item, networks=item.get("networks") or [])))
    found = [text for owners, text in _container_batch.claim_conflicts(reqs)]
    assert found == [e.format(nsdir=ctx.netns_dir) for e in expected]


def test_every_problem_named_at_once_and_counted_by_container(ctx):
    items = [entry("ok"), entry("c1", static_mac="zz"), entry("c2"), entry("c2", "pnf-b"),
             entry("c3", port_mappings=pm(9000)), entry("c4", port_mappings=pm(9000)),
             {"container_id": "c5", "networks": ["pnf-a"], "colour": "red"}]
    with pytest.raises(ValidationError) as err:
        _container_batch.build_requests(ctx, items)
    msg = err.value.msg
    assert msg.startswith("6 of 7 containers are invalid, nothing was changed: ")
    for needle in ("c1: invalid MAC address 'zz'", "c5: unknown key colour (valid keys: container_id, ",
                   "container c2 is listed 2 times",
                   "host port 9000/tcp is requested for both c3 and c4"):
        assert needle in msg
    assert len(err.value.details["problems"]) == 4


def test_one_bad_entry_alone_keeps_the_single_message(ctx):
    with pytest.raises(ValidationError) as err:
        _container_batch.build_requests(ctx, [entry("c1", static_ip="nope")])
    assert err.value.msg == "c1: invalid static_ip 'nope'"


# --- planning ---

def test_plan_all_reads_the_cache_once(ctx, monkeypatch):
    items = [entry("c%d" % i, port_mappings=pm(20000 + i)) for i in range(30)]
    converge(ctx, items)
    calls = []
    real = cnicache.scan

    def counting(*a, **kw):
        calls.append((a, kw))
        return real(*a, **kw)
    monkeypatch.setattr(cnicache, "scan", counting)
    batch = _container_batch.build_requests(ctx, items)
    view = _container_batch.plan_all(ctx, batch)
    assert len(calls) == 1 and calls[0][1] == {}  # every entry, once, for 30 containers
    assert not any(i.changed_plan for i in batch)
    out = _container_batch.results(ctx, batch, view, check_mode=False, with_diff=True)
    assert out["changed"] is False and out["actions"] == [] and out["failed_containers"] == 0
    assert len(calls) == 1  # the report of unchanged containers reuses the view
    assert sorted(out["containers"]) == sorted("c%d" % i for i in range(30))
    assert out["diff"]["before"] == out["diff"]["after"]
    assert "msg" not in out


def test_plan_all_names_every_entry_it_cannot_plan(ctx):
    converge(ctx, [entry("holder", port_mappings=pm(7000))])
    items = [entry("c1", "pnf-nope"), entry("c2"), entry("c3", port_mappings=pm(7000))]
    batch = _container_batch.build_requests(ctx, items)
    with pytest.raises(ValidationError) as err:
        _container_batch.plan_all(ctx, batch)
    assert err.value.msg.startswith("2 of 3 containers are invalid, nothing was changed: c1: ")
    assert "unknown CNI network 'pnf-nope'" in err.value.msg
    assert "c3: host port 7000/tcp is already mapped by container holder" in err.value.msg


# --- results ---

def test_results_name_failed_containers_and_keep_the_others(ctx):
    converge(ctx, [entry("gone")])
    items = [entry("new1"), entry("bad"), {"container_id": "gone", "state": "absent"}, entry("new2")]
    batch = _container_batch.build_requests(ctx, items)
    view = _container_batch.plan_all(ctx, batch)
    check = _container_batch.results(ctx, batch, view, check_mode=True, with_diff=True)
    assert [a["container_id"] for a in check["actions"]] == ["new1", "new1", "bad", "bad", "gone", "gone"] + \
        ["new2", "new2"]
    assert check["containers"]["gone"]["diff"]["after"]["container"]["networks"] == {}
    assert check["diff"]["before"]["gone"]["networks"]["pnf-a"]["interface"] == "eth0"
    assert check["diff"]["after"]["new1"]["networks"]["pnf-a"]["interface"] == "eth0"
    # as if run: new1 and gone done, bad failed with nothing left, new2 failed half-way
    for item in batch:
        item.before = _container_batch._fingerprint(ctx, item.req, view.container_entries(item.req.container_id))
    for item in batch:
        if item.req.container_id == "new1":
            run(ctx, item.req, item.plan)
        elif item.req.container_id == "gone":
            cnicache.delete(ctx.cache_dir, "pnf-a", "gone", "eth0")
            ctx.ns.pop(item.req.netns)
            os.unlink(item.req.netns)
        elif item.req.container_id == "bad":
            item.error, item.error_details = "CNI plugin tuning failed on ADD", {"plugin": "tuning"}
        else:
            run(ctx, item.req, item.plan)  # left attached although it failed
            item.error = "rollback failed: timeout"
    out = _container_batch.results(ctx, batch, view, check_mode=False, with_diff=False)
    assert out["changed"] is True and out["failed_containers"] == 2 and "diff" not in out
    assert out["msg"] == ("2 of 4 containers failed (each rolled back): bad: CNI plugin tuning failed "
                          "on ADD; new2: rollback failed: timeout")
    bad, new2 = out["containers"]["bad"], out["containers"]["new2"]
    assert bad["failed"] is True and bad["changed"] is False and bad["plugin"] == "tuning"
    assert bad["netns"] is None and bad["network_settings"] == {}
    assert new2["failed"] is True and new2["changed"] is True  # judged by what is there now
    assert out["containers"]["new1"]["changed"] is True and out["containers"]["new1"]["failed"] is False
    assert out["containers"]["new1"]["network_settings"]["IPAddress"] == "10.220.1.2"
    assert out["containers"]["gone"]["netns"] is None


def test_an_empty_batch_reads_nothing(ctx, monkeypatch):
    monkeypatch.setattr(cnicache, "list_entries", lambda *a, **kw: pytest.fail("read the cache"))
    from ansible_collections.podnet.cni.plugins.module_utils._common import drive
    dummy, out = drive(_container_batch.LOGIC, ctx, _container_batch.ContainerTask(True, raws=[]),
                       check_mode=False, with_diff=True)
    assert out == {"changed": False, "containers": {}, "actions": [], "failed_containers": 0,
                   "warnings": [], "diff": {"before": {}, "after": {}}}


# --- container:<id> between entries of one batch ---

def joiner(cid, owner, **kw):
    return dict({"container_id": cid, "network_mode": "container:%s" % owner}, **kw)


@pytest.mark.parametrize("items,expected", [
    ([joiner("j", "o"), entry("o")], []),
    ([joiner("a", "b"), joiner("b", "a"), entry("c")],
     ["containers a, b join each other's network namespace in a cycle (a -> b -> a)"]),
    ([joiner("a", "b"), joiner("b", "c"), joiner("c", "a")],
     ["containers a, b, c join each other's network namespace in a cycle (a -> b -> c -> a)"]),
    ([joiner("j", "o"), entry("o", state="absent")],
     ["container j joins the network namespace of container o, which the same task removes"]),
    ([joiner("j", "o", state="absent"), entry("o", state="absent")], []),
    ([joiner("a", "b"), joiner("b", "c"), entry("c")], []),  # a chain: planning refuses it
])
def test_join_problems(ctx, items, expected):
    reqs = []
    for item in items:
        item = dict(item)
        reqs.append(_container.ContainerRequest(
            ctx, item.pop("container_id"), **dict(item, networks=item.get("networks") or [])))
    assert [text for owners, text in _container_batch.join_problems(reqs)] == expected


def test_a_self_reference_or_a_cycle_fails_the_batch_before_anything(ctx):
    with pytest.raises(ValidationError) as err:
        _container_batch.build_requests(ctx, [joiner("a", "a"), joiner("b", "c"), joiner("c", "b")])
    msg = err.value.msg
    assert msg.startswith("3 of 3 containers are invalid, nothing was changed: ")
    assert "a: invalid network_mode container:a: a container cannot join its own namespace" in msg
    assert "containers b, c join each other's network namespace in a cycle (b -> c -> b)" in msg


def test_a_joiner_is_planned_against_its_owner_of_the_same_batch(ctx):
    items = _container_batch.build_requests(ctx, [joiner("j", "o"), entry("o")])
    _container_batch.plan_all(ctx, items)
    j, o = items
    assert [a["action"] for a in o.plan.actions] == ["create_netns", "attach"]
    assert j.plan.actions == [{"action": "join_netns", "netns": o.req.netns, "container": "o"}]
    assert j.plan.diff.get_before_after()["after"]["container"]["netns"] == o.req.netns
    waves = _container_batch.ordered(items, _container_batch.dependencies(ctx, items))
    assert [[i.label for i in w] for w in waves] == [["o"], ["j"]]
    # a chain through the batch is refused as in the single form
    chain = _container_batch.build_requests(ctx, [joiner("a", "j"), joiner("j", "o"), entry("o")])
    with pytest.raises(ValidationError) as err:
        _container_batch.plan_all(ctx, chain)
    assert "a: invalid network_mode container:j: container j itself shares the namespace of " \
           "container o: join that one" in err.value.msg


def test_joiners_go_before_their_owner_when_both_are_removed(ctx):
    items = [entry("o"), joiner("j", "o")]
    converge(ctx, items)
    gone = _container_batch.build_requests(ctx, [entry("o", state="absent"),
                                                 dict(joiner("j", "o"), state="absent")])
    _container_batch.plan_all(ctx, gone)  # no force needed
    waves = _container_batch.ordered(gone, _container_batch.dependencies(ctx, gone))
    assert [[i.label for i in w] for w in waves] == [["j"], ["o"]]


def test_an_entry_whose_owner_failed_is_not_run(ctx):
    items = _container_batch.build_requests(ctx, [joiner("j", "o"), entry("o")])
    _container_batch.plan_all(ctx, items)
    j, o = items
    o.error = "boom"
    _container_batch._execute_one(ctx, j, [o])  # pylint: disable=protected-access
    assert j.error == "not run: container o, whose network namespace it joins, failed"
    assert not os.path.exists(os.path.join(ctx.state_dir, "containers", "j.json"))


def test_purge_networks_is_a_batch_entry_key():
    assert "purge_networks" in _container_batch.ENTRY_KEYS


# --- locks: a joiner and its owner change under both containers' locks ---

def test_a_joiner_task_locks_its_owner_too(ctx):
    """Joining reads the owner's namespace and record: the owner's removal must not run
    in between (locks taken together, sorted: no deadlock)."""
    converge(ctx, [entry("o")])
    items = _container_batch.build_requests(ctx, [entry("j", networks=[], network_mode="container:o"),
                                                  entry("c2")])
    assert _container_batch.lock_ids(ctx, [i.req for i in items]) == ["c2", "j", "o"]


def test_a_forced_removal_locks_the_joiners_it_forgets(ctx):
    converge(ctx, [entry("o"), entry("j", networks=[], network_mode="container:o")])
    forced = _container_batch.build_requests(ctx, [entry("o", networks=[], state="absent", force=True)])
    assert _container_batch.lock_ids(ctx, [i.req for i in forced]) == ["j", "o"]
    plain = _container_batch.build_requests(ctx, [entry("o", networks=[], state="absent")])
    assert _container_batch.lock_ids(ctx, [i.req for i in plain]) == ["o"]  # refused anyway


def test_planning_refuses_to_forget_a_joiner_it_did_not_lock(ctx):
    """A joiner that joined after the task took its locks: nothing changes, run again."""
    converge(ctx, [entry("o"), entry("j", networks=[], network_mode="container:o")])
    req = _container_batch.build_requests(ctx, [entry("o", networks=[], state="absent", force=True)])[0].req
    ctx.locked_ids = frozenset({"o"})
    with pytest.raises(ValidationError, match="container j joined .* run the task again"):
        _container.plan(ctx, req)
    ctx.locked_ids = frozenset({"o", "j"})
    assert {"action": "forget_joiner", "container": "j"} in _container.plan(ctx, req).actions


def test_the_task_holds_those_locks_from_planning_on(ctx):
    """The module's guard takes lock_ids' locks (real flock files) and names them on ctx."""
    import fcntl
    converge(ctx, [entry("o"), entry("j", networks=[], network_mode="container:o")])
    task = _container_batch.ContainerTask(False)
    task.req = _container_batch.build_requests(ctx, [entry("o", networks=[], state="absent", force=True)])[0].req
    with _container_batch.LOGIC.guard(ctx, task):
        assert ctx.locked_ids == frozenset({"o", "j"})
        for cid in ("o", "j"):  # held: another open file description cannot take it
            with open(os.path.join(ctx.state_dir, "locks", "%s.lock" % cid), "a") as f:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert {"action": "forget_joiner", "container": "j"} in _container.plan(ctx, task.req).actions
    assert ctx.locked_ids is None
