"""The mobile node driven with real packet bytes: RAs as access routers send them, BAs as a
MAP / home agent / correspondent send them; assertions on the decoded packets it emits and
on its events (MN-01..MN-25, X5380-01..X5380-04)."""

from __future__ import annotations

import itertools
from ipaddress import IPv6Address, IPv6Network

import pytest

from hmipv6.core import return_routability as rr
from hmipv6.core.events import (
    BindingAcknowledged,
    BindingUpdateSent,
    CareOfAddressConfigured,
    DataReceived,
    HandoverCompleted,
    LinkChanged,
    MapFailed,
    MapSelected,
    MovementDetected,
    PacketDropped,
    RegionalCareOfAddressRequested,
    RouterAdvertisementReceived,
)
from hmipv6.wire.addr import interface_address, solicited_node
from hmipv6.wire.icmpv6 import (
    EchoReply,
    EchoRequest,
    NeighborAdvertisement,
    NeighborSolicitation,
    RouterSolicitation,
)
from hmipv6.wire.ipv6 import IPv6Packet
from hmipv6.wire.mobility import (
    AlternateCareOfAddress,
    BAStatus,
    BEStatus,
    BindingAuthorizationData,
    BindingError,
    BindingRefreshRequest,
    BindingUpdate,
    BUFlags,
    CareOfTestInit,
    HomeTestInit,
    NonceIndices,
)
from hmipv6.wire.udp import UDP
from tests.core.test_mobile_node_support import (
    AR1_LL,
    AR2_LL,
    AR3_LL,
    CN,
    HA,
    HOA,
    IID,
    LCOA1,
    LCOA2,
    LCOA3,
    MAP1,
    MAP2,
    MAP3,
    P1,
    P2,
    P3,
    RCOA1,
    RCOA2,
    Harness,
    ba_for,
    bus,
    cn_answers,
    cn_ba,
    data_from,
    innermost,
    kbm_for,
    layers,
    make,
    mapopt,
    ra,
    registered,
    via_ha,
    via_map,
)

A = IPv6Address


def local_bu(h: Harness, packets: list[IPv6Packet]) -> IPv6Packet:
    found = [p for p in bus(packets) if isinstance(p.payload, BindingUpdate)]
    assert len(found) == 1, packets
    return found[0]


def home_bu(packets: list[IPv6Packet]) -> IPv6Packet:
    found = [p for p in bus(packets) if innermost(p).dst == HA]
    assert len(found) == 1, packets
    return found[0]


# -- attachment, RS, RA, movement detection ---------------------------------------------------


@pytest.mark.req("MN-25")
def test_MN25_router_solicitation_after_random_delay_and_movement_detection() -> None:
    h = make(max_rtr_solicitation_delay=1.0, seed=7)
    assert h.attach() == []  # RFC 4861 §6.3.7: wait first
    wait = h.mn.next_timer()
    assert wait is not None and 0.0 < wait <= 1.0
    out = h.advance(wait)
    assert len(out) == 1
    rs = out[0]
    assert isinstance(rs.payload, RouterSolicitation)
    assert str(rs.dst) == "ff02::2" and rs.hop_limit == 255 and rs.src.is_link_local
    # No RA: RS retransmitted every RTR_SOLICITATION_INTERVAL, at most MAX_RTR_SOLICITATIONS.
    more = h.advance(wait + 20)
    assert [type(p.payload) for p in more] == [RouterSolicitation, RouterSolicitation]
    h.now = 30.0
    h.feed(ra(P1, [mapopt(MAP1)]))
    mv = h.of(MovementDetected)
    assert len(mv) == 1 and mv[0].new_prefix == str(P1) and mv[0].map_changed
    # Same prefix and MAP set: no movement. New MAP set on the same prefix: movement.
    h.feed(ra(P1, [mapopt(MAP1)]))
    assert len(h.of(MovementDetected)) == 1
    h.feed(ra(P1, [mapopt(MAP1), mapopt(MAP2, dist=2)]))
    assert len(h.of(MovementDetected)) == 2 and h.of(MovementDetected)[1].map_changed
    # New link, new prefix: movement (RS at once with a zero delay configured).
    h2 = make()
    out = h2.attach()
    assert isinstance(out[0].payload, RouterSolicitation)
    h2.feed(ra(P1, [mapopt(MAP1)]))
    h2.mn.link_down(h2.now, "wlan0")
    h2.attach(router="ar2")
    h2.feed(ra(P2, [mapopt(MAP1)], src=AR2_LL))
    assert [e.new_prefix for e in h2.of(MovementDetected)] == [str(P1), str(P2)]
    assert not h2.of(MovementDetected)[1].map_changed


