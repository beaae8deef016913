"""Issue 9, item 3: unprotected Binding Updates must not slip past inbound policy.

Attacks (packets built with scapy, fed as octets to the engines' ``receive``):

- an unprotected local BU sent to the MAP's *link-local* address, and an unprotected home BU
  sent to the home agent's link-local address: the SPD entries name the anchors' global
  addresses, so before the fix the lookup fell through to BYPASS and the BUs were processed
  (answered with BAs sealed with the victim's SA);
- an unprotected BU carrying a Type 2 routing header naming some other address: the SPD
  lookup used that address as the MAP's own (RFC 6275 §9.3.2 says discard);
- the same with two mobile nodes: the BA to an unheld RCoA matched both MNs' SAs and
  ``LocalProtocolError`` escaped ``receive()``.

And the engine contract: no exception ever leaves ``receive()`` (a last-resort guard turns
one into ``PacketDropped(reason="internal-error")``), checked by hypothesis over every node
type of the built-in scenario, fed real captured traffic, mutated.
"""

from __future__ import annotations

import os
from ipaddress import IPv6Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.events import PacketDropped
from hmipv6.core.fast_handover import FastMobilityAnchorPoint
from hmipv6.core.home_agent import HomeAgent
from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.node import Node
from hmipv6.sim.engines import build_engines, make_provisioner, provision
from hmipv6.sim.network import Network
from hmipv6.sim.scenario import load
from hmipv6.wire.fmipv6 import FastBindingUpdate
from hmipv6.wire.ipv6 import (
    DestinationOptions,
    HomeAddressOption,
    IPv6Packet,
    RoutingHeaderType2,
    decode,
)
from hmipv6.wire.mobility import (
    AlternateCareOfAddress,
    BAFlags,
    BindingAcknowledgement,
    BUFlags,
)
from hmipv6.wire.pcap import read_pcap
from hmipv6.wire.udp import UDP
from tests.core.ipsec_support import (
    HA,
    HOA_A,
    LCOA_A,
    MAP,
    RCOA_A,
    RCOA_B,
    RCOA_PREFIX,
    bu,
    domain,
    local_bu,
)

scapy_inet6 = pytest.importorskip("scapy.layers.inet6")

ATTACKER = IPv6Address("2001:db8:66::66")
FUZZ = int(os.environ.get("ENGINE_FUZZ", "0"))
"""ENGINE_FUZZ=n runs n examples of the receive() fuzz instead of 300."""


def _scapy_bu(src: IPv6Address, dst: IPv6Address, hoa: IPv6Address, seq: int, flags: str,
              rh2: IPv6Address | None = None) -> bytes:
    s6 = scapy_inet6
    pkt = s6.IPv6(src=str(src), dst=str(dst))
    if rh2 is not None:
        pkt = pkt / s6.IPv6ExtHdrRouting(type=2, segleft=1, addresses=[str(rh2)])
    pkt = (pkt / s6.IPv6ExtHdrDestOpt(options=[s6.HAO(hoa=str(hoa))])
           / s6.MIP6MH_BU(seq=seq, flags=flags, mhtime=100))
    return bytes(pkt)


def _map(d_map: IPsec) -> MobilityAnchorPoint:
    m = MobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=d_map)
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    return m


def _drain(node: Node) -> tuple[list[bytes], list[str]]:
    out = [t.data for t in node.datagrams_to_send(0.0)]
    reasons = []
    while (e := node.next_event()) is not None:
        if isinstance(e, PacketDropped):
            reasons.append(e.reason)
    return out, reasons


@pytest.mark.req("SEC-01")
@pytest.mark.parametrize("target", ["link-local", "rh2"])
def test_unprotected_local_bu_to_another_map_address_is_dropped_1000_times(target: str) -> None:
    """1000 unprotected local BUs for a held RCoA, to the MAP's link-local address or with a
    Type 2 routing header: not one BA (before: 1000 BAs sealed with mn-a's SA), the binding
    stays where mn-a put it."""
    d = domain()
    m = _map(d.map)
    m.receive(0.0, "eth0", d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=1))).encode())
    _drain(m)
    ll = m.interfaces["eth0"].link_local
    for i in range(1000):
        wire = (_scapy_bu(ATTACKER, ll, RCOA_A, 2 + i, "AM") if target == "link-local"
                else _scapy_bu(ATTACKER, MAP, RCOA_A, 2 + i, "AM", rh2=ATTACKER))
        m.receive(1.0, "eth0", wire)
    out, reasons = _drain(m)
    assert out == []
    assert set(reasons) == {"unprotected" if target == "link-local" else "rh2-not-ours"}
    assert len(reasons) == 1000
    entry = m.cache.get(RCOA_A, 1.0)
    assert entry is not None and entry.care_of == LCOA_A and entry.sequence == 1
    assert m.counters["dropped.internal-error"] == 0


