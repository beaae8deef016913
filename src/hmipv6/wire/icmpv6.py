"""ICMPv6 messages and Neighbor Discovery options, with the Mobile IPv6 and HMIPv6 additions.

Theory of operation
-------------------
Every ICMPv6 message is a frozen value class with ``next_header = 58`` and an
``encode_payload(src, dst)`` that lays the message out with a zero checksum and then fills
in the checksum over the IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1). ``src``/``dst``
are the *effective* addresses the packet hands in (RFC 6275 §6.1.1, §6.3, §6.4: the Home
Address option's address and the Type 2 routing header's address), so a Mobile Prefix
Solicitation carrying a Home Address option is checksummed over the home address.

One decoder is registered for Next Header 58. It verifies the checksum (when asked), then
dispatches on the Type octet through :data:`_MESSAGE_DECODERS`; a type nobody registered
decodes to :class:`UnknownICMPv6`, which keeps code and body raw. Neighbor Discovery options
(RFC 4861 §4.6) go through a second table, :data:`_OPTION_DECODERS`, with
:class:`UnknownNDOption` as the fallback: unknown options are kept raw so that bytes
round-trip, and the engines skip them (RFC 4861 §4.6: "silently ignore"). Other modules may
add message types and ND options (FMIPv6, RFC 5568) with :func:`register_message` and
:func:`register_nd_option`.

Nothing is inferred and nothing is dropped: Code, reserved fields and flag bits this package
gives no meaning to are kept as integers, so decoding then encoding valid bytes gives the
same bytes, and encoding then decoding a value gives the same value (W-11). What the encoder
refuses to send (a MAP option with Dist 0, an option of the wrong size) the decoder refuses
to parse, so every decoded value can be re-encoded. The decoder raises
:class:`~hmipv6.errors.DecodeError` naming the field and the absolute offset of the bad
octet, or :class:`~hmipv6.errors.ChecksumError`, and nothing else (W-10). Field names in
errors are dotted paths beginning ``icmpv6.`` (``icmpv6.option.map.length``).

Decoded Router Advertisements are memoised by (pseudo-header addresses, octets): a router
repeats the same RA to every node on its link, and a simulation decodes it thousands of times.

Length rules: every ND option's Length counts 8-octet units and 0 invalidates the whole
message (RFC 4861 §4.6); options must exactly fill the message; fixed-size options (Prefix
Information, MTU, Advertisement Interval, Home Agent Information, MAP) must have their one
defined Length, otherwise the message does not decode. Minimum message sizes are those of
RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1 and RFC 4443 §3.

Implements RFC 4443 §3-§4 (error and echo messages), RFC 4861 §4 (RS, RA, NS, NA, Redirect and
their options), RFC 4191 §2.2 (RA preference bits), RFC 6275 §6.5-§6.8 (Home Agent Address
Discovery, Mobile Prefix Solicitation/Advertisement) and §7.1-§7.4 (RA H bit, Prefix
Information R bit, Advertisement Interval, Home Agent Information), RFC 4140 §5 (MAP option).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address
from typing import ClassVar, TypeAlias, TypeVar

from hmipv6.errors import ChecksumError, DecodeError, EncodeError
from hmipv6.wire import checksum as ck
from hmipv6.wire._fast import maker
from hmipv6.wire.addr import from_packed
from hmipv6.wire.ipv6 import DEFER, Deferred, NextHeader, register_payload

__all__ = [
    "MTU",
    "AdvertisementInterval",
    "DestinationUnreachable",
    "DestinationUnreachableCode",
    "EchoReply",
    "EchoRequest",
    "HomeAgentAddressDiscoveryReply",
    "HomeAgentAddressDiscoveryRequest",
    "HomeAgentInformation",
    "ICMPv6Message",
    "ICMPv6Type",
    "MapOption",
    "MessageDecoder",
    "MobilePrefixAdvertisement",
    "MobilePrefixSolicitation",
    "NDOption",
    "NDOptionDecoder",
    "NDOptionType",
    "NeighborAdvertisement",
    "NeighborSolicitation",
    "PacketTooBig",
    "ParameterProblem",
    "ParameterProblemCode",
    "PrefixInformation",
    "Redirect",
    "RedirectedHeader",
    "RouterAdvertisement",
    "RouterSolicitation",
    "SourceLinkLayerAddress",
    "TargetLinkLayerAddress",
    "TimeExceeded",
    "TimeExceededCode",
    "UnknownICMPv6",
    "UnknownNDOption",
    "decode_message",
    "decode_nd_options",
    "encode_nd_options",
    "options_of",
    "register_message",
    "register_nd_option",
]


class ICMPv6Type(IntEnum):
    """ICMPv6 message types handled here (fields stay plain ints: unknown types survive)."""

    DESTINATION_UNREACHABLE = 1
    PACKET_TOO_BIG = 2
    TIME_EXCEEDED = 3
    PARAMETER_PROBLEM = 4
    ECHO_REQUEST = 128
    ECHO_REPLY = 129
    ROUTER_SOLICITATION = 133
    ROUTER_ADVERTISEMENT = 134
    NEIGHBOR_SOLICITATION = 135
    NEIGHBOR_ADVERTISEMENT = 136
    REDIRECT = 137
    HAAD_REQUEST = 144
    HAAD_REPLY = 145
    MOBILE_PREFIX_SOLICITATION = 146
    MOBILE_PREFIX_ADVERTISEMENT = 147


class DestinationUnreachableCode(IntEnum):
    """RFC 4443 §3.1."""

    NO_ROUTE = 0
    ADMINISTRATIVELY_PROHIBITED = 1
    BEYOND_SCOPE = 2
    ADDRESS_UNREACHABLE = 3
    PORT_UNREACHABLE = 4
    SOURCE_POLICY_FAILED = 5
    REJECT_ROUTE = 6


class TimeExceededCode(IntEnum):
    """RFC 4443 §3.3."""

    HOP_LIMIT_EXCEEDED = 0
    FRAGMENT_REASSEMBLY = 1


class ParameterProblemCode(IntEnum):
    """RFC 4443 §3.4."""

    ERRONEOUS_HEADER_FIELD = 0
    UNRECOGNIZED_NEXT_HEADER = 1
    UNRECOGNIZED_OPTION = 2


class NDOptionType(IntEnum):
    """Neighbor Discovery option types handled here."""

    SOURCE_LINK_LAYER_ADDRESS = 1
    TARGET_LINK_LAYER_ADDRESS = 2
    PREFIX_INFORMATION = 3
    REDIRECTED_HEADER = 4
    MTU = 5
    ADVERTISEMENT_INTERVAL = 7
    HOME_AGENT_INFORMATION = 8
    MAP = 23


_ICMP = NextHeader.ICMPV6

# Precompiled layouts ("H" where the checksum sits, packed as 0 and filled in afterwards).
_HDR = struct.Struct("!BBH")
_HDR_U32 = struct.Struct("!BBHI")  # errors, RS, NS reserved word, Redirect reserved word
_HDR_U16x2 = struct.Struct("!BBHHH")  # echo, HAAD, Mobile Prefix
_RA = struct.Struct("!BBHBBHII")
_NS = struct.Struct("!BBHI16s")
_REDIRECT = struct.Struct("!BBHI16s16s")
_OPT_PI = struct.Struct("!BBBBIII16s")
_OPT_U16_U32 = struct.Struct("!BBHI")  # MTU, Advertisement Interval
_OPT_HAI = struct.Struct("!BBHHH")
_OPT_MAP = struct.Struct("!BBBBI16s")
_OPT_RH_RESERVED = struct.Struct("!BBHI")  # Redirected Header: type, length, 6 reserved octets


def _range(value: int, bits: int, name: str) -> None:
    if not 0 <= value < 1 << bits:
        raise EncodeError(f"{name} {value!r} does not fit in {bits} bits")


# --------------------------------------------------------------------------------------------
# Neighbor Discovery options (RFC 4861 §4.6, RFC 6275 §7.2-§7.4, RFC 4140 §5)


class NDOption:
    """Base of every Neighbor Discovery option class (RFC 4861 §4.6: Type, Length in 8-octet
    units, body); other modules may subclass it and :func:`register_nd_option` a decoder."""

    __slots__ = ()

    def encode_option(self) -> bytes:
        """The option's octets, Type and Length included."""
        try:
            return self._encode()
        except (struct.error, OverflowError, TypeError) as e:
            raise EncodeError(f"{type(self).__name__}: {e}") from e

    def _encode(self) -> bytes:
        raise NotImplementedError


