"""The daemon's framing (``Daemon._send_all``): a frame that reuses the frame before's MAC,
socket, header and shaper (same next hop object, same interface) is framed exactly as it is
alone. No sockets, no root: the sends are recorded."""

from __future__ import annotations

import asyncio
import io
from ipaddress import IPv6Address

from hmipv6.core.node import Transmit
from hmipv6.net.daemon import Daemon
from hmipv6.net.topology import plan
from hmipv6.sim.scenario import load


def _frames(batches: list[list[Transmit]]) -> list[tuple[str, bytes, bytes, bytes]]:
    async def run() -> list[tuple[str, bytes, bytes, bytes]]:
        sc = load("figure1")
        d = Daemon(sc, "map1", io.StringIO(), "t", "hmipv6", shaping=False)
        sent: list[tuple[str, bytes, bytes, bytes]] = []
        for p in d.ports:
            d._heads[p.kernel] = p.kernel.encode()[:6].ljust(6, b"-") + b"\x86\xdd"
            d._sends[p.kernel] = (lambda k: lambda frame: sent.append(
                (k, frame[:6], frame[6:14], frame[14:])))(p.kernel)
        d.neighbours["eth1"] = {bytes(range(16)): b"learnt"}
        for out in batches:
            d._send_all(0.0, out)
        return sent

    return asyncio.run(run())


def test_reused_framing_equals_each_frame_alone() -> None:
    ifs = [p.engine for p in plan(load("figure1"), "t").ports["map1"] if p.engine]
    hop_a, hop_b = IPv6Address("fe80::1:2ff:fe03:405"), IPv6Address("2001:db8::1")
    uni = b"\x60" + bytes(23) + bytes(range(16)) + b"payload"
    multi = b"\x60" + bytes(23) + b"\xff\x02" + bytes(13) + b"\x01" + b"payload"
    out = []
    for ifname in (*ifs, "nowhere"):
        for hop in (hop_a, hop_b, None):
            out += [Transmit(ifname, uni, hop), Transmit(ifname, uni, hop),
                    Transmit(ifname, multi, hop), Transmit(ifname, uni, hop)]
    out += [Transmit(ifs[0], uni, hop_a), Transmit(ifs[-1], uni, hop_a),
            Transmit(ifs[0], uni, hop_a), Transmit("nowhere", uni, hop_a),
            Transmit(ifs[0], uni, hop_a)]
    together = _frames([out])
    alone = _frames([[t] for t in out])
    assert together == alone
    assert len(together) > len(out) // 2
    assert {f[1] for f in together} >= {b"learnt", b"\x33\x33\x00\x00\x00\x01"}
