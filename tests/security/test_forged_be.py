"""Issue 9, item 5: forged Binding Errors (RFC 6275 §11.3.6, §15.1). An attacker on the mobile
node's cell sends it unprotected Binding Errors claiming to come from its MAP: status 1
("unknown binding for Home Address destination option") then, while the re-registration is
outstanding, status 2 ("unrecognized MH Type"). They are hints: the node re-registers with
its MAP under ESP and keeps its MAP; it never falls back to registering its LCoA with the
home agent (location privacy, RFC 4140 §6.6), and the flow loses nothing more."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from hmipv6.core.events import BindingUpdateSent, MapSelected
from hmipv6.wire.ipv6 import IPv6Packet
from hmipv6.wire.mobility import BEStatus, BindingError
from tests.security.mn_attack_support import Attack, baseline

MAP1 = IPv6Address("2001:db8:100::1")
HA = IPv6Address("2001:db8:f::1")
HOA = IPv6Address("2001:db8:f::100")


def _forged_be(attack: Attack, status: BEStatus, home: str = "rcoa") -> bytes | None:
    """A Binding Error "from" the MAP to the node's LCoA, about its RCoA (what an attacker
    on the cell learns from the node's traffic: the RCoA is the HAO of its local BUs)."""
    mn = attack.mn()
    lcoa, rcoa = mn.lcoa(), mn.rcoa()
    if lcoa is None or rcoa is None:
        return None
    about = rcoa if home == "rcoa" else IPv6Address(home)
    return IPv6Packet(MAP1, lcoa, BindingError(status, about)).encode()


def _burst(attack: Attack, at: float) -> None:
    attack.at(at, lambda: _forged_be(attack, BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION),
              to="mn")
    # 0.5 ms later: the re-registration the first one triggered is still outstanding.
    attack.at(at + 0.0005, lambda: _forged_be(attack, BEStatus.UNRECOGNIZED_MH_TYPE), to="mn")


@pytest.mark.req("MN-22", "MN-20")
def test_forged_binding_errors_do_not_make_the_node_leave_its_map() -> None:
    lost = baseline("figure1").report["flows"][0]["lost"]
    attack = Attack("figure1")
    for t in (3.0, 3.3, 3.6, 5.0, 6.5):
        _burst(attack, t)
    attack.run()
    mn = attack.mn()
    homes = [e for e in attack.events("mn", BindingUpdateSent)
             if isinstance(e, BindingUpdateSent) and e.to == HA]
    # One home registration (the first attachment), always with the RCoA: never the LCoA.
    assert [e.care_of_address for e in homes] == [mn.rcoa(MAP1)]
    assert {e.map for e in attack.events("mn", MapSelected) if isinstance(e, MapSelected)} \
        == {MAP1}
    ha = attack.net.nodes["ha"]
    entry = ha.cache.get(HOA)  # type: ignore[attr-defined]
    assert entry is not None and entry.care_of == mn.rcoa(MAP1)
    assert attack.report["flows"][0]["lost"] == lost
    counters = attack.report["nodes"]["mn"]["counters"]
    # Status 1: one protected re-registration per burst at most, and none closer than
    # initial_bindack_timeout (1 s) to the previous: 3.0, 5.0, 6.5 re-register; 3.3, 3.6
    # are rate limited. Status 2 contradicts the MAP's protected BAs: not acted on.
    assert counters["binding_error_reregistration"] == 3
    assert counters["binding_error_rate_limited"] == 2
    assert counters["dropped.be-inconsistent"] == 5
    local = [e for e in attack.events("mn", BindingUpdateSent)
             if isinstance(e, BindingUpdateSent) and e.to == MAP1 and 2.9 < e.time < 7.0]
    assert len(local) == 3


@pytest.mark.req("MN-22")
def test_binding_error_that_matches_no_binding_is_ignored() -> None:
    """RFC 6275 §11.3.6 as a hint that must match state: a BE whose Home Address is none the
    node registered at that MAP changes nothing (``be-unmatched``)."""
    attack = Attack("figure1")
    for i in range(10):
        attack.at(3.0 + i * 0.2, lambda: _forged_be(
            attack, BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION, "2001:db8:100::dead"),
            to="mn")
    attack.run()
    counters = attack.report["nodes"]["mn"]["counters"]
    assert counters["dropped.be-unmatched"] == 10
    assert "binding_error_reregistration" not in counters
    assert not [e for e in attack.events("mn", BindingUpdateSent)
                if isinstance(e, BindingUpdateSent) and 2.9 < e.time < 6.0]
