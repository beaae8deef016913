"""Packets per second through the MAP daemon (tunnelled) against plain kernel forwarding over
the same namespace path, in one run (needs root).

Path: three namespaces from a small scenario, ``cn -- map1 -- ar1`` (veth pairs, the
testbed's own topology code). A sender in ``cn`` (a raw ``AF_PACKET`` socket writing one
pre-built frame in a loop, so the sender costs as little as Python allows) sends UDP packets
of SIZE octets (the whole IPv6 packet) for SECONDS; ``ar1``'s kernel counts what arrives on
its link from ``map1`` (netlink interface statistics; nothing runs in ``ar1``).

- kernel: ``map1`` is a plain Linux router (IPv6 forwarding, a route and a permanent
  neighbour entry towards ``ar1``); the packets go to an address of ar1's prefix;
- MAP: ``map1`` runs the real ``hmipv6 node`` daemon code (:class:`hmipv6.net.daemon.Daemon`,
  AF_PACKET, asyncio, no link emulation) with one binding RCoA -> LCoA; the packets go to the
  RCoA, the MAP tunnels each to the LCoA (RFC 4140 §6.2: +40 octets) towards ``ar1``.

Prints for each size both rates at ``ar1`` and the ratio MAP / kernel (target >= 0.3 at
1200 octets). When the sender is slower than kernel forwarding the kernel figure is the
sender's rate, so the ratio is an upper bound; the line says so. The daemon is one Python
process: on a loaded machine it gets a fraction of a CPU while the kernel forwards in the
sender's own softirq context, so the line also gives the daemon's packets per CPU second
(its user + system time, /proc/<pid>/stat), what it would forward on a core of its own.

By default the sender and the daemon each get a CPU: each runs in a process of its own, in a
session of its own (so a CFS autogroup of its own), pinned to its own CPU (sender CPU 0, daemon
CPU 1) at nice -19, so that other work on the machine (a build, a test run) does not decide the
ratio. ``--shared`` leaves both to the scheduler at normal priority, as before.

    python bench/dataplane.py [--seconds 3] [--sizes 64,1200] [--shared]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv6Address
from pathlib import Path

from hmipv6.core.node import link_local_for
from hmipv6.net.topology import Topology
from hmipv6.sim.scenario import loads
from hmipv6.wire.ipv6 import IPv6Packet
from hmipv6.wire.udp import UDP

SCENARIO = """
[scenario]
name = "dataplane"
duration = "3600s"
[defaults]
security = "none"
[nodes.cn]
role = "correspondent"
address = "2001:db8:c::1"
[nodes.ha]
role = "home-agent"
address = "2001:db8:f::1"
[nodes.map1]
role = "map"
address = "2001:db8:100::1"
[nodes.ar1]
role = "access-router"
prefix = "2001:db8:a1::/64"
advertise_maps = ["map1"]
[nodes.mn]
role = "mobile-node"
home_agent = "ha"
home_address = "2001:db8:f::100"
[[links]]
between = ["cn", "map1"]
[[links]]
between = ["ha", "map1"]
[[links]]
between = ["map1", "ar1"]
[[cells]]
router = "ar1"
[[moves]]
mn = "mn"
at = "0s"
attach = "ar1"
"""
RCOA = IPv6Address("2001:db8:100::99")
LCOA = IPv6Address("2001:db8:a1::99")
CN = IPv6Address("2001:db8:c::1")


def _sysctl(ns: str, key: str, value: str) -> None:
    from pyroute2 import netns

    netns.pushns(ns)
    try:
        Path(f"/proc/sys/{key.replace('.', '/')}").write_text(value)
    finally:
        netns.popns()


def _rx_packets(ns: str, ifname: str) -> int:
    from pyroute2 import NetNS

    with NetNS(ns) as n:
        link = n.get_links(n.link_lookup(ifname=ifname)[0])[0]
        return int(link.get_attr("IFLA_STATS64")["rx_packets"])


def _frame(dst: IPv6Address, size: int, dst_mac: bytes, src_mac: bytes) -> bytes:
    payload = bytes(size - 48)
    packet = IPv6Packet(CN, dst, UDP(40000, 9, payload)).encode()
    assert len(packet) == size
    return dst_mac + src_mac + b"\x86\xdd" + packet


SENDER_CPU, DAEMON_CPU = 0, 1


def _claim_cpu(cpu: int) -> None:
    """Run this process on ``cpu`` at nice -19, its autogroup too (best effort, needs root).

    The caller was started in a session of its own (``start_new_session``), so its autogroup
    holds only itself: raising that group's nice does not touch the shell that ran the bench.
    """
    if (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})
    os.setpriority(os.PRIO_PROCESS, 0, -19)
    with contextlib.suppress(OSError):  # a kernel without CONFIG_SCHED_AUTOGROUP
        Path("/proc/self/autogroup").write_text("-19")


def _sender(ns: str, ifname: str, frame_hex: str, seconds: str, cpu: str) -> int:
    """The sender process: prints ``frames elapsed`` after sending for ``seconds``."""
    if int(cpu) >= 0:
        _claim_cpu(int(cpu))
    n, elapsed = _send(ns, ifname, bytes.fromhex(frame_hex), float(seconds))
    print(n, elapsed, flush=True)
    return 0


def _spawn(args: list[str], own_cpu: bool) -> subprocess.Popen[str]:
    """This script again with ``args``, in a session of its own when it is to own a CPU."""
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=own_cpu)


def _send(ns: str, ifname: str, frame: bytes, seconds: float) -> tuple[int, float]:
    """Send ``frame`` as fast as possible for ``seconds`` in ``ns``: (frames, elapsed)."""
    from pyroute2 import netns

    s = netns.create_socket(ns, socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    send = s.send
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        for _ in range(256):
            try:
                send(frame)
            except BlockingIOError:  # pragma: no cover - the qdisc is full: retry
                continue
        n += 256
        if time.perf_counter() >= end:
            break
    elapsed = time.perf_counter() - t0
    s.close()
    return n, elapsed


def _measure(topo: Topology, dst: IPv6Address, size: int, seconds: float, own_cpu: bool,
             daemon: int | None = None) -> dict[str, float]:
    sc, p = topo.scenario, topo.plan
    cn_if = sc.interface_towards("cn", "map1")
    ar_if = sc.interface_towards("ar1", "map1")
    frame = _frame(dst, size, link_local_for("map1", cn_if.peer_ifname or "")[1],
                   link_local_for("cn", cn_if.name)[1])
    before = _rx_packets(p.namespaces["ar1"], ar_if.name)
    cpu = _cpu_seconds(daemon) if daemon is not None else (0.0, 0.0)
    sender = _spawn(["--sender", p.namespaces["cn"], cn_if.name, frame.hex(), str(seconds),
                     str(SENDER_CPU if own_cpu else -1)], own_cpu)
    out_text, _ = sender.communicate(timeout=seconds + 30)
    sent_text, elapsed_text = out_text.split()
    sent, elapsed = int(sent_text), float(elapsed_text)
    time.sleep(0.3)  # what is still queued arrives
    got = _rx_packets(p.namespaces["ar1"], ar_if.name) - before
    out = {"sent_pps": sent / elapsed, "pps": got / elapsed, "delivered": got / sent,
           "got": got}
    if daemon is not None:
        user, system = _cpu_seconds(daemon)
        out["user"], out["sys"] = user - cpu[0], system - cpu[1]
        out["cpu"] = out["user"] + out["sys"]
        out["pps_per_cpu"] = got / out["cpu"] if out["cpu"] > 0 else 0.0
    return out


def _worker(scenario: str, run: str, cpu: int) -> int:
    """The MAP daemon, in map1's namespace, with one binding RCoA -> LCoA."""
    import asyncio

    if cpu >= 0:
        _claim_cpu(cpu)

    from pyroute2 import netns

    from hmipv6.core.map import MobilityAnchorPoint
    from hmipv6.net.daemon import Daemon

    sc = loads(scenario)
    netns.setns(f"hm-{run}-map1", flags=0)

    async def main() -> None:
        with open(os.devnull, "w") as log:
            d = Daemon(sc, "map1", log, run, sc.protocol, shaping=False)
            d.open()
            d.start(time.monotonic())
            node = d.node
            assert isinstance(node, MobilityAnchorPoint)
            node.cache.update(0.0, RCOA, LCOA, 3600, 1)
            print("ready", flush=True)
            await d.done.wait()
            print(json.dumps(dict(node.counters)), flush=True)

    if os.environ.get("DATAPLANE_PROFILE"):  # a cProfile dump of the daemon, to that file
        import cProfile

        cProfile.runctx("asyncio.run(main())", globals(), locals(),
                        os.environ["DATAPLANE_PROFILE"])
    else:
        asyncio.run(main())
    return 0


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--sizes", default="64,1200")
    ap.add_argument("--shared", action="store_true",
                    help="do not give the sender and the daemon a CPU each (see above)")
    ap.add_argument("--worker", nargs=2, metavar=("RUN", "CPU"), help=argparse.SUPPRESS)
    ap.add_argument("--sender", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker(SCENARIO, args.worker[0], int(args.worker[1]))
    if args.sender:
        return _sender(*args.sender)
    own_cpu = not args.shared
    if os.geteuid() != 0:
        print("bench/dataplane.py needs root (network namespaces)", file=sys.stderr)
        return 2
    sc = loads(SCENARIO)
    sizes = [int(s) for s in args.sizes.split(",")]
    run = f"{os.getpid()}"
    results: dict[int, dict[str, dict[str, float]]] = {s: {} for s in sizes}
    ar_if = sc.interface_towards("ar1", "map1")
    map_down = sc.interface_towards("map1", "ar1")

    # Kernel forwarding through map1.
    with Topology(sc, run, kernel=frozenset({"cn", "map1"})) as topo:
        ns = topo.plan.namespaces["map1"]
        _sysctl(ns, "net.ipv6.conf.all.forwarding", "1")
        from pyroute2 import NetNS

        with NetNS(ns) as n:
            idx = n.link_lookup(ifname=map_down.name)[0]
            n.neigh("add", dst=str(link_local_for("ar1", ar_if.name)[0]),
                    lladdr=":".join(f"{b:02x}" for b in link_local_for("ar1", ar_if.name)[1]),
                    ifindex=idx, state=0x80, family=10)  # NUD_PERMANENT
        time.sleep(0.5)
        for size in sizes:
            results[size]["kernel"] = _measure(topo, LCOA, size, args.seconds, own_cpu)

    # The MAP daemon in map1.
    with Topology(sc, run, kernel=frozenset({"cn"})) as topo, tempfile.TemporaryDirectory():
        worker = _spawn(["--worker", run, str(DAEMON_CPU if own_cpu else -1)], own_cpu)
        assert worker.stdout is not None and worker.stdin is not None
        if worker.stdout.readline().strip() != "ready":
            print("the MAP daemon did not start", file=sys.stderr)
            return 1
        time.sleep(0.5)
        try:
            for size in sizes:
                results[size]["map"] = _measure(topo, RCOA, size, args.seconds, own_cpu,
                                                worker.pid)
        finally:
            worker.stdin.write("stop\n")
            worker.stdin.close()
            counters = json.loads(worker.stdout.readline() or "{}")
            worker.wait(timeout=10)

    load = os.getloadavg()[0]
    placement = (f"sender on CPU {SENDER_CPU}, daemon on CPU {DAEMON_CPU}, both at nice -19 "
                 f"in sessions of their own" if own_cpu else "CPUs shared with the machine")
    print(f"dataplane: {args.seconds:g} s per measurement, one sender process (AF_PACKET "
          f"loop), {os.cpu_count()} CPUs, load average {load:.1f}; {placement}")
    for size in sizes:
        k, m = results[size]["kernel"], results[size]["map"]
        capped = k["delivered"] > 0.98
        print(f"  {size:5d} octets: kernel forwarding {k['pps']:9,.0f} pps"
              f"{' (= the sender: kernel is faster)' if capped else ''}; MAP daemon "
              f"tunnelled {m['pps']:9,.0f} pps (sender {m['sent_pps']:,.0f}), ratio "
              f"{m['pps'] / k['pps']:.2f}{' (upper bound)' if capped else ''}; the daemon "
              f"used {m['cpu']:.2f} CPU s: {m['pps_per_cpu']:,.0f} pps per CPU second "
              f"({m['user'] / m['got'] * 1e6:.1f} us user + {m['sys'] / m['got'] * 1e6:.1f} us "
              f"system per packet)")
    print(f"  MAP daemon counters: tunnelled {counters.get('tunnelled', 0):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
