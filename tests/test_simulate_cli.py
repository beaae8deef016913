"""``hmipv6 simulate`` and ``hmipv6 scenarios`` through ``hmipv6.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hmipv6.cli import main
from hmipv6.sim.scenario import BUILTIN_SCENARIOS

PNGS = ("timeline.png", "handovers.png", "signalling.png")
REPORT_KEYS = {"format", "scenario", "protocol", "profile", "seed", "duration", "world",
               "handovers", "flows", "signalling", "nodes"}
HANDOVER_KEYS = {"mn", "from", "to", "kind", "timeline", "latency", "registration", "lost"}
TIMELINE_KEYS = {"l2_down", "l2_up", "ra_received", "coa_ready", "bu_sent", "ba_received",
                 "home_ba_received", "first_data"}
FLOW_KEYS = {"from", "to", "kind", "sent", "received", "lost", "duplicated", "reordered",
             "max_gap"}
SIGNALLING_KEYS = {"by_type", "to_home_agent", "to_correspondents", "to_maps",
                   "bytes_on_wireless"}

# A small scenario: one MAP over two ARs, a move at 1.5 s, 3 s in all.
SMALL = """\
[scenario]
name = "small"
duration = "3s"
seed = 7
protocol = "hmipv6"
profile = "rfc4140"

[nodes.cn]
role = "correspondent"
address = "2001:db8:c::1"

[nodes.ha]
role = "home-agent"
address = "2001:db8:f::1"

[nodes.inet]
role = "router"

[nodes.map1]
role = "map"
address = "2001:db8:100::1"

[nodes.ar1]
role = "access-router"
prefix = "2001:db8:a1::/64"
advertise_maps = ["map1"]

[nodes.ar2]
role = "access-router"
prefix = "2001:db8:a2::/64"
advertise_maps = ["map1"]

[nodes.mn]
role = "mobile-node"
home_agent = "ha"
home_address = "2001:db8:f::100"

[[links]]
between = ["cn", "inet"]
delay = "5ms"

[[links]]
between = ["ha", "inet"]
delay = "5ms"

[[links]]
between = ["inet", "map1"]
delay = "5ms"

[[links]]
between = ["map1", "ar1"]

[[links]]
between = ["map1", "ar2"]

[[cells]]
router = "ar1"

[[cells]]
router = "ar2"

[[moves]]
mn = "mn"
at = "0s"
attach = "ar1"

[[moves]]
mn = "mn"
at = "1.5s"
attach = "ar2"

[[flows]]
from = "cn"
to = "mn"
kind = "cbr"
interval = "10ms"
start = "0.5s"
stop = "2.8s"
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def check_report(report: dict[str, Any], protocol: str) -> None:
    assert set(report) >= REPORT_KEYS
    assert report["format"] == "hmipv6-report/1"
    assert report["protocol"] == protocol
    assert report["world"] == "simulation"
    for h in report["handovers"]:
        assert set(h) >= HANDOVER_KEYS
        assert set(h["timeline"]) >= TIMELINE_KEYS
        assert h["kind"] in ("initial", "intra-domain", "inter-domain", "mipv6")
    for f in report["flows"]:
        assert set(f) >= FLOW_KEYS
    assert set(report["signalling"]) >= SIGNALLING_KEYS


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_figure1_default_compares_mipv6_and_hmipv6(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["simulate", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for proto in ("mipv6", "hmipv6"):
        report = load(out / f"report-{proto}.json")
        check_report(report, proto)
        assert report["scenario"] == "rfc4140-figure1"
        pcaps = sorted(p.name for p in (out / "pcap" / proto).glob("*.pcap"))
        # every [[links]] entry and every cell of figure1
        assert pcaps == sorted(["cn-inet.pcap", "ha-inet.pcap", "inet-map1.pcap",
                                "map1-ar1.pcap", "map1-ar2.pcap", "cell-ar1.pcap",
                                "cell-ar2.pcap"])
        assert proto in text
    assert not (out / "report.json").exists()
    for png in PNGS:
        check_png(out / png)
    hm = load(out / "report-hmipv6.json")
    mip = load(out / "report-mipv6.json")
    move = [h for h in hm["handovers"] if h["from"] == "ar1" and h["to"] == "ar2"]
    assert [h["kind"] for h in move] == ["intra-domain"]
    assert [h["kind"] for h in mip["handovers"] if h["from"] == "ar1"] == ["mipv6"]
    assert hm["signalling"]["to_maps"] > 0 and mip["signalling"]["to_maps"] == 0
    for word in ("Handovers", "intra-domain", "latency ms", "registration ms", "lost",
                 "Flows", "to home agent", "to MAPs", "report-hmipv6.json", "timeline.png"):
        assert word in text


def test_single_protocol_writes_report_json(tmp_path: Path, small: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["simulate", str(small), "--protocol", "mipv6", "--out", str(out)]) == 0
    report = load(out / "report.json")
    check_report(report, "mipv6")
    assert report["scenario"] == "small" and report["seed"] == 7 and report["duration"] == 3.0
    assert not (out / "report-mipv6.json").exists()
    assert (out / "pcap" / "cell-ar1.pcap").stat().st_size > 24
    for png in PNGS:
        check_png(out / png)
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert any("mipv6" in r for r in rows) and not any("hmipv6" in r for r in rows)


def test_quiet_prints_nothing(tmp_path: Path, small: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(small), "--protocol", "hmipv6", "--quiet",
                 "--out", str(tmp_path)]) == 0
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "report.json").exists()


