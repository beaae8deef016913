"""The link relay of a kernel node: the scenario's link model on what the kernel sends.

Theory of operation
-------------------
The testbed runs a scenario's ordinary routers and correspondents as plain Linux nodes
(:mod:`hmipv6.net.kernel_nodes`), and emulates every link at its sender
(:mod:`hmipv6.net.shaper`): a daemon shapes what its engine sends, but a kernel sends its
frames straight onto the veth. This kernel has no netem (``tc qdisc ... netem``: "Specified
qdisc kind is unknown"), so the kernel's own direction of each link goes through this relay,
one process per kernel node, in its namespace (:mod:`hmipv6.net.topology`):

    kernel ``eth0`` ==veth== ``r-eth0`` [relay] ``x-eth0`` ==veth== the neighbour's end

The relay has one ``AF_PACKET`` socket (every EtherType, whole frames) on each of ``r-eth0``
and ``x-eth0``. What the kernel sends (read on ``r-eth0``) goes through the link's
:class:`~hmipv6.net.shaper.Shaper`, built by :func:`~hmipv6.net.shaper.egress_models` as a
daemon at this node would build it (same delay, bandwidth, queue, loss and loss seed), and
leaves on ``x-eth0`` at its arrival time; what arrives on ``x-eth0`` was shaped by its
sender and is handed to ``r-eth0`` at once. A link between two kernel nodes thus has one
relay at each end, each shaping its own direction, as a link between two daemons has. The
frames are carried verbatim (MACs, Neighbor Discovery and all), so the kernel resolves its
neighbours and routes as it did without a relay.

Why a relay and not the alternatives: ``tbf`` (which this kernel has) could serialise at the
bandwidth but has no delay and no seeded loss, and its queue is in octets, not the model's
packets; emulating the kernel's direction in the receiving daemon cannot cover a link
between two kernel nodes. The relay reuses the daemons' code path (one model, one timer
discipline) for every sender, at the price of one Python process per kernel node and two
extra copies per frame, which the precision figures of the daemons' shaping already include
(timer lateness adds to the emulated delay, never subtracts from it).

Control (stdin, one line each, the daemons' protocol where it applies): the relay prints
``ready`` once its sockets are open and forwards at once (no shaping) until ``start <t0>``;
``iface <ifname> down`` loses what that interface still had queued (a ``link-down``
fault: the launcher sets ``x-<ifname>`` down); other lines are ignored; ``stop`` or end of
input prints ``final`` and the interfaces' :class:`~hmipv6.sim.linkmodel.LinkCounters` as
JSON on one line, and exits.

``python -m hmipv6.net.relay --netns NS --node NAME --scenario FILE [--set K=V]...
[--duration S] [--no-shaping]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
from contextlib import suppress
from dataclasses import asdict
from functools import partial

from hmipv6.net.shaper import Shaper, egress_models
from hmipv6.net.topology import relay_names
from hmipv6.sim.scenario import Scenario

__all__ = ["Relay", "main"]

ETH_P_ALL = 0x0003
ETH_HLEN = 14
PACKET_OUTGOING = 4
PACKET_IGNORE_OUTGOING = 23
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
SOCKET_BUFFER = 4 << 20


def _packet_socket(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    for opt in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
        with suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
    with suppress(OSError):  # our own transmissions are not input (checked below otherwise)
        s.setsockopt(263, PACKET_IGNORE_OUTGOING, 1)  # SOL_PACKET
    s.bind((ifname, ETH_P_ALL))
    s.setblocking(False)
    return s


class Relay:
    """The relays of one kernel node's interfaces (module docstring)."""

    def __init__(self, sc: Scenario, name: str, shaping: bool = True) -> None:
        self.name = name
        self.loop = asyncio.get_running_loop()
        self.ifnames = [i.name for i in sc.interfaces.get(name, ()) if i.peer is not None]
        self.inner: dict[str, socket.socket] = {}
        self.wire: dict[str, socket.socket] = {}
        self.t0: float | None = None
        self.done = asyncio.Event()
        self._input = b""
        self.failed: dict[str, int] = {i: 0 for i in self.ifnames}
        """Frames the wire end refused (it was down: a ``link-down`` fault)."""
        models = egress_models(sc, name, ((i, i, None) for i in self.ifnames))
        self.shapers = ({i: Shaper(models[i], self.loop, partial(self._transmit, i))
                         for i in self.ifnames} if shaping else {})

    def open(self) -> None:
        for ifname in self.ifnames:
            inner, wire = relay_names(ifname)
            si, sw = _packet_socket(inner), _packet_socket(wire)
            self.inner[ifname], self.wire[ifname] = si, sw
            self.loop.add_reader(si.fileno(), partial(self._from_kernel, ifname, si))
            self.loop.add_reader(sw.fileno(), partial(self._from_wire, ifname, sw))
        self.loop.add_reader(sys.stdin.fileno(), self._control)

    @staticmethod
    def _frames(s: socket.socket) -> list[bytes]:
        out: list[bytes] = []
        while True:
            try:
                data, addr = s.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return out
            except OSError:  # ENETDOWN: the interface went down
                return out
            if addr[2] != PACKET_OUTGOING:
                out.append(data)

    def _from_kernel(self, ifname: str, s: socket.socket) -> None:
        shaper = self.shapers.get(ifname)
        for frame in self._frames(s):
            if shaper is None or self.t0 is None:
                self._transmit(ifname, frame, b"")
            else:
                # The model counts the IPv6 packet (as the simulator and the daemons, whose
                # AF_PACKET sockets carry no Ethernet header), not the frame.
                shaper.offer(self.t0, time.monotonic() - self.t0, frame,
                             size=max(len(frame) - ETH_HLEN, 0))

    def _from_wire(self, ifname: str, s: socket.socket) -> None:
        inner = self.inner[ifname]
        for frame in self._frames(s):
            with suppress(OSError):
                inner.send(frame)

    def _transmit(self, ifname: str, frame: bytes, mac: bytes) -> bool:
        try:
            self.wire[ifname].send(frame)
        except OSError:
            self.failed[ifname] += 1
            return False
        return True

    def _control(self) -> None:
        data = os.read(sys.stdin.fileno(), 4096)
        self._input += data
        *lines, self._input = self._input.split(b"\n")
        if not data:
            lines.append(b"stop")
        for line in lines:
            words = line.decode(errors="replace").split()
            if words == ["stop"]:
                self.loop.remove_reader(sys.stdin.fileno())
                self.done.set()
                return
            if words[:1] == ["start"] and len(words) == 2:
                self.t0 = float(words[1])
            elif words[:1] == ["iface"] and len(words) == 3 and words[2] == "down":
                shaper = self.shapers.get(words[1])
                if shaper is not None:
                    shaper.drop_pending()

    def counters(self) -> dict[str, dict[str, int]]:
        out = {}
        for ifname in self.ifnames:
            shaper = self.shapers.get(ifname)
            c = asdict(shaper.egress.counters) if shaper is not None else {}
            c["dropped_down"] = c.get("dropped_down", 0) + self.failed[ifname]
            out[ifname] = c
        return out


async def _amain(sc: Scenario, name: str, shaping: bool) -> None:
    relay = Relay(sc, name, shaping)
    relay.open()
    print("ready", flush=True)
    await relay.done.wait()
    print("final " + json.dumps(relay.counters(), sort_keys=True), flush=True)


def main(argv: list[str] | None = None) -> int:
    from hmipv6.sim.scenario import load

    a = argparse.ArgumentParser(prog="python -m hmipv6.net.relay",
                                description="The link relay of a testbed's kernel node.")
    a.add_argument("--netns", required=True)
    a.add_argument("--node", required=True)
    a.add_argument("--scenario", required=True)
    a.add_argument("--set", dest="overrides", action="append", default=[])
    a.add_argument("--duration", type=float)
    a.add_argument("--no-shaping", dest="shaping", action="store_false")
    args = a.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as the daemons: the launcher stops us
    sc = load(args.scenario, tuple(args.overrides), duration=args.duration)
    from pyroute2 import netns

    netns.setns(args.netns, flags=0)
    asyncio.run(_amain(sc, args.node, args.shaping))
    return 0


if __name__ == "__main__":
    sys.exit(main())
