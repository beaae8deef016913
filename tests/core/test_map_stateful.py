"""Hypothesis state machines for the MAP (issue 3, bad input): several mobile nodes' local BUs
(new, refresh, movement, out of window, lifetime 0, foreign LCoAs, RCoAs outside the prefix or
in use on the link, another peer's RCoA when peers are authenticated) interleaved with
tunnelled data to bound and unbound RCoAs, reverse-tunnelled packets with right and wrong outer
sources, NS and Echo, random/truncated/mutated octets, time passing (bindings expire), a
preference change, crash and restart. The MAP's cache is compared with a model after every
step; see ``stateful_support`` for the checks every step ends with."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.wire import decode
from hmipv6.wire.icmpv6 import MapOption, RouterAdvertisement
from hmipv6.wire.mobility import BUFlags

from .anchor_support import A
from .stateful_support import AnchorMachine, Bound, Driver, machine_settings

MAP_ADDR = A("2001:db8:100::1")
RCOAS = [A("2001:db8:100::a1"), A("2001:db8:100::a2"), A("2001:db8:100::a3")]
RCOA_IN_USE = A("2001:db8:100::d")  # configured as in use on the MAP's link: DAD fails (134)
RCOA_OUTSIDE = A("2001:db8:101::a1")  # not in the MAP's prefix (132)
LCOAS = [A("2001:db8:200:1::5"), A("2001:db8:200:2::5"),
         A("2001:db8:300:1::5"),  # a neighbouring domain where forwarding is allowed (MAP-08)
         A("2001:db8:999:1::5")]  # outside every allowed prefix (MAP-06 → 129)
VALID = [IPv6Network("2001:db8:200::/48")]
NEIGHBOUR = [IPv6Network("2001:db8:300::/48")]


class MapMachine(AnchorMachine):
    ADDR = MAP_ADDR
    PREFIX = IPv6Network("2001:db8:100::/64")
    FLAGS = BUFlags.A | BUFlags.M
    KEYS = (*RCOAS, RCOA_IN_USE, RCOA_OUTSIDE, MAP_ADDR)
    COAS = tuple(LCOAS)
    PREFIX_LIFETIME: int | None = None

    def make(self) -> MobilityAnchorPoint:
        m = MobilityAnchorPoint(
            "map", address=MAP_ADDR, ifname="link", valid_lcoa_prefixes=VALID,
            allow_forwarding_to=NEIGHBOUR, link_addresses=[RCOA_IN_USE], max_lifetime=600,
            prefix_valid_lifetime=self.PREFIX_LIFETIME if self.PREFIX_LIFETIME else 0xFFFFFFFF,
            advertise_on=("adv",), security=self.security)
        for ifname in ("down", "up", "adv"):
            m.add_interface(ifname)
        for prefix in ("2001:db8:200::/48", "2001:db8:300::/48", "2001:db8:999::/48"):
            m.add_route(prefix, "down")
        m.add_route("::/0", "up")
        self.pref = m.preference
        return m

    def admission(self, peer: str | None, key: IPv6Address, coa: IPv6Address,
                  existing: Bound | None, dereg: bool) -> int:
        # RFC 4140 §6.2 / map.py admission, in its order.
        if key not in self.PREFIX:
            return 132
        if existing is not None and existing.peer != peer:
            return 134  # §12.1: another MN's RCoA, binding untouched
        if dereg:
            return 0
        if not any(coa in p for p in VALID + NEIGHBOUR):
            return 129  # §6.2 / §8
        if existing is None and key in (RCOA_IN_USE, MAP_ADDR):
            return 134  # DAD on the MAP's link
        return 0

    def entry_ok(self, key: IPv6Address, coa: IPv6Address) -> None:
        # MAP-06/MAP-08: every LCoA is inside the valid prefixes (or an allowed neighbour).
        assert any(coa in p for p in VALID + NEIGHBOUR)

    @rule(pref=st.integers(0, 15))
    def set_preference(self, pref: int) -> None:
        """MAP-09 (RFC 4140 §7.1.2): "a MAP can change its preference value at any time"."""
        self._before()
        assert isinstance(self.node, MobilityAnchorPoint)
        self.node.set_preference(self.d.now, pref)
        self.pref = pref
        assert self.node.map_option().pref == pref

    @invariant()
    def ras_carry_the_current_option(self) -> None:
        for t in self.d.step_out:
            if t.ifname == "adv":
                ra = decode(t.data).payload
                assert isinstance(ra, RouterAdvertisement)
                (opt,) = [o for o in ra.options if isinstance(o, MapOption)]
                assert opt.address == MAP_ADDR and opt.pref == self.pref and opt.dist >= 1


class MapWithPeersMachine(MapMachine):
    """Peers authenticated (a stand-in for IPsec: every inbound packet is attributed to the
    sending MN), so an RCoA belongs to the MN that installed it (RFC 4140 §12.1, SEC-03/04);
    the general path runs instead of the unprotected fast path. The RCoA prefix has a finite
    valid lifetime, which bounds granted lifetimes (RFC 6275 §10.3.1, MAP-07)."""

    SECURE = True
    PREFIX_LIFETIME = 300


MapMachine.TestCase.settings = machine_settings()
MapWithPeersMachine.TestCase.settings = machine_settings()
TestMapMachine = pytest.mark.req("MAP-01", "MAP-02", "MAP-03", "MAP-04", "MAP-05", "MAP-06",
                                 "MAP-07", "MAP-08", "MAP-09", "MAP-10")(MapMachine.TestCase)
TestMapWithPeersMachine = pytest.mark.req("MAP-02", "MAP-07", "SEC-03", "SEC-04")(
    MapWithPeersMachine.TestCase)


# -- regressions found by the machines ---------------------------------------------------------


def test_restart_moves_a_stale_ra_deadline_later_and_next_timer_follows() -> None:
    """Found by MapMachine: crash before the first RA, time passes, restart. ``restart`` sets
    the RA timer to ``now`` again, but TimerSet kept the old minimum, so ``next_timer()``
    named a deadline before the last handled time (engine contract: "next_timer() is their
    minimum")."""
    m = MapMachine().node
    d = Driver(m)
    m.crash(0.0)
    d.advance(0.25, every_deadline=False)
    m.restart(0.25)
    assert m.next_timer() == 0.25

