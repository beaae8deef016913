"""Scenario loading: values, defaults, overrides, generators, and one exact message per error."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from hmipv6.sim.scenario import (
    BUILTIN_SCENARIOS,
    AccessRouterSpec,
    MapSpec,
    MobileNodeSpec,
    Parameters,
    ScenarioError,
    builtin_path,
    load,
    loads,
    parse_bandwidth,
    parse_duration,
)

BASE = """
[scenario]
name = "t"
duration = "20s"

[defaults]
l2_handover = "50ms"

[nodes.cn]
role = "correspondent"
address = "2001:db8:c::1"

[nodes.ha]
role = "home-agent"
address = "2001:db8:f::1"

[nodes.inet]
role = "router"

[nodes.map1]
role = "map"
address = "2001:db8:100::1"

[nodes.ar1]
role = "access-router"
prefix = "2001:db8:a1::/64"
advertise_maps = ["map1"]

[nodes.ar2]
role = "access-router"
prefix = "2001:db8:a2::/64"
advertise_maps = ["map1"]

[nodes.mn]
role = "mobile-node"
home_agent = "ha"
home_address = "2001:db8:f::100"

[[links]]
between = ["cn", "inet"]
delay = "10ms"

[[links]]
between = ["ha", "inet"]
delay = "10ms"

[[links]]
between = ["inet", "map1"]
delay = "10ms"

[[links]]
between = ["map1", "ar1"]
delay = "2ms"

[[links]]
between = ["map1", "ar2"]
delay = "2ms"

[[cells]]
router = "ar1"

[[cells]]
router = "ar2"

[[moves]]
mn = "mn"
at = "0s"
attach = "ar1"

[[moves]]
mn = "mn"
at = "8s"
attach = "ar2"

