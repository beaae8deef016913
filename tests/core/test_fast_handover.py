"""Fast handovers anchored at the MAP (RFC 4140 Appendix A, RFC 5568): the real MAP, PAR, NAR
and mobile node engines exchanging real octets through a tiny in-memory network.

Topology: the MAP's eth0 goes upstream (a sink, where the CN's packets come from), eth1 to
the PAR (prefix P1), eth2 to the NAR (prefix P2); the mobile node's wlan0 is attached to one
access router's wlan0 at a time (or to none, during the layer-2 gap). Delivery is immediate
and in order; time only moves when a test says so.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from ipaddress import IPv6Address, IPv6Network

from hmipv6.core.access_router import AccessRouterConfig, MapConfig, RaConfig
from hmipv6.core.events import (
    DataReceived,
    FastBindingAcknowledged,
    FastHandoverBufferFlushed,
    SimultaneousBindingEnded,
)
from hmipv6.core.fast_handover import (
    FastAccessRouter,
    FastHandoverConfig,
    FastMobileNode,
    FastMobilityAnchorPoint,
    NeighbourRouter,
)
from hmipv6.core.mobile_node import MobileNodeConfig
from hmipv6.core.node import Node, link_local_for
from hmipv6.wire.fmipv6 import (
    FastBindingAcknowledgement,
    FastBindingUpdate,
    HandoverAcknowledge,
    HandoverInitiate,
    ProxyRouterAdvertisement,
    RouterSolicitationForProxyAdvertisement,
    is_unsolicited_neighbor_advertisement,
)
from hmipv6.wire.icmpv6 import MapOption
from hmipv6.wire.ipv6 import IPv6Packet, decode
from hmipv6.wire.mobility import AlternateCareOfAddress, BindingUpdate
from hmipv6.wire.udp import UDP

MAP = IPv6Address("2001:db8:100::1")
RCOA_NET = IPv6Network("2001:db8:100::/64")
P1 = IPv6Network("2001:db8:a1::/64")
P2 = IPv6Network("2001:db8:a2::/64")
PAR_ADDR = IPv6Address("2001:db8:a1::1")
NAR_ADDR = IPv6Address("2001:db8:a2::1")
CN = IPv6Address("2001:db8:c::1")
IID = 0x0A_000B_000C_000D
PCOA = IPv6Address("2001:db8:a1::a:b:c:d")
NCOA = IPv6Address("2001:db8:a2::a:b:c:d")
RCOA = IPv6Address("2001:db8:100::a:b:c:d")
NAR_AP = link_local_for("nar", "wlan0")[1]


def _ar(name: str, prefix: IPv6Network, fast: FastHandoverConfig,
        neighbours: dict[bytes, NeighbourRouter]) -> FastAccessRouter:
    cfg = AccessRouterConfig(interfaces={"wlan0": RaConfig(prefix=prefix, min_interval=0.03,
                                                           max_interval=0.07)},
                             maps=(MapConfig(address=MAP, probe=False),), probe=None,
                             max_ra_delay_time=0.0)
    ar = FastAccessRouter(name, rng=random.Random(name), config=cfg, neighbours=neighbours,
                          fast=fast)
    ar.add_interface("eth0")
    ar.add_route("::/0", "eth0")
    return ar


class Net:
    def __init__(self, fast: FastHandoverConfig | None = None) -> None:
        fast = fast if fast is not None else FastHandoverConfig()
        self.now = 0.0
        mapopt = MapOption(dist=1, pref=10, r=True, valid_lifetime=3600, address=MAP)
        self.map = FastMobilityAnchorPoint(
            "map1", address=MAP, rcoa_prefix=RCOA_NET, rng=random.Random(1), fast=fast,
            fast_neighbours={P1: PAR_ADDR, P2: NAR_ADDR})
        for i in ("eth1", "eth2"):
            self.map.add_interface(i)
        self.map.add_route("::/0", "eth0")
        self.map.add_route(P1, "eth1")
        self.map.add_route(P2, "eth2")
        self.par = _ar("par", P1, fast, {NAR_AP: NeighbourRouter(
            ap_lla=NAR_AP, nar_lla=NAR_AP, nar_address=NAR_ADDR, prefix=P2, maps=(mapopt,))})
        self.nar = _ar("nar", P2, fast, {})
        cfg = MobileNodeConfig(home_address=IPv6Address("2001:db8:f::100"),
                               home_agent=IPv6Address("2001:db8:f::1"), interface_id=IID,
                               dad="optimistic", max_rtr_solicitation_delay=0.0)
        self.mn = FastMobileNode("mn", cfg, rng=random.Random(7), fast=fast)
        self.attached: FastAccessRouter | None = None
        self.upstream: list[bytes] = []
        self.trace: list[tuple[str, str, IPv6Packet]] = []
        """(sender, receiver, packet) of everything delivered."""
        self.lost: Callable[[str, IPv6Packet], bool] = lambda sender, p: False
        self.events: list[tuple[str, object]] = []
        self._queue: list[tuple[Node, str, bytes]] = []

    @property
    def nodes(self) -> dict[str, Node]:
        return {"map1": self.map, "par": self.par, "nar": self.nar, "mn": self.mn}

    def _peer(self, sender: str, ifname: str) -> tuple[Node, str] | None:
        if sender == "map1":
            return {"eth1": (self.par, "eth0"), "eth2": (self.nar, "eth0")}.get(ifname)
        if sender in ("par", "nar"):
            if ifname == "eth0":
                return self.map, "eth1" if sender == "par" else "eth2"
            ar = self.par if sender == "par" else self.nar
            return (self.mn, "wlan0") if self.attached is ar else None
        if sender == "mn" and self.attached is not None:
            return self.attached, "wlan0"
        return None

    def pump(self) -> None:
        for _ in range(10000):
            moved = False
            for name, node in self.nodes.items():
                for t in node.datagrams_to_send(self.now):
                    moved = True
                    if name == "map1" and t.ifname == "eth0":
                        self.upstream.append(t.data)
                        continue
                    peer = self._peer(name, t.ifname)
                    p = decode(t.data)
                    if peer is None or self.lost(name, p):
                        continue
                    self.trace.append((name, peer[0].name, p))
                    self._queue.append((peer[0], peer[1], t.data))
                while (e := node.next_event()) is not None:
                    self.events.append((name, e))
            while self._queue:
                moved = True
                node, ifname, data = self._queue.pop(0)
                node.receive(self.now, ifname, data)
            if not moved:
                return
        raise AssertionError("the network never went quiet")

    def advance(self, to: float) -> None:
        while True:
            due = [(t, n) for n in self.nodes.values() if (t := n.next_timer()) is not None
                   and t <= to]
            if not due:
                break
            t, node = min(due, key=lambda x: x[0])
            self.now = max(self.now, t)
            node.handle_timer(self.now)
            self.pump()
        self.now = to
        self.pump()

    def attach(self, ar: FastAccessRouter | None) -> None:
        if self.attached is not None:
            self.mn.link_down(self.now, "wlan0")
        self.attached = ar
        if ar is not None:
            self.mn.link_up(self.now, "wlan0", router=ar.name)
        self.pump()

    def data(self, n: int) -> None:
        """The correspondent's packet number ``n`` for the RCoA arrives at the MAP."""
        self.map.receive(self.now, "eth0", IPv6Packet(CN, RCOA, UDP(7, 7, bytes([n]) * 8)).encode())
        self.pump()

    def received(self) -> list[int]:
        return [e.size for _, e in self.events if isinstance(e, DataReceived)]

    def kinds(self, since: int = 0) -> list[str]:
        out = []
        last: object = None
        for sender, _, p in self.trace[since:]:
            inner = p
            while isinstance(inner.payload, IPv6Packet):
                inner = inner.payload
            if inner.payload == last:
                continue  # the same message forwarded one more hop
            last = inner.payload
            out.append(f"{sender}:{type(inner.payload).__name__}")
        return out


