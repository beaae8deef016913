"""The tidy and aggregate tables of a study, written as CSV and Parquet.

Theory of operation
-------------------
*Tidy* (``tidy.csv``, ``tidy.parquet``): one row per run and metric item (each handover's
latency, each flow's loss, ...): ``point``, one column per parameter (named by its ``--set``
key, the value as written in the study), ``protocol``, ``seed``, ``run`` (the run's key),
``status`` (``ok`` / ``failed``), ``error``, ``item``, ``kind``, ``metric``, ``unit``,
``value``. A failed run is one row with its error and no metric.

*Aggregate* (``aggregate.csv``, ``aggregate.parquet``): one row per point, protocol and
metric. Each run contributes one value per metric, the mean over its items (its handovers
or flows), since runs, not handovers, are the independent replications; ``runs`` counts the
runs that gave a value, ``failed`` the failed runs of that point and protocol, then ``mean``,
``sd``, ``ci95_low``, ``ci95_high``, ``ci95_half`` (Student t, :mod:`hmipv6.study.stats`)
and ``bound`` (the analytic lower bound, :mod:`hmipv6.study.analytic`, when the study asks
for it and the model covers the scenario).

Rows are in canonical order (point, protocol in the study's order, seed, then the report's
order of items; metrics in :data:`~hmipv6.study.measures.METRICS` order), values are written
with ``repr`` (shortest round trip), missing values empty (CSV) or null (Parquet); so the same
study gives byte-identical CSV files wherever and in whatever order its runs executed.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmipv6.study.measures import METRICS
from hmipv6.study.runner import Outcome
from hmipv6.study.spec import Study
from hmipv6.study.stats import summarize

__all__ = ["Table", "aggregate_table", "tidy_table", "write_table"]

Bound = Callable[[int, str, str], float | None]
"""``bound(point, protocol, metric)``."""


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    types: tuple[str, ...]
    """``"int"``, ``"str"`` or ``"float"`` per column."""
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for row in self.rows:
            w.writerow([_cell(v) for v in row])
        return buf.getvalue()


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def tidy_table(study: Study, outcome: Outcome) -> Table:
    params = tuple(p.key for p in study.parameters)
    columns = ("point", *params, "protocol", "seed", "run", "status", "error", "item", "kind",
               "metric", "unit", "value")
    types = ("int", *("str" for _ in params), "str", "int", "str", "str", "str", "str", "str",
             "str", "str", "float")
    rows: list[tuple[Any, ...]] = []
    for spec, result in zip(outcome.specs, outcome.results, strict=True):
        lead = (spec.point, *(v for _, v in spec.params), spec.protocol, spec.seed, spec.key)
        if result.get("status") != "ok":
            rows.append((*lead, "failed", str(result.get("error", "")), "", "", "", "", math.nan))
            continue
        for item, kind, metric, value in result.get("rows", []):
            rows.append((*lead, "ok", "", str(item), str(kind), str(metric),
                         METRICS.get(str(metric), ""), float(value)))
    return Table(columns, types, rows)


def aggregate_table(study: Study, outcome: Outcome, bound: Bound | None = None) -> Table:
    params = tuple(p.key for p in study.parameters)
    columns = ("point", *params, "protocol", "metric", "unit", "runs", "failed", "mean", "sd",
               "ci95_low", "ci95_high", "ci95_half", "bound")
    types = ("int", *("str" for _ in params), "str", "str", "str", "int", "int", "float",
             "float", "float", "float", "float", "float")
    # (point, protocol) -> metric -> per-run values (runs in canonical order, i.e. by seed)
    cells: dict[tuple[int, str], dict[str, list[float]]] = {}
    failed: dict[tuple[int, str], int] = {}
    point_params: dict[int, tuple[str, ...]] = {}
    seen_metrics: set[str] = set()
    for spec, result in zip(outcome.specs, outcome.results, strict=True):
        key = (spec.point, spec.protocol)
        point_params[spec.point] = tuple(v for _, v in spec.params)
        per_metric = cells.setdefault(key, {})
        if result.get("status") != "ok":
            failed[key] = failed.get(key, 0) + 1
            continue
        items: dict[str, list[float]] = {}
        for _, _, metric, value in result.get("rows", []):
            v = float(value)
            if not math.isnan(v):
                items.setdefault(str(metric), []).append(v)
        for metric, vs in items.items():
            seen_metrics.add(metric)
            per_metric.setdefault(metric, []).append(math.fsum(vs) / len(vs))
    metrics = [m for m in METRICS if m in seen_metrics] + sorted(seen_metrics - set(METRICS))
    order = {p: i for i, p in enumerate(study.protocols)}
    rows: list[tuple[Any, ...]] = []
    for point, proto in sorted(cells, key=lambda k: (k[0], order[k[1]])):
        per_metric = cells[(point, proto)]
        for metric in metrics:
            values = per_metric.get(metric, [])
            b = bound(point, proto, metric) if bound is not None else None
            lead = (point, *point_params[point], proto, metric, METRICS.get(metric, ""),
                    len(values), failed.get((point, proto), 0))
            if not values:
                rows.append((*lead, *(math.nan,) * 5, _f(b)))
                continue
            s = summarize(values)
            rows.append((*lead, s.mean, s.sd, s.low, s.high, s.half, _f(b)))
    return Table(columns, types, rows)


def _f(v: float | None) -> float:
    return math.nan if v is None else float(v)


def write_table(table: Table, stem: Path) -> list[Path]:
    """Write ``<stem>.csv`` and ``<stem>.parquet``; return both paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_path = stem.with_suffix(".csv")
    csv_path.write_text(table.to_csv(), encoding="utf-8")
    arrow_types = {"int": pa.int64(), "str": pa.string(), "float": pa.float64()}
    data: dict[str, Sequence[Any]] = {}
    for i, (name, ty) in enumerate(zip(table.columns, table.types, strict=True)):
        col = [r[i] for r in table.rows]
        if ty == "float":
            col = [None if (v is None or math.isnan(v)) else v for v in col]
        data[name] = col
    schema = pa.schema([(n, arrow_types[t]) for n, t in zip(table.columns, table.types,
                                                              strict=True)])
    pq_path = stem.with_suffix(".parquet")
    pq.write_table(pa.Table.from_pydict(data, schema=schema), pq_path)
    return [csv_path, pq_path]
