"""The testbed on real kernels: namespaces, veth, bridges and one daemon per node.

Needs root (``need_root``; CI runs as root with HMIPV6_REQUIRE_ORACLES=1, so a skip there is a
failure). Timing is wall clock on a possibly loaded machine: the daemons emulate the links'
delays, so registrations take at least the scenario's round trips; upper bounds are generous.
"""

from __future__ import annotations

import json
import subprocess
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest

from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, IPv6Packet, decode
from hmipv6.wire.pcap import LINKTYPE_ETHERNET, decode_ethernet, read_pcap
from tests.conftest import need_root, need_tool

pytestmark = pytest.mark.netns

MAP = IPv6Address("2001:db8:100::1")


def _namespaces() -> set[str]:
    from pyroute2 import netns

    return set(netns.listnetns())


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _packets(path: Path) -> list[tuple[bytes, IPv6Packet]]:
    """(source MAC, decoded packet) of every IPv6 frame of an Ethernet capture."""
    cap = read_pcap(path.read_bytes())
    assert cap.header.linktype == LINKTYPE_ETHERNET
    out = []
    for rec in cap.records:
        eth, off = decode_ethernet(rec.data)
        if eth.ethertype == 0x86DD:
            out.append((rec.data[6:12], decode(rec.data[off:])))
    return out


def test_topology_is_always_deleted() -> None:
    need_root()
    from hmipv6.net.topology import Topology
    from hmipv6.sim.scenario import load

    sc = load("figure1")
    with pytest.raises(RuntimeError), Topology(sc) as topo:
        names = set(topo.plan.namespaces.values())
        assert names <= _namespaces()
        assert len(names) == len(sc.nodes)
        raise RuntimeError("fail inside the run")
    assert not names & _namespaces()
    with Topology(sc) as topo:
        topo.set_attached("mn", "ar1", True)
        names = set(topo.plan.namespaces.values())
    assert not names & _namespaces()


@pytest.mark.req("MN-06", "MAP-01")
def test_daemons_exchange_real_packets(tmp_path: Path) -> None:
    """Three daemons (AR, MAP, MN): the AR's RAs reach the MN through a bridge and veth, the
    MN's ESP-protected local BU reaches the MAP, the MAP's BA (with a Type 2 routing header,
    which the kernel's own IPv6 would drop) comes back through the AR."""
    need_root()
    from hmipv6.net.testbed import run

    result = run("figure1", duration=3.0, out=tmp_path, nodes=("ar1", "map1", "mn"),
                 overrides=("moves[1].at=2.5s",))
    mn = [d["event"] for d in _log(result.logs["mn"]) if d["kind"] == "event"]
    ras = [e for e in mn if e["type"] == "RouterAdvertisementReceived"]
    assert ras and str(MAP) in ras[0]["maps"]
    acks = [e for e in mn if e["type"] == "BindingAcknowledged" and e["kind"] == "local"]
    assert acks and acks[0]["status"] == 0
    state = result.report["nodes"]["map1"]
    assert state["binding_cache"] and state["counters"]["bu_accepted"] >= 1
    rcoa = IPv6Address(state["binding_cache"][0]["rcoa"])
    # MN-06 on the captured frame: source LCoA, destination MAP, HAO = RCoA, A and M set.
    bus = [p for _, p in _packets(result.pcap_files["cell-ar1"])
           if p.dst == MAP and isinstance(p.payload, EncapsulatingSecurityPayload)]
    assert bus
    bu = bus[0]
    assert bu.src in IPv6Network("2001:db8:a1::/64") and bu.home_address == rcoa
    assert isinstance(bu.payload, EncapsulatingSecurityPayload)
    mh = bu.payload.data  # ESP-NULL: the Mobility Header in clear, then trailer and ICV
    assert mh[2] == 5 and int.from_bytes(mh[8:10], "big") & 0x8800 == 0x8800


