"""SPD, PAD and SA selection of core.ipsec: the RFC 4140 §12.1 identity rules and the
router-to-router protection of RFC 4140 §7 and §10.

Rows: SEC-03 (the SA identity is the RCoA; a BU for an RCoA only over the SA that installed
it), SEC-04 / MN-23 (a second MN asking for an existing RCoA is refused, and succeeds with a
new RCoA), AR-06 (router-to-router RAs authenticated; unauthenticated ones dropped), AR-08
(AR–MAP probes authenticated and replay-protected). The engine-level halves (the MAP's BA
status, the MN's retry) are the MAP/MN engines' tests; here the IPsec object's answers are
checked on real packets.
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.core.ipsec import Action, IPsec, Policy, SAParams
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.core.security import SecurityDrop
from hmipv6.wire.icmpv6 import NeighborSolicitation, RouterAdvertisement
from hmipv6.wire.ipv6 import IPv6Packet, Payload, decode
from hmipv6.wire.udp import UDP
from tests.core.ipsec_support import (
    LCOA_A,
    LCOA_B,
    MAP,
    RCOA_A,
    RCOA_B,
    RCOA_PREFIX,
    Checksummed,
    domain,
    icmpv6,
    local_bu,
    raw_bu,
    to_mn,
)


@pytest.mark.req("SEC-03")
def test_SEC_03_sa_is_selected_by_the_rcoa_not_the_lcoa() -> None:
    """The local BU leaves from the LCoA with the RCoA in its HAO; the SA's source selector
    is the RCoA (RFC 4140 §12.1: "The mobile node uses its LCoA as the source address, but
    specifies that the RCoA should be used in the SA")."""
    mn, map_ = IPsec(name="mn-a"), IPsec(name="map")
    key = bytes(range(32))
    mn.add_sa(SAParams.make(spi=0x1001, src=RCOA_A, dst=MAP, peer="map", auth_key=key), "out")
    map_.add_sa(SAParams.make(spi=0x1001, src=RCOA_A, dst=MAP, peer="mn-a", auth_key=key), "in")
    for n in (mn, map_):
        n.add_policy(Policy.mobility(remote=MAP) if n is mn else Policy.mobility(local=MAP))
    got = map_.unprotect(0.0, decode(mn.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()))
    assert got.peer == "mn-a" and got.packet.src == LCOA_A
    # A new LCoA (handover) needs no new SA.
    got = map_.unprotect(0.0, decode(mn.protect(0.0, local_bu(LCOA_B, RCOA_A)).encode()))
    assert got.peer == "mn-a" and got.packet.src == LCOA_B
    # Another RCoA is not covered by this SA: no SA outbound, selector mismatch inbound.
    with pytest.raises(SecurityDrop) as exc:
        mn.protect(0.0, local_bu(LCOA_A, RCOA_B))
    assert exc.value.reason == "no-sa"


@pytest.mark.req("SEC-03")
def test_SEC_03_inbound_selector_mismatch_is_dropped() -> None:
    """A packet authenticated by an SA whose selectors do not cover its (effective) addresses
    is dropped (RFC 4301 §5.2 step 4): B's SA bound to RCoA B cannot carry RCoA A."""
    mn_b, map_ = IPsec(name="mn-b"), IPsec(name="map")
    key = bytes(32)
    # MN B's own outbound SA claims any source; the MAP binds that SA to RCoA B.
    mn_b.add_sa(SAParams.make(spi=0x2002, src=None, dst=MAP, peer="map", auth_key=key), "out")
    map_.add_sa(SAParams.make(spi=0x2002, src=RCOA_B, dst=MAP, peer="mn-b", auth_key=key), "in")
    mn_b.add_policy(Policy.mobility(remote=MAP))
    map_.add_policy(Policy.mobility(local=MAP))
    with pytest.raises(SecurityDrop) as exc:
        map_.unprotect(0.0, decode(mn_b.protect(0.0, local_bu(LCOA_B, RCOA_A)).encode()))
    assert exc.value.reason == "selector-mismatch"
    assert map_.counters == {"selector-mismatch": 1}


@pytest.mark.req("SEC-03")
def test_SEC_03_bu_for_rcoa_x_over_mn_b_sa_is_refused_and_x_keeps_its_owner() -> None:
    """With SAs keyed for the whole RCoA prefix (the MAP cannot know the RCoA in advance),
    the BU authenticates as ``mn-b``; the PAD's record says RCoA A was installed by ``mn-a``,
    so ``may_use`` refuses and the record is unchanged."""
    d = domain()
    # mn-a registers RCoA A; the MAP engine claims it on creating the binding.
    first = d.map.unprotect(0.0, decode(d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()))
    assert first.peer == "mn-a" and d.map.pad.may_use(first.peer, RCOA_A)
    assert d.map.pad.claim("mn-a", RCOA_A)
    # mn-b sends a BU for RCoA A over its own SA.
    hijack = d.map.unprotect(0.0, decode(d.mn_b.protect(0.0, local_bu(LCOA_B, RCOA_A)).encode()))
    assert hijack.peer == "mn-b"
    assert hijack.packet.effective_src == RCOA_A
    assert not d.map.pad.may_use(hijack.peer, RCOA_A)
    assert not d.map.pad.claim("mn-b", RCOA_A)
    assert d.map.pad.owner(RCOA_A) == "mn-a"
    # mn-a keeps using it (re-registration after a handover).
    again = d.map.unprotect(0.0, decode(d.mn_a.protect(0.0, local_bu(LCOA_B, RCOA_A)).encode()))
    assert d.map.pad.may_use(again.peer, RCOA_A)
    # The MAP's BA refusing mn-b goes out over mn-b's SA (peer hint) to mn-b's LCoA.
    ba = d.map.protect(0.0, to_mn(LCOA_B, RCOA_A, raw_bu()), peer="mn-b")
    assert d.mn_b.unprotect(0.0, decode(ba.encode())).peer == "map"
    with pytest.raises(SecurityDrop) as exc:
        d.mn_a.unprotect(0.0, decode(ba.encode()))
    assert exc.value.reason == "unknown-spi"


@pytest.mark.req("SEC-04", "MN-23")
def test_SEC_04_second_mn_claiming_an_existing_rcoa_is_refused_then_a_new_rcoa_succeeds() -> None:
    d = domain()
    assert d.map.pad.claim("mn-a", RCOA_A)
    # mn-b happens to form the same RCoA: refused (RFC 4140 §12.1 INVALID-ID-INFORMATION).
    got = d.map.unprotect(0.0, decode(d.mn_b.protect(0.0, local_bu(LCOA_B, RCOA_A)).encode()))
    assert not d.map.pad.may_use(got.peer, got.packet.effective_src)
    # MN-23: it generates a new RCoA and retries over the same SA: accepted.
    got = d.map.unprotect(0.0, decode(d.mn_b.protect(0.0, local_bu(LCOA_B, RCOA_B)).encode()))
    assert d.map.pad.claim(got.peer or "", got.packet.effective_src)
    assert d.map.pad.owner(RCOA_B) == "mn-b" and d.map.pad.owner(RCOA_A) == "mn-a"
    # Deregistration releases; then the address is free for anyone authorised.
    assert not d.map.pad.release("mn-b", RCOA_A)
    assert d.map.pad.release("mn-a", RCOA_A)
    assert d.map.pad.may_use("mn-b", RCOA_A)


@pytest.mark.req("SEC-03")
def test_SEC_03_rcoa_outside_the_authorised_range_is_dropped() -> None:
    d = domain()
    outside = IPv6Address("2001:db8:eeee::a")
    # mn-a's outbound SA covers only the RCoA prefix; force it with a wider SA to test the PAD.
    wide = SAParams.make(spi=0x7777, src=None, dst=MAP, auth_key=bytes(32))
    d.mn_a.add_sa(SAParams.make(spi=0x7777, src=None, dst=MAP, peer="map", auth_key=bytes(32)),
                  "out")
    d.map.add_sa(SAParams.make(spi=0x7777, src=None, dst=MAP, peer="mn-a", auth_key=bytes(32)),
                 "in")
    assert wide.src is None
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(d.mn_a.protect(0.0, local_bu(LCOA_A, outside)).encode()))
    assert exc.value.reason == "unauthorised-address"
    assert d.map.counters == {"unauthorised-address": 1}


