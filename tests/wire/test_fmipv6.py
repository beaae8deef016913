"""FH-01: the FMIPv6 messages and options of RFC 5568 §6 (and RFC 4068's FNA and type 18).

Golden packets (``vectors_fmipv6.py``) field by field against the RFC figures, every error
with its field and offset, encoder refusals, and hypothesis round trips (W-11) for every class.
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.errors import ChecksumError, DecodeError, EncodeError
from hmipv6.wire import (
    AlternateCareOfAddress,
    BAFlags,
    BindingUpdate,
    BUFlags,
    IPv6Packet,
    MapOption,
    NDOption,
    NeighborAdvertisement,
    PadN,
    PrefixInformation,
    RouterAdvertisement,
    TargetLinkLayerAddress,
    UnknownMobilityOption,
    UnknownNDOption,
    addr,
    decode,
)
from hmipv6.wire import checksum as ck
from hmipv6.wire.fmipv6 import (
    BindingAuthorizationDataFMIPv6,
    FastBindingAcknowledgement,
    FastBindingUpdate,
    FastNeighborAdvertisement,
    FBackStatus,
    HAckCode,
    HandoverAcknowledge,
    HandoverInitiate,
    HICode,
    IPAddressOptionCode,
    IPAddressPrefixOption,
    LinkLayerAddressOption,
    LLAOptionCode,
    MobilityHeaderIPAddressPrefix,
    MobilityHeaderLinkLayerAddress,
    NAACKStatus,
    NeighborAdvertisementAcknowledgement,
    NewRouterPrefixInformation,
    ProxyRouterAdvertisement,
    PrRtAdvCode,
    RouterSolicitationForProxyAdvertisement,
    UnknownFMIPv6,
    is_unsolicited_neighbor_advertisement,
    unsolicited_neighbor_advertisement,
)
from hmipv6.wire.mobility import MobilityOption
from tests.wire import vectors_fmipv6 as V

MAP = addr(V.MAP)
PAR_LL = addr(V.PAR_LL)
PAR = addr(V.PAR)
NAR = addr(V.NAR)
NAR_LL = addr(V.NAR_LL)
PCOA = addr(V.PCOA)
NCOA = addr(V.NCOA)
ALL_NODES = addr("ff02::1")
MN_MAC = bytes.fromhex(V.MN_MAC)
AP_MAC = bytes.fromhex(V.AP_MAC)
PAR_MAC = bytes.fromhex(V.PAR_MAC)
NAR_MAC = bytes.fromhex(V.NAR_MAC)
AUTH = bytes(range(0xA0, 0xAC))  # 96 bits, as HMAC-SHA1-96 (RFC 5568 §6.4.5)
MAP_OPT = MapOption(1, 10, False, 3600, MAP)


def lla(code: int, mac: bytes) -> LinkLayerAddressOption:
    return LinkLayerAddressOption.padded(code, mac)


VALUES: dict[str, IPv6Packet] = {
    "rtsolpr": IPv6Packet(PCOA, PAR_LL, RouterSolicitationForProxyAdvertisement(
        0x1234, (lla(LLAOptionCode.SOURCE, MN_MAC), lla(LLAOptionCode.NEW_ACCESS_POINT, AP_MAC))),
        hop_limit=255),
    "rtsolpr_wildcard": IPv6Packet(PCOA, PAR_LL, RouterSolicitationForProxyAdvertisement(
        0xBEEF, (lla(LLAOptionCode.WILDCARD, b""),), reserved=0x5A), hop_limit=255),
    "prrtadv_map": IPv6Packet(PAR_LL, PCOA, ProxyRouterAdvertisement(
        PrRtAdvCode.NEW_ROUTER_INFO, 0x1234,
        (lla(LLAOptionCode.SOURCE, PAR_MAC), lla(LLAOptionCode.NEW_ACCESS_POINT, AP_MAC),
         lla(LLAOptionCode.NAR, NAR_MAC),
         IPAddressPrefixOption(IPAddressOptionCode.NAR_IP_ADDRESS, 128, NAR),
         IPAddressPrefixOption(IPAddressOptionCode.NAR_PREFIX, 64, addr(V.NAR_PREFIX)),
         MAP_OPT)), hop_limit=255),
    "prrtadv_unsolicited_ncoa": IPv6Packet(PAR_LL, PCOA, ProxyRouterAdvertisement(
        PrRtAdvCode.UNSOLICITED_HANDOVER_TRIGGER, 0,
        (lla(LLAOptionCode.NEW_ACCESS_POINT, AP_MAC), lla(LLAOptionCode.NAR, NAR_MAC),
         IPAddressPrefixOption(IPAddressOptionCode.NAR_IP_ADDRESS, 128, NAR),
         PrefixInformation(64, True, True, False, 86400, 14400, addr(V.NAR_PREFIX)),
         IPAddressPrefixOption(IPAddressOptionCode.NEW_CARE_OF_ADDRESS, 128, NCOA),
         MapOption(2, 7, True, 1800, MAP))), hop_limit=255),
    "prrtadv_no_fast_handover": IPv6Packet(PAR_LL, PCOA, ProxyRouterAdvertisement(
        PrRtAdvCode.NO_NEW_ROUTER_INFO, 0x0042,
        (lla(LLAOptionCode.NO_FAST_HANDOVER_SUPPORT, AP_MAC),)), hop_limit=255),
    "prrtadv_rfc4068_nrpi": IPv6Packet(PAR_LL, PCOA, ProxyRouterAdvertisement(
        0, 0x0043, (lla(LLAOptionCode.NAR, NAR_MAC),
                    IPAddressPrefixOption(IPAddressOptionCode.NAR_IP_ADDRESS, 64, NAR),
                    NewRouterPrefixInformation(64, addr(V.NAR_PREFIX)), MAP_OPT)),
        hop_limit=255),
    "icmp_hi_rfc4068": IPv6Packet(PAR, NAR, UnknownFMIPv6(
        4, 0, b"\xc0\x00\x77" + IPAddressPrefixOption(1, 128, PCOA).encode_option()),
        hop_limit=255),
    "una": IPv6Packet(NCOA, ALL_NODES, unsolicited_neighbor_advertisement(NCOA, MN_MAC),
                      hop_limit=255),
    "ra_naack_new_coa": IPv6Packet(NAR_LL, NCOA, RouterAdvertisement(
        64, router_lifetime=1800, options=(NeighborAdvertisementAcknowledgement(
            NAACKStatus.NCOA_INVALID_USE_SUPPLIED, addr("2001:db8:b::77")),)), hop_limit=255),
    "ra_naack_lla_unrecognized": IPv6Packet(NAR_LL, NCOA, RouterAdvertisement(
        64, router_lifetime=1800, options=(NeighborAdvertisementAcknowledgement(
            NAACKStatus.LLA_UNRECOGNIZED),)), hop_limit=255),
    "fbu_par_link": IPv6Packet(PCOA, MAP, FastBindingUpdate(
        0x0101, BUFlags.A | BUFlags.H, 40,
        (AlternateCareOfAddress(NCOA), MobilityHeaderLinkLayerAddress(LLAOptionCode.MOBILE_NODE,
                                                                      MN_MAC),
         BindingAuthorizationDataFMIPv6(0x100, AUTH)))),
    "fbu_nar_link": IPv6Packet(NCOA, MAP, FastBindingUpdate(
        0x0102, BUFlags.A | BUFlags.H | BUFlags.K, 8,
        (BindingAuthorizationDataFMIPv6(0, AUTH),))),
    "fback": IPv6Packet(MAP, NCOA, FastBindingAcknowledgement(
        FBackStatus.ACCEPTED, BAFlags(0), 0x0101, 40, (BindingAuthorizationDataFMIPv6(0x100, AUTH),))),
    "fback_ncoa_invalid": IPv6Packet(MAP, PCOA, FastBindingAcknowledgement(
        FBackStatus.ACCEPTED_NCOA_INVALID, BAFlags.K, 0x0101, 20,
        (AlternateCareOfAddress(addr("2001:db8:b::77")),
         BindingAuthorizationDataFMIPv6(0x100, AUTH)))),
    "hi": IPv6Packet(MAP, NAR, HandoverInitiate(
        0x0A0B, HICode.FBU_FROM_PCOA, True, True,
        (MobilityHeaderLinkLayerAddress(LLAOptionCode.MOBILE_NODE, MN_MAC),
         MobilityHeaderIPAddressPrefix(IPAddressOptionCode.OLD_CARE_OF_ADDRESS, 128, PCOA),
         MobilityHeaderIPAddressPrefix(IPAddressOptionCode.NEW_CARE_OF_ADDRESS, 128, NCOA)))),
    "hi_reactive": IPv6Packet(MAP, NAR, HandoverInitiate(
        0x0A0C, HICode.FBU_NOT_FROM_PCOA, False, False,
        (MobilityHeaderLinkLayerAddress(LLAOptionCode.MOBILE_NODE, MN_MAC),
         MobilityHeaderIPAddressPrefix(IPAddressOptionCode.OLD_CARE_OF_ADDRESS, 128, PCOA)))),
    "hack": IPv6Packet(NAR, MAP, HandoverAcknowledge(
        0x0A0B, HAckCode.ACCEPTED_NCOA_ASSIGNED,
        (MobilityHeaderIPAddressPrefix(IPAddressOptionCode.NEW_CARE_OF_ADDRESS, 128,
                                       addr("2001:db8:b::77")),))),
    "hack_refused": IPv6Packet(NAR, MAP, HandoverAcknowledge(
        0x0A0D, HAckCode.INSUFFICIENT_RESOURCES)),
    "fna": IPv6Packet(NCOA, NAR, FastNeighborAdvertisement(
        (MobilityHeaderLinkLayerAddress(LLAOptionCode.MOBILE_NODE, MN_MAC),))),
}


def raw(name: str) -> bytes:
    return bytes.fromhex(V.PACKETS[name])


def icmp_of(b: bytes) -> bytes:
    assert b[6] == 58
    return b[40:]


def mh_of(b: bytes) -> bytes:
    assert b[6] == 135
    return b[40:]


def u16(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 2], "big")


def with_payload(b: bytes, payload: bytes, checksum_at: int | None) -> bytes:
    """``b``'s IPv6 header around ``payload`` (Payload Length and, if ``checksum_at`` is an
    offset inside it, the upper-layer checksum recomputed)."""
    body = bytearray(payload)
    if checksum_at is not None and len(body) >= checksum_at + 2:
        body[checksum_at : checksum_at + 2] = b"\0\0"
        c = ck.checksum(b[8:24], b[24:40], b[6], bytes(body))
        body[checksum_at : checksum_at + 2] = c.to_bytes(2, "big")
    return b[:4] + len(body).to_bytes(2, "big") + b[6:40] + bytes(body)


def fixed(b: bytes) -> bytes:
    """``b`` with its Payload Length and checksum made right again after an edit."""
    return with_payload(b, b[40:], 2 if b[6] == 58 else 4)


def edit(name: str, at: int, value: int) -> bytes:
    b = bytearray(raw(name))
    b[at] = value
    return fixed(bytes(b))


# --------------------------------------------------------------------------------------------
# Golden vectors


@pytest.mark.req("FH-01", "W-11")
@pytest.mark.parametrize("name", sorted(VALUES))
def test_FH01_golden_packet_encodes_and_decodes(name: str) -> None:
    assert VALUES[name].encode() == raw(name)
    assert decode(raw(name)) == VALUES[name]
    assert sorted(VALUES) == sorted(V.PACKETS)


@pytest.mark.req("FH-01")
def test_FH01_every_message_and_option_class_has_a_vector() -> None:
    payloads = {type(v.payload) for v in VALUES.values()}
    assert payloads >= {RouterSolicitationForProxyAdvertisement, ProxyRouterAdvertisement,
                        UnknownFMIPv6, NeighborAdvertisement, RouterAdvertisement,
                        FastBindingUpdate, FastBindingAcknowledgement, HandoverInitiate,
                        HandoverAcknowledge, FastNeighborAdvertisement}
    opts = {type(o) for v in VALUES.values() for o in getattr(v.payload, "options", ())}
    assert opts >= {LinkLayerAddressOption, IPAddressPrefixOption, NewRouterPrefixInformation,
                    NeighborAdvertisementAcknowledgement, MapOption, PrefixInformation,
                    TargetLinkLayerAddress, MobilityHeaderLinkLayerAddress,
                    MobilityHeaderIPAddressPrefix, BindingAuthorizationDataFMIPv6,
                    AlternateCareOfAddress}


# --------------------------------------------------------------------------------------------
# ICMPv6 type 154 (RFC 5568 §6.1) and the ND options (§6.4.1, §6.4.3, §6.4.6)


def _verify_icmp(b: bytes) -> None:
    assert b[7] == 255  # RFC 5568 §6.1.1-§6.1.2: Hop Limit 255
    assert ck.verify(b[8:24], b[24:40], 58, b[40:])


@pytest.mark.req("FH-01")
def test_FH01_rtsolpr_bytes() -> None:
    b = raw("rtsolpr")
    m = icmp_of(b)
    _verify_icmp(b)
    # Type 154, Code 0 | Subtype 2, Reserved, Identifier (RFC 5568 §6.1.1, Figure 4)
    assert (m[0], m[1], m[4], m[5], u16(m, 6)) == (154, 0, 2, 0, 0x1234)
    # LLA options (§6.4.3): Type 19, Length 2 (16 octets), Option-Code, LLA + 7 octets padding
    assert m[8:24] == bytes((19, 2, 4)) + MN_MAC + bytes(7)
    assert m[24:40] == bytes((19, 2, 1)) + AP_MAC + bytes(7)
    assert len(m) == 40
    p = decode(b).payload
    assert isinstance(p, RouterSolicitationForProxyAdvertisement)
    assert p.identifier == 0x1234 and p.options[0] == LinkLayerAddressOption(4, MN_MAC + bytes(7))
    assert p.options[1].option_code == LLAOptionCode.NEW_ACCESS_POINT  # type: ignore[attr-defined]


@pytest.mark.req("FH-01", "W-11")
def test_FH01_rtsolpr_wildcard_and_reserved_octet_kept() -> None:
    b = raw("rtsolpr_wildcard")
    m = icmp_of(b)
    assert (m[4], m[5], u16(m, 6)) == (2, 0x5A, 0xBEEF)
    assert m[8:16] == bytes((19, 1, 0)) + bytes(5)  # wildcard: Option-Code 0, Length 1
    p = decode(b).payload
    assert isinstance(p, RouterSolicitationForProxyAdvertisement) and p.reserved == 0x5A


@pytest.mark.req("FH-01")
def test_FH01_prrtadv_carries_the_map_option() -> None:
    b = raw("prrtadv_map")
    m = icmp_of(b)
    _verify_icmp(b)
    assert (m[0], m[1], m[4], u16(m, 6)) == (154, 0, 3, 0x1234)
    assert m[8:11] == bytes((19, 2, 4)) and m[11:17] == PAR_MAC
    assert m[40:43] == bytes((19, 2, 3)) and m[43:49] == NAR_MAC
    # IP Address/Prefix option (§6.4.1): 17, Length 3, Option-Code 3, Prefix Length, Reserved
    assert m[56:80] == bytes((17, 3, 3, 128)) + bytes(4) + NAR.packed
    assert m[80:104] == bytes((17, 3, 4, 64)) + bytes(4) + addr(V.NAR_PREFIX).packed
    # MAP option (RFC 4140 §5): 23, Length 3, Dist|Pref, R|reserved, Valid Lifetime, address
    assert m[104:128] == bytes((23, 3, 0x1A, 0)) + (3600).to_bytes(4, "big") + MAP.packed
    p = decode(b).payload
    assert isinstance(p, ProxyRouterAdvertisement)
    assert p.code == PrRtAdvCode.NEW_ROUTER_INFO and p.map_options == (MAP_OPT,)


@pytest.mark.req("FH-01")
def test_FH01_prrtadv_unsolicited_with_ncoa_and_prefix_information() -> None:
    b = raw("prrtadv_unsolicited_ncoa")
    m = icmp_of(b)
    _verify_icmp(b)
    assert (m[1], m[4], u16(m, 6)) == (1, 3, 0)  # Code 1: unsolicited handover trigger
    assert m[40:42] == bytes((17, 3)) and m[64:66] == bytes((3, 4))  # Prefix Information
    assert m[96:120] == bytes((17, 3, 2, 128)) + bytes(4) + NCOA.packed  # New CoA
    assert m[120:124] == bytes((23, 3, 0x27, 0x80))  # Dist 2, Pref 7, R
    p = decode(b).payload
    assert isinstance(p, ProxyRouterAdvertisement)
    assert p.map_options == (MapOption(2, 7, True, 1800, MAP),)


@pytest.mark.req("FH-01")
def test_FH01_prrtadv_code_2_and_lla_option_code_7() -> None:
    m = icmp_of(raw("prrtadv_no_fast_handover"))
    assert (m[1], m[4]) == (2, 3) and m[8:11] == bytes((19, 2, 7))
    p = decode(raw("prrtadv_no_fast_handover")).payload
    assert isinstance(p, ProxyRouterAdvertisement) and p.map_options == ()
    assert p.options == (LinkLayerAddressOption(LLAOptionCode.NO_FAST_HANDOVER_SUPPORT,
                                                AP_MAC + bytes(7)),)


@pytest.mark.req("FH-01")
def test_FH01_rfc4068_new_router_prefix_information_option() -> None:
    m = icmp_of(raw("prrtadv_rfc4068_nrpi"))
    # RFC 4068 §6.4.2: Type 18, Length 3, Option-Code 0, Prefix Length, Reserved, Prefix
    assert m[48:72] == bytes((18, 3, 0, 64)) + bytes(4) + addr(V.NAR_PREFIX).packed


@pytest.mark.req("FH-01", "W-04")
def test_FH01_rfc4068_icmp_hi_is_kept_raw() -> None:
    # RFC 4068 §6.2.1 sent HI as ICMPv6 154 Subtype 4; RFC 5568 §11 deprecates Subtypes 4/5.
    b = raw("icmp_hi_rfc4068")
    m = icmp_of(b)
    assert (m[0], m[4], m[5], u16(m, 6)) == (154, 4, 0xC0, 0x77)
    p = decode(b).payload
    assert p == UnknownFMIPv6(4, 0, m[5:])
    assert isinstance(p, UnknownFMIPv6) and p.subtype == 4


@pytest.mark.req("FH-01")
def test_FH01_una_is_a_neighbor_advertisement_with_r_s_o_clear() -> None:
    b = raw("una")
    m = icmp_of(b)
    _verify_icmp(b)
    assert b[24:40] == ALL_NODES.packed and b[8:24] == NCOA.packed
    assert m[0] == 136 and m[4:8] == bytes(4) and m[8:24] == NCOA.packed  # R=S=O=0 (§6.3)
    assert m[24:32] == bytes((2, 1)) + MN_MAC  # Target Link-Layer Address: the MN's LLA
    p = decode(b).payload
    assert is_unsolicited_neighbor_advertisement(p)
    assert not is_unsolicited_neighbor_advertisement(
        NeighborAdvertisement(NCOA, solicited=True, options=(TargetLinkLayerAddress(MN_MAC),)))
    assert not is_unsolicited_neighbor_advertisement(NeighborAdvertisement(NCOA))
    assert not is_unsolicited_neighbor_advertisement(RouterAdvertisement())


@pytest.mark.req("FH-01")
def test_FH01_naack_option_in_a_router_advertisement() -> None:
    m = icmp_of(raw("ra_naack_new_coa"))
    # RFC 5568 §6.4.6: 20, Length 3, Option-Code 0, Status 2, Reserved, the NCoA to use
    assert m[16:40] == bytes((20, 3, 0, 2)) + bytes(4) + addr("2001:db8:b::77").packed
    m = icmp_of(raw("ra_naack_lla_unrecognized"))
    assert m[16:24] == bytes((20, 1, 0, 128)) + bytes(4)
    p = decode(raw("ra_naack_lla_unrecognized")).payload
    assert isinstance(p, RouterAdvertisement)
    assert p.options == (NeighborAdvertisementAcknowledgement(NAACKStatus.LLA_UNRECOGNIZED),)


# --------------------------------------------------------------------------------------------
# Mobility Header messages (RFC 5568 §6.2) and options (§6.4.2, §6.4.4, §6.4.5)


def _verify_mh(b: bytes) -> bytes:
    mh = mh_of(b)
    assert len(mh) % 8 == 0 and mh[1] == len(mh) // 8 - 1 and mh[0] == 59
    assert ck.verify(b[8:24], b[24:40], 135, mh)
    return mh


@pytest.mark.req("FH-01")
def test_FH01_fbu_bytes_are_a_binding_update_with_mh_type_8() -> None:
    b = raw("fbu_par_link")
    mh = _verify_mh(b)
    assert mh[2] == 8
    # Sequence, A|H flags, Lifetime in 4-second units (as the BU, RFC 5568 §6.2.2)
    assert (u16(mh, 6), u16(mh, 8), u16(mh, 10)) == (0x0101, 0xC000, 10)
    assert mh[12:14] == b"\x01\x00"  # PadN: the Alternate CoA option wants 8n+6
    assert mh[14:32] == bytes((3, 16)) + NCOA.packed
    assert mh[32:41] == bytes((7, 7, 2)) + MN_MAC  # MH-LLA (§6.4.4): Length 7, no alignment
    assert mh[41:59] == bytes((21, 16)) + (0x100).to_bytes(4, "big") + AUTH  # BADF (§6.4.5)
    p = decode(b).payload
    assert isinstance(p, FastBindingUpdate) and p.lifetime == 40
    # The twin BU has the same octets but for the MH Type and the checksum.
    bu = IPv6Packet(PCOA, MAP, p.as_binding_update()).encode()
    assert bu[:42] + bu[43:44] + bu[46:] == b[:42] + b[43:44] + b[46:] and bu[42] == 5
    assert FastBindingUpdate.from_binding_update(p.as_binding_update()) == p
    assert isinstance(p.as_binding_update(), BindingUpdate)
    assert not isinstance(p, BindingUpdate)  # an engine never takes an FBU for a BU


@pytest.mark.req("FH-01")
def test_FH01_fbu_from_the_nar_link() -> None:
    mh = _verify_mh(raw("fbu_nar_link"))
    assert (mh[2], u16(mh, 8), u16(mh, 10)) == (8, 0xD000, 2)
    assert mh[12:14] == bytes((21, 16)) and mh[14:18] == bytes(4)  # SPI 0: SEND-based keys


@pytest.mark.req("FH-01")
def test_FH01_fback_bytes() -> None:
    mh = _verify_mh(raw("fback"))
    assert (mh[2], mh[6], mh[7], u16(mh, 8), u16(mh, 10)) == (9, 0, 0, 0x0101, 10)
    mh = _verify_mh(raw("fback_ncoa_invalid"))
    assert (mh[6], mh[7], u16(mh, 10)) == (1, 0x80, 5)  # Status 1, K
    assert mh[14:32] == bytes((3, 16)) + addr("2001:db8:b::77").packed
    p = decode(raw("fback_ncoa_invalid")).payload
    assert isinstance(p, FastBindingAcknowledgement) and p.accepted
    assert p.status == FBackStatus.ACCEPTED_NCOA_INVALID and p.flags == BAFlags.K
    assert not FastBindingAcknowledgement(FBackStatus.INSUFFICIENT_RESOURCES, BAFlags(0), 1,
                                          0).accepted


@pytest.mark.req("FH-01")
def test_FH01_hi_bytes() -> None:
    mh = _verify_mh(raw("hi"))
    # Sequence | S U Reserved | Code (RFC 5568 §6.2.1.1, Figure 6)
    assert (mh[2], u16(mh, 6), mh[8], mh[9]) == (14, 0x0A0B, 0xC0, 0)
    assert mh[10:19] == bytes((7, 7, 2)) + MN_MAC
    assert mh[19] == 0  # Pad1: the MH IP Address/Prefix option wants 8n+4
    assert mh[20:40] == bytes((34, 18, 1, 128)) + PCOA.packed
    assert mh[40:44] == bytes((1, 2, 0, 0))
    assert mh[44:64] == bytes((34, 18, 2, 128)) + NCOA.packed
    mh = _verify_mh(raw("hi_reactive"))
    assert (mh[8], mh[9]) == (0, 1)
    p = decode(raw("hi_reactive")).payload
    assert isinstance(p, HandoverInitiate) and p.code == HICode.FBU_NOT_FROM_PCOA
    assert not p.assigned_address and not p.buffer


@pytest.mark.req("FH-01")
def test_FH01_hack_bytes() -> None:
    mh = _verify_mh(raw("hack"))
    # Sequence | Reserved | Code (RFC 5568 §6.2.1.2, Figure 7)
    assert (mh[2], u16(mh, 6), mh[8], mh[9]) == (15, 0x0A0B, 0, 2)
    assert mh[10:12] == b"\x01\x00" and mh[12:14] == bytes((34, 18))
    p = decode(raw("hack")).payload
    assert isinstance(p, HandoverAcknowledge) and p.accepted
    mh = _verify_mh(raw("hack_refused"))
    assert (mh[1], mh[9]) == (1, 130)
    p = decode(raw("hack_refused")).payload
    assert isinstance(p, HandoverAcknowledge) and not p.accepted and p.options == ()


@pytest.mark.req("FH-01")
def test_FH01_fna_bytes() -> None:
    mh = _verify_mh(raw("fna"))
    assert (mh[2], u16(mh, 6)) == (10, 0) and mh[8:17] == bytes((7, 7, 2)) + MN_MAC


@pytest.mark.req("FH-01", "W-11")
def test_FH01_rfc4068_mh_lla_with_pad0_round_trips_as_rfc5568_layout() -> None:
    # RFC 4068 §6.4.4 put a Pad0 octet after the Option-Code (Length still counts it).
    opt = UnknownMobilityOption(7, bytes((2, 0)) + MN_MAC)
    b = IPv6Packet(NCOA, NAR, FastNeighborAdvertisement((opt,))).encode()
    p = decode(b).payload
    assert isinstance(p, FastNeighborAdvertisement)
    assert p.options == (MobilityHeaderLinkLayerAddress(2, b"\0" + MN_MAC),)
    assert decode(b).encode() == b


# --------------------------------------------------------------------------------------------
# Decode errors: field and offset


@pytest.mark.req("FH-01", "W-10")
@pytest.mark.parametrize("name,at,value,field,offset", [
    ("prrtadv_map", 40 + 57, 2, "icmpv6.option.ip_address_prefix.length", 40 + 57),
    ("prrtadv_map", 40 + 57, 4, "icmpv6.option.ip_address_prefix.length", 40 + 57),
    ("prrtadv_rfc4068_nrpi", 40 + 49, 1, "icmpv6.option.new_router_prefix_information.length",
     40 + 49),
    ("ra_naack_new_coa", 40 + 17, 2, "icmpv6.option.naack.length", 40 + 17),
    ("rtsolpr", 40 + 9, 0, "icmpv6.option.length", 40 + 9),
    ("rtsolpr", 40 + 9, 5, "icmpv6.option.length", 40 + 9),
    ("fbu_par_link", 40 + 33, 0, "mobility.option.mh_link_layer_address.length", 40 + 33),
    ("fbu_par_link", 40 + 42, 3, "mobility.option.binding_authorization_data_fmipv6.length",
     40 + 42),
    ("hi", 40 + 21, 17, "mobility.option.mh_ip_address_prefix.length", 40 + 21),
    ("hack", 40 + 13, 16, "mobility.option.mh_ip_address_prefix.length", 40 + 13),
    ("hack", 40 + 13, 19, "mobility.option.length", 40 + 13),  # overruns the header
    ("fna", 40 + 9, 30, "mobility.option.length", 40 + 9),
])
def test_FH01_malformed_options_name_field_and_offset(name: str, at: int, value: int,
                                                       field: str, offset: int) -> None:
    with pytest.raises(DecodeError) as e:
        decode(edit(name, at, value))
    assert (e.value.field, e.value.offset) == (field, offset)


@pytest.mark.req("FH-01", "W-10")
@pytest.mark.parametrize("name", ["fbu_nar_link", "fback", "hi", "hack"])
def test_FH01_header_len_too_small_for_the_mh_type(name: str) -> None:
    b = raw(name)
    short = bytes((59, 0)) + b[42:44] + b"\0\0" + b[46:48]
    with pytest.raises(DecodeError) as e:
        decode(with_payload(b, short, 4))
    assert (e.value.field, e.value.offset) == ("mobility.header_len", 41)


@pytest.mark.req("FH-01", "W-10")
@pytest.mark.parametrize("n", [4, 5, 7])
def test_FH01_fmipv6_icmp_message_shorter_than_8_octets(n: int) -> None:
    b = raw("rtsolpr")
    with pytest.raises(DecodeError) as e:
        decode(with_payload(b, b[40 : 40 + n], 2))
    assert (e.value.field, e.value.offset) == ("icmpv6.fmipv6", 40)


@pytest.mark.req("FH-01", "W-10")
@pytest.mark.parametrize("name,field,offset", [("prrtadv_map", "icmpv6.checksum", 42),
                                               ("hi", "mobility.checksum", 44)])
def test_FH01_bad_checksum(name: str, field: str, offset: int) -> None:
    b = bytearray(raw(name))
    b[-1] ^= 0x01
    with pytest.raises(ChecksumError) as e:
        decode(bytes(b))
    assert (e.value.field, e.value.offset) == (field, offset)


# --------------------------------------------------------------------------------------------
# Encoder refusals


@pytest.mark.req("FH-01", "W-04")
@pytest.mark.parametrize("bad", [
    RouterSolicitationForProxyAdvertisement(1, (LinkLayerAddressOption(1, AP_MAC),)),
    RouterSolicitationForProxyAdvertisement(1, (LinkLayerAddressOption(256, bytes(5)),)),
    RouterSolicitationForProxyAdvertisement(1 << 16),
    ProxyRouterAdvertisement(0, 1, (IPAddressPrefixOption(3, 256, NAR),)),
    ProxyRouterAdvertisement(0, 1, (UnknownNDOption(19, bytes(6)),)),
    UnknownFMIPv6(3, 0, bytes(3)),
    UnknownFMIPv6(4, 0, bytes(2)),
    UnknownFMIPv6(4, 256, bytes(3)),
])
def test_FH01_icmp_encoder_refusals(bad: NDOption) -> None:
    with pytest.raises(EncodeError):
        IPv6Packet(PCOA, PAR_LL, bad).encode()  # type: ignore[arg-type]


@pytest.mark.req("FH-01", "W-04")
@pytest.mark.parametrize("bad", [
    FastBindingUpdate(1, BUFlags.A, 6),  # not a multiple of 4 seconds
    FastBindingUpdate(1 << 16, BUFlags.A, 4),
    FastBindingAcknowledgement(256, BAFlags(0), 1, 4),
    HandoverInitiate(1, 0, reserved=64),
    HandoverInitiate(1, 256),
    HandoverAcknowledge(1, 0, reserved=256),
    FastNeighborAdvertisement(reserved=1 << 16),
    FastNeighborAdvertisement((MobilityHeaderLinkLayerAddress(256, MN_MAC),)),
    FastNeighborAdvertisement((MobilityHeaderLinkLayerAddress(2, bytes(255)),)),
    FastBindingUpdate(1, BUFlags.A, 4, (BindingAuthorizationDataFMIPv6(1 << 32, AUTH),)),
    HandoverInitiate(1, 0, options=(MobilityHeaderIPAddressPrefix(1, 300, PCOA),)),
])
def test_FH01_mobility_encoder_refusals(bad: object) -> None:
    with pytest.raises(EncodeError):
        IPv6Packet(PCOA, MAP, bad).encode()  # type: ignore[arg-type]


def test_lla_padded_helper() -> None:
    assert LinkLayerAddressOption.padded(2, MN_MAC).lla == MN_MAC + bytes(7)
    assert LinkLayerAddressOption.padded(2, bytes(5)).encode_option() == bytes((19, 1, 2, 0, 0, 0,
                                                                                 0, 0))
    assert LinkLayerAddressOption.padded(2, bytes(8)).encode_option()[1] == 2
    assert isinstance(LinkLayerAddressOption.padded(200, b"").option_code, int)


# --------------------------------------------------------------------------------------------
# W-11: hypothesis round trips


u8 = st.integers(0, 0xFF)
u16s = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
addrs = st.integers(0, (1 << 128) - 1).map(IPv6Address)
lifetimes = u16s.map(lambda u: u * 4)

nd_options: st.SearchStrategy[NDOption] = st.one_of(
    st.builds(IPAddressPrefixOption, u8, u8, addrs, u32),
    st.builds(NewRouterPrefixInformation, u8, addrs, u8, u32),
    st.builds(LinkLayerAddressOption, u8, st.integers(0, 3).flatmap(
        lambda n: st.binary(min_size=8 * n + 5, max_size=8 * n + 5))),
    st.builds(NeighborAdvertisementAcknowledgement, u8, st.none() | addrs, u8, u32),
    st.builds(MapOption, st.integers(1, 15), st.integers(0, 15), st.booleans(), u32, addrs,
              st.integers(0, 127)),
)
nd_lists = st.lists(nd_options, max_size=5).map(tuple)

mh_options: st.SearchStrategy[MobilityOption] = st.one_of(
    st.builds(MobilityHeaderLinkLayerAddress, u8, st.binary(max_size=20)),
    st.builds(BindingAuthorizationDataFMIPv6, u32, st.binary(max_size=32)),
    st.builds(MobilityHeaderIPAddressPrefix, u8, u8, addrs),
    addrs.map(AlternateCareOfAddress),
    st.builds(UnknownMobilityOption, st.sampled_from([6, 8, 100, 255]), st.binary(max_size=9)),
)
mh_lists = st.lists(mh_options, max_size=5).map(tuple)
padded_mh_lists = st.lists(st.one_of(mh_options, st.binary(max_size=5).map(PadN)),
                           max_size=6).map(tuple)

messages: st.SearchStrategy[object] = st.one_of(
    st.builds(RouterSolicitationForProxyAdvertisement, u16s, nd_lists, u8, u8),
    st.builds(ProxyRouterAdvertisement, u8, u16s, nd_lists, u8),
    st.builds(UnknownFMIPv6, u8.filter(lambda s: s not in (2, 3)), u8,
              st.binary(min_size=3, max_size=40)),
    st.builds(RouterAdvertisement, options=nd_lists),
    st.builds(FastBindingUpdate, u16s, u16s.map(BUFlags), lifetimes, mh_lists, u8, u8),
    st.builds(FastBindingAcknowledgement, u8, u8.map(BAFlags), u16s, lifetimes, mh_lists, u8,
              u8),
    st.builds(HandoverInitiate, u16s, u8, st.booleans(), st.booleans(), mh_lists,
              st.integers(0, 63), u8, u8),
    st.builds(HandoverAcknowledge, u16s, u8, mh_lists, u8, u8, u8),
    st.builds(FastNeighborAdvertisement, mh_lists, u16s, u8, u8),
    st.builds(FastNeighborAdvertisement, padded_mh_lists),
    st.builds(HandoverInitiate, u16s, u8, options=padded_mh_lists),
)


@pytest.mark.req("FH-01", "W-11")
@settings(max_examples=400, deadline=None)
@given(messages)
def test_FH01_W11_decode_of_encode_is_identity(m: object) -> None:
    p = IPv6Packet(PCOA, NAR, m)  # type: ignore[arg-type]
    b = p.encode()
    again = decode(b)
    assert again.encode() == b
    if not any(isinstance(o, PadN) for o in getattr(m, "options", ())):
        assert again == p


@pytest.mark.req("FH-01", "W-10", "W-11")
def test_FH01_W10_every_mutation_of_every_vector_behind_a_fixed_checksum() -> None:
    # The shared fuzz harness mutates whole packets, so most mutants stop at the checksum;
    # here the checksum is recomputed so every mutant reaches the FMIPv6 decoders.
    from tests.wire.fuzzing import Outcome, check

    outcome = Outcome()
    for name in V.PACKETS:
        b = raw(name)
        at = 2 if b[6] == 58 else 4
        body = b[40:]
        for cut in range(len(body)):
            check(with_payload(b, body[:cut], at), outcome)
        for i in range(len(body)):
            for v in {body[i] ^ (1 << k) for k in range(8)} | {0, 1, 3, 255}:
                mutated = body[:i] + bytes((v,)) + body[i + 1 :]
                check(with_payload(b, mutated, at), outcome)
    assert outcome.decoded > 1000 and outcome.rejected > 1000, (outcome.decoded,
                                                                 outcome.rejected)


def test_registries_refuse_to_replace_built_in_types() -> None:
    from hmipv6.wire import mobility

    with pytest.raises(ValueError, match="built in"):
        mobility.register_message(5, lambda *a: FastNeighborAdvertisement())
    with pytest.raises(ValueError, match="built in"):
        mobility.register_option(type("Bad", (mobility.ExtensionMobilityOption,),
                                      {"option_type": 3}), lambda *a: MobilityHeaderLinkLayerAddress(2, b""))
