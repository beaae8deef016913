"""tshark reads a pcap of every message type hmipv6 encodes, and agrees with us field by field.

One capture holds: RS; RA with Source Link-layer Address, MTU, Prefix Information,
Advertisement Interval, Home Agent Information and two MAP options; NS; NA; Echo Request and
Reply (also route-optimised, with HAO and RH2); the four ICMPv6 errors; UDP; a local Binding
Update (LCoA -> MAP, HAO = RCoA, flags A|M); its Binding Acknowledgement with a Type 2 routing
header; BRR; BE; HoTI; CoTI; HoT; CoT; an IPv6-in-IPv6 tunnelled packet (MAP -> LCoA) and a
double-tunnelled one (MN -> MAP -> HA). It is written as raw IPv6 and as Ethernet frames.

tshark (ORACLES.md) shows the HAO address as source and the RH2 address as destination in its
columns, so addresses are read from ``ipv6.src``/``ipv6.dst`` (every header, outermost first).
tshark verifies ICMPv6 checksums (over the effective addresses) but not the Mobility Header
checksum, so the MH checksum is checked here by an independent word-by-word sum over the
pseudo-header built from the addresses *tshark* found in the HAO and RH2.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
from dataclasses import dataclass, field

import pytest

from hmipv6.cli import main
from hmipv6.wire import (
    UDP,
    DestinationOptions,
    HomeAddressOption,
    IPv6Packet,
    RoutingHeaderType2,
    addr,
)
from hmipv6.wire import pcap as pc
from hmipv6.wire.addr import solicited_node
from hmipv6.wire.icmpv6 import (
    MTU,
    AdvertisementInterval,
    DestinationUnreachable,
    EchoReply,
    EchoRequest,
    HomeAgentInformation,
    MapOption,
    NeighborAdvertisement,
    NeighborSolicitation,
    PacketTooBig,
    ParameterProblem,
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    TargetLinkLayerAddress,
    TimeExceeded,
)
from hmipv6.wire.mobility import (
    BAFlags,
    BAStatus,
    BEStatus,
    BindingAcknowledgement,
    BindingError,
    BindingRefreshRequest,
    BindingUpdate,
    BUFlags,
    CareOfTest,
    CareOfTestInit,
    HomeTest,
    HomeTestInit,
)
from tests.conftest import need_tool

pytestmark = pytest.mark.oracle

AR_LL = addr("fe80::a")
MN_LL = addr("fe80::1:10")
LCOA = addr("2001:db8:20::10")
MAP = addr("2001:db8:1::1")
MAP2 = addr("2001:db8:2::1")
RCOA = addr("2001:db8:1::10")
HA = addr("2001:db8:9::1")
HOA = addr("2001:db8:9::10")
CN = addr("2001:db8:50::5")
ALL_NODES = addr("ff02::1")
ALL_ROUTERS = addr("ff02::2")
MAC_MN = bytes.fromhex("020000000010")
MAC_AR = bytes.fromhex("02000000000a")
COOKIE = bytes.fromhex("0102030405060708")
TOKEN = bytes.fromhex("a1a2a3a4a5a6a7a8")


def _hao(a: object) -> tuple[DestinationOptions]:
    assert isinstance(a, type(HOA))
    return (DestinationOptions((HomeAddressOption(a),)),)


_INVOKING = IPv6Packet(CN, HOA, UDP(7, 9, b"invoking")).encode()
_INNER = IPv6Packet(CN, RCOA, UDP(7, 5001, b"to the rcoa"))
_REVERSE = IPv6Packet(HOA, CN, EchoRequest(9, 1, b"reverse tunnelled"))


@dataclass(frozen=True)
class Case:
    name: str
    packet: IPv6Packet
    fields: dict[str, str] = field(default_factory=dict)
    """tshark field -> expected value (occurrences joined by ',')."""


CASES = [
    Case("rs", IPv6Packet(MN_LL, ALL_ROUTERS, RouterSolicitation((SourceLinkLayerAddress(MAC_MN),)),
                          hop_limit=255),
         {"icmpv6.type": "133", "icmpv6.opt.src_linkaddr": "02:00:00:00:00:10"}),
    Case("ra", IPv6Packet(AR_LL, ALL_NODES, RouterAdvertisement(
        64, home_agent=True, router_lifetime=1800, reachable_time=30000, retrans_timer=1000,
        options=(SourceLinkLayerAddress(MAC_AR), MTU(1500),
                 PrefixInformation(64, True, True, False, 86400, 14400, addr("2001:db8:20::")),
                 AdvertisementInterval(1500), HomeAgentInformation(10, 1800),
                 MapOption(1, 15, True, 3600, MAP), MapOption(2, 7, False, 7200, MAP2))),
        hop_limit=255),
         {"icmpv6.type": "134", "icmpv6.nd.ra.cur_hop_limit": "64", "icmpv6.nd.ra.flag.h": "1",
          "icmpv6.nd.ra.router_lifetime": "1800", "icmpv6.nd.ra.reachable_time": "30000",
          "icmpv6.nd.ra.retrans_timer": "1000", "icmpv6.opt.src_linkaddr": "02:00:00:00:00:0a",
          "icmpv6.opt.mtu": "1500", "icmpv6.opt.prefix.length": "64",
          "icmpv6.opt.prefix.flag.l": "1", "icmpv6.opt.prefix.flag.a": "1",
          "icmpv6.opt.prefix.flag.r": "0", "icmpv6.opt.prefix.valid_lifetime": "86400",
          "icmpv6.opt.prefix.preferred_lifetime": "14400", "icmpv6.opt.prefix": "2001:db8:20::",
          "icmpv6.opt.advertisement_interval": "1500",
          "icmpv6.opt.home_agent_preference": "10", "icmpv6.opt.home_agent_lifetime": "1800",
          "icmpv6.opt.map.distance": "1,2", "icmpv6.opt.map.preference": "15,7",
          "icmpv6.opt.map.flag.r": "1,0", "icmpv6.opt.map.valid_lifetime": "3600,7200",
          "icmpv6.opt.map.global_address": f"{MAP},{MAP2}",
          "icmpv6.opt.type": "1,5,3,7,8,23,23"}),
    Case("ns", IPv6Packet(MN_LL, solicited_node(AR_LL), NeighborSolicitation(
        AR_LL, (SourceLinkLayerAddress(MAC_MN),)), hop_limit=255),
         {"icmpv6.type": "135", "icmpv6.nd.ns.target_address": str(AR_LL)}),
    Case("na", IPv6Packet(AR_LL, MN_LL, NeighborAdvertisement(
        AR_LL, router=True, solicited=True, override=False,
        options=(TargetLinkLayerAddress(MAC_AR),)), hop_limit=255),
         {"icmpv6.type": "136", "icmpv6.nd.na.target_address": str(AR_LL),
          "icmpv6.nd.na.flag.r": "1", "icmpv6.nd.na.flag.s": "1", "icmpv6.nd.na.flag.o": "0",
          "icmpv6.opt.target_linkaddr": "02:00:00:00:00:0a"}),
    Case("echo_request", IPv6Packet(LCOA, CN, EchoRequest(0x1234, 7, b"ping")),
         {"icmpv6.type": "128", "icmpv6.echo.identifier": "0x1234",
          "icmpv6.echo.sequence_number": "7"}),
    Case("echo_reply", IPv6Packet(CN, LCOA, EchoReply(0x1234, 7, b"ping")),
         {"icmpv6.type": "129", "icmpv6.echo.identifier": "0x1234"}),
    Case("echo_request_hao", IPv6Packet(LCOA, CN, EchoRequest(1, 2, b"ro"), _hao(HOA)),
         {"icmpv6.type": "128", "ipv6.opt.mipv6.home_address": str(HOA)}),
    Case("echo_reply_rh2", IPv6Packet(CN, LCOA, EchoReply(1, 2, b"ro"), (RoutingHeaderType2(HOA),)),
         {"icmpv6.type": "129", "ipv6.routing.type": "2",
          "ipv6.routing.mipv6.home_address": str(HOA)}),
    Case("destination_unreachable", IPv6Packet(HA, CN, DestinationUnreachable(3, _INVOKING)),
         {"icmpv6.type": "1", "icmpv6.code": "3"}),
    Case("packet_too_big", IPv6Packet(MAP, CN, PacketTooBig(1280, _INVOKING)),
         {"icmpv6.type": "2", "icmpv6.mtu": "1280"}),
    Case("time_exceeded", IPv6Packet(MAP, CN, TimeExceeded(0, _INVOKING)),
         {"icmpv6.type": "3", "icmpv6.code": "0"}),
    Case("parameter_problem", IPv6Packet(MAP, CN, ParameterProblem(1, 40, _INVOKING)),
         {"icmpv6.type": "4", "icmpv6.code": "1", "icmpv6.pointer": "40"}),
    Case("udp", IPv6Packet(HOA, CN, UDP(5001, 7, b"data")),
         {"udp.srcport": "5001", "udp.dstport": "7", "udp.checksum.status": "1"}),
    Case("local_bu", IPv6Packet(LCOA, MAP, BindingUpdate(4242, BUFlags.A | BUFlags.M, 600),
                                _hao(RCOA)),
         {"mip6.mhtype": "5", "mip6.bu.seqnr": "4242", "mip6.bu.lifetime": "150",
          "mip6.bu.a_flag": "1", "mip6.bu.h_flag": "0", "mip6.bu.l_flag": "0",
          "mip6.bu.k_flag": "0", "mip6.bu.m_flag": "1", "mip6.nemo.bu.r_flag": "0",
          "ipv6.opt.mipv6.home_address": str(RCOA)}),
    Case("home_bu", IPv6Packet(RCOA, HA, BindingUpdate(
        9, BUFlags.A | BUFlags.H | BUFlags.K, 3600), _hao(HOA)),
         {"mip6.bu.seqnr": "9", "mip6.bu.lifetime": "900", "mip6.bu.a_flag": "1",
          "mip6.bu.h_flag": "1", "mip6.bu.k_flag": "1", "mip6.bu.m_flag": "0",
          "ipv6.opt.mipv6.home_address": str(HOA)}),
    Case("ba", IPv6Packet(MAP, LCOA, BindingAcknowledgement(BAStatus.ACCEPTED, BAFlags(0), 4242,
                                                            592), (RoutingHeaderType2(RCOA),)),
         {"mip6.mhtype": "6", "mip6.ba.status": "0", "mip6.ba.seqnr": "4242",
          "mip6.ba.lifetime": "148", "mip6.ba.k_flag": "0", "ipv6.routing.type": "2",
          "ipv6.routing.segleft": "1", "ipv6.routing.mipv6.home_address": str(RCOA)}),
    Case("ba_rejected", IPv6Packet(MAP, LCOA, BindingAcknowledgement(
        BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, BAFlags.K, 17, 0), (RoutingHeaderType2(RCOA),)),
         {"mip6.ba.status": "135", "mip6.ba.seqnr": "17", "mip6.ba.k_flag": "1"}),
    Case("brr", IPv6Packet(MAP, LCOA, BindingRefreshRequest(), (RoutingHeaderType2(RCOA),)),
         {"mip6.mhtype": "0", "ipv6.routing.mipv6.home_address": str(RCOA)}),
    Case("be", IPv6Packet(MAP, LCOA, BindingError(BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION,
                                                  RCOA)),
         {"mip6.mhtype": "7", "mip6.be.status": "1", "mip6.be.haddr": str(RCOA)}),
    Case("hoti", IPv6Packet(HOA, CN, HomeTestInit(COOKIE)),
         {"mip6.mhtype": "1", "mip6.hoti.cookie": "0x0102030405060708"}),
    Case("coti", IPv6Packet(RCOA, CN, CareOfTestInit(COOKIE)),
         {"mip6.mhtype": "2", "mip6.coti.cookie": "0x0102030405060708"}),
    Case("hot", IPv6Packet(CN, HOA, HomeTest(3, COOKIE, TOKEN)),
         {"mip6.mhtype": "3", "mip6.hot.nindex": "3", "mip6.hot.cookie": "0x0102030405060708",
          "mip6.hot.token": "0xa1a2a3a4a5a6a7a8"}),
    Case("cot", IPv6Packet(CN, RCOA, CareOfTest(4, COOKIE, TOKEN)),
         {"mip6.mhtype": "4", "mip6.cot.nindex": "4", "mip6.cot.cookie": "0x0102030405060708"}),
    Case("tunnel", IPv6Packet(MAP, LCOA, _INNER),
         {"ipv6.nxt": "41,17", "udp.dstport": "5001"}),
    Case("double_tunnel", IPv6Packet(LCOA, MAP, IPv6Packet(RCOA, HA, _REVERSE)),
         {"ipv6.nxt": "41,41,58", "icmpv6.type": "128", "icmpv6.echo.identifier": "0x0009"}),
]


def _addresses(p: IPv6Packet) -> tuple[str, str]:
    """The expected ``ipv6.src``/``ipv6.dst`` values: every IPv6 header, outermost first,
    including the invoking packet an ICMPv6 error quotes."""
    srcs: list[str] = []
    dsts: list[str] = []
    q: object = p
    while isinstance(q, IPv6Packet):
        srcs.append(str(q.src))
        dsts.append(str(q.dst))
        q = q.payload
    invoking = getattr(q, "invoking", b"")
    if len(invoking) >= 40:
        srcs.append(str(addr(invoking[8:24])))
        dsts.append(str(addr(invoking[24:40])))
    return ",".join(srcs), ",".join(dsts)


CHECKED = sorted({f for c in CASES for f in c.fields})
ALWAYS = ["frame.number", "ipv6.src", "ipv6.dst", "icmpv6.checksum.status", "mip6.csum",
          "ipv6.opt.mipv6.home_address", "ipv6.routing.mipv6.home_address", "_ws.malformed",
          "_ws.expert", "_ws.expert.message"]
FIELDS = ALWAYS + [f for f in CHECKED if f not in ALWAYS]


@dataclass(frozen=True)
class Capture:
    raw: list[bytes]
    """The IPv6 packets, in frame order."""
    rows: list[dict[str, str]]
    """tshark's fields, one dict per frame."""
    path: pathlib.Path


