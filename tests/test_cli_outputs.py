"""Smaller things a new user hits: the testbed's summary prints no Python ``None``;
``--export-sa`` into a missing folder is refused before the run; a reused ``--out`` keeps no
stale file; under rfc5380 the IKEv2 exchange is counted as signalling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hmipv6.cli import main
from hmipv6.cli_testbed import summary_lines
from hmipv6.sim.metrics import classify
from hmipv6.sim.network import run
from hmipv6.sim.scenario import load


def test_testbed_summary_has_no_python_none() -> None:
    tl_none = dict.fromkeys(("l2_down", "l2_up", "first_data"), None)
    rep = {"handovers": [
        {"mn": "mn", "from": None, "to": "ar4", "kind": "initial", "timeline": tl_none,
         "latency": None, "registration": 0.0658, "lost": None},
        {"mn": "mn", "from": "ar1", "to": "ar1", "kind": "inter-domain",
         "timeline": tl_none | {"map_change": 30.0}, "latency": 0.052,
         "registration": None, "lost": 5}],
        "flows": [{"from": "cn", "to": "mn", "kind": "cbr", "sent": 1000, "received": 985,
                   "lost": 11, "in_flight": 4}]}
    lines = summary_lines(rep)
    assert lines == [
        "mn: -> ar4 initial: registration 65.8 ms, latency -, lost -",
        "mn: MAP change at ar1 inter-domain: registration -, latency 52.0 ms, lost 5",
        "flow cn -> mn cbr: sent 1000, received 985, lost 11, in flight 4"]
    assert not any("None" in line for line in lines)


def test_simulate_export_sa_into_a_missing_folder_fails_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    target = tmp_path / "missing" / "esp_sa"
    assert main(["simulate", "--out", str(out), "--export-sa", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"hmipv6 simulate: error: --export-sa {target}: "
                                     "no such directory")
    assert captured.out == "" and not out.exists()


def test_a_reused_out_keeps_no_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["simulate", "--duration", "2s", "--compare", "mipv6,hmipv6,fhmipv6",
                 "--out", str(out), "--quiet"]) == 0
    assert (out / "report-fhmipv6.json").exists() and (out / "pcap" / "fhmipv6").is_dir()
    (out / "notes.txt").write_text("mine")
    assert main(["simulate", "--duration", "2s", "--protocol", "hmipv6",
                 "--out", str(out), "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["handovers.png", "notes.txt", "pcap", "report.json", "signalling.png",
                     "timeline.png"]
    assert not any(p.is_dir() for p in (out / "pcap").iterdir())  # no pcap/<protocol>/ left
    assert json.loads((out / "report.json").read_text())["protocol"] == "hmipv6"


def test_ikev2_is_counted_as_signalling_under_rfc5380() -> None:
    rep = run(load("figure1", ["scenario.profile=rfc5380"], duration=3.0),
              protocol="hmipv6").report
    sig = rep["signalling"]
    # IKE_SA_INIT and IKE_AUTH, a request and a response each (RFC 7296 §1.2).
    assert sig["by_type"]["IKEv2"] == 4
    assert sig["to_maps"] == 1  # the one local BU (3 s: no move): IKEv2 is not Mobility Header
    plain = run(load("figure1", duration=3.0), protocol="hmipv6").report["signalling"]
    assert "IKEv2" not in plain["by_type"]


def test_classify_ikev2_and_other_udp() -> None:
    src, dst = bytes(15) + b"\x01", bytes(15) + b"\x02"

    def udp(sport: int, dport: int) -> bytes:
        payload = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(4)
        return (b"\x60\x00\x00\x00" + len(payload).to_bytes(2, "big") + b"\x11\x40"
                + src + dst + payload)

    assert classify(udp(500, 500)) == ("IKEv2", src, dst)
    assert classify(udp(50000, 50000)) is None


@pytest.mark.netns
def test_testbed_reused_out_keeps_no_stale_files(tmp_path: Path) -> None:
    from tests.conftest import need_root

    need_root()
    import subprocess
    out = tmp_path / "out"
    for stale in (out / "pcap" / "ghost-link.pcap", out / "logs" / "ghost.jsonl"):
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_text("from an earlier run")
    (out / "notes.txt").write_text("mine")
    proc = subprocess.run(["hmipv6", "testbed", "run", "figure1", "--duration", "1.5s",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "None" not in proc.stdout
    assert not (out / "pcap" / "ghost-link.pcap").exists()
    assert not (out / "logs" / "ghost.jsonl").exists()
    assert (out / "notes.txt").read_text() == "mine" and (out / "report.json").exists()
