"""What the mobile node knows about MAPs, and which one it picks (RFC 4140 §7.2, §9, §9.1).

Theory of operation
-------------------
Every MAP option a mobile node hears is stored (RFC 4140 §7.2: "A mobile node MUST store the
received option(s) in order to choose at least one MAP to register with. Storing the options
is essential, as they will be compared to other options received later for the purpose of the
movement detection algorithm"). :class:`MapStore` keeps, per interface, the MAP options of the
latest Router Advertisement heard on it (what the access router of that link advertises now)
and, per MAP address, the latest option heard on any link with the time it was received.

Selection is a pure function, :func:`select_map`, over the options currently advertised:

- ``"furthest"``, the default of RFC 4140 §9.1: "Arrange MAPs in a descending order, starting
  with the furthest away MAP (i.e., MAP option having largest Dist field) ... If either the
  preference value or the valid lifetime fields are set to zero, select the following MAP";
- ``"preference"``, RFC 4140 §7.2: "A mobile node SHOULD register with the MAP having the
  highest preference value" (ties: furthest first);
- ``"nearest"``: smallest Dist first (ties: highest Pref), for comparison runs.

Ties keep the order of the Router Advertisement (a stable sort), then the MAP address, so a
run is deterministic. Under the ``"rfc5380"`` profile, RFC 5380 §5 makes Pref the tie-breaker
between MAPs of equal Dist ("the mobile node SHOULD inspect this field as a tie-breaker for
MAPs that have equal Dist values", X5380-01); RFC 4140 gives no tie-breaker, so there the RA
order decides.

Options with Pref 0 or Valid Lifetime 0 are never *selected* (RFC 4140 §7.2: Pref 0 "SHOULD
NOT be used for new local BUs"; lifetime 0 "MUST NOT be selected by the MN"); whether an
existing binding to a Pref-0 MAP is kept is the mobile node's business (it is, MN-17).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Literal

__all__ = ["MapPolicy", "MapRecord", "MapStore", "Profile", "select_map", "selectable"]

MapPolicy = Literal["furthest", "preference", "nearest"]
Profile = Literal["rfc4140", "rfc5380"]
POLICIES: tuple[MapPolicy, ...] = ("furthest", "preference", "nearest")


@dataclass(frozen=True, slots=True, kw_only=True)
class MapRecord:
    """One received MAP option, with where and when it was heard (MN-01)."""

    address: IPv6Address
    """The MAP's global address; its /64 is the RCoA prefix (RFC 4140 §5)."""
    dist: int
    pref: int
    r: bool
    valid_lifetime: int
    """Seconds; 0 signals MAP failure (RFC 4140 §10)."""
    received_at: float
    ifname: str
    router: IPv6Address
    """Link-local address of the access router whose RA carried the option."""
    position: int = 0
    """Index among the MAP options of that RA (the stable tie-break)."""

    @property
    def expires_at(self) -> float:
        return self.received_at + self.valid_lifetime

    def failed(self) -> bool:
        return self.valid_lifetime == 0


def selectable(record: MapRecord, now: float) -> bool:
    """RFC 4140 §9.1 step 4: a MAP with Pref 0 or Valid Lifetime 0 is passed over (and so is
    one whose lifetime has run out since it was heard)."""
    return record.pref > 0 and record.valid_lifetime > 0 and now < record.expires_at


def _sort_key(policy: MapPolicy, profile: Profile, r: MapRecord) -> tuple[int, ...]:
    tie = -r.pref if profile == "rfc5380" else 0
    if policy == "furthest":
        return (-r.dist, tie, r.position, int(r.address))
    if policy == "preference":
        return (-r.pref, -r.dist, r.position, int(r.address))
    return (r.dist, -r.pref, r.position, int(r.address))


