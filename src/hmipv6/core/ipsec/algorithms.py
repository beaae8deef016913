"""Cryptographic transforms of ESP and AH, keyed once per SA.

Theory of operation
-------------------
The primitives come from ``cryptography``; everything around them (what is authenticated,
padding, IV layout, truncation) is ours and lives in :mod:`.esp` and :mod:`.ah`. A transform
object is built once per SA with its key, so per packet there is no key schedule to redo:
HMAC contexts are copied from a keyed template, AES-GCM and the ECB block cipher used for IVs
are kept.

Algorithms (names as RFC 8221 / the IANA registry spell them):

- integrity ``HMAC-SHA-256-128`` (RFC 4868 §2.3: HMAC-SHA-256 truncated to its first 128
  bits, 256-bit key) and ``NULL`` (only with a combined-mode cipher: RFC 4140 §12.1 says "a
  non-null authentication algorithm MUST be used");
- encryption ``NULL`` (RFC 2410), ``AES-CBC`` (RFC 3602: 16-octet explicit IV, 128/192/256-bit
  key) and ``AES-GCM-16`` (RFC 4106: combined mode, key material = AES key + 4-octet salt,
  8-octet explicit IV, 16-octet ICV, AAD = SPI || sequence number).

Determinism: ``core`` has no entropy source (ARCHITECTURE.md), so IVs are derived, never
drawn. For AES-GCM the explicit IV is the 64-bit sequence number, which RFC 4106 §3.1 allows
("MUST NOT repeat for a given key"; a sequence number never repeats within an SA). For
AES-CBC, RFC 3602 §3 requires an unpredictable IV; it is the encryption of (SPI, sequence
number) under a separate AES key derived from the SA's encryption key (an "encrypted counter"
IV, unpredictable to anyone without the key, and identical in every run of a scenario).
"""

from __future__ import annotations

import hashlib
import hmac as _std_hmac
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hmipv6.errors import LocalProtocolError

__all__ = [
    "AUTH_ALGORITHMS",
    "ENC_ALGORITHMS",
    "AesCbc",
    "AesGcm",
    "Encryption",
    "HmacSha256_128",
    "Integrity",
    "NullEncryption",
    "NullIntegrity",
    "make_encryption",
    "make_integrity",
]

AUTH_ALGORITHMS: Final = ("HMAC-SHA-256-128", "NULL")
ENC_ALGORITHMS: Final = ("NULL", "AES-CBC", "AES-GCM-16")


class Integrity:
    """An integrity transform; ``icv_len`` octets of ICV."""

    name = "NULL"
    icv_len = 0
    template: _hmac.HMAC | None = None
    """The keyed HMAC context that ICVs are copied from (``None`` for NULL)."""

    def icv(self, data: bytes) -> bytes:
        return b""

    def verify(self, icv: bytes, data: bytes) -> bool:
        return icv == b""


class NullIntegrity(Integrity):
    """No integrity (only valid under a combined-mode cipher)."""


class HmacSha256_128(Integrity):
    """RFC 4868 §2.3: HMAC-SHA-256 with a 256-bit key, ICV truncated to 128 bits."""

    name = "HMAC-SHA-256-128"
    icv_len = 16

    def __init__(self, key: bytes, *, any_key_length: bool = False) -> None:
        # RFC 4868 §2.1.1: the key is 256 bits; ``any_key_length`` is for the RFC 4231 test
        # vectors, whose keys are not.
        if len(key) != 32 and not any_key_length:
            raise LocalProtocolError(f"HMAC-SHA-256-128 needs a 32-octet key, got {len(key)}")
        self._template = self.template = _hmac.HMAC(key, hashes.SHA256())

    def icv(self, data: bytes) -> bytes:
        h = self._template.copy()
        h.update(data)
        return h.finalize()[:16]

    def verify(self, icv: bytes, data: bytes) -> bool:
        h = self._template.copy()
        h.update(data)
        return _std_hmac.compare_digest(h.finalize()[:16], icv)


