"""The Mobility Header (RFC 6275 §6.1-§6.2): Binding Updates and everything around them.

Theory of operation
-------------------
Every mobility message is a frozen value whose class names its MH Type (``mh_type``) and whose
fields are the message's own; Header Len, padding and the checksum are derived by the encoder,
never stored. Lifetimes and the Binding Refresh Advice interval are stored in seconds; on the
wire they count 4-second units (RFC 6275 §6.1.7, §6.1.8, §6.2.4), so the encoder refuses a value
that is not a multiple of 4 or does not fit in 16 bits. Code points are ``IntEnum``/``IntFlag``;
an unknown status keeps its int, reserved flag bits are kept in the flags word, and an unknown
MH Type decodes to :class:`UnknownMobilityMessage` with its message data kept raw (RFC 6275
§9.2: the engine answers it with a Binding Error, status 2; this module only decodes).

Mobility options (RFC 6275 §6.2) follow the rule of IPv6 options (see ``ipv6.encode_options``):
given no Pad1/PadN, the encoder inserts padding so each option meets its alignment (``xn+y``)
and pads the message to a multiple of 8 octets; given any padding option, the options go out
exactly as listed and only the tail is padded. The decoder omits padding exactly when it equals
what the encoder would insert and keeps it otherwise, so ``decode(encode(v)) == v`` and
``encode(decode(b)) == b``. One layout cannot be written either way: a known option out of its
alignment in an area without any padding; the decoder keeps such an option as an
:class:`UnknownMobilityOption` (its raw type and data), so its octets still round-trip.

The checksum (RFC 6275 §6.1.1) covers the RFC 8200 §8.1 pseudo-header whose addresses are the
effective ones (Home Address option as source, Type 2 routing header as destination);
``ipv6.py`` passes those as ``src``/``dst`` to :meth:`encode_payload` and to the decoder
registered for Next Header 135.

Field names follow RFC 6275; Payload Proto and the reserved fields are kept (defaults 59 and 0)
so any valid octets round-trip. RFC 6275 §9.2 rules that need an answer rather than a decode
error (Payload Proto other than 59, unknown MH Type) are left to the engines; a Header Len too
small for the MH Type is a :class:`DecodeError` at the Header Len octet (the pointer RFC 6275
§9.2 asks an ICMP Parameter Problem to carry).

Implements RFC 6275 §6.1-§6.2 (= RFC 3775 §6.1-§6.2), the M flag of RFC 4140 §4.1, the R flag
and status codes 140-143 of RFC 3963 §4.1-§4.2 and the P flag of RFC 5213 §8.1-§8.2; the MH
Types of RFC 5568 (FBU 8, FBack 9, HI 14, HAck 15) and RFC 4068 (FNA 10) are named here and
decoded by :mod:`hmipv6.wire.fmipv6`, which plugs in through the two extension points below:
:func:`register_message` (a decoder for an MH Type) and :func:`register_option` (a class derived
from :class:`ExtensionMobilityOption` and its decoder). Until a module registers a type, it
decodes as :class:`UnknownMobilityMessage` / :class:`UnknownMobilityOption`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from ipaddress import IPv6Address
from typing import ClassVar, Protocol, TypeAlias

from hmipv6.errors import ChecksumError, DecodeError, EncodeError, LocalProtocolError
from hmipv6.wire import checksum as ck
from hmipv6.wire._fast import maker
from hmipv6.wire.addr import from_packed
from hmipv6.wire.ipv6 import DEFER, Deferred, NextHeader, Pad1, PadN, Payload, register_payload

__all__ = [
    "MOBILITY_MESSAGES",
    "AlternateCareOfAddress",
    "BAFlags",
    "BAStatus",
    "BEStatus",
    "BUFlags",
    "BindingAcknowledgement",
    "BindingAuthorizationData",
    "BindingError",
    "BindingRefreshAdvice",
    "BindingRefreshRequest",
    "BindingUpdate",
    "CareOfTest",
    "CareOfTestInit",
    "ExtensionMobilityOption",
    "HomeTest",
    "HomeTestInit",
    "MHType",
    "MobilityMessage",
    "MobilityOption",
    "MobilityOptionType",
    "NonceIndices",
    "Pad1",
    "PadN",
    "UnknownMobilityMessage",
    "UnknownMobilityOption",
    "decode_mobility_options",
    "encode_mobility_options",
    "frame_mobility_header",
    "register_message",
    "register_option",
    "to_4s_units",
]

IPPROTO_NONE = NextHeader.NO_NEXT_HEADER
MAX_LIFETIME = 0xFFFF * 4
"""The largest lifetime (seconds) a 16-bit count of 4-second units can carry."""


# --------------------------------------------------------------------------------------------
# Code points


class MHType(IntEnum):
    """Mobility Header Type (RFC 6275 §6.1.2-§6.1.9; 8 and 9 from RFC 5568 §6.2.2-§6.2.3)."""

    BRR = 0
    """Binding Refresh Request."""
    HOTI = 1
    """Home Test Init."""
    COTI = 2
    """Care-of Test Init."""
    HOT = 3
    """Home Test."""
    COT = 4
    """Care-of Test."""
    BU = 5
    """Binding Update."""
    BA = 6
    """Binding Acknowledgement."""
    BE = 7
    """Binding Error."""
    FBU = 8
    """Fast Binding Update (RFC 5568 §6.2.2; class in :mod:`hmipv6.wire.fmipv6`)."""
    FBACK = 9
    """Fast Binding Acknowledgment (RFC 5568 §6.2.3; class in :mod:`hmipv6.wire.fmipv6`)."""
    FNA = 10
    """Fast Neighbor Advertisement (RFC 4068 §6.3.3, deprecated by RFC 5568 §8)."""
    HI = 14
    """Handover Initiate (RFC 5568 §6.2.1.1, §11)."""
    HACK = 15
    """Handover Acknowledge (RFC 5568 §6.2.1.2, §11)."""


class MobilityOptionType(IntEnum):
    """Mobility option types (RFC 6275 §6.2.2-§6.2.7)."""

    PAD1 = 0
    PADN = 1
    BINDING_REFRESH_ADVICE = 2
    ALTERNATE_CARE_OF_ADDRESS = 3
    NONCE_INDICES = 4
    BINDING_AUTHORIZATION_DATA = 5
    MH_LINK_LAYER_ADDRESS = 7
    """RFC 5568 §6.4.4 (class in :mod:`hmipv6.wire.fmipv6`)."""
    BINDING_AUTHORIZATION_DATA_FMIPV6 = 21
    """RFC 5568 §6.4.5 (class in :mod:`hmipv6.wire.fmipv6`)."""
    MH_IP_ADDRESS_PREFIX = 34
    """RFC 5568 §6.4.2 and §11 (class in :mod:`hmipv6.wire.fmipv6`)."""


class BUFlags(IntFlag):
    """The Binding Update flags word (16 bits; reserved bits are kept as they came)."""

    A = 0x8000
    """Acknowledge (RFC 6275 §6.1.7)."""
    H = 0x4000
    """Home Registration."""
    L = 0x2000
    """Link-Local Address Compatibility."""
    K = 0x1000
    """Key Management Mobility Capability."""
    M = 0x0800
    """MAP Registration (RFC 4140 §4.1)."""
    R = 0x0400
    """Mobile Router (RFC 3963 §4.1)."""
    P = 0x0200
    """Proxy Registration (RFC 5213 §8.1)."""

    def letters(self) -> str:
        """The set flags as letters in wire order, e.g. ``"AHM"``."""
        return "".join(ch for bit, ch in _BU_LETTERS if self & bit)

    @classmethod
    def from_letters(cls, text: str) -> BUFlags:
        """The flags named by ``text`` (e.g. ``"AM"``); case-insensitive."""
        return cls(_from_letters(text, _BU_LETTERS, "Binding Update"))


class BAFlags(IntFlag):
    """The Binding Acknowledgement flags octet (8 bits; reserved bits are kept)."""

    K = 0x80
    """Key Management Mobility Capability (RFC 6275 §6.1.8)."""
    R = 0x40
    """Mobile Router (RFC 3963 §4.2)."""
    P = 0x20
    """Proxy Registration (RFC 5213 §8.2)."""

    def letters(self) -> str:
        """The set flags as letters in wire order, e.g. ``"K"``."""
        return "".join(ch for bit, ch in _BA_LETTERS if self & bit)

    @classmethod
    def from_letters(cls, text: str) -> BAFlags:
        """The flags named by ``text`` (e.g. ``"KR"``); case-insensitive."""
        return cls(_from_letters(text, _BA_LETTERS, "Binding Acknowledgement"))


_BU_LETTERS = tuple((int(f), f.name or "") for f in BUFlags)
_BA_LETTERS = tuple((int(f), f.name or "") for f in BAFlags)


def _from_letters(text: str, table: tuple[tuple[int, str], ...], what: str) -> int:
    by_letter = {ch: bit for bit, ch in table}
    value = 0
    for ch in text.upper():
        bit = by_letter.get(ch)
        if bit is None:
            raise LocalProtocolError(f"{ch!r} is not a {what} flag (known: "
                                     f"{''.join(by_letter)})")
        value |= bit
    return value


class BAStatus(IntEnum):
    """Binding Acknowledgement status (RFC 6275 §6.1.8; 140-143 from RFC 3963 §4.2).
    Values below 128 mean the Binding Update was accepted."""

    ACCEPTED = 0
    ACCEPTED_PREFIX_DISCOVERY_NECESSARY = 1
    REASON_UNSPECIFIED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INSUFFICIENT_RESOURCES = 130
    HOME_REGISTRATION_NOT_SUPPORTED = 131
    NOT_HOME_SUBNET = 132
    NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE = 133
    DUPLICATE_ADDRESS_DETECTION_FAILED = 134
    SEQUENCE_NUMBER_OUT_OF_WINDOW = 135
    EXPIRED_HOME_NONCE_INDEX = 136
    EXPIRED_CARE_OF_NONCE_INDEX = 137
    EXPIRED_NONCES = 138
    REGISTRATION_TYPE_CHANGE_DISALLOWED = 139
    MOBILE_ROUTER_OPERATION_NOT_PERMITTED = 140
    INVALID_PREFIX = 141
    NOT_AUTHORIZED_FOR_PREFIX = 142
    FORWARDING_SETUP_FAILED = 143


class BEStatus(IntEnum):
    """Binding Error status (RFC 6275 §6.1.9)."""

    UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION = 1
    UNRECOGNIZED_MH_TYPE = 2


_BA_STATUS: dict[int, BAStatus] = {int(s): s for s in BAStatus}
_BE_STATUS: dict[int, BEStatus] = {int(s): s for s in BEStatus}
_BU_FLAGS: dict[int, BUFlags] = {}
_BA_FLAGS: dict[int, BAFlags] = {int(v): BAFlags(v) for v in range(256)}


def _bu_flags(word: int) -> BUFlags:
    # Constructing an IntFlag costs more than decoding the rest of the message; at most 65536
    # distinct words exist, so the cache needs no bound.
    f = _BU_FLAGS.get(word)
    if f is None:
        f = _BU_FLAGS[word] = BUFlags(word)
    return f


# --------------------------------------------------------------------------------------------
# Mobility options (RFC 6275 §6.2). Pad1 and PadN are the IPv6 option classes: same type
# codes, same encodings (RFC 6275 §6.2.2-§6.2.3).


@dataclass(frozen=True, slots=True)
class BindingRefreshAdvice:
    """RFC 6275 §6.2.4: type 2, length 2, alignment 2n; only in a Binding Acknowledgement from
    a home agent. ``refresh_interval`` is in seconds (a multiple of 4 on the wire)."""

    option_type: ClassVar[int] = 2
    refresh_interval: int


@dataclass(frozen=True, slots=True)
class AlternateCareOfAddress:
    """RFC 6275 §6.2.5: type 3, length 16, alignment 8n+6."""

    option_type: ClassVar[int] = 3
    address: IPv6Address


@dataclass(frozen=True, slots=True)
class NonceIndices:
    """RFC 6275 §6.2.6: type 4, length 4, alignment 2n."""

    option_type: ClassVar[int] = 4
    home_nonce_index: int
    care_of_nonce_index: int


@dataclass(frozen=True, slots=True)
class BindingAuthorizationData:
    """RFC 6275 §6.2.7: type 5, alignment 8n+2. The authenticator is 12 octets (the first 96
    bits of the HMAC-SHA1 of §5.2.6); other lengths are kept, for other key schemes."""

    option_type: ClassVar[int] = 5
    authenticator: bytes


@dataclass(frozen=True, slots=True)
class UnknownMobilityOption:
    """Any other option, kept raw. RFC 6275 §6.2.1: receivers MUST skip options they do not
    recognise. (Also a known type found out of its alignment with no padding to show it.)"""

    option_type: int
    data: bytes


class ExtensionMobilityOption:
    """Base of mobility option classes defined in other modules (FMIPv6, RFC 5568 §6.4):
    ``option_type`` and ``alignment`` (``(x, y)`` for ``xn+y``, or None) are class-level, and
    :meth:`option_data` gives the octets after Type and Length. Install the class with
    :func:`register_option`."""

    __slots__ = ()
    option_type: ClassVar[int]
    alignment: ClassVar[tuple[int, int] | None] = None

    def option_data(self) -> bytes:
        """The option's data (Option Length is derived from it)."""
        raise NotImplementedError


