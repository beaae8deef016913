"""Traffic flows: constant-bit-rate datagrams and pings, and the sinks that measure them.

Theory of operation
-------------------
Every probe a flow sends carries, at the start of its payload, a 16-octet header
(:data:`PROBE`: flow id, sequence number, send time as a double) padded with zeros to the
flow's ``size``. A CBR flow carries it as a UDP datagram (:func:`cbr_datagram`: both ports
``CBR_PORT_BASE + flow id``); a ping flow as the data of ICMPv6 Echo Requests (identifier =
flow id, sequence = sequence number modulo 2**16; RFC 4443 §4.1), which the far end echoes back
unchanged (RFC 4443 §4.2) so the same header comes home in the reply.

A :class:`Source` is driven by the scheduler: the k-th probe leaves at ``start + k *
interval`` (computed, not accumulated, so no drift) for every such time before ``stop``. It
hands ``(sequence, payload)`` to an ``emit`` callback; the runner wraps the payload (UDP or
Echo Request) and gives it to the sending node. ``sent`` counts the probes emitted.

A :class:`Sink` sits where the probes arrive: at the destination for CBR, back at the source
for ping (it is fed the Echo Replies' data). It is built only from what arrives, never from
node internals, and computes the report's per-flow numbers (SCENARIO.md):

- ``received``: distinct sequence numbers that arrived;
- ``lost``: probes that had time to arrive and did not: those sent at least :data:`DRAIN`
  before the end of the run (:func:`settled_count`) that never arrived;
- ``in_flight``: probes sent in the last :data:`DRAIN` of the run that had not arrived when
  it ended: not counted as lost (a flow whose ``stop`` is the end of the run, as after
  ``--duration``, would otherwise lose the packets still on their way). ``sent = received +
  lost + in_flight``;
- ``duplicated``: arrivals of a sequence number already received;
- ``reordered``: new sequence numbers arriving after a higher one had;
- ``max_gap``: the longest time between two consecutive arrivals (``None`` with fewer than
  two), which a handover's outage dominates;
- ``delay_mean`` / ``delay_max``: one-way delay for CBR, round-trip time for ping.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hmipv6.sim.scheduler import Scheduler
from hmipv6.wire.udp import UDP

__all__ = ["CBR_PORT_BASE", "DRAIN", "PROBE", "FlowSpec", "FlowStats", "Probe", "Sink",
           "Source", "cbr_datagram", "decode_probe", "echo_fields", "encode_probe",
           "settled_count"]

DRAIN = 1.0
"""Seconds a probe is given to arrive before the end of the run: one sent later that has not
arrived is in flight, not lost (far above the one-way delays of the scenarios, handovers
included; a loss in the last second of a run is reported as in flight)."""

PROBE = struct.Struct("!IId")
"""Flow id (u32), sequence number (u32), send time in simulated seconds (IEEE double)."""
CBR_PORT_BASE = 50000


class FlowSpec(Protocol):
    """What a source and a sink need of a flow (``hmipv6.sim.scenario.Flow`` has it)."""

    @property
    def index(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def interval(self) -> float: ...
    @property
    def size(self) -> int: ...
    @property
    def start(self) -> float: ...
    @property
    def stop(self) -> float: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """The header of an arriving probe."""

    flow: int
    sequence: int
    sent_at: float


def encode_probe(flow: int, sequence: int, sent_at: float, size: int) -> bytes:
    """A probe payload of ``max(size, 16)`` octets."""
    head = PROBE.pack(flow, sequence & 0xFFFFFFFF, sent_at)
    return head + bytes(size - PROBE.size) if size > PROBE.size else head


def decode_probe(data: bytes) -> Probe | None:
    """The probe header at the start of ``data``, or ``None`` if too short to hold one."""
    if len(data) < PROBE.size:
        return None
    flow, seq, sent_at = PROBE.unpack_from(data)
    return Probe(flow=flow, sequence=seq, sent_at=sent_at)


def cbr_datagram(flow: int, payload: bytes) -> UDP:
    """The UDP datagram carrying a CBR probe."""
    port = CBR_PORT_BASE + flow
    return UDP(port, port, payload)


def echo_fields(flow: int, sequence: int) -> tuple[int, int]:
    """Identifier and sequence number of a ping probe's Echo Request (16 bits each)."""
    return flow & 0xFFFF, sequence & 0xFFFF


def settled_count(flow: FlowSpec, end: float, sent: int, drain: float = DRAIN) -> int:
    """How many of the ``sent`` probes of ``flow`` left at least ``drain`` seconds before
    ``end`` (the probes that had time to arrive): those ``k`` with ``start + k * interval <
    min(stop, end - drain)``, the times :class:`Source` sends at."""
    limit = min(flow.stop, end - drain)
    if limit <= flow.start:
        return 0
    n = math.ceil((limit - flow.start) / flow.interval)
    while n > 0 and flow.start + (n - 1) * flow.interval >= limit:
        n -= 1
    while flow.start + n * flow.interval < limit:
        n += 1
    return min(n, sent)


