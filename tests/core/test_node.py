"""The engine base: drop accounting, forwarding, tunnel exit, outbound security refusals."""

from __future__ import annotations

from hmipv6.core.events import PacketDropped
from hmipv6.core.node import Node
from hmipv6.core.security import Inbound, SecurityDrop
from hmipv6.wire import UDP, IPv6Packet, addr, decode

A = addr("2001:db8:1::1")
B = addr("2001:db8:2::1")


class Refusing:
    def protect(self, now: float, packet: IPv6Packet, peer: str | None = None) -> IPv6Packet:
        raise SecurityDrop("no-sa", "nothing to protect it with")

    def unprotect(self, now: float, packet: IPv6Packet) -> Inbound:
        return Inbound(packet=packet, peer=None)


def _events(n: Node) -> list[object]:
    out = []
    while (e := n.next_event()) is not None:
        out.append(e)
    return out


def test_outbound_security_refusal_is_a_counted_drop_not_an_exception() -> None:
    n = Node("n", security=Refusing())
    n.add_interface("eth0", (A,))
    n.add_route("::/0", "eth0", B)
    assert n.send_packet(0.0, IPv6Packet(A, B, UDP(1, 2, b"x"))) is False
    assert n.datagrams_to_send(0.0) == []
    assert n.counters["dropped.no-sa"] == 1
    assert [type(e) for e in _events(n)] == [PacketDropped]


def test_malformed_input_is_counted_and_reported() -> None:
    n = Node("n")
    n.add_interface("eth0", (A,))
    n.receive(1.0, "eth0", b"\x60garbage")
    assert n.counters["dropped.malformed"] == 1
    ev = _events(n)
    assert isinstance(ev[0], PacketDropped) and "ipv6" in ev[0].detail


def test_router_forwards_with_hop_limit_decremented_and_host_does_not() -> None:
    r = Node("r")
    r.is_router = True
    r.add_interface("eth0", (A,))
    r.add_interface("eth1")
    r.add_route("2001:db8:2::/64", "eth1")
    data = IPv6Packet(addr("2001:db8:9::9"), B, UDP(1, 2, b"hi"), hop_limit=9).encode()
    r.receive(0.0, "eth0", data)
    (t,) = r.datagrams_to_send(0.0)
    assert t.ifname == "eth1" and decode(t.data).hop_limit == 8
    h = Node("h")
    h.add_interface("eth0", (A,))
    h.receive(0.0, "eth0", data)
    assert h.datagrams_to_send(0.0) == [] and h.counters["dropped.not-for-us"] == 1


def test_tunnel_exit_delivers_the_inner_packet() -> None:
    from hmipv6.core.events import DataReceived

    n = Node("n")
    n.add_interface("eth0", (A, B))
    data = IPv6Packet(addr("2001:db8:9::9"), A, IPv6Packet(addr("2001:db8:8::8"), B, UDP(1, 2, b"abc"))
                      ).encode()
    n.receive(0.0, "eth0", data)
    (ev,) = _events(n)
    assert isinstance(ev, DataReceived) and ev.tunnelled == 1 and ev.dst == B and ev.size == 3


# -- RFC 6275 §9.2 / §9.3.3: what every node does with a Mobility Header it cannot use ------

def _cn() -> object:
    from tests.core.test_correspondent import make_cn

    return make_cn()


from tests.core.test_correspondent import CN as CN_ADDR  # noqa: E402


