"""Testbed ergonomics on real kernels: ``testbed up`` / ``down``, ``testbed clean`` (only
namespaces of dead runs, in which nothing runs) and Ctrl-C (partial results, no traceback,
nothing left behind). Needs root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import need_root, need_tool

pytestmark = pytest.mark.netns


def _namespaces() -> set[str]:
    from pyroute2 import netns

    return set(netns.listnetns())


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    assert not os.path.exists(f"/proc/{p.pid}")
    return p.pid


def test_clean_removes_only_namespaces_of_dead_runs_with_nothing_inside() -> None:
    need_root()
    from pyroute2 import netns

    dead, busy = _dead_pid(), _dead_pid()
    mine = {"dead": f"hm-{dead}-realnet-clean", "live": f"hm-{os.getpid()}-realnet-clean",
            "busy": f"hm-{busy}-realnet-clean", "other": f"realnet-{dead}-clean"}
    sleeper = None
    try:
        for ns in mine.values():
            netns.create(ns)
        # A dead run's namespace with a process still inside is not a leftover.
        sleeper = subprocess.Popen(["ip", "netns", "exec", mine["busy"], "sleep", "60"])
        time.sleep(0.3)
        before = _namespaces()
        proc = subprocess.run(["hmipv6", "testbed", "clean"], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        after = _namespaces()
        assert f"removed {mine['dead']}" in proc.stdout.splitlines()
        assert mine["dead"] not in after
        assert {mine["live"], mine["busy"], mine["other"]} <= after
        # Everything it removed was an hm-<pid>- namespace of a process that is gone.
        for ns in before - after:
            pid = ns.split("-")[1]
            assert ns.startswith("hm-") and pid.isdigit() and not os.path.exists(f"/proc/{pid}")
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
        for ns in mine.values():
            if ns in _namespaces():
                netns.remove(ns)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_cleanly_and_keeps_partial_results(tmp_path: Path, presses: int) -> None:
    """Ctrl-C stops the run with its partial results; pressed again while the daemons stop
    and the namespaces go, it is said to be waited for, and the clean-up still completes."""
    need_root()
    out = tmp_path / "out"
    proc = subprocess.Popen(["hmipv6", "testbed", "run", "figure1", "--duration", "20s",
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    log = out / "logs" / "mn.jsonl"  # the mobile node logs once the run has started
    while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole process group
    if presses == 2:
        time.sleep(0.3)  # the daemons are stopping (that takes seconds): again
        os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted at" in stderr
    assert "before the run started" not in stderr
    assert ("stopping the daemons and removing the namespaces" in stderr) == (presses == 2)
    rep = json.loads((out / "report.json").read_text())
    assert 2.0 < rep["testbed"]["interrupted"] < 20.0
    assert rep["handovers"][0]["kind"] == "initial"
    assert rep["flows"][0]["received"] > 0
    assert all((out / "logs" / f"{n}.jsonl").stat().st_size > 0 for n in rep["nodes"])
    assert not any(ns.startswith(f"hm-{proc.pid}-") for ns in _namespaces())


def test_up_keeps_the_topology_for_real_tools_and_down_writes_the_results(
        tmp_path: Path) -> None:
    need_root()
    ping = need_tool("ping")
    out = tmp_path / "up"
    # --kernel-nodes: the default, the former opt-in still accepted.
    proc = subprocess.run(["hmipv6", "testbed", "up", "figure1", "--kernel-nodes", "--set",
                           "flows=[]", "--out", str(out)], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr + (out / "testbed.log").read_text()
    state = json.loads((out / "testbed.json").read_text())
    try:
        assert f"ip netns exec {state['namespaces']['cn']}" in proc.stdout
        # The run is up after `up` returned: the kernel correspondent pings the mobile
        # node's home address through the daemons.
        deadline = time.monotonic() + 60  # registration, on a possibly loaded machine
        while subprocess.run(["ip", "netns", "exec", state["namespaces"]["cn"], ping, "-6",
                              "-n", "-c", "1", "-W", "1", "2001:db8:f::100"],
                             capture_output=True).returncode:
            assert time.monotonic() < deadline, "the home address never answered"
        r = subprocess.run(["ip", "netns", "exec", state["namespaces"]["cn"], ping, "-6",
                            "-n", "-c", "3", "-i", "0.3", "-W", "2", "2001:db8:f::100"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert " 0% packet loss" in r.stdout
    finally:
        down = subprocess.run(["hmipv6", "testbed", "down", "--out", str(out)],
                              capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert f"process {state['pid']} stopped" in down.stdout
    rep = json.loads((out / "report.json").read_text())
    assert rep["testbed"]["interrupted"] is not None
    assert rep["testbed"]["kernel_nodes"] == ["cn", "inet"]
    assert not any(ns.startswith(f"hm-{state['pid']}-") for ns in _namespaces())
    again = subprocess.run(["hmipv6", "testbed", "down", "--out", str(out)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "nothing is up" in again.stderr
