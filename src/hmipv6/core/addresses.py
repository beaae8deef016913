"""A set of IPv6 addresses asked by integer: :class:`AddressSet`.

``IPv6Address`` hashes by formatting its integer as hexadecimal text, a Python-level call
and a new string each time: ``address in set_of_addresses`` costs that on every packet. An
:class:`AddressSet` keeps the addresses' integers and answers membership from them (one
``__int__`` call, an integer hash), for the per-packet "is it one of mine" checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from ipaddress import IPv6Address

__all__ = ["AddressSet"]


class AddressSet:
    """The addresses given and added, less those discarded (a set: each at most once)."""

    __slots__ = ("_addresses", "ints")

    def __init__(self, addresses: Iterable[IPv6Address] = ()) -> None:
        self._addresses: dict[int, IPv6Address] = {int(a): a for a in addresses}
        self.ints = self._addresses.keys()
        """The members' integers (a live view: read it for membership by integer)."""

    def add(self, address: IPv6Address) -> None:
        self._addresses.setdefault(int(address), address)

    def discard(self, address: IPv6Address) -> None:
        self._addresses.pop(int(address), None)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPv6Address) and int(address) in self._addresses

    def __iter__(self) -> Iterator[IPv6Address]:
        return iter(self._addresses.values())

    def __len__(self) -> int:
        return len(self._addresses)
