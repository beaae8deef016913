"""The testbed on real kernels: namespaces, veth, bridges and one daemon per node.

Needs root (``need_root``; CI runs as root with HMIPV6_REQUIRE_ORACLES=1, so a skip there is a
failure). Timing is wall clock on a possibly loaded machine: the daemons emulate the links'
delays, so registrations take at least the scenario's round trips; upper bounds are generous.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
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


def _tshark_esp(pcap: Path, esp_sa: list[str], fields: list[str], *, ikev2: Sequence[str] = (),
                display: str | None = None) -> list[list[str]]:
    """tshark's ``fields`` (one row per frame, ``|``-separated) of ``pcap`` with ESP decoding
    and ICV checking on, given Wireshark ``esp_sa`` and ``ikev2_decryption_table`` lines."""
    tshark = need_tool("tshark")
    opts = ["-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE"]
    opts += [a for line in esp_sa for a in ("-o", f"uat:esp_sa:{line}")]
    opts += [a for line in ikev2 for a in ("-o", f"uat:ikev2_decryption_table:{line}")]
    opts += ["-Y", display] if display else []
    out = subprocess.run([tshark, "-n", "-r", str(pcap), *opts, "-T", "fields", "-E",
                          "separator=|", *[a for f in fields for a in ("-e", f)]],
                         capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "LC_ALL": "C"}).stdout
    return [r.split("|") for r in out.splitlines()]


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
                 overrides=("moves[1].at=2.5s",), export_sa=tmp_path / "esp_sa")
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
    # --export-sa: with the exported table, tshark checks the ICV of every captured BU and BA
    # and dissects the Mobility Header inside (SEC-01; what a Wireshark user sees).
    assert result.sa_files == {"esp_sa": tmp_path / "esp_sa"}
    table = (tmp_path / "esp_sa").read_text().splitlines()
    assert table and all(line.startswith('"IPv6",') for line in table)
    rows = _tshark_esp(result.pcap_files["cell-ar1"], table,
                       ["esp.icv_good", "mip6.bu.seqnr", "mip6.ba.status",
                        "ipv6.opt.mipv6.home_address", "ipv6.routing.mipv6.home_address"],
                       display="esp")
    bu_rows = [r for r in rows if r[1]]
    ba_rows = [r for r in rows if r[2]]
    assert bu_rows and ba_rows, rows
    assert all(r[0] in ("1", "True") for r in rows), rows
    # Local BUs (HAO = RCoA) with the MN-MAP SA, the BA (RH2 = RCoA) with the MAP-MN SA, and
    # the home BUs (HAO = HoA, reverse-tunnelled through the MAP; no HA daemon runs here, so
    # they are retransmitted) with the MN-HA SA: every SA of the scenario is in the table.
    local = [r for r in bu_rows if r[3] == str(rcoa)]
    home = [r for r in bu_rows if r[3] == "2001:db8:f::100"]
    assert local and home and len(local) + len(home) == len(bu_rows), rows
    assert all(r[4] == str(rcoa) and r[2] == "0" for r in ba_rows), rows
    # hmipv6 decode opens the same Ethernet capture with the same table: the same BUs.
    dec = subprocess.run(["hmipv6", "decode", "--json", "--esp-sa", str(tmp_path / "esp_sa"),
                          str(result.pcap_files["cell-ar1"])],
                         capture_output=True, text=True, timeout=60)
    assert dec.returncode == 0, dec.stderr
    opened = [(h, hs[i + 1]) for rec in map(json.loads, dec.stdout.splitlines())
              for hs in [rec.get("headers", [])] for i, h in enumerate(hs)
              if h["header"] == "encapsulating_security_payload" and "icv" in h]
    assert all(esp["icv"] == "good" for esp, _ in opened)
    assert sorted(inner["sequence"] for _, inner in opened
                  if inner["header"] == "binding_update") == sorted(int(r[1]) for r in bu_rows)


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


@pytest.mark.req("SEC-01", "X5380-05")
def test_export_sa_on_real_kernels_under_rfc5380_opens_ike_and_esp(tmp_path: Path) -> None:
    """``hmipv6 testbed run --export-sa`` under the RFC 5380 profile: the daemons negotiate
    the MN-MAP Child SAs with IKEv2 over UDP 500 through real kernels; the exported tables
    (the seed-derived MN-HA SAs, the negotiated pair, the IKE SA's keys) let tshark open
    IKE_AUTH (the CP reply carrying the RCoA the MAP allocated) and check the captured local
    BUs' and BAs' ICVs."""
    need_root()
    need_tool("tshark")  # before the run: a missing oracle fails fast
    out, sa = tmp_path / "out", tmp_path / "esp_sa"
    proc = subprocess.run(["hmipv6", "testbed", "run", "figure1", "--duration", "3.5s",
                           "--set", "scenario.profile=rfc5380", "--set", "moves[1].at=3s",
                           "--out", str(out), "--export-sa", str(sa)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"written: {sa} (Wireshark esp_sa)" in proc.stdout
    assert f"written: {sa}.ikev2 (Wireshark ikev2_decryption_table)" in proc.stdout
    rcoa = json.loads((out / "report.json").read_text())["nodes"]["mn"]["rcoa"]
    esp_lines = sa.read_text().splitlines()
    assert sum(rcoa in line for line in esp_lines) == 2  # the negotiated pair
    assert sum("2001:db8:f::100" in line for line in esp_lines) == 2  # MN-HA, seed-derived
    ike_lines = Path(f"{sa}.ikev2").read_text().splitlines()
    assert len(ike_lines) == 1
    rows = _tshark_esp(out / "pcap" / "cell-ar1.pcap", esp_lines,
                       ["isakmp.exchangetype", "isakmp.cfg.attr.internal_ip6_address",
                        "esp.icv_good", "mip6.mhtype"], ikev2=ike_lines)
    assert [r[1] for r in rows if r[0] == "35" and r[1]] == [rcoa]  # IKE_AUTH's CP reply
    mh = [r for r in rows if r[3] in ("5", "6")]
    assert {r[3] for r in mh} == {"5", "6"} and all(r[2] in ("1", "True") for r in mh), rows


@pytest.mark.req("SEC-06")
def test_manually_keyed_sas_from_the_scenario_on_real_kernels(tmp_path: Path) -> None:
    """``[[sas]]`` in a scenario file: every daemon installs the configured ``ip xfrm``
    SAs for the mobile node's pairs with map1 and its home agent; the captured local BU and
    BA carry the configured SPIs and tshark, given the exported table, checks their ICVs."""
    need_root()
    need_tool("tshark")  # before the run: a missing oracle fails fast
    from hmipv6.sim.scenario import builtin_path
    from tests.sim.test_manual_sas import manual_sas_toml

    path = builtin_path("figure1")
    assert path is not None
    scenario = tmp_path / "manual.toml"
    scenario.write_text(path.read_text().replace("[nodes.mn]", manual_sas_toml() + "\n[nodes.mn]"))
    out, sa = tmp_path / "out", tmp_path / "esp_sa"
    proc = subprocess.run(["hmipv6", "testbed", "run", str(scenario), "--duration", "3.5s",
                           "--set", "moves[1].at=3s", "--out", str(out), "--export-sa", str(sa)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["handovers"][0]["timeline"]["ba_received"] is not None
    spis = {p.payload.spi for _, p in _packets(out / "pcap" / "cell-ar1.pcap")
            if isinstance(p.payload, EncapsulatingSecurityPayload)}
    assert {0x1001, 0x1002} <= spis  # MN -> MAP, MAP -> MN as configured
    rows = _tshark_esp(out / "pcap" / "cell-ar1.pcap", sa.read_text().splitlines(),
                       ["esp.icv_good", "mip6.mhtype"],
                       display="esp.spi == 0x1001 || esp.spi == 0x1002")
    assert {r[1] for r in rows} == {"5", "6"} and all(r[0] in ("1", "True") for r in rows), rows


def test_export_sa_to_a_missing_directory_is_refused_before_the_run(tmp_path: Path) -> None:
    need_root()
    before = _namespaces()
    proc = subprocess.run(["hmipv6", "testbed", "run", "figure1", "--duration", "1s",
                           "--out", str(tmp_path / "out"),
                           "--export-sa", str(tmp_path / "missing" / "esp_sa")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"hmipv6 testbed: --export-sa {tmp_path / 'missing' / 'esp_sa'}"
                                   ": no such directory")
    assert not (tmp_path / "out").exists() and _namespaces() == before
