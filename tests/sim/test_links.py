"""Links and cells: exact delivery times, FIFO queueing, tail drops, seeded loss, down/up,
attachments and the L2 handover gap; routing tables on a small graph."""

from __future__ import annotations

import io
import random
from ipaddress import IPv6Address, IPv6Network

import pytest

from hmipv6.sim.links import Cell, Radio, WiredLink, pcap_tap
from hmipv6.sim.routing import Destination, RoutingError, StaticRoute, compute_routes
from hmipv6.sim.scheduler import Scheduler
from hmipv6.wire.pcap import PcapWriter, read_pcap

MBPS = 1e6


def wired(s: Scheduler, **kw: object) -> tuple[WiredLink, list[tuple[str, float, bytes]]]:
    args: dict[str, object] = {"delay": 0.010, "bandwidth": 8 * MBPS, "queue": 100}
    args.update(kw)
    link = WiredLink(s, "a", "b", **args)  # type: ignore[arg-type]
    got: list[tuple[str, float, bytes]] = []
    link.connect("a", lambda d: got.append(("a", s.now, d)))
    link.connect("b", lambda d: got.append(("b", s.now, d)))
    return link, got


def test_delivery_time_is_serialisation_plus_delay() -> None:
    s = Scheduler()
    link, got = wired(s)
    assert link.send("a", bytes(1000))  # 8000 bits at 8 Mbps: 1 ms, then 10 ms
    s.run()
    assert got == [("b", pytest.approx(0.011), bytes(1000))]


def test_fifo_back_to_back_packets_queue_behind_each_other() -> None:
    s = Scheduler()
    link, got = wired(s)
    for i in range(3):
        link.send("a", bytes([i]) * 500)  # 0.5 ms each
    s.run()
    assert [t for _, t, _ in got] == [pytest.approx(0.0105), pytest.approx(0.011),
                                      pytest.approx(0.0115)]
    assert [d[0] for _, _, d in got] == [0, 1, 2]


def test_directions_are_independent() -> None:
    s = Scheduler()
    link, got = wired(s)
    link.send("a", bytes(1000))
    link.send("b", bytes(1000))
    s.run()
    assert sorted((e, t) for e, t, _ in got) == [("a", pytest.approx(0.011)),
                                                 ("b", pytest.approx(0.011))]


def test_queue_overflow_is_tail_drop_and_counted() -> None:
    s = Scheduler()
    link, got = wired(s, queue=2)
    accepted = [link.send("a", bytes([i]) * 1000) for i in range(6)]
    # one in transmission + two waiting; the rest are dropped
    assert accepted == [True, True, True, False, False, False]
    assert link.counters.dropped_queue == 3
    s.run(until=0.0015)  # first finished transmitting at 1 ms: one slot is free again
    assert link.send("a", b"late")
    s.run()
    assert [d[:1] for _, _, d in got] == [b"\x00", b"\x01", b"\x02", b"l"]
    assert link.counters.sent == 4 and link.counters.delivered == 4


def test_seeded_loss_is_reproducible() -> None:
    def run(seed: int) -> list[int]:
        s = Scheduler()
        link, got = wired(s, loss=0.3, rng=random.Random(seed))
        for i in range(200):
            s.schedule(i * 0.01, lambda i=i: link.send("a", i.to_bytes(2, "big")))
        s.run()
        assert link.counters.dropped_loss + link.counters.delivered == 200
        return [int.from_bytes(d, "big") for _, _, d in got]

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert 100 < len(first) < 180


def test_link_down_drops_in_flight_and_new_packets() -> None:
    s = Scheduler()
    link, got = wired(s)
    link.send("a", b"x" * 100)
    s.schedule(0.005, lambda: link.set_up(False))
    s.schedule(0.006, lambda: link.send("a", b"y"))
    s.schedule(0.007, lambda: link.set_up(True))
    s.schedule(0.008, lambda: link.send("a", b"z"))
    s.run()
    assert [(t, d) for _, t, d in got] == [(pytest.approx(0.008 + 0.000001 + 0.010), b"z")]
    assert link.counters.dropped_down == 2


def test_taps_see_arrivals_in_time_order_and_write_pcap() -> None:
    s = Scheduler()
    link, _ = wired(s)
    buf = io.BytesIO()
    seen: list[tuple[float, bytes]] = []
    link.taps.append(lambda t, d: seen.append((t, d)))
    link.taps.append(pcap_tap(PcapWriter(buf)))
    link.send("a", bytes(1000))
    link.send("b", b"\x60" + bytes(39))
    s.run()
    assert [t for t, _ in seen] == [pytest.approx(0.01004), pytest.approx(0.011)]
    records = read_pcap(buf.getvalue()).records
    assert [r.data for r in records] == [d for _, d in seen]


# -- cells --------------------------------------------------------------------------------------


