"""``classify``'s fixed-offset answer for UDP (plain or in one or two IPv6-in-IPv6 tunnels)
equals the header walk's (:func:`hmipv6.sim.metrics._classify_walk`) on every packet it takes."""

from __future__ import annotations

import itertools
import struct

from hmipv6.sim.metrics import _classify_walk, classify

_HDR = struct.Struct("!IHBB16s16s")
A, B = bytes(range(16)), bytes(range(16, 32))


def _ipv6(nh: int, payload: bytes, plen: int | None = None) -> bytes:
    return _HDR.pack(0x60000000, len(payload) if plen is None else plen, nh, 64, A, B) + payload


def _cases() -> list[bytes]:
    out = []
    for sport, dport in itertools.product((500, 9, 40000, 0x01F4 + 256), (500, 9, 1)):
        udp = struct.pack("!HHHH", sport, dport, 8 + 20, 0) + bytes(20)
        for inner in (_ipv6(17, udp), _ipv6(17, udp[:4]), _ipv6(17, udp[:3])):
            out.append(inner)
            out.append(_ipv6(41, inner))
            out.append(_ipv6(41, _ipv6(41, inner)))
            out.append(_ipv6(60, bytes((41, 0)) + bytes(6) + inner))  # an extension first
    for nh in (58, 135, 50, 59, 6, 0):
        out.append(_ipv6(41, _ipv6(nh, bytes((128, 0, 6, 0)) + bytes(40))))
    for n in range(0, 130):  # truncated twice tunnelled UDP
        out.append(_ipv6(41, _ipv6(41, _ipv6(17, struct.pack("!HHHH", 500, 9, 8, 0)
                                             + bytes(40))))[:n])
    for n in range(0, 90):  # truncated tunnelled and plain UDP
        out.append(_ipv6(41, _ipv6(17, struct.pack("!HHHH", 9, 500, 8, 0) + bytes(40)))[:n])
        out.append(_ipv6(17, struct.pack("!HHHH", 500, 9, 8, 0) + bytes(40))[:n])
    return out


def test_classify_equals_the_walk() -> None:
    cases = _cases()
    assert sum(classify(c) is None for c in cases) > 100
    assert any(classify(c) is not None for c in cases)
    for c in cases:
        assert classify(c) == _classify_walk(c), c.hex()
