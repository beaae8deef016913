"""core.ike with bad input: random, truncated and mutated IKE messages never raise anything but
:class:`hmipv6.errors.DecodeError` from the codec, and the endpoints drop and count them.

Rows: X5380-05 (robustness of the MN–MAP key exchange).
"""

from __future__ import annotations

import contextlib
import random

import pytest

from hmipv6.core.ike import Established, IkeInitiator
from hmipv6.core.ike.crypto import open_sk
from hmipv6.core.ike.message import decode, decode_chain, encode_chain
from hmipv6.core.ike.transport import ike_message, run_exchange
from hmipv6.core.ipsec import IPsec
from hmipv6.errors import DecodeError
from hmipv6.wire.ipv6 import IPv6Packet
from tests.core.ipsec_support import LCOA_A
from tests.core.test_ike import initiator, responder


def _messages() -> list[bytes]:
    trace: list[tuple[float, IPv6Packet]] = []
    out = run_exchange(initiator(IPsec(name="mn-a"), rcoa=None, ident="mn-c.example.net"),
                       responder(IPsec(name="map")), lcoa=LCOA_A, trace=trace)
    assert isinstance(out, Established)
    msgs = [ike_message(p) for _, p in trace]
    return [m for m in msgs if m is not None]


def _mutants(msgs: list[bytes], rng: random.Random, n: int) -> list[bytes]:
    out: list[bytes] = []
    for whole in msgs:
        out += [whole[:i] for i in range(len(whole))]  # every truncation
    for _ in range(n):
        original = rng.choice(msgs)
        m = bytearray(original)
        kind = rng.randrange(4)
        if kind == 0:
            m[rng.randrange(len(m))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            for _ in range(rng.randrange(1, 8)):
                m[rng.randrange(len(m))] = rng.randrange(256)
        elif kind == 2:
            # Keep the header length consistent so the payload decoders are reached.
            i = rng.randrange(28, len(m))
            m[i] = rng.choice((0, 1, 3, 4, 0xFF, 0x80, m[i] + 1 & 0xFF))
        else:
            m += rng.randbytes(rng.randrange(1, 40))
            m[24:28] = len(m).to_bytes(4, "big")
        if m != original:  # a mutation may write the octet that was there
            out.append(bytes(m))
    for _ in range(n // 4):
        out.append(rng.randbytes(rng.randrange(0, 300)))
    return out


@pytest.mark.req("X5380-05")
def test_decoder_raises_only_decode_error() -> None:
    rng = random.Random(4140)
    for data in _mutants(_messages(), rng, 4000):
        with contextlib.suppress(DecodeError):
            decode(data)


@pytest.mark.req("X5380-05")
def test_sk_opening_and_inner_chain_raise_only_decode_error() -> None:
    mn, mp = IPsec(name="mn-c"), IPsec(name="map")
    out = run_exchange(initiator(mn, rcoa=None, ident="mn-c.example.net"), responder(mp),
                       lcoa=LCOA_A)
    assert isinstance(out, Established)
    auth = _messages()[2]  # same seeds: same keys
    k = out.keys
    inner = open_sk(auth, decode(auth), k.sk_ei, k.sk_ai)
    rng = random.Random(5380)
    for data in _mutants([auth], rng, 2000):
        with contextlib.suppress(DecodeError):
            open_sk(data, decode(data), k.sk_ei, k.sk_ai)
    # Behind a valid ICV the inner chain is attacker-chosen too (a peer with the keys).
    first, plain = encode_chain(inner)
    assert decode_chain(first, plain, 0, len(plain)) == inner
    for _ in range(5000):
        m = bytearray(plain)
        for _ in range(rng.randrange(1, 4)):
            m[rng.randrange(len(m))] = rng.randrange(256)
        cut = rng.randrange(len(m) + 1)
        with contextlib.suppress(DecodeError):
            decode_chain(rng.choice((first, rng.randrange(256))), bytes(m), 0, cut)


@pytest.mark.req("X5380-05")
def test_responder_drops_and_counts_bad_input_then_still_works() -> None:
    msgs = _messages()
    mp = IPsec(name="map")
    res = responder(mp)
    rng = random.Random(12)
    bad = _mutants(msgs, rng, 1500)
    answered = 0
    for data in bad:
        answered += len(res.receive(0.0, data))  # never raises
    c = res.counters
    dropped = c["malformed"] + c["bad-icv"] + c["unknown-spi"] + c["unsupported"] + c["unexpected"]
    assert dropped > len(bad) // 2
    assert c["malformed"] > 0 and c["unexpected"] + c["unsupported"] > 0
    # Mutated requests that still parse may get an answer (a notify, or a fresh IKE SA), but no
    # mutant ever creates a Child SA: they cannot carry a valid ICV and AUTH.
    assert c["child-sa"] == 0 and len(mp.sad) == 0
    # The responder is still usable afterwards.
    out = run_exchange(initiator(IPsec(name="mn-a"), seed=99), res, lcoa=LCOA_A)
    assert isinstance(out, Established)


@pytest.mark.req("X5380-05")
def test_responder_drops_mutated_ike_auth_in_an_open_exchange() -> None:
    """Same seeds as :func:`_messages`: the responder's IKE SA matches the captured IKE_AUTH,
    so mutants reach the ICV check and the SK decoder."""
    msgs = _messages()
    mp = IPsec(name="map")
    res = responder(mp)
    assert res.receive(0.0, msgs[0]) == [msgs[1]]
    for data in _mutants([msgs[2]], random.Random(14), 1500):
        assert res.receive(0.0, data) == []
    c = res.counters
    assert c["bad-icv"] > 800 and c["malformed"] > 0 and len(mp.sad) == 0
    # The genuine request still completes the exchange.
    assert res.receive(0.0, msgs[2]) == [msgs[3]] and c["child-sa"] == 1


@pytest.mark.req("X5380-05")
def test_initiator_drops_and_counts_bad_responses() -> None:
    msgs = _messages()
    rng = random.Random(13)

    def fresh() -> IkeInitiator:
        ini = initiator(IPsec(name="mn-c"), rcoa=None, ident="mn-c.example.net")
        assert ini.start(0.0) == msgs[0]
        return ini

    for data in _mutants([msgs[1]], rng, 600):
        ini = fresh()
        ini.receive(0.0, data)  # never raises
        assert ini.counters.total() == 1 or ini.outcome is not None or ini.keys is not None
    for data in _mutants([msgs[3]], rng, 600):
        ini = fresh()
        assert ini.receive(0.0, msgs[1]) == [msgs[2]]
        assert ini.receive(0.0, data) == []
        assert ini.counters.total() == 1 or (ini.outcome is not None
                                             and not isinstance(ini.outcome, Established))
    ini = fresh()
    ini.receive(0.0, msgs[1])
    ini.receive(0.0, msgs[3])
    assert isinstance(ini.outcome, Established)


@pytest.mark.req("X5380-05")
def test_responder_state_is_bounded() -> None:
    res = responder(IPsec(name="map"), max_sas=8)
    for seed in range(20):
        assert len(res.receive(0.0, initiator(IPsec(), seed=100 + seed).start(0.0))) == 1
    assert res.counters["evicted"] == 12 and res.counters["ike-sa-init"] == 20
    out = run_exchange(initiator(IPsec(name="mn-a"), seed=7), res, lcoa=LCOA_A)
    assert isinstance(out, Established)