def test_outbound_sa_choice_uses_peer_hint_then_the_pad_holder() -> None:
    d = domain()
    ba = to_mn(LCOA_A, RCOA_A, raw_bu())
    with pytest.raises(SecurityDrop) as exc:
        d.map.protect(0.0, ba)  # two MNs' SAs cover the prefix and nobody holds RCoA A yet
    assert exc.value.reason == "ambiguous-sa"  # RFC 4301 §5.1: discarded, not an exception
    d.map.pad.claim("mn-a", RCOA_A)
    out = d.map.protect(0.0, ba)
    assert d.mn_a.unprotect(0.0, decode(out.encode())).peer == "map"


def test_policy_discard_and_default_action() -> None:
    d = domain()
    d.map.spd.policies.insert(0, Policy.make(remote=LCOA_A, action=Action.DISCARD, ipsec=None))
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(IPv6Packet(LCOA_A, MAP, UDP(1, 2)).encode()))
    assert exc.value.reason == "policy-discard"
    d.map.spd.default = Action.DISCARD
    with pytest.raises(SecurityDrop):
        d.map.unprotect(0.0, decode(IPv6Packet(LCOA_B, MAP, UDP(1, 2)).encode()))


def test_wrong_protection_is_dropped() -> None:
    """A policy that demands AH is not satisfied by ESP."""
    d = domain()
    d.map.spd.policies.insert(0, Policy.mobility(local=MAP, ipsec="ah"))
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()))
    assert exc.value.reason == "wrong-protection"


