"""The AF_PACKET receive ring (net.rxring) on a real veth: every frame read once, in order,
with its packet type and source MAC, across many wrap-arounds of the ring. Needs root."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hmipv6.net.rxring import RxRing
from tests.conftest import need_root

pytestmark = pytest.mark.netns


@contextmanager
def _veth_namespace(tag: str) -> Iterator[str]:
    """A network namespace with veths ``a`` (MAC 02:00:00:00:00:0a) and ``b`` (…:0b), up,
    removed after. No IPv6 stack on them: the kernel's own MLD reports, DAD probes and
    Router Solicitations would otherwise mix with a test's frames (or reach one socket
    before another exists); packet sockets see IPv6 frames all the same."""
    import subprocess

    from pyroute2 import NetNS, netns

    ns = f"hm-{os.getpid()}-{tag}"
    netns.create(ns)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                        "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], check=True)
        with NetNS(ns) as n:
            n.link("add", ifname="a", kind="veth", peer={"ifname": "b"})
            for ifname, mac in (("a", "02:00:00:00:00:0a"), ("b", "02:00:00:00:00:0b")):
                n.link("set", index=n.link_lookup(ifname=ifname)[0], address=mac, state="up")
        yield ns
    finally:
        netns.remove(ns)


def test_ring_reads_every_frame_in_order_across_wrap_arounds() -> None:
    need_root()
    from pyroute2 import netns

    with _veth_namespace("rxring") as ns:
        rx = netns.create_socket(ns, socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86DD))
        rx.bind(("b", 0x86DD))
        ring = RxRing(rx, frames=64)
        assert ring.frames == 64
        tx = netns.create_socket(ns, socket.AF_PACKET, socket.SOCK_RAW)
        tx.bind(("a", 0))
        got = []
        for batch in range(10):  # 10 x 50 frames through a 64-slot ring
            for k in range(50):
                seq = batch * 50 + k
                payload = b"\x60" + bytes(39) + seq.to_bytes(4, "big") + bytes(seq % 900)
                # To b's MAC (PACKET_HOST) for even frames, to another (OTHERHOST) for odd.
                dst = bytes.fromhex("02000000000b" if seq % 2 == 0 else "02000000000c")
                tx.send(dst + bytes.fromhex("02000000000a") + b"\x86\xdd" + payload)
            frames = ring.read(1000)
            got += frames
        assert [int.from_bytes(d[40:44], "big") for d, _, _ in got] == list(range(500))
        assert all(len(d) == 44 + (i % 900) for i, (d, _, _) in enumerate(got))
        assert {mac for _, _, mac in got} == {bytes.fromhex("02000000000a")}
        assert [t for _, t, _ in got[:4]] == [0, 3, 0, 3]  # PACKET_HOST, PACKET_OTHERHOST
        assert ring.read(10) == []
        ring.close()
        rx.close()
        tx.close()


class _Anonymous:
    """A "socket" for a ring in anonymous memory (``mmap`` of -1): no kernel, no root."""

    def setsockopt(self, *args: object) -> None:
        pass

    def fileno(self) -> int:
        return -1


def _lay(ring: RxRing, frames: list[tuple[bytes, int, bytes]], start: int) -> None:
    """Write ``frames`` (packet, packet type, source MAC) into slots from ``start`` as the
    kernel writes a SOCK_RAW frame (the Ethernet header at tp_mac 66, the packet at tp_net
    80, tp_snaplen counting both), each marked ready."""
    import struct

    for k, (packet, pkttype, mac) in enumerate(frames):
        off = (start + k) % ring.frames * 4096
        frame = b"\x02" * 6 + mac + b"\x86\xdd" + packet
        struct.pack_into("=IIIHH", ring.ring, off, 1, len(frame), len(frame), 66, 80)
        struct.pack_into("=HHiHBB8s", ring.ring, off + 32, 17, 0xDD86, 2, 1, pkttype, 6, mac)
        ring.ring[off + 66:off + 66 + len(frame)] = frame


def test_packets_equal_the_daemons_reading_of_read() -> None:
    from hmipv6.net.daemon import host_packets

    def packet(k: int) -> bytes:
        body = k.to_bytes(2, "big") * (k % 7)
        src = bytes(15) + bytes((k % 5,))
        return b"\x60\x00\x00\x00" + len(body).to_bytes(2, "big") + b"\x11\x40" + src \
            + bytes(16) + body

    frames = []
    for k in range(300):
        data = packet(k)
        if k % 11 == 0:
            data += b"\x00" * (k % 9)  # Ethernet padding
        if k % 13 == 0:
            data = data[:k % 40]  # shorter than an IPv6 header
        frames.append((data, k % 8, bytes((2, 0, 0, 0, k % 5, k % 3))))
    a, b = RxRing(_Anonymous(), 64), RxRing(_Anonymous(), 64)  # type: ignore[arg-type]
    learnt_a: dict[bytes, bytes] = {}
    learnt_b: dict[bytes, bytes] = {}
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    for first in range(0, 300, 50):  # 6 x 50 frames through a 64-slot ring
        chunk = frames[first:first + 50]
        _lay(a, chunk, a.index)
        _lay(b, chunk, b.index)
        read = b.read(1000)
        assert [d for d, _, _ in read] == [d for d, _, _ in chunk]  # no octet past the frame
        got_b += host_packets(read, learnt_b)
        got_a += a.packets(1000, learnt_a)
    assert got_a == got_b and learnt_a == learnt_b
    assert len(got_a) == 300 - 300 // 4 and len(learnt_a) == 5  # types 3, 4 skipped
    assert all(len(d) < 40 or len(d) == 40 + (d[4] << 8 | d[5]) for d in got_a)
    assert a.packets(10, learnt_a) == [] and a.index == b.index


def test_without_a_ring_the_daemon_reads_what_the_ring_gives() -> None:
    """A kernel without PACKET_RX_RING leaves the daemon its fallback: one ``recvfrom`` per
    frame (``Daemon._recv_frames``), then ``host_packets``. On a real veth, two daemon-style
    sockets (SOCK_RAW, IPv6 EtherType) on the same interface, one with a ring and one
    without, get the same packets and learn the same neighbours: frames to the interface's
    MAC, to a multicast MAC and to another host's (skipped), frames with Ethernet padding
    (cut at the Payload Length). Needs root."""

    need_root()
    from pyroute2 import netns

    from hmipv6.net.daemon import Daemon, host_packets

    with _veth_namespace("noring") as ns:
        socks = []
        for _ in range(2):
            s = netns.create_socket(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86DD))
            s.bind(("b", 0x86DD))
            s.setblocking(False)
            socks.append(s)
        plain, ringed = socks
        ring = RxRing(ringed, frames=64)
        tx = netns.create_socket(ns, socket.AF_PACKET, socket.SOCK_RAW)
        tx.bind(("a", 0))
        dsts = ("02000000000b", "333300000001", "02000000000c")
        for k in range(48):
            body = bytes((k,)) * (k % 5)
            src = bytes(15) + bytes((k % 3 + 1,))
            packet = (b"\x60\x00\x00\x00" + len(body).to_bytes(2, "big") + b"\x3b\x40" + src
                      + bytes(16) + body)
            if k % 4 == 0:
                packet += bytes(6)  # Ethernet padding, as a NIC adds to a short frame
            tx.send(bytes.fromhex(dsts[k % 3]) + bytes.fromhex("02000000000a") + b"\x86\xdd"
                    + packet)
        learnt_plain: dict[bytes, bytes] = {}
        learnt_ring: dict[bytes, bytes] = {}
        frames = Daemon._recv_frames(plain)
        got_plain = host_packets(frames, learnt_plain)
        got_ring = ring.packets(1000, learnt_ring)
        assert got_plain == got_ring and learnt_plain == learnt_ring
        ours = frames
        assert len(ours) == 48 and [t for _, t, _ in ours[:3]] == [0, 2, 3]
        kept = got_plain
        assert len(kept) == 32  # the other host's frames skipped
        # Sources ::1 and ::2 went to b's MAC and to a multicast one; ::3 to another host.
        assert learnt_plain[bytes(15) + b"\x01"] == learnt_plain[bytes(15) + b"\x02"] \
            == bytes.fromhex("02000000000a")
        assert bytes(15) + b"\x03" not in learnt_plain
        assert any(len(d) > 40 + (d[4] << 8 | d[5]) for d, _, _ in ours)  # padded frames
        assert all(len(d) == 40 + (d[4] << 8 | d[5]) for d in kept)  # padding cut
        assert Daemon._recv_frames(plain) == []
        ring.close()
        for s in (plain, ringed, tx):
            s.close()
