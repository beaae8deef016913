"""A daemon's log: one JSON object per line, and the report built back from the logs.

Theory of operation
-------------------
A daemon (``net.daemon``) writes what the simulator's metrics would have seen, each line with
``t`` (wall-clock seconds since the run's start) and ``node``:

- ``{"kind": "event", "event": {"type": "<class>", ...fields}}``: an engine event
  (``hmipv6.core.events``; addresses as text, tuples as lists) — :func:`encode_event` /
  :func:`decode_event` round-trip it;
- ``{"kind": "tx", "role", "local", "wireless", "data"}``: a signalling packet the node put
  on an interface (hex octets; ``local``: the node originated it), for ``Metrics.on_transmit``;
- ``{"kind": "arrival", "flow", "probe"}``: a flow probe its application received (the
  16-octet ``sim.traffic`` header, hex); with ``"request": true``, the Echo Request of a
  ping flow to this node (data for its handovers, not a round trip);
- ``{"kind": "fault", "fault"}``: a fault the launcher applied to the node (the control line);
- ``{"kind": "drops", "reason", "count", "since"}``: packets dropped for ``reason`` and not
  logged one by one, between ``since`` and ``t`` (:class:`DropSummary`: the first drop of
  each reason in an interval is an ``event`` line, the others are counted; junk sent at a
  daemon costs its log one summary line per reason per second, not a line per packet);
- ``{"kind": "final", "state", "sent", "egress"}``: the node's ``report.node_state`` at the
  end, the probes its sources sent and each interface's link-emulation counters
  (``sim.linkmodel.LinkCounters`` fields; empty without shaping).

:func:`report_from_logs` replays every line of every node, in time order, into one
:class:`~hmipv6.sim.metrics.Metrics` and the flows' :class:`~hmipv6.sim.traffic.Sink` s, then
uses :func:`hmipv6.sim.report.assemble_report`: the same code path as a simulation's report.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

from hmipv6.core import events as _events
from hmipv6.core.events import Event
from hmipv6.sim.metrics import Metrics
from hmipv6.sim.report import assemble_report
from hmipv6.sim.scenario import CorrespondentSpec, HomeAgentSpec, MapSpec, Scenario
from hmipv6.sim.traffic import FlowStats, Sink, decode_probe, settled_count

__all__ = ["DropSummary", "decode_event", "encode_event", "read_logs", "report_from_logs"]


class DropSummary:
    """Throttles a daemon's ``PacketDropped`` lines (issue 9: each junk packet added 240-300
    octets to the log, unthrottled). Per drop reason, time is cut into intervals of
    ``interval`` seconds starting at the first drop: that first drop is logged in full
    (:meth:`admit` says yes), the others of the interval only counted; once the interval
    has ended, :meth:`due` gives one summary (reason, since, until, count) for it, if any
    drop was counted. Engine counters (``dropped.<reason>``) still count every packet."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._open: dict[str, list[float]] = {}
        """reason -> [interval start, drops counted but not logged]"""

    def admit(self, reason: str, t: float) -> bool:
        """A drop for ``reason`` at ``t``: True when it is to be logged in full. Call
        :meth:`due` with ``t`` first, so summaries of ended intervals come before it."""
        entry = self._open.get(reason)
        if entry is None or t >= entry[0] + self.interval:
            self._open[reason] = [t, 0.0]
            return True
        entry[1] += 1
        return False

    def due(self, now: float, *, final: bool = False) -> list[tuple[str, float, float, int]]:
        """Summaries of the intervals that ended by ``now`` (every one when ``final``), in
        the order of their ends; those intervals are closed."""
        out = []
        for reason, (start, count) in list(self._open.items()):
            end = start + self.interval
            if final or now >= end:
                del self._open[reason]
                if count:
                    out.append((reason, start, min(end, now) if final else end, int(count)))
        out.sort(key=lambda x: x[2])
        return out

    def next_due(self) -> float | None:
        """When the earliest interval with counted drops ends (for a timer), or None."""
        ends = [start + self.interval for start, count in self._open.values() if count]
        return min(ends) if ends else None


