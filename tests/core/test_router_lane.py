"""The router's octet lane (``Router.forward_octets``) equals the general path (decode, then
``Node.process`` and ``Router.forward``) on every packet, forwarded or not: hop limit expiry,
link-local addresses, multicast, packets for the router itself, no route, malformed input;
and ``wire.ipv6.decodes`` says exactly whether ``decode`` succeeds."""

from __future__ import annotations

import random
from ipaddress import IPv6Address

from hmipv6.core.access_router import AccessRouter
from hmipv6.core.fast_handover import FastAccessRouter
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.mobile_node import MobileNode
from hmipv6.core.node import Node
from hmipv6.core.router import Router, RouterConfig
from hmipv6.errors import DecodeError
from hmipv6.wire import UDP, IPv6Packet, decode
from hmipv6.wire.icmpv6 import EchoRequest, TimeExceeded
from hmipv6.wire.ipv6 import (
    DestinationOptions,
    EncapsulatingSecurityPayload,
    HomeAddressOption,
    RoutingHeaderType2,
    decodes,
)
from hmipv6.wire.mobility import BindingUpdate

A_ADDR = IPv6Address("2001:db8:a::1")
B_ADDR = IPv6Address("2001:db8:b::1")
HOST_A = IPv6Address("2001:db8:a::100")
HOST_B = IPv6Address("2001:db8:b::100")
FAR = IPv6Address("2001:db8:99::1")
LL = IPv6Address("fe80::100")
MCAST = IPv6Address("ff02::1")


def router(lane: bool) -> Router:
    r = Router("r", config=RouterConfig())
    r.add_interface("a", (A_ADDR,))
    r.add_interface("b", (B_ADDR,))
    r.add_route("2001:db8:a::/64", "a")
    r.add_route("2001:db8:b::/64", "b", next_hop=IPv6Address("fe80::b"))
    if not lane:
        r.forwards_octets = False  # the general path only
    return r


def _packets() -> list[bytes]:
    """Valid packets of the layouts a router meets, to many destinations and hop limits."""
    out = []
    for src in (HOST_A, LL, HOST_B):
        for dst in (HOST_B, HOST_A, FAR, LL, MCAST, A_ADDR, B_ADDR):
            for hop in (0, 1, 2, 64):
                udp = IPv6Packet(src, dst, UDP(1000, 2000, b"probe" * 3), hop_limit=hop)
                out.append(udp.encode())
                out.append(IPv6Packet(A_ADDR, dst, udp, hop_limit=hop).encode())
                out.append(IPv6Packet(B_ADDR, dst, IPv6Packet(A_ADDR, HOST_B, udp),
                                      hop_limit=hop).encode())
                out.append(IPv6Packet(src, dst, EchoRequest(1, 2, b"abc"), hop_limit=hop).encode())
                out.append(IPv6Packet(src, dst, EncapsulatingSecurityPayload(
                    0x1234, 7, bytes(24)), hop_limit=hop).encode())
            hao = (DestinationOptions((HomeAddressOption(HOST_A),)),)
            rh2 = (RoutingHeaderType2(HOST_B),)
            esp = EncapsulatingSecurityPayload(0x1234, 7, bytes(24))
            bu = BindingUpdate(sequence=3, lifetime=100, flags=0)
            for payload in (bu, esp, UDP(1, 2, b"x"), EchoRequest(1, 2, b"abc")):
                for ext in (hao, rh2, hao + rh2, rh2 + hao):
                    inner = IPv6Packet(src, dst, payload, extension_headers=ext)
                    out.append(inner.encode())
                    out.append(IPv6Packet(A_ADDR, dst, inner).encode())
    return out


def _short_esp() -> list[bytes]:
    """ESP of 0 to 11 octets after the fixed header, a Home Address option or a tunnel
    header (fewer than 8 is malformed)."""
    import struct

    head = struct.Struct("!IHBB16s16s")
    hao = IPv6Packet(HOST_A, HOST_B, None, extension_headers=(
        DestinationOptions((HomeAddressOption(HOST_A),)),)).encode()[40:]
    out = []
    for k in range(12):
        out.append(head.pack(0x60000000, k, 50, 64, HOST_A.packed, HOST_B.packed) + bytes(k))
        out.append(head.pack(0x60000000, 24 + k, 60, 64, HOST_A.packed, HOST_B.packed)
                   + bytes((50,)) + hao[1:] + bytes(k))
        out.append(head.pack(0x60000000, 40 + k, 41, 64, A_ADDR.packed, HOST_B.packed)
                   + out[-2])
    return out