[[flows]]
from = "cn"
to = "mn"
interval = "10ms"
start = "1s"
stop = "19s"
"""


def error(text: str, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ScenarioError) as info:
        loads(text, source="s.toml", overrides=overrides)
    return str(info.value)


def replaced(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# -- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("20s", 20.0), ("150ms", 0.15), ("2.5s", 2.5), (" 40us ", 40e-6), (3, 3.0), (0.25, 0.25),
    ("0s", 0.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["20", "-1s", "1h", "fast", True, -2, float("inf"), [1]])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "bps"), [
    ("100Mbps", 100e6), ("11Mbps", 11e6), ("64kbps", 64e3), ("1Gbps", 1e9), ("2.5 Mbps", 2.5e6),
    (1000, 1000.0),
])
def test_bandwidths(text: object, bps: float) -> None:
    assert parse_bandwidth(text) == bps


def test_base_scenario_values_and_derived_things() -> None:
    s = loads(BASE, source="s.toml")
    assert (s.name, s.duration, s.seed, s.protocol, s.profile) == ("t", 20.0, 1, "hmipv6", "rfc4140")
    assert s.defaults == Parameters(l2_handover=0.05)
    mn = s.nodes["mn"]
    assert isinstance(mn, MobileNodeSpec)
    assert mn.home_address == IPv6Address("2001:db8:f::100")
    assert int(mn.interface_id) >> 64 == 0 and int(mn.interface_id) != 0
    ar1 = s.nodes["ar1"]
    assert isinstance(ar1, AccessRouterSpec)
    assert ar1.address == IPv6Address("2001:db8:a1::1")
    assert ar1.advertise_maps == ("map1",)
    assert s.links[0].bandwidth == 100e6 and s.links[0].queue == 100
    assert s.cells[0].bandwidth == 11e6
    assert [(m.mn, m.at, m.attach) for m in s.moves] == [("mn", 0.0, "ar1"), ("mn", 8.0, "ar2")]
    f = s.flows[0]
    assert (f.src, f.dst, f.kind, f.interval, f.size, f.start, f.stop) == (
        "cn", "mn", "cbr", 0.01, 160, 1.0, 19.0)
    assert [i.name for i in s.interfaces["map1"]] == ["eth0", "eth1", "eth2"]
    assert s.interface_towards("map1", "ar2").name == "eth2"
    assert s.interface_towards("ar2", "map1").peer_ifname == "eth2"
    assert [i.name for i in s.interfaces["ar1"]] == ["eth0", "wlan0"]
    assert [i.name for i in s.interfaces["mn"]] == ["wlan0"]
    assert s.routing is not None
    assert s.routing.path("cn", IPv6Address("2001:db8:f::100")) == ["cn", "inet", "ha"]
    assert s.routing.path("ha", IPv6Address("2001:db8:100::99")) == ["ha", "inet", "map1"]


def test_per_node_parameters_override_defaults() -> None:
    s = loads(replaced('home_address = "2001:db8:f::100"',
                       'home_address = "2001:db8:f::100"\nl2_handover = "100ms"\ndad = "none"'))
    assert s.nodes["mn"].parameters == Parameters(l2_handover=0.1, dad="none")
    assert s.nodes["cn"].parameters == Parameters(l2_handover=0.05)


def test_set_overrides() -> None:
    s = loads(BASE, overrides=("defaults.l2_handover=100ms", "nodes.map1.preference=5",
                               "flows[0].interval=20ms", "scenario.seed=7",
                               'defaults.ra_interval=["1s", "2s"]'))
    assert s.defaults.l2_handover == 0.1 and s.defaults.ra_interval == (1.0, 2.0)
    m = s.nodes["map1"]
    assert isinstance(m, MapSpec) and m.preference == 5
    assert s.flows[0].interval == 0.02
    assert s.seed == 7


# -- errors: exact messages ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    (replaced("[defaults]", "[defaults]\nl2_handoff = \"1s\""),
     "s.toml: defaults.l2_handoff: unknown key (expected one of: ra_interval, dad, l2_handover, "
     "binding_lifetime, security, fh_anticipation, simultaneous_bindings)"),
    (replaced('role = "map"', 'role = "map"\nweight = 3'),
     "s.toml: nodes.map1.weight: unknown key (expected one of: role, address, preference, "
     "valid_lifetime, valid_lcoa_prefixes, relay_maps, binding_store, trusted_upstream, ike, "
     "ra_interval, dad, l2_handover, binding_lifetime, security, fh_anticipation, simultaneous_bindings)"),
    (BASE + "\n[extra]\n", "s.toml: extra: unknown key (expected one of: scenario, defaults, "
     "nodes, links, cells, moves, flows, faults, routes, sas, generate, apps)"),
    (replaced('duration = "20s"', 'duration = "20 seconds"'),
     's.toml: scenario.duration: bad duration \'20 seconds\': expected a number of seconds or a '
     'string like "20s", "150ms", "2.5s"'),
    (replaced('interval = "10ms"', 'interval = "0ms"'),
     "s.toml: flows[0].interval: must be greater than zero, got '0ms'"),
    (replaced('address = "2001:db8:c::1"', 'address = "2001:db8:c::zz"'),
     "s.toml: nodes.cn.address: '2001:db8:c::zz' is not an IPv6 address"),
    (replaced('address = "2001:db8:c::1"', 'address = "fe80::1"'),
     "s.toml: nodes.cn.address: 'fe80::1' is not a global unicast address"),
    (replaced('prefix = "2001:db8:a1::/64"', 'prefix = "2001:db8:a1::/48"'),
     "s.toml: nodes.ar1.prefix: 2001:db8:a1::/48 is not a /64 (stateless autoconfiguration "
     "needs 64-bit interface identifiers, RFC 4862 §5.5.3)"),
    (replaced('prefix = "2001:db8:a1::/64"', 'prefix = "2001:db8:a1::1/64"'),
     "s.toml: nodes.ar1.prefix: '2001:db8:a1::1/64' is not an IPv6 prefix "
     "(2001:db8:a1::1/64 has host bits set)"),
    (replaced('role = "router"', 'role = "switch"'),
     "s.toml: nodes.inet.role: 'switch' is not one of: 'correspondent', 'home-agent', 'router', "
     "'map', 'access-router', 'mobile-node'"),
    (replaced('home_agent = "ha"', 'home_agent = "ha9"'),
     "s.toml: nodes.mn.home_agent: unknown node 'ha9'"),
    (replaced('home_agent = "ha"', 'home_agent = "cn"'),
     "s.toml: nodes.mn.home_agent: 'cn' is a correspondent, expected a home-agent"),
    (replaced('advertise_maps = ["map1"]', 'advertise_maps = ["ar2"]'),
     "s.toml: nodes.ar1.advertise_maps[0]: 'ar2' is an access-router, expected a map"),
    (replaced('home_address = "2001:db8:f::100"', 'home_address = "2001:db8:e::100"'),
     "s.toml: nodes.mn.home_address: 2001:db8:e::100 is not in the home prefix "
     "2001:db8:f::/64 of home agent 'ha'"),
    (replaced('between = ["cn", "inet"]', 'between = ["cn", "internet"]'),
     "s.toml: links[0].between: unknown node 'internet'"),
    (replaced('between = ["cn", "inet"]', 'between = ["cn", "mn"]'),
     "s.toml: links[0].between: 'mn' is a mobile node: it reaches the network through "
     "[[cells]] and [[moves]], not wired links"),
    (replaced('between = ["map1", "ar2"]', 'between = ["ar1", "map1"]'),
     "s.toml: links[4].between: 'ar1' and 'map1' are already linked by links[3]"),
    (replaced('between = ["cn", "inet"]\ndelay = "10ms"', 'between = ["cn", "inet"]\nloss = 1.5'),
     "s.toml: links[0].loss: 1.5 is not a probability between 0 and 1"),
    (replaced('router = "ar2"', 'router = "ar1"'),
     "s.toml: cells[1].router: 'ar1' already has a cell (cells[0])"),
    (replaced('[[cells]]\nrouter = "ar2"\n', ""),
     "s.toml: moves[1].attach: access router 'ar2' has no [[cells]] entry"),
    (replaced('at = "8s"\nattach = "ar2"', 'at = "8s"\ndetach = false'),
     's.toml: moves[1]: give exactly one of attach = "<access router>" or detach = true'),
    (replaced('at = "8s"', 'at = "21s"'),
     "s.toml: moves[1].at: 21s is after the end of the scenario (20s)"),
    (replaced('at = "8s"', 'at = "0s"'),
     "s.toml: moves[1].at: 'mn' already moves at 0s (moves[0])"),
    (replaced('from = "cn"', 'from = "inet"'),
     "s.toml: flows[0].from: router 'inet' has no address to send from"),
    (replaced('start = "1s"', 'start = "19s"'),
     "s.toml: flows[0].start: 19s is not before stop (19s)"),
    (replaced('interval = "10ms"', 'interval = "10ms"\nsize = 8'),
     "s.toml: flows[0].size: 8 is out of range (16..65000)"),
    (BASE + '[[faults]]\nat = "5s"\nnode = "map1"\nkind = "explode"\n',
     "s.toml: faults[0].kind: 'explode' is not one of: 'crash', 'restart', 'link-down', "
     "'link-up', 'preference'"),
    (BASE + '[[faults]]\nat = "5s"\nnode = "map1"\nkind = "preference"\n',
     's.toml: faults[0].value: missing (required for kind = "preference")'),
    (BASE + '[[faults]]\nat = "5s"\nnode = "ar1"\nkind = "preference"\nvalue = 1\n',
     "s.toml: faults[0].node: 'ar1' is an access-router, expected a map"),
    (BASE + '[[faults]]\nat = "5s"\nnode = "map1"\nkind = "restart"\n',
     "s.toml: faults[0].kind: 'map1' restarts without having crashed"),
    (BASE + '[[faults]]\nat = "5s"\nnode = "map1"\nkind = "link-down"\npeer = "cn"\n',
     "s.toml: faults[0].peer: no [[links]] entry between 'map1' and 'cn'"),
    (replaced('[scenario]\nname = "t"\nduration = "20s"', '[scenario]\nname = "t"'),
     "s.toml: scenario.duration: missing (required)"),
    (replaced('[nodes.inet]\nrole = "router"', '[nodes.inet]'),
     "s.toml: nodes.inet.role: missing (required; one of: correspondent, home-agent, router, "
     "map, access-router, mobile-node)"),
])
def test_errors_name_file_key_and_problem(text: str, message: str) -> None:
    assert error(text) == message


def test_mobile_node_with_no_cell() -> None:
    text = replaced("[[flows]]", '[nodes.mn2]\nrole = "mobile-node"\nhome_agent = "ha"\n'
                    'home_address = "2001:db8:f::200"\n\n[[flows]]')
    assert error(text) == ('s.toml: nodes.mn2: mobile node never attaches to a cell: give it a '
                           '[[moves]] entry with attach = "<access router with a cell>"')


def test_unreachable_prefix() -> None:
    text = replaced('[[links]]\nbetween = ["map1", "ar2"]\ndelay = "2ms"\n', "")
    assert error(text) == ("s.toml: nodes.cn.address: 2001:db8:c::1/128 of 'cn' is unreachable "
                           "from 'ar2' (no path of [[links]])")


def test_routing_loop_from_static_routes() -> None:
    text = BASE + ('[[routes]]\nnode = "inet"\nprefix = "2001:db8:f::/64"\nvia = "map1"\n\n'
                   '[[routes]]\nnode = "map1"\nprefix = "2001:db8:f::/64"\nvia = "inet"\n')
    assert error(text) == ("s.toml: routes[0]: routing loop for 2001:db8:f::/64: "
                           "inet -> map1 -> inet")


def test_static_route_that_is_not_a_loop_is_used() -> None:
    text = replaced('between = ["map1", "ar2"]', 'between = ["ar1", "ar2"]') + (
        '[[routes]]\nnode = "ar2"\nprefix = "2001:db8:f::/64"\nvia = "ar1"\n')
    s = loads(text)
    assert s.routing is not None
    hop = s.routing.route("ar2", IPv6Network("2001:db8:f::/64"))
    assert hop.via == "ar1" and hop.static


def test_static_route_via_a_non_neighbour() -> None:
    text = BASE + '[[routes]]\nnode = "cn"\nprefix = "2001:db8:f::/64"\nvia = "map1"\n'
    assert error(text) == "s.toml: routes[0].via: 'map1' is not a neighbour of 'cn'"


def test_duplicate_prefix() -> None:
    text = replaced('address = "2001:db8:100::1"', 'address = "2001:db8:f::2"')
    assert error(text) == ("s.toml: nodes.map1.address: 2001:db8:f::/64 is also routed to 'ha' "
                           "(nodes.ha.address)")


def test_errors_from_set_say_so() -> None:
    assert error(BASE, ("defaults.l2_handover=soon",)) == (
        "s.toml: defaults.l2_handover (from --set): bad duration 'soon': expected a number of "
        'seconds or a string like "20s", "150ms", "2.5s"')
    assert error(BASE, ("nodes.map1.preference=16",)) == (
        "s.toml: nodes.map1.preference (from --set): 16 is out of range (0..15)")
    assert error(BASE, ("nodes.map9.preference=5",)) == (
        "s.toml: --set nodes.map9.preference: unknown node 'map9'")
    assert error(BASE, ("nodes.map1.preferense=5",)) == (
        "s.toml: nodes.map1.preferense (from --set): unknown key (expected one of: role, address, "
        "preference, valid_lifetime, valid_lcoa_prefixes, relay_maps, binding_store, trusted_upstream, "
        "ike, "
        "ra_interval, dad, l2_handover, binding_lifetime, security, fh_anticipation, "
        "simultaneous_bindings)")
    assert error(BASE, ("flows[3].interval=1s",)) == (
        "s.toml: --set flows[3].interval: no entry 3 in flows (it has 1)")
    assert error(BASE, ("duration",)) == "s.toml: --set: expected key=value, got 'duration'"


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    assert error("[scenario\n").startswith("s.toml: not valid TOML: ")
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load(missing)
    assert str(info.value) == f"{missing}: no such file"
    with pytest.raises(ScenarioError) as info:
        load("figure9")
    assert str(info.value) == ("figure9: no such file (built-in scenarios: figure1, two-domains, "
                               "dynamic-discovery, map-failure, route-optimisation, many-mobiles)")


def test_load_from_a_path_names_that_path(tmp_path: Path) -> None:
    p = tmp_path / "mine.toml"
    p.write_text(replaced('delay = "2ms"', 'delay = "2 ms please"'))
    with pytest.raises(ScenarioError) as info:
        load(p)
    assert str(info.value).startswith(f"{p}: links[3].delay: bad duration")
    p.write_text(BASE.replace('name = "t"\n', ""))
    assert load(p).name == "mine"


# -- generator ----------------------------------------------------------------------------------


def test_generated_mobile_nodes_are_deterministic_and_walk_the_grid() -> None:
    text = BASE + """
