"""One node's daemon: its engine on real interfaces, driven by asyncio (``hmipv6 node``).

Theory of operation
-------------------
The aioquic pattern with a real clock. The daemon enters its namespace (``setns`` through
pyroute2, before opening any socket: sockets belong to the namespace they were made in),
builds every engine of the scenario as the simulator does
(:func:`hmipv6.sim.engines.build_engines`, the same provisioned keys) and keeps its own; its
engines draw their random numbers (IKEv2 nonces and Diffie-Hellman keys, return-routability
keys and cookies) from the operating system (:func:`~hmipv6.sim.engines.system_entropy`),
not from the scenario's seed as a simulation does. Each of
its interfaces (:func:`hmipv6.net.topology.plan`) gets an ``AF_PACKET`` raw socket for
EtherType 0x86DD, read through a receive ring (:mod:`hmipv6.net.rxring`): a wakeup's frames
in (up to 256) → ``engine.receive_many(now, ifname, packets)``; after every input,
``datagrams_to_send`` → frames out, events → log lines (``net.eventlog``), and one asyncio
timer re-armed at ``next_timer()``. ``now`` is ``time.monotonic() - t0``, with ``t0`` handed
in by the launcher so every daemon of a run shares one origin (the monotonic clock is the
same in every network namespace).

Link layer: a frame's destination MAC is the MAC inside the next hop's link-local address
(every address the topology gives is the modified EUI-64 of the interface MAC), ``33:33`` +
the low 32 bits for a multicast destination, or, for an on-link destination without a next
hop (an access router answering a mobile node's LCoA), the MAC that address was last seen
sending from on that interface (a passive neighbour cache, as the simulator's cells learn),
else broadcast.

A mobile node's cells: its engine has one ``wlan0``; the kernel has one ``c-<ar>`` per cell
(all down when the run starts). A netlink socket (``RTMGRP_LINK``) reports the launcher
setting them up and down; up → ``link_up(now, "wlan0", router=ar)`` and ``wlan0``
transmits through that end; down (of the current one) → ``link_down``. So the handover's L2
edges are the kernel's own.

Link emulation (egress shaping): this kernel has no netem, so the daemon applies each link's
``delay``, ``bandwidth``, ``queue`` and ``loss`` itself, to every frame it transmits, with the
simulator's model (:class:`hmipv6.sim.linkmodel.Egress`: a FIFO transmitter serialising at the
link's bandwidth, a finite queue with tail drop, a seeded loss draw, then the propagation
delay; :class:`hmipv6.net.shaper.Shaper`, shared with the kernel nodes' link relays). The frame
is handed to the kernel at its computed arrival time, by one asyncio timer per interface
draining that interface's FIFO; the veth then carries it in microseconds. So the
link is emulated at the sender: each end of a wired link shapes its own direction (as the
simulator's two transmitters do), and on a cell the access router's ``wlan0`` and each mobile
node's end of that cell apply the cell's parameters to what they send. Unlike the simulator's
cell, the stations do not share one transmitter (no half-duplex contention between the
router and the mobile nodes), and the loss draws come from one ``random.Random`` per sender
(seeded ``"{seed}/link/<link>/<node>"``), not one per link. A frame lost or tail-dropped is
counted in that interface's :class:`~hmipv6.sim.linkmodel.LinkCounters`, written in the final log
line (``egress``; ``delivered`` there counts frames handed to the kernel at their arrival
time). Precision: the asyncio timers (``loop.call_at`` on the monotonic clock)
fire a fraction of a millisecond late on an idle machine, and a few milliseconds late on a
loaded 2-core one (every node is a process competing for the CPUs); lateness adds to, never
subtracts from, the emulated delay. ``--no-shaping`` sends every frame at once (full speed).

Control (stdin, one line each): ``start <t0>`` starts the engines and flows (an access router
starts advertising), ``stop`` or end of input writes the final state and exits. Faults, sent
by the launcher at the scenario's times: ``crash`` / ``restart`` (the engine's ``crash`` /
``restart``), ``iface <ifname> up|down`` (the engine's interface follows the kernel's, set by
the launcher; going down loses what that interface still had queued, as the simulator's links
do), ``preference <n>`` (a MAP's ``set_preference``) and ``map-preference <address> <n>`` (an
access router's ``set_map_preference``). The daemon prints ``ready`` once its sockets are open.

Home address on a TUN device (``--tun``, a mobile node only): the daemon creates the device
(:mod:`hmipv6.net.tun`) and sets the engine's ``host_delivery``, so the namespace's kernel
applications (``ping``, TCP sockets, ``iperf3``) use the home address: every packet the kernel
writes to the device is handed to ``engine.send_from_host`` (reverse-tunnelled through the
home agent and the MAP, or route-optimised), and after every input the packets the engine
has for the host (``packets_for_host``) are written to the device. The access interfaces
stay the daemon's (the kernel's IPv6 off on them), so only the TUN device carries kernel
traffic. Scenario flows still work: a CBR datagram or Echo Reply of one of this node's flows
is counted on its way to the device.

Binding store: a MAP or home agent with ``binding_store = "durable"`` keeps its binding cache
in SQLite (:mod:`hmipv6.net.sqlite_store`), in ``<logs>/<node>.bindings.sqlite`` next to its
log: ``crash`` / ``restart`` keep the bindings, and a daemon process started again over the
file within the same run (same ``t0``) finds every binding a BA acknowledged (the launcher
removes the file before a run starts). The same file keeps, whatever the binding store, the
node's IPsec sequence state (:func:`keep_sa_state`), so a daemon started again continues its
SAs' counters and replay windows instead of restarting them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import sys
import time
from contextlib import suppress
from dataclasses import asdict
from functools import partial
from ipaddress import IPv6Address
from pathlib import Path
from typing import IO, Any

from hmipv6.core.access_router import AccessRouter
from hmipv6.core.binding_cache import BindingStore, RetainedStore
from hmipv6.core.events import PacketDropped
from hmipv6.core.fast_handover import FastMobileNode
from hmipv6.core.ipsec import IPsec
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.mobile_node import LINK_MTU, TUNNEL_OVERHEAD, MobileNode
from hmipv6.core.node import Node, Transmit, link_local_for
from hmipv6.net.eventlog import DropSummary, encode_event
from hmipv6.net.node_config import ConfigError, NodeConfig
from hmipv6.net.node_config import ports as config_ports
from hmipv6.net.rxring import RxRing
from hmipv6.net.shaper import Shaper, egress_models
from hmipv6.net.sqlite_store import SqliteStore, store_path
from hmipv6.net.topology import Port, plan
from hmipv6.net.tun import HOME_TUN
from hmipv6.sim.engines import (
    UNPROTECTED,
    build_engines,
    emit_probe,
    ike_exports,
    make_provisioner,
    observe,
    provision,
    seed_keyed,
    system_entropy,
)
from hmipv6.sim.metrics import IKE_PORT, classify
from hmipv6.sim.report import node_state
from hmipv6.sim.scenario import MobileNodeSpec, Scenario
from hmipv6.sim.traffic import CBR_PORT_BASE, PROBE, decode_probe, encode_probe

__all__ = ["Daemon", "host_packets", "mac_for", "main"]

ETH_P_IPV6 = 0x86DD
PACKET_OTHERHOST, PACKET_OUTGOING = 3, 4
BROADCAST = b"\xff" * 6
_NLMSG = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
RTM_NEWLINK, IFF_UP, IFF_LOWER_UP = 16, 1, 1 << 16
SIOCGIFFLAGS = 0x8913
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
SOCKET_BUFFER = 4 << 20
"""Octets of kernel buffer per AF_PACKET socket and direction."""
BATCH = 256
"""Frames read per wakeup, handed to the engine in one ``receive_many`` before its output
is sent (:meth:`Daemon._readable`)."""


def mac_for(address: IPv6Address) -> bytes | None:
    """The MAC inside a modified-EUI-64 interface identifier (RFC 4291 Appendix A)."""
    b = address.packed
    if b[11:13] != b"\xff\xfe":
        return None
    return bytes((b[8] ^ 0x02,)) + b[9:11] + b[13:16]


def host_packets(frames: list[tuple[bytes, int, bytes]], neighbours: dict[bytes, bytes]
                 ) -> list[bytes]:
    """The daemon's input from received frames (network-layer octets, packet type, source
    MAC): a frame the kernel saw for another host or sent itself (``PACKET_OTHERHOST``,
    ``PACKET_OUTGOING``) is skipped; a packet of 40 octets or more is cut at the end its
    Payload Length gives (Ethernet padding of a short frame) and its source address's MAC
    learnt into ``neighbours`` (module docstring, link layer). ``RxRing.packets`` does the
    same in its walk of the ring."""
    out = []
    for data, pkttype, mac in frames:
        if pkttype in (PACKET_OTHERHOST, PACKET_OUTGOING):
            continue
        if (n := len(data)) >= 40:
            end = 40 + (data[4] << 8 | data[5])
            if n > end:  # Ethernet padding (a short frame) after the packet
                data = data[:end]
            neighbours[data[8:24]] = mac
        out.append(data)
    return out


def keep_sa_state(node: Node, store_dir: Path) -> SqliteStore | None:
    """Keep ``node``'s SA sequence state (outbound counters, replay windows) in table
    ``sa_state`` of its store file (:func:`~hmipv6.net.sqlite_store.store_path`), restoring
    what a previous process of the same run left there: RFC 4303 §3.3.3 / §3.4.3, the state
    lives as long as the SA, not as long as the process. Whatever the binding store; the
    launcher removes the file before a run. ``None`` for a node without IPsec."""
    security = node.security
    if not isinstance(security, IPsec):
        return None
    store = SqliteStore(store_path(store_dir, node.name), table="sa_state")
    security.attach_state(store)
    return store


def _attached(ifname: str) -> bool:
    """The interface is up with a carrier (SIOCGIFFLAGS; IFF_RUNNING stands for the carrier
    in the ioctl's 16-bit flags)."""
    import fcntl

    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        try:
            res = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16sH14x", ifname.encode(),
                                                                    0))
        except OSError:
            return False
    flags = struct.unpack_from("16sH", res)[1]
    return bool(flags & IFF_UP) and bool(flags & 0x40)  # IFF_RUNNING


