"""The RFC 5380 profile end to end in the simulator: with R set the MAP allocates the RCoA
(X5380-02, RFC 4877 §9) over IKEv2 on UDP 500 (X5380-05), the negotiated Child SA protects the
local BU, a refusal makes the MN ask again (MN-23); Pref breaks Dist ties (X5380-01) and the
MTU offered to upper layers counts both tunnels (X5380-04)."""

from __future__ import annotations

import subprocess
from functools import cache
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

from hmipv6.core.ike import Established, IkeResponder, NotifyType, RcoaRefused
from hmipv6.core.ike import crypto as cr
from hmipv6.core.ike.engines import IkeMobilityAnchorPoint
from hmipv6.core.ike.message import (
    CFG_REPLY,
    CFG_REQUEST,
    Configuration,
    ExchangeType,
    Notify,
)
from hmipv6.core.ike.message import decode as ike_decode
from hmipv6.core.ike.transport import ike_message
from hmipv6.core.ipsec import IPsec
from hmipv6.core.mobile_node import MobileNode
from hmipv6.sim.network import Network, SimulationResult, run
from hmipv6.sim.report import build_report, dumps
from hmipv6.sim.scenario import load
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, IPv6Packet
from hmipv6.wire.pcap import read_pcap
from hmipv6.wire.udp import UDP
from tests.conftest import need_tool
from tests.sim.sim_support import packets, variant

RFC5380 = ("scenario.profile=rfc5380",)
MAP1 = IPv6Address("2001:db8:100::1")
AR1 = IPv6Network("2001:db8:a1::/64")


@cache
def figure1() -> SimulationResult:
    return run("figure1", overrides=RFC5380, capture=True, keep_events=True)


def mn_of(result: SimulationResult) -> MobileNode:
    assert result.network is not None
    mn = result.network.nodes["mn"]
    assert isinstance(mn, MobileNode) and mn.ike is not None
    return mn


def map_of(result: SimulationResult, name: str = "map1") -> IkeMobilityAnchorPoint:
    assert result.network is not None
    m = result.network.nodes[name]
    assert isinstance(m, IkeMobilityAnchorPoint) and m.ike is not None
    return m


def ike_frames(pcap: bytes) -> list[tuple[int, IPv6Packet, bytes]]:
    """(frame index, packet, IKE octets) of every UDP 500 frame."""
    out = []
    for i, (_, p, _) in enumerate(packets(pcap)):
        data = ike_message(p)
        if data is not None:
            out.append((i, p, data))
    return out


def first_local_bu(pcap: bytes, map_address: IPv6Address) -> tuple[int, IPv6Packet]:
    for i, (_, p, _) in enumerate(packets(pcap)):
        if p.dst == map_address and isinstance(p.payload, EncapsulatingSecurityPayload):
            return i, p
    raise AssertionError("no ESP-protected local BU in the capture")


