"""The home agent driven by real packet bytes (RFC 6275 §10; RFC 4140 §6.3: with HMIPv6 the
care-of address is the RCoA and nothing else changes)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmipv6.core.events import BindingCacheUpdated
from hmipv6.core.home_agent import HomeAgent
from hmipv6.core.node import encapsulate_raw
from hmipv6.wire import IPv6Packet, RoutingHeaderType2, decode
from hmipv6.wire.addr import ALL_NODES, solicited_node
from hmipv6.wire.icmpv6 import NeighborAdvertisement, NeighborSolicitation
from hmipv6.wire.mobility import (
    BAStatus,
    BindingAcknowledgement,
    BUFlags,
    HomeTest,
    HomeTestInit,
)
from hmipv6.wire.udp import UDP

from .anchor_support import A, binding_update, drops, events, sent

HA = A("2001:db8:50::1")
HOA = A("2001:db8:50::99")
HOA2 = A("2001:db8:50::98")
RCOA = A("2001:db8:100::a1")  # the MN's care-of address at the HA is its RCoA
RCOA2 = A("2001:db8:100::a2")
CN = A("2001:db8:cafe::1")
HOME_REG = BUFlags.A | BUFlags.H


def make_ha(**kw: object) -> HomeAgent:
    ha = HomeAgent("ha", address=HA, ifname="home", **kw)  # type: ignore[arg-type]
    ha.add_interface("up")
    ha.add_route("::/0", "up")
    return ha


def home_bu(ha: HomeAgent, now: float = 0.0, *, hoa: A = HOA, coa: A = RCOA, sequence: int = 1,
            lifetime: int = 400, flags: int = HOME_REG) -> tuple[IPv6Packet, BindingAcknowledgement]:
    ha.receive(now, "up", binding_update(coa, HA, hoa, sequence=sequence, lifetime=lifetime,
                                         flags=flags).encode())
    (pkt,) = [p for _, p in sent(ha, now) if isinstance(p.payload, BindingAcknowledgement)]
    assert isinstance(pkt.payload, BindingAcknowledgement)
    return pkt, pkt.payload


@pytest.mark.req("HA-01")
def test_HA01_home_registration_binds_hoa_to_rcoa_and_acks_with_rh2() -> None:
    ha = make_ha()
    pkt, ba = home_bu(ha)
    assert (ba.status, ba.sequence, ba.lifetime) == (BAStatus.ACCEPTED, 1, 400)
    assert pkt.src == HA and pkt.dst == RCOA
    assert pkt.extension_headers == (RoutingHeaderType2(HOA),)
    entry = ha.cache.get(HOA)
    assert entry is not None and entry.care_of == RCOA and entry.flags & BUFlags.H
    assert BindingCacheUpdated(time=0.0, home_address=HOA, care_of_address=RCOA, lifetime=400,
                               created=True) in events(ha)


@pytest.mark.req("HA-01")
def test_HA01_proxy_nd_for_the_home_address() -> None:
    ha = make_ha()
    ha.receive(0.0, "up", binding_update(RCOA, HA, HOA, flags=HOME_REG).encode())
    nas = [(i, p) for i, p in sent(ha) if isinstance(p.payload, NeighborAdvertisement)]
    (ifname, pkt), = nas
    assert ifname == "home" and pkt.dst == ALL_NODES and pkt.src == HA and pkt.hop_limit == 255
    assert isinstance(pkt.payload, NeighborAdvertisement)
    assert pkt.payload.target == HOA and pkt.payload.override and not pkt.payload.router
    neighbour = A("2001:db8:50::7")
    ha.receive(1.0, "home", IPv6Packet(neighbour, solicited_node(HOA), NeighborSolicitation(HOA),
                                       hop_limit=255).encode())
    (_, pkt), = sent(ha, 1.0)
    assert pkt.dst == neighbour and isinstance(pkt.payload, NeighborAdvertisement)
    assert pkt.payload.target == HOA and pkt.payload.solicited and not pkt.payload.router


@pytest.mark.req("HA-01")
def test_HA01_tunnels_to_the_care_of_address_and_accepts_reverse_tunnel() -> None:
    ha = make_ha()
    home_bu(ha)
    raw = IPv6Packet(CN, HOA, UDP(1, 2, b"to the MN")).encode()
    ha.receive(1.0, "up", raw)
    (ifname, outer), = sent(ha, 1.0)
    assert ifname == "up" and outer.src == HA and outer.dst == RCOA
    assert isinstance(outer.payload, IPv6Packet) and outer.payload.dst == HOA
    assert outer.payload.hop_limit == 63
    # Reverse tunnel: outer source = the binding's CoA, inner source = HoA.
    inner = IPv6Packet(HOA, CN, UDP(2, 1, b"from the MN")).encode()
    ha.receive(2.0, "up", encapsulate_raw(RCOA, HA, inner))
    (_, pkt), = sent(ha, 2.0)
    assert pkt.src == HOA and pkt.dst == CN
    # From any other outer source it is dropped and counted.
    ha.receive(3.0, "up", encapsulate_raw(RCOA2, HA, inner))
    assert sent(ha, 3.0) == [] and "reverse-tunnel-mismatch" in drops(ha)


@pytest.mark.req("HA-01")
def test_HA01_relays_return_routability_home_test_messages() -> None:
    ha = make_ha()
    home_bu(ha)
    hoti = IPv6Packet(HOA, CN, HomeTestInit(b"cookie01")).encode()
    ha.receive(1.0, "up", encapsulate_raw(RCOA, HA, hoti))
    (_, pkt), = sent(ha, 1.0)
    assert pkt.src == HOA and pkt.dst == CN and isinstance(pkt.payload, HomeTestInit)
    hot = IPv6Packet(CN, HOA, HomeTest(7, b"cookie01", b"token-01")).encode()
    ha.receive(2.0, "up", hot)
    (_, outer), = sent(ha, 2.0)
    assert outer.dst == RCOA and isinstance(outer.payload, IPv6Packet)
    assert isinstance(outer.payload.payload, HomeTest)


@pytest.mark.req("HA-02")
def test_HA02_status_codes_131_132_133() -> None:
    assert home_bu(make_ha(enabled=False))[1].status == BAStatus.HOME_REGISTRATION_NOT_SUPPORTED
    assert home_bu(make_ha(), hoa=A("2001:db8:51::1"))[1].status == BAStatus.NOT_HOME_SUBNET
    ha = make_ha(home_addresses=[HOA])
    assert home_bu(ha, hoa=HOA2)[1].status == BAStatus.NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE
    # Deregistering without a binding: 133 (RFC 6275 §10.3.2).
    assert home_bu(make_ha(), lifetime=0)[1].status == 133


@pytest.mark.req("HA-02")
def test_HA02_sequence_window_and_dad_and_type_change() -> None:
    ha = make_ha(link_addresses=[HOA2])
    assert home_bu(ha, hoa=HOA2)[1].status == BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
    home_bu(ha, sequence=100)
    _, ba = home_bu(ha, 1.0, sequence=100, coa=RCOA2)
    assert (ba.status, ba.sequence) == (BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, 100)
    # RFC 6275 §9.5.1: same home address, H cleared → 139, entry unchanged.
    _, ba = home_bu(ha, 2.0, sequence=101, flags=BUFlags.A)
    assert ba.status == BAStatus.REGISTRATION_TYPE_CHANGE_DISALLOWED
    entry = ha.cache.get(HOA)
    assert entry is not None and entry.care_of == RCOA and entry.sequence == 100


@pytest.mark.req("HA-02")
def test_HA02_lifetime_limits_and_deregistration() -> None:
    ha = make_ha(max_lifetime=300, prefix_valid_lifetime=250)
    assert home_bu(ha, lifetime=1000)[1].lifetime == 248
    _, ba = home_bu(ha, 1.0, lifetime=0, sequence=2)
    assert (ba.status, ba.lifetime) == (BAStatus.ACCEPTED, 0)
    assert HOA not in ha.cache
    # At home: the MN deregisters from its home address, no HAO; BA without RH2.
    home_bu(ha, 2.0, sequence=3)
    ha.receive(3.0, "home", binding_update(HOA, HA, None, sequence=4, lifetime=0,
                                           flags=HOME_REG).encode())
    (pkt,) = [p for _, p in sent(ha, 3.0) if isinstance(p.payload, BindingAcknowledgement)]
    assert pkt.dst == HOA and pkt.extension_headers == ()
    assert HOA not in ha.cache
    # A BU without H from someone with no binding is a correspondent registration: dropped.
    ha.receive(4.0, "up", binding_update(RCOA, HA, HOA2, flags=BUFlags.A).encode())
    assert sent(ha, 4.0) == [] and "bu-not-home" in drops(ha)


@pytest.mark.req("HA-02")
@given(flags=st.integers(0, 0xFFFF), seq=st.integers(0, 0xFFFF),
       lifetime=st.integers(0, 2000).map(lambda u: u * 4), hoa_low=st.integers(0x97, 0x99))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_HA02_random_bu_fields_give_valid_statuses(flags: int, seq: int, lifetime: int,
                                                   hoa_low: int) -> None:
    ha = make_ha(max_lifetime=600)
    hoa = A(int(HOA) - 0x99 + hoa_low)
    for now in (0.0, 1.0):
        ha.receive(now, "up", binding_update(RCOA, HA, hoa, sequence=seq, flags=flags,
                                             lifetime=lifetime).encode())
        for _, p in sent(ha, now):
            if isinstance(p.payload, BindingAcknowledgement):
                assert p.payload.status in {0, 1, *range(128, 140)}
                assert p.payload.lifetime <= min(600, lifetime)
        for e in ha.bindings():
            assert e.expires > now and e.address in ha.served_prefixes[0]
            assert e.flags & BUFlags.H


def test_random_and_mutated_octets_never_raise() -> None:
    rng = random.Random(6275)
    ha = make_ha()
    home_bu(ha)
    inputs = [binding_update(RCOA, HA, HOA, sequence=2, flags=HOME_REG).encode(),
              encapsulate_raw(RCOA, HA, IPv6Packet(HOA, CN, UDP(1, 2, b"x")).encode()),
              IPv6Packet(CN, HOA, UDP(1, 2, b"y")).encode()]
    for raw in inputs:
        for cut in range(len(raw)):
            ha.receive(1.0, "up", raw[:cut])
        for _ in range(300):
            b = bytearray(raw)
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            ha.receive(1.0, rng.choice(["up", "home"]), bytes(b))
            ha.datagrams_to_send(1.0)
    for _ in range(300):
        ha.receive(1.0, "up", rng.randbytes(rng.randrange(120)))
    assert ha.counters["dropped.malformed"] > 0
    for e in ha.bindings():
        assert e.expires > 1.0
    decode(inputs[0])
