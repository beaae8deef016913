"""core.ike: IKEv2 between a mobile node and its MAP, end to end into the MAP engine.

Rows: X5380-05 (IKEv2 by MN and MAP for the MN–MAP SA, RFC 5380 §12.1), SEC-06 (key
establishment), SEC-03 (the SA is set for the RCoA), SEC-04 (a second identity claiming an
existing RCoA is refused, TS_UNACCEPTABLE; the MN then succeeds with a new RCoA).
"""

from __future__ import annotations

import random
from ipaddress import IPv6Address

import pytest

from hmipv6.core.ike import Established, Failed, IkeInitiator, IkeResponder, NotifyType, RcoaRefused
from hmipv6.core.ike.message import Configuration, ExchangeType, Flags, Message, Notify, decode
from hmipv6.core.ike.transport import ike_message, ike_packet, run_exchange
from hmipv6.core.ipsec import IPsec
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload
from hmipv6.wire.ipv6 import decode as decode_ipv6
from hmipv6.wire.mobility import BindingAcknowledgement
from hmipv6.wire.udp import UDP
from tests.core.ipsec_support import LCOA_A, LCOA_B, MAP, RCOA_A, RCOA_B, RCOA_PREFIX, bu, local_bu

PSKS = {"mn-a": b"psk of mn-a", "mn-b": b"psk of mn-b", "mn-c.example.net": b"c"}


def responder(map_ipsec: IPsec, seed: int = 2, **kw: object) -> IkeResponder:
    return IkeResponder(map_ipsec, identity="map", address=MAP, rcoa_prefix=RCOA_PREFIX,
                        psks=PSKS, rng=random.Random(seed), **kw)  # type: ignore[arg-type]


def initiator(mn: IPsec, ident: str = "mn-a", rcoa: IPv6Address | None = RCOA_A,
              psk: bytes | None = None, seed: int = 1, **kw: object) -> IkeInitiator:
    return IkeInitiator(mn, identity=ident, psk=PSKS[ident] if psk is None else psk,
                        map_address=MAP, rcoa=rcoa, rng=random.Random(seed), **kw)  # type: ignore[arg-type]


def map_engine(map_ipsec: IPsec) -> MobilityAnchorPoint:
    m = MobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=map_ipsec)
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    return m


def send_bu(m: MobilityAnchorPoint, mn: IPsec, lcoa: IPv6Address, rcoa: IPv6Address,
            seq: int, peer: str = "map") -> BindingAcknowledgement | None:
    """An ESP-protected local BU into the MAP engine; the BA it answers (opened by ``mn``)."""
    packet = mn.protect(0.0, local_bu(lcoa, rcoa, bu(seq=seq)))
    assert isinstance(packet.payload, EncapsulatingSecurityPayload)
    m.receive(0.0, "eth0", packet.encode())
    for tx in m.datagrams_to_send(0.0):
        p = decode_ipv6(tx.data)
        if isinstance(p.payload, EncapsulatingSecurityPayload):
            got = mn.unprotect(0.0, p)
            assert got.peer == peer
            assert isinstance(got.packet.payload, BindingAcknowledgement)
            return got.packet.payload
    return None


@pytest.mark.req("X5380-05", "SEC-06", "SEC-03")
@pytest.mark.parametrize("suite", ["esp-null-hmac-sha256", "esp-aes-cbc-hmac-sha256", "esp-aes-gcm"])
def test_X5380_05_ike_then_esp_local_bu_accepted_by_the_map(suite: str) -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini = initiator(mn, suites=(suite,))
    res = responder(mp)
    trace: list[tuple[float, object]] = []
    out = run_exchange(ini, res, lcoa=LCOA_A, trace=trace)  # type: ignore[arg-type]
    assert isinstance(out, Established) and out.peer == "map" and out.rcoa == RCOA_A
    assert len(trace) == 4  # IKE_SA_INIT and IKE_AUTH, request and response each
    (ev,) = res.events
    assert isinstance(ev, Established) and ev.peer == "mn-a" and ev.rcoa == RCOA_A
    # Keys derived equal on both ends: IKE SA and Child SA (each end's outbound = other's in).
    assert ev.keys == out.keys
    assert out.child.outbound == ev.child.inbound.__class__(**{
        **{f: getattr(ev.child.inbound, f) for f in ("spi", "protocol", "src", "dst", "enc",
                                                      "enc_key", "auth", "auth_key",
                                                      "replay_window")}, "peer": "map"})
    assert out.child.outbound.enc_key == ev.child.inbound.enc_key
    assert out.child.outbound.auth_key == ev.child.inbound.auth_key
    assert out.child.inbound.spi == ev.child.outbound.spi
    assert out.child.inbound.enc_key == ev.child.outbound.enc_key
    assert out.child.inbound.auth_key == ev.child.outbound.auth_key
    assert out.child.suite == suite
    # SEC-03: the SA is set for the RCoA, not the LCoA.
    assert str(out.child.outbound.src) == f"{RCOA_A}/128"
    assert mp.pad.owner(RCOA_A) == "mn-a"
    # The MN's local BU is now ESP-protected with the negotiated keys, and the MAP accepts it.
    m = map_engine(mp)
    ba = send_bu(m, mn, LCOA_A, RCOA_A, 1)
    assert ba is not None and ba.status == 0 and ba.sequence == 1
    entry = m.cache.get(RCOA_A, 0.0)
    assert entry is not None and entry.care_of == LCOA_A and entry.peer == "mn-a"


