"""``hmipv6 scenarios``: each line is the ``description`` of the built-in file (it used to be
a hand-written copy that went out of date: map-failure "restarts at 14 s", the file 40 s)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hmipv6.cli import main
from hmipv6.sim.scenario import BUILTIN_SCENARIOS, builtin_path, description_of, load


def test_scenarios_prints_each_files_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(BUILTIN_SCENARIOS)
    for name, line in zip(BUILTIN_SCENARIOS, lines, strict=True):
        sc = load(name)
        assert sc.description and line.split(None, 1) == [name, sc.description]
        # Each says how long it runs: the file's duration, not a stale copy.
        assert sc.description.endswith(f"; {sc.duration:g} s"), name


def test_map_failure_description_tells_the_files_fault_times() -> None:
    sc = load("map-failure")
    times = {f.kind: f.at for f in sc.faults}
    assert f"crashes at {times['crash']:g} s" in sc.description
    assert f"restarts at {times['restart']:g} s" in sc.description


def test_scenarios_readme_table_is_the_files_descriptions() -> None:
    path = builtin_path("figure1")
    assert path is not None
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([\w-]+)` \| (.+) \|$", readme, re.M))
    assert rows == {n: description_of(builtin_path(n) or "") for n in BUILTIN_SCENARIOS}


def test_a_users_description(tmp_path: Path) -> None:
    path = builtin_path("figure1")
    assert path is not None
    mine = tmp_path / "mine.toml"
    mine.write_text(path.read_text().replace('description = "', 'description = "mine: '))
    assert load(str(mine)).description.startswith("mine: RFC 4140")
