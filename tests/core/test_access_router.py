"""The access router: RAs with MAP options, RS answers, dynamic MAP discovery, MAP failure
detection (RFC 4140 §7, §10; RFC 6275 §7; RFC 4861 §6.2). Packets in and out are real bytes."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.core.access_router import AccessRouter, AccessRouterConfig, MapConfig, RaConfig
from hmipv6.core.events import Event, MapFailed, MapRecovered, PacketDropped
from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.core.ipsec.spd import Policy
from hmipv6.core.map_probe import ProbeConfig
from hmipv6.errors import LocalProtocolError
from hmipv6.wire import AuthenticationHeader, IPv6Packet, decode
from hmipv6.wire.addr import ALL_NODES, ALL_ROUTERS, UNSPECIFIED
from hmipv6.wire.icmpv6 import (
    MTU,
    AdvertisementInterval,
    EchoReply,
    EchoRequest,
    MapOption,
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    options_of,
)

MAP_A = IPv6Address("2001:db8:a0::1")
MAP_B = IPv6Address("2001:db8:b0::1")
MAP_C = IPv6Address("2001:db8:c0::1")
ACC = IPv6Network("2001:db8:1::/64")
UP_ADDR = IPv6Address("2001:db8:ff::2")
MN_LL = IPv6Address("fe80::a:b:c:d")
FAST = {"min_interval": 0.03, "max_interval": 0.07}

Sent = list[tuple[float, str, IPv6Packet]]


def ar(*, maps: tuple[MapConfig, ...] = (MapConfig(address=MAP_A),), seed: int = 1,
       ra: RaConfig | None = None, **cfg: object) -> AccessRouter:
    """An AR with access interface ``acc`` and upstream ``up`` (default route)."""
    r = AccessRouter("ar", rng=random.Random(seed), config=AccessRouterConfig(
        interfaces={"acc": ra or RaConfig(prefix=ACC, **FAST)}, maps=maps,  # type: ignore[arg-type]
        **cfg))  # type: ignore[arg-type]
    r.add_interface("up", (UP_ADDR,))
    r.add_route("::/0", "up", IPv6Address("2001:db8:ff::1"))
    return r


def drain(node: AccessRouter, now: float) -> Sent:
    return [(now, t.ifname, decode(t.data)) for t in node.datagrams_to_send(now)]


def run(node: AccessRouter, until: float) -> Sent:
    """Scripted clock: fire every deadline up to ``until``, collecting output."""
    out: Sent = []
    while (t := node.next_timer()) is not None and t <= until:
        node.handle_timer(t)
        out += drain(node, t)
    return out


def events(node: AccessRouter) -> list[Event]:
    out = []
    while (e := node.next_event()) is not None:
        out.append(e)
    return out


def ras(out: Sent, ifname: str = "acc") -> list[tuple[float, IPv6Packet, RouterAdvertisement]]:
    return [(t, p, p.payload) for t, i, p in out
            if i == ifname and isinstance(p.payload, RouterAdvertisement)]


def maps_of(ra: RouterAdvertisement) -> dict[IPv6Address, MapOption]:
    return {o.address: o for o in options_of(ra.options, MapOption)}


def rs(src: IPv6Address = MN_LL) -> bytes:
    opts = () if src == UNSPECIFIED else (SourceLinkLayerAddress(b"\x02\0\0\0\0\x09"),)
    return IPv6Packet(src, ALL_ROUTERS, RouterSolicitation(opts), hop_limit=255).encode()


# -- AR-01, AR-09: what the RA says ---------------------------------------------------------


@pytest.mark.req("AR-01", "AR-09")
def test_AR01_AR09_ra_carries_prefix_advinterval_mtu_and_configured_map_options() -> None:
    maps = (MapConfig(address=MAP_A, pref=10, valid_lifetime=900),
            MapConfig(address=MAP_B, dist=2, pref=7, r=False, valid_lifetime=600))
    node = ar(maps=maps, ra=RaConfig(prefix=ACC, mtu=1400, **FAST))
    node.start(0.0)
    [(_, p, ra)] = ras(run(node, 0.0))
    assert p.src == node.interfaces["acc"].link_local and p.dst == ALL_NODES
    assert p.hop_limit == 255 and ra.cur_hop_limit == 64 and ra.router_lifetime == 1
    assert options_of(ra.options, SourceLinkLayerAddress) == (
        SourceLinkLayerAddress(node.interfaces["acc"].lladdr),)
    assert options_of(ra.options, MTU) == (MTU(1400),)
    [pio] = options_of(ra.options, PrefixInformation)
    # RFC 6275 §7.2: R set, prefix field = the router's full address.
    assert (pio.prefix_length, pio.on_link, pio.autonomous, pio.router_address) == (64, True, True, True)
    assert pio.prefix == IPv6Address("2001:db8:1::1") and node.is_local(pio.prefix)
    # RFC 6275 §7.3/§7.5: MaxRtrAdvInterval in ms, +20 ms below 200 ms.
    assert options_of(ra.options, AdvertisementInterval) == (AdvertisementInterval(90),)
    assert options_of(ra.options, MapOption) == (MapOption(1, 10, True, 900, MAP_A),
                                                 MapOption(2, 7, False, 600, MAP_B))


@pytest.mark.req("AR-09")
def test_AR09_unsolicited_ras_at_random_intervals_between_min_and_max() -> None:
    node = ar()
    node.start(0.0)
    times = [t for t, _, _ in ras(run(node, 5.0))]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) > 60
    assert all(0.03 <= g <= 0.07 for g in gaps)
    assert len({round(g, 6) for g in gaps}) > 10  # not periodic (RFC 4861 §6.2.4)
    # Deterministic for a given rng seed.
    other = ar()
    other.start(0.0)
    assert [t for t, _, _ in ras(run(other, 5.0))] == times


@pytest.mark.req("AR-09")
def test_AR09_rs_answered_immediately_with_zero_delay_by_multicast() -> None:
    node = ar(ra=RaConfig(prefix=ACC, min_interval=100.0, max_interval=200.0), max_ra_delay_time=0.0,
              probe=None)
    node.start(0.0)
    run(node, 0.0)
    # Within MIN_DELAY_BETWEEN_RAS (3 s: MinRtrAdvInterval is not below 3 s) of the last
    # multicast RA, the answer waits until 3 s after it.
    node.receive(1.0, "acc", rs())
    assert node.next_timer() == pytest.approx(3.0)
    [(t, p, _)] = ras(run(node, 3.0))
    assert t == pytest.approx(3.0) and p.dst == ALL_NODES
    run(node, 49.0)  # the initial RAs (at most 16 s apart, RFC 4861 §6.2.4)
    node.receive(50.0, "acc", rs())
    [(t, p, _)] = ras(run(node, 50.0))
    assert t == 50.0 and p.dst == ALL_NODES
    assert node.counters["rs-received"] == 2


@pytest.mark.req("AR-09")
def test_AR09_rs_answer_delay_random_within_max_ra_delay_time() -> None:
    # MinDelayBetweenRAs made tiny so that only the random delay is measured.
    node = ar(ra=RaConfig(prefix=ACC, min_interval=100.0, max_interval=200.0), probe=None,
              min_delay_between_ras=1e-6)
    node.start(0.0)
    run(node, 0.0)
    delays = []
    for k in range(20):
        now = 1000.0 * (k + 1)
        run(node, now)
        node.receive(now, "acc", rs())
        [(t, _, _)] = ras(run(node, now + 0.5))
        delays.append(t - now)
    assert all(0.0 <= d <= 0.5 for d in delays) and len(set(delays)) > 10


@pytest.mark.req("AR-09")
def test_AR09_rs_unicast_answer_and_fast_min_delay_between_ras() -> None:
    node = ar(max_ra_delay_time=0.0, solicited_ra_unicast=True, probe=None)
    node.start(0.0)
    run(node, 0.0)
    node.receive(0.001, "acc", rs())
    out = run(node, 0.001)
    [(t, p, _)] = ras(out)
    assert p.dst == MN_LL and t == 0.001
    # From :: the answer must be multicast; MinDelayBetweenRAs = MinRtrAdvInterval = 30 ms
    # (RFC 6275 §13), so it goes out 30 ms after the previous multicast RA.
    node.receive(0.002, "acc", rs(UNSPECIFIED))
    [(t, p, _)] = ras(run(node, 0.03))
    assert p.dst == ALL_NODES and t == pytest.approx(0.03)


def test_rs_validation() -> None:
    node = ar(max_ra_delay_time=0.0, probe=None)
    node.start(0.0)
    run(node, 0.0)
    bad = IPv6Packet(MN_LL, ALL_ROUTERS, RouterSolicitation(), hop_limit=64).encode()
    node.receive(0.001, "acc", bad)
    with_slla = IPv6Packet(UNSPECIFIED, ALL_ROUTERS, RouterSolicitation(
        (SourceLinkLayerAddress(b"\x02\0\0\0\0\x09"),)), hop_limit=255).encode()
    node.receive(0.001, "acc", with_slla)
    assert node.counters["dropped.rs-invalid"] == 2
    node.receive(0.001, "up", rs())  # not an advertising interface
    assert node.counters["ignored.rs"] == 1


@pytest.mark.req("AR-01", "MAP-09")
def test_AR01_preference_change_shows_in_next_ra() -> None:
    node = ar()
    node.start(0.0)
    run(node, 0.0)
    node.set_map_preference(0.01, MAP_A, 0)
    [(_, _, ra)] = ras(run(node, 0.04))[:1]
    assert maps_of(ra)[MAP_A].pref == 0
    with pytest.raises(LocalProtocolError):
        node.set_map_preference(0.05, MAP_C, 3)


@pytest.mark.req("AR-05")
def test_AR05_configured_dist_zero_refused() -> None:
    with pytest.raises(LocalProtocolError):
        MapConfig(address=MAP_A, dist=0)
    node = ar()
    node.start(0.0)
    assert all(o.dist >= 1 for _, _, ra in ras(run(node, 1.0)) for o in maps_of(ra).values())


# -- AR-02..AR-05: dynamic MAP discovery through a chain of routers ---------------------------


def relay_router(name: str, prefix: str, *, own: tuple[MapConfig, ...] = (),
                 relay_from: tuple[str, ...] = ("up",), **cfg: object) -> AccessRouter:
    r = AccessRouter(name, rng=random.Random(name), config=AccessRouterConfig(
        interfaces={"down": RaConfig(prefix=IPv6Network(prefix), **FAST)}, own_maps=own,
        relay_from=relay_from, probe=None, max_ra_delay_time=0.0, **cfg))  # type: ignore[arg-type]
    for i in relay_from:
        r.add_interface(i)
    return r


def last_ra_bytes(node: AccessRouter, now: float) -> bytes:
    node.start(now) if not node.started else None
    outs = [t for t in node.datagrams_to_send(now)]
    node.handle_timer(now)
    outs += node.datagrams_to_send(now)
    ra_bytes = [t.data for t in outs if t.ifname == "down"]
    assert ra_bytes
    return ra_bytes[-1]


@pytest.mark.req("AR-02", "AR-03", "AR-04", "AR-05")
def test_AR02_AR03_AR04_chain_of_three_routers() -> None:
    """MAP A (router 1) → router 2, itself MAP B → router 3 (an AR): Dist grows by one per
    hop, router 2 sends its own option together with the relayed one in the same RA, and the
    AR keeps the smallest Dist when the same MAP reaches it on two interfaces."""
    r1 = relay_router("r1", "2001:db8:12::/64", own=(MapConfig(address=MAP_A),), relay_from=())
    r2 = relay_router("r2", "2001:db8:23::/64", own=(MapConfig(address=MAP_B, pref=5),))
    r3 = relay_router("r3", "2001:db8:1::/64", relay_from=("up", "side"))

    ra1 = last_ra_bytes(r1, 0.0)
    assert [(o.address, o.dist) for o in maps_of(decode(ra1).payload).values()] == [(MAP_A, 1)]

    r2.start(0.0)
    run(r2, 0.0)
    r2.receive(0.01, "up", ra1)
    ra2 = last_ra_bytes(r2, r2.next_timer() or 0.01)
    m2 = maps_of(decode(ra2).payload)
    # AR-03: own option (Dist 1) and the relayed one (Dist 1 + 1) in the same RA.
    assert (m2[MAP_B].dist, m2[MAP_B].pref) == (1, 5)
    assert (m2[MAP_A].dist, m2[MAP_A].pref, m2[MAP_A].valid_lifetime) == (2, 10, 3600)

    r3.start(0.0)
    run(r3, 0.0)
    r3.receive(0.02, "up", ra2)
    ra3 = last_ra_bytes(r3, r3.next_timer() or 0.02)
    m3 = maps_of(decode(ra3).payload)
    assert {a: o.dist for a, o in m3.items()} == {MAP_A: 3, MAP_B: 2}

    # AR-04: MAP A also heard on "side", farther (Dist 4): the nearer copy is kept ...
    far = replace(decode(ra1), payload=RouterAdvertisement(
        cur_hop_limit=64, options=(MapOption(4, 10, True, 3600, MAP_A),)))
    r3.receive(0.03, "side", far.encode())
    ra3 = last_ra_bytes(r3, 0.2)
    assert maps_of(decode(ra3).payload)[MAP_A].dist == 3
    # ... and a nearer copy on "side" (Dist 1, as straight from MAP A) replaces it.
    near = replace(far, payload=RouterAdvertisement(
        cur_hop_limit=64, options=(MapOption(1, 10, True, 3600, MAP_A),)))
    r3.receive(0.21, "side", near.encode())
    ra3 = last_ra_bytes(r3, 0.4)
    assert maps_of(decode(ra3).payload)[MAP_A].dist == 2
    # AR-05: never a Dist 0 anywhere along the chain.
    for raw in (ra1, ra2, ra3):
        assert all(o.dist >= 1 for o in maps_of(decode(raw).payload).values())


@pytest.mark.req("AR-02", "AR-03", "MAP-09")
def test_AR02_AR03_with_the_map_engine() -> None:
    """The MAP engine's own RAs (core.map) are relayed with Dist + 1; a MAP engine attached
    to an AR as its own MAP rides in the same RA, and its run-time Pref shows at once."""
    from hmipv6.core.map import MobilityAnchorPoint

    map_a = MobilityAnchorPoint("map-a", address=MAP_A, ifname="down", advertise_on=("down",))
    map_a.handle_timer(0.0)
    [ra_from_map] = [t.data for t in map_a.datagrams_to_send(0.0) if t.ifname == "down"]

    map_b = MobilityAnchorPoint("map-b", address=MAP_B)
    r = relay_router("r", "2001:db8:23::/64")
    r.add_own_map_source(map_b.map_option)
    r.start(0.0)
    run(r, 0.0)
    r.receive(0.001, "up", ra_from_map)
    m = maps_of(ras(run(r, 0.1), "down")[-1][2])
    assert (m[MAP_A].dist, m[MAP_B].dist, m[MAP_B].pref) == (2, 1, 10)
    map_b.set_preference(0.1, 0)
    m = maps_of(ras(run(r, 0.2), "down")[-1][2])
    assert m[MAP_B].pref == 0


@pytest.mark.req("AR-02")
def test_AR02_relayed_option_expires_when_no_longer_heard() -> None:
    r1 = relay_router("r1", "2001:db8:12::/64", own=(MapConfig(address=MAP_A),), relay_from=())
    r2 = relay_router("r2", "2001:db8:23::/64")
    ra1 = last_ra_bytes(r1, 0.0)
    r2.start(0.0)
    run(r2, 0.0)
    r2.receive(0.001, "up", ra1)
    out = run(r2, 0.2)
    assert MAP_A in maps_of(ras(out, "down")[-1][2])
    # r1's RA said MaxRtrAdvInterval 70 ms (+20): gone after 3 × 90 ms unheard.
    out = run(r2, 1.0)
    assert MAP_A not in maps_of(ras(out, "down")[-1][2])


@pytest.mark.req("AR-06")
def test_AR06_only_ipsec_authenticated_router_ras_relayed_when_required() -> None:
    """r1 → r2 RAs protected with AH (real IPsec engine, seed-derived SAs); a rogue router's
    unprotected RA and a replayed protected one are dropped and counted."""
    prov = Provisioner(7, "ah-hmac-sha256")
    s1, s2 = IPsec(name="r1"), IPsec(name="r2")
    r1 = AccessRouter("r1", rng=random.Random(1), security=s1, config=AccessRouterConfig(
        interfaces={"down": RaConfig(prefix=IPv6Network("2001:db8:12::/64"), **FAST)},
        own_maps=(MapConfig(address=MAP_A),), probe=None))
    r2 = AccessRouter("r2", rng=random.Random(2), security=s2, config=AccessRouterConfig(
        interfaces={"down": RaConfig(prefix=IPv6Network("2001:db8:23::/64"), **FAST)},
        relay_from=("up",), require_authenticated_router_ras=True, probe=None))
    r2.add_interface("up")
    ll1 = r1.interfaces["down"].link_local
    prov.pair(s1, "r1", ll1, s2, "r2", ALL_NODES)
    s1.add_policy(Policy.make(local=ll1, remote=ALL_NODES, protocol=58, types=[134], ipsec="ah"))
    s2.add_policy(Policy.make(local=ALL_NODES, remote=ll1, protocol=58, types=[134], ipsec="ah"))
    s2.authorise("r1", [ll1])
    r2.start(0.0)
    run(r2, 0.0)

    rogue = IPv6Packet(IPv6Address("fe80::666"), ALL_NODES, RouterAdvertisement(
        cur_hop_limit=64, options=(MapOption(1, 15, True, 3600, MAP_C),)), hop_limit=255)
    r2.receive(0.001, "up", rogue.encode())
    assert r2.counters["dropped.ra-unauthenticated"] == 1
    assert any(isinstance(e, PacketDropped) and e.reason == "ra-unauthenticated"
               for e in events(r2))

    protected = last_ra_bytes(r1, 0.0)
    assert decode(protected).header(AuthenticationHeader) is not None
    r2.receive(0.002, "up", protected)
    m = maps_of(ras(run(r2, 0.2), "down")[-1][2])
    assert MAP_A in m and m[MAP_A].dist == 2 and MAP_C not in m
    r2.receive(0.21, "up", protected)  # replayed: IPsec's anti-replay window drops it
    assert r2.counters["dropped.replay"] == 1


def test_invalid_upstream_ra_dropped() -> None:
    r2 = relay_router("r2", "2001:db8:23::/64")
    bad = IPv6Packet(IPv6Address("2001:db8::9"), ALL_NODES, RouterAdvertisement(
        options=(MapOption(1, 10, True, 60, MAP_A),)), hop_limit=255).encode()
    r2.receive(0.0, "up", bad)
    assert r2.counters["dropped.ra-invalid"] == 1 and len(r2.relay) == 0


@pytest.mark.req("X5380-06")
def test_X5380_06_rfc5380_profile_is_manual_configuration_only() -> None:
    with pytest.raises(LocalProtocolError):
        AccessRouterConfig(profile="rfc5380", relay_from=("up",))
    node = ar(profile="rfc5380")
    node.start(0.0)
    run(node, 0.0)
    upstream = IPv6Packet(IPv6Address("fe80::1"), ALL_NODES, RouterAdvertisement(
        options=(MapOption(1, 10, True, 60, MAP_C),)), hop_limit=255).encode()
    node.receive(0.01, "up", upstream)
    [(_, _, ra)] = ras(run(node, 0.1))[-1:]
    assert list(maps_of(ra)) == [MAP_A]
    assert len(node.relay) == 0


# -- AR-07, AR-08: MAP failure detection ------------------------------------------------------


def probes(out: Sent) -> list[tuple[float, IPv6Packet, EchoRequest]]:
    return [(t, p, p.payload) for t, _, p in out
            if isinstance(p.payload, EchoRequest) and p.dst == MAP_A]


def reply(p: IPv6Packet, echo: EchoRequest) -> bytes:
    return IPv6Packet(MAP_A, p.src, EchoReply(echo.identifier, echo.sequence, echo.data)).encode()


def slow_ar(**cfg: object) -> AccessRouter:
    return ar(ra=RaConfig(prefix=ACC, min_interval=1.0, max_interval=2.0),
              maps=(MapConfig(address=MAP_A, valid_lifetime=600),), **cfg)


@pytest.mark.req("AR-07")
def test_AR07_no_replies_probes_at_10_15_20_25_then_lifetime_zero_then_recovery() -> None:
    node = slow_ar()
    node.start(0.0)
    out = run(node, 29.9)
    assert [t for t, _, _ in probes(out)] == [10.0, 15.0, 20.0, 25.0]
    assert all(maps_of(ra)[MAP_A].valid_lifetime == 600 for _, _, ra in ras(out))
    assert not any(isinstance(e, MapFailed) for e in events(node))

    out = run(node, 30.0)
    assert [t for t, _, _ in probes(out)] == [30.0]  # probing goes on while failed
    assert [e for e in events(node) if isinstance(e, MapFailed)] == [MapFailed(time=30.0, map=MAP_A)]
    # The failure is advertised at once (changed information, RFC 4861 §6.2.4) ...
    out += run(node, 31.0)
    failed_ras = ras(out)
    assert failed_ras and failed_ras[0][0] == pytest.approx(30.0, abs=1.0)
    assert all(maps_of(ra)[MAP_A].valid_lifetime == 0 for _, _, ra in failed_ras)
    assert node.counters["map-probe-sent"] == 5

    # ... until the MAP answers the probe sent while failed.
    out = run(node, 40.0)
    [(t, p, echo)] = probes(out)
    assert t == 40.0
    run(node, 40.5)
    node.receive(40.5, "up", reply(p, echo))
    assert [e for e in events(node) if isinstance(e, MapRecovered)] == [
        MapRecovered(time=40.5, map=MAP_A)]
    out = run(node, 50.0)
    assert maps_of(ras(out)[0][2])[MAP_A].valid_lifetime == 600
    # As soon as MinDelayBetweenRAs (= MinRtrAdvInterval, 1 s) after the previous RA allows.
    assert 40.5 <= ras(out)[0][0] <= 41.5
    # Normal probing again: 10 s after the answered probe.
    assert [t for t, _, _ in probes(out)] == [50.0]
    assert not node.probes[MAP_A].failed


@pytest.mark.req("AR-07")
def test_AR07_answered_probes_never_fail_and_intervals_configurable() -> None:
    cfg = ProbeConfig(interval=2.0, reply_timeout=1.0, aggressive_interval=0.5,
                      aggressive_period=1.5, failed_interval=3.0)
    node = slow_ar(probe=cfg)
    node.start(0.0)
    now = 0.0
    for _ in range(10):
        now = node.next_timer() or now
        node.handle_timer(now)
        for _, p, echo in probes(drain(node, now)):
            node.receive(now + 0.1, "up", reply(p, echo))
    assert node.counters["map-probe-answered"] >= 4
    assert not node.probes[MAP_A].failed
    # Then silence: failure after reply_timeout + aggressive_period.
    last = node.probes[MAP_A].last_probe
    assert last is not None
    run(node, last + 2.0 + 1.0 + 1.5)
    assert node.probes[MAP_A].failed


@pytest.mark.req("AR-08")
def test_AR08_forged_and_replayed_replies_do_not_reset_failure_detection() -> None:
    node = slow_ar()
    node.start(0.0)
    [(t, p, echo)] = probes(run(node, 10.0))
    good = reply(p, echo)
    node.receive(10.1, "up", good)
    assert node.counters["map-probe-answered"] == 1
    [(t, p2, echo2)] = probes(run(node, 20.0))
    assert t == 20.0 and echo2.data != echo.data
    # Replayed: the 10 s reply again. Forged: right id/seq, guessed nonce. Spoofed source.
    node.receive(21.0, "up", good)
    node.receive(22.0, "up", IPv6Packet(MAP_A, p2.src, EchoReply(
        echo2.identifier, echo2.sequence, bytes(16))).encode())
    node.receive(23.0, "up", IPv6Packet(MAP_B, p2.src, EchoReply(
        echo2.identifier, echo2.sequence, echo2.data)).encode())
    assert node.counters["dropped.probe-reply-mismatch"] == 2
    assert node.counters["dropped.echo-reply-unexpected"] == 1
    out = run(node, 40.0)
    assert [t for t, _, _ in probes(out)] == [25.0, 30.0, 35.0, 40.0]
    assert node.probes[MAP_A].failed
    assert any(isinstance(e, MapFailed) and e.time == 40.0 for e in events(node))


@pytest.mark.req("AR-08")
def test_AR08_authenticated_probe_replies_required_when_configured() -> None:
    node = slow_ar(require_authenticated_probes=True)
    node.start(0.0)
    [(_, p, echo)] = probes(run(node, 10.0))
    node.receive(10.1, "up", reply(p, echo))  # right nonce, but not IPsec-protected
    assert node.counters["dropped.probe-reply-unauthenticated"] == 1
    assert node.counters["map-probe-answered"] == 0
    run(node, 30.0)
    assert node.probes[MAP_A].failed


@pytest.mark.req("AR-08")
def test_AR08_esp_protected_probe_exchange_counts() -> None:
    """With IPsec between AR and MAP, the protected reply (right nonce) keeps the MAP up."""
    prov = Provisioner(9)
    s_ar, s_map = IPsec(name="ar"), IPsec(name="map")
    node = ar(ra=RaConfig(prefix=ACC, min_interval=1.0, max_interval=2.0),
              maps=(MapConfig(address=MAP_A),), require_authenticated_probes=True)
    node.security = s_ar
    prov.pair(s_ar, "ar", UP_ADDR, s_map, "map", MAP_A)
    s_ar.add_policy(Policy.make(local=UP_ADDR, remote=MAP_A, protocol=58, types=[128, 129]))
    s_map.add_policy(Policy.make(local=MAP_A, remote=UP_ADDR, protocol=58, types=[128, 129]))
    s_ar.authorise("map", [MAP_A])
    s_map.authorise("ar", [UP_ADDR])
    node.start(0.0)
    while (now := node.next_timer()) is not None and now <= 45.0:
        node.handle_timer(now)
        for t in node.datagrams_to_send(now):
            p = decode(t.data)
            if p.dst != MAP_A:
                continue
            request = s_map.unprotect(now, p).packet.payload  # what the MAP sees
            assert isinstance(request, EchoRequest)
            answer = IPv6Packet(MAP_A, UP_ADDR, EchoReply(request.identifier, request.sequence,
                                                          request.data))
            node.receive(now + 0.1, "up", s_map.protect(now, answer).encode())
    assert node.counters["map-probe-answered"] == node.counters["map-probe-sent"] == 4
    assert node.counters["dropped.probe-reply-unauthenticated"] == 0
    assert not node.probes[MAP_A].failed


def test_manual_failure_and_restart() -> None:
    node = slow_ar(probe=None)
    node.start(0.0)
    run(node, 0.0)
    node.set_map_failed(1.0, MAP_A)
    assert maps_of(ras(run(node, 3.0))[0][2])[MAP_A].valid_lifetime == 0
    node.crash(3.0)
    node.restart(4.0)
    out = run(node, 4.0)
    assert maps_of(ras(out)[0][2])[MAP_A].valid_lifetime == 600


# -- robustness ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["acc", "up"]), st.binary(max_size=300))
def test_random_bytes_never_raise(ifname: str, data: bytes) -> None:
    node = relay_router("r", "2001:db8:23::/64")
    node.start(0.0)
    node.receive(0.0, ifname, data)
    run(node, 1.0)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_and_truncated_ras_and_replies_never_raise(data: st.DataObject) -> None:
    node = relay_router("r", "2001:db8:23::/64")
    node.start(0.0)
    run(node, 0.0)
    r1 = relay_router("r1", "2001:db8:12::/64", own=(MapConfig(address=MAP_A),), relay_from=())
    base = data.draw(st.sampled_from([last_ra_bytes(r1, 0.0), rs(),
                                      IPv6Packet(MAP_A, UP_ADDR, EchoReply(1, 2, bytes(16))).encode()]))
    buf = bytearray(base)
    for i, v in data.draw(st.lists(st.tuples(st.integers(0, len(buf) - 1), st.integers(0, 255)),
                                   max_size=6)):
        buf[i] = v
    cut = data.draw(st.integers(0, len(buf)))
    node.receive(0.01, data.draw(st.sampled_from(["up", "down"])), bytes(buf[:cut]))
    run(node, 1.0)
    if cut < len(base) and bytes(buf) == base:
        assert node.counters["dropped.malformed"] == 1
