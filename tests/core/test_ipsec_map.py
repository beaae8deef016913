"""The MobilityAnchorPoint engine with core.ipsec as its security: SEC rows end to end.

Local BUs built by the MN's IPsec go into ``map.receive`` as octets; what the MAP sends back
is opened with the MN's IPsec; drops are observed as ``PacketDropped`` events and counters.

Rows: SEC-01 (unprotected / badly authenticated local BU dropped and counted), SEC-02
(replay dropped; the binding does not move), SEC-03 (a BU for RCoA X over MN B's SA is
refused and X keeps its binding), SEC-04 / MN-23 (a second MN claiming an existing RCoA is
refused with 134 and succeeds with a new RCoA), SEC-05 (an authenticated identity the PAD
does not authorise gets no MAP service, whatever RCoA it asks for). The MAP's octet-level
fast path for ESP-protected local BUs is checked against the general path (same octets,
events, counters, bindings, PAD and SA state) on random valid, replayed, tampered,
wrong-SPI, truncated, extended, foreign-SA and out-of-window BUs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv6Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmipv6.core.events import Event, PacketDropped
from hmipv6.core.ipsec import IPsec, Policy
from hmipv6.core.ipsec.keys import MH_SIGNALLING_TYPES
from hmipv6.core.ipsec.sad import SecurityAssociation
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, RoutingHeaderType2, decode
from hmipv6.wire.mobility import BAStatus, BindingAcknowledgement, BindingUpdate, BUFlags
from tests.core.ipsec_support import (
    LCOA_A,
    LCOA_B,
    MAP,
    RCOA_A,
    RCOA_B,
    RCOA_PREFIX,
    Domain,
    bu,
    domain,
    local_bu,
)


def _map(d: Domain) -> MobilityAnchorPoint:
    m = MobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=d.map)
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    return m


def _events(m: MobilityAnchorPoint) -> list[Event]:
    out = []
    while (e := m.next_event()) is not None:
        out.append(e)
    return out


def _send(m: MobilityAnchorPoint, mn: IPsec, lcoa: IPv6Address, rcoa: IPv6Address, seq: int,
          now: float = 0.0) -> bytes:
    wire = mn.protect(now, local_bu(lcoa, rcoa, bu(seq=seq))).encode()
    m.receive(now, "eth0", wire)
    return wire


def _ba(m: MobilityAnchorPoint, mn: IPsec) -> BindingAcknowledgement:
    # Besides the BA, a new binding makes the MAP announce the RCoA (proxy ND).
    (tx,) = [t for t in m.datagrams_to_send(0.0)
             if isinstance(decode(t.data).payload, EncapsulatingSecurityPayload)]
    got = mn.unprotect(0.0, decode(tx.data))
    assert got.peer == "map"
    assert isinstance(got.packet.payload, BindingAcknowledgement)
    return got.packet.payload


def _dropped(m: MobilityAnchorPoint) -> list[str]:
    return [e.reason for e in _events(m) if isinstance(e, PacketDropped)]


@pytest.mark.req("SEC-01")
def test_SEC_01_map_accepts_a_protected_local_bu_and_answers_with_a_protected_ba() -> None:
    d = domain()
    m = _map(d)
    _send(m, d.mn_a, LCOA_A, RCOA_A, 1)
    ba = _ba(m, d.mn_a)
    assert ba.status == 0 and ba.sequence == 1
    entry = m.cache.get(RCOA_A, 0.0)
    assert entry is not None and entry.care_of == LCOA_A and entry.peer == "mn-a"
    assert d.map.pad.owner(RCOA_A) == "mn-a"


@pytest.mark.req("SEC-01")
def test_SEC_01_map_drops_an_unprotected_local_bu() -> None:
    d = domain()
    m = _map(d)
    m.receive(0.0, "eth0", local_bu(LCOA_A, RCOA_A, bu(seq=1)).encode())
    assert m.datagrams_to_send(0.0) == []  # no BA: dropped silently
    assert _dropped(m) == ["unprotected"]
    assert m.counters["dropped.unprotected"] == 1 and d.map.counters["unprotected"] == 1
    assert m.cache.get(RCOA_A, 0.0) is None


@pytest.mark.req("SEC-01", "SEC-02")
def test_SEC_02_map_drops_a_bu_with_one_flipped_bit() -> None:
    d = domain()
    m = _map(d)
    wire = bytearray(d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=1))).encode())
    wire[-17] ^= 0x01  # last octet before the ICV: inside the protected BU
    m.receive(0.0, "eth0", bytes(wire))
    assert m.datagrams_to_send(0.0) == []
    assert _dropped(m) == ["bad-icv"]
    assert m.counters["dropped.bad-icv"] == 1
    assert m.cache.get(RCOA_A, 0.0) is None


@pytest.mark.req("SEC-02")
def test_SEC_02_map_drops_a_replayed_bu_and_the_binding_does_not_move() -> None:
    d = domain()
    m = _map(d)
    old = _send(m, d.mn_a, LCOA_A, RCOA_A, 1)
    assert _ba(m, d.mn_a).status == 0
    _send(m, d.mn_a, LCOA_B, RCOA_A, 2, now=1.0)  # handover to LCoA B
    assert _ba(m, d.mn_a).status == 0
    _events(m)
    m.receive(2.0, "eth0", old)  # an attacker replays the first BU (to LCoA A)
    assert m.datagrams_to_send(2.0) == []
    assert _dropped(m) == ["replay"]
    assert m.counters["dropped.replay"] == 1
    entry = m.cache.get(RCOA_A, 2.0)
    assert entry is not None and entry.care_of == LCOA_B and entry.sequence == 2


@pytest.mark.req("SEC-03")
def test_SEC_03_bu_for_rcoa_x_over_mn_b_sa_is_refused_and_x_keeps_its_binding() -> None:
    d = domain()
    m = _map(d)
    _send(m, d.mn_a, LCOA_A, RCOA_A, 1)
    assert _ba(m, d.mn_a).status == 0
    _send(m, d.mn_b, LCOA_B, RCOA_A, 50)  # B, authenticated as mn-b, asks for A's RCoA
    ba = _ba(m, d.mn_b)  # the refusal is protected with mn-b's SA
    assert ba.status == BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED  # 134
    entry = m.cache.get(RCOA_A, 0.0)
    assert entry is not None and entry.care_of == LCOA_A and entry.peer == "mn-a"
    assert d.map.pad.owner(RCOA_A) == "mn-a"


@pytest.mark.req("SEC-04", "MN-23")
def test_SEC_04_second_mn_with_an_existing_rcoa_is_refused_then_registers_a_new_rcoa() -> None:
    d = domain()
    m = _map(d)
    _send(m, d.mn_a, LCOA_A, RCOA_A, 1)
    assert _ba(m, d.mn_a).status == 0
    _send(m, d.mn_b, LCOA_B, RCOA_A, 1)
    assert _ba(m, d.mn_b).status == BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED
    # MN-23: a new RCoA, same SA.
    _send(m, d.mn_b, LCOA_B, RCOA_B, 2)
    assert _ba(m, d.mn_b).status == 0
    assert d.map.pad.owner(RCOA_B) == "mn-b" and d.map.pad.owner(RCOA_A) == "mn-a"
    a, b = m.cache.get(RCOA_A, 0.0), m.cache.get(RCOA_B, 0.0)
    assert a is not None and a.care_of == LCOA_A
    assert b is not None and b.care_of == LCOA_B and b.peer == "mn-b"


@pytest.mark.req("SEC-05")
def test_SEC_05_an_authenticated_identity_without_map_authorisation_is_refused_any_rcoa() -> None:
    """RFC 4140 §12.1 (MAY): the MAP may authorise its service by MN identity. ``mn-c`` holds
    valid SAs with the MAP (it is authenticated) but the MAP's PAD has no entry for it: every
    local BU it sends, whatever the RCoA, gets 129 (administratively prohibited), protected
    with its SA; no binding, no RCoA claimed, counted."""
    d = domain()
    m = _map(d)
    c = IPsec(name="mn-c")
    d.provisioner.pair(c, "mn-c", RCOA_PREFIX, d.map, "map", MAP)
    c.add_policy(Policy.make(remote=MAP, protocol=135, types=MH_SIGNALLING_TYPES,
                             name="MH MN-MAP"))
    c.authorise("map", [MAP])
    for seq, rcoa in enumerate((RCOA_A, RCOA_B, IPv6Address("2001:db8:ffff::c")), start=1):
        _send(m, c, LCOA_B, rcoa, seq)
        assert _ba(m, c).status == BAStatus.ADMINISTRATIVELY_PROHIBITED  # 129
        assert m.cache.get(rcoa, 0.0) is None and d.map.pad.owner(rcoa) is None
    assert m.counters["bu-refused.129"] == 3
    assert d.map.counters["esp-in"] == 3  # authenticated: the refusal is authorisation's
    # An authorised identity is served meanwhile.
    _send(m, d.mn_a, LCOA_A, RCOA_A, 1)
    assert _ba(m, d.mn_a).status == 0


# -- the ESP fast path behaves exactly like the general path -----------------------------------


@dataclass
class _Twins:
    """Two MAPs with identically keyed IPsec (same seed), fast path on and off, and the
    mobile nodes' IPsec (of the first domain) that builds the BUs fed to both."""

    fast: MobilityAnchorPoint
    slow: MobilityAnchorPoint
    fast_sec: IPsec
    slow_sec: IPsec
    mns: dict[str, IPsec]


