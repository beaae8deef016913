"""Running a study's runs: local processes (default) or a Dask distributed cluster.

Theory of operation
-------------------
:func:`run_study` lists the study's runs (:meth:`Study.runs`), takes every run already
finished from the :class:`~hmipv6.study.store.RunStore` under ``<out>/runs`` and executes
the rest; each result is stored the moment it arrives, so an interrupted study loses only the
runs in flight. Results are returned in the canonical order of the runs (point, protocol,
seed) whatever order they finished in, and each run is deterministic given its seed, so the
tables are the same on one core, many cores or a cluster.

Local execution (:func:`run_local`) uses a pool of ``spawn``-ed worker processes (fresh
interpreters: no state inherited from the coordinator) and keeps at most :data:`IN_FLIGHT`
runs per worker submitted (enough that a worker never waits for the coordinator to hand it
the next run, few enough that a crash implicates only those). A run that raises becomes a
failed result inside the worker (:func:`~hmipv6.study.execute.execute_run`). A worker that
dies (a crash, the OOM killer) breaks the pool: the runs in flight then are re-run one at a
time in a fresh pool, so the run that kills its worker again is the one reported as failed
and the others complete.

Cluster execution (:func:`run_dask`) connects a ``distributed.Client`` to the scheduler
address (``tcp://host:port``), submits every run under a key derived from the run's key, and
collects results as they complete; an exception from the cluster (e.g. ``KilledWorker``, after
the scheduler's own retries) becomes that run's failed result. Workers must have the same
hmipv6 installed: a worker with another code version refuses the run (a failed result naming
both versions).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmipv6.errors import HMIPv6Error
from hmipv6.study.execute import execute_run, failed_result
from hmipv6.study.spec import RunSpec, Study
from hmipv6.study.store import RunStore, code_version

__all__ = ["IN_FLIGHT", "WORKER_DIED", "ClusterError", "Outcome", "run_dask", "run_local",
           "run_study"]

Result = dict[str, Any]
Execute = Callable[[RunSpec], Result]
OnResult = Callable[[Result], None]
Progress = Callable[[int, int, int], None]
"""``progress(done, total, failed)``, called once before the first run and after each."""

WORKER_DIED = "the worker process died while running it (crashed or killed)"

IN_FLIGHT = 2
"""Runs submitted per local worker process at any time."""


class ClusterError(HMIPv6Error):
    """The cluster could not be reached or used."""


@dataclass(frozen=True, slots=True)
class Outcome:
    specs: tuple[RunSpec, ...]
    results: tuple[Result, ...]
    """One per spec, in the same (canonical) order."""
    executed: int
    """Runs executed by this call (the others were taken from the store)."""
    reused: int

    @property
    def failed(self) -> list[tuple[RunSpec, Result]]:
        return [(s, r) for s, r in zip(self.specs, self.results, strict=True)
                if r.get("status") != "ok"]


def run_study(study: Study, out: Path, *, workers: int | None = None, cluster: str | None = None,
              progress: Progress | None = None, execute: Execute = execute_run) -> Outcome:
    """Execute every run of ``study`` not already in ``out/runs``; return all results."""
    specs = study.runs(code_version())
    store = RunStore(out / "runs")
    results: dict[str, Result] = {}
    for spec in specs:
        kept = store.load(spec.key)
        if kept is not None:
            results[spec.key] = kept
    todo = [s for s in specs if s.key not in results]
    reused = len(results)
    failed = 0
    expected = {s.key for s in todo}

    def on_result(result: Result) -> None:
        nonlocal failed
        key = str(result.get("key"))
        if key not in expected or key in results:
            return  # not one of ours (cannot happen with our own execute); never stored
        store.save(result)
        results[key] = result
        failed += result.get("status") != "ok"
        if progress is not None:
            progress(len(results), len(specs), failed)

    if progress is not None:
        progress(len(results), len(specs), failed)
    if todo:
        if cluster is not None:
            run_dask(todo, cluster, on_result, execute=execute)
        else:
            run_local(todo, workers or os.cpu_count() or 1, on_result, execute=execute)
    missing = [s for s in specs if s.key not in results]
    for spec in missing:  # a backend that lost a run: report it rather than drop it
        on_result(failed_result(spec, "no result came back for this run"))
    return Outcome(specs=tuple(specs), results=tuple(results[s.key] for s in specs),
                   executed=len(todo), reused=reused)


def _close_broken(pool: ProcessPoolExecutor) -> None:
    """Shut down a pool one of whose workers died. CPython 3.11's executor can start a worker
    while the pool is breaking (a ``submit`` racing its manager thread, which terminates the
    workers it knows, then joins them all): ``shutdown`` then waits forever for a worker that
    waits for work (seen once in about six CI runs of ``tests/study/test_sweep.py``). So
    every worker still alive is terminated first; every one the pool started is known by
    now, since nothing can be submitted to a broken pool."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=True)


def run_local(specs: Sequence[RunSpec], workers: int, on_result: OnResult, *,
              execute: Execute = execute_run) -> None:
    """Run ``specs`` on ``workers`` local processes, calling ``on_result`` for each."""
    workers = max(1, min(workers, len(specs)))
    context = multiprocessing.get_context("spawn")
    todo: deque[RunSpec] = deque(specs)
    alone: deque[RunSpec] = deque()  # in flight when a worker died: run one at a time
    pool: ProcessPoolExecutor | None = None
    try:
        while todo or alone:
            if pool is None:
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            if alone:
                spec = alone.popleft()
                try:
                    result = pool.submit(execute, spec).result()
                except BrokenProcessPool:
                    result = failed_result(spec, WORKER_DIED)
                    _close_broken(pool)
                    pool = None
                on_result(result)
                continue
            in_flight: dict[Future[Result], RunSpec] = {}
            try:
                while todo or in_flight:
                    while todo and len(in_flight) < IN_FLIGHT * workers:
                        spec = todo.popleft()
                        try:
                            in_flight[pool.submit(execute, spec)] = spec
                        except BrokenProcessPool:
                            todo.appendleft(spec)
                            raise
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        result = fut.result()
                        del in_flight[fut]
                        on_result(result)
            except BrokenProcessPool:
                if len(in_flight) == 1:
                    on_result(failed_result(next(iter(in_flight.values())), WORKER_DIED))
                else:
                    alone.extend(in_flight.values())
                _close_broken(pool)
                pool = None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def run_dask(specs: Sequence[RunSpec], address: str, on_result: OnResult, *,
             execute: Execute = execute_run, connect_timeout: float = 20.0) -> None:
    """Run ``specs`` on the Dask distributed cluster whose scheduler is at ``address``."""
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout=connect_timeout,  # type: ignore[no-untyped-call]
                        set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    with client:
        futures = client.map(execute, list(specs), key=[f"hmipv6-run-{s.key}" for s in specs],
                             pure=False)
        by_key = {f.key: s for f, s in zip(futures, specs, strict=True)}
        for fut in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
            spec = by_key[fut.key]
            try:
                result = fut.result()
            except Exception as e:  # KilledWorker, a lost connection: this run failed
                result = failed_result(spec, f"{type(e).__name__}: {e}")
            fut.release()
            on_result(result)
