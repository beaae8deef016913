"""``IPsec.admits_in_clear`` remembers its answer for ICMPv6 (asked for every Neighbor
Discovery message a mobile node hears): the memo must follow every change of the SPD (an
entry added, edited in place, removed; the default; the whole database replaced), and it
must count ``bypass-in`` exactly as :meth:`IPsec.unprotect` does, memo or not."""

from __future__ import annotations

from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.spd import Action, Policy, SecurityPolicyDatabase


def _icmpv6(action: Action) -> Policy:
    return Policy.make(protocol=58, action=action, name="ICMPv6")


def test_answer_follows_every_spd_change() -> None:
    ipsec = IPsec(name="mn")
    assert ipsec.admits_in_clear(58)
    assert ipsec.admits_in_clear(58)  # remembered
    policy = ipsec.add_policy(_icmpv6(Action.PROTECT))
    assert not ipsec.admits_in_clear(58)
    ipsec.spd.policies.remove(policy)  # edited in place
    assert ipsec.admits_in_clear(58)
    ipsec.spd.default = Action.DISCARD
    assert not ipsec.admits_in_clear(58)
    ipsec.spd.default = Action.BYPASS
    assert ipsec.admits_in_clear(58)
    ipsec.spd.policies = [_icmpv6(Action.DISCARD)]  # the list replaced
    assert not ipsec.admits_in_clear(58)
    ipsec.spd = SecurityPolicyDatabase()  # the database replaced
    assert ipsec.admits_in_clear(58)


def test_counts_as_unprotect_counts() -> None:
    ipsec = IPsec(name="mn")
    for _ in range(3):
        assert ipsec.admits_in_clear(58)
    assert ipsec.admits_in_clear(17)
    assert ipsec.counters["bypass-in"] == 4
    ipsec.add_policy(_icmpv6(Action.PROTECT))
    assert not ipsec.admits_in_clear(58)
    assert ipsec.counters["bypass-in"] == 4  # a refusal counts nothing here


def test_other_protocols_are_not_memoised_as_icmpv6() -> None:
    ipsec = IPsec(name="mn")
    assert ipsec.admits_in_clear(58)
    ipsec.add_policy(Policy.mobility(name="MH"))
    assert ipsec.admits_in_clear(58)
    assert not ipsec.admits_in_clear(135)
