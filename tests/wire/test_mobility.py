"""Mobility Header codec: messages (W-03, W-04), options and alignment (W-05), the checksum with
effective addresses (W-07), errors with field and offset (W-10), round trips (W-11).

Golden packets come from ``vectors_mobility.py`` (built once with scapy), so these tests need
no scapy; ``tests/oracle/test_scapy_mobility.py`` compares against scapy live.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.errors import ChecksumError, DecodeError, EncodeError, LocalProtocolError
from hmipv6.wire import (
    AlternateCareOfAddress,
    BAFlags,
    BAStatus,
    BEStatus,
    BindingAcknowledgement,
    BindingAuthorizationData,
    BindingError,
    BindingRefreshAdvice,
    BindingRefreshRequest,
    BindingUpdate,
    BUFlags,
    CareOfTest,
    CareOfTestInit,
    DestinationOptions,
    HomeAddressOption,
    HomeTest,
    HomeTestInit,
    IPv6Packet,
    MHType,
    MobilityMessage,
    MobilityOption,
    NonceIndices,
    Pad1,
    PadN,
    RoutingHeaderType2,
    UnknownMobilityMessage,
    UnknownMobilityOption,
    addr,
    decode,
)
from hmipv6.wire.ipv6 import decode_payload
from tests.wire.vectors_mobility import CN, HA, HOA, LCOA, MAP, PACKETS, RCOA

A_MAP, A_RCOA, A_LCOA, A_HA, A_HOA, A_CN = (addr(a) for a in (MAP, RCOA, LCOA, HA, HOA, CN))
AUTH = b"\xa5" * 12
COOKIE_H = bytes(range(1, 9))
COOKIE_C = bytes(range(0x11, 0x19))


def hao(a: object) -> tuple[DestinationOptions]:
    return (DestinationOptions((HomeAddressOption(addr(a)),)),)  # type: ignore[arg-type]


def rh2(a: object) -> tuple[RoutingHeaderType2]:
    return (RoutingHeaderType2(addr(a)),)  # type: ignore[arg-type]


def words_checksum(data: bytes) -> int:
    """An independent RFC 1071 checksum: a plain loop over 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mh_checksum(src: object, dst: object, mh: bytes) -> int:
    """RFC 6275 §6.1.1 checksum of ``mh`` (checksum field zeroed) written out by hand."""
    zeroed = mh[:4] + b"\0\0" + mh[6:]
    pseudo = addr(src).packed + addr(dst).packed + struct.pack("!I3xB", len(mh), 135)  # type: ignore[arg-type]
    return words_checksum(pseudo + zeroed)


# The hmipv6 value of every golden packet (same names as vectors_mobility.PACKETS).
VALUES: dict[str, IPv6Packet] = {
    "brr": IPv6Packet(A_HA, A_RCOA, BindingRefreshRequest(), rh2(HOA)),
    "hoti": IPv6Packet(A_HOA, A_CN, HomeTestInit(COOKIE_H)),
    "coti": IPv6Packet(A_RCOA, A_CN, CareOfTestInit(COOKIE_C)),
    "hot": IPv6Packet(A_CN, A_HOA, HomeTest(0x1234, COOKIE_H, b"HKTOKEN!")),
    "cot": IPv6Packet(A_CN, A_RCOA, CareOfTest(0x4321, COOKIE_C, b"CKTOKEN!")),
    "bu_local": IPv6Packet(A_LCOA, A_MAP, BindingUpdate(1, BUFlags.A | BUFlags.M, 400), hao(RCOA)),
    "bu_home_altcoa": IPv6Packet(
        A_RCOA, A_HA,
        BindingUpdate(2, BUFlags.A | BUFlags.H | BUFlags.K, 600, (AlternateCareOfAddress(A_RCOA),)),
        hao(HOA)),
    "bu_cn_rr": IPv6Packet(
        A_RCOA, A_CN,
        BindingUpdate(3, BUFlags(0), 240, (NonceIndices(5, 6), BindingAuthorizationData(AUTH))),
        hao(HOA)),
    "bu_bad_only": IPv6Packet(
        A_RCOA, A_CN, BindingUpdate(4, BUFlags(0), 0, (BindingAuthorizationData(AUTH),)), hao(HOA)),
    "bu_nemo_reserved": IPv6Packet(
        A_RCOA, A_HA,
        BindingUpdate(0xFFFF, BUFlags.A | BUFlags.H | BUFlags.R | BUFlags.P | BUFlags(0x105),
                      0xFFFF * 4),
        hao(HOA)),
    "ba_local": IPv6Packet(A_MAP, A_LCOA, BindingAcknowledgement(BAStatus.ACCEPTED, BAFlags(0), 1, 400),
                           rh2(RCOA)),
    "ba_home_bra": IPv6Packet(
        A_HA, A_RCOA,
        BindingAcknowledgement(BAStatus.ACCEPTED_PREFIX_DISCOVERY_NECESSARY, BAFlags.K, 2, 600,
                               (BindingRefreshAdvice(300),)),
        rh2(HOA)),
    "ba_bra_altcoa": IPv6Packet(
        A_HA, A_RCOA,
        BindingAcknowledgement(0, BAFlags.K | BAFlags.R, 3, 16,
                               (BindingRefreshAdvice(4), AlternateCareOfAddress(A_LCOA))),
        rh2(HOA)),
    "ba_rejected": IPv6Packet(
        A_MAP, A_LCOA,
        BindingAcknowledgement(BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, BAFlags.P | BAFlags(0x11), 9, 0),
        rh2(RCOA)),
    "be_hao": IPv6Packet(A_CN, A_RCOA, BindingError(BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION,
                                                    A_HOA)),
    "be_unrecognized": IPv6Packet(A_MAP, A_LCOA, BindingError(BEStatus.UNRECOGNIZED_MH_TYPE, addr("::"))),
    "unknown_type": IPv6Packet(A_LCOA, A_MAP, UnknownMobilityMessage(42, bytes(range(10)))),
    "unknown_option": IPv6Packet(
        A_LCOA, A_MAP,
        BindingUpdate(5, BUFlags.A | BUFlags.M, 32, (UnknownMobilityOption(200, b"xyz"),)), hao(RCOA)),
    "explicit_pad1": IPv6Packet(
        A_LCOA, A_MAP, BindingUpdate(6, BUFlags.A | BUFlags.M, 32, (Pad1(), Pad1(), Pad1(), Pad1())),
        hao(RCOA)),
    "ba_odd_header": IPv6Packet(
        A_MAP, A_LCOA,
        BindingAcknowledgement(200, BAFlags(0), 7, 4, payload_proto=6, header_reserved=0xAA),
        rh2(RCOA)),
}


