"""The engines' security collaborator: how a node protects what it sends and verifies what
it receives (RFC 4140 §12, RFC 6275 §5.1).

Engines never touch keys. Every packet a node originates goes through :meth:`Security.protect`
and every packet addressed to the node goes through :meth:`Security.unprotect` before the node
acts on it. The real implementation (ESP/AH in transport mode with SA, SP and peer
authorisation databases) lives in :mod:`hmipv6.core.ipsec`; :class:`NullSecurity` is the
pass-through used where a scenario says ``security = "none"``. A collaborator may also offer
``can_protect(src, dst, protocol, message_type) -> bool`` (:meth:`hmipv6.core.ipsec.IPsec.
can_protect`): the mobile node asks it before choosing a MAP, and uses no MAP it could not
protect a binding update to (RFC 4140 §12.1); without it every MAP is usable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hmipv6.errors import HMIPv6Error
from hmipv6.wire.ipv6 import IPv6Packet

__all__ = ["Inbound", "NullSecurity", "Security", "SecurityDrop"]


class SecurityDrop(HMIPv6Error):
    """An inbound packet that must be dropped (``reason`` is a short slug for counters)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    """A packet that passed inbound processing."""

    packet: IPv6Packet
    """The packet with ESP/AH removed and the protected payload decoded."""
    peer: str | None
    """The authenticated identity of the sender (``None`` when the packet was unprotected)."""


class Security(Protocol):
    def protect(self, now: float, packet: IPv6Packet, peer: str | None = None) -> IPv6Packet:
        """Apply outbound policy: return ``packet`` protected as policy requires (or as it is
        when policy says bypass). ``peer`` selects the SA when several could match."""
        ...

    def unprotect(self, now: float, packet: IPv6Packet) -> Inbound:
        """Apply inbound policy; raise :class:`SecurityDrop` when the packet must be dropped
        (unprotected where protection is required, bad ICV, replay, unknown SPI...)."""
        ...


class NullSecurity:
    """No protection at all: for ``security = "none"`` comparison runs only."""

    def protect(self, now: float, packet: IPv6Packet, peer: str | None = None) -> IPv6Packet:
        return packet

    def unprotect(self, now: float, packet: IPv6Packet) -> Inbound:
        from hmipv6.wire.ipv6 import AuthenticationHeader, EncapsulatingSecurityPayload

        if isinstance(packet.payload, EncapsulatingSecurityPayload) or packet.header(
            AuthenticationHeader
        ):
            raise SecurityDrop("no-sa", "protected packet but no security associations")
        return Inbound(packet=packet, peer=None)

    def admits_in_clear(self, next_header: int) -> bool:
        """See :meth:`hmipv6.core.ipsec.IPsec.admits_in_clear`: without SAs an unprotected
        packet (no ESP, no AH) always passes, uncounted."""
        return True
