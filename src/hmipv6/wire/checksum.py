"""The Internet checksum over the IPv6 pseudo-header (RFC 8200 §8.1).

ICMPv6 (RFC 4443 §2.3), UDP (RFC 768, RFC 8200 §8.1) and the Mobility Header (RFC 6275
§6.1.1) share it. The one's-complement sum of 16-bit words equals the big-endian integer of
the data modulo 0xFFFF (because 2**16 is 1 modulo 0xFFFF), which lets Python sum a whole
packet in one big-integer operation instead of a loop over words.
"""

from __future__ import annotations

import struct

_PSEUDO_TAIL = struct.Struct("!IxxxB")


def ones_sum(data: bytes) -> int:
    """One's-complement sum of ``data`` (padded with a zero octet when odd), in 0..0xFFFF."""
    if len(data) & 1:
        data += b"\x00"
    n = int.from_bytes(data, "big")
    if n == 0:
        return 0
    s = n % 0xFFFF
    return s if s else 0xFFFF


def pseudo_header(src: bytes, dst: bytes, length: int, next_header: int) -> bytes:
    """RFC 8200 §8.1: source, final destination, upper-layer length, next header."""
    return src + dst + _PSEUDO_TAIL.pack(length, next_header)


def checksum(src: bytes, dst: bytes, next_header: int, data: bytes) -> int:
    """The checksum to put in a message whose checksum field in ``data`` is zero."""
    s = ones_sum(pseudo_header(src, dst, len(data), next_header) + data)
    return (~s) & 0xFFFF


def verify(src: bytes, dst: bytes, next_header: int, data: bytes) -> bool:
    """True when ``data`` (checksum field included) sums to 0xFFFF with the pseudo-header.

    The pseudo-header's Next Header octet is never zero, so the sum is never the all-zero
    case and "sums to 0xFFFF" is exactly "the big integer is a multiple of 0xFFFF"."""
    n = len(data)
    if n & 1:
        data += b"\x00"
    return int.from_bytes(src + dst + _PSEUDO_TAIL.pack(n, next_header) + data, "big") % 0xFFFF == 0
