"""``hmipv6 decode``: print the packets of a pcap file or hex strings, decoded by ``wire``.

Theory of operation
-------------------
Inputs are pcap files (classic libpcap, link types raw IPv6 and Ethernet, read by
:mod:`hmipv6.wire.pcap`), text files of hex (one packet a line), or hex strings given on the
command line. Each packet goes through :func:`hmipv6.wire.decode` once; what comes back is a
tree of frozen dataclasses, and everything after that is *generic*: :func:`packet_headers`
flattens the tree into a list of headers from the outermost in (Ethernet, IPv6, each extension
header, the payload; a tunnelled IPv6 packet continues the list), and :func:`render` turns any
dataclass into plain JSON values by walking ``dataclasses.fields``:

- ``IPv6Address``/networks become strings, ``bytes`` hex, ``bool`` stays ``bool``;
- an ``IntEnum`` becomes ``{"name": ..., "value": ...}``; a plain ``int`` in a field annotated
  with an enum is looked up in it (``name`` is ``null`` for an unassigned code point);
- an ``IntFlag`` becomes the letters of its set members (``"AM"``), or their names joined by
  ``|`` when the member names are longer than one letter; unnamed bits follow as hex;
- class-level ``ClassVar`` code points that are enum members (``icmp_type``, ``mh_type``,
  ``option_type``) come first, so a message says what it is by name and number;
- nested dataclasses (options) become objects with a ``"type"`` key, tuples become lists.

So message classes added later render without a change here. Field names are the
dataclasses' own (RFC names in snake_case); values are in the units the classes store, which
the codecs document (seconds for lifetimes).

Text output prints the same tree, one line per header (``name: key=value ...``) with nested
objects indented below. ``--json`` prints one JSON object per packet per line.

With ``--esp-sa FILE`` (a Wireshark ``esp_sa`` table, as ``--export-sa`` writes it), an
ESP payload whose SPI is in the table is opened as a receiver would (RFC 4303 §3.4: ICV, then
decryption and the trailer; no replay window, a capture may repeat packets): the ESP header
shows ``icv`` ``"good"`` and the Next Header inside, and the decrypted payload follows,
decoded as any other (its checksum over the effective addresses). A failing ICV shows as
``icv`` ``"bad"`` with the payload left opaque.

``--filter TYPES`` and ``--address ADDR`` show only the packets holding one of those message
types, or to or from that address or prefix (:mod:`hmipv6.decode_filter`); packet numbers
stay those of the capture.

A packet that does not decode prints ``packet N: malformed: <field> at offset <k>: <reason>``
(offsets count from the start of the captured frame) and decoding goes on. Exit status: 0 when
every packet decoded, 1 when any was malformed, 2 for usage errors and unreadable inputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import ipaddress
import itertools
import json
import os
import re
import string
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, ClassVar

from hmipv6 import wire  # importing the package registers every upper-layer decoder
from hmipv6.core.ipsec.esp import open_octets
from hmipv6.core.ipsec.sad import SecurityAssociation
from hmipv6.core.ipsec.wireshark import parse_esp_sa_table
from hmipv6.core.security import SecurityDrop
from hmipv6.decode_filter import FilterError, PacketFilter
from hmipv6.errors import DecodeError, LocalProtocolError
from hmipv6.wire import pcap
from hmipv6.wire.ipv6 import (
    EncapsulatingSecurityPayload,
    IPv6Packet,
    NextHeader,
    Payload,
    decode_payload,
)

__all__ = ["packet_headers", "register", "render", "run"]

Json: typing.TypeAlias = Any
"""A value ``json.dumps`` accepts."""

_LINKS = {"raw": pcap.LINKTYPE_RAW, "ipv6": pcap.LINKTYPE_IPV6, "ethernet": pcap.LINKTYPE_ETHERNET}
_NEXT_HEADER_NAMES = {v: k for k, v in vars(NextHeader).items()
                      if not k.startswith("_") and isinstance(v, int)}
_HEX_DIGITS = frozenset(string.hexdigits)
_ETHERTYPE_NAMES = {0x86DD: "IPv6", 0x0800: "IPv4", 0x0806: "ARP"}


class UsageError(Exception):
    """An input that cannot be read at all (exit status 2)."""


# --------------------------------------------------------------------------------------------
# Generic rendering of the wire dataclasses


def _snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)v([46])", lambda m: m.group(1).capitalize() + "v" + m.group(2), name)
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower()


_TYPE_NAMES: dict[type, str] = {IPv6Packet: "ipv6"}


def type_name(cls: type) -> str:
    """The snake_case name a dataclass renders under (``BindingUpdate`` -> ``binding_update``)."""
    n = _TYPE_NAMES.get(cls)
    if n is None:
        n = _TYPE_NAMES[cls] = _snake(cls.__name__)
    return n


@dataclass(frozen=True, slots=True)
class _ClassInfo:
    fields: tuple[tuple[str, tuple[type[enum.Enum], ...]], ...]
    """Each field's name and the enum classes its annotation mentions."""
    code_points: tuple[str, ...]
    """ClassVar attributes holding enum members."""