def test_unknown_mh_type_is_answered_with_binding_error_status_2() -> None:
    """MH Type unknown: discard, and a Binding Error (status 2) to the wire source address,
    with the Home Address option's address copied, from the address it was sent to."""
    from hmipv6.core.correspondent import CorrespondentNode
    from hmipv6.wire import DestinationOptions, HomeAddressOption
    from hmipv6.wire.mobility import BEStatus, BindingError, UnknownMobilityMessage

    cn = _cn()
    assert isinstance(cn, CorrespondentNode)
    coa, hoa, me = addr("2001:db8:a1::9"), addr("2001:db8:f::100"), CN_ADDR
    odd = IPv6Packet(coa, me, UnknownMobilityMessage(50, bytes(10)),
                     (DestinationOptions((HomeAddressOption(hoa),)),))
    cn.receive(1.0, "eth0", odd.encode())
    (t,) = cn.datagrams_to_send(1.0)
    reply = decode(t.data)
    assert (reply.src, reply.dst) == (me, coa) and isinstance(reply.payload, BindingError)
    assert reply.payload.status == BEStatus.UNRECOGNIZED_MH_TYPE
    assert reply.payload.home_address == hoa
    assert cn.counters["dropped.unknown-mh-type"] == 1
    # Without a Home Address option the field is the unspecified address.
    cn.receive(1.0, "eth0", IPv6Packet(coa, me, UnknownMobilityMessage(50, bytes(10))).encode())
    (t,) = cn.datagrams_to_send(1.0)
    be = decode(t.data).payload
    assert isinstance(be, BindingError) and be.home_address == addr("::")


def test_binding_errors_are_rate_limited_and_never_sent_to_non_unicast_sources() -> None:
    from hmipv6.wire.mobility import UnknownMobilityMessage

    cn = _cn()
    me = CN_ADDR
    odd = IPv6Packet(addr("2001:db8:a1::9"), me, UnknownMobilityMessage(50, bytes(10))).encode()
    for _ in range(25):
        cn.receive(5.0, "eth0", odd)  # type: ignore[attr-defined]
    sent_now = cn.datagrams_to_send(5.0)  # type: ignore[attr-defined]
    assert 1 <= len(sent_now) <= 10  # a burst of at most 10 (RFC 4443 §2.4 (f) style)
    assert cn.counters["dropped.unknown-mh-type"] == 25  # type: ignore[attr-defined]
    cn.receive(6.0, "eth0", IPv6Packet(addr("::"), me,  # type: ignore[attr-defined]
                                       UnknownMobilityMessage(50, bytes(10))).encode())
    assert cn.datagrams_to_send(6.0) == []  # type: ignore[attr-defined]


def test_payload_proto_other_than_59_gets_parameter_problem_pointing_at_it() -> None:
    """Payload Proto must be IPPROTO_NONE: discard, ICMP Parameter Problem code 0 whose
    Pointer is the Payload Proto field's offset in the invoking packet."""
    from hmipv6.wire.icmpv6 import ParameterProblem
    from hmipv6.wire.mobility import BindingRefreshRequest

    cn = _cn()
    src, me = addr("2001:db8:a1::9"), CN_ADDR
    bad = IPv6Packet(src, me, BindingRefreshRequest(payload_proto=17)).encode()
    cn.receive(2.0, "eth0", bad)  # type: ignore[attr-defined]
    (t,) = cn.datagrams_to_send(2.0)  # type: ignore[attr-defined]
    pp = decode(t.data)
    assert pp.dst == src and isinstance(pp.payload, ParameterProblem)
    assert pp.payload.code == 0 and pp.payload.pointer == 40
    assert pp.payload.invoking == bad and bad[40] == 17
    assert cn.counters["dropped.mh-payload-proto"] == 1  # type: ignore[attr-defined]


def test_idle_is_what_a_driver_would_find_on_draining() -> None:
    """``Node.idle(timer)``: nothing queued, no event, ``next_timer()`` is ``timer`` (the
    simulator's check after every input, before draining)."""
    n = Node("n")
    n.add_interface("eth0", (A,))
    n.add_route("::/0", "eth0", B)
    assert n.idle(None) and not n.idle(1.0)
    n.timers.set("t", 2.0)
    assert n.idle(2.0) and not n.idle(None) and not n.idle(1.0)
    assert n.send_packet(0.0, IPv6Packet(A, B, UDP(1, 2, b"x")))
    assert not n.idle(2.0)
    assert len(n.datagrams_to_send(0.0)) == 1 and n.idle(2.0)
    n.receive(0.0, "eth0", b"\x60")  # malformed: a drop event
    assert not n.idle(2.0)
    assert [type(e) for e in _events(n)] == [PacketDropped] and n.idle(2.0)
    n.crash(0.0)
    assert n.next_timer() is None and n.idle(None) and not n.idle(2.0)