class Source:
    """Emits a flow's probes at ``start + k * interval`` until ``stop``."""

    def __init__(self, scheduler: Scheduler, flow: FlowSpec,
                 emit: Callable[[int, bytes], object]) -> None:
        """``emit(sequence: int, payload: bytes)`` sends one probe."""
        self.scheduler = scheduler
        self.flow = flow
        self.emit = emit
        self.sent = 0
        self._k = 0
        self.running = False

    def start(self) -> None:
        """Schedule the first probe (call once, at or before ``flow.start``)."""
        self.running = True
        at = max(self.flow.start, self.scheduler.now)
        if at < self.flow.stop:
            self.scheduler.schedule(at, self._fire)

    def halt(self) -> None:
        """Stop sending (a crashed sender); probes not yet sent are never sent."""
        self.running = False

    def _fire(self) -> None:
        if not self.running:
            return
        f = self.flow
        seq = self._k
        self._k += 1
        self.sent += 1
        self.emit(seq, encode_probe(f.index, seq, self.scheduler.now, f.size))
        nxt = f.start + self._k * f.interval
        if nxt < f.stop:
            self.scheduler.schedule(nxt, self._fire)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowStats:
    sent: int
    received: int
    lost: int
    duplicated: int
    reordered: int
    max_gap: float | None
    delay_mean: float | None
    delay_max: float | None
    in_flight: int = 0
    """Sent in the last :data:`DRAIN` of the run and not arrived: not counted in ``lost``."""

    def as_report(self, *, src: str, dst: str, kind: str) -> dict[str, object]:
        """The flow's entry of ``report.json`` (format version 1 keys first)."""
        return {"from": src, "to": dst, "kind": kind, "sent": self.sent,
                "received": self.received, "lost": self.lost, "duplicated": self.duplicated,
                "reordered": self.reordered, "max_gap": self.max_gap,
                "delay_mean": self.delay_mean, "delay_max": self.delay_max,
                "in_flight": self.in_flight}


class Sink:
    """Counts one flow's arriving probes (see the module docstring)."""

    def __init__(self, flow: int) -> None:
        self.flow = flow
        self._seen: set[int] = set()
        self._highest = -1
        self.duplicated = 0
        self.reordered = 0
        self.arrivals: list[float] = []
        """Times of the first arrival of each sequence number, in arrival order."""
        self._last_arrival: float | None = None
        self._max_gap: float | None = None
        self._delay_sum = 0.0
        self._delay_max: float | None = None

    def receive(self, now: float, payload: bytes) -> bool:
        """Account for an arriving probe payload; False if it is not one of this flow's."""
        probe = decode_probe(payload)
        return probe is not None and self.receive_probe(now, probe)

    def receive_probe(self, now: float, probe: Probe) -> bool:
        """:meth:`receive` for a payload its caller has already decoded (``decode_probe``)."""
        if probe.flow != self.flow:
            return False
        seq = probe.sequence
        if self._last_arrival is not None:
            gap = now - self._last_arrival
            if self._max_gap is None or gap > self._max_gap:
                self._max_gap = gap
        self._last_arrival = now
        if seq in self._seen:
            self.duplicated += 1
            return True
        self._seen.add(seq)
        if seq < self._highest:
            self.reordered += 1
        else:
            self._highest = seq
        self.arrivals.append(now)
        delay = now - probe.sent_at
        self._delay_sum += delay
        if self._delay_max is None or delay > self._delay_max:
            self._delay_max = delay
        return True

    @property
    def received(self) -> int:
        return len(self._seen)

    def first_arrival_after(self, t: float) -> float | None:
        """When the first new probe arrived strictly after ``t`` (a handover's first data)."""
        i = bisect_right(self.arrivals, t)
        return self.arrivals[i] if i < len(self.arrivals) else None

    def stats(self, sent: int, settled: int | None = None) -> FlowStats:
        """The numbers of the report, given how many probes the source sent and how many of
        them had time to arrive (:func:`settled_count`; all of them when ``None``)."""
        n = len(self._seen)
        settled = sent if settled is None else min(settled, sent)
        arrived_settled = sum(1 for q in self._seen if q < settled)
        lost = max(settled - arrived_settled, 0)
        in_flight = max(sent - settled - (n - arrived_settled), 0)
        return FlowStats(sent=sent, received=n, lost=lost, in_flight=in_flight,
                         duplicated=self.duplicated, reordered=self.reordered,
                         max_gap=self._max_gap, delay_mean=self._delay_sum / n if n else None,
                         delay_max=self._delay_max)
