"""The simulator's speed work changes no output (issue 12, "Simulator throughput").

A reduced ``many-mobiles`` (60 mobile nodes for 20 s, a flow to every other one) under each
protocol, under AH and under the RFC 5380 profile: the SHA-256 of the report (canonical JSON)
followed by every pcap (by name) must equal the digest the code produced *before* the
throughput changes (commit a714ac8, main with every other change of the session merged and
without them; each speed-up was also checked against 860a870 before the merge). Those runs exercise what the
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
    ("mipv6", ""): "ea3791b3d578fd4eef705762a51998ee1c4b0f42cc72731cd0dd83237e31533b",
    ("hmipv6", ""): "eaf133a83e84ee2c85426a91e761b97cf3c169a98d777e6b038525d68618ecbd",
    ("fhmipv6", ""): "520c741eca206b6075b39774cece947a9fe96b6c0143ab4e4a72321ced0d4bc2",
    ("hmipv6", "defaults.security=ah"):
        "629d6059f1f0ac36cf082d899f407340687a6e7b48d8ead26c91e37252e2fd1c",
    ("hmipv6", "scenario.profile=rfc5380"):
        "6c82101e8f517044845a29ac4ce7a0926db9942b3a9e4cd9dc90aa4d48aa28e1",
}
"""Digests computed with the code of commit a714ac8 (before the throughput changes)."""


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


def test_run_leaves_the_cyclic_collector_as_it_found_it() -> None:
    """``run`` pauses the collector while building and freezes the built network while it
    runs (sim.network._collector_paused, _long_lived_frozen): afterwards the collector is
    enabled or not as before and nothing stays frozen, also when the run fails."""
    import gc

    small = ("generate.mobile_nodes.count=2", "scenario.duration=3s",
             "generate.mobile_nodes.flow.stop=2s")
    assert gc.get_freeze_count() == 0
    run("many-mobiles", overrides=small)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        run("many-mobiles", overrides=small)
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()

    def fail(now: float, duration: float) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        run("many-mobiles", overrides=small, progress=fail)
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_the_report_is_built_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's many new records would trigger collections traversing the whole run's
    objects: ``run`` builds it with the collector paused (and resumes it after)."""
    import gc

    import hmipv6.sim.report as report_module

    seen: list[bool] = []
    real = report_module.build_report

    def spy(net: object) -> dict[str, object]:
        seen.append(gc.isenabled())
        return real(net)  # type: ignore[arg-type]

    monkeypatch.setattr(report_module, "build_report", spy)
    run("many-mobiles", overrides=("generate.mobile_nodes.count=2", "scenario.duration=3s",
                                   "generate.mobile_nodes.flow.stop=2s"))
    assert seen == [False]
    assert gc.isenabled()
