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
slow each other down (each re-reads the ruleset), yet the overlap still wins. Measured
in-process, 24 ADDs with a port mapping each on a host under load ~8: workers 1 -> 6.1 s,
2 -> 5.6 s, 3 -> 3.9 s, 8 -> 3.9 s; 50 ADDs on a quieter host: workers 8 at 0.39x the
sequential raw chain.

A batch hands its gate to the HostContext (``ctx.add_gate``); ``_attach`` runs every ADD
chain through ``ctx.run_add``, which goes through the gate when one is set.
"""
from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Iterator, List, Sequence, Set, Tuple, TypeVar

from ansible_collections.podnet.cni.plugins.module_utils._errors import CniPluginError
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

DEFAULT_WORKERS = C.DEFAULT_WORKERS
MAX_WORKERS = C.MAX_WORKERS
# plugin errors that only a concurrent ADD can cause; retried once
RACE_MARKERS = ("already exists", "File exists", "Resource temporarily unavailable",
                "another app is currently holding the xtables lock")

T = TypeVar("T")


def is_race(exc: CniPluginError) -> bool:
    text = "%s %s %s" % (exc.cni_msg, exc.cni_details, exc.stderr)
    return any(m in text for m in RACE_MARKERS)


class WarmGate:
    """Readers-writer gate: a cold ADD (first of its network, or first with ports) runs
    alone; warm ADDs run together."""

    def __init__(self) -> None:
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
                if not cold and not self._writer:
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
    """Hold the locks of every container of a batch (sorted: no deadlock with others)."""
    with ExitStack() as stack:
        for cid in sorted(set(cids)):
            stack.enter_context(ctx.container_lock(cid))
        yield