class Daemon:
    def __init__(self, sc: Scenario, name: str, log: IO[str], run: str, protocol: str,
                 shaping: bool = True, store_dir: Path | None = None, tun: int | None = None,
                 ports: list[Port] | None = None, control: str = "stdin") -> None:
        self.sc, self.name, self.log = sc, name, log
        prov = make_provisioner(sc)
        self.store: SqliteStore | None = None

        def durable(node: str) -> BindingStore:
            # Every daemon builds every engine; only its own node's durable store is a file.
            if node != name or store_dir is None:
                return RetainedStore()
            self.store = SqliteStore(store_path(store_dir, name))
            return self.store

        # The engines' secrets (IKEv2 nonces and DH keys, return-routability keys) from the
        # operating system, not from the scenario's seed (sim.engines.system_entropy).
        nodes = build_engines(sc, protocol, prov, durable_store=durable,
                              entropy=system_entropy)
        provision(sc, protocol, prov, nodes)
        self.node: Node = nodes[name]
        self.sa_store = keep_sa_state(self.node, store_dir) if store_dir is not None else None
        self.role = sc.nodes[name].role
        self.ports = (ports if ports is not None
                      else [p for p in plan(sc, run).ports[name] if p.engine])
        self.control = control
        """``"stdin"``: the launcher's control lines; ``"none"``: signals (module docstring)."""
        self._port_of = {p.engine: p for p in self.ports}
        self._packed: dict[IPv6Address, bytes] = {}
        self._macs: dict[bytes, bytes] = {}
        """Next hops' addresses as octets (the per-frame MAC lookup's key)."""
        self.mobile = isinstance(sc.nodes[name], MobileNodeSpec)
        self.socks: dict[str, socket.socket] = {}
        self._heads: dict[str, bytes] = {}
        self._sends: dict[str, Any] = {}
        """Each socket's ``send`` (of a whole frame: the destination MAC, then
        :attr:`_heads`, then the packet) and the Ethernet source MAC + EtherType its frames
        carry."""
        self.rings: dict[str, RxRing] = {}
        """Each socket's receive ring (:mod:`hmipv6.net.rxring`), where the kernel has one."""
        self.current: Port | None = None
        """A mobile node's attached cell end."""
        self.neighbours: dict[str, dict[bytes, bytes]] = {}
        self.t0 = 0.0
        self.started = False
        self.timer: asyncio.TimerHandle | None = None
        self.drops = DropSummary()
        """Repeated drops logged as one summary line per reason per second (issue 9)."""
        self.drop_timer: asyncio.TimerHandle | None = None
        self.drop_at: float | None = None
        self._timer_at: float | None = None
        self.sent: dict[int, int] = {}
        self.done = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.shapers = ({k: Shaper(e, self.loop, partial(self._transmit, k))
                         for k, e in egress_models(
                             sc, name, ((p.kernel, p.engine, p.cell) for p in self.ports)
                         ).items()} if shaping else {})
        observe(self.node, self._seen, self._requested if sc.pinged(name) else None)
        self.tun = tun if isinstance(self.node, MobileNode) else None
        """The home address's TUN device, a file descriptor (module docstring)."""
        self._sink_flows = {f.index for f in sc.flows if f.kind == "cbr" and f.dst == name}
        if self.tun is not None:
            assert isinstance(self.node, MobileNode)
            self.node.host_delivery = True

    # -- I/O set-up --------------------------------------------------------------------------

    def open(self) -> None:
        for p in self.ports:
            # SOCK_RAW: frames go out with one send() of octets we head ourselves; a sendto
            # with an address would cost a SIOCGIFINDEX ioctl per frame (CPython resolves
            # the interface name on every call).
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
            for opt, fallback in ((SO_RCVBUFFORCE, socket.SO_RCVBUF),
                                  (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
                # Room for bursts while the daemon waits for a CPU (root may exceed rmem_max).
                try:
                    s.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
                except OSError:
                    s.setsockopt(socket.SOL_SOCKET, fallback, SOCKET_BUFFER)
            s.bind((p.kernel, ETH_P_IPV6))
            s.setblocking(False)
            self.socks[p.kernel] = s
            # Our Ethernet source and type, after the destination MAC of every frame sent.
            self._heads[p.kernel] = bytes(s.getsockname()[4][:6]) + b"\x86\xdd"
            self._sends[p.kernel] = s.send
            with suppress(OSError):  # without PACKET_RX_RING: one recvfrom per frame
                self.rings[p.kernel] = RxRing(s)
            self.loop.add_reader(s.fileno(), partial(self._readable, p, s))
        if self.mobile:
            nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            nl.bind((0, 1))  # RTMGRP_LINK
            nl.setblocking(False)
            self.loop.add_reader(nl.fileno(), partial(self._netlink, nl))
        if self.tun is not None:
            self.loop.add_reader(self.tun, self._tun_readable)
        if self.control == "stdin":
            self.loop.add_reader(sys.stdin.fileno(), self._control)
        else:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(sig, self.done.set)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def write(self, kind: str, t: float, **fields: Any) -> None:
        self.log.write(json.dumps({"t": round(t, 9), "node": self.name, "kind": kind, **fields})
                       + "\n")

    # -- inputs ------------------------------------------------------------------------------

    def _readable(self, port: Port, s: socket.socket) -> None:
        # Up to BATCH frames in, then the engine's output out (one receive_many and one
        # service() per wakeup, not per frame: what a frame caused leaves at most BATCH frames
        # later, about half a millisecond of processing). Then the other sockets, stdin and
        # timers get a turn (the reader is called again while frames wait).
        ring = self.rings.get(port.kernel)
        if not self.started or (self.mobile and port is not self.current):
            # Read and discarded (no neighbour learnt: the frames are nobody's input).
            if ring is not None:
                frames: list[tuple[bytes, int, bytes]] = ring.read(BATCH)
            else:
                frames = self._recv_frames(s)
            if not frames and ring is not None:
                s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # as below
            return
        neighbours = self.neighbours.setdefault(port.engine, {})
        if ring is not None:
            # The ring's walk does host_packets' work (RxRing.packets).
            packets = ring.packets(BATCH, neighbours)
            if not packets:
                # Woken with no frame: a pending socket error (ENETDOWN when the interface
                # went down), which only reading it clears; else poll would report it forever.
                s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                return
        else:
            packets = host_packets(self._recv_frames(s), neighbours)
        # One clock reading: every frame of the batch was already received when it began.
        self.node.receive_many(self.now(), port.engine, packets)
        self.service()

    @staticmethod
    def _recv_frames(s: socket.socket) -> list[tuple[bytes, int, bytes]]:
        """Without a ring: up to BATCH frames, one ``recvfrom`` each, as the ring's
        :meth:`~hmipv6.net.rxring.RxRing.read` gives them."""
        frames: list[tuple[bytes, int, bytes]] = []
        while len(frames) < BATCH:
            try:
                data, addr = s.recvfrom(65535)
            except (BlockingIOError, OSError):  # nothing more; or ENETDOWN (link down)
                break
            frames.append((data[14:], addr[2], addr[4][:6]))  # after the Ethernet header
        return frames

    def _tun_readable(self) -> None:
        """The host sent packets from the home address (module docstring)."""
        node = self.node
        assert self.tun is not None and isinstance(node, MobileNode)
        while True:
            try:
                data = os.read(self.tun, 65535)
            except BlockingIOError:
                break
            if self.started:
                node.send_from_host(self.now(), data)
        self.service()

    def _to_host(self, now: float, packets: list[bytes]) -> None:
        assert self.tun is not None
        for data in packets:
            if len(data) >= 48 and data[6] == 17:  # UDP: a CBR probe of ours?
                if int.from_bytes(data[42:44], "big") - CBR_PORT_BASE in self._sink_flows:
                    self._seen(now, data[48:])
            elif len(data) >= 48 and data[6] == 58 and data[40] == 129:  # an Echo Reply
                self._seen(now, data[48:])
            try:
                os.write(self.tun, data)
            except OSError:  # the device's queue is full: the kernel would drop it too
                self.node.counters["dropped.host-queue"] += 1

    def _netlink(self, nl: socket.socket) -> None:
        data = nl.recv(65535)
        off = 0
        while off + _NLMSG.size + _IFINFO.size <= len(data):
            length, mtype = _NLMSG.unpack_from(data, off)[:2]
            if mtype == RTM_NEWLINK:
                _, _, index, flags, _ = _IFINFO.unpack_from(data, off + _NLMSG.size)
                # Attached: administratively up with a carrier (the cell's radio link).
                self._link(index, flags & (IFF_UP | IFF_LOWER_UP) == IFF_UP | IFF_LOWER_UP)
            off += (length + 3) & ~3 if length else len(data)

    def _link(self, index: int, up: bool) -> None:
        port = next((p for p in self.ports if socket.if_nametoindex(p.kernel) == index), None)
        node = self.node
        if port is None or not self.started or not isinstance(node, MobileNode):
            return
        if up and port is not self.current:
            self.current = port
            node.link_up(self.now(), "wlan0", router=port.cell)
        elif not up and port is self.current:
            self.current = None
            node.link_down(self.now(), "wlan0")
        self.service()

    def _control(self) -> None:
        line = sys.stdin.readline()
        words = line.split()
        if not words or words[0] == "stop":
            self.loop.remove_reader(sys.stdin.fileno())
            self.done.set()
        elif words[0] == "start":
            self.start(float(words[1]))
        elif self.started:
            self.fault(words)

    def fault(self, words: list[str]) -> None:
        """A fault from the launcher (module docstring)."""
        node, now = self.node, self.now()
        kind = words[0]
        if kind == "crash":
            node.crash(now)
        elif kind == "restart":
            node.restart(now)
        elif kind == "iface":
            ifname, up = words[1], words[2] == "up"
            if ifname in node.interfaces:
                node.interfaces[ifname].up = up
            if not up:
                for p in self.ports:
                    if p.engine == ifname and p.kernel in self.shapers:
                        self.shapers[p.kernel].drop_pending()
        elif kind == "preference" and isinstance(node, MobilityAnchorPoint):
            node.set_preference(now, int(words[1]))
        elif kind == "map-preference" and isinstance(node, AccessRouter):
            node.set_map_preference(now, IPv6Address(words[1]), int(words[2]))
        elif kind == "anticipate" and isinstance(node, FastMobileNode):
            # The L2 trigger of a fast handover (RFC 5568 §3.1): the new access router's
            # access point, as the simulator's runner gives it.
            ar = words[1]
            node.anticipate(now, link_local_for(ar, "wlan0")[1], router=ar, ifname="wlan0")
        else:
            print(f"hmipv6 node {self.name}: unknown control {' '.join(words)!r}",
                  file=sys.stderr)
            return
        self.write("fault", now, fault=" ".join(words))
        self.service()

    def _timer(self) -> None:
        self.timer = None
        self._timer_at = None
        self.node.handle_timer(self.now())
        self.service()

    # -- the engine ----------------------------------------------------------------------------

    def start(self, t0: float) -> None:
        self.t0, self.started = t0, True
        delay = max(t0 - time.monotonic(), 0.0)
        self.loop.call_later(delay, self._begin)

    def _begin(self) -> None:
        now = self.now()
        if self.mobile:
            # A cell already attached when the daemon starts (a deployed node; the testbed
            # starts with every cell down).
            for p in self.ports:
                if _attached(p.kernel):
                    self._link(socket.if_nametoindex(p.kernel), True)
                    break
        if isinstance(self.node, AccessRouter):
            self.node.start(now)
        for flow in self.sc.flows:
            if flow.src == self.name and flow.start < flow.stop:
                self.sent[flow.index] = 0
                self.loop.call_at(self.t0 + flow.start, self._probe, flow.index, 0)
        self.service()

    def _probe(self, index: int, k: int) -> None:
        """Probe ``k`` of a flow, due at ``start + k * interval`` (computed, no drift)."""
        flow = self.sc.flows[index]
        now = self.now()
        self.sent[index] = k + 1
        emit_probe(self.sc, flow, self.node, now, k, encode_probe(index, k, now, flow.size))
        self.service()
        at = flow.start + (k + 1) * flow.interval
        if at < flow.stop:
            self.loop.call_at(self.t0 + at, self._probe, index, k + 1)

    def _seen(self, now: float, data: bytes) -> bool:
        probe = decode_probe(data)
        if probe is None or probe.flow >= len(self.sc.flows):
            return False
        flow = self.sc.flows[probe.flow]
        if self.name != (flow.dst if flow.kind == "cbr" else flow.src):
            return False
        self.write("arrival", now, flow=probe.flow, probe=data[:PROBE.size].hex())
        return True

    def _requested(self, now: float, data: bytes) -> None:
        """A ping flow's Echo Request reached this node: logged for the handover metrics."""
        probe = decode_probe(data)
        if probe is None or probe.flow >= len(self.sc.flows):
            return
        flow = self.sc.flows[probe.flow]
        if flow.kind == "ping" and flow.dst == self.name:
            self.write("arrival", now, flow=probe.flow, probe=data[:PROBE.size].hex(),
                       request=True)

    def service(self) -> None:
        node = self.node
        now = self.now()
        out = node.datagrams_to_send(now)
        if out:
            self._send_all(now, out)
        if self.tun is not None:
            assert isinstance(node, MobileNode)
            host = node.packets_for_host()
            if host:
                self._to_host(now, host)
        drops = self.drops
        while (e := node.next_event()) is not None:
            if isinstance(e, PacketDropped):
                self._summarise(e.time)
                if not drops.admit(e.reason, e.time):
                    continue
            self.write("event", e.time, event=encode_event(e))
        self._arm_drop_summary()
        at = node.next_timer()
        if self.timer is not None:
            if at == self._timer_at:
                return  # armed for that already
            self.timer.cancel()
            self.timer = None
        self._timer_at = at
        if at is not None:
            self.timer = self.loop.call_at(self.t0 + at, self._timer)

    def _summarise(self, now: float, *, final: bool = False) -> None:
        """Write the drop summaries (:class:`~hmipv6.net.eventlog.DropSummary`) now due."""
        for reason, since, until, count in self.drops.due(now, final=final):
            self.write("drops", until, reason=reason, count=count, since=round(since, 9))

    def _arm_drop_summary(self) -> None:
        at = self.drops.next_due()
        if at == self.drop_at:
            return  # already armed for that instant (a flood re-arms nothing)
        if self.drop_timer is not None:
            self.drop_timer.cancel()
            self.drop_timer = None
        self.drop_at = at
        if at is not None:
            self.drop_timer = self.loop.call_at(self.t0 + at, self._drop_summary_due)

    def _drop_summary_due(self) -> None:
        self.drop_timer = None
        self.drop_at = None
        self._summarise(self.now())
        self._arm_drop_summary()

    def _send_all(self, now: float, out: list[Transmit]) -> None:
        """Frame and send (or shape) every datagram the engine queued: per frame only the
        lookups that frame needs (the loop's invariants bound once per batch; a frame to the
        same next hop object on the same interface as the one before reuses its MAC, socket,
        header and shaper, without hashing the address again)."""
        mobile, current, port_of = self.mobile, self.current, self._port_of
        packed, neighbours, shapers = self._packed, self.neighbours, self.shapers
        sends, heads, eui_mac, macs = self._sends, self._heads, self._eui_mac, self._macs
        hop: IPv6Address | None = None
        hop_if = ""
        mac, head = b"", b""  # the frame's destination MAC; it and the interface's head
        send: Any = None
        shaper: Shaper | None = None
        for t in out:
            ifname, data, next_hop = t.ifname, t.data, t.next_hop
            if next_hop is hop and next_hop is not None and ifname is hop_if and data[24] != 0xFF:
                pass  # as the frame before: its MAC, socket, header and shaper
            else:
                hop = None  # the variables below change: no frame may reuse them unchecked
                if data[24] == 0xFF:
                    port = current if mobile else port_of.get(ifname)
                    mac = b"\x33\x33" + data[36:40]
                else:
                    port = current if mobile else port_of.get(ifname)
                    if next_hop is None:
                        target = data[24:40]
                    else:
                        got = packed.get(next_hop)
                        if got is None:
                            got = packed[next_hop] = next_hop.packed
                        target = got
                    known = neighbours.get(ifname)
                    mac = ((known.get(target) if known is not None else None)
                           or macs.get(target) or eui_mac(target))
                if port is None:
                    self.node.counters["dropped.no-link"] += 1
                    continue
                kernel = port.kernel
                shaper, send, head = shapers.get(kernel), sends[kernel], mac + heads[kernel]
                if next_hop is not None and data[24] != 0xFF:
                    hop, hop_if = next_hop, ifname
            if (len(data) >= 84 and data[6] == 41 and data[46] == 17
                    and data[80] << 8 | data[81] != IKE_PORT
                    and data[82] << 8 | data[83] != IKE_PORT):
                pass  # tunnelled UDP, not IKEv2: classify's None, without the call
            elif (c := classify(data)) is not None:
                self.write("tx", now, role=self.role, local=self.node.is_local(IPv6Address(c[1])),
                           wireless=ifname == "wlan0", data=data.hex())
            if shaper is not None:
                shaper.offer(self.t0, now, data, mac)  # tail-dropped or lost: counted there
                continue
            try:
                # One joined copy of the packet here costs less than sendmsg's scatter list.
                send(head + data)
            except OSError:
                self.node.counters["dropped.link-down"] += 1

    def _eui_mac(self, target: bytes) -> bytes:
        """The MAC in ``target``'s modified EUI-64 interface identifier, else broadcast
        (memoised: the next hops are few)."""
        mac = self._macs.get(target)
        if mac is None:
            if len(self._macs) > 4096:
                self._macs.clear()
            mac = self._macs[target] = mac_for(IPv6Address(target)) or BROADCAST
        return mac

    def _transmit(self, kernel: str, data: bytes, mac: bytes) -> bool:
        try:
            self._sends[kernel](mac + self._heads[kernel] + data)
        except OSError:
            self.node.counters["dropped.link-down"] += 1
            return False
        return True

    def finish(self) -> None:
        now = self.now()
        self._summarise(now, final=True)
        if self.drop_timer is not None:
            self.drop_timer.cancel()
            self.drop_timer = None
            self.drop_at = None
        # The SAs this node negotiated with IKEv2 (RFC 5380 profile), for ``--export-sa``.
        esp, ike = ike_exports({self.name: self.node})
        extra = {"sa_export": {"esp": esp, "ikev2": ike}} if esp or ike else {}
        self.write("final", now, state=node_state(self.node, self.role, now),
                   sent={str(i): n for i, n in self.sent.items()},
                   egress={k: asdict(sh.egress.counters) for k, sh in self.shapers.items()},
                   **extra)
        self.log.flush()
        if self.store is not None:
            self.store.close()
        if self.sa_store is not None:
            self.sa_store.close()
        if self.tun is not None:
            os.close(self.tun)  # the device goes with it


async def _amain(sc: Scenario, name: str, log_path: Path, run: str, protocol: str,
                 shaping: bool, tun: int | None, ports: list[Port] | None = None,
                 control: str = "stdin") -> None:
    with log_path.open("w", encoding="utf-8") as log:
        d = Daemon(sc, name, log, run, protocol, shaping, store_dir=log_path.parent, tun=tun,
                   ports=ports, control=control)
        d.open()
        if control == "stdin":
            print("ready", flush=True)
        else:
            d.start(time.monotonic())
            print(f"hmipv6 node {name}: running ({len(d.ports)} interfaces"
                  f"{', home address on ' + HOME_TUN if tun is not None else ''})",
                  file=sys.stderr, flush=True)
        await d.done.wait()
        d.finish()


def key_warning(sc: Scenario, protocol: str, node: str) -> str | None:
    """The line ``hmipv6 node`` prints at start when ``node``'s binding signalling would be
    protected by keys derived from the scenario's seed, or not at all
    (:func:`~hmipv6.sim.engines.seed_keyed`): fine in a lab, not in a deployment, where every
    host holds the scenario file. ``None`` when every key is configured."""
    keyed = seed_keyed(sc, protocol, node)
    if not keyed:
        return None
    if keyed == [UNPROTECTED]:
        what = f"binding signalling has {keyed[0]}"
    else:
        what = ("binding signalling protected with keys derived from the scenario's seed, "
                f"known to every host holding the scenario file: {', '.join(keyed)}")
    return (f"hmipv6 node {node}: warning: {what}; for a deployment configure [[sas]] or "
            "[nodes.<mn>.ike] psk or certificate (README, Deployment)")


def run_config(cfg: NodeConfig, *, netns: str | None = None) -> int:
    """``hmipv6 node --config FILE`` (:mod:`hmipv6.net.node_config`)."""
    from hmipv6.sim.scenario import load

    if cfg.control == "stdin":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as main(): the launcher stops us
    sc = load(cfg.scenario, cfg.overrides, duration=cfg.duration)
    warning = key_warning(sc, cfg.protocol or sc.protocol, cfg.node)
    if warning is not None and cfg.control == "none":  # deployed; not the testbed's lab
        print(warning, file=sys.stderr, flush=True)
    ports = config_ports(sc, cfg)
    if netns is not None:
        from pyroute2 import netns as _netns

        _netns.setns(netns, flags=0)
    if cfg.set_mac:
        from pyroute2 import IPRoute

        with IPRoute() as ip:
            for p in ports:
                idx = ip.link_lookup(ifname=p.kernel)
                if not idx:
                    raise ConfigError(f"{cfg.path}: no interface {p.kernel!r} on this host")
                ip.link("set", index=idx[0], address=":".join(f"{b:02x}" for b in p.mac))
    spec = sc.nodes[cfg.node]
    fd = None
    if cfg.tun and isinstance(spec, MobileNodeSpec):
        from hmipv6.net.tun import open_home_tun

        fd = open_home_tun(spec.home_address, LINK_MTU - 2 * TUNNEL_OVERHEAD)
    cfg.log.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_amain(sc, cfg.node, cfg.log, cfg.run, cfg.protocol or sc.protocol,
                       cfg.shaping, fd, ports, cfg.control))
    return 0


def main(sc: Scenario, name: str, log_path: Path, *, netns: str | None, run: str,
         protocol: str | None = None, shaping: bool = True, tun: bool = False) -> int:
    # The launcher stops us ("stop" on stdin); a Ctrl-C on the terminal reaches every process
    # of the group, and must not kill the daemons before they write their final state.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if netns is not None:
        from pyroute2 import netns as _netns

        _netns.setns(netns, flags=0)
    fd = None
    spec = sc.nodes[name]
    if tun and isinstance(spec, MobileNodeSpec):
        from hmipv6.net.tun import open_home_tun

        # Before the event loop: pyroute2 runs one of its own.
        fd = open_home_tun(spec.home_address, LINK_MTU - 2 * TUNNEL_OVERHEAD)
    asyncio.run(_amain(sc, name, log_path, run, protocol or sc.protocol, shaping, fd))
    return 0
