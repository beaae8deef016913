"""Classic libpcap capture files, written and read as plain octets.

Theory of operation
-------------------
A capture file is a 24-octet global header followed by records, each a 16-octet record header
(seconds, sub-second fraction, captured length, original length) and the captured octets.
The magic number at the start tells the reader both the byte order of every later integer
and the unit of the fraction: 0xA1B2C3D4 for microseconds, 0xA1B23C4D for nanoseconds.

Writing is deterministic: timestamps are whatever the caller passes (the simulator's clock,
in seconds), rounded once to whole microseconds; nothing here reads a clock or touches a file
system. :class:`PcapWriter` takes any binary object with a ``write`` method;
:func:`encode_pcap` builds a whole file in memory. Files are written little-endian with
microsecond resolution, as tcpdump does on the common hosts.

Reading accepts either byte order and either resolution. A malformed file raises
:class:`~hmipv6.errors.DecodeError` naming the field and its absolute offset in the file;
:func:`iter_records` yields the good records before the bad one, so a capture cut short by a
killed tcpdump still gives everything it holds.

Link layers: LINKTYPE_RAW (101, IPv4 or IPv6 by the version nibble), LINKTYPE_IPV6 (229) and
LINKTYPE_ETHERNET (1, IEEE 802.3 with EtherType; 802.1Q/802.1ad tags are skipped). Whatever is
not IPv6 (EtherType other than 0x86DD, IPv4 in a raw capture) is reported, not decoded, by
:func:`link_payload`. Ethernet frames shorter than 60 octets are padded by senders, so the
IPv6 packet inside may be followed by a trailer: decode it with ``allow_trailer=True``.

Formats: draft-ietf-opsawg-pcap (the classic format, including the FCS bits of the LinkType
field), tcpdump.org link-layer header types, IEEE 802.3 §3.2 / 802.1Q §9.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from hmipv6.errors import DecodeError, EncodeError, LocalProtocolError

__all__ = [
    "ETHERTYPE_IPV6",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV6",
    "LINKTYPE_RAW",
    "MAGIC_MICROSECONDS",
    "MAGIC_NANOSECONDS",
    "SUPPORTED_LINKTYPES",
    "EthernetHeader",
    "LinkPayload",
    "PcapFile",
    "PcapHeader",
    "PcapRecord",
    "PcapWriter",
    "decode_ethernet",
    "decode_header",
    "encode_ethernet",
    "encode_header",
    "encode_pcap",
    "encode_record",
    "iter_records",
    "link_payload",
    "read_pcap",
]

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_IPV6 = 229
SUPPORTED_LINKTYPES = frozenset((LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV6))

MAGIC_MICROSECONDS = 0xA1B2C3D4
MAGIC_NANOSECONDS = 0xA1B23C4D
_PCAPNG_MAGIC = 0x0A0D0D0A

ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_IPV4 = 0x0800
_VLAN_ETHERTYPES = frozenset((0x8100, 0x88A8))
ETHERNET_HEADER_LEN = 14
ETHERNET_MIN_FRAME = 60
"""Minimum frame length without the FCS (IEEE 802.3 §3.2.8); shorter frames get padding."""

HEADER_LEN = 24
RECORD_HEADER_LEN = 16
DEFAULT_SNAPLEN = 262144
_MAX_RECORD = 262144
"""libpcap's and Wireshark's bound on a record: anything longer means a corrupt length."""

_STRUCTS: dict[str, tuple[struct.Struct, struct.Struct]] = {
    "little": (struct.Struct("<IHHiIII"), struct.Struct("<IIII")),
    "big": (struct.Struct(">IHHiIII"), struct.Struct(">IIII")),
}

ByteOrder = Literal["little", "big"]


class BinaryWriter(Protocol):
    """Anything with ``write(bytes)``: an open binary file, ``io.BytesIO``, a socket wrapper."""

    def write(self, data: bytes, /) -> object: ...


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class PcapHeader:
    """The global header of a classic pcap file."""

    linktype: int
    """The link-layer header type of every record (lower 16 bits of the LinkType field)."""
    snaplen: int = DEFAULT_SNAPLEN
    """The longest record the capturing program kept."""
    byteorder: ByteOrder = "little"
    nanoseconds: bool = False
    """Record fractions are nanoseconds (magic 0xA1B23C4D) rather than microseconds."""
    version_major: int = 2
    version_minor: int = 4
    thiszone: int = 0
    """Historic GMT offset; always 0 in practice."""
    sigfigs: int = 0
    fcs_length: int = 0
    """Octets of frame check sequence at the end of every frame (the LinkType's F bit)."""


@dataclass(frozen=True, slots=True)
class PcapRecord:
    """One captured packet."""

    timestamp_ns: int
    """Capture time in integer nanoseconds (exact for both resolutions)."""
    data: bytes
    """The captured octets (``captured length`` of them)."""
    original_length: int
    """The packet's length on the wire; more than ``len(data)`` when the snapshot cut it."""
    offset: int = 0
    """Offset of the record header in the file it was read from (0 for built records)."""

    @property
    def timestamp(self) -> float:
        """Capture time in seconds."""
        return self.timestamp_ns / 1e9

    @property
    def truncated(self) -> bool:
        return self.original_length > len(self.data)


@dataclass(frozen=True, slots=True)
class PcapFile:
    """A whole capture: its header and records."""

    header: PcapHeader
    records: tuple[PcapRecord, ...]


@dataclass(frozen=True, slots=True)
class EthernetHeader:
    """An Ethernet II header (IEEE 802.3 with an EtherType), after any VLAN tags."""

    destination: bytes
    """6 octets."""
    source: bytes
    """6 octets."""
    ethertype: int
    """The EtherType of the payload (after the last VLAN tag): 0x86DD for IPv6."""
    vlan_tags: tuple[int, ...] = ()
    """The 16-bit Tag Control Information of each 802.1Q/802.1ad tag, outermost first."""


@dataclass(frozen=True, slots=True)
class LinkPayload:
    """Where the network-layer packet is inside a captured frame."""

    ethernet: EthernetHeader | None
    """The Ethernet header, for LINKTYPE_ETHERNET."""
    offset: int
    """Offset of the network-layer packet in the frame."""
    end: int
    """End of the network-layer octets (before any FCS)."""
    is_ipv6: bool
    """False for another network protocol (then ``reason`` says which)."""
    reason: str = ""


# --------------------------------------------------------------------------------------------
# Writing


def _microseconds(timestamp: float) -> int:
    us = round(timestamp * 1_000_000)
    if not 0 <= us < (1 << 32) * 1_000_000:
        raise EncodeError(f"timestamp {timestamp!r} s outside 0 .. 2**32 s")
    return us


def encode_header(linktype: int, snaplen: int = DEFAULT_SNAPLEN, *, byteorder: ByteOrder = "little"
                  ) -> bytes:
    """The 24-octet global header of a microsecond-resolution file."""
    if not 0 <= linktype <= 0xFFFF or not 0 < snaplen <= 0xFFFFFFFF:
        raise EncodeError(f"linktype {linktype} or snaplen {snaplen} out of range")
    return _STRUCTS[byteorder][0].pack(MAGIC_MICROSECONDS, 2, 4, 0, 0, snaplen, linktype)


def encode_record(data: bytes, timestamp: float, *, snaplen: int = DEFAULT_SNAPLEN,
                  original_length: int | None = None, byteorder: ByteOrder = "little") -> bytes:
    """One record: ``timestamp`` in seconds (rounded to microseconds), ``data`` cut to
    ``snaplen`` octets; ``original_length`` defaults to ``len(data)``."""
    us = _microseconds(timestamp)
    orig = len(data) if original_length is None else original_length
    if orig < len(data) or orig > 0xFFFFFFFF:
        raise EncodeError(f"original length {orig} is less than the {len(data)} octets given")
    kept = data[:snaplen]
    sec, frac = divmod(us, 1_000_000)
    return _STRUCTS[byteorder][1].pack(sec, frac, len(kept), orig) + bytes(kept)


def encode_pcap(packets: Iterable[tuple[float, bytes]], linktype: int = LINKTYPE_RAW, *,
                snaplen: int = DEFAULT_SNAPLEN, byteorder: ByteOrder = "little") -> bytes:
    """A whole file from ``(timestamp_seconds, octets)`` pairs."""
    parts = [encode_header(linktype, snaplen, byteorder=byteorder)]
    parts.extend(encode_record(d, t, snaplen=snaplen, byteorder=byteorder) for t, d in packets)
    return b"".join(parts)


class PcapWriter:
    """Streams a capture into ``stream``: the global header at once, then one record per
    :meth:`write`. The caller owns (and closes) the stream."""

    def __init__(self, stream: BinaryWriter, linktype: int = LINKTYPE_RAW, *,
                 snaplen: int = DEFAULT_SNAPLEN, byteorder: ByteOrder = "little") -> None:
        self._stream = stream
        self.linktype = linktype
        self.snaplen = snaplen
        self._byteorder: ByteOrder = byteorder
        self.count = 0
        """Records written so far."""
        stream.write(encode_header(linktype, snaplen, byteorder=byteorder))

    def write(self, data: bytes, timestamp: float, *, original_length: int | None = None) -> None:
        """Append one packet captured at ``timestamp`` seconds."""
        self._stream.write(encode_record(data, timestamp, snaplen=self.snaplen,
                                         original_length=original_length,
                                         byteorder=self._byteorder))
        self.count += 1


def encode_ethernet(payload: bytes, *, source: bytes, destination: bytes,
                    ethertype: int = ETHERTYPE_IPV6, pad: bool = True) -> bytes:
    """An Ethernet II frame (no FCS); ``pad`` fills it to the 60-octet minimum with zeros."""
    if len(source) != 6 or len(destination) != 6 or not 0 <= ethertype <= 0xFFFF:
        raise EncodeError("Ethernet addresses must be 6 octets and the EtherType 16 bits")
    frame = destination + source + ethertype.to_bytes(2, "big") + payload
    if pad and len(frame) < ETHERNET_MIN_FRAME:
        frame += bytes(ETHERNET_MIN_FRAME - len(frame))
    return frame


# --------------------------------------------------------------------------------------------
# Reading


def decode_header(data: bytes) -> PcapHeader:
    """The global header at the start of ``data``."""
    if len(data) < HEADER_LEN:
        raise DecodeError(f"{len(data)} octets, a pcap header needs {HEADER_LEN}",
                          field="pcap.header", offset=0)
    byteorder: ByteOrder
    for byteorder in ("little", "big"):
        magic = int.from_bytes(data[:4], byteorder)
        if magic in (MAGIC_MICROSECONDS, MAGIC_NANOSECONDS):
            break
    else:
        if int.from_bytes(data[:4], "big") == _PCAPNG_MAGIC:
            raise DecodeError("a pcapng file; only classic pcap is read (convert it with "
                              "'editcap -F pcap')", field="pcap.magic", offset=0)
        raise DecodeError(f"magic 0x{data[:4].hex()} is not a pcap magic number",
                          field="pcap.magic", offset=0)
    _, major, minor, thiszone, sigfigs, snaplen, network = _STRUCTS[byteorder][0].unpack_from(data)
    if major != 2:
        raise DecodeError(f"version {major}.{minor}, expected 2.x", field="pcap.version_major",
                          offset=4)
    # draft-ietf-opsawg-pcap §4: the FCS length (in 16-bit words) lives in the top 4 bits,
    # valid when the F bit (bit 26) is set.
    fcs = ((network >> 28) & 0xF) * 2 if network & 0x04000000 else 0
    return PcapHeader(network & 0xFFFF, snaplen, byteorder, magic == MAGIC_NANOSECONDS, major,
                      minor, thiszone, sigfigs, fcs)


def iter_records(data: bytes, header: PcapHeader | None = None) -> Iterator[PcapRecord]:
    """The records of a whole file in ``data``, in order; raises :class:`DecodeError` at the
    first malformed record (after yielding every good one before it)."""
    if header is None:
        header = decode_header(data)
    rec = _STRUCTS[header.byteorder][1]
    scale = 1 if header.nanoseconds else 1000
    limit = max(header.snaplen, _MAX_RECORD)
    i = HEADER_LEN
    n = len(data)
    while i < n:
        if n - i < RECORD_HEADER_LEN:
            raise DecodeError(f"{n - i} octets left, a record header needs {RECORD_HEADER_LEN}",
                              field="pcap.record", offset=i)
        sec, frac, incl, orig = rec.unpack_from(data, i)
        if incl > limit:
            raise DecodeError(f"captured length {incl} exceeds the largest plausible {limit}",
                              field="pcap.record.captured_length", offset=i + 8)
        start = i + RECORD_HEADER_LEN
        if start + incl > n:
            raise DecodeError(f"captured length {incl} but {n - start} octets left",
                              field="pcap.record.captured_length", offset=i + 8)
        yield PcapRecord(sec * 1_000_000_000 + frac * scale, data[start : start + incl], orig, i)
        i = start + incl


def read_pcap(data: bytes) -> PcapFile:
    """A whole file; raises :class:`DecodeError` if any part of it is malformed."""
    header = decode_header(data)
    return PcapFile(header, tuple(iter_records(data, header)))


def decode_ethernet(frame: bytes) -> tuple[EthernetHeader, int]:
    """The Ethernet header of ``frame`` and the offset of its payload."""
    if len(frame) < ETHERNET_HEADER_LEN:
        raise DecodeError(f"{len(frame)} octets, an Ethernet header needs {ETHERNET_HEADER_LEN}",
                          field="ethernet", offset=0)
    ethertype = int.from_bytes(frame[12:14], "big")
    i = ETHERNET_HEADER_LEN
    tags: list[int] = []
    while ethertype in _VLAN_ETHERTYPES:
        if len(frame) < i + 4:
            raise DecodeError("truncated VLAN tag", field="ethernet.vlan_tag", offset=i)
        tags.append(int.from_bytes(frame[i : i + 2], "big"))
        ethertype = int.from_bytes(frame[i + 2 : i + 4], "big")
        i += 4
    return EthernetHeader(frame[0:6], frame[6:12], ethertype, tuple(tags)), i


def link_payload(linktype: int, frame: bytes, *, fcs_length: int = 0) -> LinkPayload:
    """Locate the IPv6 packet in a frame of the given link type.

    Raises :class:`DecodeError` for a frame too short for its link header and
    :class:`LocalProtocolError` for a link type outside :data:`SUPPORTED_LINKTYPES`.
    """
    end = max(len(frame) - fcs_length, 0)
    if linktype == LINKTYPE_ETHERNET:
        eth, off = decode_ethernet(frame[:end])
        if eth.ethertype != ETHERTYPE_IPV6:
            return LinkPayload(eth, off, end, False, f"EtherType 0x{eth.ethertype:04x} is not IPv6")
        return LinkPayload(eth, off, end, True)
    if linktype == LINKTYPE_RAW:
        if end and frame[0] >> 4 != 6:
            return LinkPayload(None, 0, end, False, f"IP version {frame[0] >> 4} is not IPv6")
        return LinkPayload(None, 0, end, True)
    if linktype == LINKTYPE_IPV6:
        return LinkPayload(None, 0, end, True)
    raise LocalProtocolError(f"link type {linktype} not supported")
