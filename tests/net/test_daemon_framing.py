"""The daemon's framing (``Daemon._send_all``): a frame that reuses the frame before's MAC,
socket, header and shaper (same next hop object, same interface) is framed exactly as it is
alone. No sockets, no root: the sends are recorded."""

from __future__ import annotations

import asyncio
import io
import json
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


def test_tx_lines_are_the_classified_packets() -> None:
    """The daemon's short cut for tunnelled UDP that is not IKEv2 logs exactly what
    ``classify`` would: a ``tx`` line per signalling packet, none for data."""
    from hmipv6.core.node import encapsulate_raw
    from hmipv6.sim.metrics import classify
    from hmipv6.wire import IPv6Packet
    from hmipv6.wire.udp import UDP

    a, b = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")

    def udp(sport: int, dport: int, size: int = 8) -> bytes:
        return IPv6Packet(a, b, UDP(sport, dport, bytes(size))).encode()

    inners = [udp(s, d, n) for s, d in ((500, 4000), (4000, 500), (4000, 5000), (500, 500),
                                        (0x01F4 + 256, 0xF401)) for n in (0, 8)]
    packets = [*inners, *(encapsulate_raw(b, a, i) for i in inners),
               encapsulate_raw(b, a, inners[0])[:83], encapsulate_raw(b, a, inners[2])[:83]]
    packets.append(encapsulate_raw(a, b, packets[-5]))  # twice tunnelled

    async def run() -> list[str]:
        sc = load("figure1")
        log = io.StringIO()
        d = Daemon(sc, "map1", log, "t", "hmipv6", shaping=False)
        for p in d.ports:
            d._heads[p.kernel] = b"\x00" * 6 + b"\x86\xdd"
            d._sends[p.kernel] = lambda frame: None
        d._send_all(0.0, [Transmit(d.ports[0].engine, data, None) for data in packets])
        return [json.loads(line)["data"] for line in log.getvalue().splitlines()]

    logged = asyncio.run(run())
    assert logged == [p.hex() for p in packets if classify(p) is not None]
    assert 0 < len(logged) < len(packets)
