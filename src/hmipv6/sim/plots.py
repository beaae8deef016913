"""PNG plots of simulation reports (format ``hmipv6-report/1``), built from report dicts only.

Theory of operation
-------------------
Every function here takes report dicts as ``json.load`` returns them (one per protocol,
keyed by protocol name, in the order they should be drawn) and never looks at a running
simulation, so a report written yesterday plots the same as one made a second ago, and tests
can plot hand-built dicts.

Three figures:

- :func:`plot_timeline`: one panel per mobile node, one row per handover (per protocol when
  comparing), each event of the handover's ``timeline`` a marker on a time axis in
  milliseconds since that handover's ``l2_down`` (or its first event, for an initial
  attachment), so an 80 ms handover at 8 s is as legible as one at 0 s. The row label gives
  the handover's absolute time.
- :func:`plot_handovers`: latency and packets lost per handover, one bar per protocol side by
  side (initial attachments left out when there are moves: their latency waits for the first
  flow to start). With more handovers than fit (:data:`MAX_HANDOVER_BARS`) the bars aggregate by
  handover kind instead: the mean, with the count of handovers under each bar.
- :func:`plot_signalling`: signalling messages by destination (home agent, correspondents,
  MAPs) per protocol.

Many mobile nodes are plotted as a bounded sample: the first :data:`MAX_TIMELINE_NODES`
mobile nodes (by name) that have handovers, at most :data:`MAX_TIMELINE_ROWS` handovers
each; the title says how many were left out.

Output is deterministic: matplotlib's object API (no pyplot, no global figure state) with the
Agg canvas, fixed figure sizes and dpi, the style reset to matplotlib's defaults inside an
``rc_context``, and ``metadata={"Software": None}`` so the PNG embeds no version string. The
same reports give byte-identical PNGs with the same matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hmipv6.sim.compare import handover_time, is_map_change, pair_handovers

__all__ = [
    "EVENTS",
    "MAX_HANDOVER_BARS",
    "MAX_TIMELINE_NODES",
    "MAX_TIMELINE_ROWS",
    "plot_handovers",
    "plot_signalling",
    "plot_timeline",
    "write_plots",
]

Report = Mapping[str, Any]
"""A report dict (SCENARIO.md, format ``hmipv6-report/1``)."""

EVENTS: tuple[tuple[str, str, str], ...] = (
    # key, marker, colour
    ("l2_down", "v", "#d62728"),
    ("l2_up", "^", "#2ca02c"),
    ("ra_received", "o", "#1f77b4"),
    ("coa_ready", "s", "#17becf"),
    ("bu_sent", ">", "#ff7f0e"),
    ("ba_received", "<", "#9467bd"),
    ("home_ba_received", "D", "#8c564b"),
    ("first_data", "*", "#000000"),
    ("fbu_sent", "P", "#e377c2"),
    ("fback_received", "X", "#bcbd22"),
    ("una_sent", "h", "#7f7f7f"),
)
"""The timeline events drawn, in order, with their marker and colour (the last three only in
``fhmipv6`` reports: the fast handover's FBU, FBack and UNA)."""

FAST_EVENTS = ("fbu_sent", "fback_received", "una_sent")

_MARKER_SIZE = 42
"""Scatter marker area (points squared)."""
_CLUSTER = 0.015
"""Events closer than this fraction of the axis span share a spot: they are stacked
vertically inside their row so that no marker hides another."""
_STACK_STEP = 0.2
"""Vertical distance (in rows) between stacked markers."""

MAX_TIMELINE_NODES = 4
MAX_TIMELINE_ROWS = 12
MAX_HANDOVER_BARS = 16

_DPI = 100
_PROTOCOL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
_RC = {"font.size": 9.0, "axes.titlesize": 10.0, "legend.fontsize": 8.0,
       "svg.hashsalt": "hmipv6"}


def write_plots(reports: Mapping[str, Report], out_dir: str | Path) -> list[Path]:
    """Write ``timeline.png``, ``handovers.png`` and ``signalling.png`` into ``out_dir``;
    return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "timeline.png", out / "handovers.png", out / "signalling.png"]
    plot_timeline(reports, paths[0])
    plot_handovers(reports, paths[1])
    plot_signalling(reports, paths[2])
    return paths


# --------------------------------------------------------------------------------------------
# Helpers


def _num(value: object) -> float | None:
    """A finite float from a report value, or ``None`` (null, missing, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _handovers(report: Report) -> list[Mapping[str, Any]]:
    hs = report.get("handovers", [])
    return [h for h in hs if isinstance(h, Mapping)] if isinstance(hs, list) else []


def _save(fig: Figure, path: str | Path) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _label(h: Mapping[str, Any]) -> str:
    if is_map_change(h):
        return f"MAP change at {h.get('to')}"
    src = h.get("from")
    dst = h.get("to") or "-"
    return f"{src}→{dst}" if src else f"attach {dst}"


def _style() -> Any:
    """A context resetting the style to matplotlib's defaults plus ours (no user rc files)."""
    mpl: Any = matplotlib  # its stubs type rc keys as Literals; ours are plain strings
    rc: dict[str, Any] = dict(mpl.rcParamsDefault)
    rc.update(_RC)
    rc["backend"] = "agg"
    return mpl.rc_context(rc=rc)


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------------------------
# Timeline


def plot_timeline(reports: Mapping[str, Report], path: str | Path) -> None:
    """Handover timelines: a panel per mobile node (bounded sample), a row per handover."""
    with _style():
        _save(_timeline_figure(reports), path)


def _timeline_figure(reports: Mapping[str, Report]) -> Figure:
    """The figure of :func:`plot_timeline` (drawn inside :func:`_style`)."""
    protocols = list(reports)
    per_mn: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for proto in protocols:
        for h in _handovers(reports[proto]):
            per_mn.setdefault(str(h.get("mn", "?")), []).append((proto, h))
    names = sorted(per_mn)
    shown = names[:MAX_TIMELINE_NODES]
    rows = {mn: _timeline_rows(per_mn[mn], len(protocols)) for mn in shown}
    heights = [max(1, len(rows[mn])) for mn in shown] or [1]
    total = sum(heights)
    fast = any(isinstance(h.get("timeline"), Mapping) and any(
        h["timeline"].get(k) is not None for k in FAST_EVENTS)
        for items in per_mn.values() for _, h in items)
    events = tuple(e for e in EVENTS if fast or e[0] not in FAST_EVENTS)
    fig = _figure(10.0, min(2.0 + 0.5 * total + 0.5 * len(heights), 14.0))
    axes = fig.subplots(len(heights), 1, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    title = "Handover timelines (ms from link-layer down; initial attachments from their " \
            "first event)"
    if len(names) > len(shown):
        title += f"\nfirst {len(shown)} of {len(names)} mobile nodes"
    fig.suptitle(title)
    if not shown:
        _empty(axes[0], "no handovers in the report")
    for ax, mn in zip(axes, shown, strict=False):
        _timeline_panel(ax, mn, rows[mn], len(per_mn[mn]), len(protocols) > 1, events)
    handles = axes[0].get_legend_handles_labels()[0]
    if shown and handles:
        fig.legend(handles, [k for k, _, _ in events], loc="outside lower center",
                   ncols=min(len(events), 6), frameon=False)
    return fig


def _timeline_rows(items: list[tuple[str, Mapping[str, Any]]], n_protocols: int
                   ) -> list[tuple[str, Mapping[str, Any]]]:
    """At most MAX_TIMELINE_ROWS rows, the protocols' handovers of one move together (paired
    by the move, :mod:`hmipv6.sim.compare`)."""
    del n_protocols
    reports: dict[str, dict[str, Any]] = {}
    for proto, h in items:
        reports.setdefault(proto, {"handovers": []})["handovers"].append(h)
    out = [(proto, h) for row in pair_handovers(reports)
           for proto, h in row.by_protocol.items()]
    return out[:MAX_TIMELINE_ROWS]


def _stacked(xs: Mapping[str, float], limit: float) -> dict[str, float]:
    """A vertical offset (in rows) for each event so that events at (nearly) the same time
    are drawn one above the other, centred on the row, instead of on top of each other."""
    out: dict[str, float] = {}
    order = sorted(xs, key=lambda k: xs[k])
    group: list[str] = []

    def flush() -> None:
        for i, k in enumerate(group):
            out[k] = (i - (len(group) - 1) / 2) * _STACK_STEP
        group.clear()

    for k in order:
        if group and xs[k] - xs[group[0]] > _CLUSTER * limit:
            flush()
        group.append(k)
    flush()
    return out


def _timeline_panel(ax: Any, mn: str, rows: list[tuple[str, Mapping[str, Any]]], total: int,
                    comparing: bool,
                    events: tuple[tuple[str, str, str], ...] = EVENTS) -> None:
    offsets: list[tuple[float, dict[str, float | None]]] = []  # (reference time, ms offsets)
    for _, h in rows:
        raw = h.get("timeline")
        tl: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        times = {k: _num(tl.get(k)) for k, _, _ in events}
        known = [t for t in times.values() if t is not None]
        ref = times["l2_down"] if times["l2_down"] is not None else (min(known) if known else 0.0)
        offsets.append((ref, {k: None if t is None else (t - ref) * 1000.0
                              for k, t in times.items()}))
    # The axis spans the handovers proper: an initial attachment's first data packet may come
    # seconds later (when its flow starts); such far events sit at the edge, labelled.
    moves = [v for (_, h), (_, o) in zip(rows, offsets, strict=True)
             if h.get("kind") != "initial" for v in o.values() if v is not None]
    every = [v for _, o in offsets for v in o.values() if v is not None]
    span = max(moves or every or [1.0])
    limit = max(span * 1.15, 1.0)
    labels = []
    for y, ((proto, h), (ref, off)) in enumerate(zip(rows, offsets, strict=True)):
        xs = [min(v, limit) for v in off.values() if v is not None]
        if xs:
            ax.plot([min(xs), max(xs)], [y, y], color="#bbbbbb", linewidth=1.5, zorder=1)
        dy = _stacked({k: min(v, limit) for k, v in off.items() if v is not None}, limit)
        for key, marker, colour in events:
            v = off[key]
            if v is not None:
                ax.scatter([min(v, limit)], [y + dy[key]], marker=marker, color=colour,
                           s=_MARKER_SIZE, zorder=2, label=key if y == 0 else None)
                if v > limit:
                    ax.annotate(f"{key} at {v:.0f} ms", (limit, y + dy[key]), xytext=(-9, 0),
                                textcoords="offset points", ha="right", va="center",
                                fontsize=7, color=colour)
            elif y == 0:  # keep one legend entry per event even when absent in row 0
                ax.scatter([], [], marker=marker, color=colour, s=_MARKER_SIZE, label=key)
        kind = h.get("kind", "?")
        prefix = f"{proto}: " if comparing else ""
        labels.append(f"{prefix}{_label(h)} {kind} @ {ref:.3f} s")
    # A predictive fast handover's FBU and FBack come before l2_down: negative offsets.
    low = min([0.0, *(v for v in moves or every)])
    ax.set_xlim(low - 0.03 * (limit - low), limit * 1.03)
    ax.set_yticks(range(len(rows)), labels)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("ms since l2_down")
    more = f" (first {len(rows)} of {total} rows)" if total > len(rows) else ""
    ax.set_title(f"mobile node {mn}{more}", loc="left")
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)


# --------------------------------------------------------------------------------------------
# Latency and loss per handover


def plot_handovers(reports: Mapping[str, Report], path: str | Path) -> None:
    """Latency (ms) and packets lost per handover, one bar per protocol; aggregated by kind
    (mean) when there are more than :data:`MAX_HANDOVER_BARS` handovers."""
    protocols = list(reports)
    # One group per move (or MAP change), paired across protocols by the move itself
    # (hmipv6.sim.compare), never by position: an event only one protocol has (a MAP
    # failover) is a group of its own.
    rows = pair_handovers(reports)
    keys: list[tuple[str, int]] = [(r.mn, i) for i, r in enumerate(rows)]
    table: dict[str, dict[tuple[str, int], Mapping[str, Any]]] = {
        p: {k: r.by_protocol[p] for k, r in zip(keys, rows, strict=True) if p in r.by_protocol}
        for p in protocols}
    # Initial attachments are left out when there are real moves: their "latency" runs to the
    # first data packet, which waits for the flow to start, and would dwarf every move.
    moves = [k for k in keys
             if any(table[p].get(k, {}).get("kind") != "initial" for p in protocols
                    if k in table[p])]
    note = ""
    if moves and len(moves) < len(keys):
        note = f"; {len(keys) - len(moves)} initial attachment(s) not shown"
        keys = moves
        table = {p: {k: h for k, h in t.items() if k in set(moves)} for p, t in table.items()}
    with _style():
        fig = _handovers_figure(protocols, keys, table, note)
        _save(fig, path)


def _handovers_figure(protocols: Sequence[str], keys: list[tuple[str, int]],
                      table: dict[str, dict[tuple[str, int], Mapping[str, Any]]],
                      note: str) -> Figure:
    """The figure of :func:`plot_handovers` (drawn inside :func:`_style`). The figure widens
    with the number of bars so that the group labels below the axis do not overlap."""
    aggregate = len(keys) > MAX_HANDOVER_BARS
    n_groups = len({str(h.get("kind", "?")) for t in table.values() for h in t.values()}) \
        if aggregate else len(keys)
    width = min(max(10.0, 0.5 * n_groups * max(2, len(protocols))), 24.0)
    fig = _figure(width, 6.0)
    ax_lat, ax_lost = fig.subplots(2, 1)
    if aggregate:
        groups, lat, lost, counts = _by_kind(protocols, table)
        present = None
        fig.suptitle(f"Handovers by kind, mean of {len(keys)} handovers "
                     f"(n = handovers with a value){note}")
    else:
        groups = [_bar_label(k, table, protocols) for k in keys]
        lat = {p: [_ms(table[p].get(k, {}).get("latency")) for k in keys] for p in protocols}
        lost = {p: [_num(table[p].get(k, {}).get("lost")) for k in keys] for p in protocols}
        counts = None
        present = {p: [k in table[p] for k in keys] for p in protocols}
        fig.suptitle(f"Latency and packets lost per handover{note}")
    _bars(ax_lat, groups, lat, counts, "latency (ms)", "{:.1f}", present)
    _bars(ax_lost, groups, lost, counts, "packets lost", "{:g}", present)
    return fig


def _ms(value: object) -> float | None:
    v = _num(value)
    return None if v is None else v * 1000.0


_SHORT_KINDS = {"intra-domain": "intra", "inter-domain": "inter", "fast-predictive": "fast-pred",
                "fast-reactive": "fast-react"}
"""Handover kinds as group labels write them (short enough not to run into the next)."""


def _bar_label(key: tuple[str, int], table: Mapping[str, Mapping[tuple[str, int],
               Mapping[str, Any]]], protocols: Sequence[str]) -> str:
    """``mn``, the move and its time, and the kinds of the protocols that have it."""
    for p in protocols:
        h = table[p].get(key)
        if h is not None:
            kinds = sorted({_SHORT_KINDS.get(k, k) for q in protocols if key in table[q]
                            for k in (str(table[q][key].get("kind", "?")),)})
            at = handover_time(h)
            when = "" if at is None else f" @ {at:.3f} s"
            return f"{key[0]}{when}\n{_label(h)}\n{'/'.join(kinds)}"
    return key[0]


def _by_kind(protocols: Sequence[str], table: Mapping[str, Mapping[tuple[str, int],
             Mapping[str, Any]]]) -> tuple[list[str], dict[str, list[float | None]],
                                           dict[str, list[float | None]],
                                           dict[str, list[int]]]:
    kinds = sorted({str(h.get("kind", "?")) for p in protocols for h in table[p].values()})
    lat: dict[str, list[float | None]] = {}
    lost: dict[str, list[float | None]] = {}
    counts: dict[str, list[int]] = {}
    for p in protocols:
        lat[p], lost[p], counts[p] = [], [], []
        for kind in kinds:
            hs = [h for h in table[p].values() if str(h.get("kind", "?")) == kind]
            ls = [v for v in (_ms(h.get("latency")) for h in hs) if v is not None]
            ps = [v for v in (_num(h.get("lost")) for h in hs) if v is not None]
            lat[p].append(sum(ls) / len(ls) if ls else None)
            lost[p].append(sum(ps) / len(ps) if ps else None)
            counts[p].append(len(ls))
    return kinds, lat, lost, counts


def _bars(ax: Any, groups: Sequence[str], values: Mapping[str, Sequence[float | None]],
          counts: Mapping[str, Sequence[int]] | None, ylabel: str, fmt: str,
          present: Mapping[str, Sequence[bool]] | None = None) -> None:
    """Grouped bars; ``present[p][j]`` False: protocol ``p`` has no such handover (no bar,
    no label), unlike a handover whose value is null (``n/a``)."""
    if not groups:
        _empty(ax, "no handovers in the report")
        ax.set_ylabel(ylabel)
        return
    protocols = list(values)
    width = 0.8 / max(1, len(protocols))
    for i, p in enumerate(protocols):
        xs = [g + (i - (len(protocols) - 1) / 2) * width for g in range(len(groups))]
        ys = [v if v is not None else 0.0 for v in values[p]]
        bars = ax.bar(xs, ys, width, label=p, color=_PROTOCOL_COLOURS[i % len(_PROTOCOL_COLOURS)])
        texts = []
        for j, v in enumerate(values[p]):
            if present is not None and not present[p][j]:
                texts.append("")
                continue
            t = "n/a" if v is None else fmt.format(v)
            if counts is not None:
                t += f"\nn={counts[p][j]}"
            texts.append(t)
        # Many narrow bars: values written upwards, so neighbouring labels do not overlap.
        dense = len(groups) * len(protocols) > 10
        ax.bar_label(bars, texts, fontsize=7, padding=2, rotation=90 if dense else 0)
    ax.set_xticks(range(len(groups)), groups, fontsize=7)
    pad = max(0.6, (4 - len(groups)) / 2)  # one or two groups: keep bars a sensible width
    ax.set_xlim(-pad, len(groups) - 1 + pad)
    ax.set_ylabel(ylabel)
    if fmt == "{:g}":
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(y=0.25)
    ax.legend(loc="upper left")
    ax.grid(axis="y", color="#eeeeee")
    ax.set_axisbelow(True)


# --------------------------------------------------------------------------------------------
# Signalling


SIGNALLING_DESTINATIONS = (("to_home_agent", "home agent"), ("to_correspondents", "correspondents"),
                           ("to_maps", "MAPs"))


def plot_signalling(reports: Mapping[str, Report], path: str | Path) -> None:
    """Signalling messages (binding updates) by destination, one bar per protocol."""
    values: dict[str, list[float | None]] = {}
    for proto, report in reports.items():
        sig = report.get("signalling")
        sig = sig if isinstance(sig, Mapping) else {}
        values[proto] = [_num(sig.get(k)) for k, _ in SIGNALLING_DESTINATIONS]
    with _style():
        fig = _figure(7.0, 4.0)
        ax = fig.subplots()
        fig.suptitle("Mobility signalling by destination")
        groups = [label for _, label in SIGNALLING_DESTINATIONS]
        if values:
            _bars(ax, groups, values, None, "messages", "{:g}")
        else:
            _empty(ax, "no reports")
        _save(fig, path)
