"""``Metrics.on_event`` skips, by a set lookup, the event classes it never reads; a class it
reads must therefore have a handler in ``metrics._HANDLERS`` (``_READ`` and ``_IGNORED`` are
derived from it), or its events would be skipped silently. The chain of
``isinstance`` it replaced is kept below as the reference the table is held to."""

from __future__ import annotations

import pytest

from hmipv6.core import events
from hmipv6.core.events import (
    BindingAcknowledged,
    BindingCacheUpdated,
    BindingRemoved,
    BindingUpdateSent,
    CareOfAddressConfigured,
    Event,
    FastBindingAcknowledged,
    FastBindingUpdateSent,
    HandoverCompleted,
    LinkChanged,
    MapFailed,
    MapRecovered,
    MapSelected,
    MovementDetected,
    RouterAdvertisementReceived,
    UnsolicitedNeighborAdvertisementSent,
)
from hmipv6.sim import metrics
from hmipv6.sim.network import run


def test_every_event_class_on_event_reads_has_a_handler_and_is_not_skipped() -> None:
    assert set(metrics._HANDLERS) == set(metrics._READ)
    assert not set(metrics._HANDLERS) & metrics._IGNORED


def test_a_skipped_event_changes_nothing_but_the_count() -> None:
    m = metrics.Metrics("hmipv6", set(), set(), set())
    m.on_event("mn", events.LinkChanged(time=1.0, ifname="wlan0", up=True, router="ar1"))
    before = (len(m.handovers), dict(m.node_counts), m.map_events[:])
    m.on_event("mn", events.PacketDropped(time=1.5, reason="not-for-us", detail="2001:db8::1"))
    assert (len(m.handovers), dict(m.node_counts), m.map_events[:]) == before
    assert m.events == 2


def reference_on_event(self: metrics.Metrics, node: str, e: Event) -> None:
    """``Metrics.on_event`` before its handler table (2a081eb), verbatim."""
    self.events += 1
    if type(e) in metrics._IGNORED:
        return
    if isinstance(e, LinkChanged):
        if not e.up:
            self._last_down[node] = e.time
            rec = self._open.get(node)
            if rec is not None and rec.to is not None:
                self._last_router[node] = rec.to
            return
        prev = self._last_router.get(node)
        rec = metrics.HandoverRecord(
            mn=node, to=e.router, frm=prev,
            l2_down=self._last_down.get(node) if prev is not None else None, l2_up=e.time)
        if prev is None:
            rec.kind = "initial"
        held = self._fast_held.pop(node, None)
        if held:
            rec.fbu_sent = held.get("fbu_sent")
            rec.fback_received = held.get("fback_received")
        self._open[node] = rec
        self.handovers.append(rec)
        self._last_router[node] = e.router
        return
    if isinstance(e, BindingCacheUpdated):
        self.node_counts.setdefault(node, metrics.Counter())["bu_accepted"] += 1
        return
    if isinstance(e, BindingRemoved):
        self.node_counts.setdefault(node, metrics.Counter())["bindings_removed"] += 1
        return
    if isinstance(e, BindingAcknowledged) and e.status >= 128:
        self.rejected_by[e.by.packed] += 1
    if isinstance(e, MapFailed | MapRecovered):
        failed = isinstance(e, MapFailed)
        self.map_events.append((e.time, node, str(e.map), "failed" if failed else "recovered"))
        if failed:
            self._map_failed[node] = e.time
        return
    if isinstance(e, FastBindingUpdateSent | FastBindingAcknowledged |
                  UnsolicitedNeighborAdvertisementSent):
        self._on_fast_event(node, e)
        return
    rec = self._open.get(node)
    if rec is None:
        return
    if isinstance(e, MapSelected) and rec.completed is not None:
        rec = metrics.HandoverRecord(mn=node, to=rec.to, frm=rec.to, l2_down=None, l2_up=e.time,
                                     link=False, map_failed=self._map_failed.pop(node, None),
                                     map_changed=True, ra_received=e.time)
        self._open[node] = rec
        self.handovers.append(rec)
        return
    if isinstance(e, RouterAdvertisementReceived):
        if rec.ra_received is None:
            rec.ra_received = e.time
    elif isinstance(e, MovementDetected):
        if rec.map_changed is None:
            rec.map_changed = e.map_changed
    elif isinstance(e, CareOfAddressConfigured):
        if e.kind == "lcoa" and e.usable and rec.coa_ready is None:
            rec.coa_ready = e.time
    elif isinstance(e, BindingUpdateSent):
        if rec.bu_sent is None and not e.retransmission:
            rec.bu_sent = e.time
    elif isinstance(e, BindingAcknowledged):
        if e.status < 128:
            if e.kind == "local" and rec.ba_received is None:
                rec.ba_received = e.time
            elif e.kind == "home" and rec.home_ba_received is None:
                rec.home_ba_received = e.time
    elif isinstance(e, HandoverCompleted) and rec.completed is None:
        rec.completed = e.time
        if rec.kind != "initial":
            rec.kind = e.kind


def state(m: metrics.Metrics) -> tuple[object, ...]:
    return (m.events, m.handovers, dict(m.node_counts), dict(m.rejected_by), m.map_events,
            m._open, m._last_down, m._last_router, m._map_failed, m._fast_held)


@pytest.mark.parametrize(("scenario", "protocol", "overrides"), [
    ("map-failure", None, ()), ("two-domains", None, ()), ("figure1", "fhmipv6", ()),
    ("figure1", "mipv6", ()),
    ("many-mobiles", None, ("generate.mobile_nodes.count=40", "scenario.duration=10s",
                              "generate.mobile_nodes.flow.stop=9s"))])
def test_the_handler_table_does_what_the_isinstance_chain_did(
        scenario: str, protocol: str | None, overrides: tuple[str, ...]) -> None:
    result = run(scenario, protocol=protocol, keep_events=True, overrides=overrides)
    assert result.network is not None and result.network.event_log is not None
    log = result.network.event_log
    read = {type(e) for _, e in log if type(e) in metrics._HANDLERS}
    new, old = (metrics.Metrics("hmipv6", set(), set(), set()) for _ in range(2))
    for node, e in log:
        new.on_event(node, e)
        reference_on_event(old, node, e)
    assert state(new) == state(old)
    assert len(read) >= 6


def test_an_event_class_derived_from_one_read_gets_its_handler() -> None:
    class Late(LinkChanged):
        pass

    m = metrics.Metrics("hmipv6", set(), set(), set())
    m.on_event("mn", Late(time=1.0, ifname="wlan0", up=True, router="ar1"))
    assert [(r.mn, r.to, r.kind) for r in m.handovers] == [("mn", "ar1", "initial")]
