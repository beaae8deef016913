"""A MAP over a durable binding store (``binding_store = "durable"``) keeps its bindings
through a crash and restart (ARCHITECTURE.md: "a restarted MAP loses no binding"); over the
default in-memory store it loses them (RFC 4140 §10: "If a MAP fails, its binding cache
content will be lost"), and the data stops until the mobile node registers again.

The scenario is ``map-failure`` with map1 back at 9 s, one second after its crash: within the
mobile node's 60 s binding lifetime and before any access router's probe misses it, so the
mobile node never notices and never sends a BU because of the failure."""

from __future__ import annotations

from typing import Any

import pytest

from hmipv6.core.events import BindingCacheUpdated, BindingRemoved, BindingUpdateSent, DataReceived
from hmipv6.sim.network import run

from .sim_support import variant

CRASH, RESTART = 8.0, 9.0


def _run(store: str, restart: float = RESTART, duration: str = "60s") -> Any:
    sc = variant("map-failure",
                 ('at = "40s"\nnode = "map1"\nkind = "restart"',
                  f'at = "{restart}s"\nnode = "map1"\nkind = "restart"'),
                 ('preference = 12\n', f'preference = 12\nbinding_store = "{store}"\n'),
                 ('duration = "60s"', f'duration = "{duration}"'))
    return run(sc, keep_events=True)


def _first_data_after(log: list[tuple[str, Any]], t: float) -> float:
    return min(e.time for n, e in log if n == "mn" and isinstance(e, DataReceived) and e.time > t)


def _local_bus(log: list[tuple[str, Any]], start: float, end: float) -> list[float]:
    return [e.time for n, e in log if n == "mn" and isinstance(e, BindingUpdateSent)
            and e.kind == "local" and start <= e.time <= end]


@pytest.fixture(scope="module")
def durable() -> Any:
    return _run("durable")


@pytest.fixture(scope="module")
def memory() -> Any:
    return _run("memory")


def test_scenario_key_reaches_the_engine(durable: Any, memory: Any) -> None:
    assert durable.network.nodes["map1"].cache.store.durable is True
    assert memory.network.nodes["map1"].cache.store.durable is False
    assert durable.network.scenario.nodes["map1"].binding_store == "durable"
    assert memory.network.scenario.nodes["ha"].binding_store == "memory"


def test_durable_map_tunnels_right_after_restart_without_a_new_bu(durable: Any) -> None:
    log = durable.network.event_log
    first = _first_data_after(log, RESTART)
    # The next CBR packet (every 10 ms) through the restarted MAP reaches the MN.
    assert first - RESTART < 0.1
    # No BU from the MN between the crash and that packet: the MAP used the kept binding.
    assert _local_bus(log, CRASH, first) == []
    assert not [e for n, e in log if n == "map1" and isinstance(e, BindingRemoved)
                and e.time <= first]
    # Nothing was lost but what arrived while map1 was down (1 s of a 10 ms CBR flow).
    (flow,) = durable.report["flows"]
    assert flow["max_gap"] < 1.1
    assert flow["lost"] <= 110


def test_memory_map_loses_the_binding_until_the_mn_registers_again(memory: Any) -> None:
    log = memory.network.event_log
    lost = [e for n, e in log if n == "map1" and isinstance(e, BindingRemoved)]
    assert [(e.time, e.reason) for e in lost] == [(RESTART, "lost")]
    first = _first_data_after(log, RESTART)
    rebound = min(e.time for n, e in log if n == "map1" and isinstance(e, BindingCacheUpdated)
                  and e.time > RESTART)
    # Data comes back only once the MN's next local BU (its refresh) re-created the binding.
    assert _local_bus(log, RESTART, first)
    assert first > rebound > RESTART + 30
    (flow,) = memory.report["flows"]
    assert flow["max_gap"] > 30


@pytest.mark.req("MAP-07")
def test_a_binding_whose_lifetime_ran_out_while_down_is_removed_at_restart() -> None:
    """map1 down from 8 s to 70 s: the MN's binding (60 s lifetime, refreshed before 8 s and
    not since) expires while map1 is down; the durable store kept it, and the restart removes
    it as expired (RFC 6275 §9.5.2) instead of tunnelling with it."""
    r = _run("durable", restart=70.0, duration="75s")
    log = r.network.event_log
    updates = [e for n, e in log if n == "map1" and isinstance(e, BindingCacheUpdated)
               and e.time < CRASH]
    expiry = updates[-1].time + updates[-1].lifetime
    assert CRASH < expiry < 70.0
    removed = [(e.time, e.reason, e.home_address) for n, e in log
               if n == "map1" and isinstance(e, BindingRemoved)]
    assert removed == [(70.0, "expired", updates[-1].home_address)]
    # The MN (which failed over to map2 meanwhile) returns to map1: a new binding, created.
    again = [e for n, e in log if n == "map1" and isinstance(e, BindingCacheUpdated)
             and e.time >= 70.0]
    assert again and again[0].created
