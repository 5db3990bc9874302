# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_concurrency: the warm gate (first ADD of a network alone), the retry of race errors,
the bounded pool and the context seam (``ctx.run_add``) both batch forms share."""
from __future__ import annotations

import threading

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _concurrency
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
from ansible_collections.podnet.cni.plugins.module_utils._errors import CniPluginError


def test_warm_gate_runs_cold_adds_alone():
    """The first ADD of a network (and the first with ports) never overlaps another ADD."""
    gate = _concurrency.WarmGate()
    active, overlap_with_cold, lock = [], [], threading.Lock()
    release = threading.Event()

    def run(spec, cold_expected):
        with gate.enter(*spec):
            with lock:
                active.append(cold_expected)
                if len(active) > 1 and any(active):
                    overlap_with_cold.append(list(active))
            release.wait(0.05)
            with lock:
                active.remove(cold_expected)

    specs = [("n1", False), ("n1", False), ("n2", True), ("n2", False), ("n1", True)]
    threads = [threading.Thread(target=run, args=(s, False)) for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gate._warm == {("net", "n1"), ("net", "n2"), ("ports",)}
    assert not gate._writer and gate._readers == 0


def test_warm_adds_run_at_most_slots_at_once():
    """Warm ADDs overlap, but no more of them than the gate's slots (the CPUs)."""
    gate = _concurrency.WarmGate(slots=2)
    with gate.enter("n1", False):  # warm the network
        pass
    active, peak, lock = [0], [0], threading.Lock()

    def run():
        with gate.enter("n1", False):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            threading.Event().wait(0.05)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=run) for dummy in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2 and gate._readers == 0


def test_the_gate_has_a_slot_per_cpu_this_process_may_use():
    import os
    assert _concurrency.add_slots() == len(os.sched_getaffinity(0))
    assert _concurrency.WarmGate().slots == _concurrency.add_slots()
    with pytest.raises(ValueError):
        _concurrency.WarmGate(slots=0)


def test_warm_gate_exclusive_for_cold_keys():
    gate = _concurrency.WarmGate()
    inside = threading.Event()
    leave = threading.Event()
    entered_second = threading.Event()

    def first():
        with gate.enter("n1", False):
            inside.set()
            leave.wait(5)

    def second():
        with gate.enter("n1", False):
            entered_second.set()

    t1 = threading.Thread(target=first)
    t1.start()
    inside.wait(5)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(0.2)
    assert not entered_second.is_set()  # still cold: waits for the first ADD
    leave.set()
    t1.join()
    t2.join()
    assert entered_second.is_set()


def test_warm_gate_failure_leaves_network_cold():
    gate = _concurrency.WarmGate()
    with pytest.raises(RuntimeError):
        with gate.enter("n1", False):
            raise RuntimeError("plugin failed")
    assert gate._warm == set() and not gate._writer


@pytest.mark.parametrize("text,race", [
    ("Chain already exists.", True), ("failed to create bridge: File exists", True),
    ("no IP addresses available in range set", False), ("Resource temporarily unavailable", True),
])
def test_race_markers(text, race):
    assert _concurrency.is_race(CniPluginError(text, plugin="bridge", command="ADD")) is race


def test_gate_retries_a_race_error_once_and_nothing_else():
    gate = _concurrency.WarmGate()
    calls = []

    def flaky(kind):
        calls.append(kind)
        if len(calls) == 1:
            raise CniPluginError(kind, plugin="bridge", command="ADD")
        return "ok"
    assert gate.run("n1", False, flaky, "Chain already exists.") == "ok" and len(calls) == 2
    calls.clear()
    with pytest.raises(CniPluginError):
        gate.run("n1", False, flaky, "no IP addresses available in range set")
    assert len(calls) == 1


def test_gate_does_not_retry_an_add_whose_undo_is_incomplete():
    """Its intent stays for the container's next run; a retry would clear it on success
    (or on a clean failure) and forget what the first attempt left."""
    gate = _concurrency.WarmGate()
    calls = []

    def half_undone():
        calls.append(1)
        exc = CniPluginError("Chain already exists.", plugin="portmap", command="ADD")
        exc.rollback_complete = False
        raise exc
    with pytest.raises(CniPluginError):
        gate.run("n1", True, half_undone)
    assert len(calls) == 1


def test_context_runs_add_through_the_gate_of_its_batch(tmp_path):
    ctx = HostContext(str(tmp_path), [str(tmp_path)], str(tmp_path / "c"), str(tmp_path / "s"))
    seen = []

    class Recorder(_concurrency.WarmGate):
        def run(self, network, with_ports, fn, *args, **kwargs):
            seen.append((network, with_ports))
            return super().run(network, with_ports, fn, *args, **kwargs)

    assert ctx.run_add("n1", True, lambda x: x * 2, 21) == 42 and seen == []  # no batch: direct
    with _concurrency.gated(ctx, concurrent=True):
        assert isinstance(ctx.add_gate, _concurrency.WarmGate)
        ctx.add_gate = Recorder()
        assert ctx.run_add("n1", True, lambda x: x * 2, 21) == 42
    assert seen == [("n1", True)] and ctx.add_gate is None
    with _concurrency.gated(ctx, concurrent=False):
        assert ctx.add_gate is None  # a batch in order needs no gate


@pytest.mark.parametrize("workers,concurrent,threads",
                         [(8, True, True), (1, True, False), (8, False, False)])
def test_run_all_runs_every_job(workers, concurrent, threads):
    done, names = [], set()

    def job(n):
        done.append(n)
        names.add(threading.current_thread().name)
    _concurrency.run_all(job, list(range(20)), workers, concurrent)
    assert sorted(done) == list(range(20))
    assert (threading.current_thread().name not in names) is threads


def test_overlaps_never_rootless(tmp_path):
    ctx = HostContext(str(tmp_path), [str(tmp_path)], str(tmp_path / "c"), str(tmp_path / "s"))
    assert _concurrency.overlaps(ctx, 2, 8) and not _concurrency.overlaps(ctx, 1, 8)
    assert not _concurrency.overlaps(ctx, 5, 1)
    ctx.rootless = True
    assert not _concurrency.overlaps(ctx, 5, 8)
