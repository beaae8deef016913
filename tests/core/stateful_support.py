"""Shared parts of the engine state machines (test_map_stateful, test_home_agent_stateful,
test_correspondent_stateful, test_access_router_stateful): a driver that plays the simulator's
clock by the engine contract, the checks every step ends with, and a model-based state machine
for the two binding anchors (MAP and home agent).

Every step's output is checked: what the node originates decodes with checksums verified, a
tunnel leaves only towards the care-of address the model says is bound, every BA status is an
RFC 3775 code; the ``dropped.*`` counters equal the PacketDropped events with that reason;
``next_timer()`` never goes back before the last handled time."""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hmipv6.core.anchor import BindingAnchor
from hmipv6.core.events import BindingCacheUpdated, BindingRemoved, Event, PacketDropped
from hmipv6.core.node import Node, Transmit, encapsulate_raw
from hmipv6.core.registrar import sequence_newer
from hmipv6.wire import IPv6Packet, RoutingHeaderType2, decode
from hmipv6.wire.addr import solicited_node
from hmipv6.wire.icmpv6 import EchoReply, EchoRequest, NeighborAdvertisement, NeighborSolicitation
from hmipv6.wire.mobility import BindingAcknowledgement, BUFlags
from hmipv6.wire.udp import UDP

from .anchor_support import A, PeerSecurity, binding_update

RFC3775_STATUSES = frozenset({0, 1, *range(128, 140)})
"""RFC 6275 §6.1.8 status codes (0-1 accepted, 128-139 rejected)."""
FUZZ = int(os.environ.get("ENGINE_FUZZ", "0"))
"""ENGINE_FUZZ=n runs n examples per machine instead of the default (a few seconds each)."""
CN = A("2001:db8:cafe::1")
STRANGER = A("2001:db8:77::7")


def machine_settings(default_examples: int = 60, steps: int = 30) -> settings:
    return settings(max_examples=FUZZ or default_examples, stateful_step_count=steps,
                    deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                          HealthCheck.filter_too_much])


def mutate(sample: bytes, cut: int | None, flips: list[tuple[int, int]]) -> bytes:
    """Truncate ``sample`` at ``cut`` (None: keep it whole), then set octets (index modulo
    the length)."""
    buf = bytearray(sample if cut is None else sample[: cut % (len(sample) + 1)])
    for i, v in flips:
        if buf:
            buf[i % len(buf)] = v
    return bytes(buf)


GARBAGE = st.tuples(st.integers(0, 10_000), st.one_of(st.none(), st.integers(0, 2000)),
                    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=4),
                    st.binary(max_size=120), st.booleans())
"""(sample index, cut, octet changes, random octets, use the random octets instead)."""


