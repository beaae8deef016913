"""The study file of ``hmipv6 sweep`` and the runs it asks for.

Theory of operation
-------------------
A study is TOML (format in the README, "Parameter studies")::

    [study]
    name = "ha-distance"                # default: the file's stem
    scenario = "figure1"                # a built-in scenario or a file (relative to the study)
    protocols = ["mipv6", "hmipv6"]     # default
    seeds = 10                          # 1..10; or a list [3, 7, 11]; default 1
    set = ["scenario.duration=12s"]     # --set overrides applied to every run; default []
    metrics = ["handover.latency"]      # the metrics plotted; default latency and lost
    bound = true                        # draw the analytic lower bound; default false

    [parameters]
    "defaults.l2_handover" = ["20ms", "50ms"]                             # a list
    "links[1].delay" = { from = 0, to = 40, step = 10, unit = "ms" }      # a range

Every parameter key is a ``hmipv6 simulate --set`` path; the values are applied exactly as
``--set KEY=VALUE`` would (:func:`hmipv6.sim.scenario.loads` with overrides), so anything
``--set`` reaches a study can vary. A range runs ``from``, ``from + step``, ... up to ``to``
inclusive (or ``count`` evenly spaced values from ``from`` to ``to``); ``unit`` is appended to
each number (``"10ms"``). A parameter table may carry a ``label`` (the plots' axis title).

The points are the Cartesian product of the parameters' values (the first parameter varies
slowest); every point runs under every protocol with every seed (``scenario.seed=N``).
:meth:`Study.runs` lists them as :class:`RunSpec` values, which carry everything a worker
needs (the scenario's text, not its path), so a run is the same wherever it executes.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from hmipv6.errors import HMIPv6Error
from hmipv6.sim import scenario as scenario_mod
from hmipv6.sim.scenario import PROTOCOLS, ScenarioError
from hmipv6.study.measures import METRICS
from hmipv6.study.store import run_key

__all__ = ["BUILTIN_STUDIES", "FIXED_COLUMNS", "Parameter", "RunSpec", "Study", "StudyError",
           "builtin_study_path", "load_study", "loads_study", "toml_literal"]

BUILTIN_STUDIES = ("ha-distance",)
"""Studies shipped in ``hmipv6/studies/<name>.toml``."""

FIXED_COLUMNS = ("point", "protocol", "seed", "run", "status", "error", "item", "kind", "metric",
                 "unit", "value", "runs", "failed", "mean", "sd", "ci95_low", "ci95_high",
                 "ci95_half", "bound")
"""Column names of the tables; a parameter key may not be one of them."""

DEFAULT_PROTOCOLS = ("mipv6", "hmipv6")
DEFAULT_METRICS = ("handover.latency", "handover.lost")

_STUDY_KEYS = ("name", "scenario", "protocols", "seeds", "set", "metrics", "bound")
_PARAM_KEYS = ("values", "from", "to", "step", "count", "unit", "label")
_RESERVED = {"scenario.seed": "use [study] seeds", "scenario.protocol": "use [study] protocols"}
_MAX_RANGE = 10_000


class StudyError(HMIPv6Error):
    """A study file that cannot run: names the file, the key and the problem."""

    def __init__(self, file: str, key: str | None, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Parameter:
    key: str
    """A ``--set`` path (``links[1].delay``); also the column name in the tables."""
    values: tuple[str, ...]
    """Each value as ``--set`` receives it (a TOML literal: ``"10ms"``, ``3``, ``true``)."""
    label: str

    def display(self, index: int) -> str:
        """The value as the tables show it (strings unquoted)."""
        v = tomllib.loads(f"v = {self.values[index]}")["v"]
        return v if isinstance(v, str) else self.values[index]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run: everything a worker needs, and the key its result is stored under."""

    key: str
    point: int
    params: tuple[tuple[str, str], ...]
    """(parameter key, displayed value) of this run's point."""
    protocol: str
    seed: int
    scenario_source: str
    scenario_text: str
    overrides: tuple[str, ...]
    """The fixed ``set`` overrides, then the point's, then ``scenario.seed=N``."""
    code_version: str