def cell_with(s: Scheduler, *stations: str, **kw: object
              ) -> tuple[Cell, list[tuple[str, float, bytes]]]:
    args: dict[str, object] = {"delay": 0.001, "bandwidth": 8 * MBPS}
    args.update(kw)
    cell = Cell(s, "ar", **args)  # type: ignore[arg-type]
    got: list[tuple[str, float, bytes]] = []
    for st in ("ar", *stations):
        cell.attach(st, lambda d, st=st: got.append((st, s.now, d)))
    return cell, got


def test_cell_unicast_and_broadcast() -> None:
    s = Scheduler()
    cell, got = cell_with(s, "mn1", "mn2")
    cell.send("ar", b"ra" * 500)                 # 1000 octets: 1 ms + 1 ms, to both MNs
    cell.send("mn1", b"bu" * 250, to="ar")       # waits for the medium: 2 ms total + 1 ms
    s.run()
    assert got == [("mn1", pytest.approx(0.002), b"ra" * 500),
                   ("mn2", pytest.approx(0.002), b"ra" * 500),
                   ("ar", pytest.approx(0.0025), b"bu" * 250)]
    assert cell.counters.delivered == 2


def test_cell_frames_to_a_station_that_left_are_lost() -> None:
    s = Scheduler()
    cell, got = cell_with(s, "mn1")
    cell.send("ar", bytes(1000), to="mn1")
    s.schedule(0.0015, lambda: cell.detach("mn1"))
    s.schedule(0.0016, lambda: cell.attach("mn1", lambda d: got.append(("again", s.now, d))))
    s.run()
    assert got == []
    assert cell.counters.dropped_detached == 1
    assert not cell.send("mn9", b"x")


def test_cell_multicast_reaches_the_stations_attached_at_send_time_still_attached() -> None:
    """A multicast frame keeps the attachment snapshot of its send time (shared between
    frames sent with no attach/detach in between): a station that attaches later, or leaves
    (and comes back) while the frame is on its way, does not get it; order is attachment order.
    (``three`` arrives with its snapshot still the cell's: no station is checked again.)"""
    s = Scheduler()
    cell, got = cell_with(s, "mn1", "mn2", "mn3")
    cell.send("ar", b"one")                       # arrives at 1 ms + serialisation
    cell.send("mn2", b"two")                      # same snapshot, skips its sender
    cell.detach("mn1")
    cell.attach("mn1", lambda d: got.append(("mn1'", s.now, d)))   # a new attachment
    cell.attach("mn4", lambda d: got.append(("mn4", s.now, d)))
    cell.send("ar", b"three")
    s.run()
    assert [(st, d) for st, _, d in got] == [
        ("mn2", b"one"), ("mn3", b"one"),
        ("ar", b"two"), ("mn3", b"two"),
        ("mn2", b"three"), ("mn3", b"three"), ("mn1'", b"three"), ("mn4", b"three")]
    assert cell.counters.dropped_detached == 2   # mn1's old attachment, for one and two
    assert cell.stations == ("ar", "mn2", "mn3", "mn1", "mn4")


def test_cell_fanout_delivers_a_frame_whose_stations_did_not_change() -> None:
    """``Cell.fanout`` (the simulator's own loop) gets a frame for the whole cell when no
    station attached or left since it was sent, with the sender to skip and the stations in
    attachment order; otherwise, and for a frame to one station, the cell checks and calls
    the receivers itself."""
    s = Scheduler()
    cell, got = cell_with(s, "mn1", "mn2")
    fanned: list[tuple[str | None, tuple[str, ...], bytes]] = []
    cell.fanout = lambda skip, stations, data: fanned.append(
        (skip, tuple(st for st, _ in stations), data))
    cell.send("mn1", b"one")                      # whole cell, nothing changes: fanout
    cell.send("ar", b"two", to="mn2")             # one station: its receiver
    s.run()
    cell.send("ar", b"three")
    cell.detach("mn2")                            # changed in flight: the receivers, checked
    s.run()
    assert fanned == [("mn1", ("ar", "mn1", "mn2"), b"one")]
    assert [(st, d) for st, _, d in got] == [("mn2", b"two"), ("mn1", b"three")]
    assert cell.counters.delivered == 3
    assert cell.counters.dropped_detached == 1


def test_cell_queue_and_loss() -> None:
    s = Scheduler()
    cell, _ = cell_with(s, "mn1", queue=1, loss=0.0)
    assert [cell.send("ar", bytes(100), to="mn1") for _ in range(3)] == [True, True, False]
    assert cell.counters.dropped_queue == 1
    s2 = Scheduler()
    lossy, got = cell_with(s2, "mn1", loss=0.5, rng=random.Random(3))
    for i in range(100):
        s2.schedule(i * 0.01, lambda: lossy.send("ar", b"x", to="mn1"))
    s2.run()
    assert len(got) + lossy.counters.dropped_loss == 100 and 30 < len(got) < 70


