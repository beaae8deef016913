"""The Mobility Anchor Point (RFC 4140 §6.2, §7.1.2, §8, §10, §12.1).

Theory of operation
-------------------
The MAP is a home agent for regional care-of addresses (RFC 4140 §6.2: "The MAP acts as a HA
for the RCoA"), so the interception, tunnelling, proxy ND, reverse-tunnel exit, expiry and the
shared BU validation come from :class:`~hmipv6.core.anchor.BindingAnchor`. This module adds
what only a MAP decides about a *local* Binding Update (sent from the LCoA with a Home Address
option holding the RCoA, M and A set; RFC 4140 §4.1, §6.2 — the MAP never learns the home
address, MAP-01):

1. the BU must carry M (RFC 4140 §4.1: "the M and A flags MUST be set"); a home registration
   to a MAP is refused with 131, anything else is discarded;
2. the RCoA must be in the MAP's prefix (132, the HA's "not home subnet");
3. the LCoA must be in the valid on-link prefixes, or in a neighbouring domain where
   previous-MAP forwarding is allowed (§6.2 and §8 → 129);
4. the peer that installed an RCoA owns it (§12.1): another peer gets 134 and the binding is
   untouched, so the mobile node forms a new RCoA (MN-23); a peer authorisation database on
   the security object (``security.pad.may_use``) is consulted too (→ 129 or 134);
5. a new RCoA must be unique on the MAP's link (modelled DAD against the addresses the
   scenario configures there, the MAP's own, and the subnet's reserved anycast addresses,
   RFC 4291 §2.6.1 / RFC 2526 → 134);
6. an SA keyed for the whole RCoA prefix is bound to the RCoA its peer registered over it
   (§12.1: the SA is established for an RCoA; the Home Address option is outside ESP), so
   another RCoA over it is refused (129) while that binding lives;
7. (shared with the home agent) the LCoA must be usable as a tunnel end: not IPv4-mapped,
   not the MAP's own, not an address it serves or binds, not reserved anycast (→ 129); and
   one identity holds at most ``max_bindings_per_peer`` bindings (→ 130).

Canonical local BUs — unprotected, or ESP-protected with any suite — that the MAP would
accept are accepted straight from their octets (``_fast_local_bu``, ``_fast_esp_local_bu``,
both ending in ``_fast_accept``); anything else, every refusal and every drop, takes the
general path above. Tests hold the two paths to identical octets, events and state.

The MAP also originates its MAP option (:meth:`MobilityAnchorPoint.map_option`, the one place
the option is built) and, on configured interfaces, sends Router Advertisements carrying it
for dynamic MAP discovery (§7.1.2). A MAP configured to relay (``relay_from``: its upstream
interfaces) learns the MAP options of the RAs heard there through
:class:`~hmipv6.core.map_discovery.MapRelay` (the same receive side as the access router's)
and sends "its own option, together with the received option, in the same advertisement"
(§7.1.1, AR-03): its own at Dist 1, the relayed ones at Dist + 1 (R2 in FLOWS §6). Relayed
options are volatile (forgotten on restart); a change in them is advertised at once.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable
from ipaddress import IPv6Address, IPv6Network
from typing import Any, Literal

from hmipv6.core.anchor import BindingAnchor
from hmipv6.core.binding_cache import BindingCache, BindingEntry
from hmipv6.core.events import BindingCacheUpdated
from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.lane import Lane
from hmipv6.core.map_discovery import MapRelay
from hmipv6.core.node import Node, Transmit
from hmipv6.core.registrar import (
    Registration,
    binding_acknowledgement_head,
    binding_acknowledgement_mh,
    binding_acknowledgement_octets,
    is_unicast_routable,
    is_unicast_routable_packed,
    sequence_newer,
)
from hmipv6.core.security import NullSecurity, Security
from hmipv6.wire import checksum as ck
from hmipv6.wire.addr import ALL_NODES, from_packed
from hmipv6.wire.icmpv6 import MapOption, RouterAdvertisement
from hmipv6.wire.ipv6 import IPv6Packet
from hmipv6.wire.mobility import BAStatus, BUFlags, MHType

__all__ = ["INFINITY", "MobilityAnchorPoint"]

INFINITY = 0xFFFFFFFF
"""RFC 4861 §4.6.2: a valid lifetime of all ones means infinity."""
DEFAULT_PREFERENCE = 10
"""RFC 4140 §7.1.2: "A default preference value of 10 may be assigned to each MAP"."""
RA_TIMER = "ra"
RELAY_TIMER = "relay-expiry"

# The canonical unprotected local BU (RFC 4140 §4.1): IPv6 header, Destination Options with
# PadN(2) + Home Address option, Mobility Header BU with no options (PadN(2) tail); 80 octets.
_LOCAL_BU_DSTOPT = b"\x87\x02\x01\x02\x00\x00\xc9\x10"
_ESP_BU_DSTOPT = b"\x32\x02\x01\x02\x00\x00\xc9\x10"
"""The same Destination Options header announcing ESP: the protected local BU."""
_LOCAL_BU_MH = b"\x3b\x01\x05\x00"
_LOCAL_BU_TAIL = b"\x01\x02\x00\x00"
_BU_FIXED = struct.Struct("!HHH")
_AM, _AHM = int(BUFlags.A | BUFlags.M), int(BUFlags.A | BUFlags.H | BUFlags.M)
_M = int(BUFlags.M)  # plain ints: IntFlag arithmetic is a Python-level call
_BA = int(MHType.BA)


class MobilityAnchorPoint(BindingAnchor):
    """A MAP. Constructor arguments beyond :class:`BindingAnchor`'s:

    ``prefix_valid_lifetime``: valid lifetime of the RCoA prefix (seconds; the MAP option's
    Valid Lifetime and a bound on granted lifetimes); ``valid_lcoa_prefixes``: the on-link
    prefixes LCoAs may come from (None: any); ``allow_forwarding_to``: prefixes of neighbouring
    domains where previous-MAP forwarding is allowed, or ``"any"``; ``preference``, ``dist``,
    ``r_flag``: the MAP option; ``advertise_on``: interfaces to send RAs with the option on,
    every ``ra_interval`` seconds.
    """

    kind = BUFlags.M

    def __init__(self, name: str, *, address: IPv6Address | str, ifname: str = "eth0",
                 rcoa_prefix: IPv6Network | str | None = None,
                 prefix_valid_lifetime: int = INFINITY, max_lifetime: int = 600,
                 valid_lcoa_prefixes: Iterable[IPv6Network | str] | None = None,
                 allow_forwarding_to: Iterable[IPv6Network | str] | Literal["any"] = (),
                 preference: int = DEFAULT_PREFERENCE, dist: int = 1, r_flag: bool = True,
                 advertise_on: Iterable[str] = (), ra_interval: float = 10.0,
                 relay_from: Iterable[str] = (),
                 cache: BindingCache | None = None,
                 link_addresses: Iterable[IPv6Address | str] = (),
                 icmp_rate: float = 10.0, rng: random.Random | None = None,
                 security: Security | None = None) -> None:
        prefixes = (rcoa_prefix,) if rcoa_prefix is not None else ()
        super().__init__(name, address=address, ifname=ifname, served_prefixes=prefixes,
                         max_lifetime=max_lifetime, cache=cache, link_addresses=link_addresses,
                         icmp_rate=icmp_rate, rng=rng, security=security)
        self.rcoa_prefix = self.served_prefixes[0]
        self.prefix_valid_lifetime = prefix_valid_lifetime
        self.valid_lcoa_prefixes = (None if valid_lcoa_prefixes is None
                                    else tuple(IPv6Network(p) for p in valid_lcoa_prefixes))
        self.allow_forwarding_to: tuple[IPv6Network, ...] | Literal["any"] = (
            "any" if allow_forwarding_to == "any"
            else tuple(IPv6Network(p) for p in allow_forwarding_to))
        self.preference = preference
        self.dist = dist
        self.r_flag = r_flag
        self.advertise_on = tuple(advertise_on)
        self.ra_interval = ra_interval
        self.relay = MapRelay(relay_from, own=(self.address,))
        """Options relayed from the ``relay_from`` interfaces (dynamic discovery, AR-02)."""
        if self.advertise_on:
            self.timers.set(RA_TIMER, 0.0)
        self.fast_path = (self.rcoa_prefix.prefixlen == 64
                          and is_unicast_routable(self.rcoa_prefix.network_address))
        """Take the fast paths for canonical local BUs, unprotected or ESP-protected (see
        ``_fast_accept``)."""
        self._rcoa_prefix8 = self.rcoa_prefix.network_address.packed[:8]

    # -- MAP option (RFC 4140 §5, §7.1.2) ------------------------------------------------------

    def map_option(self) -> MapOption:
        """This MAP's own option: Dist 1 by default (RFC 4140 §7.1.1: "The initial value of the
        'Distance' field MAY be set to a default value of 1 and MUST NOT be set to zero"),
        its preference, R, its valid lifetime and its address."""
        return MapOption(dist=self.dist, pref=self.preference, r=self.r_flag,
                         valid_lifetime=self.prefix_valid_lifetime, address=self.address)

    def set_preference(self, now: float, pref: int) -> None:
        """RFC 4140 §7.1.2: "a MAP can change its preference value at any time"; "A preference
        value of zero means the MAP SHOULD NOT be chosen by new mobile nodes"."""
        if not 0 <= pref <= 15:
            raise ValueError(f"MAP preference {pref} is not 4 bits")
        self.preference = pref
        if self.advertise_on:
            self.timers.set(RA_TIMER, now)  # tell the domain at once

    def router_advertisement(self, now: float | None = None, ifname: str | None = None
                             ) -> RouterAdvertisement:
        """An RA carrying only MAP options: for dynamic MAP discovery by the routers of the
        domain, not a default-router announcement (router lifetime 0). This MAP's option
        first, then (given ``now``) the options relayed onto ``ifname`` (AR-03)."""
        relayed = self.relay.relayed(now, ifname or "") if now is not None else []
        return RouterAdvertisement(cur_hop_limit=64, router_lifetime=0,
                                   options=(self.map_option(), *relayed))

    def on_icmpv6(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        if isinstance(message, RouterAdvertisement) and self.relay.listens_on(ifname):
            heard = self.relay.hear(now, ifname, packet, message, None)
            if heard.drop is not None:
                self.drop(now, heard.drop, heard.detail)
                return
            for reason in heard.ignored:
                self.counters[f"relay-ignored.{reason}"] += 1
            self._arm_relay_expiry()
            if heard.changed and self.advertise_on:
                self.timers.set(RA_TIMER, now)  # tell the routers below at once
            return
        super().on_icmpv6(now, ifname, packet, message, tunnelled)

    def _arm_relay_expiry(self) -> None:
        nxt = self.relay.next_expiry()
        if nxt is None:
            self.timers.cancel(RELAY_TIMER)
        else:
            self.timers.set(RELAY_TIMER, nxt)

    def on_timer(self, now: float, name: str) -> None:
        if name == RA_TIMER:
            # RFC 4140 §7.1.2: "A MAP will be configured to send its option ... onto certain
            # interfaces."
            for ifname in self.advertise_on:
                iface = self.interfaces.get(ifname)
                if iface is not None and iface.up:
                    self.send_packet(now, IPv6Packet(iface.link_local, ALL_NODES,
                                                     self.router_advertisement(now, ifname),
                                                     hop_limit=255),
                                     ifname=ifname)
            # RFC 4861 §6.2.4: randomised intervals keep routers from synchronising.
            self.timers.set(RA_TIMER, now + self.ra_interval * self.rng.uniform(0.75, 1.0))
            return
        if name == RELAY_TIMER:
            changed = self.relay.expire(now)
            self._arm_relay_expiry()
            if changed and self.advertise_on:
                self.timers.set(RA_TIMER, now)
            return
        super().on_timer(now, name)

    def restart(self, now: float) -> None:
        super().restart(now)
        self.relay.clear()
        self.timers.cancel(RELAY_TIMER)
        if self.advertise_on:
            self.timers.set(RA_TIMER, now)

    # -- local Binding Updates -----------------------------------------------------------------

    def _receive_untunnelled(self, now: float, ifname: str, data: bytes) -> None:
        # After the tunnel's fast path (BindingAnchor._receive), which never takes a local BU:
        # that is addressed to the MAP itself, a local address, never a bound one.
        n = len(data)
        if n >= 80 and data[6] == 60 and self.fast_path and not self.crashed and (
                self._fast_local_bu(now, data) if n == 80 else self._fast_esp_local_bu(now, data)):
            return
        Node._receive(self, now, ifname, data)

    def _fast_local_bu(self, now: float, data: bytes) -> bool:
        """Accept a canonical, unprotected local BU straight from its octets (the IPv6 and
        Destination Options headers here, the BU itself in :meth:`_fast_accept`)."""
        if (data[40:48] != _LOCAL_BU_DSTOPT or data[4:6] != b"\x00\x28" or data[0] >> 4 != 6
                or data[24:40] != self._addr_packed or type(self.security) is not NullSecurity):
            return False
        return self._fast_accept(now, data[8:24], data[48:64], data[64:80], None, None, 0)

    def _fast_esp_local_bu(self, now: float, data: bytes) -> bool:
        """Accept a canonical ESP-protected local BU (RFC 4140 §12.1; any ESP suite) straight
        from its octets: the IPv6 and Destination Options (PadN, HAO) headers by fixed
        offsets, then :meth:`IPsec.open_esp_mh <hmipv6.core.ipsec.IPsec.open_esp_mh>`
        (SA by SPI, replay pre-check, ICV, SPD, selectors and PAD against the RCoA of the
        HAO, as the general path checks them, changing nothing), then :meth:`_fast_accept`,
        which commits the replay window only when it accepts (RFC 4303 §3.4.3)."""
        security = self.security
        if (type(security) is not IPsec or data[40:48] != _ESP_BU_DSTOPT or data[0] >> 4 != 6
                or len(data) - 40 != (data[4] << 8 | data[5]) or data[24:40] != self._addr_packed
                or data[48:56] != self._rcoa_prefix8):
            return False
        rcoa = data[48:64]
        opened = security.open_esp_mh(data[64:], rcoa, self._addr_packed)
        if opened is None:
            return False
        lane, esp_seq, mh = opened
        return self._fast_accept(now, data[8:24], rcoa, mh, security, lane, esp_seq)

    def _fast_accept(self, now: float, lcoa: bytes, rcoa: bytes, mh: bytes,
                     ipsec: IPsec | None, lane: Lane | None, esp_seq: int) -> bool:
        """Accept the canonical local BU ``mh`` (Mobility Header octets, no options) from
        ``lcoa`` for ``rcoa``, unprotected (``ipsec`` and ``lane`` None) or arrived on the
        inbound ESP SA of ``lane`` (:mod:`hmipv6.core.ipsec.lane`) of ``ipsec`` (the node's
        security) with sequence number ``esp_seq``.

        Only the *accepting* case of the general path (``unprotect`` → ``on_mobility`` →
        ``admission`` → ``Registrar.decide`` → ``bind`` → ``acknowledge``) is handled here,
        under conditions at least as strict as the general path's: whenever any check could
        come out differently (options, H flag, deregistration, another peer's or an
        unauthorised RCoA, an unknown or expired entry that fails a check, a bad checksum, no
        outbound SA...) this returns False having changed nothing, and the general path
        decides. Tests feed the same octets to a MAP with ``fast_path`` off and compare the
        octets, events, counters and IPsec state both leave."""
        if len(mh) != 16 or mh[:4] != _LOCAL_BU_MH or mh[12:16] != _LOCAL_BU_TAIL:
            return False
        seq, flags, units = _BU_FIXED.unpack_from(mh, 6)
        if (flags & _AHM != _AM or units == 0 or rcoa == lcoa or rcoa[:8] != self._rcoa_prefix8
                or rcoa in self._local
                or not ck.verify(rcoa, self._addr_packed, 135, mh)):
            return False
        if not is_unicast_routable_packed(lcoa) or self.care_of_problem(lcoa) is not None:
            return False
        lcoa_a = from_packed(lcoa)
        if not self.lcoa_allowed(lcoa_a):
            return False
        rcoa_a = from_packed(rcoa)
        peer = lane.peer if lane is not None else None
        record = self._store_get(rcoa)
        if record is None:
            if self.dad_conflict(rcoa_a, rcoa) or (lane is not None
                                             and self.cache.held_by(lane.peer_octets)):
                return False  # a second binding of this identity: the general path decides
        else:
            _, expires, _, last, eflags, holder = BindingCache.unpack_record(record)
            # RFC 4140 §12.1 (SEC-03): only the peer that installed the RCoA may move it.
            if (holder != (lane.peer_octets if lane is not None else b"") or expires <= now
                    or not eflags & _M or not sequence_newer(seq, last)):
                return False
        lifetime = self.registrar.grant(units * 4, self.prefix_lifetime(now, rcoa_a))
        route = self._route_to(lcoa)
        if lifetime == 0 or route is None:
            return False
        if ipsec is not None and lane is not None:
            # The PAD must let this identity use this RCoA, and a new binding claims it
            # (RFC 4140 §12.1, SEC-03/SEC-04/SEC-05); the BA's Type 2 routing header stays in
            # front of ESP (RFC 6275 §6.4). Nothing below refuses.
            esp = ipsec.answer_esp(lane, esp_seq, binding_acknowledgement_mh(
                self._addr_packed, rcoa, 0, seq, lifetime), self._addr_packed, rcoa, _BA,
                record is None)
            if esp is None:
                return False
            ba = binding_acknowledgement_head(self._addr_packed, lcoa, rcoa, 24 + len(esp),
                                              50) + esp
        else:
            ba = binding_acknowledgement_octets(self._addr_packed, lcoa, rcoa, 0, seq, lifetime)
        created = self.cache.update_packed(now, rcoa, lcoa, lifetime, seq, flags, peer)
        if created:  # == (record is None): the PAD claim above was made
            self.announce(now, rcoa_a)
        self.emit(BindingCacheUpdated(time=now, home_address=rcoa_a, care_of_address=lcoa_a,
                                      lifetime=lifetime, created=created))
        self._arm_expiry()
        self._out.append(Transmit(route[0], ba, route[1]))
        return True

    def lcoa_allowed(self, lcoa: IPv6Address) -> bool:
        """RFC 4140 §6.2 (valid on-link prefixes, MAP-06) and §8 (previous-MAP forwarding to
        neighbouring domains, MAP-08)."""
        if self.valid_lcoa_prefixes is None:
            return True
        if any(lcoa in p for p in self.valid_lcoa_prefixes):
            return True
        forwarding = self.allow_forwarding_to
        return forwarding == "any" or any(lcoa in p for p in forwarding)

    def admission(self, now: float, reg: Registration, existing: BindingEntry | None
                  ) -> int | None:
        flags = reg.bu.flags
        if not flags & BUFlags.M:
            if existing is not None and existing.peer == reg.peer:
                return 0  # the registrar answers 139 (RFC 6275 §9.5.1, registration type)
            if flags & BUFlags.H:
                # RFC 6275 §10.3.1: not configured as a home agent for home addresses → 131.
                return BAStatus.HOME_REGISTRATION_NOT_SUPPORTED
            # A correspondent registration would need return routability, which a MAP does
            # not offer: RFC 6275 §9.5.1 "MUST be silently discarded".
            self.drop(now, "bu-not-local", f"flags {flags.letters()}")
            return None
        rcoa, lcoa = reg.address, reg.care_of
        if not self.serves(rcoa):
            return BAStatus.NOT_HOME_SUBNET
        if existing is not None and existing.peer != reg.peer:
            # RFC 4140 §12.1: "A MAP only needs to ensure that a BU for a particular RCoA was
            # issued by the same mobile node that established the Security Association for
            # that RCoA"; a second MN "MUST" be refused, and "SHOULD generate a new RCoA".
            return BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
        pad = getattr(self.security, "pad", None)
        if pad is not None and hasattr(pad, "may_use") and not pad.may_use(reg.peer, rcoa):
            owner = pad.owner(rcoa) if hasattr(pad, "owner") else None
            if owner is not None and owner != reg.peer:
                return BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
            return BAStatus.ADMINISTRATIVELY_PROHIBITED
        if reg.deregistration:
            return 0
        if not self.lcoa_allowed(lcoa):
            # RFC 4140 §6.2: "the MAP could reject the binding update using existing error
            # code 129 (administratively prohibited)"; §8: "An administrator MAY restrict the
            # MAP from forwarding packets to LCoAs outside the MAP's domain."
            return BAStatus.ADMINISTRATIVELY_PROHIBITED
        if (existing is None and reg.peer is not None and not reg.deregistration
                and self.cache.held_by(reg.peer, rcoa.packed)
                and not self._keyed_for(reg.peer, rcoa)):
            # RFC 4140 §12.1: the SA is established *for an RCoA*. An SA whose selectors cover
            # the whole RCoA prefix (manual or seed-provisioned keys) is bound to the RCoA its
            # peer registered over it while that binding lives; the Home Address option is
            # outside ESP, so a BU naming another RCoA is a rewritten one (or a second
            # binding the SA was never established for): refused. IKEv2 Child SAs name one
            # RCoA each (RFC 5380) and may each hold theirs, up to max_bindings_per_peer.
            self.counters["bu-refused.rcoa-not-of-sa"] += 1
            return BAStatus.ADMINISTRATIVELY_PROHIBITED
        if existing is None and self.dad_conflict(rcoa):
            # RFC 4140 §6.1 / RFC 6275 §10.3.1: DAD for a new binding; "If this Duplicate
            # Address Detection fails ... status ... 134".
            return BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
        return 0

    def _keyed_for(self, peer: str, rcoa: IPv6Address) -> bool:
        """Does ``peer`` have an inbound SA whose source selector is exactly ``rcoa``?"""
        sad = getattr(self.security, "sad", None)
        if sad is None:
            return True  # no SAs to bind to (a stand-in security object)
        exact = IPv6Network(rcoa)
        return any(sa.direction == "in" and sa.peer == peer and sa.params.src == exact
                   for sa in sad)

    def prefix_lifetime(self, now: float, address: IPv6Address) -> float | None:
        # RFC 6275 §10.3.1: "MUST NOT be greater than the remaining valid lifetime for the
        # subnet prefix"; here the RCoA prefix (MAP-07).
        return None if self.prefix_valid_lifetime == INFINITY else self.prefix_valid_lifetime

    def on_bound(self, now: float, reg: Registration, created: bool) -> None:
        pad = getattr(self.security, "pad", None)
        if created and reg.peer is not None and pad is not None and hasattr(pad, "claim"):
            pad.claim(reg.peer, reg.address)
        super().on_bound(now, reg, created)

    def on_unbound(self, now: float, entry: BindingEntry) -> None:
        pad = getattr(self.security, "pad", None)
        if entry.peer is not None and pad is not None and hasattr(pad, "release"):
            pad.release(entry.peer, entry.address)
