"""Static shortest-path routing over the scenario's wired graph.

Theory of operation
-------------------
Every routed prefix has exactly one owner node (an access router's prefix, a home agent's
home prefix, a MAP's RCoA prefix, a node's own address as a /128). For each owner we run
Dijkstra *from the owner* over the undirected graph of wired links, weighted by propagation
delay in integer nanoseconds (so sums compare exactly), which gives every node its distance
and, among the shortest paths, its fewest hops. Each node's next hop towards the owner is the
neighbour ``v`` minimising ``(distance via v, hops of v, name of v)``: a deterministic choice,
and one that makes ``(distance, hops)`` strictly decrease along every path, so the tree of
next hops towards one owner can never loop, even over zero-delay links.

Forwarding is longest-prefix match (:meth:`RoutingTables.lookup`). Every node holds a route
for every prefix, so the most specific match is the same prefix at each hop and a packet
follows one tree to its owner. Static routes given by the scenario replace the computed next
hop for one (node, prefix); those can loop, so after applying them every (node, prefix) path
is walked and a loop or a next hop that is not a neighbour is a :class:`RoutingError` naming
the static route's key. A prefix that some node cannot reach (a disconnected graph) is a
:class:`RoutingError` too, naming the key that declared the prefix.

This module knows nothing of scenario files: :mod:`hmipv6.sim.scenario` hands it names,
edges and prefixes, and turns its errors into :class:`~hmipv6.sim.scenario.ScenarioError`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

__all__ = ["Destination", "Hop", "RoutingError", "RoutingTables", "StaticRoute", "compute_routes"]


class RoutingError(ValueError):
    """The graph cannot route a prefix (``key`` names the scenario key at fault)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """A prefix routed towards its owner."""

    prefix: IPv6Network
    owner: str
    key: str
    """The scenario key that declared it (for error messages), e.g. ``nodes.ar1.prefix``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticRoute:
    """A scenario-given next hop replacing the computed one at one node."""

    node: str
    prefix: IPv6Network
    via: str
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Hop:
    """One node's route for one prefix."""

    prefix: IPv6Network
    owner: str
    """The node the prefix is routed to."""
    via: str | None
    """The neighbour to forward to; ``None`` at the owner itself (deliver locally)."""
    static: bool = False
    """Set by a scenario's static route rather than computed."""


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


class RoutingTables:
    """Every node's route for every prefix, with longest-prefix-match lookup."""

    def __init__(self, tables: dict[str, dict[IPv6Network, Hop]]) -> None:
        self._tables = tables
        self._lpm: dict[str, list[tuple[int, int, dict[int, Hop]]]] = {}
        for node, table in tables.items():
            by_len: dict[int, dict[int, Hop]] = {}
            for prefix, hop in table.items():
                by_len.setdefault(prefix.prefixlen, {})[int(prefix.network_address)] = hop
            self._lpm[node] = [
                (plen, ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1), by_len[plen])
                for plen in sorted(by_len, reverse=True)
            ]

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self._tables)

    def table(self, node: str) -> tuple[Hop, ...]:
        """``node``'s routes, most specific first, then in address order."""
        return tuple(sorted(self._tables[node].values(),
                            key=lambda h: (-h.prefix.prefixlen, h.prefix.network_address)))

    def route(self, node: str, prefix: IPv6Network) -> Hop:
        """``node``'s route for exactly ``prefix``."""
        return self._tables[node][prefix]

    def lookup(self, node: str, address: IPv6Address | int) -> Hop | None:
        """Longest-prefix match of ``address`` in ``node``'s table."""
        a = int(address)
        for _, mask, nets in self._lpm[node]:
            hop = nets.get(a & mask)
            if hop is not None:
                return hop
        return None

    def path(self, src: str, address: IPv6Address | int) -> list[str]:
        """The nodes a packet from ``src`` to ``address`` visits, ``src`` and owner included
        (just ``[src]`` when no route matches)."""
        out = [src]
        node = src
        while True:
            hop = self.lookup(node, address)
            if hop is None or hop.via is None:
                return out
            node = hop.via
            out.append(node)
            if len(out) > len(self._tables) + 1:
                raise RoutingError("routes", f"routing loop towards {IPv6Address(int(address))}: "
                                   + " -> ".join(out))