_CLASS_INFO: dict[type, _ClassInfo] = {}


def _enums_in(hint: object) -> tuple[type[enum.Enum], ...]:
    found: list[type[enum.Enum]] = []
    stack = [hint]
    while stack:
        h = stack.pop()
        if isinstance(h, type) and issubclass(h, enum.Enum):
            found.append(h)
        stack.extend(typing.get_args(h))
    return tuple(found)


def _is_classvar(ann: object) -> bool:
    if isinstance(ann, str):
        return ann.startswith(("ClassVar", "typing.ClassVar"))
    return typing.get_origin(ann) is ClassVar


def _class_info(cls: type) -> _ClassInfo:
    info = _CLASS_INFO.get(cls)
    if info is not None:
        return info
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an unresolvable annotation only costs enum look-ups
        hints = {}
    fields = tuple((f.name, _enums_in(hints.get(f.name))) for f in dataclasses.fields(cls))
    names = {f for f, _ in fields}
    code_points: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, ann in vars(klass).get("__annotations__", {}).items():
            if (name not in names and name not in code_points and _is_classvar(ann)
                    and isinstance(getattr(cls, name, None), enum.Enum)):
                code_points.append(name)
    info = _CLASS_INFO[cls] = _ClassInfo(fields, tuple(code_points))
    return info


def flag_letters(value: enum.IntFlag) -> str:
    """``BUFlags.A | BUFlags.M`` -> ``"AM"``: set members in definition order, as letters
    when every member name is one letter, else names joined by ``|``; unnamed bits as hex."""
    cls = type(value)
    members = list(cls)
    names = [m.name or "" for m in members if m.value and (value & m) == m]
    known = 0
    for m in members:
        known |= m.value
    rest = int(value) & ~known
    single = all(len(m.name or "") == 1 for m in members)
    text = "".join(names) if single else "|".join(names)
    if rest:
        text += f"{'+' if single else '|'}0x{rest:x}"
    return text


def _enum_json(value: enum.Enum) -> Json:
    if isinstance(value, enum.IntFlag):
        return flag_letters(value)
    return {"name": value.name, "value": value.value}


def _as_enum(value: int, enums: tuple[type[enum.Enum], ...]) -> Json:
    for e in enums:
        try:
            member = e(value)
        except ValueError:
            continue
        return _enum_json(member)
    if any(issubclass(e, enum.IntFlag) for e in enums):
        return f"0x{value:x}"
    return {"name": None, "value": value}


