"""Scheduler throughput: hmipv6.sim.scheduler against SimPy and a bare heapq loop, same run.

The timer workload: ``N`` independent timers, each re-arming itself after its own fixed delay
(1 ms .. 97 ms, spread deterministically) every time it fires, run for a stretch of simulated
time that fires about ``E`` events. That is what a simulator's nodes and traffic sources do:
fire, schedule the next deadline.

- ours:  ``Scheduler.schedule(now + d, callback)`` from inside the callback, ``run(until=)``.
- SimPy: one generator process per timer, ``yield env.timeout(d)`` (SimPy's idiom); also its
  callback style (``env.timeout(d).callbacks.append(cb)``), reported for reference.
- bare:  ``heappush(heap, (t, prio, seq, cb))`` / ``heappop`` in a ``while`` loop: the floor
  any heap scheduler in Python pays.

Each variant runs ``--repeat`` times, round-robin with the others, and its best rate counts.
Ratios are printed against the baselines measured in the same run; targets: ours >= SimPy,
ours >= 0.6 x bare. No assertion: this is a benchmark, not a test.

    python3 bench/simulator.py [--timers 1000] [--until 8.0] [--repeat 5]
    python3 bench/simulator.py --many-mobiles [--duration 300] [--count 1000] [--tracemalloc]
                               [--against OLD_SRC [--rounds N]]

``--against OLD_SRC`` runs the same many-mobiles workload in two fresh processes started
together, one with this checkout's ``src`` and one whose ``hmipv6`` package comes from
``OLD_SRC`` (another checkout's ``src`` directory), each pinned to a CPU of its own when there
are two, so both see the same machine load, and prints the ratio of simulated packets per second of CPU
time (ours / theirs) and whether the two reports are byte-identical; ``--rounds N`` runs N
such pairs one after the other and prints the median ratio.
"""

from __future__ import annotations

import argparse
import heapq
import time
from collections.abc import Callable
from typing import Any

from hmipv6.sim.scheduler import Scheduler


def _delays(n: int) -> list[float]:
    return [0.001 * (1 + (i * 7919) % 97) for i in range(n)]


def run_ours(n: int, until: float) -> tuple[int, float]:
    sched = Scheduler()
    count = 0

    def timer(d: float) -> Callable[[], None]:
        def fire() -> None:
            nonlocal count
            count += 1
            sched.schedule(sched.now + d, fire)

        return fire

    for d in _delays(n):
        sched.schedule(0.0, timer(d))
    t0 = time.perf_counter()
    sched.run(until=until)
    return count, time.perf_counter() - t0


def run_bare(n: int, until: float) -> tuple[int, float]:
    heap: list[tuple[float, int, int, Callable[[float], None]]] = []
    seq = 0
    count = 0
    push = heapq.heappush

    def timer(d: float) -> Callable[[float], None]:
        def fire(now: float) -> None:
            nonlocal seq, count
            count += 1
            seq += 1
            push(heap, (now + d, 1, seq, fire))

        return fire

    for d in _delays(n):
        seq += 1
        heap.append((0.0, 1, seq, timer(d)))
    heapq.heapify(heap)
    pop = heapq.heappop
    t0 = time.perf_counter()
    while heap and heap[0][0] < until:
        t, _, _, cb = pop(heap)
        cb(t)
    return count, time.perf_counter() - t0


def run_simpy_process(n: int, until: float) -> tuple[int, float]:
    import simpy

    env = simpy.Environment()
    count = 0

    def timer(d: float):  # type: ignore[no-untyped-def]
        nonlocal count
        while True:
            yield env.timeout(d)
            count += 1

    for d in _delays(n):
        env.process(timer(d))
    t0 = time.perf_counter()
    env.run(until=until)
    return count, time.perf_counter() - t0