class Encryption:
    """An encryption transform. ``block`` is the padding boundary (RFC 4303 §2.4: at least 4),
    ``iv_len`` the explicit IV carried after the sequence number, ``icv_len`` the ICV of a
    combined-mode cipher (0 otherwise)."""

    name = "NULL"
    block = 4
    iv_len = 0
    icv_len = 0
    combined = False
    transforms = True
    """False only for NULL encryption, whose seal/open are the identity (skipped)."""

    def seal(self, spi: int, seq: int, plaintext: bytes, aad: bytes) -> bytes:
        """IV || ciphertext (|| ICV for combined modes)."""
        return plaintext

    def open(self, data: bytes, aad: bytes) -> bytes | None:
        """The plaintext of IV || ciphertext (|| ICV), or ``None`` when a combined-mode ICV
        fails."""
        return data


class NullEncryption(Encryption):
    """RFC 2410: the identity transform."""

    transforms = False


class AesCbc(Encryption):
    """RFC 3602: AES-CBC with a 16-octet explicit IV."""

    name = "AES-CBC"
    block = 16
    iv_len = 16

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise LocalProtocolError(f"AES-CBC needs a 16, 24 or 32-octet key, got {len(key)}")
        self._aes = algorithms.AES(key)
        iv_key = hashlib.sha256(b"hmipv6 ESP AES-CBC IV" + key).digest()[:16]
        self._iv_cipher = Cipher(algorithms.AES(iv_key), modes.ECB())

    def iv(self, spi: int, seq: int) -> bytes:
        enc = self._iv_cipher.encryptor()
        return enc.update(spi.to_bytes(4, "big") + seq.to_bytes(8, "big") + bytes(4))

    def seal(self, spi: int, seq: int, plaintext: bytes, aad: bytes) -> bytes:
        iv = self.iv(spi, seq)
        enc = Cipher(self._aes, modes.CBC(iv)).encryptor()
        return iv + enc.update(plaintext) + enc.finalize()

    def open(self, data: bytes, aad: bytes) -> bytes | None:
        iv, ct = data[:16], data[16:]
        if len(ct) % 16:
            return None
        dec = Cipher(self._aes, modes.CBC(iv)).decryptor()
        return dec.update(ct) + dec.finalize()


class AesGcm(Encryption):
    """RFC 4106: AES-GCM with a 16-octet ICV; key material is the AES key plus a 4-octet
    salt; the nonce is salt || explicit IV; the AAD is SPI || 32-bit sequence number."""

    name = "AES-GCM-16"
    block = 4
    iv_len = 8
    icv_len = 16
    combined = True

    def __init__(self, key: bytes) -> None:
        if len(key) not in (20, 28, 36):
            raise LocalProtocolError(
                f"AES-GCM-16 needs 16, 24 or 32 octets of key plus a 4-octet salt, got {len(key)}")
        self._aead = AESGCM(key[:-4])
        self._salt = key[-4:]

    def seal(self, spi: int, seq: int, plaintext: bytes, aad: bytes) -> bytes:
        iv = seq.to_bytes(8, "big")
        return iv + self._aead.encrypt(self._salt + iv, plaintext, aad)

    def open(self, data: bytes, aad: bytes) -> bytes | None:
        if len(data) < 8 + 16:
            return None
        try:
            return self._aead.decrypt(self._salt + data[:8], data[8:], aad)
        except InvalidTag:
            return None


def make_integrity(name: str, key: bytes) -> Integrity:
    """The integrity transform called ``name`` keyed with ``key``."""
    if name == "HMAC-SHA-256-128":
        return HmacSha256_128(key)
    if name == "NULL":
        return NullIntegrity()
    raise LocalProtocolError(f"unknown integrity algorithm {name!r}; known: {AUTH_ALGORITHMS}")


def make_encryption(name: str, key: bytes) -> Encryption:
    """The encryption transform called ``name`` keyed with ``key``."""
    if name == "NULL":
        if key:
            raise LocalProtocolError("NULL encryption takes no key")
        return NullEncryption()
    if name == "AES-CBC":
        return AesCbc(key)
    if name == "AES-GCM-16":
        return AesGcm(key)
    raise LocalProtocolError(f"unknown encryption algorithm {name!r}; known: {ENC_ALGORITHMS}")
