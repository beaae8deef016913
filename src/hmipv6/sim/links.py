"""Simulated links: wired point-to-point links and wireless cells, carrying encoded packets.

Theory of operation
-------------------
A :class:`WiredLink` joins two nodes. Each direction has its own transmitter: a packet handed
to :meth:`WiredLink.send` starts transmitting when the transmitter is free (FIFO), takes
``len(data) * 8 / bandwidth`` seconds to serialise, and arrives ``delay`` seconds after its
last bit left. Packets waiting for the transmitter form a finite queue of ``queue`` packets
(the one being transmitted does not count); a packet finding the queue full is tail-dropped
and counted. Loss is drawn once per accepted packet from the link's own ``random.Random``
(seeded by the caller), so the same seed and the same sequence of sends lose the same
packets; a lost packet still occupies the transmitter. The queue is kept as the deque of
finish times of accepted packets: entries whose finish time has passed are gone, the head is
in transmission, the rest wait. Nothing is scheduled until a packet's arrival time.

A :class:`Cell` is the wireless access of one access router: one shared medium (a single
transmitter and queue for every station, the router included, half-duplex as in 802.11),
with stations attached and detached over time. A frame goes to one station (``to``) or, when
``to`` is ``None`` (multicast such as Router Advertisements), to every other attached station.
Loss is drawn once per frame. A frame reaches a station only if that station is still
attached, in the same attachment, when the frame arrives; otherwise it is counted as
``dropped_detached``. :class:`Radio` is a mobile node's side: ``move(cell)`` detaches from the
current cell at once and attaches to the new one after the link-layer handover gap, calling
the ``on_down`` / ``on_up`` hooks the runner uses to tell the engine (``link_down`` /
``link_up``).

Links go down and up (:meth:`WiredLink.set_up`, :meth:`Cell.set_up`): packets sent while down
are dropped, and packets in flight when a link goes down are lost (counted ``dropped_down``).

The per-packet model (FIFO transmitter, finite queue, seeded loss, propagation delay) is
:class:`~hmipv6.sim.linkmodel.Egress`, which owns no clock: the simulator's links schedule its
arrivals on their :class:`~hmipv6.sim.scheduler.Scheduler`; the testbed's daemons
(``net.daemon``) apply the same model to each frame they transmit, with asyncio's timers.

Taps: every link and cell has a ``taps`` list of ``tap(time, data)`` callables, called once for
each packet or frame that arrives, at its arrival time, before it is handed to receivers. So
a tap sees time-ordered packets as a capture at the receiving end would; :func:`pcap_tap`
adapts a :class:`~hmipv6.wire.pcap.PcapWriter`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial

from hmipv6.errors import LocalProtocolError
from hmipv6.sim.linkmodel import Egress, LinkCounters, Transmitter
from hmipv6.sim.scheduler import URGENT, Scheduler, TimerHandle
from hmipv6.wire.pcap import PcapWriter

__all__ = ["Cell", "Egress", "Fanout", "LinkCounters", "Radio", "Receiver", "Stations", "Tap",
           "Transmitter", "WiredLink", "pcap_tap"]

Tap = Callable[[float, bytes], object]
"""``tap(time, data)``: called for each packet that arrives."""
Receiver = Callable[[bytes], object]
"""``receiver(data)``: hands an arriving packet to a node's interface (time is the clock's)."""
Stations = tuple[tuple[str, tuple[Receiver, int]], ...]
"""A cell's stations as (station, (receiver, attachment number)) pairs, in attachment order."""
Fanout = Callable[[str | None, Stations, bytes], object]
"""``fanout(skip, stations, data)``: see :attr:`Cell.fanout`."""


def pcap_tap(writer: PcapWriter) -> Tap:
    """A tap writing each packet to a pcap file (raw IPv6 records)."""
    def tap(time: float, data: bytes) -> None:
        writer.write(data, time)

    return tap


