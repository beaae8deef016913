"""One node's daemon: its engine on real interfaces, driven by asyncio (``hmipv6 node``).

Theory of operation
-------------------
The aioquic pattern with a real clock. The daemon enters its namespace (``setns`` through
pyroute2, before opening any socket: sockets belong to the namespace they were made in),
builds every engine of the scenario exactly as the simulator does
(:func:`hmipv6.sim.engines.build_engines`, same seeds, same keys) and keeps its own. Each of
its interfaces (:func:`hmipv6.net.topology.plan`) gets an ``AF_PACKET`` datagram socket for
EtherType 0x86DD: frames in → ``engine.receive(now, ifname, octets)``; after every input,
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

Control (stdin, one line each): ``start <t0>`` starts the engines and flows (an access router
starts advertising), ``stop`` or end of input writes the final state and exits. The daemon
prints ``ready`` once its sockets are open.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
import time
from functools import partial
from ipaddress import IPv6Address
from pathlib import Path
from typing import IO, Any

from hmipv6.core.access_router import AccessRouter
from hmipv6.core.mobile_node import MobileNode
from hmipv6.core.node import Node
from hmipv6.net.eventlog import encode_event
from hmipv6.net.topology import Port, plan
from hmipv6.sim.engines import build_engines, emit_probe, make_provisioner, observe, provision
from hmipv6.sim.metrics import classify
from hmipv6.sim.report import node_state
from hmipv6.sim.scenario import MobileNodeSpec, Scenario
from hmipv6.sim.traffic import PROBE, decode_probe, encode_probe

__all__ = ["Daemon", "mac_for", "main"]

ETH_P_IPV6 = 0x86DD
PACKET_OTHERHOST, PACKET_OUTGOING = 3, 4
BROADCAST = b"\xff" * 6
_NLMSG = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
RTM_NEWLINK, IFF_UP = 16, 1


def mac_for(address: IPv6Address) -> bytes | None:
    """The MAC inside a modified-EUI-64 interface identifier (RFC 4291 Appendix A)."""
    b = address.packed
    if b[11:13] != b"\xff\xfe":
        return None
    return bytes((b[8] ^ 0x02,)) + b[9:11] + b[13:16]


class Daemon:
    def __init__(self, sc: Scenario, name: str, log: IO[str], run: str, protocol: str) -> None:
        self.sc, self.name, self.log = sc, name, log
        prov = make_provisioner(sc)
        nodes = build_engines(sc, protocol, prov)
        provision(sc, protocol, prov, nodes)
        self.node: Node = nodes[name]
        self.role = sc.nodes[name].role
        self.ports = [p for p in plan(sc, run).ports[name] if p.engine]
        self.mobile = isinstance(sc.nodes[name], MobileNodeSpec)
        self.socks: dict[str, socket.socket] = {}
        self.current: Port | None = None
        """A mobile node's attached cell end."""
        self.neighbours: dict[str, dict[bytes, bytes]] = {}
        self.t0 = 0.0
        self.started = False
        self.timer: asyncio.TimerHandle | None = None
        self.sent: dict[int, int] = {}
        self.done = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        observe(self.node, self._seen)

    # -- I/O set-up --------------------------------------------------------------------------

    def open(self) -> None:
        for p in self.ports:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IPV6))
            s.bind((p.kernel, ETH_P_IPV6))
            s.setblocking(False)
            self.socks[p.kernel] = s
            self.loop.add_reader(s.fileno(), partial(self._readable, p, s))
        if self.mobile:
            nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            nl.bind((0, 1))  # RTMGRP_LINK
            nl.setblocking(False)
            self.loop.add_reader(nl.fileno(), partial(self._netlink, nl))
        self.loop.add_reader(sys.stdin.fileno(), self._control)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def write(self, kind: str, t: float, **fields: Any) -> None:
        self.log.write(json.dumps({"t": round(t, 9), "node": self.name, "kind": kind, **fields})
                       + "\n")

    # -- inputs ------------------------------------------------------------------------------

    def _readable(self, port: Port, s: socket.socket) -> None:
        while True:
            try:
                data, addr = s.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError:  # ENETDOWN: the interface went down under a pending read
                return
            if not self.started or addr[2] in (PACKET_OTHERHOST, PACKET_OUTGOING):
                continue
            if self.mobile and port is not self.current:
                continue
            if len(data) >= 40:
                data = data[:40 + int.from_bytes(data[4:6], "big")]
                self.neighbours.setdefault(port.engine, {})[data[8:24]] = addr[4][:6]
            self.node.receive(self.now(), port.engine, data)
            self.service()

    def _netlink(self, nl: socket.socket) -> None:
        data = nl.recv(65535)
        off = 0
        while off + _NLMSG.size + _IFINFO.size <= len(data):
            length, mtype = _NLMSG.unpack_from(data, off)[:2]
            if mtype == RTM_NEWLINK:
                _, _, index, flags, _ = _IFINFO.unpack_from(data, off + _NLMSG.size)
                self._link(index, bool(flags & IFF_UP))
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

    def _timer(self) -> None:
        self.timer = None
        self.node.handle_timer(self.now())
        self.service()

    # -- the engine ----------------------------------------------------------------------------

    def start(self, t0: float) -> None:
        self.t0, self.started = t0, True
        delay = max(t0 - time.monotonic(), 0.0)
        self.loop.call_later(delay, self._begin)

    def _begin(self) -> None:
        now = self.now()
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

    def service(self) -> None:
        node = self.node
        now = self.now()
        for t in node.datagrams_to_send(now):
            self._send(now, t.ifname, t.data, t.next_hop)
        while (e := node.next_event()) is not None:
            self.write("event", e.time, event=encode_event(e))
        at = node.next_timer()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if at is not None:
            self.timer = self.loop.call_at(self.t0 + at, self._timer)

    def _send(self, now: float, ifname: str, data: bytes, next_hop: IPv6Address | None) -> None:
        if self.mobile:
            port = self.current
        else:
            port = next((p for p in self.ports if p.engine == ifname), None)
        if port is None:
            self.node.counters["dropped.no-link"] += 1
            return
        if data[24] == 0xFF:
            mac = b"\x33\x33" + data[36:40]
        else:
            target = next_hop if next_hop is not None else IPv6Address(data[24:40])
            mac = (self.neighbours.get(ifname, {}).get(target.packed)
                   or mac_for(target) or BROADCAST)
        c = classify(data)
        if c is not None:
            self.write("tx", now, role=self.role, local=self.node.is_local(IPv6Address(c[1])),
                       wireless=ifname == "wlan0", data=data.hex())
        try:
            self.socks[port.kernel].sendto(data, (port.kernel, ETH_P_IPV6, 0, 0, mac))
        except OSError:
            self.node.counters["dropped.link-down"] += 1

    def finish(self) -> None:
        now = self.now()
        self.write("final", now, state=node_state(self.node, self.role, now),
                   sent={str(i): n for i, n in self.sent.items()})
        self.log.flush()


async def _amain(sc: Scenario, name: str, log_path: Path, run: str, protocol: str) -> None:
    with log_path.open("w", encoding="utf-8") as log:
        d = Daemon(sc, name, log, run, protocol)
        d.open()
        print("ready", flush=True)
        await d.done.wait()
        d.finish()


def main(sc: Scenario, name: str, log_path: Path, *, netns: str | None, run: str,
         protocol: str | None = None) -> int:
    if netns is not None:
        from pyroute2 import netns as _netns

        _netns.setns(netns, flags=0)
    asyncio.run(_amain(sc, name, log_path, run, protocol or sc.protocol))
    return 0
