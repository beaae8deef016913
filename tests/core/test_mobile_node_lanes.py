"""The mobile node's receive shortcuts (``MobileNode.process``) against its general path.

A station of a cell hears every multicast frame (Router Advertisements, other nodes' DAD
probes and Router Solicitations) and unicast flooded for stations that left; the mobile node
takes multicast ICMPv6 straight to ``on_icmpv6`` and drops unicast for none of its addresses
at once (issue 12, simulator throughput). The shortcuts must end exactly where the general
path ends: same counters (the node's and its security module's), same events, same output,
same timers. Each frame is fed to two copies of one mobile node taken from a running
simulation, one with the shortcuts disabled.
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from hmipv6.core.events import PacketDropped
from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.spd import Action, Policy
from hmipv6.core.mobile_node import MobileNode
from hmipv6.sim.network import Network
from hmipv6.sim.scenario import load
from hmipv6.wire.addr import solicited_node
from hmipv6.wire.icmpv6 import (
    EchoRequest,
    NeighborSolicitation,
    RouterSolicitation,
)
from hmipv6.wire.ipv6 import IPv6Packet, decode
from hmipv6.wire.udp import UDP


def _mobile_node(protocol: str) -> MobileNode:
    net = Network(load("figure1"), protocol=protocol)
    net.start()
    net.sched.run(until=3.0)
    node = next(n for n in net.nodes.values() if isinstance(n, MobileNode)
                and n.links["wlan0"].lcoa is not None)
    # The engine's default (the simulator's run() without an event log has its nodes count
    # drops without events): the drops' details are compared too.
    node.report_drops = True
    # Drain what the run left, so the copies start empty.
    node.datagrams_to_send(net.sched.now)
    while node.next_event() is not None:
        pass
    return node


def _frames(node: MobileNode) -> list[tuple[str, bytes]]:
    lcoa = node.links["wlan0"].lcoa
    assert lcoa is not None
    other = IPv6Address(int(lcoa) ^ 0x5A5A)
    unspecified = IPv6Address("::")
    peer = IPv6Address("fe80::99")
    frames = [
        ("DAD probe of another address",
         IPv6Packet(unspecified, solicited_node(other), NeighborSolicitation(other), hop_limit=255)),
        ("solicitation for our LCoA (answered)",
         IPv6Packet(peer, solicited_node(lcoa), NeighborSolicitation(lcoa), hop_limit=255)),
        ("NS with a bad hop limit",
         IPv6Packet(peer, solicited_node(lcoa), NeighborSolicitation(lcoa), hop_limit=64)),
        ("another node's Router Solicitation",
         IPv6Packet(peer, IPv6Address("ff02::2"), RouterSolicitation(), hop_limit=255)),
        ("multicast Echo Request",
         IPv6Packet(peer, IPv6Address("ff02::1"), EchoRequest(1, 2, b"x"), hop_limit=64)),
        ("multicast UDP (not ICMPv6: the general path)",
         IPv6Packet(peer, IPv6Address("ff02::1"), UDP(1, 2, b"x"))),
        ("unicast for a station that left",
         IPv6Packet(IPv6Address("2001:db8:ffff::1"), other, UDP(1, 2, b"x"))),
        ("unicast to our LCoA (the general path)",
         IPv6Packet(IPv6Address("2001:db8:ffff::1"), lcoa, UDP(1, 2, b"x"))),
        ("unicast to our home address (the general path)",
         IPv6Packet(IPv6Address("2001:db8:ffff::1"), node.config.home_address, UDP(1, 2, b"x"))),
        # Last: the node gives up its LCoA for a new one.
        ("DAD probe of our own LCoA (a duplicate)",
         IPv6Packet(unspecified, solicited_node(lcoa), NeighborSolicitation(lcoa), hop_limit=255)),
    ]
    return [(label, p.encode()) for label, p in frames]


def _outcome(node: MobileNode, now: float) -> tuple[object, ...]:
    events = []
    while (e := node.next_event()) is not None:
        events.append(e)
    out = [(t.ifname, t.data, t.next_hop) for t in node.datagrams_to_send(now)]
    security = getattr(node.security, "counters", None)
    return (dict(node.counters), dict(security) if security is not None else None, events, out,
            node.next_timer(), {k: v.dad for k, v in node.links.items()})


@pytest.mark.parametrize("protocol", ["hmipv6", "mipv6"])
@pytest.mark.parametrize("icmpv6_policy", [False, True])
def test_shortcuts_end_where_the_general_path_ends(protocol: str, icmpv6_policy: bool) -> None:
    lean, general = _mobile_node(protocol), _mobile_node(protocol)  # the same run twice
    general._multicast_icmpv6_lane = False
    general._not_for_us_lane = False
    if icmpv6_policy:
        # An SPD entry for ICMPv6: IPsec no longer admits it at once, the shortcut must not
        # take it (the general path's SPD lookup decides, and counts).
        for node in (lean, general):
            assert isinstance(node.security, IPsec)
            node.security.spd.policies.insert(
                0, Policy.make(protocol=58, action=Action.BYPASS, ipsec=None))
            assert not node.security.admits_in_clear(58)
    assert _outcome(lean, 3.0) == _outcome(general, 3.0)
    now = 3.5
    for label, raw in _frames(lean):
        lean.receive_packet(now, "wlan0", decode(raw), raw)  # as the simulator's cells do
        general.receive(now, "wlan0", raw)  # octets, decoded by the node
        assert _outcome(lean, now) == _outcome(general, now), label
        now += 0.1


@pytest.mark.parametrize("protocol", ["hmipv6", "mipv6"])
def test_the_multicast_decision_without_octets_is_the_one_from_the_octets(protocol: str) -> None:
    """``process`` reads multicast from the destination's first octet when it has the
    octets, from the address when it has none (``raw=None``): the same outcome."""
    octets, bare = _mobile_node(protocol), _mobile_node(protocol)  # the same run twice
    now = 3.5
    for label, raw in _frames(octets):
        octets.process(now, "wlan0", decode(raw), raw)
        bare.process(now, "wlan0", decode(raw), None)
        assert _outcome(octets, now) == _outcome(bare, now), label
        now += 0.1


def test_the_shortcuts_count_what_the_general_path_counts() -> None:
    """Sanity: the frames above do reach the counters the cell's stations report."""
    node = _mobile_node("hmipv6")
    for _, raw in _frames(node):
        node.receive_packet(3.5, "wlan0", decode(raw), raw)
    assert node.counters["ns_ignored"] >= 2
    assert node.counters["dropped.not-for-us"] == 1
    assert node.counters["dropped.unhandled-icmpv6"] == 1
    assert node.security.counters["bypass-in"] > 0  # type: ignore[attr-defined]


