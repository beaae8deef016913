"""The mobile node's Binding Update List (RFC 6275 §11.1) with retransmission state (§11.8).

Theory of operation
-------------------
One entry per (destination, home address) pair: a MAP binding an RCoA (``"local"``, or
``"previous-map"`` for the one-off update of RFC 4140 §8), the home agent binding the home
address (``"home"``), a correspondent binding the home address (``"correspondent"``). An entry
remembers the Binding Update last sent (sequence number, care-of address, requested lifetime,
time sent), whether it is still *pending* (no acceptable Binding Acknowledgement yet) or
*acked*, and the lifetime granted.

Sequence numbers are per destination (RFC 6275 §11.1: "the maximum value of the Sequence
Number field sent in previous Binding Updates to this destination") and 16-bit modular; every
transmission, retransmissions included, takes a fresh one (RFC 6275 §11.8: "Retransmitted
Binding Updates MUST use a Sequence Number value greater than that used for the previous
transmission"). The initial value is drawn from the node's ``Random``.

Retransmission (RFC 6275 §11.8): the first timeout is InitialBindackTimeoutFirstReg (1.5 s,
§13) when the destination holds no binding for us yet ("does not have an existing binding at
the home agent"; applied to MAPs too, which run DAD for a new RCoA like an HA for a home
address, RFC 4140 §6.1), otherwise INITIAL_BINDACK_TIMEOUT (1 s, §12); "the timeout period is
doubled upon each retransmission, until ... the timeout period reaches the value
MAX_BINDACK_TIMEOUT" (32 s), and "The mobile node MAY continue to send these messages at this
slower rate indefinitely" -- which it does unless ``max_retransmissions`` says otherwise.

Lifetime (RFC 6275 §11.7.3): the binding counts down from the moment the acknowledged BU was
sent, with the granted lifetime: ``expires_at = sent_at + L_ack``, which is the RFC's
``max(L_remain - (L_update - L_ack), 0)``. A refresh is due well before that
(``refresh_at``, at ``REFRESH_FRACTION`` of the granted lifetime).

The list is data only: the mobile node arms the timers and builds the packets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Literal

__all__ = [
    "INITIAL_BINDACK_TIMEOUT",
    "INITIAL_BINDACK_TIMEOUT_FIRST_REG",
    "MAX_BINDACK_TIMEOUT",
    "REFRESH_FRACTION",
    "BindingKind",
    "BindingUpdateList",
    "BulEntry",
    "SequenceNumbers",
    "seq_newer",
]

INITIAL_BINDACK_TIMEOUT = 1.0
"""RFC 6275 §12."""
INITIAL_BINDACK_TIMEOUT_FIRST_REG = 1.5
"""RFC 6275 §13, InitialBindackTimeoutFirstReg default."""
MAX_BINDACK_TIMEOUT = 32.0
"""RFC 6275 §12."""
REFRESH_FRACTION = 0.8
"""RFC 6275 §11.7.3: "Mobile nodes SHOULD send a new Binding Update well before the expiration
of this period" -- we refresh once 80 % of the granted lifetime has elapsed."""

BindingKind = Literal["local", "home", "correspondent", "previous-map"]
State = Literal["pending", "acked", "failed"]


def seq_newer(a: int, b: int) -> bool:
    """RFC 6275 §9.5.1: is ``a`` greater than ``b`` modulo 2**16 (less than 32768 ahead)?"""
    d = (a - b) & 0xFFFF
    return 0 < d < 0x8000


class SequenceNumbers:
    """Per-destination 16-bit Binding Update sequence numbers."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last: dict[IPv6Address, int] = {}

    def next(self, destination: IPv6Address) -> int:
        last = self._last.get(destination)
        seq = self._rng.getrandbits(15) if last is None else (last + 1) & 0xFFFF
        self._last[destination] = seq
        return seq

    def resync(self, destination: IPv6Address, peer_last: int) -> None:
        """RFC 6275 §11.7.3, status 135: "update its binding sequence number appropriately to
        match the sequence number given in the Binding Acknowledgement"."""
        self._last[destination] = peer_last & 0xFFFF

    def last(self, destination: IPv6Address) -> int | None:
        return self._last.get(destination)