def _twins(suite: str) -> _Twins:
    df, ds = domain(suite), domain(suite)
    fast, slow = _map(df), _map(ds)
    slow.fast_path = False
    return _Twins(fast, slow, df.map, ds.map, {"a": df.mn_a, "b": df.mn_b})


def _out_sa(mn: IPsec) -> SecurityAssociation:
    (sa,) = [sa for sa in mn.sad if sa.direction == "out"]
    return sa


def _state(m: MobilityAnchorPoint, sec: IPsec) -> object:
    sas = sorted((sa.direction, sa.spi, sa.next_sequence, sa.replay.right, sa.replay.bitmap,
                  sa.packets) for sa in sec.sad)
    owners = {mn: sec.pad.owned_by(mn) for mn in ("mn-a", "mn-b")}
    return (dict(m.counters), dict(sec.counters), m.bindings(), sas, owners, m.next_timer())


_STEP = st.tuples(
    st.sampled_from("ab"),  # which mobile node builds the BU
    # for which RCoA (b for A: another MN's SA, SEC-03; a for B while holding A: an RCoA
    # its prefix-wide SA is not bound to; the subnet-router anycast address: DAD fails)
    st.sampled_from([RCOA_A, RCOA_B, RCOA_A, RCOA_B, RCOA_PREFIX.network_address]),
    # the LCoA, sometimes one no tunnel can lead to (issue 9 item 8: IPv4-mapped, the
    # MAP's own, an RCoA, reserved anycast)
    st.sampled_from([LCOA_A, LCOA_B, LCOA_A, LCOA_B, IPv6Address("::ffff:192.0.2.1"), MAP,
                     RCOA_B, IPv6Address("2001:db8:1::fdff:ffff:ffff:ff80")]),
    st.integers(0, 6),  # BU sequence number
    st.sampled_from([0, 8, 60, 600]),  # lifetime (0: deregistration)
    st.sampled_from(["next", "next", "jump", "back"]),  # ESP sequence number
    st.sampled_from(["none", "none", "none", "replay", "flip", "spi", "cut", "grow", "ll",
                     "clear", "clear-ll", "clear-rh2"]),
    st.integers(0, 10_000),  # bit to flip
    st.floats(0, 40),  # time step
)


