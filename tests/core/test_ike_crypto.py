"""core.ike.crypto against computations written in this file directly from RFC 7296 (with
``hmac``/``hashlib``) and against ``cryptography``'s own DH: known answers for prf+, SKEYSEED
and the seven SK_* keys, KEYMAT, the PSK AUTH value and the SK ICV of real exchanged octets.

Rows: X5380-05, SEC-06.
"""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hmipv6.core.ike import Established
from hmipv6.core.ike.crypto import DiffieHellman, IkeKeys, prf_plus
from hmipv6.core.ike.transport import ike_message, run_exchange
from hmipv6.core.ipsec import IPsec
from hmipv6.wire.ipv6 import IPv6Packet
from tests.core.ipsec_support import LCOA_A
from tests.core.test_ike import PSKS, initiator, responder

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
MODP2048 = int(  # RFC 3526 §3, typed again here
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)


def h(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def rfc_prf_plus(k: bytes, s: bytes, n: int) -> bytes:
    # RFC 7296 §2.13: prf+ (K,S) = T1 | T2 | T3 | T4 | ...
    #   T1 = prf (K, S | 0x01); T2 = prf (K, T1 | S | 0x02); ...
    t1 = h(k, s + b"\x01")
    blocks = [t1]
    for i in range(2, 256):
        blocks.append(h(k, blocks[-1] + s + bytes([i])))
        if sum(map(len, blocks)) >= n:
            break
    return b"".join(blocks)[:n]


@pytest.mark.req("SEC-06")
@pytest.mark.parametrize("n", [1, 32, 33, 64, 100, 224, 255 * 32])
def test_prf_plus_known_answer(n: int) -> None:
    k, s = b"K" * 32, bytes(range(40))
    assert prf_plus(k, s, n) == rfc_prf_plus(k, s, n)


@pytest.mark.req("SEC-06")
def test_dh_group_19_against_cryptography() -> None:
    a, b = DiffieHellman(19, random.Random(7)), DiffieHellman(19, random.Random(8))
    d = random.Random(7).randrange(1, P256_N)  # the key is drawn deterministically from rng
    priv = ec.derive_private_key(d, ec.SECP256R1())
    nums = priv.public_key().public_numbers()
    assert a.public == nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
    peer = ec.EllipticCurvePublicNumbers(int.from_bytes(b.public[:32], "big"),
                                         int.from_bytes(b.public[32:], "big"),
                                         ec.SECP256R1()).public_key()
    assert a.shared(b.public) == priv.exchange(ec.ECDH(), peer) == b.shared(a.public)
    assert len(a.shared(b.public)) == 32  # RFC 5903 §7: the x coordinate only


@pytest.mark.req("SEC-06")
def test_dh_group_14_against_plain_modular_arithmetic() -> None:
    a, b = DiffieHellman(14, random.Random(7)), DiffieHellman(14, random.Random(8))
    x = random.Random(7).getrandbits(256) | (1 << 255)
    assert a.public == pow(2, x, MODP2048).to_bytes(256, "big")
    want = pow(int.from_bytes(b.public, "big"), x, MODP2048).to_bytes(256, "big")
    assert a.shared(b.public) == want == b.shared(a.public)


def _exchange() -> tuple[Established, Established, list[bytes], object]:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini, res = initiator(mn), responder(mp)
    trace: list[tuple[float, IPv6Packet]] = []
    out = run_exchange(ini, res, lcoa=LCOA_A, trace=trace)
    assert isinstance(out, Established)
    ev = res.events[0]
    assert isinstance(ev, Established)
    msgs = [ike_message(p) for _, p in trace]
    return out, ev, [m for m in msgs if m is not None], ini


@pytest.mark.req("X5380-05", "SEC-06")
def test_skeyseed_and_sk_keys_known_answer_from_the_exchanged_octets() -> None:
    out, ev, msgs, ini = _exchange()
    init_req, init_resp = msgs[0], msgs[1]
    spi_i, spi_r = init_req[:8], init_resp[8:16]
    ni, nr = ini.ni, ini.nr  # type: ignore[attr-defined]
    # The nonces are what travelled (Nonce payloads are last in our IKE_SA_INIT messages).
    assert init_req.endswith(ni) and init_resp.endswith(nr)
    g_ir = ini.shared_secret  # type: ignore[attr-defined]
    skeyseed = h(ni + nr, g_ir)  # §2.14
    stream = rfc_prf_plus(skeyseed, ni + nr + spi_i + spi_r, 32 + 2 * 32 + 2 * 16 + 2 * 32)
    sizes = [32, 32, 32, 16, 16, 32, 32]  # SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr
    parts, at = [], 0
    for n in sizes:
        parts.append(stream[at:at + n])
        at += n
    want = IkeKeys(skeyseed, *parts)
    assert out.keys == want == ev.keys
    # §2.17 KEYMAT for the Child SA: i→r keys first (integrity only: ENCR_NULL).
    keymat = rfc_prf_plus(want.sk_d, ni + nr, 2 * 32)
    assert out.child.outbound.auth_key == keymat[:32] == ev.child.inbound.auth_key
    assert out.child.inbound.auth_key == keymat[32:] == ev.child.outbound.auth_key


@pytest.mark.req("X5380-05", "SEC-06")
def test_sk_icv_and_psk_auth_known_answer() -> None:
    out, _, msgs, ini = _exchange()
    k = out.keys
    init_req, init_resp, auth_req, auth_resp = msgs
    for raw, ai in ((auth_req, k.sk_ai), (auth_resp, k.sk_ar)):
        assert h(ai, raw[:-16])[:16] == raw[-16:]  # §3.14, AUTH_HMAC_SHA2_256_128
    # Decrypt IKE_AUTH request by hand: header 28, SK generic header 4, IV 16.
    iv, ct = auth_req[32:48], auth_req[48:-16]
    dec = Cipher(algorithms.AES(k.sk_ei), modes.CBC(iv)).decryptor()
    plain = dec.update(ct) + dec.finalize()
    assert auth_req[28] == 35  # first inner payload: IDi
    idi_len = int.from_bytes(plain[2:4], "big")
    idi_body = plain[4:idi_len]
    assert idi_body == bytes((11, 0, 0, 0)) + b"mn-a"  # ID_KEY_ID
    auth_len = int.from_bytes(plain[idi_len + 2:idi_len + 4], "big")
    auth_body = plain[idi_len + 4:idi_len + auth_len]
    assert auth_body[0] == 2  # shared key MIC
    # §2.15: AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <InitiatorSignedOctets>)
    signed = init_req + ini.nr + h(k.sk_pi, idi_body)  # type: ignore[attr-defined]
    assert auth_body[4:] == h(h(PSKS["mn-a"], b"Key Pad for IKEv2"), signed)
    assert init_resp  # used by the responder's AUTH (checked by the initiator itself)
