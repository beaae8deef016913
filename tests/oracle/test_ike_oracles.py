"""Independent oracles for core.ike (IKEv2, RFC 7296).

- scapy's ``scapy.contrib.ikev2`` parses our IKE_SA_INIT request and response to the same
  header, proposal/transform, KE and nonce values, and sees an Encrypted payload in IKE_AUTH.
- tshark dissects all four messages without malformed or expert-error flags (UDP checksum
  verified), and, given the IKE SA keys in its ``ikev2_decryption_table`` UAT, verifies our
  SK ICV ("[correct]") and decrypts the IKE_AUTH messages: IDi/IDr, AUTH method 2, the ESP
  proposal with our SPIs, the RCoA and MAP traffic selectors, USE_TRANSPORT_MODE, the CP
  reply with the allocated RCoA, and the AUTHENTICATION_FAILED / TS_UNACCEPTABLE notifies.

UAT format (tshark 4.0, checked here): the SPI and key columns are unquoted hex (quoted they
fail with "Length of Initiator's SPI must be 8 octets"), the algorithm columns quoted names:
``SPIi,SPIr,SK_ei,SK_er,"AES-CBC-128 [RFC3602]",SK_ai,SK_ar,"HMAC_SHA2_256_128 [RFC4868]"``.

Rows: X5380-05, SEC-06.
"""

from __future__ import annotations

import pathlib
import subprocess
from ipaddress import IPv6Address
from typing import Any

import pytest

from hmipv6.core.ike import Established, Outcome
from hmipv6.core.ike.exchange import IkeInitiator
from hmipv6.core.ike.transport import ike_message, run_exchange
from hmipv6.core.ipsec import IPsec
from hmipv6.wire import pcap as pc
from hmipv6.wire.ipv6 import IPv6Packet
from tests.conftest import REQUIRE_ORACLES, need_tool
from tests.core.ipsec_support import LCOA_A, LCOA_B, MAP, RCOA_A
from tests.core.test_ike import initiator, responder

pytestmark = pytest.mark.oracle


def _ikev2() -> Any:
    if REQUIRE_ORACLES:
        import scapy.contrib.ikev2 as ikev2
    else:
        ikev2 = pytest.importorskip("scapy.contrib.ikev2")
    return ikev2


def _run(ini: IkeInitiator, mp: IPsec | None = None, lcoa: IPv6Address = LCOA_A
         ) -> tuple[Outcome, list[IPv6Packet], IkeInitiator]:
    trace: list[tuple[float, IPv6Packet]] = []
    out = run_exchange(ini, responder(mp if mp is not None else IPsec(name="map")), lcoa=lcoa,
                       trace=trace)
    return out, [p for _, p in trace], ini


def _transforms(prop: Any, ikev2: Any) -> list[tuple[int, int, int | None]]:
    out = []
    t = prop.trans
    while isinstance(t, ikev2.IKEv2_Transform):
        out.append((int(t.transform_type), int(t.transform_id),
                    int(t.key_length) if t.length > 8 else None))
        t = t.payload
    return out


@pytest.mark.req("X5380-05")
def test_X5380_05_scapy_parses_our_ike_sa_init_to_the_same_fields() -> None:
    ikev2 = _ikev2()
    out, packets, ini = _run(initiator(IPsec(name="mn-a")))
    assert isinstance(out, Established)
    msgs = [m for m in (ike_message(p) for p in packets) if m is not None]
    req, resp, auth = (ikev2.IKEv2(m) for m in msgs[:3])
    assert int.from_bytes(req.init_SPI, "big") == ini.spi_i and req.resp_SPI == bytes(8)
    assert req.exch_type == 34 and req.flags == 0x08 and req.id == 0 and req.length == len(msgs[0])
    assert int.from_bytes(resp.resp_SPI, "big") == ini.spi_r and resp.flags == 0x20
    assert req.version == 0x20
    # Transforms: ENCR_AES_CBC/128, PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128, DH 19 then 14.
    assert _transforms(req[ikev2.IKEv2_Proposal], ikev2) == [
        (1, 12, 128), (2, 5, None), (3, 12, None), (4, 19, None), (4, 14, None)]
    assert req[ikev2.IKEv2_Proposal].proto == 1 and req[ikev2.IKEv2_Proposal].SPIsize == 0
    assert _transforms(resp[ikev2.IKEv2_Proposal], ikev2) == [
        (1, 12, 128), (2, 5, None), (3, 12, None), (4, 19, None)]
    assert req[ikev2.IKEv2_KE].group == 19 and len(req[ikev2.IKEv2_KE].ke) == 64
    assert req[ikev2.IKEv2_Nonce].nonce == ini.ni
    assert resp[ikev2.IKEv2_Nonce].nonce == ini.nr
    assert auth.exch_type == 35 and auth.next_payload == 46
    assert auth.haslayer(ikev2.IKEv2_Encrypted)
    # And scapy's encoding of what it parsed is our octets.
    assert bytes(req) == msgs[0] and bytes(resp) == msgs[1]