def test_binding_errors_are_not_under_the_provisioned_policy() -> None:
    """RFC 6275: a Binding Error (MH type 7) must reach senders without an SA."""
    d = domain()
    be = raw_bu()
    be = type(be)(135, be.data[:2] + b"\x07" + be.data[3:], 4)
    assert d.map.protect(0.0, to_mn(LCOA_A, RCOA_A, be)).payload is be


ROUTER_A = IPv6Address("fe80::a")
ROUTER_B = IPv6Address("fe80::b")
AR = IPv6Address("2001:db8:1::1")


def _routers(protocol: str) -> tuple[IPsec, IPsec]:
    suite = "ah-hmac-sha256" if protocol == "ah" else "esp-null-hmac-sha256"
    prov = Provisioner(11, suite)
    a, b = IPsec(name="ar"), IPsec(name="map")
    prov.pair(a, "ar", AR, b, "map", MAP)
    return a, b


@pytest.mark.req("AR-06")
def test_AR_06_router_to_router_ra_is_authenticated_and_an_unauthenticated_one_dropped() -> None:
    a, b = _routers("ah")
    a.add_policy(Policy.router_advertisements(remote=MAP))
    b.add_policy(Policy.router_advertisements(remote=AR))
    ra = IPv6Packet(AR, MAP, icmpv6(134, bytes(12)), hop_limit=255)
    wire = a.protect(0.0, ra).encode()
    assert wire[6] == 51  # AH right after the IPv6 header
    with pytest.raises(SecurityDrop) as exc:
        b.unprotect(0.0, decode(ra.encode()))
    assert exc.value.reason == "unprotected"
    forged = bytearray(wire)
    forged[-1] ^= 0x80  # one bit of the RA body (e.g. a MAP option)
    with pytest.raises(SecurityDrop) as exc:
        b.unprotect(0.0, decode(bytes(forged), verify=False))
    assert exc.value.reason == "bad-icv"
    got = b.unprotect(0.0, decode(wire))
    assert got.peer == "ar" and got.packet.encode() == ra.encode()
    # Other ICMPv6 (e.g. Neighbour Solicitations) is not under this policy.
    ns = IPv6Packet(AR, MAP, icmpv6(135, bytes(20)), hop_limit=255)
    assert b.unprotect(0.0, decode(ns.encode())).peer is None


@pytest.mark.req("AR-08")
def test_AR_08_ar_map_probe_is_authenticated_and_replay_protected() -> None:
    a, b = _routers("esp")
    a.add_policy(Policy.map_probes(remote=MAP))
    b.add_policy(Policy.map_probes(remote=AR))
    echo = IPv6Packet(AR, MAP, icmpv6(128, b"\x00\x01\x00\x01"))
    wire = a.protect(0.0, echo).encode()
    assert b.unprotect(0.0, decode(wire)).peer == "ar"
    with pytest.raises(SecurityDrop) as exc:
        b.unprotect(1.0, decode(wire))  # an attacker replays the probe
    assert exc.value.reason == "replay"
    reply = IPv6Packet(MAP, AR, icmpv6(129, b"\x00\x01\x00\x01"))
    assert a.unprotect(0.0, decode(b.protect(0.0, reply).encode())).peer == "map"
    with pytest.raises(SecurityDrop) as exc:
        a.unprotect(0.0, decode(reply.encode()))  # a forged, unprotected reply
    assert exc.value.reason == "unprotected"
    assert a.counters["unprotected"] == 1 and b.counters["replay"] == 1


