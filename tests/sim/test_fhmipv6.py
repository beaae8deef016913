"""``protocol = "fhmipv6"`` in the simulator: RFC 4140 Figure 1 with fast handovers anchored at
the MAP (RFC 4140 Appendix A; FH-02, FH-03, FH-04), against plain HMIPv6 on the same seed."""

from __future__ import annotations

import subprocess
from functools import cache
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

from hmipv6.sim.network import SimulationResult, run
from hmipv6.sim.report import dumps
from hmipv6.wire.pcap import read_pcap
from tests.conftest import need_tool
from tests.sim.sim_support import kind, packets, variant

MAP1 = IPv6Address("2001:db8:100::1")
NAR_PREFIX = IPv6Network("2001:db8:a2::/64")


@cache
def simulate(protocol: str) -> SimulationResult:
    return run("figure1", protocol=protocol, capture=True, keep_events=True)


def move(result: SimulationResult) -> dict:  # type: ignore[type-arg]
    return next(h for h in result.report["handovers"] if h["kind"] != "initial")


@pytest.mark.req("FH-02", "FH-03", "FH-04")
def test_figure1_fast_handover_loses_fewer_packets_than_hmipv6() -> None:
    fast, hmip = move(simulate("fhmipv6")), move(simulate("hmipv6"))
    assert fast["kind"] == "fast-predictive"
    assert hmip["kind"] == "intra-domain"
    assert fast["lost"] < hmip["lost"]
    assert fast["lost"] == 0  # buffered at the NAR, bicast by the MAP
    assert fast["latency"] < hmip["latency"]
    t = fast["timeline"]
    assert t["fbu_sent"] < t["fback_received"] < t["l2_down"] < t["l2_up"] <= t["una_sent"]
    assert t["una_sent"] <= t["bu_sent"] < t["ba_received"]
    flow = simulate("fhmipv6").report["flows"][0]
    assert flow["lost"] == 0 and flow["received"] == flow["sent"]
    # Other protocols' reports gain no keys.
    assert "fbu_sent" not in move(simulate("hmipv6"))["timeline"]


@pytest.mark.req("FH-02", "FH-03")
def test_figure1_fast_handover_messages_in_order_on_the_pcaps() -> None:
    result = simulate("fhmipv6")
    t_move = move(result)["timeline"]["l2_down"]
    cell1 = [(t, kind(p)) for t, p, _ in packets(result.pcaps["cell-ar1"])]
    wire2 = [(t, p) for t, p, _ in packets(result.pcaps["map1-ar2"])]
    rtsolpr = next(t for t, k in cell1 if k == "RouterSolicitationForProxyAdvertisement")
    prrtadv = next(t for t, k in cell1 if k == "ProxyRouterAdvertisement")
    hi = next(t for t, p in wire2 if kind(p) == "HandoverInitiate")
    hack = next(t for t, p in wire2 if kind(p) == "HandoverAcknowledge")
    assert rtsolpr < prrtadv < hi < hack < t_move
    # The MAP tunnels to the NCoA once the NAR acknowledged, before the move (buffered).
    to_ncoa = [t for t, p in wire2 if p.src == MAP1 and p.dst in NAR_PREFIX
               and kind(p) == "UDP"]
    assert to_ncoa and hack < min(to_ncoa) < t_move
    cell2 = [(t, p) for t, p, _ in packets(result.pcaps["cell-ar2"])]
    una = next(t for t, p in cell2 if kind(p) == "NeighborAdvertisement" and p.src in NAR_PREFIX)
    first_data = next(t for t, p in cell2 if kind(p) == "UDP")
    assert una < first_data


@pytest.mark.req("FH-03")
def test_reactive_mode_when_the_trigger_comes_too_late() -> None:
    sc = variant("figure1", ('l2_handover = "50ms"',
                             'l2_handover = "50ms"\nfh_anticipation = "5ms"'))
    result = run(sc, protocol="fhmipv6")
    h = move(result)
    assert h["kind"] == "fast-reactive"
    assert h["timeline"]["fback_received"] is None or \
        h["timeline"]["fback_received"] > h["timeline"]["l2_up"]


def test_fhmipv6_report_is_deterministic() -> None:
    a = run("figure1", protocol="fhmipv6")
    b = run("figure1", protocol="fhmipv6")
    assert dumps(a.report) == dumps(b.report)
    assert a.report["protocol"] == "fhmipv6"


@pytest.mark.oracle
def test_fhmipv6_pcaps_are_dissected_by_tshark(tmp_path: Path) -> None:
    tshark = need_tool("tshark")
    result = simulate("fhmipv6")
    for link, data in result.pcaps.items():
        ours = len(read_pcap(data).records)
        f = tmp_path / f"{link}.pcap"
        f.write_bytes(data)
        out = subprocess.run(
            [tshark, "-r", str(f), "-T", "fields", "-e", "frame.number", "-e", "_ws.malformed",
             "-e", "_ws.expert.severity"], capture_output=True, text=True, check=True).stdout
        rows = [r.split("\t") for r in out.splitlines()]
        assert len(rows) == ours, (link, len(rows), ours)
        bad = [r for r in rows if r[1] or any(s and int(s) >= 0x800000 for s in r[2].split(","))]
        assert not bad, f"fhmipv6 {link}: flagged frames {bad[:5]}"
