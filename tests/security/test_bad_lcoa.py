"""Issue 9, item 8: bad LCoAs, anycast RCoAs, and a duplicate address check that runs.

Before: the MAP accepted an IPv4-mapped address, its own address, another mobile node's RCoA
and anycast addresses as LCoA (moving the binding there, so the tunnel led nowhere or back
into the MAP), bound anycast RCoAs, and never found a duplicate address because the engine
builder left its list of addresses in use empty. Now each is refused with a Binding
Acknowledgement (129 for the care-of address, RFC 4140 §6.2; 134 for the RCoA, RFC 4140
§6.1 / RFC 6275 §10.3.1) and the binding does not move. BUs are ESP-protected by the
mobile node's own IPsec (the attacks rewrite what ESP does not cover, or use the Alternate
Care-of Address option inside it), octets into ``receive``; both the MAP's fast path and
its general path are driven.
"""

from __future__ import annotations

import asyncio
import io
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from hmipv6.core.ipsec import IPsec
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.net.daemon import Daemon
from hmipv6.sim.engines import build_engines, make_provisioner, provision
from hmipv6.sim.scenario import load
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, IPv6Packet, decode
from hmipv6.wire.mobility import (
    AlternateCareOfAddress,
    BAStatus,
    BindingAcknowledgement,
    BindingUpdate,
    BUFlags,
)
from tests.core.ipsec_support import LCOA_A, LCOA_B, MAP, RCOA_A, RCOA_B, RCOA_PREFIX, domain, local_bu

BAD_LCOAS = {
    "ipv4-mapped": IPv6Address("::ffff:192.0.2.1"),
    "own-address": MAP,
    "bound-address": RCOA_B,  # another mobile node's RCoA
    "subnet-router-anycast": IPv6Address("2001:db8:1::"),  # RFC 4291 §2.6.1
    "reserved-anycast": IPv6Address("2001:db8:1::fdff:ffff:ffff:ff80"),  # RFC 2526 §2
}


def _map(sec: IPsec, fast: bool) -> MobilityAnchorPoint:
    m = MobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=sec)
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    m.fast_path = fast
    return m


def _bu(mn: IPsec, src: IPv6Address, rcoa: IPv6Address, seq: int,
        alternate: IPv6Address | None = None) -> bytes:
    options = (AlternateCareOfAddress(alternate),) if alternate is not None else ()
    bu = BindingUpdate(seq, BUFlags.A | BUFlags.M, 60, options)
    return mn.protect(0.0, local_bu(src, rcoa, bu)).encode()


def _bas(m: MobilityAnchorPoint, mn: IPsec) -> list[tuple[IPv6Address, int]]:
    out = []
    for t in m.datagrams_to_send(0.0):
        p = decode(t.data)
        if isinstance(p.payload, EncapsulatingSecurityPayload):
            got = mn.unprotect(0.0, p).packet
            assert isinstance(got.payload, BindingAcknowledgement)
            out.append((got.dst, got.payload.status))
    while m.next_event() is not None:
        pass
    return out


def _setup(fast: bool) -> tuple[MobilityAnchorPoint, IPsec]:
    d = domain()
    m = _map(d.map, fast)
    m.receive(0.0, "eth0", _bu(d.mn_a, LCOA_A, RCOA_A, 1))
    assert _bas(m, d.mn_a) == [(LCOA_A, 0)]
    m.receive(0.0, "eth0", _bu(d.mn_b, LCOA_B, RCOA_B, 1))
    assert _bas(m, d.mn_b) == [(LCOA_B, 0)]
    return m, d.mn_a


@pytest.mark.req("MAP-06")
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "general-path"])
@pytest.mark.parametrize("kind", sorted(BAD_LCOAS))
def test_a_bad_lcoa_in_the_alternate_care_of_option_is_refused_with_129(kind: str,
                                                                         fast: bool) -> None:
    """The mobile node's real address sends; the LCoA inside ESP is bad: a BA 129 reaches
    the sender, the binding stays at LCoA A."""
    m, mn_a = _setup(fast)
    m.receive(1.0, "eth0", _bu(mn_a, LCOA_A, RCOA_A, 2, alternate=BAD_LCOAS[kind]))
    assert _bas(m, mn_a) == [(LCOA_A, BAStatus.ADMINISTRATIVELY_PROHIBITED)]
    entry = m.cache.get(RCOA_A, 1.0)
    assert entry is not None and entry.care_of == LCOA_A and entry.sequence == 1
    assert m.counters["bu-refused.129"] == 1
    assert sum(v for k, v in m.counters.items() if k.startswith("bad-care-of.")) == 1


