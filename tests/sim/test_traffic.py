"""Traffic: probe format, CBR source timing, and the sink's statistics."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address

import pytest

from hmipv6.sim.scheduler import Scheduler
from hmipv6.sim.traffic import (
    CBR_PORT_BASE,
    PROBE,
    Sink,
    Source,
    cbr_datagram,
    decode_probe,
    echo_fields,
    encode_probe,
)
from hmipv6.wire.ipv6 import IPv6Packet, decode


@dataclass(frozen=True)
class F:
    index: int = 3
    kind: str = "cbr"
    interval: float = 0.01
    size: int = 160
    start: float = 1.0
    stop: float = 1.05


def test_probe_round_trip_and_padding() -> None:
    p = encode_probe(7, 42, 1.25, 160)
    assert len(p) == 160 and PROBE.size == 16
    probe = decode_probe(p)
    assert probe is not None and (probe.flow, probe.sequence, probe.sent_at) == (7, 42, 1.25)
    assert decode_probe(b"short") is None
    assert len(encode_probe(1, 1, 0.0, 4)) == 16


def test_cbr_datagram_in_a_packet_round_trips() -> None:
    udp = cbr_datagram(3, encode_probe(3, 0, 1.0, 64))
    assert (udp.src_port, udp.dst_port) == (CBR_PORT_BASE + 3, CBR_PORT_BASE + 3)
    pkt = IPv6Packet(IPv6Address("2001:db8:c::1"), IPv6Address("2001:db8:f::100"), udp)
    got = decode(pkt.encode())
    assert got.payload == udp
    assert echo_fields(70000, 65537) == (70000 & 0xFFFF, 1)


def test_source_sends_at_start_plus_k_intervals_until_stop() -> None:
    s = Scheduler()
    out: list[tuple[float, int, int]] = []
    src = Source(s, F(), lambda seq, payload: out.append((s.now, seq, len(payload))))
    src.start()
    s.run()
    assert [(round(t, 9), seq) for t, seq, _ in out] == [
        (1.0, 0), (1.01, 1), (1.02, 2), (1.03, 3), (1.04, 4)]
    assert {n for _, _, n in out} == {160}
    assert src.sent == 5


def test_source_halt() -> None:
    s = Scheduler()
    out: list[int] = []
    src = Source(s, F(stop=2.0), lambda seq, payload: out.append(seq))
    src.start()
    s.schedule(1.025, src.halt)
    s.run()
    assert out == [0, 1, 2] and src.sent == 3


def arrive(sink: Sink, events: list[tuple[float, int]], flow: int = 3) -> None:
    for t, seq in events:
        assert sink.receive(t, encode_probe(flow, seq, t - 0.02, 32))


def test_sink_counts_loss_duplicates_reordering_and_gaps() -> None:
    sink = Sink(3)
    arrive(sink, [(1.00, 0), (1.01, 1), (1.02, 3), (1.03, 2), (1.035, 2), (1.15, 6), (1.16, 7)])
    st = sink.stats(sent=9)
    assert (st.sent, st.received, st.lost, st.duplicated, st.reordered) == (9, 6, 3, 1, 1)
    assert st.max_gap == pytest.approx(0.115)
    assert st.delay_mean == pytest.approx(0.02) and st.delay_max == pytest.approx(0.02)
    assert sink.first_arrival_after(1.035) == 1.15
    assert sink.first_arrival_after(1.16) is None
    assert st.as_report(src="cn", dst="mn", kind="cbr") == {
        "from": "cn", "to": "mn", "kind": "cbr", "sent": 9, "received": 6, "lost": 3,
        "duplicated": 1, "reordered": 1, "max_gap": st.max_gap, "delay_mean": st.delay_mean,
        "delay_max": st.delay_max}


def test_sink_ignores_other_flows_and_junk() -> None:
    sink = Sink(3)
    assert not sink.receive(1.0, encode_probe(4, 0, 0.0, 16))
    assert not sink.receive(1.0, b"junk")
    st = sink.stats(sent=2)
    assert (st.received, st.lost, st.max_gap, st.delay_mean) == (0, 2, None, None)


def test_source_into_sink_end_to_end_is_lossless() -> None:
    s = Scheduler()
    sink = Sink(3)
    src = Source(s, F(stop=2.0), lambda seq, p: s.schedule(s.now + 0.03,
                                                           lambda: sink.receive(s.now, p)))
    src.start()
    s.run()
    st = sink.stats(src.sent)
    assert (st.sent, st.received, st.lost, st.reordered) == (100, 100, 0, 0)
    assert st.max_gap == pytest.approx(0.01)
    assert st.delay_max == pytest.approx(0.03)
