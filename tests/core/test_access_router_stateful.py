"""Hypothesis state machine for the access router (issue 3, bad input): Router Solicitations
(valid, unspecified source, bad hop limit), MAP probe replies (genuine, forged nonce, replayed,
wrong source), upstream RAs with MAP options to relay (and invalid ones), Pref changes, manual
MAP failure, random/truncated/mutated octets, time passing (RAs, probes, relayed options
expiring), crash and restart. After every step: the common checks of ``stateful_support``,
forged or replayed replies never count nor touch the probe state (AR-08), every advertised MAP
option has Dist >= 1, the configured Pref and lifetime 0 exactly while failed (AR-01, AR-07)."""

from __future__ import annotations

import itertools
import random
from ipaddress import IPv6Address, IPv6Network

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hmipv6.core.access_router import AccessRouter, AccessRouterConfig, MapConfig, RaConfig
from hmipv6.core.events import MapFailed, MapRecovered, PacketDropped
from hmipv6.wire import IPv6Packet
from hmipv6.wire.addr import ALL_NODES, ALL_ROUTERS, UNSPECIFIED
from hmipv6.wire.icmpv6 import (
    EchoReply,
    EchoRequest,
    MapOption,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
)

from .stateful_support import DT, GARBAGE, Driver, machine_settings, mutate

MAP_A = IPv6Address("2001:db8:a0::1")  # probed (RFC 4140 §10)
MAP_B = IPv6Address("2001:db8:b0::1")  # not probed; failed by manual intervention only
MAP_C = IPv6Address("2001:db8:c0::1")  # learnt from upstream RAs (dynamic discovery)
ACC = IPv6Network("2001:db8:1::/64")
UP_ADDR = IPv6Address("2001:db8:ff::2")
MN_LL = IPv6Address("fe80::a:b:c:d")
UPSTREAM_LL = IPv6Address("fe80::1")


def rs(src: IPv6Address, hop_limit: int = 255, sllao: bool = True) -> bytes:
    opts = (SourceLinkLayerAddress(b"\x02\0\0\0\0\x09"),) if sllao else ()
    return IPv6Packet(src, ALL_ROUTERS, RouterSolicitation(opts), hop_limit=hop_limit).encode()


def upstream_ra(dist: int, pref: int, lifetime: int, hop_limit: int = 255) -> bytes:
    return IPv6Packet(UPSTREAM_LL, ALL_NODES, RouterAdvertisement(
        router_lifetime=0, options=(MapOption(dist, pref, True, lifetime, MAP_C),)),
        hop_limit=hop_limit).encode()


class AccessRouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ar = AccessRouter("ar", rng=random.Random(7), config=AccessRouterConfig(
            interfaces={"acc": RaConfig(prefix=ACC, min_interval=1.0, max_interval=2.0)},
            maps=(MapConfig(address=MAP_A, valid_lifetime=600),
                  MapConfig(address=MAP_B, valid_lifetime=900, probe=False)),
            relay_from=("up",)))
        self.ar.add_interface("up", (UP_ADDR,))
        self.ar.add_route("::/0", "up", IPv6Address("2001:db8:ff::1"))
        self.d = Driver(self.ar)
        self.ar.start(0.0)
        self.d.pump()
        self.pref = {MAP_A: 10, MAP_B: 10}
        self.manual_b = False
        self.answered = 0
        """Genuine replies the router should have counted (the model of AR-08)."""
        self.probes: list[tuple[IPv6Address, EchoRequest]] = []
        self.replied: list[bytes] = []
        self.crashed = False
        self.life_start = 0
        """Index in ``d.events`` where the current life began (failure state is volatile:
        a restart forgets it without a MapRecovered event)."""

    def _step(self) -> None:
        self.d.begin()

    def _collect_probes(self) -> None:
        for t in self.d.step_out:
            p = IPv6Packet.decode(t.data)
            if isinstance(p.payload, EchoRequest) and p.dst == MAP_A:
                self.probes.append((p.src, p.payload))

    def drops(self) -> list[str]:
        return [e.reason for e in self.d.step_events if isinstance(e, PacketDropped)]

    @rule(kind=st.sampled_from(["link-local", "unspecified", "bad-hop", "unspecified-sllao"]))
    def router_solicitation(self, kind: str) -> None:
        """AR-09 (RFC 4861 §6.1.1, §6.2.6): valid RSs are counted and answered later by
        the RA timer; invalid ones are dropped and counted."""
        data = {"link-local": rs(MN_LL), "unspecified": rs(UNSPECIFIED, sllao=False),
                "bad-hop": rs(MN_LL, hop_limit=64),
                "unspecified-sllao": rs(UNSPECIFIED)}[kind]
        before = self.ar.counters["rs-received"]
        self._step()
        self.d.feed("acc", data)
        if self.crashed:
            return
        if kind in ("link-local", "unspecified"):
            assert self.ar.counters["rs-received"] == before + 1 and self.drops() == []
            assert self.ar.next_timer() is not None
        else:
            assert self.drops() == ["rs-invalid"]

    @rule(back=st.integers(1, 4))
    def genuine_probe_reply(self, back: int) -> None:
        """AR-07: the MAP answers one of the probes sent (perhaps an old one)."""
        if not self.probes:
            return
        src, echo = self.probes[-min(back, len(self.probes))]
        data = IPv6Packet(MAP_A, src, EchoReply(echo.identifier, echo.sequence,
                                                echo.data)).encode()
        probe = self.ar.probes[MAP_A]
        outstanding = (not self.crashed and probe.state.name != "STOPPED" and any(
            (p.identifier, p.sequence, p.nonce) == (echo.identifier, echo.sequence, echo.data)
            for p in probe.outstanding))
        self._step()
        self.d.feed("up", data)
        if self.crashed:
            return
        if outstanding:
            self.answered += 1
            self.replied.append(data)
            assert self.drops() == []
        else:
            assert self.drops() == ["probe-reply-mismatch"]

    @rule(kind=st.sampled_from(["nonce", "replay", "source", "stranger"]),
          back=st.integers(1, 4), nonce=st.binary(min_size=16, max_size=16))
    def forged_probe_reply(self, kind: str, back: int, nonce: bytes) -> None:
        """AR-08 (RFC 4140 §10: protection "against replay attacks"): a guessed nonce, a
        replayed answer or another source changes nothing in failure detection."""
        if not self.probes:
            return
        src, echo = self.probes[-min(back, len(self.probes))]
        if kind == "replay":
            if not self.replied:
                return
            data = self.replied[-min(back, len(self.replied))]
        else:
            if kind == "nonce" and nonce == echo.data:
                return
            source = {"nonce": MAP_A, "source": MAP_B,
                      "stranger": IPv6Address("2001:db8:77::7")}[kind]
            data = IPv6Packet(source, src, EchoReply(
                echo.identifier, echo.sequence, nonce if kind == "nonce" else echo.data)).encode()
        probe = self.ar.probes[MAP_A]
        before = (probe.state, probe.deadline, list(probe.outstanding), probe.window_end)
        timer = self.ar.next_timer()
        self._step()
        self.d.feed("up", data)
        if self.crashed:
            return
        assert (probe.state, probe.deadline, list(probe.outstanding), probe.window_end) == before
        assert self.ar.next_timer() == timer and self.d.step_out == []
        assert self.drops() in (["probe-reply-mismatch"], ["echo-reply-unexpected"])

    @rule(dist=st.integers(1, 15), pref=st.integers(0, 15),
          lifetime=st.sampled_from([0, 5, 60, 3600]), hop255=st.booleans())
    def upstream_router_advertisement(self, dist: int, pref: int, lifetime: int,
                                      hop255: bool) -> None:
        """AR-02..AR-05: MAP options heard upstream are relayed with Dist + 1 (Dist 0
        ignored, only by mutation here: the codec refuses to write it; hop limit other
        than 255 dropped)."""
        self._step()
        self.d.feed("up", upstream_ra(dist, pref, lifetime, 255 if hop255 else 64))

    @rule(which=st.sampled_from([MAP_A, MAP_B]), pref=st.integers(0, 15))
    def set_map_preference(self, which: IPv6Address, pref: int) -> None:
        """AR-01 / MAP-09: a Pref change shows in the next RA."""
        self._step()
        self.ar.set_map_preference(self.d.now, which, pref)
        self.d.pump()
        self.pref[which] = pref
        assert {o.address: o.pref for o in self.ar.advertised_maps(self.d.now, "acc")}[
            which] == pref

    @rule(failed=st.booleans())
    def manual_failure(self, failed: bool) -> None:
        """RFC 4140 §10: "By manual intervention" a MAP option is sent with lifetime 0."""
        if self.crashed:
            return
        self._step()
        self.ar.set_map_failed(self.d.now, MAP_B, failed)
        self.d.pump()
        self.manual_b = failed

    @rule(g=GARBAGE, ifname=st.sampled_from(["acc", "up"]))
    def garbage(self, g: tuple[int, int | None, list[tuple[int, int]], bytes, bool],
                ifname: str) -> None:
        index, cut, flips, octets, random_octets = g
        samples = [rs(MN_LL), upstream_ra(1, 10, 60), *self.replied[-1:],
                   IPv6Packet(MAP_A, UP_ADDR, EchoReply(1, 2, bytes(16))).encode()]
        data = octets if random_octets else mutate(samples[index % len(samples)], cut, flips)
        answered = self.ar.counters["map-probe-answered"]
        self._step()
        self.d.feed(ifname, data)
        # A mutation can at most leave a genuine reply genuine (e.g. a changed hop limit).
        self.answered += self.ar.counters["map-probe-answered"] - answered

    @rule(dt=DT.map(lambda t: t / 20), every_deadline=st.booleans())
    def time_passes(self, dt: float, every_deadline: bool) -> None:
        self._step()
        self.d.advance(dt, every_deadline=every_deadline)

    @rule()
    def crash(self) -> None:
        self._step()
        self.ar.crash(self.d.now)
        self.crashed = True

    @rule()
    def restart(self) -> None:
        if self.crashed:
            self._step()
            self.ar.restart(self.d.now)
            self.d.pump()
            self.crashed = False
            self.manual_b = False  # failure state is volatile
            self.life_start = len(self.d.events)

    @invariant()
    def output_and_counters(self) -> None:
        self.d.check_common()
        self._collect_probes()
        # AR-08: only genuine replies to outstanding probes count.
        assert self.ar.counters["map-probe-answered"] == self.answered

    @invariant()
    def advertised_map_options(self) -> None:
        changes = {e.map for e in self.d.step_events if isinstance(e, MapFailed | MapRecovered)}
        for t in self.d.step_out:
            p = IPv6Packet.decode(t.data)
            if not isinstance(p.payload, RouterAdvertisement) or t.ifname != "acc":
                continue
            opts = {o.address: o for o in p.payload.options if isinstance(o, MapOption)}
            assert all(1 <= o.dist <= 15 for o in opts.values())  # AR-05
            assert opts[MAP_A].pref == self.pref[MAP_A] and opts[MAP_B].pref == self.pref[MAP_B]
            assert opts[MAP_A].valid_lifetime in (0, 600)
            assert opts[MAP_B].valid_lifetime in (0, 900)
            if MAP_A not in changes:
                assert (opts[MAP_A].valid_lifetime == 0) == self.ar.probes[MAP_A].failed
            if MAP_B not in changes:
                assert (opts[MAP_B].valid_lifetime == 0) == self.manual_b
            if MAP_C in opts:
                assert opts[MAP_C].dist >= 2

    @invariant()
    def failures_and_recoveries_alternate(self) -> None:
        for m in (MAP_A, MAP_B):
            seq = [type(e) for e in self.d.events[self.life_start:]
                   if isinstance(e, MapFailed | MapRecovered) and e.map == m]
            assert all(a is not b for a, b in itertools.pairwise(seq))
            assert not seq or seq[0] is MapFailed


AccessRouterMachine.TestCase.settings = machine_settings()
TestAccessRouterMachine = pytest.mark.req("AR-01", "AR-02", "AR-05", "AR-07", "AR-08",
                                          "AR-09")(AccessRouterMachine.TestCase)
