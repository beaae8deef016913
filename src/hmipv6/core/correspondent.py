"""The correspondent node (RFC 6275 §9). RFC 4140 §6.4: "HMIPv6 is completely transparent to
correspondent nodes" — no HMIPv6-specific code: with HMIPv6 the care-of address a mobile node
registers here is its RCoA.

Theory of operation
-------------------
Return routability (§9.4): a Home Test Init is answered with a Home Test to the home address
and a Care-of Test Init with a Care-of Test to the care-of address, each carrying a keygen
token made from the current (Kcn, nonce) generation of a
:class:`~hmipv6.core.return_routability.NonceTable` and that generation's index. Generations
rotate on the ``nonce`` timer every 30 s and are accepted for MAX_NONCE_LIFETIME.

Binding Updates (§9.5.1) without H must carry Nonce Indices and end with Binding Authorization
Data. The checks run: nonce indices still known (else 136/137/138, BA sent), authenticator
over Kbm rebuilt from the tokens (else silently discarded: the sender proved nothing, so it
gets no answer), sequence window (135), then the binding HoA → CoA is cached for at most
MAX_RR_BINDING_LIFETIME, or deleted for lifetime 0 / CoA = HoA. A BA is sent when A is set or
a status requires it (§9.5.4), authenticated with Kbm unless the status is 136-138.

Route optimisation (§9.3): :meth:`CorrespondentNode.send` sends to the care-of address with a
Type 2 routing header holding the home address when a binding exists; packets arriving with a
Home Address option are accepted only with a matching binding (§9.3.1), otherwise dropped and
answered with a Binding Error, status 1, rate-limited.
"""

from __future__ import annotations

import random
from ipaddress import IPv6Address
from typing import Any

from hmipv6.core.binding_cache import BindingCache
from hmipv6.core.events import BindingCacheUpdated, BindingRemoved
from hmipv6.core.node import Node
from hmipv6.core.ratelimit import TokenBucket
from hmipv6.core.registrar import Decision, Registration, is_unicast_routable, sequence_newer
from hmipv6.core.return_routability import (
    MAX_RR_BINDING_LIFETIME,
    NonceTable,
    authorize,
    binding_management_key,
    care_of_keygen_token,
    home_keygen_token,
    verify,
)
from hmipv6.core.security import Security
from hmipv6.wire.addr import addr
from hmipv6.wire.icmpv6 import EchoReply, EchoRequest
from hmipv6.wire.ipv6 import IPv6Packet, Payload, RoutingHeaderType2
from hmipv6.wire.mobility import (
    BAFlags,
    BAStatus,
    BEStatus,
    BindingAcknowledgement,
    BindingAuthorizationData,
    BindingError,
    BindingUpdate,
    BUFlags,
    CareOfTest,
    CareOfTestInit,
    HomeTest,
    HomeTestInit,
    NonceIndices,
)
from hmipv6.wire.udp import UDP

__all__ = ["CorrespondentNode"]

NONCE_TIMER = "nonce"
EXPIRY_TIMER = "binding-expiry"
_SIGNED_BY_RR = frozenset({50, 51, 135})
"""RFC 6275 §9.3.1: "If the Next Header value of the Destination Option is one of the
following: {50 (ESP), 51 (AH), 135 (Mobility Header)}, the packet SHOULD be processed
normally." """