@pytest.mark.req("MN-01")
def test_MN01_every_map_option_stored_per_map_with_time_received() -> None:
    h = make()
    h.attach()
    h.now = 2.5
    h.feed(ra(P1, [mapopt(MAP1, dist=1, pref=7), mapopt(MAP2, dist=2, pref=3, lifetime=600)]))
    stored = h.mn.maps.by_map
    assert set(stored) == {MAP1, MAP2}
    assert stored[MAP1].received_at == 2.5 and stored[MAP1].pref == 7 and stored[MAP1].dist == 1
    assert stored[MAP2].valid_lifetime == 600 and stored[MAP2].router == AR1_LL
    h.now = 4.0
    h.feed(ra(P1, [mapopt(MAP1, dist=1, pref=9)]))
    assert stored[MAP1].received_at == 4.0 and stored[MAP1].pref == 9
    assert stored[MAP2].received_at == 2.5  # kept for comparison with later options
    assert [r.address for r in h.mn.maps.advertised("wlan0")] == [MAP1]
    ras = h.of(RouterAdvertisementReceived)
    assert ras[0].maps == (MAP1, MAP2)


@pytest.mark.req("MN-05")
def test_MN05_lcoa_from_advertised_prefix_with_standard_dad() -> None:
    h = make(dad="standard")
    h.attach()
    out = h.feed(ra(P1, [mapopt(MAP1)]))
    ns = [p for p in out if isinstance(p.payload, NeighborSolicitation)]
    assert len(ns) == 1 and not bus(out)
    # RFC 4862 §5.4.2: from the unspecified address to the solicited-node address.
    assert str(ns[0].src) == "::" and ns[0].dst == solicited_node(LCOA1)
    assert ns[0].payload.target == LCOA1 == interface_address(P1, IID)
    coa = h.of(CareOfAddressConfigured)
    assert coa[-1].address == LCOA1 and not coa[-1].usable
    assert h.advance(0.99) == []  # RetransTimer: 1 s
    out = h.advance(1.0)
    assert h.of(CareOfAddressConfigured)[-1].usable
    bu = local_bu(h, out)
    assert bu.src == LCOA1  # the LCoA, never an RCoA, is the source of the local BU


@pytest.mark.req("MN-05")
def test_MN05_dad_duplicate_na_means_a_new_address() -> None:
    h = make(dad="standard")
    h.attach()
    h.feed(ra(P1, [mapopt(MAP1)]))
    na = IPv6Packet(A("2001:db8:a1::99"), A("ff02::1"), NeighborAdvertisement(LCOA1, override=True),
                    hop_limit=255)
    out = h.feed(na)
    assert any(isinstance(e, PacketDropped) and e.reason == "duplicate-address" for e in h.events)
    ns = [p for p in out if isinstance(p.payload, NeighborSolicitation)]
    assert len(ns) == 1 and ns[0].payload.target != LCOA1 and ns[0].payload.target in P1
    out = h.advance(1.0)
    assert local_bu(h, out).src == ns[0].payload.target


@pytest.mark.req("MN-05")
def test_MN05_optimistic_dad_registers_at_once() -> None:
    h = make(dad="optimistic")
    h.attach()
    out = h.feed(ra(P1, [mapopt(MAP1)]))
    assert any(isinstance(p.payload, NeighborSolicitation) for p in out)
    assert h.of(CareOfAddressConfigured)[-1].usable
    assert local_bu(h, out).src == LCOA1


# -- the local registration --------------------------------------------------------------------


@pytest.mark.req("MN-06", "MN-04")
def test_MN06_MN04_local_bu_fields() -> None:
    h = make()
    h.attach()
    out = h.feed(ra(P1, [mapopt(MAP1)]))
    p = local_bu(h, out)
    bu = p.payload
    assert isinstance(bu, BindingUpdate)
    assert p.src == LCOA1 and p.dst == MAP1
    # MN-04: RCoA = MAP /64 + interface identifier, carried in the Home Address option.
    assert p.home_address == RCOA1 == interface_address(MAP1, IID)
    assert bu.flags & BUFlags.A and bu.flags & BUFlags.M and not bu.flags & BUFlags.H
    assert not any(isinstance(o, AlternateCareOfAddress) for o in bu.options)
    assert bu.lifetime == 420
    sel = h.of(MapSelected)
    assert sel[-1].map == MAP1 and sel[-1].rcoa == RCOA1


@pytest.mark.req("MN-07")
def test_MN07_ba_without_rcoa_rh2_or_with_wrong_sequence_is_ignored() -> None:
    h = make()
    h.attach()
    p = local_bu(h, h.feed(ra(P1, [mapopt(MAP1)])))
    for bad in (ba_for(p, rh2=None), ba_for(p, rh2=RCOA2), ba_for(p, sequence=p.payload.sequence + 1)):
        before = sum(v for k, v in h.mn.counters.items() if k.startswith("dropped."))
        out = h.feed(bad)
        assert out == [] and not h.of(BindingAcknowledged)
        assert sum(v for k, v in h.mn.counters.items() if k.startswith("dropped.")) == before + 1
    assert {e.reason for e in h.of(PacketDropped)} >= {"ba-unmatched"}
    # No RH2: ignored as such; an RH2 with someone else's address: not even ours to process.
    assert h.mn.counters["dropped.ba-without-rh2"] == 1 and h.mn.counters["dropped.rh2-not-ours"] == 1
    out = h.feed(ba_for(p))
    assert h.of(BindingAcknowledged)[-1].kind == "local"
    assert home_bu(out)


