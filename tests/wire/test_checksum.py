"""The Internet checksum over the IPv6 pseudo-header (RFC 8200 §8.1, W-07) against a plain
RFC 1071 loop over 16-bit words, written independently here."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmipv6.wire.checksum import checksum, ones_sum, verify


def reference(src: bytes, dst: bytes, nh: int, data: bytes) -> int:
    msg = src + dst + struct.pack("!IxxxB", len(data), nh) + data
    if len(msg) % 2:
        msg += b"\0"
    s = 0
    for i in range(0, len(msg), 2):
        s += (msg[i] << 8) | msg[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


addr = st.binary(min_size=16, max_size=16)


@pytest.mark.req("W-07")
@given(src=addr, dst=addr, nh=st.sampled_from([17, 58, 135]), data=st.binary(max_size=300))
def test_W07_checksum_matches_rfc1071_loop_and_verifies(src: bytes, dst: bytes, nh: int,
                                                        data: bytes) -> None:
    body = b"\0\0" + data  # the checksum field first, zero while computing
    c = checksum(src, dst, nh, body)
    assert c == reference(src, dst, nh, body)
    good = c.to_bytes(2, "big") + data
    assert verify(src, dst, nh, good)
    if data:
        bad = good[:-1] + bytes([good[-1] ^ 0x01])
        assert not verify(src, dst, nh, bad)


def test_ones_sum_edge_cases() -> None:
    assert ones_sum(b"") == 0
    assert ones_sum(b"\xff\xff") == 0xFFFF
    assert ones_sum(b"\x00\x01\xff\xfe") == 0xFFFF
    assert ones_sum(b"\x01") == 0x0100
