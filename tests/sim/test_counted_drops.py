"""Drops counted without an event (``Node.report_drops``, issue 12) change no output.

Without an event log the simulator's nodes count their drops but emit no ``PacketDropped``
(the metrics would only have counted them). The report, the pcaps and ``engine_events`` must
be those of a run that keeps every event, and the drops counted so must be the
``PacketDropped`` events that run logs.
"""

from __future__ import annotations

import pytest

from hmipv6.core.events import PacketDropped
from hmipv6.sim.network import run
from hmipv6.sim.report import dumps

SMALL = ("generate.mobile_nodes.count=60", "scenario.duration=12s",
         "generate.mobile_nodes.flow.stop=11s", "generate.mobile_nodes.flow.every=2")


@pytest.mark.parametrize(("scenario", "overrides"), [("figure1", ()), ("many-mobiles", SMALL)])
def test_a_run_without_an_event_log_reports_what_a_run_with_one_reports(
        scenario: str, overrides: tuple[str, ...]) -> None:
    quiet = run(scenario, capture=True, overrides=overrides)
    logged = run(scenario, capture=True, keep_events=True, overrides=overrides)
    assert quiet.network is not None and logged.network is not None
    log = logged.network.event_log
    assert log is not None
    assert not any(n.report_drops for n in quiet.network.nodes.values())
    assert all(n.report_drops for n in logged.network.nodes.values())
    dropped = sum(1 for _, e in log if isinstance(e, PacketDropped))
    assert quiet.network.unreported_drops() == dropped
    if scenario == "many-mobiles":
        assert dropped > 100  # stations dropping frames for others, Router Solicitations
    assert logged.network.unreported_drops() == 0
    assert quiet.counters["engine_events"] == logged.counters["engine_events"] == len(log)
    assert dumps(quiet.report) == dumps(logged.report)
    assert quiet.pcaps == logged.pcaps