def _wire(t: _Twins, step: tuple[str, IPv6Address, IPv6Address, int, int, str, str, int, float],
          now: float, last: bytes | None) -> bytes:
    who, rcoa, lcoa, seq, lifetime, esp_seq, mutation, bit, _ = step
    if mutation == "replay" and last is not None:
        return last  # SEC-02: an old BU again
    mn = t.mns[who]
    sa = _out_sa(mn)
    if esp_seq == "jump":
        sa.next_sequence += 70  # beyond the 64-packet window
    elif esp_seq == "back":
        sa.next_sequence = max(1, sa.next_sequence - 70)  # left of the window, or a replay
    bu_ = BindingUpdate(seq, BUFlags.A | BUFlags.M, lifetime)
    if mutation.startswith("clear"):
        # Issue 9 item 3: unprotected, to the MAP's global or link-local address, or with a
        # Type 2 routing header; both paths must drop them (one inbound policy).
        clear = local_bu(lcoa, rcoa, bu_)
        if mutation == "clear-ll":
            clear = replace(clear, dst=t.fast.interfaces["eth0"].link_local)
        elif mutation == "clear-rh2":
            clear = replace(clear, extension_headers=(RoutingHeaderType2(lcoa),
                                                      *clear.extension_headers))
        return clear.encode()
    wire = bytearray(mn.protect(now, local_bu(lcoa, rcoa, bu_)).encode())
    if mutation == "ll":
        wire[24:40] = t.fast.interfaces["eth0"].link_local.packed
    elif mutation == "flip":
        # SEC-01: mostly inside ESP (a bad ICV), sometimes in the headers in front.
        at = 64 + bit % (len(wire) - 64) if bit % 4 else bit % 64
        wire[at] ^= 1 << bit % 8
    elif mutation == "spi":
        wire[64:68] = (int.from_bytes(wire[64:68], "big") ^ 0x5A5A).to_bytes(4, "big")
    elif mutation in ("cut", "grow"):
        # Shorter or longer ESP with a Payload Length that agrees: the ICV or the trailer,
        # not the IPv6 header, must catch it.
        if mutation == "cut":
            del wire[max(40, len(wire) - 1 - bit % 48):]
        else:
            wire += bytes(1 + bit % 24)
        wire[4:6] = (len(wire) - 40).to_bytes(2, "big")
    return bytes(wire)