class WiredLink:
    """A point-to-point link between nodes ``a`` and ``b`` (see the module docstring)."""

    def __init__(self, scheduler: Scheduler, a: str, b: str, *, delay: float, bandwidth: float,
                 queue: int = 100, loss: float = 0.0, rng: random.Random | None = None,
                 name: str | None = None) -> None:
        if a == b:
            raise LocalProtocolError("a link needs two different ends")
        self.scheduler = scheduler
        self.name = name if name is not None else f"{a}-{b}"
        self.ends = (a, b)
        self.delay = delay
        self.loss = loss
        self.rng = rng if rng is not None else random.Random(0)
        self.up = True
        self.counters = LinkCounters()
        self.taps: list[Tap] = []
        self._tx = {end: Egress(Transmitter(bandwidth, queue), delay=delay, loss=loss,
                                rng=self.rng, counters=self.counters) for end in (a, b)}
        self._peer = {a: b, b: a}
        self._egress = {a: (self._tx[a], b), b: (self._tx[b], a)}
        """Each end's transmitter and the other end, for :meth:`send` (one lookup)."""
        self._receivers: dict[str, Receiver] = {}
        self._epoch = 0

    def connect(self, end: str, receiver: Receiver) -> None:
        """Hand packets arriving at ``end`` to ``receiver``."""
        if end not in self._peer:
            raise LocalProtocolError(f"{end!r} is not an end of link {self.name}")
        self._receivers[end] = receiver

    def send(self, sender: str, data: bytes) -> bool:
        """Transmit from ``sender`` to the other end; False when dropped at once (queue full,
        link down). A True packet may still be lost on the way."""
        c = self.counters
        if not self.up:
            c.dropped_down += 1
            return False
        tx, peer = self._egress[sender]
        at = tx.send(self.scheduler.now, len(data))
        if at is None or at == math.inf:
            return at is not None  # tail drop: refused; lost on the way: accepted
        self.scheduler.schedule(at, partial(self._arrive, peer, self._epoch, data))
        return True

    def _arrive(self, end: str, epoch: int, data: bytes) -> None:
        if epoch != self._epoch:
            self.counters.dropped_down += 1
            return
        self.counters.delivered += 1
        now = self.scheduler.now
        for tap in self.taps:
            tap(now, data)
        receiver = self._receivers.get(end)
        if receiver is not None:
            receiver(data)

    def set_up(self, up: bool) -> None:
        """Bring the link down (losing what is queued and in flight) or back up."""
        if up == self.up:
            return
        self.up = up
        if not up:
            self._epoch += 1
            for tx in self._tx.values():
                tx.clear()


