"""The MAP failure-detection state machine as data (RFC 4140 §10; AR-07, AR-08)."""

from __future__ import annotations

import random
from ipaddress import IPv6Address

import pytest

from hmipv6.core.map_probe import (
    TRANSITIONS,
    MapProbe,
    ProbeAction,
    ProbeConfig,
    ProbeInput,
    ProbeState,
)

MAP = IPv6Address("2001:db8:100::1")


def run_silent(probe: MapProbe, rng: random.Random, until: float) -> list[tuple[float, list[ProbeAction]]]:
    """Drive the machine through its deadlines with no replies at all."""
    log = []
    while probe.deadline is not None and probe.deadline <= until:
        now = probe.deadline
        actions, _ = probe.step(now, ProbeInput.TIMER, rng)
        log.append((now, actions))
    return log


def test_every_state_input_pair_has_a_defined_outcome() -> None:
    """h2-style: the table covers every reachable (state, input) pair."""
    for state in ProbeState:
        for event in (ProbeInput.TIMER, ProbeInput.REPLY, ProbeInput.STOP):
            assert (state, event) in TRANSITIONS
    assert (ProbeState.PROBING, ProbeInput.WINDOW_OVER) in TRANSITIONS


@pytest.mark.req("AR-07")
def test_AR07_default_schedule_10s_then_5s_for_15s_then_failed() -> None:
    rng = random.Random(1)
    probe = MapProbe(MAP)
    probe.start(0.0, rng)
    log = run_silent(probe, rng, 60.0)
    sends = [t for t, a in log if ProbeAction.SEND_PROBE in a]
    failed = [t for t, a in log if ProbeAction.FAILED in a]
    # Probe at 10 s; its reply is missed at 15 s; then every 5 s for 15 s (15, 20, 25); failed
    # at 30 s, after which probing continues every 10 s.
    assert sends[:4] == [10.0, 15.0, 20.0, 25.0]
    assert failed == [30.0]
    assert sends[4:] == [30.0, 40.0, 50.0, 60.0]
    assert probe.state is ProbeState.FAILED


@pytest.mark.req("AR-07")
def test_AR07_intervals_configurable() -> None:
    rng = random.Random(1)
    probe = MapProbe(MAP, ProbeConfig(interval=2.0, reply_timeout=0.5, aggressive_interval=1.0,
                                      aggressive_period=2.0, failed_interval=4.0))
    probe.start(100.0, rng)
    log = run_silent(probe, rng, 110.0)
    sends = [t for t, a in log if ProbeAction.SEND_PROBE in a]
    assert sends[:3] == [102.0, 102.5, 103.5]
    assert [t for t, a in log if ProbeAction.FAILED in a] == [104.5]
    assert sends[3:] == [104.5, 108.5]


@pytest.mark.req("AR-07")
def test_AR07_answered_probes_keep_a_10s_rhythm_and_recovery() -> None:
    rng = random.Random(2)
    probe = MapProbe(MAP)
    probe.start(0.0, rng)
    _, echo = probe.step(10.0, ProbeInput.TIMER, rng)
    assert echo is not None and probe.state is ProbeState.AWAITING
    assert probe.match_reply(MAP, echo.identifier, echo.sequence, echo.nonce)
    actions, _ = probe.step(10.2, ProbeInput.REPLY, rng)
    assert actions == [ProbeAction.ARM_NEXT_PROBE]
    assert probe.state is ProbeState.IDLE and probe.deadline == 20.0
    run_silent(probe, rng, 50.0)
    assert probe.failed
    # The MAP answers a probe sent while failed: back to normal, next probe 10 s after it.
    sent_at = probe.last_probe
    assert sent_at is not None
    last = probe.outstanding[-1]
    assert probe.match_reply(MAP, last.identifier, last.sequence, last.nonce)
    actions, _ = probe.step(sent_at + 1, ProbeInput.REPLY, rng)
    assert ProbeAction.RECOVERED in actions
    assert probe.state is ProbeState.IDLE and probe.deadline == sent_at + 10.0


@pytest.mark.req("AR-08")
def test_AR08_reply_must_echo_an_outstanding_nonce_from_the_map_once() -> None:
    rng = random.Random(3)
    probe = MapProbe(MAP)
    probe.start(0.0, rng)
    _, echo = probe.step(10.0, ProbeInput.TIMER, rng)
    assert echo is not None and len(echo.nonce) == 16
    other = IPv6Address("2001:db8:666::1")
    assert not probe.match_reply(other, echo.identifier, echo.sequence, echo.nonce)
    assert not probe.match_reply(MAP, echo.identifier, echo.sequence, b"\x00" * 16)
    assert not probe.match_reply(MAP, echo.identifier ^ 1, echo.sequence, echo.nonce)
    assert not probe.match_reply(MAP, echo.identifier, (echo.sequence + 1) & 0xFFFF, echo.nonce)
    assert probe.match_reply(MAP, echo.identifier, echo.sequence, echo.nonce)
    # Replayed: the nonce was consumed.
    assert not probe.match_reply(MAP, echo.identifier, echo.sequence, echo.nonce)


@pytest.mark.req("AR-08")
def test_AR08_probe_fields_are_unpredictable_and_fresh() -> None:
    rng = random.Random(4)
    probe = MapProbe(MAP)
    probe.start(0.0, rng)
    run_silent(probe, rng, 100.0)
    nonces = [p.nonce for p in probe.outstanding]
    assert len(set(nonces)) == len(nonces) > 3
    a, b = MapProbe(MAP), MapProbe(MAP)
    a.start(0.0, random.Random(5))
    b.start(0.0, random.Random(6))
    _, ea = a.step(10.0, ProbeInput.TIMER, random.Random(5))
    _, eb = b.step(10.0, ProbeInput.TIMER, random.Random(6))
    assert ea != eb


def test_stop_disarms_and_ignores_everything() -> None:
    rng = random.Random(7)
    probe = MapProbe(MAP)
    probe.start(0.0, rng)
    probe.step(10.0, ProbeInput.TIMER, rng)
    probe.step(11.0, ProbeInput.STOP, rng)
    assert probe.state is ProbeState.STOPPED and probe.deadline is None
    assert probe.step(12.0, ProbeInput.TIMER, rng) == ([], None)


def test_config_rejects_nonpositive_intervals() -> None:
    with pytest.raises(ValueError):
        ProbeConfig(interval=0)
