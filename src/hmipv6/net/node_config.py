"""One node's daemon configuration: ``hmipv6 node --config FILE`` (format ``hmipv6-node/1``).

Theory of operation
-------------------
A deployed node needs two things: the network it belongs to and its own place in it. The
network is a scenario file (nodes, addresses, prefixes, links, keys and seeds: every daemon
of one network must use the same file, since keys and addresses are derived from it); the
place is this file, TOML::

    format = "hmipv6-node/1"
    scenario = "/etc/hmipv6/network.toml"   # relative paths are relative to this file
    node = "map1"                            # the scenario's node this host runs
    log = "/var/log/hmipv6/map1.jsonl"       # the event log (JSON lines)
    # optional:
    protocol = "hmipv6"                      # default: the scenario's
    set = ["defaults.binding_lifetime=600s"] # overrides, as hmipv6 simulate --set
    duration = 12.0                          # seconds: the scenario cut short, as --duration
    shaping = false                          # emulate the scenario's link delays (testbed)
    tun = true                               # a mobile node: home address on TUN hmip0
    control = "none"                         # "none": start now, stop on SIGTERM/SIGINT;
                                             # "stdin": the testbed's start/stop lines
    set_mac = true                           # give each interface the engine's MAC

    [interfaces]                             # engine interface = this host's interface
    eth0 = "enp3s0"
    eth1 = "vxlan42"

    [cells]                                  # a mobile node: access router = interface
    ar1 = "wlp2s0"

The engine interfaces are the scenario's (``eth0``, ``eth1``... in ``[[links]]`` order, and
``wlan0`` for an access router's cell); every one of the node's engine interfaces must be
mapped. A mobile node maps each access router whose cell it may join to the interface it
reaches that cell through (one radio: every cell interface carries the engine's ``wlan0``).

MACs: peers address a daemon's frames to the MAC inside its link-local address (the engine's
deterministic one, :func:`hmipv6.core.node.link_local_for`), so with ``set_mac`` (default)
the daemon sets each interface's MAC to the engine's before it starts (a mobile node's cell
interfaces all to its ``wlan0`` one). The kernel's IPv6 should be off on those interfaces
(``sysctl net.ipv6.conf.IF.disable_ipv6=1``): the daemon is the IPv6 stack there.

The testbed writes one such file per daemon (``<out>/config/<node>.toml``, with
``control = "stdin"``, ``set_mac = false``: the topology set them) and starts each daemon
from it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmipv6.core.node import link_local_for
from hmipv6.errors import HMIPv6Error
from hmipv6.net.topology import Port
from hmipv6.sim.scenario import MobileNodeSpec, Scenario

__all__ = ["FORMAT", "ConfigError", "NodeConfig", "load_config", "ports", "write_config"]

FORMAT = "hmipv6-node/1"
_KEYS = ("format", "scenario", "node", "log", "protocol", "set", "duration", "shaping", "tun",
         "control", "set_mac", "interfaces", "cells", "run")


class ConfigError(HMIPv6Error):
    """A node configuration file that cannot be used (names the file and the key)."""


@dataclass(frozen=True)
class NodeConfig:
    path: Path
    scenario: Path
    node: str
    log: Path
    protocol: str | None = None
    overrides: tuple[str, ...] = ()
    duration: float | None = None
    """Seconds: the scenario's duration cut to this (applied after ``overrides``, as
    ``--duration``); ``None``: the scenario's own."""
    shaping: bool = False
    tun: bool = False
    control: str = "none"
    set_mac: bool = True
    interfaces: dict[str, str] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)
    run: str = "0"
    """The testbed's run id (its log lines); any string elsewhere."""


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, cfg: NodeConfig) -> None:
    """Write ``cfg`` as a ``hmipv6-node/1`` file at ``path``."""
    lines = [f"format = {_q(FORMAT)}", f"scenario = {_q(str(cfg.scenario))}",
             f"node = {_q(cfg.node)}", f"log = {_q(str(cfg.log))}", f"run = {_q(cfg.run)}"]
    if cfg.protocol:
        lines.append(f"protocol = {_q(cfg.protocol)}")
    if cfg.overrides:
        lines.append("set = [" + ", ".join(_q(o) for o in cfg.overrides) + "]")
    if cfg.duration is not None:
        lines.append(f"duration = {float(cfg.duration)!r}")
    lines += [f"shaping = {str(cfg.shaping).lower()}", f"tun = {str(cfg.tun).lower()}",
              f"control = {_q(cfg.control)}", f"set_mac = {str(cfg.set_mac).lower()}"]
    for table, values in (("interfaces", cfg.interfaces), ("cells", cfg.cells)):
        if values:
            lines += ["", f"[{table}]"] + [f"{k} = {_q(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_config(path: Path) -> NodeConfig:
    """Read and check a node configuration (the scenario is loaded by the caller)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {problem}")

    for k in raw:
        if k not in _KEYS:
            raise fail(k, f"unknown key (expected one of: {', '.join(_KEYS)})")
    if raw.get("format", FORMAT) != FORMAT:
        raise fail("format", f"expected {FORMAT!r}, got {raw['format']!r}")

    def text(key: str, default: str | None = None) -> str:
        v = raw.get(key, default)
        if not isinstance(v, str) or not v:
            raise fail(key, "missing" if v is None else f"expected a string, got {v!r}")
        return v

    def flag(key: str, default: bool) -> bool:
        v = raw.get(key, default)
        if not isinstance(v, bool):
            raise fail(key, f"expected true or false, got {v!r}")
        return v

    def table(key: str) -> dict[str, str]:
        v: Any = raw.get(key, {})
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            raise fail(key, "expected a table of names = \"interface\"")
        return dict(v)

    overrides = raw.get("set", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise fail("set", "expected a list of \"key=value\" strings")
    duration = raw.get("duration")
    if duration is not None and (isinstance(duration, bool)
                                 or not isinstance(duration, int | float) or duration <= 0):
        raise fail("duration", f"expected a number of seconds > 0, got {duration!r}")
    control = text("control", "none")
    if control not in ("none", "stdin"):
        raise fail("control", f"expected \"none\" or \"stdin\", got {control!r}")
    base = path.parent
    return NodeConfig(path=path, scenario=base / text("scenario"), node=text("node"),
                      log=base / text("log"),
                      protocol=raw["protocol"] if isinstance(raw.get("protocol"), str) else None,
                      overrides=tuple(overrides),
                      duration=float(duration) if duration is not None else None,
                      shaping=flag("shaping", False),
                      tun=flag("tun", False), control=control, set_mac=flag("set_mac", True),
                      interfaces=table("interfaces"), cells=table("cells"),
                      run=text("run", "0"))


def ports(sc: Scenario, cfg: NodeConfig) -> list[Port]:
    """The daemon's ports (engine interface, this host's interface, MAC) from ``cfg``;
    :class:`ConfigError` when an engine interface or cell is missing or unknown."""
    name = cfg.node
    if name not in sc.nodes:
        raise ConfigError(f"{cfg.path}: node: no node {name!r} in {sc.source}")
    spec = sc.nodes[name]
    engine = [i.name for i in sc.interfaces.get(name, ())]
    out: list[Port] = []
    if isinstance(spec, MobileNodeSpec):
        cells = {c.router for c in sc.cells}
        for ar in cfg.cells:
            if ar not in cells:
                raise ConfigError(f"{cfg.path}: cells.{ar}: no cell of that access router "
                                  f"in {sc.source}")
        if not cfg.cells:
            raise ConfigError(f"{cfg.path}: cells: a mobile node needs at least one cell")
        mac = link_local_for(name, "wlan0")[1]
        return [Port(name, kernel, "wlan0", mac, cell=ar) for ar, kernel in cfg.cells.items()]
    for ifname in engine:
        if ifname not in cfg.interfaces:
            raise ConfigError(f"{cfg.path}: interfaces.{ifname}: missing (node {name!r} has "
                              f"{', '.join(engine)})")
    for ifname in cfg.interfaces:
        if ifname not in engine:
            raise ConfigError(f"{cfg.path}: interfaces.{ifname}: node {name!r} has no such "
                              f"interface (it has {', '.join(engine)})")
    for ifname in engine:
        out.append(Port(name, cfg.interfaces[ifname], ifname, link_local_for(name, ifname)[1]))
    return out
