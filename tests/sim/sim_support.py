"""Helpers of the end-to-end simulator tests: scenario variants and pcap decoding. (No tests.)"""

from __future__ import annotations

from ipaddress import IPv6Address

from hmipv6.sim.scenario import Scenario, builtin_path, loads
from hmipv6.wire.ipv6 import IPv6Packet, decode
from hmipv6.wire.pcap import read_pcap


def variant(name: str, *replacements: tuple[str, str], cut_from: str | None = None) -> Scenario:
    """A built-in scenario with text replacements (each must apply) and optionally everything
    from ``cut_from`` on removed."""
    path = builtin_path(name)
    assert path is not None
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    if cut_from is not None:
        text = text[:text.index(cut_from)]
    return loads(text, source=f"{name} (variant)")


def packets(pcap: bytes) -> list[tuple[float, IPv6Packet, bytes]]:
    return [(r.timestamp, decode(r.data), r.data) for r in read_pcap(pcap).records]


def layers(p: IPv6Packet) -> list[IPv6Packet]:
    out = [p]
    while isinstance(out[-1].payload, IPv6Packet):
        out.append(out[-1].payload)
    return out


def kind(p: IPv6Packet) -> str:
    """The innermost payload's class name (``RouterAdvertisement``, ``BindingUpdate``...)."""
    return type(layers(p)[-1].payload).__name__


def addresses(p: IPv6Packet) -> set[IPv6Address]:
    out: set[IPv6Address] = set()
    for q in layers(p):
        out |= {q.src, q.dst}
        if q.home_address is not None:
            out.add(q.home_address)
        if q.routing_home_address is not None:
            out.add(q.routing_home_address)
    return out
