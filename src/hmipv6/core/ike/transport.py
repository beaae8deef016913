"""IKE over UDP port 500 (RFC 7296 §2.11) with :mod:`hmipv6.wire.udp`, and a driver that runs
an exchange between a mobile node's :class:`IkeInitiator` and a MAP's :class:`IkeResponder`.

Theory of operation
-------------------
:func:`ike_packet` wraps an IKE message in UDP 500 → 500 inside an IPv6 packet (the UDP
checksum over the pseudo-header is computed by the codec); :func:`ike_message` gives the IKE
octets back from a decoded packet, or ``None`` when the packet is not IKE.

:func:`run_exchange` is the integration helper for harnesses that do not route UDP through
the engines: it shuttles the octets as real IPv6/UDP packets (encoded, then decoded with
checksum verification) between the MN's LCoA and the MAP, advancing a virtual clock to the
initiator's retransmission timer when a message is lost (``lose(i, octets)`` decides, for
tests). It returns the initiator's outcome; the Child SA is then in both ``IPsec`` objects and
the MN's first local BU can be sent protected.

The engines do not need it: ``MobileNode`` with an :class:`~hmipv6.core.ike.client.
IkeClient` and :class:`~hmipv6.core.ike.engines.IkeMobilityAnchorPoint` exchange the same
packets themselves (the simulator's ``rfc5380`` profile); :func:`run_exchange` stays for
harnesses that drive the exchange outside the engines.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv6Address

from hmipv6.core.ike.exchange import Failed, IkeInitiator, IkeResponder, Outcome
from hmipv6.core.ike.message import IKE_PORT
from hmipv6.errors import DecodeError
from hmipv6.wire.ipv6 import IPv6Packet, decode
from hmipv6.wire.udp import UDP

__all__ = ["ike_message", "ike_packet", "run_exchange"]


def ike_packet(src: IPv6Address, dst: IPv6Address, message: bytes) -> IPv6Packet:
    """An IPv6 packet carrying ``message`` in UDP 500 → 500."""
    return IPv6Packet(src, dst, UDP(IKE_PORT, IKE_PORT, message))


def ike_message(packet: IPv6Packet) -> bytes | None:
    """The IKE octets of a UDP port-500 packet, else ``None``."""
    p = packet.payload
    if isinstance(p, UDP) and p.dst_port == IKE_PORT:
        return p.data
    return None


def _through_udp(src: IPv6Address, dst: IPv6Address, message: bytes) -> bytes | None:
    try:
        return ike_message(decode(ike_packet(src, dst, message).encode()))
    except DecodeError:
        return None


def run_exchange(initiator: IkeInitiator, responder: IkeResponder, *, lcoa: IPv6Address,
                 now: float = 0.0, lose: Callable[[int, bytes], bool] | None = None,
                 trace: list[tuple[float, IPv6Packet]] | None = None,
                 max_steps: int = 64) -> Outcome:
    """Run IKE_SA_INIT + IKE_AUTH to completion over simulated UDP; returns the outcome.
    ``trace`` (if given) collects every packet put on the wire, lost ones included."""
    map_addr = initiator.map_address
    pending = [initiator.start(now)]
    sent = 0
    for _ in range(max_steps):
        if initiator.outcome is not None:
            return initiator.outcome
        if not pending:
            t = initiator.next_timer()
            if t is None:
                break
            now = max(now, t)
            pending = initiator.handle_timer(now)
            continue
        replies: list[bytes] = []
        for req in pending:
            if trace is not None:
                trace.append((now, ike_packet(lcoa, map_addr, req)))
            i, sent = sent, sent + 1
            if lose is not None and lose(i, req):
                continue
            got = _through_udp(lcoa, map_addr, req)
            if got is None:
                continue
            for resp in responder.receive(now, got):
                if trace is not None:
                    trace.append((now, ike_packet(map_addr, lcoa, resp)))
                i, sent = sent, sent + 1
                if lose is not None and lose(i, resp):
                    continue
                back = _through_udp(map_addr, lcoa, resp)
                if back is not None:
                    replies.extend(initiator.receive(now, back))
        pending = replies
    return initiator.outcome if initiator.outcome is not None else Failed("timeout")