def render(value: object, enums: tuple[type[enum.Enum], ...] = ()) -> Json:
    """Any decoded value as plain JSON data (see the module docstring for the rules)."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, enum.Enum):
        return _enum_json(value)
    if isinstance(value, int):
        return _as_enum(value, enums) if enums else value
    if isinstance(value, ipaddress.IPv6Address | ipaddress.IPv4Address | ipaddress.IPv6Network
                  | ipaddress.IPv4Network):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _render_object(value, "type")
    if isinstance(value, tuple | list | frozenset | set):
        return [render(v, enums) for v in value]
    return str(value)


def _render_object(obj: object, key: str) -> dict[str, Json]:
    cls = type(obj)
    info = _class_info(cls)
    out: dict[str, Json] = {key: type_name(cls)}
    for name in info.code_points:
        out[name] = render(getattr(cls, name))
    for name, enums in info.fields:
        out[name if name != key else f"{name}_"] = render(getattr(obj, name), enums)
    return out


def _next_header_json(value: int) -> Json:
    return {"name": _NEXT_HEADER_NAMES.get(value), "value": value}


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _ethernet_json(eth: pcap.EthernetHeader) -> dict[str, Json]:
    out: dict[str, Json] = {"header": "ethernet", "destination": _mac(eth.destination),
                            "source": _mac(eth.source),
                            "ethertype": {"name": _ETHERTYPE_NAMES.get(eth.ethertype),
                                          "value": eth.ethertype}}
    if eth.vlan_tags:
        out["vlan_tags"] = list(eth.vlan_tags)
    return out


def _protocol(x: object) -> int:
    """The Next Header value announcing ``x`` (an extension header or a payload)."""
    if x is None:
        return NextHeader.NO_NEXT_HEADER
    h = getattr(x, "header_type", None)
    if h is None and isinstance(x, Payload):
        h = x.next_header
    return int(h) if h is not None else NextHeader.NO_NEXT_HEADER


def packet_headers(packet: IPv6Packet, esp: dict[int, SecurityAssociation] | None = None,
                   *, verify: bool = True) -> list[dict[str, Json]]:
    """The headers of a decoded packet from the outermost in: the IPv6 header, each
    extension header, then the payload; a tunnelled packet (RFC 2473) continues the list.
    An ESP payload whose SPI is in ``esp`` is opened (module documentation)."""
    out: list[dict[str, Json]] = []
    p: object = packet
    last = packet
    while isinstance(p, IPv6Packet):
        last = p
        chain: list[object] = [*p.extension_headers, p.payload]
        out.append({"header": "ipv6", "src": str(p.src), "dst": str(p.dst),
                    "next_header": _next_header_json(_protocol(chain[0])),
                    "hop_limit": p.hop_limit, "traffic_class": p.traffic_class,
                    "flow_label": p.flow_label})
        for h, after in itertools.pairwise(chain):
            d = _render_object(h, "header")
            d["next_header"] = _next_header_json(_protocol(after))
            out.append(d)
        p = p.payload
    sa = esp.get(p.spi) if esp and isinstance(p, EncapsulatingSecurityPayload) else None
    if sa is not None:
        assert isinstance(p, EncapsulatingSecurityPayload)
        out += _opened_esp(last, p, sa, esp, verify)
    elif p is not None:
        out.append(_render_object(p, "header"))
    return out


def _opened_esp(packet: IPv6Packet, payload: EncapsulatingSecurityPayload,
                sa: SecurityAssociation, esp: dict[int, SecurityAssociation] | None,
                verify: bool) -> list[dict[str, Json]]:
    """The ESP header (with ``icv``) and what it protects, opened with ``sa``."""
    head = _render_object(payload, "header")
    octets = payload.spi.to_bytes(4, "big") + payload.sequence.to_bytes(4, "big") + payload.data
    try:
        _, nh, plain = open_octets(sa, octets, False)  # no commit: no replay state
    except SecurityDrop as e:
        head["icv"] = "bad" if e.reason == "bad-icv" else f"good; {e.reason}"
        return [head]
    del head["data"]
    head["icv"] = "good"
    head["next_header"] = _next_header_json(nh)
    try:
        inner = decode_payload(nh, plain, packet.effective_src.packed,
                               packet.effective_dst.packed, verify=verify)
    except DecodeError as e:
        raise DecodeError(f"inside ESP SPI 0x{payload.spi:08x} (offset {e.offset} of the "
                          f"decrypted payload): {e.reason}", field=f"esp.{e.field}",
                          offset=0) from None
    if isinstance(inner, IPv6Packet):
        return [head, *packet_headers(inner, esp, verify=verify)]
    return [head, _render_object(inner, "header")]


# --------------------------------------------------------------------------------------------
# Text output


def _is_enum_json(v: Json) -> bool:
    return isinstance(v, dict) and set(v) == {"name", "value"}


def _scalar_text(v: Json) -> str:
    if _is_enum_json(v):
        return f"{v['value']}" if v["name"] is None else f"{v['name']}({v['value']})"
    if isinstance(v, list):
        return "[" + ", ".join(_scalar_text(x) for x in v) + "]"
    if v is None:
        return "-"
    if isinstance(v, str) and v == "":
        return "''"
    return str(v)


def _is_nested(v: Json) -> bool:
    if isinstance(v, dict):
        return not _is_enum_json(v)
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) and not _is_enum_json(x)
                                                   for x in v)


def _object_lines(obj: dict[str, Json], key: str, indent: str, label: str = "") -> list[str]:
    scalars = [f"{k}={_scalar_text(v)}" for k, v in obj.items() if k != key and not _is_nested(v)]
    lines = [f"{indent}{label}{obj[key]}: " + " ".join(scalars)]
    for k, v in obj.items():
        if k == key or not _is_nested(v):
            continue
        sub = f"{k}=" if k != "options" else ""
        for item in v if isinstance(v, list) else [v]:
            lines += _object_lines(item, "type", indent + "  ", sub)
    return [line.rstrip() for line in lines]


def _text(record: dict[str, Json]) -> str:
    n = record["packet"]
    if "error" in record:
        e = record["error"]
        if e["field"] is None:
            return f"packet {n}: {e['reason']}"
        return f"packet {n}: malformed: {e['field']} at offset {e['offset']}: {e['reason']}"
    head = f"packet {n}:"
    if record.get("time") is not None:
        head += f" time {record['time']}"
    head += f" length {record['length']}"
    if record.get("original_length", record["length"]) != record["length"]:
        head += f" (of {record['original_length']})"
    lines = [head]
    if "skipped" in record:
        lines[0] += f" skipped: {record['skipped']}"
    for h in record.get("headers", ()):
        lines += _object_lines(h, "header", "  ")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class _Frame:
    number: int
    data: bytes
    linktype: int
    time: str | None = None
    original_length: int | None = None
    fcs_length: int = 0


@dataclass(frozen=True, slots=True)
class _FileError:
    number: int
    error: DecodeError


def _parse_hex(text: str) -> bytes | None:
    t = re.sub(r"[\s:.-]", "", text)
    if t[:2].lower() == "0x":
        t = t[2:]
    if not t or len(t) % 2 or not set(t) <= _HEX_DIGITS:
        return None
    return bytes.fromhex(t)


def _read(path: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from e


def _frames_of_file(path: str, data: bytes, hex_link: int) -> Iterator[_Frame | _FileError]:
    try:
        header = pcap.decode_header(data)
    except DecodeError as e:
        lines = _hex_lines(data)
        if lines is None:
            raise UsageError(f"{path}: not a pcap file or hex text ({e.reason})") from e
        for i, raw in enumerate(lines, 1):
            yield _Frame(i, raw, hex_link)
        return
    if header.linktype not in pcap.SUPPORTED_LINKTYPES:
        raise UsageError(f"{path}: link type {header.linktype} is not supported (raw IPv6 "
                         f"{pcap.LINKTYPE_RAW}/{pcap.LINKTYPE_IPV6} or Ethernet "
                         f"{pcap.LINKTYPE_ETHERNET})")
    digits = 9 if header.nanoseconds else 6
    n = 0
    try:
        for n, rec in enumerate(pcap.iter_records(data, header), 1):
            sec, frac = divmod(rec.timestamp_ns, 1_000_000_000)
            frac //= 10 ** (9 - digits)
            yield _Frame(n, rec.data, header.linktype, f"{sec}.{frac:0{digits}d}",
                         rec.original_length, header.fcs_length)
    except DecodeError as e:
        yield _FileError(n + 1, e)


def _hex_lines(data: bytes) -> list[bytes] | None:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    out: list[bytes] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        raw = _parse_hex(line)
        if raw is None:
            return None
        out.append(raw)
    return out or None


# --------------------------------------------------------------------------------------------
# Decoding one frame


def _decode_frame(frame: _Frame, *, verify: bool = True,
                  esp: dict[int, SecurityAssociation] | None = None) -> dict[str, Json]:
    """The JSON record of one captured frame (``error`` or ``skipped`` when not decoded)."""
    out: dict[str, Json] = {"packet": frame.number}
    if frame.time is not None:
        out["time"] = frame.time
    out["length"] = len(frame.data)
    if frame.original_length is not None and frame.original_length != len(frame.data):
        out["original_length"] = frame.original_length
    offset = 0
    try:
        lp = pcap.link_payload(frame.linktype, frame.data, fcs_length=frame.fcs_length)
        offset = lp.offset
        headers: list[dict[str, Json]] = []
        if lp.ethernet is not None:
            headers.append(_ethernet_json(lp.ethernet))
        if not lp.is_ipv6:
            out["skipped"] = lp.reason
            out["headers"] = headers
            return out
        trailer = frame.linktype == pcap.LINKTYPE_ETHERNET
        packet = wire.decode(frame.data[lp.offset : lp.end], verify=verify, allow_trailer=trailer)
        out["headers"] = headers + packet_headers(packet, esp, verify=verify)
    except DecodeError as e:
        reason = e.reason
        if frame.original_length is not None and frame.original_length > len(frame.data):
            reason += (f" (only {len(frame.data)} of {frame.original_length} octets were "
                       "captured)")
        out["error"] = {"field": e.field, "offset": e.offset + offset, "reason": reason}
    except Exception as e:  # W-10 makes this a bug; report it and go on with the next packet
        out.pop("headers", None)
        out["error"] = {"field": None, "offset": None,
                        "reason": f"internal error, please report: {type(e).__name__}: {e}"}
    return out


# --------------------------------------------------------------------------------------------
# The command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``decode`` to the ``hmipv6`` command's subparsers."""
    p = subparsers.add_parser(
        "decode", help="decode packets from a pcap file or hex",
        description="Decode IPv6 packets (HMIPv6/MIPv6 messages, ND, ICMPv6, UDP, tunnels) from "
                    "pcap files (raw IPv6 or Ethernet link types), files of hex lines, or hex "
                    "strings. Exit status: 0 all decoded, 1 some malformed, 2 unusable input.")
    p.add_argument("inputs", nargs="*", metavar="FILE_OR_HEX",
                   help="a pcap file, a text file of hex (one packet a line), '-' for stdin, or "
                        "a packet in hex")
    p.add_argument("--hex", action="append", default=[], metavar="HEX",
                   help="a packet in hex (repeatable)")
    p.add_argument("--link", choices=sorted(_LINKS), default="raw",
                   help="link type of hex input (default: raw IPv6)")
    p.add_argument("--json", action="store_true", help="one JSON object per packet")
    p.add_argument("--no-verify", action="store_true",
                   help="do not verify ICMPv6/UDP/Mobility Header checksums")
    p.add_argument("--esp-sa", action="append", default=[], metavar="FILE",
                   help="open ESP with these SAs (a Wireshark esp_sa table, as --export-sa "
                        "writes it): ICV checked, payload decrypted and decoded")
    p.add_argument("--filter", action="append", default=[], metavar="TYPES",
                   help="show only packets holding one of these message types, comma-"
                        "separated: bu, ba, be, brr, hoti, hot, coti, cot, fbu, fback, fna, "
                        "hi, hack, mh (any Mobility Header), rs, ra, ns, na, redirect, "
                        "rtsolpr, prrtadv, echo, esp, ah, udp, ike, or a header name as "
                        "printed (binding_update); with --esp-sa, BUs and BAs inside ESP "
                        "match too")
    p.add_argument("--address", action="append", default=[], metavar="ADDR",
                   help="show only packets to or from this IPv6 address or prefix (any IPv6 "
                        "header, tunnelled ones included, or a home address they carry; "
                        "repeatable)")
    p.set_defaults(handler=run)


