"""``hmipv6 testbed run`` as ``hmipv6 simulate`` is used: ``--seed``, ``--compare P1,P2`` (one
run per protocol, the table of simulate pairing the handovers by the move, its plots) and
Ctrl-C / SIGTERM during a comparison (the runs done and the partial one kept, exit 130, no
traceback). Real runs on network namespaces (root), kept short: figure1 cut to a few seconds
with its move brought forward. The command line is driven as a user drives it (a subprocess:
the testbed turns SIGTERM into an interrupt in its own process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, decode
from hmipv6.wire.pcap import decode_ethernet, read_pcap
from tests.conftest import need_root

pytestmark = pytest.mark.netns

SHORT = ["figure1", "--duration", "6s", "--set", "moves[1].at=3s"]
"""figure1 cut to 6 s, the move ar1 -> ar2 at 3 s (flow from 1 s): two handovers."""

PLOTS = ("timeline.png", "handovers.png", "signalling.png")


def _cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hmipv6.cli", "testbed", "run", *args],
                          capture_output=True, text=True, timeout=timeout)


def _namespaces() -> set[str]:
    from pyroute2 import netns

    return set(netns.listnetns())


def _report(path: Path) -> dict[str, Any]:
    rep: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert rep["format"] == "hmipv6-report/1" and rep["world"] == "testbed"
    return rep


def _valid_png(path: Path) -> None:
    """A PNG matplotlib can read back, of a plausible size, not blank."""
    from matplotlib import image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    pixels = image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 400, (path, pixels.shape)
    assert float(pixels.std()) > 0.01, f"{path} is blank"


def _table(stdout: str) -> list[list[str]]:
    """The cells of every row of the printed tables (plain console: no colours)."""
    rows = [ln for ln in stdout.splitlines() if ln.startswith("│")]
    return [[c.strip() for c in ln.strip("│").split("│")] for ln in rows]


def _esp_spis(pcap: Path) -> set[int]:
    out = set()
    for rec in read_pcap(pcap.read_bytes()).records:
        eth, off = decode_ethernet(rec.data)
        if eth.ethertype == 0x86DD:
            p = decode(rec.data[off:])
            if isinstance(p.payload, EncapsulatingSecurityPayload):
                out.add(p.payload.spi)
    return out


def _table_spis(seed: int) -> set[int]:
    """The SPIs of figure1's seed-derived SAs under hmipv6 (the esp_sa table's 4th field)."""
    from hmipv6.sim.engines import provisioned_sa_table
    from hmipv6.sim.scenario import load

    table = provisioned_sa_table(load("figure1", seed=seed), "hmipv6")
    assert table is not None
    return {int(line.split(",")[3].strip('"'), 16) for line in table.splitlines()}


# --------------------------------------------------------------------------------------------
# Refused before anything is built or written (no root needed)


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "-1"], "hmipv6 testbed: error: figure1 ("),
    (["--seed", "-1", "--compare", "mipv6,hmipv6"], "hmipv6 testbed: error: figure1 ("),
    (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["--protocol", "mipv6", "--compare", "mipv6,hmipv6"],
     "argument --compare: not allowed with argument --protocol"),
    (["--compare", "mipv6,bogus"], "unknown protocol 'bogus'"),
    (["--compare", "hmipv6,hmipv6"], "a protocol is listed twice"),
])
def test_bad_seed_and_protocols_are_refused_with_one_line(
        tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "out"
    proc = _cli("figure1", *args, "--out", str(out), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    if args[:2] == ["--seed", "-1"]:
        # The loader's message, crediting --seed (not --set), as simulate's.
        assert "scenario.seed (from --seed): -1 is out of range (>= 0)" in proc.stderr
        assert "--set" not in proc.stderr
    assert not out.exists()


def test_compare_checks_every_protocol_before_running(tmp_path: Path) -> None:
    """fhmipv6 cannot run under rfc5380: the comparison stops before its first run, naming
    --compare (as simulate does)."""
    proc = _cli("figure1", "--set", "scenario.profile=rfc5380", "--compare", "hmipv6,fhmipv6",
                "--out", str(tmp_path / "out"), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot run protocol 'fhmipv6' (asked by --compare)" in proc.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# Real runs


def test_seed_reaches_every_daemon_and_a_single_run_is_plotted(tmp_path: Path) -> None:
    """--seed 7: the report says so, and the daemons protected their binding updates with
    the seed-7 SAs (the SPIs on the wire are seed 7's, none of the default seed 1's); the
    run writes simulate's three plots beside its report."""
    need_root()
    out = tmp_path / "out"
    proc = _cli(*SHORT, "--protocol", "hmipv6", "--seed", "7", "--export-sa",
                str(tmp_path / "esp_sa"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = _report(out / "report.json")
    assert rep["seed"] == 7 and rep["protocol"] == "hmipv6"
    move = rep["handovers"][1]
    assert (move["from"], move["to"], move["kind"]) == ("ar1", "ar2", "intra-domain")
    assert move["registration"] is not None  # the BU was accepted: the MAP had the same keys
    seven, one = _table_spis(7), _table_spis(1)
    assert seven.isdisjoint(one)
    wire = _esp_spis(out / "pcap" / "cell-ar1.pcap") | _esp_spis(out / "pcap" / "cell-ar2.pcap")
    assert wire and wire <= seven
    exported = {int(line.split(",")[3].strip('"'), 16)
                for line in (tmp_path / "esp_sa").read_text().splitlines()}
    assert exported == seven
    for name in PLOTS:
        _valid_png(out / name)
    assert f"plotted: {out / 'timeline.png'}" in proc.stdout


def test_compare_runs_each_protocol_and_pairs_the_moves(tmp_path: Path) -> None:
    need_root()
    out = tmp_path / "out"
    # What an earlier run left: a single run's report and a protocol not compared now go;
    # a file of the user's stays.
    (out / "fhmipv6").mkdir(parents=True)
    (out / "fhmipv6" / "report.json").write_text("{}")
    (out / "report.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    proc = _cli(*SHORT, "--compare", "mipv6,hmipv6", "--seed", "3", "--out", str(out),
                timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "report.json").exists() and not (out / "fhmipv6").exists()
    assert (out / "notes.txt").read_text() == "mine"
    reps = {p: _report(out / p / "report.json") for p in ("mipv6", "hmipv6")}
    for p, rep in reps.items():
        assert rep["protocol"] == p and rep["seed"] == 3
        assert rep["testbed"]["interrupted"] is None
        assert sorted(f.name for f in (out / p / "pcap").iterdir())
        assert all((out / p / "logs" / f"{n}.jsonl").stat().st_size for n in rep["testbed"]
                   ["daemons"])
    for name in PLOTS:
        _valid_png(out / name)
    assert "on the testbed (wall clock), seed 3" in proc.stdout
    cells = _table(proc.stdout)
    # The move: one row per protocol, each with that protocol's own handover of it.
    i = next(j for j, c in enumerate(cells) if c[1] == "ar1 → ar2")
    for row, p in ((cells[i], "mipv6"), (cells[i + 1], "hmipv6")):
        h = next(h for h in reps[p]["handovers"] if h["from"] == "ar1")
        assert row[3:8] == [p, h["kind"], f"{h['latency'] * 1000:.1f}",
                            f"{h['registration'] * 1000:.1f}", str(h["lost"])], row
    assert cells[i][4] == "mipv6" and cells[i + 1][4] == "intra-domain"
    assert cells[i + 1][:2] == ["", ""]  # the same move, not a row of its own
    # "at s": the first protocol's time, then hmipv6's own where it differs (wall clock).
    for row, p in ((cells[i], "mipv6"), (cells[i + 1], "hmipv6")):
        h = next(h for h in reps[p]["handovers"] if h["from"] == "ar1")
        own = f"{h['timeline']['l2_down']:.3f}"
        assert row[2] == ("" if row is cells[i + 1] and own == cells[i][2] else own), row
    # The first attachment, paired too: exactly two handover rows per protocol.
    assert [c[3] for c in cells if len(c) == 8 and c[3] in reps] == [
        "mipv6", "hmipv6", "mipv6", "hmipv6"]
    for p in reps:
        assert f"{out / p / 'report.json'}" in proc.stdout


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupting_the_second_run_keeps_both_and_exits_130(tmp_path: Path, how: str) -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) or SIGTERM (to the
    launcher) during the second protocol's run: the first report complete, the second
    partial, their table and plots, exit 130, no traceback, no namespace left."""
    need_root()
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "hmipv6.cli", "testbed", "run", "figure1",
                             "--duration", "12s", "--set", "moves[1].at=3s", "--compare",
                             "mipv6,hmipv6", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        log = out / "hmipv6" / "logs" / "mn.jsonl"  # written once the second run started
        deadline = time.monotonic() + 300
        while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        time.sleep(2)
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted at" in stderr
    first, second = _report(out / "mipv6" / "report.json"), _report(out / "hmipv6" / "report.json")
    assert first["testbed"]["interrupted"] is None
    assert [h["to"] for h in first["handovers"]] == ["ar1", "ar2"]
    assert second["testbed"]["interrupted"] is not None
    assert 0 < second["testbed"]["interrupted"] < 12.0
    assert second["handovers"][0]["kind"] == "initial"
    assert "hmipv6: interrupted at" in stdout
    cells = _table(stdout)
    assert [c[3] for c in cells if len(c) == 8 and c[3] in ("mipv6", "hmipv6")][:2] == [
        "mipv6", "hmipv6"]  # the first attachments, paired
    for name in PLOTS:
        _valid_png(out / name)
    assert not any(ns.startswith(f"hm-{proc.pid}-") for ns in _namespaces())


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_an_interrupt_python_drops_still_stops_the_run(signum: str) -> None:
    """The launcher's Ctrl-C and SIGTERM handlers note the interrupt before raising it: an
    exception raised where CPython only prints it (an at-fork hook while the launcher forks,
    a finaliser: "Exception ignored in ...") was lost, and a run went on to its end with exit
    0 (seen once in CI). The run loop's check raises it again, and the dropped exception's
    report ("Exception ignored in ..." and a traceback) is not printed. No root: the handler
    is run inside a finaliser in a fresh interpreter."""
    code = f"""
import signal, sys
from hmipv6.cli_testbed import _interrupt_on_sigterm
from hmipv6.net import testbed
_interrupt_on_sigterm()

class Finaliser:
    def __del__(self):
        signal.getsignal(signal.{signum})(signal.{signum}, None)

class Broken:
    def __del__(self):
        raise RuntimeError("Event loop is closed")

Finaliser()  # dropped at once: the KeyboardInterrupt its __del__ raises is only printed
Broken()  # what an interrupted operation leaves may fail so when collected
print("went on")
try:
    testbed._check_interrupt()
except KeyboardInterrupt:
    sys.exit(130)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # CPython dropped it; its "Exception ignored ... Traceback" report is not shown either
    # (a CI run of the real Ctrl-C test failed on that traceback in stderr), and what fails
    # when collected while stopping gets one line (another CI run failed on a pyroute2
    # coroutine's "Event loop is closed" traceback).
    assert r.stderr == "(ignored while stopping: RuntimeError: Event loop is closed)\n", r.stderr
    assert r.stdout == "went on\n"
    assert r.returncode == 130, r.stderr


def test_an_unraisable_error_without_an_interrupt_is_still_reported() -> None:
    """The launcher's unraisable hook quiets only a stopping run: before any interrupt, an
    exception raised in a finaliser is reported in full, as Python reports it."""
    code = """
from hmipv6.cli_testbed import _interrupt_on_sigterm
_interrupt_on_sigterm()

class Broken:
    def __del__(self):
        raise RuntimeError("a real bug")

Broken()
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Exception ignored" in r.stderr and "Traceback" in r.stderr, r.stderr
    assert "RuntimeError: a real bug" in r.stderr and r.returncode == 0
