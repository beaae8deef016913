"""A crash loses volatile state (RFC 4140 §10: "If a MAP fails, its binding cache content will
be lost"); after the restart the engine says what it lost, in events, so that anything built
from events (the simulator's reports, a daemon's log) agrees with the engine's state."""

from __future__ import annotations

import random
from ipaddress import IPv6Address, IPv6Network

import pytest

from hmipv6.core.access_router import AccessRouter, AccessRouterConfig, MapConfig, RaConfig
from hmipv6.core.events import BindingRemoved, MapFailed, MapRecovered
from hmipv6.core.map import MobilityAnchorPoint
from tests.core.anchor_support import binding_update, events

MAP = IPv6Address("2001:db8:100::1")
RCOA = IPv6Address("2001:db8:100::a")
LCOA = IPv6Address("2001:db8:a1::a")


@pytest.mark.req("MAP-07")
def test_map_restart_reports_every_lost_binding() -> None:
    m = MobilityAnchorPoint("map", address=MAP, ifname="link")
    m.add_route("::/0", "link", IPv6Address("fe80::1"))
    m.receive(0.0, "link", binding_update(LCOA, MAP, RCOA).encode())
    assert [b.address for b in m.bindings()] == [RCOA]
    events(m)
    m.crash(1.0)
    m.restart(2.0)
    assert m.bindings() == []
    lost = [e for e in events(m) if isinstance(e, BindingRemoved)]
    assert [(e.home_address, e.reason, e.time) for e in lost] == [(RCOA, "lost", 2.0)]


@pytest.mark.req("AR-07")
def test_access_router_restart_reports_failed_maps_as_advertised_again() -> None:
    ar = AccessRouter("ar", rng=random.Random(1), config=AccessRouterConfig(
        interfaces={"acc": RaConfig(prefix=IPv6Network("2001:db8:a1::/64"), min_interval=0.03,
                                    max_interval=0.07)},
        maps=(MapConfig(address=MAP),)))
    ar.add_interface("up", (IPv6Address("2001:db8:ff::2"),))
    ar.add_route("::/0", "up", IPv6Address("2001:db8:ff::1"))
    ar.start(0.0)
    ar.set_map_failed(1.0, MAP)
    assert [type(e) for e in events(ar) if isinstance(e, MapFailed | MapRecovered)] == [MapFailed]
    ar.crash(2.0)
    ar.restart(3.0)
    ev = [e for e in events(ar) if isinstance(e, MapFailed | MapRecovered)]
    assert [(type(e), e.map, e.time) for e in ev] == [(MapRecovered, MAP, 3.0)]


def test_restart_after_a_long_crash_leaves_no_stale_deadline() -> None:
    """Found by the MAP state machine: a binding of 4 s, a crash, 60 s down, a restart: the
    lost binding's expiry must not survive as a deadline in the past (next_timer() >= now)."""
    m = MobilityAnchorPoint("map", address=MAP, ifname="link")
    m.add_route("::/0", "link", IPv6Address("fe80::1"))
    m.receive(0.0, "link", binding_update(LCOA, MAP, RCOA, lifetime=4).encode())
    m.crash(1.0)
    m.restart(60.0)
    t = m.next_timer()
    assert t is None or t >= 60.0, t
    assert m.bindings() == []


def test_correspondent_restart_after_a_long_crash_leaves_no_stale_deadline() -> None:
    """Found by the correspondent state machine: the same as for the MAP, for a CN binding."""
    from tests.core.test_correspondent import correspondent_bu, make_cn, run_rr

    cn = make_cn()
    hot, cot = run_rr(cn, 0.0)
    cn.receive(0.5, "eth0", correspondent_bu(hot, cot, lifetime=4))
    assert len(cn.cache) == 1
    cn.crash(1.0)
    cn.restart(60.0)
    t = cn.next_timer()
    assert t is None or t >= 60.0, t
    assert len(cn.cache) == 0
    assert [e.reason for e in events(cn) if isinstance(e, BindingRemoved)] == ["lost"]
