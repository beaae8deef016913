"""The binding cache of a MAP, home agent or correspondent node (RFC 6275 §9.1, RFC 4140 §6.2).

Theory of operation
-------------------
An entry binds one address (the *key*: the RCoA at a MAP, the home address at an HA or CN) to
a care-of address (the LCoA at a MAP, the RCoA or LCoA at an HA or CN) until an absolute
expiry time, and remembers the last accepted sequence number (RFC 6275 §9.5.1), the BU flags
that installed it (the home registration flag of §10.3.1) and the authenticated peer that
installed it (RFC 4140 §12.1: "a BU for a particular RCoA was issued by the same mobile node
that established the Security Association for that RCoA").

A MAP may hold a million bindings, so an entry is stored as two ``bytes`` objects: the packed
16-octet key and one packed record (care-of address, expiry, granted lifetime, sequence,
flags, peer identity in UTF-8). A :class:`BindingStore` maps one to the other; it is the whole
persistence interface (a durable SQLite store implements the same four methods).
:class:`InMemoryStore` is a ``dict``. The tunnelling fast path reads
:meth:`BindingCache.care_of_packed` straight from the store without building any object.

Expiry ("Any Binding Cache entry MUST be deleted after the expiration of its lifetime", RFC
6275 §9.5.2) is driven by the owning node's timer: :meth:`BindingCache.next_expiry` is the
earliest deadline and :meth:`BindingCache.expire` removes what is due. Deadlines are kept in
buckets of keys one tick wide (1/64 s by default, so removal is at most a tick late). A
refresh appends the key again; a stale bucket entry is skipped when its bucket comes due,
because the record holds the real expiry. So a refresh costs one list append rather than a
heap of tuples.
"""

from __future__ import annotations

import heapq
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Protocol

from hmipv6.wire.addr import from_packed

__all__ = ["BindingCache", "BindingEntry", "BindingStore", "InMemoryStore", "RetainedStore"]

_RECORD = struct.Struct("!16sdIHH")
"""care-of address, expiry (engine time), granted lifetime (s), sequence, BU flags; then the
installing peer's identity in UTF-8 (empty: none)."""