class CorrespondentNode(Node):
    """A correspondent node with route optimisation. Commands: :meth:`send`."""

    def __init__(self, name: str, *, address: IPv6Address | str, ifname: str = "eth0",
                 max_lifetime: int = MAX_RR_BINDING_LIFETIME, cache: BindingCache | None = None,
                 route_optimisation: bool = True, binding_error_rate: float = 10.0,
                 rng: random.Random | None = None, security: Security | None = None) -> None:
        super().__init__(name, rng=rng, security=security)
        self.address = IPv6Address(address)
        if ifname not in self.interfaces:
            self.add_interface(ifname, (self.address,))
        else:
            self.add_address(ifname, self.address)
        self.cache = cache if cache is not None else BindingCache()
        # RFC 6275 §5.2.6: bindings from return routability "MUST NOT exceed
        # MAX_RR_BINDING_LIFETIME seconds".
        self.max_lifetime = min(max_lifetime, MAX_RR_BINDING_LIFETIME)
        self.route_optimisation = route_optimisation
        self.nonces: NonceTable | None = None
        self._be_limit = TokenBucket(binding_error_rate, 10)

    # -- commands ------------------------------------------------------------------------------

    def send(self, now: float, dst: IPv6Address | str, payload: bytes, *, src_port: int = 5000,
             dst_port: int = 5000) -> bool:
        """Send a UDP datagram to ``dst``; RFC 6275 §9.3.2: with a binding for ``dst`` "the
        sending node SHOULD use a type 2 routing header to route the packet to this mobile
        node ... by way of its care-of address"."""
        dst = addr(dst)
        udp = UDP(src_port, dst_port, payload)
        entry = self.cache.get(dst, now)
        if entry is not None:
            packet = IPv6Packet(self.address, entry.care_of, udp, (RoutingHeaderType2(dst),))
        else:
            packet = IPv6Packet(self.address, dst, udp)
        return self.send_packet(now, packet)

    # -- return routability --------------------------------------------------------------------

    def _nonce_table(self, now: float) -> NonceTable:
        if self.nonces is None:
            # RFC 6275 §9.4.1: "If it does not have this material yet, it MUST produce it".
            self.nonces = NonceTable(self.rng, now)
            self.timers.set(NONCE_TIMER, self.nonces.next_rotation)
        return self.nonces

    def on_mobility(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                    peer: str | None, tunnelled: int) -> None:
        if not self.route_optimisation:
            self.drop(now, "route-optimisation-disabled", type(message).__name__)
            return
        if isinstance(message, HomeTestInit | CareOfTestInit):
            if packet.home_address is not None:
                # RFC 6275 §9.4.1/§9.4.2: "The packet MUST NOT include a Home Address
                # destination option ... MUST be silently ignored."
                self.drop(now, "test-init-with-hao")
                return
            table = self._nonce_table(now)
            reply: HomeTest | CareOfTest
            if isinstance(message, HomeTestInit):
                index, token = table.home_token(packet.src)
                reply = HomeTest(index, message.cookie, token)
            else:
                index, token = table.care_of_token(packet.src)
                reply = CareOfTest(index, message.cookie, token)
            self.send_packet(now, IPv6Packet(packet.dst, packet.src, reply))
        elif isinstance(message, BindingUpdate):
            self._on_binding_update(now, packet, message, peer)
        else:
            self.drop(now, "unexpected-mobility", type(message).__name__)

    def _on_binding_update(self, now: float, packet: IPv6Packet, bu: BindingUpdate,
                           peer: str | None) -> None:
        reg = Registration.from_packet(packet, bu, peer)
        if not is_unicast_routable(reg.address) or not is_unicast_routable(reg.care_of) \
                or reg.source.is_multicast or reg.source.is_unspecified:
            self.drop(now, "bu-bad-address", f"{reg.address} via {reg.care_of}")
            return
        if bu.flags & BUFlags.H:
            # RFC 6275 §10.3.1: "If the node implements only correspondent node
            # functionality ... Status field is set to 131".
            self._acknowledge(now, reg, Decision(BAStatus.HOME_REGISTRATION_NOT_SUPPORTED, 0,
                                                 bu.sequence), None)
            return
        indices = next((o for o in bu.options if isinstance(o, NonceIndices)), None)
        if indices is None or not bu.options or not isinstance(bu.options[-1],
                                                               BindingAuthorizationData):
            # RFC 6275 §9.5.1: "A Nonce Indices mobility option MUST be present"; "The
            # Binding Authorization Data mobility option MUST be present"; failures "MUST be
            # silently discarded".
            self.drop(now, "bu-unauthorised", "no nonce indices or authorization data")
            return
        table = self._nonce_table(now)
        home = table.lookup(indices.home_nonce_index, now)
        # RFC 6275 §9.5.1: "Care-of Nonce Index values are not inspected for requests to
        # delete a binding."
        care_of = None if reg.deregistration else table.lookup(indices.care_of_nonce_index, now)
        if home is None or (care_of is None and not reg.deregistration):
            # RFC 6275 §9.5.1: "MUST send back a Binding Acknowledgement with status code 136,
            # 137, or 138, respectively."
            status = (BAStatus.EXPIRED_NONCES if home is None and care_of is None
                      and not reg.deregistration else BAStatus.EXPIRED_HOME_NONCE_INDEX
                      if home is None else BAStatus.EXPIRED_CARE_OF_NONCE_INDEX)
            self._acknowledge(now, reg, Decision(status, 0, bu.sequence), None)
            return
        home_token = home_keygen_token(home[0], reg.address, home[1])
        care_of_token = (None if care_of is None
                         else care_of_keygen_token(care_of[0], reg.care_of, care_of[1]))
        kbm = binding_management_key(home_token, care_of_token)
        if not verify(kbm, reg.care_of, reg.destination, bu):
            self.drop(now, "bu-bad-authenticator", f"from {reg.address}")
            return
        existing = self.cache.get(reg.address, now)
        if existing is not None and not sequence_newer(bu.sequence, existing.sequence):
            # RFC 6275 §9.5.1: "status code 135, and the last accepted sequence number".
            self._acknowledge(now, reg, Decision(BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, 0,
                                                 existing.sequence), kbm)
            return
        if reg.deregistration:
            # RFC 6275 §9.5.3: "Any existing binding for the given home address MUST be
            # deleted. A Binding Cache entry ... MUST NOT be created".
            if self.cache.remove(reg.address) is not None:
                self.emit(BindingRemoved(time=now, home_address=reg.address,
                                         reason="deregistered"))
            decision = Decision(BAStatus.ACCEPTED, 0, bu.sequence)
        else:
            # RFC 6275 §9.5.2: "MUST NOT be greater than the Lifetime value specified in the
            # Binding Update"; MAY be reduced (our maximum, MAX_RR_BINDING_LIFETIME).
            lifetime = min(bu.lifetime, self.max_lifetime) & ~3
            created = self.cache.update(now, reg.address, reg.care_of, lifetime, bu.sequence,
                                        int(bu.flags), peer)
            self.emit(BindingCacheUpdated(time=now, home_address=reg.address,
                                          care_of_address=reg.care_of, lifetime=lifetime,
                                          created=created))
            self._arm_expiry()
            decision = Decision(BAStatus.ACCEPTED, lifetime, bu.sequence)
        # RFC 6275 §9.5.4: "If the Acknowledge (A) bit is set ... MUST be sent"; otherwise
        # "If the node accepts the Binding Update, the Binding Acknowledgement SHOULD NOT be
        # sent."
        if bu.flags & BUFlags.A:
            self._acknowledge(now, reg, decision, kbm)

    def _acknowledge(self, now: float, reg: Registration, decision: Decision,
                     kbm: bytes | None) -> None:
        ba = BindingAcknowledgement(decision.status, BAFlags(0), decision.sequence,
                                    decision.lifetime)
        if kbm is not None:
            # RFC 6275 §9.5.4: except for 136-138 "the Binding Authorization Data mobility
            # option MUST be included"; MAC over (care-of address | correspondent | BA).
            ba = authorize(kbm, reg.care_of, reg.destination, ba)
        exts = (RoutingHeaderType2(reg.address),) if reg.source != reg.address else ()
        self.send_packet(now, IPv6Packet(reg.destination, reg.source, ba, exts))

    # -- receiving with a Home Address option (RFC 6275 §9.3.1) ---------------------------------

    def dispatch(self, now: float, ifname: str, packet: IPv6Packet, payload: Payload | None,
                 peer: str | None, tunnelled: int) -> None:
        hoa = packet.home_address
        if hoa is not None:
            if not is_unicast_routable(hoa):
                # RFC 6275 §9.3.1: "MUST be dropped if the given home address is not a
                # unicast routable address."
                self.drop(now, "hao-not-routable", str(hoa))
                return
            nh = payload.next_header if payload is not None else 59
            if nh not in _SIGNED_BY_RR:
                entry = self.cache.get(hoa, now)
                if entry is None or entry.care_of != packet.src:
                    # RFC 6275 §9.3.1: "the packet MUST be dropped if there is no corresponding
                    # Binding Cache entry"; "MUST send the Binding Error message ... Status
                    # field ... 1".
                    self.drop(now, "hao-no-binding", f"{hoa} via {packet.src}")
                    if self._be_limit.take(now):
                        be = BindingError(BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION, hoa)
                        self.send_packet(now, IPv6Packet(packet.dst, packet.src, be))
                    return
        super().dispatch(now, ifname, packet, payload, peer, tunnelled)

    def on_icmpv6(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        if isinstance(message, EchoRequest) and not packet.dst.is_multicast:
            reply = EchoReply(message.identifier, message.sequence, message.data)
            self.send_packet(now, IPv6Packet(packet.dst, packet.effective_src, reply))
        else:
            super().on_icmpv6(now, ifname, packet, message, tunnelled)

    # -- timers --------------------------------------------------------------------------------

    def _arm_expiry(self) -> None:
        at = self.cache.next_expiry()
        self.timers.cancel(EXPIRY_TIMER)
        if at is not None:
            self.timers.set(EXPIRY_TIMER, at)

    def on_timer(self, now: float, name: str) -> None:
        if name == NONCE_TIMER and self.nonces is not None:
            # RFC 6275 §5.2.7: "generate a new nonce every 30 seconds".
            self.nonces.rotate(now)
            self.timers.set(NONCE_TIMER, self.nonces.next_rotation)
        elif name == EXPIRY_TIMER:
            for entry in self.cache.expire(now):
                self.emit(BindingRemoved(time=now, home_address=entry.address,
                                         reason="expired"))
            self._arm_expiry()

    def restart(self, now: float) -> None:
        super().restart(now)
        self.nonces = None
        self.timers.cancel(NONCE_TIMER)
        # The binding cache is volatile (RFC 6275 §9.1 keeps no state across a restart): its
        # entries and their expiry deadlines go.
        for entry in self.cache.clear():
            self.emit(BindingRemoved(time=now, home_address=entry.address, reason="lost"))
        self._arm_expiry()