@pytest.mark.req("MN-08", "MN-09", "MN-10")
def test_MN08_MN09_MN10_tunnel_and_home_registration_after_the_maps_ba() -> None:
    h = make(binding_lifetime=400)
    h.attach()
    p = local_bu(h, h.feed(ra(P1, [mapopt(MAP1)])))
    # MN-09: nothing towards the HA before the MAP's BA.
    assert not any(innermost(q).dst == HA for q in h.sent)
    h.now = 0.5
    out = h.feed(ba_for(p, lifetime=200))  # the MAP grants less than asked
    hp = home_bu(out)
    outer, inner = layers(hp)
    assert (outer.src, outer.dst) == (LCOA1, MAP1)  # MN-08: ⟦LCoA → MAP⟧
    assert (inner.src, inner.dst, inner.home_address) == (RCOA1, HA, HOA)
    bu = inner.payload
    assert isinstance(bu, BindingUpdate) and bu.flags & BUFlags.A and bu.flags & BUFlags.H
    assert not bu.flags & BUFlags.M
    # MN-10: never longer than the MAP's binding has left (granted 200 at t=0, now 0.5).
    assert bu.lifetime <= 200 and bu.lifetime % 4 == 0
    h.feed(via_map(ba_for(hp), MAP1, LCOA1))
    assert h.of(HandoverCompleted)[-1].kind == "initial"
    # MN-08 outgoing data: ⟦LCoA → MAP⟧ ⟦RCoA → HA⟧ HoA → CN.
    assert h.mn.send(h.now, CN, b"hello")
    d = h.drain()[-1]
    assert [(x.src, x.dst) for x in layers(d)] == [(LCOA1, MAP1), (RCOA1, HA), (HOA, CN)]
    # Incoming: ⟦MAP → LCoA⟧ ⟦HA → RCoA⟧ CN → HoA, decapsulated twice.
    h.feed(via_map(via_ha(data_from(CN, HOA), RCOA1), MAP1, LCOA1))
    got = h.of(DataReceived)[-1]
    assert got.src == CN and got.dst == HOA and got.tunnelled == 2 and got.size == 10
    # A tunnel from anyone but the MAP or HA is dropped.
    h.feed(IPv6Packet(A("2001:db8:66::1"), LCOA1, data_from(CN, HOA)))
    assert h.of(PacketDropped)[-1].reason == "unexpected-tunnel"


@pytest.mark.req("MN-02")
def test_MN02_no_map_option_means_plain_mobile_ipv6() -> None:
    h = make()
    h.attach()
    out = h.feed(ra(P1, []))
    p = home_bu(out)
    assert len(layers(p)) == 1 and p.src == LCOA1 and p.home_address == HOA
    assert p.payload.flags & BUFlags.H and not p.payload.flags & BUFlags.M
    h.feed(ba_for(p))
    assert h.of(HandoverCompleted)[-1].kind == "mipv6"
    assert h.mn.send(h.now, CN, b"x")
    d = h.drain()[-1]
    assert [(x.src, x.dst) for x in layers(d)] == [(LCOA1, HA), (HOA, CN)]
    # hmipv6 off: MIPv6 even where a MAP is advertised (comparison runs).
    h2 = make(hmipv6=False)
    h2.attach()
    p2 = home_bu(h2.feed(ra(P1, [mapopt(MAP1)])))
    assert p2.src == LCOA1 and not any(q.dst == MAP1 for q in h2.sent)


@pytest.mark.req("MN-12")
def test_MN12_intra_domain_move_sends_only_a_local_bu() -> None:
    h = registered(make())
    before = len(h.sent)
    h.now = 10.0
    h.mn.link_down(h.now, "wlan0")
    h.attach(router="ar2")
    out = h.feed(ra(P2, [mapopt(MAP1)], src=AR2_LL))
    p = local_bu(h, out)
    assert (p.src, p.dst, p.home_address) == (LCOA2, MAP1, RCOA1)
    assert not any(innermost(q).dst in (HA, CN) for q in h.sent[before:])
    out = h.feed(ba_for(p))
    assert out == []  # RCoA, HA and CN bindings untouched
    hc = h.of(HandoverCompleted)[-1]
    assert hc.kind == "intra-domain" and hc.lcoa == LCOA2 and hc.rcoa == RCOA1
    links = h.of(LinkChanged)
    assert [e.up for e in links] == [True, False, True]


