"""Issue 9, item 9: deeply nested IPv6-in-IPv6 must be dropped and counted, not crash.

Before: ``RecursionError`` escaped ``receive()`` at about 330 nested tunnels (mobile node)
and 990 (MAP, home agent). Now the decoder opens at most ``MAX_NESTING`` levels (deeper is
malformed) and every engine decapsulates at most ``tunnel_nesting_limit`` levels (RFC 2473
§4.1.1; default 4, the §6.6 recommendation), dropping deeper packets under
``dropped.tunnel-nesting``. The packets are the figure1 scenario's own nodes and addresses,
after three seconds of simulation (the mobile node registered with its MAP and home agent).
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from hmipv6.core.events import DataReceived, PacketDropped
from hmipv6.core.mobile_node import MobileNode
from hmipv6.core.node import TUNNEL_NESTING_LIMIT, Node, encapsulate_raw
from hmipv6.sim.network import Network
from hmipv6.sim.scenario import load
from hmipv6.wire.ipv6 import MAX_NESTING, IPv6Packet, decode
from hmipv6.wire.udp import UDP

CN = IPv6Address("2001:db8:2::20")


def _network() -> Network:
    net = Network(load("figure1"), protocol="hmipv6")
    net.start()
    net.sched.run(until=3.0)
    return net


def _nested(levels: int, src: IPv6Address, dst: IPv6Address, inner: bytes) -> bytes:
    for _ in range(levels):
        inner = encapsulate_raw(src, dst, inner)
    return inner


def _outcome(node: Node) -> tuple[list[str], int]:
    reasons, data = [], 0
    while (e := node.next_event()) is not None:
        if isinstance(e, PacketDropped):
            reasons.append(e.reason)
        elif isinstance(e, DataReceived):
            data += 1
    node.datagrams_to_send(0.0)
    return reasons, data


def test_the_decoder_refuses_nesting_deeper_than_its_bound_without_recursion_error() -> None:
    a, b = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")
    inner = IPv6Packet(a, b, UDP(1, 2, b"x")).encode()
    assert decode(_nested(MAX_NESTING, a, b, inner)) is not None
    for levels in (MAX_NESTING + 1, 330, 990, 1600):
        with pytest.raises(Exception) as exc:
            decode(_nested(levels, a, b, inner))
        assert type(exc.value).__name__ == "DecodeError", levels


@pytest.mark.parametrize("levels", [330, 990, 1600])
@pytest.mark.parametrize("who", ["mn", "map1", "ha"])
def test_deep_nesting_is_dropped_and_counted_on_every_engine(who: str, levels: int) -> None:
    net = _network()
    node = net.nodes[who]
    mn = net.nodes["mn"]
    assert isinstance(mn, MobileNode)
    lcoa, rcoa = mn.lcoa(), mn.rcoa()
    assert lcoa is not None and rcoa is not None
    home = mn.config.home_address
    outer_src = {"mn": net.scenario.address_of("map1"), "map1": lcoa,
                 "ha": rcoa}[who]
    outer_dst = {"mn": lcoa, "map1": net.scenario.address_of("map1"),
                 "ha": net.scenario.address_of("ha")}[who]
    assert outer_src is not None and outer_dst is not None
    inner = IPv6Packet(CN, home, UDP(9, 9, b"deep")).encode()
    _outcome(node)
    for ifname in node.interfaces:
        node.receive(3.0, ifname, _nested(levels, outer_src, outer_dst, inner))
    reasons, data = _outcome(node)
    assert data == 0
    assert reasons and set(reasons) == {"malformed"}
    assert node.counters["dropped.internal-error"] == 0


@pytest.mark.parametrize("levels", [TUNNEL_NESTING_LIMIT + 1, 20, MAX_NESTING])
def test_the_mobile_node_drops_more_than_the_encapsulation_limit(levels: int) -> None:
    """Nested tunnels the decoder opens but deeper than RFC 2473's limit: dropped, counted."""
    net = _network()
    mn = net.nodes["mn"]
    assert isinstance(mn, MobileNode)
    lcoa = mn.lcoa()
    map1 = net.scenario.address_of("map1")
    assert lcoa is not None and map1 is not None
    inner = IPv6Packet(CN, mn.config.home_address, UDP(9, 9, b"deep")).encode()
    _outcome(mn)
    mn.receive(3.0, "wlan0", _nested(levels, map1, lcoa, inner))
    reasons, data = _outcome(mn)
    assert (reasons, data) == (["tunnel-nesting"], 0)
    assert mn.counters["dropped.tunnel-nesting"] == 1


def test_nesting_within_the_limit_is_still_delivered() -> None:
    """The MAP's tunnel around the home agent's (two levels, RFC 4140 §6.1) and up to the
    limit: delivered to the application."""
    net = _network()
    mn = net.nodes["mn"]
    assert isinstance(mn, MobileNode)
    lcoa = mn.lcoa()
    map1 = net.scenario.address_of("map1")
    assert lcoa is not None and map1 is not None
    inner = IPv6Packet(CN, mn.config.home_address, UDP(9, 9, b"ok")).encode()
    _outcome(mn)
    mn.receive(3.0, "wlan0", _nested(TUNNEL_NESTING_LIMIT, map1, lcoa, inner))
    assert _outcome(mn) == ([], 1)


def test_a_largest_size_packet_for_a_bound_rcoa_is_dropped_not_tunnelled_past_64k() -> None:
    """The MAP's tunnel header cannot hold a 65,575-octet packet (RFC 8200 §3 Payload
    Length): before, struct.error left receive()."""
    net = _network()
    map1 = net.nodes["map1"]
    mn = net.nodes["mn"]
    assert isinstance(mn, MobileNode)
    rcoa = mn.rcoa()
    assert rcoa is not None
    big = IPv6Packet(CN, rcoa, UDP(9, 9, bytes(65535 - 8))).encode()
    assert len(big) == 65575
    _outcome(map1)
    map1.receive(3.0, "eth0", big)
    reasons, _ = _outcome(map1)
    assert reasons == ["tunnel-too-big"]
    assert map1.counters["dropped.internal-error"] == 0