def _esp_sas(paths: list[str]) -> dict[int, SecurityAssociation]:
    """Inbound SAs by SPI from ``esp_sa`` tables."""
    sas: dict[int, SecurityAssociation] = {}
    for path in paths:
        try:
            for params in parse_esp_sa_table(_read(path).decode("utf-8")):
                sas[params.spi] = SecurityAssociation(params, "in")  # keys the transforms
        except (LocalProtocolError, UnicodeDecodeError, ValueError) as e:
            raise UsageError(f"--esp-sa {path}: {e}") from None
    return sas


def _sources(args: argparse.Namespace) -> list[tuple[str, bytes | None]]:
    """``(name, hex_bytes)`` for hex inputs, ``(path, None)`` for files, in command order."""
    out: list[tuple[str, bytes | None]] = []
    for item in args.inputs:
        if item == "-" or _is_file(item):
            out.append((item, None))
            continue
        raw = _parse_hex(item)
        if raw is None:
            raise UsageError(f"{item!r} is neither a readable file nor hex")
        out.append(("hex", raw))
    for item in args.hex:
        raw = _parse_hex(item)
        if raw is None:
            raise UsageError(f"--hex {item!r} is not an even number of hex digits")
        out.append(("hex", raw))
    if not out:
        raise UsageError("nothing to decode: give a pcap file, a hex string or --hex")
    return out


