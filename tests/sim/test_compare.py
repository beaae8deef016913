"""Handovers of several protocols paired by the move, not by position (hmipv6.sim.compare),
in the table of ``hmipv6 simulate`` and in ``handovers.png`` / ``timeline.png``."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hmipv6.cli_simulate import print_comparison
from hmipv6.sim import plots
from hmipv6.sim.compare import pair_handovers


def move(src: str | None, dst: str, at: float, kind: str, latency: float, lost: int
         ) -> dict[str, Any]:
    tl = {"l2_down": at if src else None, "l2_up": at + 0.05 if src else at,
          "ra_received": at + 0.07, "coa_ready": at + 0.07, "bu_sent": at + 0.07,
          "ba_received": at + 0.08, "home_ba_received": None, "first_data": at + latency}
    return {"mn": "mn", "from": src, "to": dst, "kind": kind, "timeline": tl,
            "latency": latency, "registration": 0.01, "lost": lost}


def map_change(ar: str, at: float, latency: float, lost: int) -> dict[str, Any]:
    tl = {"l2_down": None, "l2_up": None, "ra_received": at, "coa_ready": None,
          "bu_sent": at, "ba_received": at + 0.008, "home_ba_received": at + 0.046,
          "first_data": at + latency, "map_failed": at, "map_change": at}
    return {"mn": "mn", "from": ar, "to": ar, "kind": "inter-domain", "timeline": tl,
            "latency": latency, "registration": 0.0465, "lost": lost}


def reports() -> dict[str, dict[str, Any]]:
    """map-failure's shape: HMIPv6 fails over to another MAP at 30 s (Mobile IPv6 has no
    MAP), then both move ar1 -> ar2 at 50 s."""
    base = {"scenario": "s", "duration": 60.0, "seed": 1, "profile": "rfc4140",
            "flows": [], "signalling": {"by_type": {}}}
    return {
        "mipv6": {**base, "protocol": "mipv6", "handovers": [
            move(None, "ar1", 0.0, "initial", 1.04, 0),
            move("ar1", "ar2", 50.0, "mipv6", 0.0993, 9)]},
        "hmipv6": {**base, "protocol": "hmipv6", "handovers": [
            move(None, "ar1", 0.0, "initial", 1.04, 0),
            map_change("ar1", 30.027, 0.052, 5),
            move("ar1", "ar2", 50.0, "intra-domain", 0.0693, 6)]},
    }


def test_pairs_by_move_and_keeps_unpaired_events_alone() -> None:
    rows = pair_handovers(reports())
    assert [(r.at, sorted(r.by_protocol)) for r in rows] == [
        (0.0, ["hmipv6", "mipv6"]), (30.027, ["hmipv6"]), (50.0, ["hmipv6", "mipv6"])]
    last = rows[2].by_protocol
    assert last["mipv6"]["kind"] == "mipv6" and last["hmipv6"]["kind"] == "intra-domain"


def test_table_pairs_the_move_and_shows_the_failover_on_its_own_row() -> None:
    out = StringIO()
    print_comparison(reports(), [], console=Console(file=out, width=140, no_color=True))
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith("│")]
    cells = [[c.strip() for c in ln.strip("│").split("│")] for ln in lines]
    # The failover: only HMIPv6 has it, on its own row.
    i = next(j for j, c in enumerate(cells) if c[1] == "MAP change at ar1")
    assert cells[i][2:5] == ["30.027", "hmipv6", "inter-domain"]
    assert cells[i + 1][1] != "" or cells[i + 1][3] != "mipv6"  # no mipv6 row under it
    # The move at 50 s: Mobile IPv6's move beside HMIPv6's same move.
    j = next(j for j, c in enumerate(cells) if c[1] == "ar1 → ar2")
    assert cells[j][2:8] == ["50.000", "mipv6", "mipv6", "99.3", "10.0", "9"]
    assert cells[j + 1][3:8] == ["hmipv6", "intra-domain", "69.3", "10.0", "6"]


def test_handovers_png_pairs_by_move(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[tuple[list[str], dict[str, list[float | None]]]] = []
    real = plots._bars

    def spy(ax: Any, groups: Any, values: Any, *args: Any) -> None:
        drawn.append((list(groups), {p: list(v) for p, v in values.items()}))
        real(ax, groups, values, *args)

    monkeypatch.setattr(plots, "_bars", spy)
    plots.plot_handovers(reports(), tmp_path / "h.png")
    groups, latency = drawn[0]
    assert len(groups) == 2 and "MAP change at ar1" in groups[0] and "ar1→ar2" in groups[1]
    assert latency["mipv6"][0] is None and latency["hmipv6"][0] == pytest.approx(52.0)
    assert latency["mipv6"][1] == pytest.approx(99.3)
    assert latency["hmipv6"][1] == pytest.approx(69.3)
    groups, lost = drawn[1]
    assert lost == {"mipv6": [None, 9.0], "hmipv6": [5.0, 6.0]}


def test_timeline_rows_pair_by_move() -> None:
    items = [(p, h) for p, r in reports().items() for h in r["handovers"]]
    rows = plots._timeline_rows(items, 2)
    assert [(p, h["kind"]) for p, h in rows] == [
        ("mipv6", "initial"), ("hmipv6", "initial"), ("hmipv6", "inter-domain"),
        ("mipv6", "mipv6"), ("hmipv6", "intra-domain")]


def test_testbed_moves_pair_although_their_wall_clock_times_differ() -> None:
    """On the testbed (``testbed run --compare``) each protocol's run sees the moves at its
    own wall-clock times, a few milliseconds apart: the n-th move between the same two routers
    pairs with the n-th, there and back again, and the row's time is the first report's."""
    def walk(jitter: float, kind: str) -> list[dict[str, Any]]:
        return [move(None, "ar1", 0.01 + jitter, "initial", 1.04, 0),
                move("ar1", "ar2", 3.0 + jitter, kind, 0.09, 9),
                move("ar2", "ar1", 6.0 + 2 * jitter, kind, 0.08, 8),
                move("ar1", "ar2", 9.0 + 3 * jitter, kind, 0.07, 7)]

    base = {"scenario": "s", "duration": 12.0, "seed": 1, "profile": "rfc4140",
            "world": "testbed", "flows": [], "signalling": {"by_type": {}}}
    reps = {"mipv6": {**base, "protocol": "mipv6", "handovers": walk(0.0, "mipv6")},
            # Listed out of time order: the pairing goes by time within each report.
            "hmipv6": {**base, "protocol": "hmipv6",
                       "handovers": walk(0.0173, "intra-domain")[::-1]}}
    rows = pair_handovers(reps)
    assert [(r.at, sorted(r.by_protocol)) for r in rows] == [
        (0.01, ["hmipv6", "mipv6"]), (3.0, ["hmipv6", "mipv6"]), (6.0, ["hmipv6", "mipv6"]),
        (9.0, ["hmipv6", "mipv6"])]
    for row in rows[1:]:
        mip, hmip = row.by_protocol["mipv6"], row.by_protocol["hmipv6"]
        assert (mip["from"], mip["to"], mip["lost"]) == (hmip["from"], hmip["to"], hmip["lost"])
        assert hmip["kind"] == "intra-domain" and mip["kind"] == "mipv6"


def test_testbed_table_shows_each_protocols_own_time_of_the_move() -> None:
    """The table's "at s" column: the first protocol's time on the row's first line, and on
    each other protocol's line that protocol's own time where it differs (testbed runs see a
    move at their own wall-clock times), blank where it is the same (the simulator)."""
    base = {"scenario": "s", "duration": 12.0, "seed": 1, "profile": "rfc4140",
            "world": "testbed", "flows": [], "signalling": {"by_type": {}}}
    reps = {"mipv6": {**base, "protocol": "mipv6",
                      "handovers": [move("ar1", "ar2", 3.0, "mipv6", 0.09, 9)]},
            "hmipv6": {**base, "protocol": "hmipv6",
                       "handovers": [move("ar1", "ar2", 3.0173, "intra-domain", 0.07, 7)]}}
    out = StringIO()
    print_comparison(reps, [], console=Console(file=out, width=140, no_color=True))
    cells = [[c.strip() for c in ln.strip("│").split("│")]
             for ln in out.getvalue().splitlines() if ln.startswith("│")]
    j = next(j for j, c in enumerate(cells) if c[1] == "ar1 → ar2")
    assert cells[j][2:4] == ["3.000", "mipv6"]
    assert cells[j + 1][2:4] == ["3.017", "hmipv6"]
    # Same times (the simulator): the second line leaves the column blank.
    out = StringIO()
    print_comparison(reports(), [], console=Console(file=out, width=140, no_color=True))
    cells = [[c.strip() for c in ln.strip("│").split("│")]
             for ln in out.getvalue().splitlines() if ln.startswith("│")]
    j = next(j for j, c in enumerate(cells) if c[1] == "ar1 → ar2")
    assert cells[j][2] == "50.000" and cells[j + 1][2:4] == ["", "hmipv6"]