def rank_maps(records: Iterable[MapRecord], policy: MapPolicy = "furthest",
              profile: Profile = "rfc4140") -> list[MapRecord]:
    """Every record in the policy's order of preference (unselectable ones included)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown MAP selection policy {policy!r}")
    return sorted(records, key=lambda r: _sort_key(policy, profile, r))


def select_map(records: Iterable[MapRecord], now: float, policy: MapPolicy = "furthest",
               profile: Profile = "rfc4140", exclude: Iterable[IPv6Address] = ()) -> MapRecord | None:
    """The MAP to register with, or ``None`` when no advertised MAP may be selected (then the
    mobile node uses plain Mobile IPv6, RFC 4140 §7.2)."""
    if isinstance(records, list | tuple) and len(records) < 2:
        if policy not in POLICIES:
            raise ValueError(f"unknown MAP selection policy {policy!r}")
        ranked: Iterable[MapRecord] = records  # one option is its own ranking
    else:
        ranked = rank_maps(records, policy, profile)
    skip = set(exclude)
    for r in ranked:
        if selectable(r, now) and not (skip and r.address in skip):  # (no hash if empty)
            return r
    return None


_NO_MAPS: dict[IPv6Address, MapRecord] = {}

_Reading = tuple[dict[IPv6Address, MapRecord], dict[IPv6Address, MapRecord]]
"""What :meth:`MapStore.update` stores for one RA's records: per MAP address, the option of
the smallest Dist (the link's set) and the last option (for ``by_map``)."""

_last_read: tuple[tuple[MapRecord, ...], _Reading] | None = None
"""(records, their reading) of the last records read: every station of a cell stores the
same records tuple of one RA, one after the other. The tuple is held, so its identity
cannot be reused while cached."""


_last_same: list[object] = [None, None, False]
"""(a, b, :func:`_same_options` of them) for the last two link readings compared: every station
of a cell compares the same two when the same RA is heard again (both are held, so their
identities cannot be reused while cached)."""


def _same_options(a: dict[IPv6Address, MapRecord], b: dict[IPv6Address, MapRecord]) -> bool:
    """Do link readings ``a`` and ``b`` hold the same options, but for reception times?"""
    last = _last_same
    if last[0] is a and last[1] is b:
        return bool(last[2])
    same = list(a) == list(b) and all(
        (x.dist, x.pref, x.r, x.valid_lifetime, x.position, x.ifname) ==
        (y.dist, y.pref, y.r, y.valid_lifetime, y.position, y.ifname) and x.router == y.router
        for x, y in zip(a.values(), b.values(), strict=True))
    last[:] = (a, b, same)
    return same


def _read(records: tuple[MapRecord, ...]) -> _Reading:
    """The reading of ``records`` (a pure function of the immutable tuple), computed once per
    tuple object. The dictionaries are shared by every store that received the tuple, so a
    :class:`MapStore` never changes one in place (``expire`` replaces it)."""
    global _last_read
    last = _last_read
    if last is not None and last[0] is records:
        return last[1]
    current: dict[IPv6Address, MapRecord] = {}
    for r in records:
        # RFC 4140 §7.1.1 makes routers keep the smallest Dist for one MAP; an RA that
        # still repeats a MAP is read the same way.
        old = current.get(r.address)
        if old is None or r.dist < old.dist:
            current[r.address] = r
    latest = {r.address: r for r in records}
    reading = (current, latest)
    _last_read = (records, reading)
    return reading


class MapStore:
    """The received MAP options (MN-01): per link, the set of the latest RA; per MAP, the
    latest option with its reception time."""

    def __init__(self) -> None:
        self.by_link: dict[str, dict[IPv6Address, MapRecord]] = {}
        """ifname -> MAP address -> the option in the latest RA heard on that link."""
        self.by_map: dict[IPv6Address, MapRecord] = {}
        """MAP address -> the latest option heard for it, on any link."""

    def update(self, records: tuple[MapRecord, ...], ifname: str) -> bool:
        """Store the MAP options of one RA heard on ``ifname``; True when the set of MAP
        addresses advertised on that link changed (a movement-detection input, MN-25)."""
        before = self.by_link.get(ifname)
        current, latest = _read(records)
        self.by_map.update(latest)  # (a dict's update reuses its stored hashes)
        self.by_link[ifname] = current
        if current is before:
            return False
        return current.keys() != (before.keys() if before is not None else _NO_MAPS.keys())

    def renews(self, records: tuple[MapRecord, ...], ifname: str) -> bool:
        """Would storing ``records`` (one RA's MAP options, heard on ``ifname``) only renew
        the reception times of the options held for that link: the same MAPs in the same
        order, each with the same Dist, Pref, R flag and Valid Lifetime, from the same router?
        (Asked before :meth:`update`; an option that expired here since is not held, so an
        RA bringing it back is news.)"""
        before = self.by_link.get(ifname)
        current = _read(records)[0]
        if before is None:
            return not current
        return current is before or _same_options(before, current)

    def forget_link(self, ifname: str) -> None:
        """The link went down: its access router no longer advertises anything to us."""
        self.by_link.pop(ifname, None)

    def advertised(self, ifname: str | None = None) -> list[MapRecord]:
        """The options currently advertised on one link, or on every link."""
        if ifname is not None:
            return list(self.by_link.get(ifname, {}).values())
        return [r for link in self.by_link.values() for r in link.values()]

    def advertised_on(self, address: IPv6Address) -> list[str]:
        """The links whose access router currently advertises ``address`` (RFC 4140 §7.2
        multihoming: the LCoA is taken on such a link, MN-21)."""
        return sorted(n for n, maps in self.by_link.items() if address in maps)

    def current(self, address: IPv6Address) -> MapRecord | None:
        """The option for ``address`` on the links that advertise it now (smallest Dist)."""
        found = [m[address] for m in self.by_link.values() if address in m]
        return min(found, key=lambda r: (r.dist, r.ifname)) if found else None

    def expire(self, now: float) -> list[MapRecord]:
        """Drop link options whose valid lifetime ran out; returns what was dropped."""
        gone: list[MapRecord] = []
        for ifname, maps in self.by_link.items():
            lapsed = [a for a, r in maps.items() if r.valid_lifetime > 0 and now >= r.expires_at]
            if lapsed:
                kept = dict(maps)  # (another store may share ``maps``: see _read)
                for a in lapsed:
                    gone.append(kept.pop(a))
                self.by_link[ifname] = kept
        return gone

    def next_expiry(self) -> float | None:
        """When the first held option lapses (None: none can). A loop, not ``min`` over a
        generator: a mobile node asks after every RA it hears."""
        first: float | None = None
        for link in self.by_link.values():
            for r in link.values():
                if r.valid_lifetime > 0:
                    t = r.received_at + r.valid_lifetime
                    if first is None or t < first:
                        first = t
        return first
