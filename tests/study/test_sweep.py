"""``hmipv6 sweep``: the same aggregate tables on 1 process, 2 processes and a Dask cluster;
a failed run (or a dead worker) is reported while the rest complete; a resumed study executes
only the runs it has not finished; the CI columns match a hand computation."""

from __future__ import annotations

import csv
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hmipv6.cli import main
from hmipv6.study.execute import execute_run
from hmipv6.study.runner import WORKER_DIED, ClusterError, run_dask, run_study
from hmipv6.study.spec import RunSpec, Study, loads_study
from hmipv6.study.tables import aggregate_table, tidy_table, write_table

# Runs of 3 simulated seconds with the move at 2 s: about 0.1 s of CPU each.
SMALL = """
[study]
name = "small"
scenario = "figure1"
protocols = ["mipv6", "hmipv6"]
seeds = 3
set = ["scenario.duration=3s", "moves[1].at=2s", "flows[0].start=0.5s", "flows[0].stop=2.9s"]
metrics = ["handover.latency", "handover.lost", "flow.lost"]
[parameters]
"defaults.l2_handover" = ["20ms", "50ms"]
"""


def _study(text: str = SMALL) -> Study:
    return loads_study(text, source="small.toml")


def _tables(study: Study, out: Path, **kw: Any) -> tuple[str, str]:
    outcome = run_study(study, out, **kw)
    return (aggregate_table(study, outcome).to_csv(), tidy_table(study, outcome).to_csv())


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def test_one_process_many_processes_and_a_dask_cluster_give_identical_tables(
        tmp_path: Path) -> None:
    from distributed import LocalCluster

    study = _study()
    one = _tables(study, tmp_path / "one", workers=1)
    two = _tables(study, tmp_path / "two", workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask = _tables(study, tmp_path / "dask", cluster=cluster.scheduler_address)
    assert one == two == dask
    agg = _rows(one[0])
    assert len(agg) == 2 * 2 * 15  # points x protocols x the metrics a figure1 run gives
    latency = {(r["defaults.l2_handover"], r["protocol"]): float(r["mean"])
               for r in agg if r["metric"] == "handover.latency"}
    # The longer L2 gap adds 30 ms (give or take a 10 ms CBR interval); HMIPv6 beats
    # Mobile IPv6 at both points.
    assert 0.02 < latency[("50ms", "mipv6")] - latency[("20ms", "mipv6")] < 0.04
    assert latency[("20ms", "hmipv6")] < latency[("20ms", "mipv6")]
    assert all(r["runs"] == "3" and r["failed"] == "0" for r in agg)
    tidy = _rows(one[1])
    assert {r["status"] for r in tidy} == {"ok"}
    assert len({r["run"] for r in tidy}) == 12


def test_ci_columns_match_a_hand_computation(tmp_path: Path) -> None:
    study = _study()
    agg_csv, tidy_csv = _tables(study, tmp_path, workers=2)
    tidy, agg = _rows(tidy_csv), _rows(agg_csv)
    for proto in ("mipv6", "hmipv6"):
        values = [float(r["value"]) for r in tidy
                  if r["protocol"] == proto and r["defaults.l2_handover"] == "50ms"
                  and r["metric"] == "handover.latency"]
        assert len(values) == 3  # one handover per run, three seeds
        mean = sum(values) / 3
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
        half = 4.303 * sd / math.sqrt(3)  # t(0.975, 2) from a printed table
        (row,) = [r for r in agg if r["protocol"] == proto and r["metric"] == "handover.latency"
                  and r["defaults.l2_handover"] == "50ms"]
        assert sd > 0  # the seeds move the router advertisements, hence the latency
        assert float(row["mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(row["sd"]) == pytest.approx(statistics.stdev(values), rel=1e-9)
        assert float(row["ci95_half"]) == pytest.approx(half, rel=1e-4)
        assert float(row["ci95_low"]) == pytest.approx(mean - half, abs=1e-4 * half)
        assert float(row["ci95_high"]) == pytest.approx(mean + half, abs=1e-4 * half)


def test_a_failed_run_is_reported_and_the_others_complete(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    study_file = tmp_path / "bad.toml"
    # A negative L2 handover time cannot load: that point's runs fail, the others run.
    study_file.write_text(SMALL.replace('["20ms", "50ms"]', '["20ms", "-5ms"]'))
    out = tmp_path / "out"
    assert main(["sweep", str(study_file), "--out", str(out), "--jobs", "2"]) == 1
    printed = capsys.readouterr().out
    assert "6 failed" in printed and "Failed runs" in printed and "l2_handover" in printed
    tidy = _rows((out / "tidy.csv").read_text())
    failed = [r for r in tidy if r["status"] == "failed"]
    assert len(failed) == 6 and {r["defaults.l2_handover"] for r in failed} == {"-5ms"}
    assert all("ScenarioError" in r["error"] and "l2_handover" in r["error"] for r in failed)
    assert all(r["value"] == "" and r["metric"] == "" for r in failed)
    ok = [r for r in tidy if r["status"] == "ok"]
    assert {r["run"] for r in ok} and len({r["run"] for r in ok}) == 6
    agg = _rows((out / "aggregate.csv").read_text())
    bad = [r for r in agg if r["defaults.l2_handover"] == "-5ms"]
    good = [r for r in agg if r["defaults.l2_handover"] == "20ms"]
    assert bad and all(r["runs"] == "0" and r["failed"] == "3" and r["mean"] == "" for r in bad)
    assert good and all(r["runs"] == "3" and r["failed"] == "0" for r in good)
    assert (out / "plot-defaults-l2-handover.png").stat().st_size > 10_000


def dying_execute(spec: RunSpec) -> dict[str, Any]:
    """An executor whose worker process dies (no exception, no result) on seed 2."""
    if spec.seed == 2:
        os._exit(3)
    return execute_run(spec)


def test_a_worker_that_dies_fails_only_its_own_run(tmp_path: Path) -> None:
    study = _study(SMALL.replace('["20ms", "50ms"]', '["20ms"]'))
    outcome = run_study(study, tmp_path, workers=2, execute=dying_execute)
    assert [(s.protocol, s.seed) for s, _ in outcome.failed] == [("mipv6", 2), ("hmipv6", 2)]
    assert all(r["error"] == WORKER_DIED for _, r in outcome.failed)
    assert [r["status"] for r in outcome.results].count("ok") == 4


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_broken_pool_is_closed_without_waiting_for_a_live_worker() -> None:
    """After a worker died, ``run_local`` closes the pool with ``_close_broken``, which
    terminates the workers still alive before ``shutdown``: CPython 3.11 can leave one
    started while the pool broke, which ``shutdown(wait=True)`` alone waits for forever (a
    hang seen in CI). Here a worker busy for ten minutes stands for it: the pool is closed
    at once and its future fails as broken."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from hmipv6.study.runner import _close_broken

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    busy = pool.submit(_sleep, 600.0)
    while not busy.running():
        time.sleep(0.01)
    closing = threading.Thread(target=_close_broken, args=(pool,), daemon=True)
    closing.start()
    closing.join(120)  # a hang guard: closing takes well under a second
    assert not closing.is_alive()
    with pytest.raises(BrokenProcessPool):
        busy.result()


def test_resume_executes_only_the_runs_not_finished(tmp_path: Path) -> None:
    study = _study()
    first = run_study(study, tmp_path, workers=2)
    assert (first.executed, first.reused) == (12, 0)
    again = run_study(study, tmp_path, workers=2)
    assert (again.executed, again.reused) == (0, 12)
    assert again.results == first.results
    # An interrupted study: three results never written.
    stored = sorted((tmp_path / "runs").glob("*.json"))
    assert len(stored) == 12
    for path in stored[:3]:
        path.unlink()
    seen: list[tuple[int, int, int]] = []
    resumed = run_study(study, tmp_path, workers=2,
                        progress=lambda d, t, f: seen.append((d, t, f)))
    assert (resumed.executed, resumed.reused) == (3, 9)
    assert seen[0] == (9, 12, 0) and seen[-1] == (12, 12, 0) and len(seen) == 4
    assert resumed.results == first.results
    # Another study sharing the directory (one more seed) reuses the twelve it has in common.
    more = run_study(_study(SMALL.replace("seeds = 3", "seeds = 4")), tmp_path, workers=2)
    assert (more.executed, more.reused) == (4, 12)


def test_failed_runs_are_retried_on_resume(tmp_path: Path) -> None:
    study = _study(SMALL.replace('["20ms", "50ms"]', '["20ms", "-5ms"]'))
    first = run_study(study, tmp_path, workers=2)
    assert len(first.failed) == 6
    again = run_study(study, tmp_path, workers=2)
    assert (again.executed, again.reused) == (6, 6)


def test_parquet_holds_the_csv_table(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    study = _study(SMALL.replace('["20ms", "50ms"]', '["20ms", "-5ms"]'))
    outcome = run_study(study, tmp_path, workers=2)
    table = aggregate_table(study, outcome)
    csv_path, pq_path = write_table(table, tmp_path / "aggregate")
    got = pq.read_table(pq_path).to_pylist()
    assert [list(r) for r in got[0:1]] == [list(table.columns)]
    assert len(got) == len(table.rows)
    for row, want in zip(got, table.rows, strict=True):
        for (name, value), expected in zip(row.items(), want, strict=True):
            if isinstance(expected, float) and math.isnan(expected):
                assert value is None, name
            else:
                assert value == expected, name
    assert csv_path.read_text() == table.to_csv()


def test_the_cli_writes_tables_and_plots_and_resumes(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    study_file = tmp_path / "small.toml"
    study_file.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["sweep", str(study_file), "--out", str(out), "-j", "2"]) == 0
    printed = capsys.readouterr().out
    assert "12 runs; 12 executed" in printed and "0 failed" in printed
    assert "handover.latency (ms)" in printed
    for name in ("tidy.csv", "tidy.parquet", "aggregate.csv", "aggregate.parquet",
                 "plot-defaults-l2-handover.png"):
        assert (out / name).stat().st_size > 0, name
    before = (out / "aggregate.csv").read_bytes()
    assert main(["sweep", str(study_file), "--out", str(out), "-j", "2"]) == 0
    assert "12 runs; 0 executed" in capsys.readouterr().out
    assert (out / "aggregate.csv").read_bytes() == before


def test_the_cli_refuses_a_bad_study_in_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    study_file = tmp_path / "bad.toml"
    study_file.write_text('[study]\nscenario = "figure1"\nprotocols = ["ipv4"]\n')
    assert main(["sweep", str(study_file), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"hmipv6 sweep: error: {study_file}: study.protocols[0]: ")
    assert main(["sweep", "no-such-study", "--out", str(tmp_path / "o")]) == 2
    assert "built-in studies: ha-distance" in capsys.readouterr().err


def test_an_interrupted_sweep_continues_where_it_stopped(tmp_path: Path) -> None:
    study_file = tmp_path / "long.toml"
    study_file.write_text(SMALL.replace("seeds = 3", "seeds = 12"))  # 48 runs
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "hmipv6.cli", "sweep", str(study_file),
                             "--out", str(out), "--jobs", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "runs").glob("*.json"))) < 3 and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kept = len(list((out / "runs").glob("*.json")))
    assert proc.returncode == 130, err
    assert "interrupted" in err and "run the same command again to continue" in err
    assert 3 <= kept < 48
    assert not (out / "aggregate.csv").exists()
    resumed = run_study(_study(SMALL.replace("seeds = 3", "seeds = 12")), out, workers=2)
    assert (resumed.executed, resumed.reused) == (48 - kept, kept)
    assert not resumed.failed


def test_an_unreachable_cluster_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = _study().runs("v")[0]
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        run_dask([spec], f"tcp://127.0.0.1:{port}", lambda r: None, connect_timeout=1.0)


def test_a_worker_with_other_sources_refuses_the_run() -> None:
    spec = _study().runs("0.0.9+0123456789abcdef")[0]
    result = execute_run(spec)
    assert result["status"] == "failed" and result["rows"] == []
    assert "0.0.9+0123456789abcdef" in result["error"] and "this worker runs hmipv6" in result["error"]
