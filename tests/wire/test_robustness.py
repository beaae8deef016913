"""W-10 / W-11 over every golden vector of every codec: truncations, single-octet mutations,
random octets. CI runs well over 100,000 cases; ``bench/fuzz_codecs.py`` runs 1,000,000."""

from __future__ import annotations

import random

import pytest

from tests.wire.fuzzing import Outcome, cases, check, golden_vectors


@pytest.mark.req("W-10", "W-11")
def test_W10_W11_every_truncation_and_mutation_decodes_or_raises_decode_error() -> None:
    vectors = golden_vectors()
    assert len(vectors) >= 5, sorted(vectors)
    outcome = Outcome()
    n = 0
    for data in cases(vectors, random.Random(4140), values_per_byte=24, random_inputs=40000):
        check(data, outcome)
        n += 1
    assert n >= 100_000, n
    # Both branches of the invariant were exercised, not just rejections.
    assert outcome.decoded > 100 and outcome.rejected > 1000, (outcome.decoded, outcome.rejected)


@pytest.mark.req("W-11")
def test_W11_every_golden_vector_decodes_and_re_encodes_identically() -> None:
    from hmipv6.wire import decode

    for name, raw in golden_vectors().items():
        assert decode(raw).encode() == raw, name


def test_harness_catches_a_foreign_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.wire.fuzzing as fz

    def broken(data: bytes) -> object:
        raise IndexError("boom")

    monkeypatch.setattr(fz, "decode", broken)
    with pytest.raises(AssertionError, match="IndexError"):
        fz.check(b"\x60" + bytes(39), Outcome())