def test_a_subclass_that_changes_the_receive_path_keeps_the_general_path() -> None:
    class Logging(MobileNode):
        def dispatch(self, *args: object, **kwargs: object) -> None:
            super().dispatch(*args, **kwargs)  # type: ignore[arg-type]

    class Homes(MobileNode):
        def is_local(self, address: IPv6Address) -> bool:
            return super().is_local(address)

    assert MobileNode._multicast_icmpv6_lane and MobileNode._not_for_us_lane
    assert not Logging._multicast_icmpv6_lane and Logging._not_for_us_lane
    assert Homes._multicast_icmpv6_lane and not Homes._not_for_us_lane


@pytest.mark.parametrize("protocol", ["hmipv6", "mipv6"])
def test_a_drop_counted_without_an_event_ends_where_a_reported_drop_ends(protocol: str) -> None:
    """``Node.report_drops`` False (the simulator keeping no event log): the same counters,
    output and timers as with the ``PacketDropped`` reported; the events are the same but for
    those, which ``unreported_drops`` counts instead; a frame that is only dropped leaves the
    node idle (nothing for the driver to drain)."""
    quiet, reported = _mobile_node(protocol), _mobile_node(protocol)  # the same run twice
    quiet.report_drops = False
    now = 3.5
    for label, raw in _frames(quiet):
        timer = quiet.next_timer()
        before = quiet.unreported_drops
        quiet.receive_packet(now, "wlan0", decode(raw), raw)
        reported.receive_packet(now, "wlan0", decode(raw), raw)
        idle = quiet.idle(timer)
        q, r = _outcome(quiet, now), _outcome(reported, now)
        events = r[2]
        assert isinstance(events, list)
        drops = [e for e in events if isinstance(e, PacketDropped)]
        assert q[2] == [e for e in events if not isinstance(e, PacketDropped)], label
        assert q[:2] + q[3:] == r[:2] + r[3:], label
        assert quiet.unreported_drops - before == len(drops), label
        if drops and not q[2] and not q[3] and q[4] == timer:
            assert idle, label
    assert quiet.unreported_drops >= 2  # not-for-us, unhandled ICMPv6


# -- MobileNode.overheard: the cells' first question to a station ------------------------------

TAKEN_QUIETLY = {"DAD probe of another address", "another node's Router Solicitation",
                 "unicast for a station that left"}
"""The frames of ``_frames`` that ``overheard`` takes when drops are counted without events
(``report_drops`` False, the simulator's default): the other frames change more than counters."""


