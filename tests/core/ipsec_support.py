"""Shared builders for the IPsec tests: a MAP, two mobile nodes, and their signalling.

The packets are real local BUs (MN → MAP, HAO = RCoA) and BAs (MAP → MN, RH2 = RCoA) once the
Mobility Header codec is present; the message bodies are then built by
``hmipv6.wire.mobility``. Before that (or for raw-format tests) :func:`raw_bu` builds the
octets of a BU by hand (RFC 6275 §6.1.7).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.wire import checksum as ck
from hmipv6.wire.ipv6 import (
    DestinationOptions,
    HomeAddressOption,
    IPv6Packet,
    Payload,
    RoutingHeaderType2,
)

MAP = IPv6Address("2001:db8:ffff::1")
RCOA_PREFIX = IPv6Network("2001:db8:ffff::/64")
RCOA_A = IPv6Address("2001:db8:ffff::a")
RCOA_B = IPv6Address("2001:db8:ffff::b")
LCOA_A = IPv6Address("2001:db8:1::a")
LCOA_B = IPv6Address("2001:db8:2::b")
HA = IPv6Address("2001:db8:aaaa::1")
HOA_A = IPv6Address("2001:db8:aaaa::a")


@dataclass(frozen=True)
class Checksummed:
    """An upper-layer message given as octets whose checksum (at ``at``) is computed on
    encode over the effective addresses (RFC 8200 §8.1), independent of the codecs."""

    protocol: int
    data: bytes
    at: int

    @property
    def next_header(self) -> int:
        return self.protocol

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        raw = self.data[: self.at] + bytes(2) + self.data[self.at + 2 :]
        c = ck.checksum(src, dst, self.protocol, raw).to_bytes(2, "big")
        return raw[: self.at] + c + raw[self.at + 2 :]


def icmpv6(type_: int, body: bytes = bytes(4)) -> Checksummed:
    """An ICMPv6 message (RFC 4443 §2.1): type, code 0, checksum, body."""
    return Checksummed(58, bytes((type_, 0, 0, 0)) + body, 2)


def raw_bu(seq: int = 1, lifetime: int = 60, flags: int = 0x8000 | 0x0800) -> Checksummed:
    """A local Binding Update (A and M flags, RFC 4140 §4.1) as octets."""
    # 6 octets of MH header + 6 of BU + a 4-octet PadN option = 16 octets (Header Len 1).
    return Checksummed(135, struct.pack("!BBBBHHHH", 59, 1, 5, 0, 0, seq, flags, lifetime // 4)
                       + b"\x01\x02\x00\x00", 4)


def bu(seq: int = 1, lifetime: int = 60) -> Payload:
    """A local Binding Update from the MH codec when it is present, else :func:`raw_bu`."""
    try:
        from hmipv6.wire.mobility import BindingUpdate, BUFlags
    except ImportError:
        return raw_bu(seq, lifetime)
    return BindingUpdate(seq, BUFlags.A | BUFlags.M, lifetime)


def local_bu(lcoa: IPv6Address, rcoa: IPv6Address, payload: Payload | None = None) -> IPv6Packet:
    """LCoA → MAP with the RCoA in a Home Address option (RFC 4140 §6.1)."""
    return IPv6Packet(lcoa, MAP, payload if payload is not None else bu(),
                      (DestinationOptions((HomeAddressOption(rcoa),)),))


def to_mn(lcoa: IPv6Address, rcoa: IPv6Address, payload: Payload) -> IPv6Packet:
    """MAP → LCoA with the RCoA in a Type 2 routing header (a BA, RFC 4140 §6.2)."""
    return IPv6Packet(MAP, lcoa, payload, (RoutingHeaderType2(rcoa),))


@dataclass
class Domain:
    provisioner: Provisioner
    map: IPsec
    mn_a: IPsec
    mn_b: IPsec


def domain(suite: str = "esp-null-hmac-sha256", seed: int = 7) -> Domain:
    """A MAP and two mobile nodes ``mn-a``, ``mn-b``, each with seed-derived MN–MAP SAs."""
    prov = Provisioner(seed, suite)
    map_ = IPsec(name="map")
    a, b = IPsec(name="mn-a"), IPsec(name="mn-b")
    prov.mn_map(a, "mn-a", map_, "map", MAP, RCOA_PREFIX)
    prov.mn_map(b, "mn-b", map_, "map", MAP, RCOA_PREFIX)
    return Domain(prov, map_, a, b)
