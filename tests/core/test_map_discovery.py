"""The relay table of dynamic MAP discovery (RFC 4140 §7.1.1; AR-02, AR-04, AR-05)."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from hmipv6.core.map_discovery import RelayTable
from hmipv6.wire.icmpv6 import MapOption

MAP1 = IPv6Address("2001:db8:100::1")
MAP2 = IPv6Address("2001:db8:200::1")


def opt(dist: int, address: IPv6Address = MAP1, lifetime: int = 600, pref: int = 10) -> MapOption:
    return MapOption(dist, pref, True, lifetime, address)


@pytest.mark.req("AR-02")
def test_AR02_relayed_with_dist_plus_one_on_other_interfaces() -> None:
    t = RelayTable()
    assert t.learn(0.0, "up", opt(1)) is None
    assert t.relayed(0.0, "down") == [MapOption(2, 10, True, 600, MAP1)]
    # Split horizon: not back out of the interface it came from.
    assert t.relayed(0.0, "up") == []


@pytest.mark.req("AR-04")
def test_AR04_same_map_on_two_interfaces_smallest_dist_wins() -> None:
    t = RelayTable()
    t.learn(0.0, "a", opt(4))
    t.learn(0.1, "b", opt(2))
    assert t.relayed(0.2, "down") == [opt(3)]
    # Order of arrival does not matter.
    t2 = RelayTable()
    t2.learn(0.0, "b", opt(2))
    t2.learn(0.1, "a", opt(4))
    assert t2.relayed(0.2, "down") == [opt(3)]
    # When the nearer copy expires, the farther one takes over.
    t3 = RelayTable()
    t3.learn(0.0, "a", opt(4, lifetime=100))
    t3.learn(0.0, "b", opt(2, lifetime=10))
    assert t3.relayed(11.0, "down") == [opt(5, lifetime=100)]


@pytest.mark.req("AR-05")
def test_AR05_dist_never_zero_and_dist_15_not_relayed() -> None:
    t = RelayTable()
    assert t.learn(0.0, "up", opt(15)) == "dist-overflow"
    assert t.relayed(0.0, "down") == []
    t.learn(0.0, "up", opt(1, MAP2))
    assert all(o.dist >= 2 for o in t.relayed(0.0, "down"))


def test_records_expire_with_lifetime_or_when_no_longer_heard() -> None:
    t = RelayTable(missed_ras=3)
    t.learn(0.0, "up", opt(1, lifetime=5))
    t.learn(0.0, "up2", opt(1, MAP2, lifetime=600), advertisement_interval=0.09)
    assert t.next_expiry() == pytest.approx(0.27)
    assert t.purge(0.3) == [MAP2]
    assert [o.address for o in t.relayed(0.3, "down")] == [MAP1]
    assert t.purge(5.0) == [MAP1]
    assert len(t) == 0


def test_zero_lifetime_failure_notice_is_relayed_for_a_hold_time() -> None:
    t = RelayTable(zero_lifetime_hold=10.0)
    t.learn(0.0, "up", opt(1, lifetime=0))
    assert t.relayed(5.0, "down") == [opt(2, lifetime=0)]
    assert t.relayed(10.0, "down") == []


def test_own_map_is_never_learned() -> None:
    t = RelayTable(own=[MAP1])
    assert t.learn(0.0, "up", opt(3)) == "own-map"
    assert t.relayed(0.0, "down") == []