@pytest.mark.req("X5380-02", "X5380-05", "SEC-06")
def test_X5380_02_X5380_05_figure1_registers_with_an_rcoa_allocated_over_ikev2() -> None:
    """figure1 under rfc5380: IKE_SA_INIT and IKE_AUTH (UDP 500, from the LCoA) precede the
    first local BU; the RCoA of the MAP's CP(CFG_REPLY), decrypted with the IKE SA keys, is the
    one the MAP allocated, the local BU's Home Address and the MAP's binding; the BU is ESP
    with the negotiated SPI; both registrations and the intra-domain handover complete."""
    r = figure1()
    mn, map1 = mn_of(r), map_of(r)
    assert mn.ike is not None and map1.ike is not None
    # The MAP allocated one RCoA, for this MN, from its prefix; the PAD holds the claim.
    est = [e for e in map1.ike.events if isinstance(e, Established)]
    assert len(est) == 1 and est[0].peer == "mn"
    rcoa = est[0].rcoa
    assert rcoa in IPv6Network("2001:db8:100::/64") and rcoa != MAP1
    assert map1.ike.ipsec.pad.owner(rcoa) == "mn"
    mine = mn.ike.established[MAP1]
    assert mine.rcoa == rcoa and mn.rcoa() == rcoa
    assert mn.counters["ike_started"] == mn.counters["ike_established"] == 1

    cell = r.pcaps["cell-ar1"]
    frames = ike_frames(cell)
    kinds = [(ike_decode(d).exchange, ike_decode(d).is_response) for _, _, d in frames]
    assert kinds == [(ExchangeType.IKE_SA_INIT, False), (ExchangeType.IKE_SA_INIT, True),
                     (ExchangeType.IKE_AUTH, False), (ExchangeType.IKE_AUTH, True)]
    for _, p, _ in frames:
        assert isinstance(p.payload, UDP) and (p.payload.src_port, p.payload.dst_port) == (500, 500)
        assert {p.src, p.dst} == {MAP1, p.src if p.dst == MAP1 else p.dst}
        lcoa = p.src if p.dst == MAP1 else p.dst
        assert lcoa in AR1  # from the LCoA, never the RCoA or home address
    at, bu = first_local_bu(cell, MAP1)
    assert frames[-1][0] < at  # IKE completed before the first local BU
    # Decrypt the IKE_AUTH exchange with the MN's IKE SA keys.
    ini = mn.ike.initiators[MAP1]
    assert ini.keys is not None
    req_raw, resp_raw = frames[2][2], frames[3][2]
    req = cr.open_sk(req_raw, ike_decode(req_raw), ini.keys.sk_ei, ini.keys.sk_ai)
    cp_req = [p for p in req if isinstance(p, Configuration)]
    assert cp_req and cp_req[0].cfg_type == CFG_REQUEST and not cp_req[0].ip6_addresses()
    resp = cr.open_sk(resp_raw, ike_decode(resp_raw), ini.keys.sk_er, ini.keys.sk_ar)
    cp = [p for p in resp if isinstance(p, Configuration) and p.cfg_type == CFG_REPLY]
    assert cp and cp[0].ip6_addresses() == [(rcoa, 128)]
    # The local BU: LCoA -> MAP, HAO = the allocated RCoA, ESP with the negotiated SPI.
    assert bu.src in AR1 and bu.home_address == rcoa
    assert isinstance(bu.payload, EncapsulatingSecurityPayload)
    assert bu.payload.spi == mine.child.outbound.spi == est[0].child.inbound.spi
    # The seed-provisioned SAs are MN-HA only: nothing keyed for the MAP was pre-installed.
    assert r.network is not None and r.network.provisioner is not None
    assert all(MAP1 not in (sa.src.network_address if sa.src else None,
                            sa.dst.network_address if sa.dst else None)
               for sa in r.network.provisioner.issued)
    mn_sec = mn.security
    assert isinstance(mn_sec, IPsec)
    to_map = [sa for sa in mn_sec.sad if sa.direction == "out" and sa.params.matches(rcoa, MAP1)]
    assert [sa.spi for sa in to_map] == [mine.child.outbound.spi]
    # Registrations: local BA, home BA, then the intra-domain handover via the same MAP.
    initial, intra = r.report["handovers"]
    assert initial["kind"] == "initial" and intra["kind"] == "intra-domain"
    assert initial["timeline"]["ba_received"] is not None
    assert initial["timeline"]["home_ba_received"] is not None
    assert initial["registration"] is not None
    assert intra["timeline"]["ba_received"] is not None and intra["latency"] is not None
    assert r.report["nodes"]["map1"]["binding_cache"][0]["rcoa"] == str(rcoa)
    assert r.report["nodes"]["mn"]["rcoa"] == str(rcoa)
    assert r.report["flows"][0]["received"] > 0.9 * r.report["flows"][0]["sent"]
    # No IKE on the second cell: the handover reuses the RCoA and its SA (one local BU).
    assert not ike_frames(r.pcaps["cell-ar2"])
    _, bu2 = first_local_bu(r.pcaps["cell-ar2"], MAP1)
    assert bu2.home_address == rcoa and bu2.src not in AR1


@pytest.mark.req("X5380-05")
def test_X5380_05_ikev2_costs_the_initial_registration_two_round_trips() -> None:
    """The IKE exchange delays the first local BU (two MN-MAP round trips) but the
    handover afterwards is as fast as with the RFC 4140 profile."""
    with_ike = figure1().report["handovers"]
    without = run("figure1").report["handovers"]
    assert with_ike[0]["timeline"]["bu_sent"] > without[0]["timeline"]["bu_sent"] + 0.005
    assert with_ike[1]["latency"] == pytest.approx(without[1]["latency"])


