"""Study runs per second with one worker process and with all cores, and the scaling ratio.

A study of ``--seeds`` seeds x 2 protocols x 2 points of figure1 (``--duration`` simulated
seconds each, the move at 2 s) is run twice through :func:`hmipv6.study.runner.run_study`:
with one local worker process, then with ``--jobs`` (default: every core), each time into a
fresh directory so nothing is reused. Wall-clock time includes starting the worker
processes (``spawn``: a fresh interpreter each), as a user sees it. The ratio is
rate(all cores) / rate(one); ideal scaling would give the number of cores. The two tables
are also compared (they must be identical). The CPU seconds the worker processes used per
run (``getrusage(RUSAGE_CHILDREN)``, counted once the pool has shut its workers down) do not
depend on other tenants: with N workers they should stay what they are with one, i.e. the
work itself does not grow with parallelism. Nothing is asserted; on a shared machine the
wall-clock ratio moves with the other tenants' load.

    python bench/sweep.py [--seeds 10] [--duration 4] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from hmipv6.study.runner import run_study
from hmipv6.study.spec import loads_study
from hmipv6.study.tables import aggregate_table

STUDY = """
[study]
name = "bench"
scenario = "figure1"
protocols = ["mipv6", "hmipv6"]
seeds = {seeds}
set = ["scenario.duration={duration}s", "moves[1].at=2s", "flows[0].start=0.5s",
       "flows[0].stop={stop}s"]
[parameters]
"defaults.l2_handover" = ["20ms", "50ms"]
"""


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(text: str, workers: int) -> tuple[float, float, int, str]:
    """(wall seconds, workers' CPU seconds, runs, aggregate CSV) of one study run from
    scratch with ``workers``."""
    study = loads_study(text)
    with tempfile.TemporaryDirectory(prefix="hmipv6-bench-sweep-") as d:
        cpu = _children_cpu()
        start = time.perf_counter()
        outcome = run_study(study, Path(d), workers=workers)
        elapsed = time.perf_counter() - start
        cpu = _children_cpu() - cpu
    assert not outcome.failed
    return elapsed, cpu, outcome.executed, aggregate_table(study, outcome).to_csv()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--duration", type=float, default=4.0, help="simulated seconds per run")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    text = STUDY.format(seeds=a.seeds, duration=a.duration, stop=a.duration - 0.1)
    t1, c1, n, csv1 = measure(text, 1)
    tn, cn, _, csvn = measure(text, a.jobs)
    r1, rn = n / t1, n / tn
    print(f"{n} runs of figure1, {a.duration:g} s simulated each; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"1 process:     {t1:6.2f} s  {r1:6.2f} runs/s  {c1 / n:.3f} CPU s/run")
    print(f"{a.jobs} processes:   {tn:6.2f} s  {rn:6.2f} runs/s  {cn / n:.3f} CPU s/run")
    print(f"scaling ratio: {rn / r1:.2f} (ideal {a.jobs}); tables identical: {csv1 == csvn}")


if __name__ == "__main__":
    main()
