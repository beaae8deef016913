"""The AF_PACKET receive ring (net.rxring) on a real veth: every frame read once, in order,
with its packet type and source MAC, across many wrap-arounds of the ring. Needs root."""

from __future__ import annotations

import os
import socket

import pytest

from hmipv6.net.rxring import RxRing
from tests.conftest import need_root

pytestmark = pytest.mark.netns


def test_ring_reads_every_frame_in_order_across_wrap_arounds() -> None:
    need_root()
    from pyroute2 import NetNS, netns

    ns = f"hm-{os.getpid()}-rxring"
    netns.create(ns)
    try:
        with NetNS(ns) as n:
            n.link("add", ifname="a", kind="veth", peer={"ifname": "b"})
            for ifname, mac in (("a", "02:00:00:00:00:0a"), ("b", "02:00:00:00:00:0b")):
                n.link("set", index=n.link_lookup(ifname=ifname)[0], address=mac, state="up")
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
    finally:
        netns.remove(ns)
