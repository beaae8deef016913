"""The runner as a whole: determinism, protocol comparison on figure1, scale, outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmipv6.sim.network import run
from hmipv6.sim.report import FORMAT, dumps


def test_same_seed_gives_byte_identical_report() -> None:
    a = dumps(run("figure1").report)
    b = dumps(run("figure1").report)
    assert a == b
    assert dumps(run("figure1", overrides=("scenario.seed=2",)).report) != a


def test_report_format_keys() -> None:
    rep = run("figure1").report
    assert list(rep)[:11] == ["format", "scenario", "protocol", "profile", "seed", "duration",
                              "world", "handovers", "flows", "signalling", "nodes"]
    assert rep["format"] == FORMAT
    h = rep["handovers"][1]
    assert list(h) == ["mn", "from", "to", "kind", "timeline", "latency", "registration", "lost"]
    assert set(rep["signalling"]) == {"by_type", "to_home_agent", "to_correspondents",
                                      "to_maps", "bytes_on_wireless"}


@pytest.mark.req("MN-12", "MN-20")
def test_figure1_hmipv6_beats_mipv6_on_intra_domain_handover() -> None:
    h = run("figure1", protocol="hmipv6").report
    m = run("figure1", protocol="mipv6").report
    hh, mh = h["handovers"][1], m["handovers"][1]
    assert hh["kind"] == "intra-domain" and mh["kind"] == "mipv6"
    assert hh["latency"] < mh["latency"]
    assert hh["lost"] < mh["lost"]
    assert h["flows"][0]["lost"] < m["flows"][0]["lost"]
    # The HA and CN hear nothing of the intra-domain move: only the initial home BU.
    assert h["signalling"]["to_home_agent"] == 1
    assert h["signalling"]["to_correspondents"] == 0
    assert m["signalling"]["to_home_agent"] == 2


def test_security_none_is_reported() -> None:
    rep = run("figure1", overrides=("defaults.security=none",)).report
    assert rep["security"] == "none"
    assert rep["handovers"][1]["registration"] is not None


def test_pcaps_and_sa_export(tmp_path: Path) -> None:
    sa = tmp_path / "esp_sa"
    r = run("figure1", pcap_dir=tmp_path / "pcap", export_sa=sa)
    names = {p.name for p in (tmp_path / "pcap").iterdir()}
    assert names == {"cn-inet.pcap", "ha-inet.pcap", "inet-map1.pcap", "map1-ar1.pcap",
                     "map1-ar2.pcap", "cell-ar1.pcap", "cell-ar2.pcap"}
    assert r.pcap_files["cell-ar1"].stat().st_size > 24
    assert "2001:db8:100::1" in sa.read_text() or "2001:db8:100::" in sa.read_text()


def test_many_mobiles_reduced_accounts_for_every_handover() -> None:
    r = run("many-mobiles", overrides=("generate.mobile_nodes.count=40",
                                       "scenario.duration=20s",
                                       "generate.mobile_nodes.flow.stop=19s"))
    rep = r.report
    sc_moves = r.network.scenario.moves if r.network is not None else ()
    attaches = [m for m in sc_moves if m.attach is not None]
    assert len(rep["handovers"]) == len(attaches)
    for h in rep["handovers"]:
        assert h["kind"] in ("initial", "intra-domain", "inter-domain")
        if h["timeline"]["l2_up"] < 18.0:
            assert h["registration"] is not None, h
