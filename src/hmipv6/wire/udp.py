"""UDP (RFC 768) over IPv6: the datagrams of the simulator's and testbed's data flows.

RFC 8200 §8.1: the checksum is mandatory over IPv6 and covers the pseudo-header; a computed
checksum of zero is sent as 0xFFFF, and a received zero checksum is invalid.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from hmipv6.errors import ChecksumError, DecodeError, EncodeError
from hmipv6.wire import checksum as ck
from hmipv6.wire.ipv6 import DEFER, Deferred, NextHeader, register_payload

__all__ = ["UDP"]

_UDP = struct.Struct("!HHHH")


@dataclass(frozen=True, slots=True)
class UDP:
    """A UDP datagram."""

    next_header: ClassVar[int] = NextHeader.UDP
    src_port: int
    dst_port: int
    data: bytes = b""

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        length = 8 + len(self.data)
        if length > 0xFFFF or not (0 <= self.src_port <= 0xFFFF and 0 <= self.dst_port <= 0xFFFF):
            raise EncodeError("UDP port or length out of range")
        raw = _UDP.pack(self.src_port, self.dst_port, length, 0) + self.data
        c = ck.checksum(src, dst, NextHeader.UDP, raw) or 0xFFFF
        return raw[:6] + c.to_bytes(2, "big") + raw[8:]


def _decode_udp(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool) -> UDP:
    if end - start < 8:
        raise DecodeError(f"{end - start} octets, UDP needs 8", field="udp", offset=start)
    sport, dport, length, csum = _UDP.unpack_from(data, start)
    if length != end - start:
        raise DecodeError(f"length {length} but {end - start} octets present", field="udp.length",
                          offset=start + 4)
    if verify:
        if csum == 0:
            raise ChecksumError("zero checksum is invalid over IPv6", field="udp.checksum",
                                offset=start + 6)
        if not ck.verify(src, dst, NextHeader.UDP, data[start:end]):
            raise ChecksumError(f"checksum 0x{csum:04x} does not verify", field="udp.checksum",
                                offset=start + 6)
    return UDP(sport, dport, data[start + 8 : end])


def _lazy_udp(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
              ) -> UDP | Deferred:
    # Any datagram whose Length matches and whose checksum verifies is valid: built later.
    if (end - start >= 8 and (data[start + 4] << 8 | data[start + 5]) == end - start
            and (not verify or ((data[start + 6] or data[start + 7]) != 0
                                and ck.verify(src, dst, NextHeader.UDP, data[start:end])))):
        return DEFER
    return _decode_udp(data, start, end, src, dst, verify)


register_payload(NextHeader.UDP, _decode_udp, _lazy_udp)
