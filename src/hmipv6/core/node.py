"""The engine contract every node type shares (ARCHITECTURE.md, after aioquic's connection).

Theory of operation
-------------------
A node is a sans-IO state machine. Its driver (the simulator or a daemon) hands it octets
with :meth:`Node.receive` and calls :meth:`Node.handle_timer` once the deadline given by
:meth:`Node.next_timer` has passed; after either, it drains :meth:`Node.datagrams_to_send`
and :meth:`Node.next_event`. Commands (``link_up``, ``send`` ...) are methods of subclasses.

Receiving: octets are decoded once, here. Bad octets are an outcome, not an exception: the
node counts and reports them as :class:`PacketDropped` and carries on. A decoded packet
addressed to one of the node's addresses is *delivered*: IPv6-in-IPv6 is decapsulated (RFC
2473 §3.2) and the inner packet processed as if it had just arrived, protected payloads go
through the node's :class:`~hmipv6.core.security.Security`, and the payload is dispatched to
``on_icmpv6`` / ``on_mobility`` / ``on_udp``. Anything else is *forwarded* when the node is a
router (hop limit decremented, RFC 8200 §3), or dropped.

One inbound policy for mobility signalling: every Mobility Header message reaches
``on_mobility`` (the BU processing of MAPs, home agents and correspondents, FBUs) only through
:meth:`Node.dispatch`, after (1) :meth:`Node.deliver` has discarded a packet whose type 2
routing header does not name one of the node's home addresses (RFC 6275 §9.3.2; only a mobile
node has any), before IPsec could take that address for the node's own; (2) the node's
security has processed it; (3) :meth:`Node._mobility_policy_ok` has refused it when it came
unprotected and the SPD requires protection at *any* of the node's addresses (a BU sent to a
link-local address meets the policy of the global one). Octet-level fast paths accept only
what this path would accept (the MAP's are held to it by tests). Nesting: at most
:attr:`Node.tunnel_nesting_limit` IPv6-in-IPv6 levels are opened (RFC 2473 §4.1.1).

No exception leaves :meth:`Node.receive`: bad input is an outcome (a counted drop, an RFC
answer), and as a last resort an unexpected exception is caught there and reported as
``PacketDropped(reason="internal-error")``.

Sending: :meth:`Node.send_packet` encodes, applies outbound security and picks the outgoing
interface by longest-prefix match over the node's routes, then queues a :class:`Transmit`.

Link layer: a :class:`Transmit` names the interface and the next hop's IPv6 address (``None``
for a multicast or on-link destination). Drivers deliver by next hop; Neighbor Discovery
messages are still exchanged (for DAD and proxy ND, RFC 4861 §7.2.8) but drivers need not do
address resolution.
"""

from __future__ import annotations

import random
import struct
from collections import deque
from dataclasses import dataclass, field, replace
from ipaddress import IPv6Address, IPv6Network
from operator import attrgetter
from typing import Any

from hmipv6.core.counts import Counts
from hmipv6.core.events import DataReceived, Event, PacketDropped
from hmipv6.core.ratelimit import TokenBucket
from hmipv6.core.security import NullSecurity, Security, SecurityDrop
from hmipv6.core.timers import TimerSet
from hmipv6.errors import DecodeError, EncodeError
from hmipv6.wire.addr import text
from hmipv6.wire.icmpv6 import ParameterProblem
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, IPv6Packet, Payload, decode
from hmipv6.wire.mobility import BEStatus, BindingError, UnknownMobilityMessage

__all__ = ["Interface", "Node", "Route", "Transmit", "encapsulate_raw", "link_local_for"]

_HDR = struct.Struct("!IHBB16s16s")
_OCTETS = tuple(bytes((i,)) for i in range(256))
"""One-octet ``bytes`` by value (the decremented hop limit of a forwarded packet)."""
LINK_LOCAL = IPv6Network("fe80::/64")


@dataclass(slots=True, unsafe_hash=True)
class Transmit:
    """Octets to put on an interface, towards ``next_hop`` (``None``: multicast/on-link).

    Treated as immutable (hashable, never changed once queued) but not ``frozen``: a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``, about three
    times the cost, and an anchor creates one per tunnelled packet."""

    ifname: str
    data: bytes
    next_hop: IPv6Address | None = None


