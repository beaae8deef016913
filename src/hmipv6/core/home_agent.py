"""The home agent (RFC 6275 §10). RFC 4140 §6.3: "The support of HMIPv6 is completely
transparent to the HA's operation" — there is no HMIPv6-specific code here; with HMIPv6 the
care-of address a mobile node registers simply is its RCoA.

Theory of operation
-------------------
Interception (proxy ND on the home link), tunnelling to the care-of address, the reverse-tunnel
exit, expiry and the shared BU validation come from :class:`~hmipv6.core.anchor.BindingAnchor`.
This module adds the home-registration checks of RFC 6275 §10.3.1 in their order:

- a BU without H is a correspondent registration, which this node does not serve: discarded;
- "If the node ... has not been configured to act as a home agent" → 131;
- the home address must be on-link with respect to a home prefix → 132;
- an optional list of home addresses the HA serves → 133 for others;
- the peer authorisation database, when the security object has one → 129;
- DAD for a new binding on the home link → 134;

and then §9.5.1 (sequence 135, type change 139, deregistration 133) in the registrar.

Return routability needs nothing special: a Home Test Init arrives reverse-tunnelled from the
care-of address and is forwarded like any inner packet; the Home Test for the home address is
intercepted and tunnelled like any packet for it (RFC 6275 §5.2.5).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from ipaddress import IPv6Address, IPv6Network

from hmipv6.core.anchor import BindingAnchor
from hmipv6.core.binding_cache import BindingCache, BindingEntry
from hmipv6.core.ipsec.spd import MOBILITY_HEADER, Action, SecurityPolicyDatabase
from hmipv6.core.registrar import Registration
from hmipv6.core.security import Security
from hmipv6.wire.mobility import AlternateCareOfAddress, BAStatus, BUFlags, MHType

__all__ = ["HomeAgent"]


class HomeAgent(BindingAnchor):
    """A home agent. ``home_prefixes``: the home link's prefixes (default: the /64 of
    ``address``); ``home_addresses``: the home addresses it serves (None: any on its
    prefixes); ``prefix_valid_lifetime``: remaining valid lifetime of the home prefixes
    (None: infinite); ``enabled=False`` makes it a router that refuses home registrations."""

    kind = BUFlags.H

    def __init__(self, name: str, *, address: IPv6Address | str, ifname: str = "eth0",
                 home_prefixes: Iterable[IPv6Network | str] = (),
                 home_addresses: Iterable[IPv6Address | str] | None = None,
                 prefix_valid_lifetime: float | None = None, max_lifetime: int = 600,
                 enabled: bool = True, cache: BindingCache | None = None,
                 link_addresses: Iterable[IPv6Address | str] = (),
                 icmp_rate: float = 10.0, rng: random.Random | None = None,
                 security: Security | None = None) -> None:
        super().__init__(name, address=address, ifname=ifname, served_prefixes=home_prefixes,
                         max_lifetime=max_lifetime, cache=cache, link_addresses=link_addresses,
                         icmp_rate=icmp_rate, rng=rng, security=security)
        self.home_addresses = (None if home_addresses is None
                               else {IPv6Address(a) for a in home_addresses})
        self.prefix_valid_lifetime = prefix_valid_lifetime
        self.enabled = enabled

    def admission(self, now: float, reg: Registration, existing: BindingEntry | None
                  ) -> int | None:
        if not reg.bu.flags & BUFlags.H:
            if existing is not None:
                return 0  # the registrar answers 139 (RFC 6275 §9.5.1, registration type)
            # Correspondent registrations need return routability (RFC 6275 §9.5.1); this
            # node is not a correspondent for them: "MUST be silently discarded".
            self.drop(now, "bu-not-home", f"flags {reg.bu.flags.letters()}")
            return None
        if not self.enabled:
            # RFC 6275 §10.3.1: "has not been configured to act as a home agent, then the node
            # MUST reject the Binding Update ... Status field is set to 131".
            return BAStatus.HOME_REGISTRATION_NOT_SUPPORTED
        hoa = reg.address
        if not self.serves(hoa):
            # RFC 6275 §10.3.1: "not an on-link IPv6 address with respect to the home agent's
            # current Prefix List ... Status field is set to 132 (not home subnet)".
            return BAStatus.NOT_HOME_SUBNET
        if self.home_addresses is not None and hoa not in self.home_addresses:
            return BAStatus.NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE
        pad = getattr(self.security, "pad", None)
        if pad is not None and hasattr(pad, "may_use") and not pad.may_use(reg.peer, hoa):
            # RFC 6275 §10.3.1: "the home address unequivocally identifying the security
            # association that must be used".
            return BAStatus.ADMINISTRATIVELY_PROHIBITED
        if not reg.deregistration and self._alternate_coa_missing(reg):
            # RFC 6275 §11.7.1: the Alternate Care-of Address option "MUST be included in all
            # home registrations, as the ESP protocol will not be able to protect care-of
            # addresses in the IPv6 header". Without it the care-of address is the unprotected
            # source, which anyone on the path may rewrite: refused, as policy forbids.
            self.counters["home-bu-without-alternate-coa"] += 1
            return BAStatus.ADMINISTRATIVELY_PROHIBITED
        if existing is None and not reg.deregistration and self.dad_conflict(hoa):
            # RFC 6275 §10.3.1: "If this Duplicate Address Detection fails ... MUST return ...
            # status ... 134".
            return BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
        return 0

    def prefix_lifetime(self, now: float, address: IPv6Address) -> float | None:
        return self.prefix_valid_lifetime

    def _alternate_coa_missing(self, reg: Registration) -> bool:
        """Did an ESP-protected home BU come without the Alternate Care-of Address option?
        Only where this node's SPD protects the BU with ESP (RFC 6275 §11.7.1: AH covers the
        source address, so it "might avoid this option"; without IPsec nothing is protected
        anyway)."""
        if reg.peer is None or any(isinstance(o, AlternateCareOfAddress) for o in reg.bu.options):
            return False
        spd = getattr(self.security, "spd", None)
        if not isinstance(spd, SecurityPolicyDatabase):
            return False
        policy = spd.lookup(reg.destination, reg.address, MOBILITY_HEADER,
                            lambda: int(MHType.BU))
        action = policy.action if policy is not None else spd.default
        return action is Action.PROTECT and policy is not None and policy.ipsec != "ah"
