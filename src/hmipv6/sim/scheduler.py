"""The simulator's clock: a deterministic discrete-event scheduler (after SimPy's ``core.py``).

Theory of operation
-------------------
One binary heap holds every pending event as a list ``[time, priority, seq, callback]``.
Python compares these element-wise in C, so the heap orders events by time, then priority
(lower runs first), then ``seq``, a counter that grows with every ``schedule`` call. Because
``seq`` is unique the comparison never reaches the callback, and two events due at the same
time with the same priority run in the order they were scheduled: the same program with the
same seed replays the same run, event for event.

Cancelling is lazy: :meth:`Scheduler.cancel` clears the entry's callback, and the run loop
skips cleared entries when they reach the top. When cleared entries outnumber live ones the
heap is compacted, so a driver that re-arms a node's timer on every packet does not grow the
heap without bound.

Callbacks take no arguments (bind them with a method, a closure or ``functools.partial``)
and read the time from :attr:`Scheduler.now`. Protocol logic never runs as generator
processes; this module only calls back. An exception raised by a callback propagates out of
:meth:`Scheduler.step` or :meth:`Scheduler.run` unchanged (it is a bug), with ``now`` left at
the failing event's time.

``run(until=t)`` runs every event due strictly before ``t`` and then sets ``now`` to ``t``
(SimPy's convention), so a 20 s scenario covers ``[0, 20)`` and a second ``run`` continues
where the first stopped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from typing import Any, Final, TypeAlias

from hmipv6.errors import LocalProtocolError

__all__ = ["LATE", "NORMAL", "URGENT", "Callback", "Scheduler", "TimerHandle"]

Callback = Callable[[], object]

URGENT: Final = 0
"""Priority of topology changes (faults, moves): they take effect before packets due then."""
NORMAL: Final = 1
"""Priority of packet deliveries and node timers (the default)."""
LATE: Final = 2
"""Priority of work that should see everything else due at the same time (metrics samples)."""

_COMPACT_MIN = 1024


TimerHandle: TypeAlias = list[Any]
"""A scheduled event as returned by :meth:`Scheduler.schedule`: the heap entry itself
(allocating a wrapper per event would cost a third of the scheduler's speed). Treat it as
opaque: pass it to :meth:`Scheduler.cancel`, ask :meth:`Scheduler.is_pending`, and read
``handle[0]`` for its time."""


class Scheduler:
    """A heap of ``(time, priority, seq, callback)``; see the module docstring.

    ``now`` is a plain attribute for speed: read it, never assign it.
    """

    __slots__ = ("_cancelled", "_heap", "_seq", "events_run", "now")

    def __init__(self, start: float = 0.0) -> None:
        self.now: float = start
        """Current simulated time in seconds."""
        self.events_run = 0
        """Callbacks run so far (cancelled events are not counted)."""
        self._heap: list[list[Any]] = []
        self._seq = itertools.count()
        self._cancelled = 0

    # -- scheduling ------------------------------------------------------------------------

    def schedule(self, at: float, callback: Callback, priority: int = NORMAL) -> TimerHandle:
        """Run ``callback()`` at time ``at`` (not before ``now``)."""
        if at < self.now:
            raise LocalProtocolError(f"cannot schedule at {at!r}, before now ({self.now!r})")
        entry = [at, priority, next(self._seq), callback]
        heappush(self._heap, entry)
        return entry

    def call_later(self, delay: float, callback: Callback, priority: int = NORMAL) -> TimerHandle:
        """Run ``callback()`` ``delay`` seconds from now."""
        return self.schedule(self.now + delay, callback, priority)

    def cancel(self, handle: TimerHandle) -> bool:
        """Cancel a pending event; False if it already ran or was cancelled."""
        if handle[3] is None:
            return False
        handle[3] = None
        self._cancelled += 1
        heap = self._heap
        if self._cancelled > _COMPACT_MIN and self._cancelled * 2 > len(heap):
            heap[:] = [e for e in heap if e[3] is not None]
            heapify(heap)
            self._cancelled = 0
        return True

    @staticmethod
    def is_pending(handle: TimerHandle) -> bool:
        """True until the event has run or been cancelled."""
        return handle[3] is not None

    # -- running ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Number of events still to run."""
        return len(self._heap) - self._cancelled

    def peek(self) -> float:
        """Time of the next event to run, or ``inf`` when there is none."""
        heap = self._heap
        while heap and heap[0][3] is None:
            heappop(heap)
            self._cancelled -= 1
        return heap[0][0] if heap else float("inf")

    def step(self) -> bool:
        """Run the next event; False when there was none."""
        heap = self._heap
        while heap:
            entry = heappop(heap)
            callback = entry[3]
            if callback is None:
                self._cancelled -= 1
                continue
            entry[3] = None
            self.now = entry[0]
            self.events_run += 1
            callback()
            return True
        return False

    def run(self, until: float | None = None) -> None:
        """Run events in order until none is left, or until the next is due at or after
        ``until`` (then ``now`` becomes ``until``)."""
        heap = self._heap
        pop = heappop
        ran = 0
        try:
            if until is None:
                while heap:
                    entry = pop(heap)
                    callback = entry[3]
                    if callback is None:
                        self._cancelled -= 1
                        continue
                    entry[3] = None
                    self.now = entry[0]
                    ran += 1
                    callback()
                return
            if until < self.now:
                raise LocalProtocolError(f"run(until={until!r}) is before now ({self.now!r})")
            while heap and heap[0][0] < until:
                entry = pop(heap)
                callback = entry[3]
                if callback is None:
                    self._cancelled -= 1
                    continue
                entry[3] = None
                self.now = entry[0]
                ran += 1
                callback()
            self.now = until
        finally:
            self.events_run += ran
