"""IKEv2 settings in a scenario (``[nodes.<mn>.ike]``, ``[nodes.<map>.ike]``, issue 10): the
pre-shared key (inline, hex or from a file), identities and their ID types, Child SA
proposals, DH groups, rekey intervals and liveness checks reach the engines, and the
simulated MN and MAP then rekey and check liveness on their own, keeping the registration."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmipv6.core.ike.message import ExchangeType, IdType
from hmipv6.core.ike.message import decode as ike_decode
from hmipv6.core.mobile_node import MobileNode
from hmipv6.sim.network import run
from hmipv6.sim.scenario import ScenarioError, loads
from tests.sim.test_rfc5380 import MAP1, ike_frames, map_of

MN_IKE = '''[nodes.mn.ike]
identity = "mn@example.org"
psk = "a pre-shared key from the scenario"
proposals = ["esp-aes-gcm", "esp-aes-cbc-hmac-sha256"]
dh_groups = [14, 19]
child_rekey = "5s"
dpd = "3s"

[[links]]'''
MAP_IKE = '''valid_lifetime = "3600s"

[nodes.map1.ike]
identity = "fqdn:map.example.org"
proposals = ["esp-aes-gcm"]
ike_rekey = "9s"
cookie_threshold = 4
'''


def figure1_with_ike() -> object:
    from tests.sim.sim_support import builtin_path

    path = builtin_path("figure1")
    assert path is not None
    text = path.read_text(encoding="utf-8")
    text = text.replace("[[links]]", MN_IKE, 1).replace('valid_lifetime = "3600s"\n', MAP_IKE, 1)
    text = text.replace('profile = "rfc4140"', 'profile = "rfc5380"', 1)
    return loads(text, source="figure1 (variant)")


@pytest.mark.req("X5380-05", "SEC-06")
def test_scenario_ike_settings_reach_the_engines_and_rekey_in_the_simulator() -> None:
    sc = figure1_with_ike()
    r = run(sc, capture=True)  # type: ignore[arg-type]
    assert r.network is not None
    mn = r.network.nodes["mn"]
    assert isinstance(mn, MobileNode) and mn.ike is not None
    m = map_of(r)
    assert m.ike is not None and m.ike.suites == ("esp-aes-gcm",) and m.ike.cookie_threshold == 4
    ini = mn.ike.initiators[MAP1]
    assert ini.psk == b"a pre-shared key from the scenario" and ini.group == 14
    assert ini.id.id_type == IdType.ID_RFC822_ADDR and m.ike.id.id_type == IdType.ID_FQDN
    assert m.ike.id.data == b"map.example.org"
    sas = ini.all_sas
    # The MAP rekeyed the IKE SA (every 9 s); the MN rekeyed the Child SA (every 5 s, the
    # schedule carried over to the new IKE SA) and checked liveness when idle 3 s.
    assert len(sas) >= 2 and sum(e == "child-rekeyed" for s in sas for e, _ in s.events) >= 3
    assert sum(s.counters["sent-rekey-child"] for s in sas) >= 3
    assert ini.current is not None and ini.current.child is not None
    assert ini.current.child.suite == "esp-aes-gcm"
    exchanges = {ike_decode(d).exchange for _, _, d in ike_frames(r.pcaps["cell-ar1"])} | {
        ike_decode(d).exchange for _, _, d in ike_frames(r.pcaps["cell-ar2"])}
    assert ExchangeType.CREATE_CHILD_SA in exchanges and ExchangeType.INFORMATIONAL in exchanges
    # The registrations still hold: both handovers complete, the flow is delivered.
    initial, intra = r.report["handovers"]
    assert initial["registration"] is not None and intra["timeline"]["ba_received"] is not None
    assert r.report["flows"][0]["received"] > 0.9 * r.report["flows"][0]["sent"]
    # Deterministic: the same scenario and seed give the same octets.
    again = run(figure1_with_ike(), capture=True)  # type: ignore[arg-type]
    assert again.pcaps == r.pcaps


def test_psk_from_a_file_and_in_hex(tmp_path: Path) -> None:
    from tests.sim.sim_support import builtin_path

    path = builtin_path("figure1")
    assert path is not None
    (tmp_path / "mn.psk").write_text("a key kept out of the scenario file\n")
    text = path.read_text(encoding="utf-8").replace(
        "[[links]]", '[nodes.mn.ike]\npsk_file = "mn.psk"\n\n[[links]]', 1)
    (tmp_path / "s.toml").write_text(text)
    from hmipv6.sim.scenario import load

    sc = load(tmp_path / "s.toml")
    spec = sc.nodes["mn"]
    assert spec.ike.psk == b"a key kept out of the scenario file"  # type: ignore[attr-defined]
    key = "00112233445566778899aabbccddeeff"
    sc2 = loads(path.read_text().replace("[[links]]", f'[nodes.mn.ike]\npsk_hex = "{key}"\n\n[[links]]', 1))
    assert sc2.nodes["mn"].ike.psk == bytes.fromhex(key)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("table", "problem"), [
    ('psk = "short"', "at least 16"),
    ('psk = "0123456789abcdef0"\npsk_hex = "00"', "give one of"),
    ('psk_file = "/nonexistent/key"', "cannot read"),
    ('proposals = ["esp-3des"]', "is not one of"),
    ('dh_groups = [5]', "not supported"),
    ('identity = "ipv6:not-an-address"', "needs an IPv6 address"),
    ('lifetime = "1h"', "unknown key"),
])
def test_bad_ike_settings_name_the_key(table: str, problem: str) -> None:
    from tests.sim.sim_support import builtin_path

    path = builtin_path("figure1")
    assert path is not None
    text = path.read_text().replace("[[links]]", f"[nodes.mn.ike]\n{table}\n\n[[links]]", 1)
    with pytest.raises(ScenarioError, match=problem) as exc:
        loads(text)
    assert "nodes.mn.ike" in str(exc.value)


@pytest.mark.req("SEC-05", "SEC-06")
def test_certificates_from_the_scenario_authenticate_mn_and_map(tmp_path: Path) -> None:
    from tests.core.cert_support import credentials, make_ca, write
    from tests.sim.sim_support import builtin_path

    ca = make_ca()
    mn, mp = credentials(ca, "mn@example.org", 31), credentials(ca, "map.example.org", 32)
    write(tmp_path / "ca.pem", ca[0])
    for name, c in (("mn", mn), ("map", mp)):
        write(tmp_path / f"{name}.pem", c.certificate)
        write(tmp_path / f"{name}.key", c.key)
    path = builtin_path("figure1")
    assert path is not None
    text = path.read_text().replace('profile = "rfc4140"', 'profile = "rfc5380"', 1).replace(
        "[[links]]", '[nodes.mn.ike]\nidentity = "mn@example.org"\ncertificate = "mn.pem"\n'
        'private_key = "mn.key"\nca = ["ca.pem"]\n\n[nodes.map1.ike]\n'
        'identity = "map.example.org"\ncertificate = "map.pem"\nprivate_key = "map.key"\n'
        'ca = "ca.pem"\n\n[[links]]', 1)
    (tmp_path / "s.toml").write_text(text)
    from hmipv6.sim.scenario import load

    r = run(load(tmp_path / "s.toml"), capture=True)
    assert r.network is not None
    node = r.network.nodes["mn"]
    assert isinstance(node, MobileNode) and node.ike is not None
    ini = node.ike.initiators[MAP1]
    from hmipv6.core.ike import Established

    assert ini.credentials is not None
    assert isinstance(ini.outcome, Established) and ini.outcome.peer == "map.example.org"
    m = map_of(r)
    assert m.ike is not None and [e.peer for e in m.ike.events] == ["mn@example.org"]  # type: ignore[union-attr]
    assert r.report["handovers"][0]["registration"] is not None
    # The identity must be in the certificate: a wrong one is an error naming the key.
    bad = text.replace('identity = "mn@example.org"', 'identity = "eve@example.org"', 1)
    (tmp_path / "bad.toml").write_text(bad)
    with pytest.raises(ScenarioError, match=r"nodes\.mn\.ike\.certificate.*subjectAltName"):
        load(tmp_path / "bad.toml")