@pytest.mark.req("MN-13", "MN-14")
def test_MN13_MN14_new_map_domain() -> None:
    h = registered(make())
    h.now = 20.0
    h.mn.link_down(h.now, "wlan0")
    h.attach(router="ar3")
    out = h.feed(ra(P3, [mapopt(MAP2)], src=AR3_LL))
    sent = bus(out)
    # MN-13: local BU to the new MAP first, with the new RCoA ...
    assert (sent[0].src, sent[0].dst, sent[0].home_address) == (LCOA3, MAP2, RCOA2)
    # MN-14: ... and one to the previous MAP binding the old RCoA to the new LCoA.
    prev = [p for p in sent if p.dst == MAP1]
    assert len(prev) == 1 and prev[0].src == LCOA3 and prev[0].home_address == RCOA1
    kinds = [e.kind for e in h.of(BindingUpdateSent) if e.time == 20.0]
    assert kinds == ["local", "previous-map"]
    assert not any(innermost(p).dst == HA for p in out)  # HA waits for MAP2's BA
    out = h.feed(ba_for(sent[0]))
    hp = home_bu(out)
    assert [(x.src, x.dst) for x in layers(hp)] == [(LCOA3, MAP2), (RCOA2, HA)]
    h.feed(via_map(ba_for(hp), MAP2, LCOA3))
    assert h.of(HandoverCompleted)[-1].kind == "inter-domain"
    h.feed(ba_for(prev[0]))
    assert h.of(BindingAcknowledged)[-1].kind == "previous-map"
    # Packets in flight through MAP1 still reach us.
    h.feed(via_map(via_ha(data_from(CN, HOA), RCOA1), MAP1, LCOA3))
    assert h.of(DataReceived)[-1].tunnelled == 2


@pytest.mark.req("MN-15")
def test_MN15_a_local_bu_per_rcoa_and_never_an_rcoa_as_care_of() -> None:
    h = make(multiple_maps=True)
    h.attach()
    out = h.feed(ra(P1, [mapopt(MAP1, dist=2), mapopt(MAP2, dist=1)]))
    sent = bus(out)
    assert {(p.dst, p.home_address) for p in sent} == {(MAP1, RCOA1), (MAP2, RCOA2)}
    assert all(p.src == LCOA1 for p in sent)
    for p in sent:
        h.feed(ba_for(p))
    assert h.mn.current_map == MAP1  # furthest
    h.now = 5.0
    h.mn.link_down(h.now, "wlan0")
    h.attach()
    out = h.feed(ra(P2, [mapopt(MAP1, dist=2), mapopt(MAP2, dist=1)], src=AR2_LL))
    moved = [p for p in bus(out) if len(layers(p)) == 1]
    # RFC 4140 §6.1: "MUST perform the binding update procedure for each RCoA".
    assert {(p.dst, p.home_address) for p in moved} == {(MAP1, RCOA1), (MAP2, RCOA2)}
    for p in h.sent:
        for x in layers(p):
            if isinstance(x.payload, BindingUpdate) and x.payload.flags & BUFlags.M:
                assert x.src in (LCOA1, LCOA2)  # an RCoA is never a CoA to another MAP


@pytest.mark.req("X5380-03")
def test_X5380_03_rfc5380_binds_secondary_rcoas_only_optionally() -> None:
    h = make(multiple_maps=True, profile="rfc5380")
    h.attach()
    for p in bus(h.feed(ra(P1, [mapopt(MAP1, dist=2, r=False), mapopt(MAP2, dist=1, r=False)]))):
        h.feed(ba_for(p))
    h.now = 5.0
    h.mn.link_down(h.now, "wlan0")
    h.attach()
    out = h.feed(ra(P2, [mapopt(MAP1, dist=2, r=False), mapopt(MAP2, dist=1, r=False)], src=AR2_LL))
    moved = [p for p in bus(out) if len(layers(p)) == 1]
    assert [(p.dst, p.home_address) for p in moved] == [(MAP1, RCOA1)]
    # The secondary binding is still kept alive at its refresh time, with the current LCoA.
    out = h.advance(5.0 + 420)
    assert any(p.dst == MAP2 and p.src == LCOA2 for p in bus(out))
    # Opting in gives the RFC 4140 behaviour.
    h2 = make(multiple_maps=True, profile="rfc5380", bind_every_rcoa=True)
    h2.attach()
    for p in bus(h2.feed(ra(P1, [mapopt(MAP1, dist=2, r=False), mapopt(MAP2, dist=1, r=False)]))):
        h2.feed(ba_for(p))
    h2.mn.link_down(h2.now, "wlan0")
    h2.attach()
    out = h2.feed(ra(P2, [mapopt(MAP1, dist=2, r=False), mapopt(MAP2, dist=1, r=False)], src=AR2_LL))
    assert {p.dst for p in bus(out) if len(layers(p)) == 1} == {MAP1, MAP2}


# -- MAP selection, preference, failure ----------------------------------------------------------


