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