@pytest.fixture(scope="module", params=[pc.LINKTYPE_RAW, pc.LINKTYPE_ETHERNET],
                ids=["raw", "ethernet"])
def capture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Capture:
    tshark = need_tool("tshark")
    linktype: int = request.param
    raw = [c.packet.encode() for c in CASES]
    frames = raw if linktype != pc.LINKTYPE_ETHERNET else [
        pc.encode_ethernet(r, source=MAC_MN, destination=MAC_AR) for r in raw]
    path: pathlib.Path = tmp_path_factory.mktemp("oracle") / "every_message.pcap"
    path.write_bytes(pc.encode_pcap([(i * 0.001, f) for i, f in enumerate(frames)], linktype))
    args = [tshark, "-r", str(path), "-o", "udp.check_checksum:TRUE", "-T", "fields",
            "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FIELDS:
        args += ["-e", f]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in proc.stdout.splitlines()]
    assert len(rows) == len(CASES)
    return Capture(raw, rows, path)


def _case_rows(capture: Capture, *names: str) -> list[tuple[Case, dict[str, str]]]:
    picked = [(c, r) for c, r in zip(CASES, capture.rows, strict=True) if c.name in names]
    assert len(picked) == len(names)
    return picked


def _check_fields(capture: Capture, *names: str) -> None:
    for case, row in _case_rows(capture, *names):
        got = {f: row[f] for f in case.fields}
        assert got == case.fields, case.name
        assert (row["ipv6.src"], row["ipv6.dst"]) == _addresses(case.packet), case.name