@pytest.mark.req("MN-03")
def test_MN03_furthest_by_default_skipping_pref_0_and_lifetime_0() -> None:
    opts = [mapopt(MAP1, dist=1), mapopt(MAP2, dist=3, pref=0), mapopt(MAP3, dist=2)]
    h = make()
    h.attach()
    assert local_bu(h, h.feed(ra(P1, opts))).dst == MAP3
    h = make()
    h.attach()
    opts = [mapopt(MAP1, dist=1), mapopt(MAP2, dist=3, lifetime=0), mapopt(MAP3, dist=2, pref=0)]
    assert local_bu(h, h.feed(ra(P1, opts))).dst == MAP1
    for policy, want in (("preference", MAP2), ("nearest", MAP1), ("furthest", MAP3)):
        h = make(map_selection=policy)
        h.attach()
        opts = [mapopt(MAP1, dist=1, pref=5), mapopt(MAP2, dist=2, pref=14), mapopt(MAP3, dist=3, pref=2)]
        assert local_bu(h, h.feed(ra(P1, opts))).dst == want, policy


@pytest.mark.req("X5380-01")
def test_X5380_01_pref_breaks_ties_between_equal_dist() -> None:
    opts = [mapopt(MAP1, dist=2, pref=5, r=False), mapopt(MAP2, dist=2, pref=12, r=False)]
    h = make(profile="rfc4140")
    h.attach()
    assert local_bu(h, h.feed(ra(P1, opts))).dst == MAP1  # RFC 4140: no tie-breaker, RA order
    h = make(profile="rfc5380")
    h.attach()
    assert local_bu(h, h.feed(ra(P1, opts))).dst == MAP2


@pytest.mark.req("MN-16")
def test_MN16_eager_to_bind_lazy_to_release() -> None:
    h = registered(make())
    h.now = 3.0
    # Eager: a further MAP appears -> bind to it at once.
    out = h.feed(ra(P1, [mapopt(MAP1, dist=1), mapopt(MAP2, dist=2)]))
    new = local_bu(h, [p for p in out if p.dst == MAP2])
    assert new.home_address == RCOA2
    h.feed(ba_for(new))
    assert h.mn.current_map == MAP2
    # Lazy: MAP1's binding is kept (and refreshed) while MAP1 is still advertised.
    assert MAP1 in h.mn.regions
    out = h.advance(3.0 + 420 * 0.8 + 1)
    assert any(p.dst == MAP1 and p.home_address == RCOA1 for p in bus(out))
    # Once MAP1 is no longer advertised, it is not refreshed and goes when it expires.
    assert bus(out)
    h.feed(ra(P1, [mapopt(MAP2, dist=2)]))
    h.feed(ba_for([p for p in bus(h.sent) if p.dst == MAP1][-1]))
    assert h.mn.bul.get(MAP1, RCOA1).acked_care_of == LCOA1
    h.advance(h.now + 2000)
    assert MAP1 not in h.mn.regions and MAP2 in h.mn.regions


@pytest.mark.req("MN-17")
def test_MN17_pref_zero_refreshes_existing_binding_but_creates_none() -> None:
    h = registered(make())
    h.now = 5.0
    h.mn.link_down(h.now, "wlan0")
    h.attach()
    out = h.feed(ra(P2, [mapopt(MAP1, pref=0)], src=AR2_LL))
    p = local_bu(h, out)
    assert (p.dst, p.home_address, p.src) == (MAP1, RCOA1, LCOA2)
    # A node without a binding at that MAP does not create one: plain Mobile IPv6.
    h2 = make()
    h2.attach()
    out = h2.feed(ra(P1, [mapopt(MAP1, pref=0)]))
    assert not any(q.dst == MAP1 for q in out)
    assert home_bu(out).src == LCOA1


@pytest.mark.req("MN-18")
def test_MN18_map_lifetime_zero_picks_another_map_or_reverts_to_mipv6() -> None:
    h = registered(make())
    h.now = 5.0
    out = h.feed(ra(P1, [mapopt(MAP1, dist=2, lifetime=0), mapopt(MAP2, dist=1)]))
    assert h.of(MapFailed)[-1].map == MAP1
    p = local_bu(h, out)
    assert (p.dst, p.home_address) == (MAP2, RCOA2)
    assert not any(q.dst == MAP1 for q in out)  # bindings there are lost
    hp = home_bu(h.feed(ba_for(p)))
    assert layers(hp)[1].src == RCOA2  # HA updated with the new RCoA
    # No other MAP: revert to Mobile IPv6 (BU to the HA with the LCoA).
    h2 = registered(make())
    h2.now = 5.0
    out = h2.feed(ra(P1, [mapopt(MAP1, lifetime=0)]))
    hp = home_bu(out)
    assert len(layers(hp)) == 1 and hp.src == LCOA1 and hp.home_address == HOA
    h2.feed(ba_for(hp))
    assert h2.of(HandoverCompleted)[-1].kind == "mipv6"
    assert h2.mn.current_map is None