MobilityOption: TypeAlias = (
    Pad1
    | PadN
    | BindingRefreshAdvice
    | AlternateCareOfAddress
    | NonceIndices
    | BindingAuthorizationData
    | UnknownMobilityOption
    | ExtensionMobilityOption
)

OptionDecoder: TypeAlias = Callable[[bytes, int, int], ExtensionMobilityOption]
"""``decoder(data, i, length)``: the option whose Type octet is ``data[i]`` and whose data is
``data[i + 2 : i + 2 + length]`` (already checked to fit); raises DecodeError with absolute
offsets (``field`` beginning ``mobility.option.``)."""

_EXT_OPTIONS: dict[int, OptionDecoder] = {}

_ALIGN: dict[type, tuple[int, int]] = {
    BindingRefreshAdvice: (2, 0),
    AlternateCareOfAddress: (8, 6),
    NonceIndices: (2, 0),
    BindingAuthorizationData: (8, 2),
}
_ALIGN_BY_TYPE: dict[int, tuple[int, int]] = {2: (2, 0), 3: (8, 6), 4: (2, 0), 5: (8, 2)}


_BUILTIN_OPTIONS = frozenset(range(6))  # Pad1 .. Binding Authorization Data (RFC 6275 §6.2)


def register_option(cls: type[ExtensionMobilityOption], decoder: OptionDecoder) -> None:
    """Install an option class defined elsewhere (e.g. RFC 5568's MH-LLA option) and its
    decoder; its ``alignment`` then governs padding and the misalignment rule as for the
    options of RFC 6275."""
    if cls.option_type in _BUILTIN_OPTIONS:
        raise ValueError(f"mobility option type {cls.option_type} is built in")
    _EXT_OPTIONS[cls.option_type] = decoder
    if cls.alignment is not None:
        _ALIGN[cls] = cls.alignment
        _ALIGN_BY_TYPE[cls.option_type] = cls.alignment


