"""What a MAP and a home agent share: they both "act as a HA" (RFC 4140 §6.2, RFC 6275 §10).

Theory of operation
-------------------
A :class:`BindingAnchor` owns a binding cache (bound address -> care-of address) and:

- *intercepts and tunnels* (RFC 6275 §10.4.2: "the home agent MUST tunnel the packet to the
  mobile node using IPv6 encapsulation"; RFC 4140 §6.2: "Packets addressed to the RCOA are
  intercepted by the MAP ... and then encapsulated and routed to the mobile node's LCoA").
  The fast path in :meth:`BindingAnchor._receive` peeks at the destination octets before any
  decoding; a bound destination is re-sent inside an IPv6 header (RFC 2473 §3.1) with the
  inner hop limit decremented (it is forwarded, RFC 8200 §3), without building any object;
- *answers Neighbor Solicitations* for bound addresses with its own link-layer address (proxy
  ND, RFC 4861 §7.2.8, RFC 6275 §10.4.1) and advertises a new binding unsolicited;
- is a *reverse-tunnel exit* (RFC 6275 §10.4.5, RFC 4140 §6.2: "The MAP MUST be able to accept
  packets tunnelled from the mobile node"): the inner source must be a bound address and the
  outer source that binding's care-of address, otherwise the packet is dropped and counted;
- drops packets for an unbound address of the prefix it serves (nothing to tunnel to) and
  answers with ICMPv6 Destination Unreachable, code 3, rate-limited (RFC 4443 §2.4(f));
- answers Echo Requests (RFC 4443 §4.2; access routers probe a MAP this way, RFC 4140 §10);
- validates Binding Updates through :class:`~hmipv6.core.registrar.Registrar`; subclasses
  supply the checks only they know in :meth:`BindingAnchor.admission`;
- expires bindings on the ``binding-expiry`` timer;
- counts every refused BU under ``bu-refused.<BA status>``.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from hmipv6.core.binding_cache import BindingCache, BindingEntry
from hmipv6.core.events import BindingCacheUpdated, BindingRemoved
from hmipv6.core.node import Node, Transmit
from hmipv6.core.ratelimit import TokenBucket
from hmipv6.core.registrar import (
    IPV4_EMBEDDED_HEADS,
    Decision,
    Registrar,
    Registration,
    binding_acknowledgement,
    is_reserved_anycast_packed,
    is_unicast_routable,
)
from hmipv6.core.security import Security
from hmipv6.wire import checksum as ck
from hmipv6.wire.addr import ALL_NODES, from_packed
from hmipv6.wire.icmpv6 import (
    DestinationUnreachable,
    DestinationUnreachableCode,
    EchoReply,
    EchoRequest,
    NeighborAdvertisement,
    NeighborSolicitation,
)
from hmipv6.wire.ipv6 import IPv6Packet
from hmipv6.wire.mobility import BAStatus, BindingUpdate, BUFlags

__all__ = ["BindingAnchor", "TokenBucket", "neighbor_advertisement_octets"]

_TUNNEL_HDR = struct.Struct("!IHBB16s16s")
"""The header ``node.encapsulate_raw`` writes, packed here from octets the fast path already
holds (no address objects on the fast path)."""
_TUNNEL_HEAD = struct.Struct("!IHBB16s16s7sB")
"""That header followed by the inner header's first 8 octets, the hop limit last (the fast
path's one ``pack``)."""
_MIN_MTU_ICMP = 1280 - 40 - 8
"""RFC 4443 §2.4(c): "as much of invoking packet as possible without the ICMPv6 packet
exceeding the minimum IPv6 MTU"."""
EXPIRY_TIMER = "binding-expiry"
MAX_BINDINGS_PER_PEER = 4
"""Default bound on the bindings of one peer identity (issue 9: one authenticated MN
created 100,000)."""
_MAX_TUNNELLED = 0xFFFF
"""The largest packet that fits, whole, in an IPv6 payload (the tunnel header's Payload
Length, RFC 8200 §3)."""
_IPV4_HEADS = IPV4_EMBEDDED_HEADS
_UNCACHED: Any = object()
"""A route cache miss (a cached ``None`` is "no route")."""


