"""The scenario and report formats are documented inside the repository (docs/scenario.md,
docs/report.md): every key the loader accepts, with its default, and every key a report has.

The keys come from the loader's own tables and dataclasses and from real reports, never from a
hand-written list, so a key added to the code without documentation fails here."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from hmipv6.sim import scenario as sc_mod
from hmipv6.sim.linkmodel import LinkCounters
from hmipv6.sim.network import run
from hmipv6.sim.scenario import Parameters, load

DOCS = Path(__file__).resolve().parent.parent / "docs"
SCENARIO_DOC = DOCS / "scenario.md"
REPORT_DOC = DOCS / "report.md"


def sections(text: str) -> dict[str, str]:
    """Heading line -> the text up to the next heading."""
    out: dict[str, str] = {}
    parts = re.split(r"^(#{2,3} .*)$", text, flags=re.M)
    for head, body in zip(parts[1::2], parts[2::2], strict=True):
        out[head] = body
    return out


def section(text: str, marker: str) -> str:
    found = [body for head, body in sections(text).items() if marker in head]
    assert len(found) == 1, f"no single section headed with {marker!r}"
    return found[0]


def row(body: str, key: str) -> str:
    """The table row documenting ``key`` (its first cell is `key`)."""
    for line in body.splitlines():
        if line.startswith(f"| `{key}` |") or line.startswith(f"| `{key}`,"):
            return line
    raise AssertionError(f"`{key}` has no row")


def loader_tables() -> dict[str, tuple[str, ...]]:
    """The loader's key tables: section marker -> keys (from hmipv6.sim.scenario)."""
    tables: dict[str, tuple[str, ...]] = {
        "`[scenario]`": sc_mod._SCENARIO_KEYS,
        "`[defaults]`": sc_mod._PARAM_KEYS,
        "`[[links]]`": sc_mod._LINK_KEYS,
        "`[[cells]]`": sc_mod._CELL_KEYS,
        "`[[moves]]`": sc_mod._MOVE_KEYS,
        "`[[flows]]`": sc_mod._FLOW_KEYS,
        "`[[faults]]`": sc_mod._FAULT_KEYS,
        "`[[routes]]`": sc_mod._ROUTE_KEYS,
        "`[[sas]]`": sc_mod._SA_KEYS,
        "`[generate.mobile_nodes]`": sc_mod._GEN_MN_KEYS,
    }
    for role, (required, optional) in sc_mod._ROLE_KEYS.items():
        tables[f'`role = "{role}"`'] = (*required, *optional)
    return tables


def test_every_scenario_key_the_loader_accepts_is_documented() -> None:
    text = SCENARIO_DOC.read_text(encoding="utf-8")
    tables = loader_tables()
    assert set(sc_mod._ROLE_KEYS) == set(sc_mod.ROLES)
    for marker, keys in tables.items():
        body = section(text, marker)
        for key in keys:
            row(body, key)
    # Every top-level table has its section.
    for top in sc_mod._TOP_KEYS:
        assert re.search(rf"^## `\[\[?{top}[\].]", text, re.M), top
    # The generator's flow table keys.
    gen = row(section(text, "`[generate.mobile_nodes]`"), "flow")
    for key in sc_mod._GEN_FLOW_KEYS:
        assert f"`{key}`" in gen, key
    # Every value of every enumerated key.
    for values in (sc_mod.ROLES, sc_mod.PROTOCOLS, sc_mod.PROFILES, sc_mod.DAD_MODES,
                   sc_mod.SECURITY_MODES, sc_mod.MAP_SELECTIONS, sc_mod.FLOW_KINDS,
                   sc_mod.FAULT_KINDS, sc_mod._STORES):
        for v in values:
            assert f'"{v}"' in text, v


