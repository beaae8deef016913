"""The link model both worlds share: a transmitter, its queue, loss and delay, without a clock.

Theory of operation
-------------------
A packet handed to a :class:`Transmitter` starts transmitting when the transmitter is free
(FIFO) and takes ``size * 8 / bandwidth`` seconds to serialise. Packets waiting for it form a
finite queue of ``queue`` packets (the one being transmitted does not count); a packet finding
the queue full is tail-dropped. The queue is kept as the deque of finish times of accepted
packets: entries whose finish time has passed are gone, the head is in transmission, the rest
wait. :class:`Egress` adds a seeded loss draw (once per accepted packet; a lost packet still
occupies the transmitter) and the propagation ``delay`` after the last bit, and counts what
happened in :class:`LinkCounters`.

Nothing here owns a clock or schedules anything: the caller passes ``now`` and schedules the
arrival time it gets back. The simulator's links and cells (``sim.links``) use it with their
scheduler; the testbed's daemons (``net.daemon``) use it to shape their egress with asyncio's
timers.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from hmipv6.errors import LocalProtocolError

__all__ = ["Egress", "LinkCounters", "Transmitter"]


@dataclass(slots=True)
class LinkCounters:
    """What a link or cell did, per packet (or frame), in both directions together."""

    sent: int = 0
    """Accepted for transmission (includes those later lost)."""
    delivered: int = 0
    """Packets (frames, for a cell) that arrived."""
    bytes_sent: int = 0
    dropped_queue: int = 0
    """Tail drops: the queue was full."""
    dropped_loss: int = 0
    """Lost on the link (the seeded loss probability)."""
    dropped_down: int = 0
    """Sent while the link was down, or in flight when it went down."""
    dropped_detached: int = 0
    """Cells: sender not attached, or receiver detached before the frame arrived."""


class Transmitter:
    """One FIFO transmitter with a finite waiting queue (see the module docstring)."""

    __slots__ = ("bandwidth", "finishing", "queue")

    def __init__(self, bandwidth: float, queue: int) -> None:
        if bandwidth <= 0 or queue < 0:
            raise LocalProtocolError("bandwidth must be positive and queue not negative")
        self.bandwidth = bandwidth
        self.queue = queue
        self.finishing: deque[float] = deque()

    def admit(self, now: float, size: int) -> float | None:
        """The time the packet's last bit leaves, or ``None`` when the queue is full."""
        q = self.finishing
        while q and q[0] <= now:
            q.popleft()
        if len(q) > self.queue:
            return None
        finish = (q[-1] if q else now) + size * 8 / self.bandwidth
        q.append(finish)
        return finish


class Egress:
    """What a packet goes through from one sender (a wired link's direction, or a cell's
    medium): its :class:`Transmitter`, then the seeded loss draw, then ``delay``. Clock-
    agnostic: the caller says when (``now``) and schedules the arrival itself.

    The loss ``rng`` and the ``counters`` may be shared (a wired link's two directions share
    both, so its sends draw from one sequence, as they always did)."""

    __slots__ = ("counters", "delay", "loss", "rng", "tx")

    def __init__(self, tx: Transmitter, *, delay: float, loss: float, rng: random.Random,
                 counters: LinkCounters) -> None:
        if delay < 0 or not 0.0 <= loss <= 1.0:
            raise LocalProtocolError("delay must not be negative and loss must be in [0, 1]")
        self.tx = tx
        self.delay = delay
        self.loss = loss
        self.rng = rng
        self.counters = counters

    def send(self, now: float, size: int) -> float | None:
        """Offer a packet of ``size`` octets at ``now``: its arrival time at the other end(s);
        ``None`` when it is tail-dropped (``dropped_queue``); ``math.inf`` (it never arrives)
        when it is lost (``dropped_loss``: accepted, and it still occupies the transmitter)."""
        c = self.counters
        finish = self.tx.admit(now, size)
        if finish is None:
            c.dropped_queue += 1
            return None
        c.sent += 1
        c.bytes_sent += size
        if self.loss and self.rng.random() < self.loss:
            c.dropped_loss += 1
            return math.inf
        return finish + self.delay

    def clear(self) -> None:
        """Forget what is queued (the link went down)."""
        self.tx.finishing.clear()