def test_no_frame_is_malformed_or_flagged(capture: Capture) -> None:
    for case, row in zip(CASES, capture.rows, strict=True):
        assert row["_ws.malformed"] == "", case.name
        assert (row["_ws.expert"], row["_ws.expert.message"]) == ("", ""), case.name
        assert row["frame.number"] == str(CASES.index(case) + 1)


@pytest.mark.req("W-01")
def test_map_option_fields(capture: Capture) -> None:
    _check_fields(capture, "ra")


@pytest.mark.req("W-03")
def test_binding_update_fields(capture: Capture) -> None:
    _check_fields(capture, "local_bu", "home_bu")


@pytest.mark.req("W-04")
def test_other_mobility_messages(capture: Capture) -> None:
    _check_fields(capture, "ba", "ba_rejected", "brr", "be", "hoti", "coti", "hot", "cot")


@pytest.mark.req("W-06")
def test_home_address_option_and_type_2_routing_header(capture: Capture) -> None:
    _check_fields(capture, "local_bu", "home_bu", "echo_request_hao", "ba", "brr",
                  "echo_reply_rh2")
    # Every HAO is 8n+6 aligned, the header padded to 8n (RFC 6275 §6.3): tshark found each
    # address where we put it; no other frame carries one.
    for case, row in zip(CASES, capture.rows, strict=True):
        hao = case.packet.home_address
        rh2 = case.packet.routing_home_address
        assert row["ipv6.opt.mipv6.home_address"] == (str(hao) if hao else ""), case.name
        assert row["ipv6.routing.mipv6.home_address"] == (str(rh2) if rh2 else ""), case.name


