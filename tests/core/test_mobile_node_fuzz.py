"""Bad input and random command sequences never make the mobile node raise; drops are counted
and its invariants hold (ARCHITECTURE.md: "Bad remote input is an outcome, not an exception").

The stateful test plays every role around the node at random: access routers advertising
random MAP sets (with Pref 0 and lifetime 0 among them), MAPs and the home agent answering the
latest BU with random statuses, strangers sending Binding Refresh Requests and Binding Errors,
random and mutated octets, link changes, application sends and time passing."""

from __future__ import annotations

import os
import random
from ipaddress import IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hmipv6.core.events import PacketDropped
from hmipv6.wire.ipv6 import IPv6Packet
from hmipv6.wire.mobility import BEStatus, BindingError, BindingRefreshRequest, BindingUpdate, BUFlags
from tests.core.test_mobile_node_support import (
    AR1_LL,
    AR2_LL,
    AR3_LL,
    CN,
    HA,
    HOA,
    MAP1,
    MAP2,
    MAP3,
    P1,
    P2,
    P3,
    Harness,
    ba_for,
    bus,
    data_from,
    innermost,
    layers,
    make,
    mapopt,
    ra,
    registered,
    via_ha,
    via_map,
)

ROUTERS = [(P1, AR1_LL), (P2, AR2_LL), (P3, AR3_LL)]
MAPS = [MAP1, MAP2, MAP3]


def _valid_samples() -> list[bytes]:
    h = registered(make(route_optimisation=True, correspondents=(CN,)))
    lp = next(p for p in bus(h.sent) if p.dst == MAP1)
    return [ra(P1, [mapopt(MAP1), mapopt(MAP2, dist=2, pref=0)]).__bytes__(),
            ba_for(lp).encode(),
            via_map(via_ha(data_from(CN, HOA), lp.home_address or HOA), MAP1, lp.src).encode(),
            *[t.data for t in h.transmits]]


SAMPLES = _valid_samples()