@pytest.mark.req("MN-21")
def test_MN21_multihomed_uses_the_link_advertising_the_current_map() -> None:
    h = make(interfaces=("wlan0", "wlan1"))
    h.attach("wlan0")
    h.feed(ra(P1, [mapopt(MAP1)]), "wlan0")
    h.now = 1.0
    h.attach("wlan1", "ar2")
    out = h.feed(ra(P2, [], src=AR2_LL), "wlan1")
    assert not bus(out)  # wlan1 is newer, but its AR does not advertise MAP1
    first = bus(h.sent)[0]
    assert first.src == LCOA1
    out = h.feed(ba_for(first))
    hp = home_bu(out)
    assert layers(hp)[0].src == LCOA1
    assert h.transmits[-1].ifname == "wlan0"


# -- MN-23, MN-19, MN-20, MN-24, MN-11 -------------------------------------------------------------


@pytest.mark.req("MN-23")
def test_MN23_refused_rcoa_means_a_new_one() -> None:
    h = make()
    h.attach()
    p = local_bu(h, h.feed(ra(P1, [mapopt(MAP1)])))
    out = h.feed(ba_for(p, status=BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED))
    q = local_bu(h, out)
    assert q.home_address != RCOA1 and q.home_address in IPv6Network(f"{MAP1}/64", strict=False)
    assert h.of(MapSelected)[-1].rcoa == q.home_address
    out = h.feed(ba_for(q))
    assert layers(home_bu(out))[1].src == q.home_address
    # The key-management signal (INVALID-ID-INFORMATION) does the same.
    h.mn.rcoa_refused(h.now, MAP1)
    r = local_bu(h, h.drain())
    assert r.home_address not in (RCOA1, q.home_address)


@pytest.mark.req("MN-19")
def test_MN19_rcoa_as_source_without_hao() -> None:
    h = registered(make())
    assert h.mn.send(h.now, CN, UDP(1, 2, b"web"), use_rcoa=True)
    p = h.drain()[-1]
    outer, inner = layers(p)
    assert (outer.src, outer.dst) == (LCOA1, MAP1)
    assert (inner.src, inner.dst) == (RCOA1, CN) and inner.home_address is None
    # Answers to the RCoA come back through the MAP.
    h.feed(via_map(data_from(CN, RCOA1), MAP1, LCOA1))
    assert h.of(DataReceived)[-1].dst == RCOA1
    # Without a MAP binding there is no RCoA to use.
    h2 = make()
    assert not h2.mn.send(0.0, CN, b"x", use_rcoa=True)


def _ro_session(h: Harness) -> IPv6Packet:
    """Registered node with route optimisation: run RR, return the CN BU packet."""
    registered(h)
    rr_out = [p for p in h.sent if isinstance(innermost(p).payload, HomeTestInit | CareOfTestInit)]
    out = cn_answers(h, rr_out)
    return next(p for p in bus(out) if innermost(p).dst == CN)


@pytest.mark.req("MN-11")
def test_MN11_route_optimisation_through_the_map() -> None:
    h = make(route_optimisation=True, correspondents=(CN,))
    registered(h)
    hoti = next(p for p in h.sent if isinstance(innermost(p).payload, HomeTestInit))
    coti = next(p for p in h.sent if isinstance(innermost(p).payload, CareOfTestInit))
    # RFC 4140 §12.2: HoTI from the HoA, encapsulated twice.
    assert [(x.src, x.dst) for x in layers(hoti)] == [(LCOA1, MAP1), (RCOA1, HA), (HOA, CN)]
    assert [(x.src, x.dst) for x in layers(coti)] == [(LCOA1, MAP1), (RCOA1, CN)]
    out = cn_answers(h, [hoti, coti])
    bp = next(p for p in bus(out) if innermost(p).dst == CN)
    outer, inner = layers(bp)
    assert (outer.src, outer.dst, inner.src, inner.home_address) == (LCOA1, MAP1, RCOA1, HOA)
    bu = inner.payload
    assert isinstance(bu, BindingUpdate)
    assert isinstance(bu.options[0], NonceIndices) and bu.options[0].home_nonce_index == 7
    assert isinstance(bu.options[-1], BindingAuthorizationData)
    assert rr.verify(kbm_for(RCOA1), RCOA1, CN, bu)  # as the CN checks it
    # A BA with a bad authenticator is ignored; a good one is accepted.
    h.feed(cn_ba(bp, good=False))
    assert h.of(PacketDropped)[-1].reason == "ba-bad-authenticator"
    h.feed(cn_ba(bp))
    assert h.of(BindingAcknowledged)[-1].kind == "correspondent"
    assert h.mn.send(h.now, CN, b"ro")
    d = h.drain()[-1]
    o, i = layers(d)
    assert (o.src, o.dst, i.src, i.dst, i.home_address) == (LCOA1, MAP1, RCOA1, CN, HOA)
    assert h.mn.upper_layer_mtu(CN) == 1460


