"""The Mobility Anchor Point driven by real packet bytes (RFC 4140 §6.2, §7.1.2, §8, §12.1).

Every test feeds octets built with the wire codecs (as a mobile node or a correspondent would
send them) and checks the octets the MAP emits, decoded, and its events."""

from __future__ import annotations

import random
from ipaddress import IPv6Network

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmipv6.core.events import BindingCacheUpdated, BindingRemoved, PacketDropped
from hmipv6.core.ipsec.pad import PeerAuthorizationDatabase
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.node import encapsulate_raw
from hmipv6.wire import IPv6Packet, RoutingHeaderType2, decode
from hmipv6.wire.addr import ALL_NODES, UNSPECIFIED, solicited_node
from hmipv6.wire.icmpv6 import (
    DestinationUnreachable,
    EchoReply,
    EchoRequest,
    MapOption,
    NeighborAdvertisement,
    NeighborSolicitation,
    RouterAdvertisement,
    SourceLinkLayerAddress,
    TargetLinkLayerAddress,
)
from hmipv6.wire.mobility import BAStatus, BindingAcknowledgement, BUFlags
from hmipv6.wire.udp import UDP

from .anchor_support import A, PeerSecurity, binding_update, drops, events, sent

MAP_ADDR = A("2001:db8:100::1")
RCOA = A("2001:db8:100::a1")
RCOA2 = A("2001:db8:100::a2")
LCOA = A("2001:db8:200:1::5")
LCOA2 = A("2001:db8:200:2::5")
NEIGHBOUR_LCOA = A("2001:db8:300:1::5")
FOREIGN_LCOA = A("2001:db8:999:1::5")
CN = A("2001:db8:cafe::1")
RFC3775_STATUSES = {0, 1, *range(128, 140)}


def make_map(**kw: object) -> MobilityAnchorPoint:
    m = MobilityAnchorPoint("map", address=MAP_ADDR, ifname="link", **kw)  # type: ignore[arg-type]
    m.add_interface("down")
    m.add_interface("up")
    m.add_route("2001:db8:200::/48", "down")
    m.add_route("2001:db8:300::/48", "down")
    m.add_route("2001:db8:999::/48", "down")
    m.add_route("::/0", "up")
    return m


def register(m: MobilityAnchorPoint, now: float = 0.0, *, rcoa: A = RCOA, lcoa: A = LCOA,
             sequence: int = 1, lifetime: int = 400, flags: int = BUFlags.A | BUFlags.M
             ) -> BindingAcknowledgement:
    m.receive(now, "down", binding_update(lcoa, MAP_ADDR, rcoa, sequence=sequence,
                                          lifetime=lifetime, flags=flags).encode())
    bas = [p for _, p in sent(m, now) if isinstance(p.payload, BindingAcknowledgement)]
    assert len(bas) == 1
    ba = bas[0].payload
    assert isinstance(ba, BindingAcknowledgement)
    return ba


def data_to(dst: A, src: A = CN, hop_limit: int = 64) -> bytes:
    return IPv6Packet(src, dst, UDP(4000, 5000, b"payload"), hop_limit=hop_limit).encode()


def check_invariants(m: MobilityAnchorPoint, now: float) -> None:
    valid = m.valid_lcoa_prefixes
    for e in m.bindings():
        assert e.expires > now - 1 / 64, "an expired entry outlived its tick"
        assert e.address in m.rcoa_prefix
        if valid is not None:
            assert m.lcoa_allowed(e.care_of)


# -- MAP-01 / MAP-03 ---------------------------------------------------------------------------


@pytest.mark.req("MAP-01")
def test_MAP01_local_bu_creates_then_updates_rcoa_to_lcoa_without_home_address() -> None:
    m = make_map()
    ba = register(m)
    assert ba.status == BAStatus.ACCEPTED
    entry = m.cache.get(RCOA)
    assert entry is not None and entry.care_of == LCOA and entry.sequence == 1
    created = [e for e in events(m) if isinstance(e, BindingCacheUpdated)]
    assert created == [BindingCacheUpdated(time=0.0, home_address=RCOA, care_of_address=LCOA,
                                           lifetime=400, created=True)]
    # Movement inside the domain: the same RCoA now points at LCoA2.
    ba = register(m, 10.0, lcoa=LCOA2, sequence=2)
    assert ba.status == BAStatus.ACCEPTED and ba.sequence == 2
    entry = m.cache.get(RCOA)
    assert entry is not None and entry.care_of == LCOA2
    assert [e.created for e in events(m) if isinstance(e, BindingCacheUpdated)] == [False]
    assert len(m.cache) == 1


