"""MAP selection as a pure function (RFC 4140 §7.2, §9.1; RFC 5380 §5) and the MAP store
(MN-01, MN-03, X5380-01)."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmipv6.core.map_selection import MapRecord, MapStore, rank_maps, select_map, selectable

LL = IPv6Address("fe80::1")


def rec(n: int, dist: int, pref: int = 10, life: int = 3600, at: float = 0.0, pos: int = 0,
        ifname: str = "wlan0") -> MapRecord:
    return MapRecord(address=IPv6Address(f"2001:db8:{n}::1"), dist=dist, pref=pref, r=True,
                     valid_lifetime=life, received_at=at, ifname=ifname, router=LL, position=pos)


@pytest.mark.req("MN-03")
def test_MN03_rfc4140_9_1_default_algorithm() -> None:
    maps = [rec(1, 1, pos=0), rec(2, 4, pref=0, pos=1), rec(3, 3, life=0, pos=2), rec(4, 2, pos=3)]
    # Steps 2-5: descending Dist; skip Pref 0 and Valid Lifetime 0.
    assert [r.dist for r in rank_maps(maps)] == [4, 3, 2, 1]
    chosen = select_map(maps, 0.0)
    assert chosen is not None and chosen.dist == 2
    assert select_map([rec(1, 1, pref=0), rec(2, 2, life=0)], 0.0) is None
    assert select_map([rec(1, 1, life=10)], 10.0) is None  # heard too long ago
    assert select_map(maps, 0.0, exclude=[chosen.address]) == maps[0]


@pytest.mark.req("MN-03")
def test_MN03_other_policies() -> None:
    maps = [rec(1, 1, pref=5), rec(2, 2, pref=14, pos=1), rec(3, 3, pref=2, pos=2)]
    assert select_map(maps, 0, "preference") == maps[1]
    assert select_map(maps, 0, "nearest") == maps[0]
    assert select_map(maps, 0, "furthest") == maps[2]
    with pytest.raises(ValueError):
        select_map(maps, 0, "random")  # type: ignore[arg-type]


@pytest.mark.req("X5380-01")
def test_X5380_01_pref_is_the_tie_breaker_only_in_rfc5380() -> None:
    maps = [rec(1, 2, pref=3, pos=0), rec(2, 2, pref=9, pos=1), rec(3, 1, pref=15, pos=2)]
    assert select_map(maps, 0, profile="rfc4140") == maps[0]
    assert select_map(maps, 0, profile="rfc5380") == maps[1]  # equal Dist: higher Pref
    assert select_map(maps, 0, "nearest", "rfc5380") == maps[2]


@given(st.lists(st.tuples(st.integers(1, 15), st.integers(0, 15), st.sampled_from([0, 5, 3600])),
                max_size=8))
def test_selection_never_returns_an_unselectable_map(specs: list[tuple[int, int, int]]) -> None:
    maps = [rec(i, d, p, life, pos=i) for i, (d, p, life) in enumerate(specs)]
    for policy in ("furthest", "preference", "nearest"):
        for profile in ("rfc4140", "rfc5380"):
            chosen = select_map(maps, 1.0, policy, profile)  # type: ignore[arg-type]
            usable = [m for m in maps if selectable(m, 1.0)]
            assert (chosen is None) == (not usable)
            if chosen is not None and policy == "furthest":
                assert chosen.dist == max(m.dist for m in usable)


@pytest.mark.req("MN-01")
def test_MN01_store_keeps_options_per_map_and_per_link() -> None:
    s = MapStore()
    assert s.update((rec(1, 1, at=1.0), rec(2, 2, at=1.0, pos=1)), "wlan0")
    assert not s.update((rec(1, 1, at=2.0), rec(2, 3, at=2.0, pos=1)), "wlan0")  # same set
    assert s.by_map[IPv6Address("2001:db8:1::1")].received_at == 2.0
    assert s.update((rec(2, 1, at=3.0, ifname="wlan1"),), "wlan1")
    assert s.advertised_on(IPv6Address("2001:db8:2::1")) == ["wlan0", "wlan1"]
    cur = s.current(IPv6Address("2001:db8:2::1"))
    assert cur is not None and cur.dist == 1  # smallest Dist of the links advertising it
    s.forget_link("wlan1")
    assert s.advertised_on(IPv6Address("2001:db8:2::1")) == ["wlan0"]
    assert s.next_expiry() == 3602.0
    assert len(s.expire(5000.0)) == 2 and s.advertised() == []
    assert set(s.by_map) == {IPv6Address("2001:db8:1::1"), IPv6Address("2001:db8:2::1")}


class _ReferenceStore:
    """MapStore as it read every RA before the shared reading (``_read``): a fresh dict per
    update, expiry in place."""

    def __init__(self) -> None:
        self.by_link: dict[str, dict[IPv6Address, MapRecord]] = {}
        self.by_map: dict[IPv6Address, MapRecord] = {}

    def update(self, records: tuple[MapRecord, ...], ifname: str) -> bool:
        before = self.by_link.get(ifname, {})
        current: dict[IPv6Address, MapRecord] = {}
        for r in records:
            old = current.get(r.address)
            if old is None or r.dist < old.dist:
                current[r.address] = r
            self.by_map[r.address] = r
        self.by_link[ifname] = current
        return current.keys() != before.keys()

    def expire(self, now: float) -> list[MapRecord]:
        gone: list[MapRecord] = []
        for maps in self.by_link.values():
            for a, r in list(maps.items()):
                if r.valid_lifetime > 0 and now >= r.expires_at:
                    gone.append(maps.pop(a))
        return gone


def test_stores_share_the_reading_of_one_records_tuple() -> None:
    records = (rec(1, 2, at=1.0), rec(2, 1, at=1.0, pos=1), rec(1, 1, at=1.0, pos=2))
    a, b = MapStore(), MapStore()
    assert a.update(records, "wlan0") and b.update(records, "wlan0")
    assert a.by_link["wlan0"] is b.by_link["wlan0"]  # read once for both stations
    assert a.by_link["wlan0"][IPv6Address("2001:db8:1::1")].dist == 1  # smallest Dist
    assert a.by_map[IPv6Address("2001:db8:1::1")].position == 2  # the last one heard
    assert not a.update(records, "wlan0")  # the same tuple again: nothing changed
    equal = tuple(list(records))  # another tuple of the same records: read again, equal
    assert equal is not records and not a.update(equal, "wlan0")
    assert a.by_link["wlan0"] == b.by_link["wlan0"]


def test_expiry_in_one_store_leaves_a_shared_reading_alone() -> None:
    records = (rec(1, 1, life=10, at=0.0), rec(2, 1, life=100, at=0.0, pos=1))
    a, b = MapStore(), MapStore()
    a.update(records, "wlan0")
    b.update(records, "wlan0")
    assert [r.address for r in a.expire(20.0)] == [IPv6Address("2001:db8:1::1")]
    assert list(a.by_link["wlan0"]) == [IPv6Address("2001:db8:2::1")]
    assert len(b.by_link["wlan0"]) == 2  # b never expired anything
    assert b.update(records, "wlan0") is False and a.update(records, "wlan0") is True


@given(st.lists(st.tuples(st.sampled_from(["update", "expire"]), st.integers(0, 1),
                          st.sampled_from(["wlan0", "wlan1"]),
                          st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3),
                                             st.sampled_from([0, 5, 50])),
                                   max_size=4),
                          st.floats(0, 100, allow_nan=False)),
                max_size=25))
def test_shared_reading_stores_as_a_fresh_reading_does(
        steps: list[tuple[str, int, str, list[tuple[int, int, int]], float]]) -> None:
    stores = (MapStore(), MapStore())
    refs = (_ReferenceStore(), _ReferenceStore())
    last: tuple[MapRecord, ...] = ()
    for op, which, ifname, specs, now in steps:
        if op == "expire":
            assert stores[which].expire(now) == refs[which].expire(now)
        else:
            # Half the time the other station's tuple again (one RA heard by both).
            records = last if specs == [] and last else tuple(
                rec(n, d, life=life, at=now, pos=i, ifname=ifname)
                for i, (n, d, life) in enumerate(specs))
            last = records
            assert stores[which].update(records, ifname) == refs[which].update(records, ifname)
        for s, r in zip(stores, refs, strict=True):
            assert s.by_link == r.by_link and list(s.by_map.items()) == list(r.by_map.items())
            assert [list(m) for m in s.by_link.values()] == [list(m) for m in r.by_link.values()]
