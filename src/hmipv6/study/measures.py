"""The metrics of one run, read from its report (format ``hmipv6-report/1``).

Theory of operation
-------------------
:func:`extract` turns a report dict into metric rows ``(item, kind, metric, value)``: one per
handover and metric, one per flow and metric, and the run's signalling counts. ``item``
names what was measured (``mn#1``: the mobile node's second handover, its first attachment
being ``mn#0``; ``cn->mn cbr#0``: flow 0; ``all``: the whole run), ``kind`` the handover kind
or flow kind. A first attachment's metrics are ``initial.*`` (its latency waits for the first
flow to start), every later handover's ``handover.*``. Times are in seconds, as in the report.
A value the report leaves out (``null``: e.g. no data packet after a handover) is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["METRICS", "Row", "extract"]

METRICS: dict[str, str] = {
    # metric: unit
    "handover.latency": "s",
    "handover.registration": "s",
    "handover.lost": "packets",
    "initial.latency": "s",
    "initial.registration": "s",
    "flow.sent": "packets",
    "flow.received": "packets",
    "flow.lost": "packets",
    "flow.loss_ratio": "ratio",
    "flow.max_gap": "s",
    "flow.delay_mean": "s",
    "signalling.to_home_agent": "messages",
    "signalling.to_maps": "messages",
    "signalling.to_correspondents": "messages",
    "signalling.bytes_on_wireless": "bytes",
}
"""Every metric a run can give, with its unit."""

Row = tuple[str, str, str, float]
"""``(item, kind, metric, value)``."""


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def extract(report: Mapping[str, Any]) -> list[Row]:
    """The metric rows of one report, in report order (handovers, flows, signalling)."""
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for h in report.get("handovers", []):
        mn = str(h.get("mn"))
        n = seen.get(mn, 0)
        seen[mn] = n + 1
        kind = str(h.get("kind"))
        scope = "initial" if kind == "initial" else "handover"
        fields = ("latency", "registration") if scope == "initial" else (
            "latency", "registration", "lost")
        for f in fields:
            rows.append((f"{mn}#{n}", kind, f"{scope}.{f}", _num(h.get(f))))
    for i, fl in enumerate(report.get("flows", [])):
        item = f"{fl.get('from')}->{fl.get('to')} {fl.get('kind')}#{i}"
        kind = str(fl.get("kind"))
        sent = _num(fl.get("sent"))
        lost = _num(fl.get("lost"))
        for f in ("sent", "received", "lost"):
            rows.append((item, kind, f"flow.{f}", _num(fl.get(f))))
        rows.append((item, kind, "flow.loss_ratio", lost / sent if sent > 0 else math.nan))
        for f in ("max_gap", "delay_mean"):
            rows.append((item, kind, f"flow.{f}", _num(fl.get(f))))
    sig = report.get("signalling") or {}
    for f in ("to_home_agent", "to_maps", "to_correspondents", "bytes_on_wireless"):
        rows.append(("all", "", f"signalling.{f}", _num(sig.get(f))))
    return rows
