"""Named deadlines: one small set per node; ``next_timer()`` is their minimum.

Names are strings such as ``"bu:local:2001:db8::1"`` or ``"ra"``; setting a name again moves
its deadline. Expired names come out ordered by (deadline, name), so equal deadlines fire in
a deterministic order.
"""

from __future__ import annotations

__all__ = ["TimerSet"]


class TimerSet:
    __slots__ = ("_deadlines", "_min")

    def __init__(self) -> None:
        self._deadlines: dict[str, float] = {}
        self._min: float | None = None

    def set(self, name: str, at: float) -> None:
        old = self._deadlines.get(name)
        self._deadlines[name] = at
        if self._min is None or at < self._min:
            self._min = at
        elif old == self._min and at > old:
            # Moved the earliest deadline later: the minimum is another one now.
            self._min = min(self._deadlines.values())

    def cancel(self, name: str) -> None:
        at = self._deadlines.pop(name, None)
        if at is not None and at == self._min:
            self._min = min(self._deadlines.values(), default=None)

    def get(self, name: str) -> float | None:
        return self._deadlines.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._deadlines

    def __len__(self) -> int:
        return len(self._deadlines)

    def next(self) -> float | None:
        return self._min

    def pop_due(self, now: float) -> list[str]:
        """Remove and return the names whose deadline is ``<= now``."""
        if self._min is None or self._min > now:
            return []
        due = sorted((at, n) for n, at in self._deadlines.items() if at <= now)
        for _, n in due:
            del self._deadlines[n]
        self._min = min(self._deadlines.values(), default=None)
        return [n for _, n in due]
