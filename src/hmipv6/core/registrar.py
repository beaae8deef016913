"""Binding Update validation shared by the MAP and the home agent (RFC 6275 §9.5.1, §10.3).

Theory of operation
-------------------
A MAP "acts like a HA" for the RCoA (RFC 4140 §6.2: "This is identical to the HA operation in
[1]. No new error codes are introduced for HMIPv6."), so both engines run one decision
procedure over a parsed :class:`Registration` and the existing binding cache entry:

1. sequence window (§9.5.1): a sequence number not newer, modulo 2**16, than the last
   accepted one gets status 135 and the last accepted number;
2. registration type (§9.5.1): an entry installed with another registration kind (home
   registration H, or MAP registration M) gets status 139 and is left unchanged;
3. deregistration (§9.5.1: lifetime zero or care-of address equal to the home address):
   without an entry, status 133 (§10.3.2); otherwise the entry is removed, lifetime 0;
4. registration: the granted lifetime is the requested one cut to the node's maximum and to
   the remaining valid lifetime of the bound address's prefix (§10.3.1), in whole 4-second
   units (§6.1.8).

What only one engine knows (valid LCoA prefixes, home subnets, DAD, the installing peer) is
checked by the engine around :meth:`Registrar.decide`. :func:`binding_acknowledgement` builds
the answer as §9.5.4 addresses it: to the BU's source, with a Type 2 routing header holding
the bound address (the RCoA at a MAP, RFC 4140 §6.2: "MUST include a routing header type 2
that contains the mobile node's RCoA"), and no routing header when the BU came from the bound
address itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv6Address

from hmipv6.core.binding_cache import BindingEntry
from hmipv6.wire import checksum as ck
from hmipv6.wire.ipv6 import IPv6Packet, RoutingHeaderType2
from hmipv6.wire.mobility import (
    MAX_LIFETIME,
    AlternateCareOfAddress,
    BAFlags,
    BAStatus,
    BindingAcknowledgement,
    BindingUpdate,
    BUFlags,
    MobilityOption,
)

__all__ = [
    "IPV4_EMBEDDED_HEADS",
    "Decision",
    "Registrar",
    "Registration",
    "binding_acknowledgement",
    "binding_acknowledgement_head",
    "binding_acknowledgement_mh",
    "binding_acknowledgement_octets",
    "is_ipv4_embedded_packed",
    "is_reserved_anycast_packed",
    "is_unicast_routable",
    "sequence_newer",
]


_NO_FLAGS = BAFlags(0)


def sequence_newer(new: int, last: int) -> bool:
    """RFC 6275 §9.5.1: "This Sequence Number comparison MUST be performed modulo 2**16 ... A
    Sequence Number in a received Binding Update is considered less than or equal to the last
    received number if its value lies in the range of the last received number and the
    preceding 32768 values, inclusive." """
    return 0 < (new - last) & 0xFFFF < 0x8000


def is_unicast_routable(address: IPv6Address) -> bool:
    """RFC 6275 §9.5.1: "The packet MUST contain a unicast routable home address"."""
    return not (address.is_multicast or address.is_unspecified or address.is_loopback
                or address.is_link_local)


_UNSPECIFIED = bytes(16)
_LOOPBACK = bytes(15) + b"\x01"


def is_unicast_routable_packed(address: bytes) -> bool:
    """:func:`is_unicast_routable` on 16 octets (for the octet-level fast paths): not
    multicast (ff00::/8), unspecified, loopback or link-local (fe80::/10)."""
    first = address[0]
    return not (first == 0xFF or (first == 0xFE and address[1] & 0xC0 == 0x80)
                or address in (_UNSPECIFIED, _LOOPBACK))


_ANYCAST_IID_HEAD = b"\xfd\xff\xff\xff\xff\xff\xff"


def is_reserved_anycast_packed(address: bytes) -> bool:
    """A reserved anycast address of a 64-bit-interface-identifier prefix: the Subnet-Router
    anycast address (RFC 4291 §2.6.1: "the interface identifier set to zero") or a reserved
    subnet anycast address (RFC 2526 §2, EUI-64 format: interface identifiers
    fdff:ffff:ffff:ff80 to fdff:ffff:ffff:ffff). Neither may be a node's care-of or
    regional address: they belong to the routers of the subnet."""
    iid = address[8:]
    return iid == _ZERO_IID or (iid[:7] == _ANYCAST_IID_HEAD and iid[7] >= 0x80)


