"""Rate limiting of the errors a node originates (time comes in as ``now``).

RFC 4443 §2.4 (f): "an IPv6 node MUST limit the rate of ICMPv6 error messages it
originates", recommending a token bucket; RFC 6275 §9.3.3: "Binding Error messages SHOULD be
subject to rate limiting in the same manner as is done for ICMPv6 messages".
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; :meth:`take` spends one."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None

    def take(self, now: float) -> bool:
        if self._last is not None and now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        if self._last is None or now > self._last:
            self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
