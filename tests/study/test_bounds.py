"""The analytic lower bounds drawn on a study's plots: the figures of
tests/sim/test_analytic.py, held by simulated runs, and carried into the aggregate table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hmipv6.sim.network import run
from hmipv6.sim.scenario import load
from hmipv6.study.analytic import handover_bounds, path_delay, study_bounds
from hmipv6.study.runner import run_study
from hmipv6.study.spec import loads_study
from hmipv6.study.tables import aggregate_table

MS = 1e-3
SHORT = ["scenario.duration=11s", "flows[0].stop=10.5s"]


def test_figure1_bounds_by_hand() -> None:
    sc = load("figure1")
    assert path_delay(sc, "ar2", "ha") == pytest.approx(22 * MS)
    assert path_delay(sc, "ar2", "map1") == pytest.approx(2 * MS)
    mip = handover_bounds(sc, "mipv6")
    hmip = handover_bounds(sc, "hmipv6")
    fast = handover_bounds(sc, "fhmipv6")
    assert mip is not None and hmip is not None and fast is not None
    # RTT MN-HA = 2 (1 + 2 + 10 + 10) ms, RTT MN-MAP = 2 (1 + 2) ms (test_analytic.py).
    assert mip["handover.registration"] == pytest.approx(46 * MS)
    assert hmip["handover.registration"] == pytest.approx(6 * MS)
    assert mip["handover.latency"] == pytest.approx(50 * MS + 46 * MS)
    assert hmip["handover.latency"] == pytest.approx(50 * MS + 6 * MS)
    assert fast["handover.latency"] == pytest.approx(50 * MS + 2 * MS)
    # A 10 ms CBR: floor((50 + 46) / 10) and floor((50 + 6) / 10) packets at least.
    assert (mip["handover.lost"], hmip["handover.lost"], fast["handover.lost"]) == (9, 5, 0)
    standard = handover_bounds(load("figure1", ['defaults.dad="standard"']), "hmipv6")
    assert standard is not None
    assert standard["handover.latency"] == pytest.approx(1.0 + 56 * MS)


@pytest.mark.parametrize("name", ["two-domains", "many-mobiles", "dynamic-discovery"])
def test_no_bound_outside_the_model(name: str) -> None:
    sc = load(name)
    assert all(handover_bounds(sc, p) is None for p in ("mipv6", "hmipv6"))


def test_no_mipv6_bound_with_route_optimisation() -> None:
    assert handover_bounds(load("route-optimisation"), "mipv6") is None


@pytest.mark.parametrize("protocol", ["mipv6", "hmipv6", "fhmipv6"])
@pytest.mark.parametrize("ha_delay", ["0ms", "40ms"])
def test_simulated_handovers_respect_the_bounds(protocol: str, ha_delay: str) -> None:
    for seed in (1, 2):
        sc = load("figure1", [*SHORT, f"links[1].delay={ha_delay}", f"scenario.seed={seed}"])
        b = handover_bounds(sc, protocol)
        assert b is not None
        h = run(sc, protocol=protocol).report["handovers"][1]
        assert h["latency"] >= b["handover.latency"]
        assert h["lost"] >= b["handover.lost"]
        # Registration is the round trip itself, plus serialisation (well under a ms).
        assert h["registration"] == pytest.approx(b["handover.registration"], abs=1 * MS)
        assert h["registration"] >= b["handover.registration"]


def test_the_aggregate_table_carries_the_bound_when_asked(tmp_path: Path) -> None:
    text = f"""
[study]
scenario = "figure1"
protocols = ["mipv6", "hmipv6"]
seeds = 2
set = {SHORT!r}
bound = true
[parameters]
"links[1].delay" = ["0ms", "30ms"]
""".replace("'", '"')
    study = loads_study(text)
    outcome = run_study(study, tmp_path, workers=2)
    agg = aggregate_table(study, outcome, study_bounds(study))
    rows = [dict(zip(agg.columns, r, strict=True)) for r in agg.rows]
    latency = {(r["links[1].delay"], r["protocol"]): r for r in rows
               if r["metric"] == "handover.latency"}
    assert latency[("30ms", "mipv6")]["bound"] == pytest.approx((50 + 2 * (1 + 2 + 10 + 30)) * MS)
    assert latency[("0ms", "hmipv6")]["bound"] == pytest.approx(56 * MS)
    for r in rows:
        if r["metric"] in ("handover.latency", "handover.lost", "handover.registration"):
            assert r["bound"] <= r["mean"]
        else:
            assert math.isnan(r["bound"])
    no_bound = loads_study(text.replace("bound = true", "bound = false"))
    assert study_bounds(no_bound)(0, "mipv6", "handover.latency") is None
