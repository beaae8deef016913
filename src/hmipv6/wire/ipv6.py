"""IPv6 packets: the fixed header, the extension-header chain and the payload registry.

Theory of operation
-------------------
An :class:`IPv6Packet` is a frozen value: addresses, a tuple of extension headers in wire
order, and one payload (an upper-layer message, another ``IPv6Packet`` for IPv6-in-IPv6
tunnelling per RFC 2473, an ESP packet, opaque bytes, or ``None`` for No Next Header).
Next Header and length fields are derived, never stored: the encoder computes them from the
chain, so a value can never disagree with itself.

Upper-layer protocols (ICMPv6, Mobility Header, UDP) register a decoder for their Next Header
value with :func:`register_payload`. Checksummed payloads are encoded and verified against the
pseudo-header of RFC 8200 §8.1, whose addresses are the *effective* ones of RFC 6275 §6.1.1 and
§6.3/§6.4: the Home Address option's address as source and the Type 2 routing header's address
(the final destination) as destination.

Options inside Hop-by-Hop and Destination Options headers follow RFC 8200 §4.2: the encoder
inserts Pad1/PadN so each option meets its alignment (``xn+y``, e.g. 8n+6 for the Home Address
option, RFC 6275 §6.3) and pads the header to a multiple of 8 octets. Decoded option tuples
omit padding when it is exactly what the encoder would insert and keep it otherwise, so both
``decode(encode(v)) == v`` and ``encode(decode(b)) == b`` hold.

Implements RFC 8200 §3-§4 and §8.1, RFC 2473 (nesting), RFC 6275 §6.3-§6.4 (Home Address
option, Type 2 Routing Header), RFC 4302 §2 and RFC 4303 §2 (AH/ESP framing only; the
cryptography lives in ``core.ipsec``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv6Address
from typing import Any, ClassVar, Final, Protocol, TypeAlias, TypeVar, runtime_checkable

from hmipv6.errors import DecodeError, EncodeError
from hmipv6.wire._fast import bare_twin, deferred_field, maker
from hmipv6.wire.addr import _CACHE as _ADDRESSES
from hmipv6.wire.addr import from_packed

_T = TypeVar("_T")

__all__ = [
    "DEFER",
    "IPV6_HEADER_LEN",
    "AuthenticationHeader",
    "Deferred",
    "DestinationOptions",
    "EncapsulatingSecurityPayload",
    "ExtensionHeader",
    "FragmentHeader",
    "HomeAddressOption",
    "HopByHopOptions",
    "IPv6Packet",
    "NextHeader",
    "Option",
    "Pad1",
    "PadN",
    "Payload",
    "RawPayload",
    "RoutingHeader",
    "RoutingHeaderType2",
    "UnknownOption",
    "decode",
    "decode_payload",
    "decodes",
    "register_payload",
]

IPV6_HEADER_LEN = 40


class NextHeader:
    """IANA protocol numbers used here (plain ints, so unknown values stay ints)."""

    HOP_BY_HOP = 0
    UDP = 17
    IPV6 = 41
    ROUTING = 43
    FRAGMENT = 44
    ESP = 50
    AH = 51
    ICMPV6 = 58
    NO_NEXT_HEADER = 59
    DESTINATION_OPTIONS = 60
    MOBILITY = 135


# --------------------------------------------------------------------------------------------
# Payload protocol and registry


@runtime_checkable
class Payload(Protocol):
    """What may follow the extension headers."""

    @property
    def next_header(self) -> int:
        """The protocol number announcing this payload."""
        ...

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        """The payload's octets; ``src``/``dst`` are the pseudo-header addresses (packed)."""
        ...


PayloadDecoder: TypeAlias = Callable[[bytes, int, int, bytes, bytes, bool], "Payload"]
"""``decoder(data, start, end, src, dst, verify)`` decodes ``data[start:end]``; offsets in
errors are absolute in ``data``; ``src``/``dst`` are the pseudo-header addresses."""

class Deferred(Enum):
    """What a lazy payload decoder returns for a payload it validated but did not build."""

    PAYLOAD = 0


DEFER: Final = Deferred.PAYLOAD

LazyPayloadDecoder: TypeAlias = Callable[[bytes, int, int, bytes, bytes, bool],
                                         "Payload | Deferred"]
"""Like a :data:`PayloadDecoder`, but may return :data:`DEFER` instead of the payload: only
when ``data[start:end]`` is valid in full (checksum verified when ``verify``), so that
building it later cannot fail. It raises the same errors as the decoder."""

