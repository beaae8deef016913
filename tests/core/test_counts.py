"""``Counts`` behaves as ``collections.Counter`` does for what the engines do with their
counters: increment (a missing key reads as 0 and is not stored by reading), read, iterate,
compare, copy into a dict."""

from __future__ import annotations

from collections import Counter

from hmipv6.core.counts import Counts


def test_increments_reads_and_iteration_match_counter() -> None:
    counts, counter = Counts(), Counter[str]()
    for key in ["a", "b", "a", "dropped.x", "a"]:
        counts[key] += 1
        counter[key] += 1
    counts["b"] += 3
    counter["b"] += 3
    assert counts["never"] == counter["never"] == 0
    assert "never" not in counts  # reading a missing key stores nothing
    assert counts == counter
    assert list(counts.items()) == list(counter.items())  # insertion order
    assert dict(counts) == dict(counter) == {"a": 3, "b": 4, "dropped.x": 1}
    assert counts.get("a") == 3 and counts.get("never", 0) == 0


def test_is_a_plain_dict_for_item_assignment() -> None:
    # The point of the class: item assignment is dict's own slot, no Python-level override.
    assert Counts.__setitem__ is dict.__setitem__
    assert "__delitem__" not in vars(Counts) and "__setitem__" not in vars(Counts)
    assert not hasattr(Counts(), "__dict__")


def test_drops_count_under_their_reason_key() -> None:
    # Node.drop makes each reason's key once (node._DROP_KEYS) and reuses it.
    from hmipv6.core import node as node_module
    from hmipv6.core.events import PacketDropped
    from hmipv6.core.node import Node

    n = Node("n")
    reason = "test-only-reason"
    assert reason not in node_module._DROP_KEYS
    n.drop(0.0, reason, "first")
    assert node_module._DROP_KEYS[reason] == f"dropped.{reason}"
    n.drop(0.0, reason, "second")
    n.report_drops = False
    n.drop(0.0, reason)
    assert isinstance(n.counters, Counts)
    assert n.counters == {f"dropped.{reason}": 3}
    assert n.unreported_drops == 1
    events = []
    while (e := n.next_event()) is not None:
        events.append(e)
    assert [(e.reason, e.detail) for e in events if isinstance(e, PacketDropped)] == [
        (reason, "first"), (reason, "second")]
