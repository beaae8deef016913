"""Named deadlines: one small set per node; ``next_timer()`` is their minimum.

Names are strings such as ``"bu:local:2001:db8::1"`` or ``"ra"``; setting a name again moves
its deadline. Expired names come out ordered by (deadline, name), so equal deadlines fire in
a deterministic order.
"""

from __future__ import annotations

__all__ = ["TimerSet"]


class TimerSet:
    __slots__ = ("_deadlines", "earliest")

    def __init__(self) -> None:
        self._deadlines: dict[str, float] = {}
        self.earliest: float | None = None
        """The earliest deadline (None: none), kept on every change: read it, never assign it
        (the engines' ``idle`` check reads it per packet, without a call)."""

    def set(self, name: str, at: float) -> None:
        old = self._deadlines.get(name)
        self._deadlines[name] = at
        if self.earliest is None or at < self.earliest:
            self.earliest = at
        elif old == self.earliest and at > old:
            # Moved the earliest deadline later: the minimum is another one now.
            self.earliest = min(self._deadlines.values())

    def cancel(self, name: str) -> None:
        at = self._deadlines.pop(name, None)
        if at is not None and at == self.earliest:
            self.earliest = min(self._deadlines.values(), default=None)

    def get(self, name: str) -> float | None:
        return self._deadlines.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._deadlines

    def __len__(self) -> int:
        return len(self._deadlines)

    def pop_due(self, now: float) -> list[str]:
        """Remove and return the names whose deadline is ``<= now``."""
        if self.earliest is None or self.earliest > now:
            return []
        due = sorted((at, n) for n, at in self._deadlines.items() if at <= now)
        for _, n in due:
            del self._deadlines[n]
        self.earliest = min(self._deadlines.values(), default=None)
        return [n for _, n in due]
