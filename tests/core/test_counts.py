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

