"""AH in transport mode (RFC 4302), over a whole encoded IPv6 packet.

Theory of operation
-------------------
The ICV covers the packet "as it will appear at the receiver" (RFC 4302 §3.3.3.1) with
mutable fields zeroed. :func:`icv_input` builds that image from the packet's octets:

- IPv6 header (RFC 4302 §3.3.3.1.2.1): Traffic Class, Flow Label and Hop Limit set to zero;
  Version, Payload Length, Next Header and addresses included;
- options in Hop-by-Hop and Destination Options headers (§3.3.3.1.2.2): the data of an option
  whose type has the "may change en route" bit (0x20) is zeroed;
- the Home Address option (RFC 6275 §9.3.1): "the receiving node MUST calculate the AH
  authentication data as if ... the Home Address option contains the care-of address, and
  the source IPv6 address field of the IPv6 header contains the home address": the two
  addresses are swapped in the image;
- a Type 2 routing header with Segments Left > 0 (RFC 6275 §9.3.2, RFC 4302 §3.3.3.1.2.2): the
  image has the home address as IPv6 destination, the care-of address in the routing header,
  and Segments Left 0 — the form the packet has once the receiver advanced the header;
- the AH ICV is zero; its padding (RFC 4302 §2.6) is covered as sent (we send zeros).

Both ends apply the same transformation to the octets they hold (the sender to the wire form
it is about to send, the receiver to the wire form it got), so they hash identical images.
Quirk: scapy's ``SecurityAssociation`` does not apply the two RFC 6275 swaps (it hashes the
packet as given); the oracle tests hand it the swapped image and otherwise agree byte for byte.

Placement: AH goes where ESP would, after the Hop-by-Hop, routing and fragment headers and
the Destination Options header carrying the Home Address option (RFC 6275 §6.3: the HAO
"MUST be placed ... before the AH Header or ESP Header"); :func:`split_index` finds the spot.
AH total length is a multiple of 8 octets in IPv6 (RFC 4302 §2.2), so the 16-octet
HMAC-SHA-256-128 ICV is followed by 4 octets of zero padding.
"""

from __future__ import annotations

from hmipv6.core.ipsec.sad import SecurityAssociation
from hmipv6.core.security import SecurityDrop
from hmipv6.wire.ipv6 import (
    AuthenticationHeader,
    DestinationOptions,
    ExtensionHeader,
    FragmentHeader,
    HopByHopOptions,
    IPv6Packet,
    RoutingHeader,
    RoutingHeaderType2,
)

__all__ = ["icv_input", "open_", "seal", "split_index"]

_HBH, _ROUTING, _FRAGMENT, _AH, _DSTOPT = 0, 43, 44, 51, 60


_BEFORE = (HopByHopOptions, RoutingHeaderType2, RoutingHeader, FragmentHeader)
_ROUTING_HEADERS = (RoutingHeaderType2, RoutingHeader)


def split_index(headers: tuple[ExtensionHeader, ...]) -> int:
    """Where ESP or AH goes in ``headers``: after the per-hop and routing part of the chain
    and the Destination Options header that carries a Home Address option (RFC 8200 §4.1
    order; RFC 6275 §6.3)."""
    for i, h in enumerate(headers):
        if isinstance(h, _BEFORE):
            continue
        if isinstance(h, DestinationOptions) and (
            h.home_address is not None
            or any(isinstance(x, _ROUTING_HEADERS) for x in headers[i + 1:])
        ):
            continue
        return i
    return len(headers)


def icv_input(data: bytes, icv_len: int) -> bytes:
    """The image of the encoded packet ``data`` over which the AH ICV (``icv_len`` octets,
    followed by whatever padding the AH length requires) is computed."""
    b = bytearray(data)
    b[0:4] = b"\x60\x00\x00\x00"
    b[7] = 0
    nxt = b[6]
    i = 40
    while True:
        if nxt in (_HBH, _DSTOPT):
            end = i + 8 + b[i + 1] * 8
            j = i + 2
            while j < end:
                t = b[j]
                if t == 0:
                    j += 1
                    continue
                n = b[j + 1]
                if t & 0x20:
                    b[j + 2 : j + 2 + n] = bytes(n)
                elif t == 201 and n == 16 and nxt == _DSTOPT:
                    b[8:24], b[j + 2 : j + 18] = b[j + 2 : j + 18], b[8:24]
                j += 2 + n
        elif nxt == _ROUTING:
            end = i + 8 + b[i + 1] * 8
            if b[i + 2] == 2 and b[i + 3] > 0:
                b[24:40], b[i + 8 : i + 24] = b[i + 8 : i + 24], b[24:40]
                b[i + 3] = 0
        elif nxt == _FRAGMENT:
            end = i + 8
        elif nxt == _AH:
            b[i + 12 : i + 12 + icv_len] = bytes(icv_len)
            return bytes(b)
        else:
            raise ValueError("no AH header in the packet")
        nxt = b[i]
        i = end


def seal(sa: SecurityAssociation, packet: IPv6Packet) -> IPv6Packet:
    """``packet`` with an AH header of outbound SA ``sa`` inserted and its ICV computed."""
    n = sa.integrity.icv_len
    pad = (-(12 + n)) % 8
    seq = sa.take_sequence()
    headers = packet.extension_headers
    at = split_index(headers)
    blank = AuthenticationHeader(sa.params.spi, seq, bytes(n + pad))
    image = IPv6Packet(packet.src, packet.dst, packet.payload,
                       (*headers[:at], blank, *headers[at:]), packet.hop_limit,
                       packet.traffic_class, packet.flow_label)
    icv = sa.integrity.icv(icv_input(image.encode(), n))
    sa.packets += 1
    return IPv6Packet(packet.src, packet.dst, packet.payload,
                      (*headers[:at], AuthenticationHeader(sa.params.spi, seq, icv + bytes(pad)),
                       *headers[at:]),
                      packet.hop_limit, packet.traffic_class, packet.flow_label)


def open_(sa: SecurityAssociation, packet: IPv6Packet, ah: AuthenticationHeader) -> IPv6Packet:
    """Verify ``packet``'s AH header ``ah`` with inbound SA ``sa``; the packet without it."""
    seq = ah.sequence
    if not sa.replay.check(seq):
        raise SecurityDrop("replay", f"AH SPI 0x{ah.spi:08x} sequence {seq}")
    n = sa.integrity.icv_len
    if len(ah.icv) < n:
        raise SecurityDrop("bad-icv", f"AH SPI 0x{ah.spi:08x}: ICV of {len(ah.icv)} octets")
    data = packet.encode()
    if not sa.integrity.verify(ah.icv[:n], icv_input(data, n)):
        raise SecurityDrop("bad-icv", f"AH SPI 0x{ah.spi:08x} sequence {seq}")
    sa.replay.accept(seq)
    sa.packets += 1
    return IPv6Packet(packet.src, packet.dst, packet.payload,
                      tuple(h for h in packet.extension_headers if h is not ah),
                      packet.hop_limit, packet.traffic_class, packet.flow_label)