class Cell:
    """The shared wireless medium of one access router (see the module docstring)."""

    def __init__(self, scheduler: Scheduler, router: str, *, delay: float, bandwidth: float,
                 queue: int = 100, loss: float = 0.0, rng: random.Random | None = None,
                 name: str | None = None) -> None:
        self.scheduler = scheduler
        self.router = router
        self.name = name if name is not None else f"cell-{router}"
        self.delay = delay
        self.loss = loss
        self.rng = rng if rng is not None else random.Random(0)
        self.up = True
        self.counters = LinkCounters()
        self.taps: list[Tap] = []
        self._tx = Egress(Transmitter(bandwidth, queue), delay=delay, loss=loss, rng=self.rng,
                          counters=self.counters)
        self._stations: dict[str, tuple[Receiver, int]] = {}
        self._attached: Stations = ()
        """``_stations`` as (station, entry) pairs in attachment order, rebuilt on attach and
        detach only: a multicast frame keeps this immutable snapshot (instead of a copy of
        the dict per frame) as the stations it may reach."""
        self._attachments = 0
        self._epoch = 0
        self.fanout: Fanout | None = None
        """The driver's own delivery of a frame to the stations it reaches (``fanout(skip,
        targets, data)``: every station of ``targets`` but ``skip``, in order, each by its
        receiver or as the driver knows to be equivalent) when none of them attached or left
        since the frame was sent; None: each station's receiver in turn."""

    @property
    def stations(self) -> tuple[str, ...]:
        """Attached stations, in attachment order (the router first)."""
        return tuple(self._stations)

    def is_attached(self, station: str) -> bool:
        return station in self._stations

    def attach(self, station: str, receiver: Receiver) -> None:
        """``station`` joins the cell; frames sent from now on can reach it."""
        if station in self._stations:
            raise LocalProtocolError(f"{station!r} is already attached to {self.name}")
        self._attachments += 1
        self._stations[station] = (receiver, self._attachments)
        self._attached = tuple(self._stations.items())

    def detach(self, station: str) -> None:
        """``station`` leaves; frames still on their way to it are lost."""
        if self._stations.pop(station, None) is None:
            raise LocalProtocolError(f"{station!r} is not attached to {self.name}")
        self._attached = tuple(self._stations.items())

    def send(self, sender: str, data: bytes, to: str | None = None) -> bool:
        """Transmit a frame from an attached station to ``to`` (or every other station)."""
        c = self.counters
        if not self.up:
            c.dropped_down += 1
            return False
        if sender not in self._stations or (to is not None and to not in self._stations):
            c.dropped_detached += 1
            return False
        at = self._tx.send(self.scheduler.now, len(data))
        if at is None or at == math.inf:
            return at is not None  # tail drop: refused; lost on the way: accepted
        # The stations attached now (each entry is one attachment's own tuple), in order.
        if to is None:
            targets, skip = self._attached, sender
        else:
            targets, skip = ((to, self._stations[to]),), None
        self.scheduler.schedule(at, partial(self._arrive, skip, targets, self._epoch, data))
        return True

    def _arrive(self, skip: str | None, targets: Stations, epoch: int, data: bytes) -> None:
        c = self.counters
        if epoch != self._epoch:
            c.dropped_down += 1
            return
        c.delivered += 1
        now = self.scheduler.now
        for tap in self.taps:
            tap(now, data)
        if targets is self._attached:
            # No station attached or left since the frame was sent (the snapshot is rebuilt
            # on every change): each entry is current.
            if self.fanout is not None:
                self.fanout(skip, targets, data)
                return
            for station, entry in targets:
                if station != skip:  # a multicast frame does not come back to its sender
                    entry[0](data)
            return
        get = self._stations.get
        for station, entry in targets:
            if station == skip:
                continue
            if get(station) is not entry:  # detached since, or attached again
                c.dropped_detached += 1
                continue
            entry[0](data)

    def set_up(self, up: bool) -> None:
        """Switch the access point off (losing frames queued and in flight) or on."""
        if up == self.up:
            return
        self.up = up
        if not up:
            self._epoch += 1
            self._tx.clear()


class Radio:
    """A mobile node's wireless interface: at most one cell at a time.

    ``on_down()`` is called when it detaches, ``on_up(cell)`` when it has attached; both run
    inside the scheduler at the simulated time of the change.
    """

    def __init__(self, scheduler: Scheduler, station: str, receiver: Receiver, *,
                 on_down: Callable[[], object] | None = None,
                 on_up: Callable[[Cell], object] | None = None) -> None:
        self.scheduler = scheduler
        self.station = station
        self.receiver = receiver
        self.on_down = on_down
        self.on_up = on_up
        self.cell: Cell | None = None
        self._pending: TimerHandle | None = None
        self.target: Cell | None = None
        """The cell being attached to during a handover gap."""

    def move(self, to: Cell | None, gap: float) -> None:
        """Leave the current cell now and, unless ``to`` is None, join ``to`` after ``gap``
        seconds (at once when not attached anywhere before: an initial attachment)."""
        in_gap = self._pending is not None
        if self._pending is not None:
            self.scheduler.cancel(self._pending)
            self._pending = None
            self.target = None
        initial = self.cell is None and not in_gap
        if self.cell is not None:
            if self.cell.is_attached(self.station):
                self.cell.detach(self.station)
            self.cell = None
            if self.on_down is not None:
                self.on_down()
        if to is None:
            return
        self.target = to
        if initial:
            self._attach(to)
        else:
            self._pending = self.scheduler.schedule(self.scheduler.now + gap,
                                                    partial(self._attach, to), URGENT)

    def _attach(self, cell: Cell) -> None:
        self._pending = None
        self.target = None
        cell.attach(self.station, self.receiver)
        self.cell = cell
        if self.on_up is not None:
            self.on_up(cell)

    def send(self, data: bytes, to: str | None = None) -> bool:
        """Transmit in the current cell (to its router when ``to`` is the router's name);
        False while detached."""
        if self.cell is None:
            return False
        return self.cell.send(self.station, data, to)
