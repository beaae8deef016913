"""A plain IPv6 router engine: forwarding, Neighbor Discovery answers, Echo, ICMPv6 errors.

Theory of operation
-------------------
:class:`Router` is a :class:`~hmipv6.core.node.Node` with ``is_router = True``: packets not
addressed to it are forwarded by longest-prefix match with the hop limit decremented (RFC
8200 §3, done by :meth:`Node.forward`). On top of the base class it

- refuses to forward link-local traffic off its link (RFC 4291 §2.5.6: "Routers must not
  forward any packets with Link-Local source or destination addresses to other links"),
- answers Neighbor Solicitations for its own addresses with a Neighbor Advertisement, Router
  flag set (RFC 4861 §7.2.4); subclasses may answer for more targets (proxy ND of a MAP,
  RFC 4861 §7.2.8) through :meth:`Router.ns_target_proxied`,
- answers Echo Requests (RFC 4443 §4.2: "Every node MUST implement an ICMPv6 Echo responder
  function that receives Echo Requests and originates corresponding Echo Replies"),
- originates ICMPv6 Time Exceeded (hop limit reached zero, RFC 4443 §3.3) and Destination
  Unreachable (no route, RFC 4443 §3.1; link-local source leaving its link, code 2) when
  forwarding fails, never in answer to an ICMPv6 error, a multicast destination or a source
  that does not name one node (RFC 4443 §2.4 (e)), and rate-limited by a token bucket
  (RFC 4443 §2.4 (f): "an IPv6 node MUST limit the rate of ICMPv6 error messages it
  originates ... a token bucket ... the possible defaults could be B=10, N=10/s").

ICMPv6 dispatch goes through small hooks (:meth:`on_router_solicitation`,
:meth:`on_router_advertisement`, :meth:`on_echo_reply`, :meth:`on_icmpv6_error`) that the
access router and other engines override. Each hook receives ``peer``, the identity IPsec
authenticated for the packet (``None`` when unprotected), which the base class's
``on_icmpv6`` does not carry: :meth:`Router.dispatch` keeps it for the duration of the call.

Neighbor Discovery messages are validated per RFC 4861 §6.1 and §7.1 (hop limit 255, code 0,
and the unspecified-source rules) and sent with hop limit 255.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any

from hmipv6.core.node import Node, Transmit
from hmipv6.core.ratelimit import TokenBucket
from hmipv6.core.security import Security, SecurityDrop
from hmipv6.wire.addr import ALL_NODES, UNSPECIFIED, solicited_node
from hmipv6.wire.icmpv6 import (
    DestinationUnreachable,
    DestinationUnreachableCode,
    EchoReply,
    EchoRequest,
    ICMPv6Message,
    NeighborAdvertisement,
    NeighborSolicitation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    TargetLinkLayerAddress,
    TimeExceeded,
    TimeExceededCode,
    options_of,
)
from hmipv6.wire.ipv6 import IPv6Packet, Payload, decodes

__all__ = ["ND_HOP_LIMIT", "Router", "RouterConfig", "TokenBucket"]

ND_HOP_LIMIT = 255
"""RFC 4861 §6.1, §7.1: ND messages are sent, and must arrive, with hop limit 255."""
MIN_MTU = 1280
ICMP_ERROR_INVOKING_MAX = MIN_MTU - 40 - 8
"""RFC 4443 §2.4 (c): as much of the invoking packet as fits in the minimum MTU."""
_OCTETS = tuple(bytes((i,)) for i in range(256))


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterConfig:
    icmp_error_rate: float = 10.0
    """Token bucket refill, errors per second (RFC 4443 §2.4 (f) example N)."""
    icmp_error_burst: int = 10
    """Token bucket depth (RFC 4443 §2.4 (f) example B)."""
    send_icmp_errors: bool = True


class Router(Node):
    """An IPv6 router (see the module docstring)."""

    is_router = True

    def __init__(self, name: str, *, rng: random.Random | None = None,
                 security: Security | None = None, config: RouterConfig | None = None) -> None:
        super().__init__(name, rng=rng, security=security)
        self.router_config = config if config is not None else RouterConfig()
        self._icmp_errors = TokenBucket(self.router_config.icmp_error_rate,
                                        self.router_config.icmp_error_burst)
        self._peer: str | None = None

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch(self, now: float, ifname: str, packet: IPv6Packet, payload: Payload | None,
                 peer: str | None, tunnelled: int) -> None:
        # Node.on_icmpv6 has no ``peer``; keep it for the hooks below (RA authentication,
        # AR-06, and authenticated MAP probes, AR-08).
        self._peer = peer
        try:
            super().dispatch(now, ifname, packet, payload, peer, tunnelled)
        finally:
            self._peer = None

    def on_icmpv6(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        peer = self._peer
        if isinstance(message, EchoRequest):
            self.on_echo_request(now, ifname, packet, message)
        elif isinstance(message, EchoReply):
            self.on_echo_reply(now, ifname, packet, message, peer)
        elif isinstance(message, NeighborSolicitation):
            self.on_neighbor_solicitation(now, ifname, packet, message)
        elif isinstance(message, RouterSolicitation):
            self.on_router_solicitation(now, ifname, packet, message)
        elif isinstance(message, RouterAdvertisement):
            self.on_router_advertisement(now, ifname, packet, message, peer)
        elif isinstance(message, NeighborAdvertisement):
            # Drivers deliver by next hop; a router keeps no neighbour cache to update.
            self.counters["ignored.na"] += 1
        elif isinstance(message, ICMPv6Message) and getattr(message, "icmp_type", 128) < 128:
            self.on_icmpv6_error(now, ifname, packet, message)
        else:
            # RFC 4443 §2.4 (b): "If an ICMPv6 informational message of unknown type is
            # received, it MUST be silently discarded."
            self.drop(now, "unhandled-icmpv6", type(message).__name__)

    # -- hooks (subclasses override) -----------------------------------------------------------

    def on_echo_request(self, now: float, ifname: str, packet: IPv6Packet,
                        message: EchoRequest) -> None:
        """RFC 4443 §4.2: the reply echoes identifier, sequence and data; to a multicast
        request "the source address of the reply MUST be a unicast address belonging to the
        interface on which the Echo Request message was received"."""
        if packet.src.is_multicast or packet.src == UNSPECIFIED:
            self.drop(now, "echo-bad-source", str(packet.src))
            return
        src = packet.dst if not packet.dst.is_multicast else self.address_on(ifname)
        self.counters["echo-replied"] += 1
        self.send_to(now, IPv6Packet(src, packet.src, message.reply()), ifname)

    def on_echo_reply(self, now: float, ifname: str, packet: IPv6Packet, message: EchoReply,
                      peer: str | None) -> None:
        self.drop(now, "echo-reply-unexpected", str(packet.src))

    def on_router_solicitation(self, now: float, ifname: str, packet: IPv6Packet,
                               message: RouterSolicitation) -> None:
        # RFC 4861 §6.2.6: only advertising interfaces answer solicitations.
        self.counters["ignored.rs"] += 1

    def on_router_advertisement(self, now: float, ifname: str, packet: IPv6Packet,
                                message: RouterAdvertisement, peer: str | None) -> None:
        self.counters["ignored.ra"] += 1

    def on_icmpv6_error(self, now: float, ifname: str, packet: IPv6Packet,
                        message: ICMPv6Message) -> None:
        """RFC 4443 §2.4 (a): errors go to the upper layer that sent the invoking packet; a
        router originates little, so it only counts them."""
        self.counters[f"icmpv6-error-received.{type(message).__name__}"] += 1

    def ns_target_owned(self, ifname: str, target: IPv6Address) -> bool:
        iface = self.interfaces.get(ifname)
        return iface is not None and (target == iface.link_local or target in iface.addresses)

    def ns_target_proxied(self, ifname: str, target: IPv6Address) -> bool:
        """Targets this node answers for on behalf of another (RFC 4861 §7.2.8); none here."""
        return False

    # -- Neighbor Discovery --------------------------------------------------------------------

    def on_neighbor_solicitation(self, now: float, ifname: str, packet: IPv6Packet,
                                 message: NeighborSolicitation) -> None:
        # RFC 4861 §7.1.1: "The IP Hop Limit field has a value of 255 ... ICMP Code is 0 ...
        # Target Address is not a multicast address ... If the IP source address is the
        # unspecified address, the IP destination address is a solicited-node multicast
        # address ... there is no source link-layer address option in the message."
        if packet.hop_limit != ND_HOP_LIMIT or message.code != 0 or message.target.is_multicast:
            self.drop(now, "ns-invalid", f"hop limit {packet.hop_limit}, target {message.target}")
            return
        dad = packet.src == UNSPECIFIED
        if dad and (packet.dst != solicited_node(message.target)
                    or options_of(message.options, SourceLinkLayerAddress)):
            self.drop(now, "ns-invalid", "unspecified source breaks RFC 4861 §7.1.1")
            return
        proxied = False
        if not self.ns_target_owned(ifname, message.target):
            proxied = self.ns_target_proxied(ifname, message.target)
            if not proxied:
                self.counters["ignored.ns"] += 1
                return
        iface = self.interfaces[ifname]
        # RFC 4861 §7.2.4: "If the source of the solicitation is the unspecified address, the
        # node MUST set the Solicited flag to zero and multicast the advertisement to the
        # all-nodes address. Otherwise, the node MUST set the Solicited flag to one and unicast
        # the advertisement to the source of the solicitation." §7.2.8: a proxy SHOULD set
        # Override to zero.
        na = NeighborAdvertisement(message.target, router=True, solicited=not dad,
                                   override=not proxied,
                                   options=(TargetLinkLayerAddress(iface.lladdr),))
        src = message.target if not proxied else iface.link_local
        dst = ALL_NODES if dad else packet.src
        self.counters["na-sent"] += 1
        self.send_packet(now, IPv6Packet(src, dst, na, hop_limit=ND_HOP_LIMIT), ifname=ifname,
                         next_hop=None, protect=False)

    # -- forwarding from the octets -------------------------------------------------------------

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.forwards_octets = _forwards_as_router(cls)

    def forward_octets(self, data: bytes) -> bool:
        """The router's lane (``Node.forward_octets``): a packet that :meth:`Node.process`
        would hand to :meth:`forward` and that leaves forwarded (not multicast and not ours,
        RFC 4291 §2.7; neither address link-local, RFC 4291 §2.5.6; hop limit above 1, RFC
        8200 §3; a route) is forwarded from its header octets, once :func:`decodes` says
        decoding would have succeeded; anything else returns False for the general path,
        which also answers errors (tests hold the two equal)."""
        if len(data) < 40 or data[7] <= 1 or type(data) is not bytes:
            return False
        dst = data[24:40]
        if dst[0] == 0xFF or dst in self._local or (dst[0] == 0xFE and dst[1] & 0xC0 == 0x80) \
                or (data[8] == 0xFE and data[9] & 0xC0 == 0x80):
            return False
        route = self.lookup_route_int(int.from_bytes(dst, "big"))
        if route is None or not decodes(data):
            return False
        self.counters["forwarded"] += 1
        self._out.append(Transmit(route.ifname, b"".join((data[:7], _OCTETS[data[7] - 1],
                                                           data[8:])), route.next_hop))
        return True

    # -- forwarding failures -------------------------------------------------------------------

    def forward(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None) -> None:
        # Link-local is fe80::/10 (RFC 4291 §2.5.6), tested on the integer (``is_link_local``
        # builds a network containment test per call).
        if int(packet.dst) >> 118 == 0x3FA:
            self.drop(now, "link-local-not-for-us", str(packet.dst))
            return
        if int(packet.src) >> 118 == 0x3FA:
            # RFC 4443 §3.1: code 2, "beyond scope of source address".
            self.drop(now, "beyond-scope", f"{packet.src} -> {packet.dst}")
            self.send_icmp_error(now, ifname, packet, raw, DestinationUnreachable(
                DestinationUnreachableCode.BEYOND_SCOPE))
            return
        super().forward(now, ifname, packet, raw)

    def on_forward_failed(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None,
                          reason: str) -> None:
        super().on_forward_failed(now, ifname, packet, raw, reason)
        error: ICMPv6Message
        if reason == "hop-limit-exceeded":
            # RFC 4443 §3.3: "If a router receives a packet with a Hop Limit of zero, or if a
            # router decrements a packet's Hop Limit to zero, it MUST discard the packet and
            # originate an ICMPv6 Time Exceeded message with Code 0".
            error = TimeExceeded(TimeExceededCode.HOP_LIMIT_EXCEEDED)
        else:
            # RFC 4443 §3.1: "If the reason for the failure to deliver is lack of a matching
            # entry in the forwarding node's routing table, the Code field is set to 0".
            error = DestinationUnreachable(DestinationUnreachableCode.NO_ROUTE)
        self.send_icmp_error(now, ifname, packet, raw, error)

    def send_icmp_error(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None,
                        error: ICMPv6Message) -> bool:
        """Originate an ICMPv6 error about ``packet`` (RFC 4443 §2.4). Returns whether one
        was queued."""
        if not self.router_config.send_icmp_errors:
            return False
        payload = packet.payload
        # RFC 4443 §2.4 (e): "An ICMPv6 error message MUST NOT be originated as a result of
        # receiving ... (e.1) An ICMPv6 error message ... (e.3) A packet destined to an IPv6
        # multicast address ... (e.6) A packet whose source address does not uniquely identify
        # a single node -- e.g., the IPv6 Unspecified Address, an IPv6 multicast address".
        if isinstance(payload, ICMPv6Message) and getattr(payload, "icmp_type", 128) < 128:
            self.counters["icmp-error-suppressed.error"] += 1
            return False
        if packet.dst.is_multicast or packet.src.is_multicast or packet.src == UNSPECIFIED:
            self.counters["icmp-error-suppressed.multicast-or-unspecified"] += 1
            return False
        if not self._icmp_errors.take(now):
            self.counters["icmp-error-rate-limited"] += 1
            return False
        invoking = raw if raw is not None else packet.encode()
        error = _with_invoking(error, invoking[:ICMP_ERROR_INVOKING_MAX])
        src = self._error_source(ifname, packet.src)
        self.counters[f"icmp-error-sent.{type(error).__name__}"] += 1
        return self.send_to(now, IPv6Packet(src, packet.src, error), ifname)

    def _error_source(self, ifname: str, dst: IPv6Address) -> IPv6Address:
        """RFC 4443 §2.2 (c): the address "most helpful in diagnosing the error", e.g. that
        of the interface on which the packet arrived; a global one when the peer is remote."""
        here = self.address_on(ifname)
        if not here.is_link_local or dst.is_link_local:
            return here
        for iface in self.interfaces.values():
            if iface.addresses:
                return iface.addresses[0]
        return here

    # -- output helpers ------------------------------------------------------------------------

    def send_packet(self, now: float, packet: IPv6Packet, *, ifname: str | None = None,
                    next_hop: IPv6Address | None = None, peer: str | None = None,
                    protect: bool = True) -> bool:
        """:meth:`Node.send_packet`, with an outbound policy refusal (no SA, DISCARD) counted
        as a drop instead of escaping from ``handle_timer``/``receive``."""
        try:
            return super().send_packet(now, packet, ifname=ifname, next_hop=next_hop, peer=peer,
                                       protect=protect)
        except SecurityDrop as exc:
            self.drop(now, exc.reason, f"outbound to {packet.dst}: {exc}")
            return False

    def send_to(self, now: float, packet: IPv6Packet, ifname: str) -> bool:
        """Send ``packet`` by route, or straight out of ``ifname`` when its destination is
        link-local or multicast (on-link, no route needed)."""
        if packet.dst.is_link_local or packet.dst.is_multicast:
            return self.send_packet(now, packet, ifname=ifname, next_hop=None)
        return self.send_packet(now, packet)


def _forwards_as_router(cls: type[Router]) -> bool:
    """Does ``cls`` route and forward as :class:`Router` does (so that its
    :meth:`Router.forward_octets` is what decoding and processing would do)?"""
    return (cls.is_router and cls.process is Node.process and cls.forward is Router.forward
            and cls.is_local is Node.is_local and cls.lookup_route is Node.lookup_route
            and cls.lookup_route_int is Node.lookup_route_int
            and cls.forward_octets is Router.forward_octets)


Router.forwards_octets = _forwards_as_router(Router)


def _with_invoking(error: ICMPv6Message, invoking: bytes) -> ICMPv6Message:
    if isinstance(error, DestinationUnreachable):
        return DestinationUnreachable(error.code, invoking, error.unused)
    if isinstance(error, TimeExceeded):
        return TimeExceeded(error.code, invoking, error.unused)
    return error
