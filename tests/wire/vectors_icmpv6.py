"""Golden ICMPv6 / Neighbor Discovery packets: checked-in octets and the hmipv6 values they hold.

The octets were generated once with scapy 2.8 by the builders in
``tests/oracle/test_scapy_icmpv6.py`` (``python -m tests.oracle.test_scapy_icmpv6`` prints them
again); the
oracle test checks that scapy still produces exactly these octets, so the unit tests in
``test_icmpv6.py`` run without scapy.
"""

from __future__ import annotations

from dataclasses import dataclass

from hmipv6.wire import icmpv6 as I
from hmipv6.wire.addr import addr
from hmipv6.wire.ipv6 import DestinationOptions, HomeAddressOption, IPv6Packet, RoutingHeaderType2

LL_R = addr("fe80::1")
LL_MN = addr("fe80::200:ff:fe00:2")
ALL_NODES = addr("ff02::1")
ALL_ROUTERS = addr("ff02::2")
MAC_R = bytes.fromhex("020000000001")
MAC_MN = bytes.fromhex("020000000002")
PREFIX = addr("2001:db8:1::")
MAP = addr("2001:db8:ff::1")
HA = addr("2001:db8:10::1")
HA2 = addr("2001:db8:10::2")
HOA = addr("2001:db8:10::100")
COA = addr("2001:db8:1::200:ff:fe00:2")
CN = addr("2001:db8:99::1")

INVOKING = bytes.fromhex(
    "60000000000d114020010db800010000020000fffe00000220010db80099000000000000000000010"
    "4d2162e000d43f368656c6c6f"
)
"""An IPv6/UDP packet (CoA -> CN, "hello") quoted by the error messages."""

PIO = I.PrefixInformation(prefix_length=64, on_link=True, autonomous=True, router_address=False,
                          valid_lifetime=86400, preferred_lifetime=14400, prefix=PREFIX)


@dataclass(frozen=True)
class Vector:
    name: str
    doc: str
    packet: IPv6Packet
    octets: bytes


def _v(name: str, doc: str, packet: IPv6Packet, hexstr: str) -> Vector:
    return Vector(name, doc, packet, bytes.fromhex(hexstr))