def run_simpy_callback(n: int, until: float) -> tuple[int, float]:
    import simpy

    env = simpy.Environment()
    count = 0

    def timer(d: float) -> Callable[[object], None]:
        def fire(_event: object) -> None:
            nonlocal count
            count += 1
            env.timeout(d).callbacks.append(fire)

        return fire

    for d in _delays(n):
        env.timeout(0).callbacks.append(timer(d))
    t0 = time.perf_counter()
    env.run(until=until)
    return count, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--timers", type=int, default=1000)
    ap.add_argument("--until", type=float, default=8.0, help="simulated seconds per run")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    variants: list[tuple[str, Callable[[int, float], tuple[int, float]]]] = [
        ("hmipv6 Scheduler", run_ours),
        ("SimPy (process + timeout)", run_simpy_process),
        ("SimPy (timeout callbacks)", run_simpy_callback),
        ("bare heapq loop", run_bare),
    ]
    try:
        import simpy  # noqa: F401
    except ImportError:
        print("SimPy: skipped (simpy not installed)")
        variants = [v for v in variants if not v[0].startswith("SimPy")]
    # Round-robin over the variants, best of --repeat each: background load on a shared
    # machine then slows every variant alike instead of whichever happened to run during it.
    best: dict[str, float] = {name: 0.0 for name, _ in variants}
    events: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, fn in variants:
            n, seconds = fn(args.timers, args.until)
            events[name] = n
            best[name] = max(best[name], n / seconds)
    rows = [(name, best[name], events[name]) for name, _ in variants]
    for name, rate, n in rows:
        print(f"{name:28s} {rate:>12,.0f} events/s  ({n:,} events)")

    rates = {name: rate for name, rate, _ in rows}
    ours = rates["hmipv6 Scheduler"]
    bare = rates["bare heapq loop"]
    print()
    simpy_rate = rates.get("SimPy (process + timeout)")
    if simpy_rate is not None:
        print(f"ours / SimPy (process + timeout): {ours / simpy_rate:.2f}  (target >= 1.0)")
        print(f"ours / SimPy (timeout callbacks): {ours / rates['SimPy (timeout callbacks)']:.2f}")
    print(f"ours / bare heapq loop:           {ours / bare:.2f}  (target >= 0.6)")


