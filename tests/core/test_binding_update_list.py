"""Binding Update List: per-destination 16-bit sequence numbers, RFC 6275 §11.8 back-off and
§11.7.3 lifetime accounting (MN-22)."""

from __future__ import annotations

import random
from ipaddress import IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmipv6.core.binding_update_list import BindingUpdateList, BulEntry, SequenceNumbers, seq_newer

MAP = IPv6Address("2001:db8:100::1")
HA = IPv6Address("2001:db8:f::1")
RCOA = IPv6Address("2001:db8:100::a")
LCOA = IPv6Address("2001:db8:a1::a")


@pytest.mark.req("MN-22")
def test_MN22_back_off_first_registration_then_initial() -> None:
    bul = BindingUpdateList(random.Random(1))
    e = bul.start(0.0, destination=MAP, home_address=RCOA, care_of_address=LCOA, kind="local",
                  lifetime=400)
    assert e.first_registration and e.timeout == 1.5
    timeouts = []
    for _ in range(8):
        bul.retransmit(0.0, e)
        timeouts.append(e.timeout)
    assert timeouts == [3.0, 6.0, 12.0, 24.0, 32.0, 32.0, 32.0, 32.0]
    e.sent_at = 10.0
    bul.acknowledge(e, 200)
    assert e.expires_at == 210.0 and e.refresh_at == 10.0 + 160.0 and e.granted == 200
    again = bul.start(100.0, destination=MAP, home_address=RCOA, care_of_address=LCOA, kind="local",
                      lifetime=400)
    assert not again.first_registration and again.timeout == 1.0
    assert again.remaining(100.0) == 110.0  # the acknowledged binding still counts


@pytest.mark.req("MN-22")
def test_MN22_ba_matching_and_granted_lifetime_cap() -> None:
    bul = BindingUpdateList(random.Random(2))
    e = bul.start(0.0, destination=HA, home_address=RCOA, care_of_address=LCOA, kind="home",
                  lifetime=100)
    assert bul.match(HA, e.sequence) is e
    assert bul.match(MAP, e.sequence) is None and bul.match(HA, (e.sequence + 1) & 0xFFFF) is None
    bul.acknowledge(e, 4000)  # a peer may not grant more than was asked
    assert e.granted == 100 and bul.match(HA, e.sequence) is None


@pytest.mark.req("MN-22")
def test_MN22_sequence_numbers_per_destination_wrap() -> None:
    seqs = SequenceNumbers(random.Random(3))
    seqs.resync(MAP, 0xFFFF)
    assert seqs.next(MAP) == 0 and seqs.next(MAP) == 1
    first_ha = seqs.next(HA)
    assert seqs.next(HA) == (first_ha + 1) & 0xFFFF
    assert seq_newer(0, 0xFFFF) and not seq_newer(0xFFFF, 0) and not seq_newer(5, 5)


@given(st.integers(0, 0xFFFF), st.integers(1, 0x7FFF))
def test_seq_newer_is_modular(a: int, d: int) -> None:
    assert seq_newer((a + d) & 0xFFFF, a)
    assert not seq_newer(a, (a + d) & 0xFFFF)


def test_remaining_is_never_negative_and_zero_unacknowledged() -> None:
    a = IPv6Address("2001:db8::1")
    e = BulEntry(destination=a, home_address=a, care_of_address=a, kind="local", lifetime=8,
                 sequence=1, sent_at=0.0, first_sent_at=0.0, timeout=1.0, first_registration=True)
    e.expires_at = 10.0
    assert e.remaining(5.0) == 0.0  # never acknowledged
    e.acked_care_of = a
    assert [e.remaining(t) for t in (5.0, 10.0, 12.5)] == [5.0, 0.0, 0.0]
    assert str(e.remaining(10.0)) == "0.0"  # (+0.0, as max(x, 0.0) gave)
