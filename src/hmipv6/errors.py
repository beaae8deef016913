"""The project's one error tree (after h11's local/remote split).

- ``DecodeError``: bytes from the network that do not parse. It names the field and the
  offset (from the start of the outermost buffer) so a user can find the bad octet.
- ``ChecksumError``: a ``DecodeError`` whose bytes parse but whose checksum is wrong.
- ``EncodeError``: a value the encoder refuses to put on the wire (API misuse).
- ``LocalProtocolError``: any other misuse of the API by the caller.
- ``ProtocolViolation``: remote input breaks a protocol rule; carries the RFC answer
  (e.g. the Binding Acknowledgement status) so an engine can reply with it.
"""

from __future__ import annotations


class HMIPv6Error(Exception):
    """Base of every error this package raises on purpose."""


class DecodeError(HMIPv6Error, ValueError):
    """Bytes that do not decode. ``field`` and ``offset`` locate the problem."""

    def __init__(self, message: str, *, field: str, offset: int) -> None:
        super().__init__(f"{field} at offset {offset}: {message}")
        self.reason = message
        self.field = field
        self.offset = offset


class ChecksumError(DecodeError):
    """An upper-layer checksum (ICMPv6, Mobility Header, UDP) does not verify."""


class EncodeError(HMIPv6Error, ValueError):
    """A message value that must not be encoded (e.g. a MAP option with Dist 0)."""


class LocalProtocolError(HMIPv6Error):
    """The caller used the API in a way the protocol does not allow."""


class ProtocolViolation(HMIPv6Error):
    """Remote input broke a protocol rule; ``status`` is the code to answer with."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
