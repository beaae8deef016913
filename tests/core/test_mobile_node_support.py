"""Shared fixtures of the mobile-node tests: addresses, packets built the way an access router,
a MAP, a home agent and a correspondent would build them, and a small driver around one
:class:`MobileNode` with a scripted clock. (No tests here.)"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from hmipv6.core import return_routability as rr
from hmipv6.core.events import Event
from hmipv6.core.mobile_node import MobileNode, MobileNodeConfig
from hmipv6.core.node import Transmit
from hmipv6.wire.addr import interface_address
from hmipv6.wire.icmpv6 import (
    MTU,
    MapOption,
    NDOption,
    PrefixInformation,
    RouterAdvertisement,
)
from hmipv6.wire.ipv6 import IPv6Packet, RoutingHeaderType2, decode
from hmipv6.wire.mobility import (
    BAFlags,
    BindingAcknowledgement,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    HomeTest,
    HomeTestInit,
    NonceIndices,
)
from hmipv6.wire.udp import UDP

A = IPv6Address
AR1_LL, AR2_LL, AR3_LL = A("fe80::1"), A("fe80::2"), A("fe80::3")
P1, P2, P3 = IPv6Network("2001:db8:a1::/64"), IPv6Network("2001:db8:a2::/64"), IPv6Network("2001:db8:b1::/64")
MAP1, MAP2, MAP3 = A("2001:db8:100::1"), A("2001:db8:200::1"), A("2001:db8:300::1")
HOA, HA = A("2001:db8:f::100"), A("2001:db8:f::1")
CN, CN2 = A("2001:db8:c::1"), A("2001:db8:c::2")
IID = 0x000A_000B_000C_000D
LCOA1, LCOA2, LCOA3 = (interface_address(p, IID) for p in (P1, P2, P3))
RCOA1, RCOA2, RCOA3 = (interface_address(m, IID) for m in (MAP1, MAP2, MAP3))
KCN = bytes(range(20))


def mapopt(address: IPv6Address, dist: int = 1, pref: int = 10, r: bool = True,
           lifetime: int = 3600) -> MapOption:
    return MapOption(dist=dist, pref=pref, r=r, valid_lifetime=lifetime, address=address)


def ra(prefix: IPv6Network | None, maps: Iterable[MapOption] = (), *, src: IPv6Address = AR1_LL,
       mtu: int | None = None, extra: tuple[NDOption, ...] = ()) -> bytes:
    """An RA as an access router sends it (RFC 4861 §4.2, hop limit 255, link-local source)."""
    opts: list[NDOption] = []
    if prefix is not None:
        opts.append(PrefixInformation(prefix_length=64, on_link=True, autonomous=True, router_address=False,
                                      valid_lifetime=2592000, preferred_lifetime=604800,
                                      prefix=prefix.network_address))
    if mtu is not None:
        opts.append(MTU(mtu))
    opts.extend(maps)
    opts.extend(extra)
    return IPv6Packet(src, A("ff02::1"), RouterAdvertisement(router_lifetime=1800, options=tuple(opts)),
                      hop_limit=255).encode()


def layers(pkt: IPv6Packet) -> list[IPv6Packet]:
    """The packet and every packet tunnelled inside it, outermost first."""
    out = [pkt]
    while isinstance(out[-1].payload, IPv6Packet):
        out.append(out[-1].payload)
    return out


def innermost(pkt: IPv6Packet) -> IPv6Packet:
    return layers(pkt)[-1]


def ba_for(bu_packet: IPv6Packet, *, status: int = 0, lifetime: int | None = None,
           rh2: IPv6Address | bool | None = True, sequence: int | None = None) -> IPv6Packet:
    """The BA the destination of ``bu_packet`` (the innermost BU) would send: from the BU's
    destination to its source, RH2 = the BU's home address (RFC 6275 §9.5.4 / RFC 4140 §6.2)."""
    inner = innermost(bu_packet)
    bu = inner.payload
    assert isinstance(bu, BindingUpdate)
    hoa = inner.home_address
    assert hoa is not None
    exts: tuple[Any, ...] = ()
    if rh2 is True:
        exts = (RoutingHeaderType2(hoa),)
    elif isinstance(rh2, IPv6Address):
        exts = (RoutingHeaderType2(rh2),)
    ba = BindingAcknowledgement(status, BAFlags(0), bu.sequence if sequence is None else sequence,
                                bu.lifetime if lifetime is None else lifetime)
    return IPv6Packet(inner.dst, inner.src, ba, exts)


def via_map(pkt: IPv6Packet, map_address: IPv6Address, lcoa: IPv6Address) -> IPv6Packet:
    """What a MAP does to a packet for the RCoA: tunnel it to the LCoA (RFC 4140 §6.2)."""
    return IPv6Packet(map_address, lcoa, pkt)


def via_ha(pkt: IPv6Packet, coa: IPv6Address) -> IPv6Packet:
    return IPv6Packet(HA, coa, pkt)


