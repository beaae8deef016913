"""IKEv2 inside the MAP engine: a :class:`~hmipv6.core.map.MobilityAnchorPoint` that answers
IKE on UDP port 500 with an :class:`~hmipv6.core.ike.exchange.IkeResponder` sharing its
:class:`~hmipv6.core.ipsec.IPsec` (X5380-05).

Theory of operation
-------------------
UDP datagrams addressed to the MAP reach ``Node.on_data``; this subclass takes those for port
500 (RFC 7296 §2.11), hands the IKE octets to ``ike.receive`` and sends each answer back to the
datagram's source port and address through ``send_packet`` (the SPD bypasses UDP, so IKE
itself travels in clear, as it must). The Child SAs the responder installs are in the MAP's
own IPsec, so the MN's first local BU, protected with them, is accepted by the same engine
(SEC-03: the RCoA is already claimed for the MN's identity in the PAD).

Only additive: the base engine is untouched, and without ``ike`` (``None``) the subclass
behaves exactly like it. The mobile-node side is ``MobileNode(..., ike=IkeClient(...))``
(:mod:`.client`); the simulator builds both under the ``rfc5380`` profile
(:mod:`hmipv6.sim.engines`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hmipv6.core.ike.message import IKE_PORT
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.wire.ipv6 import IPv6Packet, Payload
from hmipv6.wire.udp import UDP

if TYPE_CHECKING:
    from hmipv6.core.ike.exchange import IkeResponder

__all__ = ["IKE_TIMER", "IkeMobilityAnchorPoint"]

IKE_TIMER = "ike"


class IkeMobilityAnchorPoint(MobilityAnchorPoint):
    """A MAP answering IKEv2; set :attr:`ike` after construction."""

    ike: IkeResponder | None = None

    def on_data(self, now: float, ifname: str, packet: IPv6Packet, payload: Payload | None,
                tunnelled: int) -> None:
        ike = self.ike
        if (ike is not None and isinstance(payload, UDP) and payload.dst_port == IKE_PORT
                and not tunnelled):
            self.counters["ike-in"] += 1
            for reply in ike.receive(now, payload.data, packet.src):
                self.counters["ike-out"] += 1
                self.send_packet(now, IPv6Packet(packet.dst, packet.src,
                                                 UDP(IKE_PORT, payload.src_port, reply)))
            self._arm_ike()
            return
        super().on_data(now, ifname, packet, payload, tunnelled)

    def _arm_ike(self) -> None:
        t = self.ike.next_timer() if self.ike is not None else None
        if t is None:
            self.timers.cancel(IKE_TIMER)
        else:
            self.timers.set(IKE_TIMER, t)

    def on_timer(self, now: float, name: str) -> None:
        ike = self.ike
        if name != IKE_TIMER or ike is None:
            super().on_timer(now, name)
            return
        # The MAP's own IKE requests (retransmissions, rekeys, DPD of its SaPolicy), each to
        # the address its IKE SA was established from.
        for peer, data in ike.handle_timer_to(now):
            if peer is not None:
                self.counters["ike-out"] += 1
                self.send_packet(now, IPv6Packet(self.address, peer, UDP(IKE_PORT, IKE_PORT, data)))
        self._arm_ike()