def test_same_seed_gives_byte_identical_reports(tmp_path: Path, small: Path) -> None:
    for d in ("a", "b"):
        assert main(["simulate", str(small), "--protocol", "hmipv6", "-q",
                     "--out", str(tmp_path / d)]) == 0
    a = (tmp_path / "a" / "report.json").read_bytes()
    assert a == (tmp_path / "b" / "report.json").read_bytes()
    for png in PNGS:
        assert (tmp_path / "a" / png).read_bytes() == (tmp_path / "b" / png).read_bytes()


def test_seed_and_set_overrides_take_effect(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "out"
    assert main(["simulate", str(small), "--protocol", "hmipv6", "-q", "--seed", "42",
                 "--set", "scenario.duration=2.5s", "--set", "flows[0].interval=20ms",
                 "--set", "flows[0].stop=2.5s",
                 "--set", "scenario.name=renamed", "--out", str(out)]) == 0
    report = load(out / "report.json")
    assert report["seed"] == 42
    assert report["duration"] == 2.5
    assert report["scenario"] == "renamed"
    # 0.5 s .. 2.5 s (the new end) every 20 ms: about 100 datagrams, not 230
    assert 90 <= report["flows"][0]["sent"] <= 101


def test_compare_writes_both_reports(tmp_path: Path, small: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["simulate", str(small), "--compare", "hmipv6,mipv6", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for proto in ("mipv6", "hmipv6"):
        check_report(load(out / f"report-{proto}.json"), proto)
        assert (out / "pcap" / proto / "cell-ar2.pcap").exists()
    rows = [line for line in text.splitlines() if "intra-domain" in line or " mipv6 " in line]
    assert any("hmipv6" in r for r in rows) and any(" mipv6 " in r for r in rows)


def test_export_sa(tmp_path: Path, small: Path) -> None:
    sa = tmp_path / "esp_sa"
    assert main(["simulate", str(small), "--protocol", "hmipv6", "-q", "--export-sa", str(sa),
                 "--out", str(tmp_path / "out")]) == 0
    assert sa.exists()


def test_security_none_runs_with_a_warning_and_says_so_in_the_report(
        tmp_path: Path, small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``security = "none"`` exists for comparison runs: the run works, warns on stderr that
    signalling goes unprotected (RFC 4140 §12.1), and the report records it; a protected run
    gives no such warning."""
    out = tmp_path / "none"
    assert main(["simulate", str(small), "--protocol", "hmipv6", "-q", "--out", str(out),
                 "--set", "defaults.security=none"]) == 0
    err = capsys.readouterr().err
    assert 'warning: security = "none"' in err and "RFC 4140 §12.1" in err
    assert json.loads((out / "report.json").read_text())["security"] == "none"
    assert main(["simulate", str(small), "--protocol", "hmipv6", "-q", "--out",
                 str(tmp_path / "esp")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads((tmp_path / "esp" / "report.json").read_text())["security"] == "esp"


def test_scenarios_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(BUILTIN_SCENARIOS)
    assert all(len(line.split(None, 1)) == 2 for line in lines)


BAD = [
    # (edit of SMALL, words the message must contain)
    (("[nodes.mn]\n", "[nodes.mn]\ncolour = \"red\"\n"), ["nodes.mn.colour", "unknown key"]),
    (("home_agent = \"ha\"", "home_agent = \"hq\""), ["nodes.mn.home_agent", "hq"]),
    (("duration = \"3s\"", "duration = \"three seconds\""), ["scenario.duration", "duration"]),
    (("address = \"2001:db8:c::1\"", "address = \"2001:db8:c::zz\""), ["nodes.cn.address"]),
    (("attach = \"ar1\"", "attach = \"ar9\""), ["moves[0].attach", "ar9"]),
]


@pytest.mark.parametrize(("edit", "words"), BAD, ids=["unknown-key", "unknown-node",
                                                      "bad-duration", "bad-address",
                                                      "unknown-cell"])
def test_bad_scenario_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         edit: tuple[str, str], words: list[str]) -> None:
    old, new = edit
    assert old in SMALL
    path = tmp_path / "bad.toml"
    path.write_text(SMALL.replace(old, new, 1), encoding="utf-8")
    assert main(["simulate", str(path), "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert str(path) in lines[0]
    for w in words:
        assert w in lines[0]
    assert not (tmp_path / "out").exists()


def test_mobile_node_with_no_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SMALL.split("[[moves]]")[0] + SMALL[SMALL.index("[[flows]]"):]
    path = tmp_path / "nocell.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["simulate", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert str(path) in err and "mn" in err


def test_bad_set_and_missing_file(tmp_path: Path, small: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(small), "--set", "nodes.nope.role=map",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown node" in err and "nope" in err and len(err.strip().splitlines()) == 1
    assert main(["simulate", str(tmp_path / "missing.toml"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing.toml" in err and "no such file" in err
    assert main(["simulate", "no-such-builtin", "--out", str(tmp_path)]) == 2
    assert "figure1" in capsys.readouterr().err  # the hint lists the built-ins


@pytest.mark.parametrize("argv", [
    ["simulate", "--compare", "mipv6,fhmipv7"],
    ["simulate", "--protocol", "ipv4"],
    ["simulate", "--protocol", "mipv6", "--compare", "mipv6,hmipv6"],
    ["simulate", "--seed", "one"],
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_map_change_without_a_move_is_labelled_with_its_time() -> None:
    """A failover to another MAP (RFC 4140 §10) is a handover with no link-layer move: the
    table names it as a MAP change at the current AR and times it by the change."""
    from io import StringIO

    from rich.console import Console

    from hmipv6.cli_simulate import print_comparison

    tl = dict.fromkeys(("l2_down", "l2_up", "coa_ready"), None) | {
        "ra_received": 30.027, "bu_sent": 30.027, "ba_received": 30.035,
        "home_ba_received": 30.074, "first_data": 30.079, "map_failed": 30.027,
        "map_change": 30.027}
    report = {"scenario": "s", "duration": 60.0, "seed": 1, "profile": "rfc4140",
              "handovers": [{"mn": "mn", "from": "ar1", "to": "ar1", "kind": "inter-domain",
                             "timeline": tl, "latency": 0.052, "registration": 0.0465,
                             "lost": 5}],
              "flows": [], "signalling": {"by_type": {}}}
    out = StringIO()
    print_comparison({"hmipv6": report}, [], console=Console(file=out, width=140))
    text = out.getvalue()
    assert "MAP change at ar1" in text and "30.027" in text and "ar1 → ar1" not in text


def test_map_failure_builtin_compares_both_protocols(tmp_path: Path) -> None:
    assert main(["simulate", "map-failure", "--out", str(tmp_path), "--quiet"]) == 0
    hm = json.loads((tmp_path / "report-hmipv6.json").read_text())
    assert any(h["kind"] == "inter-domain" and h["timeline"].get("map_failed") is not None
               for h in hm["handovers"])
    assert (tmp_path / "report-mipv6.json").exists()
