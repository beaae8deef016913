"""The report of a run (``report.json``, format ``hmipv6-report/1``, SCENARIO.md).

Theory of operation
-------------------
One code path for both worlds: :func:`assemble_report` takes the metrics (fed with the
engines' events and the flows' arrivals), the flows' statistics and each node's
:func:`node_state` (binding caches, counters: what the engines expose for inspection).
:func:`build_report` gathers those from a finished simulator
:class:`~hmipv6.sim.network.Network`; the testbed (``hmipv6.net.testbed``) from the daemons'
event logs (times there are wall-clock seconds since the start). The result is a plain
dict whose key order is fixed here: the format's keys first, in SCENARIO.md's order, then
additions. Lists are in a stable order (handovers by time then mobile node, flows by index,
nodes in scenario order), times are rounded to the nanosecond (so float noise never changes a
report) and counters are sorted by
name. :func:`dumps` is the one way to write it: ``json.dumps(sort_keys=False, indent=2)``,
so the same scenario and seed give byte-identical files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hmipv6.core.anchor import BindingAnchor
from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.mobile_node import MobileNode
from hmipv6.core.node import Node
from hmipv6.sim.metrics import Metrics
from hmipv6.sim.scenario import Scenario
from hmipv6.sim.traffic import FlowStats, settled_count

if TYPE_CHECKING:
    from hmipv6.sim.network import Network

__all__ = ["FORMAT", "assemble_report", "build_report", "dumps", "node_state"]

FORMAT = "hmipv6-report/1"

_TIMELINE = ("l2_down", "l2_up", "ra_received", "coa_ready", "bu_sent", "ba_received",
             "home_ba_received", "first_data")

_FAST_TIMELINE = ("fbu_sent", "fback_received", "una_sent")
"""Added to each timeline of an ``fhmipv6`` report (not to other protocols' reports)."""


def _t(x: float | None) -> float | None:
    return None if x is None else round(x, 9)


def build_report(net: Network) -> dict[str, Any]:
    """The report of a finished simulation."""
    sc = net.scenario
    now = net.sched.now
    flows = {f.index: net.sinks[f.index].stats(
        net.sources[f.index].sent, settled_count(f, now, net.sources[f.index].sent))
        for f in sc.flows}
    states = {name: node_state(node, net.roles[name], now) for name, node in net.nodes.items()}
    return assemble_report(sc, net.protocol, net.security, net.metrics, flows, states,
                           world="simulation")


def node_state(node: Node, role: str, now: float) -> dict[str, Any]:
    """What a report shows of one engine at the end of a run (``nodes.<name>``), before the
    counters derived from events are added by :func:`assemble_report`. A testbed daemon
    computes it in its own process and logs it."""
    entry: dict[str, Any] = {"role": role}
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
    if isinstance(node, MobileNode):
        entry["home_address"] = str(node.config.home_address)
        entry["lcoa"] = None if node.lcoa() is None else str(node.lcoa())
        entry["rcoa"] = None if node.rcoa() is None else str(node.rcoa())
    entry["counters"] = {k: v for k, v in node.counters.items() if v}
    return entry


def assemble_report(sc: Scenario, protocol: str, security: str, m: Metrics,
                    flow_stats: Mapping[int, FlowStats], states: Mapping[str, dict[str, Any]],
                    *, world: str) -> dict[str, Any]:
    """The report from what both worlds have: the metrics fed with every node's events
    (``m.finish`` already called), each flow's statistics and each node's
    :func:`node_state` (nodes missing from ``states`` are left out)."""
    handovers = []
    for rec in sorted(m.handovers, key=lambda r: (r.l2_up, r.mn)):
        timeline = {k: _t(getattr(rec, k)) for k in _TIMELINE}
        if protocol == "fhmipv6":  # additive keys of fast handovers
            for k in _FAST_TIMELINE:
                timeline[k] = _t(getattr(rec, k))
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
        row = flow_stats[flow.index].as_report(src=flow.src, dst=flow.dst, kind=flow.kind)
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
    for name in sc.nodes:
        state = states.get(name)
        if state is None:
            continue
        entry = {k: v for k, v in state.items() if k != "counters"}
        counters = dict(state.get("counters", {}))
        if "binding_cache" in state:  # a binding anchor (MAP, HA) or a correspondent
            address = sc.address_of(name)
            from_events = m.node_counts.get(name, Counter())
            counters["bu_accepted"] = from_events.get("bu_accepted", 0)
            counters["bu_rejected"] = (0 if address is None
                                       else m.rejected_by.get(address.packed, 0))
        entry["counters"] = dict(sorted(counters.items()))
        nodes[name] = entry
    return {
        "format": FORMAT,
        "scenario": sc.name,
        "protocol": protocol,
        "profile": sc.profile,
        "seed": sc.seed,
        "duration": float(sc.duration),
        "world": world,
        "handovers": handovers,
        "flows": flows,
        "signalling": signalling,
        "nodes": nodes,
        "security": security,
        "map_events": [{"time": _t(t), "node": n, "map": a, "event": what}
                       for t, n, a, what in m.map_events],
    }


def dumps(report: dict[str, Any]) -> str:
    """The canonical JSON text of a report (stable key order, two-space indent, newline)."""
    return json.dumps(report, sort_keys=False, indent=2) + "\n"