class Driver:
    """Drives one engine by its contract and records what it says."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.now = 0.0
        self.last_handled = 0.0
        self.events: list[Event] = []
        """Every event so far."""
        self.step_events: list[Event] = []
        """The events of the current step."""
        self.step_out: list[Transmit] = []
        """The transmissions of the current step."""

    def begin(self) -> None:
        self.step_events = []
        self.step_out = []

    def pump(self) -> list[Transmit]:
        out = self.node.datagrams_to_send(self.now)
        self.step_out += out
        while (e := self.node.next_event()) is not None:
            self.events.append(e)
            self.step_events.append(e)
        return out

    def feed(self, ifname: str, data: bytes) -> list[Transmit]:
        self.node.receive(self.now, ifname, data)
        return self.pump()

    def advance(self, dt: float, *, every_deadline: bool = True) -> None:
        """Time passes: ``handle_timer`` at each deadline up to ``now + dt`` (or, with
        ``every_deadline`` off, a late driver: once, at the end), then at the end."""
        target = self.now + dt
        if every_deadline:
            for _ in range(10_000):
                t = self.node.next_timer()
                if t is None or t > target:
                    break
                self._handle(max(t, self.now))
            else:
                raise AssertionError("the timers never settle")
        self._handle(target)

    def _handle(self, at: float) -> None:
        self.now = at
        self.node.handle_timer(at)
        self.last_handled = at
        self.pump()

    def decoded(self) -> list[IPv6Packet]:
        """The step's originated packets, decoded with checksums verified (tunnelled packets
        are left to the caller: their inner octets are whatever arrived)."""
        return [decode(t.data) for t in self.step_out if not self.is_tunnel(t)]

    def is_tunnel(self, t: Transmit) -> bool:
        address = getattr(self.node, "address", None)
        return (len(t.data) >= 80 and t.data[6] == 41 and address is not None
                and t.data[8:24] == address.packed)

    def check_common(self) -> None:
        n = self.node
        for p in self.decoded():
            msg = p.payload
            if isinstance(msg, BindingAcknowledgement):
                assert msg.status in RFC3775_STATUSES
        counted = {k[len("dropped."):]: v for k, v in n.counters.items()
                   if k.startswith("dropped.") and v}
        seen = Counter(e.reason for e in self.events if isinstance(e, PacketDropped))
        assert counted == dict(seen)
        assert all(e.reason for e in self.events if isinstance(e, PacketDropped))
        t = n.next_timer()
        assert t is None or t >= self.last_handled, (t, self.last_handled)


# -- the binding anchors -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    care_of: IPv6Address
    expires: float
    sequence: int
    peer: str | None


DT = st.sampled_from([0.25, 1.0, 3.75, 60.0, 299.75, 300.0, 399.75, 400.0, 400.25, 600.0,
                      1000.0])
LIFETIMES = st.sampled_from([0, 4, 8, 100, 296, 300, 400, 600, 1000, 0xFFFF * 4])
SEQ_MODES = st.sampled_from(["next", "next", "next", "same", "older", "half", "random"])


class AnchorMachine(RuleBasedStateMachine):
    """A MAP or home agent against a model of its binding cache. Subclasses set the class
    constants and :meth:`admission` (the engine-specific checks in their RFC order)."""

    ADDR: IPv6Address
    PREFIX: IPv6Network
    LINK = "link"
    """The interface bound addresses are proxied on."""
    TOWARDS_COA = "down"
    FLAGS = BUFlags.A | BUFlags.M
    KEYS: tuple[IPv6Address, ...]
    """Addresses MNs bind (RCoAs / home addresses), valid and invalid ones."""
    COAS: tuple[IPv6Address, ...]
    MAX_LIFETIME = 600
    PREFIX_LIFETIME: int | None = None
    MNS = 3
    SECURE = False

    def __init__(self) -> None:
        super().__init__()
        self.security = PeerSecurity(peer=None) if self.SECURE else None
        self.node = self.make()
        self.d = Driver(self.node)
        self.model: dict[IPv6Address, Bound] = {}
        self.last_seq = [0] * self.MNS
        self.crashed = False
        self.rng = random.Random(0)

    def make(self) -> BindingAnchor:
        raise NotImplementedError

    def peer_of(self, mn: int) -> str | None:
        return f"mn-{mn}" if self.SECURE else None

    def admission(self, peer: str | None, key: IPv6Address, coa: IPv6Address,
                  existing: Bound | None, dereg: bool) -> int:
        raise NotImplementedError

    # -- the model -----------------------------------------------------------------------------

    def expect(self, mn: int, key: IPv6Address, coa: IPv6Address, seq: int, lifetime: int
               ) -> tuple[int, int, int]:
        """(status, sequence, lifetime) of the BA: the engine's admission, then RFC 6275
        §9.5.1 (sequence window 135, deregistration 133) and §10.3.1 (granted lifetime)."""
        existing = self.model.get(key)
        dereg = lifetime == 0 or coa == key
        status = self.admission(self.peer_of(mn), key, coa, existing, dereg)
        if status:
            return status, seq, 0
        if existing is not None and not sequence_newer(seq, existing.sequence):
            return 135, existing.sequence, 0
        if dereg:
            return (133 if existing is None else 0), seq, 0
        granted = min(lifetime, self.MAX_LIFETIME)
        if self.PREFIX_LIFETIME is not None:
            granted = min(granted, self.PREFIX_LIFETIME)
        granted &= ~3
        return (0, seq, granted) if granted else (129, seq, 0)

    def sync_from_events(self) -> None:
        """Apply the step's cache events to the model (packets the test could not predict:
        mutations that still make a valid BU). Every change must be announced by an event:
        the invariant compares the whole cache with the model afterwards."""
        for e in self.d.step_events:
            if isinstance(e, BindingCacheUpdated):
                entry = self.node.cache.get(e.home_address)
                assert entry is not None and entry.care_of == e.care_of_address
                self.model[e.home_address] = Bound(entry.care_of, entry.expires, entry.sequence,
                                                   entry.peer)
            elif isinstance(e, BindingRemoved):
                self.model.pop(e.home_address, None)

    def check_tunnels(self) -> None:
        """MAP-04/MAP-10 (and the HA's §10.4.2): a tunnel goes only to the care-of address
        bound to the inner destination."""
        for t in self.d.step_out:
            if self.d.is_tunnel(t):
                outer_dst, inner_dst = A(t.data[24:40]), A(t.data[64:80])
                assert len(t.data) == 40 + int.from_bytes(t.data[4:6], "big")
                bound = self.model.get(inner_dst)
                assert bound is not None and bound.care_of == outer_dst, (inner_dst, outer_dst)

    def _before(self, peer: str | None = None) -> None:
        self.d.begin()
        if self.security is not None:
            self.security.peer = peer

    # -- rules ---------------------------------------------------------------------------------

    @rule(mn=st.integers(0, 2), k=st.integers(0, 100), c=st.integers(0, 100),
          seq_mode=SEQ_MODES, lifetime=LIFETIMES, raw_seq=st.integers(0, 0xFFFF))
    def binding_update(self, mn: int, k: int, c: int, seq_mode: str, lifetime: int,
                       raw_seq: int) -> None:
        """A BU from an MN: new, refresh, moved, out of window, deregistration, to keys it may
        or may not use (RFC 6275 §9.5.1, §10.3.1; RFC 4140 §6.2)."""
        key = self.KEYS[k % len(self.KEYS)]
        coa = self.COAS[c % len(self.COAS)]
        self.send_bu(mn, key, coa, seq_mode, lifetime, raw_seq)

    @rule(mn=st.integers(0, 2), k=st.integers(0, 100), c=st.integers(0, 100),
          lifetime=LIFETIMES)
    def someone_elses_binding(self, mn: int, k: int, c: int, lifetime: int) -> None:
        """A BU for a key bound by another MN (RFC 4140 §12.1 when peers are authenticated)."""
        if not self.model:
            return
        keys = sorted(self.model)
        key = keys[k % len(keys)]
        owner = self.model[key].peer
        others = [i for i in range(self.MNS) if self.peer_of(i) != owner] or [mn]
        self.send_bu(others[mn % len(others)], key, self.COAS[c % len(self.COAS)], "next",
                     lifetime, 0)

    def send_bu(self, mn: int, key: IPv6Address, coa: IPv6Address, seq_mode: str,
                lifetime: int, raw_seq: int) -> None:
        existing = self.model.get(key)
        base = existing.sequence if existing is not None else self.last_seq[mn]
        seq = {"next": base + 1, "same": base, "older": base - 1 - raw_seq % 100,
               "half": base + 0x8000, "random": raw_seq}[seq_mode] & 0xFFFF
        self.last_seq[mn] = seq
        self._before(self.peer_of(mn))
        expected = self.expect(mn, key, coa, seq, lifetime)
        bu = binding_update(coa, self.ADDR, key, sequence=seq, flags=self.FLAGS,
                            lifetime=lifetime)
        self.d.feed(self.TOWARDS_COA, bu.encode())
        if self.crashed:
            assert self.d.step_out == [] and self.d.step_events == []
            return
        bas = [p for p in self.d.decoded() if isinstance(p.payload, BindingAcknowledgement)]
        assert len(bas) == 1, bas
        pkt = bas[0]
        ba = pkt.payload
        assert isinstance(ba, BindingAcknowledgement)
        # RFC 6275 §9.5.4: to the source, a Type 2 routing header with the bound address.
        assert pkt.src == self.ADDR and pkt.dst == coa
        assert pkt.extension_headers == (RoutingHeaderType2(key),)
        assert (ba.status, ba.sequence, ba.lifetime) == expected, (key, coa, existing)
        status, _, granted = expected
        updated = [e for e in self.d.step_events if isinstance(e, BindingCacheUpdated)]
        removed = [e for e in self.d.step_events if isinstance(e, BindingRemoved)]
        if status == 0 and granted:
            self.model[key] = Bound(coa, self.d.now + granted, seq, self.peer_of(mn))
            assert [(e.home_address, e.care_of_address, e.lifetime) for e in updated] == [
                (key, coa, granted)]
        else:
            assert updated == []
        if status == 0 and not granted:
            del self.model[key]
            assert [(e.home_address, e.reason) for e in removed] == [(key, "deregistered")]
        else:
            assert removed == []

    @rule(k=st.integers(0, 100), hop_limit=st.sampled_from([64, 64, 2, 1]))
    def data_for_an_address(self, k: int, hop_limit: int) -> None:
        """MAP-04 / MAP-10 (RFC 6275 §10.4.2): bound → tunnelled to the care-of address;
        unbound in the served prefix → dropped, counted, ICMPv6 code 3 (rate-limited)."""
        key = self.KEYS[k % len(self.KEYS)]
        self._before()
        raw = IPv6Packet(CN, key, UDP(4000, 5000, b"data"), hop_limit=hop_limit).encode()
        self.d.feed("up", raw)
        if self.crashed:
            assert self.d.step_out == []
            return
        tunnels = [t for t in self.d.step_out if self.d.is_tunnel(t)]
        bound = self.model.get(key)
        if key == self.ADDR:
            assert tunnels == []
        elif bound is not None and hop_limit > 1:
            (t,) = tunnels
            assert t.data[24:40] == bound.care_of.packed
            assert t.data[40:] == raw[:7] + bytes((hop_limit - 1,)) + raw[8:]
        else:
            assert tunnels == []
            if bound is None and key in self.PREFIX:
                assert [e.reason for e in self.d.step_events
                        if isinstance(e, PacketDropped)] == ["no-binding"]

    @rule(k=st.integers(0, 100), right=st.booleans(), c=st.integers(0, 100))
    def reverse_tunnelled(self, k: int, right: bool, c: int) -> None:
        """MAP-05 (RFC 6275 §10.4.5): the inner source must be bound and the outer source its
        care-of address; otherwise dropped and counted."""
        key = self.KEYS[k % len(self.KEYS)]
        bound = self.model.get(key)
        outer = bound.care_of if bound is not None and right else self.COAS[c % len(self.COAS)]
        inner = IPv6Packet(key, CN, UDP(5000, 4000, b"from the MN")).encode()
        self._before()
        self.d.feed(self.TOWARDS_COA, encapsulate_raw(outer, self.ADDR, inner))
        if self.crashed:
            return
        reasons = [e.reason for e in self.d.step_events if isinstance(e, PacketDropped)]
        if bound is None:
            assert reasons == ["reverse-tunnel-unbound"]
        elif bound.care_of != outer:
            assert reasons == ["reverse-tunnel-mismatch"]
        else:
            assert reasons == []
            (p,) = self.d.decoded()
            assert p.src == key and p.dst == CN and p.hop_limit == 63

    @rule(k=st.integers(0, 100), dad=st.booleans(), hop255=st.booleans())
    def neighbor_solicitation(self, k: int, dad: bool, hop255: bool) -> None:
        """Proxy ND (RFC 6275 §10.4.1, RFC 4861 §7.2.8): a bound key is defended; unbound
        ones are not ours; hop limit other than 255 is dropped."""
        key = self.KEYS[k % len(self.KEYS)]
        src = A("::") if dad else A(int(self.PREFIX.network_address) + 0xFE)
        ns = IPv6Packet(src, solicited_node(key), NeighborSolicitation(key),
                        hop_limit=255 if hop255 else 64)
        self._before()
        self.d.feed(self.LINK, ns.encode())
        if self.crashed:
            return
        nas = [p for p in self.d.decoded() if isinstance(p.payload, NeighborAdvertisement)]
        if not hop255:
            assert nas == []
            assert [e.reason for e in self.d.step_events
                    if isinstance(e, PacketDropped)] == ["nd-hop-limit"]
        elif key in self.model:
            (na,) = nas
            assert isinstance(na.payload, NeighborAdvertisement) and na.payload.target == key
        elif not self.node.is_local(key):
            assert nas == []

    @rule(ident=st.integers(0, 0xFFFF), data=st.binary(max_size=16))
    def echo_request(self, ident: int, data: bytes) -> None:
        self._before()
        self.d.feed("up", IPv6Packet(CN, self.ADDR, EchoRequest(ident, 1, data)).encode())
        if self.crashed:
            return
        (p,) = self.d.decoded()
        assert p.dst == CN and p.payload == EchoReply(ident, 1, data)

    @rule(g=GARBAGE, ifname=st.sampled_from(["up", "down", "link"]), peer=st.integers(0, 3))
    def garbage(self, g: tuple[int, int | None, list[tuple[int, int]], bytes, bool],
                ifname: str, peer: int) -> None:
        """Random, truncated and mutated packets: dropped or answered, never raised."""
        index, cut, flips, octets, random_octets = g
        samples = self.samples()
        data = octets if random_octets else mutate(samples[index % len(samples)], cut, flips)
        self._before(self.peer_of(peer) if peer < self.MNS else "stranger")
        self.d.feed(ifname if ifname in self.node.interfaces else self.LINK, data)
        self.sync_from_events()

    def samples(self) -> list[bytes]:
        key = next(iter(self.model), self.KEYS[0])
        coa = self.model[key].care_of if key in self.model else self.COAS[0]
        inner = IPv6Packet(key, CN, UDP(1, 2, b"x")).encode()
        return [binding_update(coa, self.ADDR, key, sequence=(self.last_seq[0] + 1) & 0xFFFF,
                               flags=self.FLAGS).encode(),
                binding_update(coa, self.ADDR, key, sequence=(self.last_seq[0] + 1) & 0xFFFF,
                               flags=self.FLAGS, lifetime=0).encode(),
                encapsulate_raw(coa, self.ADDR, inner),
                IPv6Packet(CN, key, UDP(4000, 5000, b"payload")).encode(),
                IPv6Packet(CN, self.ADDR, EchoRequest(1, 1, b"")).encode(),
                IPv6Packet(CN, solicited_node(key), NeighborSolicitation(key),
                           hop_limit=255).encode()]

    @rule(dt=DT, every_deadline=st.booleans())
    def time_passes(self, dt: float, every_deadline: bool) -> None:
        """MAP-07 / RFC 6275 §9.5.2: every entry goes away when its lifetime runs out."""
        self._before()
        self.d.advance(dt, every_deadline=every_deadline)
        if self.crashed:
            return
        due = {k for k, b in self.model.items() if b.expires <= self.d.now}
        removed = {e.home_address for e in self.d.step_events
                   if isinstance(e, BindingRemoved) and e.reason == "expired"}
        assert removed == due
        for k in due:
            del self.model[k]

    @rule()
    def crash(self) -> None:
        self._before()
        self.node.crash(self.d.now)
        self.crashed = True
        assert self.node.next_timer() is None

    @rule()
    def restart(self) -> None:
        if not self.crashed:
            return
        self._before()
        self.node.restart(self.d.now)
        self.d.pump()
        self.crashed = False
        self.model.clear()  # RFC 4140 §10: volatile bindings are lost

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def output_and_counters(self) -> None:
        self.d.check_common()
        self.check_tunnels()

    @invariant()
    def cache_matches_the_model(self) -> None:
        if self.crashed:
            return
        got = {e.address: Bound(e.care_of, e.expires, e.sequence, e.peer)
               for e in self.node.bindings()}
        assert got == self.model
        for e in self.node.bindings():
            assert e.expires > self.d.now
            assert e.address in self.PREFIX
            assert e.flags & self.FLAGS == self.FLAGS
            self.entry_ok(e.address, e.care_of)

    def entry_ok(self, key: IPv6Address, coa: IPv6Address) -> None:
        """Engine-specific invariant on one entry."""
