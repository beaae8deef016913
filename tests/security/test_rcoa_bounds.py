"""Issue 9, item 6: bindings per identity are bounded, and an RCoA is bound to its SA.

Before: one authenticated mobile node created as many bindings as it sent BUs for distinct
RCoAs (100,000 in the attack, 370 octets and a multicast NA each), and an on-path attacker
could rewrite the Home Address option (outside ESP) of a protected local BU to another RCoA
whose checksum sum is the same (the MH checksum inside ESP then still verifies) and the MAP
created a binding for it. Now:

- at most ``max_bindings_per_peer`` (default 4) bindings per identity; beyond, BA status 130
  ("insufficient resources", RFC 6275 §6.1.8), the cache unchanged;
- an SA keyed for the whole RCoA prefix is bound to the RCoA its peer registered over it
  (RFC 4140 §12.1: the SA is established for that RCoA); another RCoA over it is refused
  with 129. SAs keyed for one RCoA each (as IKEv2 Child SAs are, RFC 5380) are bound by
  their selectors.

BUs come from the mobile node's IPsec as octets, through both MAP paths.
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from hmipv6.core.anchor import MAX_BINDINGS_PER_PEER
from hmipv6.core.ipsec import IPsec, Policy
from hmipv6.core.ipsec.keys import MH_SIGNALLING_TYPES, Provisioner
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, decode
from hmipv6.wire.mobility import BAStatus, BindingAcknowledgement, BindingUpdate, BUFlags
from tests.core.ipsec_support import LCOA_A, MAP, RCOA_A, RCOA_PREFIX, domain, local_bu


def _map(sec: IPsec, fast: bool) -> MobilityAnchorPoint:
    m = MobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=sec)
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    m.fast_path = fast
    return m


def _bu(mn: IPsec, rcoa: IPv6Address, seq: int, lifetime: int = 60) -> bytes:
    return mn.protect(0.0, local_bu(LCOA_A, rcoa, BindingUpdate(seq, BUFlags.A | BUFlags.M,
                                                                lifetime))).encode()


def _statuses(m: MobilityAnchorPoint, mn: IPsec) -> list[int]:
    out = []
    for t in m.datagrams_to_send(0.0):
        p = decode(t.data)
        if isinstance(p.payload, EncapsulatingSecurityPayload):
            ba = mn.unprotect(0.0, p).packet.payload
            assert isinstance(ba, BindingAcknowledgement)
            out.append(int(ba.status))
    while m.next_event() is not None:
        pass
    return out


def _rcoa(i: int) -> IPv6Address:
    return IPv6Address(f"2001:db8:ffff::{0x100 + i:x}")


def _child_sas(n: int) -> tuple[IPsec, IPsec]:
    """A MAP and a mobile node ``mn-a`` with ``n`` SA pairs, each keyed for one RCoA (as
    IKEv2 Child SAs are under RFC 5380), and the policies and PAD entries of a MN–MAP pair."""
    prov = Provisioner(11)
    map_, mn = IPsec(name="map"), IPsec(name="mn-a")
    for i in range(n):
        prov.pair(mn, "mn-a", _rcoa(i), map_, "map", MAP)
    mn.add_policy(Policy.make(remote=MAP, protocol=135, types=MH_SIGNALLING_TYPES))
    map_.add_policy(Policy.make(local=MAP, protocol=135, types=MH_SIGNALLING_TYPES))
    mn.authorise("map", [MAP])
    map_.authorise("mn-a", [RCOA_PREFIX])
    return map_, mn


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "general-path"])
def test_one_identity_gets_at_most_max_bindings_then_130(fast: bool) -> None:
    n = MAX_BINDINGS_PER_PEER + 3
    map_sec, mn = _child_sas(n)
    m = _map(map_sec, fast)
    got = []
    for i in range(n):
        m.receive(0.0, "eth0", _bu(mn, _rcoa(i), 1))
        got += _statuses(m, mn)
    assert got == [0] * MAX_BINDINGS_PER_PEER + [BAStatus.INSUFFICIENT_RESOURCES] * 3
    assert len(m.cache) == MAX_BINDINGS_PER_PEER == m.cache.held_by("mn-a")
    assert m.counters["bu-refused.130"] == 3
    # A deregistration frees a place; refreshes of held bindings are never refused.
    m.receive(1.0, "eth0", _bu(mn, _rcoa(0), 2, lifetime=0))
    m.receive(1.0, "eth0", _bu(mn, _rcoa(1), 2))
    m.receive(1.0, "eth0", _bu(mn, _rcoa(n - 1), 2))
    assert _statuses(m, mn) == [0, 0, 0]
    assert m.cache.held_by("mn-a") == MAX_BINDINGS_PER_PEER


def test_the_bound_is_configurable() -> None:
    map_sec, mn = _child_sas(3)
    m = _map(map_sec, True)
    m.max_bindings_per_peer = 1
    for i in range(3):
        m.receive(0.0, "eth0", _bu(mn, _rcoa(i), 1))
    assert _statuses(m, mn) == [0, 130, 130]


def _rewritten_hao(wire: bytes) -> tuple[bytes, IPv6Address]:
    """The Home Address option (octets 48-63, outside ESP) rewritten to another RCoA whose
    16-bit one's-complement sum is the same (the last two words swapped), so that the MH
    checksum inside ESP still verifies."""
    hoa = wire[48:64]
    other = hoa[:12] + hoa[14:16] + hoa[12:14]
    return wire[:48] + other + wire[64:], IPv6Address(other)


@pytest.mark.req("SEC-03")
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "general-path"])
def test_a_rewritten_hao_naming_another_rcoa_is_refused(fast: bool) -> None:
    d = domain()
    m = _map(d.map, fast)
    m.receive(0.0, "eth0", _bu(d.mn_a, RCOA_A, 1))
    assert _statuses(m, d.mn_a) == [0]
    wire, other = _rewritten_hao(_bu(d.mn_a, RCOA_A, 2))
    assert other != RCOA_A and other in RCOA_PREFIX
    m.receive(1.0, "eth0", wire)
    out = [decode(t.data) for t in m.datagrams_to_send(1.0)]
    assert len(out) == 1 and out[0].routing_home_address == other
    ba = d.mn_a.unprotect(1.0, out[0]).packet.payload  # sealed for the RCoA it names
    assert isinstance(ba, BindingAcknowledgement)
    assert ba.status == BAStatus.ADMINISTRATIVELY_PROHIBITED
    assert m.cache.get(other, 1.0) is None
    assert m.cache.held_by("mn-a") == 1 and d.map.pad.owned_by("mn-a") == {RCOA_A}
    assert m.counters["bu-refused.rcoa-not-of-sa"] == 1


def test_a_prefix_wide_sa_cannot_spray_rcoas() -> None:
    """The 100,000-bindings attack with the seed-provisioned SA: every RCoA after the first
    is refused while the first binding lives; after it is gone, another may be taken."""
    d = domain()
    m = _map(d.map, True)
    for i in range(50):
        m.receive(0.0, "eth0", _bu(d.mn_a, _rcoa(i), 1))
    got = _statuses(m, d.mn_a)
    assert got == [0] + [129] * 49
    assert len(m.cache) == 1
    m.receive(1.0, "eth0", _bu(d.mn_a, _rcoa(0), 2, lifetime=0))
    m.receive(1.0, "eth0", _bu(d.mn_a, _rcoa(7), 2))
    assert _statuses(m, d.mn_a) == [0, 0]
    assert [e.address for e in m.bindings()] == [_rcoa(7)]


def test_held_by_follows_creation_refresh_removal_expiry_and_reload() -> None:
    from hmipv6.core.binding_cache import BindingCache, RetainedStore

    store = RetainedStore()
    c = BindingCache(store)
    a, b, coa = _rcoa(1).packed, _rcoa(2).packed, LCOA_A.packed
    assert c.update_packed(0.0, a, coa, 10, 1, 0, "p")
    assert c.update_packed(0.0, b, coa, 20, 1, 0, "p")
    assert not c.update_packed(1.0, a, coa, 10, 2, 0, "p")
    assert c.held_by("p") == 2 and c.held_by("p", excluding=a) == 1
    assert c.held_by(b"p") == 2 and c.held_by("q") == 0
    assert not c.update_packed(1.0, a, coa, 10, 3, 0, "q")  # (never done by the engines)
    assert (c.held_by("p"), c.held_by("q")) == (1, 1)
    c.expire(11.5)
    assert (c.held_by("p"), c.held_by("q")) == (1, 0)
    assert BindingCache(store).held_by("p") == 1  # rebuilt on reload
    c.remove(_rcoa(2))
    assert c.held_by("p") == 0
    c.update_packed(2.0, a, coa, 10, 1, 0, "p")
    c.clear()
    assert c.held_by("p") == 0
