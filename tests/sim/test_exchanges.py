"""Whole exchanges through the simulator: the engines driven by :func:`hmipv6.sim.network.run`,
asserting on the packets captured at links and cells and on the reported state (FLOWS.md)."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest

from hmipv6.core.events import BindingCacheUpdated, BindingUpdateSent, MapSelected
from hmipv6.sim.network import run
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload
from tests.sim.sim_support import addresses, kind, layers, packets, variant

A = IPv6Address
HA, CN, MAP1 = A("2001:db8:f::1"), A("2001:db8:c::1"), A("2001:db8:100::1")


def _first_attachment_scenario(security: str = "none"):  # type: ignore[no-untyped-def]
    # Slow RAs and a late attachment so the mobile node must solicit (FLOWS §1 step 1).
    return variant("figure1", ('ra_interval = ["30ms", "70ms"]', 'ra_interval = ["4s", "5s"]'),
                   ('security = "esp"', f'security = "{security}"'),
                   ('at = "0s"', 'at = "0.2s"'))


@pytest.mark.req("MN-06", "MN-08", "MN-09", "MN-25", "MAP-01", "MAP-03", "HA-01")
def test_first_attachment_follows_flows_section_1() -> None:
    r = run(_first_attachment_scenario(), capture=True)
    cell = [(t, p) for t, p, _ in packets(r.pcaps["cell-ar1"]) if t >= 0.2]
    kinds = [kind(p) for _, p in cell if kind(p) != "UDP"]
    order = ["RouterSolicitation", "RouterAdvertisement", "BindingUpdate",
             "BindingAcknowledgement", "BindingUpdate", "BindingAcknowledgement"]
    it = iter(kinds)
    assert all(k in it for k in order), kinds
    bus = [p for _, p in cell if kind(p) == "BindingUpdate"]
    local, home = bus[0], bus[1]
    # Local BU: LCoA -> MAP, HAO = RCoA, not tunnelled (MN-06).
    assert len(layers(local)) == 1 and local.dst == MAP1
    rcoa = local.home_address
    assert rcoa is not None and rcoa in IPv6Network("2001:db8:100::/64")
    # Home BU: tunnelled LCoA -> MAP, inner RCoA -> HA with HAO = HoA (MN-09).
    outer, inner = layers(home)
    assert (outer.src, outer.dst) == (local.src, MAP1)
    assert (inner.src, inner.dst, inner.home_address) == (rcoa, HA, A("2001:db8:f::100"))
    ha = r.report["nodes"]["ha"]["binding_cache"]
    assert ha[0]["coa"] == str(rcoa)


@pytest.mark.req("SEC-01", "SEC-07")
def test_signalling_is_esp_protected_by_default() -> None:
    r = run(_first_attachment_scenario("esp"), capture=True)
    protected = [p for _, p, _ in packets(r.pcaps["cell-ar1"])
                 if isinstance(layers(p)[-1].payload, EncapsulatingSecurityPayload)]
    assert len(protected) >= 4  # local BU/BA, home BU/BA
    assert r.report["security"] == "esp"
    assert r.report["nodes"]["ha"]["binding_cache"]


@pytest.mark.req("MN-12", "MAP-04", "MN-20")
def test_intra_domain_handover_only_local_bu_and_location_privacy() -> None:
    r = run("figure1", capture=True, keep_events=True)
    rep = r.report
    h = rep["handovers"][1]
    assert h["kind"] == "intra-domain" and h["timeline"]["home_ba_received"] is None
    net = r.network
    assert net is not None and net.event_log is not None
    bus = [e for n, e in net.event_log if isinstance(e, BindingUpdateSent) and e.time > 8]
    assert bus and all(e.kind == "local" and e.to == MAP1 for e in bus)
    # The HA and CN see no signalling after the move; the RCoA is unchanged.
    for link in ("ha-inet", "cn-inet"):
        late = [p for t, p, _ in packets(r.pcaps[link]) if t > 8 and kind(p) != "UDP"]
        assert late == [], link
    mn = rep["nodes"]["mn"]
    assert rep["nodes"]["ha"]["binding_cache"][0]["coa"] == mn["rcoa"]
    assert rep["nodes"]["map1"]["binding_cache"][0]["lcoa"].startswith("2001:db8:a2:")
    # MN-20: no packet on the HA's or the CN's link carries an LCoA.
    lcoas = {A(mn["lcoa"]), A(mn["lcoa"].replace("a2:", "a1:"))}
    for link in ("ha-inet", "cn-inet"):
        for _, p, raw in packets(r.pcaps[link]):
            assert not addresses(p) & lcoas
            assert not any(a.packed in raw for a in lcoas)


@pytest.mark.req("MN-13", "MN-14", "MN-10", "MAP-08")
def test_inter_domain_handover() -> None:
    r = run("two-domains", keep_events=True)
    net = r.network
    assert net is not None and net.event_log is not None
    h = next(x for x in r.report["handovers"] if x["kind"] == "inter-domain")
    t0 = h["timeline"]["l2_up"]
    sel = [e for n, e in net.event_log if isinstance(e, MapSelected) and e.time > t0]
    assert sel and sel[0].rcoa == A(r.report["nodes"]["ha"]["binding_cache"][0]["coa"])
    bus = [e for n, e in net.event_log if n == "mn" and isinstance(e, BindingUpdateSent)
           and e.time >= t0 and not e.retransmission]
    kinds = [e.kind for e in bus]
    assert kinds[0] == "local" and "previous-map" in kinds and "home" in kinds
    home = next(e for e in bus if e.kind == "home")
    # MN-09: the home BU leaves only after the new MAP's BA; MN-10: lifetimes capped.
    assert home.time >= h["timeline"]["ba_received"]
    assert home.lifetime <= bus[0].lifetime
    assert home.care_of_address == sel[0].rcoa
    # MN-14: the previous MAP now forwards the old RCoA to the new LCoA.
    prev = next(e for e in bus if e.kind == "previous-map")
    updates = [(n, e) for n, e in net.event_log if isinstance(e, BindingCacheUpdated)
               and e.time > t0 and e.care_of_address == prev.care_of_address]
    assert any(e.home_address != sel[0].rcoa for _, e in updates)


@pytest.mark.req("AR-07", "MN-18", "MN-13")
def test_map_failure_moves_the_mn_to_the_other_map() -> None:
    """The built-in map-failure scenario: map1 crashes at 8 s, is declared failed at ~30 s
    (RFC 4140 §10 probe timing), the MN fails over to map2 (reported as an inter-domain
    handover without a move, HA updated), map1 restarts at 40 s and is advertised again."""
    r = run("map-failure", keep_events=True)
    net = r.network
    assert net is not None and net.event_log is not None
    failed = [(n, e) for n, e in net.event_log if type(e).__name__ == "MapFailed"]
    assert {n for n, _ in failed} >= {"ar1", "ar2", "mn"}
    assert all(25 <= e.time <= 35 for _, e in failed)
    sel = [e for n, e in net.event_log if isinstance(e, MapSelected)]
    to_map2 = next(e for e in sel if e.map == A("2001:db8:200::1"))
    assert to_map2.time >= failed[0][1].time
    rep = r.report
    failover = next(h for h in rep["handovers"] if h["timeline"].get("map_failed") is not None)
    assert failover["kind"] == "inter-domain" and failover["from"] == failover["to"] == "ar1"
    assert failover["timeline"]["home_ba_received"] is not None and failover["latency"] < 1
    events = {(e["node"], e["event"]) for e in rep["map_events"]}
    assert {("ar1", "failed"), ("mn", "failed"), ("ar1", "recovered")} <= events
    # map1 is advertised again after its restart and the MN (by preference) returns to it.
    assert sel[-1].map == MAP1 and sel[-1].time > 40
    assert rep["nodes"]["ha"]["binding_cache"][0]["coa"] == str(sel[-1].rcoa)
    assert rep["flows"][0]["received"] > 0


@pytest.mark.req("MN-02", "CN-01", "CN-02")
def test_mobile_ipv6_only_with_route_optimisation() -> None:
    r = run("route-optimisation", protocol="mipv6", capture=True)
    rep = r.report
    assert all(h["kind"] in ("initial", "mipv6") for h in rep["handovers"])
    assert rep["signalling"]["to_maps"] == 0
    assert rep["signalling"]["by_type"].get("HoTI", 0) >= 1
    cn = next(v for v in rep["nodes"].values() if v["role"] == "correspondent")
    assert cn["binding_cache"] and cn["binding_cache"][0]["coa"] == rep["nodes"]["mn"]["lcoa"]
    for v in rep["nodes"].values():
        if v["role"] == "map":
            assert v.get("binding_cache") == []