def compute_routes(nodes: Iterable[str], edges: Iterable[tuple[str, str, float]],
                   destinations: Sequence[Destination], static: Sequence[StaticRoute] = ()
                   ) -> RoutingTables:
    """Shortest-path tables for ``nodes`` over undirected ``edges`` ``(a, b, delay_seconds)``."""
    names = list(dict.fromkeys(nodes))
    adj: dict[str, dict[str, int]] = {n: {} for n in names}
    for a, b, delay in edges:
        w = _ns(delay)
        for x, y in ((a, b), (b, a)):
            old = adj[x].get(y)
            adj[x][y] = w if old is None else min(old, w)

    seen: dict[IPv6Network, Destination] = {}
    for d in destinations:
        other = seen.get(d.prefix)
        if other is not None and other.owner != d.owner:
            raise RoutingError(d.key, f"{d.prefix} is also routed to {other.owner!r} ({other.key})")
        seen.setdefault(d.prefix, d)

    tables: dict[str, dict[IPv6Network, Hop]] = {n: {} for n in names}
    trees: dict[str, dict[str, str | None]] = {}
    for d in seen.values():
        tree = trees.get(d.owner)
        if tree is None:
            tree = trees[d.owner] = _tree_towards(d.owner, adj)
        unreachable = [n for n in names if n not in tree]
        if unreachable:
            raise RoutingError(d.key, f"{d.prefix} of {d.owner!r} is unreachable from "
                               + ", ".join(repr(n) for n in unreachable)
                               + " (no path of [[links]])")
        for n in names:
            tables[n][d.prefix] = Hop(prefix=d.prefix, owner=d.owner, via=tree[n])

    for r in static:
        if r.node not in adj:
            raise RoutingError(f"{r.key}.node", f"unknown node {r.node!r}")
        if r.via not in adj[r.node]:
            raise RoutingError(f"{r.key}.via", f"{r.via!r} is not a neighbour of {r.node!r}")
        owner = None
        for d in seen.values():
            if r.prefix == d.prefix:
                owner = d.owner
        if owner is None:
            raise RoutingError(f"{r.key}.prefix",
                               f"{r.prefix} is not a routed prefix (no node's address, prefix, "
                               "home prefix or MAP prefix)")
        tables[r.node][r.prefix] = Hop(prefix=r.prefix, owner=owner, via=r.via, static=True)

    result = RoutingTables(tables)
    if static:
        keys = {(r.node, r.prefix): r.key for r in static}
        for d in seen.values():
            for n in names:
                _check_path(result, n, d, keys, len(names))
    return result


def _tree_towards(owner: str, adj: dict[str, dict[str, int]]) -> dict[str, str | None]:
    """Each reachable node's next hop towards ``owner`` (``None`` for the owner)."""
    best: dict[str, tuple[int, int]] = {}
    heap: list[tuple[int, int, str]] = [(0, 0, owner)]
    while heap:
        dist, hops, n = heapq.heappop(heap)
        if n in best:
            continue
        best[n] = (dist, hops)
        for m, w in adj[n].items():
            if m not in best:
                heapq.heappush(heap, (dist + w, hops + 1, m))
    tree: dict[str, str | None] = {owner: None}
    for n in best:
        if n != owner:
            tree[n] = min(adj[n], key=lambda v: (best[v][0] + adj[n][v], best[v][1], v)
                          if v in best else (1 << 62, 0, v))
    return tree


def _check_path(tables: RoutingTables, start: str, d: Destination,
                keys: dict[tuple[str, IPv6Network], str], limit: int) -> None:
    node = start
    visited = [node]
    while True:
        hop = tables.route(node, d.prefix)
        if hop.via is None:
            return
        node = hop.via
        if node in visited:
            cycle = [*visited[visited.index(node):], node]
            at_fault = next((keys[(n, d.prefix)] for n in cycle if (n, d.prefix) in keys), "routes")
            raise RoutingError(at_fault, f"routing loop for {d.prefix}: " + " -> ".join(cycle))
        visited.append(node)
        if len(visited) > limit:  # pragma: no cover - a loop is caught above
            raise RoutingError("routes", f"no end to the path for {d.prefix}")
