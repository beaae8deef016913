"""The correspondent node driven by real packet bytes: return routability and route-optimised
delivery (RFC 6275 §5.2, §9; RFC 4140 §6.4: nothing HMIPv6-specific)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.core import return_routability as rr
from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.events import BindingCacheUpdated, DataReceived
from hmipv6.wire import IPv6Packet, RoutingHeaderType2
from hmipv6.wire.mobility import (
    BAStatus,
    BEStatus,
    BindingAcknowledgement,
    BindingAuthorizationData,
    BindingError,
    BindingUpdate,
    BUFlags,
    CareOfTest,
    CareOfTestInit,
    HomeTest,
    HomeTestInit,
    NonceIndices,
)
from hmipv6.wire.udp import UDP

from .anchor_support import A, drops, events, sent, with_hao

CN = A("2001:db8:cafe::1")
HOA = A("2001:db8:50::99")
RCOA = A("2001:db8:100::a1")
RCOA2 = A("2001:db8:100::a2")


def make_cn(**kw: object) -> CorrespondentNode:
    cn = CorrespondentNode("cn", address=CN, **kw)  # type: ignore[arg-type]
    cn.add_route("::/0", "eth0")
    return cn


def run_rr(cn: CorrespondentNode, now: float, coa: A = RCOA) -> tuple[HomeTest, CareOfTest]:
    """What the mobile node does: HoTI from the HoA (via the HA), CoTI from the CoA."""
    cn.receive(now, "eth0", IPv6Packet(HOA, CN, HomeTestInit(b"homecook")).encode())
    cn.receive(now, "eth0", IPv6Packet(coa, CN, CareOfTestInit(b"carecook")).encode())
    out = sent(cn, now)
    (hot_pkt,) = [p for _, p in out if isinstance(p.payload, HomeTest)]
    (cot_pkt,) = [p for _, p in out if isinstance(p.payload, CareOfTest)]
    assert hot_pkt.dst == HOA and cot_pkt.dst == coa and hot_pkt.src == CN
    assert isinstance(hot_pkt.payload, HomeTest) and isinstance(cot_pkt.payload, CareOfTest)
    return hot_pkt.payload, cot_pkt.payload


def correspondent_bu(hot: HomeTest, cot: CareOfTest | None, *, coa: A = RCOA, sequence: int = 1,
                     lifetime: int = 200, flags: int = BUFlags.A) -> bytes:
    """The MN's BU: Kbm from the tokens, authenticator over (CoA | CN | BU)."""
    kbm = rr.binding_management_key(hot.keygen_token, cot.keygen_token if cot else None)
    nonces = NonceIndices(hot.home_nonce_index, cot.care_of_nonce_index if cot else 0)
    bu = rr.authorize(kbm, coa, CN, BindingUpdate(sequence, BUFlags(flags), lifetime, (nonces,)))
    return with_hao(coa, CN, HOA, bu).encode()


def ba_of(cn: CorrespondentNode, now: float) -> tuple[IPv6Packet, BindingAcknowledgement]:
    (pkt,) = [p for _, p in sent(cn, now) if isinstance(p.payload, BindingAcknowledgement)]
    assert isinstance(pkt.payload, BindingAcknowledgement)
    return pkt, pkt.payload


@pytest.mark.req("CN-01")
def test_CN01_home_and_care_of_tests_carry_real_keygen_tokens() -> None:
    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    assert hot.cookie == b"homecook" and cot.cookie == b"carecook"
    assert cn.nonces is not None
    kcn, nonce = cn.nonces.lookup(hot.home_nonce_index, 0.0) or (b"", b"")
    assert hot.keygen_token == rr.home_keygen_token(kcn, HOA, nonce)
    kcn, nonce = cn.nonces.lookup(cot.care_of_nonce_index, 0.0) or (b"", b"")
    assert cot.keygen_token == rr.care_of_keygen_token(kcn, RCOA, nonce)
    # RFC 6275 §9.4.1: a HoTI with a Home Address option is silently ignored.
    cn.receive(1.0, "eth0", with_hao(RCOA, CN, HOA, HomeTestInit(b"homecook")).encode())
    assert sent(cn, 1.0) == [] and "test-init-with-hao" in drops(cn)


