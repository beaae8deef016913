"""The study file: parameters as lists or ranges over ``--set`` paths, seeds, protocols, and
one clear error (file, key, problem) for a study that cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmipv6.sim.scenario import load, loads
from hmipv6.study.spec import BUILTIN_STUDIES, StudyError, load_study, loads_study
from hmipv6.study.store import code_version, run_key

BASE = '[study]\nscenario = "figure1"\n'


def test_lists_and_ranges_expand_to_set_values() -> None:
    st = loads_study(BASE + """
protocols = ["hmipv6", "mipv6"]
seeds = [4, 9]
set = ["scenario.duration=25s"]
[parameters]
"defaults.l2_handover" = ["20ms", "50ms"]
"links[1].delay" = { from = 0, to = 30, step = 15, unit = "ms", label = "HA delay" }
"nodes.map1.preference" = { from = 2, to = 8, count = 3 }
"links[0].loss" = { values = [0.0, 0.01] }
""")
    keys = [p.key for p in st.parameters]
    assert keys == ["defaults.l2_handover", "links[1].delay", "nodes.map1.preference",
                    "links[0].loss"]
    assert st.parameters[1].values == ('"0ms"', '"15ms"', '"30ms"')
    assert st.parameters[1].label == "HA delay"
    assert st.parameters[2].values == ("2.0", "5.0", "8.0")
    assert st.parameters[3].values == ("0.0", "0.01")
    assert st.parameters[0].display(1) == "50ms"
    assert st.protocols == ("hmipv6", "mipv6")
    assert st.seeds == (4, 9)
    runs = st.runs("v")
    assert len(runs) == 2 * 3 * 3 * 2 * 2 * 2
    # Canonical order: first parameter slowest, then protocol (study order), then seed.
    first = runs[0]
    assert (first.point, first.protocol, first.seed) == (0, "hmipv6", 4)
    assert (runs[1].protocol, runs[1].seed, runs[2].protocol) == ("hmipv6", 9, "mipv6")
    assert first.overrides == ("scenario.duration=25s", 'defaults.l2_handover="20ms"',
                               'links[1].delay="0ms"', "nodes.map1.preference=2.0",
                               "links[0].loss=0.0", "scenario.seed=4")
    assert first.params == (("defaults.l2_handover", "20ms"), ("links[1].delay", "0ms"),
                            ("nodes.map1.preference", "2.0"), ("links[0].loss", "0.0"))
    assert len({r.key for r in runs}) == len(runs)


def test_a_run_loads_exactly_the_scenario_simulate_set_gives() -> None:
    st = loads_study(BASE + '[parameters]\n"links[1].delay" = ["35ms"]\n'
                            '"nodes.map1.preference" = [3]\n')
    spec = st.runs("v")[0]
    mine = loads(spec.scenario_text, source=spec.scenario_source, overrides=spec.overrides)
    theirs = load("figure1", ["links[1].delay=35ms", "nodes.map1.preference=3",
                              "scenario.seed=1"])
    assert mine.links[1].delay == pytest.approx(0.035)
    assert mine == theirs


def test_defaults() -> None:
    st = loads_study(BASE)
    assert st.protocols == ("mipv6", "hmipv6")
    assert st.seeds == (1,)
    assert st.parameters == ()
    assert st.metrics == ("handover.latency", "handover.lost")
    assert st.bound is False
    assert st.name == "study"
    assert len(st.runs("v")) == 2


def test_seeds_as_a_count_are_one_to_n() -> None:
    assert loads_study(BASE + "seeds = 3\n").seeds == (1, 2, 3)


def test_the_run_key_covers_scenario_overrides_protocol_seed_and_code() -> None:
    k = run_key("text", ("a=1",), "mipv6", 1, "0.1.0+x")
    assert len({k, run_key("text2", ("a=1",), "mipv6", 1, "0.1.0+x"),
                run_key("text", ("a=2",), "mipv6", 1, "0.1.0+x"),
                run_key("text", ("a=1",), "hmipv6", 1, "0.1.0+x"),
                run_key("text", ("a=1",), "mipv6", 2, "0.1.0+x"),
                run_key("text", ("a=1",), "mipv6", 1, "0.1.0+y")}) == 6
    assert k == run_key("text", ("a=1",), "mipv6", 1, "0.1.0+x")
    assert code_version().startswith("0.") and "+" in code_version()


def test_a_scenario_file_is_found_next_to_the_study(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(load_study("ha-distance").scenario_text)
    (tmp_path / "s.toml").write_text('[study]\nscenario = "mine.toml"\n')
    st = load_study(tmp_path / "s.toml")
    assert st.scenario_source == str(tmp_path / "mine.toml")
    assert st.name == "s"


def test_the_builtin_study() -> None:
    assert BUILTIN_STUDIES == ("ha-distance",)
    st = load_study("ha-distance")
    assert st.protocols == ("mipv6", "hmipv6", "fhmipv6")
    assert st.bound
    assert [p.key for p in st.parameters] == ["links[1].delay"]
    assert len(st.runs("v")) == 6 * 3 * 10


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("[study]\n", "study.scenario", "missing"),
    ('[study]\nscenario = "nowhere"\n', "study.scenario", "no such file"),
    (BASE + "colour = 1\n", "study.colour", "unknown key"),
    (BASE + 'protocols = ["mip"]\n', "study.protocols[0]", "unknown protocol"),
    (BASE + 'protocols = ["mipv6", "mipv6"]\n', "study.protocols", "twice"),
    (BASE + "seeds = 0\n", "study.seeds", "1..100000"),
    (BASE + "seeds = [1, 1]\n", "study.seeds", "twice"),
    (BASE + 'metrics = ["speed"]\n', "study.metrics[0]", "unknown metric"),
    (BASE + 'set = ["noequals"]\n', "study.set[0]", "KEY=VALUE"),
    (BASE + 'set = ["scenario.duration=1s"]\n', "study.scenario", "after the end"),
    (BASE + '[parameters]\n"scenario.seed" = [1, 2]\n', 'parameters."scenario.seed"', "seeds"),
    (BASE + '[parameters]\n"x" = ["1", "1"]\n', 'parameters."x"', "twice"),
    (BASE + '[parameters]\n"x" = []\n', 'parameters."x"', "no values"),
    (BASE + '[parameters]\n"x" = 3\n', 'parameters."x"', "expected a list"),
    (BASE + '[parameters]\n"x" = { from = 0, to = 5 }\n', 'parameters."x"', "one of step and count"),
    (BASE + '[parameters]\n"x" = { from = 5, to = 0, step = 1 }\n', 'parameters."x".to', "below"),
    (BASE + '[parameters]\n"x" = { from = 0, to = 5, step = 0 }\n', 'parameters."x".step',
     "positive"),
    (BASE + '[parameters]\n"x" = { from = 0, to = 5, stride = 1 }\n', 'parameters."x".stride',
     "unknown key"),
    (BASE + '[parameters]\n"seed" = [1]\n', 'parameters."seed"', "column name"),
    ("[study\n", None, "not valid TOML"),
])
def test_bad_studies_name_the_key(text: str, key: str | None, problem: str) -> None:
    with pytest.raises(StudyError) as e:
        loads_study(text, source="s.toml")
    assert e.value.key == key
    assert problem in e.value.problem
    assert str(e.value).startswith("s.toml: ")
