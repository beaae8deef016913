"""ESP in transport mode (RFC 4303), on the octets of one payload.

Theory of operation
-------------------
Outbound (:func:`seal`, RFC 4303 §3.3): the upper-layer payload, already encoded with its
checksum over the effective addresses (so a Mobility Header checksum covers the home address
of the HAO, RFC 6275 §6.1.1), gets the ESP trailer of §2.4 (padding octets 1, 2, 3, ... up to
the cipher's block size, at least a 4-octet boundary; Pad Length; Next Header), is encrypted
(§3.3.2), and the ICV is computed over SPI || Sequence Number || IV || ciphertext (§3.3.4,
encrypt-then-MAC). For the combined-mode AES-GCM the cipher produces the ICV itself, with
SPI || Sequence Number as additional authenticated data (RFC 4106 §5).

Inbound (:func:`open_`, RFC 4303 §3.4): the replay pre-check (§3.4.3), ICV verification
(§3.4.4), only then the window update, then decryption, the trailer check (§2.4: a receiver
"SHOULD" inspect the padding; a wrong Pad Length or wrong padding octets is a drop) and the
inner Next Header. Every failure raises :class:`SecurityDrop` with the reason used as a
counter name: ``replay``, ``bad-icv``, ``bad-padding``, ``dummy`` (Next Header 59, the
traffic-flow-confidentiality dummy packet of §2.6, silently discarded).

What goes into ESP and what stays in front (RFC 6275 §6.3/§6.4: the Home Address option and
the Type 2 routing header precede ESP) is decided by :mod:`hmipv6.core.ipsec` (the packet
level); this module only sees the payload octets.
"""

from __future__ import annotations

import struct

from hmipv6.core.ipsec.sad import SecurityAssociation
from hmipv6.core.security import SecurityDrop
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload

__all__ = ["open_", "seal", "trailer"]

_HEAD = struct.Struct("!II")
_PADDING = bytes(range(1, 256))


def trailer(length: int, next_header: int, block: int) -> bytes:
    """Padding, Pad Length and Next Header for a ``length``-octet payload (RFC 4303 §2.4)."""
    pad = (-(length + 2)) % block
    return _PADDING[:pad] + bytes((pad, next_header))


def seal(sa: SecurityAssociation, next_header: int, payload: bytes) -> EncapsulatingSecurityPayload:
    """Protect ``payload`` (announced by ``next_header``) with outbound SA ``sa``."""
    seq = sa.take_sequence()
    spi = sa.params.spi
    enc = sa.encryption
    pad = (-(len(payload) + 2)) % enc.block
    plain = payload + _PADDING[:pad] + bytes((pad, next_header))
    body = enc.seal(spi, seq, plain, _HEAD.pack(spi, seq)) if enc.transforms else plain
    integ = sa.integrity
    if integ.icv_len:
        body += integ.icv(_HEAD.pack(spi, seq) + body)
    sa.packets += 1
    return EncapsulatingSecurityPayload(spi, seq, body)


def open_(sa: SecurityAssociation, esp: EncapsulatingSecurityPayload) -> tuple[int, bytes]:
    """Verify and decrypt ``esp`` with inbound SA ``sa``: (next header, payload octets).

    The replay window is updated only once the ICV has verified (RFC 4303 §3.4.3)."""
    seq = esp.sequence
    replay = sa.replay
    if not replay.check(seq):
        raise SecurityDrop("replay", f"ESP SPI 0x{esp.spi:08x} sequence {seq}")
    enc = sa.encryption
    integ = sa.integrity
    data = esp.data
    n = integ.icv_len
    plain: bytes | None
    if n:
        if len(data) < n + enc.iv_len + 2:
            raise SecurityDrop("bad-icv", f"ESP SPI 0x{esp.spi:08x}: {len(data)} octets")
        body = data[:-n]
        if not integ.verify(data[-n:], _HEAD.pack(esp.spi, seq) + body):
            raise SecurityDrop("bad-icv", f"ESP SPI 0x{esp.spi:08x} sequence {seq}")
        plain = enc.open(body, b"") if enc.transforms else body
    else:
        plain = enc.open(data, _HEAD.pack(esp.spi, seq))
        if plain is None:
            raise SecurityDrop("bad-icv", f"ESP SPI 0x{esp.spi:08x} sequence {seq}")
    if plain is None or len(plain) < 2:
        # Only reachable for a CBC ciphertext whose length is not a whole number of blocks:
        # the ICV verified, so the sender itself is broken.
        raise SecurityDrop("bad-padding", f"ESP SPI 0x{esp.spi:08x}: ciphertext length")
    replay.accept(seq)
    pad = plain[-2]
    nh = plain[-1]
    end = len(plain) - 2 - pad
    if end < 0 or (pad and plain[end:-2] != _PADDING[:pad]):
        raise SecurityDrop("bad-padding", f"ESP SPI 0x{esp.spi:08x}: pad length {pad}")
    if nh == 59:
        raise SecurityDrop("dummy", f"ESP SPI 0x{esp.spi:08x}: dummy packet (RFC 4303 §2.6)")
    sa.packets += 1
    return nh, plain[:end]
