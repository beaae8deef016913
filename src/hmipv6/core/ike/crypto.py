"""IKEv2 cryptography: prf, prf+, Diffie-Hellman, key derivation, the SK payload and the
shared-key AUTH value (RFC 7296 §2.13-§2.17, §3.14, §2.15).

Theory of operation
-------------------
Only primitives come from ``cryptography`` (HMAC-SHA-256, AES-CBC, ECDH on P-256, finite-field
DH); the constructions are written here from RFC 7296:

- ``prf`` is PRF_HMAC_SHA2_256 (RFC 4868 §2.1.2: the whole 32-octet HMAC); ``prf+`` is §2.13:
  ``T1 = prf(K, S | 0x01)``, ``Tn = prf(K, Tn-1 | S | n)``;
- §2.14: ``SKEYSEED = prf(Ni | Nr, g^ir)`` and
  ``{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)``;
- §2.17: ``KEYMAT = prf+(SK_d, Ni | Nr)`` for the Child SA created by IKE_AUTH; keys for the
  initiator-to-responder SA first, each SA's encryption key before its integrity key;
- §2.15: shared key MIC ``AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)``
  with ``<SignedOctets> = RealMessage | NonceOfThePeer | prf(SK_p, RestOfIDPayload)``;
- §3.14: SK is IV ‖ AES-CBC(inner payloads ‖ padding ‖ pad length) ‖ ICV, the ICV (HMAC-SHA-256
  truncated to 128 bits, RFC 4868) covering the message from the IKE header to the end of
  the ciphertext.

Diffie-Hellman groups: 19 (ECP-256, RFC 5903: KE data is x ‖ y, 32 octets each; the shared
secret is the x coordinate) and 14 (2048-bit MODP, RFC 3526; KE data and g^ir padded to 256
octets). Private keys are drawn from the ``random.Random`` handed in, so a seeded simulation
gives the same octets every run; **a real deployment must hand in a CSPRNG-backed Random**
(``random.SystemRandom()``), as for nonces, SPIs and IVs.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric import dh, ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hmipv6.core.ike.message import Encrypted, Message, Payload, PayloadType, decode_chain, encode_chain
from hmipv6.errors import DecodeError, LocalProtocolError

__all__ = [
    "AUTH_HMAC_SHA2_256_128",
    "DH_GROUPS",
    "ENCR_AES_CBC",
    "ENCR_AES_GCM_16",
    "ENCR_NULL",
    "ESN_NONE",
    "PRF_HMAC_SHA2_256",
    "DiffieHellman",
    "IkeKeys",
    "IntegrityFailure",
    "child_keymat",
    "derive_ike_keys",
    "open_sk",
    "prf",
    "prf_plus",
    "psk_auth",
    "rekey_ike_keys",
    "seal_sk",
    "signed_octets",
]

ENCR_NULL: Final = 11
ENCR_AES_CBC: Final = 12
ENCR_AES_GCM_16: Final = 20
PRF_HMAC_SHA2_256: Final = 5
AUTH_HMAC_SHA2_256_128: Final = 12
ESN_NONE: Final = 0
DH_GROUPS: Final = (19, 14)

KEY_PAD: Final = b"Key Pad for IKEv2"

_MODP2048: Final = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class IntegrityFailure(DecodeError):
    """The SK payload's ICV does not verify, or its padding is impossible."""


def prf(key: bytes, data: bytes) -> bytes:
    """PRF_HMAC_SHA2_256."""
    return hmac.new(key, data, hashlib.sha256).digest()


def prf_plus(key: bytes, seed: bytes, length: int) -> bytes:
    """RFC 7296 §2.13 (at most 255 iterations)."""
    if length > 255 * 32:
        raise LocalProtocolError("prf+ cannot produce more than 255 blocks")
    out = bytearray()
    t = b""
    n = 1
    while len(out) < length:
        t = prf(key, t + seed + bytes((n,)))
        out += t
        n += 1
    return bytes(out[:length])


class DiffieHellman:
    """One side's DH key pair for ``group`` (19 or 14), drawn from ``rng``."""

    def __init__(self, group: int, rng: random.Random) -> None:
        self.group = group
        if group == 19:
            self._ec = ec.derive_private_key(rng.randrange(1, _P256_ORDER), ec.SECP256R1())
            nums = self._ec.public_key().public_numbers()
            self.public = nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
        elif group == 14:
            pn = dh.DHParameterNumbers(_MODP2048, 2)
            x = rng.getrandbits(256) | (1 << 255)  # RFC 3526 §8 / 7296: ≥ 2x the strength
            y = pow(2, x, _MODP2048)
            self._dh = dh.DHPrivateNumbers(x, dh.DHPublicNumbers(y, pn)).private_key()
            self.public = y.to_bytes(256, "big")
        else:
            raise LocalProtocolError(f"unsupported DH group {group}")

    def shared(self, peer: bytes) -> bytes:
        """g^ir from the peer's KE data; a bad public value is a :class:`DecodeError`."""
        try:
            if self.group == 19:
                if len(peer) != 64:
                    raise ValueError("ECP-256 KE data must be 64 octets")
                pub = ec.EllipticCurvePublicNumbers(int.from_bytes(peer[:32], "big"),
                                                    int.from_bytes(peer[32:], "big"),
                                                    ec.SECP256R1()).public_key()
                return self._ec.exchange(ec.ECDH(), pub)
            y = int.from_bytes(peer, "big")
            if len(peer) != 256 or not 1 < y < _MODP2048 - 1:
                raise ValueError("MODP-2048 KE data must be 256 octets, 1 < y < p-1")
            ppub = dh.DHPublicNumbers(y, dh.DHParameterNumbers(_MODP2048, 2)).public_key()
            return self._dh.exchange(ppub).rjust(256, b"\0")
        except ValueError as exc:
            raise DecodeError(str(exc), field="ike.ke.data", offset=0) from None


