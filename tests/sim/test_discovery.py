"""Dynamic MAP discovery end to end (RFC 4140 §7.1, FLOWS §6): the built-in
``dynamic-discovery`` scenario, a chain of three routers (r1, a plain relaying router;
map-edge, a MAP that relays; ar1, the mobile node's access router) below map-top, asserted
from the RAs captured on every link and from what the mobile nodes do."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from hmipv6.core.access_router import AccessRouter
from hmipv6.core.events import BindingAcknowledged, MapSelected
from hmipv6.sim.network import SimulationResult, run
from hmipv6.sim.scenario import ScenarioError
from hmipv6.wire.icmpv6 import MapOption, RouterAdvertisement
from tests.sim.sim_support import packets, variant

A = IPv6Address
TOP, EDGE = A("2001:db8:100::1"), A("2001:db8:110::1")


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return run("dynamic-discovery", capture=True, keep_events=True)


def ras(r: SimulationResult, link: str) -> list[list[MapOption]]:
    """The MAP options of every RA on ``link`` once the options have come down (t >= 1 s),
    in the order each RA carries them."""
    out = []
    for t, p, _ in packets(r.pcaps[link]):
        if t >= 1.0 and isinstance(p.payload, RouterAdvertisement):
            out.append([o for o in p.payload.options if isinstance(o, MapOption)])
    assert out, link
    return out


def dists(options: list[MapOption]) -> dict[IPv6Address, int]:
    return {o.address: o.dist for o in options}


@pytest.mark.req("AR-02", "AR-05")
def test_dist_grows_by_one_per_hop(result: SimulationResult) -> None:
    """map-top (Dist 1) → r1 (2) → map-edge (3) → ar1 (4): every RA on every hop says so."""
    assert all(dists(o) == {TOP: 1} for o in ras(result, "map-top-r1"))
    assert all(dists(o) == {TOP: 2} for o in ras(result, "r1-map-edge"))
    assert all(dists(o) == {TOP: 2} for o in ras(result, "r1-ar2"))
    assert all(dists(o) == {EDGE: 2, TOP: 4} for o in ras(result, "cell-ar1"))
    # AR-05: never a Dist 0 anywhere.
    for link in ("map-top-r1", "r1-map-edge", "map-edge-ar1", "map-edge-ar2", "cell-ar1",
                 "cell-ar2"):
        assert all(o.dist >= 1 for opts in ras(result, link) for o in opts), link


@pytest.mark.req("AR-03", "AR-02")
def test_the_map_router_sends_its_own_option_with_the_relayed_one(result: SimulationResult
                                                                   ) -> None:
    for link in ("map-edge-ar1", "map-edge-ar2"):
        for opts in ras(result, link):
            # Its own option first (Dist 1), the relayed one (Dist 2 + 1) in the same RA.
            assert [(o.address, o.dist) for o in opts] == [(EDGE, 1), (TOP, 3)], link


@pytest.mark.req("AR-04")
def test_the_same_map_heard_twice_keeps_the_smallest_dist(result: SimulationResult) -> None:
    """ar2 hears map-top from r1 (Dist 2) and from map-edge (Dist 3): it relays the nearer."""
    assert all(dists(o) == {EDGE: 2, TOP: 3} for o in ras(result, "cell-ar2"))
    assert result.network is not None
    ar2 = result.network.nodes["ar2"]
    assert isinstance(ar2, AccessRouter)
    heard = {(rec.option.address, rec.ifname): rec.option.dist
             for rec in ar2.relay._records.values()}
    assert sorted(d for (a, _), d in heard.items() if a == TOP) == [2, 3]


@pytest.mark.req("MN-03", "AR-02")
def test_the_mn_picks_the_furthest_usable_map_and_registers(result: SimulationResult) -> None:
    net = result.network
    assert net is not None and net.event_log is not None
    first = {}
    for n, e in net.event_log:
        if isinstance(e, MapSelected):
            first.setdefault(n, e)
    # RFC 4140 §9.1: the furthest (largest Dist) usable MAP; "nearest" picks the other.
    assert (first["mn-far"].map, first["mn-far"].dist) == (TOP, 4)
    assert (first["mn-near"].map, first["mn-near"].dist) == (EDGE, 2)
    bas = [e for n, e in net.event_log if n == "mn-far" and isinstance(e, BindingAcknowledged)
           and e.kind == "local" and e.status == 0]
    assert bas and bas[0].by == TOP
    assert result.report["nodes"]["ha"]["binding_cache"]
    rcoas = {b["coa"] for b in result.report["nodes"]["ha"]["binding_cache"]}
    assert str(first["mn-far"].rcoa) in rcoas
    assert all(h["kind"] in ("initial", "intra-domain") for h in result.report["handovers"])


@pytest.mark.req("X5380-06")
def test_rfc5380_profile_refuses_relaying() -> None:
    with pytest.raises(ScenarioError, match="relay_maps"):
        variant("dynamic-discovery", ('profile = "rfc4140"', 'profile = "rfc5380"'))
