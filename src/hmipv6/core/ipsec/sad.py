"""The Security Association Database (RFC 4301 §4.4.2), at the size this project needs.

Theory of operation
-------------------
An SA is unidirectional and is described the way ``ip xfrm state`` describes it: the IPsec
protocol (ESP or AH), the SPI, the algorithms and keys, and the traffic it carries as a source
and a destination selector in the direction of flow. The same :class:`SAParams` is installed
on both ends: as ``out`` on the sender (it picks the SA by its selectors) and as ``in`` on
the receiver (it finds the SA by SPI, RFC 4301 §4.1, then checks the packet against the
selectors, RFC 4301 §5.2 step 4).

Selectors are written in terms of the *effective* addresses of RFC 6275: the Home Address
option's address as source, the Type 2 routing header's address as destination. A local BU
(LCoA → MAP, HAO = RCoA) therefore matches an SA whose source is the RCoA: the SA identity is
the RCoA, not the LCoA (RFC 4140 §12.1). ``None`` as a selector means any address (the MAP
cannot know in advance which RCoA a mobile node will form; the peer authorisation database
then binds the RCoA to the identity, see :mod:`.pad`).

``peer`` is the identity of the far end authenticated by the SA's keys: a mobile node's name
on the MAP, the MAP's name on the mobile node. It is what :attr:`Inbound.peer` reports.

Mutable state (the outbound sequence counter, the inbound replay window, packet counters)
lives on the :class:`SecurityAssociation`; the transforms keyed from the parameters, and the
ESP constants derived from them (:class:`~hmipv6.core.ipsec.esp.EspCodec`), are built once,
when the SA is added.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import InitVar, dataclass, field, fields
from ipaddress import IPv6Address, IPv6Network
from typing import Generic, Literal, TypeVar

from hmipv6.core.ipsec.algorithms import Encryption, Integrity, make_encryption, make_integrity
from hmipv6.core.ipsec.esp import EspCodec
from hmipv6.core.ipsec.replay import MAX_SEQUENCE, ReplayWindow
from hmipv6.errors import LocalProtocolError

__all__ = [
    "MAX_SEQUENCE",
    "Direction",
    "IPsecProtocol",
    "Range",
    "RangeIndex",
    "SADatabase",
    "SAParams",
    "SecurityAssociation",
    "Selector",
    "as_selector",
    "in_range",
    "to_range",
]

IPsecProtocol = Literal["esp", "ah"]
Direction = Literal["in", "out"]
Selector = IPv6Network | None
_T = TypeVar("_T")


def as_selector(a: IPv6Address | IPv6Network | str | None) -> Selector:
    """A selector from an address (a /128), a network, a string, or ``*``/``None`` (any)."""
    if a is None or isinstance(a, IPv6Network):
        return a
    if isinstance(a, str):
        if a in ("*", "any", "::/0"):
            return None
        return IPv6Network(a, strict=True) if "/" in a else IPv6Network(f"{a}/128")
    return _host_selector(int(a))


@functools.lru_cache(maxsize=4096)
def _host_selector(a: int) -> IPv6Network:
    """The /128 of address ``a`` (networks are immutable, so one per address serves every
    SA and policy: provisioning a thousand mobile nodes names a home agent's address a
    thousand times)."""
    return IPv6Network((a, 128))


@dataclass(frozen=True, slots=True, kw_only=True)
class SAParams:
    """What configuration says about one SA (the fields of ``ip xfrm state``)."""

    spi: int
    """Security Parameter Index; 1..255 are reserved (RFC 4303 §2.1)."""
    protocol: IPsecProtocol = "esp"
    src: Selector = None
    """Effective source address (range) of the traffic; ``None`` = any."""
    dst: Selector = None
    """Effective destination address (range) of the traffic; ``None`` = any."""
    peer: str | None = None
    """Identity of the far end (the sender, for an inbound SA; the receiver, for outbound)."""
    enc: str = "NULL"
    enc_key: bytes = b""
    auth: str = "HMAC-SHA-256-128"
    auth_key: bytes = b""
    replay_window: int = 64
    _src_range: Range = field(default=None, init=False, repr=False, compare=False)
    _dst_range: Range = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_src_range", to_range(self.src))
        object.__setattr__(self, "_dst_range", to_range(self.dst))
        if not 256 <= self.spi <= 0xFFFFFFFF:
            raise LocalProtocolError(f"SPI {self.spi} is reserved or out of range (RFC 4303 §2.1)")
        if self.protocol not in ("esp", "ah"):
            raise LocalProtocolError(f"unknown IPsec protocol {self.protocol!r}")
        if self.protocol == "ah" and self.enc != "NULL":
            raise LocalProtocolError("AH does not encrypt")
        combined = self.enc == "AES-GCM-16"
        if combined and self.auth != "NULL":
            raise LocalProtocolError("AES-GCM-16 is combined mode: auth must be NULL")
        if not combined and self.auth == "NULL":
            # RFC 4140 §12.1: "When ESP is used, a non-null authentication algorithm MUST be
            # used"; AH with NULL integrity is meaningless.
            raise LocalProtocolError("an SA for mobility signalling needs authentication")

    @classmethod
    def make(cls, *, spi: int, protocol: IPsecProtocol = "esp",
             src: IPv6Address | IPv6Network | str | None = None,
             dst: IPv6Address | IPv6Network | str | None = None, peer: str | None = None,
             enc: str = "NULL", enc_key: bytes = b"", auth: str = "HMAC-SHA-256-128",
             auth_key: bytes = b"", replay_window: int = 64) -> SAParams:
        """Like the constructor, but selectors may be addresses, networks, strings or ``*``."""
        return cls(spi=spi, protocol=protocol, src=as_selector(src), dst=as_selector(dst), peer=peer, enc=enc,
                   enc_key=enc_key, auth=auth, auth_key=auth_key, replay_window=replay_window)

    def with_peer(self, peer: str | None) -> SAParams:
        """``dataclasses.replace(self, peer=peer)``, without running the checks of
        ``__post_init__`` again (only the peer differs, and it is not checked): a simulator
        installs four of these per pair of nodes, thousands at start-up (tests check it
        equals ``replace``, field for field)."""
        new = object.__new__(SAParams)
        for name in _SAPARAMS_SLOTS:
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "peer", peer)
        return new

    def matches(self, src: IPv6Address, dst: IPv6Address) -> bool:
        """Does traffic from effective ``src`` to effective ``dst`` fall under this SA?"""
        return in_range(self._src_range, src) and in_range(self._dst_range, dst)


_SAPARAMS_SLOTS: tuple[str, ...] = tuple(f.name for f in fields(SAParams))

Range = tuple[int, int] | None
"""A selector precomputed for matching: (network >> shift, shift), ``None`` = any."""


def to_range(sel: Selector) -> Range:
    if sel is None:
        return None
    shift = 128 - sel.prefixlen
    return int(sel.network_address) >> shift, shift


class RangeIndex(Generic[_T]):
    """Items (SPD entries, SAs) with two address selectors each, indexed for "which items, in
    their order, have selectors containing (a, b)?" without a scan: the items are indexed on
    the selector (first or second) with more distinct values, per prefix length, by network;
    items that take any address there are kept apart. :meth:`matching` answers exactly what
    a scan of the items in order answers (RFC 4301 §4.4.1: the SPD is ordered, first match
    wins; SAs keep their installation order), tested against that scan."""

    __slots__ = ("_by_shift", "_first", "_items", "_ranges", "_wild")

    def __init__(self, items: Sequence[_T], ranges: Sequence[tuple[Range, Range]]) -> None:
        self._items = tuple(items)
        self._ranges = tuple(ranges)
        first = {r[0] for r in ranges if r[0] is not None}
        second = {r[1] for r in ranges if r[1] is not None}
        self._first = on_first = len(first) >= len(second)
        wild: list[int] = []
        by_shift: dict[int, dict[int, list[int]]] = {}
        for i, pair in enumerate(ranges):
            r = pair[0] if on_first else pair[1]
            if r is None:
                wild.append(i)
            else:
                by_shift.setdefault(r[1], {}).setdefault(r[0], []).append(i)
        self._wild = tuple(wild)
        self._by_shift = tuple(by_shift.items())

    def matching(self, a: int, b: int) -> tuple[_T, ...]:
        """The items whose first selector contains address ``a`` and second ``b``, in order."""
        on_first = self._first
        key, other = (a, b) if on_first else (b, a)
        found = list(self._wild)
        for shift, nets in self._by_shift:
            hit = nets.get(key >> shift)
            if hit is not None:
                found += hit
        found.sort()
        items = self._items
        ranges = self._ranges
        out = []
        for i in found:
            r = ranges[i][1] if on_first else ranges[i][0]
            if r is None or other >> r[1] == r[0]:
                out.append(items[i])
        return tuple(out)


def in_range(r: Range, a: IPv6Address) -> bool:
    """Is ``a`` within the precomputed selector ``r``? (Integer arithmetic:
    ``IPv6Network.__contains__`` costs a microsecond per call.)"""
    return r is None or int(a) >> r[1] == r[0]


@dataclass(slots=True, eq=False)
class SecurityAssociation:
    """One installed SA: parameters, keyed transforms and running state."""

    params: SAParams
    direction: Direction
    encryption: Encryption = field(init=False)
    integrity: Integrity = field(init=False)
    esp: EspCodec = field(init=False)
    """The ESP constants of this SA (:mod:`.esp`), computed once from the transforms."""
    next_sequence: int = 1
    """Outbound: the sequence number the next packet carries (RFC 4303 §3.3.3)."""
    replay: ReplayWindow = field(init=False)
    packets: int = 0
    """Packets protected (outbound) or accepted (inbound) with this SA."""
    keyed_like: InitVar[SecurityAssociation | None] = None
    """An SA keyed as this one (the same SPI, algorithms and keys: the other end of the same
    SA, installed on the peer): its transforms are taken instead of keyed again. They hold
    no per-packet state (HMAC contexts are copied from the template, ciphers make a context
    per packet), so sharing them changes nothing but the cost of installing."""

    def __post_init__(self, keyed_like: SecurityAssociation | None) -> None:
        p = self.params
        if keyed_like is not None and same_keying(keyed_like.params, p):
            self.encryption = keyed_like.encryption
            self.integrity = keyed_like.integrity
            self.esp = keyed_like.esp
        else:
            self.encryption = make_encryption(p.enc, p.enc_key)
            self.integrity = make_integrity(p.auth, p.auth_key)
            self.esp = EspCodec.make(p.spi, self.encryption, self.integrity)
        self.replay = ReplayWindow(p.replay_window)

    @property
    def spi(self) -> int:
        return self.params.spi

    @property
    def peer(self) -> str | None:
        return self.params.peer

    def take_sequence(self) -> int:
        """The sequence number for the next outbound packet (RFC 4303 §3.3.3: the counter
        MUST NOT cycle; an exhausted SA must be re-keyed)."""
        seq = self.next_sequence
        if seq > MAX_SEQUENCE:
            raise LocalProtocolError(f"SA 0x{self.spi:08x} exhausted its sequence numbers; re-key")
        self.next_sequence = seq + 1
        return seq


def same_keying(a: SAParams, b: SAParams) -> bool:
    """Do SAs with parameters ``a`` and ``b`` have the same transforms (SPI, algorithms and
    keys)?"""
    return (a.spi == b.spi and a.enc == b.enc and a.enc_key == b.enc_key and a.auth == b.auth
            and a.auth_key == b.auth_key)


class Versioned:
    """A database whose every change bumps :attr:`version` and calls the callbacks given to
    :meth:`watch` (the :class:`~hmipv6.core.ipsec.IPsec` that uses it then drops its memoised
    decisions at once, instead of comparing versions on every packet)."""

    def __init__(self) -> None:
        self.version = 0
        """Bumped by every change."""
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change from now on."""
        self._watchers.append(callback)

    def _bump(self) -> None:
        self.version += 1
        for callback in self._watchers:
            callback()


