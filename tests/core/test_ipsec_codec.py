"""The per-SA ESP codec of core.ipsec.esp (``sa.esp``) and the one seal/open implementation
both the general and the octet-level paths run: round trips for every suite, tampering,
replay, padding and dummy packets (RFC 4303 §2.4, §2.6, §3.4.3, §3.4.4)."""

from __future__ import annotations

import pytest

from hmipv6.core.ipsec import esp
from hmipv6.core.ipsec.sad import MAX_SEQUENCE, SAParams, SecurityAssociation
from hmipv6.core.security import SecurityDrop
from hmipv6.errors import LocalProtocolError

SUITES = {
    "NULL/HMAC-SHA-256-128": dict(enc="NULL", enc_key=b"", auth="HMAC-SHA-256-128",
                                  auth_key=bytes(range(32))),
    "AES-CBC/HMAC-SHA-256-128": dict(enc="AES-CBC", enc_key=bytes(range(40, 56)),
                                     auth="HMAC-SHA-256-128", auth_key=bytes(range(32))),
    "AES-GCM-16": dict(enc="AES-GCM-16", enc_key=bytes(range(60, 80)), auth="NULL",
                       auth_key=b""),
}


def _pair(suite: str) -> tuple[SecurityAssociation, SecurityAssociation]:
    params = SAParams(spi=0x1234, **SUITES[suite])  # type: ignore[arg-type]
    return SecurityAssociation(params, "out"), SecurityAssociation(params, "in")


@pytest.mark.parametrize("suite", SUITES)
def test_codec_holds_the_sa_constants(suite: str) -> None:
    out, _ = _pair(suite)
    c = out.esp
    assert c.spi == 0x1234 and c.spi_octets == b"\x00\x00\x12\x34"
    assert c.clear == (SUITES[suite]["enc"] == "NULL")
    assert (c.mac is None) == (SUITES[suite]["auth"] == "NULL")
    assert c.icv_len == out.integrity.icv_len
    assert c.min_len == 8 + out.integrity.icv_len + out.encryption.iv_len + 2
    for r in range(c.block):
        for nh in (0, 59, 135, 255):
            assert c.trailers[r][nh] == esp.trailer(r, nh, c.block)


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("length", [0, 1, 2, 3, 13, 16, 17, 40])
def test_seal_then_open_round_trips(suite: str, length: int) -> None:
    out, inb = _pair(suite)
    payload = bytes(range(7, 7 + length))
    for seq in (1, 2, 3):
        raw = esp.seal_raw(out, 135, payload)
        assert raw[:8] == b"\x00\x00\x12\x34" + seq.to_bytes(4, "big")
        assert (len(raw) - 8 - out.esp.icv_len - out.encryption.iv_len
                - out.encryption.icv_len) % out.esp.block == 0
        assert esp.open_raw(inb, raw) == (seq, 135, payload)
        assert inb.replay.right == seq - 1  # open_raw changes nothing
        esp.accept(inb, seq)
        assert inb.replay.right == seq and inb.packets == seq
    assert out.next_sequence == 4 and out.packets == 3
    # The general path opens the same octets.
    _, fresh = _pair(suite)
    sealed = esp.seal(out, 17, payload)
    assert sealed.spi == 0x1234 and sealed.sequence == 4
    assert esp.open_(fresh, sealed) == (17, payload)
    assert fresh.replay.right == 4 and fresh.packets == 1


@pytest.mark.parametrize("suite", SUITES)
def test_every_flipped_bit_is_dropped_and_changes_nothing(suite: str) -> None:
    out, inb = _pair(suite)
    raw = esp.seal_raw(out, 135, b"binding update!!")
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        assert esp.open_raw(inb, bytes(bad)) is None
        with pytest.raises(SecurityDrop) as exc:
            esp.open_octets(inb, bytes(bad), True)
        # Flipping the low bit of sequence number 1 gives 0, which is never sent.
        assert exc.value.reason == ("replay" if i == 7 else "bad-icv")
    assert inb.replay.right == 0 and inb.replay.bitmap == 0 and inb.packets == 0
    assert esp.open_raw(inb, raw[:8 + inb.esp.icv_len]) is None  # too short


@pytest.mark.parametrize("suite", SUITES)
def test_replay_is_dropped_only_after_a_commit(suite: str) -> None:
    out, inb = _pair(suite)
    raw = esp.seal_raw(out, 135, b"x" * 12)
    assert esp.open_octets(inb, raw, False) == esp.open_octets(inb, raw, False)
    assert esp.open_octets(inb, raw, True)[0] == 1
    with pytest.raises(SecurityDrop) as exc:
        esp.open_octets(inb, raw, False)
    assert exc.value.reason == "replay"


def _null_esp(sa: SecurityAssociation, seq: int, plain: bytes) -> bytes:
    """ESP-NULL octets with an arbitrary trailer and a valid ICV."""
    body = sa.esp.spi_octets + seq.to_bytes(4, "big") + plain
    return body + sa.integrity.icv(body)


def test_bad_padding_and_dummy_packets_are_dropped_after_the_window_update() -> None:
    _, inb = _pair("NULL/HMAC-SHA-256-128")
    cases = [
        (1, b"abcd" + bytes((1, 3, 2, 135)), "bad-padding"),  # padding must be 1, 2, ...
        (2, b"ab" + bytes((9, 135)), "bad-padding"),  # pad length beyond the payload
        (3, b"abcd" + bytes((1, 2, 2, 59)), "dummy"),  # Next Header 59 (RFC 4303 §2.6)
    ]
    for seq, plain, reason in cases:
        raw = _null_esp(inb, seq, plain)
        assert esp.open_raw(inb, raw) is None
        assert inb.replay.right == seq - 1
        with pytest.raises(SecurityDrop) as exc:
            esp.open_octets(inb, raw, True)
        assert exc.value.reason == reason
        # The ICV verified, so the window moved (RFC 4303 §3.4.3); nothing was accepted.
        assert inb.replay.right == seq and inb.packets == 0
    assert esp.open_raw(inb, _null_esp(inb, 4, b"abcd" + bytes((1, 2, 2, 135)))) == (
        4, 135, b"abcd")


def test_an_exhausted_sa_refuses_to_seal() -> None:
    out, _ = _pair("NULL/HMAC-SHA-256-128")
    out.next_sequence = MAX_SEQUENCE + 1
    with pytest.raises(LocalProtocolError):
        esp.seal_raw(out, 135, b"")
    assert out.next_sequence == MAX_SEQUENCE + 1 and out.packets == 0
