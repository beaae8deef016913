"""Packet builders and helpers for the MAP, home agent and correspondent node tests: the
packets a mobile node would send, built with the wire codecs."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address

from hmipv6.core.events import Event, PacketDropped
from hmipv6.core.node import Node
from hmipv6.core.security import Inbound, SecurityDrop
from hmipv6.wire import IPv6Packet, decode
from hmipv6.wire.ipv6 import (
    AuthenticationHeader,
    DestinationOptions,
    EncapsulatingSecurityPayload,
    HomeAddressOption,
    Payload,
)
from hmipv6.wire.mobility import BindingUpdate, BUFlags, MobilityOption

A = IPv6Address


def binding_update(src: IPv6Address, dst: IPv6Address, home: IPv6Address | None, *,
                   sequence: int = 1, flags: BUFlags | int = BUFlags.A | BUFlags.M,
                   lifetime: int = 400, options: tuple[MobilityOption, ...] = ()) -> IPv6Packet:
    exts = (DestinationOptions((HomeAddressOption(home),)),) if home is not None else ()
    return IPv6Packet(src, dst, BindingUpdate(sequence, BUFlags(flags), lifetime, options), exts)


def with_hao(src: IPv6Address, dst: IPv6Address, home: IPv6Address, payload: Payload
             ) -> IPv6Packet:
    return IPv6Packet(src, dst, payload, (DestinationOptions((HomeAddressOption(home),)),))


def sent(node: Node, now: float = 0.0) -> list[tuple[str, IPv6Packet]]:
    return [(t.ifname, decode(t.data)) for t in node.datagrams_to_send(now)]


def events(node: Node) -> list[Event]:
    out = []
    while (e := node.next_event()) is not None:
        out.append(e)
    return out


def drops(node: Node) -> list[str]:
    return [e.reason for e in events(node) if isinstance(e, PacketDropped)]


@dataclass
class PeerSecurity:
    """A stand-in for IPsec: every inbound packet is attributed to ``peer`` (as if it had
    come over that peer's SA); outbound packets are left as they are and the peer chosen for
    each is recorded. ``pad`` is an optional peer authorisation database."""

    peer: str | None = "mn-1"
    pad: object | None = None

    def __post_init__(self) -> None:
        self.protected_for: list[str | None] = []

    def protect(self, now: float, packet: IPv6Packet, peer: str | None = None) -> IPv6Packet:
        self.protected_for.append(peer)
        return packet

    def unprotect(self, now: float, packet: IPv6Packet) -> Inbound:
        if isinstance(packet.payload, EncapsulatingSecurityPayload) or packet.header(
                AuthenticationHeader):
            raise SecurityDrop("no-sa")
        return Inbound(packet=packet, peer=self.peer)