@pytest.mark.parametrize("protocol", ["hmipv6", "mipv6"])
@pytest.mark.parametrize("icmpv6_policy", [False, True])
@pytest.mark.parametrize("report_drops", [False, True])
def test_overheard_ends_where_receive_packet_ends(protocol: str, icmpv6_policy: bool,
                                                  report_drops: bool) -> None:
    """A station as the simulator's cells drive it (``overheard`` first, ``receive_packet``
    when it declines) against the node fed the octets (``receive``): the same counters,
    events, output, timers and DAD states after every frame; what ``overheard`` takes leaves
    the node idle, and it takes exactly the frames it is for."""
    lean, general = _mobile_node(protocol), _mobile_node(protocol)  # the same run twice
    for node in (lean, general):
        node.report_drops = report_drops
        if icmpv6_policy:
            assert isinstance(node.security, IPsec)
            node.security.spd.policies.insert(
                0, Policy.make(protocol=58, action=Action.BYPASS, ipsec=None))
    assert _outcome(lean, 3.0) == _outcome(general, 3.0)
    taken = set()
    now = 3.5
    for label, raw in _frames(lean):
        timer = lean.next_timer()
        if lean.overheard(now, decode(raw), raw):
            taken.add(label)
            assert lean.idle(timer), label
        else:
            lean.receive_packet(now, "wlan0", decode(raw), raw)
        general.receive(now, "wlan0", raw)
        assert _outcome(lean, now) == _outcome(general, now), label
        now += 0.1
    if report_drops:  # drops are events for the driver: everything goes to receive_packet
        expected = set()
    elif icmpv6_policy:  # the SPD decides for ICMPv6: only the unicast drop is taken
        expected = {"unicast for a station that left"}
    else:
        expected = TAKEN_QUIETLY
    assert taken == expected


def test_overheard_counts_what_receive_packet_counts() -> None:
    node = _mobile_node("hmipv6")
    node.report_drops = False
    assert isinstance(node.security, IPsec)
    bypass = node.security.counters["bypass-in"]
    ns, drops = node.counters["ns_ignored"], node.unreported_drops
    frames = dict(_frames(node))
    for label in sorted(TAKEN_QUIETLY):
        raw = frames[label]
        assert node.overheard(3.5, decode(raw), raw), label
    assert node.counters["ns_ignored"] == ns + 1
    assert node.counters["dropped.unhandled-icmpv6"] == 1
    assert node.counters["dropped.not-for-us"] == 1
    assert node.unreported_drops == drops + 2
    assert node.security.counters["bypass-in"] == bypass + 2  # the two ICMPv6 messages


def test_a_crashed_node_overhears_nothing() -> None:
    node = _mobile_node("hmipv6")
    node.report_drops = False
    node.crash(3.5)
    before = dict(node.counters)
    for label, raw in _frames(node):
        assert not node.overheard(3.5, decode(raw), raw), label
    assert dict(node.counters) == before


def test_a_subclass_that_changes_how_it_hears_keeps_the_general_path() -> None:
    class Answers(MobileNode):
        def on_icmpv6(self, *args: object, **kwargs: object) -> None:
            super().on_icmpv6(*args, **kwargs)  # type: ignore[arg-type]

    class Probes(MobileNode):
        def _on_ns(self, *args: object, **kwargs: object) -> None:
            super()._on_ns(*args, **kwargs)  # type: ignore[arg-type]

    class Receives(MobileNode):
        def receive_packet(self, *args: object, **kwargs: object) -> None:
            super().receive_packet(*args, **kwargs)  # type: ignore[arg-type]

    assert MobileNode._overheard_lane
    for cls in (Answers, Probes, Receives):
        assert not cls._overheard_lane, cls.__name__
    node = _mobile_node("hmipv6")
    node.report_drops = False
    node._overheard_lane = False  # as in those classes
    for label, raw in _frames(node):
        assert not node.overheard(3.5, decode(raw), raw), label


def test_one_frame_heard_by_several_stations() -> None:
    """A cell hands every station the same packet object; ``overheard`` reads what it needs
    from a frame once for all of them (``mobile_node._last_heard``). Each station still gets
    its own answer: the owner of the solicited address declines, another station counts it;
    and a new frame is never answered from the previous one's reading."""
    net = Network(load("many-mobiles", ("generate.mobile_nodes.count=10", "scenario.duration=10s",
                                        "generate.mobile_nodes.flow.stop=9s")))
    net.start()
    net.sched.run(until=3.0)
    nodes = [n for n in net.nodes.values() if isinstance(n, MobileNode)
             and n.links["wlan0"].lcoa is not None]
    assert len(nodes) >= 2
    owner, other = nodes[0], nodes[1]
    for node in nodes:
        node.report_drops = False
    lcoa = owner.links["wlan0"].lcoa
    assert lcoa is not None and lcoa != other.links["wlan0"].lcoa
    probe = IPv6Packet(IPv6Address("::"), solicited_node(lcoa), NeighborSolicitation(lcoa),
                       hop_limit=255).encode()
    packet = decode(probe)
    ignored = other.counters["ns_ignored"]
    assert other.overheard(3.5, packet, probe)
    assert not owner.overheard(3.5, packet, probe)  # the same object: its own LCoA
    assert other.counters["ns_ignored"] == ignored + 1
    # Then unicast to the owner's LCoA: not the probe's reading.
    unicast = IPv6Packet(IPv6Address("2001:db8:ffff::1"), lcoa, UDP(1, 2, b"x")).encode()
    packet = decode(unicast)
    assert not owner.overheard(3.5, packet, unicast)
    dropped = other.counters["dropped.not-for-us"]
    assert other.overheard(3.5, packet, unicast)
    assert other.counters["dropped.not-for-us"] == dropped + 1