_NA = struct.Struct("!IHBB16s16s" "BBHI16s" "BB6s")


def neighbor_advertisement_octets(src: bytes, dst: bytes, target: bytes, lladdr: bytes, *,
                                  router: bool, solicited: bool, override: bool) -> bytes:
    """An NA with a Target Link-Layer Address option (RFC 4861 §4.4, §4.6.1), laid out in one
    ``struct`` call: a binding creates one per registration, on the fast path (tests check it
    equals the ICMPv6 codec's output octet for octet)."""
    word = (router << 31) | (solicited << 30) | (override << 29)
    raw = _NA.pack(0x60000000, 32, 58, 255, src, dst, 136, 0, 0, word, target, 2, 1, lladdr)
    c = ck.checksum(src, dst, 58, raw[40:])
    return raw[:42] + c.to_bytes(2, "big") + raw[44:]


class BindingAnchor(Node):
    """Base of :class:`~hmipv6.core.map.MobilityAnchorPoint` and
    :class:`~hmipv6.core.home_agent.HomeAgent`."""

    is_router = True
    kind = BUFlags.H
    """The BU flag marking registrations this anchor serves."""
    _batch_fast_path = True
    """Does :meth:`receive_many` take the tunnel fast path inline? Only while :meth:`_receive`
    is this class's (set per subclass)."""
    max_bindings_per_peer: int = MAX_BINDINGS_PER_PEER
    """Bindings one authenticated identity may hold here (set per engine to configure):
    a new one beyond is refused with BA status 130, "insufficient resources" (RFC 6275
    §6.1.8), so that one authenticated node cannot exhaust the binding cache."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._batch_fast_path = cls._receive is BindingAnchor._receive

    def __init__(self, name: str, *, address: IPv6Address | str, ifname: str = "eth0",
                 served_prefixes: Iterable[IPv6Network | str] = (),
                 max_lifetime: int = 600, cache: BindingCache | None = None,
                 link_addresses: Iterable[IPv6Address | str] = (),
                 icmp_rate: float = 10.0, icmp_burst: int = 10,
                 rng: random.Random | None = None, security: Security | None = None) -> None:
        super().__init__(name, rng=rng, security=security)
        self.address = IPv6Address(address)
        """The anchor's global address: tunnel entry/exit point, BA source."""
        self.link = ifname
        """The interface on which bound addresses are proxied (the RCoA / home link)."""
        if ifname not in self.interfaces:
            self.add_interface(ifname, (self.address,))
        else:
            self.add_address(ifname, self.address)
        default_prefix = IPv6Network(f"{self.address}/64", strict=False)
        self.served_prefixes: tuple[IPv6Network, ...] = tuple(
            IPv6Network(p) for p in served_prefixes) or (default_prefix,)
        """Prefixes whose addresses this anchor binds (the RCoA prefix / home prefixes)."""
        self._served_ints = tuple((int(p.network_address) >> (128 - p.prefixlen),
                                   128 - p.prefixlen) for p in self.served_prefixes)
        self._served8 = (frozenset(p.network_address.packed[:8] for p in self.served_prefixes)
                         if all(p.prefixlen == 64 for p in self.served_prefixes) else None)
        self.cache = cache if cache is not None else BindingCache()
        self.registrar = Registrar(kind=self.kind, max_lifetime=max_lifetime)
        self.link_addresses: set[IPv6Address] = {IPv6Address(a) for a in link_addresses}
        """Addresses configured as in use on the link: the duplicate check a new binding must
        pass (RFC 6275 §10.3.1 DAD, modelled without waiting). Not learnt from traffic: a
        mobile node seen at home earlier must still be able to register from away."""
        self._addr_packed = self.address.packed
        self._store_get = self.cache.store.get
        self._route_cache: dict[bytes, tuple[str, IPv6Address | None] | None] = {}
        self._routes_seen: object = None
        self._route_key_len = 8
        self._icmp_limit = TokenBucket(icmp_rate, icmp_burst)
        self._arm_expiry()

    # -- the fast path -------------------------------------------------------------------------

    def _receive(self, now: float, ifname: str, data: bytes) -> None:
        self._receive_each(now, ifname, (data,))

    def receive_many(self, now: float, ifname: str, packets: list[bytes]) -> None:
        """:meth:`~hmipv6.core.node.Node.receive_many` through one :meth:`_receive_each` over
        the batch (what the fast path reads bound once; ``tests/core/test_receive_many.py``
        holds it to repeated ``receive``), resumed after a packet whose processing raised. A
        subclass with its own ``_receive`` gets the general batch."""
        if not self._batch_fast_path:
            super().receive_many(now, ifname, packets)
            return
        it = iter(packets)
        while True:
            try:
                self._receive_each(now, ifname, it)
                return
            except Exception as exc:  # the last-resort guard, per packet (Node.receive)
                self._internal_error(now, exc)

    def _receive_each(self, now: float, ifname: str, packets: Iterable[bytes]) -> None:
        """The fast path (module docstring) over ``packets``: a packet for a bound address is
        tunnelled to its care-of address (RFC 4140 §6.2, RFC 2473 §3.1) from its octets; any
        other goes to :meth:`_receive_untunnelled`. What it reads is bound once; the route
        cache's key length is checked once, and again after each packet the general path
        took (which may change the routes); the ``tunnelled`` counter is added to once. An
        exception from a packet's processing leaves (``packets`` then resumes after it)."""
        if self.crashed:
            return
        store_get, local, addr, pack = self._store_get, self._local, self._addr_packed, \
            _TUNNEL_HEAD.pack
        append, routes_get, untunnelled = self._out.append, self._route_cache.get, \
            self._receive_untunnelled
        new = object.__new__
        tunnelled = 0
        keylen = self._route_key_len if self.routes is self._routes_seen \
            else self._routes_current()
        try:
            for data in packets:
                key = data[24:40]
                record = store_get(key)
                if (record is not None and 40 <= (n := len(data)) <= _MAX_TUNNELLED
                        and data[0] >> 4 == 6 and data[7] > 1
                        and n - 40 == (data[4] << 8 | data[5]) and key not in local):
                    care_of = record[:16]
                    route = routes_get(care_of[:keylen], _UNCACHED)
                    if route is _UNCACHED:
                        route = self._route_to(care_of)
                    if route is not None:
                        # The new header and the inner header's first 8 octets (its hop
                        # limit decremented) in one pack, then the rest; the Transmit's
                        # fields set without the dataclass __init__ call (a Python frame).
                        t = new(Transmit)
                        t.ifname, t.next_hop = route
                        t.data = pack(0x60000000, n, 41, 64, addr, care_of, data[:7],
                                      data[7] - 1) + data[8:]
                        append(t)
                        tunnelled += 1
                        continue
                untunnelled(now, ifname, data)
                keylen = self._routes_current()
        finally:
            if tunnelled:
                self.counters["tunnelled"] += tunnelled

    _receive_untunnelled = Node._receive
    """What :meth:`_receive` does with a packet it does not tunnel (decode, then process): a
    subclass's own octet-level checks go here, after the tunnel's, so a tunnelled packet
    costs no further call (a MAP's local Binding Updates)."""

    def _route_to(self, dst: bytes) -> tuple[str, IPv6Address | None] | None:
        if self.routes is not self._routes_seen:
            self._routes_current()
        k = dst[: self._route_key_len]
        try:
            return self._route_cache[k]
        except KeyError:
            r = self.lookup_route(from_packed(dst))
            hit = None if r is None else (r.ifname, r.next_hop)
            if len(self._route_cache) > 4096:
                self._route_cache.clear()
            self._route_cache[k] = hit
            return hit

    def _routes_current(self) -> int:
        """Empty the route cache if the routes changed since it was filled; the length of
        its keys (a destination's first octets)."""
        if self.routes is not self._routes_seen:
            # add_route/remove_route replace the list, so identity tells us it changed.
            self._routes_seen = self.routes
            self._route_cache.clear()
            self._route_key_len = 16 if any(r.prefix.prefixlen > 64 for r in self.routes) else 8
        return self._route_key_len

    def _tunnel(self, now: float, care_of: bytes, inner: bytes) -> bool:
        if len(inner) > _MAX_TUNNELLED:
            # RFC 2473 §7: the tunnel packet would exceed the largest IPv6 payload (a
            # jumbogram is not an option here); dropped and counted.
            self.drop(now, "tunnel-too-big", f"{len(inner)} octets to {from_packed(care_of)}")
            return False
        route = self._route_to(care_of)
        if route is None:
            self.drop(now, "no-route", f"tunnel to {from_packed(care_of)}")
            return False
        self._out.append(Transmit(route[0], _TUNNEL_HDR.pack(
            0x60000000, len(inner), 41, 64, self._addr_packed, care_of) + inner, route[1]))
        self.counters["tunnelled"] += 1
        return True

    def serves(self, address: IPv6Address) -> bool:
        return any(address in p for p in self.served_prefixes)

    def _serves_packed(self, address: bytes) -> bool:
        served8 = self._served8
        if served8 is not None:
            return address[:8] in served8
        value = int.from_bytes(address, "big")
        return any(value >> shift == net for net, shift in self._served_ints)

    def care_of_problem(self, care_of: bytes) -> str | None:
        """Why ``care_of`` (16 octets) cannot be a care-of address here, or ``None``: an
        IPv4-mapped or -compatible address (RFC 4291 §2.5.5), one of this node's own, an
        address of the prefixes it serves (another mobile node's RCoA or home address: the
        tunnel would lead back into this node), or a reserved anycast address (RFC 4291
        §2.6.1, RFC 2526). The general and the fast path both ask here (on every BU: kept
        to octet comparisons)."""
        if care_of[:12] in _IPV4_HEADS:
            return "ipv4-mapped"
        if care_of in self._local:
            return "own-address"
        if self._serves_packed(care_of) or self._store_get(care_of) is not None:
            return "bound-address"
        if is_reserved_anycast_packed(care_of):
            return "anycast"
        return None

    def dad_conflict(self, address: IPv6Address, packed: bytes | None = None) -> bool:
        """RFC 6275 §10.3.1 / RFC 4140 §6.1 duplicate address detection for a new binding,
        modelled without waiting: the address is in use on the link (``link_addresses``,
        which the engine builder fills with every address the scenario configures in the
        served prefixes), is this node's own, or is a reserved anycast address of the
        subnet (RFC 4291 §2.6.1 Subnet-Router anycast, RFC 2526), which the subnet's
        routers (this node among them) hold. ``packed``: the address's octets, if at hand."""
        if packed is None:
            packed = address.packed
        return (packed in self._local or is_reserved_anycast_packed(packed)
                or (bool(self.link_addresses) and address in self.link_addresses))

    # -- forwarding (the slow path: decoded packets) --------------------------------------------

    def forward(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None) -> None:
        dst = packet.dst
        care_of = self.cache.care_of_packed(dst.packed)
        if care_of is None and not self.serves(dst):
            super().forward(now, ifname, packet, raw)
            return
        if care_of is None or dst.is_link_local:
            # RFC 6275 §10.4.2 / RFC 4443 §3.1: nothing to tunnel to; "Code 3 ... address
            # unreachable".
            self.drop(now, "no-binding", f"{packet.src} -> {dst}")
            self._unreachable(now, packet, raw)
            return
        if packet.hop_limit <= 1:
            self.on_forward_failed(now, ifname, packet, raw, "hop-limit-exceeded")
            return
        if raw is not None:
            inner = raw[:7] + bytes((packet.hop_limit - 1,)) + raw[8:]
        else:
            inner = IPv6Packet(packet.src, packet.dst, packet.payload, packet.extension_headers,
                               packet.hop_limit - 1, packet.traffic_class,
                               packet.flow_label).encode()
        self._tunnel(now, care_of, inner)

    def _unreachable(self, now: float, packet: IPv6Packet, raw: bytes | None) -> None:
        """ICMPv6 Destination Unreachable, code 3, rate-limited, unless RFC 4443 §2.4(e)
        forbids it."""
        src = packet.src
        if not is_unicast_routable(src) and not src.is_link_local:
            return
        payload = packet.payload
        if payload is not None and payload.next_header == 58 and getattr(payload, "icmp_type",
                                                                          255) < 128:
            return  # RFC 4443 §2.4(e.1): never in response to an ICMPv6 error message
        if not self._icmp_limit.take(now):
            self.counters["icmp-rate-limited"] += 1
            return
        invoking = (raw if raw is not None else packet.encode())[:_MIN_MTU_ICMP]
        msg = DestinationUnreachable(DestinationUnreachableCode.ADDRESS_UNREACHABLE, invoking)
        self.send_packet(now, IPv6Packet(self.address, src, msg))

    # -- reverse tunnel exit -------------------------------------------------------------------

    def on_decapsulated(self, now: float, ifname: str, outer: IPv6Packet, inner: IPv6Packet,
                        tunnelled: int) -> None:
        care_of = self.cache.care_of_packed(inner.src.packed)
        if care_of is None:
            self.drop(now, "reverse-tunnel-unbound", f"inner source {inner.src}")
            return
        if care_of != outer.src.packed:
            # Only the mobile node at its registered care-of address is a valid entry point;
            # anything else would let a third party inject packets from a bound address.
            self.drop(now, "reverse-tunnel-mismatch",
                      f"outer source {outer.src} is not the care-of address of {inner.src}")
            return
        self.counters["reverse-tunnelled"] += 1
        super().on_decapsulated(now, ifname, outer, inner, tunnelled)

    # -- ICMPv6: proxy ND and echo -------------------------------------------------------------

    def on_icmpv6(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        if isinstance(message, NeighborSolicitation):
            self._on_neighbor_solicitation(now, ifname, packet, message)
        elif isinstance(message, EchoRequest):
            # RFC 4443 §4.2: "Every node MUST implement an ICMPv6 Echo responder function".
            reply = EchoReply(message.identifier, message.sequence, message.data)
            src = packet.dst if not packet.dst.is_multicast else self.address
            self.send_packet(now, IPv6Packet(src, packet.effective_src, reply))
        elif isinstance(message, NeighborAdvertisement):
            pass  # no address resolution here (node.py: drivers deliver by next hop)
        else:
            self.drop(now, "unhandled-icmpv6", type(message).__name__)

    def _on_neighbor_solicitation(self, now: float, ifname: str, packet: IPv6Packet,
                                  ns: NeighborSolicitation) -> None:
        # RFC 4861 §7.1.1: "The IP Hop Limit field has a value of 255".
        if packet.hop_limit != 255:
            self.drop(now, "nd-hop-limit", "Neighbor Solicitation with hop limit != 255")
            return
        target = ns.target
        proxied = self.cache.care_of_packed(target.packed) is not None
        if not proxied and not self.is_local(target):
            return  # not ours: RFC 4861 §7.2.3 silently discards
        # RFC 4861 §7.2.4: a DAD probe (unspecified source) is answered to all-nodes.
        solicited = not packet.src.is_unspecified
        self._advertise(now, ifname, target, dst=packet.src if solicited else ALL_NODES,
                        solicited=solicited,
                        # RFC 4861 §7.2.8: for a proxy "the Override flag SHOULD be set to 0"
                        # unless it defends the address (DAD) for a node away.
                        override=not proxied or not solicited)

    def _advertise(self, now: float, ifname: str, target: IPv6Address, *, dst: IPv6Address,
                   solicited: bool, override: bool) -> None:
        iface = self.interfaces.get(ifname)
        if iface is None or len(iface.lladdr) != 6:
            return
        src = self.address if self.address in iface.addresses else iface.link_local
        router = self.is_local(target) and self.is_router
        # RFC 6275 §10.4.1 / RFC 4861 §7.2.8: never IPsec-protected, hop limit 255.
        self.send_raw(ifname, neighbor_advertisement_octets(
            src.packed, dst.packed, target.packed, iface.lladdr, router=router,
            solicited=solicited, override=override))

    def announce(self, now: float, target: IPv6Address) -> None:
        """RFC 6275 §10.4.1: "it MUST multicast onto the home link a Neighbor Advertisement
        message ... on behalf of the mobile node" (R 0, S 0, O 1, our link-layer address)."""
        self._advertise(now, self.link, target, dst=ALL_NODES, solicited=False, override=True)

    # -- Binding Updates -----------------------------------------------------------------------

    def on_mobility(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                    peer: str | None, tunnelled: int) -> None:
        if not isinstance(message, BindingUpdate):
            self.drop(now, "unexpected-mobility", type(message).__name__)
            return
        reg = Registration.from_packet(packet, message, peer)
        # RFC 6275 §9.5.1: "The packet MUST contain a unicast routable home address"; §9.5.4:
        # "If the Source Address ... does not contain a unicast address, the Binding
        # Acknowledgement MUST NOT be sent and the Binding Update packet MUST be silently
        # discarded."
        if not is_unicast_routable(reg.address) or not is_unicast_routable(reg.care_of) \
                or reg.source.is_multicast or reg.source.is_unspecified \
                or self.is_local(reg.source):
            # (A source that is this node's own address is spoofed, and cannot be answered.)
            self.drop(now, "bu-bad-address", f"{reg.address} via {reg.care_of}")
            return
        existing = self.cache.get(reg.address, now)
        status = self.admission(now, reg, existing)
        if status is None:
            return  # silently discarded (counted by admission)
        if status == 0 and not reg.deregistration:
            problem = self.care_of_problem(reg.care_of.packed)
            if problem is not None:
                # No tunnel can lead to such a care-of address: refused (RFC 4140 §6.2 "reject
                # the binding update using existing error code 129"), with a BA, the binding
                # unchanged.
                self.counters[f"bad-care-of.{problem}"] += 1
                status = BAStatus.ADMINISTRATIVELY_PROHIBITED
        if (status == 0 and existing is None and reg.peer is not None
                and not reg.deregistration
                and self.cache.held_by(reg.peer, reg.address.packed)
                >= self.max_bindings_per_peer):
            # A bound per authenticated identity: RFC 6275 §6.1.8 status 130, "Insufficient
            # resources".
            status = BAStatus.INSUFFICIENT_RESOURCES
        if status >= 128:
            self.acknowledge(now, reg, Decision(status, 0, message.sequence), existing)
            return
        decision = self.registrar.decide(now, reg, existing,
                                         prefix_lifetime=self.prefix_lifetime(now, reg.address))
        if decision.accepted and not reg.deregistration and decision.lifetime == 0:
            # The prefix has no valid lifetime left to grant.
            decision = Decision(BAStatus.ADMINISTRATIVELY_PROHIBITED, 0, message.sequence)
        if decision.accepted:
            if reg.deregistration:
                self.unbind(now, reg.address, "deregistered")
            else:
                self.bind(now, reg, decision)
        self.acknowledge(now, reg, decision, existing)

    def admission(self, now: float, reg: Registration, existing: BindingEntry | None
                  ) -> int | None:
        """Engine-specific checks before the shared ones: None to discard silently, a status
        >= 128 to reject, 0 to go on."""
        return 0

    def prefix_lifetime(self, now: float, address: IPv6Address) -> float | None:
        """Remaining valid lifetime of the bound address's prefix (None: unlimited)."""
        return None

    def acknowledge(self, now: float, reg: Registration, decision: Decision,
                    existing: BindingEntry | None) -> None:
        # RFC 6275 §10.3.1: "Regardless of the setting of the Acknowledge (A) bit in the
        # Binding Update, the home agent MUST return a Binding Acknowledgement".
        peer = existing.peer if existing is not None and existing.peer == reg.peer else reg.peer
        if decision.status >= 128:
            self.counters[f"bu-refused.{int(decision.status)}"] += 1
        self.send_packet(now, binding_acknowledgement(reg, decision), peer=peer)

    def bind(self, now: float, reg: Registration, decision: Decision) -> None:
        created = self.cache.update(now, reg.address, reg.care_of, decision.lifetime,
                                    reg.bu.sequence, int(reg.bu.flags), reg.peer)
        self.on_bound(now, reg, created)
        self.emit(BindingCacheUpdated(time=now, home_address=reg.address,
                                      care_of_address=reg.care_of, lifetime=decision.lifetime,
                                      created=created))
        self._arm_expiry()

    def on_bound(self, now: float, reg: Registration, created: bool) -> None:
        if created:
            self.announce(now, reg.address)

    def unbind(self, now: float, address: IPv6Address, reason: str) -> None:
        entry = self.cache.remove(address)
        if entry is not None:
            self.on_unbound(now, entry)
            self.emit(BindingRemoved(time=now, home_address=address, reason=reason))

    def on_unbound(self, now: float, entry: BindingEntry) -> None:
        """A binding went away (deregistered or expired)."""

    # -- timers --------------------------------------------------------------------------------

    def _arm_expiry(self) -> None:
        at = self.cache.next_expiry()
        if at is None:
            self.timers.cancel(EXPIRY_TIMER)
        elif self.timers.get(EXPIRY_TIMER) != at:
            self.timers.cancel(EXPIRY_TIMER)
            self.timers.set(EXPIRY_TIMER, at)

    def on_timer(self, now: float, name: str) -> None:
        if name == EXPIRY_TIMER:
            # RFC 6275 §9.5.2: "Any Binding Cache entry MUST be deleted after the expiration
            # of its lifetime."
            for entry in self.cache.expire(now):
                self.on_unbound(now, entry)
                self.emit(BindingRemoved(time=now, home_address=entry.address,
                                         reason="expired"))
            self._arm_expiry()

    def restart(self, now: float) -> None:
        super().restart(now)
        if not getattr(self.cache.store, "durable", False):
            # RFC 4140 §10: "If a MAP fails, its binding cache content will be lost" (unless a
            # durable store keeps it).
            for entry in self.cache.clear():
                self.emit(BindingRemoved(time=now, home_address=entry.address, reason="lost"))
                self.on_unbound(now, entry)
        else:
            # A durable store kept the bindings: rebuild the expiry schedule from it, as a
            # restarted process would, and remove (RFC 6275 §9.5.2) those whose lifetime ran
            # out while the node was down.
            self.cache.reload()
            for entry in self.cache.expire(now):
                self.on_unbound(now, entry)
                self.emit(BindingRemoved(time=now, home_address=entry.address,
                                         reason="expired"))
        self._arm_expiry()

    # -- inspection ----------------------------------------------------------------------------

    def bindings(self) -> list[BindingEntry]:
        """Every entry (for reports and invariant checks)."""
        return list(self.cache)
