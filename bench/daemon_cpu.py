"""The MAP daemon's CPU per tunnelled packet, in-process: real frames through the daemon's
receive path (ring, engine, framing, send) without namespaces, so it runs anywhere and under
callgrind.

The daemon (:class:`hmipv6.net.daemon.Daemon`, map1 of ``bench/dataplane.py``'s scenario, one
binding RCoA -> LCoA, no link emulation) reads its link from cn through a receive ring
(:class:`hmipv6.net.rxring.RxRing`) over anonymous memory whose slots are laid out as the
kernel lays out a ``SOCK_RAW`` frame (``tpacket2_hdr``, ``sockaddr_ll``, the Ethernet header,
then the packet); every slot holds a UDP packet of SIZE octets to the RCoA. Each round marks
every slot ready (the kernel's part) and calls the daemon's reader until the ring is empty,
so each wakeup hands it a full batch, as a loaded daemon sees. Frames go out to a sink (a C
callable that discards them): the kernel's part of sending is not counted.

``--veth``: the same through a real veth pair in a namespace of its own (needs root): the
kernel's ring, and the frames sent on a raw socket; only the daemon's part is timed (the
sender in this process fills the ring between timed rounds).

Prints microseconds of CPU (``time.process_time``) per packet. Under callgrind, run two packet
counts and divide the difference in instructions by the difference in packets.

    python bench/daemon_cpu.py [--size 1200] [--packets 200000] [--profile FILE] [--veth]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import os
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from dataplane import CN, LCOA, RCOA, SCENARIO  # this script's directory

from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.net import rxring
from hmipv6.net.daemon import Daemon
from hmipv6.sim.scenario import loads
from hmipv6.wire.ipv6 import IPv6Packet
from hmipv6.wire.udp import UDP

SLOTS = 1024
_MAC_OFF, _NET_OFF = 66, 80
"""Where the kernel puts a SOCK_RAW frame's MAC header and packet in a TPACKET_V2 slot."""


class _AnonymousSocket:
    """What :class:`RxRing` asks of its socket, for a ring in anonymous memory (``mmap``
    of file descriptor -1)."""

    def setsockopt(self, *args: Any) -> None:
        pass

    def fileno(self) -> int:
        return -1

    def getsockopt(self, *args: Any) -> int:
        return 0


def _packet(size: int) -> bytes:
    packet = IPv6Packet(CN, RCOA, UDP(40000, 9, bytes(size - 48))).encode()
    assert len(packet) == size
    return packet


def _fill_slots(ring: rxring.RxRing, frame: bytes) -> Callable[[], None]:
    """Lay ``frame`` (Ethernet header + packet) into every slot as the kernel would; return
    the function marking every slot ready again."""
    mem = ring.ring
    for k in range(ring.frames):
        off = k * rxring.FRAME
        struct.pack_into("=IIIHH", mem, off, 0, len(frame), len(frame), _MAC_OFF, _NET_OFF)
        # sockaddr_ll: family, protocol, ifindex, hatype, pkttype (HOST), halen, addr.
        struct.pack_into("=HHiHBB8s", mem, off + 32, socket.AF_PACKET, 0xDD86, 2, 1, 0, 6,
                         frame[6:12])
        mem[off + _MAC_OFF:off + _MAC_OFF + len(frame)] = frame
    words = memoryview(mem).cast("I")
    firsts = range(0, ring.frames * rxring.FRAME // 4, rxring.FRAME // 4)

    def ready() -> None:
        for w in firsts:
            words[w] = rxring.TP_STATUS_USER

    return ready


async def _daemon() -> tuple[Daemon, Any]:
    sc = loads(SCENARIO)
    d = Daemon(sc, "map1", io.StringIO(), "cpu", sc.protocol, shaping=False)
    node = d.node
    assert isinstance(node, MobilityAnchorPoint)
    node.cache.update(0.0, RCOA, LCOA, 3600, 1)
    d.t0, d.started = time.monotonic(), True
    port = next(p for p in d.ports if p.engine == sc.interface_towards("map1", "cn").name)
    return d, port


def _in_process(size: int, packets: int) -> tuple[float, int, Daemon]:
    async def run() -> tuple[float, int, Daemon]:
        d, port = await _daemon()
        sink = collections.deque(maxlen=0).append
        for p in d.ports:
            d._heads[p.kernel] = p.mac + b"\x86\xdd"
            d._sends[p.kernel] = sink
        ring = rxring.RxRing(_AnonymousSocket(), SLOTS)  # type: ignore[arg-type]
        d.rings[port.kernel] = ring
        ready = _fill_slots(ring, b"\x02" * 6 + b"\x02\x00\x00\x00\x00\x01\x86\xdd"
                            + _packet(size))
        readable = d._readable
        done, cpu = 0, 0.0
        while done < packets:
            ready()
            t = time.process_time()
            while _any_ready(ring):
                readable(port, None)  # type: ignore[arg-type]
            cpu += time.process_time() - t
            done += ring.frames
        return cpu, done, d

    return asyncio.run(run())


def _any_ready(ring: rxring.RxRing) -> bool:
    return bool(ring.ring[ring.index * rxring.FRAME] & rxring.TP_STATUS_USER)


def _veth(size: int, packets: int) -> tuple[float, int, Daemon]:
    from pyroute2 import NetNS, netns

    ns = f"hm-{os.getpid()}-cpu"
    netns.create(ns)
    try:
        sc = loads(SCENARIO)
        from hmipv6.net.topology import plan

        ports = plan(sc, "cpu").ports["map1"]
        with NetNS(ns) as n:
            # Each of map1's interfaces, as the daemon opens them, a veth whose peer nobody
            # reads (so the frames the daemon sends cost the kernel what a veth costs).
            for k, p in enumerate(ports):
                n.link("add", ifname=p.kernel, kind="veth", peer={"ifname": f"peer{k}"})
                n.link("set", index=n.link_lookup(ifname=p.kernel)[0],
                       address=":".join(f"{b:02x}" for b in p.mac), state="up")
                n.link("set", index=n.link_lookup(ifname=f"peer{k}")[0], state="up")
        netns.setns(ns, flags=0)

        async def run() -> tuple[float, int, Daemon]:
            d, port = await _daemon()
            d.control = "none"  # signals, not stdin
            d.open()  # the daemon's own sockets and rings
            ring = d.rings[port.kernel]
            rx = d.socks[port.kernel]
            tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            tx.bind((f"peer{d.ports.index(port)}", 0))
            frame = (port.mac + bytes(tx.getsockname()[4][:6]) + b"\x86\xdd"
                     + _packet(size))
            done, cpu = 0, 0.0
            while done < packets:
                for _ in range(ring.frames - 64):
                    tx.send(frame)
                t = time.process_time()
                while _any_ready(ring):
                    d._readable(port, rx)
                cpu += time.process_time() - t
                done += ring.frames - 64
            return cpu, done, d

        return asyncio.run(run())
    finally:
        netns.remove(ns)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1200)
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--profile", metavar="FILE", help="write a cProfile dump of the run")
    ap.add_argument("--veth", action="store_true", help="through a real veth pair (root)")
    args = ap.parse_args()
    measure = _veth if args.veth else _in_process
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        cpu, done, d = prof.runcall(measure, args.size, args.packets)
        prof.dump_stats(args.profile)
    else:
        cpu, done, d = measure(args.size, args.packets)
    tunnelled = d.node.counters["tunnelled"]
    print(f"daemon_cpu: {args.size} octets, {done:,} packets{' (veth)' if args.veth else ''}, "
          f"{tunnelled:,} tunnelled: {cpu / done * 1e6:.2f} us CPU per packet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
