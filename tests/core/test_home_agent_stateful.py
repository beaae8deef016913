"""Hypothesis state machines for the home agent (issue 3, bad input): home registrations from
several mobile nodes (new, refresh, new RCoA, out of window, lifetime 0, home addresses outside
the home prefix or not served, in use on the home link, another MN's home address when peers
are authenticated) interleaved with data for bound and unbound home addresses, reverse-tunnelled
packets with right and wrong outer sources, NS and Echo, random/truncated/mutated octets, time
passing (bindings expire), crash and restart. The cache is compared with a model after every
step (RFC 6275 §9.5.1, §10.3.1, §10.4); see ``stateful_support`` for the common checks."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest

from hmipv6.core.home_agent import HomeAgent
from hmipv6.core.ipsec.pad import PeerAuthorizationDatabase
from hmipv6.wire.mobility import BUFlags

from .anchor_support import A
from .stateful_support import AnchorMachine, Bound, machine_settings

HA_ADDR = A("2001:db8:50::1")
HOAS = (A("2001:db8:50::90"), A("2001:db8:50::91"), A("2001:db8:50::92"))
HOA_NOT_SERVED = A("2001:db8:50::77")  # on the home prefix, not a served home address (133)
HOA_IN_USE = A("2001:db8:50::d")  # served, but in use on the home link: DAD fails (134)
HOA_ELSEWHERE = A("2001:db8:51::90")  # not on the home prefix (132)
RCOAS = (A("2001:db8:100::a1"), A("2001:db8:100::a2"), A("2001:db8:101::a1"))


class HomeAgentMachine(AnchorMachine):
    ADDR = HA_ADDR
    PREFIX = IPv6Network("2001:db8:50::/64")
    LINK = "home"
    TOWARDS_COA = "up"
    FLAGS = BUFlags.A | BUFlags.H
    KEYS = (*HOAS, HOA_NOT_SERVED, HOA_IN_USE, HOA_ELSEWHERE, HA_ADDR)
    COAS = RCOAS

    def make(self) -> HomeAgent:
        if self.security is not None:
            # HA-02: "the home address unequivocally identifying the security association":
            # each MN may use its own home address only.
            pad = PeerAuthorizationDatabase()
            for i, hoa in enumerate(HOAS):
                pad.authorise(f"mn-{i}", [hoa, HOA_IN_USE, HOA_NOT_SERVED, HOA_ELSEWHERE])
            self.security.pad = pad
        ha = HomeAgent("ha", address=HA_ADDR, ifname="home", max_lifetime=600,
                       home_addresses=[*HOAS, HOA_IN_USE, HA_ADDR],
                       link_addresses=[HOA_IN_USE], security=self.security)
        ha.add_interface("up")
        ha.add_route("::/0", "up")
        return ha

    def admission(self, peer: str | None, key: IPv6Address, coa: IPv6Address,
                  existing: Bound | None, dereg: bool) -> int:
        # RFC 6275 §10.3.1 in home_agent.py's order.
        if key not in self.PREFIX:
            return 132
        if key not in (*HOAS, HOA_IN_USE, HA_ADDR):
            return 133
        pad = getattr(self.security, "pad", None)
        if isinstance(pad, PeerAuthorizationDatabase) and not pad.may_use(peer, key):
            return 129
        if existing is None and not dereg and key in (HOA_IN_USE, HA_ADDR):
            return 134
        return 0


class HomeAgentWithPeersMachine(HomeAgentMachine):
    """Peers authenticated with a peer authorisation database: an MN's BU for another MN's
    home address is refused with 129 and changes nothing (HA-02)."""

    SECURE = True


HomeAgentMachine.TestCase.settings = machine_settings()
HomeAgentWithPeersMachine.TestCase.settings = machine_settings()
TestHomeAgentMachine = pytest.mark.req("HA-01", "HA-02")(HomeAgentMachine.TestCase)
TestHomeAgentWithPeersMachine = pytest.mark.req("HA-02")(HomeAgentWithPeersMachine.TestCase)