@pytest.mark.req("SEC-07")
def test_unprotected_home_bu_to_the_home_agents_link_local_address_is_dropped() -> None:
    prov = Provisioner(7)
    ha_sec, mn_sec = IPsec(name="ha"), IPsec(name="mn-a")
    prov.mn_ha(mn_sec, "mn-a", ha_sec, "ha", HOA_A, HA)
    ha = HomeAgent("ha", address=HA, ifname="home", home_prefixes=("2001:db8:aaaa::/64",),
                   security=ha_sec)
    ha.add_interface("up")
    ha.add_route("::/0", "up")
    ll = ha.interfaces["home"].link_local
    ha.receive(0.0, "home", _scapy_bu(ATTACKER, ll, HOA_A, 1, "AH"))
    out, reasons = _drain(ha)
    assert out == [] and reasons == ["unprotected"]
    assert ha.cache.get(HOA_A, 0.0) is None


@pytest.mark.req("SEC-01")
def test_two_mobile_nodes_a_bu_with_rh2_for_an_unheld_rcoa_raises_nothing() -> None:
    """Before: the BA to RCoA B matched both MNs' SAs and LocalProtocolError left receive()."""
    d = domain()
    m = _map(d.map)
    m.receive(0.0, "eth0", _scapy_bu(ATTACKER, MAP, RCOA_B, 6, "AM",
                                     rh2=IPv6Address("2001:db8:ffff::77")))
    ll = m.interfaces["eth0"].link_local
    m.receive(0.0, "eth0", _scapy_bu(ATTACKER, ll, RCOA_B, 7, "AM"))
    out, reasons = _drain(m)
    assert out == [] and reasons == ["rh2-not-ours", "unprotected"]


@pytest.mark.req("SEC-01")
def test_an_unprotected_fbu_to_the_maps_link_local_address_is_dropped() -> None:
    """The fast-handover FBU path (RFC 4140 Appendix A) meets the same inbound policy."""
    sc = load("figure1")
    prov = make_provisioner(sc)
    nodes = build_engines(sc, "fhmipv6", prov)
    provision(sc, "fhmipv6", prov, nodes)
    m = nodes["map1"]
    assert isinstance(m, FastMobilityAnchorPoint)
    rcoa = IPv6Address(int(m.rcoa_prefix.network_address) + 0x42)
    fbu = FastBindingUpdate(7, BUFlags.A | BUFlags.H, 8,
                            (AlternateCareOfAddress(IPv6Address("2001:db8:a2::66")),))
    for dst in (m.interfaces["eth0"].link_local, m.address):
        wire = IPv6Packet(IPv6Address("2001:db8:a1::66"), dst, fbu,
                          (DestinationOptions((HomeAddressOption(rcoa),)),)).encode()
        m.receive(1.0, "eth0", wire)
    out, reasons = _drain(m)
    assert out == [] and reasons == ["unprotected", "unprotected"]
    assert m.counters["fbu-refused.128"] == 0


def test_a_correspondent_discards_packets_with_a_type_2_routing_header() -> None:
    """RFC 6275 §8.2: a correspondent that is not a mobile node "MUST ... silently discard
    all packets that it has received with such headers" (before: a BU with one was
    processed as if addressed to the routing header's address)."""
    cn = CorrespondentNode("cn", address=HA)
    cn.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    wire = _scapy_bu(ATTACKER, HA, IPv6Address("2001:db8:77::1"), 3, "A",
                     rh2=IPv6Address("2001:db8:77::2"))
    cn.receive(0.0, "eth0", wire)
    out, reasons = _drain(cn)
    assert out == [] and reasons == ["rh2-not-ours"]


def test_an_ambiguous_outbound_sa_is_a_counted_drop_not_an_exception() -> None:
    """The underlying bug: a BA to an address two peers' SAs cover, held by neither."""
    d = domain()
    m = _map(d.map)
    ba = IPv6Packet(MAP, LCOA_A, BindingAcknowledgement(0, BAFlags(0), 1, 12),
                    (RoutingHeaderType2(RCOA_B),))
    assert not m.send_packet(0.0, ba)
    assert m.counters["dropped.ambiguous-sa"] == 1