@dataclass(slots=True)
class Interface:
    name: str
    link_local: IPv6Address
    lladdr: bytes
    """6-octet link-layer address (for SLLA/TLLA options)."""
    addresses: list[IPv6Address] = field(default_factory=list)
    up: bool = True


@dataclass(frozen=True, slots=True)
class Route:
    prefix: IPv6Network
    ifname: str
    next_hop: IPv6Address | None = None


_PREFIXLEN = attrgetter("prefix.prefixlen")


def link_local_for(node: str, ifname: str) -> tuple[IPv6Address, bytes]:
    """A deterministic link-local address and MAC for (node, interface): stable across runs
    so pcaps and reports do not change between runs of the same scenario."""
    import hashlib

    h = hashlib.blake2s(f"{node}/{ifname}".encode(), digest_size=6).digest()
    mac = bytes([(h[0] | 0x02) & 0xFE]) + h[1:]  # locally administered, unicast
    # Modified EUI-64 (RFC 4291 Appendix A).
    eui = bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:]
    return IPv6Address(b"\xfe\x80" + bytes(6) + eui), mac


def encapsulate_raw(src: IPv6Address, dst: IPv6Address, inner: bytes, hop_limit: int = 64) -> bytes:
    """IPv6-in-IPv6 (RFC 2473 §3.1) around already-encoded octets, without re-encoding them."""
    return _HDR.pack(0x60000000, len(inner), 41, hop_limit, src.packed, dst.packed) + inner


_RouteIndex = tuple[tuple[int, dict[int, Route]], ...]


def _route_index(routes: list[Route]) -> _RouteIndex:
    """``routes`` as runs of equal prefix length, in list order, each a dict from the network
    (an integer, shifted right by ``128 - prefixlen``) to its route: the first route of the
    list containing an address is the first run's hit (within a run the networks are
    disjoint, and of equal ones the first is kept), so looking the runs up in order answers
    exactly as scanning the list does (tests/core/test_node.py checks it)."""
    runs: list[tuple[int, dict[int, Route]]] = []
    for r in routes:
        shift = 128 - r.prefix.prefixlen
        if not runs or runs[-1][0] != shift:
            runs.append((shift, {}))
        runs[-1][1].setdefault(int(r.prefix.network_address) >> shift, r)
    return tuple(runs)


TUNNEL_NESTING_LIMIT = 4
"""RFC 2473 §6.6: "Recommended default value is 4" for the Tunnel Encapsulation Limit."""

_DROP_KEYS: dict[str, str] = {}
"""Drop reason -> its counter's key ``dropped.<reason>``, made once per reason (a drop
counts with a key whose hash is already known, instead of formatting one per packet)."""


def _drop_key(reason: str) -> str:
    key = f"dropped.{reason}"
    if len(_DROP_KEYS) < 1024:  # reasons are a small fixed set; bounded all the same
        _DROP_KEYS[reason] = key
    return key


