"""IPv6 header chain, Home Address option, Type 2 routing header, tunnels (W-06, W-07, W-08)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmipv6.errors import ChecksumError, DecodeError, EncodeError
from hmipv6.wire import (
    UDP,
    AuthenticationHeader,
    DestinationOptions,
    EncapsulatingSecurityPayload,
    FragmentHeader,
    HomeAddressOption,
    HopByHopOptions,
    IPv6Packet,
    PadN,
    RawPayload,
    RoutingHeader,
    RoutingHeaderType2,
    UnknownOption,
    addr,
    decode,
)
from hmipv6.wire.checksum import checksum

LCOA = addr("2001:db8:a1::a:b:c:d")
MAP = addr("2001:db8:100::1")
RCOA = addr("2001:db8:100::a:b:c:d")
HOA = addr("2001:db8:f::100")
HA = addr("2001:db8:f::1")
CN = addr("2001:db8:c::1")


def words_checksum(data: bytes) -> int:
    """An independent RFC 1071 checksum: a plain loop over 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


@pytest.mark.req("W-06")
def test_W06_home_address_option_bytes_and_8n6_alignment() -> None:
    p = IPv6Packet(LCOA, MAP, UDP(1, 2, b"x"), (DestinationOptions((HomeAddressOption(RCOA),)),))
    b = p.encode()
    # Destination Options: next header 17, Hdr Ext Len 2 (24 octets), PadN(2), HAO.
    assert b[6] == 60
    assert b[40:42] == bytes((17, 2))
    assert b[42:46] == b"\x01\x02\x00\x00"
    assert b[46] == 201 and b[47] == 16
    assert (46 - 40) % 8 == 6  # RFC 6275 §6.3: alignment 8n+6
    assert b[48:64] == RCOA.packed
    d = decode(b)
    assert d == p and d.home_address == RCOA and d.effective_src == RCOA


@pytest.mark.req("W-06")
def test_W06_type2_routing_header_one_address_segments_left_1() -> None:
    p = IPv6Packet(MAP, LCOA, UDP(1, 2), (RoutingHeaderType2(RCOA),))
    b = p.encode()
    assert b[6] == 43
    assert b[40:48] == bytes((17, 2, 2, 1, 0, 0, 0, 0))
    assert b[48:64] == RCOA.packed
    d = decode(b)
    assert d.routing_home_address == RCOA and d.effective_dst == RCOA


@pytest.mark.req("W-06", "W-10")
@pytest.mark.parametrize(
    ("patch", "field"),
    [((41, 3), "routing.length"), ((43, 2), "routing.segments_left")],
)
def test_W06_type2_routing_header_rejects_bad_length_and_segments(patch: tuple[int, int], field: str
                                                                   ) -> None:
    b = bytearray(IPv6Packet(MAP, LCOA, None, (RoutingHeaderType2(RCOA),)).encode())
    b[patch[0]] = patch[1]
    with pytest.raises(DecodeError) as e:
        decode(bytes(b))
    assert e.value.field == field and e.value.offset == patch[0]


@pytest.mark.req("W-06", "W-10")
def test_W06_home_address_option_wrong_length_is_a_decode_error() -> None:
    b = bytearray(IPv6Packet(LCOA, MAP, None, (DestinationOptions((HomeAddressOption(RCOA),)),)).encode())
    b[47] = 15
    with pytest.raises(DecodeError) as e:
        decode(bytes(b))
    assert e.value.offset in (47, 63)


@pytest.mark.req("W-07")
def test_W07_upper_layer_checksum_uses_hao_source_and_rh2_destination() -> None:
    p = IPv6Packet(LCOA, MAP, UDP(7, 9, b"payload"), (DestinationOptions((HomeAddressOption(RCOA),)),))
    b = p.encode()
    udp = b[64:]
    pseudo = RCOA.packed + MAP.packed + struct.pack("!IxxxB", len(udp), 17)
    assert words_checksum(pseudo + udp[:6] + b"\0\0" + udp[8:]) == struct.unpack("!H", udp[6:8])[0]
    # The same payload with the care-of address in the pseudo-header would not verify.
    assert checksum(LCOA.packed, MAP.packed, 17, udp[:6] + b"\0\0" + udp[8:]) != struct.unpack(
        "!H", udp[6:8])[0]
    q = IPv6Packet(HA, RCOA, UDP(7, 9, b"payload"), (RoutingHeaderType2(HOA),))
    qb = q.encode()
    qudp = qb[64:]
    pseudo = HA.packed + HOA.packed + struct.pack("!IxxxB", len(qudp), 17)
    assert words_checksum(pseudo + qudp[:6] + b"\0\0" + qudp[8:]) == struct.unpack("!H", qudp[6:8])[0]