def raw(name: str) -> bytes:
    return bytes.fromhex(PACKETS[name])


def mh_of(packet: bytes) -> tuple[int, bytes]:
    """Offset and octets of the Mobility Header (every extension header here is 24 octets:
    a Destination Options header holding only a HAO, or a Type 2 routing header)."""
    off = 40 + 24 * len(decode(packet, verify=False).extension_headers)
    return off, packet[off:]


# --------------------------------------------------------------------------------------------
# Golden vectors: every message and option (W-03, W-04, W-05, W-11)


def test_every_golden_packet_has_a_value() -> None:
    assert set(VALUES) == set(PACKETS)


@pytest.mark.req("W-03", "W-04", "W-05", "W-11")
@pytest.mark.parametrize("name", sorted(VALUES))
def test_W03_W04_W05_W11_golden_packet_encodes_and_decodes(name: str) -> None:
    assert VALUES[name].encode() == raw(name)
    assert decode(raw(name)) == VALUES[name]


def test_every_mh_type_and_option_type_is_covered_by_a_vector() -> None:
    types = {type(v.payload) for v in VALUES.values()}
    assert types >= {BindingRefreshRequest, HomeTestInit, CareOfTestInit, HomeTest, CareOfTest,
                     BindingUpdate, BindingAcknowledgement, BindingError, UnknownMobilityMessage}
    opts = {type(o) for v in VALUES.values() for o in getattr(v.payload, "options", ())}
    assert opts >= {Pad1, BindingRefreshAdvice, AlternateCareOfAddress, NonceIndices,
                    BindingAuthorizationData, UnknownMobilityOption}


# --------------------------------------------------------------------------------------------
# W-03: Binding Update


