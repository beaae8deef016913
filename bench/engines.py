"""MAP engine throughput and binding cache memory, against a decode-only baseline, in one run.

Prints, on one core:

- local BUs processed per second by the MAP (new bindings; refreshes of existing ones), each
  including the BA it emits, and as a fraction of a bare ``decode`` loop over the same octets;
- packets tunnelled per second through the MAP's fast path, against the same decode loop;
- binding cache memory per entry at N entries (tracemalloc; default 1,000,000).

Targets: >= 50,000 BU/s, >= 200,000 tunnelled packets/s, <= 400 bytes per binding.

    python bench/engines.py [--entries 1000000] [--count 50000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from ipaddress import IPv6Address

from hmipv6.core.binding_cache import BindingCache
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.wire import DestinationOptions, HomeAddressOption, IPv6Packet, decode
from hmipv6.wire.mobility import BindingUpdate, BUFlags
from hmipv6.wire.udp import UDP

MAP_ADDR = IPv6Address("2001:db8:100::1")
RCOA_BASE = int(IPv6Address("2001:db8:100::1:0:0"))
LCOA_BASE = int(IPv6Address("2001:db8:200:1::1:0:0"))
CN = IPv6Address("2001:db8:cafe::1")


def make_map() -> MobilityAnchorPoint:
    m = MobilityAnchorPoint("map", address=MAP_ADDR, ifname="link", max_lifetime=0xFFFF * 4)
    m.add_interface("down")
    m.add_interface("up")
    m.add_route("2001:db8:200::/48", "down")
    m.add_route("::/0", "up")
    return m


def local_bus(n: int, sequence: int) -> list[bytes]:
    out = []
    for i in range(n):
        rcoa, lcoa = IPv6Address(RCOA_BASE + i), IPv6Address(LCOA_BASE + i)
        out.append(IPv6Packet(lcoa, MAP_ADDR, BindingUpdate(sequence, BUFlags.A | BUFlags.M, 400),
                              (DestinationOptions((HomeAddressOption(rcoa),)),)).encode())
    return out


def rate(n: int, fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--count", type=int, default=50_000)
    args = ap.parse_args()
    n = args.count

    # -- local BUs ---------------------------------------------------------------------------
    new, refresh = local_bus(n, 1), local_bus(n, 2)

    def decode_loop() -> None:
        for raw in new:
            decode(raw)

    m = make_map()

    def process(batch: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            receive, drain = m.receive, m.datagrams_to_send
            for raw in batch:
                receive(1.0, "down", raw)
                drain(1.0)
                m._events.clear()
        return run

    base = rate(n, decode_loop)
    bu_new = rate(n, process(new))
    bu_refresh = rate(n, process(refresh))
    assert len(m.cache) == n and m.counters["dropped.malformed"] == 0

    # -- tunnelling ----------------------------------------------------------------------------
    data = [IPv6Packet(CN, IPv6Address(RCOA_BASE + i % n), UDP(4000, 5000, b"x" * 64)).encode()
            for i in range(n)]

    def data_decode() -> None:
        for raw in data:
            decode(raw)

    def tunnel() -> None:
        receive, drain = m.receive, m.datagrams_to_send
        for raw in data:
            receive(2.0, "up", raw)
        drain(2.0)

    data_base = rate(n, data_decode)
    before = m.counters["tunnelled"]
    tunnelled = rate(n, tunnel)
    assert m.counters["tunnelled"] - before == n

    # -- memory ----------------------------------------------------------------------------------
    entries = args.entries
    keys = [IPv6Address(RCOA_BASE + i) for i in range(entries)]
    lcoa = IPv6Address(LCOA_BASE)
    tracemalloc.start()
    snap0 = tracemalloc.take_snapshot()
    cache = BindingCache()
    for i, k in enumerate(keys):
        cache.update(0.0, k, lcoa, 400, i & 0xFFFF, 0x8800, f"mn-{i}")
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    per_entry = sum(s.size_diff for s in snap1.compare_to(snap0, "filename")) / entries
    del keys

    print(f"decode-only baseline (local BU octets) {base:12,.0f} /s")
    print(f"MAP local BUs, new bindings            {bu_new:12,.0f} /s  "
          f"({bu_new / base:.2f} x decode)   target >= 50,000")
    print(f"MAP local BUs, refreshes               {bu_refresh:12,.0f} /s  "
          f"({bu_refresh / base:.2f} x decode)   target >= 50,000")
    print(f"decode-only baseline (data octets)     {data_base:12,.0f} /s")
    print(f"MAP tunnelled packets (fast path)      {tunnelled:12,.0f} /s  "
          f"({tunnelled / data_base:.2f} x decode)   target >= 200,000")
    print(f"binding cache at {entries:,} entries     {per_entry:12,.0f} bytes/entry"
          "   target <= 400 (peer id and packed keys included)")


if __name__ == "__main__":
    main()