@pytest.mark.req("CN-01")
def test_CN01_authorised_bu_creates_binding_and_authenticated_ba() -> None:
    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    cn.receive(1.0, "eth0", correspondent_bu(hot, cot, lifetime=1000))
    pkt, ba = ba_of(cn, 1.0)
    assert ba.status == BAStatus.ACCEPTED
    assert ba.lifetime == rr.MAX_RR_BINDING_LIFETIME  # RFC 6275 §5.2.6 cap
    assert pkt.dst == RCOA and pkt.extension_headers == (RoutingHeaderType2(HOA),)
    kbm = rr.binding_management_key(hot.keygen_token, cot.keygen_token)
    assert rr.verify(kbm, RCOA, CN, ba)
    entry = cn.cache.get(HOA)
    assert entry is not None and entry.care_of == RCOA
    assert any(isinstance(e, BindingCacheUpdated) for e in events(cn))


@pytest.mark.req("CN-01")
def test_CN01_bad_authenticator_is_silently_dropped() -> None:
    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    forged = HomeTest(hot.home_nonce_index, hot.cookie, b"\x00" * 8)
    cn.receive(1.0, "eth0", correspondent_bu(forged, cot))
    assert sent(cn, 1.0) == [] and HOA not in cn.cache
    assert "bu-bad-authenticator" in drops(cn)
    # Missing authorisation data: discarded too.
    bu = BindingUpdate(1, BUFlags.A, 200, (NonceIndices(hot.home_nonce_index, 0),))
    cn.receive(1.0, "eth0", with_hao(RCOA, CN, HOA, bu).encode())
    assert sent(cn, 1.0) == [] and "bu-unauthorised" in drops(cn)
    # Known nonce indices but an authenticator nobody computed.
    tampered = BindingUpdate(1, BUFlags.A, 200, (NonceIndices(hot.home_nonce_index,
                                                              cot.care_of_nonce_index),
                                                 BindingAuthorizationData(b"\x01" * 12)))
    cn.receive(1.0, "eth0", with_hao(RCOA2, CN, HOA, tampered).encode())
    assert sent(cn, 1.0) == []


@pytest.mark.req("CN-01")
def test_CN01_expired_nonces_give_136_137_138() -> None:
    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    now = 0.0
    while now < 300.0:  # nonces rotate every 30 s and live 240 s
        now = cn.next_timer() or 0.0
        cn.handle_timer(now)
    fresh_hot, fresh_cot = run_rr(cn, now)
    cn.receive(now, "eth0", correspondent_bu(hot, cot))
    assert ba_of(cn, now)[1].status == BAStatus.EXPIRED_NONCES
    cn.receive(now, "eth0", correspondent_bu(hot, fresh_cot))
    _, ba = ba_of(cn, now)
    assert ba.status == BAStatus.EXPIRED_HOME_NONCE_INDEX
    assert not any(isinstance(o, BindingAuthorizationData) for o in ba.options)
    cn.receive(now, "eth0", correspondent_bu(fresh_hot, cot))
    assert ba_of(cn, now)[1].status == BAStatus.EXPIRED_CARE_OF_NONCE_INDEX
    cn.receive(now, "eth0", correspondent_bu(fresh_hot, fresh_cot))
    assert ba_of(cn, now)[1].status == BAStatus.ACCEPTED


@pytest.mark.req("CN-01")
def test_CN01_sequence_window_and_deregistration_with_home_token_only() -> None:
    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    cn.receive(1.0, "eth0", correspondent_bu(hot, cot, sequence=10))
    ba_of(cn, 1.0)
    cn.receive(2.0, "eth0", correspondent_bu(hot, cot, sequence=9))
    _, ba = ba_of(cn, 2.0)
    assert (ba.status, ba.sequence) == (BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, 10)
    # Without A, an accepted BU is not acknowledged (RFC 6275 §9.5.4 SHOULD NOT).
    cn.receive(3.0, "eth0", correspondent_bu(hot, cot, sequence=11, flags=0))
    assert sent(cn, 3.0) == []
    # Deregistration: Kbm = SHA1(home keygen token); care-of nonce index ignored.
    cn.receive(4.0, "eth0", correspondent_bu(hot, None, sequence=12, lifetime=0))
    _, ba = ba_of(cn, 4.0)
    assert (ba.status, ba.lifetime) == (BAStatus.ACCEPTED, 0)
    assert HOA not in cn.cache
    # A home registration to a plain CN: 131.
    cn.receive(5.0, "eth0", with_hao(RCOA, CN, HOA, BindingUpdate(13, BUFlags.A | BUFlags.H,
                                                                    200)).encode())
    assert ba_of(cn, 5.0)[1].status == BAStatus.HOME_REGISTRATION_NOT_SUPPORTED


