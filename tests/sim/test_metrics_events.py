"""``Metrics.on_event`` skips, by a set lookup, the event classes it never reads; a class it
reads must therefore be listed in ``metrics._READ``, or its events would be skipped silently."""

from __future__ import annotations

import inspect
import re

from hmipv6.core import events
from hmipv6.sim import metrics


def test_every_event_class_on_event_reads_is_not_skipped() -> None:
    source = inspect.getsource(metrics.Metrics.on_event) + inspect.getsource(
        metrics.Metrics._on_fast_event)
    classes = {name for name, c in vars(events).items()
               if isinstance(c, type) and issubclass(c, events.Event) and c is not events.Event}
    tested = " ".join(re.findall(r"isinstance\(e, ([^)]*)\)", source))
    read = {name for name in re.findall(r"\b([A-Z][A-Za-z]+)\b", tested) if name in classes}
    assert read, "on_event names no event class: the test no longer sees its source"
    skipped = {c.__name__ for c in metrics._IGNORED}
    assert not read & skipped
    assert read <= {c.__name__ for c in metrics._READ}


def test_a_skipped_event_changes_nothing_but_the_count() -> None:
    m = metrics.Metrics("hmipv6", set(), set(), set())
    m.on_event("mn", events.LinkChanged(time=1.0, ifname="wlan0", up=True, router="ar1"))
    before = (len(m.handovers), dict(m.node_counts), m.map_events[:])
    m.on_event("mn", events.PacketDropped(time=1.5, reason="not-for-us", detail="2001:db8::1"))
    assert (len(m.handovers), dict(m.node_counts), m.map_events[:]) == before
    assert m.events == 2
