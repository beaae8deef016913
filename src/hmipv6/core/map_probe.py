"""MAP failure detection by an access router: the probe state machine (RFC 4140 §10).

Theory of operation
-------------------
RFC 4140 §10: "ARs can perform Dynamic detection of MAP failure by sending ICMP Echo request
messages to the MAP regularly (e.g., every ten seconds).  If no response is received, an AR
may try to aggressively send echo requests to the MAP for a short period of time (e.g., once
every 5 seconds for 15 seconds); if no reply is received, a MAP option may be sent with a
valid lifetime value of zero."

One :class:`MapProbe` watches one MAP. Its life is the table :data:`TRANSITIONS`, written as
data after h2's ``stream.py``: ``(state, input) -> (actions, new state)``. The machine owns no
timer and sends nothing: :meth:`MapProbe.step` returns the :class:`ProbeAction` values and the
deadline at which the owner (an :class:`~hmipv6.core.access_router.AccessRouter`) must feed it
the next :attr:`ProbeInput.TIMER`.

States and timing (defaults; every interval is configurable in :class:`ProbeConfig`):

- ``IDLE``: the MAP answered; the next probe goes out ``interval`` (10 s) after the previous
  one (the first one ``interval`` after :meth:`MapProbe.start`).
- ``AWAITING``: a probe is out; a reply is awaited for ``reply_timeout`` (5 s). Its expiry is
  the "missed reply" of §10.
- ``PROBING``: the aggressive phase: a probe at once and then every ``aggressive_interval``
  (5 s) until ``aggressive_period`` (15 s) after the miss. With the defaults the probes leave
  at t = 10, 15, 20, 25 s and the MAP is declared failed at t = 30 s.
- ``FAILED``: the owner advertises the MAP option with Valid Lifetime 0 and keeps probing every
  ``failed_interval`` (10 s) so that it notices the MAP coming back.

A valid reply in ``AWAITING``, ``PROBING`` or ``FAILED`` returns the machine to ``IDLE`` (from
``FAILED`` with :attr:`ProbeAction.RECOVERED`: advertise normally again).

Authentication and replay protection (RFC 4140 §10: "any similar mechanism between the MAP and
an AR SHOULD be secure to allow for message authentication, integrity protection, and
protection against replay attacks", row AR-08): every probe carries a fresh Echo identifier,
sequence number and 16-octet nonce drawn from the node's ``random.Random``; a reply counts
only if it comes from the MAP's address and echoes identifier, sequence and nonce of a probe
that is still outstanding, and each nonce counts once. The owner may further require the reply
to have passed IPsec (``Inbound.peer`` set). Forged or replayed replies therefore never reset
the failure detection; :meth:`MapProbe.match_reply` reports them as ``False``.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from ipaddress import IPv6Address

__all__ = [
    "TRANSITIONS",
    "EchoProbe",
    "MapProbe",
    "ProbeAction",
    "ProbeConfig",
    "ProbeInput",
    "ProbeState",
]

NONCE_LEN = 16
MAX_OUTSTANDING = 8
"""Probes whose replies are still accepted (the aggressive phase has at most a handful)."""


class ProbeState(enum.Enum):
    IDLE = "idle"
    AWAITING = "awaiting"
    PROBING = "probing"
    FAILED = "failed"
    STOPPED = "stopped"


class ProbeInput(enum.Enum):
    TIMER = "timer"
    """The machine's deadline passed."""
    WINDOW_OVER = "window-over"
    """The deadline passed and the aggressive period is over (derived from TIMER in PROBING)."""
    REPLY = "reply"
    """A reply that :meth:`MapProbe.match_reply` accepted."""
    STOP = "stop"


class ProbeAction(enum.Enum):
    SEND_PROBE = "send-probe"
    ARM_NEXT_PROBE = "arm-next-probe"
    """Deadline = previous probe + ``interval``."""
    ARM_REPLY_TIMEOUT = "arm-reply-timeout"
    START_WINDOW = "start-window"
    ARM_AGGRESSIVE = "arm-aggressive"
    ARM_FAILED = "arm-failed"
    FAILED = "failed"
    """Advertise the MAP option with Valid Lifetime 0 (emit MapFailed)."""
    RECOVERED = "recovered"
    """Advertise the MAP option normally again (emit MapRecovered)."""
    DISARM = "disarm"


_S, _I, _A = ProbeState, ProbeInput, ProbeAction

