"""Fast handovers in an HMIPv6 domain: the MAP as the FMIPv6 anchor (RFC 4140 Appendix A,
RFC 5568 §3, §5, §6; FH-02, FH-03, FH-04).

Theory of operation
-------------------
RFC 4140 Appendix A moves the anchor of Fast Mobile IPv6 from the previous access router
(PAR) to the MAP: "the HI/HAck messages now occur between the MAP and NAR ... the same
functionality of the Fast Handover procedure is kept, but the anchor point is moved from the
PAR to the MAP", and "the MN sends the F-BU to the MAP, not to the PAR". Three engines, each a
subclass of the HMIPv6 engine it extends (the HMIPv6 engines themselves are untouched, so
``mipv6`` and ``hmipv6`` runs do not change):

:class:`FastMobileNode` (predictive mode, RFC 5568 §3.1). The layer-2 "about to move"
trigger is the command :meth:`FastMobileNode.anticipate` (the new access point's link-layer
address). The node sends an RtSolPr to its current access router naming that AP; the PAR's
PrRtAdv gives the NAR's prefix, link-layer and IP address and its MAP option(s). When the NAR
advertises the MAP in use, the node forms the prospective NCoA (NAR prefix + its interface
identifier) and sends the FBU to the MAP from the PCoA:

    PCoA → MAP [HAO = RCoA] FBU(A|H|M, Alternate CoA = NCoA, MH-LLA = the MN's)

protected like the local BU (ESP, the MN–MAP SA, RFC 4140 §12.1; so no BADF option, which
RFC 5568 §6.4.5 defines for the PAR's FBU security). The FBU has the layout of the BU with MH
Type 8 (RFC 5568 §6.2.2); RFC 5568 wants A and H set, and M marks it as the RCoA's MAP
registration (RFC 4140 §4.1), the binding the MAP acts on. On attaching to the NAR it uses
the NCoA at once (RFC 5568 §3.1: the NAR checked it), announces it with an UNA (§6.3) and
then sends the regular local BU from it (RFC 4140 Appendix A). *Reactive mode* (§3.3): no
FBack came before the link went down, so the FBU is sent again from the new link (source
NCoA, no Alternate CoA option, right after the UNA), followed by the local BU.

:class:`FastMobilityAnchorPoint` (FH-02, FH-04). An FBU for an RCoA bound by the same peer
(sequence number newer than the binding's) makes the MAP send an HI to the NAR serving the
NCoA's prefix (``fast_neighbours``, prefix → NAR address) with U set (buffer) and the PCoA,
NCoA and MN-LLA options (RFC 5568 §6.2.1.1), re-sent every ``hi_timeout`` seconds up to
``hi_retries`` times. On the HAck:

- Code 0 (NCoA valid) or 2 (NAR assigned another NCoA: the FBack carries it, status 1, in an
  Alternate Care-of Address option): packets for the RCoA are tunnelled to the NCoA;
- Code 1 or 3 (NCoA not valid / use the PCoA): RFC 4140 Appendix A, "generate a tunnel to the
  NAR's address (if the address was already in use on the new subnet) ... the NAR will
  generate a host route for the mobile node using its old CoA": the MAP's tunnel packets to
  the PCoA are tunnelled once more to the NAR, and the FBack (status 1) names the PCoA as
  the address to use on the new link;
- Code 128 and above: FBack status 128, nothing forwarded (the MN falls back to HMIPv6).

Simultaneous bindings (RFC 4140 Appendix A, FH-04): for ``simultaneous_bindings`` seconds
after the HAck the MAP sends each packet for the RCoA to *both* the binding's care-of address
(the PCoA until the regular BU arrives) and the new target, so that neither the timing of the
layer-2 handover, nor a ping-pong back to the PAR, nor a failed handover loses packets. When
the period ends a single binding remains: the one a regular BU made during the period or,
if none came, the FBU's (the cache then binds the RCoA to the NCoA). With ``bicast = False``
the MAP only redirects (RFC 5568's PAR behaviour) for the same period. The FBack goes to where
the FBU came from and, predictive, to the NCoA too (RFC 5568 §3.1: buffered by the NAR).

:class:`FastAccessRouter` (FH-03). As PAR it answers an RtSolPr naming a neighbour's AP
with a PrRtAdv (Code 0) carrying that neighbour's AP and NAR link-layer addresses, its prefix,
its IP address and its MAP options (``neighbours``, AP link-layer address →
:class:`NeighbourRouter`; Code 2, no new router information, for an unknown AP). As NAR it
answers an HI with a HAck after a duplicate check of the NCoA against its neighbour cache
(addresses seen on the access link: sources, DAD probes, UNAs): valid → Code 0; duplicate →
Code 2 with an NCoA it picks when ``assign_ncoa`` (or the HI's S flag) asks, otherwise Code 1
and a host route for the PCoA. With U set it buffers the packets arriving for that address
(at most ``buffer_size``; the rest are dropped and counted ``dropped.fh-buffer-full``) until
the UNA (or RFC 4068's FNA) from that address, then delivers them in order; an entry nobody
claims is forgotten after ``buffer_lifetime`` seconds.

Limitations: HI/HAck travel unprotected (RFC 5568 §10 wants an IPsec SA between the MAP and
the ARs; none is provisioned); the FBU is not retransmitted (the regular local BU that follows
the attachment covers its loss); only the MAP in use is a fast-handover anchor (a NAR under
another MAP gives an ordinary HMIPv6 handover); network-initiated handovers (an unsolicited
PrRtAdv) are not modelled.

Timer names: MAP ``hi:<RCoA>``, ``sim:<RCoA>``; NAR ``fh-expire:<address>``; MN
``fh-pcoa``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from hmipv6.core.access_router import AccessRouter, AccessRouterConfig
from hmipv6.core.events import (
    CareOfAddressConfigured,
    FastBindingAcknowledged,
    FastBindingUpdateSent,
    FastHandoverBufferFlushed,
    HandoverAcknowledgeReceived,
    HandoverInitiateSent,
    MovementDetected,
    ProxyRouterAdvertisementReceived,
    SimultaneousBindingEnded,
    SimultaneousBindingStarted,
    UnsolicitedNeighborAdvertisementSent,
)
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.map_selection import MapRecord
from hmipv6.core.mobile_node import LinkState, MobileNode, MobileNodeConfig
from hmipv6.core.node import Transmit, encapsulate_raw
from hmipv6.core.registrar import Decision, Registration, is_unicast_routable, sequence_newer
from hmipv6.core.router import ND_HOP_LIMIT
from hmipv6.core.security import Security
from hmipv6.errors import LocalProtocolError
from hmipv6.wire.addr import ALL_NODES, interface_address
from hmipv6.wire.fmipv6 import (
    FastBindingAcknowledgement,
    FastBindingUpdate,
    FastNeighborAdvertisement,
    FBackStatus,
    HAckCode,
    HandoverAcknowledge,
    HandoverInitiate,
    HICode,
    IPAddressOptionCode,
    IPAddressPrefixOption,
    LinkLayerAddressOption,
    LLAOptionCode,
    MobilityHeaderIPAddressPrefix,
    MobilityHeaderLinkLayerAddress,
    ProxyRouterAdvertisement,
    PrRtAdvCode,
    RouterSolicitationForProxyAdvertisement,
    is_unsolicited_neighbor_advertisement,
    unsolicited_neighbor_advertisement,
)
from hmipv6.wire.icmpv6 import (
    MapOption,
    NDOption,
    NeighborAdvertisement,
    NeighborSolicitation,
    TargetLinkLayerAddress,
)
from hmipv6.wire.icmpv6 import options_of as nd_options_of
from hmipv6.wire.ipv6 import DestinationOptions, HomeAddressOption, IPv6Packet, RoutingHeaderType2
from hmipv6.wire.mobility import AlternateCareOfAddress, BAFlags, BUFlags

__all__ = [
    "FastAccessRouter",
    "FastHandoverConfig",
    "FastMobileNode",
    "FastMobilityAnchorPoint",
    "NeighbourRouter",
]

_HOLD_PCOA = "fh-pcoa"


@dataclass(frozen=True, slots=True, kw_only=True)
class FastHandoverConfig:
    """Fast-handover parameters shared by the three engines."""

    simultaneous_bindings: float = 1.0
    """Seconds the MAP sends to both the old and the new care-of address (FH-04)."""
    bicast: bool = True
    """False: the MAP only redirects to the new target during that period."""
    hi_timeout: float = 0.25
    """Seconds before an unanswered HI is sent again."""
    hi_retries: int = 3
    buffer_size: int = 64
    """Packets a NAR buffers per arriving mobile node (RFC 5568 §5.4: bounded)."""
    buffer_lifetime: float = 2.0
    """Seconds a NAR keeps an entry (and its buffer) waiting for the UNA."""
    assign_ncoa: bool = False
    """A NAR finding the NCoA duplicate assigns another (HAck Code 2) instead of Code 1."""
    pcoa_hold: float = 2.0
    """Seconds a mobile node told to use its PCoA on the new link keeps accepting it."""

    def __post_init__(self) -> None:
        if self.simultaneous_bindings <= 0 or self.hi_timeout <= 0 or self.hi_retries < 0:
            raise LocalProtocolError("simultaneous_bindings and hi_timeout must be positive")
        if self.buffer_size < 0 or self.buffer_lifetime <= 0 or self.pcoa_hold <= 0:
            raise LocalProtocolError("bad fast-handover buffer or hold parameters")


@dataclass(frozen=True, slots=True, kw_only=True)
class NeighbourRouter:
    """What a PAR knows of a neighbouring access router (RFC 5568 §3.1 [AP-ID, AR-Info])."""

    ap_lla: bytes
    """The new access point's link-layer address (the AP-ID an RtSolPr names)."""
    nar_lla: bytes
    nar_address: IPv6Address
    prefix: IPv6Network
    maps: tuple[MapOption, ...] = ()


