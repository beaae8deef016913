"""The pcap writer and reader: golden bytes, round trips, foreign files (both byte orders,
nanoseconds, written by scapy), malformed files, and tshark reading files we wrote."""

from __future__ import annotations

import contextlib
import io
import pathlib
import struct
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmipv6.errors import DecodeError, EncodeError, LocalProtocolError
from hmipv6.wire import UDP, IPv6Packet, addr, decode
from hmipv6.wire import pcap as pc
from tests.conftest import need_tool

SRC = addr("2001:db8:1::10")
DST = addr("2001:db8:2::20")
MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def _packet(i: int = 0, data: bytes = b"hello") -> bytes:
    return IPv6Packet(SRC, DST, UDP(1000 + i, 2000, data)).encode()


# -- golden bytes ------------------------------------------------------------------------------


def test_header_and_record_golden_bytes() -> None:
    assert pc.encode_header(pc.LINKTYPE_RAW) == bytes.fromhex(
        "d4c3b2a1" "0200" "0400" "00000000" "00000000" "00000400" "65000000")
    assert pc.encode_header(pc.LINKTYPE_IPV6, 65535, byteorder="big") == bytes.fromhex(
        "a1b2c3d4" "0002" "0004" "00000000" "00000000" "0000ffff" "000000e5")
    assert pc.encode_record(b"\x60\x00", 3.000_002) == bytes.fromhex(
        "03000000" "02000000" "02000000" "02000000" "6000")


def test_timestamps_are_rounded_once_to_microseconds() -> None:
    # 0.1 * 3 is 0.30000000000000004 in binary floating point: still 300000 µs.
    rec = pc.encode_record(b"", 0.1 * 3)
    assert struct.unpack("<II", rec[:8]) == (0, 300_000)
    rec = pc.encode_record(b"", 1.999_999_6)
    assert struct.unpack("<II", rec[:8]) == (2, 0)
    with pytest.raises(EncodeError):
        pc.encode_record(b"", -0.5)


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_writer_then_reader_round_trip(byteorder: pc.ByteOrder) -> None:
    buf = io.BytesIO()
    w = pc.PcapWriter(buf, pc.LINKTYPE_RAW, byteorder=byteorder)
    times = [0.0, 0.000_001, 1.5, 3600.25]
    for i, t in enumerate(times):
        w.write(_packet(i), t)
    assert w.count == 4
    f = pc.read_pcap(buf.getvalue())
    assert f.header == pc.PcapHeader(pc.LINKTYPE_RAW, pc.DEFAULT_SNAPLEN, byteorder, False)
    assert [r.timestamp_ns for r in f.records] == [0, 1000, 1_500_000_000, 3_600_250_000_000]
    assert [r.data for r in f.records] == [_packet(i) for i in range(4)]
    assert [decode(r.data).payload for r in f.records] == [UDP(1000 + i, 2000, b"hello")
                                                           for i in range(4)]
    assert f.records[1].offset == 24 + 16 + len(_packet(0))
    assert buf.getvalue() == pc.encode_pcap(zip(times, [_packet(i) for i in range(4)], strict=True),
                                            byteorder=byteorder)


def test_snaplen_cuts_records_and_keeps_the_original_length() -> None:
    data = pc.encode_pcap([(0.0, _packet(0, b"x" * 100))], snaplen=64)
    (r,) = pc.read_pcap(data).records
    assert len(r.data) == 64
    assert r.original_length == len(_packet(0, b"x" * 100))
    assert r.truncated


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=80)), max_size=8),
       st.sampled_from(["little", "big"]))
def test_any_records_round_trip(records: list[tuple[int, bytes]], byteorder: pc.ByteOrder) -> None:
    data = pc.encode_pcap(((us / 1e6, d) for us, d in records), pc.LINKTYPE_ETHERNET,
                          byteorder=byteorder)
    f = pc.read_pcap(data)
    assert [(r.timestamp_ns, r.data) for r in f.records] == [(us * 1000, d) for us, d in records]


@given(st.binary(max_size=200))
def test_any_bytes_read_or_raise_decode_error(data: bytes) -> None:
    for candidate in (data, pc.encode_header(pc.LINKTYPE_RAW) + data):
        with contextlib.suppress(DecodeError):
            pc.read_pcap(candidate)


# -- foreign files -----------------------------------------------------------------------------


def _foreign(byteorder: str, magic: int, frac: int) -> bytes:
    e = "<" if byteorder == "little" else ">"
    return (struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, 229)
            + struct.pack(e + "IIII", 7, frac, 2, 60) + b"\x60\x00")