@pytest.mark.req("MN-06", "MN-08", "MN-12", "MAP-01", "HA-01")
def test_figure1_on_real_kernels(tmp_path: Path) -> None:
    need_root()
    tshark = need_tool("tshark")
    out = tmp_path / "out"
    proc = subprocess.run(["hmipv6", "testbed", "run", "figure1", "--duration", "10s",
                           "--set", "moves[1].at=4s", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["world"] == "testbed" and rep["format"] == "hmipv6-report/1"
    first, move = rep["handovers"]
    # Registration with the MAP (local BA) and the HA (home BA) through real kernels.
    assert first["kind"] == "initial"
    assert first["timeline"]["ba_received"] is not None
    assert first["timeline"]["home_ba_received"] is not None
    # MN-12: the move within the MAP domain is intra-domain, with only a local BU.
    assert move["kind"] == "intra-domain" and (move["from"], move["to"]) == ("ar1", "ar2")
    assert move["timeline"]["ba_received"] is not None
    assert move["timeline"]["home_ba_received"] is None
    assert move["timeline"]["first_data"] is not None and move["registration"] is not None
    assert rep["signalling"]["to_home_agent"] == 1  # the initial home BU, no other
    # The links are emulated (egress shaping): the local registration takes the scenario's
    # RTT(MN, MAP) = 2 * (cell 1 ms + map1-ar2 2 ms), plus the machine's (generous) slack.
    rtt_map = 2 * (0.001 + 0.002)
    assert rtt_map <= move["registration"] < rtt_map + 0.030, move
    assert rep["signalling"]["to_maps"] == 2
    # MAP-01 / HA-01: the caches point RCoA -> new LCoA and HoA -> RCoA.
    mn = rep["nodes"]["mn"]
    assert rep["nodes"]["map1"]["binding_cache"] == [
        {"rcoa": mn["rcoa"], "lcoa": mn["lcoa"], "lifetime": rep["nodes"]["map1"][
            "binding_cache"][0]["lifetime"]}]
    assert IPv6Address(mn["lcoa"]) in IPv6Network("2001:db8:a2::/64")
    assert rep["nodes"]["ha"]["binding_cache"][0]["coa"] == mn["rcoa"]
    # MN-08: data flowed through the HA and the MAP's tunnel, before and after the move.
    flow = rep["flows"][0]
    assert flow["received"] > flow["sent"] // 2
    assert rep["nodes"]["map1"]["counters"]["tunnelled"] > 0
    # Every capture decodes with hmipv6.wire and opens in tshark with nothing malformed.
    pcaps = sorted((out / "pcap").glob("*.pcap"))
    assert {p.stem for p in pcaps} == {"cn-inet", "ha-inet", "inet-map1", "map1-ar1",
                                       "map1-ar2", "cell-ar1", "cell-ar2"}
    for p in pcaps:
        assert _packets(p), p
        frames = subprocess.run([tshark, "-r", str(p)], capture_output=True, text=True,
                                timeout=60).stdout.splitlines()
        bad = subprocess.run([tshark, "-r", str(p), "-Y", "_ws.malformed || _ws.expert.severity"
                              " >= error"], capture_output=True, text=True, timeout=60)
        assert frames and not bad.stdout.strip(), (p, bad.stdout[:500])
    # The MN's packets through the new AR come from its tunnel with the MAP (MN-08).
    mn_mac = None
    for mac, pkt in _packets(out / "pcap" / "cell-ar2.pcap"):
        if pkt.src == MAP and isinstance(pkt.payload, IPv6Packet):
            assert pkt.dst == IPv6Address(mn["lcoa"])
            mn_mac = mac
    assert mn_mac is not None
    # Mobile IPv6 on the same scenario: the move registers with the home agent, at least
    # RTT(MN, HA) = 2 * (1 + 2 + 10 + 10) ms away: slower than HMIPv6's local registration.
    mip = tmp_path / "mipv6"
    proc = subprocess.run(["hmipv6", "testbed", "run", "figure1", "--duration", "3.2s",
                           "--set", "moves[1].at=2.5s", "--protocol", "mipv6", "--out", str(mip)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    mmove = json.loads((mip / "report.json").read_text())["handovers"][1]
    assert mmove["kind"] == "mipv6" and mmove["registration"] is not None
    assert 0.046 <= mmove["registration"] < 0.046 + 0.030
    assert mmove["registration"] > move["registration"]
