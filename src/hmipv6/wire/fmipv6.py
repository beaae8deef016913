"""Fast Handovers for Mobile IPv6 (FMIPv6): the messages and options of RFC 5568 §6.

Theory of operation
-------------------
FMIPv6 adds nothing to the IPv6 codec itself; it plugs into the registries of the two codecs
it extends, and importing this module (``hmipv6.wire`` does) installs every decoder:

- ICMPv6 type 154 ("FMIPv6 Messages", RFC 5568 §11), whose Subtype octet tells the message
  apart: RtSolPr (2) and PrRtAdv (3), both ``Type Code Checksum | Subtype Reserved Identifier |
  ND options`` (RFC 5568 §6.1.1-§6.1.2). One decoder is registered for type 154 with
  :func:`hmipv6.wire.icmpv6.register_message`; it dispatches on the Subtype, and a Subtype with
  no class (0, 1, the deprecated 4 and 5, anything newer) decodes to :class:`UnknownFMIPv6`,
  which keeps its octets raw.
- Neighbor Discovery options (RFC 5568 §6.4, RFC 4861 §4.6 framing, Length in 8-octet units):
  IP Address/Prefix (17), Link-Layer Address (LLA, 19), Neighbor Advertisement Acknowledgment
  (NAACK, 20), and RFC 4068's New Router Prefix Information (18), registered with
  :func:`hmipv6.wire.icmpv6.register_nd_option`. The MAP option (type 23, RFC 4140 §5) is the
  ICMPv6 module's own :class:`~hmipv6.wire.icmpv6.MapOption`; a PrRtAdv carries it among its
  options so that an MN learns the MAP of the new access router before it moves (RFC 4140
  Appendix A; see :attr:`ProxyRouterAdvertisement.map_options`).
- Mobility Header messages (RFC 6275 §6.1.1 framing and checksum): FBU (MH Type 8), FBack (9),
  HI (14), HAck (15) and RFC 4068's FNA (10), registered with
  :func:`hmipv6.wire.mobility.register_message`; and mobility options (Length in octets, RFC
  6275 §6.2 alignment and padding): MH Link-Layer Address (7), Binding Authorization Data for
  FMIPv6 (BADF, 21) and MH IP Address/Prefix (34), registered with
  :func:`hmipv6.wire.mobility.register_option`.
- UNA (RFC 5568 §6.3) is not a message of its own: it is a Neighbor Advertisement with R, S
  and O clear and a Target Link-Layer Address option; :func:`unsolicited_neighbor_advertisement`
  builds one and :func:`is_unsolicited_neighbor_advertisement` recognises one.

The rules are those of the codecs extended: frozen value classes, Length/Header Len/padding and
checksums derived by the encoder and never stored, reserved fields and unassigned code points
kept as integers, so decoding then encoding valid octets gives the same octets and encoding then
decoding a value gives the same value (W-11). A fixed-size option with a wrong Length, a NAACK
whose Length is neither 1 nor 3, a Mobility Header too short for its MH Type, an ICMPv6 type 154
message shorter than 8 octets: each raises :class:`~hmipv6.errors.DecodeError` naming the field
(``icmpv6.fmipv6...``, ``icmpv6.option.<name>.length``, ``mobility.header_len``,
``mobility.option.<name>.length``) and the absolute offset of the bad octet, and nothing else
is raised (W-10).

Profiles: RFC 5568 and RFC 4068
-------------------------------
RFC 5568 (the profile implemented) obsoletes RFC 4068, which RFC 4140 Appendix A cites as [5].
The differences that touch the wire:

- HI and HAck are ICMPv6 messages in RFC 4068 §6.2 (type 154 subtypes 4 and 5, ND options,
  an ``S|U`` flags octet in the Reserved field) but Mobility Header messages in RFC 5568
  §6.2.1 (MH Types 14 and 15, §11, with the Code in the message and mobility options). Subtypes
  4 and 5 are "deprecated but marked as unavailable" (RFC 5568 §11): they decode to
  :class:`UnknownFMIPv6`, kept raw.
- FNA (MH Type 10, RFC 4068 §6.3.3) is deprecated and replaced by UNA; RFC 5568 §8 lets a NAR
  still process it, so :class:`FastNeighborAdvertisement` decodes it.
- RFC 4068's New Router Prefix Information option (ND type 18) became the IP Address/Prefix
  option with Option-Code 4 in RFC 5568 §6.4.1; type 18 still decodes
  (:class:`NewRouterPrefixInformation`).
- The MH-LLA option (type 7) had a Pad0 octet after the Option-Code in RFC 4068 §6.4.4 (its
  Length not counting the Option-Code); RFC 5568 §6.4.4 drops it (Length counts Option-Code and
  LLA). Both give Length 7 for an Ethernet address. This codec reads RFC 5568's layout: an RFC
  4068 option decodes with the Pad0 octet as the first octet of ``lla``, and re-encodes exactly.
- BADF (type 21) and the MH IP Address/Prefix option (34) are new in RFC 5568. RFC 5568
  §6.4.2 prints "Type: 17" for the MH IP Address/Prefix option, a slip: §11 (IANA) assigns 34,
  which is what Wireshark decodes.

Units and lengths (decisions where the RFC is loose)
----------------------------------------------------
- FBU and FBack "are identical" to the Binding Update and Binding Acknowledgement (RFC 5568
  §6.2.2-§6.2.3), so their Lifetime counts 4-second units on the wire (RFC 6275 §6.1.7) and the
  classes store seconds, as :mod:`hmipv6.wire.mobility` does; Wireshark reads them the same way.
  :meth:`FastBindingUpdate.from_binding_update` and :meth:`FastBindingUpdate.as_binding_update`
  convert between the twins.
- BADF: RFC 5568 §6.4.5 calls its Option Length "the length of the Authenticator", but every
  mobility option's Length must cover all its data for a receiver to skip it (RFC 6275 §6.2.1);
  the codec uses the TLV rule (Length = 4 + authenticator length), as Wireshark does.
- Link-layer addresses are kept whole, padding included: an LLA option's ``lla`` holds 8n-3
  octets (the link layer decides its padding, RFC 5568 §6.4.3); :meth:`LinkLayerAddressOption.padded`
  pads an address with zeros.

Implements RFC 5568 §6.1-§6.4 and §11, RFC 4068 §6.3.3 (FNA) and §6.4.2 (type 18).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address
from typing import ClassVar

from hmipv6.errors import DecodeError, EncodeError
from hmipv6.wire._fast import maker
from hmipv6.wire.addr import from_packed
from hmipv6.wire.icmpv6 import (
    ICMPv6Message,
    MapOption,
    MessageDecoder,
    NDOption,
    NeighborAdvertisement,
    TargetLinkLayerAddress,
    decode_nd_options,
    encode_nd_options,
    options_of,
    register_message,
    register_nd_option,
)
from hmipv6.wire.ipv6 import NextHeader
from hmipv6.wire.mobility import (
    IPPROTO_NONE,
    BAFlags,
    BindingAcknowledgement,
    BindingUpdate,
    BUFlags,
    ExtensionMobilityOption,
    MHType,
    MobilityOption,
    MobilityOptionType,
    binding_acknowledgement_octets,
    binding_update_octets,
    decode_mobility_options,
    encode_mobility_options,
    frame_mobility_header,
    register_option,
)
from hmipv6.wire.mobility import register_message as register_mh_message

__all__ = [
    "FMIPV6_ICMP_TYPE",
    "BindingAuthorizationDataFMIPv6",
    "FBackStatus",
    "FMIPv6ICMPType",
    "FMIPv6NDOptionType",
    "FMIPv6Subtype",
    "FastBindingAcknowledgement",
    "FastBindingUpdate",
    "FastNeighborAdvertisement",
    "HAckCode",
    "HICode",
    "HandoverAcknowledge",
    "HandoverInitiate",
    "IPAddressOptionCode",
    "IPAddressPrefixOption",
    "LLAOptionCode",
    "LinkLayerAddressOption",
    "MobilityHeaderIPAddressPrefix",
    "MobilityHeaderLinkLayerAddress",
    "NAACKStatus",
    "NeighborAdvertisementAcknowledgement",
    "NewRouterPrefixInformation",
    "PrRtAdvCode",
    "ProxyRouterAdvertisement",
    "RouterSolicitationForProxyAdvertisement",
    "UnknownFMIPv6",
    "is_unsolicited_neighbor_advertisement",
    "unsolicited_neighbor_advertisement",
]


# --------------------------------------------------------------------------------------------
# Code points


class FMIPv6ICMPType(IntEnum):
    """The ICMPv6 type of every FMIPv6 ICMPv6 message (RFC 5568 §11)."""

    FMIPV6 = 154


FMIPV6_ICMP_TYPE = FMIPv6ICMPType.FMIPV6


class FMIPv6Subtype(IntEnum):
    """The Subtype octet of ICMPv6 type 154 (RFC 5568 §11; 4 and 5 are RFC 4068's ICMPv6 HI
    and HAck, deprecated)."""

    RTSOLPR = 2
    PRRTADV = 3
    HI_DEPRECATED = 4
    HACK_DEPRECATED = 5


class PrRtAdvCode(IntEnum):
    """PrRtAdv Code (RFC 5568 §6.1.2)."""

    NEW_ROUTER_INFO = 0
    """[AP-ID, AR-Info] tuples for movement detection and NCoA formulation."""
    UNSOLICITED_HANDOVER_TRIGGER = 1
    NO_NEW_ROUTER_INFO = 2
    PARTIAL_NEW_ROUTER_INFO = 3
    UNSOLICITED_NEIGHBORHOOD_INFO = 4
    USE_DHCP = 5


class FMIPv6NDOptionType(IntEnum):
    """Neighbor Discovery option types of FMIPv6 (RFC 5568 §11; 18 from RFC 4068 §9)."""

    IP_ADDRESS_PREFIX = 17
    NEW_ROUTER_PREFIX_INFORMATION = 18
    LINK_LAYER_ADDRESS = 19
    NEIGHBOR_ADVERTISEMENT_ACKNOWLEDGMENT = 20


class IPAddressOptionCode(IntEnum):
    """Option-Code of the (MH) IP Address/Prefix options (RFC 5568 §6.4.1-§6.4.2)."""

    OLD_CARE_OF_ADDRESS = 1
    NEW_CARE_OF_ADDRESS = 2
    NAR_IP_ADDRESS = 3
    NAR_PREFIX = 4


class LLAOptionCode(IntEnum):
    """Option-Code of the (MH-)LLA options (RFC 5568 §6.4.3)."""

    WILDCARD = 0
    NEW_ACCESS_POINT = 1
    MOBILE_NODE = 2
    NAR = 3
    SOURCE = 4
    """The sender of the RtSolPr or PrRtAdv."""
    AP_ON_CURRENT_INTERFACE = 5
    NO_PREFIX_INFORMATION = 6
    NO_FAST_HANDOVER_SUPPORT = 7


class NAACKStatus(IntEnum):
    """NAACK Status (RFC 5568 §6.4.6)."""

    NCOA_INVALID_CONFIGURE = 1
    NCOA_INVALID_USE_SUPPLIED = 2
    NCOA_INVALID_USE_NAR_ADDRESS = 3
    PCOA_SUPPLIED = 4
    LLA_UNRECOGNIZED = 128


class HICode(IntEnum):
    """HI Code (RFC 5568 §6.2.1.1): whether the FBU came from the PCoA."""

    FBU_FROM_PCOA = 0
    FBU_NOT_FROM_PCOA = 1


class HAckCode(IntEnum):
    """HAck Code (RFC 5568 §6.2.1.2). Values of 128 and above refuse the handover."""

    ACCEPTED_NCOA_VALID = 0
    ACCEPTED_NCOA_NOT_VALID = 1
    ACCEPTED_NCOA_ASSIGNED = 2
    ACCEPTED_USE_PCOA = 3
    UNSOLICITED = 4
    NOT_ACCEPTED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INSUFFICIENT_RESOURCES = 130


class FBackStatus(IntEnum):
    """FBack Status (RFC 5568 §6.2.3). Values below 128 mean the FBU was accepted."""

    ACCEPTED = 0
    ACCEPTED_NCOA_INVALID = 1
    """Use the NCoA supplied in the Alternate Care-of Address option."""
    REASON_UNSPECIFIED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INSUFFICIENT_RESOURCES = 130
    INCORRECT_INTERFACE_IDENTIFIER_LENGTH = 131


def _known(enum_cls: type[IntEnum], value: int) -> IntEnum | int:
    try:
        return enum_cls(value)
    except ValueError:
        return value


def _range(value: int, bits: int, name: str) -> None:
    if not 0 <= value < 1 << bits:
        raise EncodeError(f"{name} {value!r} does not fit in {bits} bits")


# --------------------------------------------------------------------------------------------
# Neighbor Discovery options (RFC 5568 §6.4.1, §6.4.3, §6.4.6; RFC 4068 §6.4.2)

_OPT_IPADDR = struct.Struct("!BBBBI16s")
_OPT_NAACK = struct.Struct("!BBBBI")


@dataclass(frozen=True, slots=True)
class IPAddressPrefixOption(NDOption):
    """RFC 5568 §6.4.1, type 17, Length 3: an address (Option-Code 1-3) or the NAR's prefix
    (Option-Code 4, ``prefix_length`` valid bits; the rest of ``address`` is kept as sent)."""

    option_type: ClassVar[int] = FMIPv6NDOptionType.IP_ADDRESS_PREFIX
    option_code: IPAddressOptionCode | int
    prefix_length: int
    address: IPv6Address
    reserved: int = 0

    def _encode(self) -> bytes:
        return _OPT_IPADDR.pack(17, 3, self.option_code, self.prefix_length, self.reserved,
                                self.address.packed)


@dataclass(frozen=True, slots=True)
class NewRouterPrefixInformation(NDOption):
    """RFC 4068 §6.4.2, type 18, Length 3 (RFC 5568 uses :class:`IPAddressPrefixOption` with
    Option-Code 4 instead)."""

    option_type: ClassVar[int] = FMIPv6NDOptionType.NEW_ROUTER_PREFIX_INFORMATION
    prefix_length: int
    prefix: IPv6Address
    option_code: int = 0
    reserved: int = 0

    def _encode(self) -> bytes:
        return _OPT_IPADDR.pack(18, 3, self.option_code, self.prefix_length, self.reserved,
                                self.prefix.packed)


@dataclass(frozen=True, slots=True)
class LinkLayerAddressOption(NDOption):
    """RFC 5568 §6.4.3, type 19: ``lla`` is everything after the Option-Code, padding
    included (8n-3 octets: 13 for an Ethernet address and its 7 octets of padding)."""

    option_type: ClassVar[int] = FMIPv6NDOptionType.LINK_LAYER_ADDRESS
    option_code: LLAOptionCode | int
    lla: bytes

    @classmethod
    def padded(cls, option_code: int, lla: bytes) -> LinkLayerAddressOption:
        """The option for ``lla`` padded with zero octets to 8n-3 octets."""
        return cls(_known(LLAOptionCode, option_code), lla + bytes(-(3 + len(lla)) % 8))

    def _encode(self) -> bytes:
        n = 3 + len(self.lla)
        if n % 8 or n > 255 * 8:
            raise EncodeError(f"LLA of {len(self.lla)} octets: pad it to 8n-3 octets (13 for "
                              "Ethernet), e.g. with LinkLayerAddressOption.padded")
        _range(self.option_code, 8, "LLA Option-Code")
        return bytes((19, n // 8, self.option_code)) + self.lla


@dataclass(frozen=True, slots=True)
class NeighborAdvertisementAcknowledgement(NDOption):
    """RFC 5568 §6.4.6, type 20: Length 1, or 3 when a new CoA follows the Reserved field
    (Status 2). (Wireshark 4.0 reads that CoA from the Reserved field on, 4 octets early, and
    calls the option malformed; the RFC's figure and text put it after Reserved, as here.)"""

    option_type: ClassVar[int] = FMIPv6NDOptionType.NEIGHBOR_ADVERTISEMENT_ACKNOWLEDGMENT
    status: NAACKStatus | int
    new_coa: IPv6Address | None = None
    option_code: int = 0
    reserved: int = 0

    def _encode(self) -> bytes:
        if self.new_coa is None:
            return _OPT_NAACK.pack(20, 1, self.option_code, self.status, self.reserved)
        return _OPT_NAACK.pack(20, 3, self.option_code, self.status, self.reserved) \
            + self.new_coa.packed


_make_IPAddressPrefixOption = maker(IPAddressPrefixOption)
_make_NewRouterPrefixInformation = maker(NewRouterPrefixInformation)
_make_LinkLayerAddressOption = maker(LinkLayerAddressOption)
_make_NAACK = maker(NeighborAdvertisementAcknowledgement)


def _need_nd_length(i: int, n: int, ok: tuple[int, ...], name: str) -> None:
    if n not in ok:
        raise DecodeError(f"{name} option Length {n}, must be {' or '.join(map(str, ok))}",
                          field=f"icmpv6.option.{name}.length", offset=i + 1)


def _dec_ipaddr(data: bytes, i: int, n: int) -> IPAddressPrefixOption:
    _need_nd_length(i, n, (3,), "ip_address_prefix")
    _, _, code, plen, res, address = _OPT_IPADDR.unpack_from(data, i)
    return _make_IPAddressPrefixOption(_known(IPAddressOptionCode, code), plen,
                                       from_packed(address), res)


def _dec_nrpi(data: bytes, i: int, n: int) -> NewRouterPrefixInformation:
    _need_nd_length(i, n, (3,), "new_router_prefix_information")
    _, _, code, plen, res, prefix = _OPT_IPADDR.unpack_from(data, i)
    return _make_NewRouterPrefixInformation(plen, from_packed(prefix), code, res)


def _dec_lla(data: bytes, i: int, n: int) -> LinkLayerAddressOption:
    return _make_LinkLayerAddressOption(_known(LLAOptionCode, data[i + 2]),
                                        data[i + 3 : i + 8 * n])


def _dec_naack(data: bytes, i: int, n: int) -> NeighborAdvertisementAcknowledgement:
    # RFC 5568 §6.4.6: "The length is 1 when a new CoA is not supplied. The length is 3 when
    # a new CoA is present".
    _need_nd_length(i, n, (1, 3), "naack")
    _, _, code, status, res = _OPT_NAACK.unpack_from(data, i)
    coa = from_packed(data[i + 8 : i + 24]) if n == 3 else None
    return _make_NAACK(_known(NAACKStatus, status), coa, code, res)


# --------------------------------------------------------------------------------------------
# ICMPv6 type 154 messages (RFC 5568 §6.1)

_FMIP_HDR = struct.Struct("!BBHBBH")


@dataclass(frozen=True, slots=True)
class RouterSolicitationForProxyAdvertisement(ICMPv6Message):
    """RtSolPr (RFC 5568 §6.1.1): type 154, Subtype 2. Options: the sender's LLA (Option-Code
    4) and one or more New Access Point LLAs (Option-Code 1, or a single wildcard, 0)."""

    icmp_type: ClassVar[int] = FMIPv6ICMPType.FMIPV6
    subtype: ClassVar[int] = FMIPv6Subtype.RTSOLPR
    identifier: int
    options: tuple[NDOption, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        return _FMIP_HDR.pack(154, self.code, 0, 2, self.reserved, self.identifier) \
            + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class ProxyRouterAdvertisement(ICMPv6Message):
    """PrRtAdv (RFC 5568 §6.1.2): type 154, Subtype 3, Code 0-5 (:class:`PrRtAdvCode`).
    ``identifier`` is the RtSolPr's, or 0 when unsolicited. In an HMIPv6 domain it carries
    the MAP option(s) of the new access router (RFC 4140 Appendix A)."""

    icmp_type: ClassVar[int] = FMIPv6ICMPType.FMIPV6
    subtype: ClassVar[int] = FMIPv6Subtype.PRRTADV
    code: PrRtAdvCode | int
    identifier: int
    options: tuple[NDOption, ...] = ()
    reserved: int = 0

    @property
    def map_options(self) -> tuple[MapOption, ...]:
        """The MAP options carried, in message order (RFC 4140 §5, Appendix A)."""
        return options_of(self.options, MapOption)

    def _encode(self) -> bytes:
        return _FMIP_HDR.pack(154, self.code, 0, 3, self.reserved, self.identifier) \
            + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class UnknownFMIPv6(ICMPv6Message):
    """A type 154 message whose Subtype has no class here (RFC 4068's ICMPv6 HI and HAck,
    Subtypes 4 and 5, among them); ``body`` is everything after the Subtype octet (at least
    3 octets: Reserved and Identifier)."""

    icmp_type: ClassVar[int] = FMIPv6ICMPType.FMIPV6
    subtype: FMIPv6Subtype | int
    code: int
    body: bytes

    def _encode(self) -> bytes:
        if self.subtype in _SUBTYPE_DECODERS:
            raise EncodeError(f"FMIPv6 Subtype {self.subtype} has a class of its own; "
                              "use it instead of UnknownFMIPv6")
        if len(self.body) < 3:
            raise EncodeError("an FMIPv6 message needs at least 8 octets: body of 3 or more")
        _range(self.subtype, 8, "FMIPv6 Subtype")
        _range(self.code, 8, "ICMPv6 Code")
        return bytes((154, self.code, 0, 0, self.subtype)) + self.body


_make_RtSolPr = maker(RouterSolicitationForProxyAdvertisement)
_make_PrRtAdv = maker(ProxyRouterAdvertisement)
_make_UnknownFMIPv6 = maker(UnknownFMIPv6)


def _dec_rtsolpr(data: bytes, start: int, end: int, code: int
                 ) -> RouterSolicitationForProxyAdvertisement:
    _, _, _, _, res, ident = _FMIP_HDR.unpack_from(data, start)
    return _make_RtSolPr(ident, decode_nd_options(data, start + 8, end), res, code)


def _dec_prrtadv(data: bytes, start: int, end: int, code: int) -> ProxyRouterAdvertisement:
    _, _, _, _, res, ident = _FMIP_HDR.unpack_from(data, start)
    return _make_PrRtAdv(_known(PrRtAdvCode, code), ident,
                         decode_nd_options(data, start + 8, end), res)


_SUBTYPE_DECODERS: dict[int, MessageDecoder] = {
    FMIPv6Subtype.RTSOLPR: _dec_rtsolpr,
    FMIPv6Subtype.PRRTADV: _dec_prrtadv,
}


def _dec_fmipv6(data: bytes, start: int, end: int, code: int) -> ICMPv6Message:
    if end - start < 8:
        raise DecodeError(f"{end - start} octets, an FMIPv6 message needs 8",
                          field="icmpv6.fmipv6", offset=start)
    subtype = data[start + 4]
    dec = _SUBTYPE_DECODERS.get(subtype)
    if dec is None:
        return _make_UnknownFMIPv6(subtype, code, data[start + 5 : end])
    return dec(data, start, end, code)


# --------------------------------------------------------------------------------------------
# Mobility options (RFC 5568 §6.4.2, §6.4.4, §6.4.5)


@dataclass(frozen=True, slots=True)
class MobilityHeaderLinkLayerAddress(ExtensionMobilityOption):
    """RFC 5568 §6.4.4, type 7, no alignment requirement: Option-Code (2, the MN's LLA) and
    the link-layer address; Length = 1 + its length."""

    option_type: ClassVar[int] = MobilityOptionType.MH_LINK_LAYER_ADDRESS
    alignment: ClassVar[tuple[int, int] | None] = None
    option_code: LLAOptionCode | int
    lla: bytes

    def option_data(self) -> bytes:
        _range(self.option_code, 8, "MH-LLA Option-Code")
        return bytes((self.option_code,)) + self.lla


@dataclass(frozen=True, slots=True)
class BindingAuthorizationDataFMIPv6(ExtensionMobilityOption):
    """BADF, RFC 5568 §6.4.5, type 21: SPI (0 for SEND-based handover keys) and the
    authenticator (the first 96 bits of an HMAC-SHA1 by default; other lengths are kept).
    MUST be the last option of an FBU or FBack; that is the engine's rule, not the codec's."""

    option_type: ClassVar[int] = MobilityOptionType.BINDING_AUTHORIZATION_DATA_FMIPV6
    alignment: ClassVar[tuple[int, int] | None] = None
    spi: int
    authenticator: bytes

    def option_data(self) -> bytes:
        _range(self.spi, 32, "BADF SPI")
        return self.spi.to_bytes(4, "big") + self.authenticator


@dataclass(frozen=True, slots=True)
class MobilityHeaderIPAddressPrefix(ExtensionMobilityOption):
    """RFC 5568 §6.4.2, type 34 (§11), Length 18, alignment 8n+4: Option-Code
    (:class:`IPAddressOptionCode`), Prefix Length and the address or prefix; in HI and HAck."""

    option_type: ClassVar[int] = MobilityOptionType.MH_IP_ADDRESS_PREFIX
    alignment: ClassVar[tuple[int, int] | None] = (8, 4)
    option_code: IPAddressOptionCode | int
    prefix_length: int
    address: IPv6Address

    def option_data(self) -> bytes:
        _range(self.option_code, 8, "MH IP Address/Prefix Option-Code")
        _range(self.prefix_length, 8, "MH IP Address/Prefix Prefix Length")
        return bytes((self.option_code, self.prefix_length)) + self.address.packed


def _bad_option_length(name: str, got: int, want: str, i: int) -> DecodeError:
    return DecodeError(f"option length {got}, expected {want}",
                       field=f"mobility.option.{name}.length", offset=i + 1)


def _dec_mh_lla(data: bytes, i: int, n: int) -> MobilityHeaderLinkLayerAddress:
    if n < 1:
        raise _bad_option_length("mh_link_layer_address", n, "at least 1", i)
    return MobilityHeaderLinkLayerAddress(_known(LLAOptionCode, data[i + 2]),
                                          data[i + 3 : i + 2 + n])


def _dec_badf(data: bytes, i: int, n: int) -> BindingAuthorizationDataFMIPv6:
    if n < 4:
        raise _bad_option_length("binding_authorization_data_fmipv6", n, "at least 4", i)
    return BindingAuthorizationDataFMIPv6(int.from_bytes(data[i + 2 : i + 6], "big"),
                                          data[i + 6 : i + 2 + n])


def _dec_mh_ipaddr(data: bytes, i: int, n: int) -> MobilityHeaderIPAddressPrefix:
    if n != 18:
        raise _bad_option_length("mh_ip_address_prefix", n, "18", i)
    return MobilityHeaderIPAddressPrefix(_known(IPAddressOptionCode, data[i + 2]), data[i + 3],
                                         from_packed(data[i + 4 : i + 20]))


# --------------------------------------------------------------------------------------------
# Mobility Header messages (RFC 5568 §6.2; RFC 4068 §6.3.3)

_BU = struct.Struct("!HHH")
_BA = struct.Struct("!BBHH")
_HI = struct.Struct("!HBB")
_R16 = struct.Struct("!H")


@dataclass(frozen=True, slots=True)
class FastBindingUpdate:
    """FBU (RFC 5568 §6.2.2): a Binding Update with MH Type 8, same layout and fields as
    :class:`~hmipv6.wire.mobility.BindingUpdate` (``lifetime`` in seconds, a multiple of 4).
    RFC 5568 wants A and H set and the other flags zero, an Alternate Care-of Address option
    (the NCoA) when sent from the PAR's link, and a BADF option last -- engine rules."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.FBU
    sequence: int
    flags: BUFlags
    lifetime: int
    options: tuple[MobilityOption, ...] = ()
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    @classmethod
    def from_binding_update(cls, bu: BindingUpdate) -> FastBindingUpdate:
        """The FBU with every field of ``bu``."""
        return cls(bu.sequence, bu.flags, bu.lifetime, bu.options, bu.payload_proto,
                   bu.header_reserved)

    def as_binding_update(self) -> BindingUpdate:
        """The Binding Update with every field of this FBU (its MH Type 5 twin)."""
        return BindingUpdate(self.sequence, self.flags, self.lifetime, self.options,
                             self.payload_proto, self.header_reserved)

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        return binding_update_octets(MHType.FBU, self, src, dst)


@dataclass(frozen=True, slots=True)
class FastBindingAcknowledgement:
    """FBack (RFC 5568 §6.2.3): a Binding Acknowledgement with MH Type 9 (``lifetime`` in
    seconds). ``status`` below 128 means accepted; 1 means "use the NCoA in the Alternate
    Care-of Address option"."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.FBACK
    status: FBackStatus | int
    flags: BAFlags
    """The whole flags octet (K and the reserved bits)."""
    sequence: int
    lifetime: int
    options: tuple[MobilityOption, ...] = ()
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    @property
    def accepted(self) -> bool:
        """RFC 5568 §6.2.3: Status values less than 128 mean the FBU was accepted."""
        return self.status < 128

    @classmethod
    def from_binding_acknowledgement(cls, ba: BindingAcknowledgement
                                     ) -> FastBindingAcknowledgement:
        """The FBack with every field of ``ba``."""
        return cls(int(ba.status), ba.flags, ba.sequence, ba.lifetime, ba.options,
                   ba.payload_proto, ba.header_reserved)

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        return binding_acknowledgement_octets(MHType.FBACK, self, src, dst)


@dataclass(frozen=True, slots=True)
class HandoverInitiate:
    """HI (RFC 5568 §6.2.1.1), MH Type 14, PAR to NAR (in HMIPv6, MAP and NAR, RFC 4140
    Appendix A). ``assigned_address`` is the S flag (the NAR is asked for an NCoA),
    ``buffer`` the U flag; ``reserved`` keeps the 6 bits after them. Options: the MN's MH-LLA,
    the PCoA and NCoA as MH IP Address/Prefix options (Option-Codes 1 and 2)."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.HI
    sequence: int
    code: HICode | int
    assigned_address: bool = False
    buffer: bool = False
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        _range(self.reserved, 6, "HI reserved bits")
        flags = (self.assigned_address << 7) | (self.buffer << 6) | self.reserved
        try:
            fixed = _HI.pack(self.sequence, flags, self.code)
        except struct.error:
            raise EncodeError(f"sequence {self.sequence} or code {self.code} out of range"
                              ) from None
        body = fixed + encode_mobility_options(self.options, 10)
        return frame_mobility_header(self.payload_proto, MHType.HI, self.header_reserved, body,
                                     src, dst)


@dataclass(frozen=True, slots=True)
class HandoverAcknowledge:
    """HAck (RFC 5568 §6.2.1.2), MH Type 15: ``sequence`` copied from the HI; ``code`` below
    128 accepts the handover (:class:`HAckCode`). Options: the NCoA when assigned."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.HACK
    sequence: int
    code: HAckCode | int
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    @property
    def accepted(self) -> bool:
        """RFC 5568 §6.2.1.2: Codes 0-4 accept the handover, 128 and above refuse it."""
        return self.code < 128

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        try:
            fixed = _HI.pack(self.sequence, self.reserved, self.code)
        except struct.error:
            raise EncodeError(f"sequence {self.sequence}, reserved {self.reserved} or code "
                              f"{self.code} out of range") from None
        body = fixed + encode_mobility_options(self.options, 10)
        return frame_mobility_header(self.payload_proto, MHType.HACK, self.header_reserved, body,
                                     src, dst)


@dataclass(frozen=True, slots=True)
class FastNeighborAdvertisement:
    """FNA (RFC 4068 §6.3.3), MH Type 10, deprecated by RFC 5568 §8 in favour of UNA but
    still accepted by a NAR: a 16-bit Reserved field and options (the MN's MH-LLA)."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.FNA
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        _range(self.reserved, 16, "FNA reserved")
        body = _R16.pack(self.reserved) + encode_mobility_options(self.options, 8)
        return frame_mobility_header(self.payload_proto, MHType.FNA, self.header_reserved, body,
                                     src, dst)


def _mh_short(what: str, data: bytes, start: int) -> DecodeError:
    # RFC 6275 §9.2: a Header Len too small for the MH Type is discarded (Parameter Problem
    # pointing at Header Len).
    return DecodeError(f"Header Len {data[start + 1]} is too small for a {what}",
                       field="mobility.header_len", offset=start + 1)


def _dec_fbu(data: bytes, start: int, end: int, proto: int, hres: int) -> FastBindingUpdate:
    if end - start < 16:
        raise _mh_short("Fast Binding Update", data, start)
    seq, flags, units = _BU.unpack_from(data, start + 6)
    return FastBindingUpdate(seq, BUFlags(flags), units * 4,
                             decode_mobility_options(data, start, start + 12, end), proto, hres)


def _dec_fback(data: bytes, start: int, end: int, proto: int, hres: int
               ) -> FastBindingAcknowledgement:
    if end - start < 16:
        raise _mh_short("Fast Binding Acknowledgment", data, start)
    status, flags, seq, units = _BA.unpack_from(data, start + 6)
    return FastBindingAcknowledgement(_known(FBackStatus, status), BAFlags(flags), seq,
                                      units * 4,
                                      decode_mobility_options(data, start, start + 12, end),
                                      proto, hres)


def _dec_hi(data: bytes, start: int, end: int, proto: int, hres: int) -> HandoverInitiate:
    if end - start < 16:
        raise _mh_short("Handover Initiate", data, start)
    seq, flags, code = _HI.unpack_from(data, start + 6)
    return HandoverInitiate(seq, _known(HICode, code), flags & 0x80 != 0, flags & 0x40 != 0,
                            decode_mobility_options(data, start, start + 10, end), flags & 0x3F,
                            proto, hres)


def _dec_hack(data: bytes, start: int, end: int, proto: int, hres: int) -> HandoverAcknowledge:
    if end - start < 16:
        raise _mh_short("Handover Acknowledge", data, start)
    seq, res, code = _HI.unpack_from(data, start + 6)
    return HandoverAcknowledge(seq, _known(HAckCode, code),
                               decode_mobility_options(data, start, start + 10, end), res,
                               proto, hres)


def _dec_fna(data: bytes, start: int, end: int, proto: int, hres: int
             ) -> FastNeighborAdvertisement:
    (res,) = _R16.unpack_from(data, start + 6)
    return FastNeighborAdvertisement(decode_mobility_options(data, start, start + 8, end), res,
                                     proto, hres)


# --------------------------------------------------------------------------------------------
# UNA (RFC 5568 §6.3)


def unsolicited_neighbor_advertisement(ncoa: IPv6Address, lla: bytes) -> NeighborAdvertisement:
    """The UNA an MN sends from its NCoA on attaching to the NAR (RFC 5568 §6.3): Target the
    NCoA, R, S and O clear, a Target Link-Layer Address option with the MN's LLA (``lla`` as
    the option body: 6 octets for Ethernet). Send it to ff02::1 or the NAR, Hop Limit 255."""
    return NeighborAdvertisement(ncoa, router=False, solicited=False, override=False,
                                 options=(TargetLinkLayerAddress(lla),))


def is_unsolicited_neighbor_advertisement(message: object) -> bool:
    """Whether ``message`` has the form of an RFC 5568 §6.3 UNA: a Neighbor Advertisement with
    R, S and O clear and a Target Link-Layer Address option."""
    return (isinstance(message, NeighborAdvertisement) and not message.router
            and not message.solicited and not message.override
            and bool(options_of(message.options, TargetLinkLayerAddress)))


# --------------------------------------------------------------------------------------------
# Registration

register_message(FMIPV6_ICMP_TYPE, _dec_fmipv6)
register_nd_option(FMIPv6NDOptionType.IP_ADDRESS_PREFIX, _dec_ipaddr)
register_nd_option(FMIPv6NDOptionType.NEW_ROUTER_PREFIX_INFORMATION, _dec_nrpi)
register_nd_option(FMIPv6NDOptionType.LINK_LAYER_ADDRESS, _dec_lla)
register_nd_option(FMIPv6NDOptionType.NEIGHBOR_ADVERTISEMENT_ACKNOWLEDGMENT, _dec_naack)
register_option(MobilityHeaderLinkLayerAddress, _dec_mh_lla)
register_option(BindingAuthorizationDataFMIPv6, _dec_badf)
register_option(MobilityHeaderIPAddressPrefix, _dec_mh_ipaddr)
register_mh_message(MHType.FBU, _dec_fbu)
register_mh_message(MHType.FBACK, _dec_fback)
register_mh_message(MHType.FNA, _dec_fna)
register_mh_message(MHType.HI, _dec_hi)
register_mh_message(MHType.HACK, _dec_hack)
