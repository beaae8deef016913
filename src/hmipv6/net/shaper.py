"""One interface's link emulation at its sender, shared by the daemons and the link relays.

Theory of operation
-------------------
A :class:`Shaper` is the simulator's link model (:class:`hmipv6.sim.linkmodel.Egress`: a FIFO
transmitter serialising at the link's bandwidth, a finite queue with tail drop, a seeded loss
draw, then the propagation delay) driven by asyncio's clock: :meth:`Shaper.offer` asks the
model when a frame arrives, keeps the frame in a FIFO, and one ``loop.call_at`` timer per
interface hands every frame whose arrival time has come to ``transmit`` (the sender's
``send`` or ``sendto`` on its ``AF_PACKET`` socket). The veth then carries it in microseconds. A daemon
(:mod:`hmipv6.net.daemon`) shapes what its engine sends; a kernel node's relay
(:mod:`hmipv6.net.relay`) shapes what the kernel sends. Both build their models with
:func:`egress_models`, so a link is emulated the same way whichever kind of node sends on it.

Times are seconds since the run's origin ``t0`` (a ``time.monotonic()`` value, the same in
every namespace). Timer lateness adds to, never subtracts from, the emulated delay.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

from hmipv6.sim.linkmodel import Egress, LinkCounters, Transmitter
from hmipv6.sim.scenario import Scenario

__all__ = ["Shaper", "egress_models"]


class Shaper:
    """One interface's egress: the link model and the FIFO of frames waiting for their
    arrival time, drained by one asyncio timer (module docstring). ``transmit(frame, mac)``
    sends one frame now and says whether the kernel took it."""

    __slots__ = ("egress", "loop", "pending", "timer", "transmit")

    def __init__(self, egress: Egress, loop: asyncio.AbstractEventLoop,
                 transmit: Callable[[bytes, bytes], bool]) -> None:
        self.egress = egress
        self.loop = loop
        self.transmit = transmit
        self.pending: deque[tuple[float, bytes, bytes]] = deque()
        """(arrival, frame, destination MAC), in order."""
        self.timer: asyncio.TimerHandle | None = None

    def offer(self, t0: float, now: float, data: bytes, mac: bytes = b"",
              size: int | None = None) -> None:
        """``data`` leaves at ``now``: queue it for its arrival time, or count it tail-dropped
        or lost (the model's counters). ``size``: the octets the model serialises, by default
        ``len(data)``; the IPv6 packet's, as in the simulator, for daemons and relays alike."""
        at = self.egress.send(now, len(data) if size is None else size)
        if at is None or at == math.inf:
            return
        self.pending.append((at, data, mac))
        if self.timer is None:
            self.timer = self.loop.call_at(t0 + at, self._drain, t0)

    def _drain(self, t0: float) -> None:
        """Hand the kernel every frame whose arrival time has come."""
        self.timer = None
        q = self.pending
        due = time.monotonic() - t0
        while q and q[0][0] <= due:
            _, data, mac = q.popleft()
            if self.transmit(data, mac):
                self.egress.counters.delivered += 1
        if q:
            self.timer = self.loop.call_at(t0 + q[0][0], self._drain, t0)

    def drop_pending(self) -> None:
        """The link went down: what is queued or in flight is lost."""
        self.egress.counters.dropped_down += len(self.pending)
        self.pending.clear()
        self.egress.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def egress_models(sc: Scenario, name: str,
                  ports: Iterable[tuple[str, str, str | None]]) -> dict[str, Egress]:
    """The link model of each of ``name``'s ports, given as ``(key, engine interface, cell)``
    (``key`` names the result's entry, usually the kernel interface): a wired link's
    parameters for its end, the cell's for an access router's ``wlan0`` and a mobile node's
    cell ends. The loss draws are seeded ``"{seed}/link/<link>/<node>"``, one sequence per
    sender."""
    out: dict[str, Egress] = {}
    for kernel, engine, cell in ports:
        if cell is not None or engine == "wlan0":
            ar = cell if cell is not None else name
            c = next(c for c in sc.cells if c.router == ar)
            key, delay, bandwidth, queue, loss = c.key, c.delay, c.bandwidth, c.queue, c.loss
        else:
            link = next(lk for lk in sc.links
                        if any(n == name and i == engine
                               for n, i in zip(lk.between, lk.ifnames, strict=True)))
            key, delay, bandwidth = link.key, link.delay, link.bandwidth
            queue, loss = link.queue, link.loss
        out[kernel] = Egress(Transmitter(bandwidth, queue), delay=delay, loss=loss,
                             rng=random.Random(f"{sc.seed}/link/{key}/{name}"),
                             counters=LinkCounters())
    return out
