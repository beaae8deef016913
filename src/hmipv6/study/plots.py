"""Plots of a study: each plotted metric against each parameter, mean with its 95 %
confidence band per protocol, and the analytic lower bound when the study asks for it.

Theory of operation
-------------------
Built from the aggregate table only (:func:`hmipv6.study.tables.aggregate_table`). One PNG
per parameter, ``plot-<parameter>.png``: a row of panels per plotted metric, a column per
combination of the *other* parameters' values (at most :data:`MAX_COLUMNS`; the title says
when some are left out). In a panel, each protocol is a line of means with a shaded band from
``ci95_low`` to ``ci95_high`` (the protocols side by side on the same axes, in the study's
order and colours), and its bound a dashed line of the same colour. Parameter values that are
durations are plotted in milliseconds, bandwidths in Mbit/s, numbers as they are; anything
else is placed at evenly spaced positions with its value as the tick label. Times on the y
axis are in milliseconds.

Drawing reuses :mod:`hmipv6.sim.plots`' deterministic setup (object API, Agg canvas, default
style, no version string in the PNG).
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

from hmipv6.sim.plots import _PROTOCOL_COLOURS, _empty, _figure, _save, _style
from hmipv6.sim.scenario import parse_bandwidth, parse_duration
from hmipv6.study.spec import Study
from hmipv6.study.tables import Table

__all__ = ["MAX_COLUMNS", "axis_values", "plot_parameter", "write_study_plots"]

MAX_COLUMNS = 4
"""Combinations of the other parameters drawn side by side per figure."""


def axis_values(values: list[str]) -> tuple[list[float], str, list[str] | None]:
    """x positions for displayed parameter values, the axis unit, and tick labels when the
    values are not numeric."""
    for parse, scale, unit in ((float, 1.0, ""), (parse_duration, 1e3, "ms"),
                               (parse_bandwidth, 1e-6, "Mbit/s")):
        try:
            return [parse(v) * scale for v in values], unit, None
        except ValueError:
            continue
    return [float(i) for i in range(len(values))], "", list(values)


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-") or "parameter"


def write_study_plots(study: Study, aggregate: Table, out: Path) -> list[Path]:
    """One PNG per parameter in ``out``; return their paths (none without parameters)."""
    paths = []
    if study.parameters:
        out.mkdir(parents=True, exist_ok=True)
    for i in range(len(study.parameters)):
        path = out / f"plot-{_slug(study.parameters[i].key)}.png"
        plot_parameter(study, aggregate, i, path)
        paths.append(path)
    return paths


def plot_parameter(study: Study, aggregate: Table, index: int, path: Path) -> None:
    """The figure of parameter ``study.parameters[index]``."""
    param = study.parameters[index]
    others = [p for j, p in enumerate(study.parameters) if j != index]
    combos = list(itertools.product(*(range(len(p.values)) for p in others)))
    shown = combos[:MAX_COLUMNS]
    metrics = list(study.metrics)
    rows = _rows(aggregate)
    xs_display = [param.display(i) for i in range(len(param.values))]
    xs, x_unit, ticks = axis_values(xs_display)
    seeds = len(study.seeds)
    with _style():
        fig = _figure(1.0 + 4.2 * len(shown), 0.6 + 2.9 * len(metrics))
        axes = fig.subplots(len(metrics), len(shown), squeeze=False)
        for c, combo in enumerate(shown):
            fixed = {p.key: p.display(i) for p, i in zip(others, combo, strict=True)}
            for r, metric in enumerate(metrics):
                ax = axes[r][c]
                drew = _panel(ax, study, rows, param.key, xs_display, xs, fixed, metric)
                if not drew:
                    _empty(ax, "no data")
                    continue
                if ticks is not None:
                    ax.set_xticks(xs, ticks)
                ax.set_xlabel(f"{param.label} [{x_unit}]" if x_unit else param.label)
                unit = _unit(rows, metric)
                ax.set_ylabel(f"{metric} [{'ms' if unit == 's' else unit}]")
                ax.grid(color="#eeeeee")
                top = ax.get_ylim()[1]
                ax.set_ylim(-0.03 * top, top)  # a zero line stays visible above the axis
                if fixed:
                    ax.set_title(", ".join(f"{k}={v}" for k, v in fixed.items()), fontsize=8)
                if r == 0 and c == 0:
                    ax.legend(loc="best")
        more = f" (first {len(shown)} of {len(combos)} combinations of the other parameters)" \
            if len(combos) > len(shown) else ""
        fig.suptitle(f"{study.name}: mean and 95 % confidence interval over {seeds} "
                     f"seed{'s' if seeds != 1 else ''}{more}")
        _save(fig, path)


def _rows(table: Table) -> list[dict[str, Any]]:
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def _unit(rows: list[dict[str, Any]], metric: str) -> str:
    return next((str(r["unit"]) for r in rows if r["metric"] == metric), "")


def _panel(ax: Any, study: Study, rows: list[dict[str, Any]], key: str, display: list[str],
           xs: list[float], fixed: dict[str, str], metric: str) -> bool:
    drew = False
    for k, proto in enumerate(study.protocols):
        colour = _PROTOCOL_COLOURS[k % len(_PROTOCOL_COLOURS)]
        pts: list[tuple[float, float, float, float, float]] = []
        for x, shown in zip(xs, display, strict=True):
            row = next((r for r in rows if r["protocol"] == proto and r["metric"] == metric
                        and r[key] == shown and all(r[a] == b for a, b in fixed.items())), None)
            if row is None or not row["runs"]:
                continue
            scale = 1e3 if row["unit"] == "s" else 1.0
            low, high = row["ci95_low"], row["ci95_high"]
            if math.isnan(low):  # one run: no interval
                low = high = row["mean"]
            pts.append((x, row["mean"] * scale, low * scale, high * scale,
                        row["bound"] * scale))
        if not pts:
            continue
        pts.sort()
        px = [p[0] for p in pts]
        ax.plot(px, [p[1] for p in pts], marker="o", markersize=3.5, color=colour, label=proto)
        ax.fill_between(px, [p[2] for p in pts], [p[3] for p in pts], color=colour, alpha=0.2,
                        linewidth=0)
        bounds = [(p[0], p[4]) for p in pts if not math.isnan(p[4])]
        if study.bound and bounds:
            ax.plot([b[0] for b in bounds], [b[1] for b in bounds], linestyle="--",
                    linewidth=1.0, color=colour, label=f"{proto} bound")
        drew = True
    return drew
