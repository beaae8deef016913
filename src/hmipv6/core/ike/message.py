"""IKEv2 messages on the wire (RFC 7296 §3): header, payload chain and the payloads this
project speaks.

Theory of operation
-------------------
A :class:`Message` is the IKE header (§3.1) plus a tuple of payloads. Each payload class knows
its Payload Type and encodes and decodes only its *body* (what follows the 4-octet generic
payload header of §3.2); the chain (Next Payload fields, lengths, the Critical bit) is handled
here. The Encrypted and Authenticated payload (SK, §3.14) is kept opaque by this module
(:class:`Encrypted` holds the type of the first inner payload and the octets IV ‖ ciphertext ‖
ICV); :mod:`.crypto` opens and seals it and calls :func:`decode_chain` on the clear text.

Every malformed input raises :class:`hmipv6.errors.DecodeError` (with field and offset) and
nothing else: the decoders check every length before slicing and never call into code that
can raise another exception on attacker-chosen octets. Unknown payload types without the
Critical bit are kept as :class:`UnknownPayload` (§2.5: skip them); with the Critical bit they
are a decode error naming the type (the responder then answers UNSUPPORTED_CRITICAL_PAYLOAD).

Payloads: SA (proposals and transforms, §3.3), KE (§3.4), IDi/IDr (§3.5: ID_IPV6_ADDR,
ID_FQDN, ID_KEY_ID, ID_RFC822_ADDR), CERT (§3.6) and CERTREQ (§3.7), AUTH (§3.8), Ni/Nr
(§3.9), N (§3.10), D (§3.11), V (§3.12, kept raw), TSi/TSr (§3.13, TS_IPV6_ADDR_RANGE and
TS_IPV4_ADDR_RANGE), SK (§3.14), CP (§3.15, INTERNAL_IP6_ADDRESS for RFC 4877 §9 / RFC 5380
R-flag RCoA allocation).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import ClassVar, Final

from hmipv6.errors import DecodeError, EncodeError

__all__ = [
    "CERT_X509_SIGNATURE",
    "HEADER_LEN",
    "IKE_PORT",
    "Auth",
    "AuthMethod",
    "Certificate",
    "CertificateRequest",
    "ConfigAttribute",
    "Configuration",
    "Delete",
    "Encrypted",
    "ExchangeType",
    "Flags",
    "IdType",
    "Identification",
    "KeyExchange",
    "Message",
    "Nonce",
    "Notify",
    "NotifyType",
    "Payload",
    "PayloadType",
    "Proposal",
    "ProtocolId",
    "SecurityAssociationPayload",
    "TrafficSelector",
    "TrafficSelectors",
    "Transform",
    "TransformType",
    "UnknownPayload",
    "VendorId",
    "decode",
    "decode_chain",
    "encode_chain",
    "peek_header",
]

IKE_PORT: Final = 500
HEADER_LEN: Final = 28
_HDR = struct.Struct("!QQBBBBII")
_GEN = struct.Struct("!BBH")


class ExchangeType(enum.IntEnum):
    IKE_SA_INIT = 34
    IKE_AUTH = 35
    CREATE_CHILD_SA = 36
    INFORMATIONAL = 37


class Flags(enum.IntFlag):
    NONE = 0
    INITIATOR = 0x08
    VERSION = 0x10
    RESPONSE = 0x20


class PayloadType(enum.IntEnum):
    NONE = 0
    SA = 33
    KE = 34
    IDi = 35
    IDr = 36
    CERT = 37
    CERTREQ = 38
    AUTH = 39
    NONCE = 40
    N = 41
    D = 42
    V = 43
    TSi = 44
    TSr = 45
    SK = 46
    CP = 47
    EAP = 48


class ProtocolId(enum.IntEnum):
    IKE = 1
    AH = 2
    ESP = 3


class TransformType(enum.IntEnum):
    ENCR = 1
    PRF = 2
    INTEG = 3
    DH = 4
    ESN = 5


class IdType(enum.IntEnum):
    ID_IPV4_ADDR = 1
    ID_FQDN = 2
    ID_RFC822_ADDR = 3
    ID_IPV6_ADDR = 5
    ID_DER_ASN1_DN = 9
    ID_DER_ASN1_GN = 10
    ID_KEY_ID = 11


class AuthMethod(enum.IntEnum):
    RSA_SIGNATURE = 1
    SHARED_KEY_MIC = 2
    DSS_SIGNATURE = 3
    ECDSA_SHA256_P256 = 9


class NotifyType(enum.IntEnum):
    UNSUPPORTED_CRITICAL_PAYLOAD = 1
    INVALID_IKE_SPI = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_SYNTAX = 7
    INVALID_MESSAGE_ID = 9
    INVALID_SPI = 11
    NO_PROPOSAL_CHOSEN = 14
    INVALID_KE_PAYLOAD = 17
    AUTHENTICATION_FAILED = 24
    SINGLE_PAIR_REQUIRED = 34
    NO_ADDITIONAL_SAS = 35
    INTERNAL_ADDRESS_FAILURE = 36
    FAILED_CP_REQUIRED = 37
    TS_UNACCEPTABLE = 38
    INVALID_SELECTORS = 39
    TEMPORARY_FAILURE = 43
    CHILD_SA_NOT_FOUND = 44
    INITIAL_CONTACT = 16384
    COOKIE = 16390
    USE_TRANSPORT_MODE = 16391
    REKEY_SA = 16393


TS_IPV4_ADDR_RANGE: Final = 7
TS_IPV6_ADDR_RANGE: Final = 8
CFG_REQUEST: Final = 1
CFG_REPLY: Final = 2
INTERNAL_IP6_ADDRESS: Final = 8
KEY_LENGTH_ATTRIBUTE: Final = 14


def _err(msg: str, fld: str, off: int) -> DecodeError:
    return DecodeError(msg, field=f"ike.{fld}", offset=off)


# -- payloads --------------------------------------------------------------------------------


class Payload:
    """Base of the payload classes: ``payload_type`` and the body codec."""

    payload_type: ClassVar[int] = 0

    def encode_body(self) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Transform(Payload):
    """One transform (§3.3.2); ``key_length`` is the Key Length attribute (§3.3.5) in bits."""

    type: int
    id: int
    key_length: int | None = None

    def encode_body(self) -> bytes:
        attrs = b"" if self.key_length is None else struct.pack(
            "!HH", 0x8000 | KEY_LENGTH_ATTRIBUTE, self.key_length)
        return struct.pack("!BBH", self.type, 0, self.id) + attrs


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposal (§3.3.1)."""

    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]

    def of_type(self, ttype: int) -> list[Transform]:
        return [t for t in self.transforms if t.type == ttype]

    def encode(self, last: bool) -> bytes:
        parts = []
        for i, t in enumerate(self.transforms):
            body = t.encode_body()
            more = 0 if i == len(self.transforms) - 1 else 3
            parts.append(struct.pack("!BBH", more, 0, 4 + len(body)) + body)
        rest = b"".join(parts)
        if len(self.transforms) > 255 or len(self.spi) > 255:
            raise EncodeError("too many transforms or SPI too long")
        head = struct.pack("!BBHBBBB", 0 if last else 2, 0, 8 + len(self.spi) + len(rest),
                           self.number, self.protocol, len(self.spi), len(self.transforms))
        return head + self.spi + rest


