"""One validation for both worlds (``simulate`` and ``testbed run``): a protocol that cannot
run under the scenario's profile is refused with one line, exit 2, before anything is built
or written, whichever option or file it came from; ``--duration`` is applied after ``--set``
and after the generators; errors name the option a value came from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hmipv6.cli import main
from hmipv6.sim.scenario import ScenarioError, builtin_path, load

FH_5380 = ("profile 'rfc5380' cannot run protocol 'fhmipv6'")


def rfc5380_fhmipv6_file(tmp_path: Path) -> Path:
    path = builtin_path("figure1")
    assert path is not None
    text = path.read_text().replace('protocol = "hmipv6"', 'protocol = "fhmipv6"').replace(
        'profile = "rfc4140"', 'profile = "rfc5380"')
    assert 'protocol = "fhmipv6"' in text and 'profile = "rfc5380"' in text
    out = tmp_path / "fh5380.toml"
    out.write_text(text)
    return out


CASES = {
    "file": lambda f: [str(f)],
    "set": lambda f: ["figure1", "--set", "scenario.profile=rfc5380",
                      "--set", "scenario.protocol=fhmipv6"],
    "protocol": lambda f: ["figure1", "--set", "scenario.profile=rfc5380",
                           "--protocol", "fhmipv6"],
    "compare": lambda f: ["figure1", "--set", "scenario.profile=rfc5380",
                          "--compare", "mipv6,hmipv6,fhmipv6"],
}


@pytest.mark.parametrize("source", sorted(CASES))
def test_simulate_refuses_fhmipv6_under_rfc5380_from_any_source(
        source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = CASES[source](rfc5380_fhmipv6_file(tmp_path))
    out = tmp_path / "out"
    assert main(["simulate", *argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and FH_5380 in err and err.startswith("hmipv6 simulate: error: ")
    assert captured.out == "" and not out.exists()  # nothing ran, nothing written


@pytest.mark.parametrize("source", sorted(set(CASES) - {"compare"}))
def test_testbed_refuses_fhmipv6_under_rfc5380_from_any_source(source: str,
                                                                tmp_path: Path) -> None:
    """The testbed used to accept it (exit 0, nothing registered); the check runs before
    any namespace is built, so it needs no root."""
    argv = CASES[source](rfc5380_fhmipv6_file(tmp_path))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "hmipv6.cli", "testbed", "run", *argv,
                           "--duration", "1s", "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "\n" not in err and FH_5380 in err and "Traceback" not in err
    assert proc.stdout == "" and not out.exists()


def test_fhmipv6_under_dynamic_map_discovery_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "dynamic-discovery", "--protocol", "fhmipv6",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "nodes.ar1.relay_maps: protocol 'fhmipv6' (asked by --protocol) needs" in err
    assert "would run as plain hmipv6" in err
    load("dynamic-discovery", protocols=("mipv6", "hmipv6"))  # the others run


def test_duration_applies_after_generation_and_set() -> None:
    full = load("many-mobiles", ["generate.mobile_nodes.count=3"])
    short = load("many-mobiles", ["generate.mobile_nodes.count=3"], duration=8.0)
    assert short.duration == 8.0 and full.duration == 30.0
    # The start of the same scenario: the same moves up to 8 s, none after.
    assert [(m.mn, m.at, m.attach) for m in short.moves] == [
        (m.mn, m.at, m.attach) for m in full.moves if m.at <= 8.0]
    assert short.flows and all(f.stop == 8.0 for f in short.flows)
    # A longer run, with a flow stop given on the command line: checked against 25 s.
    longer = load("figure1", ["flows[0].stop=24s"], duration=25.0)
    assert longer.duration == 25.0 and longer.flows[0].stop == 24.0
    # A value given with --set beyond a shorter end is an error naming both options.
    with pytest.raises(ScenarioError) as e:
        load("figure1", ["flows[0].stop=12s"], duration=10.0)
    assert str(e.value).endswith("flows[0].stop (from --set): 12s is after the end of the "
                                 "scenario (10s, from --duration)")
    # Moves and faults after the end are left out; a flow starting after it sends nothing.
    cut = load("map-failure", duration=20.0)
    assert all(m.at <= 20.0 for m in cut.moves) and all(f.at <= 20.0 for f in cut.faults)
    assert [f.kind for f in cut.faults] == ["crash"]
    idle = load("route-optimisation", duration=1.5)  # its flows start at 2 s
    assert [(f.start, f.stop) for f in idle.flows] == [(1.5, 1.5), (1.5, 1.5)]


def test_simulate_duration_option(tmp_path: Path) -> None:
    import json
    assert main(["simulate", "figure1", "--protocol", "hmipv6", "--duration", "9s",
                 "--out", str(tmp_path), "--quiet"]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["duration"] == 9.0
    assert rep["flows"][0]["sent"] == 800  # 1 s .. 9 s at 10 ms (the file says 19 s)
    assert [h["to"] for h in rep["handovers"]] == ["ar1", "ar2"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--seed", "-1"], "scenario.seed (from --seed): -1 is out of range (>= 0)"),
    (["--set", "scenario.seed=-1"], "scenario.seed (from --set): -1 is out of range (>= 0)"),
    (["--duration", "soon"], "argument --duration: bad duration 'soon'"),
    (["--duration", "0s"], "argument --duration: must be greater than zero, got '0s'"),
])
def test_errors_name_the_option_a_value_came_from(
        argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) if argv[0] == "--duration" else _nothing() as _:
        code = main(["simulate", *argv, "--out", str(tmp_path / "o"), "--quiet"])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "parse_duration" not in err and "Traceback" not in err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.netns
def test_testbed_duration_on_a_generated_scenario(tmp_path: Path) -> None:
    """``testbed run many-mobiles --set generate.mobile_nodes.count=3 --duration ...``: the
    moves to cut exist only after generation (this was an AttributeError). Only the mobile
    nodes' daemons and their access routers' run (the other namespaces exist, silent), so
    the test stays light on a loaded machine."""
    from tests.conftest import need_root

    need_root()
    from hmipv6.net.testbed import run as testbed_run

    overrides = ("generate.mobile_nodes.count=3",)
    sc = load("many-mobiles", overrides, duration=3.0)
    nodes = ("mn0", "mn1", "mn2", *sorted({m.attach for m in sc.moves if m.attach}))
    result = testbed_run("many-mobiles", overrides=overrides, duration=3.0,
                         out=tmp_path / "out", nodes=nodes)
    rep = result.report
    assert rep["duration"] == 3.0
    assert sorted({h["mn"] for h in rep["handovers"]}) == ["mn0", "mn1", "mn2"]
    assert all(h["timeline"]["ra_received"] is not None for h in rep["handovers"])


def test_a_directory_named_like_a_builtin_does_not_hide_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figure1").mkdir()
    assert load("figure1").name == "rfc4140-figure1"  # the built-in, not "Is a directory"
    with pytest.raises(ScenarioError):  # a path with a slash is always a file
        load("./figure1")
    # A *file* of that name is the user's own scenario.
    builtin = builtin_path("two-domains")
    assert builtin is not None
    (tmp_path / "figure1").rmdir()
    (tmp_path / "figure1").write_text(builtin.read_text())
    assert load("figure1").name == "two-domains"


@pytest.mark.parametrize(("value", "problem"), [
    ("3s", "3s is under 4s: a Binding Update's lifetime is in units of 4 seconds "
           "(RFC 6275 §6.1.7), so it would be sent as 0, which deletes the binding"),
    ("500ms", "0.5s is under 4s"),
    ("262144s", "262144s is over 262140s"),
])
def test_binding_lifetime_outside_what_a_bu_carries_is_refused(
        value: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It used to be accepted and sent as lifetime 0: every BU a deregistration."""
    assert main(["simulate", "--set", f"defaults.binding_lifetime={value}",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "defaults.binding_lifetime (from --set): " + problem in err
    with pytest.raises(ScenarioError, match=r"nodes\.mn\.binding_lifetime"):
        load("figure1", [f"nodes.mn.binding_lifetime={value}"])
    assert load("figure1", ["defaults.binding_lifetime=4s"]).defaults.binding_lifetime == 4.0