@pytest.mark.oracle
@pytest.mark.req("X5380-05")
def test_X5380_05_tshark_dissects_and_decrypts_the_ikev2_exchange(tmp_path: Path) -> None:
    """Every rfc5380 frame is dissected without malformed or error flags, and with the
    exported ``esp_sa`` / ``.ikev2`` tables tshark opens IKE_AUTH (the CP reply carrying the
    RCoA) and checks the local BU's ICV."""
    tshark = need_tool("tshark")
    sa = tmp_path / "sa.txt"
    r = run("figure1", overrides=RFC5380, pcap_dir=tmp_path / "pcap", export_sa=sa)
    for link, f in r.pcap_files.items():
        out = subprocess.run(
            [tshark, "-r", str(f), "-T", "fields", "-e", "frame.number", "-e", "_ws.malformed",
             "-e", "_ws.expert.severity"], capture_output=True, text=True, check=True).stdout
        rows = [row.split("\t") for row in out.splitlines()]
        assert len(rows) == len(read_pcap(f.read_bytes()).records), link
        bad = [row for row in rows
               if row[1] or any(s and int(s) >= 0x800000 for s in row[2].split(","))]
        assert not bad, (link, bad[:5])
    rcoa = r.report["nodes"]["mn"]["rcoa"]
    esp_lines = sa.read_text().splitlines()
    assert sum(rcoa in line for line in esp_lines) == 2  # the negotiated pair
    ike_lines = Path(f"{sa}.ikev2").read_text().splitlines()
    assert len(ike_lines) == 1
    opts = [a for line in esp_lines for a in ("-o", f"uat:esp_sa:{line}")]
    opts += [a for line in ike_lines for a in ("-o", f"uat:ikev2_decryption_table:{line}")]
    out = subprocess.run(
        [tshark, "-r", str(r.pcap_files["cell-ar1"]), "-o", "esp.enable_encryption_decode:TRUE",
         "-o", "esp.enable_authentication_check:TRUE", *opts, "-T", "fields",
         "-e", "isakmp.exchangetype", "-e", "isakmp.cfg.attr.internal_ip6_address",
         "-e", "esp.icv_good", "-e", "mip6.mhtype"],
        capture_output=True, text=True, check=True).stdout
    rows = [row.split("\t") for row in out.splitlines()]
    assert [row[1] for row in rows if row[0] == "35" and row[1]] == [rcoa]  # IKE_AUTH CP reply
    bus = [row for row in rows if row[3] == "5"]
    assert bus and bus[0][2] in ("1", "True")


@pytest.mark.req("X5380-02")
def test_X5380_02_same_seed_same_report_and_pcaps() -> None:
    a = run("figure1", overrides=RFC5380, capture=True)
    b = run("figure1", overrides=RFC5380, capture=True)
    assert dumps(a.report) == dumps(b.report)
    assert a.pcaps == b.pcaps


class _RefuseOnce(IkeResponder):
    """A MAP that refuses the first Child SA (TS_UNACCEPTABLE, as for SEC-04), then allocates."""

    refused = 0

    def _child(self, st, peer, inner):  # type: ignore[no-untyped-def]
        if not self.refused:
            self.refused += 1
            self.counters["notify-38"] += 1
            return ((Notify(NotifyType.TS_UNACCEPTABLE),),
                    RcoaRefused(peer, None, NotifyType.TS_UNACCEPTABLE), None)
        return super()._child(st, peer, inner)


@pytest.mark.req("MN-23", "SEC-04")
def test_MN23_refused_rcoa_the_mn_runs_ike_again_and_registers() -> None:
    """The MAP refuses the first exchange's Child SA: the MN (RcoaRefused → rcoa_refused)
    asks again with a new IKE SA and registers with the RCoA of the second answer."""
    net = Network(load("figure1", RFC5380), capture=True)
    map1 = net.nodes["map1"]
    assert isinstance(map1, IkeMobilityAnchorPoint) and map1.ike is not None
    old = map1.ike
    map1.ike = _RefuseOnce(old.ipsec, identity="map1", address=old.address,
                           rcoa_prefix=old.rcoa_prefix, psks=old.psks, rng=old.rng)
    net.run()
    net.metrics.finish({i: s.sent for i, s in net.sources.items()})
    report = build_report(net)
    mn = net.nodes["mn"]
    assert isinstance(mn, MobileNode) and mn.ike is not None
    assert mn.counters["ike_refused"] == 1 and mn.counters["ike_established"] == 1
    outcomes = [ini.outcome for _, ini in mn.ike.history]
    assert isinstance(outcomes[0], RcoaRefused) and isinstance(outcomes[1], Established)
    assert [type(e) for e in map1.ike.events] == [RcoaRefused, Established]
    rcoa = outcomes[1].rcoa
    frames = ike_frames(net.captures()["cell-ar1"])
    inits = [ike_decode(d) for _, _, d in frames if ike_decode(d).exchange == ExchangeType.IKE_SA_INIT
             and not ike_decode(d).is_response]
    assert len({m.spi_i for m in inits}) == 2  # a second IKE SA, not a retransmission
    _, bu = first_local_bu(net.captures()["cell-ar1"], MAP1)
    assert bu.home_address == rcoa
    assert report["handovers"][0]["timeline"]["home_ba_received"] is not None
    assert report["nodes"]["mn"]["rcoa"] == str(rcoa)