def _ones_sum(data: bytes) -> int:
    """RFC 1071, word by word (independent of hmipv6.wire.checksum)."""
    if len(data) % 2:
        data += b"\x00"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _mobility_header(raw: bytes) -> bytes | None:
    """The Mobility Header of an (untunnelled) packet, found by walking the header chain."""
    nxt, i = raw[6], 40
    while nxt in (0, 43, 60):
        nxt, i = raw[i], i + 8 + raw[i + 1] * 8
    return raw[i:] if nxt == 135 else None


@pytest.mark.req("W-07")
def test_checksums_over_the_effective_addresses(capture: Capture) -> None:
    icmp = mh = 0
    for case, row, raw in zip(CASES, capture.rows, capture.raw, strict=True):
        if row["icmpv6.checksum.status"]:
            # tshark verifies ICMPv6 over HAO source / RH2 destination (ORACLES.md).
            assert row["icmpv6.checksum.status"] == "1", case.name
            icmp += 1
        body = _mobility_header(raw)
        if body is None:
            continue
        mh += 1
        src = addr(row["ipv6.opt.mipv6.home_address"] or row["ipv6.src"])
        dst = addr(row["ipv6.routing.mipv6.home_address"] or row["ipv6.dst"])
        pseudo = src.packed + dst.packed + len(body).to_bytes(4, "big") + bytes((0, 0, 0, 135))
        assert _ones_sum(pseudo + body) == 0xFFFF, case.name
        assert int(row["mip6.csum"], 16) == int.from_bytes(body[4:6], "big"), case.name
    assert icmp == sum(1 for c in CASES if "icmpv6.type" in c.fields)
    assert mh == 10
    # The ones with HAO/RH2 are the ones that matter: they sum differently from ipv6.src/dst.
    local_bu = _mobility_header(capture.raw[[c.name for c in CASES].index("local_bu")])
    assert local_bu is not None
    wrong = LCOA.packed + MAP.packed + len(local_bu).to_bytes(4, "big") + bytes((0, 0, 0, 135))
    assert _ones_sum(wrong + local_bu) != 0xFFFF