def registered(net: Net) -> Net:
    for n in (net.par, net.nar):
        n.start(0.0)
    net.attach(net.par)
    net.advance(0.5)
    assert net.mn.lcoa() == PCOA and net.mn.rcoa() == RCOA
    assert net.map.cache.get(RCOA) is not None and net.map.cache.get(RCOA).care_of == PCOA
    return net


def delivered(net: Net) -> int:
    return sum(1 for _, e in net.events if isinstance(e, DataReceived))


# -- predictive mode ----------------------------------------------------------------------------


def test_FH02_FH03_predictive_exchange_in_order_with_buffering_and_flush() -> None:
    net = registered(Net())
    mark = len(net.trace)
    assert net.mn.anticipate(net.now, NAR_AP, router="nar")
    net.pump()
    signalling = [k for k in net.kinds(mark) if not k.endswith(":RouterAdvertisement")]
    assert signalling[:6] == [
        "mn:RouterSolicitationForProxyAdvertisement", "par:ProxyRouterAdvertisement",
        "mn:FastBindingUpdate", "map1:HandoverInitiate", "nar:HandoverAcknowledge",
        "map1:FastBindingAcknowledgement"]
    by_kind = {type(p.payload).__name__: (s, p) for s, _, p in net.trace[mark:]}
    # RtSolPr names the new AP; PrRtAdv carries the NAR's prefix and the MAP option.
    rtsolpr = by_kind["RouterSolicitationForProxyAdvertisement"][1].payload
    assert isinstance(rtsolpr, RouterSolicitationForProxyAdvertisement)
    prrtadv = by_kind["ProxyRouterAdvertisement"][1].payload
    assert isinstance(prrtadv, ProxyRouterAdvertisement)
    assert [m.address for m in prrtadv.map_options] == [MAP]
    # The FBU goes to the MAP (not the PAR) from the PCoA, for the RCoA, naming the NCoA.
    fbu_pkt = by_kind["FastBindingUpdate"][1]
    assert (fbu_pkt.src, fbu_pkt.dst, fbu_pkt.home_address) == (PCOA, MAP, RCOA)
    assert isinstance(fbu_pkt.payload, FastBindingUpdate)
    assert AlternateCareOfAddress(NCOA) in fbu_pkt.payload.options
    hi_pkt = by_kind["HandoverInitiate"][1]
    assert (hi_pkt.src, hi_pkt.dst) == (MAP, NAR_ADDR)
    assert isinstance(hi_pkt.payload, HandoverInitiate) and hi_pkt.payload.buffer
    hack = by_kind["HandoverAcknowledge"][1].payload
    assert isinstance(hack, HandoverAcknowledge) and hack.code == 0
    fback_pkt = next(p for s, r, p in net.trace[mark:]
                     if isinstance(p.payload, FastBindingAcknowledgement) and r == "mn")
    assert fback_pkt.dst == PCOA and fback_pkt.routing_home_address == RCOA
    assert any(isinstance(e, FastBindingAcknowledged) for _, e in net.events)

    # Still on the PAR's link: the MAP sends to both (FH-04), the MN gets the PCoA copy and
    # the NAR buffers the NCoA copy.
    before = delivered(net)
    net.data(1)
    assert delivered(net) == before + 1
    assert net.nar.counters["fh-buffered"] >= 1
    net.attach(None)  # layer-2 gap: the MN is nowhere
    net.data(2)
    net.data(3)
    assert delivered(net) == before + 1
    net.now += 0.05
    mark = len(net.trace)
    net.attach(net.nar)
    kinds = net.kinds(mark)
    una = next(i for i, (s, _, p) in enumerate(net.trace[mark:])
               if s == "mn" and is_unsolicited_neighbor_advertisement(p.payload))
    assert net.trace[mark + una][2].src == NCOA
    flush = [e for _, e in net.events if isinstance(e, FastHandoverBufferFlushed)]
    assert flush and flush[0].address == NCOA and flush[0].packets == 4  # 1 (dup), 2, 3 + FBack copy
    assert delivered(net) == before + 4  # 1 again, then 2 and 3, in order
    # Then the regular local BU from the NCoA (RFC 4140 Appendix A), acknowledged.
    i_bu, bu = next((i, p) for i, (s, _, p) in enumerate(net.trace[mark:])
                    if s == "mn" and isinstance(p.payload, BindingUpdate))
    assert bu.src == NCOA and bu.dst == MAP and bu.home_address == RCOA
    assert i_bu > una and "mn:BindingUpdate" in kinds
    assert net.map.cache.get(RCOA).care_of == NCOA
    assert net.mn._handover is not None and net.mn._handover.kind == "fast-predictive"