def test_take_output_is_what_the_three_drain_calls_return() -> None:
    """``Node.take_output(now)``: ``datagrams_to_send(now)``, every ``next_event()`` in order
    and ``next_timer()`` in one call (the simulator's drain). Two nodes given the same inputs,
    one drained each way, hand out the same octets, events and deadlines, every time."""
    def build() -> Node:
        n = Node("n")
        n.add_interface("eth0", (A,))
        n.add_route("::/0", "eth0", B)
        return n

    one, three = build(), build()
    steps = [lambda n: n.timers.set("t", 2.0),
             lambda n: n.send_packet(0.0, IPv6Packet(A, B, UDP(1, 2, b"x"))),
             lambda n: n.receive(0.0, "eth0", b"\x60"),  # malformed: a drop event
             lambda n: (n.receive(0.1, "eth0", b"\x61"), n.receive(0.2, "eth0", b"")),
             lambda n: n.send_packet(0.3, IPv6Packet(A, B, UDP(1, 2, b"y"))),
             lambda n: n.crash(0.4)]
    for step in steps:
        step(one)
        step(three)
        out, events, at = one.take_output(0.5)
        assert out == three.datagrams_to_send(0.5)
        assert list(events) == _events(three)
        assert at == three.next_timer()
        assert one.idle(at) and three.idle(at)
        assert one.take_output(0.5) == ([], (), at)  # drained: nothing again
    assert at is None  # crashed


def test_route_index_answers_as_the_list_scan_does() -> None:
    """``Node.lookup_route``'s integer index (node._route_index) gives, for any route list
    (sorted or not, duplicates included), the first route of the list containing the address."""
    import random
    from ipaddress import IPv6Address, IPv6Network

    from hmipv6.core.node import Node, Route

    rng = random.Random(7)
    base = int(IPv6Address("2001:db8::"))
    for trial in range(200):
        routes = []
        for _ in range(rng.randrange(0, 12)):
            plen = rng.choice((0, 16, 32, 48, 56, 64, 64, 96, 128))
            net = IPv6Network(((base | rng.getrandbits(72) << 56 >> (trial % 3) * 8)
                               >> (128 - plen) << (128 - plen) if plen else 0, plen))
            routes.append(Route(net, f"if{rng.randrange(4)}"))
        if trial % 2:
            routes.sort(key=lambda r: -r.prefix.prefixlen)
        node = Node("n")
        node.routes = routes
        probes = [IPv6Address(r.prefix.network_address) for r in routes] + [
            IPv6Address(base | rng.getrandbits(80)) for _ in range(20)]
        for a in probes:
            expected = next((r for r in routes if a in r.prefix), None)
            assert node.lookup_route(a) is expected
            assert node.lookup_route(a) is expected  # cached


def test_add_route_orders_routes_as_the_negated_length_sort_did() -> None:
    """``Node.add_route`` sorts longest prefix first, equal lengths in the order they came
    (held to the former ``sort(key=lambda r: -r.prefix.prefixlen)``), replacing an equal
    prefix's route, from any starting list."""
    import random
    from ipaddress import IPv6Network

    from hmipv6.core.node import Node, Route

    rng = random.Random(11)
    for _ in range(100):
        node = Node("n")
        start = [Route(IPv6Network((rng.getrandbits(8) << 120, 8 * rng.randrange(1, 4))),
                       "start") for _ in range(rng.randrange(0, 4))]
        node.routes = list(start)
        expected = list(start)
        for i in range(rng.randrange(1, 15)):
            plen = rng.choice((0, 8, 16, 16, 24))
            net = IPv6Network((rng.getrandbits(3) << 125 >> (128 - plen) << (128 - plen)
                               if plen else 0, plen))
            node.add_route(net, f"if{i}")
            expected = [r for r in expected if r.prefix != net]
            expected.append(Route(net, f"if{i}"))
            expected.sort(key=lambda r: -r.prefix.prefixlen)
            assert node.routes == expected
