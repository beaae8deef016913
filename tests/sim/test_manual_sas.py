"""Manually keyed SAs from the scenario (``[[sas]]``, SEC-06; RFC 4301 §4.5): a mobile
node's pair with its MAP or home agent given as the ``ip xfrm state add`` lines a Linux
user already has, replacing the seed-derived SAs of that pair. Checked on the packets the
simulator sends (the configured SPIs and ICVs, verified by tshark with the exported table)
and on every way a configuration can be wrong (a typed error naming the key, no traceback).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hmipv6.core.ipsec import IPsec
from hmipv6.sim.network import run
from hmipv6.sim.scenario import ScenarioError
from hmipv6.wire.ipv6 import AuthenticationHeader, EncapsulatingSecurityPayload
from tests.conftest import need_tool
from tests.sim.sim_support import packets, variant

MAP_KEY_UP = "0x" + "11" * 32
MAP_KEY_DOWN = "0x" + "22" * 32
HA_KEY_UP = "0x" + "33" * 32
HA_KEY_DOWN = "0x" + "44" * 32
RCOA_PREFIX = "2001:db8:100::/64"
XFRM = ("ip xfrm state add src {src} dst {dst} proto esp spi {spi} mode transport "
        "auth-trunc 'hmac(sha256)' {key} 128 enc cipher_null ''")


def _line(src: str, dst: str, spi: int, key: str) -> str:
    return XFRM.format(src=src, dst=dst, spi=hex(spi), key=key)


def manual_sas_toml(map_lines: tuple[str, str] | None = None) -> str:
    """``[[sas]]`` tables for figure1's mobile node with map1 and with its home agent."""
    up, down = map_lines or (_line(RCOA_PREFIX, "2001:db8:100::1", 0x1001, MAP_KEY_UP),
                             _line("2001:db8:100::1", RCOA_PREFIX, 0x1002, MAP_KEY_DOWN))
    return (f'\n[[sas]]\nbetween = ["mn", "map1"]\nxfrm = [\n  "{up}",\n  "{down}",\n]\n'
            '\n[[sas]]\nbetween = ["ha", "mn"]\nxfrm = [\n'
            f'  "{_line("2001:db8:f::1", "2001:db8:f::100", 0x2002, HA_KEY_DOWN)}",\n'
            f'  "{_line("2001:db8:f::100", "2001:db8:f::1", 0x2001, HA_KEY_UP)}",\n]\n')


@pytest.mark.req("SEC-06", "SEC-01", "SEC-07")
def test_configured_sas_protect_the_bus_and_bas_and_are_exported(tmp_path: Path) -> None:
    sc = variant("figure1", ('[nodes.mn]', manual_sas_toml() + '\n[nodes.mn]'))
    assert {(m.mn, m.peer, m.to_peer.spi, m.from_peer.spi) for m in sc.manual_sas} == {
        ("mn", "map1", 0x1001, 0x1002), ("mn", "ha", 0x2001, 0x2002)}
    sa = tmp_path / "esp_sa"
    r = run(sc, capture=True, export_sa=sa)
    assert r.network is not None
    # The nodes hold exactly the configured keys for those pairs.
    mn, map1 = r.network.nodes["mn"].security, r.network.nodes["map1"].security
    assert isinstance(mn, IPsec) and isinstance(map1, IPsec)
    out = {sa_.spi: sa_.params.auth_key.hex() for sa_ in mn.sad if sa_.direction == "out"}
    assert out[0x1001] == "11" * 32 and out[0x2001] == "33" * 32
    inbound = {sa_.spi for sa_ in map1.sad if sa_.direction == "in"}
    assert inbound == {0x1001}
    # Registration works with them: the local BU/BA and the home BU/BA carry their SPIs.
    move = r.report["handovers"][1]
    assert move["kind"] == "intra-domain" and move["registration"] is not None
    spis = {p.payload.spi for _, p, _ in packets(r.pcaps["cell-ar2"])
            if isinstance(p.payload, EncapsulatingSecurityPayload)}
    assert {0x1001, 0x1002} <= spis
    home = {p.payload.spi for _, p, _ in packets(r.pcaps["ha-inet"])
            if isinstance(p.payload, EncapsulatingSecurityPayload)}
    assert home == {0x2001, 0x2002}
    # The export carries the configured SAs; tshark checks every ICV with it.
    table = sa.read_text().splitlines()
    assert sum("0x00001001" in line and "11" * 32 in line for line in table) == 1
    assert sum("0x00002002" in line and "44" * 32 in line for line in table) == 1
    tshark = need_tool("tshark")
    pcap = tmp_path / "cell-ar2.pcap"
    pcap.write_bytes(r.pcaps["cell-ar2"])
    opts = ["-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE"]
    for line in table:
        opts += ["-o", f"uat:esp_sa:{line}"]
    rows = [row.split("|") for row in subprocess.run(
        [tshark, "-n", "-r", str(pcap), *opts, "-Y", "esp", "-T", "fields", "-E", "separator=|",
         "-e", "esp.spi", "-e", "esp.icv_good", "-e", "mip6.mhtype"],
        capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "LC_ALL": "C"}).stdout.splitlines()]
    local = [row for row in rows if row[0] in ("0x00001001", "0x00001002")]
    assert {row[2] for row in local} == {"5", "6"}
    assert all(row[1] in ("1", "True") for row in local), rows


