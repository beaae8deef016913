"""``hmipv6 decode``: text and JSON output field by field, generic rendering of message classes,
malformed packets in the middle of a capture, and exit statuses."""

from __future__ import annotations

import enum
import json
import pathlib
from dataclasses import dataclass
from typing import ClassVar

import pytest

from hmipv6 import decode_cmd
from hmipv6.cli import main
from hmipv6.errors import DecodeError
from hmipv6.wire import (
    UDP,
    DestinationOptions,
    HomeAddressOption,
    IPv6Packet,
    RawPayload,
    RoutingHeaderType2,
    addr,
    ipv6,
)
from hmipv6.wire import icmpv6 as icmp
from hmipv6.wire import mobility as mob
from hmipv6.wire import pcap as pc

MN = addr("2001:db8:20::10")
MAP = addr("2001:db8:1::1")
HOA = addr("2001:db8:9::10")
CN = addr("2001:db8:50::5")
MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")

UDP_PKT = IPv6Packet(MN, CN, UDP(5000, 7, b"\x01\x02"), hop_limit=63, traffic_class=0x20,
                     flow_label=0x12345)
HAO_PKT = IPv6Packet(MN, CN, UDP(5001, 7, b"x"),
                     (DestinationOptions((HomeAddressOption(HOA),)),))
