"""IPv6 addresses on the wire.

Addresses are :class:`ipaddress.IPv6Address` everywhere in the API (they print, compare and
serialise cleanly). Building one from 16 octets costs about as much as decoding a whole
header, so decoders go through :func:`from_packed`, a bounded cache keyed by the raw octets.
"""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

__all__ = ["UNSPECIFIED", "IPv6Address", "IPv6Network", "addr", "from_packed", "interface_address",
           "solicited_node", "text"]

_CACHE: dict[bytes, IPv6Address] = {}
_CACHE_MAX = 1 << 16

UNSPECIFIED = IPv6Address("::")
ALL_NODES = IPv6Address("ff02::1")
ALL_ROUTERS = IPv6Address("ff02::2")


def from_packed(raw: bytes) -> IPv6Address:
    """The address whose 16 network-order octets are ``raw`` (cached)."""
    a = _CACHE.get(raw)
    if a is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        a = _CACHE[raw] = IPv6Address(raw)
    return a


def addr(value: str | int | bytes | IPv6Address) -> IPv6Address:
    """Coerce a string, integer, 16 octets or address into an :class:`IPv6Address`."""
    if isinstance(value, IPv6Address):
        return value
    if isinstance(value, bytes | bytearray):
        return from_packed(bytes(value))
    return IPv6Address(value)


def interface_address(prefix: IPv6Network | IPv6Address, interface_id: IPv6Address | int) -> IPv6Address:
    """Prefix (upper 64 bits) + interface identifier (lower 64 bits), as SLAAC forms it
    (RFC 4862 §5.5.3) and as RFC 4140 §6.1 forms the RCoA and LCoA."""
    base = int(prefix.network_address if isinstance(prefix, IPv6Network) else prefix)
    iid = int(interface_id) & 0xFFFF_FFFF_FFFF_FFFF
    return IPv6Address((base & ~0xFFFF_FFFF_FFFF_FFFF) | iid)


def solicited_node(address: IPv6Address) -> IPv6Address:
    """The solicited-node multicast address of ``address`` (RFC 4291 §2.7.1)."""
    return IPv6Address(_SOLICITED_NODE_BASE | (int(address) & 0xFFFFFF))


_SOLICITED_NODE_BASE = int(IPv6Address("ff02::1:ff00:0"))
"""FF02:0:0:0:0:1:FF00::/104 (RFC 4291 §2.7.1), parsed once."""


_TEXT: dict[int, str] = {}


def text(address: IPv6Address) -> str:
    """``str(address)`` (RFC 5952 form), memoised by value: compressing an address costs
    microseconds, and drop details and timer names format the same few addresses per packet."""
    key = int(address)
    s = _TEXT.get(key)
    if s is None:
        if len(_TEXT) >= _CACHE_MAX:
            _TEXT.clear()
        s = _TEXT[key] = str(address)
    return s