@dataclass(frozen=True, slots=True)
class IkeKeys:
    """The seven IKE SA keys of §2.14 (and SKEYSEED, for tests and Wireshark)."""

    skeyseed: bytes
    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes


def derive_ike_keys(ni: bytes, nr: bytes, shared: bytes, spi_i: int, spi_r: int, *,
                    enc_len: int = 16, integ_len: int = 32, prf_len: int = 32) -> IkeKeys:
    return _split_ike_keys(prf(ni + nr, shared), ni, nr, spi_i, spi_r, enc_len, integ_len, prf_len)


def _split_ike_keys(skeyseed: bytes, ni: bytes, nr: bytes, spi_i: int, spi_r: int,
                    enc_len: int, integ_len: int, prf_len: int) -> IkeKeys:
    s = prf_plus(skeyseed, ni + nr + spi_i.to_bytes(8, "big") + spi_r.to_bytes(8, "big"),
                 3 * prf_len + 2 * integ_len + 2 * enc_len)
    out: list[bytes] = []
    p = 0
    for n in (prf_len, integ_len, integ_len, enc_len, enc_len, prf_len, prf_len):
        out.append(s[p:p + n])
        p += n
    return IkeKeys(skeyseed, *out)


def rekey_ike_keys(old_sk_d: bytes, shared: bytes, ni: bytes, nr: bytes, spi_i: int,
                   spi_r: int, *, enc_len: int = 16) -> IkeKeys:
    """§2.18: the new IKE SA's keys, ``SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)``,
    then prf+ over ``Ni | Nr | SPIi | SPIr`` as in §2.14 (the new SA's SPIs)."""
    skeyseed = prf(old_sk_d, shared + ni + nr)
    return _split_ike_keys(skeyseed, ni, nr, spi_i, spi_r, enc_len, 32, 32)


def child_keymat(sk_d: bytes, ni: bytes, nr: bytes, enc_len: int, integ_len: int,
                 shared: bytes = b"") -> tuple[bytes, bytes, bytes, bytes]:
    """(enc i→r, integ i→r, enc r→i, integ r→i) from ``KEYMAT = prf+(SK_d, Ni | Nr)``, or
    with PFS in CREATE_CHILD_SA ``prf+(SK_d, g^ir (new) | Ni | Nr)`` (§2.17)."""
    k = prf_plus(sk_d, shared + ni + nr, 2 * (enc_len + integ_len))
    a = enc_len + integ_len
    return k[:enc_len], k[enc_len:a], k[a:a + enc_len], k[a + enc_len:]


def signed_octets(sk_p: bytes, real_message: bytes, peer_nonce: bytes, id_body: bytes) -> bytes:
    """§2.15 ``<SignedOctets> = RealMessage | NonceOfThePeer | prf(SK_p, RestOfIDPayload)``."""
    return real_message + peer_nonce + prf(sk_p, id_body)


def psk_auth(psk: bytes, sk_p: bytes, real_message: bytes, peer_nonce: bytes,
             id_body: bytes) -> bytes:
    """§2.15 shared key MIC; ``id_body`` is the ID payload without its generic header."""
    return prf(prf(psk, KEY_PAD), signed_octets(sk_p, real_message, peer_nonce, id_body))


def _icv(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()[:16]


def seal_sk(message: Message, enc_key: bytes, integ_key: bytes, rng: random.Random) -> bytes:
    """The octets of ``message`` with its payloads carried inside an SK payload."""
    first, inner = encode_chain(message.payloads)
    padlen = -(len(inner) + 1) % 16
    plain = inner + bytes(padlen) + bytes((padlen,))
    iv = rng.randbytes(16)
    enc = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    ct = enc.update(plain) + enc.finalize()
    body_len = 16 + len(ct) + 16
    head = message.header(PayloadType.SK, 28 + 4 + body_len)
    data = head + bytes((first, 0)) + (4 + body_len).to_bytes(2, "big") + iv + ct
    return data + _icv(integ_key, data)


def open_sk(raw: bytes, message: Message, enc_key: bytes, integ_key: bytes
            ) -> tuple[Payload, ...]:
    """The inner payloads of ``message`` (decoded from ``raw``, last payload SK) after
    checking the ICV; raises :class:`IntegrityFailure` or :class:`DecodeError`."""
    sk = message.payloads[-1] if message.payloads else None
    if not isinstance(sk, Encrypted):
        raise DecodeError("no SK payload", field="ike.sk", offset=28)
    body = sk.body
    if len(body) < 32 + 16 or (len(body) - 32) % 16:
        raise DecodeError(f"SK body of {len(body)} octets", field="ike.sk", offset=len(raw) - len(body))
    if not hmac.compare_digest(_icv(integ_key, raw[:-16]), raw[-16:]):
        raise IntegrityFailure("ICV does not verify", field="ike.sk.icv", offset=len(raw) - 16)
    iv, ct = body[:16], body[16:-16]
    dec = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    plain = dec.update(ct) + dec.finalize()
    padlen = plain[-1]
    if padlen + 1 > len(plain):
        raise IntegrityFailure(f"pad length {padlen}", field="ike.sk.pad_length", offset=len(raw) - 17)
    return decode_chain(sk.first, plain, 0, len(plain) - padlen - 1)
