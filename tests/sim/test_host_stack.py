"""The mobile node's host stack (``host_delivery``, what the testbed's TUN device drives): a
host's own packets from the home address travel the MN-MAP and MN-HA tunnels with their octets
unchanged, and what reaches the home address is handed to the host as the correspondent's
plain packet, across figure1's intra-domain move, in the simulator."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from scapy.layers.inet6 import TCP, IPv6  # type: ignore[import-untyped]

from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.events import DataReceived
from hmipv6.core.mobile_node import MobileNode
from hmipv6.sim.network import Network
from hmipv6.sim.scenario import load
from hmipv6.wire.icmpv6 import EchoRequest, PacketTooBig
from hmipv6.wire.ipv6 import IPv6Packet, RawPayload, decode
from hmipv6.wire.udp import UDP

from .sim_support import packets

HOA = IPv6Address("2001:db8:f::100")
CN = IPv6Address("2001:db8:c::1")


def _net() -> tuple[Network, MobileNode, CorrespondentNode]:
    sc = load("figure1", ("scenario.duration=12s", "flows[0].start=11s", "flows[0].stop=11.5s"))
    net = Network(sc, capture=True, keep_events=True)
    mn, cn = net.nodes["mn"], net.nodes["cn"]
    assert isinstance(mn, MobileNode) and isinstance(cn, CorrespondentNode)
    mn.host_delivery = True
    net.start()
    return net, mn, cn


def _tcp(seq: int, size: int = 100) -> bytes:
    return bytes(IPv6(src=str(HOA), dst=str(CN), hlim=64) / TCP(sport=40000, dport=5201,
                                                                  seq=seq, flags="PA")
                 / (b"x" * size))


def _from_host(net: Network, mn: MobileNode, data: bytes) -> bool:
    ok = mn.send_from_host(net.sched.now, data)
    net.service("mn")
    return ok


@pytest.mark.req("MN-08", "MN-20")
def test_host_packets_are_reverse_tunnelled_unchanged_before_and_after_the_move() -> None:
    net, mn, _ = _net()
    sent = []
    for at, seq in ((3.0, 1), (10.0, 2)):  # before and after the 8 s move AR1 -> AR2
        net.sched.run(until=at)
        data = _tcp(seq)
        assert _from_host(net, mn, data)
        sent.append(data)
    net.sched.run(until=11.0)
    got = [(e.src, e.size) for n, e in net.event_log or [] if n == "cn"
           and isinstance(e, DataReceived)]
    assert got == [(HOA, len(sent[0]) - 40), (HOA, len(sent[1]) - 40)]
    # On the correspondent's link the host's packet is byte for byte what the host wrote,
    # but for the hop limit (HA and the Internet router decremented it); no care-of address.
    seen = [raw for _, p, raw in packets(net.captures()["cn-inet"])
            if isinstance(p.payload, RawPayload) and p.payload.protocol == 6]
    assert [raw[:7] + raw[8:] for raw in seen] == [d[:7] + d[8:] for d in sent]
    assert all(raw[7] == 62 for raw in seen)


@pytest.mark.req("MN-08")
def test_packets_for_the_home_address_go_to_the_host_not_the_engine() -> None:
    net, mn, cn = _net()
    net.sched.run(until=3.0)
    cn.send(net.sched.now, HOA, b"hello", src_port=7, dst_port=4000)
    cn.send_packet(net.sched.now, IPv6Packet(CN, HOA, EchoRequest(identifier=9, sequence=1,
                                                                   data=b"ping")))
    net.service("cn")
    net.sched.run(until=3.5)
    host = [decode(d) for d in mn.packets_for_host()]
    assert [(p.src, p.dst, type(p.payload).__name__) for p in host] == [
        (CN, HOA, "UDP"), (CN, HOA, "EchoRequest")]
    assert isinstance(host[0].payload, UDP) and host[0].payload.data == b"hello"
    assert host[0].extension_headers == ()
    # The engine's own Echo responder stood aside: the host's kernel answers.
    assert mn.counters["host-delivered"] == 2
    # Its signalling is still its own: the binding survives the move (the BA to the home
    # address is the engine's), and the host's packets still get through after it.
    net.sched.run(until=10.0)
    assert _from_host(net, mn, _tcp(5))


@pytest.mark.req("X5380-04")
def test_too_big_and_unroutable_host_packets() -> None:
    net, mn, _ = _net()
    net.sched.run(until=3.0)
    mtu = mn.upper_layer_mtu(CN)
    assert mtu == 1500 - 80
    assert not _from_host(net, mn, _tcp(1, size=mtu - 60 + 1))
    (ptb,) = [decode(d) for d in mn.packets_for_host()]
    assert ptb.dst == HOA and isinstance(ptb.payload, PacketTooBig) and ptb.payload.mtu == mtu
    assert _from_host(net, mn, _tcp(1, size=mtu - 60))
    mld = bytes(IPv6(src="fe80::1", dst="ff02::16") / TCP())
    assert not _from_host(net, mn, mld)
    assert mn.counters["host-not-routed"] == 1
    assert not _from_host(net, mn, b"\x60garbage")
    assert mn.counters["dropped.host-malformed"] == 1


@pytest.mark.req("MN-08", "MN-20")
def test_host_packets_to_a_route_optimising_correspondent_go_from_the_rcoa_with_hao() -> None:
    # RFC 4140 §6.1.1: to a correspondent bound to the RCoA, the host's packet leaves from the
    # RCoA with a Home Address option, through the MAP only (not the home agent).
    sc = load("route-optimisation", ("flows=[]",))
    net = Network(sc, capture=True, keep_events=True)
    mn = net.nodes["mn"]
    assert isinstance(mn, MobileNode)
    mn.host_delivery = True
    net.start()
    net.sched.run(until=5.0)
    rcoa = mn.rcoa()
    assert rcoa is not None and mn._ro_entry(CN) is not None
    data = _tcp(7)
    assert _from_host(net, mn, data)
    net.sched.run(until=5.5)
    got = [e for n, e in net.event_log or [] if n == "cn" and isinstance(e, DataReceived)]
    assert [(e.src, e.size) for e in got] == [(HOA, len(data) - 40)]
    (pkt,) = [p for _, p, _ in packets(net.captures()["cn-inet"])
              if isinstance(p.payload, RawPayload) and p.payload.protocol == 6]
    assert (pkt.src, pkt.dst, pkt.home_address) == (rcoa, CN, HOA)
    # The TCP segment itself is the host's, octet for octet (its checksum covers the HoA).
    assert pkt.payload.data == data[40:]
    assert mn.counters["host-not-routed"] == 0