TRANSITIONS: dict[tuple[ProbeState, ProbeInput], tuple[tuple[ProbeAction, ...], ProbeState]] = {
    (_S.IDLE, _I.TIMER): ((_A.SEND_PROBE, _A.ARM_REPLY_TIMEOUT), _S.AWAITING),
    (_S.IDLE, _I.REPLY): ((), _S.IDLE),
    (_S.AWAITING, _I.REPLY): ((_A.ARM_NEXT_PROBE,), _S.IDLE),
    # RFC 4140 §10: "If no response is received, an AR may try to aggressively send echo
    # requests to the MAP for a short period of time (e.g., once every 5 seconds for 15 s)".
    (_S.AWAITING, _I.TIMER): ((_A.START_WINDOW, _A.SEND_PROBE, _A.ARM_AGGRESSIVE), _S.PROBING),
    (_S.PROBING, _I.TIMER): ((_A.SEND_PROBE, _A.ARM_AGGRESSIVE), _S.PROBING),
    (_S.PROBING, _I.REPLY): ((_A.ARM_NEXT_PROBE,), _S.IDLE),
    # "if no reply is received, a MAP option may be sent with a valid lifetime value of zero."
    (_S.PROBING, _I.WINDOW_OVER): ((_A.FAILED, _A.SEND_PROBE, _A.ARM_FAILED), _S.FAILED),
    (_S.FAILED, _I.TIMER): ((_A.SEND_PROBE, _A.ARM_FAILED), _S.FAILED),
    (_S.FAILED, _I.REPLY): ((_A.RECOVERED, _A.ARM_NEXT_PROBE), _S.IDLE),
    (_S.IDLE, _I.STOP): ((_A.DISARM,), _S.STOPPED),
    (_S.AWAITING, _I.STOP): ((_A.DISARM,), _S.STOPPED),
    (_S.PROBING, _I.STOP): ((_A.DISARM,), _S.STOPPED),
    (_S.FAILED, _I.STOP): ((_A.DISARM,), _S.STOPPED),
    (_S.STOPPED, _I.STOP): ((), _S.STOPPED),
    (_S.STOPPED, _I.TIMER): ((), _S.STOPPED),
    (_S.STOPPED, _I.REPLY): ((), _S.STOPPED),
}
"""Every (state, input) pair not listed is impossible by construction (WINDOW_OVER is only
derived in PROBING); :meth:`MapProbe.step` treats one as a no-op rather than raise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeConfig:
    """RFC 4140 §10's example values as defaults."""

    interval: float = 10.0
    """Between probes while the MAP answers ("every ten seconds")."""
    reply_timeout: float = 5.0
    """How long a normal probe's reply is awaited before it counts as missed."""
    aggressive_interval: float = 5.0
    """Between probes after a miss ("once every 5 seconds")."""
    aggressive_period: float = 15.0
    """How long the aggressive phase lasts ("for 15 seconds")."""
    failed_interval: float = 10.0
    """Between probes while the MAP is advertised as failed."""

    def __post_init__(self) -> None:
        for name in ("interval", "reply_timeout", "aggressive_interval", "aggressive_period",
                     "failed_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ProbeConfig.{name} must be positive")


@dataclass(frozen=True, slots=True)
class EchoProbe:
    """What one Echo Request carries, and what its reply must echo."""

    identifier: int
    sequence: int
    nonce: bytes


@dataclass(slots=True)
class MapProbe:
    """Failure detection for one MAP (see the module docstring)."""

    map: IPv6Address
    config: ProbeConfig = field(default_factory=ProbeConfig)
    state: ProbeState = ProbeState.STOPPED
    deadline: float | None = None
    last_probe: float | None = None
    window_end: float | None = None
    outstanding: list[EchoProbe] = field(default_factory=list)
    probes_sent: int = 0
    _sequence: int = 0

    @property
    def failed(self) -> bool:
        return self.state is ProbeState.FAILED

    def start(self, now: float, rng: random.Random) -> None:
        """Begin watching: first probe ``interval`` from now (also after a restart)."""
        self.state = ProbeState.IDLE
        self.outstanding.clear()
        self.window_end = None
        self.last_probe = None
        self._sequence = rng.getrandbits(16)
        self.deadline = now + self.config.interval

    def step(self, now: float, event: ProbeInput, rng: random.Random
             ) -> tuple[list[ProbeAction], EchoProbe | None]:
        """Feed one input. Returns the actions taken (for the owner to act on FAILED,
        RECOVERED and SEND_PROBE) and the probe to send, if any. ``deadline`` is updated."""
        if event is ProbeInput.TIMER and self.state is ProbeState.PROBING:
            assert self.window_end is not None
            if now >= self.window_end:
                event = ProbeInput.WINDOW_OVER
        actions, new_state = TRANSITIONS.get((self.state, event), ((), self.state))
        probe: EchoProbe | None = None
        cfg = self.config
        for action in actions:
            if action is ProbeAction.SEND_PROBE:
                probe = self._new_probe(now, rng)
            elif action is ProbeAction.ARM_REPLY_TIMEOUT:
                self.deadline = now + cfg.reply_timeout
            elif action is ProbeAction.START_WINDOW:
                self.window_end = now + cfg.aggressive_period
            elif action is ProbeAction.ARM_AGGRESSIVE:
                assert self.window_end is not None
                self.deadline = min(now + cfg.aggressive_interval, self.window_end)
            elif action is ProbeAction.ARM_FAILED:
                self.deadline = now + cfg.failed_interval
            elif action is ProbeAction.ARM_NEXT_PROBE:
                base = self.last_probe if self.last_probe is not None else now
                self.deadline = max(now, base + cfg.interval)
                self.window_end = None
                self.outstanding.clear()
            elif action is ProbeAction.DISARM:
                self.deadline = None
                self.outstanding.clear()
        self.state = new_state
        return list(actions), probe

    def match_reply(self, src: IPv6Address, identifier: int, sequence: int, data: bytes) -> bool:
        """Is this Echo Reply the answer to an outstanding probe? A match consumes the probe,
        so the same reply replayed later never matches again (RFC 4140 §10, AR-08)."""
        if src != self.map or self.state is ProbeState.STOPPED:
            return False
        for i, p in enumerate(self.outstanding):
            if p.identifier == identifier and p.sequence == sequence and p.nonce == data:
                del self.outstanding[i]
                return True
        return False

    def _new_probe(self, now: float, rng: random.Random) -> EchoProbe:
        self._sequence = (self._sequence + 1) & 0xFFFF
        probe = EchoProbe(rng.getrandbits(16), self._sequence, rng.randbytes(NONCE_LEN))
        self.outstanding.append(probe)
        del self.outstanding[:-MAX_OUTSTANDING]
        self.last_probe = now
        self.probes_sent += 1
        return probe
