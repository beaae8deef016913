"""Issue 9 item 7: a spoofed IKE_SA_INIT flood against the MAP (RFC 5380 profile) must not
evict genuine half-open exchanges: above its half-open threshold the responder answers with
stateless cookies (RFC 7296 §2.6), and the genuine initiators retry with theirs."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from hmipv6.core.ike import Established, NotifyType
from hmipv6.core.ike.message import decode
from hmipv6.core.ipsec import IPsec
from tests.core.ipsec_support import LCOA_A, MAP, RCOA_A, RCOA_PREFIX
from tests.core.test_ike import initiator, responder, send_bu
from tests.core.test_ike_lifecycle import spoofed_init


@pytest.mark.req("X5380-05")
def test_spoofed_ike_sa_init_flood_through_the_map_engine_evicts_no_genuine_exchange() -> None:
    """Issue 9 item 7: scapy-built IKE_SA_INIT packets from 1,500 spoofed sources (far beyond
    its 64 states) reach the MAP engine (UDP 500) while two genuine MNs are half-way through
    their exchanges; above the cookie threshold the flood gets stateless COOKIE answers,
    nothing is evicted, and both MNs
    complete (their local BUs are then accepted)."""
    scapy = pytest.importorskip("scapy.all")
    from hmipv6.core.ike.engines import IkeMobilityAnchorPoint
    from hmipv6.core.ike.transport import ike_message, ike_packet
    from hmipv6.wire.ipv6 import decode as decode_ipv6
    from tests.core.ipsec_support import LCOA_B, RCOA_B

    mp = IPsec(name="map")
    m = IkeMobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=mp)
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    m.ike = responder(mp, cookie_threshold=2, max_sas=64)

    def to_map(lcoa: IPv6Address, data: bytes) -> list[bytes]:
        m.receive(0.0, "eth0", ike_packet(lcoa, MAP, data).encode())
        out = []
        for tx in m.datagrams_to_send(0.0):
            p = decode_ipv6(tx.data)
            got = ike_message(p) if p.dst == lcoa else None
            if got is not None:
                out.append(got)
        return out

    a, b = IPsec(name="mn-a"), IPsec(name="mn-b")
    ia, ib = initiator(a), initiator(b, "mn-b", RCOA_B, seed=3)
    half = [(ia, LCOA_A, to_map(LCOA_A, ia.start(0.0))), (ib, LCOA_B, to_map(LCOA_B, ib.start(0.0)))]
    assert m.ike.half_open == 2
    cookies = 0
    for i in range(1500):
        src = f"2001:db8:bad:{i >> 16:x}:{i & 0xFFFF:x}::1"
        pkt = scapy.IPv6(src=src, dst=str(MAP)) / scapy.UDP(sport=500, dport=500) / scapy.Raw(
            spoofed_init(i % 50))
        m.receive(0.0, "eth0", bytes(pkt))
        for tx in m.datagrams_to_send(0.0):
            reply = decode_ipv6(tx.data)
            data = ike_message(reply)
            assert data is not None and reply.dst == IPv6Address(src)
            cookies += decode(data).payloads[0].type == NotifyType.COOKIE  # type: ignore[attr-defined]
    assert cookies == 1500 and m.ike.half_open == 2 and m.ike.counters["evicted"] == 0
    for ini, lcoa, first in half:
        pending = [r for d in first for r in ini.receive(0.0, d)]
        while pending and ini.outcome is None:
            pending = [r for req in pending for d in to_map(lcoa, req) for r in ini.receive(0.0, d)]
        assert isinstance(ini.outcome, Established)
    ba = send_bu(m, a, LCOA_A, RCOA_A, 1)
    assert ba is not None and ba.status == 0
    ba = send_bu(m, b, LCOA_B, RCOA_B, 1)
    assert ba is not None and ba.status == 0
