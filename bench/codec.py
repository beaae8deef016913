"""Codec throughput: hmipv6 against scapy and against a bare ``struct`` loop, in one run.

For four packets (a local BU, a BA with a Type 2 routing header, an RA with prefix and MAP
options, a tunnelled data packet) it prints decode and encode rates of hmipv6 (full
validation and checksums included), of scapy on the same octets, and of a bare
``struct.unpack_from`` / ``struct.pack`` loop over the same octets (the ceiling for Python),
then hmipv6's rate as a multiple of scapy's and as a fraction of the bare loop's.

Decoding cycles through 10,000 distinct variants of each packet (sequence numbers, lifetimes,
payloads), for hmipv6 and scapy alike, so caches of repeated messages (hmipv6 keeps one for
Router Advertisements, which routers repeat) cannot flatter the figures. Measurements are
interleaved over ``--repeat`` rounds and the best of each counts; rates are per second of
CPU time (``time.process_time``), so other jobs on a shared machine weigh less. The RA has a third row,
``repeat``: the same RA decoded again (what a host does with a router's periodic RAs).

    python bench/codec.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import gc
import struct
import time
from collections.abc import Callable
from functools import partial

from hmipv6.wire import (
    UDP,
    DestinationOptions,
    HomeAddressOption,
    IPv6Packet,
    RoutingHeaderType2,
    addr,
    decode,
)
from hmipv6.wire.icmpv6 import (
    AdvertisementInterval,
    MapOption,
    PrefixInformation,
    RouterAdvertisement,
    SourceLinkLayerAddress,
)
from hmipv6.wire.mobility import BAStatus, BindingAcknowledgement, BindingUpdate, BUFlags

LCOA = addr("2001:db8:a1::a:b:c:d")
MAP = addr("2001:db8:100::1")
RCOA = addr("2001:db8:100::a:b:c:d")
HOA = addr("2001:db8:f::100")
HA = addr("2001:db8:f::1")
CN = addr("2001:db8:c::1")
AR_LL = addr("fe80::1")


def packets(i: int = 0) -> dict[str, IPv6Packet]:
    """The four packets; ``i`` varies one field (sequence number, lifetime or payload), so
    decoding cycles through distinct octets and no cache of repeated messages can help."""
    return {
        "local BU": IPv6Packet(LCOA, MAP, BindingUpdate((7 + i) & 0xFFFF, BUFlags.A | BUFlags.M, 420, ()),
                               (DestinationOptions((HomeAddressOption(RCOA),)),)),
        "BA with RH2": IPv6Packet(MAP, LCOA, BindingAcknowledgement(BAStatus(0), 0, (7 + i) & 0xFFFF,
                                                                    420, ()),
                                  (RoutingHeaderType2(RCOA),)),
        "RA prefix+MAP": IPv6Packet(AR_LL, addr("ff02::1"), RouterAdvertisement(
            cur_hop_limit=64, router_lifetime=1800, options=(
                SourceLinkLayerAddress(b"\x02\x00\x00\x00\x00\x01"),
                PrefixInformation(64, True, True, False, 86400, 14400, addr("2001:db8:a1::")),
                AdvertisementInterval(70),
                MapOption(1, 10, True, 3600 + i, MAP))), hop_limit=255),
        "tunnelled data": IPv6Packet(MAP, LCOA, IPv6Packet(HA, RCOA, IPv6Packet(
            CN, HOA, UDP(5000, 6000, i.to_bytes(4, "big") + bytes(156))))),
    }


_clock = time.process_time
"""Rates are per second of CPU time: on a shared machine, wall time counts other jobs too
(whichever measurement another job preempts more looks slower)."""

VARIANTS = 10_000  # more than the RA cache holds (4,096), so every RA decode is a miss


def scapy_builders() -> dict[str, Callable[[], object]]:
    """The same packets built with scapy. Every field is set: scapy's BU flags are a 7-bit
    field named "PRMKLHA" with the LSB first (A|M is 0x44) and default to K|H|A."""
    from scapy.layers.inet6 import (
        HAO,
        MIP6MH_BA,
        MIP6MH_BU,
        ICMPv6ND_RA,
        ICMPv6NDOptAdvInterval,
        ICMPv6NDOptMAP,
        ICMPv6NDOptPrefixInfo,
        ICMPv6NDOptSrcLLAddr,
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrRouting,
    )
    from scapy.layers.inet6 import UDP as SUDP

    s = {k: str(v) for k, v in {"lcoa": LCOA, "map": MAP, "rcoa": RCOA, "hoa": HOA, "ha": HA,
                                 "cn": CN}.items()}
    return {
        "local BU": lambda: IPv6(src=s["lcoa"], dst=s["map"]) / IPv6ExtHdrDestOpt(
            options=[HAO(hoa=s["rcoa"])]) / MIP6MH_BU(seq=7, flags=0x44, mhtime=105, reserved=0),
        "BA with RH2": lambda: IPv6(src=s["map"], dst=s["lcoa"]) / IPv6ExtHdrRouting(
            type=2, segleft=1, addresses=[s["rcoa"]]) / MIP6MH_BA(status=0, flags=0, seq=7, mhtime=105),
        "RA prefix+MAP": lambda: IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA(
            chlim=64, routerlifetime=1800, prf=0, H=0, M=0, O=0) / ICMPv6NDOptSrcLLAddr(
            lladdr="02:00:00:00:00:01") / ICMPv6NDOptPrefixInfo(
            prefixlen=64, L=1, A=1, R=0, validlifetime=86400, preferredlifetime=14400,
            prefix="2001:db8:a1::") / ICMPv6NDOptAdvInterval(advint=70) / ICMPv6NDOptMAP(
            len=3, dist=1, pref=10, R=1, res=0, validlifetime=3600, addr=s["map"]),
        "tunnelled data": lambda: IPv6(src=s["map"], dst=s["lcoa"]) / IPv6(
            src=s["ha"], dst=s["rcoa"]) / IPv6(src=s["cn"], dst=s["hoa"]) / SUDP(
            sport=5000, dport=6000) / bytes(160),
    }


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls of ``fn`` per second, over about ``seconds``."""
    gc.collect()  # the previous measurement's garbage is not this one's cost
    n = 0
    batch = 64
    start = _clock()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        n += batch
        now = _clock()
        if now >= deadline:
            return n / (now - start)