def test_FH03_reactive_mode_sends_the_fbu_from_the_new_link() -> None:
    net = registered(Net())
    # The FBU sent on the old link is lost: no FBack before the link goes down.
    net.lost = lambda sender, p: sender == "mn" and isinstance(p.payload, FastBindingUpdate) \
        and p.src == PCOA
    net.mn.anticipate(net.now, NAR_AP, router="nar")
    net.pump()
    assert not any(isinstance(e, FastBindingAcknowledged) for _, e in net.events)
    net.attach(None)
    net.data(1)  # the MAP still sends to the PCoA: lost in the gap
    net.now += 0.05
    mark = len(net.trace)
    net.attach(net.nar)
    fbus = [p for s, _, p in net.trace[mark:] if s == "mn" and isinstance(p.payload, FastBindingUpdate)]
    assert fbus and fbus[0].src == NCOA and fbus[0].dst == MAP  # from the new link
    hack = next(p.payload for _, _, p in net.trace[mark:] if isinstance(p.payload, HandoverAcknowledge))
    assert hack.code == 0  # the NAR knows the NCoA is the arriving node's own (its UNA)
    fback = [e for _, e in net.events if isinstance(e, FastBindingAcknowledged)]
    assert fback and fback[-1].ncoa == NCOA
    assert net.mn._handover is not None and net.mn._handover.kind == "fast-reactive"
    before = delivered(net)
    net.data(2)
    assert delivered(net) >= before + 1