class BindingStore(Protocol):
    """Where the packed entries live: key (16 octets) -> record (octets).

    A store may also say ``durable = True``: its content outlives the engine's crash (a
    restarted MAP or HA keeps those bindings, re-arms their expiry and removes those whose
    lifetime ran out while it was down). A store that does not say so is volatile: RFC 4140
    §10, "If a MAP fails, its binding cache content will be lost"."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, record: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def items(self) -> Iterator[tuple[bytes, bytes]]: ...

    def __len__(self) -> int: ...


class InMemoryStore(dict[bytes, bytes]):
    """The default store: a ``dict`` (``get`` is the dict's own, for the fast path)."""

    __slots__ = ()
    durable = False

    def put(self, key: bytes, record: bytes) -> None:
        self[key] = record

    def delete(self, key: bytes) -> None:
        self.pop(key, None)

    def items(self) -> Iterator[tuple[bytes, bytes]]:  # type: ignore[override]
        return iter(dict.items(self))


class RetainedStore(InMemoryStore):
    """An :class:`InMemoryStore` that says it is durable: its owner keeps it across the
    engine's ``crash`` / ``restart``. The simulator's model of a durable store (a simulated
    crash keeps the engine object, so "durable" only has to mean "not dropped"); it keeps
    nothing across a real process exit (:mod:`hmipv6.net.sqlite_store` does)."""

    __slots__ = ()
    durable = True


@dataclass(frozen=True, slots=True)
class BindingEntry:
    """A decoded view of one entry (built on demand; the cache stores packed octets)."""

    address: IPv6Address
    """The bound address: RCoA at a MAP, home address at an HA or CN."""
    care_of: IPv6Address
    expires: float
    """Absolute engine time at which the entry goes away."""
    lifetime: int
    """The lifetime granted when the entry was last updated (seconds)."""
    sequence: int
    """Sequence number of the last accepted Binding Update (RFC 6275 §9.5.1)."""
    flags: int
    """The BU flags word that installed it (H: home registration, M: MAP registration)."""
    peer: str | None
    """Authenticated identity that installed it (``Inbound.peer``), if any."""

    def remaining(self, now: float) -> float:
        return max(0.0, self.expires - now)


def _unpack(key: bytes, record: bytes) -> BindingEntry:
    coa, expires, lifetime, seq, flags = _RECORD.unpack_from(record)
    peer = record[_RECORD.size:].decode() if len(record) > _RECORD.size else None
    return BindingEntry(from_packed(key), from_packed(coa), expires, lifetime, seq, flags, peer)


class BindingCache:
    """Bindings keyed by address, with expiry; see the module docstring."""

    __slots__ = ("_buckets", "_heap", "_peers", "_ticks", "store")

    def __init__(self, store: BindingStore | None = None, *, tick: float = 1 / 64) -> None:
        self.store: BindingStore = store if store is not None else InMemoryStore()
        self._ticks = 1 / tick
        self._buckets: dict[int, list[bytes]] = {}
        self._heap: list[int] = []
        self._peers: dict[bytes, int] = {}
        """Entries per installing peer identity (UTF-8 octets): the per-identity bound of
        ``BindingAnchor.max_bindings_per_peer`` (issue 9: one identity, 100,000 bindings)."""
        self.reload()

    def reload(self) -> None:
        """Rebuild the expiry schedule (and the per-peer counts) from the store's content
        (what a process restarted over a durable store does; :meth:`expire` then removes what
        ran out meanwhile)."""
        self._buckets.clear()
        self._heap.clear()
        self._peers.clear()
        for key, record in self.store.items():
            self._schedule(key, _RECORD.unpack_from(record)[1])
            self._count(record[_RECORD.size:], 1)

    def _count(self, peer: bytes, delta: int) -> None:
        n = self._peers.get(peer, 0) + delta
        if n > 0:
            self._peers[peer] = n
        else:
            self._peers.pop(peer, None)

    def held_by(self, peer: str | bytes, excluding: bytes | None = None) -> int:
        """How many entries ``peer`` (an identity, or its UTF-8 octets) installed, not
        counting the one for the key ``excluding`` (an entry whose lifetime ran out but
        whose expiry tick has not fired yet is still counted)."""
        who = peer.encode() if isinstance(peer, str) else peer
        n = self._peers.get(who, 0)
        if n and excluding is not None:
            record = self.store.get(excluding)
            if record is not None and record[_RECORD.size:] == who:
                n -= 1
        return n

    def __len__(self) -> int:
        return len(self.store)

    def __contains__(self, address: IPv6Address) -> bool:
        return self.store.get(address.packed) is not None

    def __iter__(self) -> Iterator[BindingEntry]:
        for key, record in list(self.store.items()):
            yield _unpack(key, record)

    def get(self, address: IPv6Address, now: float | None = None) -> BindingEntry | None:
        """The entry for ``address``; with ``now``, one whose lifetime has run out (but whose
        expiry tick has not fired yet) counts as absent."""
        record = self.store.get(address.packed)
        if record is None:
            return None
        entry = _unpack(address.packed, record)
        return None if now is not None and entry.expires <= now else entry

    def care_of_packed(self, key: bytes) -> bytes | None:
        """The fast path: the care-of address bound to ``key`` (16 octets), as octets."""
        record = self.store.get(key)
        return None if record is None else record[:16]

    def update(self, now: float, address: IPv6Address, care_of: IPv6Address, lifetime: int,
               sequence: int, flags: int = 0, peer: str | None = None) -> bool:
        """Create or refresh an entry; returns True when it was created."""
        return self.update_packed(now, address.packed, care_of.packed, lifetime, sequence, flags,
                                  peer)

    def update_packed(self, now: float, key: bytes, care_of: bytes, lifetime: int,
                      sequence: int, flags: int = 0, peer: str | None = None) -> bool:
        """:meth:`update` with the addresses as 16 octets each (the fast paths hold those)."""
        old = self.store.get(key)
        expires = now + lifetime
        record = _RECORD.pack(care_of, expires, lifetime, sequence & 0xFFFF, flags & 0xFFFF)
        who = peer.encode() if peer else b""
        if who:
            record += who
        self.store.put(key, record)
        self._schedule(key, expires)
        if old is None:
            peers = self._peers
            peers[who] = peers.get(who, 0) + 1
            return True
        if len(old) != _RECORD.size + len(who) or old[_RECORD.size:] != who:
            self._count(old[_RECORD.size:], -1)
            self._count(who, 1)
        return False

    @staticmethod
    def unpack_record(record: bytes) -> tuple[bytes, float, int, int, int, bytes]:
        """(care-of octets, expiry, lifetime, sequence, flags, peer octets) of a raw record."""
        coa, expires, lifetime, seq, flags = _RECORD.unpack_from(record)
        return coa, expires, lifetime, seq, flags, record[_RECORD.size:]

    def remove(self, address: IPv6Address) -> BindingEntry | None:
        key = address.packed
        record = self.store.get(key)
        if record is None:
            return None
        self.store.delete(key)
        self._count(record[_RECORD.size:], -1)
        return _unpack(key, record)

    def clear(self) -> list[BindingEntry]:
        """Remove every entry and every expiry deadline (a volatile cache after a crash);
        returns the entries removed."""
        gone = list(self)
        for entry in gone:
            self.store.delete(entry.address.packed)
        self._buckets.clear()
        self._heap.clear()
        self._peers.clear()
        return gone

    def next_expiry(self) -> float | None:
        """The earliest bucket deadline (may be a stale one: :meth:`expire` then removes
        nothing and the next deadline moves on)."""
        return self._heap[0] / self._ticks if self._heap else None

    def expire(self, now: float) -> list[BindingEntry]:
        """Remove and return the entries whose lifetime has run out by ``now``."""
        gone: list[BindingEntry] = []
        limit = now * self._ticks
        while self._heap and self._heap[0] <= limit:
            tick = heapq.heappop(self._heap)
            for key in self._buckets.pop(tick, ()):
                record = self.store.get(key)
                if record is not None and _RECORD.unpack_from(record)[1] <= now:
                    self.store.delete(key)
                    self._count(record[_RECORD.size:], -1)
                    gone.append(_unpack(key, record))
        return gone

    def _schedule(self, key: bytes, expires: float) -> None:
        tick = math.ceil(expires * self._ticks)
        bucket = self._buckets.get(tick)
        if bucket is None:
            self._buckets[tick] = [key]
            heapq.heappush(self._heap, tick)
        else:
            bucket.append(key)