@pytest.mark.req("MAP-06")
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "general-path"])
@pytest.mark.parametrize("kind", sorted(BAD_LCOAS))
def test_a_bad_lcoa_as_source_never_moves_the_binding(kind: str, fast: bool) -> None:
    """The source (outside ESP) rewritten to a bad LCoA: refused with 129 to that source (RFC
    6275 §9.5.4: the BA goes to the Source Address), or silently when the source is the
    MAP's own address (nothing to answer)."""
    m, mn_a = _setup(fast)
    m.receive(1.0, "eth0", _bu(mn_a, BAD_LCOAS[kind], RCOA_A, 2))
    bas = _bas(m, mn_a)
    if kind == "own-address":
        assert bas == [] and m.counters["dropped.bu-bad-address"] == 1
    else:
        assert bas == [(BAD_LCOAS[kind], BAStatus.ADMINISTRATIVELY_PROHIBITED)]
    entry = m.cache.get(RCOA_A, 1.0)
    assert entry is not None and entry.care_of == LCOA_A


@pytest.mark.req("MAP-05")
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "general-path"])
@pytest.mark.parametrize("rcoa", ["2001:db8:ffff::", "2001:db8:ffff::fdff:ffff:ffff:ff80",
                                  "2001:db8:ffff::fdff:ffff:ffff:ffff"])
def test_an_anycast_rcoa_is_refused_with_134(rcoa: str, fast: bool) -> None:
    """RFC 4291 §2.6.1 / RFC 2526: the subnet's routers hold these; DAD fails (134)."""
    d = domain()
    m = _map(d.map, fast)
    m.receive(0.0, "eth0", _bu(d.mn_a, LCOA_A, IPv6Address(rcoa), 1))
    assert _bas(m, d.mn_a) == [(LCOA_A, BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED)]
    assert m.cache.get(IPv6Address(rcoa), 0.0) is None


@pytest.mark.req("MAP-05")
def test_the_engine_builder_fills_the_duplicate_address_check_and_the_map_applies_it() -> None:
    """An address the scenario configures inside the MAP's RCoA prefix (here the Internet
    router's) is in use: an RCoA equal to it is refused with 134, any other is bound. The
    testbed daemons build their engines with the same builder (net.daemon)."""
    sc = load("figure1", ["nodes.inet.address=2001:db8:100::99"])
    prov = make_provisioner(sc)
    nodes = build_engines(sc, "hmipv6", prov)
    provision(sc, "hmipv6", prov, nodes)
    m, mn = nodes["map1"], nodes["mn"]
    assert isinstance(m, MobilityAnchorPoint) and isinstance(mn.security, IPsec)
    assert m.link_addresses == {IPv6Address("2001:db8:100::99")}
    lcoa = IPv6Address("2001:db8:a1::5")
    for rcoa, status in (("2001:db8:100::99", BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED),
                         ("2001:db8:100::5", BAStatus.ACCEPTED)):
        packet = local_bu(lcoa, IPv6Address(rcoa), BindingUpdate(1, BUFlags.A | BUFlags.M, 60))
        wire = mn.security.protect(0.0, IPv6Packet(lcoa, m.address, packet.payload,
                                                   packet.extension_headers)).encode()
        m.receive(0.0, "eth0", wire)
        assert [s for _, s in _bas(m, mn.security)] == [status]


@pytest.mark.req("MAP-05")
def test_the_testbed_daemon_runs_the_same_duplicate_address_check(tmp_path: Path) -> None:
    """The testbed world: a daemon (``net.daemon.Daemon``, sockets not opened) builds its
    MAP with the scenario's addresses in use, and refuses a BU for one of them with 134."""

    async def run() -> list[int]:
        sc = load("figure1", ["nodes.inet.address=2001:db8:100::99"])
        d = Daemon(sc, "map1", io.StringIO(), "t", "hmipv6", shaping=False,
                   store_dir=tmp_path)
        m = d.node
        assert isinstance(m, MobilityAnchorPoint)
        assert m.link_addresses == {IPv6Address("2001:db8:100::99")}
        prov = make_provisioner(sc)
        nodes = build_engines(sc, "hmipv6", prov)
        provision(sc, "hmipv6", prov, nodes)
        mn = nodes["mn"].security  # the mobile node's daemon holds the same keys
        assert isinstance(mn, IPsec)
        lcoa = IPv6Address("2001:db8:a1::5")
        bu = BindingUpdate(1, BUFlags.A | BUFlags.M, 60)
        wire = mn.protect(0.0, IPv6Packet(lcoa, m.address, bu, local_bu(
            lcoa, IPv6Address("2001:db8:100::99")).extension_headers)).encode()
        m.receive(0.0, "eth0", wire)
        return [s for _, s in _bas(m, mn)]

    assert asyncio.run(run()) == [BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED]
