"""The MobilityAnchorPoint engine with core.ipsec as its security: SEC rows end to end.

Local BUs built by the MN's IPsec go into ``map.receive`` as octets; what the MAP sends back
is opened with the MN's IPsec; drops are observed as ``PacketDropped`` events and counters.

Rows: SEC-01 (unprotected / badly authenticated local BU dropped and counted), SEC-02
(replay dropped; the binding does not move), SEC-03 (a BU for RCoA X over MN B's SA is
refused and X keeps its binding), SEC-04 / MN-23 (a second MN claiming an existing RCoA is
refused with 134 and succeeds with a new RCoA).
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from hmipv6.core.events import Event, PacketDropped
from hmipv6.core.ipsec import IPsec
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, decode
from hmipv6.wire.mobility import BAStatus, BindingAcknowledgement
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