def _check_no_raise(h: Harness, data: bytes) -> None:
    h.mn.receive(h.now, "wlan0", data)
    h.drain()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_octets_never_raise(data: bytes) -> None:
    h = registered(make())
    _check_no_raise(h, data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_truncated_and_mutated_packets_never_raise(sample: bytes, data: st.DataObject) -> None:
    h = registered(make(route_optimisation=True, correspondents=(CN,)))
    buf = bytearray(sample)
    cut = data.draw(st.integers(0, len(buf)))
    if data.draw(st.booleans()):
        buf = buf[:cut]
    for _ in range(data.draw(st.integers(0, 4))):
        if buf:
            buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    before = sum(v for k, v in h.mn.counters.items() if k.startswith("dropped."))
    _check_no_raise(h, bytes(buf))
    after = sum(v for k, v in h.mn.counters.items() if k.startswith("dropped."))
    drops = [e for e in h.events if isinstance(e, PacketDropped)]
    assert after - before <= len(drops)


class MobileNodeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = make(dad="optimistic", interfaces=("wlan0", "wlan1"),
                      route_optimisation=True, correspondents=(CN,), multiple_maps=False)
        self.rng = random.Random(0)

    @rule(ifname=st.sampled_from(["wlan0", "wlan1"]), router=st.integers(0, 2))
    def link_up(self, ifname: str, router: int) -> None:
        self.h.mn.link_up(self.h.now, ifname, f"ar{router}")
        self.h.drain()

    @rule(ifname=st.sampled_from(["wlan0", "wlan1"]))
    def link_down(self, ifname: str) -> None:
        self.h.mn.link_down(self.h.now, ifname)
        self.h.drain()

    @rule(ifname=st.sampled_from(["wlan0", "wlan1"]), router=st.integers(0, 2),
          maps=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 15), st.integers(0, 15),
                                  st.sampled_from([0, 8, 3600]), st.booleans()), max_size=3),
          mtu=st.sampled_from([None, 1280, 1400, 9000]))
    def router_advertisement(self, ifname: str, router: int, maps: list[tuple[int, int, int, int, bool]],
                             mtu: int | None) -> None:
        prefix, ll = ROUTERS[router]
        opts = [mapopt(MAPS[m], dist=d, pref=p, lifetime=life, r=r) for m, d, p, life, r in maps]
        self.h.feed(ra(prefix, opts, src=ll, mtu=mtu), ifname)

    @rule(status=st.sampled_from([0, 1, 128, 129, 134, 135, 136, 138, 139]),
          lifetime=st.sampled_from([0, 4, 100, 420, 4000]), wrong_rh2=st.booleans(),
          seq_delta=st.sampled_from([0, 0, 0, 1, 40000]), back=st.integers(1, 6))
    def answer_a_bu(self, status: int, lifetime: int, wrong_rh2: bool, seq_delta: int, back: int) -> None:
        sent = bus(self.h.sent)
        if not sent:
            return
        p = sent[-min(back, len(sent))]
        inner = innermost(p)
        bu = inner.payload
        assert isinstance(bu, BindingUpdate)
        ba = ba_for(p, status=status, lifetime=lifetime, sequence=(bu.sequence + seq_delta) & 0xFFFF,
                    rh2=IPv6Address("2001:db8:99::9") if wrong_rh2 else True)
        if len(layers(p)) == 2:
            ba = via_map(ba, p.dst, p.src)
        for ifname in ("wlan0", "wlan1"):
            self.h.feed(ba, ifname)

    @rule(source=st.sampled_from([MAP1, MAP2, HA, CN, IPv6Address("2001:db8:77::7")]),
          kind=st.sampled_from(["brr", "be1", "be2"]))
    def signalling(self, source: IPv6Address, kind: str) -> None:
        rcoa = self.h.mn.rcoa()
        lcoa = self.h.mn.lcoa()
        if lcoa is None:
            return
        status = (BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION if kind == "be1"
                  else BEStatus.UNRECOGNIZED_MH_TYPE)
        msg = BindingRefreshRequest() if kind == "brr" else BindingError(status, HOA)
        pkt = IPv6Packet(source, rcoa or lcoa, msg)
        if rcoa is not None and self.h.mn.current_map is not None:
            pkt = via_map(pkt, self.h.mn.current_map, lcoa)
        self.h.feed(pkt)

    @rule(data=st.binary(max_size=80), sample=st.sampled_from(SAMPLES), flip=st.integers(0, 500))
    def garbage(self, data: bytes, sample: bytes, flip: int) -> None:
        self.h.feed(data)
        buf = bytearray(sample)
        buf[flip % len(buf)] ^= 0x5A
        self.h.feed(bytes(buf))

    @rule(dt=st.sampled_from([0.01, 0.5, 1.0, 1.5, 5.0, 40.0, 400.0]))
    def time_passes(self, dt: float) -> None:
        self.h.advance(self.h.now + dt)

    @rule(use_rcoa=st.booleans(), size=st.integers(0, 1600))
    def send(self, use_rcoa: bool, size: int) -> None:
        self.h.mn.send(self.h.now, CN, bytes(size), use_rcoa=use_rcoa)
        self.h.drain()

    @rule()
    def refuse_rcoa(self) -> None:
        if self.h.mn.current_map is not None:
            self.h.mn.rcoa_refused(self.h.now, self.h.mn.current_map)
            self.h.drain()

    @invariant()
    def packets_are_well_formed_and_private(self) -> None:
        mn = self.h.mn
        lcoas = {lk.lcoa for lk in mn.links.values() if lk.lcoa is not None}
        for p in self.h.sent[-20:]:
            ls = layers(p)
            for x in ls:
                msg = x.payload
                if isinstance(msg, BindingUpdate) and msg.flags & BUFlags.M:
                    # MN-05/MN-15: the care-of address of a local BU is an LCoA, never an RCoA.
                    assert len(ls) == 1 and x.home_address is not None
                    assert x.src not in {r.rcoa for r in mn.regions.values()}
                    assert x.src != HOA
            if len(ls) > 1 and ls[0].dst in MAPS:
                # MN-20: inside the MAP tunnel nothing carries the LCoA.
                for x in ls[1:]:
                    assert x.src not in lcoas and x.dst not in lcoas and x.home_address not in lcoas

    @invariant()
    def state_is_consistent(self) -> None:
        mn = self.h.mn
        if mn.current_map is not None:
            assert mn.current_map in mn.regions
        for region in mn.regions.values():
            if region.rcoa is not None:
                assert mn.is_local(region.rcoa)
        t = mn.next_timer()
        assert t is None or t >= 0
        drops = sum(v for k, v in mn.counters.items() if k.startswith("dropped."))
        assert drops == len([e for e in self.h.events if isinstance(e, PacketDropped)])


MobileNodeMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("MN_FUZZ", "60")), stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestMobileNodeMachine = MobileNodeMachine.TestCase