@pytest.mark.req("SEC-01", "SEC-02", "SEC-03")
@pytest.mark.parametrize("suite", ["esp-null-hmac-sha256", "esp-aes-gcm",
                                   "esp-aes-cbc-hmac-sha256"])
@given(steps=st.lists(_STEP, min_size=1, max_size=10))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_esp_fast_path_behaves_exactly_like_the_general_path(
        suite: str, steps: list[tuple[str, IPv6Address, IPv6Address, int, int, str, str, int,
                                      float]]) -> None:
    """SEC-01 (bad ICV dropped, protected BA), SEC-02 (replays and out-of-window sequence
    numbers dropped, the window moved only by verified packets), SEC-03 (a BU for an RCoA over
    another MN's SA refused): whatever the fast path accepts, the general path accepts with
    the same octets; everything else falls back and is handled by the general path."""
    t = _twins(suite)
    now, last = 0.0, None
    for step in steps:
        now += step[-1]
        wire = _wire(t, step, now, last)
        last = wire
        for m in (t.fast, t.slow):
            m.handle_timer(now)
            m.receive(now, "eth0", wire)
        assert [(x.ifname, x.data, x.next_hop) for x in t.fast.datagrams_to_send(now)] == \
            [(x.ifname, x.data, x.next_hop) for x in t.slow.datagrams_to_send(now)]
        assert _events(t.fast) == _events(t.slow)
        assert _state(t.fast, t.fast_sec) == _state(t.slow, t.slow_sec)