@pytest.mark.req("W-07")
def test_W07_bad_checksum_is_a_typed_error_or_ignored_on_request() -> None:
    b = bytearray(IPv6Packet(CN, HOA, UDP(1, 2, b"abc")).encode())
    b[-1] ^= 0xFF
    with pytest.raises(ChecksumError) as e:
        decode(bytes(b))
    assert e.value.field == "udp.checksum" and e.value.offset == 46
    assert decode(bytes(b), verify=False).payload == UDP(1, 2, bytes([ord("a"), ord("b"), ord("c") ^ 0xFF]))


@pytest.mark.req("W-08")
def test_W08_ipv6_in_ipv6_and_double_encapsulation_mn_map_ha() -> None:
    inner = IPv6Packet(HOA, CN, UDP(5000, 6000, b"data"))
    mid = IPv6Packet(RCOA, HA, inner)
    outer = IPv6Packet(LCOA, MAP, mid)
    b = outer.encode()
    assert b[6] == 41 and b[40 + 6] == 41 and b[80 + 6] == 17
    assert struct.unpack("!H", b[4:6])[0] == len(b) - 40
    assert struct.unpack("!H", b[44:46])[0] == len(b) - 80
    assert b[80:] == inner.encode()
    d = decode(b)
    assert d == outer
    assert isinstance(d.payload, IPv6Packet) and isinstance(d.payload.payload, IPv6Packet)
    assert d.payload.payload.payload == UDP(5000, 6000, b"data")


@pytest.mark.req("W-08", "W-10")
def test_W08_inner_packet_must_fill_the_outer_payload_exactly() -> None:
    inner = IPv6Packet(HOA, CN, UDP(1, 2, b"zz")).encode()
    outer = bytearray(IPv6Packet(LCOA, MAP, RawPayload(41, inner + b"\0\0")).encode())
    with pytest.raises(DecodeError) as e:
        decode(bytes(outer))
    assert e.value.field == "ipv6.payload_length" and e.value.offset == 44


def test_extension_chain_order_and_fragment_and_ah_esp_framing() -> None:
    p = IPv6Packet(
        LCOA, MAP, EncapsulatingSecurityPayload(0x1234, 7, b"\x01" * 20),
        (HopByHopOptions((UnknownOption(5, b"\0\0"),)), DestinationOptions((HomeAddressOption(RCOA),)),
         FragmentHeader(0, False, 99), AuthenticationHeader(0x99, 3, bytes(12))),
        hop_limit=1, traffic_class=0xB8, flow_label=0xABCDE)
    b = p.encode()
    assert decode(b) == p
    frag = IPv6Packet(CN, HOA, RawPayload(17, b"x" * 8), (FragmentHeader(1, True, 5),))
    assert decode(frag.encode()).payload == RawPayload(17, b"x" * 8)
    with pytest.raises(EncodeError):
        IPv6Packet(CN, HOA, None, (AuthenticationHeader(1, 1, bytes(8)),)).encode()


def test_hop_by_hop_must_come_first() -> None:
    b = IPv6Packet(CN, HOA, None, (DestinationOptions(), HopByHopOptions())).encode()
    with pytest.raises(DecodeError) as e:
        decode(b)
    assert e.value.field == "ipv6.next_header"


def test_non_canonical_padding_round_trips_exactly() -> None:
    # PadN in an unusual place, with non-zero contents: kept so encode(decode(b)) == b.
    opts = (PadN(b"\x07\x07\x07\x07\x07\x07"), HomeAddressOption(RCOA), PadN(b"\0\0"))
    p = IPv6Packet(LCOA, MAP, None, (DestinationOptions(opts),))
    b = p.encode()
    d = decode(b)
    assert d.extension_headers[0] == DestinationOptions(opts)
    assert d.encode() == b


def test_routing_header_other_types_kept_raw() -> None:
    p = IPv6Packet(CN, HOA, None, (RoutingHeader(4, 0, bytes(4) + bytes(16)),))
    assert decode(p.encode()) == p


addresses = st.binary(min_size=16, max_size=16).map(addr)


@pytest.mark.req("W-11")
@given(src=addresses, dst=addresses, hoa=addresses, data=st.binary(max_size=64),
       hl=st.integers(0, 255), tc=st.integers(0, 255), fl=st.integers(0, (1 << 20) - 1),
       nest=st.integers(0, 3), rh2=st.booleans())
def test_W11_round_trip_property(src: object, dst: object, hoa: object, data: bytes, hl: int, tc: int,
                                 fl: int, nest: int, rh2: bool) -> None:
    assert isinstance(src, type(LCOA)) and isinstance(dst, type(LCOA)) and isinstance(hoa, type(LCOA))
    ext: tuple = (RoutingHeaderType2(hoa),) if rh2 else (DestinationOptions((HomeAddressOption(hoa),)),)
    p = IPv6Packet(src, dst, UDP(1, 2, data), ext, hl, tc, fl)
    for _ in range(nest):
        p = IPv6Packet(dst, src, p)
    b = p.encode()
    assert decode(b) == p
    assert decode(b).encode() == b