@dataclass(frozen=True, slots=True)
class SecurityAssociationPayload(Payload):
    payload_type: ClassVar[int] = PayloadType.SA
    proposals: tuple[Proposal, ...]

    def encode_body(self) -> bytes:
        n = len(self.proposals)
        return b"".join(p.encode(i == n - 1) for i, p in enumerate(self.proposals))


@dataclass(frozen=True, slots=True)
class KeyExchange(Payload):
    payload_type: ClassVar[int] = PayloadType.KE
    group: int
    data: bytes

    def encode_body(self) -> bytes:
        return struct.pack("!HH", self.group, 0) + self.data


@dataclass(frozen=True, slots=True)
class Identification(Payload):
    """IDi or IDr (§3.5); ``responder`` selects IDr."""

    id_type: int
    data: bytes
    responder: bool = False

    @property
    def payload_type(self) -> int:  # type: ignore[override]
        return PayloadType.IDr if self.responder else PayloadType.IDi

    def encode_body(self) -> bytes:
        return bytes((self.id_type, 0, 0, 0)) + self.data

    @property
    def name(self) -> str:
        """A printable identity: the address for ID_IPV6_ADDR, the text otherwise."""
        if self.id_type == IdType.ID_IPV6_ADDR and len(self.data) == 16:
            return str(IPv6Address(self.data))
        return self.data.decode("utf-8", "backslashreplace")