# Padding of n octets (n < 8): Pad1 for one, PadN for more (RFC 6275 §6.2.2-§6.2.3).
_PADS = (b"", b"\x00", *(bytes((1, n - 2)) + bytes(n - 2) for n in range(2, 8)))

_U16 = struct.Struct("!H")
_U16x2 = struct.Struct("!HH")


def _option_bytes(opt: MobilityOption) -> bytes:
    if isinstance(opt, AlternateCareOfAddress):
        return b"\x03\x10" + opt.address.packed
    if isinstance(opt, BindingAuthorizationData):
        if len(opt.authenticator) > 255:
            raise EncodeError("Binding Authorization Data longer than 255 octets")
        return bytes((5, len(opt.authenticator))) + opt.authenticator
    if isinstance(opt, NonceIndices):
        try:
            return b"\x04\x04" + _U16x2.pack(opt.home_nonce_index, opt.care_of_nonce_index)
        except struct.error:
            raise EncodeError("nonce index out of 0..65535") from None
    if isinstance(opt, BindingRefreshAdvice):
        return b"\x02\x02" + _U16.pack(_units("refresh_interval", opt.refresh_interval))
    if isinstance(opt, PadN):
        if len(opt.data) > 255:
            raise EncodeError("PadN longer than 257 octets")
        return bytes((1, len(opt.data))) + opt.data
    if isinstance(opt, Pad1):
        return b"\x00"
    if isinstance(opt, ExtensionMobilityOption):
        data = opt.option_data()
        if len(data) > 255:
            raise EncodeError(f"{type(opt).__name__} data of {len(data)} octets exceeds 255")
        return bytes((opt.option_type, len(data))) + data
    if not 0 <= opt.option_type <= 255 or len(opt.data) > 255:
        raise EncodeError(f"option type {opt.option_type} or length {len(opt.data)} out of range")
    return bytes((opt.option_type, len(opt.data))) + opt.data


