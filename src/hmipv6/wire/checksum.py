"""The Internet checksum over the IPv6 pseudo-header (RFC 8200 §8.1).

ICMPv6 (RFC 4443 §2.3), UDP (RFC 768, RFC 8200 §8.1) and the Mobility Header (RFC 6275
§6.1.1) share it. The one's-complement sum of 16-bit words equals the big-endian integer of
the data modulo 0xFFFF (because 2**16 is 1 modulo 0xFFFF), which lets Python sum a whole
packet in one big-integer operation instead of a loop over words.
"""

from __future__ import annotations

_from_bytes = int.from_bytes  # big-endian by default (Python 3.11)


def ones_sum(data: bytes) -> int:
    """One's-complement sum of ``data`` (padded with a zero octet when odd), in 0..0xFFFF."""
    if len(data) & 1:
        data += b"\x00"
    n = int.from_bytes(data, "big")
    if n == 0:
        return 0
    s = n % 0xFFFF
    return s if s else 0xFFFF


def checksum(src: bytes, dst: bytes, next_header: int, data: bytes) -> int:
    """The checksum to put in a message whose checksum field in ``data`` is zero.

    The pseudo-header's Upper-Layer Packet Length and Next Header words sum to
    ``len(data) + next_header`` modulo 0xFFFF, so only the addresses and the data need
    converting; the result is never the all-zero sum (Next Header is not zero)."""
    n = len(data)
    if n & 1:
        data += b"\x00"
    s = (_from_bytes(src + dst + data) + (n + next_header)) % 0xFFFF  # one big-integer add
    return 0xFFFF - s if s else 0


def verify(src: bytes, dst: bytes, next_header: int, data: bytes) -> bool:
    """True when ``data`` (checksum field included) sums to 0xFFFF with the pseudo-header
    (that is, the sum is a multiple of 0xFFFF; see :func:`checksum`)."""
    n = len(data)
    if n & 1:
        data += b"\x00"
    return (_from_bytes(src + dst + data) + (n + next_header)) % 0xFFFF == 0