CERT_X509_SIGNATURE: Final = 4
"""Certificate Encoding 4, X.509 Certificate - Signature (§3.6): one DER certificate."""


@dataclass(frozen=True, slots=True)
class Certificate(Payload):
    """CERT (§3.6)."""

    payload_type: ClassVar[int] = PayloadType.CERT
    encoding: int
    data: bytes

    def encode_body(self) -> bytes:
        return bytes((self.encoding,)) + self.data


@dataclass(frozen=True, slots=True)
class CertificateRequest(Payload):
    """CERTREQ (§3.7): for encoding 4, SHA-1 hashes of the trusted CAs' public keys."""

    payload_type: ClassVar[int] = PayloadType.CERTREQ
    encoding: int
    authorities: bytes = b""

    def encode_body(self) -> bytes:
        return bytes((self.encoding,)) + self.authorities


@dataclass(frozen=True, slots=True)
class Auth(Payload):
    payload_type: ClassVar[int] = PayloadType.AUTH
    method: int
    data: bytes

    def encode_body(self) -> bytes:
        return bytes((self.method, 0, 0, 0)) + self.data


@dataclass(frozen=True, slots=True)
class Nonce(Payload):
    payload_type: ClassVar[int] = PayloadType.NONCE
    data: bytes

    def encode_body(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class Notify(Payload):
    payload_type: ClassVar[int] = PayloadType.N
    type: int
    protocol: int = 0
    spi: bytes = b""
    data: bytes = b""

    def encode_body(self) -> bytes:
        return struct.pack("!BBH", self.protocol, len(self.spi), self.type) + self.spi + self.data

    @property
    def is_error(self) -> bool:
        return self.type < 16384


@dataclass(frozen=True, slots=True)
class Delete(Payload):
    """D (§3.11): the SAs of ``protocol`` being deleted (IKE: no SPI, the SA carrying it)."""

    payload_type: ClassVar[int] = PayloadType.D
    protocol: int
    spis: tuple[bytes, ...] = ()

    def encode_body(self) -> bytes:
        size = len(self.spis[0]) if self.spis else 0
        if any(len(s) != size for s in self.spis) or len(self.spis) > 0xFFFF:
            raise EncodeError("Delete SPIs must all have one size")
        return struct.pack("!BBH", self.protocol, size, len(self.spis)) + b"".join(self.spis)


@dataclass(frozen=True, slots=True)
class VendorId(Payload):
    payload_type: ClassVar[int] = PayloadType.V
    body: bytes

    def encode_body(self) -> bytes:
        return self.body


@dataclass(frozen=True, slots=True)
class TrafficSelector:
    """TS_IPV6_ADDR_RANGE or, with IPv4 addresses, TS_IPV4_ADDR_RANGE (§3.13.1);
    ``protocol`` 0 = any; ports inclusive."""

    start: IPv6Address | IPv4Address
    end: IPv6Address | IPv4Address
    protocol: int = 0
    start_port: int = 0
    end_port: int = 0xFFFF

    @classmethod
    def address(cls, a: IPv6Address, protocol: int = 0) -> TrafficSelector:
        return cls(a, a, protocol)

    @property
    def ipv6(self) -> bool:
        return isinstance(self.start, IPv6Address)

    def contains(self, a: IPv6Address | IPv4Address) -> bool:
        return (a.version == self.start.version
                and int(self.start) <= int(a) <= int(self.end))

    def covers_protocol(self, protocol: int) -> bool:
        """The selector admits IP protocol ``protocol`` (0 in the selector = any)."""
        return self.protocol in (0, protocol)

    def encode(self) -> bytes:
        ttype, size = (TS_IPV6_ADDR_RANGE, 40) if self.ipv6 else (TS_IPV4_ADDR_RANGE, 16)
        return (struct.pack("!BBHHH", ttype, self.protocol, size, self.start_port,
                            self.end_port) + self.start.packed + self.end.packed)


@dataclass(frozen=True, slots=True)
class TrafficSelectors(Payload):
    selectors: tuple[TrafficSelector, ...]
    responder: bool = False

    @property
    def payload_type(self) -> int:  # type: ignore[override]
        return PayloadType.TSr if self.responder else PayloadType.TSi

    def encode_body(self) -> bytes:
        if len(self.selectors) > 255:
            raise EncodeError("too many traffic selectors")
        return bytes((len(self.selectors), 0, 0, 0)) + b"".join(s.encode() for s in self.selectors)


@dataclass(frozen=True, slots=True)
class ConfigAttribute:
    type: int
    value: bytes = b""


@dataclass(frozen=True, slots=True)
class Configuration(Payload):
    """CP (§3.15): CFG_REQUEST (1) / CFG_REPLY (2) with attributes."""

    payload_type: ClassVar[int] = PayloadType.CP
    cfg_type: int
    attributes: tuple[ConfigAttribute, ...] = ()

    def encode_body(self) -> bytes:
        out = bytearray((self.cfg_type, 0, 0, 0))
        for a in self.attributes:
            if not 0 <= a.type <= 0x7FFF or len(a.value) > 0xFFFF:
                raise EncodeError("configuration attribute out of range")
            out += struct.pack("!HH", a.type, len(a.value)) + a.value
        return bytes(out)

    def ip6_addresses(self) -> list[tuple[IPv6Address, int]]:
        """INTERNAL_IP6_ADDRESS values (address, prefix length) present."""
        return [(IPv6Address(a.value[:16]), a.value[16]) for a in self.attributes
                if a.type == INTERNAL_IP6_ADDRESS and len(a.value) == 17]


@dataclass(frozen=True, slots=True)
class Encrypted(Payload):
    """SK (§3.14), opaque here: the first inner payload's type and IV ‖ ciphertext ‖ ICV."""

    payload_type: ClassVar[int] = PayloadType.SK
    first: int
    body: bytes

    def encode_body(self) -> bytes:
        return self.body


@dataclass(frozen=True, slots=True)
class UnknownPayload(Payload):
    ptype: int
    body: bytes
    critical_bit: bool = False

    @property
    def payload_type(self) -> int:  # type: ignore[override]
        return self.ptype

    def encode_body(self) -> bytes:
        return self.body


# -- body decoders -----------------------------------------------------------------------------


def _dec_transform(d: bytes, s: int, e: int) -> Transform:
    if e - s < 4:
        raise _err("transform shorter than 4 octets", "transform", s)
    ttype, _, tid = struct.unpack_from("!BBH", d, s)
    key_length = None
    p = s + 4
    while p < e:
        if e - p < 4:
            raise _err("truncated transform attribute", "transform.attribute", p)
        atype, aval = struct.unpack_from("!HH", d, p)
        if atype & 0x8000:
            if atype & 0x7FFF == KEY_LENGTH_ATTRIBUTE:
                key_length = aval
            p += 4
        else:
            if p + 4 + aval > e:
                raise _err("attribute overruns transform", "transform.attribute", p)
            p += 4 + aval
    return Transform(ttype, tid, key_length)


def _dec_sa(d: bytes, s: int, e: int) -> SecurityAssociationPayload:
    proposals: list[Proposal] = []
    p = s
    last = False
    while p < e:
        if last:
            raise _err("proposal after the last one", "sa.proposal", p)
        if e - p < 8:
            raise _err("truncated proposal", "sa.proposal", p)
        more, _, plen, num, proto, spisize, ntrans = struct.unpack_from("!BBHBBBB", d, p)
        if more not in (0, 2):
            raise _err(f"Last Substruc {more}", "sa.proposal.last", p)
        last = more == 0
        pe = p + plen
        if plen < 8 + spisize or pe > e:
            raise _err(f"proposal length {plen}", "sa.proposal.length", p + 2)
        spi = d[p + 8:p + 8 + spisize]
        q = p + 8 + spisize
        transforms: list[Transform] = []
        tlast = ntrans == 0
        while q < pe:
            if tlast:
                raise _err("transform after the last one", "sa.transform", q)
            if pe - q < 8:
                raise _err("truncated transform", "sa.transform", q)
            tmore, _, tlen = struct.unpack_from("!BBH", d, q)
            if tmore not in (0, 3):
                raise _err(f"Last Substruc {tmore}", "sa.transform.last", q)
            tlast = tmore == 0
            if tlen < 8 or q + tlen > pe:
                raise _err(f"transform length {tlen}", "sa.transform.length", q + 2)
            transforms.append(_dec_transform(d, q + 4, q + tlen))
            q += tlen
        if len(transforms) != ntrans:
            raise _err(f"{len(transforms)} transforms, header says {ntrans}", "sa.proposal",
                       p + 7)
        proposals.append(Proposal(num, proto, spi, tuple(transforms)))
        p = pe
    if not proposals or not last:
        raise _err("no proposal, or the last one is not marked last", "sa", s)
    return SecurityAssociationPayload(tuple(proposals))


def _dec_ke(d: bytes, s: int, e: int) -> KeyExchange:
    if e - s < 4:
        raise _err("KE shorter than 4 octets", "ke", s)
    return KeyExchange(struct.unpack_from("!H", d, s)[0], d[s + 4:e])


def _dec_id(responder: bool) -> Callable[[bytes, int, int], Payload]:
    def dec(d: bytes, s: int, e: int) -> Payload:
        if e - s < 4:
            raise _err("ID shorter than 4 octets", "id", s)
        if d[s] == IdType.ID_IPV6_ADDR and e - s != 20:
            raise _err("ID_IPV6_ADDR must carry 16 octets", "id.data", s + 4)
        return Identification(d[s], d[s + 4:e], responder)
    return dec


def _dec_auth(d: bytes, s: int, e: int) -> Auth:
    if e - s < 4:
        raise _err("AUTH shorter than 4 octets", "auth", s)
    return Auth(d[s], d[s + 4:e])


def _dec_nonce(d: bytes, s: int, e: int) -> Nonce:
    if not 16 <= e - s <= 256:
        raise _err(f"nonce of {e - s} octets (16..256)", "nonce", s)
    return Nonce(d[s:e])


def _dec_notify(d: bytes, s: int, e: int) -> Notify:
    if e - s < 4:
        raise _err("N shorter than 4 octets", "notify", s)
    proto, spisize, ntype = struct.unpack_from("!BBH", d, s)
    if s + 4 + spisize > e:
        raise _err(f"SPI size {spisize}", "notify.spi_size", s + 1)
    return Notify(ntype, proto, d[s + 4:s + 4 + spisize], d[s + 4 + spisize:e])


def _dec_ts(responder: bool) -> Callable[[bytes, int, int], Payload]:
    def dec(d: bytes, s: int, e: int) -> Payload:
        if e - s < 4:
            raise _err("TS shorter than 4 octets", "ts", s)
        n = d[s]
        p = s + 4
        out: list[TrafficSelector] = []
        for _ in range(n):
            if e - p < 4:
                raise _err("truncated traffic selector", "ts.selector", p)
            ttype, proto, slen = struct.unpack_from("!BBH", d, p)
            if slen < 8 or p + slen > e:
                raise _err(f"selector length {slen}", "ts.selector.length", p + 2)
            sport, eport = struct.unpack_from("!HH", d, p + 4)
            if ttype == TS_IPV6_ADDR_RANGE and slen == 40:
                out.append(TrafficSelector(IPv6Address(d[p + 8:p + 24]),
                                           IPv6Address(d[p + 24:p + 40]), proto, sport, eport))
            elif ttype == TS_IPV4_ADDR_RANGE and slen == 16:
                out.append(TrafficSelector(IPv4Address(d[p + 8:p + 12]),
                                           IPv4Address(d[p + 12:p + 16]), proto, sport, eport))
            else:
                raise _err(f"selector type {ttype} length {slen}", "ts.selector.type", p)
            p += slen
        if p != e or not out:
            raise _err("selectors do not fill the payload, or none", "ts", p)
        return TrafficSelectors(tuple(out), responder)
    return dec


def _dec_delete(d: bytes, s: int, e: int) -> Delete:
    if e - s < 4:
        raise _err("D shorter than 4 octets", "delete", s)
    proto, size, n = struct.unpack_from("!BBH", d, s)
    if s + 4 + size * n != e or (proto == ProtocolId.IKE and (size or n)):
        raise _err(f"{n} SPIs of {size} octets in {e - s - 4}", "delete.spis", s + 2)
    return Delete(proto, tuple(d[s + 4 + i * size:s + 4 + (i + 1) * size] for i in range(n)))


def _dec_cp(d: bytes, s: int, e: int) -> Configuration:
    if e - s < 4:
        raise _err("CP shorter than 4 octets", "cp", s)
    p = s + 4
    attrs: list[ConfigAttribute] = []
    while p < e:
        if e - p < 4:
            raise _err("truncated attribute", "cp.attribute", p)
        atype, alen = struct.unpack_from("!HH", d, p)
        if p + 4 + alen > e:
            raise _err(f"attribute length {alen}", "cp.attribute.length", p + 2)
        value = d[p + 4:p + 4 + alen]
        if atype & 0x7FFF == INTERNAL_IP6_ADDRESS and alen not in (0, 17):
            raise _err(f"INTERNAL_IP6_ADDRESS of {alen} octets (0 or 17)", "cp.attribute", p)
        attrs.append(ConfigAttribute(atype & 0x7FFF, value))
        p += 4 + alen
    return Configuration(d[s], tuple(attrs))


def _dec_cert(d: bytes, s: int, e: int) -> Certificate:
    if e - s < 1:
        raise _err("CERT without an encoding", "cert", s)
    return Certificate(d[s], d[s + 1:e])


def _dec_certreq(d: bytes, s: int, e: int) -> CertificateRequest:
    if e - s < 1:
        raise _err("CERTREQ without an encoding", "certreq", s)
    return CertificateRequest(d[s], d[s + 1:e])


_DECODERS: dict[int, Callable[[bytes, int, int], Payload]] = {
    PayloadType.SA: _dec_sa,
    PayloadType.KE: _dec_ke,
    PayloadType.IDi: _dec_id(False),
    PayloadType.IDr: _dec_id(True),
    PayloadType.AUTH: _dec_auth,
    PayloadType.CERT: _dec_cert,
    PayloadType.CERTREQ: _dec_certreq,
    PayloadType.NONCE: _dec_nonce,
    PayloadType.N: _dec_notify,
    PayloadType.D: _dec_delete,
    PayloadType.V: lambda d, s, e: VendorId(d[s:e]),
    PayloadType.TSi: _dec_ts(False),
    PayloadType.TSr: _dec_ts(True),
    PayloadType.CP: _dec_cp,
}


# -- chain and message -----------------------------------------------------------------------


def encode_chain(payloads: tuple[Payload, ...] | list[Payload]) -> tuple[int, bytes]:
    """(type of the first payload, octets of the chain)."""
    out = bytearray()
    for i, p in enumerate(payloads):
        body = p.encode_body()
        nxt = payloads[i + 1].payload_type if i + 1 < len(payloads) else 0
        if isinstance(p, Encrypted):
            nxt = p.first  # §3.14: SK's Next Payload is the first inner payload's type
        if 4 + len(body) > 0xFFFF:
            raise EncodeError("payload longer than 65535 octets")
        crit = 0x80 if getattr(p, "critical_bit", False) else 0
        out += _GEN.pack(nxt, crit, 4 + len(body)) + body
    return (payloads[0].payload_type if payloads else 0), bytes(out)


def decode_chain(first: int, d: bytes, s: int, e: int) -> tuple[Payload, ...]:
    """Decode the payload chain in ``d[s:e]`` whose first payload has type ``first``. An SK
    payload ends the chain (its Next Payload names the first *inner* payload)."""
    out: list[Payload] = []
    ptype = first
    p = s
    while ptype != 0:
        if e - p < 4:
            raise _err(f"truncated payload header (type {ptype})", "payload", p)
        nxt, flags, plen = _GEN.unpack_from(d, p)
        if plen < 4 or p + plen > e:
            raise _err(f"payload length {plen}", "payload.length", p + 2)
        if ptype == PayloadType.SK:
            if p + plen != e:
                raise _err("SK payload must be the last payload", "sk", p)
            out.append(Encrypted(nxt, d[p + 4:p + plen]))
            return tuple(out)
        dec = _DECODERS.get(ptype)
        if dec is None:
            if flags & 0x80:
                raise _err(f"unsupported critical payload type {ptype}", "payload.critical", p)
            out.append(UnknownPayload(ptype, d[p + 4:p + plen]))
        else:
            out.append(dec(d, p + 4, p + plen))
        p += plen
        ptype = nxt
    if p != e:
        raise _err(f"{e - p} octets after the last payload", "payload", p)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Message:
    """An IKEv2 message (§3.1)."""

    spi_i: int
    spi_r: int
    exchange: int
    flags: Flags
    message_id: int
    payloads: tuple[Payload, ...] = field(default=())

    @property
    def is_response(self) -> bool:
        return bool(self.flags & Flags.RESPONSE)

    @property
    def from_initiator(self) -> bool:
        return bool(self.flags & Flags.INITIATOR)

    def find(self, kind: type[Payload]) -> list[Payload]:
        return [p for p in self.payloads if isinstance(p, kind)]

    def header(self, first: int, length: int) -> bytes:
        if not (0 <= self.spi_i < 1 << 64 and 0 <= self.spi_r < 1 << 64
                and 0 <= self.message_id < 1 << 32):
            raise EncodeError("IKE SPI or message ID out of range")
        return _HDR.pack(self.spi_i, self.spi_r, first, 0x20, self.exchange, int(self.flags),
                         self.message_id, length)

    def encode(self) -> bytes:
        first, chain = encode_chain(self.payloads)
        return self.header(first, HEADER_LEN + len(chain)) + chain


def peek_header(d: bytes) -> tuple[int, int, int, int, Flags, int, int]:
    """(SPIi, SPIr, next payload, exchange, flags, message ID, length) after checking the
    version and the length field against ``len(d)``."""
    if len(d) < HEADER_LEN:
        raise _err(f"{len(d)} octets, the header needs {HEADER_LEN}", "header", 0)
    spi_i, spi_r, nxt, ver, xchg, flags, mid, length = _HDR.unpack_from(d, 0)
    if ver >> 4 != 2:
        raise _err(f"major version {ver >> 4}", "header.version", 17)
    if length != len(d):
        raise _err(f"length {length} but {len(d)} octets", "header.length", 24)
    return spi_i, spi_r, nxt, xchg, Flags(flags & 0x38), mid, length


def decode(d: bytes) -> Message:
    """Decode an IKEv2 message (the UDP payload); SK stays opaque."""
    spi_i, spi_r, nxt, xchg, flags, mid, _ = peek_header(d)
    return Message(spi_i, spi_r, xchg, flags, mid, decode_chain(nxt, d, HEADER_LEN, len(d)))