def _units(name: str, seconds: int) -> int:
    """RFC 6275 §6.1.7, §6.2.4: a 16-bit count of 4-second units."""
    if seconds % 4 or not 0 <= seconds <= MAX_LIFETIME:
        raise EncodeError(f"{name} {seconds} s is not a multiple of 4 in 0..{MAX_LIFETIME}")
    return seconds >> 2


def _encode_options(options: tuple[MobilityOption, ...], prefix: int) -> bytes:
    """The options area of a message whose options start ``prefix`` octets into the Mobility
    Header, padded so that the whole header is a multiple of 8 octets (RFC 6275 §6.1.1)."""
    if not options:
        return _PADS[-prefix % 8]
    out = bytearray()
    explicit = any(isinstance(o, Pad1 | PadN) for o in options)
    for opt in options:
        if not explicit:
            align = _ALIGN.get(type(opt))
            if align is not None:
                x, y = align
                out += _PADS[(y - prefix - len(out)) % x]
        out += _option_bytes(opt)
    out += _PADS[-(prefix + len(out)) % 8]
    return bytes(out)


def _decode_options(data: bytes, mh: int, start: int, end: int) -> tuple[MobilityOption, ...]:
    """Options in ``data[start:end]``; ``mh`` is where the Mobility Header starts."""
    n = end - start
    if n < 8 and data[start:end] == _PADS[n]:
        # Fast path: no options, just the padding the encoder would add.
        return ()
    opts: list[MobilityOption] = []
    padded = False
    misaligned: list[tuple[int, int, bytes]] = []
    i = start
    while i < end:
        t = data[i]
        if t == 0:
            opts.append(Pad1())
            padded = True
            i += 1
            continue
        if i + 2 > end:
            raise DecodeError("option length missing", field="mobility.option", offset=i)
        olen = data[i + 1]
        body_end = i + 2 + olen
        if body_end > end:
            raise DecodeError(f"option of length {olen} overruns the Mobility Header",
                              field="mobility.option.length", offset=i + 1)
        body = data[i + 2 : body_end]
        opt: MobilityOption
        if t == 1:
            opt = PadN(body)
            padded = True
        elif t == 3:
            if olen != 16:
                raise _bad_length("alternate_care_of_address", olen, 16, i)
            opt = AlternateCareOfAddress(from_packed(body))
        elif t == 5:
            opt = BindingAuthorizationData(body)
        elif t == 4:
            if olen != 4:
                raise _bad_length("nonce_indices", olen, 4, i)
            opt = NonceIndices(*_U16x2.unpack(body))
        elif t == 2:
            if olen != 2:
                raise _bad_length("binding_refresh_advice", olen, 2, i)
            opt = BindingRefreshAdvice(_U16.unpack(body)[0] * 4)
        else:
            ext = _EXT_OPTIONS.get(t)
            opt = UnknownMobilityOption(t, body) if ext is None else ext(data, i, olen)
        if t in _ALIGN_BY_TYPE:
            x, y = _ALIGN_BY_TYPE[t]
            if (i - mh) % x != y:
                misaligned.append((len(opts), t, body))
        opts.append(opt)
        i = body_end
    if padded:
        bare = tuple(o for o in opts if not isinstance(o, Pad1 | PadN))
        if _encode_options(bare, start - mh) == data[start:end]:
            return bare
        # Kept with its padding, the list is written back exactly as it came.
        return tuple(opts)
    for k, t, body in misaligned:
        # Out of alignment and no padding anywhere: no value of the known class encodes to
        # these octets, so keep them raw (see the module docstring).
        opts[k] = UnknownMobilityOption(t, body)
    return tuple(opts)