@pytest.mark.req("SEC-01")
@pytest.mark.parametrize("suite", ["esp-null-hmac-sha256", "esp-aes-gcm",
                                   "esp-aes-cbc-hmac-sha256"])
def test_esp_fast_path_takes_the_common_case_and_commits_only_when_it_accepts(suite: str) -> None:
    """The first BU (creating the binding and claiming the RCoA), a handover and a refresh
    go the fast path; a replay, a bad ICV and another MN's SA for a held RCoA do not (and
    leave the SAs untouched, so the general path can drop or refuse them)."""
    t = _twins(suite)
    m, mn_a, mn_b = t.fast, t.mns["a"], t.mns["b"]
    first = mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=1))).encode()
    assert m._fast_esp_local_bu(0.0, first)
    assert t.fast_sec.pad.owner(RCOA_A) == "mn-a"
    for seq, lcoa in ((2, LCOA_B), (3, LCOA_B)):
        wire = mn_a.protect(1.0, local_bu(lcoa, RCOA_A, bu(seq=seq))).encode()
        assert m._fast_esp_local_bu(1.0, wire)
    before = _state(m, t.fast_sec)
    tampered = bytearray(mn_a.protect(2.0, local_bu(LCOA_A, RCOA_A, bu(seq=4))).encode())
    tampered[-1] ^= 1
    foreign = mn_b.protect(2.0, local_bu(LCOA_B, RCOA_A, bu(seq=9))).encode()
    for wire in (first, bytes(tampered), foreign):
        assert not m._fast_esp_local_bu(2.0, wire)
    assert _state(m, t.fast_sec) == before


# -- lanes: the fast path's per-SA memo follows every change the general path would see -------


def _fast_accepts(t: _Twins, wire: bytes, now: float) -> bool:
    """Feed ``wire`` to both MAPs; True when the fast one took its fast path. Both must
    leave the same octets, events and state."""
    took = t.fast._fast_esp_local_bu(now, wire)
    if not took:
        t.fast.receive(now, "eth0", wire)
    t.slow.receive(now, "eth0", wire)
    assert [x.data for x in t.fast.datagrams_to_send(now)] == \
        [x.data for x in t.slow.datagrams_to_send(now)]
    assert _events(t.fast) == _events(t.slow)
    assert _state(t.fast, t.fast_sec) == _state(t.slow, t.slow_sec)
    return took


@pytest.mark.req("SEC-03", "SEC-04")
def test_lane_rechecks_the_holder_after_a_release_and_another_claim() -> None:
    """mn-a's lane remembers that it holds RCoA A; mn-a deregisters (the PAD releases A),
    mn-b claims A: mn-a's next BU for A must be refused (134 from the general path), not
    accepted from the lane's memory of an old holder (RFC 4140 §12.1)."""
    t = _twins("esp-null-hmac-sha256")
    mn_a, mn_b = t.mns["a"], t.mns["b"]
    for seq in (1, 2):
        assert _fast_accepts(t, mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=seq))).encode(),
                             0.0)
    dereg = mn_a.protect(1.0, local_bu(LCOA_A, RCOA_A, bu(seq=3, lifetime=0))).encode()
    assert not _fast_accepts(t, dereg, 1.0)  # deregistration: general path, A released
    assert t.fast_sec.pad.owner(RCOA_A) is None
    assert _fast_accepts(t, mn_b.protect(2.0, local_bu(LCOA_B, RCOA_A, bu(seq=1))).encode(), 2.0)
    assert t.fast_sec.pad.owner(RCOA_A) == "mn-b"
    again = mn_a.protect(3.0, local_bu(LCOA_A, RCOA_A, bu(seq=4))).encode()
    assert not _fast_accepts(t, again, 3.0)
    assert t.fast.counters["bu-refused.134"] == 1
    entry = t.fast.cache.get(RCOA_A, 3.0)
    assert entry is not None and entry.peer == "mn-b" and entry.care_of == LCOA_B


