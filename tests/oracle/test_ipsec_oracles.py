"""Independent oracles for core.ipsec.

- scapy's ``scapy.layers.ipsec.SecurityAssociation`` (its own ESP/AH code on top of
  ``cryptography``) decrypts and verifies the ESP and AH packets hmipv6 produces, and produces
  packets hmipv6 accepts; for ESP the octets are identical when scapy is handed the same
  sequence number and IV.
- tshark, given the SA table hmipv6 exports (Wireshark's ``esp_sa`` format), decrypts our ESP
  local BU, dissects the Mobility Header inside and reports a good ICV.

Quirk (see core/ipsec/ah.py): RFC 6275 §9.3.1/§9.3.2 define the AH ICV over the packet with
the Home Address option swapped into the source (and a Type 2 routing header advanced);
scapy hashes the packet as given, so for AH it is handed that image (as a Mobile IPv6 stack
presents the packet to AH) and the result swapped back.

- The BA the MAP's octet-level ESP fast path builds is verified and decrypted by scapy, and
  is octet for octet the general path's.

Rows: SEC-01 (ESP/AH transport mode for the local BU and its BA), SEC-02 (integrity).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
from ipaddress import IPv6Address

import pytest

from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.core.ipsec.sad import SAParams
from hmipv6.wire import pcap as pc
from hmipv6.wire.ipv6 import decode
from tests.conftest import REQUIRE_ORACLES, need_tool
from tests.core.ipsec_support import LCOA_A, MAP, RCOA_A, RCOA_PREFIX, bu, local_bu

pytestmark = pytest.mark.oracle


def _scapy():  # type: ignore[no-untyped-def]
    if REQUIRE_ORACLES:
        import scapy.layers.ipsec as ipsec
    else:
        ipsec = pytest.importorskip("scapy.layers.ipsec")
    from scapy.layers.inet6 import IPv6

    return ipsec, IPv6


SCAPY_ALGOS = {
    "esp-null-hmac-sha256": ("NULL", "SHA2-256-128"),
    "esp-aes-cbc-hmac-sha256": ("AES-CBC", "SHA2-256-128"),
    "esp-aes-gcm": ("AES-GCM", "NULL"),
    "ah-hmac-sha256": (None, "SHA2-256-128"),
}


def _pair(suite: str) -> tuple[IPsec, IPsec, SAParams]:
    prov = Provisioner(2024, suite)
    mn, map_ = IPsec(name="mn-a"), IPsec(name="map")
    prov.mn_map(mn, "mn-a", map_, "map", MAP, RCOA_PREFIX)
    up = next(p for p in prov.issued if p.dst is not None and p.dst.prefixlen == 128)
    return mn, map_, up


def _scapy_sa(suite: str, params: SAParams):  # type: ignore[no-untyped-def]
    ipsec, _ = _scapy()
    crypt, auth = SCAPY_ALGOS[suite]
    if suite.startswith("ah"):
        return ipsec.SecurityAssociation(ipsec.AH, spi=params.spi, auth_algo=auth,
                                         auth_key=params.auth_key)
    return ipsec.SecurityAssociation(ipsec.ESP, spi=params.spi, crypt_algo=crypt,
                                     crypt_key=params.enc_key or None, auth_algo=auth,
                                     auth_key=params.auth_key or None)


def _swap_hao(data: bytes) -> bytes:
    """Swap the IPv6 source with the Home Address option of a packet laid out as
    local_bu() lays it out (PadN, then the HAO whose address is at octets 48..63)."""
    assert data[6] == 60 and data[46:48] == b"\xc9\x10"
    b = bytearray(data)
    b[8:24], b[48:64] = b[48:64], b[8:24]
    return bytes(b)


ESP_SUITES = ["esp-null-hmac-sha256", "esp-aes-cbc-hmac-sha256", "esp-aes-gcm"]


@pytest.mark.req("SEC-01")
@pytest.mark.parametrize("suite", ESP_SUITES)
def test_SEC_01_scapy_decrypts_and_verifies_our_esp_local_bu(suite: str) -> None:
    _, IPv6 = _scapy()
    mn, _, params = _pair(suite)
    clear = local_bu(LCOA_A, RCOA_A, bu(seq=42)).encode()
    ours = mn.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=42))).encode()
    sa = _scapy_sa(suite, params)
    plain = sa.decrypt(IPv6(ours))  # raises IPSecIntegrityError on a bad ICV
    assert bytes(plain) == clear
    tampered = bytearray(ours)
    tampered[-20] ^= 1
    with pytest.raises(_scapy()[0].IPSecIntegrityError):
        sa.decrypt(IPv6(bytes(tampered)))


@pytest.mark.req("SEC-01")
@pytest.mark.parametrize("suite", ESP_SUITES)
def test_SEC_01_scapy_esp_is_accepted_by_us_and_byte_identical(suite: str) -> None:
    _, IPv6 = _scapy()
    mn, map_, params = _pair(suite)
    clear = local_bu(LCOA_A, RCOA_A, bu(seq=7))
    ours = mn.protect(0.0, clear).encode()
    sa = _scapy_sa(suite, params)
    iv = ours[48 + 24:][:16] if suite == "esp-aes-cbc-hmac-sha256" else (
        ours[48 + 24:][:8] if suite == "esp-aes-gcm" else None)
    theirs = bytes(sa.encrypt(IPv6(clear.encode()), seq_num=1, iv=iv))
    assert theirs == ours
    got = map_.unprotect(0.0, decode(theirs))
    assert got.peer == "mn-a" and got.packet.encode() == clear.encode()


@pytest.mark.req("SEC-01")
def test_SEC_01_scapy_esp_with_its_own_iv_is_accepted() -> None:
    """scapy draws a random CBC IV: our receiver does not depend on how IVs are made."""
    _, IPv6 = _scapy()
    suite = "esp-aes-cbc-hmac-sha256"
    _, map_, params = _pair(suite)
    clear = local_bu(LCOA_A, RCOA_A, bu(seq=9))
    sa = _scapy_sa(suite, params)
    for seq in (1, 2, 3):
        theirs = bytes(sa.encrypt(IPv6(clear.encode()), seq_num=seq))
        assert map_.unprotect(0.0, decode(theirs)).packet.encode() == clear.encode()


@pytest.mark.req("SEC-01")
def test_SEC_01_scapy_verifies_our_ah_local_bu_and_matches_it_byte_for_byte() -> None:
    _, IPv6 = _scapy()
    suite = "ah-hmac-sha256"
    mn, map_, params = _pair(suite)
    clear = local_bu(LCOA_A, RCOA_A, bu(seq=5))
    ours = mn.protect(0.0, clear).encode()
    sa = _scapy_sa(suite, params)
    # RFC 6275 §9.3.1: the ICV is over the image with the HAO swapped into the source.
    plain = sa.decrypt(IPv6(_swap_hao(ours)))
    assert _swap_hao(bytes(plain)) == clear.encode()
    theirs = _swap_hao(bytes(sa.encrypt(IPv6(_swap_hao(clear.encode())), seq_num=1)))
    assert theirs == ours
    assert map_.unprotect(0.0, decode(theirs)).peer == "mn-a"
    bad = bytearray(ours)
    bad[-1] ^= 1
    with pytest.raises(_scapy()[0].IPSecIntegrityError):
        sa.decrypt(IPv6(_swap_hao(bytes(bad))))


@pytest.mark.req("SEC-01")
def test_SEC_01_scapy_verifies_our_ah_ba_with_type_2_routing_header() -> None:
    """MAP → MN: AH after the RH2; RFC 6275 §9.3.2: ICV as the MN sees it once the routing
    header is advanced (destination = RCoA, RH2 address = LCoA, Segments Left 0)."""
    _, IPv6 = _scapy()
    from tests.core.ipsec_support import raw_bu, to_mn

    prov = Provisioner(2024, "ah-hmac-sha256")
    mn, map_ = IPsec(name="mn-a"), IPsec(name="map")
    prov.mn_map(mn, "mn-a", map_, "map", MAP, RCOA_PREFIX)
    down = next(p for p in prov.issued if p.src is not None and p.src.prefixlen == 128)
    ours = map_.protect(0.0, to_mn(LCOA_A, RCOA_A, raw_bu()), peer="mn-a").encode()
    assert ours[6] == 43 and ours[40] == 51  # RH2 announces AH
    advanced = bytearray(ours)
    advanced[24:40], advanced[48:64] = advanced[48:64], advanced[24:40]
    advanced[43] = 0
    sa = _scapy_sa("ah-hmac-sha256", down)
    sa.decrypt(IPv6(bytes(advanced)))  # raises on a bad ICV
    assert mn.unprotect(0.0, decode(ours)).peer == "map"


@pytest.mark.req("SEC-01")
@pytest.mark.parametrize("suite", ESP_SUITES)
def test_SEC_01_tshark_decrypts_our_esp_with_the_exported_sa_table(
        suite: str, tmp_path: pathlib.Path) -> None:
    tshark = need_tool("tshark")
    mn, _, _ = _pair(suite)
    frames = [mn.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=s))).encode() for s in (100, 101)]
    tampered = bytearray(frames[1])
    tampered[-3] ^= 0x10
    frames[1] = bytes(tampered)
    path = tmp_path / "esp.pcap"
    path.write_bytes(pc.encode_pcap([(float(i), f) for i, f in enumerate(frames)]))
    table = mn.esp_sa_table()
    assert len(table.splitlines()) == 2  # MN→MAP and MAP→MN
    opts = ["-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE"]
    for line in table.splitlines():
        opts += ["-o", f"uat:esp_sa:{line}"]
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), *opts, "-T", "fields", "-E", "separator=|",
         "-e", "esp.spi", "-e", "esp.sequence", "-e", "esp.icv_good", "-e", "esp.icv_bad",
         "-e", "mip6.bu.seqnr", "-e", "mip6.bu.m_flag", "-e", "ipv6.opt.mipv6.home_address"],
        capture_output=True, text=True, check=True, env={**os.environ, "LC_ALL": "C"})
    rows = [r.split("|") for r in out.stdout.strip().splitlines()]
    assert len(rows) == 2, out.stdout + out.stderr
    good, bad = rows
    assert good[2] in ("1", "True") and good[3] in ("", "0", "False")
    assert good[4] == "100" and good[5] in ("1", "True") and good[6] == str(RCOA_A)
    assert bad[3] in ("1", "True") or bad[2] in ("0", "False")


@pytest.mark.req("SEC-01", "SEC-02")
@pytest.mark.parametrize("suite", ESP_SUITES)
def test_SEC_01_scapy_verifies_the_ba_of_the_map_esp_fast_path_equal_to_the_general_paths(
        suite: str) -> None:
    _, IPv6 = _scapy()
    from hmipv6.core.map import MobilityAnchorPoint
    from hmipv6.core.registrar import binding_acknowledgement_octets

    bas, downs = [], []
    for fast in (True, False):
        prov = Provisioner(2024, suite)
        mn, map_ = IPsec(name="mn-a"), IPsec(name="map")
        prov.mn_map(mn, "mn-a", map_, "map", MAP, RCOA_PREFIX)
        downs.append(next(p for p in prov.issued if p.src is not None and p.src.prefixlen == 128))
        m = MobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=map_)
        m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
        m.fast_path = fast
        wire = mn.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=42))).encode()
        if fast:
            assert m._fast_esp_local_bu(0.0, wire)  # the fast path, not a fallback
        else:
            m.receive(0.0, "eth0", wire)
        (ba,) = [t.data for t in m.datagrams_to_send(0.0) if t.data[6] == 43]
        bas.append(ba)
        assert mn.unprotect(0.0, decode(ba)).peer == "map"
    assert bas[0] == bas[1]
    assert downs[0] == downs[1]
    ours = bas[0]
    assert ours[40] == 50 and int.from_bytes(ours[68:72], "big") == 1  # RH2, then ESP seq 1
    plain = _scapy_sa(suite, downs[0]).decrypt(IPv6(ours))  # raises on a bad ICV
    assert bytes(plain) == binding_acknowledgement_octets(MAP.packed, LCOA_A.packed,
                                                          RCOA_A.packed, 0, 42, 60)
    tampered = bytearray(ours)
    tampered[-20] ^= 1
    with pytest.raises(_scapy()[0].IPSecIntegrityError):
        _scapy_sa(suite, downs[0]).decrypt(IPv6(bytes(tampered)))