[generate.mobile_nodes]
count = 12
home_agent = "ha"
cells = ["ar1", "ar2"]
columns = 2
dwell = ["1s", "3s"]
node = { map_selection = "nearest" }
flow = { from = "cn", interval = "50ms", size = 64, every = 4 }
"""
    a = loads(text)
    b = loads(text)
    assert a == b
    gen = [n for n in a.of_role(MobileNodeSpec) if n.name != "mn"]
    assert [n.name for n in gen][:3] == ["mn00", "mn01", "mn02"]
    assert gen[0].home_address == IPv6Address("2001:db8:f::1000")
    assert all(n.map_selection == "nearest" for n in gen)
    assert [f.dst for f in a.flows[1:]] == ["mn00", "mn04", "mn08"]
    for n in gen:
        moves = [m for m in a.moves if m.mn == n.name]
        assert moves[0].at == 0.0
        assert all(x.attach != y.attach for x, y in pairwise(moves))
    other = loads(text, overrides=("scenario.seed=2",))
    assert other.moves != a.moves


# -- built-ins ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_builtin_scenarios_validate(name: str) -> None:
    path = builtin_path(name)
    assert path is not None and path.exists()
    s = load(name)
    assert s.moves and s.routing is not None


def test_many_mobiles_is_big_enough() -> None:
    s = load("many-mobiles")
    assert len(s.of_role(MobileNodeSpec)) >= 1000
    assert len(s.of_role(AccessRouterSpec)) >= 20
    assert len(s.of_role(MapSpec)) == 4


# -- robustness ---------------------------------------------------------------------------------

_WRONG = [None, 3, -1, 2.5, True, "x", "", [], ["a"], [1, 2], {}, {"a": 1}, "2001:db8::1", "10ms"]


def _paths(obj: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) \
        else []
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


@pytest.mark.parametrize("mn_first", [False, True])
def test_any_wrong_value_or_missing_key_is_a_scenario_error(mn_first: bool) -> None:
    import copy
    import tomllib

    from hmipv6.sim.scenario import _Loader

    raw = tomllib.loads(BASE)
    if mn_first:
        raw["nodes"] = {"mn": raw["nodes"].pop("mn"), **raw["nodes"]}
    for path in _paths(raw):
        for value in [*_WRONG, KeyError]:
            r = copy.deepcopy(raw)
            where: Any = r
            for part in path[:-1]:
                where = where[part]
            if value is KeyError:
                del where[path[-1]]
            else:
                where[path[-1]] = value
            try:
                _Loader("s.toml", r, ()).scenario()
            except ScenarioError as e:
                assert str(e).startswith("s.toml: ")