@pytest.mark.req("SEC-01")
def test_lanes_are_dropped_when_the_spd_or_the_sad_changes() -> None:
    """After fast BUs, a DISCARD policy in front of the MH policy, then the removal of the
    MN's inbound SA, must each be obeyed by the next BU (the general path drops it:
    ``policy-discard``, then ``unknown-spi``), not bypassed through a lane's memory."""
    t = _twins("esp-null-hmac-sha256")
    mn_a = t.mns["a"]
    assert _fast_accepts(t, mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=1))).encode(), 0.0)
    assert _fast_accepts(t, mn_a.protect(0.0, local_bu(LCOA_B, RCOA_A, bu(seq=2))).encode(), 0.0)
    from hmipv6.core.ipsec import Action
    for sec in (t.fast_sec, t.slow_sec):
        sec.spd.policies.insert(0, Policy.make(local=MAP, protocol=135, action=Action.DISCARD,
                                               name="maintenance"))
    assert not _fast_accepts(t, mn_a.protect(1.0, local_bu(LCOA_A, RCOA_A, bu(seq=3))).encode(),
                             1.0)
    assert t.fast.counters["dropped.policy-discard"] == 1
    for sec in (t.fast_sec, t.slow_sec):
        del sec.spd.policies[0]
        (sa_in,) = [sa for sa in sec.sad if sa.direction == "in" and sa.peer == "mn-a"]
        sec.sad.remove(sa_in)
    assert not _fast_accepts(t, mn_a.protect(2.0, local_bu(LCOA_A, RCOA_A, bu(seq=4))).encode(),
                             2.0)
    assert t.fast.counters["dropped.unknown-spi"] == 1
    entry = t.fast.cache.get(RCOA_A, 2.0)
    assert entry is not None and entry.care_of == LCOA_B and entry.sequence == 2


@pytest.mark.req("SEC-03")
def test_lanes_are_dropped_when_a_pad_entry_changes() -> None:
    """After fast BUs, the operator narrows mn-a's PAD entry to another prefix: its next BU
    for RCoA A must be dropped as the general path drops it (``unauthorised-address``),
    whatever the lane remembered of the old entry."""
    t = _twins("esp-null-hmac-sha256")
    mn_a = t.mns["a"]
    assert _fast_accepts(t, mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=1))).encode(), 0.0)
    assert _fast_accepts(t, mn_a.protect(0.0, local_bu(LCOA_B, RCOA_A, bu(seq=2))).encode(), 0.0)
    for sec in (t.fast_sec, t.slow_sec):
        sec.authorise("mn-a", ["2001:db8:eeee::/64"])
    assert not _fast_accepts(t, mn_a.protect(1.0, local_bu(LCOA_A, RCOA_A, bu(seq=3))).encode(),
                             1.0)
    assert t.fast.counters["dropped.unauthorised-address"] == 1


@pytest.mark.req("SEC-03", "SEC-04")
def test_lane_does_not_trust_an_old_holder_when_the_pad_changes_under_a_binding() -> None:
    """The PAD, not the binding cache, is the authority on who holds an RCoA: when an
    operator moves RCoA A from mn-a to mn-b in the PAD while mn-a's binding stays, mn-a's
    next BU (its lane once saw it hold A) must get what the general path answers, 134."""
    t = _twins("esp-null-hmac-sha256")
    mn_a = t.mns["a"]
    for seq in (1, 2):
        assert _fast_accepts(t, mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=seq))).encode(),
                             0.0)
    for sec in (t.fast_sec, t.slow_sec):
        assert sec.pad.release("mn-a", RCOA_A) and sec.pad.claim("mn-b", RCOA_A)
    again = mn_a.protect(1.0, local_bu(LCOA_B, RCOA_A, bu(seq=3))).encode()
    assert not _fast_accepts(t, again, 1.0)
    assert t.fast.counters["bu-refused.134"] == 1