_ZERO_IID = bytes(8)
_V4_MAPPED = bytes(10) + b"\xff\xff"
_V4_COMPATIBLE = bytes(12)


IPV4_EMBEDDED_HEADS = frozenset((_V4_MAPPED, _V4_COMPATIBLE))
"""The first 12 octets of IPv4-mapped (::ffff:0:0/96, RFC 4291 §2.5.5.2: represents an IPv4
node's address, never an IPv6 interface's) and of the deprecated IPv4-compatible (::/96,
§2.5.5.1) addresses."""


def is_ipv4_embedded_packed(address: bytes) -> bool:
    """Is ``address`` (16 octets) IPv4-mapped or IPv4-compatible (see
    :data:`IPV4_EMBEDDED_HEADS`)?"""
    return address[:12] in IPV4_EMBEDDED_HEADS


@dataclass(frozen=True, slots=True)
class Registration:
    """A Binding Update with the addresses RFC 6275 §9.5.1 derives from its packet."""

    bu: BindingUpdate
    address: IPv6Address
    """The home address of the binding (the HAO, else the source): the RCoA at a MAP."""
    care_of: IPv6Address
    """The Alternate Care-of Address option, else the source: the LCoA at a MAP."""
    source: IPv6Address
    """Where the acknowledgement goes (§9.5.4: "the acknowledgement MUST be sent to the
    Source Address")."""
    destination: IPv6Address
    """The BU's destination: this node's address the acknowledgement comes from."""
    peer: str | None

    @classmethod
    def from_packet(cls, packet: IPv6Packet, bu: BindingUpdate, peer: str | None
                    ) -> Registration:
        # RFC 6275 §9.5.1: "If the Alternate Care-of Address option is present, the care-of
        # address is the address in that option. Otherwise, the care-of address is the Source
        # Address field"; "If the Home Address destination option is present, the home
        # address is the address in that option."
        care_of = packet.src
        for opt in bu.options:
            if isinstance(opt, AlternateCareOfAddress):
                care_of = opt.address
        return cls(bu, packet.home_address or packet.src, care_of, packet.src, packet.dst, peer)

    @property
    def deregistration(self) -> bool:
        """RFC 6275 §9.5.1: "If the Lifetime specified in the Binding Update is zero ... this is
        a request to delete"; §10.3.2 / §9.5.1: a care-of address equal to the home address
        also de-registers."""
        return self.bu.lifetime == 0 or self.care_of == self.address


@dataclass(frozen=True, slots=True)
class Decision:
    status: int
    lifetime: int
    """Lifetime to grant (seconds, a multiple of 4); 0 for a rejection or deregistration."""
    sequence: int
    """Sequence number for the acknowledgement."""

    @property
    def accepted(self) -> bool:
        return self.status < 128


class Registrar:
    """The shared steps 1-4 of the module docstring, for one registration kind."""

    __slots__ = ("kind", "max_lifetime")

    def __init__(self, *, kind: BUFlags, max_lifetime: int) -> None:
        self.kind = kind
        """BUFlags.M at a MAP, BUFlags.H at a home agent: the flag marking our entries."""
        self.max_lifetime = max_lifetime

    def decide(self, now: float, reg: Registration, existing: BindingEntry | None, *,
               prefix_lifetime: float | None = None) -> Decision:
        bu = reg.bu
        if existing is not None and existing.expires <= now:
            existing = None
        if existing is not None:
            # RFC 6275 §9.5.1: "the receiving node MUST send back a Binding Acknowledgement
            # with status code 135, and the last accepted sequence number".
            if not sequence_newer(bu.sequence, existing.sequence):
                return Decision(BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, 0, existing.sequence)
            # RFC 6275 §9.5.1: "If a binding already exists ... and the home registration flag
            # has a different value ... MUST send back ... status code 139".
            if (existing.flags ^ bu.flags) & self.kind:
                return Decision(BAStatus.REGISTRATION_TYPE_CHANGE_DISALLOWED, 0, bu.sequence)
        if reg.deregistration:
            # RFC 6275 §10.3.2: "If the receiving node has no entry marked as a home
            # registration ... MUST reject ... status ... 133".
            if existing is None:
                return Decision(BAStatus.NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE, 0, bu.sequence)
            return Decision(BAStatus.ACCEPTED, 0, bu.sequence)
        return Decision(BAStatus.ACCEPTED, self.grant(bu.lifetime, prefix_lifetime),
                        bu.sequence)

    def grant(self, requested: int, prefix_lifetime: float | None = None) -> int:
        """RFC 6275 §10.3.1: "MUST NOT be greater than the Lifetime value specified in the
        Binding Update" nor "the remaining valid lifetime for the subnet prefix"; the node
        "MAY further decrease" it (our maximum). Whole 4-second units, as §6.1.8 carries it."""
        granted = min(requested, self.max_lifetime, MAX_LIFETIME)
        if prefix_lifetime is not None:
            granted = min(granted, int(max(0.0, prefix_lifetime)))
        return granted & ~3