def _tshark(tmp_path: pathlib.Path, packets: list[IPv6Packet], uat: list[str] | None,
            *fields: str) -> list[list[str]]:
    tshark = need_tool("tshark")
    path = tmp_path / "ike.pcap"
    path.write_bytes(pc.encode_pcap([(float(i), p.encode()) for i, p in enumerate(packets)]))
    opts = ["-o", "udp.check_checksum:TRUE"]
    for line in uat or ():
        opts += ["-o", f"uat:ikev2_decryption_table:{line}"]
    res = subprocess.run([tshark, "-n", "-r", str(path), *opts, "-T", "fields", "-E",
                          "separator=|", "-E", "occurrence=a", "-E", "aggregator=,",
                          *(a for f in fields for a in ("-e", f))],
                         capture_output=True, text=True, check=True, timeout=60)
    return [line.split("|") for line in res.stdout.splitlines()]


def _verbose(tmp_path: pathlib.Path, packets: list[IPv6Packet], uat: list[str]) -> str:
    tshark = need_tool("tshark")
    path = tmp_path / "ike-v.pcap"
    path.write_bytes(pc.encode_pcap([(float(i), p.encode()) for i, p in enumerate(packets)]))
    opts = [a for line in uat for a in ("-o", f"uat:ikev2_decryption_table:{line}")]
    return subprocess.run([tshark, "-n", "-r", str(path), *opts, "-V"], capture_output=True,
                          text=True, check=True, timeout=60).stdout


def _uat(ini: IkeInitiator) -> list[str]:
    k = ini.keys
    assert k is not None
    return [f'{ini.spi_i:016x},{ini.spi_r:016x},{k.sk_ei.hex()},{k.sk_er.hex()},'
            f'"AES-CBC-128 [RFC3602]",{k.sk_ai.hex()},{k.sk_ar.hex()},'
            f'"HMAC_SHA2_256_128 [RFC4868]"']


@pytest.mark.req("X5380-05")
def test_X5380_05_tshark_dissects_our_ike_without_malformed_flags(tmp_path: pathlib.Path) -> None:
    out, packets, ini = _run(initiator(IPsec(name="mn-a")))
    assert isinstance(out, Established)
    rows = _tshark(tmp_path, packets, None, "_ws.malformed", "_ws.expert.severity",
                   "udp.checksum.status", "isakmp.exchangetype", "isakmp.flags",
                   "isakmp.messageid", "isakmp.ispi", "isakmp.key_exchange.dh_group",
                   "isakmp.tf.id.encr", "isakmp.tf.id.prf", "isakmp.tf.id.integ",
                   "isakmp.length")
    assert len(rows) == 4
    for row, pkt in zip(rows, packets, strict=True):
        malformed, severity, udp_ok, _xchg, _flags, _mid, ispi, *_rest, length = row
        assert malformed == "" and severity == "", row
        assert udp_ok == "1"
        assert ispi.replace(":", "") == f"{ini.spi_i:016x}"
        data = ike_message(pkt)
        assert data is not None and int(length) == len(data)
    assert [r[3] for r in rows] == ["34", "34", "35", "35"]
    assert [r[4] for r in rows] == ["0x08", "0x20", "0x08", "0x20"]
    assert [int(r[5], 16) for r in rows] == [0, 0, 1, 1]
    assert rows[0][7] == "19" and rows[1][7] == "19"
    assert rows[1][8:11] == ["12", "5", "12"]


