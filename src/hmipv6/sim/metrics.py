"""Simulation metrics: handover timelines, flow arrivals and signalling counts.

Theory of operation
-------------------
Everything here is built from what the engines *say* (their events, drained by the runner
after every input) and from what *arrives* (probe payloads reaching a flow's sink), never
from engine internals, so the same numbers can be computed from a testbed's logs.

Handovers (SCENARIO.md ``handovers``). A mobile node's handover opens when its link comes up
(``LinkChanged(up=True)``, the ``l2_up`` edge; the preceding ``LinkChanged(up=False)`` is its
``l2_down``, absent for the first attachment) and collects, first occurrence each, the
Router Advertisement, the first usable LCoA (``coa_ready``), the first Binding Update (not a
retransmission), the MAP's Binding Acknowledgement (``ba_received``) and the home agent's
(``home_ba_received``). The kind comes from the engine's ``HandoverCompleted`` when it
arrives, otherwise from ``MovementDetected.map_changed`` (and ``initial`` / ``mipv6``).
``first_data`` is the first probe of any flow that reaches the mobile node after ``l2_up``
(through the new access router: the radio is in one cell at a time). ``lost`` counts the
probes of flows to that mobile node sent from ``l2_down`` (``l2_up`` for an initial
attachment) up to ``first_data`` that never arrived. A mobile node's data is what its
applications receive: CBR datagrams sent to it, the Echo Replies of its own pings, and the
Echo Requests of pings sent to it (:meth:`Metrics.add_echo_requests`: a mobile node whose
only flow is a ping gets latency and loss too).

Fast handovers (``fhmipv6``): the predictive Fast Binding Update and its FBack happen while
the mobile node is still on the previous link, so they are held (``fbu_sent``,
``fback_received``) and given to the record its next ``l2_up`` opens; a reactive FBU, a late
FBack and the UNA (``una_sent``) belong to the record already open. The engine's
``HandoverCompleted`` gives the kinds ``fast-predictive`` / ``fast-reactive``; such a
handover's ``registration`` ends at the MAP's BA, as an intra-domain one.

A MAP change without a move (RFC 4140 §10: the MAP in use was advertised failed, or a better
one appeared) is a handover too: a ``MapSelected`` once the current handover has completed
opens a record with no link-layer edges (``link`` false, ``from`` = ``to`` = the current
access router) starting at ``map_change`` (the selection); its latency and loss run from
there. ``MapFailed`` / ``MapRecovered`` of every node are kept in ``map_events``.

Signalling (docs/report.md ``signalling``) is counted at the sending interface from the packet
octets (:func:`classify`): the header chain is walked through tunnels to the innermost
ICMPv6 / Mobility Header message or IKEv2 datagram (UDP port 500, under rfc5380). A message
is counted once, by the node that originated it
(its innermost source is one of the sender's addresses); ESP-protected signalling is opaque
(it may be encrypted), so it is counted by who sends it: ``BU`` from a mobile node, ``BA``
from a MAP or home agent. ``to_home_agent`` / ``to_correspondents`` / ``to_maps`` count
Mobility Header messages by innermost destination; ``bytes_on_wireless`` is every signalling
octet put on a cell, forwarded or not.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hmipv6.core import events as _events_module
from hmipv6.core.counts import Counts
from hmipv6.core.events import (
    BindingAcknowledged,
    BindingCacheUpdated,
    BindingRemoved,
    BindingUpdateSent,
    CareOfAddressConfigured,
    Event,
    FastBindingAcknowledged,
    FastBindingUpdateSent,
    HandoverCompleted,
    LinkChanged,
    MapFailed,
    MapRecovered,
    MapSelected,
    MovementDetected,
    RouterAdvertisementReceived,
    UnsolicitedNeighborAdvertisementSent,
)

__all__ = ["ICMP_TYPES", "MH_TYPES", "FlowRecord", "HandoverRecord", "Metrics", "classify",
           "only_counted"]

ICMP_TYPES = {133: "RS", 134: "RA", 135: "NS", 136: "NA", 137: "Redirect"}
"""ICMPv6 messages counted as signalling (Neighbor Discovery; RFC 4861)."""
MH_TYPES = {0: "BRR", 1: "HoTI", 2: "CoTI", 3: "HoT", 4: "CoT", 5: "BU", 6: "BA", 7: "BE",
            8: "FBU", 9: "FBack", 10: "FNA", 14: "HI", 15: "HAck"}
"""Mobility Header types (RFC 6275 §6.1; FMIPv6's from RFC 5568 §6.2 and RFC 4068 §6.3.3)."""
FMIPV6_SUBTYPES = {2: "RtSolPr", 3: "PrRtAdv"}
"""ICMPv6 type 154 subtypes counted as signalling (RFC 5568 §6.1)."""
FAST_KINDS = ("fast-predictive", "fast-reactive")
"""Handover kinds of ``fhmipv6`` (additive to SCENARIO.md's)."""
IKE_PORT = 500
"""UDP port of IKEv2 (RFC 7296 §2.11): its messages count as signalling (``IKEv2``)."""
_EXT = frozenset((0, 43, 60))


def only_counted(event_type: type[Event]) -> bool:
    """Does :meth:`Metrics.on_event` only count events of ``event_type`` (read nothing in
    them)? The simulator then lets its nodes count their drops without a ``PacketDropped``
    (``Node.report_drops``)."""
    return event_type in _IGNORED


def classify(data: bytes) -> tuple[str, bytes, bytes] | None:
    """``(kind, innermost source, innermost destination)`` of a signalling packet, or None.

    ``kind`` is a name of :data:`ICMP_TYPES` / :data:`MH_TYPES`, ``"ESP"`` for an ESP payload
    (opaque), ``"IKEv2"`` for a UDP datagram to or from port 500 (the rfc5380 profile's RCoA
    and key exchange) or ``"MH?"`` for an unknown Mobility Header type.

    Most packets are data: UDP right after the IPv6 header, or inside one or two IPv6-in-IPv6
    tunnel headers (RFC 2473 §3.1; two: a MAP's tunnel around a home agent's) with nothing
    between. Those are told from fixed offsets
    (the ports, RFC 768) before the header walk of :func:`_classify_walk`, which would
    return ``None`` for them too (tests hold the two to each other)."""
    n = len(data)
    if n >= 84 and data[6] == 41 and data[46] == 17:
        p = 80
    elif n >= 124 and data[6] == 41 and data[46] == 41 and data[86] == 17:
        p = 120
    elif n >= 44 and data[6] == 17:
        p = 40
    else:
        return _classify_walk(data)
    if data[p] << 8 | data[p + 1] != IKE_PORT and data[p + 2] << 8 | data[p + 3] != IKE_PORT:
        return None
    return _classify_walk(data)


def _classify_walk(data: bytes) -> tuple[str, bytes, bytes] | None:
    """:func:`classify` by walking every header."""
    off = 0
    n = len(data)
    while True:
        if n < off + 40:
            return None
        nh = data[off + 6]
        p = off + 40
        while nh in _EXT or nh == 51:
            if n < p + 2:
                return None
            if nh == 51:  # AH (RFC 4302): length in 4-octet units minus 2
                nh, p = data[p], p + (data[p + 1] + 2) * 4
            else:
                nh, p = data[p], p + (data[p + 1] + 1) * 8
        if nh == 41:
            off = p
            continue
        if nh == 58:
            if n <= p:
                return None
            name = ICMP_TYPES.get(data[p])
            if data[p] == 154 and n > p + 4:
                name = FMIPV6_SUBTYPES.get(data[p + 4])
            return ((name, data[off + 8:off + 24], data[off + 24:off + 40]) if name is not None
                    else None)
        if nh == 135:
            if n <= p + 2:
                return None
            return (MH_TYPES.get(data[p + 2], "MH?"), data[off + 8:off + 24],
                    data[off + 24:off + 40])
        if nh == 17:  # RFC 7296 §2.11: IKEv2 runs over UDP port 500 (rfc5380 profile)
            if n >= p + 4 and (data[p] << 8 | data[p + 1] == IKE_PORT
                               or data[p + 2] << 8 | data[p + 3] == IKE_PORT):
                return "IKEv2", data[off + 8:off + 24], data[off + 24:off + 40]
            return None
        if nh == 50:
            return "ESP", data[off + 8:off + 24], data[off + 24:off + 40]
        return None


@dataclass(slots=True)
class HandoverRecord:
    """One attachment of one mobile node (see the module docstring)."""

    mn: str
    to: str | None
    frm: str | None
    l2_down: float | None
    l2_up: float
    kind: str | None = None
    ra_received: float | None = None
    coa_ready: float | None = None
    bu_sent: float | None = None
    ba_received: float | None = None
    home_ba_received: float | None = None
    first_data: float | None = None
    map_changed: bool | None = None
    completed: float | None = None
    lost: int | None = None
    link: bool = True
    """False for a MAP change without a move (``l2_up`` then holds ``map_change``)."""
    map_failed: float | None = None
    """When the mobile node learnt its MAP had failed (the cause of a MAP-only handover)."""
    fbu_sent: float | None = None
    fback_received: float | None = None
    una_sent: float | None = None


@dataclass(slots=True)
class FlowRecord:
    """Arrivals of one flow at its sink (sequence numbers and first-arrival times)."""

    index: int
    dst: str
    interval: float
    start: float
    received: set[int] = field(default_factory=set)
    times: list[float] = field(default_factory=list)
    sequences: list[int] = field(default_factory=list)
    """Sequence number of each first arrival, parallel to ``times``."""
    _flight: tuple[int, float] | None = field(default=None, repr=False, compare=False)
    """(arrivals counted, :meth:`flight`) when last computed."""

    def arrived(self, now: float, sequence: int) -> None:
        if sequence not in self.received:
            self.received.add(sequence)
            self.times.append(now)
            self.sequences.append(sequence)

    def first_after(self, t: float) -> float | None:
        i = bisect_right(self.times, t)
        return self.times[i] if i < len(self.times) else None

    def flight(self) -> float:
        """The longest time a probe took to arrive (0 before any did). Computed once per
        count of arrivals: the report asks for every handover of the flow, after the run."""
        cached = self._flight
        if cached is not None and cached[0] == len(self.times):
            return cached[1]
        longest = max((t - self.start - q * self.interval
                       for t, q in zip(self.times, self.sequences, strict=True)), default=0.0)
        self._flight = (len(self.times), longest)
        return longest

    def lost_across(self, t0: float, t1: float | None, sent: int) -> int:
        """Probes never received among those after the last one that arrived before ``t0``
        and before the first one that arrived at or after ``t1`` (all the rest of the flow
        when nothing arrived after ``t1`` or ``t1`` is None)."""
        i = bisect_right(self.times, t0)
        lo = max(self.sequences[:i], default=-1) + 1
        # Probes sent long before t0 that never came were lost to something else (an earlier
        # outage): only those that could still have been in flight at t0 count.
        lo = max(lo, math.ceil((t0 - self.flight() - self.start) / self.interval - 1e-9))
        if t1 is None:
            hi = sent
        else:
            j = bisect_left(self.times, t1)
            hi = self.sequences[j] if j < len(self.sequences) else sent
        return sum(1 for k in range(lo, min(hi, sent)) if k not in self.received)


class Metrics:
    """Collects events and arrivals during a run (see the module docstring)."""

    def __init__(self, protocol: str, ha_addresses: set[bytes], cn_addresses: set[bytes],
                 map_addresses: set[bytes]) -> None:
        self.protocol = protocol
        self.handovers: list[HandoverRecord] = []
        self.map_events: list[tuple[float, str, str, str]] = []
        """``(time, node, MAP address, "failed" | "recovered")``."""
        self._map_failed: dict[str, float] = {}
        self._open: dict[str, HandoverRecord] = {}
        self._last_down: dict[str, float] = {}
        self._last_router: dict[str, str | None] = {}
        self.flows: dict[int, FlowRecord] = {}
        self.echo_requests: dict[int, FlowRecord] = {}
        """Ping flows' requests at their destination (:meth:`add_echo_requests`)."""
        self._flows_to: dict[str, list[FlowRecord]] = {}
        self.by_type = Counts()
        self.to_home_agent = 0
        self.to_correspondents = 0
        self.to_maps = 0
        self.bytes_on_wireless = 0
        self._ha = ha_addresses
        self._cn = cn_addresses
        self._maps = map_addresses
        self.events = 0
        self.node_counts: dict[str, Counter[str]] = {}
        """Per node: ``bu_accepted`` (BindingCacheUpdated), ``bindings_removed``."""
        self.rejected_by: Counter[bytes] = Counter()
        """Rejecting BAs (status >= 128) received by mobile nodes, by sender address."""
        self._fast_held: dict[str, dict[str, float]] = {}
        """Predictive FBU / FBack times waiting for the next ``l2_up`` (module docstring)."""

    # -- flows ---------------------------------------------------------------------------------

    def add_flow(self, index: int, dst: str, interval: float, start: float) -> FlowRecord:
        """The probes of flow ``index`` arriving at ``dst`` (a CBR flow's destination, a ping
        flow's source: where its sink is)."""
        rec = FlowRecord(index, dst, interval, start)
        self.flows[index] = rec
        self._flows_to.setdefault(dst, []).append(rec)
        return rec

    def add_echo_requests(self, index: int, dst: str, interval: float, start: float
                          ) -> FlowRecord:
        """The Echo Requests of ping flow ``index`` arriving at its destination ``dst``:
        data for ``dst``'s handovers (the round trips are the sink's, :meth:`add_flow`)."""
        rec = FlowRecord(index, dst, interval, start)
        self.echo_requests[index] = rec
        self._flows_to.setdefault(dst, []).append(rec)
        return rec

    # -- events --------------------------------------------------------------------------------

    def on_event(self, node: str, e: Event) -> None:
        self.events += 1
        t = type(e)
        if t in _IGNORED:
            return  # most events (PacketDropped, DataReceived ...): nothing below reads them
        # The handler of the class read (a dict lookup instead of a chain of isinstance); a
        # class defined elsewhere gets the handler of the first class of its MRO that has one.
        handler = _HANDLERS.get(t)
        if handler is None:
            handler = next((_HANDLERS[c] for c in t.__mro__ if c in _HANDLERS), None)
            if handler is None:
                return
        handler(self, node, e)

    def _on_link_changed(self, node: str, e: LinkChanged) -> None:
        if not e.up:
            self._last_down[node] = e.time
            rec = self._open.get(node)
            if rec is not None and rec.to is not None:
                self._last_router[node] = rec.to
            return
        prev = self._last_router.get(node)
        rec = HandoverRecord(mn=node, to=e.router, frm=prev,
                             l2_down=self._last_down.get(node) if prev is not None else None,
                             l2_up=e.time)
        if prev is None:
            rec.kind = "initial"
        held = self._fast_held.pop(node, None)
        if held:
            rec.fbu_sent = held.get("fbu_sent")
            rec.fback_received = held.get("fback_received")
        self._open[node] = rec
        self.handovers.append(rec)
        self._last_router[node] = e.router

    def _on_cache_updated(self, node: str, e: BindingCacheUpdated) -> None:
        self.node_counts.setdefault(node, Counter())["bu_accepted"] += 1

    def _on_binding_removed(self, node: str, e: BindingRemoved) -> None:
        self.node_counts.setdefault(node, Counter())["bindings_removed"] += 1

    def _on_map_health(self, node: str, e: MapFailed | MapRecovered) -> None:
        failed = isinstance(e, MapFailed)
        self.map_events.append((e.time, node, str(e.map), "failed" if failed else "recovered"))
        if failed:
            self._map_failed[node] = e.time

    def _on_map_selected(self, node: str, e: MapSelected) -> None:
        rec = self._open.get(node)
        if rec is not None and rec.completed is not None:
            # A MAP change without a move (RFC 4140 §10 failover, or a better MAP).
            rec = HandoverRecord(mn=node, to=rec.to, frm=rec.to, l2_down=None, l2_up=e.time,
                                 link=False, map_failed=self._map_failed.pop(node, None),
                                 map_changed=True, ra_received=e.time)
            self._open[node] = rec
            self.handovers.append(rec)

    def _on_ra(self, node: str, e: RouterAdvertisementReceived) -> None:
        rec = self._open.get(node)
        if rec is not None and rec.ra_received is None:
            rec.ra_received = e.time

    def _on_movement(self, node: str, e: MovementDetected) -> None:
        rec = self._open.get(node)
        if rec is not None and rec.map_changed is None:
            rec.map_changed = e.map_changed

    def _on_coa(self, node: str, e: CareOfAddressConfigured) -> None:
        rec = self._open.get(node)
        if rec is not None and e.kind == "lcoa" and e.usable and rec.coa_ready is None:
            rec.coa_ready = e.time

    def _on_bu_sent(self, node: str, e: BindingUpdateSent) -> None:
        rec = self._open.get(node)
        if rec is not None and rec.bu_sent is None and not e.retransmission:
            rec.bu_sent = e.time

    def _on_ba(self, node: str, e: BindingAcknowledged) -> None:
        if e.status >= 128:
            self.rejected_by[e.by.packed] += 1
            return
        rec = self._open.get(node)
        if rec is None:
            return
        if e.kind == "local" and rec.ba_received is None:
            rec.ba_received = e.time
        elif e.kind == "home" and rec.home_ba_received is None:
            rec.home_ba_received = e.time

    def _on_completed(self, node: str, e: HandoverCompleted) -> None:
        rec = self._open.get(node)
        if rec is not None and rec.completed is None:
            rec.completed = e.time
            if rec.kind != "initial":
                rec.kind = e.kind

    def _on_fast_event(self, node: str, e: Event) -> None:
        held = self._fast_held.get(node)
        rec = self._open.get(node)
        if isinstance(e, FastBindingUpdateSent) and e.predictive:
            self._fast_held[node] = {"fbu_sent": e.time}
        elif isinstance(e, FastBindingAcknowledged) and held is not None:
            held.setdefault("fback_received", e.time)
        elif rec is not None:
            name = ("fbu_sent" if isinstance(e, FastBindingUpdateSent) else
                    "fback_received" if isinstance(e, FastBindingAcknowledged) else "una_sent")
            if getattr(rec, name) is None:
                setattr(rec, name, e.time)

    # -- signalling ------------------------------------------------------------------------------

    def on_transmit(self, sender_is_local: Callable[[bytes], bool], sender_role: str, data: bytes,
                    wireless: bool) -> None:
        """Account one packet put on an interface. ``sender_is_local(address_bytes)`` tells
        whether the sender originated it (innermost source is one of its addresses)."""
        c = classify(data)
        if c is not None:
            self.on_signalling(c, sender_is_local, sender_role, len(data), wireless)

    def on_signalling(self, c: tuple[str, bytes, bytes], sender_is_local: Callable[[bytes], bool],
                      sender_role: str, size: int, wireless: bool) -> None:
        """:meth:`on_transmit` for a packet of ``size`` octets that :func:`classify` found to
        be signalling (``c``); a driver that classifies first (the simulator, per packet)
        calls it only then."""
        kind, src, dst = c
        if wireless:
            self.bytes_on_wireless += size
        if not sender_is_local(src):
            return
        if kind == "ESP":
            kind = "BU" if sender_role == "mobile-node" else "BA"
        self.by_type[kind] += 1
        if kind in ICMP_TYPES.values() or kind == "IKEv2":
            return  # to_* count Mobility Header messages only
        if dst in self._ha:
            self.to_home_agent += 1
        elif dst in self._cn:
            self.to_correspondents += 1
        elif dst in self._maps:
            self.to_maps += 1

    # -- the end of the run ------------------------------------------------------------------------

    def finish(self, sent: dict[int, int]) -> None:
        """Fill in first data, kinds and losses once the run is over. ``sent``: per flow,
        the probes that had time to arrive (``hmipv6.sim.traffic.settled_count``: those in
        flight at the end are not lost)."""
        per_mn: dict[str, list[HandoverRecord]] = {}
        for rec in self.handovers:
            per_mn.setdefault(rec.mn, []).append(rec)
        for mn, recs in per_mn.items():
            flows = self._flows_to.get(mn, [])
            for i, rec in enumerate(recs):
                nxt = recs[i + 1].l2_up if i + 1 < len(recs) else None
                if rec.kind is None:
                    if self.protocol == "mipv6" or (rec.ba_received is None and rec.home_ba_received):
                        rec.kind = "mipv6"
                    elif rec.map_changed:
                        rec.kind = "inter-domain"
                    else:
                        rec.kind = "intra-domain"
                if not flows:
                    continue
                firsts = [t for f in flows if (t := f.first_after(rec.l2_up)) is not None]
                first = min(firsts) if firsts else None
                if first is not None and nxt is not None and first >= nxt:
                    first = None
                rec.first_data = first
                since = rec.l2_down if rec.link else rec.l2_up
                if since is None:
                    rec.lost = 0
                    continue
                rec.lost = sum(f.lost_across(since, first, sent.get(f.index, 0))
                               for f in flows)

    def latency(self, rec: HandoverRecord) -> float | None:
        if rec.first_data is None:
            return None
        start = rec.l2_down if rec.l2_down is not None else rec.l2_up
        return rec.first_data - start

    def registration(self, rec: HandoverRecord) -> float | None:
        if rec.bu_sent is None:
            return None
        end = (rec.ba_received if rec.kind == "intra-domain" or rec.kind in FAST_KINDS
               else rec.home_ba_received)
        return None if end is None else end - rec.bu_sent


_HANDLERS: dict[type[Event], Callable[[Metrics, str, Any], None]] = {
    LinkChanged: Metrics._on_link_changed,
    BindingCacheUpdated: Metrics._on_cache_updated,
    BindingRemoved: Metrics._on_binding_removed,
    BindingAcknowledged: Metrics._on_ba,
    MapFailed: Metrics._on_map_health,
    MapRecovered: Metrics._on_map_health,
    FastBindingUpdateSent: Metrics._on_fast_event,
    FastBindingAcknowledged: Metrics._on_fast_event,
    UnsolicitedNeighborAdvertisementSent: Metrics._on_fast_event,
    MapSelected: Metrics._on_map_selected,
    RouterAdvertisementReceived: Metrics._on_ra,
    MovementDetected: Metrics._on_movement,
    CareOfAddressConfigured: Metrics._on_coa,
    BindingUpdateSent: Metrics._on_bu_sent,
    HandoverCompleted: Metrics._on_completed,
}
"""The handler of each event class :meth:`Metrics.on_event` reads."""
_READ: tuple[type[Event], ...] = tuple(_HANDLERS)
"""Every event class :meth:`Metrics.on_event` looks at."""
_IGNORED = frozenset(
    c for c in vars(_events_module).values()
    if isinstance(c, type) and issubclass(c, Event) and not issubclass(c, _READ))
"""Event classes :meth:`Metrics.on_event` only counts (a set lookup instead of a chain of
``isinstance``: the engines emit a PacketDropped for every frame a station overhears)."""