def _mutants(packets: list[bytes], rng: random.Random) -> list[bytes]:
    """Truncated, extended and octet-flipped copies (most of them malformed)."""
    out = []
    for p in packets:
        out.append(p[: rng.randrange(len(p))])
        out.append(p + b"\x00")
        for _ in range(3):
            buf = bytearray(p)
            buf[rng.randrange(len(buf))] = rng.randrange(256)
            out.append(bytes(buf))
    return out


def _decodes_by_decoding(data: bytes) -> bool:
    try:
        decode(data)
    except DecodeError:
        return False
    return True


def test_decodes_says_whether_decode_succeeds() -> None:
    packets = _packets()
    cases = packets + _mutants(packets, random.Random(5)) + _short_esp()
    answers = [decodes(c) for c in cases]
    assert answers == [_decodes_by_decoding(c) for c in cases]
    assert all(answers[: len(packets)]) and answers.count(False) > 500


def test_decodes_bounds_nesting_as_decode() -> None:
    from hmipv6.wire.ipv6 import MAX_NESTING

    for levels in (MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 1, MAX_NESTING + 2):
        p: IPv6Packet = IPv6Packet(HOST_A, HOST_B, UDP(1, 2, b"x"))
        for _ in range(levels):
            p = IPv6Packet(A_ADDR, HOST_B, p)
        data = p.encode()
        assert decodes(data) == _decodes_by_decoding(data) == (levels <= MAX_NESTING)



def test_decodes_bounds_nesting_behind_an_extension_header() -> None:
    """A tunnel chain behind a Type 2 routing header goes through the inner packet's lazy
    decoder, which recurses per level: far deeper than MAX_NESTING it must answer False as
    decode does (a DecodeError), not raise RecursionError."""
    import struct

    from hmipv6.wire.ipv6 import _CANONICAL_RH2_PREFIX

    def header(nxt: int, plen: int) -> bytes:
        return struct.pack("!IHBB", 6 << 28, plen, nxt, 64) + A_ADDR.packed + HOST_B.packed

    inner = header(59, 0)
    for _ in range(1500):
        inner = header(41, len(inner)) + inner
    rh2 = bytes((41,)) + _CANONICAL_RH2_PREFIX + HOST_B.packed
    data = header(43, len(rh2) + len(inner)) + rh2 + inner
    assert decodes(data) is False
    assert _decodes_by_decoding(data) is False

def _outcome(r: Router) -> tuple[object, ...]:
    out = [(t.ifname, t.data, t.next_hop) for t in r.datagrams_to_send(0.0)]
    events = []
    while (e := r.next_event()) is not None:
        events.append(e)
    return out, events, dict(r.counters), r.unreported_drops


def test_lane_equals_the_general_path() -> None:
    packets = _packets()
    cases = packets + _mutants(packets, random.Random(9)) + _short_esp()
    for report_drops in (True, False):
        lane, plain = router(True), router(False)
        lane.report_drops = plain.report_drops = report_drops
        taken = 0
        for data in cases:
            taken += Router.forward_octets(router(True), data)
            lane.receive(0.0, "a", data)
            plain.receive(0.0, "a", data)
            assert _outcome(lane) == _outcome(plain), data.hex()
        # The lane took most forwarded packets (not the inner packets of tunnels to the
        # router, which it forwards after decapsulating); errors went the general way.
        assert 100 < taken < lane.counters["forwarded"]
        assert lane.counters["icmp-error-sent.TimeExceeded"] > 0
        assert lane.counters["dropped.malformed"] > 100


def test_hop_limit_expiry_still_answered_with_time_exceeded() -> None:
    r = router(True)
    data = IPv6Packet(HOST_A, HOST_B, UDP(1, 2, b"x"), hop_limit=1).encode()
    assert not r.forward_octets(data)
    r.receive(0.0, "a", data)
    [t] = r.datagrams_to_send(0.0)
    assert isinstance(decode(t.data).payload, TimeExceeded)


def test_lane_only_where_forwarding_is_routers() -> None:
    """Node types that process or forward otherwise keep the general path."""
    assert Router.forwards_octets and AccessRouter.forwards_octets
    assert not FastAccessRouter.forwards_octets  # its own process and forward
    assert not Node.forwards_octets and not MobileNode.forwards_octets
    assert not MobilityAnchorPoint.forwards_octets

    class Odd(Router):
        def forward(self, now: float, ifname: str, packet: IPv6Packet,
                    raw: bytes | None) -> None:
            pass

    assert not Odd.forwards_octets