VECTORS: dict[str, Vector] = {v.name: v for v in (
    _v(
        'rs',
        'Router Solicitation with a Source Link-layer Address option (RFC 4861 §4.1).',
        IPv6Packet(LL_MN, ALL_ROUTERS, I.RouterSolicitation((I.SourceLinkLayerAddress(MAC_MN),)),
                   hop_limit=255),
        '6000000000103afffe80000000000000020000fffe000002ff0200000000000000000000000000028500792a00000000'
        '0101020000000002',
    ),
    _v(
        'ra',
        'Router Advertisement, O and H set, with SLLA, MTU, Prefix Information, Advertisement '
        'Interval, Home Agent Information and MAP options.',
        IPv6Packet(LL_R, ALL_NODES, I.RouterAdvertisement(
        cur_hop_limit=64, managed=False, other=True, home_agent=True, preference=0,
        router_lifetime=1800, reachable_time=30000, retrans_timer=1000,
        options=(I.SourceLinkLayerAddress(MAC_R), I.MTU(1500), PIO, I.AdvertisementInterval(1500),
                 I.HomeAgentInformation(preference=10, lifetime=1800),
                 I.MapOption(dist=1, pref=10, r=True, valid_lifetime=3600, address=MAP))),
        hop_limit=255),
        '6000000000683afffe800000000000000000000000000001ff020000000000000000000000000001860027fb40600708'
        '00007530000003e8010102000000000105010000000005dc030440c000015180000038400000000020010db800010000'
        '000000000000000007010000000005dc08010000000a070817031a8000000e1020010db800ff00000000000000000001',
    ),
    _v(
        'ra_low_pref',
        'RA with M, Prf = low (3), RFC 4389 P bit; PIO with L=0 A=1 R=1; MAP option Dist 15 Pref 0 '
        'lifetime 0.',
        IPv6Packet(LL_R, ALL_NODES, I.RouterAdvertisement(
        cur_hop_limit=0, managed=True, preference=3, reserved=0b100,
        options=(I.PrefixInformation(64, False, True, True, 0xFFFFFFFF, 0, addr("2001:db8:1::1")),
                 I.MapOption(dist=15, pref=0, r=False, valid_lifetime=0, address=MAP))),
        hop_limit=255),
        '6000000000483afffe800000000000000000000000000001ff0200000000000000000000000000018600d47e009c0000'
        '000000000000000003044060ffffffff000000000000000020010db80001000000000000000000011703f00000000000'
        '20010db800ff00000000000000000001',
    ),
    _v(
        'ns',
        'Neighbor Solicitation with SLLA.',
        IPv6Packet(LL_MN, addr("ff02::1:ff00:1"),
        I.NeighborSolicitation(addr("2001:db8:1::1"), (I.SourceLinkLayerAddress(MAC_MN),)), hop_limit=255),
        '6000000000203afffe80000000000000020000fffe000002ff0200000000000000000001ff00000187004a5e00000000'
        '20010db80001000000000000000000010101020000000002',
    ),
    _v(
        'ns_dad',
        'DAD Neighbor Solicitation: unspecified source, no options.',
        IPv6Packet(addr("::"), addr("ff02::1:ff00:2"), I.NeighborSolicitation(COA), hop_limit=255),
        '6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff00000287004bea00000000'
        '20010db800010000020000fffe000002',
    ),
    _v(
        'na',
        'Neighbor Advertisement, R S O set, with TLLA.',
        IPv6Packet(LL_R, LL_MN, I.NeighborAdvertisement(
        addr("2001:db8:1::1"), router=True, solicited=True, override=True,
        options=(I.TargetLinkLayerAddress(MAC_R),)), hop_limit=255),
        '6000000000203afffe800000000000000000000000000001fe80000000000000020000fffe000002880067e2e0000000'
        '20010db80001000000000000000000010201020000000001',
    ),
    _v(
        'redirect',
        'Redirect with TLLA and Redirected Header (48 octets of the redirected packet).',
        IPv6Packet(LL_R, LL_MN, I.Redirect(
        addr("fe80::3"), CN,
        (I.TargetLinkLayerAddress(bytes.fromhex("020000000003")), I.RedirectedHeader(INVOKING[:48]))),
        hop_limit=255),
        '6000000000683afffe800000000000000000000000000001fe80000000000000020000fffe0000028900161900000000'
        'fe80000000000000000000000000000320010db800990000000000000000000102010200000000030407000000000000'
        '60000000000d114020010db800010000020000fffe00000220010db800990000000000000000000104d2162e000d43f3',
    ),
    _v(
        'echo_request',
        "Echo Request (the AR's MAP probe, RFC 4140 §10).",
        IPv6Packet(LL_R, MAP, I.EchoRequest(0x1234, 7, b"hmipv6 probe")),
        '6000000000143a40fe80000000000000000000000000000120010db800ff00000000000000000001800002e212340007'
        '686d697076362070726f6265',
    ),
    _v(
        'echo_reply',
        'Echo Reply.',
        IPv6Packet(MAP, LL_R, I.EchoReply(0x1234, 7, b"hmipv6 probe")),
        '6000000000143a4020010db800ff00000000000000000001fe800000000000000000000000000001810001e212340007'
        '686d697076362070726f6265',
    ),
    _v(
        'dest_unreach',
        'Destination Unreachable, code 3 (address unreachable).',
        IPv6Packet(MAP, COA, I.DestinationUnreachable(3, INVOKING)),
        '60000000003d3a4020010db800ff0000000000000000000120010db800010000020000fffe00000201032fe100000000'
        '60000000000d114020010db800010000020000fffe00000220010db800990000000000000000000104d2162e000d43f3'
        '68656c6c6f',
    ),
    _v(
        'packet_too_big',
        'Packet Too Big, MTU 1280.',
        IPv6Packet(MAP, COA, I.PacketTooBig(1280, INVOKING)),
        '60000000003d3a4020010db800ff0000000000000000000120010db800010000020000fffe000002020029e400000500'
        '60000000000d114020010db800010000020000fffe00000220010db800990000000000000000000104d2162e000d43f3'
        '68656c6c6f',
    ),
    _v(
        'time_exceeded',
        'Time Exceeded, code 0.',
        IPv6Packet(MAP, COA, I.TimeExceeded(0, INVOKING)),
        '60000000003d3a4020010db800ff0000000000000000000120010db800010000020000fffe00000203002de400000000'
        '60000000000d114020010db800010000020000fffe00000220010db800990000000000000000000104d2162e000d43f3'
        '68656c6c6f',
    ),
    _v(
        'param_problem',
        'Parameter Problem, code 1, pointer 6 (the Next Header octet).',
        IPv6Packet(MAP, COA, I.ParameterProblem(1, 6, INVOKING)),
        '60000000003d3a4020010db800ff0000000000000000000120010db800010000020000fffe00000204012cdd00000006'
        '60000000000d114020010db800010000020000fffe00000220010db800990000000000000000000104d2162e000d43f3'
        '68656c6c6f',
    ),
    _v(
        'haad_request',
        'Home Agent Address Discovery Request to the Home-Agents anycast address.',
        IPv6Packet(COA, addr("2001:db8:10::fdff:ffff:ffff:fffe"), I.HomeAgentAddressDiscoveryRequest(0x4242)),
        '6000000000083a4020010db800010000020000fffe00000220010db800100000fdfffffffffffffe9000d2f642420000',
    ),
    _v(
        'haad_reply',
        'Home Agent Address Discovery Reply listing two home agents.',
        IPv6Packet(HA, COA, I.HomeAgentAddressDiscoveryReply(0x4242, (HA, HA2))),
        '6000000000283a4020010db800100000000000000000000120010db800010000020000fffe0000029100743f42420000'
        '20010db800100000000000000000000120010db8001000000000000000000002',
    ),
    _v(
        'mps_hao',
        'Mobile Prefix Solicitation with a Home Address option: checksum over the home address.',
        IPv6Packet(COA, HA, I.MobilePrefixSolicitation(0x5151),
        (DestinationOptions((HomeAddressOption(HOA),)),)),
        '6000000000203c4020010db800010000020000fffe00000220010db80010000000000000000000013a0201020000c910'
        '20010db80010000000000000000001009200bfd851510000',
    ),
    _v(
        'mpa_rh2',
        'Mobile Prefix Advertisement with a Type 2 routing header: checksum over the home address.',
        IPv6Packet(HA, COA, I.MobilePrefixAdvertisement(
        0x5151, options=(I.PrefixInformation(64, True, True, True, 86400, 14400, HA),)),
        (RoutingHeaderType2(HOA),)),
        '6000000000402b4020010db800100000000000000000000120010db800010000020000fffe0000023a02020100000000'
        '20010db80010000000000000000001009300c34851510000030440e000015180000038400000000020010db800100000'
        '0000000000000001',
    ),
)}

OCTETS: dict[str, bytes] = {name: v.octets for name, v in VECTORS.items()}
"""The octets alone, for the shared fuzz harness (``tests/wire/fuzzing.py``)."""
