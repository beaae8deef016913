"""The simulator's speed work changes no output (issue 12, "Simulator throughput").

A reduced ``many-mobiles`` (60 mobile nodes for 20 s, a flow to every other one) under each
protocol, under AH and under the RFC 5380 profile: the SHA-256 of the report (canonical JSON)
followed by every pcap (by name) must equal the digest the code produced *before* the
throughput changes (commit 860a870, the last one without them). Those runs exercise what the
changes touched: cell frames reaching every station (RAs, DAD probes, solicitations and
unknown unicast flooded to stations that drop and count them), the unprotected inbound path,
drop details, timer names and the metrics' event handling.

A digest that changes means the output changed: if that is intended (a behaviour change,
not a speed-up), regenerate the values and say why in the commit.
"""

from __future__ import annotations

import hashlib

import pytest

from hmipv6.sim.network import run
from hmipv6.sim.report import dumps

REDUCED = ("generate.mobile_nodes.count=60", "scenario.duration=20s",
           "generate.mobile_nodes.flow.stop=19s", "generate.mobile_nodes.flow.every=2")

BEFORE = {
    ("mipv6", ""): "85c606cbbab80280456b49e2b974032225d8cb7fc2ccd927a8455cb446d0fb09",
    ("hmipv6", ""): "b05ca7afb7613a2f696cee9638e77a6d77f61de761b3adcabb6fbef5e712a9db",
    ("fhmipv6", ""): "abf6582142d5c87feb8537f5c5dca2578ed4293df35174ff1297dc082d1424dc",
    ("hmipv6", "defaults.security=ah"):
        "6a97399cc2f600502e679ee5445316f9e22b0e5468bd689fde8546b2f6d89dfb",
    ("hmipv6", "scenario.profile=rfc5380"):
        "5e1bcbe2fe4a10ef1e3f52ef3d905dc53cd9331344a6d37e82e4071db4f92964",
}
"""Digests computed with the code of commit 860a870 (before the throughput changes)."""


@pytest.mark.parametrize(("protocol", "setting"), sorted(BEFORE))
def test_reduced_many_mobiles_report_and_pcaps_are_those_of_the_code_before(
        protocol: str, setting: str) -> None:
    r = run("many-mobiles", protocol=protocol, capture=True,
            overrides=REDUCED + ((setting,) if setting else ()))
    # Sanity: the run does what the digest is meant to cover.
    assert r.report["handovers"] and r.counters["packets"] > 30_000
    mn_counters = [n["counters"] for n in r.report["nodes"].values()
                   if n["role"] == "mobile-node"]
    assert sum(c.get("ns_ignored", 0) for c in mn_counters) > 0
    assert sum(c.get("dropped.not-for-us", 0) for c in mn_counters) > 0
    h = hashlib.sha256(dumps(r.report).encode())
    for name in sorted(r.pcaps):
        h.update(name.encode())
        h.update(r.pcaps[name])
    assert h.hexdigest() == BEFORE[(protocol, setting)]
