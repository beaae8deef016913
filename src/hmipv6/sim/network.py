"""Build a whole scenario from the engines and drive it with the scheduler: :func:`run`.

Theory of operation
-------------------
:func:`run` turns a :class:`~hmipv6.sim.scenario.Scenario` into engines, links and cells:

- one engine per node spec (``correspondent`` → :class:`CorrespondentNode`, ``home-agent`` →
  :class:`HomeAgent`, ``router`` → :class:`Router` (with ``relay_maps``: an
  :class:`AccessRouter` relaying MAP options from its first wired interface onto the others
  with discovery-only RAs, RFC 4140 §7.1.1), ``map`` → :class:`MobilityAnchorPoint`,
  ``access-router`` → :class:`AccessRouter`, ``mobile-node`` → :class:`MobileNode`), each with
  its own ``random.Random`` seeded from ``"{seed}/node/{name}"`` so adding a node does not
  change another node's draws; interfaces named as the scenario derives them (``eth0``...,
  ``wlan0``) and static routes from :attr:`Scenario.routing` whose next hops are the
  neighbours' link-local addresses;
- security per ``defaults.security``: ``esp`` / ``ah`` install seed-derived SAs
  (:class:`~hmipv6.core.ipsec.keys.Provisioner`) for every MN–MAP and MN–HA pair; ``none``
  gives every node :class:`NullSecurity` (the report says ``"security": "none"``);
- ``protocol = "mipv6"`` keeps the topology but gives the access routers no MAP option and
  turns the mobile nodes' HMIPv6 off (plain RFC 6275);
- ``protocol = "fhmipv6"`` is HMIPv6 with fast handovers anchored at the MAP (RFC 4140
  Appendix A, :mod:`hmipv6.core.fast_handover`). The link layer's "about to move" trigger is
  modelled as simulators do: ``fh_anticipation`` seconds before each move (not the first
  attachment) the runner calls the mobile node's ``anticipate`` with the new access point's
  link-layer address;
- one :class:`WiredLink` per ``[[links]]`` entry, one :class:`Cell` per ``[[cells]]`` entry,
  one :class:`Radio` per mobile node.

The driver loop is the aioquic pattern: after every input to a node (a packet, its timer, a
command), :meth:`Network.service` drains ``datagrams_to_send`` onto links/cells, drains
``next_event`` into :class:`~hmipv6.sim.metrics.Metrics`, and re-arms the node's single
scheduler timer at ``next_timer()`` (the three in one call, ``Node.take_output``; none when
the node is ``idle``). A :class:`Transmit` on a point-to-point link goes to the
one peer; on a cell its next hop (or, when it has none, its destination address) picks the
station, learnt like a bridge from the source addresses stations send from; unknown or
multicast destinations reach every station.

Applications: each flow's :class:`Source` hands probes to the sending engine (UDP for
``cbr``, Echo Request for ``ping``); the receiving engine's ``on_data`` (and Echo Replies)
are observed, like a socket, to feed the flow's :class:`Sink` and the metrics. Moves become
``radio.move`` (→ ``link_down`` / ``link_up``); faults call ``crash`` / ``restart``, take
links down, or change a MAP's preference (at the MAP and, as manual reconfiguration, at the
access routers advertising it).
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from io import BytesIO
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

from hmipv6.core.access_router import AccessRouter
from hmipv6.core.events import Event, PacketDropped
from hmipv6.core.fast_handover import FastMobileNode
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.mobile_node import MobileNode
from hmipv6.core.node import Node, link_local_for
from hmipv6.errors import DecodeError
from hmipv6.sim import metrics as _metrics
from hmipv6.sim.engines import (
    SUITES,  # noqa: F401  (re-exported: moved to hmipv6.sim.engines)
    build_engines,
    emit_probe,
    export_sa_tables,
    ike_exports,
    make_provisioner,
    observe,
    provision,
)
from hmipv6.sim.links import Cell, Radio, Stations, WiredLink, pcap_tap
from hmipv6.sim.metrics import classify
from hmipv6.sim.scenario import (
    AccessRouterSpec,
    CorrespondentSpec,
    Fault,
    Flow,
    HomeAgentSpec,
    MapSpec,
    MobileNodeSpec,
    Move,
    Scenario,
    ScenarioError,
    load,
    protocol_problem,
)
from hmipv6.sim.scheduler import URGENT, Scheduler, TimerHandle
from hmipv6.sim.traffic import Sink, Source, decode_probe, settled_count
from hmipv6.wire.addr import from_packed
from hmipv6.wire.ipv6 import IPv6Packet, decode
from hmipv6.wire.pcap import PcapWriter

__all__ = ["Network", "SimulationResult", "run"]

Progress = Callable[[float, float], object]
"""``progress(now, duration)``: called about every simulated second."""


@dataclass
class SimulationResult:
    """What :func:`run` returns.

    - ``report``: the ``report.json`` dict (format ``hmipv6-report/1``, SCENARIO.md); write it
      with :func:`hmipv6.sim.report.dumps` for the canonical, byte-stable JSON;
    - ``counters``: run statistics (``events`` run by the scheduler, ``packets`` delivered on
      links and cells, ``wall_time`` seconds, ``engine_events`` drained or, for drops
      counted without an event, that would have been);
    - ``pcaps``: link name → pcap octets (raw IPv6, one per ``[[links]]`` entry ``a-b`` and
      per cell ``cell-<ar>``); filled when ``pcap_dir`` or ``capture=True`` was given;
    - ``pcap_files``: link name → path written under ``pcap_dir`` (``<link>.pcap``);
    - ``network``: the :class:`Network` itself, for tests that inspect engines after the run.
    """

    report: dict[str, Any]
    counters: dict[str, float]
    pcaps: dict[str, bytes] = field(default_factory=dict)
    pcap_files: dict[str, Path] = field(default_factory=dict)
    network: Network | None = None


def _rng(seed: int, what: str) -> random.Random:
    return random.Random(f"{seed}/{what}")


def _is_local(node: Node, address: bytes) -> bool:
    return node.is_local(from_packed(address))


class _CellPort:
    """A cell plus the bridge table picking the station for a frame. ``learned_at`` (shared
    by a network's ports): station -> the ports that learned an address of it since it last
    left a cell (:meth:`Network._radio_down` forgets it there only, not at every port)."""

    __slots__ = ("cell", "learned_at", "stations_of", "table")

    def __init__(self, cell: Cell, learned_at: dict[str, dict[_CellPort, None]]) -> None:
        self.cell = cell
        self.learned_at = learned_at
        self.table: dict[bytes, str] = {}
        self.stations_of: dict[str, set[bytes]] = {}

    def learn(self, station: str, address: bytes) -> None:
        if self.table.get(address) != station:
            self.table[address] = station
            self.stations_of.setdefault(station, set()).add(address)
            self.learned_at.setdefault(station, {})[self] = None

    def forget(self, station: str) -> None:
        for a in self.stations_of.pop(station, ()):
            if self.table.get(a) == station:
                del self.table[a]


class Network:
    """A built scenario: engines, links, cells, radios, flows, metrics (module docstring)."""

    def __init__(self, scenario: Scenario, *, protocol: str | None = None,
                 capture: bool = False, keep_events: bool = False,
                 report_drops: bool = True) -> None:
        sc = scenario
        self.scenario = sc
        self.protocol = protocol if protocol is not None else sc.protocol
        if self.protocol not in ("mipv6", "hmipv6", "fhmipv6"):
            raise ValueError(f"unknown protocol {self.protocol!r}")
        problem = protocol_problem(self.protocol, sc.profile)
        if problem is not None:  # load(..., protocols=...) refuses it first, for the CLIs
            raise ScenarioError(sc.source, "scenario.profile", problem)
        self.sched = Scheduler()
        self.nodes: dict[str, Node] = {}
        self.roles: dict[str, str] = {}
        self._timers: dict[str, TimerHandle | None] = {}
        self._timer_calls: dict[str, Callable[[], None]] = {}
        self._ports: dict[tuple[str, str], Any] = {}
        """(node, ifname) → WiredLink or _CellPort."""
        self.links: dict[str, WiredLink] = {}
        self.cells: dict[str, _CellPort] = {}
        """By access router name."""
        self._learned_at: dict[str, dict[_CellPort, None]] = {}
        self.radios: dict[str, Radio] = {}
        self.security = sc.defaults.security
        self.provisioner: Provisioner | None = make_provisioner(sc)
        self.sources: dict[int, Source] = {}
        self.sinks: dict[int, Sink] = {}
        self._sinks_at: dict[str, dict[int, Sink]] = {}
        self.packets = 0
        self.event_log: list[tuple[str, Event]] | None = [] if keep_events else None
        """Every engine event as ``(node, event)`` when ``keep_events`` (for tests)."""
        self.report_drops = report_drops or keep_events or not _metrics.only_counted(PacketDropped)
        """Do the nodes report their drops as events (``Node.report_drops``)? :func:`run`
        says no when it keeps no event log: the metrics would only count them."""
        self._is_local: dict[str, Callable[[bytes], bool]] = {}
        self._shared: list[Any] = [None, None]
        """The last cell frame a station's receiver (:meth:`_station`) or :meth:`_fanout`
        decoded, and its packet (None: it did not decode)."""
        self._screens: dict[str, Callable[[float, IPv6Packet, bytes], bool]] = {}
        """Station -> its node's ``overheard``, for the nodes that have one (:meth:`_fanout`)."""
        self._captures: dict[str, BytesIO] = {}
        ha = {s.address.packed for s in sc.of_role(HomeAgentSpec)}
        cn = {s.address.packed for s in sc.of_role(CorrespondentSpec)}
        maps = {s.address.packed for s in sc.of_role(MapSpec)}
        self.metrics = _metrics.Metrics(self.protocol, ha, cn, maps)
        self._build_nodes()
        self._build_links(capture)
        self._provision()
        self._build_flows()
        self._schedule_moves_and_faults()

    # -- construction ----------------------------------------------------------------------------

    def _build_nodes(self) -> None:
        for name, node in build_engines(self.scenario, self.protocol, self.provisioner).items():
            self.nodes[name] = node
            node.report_drops = self.report_drops
            self._is_local[name] = partial(_is_local, node)
            self.roles[name] = self.scenario.nodes[name].role
            self._timers[name] = None
            self._timer_calls[name] = partial(self._timer, name)
            self._observe(name, node)

    def _observe(self, name: str, node: Node) -> None:
        """Feed the flows' sinks at this node with what its applications receive."""
        sinks = self._sinks_at.setdefault(name, {})
        metrics = self.metrics

        def seen(now: float, data: bytes) -> bool:
            if not sinks:
                return False
            probe = decode_probe(data)
            if probe is None:
                return False
            sink = sinks.get(probe.flow)
            if sink is not None and sink.receive_probe(now, probe):
                rec = metrics.flows.get(probe.flow)
                if rec is not None:
                    rec.arrived(now, probe.sequence)
                return True
            return False

        def requested(now: float, data: bytes) -> None:
            probe = decode_probe(data)
            rec = None if probe is None else metrics.echo_requests.get(probe.flow)
            if probe is not None and rec is not None and rec.dst == name:
                rec.arrived(now, probe.sequence)

        observe(node, seen, requested if self.scenario.pinged(name) else None)

    def _build_links(self, capture: bool) -> None:
        sc = self.scenario
        s = self.sched
        for link in sc.links:
            a, b = link.between
            wl = WiredLink(s, a, b, delay=link.delay, bandwidth=link.bandwidth, queue=link.queue,
                           loss=link.loss, rng=_rng(sc.seed, f"link/{a}-{b}"), name=f"{a}-{b}")
            for end, ifname in zip(link.between, link.ifnames, strict=True):
                wl.connect(end, partial(self._deliver, end, self.nodes[end], ifname))
                self._ports[(end, ifname)] = wl
            self.links[wl.name] = wl
            if capture:
                self._capture(wl.name, wl.taps)
        for c in sc.cells:
            cell = Cell(s, c.router, delay=c.delay, bandwidth=c.bandwidth, queue=c.queue,
                        loss=c.loss, rng=_rng(sc.seed, f"cell/{c.router}"))
            cell.fanout = self._fanout
            port = _CellPort(cell, self._learned_at)
            cell.attach(c.router, self._station(c.router, "wlan0"))
            router = self.nodes[c.router]
            port.learn(c.router, router.interfaces["wlan0"].link_local.packed)
            for address in router.interfaces["wlan0"].addresses:
                port.learn(c.router, address.packed)
            self._ports[(c.router, "wlan0")] = port
            self.cells[c.router] = port
            if capture:
                self._capture(cell.name, cell.taps)
        for spec in sc.of_role(MobileNodeSpec):
            name = spec.name
            self.radios[name] = Radio(s, name, self._station(name, "wlan0"),
                                      on_down=partial(self._radio_down, name),
                                      on_up=partial(self._radio_up, name))

    def _capture(self, name: str, taps: list[Any]) -> None:
        buf = self._captures[name] = BytesIO()
        taps.append(pcap_tap(PcapWriter(buf)))

    def _provision(self) -> None:
        provision(self.scenario, self.protocol, self.provisioner, self.nodes)

    def _build_flows(self) -> None:
        sc = self.scenario
        for flow in sc.flows:
            src = Source(self.sched, flow, partial(self._emit, flow))
            self.sources[flow.index] = src
            sink = Sink(flow.index)
            self.sinks[flow.index] = sink
            at = flow.dst if flow.kind == "cbr" else flow.src
            self._sinks_at[at][flow.index] = sink
            self.metrics.add_flow(flow.index, flow.dst if flow.kind == "cbr" else flow.src,
                                  flow.interval, flow.start)
            if flow.kind == "ping":
                self.metrics.add_echo_requests(flow.index, flow.dst, flow.interval, flow.start)
            src.start()

    def _schedule_moves_and_faults(self) -> None:
        for mv in self.scenario.moves:
            self.sched.schedule(mv.at, partial(self._move, mv), URGENT)
        for f in self.scenario.faults:
            self.sched.schedule(f.at, partial(self._fault, f), URGENT)
        if self.protocol == "fhmipv6":
            # After the moves: a trigger at the time of the previous move runs after it.
            self._schedule_anticipations()

    # -- the driver loop -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the access routers (first RAs at 0 s) and arm every node's timer."""
        for name, node in self.nodes.items():
            if isinstance(node, AccessRouter):
                node.start(self.sched.now)
            self.service(name)

    def service(self, name: str) -> None:
        """Drain a node's output and events and re-arm its timer (after every input)."""
        node = self.nodes[name]
        handle = self._timers[name]
        if not node.idle(handle[0] if handle is not None and handle[3] is not None else None):
            self._drain(name, node, handle)
        # (idle: nothing to drain, the armed deadline stands; _drain would do nothing)

    def _drain(self, name: str, node: Node, handle: TimerHandle | None) -> None:
        """:meth:`service` for a node that is not idle (``handle``: its armed timer)."""
        now = self.sched.now
        out, events, at = node.take_output(now)
        for t in out:
            self._transmit(name, node, t.ifname, t.data, t.next_hop)
        if events:
            on_event = self.metrics.on_event
            log = self.event_log
            for e in events:
                on_event(name, e)
                if log is not None:
                    log.append((name, e))
        if at is not None and at < now:
            at = now
        timers = self._timers
        if handle is not None and handle[3] is not None:
            if handle[0] == at:
                return
            self.sched.cancel(handle)
        timers[name] = None if at is None else self.sched.schedule(at, self._timer_calls[name])

    def _timer(self, name: str) -> None:
        self._timers[name] = None
        self.nodes[name].handle_timer(self.sched.now)
        self.service(name)

    def _deliver(self, name: str, node: Node, ifname: str, data: bytes) -> None:
        """A packet reaching ``node`` (named ``name``) over a wired link."""
        self.packets += 1
        node.receive(self.sched.now, ifname, data)
        handle = self._timers[name]
        if not node.idle(handle[0] if handle is not None and handle[3] is not None else None):
            self._drain(name, node, handle)  # service() inlined, as in _station's receiver

    def _station(self, name: str, ifname: str) -> Callable[[bytes], None]:
        """The receiver of a cell's frames at station ``name`` (built once per station: the
        engine, its methods and the driver's tables are bound here, not looked up per
        frame). A multicast frame reaches every station of the cell with the same octets
        (the same object), decoded once and handed to each as the same immutable packet
        (``Node.receive_packet``, equivalent to ``receive``). Then :meth:`service`, inlined:
        most frames leave the station idle. (A frame for the whole cell reaches a station
        here only when it does more than count it: see :meth:`_fanout`.)"""
        node = self.nodes[name]
        receive = node.receive
        receive_packet = node.receive_packet
        idle = node.idle
        sched = self.sched
        timers = self._timers
        shared = self._shared
        drain = self._drain
        if type(node).overheard is not Node.overheard:
            self._screens[name] = node.overheard  # asked first by _fanout

        decode_shared = self._decode_shared

        def deliver(data: bytes) -> None:
            self.packets += 1
            packet = shared[1] if data is shared[0] else decode_shared(data)
            if packet is None:
                receive(sched.now, ifname, data)
            else:
                receive_packet(sched.now, ifname, packet, data)
            handle = timers[name]
            if not idle(handle[0] if handle is not None and handle[3] is not None else None):
                drain(name, node, handle)

        return deliver

    def _decode_shared(self, data: bytes) -> IPv6Packet | None:
        """Decode a cell frame not decoded yet and keep it as :attr:`_shared` (its packet;
        None: it does not decode), for every station of the cell that gets it."""
        try:
            packet: IPv6Packet | None = decode(data)
        except DecodeError:
            packet = None
        self._shared[0], self._shared[1] = data, packet
        return packet

    def _fanout(self, skip: str | None, stations: Stations, data: bytes) -> None:
        """A frame for every station of a cell (multicast, or unicast flooded for a station
        that left; ``Cell.fanout``): each station that only counts it takes it at once
        (``Node.overheard``: other stations' DAD probes and Router Solicitations, unicast
        for none of its addresses), leaving it idle; the others get it from their receivers
        (:meth:`_station`), in the cell's order. The same as every receiver in turn
        (``tests/sim/test_network.py`` runs both): a station that only counts a frame sends
        nothing, so when it does so does not matter."""
        shared = self._shared
        packet: IPv6Packet | None = shared[1] if data is shared[0] else self._decode_shared(data)
        screens = self._screens
        now = self.sched.now
        taken = 0
        for station, entry in stations:
            if station == skip:
                continue
            if (packet is not None and (screen := screens.get(station)) is not None
                    and screen(now, packet, data)):
                taken += 1
            else:
                entry[0](data)
        self.packets += taken

    def _transmit(self, name: str, node: Node, ifname: str, data: bytes,
                  next_hop: IPv6Address | None) -> None:
        if name in self.radios:
            self._mn_transmit(name, node, ifname, data, next_hop)
            return
        port = self._ports.get((name, ifname))
        if port is None:
            return  # an interface without a link
        wireless = isinstance(port, _CellPort)
        c = classify(data)  # (Metrics.on_transmit, without its call for data)
        if c is not None:
            self.metrics.on_signalling(c, self._is_local[name], self.roles[name], len(data),
                                       wireless)
        if not wireless:
            port.send(name, data)
            return
        to: str | None = None
        if next_hop is not None:
            to = port.table.get(next_hop.packed)
        elif data[24] != 0xFF:
            to = port.table.get(data[24:40])
        port.cell.send(name, data, to)

    def _radio_send_learn(self, name: str, cell: _CellPort, data: bytes) -> None:
        src = data[8:24]
        if src != bytes(16):
            cell.learn(name, src)

    # -- mobile nodes' radios ----------------------------------------------------------------------

    def _mn_transmit(self, name: str, node: Node, ifname: str, data: bytes,
                     next_hop: IPv6Address | None) -> None:
        radio = self.radios[name]
        cell = radio.cell
        if cell is None:
            return
        port = self.cells[cell.router]
        c = classify(data)
        if c is not None:
            self.metrics.on_signalling(c, self._is_local[name], "mobile-node", len(data), True)
        self._radio_send_learn(name, port, data)
        to = None
        if next_hop is not None:
            to = port.table.get(next_hop.packed)
        elif data[24] != 0xFF:
            to = port.table.get(data[24:40])
        cell.send(name, data, to)

    def _radio_down(self, name: str) -> None:
        # Only a port that learned an address of the station has anything to forget.
        for port in self._learned_at.pop(name, ()):
            port.forget(name)
        node = self.nodes[name]
        assert isinstance(node, MobileNode)
        node.link_down(self.sched.now, "wlan0")
        self.service(name)

    def _radio_up(self, name: str, cell: Cell) -> None:
        port = self.cells[cell.router]
        node = self.nodes[name]
        assert isinstance(node, MobileNode)
        port.learn(name, node.interfaces["wlan0"].link_local.packed)
        node.link_up(self.sched.now, "wlan0", router=cell.router)
        self.service(name)

    def _schedule_anticipations(self) -> None:
        """The L2 trigger of fast handovers: ``fh_anticipation`` before every move but a
        mobile node's first, and never before its previous move."""
        last: dict[str, float] = {}
        for mv in sorted(self.scenario.moves, key=lambda m: m.at):
            prev = last.get(mv.mn)
            last[mv.mn] = mv.at
            if prev is None or mv.attach is None:
                continue
            lead = self.scenario.nodes[mv.mn].parameters.fh_anticipation
            if lead <= 0:
                continue
            at = max(mv.at - lead, prev)
            self.sched.schedule(at, partial(self._anticipate, mv), URGENT)

    def _anticipate(self, mv: Move) -> None:
        node = self.nodes[mv.mn]
        radio = self.radios[mv.mn]
        if not isinstance(node, FastMobileNode) or mv.attach is None or radio.cell is None \
                or radio.cell.router == mv.attach:
            return
        node.anticipate(self.sched.now, link_local_for(mv.attach, "wlan0")[1],
                        router=mv.attach, ifname="wlan0")
        self.service(mv.mn)

    def _move(self, mv: Move) -> None:
        radio = self.radios[mv.mn]
        gap = self.scenario.nodes[mv.mn].parameters.l2_handover
        radio.move(self.cells[mv.attach].cell if mv.attach is not None else None, gap)

    # -- faults ------------------------------------------------------------------------------------

    def _fault(self, f: Fault) -> None:
        now = self.sched.now
        node = self.nodes[f.node]
        if f.kind == "crash":
            node.crash(now)
            for flow in self.scenario.flows:
                if flow.src == f.node:
                    self.sources[flow.index].halt()
        elif f.kind == "restart":
            node.restart(now)
        elif f.kind in ("link-down", "link-up"):
            up = f.kind == "link-up"
            for iface in self.scenario.interfaces.get(f.node, ()):
                if f.peer is not None and iface.peer != f.peer:
                    continue
                port = self._ports.get((f.node, iface.name))
                if isinstance(port, WiredLink):
                    port.set_up(up)
                    if iface.peer is not None and iface.peer_ifname is not None:
                        peer_if = self.nodes[iface.peer].interfaces.get(iface.peer_ifname)
                        if peer_if is not None:
                            peer_if.up = up
                elif isinstance(port, _CellPort):
                    port.cell.set_up(up)
                if iface.name in node.interfaces:
                    node.interfaces[iface.name].up = up
        elif f.kind == "preference":
            assert f.value is not None and isinstance(node, MobilityAnchorPoint)
            node.set_preference(now, f.value)
            for name, other in self.nodes.items():
                if isinstance(other, AccessRouter) and name != f.node:
                    spec = self.scenario.nodes[name]
                    if isinstance(spec, AccessRouterSpec) and f.node in spec.advertise_maps:
                        other.set_map_preference(now, node.address, f.value)
                        self.service(name)
        self.service(f.node)

    # -- applications ------------------------------------------------------------------------------

    def _emit(self, flow: Flow, sequence: int, payload: bytes) -> None:
        emit_probe(self.scenario, flow, self.nodes[flow.src], self.sched.now, sequence, payload)
        self.service(flow.src)

    # -- running -----------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> None:
        duration = self.scenario.duration
        self.start()
        if progress is None:
            self.sched.run(until=duration)
            return
        t = 0.0
        while t < duration:
            t = min(t + 1.0, duration)
            self.sched.run(until=t)
            progress(t, duration)

    def unreported_drops(self) -> int:
        """Drops the nodes counted without an event (``Node.report_drops`` is False when the
        network keeps no event log): with ``metrics.events``, every event the engines would
        have reported."""
        return sum(node.unreported_drops for node in self.nodes.values())

    def captures(self) -> dict[str, bytes]:
        return {name: buf.getvalue() for name, buf in self._captures.items()}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Building a network creates hundreds of thousands of long-lived objects (engines, SAs,
    routes) and almost no garbage: the cyclic collector, triggered by the allocations, would
    traverse them again and again (a third of a second for a thousand mobile nodes). Paused
    while building, restored after (garbage made meanwhile is collected later). Collection
    never changes what a run does: no engine uses weak references or finalisers."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _freeze_long_lived() -> bool:
    """While the network runs, what existed before it ran (the built network above all) is
    moved out of the collector's reach (``gc.freeze``), so that its collections of the oldest
    generation, triggered by the run's allocations, do not traverse it; the caller moves it
    back after (``gc.unfreeze``) when this returns True. Called before the collector resumes
    after building (:func:`_collector_paused`): the build's objects, all still in the youngest
    generation, would otherwise be traversed once by the first collection. Left alone (False)
    when the caller froze objects of its own."""
    if gc.get_freeze_count():
        return False
    gc.freeze()
    return True


def run(scenario: Scenario | str | Path, *, protocol: str | None = None,
        pcap_dir: str | Path | None = None, export_sa: str | Path | None = None,
        progress: Progress | None = None, capture: bool = False, keep_events: bool = False,
        overrides: tuple[str, ...] = ()) -> SimulationResult:
    """Simulate a scenario and report on it.

    ``scenario``: a loaded :class:`Scenario`, a path, or a built-in name (``"figure1"``;
    ``overrides`` are ``--set`` strings, used only when loading here; a bad scenario raises
    :class:`~hmipv6.sim.scenario.ScenarioError`). ``protocol``: ``"mipv6"`` or ``"hmipv6"``,
    default the scenario's own. ``pcap_dir``: write ``<pcap_dir>/<link>.pcap`` for every link
    (``a-b``) and cell (``cell-<ar>``), raw-IPv6 linktype. ``capture``: keep the pcaps in
    memory only (``SimulationResult.pcaps``). ``keep_events``: keep every engine event in
    ``result.network.event_log``. ``export_sa``: write Wireshark's ``esp_sa``
    table of every SA provisioned (empty when ``security = "none"``) and, under the
    ``rfc5380`` profile, of every Child SA negotiated with IKEv2; the IKE SAs' keys then go
    to ``<export_sa>.ikev2``, Wireshark's ``ikev2_decryption_table`` (copy it to
    ``~/.config/wireshark/ikev2_decryption_table``, or give each line to tshark as ``-o
    'uat:ikev2_decryption_table:LINE'``). ``progress(now,
    duration)``: called every simulated second.

    Deterministic: the same scenario, protocol and seed give byte-identical reports and pcaps.
    """
    from hmipv6.sim.report import build_report

    sc = scenario if isinstance(scenario, Scenario) else load(scenario, overrides)
    want_pcaps = capture or pcap_dir is not None
    wall = time.perf_counter()
    # Without an event log nothing but a count reads a PacketDropped: the nodes count their
    # drops without them (Node.report_drops; engine_events adds them back).
    with _collector_paused():
        net = Network(sc, protocol=protocol, capture=want_pcaps, keep_events=keep_events,
                      report_drops=keep_events)
        frozen = _freeze_long_lived()
    try:
        net.run(progress)
    finally:
        if frozen:
            gc.unfreeze()
    wall = time.perf_counter() - wall
    # The report is made of new, long-lived objects (a record per handover, per node, per
    # flow) and next to no garbage: the collections its allocations would trigger traverse
    # the whole network and run (a fifth of a second per thousand mobile nodes and simulated
    # minute), so the collector is paused for it too.
    with _collector_paused():
        # Probes sent in the run's last DRAIN seconds that did not arrive are in flight, not
        # lost (hmipv6.sim.traffic.settled_count), for the flows and the handovers alike.
        net.metrics.finish({f.index: settled_count(f, net.sched.now, net.sources[f.index].sent)
                            for f in sc.flows})
        report = build_report(net)
    result = SimulationResult(
        report=report,
        counters={"events": net.sched.events_run, "packets": net.packets,
                  "engine_events": net.metrics.events + net.unreported_drops(),
                  "wall_time": wall},
        network=net)
    if want_pcaps:
        result.pcaps = net.captures()
    if pcap_dir is not None:
        d = Path(pcap_dir)
        d.mkdir(parents=True, exist_ok=True)
        for name, data in result.pcaps.items():
            path = d / f"{name}.pcap"
            path.write_bytes(data)
            result.pcap_files[name] = path
    if export_sa is not None:
        table, ike = export_sa_tables(
            net.provisioner.esp_sa_table() if net.provisioner is not None else None,
            [ike_exports(net.nodes)])
        Path(export_sa).write_text(table, encoding="utf-8")
        if ike:
            Path(f"{export_sa}.ikev2").write_text(ike, encoding="utf-8")
    return result

