"""What the simulator puts on the wire, read back by an independent dissector (tshark) and by
our own decoder: every built-in scenario under both protocols.

- Every frame of every link and cell pcap is dissected by tshark with no malformed or error
  expert info, and tshark counts exactly the frames we wrote.
- MN-20 (RFC 4140 §6.6, location privacy): with HMIPv6 no packet on the home agent's or the
  correspondent's links carries a mobile node's LCoA, anywhere in it.
- MN-14 / MAP-08 (RFC 4140 §6.1, §8): after an inter-domain move, the previous MAP tunnels
  packets still arriving for the old RCoA to the new LCoA (in-flight packets are not lost).
"""

from __future__ import annotations

import subprocess
from functools import cache
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

from hmipv6.sim.network import SimulationResult, run
from hmipv6.wire import IPv6Packet, decode
from hmipv6.wire.pcap import read_pcap
from tests.conftest import need_tool

SCENARIOS = ("figure1", "two-domains", "dynamic-discovery", "map-failure", "route-optimisation")


@cache
def simulate(name: str, protocol: str) -> SimulationResult:
    return run(name, protocol=protocol, capture=True, keep_events=True)


def lcoas(result: SimulationResult) -> set[IPv6Address]:
    from hmipv6.core.events import CareOfAddressConfigured

    net = result.network
    assert net is not None and net.event_log is not None
    return {e.address for _, e in net.event_log
            if isinstance(e, CareOfAddressConfigured) and e.kind == "lcoa"}


def addresses_in(p: IPv6Packet) -> set[IPv6Address]:
    """Every address anywhere in a packet: headers, HAO, RH2 and tunnelled packets inside."""
    out = {p.src, p.dst}
    if p.home_address is not None:
        out.add(p.home_address)
    if p.routing_home_address is not None:
        out.add(p.routing_home_address)
    if isinstance(p.payload, IPv6Packet):
        out |= addresses_in(p.payload)
    return out


@pytest.mark.oracle
@pytest.mark.parametrize("protocol", ["mipv6", "hmipv6"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_simulated_frame_is_dissected_by_tshark(name: str, protocol: str,
                                                       tmp_path: Path) -> None:
    tshark = need_tool("tshark")
    result = simulate(name, protocol)
    assert result.pcaps, "no captures"
    for link, data in result.pcaps.items():
        ours = len(read_pcap(data).records)
        f = tmp_path / f"{link}.pcap"
        f.write_bytes(data)
        out = subprocess.run(
            [tshark, "-r", str(f), "-T", "fields", "-e", "frame.number", "-e", "_ws.malformed",
             "-e", "_ws.expert.severity"], capture_output=True, text=True, check=True).stdout
        rows = [r.split("\t") for r in out.splitlines()]
        assert len(rows) == ours, (link, len(rows), ours)
        bad = [r for r in rows if r[1] or any(s and int(s) >= 0x800000 for s in r[2].split(","))]
        assert not bad, f"{name}/{protocol} {link}: flagged frames {bad[:5]}"


@pytest.mark.req("MN-20")
@pytest.mark.parametrize("name", SCENARIOS)
def test_MN20_no_lcoa_on_home_agent_or_correspondent_links(name: str) -> None:
    result = simulate(name, "hmipv6")
    hidden = lcoas(result)
    assert hidden
    roles = {n: v.get("role") for n, v in result.report["nodes"].items()}
    far = {n for n, role in roles.items() if role in ("home-agent", "correspondent")}
    checked = 0
    for link, data in result.pcaps.items():
        if not set(link.split("-")) & far:
            continue
        for rec in read_pcap(data).records:
            p = decode(rec.data)
            assert not addresses_in(p) & hidden, (link, rec.timestamp)
            assert not any(a.packed in rec.data for a in hidden), (link, rec.timestamp)
            checked += 1
    assert checked > 100


@pytest.mark.req("MN-14", "MAP-08")
def test_previous_map_forwards_in_flight_packets_to_the_new_lcoa() -> None:
    result = simulate("two-domains", "hmipv6")
    move = next(h for h in result.report["handovers"] if h["kind"] == "inter-domain")
    t_move = move["timeline"]["l2_down"]
    map1 = IPv6Address("2001:db8:100::1")
    new_prefix = IPv6Network("2001:db8:a3::/64")  # ar3, in map2's domain
    old_rcoa_net = IPv6Network("2001:db8:100::/64")
    forwarded = []
    for rec in read_pcap(result.pcaps["inet-map1"]).records:
        if rec.timestamp <= t_move:
            continue
        p = decode(rec.data)
        if p.src == map1 and p.dst in new_prefix and isinstance(p.payload, IPv6Packet):
            assert p.payload.dst in old_rcoa_net  # the HA's tunnel to the old RCoA, re-tunnelled
            forwarded.append(rec.timestamp)
    assert forwarded, "the previous MAP forwarded nothing to the new LCoA"
    # They are the in-flight ones: all of them before the HA's new binding takes effect.
    assert max(forwarded) < move["timeline"]["home_ba_received"] + 0.1