def _duration_text(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def _rendered(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{_duration_text(v)}"' for v in value) + "]"
    if isinstance(value, float):
        return f'"{_duration_text(value)}"'
    return f'"{value}"'


def test_every_parameter_default_is_documented() -> None:
    """Each [defaults] key's row shows the default of the Parameters dataclass."""
    body = section(SCENARIO_DOC.read_text(encoding="utf-8"), "`[defaults]`")
    fields = {f.name: f.default for f in dataclasses.fields(Parameters)}
    assert set(fields) == set(sc_mod._PARAM_KEYS)
    for name, default in fields.items():
        cells = [c.strip() for c in row(body, name).split("|")]
        assert cells[2] == f"`{_rendered(default)}`", (name, cells[2])


def test_node_defaults_match_the_spec_dataclasses() -> None:
    """The defaults of the role keys that have one in the node spec dataclasses."""
    text = SCENARIO_DOC.read_text(encoding="utf-8")
    for cls in (sc_mod.CorrespondentSpec, sc_mod.HomeAgentSpec, sc_mod.RouterSpec,
                sc_mod.MapSpec, sc_mod.AccessRouterSpec, sc_mod.MobileNodeSpec):
        role = next(r for r, (req, opt) in sc_mod._ROLE_KEYS.items()
                    if {f.name for f in dataclasses.fields(cls)} >= {*req, *opt})
        body = section(text, f'`role = "{role}"`')
        for f in dataclasses.fields(cls):
            if f.name not in sc_mod._ROLE_KEYS[role][1]:
                continue
            default = f.default
            if isinstance(default, bool):
                want = "`true`" if default else "`false`"
            elif isinstance(default, int):
                want = f"`{default}`"
            elif isinstance(default, float):
                want = f'`"{_duration_text(default)}"`'
            elif isinstance(default, str):
                want = f'`"{default}"`'
            elif default == ():
                want = "`[]`"
            else:
                continue  # derived (documented in words)
            assert [c.strip() for c in row(body, f.name).split("|")][2] == want, f.name
    # Link and cell defaults, from the values the loader applies.
    s = load("figure1", ["links[0]={between=['cn','inet']}", "cells[0]={router='ar1'}"])
    link, cell = s.links[0], s.cells[0]
    links, cells = section(text, "`[[links]]`"), section(text, "`[[cells]]`")
    assert f'`"{_duration_text(link.delay)}"`' in row(links, "delay")
    assert f'`"{link.bandwidth / 1e6:g}Mbps"`' in row(links, "bandwidth")
    assert f"`{link.queue}`" in row(links, "queue") and f"`{link.loss}`" in row(links, "loss")
    assert f'`"{_duration_text(cell.delay)}"`' in row(cells, "delay")
    assert f'`"{cell.bandwidth / 1e6:g}Mbps"`' in row(cells, "bandwidth")
    assert f"`{cell.queue}`" in row(cells, "queue")


def _keys(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, key) of every dict key, skipping maps whose keys are data (names)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if path in ("nodes", "by_type", "counters", "egress") or path.endswith(".counters"):
                yield from _keys(v, f"{path}.*")
                continue
            yield path, str(k)
            yield from _keys(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v, f"{path}[]")


@pytest.fixture(scope="module")
def reports() -> list[dict[str, Any]]:
    """Real reports: a move with a flow (figure1), fast handovers (fhmipv6) and a MAP
    failover (map-failure)."""
    return [run(load("figure1", duration=10.0), protocol="hmipv6").report,
            run(load("figure1", duration=10.0), protocol="fhmipv6").report,
            run(load("map-failure", duration=32.0), protocol="hmipv6").report]


def test_every_report_key_is_documented(reports: list[dict[str, Any]]) -> None:
    text = REPORT_DOC.read_text(encoding="utf-8")
    seen = {key for r in reports for _, key in _keys(r)}
    assert {"map_change", "fbu_sent", "rcoa", "hoa", "in_flight"} <= seen
    for key in sorted(seen):
        assert f"`{key}`" in text, key
    for f in dataclasses.fields(LinkCounters):  # the testbed's egress counters
        assert f"`{f.name}`" in text, f.name
    assert "`testbed`" in text


def test_docs_stand_alone() -> None:
    """No project document points outside the repository."""
    root = DOCS.parent
    for path in (*DOCS.glob("*.md"), root / "README.md", root / "src/hmipv6/scenarios/README.md"):
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/" not in text, path
