"""``MobileNode._lcoa_ints`` (the links' LCoAs as integers, which ``_on_ns`` reads to ignore
other stations' solicitations at once) follows every LCoA change: configured from an RA,
dropped on a move or a duplicate, taken from a fast handover's NCoA. Checked after every
scheduler event of whole runs with handovers, for each protocol."""

from __future__ import annotations

import pytest

from hmipv6.core.fast_handover import FastMobileNode
from hmipv6.core.mobile_node import MobileNode
from hmipv6.sim.network import Network
from hmipv6.sim.scenario import load


def _expected(node: MobileNode) -> frozenset[int]:
    return frozenset(int(lk.lcoa) for lk in node.links.values() if lk.lcoa is not None)


@pytest.mark.parametrize("protocol", ["hmipv6", "mipv6", "fhmipv6"])
def test_follows_every_lcoa_change(protocol: str) -> None:
    net = Network(load("figure1"), protocol=protocol)
    mobiles = [n for n in net.nodes.values() if isinstance(n, MobileNode)]
    assert mobiles
    if protocol == "fhmipv6":
        assert all(isinstance(n, FastMobileNode) for n in mobiles)
    net.start()
    changes = 0
    seen: dict[str, frozenset[int]] = {}
    while net.sched.peek() <= net.scenario.duration and net.sched.step():
        for n in mobiles:
            assert n._lcoa_ints == _expected(n), n.name
            if seen.get(n.name) != n._lcoa_ints:
                seen[n.name] = n._lcoa_ints
                changes += 1
    assert changes > len(mobiles)  # LCoAs were configured, and changed by the moves
