"""The access router of a MAP domain: Router Advertisements with the MAP option, dynamic MAP
discovery, and MAP failure detection (RFC 4140 §7, §10; RFC 6275 §7; RFC 4861 §6.2).

Theory of operation
-------------------
An :class:`AccessRouter` is a :class:`~hmipv6.core.router.Router` with *advertising
interfaces* (:class:`RaConfig`, one per access link). On each it sends Router Advertisements
carrying, in this order: Source Link-layer Address, MTU (when configured), one Prefix
Information option (L and A set, and R with the router's full address in the prefix field,
RFC 6275 §7.2), the Advertisement Interval option (RFC 6275 §7.3), and the MAP options of its
domain (RFC 4140 §7, AR-01):

1. its *own* MAP options when the router is itself a MAP (``own_maps``, Dist 1: RFC 4140
   §7.1.1 "If the receiving router was also a MAP, it MUST send its own option, together with
   the received option, in the same advertisement", AR-03); a co-located MAP engine's
   option can be attached instead with :meth:`AccessRouter.add_own_map_source`;
2. the *manually configured* MAP options (``maps``; RFC 4140 §7: "Manual configuration ... is
   the default mechanism"), each with Valid Lifetime 0 while failure detection says the MAP
   is down (RFC 4140 §10, AR-07);
3. the *relayed* options learned on the upstream interfaces ``relay_from`` with Dist + 1
   (RFC 4140 §7.1.1, AR-02, AR-04; the receive side is
   :class:`~hmipv6.core.map_discovery.MapRelay`, shared with a relaying MAP engine). A MAP already in 1
   or 2 is not relayed again. Under the ``rfc5380`` profile relaying cannot be configured
   (RFC 5380 §7 keeps only manual configuration, X5380-06).

Timing (RFC 4861 §6.2.4, §6.2.6 with RFC 6275 §7.5's fast values):

- unsolicited multicast RAs at uniformly random intervals in [MinRtrAdvInterval,
  MaxRtrAdvInterval] drawn from ``self.rng``, the first ``MAX_INITIAL_RTR_ADVERTISEMENTS``
  capped at ``MAX_INITIAL_RTR_ADVERT_INTERVAL``; the first goes out at :meth:`start`;
- a Router Solicitation is answered after a random delay in [0, MAX_RA_DELAY_TIME] (0 makes
  tests deterministic): by unicast to the solicitor when ``solicited_ra_unicast`` is set and
  the source is not ``::``, otherwise by moving the interface's multicast RA earlier, never
  closer than MIN_DELAY_BETWEEN_RAS to the previous multicast RA (RFC 6275 §13:
  "MinDelayBetweenRAs ... SHOULD be set to MinRtrAdvInterval, if MinRtrAdvInterval is less
  than 3 seconds");
- a change in what the RAs say (a MAP failed or recovered, a Pref changed, a relayed option
  appeared or vanished) restarts the initial fast phase: RFC 4861 §6.2.4 "the router MAY
  transmit up to MAX_INITIAL_RTR_ADVERTISEMENTS unsolicited advertisements, using the same
  rules as when an interface becomes an advertising interface".

An advertising interface with no prefix (``RaConfig(prefix=None)``) is *discovery-only*: a
router-to-router link on which the RAs carry only the MAP options (router lifetime 0). An
access router with no access link but discovery-only interfaces and ``relay_from`` is a
plain relaying router (R1 in FLOWS §6): the simulator builds ``router`` nodes with
``relay_maps = true`` that way.

Inbound RAs (from upstream routers) are validated (RFC 4861 §6.1.2: hop limit 255, link-local
source, code 0) and, with ``require_authenticated_router_ras``, dropped unless IPsec
authenticated them (``Inbound.peer`` set; RFC 4140 §7: such RAs "SHOULD be authenticated",
AR-06).

MAP failure detection runs one :class:`~hmipv6.core.map_probe.MapProbe` per manually
configured MAP (timer ``probe:<address>``); Echo Replies are matched against the outstanding
probes' nonces (AR-08) and, with ``require_authenticated_probes``, must be IPsec-protected.

Timer names: ``ra:<ifname>``, ``ra-unicast:<ifname>:<address>``, ``probe:<address>``,
``relay-expiry``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

from hmipv6.core.events import MapFailed, MapRecovered
from hmipv6.core.map_discovery import MapRelay
from hmipv6.core.map_probe import EchoProbe, MapProbe, ProbeAction, ProbeConfig, ProbeInput
from hmipv6.core.router import ND_HOP_LIMIT, Router, RouterConfig
from hmipv6.core.security import Security
from hmipv6.errors import LocalProtocolError
from hmipv6.wire.addr import ALL_NODES, UNSPECIFIED
from hmipv6.wire.icmpv6 import (
    MTU,
    AdvertisementInterval,
    EchoReply,
    EchoRequest,
    MapOption,
    NDOption,
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    options_of,
)
from hmipv6.wire.ipv6 import IPv6Packet

__all__ = [
    "MAX_INITIAL_RTR_ADVERTISEMENTS",
    "MAX_INITIAL_RTR_ADVERT_INTERVAL",
    "MAX_RA_DELAY_TIME",
    "AccessRouter",
    "AccessRouterConfig",
    "MapConfig",
    "RaConfig",
]

# RFC 4861 §10 router constants.
MAX_INITIAL_RTR_ADVERT_INTERVAL = 16.0
MAX_INITIAL_RTR_ADVERTISEMENTS = 3
MIN_DELAY_BETWEEN_RAS = 3.0
MAX_RA_DELAY_TIME = 0.5
MAX_PENDING_UNICAST_RAS = 16
"""Beyond this many solicitors waiting for a unicast answer, answer by multicast instead."""

PROFILES = ("rfc4140", "rfc5380")


@dataclass(frozen=True, slots=True, kw_only=True)
class MapConfig:
    """One MAP option an access router advertises (RFC 4140 §5, §7.1.2)."""

    address: IPv6Address
    """The MAP's global address (its /64 forms the RCoA)."""
    dist: int = 1
    """RFC 4140 §7.1.1: "MAY be set to a default value of 1 and MUST NOT be set to zero"."""
    pref: int = 10
    """RFC 4140 §7.1.2: "A default preference value of 10 may be assigned to each MAP"."""
    r: bool = True
    valid_lifetime: int = 3600
    """Seconds."""
    probe: bool = True
    """Watch this MAP with Echo probes (RFC 4140 §10); never applies to ``own_maps``."""

    def __post_init__(self) -> None:
        if not 1 <= self.dist <= 15:
            raise LocalProtocolError(f"MAP {self.address}: Dist {self.dist} not in 1..15 "
                                     "(RFC 4140 §7.1.1: MUST NOT be zero)")
        if not 0 <= self.pref <= 15:
            raise LocalProtocolError(f"MAP {self.address}: Pref {self.pref} not in 0..15")
        if not 0 <= self.valid_lifetime <= 0xFFFFFFFF:
            raise LocalProtocolError(f"MAP {self.address}: bad valid lifetime")