def _lladdr_bytes(option_type: int, lladdr: bytes) -> bytes:
    n = len(lladdr) + 2
    # RFC 4861 §4.6.1: the link layer's own document says how its address is padded; the
    # codec keeps that padding inside ``lladdr`` so decode(encode(v)) == v.
    if n % 8 or n > 255 * 8:
        raise EncodeError(f"link-layer address of {len(lladdr)} octets: pad it (per its link "
                          "layer) to 8n-2 octets, e.g. 6 for Ethernet")
    return bytes((option_type, n // 8)) + lladdr


@dataclass(frozen=True, slots=True)
class SourceLinkLayerAddress(NDOption):
    """RFC 4861 §4.6.1, type 1. ``lladdr`` holds the whole option body (6 octets on Ethernet;
    other link layers include their padding, 8n-2 octets)."""

    option_type: ClassVar[int] = NDOptionType.SOURCE_LINK_LAYER_ADDRESS
    lladdr: bytes

    def _encode(self) -> bytes:
        return _lladdr_bytes(1, self.lladdr)


@dataclass(frozen=True, slots=True)
class TargetLinkLayerAddress(NDOption):
    """RFC 4861 §4.6.1, type 2 (same layout as the source variant)."""

    option_type: ClassVar[int] = NDOptionType.TARGET_LINK_LAYER_ADDRESS
    lladdr: bytes

    def _encode(self) -> bytes:
        return _lladdr_bytes(2, self.lladdr)


@dataclass(frozen=True, slots=True)
class PrefixInformation(NDOption):
    """RFC 4861 §4.6.2 with the Router Address (R) flag of RFC 6275 §7.2; type 3, Length 4.

    ``prefix`` is the whole 128-bit field: with R set it is the router's full address
    (RFC 6275 §7.2), and bits past ``prefix_length`` are kept either way."""

    option_type: ClassVar[int] = NDOptionType.PREFIX_INFORMATION
    prefix_length: int
    on_link: bool
    autonomous: bool
    router_address: bool
    valid_lifetime: int
    preferred_lifetime: int
    prefix: IPv6Address
    reserved1: int = 0
    """The 5 low bits after L, A, R."""
    reserved2: int = 0

    def _encode(self) -> bytes:
        _range(self.reserved1, 5, "reserved1")
        flags = (self.on_link << 7) | (self.autonomous << 6) | (self.router_address << 5) \
            | self.reserved1
        return _OPT_PI.pack(3, 4, self.prefix_length, flags, self.valid_lifetime,
                            self.preferred_lifetime, self.reserved2, self.prefix.packed)


@dataclass(frozen=True, slots=True)
class RedirectedHeader(NDOption):
    """RFC 4861 §4.6.3, type 4: the start of the redirected packet, a multiple of 8 octets
    (the sender truncates and pads it; the codec keeps it as given)."""

    option_type: ClassVar[int] = NDOptionType.REDIRECTED_HEADER
    packet: bytes
    reserved: int = 0
    """The 6 reserved octets, as a 48-bit integer."""

    def _encode(self) -> bytes:
        n = 8 + len(self.packet)
        if n % 8 or n > 255 * 8:
            raise EncodeError(f"redirected packet of {len(self.packet)} octets: the option "
                              "must be a multiple of 8 octets, at most 2040")
        _range(self.reserved, 48, "reserved")
        return _OPT_RH_RESERVED.pack(4, n // 8, self.reserved >> 32,
                                     self.reserved & 0xFFFFFFFF) + self.packet


@dataclass(frozen=True, slots=True)
class MTU(NDOption):
    """RFC 4861 §4.6.4, type 5, Length 1."""

    option_type: ClassVar[int] = NDOptionType.MTU
    mtu: int
    reserved: int = 0

    def _encode(self) -> bytes:
        return _OPT_U16_U32.pack(5, 1, self.reserved, self.mtu)


@dataclass(frozen=True, slots=True)
class AdvertisementInterval(NDOption):
    """RFC 6275 §7.3, type 7, Length 1: MaxRtrAdvInterval in milliseconds."""

    option_type: ClassVar[int] = NDOptionType.ADVERTISEMENT_INTERVAL
    interval: int
    """Milliseconds."""
    reserved: int = 0

    def _encode(self) -> bytes:
        return _OPT_U16_U32.pack(7, 1, self.reserved, self.interval)


@dataclass(frozen=True, slots=True)
class HomeAgentInformation(NDOption):
    """RFC 6275 §7.4, type 8, Length 1.

    ``preference`` is a 16-bit *unsigned* integer as RFC 6275 §7.4 and RFC 3775 §7.4 both
    define it (scapy and Wireshark read it unsigned too). ``lifetime`` is in seconds; RFC
    6275 §7.4 says 0 MUST NOT be used, which is the sender's business, not the codec's."""

    option_type: ClassVar[int] = NDOptionType.HOME_AGENT_INFORMATION
    preference: int
    lifetime: int
    reserved: int = 0

    def _encode(self) -> bytes:
        return _OPT_HAI.pack(8, 1, self.reserved, self.preference, self.lifetime)


@dataclass(frozen=True, slots=True)
class MapOption(NDOption):
    """RFC 4140 §5: the MAP option, type 23, Length 3 (24 octets).

    ``dist`` and ``pref`` are 4-bit; ``r`` is the R flag; ``reserved`` keeps the 7 bits after
    it; ``valid_lifetime`` is in seconds; ``address`` is the MAP's global address, whose /64
    forms the RCoA (RFC 4140 §5: "the prefix length ... MUST be 64").

    RFC 5380 §5 keeps this exact layout (type 23, Length 3, Dist, Pref, R, 7 reserved bits,
    Valid Lifetime, address) and adds no flags; only meanings change: R set means the MAP
    allocates the RCoA (RFC 4877 §9) instead of the MN forming it, Pref is a tie-breaker
    between MAPs of equal Dist, and Valid Lifetime is the minimum of the valid lifetimes of
    the MAP's prefix and the RCoA's prefix. So one codec serves both profiles.
    """

    option_type: ClassVar[int] = NDOptionType.MAP
    dist: int
    pref: int
    r: bool
    valid_lifetime: int
    address: IPv6Address
    reserved: int = 0
    """The 7 bits after R."""

    def _encode(self) -> bytes:
        # RFC 4140 §5: "A Distance value of Zero MUST NOT be used."
        if self.dist == 0:
            raise EncodeError("MAP option Dist 0 MUST NOT be used (RFC 4140 §5)")
        _range(self.dist, 4, "MAP option dist")
        _range(self.pref, 4, "MAP option pref")
        _range(self.reserved, 7, "MAP option reserved")
        # RFC 4140 §5: Length "MUST be set to 3" -- fixed here, never taken from the caller.
        return _OPT_MAP.pack(23, 3, (self.dist << 4) | self.pref,
                             (self.r << 7) | self.reserved, self.valid_lifetime,
                             self.address.packed)


@dataclass(frozen=True, slots=True)
class UnknownNDOption(NDOption):
    """An option whose type has no decoder: kept raw (the body after Type and Length, 8n-2
    octets) so the message round-trips; engines skip it (RFC 4861 §4.6)."""

    option_type: int
    data: bytes

    def _encode(self) -> bytes:
        if self.option_type in _OPTION_DECODERS:
            # A known type travels only as its own class, which fixes its Length (e.g. the
            # MAP option's 3, RFC 4140 §5); a raw one could smuggle a wrong Length out.
            raise EncodeError(f"ND option type {self.option_type} has a class of its own; "
                              "use it instead of UnknownNDOption")
        n = len(self.data) + 2
        if n % 8 or n > 255 * 8:
            raise EncodeError(f"ND option body of {len(self.data)} octets: must be 8n-2 octets, "
                              "n = 1..255")
        _range(self.option_type, 8, "ND option type")
        return bytes((self.option_type, n // 8)) + self.data


NDOptionDecoder: TypeAlias = Callable[[bytes, int, int], NDOption]
"""``decoder(data, start, length)``: the option at ``data[start : start + 8 * length]``
(``start`` is its Type octet, ``length`` its Length field, already checked non-zero and to
fit); raises DecodeError with absolute offsets."""


# Decoders have validated every value: build through the slots (see wire._fast).
_make_SourceLinkLayerAddress = maker(SourceLinkLayerAddress)
_make_TargetLinkLayerAddress = maker(TargetLinkLayerAddress)
_make_PrefixInformation = maker(PrefixInformation)
_make_RedirectedHeader = maker(RedirectedHeader)
_make_MTU = maker(MTU)
_make_AdvertisementInterval = maker(AdvertisementInterval)
_make_HomeAgentInformation = maker(HomeAgentInformation)
_make_MapOption = maker(MapOption)
_make_UnknownNDOption = maker(UnknownNDOption)


def _need_length(i: int, n: int, want: int, name: str) -> None:
    if n != want:
        raise DecodeError(f"{name} option Length {n}, must be {want}",
                          field=f"icmpv6.option.{name}.length", offset=i + 1)


def _dec_slla(data: bytes, i: int, n: int) -> SourceLinkLayerAddress:
    return _make_SourceLinkLayerAddress(data[i + 2 : i + 8 * n])


def _dec_tlla(data: bytes, i: int, n: int) -> TargetLinkLayerAddress:
    return _make_TargetLinkLayerAddress(data[i + 2 : i + 8 * n])


def _dec_pi(data: bytes, i: int, n: int) -> PrefixInformation:
    _need_length(i, n, 4, "prefix_information")
    _, _, plen, flags, valid, preferred, res2, prefix = _OPT_PI.unpack_from(data, i)
    return _make_PrefixInformation(plen, flags & 0x80 != 0, flags & 0x40 != 0, flags & 0x20 != 0,
                                   valid, preferred, from_packed(prefix), flags & 0x1F, res2)


def _dec_rh(data: bytes, i: int, n: int) -> RedirectedHeader:
    _, _, hi, lo = _OPT_RH_RESERVED.unpack_from(data, i)
    return _make_RedirectedHeader(data[i + 8 : i + 8 * n], (hi << 32) | lo)


def _dec_mtu(data: bytes, i: int, n: int) -> MTU:
    _need_length(i, n, 1, "mtu")
    _, _, res, mtu = _OPT_U16_U32.unpack_from(data, i)
    return _make_MTU(mtu, res)


def _dec_advint(data: bytes, i: int, n: int) -> AdvertisementInterval:
    # RFC 6275 §7.3: Length "MUST be 1".
    _need_length(i, n, 1, "advertisement_interval")
    _, _, res, interval = _OPT_U16_U32.unpack_from(data, i)
    return _make_AdvertisementInterval(interval, res)


def _dec_hai(data: bytes, i: int, n: int) -> HomeAgentInformation:
    # RFC 6275 §7.4: Length "MUST be 1".
    _need_length(i, n, 1, "home_agent_information")
    _, _, res, pref, lifetime = _OPT_HAI.unpack_from(data, i)
    return _make_HomeAgentInformation(pref, lifetime, res)


def _dec_map(data: bytes, i: int, n: int) -> MapOption:
    # RFC 4140 §5: Length "MUST be set to 3"; anything else is a malformed option (W-02).
    _need_length(i, n, 3, "map")
    _, _, dp, rres, valid, address = _OPT_MAP.unpack_from(data, i)
    if dp < 0x10:
        # RFC 4140 §5: "A Distance value of Zero MUST NOT be used." Refused here as the
        # encoder refuses it, so every decoded option re-encodes to the same octets.
        raise DecodeError("MAP option Dist 0 MUST NOT be used (RFC 4140 §5)",
                          field="icmpv6.option.map.dist", offset=i + 2)
    return _make_MapOption(dp >> 4, dp & 0x0F, rres & 0x80 != 0, valid, from_packed(address),
                           rres & 0x7F)


_OPTION_DECODERS: dict[int, NDOptionDecoder] = {
    NDOptionType.SOURCE_LINK_LAYER_ADDRESS: _dec_slla,
    NDOptionType.TARGET_LINK_LAYER_ADDRESS: _dec_tlla,
    NDOptionType.PREFIX_INFORMATION: _dec_pi,
    NDOptionType.REDIRECTED_HEADER: _dec_rh,
    NDOptionType.MTU: _dec_mtu,
    NDOptionType.ADVERTISEMENT_INTERVAL: _dec_advint,
    NDOptionType.HOME_AGENT_INFORMATION: _dec_hai,
    NDOptionType.MAP: _dec_map,
}


# The Length each built-in option type MUST have (0: any non-zero Length), for the screen of
# Router Advertisements below; it mirrors the ``_need_length`` checks of the decoders above
# (a test holds the two together). Types outside it make an RA decode at once.
_SCREENED_OPTIONS: dict[int, int] = {
    NDOptionType.SOURCE_LINK_LAYER_ADDRESS: 0,
    NDOptionType.TARGET_LINK_LAYER_ADDRESS: 0,
    NDOptionType.PREFIX_INFORMATION: 4,
    NDOptionType.REDIRECTED_HEADER: 0,
    NDOptionType.MTU: 1,
    NDOptionType.ADVERTISEMENT_INTERVAL: 1,
    NDOptionType.HOME_AGENT_INFORMATION: 1,
    NDOptionType.MAP: 3,
}


# Per option type, for that screen: the Length it must have, 0 for any, -1 for a type whose
# decoder has other rules (the RA is then decoded at once). Unknown types are kept raw, any
# Length.
_SCREEN_LENGTH = [0 if t not in _OPTION_DECODERS else _SCREENED_OPTIONS.get(t, -1)
                  for t in range(256)]

def register_nd_option(option_type: int, decoder: NDOptionDecoder) -> None:
    """Install the decoder for an ND option type (e.g. the FMIPv6 options of RFC 5568)."""
    _OPTION_DECODERS[option_type] = decoder
    _SCREENED_OPTIONS.pop(option_type, None)
    _SCREEN_LENGTH[option_type] = -1
    _RA_CACHE.clear()
    _RA_SEEN.clear()


def decode_nd_options(data: bytes, start: int, end: int) -> tuple[NDOption, ...]:
    """The ND options filling ``data[start:end]`` exactly; errors carry absolute offsets."""
    opts: list[NDOption] = []
    i = start
    decoders = _OPTION_DECODERS
    while i < end:
        if end - i < 2:
            raise DecodeError(f"{end - i} octet(s) left, an option needs at least 8",
                              field="icmpv6.option", offset=i)
        t = data[i]
        n = data[i + 1]
        if n == 0:
            # RFC 4861 §4.6: "Nodes MUST silently discard an ND packet that contains an option
            # with length zero." The whole message is invalid.
            raise DecodeError("option Length 0 invalidates the message (RFC 4861 §4.6)",
                              field="icmpv6.option.length", offset=i + 1)
        oend = i + 8 * n
        if oend > end:
            raise DecodeError(f"option of {8 * n} octets overruns the message by {oend - end}",
                              field="icmpv6.option.length", offset=i + 1)
        dec = decoders.get(t)
        if dec is None:
            opts.append(_make_UnknownNDOption(t, data[i + 2 : oend]))
        else:
            opts.append(dec(data, i, n))
        i = oend
    return tuple(opts)


def encode_nd_options(options: tuple[NDOption, ...]) -> bytes:
    """The octets of ``options`` in order (every ND option is a multiple of 8 octets)."""
    return b"".join([o.encode_option() for o in options])


_O = TypeVar("_O")


def options_of(options: tuple[NDOption, ...], kind: type[_O]) -> tuple[_O, ...]:
    """The options of one class, in message order (e.g. every :class:`MapOption` of an RA)."""
    return tuple(o for o in options if isinstance(o, kind))


# --------------------------------------------------------------------------------------------
# Messages


class ICMPv6Message:
    """Base of every ICMPv6 message class; other modules may subclass it and
    :func:`register_message` a decoder."""

    __slots__ = ()
    next_header: ClassVar[int] = _ICMP

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        """The message's octets with its checksum over the pseudo-header of ``src``/``dst``
        (packed; the effective addresses, RFC 6275 §6.1.1 and RFC 8200 §8.1)."""
        try:
            raw = self._encode()
        except (struct.error, OverflowError, TypeError) as e:
            raise EncodeError(f"{type(self).__name__}: {e}") from e
        # RFC 4443 §2.3: the checksum covers the pseudo-header and the whole message, with the
        # checksum field zero while it is computed.
        c = ck.checksum(src, dst, _ICMP, raw)
        return raw[:2] + c.to_bytes(2, "big") + raw[4:]

    def _encode(self) -> bytes:
        raise NotImplementedError


def _error_encode(t: int, code: int, word: int, invoking: bytes) -> bytes:
    return _HDR_U32.pack(t, code, 0, word) + invoking


@dataclass(frozen=True, slots=True)
class DestinationUnreachable(ICMPv6Message):
    """RFC 4443 §3.1. ``invoking`` is as much of the invoking packet as fits in the minimum
    MTU (the sender trims it). ``unused`` keeps the 32-bit word (RFC 4884 puts a length in
    its first octet)."""

    icmp_type: ClassVar[int] = ICMPv6Type.DESTINATION_UNREACHABLE
    code: int
    invoking: bytes = b""
    unused: int = 0

    def _encode(self) -> bytes:
        return _error_encode(1, self.code, self.unused, self.invoking)


@dataclass(frozen=True, slots=True)
class PacketTooBig(ICMPv6Message):
    """RFC 4443 §3.2. ``code`` is set to 0 by senders and ignored by receivers; kept."""

    icmp_type: ClassVar[int] = ICMPv6Type.PACKET_TOO_BIG
    mtu: int
    invoking: bytes = b""
    code: int = 0

    def _encode(self) -> bytes:
        return _error_encode(2, self.code, self.mtu, self.invoking)


@dataclass(frozen=True, slots=True)
class TimeExceeded(ICMPv6Message):
    """RFC 4443 §3.3."""

    icmp_type: ClassVar[int] = ICMPv6Type.TIME_EXCEEDED
    code: int
    invoking: bytes = b""
    unused: int = 0

    def _encode(self) -> bytes:
        return _error_encode(3, self.code, self.unused, self.invoking)


@dataclass(frozen=True, slots=True)
class ParameterProblem(ICMPv6Message):
    """RFC 4443 §3.4. ``pointer`` is the offset in ``invoking`` of the erroneous octet."""

    icmp_type: ClassVar[int] = ICMPv6Type.PARAMETER_PROBLEM
    code: int
    pointer: int
    invoking: bytes = b""

    def _encode(self) -> bytes:
        return _error_encode(4, self.code, self.pointer, self.invoking)


@dataclass(frozen=True, slots=True)
class EchoRequest(ICMPv6Message):
    """RFC 4443 §4.1; the AR's MAP probe of RFC 4140 §10."""

    icmp_type: ClassVar[int] = ICMPv6Type.ECHO_REQUEST
    identifier: int = 0
    sequence: int = 0
    data: bytes = b""
    code: int = 0

    def _encode(self) -> bytes:
        return _HDR_U16x2.pack(128, self.code, 0, self.identifier, self.sequence) + self.data

    def reply(self) -> EchoReply:
        """RFC 4443 §4.2: the reply echoes identifier, sequence number and data."""
        return EchoReply(self.identifier, self.sequence, self.data)


@dataclass(frozen=True, slots=True)
class EchoReply(ICMPv6Message):
    """RFC 4443 §4.2."""

    icmp_type: ClassVar[int] = ICMPv6Type.ECHO_REPLY
    identifier: int = 0
    sequence: int = 0
    data: bytes = b""
    code: int = 0

    def _encode(self) -> bytes:
        return _HDR_U16x2.pack(129, self.code, 0, self.identifier, self.sequence) + self.data


@dataclass(frozen=True, slots=True)
class RouterSolicitation(ICMPv6Message):
    """RFC 4861 §4.1."""

    icmp_type: ClassVar[int] = ICMPv6Type.ROUTER_SOLICITATION
    options: tuple[NDOption, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        return _HDR_U32.pack(133, self.code, 0, self.reserved) + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class RouterAdvertisement(ICMPv6Message):
    """RFC 4861 §4.2 with the Home Agent (H) bit of RFC 6275 §7.1.

    The flags octet is ``M O H Prf(2) reserved(3)``: ``preference`` is RFC 4191 §2.2's
    Default Router Preference (0 medium, 1 high, 3 low, 2 reserved); ``reserved`` keeps the
    three low bits (0x04 is RFC 4389's Proxy flag). Times: ``router_lifetime`` seconds,
    ``reachable_time`` and ``retrans_timer`` milliseconds."""

    icmp_type: ClassVar[int] = ICMPv6Type.ROUTER_ADVERTISEMENT
    cur_hop_limit: int = 0
    managed: bool = False
    other: bool = False
    home_agent: bool = False
    preference: int = 0
    router_lifetime: int = 0
    reachable_time: int = 0
    retrans_timer: int = 0
    options: tuple[NDOption, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        _range(self.preference, 2, "RA preference")
        _range(self.reserved, 3, "RA reserved bits")
        flags = (self.managed << 7) | (self.other << 6) | (self.home_agent << 5) \
            | (self.preference << 3) | self.reserved
        return _RA.pack(134, self.code, 0, self.cur_hop_limit, flags, self.router_lifetime,
                        self.reachable_time, self.retrans_timer) + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class NeighborSolicitation(ICMPv6Message):
    """RFC 4861 §4.3."""

    icmp_type: ClassVar[int] = ICMPv6Type.NEIGHBOR_SOLICITATION
    target: IPv6Address
    options: tuple[NDOption, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        return _NS.pack(135, self.code, 0, self.reserved, self.target.packed) \
            + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class NeighborAdvertisement(ICMPv6Message):
    """RFC 4861 §4.4: Router, Solicited, Override flags; ``reserved`` is the other 29 bits."""

    icmp_type: ClassVar[int] = ICMPv6Type.NEIGHBOR_ADVERTISEMENT
    target: IPv6Address
    router: bool = False
    solicited: bool = False
    override: bool = False
    options: tuple[NDOption, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        _range(self.reserved, 29, "NA reserved bits")
        word = (self.router << 31) | (self.solicited << 30) | (self.override << 29) | self.reserved
        return _NS.pack(136, self.code, 0, word, self.target.packed) \
            + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class Redirect(ICMPv6Message):
    """RFC 4861 §4.5."""

    icmp_type: ClassVar[int] = ICMPv6Type.REDIRECT
    target: IPv6Address
    destination: IPv6Address
    options: tuple[NDOption, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        return _REDIRECT.pack(137, self.code, 0, self.reserved, self.target.packed,
                              self.destination.packed) + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class HomeAgentAddressDiscoveryRequest(ICMPv6Message):
    """RFC 6275 §6.5, type 144. ``reserved``: "MUST be initialized to zero by the sender and
    MUST be ignored by the receiver" -- kept, not checked."""

    icmp_type: ClassVar[int] = ICMPv6Type.HAAD_REQUEST
    identifier: int
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        return _HDR_U16x2.pack(144, self.code, 0, self.identifier, self.reserved)


@dataclass(frozen=True, slots=True)
class HomeAgentAddressDiscoveryReply(ICMPv6Message):
    """RFC 6275 §6.6, type 145: the home agents, most preferred first."""

    icmp_type: ClassVar[int] = ICMPv6Type.HAAD_REPLY
    identifier: int
    addresses: tuple[IPv6Address, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        return _HDR_U16x2.pack(145, self.code, 0, self.identifier, self.reserved) \
            + b"".join([a.packed for a in self.addresses])


@dataclass(frozen=True, slots=True)
class MobilePrefixSolicitation(ICMPv6Message):
    """RFC 6275 §6.7, type 146 (sent with a Home Address option, so its checksum covers the
    home address)."""

    icmp_type: ClassVar[int] = ICMPv6Type.MOBILE_PREFIX_SOLICITATION
    identifier: int
    options: tuple[NDOption, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        return _HDR_U16x2.pack(146, self.code, 0, self.identifier, self.reserved) \
            + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class MobilePrefixAdvertisement(ICMPv6Message):
    """RFC 6275 §6.8, type 147: M and O flags, ``reserved`` the other 14 bits; options are
    Prefix Information options with the R bit of §7.2."""

    icmp_type: ClassVar[int] = ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT
    identifier: int
    managed: bool = False
    other: bool = False
    options: tuple[NDOption, ...] = ()
    reserved: int = 0
    code: int = 0

    def _encode(self) -> bytes:
        _range(self.reserved, 14, "Mobile Prefix Advertisement reserved bits")
        word = (self.managed << 15) | (self.other << 14) | self.reserved
        return _HDR_U16x2.pack(147, self.code, 0, self.identifier, word) \
            + encode_nd_options(self.options)


@dataclass(frozen=True, slots=True)
class UnknownICMPv6(ICMPv6Message):
    """A message whose type has no decoder; ``body`` is everything after the checksum."""

    icmp_type: int
    code: int
    body: bytes = b""

    def _encode(self) -> bytes:
        if self.icmp_type in _MESSAGE_DECODERS:
            raise EncodeError(f"ICMPv6 type {self.icmp_type} has a class of its own; use it")
        return _HDR.pack(self.icmp_type, self.code, 0) + self.body


MessageDecoder: TypeAlias = Callable[[bytes, int, int, int], ICMPv6Message]
"""``decoder(data, start, end, code)`` decodes the message at ``data[start:end]`` (at least 4
octets, checksum already verified); offsets in errors are absolute."""


# --------------------------------------------------------------------------------------------
# Decoders, one per type


_make_DestinationUnreachable = maker(DestinationUnreachable)
_make_PacketTooBig = maker(PacketTooBig)
_make_TimeExceeded = maker(TimeExceeded)
_make_ParameterProblem = maker(ParameterProblem)
_make_EchoRequest = maker(EchoRequest)
_make_EchoReply = maker(EchoReply)
_make_RouterSolicitation = maker(RouterSolicitation)
_make_RouterAdvertisement = maker(RouterAdvertisement)
_make_NeighborSolicitation = maker(NeighborSolicitation)
_make_NeighborAdvertisement = maker(NeighborAdvertisement)
_make_Redirect = maker(Redirect)
_make_HomeAgentAddressDiscoveryRequest = maker(HomeAgentAddressDiscoveryRequest)
_make_HomeAgentAddressDiscoveryReply = maker(HomeAgentAddressDiscoveryReply)
_make_MobilePrefixSolicitation = maker(MobilePrefixSolicitation)
_make_MobilePrefixAdvertisement = maker(MobilePrefixAdvertisement)
_make_UnknownICMPv6 = maker(UnknownICMPv6)


def _short(start: int, end: int, need: int, name: str) -> None:
    if end - start < need:
        raise DecodeError(f"{end - start} octets, a {name.replace('_', ' ')} needs {need}",
                          field=f"icmpv6.{name}", offset=start)


def _dec_dest_unreach(data: bytes, start: int, end: int, code: int) -> DestinationUnreachable:
    _short(start, end, 8, "destination_unreachable")
    return _make_DestinationUnreachable(code, data[start + 8 : end], _HDR_U32.unpack_from(data, start)[3])


def _dec_too_big(data: bytes, start: int, end: int, code: int) -> PacketTooBig:
    _short(start, end, 8, "packet_too_big")
    return _make_PacketTooBig(_HDR_U32.unpack_from(data, start)[3], data[start + 8 : end], code)


def _dec_time_exceeded(data: bytes, start: int, end: int, code: int) -> TimeExceeded:
    _short(start, end, 8, "time_exceeded")
    return _make_TimeExceeded(code, data[start + 8 : end], _HDR_U32.unpack_from(data, start)[3])


def _dec_param_problem(data: bytes, start: int, end: int, code: int) -> ParameterProblem:
    _short(start, end, 8, "parameter_problem")
    return _make_ParameterProblem(code, _HDR_U32.unpack_from(data, start)[3], data[start + 8 : end])


def _dec_echo_request(data: bytes, start: int, end: int, code: int) -> EchoRequest:
    _short(start, end, 8, "echo_request")
    _, _, _, ident, seq = _HDR_U16x2.unpack_from(data, start)
    return _make_EchoRequest(ident, seq, data[start + 8 : end], code)


def _dec_echo_reply(data: bytes, start: int, end: int, code: int) -> EchoReply:
    _short(start, end, 8, "echo_reply")
    _, _, _, ident, seq = _HDR_U16x2.unpack_from(data, start)
    return _make_EchoReply(ident, seq, data[start + 8 : end], code)


def _dec_rs(data: bytes, start: int, end: int, code: int) -> RouterSolicitation:
    # RFC 4861 §6.1.1: "ICMP length (derived from the IP length) is 8 or more octets."
    _short(start, end, 8, "router_solicitation")
    reserved = _HDR_U32.unpack_from(data, start)[3]
    return _make_RouterSolicitation(decode_nd_options(data, start + 8, end), reserved, code)


def _dec_ra(data: bytes, start: int, end: int, code: int) -> RouterAdvertisement:
    # RFC 4861 §6.1.2: "ICMP length (derived from the IP length) is 16 or more octets."
    _short(start, end, 16, "router_advertisement")
    _, _, _, chl, flags, lifetime, reachable, retrans = _RA.unpack_from(data, start)
    return _make_RouterAdvertisement(chl, flags & 0x80 != 0, flags & 0x40 != 0, flags & 0x20 != 0,
                                   (flags >> 3) & 3, lifetime, reachable, retrans,
                                   decode_nd_options(data, start + 16, end), flags & 7, code)


def _dec_ns(data: bytes, start: int, end: int, code: int) -> NeighborSolicitation:
    # RFC 4861 §7.1.1: "ICMP length (derived from the IP length) is 24 or more octets."
    _short(start, end, 24, "neighbor_solicitation")
    _, _, _, reserved, target = _NS.unpack_from(data, start)
    return _make_NeighborSolicitation(from_packed(target), decode_nd_options(data, start + 24, end),
                                      reserved, code)


def _dec_na(data: bytes, start: int, end: int, code: int) -> NeighborAdvertisement:
    # RFC 4861 §7.1.2: "ICMP length (derived from the IP length) is 24 or more octets."
    _short(start, end, 24, "neighbor_advertisement")
    _, _, _, word, target = _NS.unpack_from(data, start)
    return _make_NeighborAdvertisement(from_packed(target), word & 0x80000000 != 0,
                                       word & 0x40000000 != 0, word & 0x20000000 != 0,
                                       decode_nd_options(data, start + 24, end), word & 0x1FFFFFFF, code)


def _dec_redirect(data: bytes, start: int, end: int, code: int) -> Redirect:
    # RFC 4861 §8.1: "ICMP length (derived from the IP length) is 40 or more octets."
    _short(start, end, 40, "redirect")
    _, _, _, reserved, target, dest = _REDIRECT.unpack_from(data, start)
    return _make_Redirect(from_packed(target), from_packed(dest), decode_nd_options(data, start + 40, end),
                          reserved, code)


def _dec_haad_request(data: bytes, start: int, end: int, code: int
                      ) -> HomeAgentAddressDiscoveryRequest:
    if end - start != 8:
        raise DecodeError(f"{end - start} octets, a HAAD request has 8",
                          field="icmpv6.haad_request", offset=start)
    _, _, _, ident, reserved = _HDR_U16x2.unpack_from(data, start)
    return _make_HomeAgentAddressDiscoveryRequest(ident, reserved, code)


def _dec_haad_reply(data: bytes, start: int, end: int, code: int) -> HomeAgentAddressDiscoveryReply:
    _short(start, end, 8, "haad_reply")
    if (end - start - 8) % 16:
        # RFC 6275 §6.6: the number of addresses is given by the remaining length.
        raise DecodeError(f"{end - start - 8} octets of addresses, not a multiple of 16",
                          field="icmpv6.haad_reply.addresses", offset=start + 8)
    _, _, _, ident, reserved = _HDR_U16x2.unpack_from(data, start)
    addresses = tuple(from_packed(data[j : j + 16]) for j in range(start + 8, end, 16))
    return _make_HomeAgentAddressDiscoveryReply(ident, addresses, reserved, code)


def _dec_mps(data: bytes, start: int, end: int, code: int) -> MobilePrefixSolicitation:
    _short(start, end, 8, "mobile_prefix_solicitation")
    _, _, _, ident, reserved = _HDR_U16x2.unpack_from(data, start)
    return _make_MobilePrefixSolicitation(ident, decode_nd_options(data, start + 8, end), reserved, code)


def _dec_mpa(data: bytes, start: int, end: int, code: int) -> MobilePrefixAdvertisement:
    _short(start, end, 8, "mobile_prefix_advertisement")
    _, _, _, ident, word = _HDR_U16x2.unpack_from(data, start)
    return _make_MobilePrefixAdvertisement(ident, word & 0x8000 != 0, word & 0x4000 != 0,
                                           decode_nd_options(data, start + 8, end), word & 0x3FFF, code)


_MESSAGE_DECODERS: dict[int, MessageDecoder] = {
    ICMPv6Type.DESTINATION_UNREACHABLE: _dec_dest_unreach,
    ICMPv6Type.PACKET_TOO_BIG: _dec_too_big,
    ICMPv6Type.TIME_EXCEEDED: _dec_time_exceeded,
    ICMPv6Type.PARAMETER_PROBLEM: _dec_param_problem,
    ICMPv6Type.ECHO_REQUEST: _dec_echo_request,
    ICMPv6Type.ECHO_REPLY: _dec_echo_reply,
    ICMPv6Type.ROUTER_SOLICITATION: _dec_rs,
    ICMPv6Type.ROUTER_ADVERTISEMENT: _dec_ra,
    ICMPv6Type.NEIGHBOR_SOLICITATION: _dec_ns,
    ICMPv6Type.NEIGHBOR_ADVERTISEMENT: _dec_na,
    ICMPv6Type.REDIRECT: _dec_redirect,
    ICMPv6Type.HAAD_REQUEST: _dec_haad_request,
    ICMPv6Type.HAAD_REPLY: _dec_haad_reply,
    ICMPv6Type.MOBILE_PREFIX_SOLICITATION: _dec_mps,
    ICMPv6Type.MOBILE_PREFIX_ADVERTISEMENT: _dec_mpa,
}


_RA_SCREENED = True
"""False once another decoder replaces the Router Advertisement's (it has its own rules)."""


def register_message(icmp_type: int, decoder: MessageDecoder) -> None:
    """Install the decoder for an ICMPv6 type (e.g. FMIPv6's type 154, RFC 5568 §6.1)."""
    global _RA_SCREENED
    _MESSAGE_DECODERS[icmp_type] = decoder
    _RA_SCREENED = _MESSAGE_DECODERS.get(ICMPv6Type.ROUTER_ADVERTISEMENT) is _dec_ra
    _RA_CACHE.clear()
    _RA_SEEN.clear()


# A router sends the same Router Advertisement every few seconds to every node on its link,
# and in the simulator thousands of nodes decode the very same octets. Decoded RAs are
# memoised by their message octets, with the pseudo-header source and destination they came
# with: a hit (same octets, same addresses) is exactly what the full path would return,
# checksum verification included, since both depend only on those. Values are immutable, so
# sharing them is safe (as with ``addr.from_packed``). Bounded, and cleared whenever a decoder
# is registered. An RA is admitted only when it comes again soon (``_RA_SEEN`` holds the
# octets of the last RAs seen once, at most ``_RA_SEEN_MAX``): an RA that does not come back,
# or only after many others (a capture of distinct RAs), costs no cache entry, whose objects
# would stay alive for the garbage collector to walk and be evicted unused.
# An RA seen once is only validated; its objects are built when the packet's payload is read.
_from_bytes = int.from_bytes
_RA_CACHE: dict[bytes, tuple[bytes, bytes, ICMPv6Message]] = {}
_RA_CACHE_MAX = 4096
_RA_SEEN: set[bytes] = set()
_RA_SEEN_MAX = 1024


def _decode_icmpv6(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
                   ) -> ICMPv6Message:
    message = _lazy_icmpv6(data, start, end, src, dst, verify, False)
    assert not isinstance(message, Deferred)
    return message


def _lazy_icmpv6(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool,
                 lazy: bool = True) -> ICMPv6Message | Deferred:
    if end - start < 4:
        raise DecodeError(f"{end - start} octets, an ICMPv6 header needs 4", field="icmpv6",
                          offset=start)
    if data[start] != 134:
        return _decode_uncached(data, start, end, src, dst, verify)
    # A Router Advertisement.
    octets = data[start:end]
    if not verify:
        src = dst = b""
    hit = _RA_CACHE.get(octets)
    if hit is not None and hit[0] == src and hit[1] == dst:
        return hit[2]
    if octets in _RA_SEEN:  # (the octets' hash was computed for the lookup above)
        ra = _decode_uncached(data, start, end, src, dst, verify)
        if len(_RA_CACHE) >= _RA_CACHE_MAX:
            _RA_CACHE.clear()
        _RA_CACHE[octets] = (src, dst, ra)
        return ra
    if len(_RA_SEEN) >= _RA_SEEN_MAX:
        _RA_SEEN.clear()
    _RA_SEEN.add(octets)
    # Seen once: a valid RA is built when read (if it comes again soon, it is cached).
    # Valid means here: every option of a type in _SCREEN_LENGTH with the Length it requires
    # (RFC 4861 §4.6: none of Length 0, none overrunning; RFC 4140 §5: a MAP option's Dist
    # is not 0), and the checksum verifies. Anything else is decoded at once (errors found).
    # (Python 3.11 specialises + - * and comparisons of small ints, not << | &: the tests
    # below are written with the former.)
    if lazy and _RA_SCREENED and end - start >= 16 and (end - start) % 8 == 0:
        lengths = _SCREEN_LENGTH
        i = start + 16
        while i < end:  # i - start stays a multiple of 8, so i + 2 < end
            t = data[i]
            n = data[i + 1]
            # Length 0, or one the type must not have (-1: a type with other rules; 0: any
            # Length), or a MAP option with Dist 0.
            if not n or (lengths[t] and lengths[t] != n) or (t == 23 and data[i + 2] < 16):
                break
            i += 8 * n
        else:
            # i > end: the last option overran. Then checksum.verify, inlined (the length
            # is even; Upper-Layer Packet Length and Next Header added as one small number).
            if i == end and (not verify or (
                    _from_bytes(src + dst + octets) + (end - start + 58)) % 0xFFFF == 0):
                return DEFER
    return _decode_uncached(data, start, end, src, dst, verify)


def _decode_uncached(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
                     ) -> ICMPv6Message:
    # RFC 4443 §2.3 checksum; RFC 4861 §6.1 and §7.1.1-§7.1.2: a message whose "ICMP
    # Checksum is valid" only is processed.
    if verify and not ck.verify(src, dst, _ICMP, data[start:end]):
        raise ChecksumError(f"checksum 0x{data[start + 2]:02x}{data[start + 3]:02x} does not "
                            "verify", field="icmpv6.checksum", offset=start + 2)
    t = data[start]
    dec = _MESSAGE_DECODERS.get(t)
    if dec is None:
        return _make_UnknownICMPv6(t, data[start + 1], data[start + 4 : end])
    return dec(data, start, end, data[start + 1])


def decode_message(data: bytes, src: IPv6Address, dst: IPv6Address, *, verify: bool = True
                   ) -> ICMPv6Message:
    """Decode a bare ICMPv6 message; ``src``/``dst`` are the pseudo-header (effective)
    addresses its checksum is verified against."""
    if not isinstance(data, bytes):
        data = bytes(data)
    return _decode_icmpv6(data, 0, len(data), src.packed, dst.packed, verify)


register_payload(_ICMP, _decode_icmpv6, _lazy_icmpv6, _decode_uncached)