def test_radio_handover_gap() -> None:
    s = Scheduler()
    c1, _ = cell_with(s)
    c2 = Cell(s, "ar2", delay=0.001, bandwidth=8 * MBPS)
    c2.attach("ar2", lambda d: None)
    log: list[tuple[float, str]] = []
    radio = Radio(s, "mn", lambda d: log.append((s.now, f"rx {d!r}")),
                  on_down=lambda: log.append((s.now, "down")),
                  on_up=lambda c: log.append((s.now, f"up {c.router}")))
    s.schedule(0.0, lambda: radio.move(c1, 0.05))
    s.schedule(8.0, lambda: radio.move(c2, 0.05))
    s.schedule(8.01, lambda: log.append((s.now, f"send {radio.send(b'x')}")))
    s.schedule(8.06, lambda: log.append((s.now, f"send {radio.send(b'y', to='ar2')}")))
    s.run()
    assert log == [(0.0, "up ar"), (8.0, "down"), (8.01, "send False"),
                   (pytest.approx(8.05), "up ar2"), (8.06, "send True")]
    assert not c1.is_attached("mn") and c2.stations == ("ar2", "mn")


def test_radio_move_during_the_gap_restarts_it() -> None:
    s = Scheduler()
    c1, _ = cell_with(s)
    c2 = Cell(s, "ar2", delay=0.001, bandwidth=8 * MBPS)
    c3 = Cell(s, "ar3", delay=0.001, bandwidth=8 * MBPS)
    ups: list[tuple[float, str]] = []
    radio = Radio(s, "mn", lambda d: None, on_up=lambda c: ups.append((s.now, c.router)))
    radio.move(c1, 0.05)
    s.schedule(1.0, lambda: radio.move(c2, 0.05))
    s.schedule(1.02, lambda: radio.move(c3, 0.05))
    s.run()
    assert ups == [(0.0, "ar"), (pytest.approx(1.07), "ar3")]
    assert not c2.is_attached("mn")


# -- routing ------------------------------------------------------------------------------------


def _dest(prefix: str, owner: str) -> Destination:
    return Destination(prefix=IPv6Network(prefix), owner=owner, key=f"nodes.{owner}.prefix")


def test_route_tables_on_a_small_graph() -> None:
    #   a --1ms-- b --1ms-- d
    #   a --1ms-- c --1ms-- d      (equal cost: tie broken by name: via b)
    #   a ------5ms-------- d
    edges = [("a", "b", 0.001), ("b", "d", 0.001), ("a", "c", 0.001), ("c", "d", 0.001),
             ("a", "d", 0.005)]
    t = compute_routes("abcd", edges, [_dest("2001:db8:d::/64", "d"), _dest("2001:db8:a::/64", "a"),
                                       _dest("2001:db8:d::1/128", "d")])
    assert [(str(h.prefix), h.via) for h in t.table("a")] == [
        ("2001:db8:d::1/128", "b"), ("2001:db8:a::/64", None), ("2001:db8:d::/64", "b")]
    assert t.route("d", IPv6Network("2001:db8:a::/64")).via == "b"
    assert t.route("c", IPv6Network("2001:db8:a::/64")).via == "a"
    assert t.path("c", IPv6Address("2001:db8:d::99")) == ["c", "d"]
    assert t.path("a", IPv6Address("2001:db8:d::99")) == ["a", "b", "d"]
    assert t.lookup("a", IPv6Address("2001:db8:e::1")) is None


def test_fewer_hops_win_among_equal_delays_even_over_zero_delay_links() -> None:
    edges = [("a", "b", 0.0), ("b", "c", 0.0), ("a", "c", 0.0), ("c", "d", 0.0)]
    t = compute_routes("abcd", edges, [_dest("2001:db8:d::/64", "d")])
    assert t.route("a", IPv6Network("2001:db8:d::/64")).via == "c"
    assert t.route("b", IPv6Network("2001:db8:d::/64")).via == "c"
    for n in "abc":
        assert t.path(n, IPv6Address("2001:db8:d::1"))[-1] == "d"


def test_routing_errors() -> None:
    with pytest.raises(RoutingError, match=r"unreachable from 'c'"):
        compute_routes("abc", [("a", "b", 0.001)], [_dest("2001:db8:a::/64", "a")])
    loop = [StaticRoute(node="a", prefix=IPv6Network("2001:db8:c::/64"), via="b", key="routes[0]"),
            StaticRoute(node="b", prefix=IPv6Network("2001:db8:c::/64"), via="a", key="routes[1]")]
    with pytest.raises(RoutingError) as info:
        compute_routes("abc", [("a", "b", 0.001), ("b", "c", 0.001)],
                       [_dest("2001:db8:c::/64", "c")], loop)
    assert str(info.value) == "routes[0]: routing loop for 2001:db8:c::/64: a -> b -> a"
