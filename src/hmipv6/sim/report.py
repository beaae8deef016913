"""The report of a run (``report.json``, format ``hmipv6-report/1``, SCENARIO.md).

Theory of operation
-------------------
:func:`build_report` reads a finished :class:`~hmipv6.sim.network.Network` — its metrics
(events and arrivals), its sources and sinks, and what the engines expose for inspection
(binding caches, counters) — and returns a plain dict whose key order is fixed here: the
format's keys first, in SCENARIO.md's order, then additions. Lists are in a stable order
(handovers by time then mobile node, flows by index, nodes in scenario order), times are
rounded to the nanosecond (so float noise never changes a report) and counters are sorted by
name. :func:`dumps` is the one way to write it: ``json.dumps(sort_keys=False, indent=2)``,
so the same scenario and seed give byte-identical files.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from hmipv6.core.anchor import BindingAnchor
from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.mobile_node import MobileNode

if TYPE_CHECKING:
    from hmipv6.sim.network import Network

__all__ = ["FORMAT", "build_report", "dumps"]

FORMAT = "hmipv6-report/1"

_TIMELINE = ("l2_down", "l2_up", "ra_received", "coa_ready", "bu_sent", "ba_received",
             "home_ba_received", "first_data")


def _t(x: float | None) -> float | None:
    return None if x is None else round(x, 9)


def build_report(net: Network) -> dict[str, Any]:
    sc = net.scenario
    m = net.metrics
    now = net.sched.now
    handovers = []
    for rec in sorted(m.handovers, key=lambda r: (r.l2_up, r.mn)):
        timeline = {k: _t(getattr(rec, k)) for k in _TIMELINE}
        if not rec.link:  # a MAP change without a move: no link-layer edges
            timeline["l2_up"] = None
            timeline["map_failed"] = _t(rec.map_failed)
            timeline["map_change"] = _t(rec.l2_up)
        handovers.append({
            "mn": rec.mn, "from": rec.frm, "to": rec.to, "kind": rec.kind,
            "timeline": timeline,
            "latency": _t(m.latency(rec)),
            "registration": _t(m.registration(rec)),
            "lost": rec.lost,
        })
    flows = []
    for flow in sc.flows:
        stats = net.sinks[flow.index].stats(net.sources[flow.index].sent)
        row = stats.as_report(src=flow.src, dst=flow.dst, kind=flow.kind)
        for k in ("max_gap", "delay_mean", "delay_max"):
            v = row[k]
            row[k] = _t(v) if isinstance(v, float) else v
        flows.append(row)
    signalling = {
        "by_type": dict(sorted(m.by_type.items())),
        "to_home_agent": m.to_home_agent,
        "to_correspondents": m.to_correspondents,
        "to_maps": m.to_maps,
        "bytes_on_wireless": m.bytes_on_wireless,
    }
    nodes: dict[str, Any] = {}
    for name, node in net.nodes.items():
        entry: dict[str, Any] = {"role": net.roles[name]}
        if isinstance(node, BindingAnchor | CorrespondentNode):
            cache = []
            for b in sorted(node.cache, key=lambda b: int(b.address)):
                remaining = max(int(b.expires - now), 0)
                if isinstance(node, MobilityAnchorPoint):
                    cache.append({"rcoa": str(b.address), "lcoa": str(b.care_of),
                                  "lifetime": remaining})
                else:
                    cache.append({"hoa": str(b.address), "coa": str(b.care_of),
                                  "lifetime": remaining})
            entry["binding_cache"] = cache
        counters = {k: v for k, v in node.counters.items() if v}
        if isinstance(node, BindingAnchor | CorrespondentNode):
            from_events = m.node_counts.get(name, Counter())
            counters["bu_accepted"] = from_events.get("bu_accepted", 0)
            counters["bu_rejected"] = m.rejected_by.get(node.address.packed, 0)
        if isinstance(node, MobileNode):
            entry["home_address"] = str(node.config.home_address)
            entry["lcoa"] = None if node.lcoa() is None else str(node.lcoa())
            entry["rcoa"] = None if node.rcoa() is None else str(node.rcoa())
        entry["counters"] = dict(sorted(counters.items()))
        nodes[name] = entry
    return {
        "format": FORMAT,
        "scenario": sc.name,
        "protocol": net.protocol,
        "profile": sc.profile,
        "seed": sc.seed,
        "duration": float(sc.duration),
        "world": "simulation",
        "handovers": handovers,
        "flows": flows,
        "signalling": signalling,
        "nodes": nodes,
        "security": net.security,
        "map_events": [{"time": _t(t), "node": n, "map": a, "event": what}
                       for t, n, a, what in m.map_events],
    }


def dumps(report: dict[str, Any]) -> str:
    """The canonical JSON text of a report (stable key order, two-space indent, newline)."""
    return json.dumps(report, sort_keys=False, indent=2) + "\n"
