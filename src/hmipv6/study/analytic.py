"""Analytic lower bounds of a handover's latency, registration time and packet loss, from
the scenario's link delays (the model ``tests/sim/test_analytic.py`` checks exactly in
loss-free runs).

Theory of operation
-------------------
For a mobile node moving from access router A to B (one-way delays: ``c_A``, ``c_B`` over
the cells, ``d(X, Y)`` the shortest wired path), the registration goes to an *anchor*: the
home agent under Mobile IPv6 (RFC 6275 §11.7.1), the MAP under HMIPv6 for a move within the
MAP's domain (RFC 4140 §6.1), the MAP under fast handovers too. With ``gap`` the link-layer
handover time and ``dad`` the duplicate address detection wait (1 s for standard DAD, none
when optimistic, RFC 4429):

- registration >= RTT(B, anchor) = 2 (c_B + d(B, anchor));
- latency >= gap + dad + RTT(B, anchor): the binding update leaves after the new link is up
  and the new address usable, and the first packet the anchor redirects travels back; under
  fast handovers the new access router already buffers, so latency >= gap + 2 c_B (the
  unsolicited NA goes up and the buffer comes down, RFC 5568 §3.1);
- lost >= floor(W / T) for each CBR flow of period T to the mobile node, where
  W = gap + dad + c_B + d(B, anchor) + d(anchor, A) + c_A: every packet the anchor forwards
  from the moment one can no longer reach the node at A until the binding update reaches it
  is lost; none under predictive fast handovers (buffered at B).

Movement detection (waiting for a router advertisement) and serialisation only add to these,
hence lower bounds. :func:`handover_bounds` gives them for a scenario with one mobile node
and one move between access routers (and, for HMIPv6, both routers advertising the same single
MAP); otherwise ``None``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from hmipv6.sim.scenario import (
    AccessRouterSpec,
    CorrespondentSpec,
    MobileNodeSpec,
    Scenario,
    ScenarioError,
    loads,
)
from hmipv6.study.spec import Study

__all__ = ["DAD_STANDARD", "handover_bounds", "path_delay", "study_bounds"]

DAD_STANDARD = 1.0
"""Seconds a standard (RFC 4862) duplicate address detection holds a new address."""


def path_delay(sc: Scenario, a: str, b: str) -> float:
    """The smallest sum of one-way wired link delays between nodes ``a`` and ``b``."""
    adj: dict[str, list[tuple[str, float]]] = {}
    for link in sc.links:
        x, y = link.between
        adj.setdefault(x, []).append((y, link.delay))
        adj.setdefault(y, []).append((x, link.delay))
    best = {a: 0.0}
    heap = [(0.0, a)]
    while heap:
        d, n = heapq.heappop(heap)
        if n == b:
            return d
        if d > best.get(n, math.inf):
            continue
        for m, w in adj.get(n, ()):
            if d + w < best.get(m, math.inf):
                best[m] = d + w
                heapq.heappush(heap, (d + w, m))
    raise ValueError(f"no wired path from {a!r} to {b!r}")


def handover_bounds(sc: Scenario, protocol: str) -> dict[str, float] | None:
    """Lower bounds of ``handover.latency``, ``handover.registration`` (seconds) and
    ``handover.lost`` (packets) for the scenario's one move, or ``None`` when the model does
    not cover the scenario."""
    mns = sc.of_role(MobileNodeSpec)
    if len(mns) != 1:
        return None
    mn = mns[0]
    moves = [m for m in sc.moves if m.mn == mn.name]
    if len(moves) != 2 or moves[0].attach is None or moves[1].attach is None:
        return None
    old, new = moves[0].attach, moves[1].attach
    cell_old, cell_new = sc.cell_of(old), sc.cell_of(new)
    ar_old, ar_new = sc.nodes.get(old), sc.nodes.get(new)
    if (cell_old is None or cell_new is None or not isinstance(ar_old, AccessRouterSpec)
            or not isinstance(ar_new, AccessRouterSpec) or old == new):
        return None
    if protocol == "mipv6":
        if any(c.route_optimisation for c in sc.of_role(CorrespondentSpec)):
            return None
        anchor = mn.home_agent
    else:
        maps = ar_new.advertise_maps
        if len(maps) != 1 or ar_old.advertise_maps != maps or ar_new.relay_maps:
            return None
        anchor = maps[0]
    params = mn.parameters
    dad = DAD_STANDARD if params.dad == "standard" else 0.0
    gap = params.l2_handover
    up = cell_new.delay + path_delay(sc, new, anchor)
    down_old = path_delay(sc, anchor, old) + cell_old.delay
    registration = 2 * up
    if protocol == "fhmipv6":
        latency = gap + 2 * cell_new.delay
        window = 0.0
    else:
        latency = gap + dad + registration
        window = gap + dad + up + down_old
    at = moves[1].at
    lost = 0
    for f in sc.flows:
        if f.dst == mn.name and f.kind == "cbr" and f.start <= at - down_old and \
                f.stop >= at + window:
            lost += math.floor(window / f.interval + 1e-9)
    return {"handover.latency": latency, "handover.registration": registration,
            "handover.lost": float(lost)}


def study_bounds(study: Study) -> Callable[[int, str, str], float | None]:
    """``bound(point, protocol, metric)`` for the aggregate table: the bound of the scenario
    at that point (loaded with the point's overrides), ``None`` where the model does not
    apply or the study does not ask for bounds (``bound = false``)."""
    cache: dict[tuple[int, str], dict[str, float] | None] = {}
    points = study.points()

    def bound(point: int, protocol: str, metric: str) -> float | None:
        if not study.bound:
            return None
        if (point, protocol) not in cache:
            try:
                sc = loads(study.scenario_text, source=study.scenario_source,
                           overrides=study.point_overrides(points[point]))
                cache[(point, protocol)] = handover_bounds(sc, protocol)
            except (ScenarioError, ValueError):
                cache[(point, protocol)] = None
        found = cache[(point, protocol)]
        return None if found is None else found.get(metric)

    return bound