def test_reads_big_endian_and_nanosecond_files() -> None:
    f = pc.read_pcap(_foreign("big", pc.MAGIC_NANOSECONDS, 123_456_789))
    assert f.header.byteorder == "big" and f.header.nanoseconds
    assert f.header.linktype == pc.LINKTYPE_IPV6 and f.header.snaplen == 65535
    (r,) = f.records
    assert r.timestamp_ns == 7_123_456_789 and r.data == b"\x60\x00" and r.original_length == 60
    f = pc.read_pcap(_foreign("little", pc.MAGIC_NANOSECONDS, 5))
    assert f.records[0].timestamp_ns == 7_000_000_005
    f = pc.read_pcap(_foreign("big", pc.MAGIC_MICROSECONDS, 5))
    assert f.records[0].timestamp_ns == 7_000_005_000


def test_fcs_bits_of_the_linktype_field() -> None:
    data = bytearray(pc.encode_header(pc.LINKTYPE_ETHERNET))
    data[20:24] = struct.pack("<I", 0x04000000 | (2 << 28) | 1)
    h = pc.decode_header(bytes(data))
    assert h.linktype == pc.LINKTYPE_ETHERNET and h.fcs_length == 4


@pytest.mark.oracle
@pytest.mark.parametrize(("endianness", "nano"), [("<", False), (">", False), ("<", True), (">", True)])
def test_reads_files_scapy_wrote(tmp_path: pathlib.Path, endianness: str, nano: bool) -> None:
    scapy_all = pytest.importorskip("scapy.all")
    path = tmp_path / "s.pcap"
    pkt = scapy_all.IPv6(_packet(3))
    pkt.time = 12.000_034
    w = scapy_all.PcapWriter(str(path), linktype=pc.LINKTYPE_RAW, endianness=endianness, nano=nano)
    w.write(pkt)
    w.close()
    f = pc.read_pcap(path.read_bytes())
    assert f.header.nanoseconds == nano
    assert f.header.byteorder == ("little" if endianness == "<" else "big")
    (r,) = f.records
    assert r.data == _packet(3)
    assert abs(r.timestamp_ns - 12_000_034_000) < 1000


# -- malformed files ---------------------------------------------------------------------------


def _raises(data: bytes, field: str, offset: int) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        pc.read_pcap(data)
    assert (info.value.field, info.value.offset) == (field, offset)
    return info.value


def test_malformed_files_name_field_and_offset() -> None:
    good = pc.encode_pcap([(0.0, _packet(0)), (1.0, _packet(1))])
    _raises(good[:10], "pcap.header", 0)
    _raises(b"\x00" * 24, "pcap.magic", 0)
    err = _raises(bytes.fromhex("0a0d0d0a") + bytes(40), "pcap.magic", 0)
    assert "pcapng" in err.reason
    bad_version = bytearray(good)
    bad_version[4] = 3
    _raises(bytes(bad_version), "pcap.version_major", 4)
    second = 24 + 16 + len(_packet(0))
    _raises(good[: second + 5], "pcap.record", second)
    _raises(good[:-1], "pcap.record.captured_length", second + 8)
    huge = bytearray(good)
    huge[32:36] = struct.pack("<I", 10_000_000)
    _raises(bytes(huge), "pcap.record.captured_length", 32)


def test_iter_records_yields_the_good_records_before_the_bad_one() -> None:
    good = pc.encode_pcap([(0.0, _packet(0)), (1.0, _packet(1))])
    got = []
    with pytest.raises(DecodeError):
        for r in pc.iter_records(good[:-3]):
            got.append(r.data)
    assert got == [_packet(0)]


# -- link layers -------------------------------------------------------------------------------


def test_ethernet_frames() -> None:
    frame = pc.encode_ethernet(_packet(0), source=MAC_A, destination=MAC_B)
    lp = pc.link_payload(pc.LINKTYPE_ETHERNET, frame)
    assert lp.is_ipv6 and lp.offset == 14 and lp.end == len(frame)
    assert lp.ethernet == pc.EthernetHeader(MAC_B, MAC_A, pc.ETHERTYPE_IPV6)
    assert decode(frame[lp.offset : lp.end]).payload == UDP(1000, 2000, b"hello")


