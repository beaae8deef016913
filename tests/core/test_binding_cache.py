"""The binding cache: packed entries behind a store interface, expiry by timer ticks."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.core.binding_cache import BindingCache, BindingEntry, InMemoryStore

A = IPv6Address
RCOA = A("2001:db8:100::a1")
LCOA = A("2001:db8:200:1::5")


def test_update_get_remove_round_trip_every_field() -> None:
    c = BindingCache()
    assert c.update(10.0, RCOA, LCOA, 400, 65535, 0x8800, "mn-1") is True
    assert c.get(RCOA) == BindingEntry(RCOA, LCOA, 410.0, 400, 65535, 0x8800, "mn-1")
    assert c.care_of_packed(RCOA.packed) == LCOA.packed
    assert c.update(20.0, RCOA, LCOA, 400, 1, 0, None) is False
    e = c.get(RCOA)
    assert e is not None and e.peer is None and e.remaining(30.0) == 390.0
    assert RCOA in c and len(c) == 1
    assert c.remove(RCOA) == e and c.remove(RCOA) is None and len(c) == 0


def test_get_with_now_hides_an_entry_past_its_lifetime() -> None:
    c = BindingCache()
    c.update(0.0, RCOA, LCOA, 100, 1)
    assert c.get(RCOA, 99.9) is not None and c.get(RCOA, 100.0) is None


def test_expiry_on_ticks_and_refresh_survives_stale_bucket() -> None:
    c = BindingCache()
    c.update(0.0, RCOA, LCOA, 100, 1)
    assert c.next_expiry() == 100.0
    c.update(50.0, RCOA, LCOA, 100, 2)  # refresh: the old deadline becomes stale
    assert c.expire(100.0) == []
    assert c.next_expiry() == 150.0
    (gone,) = c.expire(150.0)
    assert gone.address == RCOA and len(c) == 0 and c.next_expiry() is None
    c.update(0.3, RCOA, LCOA, 4, 3)
    assert 4.3 <= (c.next_expiry() or 0) <= 4.3 + 1 / 64


class ListStore:
    """A store that is not a dict: the interface is all the cache relies on."""

    def __init__(self) -> None:
        self.rows: list[tuple[bytes, bytes]] = []

    def get(self, key: bytes) -> bytes | None:
        return next((r for k, r in self.rows if k == key), None)

    def put(self, key: bytes, record: bytes) -> None:
        self.delete(key)
        self.rows.append((key, record))

    def delete(self, key: bytes) -> None:
        self.rows = [(k, r) for k, r in self.rows if k != key]

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self.rows))

    def __len__(self) -> int:
        return len(self.rows)


def test_a_store_with_entries_is_reloaded_with_its_deadlines() -> None:
    store = ListStore()
    BindingCache(store).update(0.0, RCOA, LCOA, 100, 7, 0, "mn-1")
    again = BindingCache(store)  # e.g. a MAP restarted over a durable store
    e = again.get(RCOA)
    assert e is not None and e.sequence == 7 and e.peer == "mn-1"
    assert again.next_expiry() == 100.0
    assert [x.address for x in again.expire(100.0)] == [RCOA]


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 400), st.floats(0, 10)),
                max_size=60))
@settings(max_examples=100, deadline=None)
def test_model_every_live_entry_stays_and_every_dead_one_goes(
        ops: list[tuple[int, int, float]]) -> None:
    c = BindingCache(InMemoryStore())
    model: dict[IPv6Address, float] = {}
    now = 0.0
    for low, lifetime, step in ops:
        now += step
        addr = A(int(RCOA) + low)
        c.update(now, addr, LCOA, lifetime, low)
        model[addr] = now + lifetime
        for e in c.expire(now):
            assert model.pop(e.address) <= now
        for addr, exp in model.items():
            # Still there, and removal is at most one tick late.
            assert addr in c and exp > now - 1 / 64
    assert {e.address for e in c} == set(model)