@dataclass(frozen=True, slots=True, kw_only=True)
class RaConfig:
    """An advertising interface (RFC 4861 §6.2.1 variables, RFC 6275 §7.5 limits)."""

    prefix: IPv6Network | None
    """The on-link prefix advertised (a /64 for SLAAC). ``None``: a *discovery-only*
    interface on a router-to-router link (RFC 4140 §7.1.1): its RAs carry the MAP options
    (and the Advertisement Interval) but no prefix, with router lifetime 0 (not a default
    router), as a MAP's own RAs do."""
    router_address: IPv6Address | None = None
    """The router's global address on the link (default: the prefix's ``::1``)."""
    min_interval: float = 198.0
    """MinRtrAdvInterval (RFC 4861 default 0.33 × 600 s; RFC 6275 §7.5 allows 0.03 s)."""
    max_interval: float = 600.0
    """MaxRtrAdvInterval (RFC 4861 default 600 s; RFC 6275 §7.5 allows 0.07 s)."""
    mtu: int | None = None
    router_lifetime: int | None = None
    """Seconds; default max(1, ⌈3 × MaxRtrAdvInterval⌉) capped at 9000 (RFC 4861 §6.2.1)."""
    valid_lifetime: int = 2592000
    preferred_lifetime: int = 604800
    cur_hop_limit: int = 64
    advertisement_interval_option: bool = True

    def __post_init__(self) -> None:
        # RFC 6275 §7.5: "MinRtrAdvInterval 0.03 seconds ... MaxRtrAdvInterval 0.07 seconds".
        if not (0.03 <= self.min_interval <= self.max_interval and self.max_interval >= 0.07):
            raise LocalProtocolError(
                f"RA intervals {self.min_interval}..{self.max_interval}: need 0.03 <= Min <= Max"
                " and Max >= 0.07 (RFC 6275 §7.5)")

    @property
    def address(self) -> IPv6Address:
        if self.router_address is not None:
            return self.router_address
        if self.prefix is None:
            raise LocalProtocolError("a discovery-only interface has no router address")
        return self.prefix.network_address + 1

    @property
    def lifetime(self) -> int:
        if self.router_lifetime is not None:
            return self.router_lifetime
        return min(9000, max(1, math.ceil(3 * self.max_interval)))

    @property
    def advertisement_interval_ms(self) -> int:
        ms = round(self.max_interval * 1000)
        # RFC 6275 §7.5: "Routers SHOULD add 20 ms to any Advertisement Intervals sent in RAs
        # that are below 200 ms".
        return ms + 20 if ms < 200 else ms


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRouterConfig(RouterConfig):
    interfaces: Mapping[str, RaConfig] = field(default_factory=dict)
    """Advertising interfaces by name; the constructor creates missing ones, assigns the
    router address and installs the on-link route."""
    maps: tuple[MapConfig, ...] = ()
    """Manually configured MAP options of the domain (the default mechanism, AR-01)."""
    own_maps: tuple[MapConfig, ...] = ()
    """This router is itself a MAP: its own option(s) (AR-03, MAP-09)."""
    relay_from: tuple[str, ...] = ()
    """Upstream interfaces whose RAs' MAP options are relayed (dynamic discovery, AR-02)."""
    trusted_upstream: frozenset[IPv6Address] | None = None
    """The upstream routers (link-local RA sources) whose MAP options are relayed; ``None``:
    any (:attr:`~hmipv6.core.map_discovery.MapRelay.trusted`)."""
    profile: str = "rfc4140"
    require_authenticated_router_ras: bool = False
    """AR-06: drop RAs that IPsec did not authenticate."""
    require_authenticated_probes: bool = False
    """AR-08: only IPsec-authenticated Echo Replies count (on top of the nonce check)."""
    probe: ProbeConfig | None = field(default_factory=ProbeConfig)
    """MAP failure detection timing; ``None`` turns probing off."""
    max_ra_delay_time: float = MAX_RA_DELAY_TIME
    min_delay_between_ras: float | None = None
    """Default: MinRtrAdvInterval when below 3 s, else 3 s (RFC 6275 §13)."""
    solicited_ra_unicast: bool = False
    """RFC 4861 §6.2.6: "A router MAY choose to unicast the response ... the usual case is
    to multicast"."""
    relay_missed_ras: int = 3
    relay_zero_lifetime_hold: float = 10.0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise LocalProtocolError(f"unknown profile {self.profile!r}, expected {PROFILES}")
        if self.profile == "rfc5380" and self.relay_from:
            # RFC 5380 §7 drops dynamic MAP discovery: manual configuration only (X5380-06).
            raise LocalProtocolError("dynamic MAP discovery (relay_from) is not part of the "
                                     "rfc5380 profile: configure MAP options manually")
        if self.max_ra_delay_time < 0:
            raise LocalProtocolError("max_ra_delay_time must be >= 0")


