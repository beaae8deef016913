"""``hmipv6 decode --filter TYPES --address ADDR``: which decoded packets to show.

Theory of operation
-------------------
A capture of a cell is mostly Router Advertisements; to see one exchange, ``decode`` keeps
only the packets that match. The filter works on the decoded record (the list of headers
:func:`hmipv6.decode_cmd.packet_headers` makes), so it sees tunnelled packets and, with
``--esp-sa``, the messages inside ESP:

- ``--filter TYPES``: comma-separated message types; a packet matches when one of its headers
  is of one of them. A type is a short name (:data:`SHORT_NAMES`: ``bu``, ``ba``, ``ra``,
  ``ns``, ``esp``, ``ike`` ...; ``mh`` is any Mobility Header message) or a header name as
  ``decode`` prints it (``binding_update``, ``router_advertisement``). Case does not matter;
  an unknown name is a usage error listing the short names.
- ``--address ADDR`` (repeatable): an IPv6 address or prefix; a packet matches when the source
  or destination of any of its IPv6 headers (outer or tunnelled), or a home address it carries
  (Home Address option, type 2 Routing header), is that address or in that prefix.

Both given: a packet must match both. Packets that do not decode are always shown (and set
the exit status), whatever the filter.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SHORT_NAMES", "FilterError", "PacketFilter", "header_names"]

SHORT_NAMES: Mapping[str, tuple[str, ...]] = {
    # Mobility Header (RFC 6275 §6.1, RFC 4140 §6, RFC 5568 §6.2)
    "bu": ("binding_update",), "ba": ("binding_acknowledgement",), "be": ("binding_error",),
    "brr": ("binding_refresh_request",), "hoti": ("home_test_init",), "hot": ("home_test",),
    "coti": ("care_of_test_init",), "cot": ("care_of_test",),
    "fbu": ("fast_binding_update",), "fback": ("fast_binding_acknowledgement",),
    "fna": ("fast_neighbor_advertisement",), "hi": ("handover_initiate",),
    "hack": ("handover_acknowledge",),
    # Neighbor Discovery (RFC 4861) and FMIPv6 ICMPv6 (RFC 5568 §6.1)
    "rs": ("router_solicitation",), "ra": ("router_advertisement",),
    "ns": ("neighbor_solicitation",), "na": ("neighbor_advertisement",),
    "redirect": ("redirect",), "rtsolpr": ("router_solicitation_for_proxy_advertisement",),
    "prrtadv": ("proxy_router_advertisement",),
    # ICMPv6 (RFC 4443), IPsec (RFC 4303, RFC 4302), UDP
    "echo": ("echo_request", "echo_reply"), "ping": ("echo_request", "echo_reply"),
    "esp": ("encapsulating_security_payload",), "ah": ("authentication_header",),
    "udp": ("udp",),
}
"""Short type names -> the header names they match."""

_MOBILITY = ("binding_update", "binding_acknowledgement", "binding_error",
             "binding_refresh_request", "home_test_init", "home_test", "care_of_test_init",
             "care_of_test", "fast_binding_update", "fast_binding_acknowledgement",
             "fast_neighbor_advertisement", "handover_initiate", "handover_acknowledge",
             "unknown_mobility_message")
IKE_PORT = 500
"""RFC 7296 §2.11: IKEv2's UDP port (``ike``, ``ikev2``)."""


class FilterError(ValueError):
    """A filter that cannot be used (an unknown type, a bad address)."""


def header_names() -> frozenset[str]:
    """Every header name ``decode`` can print: the wire dataclasses' snake_case names."""
    from hmipv6.decode_cmd import type_name
    from hmipv6.wire import fmipv6, icmpv6, ipv6, mobility, udp

    names = {type_name(v) for m in (ipv6, icmpv6, mobility, fmipv6, udp)
             for v in vars(m).values() if isinstance(v, type) and dataclasses.is_dataclass(v)}
    return frozenset(names | {"ethernet", "ipv6"})


@dataclass(frozen=True, slots=True)
class PacketFilter:
    """What ``--filter`` and ``--address`` ask for (module docstring)."""

    headers: frozenset[str] = frozenset()
    ike: bool = False
    networks: tuple[ipaddress.IPv6Network, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.headers or self.ike or self.networks)

    @classmethod
    def parse(cls, types: Iterable[str], addresses: Iterable[str]) -> PacketFilter:
        headers: set[str] = set()
        ike = False
        known = header_names()
        for item in types:
            for name in (t.strip().lower() for t in item.split(",")):
                if not name:
                    continue
                if name in ("ike", "ikev2"):
                    ike = True
                elif name == "mh":
                    headers.update(_MOBILITY)
                elif name in SHORT_NAMES:
                    headers.update(SHORT_NAMES[name])
                elif name in known:
                    headers.add(name)
                else:
                    raise FilterError(
                        f"--filter: unknown message type {name!r} (short names: "
                        f"{', '.join(sorted((*SHORT_NAMES, 'mh', 'ike')))}; or a header name "
                        "as decode prints it, such as binding_update)")
        networks = []
        for text in addresses:
            try:
                networks.append(ipaddress.IPv6Network(text.strip(), strict=False))
            except ValueError:
                raise FilterError(f"--address {text!r} is not an IPv6 address or prefix"
                                  ) from None
        return cls(frozenset(headers), ike, tuple(networks))

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether a decoded record (``decode --json``'s object) is shown."""
        if "error" in record or not self.active:
            return True
        headers = [h for h in record.get("headers", []) if isinstance(h, Mapping)]
        if self.headers or self.ike:
            names = {h.get("header") for h in headers}
            ike = self.ike and any(h.get("header") == "udp" and IKE_PORT in (
                h.get("src_port"), h.get("dst_port")) for h in headers)
            if not (ike or names & self.headers):
                return False
        if self.networks:
            return any(self._address_in(a) for a in _addresses(headers))
        return True

    def _address_in(self, text: object) -> bool:
        try:
            a = ipaddress.IPv6Address(str(text))
        except ValueError:
            return False
        return any(a in n for n in self.networks)


def _addresses(headers: Iterable[Mapping[str, Any]]) -> Iterable[object]:
    """Every IPv6 source and destination, and every home address the headers carry."""
    for h in headers:
        if h.get("header") == "ipv6":
            yield h.get("src")
            yield h.get("dst")
        elif h.get("header") == "routing_header_type2":
            yield h.get("home_address")
        for opt in h.get("options", []) if isinstance(h.get("options"), list) else []:
            if isinstance(opt, Mapping) and opt.get("type") == "home_address_option":
                yield opt.get("home_address")
