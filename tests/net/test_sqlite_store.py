"""The binding store contract (``hmipv6.core.binding_cache.BindingStore``), run against every
store: the in-memory default, the simulator's retained one and SQLite (in memory and in a
file); then what only a file gives: reopening it, expiry over a reopened file, and a process
killed (SIGKILL) right after a put losing nothing that put returned for."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from hmipv6.core.binding_cache import BindingCache, BindingStore, InMemoryStore, RetainedStore
from hmipv6.core.events import BindingRemoved
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.net.sqlite_store import SqliteStore, store_path

MAP = "2001:db8:100::1"
RCOA = IPv6Address("2001:db8:100::10")
LCOA = IPv6Address("2001:db8:a1::10")


def k(i: int) -> bytes:
    return (int(RCOA) + i).to_bytes(16, "big")


@pytest.fixture(params=["memory", "retained", "sqlite-memory", "sqlite-file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BindingStore]:
    kind = request.param
    if kind == "memory":
        yield InMemoryStore()
    elif kind == "retained":
        yield RetainedStore()
    else:
        s = SqliteStore(":memory:" if kind == "sqlite-memory" else tmp_path / "b.sqlite")
        yield s
        s.close()


# -- the contract, every store -----------------------------------------------------------------

def test_an_empty_store(store: BindingStore) -> None:
    assert len(store) == 0
    assert store.get(k(1)) is None
    assert list(store.items()) == []


def test_put_get_replace_delete(store: BindingStore) -> None:
    store.put(k(1), b"r1")
    store.put(k(2), b"r2")
    assert store.get(k(1)) == b"r1" and len(store) == 2
    store.put(k(1), b"r1-bis")  # replace, not a second row
    assert store.get(k(1)) == b"r1-bis" and len(store) == 2
    store.delete(k(1))
    store.delete(k(1))  # deleting what is absent is no error
    store.delete(k(9))
    assert store.get(k(1)) is None and len(store) == 1
    assert sorted(store.items()) == [(k(2), b"r2")]


def test_records_are_kept_octet_for_octet(store: BindingStore) -> None:
    record = bytes(range(256)) + b"\x00" * 7
    store.put(k(3), record)
    assert store.get(k(3)) == record
    assert dict(store.items()) == {k(3): record}


def test_a_binding_cache_over_the_store(store: BindingStore) -> None:
    c = BindingCache(store)
    assert c.update(0.0, RCOA, LCOA, 10, 1, 0x1000, "mn-1")
    assert not c.update(1.0, RCOA, LCOA, 20, 2, 0x1000, "mn-1")
    e = c.get(RCOA)
    assert e is not None and (e.expires, e.sequence, e.peer) == (21.0, 2, "mn-1")
    assert c.care_of_packed(RCOA.packed) == LCOA.packed
    assert [x.address for x in c.expire(21.0)] == [RCOA]
    assert len(store) == 0


def test_durability_is_declared(store: BindingStore) -> None:
    assert getattr(store, "durable", False) is (type(store) is not InMemoryStore)


# -- what only SQLite gives --------------------------------------------------------------------

def test_reopening_the_file_gives_the_same_entries(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    with SqliteStore(path) as s:
        c = BindingCache(s)
        for i in range(100):
            c.update(float(i), IPv6Address(int(RCOA) + i), LCOA, 600, i, 0x1000,
                     "mn-1" if i % 2 else None)
        c.remove(IPv6Address(int(RCOA) + 5))
        before = sorted(s.items())
    with SqliteStore(path) as again:
        assert sorted(again.items()) == before and len(again) == 99
        c2 = BindingCache(again)  # re-arms every deadline from the file
        assert c2.next_expiry() == 600.0
        e = c2.get(IPv6Address(int(RCOA) + 7))
        assert e is not None and (e.sequence, e.peer, e.expires) == (7, "mn-1", 607.0)


def test_bad_keys_are_refused(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "b.sqlite") as s:
        with pytest.raises(sqlite3.IntegrityError):
            s.put(b"short", b"r")
        assert len(s) == 0


def test_synchronous_is_checked() -> None:
    with pytest.raises(ValueError):
        SqliteStore(":memory:", synchronous="OFF")  # type: ignore[arg-type]


def _map(store: BindingStore) -> MobilityAnchorPoint:
    return MobilityAnchorPoint("map1", address=MAP, cache=BindingCache(store))


def _removed(m: MobilityAnchorPoint) -> list[tuple[float, IPv6Address, str]]:
    out = []
    while (e := m.next_event()) is not None:
        if isinstance(e, BindingRemoved):
            out.append((e.time, e.home_address, e.reason))
    return out


@pytest.mark.req("MAP-07")
def test_entries_expired_while_closed_are_purged_on_reopen(tmp_path: Path) -> None:
    """A MAP process restarted over its file at 50 s: the binding granted 10 s at 0 s ran out
    while it was down; it goes as "expired" at the first timer, the 100 s one stays."""
    path = tmp_path / "b.sqlite"
    short, long_ = IPv6Address(int(RCOA) + 1), IPv6Address(int(RCOA) + 2)
    with SqliteStore(path) as s:
        m = _map(s)
        m.cache.update(0.0, short, LCOA, 10, 1, 0x1000)
        m.cache.update(0.0, long_, LCOA, 100, 1, 0x1000)
    with SqliteStore(path) as s:
        m = _map(s)
        at = m.next_timer()
        assert at is not None and at <= 10.0 + 1 / 64
        m.handle_timer(50.0)
        assert _removed(m) == [(50.0, short, "expired")]
        assert long_ in m.cache and short not in m.cache
    with SqliteStore(path) as s:
        assert [IPv6Address(key) for key, _ in s.items()] == [long_]


@pytest.mark.req("MAP-07")
def test_engine_crash_and_restart_keep_live_bindings_and_expire_dead_ones(
        tmp_path: Path) -> None:
    short, long_ = IPv6Address(int(RCOA) + 1), IPv6Address(int(RCOA) + 2)
    with SqliteStore(tmp_path / "b.sqlite") as s:
        m = _map(s)
        m.cache.update(0.0, short, LCOA, 10, 1, 0x1000)
        m.cache.update(0.0, long_, LCOA, 100, 1, 0x1000)
        m.crash(1.0)
        m.restart(30.0)
        assert _removed(m) == [(30.0, short, "expired")]
        assert m.cache.care_of_packed(long_.packed) == LCOA.packed
        at = m.next_timer()
        assert at is not None and at <= 100.0 + 1 / 64


def test_a_memory_store_loses_everything_on_restart() -> None:
    m = _map(InMemoryStore())
    m.cache.update(0.0, RCOA, LCOA, 100, 1, 0x1000)
    m.crash(1.0)
    m.restart(2.0)
    assert _removed(m) == [(2.0, RCOA, "lost")]


_WRITER = textwrap.dedent("""
    import sys
    from hmipv6.net.sqlite_store import SqliteStore
    s = SqliteStore(sys.argv[1], synchronous=sys.argv[2])
    i = 0
    while True:
        s.put((0x20010db8 << 96 | i).to_bytes(16, "big"), i.to_bytes(8, "big") * 4)
        print(i, flush=True)  # the put returned: an engine would now queue the BA
        i += 1
