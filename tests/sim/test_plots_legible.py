"""The plots are legible: no marker hides another, the fast handover's events are drawn, and
neither the group labels nor the value labels overlap (measured on the rendered figures)."""

from __future__ import annotations

import itertools
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg

from hmipv6.sim import plots


def fast_move(mn: str, src: str, dst: str, at: float, kind: str, protocol: str
              ) -> dict[str, Any]:
    tl: dict[str, Any] = {
        "l2_down": at, "l2_up": at + 0.05, "ra_received": at + 0.063, "coa_ready": at + 0.063,
        "bu_sent": at + 0.063, "ba_received": at + 0.069, "home_ba_received": None,
        "first_data": at + 0.073}
    if protocol == "fhmipv6":  # as figure1 under fhmipv6: FBU and FBack before l2_down
        tl |= {"coa_ready": at + 0.05, "bu_sent": at + 0.05, "ba_received": at + 0.056,
               "first_data": at + 0.053, "fbu_sent": at - 0.048, "fback_received": at - 0.038,
               "una_sent": at + 0.05}
    return {"mn": mn, "from": src, "to": dst, "kind": kind, "timeline": tl,
            "latency": tl["first_data"] - at, "registration": 0.0062, "lost": 7}


KINDS = {"mipv6": "mipv6", "hmipv6": "intra-domain", "fhmipv6": "fast-predictive"}


def reports(moves: int) -> dict[str, dict[str, Any]]:
    out = {}
    for p, kind in KINDS.items():
        hs = [fast_move(f"mn{i % 4}", f"ar{i:02d}", f"ar{i + 1:02d}", 8.0 + 2.5 * i, kind, p)
              for i in range(moves)]
        out[p] = {"protocol": p, "handovers": hs, "flows": [], "signalling": {}}
    return out


def rendered(fig: Any) -> Any:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_timeline_draws_fast_events_and_no_marker_hides_another() -> None:
    with plots._style():
        fig = plots._timeline_figure({"fhmipv6": reports(1)["fhmipv6"]})
        rendered(fig)
        ax = fig.axes[0]
        points = []
        for coll in ax.collections:
            for xy in coll.get_offsets():
                points.append((coll.get_label(), ax.transData.transform(xy)))
        labels = {label for label, _ in points}
        assert {"fbu_sent", "fback_received", "una_sent"} <= labels
        xs = {label: ax.transData.inverted().transform(p)[0] for label, p in points}
        assert xs["fbu_sent"] < 0 < xs["l2_up"]  # before the link went down, and on the axis
        left = ax.get_xlim()[0]
        assert left < xs["fbu_sent"] and abs(xs["fbu_sent"] + 48.0) < 1e-6
        # coa_ready, bu_sent, una_sent and l2_up share 8.05 s: stacked, none hidden.
        diameter = (plots._MARKER_SIZE ** 0.5) * fig.dpi / 72
        for (a, pa), (b, pb) in itertools.combinations(points, 2):
            assert ((pa - pb) ** 2).sum() ** 0.5 >= 0.9 * diameter, (a, b)
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert {"fbu_sent", "fback_received", "una_sent"} <= set(legend)


def test_fast_events_stay_out_of_other_protocols_legends() -> None:
    with plots._style():
        fig = plots._timeline_figure({"hmipv6": reports(1)["hmipv6"]})
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert "fbu_sent" not in legend and "first_data" in legend


def test_handover_labels_and_values_do_not_overlap() -> None:
    reps = reports(9)
    rows = plots.pair_handovers(reps)
    keys = [(r.mn, i) for i, r in enumerate(rows)]
    table = {p: {k: r.by_protocol[p] for k, r in zip(keys, rows, strict=True)} for p in reps}
    with plots._style():
        fig = plots._handovers_figure(list(reps), keys, table, "")
        renderer = rendered(fig)
        for ax in fig.axes:
            ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
            assert len(ticks) == 9
            for a, b in itertools.combinations(ticks, 2):
                assert not a.overlaps(b)
            values = [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
            assert len(values) == 27
            for a, b in itertools.combinations(values, 2):
                assert not a.overlaps(b)