_DECODERS: dict[int, LazyPayloadDecoder] = {}
_BUILDERS: dict[int, PayloadDecoder] = {}
"""Next Header -> the builder of the payloads its (lazy) decoder deferred."""


def register_payload(next_header: int, decoder: PayloadDecoder,
                     lazy: LazyPayloadDecoder | None = None, build: PayloadDecoder | None = None
                     ) -> None:
    """Install the decoder for an upper-layer protocol number.

    With ``lazy``, :func:`decode` decodes the payload with it and, when it returns
    :data:`DEFER`, builds the payload object only when the packet's ``payload`` is first read,
    with ``build`` (default: ``decoder``) and ``verify`` False (the checksum was verified).
    """
    _DECODERS[next_header] = lazy or decoder
    _BUILDERS[next_header] = build or decoder


def decode_payload(next_header: int, data: bytes, src: bytes, dst: bytes, *, verify: bool = True
                   ) -> Payload | None:
    """Decode a bare payload (e.g. what ESP decrypted) announced by ``next_header``;
    ``src``/``dst`` are the packed pseudo-header addresses for its checksum."""
    if next_header == NextHeader.NO_NEXT_HEADER and not data:
        return None
    if next_header == NextHeader.IPV6:
        return decode(data, verify=verify)
    dec = _DECODERS.get(next_header)
    if dec is None:
        return RawPayload(next_header, data)
    payload = dec(data, 0, len(data), src, dst, verify)
    if payload is DEFER:  # a bare payload has no packet to defer it: build it now
        return _BUILDERS[next_header](data, 0, len(data), src, dst, False)
    return payload


@dataclass(frozen=True, slots=True)
class RawPayload:
    """A payload this package does not decode (or cannot: a non-first fragment)."""

    protocol: int
    """The Next Header value that announced it."""
    data: bytes

    @property
    def next_header(self) -> int:
        return self.protocol

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class EncapsulatingSecurityPayload:
    """An ESP packet (RFC 4303 §2): SPI, sequence number, and the protected remainder
    (payload, padding, pad length, next header, ICV) as opaque octets."""

    next_header: ClassVar[int] = NextHeader.ESP
    spi: int
    sequence: int
    data: bytes

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        return _U32x2.pack(self.spi, self.sequence) + self.data


# --------------------------------------------------------------------------------------------
# Options of Hop-by-Hop and Destination Options headers (RFC 8200 §4.2)


@dataclass(frozen=True, slots=True)
class Pad1:
    """One octet of padding (option type 0, no length field)."""

    option_type: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class PadN:
    """Two or more octets of padding; ``data`` is normally all zeros."""

    option_type: ClassVar[int] = 1
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HomeAddressOption:
    """RFC 6275 §6.3: option type 201, length 16, alignment 8n+6."""

    option_type: ClassVar[int] = 201
    home_address: IPv6Address


@dataclass(frozen=True, slots=True)
class UnknownOption:
    """Any other option, kept raw (its type's two high bits say how to handle it)."""

    option_type: int
    data: bytes


Option: TypeAlias = Pad1 | PadN | HomeAddressOption | UnknownOption

_OPTION_ALIGN: dict[type, tuple[int, int]] = {HomeAddressOption: (8, 6)}


def _option_bytes(opt: Option) -> bytes:
    if isinstance(opt, HomeAddressOption):
        return b"\xc9\x10" + opt.home_address.packed
    if isinstance(opt, PadN):
        if len(opt.data) > 255:
            raise EncodeError("PadN longer than 257 octets")
        return bytes((1, len(opt.data))) + opt.data
    if isinstance(opt, Pad1):
        return b"\x00"
    if not 0 <= opt.option_type <= 255 or len(opt.data) > 255:
        raise EncodeError(f"option type {opt.option_type} or length {len(opt.data)} out of range")
    return bytes((opt.option_type, len(opt.data))) + opt.data


def _padding(n: int) -> bytes:
    if n == 0:
        return b""
    if n == 1:
        return b"\x00"
    return bytes((1, n - 2)) + bytes(n - 2)


