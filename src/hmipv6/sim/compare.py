"""Pairing the handovers of several reports (one per protocol) by the move they belong to.

Theory of operation
-------------------
When the same scenario and seed run under several protocols, the moves are the same (the
radio follows the scenario's ``[[moves]]``), but the handovers are not: a protocol may have
events of its own, for example HMIPv6's change of MAP after a MAP failure (RFC 4140 §10),
which Mobile IPv6 never has. Pairing the n-th handover of one protocol with the n-th of
another would then put a failover beside an unrelated move. :func:`pair_handovers` pairs them
by *what happened* instead:

- a link-layer move is identified by its mobile node, the access routers left and joined and
  which of that mobile node's moves between those two routers it is (the first, the second,
  ...): the same in every protocol's report of one scenario, in the simulator and on the
  testbed (``hmipv6 testbed run --compare``), whose moves happen at wall-clock times that
  differ from run to run by the machine's scheduling (a few milliseconds), so the time of a
  testbed move cannot identify it;
- a change of MAP without a move (``l2_down`` / ``l2_up`` null, ``map_change`` set) is
  identified by its mobile node, its access router and ``map_change`` to the microsecond, so
  it pairs only with the same change in another protocol and otherwise stands alone (on the
  testbed, where that time is the machine's, it always stands alone).

A second handover with the same identity in one report (never seen in practice) gets an
occurrence number, so nothing is dropped. The rows are ordered by time, then mobile node.
Only report dicts are read (``hmipv6-report/1``): the table of ``hmipv6 simulate`` and
``handovers.png`` / ``timeline.png`` (:mod:`hmipv6.sim.plots`) share this one pairing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HandoverRow", "handover_time", "is_map_change", "pair_handovers"]


@dataclass(frozen=True, slots=True)
class HandoverRow:
    """One move (or MAP change) of one mobile node, with each protocol's handover for it."""

    mn: str
    at: float | None
    """When it happened: ``l2_down``, else ``l2_up``, else ``map_change`` (seconds)."""
    by_protocol: Mapping[str, Mapping[str, Any]]
    """Protocol -> its handover dict; protocols without this event are absent."""

    def first(self) -> Mapping[str, Any]:
        """The handover of the first protocol that has one (for the row's labels)."""
        return next(iter(self.by_protocol.values()))


def _timeline(h: Mapping[str, Any]) -> Mapping[str, Any]:
    tl = h.get("timeline")
    return tl if isinstance(tl, Mapping) else {}


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def is_map_change(h: Mapping[str, Any]) -> bool:
    """A change of MAP without a link-layer move (RFC 4140 §10 failover, a better MAP)."""
    tl = _timeline(h)
    return bool(h.get("from")) and h.get("from") == h.get("to") and tl.get("l2_down") is None \
        and tl.get("l2_up") is None


def handover_time(h: Mapping[str, Any]) -> float | None:
    """``l2_down``, else ``l2_up``, else ``map_change`` of a handover dict."""
    tl = _timeline(h)
    for k in ("l2_down", "l2_up", "map_change"):
        v = _num(tl.get(k))
        if v is not None:
            return v
    return None


def _identity(h: Mapping[str, Any]) -> tuple[object, ...]:
    """What a handover is, but for its occurrence number: a move is counted among the
    mobile node's moves between the same two routers (module docstring)."""
    if is_map_change(h):
        at = handover_time(h)
        return (str(h.get("mn")), "map", h.get("from"), h.get("to"),
                None if at is None else round(at * 1e6))
    return (str(h.get("mn")), "move", h.get("from"), h.get("to"))


def pair_handovers(reports: Mapping[str, Mapping[str, Any]]) -> list[HandoverRow]:
    """The handovers of every report, one row per move (module docstring)."""
    rows: dict[tuple[object, ...], dict[str, Mapping[str, Any]]] = {}
    times: dict[tuple[object, ...], float | None] = {}
    for proto, report in reports.items():
        seen: dict[tuple[object, ...], int] = {}
        handovers = report.get("handovers")
        listed = [h for h in (handovers if isinstance(handovers, list) else [])
                  if isinstance(h, Mapping)]
        # In time order, so the n-th move between two routers is the n-th in every report.
        for h in sorted(listed, key=lambda h: (handover_time(h) is None,
                                               handover_time(h) or 0.0)):
            ident = _identity(h)
            n = seen.get(ident, 0)
            seen[ident] = n + 1
            key = (*ident, n)
            rows.setdefault(key, {})[proto] = h
            times.setdefault(key, handover_time(h))
    order = sorted(rows, key=lambda k: (times[k] is None, times[k] or 0.0, str(k[0])))
    return [HandoverRow(mn=str(k[0]), at=times[k], by_protocol=rows[k]) for k in order]
