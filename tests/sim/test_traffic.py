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
        "delay_max": st.delay_max, "in_flight": 0}


def test_sink_ignores_other_flows_and_junk() -> None:
    sink = Sink(3)
    assert not sink.receive(1.0, encode_probe(4, 0, 0.0, 16))
    assert not sink.receive(1.0, b"junk")
    st = sink.stats(sent=2)
    assert (st.received, st.lost, st.max_gap, st.delay_mean) == (0, 2, None, None)


def test_a_decoded_probe_counts_as_its_payload_would() -> None:
    payloads = [encode_probe(3, seq, t - 0.02, 40)
                for t, seq in [(1.00, 0), (1.01, 1), (1.02, 3), (1.03, 2), (1.035, 2), (1.15, 6)]]
    payloads += [encode_probe(4, 0, 0.0, 16)]
    by_octets, by_probe = Sink(3), Sink(3)
    taken: list[tuple[bool, bool]] = []
    for i, data in enumerate(payloads):
        probe = decode_probe(data)
        assert probe is not None
        now = 1.0 + i * 0.01
        taken.append((by_octets.receive(now, data), by_probe.receive_probe(now, probe)))
    assert taken == [(True, True)] * 6 + [(False, False)]
    assert by_octets.stats(sent=8) == by_probe.stats(sent=8)
    assert by_octets.arrivals == by_probe.arrivals


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


def test_probes_in_flight_at_the_end_are_not_lost() -> None:
    """A flow whose stop is the end of the run: the probes of its last DRAIN seconds that
    had not arrived are in flight, not lost (figure1 cut at 10 s showed 11 lost for 7)."""
    from hmipv6.sim.network import run
    from hmipv6.sim.scenario import load

    rep = run(load("figure1", duration=10.0), protocol="hmipv6").report
    flow, move = rep["flows"][0], rep["handovers"][1]
    assert flow["lost"] == move["lost"] == 7  # the handover's, nothing more
    assert flow["in_flight"] > 0
    assert flow["sent"] == flow["received"] + flow["lost"] + flow["in_flight"]
    full = run(load("figure1"), protocol="hmipv6").report["flows"][0]
    assert full["lost"] == 7 and full["in_flight"] == 0  # stop 19 s of 20: all settled


def test_settled_count_and_stats() -> None:
    from hmipv6.sim.traffic import DRAIN, settled_count

    @dataclass(frozen=True)
    class F:
        index: int = 0
        kind: str = "cbr"
        interval: float = 0.01
        size: int = 16
        start: float = 1.0
        stop: float = 10.0

    f = F()
    assert DRAIN == 1.0
    assert settled_count(f, 10.0, 900) == 800  # sent before 9 s: 1.00 .. 8.99
    assert settled_count(f, 20.0, 900) == 900  # stop long before the end
    assert settled_count(f, 10.0, 500) == 500  # a sender that crashed early
    assert settled_count(F(start=9.5), 10.0, 50) == 0
    sink = Sink(0)
    for q in (0, 1, 3, 5):  # 2 and 4 never arrive; 4 is in the drain window
        sink.receive(1.0, encode_probe(0, q, 0.0, 16))
    st = sink.stats(sent=6, settled=4)
    assert (st.received, st.lost, st.in_flight) == (4, 1, 1)
    assert sink.stats(sent=6).lost == 2 and sink.stats(sent=6).in_flight == 0


def test_flow_record_flight_is_the_longest_delay_and_follows_new_arrivals() -> None:
    """``FlowRecord.flight`` (what ``lost_across`` reads for every handover of a flow) is
    computed once per count of arrivals: equal to the maximum over the arrivals, and again
    after another arrival."""
    from hmipv6.sim.metrics import FlowRecord

    rec = FlowRecord(0, "mn", interval=0.1, start=1.0)
    assert rec.flight() == 0.0
    for seq, t in ((0, 1.02), (1, 1.15), (3, 1.31)):
        rec.arrived(t, seq)
    assert rec.flight() == max(t - 1.0 - q * 0.1 for q, t in ((0, 1.02), (1, 1.15), (3, 1.31)))
    assert rec.flight() == rec.flight()  # (from the cache)
    rec.arrived(1.7, 5)  # 0.2 s on the way: longer than any before
    assert rec.flight() == pytest.approx(0.2)
    assert rec.lost_across(1.2, None, 6) == 2  # 2 and 4; 1 arrived before 1.2
