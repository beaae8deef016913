"""``hmipv6 node --config FILE`` files (net.node_config): round trip, the ports they give, and
every mistake named by file and key (no namespaces needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hmipv6.core.node import link_local_for
from hmipv6.net.node_config import ConfigError, NodeConfig, load_config, ports, write_config
from hmipv6.sim.scenario import load


def test_round_trip_and_ports(tmp_path: Path) -> None:
    sc = load("figure1")
    cfg = NodeConfig(path=tmp_path / "map1.toml", scenario=Path("net.toml"), node="map1",
                     log=Path("logs/map1.jsonl"), overrides=("defaults.dad=\"optimistic\"",),
                     interfaces={"eth0": "enp3s0", "eth1": "vx1", "eth2": "vx2"})
    write_config(cfg.path, cfg)
    back = load_config(cfg.path)
    assert back.scenario == tmp_path / "net.toml" and back.log == tmp_path / "logs/map1.jsonl"
    assert (back.node, back.overrides, back.control, back.set_mac) == (
        "map1", cfg.overrides, "none", True)
    got = [(p.engine, p.kernel, p.mac) for p in ports(sc, back)]
    assert got == [(e, k, link_local_for("map1", e)[1]) for e, k in cfg.interfaces.items()]
    mn = NodeConfig(path=tmp_path / "mn.toml", scenario=Path("net.toml"), node="mn",
                    log=Path("mn.jsonl"), tun=True, cells={"ar1": "wlp2s0", "ar2": "wlp3s0"})
    write_config(mn.path, mn)
    mports = ports(sc, load_config(mn.path))
    assert [(p.engine, p.kernel, p.cell) for p in mports] == [
        ("wlan0", "wlp2s0", "ar1"), ("wlan0", "wlp3s0", "ar2")]
    assert {p.mac for p in mports} == {link_local_for("mn", "wlan0")[1]}


@pytest.mark.parametrize(("text", "message"), [
    ('node = "map1"\nlog = "x"', "scenario: missing"),
    ('scenario = "s"\nnode = "map1"\nlog = "x"\nport = 1', "port: unknown key"),
    ('format = "hmipv6-node/9"\nscenario = "s"\nnode = "n"\nlog = "x"', "format: expected"),
    ('scenario = "s"\nnode = "n"\nlog = "x"\ntun = "yes"', "tun: expected true or false"),
    ('scenario = "s"\nnode = "n"\nlog = "x"\ncontrol = "tty"', 'control: expected "none"'),
    ('scenario = "s"\nnode = "n"\nlog = "x"\nset = "a=b"', "set: expected a list"),
    ('scenario = "s"\nnode = "n"\nlog = "x"\n[interfaces]\neth0 = 3', "interfaces: expected"),
    ("scenario = ", "not valid TOML"),
])
def test_bad_files_are_named_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "n.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


@pytest.mark.parametrize(("node", "interfaces", "cells", "message"), [
    ("map1", {"eth0": "a", "eth1": "b"}, {}, "interfaces.eth2: missing (node 'map1' has"),
    ("map1", {"eth0": "a", "eth1": "b", "eth2": "c", "eth7": "d"}, {},
     "interfaces.eth7: node 'map1' has no such interface"),
    ("mn", {}, {}, "cells: a mobile node needs at least one cell"),
    ("mn", {}, {"ar9": "w"}, "cells.ar9: no cell of that access router"),
    ("nobody", {}, {}, "node: no node 'nobody'"),
])
def test_ports_refuse_what_does_not_fit_the_scenario(tmp_path: Path, node: str,
                                                     interfaces: dict[str, str],
                                                     cells: dict[str, str], message: str) -> None:
    cfg = NodeConfig(path=tmp_path / "n.toml", scenario=Path("s"), node=node, log=Path("l"),
                     interfaces=interfaces, cells=cells)
    with pytest.raises(ConfigError, match=None) as e:
        ports(load("figure1"), cfg)
    assert message in str(e.value)


def test_node_command_reports_a_bad_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "n.toml"
    path.write_text('scenario = "missing.toml"\nnode = "map1"\nlog = "x"\n')
    r = subprocess.run(["hmipv6", "node", "--config", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("hmipv6 node: ") and "no such file" in r.stderr
