"""``hmipv6 decode --esp-sa FILE``: the ESP of a capture opened with the table ``--export-sa``
wrote (SEC-01: what a user sees inside our ESP without Wireshark), checked against tshark
opening the same capture with the same table, plus bad ICVs, unknown SPIs and bad tables."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

from hmipv6.cli import main
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.core.ipsec.wireshark import esp_sa_table, parse_esp_sa_table
from hmipv6.errors import LocalProtocolError
from hmipv6.sim.network import run
from hmipv6.wire import pcap as pc
from tests.conftest import need_tool


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, pathlib.Path]:
    """figure1 under HMIPv6 (ESP-NULL + HMAC-SHA-256-128): the new cell's capture and the
    exported SA table."""
    d = tmp_path_factory.mktemp("esp")
    sa = d / "esp_sa"
    r = run("figure1", protocol="hmipv6", capture=True, export_sa=sa)
    path = d / "cell-ar2.pcap"
    path.write_bytes(r.pcaps["cell-ar2"])
    return path, sa


def _decode(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict], str]:
    rc = main(["decode", "--json", *argv])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines()], err


def _opened(records: list[dict]) -> list[tuple[dict, dict]]:
    """(ESP header, the header after it) of every opened ESP."""
    out = []
    for rec in records:
        hs = rec.get("headers", [])
        for i, h in enumerate(hs):
            if h["header"] == "encapsulating_security_payload" and "icv" in h:
                out.append((h, hs[i + 1] if i + 1 < len(hs) else {}))
    return out


@pytest.mark.req("SEC-01")
def test_decode_opens_the_captured_bus_and_bas_as_tshark_does(
        capture: tuple[pathlib.Path, pathlib.Path], capsys: pytest.CaptureFixture[str]) -> None:
    path, sa = capture
    rc, records, err = _decode(capsys, "--esp-sa", str(sa), str(path))
    assert (rc, err) == (0, "")
    opened = _opened(records)
    assert opened and all(esp["icv"] == "good" for esp, _ in opened)
    bus = [inner["sequence"] for esp, inner in opened if inner["header"] == "binding_update"]
    bas = [inner for _, inner in opened if inner["header"] == "binding_acknowledgement"]
    assert bus and bas and all(ba["status"]["name"] == "ACCEPTED" for ba in bas)
    assert all(esp["next_header"]["value"] == 135 for esp, _ in opened)
    # Without the table the same ESP stays opaque.
    rc, plain, _ = _decode(capsys, str(path))
    assert rc == 0 and not _opened(plain)
    # tshark, given the same table, finds the same BU sequence numbers with good ICVs.
    tshark = need_tool("tshark")
    opts = ["-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE"]
    for line in sa.read_text().splitlines():
        opts += ["-o", f"uat:esp_sa:{line}"]
    rows = [r.split("|") for r in subprocess.run(
        [tshark, "-n", "-r", str(path), *opts, "-Y", "esp", "-T", "fields", "-E",
         "separator=|", "-e", "esp.icv_good", "-e", "mip6.bu.seqnr"],
        capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "LC_ALL": "C"}).stdout.splitlines()]
    assert [int(r[1]) for r in rows if r[1]] == bus
    assert len(rows) == len(opened) and all(r[0] in ("1", "True") for r in rows)


def test_a_bad_icv_shows_and_leaves_the_payload_opaque(
        capture: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path, sa = capture
    cap = pc.read_pcap(path.read_bytes())
    rc, records, _ = _decode(capsys, "--esp-sa", str(sa), str(path))
    first = next(rec["packet"] for rec in records if _opened([rec]))
    frames = [(r.timestamp, r.data) for r in cap.records]
    t, data = frames[first - 1]
    frames[first - 1] = (t, data[:-1] + bytes([data[-1] ^ 1]))  # the ICV's last octet
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(pc.encode_pcap(frames, cap.header.linktype))
    rc, records, _ = _decode(capsys, "--esp-sa", str(sa), str(bad))
    assert rc == 0  # a forged packet is not a malformed one
    rec = records[first - 1]
    esp = [h for h in rec["headers"] if h["header"] == "encapsulating_security_payload"]
    assert esp[0]["icv"] == "bad" and "data" in esp[0]
    assert rec["headers"][-1] == esp[0]  # nothing decoded past a bad ICV


def test_another_scenario_s_table_leaves_the_esp_opaque(
        capture: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = capture
    other = tmp_path / "other"
    p = Provisioner(99)
    other.write_text(esp_sa_table([p.sa("a", "b", src=None, dst=None)]))
    rc, records, _ = _decode(capsys, "--esp-sa", str(other), str(path))
    assert rc == 0 and not _opened(records)


@pytest.mark.parametrize(("table", "words"), [
    ('"IPv6","*","*","0x1001","NULL",""\n', "line 1: 6 fields, expected 8"),
    ('# comment\n"IPv4","*","*","0x1001","NULL","","HMAC-SHA-256-128 [RFC4868]","0x00"\n',
     "line 2: protocol 'IPv4'"),
    ('"IPv6","*","*","0x1001","3DES","","HMAC-SHA-256-128 [RFC4868]","0x00"\n',
     "encryption '3DES'"),
    ('"IPv6","*","*","0x1001","NULL","","NULL",""\n', "needs authentication"),
    ('"IPv6","*","*","0x1001","NULL","","HMAC-SHA-256-128 [RFC4868]","zz"\n',
     "not 0x-prefixed hex"),
])
def test_a_bad_table_is_a_usage_error(table: str, words: str, tmp_path: pathlib.Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "esp_sa"
    path.write_text(table)
    rc = main(["decode", "--esp-sa", str(path), "6000000000003b40" + "00" * 32])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.startswith(f"hmipv6 decode: error: --esp-sa {path}: esp_sa line") and words in err
    with pytest.raises(LocalProtocolError):
        parse_esp_sa_table(table)


@pytest.mark.parametrize("suite", ["esp-null-hmac-sha256", "esp-aes-gcm",
                                   "esp-aes-cbc-hmac-sha256"])
def test_the_table_reads_back_what_it_wrote(suite: str) -> None:
    p = Provisioner(5, suite)
    sas = [p.sa("mn", "map", src="2001:db8:100::/64", dst="2001:db8:100::1"),
           p.sa("map", "mn", src="2001:db8:100::1", dst="2001:db8:100::/64")]
    back = parse_esp_sa_table("# exported\n\n" + esp_sa_table(sas))
    assert [(b.spi, b.enc, b.enc_key, b.auth, b.auth_key) for b in back] == [
        (a.spi, a.enc, a.enc_key, a.auth, a.auth_key) for a in sas]
    # A single address stays an address; a prefix was exported as "*" (any).
    assert str(back[0].dst) == "2001:db8:100::1/128" and back[0].src is None


@pytest.mark.req("SEC-01")
@pytest.mark.parametrize("suite", ["esp-null-hmac-sha256", "esp-aes-gcm",
                                   "esp-aes-cbc-hmac-sha256"])
def test_every_suite_is_opened(suite: str, tmp_path: pathlib.Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """Encrypted suites too (AES-CBC + HMAC, AES-GCM-16): the BU inside is decrypted and
    decoded, field for field what the mobile node sent."""
    from hmipv6.core.ipsec import IPsec
    from tests.core.ipsec_support import LCOA_A, MAP, RCOA_A, RCOA_PREFIX, bu, local_bu

    prov = Provisioner(7, suite)
    mn, map_ = IPsec(name="mn"), IPsec(name="map")
    prov.mn_map(mn, "mn", map_, "map", MAP, RCOA_PREFIX)
    frames = [mn.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=s))).encode() for s in (40, 41)]
    path = tmp_path / "bu.pcap"
    path.write_bytes(pc.encode_pcap([(float(i), f) for i, f in enumerate(frames)]))
    sa = tmp_path / "esp_sa"
    sa.write_text(mn.esp_sa_table())
    rc, records, err = _decode(capsys, "--esp-sa", str(sa), str(path))
    assert (rc, err) == (0, "")
    opened = _opened(records)
    assert [esp["icv"] for esp, _ in opened] == ["good", "good"]
    assert [(inner["header"], inner["sequence"], inner["flags"]) for _, inner in opened] == [
        ("binding_update", 40, "AM"), ("binding_update", 41, "AM")]
