"""The mobile node against the real MAP, home agent and correspondent engines: a small loop
routes every Transmit by its destination (RFC 4140 §6.1 flows end to end)."""

from __future__ import annotations

import random
from ipaddress import IPv6Address, IPv6Network

import pytest

from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.events import BindingAcknowledged, DataReceived, HandoverCompleted
from hmipv6.core.home_agent import HomeAgent
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.node import Node
from hmipv6.wire.ipv6 import IPv6Packet, decode
from hmipv6.wire.udp import UDP
from tests.core.test_mobile_node_support import (
    AR2_LL,
    CN,
    HA,
    HOA,
    LCOA1,
    LCOA2,
    MAP1,
    P1,
    P2,
    RCOA1,
    Harness,
    make,
    mapopt,
    ra,
)


class Net:
    """MN on wlan0; MAP, HA and CN on a wire; delivery by destination address."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.map = MobilityAnchorPoint("map1", address=MAP1, rcoa_prefix=IPv6Network("2001:db8:100::/64"),
                                       rng=random.Random(1))
        self.ha = HomeAgent("ha", address=HA, home_prefixes=[IPv6Network("2001:db8:f::/64")],
                            rng=random.Random(2))
        self.cn = CorrespondentNode("cn", address=CN, rng=random.Random(3))
        for n in (self.map, self.ha, self.cn):
            n.add_route("::/0", "eth0")
        self.cn_data: list[DataReceived] = []
        self.ha_events: list[object] = []

    def owner(self, dst: IPv6Address) -> Node | None:
        if dst in IPv6Network("2001:db8:100::/64"):
            return self.map
        if dst in IPv6Network("2001:db8:f::/64"):
            return self.ha
        if dst == CN:
            return self.cn
        if dst in P1 or dst in P2:
            return self.h.mn
        return None

    def run(self, until: float) -> None:
        h = self.h
        for _ in range(10000):
            moved = False
            for node in (h.mn, self.map, self.ha, self.cn):
                for t in node.datagrams_to_send(h.now):
                    if node is h.mn:
                        h.transmits.append(t)
                        h.sent.append(decode(t.data))
                    dst = decode(t.data).dst
                    target = self.owner(dst)
                    if target is not None and target is not node:
                        target.receive(h.now, "wlan0" if target is h.mn else "eth0", t.data)
                        moved = True
            while (ev := h.mn.next_event()) is not None:
                h.events.append(ev)
            while (e := self.cn.next_event()) is not None:
                if isinstance(e, DataReceived):
                    self.cn_data.append(e)
            if moved:
                continue
            times = [t for t in (n.next_timer() for n in (h.mn, self.map, self.ha, self.cn)) if t is not None]
            nxt = min(times, default=None)
            if nxt is None or nxt > until:
                h.now = until
                return
            h.now = max(h.now, nxt)
            for n in (h.mn, self.map, self.ha, self.cn):
                n.handle_timer(h.now)
        raise AssertionError("no quiescence")


@pytest.mark.req("MN-06", "MN-08", "MN-09", "MN-12")
def test_registration_data_and_intra_domain_move_with_real_engines() -> None:
    h = make()
    net = Net(h)
    h.attach()
    h.mn.receive(h.now, "wlan0", ra(P1, [mapopt(MAP1)]))
    net.run(1.0)
    acks = [e for e in h.events if isinstance(e, BindingAcknowledged)]
    assert [(e.kind, e.status) for e in acks] == [("local", 0), ("home", 0)]
    assert [e.kind for e in h.events if isinstance(e, HandoverCompleted)] == ["initial"]
    # CN -> HoA: HA tunnels to the RCoA, the MAP to the LCoA, the MN decapsulates twice.
    net.cn.send_packet(h.now, IPv6Packet(CN, HOA, UDP(1, 2, b"down")))
    net.run(2.0)
    got = [e for e in h.events if isinstance(e, DataReceived)]
    assert got and got[-1].src == CN and got[-1].tunnelled == 2
    # MN -> CN: reverse-tunnelled through the MAP and the HA.
    assert h.mn.send(h.now, CN, b"up")
    net.run(3.0)
    assert net.cn_data and net.cn_data[-1].src == HOA
    # Intra-domain move: one local BU, no home BU.
    n_home = sum(1 for e in h.events if isinstance(e, BindingAcknowledged) and e.kind == "home")
    h.mn.link_down(h.now, "wlan0")
    h.attach(router="ar2")
    h.mn.receive(h.now, "wlan0", ra(P2, [mapopt(MAP1)], src=AR2_LL))
    net.run(4.0)
    assert [e.kind for e in h.events if isinstance(e, HandoverCompleted)][-1] == "intra-domain"
    assert sum(1 for e in h.events if isinstance(e, BindingAcknowledged) and e.kind == "home") == n_home
    assert h.mn.lcoa() == LCOA2 != LCOA1 and h.mn.rcoa() == RCOA1


@pytest.mark.req("MN-11")
def test_route_optimisation_with_the_real_correspondent() -> None:
    h = make(route_optimisation=True, correspondents=(CN,))
    net = Net(h)
    h.attach()
    h.mn.receive(h.now, "wlan0", ra(P1, [mapopt(MAP1)]))
    net.run(2.0)
    kinds = [(e.kind, e.status) for e in h.events if isinstance(e, BindingAcknowledged)]
    assert ("correspondent", 0) in kinds
    assert h.mn.send(h.now, CN, b"ro")
    net.run(3.0)
    assert net.cn_data[-1].src == HOA
    last = h.sent[-1]
    assert last.dst == MAP1 and isinstance(last.payload, IPv6Packet) and last.payload.src == RCOA1
