"""A mobile node whose only flow is a ping gets handover latency and loss: the Echo Requests
arriving at it are its data (they used to be ignored, leaving latency and loss "-")."""

from __future__ import annotations

from typing import Any

import pytest

from hmipv6.core.events import LinkChanged
from hmipv6.net.eventlog import encode_event, report_from_logs
from hmipv6.sim.network import run
from hmipv6.sim.scenario import load
from hmipv6.sim.traffic import encode_probe


def test_ping_to_a_mobile_node_measures_its_handovers() -> None:
    ping = run(load("figure1", ["flows[0].kind=ping"]), protocol="hmipv6").report
    cbr = run(load("figure1"), protocol="hmipv6").report
    initial, move = ping["handovers"]
    assert move["kind"] == "intra-domain"
    assert move["latency"] is not None and move["timeline"]["first_data"] is not None
    assert isinstance(move["lost"], int) and move["lost"] > 0
    assert initial["latency"] is not None
    # The same probes on the same path as the CBR flow's: the same outage.
    assert (move["latency"], move["lost"]) == (cbr["handovers"][1]["latency"],
                                              cbr["handovers"][1]["lost"])
    flow = ping["flows"][0]
    assert flow["kind"] == "ping" and flow["lost"] == move["lost"]


def test_ping_from_a_mobile_node_still_counts_its_replies() -> None:
    sc = load("figure1", ["flows[0].kind=ping", "flows[0].from=mn", "flows[0].to=cn"])
    move = run(sc, protocol="hmipv6").report["handovers"][1]
    assert move["latency"] is not None and move["lost"] is not None


def test_testbed_logs_of_echo_requests_measure_handovers() -> None:
    """The testbed's report is rebuilt from the daemons' logs: an Echo Request logged at the
    mobile node (``"request": true``) is data for its handover, as in the simulator."""
    sc = load("figure1", ["flows[0].kind=ping"])
    flow = sc.flows[0]

    def line(t: float, node: str, kind: str, **fields: Any) -> dict[str, Any]:
        return {"t": t, "node": node, "kind": kind, **fields}

    lines = [line(0.0, "mn", "event", event=encode_event(
                 LinkChanged(time=0.0, ifname="wlan0", up=True, router="ar1"))),
             line(8.0, "mn", "event", event=encode_event(
                 LinkChanged(time=8.0, ifname="wlan0", up=False))),
             line(8.05, "mn", "event", event=encode_event(
                 LinkChanged(time=8.05, ifname="wlan0", up=True, router="ar2")))]
    sent = 0
    for k in range(1800):
        at = flow.start + k * flow.interval
        sent += 1
        if 700 <= k < 707:  # sent at 8.00 .. 8.06 s, in the outage: never arrive
            continue
        lines.append(line(at + 0.012, "mn", "arrival", flow=0, request=True,
                          probe=encode_probe(0, k, at, 16).hex()))
    lines.append(line(20.0, "cn", "final", state={"role": "correspondent"},
                      sent={"0": sent}, egress={}))
    lines.sort(key=lambda d: d["t"])
    rep = report_from_logs(sc, "hmipv6", lines)
    initial, move = rep["handovers"]
    assert move["lost"] == 7
    assert move["latency"] == pytest.approx(0.082)  # the request of 8.07 s + 12 ms
    assert initial["latency"] == pytest.approx(1.012)