# == the MAP ====================================================================================


@dataclass(slots=True)
class _FastBinding:
    rcoa: IPv6Address
    peer: str | None
    pcoa: IPv6Address
    ncoa: IPv6Address
    nar: IPv6Address
    fbu_sequence: int
    fbu_lifetime: int
    fbu_source: IPv6Address
    lla: bytes | None
    hi_sequence: int
    predictive: bool
    hi_sent: int = 0
    forwarding: bool = False
    via_nar: bool = False
    """The NCoA is not valid: tunnel the PCoA's packets to the NAR (RFC 4140 Appendix A)."""
    until: float = 0.0
    rebound: bool = False
    """A regular BU was accepted during the period."""


class FastMobilityAnchorPoint(MobilityAnchorPoint):
    """A MAP that is also the fast-handover anchor (module docstring). Extra arguments:
    ``fast_neighbours`` (NAR prefix → NAR address) and ``fast`` (:class:`FastHandoverConfig`)."""

    def __init__(self, name: str, *, fast_neighbours: Mapping[IPv6Network | str,
                                                              IPv6Address | str] | None = None,
                 fast: FastHandoverConfig | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.fast_config = fast if fast is not None else FastHandoverConfig()
        self.fast_neighbours: dict[IPv6Network, IPv6Address] = {
            IPv6Network(p): IPv6Address(a) for p, a in (fast_neighbours or {}).items()}
        self._fast: dict[bytes, _FastBinding] = {}
        """By packed RCoA: fast handovers in progress (HI outstanding, or forwarding)."""
        self._forwarding: dict[bytes, _FastBinding] = {}
        """The subset whose period of simultaneous bindings is running (the fast path)."""

    def nar_for(self, address: IPv6Address) -> IPv6Address | None:
        """The NAR whose prefix holds ``address`` (longest match)."""
        best: tuple[int, IPv6Address] | None = None
        for prefix, nar in self.fast_neighbours.items():
            if address in prefix and (best is None or prefix.prefixlen > best[0]):
                best = (prefix.prefixlen, nar)
        return best[1] if best is not None else None

    # -- forwarding with simultaneous bindings (FH-04) ---------------------------------------------

    def _receive(self, now: float, ifname: str, data: bytes) -> None:
        if self._forwarding and not self.crashed and len(data) >= 40:
            fb = self._forwarding.get(data[24:40])
            if (fb is not None and data[0] >> 4 == 6 and data[7] > 1
                    and len(data) - 40 == (data[4] << 8 | data[5])
                    and len(data) <= 0xFFFF - 80):  # two tunnel headers must still fit
                self._send_to_targets(now, fb, data)
                return
        super()._receive(now, ifname, data)

    def _send_to_targets(self, now: float, fb: _FastBinding, data: bytes) -> None:
        inner = data[:7] + bytes((data[7] - 1,)) + data[8:]
        key = fb.rcoa.packed
        care_of = self.cache.care_of_packed(key)
        direct: list[bytes] = []
        if care_of is not None and (self.fast_config.bicast or fb.rebound):
            direct.append(care_of)
        if self.fast_config.bicast and fb.pcoa.packed not in direct:
            direct.append(fb.pcoa.packed)
        if not fb.rebound and not fb.via_nar and fb.ncoa.packed not in direct:
            direct.append(fb.ncoa.packed)
        for address in direct:
            self._tunnel(now, address, inner)
        if fb.via_nar and not fb.rebound:
            # RFC 4140 Appendix A: "generate a tunnel to the NAR's address"; the NAR holds a
            # host route for the PCoA.
            self._tunnel(now, fb.nar.packed,
                         encapsulate_raw(self.address, fb.pcoa, inner))
        self.counters["fh-forwarded"] += 1

    # -- FBU ---------------------------------------------------------------------------------------

    def on_mobility(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                    peer: str | None, tunnelled: int) -> None:
        if isinstance(message, FastBindingUpdate):
            self._on_fbu(now, packet, message, peer)
        elif isinstance(message, HandoverAcknowledge):
            self._on_hack(now, packet, message)
        else:
            super().on_mobility(now, ifname, packet, message, peer, tunnelled)

    def _fback(self, now: float, reg: Registration, status: int, sequence: int,
               lifetime: int, dsts: tuple[IPv6Address, ...],
               alternate: IPv6Address | None = None) -> None:
        options = (AlternateCareOfAddress(alternate),) if alternate is not None else ()
        fback = FastBindingAcknowledgement(status, BAFlags(0), sequence, lifetime, options)
        if status >= 128:
            self.counters[f"fbu-refused.{status}"] += 1
        for dst in dsts:
            # RFC 6275 §9.5.4 addressing of the BA it mirrors: a Type 2 routing header with the
            # bound address (the RCoA, RFC 4140 §6.2).
            self.send_packet(now, IPv6Packet(self.address, dst, fback,
                                             (RoutingHeaderType2(reg.address),)), peer=reg.peer)

    def _on_fbu(self, now: float, packet: IPv6Packet, fbu: FastBindingUpdate,
                peer: str | None) -> None:
        reg = Registration.from_packet(packet, fbu.as_binding_update(), peer)
        rcoa, ncoa, source = reg.address, reg.care_of, reg.source
        if (not is_unicast_routable(rcoa) or not is_unicast_routable(ncoa)
                or not is_unicast_routable(source) or packet.home_address is None):
            self.drop(now, "fbu-bad-address", f"{rcoa} via {ncoa} from {source}")
            return
        if not fbu.flags & BUFlags.M:
            # The FBU mirrors the local BU (RFC 4140 §4.1: "the M and A flags MUST be set").
            self.drop(now, "fbu-not-local", f"flags {fbu.flags.letters()}")
            return
        entry = self.cache.get(rcoa, now)
        lifetime = min(fbu.lifetime, self.registrar.max_lifetime) // 4 * 4
        if entry is None or entry.peer != peer:
            # RFC 4140 §12.1: only the node that installed the RCoA may move it.
            self._fback(now, reg, FBackStatus.ADMINISTRATIVELY_PROHIBITED, fbu.sequence, 0,
                        (source,))
            return
        if not sequence_newer(fbu.sequence, entry.sequence):
            self._fback(now, reg, 135, entry.sequence, 0, (source,))
            return
        nar = self.nar_for(ncoa)
        if fbu.lifetime == 0 or not self.lcoa_allowed(ncoa) or nar is None:
            self._fback(now, reg, FBackStatus.ADMINISTRATIVELY_PROHIBITED
                        if nar is not None else FBackStatus.REASON_UNSPECIFIED,
                        fbu.sequence, 0, (source,))
            return
        key = rcoa.packed
        old = self._fast.get(key)
        if old is not None and old.ncoa == ncoa and old.forwarding:
            # A repeated FBU (reactive after predictive): the handover is in place already.
            old.fbu_sequence, old.fbu_source = fbu.sequence, source
            self._fback(now, reg, FBackStatus.ACCEPTED, fbu.sequence, lifetime, (source,))
            return
        if old is not None:
            self._end(now, old, superseded=True)
        lla = next((o.lla for o in fbu.options if isinstance(o, MobilityHeaderLinkLayerAddress)
                    and o.option_code == LLAOptionCode.MOBILE_NODE), None)
        fb = _FastBinding(rcoa=rcoa, peer=peer, pcoa=entry.care_of, ncoa=ncoa, nar=nar,
                          fbu_sequence=fbu.sequence, fbu_lifetime=lifetime, fbu_source=source,
                          lla=lla, hi_sequence=self.rng.getrandbits(16),
                          predictive=source == entry.care_of)
        self._fast[key] = fb
        self.counters["fbu-accepted"] += 1
        self._send_hi(now, fb)

    def _send_hi(self, now: float, fb: _FastBinding) -> None:
        options: list[Any] = []
        if fb.lla is not None:
            options.append(MobilityHeaderLinkLayerAddress(LLAOptionCode.MOBILE_NODE, fb.lla))
        options.append(MobilityHeaderIPAddressPrefix(IPAddressOptionCode.OLD_CARE_OF_ADDRESS,
                                                     128, fb.pcoa))
        options.append(MobilityHeaderIPAddressPrefix(IPAddressOptionCode.NEW_CARE_OF_ADDRESS,
                                                     128, fb.ncoa))
        # RFC 5568 §6.2.1.1: Code 0 when the FBU came from the PCoA, 1 otherwise; U asks the
        # NAR to buffer for the arriving node.
        hi = HandoverInitiate(fb.hi_sequence, HICode.FBU_FROM_PCOA if fb.predictive
                              else HICode.FBU_NOT_FROM_PCOA, assigned_address=False,
                              buffer=True, options=tuple(options))
        self.emit(HandoverInitiateSent(time=now, nar=fb.nar, ncoa=fb.ncoa,
                                       sequence=fb.hi_sequence, retransmission=fb.hi_sent > 0))
        fb.hi_sent += 1
        self.send_packet(now, IPv6Packet(self.address, fb.nar, hi))
        self.timers.set(f"hi:{fb.rcoa}",
                        now + self.fast_config.hi_timeout * (2 ** (fb.hi_sent - 1)))

    def _on_hack(self, now: float, packet: IPv6Packet, hack: HandoverAcknowledge) -> None:
        fb = next((f for f in self._fast.values() if not f.forwarding
                   and f.hi_sequence == hack.sequence and f.nar == packet.src), None)
        if fb is None:
            self.drop(now, "hack-unmatched", f"seq {hack.sequence} from {packet.src}")
            return
        self.timers.cancel(f"hi:{fb.rcoa}")
        reg = Registration(FastBindingUpdate(fb.fbu_sequence, BUFlags.A, 0).as_binding_update(),
                           fb.rcoa, fb.ncoa, fb.fbu_source, self.address, fb.peer)
        code = int(hack.code)
        if not hack.accepted:
            self.emit(HandoverAcknowledgeReceived(time=now, nar=fb.nar, code=code, ncoa=None))
            del self._fast[fb.rcoa.packed]
            self._fback(now, reg, FBackStatus.REASON_UNSPECIFIED, fb.fbu_sequence, 0,
                        (fb.fbu_source,))
            return
        status, alternate = FBackStatus.ACCEPTED, None
        if code == HAckCode.ACCEPTED_NCOA_ASSIGNED:
            assigned = next((o.address for o in hack.options
                             if isinstance(o, MobilityHeaderIPAddressPrefix)
                             and o.option_code == IPAddressOptionCode.NEW_CARE_OF_ADDRESS), None)
            if assigned is not None and is_unicast_routable(assigned):
                fb.ncoa, status, alternate = assigned, FBackStatus.ACCEPTED_NCOA_INVALID, assigned
            else:
                fb.via_nar = True
        elif code in (HAckCode.ACCEPTED_NCOA_NOT_VALID, HAckCode.ACCEPTED_USE_PCOA):
            fb.via_nar = True
        if fb.via_nar:
            # The node keeps its PCoA on the new link (RFC 5568 §6.2.3 status 1: "use the
            # NCoA supplied in the Alternate Care-of Address option").
            status, alternate = FBackStatus.ACCEPTED_NCOA_INVALID, fb.pcoa
        fb.forwarding = True
        fb.until = now + self.fast_config.simultaneous_bindings
        self._forwarding[fb.rcoa.packed] = fb
        self.timers.set(f"sim:{fb.rcoa}", fb.until)
        target = fb.pcoa if fb.via_nar else fb.ncoa
        self.emit(HandoverAcknowledgeReceived(time=now, nar=fb.nar, code=code, ncoa=target))
        self.emit(SimultaneousBindingStarted(
            time=now, rcoa=fb.rcoa, until=fb.until,
            care_of_addresses=(fb.pcoa, target) if self.fast_config.bicast and target != fb.pcoa
            else (target,)))
        dsts: tuple[IPv6Address, ...] = (fb.fbu_source,)
        if fb.predictive and not fb.via_nar and fb.ncoa != fb.fbu_source:
            # RFC 5568 §3.1: the FBack also goes to the NCoA (the NAR buffers it).
            dsts = (fb.fbu_source, fb.ncoa)
        self._fback(now, reg, status, fb.fbu_sequence, fb.fbu_lifetime, dsts, alternate)

    def _end(self, now: float, fb: _FastBinding, superseded: bool = False) -> None:
        key = fb.rcoa.packed
        self._fast.pop(key, None)
        self._forwarding.pop(key, None)
        self.timers.cancel(f"hi:{fb.rcoa}")
        self.timers.cancel(f"sim:{fb.rcoa}")
        if not fb.forwarding:
            return
        entry = self.cache.get(fb.rcoa, now)
        if (entry is not None and not fb.rebound and not fb.via_nar and not superseded
                and entry.care_of != fb.ncoa):
            # No regular BU during the period: the FBU's binding is the one that remains.
            remaining = int(entry.remaining(now)) // 4 * 4
            if remaining > 0:
                self.cache.update(now, fb.rcoa, fb.ncoa, remaining, fb.fbu_sequence,
                                  entry.flags, entry.peer)
                self._arm_expiry()
                entry = self.cache.get(fb.rcoa, now)
        self.emit(SimultaneousBindingEnded(time=now, rcoa=fb.rcoa,
                                           care_of=entry.care_of if entry is not None else None))

    def bind(self, now: float, reg: Registration, decision: Decision) -> None:
        super().bind(now, reg, decision)
        self._rebound(reg.address.packed)

    def _fast_accept(self, now: float, lcoa: bytes, rcoa: bytes, mh: bytes, ipsec: Any,
                     sa: Any, esp_seq: int) -> bool:
        accepted = super()._fast_accept(now, lcoa, rcoa, mh, ipsec, sa, esp_seq)
        if accepted:
            self._rebound(rcoa)
        return accepted

    def _rebound(self, key: bytes) -> None:
        fb = self._forwarding.get(key)
        if fb is not None:
            fb.rebound = True

    def on_timer(self, now: float, name: str) -> None:
        kind, _, rest = name.partition(":")
        if kind in ("hi", "sim") and rest:
            fb = self._fast.get(IPv6Address(rest).packed)
            if fb is None:
                return
            if kind == "sim":
                self._end(now, fb)
            elif fb.hi_sent > self.fast_config.hi_retries:
                self.counters["hi-gave-up"] += 1
                del self._fast[fb.rcoa.packed]
                reg = Registration(FastBindingUpdate(fb.fbu_sequence, BUFlags.A, 0)
                                   .as_binding_update(), fb.rcoa, fb.ncoa, fb.fbu_source,
                                   self.address, fb.peer)
                self._fback(now, reg, FBackStatus.REASON_UNSPECIFIED, fb.fbu_sequence, 0,
                            (fb.fbu_source,))
            else:
                self._send_hi(now, fb)
            return
        super().on_timer(now, name)

    def restart(self, now: float) -> None:
        for fb in list(self._fast.values()):
            self.timers.cancel(f"hi:{fb.rcoa}")
            self.timers.cancel(f"sim:{fb.rcoa}")
        self._fast.clear()
        self._forwarding.clear()
        super().restart(now)


# == the access router (PAR and NAR) ================================================================


@dataclass(slots=True)
class _Arrival:
    address: IPv6Address
    host_route: bool
    buffering: bool
    expires: float
    hack: bytes = b""
    """The HAck answered (re-sent as is to a repeated HI)."""
    hi_key: tuple[IPv6Address, int] | None = None
    queue: list[bytes] = field(default_factory=list)
    dropped: int = 0
    attached: bool = False


class FastAccessRouter(AccessRouter):
    """An access router that is a PAR and a NAR (module docstring). Extra arguments:
    ``neighbours`` (AP link-layer address → :class:`NeighbourRouter`) and ``fast``."""

    MAX_NEIGHBOUR_CACHE = 4096

    def __init__(self, name: str, *, rng: random.Random | None = None,
                 security: Security | None = None, config: AccessRouterConfig | None = None,
                 neighbours: Mapping[bytes, NeighbourRouter] | None = None,
                 fast: FastHandoverConfig | None = None) -> None:
        super().__init__(name, rng=rng, security=security, config=config)
        self.fast_config = fast if fast is not None else FastHandoverConfig()
        self.neighbours: dict[bytes, NeighbourRouter] = dict(neighbours or {})
        self._access = next((i for i, a in self._adv.items() if a.config.prefix is not None),
                            None)
        self.neighbour_cache: dict[IPv6Address, bytes | None] = {}
        """Addresses in use on the access link (the NAR's duplicate check), with the
        link-layer address announced for each (UNA) when known."""
        self._arrivals: dict[bytes, _Arrival] = {}

    @property
    def access_prefix(self) -> IPv6Network | None:
        if self._access is None:
            return None
        return self._adv[self._access].config.prefix

    def _learn(self, address: IPv6Address, lla: bytes | None = None) -> None:
        if address.is_link_local or address.is_unspecified or address.is_multicast:
            return
        cache = self.neighbour_cache
        if address not in cache:
            if len(cache) >= self.MAX_NEIGHBOUR_CACHE:
                del cache[next(iter(cache))]
            cache[address] = lla
        elif lla is not None:
            cache[address] = lla

    def _duplicate(self, address: IPv6Address, lla: bytes | None) -> bool:
        """The NAR's DAD check (RFC 5568 §6.2.1.2): in use on the link by another node (the
        arriving node itself may have announced it already: reactive mode)."""
        if address not in self.neighbour_cache:
            return self.is_local(address)
        known = self.neighbour_cache[address]
        return known is None or lla is None or known[:len(lla)] != lla

    def process(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None) -> None:
        if ifname == self._access:
            self._learn(packet.src)
        super().process(now, ifname, packet, raw)

    # -- ICMPv6: RtSolPr, UNA, DAD probes --------------------------------------------------------

    def on_icmpv6(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        if isinstance(message, RouterSolicitationForProxyAdvertisement):
            self._on_rtsolpr(now, ifname, packet, message)
            return
        if ifname == self._access and isinstance(message, NeighborAdvertisement) \
                and is_unsolicited_neighbor_advertisement(message):
            if packet.hop_limit != ND_HOP_LIMIT:
                self.drop(now, "una-invalid", f"hop limit {packet.hop_limit}")
                return
            tlla = nd_options_of(message.options, TargetLinkLayerAddress)
            self._learn(message.target, tlla[0].lladdr if tlla else None)
            self._arrived(now, message.target)
            return
        if (ifname == self._access and isinstance(message, NeighborSolicitation)
                and packet.src.is_unspecified):
            self._learn(message.target)  # a DAD probe: the address is about to be used
        super().on_icmpv6(now, ifname, packet, message, tunnelled)

    def _on_rtsolpr(self, now: float, ifname: str, packet: IPv6Packet,
                    message: RouterSolicitationForProxyAdvertisement) -> None:
        if packet.hop_limit != ND_HOP_LIMIT or ifname not in self._adv or not self.started \
                or packet.src.is_unspecified or packet.src.is_multicast:
            self.drop(now, "rtsolpr-invalid", f"hop limit {packet.hop_limit} from {packet.src}")
            return
        self.counters["rtsolpr-received"] += 1
        aps = [o.lla for o in nd_options_of(message.options, LinkLayerAddressOption)
               if o.option_code == LLAOptionCode.NEW_ACCESS_POINT]
        found = next((n for ap in aps for lla, n in self.neighbours.items()
                      if ap[:len(lla)] == lla), None)
        options: tuple[NDOption, ...] = ()
        code = PrRtAdvCode.NO_NEW_ROUTER_INFO
        if found is not None:
            # RFC 5568 §6.1.2: Code 0 with the [AP-ID, AR-Info] tuple; RFC 4140 Appendix A:
            # "a Proxy Router Advertisement to the mobile node with the MAP option".
            code = PrRtAdvCode.NEW_ROUTER_INFO
            options = (LinkLayerAddressOption.padded(LLAOptionCode.NEW_ACCESS_POINT,
                                                     found.ap_lla),
                       LinkLayerAddressOption.padded(LLAOptionCode.NAR, found.nar_lla),
                       IPAddressPrefixOption(IPAddressOptionCode.NAR_PREFIX,
                                             found.prefix.prefixlen,
                                             found.prefix.network_address),
                       IPAddressPrefixOption(IPAddressOptionCode.NAR_IP_ADDRESS, 128,
                                             found.nar_address),
                       *found.maps)
        else:
            self.counters["rtsolpr-unknown-ap"] += 1
        adv = ProxyRouterAdvertisement(code, message.identifier, options)
        iface = self.interfaces[ifname]
        self.counters["prrtadv-sent"] += 1
        self.send_packet(now, IPv6Packet(iface.link_local, packet.src, adv,
                                         hop_limit=ND_HOP_LIMIT), ifname=ifname, protect=False)

    # -- HI / HAck, FNA -------------------------------------------------------------------------

    def on_mobility(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                    peer: str | None, tunnelled: int) -> None:
        if isinstance(message, HandoverInitiate):
            self._on_hi(now, packet, message)
        elif isinstance(message, FastNeighborAdvertisement) and ifname == self._access:
            # RFC 5568 §8: a NAR may still process RFC 4068's FNA, from the NCoA.
            self._learn(packet.src)
            self._arrived(now, packet.src)
        else:
            super().on_mobility(now, ifname, packet, message, peer, tunnelled)

    def _on_hi(self, now: float, packet: IPv6Packet, hi: HandoverInitiate) -> None:
        prefix = self.access_prefix
        if prefix is None or self._access is None:
            self.drop(now, "hi-no-access-link", str(packet.src))
            return
        key = (packet.src, hi.sequence)
        for a in self._arrivals.values():
            if a.hi_key == key and a.hack:
                self.counters["hi-repeated"] += 1
                self.send_raw_to(now, packet.src, a.hack)
                return
        addrs = {o.option_code: o.address for o in hi.options
                 if isinstance(o, MobilityHeaderIPAddressPrefix)}
        ncoa = addrs.get(IPAddressOptionCode.NEW_CARE_OF_ADDRESS)
        lla = next((o.lla for o in hi.options if isinstance(o, MobilityHeaderLinkLayerAddress)
                    and o.option_code == LLAOptionCode.MOBILE_NODE), None)
        pcoa = addrs.get(IPAddressOptionCode.OLD_CARE_OF_ADDRESS)
        code: int = HAckCode.ACCEPTED_NCOA_VALID
        options: tuple[Any, ...] = ()
        target: IPv6Address | None = ncoa
        host_route = False
        if ncoa is None and pcoa is None:
            code, target = HAckCode.NOT_ACCEPTED, None
        elif ncoa is None or ncoa not in prefix or not is_unicast_routable(ncoa) \
                or self._duplicate(ncoa, lla):
            if self.fast_config.assign_ncoa or hi.assigned_address:
                target = self._fresh_address(prefix)
                code = HAckCode.ACCEPTED_NCOA_ASSIGNED
                options = (MobilityHeaderIPAddressPrefix(
                    IPAddressOptionCode.NEW_CARE_OF_ADDRESS, 128, target),)
            elif pcoa is not None and is_unicast_routable(pcoa):
                # RFC 4140 Appendix A: "the NAR will generate a host route for the mobile node
                # using its old CoA".
                code, target, host_route = HAckCode.ACCEPTED_NCOA_NOT_VALID, pcoa, True
            else:
                code, target = HAckCode.NOT_ACCEPTED, None
        hack = HandoverAcknowledge(hi.sequence, code, options)
        src = self.address_on(self._access)
        out = IPv6Packet(src, packet.src, hack)
        data = out.encode()
        here = (target is not None and not host_route and lla is not None
                and self.neighbour_cache.get(target) is not None
                and not self._duplicate(target, lla))
        if here:
            # Reactive mode: the node announced the NCoA already (UNA); nothing to buffer.
            self.counters["hi-node-present"] += 1
        elif target is not None:
            old = self._arrivals.pop(target.packed, None)
            if old is not None:
                self.timers.cancel(f"fh-expire:{old.address}")
            expires = now + self.fast_config.buffer_lifetime
            self._arrivals[target.packed] = _Arrival(target, host_route, hi.buffer, expires,
                                                     data, key)
            self.timers.set(f"fh-expire:{target}", expires)
        self.counters[f"hack-sent.{code}"] += 1
        self.send_raw_to(now, packet.src, data)

    def send_raw_to(self, now: float, dst: IPv6Address, data: bytes) -> None:
        route = self.lookup_route(dst)
        if route is None:
            self.drop(now, "no-route", f"HAck to {dst}")
            return
        self.send_raw(route.ifname, data, route.next_hop)

    def _fresh_address(self, prefix: IPv6Network) -> IPv6Address:
        while True:
            a = interface_address(prefix, self.rng.getrandbits(64) & ~(1 << 57))
            if a not in self.neighbour_cache and a.packed not in self._arrivals \
                    and not self.is_local(a) and is_unicast_routable(a):
                return a

    # -- buffering and delivery -------------------------------------------------------------------

    def forward(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None) -> None:
        if self._arrivals and ifname != self._access and self._access is not None:
            a = self._arrivals.get(packet.dst.packed)
            if a is not None and packet.hop_limit > 1:
                out = (raw[:7] + bytes((packet.hop_limit - 1,)) + raw[8:] if raw is not None
                       else IPv6Packet(packet.src, packet.dst, packet.payload,
                                       packet.extension_headers, packet.hop_limit - 1,
                                       packet.traffic_class, packet.flow_label).encode())
                if a.attached:
                    self.counters["forwarded"] += 1
                    self._out.append(Transmit(self._access, out, None))
                    return
                if a.buffering:
                    if len(a.queue) < self.fast_config.buffer_size:
                        a.queue.append(out)
                        self.counters["fh-buffered"] += 1
                    else:
                        a.dropped += 1
                        self.drop(now, "fh-buffer-full", str(packet.dst))
                    return
                if a.host_route:
                    self.drop(now, "fh-not-attached", str(packet.dst))
                    return
        super().forward(now, ifname, packet, raw)

    def _arrived(self, now: float, address: IPv6Address) -> None:
        a = self._arrivals.get(address.packed)
        if a is None or a.attached or self._access is None:
            self.counters["una-no-buffer"] += 1
            return
        # RFC 5568 §3.1: "the NAR ... delivers the buffered packets" once the MN announces
        # itself.
        for data in a.queue:
            self._out.append(Transmit(self._access, data, None))
        self.counters["fh-flushed"] += len(a.queue)
        self.emit(FastHandoverBufferFlushed(time=now, address=address, packets=len(a.queue),
                                            dropped=a.dropped))
        a.queue = []
        a.attached, a.buffering = True, False
        if not a.host_route:
            # The NCoA is on-link now: ordinary forwarding reaches it.
            del self._arrivals[address.packed]
            self.timers.cancel(f"fh-expire:{address}")

    def on_timer(self, now: float, name: str) -> None:
        kind, _, rest = name.partition(":")
        if kind == "fh-expire":
            a = self._arrivals.pop(IPv6Address(rest).packed, None)
            if a is not None and a.queue:
                self.counters["dropped.fh-buffer-expired"] += len(a.queue)
            return
        super().on_timer(now, name)

    def restart(self, now: float) -> None:
        for a in self._arrivals.values():
            self.timers.cancel(f"fh-expire:{a.address}")
        self._arrivals.clear()
        self.neighbour_cache.clear()
        super().restart(now)


# == the mobile node =================================================================================


@dataclass(slots=True)
class _Anticipation:
    ifname: str
    ap: bytes
    router: str | None
    identifier: int
    pcoa: IPv6Address
    map: IPv6Address | None = None
    rcoa: IPv6Address | None = None
    prefix: IPv6Network | None = None
    nar_address: IPv6Address | None = None
    maps: tuple[MapOption, ...] = ()
    ncoa: IPv6Address | None = None
    fbu_sequence: int | None = None
    fback: bool = False
    predictive: bool = False
    failed: bool = False
    left: bool = False
    attached: bool = False


class FastMobileNode(MobileNode):
    """An HMIPv6 mobile node doing fast handovers through its MAP (module docstring).
    Extra command: :meth:`anticipate`."""

    def __init__(self, name: str, config: MobileNodeConfig, *,
                 fast: FastHandoverConfig | None = None, **kwargs: Any) -> None:
        super().__init__(name, config, **kwargs)
        self.fast_config = fast if fast is not None else FastHandoverConfig()
        self._fh: _Anticipation | None = None
        self._held_pcoa: IPv6Address | None = None

    # -- the layer-2 trigger -------------------------------------------------------------------

    def anticipate(self, now: float, new_ap: bytes, *, router: str | None = None,
                   ifname: str | None = None) -> bool:
        """Layer 2 says the node will soon move to the access point ``new_ap`` (its
        link-layer address) of access router ``router``: start a predictive fast handover
        with an RtSolPr to the current access router (RFC 5568 §3.1). False when there is
        no usable link to start from."""
        link = self.links.get(ifname) if ifname is not None else self._primary_link()
        if link is None or not link.usable or link.lcoa is None or link.router is None:
            self.counters["fh-no-link"] += 1
            return False
        st = _Anticipation(link.ifname, bytes(new_ap), router, self.rng.getrandbits(16),
                           link.lcoa)
        self._fh = st
        iface = self.interfaces[link.ifname]
        rtsolpr = RouterSolicitationForProxyAdvertisement(st.identifier, (
            LinkLayerAddressOption.padded(LLAOptionCode.SOURCE, iface.lladdr),
            LinkLayerAddressOption.padded(LLAOptionCode.NEW_ACCESS_POINT, st.ap)))
        self.counters["rtsolpr-sent"] += 1
        # RFC 5568 §6.1.1: from an address of the sending interface, to the access router.
        self.send_packet(now, IPv6Packet(link.lcoa, link.router, rtsolpr,
                                         hop_limit=ND_HOP_LIMIT),
                         ifname=link.ifname, next_hop=link.router, protect=False)
        return True

    def is_local(self, address: IPv6Address) -> bool:
        return address == self._held_pcoa or super().is_local(address)

    # -- receiving -----------------------------------------------------------------------------

    def on_icmpv6(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        if isinstance(message, ProxyRouterAdvertisement):
            self._on_prrtadv(now, ifname, packet, message, tunnelled)
        else:
            super().on_icmpv6(now, ifname, packet, message, tunnelled)

    def _on_prrtadv(self, now: float, ifname: str, packet: IPv6Packet,
                    adv: ProxyRouterAdvertisement, tunnelled: int) -> None:
        st = self._fh
        if (st is None or tunnelled or packet.hop_limit != ND_HOP_LIMIT
                or adv.identifier != st.identifier or st.ifname != ifname
                or st.prefix is not None or st.left):
            self.drop(now, "prrtadv-unexpected", f"id {adv.identifier} from {packet.src}")
            return
        addrs = {o.option_code: o for o in nd_options_of(adv.options, IPAddressPrefixOption)}
        pfx = addrs.get(IPAddressOptionCode.NAR_PREFIX)
        nar = addrs.get(IPAddressOptionCode.NAR_IP_ADDRESS)
        maps = adv.map_options
        prefix = None
        if adv.code == PrRtAdvCode.NEW_ROUTER_INFO and pfx is not None and pfx.prefix_length == 64:
            prefix = IPv6Network((int(pfx.address) >> 64 << 64, 64))
        self.emit(ProxyRouterAdvertisementReceived(
            time=now, ifname=ifname, prefix=str(prefix) if prefix is not None else None,
            maps=tuple(m.address for m in maps)))
        if prefix is None or nar is None or not is_unicast_routable(nar.address):
            st.failed = True
            self.counters["fh-no-router-info"] += 1
            return
        link = self.links[ifname]
        st.prefix, st.nar_address, st.maps = prefix, nar.address, maps
        st.ncoa = interface_address(prefix, link.iid)
        region = self._bound_region(now)
        if (region is None or region.rcoa is None
                or region.map not in {m.address for m in maps if m.valid_lifetime > 0}):
            # RFC 4140 Appendix A makes the MAP in use the anchor; under another MAP this is
            # an ordinary HMIPv6 handover.
            st.failed = True
            self.counters["fh-other-map"] += 1
            return
        st.map, st.rcoa = region.map, region.rcoa
        self._send_fbu(now, st, predictive=True)

    def _send_fbu(self, now: float, st: _Anticipation, *, predictive: bool) -> None:
        assert st.map is not None and st.rcoa is not None and st.ncoa is not None
        source = st.pcoa if predictive else st.ncoa
        seq = self.bul.sequences.next(st.map)
        st.fbu_sequence = seq
        iface = self.interfaces[st.ifname]
        options: tuple[Any, ...] = (MobilityHeaderLinkLayerAddress(LLAOptionCode.MOBILE_NODE,
                                                                   iface.lladdr),)
        if predictive:
            # RFC 5568 §6.2.2: from the PAR's link the FBU "MUST" carry the NCoA in an
            # Alternate Care-of Address option.
            options = (AlternateCareOfAddress(st.ncoa), *options)
        fbu = FastBindingUpdate(seq, BUFlags.A | BUFlags.H | BUFlags.M,
                                self._local_lifetime(self.maps.current(st.map)), options)
        pkt = IPv6Packet(source, st.map, fbu, (DestinationOptions((HomeAddressOption(st.rcoa),)),))
        if self._send_from_coa(now, pkt):
            self.emit(FastBindingUpdateSent(time=now, to=st.map, rcoa=st.rcoa, pcoa=st.pcoa,
                                            ncoa=st.ncoa, sequence=seq, predictive=predictive))

    def on_mobility(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                    peer: str | None, tunnelled: int) -> None:
        if isinstance(message, FastBindingAcknowledgement):
            self._on_fback(now, packet, message)
        else:
            super().on_mobility(now, ifname, packet, message, peer, tunnelled)

    def _on_fback(self, now: float, packet: IPv6Packet,
                  fback: FastBindingAcknowledgement) -> None:
        st = self._fh
        if (st is None or st.fbu_sequence != fback.sequence or packet.src != st.map
                or packet.routing_home_address != st.rcoa or st.ncoa is None):
            self.drop(now, "fback-unmatched", f"seq {fback.sequence} from {packet.src}")
            return
        if st.fback:
            self.counters["fback-duplicate"] += 1
            return
        if not fback.accepted:
            st.failed = True
            self.counters[f"fback-refused.{int(fback.status)}"] += 1
            return
        if fback.status == FBackStatus.ACCEPTED_NCOA_INVALID:
            alt = next((o.address for o in fback.options
                        if isinstance(o, AlternateCareOfAddress)), None)
            if alt is not None:
                st.ncoa = alt
        st.fback = True
        st.predictive = not st.left
        self.emit(FastBindingAcknowledged(time=now, by=packet.src, status=int(fback.status),
                                          sequence=fback.sequence, ncoa=st.ncoa))

    # -- link changes --------------------------------------------------------------------------

    def link_down(self, now: float, ifname: str) -> None:
        st = self._fh
        if st is not None and st.ifname == ifname and not st.attached:
            st.left = True
        super().link_down(now, ifname)

    def link_up(self, now: float, ifname: str, router: str | None = None) -> None:
        st = self._fh
        super().link_up(now, ifname, router)
        if (st is not None and st.left and not st.attached and not st.failed
                and st.ifname == ifname and st.ncoa is not None and st.map is not None
                and (st.router is None or st.router == router)):
            self._fast_attach(now, self.links[ifname], st)
        elif st is not None:
            self._fh = None

    def _fast_attach(self, now: float, link: LinkState, st: _Anticipation) -> None:
        assert st.ncoa is not None and st.prefix is not None and st.nar_address is not None
        st.attached = True
        ifname = link.ifname
        iface = self.interfaces[ifname]
        if st.ncoa == st.pcoa:
            # The NAR found the NCoA in use and keeps a host route for the PCoA (RFC 4140
            # Appendix A): accept it here a while, and form the LCoA of this link from
            # another interface identifier once the RA comes.
            self._held_pcoa = st.pcoa
            self.timers.set(_HOLD_PCOA, now + self.fast_config.pcoa_hold)
            link.iid = self._random_iid(avoid=link.iid)
            self._send_una(now, ifname, st.pcoa, iface.lladdr)
            return
        # RFC 5568 §3.1: the NAR checked the NCoA; the node uses it as soon as it attaches.
        link.prefix = st.prefix
        self.add_route(st.prefix, ifname)
        self._set_lcoa(link, st.ncoa)
        link.dad = "preferred"
        self.add_address(ifname, st.ncoa)
        self.emit(CareOfAddressConfigured(time=now, ifname=ifname, address=st.ncoa,
                                          kind="lcoa"))
        link.router = st.nar_address
        self.add_route("::/0", ifname, st.nar_address)
        records = tuple(MapRecord(address=o.address, dist=o.dist, pref=o.pref, r=o.r,
                                  valid_lifetime=o.valid_lifetime, received_at=now,
                                  ifname=ifname, router=st.nar_address, position=i)
                        for i, o in enumerate(st.maps))
        self.maps.update(records, ifname)
        link.heard_maps = frozenset(r.address for r in records)
        self._arm_map_expiry()
        self._last_prefix = st.prefix
        self.emit(MovementDetected(time=now, ifname=ifname, new_prefix=str(st.prefix),
                                   map_changed=False))
        self._send_una(now, ifname, st.ncoa, iface.lladdr)
        if not st.fback:
            # Reactive mode (RFC 5568 §3.3): the FBU goes from the new link.
            self._send_fbu(now, st, predictive=False)
        self._reconcile(now)

    def _send_una(self, now: float, ifname: str, address: IPv6Address, lladdr: bytes) -> None:
        una = unsolicited_neighbor_advertisement(address, lladdr)
        self.send_packet(now, IPv6Packet(address, ALL_NODES, una, hop_limit=ND_HOP_LIMIT),
                         ifname=ifname, protect=False)
        self.emit(UnsolicitedNeighborAdvertisementSent(time=now, ifname=ifname,
                                                       address=address))

    # -- handover bookkeeping -------------------------------------------------------------------

    def _track_handover(self, now: float, lcoa: IPv6Address,
                        map_address: IPv6Address | None) -> None:
        before = self._handover
        super()._track_handover(now, lcoa, map_address)
        h, st = self._handover, self._fh
        if (h is not None and h is not before and h.kind == "intra-domain" and st is not None
                and st.attached):
            h.kind = "fast-predictive" if st.predictive else "fast-reactive"

    def on_timer(self, now: float, name: str) -> None:
        if name == _HOLD_PCOA:
            self._held_pcoa = None
            return
        super().on_timer(now, name)

    def restart(self, now: float) -> None:
        self._fh = None
        self._held_pcoa = None
        self.timers.cancel(_HOLD_PCOA)
        super().restart(now)