@dataclass(frozen=True, slots=True)
class Study:
    source: str
    name: str
    scenario: str
    """The base scenario as the study names it."""
    scenario_source: str
    scenario_text: str
    protocols: tuple[str, ...]
    seeds: tuple[int, ...]
    fixed: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    metrics: tuple[str, ...]
    bound: bool

    def points(self) -> list[tuple[int, ...]]:
        """Each point as the index of its value in every parameter (first one slowest)."""
        return list(itertools.product(*(range(len(p.values)) for p in self.parameters)))

    def point_overrides(self, point: tuple[int, ...]) -> tuple[str, ...]:
        """The fixed overrides then the point's ``KEY=VALUE`` strings (no seed)."""
        return self.fixed + tuple(f"{p.key}={p.values[i]}"
                                  for p, i in zip(self.parameters, point, strict=True))

    def point_params(self, point: tuple[int, ...]) -> tuple[tuple[str, str], ...]:
        return tuple((p.key, p.display(i)) for p, i in zip(self.parameters, point, strict=True))

    def runs(self, code_version: str) -> list[RunSpec]:
        """Every run, in canonical order: point, protocol (study order), seed."""
        out = []
        for n, point in enumerate(self.points()):
            base = self.point_overrides(point)
            for proto in self.protocols:
                for seed in self.seeds:
                    overrides = (*base, f"scenario.seed={seed}")
                    out.append(RunSpec(
                        key=run_key(self.scenario_text, overrides, proto, seed, code_version),
                        point=n, params=self.point_params(point), protocol=proto, seed=seed,
                        scenario_source=self.scenario_source, scenario_text=self.scenario_text,
                        overrides=overrides, code_version=code_version))
        return out


def builtin_study_path(name: str) -> Path | None:
    if name not in BUILTIN_STUDIES:
        return None
    return Path(str(resources.files("hmipv6") / "studies" / f"{name}.toml"))