@dataclass
class Harness:
    mn: MobileNode
    now: float = 0.0
    sent: list[IPv6Packet] = field(default_factory=list)
    transmits: list[Transmit] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def drain(self) -> list[IPv6Packet]:
        new = []
        for t in self.mn.datagrams_to_send(self.now):
            self.transmits.append(t)
            p = decode(t.data)
            new.append(p)
        self.sent.extend(new)
        while (e := self.mn.next_event()) is not None:
            self.events.append(e)
        return new

    def feed(self, data: bytes | IPv6Packet, ifname: str = "wlan0") -> list[IPv6Packet]:
        raw = data.encode() if isinstance(data, IPv6Packet) else data
        self.mn.receive(self.now, ifname, raw)
        return self.drain()

    def advance(self, to: float) -> list[IPv6Packet]:
        """Run timers up to ``to`` (each deadline at its own time)."""
        out: list[IPv6Packet] = []
        while True:
            t = self.mn.next_timer()
            if t is None or t > to:
                break
            self.now = max(self.now, t)
            self.mn.handle_timer(self.now)
            out += self.drain()
        self.now = to
        return out

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def attach(self, ifname: str = "wlan0", router: str = "ar1") -> list[IPv6Packet]:
        self.mn.link_up(self.now, ifname, router)
        return self.drain()


def bus(packets: Iterable[IPv6Packet]) -> list[IPv6Packet]:
    """The packets whose innermost payload is a Binding Update."""
    return [p for p in packets if isinstance(innermost(p).payload, BindingUpdate)]


def make(**overrides: Any) -> Harness:
    cfg: dict[str, Any] = {"home_address": HOA, "home_agent": HA, "interface_id": IID, "dad": "none",
                           "max_rtr_solicitation_delay": 0.0}
    interfaces = overrides.pop("interfaces", ("wlan0",))
    seed = overrides.pop("seed", 1)
    cfg.update(overrides)
    mn = MobileNode("mn", MobileNodeConfig(**cfg), interfaces=interfaces, rng=random.Random(seed))
    return Harness(mn)


def registered(h: Harness, *, prefix: IPv6Network = P1, maps: Iterable[MapOption] = (mapopt(MAP1),),
               lifetime: int | None = None) -> Harness:
    """Attach, hear the RA, and answer the local and home BUs: a fully registered node."""
    h.attach()
    out = h.feed(ra(prefix, maps))
    local = bus(out)
    assert len(local) == 1, out
    lp = local[0]
    out = h.feed(ba_for(lp, lifetime=lifetime))
    home = bus(out)
    assert len(home) == 1, out
    hp = home[0]
    h.feed(via_map(ba_for(hp), innermost(lp).dst, lp.src))
    return h


def cn_answers(h: Harness, packets: Iterable[IPv6Packet], cn: IPv6Address = CN) -> list[IPv6Packet]:
    """Play the correspondent's side of return routability for HoTI/CoTI in ``packets``:
    HoT back through HA and MAP, CoT back through the MAP (or directly to an LCoA)."""
    out: list[IPv6Packet] = []
    for p in packets:
        inner = innermost(p)
        if inner.dst != cn:
            continue
        msg = inner.payload
        if isinstance(msg, HomeTestInit):
            tok = rr.home_keygen_token(KCN, inner.src, b"n" * 8)
            hot = IPv6Packet(cn, inner.src, HomeTest(7, msg.cookie, tok))
            rcoa = layers(p)[1].src if len(layers(p)) == 3 else None
            pkt = via_ha(hot, rcoa) if rcoa is not None else via_ha(hot, p.src)
            if rcoa is not None:
                pkt = via_map(pkt, p.dst, p.src)
            out += h.feed(pkt)
        elif isinstance(msg, CareOfTestInit):
            tok = rr.care_of_keygen_token(KCN, inner.src, b"m" * 8)
            cot = IPv6Packet(cn, inner.src, CareOfTest(9, msg.cookie, tok))
            out += h.feed(via_map(cot, p.dst, p.src) if len(layers(p)) == 2 else cot)
    return out


def kbm_for(coa: IPv6Address) -> bytes:
    return rr.binding_management_key(rr.home_keygen_token(KCN, HOA, b"n" * 8),
                                     rr.care_of_keygen_token(KCN, coa, b"m" * 8))


def cn_ba(bu_packet: IPv6Packet, *, status: int = 0, good: bool = True) -> IPv6Packet:
    """The correspondent's BA, with Binding Authorization Data (RFC 6275 §9.5.4)."""
    inner = innermost(bu_packet)
    bu = inner.payload
    assert isinstance(bu, BindingUpdate)
    assert any(isinstance(o, NonceIndices) for o in bu.options)
    ba = BindingAcknowledgement(status, BAFlags(0), bu.sequence, bu.lifetime)
    ba = rr.authorize(kbm_for(inner.src) if good else bytes(20), inner.src, inner.dst, ba)
    back = IPv6Packet(inner.dst, inner.src, ba, (RoutingHeaderType2(HOA),))
    return via_map(back, bu_packet.dst, bu_packet.src) if len(layers(bu_packet)) == 2 else back


def hao(p: IPv6Packet) -> IPv6Address | None:
    return p.home_address


def data_from(src: IPv6Address, dst: IPv6Address, n: int = 10) -> IPv6Packet:
    return IPv6Packet(src, dst, UDP(5000, 6000, bytes(n)))