@pytest.mark.req("MN-20")
def test_MN20_lcoa_only_in_outer_headers_to_the_map() -> None:
    h = make(route_optimisation=True, correspondents=(CN,))
    bp = _ro_session(h)
    h.feed(cn_ba(bp))
    h.mn.send(h.now, CN, b"a")
    h.mn.send(h.now, A("2001:db8:d::1"), b"b")
    h.feed(via_map(IPv6Packet(CN, RCOA1, EchoRequest(1, 1, b"p")), MAP1, LCOA1))
    h.feed(via_map(via_ha(IPv6Packet(CN, HOA, EchoRequest(1, 2, b"q")), RCOA1), MAP1, LCOA1))
    h.drain()
    checked = 0
    for p in h.sent:
        ls = layers(p)
        if p.dst.is_multicast or p.dst.is_link_local:
            continue
        if p.src == LCOA1:
            assert p.dst == MAP1, p  # the LCoA only ever talks to the MAP
        for x in ls[1:]:
            assert LCOA1 not in (x.src, x.dst, x.home_address, x.routing_home_address), p
            msg = x.payload
            if isinstance(msg, BindingUpdate):
                # RFC 6275 §11.7.1: the home BU carries its care-of address (the RCoA) in an
                # Alternate CoA option; never the LCoA.
                assert all(o.address != LCOA1 for o in msg.options
                           if isinstance(o, AlternateCareOfAddress))
            checked += 1
    assert checked >= 6
    assert any(isinstance(innermost(p).payload, EchoReply) for p in h.sent)


@pytest.mark.req("MN-24")
def test_MN24_lcoa_binding_with_a_correspondent_on_the_same_link() -> None:
    neighbour = interface_address(P1, 0x99)
    h = make(route_optimisation=True, correspondents=(neighbour,), onlink_correspondent_binding=True)
    registered(h)
    coti = next(p for p in h.sent if isinstance(innermost(p).payload, CareOfTestInit))
    assert len(layers(coti)) == 1 and coti.src == LCOA1 and coti.dst == neighbour
    rr_out = [p for p in h.sent if isinstance(innermost(p).payload, HomeTestInit | CareOfTestInit)]
    out = cn_answers(h, rr_out, cn=neighbour)
    bp = next(p for p in bus(out) if innermost(p).dst == neighbour)
    assert len(layers(bp)) == 1 and bp.src == LCOA1 and bp.home_address == HOA
    h.feed(cn_ba(bp))
    h.mn.send(h.now, neighbour, b"local")
    d = h.drain()[-1]
    assert len(layers(d)) == 1 and d.src == LCOA1 and d.home_address == HOA  # bypasses the MAP


# -- retransmission and refresh (MN-22) ---------------------------------------------------------


@pytest.mark.req("MN-22")
def test_MN22_local_bu_retransmission_back_off() -> None:
    h = make()
    h.attach()
    first = local_bu(h, h.feed(ra(P1, [mapopt(MAP1)])))
    times, seqs = [], [first.payload.sequence]
    while h.now < 200:
        t = h.mn.next_timer()
        assert t is not None
        for p in h.advance(t):
            if isinstance(p.payload, BindingUpdate):
                times.append(h.now)
                seqs.append(p.payload.sequence)
    gaps = [round(b - a, 6) for a, b in zip([0.0, *times], times, strict=False)]
    # First registration: InitialBindackTimeoutFirstReg 1.5 s, doubling, capped at 32 s.
    assert gaps[:6] == [1.5, 3.0, 6.0, 12.0, 24.0, 32.0] and set(gaps[6:]) == {32.0}
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))  # fresh numbers
    assert all(e.retransmission for e in h.of(BindingUpdateSent)[1:])
    # An old retransmission's BA no longer matches; the latest one does.
    last = h.sent[-1]
    h.feed(ba_for(last, sequence=seqs[0]))
    assert not h.of(BindingAcknowledged)
    h.feed(ba_for(last))
    assert h.of(BindingAcknowledged)


@pytest.mark.req("MN-22")
def test_MN22_refresh_before_expiry_and_non_first_timeout() -> None:
    h = registered(make())
    start = h.now
    out = h.advance(start + 420 * 0.8)
    refresh = [p for p in bus(out) if p.dst == MAP1]
    assert refresh and refresh[0].src == LCOA1
    # Not a first registration any more: INITIAL_BINDACK_TIMEOUT (1 s).
    nxt = h.advance(h.now + 1.0)
    assert [p for p in bus(nxt) if p.dst == MAP1]


@pytest.mark.req("MN-22")
def test_MN22_binding_refresh_request_and_binding_errors() -> None:
    h = registered(make())
    n = len(bus(h.sent))
    out = h.feed(IPv6Packet(MAP1, LCOA1, BindingRefreshRequest()))
    assert [p.dst for p in bus(out)] == [MAP1]
    # From a stranger: ignored.
    out = h.feed(IPv6Packet(A("2001:db8:77::1"), LCOA1, BindingRefreshRequest()))
    assert out == [] and h.of(PacketDropped)[-1].reason == "unsolicited-brr"
    # Binding Error status 1 from the HA: send a BU to the HA again.
    be = IPv6Packet(HA, RCOA1, BindingError(BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION, HOA))
    out = h.feed(via_map(be, MAP1, LCOA1))
    assert any(innermost(p).dst == HA for p in bus(out))
    be2 = IPv6Packet(CN, RCOA1, BindingError(BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION, HOA))
    h.feed(via_map(be2, MAP1, LCOA1))
    assert h.of(PacketDropped)[-1].reason == "unsolicited-be"
    assert len(bus(h.sent)) > n


