"""The anti-replay window of RFC 4303 §3.4.3 (and RFC 4302 §3.4.3, which is the same).

Theory of operation
-------------------
A receiver remembers the highest sequence number it has accepted (the right edge) and, as a
bitmap, which of the ``size`` numbers at and below the right edge it has seen. A packet is
checked twice: :meth:`ReplayWindow.check` before the ICV is verified (cheap rejection of
duplicates and of numbers left of the window), and :meth:`ReplayWindow.accept` only after the
ICV has verified, because RFC 4303 §3.4.3 says the window "MUST" only be updated once the
integrity check has succeeded (otherwise a forged packet could move the window).

Bit ``i`` of the bitmap stands for sequence number ``right - i``. Sequence number 0 is never
sent (the first packet of an SA carries 1, RFC 4303 §2.2), so it is always rejected.
Extended (64-bit) sequence numbers are not used by this project.
"""

from __future__ import annotations

__all__ = ["MAX_SEQUENCE", "ReplayWindow"]

MAX_SEQUENCE = 0xFFFFFFFF
"""The last 32-bit sequence number an SA may send (RFC 4303 §3.3.3)."""


class ReplayWindow:
    """A sliding anti-replay window of ``size`` packets (default 64, RFC 4303 §3.4.3)."""

    __slots__ = ("_mask", "bitmap", "right", "size")

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ValueError("window size must be positive")
        self.size = size
        self.right = 0
        """The highest sequence number accepted so far."""
        self.bitmap = 0
        self._mask = (1 << size) - 1

    def check(self, seq: int) -> bool:
        """May a packet with sequence number ``seq`` be new? (Does not change the window.)"""
        if seq == 0:
            return False
        if seq > self.right:
            return True
        offset = self.right - seq
        if offset >= self.size:
            return False
        return not (self.bitmap >> offset) & 1

    def accept(self, seq: int) -> None:
        """Record ``seq`` as received; call only after the ICV verified and :meth:`check`."""
        if seq > self.right:
            shift = seq - self.right
            self.bitmap = ((self.bitmap << shift) | 1) & self._mask if shift < self.size else 1
            self.right = seq
        else:
            self.bitmap |= 1 << (self.right - seq)