def test_FH02_hack_rejecting_the_ncoa_makes_the_map_tunnel_to_the_nar() -> None:
    net = registered(Net())
    net.nar.neighbour_cache[NCOA] = b"\x02\x00\x00\x00\x00\x01"  # someone else's
    net.mn.anticipate(net.now, NAR_AP, router="nar")
    net.pump()
    hack = next(p.payload for _, _, p in net.trace if isinstance(p.payload, HandoverAcknowledge))
    assert hack.code == 1  # Handover Accepted, NCoA not valid
    fback = [e for _, e in net.events if isinstance(e, FastBindingAcknowledged)][-1]
    assert fback.status == 1 and fback.ncoa == PCOA  # keep the PCoA on the new link
    net.attach(None)
    mark = len(net.trace)
    net.data(5)
    to_nar = [p for s, r, p in net.trace[mark:] if s == "map1" and r == "nar"]
    assert to_nar and to_nar[0].dst == NAR_ADDR  # tunnelled to the NAR's address
    assert isinstance(to_nar[0].payload, IPv6Packet) and to_nar[0].payload.dst == PCOA
    assert net.nar.counters["fh-buffered"] == 1
    before = delivered(net)
    net.now += 0.05
    net.attach(net.nar)
    assert delivered(net) == before + 1  # the NAR's host route for the PCoA, after the UNA
    net.advance(net.now + 0.5)
    assert net.mn.lcoa() is not None and net.mn.lcoa() in P2 and net.mn.lcoa() != NCOA


def test_FH04_simultaneous_bindings_deliver_to_both_then_stop() -> None:
    fast = FastHandoverConfig(simultaneous_bindings=1.0)
    net = registered(Net(fast))
    net.mn.anticipate(net.now, NAR_AP, router="nar")
    net.pump()
    start = net.now
    mark = len(net.trace)
    net.data(1)
    copies = [p.dst for s, _, p in net.trace[mark:] if s == "map1"]
    assert sorted(copies) == sorted([PCOA, NCOA])
    # The handover fails (the MN stays on the PAR): it loses nothing during the period.
    assert delivered(net) >= 1
    net.advance(start + 1.01)
    assert any(isinstance(e, SimultaneousBindingEnded) for _, e in net.events)
    mark = len(net.trace)
    net.data(2)
    copies = [p.dst for s, _, p in net.trace[mark:] if s == "map1"]
    assert len(copies) == 1  # a single binding again


def test_FH04_ping_pong_back_to_the_par_keeps_the_old_binding() -> None:
    net = registered(Net())
    net.mn.anticipate(net.now, NAR_AP, router="nar")
    net.pump()
    net.attach(None)
    net.now += 0.05
    net.attach(net.nar)
    net.advance(net.now + 0.1)
    net.attach(None)
    net.now += 0.05
    net.attach(net.par)  # straight back, within the period
    net.advance(net.now + 0.2)
    before = delivered(net)
    net.data(9)
    assert delivered(net) >= before + 1
    assert net.map.cache.get(RCOA).care_of in P1


def test_FH02_FH03_bad_input_never_raises() -> None:
    net = registered(Net())
    net.mn.anticipate(net.now, NAR_AP, router="nar")
    net.pump()
    samples = [(p, r) for _, r, p in net.trace]
    rng = random.Random(5)
    nodes = net.nodes
    for p, _ in samples:
        data = p.encode()
        for _ in range(20):
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            cut = bytes(b[:rng.randint(0, len(b))]) if rng.random() < 0.3 else bytes(b)
            for node in nodes.values():
                node.receive(net.now, "wlan0" if node is net.mn else "eth0", cut)
                node.datagrams_to_send(net.now)
                while node.next_event() is not None:
                    pass
    # Well-formed but out of place: an FBack nobody asked for, a HAck for no HI, an FBU for an
    # RCoA nobody bound.
    stray = [
        IPv6Packet(MAP, PCOA, FastBindingAcknowledgement(0, 0, 1, 0)),  # type: ignore[arg-type]
        IPv6Packet(NAR_ADDR, MAP, HandoverAcknowledge(77, 0)),
        IPv6Packet(NAR_ADDR, MAP, HandoverInitiate(1, 0)),
    ]
    for pkt in stray:
        for node in nodes.values():
            node.receive(net.now, "eth0", pkt.encode())
    assert net.map.counters["dropped.hack-unmatched"] >= 1