@pytest.mark.req("MAP-03")
def test_MAP03_ba_goes_to_lcoa_with_type2_routing_header_holding_rcoa() -> None:
    m = make_map()
    m.receive(0.0, "down", binding_update(LCOA, MAP_ADDR, RCOA, sequence=7).encode())
    out = sent(m)
    (ifname, pkt), = [(i, p) for i, p in out if isinstance(p.payload, BindingAcknowledgement)]
    assert ifname == "down"
    assert pkt.src == MAP_ADDR and pkt.dst == LCOA
    assert pkt.extension_headers == (RoutingHeaderType2(RCOA),)
    assert pkt.effective_dst == RCOA
    ba = pkt.payload
    assert isinstance(ba, BindingAcknowledgement)
    assert (ba.status, ba.sequence, ba.lifetime) == (0, 7, 400)


@pytest.mark.req("MAP-03")
@given(flags=st.integers(0, 0xFFFF), seq=st.integers(0, 0xFFFF),
       lifetime=st.integers(0, 0xFFFF).map(lambda u: u * 4),
       rcoa_low=st.integers(0, 3), lcoa_net=st.sampled_from(["200:1", "300:1", "999:1"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_MAP03_every_ba_status_is_an_rfc3775_status(flags: int, seq: int, lifetime: int,
                                                   rcoa_low: int, lcoa_net: str) -> None:
    """MAP-03 (and MAP-07 invariants): random BU field combinations never raise, every BA
    carries one of RFC 3775's statuses, and every entry is live and inside the valid LCoA
    prefixes."""
    m = make_map(valid_lcoa_prefixes=["2001:db8:200::/48"], max_lifetime=300)
    rcoa = A(int(RCOA) + rcoa_low) if rcoa_low < 3 else A("2001:db8:555::1")
    lcoa = A(f"2001:db8:{lcoa_net}::5")
    for now in (0.0, 1.0):
        m.receive(now, "down", binding_update(lcoa, MAP_ADDR, rcoa, sequence=seq, flags=flags,
                                              lifetime=lifetime).encode())
        for _, p in sent(m, now):
            if isinstance(p.payload, BindingAcknowledgement):
                assert p.payload.status in RFC3775_STATUSES
                assert p.payload.lifetime <= 300
        check_invariants(m, now)
    events(m)


# -- MAP-02 / SEC-03 / SEC-04 / MN-23 -----------------------------------------------------------


@pytest.mark.req("MAP-02")
def test_MAP02_new_rcoa_in_use_on_the_map_link_fails_dad_with_134() -> None:
    m = make_map(link_addresses=[RCOA2])
    assert register(m, rcoa=RCOA2).status == BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
    assert RCOA2 not in m.cache
    # The MAP's own address is on its link too.
    assert register(m, rcoa=MAP_ADDR).status == BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
    assert register(m, rcoa=RCOA).status == BAStatus.ACCEPTED


@pytest.mark.req("MAP-02", "SEC-03", "SEC-04", "MN-23")
def test_MAP02_SEC04_rcoa_held_by_another_peer_is_refused_with_134_and_untouched() -> None:
    sec = PeerSecurity(peer="mn-1")
    m = make_map(security=sec)
    assert register(m).status == BAStatus.ACCEPTED
    entry = m.cache.get(RCOA)
    assert entry is not None and entry.peer == "mn-1"
    sec.peer = "mn-2"  # another MN (other credentials) asks for the same RCoA
    ba = register(m, lcoa=LCOA2, sequence=50)
    assert ba.status == BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
    assert m.cache.get(RCOA) == entry, "the binding must be untouched"
    # A deregistration from the other peer is refused as well.
    assert register(m, lcoa=LCOA2, sequence=51, lifetime=0).status == 134
    assert m.cache.get(RCOA) == entry
    # SEC-03: the installing peer may update it; BAs are protected for the entry's peer.
    sec.peer = "mn-1"
    assert register(m, lcoa=LCOA2, sequence=2).status == BAStatus.ACCEPTED
    assert sec.protected_for[-1] == "mn-1"


@pytest.mark.req("SEC-03", "SEC-04")
def test_SEC03_peer_authorisation_database_is_consulted_and_claims_released() -> None:
    pad = PeerAuthorizationDatabase()
    pad.authorise("mn-1", ["2001:db8:100::/64"])
    pad.authorise("mn-2", ["2001:db8:100::/64"])
    sec = PeerSecurity(peer="mn-x", pad=pad)
    m = make_map(security=sec)
    assert register(m).status == BAStatus.ADMINISTRATIVELY_PROHIBITED  # not authorised
    sec.peer = "mn-1"
    assert register(m, sequence=2).status == BAStatus.ACCEPTED
    assert pad.owner(RCOA) == "mn-1"
    # A restarted MAP that lost its cache still has the PAD's record: the PAD says 134.
    m.cache.remove(RCOA)
    sec.peer = "mn-2"
    assert register(m, sequence=3).status == BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
    sec.peer = "mn-1"
    assert register(m, sequence=4).status == BAStatus.ACCEPTED
    assert register(m, sequence=5, lifetime=0).status == BAStatus.ACCEPTED
    assert pad.owner(RCOA) is None


# -- MAP-04 ------------------------------------------------------------------------------------


@pytest.mark.req("MAP-04")
def test_MAP04_packets_for_a_bound_rcoa_are_tunnelled_to_the_lcoa() -> None:
    m = make_map()
    register(m)
    raw = data_to(RCOA)
    m.receive(1.0, "up", raw)
    out = m.datagrams_to_send(1.0)
    assert len(out) == 1 and out[0].ifname == "down"
    outer = decode(out[0].data)
    assert outer.src == MAP_ADDR and outer.dst == LCOA
    # RFC 2473 §3.1: the inner packet is the original, hop limit decremented by forwarding.
    assert out[0].data[40:] == raw[:7] + bytes((63,)) + raw[8:]
    inner = outer.payload
    assert isinstance(inner, IPv6Packet) and inner.hop_limit == 63
    assert m.counters["tunnelled"] == 1
    # After movement the next packet follows the new LCoA.
    register(m, 2.0, lcoa=LCOA2, sequence=2)
    m.receive(3.0, "up", raw)
    assert decode(m.datagrams_to_send(3.0)[0].data).dst == LCOA2


@pytest.mark.req("MAP-04")
def test_MAP04_proxy_neighbor_advertisements_for_bound_rcoas() -> None:
    m = make_map()
    m.receive(0.0, "down", binding_update(LCOA, MAP_ADDR, RCOA).encode())
    out = sent(m)
    nas = [(i, p) for i, p in out if isinstance(p.payload, NeighborAdvertisement)]
    # Unsolicited NA to all-nodes on the MAP's link on registration (RFC 6275 §10.4.1).
    assert len(nas) == 1
    ifname, pkt = nas[0]
    na = pkt.payload
    assert isinstance(na, NeighborAdvertisement)
    assert ifname == "link" and pkt.dst == ALL_NODES and pkt.hop_limit == 255
    assert na.target == RCOA and na.override and not na.solicited and not na.router
    assert na.options == (TargetLinkLayerAddress(m.interfaces["link"].lladdr),)
    # An NS for the RCoA from a router on the link is answered (RFC 4861 §7.2.8).
    router = A("2001:db8:100::fe")
    ns = IPv6Packet(router, solicited_node(RCOA),
                    NeighborSolicitation(RCOA, (SourceLinkLayerAddress(b"\x02" * 6),)),
                    hop_limit=255)
    m.receive(1.0, "link", ns.encode())
    (ifname, pkt), = sent(m, 1.0)
    assert ifname == "link" and pkt.dst == router
    na = pkt.payload
    assert isinstance(na, NeighborAdvertisement) and na.target == RCOA and na.solicited
    assert na.options == (TargetLinkLayerAddress(m.interfaces["link"].lladdr),)
    # DAD by another node for the bound RCoA is defended (to all-nodes).
    m.receive(2.0, "link", IPv6Packet(UNSPECIFIED, solicited_node(RCOA), NeighborSolicitation(RCOA),
                                      hop_limit=255).encode())
    (_, pkt), = sent(m, 2.0)
    assert pkt.dst == ALL_NODES and isinstance(pkt.payload, NeighborAdvertisement)
    # Unbound targets get no answer; a hop limit other than 255 is dropped.
    m.receive(3.0, "link", IPv6Packet(router, solicited_node(RCOA2), NeighborSolicitation(RCOA2),
                                      hop_limit=255).encode())
    m.receive(3.0, "link", IPv6Packet(router, solicited_node(RCOA), NeighborSolicitation(RCOA),
                                      hop_limit=64).encode())
    assert sent(m, 3.0) == []
    assert "nd-hop-limit" in drops(m)


# -- MAP-05 ------------------------------------------------------------------------------------


@pytest.mark.req("MAP-05")
def test_MAP05_reverse_tunnelled_packets_are_decapsulated_and_forwarded() -> None:
    m = make_map()
    register(m)
    events(m)
    inner = IPv6Packet(RCOA, CN, UDP(5000, 4000, b"from the MN")).encode()
    m.receive(1.0, "down", encapsulate_raw(LCOA, MAP_ADDR, inner))
    (ifname, pkt), = sent(m, 1.0)
    assert ifname == "up" and pkt.src == RCOA and pkt.dst == CN and pkt.hop_limit == 63
    assert isinstance(pkt.payload, UDP) and pkt.payload.data == b"from the MN"
    # A home registration through the tunnel (FLOWS.md §1 step 7) leaves the same way.
    ha = A("2001:db8:50::1")
    bu = binding_update(RCOA, ha, A("2001:db8:50::99"), flags=BUFlags.A | BUFlags.H).encode()
    m.receive(1.5, "down", encapsulate_raw(LCOA, MAP_ADDR, bu))
    (_, pkt), = sent(m, 1.5)
    assert pkt.dst == ha and pkt.src == RCOA


@pytest.mark.req("MAP-05")
def test_MAP05_reverse_tunnel_from_a_wrong_lcoa_or_unbound_rcoa_is_dropped_and_counted() -> None:
    m = make_map()
    register(m)
    events(m)
    inner = IPv6Packet(RCOA, CN, UDP(5000, 4000, b"spoof")).encode()
    m.receive(1.0, "down", encapsulate_raw(LCOA2, MAP_ADDR, inner))
    unbound = IPv6Packet(RCOA2, CN, UDP(5000, 4000, b"x")).encode()
    m.receive(1.0, "down", encapsulate_raw(LCOA2, MAP_ADDR, unbound))
    assert sent(m, 1.0) == []
    assert drops(m) == ["reverse-tunnel-mismatch", "reverse-tunnel-unbound"]
    assert m.counters["dropped.reverse-tunnel-mismatch"] == 1
    assert m.counters["dropped.reverse-tunnel-unbound"] == 1


# -- MAP-06 / MAP-08 ---------------------------------------------------------------------------


@pytest.mark.req("MAP-06")
def test_MAP06_lcoa_outside_the_valid_on_link_prefixes_is_refused_with_129() -> None:
    m = make_map(valid_lcoa_prefixes=["2001:db8:200::/48"])
    assert register(m, lcoa=FOREIGN_LCOA).status == BAStatus.ADMINISTRATIVELY_PROHIBITED
    assert RCOA not in m.cache
    assert register(m, lcoa=LCOA, sequence=2).status == BAStatus.ACCEPTED


@pytest.mark.req("MAP-08")
def test_MAP08_previous_map_forwarding_to_a_neighbouring_domain() -> None:
    m = make_map(valid_lcoa_prefixes=["2001:db8:200::/48"],
                 allow_forwarding_to=["2001:db8:300::/48"])
    register(m)
    # The MN moved to the neighbouring domain (same administrative domain): its BU to the
    # previous MAP for the old RCoA with the new LCoA is accepted ...
    assert register(m, 5.0, lcoa=NEIGHBOUR_LCOA, sequence=2).status == BAStatus.ACCEPTED
    # ... and in-flight packets for the old RCoA follow it.
    m.receive(6.0, "up", data_to(RCOA))
    (_, pkt), = sent(m, 6.0)
    assert pkt.dst == NEIGHBOUR_LCOA and isinstance(pkt.payload, IPv6Packet)
    # Outside the allowed neighbourhood the administrator's restriction applies.
    assert register(m, 7.0, lcoa=FOREIGN_LCOA, sequence=3).status == 129
    entry = m.cache.get(RCOA)
    assert entry is not None and entry.care_of == NEIGHBOUR_LCOA


@pytest.mark.req("MAP-08")
def test_MAP08_forwarding_policy_any_and_fully_restricted() -> None:
    anyway = make_map(valid_lcoa_prefixes=["2001:db8:200::/48"], allow_forwarding_to="any")
    assert register(anyway, lcoa=FOREIGN_LCOA).status == BAStatus.ACCEPTED
    strict = make_map(valid_lcoa_prefixes=["2001:db8:200::/48"], allow_forwarding_to=[])
    assert register(strict, lcoa=NEIGHBOUR_LCOA).status == 129


# -- MAP-07 ------------------------------------------------------------------------------------


@pytest.mark.req("MAP-07")
def test_MAP07_expiry_removes_the_entry_and_stops_tunnelling() -> None:
    m = make_map()
    register(m, 0.0, lifetime=100)
    assert m.next_timer() == pytest.approx(100.0)
    m.handle_timer(99.0)
    assert RCOA in m.cache
    m.handle_timer(m.next_timer() or 0.0)
    assert RCOA not in m.cache
    assert [e for e in events(m) if isinstance(e, BindingRemoved)] == [
        BindingRemoved(time=100.0, home_address=RCOA, reason="expired")]
    assert m.next_timer() is None
    m.receive(101.0, "up", data_to(RCOA))
    (_, pkt), = sent(m, 101.0)
    assert isinstance(pkt.payload, DestinationUnreachable)


@pytest.mark.req("MAP-07")
def test_MAP07_refresh_moves_expiry_and_lifetime_zero_deregisters() -> None:
    m = make_map()
    register(m, 0.0, lifetime=100)
    register(m, 80.0, lifetime=100, sequence=2)
    m.handle_timer(100.0)
    assert RCOA in m.cache, "the refreshed entry must survive its old deadline"
    ba = register(m, 90.0, lifetime=0, sequence=3)
    assert (ba.status, ba.lifetime) == (BAStatus.ACCEPTED, 0)
    assert RCOA not in m.cache
    assert BindingRemoved(time=90.0, home_address=RCOA, reason="deregistered") in events(m)
    # Deregistering what is not bound: 133, as a home agent would answer.
    assert register(m, 91.0, lifetime=0, sequence=4).status == 133
    # A care-of address equal to the RCoA also deregisters.
    register(m, 92.0, sequence=5)
    assert register(m, 93.0, lcoa=RCOA, sequence=6).status == BAStatus.ACCEPTED
    assert RCOA not in m.cache


@pytest.mark.req("MAP-07")
def test_MAP07_sequence_window_modulo_2_16_gives_135_with_last_accepted() -> None:
    m = make_map()
    register(m, sequence=65535)
    ba = register(m, 1.0, lcoa=LCOA2, sequence=65535)
    assert (ba.status, ba.sequence) == (BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, 65535)
    ba = register(m, 2.0, lcoa=LCOA2, sequence=65535 - 32768)
    assert ba.status == 135
    entry = m.cache.get(RCOA)
    assert entry is not None and entry.care_of == LCOA
    # Wrap-around: 0 is newer than 65535.
    assert register(m, 3.0, lcoa=LCOA2, sequence=0).status == BAStatus.ACCEPTED


@pytest.mark.req("MAP-07")
def test_MAP07_granted_lifetime_bounded_by_maximum_and_rcoa_prefix_lifetime() -> None:
    assert register(make_map(max_lifetime=200), lifetime=1000).lifetime == 200
    assert register(make_map(prefix_valid_lifetime=150), lifetime=1000).lifetime == 148
    assert register(make_map(), lifetime=40).lifetime == 40


# -- MAP-09 ------------------------------------------------------------------------------------


@pytest.mark.req("MAP-09")
def test_MAP09_map_option_defaults_and_runtime_preference() -> None:
    m = make_map(prefix_valid_lifetime=3600)
    assert m.map_option() == MapOption(dist=1, pref=10, r=True, valid_lifetime=3600,
                                       address=MAP_ADDR)
    m.set_preference(5.0, 0)  # overloaded: new MNs SHOULD NOT choose it
    assert m.map_option().pref == 0
    with pytest.raises(ValueError):
        m.set_preference(6.0, 16)


@pytest.mark.req("MAP-09")
def test_MAP09_map_sends_ras_with_its_option_on_configured_interfaces() -> None:
    m = make_map(advertise_on=["down"], ra_interval=10.0)
    assert m.next_timer() == 0.0
    m.handle_timer(0.0)
    (ifname, pkt), = sent(m)
    assert ifname == "down" and pkt.dst == ALL_NODES and pkt.hop_limit == 255
    assert pkt.src.is_link_local
    ra = pkt.payload
    assert isinstance(ra, RouterAdvertisement) and ra.options == (m.map_option(),)
    nxt = m.next_timer()
    assert nxt is not None and 7.5 <= nxt <= 10.0
    m.set_preference(3.0, 0)
    m.handle_timer(3.0)
    (_, pkt), = sent(m, 3.0)
    assert isinstance(pkt.payload, RouterAdvertisement)
    assert pkt.payload.options[0] == MapOption(1, 0, True, 0xFFFFFFFF, MAP_ADDR)


# -- MAP-10 ------------------------------------------------------------------------------------


@pytest.mark.req("MAP-10")
def test_MAP10_no_binding_means_not_forwarded_counted_and_icmp_rate_limited() -> None:
    m = make_map(icmp_rate=1.0)
    raw = data_to(RCOA2)
    for _ in range(15):
        m.receive(0.0, "up", raw)
    out = sent(m)
    # Nothing goes into the domain; at most the burst of 10 errors goes back.
    assert all(i == "up" for i, _ in out)
    assert len(out) == 10
    _, pkt = out[0]
    err = pkt.payload
    assert isinstance(err, DestinationUnreachable) and err.code == 3
    assert pkt.dst == CN and err.invoking == raw
    assert m.counters["dropped.no-binding"] == 15
    assert m.counters["icmp-rate-limited"] == 5
    m.receive(2.0, "up", raw)
    assert len(sent(m, 2.0)) == 1  # the bucket refilled
    # No ICMP error answers an ICMP error (RFC 4443 §2.4(e)).
    m.receive(3.0, "up", IPv6Packet(CN, RCOA2, DestinationUnreachable(1, b"")).encode())
    assert sent(m, 3.0) == []


def test_echo_requests_are_answered() -> None:
    """RFC 4140 §10: access routers probe the MAP with ICMPv6 Echo."""
    m = make_map()
    ar = A("2001:db8:200:1::1")
    m.receive(0.0, "down", IPv6Packet(ar, MAP_ADDR, EchoRequest(7, 3, b"probe")).encode())
    (ifname, pkt), = sent(m)
    assert ifname == "down" and pkt.src == MAP_ADDR and pkt.dst == ar
    assert pkt.payload == EchoReply(7, 3, b"probe")


def test_restart_loses_volatile_bindings() -> None:
    m = make_map()
    register(m)
    m.crash(1.0)
    m.receive(1.0, "up", data_to(RCOA))
    assert m.datagrams_to_send(1.0) == [] and m.next_timer() is None
    m.restart(2.0)
    assert len(m.cache) == 0


# -- bad input ---------------------------------------------------------------------------------


def _valid_inputs() -> list[bytes]:
    inner = IPv6Packet(RCOA, CN, UDP(1, 2, b"x")).encode()
    return [
        binding_update(LCOA, MAP_ADDR, RCOA).encode(),
        binding_update(LCOA2, MAP_ADDR, RCOA, sequence=2).encode(),
        encapsulate_raw(LCOA, MAP_ADDR, inner),
        data_to(RCOA),
        data_to(RCOA2),
        IPv6Packet(CN, MAP_ADDR, EchoRequest(1, 1, b"")).encode(),
        IPv6Packet(CN, solicited_node(RCOA), NeighborSolicitation(RCOA), hop_limit=255).encode(),
    ]


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_octets_never_raise(data: bytes) -> None:
    m = make_map()
    register(m)
    m.receive(1.0, "down", data)
    m.datagrams_to_send(1.0)
    check_invariants(m, 1.0)


def test_truncated_and_mutated_packets_never_raise_and_are_counted() -> None:
    rng = random.Random(4140)
    m = make_map(valid_lcoa_prefixes=[IPv6Network("2001:db8:200::/48")])
    register(m)
    now = 1.0
    for raw in _valid_inputs():
        for cut in range(len(raw)):
            m.receive(now, "down", raw[:cut])
        for _ in range(200):
            b = bytearray(raw)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            m.receive(now, rng.choice(["down", "up", "link"]), bytes(b))
            now += 0.5
            m.handle_timer(now)
            for t in m.datagrams_to_send(now):
                if t.data[6] == 41 and t.data[8:24] == MAP_ADDR.packed:
                    # Tunnelled as a router forwards: the inner octets are not its business.
                    assert len(t.data) == 40 + int.from_bytes(t.data[4:6], "big")
                else:
                    decode(t.data)  # everything the MAP originates decodes
            check_invariants(m, now)
    evs = events(m)
    assert any(isinstance(e, PacketDropped) and e.reason == "malformed" for e in evs)
    assert m.counters["dropped.malformed"] > 0


# -- the fast paths agree with the codecs and the general path --------------------------------


def test_fast_ba_and_na_octets_equal_the_codecs() -> None:
    from hmipv6.core.anchor import neighbor_advertisement_octets
    from hmipv6.core.registrar import binding_acknowledgement_octets
    from hmipv6.wire.mobility import BAFlags

    ba = IPv6Packet(MAP_ADDR, LCOA, BindingAcknowledgement(0, BAFlags(0), 513, 400),
                    (RoutingHeaderType2(RCOA),)).encode()
    assert binding_acknowledgement_octets(MAP_ADDR.packed, LCOA.packed, RCOA.packed, 0, 513,
                                          400) == ba
    # The ESP fast path's pieces: the MH alone (checksum over MAP -> RCoA) and the clear
    # headers announcing ESP, whose payload length counts the routing header and the ESP.
    from hmipv6.core.registrar import binding_acknowledgement_head, binding_acknowledgement_mh
    assert binding_acknowledgement_mh(MAP_ADDR.packed, RCOA.packed, 0, 513, 400) == ba[64:]
    head = binding_acknowledgement_head(MAP_ADDR.packed, LCOA.packed, RCOA.packed, 40, 135)
    assert head == ba[:64]
    esp_head = binding_acknowledgement_head(MAP_ADDR.packed, LCOA.packed, RCOA.packed, 68, 50)
    assert esp_head[4:6] == (68).to_bytes(2, "big") and esp_head[40] == 50
    assert esp_head[:4] + esp_head[6:40] + esp_head[41:] == ba[:4] + ba[6:40] + ba[41:64]
    mac = b"\x02\x11\x22\x33\x44\x55"
    na = IPv6Packet(MAP_ADDR, ALL_NODES, NeighborAdvertisement(
        RCOA, False, False, True, (TargetLinkLayerAddress(mac),)), hop_limit=255).encode()
    assert neighbor_advertisement_octets(MAP_ADDR.packed, ALL_NODES.packed, RCOA.packed, mac,
                                         router=False, solicited=False, override=True) == na


@pytest.mark.req("MAP-01", "MAP-07")
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.sampled_from([0x8800, 0x0800, 0xC800, 0x8000,
                                                                    0x8C00, 0xFFFF]),
                          st.integers(0, 300).map(lambda u: u * 4), st.integers(0, 2),
                          st.sampled_from([LCOA, LCOA2, FOREIGN_LCOA, RCOA]),
                          st.floats(0, 500)), max_size=8))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_local_bu_path_behaves_exactly_like_the_general_path(
        bus: list[tuple[int, int, int, int, A, float]]) -> None:
    fast = make_map(valid_lcoa_prefixes=["2001:db8:200::/48"], link_addresses=[RCOA2],
                    max_lifetime=600, prefix_valid_lifetime=800)
    slow = make_map(valid_lcoa_prefixes=["2001:db8:200::/48"], link_addresses=[RCOA2],
                    max_lifetime=600, prefix_valid_lifetime=800)
    slow.fast_path = False
    now = 0.0
    for seq, flags, lifetime, low, lcoa, step in bus:
        now += step
        raw = binding_update(lcoa, MAP_ADDR, A(int(RCOA) + low), sequence=seq, flags=flags,
                             lifetime=lifetime).encode()
        for m in (fast, slow):
            m.handle_timer(now)
            m.receive(now, "down", raw)
        assert [(t.ifname, t.data) for t in fast.datagrams_to_send(now)] == \
            [(t.ifname, t.data) for t in slow.datagrams_to_send(now)]
        assert events(fast) == events(slow)
        assert fast.bindings() == slow.bindings()
