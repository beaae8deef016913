"""The analytic model holds exactly in loss-free runs with negligible serialisation
(1000 Gbps everywhere): registration times are round trips over the configured link delays,
and a handover's latency splits into L2 gap + movement detection + DAD + registration."""

from __future__ import annotations

from typing import Any

import pytest

from hmipv6.core.events import BindingAcknowledged
from hmipv6.sim.network import run
from tests.sim.sim_support import variant

MS = 1e-3
# figure1 one-way delays: cell 1 ms, map1-ar 2 ms, inet-map1 10 ms, ha-inet 10 ms.
RTT_MN_MAP = 2 * (1 + 2) * MS
RTT_MN_HA = 2 * (1 + 2 + 10 + 10) * MS


def _fast(name: str = "figure1", *extra: tuple[str, str]) -> Any:
    reps = [('bandwidth = "100Mbps"', 'bandwidth = "1000Gbps"'),
            ('bandwidth = "11Mbps"', 'bandwidth = "1000Gbps"'), *extra]
    return variant(name, *reps)


@pytest.mark.req("MN-12")
def test_intra_domain_registration_is_rtt_mn_map() -> None:
    h = run(_fast()).report["handovers"][1]
    assert h["kind"] == "intra-domain"
    assert h["registration"] == pytest.approx(RTT_MN_MAP, abs=1 * MS)


@pytest.mark.req("MN-02")
def test_mipv6_home_registration_is_rtt_mn_ha() -> None:
    h = run(_fast(), protocol="mipv6").report["handovers"][1]
    assert h["kind"] == "mipv6"
    assert h["registration"] == pytest.approx(RTT_MN_HA, abs=1 * MS)


@pytest.mark.req("MN-09", "MN-13")
def test_map_change_home_bu_after_map_ba() -> None:
    # two-domains: each MAP is 10 ms from inet and 2 ms from its ARs; the HA 20 ms from inet.
    rtt_mn_ha = 2 * (1 + 2 + 10 + 20) * MS
    rep = run(_fast("two-domains")).report
    h = next(x for x in rep["handovers"] if x["kind"] == "inter-domain")
    t = h["timeline"]
    assert t["ba_received"] - t["bu_sent"] == pytest.approx(RTT_MN_MAP, abs=1 * MS)
    # The home BU leaves at the MAP's BA and travels MN -> MAP2 -> HA and back.
    assert t["home_ba_received"] - t["ba_received"] == pytest.approx(rtt_mn_ha, abs=1 * MS)
    assert h["registration"] == pytest.approx(RTT_MN_MAP + rtt_mn_ha, abs=1 * MS)


@pytest.mark.req("MN-25", "MN-12")
@pytest.mark.parametrize("dad", ["optimistic", "standard"])
def test_handover_latency_decomposes(dad: str) -> None:
    rep = run(_fast("figure1", ('dad = "optimistic"', f'dad = "{dad}"'))).report
    h = rep["handovers"][1]
    t = h["timeline"]
    l2_gap = t["l2_up"] - t["l2_down"]
    detection = t["ra_received"] - t["l2_up"]
    dad_time = t["coa_ready"] - t["ra_received"]
    assert l2_gap == pytest.approx(0.05, abs=1e-9)
    assert 0 <= detection <= 0.07 + 2 * MS  # the next RA (MaxRtrAdvInterval) or the RS answer
    assert dad_time == pytest.approx(0.0 if dad == "optimistic" else 1.0, abs=1 * MS)
    assert t["bu_sent"] == pytest.approx(t["coa_ready"], abs=1e-9)
    assert h["registration"] == pytest.approx(RTT_MN_MAP, abs=1 * MS)
    # First data: the next CBR probe the MAP tunnels after its binding changed.
    rest = t["first_data"] - t["ba_received"]
    assert 0 <= rest <= 0.010 + 40 * MS
    assert h["latency"] == pytest.approx(l2_gap + detection + dad_time + h["registration"]
                                         + rest, abs=1e-6)


@pytest.mark.req("MN-11", "CN-01")
def test_route_optimisation_cn_updated_after_return_routability() -> None:
    r = run("route-optimisation", protocol="mipv6", keep_events=True)
    net = r.network
    assert net is not None and net.event_log is not None
    cn_updates = [e for n, e in net.event_log
                  if n == "cn" and type(e).__name__ == "BindingCacheUpdated"]
    home_bas = [e for n, e in net.event_log
                if n == "mn" and isinstance(e, BindingAcknowledged) and e.kind == "home"]
    assert cn_updates and home_bas
    # The correspondent is bound only after return routability, after the home registration.
    assert cn_updates[0].time > home_bas[0].time