@pytest.mark.req("X5380-05", "SEC-06", "SEC-03")
def test_X5380_05_tshark_decrypts_ike_auth_with_our_keys(tmp_path: pathlib.Path) -> None:
    mn = IPsec(name="mn-a")
    out, packets, ini = _run(initiator(mn))
    assert isinstance(out, Established)
    uat = _uat(ini)
    rows = _tshark(tmp_path, packets[2:], uat, "_ws.malformed", "_ws.expert.severity",
                   "isakmp.id.type", "isakmp.id.data.key_id", "isakmp.auth.method",
                   "isakmp.prop.protoid", "isakmp.spi", "isakmp.ts.start_ipv6",
                   "isakmp.ts.end_ipv6", "isakmp.ts.protoid", "isakmp.notify.msgtype")
    (req, resp) = rows
    for r in rows:
        assert r[0] == "" and r[1] == "", r
    assert req[2] == "11" and req[3].replace(":", "") == b"mn-a".hex()
    assert resp[2] == "11" and resp[3].replace(":", "") == b"map".hex()
    assert req[4] == resp[4] == "2"
    assert req[5] == resp[5] == "3"
    assert int(req[6].replace(":", ""), 16) == out.child.inbound.spi  # the MN's inbound SPI
    assert int(resp[6].replace(":", ""), 16) == out.child.outbound.spi
    for r in rows:
        assert r[7].split(",") == [str(RCOA_A), str(MAP)] == r[8].split(",")
        assert r[9] == "135,135"
        assert r[10] == "16391"
    text = _verbose(tmp_path, packets[2:], uat)
    assert text.count("[correct]") == 2 and "incorrect" not in text.lower()


@pytest.mark.req("X5380-05", "SEC-04")
def test_X5380_05_tshark_decrypts_the_failure_notifies(tmp_path: pathlib.Path) -> None:
    # Wrong PSK: AUTHENTICATION_FAILED alone.
    out, packets, ini = _run(initiator(IPsec(name="mn-a"), psk=b"wrong"))
    assert not isinstance(out, Established)
    rows = _tshark(tmp_path, packets[3:], _uat(ini), "_ws.malformed", "isakmp.notify.msgtype",
                   "isakmp.auth.method")
    assert rows == [["", "24", ""]]
    # SEC-04: a second identity asking for mn-a's RCoA: IDr, AUTH and TS_UNACCEPTABLE.
    mp = IPsec(name="map")
    assert isinstance(_run(initiator(IPsec(name="mn-a")), mp)[0], Established)
    _, packets, ini = _run(initiator(IPsec(name="mn-b"), "mn-b", RCOA_A, seed=3), mp, LCOA_B)
    rows = _tshark(tmp_path, packets[3:], _uat(ini), "_ws.malformed", "isakmp.notify.msgtype",
                   "isakmp.auth.method")
    assert rows == [["", "38", "2"]]


@pytest.mark.req("X5380-05")
def test_X5380_05_tshark_reads_the_cp_rcoa_allocation(tmp_path: pathlib.Path) -> None:
    out, packets, ini = _run(initiator(IPsec(name="mn-c"), "mn-c.example.net", None))
    assert isinstance(out, Established)
    rows = _tshark(tmp_path, packets[2:], _uat(ini), "_ws.malformed", "isakmp.cfg.type",
                   "isakmp.cfg.attr.type", "isakmp.cfg.attr.internal_ip6_address",
                   "isakmp.id.data.fqdn")
    req, resp = rows
    assert req[0] == resp[0] == ""
    assert req[1] == "1" and resp[1] == "2"
    assert req[2] == resp[2] == "8"
    assert resp[3] == str(out.rcoa)
    assert req[4] == "mn-c.example.net"
