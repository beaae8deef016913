"""The scheduler: order by (time, priority, insertion), cancel, step, run(until)."""

from __future__ import annotations

import pytest

from hmipv6.errors import LocalProtocolError
from hmipv6.sim.scheduler import LATE, NORMAL, URGENT, Scheduler


def _recorder(sched: Scheduler, log: list[tuple[float, str]], tag: str):  # type: ignore[no-untyped-def]
    return lambda: log.append((sched.now, tag))


def test_events_run_in_time_order() -> None:
    s = Scheduler()
    log: list[tuple[float, str]] = []
    for t, tag in [(3.0, "c"), (1.0, "a"), (2.0, "b"), (0.5, "z")]:
        s.schedule(t, _recorder(s, log, tag))
    s.run()
    assert log == [(0.5, "z"), (1.0, "a"), (2.0, "b"), (3.0, "c")]
    assert s.now == 3.0
    assert s.events_run == 4


def test_equal_times_run_by_priority_then_insertion_order() -> None:
    s = Scheduler()
    log: list[tuple[float, str]] = []
    s.schedule(1.0, _recorder(s, log, "late"), priority=LATE)
    s.schedule(1.0, _recorder(s, log, "n1"))
    s.schedule(1.0, _recorder(s, log, "urgent"), priority=URGENT)
    s.schedule(1.0, _recorder(s, log, "n2"), priority=NORMAL)
    s.schedule(1.0, _recorder(s, log, "n3"))
    s.run()
    assert [tag for _, tag in log] == ["urgent", "n1", "n2", "n3", "late"]


def test_same_program_same_order() -> None:
    def program() -> list[tuple[float, str]]:
        s = Scheduler()
        log: list[tuple[float, str]] = []
        for i in range(200):
            s.schedule((i * 37 % 11) / 10, _recorder(s, log, f"e{i}"), priority=i % 3)
        s.run()
        return log

    assert program() == program()


def test_callbacks_may_schedule_at_now_and_those_run_after_the_current_event() -> None:
    s = Scheduler()
    log: list[str] = []

    def first() -> None:
        log.append("first")
        s.schedule(s.now, lambda: log.append("chained"))

    s.schedule(1.0, first)
    s.schedule(1.0, lambda: log.append("second"))
    s.run()
    assert log == ["first", "second", "chained"]


def test_cancel() -> None:
    s = Scheduler()
    log: list[str] = []
    h = s.schedule(1.0, lambda: log.append("cancelled"))
    s.schedule(2.0, lambda: log.append("kept"))
    assert s.pending == 2
    assert Scheduler.is_pending(h)
    assert s.cancel(h) is True
    assert s.cancel(h) is False
    assert not Scheduler.is_pending(h)
    assert s.pending == 1
    assert s.peek() == 2.0
    s.run()
    assert log == ["kept"]
    assert s.events_run == 1


def test_cancel_after_run_is_a_no_op() -> None:
    s = Scheduler()
    h = s.schedule(1.0, lambda: None)
    s.run()
    assert not Scheduler.is_pending(h)
    assert s.cancel(h) is False
    assert s.pending == 0


def test_cancel_from_inside_a_callback() -> None:
    s = Scheduler()
    log: list[str] = []
    later = s.schedule(2.0, lambda: log.append("never"))
    s.schedule(1.0, lambda: s.cancel(later))
    s.run()
    assert log == []
    assert s.now == 1.0


def test_mass_cancel_compacts_the_heap() -> None:
    s = Scheduler()
    handles = [s.schedule(float(i), lambda: None) for i in range(5000)]
    for h in handles[:4000]:
        s.cancel(h)
    assert s.pending == 1000
    assert len(s._heap) < 5000
    s.run()
    assert s.events_run == 1000
    assert s.now == 4999.0


def test_step() -> None:
    s = Scheduler()
    log: list[tuple[float, str]] = []
    s.schedule(1.0, _recorder(s, log, "a"))
    s.cancel(s.schedule(0.5, _recorder(s, log, "x")))
    s.schedule(2.0, _recorder(s, log, "b"))
    assert s.step() is True
    assert log == [(1.0, "a")] and s.now == 1.0
    assert s.step() is True
    assert s.step() is False
    assert log == [(1.0, "a"), (2.0, "b")]


def test_run_until_stops_before_events_due_at_until_and_resumes() -> None:
    s = Scheduler()
    log: list[tuple[float, str]] = []
    for t in (1.0, 2.0, 3.0):
        s.schedule(t, _recorder(s, log, str(t)))
    s.run(until=2.0)
    assert log == [(1.0, "1.0")]
    assert s.now == 2.0
    s.run(until=10.0)
    assert log == [(1.0, "1.0"), (2.0, "2.0"), (3.0, "3.0")]
    assert s.now == 10.0


def test_run_until_with_no_events_advances_the_clock() -> None:
    s = Scheduler()
    s.run(until=5.0)
    assert s.now == 5.0
    assert s.peek() == float("inf")


def test_call_later_is_relative_to_now() -> None:
    s = Scheduler(start=10.0)
    log: list[tuple[float, str]] = []
    s.call_later(0.25, _recorder(s, log, "x"))
    s.run()
    assert log == [(10.25, "x")]


def test_scheduling_in_the_past_is_misuse() -> None:
    s = Scheduler()
    s.run(until=5.0)
    with pytest.raises(LocalProtocolError, match="before now"):
        s.schedule(4.0, lambda: None)
    with pytest.raises(LocalProtocolError, match="before now"):
        s.run(until=1.0)


def test_callback_exceptions_propagate_with_now_at_the_event() -> None:
    s = Scheduler()

    def boom() -> None:
        raise RuntimeError("bug")

    s.schedule(3.0, boom)
    s.schedule(4.0, lambda: None)
    with pytest.raises(RuntimeError, match="bug"):
        s.run()
    assert s.now == 3.0
    assert s.pending == 1