def _plain(v: object) -> object:
    if isinstance(v, IPv6Address):
        return str(v)
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v


def encode_event(e: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(e).__name__}
    for f in dataclasses.fields(e):
        out[f.name] = _plain(getattr(e, f.name))
    return out


def _typed(annotation: str, v: object) -> object:
    if v is None:
        return None
    if "IPv6Address" in annotation:
        if isinstance(v, list):
            return tuple(IPv6Address(x) for x in v)
        return IPv6Address(str(v))
    if isinstance(v, list):
        return tuple(v)
    return v


def decode_event(d: dict[str, Any]) -> Event:
    cls = getattr(_events, d["type"])
    assert isinstance(cls, type) and issubclass(cls, Event)
    kwargs: dict[str, Any] = {f.name: _typed(str(f.type), d[f.name])
                              for f in dataclasses.fields(cls) if f.name in d}
    event: Event = cls(**kwargs)
    return event


def _ORIGINATED(_address: bytes) -> bool:
    return True


def _FORWARDED(_address: bytes) -> bool:
    return False


def read_logs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every line of every log, in time order (a stable sort: each node's order kept). A
    last line cut short by a killed daemon is skipped."""
    lines: list[dict[str, Any]] = []
    for path in paths:
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:
                continue
    lines.sort(key=lambda d: float(d["t"]))
    return lines


def report_from_logs(sc: Scenario, protocol: str, lines: list[dict[str, Any]],
                     *, world: str = "testbed") -> dict[str, Any]:
    """The report (format ``hmipv6-report/1``) of a run, from its daemons' log lines."""
    metrics = Metrics(protocol,
                      {s.address.packed for s in sc.of_role(HomeAgentSpec)},
                      {s.address.packed for s in sc.of_role(CorrespondentSpec)},
                      {s.address.packed for s in sc.of_role(MapSpec)})
    sinks = {f.index: Sink(f.index) for f in sc.flows}
    for f in sc.flows:
        metrics.add_flow(f.index, f.dst if f.kind == "cbr" else f.src, f.interval, f.start)
        if f.kind == "ping":
            metrics.add_echo_requests(f.index, f.dst, f.interval, f.start)
    states: dict[str, dict[str, Any]] = {}
    sent: dict[int, int] = {}
    for d in lines:
        kind, node, t = d["kind"], d["node"], float(d["t"])
        if kind == "event":
            metrics.on_event(node, decode_event(d["event"]))
        elif kind == "tx":
            metrics.on_transmit(_ORIGINATED if d["local"] else _FORWARDED, d["role"],
                                bytes.fromhex(d["data"]), bool(d["wireless"]))
        elif kind == "arrival" and d.get("request"):  # a ping's Echo Request at its dst
            probe = decode_probe(bytes.fromhex(d["probe"]))
            rec = None if probe is None else metrics.echo_requests.get(probe.flow)
            if probe is not None and rec is not None:
                rec.arrived(t, probe.sequence)
        elif kind == "arrival":
            payload = bytes.fromhex(d["probe"])
            probe = decode_probe(payload)
            sink = sinks.get(int(d["flow"]))
            if probe is not None and sink is not None and sink.receive_probe(t, probe):
                metrics.flows[probe.flow].arrived(t, probe.sequence)
        elif kind == "final":
            states[node] = d["state"]
            for index, n in d.get("sent", {}).items():
                sent[int(index)] = sent.get(int(index), 0) + int(n)
    # Probes sent in the run's last DRAIN seconds that did not arrive are in flight, not
    # lost (hmipv6.sim.traffic.settled_count), for the flows and the handovers alike.
    settled = {f.index: settled_count(f, sc.duration, sent.get(f.index, 0)) for f in sc.flows}
    metrics.finish(settled)
    stats: dict[int, FlowStats] = {i: s.stats(sent.get(i, 0), settled.get(i))
                                   for i, s in sinks.items()}
    security = sc.defaults.security
    return assemble_report(sc, protocol, security, metrics, stats, states, world=world)