@dataclass(slots=True)
class _Advertising:
    config: RaConfig
    initial_left: int = MAX_INITIAL_RTR_ADVERTISEMENTS
    last_multicast: float | None = None
    pending_unicast: set[IPv6Address] = field(default_factory=set)
    sent: int = 0


class AccessRouter(Router):
    """See the module docstring.

    Commands: :meth:`start`, :meth:`set_map_preference`, :meth:`set_map_failed` (manual
    intervention, RFC 4140 §10), :meth:`add_own_map_source`; queries:
    :meth:`advertised_maps`, :meth:`router_advertisement`.
    """

    def __init__(self, name: str, *, rng: random.Random | None = None,
                 security: Security | None = None, config: AccessRouterConfig | None = None
                 ) -> None:
        cfg = config if config is not None else AccessRouterConfig()
        super().__init__(name, rng=rng, security=security, config=cfg)
        self.ar_config = cfg
        self._adv: dict[str, _Advertising] = {}
        for ifname, ra in cfg.interfaces.items():
            if ifname not in self.interfaces:
                self.add_interface(ifname)
            if ra.prefix is not None:
                self.add_address(ifname, ra.address)
                self.add_route(ra.prefix, ifname)
            self._adv[ifname] = _Advertising(ra)
        self._own: dict[IPv6Address, MapConfig] = {m.address: m for m in cfg.own_maps}
        self._maps: dict[IPv6Address, MapConfig] = {m.address: m for m in cfg.maps}
        self._failed: set[IPv6Address] = set()
        self.relay = MapRelay(cfg.relay_from,
                              require_authenticated=cfg.require_authenticated_router_ras,
                              missed_ras=cfg.relay_missed_ras,
                              zero_lifetime_hold=cfg.relay_zero_lifetime_hold, own=self._own,
                              trusted=cfg.trusted_upstream)
        self._own_sources: list[Callable[[], MapOption]] = []
        self.probes: dict[IPv6Address, MapProbe] = {}
        if cfg.probe is not None:
            for m in cfg.maps:
                if m.probe and m.address not in self._own:
                    self.probes[m.address] = MapProbe(m.address, cfg.probe)
        self.started = False

    # -- commands ------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Become an advertising router: the first RA on every advertising interface goes out
        at ``now``, MAP probing starts (first probe one probe interval later)."""
        self.started = True
        for ifname, adv in self._adv.items():
            adv.initial_left = MAX_INITIAL_RTR_ADVERTISEMENTS
            adv.last_multicast = None
            for a in adv.pending_unicast:
                self.timers.cancel(f"ra-unicast:{ifname}:{a}")
            adv.pending_unicast.clear()
            self.timers.set(f"ra:{ifname}", now)
        for address, probe in self.probes.items():
            probe.start(now, self.rng)
            self._arm_probe(address, probe)

    def restart(self, now: float) -> None:
        """After a crash: relayed options, failure state and pending answers are volatile."""
        super().restart(now)
        for address in list(self.probes):
            self.timers.cancel(f"probe:{address}")
        self.timers.cancel("relay-expiry")
        self.relay.clear()
        # The failure state is volatile too: advertise those MAPs normally again (and say so,
        # so that anything built from events agrees) until probing finds them failed anew.
        for address in sorted(self._failed):
            self.set_map_failed(now, address, False)
        self.start(now)

    def set_map_preference(self, now: float, address: IPv6Address, pref: int) -> None:
        """Change an advertised MAP's Pref at run time (RFC 4140 §7.1.2: "a MAP can change
        its preference value at any time"; 0 = do not choose for new bindings)."""
        if not 0 <= pref <= 15:
            raise LocalProtocolError(f"Pref {pref} not in 0..15")
        for table in (self._own, self._maps):
            if address in table:
                m = table[address]
                table[address] = MapConfig(address=m.address, dist=m.dist, pref=pref, r=m.r,
                                           valid_lifetime=m.valid_lifetime, probe=m.probe)
                self._advertisement_changed(now)
                return
        raise LocalProtocolError(f"{self.name}: no configured MAP {address}")

    def set_map_failed(self, now: float, address: IPv6Address, failed: bool = True) -> None:
        """Manual intervention (RFC 4140 §10: "Access routers can be triggered to advertise
        a MAP option with a lifetime of zero ... By manual intervention")."""
        if address not in self._maps:
            raise LocalProtocolError(f"{self.name}: no manually configured MAP {address}")
        if failed == (address in self._failed):
            return
        if failed:
            self._failed.add(address)
            self.emit(MapFailed(time=now, map=address))
        else:
            self._failed.discard(address)
            self.emit(MapRecovered(time=now, map=address))
        self._advertisement_changed(now)

    def add_own_map_source(self, source: Callable[[], MapOption]) -> None:
        """Advertise a co-located MAP engine's option as this router's own (AR-03), e.g.
        ``ar.add_own_map_source(map_engine.map_option)``: its current Pref and lifetime show
        in every RA, and options for its address are never learned from upstream."""
        self._own_sources.append(source)
        self.relay.own.add(source().address)

    def own_map_options(self, now: float) -> list[MapOption]:
        """The options of the MAP(s) this router is (AR-03): ``own_maps`` configuration and
        sources added with :meth:`add_own_map_source`."""
        out = [MapOption(m.dist, m.pref, m.r, m.valid_lifetime, m.address)
               for m in self._own.values()]
        out += [source() for source in self._own_sources]
        return out

    def advertised_maps(self, now: float, ifname: str) -> list[MapOption]:
        """The MAP options the next RA on ``ifname`` carries, in order: own, manual, relayed."""
        out = self.own_map_options(now)
        seen = {o.address for o in out}
        for m in self._maps.values():
            if m.address in seen:
                continue
            seen.add(m.address)
            # RFC 4140 §10: "if no reply is received, a MAP option may be sent with a valid
            # lifetime value of zero."
            lifetime = 0 if m.address in self._failed else m.valid_lifetime
            out.append(MapOption(m.dist, m.pref, m.r, lifetime, m.address))
        for o in self.relay.relayed(now, ifname):
            if o.address not in seen:
                seen.add(o.address)
                out.append(o)
        return out

    def router_advertisement(self, now: float, ifname: str) -> RouterAdvertisement:
        """The RA this router sends on ``ifname`` now."""
        ra = self._adv[ifname].config
        opts: list[NDOption] = [SourceLinkLayerAddress(self.interfaces[ifname].lladdr)]
        if ra.mtu is not None:
            opts.append(MTU(ra.mtu))
        # RFC 6275 §7.2: with R set, "the Prefix field contains a complete IP address assigned
        # to the sending router"; L and A as RFC 4861 §4.6.2 for an on-link SLAAC prefix.
        if ra.prefix is not None:
            opts.append(PrefixInformation(ra.prefix.prefixlen, True, True, True,
                                          ra.valid_lifetime, ra.preferred_lifetime, ra.address))
        if ra.advertisement_interval_option:
            # RFC 6275 §7.3: "this field MUST be equal to the value MaxRtrAdvInterval,
            # expressed in milliseconds" (plus §7.5's 20 ms below 200 ms).
            opts.append(AdvertisementInterval(ra.advertisement_interval_ms))
        opts.extend(self.advertised_maps(now, ifname))
        return RouterAdvertisement(cur_hop_limit=ra.cur_hop_limit,
                                   router_lifetime=ra.lifetime if ra.prefix is not None else 0,
                                   options=tuple(opts))

    # -- timers --------------------------------------------------------------------------------

    def on_timer(self, now: float, name: str) -> None:
        kind, _, rest = name.partition(":")
        if kind == "ra" and rest in self._adv:
            self._send_multicast_ra(now, rest)
        elif kind == "ra-unicast":
            ifname, _, dst = rest.partition(":")
            adv = self._adv.get(ifname)
            if adv is not None:
                target = IPv6Address(dst)
                adv.pending_unicast.discard(target)
                self._send_ra(now, ifname, target)
        elif kind == "probe":
            probe = self.probes.get(IPv6Address(rest))
            if probe is not None:
                self._probe_input(now, probe, ProbeInput.TIMER)
        elif kind == "relay-expiry":
            changed = self.relay.expire(now)
            self._arm_relay_expiry()
            if changed:
                self._advertisement_changed(now)
        else:
            super().on_timer(now, name)

    def _send_multicast_ra(self, now: float, ifname: str) -> None:
        adv = self._adv[ifname]
        self._send_ra(now, ifname, ALL_NODES)
        adv.last_multicast = now
        # RFC 4861 §6.2.4: "the timer is reset to a uniformly distributed random value between
        # the interface's configured MinRtrAdvInterval and MaxRtrAdvInterval".
        ra = adv.config
        interval = self.rng.uniform(ra.min_interval, ra.max_interval)
        if adv.initial_left > 0:
            adv.initial_left -= 1
            interval = min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL)
        self.timers.set(f"ra:{ifname}", now + interval)

    def _send_ra(self, now: float, ifname: str, dst: IPv6Address) -> None:
        iface = self.interfaces[ifname]
        if not iface.up:
            return
        # RFC 4861 §6.1.2: an RA's source is the router's link-local address, hop limit 255.
        packet = IPv6Packet(iface.link_local, dst, self.router_advertisement(now, ifname),
                            hop_limit=ND_HOP_LIMIT)
        self._adv[ifname].sent += 1
        self.counters["ra-sent"] += 1
        self.send_packet(now, packet, ifname=ifname, next_hop=None)

    def _min_delay_between_ras(self, ra: RaConfig) -> float:
        if self.ar_config.min_delay_between_ras is not None:
            return self.ar_config.min_delay_between_ras
        # RFC 6275 §13: "MinDelayBetweenRAs ... SHOULD be set to MinRtrAdvInterval, if
        # MinRtrAdvInterval is less than 3 seconds."
        return min(ra.min_interval, MIN_DELAY_BETWEEN_RAS)

    def _advertisement_changed(self, now: float) -> None:
        """RFC 4861 §6.2.4: changed information MAY restart the initial advertisements."""
        if not self.started:
            return
        for ifname, adv in self._adv.items():
            adv.initial_left = MAX_INITIAL_RTR_ADVERTISEMENTS
            at = now
            if adv.last_multicast is not None:
                at = max(now, adv.last_multicast + self._min_delay_between_ras(adv.config))
            current = self.timers.get(f"ra:{ifname}")
            if current is None or at < current:
                self.timers.set(f"ra:{ifname}", at)

    # -- Router Solicitations (RFC 4861 §6.2.6) ------------------------------------------------

    def on_router_solicitation(self, now: float, ifname: str, packet: IPv6Packet,
                               message: RouterSolicitation) -> None:
        adv = self._adv.get(ifname)
        if adv is None or not self.started:
            super().on_router_solicitation(now, ifname, packet, message)
            return
        # RFC 4861 §6.1.1: hop limit 255, code 0, and "If the IP source address is the
        # unspecified address, there is no source link-layer address option in the message."
        unspecified = packet.src == UNSPECIFIED
        if (packet.hop_limit != ND_HOP_LIMIT or message.code != 0
                or (unspecified and options_of(message.options, SourceLinkLayerAddress))):
            self.drop(now, "rs-invalid", f"hop limit {packet.hop_limit}, from {packet.src}")
            return
        self.counters["rs-received"] += 1
        # "Router Advertisements sent in response to a Router Solicitation MUST be delayed by
        # a random time between 0 and MAX_RA_DELAY_TIME seconds."
        delay = self.rng.uniform(0.0, self.ar_config.max_ra_delay_time) \
            if self.ar_config.max_ra_delay_time > 0 else 0.0
        if (self.ar_config.solicited_ra_unicast and not unspecified
                and len(adv.pending_unicast) < MAX_PENDING_UNICAST_RAS):
            if packet.src not in adv.pending_unicast:
                adv.pending_unicast.add(packet.src)
                self.timers.set(f"ra-unicast:{ifname}:{packet.src}", now + delay)
            return
        at = now + delay
        # "If the router sent a multicast Router Advertisement (solicited or unsolicited)
        # within the last MIN_DELAY_BETWEEN_RAS seconds, schedule the advertisement to be sent
        # at a time corresponding to MIN_DELAY_BETWEEN_RAS plus the random value after the
        # previous advertisement was sent."
        min_delay = self._min_delay_between_ras(adv.config)
        if adv.last_multicast is not None and now - adv.last_multicast < min_delay:
            at = adv.last_multicast + min_delay + delay
        # "If the computed value corresponds to a time later than the time the next multicast
        # Router Advertisement is scheduled to be sent, ignore the random delay and send the
        # advertisement at the already-scheduled time."
        scheduled = self.timers.get(f"ra:{ifname}")
        if scheduled is None or at < scheduled:
            self.timers.set(f"ra:{ifname}", at)

    # -- Router Advertisements from upstream (dynamic MAP discovery, RFC 4140 §7.1.1) ----------

    def on_router_advertisement(self, now: float, ifname: str, packet: IPv6Packet,
                                message: RouterAdvertisement, peer: str | None) -> None:
        if not self.relay.listens_on(ifname):
            super().on_router_advertisement(now, ifname, packet, message, peer)
            return
        heard = self.relay.hear(now, ifname, packet, message, peer)
        if heard.drop is not None:
            self.drop(now, heard.drop, heard.detail)
            return
        for reason in heard.ignored:
            self.counters[f"relay-ignored.{reason}"] += 1
        self._arm_relay_expiry()
        if heard.changed:
            self._advertisement_changed(now)

    def _arm_relay_expiry(self) -> None:
        nxt = self.relay.next_expiry()
        if nxt is None:
            self.timers.cancel("relay-expiry")
        else:
            self.timers.set("relay-expiry", nxt)

    # -- MAP failure detection (RFC 4140 §10) --------------------------------------------------

    def _arm_probe(self, address: IPv6Address, probe: MapProbe) -> None:
        if probe.deadline is None:
            self.timers.cancel(f"probe:{address}")
        else:
            self.timers.set(f"probe:{address}", probe.deadline)

    def _probe_input(self, now: float, probe: MapProbe, event: ProbeInput) -> None:
        actions, echo = probe.step(now, event, self.rng)
        if echo is not None:
            self._send_probe(now, probe.map, echo)
        if ProbeAction.FAILED in actions:
            self.set_map_failed(now, probe.map, True)
        if ProbeAction.RECOVERED in actions:
            self.set_map_failed(now, probe.map, False)
        self._arm_probe(probe.map, probe)

    def _send_probe(self, now: float, address: IPv6Address, echo: EchoProbe) -> None:
        route = self.lookup_route(address)
        src = self.address_on(route.ifname) if route is not None else None
        if src is None or src.is_link_local:
            src = next((i.addresses[0] for i in self.interfaces.values() if i.addresses),
                       src or UNSPECIFIED)
        self.counters["map-probe-sent"] += 1
        self.send_packet(now, IPv6Packet(src, address, EchoRequest(echo.identifier,
                                                                   echo.sequence, echo.nonce)))

    def on_echo_reply(self, now: float, ifname: str, packet: IPv6Packet, message: EchoReply,
                      peer: str | None) -> None:
        probe = self.probes.get(packet.src)
        if probe is None:
            super().on_echo_reply(now, ifname, packet, message, peer)
            return
        # RFC 4140 §10: the AR-MAP mechanism "SHOULD be secure to allow for message
        # authentication, integrity protection, and protection against replay attacks" (AR-08).
        if self.ar_config.require_authenticated_probes and peer is None:
            self.drop(now, "probe-reply-unauthenticated", str(packet.src))
            return
        if not probe.match_reply(packet.src, message.identifier, message.sequence, message.data):
            self.drop(now, "probe-reply-mismatch", f"{packet.src} id {message.identifier} "
                      f"seq {message.sequence}")
            return
        self.counters["map-probe-answered"] += 1
        self._probe_input(now, probe, ProbeInput.REPLY)
