# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running many containers' CNI work at once, as the batch forms of ``cni_attachment``
and ``container_netns`` do: a bounded thread pool, and a gate that lets the first ADD of
each network run alone.

The plugins are subprocesses, so threads overlap their exec and iptables time. On one
network, though, plugins set up shared state with check-then-create steps (portmap
inserts its ``-j CNI-HOSTPORT-DNAT``/``-j CNI-HOSTPORT-MASQ`` jumps, firewall its
``-j CNI-FORWARD`` jump, bridge creates the bridge). Run concurrently on a cold host they
duplicated those jump rules (seen with containernetworking-plugins 1.1.1, 12 parallel ADDs
in a fresh netns). So the first ADD of each network in a batch — and the first ADD with
port mappings — runs alone (``WarmGate``); once one has succeeded the rest overlap. A
plugin error that only a race can cause ("already exists") is retried once.

What concurrency buys on 2 cores: the plugins are CPU-bound and their iptables-nft calls
slow each other down (each re-reads the ruleset, which grows with every container), so
warm ADDs overlap only as many at once as this process has CPUs (``add_slots``; the pool
still has ``workers`` threads, which DELs, namespace and file work use in full). Measured
in-process (bench/profile_batch.py), 200 containers with a host port each on 2 cores:
first converge with 1 / 2 / 3 / 4 / 8 ADDs at once 48 / 31 / 40 / 39 / 54-60 s (31 s twice),
while their DELs were fastest with 4-8 (39-41 s against 45 s with 2); at 50 containers 2
ADDs at once took 4.8-5.7 s against 6.7-6.8 s with 8. (An older measurement, 24 ADDs under
load ~8: 1 -> 6.1 s, 2 -> 5.6 s, 3 or 8 -> 3.9 s; the ruleset was small then.)

A batch hands its gate to the HostContext (``ctx.add_gate``); ``_attach`` runs every ADD
chain through ``ctx.run_add``, which goes through the gate when one is set.
"""
from __future__ import annotations

import os
import threading
from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence, Set, Tuple, TypeVar

from ansible_collections.podnet.cni.plugins.module_utils._errors import CniPluginError
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

DEFAULT_WORKERS = C.DEFAULT_WORKERS
MAX_WORKERS = C.MAX_WORKERS
# plugin errors that only a concurrent ADD can cause; retried once
RACE_MARKERS = ("already exists", "File exists", "Resource temporarily unavailable",
                "another app is currently holding the xtables lock")

T = TypeVar("T")


def add_slots() -> int:
    """How many warm ADD chains run at once: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def is_race(exc: CniPluginError) -> bool:
    text = "%s %s %s" % (exc.cni_msg, exc.cni_details, exc.stderr)
    return any(m in text for m in RACE_MARKERS)


class WarmGate:
    """Readers-writer gate: a cold ADD (first of its network, or first with ports) runs
    alone; warm ADDs run together, at most ``slots`` at once (default: ``add_slots()``)."""

    def __init__(self, slots: Optional[int] = None) -> None:
        if slots is not None and slots < 1:
            raise ValueError("slots must be at least 1, not %r" % slots)
        self.slots = add_slots() if slots is None else slots
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._warm: Set[Tuple[str, ...]] = set()

    @staticmethod
    def keys(network: str, with_ports: bool) -> Set[Tuple[str, ...]]:
        keys = {("net", network)}
        if with_ports:
            keys.add(("ports",))
        return keys

    @contextmanager
    def enter(self, network: str, with_ports: bool) -> Iterator[None]:
        keys = self.keys(network, with_ports)
        with self._cond:
            while True:
                cold = not keys <= self._warm
                if cold and not self._writer and self._readers == 0:
                    self._writer = True
                    break
                if not cold and not self._writer and self._readers < self.slots:
                    self._readers += 1
                    break
                self._cond.wait()
        ok = False
        try:
            yield
            ok = True
        finally:
            with self._cond:
                if cold:
                    self._writer = False
                    if ok:
                        self._warm |= keys
                else:
                    self._readers -= 1
                self._cond.notify_all()

    def run(self, network: str, with_ports: bool, fn: Callable[..., T], *args: Any,
            **kwargs: Any) -> T:
        """fn (an ADD chain that undoes itself on failure) through the gate; an error only
        a race causes is retried once, when the failed attempt was fully undone (else its
        intent must stay for the container's next run, which a retry would clear)."""
        for attempt in (1, 2):
            try:
                with self.enter(network, with_ports):
                    return fn(*args, **kwargs)
            except CniPluginError as exc:
                if attempt == 2 or not is_race(exc) or not getattr(exc, "rollback_complete", True):
                    raise
        raise AssertionError("unreachable")


def overlaps(ctx: Any, jobs: int, workers: int) -> bool:
    """Whether a batch of ``jobs`` containers runs concurrently. Rootless never: its
    context builds the rootless namespace and the slirp4netns port forwards lazily
    (check-then-create through one API socket), so a rootless batch runs in order."""
    return jobs > 1 and workers > 1 and not ctx.rootless


def pool_size(workers: int, jobs: int) -> int:
    return max(1, min(workers, MAX_WORKERS, jobs))


def run_all(fn: Callable[[Any], None], jobs: Sequence[Any], workers: int, concurrent: bool) -> None:
    """fn(job) for every job: in order, or on at most ``workers`` threads. fn keeps its own
    failures (nothing is raised from a job but what fn lets through)."""
    if not concurrent or len(jobs) < 2 or workers < 2:
        for job in jobs:
            fn(job)
        return
    from concurrent.futures import ThreadPoolExecutor  # only a batch with work needs it
    with ThreadPoolExecutor(max_workers=pool_size(workers, len(jobs))) as pool:
        results: List[Any] = list(pool.map(fn, jobs))
    del results


def run_static_first(fn: Callable[[Any], None], jobs: Sequence[Any], wants_static: Callable[[Any], bool],
                     workers: int, concurrent: bool) -> None:
    """run_all, the jobs that ask for static IPs first and the others after them:
    host-local hands out the lowest free address, so a dynamic ADD running beside (or
    before) a static one may take the address the static one asks for."""
    static = [job for job in jobs if wants_static(job)]
    dynamic = [job for job in jobs if not wants_static(job)]
    for phase in (static, dynamic):
        if phase:
            run_all(fn, phase, workers, concurrent)


@contextmanager
def gated(ctx: Any, concurrent: bool) -> Iterator[None]:
    """Give ctx a WarmGate while a concurrent batch runs (none when it runs in order)."""
    previous = getattr(ctx, "add_gate", None)
    ctx.add_gate = WarmGate() if concurrent else None
    try:
        yield
    finally:
        ctx.add_gate = previous


@contextmanager
def container_locks(ctx: Any, cids: Sequence[str]) -> Iterator[None]:
    """Hold the locks of every container a task changes, all taken before it plans and in
    sorted order (no deadlock with another task); ``ctx.locked_ids`` names them meanwhile."""
    held = frozenset(cids)
    previous = ctx.locked_ids
    with ExitStack() as stack:
        for cid in sorted(held):
            stack.enter_context(ctx.container_lock(cid))
        ctx.locked_ids = held
        try:
            yield
        finally:
            ctx.locked_ids = previous