def encode_options(options: tuple[Option, ...], header_prefix: int = 2) -> bytes:
    """The option area of an options header starting ``header_prefix`` octets in.

    With no padding option given, padding is inserted for alignment and to reach a multiple
    of 8 (RFC 8200 §4.2); with any padding option given, the options go out exactly as given
    (a decoded non-canonical layout round-trips) and only the tail is padded.
    """
    out = bytearray()
    explicit = any(isinstance(o, Pad1 | PadN) for o in options)
    for opt in options:
        if not explicit:
            align = _OPTION_ALIGN.get(type(opt))
            if align is not None:
                x, y = align
                pos = header_prefix + len(out)
                out += _padding((y - pos) % x)
        out += _option_bytes(opt)
    out += _padding((-(header_prefix + len(out))) % 8)
    return bytes(out)


_CANONICAL_HAO_AREA_PREFIX = b"\x01\x02\x00\x00\xc9\x10"
_CANONICAL_RH2_PREFIX = b"\x02\x02\x01\x00\x00\x00\x00"
"""Hdr Ext Len 2, Routing Type 2, Segments Left 1, Reserved 0 (RFC 6275 §6.4)."""


def decode_options(data: bytes, start: int, end: int, field: str) -> tuple[Option, ...]:
    """Options in ``data[start:end]`` (``start`` is 2 octets into the header)."""
    # Fast path: the canonical layout of a header holding one Home Address option.
    if end - start == 22 and data[start : start + 6] == _CANONICAL_HAO_AREA_PREFIX:
        return (_make_hao(from_packed(data[start + 6 : end])),)
    opts: list[Option] = []
    padded = False
    i = start
    while i < end:
        t = data[i]
        if t == 0:
            opts.append(Pad1())
            padded = True
            i += 1
            continue
        if i + 2 > end:
            raise DecodeError("option length missing", field=f"{field}.option", offset=i)
        n = data[i + 1]
        if i + 2 + n > end:
            raise DecodeError(f"option of length {n} overruns the header",
                              field=f"{field}.option_length", offset=i + 1)
        body = data[i + 2 : i + 2 + n]
        if t == 1:
            opts.append(PadN(body))
            padded = True
        elif t == 201:
            if n != 16:
                raise DecodeError(f"Home Address option length {n}, expected 16",
                                  field=f"{field}.home_address.length", offset=i + 1)
            opts.append(HomeAddressOption(from_packed(body)))
        else:
            opts.append(UnknownOption(t, body))
        i += 2 + n
    if padded:
        bare = tuple(o for o in opts if not isinstance(o, Pad1 | PadN))
        if encode_options(bare) == data[start:end]:
            return bare
    return tuple(opts)


# --------------------------------------------------------------------------------------------
# Extension headers


@dataclass(frozen=True, slots=True)
class HopByHopOptions:
    """RFC 8200 §4.3; only ever directly after the IPv6 header."""

    header_type: ClassVar[int] = NextHeader.HOP_BY_HOP
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class DestinationOptions:
    """RFC 8200 §4.6; carries the Home Address option (RFC 6275 §6.3)."""

    header_type: ClassVar[int] = NextHeader.DESTINATION_OPTIONS
    options: tuple[Option, ...] = ()

    @property
    def home_address(self) -> IPv6Address | None:
        for o in self.options:
            if isinstance(o, HomeAddressOption):
                return o.home_address
        return None


@dataclass(frozen=True, slots=True)
class RoutingHeaderType2:
    """RFC 6275 §6.4: one address (the home address), Segments Left 1 when sent."""

    header_type: ClassVar[int] = NextHeader.ROUTING
    home_address: IPv6Address
    segments_left: int = 1
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class RoutingHeader:
    """Any other routing type, kept raw (type-specific data after the 4 fixed octets)."""

    header_type: ClassVar[int] = NextHeader.ROUTING
    routing_type: int
    segments_left: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FragmentHeader:
    """RFC 8200 §4.5. After a non-first or non-last fragment the payload stays raw."""

    header_type: ClassVar[int] = NextHeader.FRAGMENT
    offset: int
    """Fragment offset in 8-octet units."""
    more: bool
    identification: int
    reserved: int = 0
    res: int = 0

    @property
    def is_fragment(self) -> bool:
        return self.offset != 0 or self.more


@dataclass(frozen=True, slots=True)
class AuthenticationHeader:
    """RFC 4302 §2: SPI, sequence number and ICV (IPv6: total length a multiple of 8)."""

    header_type: ClassVar[int] = NextHeader.AH
    spi: int
    sequence: int
    icv: bytes
    reserved: int = 0


ExtensionHeader: TypeAlias = (
    HopByHopOptions
    | DestinationOptions
    | RoutingHeaderType2
    | RoutingHeader
    | FragmentHeader
    | AuthenticationHeader
)