@pytest.mark.req("X5380-05", "SEC-06")
def test_X5380_05_wrong_psk_gives_authentication_failed_and_no_sa() -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    out = run_exchange(initiator(mn, psk=b"not the psk"), res := responder(mp), lcoa=LCOA_A)
    assert out == Failed("notify", NotifyType.AUTHENTICATION_FAILED)
    assert len(mn.sad) == 0 and len(mp.sad) == 0 and mp.pad.owner(RCOA_A) is None
    assert res.counters["auth-failed"] == 1
    assert isinstance(res.events[0], Failed) and res.events[0].peer == "mn-a"
    # The BU then has no SA and is not sent in clear (no policy at all on the MN: bypass), and
    # the MAP (whose policy was never installed) still refuses to bind without an SA.


@pytest.mark.req("X5380-05")
def test_X5380_05_unknown_identity_is_an_authentication_failure() -> None:
    mn, mp = IPsec(name="mn-x"), IPsec(name="map")
    ini = IkeInitiator(mn, identity="mn-x", psk=b"x", map_address=MAP, rcoa=RCOA_A,
                       rng=random.Random(5))
    assert run_exchange(ini, responder(mp), lcoa=LCOA_A) == Failed(
        "notify", NotifyType.AUTHENTICATION_FAILED)


@pytest.mark.req("SEC-04", "X5380-05")
def test_SEC_04_second_identity_claiming_an_existing_rcoa_is_refused_then_new_rcoa_works() -> None:
    mp = IPsec(name="map")
    res = responder(mp)
    a, b = IPsec(name="mn-a"), IPsec(name="mn-b")
    assert isinstance(run_exchange(initiator(a), res, lcoa=LCOA_A), Established)
    refused = run_exchange(initiator(b, "mn-b", RCOA_A, seed=3), res, lcoa=LCOA_B)
    # Authenticated (the MAP's AUTH verified: peer known) but no Child SA for that RCoA.
    assert refused == RcoaRefused("map", RCOA_A, NotifyType.TS_UNACCEPTABLE)
    assert res.events[-1] == RcoaRefused("mn-b", RCOA_A, NotifyType.TS_UNACCEPTABLE)
    assert len(b.sad) == 0 and mp.pad.owner(RCOA_A) == "mn-a"
    # MN-23: the MN picks a new RCoA and runs IKE again.
    ok = run_exchange(initiator(b, "mn-b", RCOA_B, seed=4), res, lcoa=LCOA_B)
    assert isinstance(ok, Established) and ok.rcoa == RCOA_B and mp.pad.owner(RCOA_B) == "mn-b"
    m = map_engine(mp)
    ba_a = send_bu(m, a, LCOA_A, RCOA_A, 1)
    ba_b = send_bu(m, b, LCOA_B, RCOA_B, 1)
    assert ba_a is not None and ba_a.status == 0
    assert ba_b is not None and ba_b.status == 0
    cache_a = m.cache.get(RCOA_A, 0.0)
    assert cache_a is not None and cache_a.peer == "mn-a"


@pytest.mark.req("X5380-05")
def test_X5380_05_rcoa_allocated_by_the_map_through_cp() -> None:
    """RFC 5380 R flag / RFC 4877 §9: the MN asks, the MAP allocates from its prefix."""
    mn, mp = IPsec(name="mn-c"), IPsec(name="map")
    trace: list[tuple[float, object]] = []
    out = run_exchange(initiator(mn, "mn-c.example.net", None), responder(mp), lcoa=LCOA_A,
                       trace=trace)  # type: ignore[arg-type]
    assert isinstance(out, Established) and out.rcoa in RCOA_PREFIX and out.rcoa != MAP
    assert mp.pad.owner(out.rcoa) == "mn-c.example.net"
    m = map_engine(mp)
    ba = send_bu(m, mn, LCOA_A, out.rcoa, 1)
    assert ba is not None and ba.status == 0


@pytest.mark.req("X5380-05")
def test_X5380_05_dh_group_14_and_invalid_ke_retry() -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    out = run_exchange(initiator(mn, dh_group=14), responder(mp), lcoa=LCOA_A)
    assert isinstance(out, Established)
    # A MAP that only takes group 14 answers INVALID_KE_PAYLOAD(14); the MN retries with it.
    mn2, mp2 = IPsec(name="mn-a"), IPsec(name="map")
    ini = initiator(mn2)
    res = responder(mp2, dh_groups=(14,))
    out2 = run_exchange(ini, res, lcoa=LCOA_A)
    assert isinstance(out2, Established) and ini.group == 14
    assert res.counters[f"notify-{NotifyType.INVALID_KE_PAYLOAD}"] == 1