RH2_PKT = IPv6Packet(CN, MN, UDP(7, 5001, b"y"), (RoutingHeaderType2(HOA),))
TUNNEL = IPv6Packet(MAP, MN, IPv6Packet(CN, HOA, UDP(7, 5002, b"z")))
DOUBLE = IPv6Packet(addr("2001:db8:ffff::1"), MAP, TUNNEL)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["decode", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def _pcap(tmp_path: pathlib.Path, frames: list[bytes], linktype: int = pc.LINKTYPE_RAW,
          name: str = "c.pcap") -> str:
    path = tmp_path / name
    path.write_bytes(pc.encode_pcap([(i * 0.25, f) for i, f in enumerate(frames)], linktype))
    return str(path)


def _corrupt_udp_checksum(raw: bytes) -> bytes:
    b = bytearray(raw)
    b[-1] ^= 0xFF  # the last data octet: the checksum no longer verifies
    return bytes(b)


# -- text output -------------------------------------------------------------------------------


def test_text_output_of_a_raw_pcap(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _pcap(tmp_path, [UDP_PKT.encode(), HAO_PKT.encode()])
    rc, out, err = _run(capsys, path)
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"packet 1: time 0.000000 length {len(UDP_PKT.encode())}"
    assert lines[1] == (f"  ipv6: src={MN} dst={CN} next_header=UDP(17) hop_limit=63 "
                        f"traffic_class=32 flow_label={0x12345}")
    assert lines[2] == "  udp: src_port=5000 dst_port=7 data=0102"
    assert lines[3] == f"packet 2: time 0.250000 length {len(HAO_PKT.encode())}"
    assert lines[4] == (f"  ipv6: src={MN} dst={CN} next_header=DESTINATION_OPTIONS(60) "
                        "hop_limit=64 traffic_class=0 flow_label=0")
    assert lines[5] == "  destination_options: next_header=UDP(17)"
    assert lines[6] == f"    home_address_option: home_address={HOA}"
    assert lines[7] == "  udp: src_port=5001 dst_port=7 data=78"
    assert len(lines) == 8


def test_text_output_of_tunnels_lists_every_header_outermost_first(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, DOUBLE.encode().hex())
    assert rc == 0
    headers = [line.strip().split(":")[0] for line in out.splitlines()[1:]]
    assert headers == ["ipv6", "ipv6", "ipv6", "udp"]
    assert f"src=2001:db8:ffff::1 dst={MAP} next_header=IPV6(41)" in out.splitlines()[1]
    assert f"src={MAP} dst={MN} next_header=IPV6(41)" in out.splitlines()[2]
    assert f"src={CN} dst={HOA} next_header=UDP(17)" in out.splitlines()[3]
    assert out.splitlines()[0] == f"packet 1: length {len(DOUBLE.encode())}"


# -- JSON output -------------------------------------------------------------------------------


def test_json_output_field_by_field(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _pcap(tmp_path, [HAO_PKT.encode(), RH2_PKT.encode(), TUNNEL.encode()])
    rc, out, _ = _run(capsys, "--json", path)
    assert rc == 0
    hao, rh2, tun = _json_lines(out)
    assert hao == {
        "packet": 1, "time": "0.000000", "length": len(HAO_PKT.encode()),
        "headers": [
            {"header": "ipv6", "src": str(MN), "dst": str(CN),
             "next_header": {"name": "DESTINATION_OPTIONS", "value": 60},
             "hop_limit": 64, "traffic_class": 0, "flow_label": 0},
            {"header": "destination_options",
             "options": [{"type": "home_address_option", "home_address": str(HOA)}],
             "next_header": {"name": "UDP", "value": 17}},
            {"header": "udp", "src_port": 5001, "dst_port": 7, "data": "78"},
        ]}
    assert rh2["headers"][1] == {"header": "routing_header_type2", "home_address": str(HOA),
                                 "segments_left": 1, "reserved": 0,
                                 "next_header": {"name": "UDP", "value": 17}}
    assert rh2["time"] == "0.250000"
    assert [h["header"] for h in tun["headers"]] == ["ipv6", "ipv6", "udp"]
    assert tun["headers"][0]["next_header"] == {"name": "IPV6", "value": 41}
    assert (tun["headers"][1]["src"], tun["headers"][1]["dst"]) == (str(CN), str(HOA))


def test_ethernet_pcap_with_padding_and_non_ipv6_frames(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = IPv6Packet(MN, CN)  # 40 octets: the Ethernet frame carries 6 octets of padding
    frames = [pc.encode_ethernet(small.encode(), source=MAC_A, destination=MAC_B),
              pc.encode_ethernet(bytes(28), source=MAC_A, destination=MAC_B, ethertype=0x0806),
              pc.encode_ethernet(UDP_PKT.encode(), source=MAC_A, destination=MAC_B)]
    path = _pcap(tmp_path, frames, pc.LINKTYPE_ETHERNET)
    rc, out, _ = _run(capsys, "--json", path)
    assert rc == 0  # a non-IPv6 frame is skipped, not malformed
    padded, arp, udp = _json_lines(out)
    assert padded["length"] == 60
    assert padded["headers"][0] == {"header": "ethernet", "destination": "02:00:00:00:00:02",
                                    "source": "02:00:00:00:00:01",
                                    "ethertype": {"name": "IPv6", "value": 0x86DD}}
    assert padded["headers"][1]["next_header"] == {"name": "NO_NEXT_HEADER", "value": 59}
    assert len(padded["headers"]) == 2
    assert arp["skipped"] == "EtherType 0x0806 is not IPv6"
    assert arp["headers"][0]["ethertype"] == {"name": "ARP", "value": 0x0806}
    assert udp["headers"][2] == {"header": "udp", "src_port": 5000, "dst_port": 7, "data": "0102"}
    rc, out, _ = _run(capsys, path)
    assert out.splitlines()[3] == "packet 2: time 0.250000 length 60 skipped: EtherType 0x0806 is not IPv6"


# -- malformed packets -------------------------------------------------------------------------


def test_malformed_packet_in_the_middle_of_a_pcap(tmp_path: pathlib.Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = _corrupt_udp_checksum(UDP_PKT.encode())
    path = _pcap(tmp_path, [HAO_PKT.encode(), bad, UDP_PKT.encode()])
    rc, out, err = _run(capsys, path)
    assert rc == 1 and err == ""
    lines = out.splitlines()
    bad_line = [ln for ln in lines if ln.startswith("packet 2")]
    assert bad_line == [f"packet 2: malformed: udp.checksum at offset 46: checksum "
                        f"0x{bad[46]:02x}{bad[47]:02x} does not verify"]
    assert any(ln.startswith("packet 3: time 0.500000") for ln in lines)
    assert lines[-1] == "  udp: src_port=5000 dst_port=7 data=0102"

    rc, out, _ = _run(capsys, "--json", path)
    assert rc == 1
    recs = _json_lines(out)
    assert [("error" in r) for r in recs] == [False, True, False]
    assert recs[1] == {"packet": 2, "time": "0.250000", "length": len(bad),
                       "error": {"field": "udp.checksum", "offset": 46,
                                 "reason": f"checksum 0x{bad[46]:02x}{bad[47]:02x} does not verify"}}

    rc, out, _ = _run(capsys, "--no-verify", path)
    assert rc == 0 and "malformed" not in out


def test_offsets_count_from_the_start_of_the_ethernet_frame(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = bytearray(UDP_PKT.encode())
    raw[0] = 0x50  # IP version 5 in an Ethernet frame typed IPv6
    path = _pcap(tmp_path, [pc.encode_ethernet(bytes(raw), source=MAC_A, destination=MAC_B)],
                 pc.LINKTYPE_ETHERNET)
    rc, out, _ = _run(capsys, path)
    assert rc == 1
    assert out == "packet 1: malformed: ipv6.version at offset 14: version 5, expected 6\n"


def test_truncated_capture_prints_the_good_records_then_the_bad_one(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cut.pcap"
    data = pc.encode_pcap([(0.0, UDP_PKT.encode()), (1.0, UDP_PKT.encode())])
    path.write_bytes(data[:-5])
    rc, out, err = _run(capsys, str(path))
    assert rc == 1 and err == ""
    second = 24 + 16 + len(UDP_PKT.encode())
    assert out.splitlines()[0].startswith("packet 1: time 0.000000")
    assert out.splitlines()[-1] == (
        f"packet 2: malformed: pcap.record.captured_length at offset {second + 8}: captured "
        f"length {len(UDP_PKT.encode())} but {len(UDP_PKT.encode()) - 5} octets left (the rest "
        "of the file is unreadable)")


def test_snapshot_cut_packets_say_so(tmp_path: pathlib.Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "snap.pcap"
    path.write_bytes(pc.encode_pcap([(0.0, UDP_PKT.encode())], snaplen=48))
    rc, out, _ = _run(capsys, str(path))
    assert rc == 1
    assert out.startswith("packet 1: malformed: ipv6.payload_length at offset 4:")
    assert out.rstrip().endswith(f"(only 48 of {len(UDP_PKT.encode())} octets were captured)")


def test_a_decoder_bug_is_reported_and_decoding_goes_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool) -> UDP:
        raise IndexError("oops")

    monkeypatch.setitem(ipv6._DECODERS, 17, broken)
    rc, out, _ = _run(capsys, "--hex", UDP_PKT.encode().hex(), "--hex", TUNNEL.encode().hex())
    assert rc == 1
    assert out.splitlines()[0] == "packet 1: internal error, please report: IndexError: oops"
    assert out.splitlines()[1] == "packet 2: internal error, please report: IndexError: oops"


# -- inputs ------------------------------------------------------------------------------------


def test_hex_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    h = UDP_PKT.encode().hex()
    rc, out, _ = _run(capsys, "--json", "--hex", h, h.upper(), " ".join(h[i:i + 2] for i in
                                                                       range(0, len(h), 2)))
    assert rc == 0
    recs = _json_lines(out)
    assert len(recs) == 3
    assert all(r["headers"][1] == {"header": "udp", "src_port": 5000, "dst_port": 7,
                                   "data": "0102"} for r in recs)
    assert "time" not in recs[0]
    eth = pc.encode_ethernet(IPv6Packet(MN, CN).encode(), source=MAC_A, destination=MAC_B)
    rc, out, _ = _run(capsys, "--json", "--link", "ethernet", eth.hex())
    assert rc == 0
    assert [h["header"] for h in _json_lines(out)[0]["headers"]] == ["ethernet", "ipv6"]


def test_a_text_file_of_hex_lines(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "packets.txt"
    path.write_text(f"# two packets\n{UDP_PKT.encode().hex()}\n\n"
                    f"{_corrupt_udp_checksum(UDP_PKT.encode()).hex()}  # a bad one\n")
    rc, out, _ = _run(capsys, str(path))
    assert rc == 1
    assert out.splitlines()[0] == f"packet 1: length {len(UDP_PKT.encode())}"
    assert out.splitlines()[-1].startswith("packet 2: malformed: udp.checksum at offset 46:")


def test_nanosecond_big_endian_pcaps_print_nanoseconds(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = UDP_PKT.encode()
    path = tmp_path / "ns.pcap"
    path.write_bytes(bytes.fromhex("a1b23c4d00020004000000000000000000040000000000e5")
                     + (5).to_bytes(4, "big") + (123_456_789).to_bytes(4, "big")
                     + len(raw).to_bytes(4, "big") * 2 + raw)
    rc, out, _ = _run(capsys, str(path))
    assert rc == 0
    assert out.splitlines()[0] == f"packet 1: time 5.123456789 length {len(raw)}"


def test_several_files_are_labelled(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _pcap(tmp_path, [UDP_PKT.encode()], name="a.pcap")
    b = _pcap(tmp_path, [HAO_PKT.encode()], name="b.pcap")
    rc, out, _ = _run(capsys, a, b)
    assert rc == 0
    assert out.splitlines()[0] == f"==> {a} <=="
    assert f"==> {b} <==" in out.splitlines()
    rc, out, _ = _run(capsys, "--json", a, b)
    assert [(r["source"], r["packet"]) for r in _json_lines(out)] == [(a, 1), (b, 1)]


# -- exit statuses -----------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: str(p / "missing.pcap"), "is neither a readable file nor hex"),
    (lambda p: "60zz", "is neither a readable file nor hex"),
    (lambda p: str(p), "is a directory"),
])
def test_usage_errors_exit_2_with_one_message(tmp_path: pathlib.Path,
                                              capsys: pytest.CaptureFixture[str],
                                              make: object, message: str) -> None:
    assert callable(make)
    rc, out, err = _run(capsys, make(tmp_path))
    assert rc == 2 and out == ""
    assert err.startswith("hmipv6 decode: error: ") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(("content", "message"), [
    (b"\x00" * 40, "not a pcap file or hex text"),
    (b"\x0a\x0d\x0d\x0a" + bytes(40), "pcapng"),
    (b"\xd4\xc3\xb2\xa1", "not a pcap file or hex text"),
    (pc.encode_header(147), "link type 147 is not supported"),
])
def test_unreadable_files_exit_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                                 content: bytes, message: str) -> None:
    path = tmp_path / "f.pcap"
    path.write_bytes(content)
    rc, out, err = _run(capsys, str(path))
    assert rc == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1


def test_no_input_and_odd_hex_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys)
    assert rc == 2 and "nothing to decode" in err
    rc, _, err = _run(capsys, "--hex", "600")
    assert rc == 2 and "--hex '600'" in err


def test_argparse_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["decode", "--link", "token-ring", "60"])
    assert info.value.code == 2


def test_empty_pcap_decodes_nothing_and_succeeds(tmp_path: pathlib.Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, _pcap(tmp_path, []))
    assert (rc, out) == (0, "")


# -- generic rendering of message classes ------------------------------------------------------


class _Kind(enum.IntEnum):
    HELLO = 1
    BYE = 2


class _Flags(enum.IntFlag):
    A = 0x80
    B = 0x40
    C = 0x20


class _Long(enum.IntFlag):
    FAST = 1
    SLOW = 2


@dataclass(frozen=True, slots=True)
class _Opt:
    option_type: ClassVar[int] = 7
    value: int


@dataclass(frozen=True, slots=True)
class _ToyMessage:
    """A message class the decoder has never heard of."""

    next_header: ClassVar[int] = 253
    msg_type: ClassVar[int] = _Kind.HELLO
    kind: _Kind | int
    flags: _Flags
    speed: _Long
    cookie: bytes
    target: object
    options: tuple[_Opt, ...] = ()
    enabled: bool = False

    def encode_payload(self, src: bytes, dst: bytes) -> bytes:
        return bytes((self.kind, self.flags)) + self.cookie


def test_generic_rendering_of_an_unknown_message_class() -> None:
    msg = _ToyMessage(_Kind.BYE, _Flags.A | _Flags.C, _Long.FAST | _Long.SLOW, b"\xca\xfe", HOA,
                      (_Opt(1), _Opt(2)), True)
    assert decode_cmd.render(msg) == {
        "type": "_toy_message", "msg_type": {"name": "HELLO", "value": 1},
        "kind": {"name": "BYE", "value": 2}, "flags": "AC", "speed": "FAST|SLOW",
        "cookie": "cafe", "target": str(HOA),
        "options": [{"type": "_opt", "value": 1}, {"type": "_opt", "value": 2}], "enabled": True}
    # A plain int in an enum-annotated field is looked up; an unassigned one keeps its number.
    assert decode_cmd.render(_ToyMessage(1, _Flags(0x21), _Long(0), b"", None))["kind"] == {
        "name": "HELLO", "value": 1}
    assert decode_cmd.render(_ToyMessage(9, _Flags(0x21), _Long(0), b"", None))["kind"] == {
        "name": None, "value": 9}
    # Unnamed bits stay visible.
    assert decode_cmd.flag_letters(_Flags(0x21)) == "C+0x1"
    assert decode_cmd.flag_letters(_Flags(0)) == ""
    assert decode_cmd.flag_letters(_Long(5)) == "FAST|0x4"


def test_a_registered_message_class_prints_in_text_and_json(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def toy(data: bytes, start: int, end: int, src: bytes, dst: bytes, verify: bool) -> _ToyMessage:
        if end - start < 2:
            raise DecodeError("too short", field="toy", offset=start)
        return _ToyMessage(data[start], _Flags(data[start + 1]), _Long.SLOW,
                           data[start + 2 : end], None, (_Opt(5),))

    monkeypatch.setitem(ipv6._DECODERS, 253, toy)
    good = IPv6Packet(MN, CN, RawPayload(253, b"\x02\xa0\xbe\xef")).encode()
    short = IPv6Packet(MN, CN, RawPayload(253, b"\x02")).encode()
    rc, out, _ = _run(capsys, good.hex(), short.hex())
    assert rc == 1
    lines = out.splitlines()
    assert "next_header=253 " in lines[1]
    assert lines[2] == ("  _toy_message: msg_type=HELLO(1) kind=BYE(2) flags=AC speed=SLOW "
                        "cookie=beef target=- enabled=False")
    assert lines[3] == "    _opt: value=5"
    assert lines[4] == "packet 2: malformed: toy at offset 40: too short"
    rc, out, _ = _run(capsys, "--json", good.hex())
    rec = _json_lines(out)[0]
    assert rec["headers"][0]["next_header"] == {"name": None, "value": 253}
    assert rec["headers"][1]["header"] == "_toy_message"
    assert rec["headers"][1]["flags"] == "AC"


def test_snake_case_names() -> None:
    assert decode_cmd.type_name(IPv6Packet) == "ipv6"
    assert decode_cmd._snake("BindingUpdate") == "binding_update"
    assert decode_cmd._snake("UDP") == "udp"
    assert decode_cmd._snake("ICMPv6Error") == "icmpv6_error"
    assert decode_cmd._snake("MTU") == "mtu"
    assert decode_cmd._snake("RoutingHeaderType2") == "routing_header_type2"
    assert decode_cmd._snake("HomeAgentAddressDiscoveryReply") == "home_agent_address_discovery_reply"


# -- the real message classes (wire.mobility, wire.icmpv6) -------------------------------------


def test_local_binding_update_and_its_acknowledgement(capsys: pytest.CaptureFixture[str]) -> None:
    rcoa = addr("2001:db8:1::10")
    bu = IPv6Packet(MN, MAP, mob.BindingUpdate(4242, mob.BUFlags.A | mob.BUFlags.M, 600),
                    (DestinationOptions((HomeAddressOption(rcoa),)),))
    ba = IPv6Packet(MAP, MN, mob.BindingAcknowledgement(mob.BAStatus.ACCEPTED, mob.BAFlags(0), 4242,
                                                        592), (RoutingHeaderType2(rcoa),))
    rc, out, _ = _run(capsys, "--json", bu.encode().hex(), ba.encode().hex())
    assert rc == 0
    bu_rec, ba_rec = _json_lines(out)
    assert bu_rec["headers"][2] == {
        "header": "binding_update", "mh_type": {"name": "BU", "value": 5}, "sequence": 4242,
        "flags": "AM", "lifetime": 600, "options": [], "payload_proto": 59, "header_reserved": 0}
    assert bu_rec["headers"][1]["options"] == [{"type": "home_address_option",
                                                "home_address": str(rcoa)}]
    assert ba_rec["headers"][1]["header"] == "routing_header_type2"
    assert ba_rec["headers"][2]["status"] == {"name": "ACCEPTED", "value": 0}
    assert ba_rec["headers"][2]["flags"] == ""
    assert ba_rec["headers"][2]["lifetime"] == 592
    rc, out, _ = _run(capsys, bu.encode().hex())
    assert out.splitlines()[-1] == ("  binding_update: mh_type=BU(5) sequence=4242 flags=AM "
                                    "lifetime=600 options=[] payload_proto=59 header_reserved=0")


def test_unassigned_status_and_reserved_flag_bits_stay_visible(
        capsys: pytest.CaptureFixture[str]) -> None:
    ba = IPv6Packet(MAP, MN, mob.BindingAcknowledgement(200, mob.BAFlags(0x81), 1, 0))
    rc, out, _ = _run(capsys, "--json", ba.encode().hex())
    assert rc == 0
    msg = _json_lines(out)[0]["headers"][1]
    assert msg["status"] == {"name": None, "value": 200}
    assert msg["flags"] == "K+0x1"


def test_router_advertisement_with_a_map_option(capsys: pytest.CaptureFixture[str]) -> None:
    ra = IPv6Packet(addr("fe80::a"), addr("ff02::1"), icmp.RouterAdvertisement(
        64, router_lifetime=1800, options=(icmp.MapOption(1, 15, True, 3600, MAP),)),
        hop_limit=255)
    rc, out, _ = _run(capsys, "--json", ra.encode().hex())
    assert rc == 0
    msg = _json_lines(out)[0]["headers"][1]
    assert msg["header"] == "router_advertisement"
    assert msg["icmp_type"] == {"name": "ROUTER_ADVERTISEMENT", "value": 134}
    assert msg["router_lifetime"] == 1800
    assert msg["options"] == [{"type": "map_option", "option_type": {"name": "MAP", "value": 23},
                               "dist": 1, "pref": 15, "r": True, "valid_lifetime": 3600,
                               "address": str(MAP), "reserved": 0}]
    rc, out, _ = _run(capsys, ra.encode().hex())
    assert out.splitlines()[-1] == (f"    map_option: option_type=MAP(23) dist=1 pref=15 r=True "
                                    f"valid_lifetime=3600 address={MAP} reserved=0")
    bad = bytearray(ra.encode())
    bad[-24 + 1] = 4  # the MAP option's Length octet: 4 instead of 3
    rc, out, _ = _run(capsys, bytes(bad).hex())
    assert rc == 1 and out.startswith("packet 1: malformed: icmpv6.checksum at offset 42: ")
    rc, out, _ = _run(capsys, "--no-verify", bytes(bad).hex())
    assert rc == 1 and out.startswith("packet 1: malformed: icmpv6.")
    assert f"at offset {len(bad) - 23}:" in out