_HDR = struct.Struct("!IHBB16s16s")
_U32x2 = struct.Struct("!II")
_RH_FIXED = struct.Struct("!BBBBI")
_FRAG = struct.Struct("!BBHI")
_AH_FIXED = struct.Struct("!BBHII")


def _encode_extension(h: ExtensionHeader, nxt: int) -> bytes:
    if isinstance(h, DestinationOptions | HopByHopOptions):
        area = encode_options(h.options)
        total = 2 + len(area)
        return bytes((nxt, total // 8 - 1)) + area
    if isinstance(h, RoutingHeaderType2):
        return _RH_FIXED.pack(nxt, 2, 2, h.segments_left, h.reserved) + h.home_address.packed
    if isinstance(h, RoutingHeader):
        if (4 + len(h.data)) % 8:
            raise EncodeError("routing header data must make the header a multiple of 8 octets")
        return bytes((nxt, (4 + len(h.data)) // 8 - 1, h.routing_type, h.segments_left)) + h.data
    if isinstance(h, FragmentHeader):
        if not 0 <= h.offset < 8192:
            raise EncodeError(f"fragment offset {h.offset} out of range")
        return _FRAG.pack(nxt, h.reserved, (h.offset << 3) | (h.res << 1) | int(h.more),
                          h.identification)
    if isinstance(h, AuthenticationHeader):
        total = 12 + len(h.icv)
        if total % 8:
            raise EncodeError("AH length must be a multiple of 8 octets in IPv6 (RFC 4302 §2.2)")
        return _AH_FIXED.pack(nxt, total // 4 - 2, h.reserved, h.spi, h.sequence) + h.icv
    raise EncodeError(f"not an extension header: {h!r}")


# Interned header values. A Destination Options header holding only a Home Address option
# (every BU, every reverse-tunnelled packet) and a Type 2 routing header (every BA, every
# route-optimised packet) are functions of one 16-octet address, and a node sees the same few
# addresses again and again; the values are frozen, so decoders share one instance per
# address, as the address cache in ``wire.addr`` does (bounded the same way).
_HAO_HEADERS: dict[bytes, DestinationOptions] = {}
_RH2_HEADERS: dict[bytes, RoutingHeaderType2] = {}
_INTERN_MAX = 1 << 16


def _intern(table: dict[bytes, _T], key: bytes, value: _T) -> _T:
    if len(table) >= _INTERN_MAX:
        table.clear()
    table[key] = value
    return value


_make_destopts = maker(DestinationOptions)
_make_hao = maker(HomeAddressOption)
_make_rh2 = maker(RoutingHeaderType2)

# --------------------------------------------------------------------------------------------
# The packet


@deferred_field("payload", "_payload_builder")
@dataclass(frozen=True, slots=True)
class IPv6Packet:
    """An IPv6 packet (RFC 8200 §3). As a payload it is IPv6-in-IPv6 (RFC 2473).

    :func:`decode` validates a whole packet, but a decoded packet builds its payload object
    only when ``payload`` is first read (when the payload's protocol registered a screen;
    see :func:`register_payload`), so a packet that is only forwarded or counted costs no
    payload objects. Nothing else can tell the difference: the value is the same.
    """

    next_header: ClassVar[int] = NextHeader.IPV6
    src: IPv6Address
    dst: IPv6Address
    payload: Payload | None = None
    extension_headers: tuple[ExtensionHeader, ...] = ()
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0

    # -- effective addresses (RFC 6275 §6.1.1, §6.3, §6.4; RFC 8200 §8.1) --------------------

    @property
    def home_address(self) -> IPv6Address | None:
        """The Home Address destination option's address, if any."""
        for h in self.extension_headers:
            if isinstance(h, DestinationOptions):
                a = h.home_address
                if a is not None:
                    return a
        return None

    @property
    def routing_home_address(self) -> IPv6Address | None:
        """The Type 2 routing header's address, if any."""
        for h in self.extension_headers:
            if isinstance(h, RoutingHeaderType2):
                return h.home_address
        return None

    @property
    def effective_src(self) -> IPv6Address:
        """Source for upper layers and checksums: the HAO address when present."""
        return self.home_address or self.src

    @property
    def effective_dst(self) -> IPv6Address:
        """Final destination: the Type 2 routing header's address when Segments Left > 0."""
        for h in self.extension_headers:
            if isinstance(h, RoutingHeaderType2) and h.segments_left > 0:
                return h.home_address
        return self.dst

    def header(self, kind: type[ExtensionHeader]) -> ExtensionHeader | None:
        """The first extension header of the given class."""
        for h in self.extension_headers:
            if isinstance(h, kind):
                return h
        return None

    # -- codec ---------------------------------------------------------------------------------

    def encode(self) -> bytes:
        """The packet's octets, with every length, Next Header and checksum computed."""
        src = self.src.packed
        dst = self.dst.packed
        if self.extension_headers:
            psrc = self.effective_src.packed
            pdst = self.effective_dst.packed
        else:  # the effective addresses are the header's (one conversion each, not two)
            psrc = src
            pdst = dst
        p = self.payload
        body = p.encode_payload(psrc, pdst) if p is not None else b""
        nxt = p.next_header if p is not None else NextHeader.NO_NEXT_HEADER
        for h in reversed(self.extension_headers):
            body = _encode_extension(h, nxt) + body
            nxt = h.header_type
        if len(body) > 0xFFFF:
            raise EncodeError(f"payload of {len(body)} octets needs a jumbogram")
        if not (0 <= self.hop_limit <= 255 and 0 <= self.traffic_class <= 255
                and 0 <= self.flow_label < 1 << 20):
            raise EncodeError("hop limit, traffic class or flow label out of range")
        first = (6 << 28) | (self.traffic_class << 20) | self.flow_label
        return _HDR.pack(first, len(body), nxt, self.hop_limit, src, dst) + body

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        return self.encode()

    @classmethod
    def decode(cls, data: bytes, *, verify: bool = True, allow_trailer: bool = False) -> IPv6Packet:
        """Decode one packet. See :func:`decode`."""
        return decode(data, verify=verify, allow_trailer=allow_trailer)


MAX_NESTING = 64
"""IPv6-in-IPv6 headers the decoder opens inside one packet (RFC 2473 §4.1.1 recommends
limiting nesting; engines bound it further, see ``Node.tunnel_nesting_limit``). Deeper
nesting is a :class:`DecodeError`, never a ``RecursionError``."""

# Each nesting level takes at least a 40-octet header, so a packet shorter than this cannot
# nest deeper than MAX_NESTING: only longer ones are walked by _check_nesting.
_NESTING_SCAN = (MAX_NESTING + 1) * IPV6_HEADER_LEN


def _check_nesting(data: bytes, start: int, end: int) -> None:
    # An iterative walk down the chain of IPv6-in-IPv6 headers (through the extension
    # headers that may precede an inner packet), so that the recursive decoders below never
    # open more than MAX_NESTING levels.
    depth = 0
    i = start
    while end - i >= IPV6_HEADER_LEN:
        nxt = data[i + 6]
        i += IPV6_HEADER_LEN
        while nxt in (0, 43, 44, 51, 60):
            if end - i < 8:
                return
            hlen = 8 if nxt == 44 else (data[i + 1] + 2) * 4 if nxt == 51 else (data[i + 1] + 1) * 8
            nxt = data[i]
            i += hlen
        if nxt != 41:
            return
        depth += 1
        if depth > MAX_NESTING:
            raise DecodeError(f"IPv6-in-IPv6 nested deeper than {MAX_NESTING}",
                              field="ipv6.next_header", offset=i)


def decode(data: bytes, verify: bool = True, allow_trailer: bool = False, _start: int = 0,
           _end: int = -1, _decoders: Mapping[int, LazyPayloadDecoder] = _DECODERS
           ) -> IPv6Packet:
    """Decode an IPv6 packet and everything inside it.

    ``verify``: check upper-layer checksums (a mismatch raises :class:`ChecksumError`).
    ``allow_trailer``: accept octets beyond Payload Length (link-layer padding) and ignore
    them; otherwise they are an error, so that valid input round-trips exactly.
    Raises :class:`DecodeError` (never anything else) for any malformed input.

    ``_start``, ``_end`` and ``_decoders`` are the decoder's own, for a packet inside a packet
    (IPv6-in-IPv6 at ``data[_start:_end]``); they are parameters of this function rather than
    of a second one because a call costs as much as a tenth of decoding a small packet.
    """
    # ``_decoders`` is _BUILDERS when a deferred inner packet is built: that input was
    # validated in full already, and whoever reads a payload usually reads all of it.
    if _end < 0:  # a whole packet, not one inside another
        if not isinstance(data, bytes):
            data = bytes(data)
        _end = len(data)
        if _end > _NESTING_SCAN:
            _check_nesting(data, 0, _end)
    start = _start
    end = _end
    decoders = _decoders
    # Next Header values are literals in this loop (0 hop-by-hop, 43 routing, 44 fragment,
    # 51 AH, 59 none, 41 IPv6, 50 ESP, 60 destination options): it runs for every packet.
    if end - start < IPV6_HEADER_LEN:
        raise DecodeError(f"{end - start} octets, an IPv6 header needs 40", field="ipv6",
                          offset=start)
    first, plen, nxt, hlim, src, dst = _HDR.unpack_from(data, start)
    if first == 0x60000000:  # version 6, traffic class 0, flow label 0: most packets
        traffic_class = flow_label = 0
    else:
        if first >> 28 != 6:
            raise DecodeError(f"version {first >> 28}, expected 6", field="ipv6.version",
                              offset=start)
        traffic_class = (first >> 20) & 0xFF
        flow_label = first & 0xFFFFF
    i = start + 40
    pend = i + plen
    if pend != end:
        if pend > end:
            raise DecodeError(f"payload length {plen} exceeds the {end - start - 40} octets "
                              "present", field="ipv6.payload_length", offset=start + 4)
        if not allow_trailer:
            raise DecodeError(f"{end - pend} octets beyond payload length {plen}",
                              field="ipv6.payload_length", offset=start + 4)
    exts: list[ExtensionHeader] = []
    psrc: bytes = src
    pdst: bytes = dst
    payload: Payload | None
    while True:
        dec = decoders.get(nxt)
        if dec is not None:
            # Upper-layer protocols first: most packets reach one after 0 or 1 headers.
            decoded = dec(data, i, pend, psrc, pdst, verify)
            if decoded is DEFER:
                # Valid: the payload object is built on first access (see IPv6Packet). The
                # packet's slots are stored here through its bare twin (see wire._fast).
                p = _PacketTwin()
                p.src = _ADDRESSES.get(src) or from_packed(src)
                p.dst = _ADDRESSES.get(dst) or from_packed(dst)
                p._payload_builder = (_BUILDERS[nxt], data, i, pend, psrc, pdst, False)
                p.extension_headers = tuple(exts) if exts else ()
                p.hop_limit = hlim
                p.traffic_class = traffic_class
                p.flow_label = flow_label
                p.__class__ = IPv6Packet
                return p  # type: ignore[no-any-return]
            payload = decoded
            break
        if nxt == 60 or nxt == 0:
            if nxt == 0 and exts:
                raise DecodeError("Hop-by-Hop Options header not directly after the IPv6 header",
                                  field="ipv6.next_header", offset=i)
            name = "destination_options" if nxt == 60 else "hop_by_hop"
            if pend - i < 2:
                raise DecodeError("truncated", field=name, offset=i)
            hend = i + 8 + data[i + 1] * 8
            if hend > pend:
                raise DecodeError("header length overruns the payload", field=f"{name}.length",
                                  offset=i + 1)
            if hend - i == 24 and data[i + 2 : i + 8] == _CANONICAL_HAO_AREA_PREFIX and (
                    nxt == 60):
                # Fast path: a Destination Options header holding just the Home Address
                # option, padded as the encoder pads it (every BU and reverse-tunnelled packet).
                psrc = data[i + 8 : hend]
                d = _HAO_HEADERS.get(psrc)
                if d is None:
                    d = _intern(_HAO_HEADERS, psrc, _make_destopts((_make_hao(from_packed(psrc)),)))
                exts.append(d)
                nxt = data[i]
                i = hend
                continue
            opts = decode_options(data, i + 2, hend, name)
            if nxt == 60:
                d = _make_destopts(opts)
                hoa = d.home_address
                if hoa is not None:
                    psrc = hoa.packed
                exts.append(d)
            else:
                exts.append(HopByHopOptions(opts))
            nxt = data[i]
            i = hend
        elif nxt == 43:
            if data[i + 1 : i + 8] == _CANONICAL_RH2_PREFIX and pend - i >= 24:
                # Fast path: a Type 2 routing header as sent (Segments Left 1, reserved 0).
                pdst = data[i + 8 : i + 24]
                rh2 = _RH2_HEADERS.get(pdst)
                if rh2 is None:
                    rh2 = _intern(_RH2_HEADERS, pdst, _make_rh2(from_packed(pdst), 1, 0))
                exts.append(rh2)
                nxt = data[i]
                i += 24
                continue
            if pend - i < 8:
                raise DecodeError("truncated", field="routing", offset=i)
            n, hlen, rtype, segs, reserved = _RH_FIXED.unpack_from(data, i)
            hend = i + 8 + hlen * 8
            if hend > pend:
                raise DecodeError("header length overruns the payload", field="routing.length",
                                  offset=i + 1)
            if rtype == 2:
                # RFC 6275 §6.4: Hdr Ext Len 2, one address.
                if hlen != 2:
                    raise DecodeError(f"type 2 routing header length {hlen}, expected 2",
                                      field="routing.length", offset=i + 1)
                if segs not in (0, 1):
                    raise DecodeError(f"type 2 routing header segments left {segs}",
                                      field="routing.segments_left", offset=i + 3)
                raw = data[i + 8 : i + 24]
                if segs:
                    pdst = raw
                if segs == 1 and reserved == 0:
                    rh2 = _RH2_HEADERS.get(raw)
                    if rh2 is None:
                        rh2 = _intern(_RH2_HEADERS, raw, _make_rh2(from_packed(raw), 1, 0))
                    exts.append(rh2)
                else:
                    exts.append(_make_rh2(from_packed(raw), segs, reserved))
            else:
                exts.append(RoutingHeader(rtype, segs, data[i + 4 : hend]))
            nxt = n
            i = hend
        elif nxt == 44:
            if pend - i < 8:
                raise DecodeError("truncated", field="fragment", offset=i)
            n, res8, off, ident = _FRAG.unpack_from(data, i)
            frag = FragmentHeader(off >> 3, bool(off & 1), ident, res8, (off >> 1) & 3)
            exts.append(frag)
            i += 8
            if frag.is_fragment:
                payload = RawPayload(n, data[i:pend])
                break
            nxt = n
        elif nxt == 51:
            if pend - i < 12:
                raise DecodeError("truncated", field="ah", offset=i)
            n, alen, reserved, spi, seq = _AH_FIXED.unpack_from(data, i)
            hend = i + (alen + 2) * 4
            if hend < i + 12 or hend > pend:
                raise DecodeError(f"payload length {alen} does not fit", field="ah.payload_length",
                                  offset=i + 1)
            if (alen + 2) % 2:
                raise DecodeError("AH length not a multiple of 8 octets", field="ah.payload_length",
                                  offset=i + 1)
            exts.append(AuthenticationHeader(spi, seq, data[i + 12 : hend], reserved))
            nxt = n
            i = hend
        elif nxt == 59:
            if i != pend:
                # RFC 8200 §4.7: octets after No Next Header are ignored; keep them visible.
                payload = RawPayload(59, data[i:pend])
            else:
                payload = None
            break
        elif nxt == 50:
            if pend - i < 8:
                raise DecodeError("truncated", field="esp", offset=i)
            spi, seq = _U32x2.unpack_from(data, i)
            payload = EncapsulatingSecurityPayload(spi, seq, data[i + 8 : pend])
            break
        else:
            payload = RawPayload(nxt, data[i:pend])
            break
    # The address cache is consulted inline: a hit costs no function call. The packet's slots
    # are stored here through its bare twin (see wire._fast), as a maker would.
    p = _PacketTwin()
    p.src = _ADDRESSES.get(src) or from_packed(src)
    p.dst = _ADDRESSES.get(dst) or from_packed(dst)
    p.payload = payload
    p.extension_headers = tuple(exts)
    p.hop_limit = hlim
    p.traffic_class = traffic_class
    p.flow_label = flow_label
    p.__class__ = IPv6Packet
    return p  # type: ignore[no-any-return]


def decodes(data: bytes) -> bool:
    """Would ``decode(data)`` (checksums verified, no trailer) succeed? Answered without
    building objects for the layouts tunnels and forwarded traffic carry (:func:`_decodes_fixed`,
    whose lazy payload decoders include :func:`_screen_inner` for a packet inside a packet),
    by decoding otherwise. A router that only forwards asks this instead of decoding (tests
    hold it equal to ``decode`` on valid and malformed input).

    The nesting bound is checked first, as ``decode`` checks it: the lazy decoder of a tunnel
    behind an extension header recurses once per level."""
    if not isinstance(data, bytes):
        data = bytes(data)
    n = len(data)
    try:
        if n > _NESTING_SCAN:
            _check_nesting(data, 0, n)
        if _decodes_fixed(data, n):
            return True
        decode(data)
    except DecodeError:
        return False
    return True


_NESTED_MAX = MAX_NESTING * IPV6_HEADER_LEN


def _decodes_fixed(data: bytes, n: int) -> bool:
    """True when ``data`` (``n`` octets) is, for sure, valid: fixed IPv6 headers (IPv6-in-IPv6,
    RFC 2473, at most :data:`MAX_NESTING` deep), then the canonical Home Address Destination
    Options and Type 2 routing headers of the fast paths in :func:`decode`, if any, then ESP
    of at least its 8 fixed octets or a payload whose lazy decoder defers it (valid: a UDP
    datagram whose checksum verifies, say). False: not sure (the caller decides)."""
    i = 0
    while n - i >= 40 and data[i] >> 4 == 6 and (data[i + 4] << 8 | data[i + 5]) == n - i - 40:
        nxt = data[i + 6]
        if nxt == 41:
            if i >= _NESTED_MAX:
                return False
            i += 40
            continue
        return _screen_after(data, i + 40, n, nxt, data[i + 8 : i + 24],
                             data[i + 24 : i + 40], True, True)
    return False


_PacketTwin: Any = bare_twin(IPv6Packet)
"""IPv6Packet's bare twin (see ``wire._fast``): decode stores the slots itself."""


def _decode_inner(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
                  ) -> IPv6Packet:
    # IPv6-in-IPv6 (RFC 2473): the inner packet fills the outer payload exactly.
    return decode(data, verify=verify, _start=start, _end=end)


def _build_inner(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
                 ) -> IPv6Packet:
    # A deferred inner packet, validated already: built with every payload inside it.
    return decode(data, verify=verify, _start=start, _end=end, _decoders=_BUILDERS)


def _lazy_inner(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool
                ) -> IPv6Packet | Deferred:
    # An inner packet in the layouts tunnels carry (the fixed header; at most the canonical
    # Home Address Destination Options header and Type 2 routing header of the fast paths in
    # decode; then a payload deferred by its own lazy decoder, possibly another such
    # packet) is valid, so it is built later. Anything else is decoded now.
    if _screen_inner(data, start, end, verify):
        return DEFER
    return decode(data, verify=verify, _start=start, _end=end)


def _screen_inner(data: bytes, start: int, end: int, verify: bool) -> bool:
    if end - start < IPV6_HEADER_LEN:
        return False
    first, plen, nxt, _, psrc, pdst = _HDR.unpack_from(data, start)
    if first >> 28 != 6 or start + IPV6_HEADER_LEN + plen != end:
        return False
    return _screen_after(data, start + IPV6_HEADER_LEN, end, nxt, psrc, pdst, verify, False)


def _screen_after(data: bytes, i: int, end: int, nxt: int, psrc: bytes, pdst: bytes,
                  verify: bool, esp: bool) -> bool:
    """Is what follows a valid fixed IPv6 header (source ``psrc``, destination ``pdst``,
    next header ``nxt`` at ``i``, the packet ending at ``end``) valid for sure: the canonical
    Home Address Destination Options and Type 2 routing headers of the fast paths in
    :func:`decode`, if any, then a packet inside (:func:`_screen_inner`), a payload whose
    lazy decoder defers it, or (``esp``) ESP of at least its 8 fixed octets? False: not
    sure. Serves :func:`_decodes_fixed` (the outer packet) and :func:`_screen_inner`."""
    while True:
        if nxt == 41:
            return _screen_inner(data, i, end, verify)
        if esp and nxt == 50:
            return end - i >= 8
        dec = _DECODERS.get(nxt)
        if dec is not None:
            # The payload's lazy decoder validates it; it may decode it (a message that is
            # not deferrable) and then the packet is decoded again when built: rare layouts.
            try:
                return dec(data, i, end, psrc, pdst, verify) is DEFER
            except DecodeError:
                return False
        if end - i < 24:
            return False
        if nxt == 60 and data[i + 1] == 2 and data[i + 2 : i + 8] == _CANONICAL_HAO_AREA_PREFIX:
            psrc = data[i + 8 : i + 24]
        elif nxt == 43 and data[i + 1 : i + 8] == _CANONICAL_RH2_PREFIX:
            pdst = data[i + 8 : i + 24]
        else:
            return False
        nxt = data[i]
        i += 24


register_payload(NextHeader.IPV6, _decode_inner, _lazy_inner, _build_inner)
