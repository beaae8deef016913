"""Local BUs per second accepted by the MAP, with ESP (HMAC-SHA-256-128) and without.

Both runs use the real :class:`~hmipv6.core.map.MobilityAnchorPoint` as shipped: octets of
local BUs (LCoA → MAP, HAO = RCoA, flags A|M) from ``--mns`` mobile nodes, ``--rounds`` BUs
each (the first creates the binding, the rest are refreshes and handovers between two
LCoAs), go into ``map.receive``; the MAP decides and queues its BA, which is drained. The BUs
are built beforehand, so only the MAP's work is timed.

- none: ``security = "none"`` (:class:`NullSecurity`), unprotected BUs;
- ESP: :class:`~hmipv6.core.ipsec.IPsec` with seed-provisioned MN–MAP SAs (NULL encryption,
  HMAC-SHA-256-128), the default suite of simulations; ``--suite`` picks another.

As shipped, the MAP takes an octet-level fast path for canonical local BUs in both cases
(unprotected: ``_fast_local_bu``; ESP: ``_fast_esp_local_bu`` with the SA's lane: SPI,
replay pre-check, ICV, SPD/selectors/PAD, binding, BA sealed from octets). The headline is
ESP / none as shipped (target >= 0.5). Both configurations are also run with the fast paths
off (the general path: decode, ``IPsec.unprotect``, dataclasses, BA encoded and protected),
for information only. Each configuration is run ``--repeat`` times alternately and the best
run counts. Rates are per second of CPU time (``time.process_time``): on a shared machine,
time stolen by other tenants would otherwise count against whichever run it hits.

    python bench/ipsec.py [--mns 500] [--rounds 20] [--repeat 5] [--suite esp-aes-gcm]
"""

from __future__ import annotations

import argparse
import gc
import time
from ipaddress import IPv6Address, IPv6Network

from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import SUITES, Provisioner
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.security import NullSecurity, Security
from hmipv6.wire.ipv6 import DestinationOptions, HomeAddressOption, IPv6Packet
from hmipv6.wire.mobility import BindingUpdate, BUFlags

MAP = IPv6Address("2001:db8:ffff::1")
RCOA_PREFIX = IPv6Network("2001:db8:ffff::/64")


def _rcoa(i: int) -> IPv6Address:
    return IPv6Address(int(RCOA_PREFIX.network_address) + 0x1000 + i)


def _lcoa(i: int, r: int) -> IPv6Address:
    return IPv6Address(f"2001:db8:{1 + r % 2:x}::{i + 1:x}")


def _bu(i: int, r: int) -> IPv6Packet:
    return IPv6Packet(_lcoa(i, r), MAP, BindingUpdate(r + 1, BUFlags.A | BUFlags.M, 600),
                      (DestinationOptions((HomeAddressOption(_rcoa(i)),)),))


def build(mns: int, rounds: int, suite: str | None) -> tuple[Security, list[bytes]]:
    """The MAP's security object and the BU octets, in sending order."""
    if suite is None:
        return NullSecurity(), [_bu(i, r).encode() for r in range(rounds) for i in range(mns)]
    prov = Provisioner(1, suite)
    map_sec = IPsec(name="map")
    nodes = []
    for i in range(mns):
        mn = IPsec(name=f"mn{i}")
        prov.mn_map(mn, f"mn{i}", map_sec, "map", MAP, RCOA_PREFIX)
        nodes.append(mn)
    return map_sec, [nodes[i].protect(0.0, _bu(i, r)).encode()
                     for r in range(rounds) for i in range(mns)]


