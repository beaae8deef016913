"""Hypothesis state machine for the correspondent node (issue 3, bad input): return
routability and route-optimisation BUs from several mobile nodes (new, refresh, new care-of
address, out of window, lifetime 0, stale or forged tokens, H set), interleaved with packets
carrying a Home Address option from the bound and from other care-of addresses,
route-optimised sends, Echo, random/truncated/mutated octets, time passing (nonces rotate,
bindings expire), crash and restart. The cache is compared with a model after every step
(RFC 6275 §5.2, §9.3, §9.4, §9.5); see ``stateful_support`` for the common checks."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hmipv6.core import return_routability as rr
from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.events import BindingCacheUpdated, BindingRemoved, DataReceived, PacketDropped
from hmipv6.core.registrar import sequence_newer
from hmipv6.wire import IPv6Packet, RoutingHeaderType2
from hmipv6.wire.icmpv6 import EchoReply, EchoRequest
from hmipv6.wire.mobility import (
    BindingAcknowledgement,
    BindingError,
    BindingUpdate,
    BUFlags,
    CareOfTest,
    CareOfTestInit,
    HomeTest,
    HomeTestInit,
    NonceIndices,
)
from hmipv6.wire.udp import UDP

from .anchor_support import A, with_hao
from .stateful_support import DT, GARBAGE, LIFETIMES, SEQ_MODES, Bound, Driver, machine_settings, mutate

CN = A("2001:db8:cafe::1")
HOAS = (A("2001:db8:50::90"), A("2001:db8:50::91"), A("2001:db8:50::92"))
COAS = (A("2001:db8:100::a1"), A("2001:db8:100::a2"), A("2001:db8:200:1::5"))
SAFE, EXPIRED = 200.0, 241.0
"""Tokens younger than SAFE s are surely accepted (a generation is at most 30 s old when
handed out and lives MAX_NONCE_LIFETIME = 240 s); older than EXPIRED, surely not."""


@dataclass
class Tokens:
    hot: HomeTest
    cot: CareOfTest
    coa: IPv6Address
    at: float
    known: bool = True
    """False after a restart: the indices may name new generations."""


class CorrespondentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cn = CorrespondentNode("cn", address=CN)
        self.cn.add_route("::/0", "eth0")
        self.d = Driver(self.cn)
        self.model: dict[IPv6Address, Bound] = {}
        self.tokens: dict[int, Tokens] = {}
        self.last_seq = [0, 0, 0]
        self.crashed = False

    def sync_from_events(self) -> None:
        for e in self.d.step_events:
            if isinstance(e, BindingCacheUpdated):
                entry = self.cn.cache.get(e.home_address)
                assert entry is not None and entry.care_of == e.care_of_address
                self.model[e.home_address] = Bound(entry.care_of, entry.expires,
                                                   entry.sequence, entry.peer)
            elif isinstance(e, BindingRemoved):
                self.model.pop(e.home_address, None)

    def drops(self) -> list[str]:
        return [e.reason for e in self.d.step_events if isinstance(e, PacketDropped)]

    @rule(mn=st.integers(0, 2), c=st.integers(0, 2))
    def return_routability(self, mn: int, c: int) -> None:
        """CN-01 (RFC 6275 §9.4): HoTI from the home address, CoTI from the care-of address."""
        self.d.begin()
        hoa, coa = HOAS[mn], COAS[c]
        self.d.feed("eth0", IPv6Packet(hoa, CN, HomeTestInit(b"homecook")).encode())
        self.d.feed("eth0", IPv6Packet(coa, CN, CareOfTestInit(b"carecook")).encode())
        if self.crashed:
            return
        out = self.d.decoded()
        (hot,) = [p for p in out if isinstance(p.payload, HomeTest)]
        (cot,) = [p for p in out if isinstance(p.payload, CareOfTest)]
        assert hot.dst == hoa and cot.dst == coa
        assert isinstance(hot.payload, HomeTest) and isinstance(cot.payload, CareOfTest)
        self.tokens[mn] = Tokens(hot.payload, cot.payload, coa, self.d.now)

    @rule(mn=st.integers(0, 2), seq_mode=SEQ_MODES, lifetime=LIFETIMES,
          raw_seq=st.integers(0, 0xFFFF), ack=st.booleans(),
          fault=st.sampled_from([None, None, None, "home", "wrong-coa", "forged"]))
    def binding_update(self, mn: int, seq_mode: str, lifetime: int, raw_seq: int, ack: bool,
                       fault: str | None) -> None:
        """CN-01 (RFC 6275 §9.5.1-§9.5.4): authorised BUs bind, refresh and delete; H is
        refused with 131; a wrong authenticator is silently discarded."""
        tok = self.tokens.get(mn)
        if tok is None:
            return
        hoa = HOAS[mn]
        existing = self.model.get(hoa)
        base = existing.sequence if existing is not None else self.last_seq[mn]
        seq = {"next": base + 1, "same": base, "older": base - 1 - raw_seq % 100,
               "half": base + 0x8000, "random": raw_seq}[seq_mode] & 0xFFFF
        self.last_seq[mn] = seq
        coa = COAS[(COAS.index(tok.coa) + 1) % 3] if fault == "wrong-coa" else tok.coa
        flags = (BUFlags.A if ack else 0) | (BUFlags.H if fault == "home" else 0)
        # RFC 6275 §5.2.5 / §9.5.1: a request to delete a binding (lifetime 0) is
        # authorised with the home keygen token alone, Kbm = SHA1(home keygen token).
        kbm = rr.binding_management_key(tok.hot.keygen_token,
                                        None if lifetime == 0 else tok.cot.keygen_token)
        if fault == "forged":
            kbm = bytes(20)
        nonces = NonceIndices(tok.hot.home_nonce_index, tok.cot.care_of_nonce_index)
        bu = rr.authorize(kbm, coa, CN, BindingUpdate(seq, BUFlags(flags), lifetime, (nonces,)))
        self.d.begin()
        self.d.feed("eth0", with_hao(coa, CN, hoa, bu).encode())
        if self.crashed:
            assert self.d.step_out == []
            return
        bas = [p for p in self.d.decoded() if isinstance(p.payload, BindingAcknowledgement)]
        for p in bas:
            assert p.dst == coa and p.extension_headers == (RoutingHeaderType2(hoa),)
        age = self.d.now - tok.at
        if fault == "home":
            (p,) = bas
            assert isinstance(p.payload, BindingAcknowledgement) and p.payload.status == 131
        elif not tok.known or SAFE <= age <= EXPIRED:
            self.sync_from_events()  # which generation the indices name is not known here
            return
        elif age > EXPIRED:
            (p,) = bas
            assert isinstance(p.payload, BindingAcknowledgement)
            assert p.payload.status in ({136} if lifetime == 0 else {136, 137, 138})
        elif fault == "forged" or (fault == "wrong-coa" and lifetime != 0):
            # A care-of address other than the tested one makes another care-of keygen
            # token, so Kbm and the authenticator do not verify. A deletion (lifetime 0) has
            # no care-of token (RFC 6275 §5.2.5, §9.5.1): it verifies from any care-of
            # address, and is handled as below.
            assert bas == [] and self.drops() == ["bu-bad-authenticator"]
        elif existing is not None and not sequence_newer(seq, existing.sequence):
            (p,) = bas
            assert isinstance(p.payload, BindingAcknowledgement)
            assert (p.payload.status, p.payload.sequence) == (135, existing.sequence)
        else:
            granted = min(lifetime, rr.MAX_RR_BINDING_LIFETIME) & ~3
            if granted:
                self.model[hoa] = Bound(coa, self.d.now + granted, seq, None)
            else:
                self.model.pop(hoa, None)
            if ack:
                (p,) = bas
                assert isinstance(p.payload, BindingAcknowledgement)
                assert (p.payload.status, p.payload.sequence, p.payload.lifetime) == (
                    0, seq, granted)
                assert rr.verify(kbm, coa, CN, p.payload)
            else:
                assert bas == []  # §9.5.4: "SHOULD NOT be sent"
        assert [e for e in self.d.step_events
                if isinstance(e, BindingCacheUpdated | BindingRemoved)
                and e.home_address != hoa] == []

    @rule(mn=st.integers(0, 2), c=st.integers(0, 2))
    def data_with_home_address(self, mn: int, c: int) -> None:
        """CN-02 (RFC 6275 §9.3.1): accepted only with a binding for that care-of address,
        else dropped and answered with a Binding Error (status 1, rate-limited)."""
        hoa, coa = HOAS[mn], COAS[c]
        self.d.begin()
        self.d.feed("eth0", with_hao(coa, CN, hoa, UDP(1, 2, b"ro data")).encode())
        if self.crashed:
            return
        bound = self.model.get(hoa)
        got = [e for e in self.d.step_events if isinstance(e, DataReceived)]
        if bound is not None and bound.care_of == coa:
            assert len(got) == 1 and got[0].src == hoa and self.drops() == []
        else:
            assert got == [] and self.drops() == ["hao-no-binding"]
            for p in self.d.decoded():
                assert isinstance(p.payload, BindingError) and p.dst == coa

    @rule(mn=st.integers(0, 2))
    def send(self, mn: int) -> None:
        """CN-02 (RFC 6275 §9.3.2): with a binding, to the care-of address with an RH2."""
        hoa = HOAS[mn]
        self.d.begin()
        self.cn.send(self.d.now, hoa, b"to the MN")
        self.d.pump()
        if self.crashed:
            return
        (p,) = self.d.decoded()
        bound = self.model.get(hoa)
        if bound is not None:
            assert p.dst == bound.care_of and p.extension_headers == (RoutingHeaderType2(hoa),)
        else:
            assert p.dst == hoa and p.extension_headers == ()

    @rule(ident=st.integers(0, 0xFFFF))
    def echo_request(self, ident: int) -> None:
        self.d.begin()
        self.d.feed("eth0", IPv6Packet(HOAS[0], CN, EchoRequest(ident, 2, b"x")).encode())
        if not self.crashed:
            (p,) = self.d.decoded()
            assert p.payload == EchoReply(ident, 2, b"x")

    @rule(g=GARBAGE)
    def garbage(self, g: tuple[int, int | None, list[tuple[int, int]], bytes, bool]) -> None:
        index, cut, flips, octets, random_octets = g
        samples = [IPv6Packet(HOAS[0], CN, HomeTestInit(b"homecook")).encode(),
                   IPv6Packet(COAS[0], CN, CareOfTestInit(b"carecook")).encode(),
                   with_hao(COAS[0], CN, HOAS[0], UDP(1, 2, b"x")).encode(),
                   IPv6Packet(HOAS[0], CN, EchoRequest(1, 1, b"")).encode()]
        tok = self.tokens.get(0)
        if tok is not None:
            kbm = rr.binding_management_key(tok.hot.keygen_token, tok.cot.keygen_token)
            nonces = NonceIndices(tok.hot.home_nonce_index, tok.cot.care_of_nonce_index)
            bu = rr.authorize(kbm, tok.coa, CN, BindingUpdate((self.last_seq[0] + 1) & 0xFFFF,
                                                              BUFlags.A, 400, (nonces,)))
            samples.append(with_hao(tok.coa, CN, HOAS[0], bu).encode())
        data = octets if random_octets else mutate(samples[index % len(samples)], cut, flips)
        self.d.begin()
        self.d.feed("eth0", data)
        self.sync_from_events()

    @rule(dt=DT, every_deadline=st.booleans())
    def time_passes(self, dt: float, every_deadline: bool) -> None:
        self.d.begin()
        self.d.advance(dt, every_deadline=every_deadline)
        if self.crashed:
            return
        due = {k for k, b in self.model.items() if b.expires <= self.d.now}
        removed = {e.home_address for e in self.d.step_events if isinstance(e, BindingRemoved)}
        assert removed == due
        for k in due:
            del self.model[k]

    @rule()
    def crash(self) -> None:
        self.d.begin()
        self.cn.crash(self.d.now)
        self.crashed = True

    @rule()
    def restart(self) -> None:
        if self.crashed:
            self.d.begin()
            self.cn.restart(self.d.now)
            self.d.pump()
            self.crashed = False
            self.model.clear()
            for tok in self.tokens.values():
                tok.known = False

    @invariant()
    def output_and_counters(self) -> None:
        self.d.check_common()

    @invariant()
    def cache_matches_the_model(self) -> None:
        if self.crashed:
            return
        got = {e.address: Bound(e.care_of, e.expires, e.sequence, e.peer) for e in self.cn.cache}
        assert got == self.model
        for e in self.cn.cache:
            assert self.d.now < e.expires <= self.d.now + rr.MAX_RR_BINDING_LIFETIME
            assert not e.flags & BUFlags.H


CorrespondentMachine.TestCase.settings = machine_settings()
TestCorrespondentMachine = pytest.mark.req("CN-01", "CN-02")(CorrespondentMachine.TestCase)