def test_short_ethernet_frames_are_padded_and_the_padding_is_a_trailer() -> None:
    small = IPv6Packet(SRC, DST).encode()  # 40 octets: the frame needs 6 of padding
    frame = pc.encode_ethernet(small, source=MAC_A, destination=MAC_B)
    assert len(frame) == 60
    lp = pc.link_payload(pc.LINKTYPE_ETHERNET, frame)
    with pytest.raises(DecodeError):
        decode(frame[lp.offset :])
    assert decode(frame[lp.offset :], allow_trailer=True) == IPv6Packet(SRC, DST)


def test_vlan_tags_are_skipped_and_other_ethertypes_flagged() -> None:
    tagged = MAC_B + MAC_A + bytes.fromhex("8100" "0064" "86dd") + _packet(0)
    lp = pc.link_payload(pc.LINKTYPE_ETHERNET, tagged)
    assert lp.is_ipv6 and lp.offset == 18 and lp.ethernet is not None
    assert lp.ethernet.vlan_tags == (100,)
    arp = pc.encode_ethernet(bytes(28), source=MAC_A, destination=MAC_B, ethertype=0x0806)
    lp = pc.link_payload(pc.LINKTYPE_ETHERNET, arp)
    assert not lp.is_ipv6 and "0x0806" in lp.reason
    with pytest.raises(DecodeError) as info:
        pc.link_payload(pc.LINKTYPE_ETHERNET, MAC_B + MAC_A + b"\x81\x00\x00")
    assert info.value.field == "ethernet.vlan_tag" and info.value.offset == 14
    with pytest.raises(DecodeError):
        pc.link_payload(pc.LINKTYPE_ETHERNET, b"\x00" * 13)


def test_raw_link_types() -> None:
    assert pc.link_payload(pc.LINKTYPE_RAW, _packet(0)).is_ipv6
    ipv4 = bytes.fromhex("45000014") + bytes(16)
    assert not pc.link_payload(pc.LINKTYPE_RAW, ipv4).is_ipv6
    assert pc.link_payload(pc.LINKTYPE_IPV6, _packet(0)).is_ipv6
    lp = pc.link_payload(pc.LINKTYPE_ETHERNET,
                         pc.encode_ethernet(_packet(0), source=MAC_A, destination=MAC_B) + b"FCS!",
                         fcs_length=4)
    assert lp.end == 14 + len(_packet(0))
    with pytest.raises(LocalProtocolError):
        pc.link_payload(147, b"")


# -- tshark reads what we wrote ----------------------------------------------------------------


def _tshark_fields(path: pathlib.Path, *fields: str) -> list[list[str]]:
    tshark = need_tool("tshark")
    args = [tshark, "-r", str(path), "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E",
            "separator=|"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("|") for line in out.splitlines()]


@pytest.mark.oracle
@pytest.mark.parametrize("linktype", [pc.LINKTYPE_RAW, pc.LINKTYPE_IPV6, pc.LINKTYPE_ETHERNET])
@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_tshark_reads_a_file_we_wrote(tmp_path: pathlib.Path, linktype: int,
                                      byteorder: pc.ByteOrder) -> None:
    need_tool("tshark")
    path = tmp_path / "ours.pcap"
    with path.open("wb") as fh:
        w = pc.PcapWriter(fh, linktype, byteorder=byteorder)
        for i, t in enumerate([0.0, 0.5, 2.000_001]):
            p = _packet(i)
            if linktype == pc.LINKTYPE_ETHERNET:
                p = pc.encode_ethernet(p, source=MAC_A, destination=MAC_B)
            w.write(p, t)
        if linktype == pc.LINKTYPE_ETHERNET:
            w.write(pc.encode_ethernet(IPv6Packet(SRC, DST).encode(), source=MAC_A,
                                       destination=MAC_B), 3.0)
    rows = _tshark_fields(path, "frame.number", "frame.time_epoch", "ipv6.src", "ipv6.dst",
                          "udp.srcport", "udp.checksum.status", "_ws.malformed", "_ws.expert")
    expected = [["1", "0.000000000", str(SRC), str(DST), "1000", "1", "", ""],
                ["2", "0.500000000", str(SRC), str(DST), "1001", "1", "", ""],
                ["3", "2.000001000", str(SRC), str(DST), "1002", "1", "", ""]]
    if linktype == pc.LINKTYPE_ETHERNET:
        expected.append(["4", "3.000000000", str(SRC), str(DST), "", "", "", ""])
        eth = _tshark_fields(path, "eth.src", "eth.dst", "eth.type")
        assert eth[0] == ["02:00:00:00:00:01", "02:00:00:00:00:02", "0x86dd"]
    assert rows == expected
