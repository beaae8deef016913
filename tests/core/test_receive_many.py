"""``Node.receive_many`` is repeated ``Node.receive``: the same output, events, counters and
bindings for any batch, including mixed batches (tunnelled data, Binding Updates that bind,
move and deregister mid-batch, reverse-tunnelled packets, errors, bad octets, a packet
whose processing raises, routes changed mid-batch). The MAP's batch takes the tunnel fast
path inline (``BindingAnchor.receive_many``); the other engines the general batch."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.core.anchor import BindingAnchor
from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.fast_handover import FastMobilityAnchorPoint
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.node import Node, encapsulate_raw
from hmipv6.wire import IPv6Packet
from hmipv6.wire.icmpv6 import EchoRequest
from hmipv6.wire.udp import UDP

from .anchor_support import A, binding_update, events
from .test_map import CN, LCOA, LCOA2, MAP_ADDR, RCOA, RCOA2, data_to, make_map, register

RCOA3 = A("2001:db8:100::a3")
LCOA_HOST = A("2001:db8:200:1:ffff::7")
BOOM = b"\x60boom" + bytes(60)
"""A packet whose processing raises (the nodes below are made to)."""
ROUTE = b"\x60route" + bytes(60)
"""A packet after which the routes change (a host route for one LCoA, another interface)."""


def _pool() -> list[bytes]:
    bu = binding_update(LCOA, MAP_ADDR, RCOA, sequence=5).encode()
    move = binding_update(LCOA2, MAP_ADDR, RCOA, sequence=6).encode()
    second = binding_update(LCOA_HOST, MAP_ADDR, RCOA3, sequence=1).encode()
    dereg = binding_update(LCOA2, MAP_ADDR, RCOA, sequence=7, lifetime=0).encode()
    reverse = encapsulate_raw(LCOA, MAP_ADDR,
                              IPv6Packet(RCOA, CN, UDP(5000, 4000, b"up")).encode())
    echo = IPv6Packet(CN, MAP_ADDR, EchoRequest(1, 2, b"ping")).encode()
    padded = data_to(RCOA) + b"\x00" * 6  # longer than its Payload Length
    return [data_to(RCOA), data_to(RCOA2), data_to(RCOA3), data_to(RCOA, hop_limit=1),
            data_to(RCOA, hop_limit=2), data_to(A("2001:db8:100::dead")), data_to(CN),
            data_to(MAP_ADDR), bu, move, second, dereg, reverse, echo, padded, b"", b"\x60",
            bytes(40), b"\x60" + bytes(23) + RCOA.packed, BOOM, ROUTE]


POOL = _pool()


def _rigged(node: Node) -> Node:
    """``node`` made to raise on :data:`BOOM` and to change its routes after :data:`ROUTE`,
    through the general path every engine takes for them."""
    general: Any = node._receive_untunnelled if isinstance(node, BindingAnchor) \
        else node._receive

    def hooked(now: float, ifname: str, data: bytes) -> None:
        if data == BOOM:
            raise RuntimeError("boom")
        general(now, ifname, data)
        if data == ROUTE:
            node.add_route(f"{LCOA_HOST}/128", "up")

    if isinstance(node, BindingAnchor):
        node._receive_untunnelled = hooked  # type: ignore[method-assign]
    else:
        node._receive = hooked  # type: ignore[method-assign]
    return node


def _map() -> Node:
    m = make_map()
    register(m)
    register(m, rcoa=RCOA2, lcoa=LCOA2, sequence=1)
    return _rigged(m)


def _fast_map() -> Node:
    m = FastMobilityAnchorPoint("map", address=MAP_ADDR, ifname="link")
    m.add_interface("down")
    m.add_interface("up")
    m.add_route("2001:db8:200::/48", "down")
    m.add_route("::/0", "up")
    register(m)
    return _rigged(m)


def _correspondent() -> Node:
    cn = CorrespondentNode("cn", address=CN)
    cn.add_route("::/0", "eth0")
    return _rigged(cn)


def _state(node: Node) -> tuple[object, ...]:
    out = node.datagrams_to_send(9.0)
    bindings = (sorted((str(e.address), str(e.care_of)) for e in node.bindings())
                if isinstance(node, BindingAnchor) else [])
    return out, events(node), dict(node.counters), bindings


def _one_by_one(make: Any, packets: list[bytes], crashed: bool = False) -> tuple[object, ...]:
    node = make()
    if crashed:
        node.crash(0.5)
    for data in packets:
        node.receive(1.0, "up", data)
    return _state(node)


def _batched(make: Any, packets: list[bytes], cuts: list[int],
             crashed: bool = False) -> tuple[object, ...]:
    node = make()
    if crashed:
        node.crash(0.5)
    start = 0
    for cut in [*sorted(cuts), len(packets)]:
        node.receive_many(1.0, "up", packets[start:max(start, cut)])
        start = max(start, cut)
    return _state(node)


def test_map_batch_equals_receive_for_a_mixed_batch() -> None:
    packets = [POOL[0], POOL[1], BOOM, POOL[0], POOL[8], POOL[0], POOL[10], POOL[2], ROUTE,
               POOL[2], POOL[9], POOL[0], POOL[11], POOL[0], POOL[12], POOL[13], POOL[15],
               POOL[14], POOL[3], POOL[5], BOOM, BOOM, POOL[1]]
    alone = _one_by_one(_map, packets)
    assert _batched(_map, packets, []) == alone
    out, _, counters, _ = alone
    assert counters["tunnelled"] >= 8 and counters["dropped.internal-error"] == 3
    assert isinstance(out, list) and {t.ifname for t in out} >= {"down", "up"}
    # The route changed mid-batch: RCoA3's packets went "down" before, "up" after.
    assert [t.ifname for t in out
            if t.data[6] == 41 and t.data[24:40] == LCOA_HOST.packed] == ["down", "up"]


def test_a_crashed_map_ignores_a_batch_as_it_ignores_each_packet() -> None:
    assert _batched(_map, POOL, [], crashed=True) == _one_by_one(_map, POOL, crashed=True)


pools = st.lists(st.one_of(st.sampled_from(POOL), st.binary(max_size=90)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(pools, st.lists(st.integers(0, 40), max_size=4))
def test_map_batch_equals_receive(packets: list[bytes], cuts: list[int]) -> None:
    assert _batched(_map, packets, cuts) == _one_by_one(_map, packets)


@settings(max_examples=60, deadline=None)
@given(pools)
def test_general_batch_equals_receive(packets: list[bytes]) -> None:
    # A MAP whose subclass has its own _receive, and a node without a fast path.
    assert not FastMobilityAnchorPoint._batch_fast_path
    assert MobilityAnchorPoint._batch_fast_path
    for make in (_fast_map, _correspondent):
        assert _batched(make, packets, []) == _one_by_one(make, packets)
