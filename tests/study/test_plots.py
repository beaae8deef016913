"""Study plots from aggregate tables built by hand (no simulation): axes from durations,
bandwidths, numbers or categories; one figure per parameter; deterministic bytes."""

from __future__ import annotations

import math
from pathlib import Path

from hmipv6.study.plots import axis_values, write_study_plots
from hmipv6.study.spec import Study, loads_study
from hmipv6.study.tables import Table


def test_axis_values() -> None:
    assert axis_values(["0ms", "15ms", "1s"]) == ([0.0, 15.0, 1000.0], "ms", None)
    assert axis_values(["11Mbps", "1Gbps"]) == ([11.0, 1000.0], "Mbit/s", None)
    assert axis_values(["2", "0.5"]) == ([2.0, 0.5], "", None)
    assert axis_values(["optimistic", "standard"]) == ([0.0, 1.0], "", ["optimistic", "standard"])


def _aggregate(study_text: str) -> tuple[Study, Table]:
    study = loads_study(study_text)
    keys = [p.key for p in study.parameters]
    columns = ("point", *keys, "protocol", "metric", "unit", "runs", "failed", "mean", "sd",
               "ci95_low", "ci95_high", "ci95_half", "bound")
    rows = []
    for n, point in enumerate(study.points()):
        shown = [p.display(i) for p, i in zip(study.parameters, point, strict=True)]
        for k, proto in enumerate(study.protocols):
            for metric, unit in (("handover.latency", "s"), ("handover.lost", "packets")):
                mean = 0.05 * (1 + n) * (1 + k) if unit == "s" else float(n + k)
                runs = 0 if (n, proto) == (1, "hmipv6") else 3  # a point whose runs all failed
                rows.append((n, *shown, proto, metric, unit, runs, 3 - runs,
                             mean if runs else math.nan, 0.1 * mean, 0.9 * mean, 1.1 * mean,
                             0.1 * mean, 0.5 * mean))
    types = ("int", *("str" for _ in keys), "str", "str", "str", "int", "int",
             *("float" for _ in range(6)))
    return study, Table(columns, types, rows)


def test_one_figure_per_parameter_and_the_same_bytes_twice(tmp_path: Path) -> None:
    study, table = _aggregate("""
[study]
scenario = "figure1"
seeds = 3
bound = true
[parameters]
"links[1].delay" = { from = 0, to = 40, step = 20, unit = "ms" }
"defaults.dad" = ["optimistic", "standard"]
""")
    paths = write_study_plots(study, table, tmp_path / "a")
    assert [p.name for p in paths] == ["plot-links-1-delay.png", "plot-defaults-dad.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 10_000 for p in paths)
    again = write_study_plots(study, table, tmp_path / "b")
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]


def test_a_study_without_parameters_has_no_plot(tmp_path: Path) -> None:
    study, table = _aggregate('[study]\nscenario = "figure1"\n')
    assert write_study_plots(study, table, tmp_path) == []