def load_study(path_or_name: str | Path) -> Study:
    """Read and check a study file (or a built-in study by name)."""
    path = Path(path_or_name)
    if not path.exists() and isinstance(path_or_name, str):
        builtin = builtin_study_path(path_or_name)
        if builtin is not None:
            path = builtin
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyError(str(path_or_name), None,
                         f"no such file (built-in studies: {', '.join(BUILTIN_STUDIES)})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StudyError(str(path_or_name), None, f"cannot read: {e}") from None
    return loads_study(text, source=str(path), base_dir=path.parent, stem=path.stem)


def loads_study(text: str, *, source: str = "<string>", base_dir: Path | None = None,
                stem: str = "study") -> Study:
    """Like :func:`load_study`, from TOML text; a relative scenario path is read from
    ``base_dir`` (default: the current directory)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StudyError(source, None, f"not valid TOML: {e}") from None
    return _Reader(source, base_dir or Path("."), stem).study(raw)


def toml_literal(value: object) -> str:
    """``value`` as a TOML value (what ``--set KEY=...`` is given)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    raise ValueError(f"cannot use {value!r} as a parameter value")


class _Reader:
    def __init__(self, source: str, base_dir: Path, stem: str) -> None:
        self.source = source
        self.base_dir = base_dir
        self.stem = stem

    def fail(self, key: str | None, problem: str) -> NoReturn:
        raise StudyError(self.source, key, problem)

    def study(self, raw: dict[str, Any]) -> Study:
        for k in raw:
            if k not in ("study", "parameters"):
                self.fail(k, "unknown table (expected [study] and [parameters])")
        st = raw.get("study")
        if not isinstance(st, dict):
            self.fail("study", "missing (a [study] table with at least scenario = ...)")
        for k in st:
            if k not in _STUDY_KEYS:
                self.fail(f"study.{k}", f"unknown key (expected one of: {', '.join(_STUDY_KEYS)})")
        name = self.string(st.get("name", self.stem), "study.name")
        if "scenario" not in st:
            self.fail("study.scenario", "missing (a built-in scenario name or a file)")
        scenario = self.string(st["scenario"], "study.scenario")
        scenario_source, scenario_text = self.scenario(scenario)
        protocols = self.protocols(st.get("protocols", list(DEFAULT_PROTOCOLS)))
        seeds = self.seeds(st.get("seeds", 1))
        fixed = self.strings(st.get("set", []), "study.set")
        for i, item in enumerate(fixed):
            if "=" not in item:
                self.fail(f"study.set[{i}]", f"expected KEY=VALUE, got {item!r}")
        metrics = self.strings(st.get("metrics", list(DEFAULT_METRICS)), "study.metrics")
        for i, m in enumerate(metrics):
            if m not in METRICS:
                self.fail(f"study.metrics[{i}]",
                          f"unknown metric {m!r} (expected one of: {', '.join(METRICS)})")
        bound = st.get("bound", False)
        if not isinstance(bound, bool):
            self.fail("study.bound", f"expected true or false, got {bound!r}")
        params = raw.get("parameters", {})
        if not isinstance(params, dict):
            self.fail("parameters", "expected a table of KEY = values")
        parameters = tuple(self.parameter(k, v) for k, v in params.items())
        # The base scenario must load with the fixed overrides (each point may still fail).
        try:
            scenario_mod.loads(scenario_text, source=scenario_source, overrides=fixed)
        except ScenarioError as e:
            self.fail("study.scenario", str(e))
        return Study(source=self.source, name=name, scenario=scenario,
                     scenario_source=scenario_source, scenario_text=scenario_text,
                     protocols=protocols, seeds=seeds, fixed=fixed, parameters=parameters,
                     metrics=metrics, bound=bound)

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def strings(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {value!r}")
        return tuple(self.string(v, f"{key}[{i}]") for i, v in enumerate(value))

    def scenario(self, name: str) -> tuple[str, str]:
        path = Path(name)
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.exists():
            builtin = scenario_mod.builtin_path(name)
            if builtin is None:
                self.fail("study.scenario", f"{name!r}: no such file and no built-in scenario "
                          f"of that name ({', '.join(scenario_mod.BUILTIN_SCENARIOS)})")
            path = builtin
            source = f"{name} ({path})"
        else:
            source = str(path)
        try:
            return source, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            self.fail("study.scenario", f"cannot read {path}: {e}")

    def protocols(self, value: object) -> tuple[str, ...]:
        out = self.strings(value, "study.protocols")
        if not out:
            self.fail("study.protocols", "expected at least one protocol")
        for i, p in enumerate(out):
            if p not in PROTOCOLS:
                self.fail(f"study.protocols[{i}]",
                          f"unknown protocol {p!r} (expected: {', '.join(PROTOCOLS)})")
        if len(set(out)) != len(out):
            self.fail("study.protocols", "a protocol is listed twice")
        return out

    def seeds(self, value: object) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= 100_000:
                self.fail("study.seeds", f"a count of seeds must be 1..100000, got {value}")
            return tuple(range(1, value + 1))
        if not isinstance(value, list) or not value:
            self.fail("study.seeds", f"expected a count or a non-empty list of seeds, got {value!r}")
        for i, s in enumerate(value):
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                self.fail(f"study.seeds[{i}]", f"expected a seed (an integer >= 0), got {s!r}")
        if len(set(value)) != len(value):
            self.fail("study.seeds", "a seed is listed twice")
        return tuple(value)

    def parameter(self, key: str, value: object) -> Parameter:
        where = f"parameters.{json.dumps(key)}"
        if not key.strip() or "=" in key:
            self.fail(where, "not a --set key")
        if key in _RESERVED:
            self.fail(where, _RESERVED[key])
        if key in FIXED_COLUMNS:
            self.fail(where, f"{key!r} is a column name of the tables; use a --set path")
        label = key
        if isinstance(value, list):
            values: list[object] = value
        elif isinstance(value, dict):
            for k in value:
                if k not in _PARAM_KEYS:
                    self.fail(f"{where}.{k}",
                              f"unknown key (expected one of: {', '.join(_PARAM_KEYS)})")
            label = self.string(value.get("label", key), f"{where}.label")
            values = self.values(value, where)
        else:
            self.fail(where, f"expected a list of values or a table (values / from, to, step), "
                      f"got {value!r}")
        if not values:
            self.fail(where, "no values")
        try:
            literals = tuple(toml_literal(v) for v in values)
        except ValueError as e:
            self.fail(where, str(e))
        if len(set(literals)) != len(literals):
            self.fail(where, "a value is listed twice")
        return Parameter(key=key, values=literals, label=label)

    def values(self, t: dict[str, Any], where: str) -> list[object]:
        unit = t.get("unit", "")
        if not isinstance(unit, str):
            self.fail(f"{where}.unit", f"expected a string such as \"ms\", got {unit!r}")
        if "values" in t:
            if any(k in t for k in ("from", "to", "step", "count")):
                self.fail(where, "give either values or a range (from, to, step or count)")
            vs = t["values"]
            if not isinstance(vs, list):
                self.fail(f"{where}.values", f"expected a list, got {vs!r}")
            return [f"{v}{unit}" for v in vs] if unit else list(vs)
        for k in ("from", "to"):
            if k not in t:
                self.fail(f"{where}.{k}", "missing (a range needs from, to and step or count)")
            v = t[k]
            if isinstance(v, bool) or not isinstance(v, int | float):
                self.fail(f"{where}.{k}", f"expected a number, got {v!r}")
        lo, hi = t["from"], t["to"]
        if ("step" in t) == ("count" in t):
            self.fail(where, "a range needs exactly one of step and count")
        if "step" in t:
            step = t["step"]
            if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
                self.fail(f"{where}.step", f"expected a positive number, got {step!r}")
            if hi < lo:
                self.fail(f"{where}.to", f"{hi} is below from ({lo})")
            n = math.floor((hi - lo) / step + 1e-9) + 1
        else:
            n = t["count"]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                self.fail(f"{where}.count", f"expected a positive integer, got {n!r}")
            step = (hi - lo) / (n - 1) if n > 1 else 0
        if n > _MAX_RANGE:
            self.fail(where, f"{n} values (at most {_MAX_RANGE})")
        integral = all(isinstance(x, int) for x in (lo, hi, step))
        nums: list[object] = [lo + i * step if integral else round(lo + i * step, 12)
                              for i in range(n)]
        if unit:
            return [f"{x:.12g}{unit}" if isinstance(x, float) else f"{x}{unit}" for x in nums]
        return nums
