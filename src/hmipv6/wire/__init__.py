"""Wire codecs: octets <-> frozen dataclasses. No state, no I/O.

Importing this package registers every upper-layer decoder (UDP, ICMPv6, Mobility Header),
so :func:`hmipv6.wire.decode` understands a whole packet.
"""

from hmipv6.wire import udp as udp
from hmipv6.wire.addr import IPv6Address, IPv6Network, addr, from_packed
from hmipv6.wire.ipv6 import (
    AuthenticationHeader,
    DestinationOptions,
    EncapsulatingSecurityPayload,
    FragmentHeader,
    HomeAddressOption,
    HopByHopOptions,
    IPv6Packet,
    NextHeader,
    Pad1,
    PadN,
    RawPayload,
    RoutingHeader,
    RoutingHeaderType2,
    UnknownOption,
    decode,
)
from hmipv6.wire.udp import UDP

__all__ = [
    "UDP",
    "AuthenticationHeader",
    "DestinationOptions",
    "EncapsulatingSecurityPayload",
    "FragmentHeader",
    "HomeAddressOption",
    "HopByHopOptions",
    "IPv6Address",
    "IPv6Network",
    "IPv6Packet",
    "NextHeader",
    "Pad1",
    "PadN",
    "RawPayload",
    "RoutingHeader",
    "RoutingHeaderType2",
    "UnknownOption",
    "addr",
    "decode",
    "from_packed",
]
