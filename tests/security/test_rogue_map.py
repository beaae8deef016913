"""Issue 9, item 1: a rogue MAP advertised in Router Advertisements (RFC 4140 §12, RFC 6275
§15). Every test drives real packets through the real engines in the simulator: an attacker
station on access router ar1's cell sends scapy-built RAs advertising its own MAP with the best
Dist and Pref, and forges the unprotected BA that would complete the hijack."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest

from hmipv6.core.access_router import AccessRouter
from hmipv6.core.events import BindingUpdateSent, MapSelected, PacketDropped
from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.security import SecurityDrop
from hmipv6.sim.scenario import RouterSpec, ScenarioError
from hmipv6.wire.addr import interface_address
from hmipv6.wire.ipv6 import DestinationOptions, HomeAddressOption, IPv6Packet, RoutingHeaderType2
from hmipv6.wire.mobility import BAFlags, BindingAcknowledgement, BindingUpdate, BUFlags
from tests.core.test_mobile_node_support import AR1_LL, AR2_LL, P1, make, mapopt, ra
from tests.security.mn_attack_support import (
    ATTACKER_LL,
    ROGUE_MAP,
    Attack,
    baseline,
    rogue_ra,
    scapy_rogue_ra,
)
from tests.sim.sim_support import variant

MAP1 = IPv6Address("2001:db8:100::1")
HOA = IPv6Address("2001:db8:f::100")


def _forged_ba(attack: Attack) -> bytes | None:
    """What an attacker who heard a clear BU to its MAP answers: an unprotected BA with the
    sequence number it saw and the Type 2 routing header the MN wants (RFC 4140 §6.1)."""
    mn = attack.mn()
    sent = [e for e in attack.events("mn", BindingUpdateSent)
            if isinstance(e, BindingUpdateSent) and e.to == ROGUE_MAP]
    lcoa = mn.lcoa()
    if lcoa is None:
        return None
    seq = sent[-1].sequence if sent else 1
    rcoa = interface_address(ROGUE_MAP, mn.config.interface_id)
    ba = BindingAcknowledgement(0, BAFlags(0), seq, 420)
    return IPv6Packet(ROGUE_MAP, lcoa, ba, (RoutingHeaderType2(rcoa),)).encode()


def _assert_not_hijacked(attack: Attack, lost_without_attacker: int) -> None:
    mn = attack.mn()
    selected = {e.map for e in attack.events("mn", MapSelected) if isinstance(e, MapSelected)}
    assert selected == {MAP1}
    assert mn.current_map == MAP1
    assert not [e for e in attack.events("mn", BindingUpdateSent)
                if isinstance(e, BindingUpdateSent) and e.to == ROGUE_MAP]
    ha = attack.net.nodes["ha"]
    entry = ha.cache.get(HOA)  # type: ignore[attr-defined]
    assert entry is not None and entry.care_of == mn.rcoa(MAP1)
    (flow,) = attack.report["flows"]
    assert flow["lost"] == lost_without_attacker


@pytest.mark.req("SEC-01", "MN-01")
def test_rogue_ra_from_an_untrusted_router_is_dropped_and_counted() -> None:
    """Default trust (the cell's own router): the rogue RA -- a prefix and a MAP option with
    Dist 1, Pref 15 -- is dropped whole, each one reported and counted."""
    lost = baseline("figure1").report["flows"][0]["lost"]
    attack = Attack("figure1")
    attack.every(2.0, 12.0, 0.1, scapy_rogue_ra)
    attack.every(2.05, 12.0, 0.5, lambda: _forged_ba(attack), to="mn")
    attack.run()
    _assert_not_hijacked(attack, lost)
    drops = attack.drops("mn", "untrusted-map-option")
    # Every RA sent while the node was in ar1's cell (2.0 s .. 7.9 s; it leaves at 8 s).
    assert len(drops) == 60 and str(ATTACKER_LL) in drops[0].detail
    assert str(ROGUE_MAP) in drops[0].detail
    counters = attack.report["nodes"]["mn"]["counters"]
    assert counters["dropped.untrusted-map-option"] == 60
    assert counters["untrusted_map_options"] == 60


@pytest.mark.req("SEC-01")
def test_map_without_an_sa_is_never_used_even_from_a_trusted_router() -> None:
    """With RA trust off (``trusted_routers = "any"``, a link without SEND), the MAP option
    reaches the MAP store, but no SA protects a BU to that MAP: the node keeps map1, sends
    the rogue MAP nothing, and drops the forged clear BA (SPD default: protect)."""
    lost = baseline("figure1").report["flows"][0]["lost"]
    sc = variant("figure1", ('router = "ar1"\n', 'router = "ar1"\ntrusted_routers = "any"\n'))
    attack = Attack(sc)
    attack.every(2.0, 12.0, 0.1, lambda: rogue_ra(pref=15, dist=2))
    attack.every(2.05, 8.0, 0.5, lambda: _forged_ba(attack), to="mn")
    attack.run()
    _assert_not_hijacked(attack, lost)
    (unusable,) = attack.drops("mn", "map-without-sa")
    assert str(ROGUE_MAP) in unusable.detail
    # Every forged BA is refused before any BA logic: its Type 2 routing header names an
    # RCoA under the rogue MAP, none of the node's addresses (RFC 6275 §9.3.2), and even with
    # a right one it is unprotected where the SPD says protect.
    refused = [d for d in attack.events("mn", PacketDropped)
               if isinstance(d, PacketDropped) and d.reason in ("unprotected", "rh2-not-ours")]
    assert len(refused) == 12
    assert attack.report["nodes"]["mn"]["counters"]["maps_without_sa"] == 1


@pytest.mark.req("SEC-01")
def test_spd_default_for_mobility_signalling_is_protect() -> None:
    """The mobile node's SPD as provisioned: a BU to a MAP it has no SA with is refused
    (``no-sa``) instead of bypassing IPsec, and a clear BA for an RCoA there is dropped
    (``unprotected``); signalling with its MAP and correspondents is unchanged."""
    prov = Provisioner(3)
    mn, map_, ha = IPsec(name="mn"), IPsec(name="map1"), IPsec(name="ha")
    prov.mn_map(mn, "mn", map_, "map1", MAP1, IPv6Network("2001:db8:100::/64"))
    prov.mn_ha(mn, "mn", ha, "ha", HOA, IPv6Address("2001:db8:f::1"))
    prov.mn_defaults(mn, HOA)
    lcoa = IPv6Address("2001:db8:a1::99")
    rogue_rcoa = interface_address(ROGUE_MAP, 0x99)
    bu = IPv6Packet(lcoa, ROGUE_MAP, BindingUpdate(1, BUFlags.A | BUFlags.M, 100),
                    (DestinationOptions((HomeAddressOption(rogue_rcoa),)),))
    assert not mn.can_protect(rogue_rcoa, ROGUE_MAP, 135, 5)
    with pytest.raises(SecurityDrop) as refused:
        mn.protect(0.0, bu)
    assert refused.value.reason == "no-sa"
    ba = IPv6Packet(ROGUE_MAP, lcoa, BindingAcknowledgement(0, BAFlags(0), 1, 100),
                    (RoutingHeaderType2(rogue_rcoa),))
    with pytest.raises(SecurityDrop) as dropped:
        mn.unprotect(0.0, ba)
    assert dropped.value.reason == "unprotected"
    rcoa = interface_address(MAP1, 0x99)
    assert mn.can_protect(rcoa, MAP1, 135, 5)
    cn = IPv6Address("2001:db8:c::1")
    assert mn.can_protect(HOA, cn, 135, 5)  # correspondent BUs: return routability
    assert mn.counters["no-sa"] == 1 and mn.counters["unprotected"] == 1


@pytest.mark.req("AR-06")
def test_discovery_ra_from_an_untrusted_upstream_neighbour_is_not_relayed() -> None:
    """Dynamic discovery (RFC 4140 §7.1.1): a rogue RA on r1's upstream link carrying the
    attacker's MAP option is dropped by r1 (only map-top, its upstream neighbour, is trusted
    by default); the MAP never reaches the access routers or the mobile nodes."""
    attack = Attack("dynamic-discovery")
    r1 = attack.net.nodes["r1"]

    def inject() -> None:
        r1.receive(attack.net.sched.now, "eth0", rogue_ra(pref=15, dist=1))
        attack.net.service("r1")

    for i in range(20):
        attack.net.sched.schedule(0.5 + i * 0.5, inject)
    attack.run()
    report_counters = attack.report["nodes"]["r1"]["counters"]
    assert report_counters["dropped.untrusted-map-option"] == 20
    for name in ("ar1", "ar2"):
        ar = attack.net.nodes[name]
        assert isinstance(ar, AccessRouter)
        advertised = {o.address for o in ar.advertised_maps(20.0, "wlan0")}
        assert ROGUE_MAP not in advertised and advertised
    edge = attack.net.nodes["map-edge"]
    assert isinstance(edge, MobilityAnchorPoint)
    assert all(ROGUE_MAP not in {o.address for o in edge.relay.relayed(20.0, i)}
               for i in edge.interfaces)
    for mn in ("mn-far", "mn-near"):
        heard = {e.map for e in attack.events(mn, MapSelected) if isinstance(e, MapSelected)}
        assert ROGUE_MAP not in heard and heard


def test_trust_keys_are_validated() -> None:
    with pytest.raises(ScenarioError, match=r"cells\[0\]\.trusted_routers\[0\]"):
        variant("figure1", ('router = "ar1"\n', 'router = "ar1"\ntrusted_routers = ["map1"]\n'))
    with pytest.raises(ScenarioError, match=r"nodes\.r1\.trusted_upstream: expected a list"):
        variant("dynamic-discovery", ("[nodes.r1]\n", '[nodes.r1]\ntrusted_upstream = 3\n'))
    with pytest.raises(ScenarioError, match=r"trusted_upstream\[0\]: 'inet' is not linked"):
        variant("dynamic-discovery", ("[nodes.r1]\n", '[nodes.r1]\ntrusted_upstream = ["inet"]\n'))
    sc = variant("dynamic-discovery", ("[nodes.r1]\n", '[nodes.r1]\ntrusted_upstream = "any"\n'),
                 ('router = "ar1"\n', 'router = "ar1"\ntrusted_routers = ["ar1", "ar2"]\n'))
    r1 = sc.nodes["r1"]
    assert isinstance(r1, RouterSpec) and r1.trusted_upstream == "any"
    assert sc.cells[0].trusted_routers == ("ar1", "ar2") and sc.cells[1].trusted_routers == ("ar2",)


@pytest.mark.req("SEC-01")
def test_no_path_sends_mobility_signalling_in_clear_to_a_map_without_an_sa() -> None:
    """Whatever asks for it -- here an application handing the node a BU for the rogue MAP,
    from its RCoA through the MAP tunnel -- a BU the policy cannot protect is dropped and
    counted (``no-sa``), never sent in clear, and nothing escapes the engine."""
    attack = Attack("figure1")
    net = attack.net
    mn = attack.mn()
    results: list[bool] = []

    def app() -> None:
        bu = BindingUpdate(7, BUFlags.A | BUFlags.M, 100)
        results.append(mn.send(net.sched.now, ROGUE_MAP, bu, use_rcoa=True))
        net.service("mn")

    net.sched.schedule(3.0, app)
    attack.run()
    assert results == [False]
    (refused,) = attack.drops("mn", "no-sa")
    assert str(ROGUE_MAP) in refused.detail
    assert attack.report["flows"][0]["lost"] == 7


@pytest.mark.req("SEC-01", "X5380-05")
def test_rfc5380_rogue_map_without_ikev2_credentials_is_not_used() -> None:
    """Under the RFC 5380 profile the MAP allocates the RCoA over IKEv2 (R flag): a MAP the
    node has no IKEv2 credentials for (no PSK) cannot authenticate itself, so no exchange is
    started with it and it is never selected; the node stays with map1."""
    lost = baseline("figure1", overrides=("scenario.profile=rfc5380",)).report["flows"][0]["lost"]
    attack = Attack("figure1", overrides=("scenario.profile=rfc5380",
                                          'cells[0].trusted_routers="any"'))
    attack.every(2.0, 8.0, 0.1, lambda: rogue_ra(pref=15, dist=2))
    attack.run()
    _assert_not_hijacked(attack, lost)
    counters = attack.report["nodes"]["mn"]["counters"]
    assert counters["ike_started"] == 1  # with map1 only
    assert counters["maps_without_sa"] == 1


@pytest.mark.req("MN-01")
def test_mobile_node_engine_acts_only_on_trusted_routers() -> None:
    """The engine alone (``MobileNodeConfig.trusted_routers``): an RA from the trusted router
    configures an LCoA and a MAP; the same RA from another link-local source changes nothing
    and is reported, MAP options counted; ``None`` trusts every router (the default)."""
    h = make(trusted_routers=frozenset({AR1_LL}))
    h.attach()
    h.feed(ra(P1, [mapopt(MAP1), mapopt(ROGUE_MAP, pref=15)], src=AR2_LL))
    assert h.mn.lcoa() is None and h.mn.current_map is None
    (drop,) = [e for e in h.events if isinstance(e, PacketDropped)]
    assert drop.reason == "untrusted-map-option" and str(AR2_LL) in drop.detail
    assert h.mn.counters["untrusted_map_options"] == 2
    h.feed(ra(P1, [], src=AR2_LL))
    assert h.mn.counters["dropped.untrusted-ra"] == 1
    h.feed(ra(P1, [mapopt(MAP1)], src=AR1_LL))
    assert h.mn.lcoa() is not None and h.mn.current_map == MAP1
    anyone = make()
    anyone.attach()
    anyone.feed(ra(P1, [mapopt(MAP1)], src=AR2_LL))
    assert anyone.mn.current_map == MAP1
