"""The plain router engine: forwarding, NS/NA, Echo, ICMPv6 errors with rate limiting."""

from __future__ import annotations

from ipaddress import IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.core.events import PacketDropped
from hmipv6.core.router import Router, RouterConfig
from hmipv6.wire import UDP, IPv6Packet, decode
from hmipv6.wire.addr import ALL_NODES, UNSPECIFIED, solicited_node
from hmipv6.wire.icmpv6 import (
    DestinationUnreachable,
    EchoReply,
    EchoRequest,
    NeighborAdvertisement,
    NeighborSolicitation,
    SourceLinkLayerAddress,
    TargetLinkLayerAddress,
    TimeExceeded,
)

A_ADDR = IPv6Address("2001:db8:a::1")
B_ADDR = IPv6Address("2001:db8:b::1")
HOST_A = IPv6Address("2001:db8:a::100")
HOST_B = IPv6Address("2001:db8:b::100")
FAR = IPv6Address("2001:db8:99::1")
HOST_LL = IPv6Address("fe80::100")


def router(**cfg: object) -> Router:
    r = Router("r", config=RouterConfig(**cfg))  # type: ignore[arg-type]
    r.add_interface("a", (A_ADDR,))
    r.add_interface("b", (B_ADDR,))
    r.add_route("2001:db8:a::/64", "a")
    r.add_route("2001:db8:b::/64", "b")
    return r


def sent(r: Router) -> list[tuple[str, IPv6Packet]]:
    return [(t.ifname, decode(t.data)) for t in r.datagrams_to_send(0.0)]


def events(r: Router) -> list[object]:
    out = []
    while (e := r.next_event()) is not None:
        out.append(e)
    return out


def test_forwards_with_hop_limit_decremented() -> None:
    r = router()
    r.receive(0.0, "a", IPv6Packet(HOST_A, HOST_B, UDP(1, 2, b"x"), hop_limit=9).encode())
    [(ifname, p)] = sent(r)
    assert ifname == "b" and p.hop_limit == 8 and p.dst == HOST_B
    assert r.counters["forwarded"] == 1


def test_neighbor_solicitation_answered_with_router_flag() -> None:
    r = router()
    ns = NeighborSolicitation(A_ADDR, options=(SourceLinkLayerAddress(b"\x02\0\0\0\0\x01"),))
    r.receive(0.0, "a", IPv6Packet(HOST_A, solicited_node(A_ADDR), ns, hop_limit=255).encode())
    [(ifname, p)] = sent(r)
    na = p.payload
    assert ifname == "a" and isinstance(na, NeighborAdvertisement)
    assert (p.src, p.dst, p.hop_limit) == (A_ADDR, HOST_A, 255)
    assert na.target == A_ADDR and na.router and na.solicited and na.override
    assert na.options == (TargetLinkLayerAddress(r.interfaces["a"].lladdr),)


def test_dad_probe_for_our_address_is_defended_by_multicast() -> None:
    r = router()
    ns = NeighborSolicitation(A_ADDR)
    r.receive(0.0, "a", IPv6Packet(UNSPECIFIED, solicited_node(A_ADDR), ns, hop_limit=255).encode())
    [(_, p)] = sent(r)
    assert p.dst == ALL_NODES and isinstance(p.payload, NeighborAdvertisement)
    assert not p.payload.solicited


def test_invalid_or_foreign_ns_not_answered() -> None:
    r = router()
    # Hop limit not 255 (RFC 4861 §7.1.1): dropped, counted.
    r.receive(0.0, "a", IPv6Packet(HOST_A, A_ADDR, NeighborSolicitation(A_ADDR), hop_limit=64).encode())
    # Not our address: ignored.
    r.receive(0.0, "a", IPv6Packet(HOST_A, solicited_node(HOST_B), NeighborSolicitation(HOST_B),
                                   hop_limit=255).encode())
    # Unspecified source with an SLLA option: invalid.
    bad = NeighborSolicitation(A_ADDR, options=(SourceLinkLayerAddress(b"\x02\0\0\0\0\x01"),))
    r.receive(0.0, "a", IPv6Packet(UNSPECIFIED, solicited_node(A_ADDR), bad, hop_limit=255).encode())
    assert sent(r) == []
    assert r.counters["dropped.ns-invalid"] == 2 and r.counters["ignored.ns"] == 1


def test_echo_request_answered() -> None:
    r = router()
    r.receive(0.0, "a", IPv6Packet(HOST_A, A_ADDR, EchoRequest(7, 9, b"ping")).encode())
    [(ifname, p)] = sent(r)
    assert ifname == "a" and (p.src, p.dst) == (A_ADDR, HOST_A)
    assert p.payload == EchoReply(7, 9, b"ping")
    # To B's address, arriving on A: still answered from the address asked.
    r.receive(0.0, "a", IPv6Packet(HOST_A, B_ADDR, EchoRequest(1, 1)).encode())
    [(_, p)] = sent(r)
    assert p.src == B_ADDR