def bench_many_mobiles(duration: float = 300.0, count: int = 1000,
                       trace_memory: bool = False, digest: bool = False) -> dict[str, Any]:
    """Second part: the whole simulator on ``many-mobiles`` over ``duration`` simulated
    seconds (the moves and flows are generated for that duration): wall and CPU time,
    scheduler events and packets per wall second, peak RSS of the process (``ru_maxrss``).
    ``trace_memory`` also reports the peak of Python allocations (tracemalloc), which slows
    the run severalfold, so its times are then not comparable."""
    import resource
    import tracemalloc

    from hmipv6.sim.network import run

    overrides = (f"scenario.duration={duration}s", f"generate.mobile_nodes.count={count}",
                 f"generate.mobile_nodes.flow.stop={duration - 1}s")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace_memory:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    result = run("many-mobiles", overrides=overrides)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    c = result.counters
    handovers = result.report["handovers"]
    out: dict[str, Any] = {
        "simulated_s": duration, "mobile_nodes": count, "wall_s": wall, "cpu_s": cpu,
        "run_loop_wall_s": c["wall_time"],
        "events": c["events"], "events_per_s": c["events"] / wall,
        "packets": c["packets"], "packets_per_s": c["packets"] / wall,
        "packets_per_cpu_s": c["packets"] / cpu,
        "handovers": len(handovers),
        "handovers_registered": sum(1 for h in handovers if h["registration"] is not None),
        "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_MiB": rss_before}
    if trace_memory:
        out["peak_traced_MiB"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if digest:
        out["report_sha256"] = _report_digest(result.report)
    _print_run(out)
    print(f"many-mobiles speed-up over real time: {duration / wall:.2f}x")
    return out


def _print_run(out: dict[str, Any]) -> None:
    """One many-mobiles run's figures, a line each."""
    for k, v in out.items():
        print(f"many-mobiles {k:>20}: {v:,.1f}" if isinstance(v, float) else
              f"many-mobiles {k:>20}: {v:,}" if isinstance(v, int) else
              f"many-mobiles {k:>20}: {v}")


def _report_digest(report: dict[str, object]) -> str:
    import hashlib

    from hmipv6.sim.report import dumps

    return hashlib.sha256(dumps(report).encode()).hexdigest()


def against(old_src: str, duration: float, count: int, rounds: int = 1) -> None:
    """Run the many-mobiles bench here and, concurrently, with the package from ``old_src``;
    print packets per CPU second of both and their ratio (see the module docstring). With
    ``rounds`` > 1, that many pairs one after the other, then the median ratio: a pair shares
    the machine's state, but that state changes between pairs (on a shared virtual machine
    the same code's CPU time varies by a third from one pair to the next), so one pair's
    ratio is a sample, not the answer."""
    ratios = [_against_once(old_src, duration, count, swap=i % 2 == 1) for i in range(rounds)]
    if rounds > 1:
        import statistics

        print(f"ratios over {rounds} rounds: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"median {statistics.median(ratios):.2f}")


def _against_once(old_src: str, duration: float, count: int, swap: bool = False) -> float:
    """One concurrent pair (:func:`against`); the ratio. Both runs are fresh processes
    started together (this checkout's ``src`` and ``old_src``), each on a CPU of its own
    when the machine has two or more (``swap``: the other way round, so that rounds
    alternate them): neither inherits the other's heap or an earlier round's, and they do
    not take turns on one CPU."""
    import json
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    ours_src = os.path.join(os.path.dirname(here), "src")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    code = ("import json, os, sys; sys.path.insert(0, sys.argv[1]); import simulator as b\n"
            "if sys.argv[4] != '-': os.sched_setaffinity(0, {int(sys.argv[4])})\n"
            "import io, contextlib; out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out): r = b.bench_many_mobiles(float(sys.argv[2]), "
            "int(sys.argv[3]), digest=True)\n"
            "print(json.dumps(r))")

    def start(src: str, cpu: str) -> subprocess.Popen[str]:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(src))
        return subprocess.Popen([sys.executable, "-c", code, here, str(duration), str(count),
                                 cpu], env=env, stdout=subprocess.PIPE, text=True)

    pinned = len(cpus) >= 2
    mine, other = ("-", "-") if not pinned else (cpus[1], cpus[0]) if swap else (cpus[0], cpus[1])
    procs = {"theirs": start(old_src, str(other)), "ours": start(ours_src, str(mine))}
    runs: dict[str, dict[str, Any]] = {}
    for name, proc in procs.items():
        stdout, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"the run of {name} failed (exit {proc.returncode})")
        runs[name] = json.loads(stdout)
    ours, theirs = runs["ours"], runs["theirs"]
    _print_run(ours)
    print(f"against {old_src}: {theirs['packets_per_cpu_s']:,.0f} packets per CPU second "
          f"({theirs['cpu_s']:.1f} s CPU); ours {ours['packets_per_cpu_s']:,.0f} "
          f"({ours['cpu_s']:.1f} s CPU){f'; ours on CPU {mine}, theirs on {other}' if pinned else ''}")
    ratio: float = ours["packets_per_cpu_s"] / theirs["packets_per_cpu_s"]
    print(f"ratio (packets per CPU second, ours / theirs): {ratio:.2f}")
    same = ours["report_sha256"] == theirs["report_sha256"]
    print(f"reports byte-identical: {'yes' if same else 'NO'}")
    return ratio


if __name__ == "__main__":
    import sys

    if "--many-mobiles" in sys.argv:
        mm = argparse.ArgumentParser(description="many-mobiles: the whole simulator")
        mm.add_argument("--many-mobiles", action="store_true")
        mm.add_argument("--duration", type=float, default=300.0, help="simulated seconds")
        mm.add_argument("--count", type=int, default=1000, help="mobile nodes")
        mm.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python allocations (slow: times not comparable)")
        mm.add_argument("--against", metavar="OLD_SRC",
                        help="also run OLD_SRC's package concurrently and print the ratio")
        mm.add_argument("--rounds", type=int, default=1,
                        help="with --against: pairs to run, one after the other (median ratio)")
        a = mm.parse_args()
        if a.against:
            against(a.against, a.duration, a.count, a.rounds)
        else:
            bench_many_mobiles(a.duration, a.count, a.tracemalloc)
    else:
        main()