class Node:
    """Base of every engine: interfaces, routes, timers, output queue, events, counters."""

    is_router: bool = False
    tunnel_nesting_limit: int = TUNNEL_NESTING_LIMIT
    """IPv6-in-IPv6 levels this node decapsulates from one packet (RFC 2473 §4.1.1, §6.6);
    a packet nested deeper is dropped (``dropped.tunnel-nesting``)."""
    _receives_octets: bool = False
    """Does this class override :meth:`_receive` (then :meth:`receive_packet` must use it)?"""
    report_drops: bool = True
    """Does :meth:`drop` report each drop as a :class:`PacketDropped` event? A driver that
    would only count those events (the simulator when it keeps no event log) sets it False on
    a node: :meth:`drop` then counts the drop (``dropped.<reason>`` as always, and
    :attr:`unreported_drops`) and queues nothing, so a frame the node only drops leaves it
    :meth:`idle` and its detail text need not be built (issue 12, simulator throughput)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._receives_octets = cls._receive is not Node._receive

    def __init__(self, name: str, *, rng: random.Random | None = None,
                 security: Security | None = None) -> None:
        self.name = name
        self.rng = rng if rng is not None else random.Random(0)
        self.security: Security = security if security is not None else NullSecurity()
        self.interfaces: dict[str, Interface] = {}
        self.routes: list[Route] = []
        self.timers = TimerSet()
        self.counters = Counts()
        self._out: list[Transmit] = []
        self._events: deque[Event] = deque()
        self._local: set[bytes] = set()
        self._local_ints: set[int] = set()
        """:attr:`_local` as integers, for :meth:`is_local` (``.packed`` costs a conversion
        per call); the two are changed together, only by the methods below."""
        self.crashed = False
        self.unreported_drops = 0
        """Drops not reported as events (:attr:`report_drops` False)."""
        self._error_limit = TokenBucket(10.0, 10)
        """Binding Errors and ICMPv6 errors this base class originates (RFC 6275 §9.3.3)."""
        self._lookup_seen: tuple[list[Route], int, dict[int, Route | None], _RouteIndex] = (
            self.routes, 0, {}, ())

    # -- configuration -------------------------------------------------------------------------

    def add_interface(self, ifname: str, addresses: tuple[IPv6Address, ...] = ()) -> Interface:
        ll, mac = link_local_for(self.name, ifname)
        iface = Interface(ifname, ll, mac, list(addresses))
        self.interfaces[ifname] = iface
        self._local.add(ll.packed)
        self._local_ints.add(int(ll))
        for a in addresses:
            self._local.add(a.packed)
            self._local_ints.add(int(a))
        return iface

    def add_address(self, ifname: str, address: IPv6Address) -> None:
        iface = self.interfaces[ifname]
        if address not in iface.addresses:
            iface.addresses.append(address)
        self._local.add(address.packed)
        self._local_ints.add(int(address))

    def remove_address(self, ifname: str, address: IPv6Address) -> None:
        iface = self.interfaces[ifname]
        if address in iface.addresses:
            iface.addresses.remove(address)
        if not any(address in i.addresses or address == i.link_local for i in self.interfaces.values()):
            self._local.discard(address.packed)
            self._local_ints.discard(int(address))

    def add_route(self, prefix: IPv6Network | str, ifname: str, next_hop: IPv6Address | None = None
                  ) -> None:
        net = prefix if isinstance(prefix, IPv6Network) else IPv6Network(prefix)
        self.routes = [r for r in self.routes if r.prefix != net]
        self.routes.append(Route(net, ifname, next_hop))
        # Longest prefix first; a stable sort (reverse=True keeps equal keys in their order),
        # so among equal lengths the routes stay in the order they were added.
        self.routes.sort(key=_PREFIXLEN, reverse=True)

    def remove_route(self, prefix: IPv6Network | str) -> None:
        net = prefix if isinstance(prefix, IPv6Network) else IPv6Network(prefix)
        self.routes = [r for r in self.routes if r.prefix != net]

    def lookup_route(self, dst: IPv6Address) -> Route | None:
        """Longest-prefix match (routes are kept sorted longest first; the first route of the
        list that contains ``dst`` is the answer). Looked up in :func:`_route_index`, by
        integer prefix, and cached per destination (as an integer: hashing an
        ``IPv6Address`` formats it as text) until the route list changes (``add_route`` /
        ``remove_route`` replace the list, so its identity and length tell)."""
        return self.lookup_route_int(int(dst))

    def lookup_route_int(self, a: int) -> Route | None:
        """:meth:`lookup_route` for the destination as an integer."""
        routes = self.routes
        seen = self._lookup_seen
        if seen[0] is not routes or seen[1] != len(routes):
            seen = self._lookup_seen = (routes, len(routes), {}, _route_index(routes))
        cache = seen[2]
        try:
            return cache[a]
        except KeyError:
            pass
        found = None
        for shift, nets in seen[3]:
            found = nets.get(a >> shift)
            if found is not None:
                break
        if len(cache) >= 4096:
            cache.clear()
        cache[a] = found
        return found

    def is_local(self, address: IPv6Address) -> bool:
        return int(address) in self._local_ints

    def address_on(self, ifname: str) -> IPv6Address:
        """The first global address of an interface (its link-local address if none)."""
        iface = self.interfaces[ifname]
        return iface.addresses[0] if iface.addresses else iface.link_local

    # -- the engine contract -------------------------------------------------------------------

    def receive(self, now: float, ifname: str, data: bytes) -> None:
        """A packet arrived on ``ifname``. Never raises: bad input is dropped and counted,
        and an unexpected exception from the processing (an engine bug) is caught here, as
        a last resort, and reported as ``PacketDropped(reason="internal-error")`` with the
        counter ``dropped.internal-error`` (one bad packet must not abort a simulation or
        kill a daemon). Node types with octet-level fast paths override :meth:`_receive`."""
        try:
            self._receive(now, ifname, data)
        except Exception as exc:
            self._internal_error(now, exc)

    def receive_many(self, now: float, ifname: str, packets: list[bytes]) -> None:
        """:meth:`receive` for each of ``packets`` in order, all arrived on ``ifname`` by
        ``now`` (a daemon's batch from one wakeup). Never raises: a packet whose processing
        fails is reported as :meth:`receive` reports it, and the next one is processed.
        Node types with a per-batch fast path override it (the anchors'; tests hold it to
        repeated :meth:`receive`)."""
        it = iter(packets)
        while True:
            try:
                for data in it:
                    self._receive(now, ifname, data)
                return
            except Exception as exc:  # the last-resort guard, per packet (receive)
                self._internal_error(now, exc)

    def _receive(self, now: float, ifname: str, data: bytes) -> None:
        """:meth:`receive` without the guard: decode, then :meth:`process` (a router whose
        :meth:`forward_octets` forwards the packet as they would skips both)."""
        if self.crashed:
            return
        if self.forwards_octets and self.forward_octets(data):
            return
        try:
            packet = decode(data)
        except DecodeError as exc:
            self.drop(now, "malformed", str(exc))
            return
        self.process(now, ifname, packet, data)

    forwards_octets = False
    """Does :meth:`forward_octets` ever forward (a router's own lane, see ``core.router``)?"""

    def forward_octets(self, data: bytes) -> bool:
        """Forward ``data`` exactly as decoding it and :meth:`process` would, from the
        header octets, and return True; False (having done nothing) when that is not sure."""
        return False

    def receive_packet(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes) -> None:
        """:meth:`receive` for octets ``raw`` the driver already decoded into ``packet`` (the
        simulator decodes a multicast frame once and hands the same immutable packet to every
        station of the cell). Behaves exactly as ``receive(now, ifname, raw)``: a node type
        that overrides :meth:`_receive` (octet-level fast paths) gets the octets."""
        if self._receives_octets:
            self.receive(now, ifname, raw)
            return
        if self.crashed:
            return
        try:
            self.process(now, ifname, packet, raw)
        except Exception as exc:
            self._internal_error(now, exc)

    def overheard(self, now: float, packet: IPv6Packet, raw: bytes) -> bool:
        """Take a frame this node only counts, short of :meth:`receive_packet`'s layers:
        True when taken, counted exactly as ``receive_packet(now, ifname, packet, raw)``
        counts it and leaving nothing new for the driver to drain (the node stays
        :meth:`idle`); False, having done nothing, for anything else. The simulator asks it
        first for each frame a cell hands every station (most are other stations' traffic);
        a node type that does not override it is not asked."""
        return False

    def _internal_error(self, now: float, exc: Exception) -> None:
        """The last-resort guard's report: whatever the engine queued for the failed packet
        is kept (it was complete when queued), the packet itself is counted as dropped."""
        self.drop(now, "internal-error", f"{type(exc).__name__}: {exc}")

    def handle_timer(self, now: float) -> None:
        if self.crashed:
            return
        for name in self.timers.pop_due(now):
            self.on_timer(now, name)

    def next_timer(self) -> float | None:
        return None if self.crashed else self.timers.earliest

    def datagrams_to_send(self, now: float) -> list[Transmit]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def take_output(self, now: float) -> tuple[list[Transmit], deque[Event] | tuple[()],
                                                float | None]:
        """What a driver drains after an input, in one call: :meth:`datagrams_to_send`,
        every :meth:`next_event` in order, and :meth:`next_timer` (the simulator calls it
        after each packet or timer that left the node not :meth:`idle`; ``tests/core/
        test_node.py`` holds it to the three). A subclass that overrides one of those must
        override this too."""
        out, self._out = self._out, []
        events: deque[Event] | tuple[()] = self._events
        if events:
            self._events = deque()
        else:
            events = ()
        return out, events, None if self.crashed else self.timers.earliest

    def idle(self, timer: float | None) -> bool:
        """Is there nothing for the driver: no datagram queued, no event, and
        :meth:`next_timer` is ``timer`` (the deadline the driver has armed)? Drivers ask it
        after every input before draining (most frames a station hears are only counted);
        a subclass that overrides ``datagrams_to_send``, ``next_event``, ``next_timer`` or
        :meth:`take_output` must override it too."""
        return (not self._out and not self._events
                and (None if self.crashed else self.timers.earliest) == timer)

    # -- faults (the simulator's crash/restart) ------------------------------------------------

    def crash(self, now: float) -> None:
        """Stop dead: no timers, no output, receive ignores everything."""
        self.crashed = True
        self._out.clear()

    def restart(self, now: float) -> None:
        """Come back after a crash. Subclasses drop volatile state and re-arm their timers."""
        self.crashed = False

    # -- processing ----------------------------------------------------------------------------

    def process(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None) -> None:
        """Route a decoded packet: deliver it locally, forward it, or drop it."""
        dst = packet.dst
        if int(dst) >> 120 == 0xFF or self.is_local(dst):  # multicast (RFC 4291 §2.7) or ours
            self.deliver(now, ifname, packet)
        elif self.is_router:
            self.forward(now, ifname, packet, raw)
        else:
            self.drop(now, "not-for-us", text(dst) if self.report_drops else "")

    def deliver(self, now: float, ifname: str, packet: IPv6Packet, tunnelled: int = 0) -> None:
        """A packet addressed to this node (RFC 8200 §4: extension headers in order)."""
        rh2 = packet.routing_home_address if packet.extension_headers else None
        if rh2 is not None and not self.owns_routing_home_address(rh2):
            # RFC 6275 §9.3.2 (processing a type 2 routing header): "The Home Address field
            # in the routing header is one of the node's home addresses ... If any of these
            # checks fail, the node MUST silently discard the packet"; §8.2: a correspondent
            # that is not a mobile node "MUST ... silently discard all packets that it has
            # received with such headers". Checked before inbound IPsec, whose SPD lookup
            # would otherwise use the routing header's address as this node's.
            self.drop(now, "rh2-not-ours", str(rh2))
            return
        payload = packet.payload
        if isinstance(payload, IPv6Packet):
            if tunnelled >= self.tunnel_nesting_limit:
                # RFC 2473 §4.1.1: nested encapsulation is to be limited; a packet nested
                # deeper than the limit (default 4, §6.6) is discarded and counted.
                self.drop(now, "tunnel-nesting", f"more than {self.tunnel_nesting_limit} "
                          f"IPv6-in-IPv6 levels from {packet.src}")
                return
            # RFC 2473 §3.2: the tunnel exit point removes the outer header and processes
            # the inner packet as if it had arrived on the interface.
            self.on_decapsulated(now, ifname, packet, payload, tunnelled + 1)
            return
        try:
            inbound = self.security.unprotect(now, packet)
        except SecurityDrop as exc:
            self.drop(now, exc.reason, str(exc))
            return
        packet = inbound.packet
        payload = packet.payload
        self.dispatch(now, ifname, packet, payload, inbound.peer, tunnelled)

    def on_decapsulated(self, now: float, ifname: str, outer: IPv6Packet, inner: IPv6Packet,
                        tunnelled: int) -> None:
        """Default tunnel exit: process the inner packet as if it had just arrived."""
        dst = inner.dst
        if int(dst) >> 120 == 0xFF or self.is_local(dst):
            self.deliver(now, ifname, inner, tunnelled)
        elif self.is_router:
            self.forward(now, ifname, inner, None)
        else:
            self.drop(now, "not-for-us", f"inner destination {text(dst)}")

    def dispatch(self, now: float, ifname: str, packet: IPv6Packet, payload: Payload | None,
                 peer: str | None, tunnelled: int) -> None:
        """Hand the payload to the protocol handlers; subclasses extend ``on_*``."""
        nh = payload.next_header if payload is not None else 59
        if nh == 58:
            self.on_icmpv6(now, ifname, packet, payload, tunnelled)
        elif nh == 135:
            if (self._mobility_header_acceptable(now, ifname, packet, payload)
                    and self._mobility_policy_ok(now, packet, payload, peer)):
                self.on_mobility(now, ifname, packet, payload, peer, tunnelled)
        elif isinstance(payload, EncapsulatingSecurityPayload):
            self.drop(now, "no-sa", "ESP packet left unprocessed")
        else:
            self.on_data(now, ifname, packet, payload, tunnelled)

    def _mobility_header_acceptable(self, now: float, ifname: str, packet: IPv6Packet,
                                    message: Any) -> bool:
        """RFC 6275 §9.2, the checks every IPv6 node applies to a Mobility Header before any
        protocol logic (the checksum and Header Len are checked by the codec)."""
        if getattr(message, "payload_proto", 59) != 59:
            # "The Payload Proto field MUST be IPPROTO_NONE (59 decimal). Otherwise, the node
            # MUST discard the message and SHOULD send ICMP Parameter Problem, Code 0 ...
            # The Pointer field ... SHOULD point at the Payload Proto field."
            self.drop(now, "mh-payload-proto", f"Payload Proto {message.payload_proto}")
            if packet.src.is_multicast or packet.src.is_unspecified:
                return False
            if self._error_limit.take(now):
                raw = packet.encode()
                mh = len(message.encode_payload(packet.effective_src.packed,
                                                packet.effective_dst.packed))
                src = packet.dst if self.is_local(packet.dst) else self.address_on(ifname)
                self.send_packet(now, IPv6Packet(src, packet.src, ParameterProblem(
                    0, len(raw) - mh, raw[:1232])))
            return False
        if isinstance(message, UnknownMobilityMessage):
            # "The MH Type field MUST have a known value. Otherwise, the node MUST discard the
            # message and issue a Binding Error message as described in Section 9.3.3, with
            # the Status field set to 2." §9.3.3: to the Source Address from the wire, never
            # to a non-unicast one, Home Address copied from the HAO (else unspecified), rate
            # limited like ICMPv6 errors.
            self.drop(now, "unknown-mh-type", f"MH Type {message.mh_type} from {packet.src}")
            if packet.src.is_multicast or packet.src.is_unspecified:
                return False
            if self._error_limit.take(now):
                src = packet.dst if self.is_local(packet.dst) else self.address_on(ifname)
                be = BindingError(BEStatus.UNRECOGNIZED_MH_TYPE,
                                  packet.home_address or IPv6Address("::"))
                self.send_packet(now, IPv6Packet(src, packet.src, be))
            return False
        return True

    def owns_routing_home_address(self, address: IPv6Address) -> bool:
        """May a type 2 routing header addressed to this node name ``address``? Only a
        mobile node has home addresses (RFC 6275 §9.3.2); every other node says no."""
        return False

    def _mobility_policy_ok(self, now: float, packet: IPv6Packet, message: Any,
                            peer: str | None) -> bool:
        """The inbound policy every Mobility Header message passes before any protocol logic
        (BU processing of MAPs, home agents, correspondents, FBUs...), whichever of this
        node's addresses it was sent to. IPsec checked it against the destination it
        arrived at; an unprotected message is also refused when the SPD would require
        protection (or discard it) had it arrived at any other address of this node (its
        global address rather than a link-local one): RFC 4301 §5.2 with the node's
        addresses as one identity, RFC 6275 §5.1 / RFC 4140 §12.1 (signalling MUST be
        protected)."""
        if peer is not None or not packet.effective_dst.is_link_local:
            # At a global address IPsec has applied that address's own policy already (a
            # mobile node's home address lets return-routability signalling pass in clear
            # while its care-of addresses require ESP, RFC 6275 §5.2): only an address no
            # policy names, a link-local one, borrows the others'.
            return True
        required = getattr(self.security, "inbound_requirement", None)
        if required is None:
            return True
        remote = packet.effective_src
        protocol = 135
        mh_type = getattr(message, "mh_type", None)
        kind = int(mh_type) if isinstance(mh_type, int) else None
        for local in sorted(self._local):
            reason = required(IPv6Address(local), remote, protocol, kind)
            if reason is not None:
                self.drop(now, reason, f"{type(message).__name__} from {remote} to "
                          f"{packet.dst}: policy for {IPv6Address(local)}")
                return False
        return True

    def on_icmpv6(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        self.drop(now, "unhandled-icmpv6", type(message).__name__)

    def on_mobility(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                    peer: str | None, tunnelled: int) -> None:
        self.drop(now, "unhandled-mobility", type(message).__name__)

    def on_data(self, now: float, ifname: str, packet: IPv6Packet, payload: Payload | None,
                tunnelled: int) -> None:
        """Application data reached this node (UDP and anything else)."""
        data = getattr(payload, "data", b"")
        size = len(data) if isinstance(data, bytes) else 0
        self.emit(DataReceived(time=now, src=packet.effective_src, dst=packet.effective_dst,
                               ifname=ifname, size=size, tunnelled=tunnelled))

    def on_timer(self, now: float, name: str) -> None:
        """A named deadline expired."""

    def forward(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None) -> None:
        """RFC 8200 §3: decrement the hop limit; at zero, drop (ICMPv6 Time Exceeded is the
        subclass's business through :meth:`on_forward_failed`)."""
        hop_limit = packet.hop_limit
        if hop_limit <= 1:
            self.on_forward_failed(now, ifname, packet, raw, "hop-limit-exceeded")
            return
        route = self.lookup_route(packet.dst)
        if route is None:
            self.on_forward_failed(now, ifname, packet, raw, "no-route")
            return
        if raw is not None:
            out = b"".join((raw[:7], _OCTETS[hop_limit - 1], raw[8:]))
        else:
            out = replace(packet, hop_limit=hop_limit - 1).encode()
        self.counters["forwarded"] += 1
        self._out.append(Transmit(route.ifname, out, route.next_hop))

    def on_forward_failed(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None,
                          reason: str) -> None:
        self.drop(now, reason, f"{packet.src} -> {packet.dst}")

    # -- output helpers ------------------------------------------------------------------------

    def send_packet(self, now: float, packet: IPv6Packet, *, ifname: str | None = None,
                    next_hop: IPv6Address | None = None, peer: str | None = None,
                    protect: bool = True) -> bool:
        """Protect (outbound policy), encode and queue ``packet``. Returns False (and counts a
        drop) when security refuses it or no route leads to its destination."""
        if protect:
            try:
                packet = self.security.protect(now, packet, peer)
            except SecurityDrop as exc:
                # RFC 4301 §5.1: outbound traffic that policy says to DISCARD, or that needs
                # an SA this node does not have, is dropped (and counted), not sent in clear.
                self.drop(now, exc.reason, f"outbound to {packet.dst}: {exc}")
                return False
        if ifname is None:
            route = self.lookup_route(packet.dst)
            if route is None:
                self.drop(now, "no-route", f"originating to {packet.dst}")
                return False
            ifname, next_hop = route.ifname, route.next_hop
        try:
            data = packet.encode()
        except EncodeError as exc:  # a bug in the engine, surfaced loudly in tests
            raise AssertionError(f"{self.name}: engine built an unencodable packet: {exc}") from exc
        self._out.append(Transmit(ifname, data, next_hop))
        return True

    def send_raw(self, ifname: str, data: bytes, next_hop: IPv6Address | None = None) -> None:
        self._out.append(Transmit(ifname, data, next_hop))

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def drop(self, now: float, reason: str, detail: str = "") -> None:
        """Count and report a discarded packet (the counter is ``dropped.<reason>``; the
        report is a :class:`PacketDropped` unless :attr:`report_drops` is False)."""
        key = _DROP_KEYS.get(reason)
        if key is None:
            key = _drop_key(reason)
        self.counters[key] += 1
        if self.report_drops:
            self.emit(PacketDropped(time=now, reason=reason, detail=detail))
        else:
            self.unreported_drops += 1

