"""Deferred payloads: ``decode`` validates a whole packet but builds the payload object of a
decoded packet on the first read of ``payload``. Nobody can tell: every input is rejected or
accepted exactly as by the eager decoders (same error, field and offset), and the value is
the same, field for field."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
from collections.abc import Iterator

import pytest

import hmipv6.wire.icmpv6 as icmpv6
import hmipv6.wire.ipv6 as ipv6
import hmipv6.wire.mobility as mobility
import hmipv6.wire.udp as udp
from hmipv6.errors import DecodeError
from hmipv6.wire import (
    UDP,
    DestinationOptions,
    HomeAddressOption,
    IPv6Packet,
    RoutingHeaderType2,
    addr,
    decode,
)
from hmipv6.wire.icmpv6 import (
    AdvertisementInterval,
    MapOption,
    PrefixInformation,
    RouterAdvertisement,
    SourceLinkLayerAddress,
)
from hmipv6.wire.mobility import BAFlags, BAStatus, BindingAcknowledgement, BindingUpdate, BUFlags
from tests.wire.fuzzing import cases, golden_vectors

LCOA = addr("2001:db8:a1::a:b:c:d")
MAP = addr("2001:db8:100::1")
RCOA = addr("2001:db8:100::a:b:c:d")
HOA = addr("2001:db8:f::100")
HA = addr("2001:db8:f::1")
CN = addr("2001:db8:c::1")


def deferrable_packets(i: int) -> dict[str, IPv6Packet]:
    """The layouts whose payloads are deferred (those of ``bench/codec.py``)."""
    return {
        "bu": IPv6Packet(LCOA, MAP, BindingUpdate(i, BUFlags.A | BUFlags.M, 420),
                         (DestinationOptions((HomeAddressOption(RCOA),)),)),
        "ba": IPv6Packet(MAP, LCOA, BindingAcknowledgement(BAStatus(0), BAFlags(0), i, 420),
                         (RoutingHeaderType2(RCOA),)),
        "ra": IPv6Packet(addr("fe80::1"), addr("ff02::1"), RouterAdvertisement(
            cur_hop_limit=64, router_lifetime=1800, options=(
                SourceLinkLayerAddress(b"\x02\x00\x00\x00\x00\x01"),
                PrefixInformation(64, True, True, False, 86400, 14400, addr("2001:db8:a1::")),
                AdvertisementInterval(70),
                MapOption(1, 10, True, 3600 + i, MAP))), hop_limit=255),
        "tunnel": IPv6Packet(MAP, LCOA, IPv6Packet(HA, RCOA, IPv6Packet(
            CN, HOA, UDP(5000, 6000, i.to_bytes(4, "big") + bytes(20))))),
        "reverse tunnel": IPv6Packet(LCOA, MAP, IPv6Packet(
            RCOA, HA, IPv6Packet(HOA, CN, UDP(1, 2, b"x")),
            (DestinationOptions((HomeAddressOption(HOA),)),))),
        "route optimised": IPv6Packet(CN, LCOA, UDP(7, 9, b"data"), (RoutingHeaderType2(HOA),)),
    }


_BUILDER = IPv6Packet.__dict__["_payload_builder"]
EAGER = {58: icmpv6._decode_icmpv6, 135: mobility._decode_mobility, 17: udp._decode_udp,
         41: ipv6._decode_inner}
"""The decoders that build every payload at once (the reference)."""


def deferred(p: IPv6Packet) -> bool:
    """True while ``p``'s payload is not built yet."""
    try:
        _BUILDER.__get__(p, IPv6Packet)
    except AttributeError:
        return False
    return True


def outcome(data: bytes, verify: bool) -> tuple[str, object, bool]:
    try:
        value = decode(data, verify=verify)
    except DecodeError as exc:
        return "error", (type(exc), exc.field, exc.offset, str(exc)), False
    was_deferred = deferred(value)
    # repr reads every field, which builds every deferred payload, recursively.
    return "value", (value, repr(value)), was_deferred


def inputs() -> Iterator[bytes]:
    vectors = dict(golden_vectors())
    for i, (name, p) in enumerate(deferrable_packets(7).items()):
        vectors[f"deferrable {name} {i}"] = p.encode()
    yield from cases(vectors, random.Random(5380), values_per_byte=10, random_inputs=3000)


