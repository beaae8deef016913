"""Issue 9, item 10: junk sent at a testbed daemon must not flood its log.

Before: every dropped packet became one ``event`` line of 240-300 octets in the daemon's log,
unthrottled (an attacker on a cell could fill the disk at line rate). Now drops are
summarised (``net.eventlog.DropSummary``): per reason and per second, the first drop is
logged in full and the rest as one ``drops`` line with their count; the engine's counters
still count every packet. The daemon here is the real ``net.daemon.Daemon`` of the figure1
scenario's MAP (its sockets not opened: the packets go straight into its engine, as
``_readable`` hands them, and ``service`` writes the log).
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from ipaddress import IPv6Address
from pathlib import Path

from hmipv6.net.daemon import Daemon
from hmipv6.net.eventlog import DropSummary, read_logs, report_from_logs
from hmipv6.sim.scenario import load
from hmipv6.wire.ipv6 import DestinationOptions, HomeAddressOption, IPv6Packet
from hmipv6.wire.mobility import BindingUpdate, BUFlags

PACKETS = 6000
SECONDS = 3.0


def _junk(rng: random.Random, map_address: bytes) -> bytes:
    kind = rng.randrange(3)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 120))  # malformed
    if kind == 1:  # a well-formed packet for somebody else: not-for-us / no-route
        return (b"\x60\x00\x00\x00\x00\x00\x3b\x40" + rng.randbytes(16)
                + bytes.fromhex("20010db8dead") + rng.randbytes(10))
    # an unprotected local BU to the MAP: refused by policy
    src = IPv6Address(b"\x20\x01\x0d\xb8\x00\xa1" + rng.randbytes(10))
    hoa = IPv6Address(map_address[:8] + rng.randbytes(8))
    return IPv6Packet(src, IPv6Address(map_address),
                      BindingUpdate(rng.randrange(1 << 16), BUFlags.A | BUFlags.M, 60),
                      (DestinationOptions((HomeAddressOption(hoa),)),)).encode()


def _flood(tmp_path: Path) -> tuple[list[dict[str, object]], dict[str, int]]:
    async def run() -> tuple[str, dict[str, int]]:
        sc = load("figure1")
        log = io.StringIO()
        d = Daemon(sc, "map1", log, "t", "hmipv6", shaping=False, store_dir=tmp_path)
        d._transmit = lambda *args: True  # type: ignore[method-assign]  # no sockets here
        d.t0 = asyncio.get_running_loop().time() - 1e6  # timers far in the past: due at once
        rng = random.Random(9)
        address = d.node.address_on("eth0").packed
        for i in range(PACKETS):
            d.node.receive(SECONDS * i / PACKETS, "eth0", _junk(rng, address))
            d.service()
        d.finish()
        counters = {k: v for k, v in d.node.counters.items() if k.startswith("dropped.")}
        return log.getvalue(), counters

    text, counters = asyncio.run(run())
    return [json.loads(line) for line in text.splitlines()], counters


def test_a_flood_of_junk_costs_one_line_per_reason_per_second(tmp_path: Path) -> None:
    lines, counters = _flood(tmp_path)
    drops = [d for d in lines if d["kind"] in ("event", "drops")]
    reasons = {k.removeprefix("dropped.") for k in counters}
    assert sum(counters.values()) >= PACKETS  # the counters still see every packet
    # At most a full line and a summary line per reason and per second (and the last
    # interval's summary at the end).
    assert len(drops) <= 2 * len(reasons) * (int(SECONDS) + 1)
    # Summaries plus full lines account for every dropped packet.
    logged: dict[str, int] = {}
    for d in drops:
        if d["kind"] == "drops":
            logged[str(d["reason"])] = logged.get(str(d["reason"]), 0) + int(str(d["count"]))
        elif d["event"]["type"] == "PacketDropped":  # type: ignore[index]
            r = str(d["event"]["reason"])  # type: ignore[index]
            logged[r] = logged.get(r, 0) + 1
    assert logged == {k.removeprefix("dropped."): v for k, v in counters.items()}
    size = sum(len(json.dumps(d)) + 1 for d in drops)
    assert size / PACKETS < 10  # octets of log per junk packet (before: 240-300)


def test_the_report_reads_logs_with_summary_lines(tmp_path: Path) -> None:
    lines, _ = _flood(tmp_path)
    path = tmp_path / "map1.log"
    path.write_text("".join(json.dumps(d) + "\n" for d in lines), encoding="utf-8")
    report = report_from_logs(load("figure1"), "hmipv6", read_logs([path]))
    assert report["format"] == "hmipv6-report/1"


def test_drop_summary_intervals() -> None:
    s = DropSummary(1.0)
    assert s.due(0.0) == [] and s.next_due() is None
    assert s.admit("malformed", 0.0)
    assert not s.admit("malformed", 0.5)
    assert not s.admit("malformed", 0.9)
    assert s.admit("unprotected", 0.6)
    assert s.next_due() == 1.0  # only intervals with counted drops need a summary
    assert s.due(0.99) == []
    assert s.due(1.0) == [("malformed", 0.0, 1.0, 2)]
    assert s.admit("malformed", 1.2)  # a new interval starts with a full line
    assert not s.admit("unprotected", 1.5)
    assert s.due(5.0, final=True) == [("unprotected", 0.6, 1.6, 1)]
    assert s.due(9.0, final=True) == []


def test_the_summary_is_written_when_its_second_ends_without_more_traffic(
        tmp_path: Path) -> None:
    """A burst then silence: the daemon's timer writes the summary at the end of the
    interval (not only at the next drop or at exit)."""

    async def run() -> list[dict[str, object]]:
        sc = load("figure1")
        log = io.StringIO()
        d = Daemon(sc, "map1", log, "t", "hmipv6", shaping=False, store_dir=tmp_path)
        d._transmit = lambda *args: True  # type: ignore[method-assign]
        d.t0 = asyncio.get_running_loop().time() - 0.9  # the interval from 0 ends in 0.1 s
        for i in range(50):
            d.node.receive(i / 100, "eth0", b"\x00junk")
            d.service()
        await asyncio.sleep(0.4)
        lines = [json.loads(line) for line in log.getvalue().splitlines()]
        d.finish()
        return lines

    lines = asyncio.run(run())
    assert [(d["kind"], d.get("reason"), d.get("count")) for d in lines] == [
        ("event", None, None), ("drops", "malformed", 49)]