def test_map_policy_covers_bus_whose_rcoa_is_outside_the_prefix() -> None:
    """The MAP's provisioned policy is on its own address, so a BU with any HAO needs ESP."""
    d = domain()
    bogus = local_bu(LCOA_A, IPv6Address("2001:db8:eeee::1"))
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(bogus.encode()))
    assert exc.value.reason == "unprotected"
    assert RCOA_PREFIX.prefixlen == 64


# -- the SPD's cached lookup is the first match of a scan of the list --------------------------

_NETS = ["2001:db8:1::/48", "2001:db8:1:2::/64", "2001:db8:2::/48", "2001:db8::/32",
         "2001:db8:1:2::5/128", "fe80::/10"]
_ADDRS = [IPv6Address(a) for a in ("2001:db8:1::1", "2001:db8:1:2::5", "2001:db8:1:2::6",
                                   "2001:db8:2::9", "2001:db8:ffff::1", "fe80::1", "2001:db9::1")]
_POLICY = st.builds(
    lambda local, remote, protocol, types, action: Policy.make(
        local=local, remote=remote, protocol=protocol, types=types, action=action),
    st.one_of(st.none(), st.sampled_from(_NETS)), st.one_of(st.none(), st.sampled_from(_NETS)),
    st.sampled_from([None, 135, 58]), st.one_of(st.none(), st.frozensets(
        st.sampled_from([0, 5, 6, 134, 135]), min_size=1)),
    st.sampled_from(list(Action)))


def _scan(policies: list[Policy], local: IPv6Address, remote: IPv6Address, protocol: int,
          mtype: int) -> Policy | None:
    for p in policies:
        if ((p.local is None or local in p.local) and (p.remote is None or remote in p.remote)
                and (p.protocol is None or p.protocol == protocol)
                and (p.types is None or mtype in p.types)):
            return p
    return None


@given(st.lists(st.one_of(
    st.tuples(st.just("add"), _POLICY),
    st.tuples(st.just("insert"), _POLICY),
    st.tuples(st.just("delete"), st.integers(0, 10)),
    st.tuples(st.just("lookup"), st.tuples(st.sampled_from(_ADDRS), st.sampled_from(_ADDRS),
                                            st.sampled_from([135, 58, 17]),
                                            st.sampled_from([0, 5, 6, 134, 135])))),
    max_size=40))
@settings(max_examples=300, deadline=None)
def test_spd_cached_lookup_is_the_first_match_of_the_list(steps: list[tuple[str, object]]
                                                          ) -> None:
    """The SPD caches candidates per (local, remote, protocol), leaving out an address no
    entry for the protocol selects on; whatever the entries and edits, a lookup answers what
    scanning the ordered list answers (RFC 4301 §4.4.1: the first matching entry)."""
    spd = IPsec().spd
    for op, arg in steps:
        if op == "add":
            assert isinstance(arg, Policy)
            spd.add(arg)
        elif op == "insert":
            assert isinstance(arg, Policy)
            spd.policies.insert(0, arg)
        elif op == "delete":
            assert isinstance(arg, int)
            if spd.policies:
                del spd.policies[arg % len(spd.policies)]
        else:
            assert isinstance(arg, tuple)
            local, remote, protocol, mtype = arg
            assert spd.lookup(local, remote, protocol, lambda m=mtype: m) is _scan(
                spd.policies, local, remote, protocol, mtype)


# -- an unprotected packet's inbound verdict, whatever the SPD went through -----------------------

@given(st.lists(st.one_of(
    st.tuples(st.just("add"), _POLICY),
    st.tuples(st.just("delete"), st.integers(0, 10)),
    # A PROTECT default with no matching entry refuses the packet as "unprotected" (it
    # used to fail an assertion inside _check_inbound).
    st.tuples(st.just("default"), st.sampled_from([Action.BYPASS, Action.DISCARD,
                                                   Action.PROTECT])),
    st.tuples(st.just("receive"), st.tuples(st.sampled_from(_ADDRS), st.sampled_from(_ADDRS),
                                             st.sampled_from([58, 17, 135]),
                                             st.sampled_from([0, 5, 6, 134, 135])))),
    max_size=40))