def binding_acknowledgement(reg: Registration, decision: Decision, *,
                            flags: BAFlags = _NO_FLAGS,
                            options: tuple[MobilityOption, ...] = ()) -> IPv6Packet:
    """The BA for ``reg`` (RFC 6275 §9.5.4 addressing; see the module docstring)."""
    ba = BindingAcknowledgement(decision.status, flags, decision.sequence, decision.lifetime,
                                options)
    exts: tuple[RoutingHeaderType2, ...] = ()
    if reg.source != reg.address:
        # RFC 6275 §9.5.4: "Otherwise, the Binding Acknowledgement MUST be sent using a type 2
        # routing header that contains the mobile node's home address."
        exts = (RoutingHeaderType2(reg.address),)
    return IPv6Packet(reg.destination, reg.source, ba, exts)


_BA_HEAD = struct.Struct("!IHBB16s16s" "BBBBI16s")
"""IPv6 header and Type 2 routing header of a BA."""
_BA_MH = struct.Struct("!BBBBHBBHH4s")
"""The BA's Mobility Header, options padded (PadN 2)."""
_BA_WITH_RH2 = struct.Struct(_BA_HEAD.format + _BA_MH.format[1:])


def binding_acknowledgement_octets(src: bytes, dst: bytes, home: bytes, status: int,
                                   sequence: int, lifetime: int) -> bytes:
    """The octets ``binding_acknowledgement`` encodes for an unprotected BA without options
    and with a Type 2 routing header, laid out in one ``struct`` call for the fast path
    (tests check it equals the codec's output octet for octet)."""
    head = _BA_WITH_RH2.pack(0x60000000, 40, 43, 64, src, dst,
                             135, 2, 2, 1, 0, home,
                             59, 1, 6, 0, 0, status, 0, sequence, lifetime >> 2,
                             b"\x01\x02\x00\x00")
    # RFC 6275 §6.1.1: checksum over the pseudo-header whose destination is the final one
    # (the routing header's address, RFC 8200 §8.1).
    c = ck.checksum(src, home, 135, head[64:])
    return head[:68] + c.to_bytes(2, "big") + head[70:]


def binding_acknowledgement_mh(src: bytes, home: bytes, status: int, sequence: int,
                               lifetime: int) -> bytes:
    """The Mobility Header of :func:`binding_acknowledgement_octets` alone (16 octets, its
    checksum over the pseudo-header ``src`` -> ``home``, RFC 6275 §6.1.1), for a fast path
    that protects it (ESP seals the MH; the headers in front stay clear)."""
    mh = _BA_MH.pack(59, 1, 6, 0, 0, status, 0, sequence, lifetime >> 2, b"\x01\x02\x00\x00")
    c = ck.checksum(src, home, 135, mh)
    return mh[:4] + c.to_bytes(2, "big") + mh[6:]


def binding_acknowledgement_head(src: bytes, dst: bytes, home: bytes, payload_length: int,
                                 next_header: int) -> bytes:
    """The IPv6 header and Type 2 routing header (RFC 6275 §6.4) of a BA from ``src`` to the
    care-of address ``dst`` for ``home``, for ``payload_length`` octets after the IPv6
    header, the routing header announcing ``next_header`` (50 when ESP follows)."""
    return _BA_HEAD.pack(0x60000000, payload_length, 43, 64, src, dst, next_header, 2, 2, 1, 0,
                         home)