def test_hop_limit_exhausted_gives_time_exceeded() -> None:
    r = router()
    raw = IPv6Packet(HOST_A, HOST_B, UDP(1, 2, b"x" * 2000), hop_limit=1).encode()
    r.receive(0.0, "a", raw)
    [(ifname, p)] = sent(r)
    assert ifname == "a" and (p.src, p.dst) == (A_ADDR, HOST_A)
    assert isinstance(p.payload, TimeExceeded) and p.payload.code == 0
    # RFC 4443 §2.4 (c): as much of the invoking packet as fits in 1280 octets.
    assert p.payload.invoking == raw[:1232] and len(p.encode()) == 1280
    assert r.counters["dropped.hop-limit-exceeded"] == 1
    assert any(isinstance(e, PacketDropped) for e in events(r))


def test_no_route_gives_destination_unreachable() -> None:
    r = router()
    raw = IPv6Packet(HOST_A, FAR, UDP(1, 2, b"x")).encode()
    r.receive(0.0, "a", raw)
    [(_, p)] = sent(r)
    assert isinstance(p.payload, DestinationUnreachable) and p.payload.code == 0
    assert p.payload.invoking == raw


def test_no_error_about_errors_multicast_or_unspecified() -> None:
    r = router()
    err = DestinationUnreachable(0, b"\x60" + bytes(39))
    r.receive(0.0, "a", IPv6Packet(HOST_A, FAR, err).encode())
    r.receive(0.0, "a", IPv6Packet(UNSPECIFIED, FAR, UDP(1, 2)).encode())
    r.receive(0.0, "a", IPv6Packet(HOST_A, FAR, UDP(1, 2), hop_limit=0).encode())
    sent_now = sent(r)
    assert len(sent_now) == 1  # only the last one (a plain packet) earns an error
    assert r.counters["icmp-error-suppressed.error"] == 1
    assert r.counters["icmp-error-suppressed.multicast-or-unspecified"] == 1


def test_icmp_errors_rate_limited_by_token_bucket() -> None:
    r = router(icmp_error_rate=10.0, icmp_error_burst=3)
    raw = IPv6Packet(HOST_A, FAR, UDP(1, 2)).encode()
    for _ in range(10):
        r.receive(0.0, "a", raw)
    assert len(sent(r)) == 3
    assert r.counters["icmp-error-rate-limited"] == 7
    assert r.counters["dropped.no-route"] == 10
    r.receive(0.1, "a", raw)  # one token back after 0.1 s at 10/s
    r.receive(0.1, "a", raw)
    assert len(sent(r)) == 1


def test_link_local_never_forwarded() -> None:
    r = router()
    r.receive(0.0, "a", IPv6Packet(HOST_A, IPv6Address("fe80::55"), UDP(1, 2)).encode())
    assert sent(r) == []
    r.receive(0.0, "a", IPv6Packet(HOST_LL, HOST_B, UDP(1, 2)).encode())
    [(ifname, p)] = sent(r)
    assert ifname == "a" and p.dst == HOST_LL
    assert isinstance(p.payload, DestinationUnreachable) and p.payload.code == 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    r = router()
    r.receive(0.0, "a", data)
    r.datagrams_to_send(0.0)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_and_truncated_valid_packets_never_raise(data: st.DataObject) -> None:
    r = router()
    base = data.draw(st.sampled_from([
        IPv6Packet(HOST_A, A_ADDR, EchoRequest(1, 2, b"abc")).encode(),
        IPv6Packet(HOST_A, solicited_node(A_ADDR), NeighborSolicitation(A_ADDR),
                   hop_limit=255).encode(),
        IPv6Packet(HOST_A, FAR, UDP(1, 2, b"x"), hop_limit=1).encode(),
    ]))
    cut = data.draw(st.integers(0, len(base)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)),
                               max_size=4))
    buf = bytearray(base)
    for i, v in flips:
        buf[i] = v
    truncate = data.draw(st.booleans()) and cut < len(base)
    r.receive(0.0, "a", bytes(buf[:cut]) if truncate else bytes(buf))
    out = r.datagrams_to_send(0.0)
    # Every input has an accounted outcome: an answer, a counter, or an event.
    assert out or sum(r.counters.values()) or events(r)
    if truncate and not flips:
        assert r.counters["dropped.malformed"] == 1


def test_outbound_policy_refusal_is_a_counted_drop_not_an_exception() -> None:
    from hmipv6.core.security import NullSecurity, SecurityDrop

    class Refuse(NullSecurity):
        def protect(self, now: float, packet: IPv6Packet, peer: str | None = None) -> IPv6Packet:
            raise SecurityDrop("no-sa", "test")

    r = router()
    r.security = Refuse()
    r.receive(0.0, "a", IPv6Packet(HOST_A, A_ADDR, EchoRequest(1, 1)).encode())
    assert sent(r) == [] and r.counters["dropped.no-sa"] == 1