@pytest.mark.req("X5380-05")
def test_X5380_05_no_common_child_suite_gives_no_proposal_chosen() -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    out = run_exchange(initiator(mn, suites=("esp-aes-gcm",)), responder(
        mp, suites=("esp-null-hmac-sha256",)), lcoa=LCOA_A)
    assert out == Failed("notify", NotifyType.NO_PROPOSAL_CHOSEN, "map")
    assert len(mn.sad) == 0 and len(mp.sad) == 0


@pytest.mark.req("X5380-05")
def test_X5380_05_lost_messages_are_retransmitted_and_answered_from_cache() -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini, res = initiator(mn), responder(mp)
    # Lose the first IKE_SA_INIT request and the first IKE_AUTH response.
    lost = {0, 4}
    out = run_exchange(ini, res, lcoa=LCOA_A, lose=lambda i, _: i in lost)
    assert isinstance(out, Established)
    assert ini.counters["retransmit"] == 2
    # The IKE_AUTH response came from the cache (of the IKE SA the responder now keeps).
    assert [sa.counters["retransmit-answered"] for sa in res.ike_sas.values()] == [1]
    assert res.counters["child-sa"] == 1 and len(mp.sad) == 2


@pytest.mark.req("X5380-05")
def test_X5380_05_initiator_gives_up_after_its_retransmissions() -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini = initiator(mn)
    assert run_exchange(ini, responder(mp), lcoa=LCOA_A, lose=lambda i, _: True) == Failed("timeout")
    assert ini.next_timer() is None and ini.counters["retransmit"] == 5


def test_ike_travels_in_udp_port_500() -> None:
    mn = IPsec(name="mn-a")
    first = initiator(mn).start(0.0)
    pkt = decode_ipv6(ike_packet(LCOA_A, MAP, first).encode())
    assert isinstance(pkt.payload, UDP) and pkt.payload.src_port == pkt.payload.dst_port == 500
    data = ike_message(pkt)
    assert data == first
    msg = decode(first)
    assert msg.exchange == ExchangeType.IKE_SA_INIT and msg.flags == Flags.INITIATOR
    assert msg.message_id == 0 and msg.spi_r == 0


def test_determinism_same_seeds_same_octets() -> None:
    def run() -> list[bytes]:
        trace: list[tuple[float, object]] = []
        run_exchange(initiator(IPsec(name="mn-a")), responder(IPsec(name="map")), lcoa=LCOA_A,
                     trace=trace)  # type: ignore[arg-type]
        return [p.encode() for _, p in trace]  # type: ignore[attr-defined]

    assert run() == run()


def test_codec_round_trips_every_payload_we_build() -> None:
    msg = Message(1, 2, ExchangeType.IKE_AUTH, Flags.INITIATOR, 1, (
        Configuration(1, ()), Notify(NotifyType.USE_TRANSPORT_MODE)))
    assert decode(msg.encode()) == msg


@pytest.mark.req("X5380-05", "SEC-06", "SEC-04")
def test_X5380_05_map_engine_answers_ike_on_udp_500_then_accepts_the_protected_bu() -> None:
    from hmipv6.core.ike.engines import IkeMobilityAnchorPoint

    mp = IPsec(name="map")
    m = IkeMobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=mp)
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    m.ike = responder(mp)

    def run(mn: IPsec, ini: IkeInitiator, lcoa: IPv6Address) -> object:
        pending = [ini.start(0.0)]
        while pending and ini.outcome is None:
            req = pending.pop(0)
            m.receive(0.0, "eth0", ike_packet(lcoa, MAP, req).encode())
            for tx in m.datagrams_to_send(0.0):
                pkt = decode_ipv6(tx.data)
                data = ike_message(pkt) if pkt.dst == lcoa else None
                if data is not None:
                    pending += ini.receive(0.0, data)
        return ini.outcome

    a, b = IPsec(name="mn-a"), IPsec(name="mn-b")
    assert isinstance(run(a, initiator(a), LCOA_A), Established)
    assert m.counters["ike-in"] == 2 and m.counters["ike-out"] == 2
    assert run(b, initiator(b, "mn-b", RCOA_A, seed=3), LCOA_B) == RcoaRefused(
        "map", RCOA_A, NotifyType.TS_UNACCEPTABLE)
    assert isinstance(run(b, initiator(b, "mn-b", RCOA_B, seed=4), LCOA_B), Established)
    ba = send_bu(m, a, LCOA_A, RCOA_A, 1)
    assert ba is not None and ba.status == 0
    ba = send_bu(m, b, LCOA_B, RCOA_B, 1)
    assert ba is not None and ba.status == 0
    # Without a responder the subclass is the plain MAP: UDP 500 is just data.
    m.ike = None
    m.receive(0.0, "eth0", ike_packet(LCOA_A, MAP, initiator(IPsec()).start(0.0)).encode())
    assert m.counters["ike-in"] == 6