@settings(max_examples=300, deadline=None)
def test_unprotected_packets_are_judged_as_a_scan_of_the_spd_judges_them(
        steps: list[tuple[str, object]]) -> None:
    """RFC 4301 §5.2 step 3 for a packet without AH or ESP: accepted iff the first matching
    SPD entry (or the default, when none matches) is BYPASS. ``unprotect`` skips the lookup
    when no entry can apply to the packet's protocol (``SecurityPolicyDatabase.bypasses``,
    the simulator's ICMPv6 and UDP on a mobile node); edits of the entries and of the default
    made after that are obeyed at once."""
    sec = IPsec()
    spd = sec.spd
    for op, arg in steps:
        if op == "add":
            assert isinstance(arg, Policy)
            spd.add(arg)
        elif op == "delete":
            assert isinstance(arg, int)
            if spd.policies:
                del spd.policies[arg % len(spd.policies)]
        elif op == "default":
            assert isinstance(arg, Action)
            spd.default = arg
        else:
            assert isinstance(arg, tuple)
            src, dst, protocol, mtype = arg
            if protocol == 135 and mtype == 6:
                mtype = 5  # a BA does not fit the 8-octet message below
            body: Payload = (
                UDP(1, 2) if protocol == 17
                else RouterAdvertisement() if protocol == 58 and mtype == 134
                else NeighborSolicitation(dst) if protocol == 58 and mtype == 135
                else icmpv6(mtype) if protocol == 58
                else raw_bu() if mtype == 5
                else Checksummed(135, bytes((59, 0, mtype, 0, 0, 0, 0, 0)), 4))  # type: ignore[assignment]
            packet = decode(IPv6Packet(src, dst, body).encode())
            first = _scan(spd.policies, dst, src, protocol, mtype if protocol != 17 else -1)
            action = first.action if first is not None else spd.default
            no_entry = all(p.protocol not in (None, protocol) for p in spd.policies)
            assert spd.bypasses(protocol) is (no_entry and spd.default is Action.BYPASS)
            if action is Action.BYPASS:
                got = sec.unprotect(0.0, packet)
                assert got.peer is None and got.packet is packet
            else:
                with pytest.raises(SecurityDrop) as exc:
                    sec.unprotect(0.0, packet)
                assert exc.value.reason == ("policy-discard" if action is Action.DISCARD
                                            else "unprotected")


# -- the SAD's indexed outbound lookup is the scan of its SAs in installation order -------------

@given(st.lists(st.one_of(
    st.tuples(st.just("add"), st.tuples(st.sampled_from(["esp", "ah"]),
                                        st.one_of(st.none(), st.sampled_from(_NETS)),
                                        st.one_of(st.none(), st.sampled_from(_NETS)))),
    st.tuples(st.just("remove"), st.integers(0, 10)),
    st.tuples(st.just("lookup"), st.tuples(st.sampled_from(["esp", "ah"]),
                                            st.sampled_from(_ADDRS), st.sampled_from(_ADDRS))),
), max_size=40))
@settings(max_examples=300, deadline=None)
def test_sad_outbound_lookup_is_the_scan_of_its_sas(steps: list[tuple[str, object]]) -> None:
    """Outbound SAs are found through a selector index (sad.RangeIndex) and cached; whatever
    the SAs and edits, a lookup answers the SAs whose selectors cover the traffic, in
    installation order, as scanning them does."""
    sad = IPsec().sad
    installed = []
    spi = 1000
    for op, arg in steps:
        if op == "add":
            assert isinstance(arg, tuple)
            proto, src, dst = arg
            spi += 1
            installed.append(sad.add(SAParams.make(
                spi=spi, protocol=proto, src=src, dst=dst, enc="NULL",
                auth="HMAC-SHA-256-128", auth_key=bytes(32)), "out"))
        elif op == "remove":
            assert isinstance(arg, int)
            if installed:
                sad.remove(installed.pop(arg % len(installed)))
        else:
            assert isinstance(arg, tuple)
            proto, src, dst = arg
            expected = [sa for sa in installed
                        if sa.params.protocol == proto
                        and (sa.params.src is None or src in sa.params.src)
                        and (sa.params.dst is None or dst in sa.params.dst)]
            assert sad.outbound(src, dst, proto) == expected
