"""Dynamic MAP discovery: the relay table of a router (RFC 4140 §7.1.1, §7.1.2).

Theory of operation
-------------------
RFC 4140 §7: "Manual configuration of the MAP option information in ARs and other MAPs in the
same domain is the default mechanism"; dynamic discovery is an option a router is configured
for. A relaying router listens for Router Advertisements on its *upstream* interfaces and
learns every MAP option they carry into a :class:`RelayTable`, one record per (MAP address,
interface). What it re-sends on its advertising interfaces is :meth:`RelayTable.relayed`:

- RFC 4140 §7.1.1: "Upon reception of a router advertisement with the MAP option, the
  receiving router MUST copy the option and re-send it after incrementing the Distance field
  by one." Dist is 4 bits, so an option heard with Dist 15 cannot be relayed (it is counted
  and dropped: a loop or an absurdly deep hierarchy).
- "If a router receives more than one MAP option for the same MAP (i.e., the same IP address
  in the MAP option), from two different interfaces, it MUST choose the option with the
  smallest distance field." Ties go to the most recently heard record.
- Dist is never 0 (§7.1.1: "MUST NOT be set to zero"): relayed values are at least 2, and a
  received option with Dist 0 never decodes (the codec refuses it, W-01).
- Split horizon: an option is not sent back out of the interface it was learned on, so two
  relaying routers facing each other do not count to infinity.
- Records expire: at the option's Valid Lifetime after it was last heard, or, when the RA
  carried an Advertisement Interval option (RFC 6275 §7.3), after ``missed_ras`` intervals
  without hearing it again ("no longer heard"). A record heard with Valid Lifetime 0 (the
  upstream router declared the MAP failed, §10) is relayed with Valid Lifetime 0 for
  ``zero_lifetime_hold`` seconds so the failure notice reaches the mobile nodes.
- Options for the router's own MAP address(es) are never learned (they would only be echoes
  of its own advertisement).

The table is pure data: ``now`` comes in, nothing is sent; the router engine decides when to
advertise and when to purge (:meth:`RelayTable.next_expiry`).

:class:`MapRelay` is the table plus the receive side of relaying (the upstream interfaces it
listens on, RFC 4861 §6.1.2 validity, AR-06 authentication, change detection), the one piece
of code every relaying engine uses:

- an :class:`~hmipv6.core.access_router.AccessRouter` with ``relay_from`` relays into the RAs
  of its access links, and, with discovery-only advertising interfaces (``RaConfig`` with no
  prefix), down router-to-router links: that is a plain relaying router (R1 of FLOWS §6);
- a :class:`~hmipv6.core.map.MobilityAnchorPoint` with ``relay_from`` sends its own option
  (Dist 1) together with the relayed ones in the same RA (AR-03; R2 of FLOWS §6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from ipaddress import IPv6Address

from hmipv6.wire.icmpv6 import AdvertisementInterval, MapOption, RouterAdvertisement, options_of
from hmipv6.wire.ipv6 import IPv6Packet

__all__ = ["MAX_DIST", "Heard", "MapRelay", "RelayRecord", "RelayTable"]

MAX_DIST = 15
"""Dist is a 4-bit field (RFC 4140 §5)."""


@dataclass(frozen=True, slots=True)
class RelayRecord:
    option: MapOption
    """The option as heard (Dist not yet incremented)."""
    ifname: str
    heard: float
    expires: float


class RelayTable:
    """MAP options learned from upstream RAs, per (MAP address, interface)."""

    def __init__(self, *, missed_ras: int = 3, zero_lifetime_hold: float = 10.0,
                 own: Iterable[IPv6Address] = ()) -> None:
        self.missed_ras = missed_ras
        self.zero_lifetime_hold = zero_lifetime_hold
        self.own: set[IPv6Address] = set(own)
        self._records: dict[tuple[IPv6Address, str], RelayRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def learn(self, now: float, ifname: str, option: MapOption,
              advertisement_interval: float | None = None) -> str | None:
        """Record one option heard on ``ifname``. Returns ``None`` when learned, or the
        reason slug it was not (the caller counts it)."""
        if option.address in self.own:
            return "own-map"
        if option.dist >= MAX_DIST:
            # RFC 4140 §7.1.1: the relay MUST increment Dist, which cannot go past 15.
            return "dist-overflow"
        if option.dist == 0:  # only reachable if a decoder ever let it through
            return "dist-zero"
        hold = float(option.valid_lifetime) if option.valid_lifetime else self.zero_lifetime_hold
        if advertisement_interval is not None:
            hold = min(hold, self.missed_ras * advertisement_interval)
        self._records[(option.address, ifname)] = RelayRecord(option, ifname, now, now + hold)
        return None

    def purge(self, now: float) -> list[IPv6Address]:
        """Drop expired records; returns the MAP addresses no longer known at all."""
        gone = [k for k, r in self._records.items() if r.expires <= now]
        for k in gone:
            del self._records[k]
        known = {a for a, _ in self._records}
        return sorted({a for a, _ in gone} - known)

    def next_expiry(self) -> float | None:
        return min((r.expires for r in self._records.values()), default=None)

    def best(self, now: float) -> dict[IPv6Address, RelayRecord]:
        """Per MAP, the live record with the smallest Dist (RFC 4140 §7.1.1: "it MUST choose
        the option with the smallest distance field"); the latest heard among equals."""
        chosen: dict[IPv6Address, RelayRecord] = {}
        for (addr, _), rec in self._records.items():
            if rec.expires <= now:
                continue
            cur = chosen.get(addr)
            if cur is None or (rec.option.dist, -rec.heard) < (cur.option.dist, -cur.heard):
                chosen[addr] = rec
        return chosen

    def relayed(self, now: float, ifname: str) -> list[MapOption]:
        """The options to re-send on ``ifname``: each with Dist + 1, never back out of the
        interface it was chosen from, in MAP address order (stable output)."""
        out: list[MapOption] = []
        for _, rec in sorted(self.best(now).items(), key=lambda kv: kv[0]):
            if rec.ifname == ifname:
                continue
            out.append(replace(rec.option, dist=rec.option.dist + 1, reserved=0))
        return out


@dataclass(frozen=True, slots=True)
class Heard:
    """What :meth:`MapRelay.hear` made of one Router Advertisement."""

    drop: str | None = None
    """A drop reason slug (the RA was not valid or not authenticated), else None."""
    detail: str = ""
    ignored: tuple[str, ...] = ()
    """Reason slugs of options not learned (``own-map``, ``dist-overflow``...)."""
    changed: bool = False
    """What the router relays changed: advertise at once (RFC 4861 §6.2.4)."""


class MapRelay(RelayTable):
    """The receive side of relaying, one piece of code for every relaying router engine (the
    access router, :mod:`hmipv6.core.access_router`, and a MAP that relays, RFC 4140 §7.1.1
    "If the receiving router was also a MAP", :mod:`hmipv6.core.map`): the table plus the
    interfaces it listens on, the RA validity checks and the change detection. Still pure:
    the engine counts, drops and advertises from what :meth:`hear` and :meth:`expire` say."""

    def __init__(self, relay_from: Iterable[str] = (), *, require_authenticated: bool = False,
                 missed_ras: int = 3, zero_lifetime_hold: float = 10.0,
                 own: Iterable[IPv6Address] = (),
                 trusted: Iterable[IPv6Address] | None = None) -> None:
        super().__init__(missed_ras=missed_ras, zero_lifetime_hold=zero_lifetime_hold, own=own)
        self.relay_from = tuple(relay_from)
        self.require_authenticated = require_authenticated
        self.trusted: frozenset[IPv6Address] | None = (
            None if trusted is None else frozenset(IPv6Address(a) for a in trusted))
        """Upstream routers (link-local RA sources) whose MAP options are learned; ``None``:
        any. RFC 4140 §7: discovery RAs "SHOULD be authenticated (e.g., using AH, ESP, or
        SEND)" -- the list stands in for SEND's router authorisation (RFC 3971 §6)."""

    def listens_on(self, ifname: str) -> bool:
        return ifname in self.relay_from

    def signature(self, now: float) -> tuple[tuple[IPv6Address, int, int, bool, int], ...]:
        return tuple(sorted((r.option.address, r.option.dist, r.option.pref, r.option.r,
                             r.option.valid_lifetime) for r in self.best(now).values()))

    def hear(self, now: float, ifname: str, packet: IPv6Packet, message: RouterAdvertisement,
             peer: str | None) -> Heard:
        """Learn the MAP options of an RA heard on the upstream interface ``ifname``."""
        # RFC 4861 §6.1.2: "IP Source Address is a link-local address ... The IP Hop Limit
        # field has a value of 255 ... ICMP Code is 0".
        if packet.hop_limit != 255 or not packet.src.is_link_local or message.code:
            return Heard("ra-invalid", f"hop limit {packet.hop_limit}, from {packet.src}")
        # RFC 4140 §7: "router advertisements that are sent between routers for Dynamic MAP
        # discovery SHOULD be authenticated (e.g., using AH, ESP, or SEND)" (AR-06).
        if self.require_authenticated and peer is None:
            return Heard("ra-unauthenticated", f"from {packet.src} on {ifname}")
        if self.trusted is not None and packet.src not in self.trusted:
            options = tuple(options_of(message.options, MapOption))
            return Heard("untrusted-map-option" if options else "untrusted-ra",
                         f"{len(options)} MAP option(s) from {packet.src} on {ifname}")
        interval: float | None = None
        for ai in options_of(message.options, AdvertisementInterval):
            interval = ai.interval / 1000.0 if ai.interval > 0 else None
        before = self.signature(now)
        ignored = []
        for option in options_of(message.options, MapOption):
            reason = self.learn(now, ifname, option, interval)
            if reason is not None:
                ignored.append(reason)
        return Heard(ignored=tuple(ignored), changed=self.signature(now) != before)

    def expire(self, now: float) -> bool:
        """Purge expired records; True when what is relayed changed."""
        before = self.signature(now)
        self.purge(now)
        return self.signature(now) != before

    def clear(self) -> None:
        """Forget everything learned (a restart: relayed options are volatile)."""
        self._records.clear()