@pytest.mark.req("W-08")
def test_tunnelled_and_double_tunnelled_packets(capture: Capture) -> None:
    _check_fields(capture, "tunnel", "double_tunnel")


@pytest.mark.req("W-09")
def test_neighbor_discovery_and_echo(capture: Capture) -> None:
    _check_fields(capture, "rs", "ra", "ns", "na", "echo_request", "echo_reply",
                  "destination_unreachable", "packet_too_big", "time_exceeded",
                  "parameter_problem", "udp")


def test_hmipv6_decode_reads_the_same_capture(capture: Capture,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--json", str(capture.path)]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(recs) == len(CASES)
    assert not [r for r in recs if "error" in r or "skipped" in r]
    by_name = {c.name: r for c, r in zip(CASES, recs, strict=True)}
    bu = by_name["local_bu"]["headers"][-1]
    assert (bu["header"], bu["flags"], bu["lifetime"], bu["sequence"]) == ("binding_update", "AM",
                                                                          600, 4242)
    ipv6_headers = [h for h in by_name["double_tunnel"]["headers"] if h["header"] == "ipv6"]
    assert [(h["src"], h["dst"]) for h in ipv6_headers] == [(str(LCOA), str(MAP)), (str(RCOA), str(HA)),
                                                           (str(HOA), str(CN))]