def _bad_length(name: str, got: int, want: int, at: int) -> DecodeError:
    return DecodeError(f"option length {got}, expected {want}",
                       field=f"mobility.option.{name}.length", offset=at + 1)


# --------------------------------------------------------------------------------------------
# Messages (RFC 6275 §6.1). Each class knows its MH Type and the offset of its options.

_MH = struct.Struct("!BBBBH")
_R16 = struct.Struct("!H")
_R16_COOKIE = struct.Struct("!H8s")
_TEST = struct.Struct("!H8s8s")
_BU = struct.Struct("!HHH")
_BA = struct.Struct("!BBHH")
_BE = struct.Struct("!BB16s")
_MAX_MH = 8 * 256


def _frame(payload_proto: int, mh_type: int, reserved: int, body: bytes, src: bytes, dst: bytes
           ) -> bytes:
    """The whole Mobility Header around ``body`` (message data padded to 8n+2 octets)."""
    total = 6 + len(body)
    if total > _MAX_MH:
        raise EncodeError(f"Mobility Header of {total} octets exceeds Header Len 255")
    if not (0 <= payload_proto <= 255 and 0 <= reserved <= 255):
        raise EncodeError("Payload Proto or reserved octet out of 0..255")
    head = _MH.pack(payload_proto, total // 8 - 1, mh_type, reserved, 0)
    # RFC 6275 §6.1.1: checksum over the pseudo-header (Next Header 135) and the whole MH with
    # the checksum field zero.
    c = ck.checksum(src, dst, NextHeader.MOBILITY, head + body)
    return head[:4] + c.to_bytes(2, "big") + body


def _cookie(name: str, value: bytes) -> bytes:
    if len(value) != 8:
        raise EncodeError(f"{name} must be 8 octets, not {len(value)}")
    return value


def _u16(name: str, value: int) -> int:
    if not 0 <= value <= 0xFFFF:
        raise EncodeError(f"{name} {value} out of 0..65535")
    return value


@dataclass(frozen=True, slots=True)
class BindingRefreshRequest:
    """RFC 6275 §6.1.2: asks the mobile node to update its binding."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.BRR
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        body = _R16.pack(_u16("reserved", self.reserved)) + _encode_options(self.options, 8)
        return _frame(self.payload_proto, MHType.BRR, self.header_reserved, body, src, dst)


@dataclass(frozen=True, slots=True)
class HomeTestInit:
    """RFC 6275 §6.1.3: starts return routability for the home address."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.HOTI
    cookie: bytes
    """Home Init Cookie (8 octets)."""
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        body = (_R16.pack(_u16("reserved", self.reserved)) + _cookie("cookie", self.cookie)
                + _encode_options(self.options, 16))
        return _frame(self.payload_proto, MHType.HOTI, self.header_reserved, body, src, dst)


@dataclass(frozen=True, slots=True)
class CareOfTestInit:
    """RFC 6275 §6.1.4: starts return routability for the care-of address."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.COTI
    cookie: bytes
    """Care-of Init Cookie (8 octets)."""
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        body = (_R16.pack(_u16("reserved", self.reserved)) + _cookie("cookie", self.cookie)
                + _encode_options(self.options, 16))
        return _frame(self.payload_proto, MHType.COTI, self.header_reserved, body, src, dst)


@dataclass(frozen=True, slots=True)
class HomeTest:
    """RFC 6275 §6.1.5: the correspondent's answer to a Home Test Init."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.HOT
    home_nonce_index: int
    cookie: bytes
    """Home Init Cookie echoed from the Home Test Init (8 octets)."""
    keygen_token: bytes
    """Home Keygen Token (8 octets)."""
    options: tuple[MobilityOption, ...] = ()
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        body = (_TEST.pack(_u16("home_nonce_index", self.home_nonce_index),
                           _cookie("cookie", self.cookie),
                           _cookie("keygen_token", self.keygen_token))
                + _encode_options(self.options, 24))
        return _frame(self.payload_proto, MHType.HOT, self.header_reserved, body, src, dst)


@dataclass(frozen=True, slots=True)
class CareOfTest:
    """RFC 6275 §6.1.6: the correspondent's answer to a Care-of Test Init."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.COT
    care_of_nonce_index: int
    cookie: bytes
    """Care-of Init Cookie echoed from the Care-of Test Init (8 octets)."""
    keygen_token: bytes
    """Care-of Keygen Token (8 octets)."""
    options: tuple[MobilityOption, ...] = ()
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        body = (_TEST.pack(_u16("care_of_nonce_index", self.care_of_nonce_index),
                           _cookie("cookie", self.cookie),
                           _cookie("keygen_token", self.keygen_token))
                + _encode_options(self.options, 24))
        return _frame(self.payload_proto, MHType.COT, self.header_reserved, body, src, dst)


@dataclass(frozen=True, slots=True)
class BindingUpdate:
    """RFC 6275 §6.1.7; with M set (RFC 4140 §4.1) a local Binding Update to a MAP."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.BU
    sequence: int
    flags: BUFlags
    """The whole 16-bit flags word, reserved bits included."""
    lifetime: int
    """Requested lifetime in seconds (a multiple of 4; 0 asks for deletion)."""
    options: tuple[MobilityOption, ...] = ()
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        return binding_update_octets(MHType.BU, self, src, dst)


@dataclass(frozen=True, slots=True)
class BindingAcknowledgement:
    """RFC 6275 §6.1.8. ``status`` below 128 means accepted."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.BA
    status: BAStatus | int
    flags: BAFlags
    """The whole flags octet (K, R, P and the reserved bits)."""
    sequence: int
    lifetime: int
    """Granted lifetime in seconds (a multiple of 4)."""
    options: tuple[MobilityOption, ...] = ()
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    @property
    def accepted(self) -> bool:
        """RFC 6275 §6.1.8: values less than 128 indicate that the BU was accepted."""
        return self.status < 128

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        return binding_acknowledgement_octets(MHType.BA, self, src, dst)


@dataclass(frozen=True, slots=True)
class BindingError:
    """RFC 6275 §6.1.9. ``home_address`` is the HAO address that caused it, or ``::``."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: ClassVar[int] = MHType.BE
    status: BEStatus | int
    home_address: IPv6Address
    options: tuple[MobilityOption, ...] = ()
    reserved: int = 0
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        if not (0 <= self.status <= 255 and 0 <= self.reserved <= 255):
            raise EncodeError(f"status {self.status} or reserved {self.reserved} out of 0..255")
        body = (_BE.pack(self.status, self.reserved, self.home_address.packed)
                + _encode_options(self.options, 24))
        return _frame(self.payload_proto, MHType.BE, self.header_reserved, body, src, dst)


@dataclass(frozen=True, slots=True)
class UnknownMobilityMessage:
    """A message of an MH Type this module does not decode; ``data`` is its message data
    (everything after the checksum, options included), so ``6 + len(data)`` is a multiple of
    8. RFC 6275 §9.2: the receiver discards it and answers with a Binding Error, status 2."""

    next_header: ClassVar[int] = NextHeader.MOBILITY
    mh_type: int
    data: bytes
    payload_proto: int = IPPROTO_NONE
    header_reserved: int = 0

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        if (6 + len(self.data)) % 8:
            raise EncodeError(f"message data of {len(self.data)} octets does not make the "
                              "Mobility Header a multiple of 8 octets")
        if not 0 <= self.mh_type <= 255:
            raise EncodeError(f"MH Type {self.mh_type} out of 0..255")
        return _frame(self.payload_proto, self.mh_type, self.header_reserved, self.data, src, dst)


MobilityMessage: TypeAlias = (
    BindingRefreshRequest
    | HomeTestInit
    | CareOfTestInit
    | HomeTest
    | CareOfTest
    | BindingUpdate
    | BindingAcknowledgement
    | BindingError
    | UnknownMobilityMessage
)

MOBILITY_MESSAGES: dict[int, type[MobilityMessage]] = {
    MHType.BRR: BindingRefreshRequest,
    MHType.HOTI: HomeTestInit,
    MHType.COTI: CareOfTestInit,
    MHType.HOT: HomeTest,
    MHType.COT: CareOfTest,
    MHType.BU: BindingUpdate,
    MHType.BA: BindingAcknowledgement,
    MHType.BE: BindingError,
}
"""MH Type -> message class for the types this module decodes."""


class _BindingUpdateLike(Protocol):
    @property
    def sequence(self) -> int: ...
    @property
    def flags(self) -> BUFlags: ...
    @property
    def lifetime(self) -> int: ...
    @property
    def options(self) -> tuple[MobilityOption, ...]: ...
    @property
    def payload_proto(self) -> int: ...
    @property
    def header_reserved(self) -> int: ...


class _BindingAcknowledgementLike(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def flags(self) -> BAFlags: ...
    @property
    def sequence(self) -> int: ...
    @property
    def lifetime(self) -> int: ...
    @property
    def options(self) -> tuple[MobilityOption, ...]: ...
    @property
    def payload_proto(self) -> int: ...
    @property
    def header_reserved(self) -> int: ...


def binding_update_octets(mh_type: int, bu: _BindingUpdateLike, src: bytes, dst: bytes) -> bytes:
    """The Mobility Header of a Binding Update (RFC 6275 §6.1.7) or of a message with the same
    layout under another MH Type (the Fast Binding Update, RFC 5568 §6.2.3)."""
    try:
        fixed = _BU.pack(bu.sequence, bu.flags, _units("lifetime", bu.lifetime))
    except struct.error:
        raise EncodeError(f"sequence {bu.sequence} or flags {int(bu.flags):#x} "
                          "out of 0..65535") from None
    body = fixed + _encode_options(bu.options, 12)
    return _frame(bu.payload_proto, mh_type, bu.header_reserved, body, src, dst)


def binding_acknowledgement_octets(mh_type: int, ba: _BindingAcknowledgementLike, src: bytes,
                                   dst: bytes) -> bytes:
    """The Mobility Header of a Binding Acknowledgement (RFC 6275 §6.1.8) or of a message with
    the same layout under another MH Type (the Fast Binding Acknowledgment, RFC 5568 §6.2.3)."""
    try:
        fixed = _BA.pack(ba.status, ba.flags, ba.sequence, _units("lifetime", ba.lifetime))
    except struct.error:
        raise EncodeError(f"status {ba.status}, flags {int(ba.flags):#x} or sequence "
                          f"{ba.sequence} out of range") from None
    body = fixed + _encode_options(ba.options, 12)
    return _frame(ba.payload_proto, mh_type, ba.header_reserved, body, src, dst)


# --------------------------------------------------------------------------------------------
# Decoding

_NO_OPTIONS_BU_TAIL = _PADS[4]
_from_bytes = int.from_bytes
_make_bu = maker(BindingUpdate)
_make_ba = maker(BindingAcknowledgement)


MessageDecoder: TypeAlias = Callable[[bytes, int, int, int, int], Payload]
"""``decoder(data, start, end, payload_proto, header_reserved)`` decodes the Mobility Header
at ``data[start:end]`` (Header Len and checksum already checked, so ``end - start`` is a
multiple of 8, at least 8); raises DecodeError with absolute offsets."""

_EXT_MESSAGES: dict[int, MessageDecoder] = {}


def register_message(mh_type: int, decoder: MessageDecoder) -> None:
    """Install the decoder for an MH Type this module does not decode (types 0-7 are built
    in), e.g. RFC 5568's FBU (8) and HI (14)."""
    if mh_type in MOBILITY_MESSAGES:
        raise ValueError(f"MH Type {mh_type} is built in")
    _EXT_MESSAGES[mh_type] = decoder


# Building blocks for message classes defined in other modules (same rules as the classes
# here: RFC 6275 §6.1.1 framing and checksum, §6.2 option padding, 4-second units).
frame_mobility_header = _frame
encode_mobility_options = _encode_options
decode_mobility_options = _decode_options
to_4s_units = _units


def _decode_mobility(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
                     ) -> MobilityMessage | Payload:
    n = end - start
    if n < 8:
        raise DecodeError(f"{n} octets, a Mobility Header needs at least 8", field="mobility",
                          offset=start)
    proto, hlen, mht, hres, csum = _MH.unpack_from(data, start)
    # RFC 6275 §6.1.1: the length is Header Len + 1 units of 8 octets; the MH is the last
    # header, so it ends where the IPv6 payload ends.
    if (hlen + 1) * 8 != n:
        raise DecodeError(f"Header Len {hlen} means {(hlen + 1) * 8} octets but {n} are present",
                          field="mobility.header_len", offset=start + 1)
    if verify and not ck.verify(src, dst, NextHeader.MOBILITY, data[start:end]):
        # RFC 6275 §9.2: an invalid checksum MUST make the node silently discard the message.
        raise ChecksumError(f"checksum 0x{csum:04x} does not verify", field="mobility.checksum",
                            offset=start + 4)
    d = start + 6
    if mht == 5:
        if n < 16:
            raise _too_short("Binding Update", hlen, start)
        if n == 16 and data[start + 12 : end] == _NO_OPTIONS_BU_TAIL:
            opts: tuple[MobilityOption, ...] = ()
        else:
            opts = _decode_options(data, start, start + 12, end)
        return _binding_update(data, d, opts, proto, hres)
    if mht == 6:
        if n < 16:
            raise _too_short("Binding Acknowledgement", hlen, start)
        if n == 16 and data[start + 12 : end] == _NO_OPTIONS_BU_TAIL:
            opts = ()
        else:
            opts = _decode_options(data, start, start + 12, end)
        return _binding_acknowledgement(data, d, opts, proto, hres)
    if mht == 0:
        (res,) = _R16.unpack_from(data, d)
        return BindingRefreshRequest(_decode_options(data, start, start + 8, end), res, proto,
                                     hres)
    if mht == 1 or mht == 2:
        if n < 16:
            raise _too_short("Home/Care-of Test Init", hlen, start)
        res, cookie = _R16_COOKIE.unpack_from(data, d)
        opts = _decode_options(data, start, start + 16, end)
        cls = HomeTestInit if mht == 1 else CareOfTestInit
        return cls(cookie, opts, res, proto, hres)
    if mht == 3 or mht == 4:
        if n < 24:
            raise _too_short("Home/Care-of Test", hlen, start)
        index, cookie, token = _TEST.unpack_from(data, d)
        opts = _decode_options(data, start, start + 24, end)
        tcls = HomeTest if mht == 3 else CareOfTest
        return tcls(index, cookie, token, opts, proto, hres)
    if mht == 7:
        if n < 24:
            raise _too_short("Binding Error", hlen, start)
        status, res, hoa = _BE.unpack_from(data, d)
        opts = _decode_options(data, start, start + 24, end)
        return BindingError(_BE_STATUS.get(status, status), from_packed(hoa), opts, res, proto,
                            hres)
    ext = _EXT_MESSAGES.get(mht)
    if ext is not None:
        return ext(data, start, end, proto, hres)
    return UnknownMobilityMessage(mht, data[d:end], proto, hres)


def _binding_update(data: bytes, d: int, opts: tuple[MobilityOption, ...], proto: int, hres: int
                    ) -> BindingUpdate:
    seq, flags, units = _BU.unpack_from(data, d)
    return _make_bu(seq, _BU_FLAGS.get(flags) or _bu_flags(flags), units * 4, opts, proto, hres)


def _binding_acknowledgement(data: bytes, d: int, opts: tuple[MobilityOption, ...], proto: int,
                             hres: int) -> BindingAcknowledgement:
    status, bflags, seq, units = _BA.unpack_from(data, d)
    return _make_ba(_BA_STATUS.get(status, status), _BA_FLAGS[bflags], seq, units * 4, opts,
                    proto, hres)


def _too_short(what: str, hlen: int, start: int) -> DecodeError:
    # RFC 6275 §9.2: a Header Len below the message's minimum MUST make the node discard it
    # (and SHOULD send a Parameter Problem pointing at Header Len).
    return DecodeError(f"Header Len {hlen} is too small for a {what}", field="mobility.header_len",
                       offset=start + 1)


def _lazy_mobility(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
                   ) -> MobilityMessage | Payload | Deferred:
    # A Binding Update or Acknowledgement without options (every BU and BA the engines send)
    # is valid when Header Len is 1 and the checksum verifies: its fields take any value, so
    # the message object is built later. Anything else is decoded now.
    # The checksum test is checksum.verify's, inlined: Upper-Layer Packet Length 16 plus Next
    # Header 135 is 151.
    if (end - start == 16 and data[start + 12 : end] == _NO_OPTIONS_BU_TAIL
            and data[start + 1] == 1 and (data[start + 2] == 5 or data[start + 2] == 6)
            and (not verify or (_from_bytes(src + dst + data[start:end]) + 151) % 0xFFFF == 0)):
        return DEFER
    return _decode_mobility(data, start, end, src, dst, verify)


def _build_deferred(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
                    ) -> BindingUpdate | BindingAcknowledgement:
    # Builds what _lazy_mobility deferred (validated: a BU or BA without options).
    if data[start + 2] == 5:
        return _binding_update(data, start + 6, (), data[start], data[start + 3])
    return _binding_acknowledgement(data, start + 6, (), data[start], data[start + 3])


register_payload(NextHeader.MOBILITY, _decode_mobility, _lazy_mobility, _build_deferred)