def test_configured_sas_leave_other_pairs_seed_derived() -> None:
    """Only the configured pair changes: map2 of two-domains keeps its derived SAs."""
    sc = variant("two-domains", ('[nodes.mn]', manual_sas_toml().replace('"ha", "mn"', '"mn", "ha"')
                                 + '\n[nodes.mn]'))
    r = run(sc)
    assert r.network is not None
    mn = r.network.nodes["mn"].security
    assert isinstance(mn, IPsec)
    out = {sa_.spi for sa_ in mn.sad if sa_.direction == "out"}
    assert {0x1001, 0x2001} <= out and len(out) == 3  # map1, ha configured; map2 derived
    assert all(h["registration"] is not None for h in r.report["handovers"][1:])


BAD = [
    ('between = ["mn", "map1"]', 'between = ["mn"]', "sas[0].between",
     "expected [mobile node, its MAP or home agent]"),
    ('between = ["mn", "map1"]', 'between = ["ar1", "map1"]', "sas[0].between[0]",
     "'ar1' is an access-router"),
    ('between = ["mn", "map1"]', 'between = ["map1", "ha"]', "sas[0].between",
     "expected one mobile node"),
    ('between = ["ha", "mn"]', 'between = ["map1", "mn"]', "sas[1].between",
     "a second [[sas]] for mn and map1"),
    ("0x2002", "0x1002", "sas[1].xfrm[0]", "SPI 0x00001002 already reaches mn (sas[0]"),
    ("dst 2001:db8:100::1 proto", "dst 2001:db8:100::2 proto", "sas[0].xfrm",
     "expected one SA from mn's RCoA"),
    ("src 2001:db8:100::/64 dst", "src 2001:db8:200::/64 dst", "sas[0].xfrm",
     "expected one SA from mn's RCoA"),
    ("'hmac(sha256)' 0x1111", "'hmac(sha1)' 0x1111", "sas[0].xfrm[0]",
     "unsupported auth-trunc hmac(sha1)"),
    ("mode transport", "mode tunnel", "sas[0].xfrm[0]", "only mode transport"),
    ("proto esp spi 0x1001", "proto ah spi 0x1001", "sas[0].xfrm[0]",
     "the scenario's security 'esp' protects with esp"),
]


@pytest.mark.parametrize(("old", "new", "key", "problem"), BAD)
def test_a_wrong_sa_configuration_is_a_scenario_error_naming_the_key(
        old: str, new: str, key: str, problem: str) -> None:
    text = manual_sas_toml()
    assert old in text
    with pytest.raises(ScenarioError) as e:
        variant("figure1", ('[nodes.mn]', text.replace(old, new, 1) + '\n[nodes.mn]'))
    assert e.value.key == key, str(e.value)
    assert problem in str(e.value)


def test_manual_sas_need_security_and_leave_the_mn_map_pair_to_ikev2_under_rfc5380() -> None:
    with pytest.raises(ScenarioError) as e:
        variant("figure1", ('security = "esp"', 'security = "none"'),
                ('[nodes.mn]', manual_sas_toml() + '\n[nodes.mn]'))
    assert e.value.key == "sas[0]" and '"none"' in str(e.value)
    with pytest.raises(ScenarioError) as e:
        variant("figure1", ('profile = "rfc4140"', 'profile = "rfc5380"'),
                ('[nodes.mn]', manual_sas_toml() + '\n[nodes.mn]'))
    assert e.value.key == "sas[0].between" and "IKEv2" in str(e.value)


@pytest.mark.req("SEC-06", "SEC-01")
def test_configured_ah_sas_under_security_ah() -> None:
    """The same pairs as AH SAs (``proto ah``, RFC 4302) under ``security = "ah"``: the
    registrations succeed and the BUs carry an AH header with the configured SPIs."""
    toml = manual_sas_toml().replace("proto esp", "proto ah").replace(" enc cipher_null ''", "")
    sc = variant("figure1", ('security = "esp"', 'security = "ah"'),
                 ('[nodes.mn]', toml + '\n[nodes.mn]'))
    r = run(sc, protocol="hmipv6", capture=True)
    assert all(h["registration"] is not None for h in r.report["handovers"])
    spis = {h.spi for _, p, _ in packets(r.pcaps["cell-ar2"]) for h in p.extension_headers
            if isinstance(h, AuthenticationHeader)}
    assert {0x1001, 0x1002} <= spis
