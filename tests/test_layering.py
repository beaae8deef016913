"""ARCHITECTURE.md: ``wire`` and ``core`` are sans-IO. They import no socket, asyncio, time,
os, subprocess or pyroute2, and no module-level ``random`` (randomness is handed in)."""

from __future__ import annotations

import ast
import pathlib

import hmipv6

FORBIDDEN = {"socket", "asyncio", "time", "os", "subprocess", "pyroute2", "select", "threading"}
PKG = pathlib.Path(hmipv6.__file__).parent


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_wire_and_core_do_no_io() -> None:
    checked = 0
    for layer in ("wire", "core"):
        for path in sorted((PKG / layer).rglob("*.py")):
            bad = _imports(path) & FORBIDDEN
            assert not bad, f"{path.relative_to(PKG)} imports {sorted(bad)}"
            checked += 1
    assert checked >= 3


def test_no_module_level_random_calls() -> None:
    for layer in ("wire", "core"):
        for path in sorted((PKG / layer).rglob("*.py")):
            text = path.read_text()
            for fn in ("random.random(", "random.randint(", "random.choice(", "random.seed("):
                assert fn not in text, f"{path.name} uses module-level {fn}; pass a Random in"


# The parts of ``sim`` that are not the simulator: what both worlds share (the scenario format,
# engines built from it, flow payloads and sinks, metrics and reports from events, the
# clock-agnostic link model). ``net`` may use these; never the scheduler, links or the
# simulated network.
WORLD_NEUTRAL = {"hmipv6.sim.scenario", "hmipv6.sim.engines", "hmipv6.sim.traffic",
                 "hmipv6.sim.metrics", "hmipv6.sim.report", "hmipv6.sim.routing",
                 "hmipv6.sim.linkmodel"}


def test_layer_imports_point_downwards() -> None:
    order = {"wire": 0, "core": 1, "sim": 2, "net": 2, "study": 3}
    for layer, rank in order.items():
        for path in sorted((PKG / layer).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hmipv6."):
                    target = node.module.split(".")[1]
                    if layer == "net" and node.module in WORLD_NEUTRAL:
                        continue
                    if target in order:
                        assert order[target] <= rank and not (
                            target != layer and order[target] == rank
                        ), f"{path.relative_to(PKG)} imports upwards/sideways from hmipv6.{target}"


def test_the_guard_itself_detects_a_forbidden_import(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import socket\nfrom time import monotonic\n")
    assert _imports(bad) & FORBIDDEN == {"socket", "time"}