def rate_over(fn: Callable[[bytes], object], items: list[bytes], seconds: float) -> float:
    """Calls of ``fn`` per second over about ``seconds``, each on the next of ``items``
    (distinct octets, round robin), in a plain loop as ``timeit`` would run it."""
    gc.collect()
    chunks = [items[i : i + 64] for i in range(0, len(items), 64)]
    n = 0
    start = _clock()
    deadline = start + seconds
    while True:
        for chunk in chunks:
            for item in chunk:
                fn(item)
            n += len(chunk)
            now = _clock()
            if now >= deadline:
                return n / (now - start)


def bare_loops(raw: bytes) -> tuple[Callable[[], object], Callable[[], object]]:
    """The Python ceiling: unpack/pack the same octets as 32-bit words, nothing else."""
    fmt = struct.Struct(f"!{len(raw) // 4}I")
    words = fmt.unpack_from(raw)
    return (lambda: fmt.unpack_from(raw)), (lambda: fmt.pack(*words))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    ap.add_argument("--repeat", type=int, default=5, help="rounds; the best of each counts")
    args = ap.parse_args()
    variants = [packets(i) for i in range(VARIANTS)]
    try:
        from scapy.all import raw as sraw
        from scapy.layers.inet6 import IPv6 as SIPv6

        builders = scapy_builders()
    except ImportError:
        builders = {}
    print(f"{'packet':16} {'op':6} {'hmipv6/s':>11} {'scapy/s':>9} {'struct/s':>11} "
          f"{'x scapy':>8} {'of struct':>9}")
    for name in variants[0]:
        values = [v[name] for v in variants]
        octets = [v.encode() for v in values]
        assert all(decode(o) == v for o, v in zip(octets[:64], values[:64], strict=True))
        p = values[0]
        raw = octets[0]
        bare_dec, bare_enc = bare_loops(raw)
        measures: dict[str, Callable[[], float]] = {
            "ours_dec": partial(rate_over, decode, octets, args.seconds),
            "ours_enc": partial(rate, p.encode, args.seconds),
            "bare_dec": partial(rate, bare_dec, args.seconds),
            "bare_enc": partial(rate, bare_enc, args.seconds),
        }
        if name in builders:
            b = builders[name]
            assert sraw(b()) == raw, f"scapy builds different octets for {name}"
            measures["scapy_dec"] = partial(rate_over, SIPv6, octets, args.seconds)
            measures["scapy_enc"] = partial(rate, lambda b=b: sraw(b()), args.seconds)
        best = dict.fromkeys(measures, 0.0)
        for _ in range(args.repeat):  # interleaved: background load hits every variant alike
            for key, measure in measures.items():
                best[key] = max(best[key], measure())
        nan = float("nan")
        rows = [("decode", best["ours_dec"], best.get("scapy_dec", nan), best["bare_dec"]),
                ("encode", best["ours_enc"], best.get("scapy_enc", nan), best["bare_enc"])]
        if name.startswith("RA"):
            # Routers repeat the same RA every interval; hmipv6 keeps a bounded cache of
            # decoded RAs keyed by their exact octets and addresses (wire.icmpv6).
            again = max(rate(lambda raw=raw: decode(raw), args.seconds)
                        for _ in range(args.repeat))
            rows.append(("repeat", again, best.get("scapy_dec", nan), best["bare_dec"]))
        for op, ours, theirs, ceil in rows:
            print(f"{name:16} {op:6} {ours:11,.0f} {theirs:9,.0f} {ceil:11,.0f} "
                  f"{ours / theirs:8.1f} {ours / ceil:9.2f}")


if __name__ == "__main__":
    main()
