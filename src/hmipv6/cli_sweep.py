"""``hmipv6 sweep``: a parameter study over scenario keys, seeds and protocols.

Theory of operation
-------------------
Loads the study (:func:`hmipv6.study.spec.load_study`: a TOML file or a built-in name), runs
every run not already kept under ``OUT/runs`` (:func:`hmipv6.study.runner.run_study`: local
processes, ``--jobs`` of them, default all cores; or the Dask cluster at ``--cluster``), then
writes into ``--out`` (default ``sweep-out/<study name>``)::

    tidy.csv tidy.parquet             one row per run and metric item (hmipv6.study.tables)
    aggregate.csv aggregate.parquet   mean, sd, 95 % CI per point, protocol and metric
    plot-<parameter>.png              each plotted metric against the parameter
    runs/<key>.json                   one finished run each (what makes a study resumable)

and prints a summary: runs executed, reused and failed (each failure with its point, protocol,
seed and error), and the plotted metrics per point and protocol. A progress bar runs on a
terminal (not with ``--quiet``). Exit status: 0 when every run succeeded, 1 when some failed
(the tables and plots are still written, and say so), 2 for a study that cannot run (one line:
file, key, problem) or an unreachable cluster, 130 when interrupted (finished runs are kept:
the same command continues).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table as RichTable

from hmipv6.errors import HMIPv6Error
from hmipv6.study.spec import BUILTIN_STUDIES, Study, StudyError, load_study

if TYPE_CHECKING:
    from hmipv6.study.runner import Outcome

__all__ = ["register", "run_sweep", "write_outputs"]

MAX_FAILURES_SHOWN = 20


def register(sub: Any) -> None:
    """Add ``sweep`` to the ``hmipv6`` subcommands."""
    p = sub.add_parser(
        "sweep", help="run a parameter study: scenario keys x seeds x protocols, with CIs",
        description="Run a study (a TOML file or a built-in name) of simulator runs over a grid "
                    "of scenario parameters, seeds and protocols; write tidy and aggregate "
                    "tables (CSV, Parquet) with 95% confidence intervals, and plots. Finished "
                    "runs are kept in OUT/runs: an interrupted study continues where it stopped.")
    p.add_argument("study", metavar="STUDY|NAME",
                   help=f"study file or built-in study ({', '.join(BUILTIN_STUDIES)})")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output directory (default sweep-out/<study name>)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--jobs", "-j", type=_positive, metavar="N",
                       help="local worker processes (default: all cores)")
    where.add_argument("--cluster", metavar="ADDRESS",
                       help="run on the Dask distributed cluster whose scheduler is at ADDRESS "
                            "(tcp://host:port); its workers need the same hmipv6 installed")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print nothing but errors (no progress bar, no summary)")
    p.set_defaults(handler=run_sweep)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 process, got {n}")
    return n


def _error(message: str) -> int:
    print(f"hmipv6 sweep: error: {message}", file=sys.stderr)
    return 2


def run_sweep(args: argparse.Namespace) -> int:
    from hmipv6.study.runner import ClusterError, run_study

    try:
        study = load_study(args.study)
    except StudyError as e:
        return _error(str(e))
    out: Path = args.out if args.out is not None else Path("sweep-out") / study.name
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _error(f"cannot create {out}: {e.strerror or e}")
    console = Console() if sys.stdout.isatty() else Console(width=120, no_color=True,
                                                             highlight=False)
    bar = _Bar(study.name, enabled=not args.quiet and sys.stdout.isatty())
    started = time.monotonic()
    try:
        with bar:
            outcome = run_study(study, out, workers=args.jobs, cluster=args.cluster,
                                progress=bar)
    except KeyboardInterrupt:
        print(f"hmipv6 sweep: interrupted; {bar.done} of {bar.total} runs are kept in "
              f"{out / 'runs'}: run the same command again to continue", file=sys.stderr)
        return 130
    except ClusterError as e:
        return _error(str(e))
    except HMIPv6Error as e:
        return _error(str(e))
    wall = time.monotonic() - started
    files = write_outputs(study, outcome, out)
    failed = outcome.failed
    if not args.quiet:
        _print_summary(console, study, outcome, wall, files)
    elif failed:
        print(f"hmipv6 sweep: {len(failed)} of {len(outcome.specs)} runs failed "
              f"(see {out / 'tidy.csv'})", file=sys.stderr)
    return 1 if failed else 0


def write_outputs(study: Study, outcome: Outcome, out: Path) -> list[Path]:
    """Write the tidy and aggregate tables and the plots into ``out``; return the paths."""
    from hmipv6.study.analytic import study_bounds
    from hmipv6.study.plots import write_study_plots
    from hmipv6.study.tables import aggregate_table, tidy_table, write_table

    files = write_table(tidy_table(study, outcome), out / "tidy")
    aggregate = aggregate_table(study, outcome, study_bounds(study))
    files += write_table(aggregate, out / "aggregate")
    files += write_study_plots(study, aggregate, out)
    return files


class _Bar:
    """The ``progress(done, total, failed)`` callback: a rich bar of runs on a terminal."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.done = 0
        self.total = 0
        self.progress: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> _Bar:
        return self

    def __call__(self, done: int, total: int, failed: int) -> None:
        self.done, self.total = done, total
        if not self.enabled:
            return
        if self.progress is None:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn("runs"),
                                     TextColumn("{task.fields[failed]}"), TimeElapsedColumn(),
                                     TimeRemainingColumn(), transient=True)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total, failed="")
        self.progress.update(self.task, completed=done,
                             failed=f"[red]{failed} failed[/red]" if failed else "")

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_summary(console: Console, study: Study, outcome: Outcome, wall: float,
                   files: list[Path]) -> None:
    from hmipv6.study.measures import METRICS

    total = len(outcome.specs)
    failed = outcome.failed
    console.print(f"[bold]{study.name}[/bold]: {len(study.points())} points x "
                  f"{len(study.protocols)} protocols x {len(study.seeds)} seeds = {total} runs; "
                  f"{outcome.executed} executed in {wall:.1f} s, {outcome.reused} reused, "
                  f"{len(failed)} failed")
    if failed:
        t = RichTable(title="Failed runs", title_justify="left")
        for c in ("point", "protocol", "seed", "error"):
            t.add_column(c)
        for spec, result in failed[:MAX_FAILURES_SHOWN]:
            params = ", ".join(f"{k}={v}" for k, v in spec.params) or "-"
            t.add_row(params, spec.protocol, str(spec.seed), str(result.get("error")))
        if len(failed) > MAX_FAILURES_SHOWN:
            t.caption = f"first {MAX_FAILURES_SHOWN} of {len(failed)}"
        console.print(t)
    from hmipv6.study.analytic import study_bounds
    from hmipv6.study.tables import aggregate_table

    agg = aggregate_table(study, outcome, study_bounds(study))
    rows = [dict(zip(agg.columns, r, strict=True)) for r in agg.rows]
    for metric in study.metrics:
        unit = METRICS[metric]
        scale, shown_unit = (1e3, "ms") if unit == "s" else (1.0, unit)
        t = RichTable(title=f"{metric} ({shown_unit}): mean ± 95 % CI half width",
                      title_justify="left")
        for p in study.parameters:
            t.add_column(p.key)
        for proto in study.protocols:
            t.add_column(proto, justify="right")
        by_point: dict[int, dict[str, dict[str, Any]]] = {}
        for r in rows:
            if r["metric"] == metric:
                by_point.setdefault(r["point"], {})[r["protocol"]] = r
        for point in sorted(by_point):
            first = next(iter(by_point[point].values()))
            cells = []
            for proto in study.protocols:
                cell = by_point[point].get(proto)
                cells.append("-" if cell is None or not cell["runs"] else _mean_ci(cell, scale))
            t.add_row(*(str(first[p.key]) for p in study.parameters), *cells)
        console.print(t)
    console.print("[bold]Files[/bold]")
    out = files[0].parent if files else Path(".")
    console.print(f"  {out / 'runs'}/  one JSON file per finished run (kept for resuming)",
                  highlight=False)
    for f in files:
        console.print(f"  {f}", highlight=False)


def _mean_ci(row: dict[str, Any], scale: float) -> str:
    mean = row["mean"] * scale
    half = row["ci95_half"]
    if math.isnan(half):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {half * scale:.2g}"