@pytest.mark.req("MN-22")
def test_MN22_status_135_resyncs_the_sequence_number() -> None:
    h = make()
    h.attach()
    p = local_bu(h, h.feed(ra(P1, [mapopt(MAP1)])))
    out = h.feed(ba_for(p, status=BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, sequence=40000))
    q = local_bu(h, out)
    assert q.payload.sequence == 40001


@pytest.mark.req("MN-02", "MN-22")
def test_mipv6_home_rejection_stops_retrying_that_binding() -> None:
    h = make()
    h.attach()
    p = home_bu(h.feed(ra(P1, [])))
    h.feed(ba_for(p, status=BAStatus.ADMINISTRATIVELY_PROHIBITED))
    assert h.of(BindingAcknowledged)[-1].status == 129
    assert not bus(h.advance(100))


# -- X5380 ----------------------------------------------------------------------------------------


@pytest.mark.req("X5380-02")
def test_X5380_02_map_allocated_rcoa() -> None:
    h = make(profile="rfc5380")
    h.attach()
    out = h.feed(ra(P1, [mapopt(MAP1, r=True)]))
    req = h.of(RegionalCareOfAddressRequested)
    assert req and req[-1].map == MAP1 and req[-1].lcoa == LCOA1
    assert not bus(out)  # no stateless RCoA: wait for the MAP's allocation
    given = A("2001:db8:100::4242")
    h.mn.assign_rcoa(h.now, MAP1, given)
    p = local_bu(h, h.drain())
    assert p.home_address == given != RCOA1
    out = h.feed(ba_for(p))
    assert layers(home_bu(out))[1].src == given
    # Or through a synchronous allocator hook.
    import random

    from hmipv6.core.mobile_node import MobileNode, MobileNodeConfig

    mn = MobileNode("m", MobileNodeConfig(home_address=HOA, home_agent=HA, dad="none", profile="rfc5380",
                                          max_rtr_solicitation_delay=0), rng=random.Random(1),
                    rcoa_allocator=lambda m, lcoa: A("2001:db8:100::77"))
    h2 = Harness(mn)
    h2.attach()
    assert local_bu(h2, h2.feed(ra(P1, [mapopt(MAP1, r=True)]))).home_address == A("2001:db8:100::77")
    # The RFC 4140 profile forms it statelessly whatever R says.
    h3 = make(profile="rfc4140")
    h3.attach()
    assert local_bu(h3, h3.feed(ra(P1, [mapopt(MAP1, r=True)]))).home_address == RCOA1


@pytest.mark.req("X5380-04")
def test_X5380_04_mtu_offered_to_upper_layers() -> None:
    h = make()
    assert h.mn.upper_layer_mtu(CN) == 1460  # nothing bound: one tunnel (to the HA)
    registered(h, maps=(mapopt(MAP1),))
    assert h.mn.upper_layer_mtu(CN) == 1500 - 80  # MN-MAP and MN-HA: two tunnels
    h.feed(ra(P1, [mapopt(MAP1)], mtu=1400))
    assert h.mn.upper_layer_mtu(CN) == 1320
    assert not h.mn.send(h.now, CN, bytes(1320 - 48 + 1))
    h.drain()
    assert h.of(PacketDropped)[-1].reason == "packet-too-big"
    assert h.mn.send(h.now, CN, bytes(1320 - 48))
    h2 = make()
    h2.attach()
    h2.feed(ra(P1, []))
    assert h2.mn.upper_layer_mtu(CN) == 1460  # plain Mobile IPv6: the HA tunnel only


def test_echo_requests_to_the_home_address_are_answered_through_the_tunnels() -> None:
    h = registered(make())
    h.feed(via_map(via_ha(IPv6Packet(CN, HOA, EchoRequest(5, 6, b"ping")), RCOA1), MAP1, LCOA1))
    rep = h.sent[-1]
    assert [(x.src, x.dst) for x in layers(rep)] == [(LCOA1, MAP1), (RCOA1, HA), (HOA, CN)]
    assert isinstance(innermost(rep).payload, EchoReply) and innermost(rep).payload.sequence == 6


def test_neighbour_solicitation_for_our_lcoa_is_answered() -> None:
    h = registered(make())
    ns = IPv6Packet(A("fe80::1"), solicited_node(LCOA1), NeighborSolicitation(LCOA1), hop_limit=255)
    out = h.feed(ns)
    assert isinstance(out[-1].payload, NeighborAdvertisement) and out[-1].payload.target == LCOA1