@pytest.mark.req("W-03")
def test_W03_local_binding_update_bytes() -> None:
    b = raw("bu_local")
    assert b[6] == 60 and b[40] == 135  # IPv6 -> Destination Options (HAO) -> Mobility Header
    mh = b[64:]
    assert mh[0] == 59  # Payload Proto: IPPROTO_NONE
    assert mh[1] == 1  # Header Len: 16 octets, excluding the first 8
    assert mh[2] == int(MHType.BU) == 5 and mh[3] == 0
    assert mh[6:8] == b"\x00\x01"  # Sequence #
    assert mh[8:10] == b"\x88\x00"  # A (0x8000) | M (0x0800, RFC 4140 §4.1, after K)
    assert mh[10:12] == (400 // 4).to_bytes(2, "big")  # lifetime in 4-second units
    assert mh[12:16] == b"\x01\x02\x00\x00"  # PadN to a multiple of 8 octets
    assert len(mh) == 16


@pytest.mark.req("W-03")
def test_W03_flag_bits_are_the_rfc_positions() -> None:
    assert (BUFlags.A, BUFlags.H, BUFlags.L, BUFlags.K, BUFlags.M, BUFlags.R, BUFlags.P) == (
        0x8000, 0x4000, 0x2000, 0x1000, 0x0800, 0x0400, 0x0200)
    assert (BAFlags.K, BAFlags.R, BAFlags.P) == (0x80, 0x40, 0x20)
    for letter, bit in zip("AHLKMRP", (0x8000 >> i for i in range(7)), strict=True):
        bu = BindingUpdate(9, BUFlags(bit), 4)
        assert bu.encode_payload(A_RCOA.packed, A_MAP.packed)[8:10] == bit.to_bytes(2, "big")
        assert bu.flags.letters() == letter


@pytest.mark.req("W-03")
def test_W03_flag_letters() -> None:
    assert (BUFlags.A | BUFlags.H | BUFlags.M).letters() == "AHM"
    assert BUFlags.from_letters("ma") == BUFlags.A | BUFlags.M
    assert BUFlags(0x0105).letters() == ""  # reserved bits have no letter
    assert (BAFlags.K | BAFlags.R).letters() == "KR"
    assert BAFlags.from_letters("K") == BAFlags.K
    with pytest.raises(LocalProtocolError):
        BUFlags.from_letters("AX")


@pytest.mark.req("W-03", "W-11")
def test_W03_W11_R_flag_and_reserved_bits_are_preserved() -> None:
    b = raw("bu_nemo_reserved")
    _, mh = mh_of(b)
    assert mh[8:10] == b"\xc7\x05"  # A|H|R|P and reserved bits 0x0105
    bu = decode(b).payload
    assert isinstance(bu, BindingUpdate)
    assert BUFlags.R in bu.flags and int(bu.flags) == 0xC705
    assert bu.lifetime == 262140 and bu.sequence == 0xFFFF
    assert decode(b).encode() == b


@pytest.mark.req("W-03")
@pytest.mark.parametrize("lifetime", [1, 2, 3, 401, -4, 262144])
def test_W03_lifetime_must_be_a_multiple_of_4_that_fits(lifetime: int) -> None:
    with pytest.raises(EncodeError, match="lifetime"):
        BindingUpdate(1, BUFlags.A, lifetime).encode_payload(A_RCOA.packed, A_MAP.packed)
    with pytest.raises(EncodeError, match="lifetime"):
        BindingAcknowledgement(0, BAFlags(0), 1, lifetime).encode_payload(A_MAP.packed,
                                                                          A_RCOA.packed)


@pytest.mark.req("W-03")
@pytest.mark.parametrize("bad", [BindingUpdate(-1, BUFlags.A, 4), BindingUpdate(1 << 16, BUFlags.A, 4),
                                 BindingUpdate(1, BUFlags(1 << 16), 4)])
def test_W03_out_of_range_fields_raise_encode_error(bad: BindingUpdate) -> None:
    with pytest.raises(EncodeError):
        bad.encode_payload(A_RCOA.packed, A_MAP.packed)


# --------------------------------------------------------------------------------------------
# W-04: the other messages and the status codes


@pytest.mark.req("W-04")
def test_W04_every_rfc_status_code_is_named() -> None:
    # RFC 6275 §6.1.8 (= RFC 3775), plus RFC 3963 §4.2 for the NEMO R flag.
    assert {s.value: s.name for s in BAStatus} == {
        0: "ACCEPTED",
        1: "ACCEPTED_PREFIX_DISCOVERY_NECESSARY",
        128: "REASON_UNSPECIFIED",
        129: "ADMINISTRATIVELY_PROHIBITED",
        130: "INSUFFICIENT_RESOURCES",
        131: "HOME_REGISTRATION_NOT_SUPPORTED",
        132: "NOT_HOME_SUBNET",
        133: "NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE",
        134: "DUPLICATE_ADDRESS_DETECTION_FAILED",
        135: "SEQUENCE_NUMBER_OUT_OF_WINDOW",
        136: "EXPIRED_HOME_NONCE_INDEX",
        137: "EXPIRED_CARE_OF_NONCE_INDEX",
        138: "EXPIRED_NONCES",
        139: "REGISTRATION_TYPE_CHANGE_DISALLOWED",
        140: "MOBILE_ROUTER_OPERATION_NOT_PERMITTED",
        141: "INVALID_PREFIX",
        142: "NOT_AUTHORIZED_FOR_PREFIX",
        143: "FORWARDING_SETUP_FAILED",
    }
    assert {s.value: s.name for s in BEStatus} == {
        1: "UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION", 2: "UNRECOGNIZED_MH_TYPE"}
    # 8-10, 14, 15: RFC 5568 / RFC 4068 (FMIPv6), decoded by hmipv6.wire.fmipv6.
    assert [int(t) for t in MHType] == [*range(11), 14, 15]


@pytest.mark.req("W-04")
@pytest.mark.parametrize("status", [0, 1, *range(128, 144)])
def test_W04_each_status_decodes_to_its_name(status: int) -> None:
    ba = BindingAcknowledgement(status, BAFlags(0), 1, 4)
    p = decode(IPv6Packet(A_MAP, A_LCOA, ba, rh2(RCOA)).encode()).payload
    assert isinstance(p, BindingAcknowledgement)
    assert type(p.status) is BAStatus and p.status == status
    assert p.accepted == (status < 128)


@pytest.mark.req("W-04")
def test_W04_unknown_status_keeps_its_int() -> None:
    p = decode(raw("ba_odd_header")).payload
    assert isinstance(p, BindingAcknowledgement)
    assert p.status == 200 and type(p.status) is int and not p.accepted
    be = decode(IPv6Packet(A_CN, A_RCOA, BindingError(77, A_HOA)).encode()).payload
    assert isinstance(be, BindingError) and be.status == 77 and type(be.status) is int


@pytest.mark.req("W-04")
def test_W04_binding_acknowledgement_bytes() -> None:
    off, mh = mh_of(raw("ba_home_bra"))
    assert off == 64  # after the Type 2 routing header
    assert mh[2] == MHType.BA
    assert mh[6] == 1  # status
    assert mh[7] == 0x80  # K
    assert mh[8:10] == b"\x00\x02"  # sequence
    assert mh[10:12] == (600 // 4).to_bytes(2, "big")
    _, rej = mh_of(raw("ba_rejected"))
    assert rej[6] == 135 and rej[7] == 0x31  # P flag plus reserved bits, kept


@pytest.mark.req("W-04")
def test_W04_brr_hoti_coti_hot_cot_be_layouts() -> None:
    _, brr = mh_of(raw("brr"))
    assert brr == bytes((59, 0, 0, 0)) + brr[4:6] + b"\0\0"  # 8 octets, Header Len 0
    _, hoti = mh_of(raw("hoti"))
    assert hoti[1:3] == b"\x01\x01" and hoti[6:8] == b"\0\0" and hoti[8:16] == COOKIE_H
    _, coti = mh_of(raw("coti"))
    assert coti[1:3] == b"\x01\x02" and coti[8:16] == COOKIE_C
    _, hot = mh_of(raw("hot"))
    assert hot[1:3] == b"\x02\x03" and hot[6:8] == b"\x12\x34"
    assert hot[8:16] == COOKIE_H and hot[16:24] == b"HKTOKEN!"
    _, cot = mh_of(raw("cot"))
    assert cot[1:3] == b"\x02\x04" and cot[6:8] == b"\x43\x21"
    assert cot[8:16] == COOKIE_C and cot[16:24] == b"CKTOKEN!"
    _, be = mh_of(raw("be_hao"))
    assert be[1:3] == b"\x02\x07" and be[6] == 1 and be[7] == 0 and be[8:24] == A_HOA.packed


@pytest.mark.req("W-04")
@pytest.mark.parametrize("bad", [HomeTestInit(b"short"), CareOfTestInit(b"123456789"),
                                 HomeTest(1, COOKIE_H, b"7octets"), CareOfTest(1, b"", COOKIE_C),
                                 HomeTest(1 << 16, COOKIE_H, COOKIE_C)])
def test_W04_cookies_and_tokens_are_8_octets(bad: MobilityMessage) -> None:
    with pytest.raises(EncodeError):
        bad.encode_payload(A_HOA.packed, A_CN.packed)


@pytest.mark.req("W-04")
def test_W04_unknown_mh_type_is_kept_raw() -> None:
    # RFC 6275 §9.2: the engine answers it with a Binding Error, status 2; the codec decodes.
    p = decode(raw("unknown_type")).payload
    assert p == UnknownMobilityMessage(42, bytes(range(10)))
    for t in (11, 16, 255):  # 8-10, 14, 15 are FMIPv6's (hmipv6.wire.fmipv6)
        m = UnknownMobilityMessage(int(t), b"\0" * 10)
        assert decode(IPv6Packet(A_LCOA, A_MAP, m).encode()).payload == m
    with pytest.raises(EncodeError, match="multiple of 8"):
        UnknownMobilityMessage(42, b"\0" * 3).encode_payload(A_LCOA.packed, A_MAP.packed)


@pytest.mark.req("W-04", "W-11")
def test_W04_payload_proto_and_reserved_octet_are_kept() -> None:
    # RFC 6275 §9.2: a receiver MUST discard a message whose Payload Proto is not 59 (and SHOULD
    # send a Parameter Problem); that is the engine's decision, so the codec keeps the value.
    b = raw("ba_odd_header")
    _, mh = mh_of(b)
    assert mh[0] == 6 and mh[3] == 0xAA
    p = decode(b).payload
    assert isinstance(p, BindingAcknowledgement)
    assert p.payload_proto == 6 and p.header_reserved == 0xAA
    assert decode(b).encode() == b


# --------------------------------------------------------------------------------------------
# W-05: options and alignment (offsets are from the start of the Mobility Header)


@pytest.mark.req("W-05")
def test_W05_alternate_care_of_address_is_8n_plus_6() -> None:
    _, mh = mh_of(raw("bu_home_altcoa"))
    assert mh[12:14] == b"\x01\x00"  # PadN of 2
    assert mh[14:16] == b"\x03\x10" and 14 % 8 == 6
    assert mh[16:32] == A_RCOA.packed and len(mh) == 32


@pytest.mark.req("W-05")
def test_W05_nonce_indices_2n_and_authorization_data_8n_plus_2() -> None:
    _, mh = mh_of(raw("bu_cn_rr"))
    assert mh[12:18] == b"\x04\x04\x00\x05\x00\x06" and 12 % 2 == 0
    assert mh[18:20] == b"\x05\x0c" and 18 % 8 == 2
    assert mh[20:32] == AUTH and len(mh) == 32
    _, alone = mh_of(raw("bu_bad_only"))
    assert alone[12:18] == b"\x01\x04\0\0\0\0"  # PadN of 6 to reach 8n+2
    assert alone[18:20] == b"\x05\x0c"


@pytest.mark.req("W-05")
def test_W05_binding_refresh_advice_in_4_second_units() -> None:
    _, mh = mh_of(raw("ba_home_bra"))
    assert mh[12:16] == b"\x02\x02" + (300 // 4).to_bytes(2, "big")
    _, mh2 = mh_of(raw("ba_bra_altcoa"))
    assert mh2[12:16] == b"\x02\x02\x00\x01"
    assert mh2[16:22] == b"\x01\x04\0\0\0\0" and mh2[22:24] == b"\x03\x10" and 22 % 8 == 6
    with pytest.raises(EncodeError, match="refresh_interval"):
        BindingAcknowledgement(0, BAFlags.K, 1, 4, (BindingRefreshAdvice(6),)).encode_payload(
            A_HA.packed, A_HOA.packed)


@pytest.mark.req("W-05")
def test_W05_pad1_when_one_octet_is_needed() -> None:
    # BRR options start at offset 8; an unknown option of 5 octets leaves 1 to pad: Pad1.
    b = BindingRefreshRequest((UnknownMobilityOption(99, b"abc"),)).encode_payload(
        A_HA.packed, A_RCOA.packed)
    assert b[8:13] == b"\x63\x03abc" and b[13:16] == b"\x01\x01\x00"
    b = BindingRefreshRequest((UnknownMobilityOption(99, b"abcd"),)).encode_payload(
        A_HA.packed, A_RCOA.packed)
    assert b[14:16] == b"\x01\x00"
    b = BindingRefreshRequest((UnknownMobilityOption(99, b"abcde"),)).encode_payload(
        A_HA.packed, A_RCOA.packed)
    assert b[15:16] == b"\x00" and len(b) == 16


@pytest.mark.req("W-05")
def test_W05_authenticator_of_other_lengths_is_kept() -> None:
    for n in (0, 1, 12, 20, 255):
        bu = BindingUpdate(1, BUFlags(0), 4, (BindingAuthorizationData(b"\x42" * n),))
        assert decode(IPv6Packet(A_RCOA, A_CN, bu, hao(HOA)).encode()).payload == bu


@pytest.mark.req("W-05", "W-11")
def test_W05_W11_explicit_padding_round_trips() -> None:
    b = raw("explicit_pad1")
    p = decode(b).payload
    assert isinstance(p, BindingUpdate) and p.options == (Pad1(), Pad1(), Pad1(), Pad1())
    # Non-zero PadN data is kept (RFC 6275 §6.2.3: the receiver MUST ignore it).
    bu = BindingUpdate(1, BUFlags.A, 4, (PadN(b"\x01\x02"),))
    packet = IPv6Packet(A_LCOA, A_MAP, bu, hao(RCOA))
    assert decode(packet.encode()).payload == bu
    # Padding that is exactly what the encoder inserts is dropped from the decoded value.
    canonical = BindingUpdate(1, BUFlags.A, 4, (PadN(b"\0\0"),))
    assert decode(IPv6Packet(A_LCOA, A_MAP, canonical, hao(RCOA)).encode()).payload == \
        BindingUpdate(1, BUFlags.A, 4)


@pytest.mark.req("W-05", "W-11")
def test_W05_W11_misaligned_option_without_padding_is_kept_raw() -> None:
    # BU options start at 12; an Alternate CoA there (not 8n+6) followed by a 2-octet unknown
    # option fills 32 octets with no padding: no typed value encodes to it, so it stays raw.
    body = (struct.pack("!HHH", 1, 0x8000, 1) + b"\x03\x10" + A_LCOA.packed + b"\xc8\x00")
    mh = bytes((59, 3, 5, 0, 0, 0)) + body
    c = mh_checksum(RCOA, MAP, mh)
    mh = mh[:4] + c.to_bytes(2, "big") + mh[6:]
    p = decode_payload(135, mh, A_RCOA.packed, A_MAP.packed)
    assert isinstance(p, BindingUpdate)
    assert p.options == (UnknownMobilityOption(3, A_LCOA.packed), UnknownMobilityOption(200, b""))
    assert p.encode_payload(A_RCOA.packed, A_MAP.packed) == mh
    # With padding present the same option decodes typed and is written back as listed.
    body2 = struct.pack("!HHH", 1, 0x8000, 1) + b"\x03\x10" + A_LCOA.packed + b"\x01\x00"
    mh2 = bytes((59, 3, 5, 0, 0, 0)) + body2
    mh2 = mh2[:4] + mh_checksum(RCOA, MAP, mh2).to_bytes(2, "big") + mh2[6:]
    p2 = decode_payload(135, mh2, A_RCOA.packed, A_MAP.packed)
    assert isinstance(p2, BindingUpdate)
    assert p2.options == (AlternateCareOfAddress(A_LCOA), PadN(b""))
    assert p2.encode_payload(A_RCOA.packed, A_MAP.packed) == mh2


# --------------------------------------------------------------------------------------------
# W-07: the checksum uses the effective addresses


@pytest.mark.req("W-07")
@pytest.mark.parametrize("name", sorted(VALUES))
def test_W07_checksum_matches_an_independent_computation(name: str) -> None:
    b = raw(name)
    p = VALUES[name]
    _, mh = mh_of(b)
    want = mh_checksum(p.effective_src, p.effective_dst, mh)
    assert int.from_bytes(mh[4:6], "big") == want


@pytest.mark.req("W-07")
def test_W07_bu_checksum_uses_home_address_option_not_ipv6_source() -> None:
    _, mh = mh_of(raw("bu_local"))
    got = int.from_bytes(mh[4:6], "big")
    assert got == mh_checksum(RCOA, MAP, mh)  # HAO = RCoA as the pseudo-header source
    assert got != mh_checksum(LCOA, MAP, mh)  # not the care-of address in the IPv6 header


@pytest.mark.req("W-07")
def test_W07_ba_checksum_uses_type_2_routing_header_address() -> None:
    _, mh = mh_of(raw("ba_local"))
    got = int.from_bytes(mh[4:6], "big")
    assert got == mh_checksum(MAP, RCOA, mh)  # RH2 = RCoA as the pseudo-header destination
    assert got != mh_checksum(MAP, LCOA, mh)


@pytest.mark.req("W-07", "W-10")
def test_W07_W10_bad_checksum_raises_checksum_error_at_its_offset() -> None:
    b = bytearray(raw("bu_local"))
    b[68] ^= 0x01  # the checksum field: 40 (IPv6) + 24 (Destination Options) + 4
    with pytest.raises(ChecksumError) as e:
        decode(bytes(b))
    assert e.value.field == "mobility.checksum" and e.value.offset == 68
    p = decode(bytes(b), verify=False)
    assert isinstance(p.payload, BindingUpdate) and p.payload.sequence == 1
    b = bytearray(raw("ba_local"))
    b[75] ^= 0xFF  # the lifetime
    with pytest.raises(ChecksumError) as e:
        decode(bytes(b))
    assert e.value.offset == 68
    # Swapping the HAO for another address breaks the checksum too (it is covered).
    c = bytearray(raw("bu_local"))
    c[63] ^= 0x01
    with pytest.raises(ChecksumError):
        decode(bytes(c))


# --------------------------------------------------------------------------------------------
# W-10: errors name the field and the absolute offset


def fixed(mh: bytes, src: str = LCOA, dst: str = MAP) -> bytes:
    """``mh`` with Header Len left as given and a correct checksum."""
    return mh[:4] + mh_checksum(src, dst, mh).to_bytes(2, "big") + mh[6:]


def err(mh: bytes, src: str = LCOA, dst: str = MAP) -> DecodeError:
    """The error decoding ``mh`` inside a packet (so offsets are absolute)."""
    packet = IPv6Packet(addr(src), addr(dst)).encode()
    head = packet[:4] + len(mh).to_bytes(2, "big") + bytes((135,)) + packet[7:]
    with pytest.raises(DecodeError) as e:
        decode(head + mh)
    return e.value


@pytest.mark.req("W-10")
def test_W10_header_shorter_than_8_octets() -> None:
    e = err(bytes((59, 0, 5, 0, 0)))
    assert e.field == "mobility" and e.offset == 40


@pytest.mark.req("W-10")
def test_W10_header_len_disagrees_with_payload() -> None:
    _, mh = mh_of(raw("bu_local"))
    e = err(mh[:8] + b"\0" * 16)  # Header Len 1 says 16 octets, 24 present
    assert e.field == "mobility.header_len" and e.offset == 41
    e = err(mh[:8])  # truncated: 8 of 16
    assert e.field == "mobility.header_len" and e.offset == 41


@pytest.mark.req("W-10")
@pytest.mark.parametrize("mh_type,needed", [(1, 16), (2, 16), (3, 24), (4, 24), (5, 16), (6, 16),
                                            (7, 24)])
def test_W10_header_len_too_small_for_the_type(mh_type: int, needed: int) -> None:
    # RFC 6275 §9.2: Header Len below the type's minimum MUST make the node discard it.
    mh = fixed(bytes((59, needed // 8 - 2, mh_type, 0, 0, 0)) + b"\0" * (needed - 14))
    e = err(mh)
    assert e.field == "mobility.header_len" and e.offset == 41


@pytest.mark.req("W-10")
def test_W10_option_overruns_and_missing_length() -> None:
    head = struct.pack("!BBBBHHHH", 59, 1, 5, 0, 0, 1, 0x8000, 1)
    e = err(fixed(head + b"\xc8\x09\0\0"))  # option length 9 beyond the header's end
    assert e.field == "mobility.option.length" and e.offset == 40 + 13
    e = err(fixed(head + b"\0\0\0\xc8"))  # three Pad1, then a type with no length octet
    assert e.field == "mobility.option" and e.offset == 40 + 15


@pytest.mark.req("W-10")
@pytest.mark.parametrize("opt,field", [
    (b"\x03\x0e" + bytes(14), "mobility.option.alternate_care_of_address.length"),
    (b"\x04\x02\0\0", "mobility.option.nonce_indices.length"),
    (b"\x02\x04\0\0\0\0", "mobility.option.binding_refresh_advice.length"),
])
def test_W10_known_option_with_wrong_length(opt: bytes, field: str) -> None:
    head = struct.pack("!HHH", 1, 0x8000, 1)
    body = head + opt
    body += bytes((-(6 + len(body))) % 8)  # zeros are Pad1s: no overrun
    mh = fixed(bytes((59, (6 + len(body)) // 8 - 1, 5, 0, 0, 0)) + body)
    e = err(mh)
    assert e.field == field and e.offset == 40 + 12 + 1


@pytest.mark.req("W-10")
@pytest.mark.parametrize("name", sorted(PACKETS))
def test_W10_every_truncation_raises_decode_error(name: str) -> None:
    p = VALUES[name]
    _, mh = mh_of(raw(name))
    src, dst = p.effective_src.packed, p.effective_dst.packed
    for n in range(len(mh)):
        with pytest.raises(DecodeError) as e:
            decode_payload(135, mh[:n], src, dst)
        assert e.value.field.startswith("mobility") and 0 <= e.value.offset <= n


# --------------------------------------------------------------------------------------------
# W-11: hypothesis round trips for every message type

u16 = st.integers(0, 0xFFFF)
u8 = st.integers(0, 0xFF)
lifetimes = st.integers(0, 0xFFFF).map(lambda u: u * 4)
addrs = st.integers(0, (1 << 128) - 1).map(addr)
eight = st.binary(min_size=8, max_size=8)

FMIP_OPTIONS = {7, 21, 34}  # MH-LLA, BADF, MH IP Address/Prefix (RFC 5568 §11)
FMIP_TYPES = {8, 9, 10, 14, 15}  # FBU, FBack, FNA, HI, HAck (RFC 5568 §11, RFC 4068 §9)

options_st: st.SearchStrategy[MobilityOption] = st.one_of(
    lifetimes.map(BindingRefreshAdvice),
    addrs.map(AlternateCareOfAddress),
    st.builds(NonceIndices, u16, u16),
    st.binary(max_size=40).map(BindingAuthorizationData),
    # Unknown options with the codes of RFC 6275 (0..5) would decode as those options, and
    # those of RFC 5568 (7, 21, 34) as the classes of hmipv6.wire.fmipv6.
    st.builds(UnknownMobilityOption, st.integers(6, 255).filter(lambda t: t not in FMIP_OPTIONS),
              st.binary(max_size=30)),
)
opt_lists = st.lists(options_st, max_size=5).map(tuple)
padded_lists = st.lists(st.one_of(options_st, st.just(Pad1()), st.binary(max_size=6).map(PadN)),
                        max_size=6).map(tuple)

messages: st.SearchStrategy[MobilityMessage] = st.one_of(
    st.builds(BindingRefreshRequest, opt_lists, u16),
    st.builds(HomeTestInit, eight, opt_lists, u16),
    st.builds(CareOfTestInit, eight, opt_lists, u16),
    st.builds(HomeTest, u16, eight, eight, opt_lists),
    st.builds(CareOfTest, u16, eight, eight, opt_lists),
    st.builds(BindingUpdate, u16, u16.map(BUFlags), lifetimes, opt_lists),
    st.builds(BindingAcknowledgement, u8.map(lambda s: BAStatus(s) if s in BAStatus._value2member_map_
                                              else s),
              u8.map(BAFlags), u16, lifetimes, opt_lists),
    st.builds(BindingError, u8.map(lambda s: BEStatus(s) if s in (1, 2) else s), addrs, opt_lists, u8),
    st.builds(UnknownMobilityMessage, st.integers(8, 255).filter(lambda t: t not in FMIP_TYPES),
              st.integers(0, 12).flatmap(lambda k: st.binary(min_size=8 * k + 2, max_size=8 * k + 2))),
)


@pytest.mark.req("W-11")
@settings(max_examples=300)
@given(messages, st.booleans(), st.booleans(), u8, u8)
def test_W11_decode_of_encode_is_identity(m: MobilityMessage, with_hao: bool, with_rh2: bool,
                                          proto: int, hres: int) -> None:
    exts: tuple[DestinationOptions | RoutingHeaderType2, ...] = ()
    if with_rh2:
        exts += rh2(RCOA)
    if with_hao:
        exts += hao(HOA)
    p = IPv6Packet(A_CN, A_LCOA, m, exts)
    b = p.encode()
    assert decode(b) == p
    assert decode(b).encode() == b
    _, mh = mh_of(b)
    assert len(mh) % 8 == 0 and mh[1] == len(mh) // 8 - 1
    assert int.from_bytes(mh[4:6], "big") == mh_checksum(p.effective_src, p.effective_dst, mh)


@pytest.mark.req("W-11")
@settings(max_examples=300)
@given(st.sampled_from([0, 5, 6, 7]), padded_lists)
def test_W11_options_with_explicit_padding_round_trip(mh_type: int,
                                                      opts: tuple[MobilityOption, ...]) -> None:
    m: MobilityMessage
    if mh_type == 0:
        m = BindingRefreshRequest(opts)
    elif mh_type == 5:
        m = BindingUpdate(1, BUFlags.A, 4, opts)
    elif mh_type == 6:
        m = BindingAcknowledgement(0, BAFlags(0), 1, 4, opts)
    else:
        m = BindingError(1, A_HOA, opts)
    b = IPv6Packet(A_LCOA, A_MAP, m).encode()
    again = decode(b)
    assert again.encode() == b
    assert decode(again.encode()) == again


tlv = st.one_of(
    st.just(b"\0"),
    st.tuples(st.integers(1, 255), st.binary(max_size=20)).map(
        lambda t: bytes((t[0], len(t[1]))) + t[1]),
    st.tuples(st.sampled_from([2, 3, 4]), st.sampled_from([2, 4, 16])).map(
        lambda t: bytes((t[0], t[1])) + bytes(t[1])),
)


@pytest.mark.req("W-10", "W-11")
@settings(max_examples=500)
@given(st.integers(0, 12), st.binary(min_size=24, max_size=24), st.lists(tlv, max_size=6), u8, u8)
def test_W10_W11_any_mobility_header_decodes_exactly_or_raises(
        mh_type: int, fixed_part: bytes, tlvs: list[bytes], proto: int, hres: int) -> None:
    fixed_len = {0: 2, 1: 10, 2: 10, 3: 18, 4: 18, 5: 6, 6: 6, 7: 18}.get(mh_type, 2)
    body = fixed_part[:fixed_len] + b"".join(tlvs)
    body += bytes((-(6 + len(body))) % 8)  # zero octets are Pad1s
    mh = bytes((proto, (6 + len(body)) // 8 - 1, mh_type, hres, 0, 0)) + body
    if len(mh) > 2048:
        return
    mh = fixed(mh, RCOA, MAP)
    try:
        m = decode_payload(135, mh, A_RCOA.packed, A_MAP.packed)
    except DecodeError as e:
        assert e.field.startswith("mobility") and 0 <= e.offset < len(mh)
        return
    assert m is not None
    assert m.encode_payload(A_RCOA.packed, A_MAP.packed) == mh