""")


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_a_killed_process_loses_no_acknowledged_write(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "b.sqlite"
    p = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), synchronous],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    acked = -1
    for line in p.stdout:
        acked = int(line)
        if acked >= 300:
            break
    p.send_signal(signal.SIGKILL)
    p.wait()
    with SqliteStore(path) as s:
        for i in range(acked + 1):
            assert s.get((0x20010db8 << 96 | i).to_bytes(16, "big")) == i.to_bytes(8, "big") * 4
        assert len(s) >= acked + 1


def test_store_path_is_next_to_the_log(tmp_path: Path) -> None:
    assert store_path(tmp_path, "map1") == tmp_path / "map1.bindings.sqlite"




def test_a_testbed_map_daemon_keeps_its_bindings_in_its_run_directory(tmp_path: Path) -> None:
    """Real daemons (AR, MAP, MN in network namespaces): the MAP's binding for the MN's RCoA,
    acknowledged on the wire, is in ``logs/map1.bindings.sqlite`` after the run."""
    from tests.conftest import need_root

    need_root()
    from hmipv6.net.testbed import run

    result = run("figure1", duration=3.0, out=tmp_path, nodes=("ar1", "map1", "mn"),
                 overrides=("moves[1].at=2.5s", 'nodes.map1.binding_store="durable"'))
    state = result.report["nodes"]["map1"]["binding_cache"]
    assert state
    with SqliteStore(store_path(tmp_path / "logs", "map1")) as s:
        cache = BindingCache(s)
        e = cache.get(IPv6Address(state[0]["rcoa"]))
        assert e is not None and str(e.care_of) == state[0]["lcoa"]