class SADatabase(Versioned):
    """Installed SAs: inbound ones indexed by (protocol, SPI), outbound ones by (protocol,
    peer) and in installation order; outbound lookups are cached per (protocol, source,
    destination), so a MAP with thousands of SAs selects one in constant time."""

    _CACHE_LIMIT = 8192

    def __init__(self) -> None:
        super().__init__()
        self._inbound: dict[tuple[str, int], SecurityAssociation] = {}
        self.esp_inbound: dict[int, SecurityAssociation] = {}
        """Inbound ESP SAs by SPI (read-only view of ``inbound("esp", spi)`` for fast
        paths: no key tuple per packet)."""
        self._outbound: list[SecurityAssociation] = []
        self._by_peer: dict[tuple[str, str | None], list[SecurityAssociation]] = {}
        self._cache: dict[tuple[str, int, int], list[SecurityAssociation]] = {}
        """Outbound lookups by (protocol, source, destination), the addresses as integers
        (hashing an ``IPv6Address`` formats it as text)."""
        self._index: dict[str, RangeIndex[SecurityAssociation]] = {}
        """Per protocol, the outbound SAs indexed by selectors (built at the first lookup
        after a change): a cache miss does not scan thousands of SAs."""

    def add(self, params: SAParams, direction: Direction,
            keyed_like: SecurityAssociation | None = None) -> SecurityAssociation:
        """Install an SA; an inbound SPI must be unique per protocol on this node.
        ``keyed_like``: see :attr:`SecurityAssociation.keyed_like`."""
        sa = SecurityAssociation(params, direction, keyed_like=keyed_like)
        if direction == "in":
            key = (params.protocol, params.spi)
            if key in self._inbound:
                raise LocalProtocolError(f"inbound {params.protocol} SPI 0x{params.spi:08x} in use")
            self._inbound[key] = sa
            if params.protocol == "esp":
                self.esp_inbound[params.spi] = sa
        elif direction == "out":
            self._outbound.append(sa)
            self._by_peer.setdefault((params.protocol, params.peer), []).append(sa)
            self._cache.clear()
            self._index.clear()
        else:
            raise LocalProtocolError(f"direction must be 'in' or 'out', not {direction!r}")
        self._bump()
        return sa

    def remove(self, sa: SecurityAssociation) -> None:
        self._bump()
        if sa.direction == "in":
            if (self._inbound.pop((sa.params.protocol, sa.spi), None) is not None
                    and sa.params.protocol == "esp"):
                self.esp_inbound.pop(sa.spi, None)
        elif sa in self._outbound:
            self._outbound.remove(sa)
            self._by_peer[(sa.params.protocol, sa.peer)].remove(sa)
            self._cache.clear()
            self._index.clear()

    def inbound(self, protocol: IPsecProtocol, spi: int) -> SecurityAssociation | None:
        return self._inbound.get((protocol, spi))

    def outbound(self, src: IPv6Address, dst: IPv6Address, protocol: IPsecProtocol,
                 peer: str | None = None) -> list[SecurityAssociation]:
        """Outbound SAs of ``protocol`` whose selectors cover the traffic (and whose peer is
        ``peer`` when given), in installation order."""
        if peer is not None:
            return [sa for sa in self._by_peer.get((protocol, peer), ())
                    if sa.params.matches(src, dst)]
        s, d = int(src), int(dst)
        key = (protocol, s, d)
        found = self._cache.get(key)
        if found is None:
            index = self._index.get(protocol)
            if index is None:
                sas = [sa for sa in self._outbound if sa.params.protocol == protocol]
                index = self._index[protocol] = RangeIndex(
                    sas, [(sa.params._src_range, sa.params._dst_range) for sa in sas])
            found = list(index.matching(s, d))
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        return found

    def __iter__(self) -> Iterator[SecurityAssociation]:
        yield from self._outbound
        yield from self._inbound.values()

    def __len__(self) -> int:
        return len(self._outbound) + len(self._inbound)