def run(security: Security, packets: list[bytes], *, fast_path: bool = True, first: int = 0
        ) -> tuple[float, float, int, float]:
    """Seconds taken (wall clock, CPU) and BAs sent for ``packets`` into a fresh MAP, and
    the CPU seconds its ``first`` packets took (each mobile node's first BU, when ``first``
    is the number of mobile nodes: ``packets`` are in rounds)."""
    m = MobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=security,
                            max_lifetime=600)
    if hasattr(m, "fast_path"):
        m.fast_path = fast_path
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    receive, drain, event = m.receive, m.datagrams_to_send, m.next_event
    sent = 0
    # The mobile nodes' IPsec objects that built the packets are garbage by now: collect them
    # before the clock starts, or the collector charges them to whichever run comes next.
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    c_first = c0
    for n, data in enumerate(packets, 1):
        receive(0.0, "eth0", data)
        sent += len(drain(0.0))
        while event() is not None:
            pass
        if n == first:
            c_first = time.process_time()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    if sum(v for k, v in m.counters.items() if k.startswith("dropped.")):
        raise SystemExit(f"the MAP dropped BUs: {dict(m.counters)}")
    return elapsed, cpu, sent, c_first - c0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--mns", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--suite", default="esp-null-hmac-sha256", choices=sorted(SUITES))
    ap.add_argument("--scaling", type=int, nargs="*", default=[1, 50, 500, 2000],
                    help="also print the ratio for these numbers of mobile nodes (CPU time)")
    args = ap.parse_args(argv)
    n = args.mns * args.rounds
    esp, esp_general = f"{args.suite}", f"{args.suite}, general path"
    configs = (("none", None, True), (esp, args.suite, True),
               ("none, general path", None, False), (esp_general, args.suite, False))
    best = {label: float("inf") for label, _, _ in configs}
    for _ in range(args.repeat):
        for label, suite, fast in configs:
            security, packets = build(args.mns, args.rounds, suite)
            _, cpu, sent, _ = run(security, packets, fast_path=fast)
            # One BA per BU, plus one proxy Neighbor Advertisement per new binding.
            assert sent == n + args.mns, (label, sent)
            best[label] = min(best[label], cpu)
    rate = {label: n / t for label, t in best.items()}
    print(f"local BUs accepted by the MAP ({args.mns} MNs x {args.rounds} BUs, per second of "
          f"CPU time, best of {args.repeat}):")
    for label, r in rate.items():
        print(f"  {label:<42}{r:10,.0f} BU/s")
    print(f"  ratio ESP / none, MAP as shipped (fast paths on)   {rate[esp] / rate['none']:5.2f}"
          "   target >= 0.50")
    print(f"  ratio ESP / none, both on the general path         "
          f"{rate[esp_general] / rate['none, general path']:5.2f}   (information only)")
    print(f"  ESP fast path / ESP general path                   "
          f"{rate[esp] / rate[esp_general]:5.2f}")
    if args.scaling:
        # The ratio depends on how many mobile nodes share the MAP: each ESP BU touches its
        # MN's lane, two SAs and their keyed HMAC contexts (OpenSSL's state), which stop
        # fitting in the CPU caches as the population grows, while an unprotected BU touches
        # only its binding. Every population gets the same BUs per MN (--rounds, more when
        # needed for 10,000 in all), so the first BUs' share stays at most 1 / --rounds.
        # Each MN's first BU costs more under ESP: the SPD, the SA selectors and the PAD
        # are evaluated (then remembered in the SA's lane), the RCoA claimed: printed apart.
        print("ratio ESP / none (fast paths on) by number of mobile nodes, CPU time, "
              f"best of {args.repeat}:")
        for mns in args.scaling:
            rounds = max(args.rounds, -(-(args.mns * args.rounds) // mns))
            cpu = {None: float("inf"), args.suite: float("inf")}
            first = dict(cpu)
            for _ in range(args.repeat):  # interleaved, as above
                for suite in cpu:
                    security, packets = build(mns, rounds, suite)
                    _, c, _, c1 = run(security, packets, first=mns)
                    cpu[suite] = min(cpu[suite], c / len(packets))
                    first[suite] = min(first[suite], c1 / mns)
            # (One MN's first BU is a single cold sample: not printed.)
            firsts = (f"   (first BU: none {first[None] * 1e6:5.1f} us, "
                      f"ESP {first[args.suite] * 1e6:5.1f} us)") if mns >= 50 else ""
            print(f"  {mns:6} MNs x {rounds:5} BUs: none {cpu[None] * 1e6:5.2f} us/BU, "
                  f"ESP {cpu[args.suite] * 1e6:5.2f} us/BU, ratio {cpu[None] / cpu[args.suite]:4.2f}"
                  + firsts)


if __name__ == "__main__":
    main()