@pytest.mark.req("W-10", "W-11")
@pytest.mark.parametrize("verify", [True, False])
def test_deferred_decoding_accepts_rejects_and_builds_exactly_as_eager_decoding(
        verify: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every protocol with a lazy decoder has its eager decoder in the reference.
    assert {nh for nh, d in ipv6._DECODERS.items() if d is not ipv6._BUILDERS[nh]} == set(EAGER)
    data = list(inputs())
    # RA caching depends on what came before; each pass starts from the same (empty) state.
    icmpv6._RA_CACHE.clear()
    icmpv6._RA_SEEN.clear()
    lazy = [outcome(d, verify) for d in data]
    icmpv6._RA_CACHE.clear()
    icmpv6._RA_SEEN.clear()
    with monkeypatch.context() as m:
        # The reference: every payload built at once by its protocol's decoder.
        for nh, dec in EAGER.items():
            m.setitem(ipv6._DECODERS, nh, dec)
        reference = [outcome(d, verify) for d in data]
    assert not any(was for _, _, was in reference)
    for d, got, want in zip(data, lazy, reference, strict=True):
        assert got[:2] == want[:2], d.hex()
    kinds = [k for k, _, _ in lazy]
    # Both sides of the contract were exercised: rejections, values built at once, and
    # values whose payloads were deferred.
    assert kinds.count("error") > 5000, kinds.count("error")
    assert sum(was for _, _, was in lazy) > 300, sum(was for _, _, was in lazy)
    assert sum(k == "value" and not was for k, _, was in lazy) > 100


@pytest.mark.req("W-11")
@pytest.mark.parametrize("name", sorted(deferrable_packets(0)))
def test_a_deferred_payload_is_built_once_on_first_read_and_the_value_is_unchanged(
        name: str) -> None:
    original = deferrable_packets(3)[name]
    octets = original.encode()
    icmpv6._RA_SEEN.clear()
    icmpv6._RA_CACHE.clear()
    p = decode(octets)
    assert deferred(p)
    assert p.src == original.src and p.extension_headers == original.extension_headers
    first = p.payload
    assert first == original.payload and p.payload is first
    assert not deferred(p)  # built once: nothing left to build
    assert p == original and hash(p) == hash(original) and repr(p) == repr(original)
    assert p.encode() == octets


def test_a_deferred_packet_behaves_as_a_frozen_dataclass() -> None:
    original = deferrable_packets(4)["ba"]
    fresh = [decode(original.encode()) for _ in range(5)]
    assert [f.name for f in dataclasses.fields(fresh[0])] == [
        "src", "dst", "payload", "extension_headers", "hop_limit", "traffic_class", "flow_label"]
    assert fresh[0] == original  # equality builds the payload
    assert hash(fresh[1]) == hash(original)
    assert dataclasses.replace(fresh[2], hop_limit=1) == dataclasses.replace(original, hop_limit=1)
    assert copy.copy(fresh[3]) == original
    assert pickle.loads(pickle.dumps(fresh[4])) == original
    with pytest.raises(dataclasses.FrozenInstanceError):
        fresh[0].payload = None  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        getattr(fresh[1], "nonexistent")  # noqa: B009
    assert not hasattr(fresh[1], "__dict__")
    # A packet built by its constructor never defers anything.
    assert original.payload is original.payload


@pytest.mark.parametrize("option_type", sorted(icmpv6._SCREENED_OPTIONS))
def test_the_ra_option_lengths_the_screen_accepts_are_those_the_decoders_accept(
        option_type: int) -> None:
    # _SCREENED_OPTIONS mirrors the _need_length checks of the option decoders: for every
    # Length, the eager decoder accepts the option exactly when the table does.
    want = icmpv6._SCREENED_OPTIONS[option_type]
    for n in range(1, 6):
        body = bytearray(8 * n)
        body[0], body[1] = option_type, n
        if option_type == 23:
            body[2] = 0x1A  # Dist 1 (RFC 4140 §5: not 0)
        try:
            icmpv6.decode_nd_options(bytes(body), 0, len(body))
            accepted = True
        except DecodeError:
            accepted = False
        assert accepted == (want == 0 or want == n), (option_type, n)
    assert icmpv6._SCREEN_LENGTH[option_type] == want


def test_registered_option_types_outside_the_table_are_never_screened() -> None:
    for t in icmpv6._OPTION_DECODERS:
        assert icmpv6._SCREEN_LENGTH[t] == icmpv6._SCREENED_OPTIONS.get(t, -1), t
    assert all(icmpv6._SCREEN_LENGTH[t] == 0 for t in range(256) if t not in icmpv6._OPTION_DECODERS)


@pytest.mark.req("W-10")
@pytest.mark.parametrize("option_type", [1, 3, 7, 23, 200])
def test_an_ra_option_of_length_zero_is_refused_by_the_screen_too(option_type: int) -> None:
    # RFC 4861 §4.6: an option with Length 0 invalidates the message; the screen must
    # not take it for a valid option (nor loop on it): decoded at once, it raises.
    ra = deferrable_packets(11)["ra"]
    octets = bytearray(ra.encode())
    first = 40 + 16  # the first option (the Source Link-Layer Address, Length 1)
    octets[first], octets[first + 1] = option_type, 0
    icmpv6._RA_SEEN.clear()
    icmpv6._RA_CACHE.clear()
    with pytest.raises(DecodeError) as err:
        decode(bytes(octets), verify=False)
    assert (err.value.field, err.value.offset) == ("icmpv6.option.length", first + 1)
