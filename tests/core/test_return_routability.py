"""Return routability functions (RFC 6275 §5.2.5, §6.2.7) and the correspondent's nonces."""

from __future__ import annotations

import hashlib
import hmac
import random
from ipaddress import IPv6Address

import pytest

from hmipv6.core import return_routability as rr
from hmipv6.wire.mobility import (
    BAFlags,
    BindingAcknowledgement,
    BindingAuthorizationData,
    BindingUpdate,
    BUFlags,
    NonceIndices,
)

HOA = IPv6Address("2001:db8:50::99")
COA = IPv6Address("2001:db8:100::a1")
CN = IPv6Address("2001:db8:cafe::1")
KCN = bytes(range(20))
NONCE = b"\x11" * 8


@pytest.mark.req("CN-01")
def test_CN01_keygen_tokens_and_kbm_follow_the_formulas() -> None:
    h = hmac.new(KCN, HOA.packed + NONCE + b"\x00", hashlib.sha1).digest()[:8]
    c = hmac.new(KCN, COA.packed + NONCE + b"\x01", hashlib.sha1).digest()[:8]
    assert rr.home_keygen_token(KCN, HOA, NONCE) == h
    assert rr.care_of_keygen_token(KCN, COA, NONCE) == c
    assert rr.binding_management_key(h, c) == hashlib.sha1(h + c).digest()
    assert rr.binding_management_key(h, None) == hashlib.sha1(h).digest()


@pytest.mark.req("CN-01")
def test_CN01_authenticator_covers_coa_cn_and_the_mh_without_checksum_and_mac() -> None:
    kbm = rr.binding_management_key(b"a" * 8, b"b" * 8)
    bu = rr.authorize(kbm, COA, CN, BindingUpdate(5, BUFlags.A, 100, (NonceIndices(1, 2),)))
    last = bu.options[-1]
    assert isinstance(last, BindingAuthorizationData) and len(last.authenticator) == 12
    raw = bu.encode_payload(HOA.packed, CN.packed)
    data = raw[:4] + b"\x00\x00" + raw[6:-12]
    expected = hmac.new(kbm, COA.packed + CN.packed + data, hashlib.sha1).digest()[:12]
    assert last.authenticator == expected
    assert rr.verify(kbm, COA, CN, bu)
    assert not rr.verify(kbm, HOA, CN, bu)
    assert not rr.verify(b"x" * 20, COA, CN, bu)
    # Re-authorising replaces the option instead of adding a second one.
    again = rr.authorize(kbm, COA, CN, bu)
    assert again == bu
    ba = rr.authorize(kbm, COA, CN, BindingAcknowledgement(0, BAFlags(0), 5, 100))
    assert rr.verify(kbm, COA, CN, ba)
    assert rr.mh_data(BindingUpdate(5, BUFlags.A, 100)) is None


def test_nonce_table_rotates_and_forgets_after_max_nonce_lifetime() -> None:
    t = rr.NonceTable(random.Random(1), 0.0)
    first, kcn, nonce = t.current()
    assert len(kcn) == rr.KCN_LEN and len(nonce) == rr.NONCE_LEN
    now = 0.0
    while now < 300.0:
        now = t.next_rotation
        t.rotate(now)
        assert t.current()[0] != first
    assert t.lookup(first, now) is None
    index, _, _ = t.current()
    assert t.lookup(index, now) is not None
    assert t.lookup(index, now + rr.MAX_NONCE_LIFETIME + 1) is None
