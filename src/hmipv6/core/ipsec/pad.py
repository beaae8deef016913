"""The Peer Authorization Database (RFC 4301 §4.4.3) and the RCoA ownership record of
RFC 4140 §12.1.

Theory of operation
-------------------
Two questions are answered here.

1. *Which addresses may an authenticated peer speak for?* Each entry names a peer identity
   (the ``peer`` of its SAs) and the address ranges it may use as its identity address: the
   RCoA range of a MAP's domain for a mobile node, its home address at its home agent, a
   router's own address. This is what RFC 4301 §4.4.3 calls constraining the child-SA IDs a
   peer may assert; with manually keyed SAs whose selectors are wildcards (a MAP cannot know
   the RCoA before the MN forms it), :class:`~hmipv6.core.ipsec.IPsec` enforces it on every
   protected inbound packet (drop reason ``unauthorised-address``).

2. *Which peer installed which RCoA?* RFC 4140 §12.1: "A MAP only needs to ensure that a BU
   for a particular RCoA was issued by the same mobile node that established the Security
   Association for that RCoA", and a second MN asking for an existing RCoA MUST be refused.
   This record lives here, not in the MAP's binding cache, so that one object answers
   :meth:`PeerAuthorizationDatabase.may_use` and both checks cannot drift apart. **The MAP
   engine drives it**: before accepting a BU for RCoA *X* that arrived with
   ``Inbound.peer == P`` it calls ``pad.may_use(P, X)``; when it creates the binding it calls
   ``pad.claim(P, X)``; when the binding goes away (lifetime 0, expiry) it calls
   ``pad.release(P, X)``. (A MAP restored from a durable binding cache re-claims its RCoAs
   with the stored peer.) The MAP's octet-level fast path asks the same two questions on
   octets, once it knows nothing else refuses: ``pad.authorised_packed(P, X)`` (remembered
   in the SA's lane until a peer entry changes) and ``pad.hold_packed(P, X, claim=<new
   binding>)`` (asked again whenever :attr:`~PeerAuthorizationDatabase.holders_version`
   moved since the lane saw P hold X).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

from hmipv6.core.ipsec.sad import Range, Versioned, as_selector, in_range, to_range

__all__ = ["PeerAuthorizationDatabase", "PeerEntry"]


@dataclass(frozen=True, slots=True)
class PeerEntry:
    """A peer and the address ranges it may use (``None``: any address)."""

    identity: str
    addresses: tuple[IPv6Network, ...] | None
    _ranges: tuple[Range, ...] | None = field(default=None, init=False, repr=False,
                                              compare=False)

    def __post_init__(self) -> None:
        if self.addresses is not None:
            object.__setattr__(self, "_ranges", tuple(to_range(n) for n in self.addresses))

    def covers(self, address: IPv6Address) -> bool:
        return self._ranges is None or any(in_range(r, address) for r in self._ranges)

    def covers_int(self, address: int) -> bool:
        """:meth:`covers` for an address as an integer."""
        return self._ranges is None or any(r is None or address >> r[1] == r[0]
                                           for r in self._ranges)


class PeerAuthorizationDatabase(Versioned):
    """Peer entries plus the RCoA → installing peer record."""

    def __init__(self) -> None:
        super().__init__()
        self._entries: dict[str, PeerEntry] = {}
        self._owners: dict[int, str] = {}
        """RCoA (as an integer: hashing an ``IPv6Address`` costs a Python call) -> holder."""
        self._memo: dict[tuple[str, int], bool] = {}
        self._memo_version = 0
        self.holders_version = 0
        """Bumped whenever an RCoA gets or loses its holder (a claim, a release): a fast
        path that saw ``peer`` hold an address may rely on it while this is unchanged."""

    # -- authorisation ------------------------------------------------------------------------

    def authorise(self, identity: str,
                  addresses: Iterable[IPv6Address | IPv6Network | str] | None = None) -> PeerEntry:
        """Allow ``identity`` to use ``addresses`` (ranges; ``None`` = any). Replaces an
        existing entry for the identity."""
        nets: tuple[IPv6Network, ...] | None = None
        if addresses is not None:
            nets = tuple(n for n in (as_selector(a) for a in addresses) if n is not None)
        entry = PeerEntry(identity, nets)
        self._entries[identity] = entry
        self._bump()  # a peer entry changed; RCoA claims (holders_version) are not changes
        return entry

    def entry(self, identity: str) -> PeerEntry | None:
        return self._entries.get(identity)

    def authorised(self, identity: str, address: IPv6Address) -> bool:
        """Does the entry of ``identity`` cover ``address``? (No entry: no.) Answers are
        remembered until an entry changes (every BU asks; range tests are Python-level)."""
        return self._authorised(identity, int(address))

    def _authorised(self, identity: str, address: int) -> bool:
        if self._memo_version != self.version:
            self._memo.clear()
            self._memo_version = self.version
        key = (identity, address)
        ok = self._memo.get(key)
        if ok is None:
            e = self._entries.get(identity)
            ok = e is not None and e.covers_int(address)
            if len(self._memo) >= 65536:
                self._memo.clear()
            self._memo[key] = ok
        return ok

    # -- RCoA ownership (RFC 4140 §12.1) ------------------------------------------------------

    def owner(self, address: IPv6Address) -> str | None:
        """The peer that installed a binding for ``address``, if any."""
        return self._owners.get(int(address))

    def may_use(self, peer: str | None, address: IPv6Address) -> bool:
        """May ``peer`` register ``address`` (e.g. a BU for this RCoA)? Yes when the peer is
        authenticated, authorised for the address range, and no *other* peer holds it."""
        return peer is not None and self._may_use(peer, int(address), False)

    def claim(self, peer: str, address: IPv6Address) -> bool:
        """Record that ``peer`` installed ``address``; False (and no change) when
        :meth:`may_use` says no."""
        return self._may_use(peer, int(address), True)

    def authorised_packed(self, peer: str, address: bytes) -> bool:
        """:meth:`authorised` for an address as 16 octets."""
        return self._authorised(peer, int.from_bytes(address, "big"))

    def hold_packed(self, peer: str, address: bytes, claim: bool) -> bool:
        """The RCoA half of :meth:`may_use`: does no *other* peer hold ``address``
        (16 octets)? When ``claim`` and nobody holds it, ``peer`` now does."""
        return self._hold(peer, int.from_bytes(address, "big"), claim)

    def _may_use(self, peer: str, address: int, claim: bool) -> bool:
        return self._authorised(peer, address) and self._hold(peer, address, claim)

    def _hold(self, peer: str, address: int, claim: bool) -> bool:
        holder = self._owners.get(address)
        if holder is None:
            if claim:
                self._owners[address] = peer
                self.holders_version += 1
            return True
        return holder == peer

    def release(self, peer: str, address: IPv6Address) -> bool:
        """Forget ``address`` if ``peer`` holds it; returns whether it did."""
        key = int(address)
        if self._owners.get(key) != peer:
            return False
        del self._owners[key]
        self.holders_version += 1
        return True

    def owned_by(self, peer: str) -> set[IPv6Address]:
        return {IPv6Address(a) for a, p in self._owners.items() if p == peer}