def test_the_last_resort_guard_reports_an_internal_error() -> None:
    """An engine bug (here: a handler made to raise) is a counted drop, never an exception."""
    d = domain()
    m = _map(d.map)

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    m.on_mobility = broken  # type: ignore[assignment,method-assign]
    m.fast_path = False
    m.receive(0.0, "eth0", d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=1))).encode())
    wire = d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A, bu(seq=2))).encode()
    m.receive_packet(0.0, "eth0", decode(wire), wire)
    _, reasons = _drain(m)
    assert reasons == ["internal-error", "internal-error"]
    # A node without an octet-level fast path: receive_packet's own guard.
    cn = CorrespondentNode("cn", address=HA)
    cn.on_data = broken  # type: ignore[assignment,method-assign]
    udp = IPv6Packet(ATTACKER, HA, UDP(1, 2, b"x"))
    cn.receive_packet(0.0, "eth0", udp, udp.encode())
    assert _drain(cn)[1] == ["internal-error"]
    assert m.counters["dropped.internal-error"] == 2


# -- fuzz: nothing leaves receive(), and the guard never has to act -----------------------------


def _worlds() -> list[tuple[str, Network, list[bytes]]]:
    """figure1 under every protocol (and the RFC 5380 profile), route optimisation (a
    correspondent with return routability) and dynamic discovery (relaying routers), each
    run for 3 s of simulated time so bindings and SAs exist; with the octets of every
    packet captured meanwhile."""
    out = []
    for scenario, protocol, profile in (
            ("figure1", "mipv6", "rfc4140"), ("figure1", "hmipv6", "rfc4140"),
            ("figure1", "fhmipv6", "rfc4140"), ("figure1", "hmipv6", "rfc5380"),
            ("route-optimisation", "mipv6", "rfc4140"),
            ("dynamic-discovery", "hmipv6", "rfc4140")):
        sc = load(scenario, [f"scenario.profile={profile}"])
        net = Network(sc, protocol=protocol, capture=True)
        net.start()
        net.sched.run(until=3.0)
        seeds = sorted({r.data for pcap in net.captures().values()
                        for r in read_pcap(pcap).records})
        out.append((f"{scenario}/{protocol}/{profile}", net, seeds))
    return out


_WORLDS: list[tuple[str, Network, list[bytes]]] = []


def _world(i: int) -> tuple[str, Network, list[bytes]]:
    if not _WORLDS:
        _WORLDS.extend(_worlds())
    return _WORLDS[i % len(_WORLDS)]


def _retarget(data: bytearray, address: bytes) -> None:
    data[24:40] = address


@given(world=st.integers(0, 5), node=st.integers(0, 63), seed=st.integers(0, 10_000),
       edits=st.lists(st.tuples(st.sampled_from(["flip", "cut", "grow", "dst-ll", "dst-global",
                                                 "tunnel", "rh2", "junk"]),
                                st.integers(0, 1 << 16)), max_size=4))
@settings(max_examples=FUZZ or 300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_no_exception_leaves_receive_on_any_node(world: int, node: int, seed: int,
                                                 edits: list[tuple[str, int]]) -> None:
    """Real captured packets of every protocol, mutated (bit flips, truncation, extension,
    re-addressed to a node's link-local or global address, wrapped in tunnels, given a
    Type 2 routing header, or replaced with junk), go into every node type's receive(): no
    exception, and no internal error (the guard is a last resort, not the handling)."""
    name, net, seeds = _world(world)
    names = sorted(net.nodes)
    target = net.nodes[names[node % len(names)]]
    data = bytearray(seeds[seed % len(seeds)])
    for kind, n in edits:
        if kind == "flip" and data:
            data[n % len(data)] ^= 1 << (n % 8)
        elif kind == "cut":
            del data[max(0, len(data) - 1 - n % 64):]
        elif kind == "grow":
            data += bytes((n + i) & 0xFF for i in range(1 + n % 40))
        elif kind in ("dst-ll", "dst-global") and len(data) >= 40:
            iface = list(target.interfaces.values())[n % max(1, len(target.interfaces))]
            addr = iface.link_local if kind == "dst-ll" or not iface.addresses \
                else iface.addresses[0]
            _retarget(data, addr.packed)
        elif kind == "tunnel" and len(data) >= 40:
            dst = data[24:40]
            for _ in range(1 + n % 8):
                data = bytearray(b"\x60\x00\x00\x00" + len(data).to_bytes(2, "big") + b"\x29\x40"
                                 + bytes(data[8:24]) + dst + data)
        elif kind == "rh2" and len(data) >= 40:
            nh = data[6]
            rh = bytes((nh, 2, 2, 1, 0, 0, 0, 0)) + bytes(data[8:24])
            data = bytearray(data[:6] + b"\x2b" + data[7:40] + rh + data[40:])
            data[4:6] = (len(data) - 40).to_bytes(2, "big")
        elif kind == "junk":
            data = bytearray(n.to_bytes(3, "big") * (n % 50))
    before = target.counters["dropped.internal-error"]
    for ifname in target.interfaces:
        target.receive(net.sched.now, ifname, bytes(data))
        target.datagrams_to_send(net.sched.now)
    assert target.counters["dropped.internal-error"] == before, name