@pytest.mark.req("CN-01")
def test_CN01_binding_expires() -> None:
    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    cn.receive(1.0, "eth0", correspondent_bu(hot, cot, lifetime=100))
    sent(cn, 1.0)
    t = 1.0
    while HOA in cn.cache and t < 200:
        t = cn.next_timer() or 200.0
        cn.handle_timer(t)
    assert HOA not in cn.cache and 101.0 <= t <= 101.1


@pytest.mark.req("CN-02")
def test_CN02_route_optimised_delivery_uses_rh2_with_the_home_address() -> None:
    cn = make_cn()
    assert cn.send(0.0, HOA, b"before")
    (_, pkt), = sent(cn)
    assert pkt.dst == HOA and pkt.extension_headers == ()
    hot, cot = run_rr(cn, 0.0)
    cn.receive(1.0, "eth0", correspondent_bu(hot, cot))
    sent(cn, 1.0)
    cn.send(2.0, HOA, b"after")
    (_, pkt), = sent(cn, 2.0)
    assert pkt.dst == RCOA and pkt.extension_headers == (RoutingHeaderType2(HOA),)
    assert pkt.effective_dst == HOA
    assert isinstance(pkt.payload, UDP) and pkt.payload.data == b"after"


@pytest.mark.req("CN-02")
def test_CN02_packets_with_hao_accepted_only_with_a_matching_binding() -> None:
    cn = make_cn()
    data = with_hao(RCOA, CN, HOA, UDP(1, 2, b"ro")).encode()
    cn.receive(0.0, "eth0", data)
    (_, pkt), = sent(cn)
    assert pkt.dst == RCOA and pkt.payload == BindingError(
        BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION, HOA)
    assert "hao-no-binding" in drops(cn)
    hot, cot = run_rr(cn, 1.0)
    cn.receive(1.0, "eth0", correspondent_bu(hot, cot))
    sent(cn, 1.0)
    events(cn)
    cn.receive(2.0, "eth0", data)
    assert sent(cn, 2.0) == []
    (got,) = [e for e in events(cn) if isinstance(e, DataReceived)]
    assert got.src == HOA and got.dst == CN
    # From a care-of address other than the registered one: dropped with a Binding Error.
    cn.receive(3.0, "eth0", with_hao(RCOA2, CN, HOA, UDP(1, 2, b"x")).encode())
    (_, pkt), = sent(cn, 3.0)
    assert isinstance(pkt.payload, BindingError)


@given(st.binary(max_size=160))
@settings(max_examples=300, deadline=None)
def test_random_octets_never_raise(data: bytes) -> None:
    cn = make_cn()
    cn.receive(0.0, "eth0", data)
    cn.datagrams_to_send(0.0)


def test_mutated_bus_never_raise_and_never_bind_unauthorised() -> None:
    rng = random.Random(9)
    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    raw = correspondent_bu(hot, cot, coa=RCOA2)
    for cut in range(len(raw)):
        cn.receive(1.0, "eth0", raw[:cut])
    for _ in range(500):
        b = bytearray(raw)
        b[rng.randrange(40, len(b))] ^= 1 << rng.randrange(8)
        cn.receive(1.0, "eth0", bytes(b))
        cn.datagrams_to_send(1.0)
    # A flipped bit breaks the checksum or the authenticator, or sits in padding outside
    # both (then the BU is the genuine one): nothing but the genuine binding can appear.
    assert all(e.address == HOA and e.care_of == RCOA2 for e in cn.cache)
    assert cn.counters["dropped.malformed"] > 0


@pytest.mark.req("CN-01")
def test_CN01_deletion_is_authorised_by_the_home_token_from_any_care_of_address() -> None:
    """RFC 6275 §5.2.5 / §9.5.1: a request to delete a binding uses Kbm = SHA1(home keygen
    token) and care-of nonce indices are not inspected, so it verifies from a care-of address
    other than the tested one (found by the correspondent state machine). A registration from
    that address does not."""
    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    cn.receive(1.0, "eth0", correspondent_bu(hot, cot, lifetime=400))
    assert cn.cache.get(HOA) is not None
    sent(cn, 1.0)
    cn.receive(2.0, "eth0", correspondent_bu(hot, cot, coa=RCOA2, sequence=2, lifetime=200))
    assert sent(cn, 2.0) == [] and "bu-bad-authenticator" in drops(cn)
    cn.receive(3.0, "eth0", correspondent_bu(hot, None, coa=RCOA2, sequence=3, lifetime=0))
    pkt, ba = ba_of(cn, 3.0)
    assert ba.status == BAStatus.ACCEPTED and pkt.dst == RCOA2
    assert cn.cache.get(HOA) is None
