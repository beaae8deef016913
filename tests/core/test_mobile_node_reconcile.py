"""``MobileNode._reconcile`` reuses the BUL entry ``_update_region`` found or made (issue 12,
simulator throughput): ``_target_bound`` answers from it what ``_bound_region`` answers by
looking the current region and its entry up again. These tests hold the two equal on every
reconciliation of the core and simulated scenarios below."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from hmipv6.core.binding_update_list import BulEntry
from hmipv6.core.mobile_node import MobileNode, Region
from hmipv6.sim.network import run
from tests.core.test_mobile_node_support import (
    AR2_LL,
    LCOA2,
    MAP1,
    MAP2,
    P1,
    P2,
    RCOA1,
    ba_for,
    bus,
    make,
    mapopt,
    ra,
    registered,
)


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every ``_target_bound`` call checked against ``_bound_region``; counts which way each
    answered (``entry``: from the entry at hand, ``lookup``: no entry, looked up)."""
    seen: Counter[str] = Counter()
    original = MobileNode._target_bound

    def target_bound(self: MobileNode, now: float, region: Region,
                     entry: BulEntry | None) -> Region | None:
        got = original(self, now, region, entry)
        assert got is self._bound_region(now), (self.name, now, region, entry)
        seen["lookup" if entry is None else "entry"] += 1
        seen["bound" if got is not None else "unbound"] += 1
        return got

    monkeypatch.setattr(MobileNode, "_target_bound", target_bound)
    yield seen


def test_update_region_returns_the_entry_it_found_or_made() -> None:
    h = registered(make())
    mn = h.mn
    region = mn.regions[MAP1]
    kept = mn.bul.get(MAP1, RCOA1)
    assert kept is not None
    # Bound to this LCoA already: nothing sent, the entry as it is.
    assert mn._update_region(h.now, region, kept.care_of_address, "local", None) is kept
    made = mn._update_region(h.now, region, LCOA2, "local", None)  # another LCoA: a new BU
    assert made is not None and made is not kept and made is mn.bul.get(MAP1, RCOA1)
    assert made.care_of_address == LCOA2 and made.pending
    assert mn._update_region(h.now, Region(MAP2, None), LCOA2, "local", None) is None


def test_target_bound_in_core_scenarios(checked: Counter[str]) -> None:
    # Registration, then a move to another access router under the same MAP.
    h = registered(make())
    h.now = 5.0
    h.mn.link_down(h.now, "wlan0")
    h.attach()
    for p in bus(h.feed(ra(P2, [mapopt(MAP1)], src=AR2_LL))):
        h.feed(ba_for(p))
    h.advance(2000.0)  # refreshes, and the bindings' lifetimes running out meanwhile
    # Two MAPs at once (RFC 4140 §7.2), then a MAP change with the previous-MAP BU.
    m = make(multiple_maps=True)
    m.attach()
    for p in bus(m.feed(ra(P1, [mapopt(MAP1, dist=2), mapopt(MAP2, dist=1)]))):
        m.feed(ba_for(p))
    m.now = 5.0
    m.mn.link_down(m.now, "wlan0")
    m.attach()
    m.feed(ra(P2, [mapopt(MAP2, dist=1)], src=AR2_LL))
    # RFC 5380 R flag: the region waits for an RCoA (no entry: looked up).
    r = make(profile="rfc5380")
    r.attach()
    r.feed(ra(P1, [mapopt(MAP1, r=True)]))
    assert checked["entry"] and checked["lookup"] and checked["bound"] and checked["unbound"]


@pytest.mark.parametrize("scenario, overrides", [
    ("figure1", ()),
    ("two-domains", ()),
    ("map-failure", ()),
    ("two-domains", ("scenario.profile=rfc5380",)),
    ("many-mobiles", ("scenario.duration=8s", "generate.mobile_nodes.count=40",
                      "generate.mobile_nodes.flow.stop=7s")),
])
def test_target_bound_in_simulated_scenarios(checked: Counter[str], scenario: str,
                                             overrides: tuple[str, ...]) -> None:
    run(scenario, overrides=overrides)
    assert checked["entry"] and checked["bound"]