@dataclass(slots=True)
class BulEntry:
    destination: IPv6Address
    home_address: IPv6Address
    """What is bound: the RCoA for a MAP, the home address for the HA and correspondents."""
    care_of_address: IPv6Address
    kind: BindingKind
    lifetime: int
    """Requested lifetime (seconds, a multiple of 4) of the BU last sent."""
    sequence: int
    sent_at: float
    """When the BU carrying ``sequence`` was sent."""
    first_sent_at: float
    """When this registration (before any retransmission) was first sent."""
    timeout: float
    """The retransmission interval now in force."""
    first_registration: bool
    state: State = "pending"
    retransmissions: int = 0
    granted: int = 0
    expires_at: float = 0.0
    acked_care_of: IPv6Address | None = None
    """The care-of address of the last acknowledged binding (None: none yet)."""

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    @property
    def refresh_at(self) -> float:
        return self.sent_at + self.granted * REFRESH_FRACTION

    def remaining(self, now: float) -> float:
        if self.acked_care_of is None:
            return 0.0
        left = self.expires_at - now  # (never -0.0: x - x is +0.0, so max() would agree)
        return left if left > 0.0 else 0.0


class BindingUpdateList:
    """Entries keyed by (destination, home address)."""

    def __init__(self, rng: random.Random, *, first_reg_timeout: float =
                 INITIAL_BINDACK_TIMEOUT_FIRST_REG, initial_timeout: float = INITIAL_BINDACK_TIMEOUT,
                 max_timeout: float = MAX_BINDACK_TIMEOUT) -> None:
        self.sequences = SequenceNumbers(rng)
        self.entries: dict[tuple[IPv6Address, IPv6Address], BulEntry] = {}
        self.first_reg_timeout = first_reg_timeout
        self.initial_timeout = initial_timeout
        self.max_timeout = max_timeout

    def get(self, destination: IPv6Address, home_address: IPv6Address) -> BulEntry | None:
        return self.entries.get((destination, home_address))

    def has_destination(self, destination: IPv6Address) -> bool:
        return any(d == destination for d, _ in self.entries)

    def for_destination(self, destination: IPv6Address) -> list[BulEntry]:
        return [e for (d, _), e in self.entries.items() if d == destination]

    def start(self, now: float, *, destination: IPv6Address, home_address: IPv6Address,
              care_of_address: IPv6Address, kind: BindingKind, lifetime: int) -> BulEntry:
        """Record a new Binding Update (a new registration or a refresh) about to be sent."""
        old = self.entries.get((destination, home_address))
        first = old is None or old.acked_care_of is None or old.remaining(now) <= 0
        entry = BulEntry(destination=destination, home_address=home_address,
                         care_of_address=care_of_address, kind=kind, lifetime=lifetime,
                         sequence=self.sequences.next(destination), sent_at=now, first_sent_at=now,
                         timeout=self.first_reg_timeout if first else self.initial_timeout,
                         first_registration=first)
        if old is not None:
            entry.granted, entry.expires_at = old.granted, old.expires_at
            entry.acked_care_of = old.acked_care_of
        self.entries[(destination, home_address)] = entry
        return entry

    def retransmit(self, now: float, entry: BulEntry) -> None:
        """The retransmission timer fired: a fresh sequence number, the interval doubled up
        to MAX_BINDACK_TIMEOUT."""
        entry.sequence = self.sequences.next(entry.destination)
        entry.sent_at = now
        entry.retransmissions += 1
        entry.timeout = min(entry.timeout * 2, self.max_timeout)

    def match(self, source: IPv6Address, sequence: int) -> BulEntry | None:
        """RFC 6275 §11.7.3: the outstanding BU to ``source`` whose sequence number the BA
        echoes."""
        for (d, _), e in self.entries.items():
            if d == source and e.pending and e.sequence == sequence:
                return e
        return None

    def pending_to(self, source: IPv6Address) -> list[BulEntry]:
        return [e for (d, _), e in self.entries.items() if d == source and e.pending]

    def acknowledge(self, entry: BulEntry, granted: int) -> None:
        entry.state = "acked"
        entry.granted = min(granted, entry.lifetime) if entry.lifetime else 0
        entry.expires_at = entry.sent_at + entry.granted
        entry.acked_care_of = entry.care_of_address

    def fail(self, entry: BulEntry) -> None:
        entry.state = "failed"

    def remove(self, entry: BulEntry) -> None:
        self.entries.pop((entry.destination, entry.home_address), None)