def _is_file(path: str) -> bool:
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory")
    return os.path.exists(path)


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Run ``hmipv6 decode`` with parsed arguments; returns the exit status."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    link = _LINKS[args.link]
    malformed = False
    try:
        try:
            shown = PacketFilter.parse(getattr(args, "filter", []), getattr(args, "address", []))
        except FilterError as e:
            raise UsageError(str(e)) from None
        esp = _esp_sas(args.esp_sa)
        sources = _sources(args)
        multi = len(sources) > 1
        hex_count = 0
        for name, raw in sources:
            frames: Iterator[_Frame | _FileError]
            if raw is not None:
                hex_count += 1
                frames = iter([_Frame(hex_count, raw, link)])
                source = None
            else:
                frames = _frames_of_file(name, _read(name), link)
                source = name
                if multi and not args.json:
                    print(f"==> {name} <==", file=out)
            for f in frames:
                if isinstance(f, _FileError):
                    rec: dict[str, Json] = {"packet": f.number, "error": {
                        "field": f.error.field, "offset": f.error.offset,
                        "reason": f.error.reason + " (the rest of the file is unreadable)"}}
                else:
                    rec = _decode_frame(f, verify=not args.no_verify, esp=esp)
                if multi and source is not None:
                    rec = {"source": source, **rec}
                malformed |= "error" in rec
                if not shown.matches(rec):
                    continue
                if args.json:
                    print(json.dumps(rec), file=out)
                else:
                    print(_text(rec), file=out)
    except UsageError as e:
        print(f"hmipv6 decode: error: {e}", file=err)
        return 2
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep the interpreter's final
        # flush of stdout from failing again.
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if malformed else 0