@pytest.mark.req("SEC-04", "X5380-02")
def test_SEC04_rcoas_allocated_to_different_mns_never_collide() -> None:
    """Allocation makes SEC-04's collision impossible by construction: two mobile nodes on
    the same MAP get different RCoAs, each claimed in the MAP's PAD for its own identity
    (and each PSK-authenticated as itself), and both register."""
    sc = variant("figure1", ('profile = "rfc4140"', 'profile = "rfc5380"'),
                 ("[nodes.mn]", '[nodes.mn2]\nrole = "mobile-node"\nhome_agent = "ha"\n'
                                'home_address = "2001:db8:f::200"\n\n[nodes.mn]'),
                 ("[[flows]]", '[[moves]]\nmn = "mn2"\nat = "0.5s"\nattach = "ar1"\n\n[[flows]]'))
    net = Network(sc)
    net.run()
    map1 = net.nodes["map1"]
    assert isinstance(map1, IkeMobilityAnchorPoint) and map1.ike is not None
    est = {e.peer: e.rcoa for e in map1.ike.events if isinstance(e, Established)}
    assert set(est) == {"mn", "mn2"} and est["mn"] != est["mn2"]
    pad = map1.ike.ipsec.pad
    assert pad.owner(est["mn"]) == "mn" and pad.owner(est["mn2"]) == "mn2"
    for name in ("mn", "mn2"):
        mn = net.nodes[name]
        assert isinstance(mn, MobileNode)
        assert mn.rcoa() == est[name]
        assert mn.bul.get(MAP1, est[name]) is not None
        assert mn.bul.get(MAP1, est[name]).acked_care_of is not None  # type: ignore[union-attr]


@pytest.mark.req("X5380-01", "X5380-05")
def test_X5380_01_pref_breaks_the_dist_tie_then_ike_with_that_map() -> None:
    """Two MAPs of equal Dist on both access routers: under rfc5380 the higher Pref wins
    (map2, Pref 12 over map1's 10) and the MN runs IKEv2 with it alone."""
    map2 = IPv6Address("2001:db8:200::1")
    sc = variant("figure1", ('profile = "rfc4140"', 'profile = "rfc5380"'),
                 ("[nodes.ar1]", '[nodes.map2]\nrole = "map"\naddress = "2001:db8:200::1"\n'
                                 'preference = 12\nvalid_lifetime = "3600s"\n\n[nodes.ar1]'),
                 ('advertise_maps = ["map1"]\n\n[nodes.ar2]',
                  'advertise_maps = ["map1", "map2"]\n\n[nodes.ar2]'),
                 ('advertise_maps = ["map1"]\n\n[nodes.mn]',
                  'advertise_maps = ["map1", "map2"]\n\n[nodes.mn]'),
                 ('[[cells]]\nrouter = "ar1"', '[[links]]\nbetween = ["map1", "map2"]\n'
                  'delay = "2ms"\nbandwidth = "100Mbps"\n\n[[cells]]\nrouter = "ar1"'))
    r = run(sc, capture=True, keep_events=True)
    from hmipv6.core.events import MapSelected

    assert r.network is not None and r.network.event_log is not None
    chosen = [e.map for n, e in r.network.event_log if n == "mn" and isinstance(e, MapSelected)]
    assert chosen and set(chosen) == {map2}
    mn = mn_of(r)
    assert mn.ike is not None and set(mn.ike.initiators) == {map2}
    assert {p.dst for _, p, _ in ike_frames(r.pcaps["cell-ar1"]) if p.dst in (MAP1, map2)} == {map2}
    assert r.report["handovers"][0]["timeline"]["home_ba_received"] is not None
    assert r.report["handovers"][1]["timeline"]["ba_received"] is not None


@pytest.mark.req("X5380-03", "X5380-04")
def test_X5380_03_04_one_local_bu_per_move_and_mtu_counts_both_tunnels() -> None:
    """X5380-03: with one RCoA in use the MN sends one local BU per move (no BU per other
    RCoA); X5380-04: after registration the MTU offered to upper layers is the link MTU less
    the MN-MAP and MN-HA tunnels."""
    r = figure1()
    mn = mn_of(r)
    assert len(mn.regions) == 1
    link_mtu = max(lk.mtu for lk in mn.links.values())
    assert mn.upper_layer_mtu() == link_mtu - 80
    for cell in ("cell-ar1", "cell-ar2"):
        bus = [p for _, p, _ in packets(r.pcaps[cell])
               if p.dst == MAP1 and isinstance(p.payload, EncapsulatingSecurityPayload)]
        assert len(bus) == 1, cell
