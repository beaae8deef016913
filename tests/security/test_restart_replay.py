"""Issue 9, item 4: replay protection across a MAP process restart.

A testbed daemon is a process; started again within a run, it rebuilds its engines from the
scenario (same seed, same keys). Before, the SAs then started over: the replay window empty
(RFC 4303 §3.4.3), so a local BU captured before the restart passed ESP again, and with the
memory binding store re-created a binding to the old LCoA; and the outbound counter at 1
(§3.3.3), so the mobile node dropped the MAP's BAs as replays until its own retransmissions
pushed past them (about a second). Now the daemon keeps its SAs' sequence state in its
store file (``net.daemon.keep_sa_state``, table ``sa_state``), restored on start.

Each test builds map1 of the figure1 scenario twice, as two daemon processes of one run do
(``build_engines`` + ``provision`` + ``keep_sa_state`` over the same directory), and drives
real local BUs, sealed by the mobile node's own IPsec, through the MAP's ``receive``.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from hmipv6.core.binding_cache import RetainedStore
from hmipv6.core.events import PacketDropped
from hmipv6.core.ipsec import IPsec, SAParams
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.node import Node
from hmipv6.net.daemon import keep_sa_state
from hmipv6.net.sqlite_store import SqliteStore, store_path
from hmipv6.sim.engines import build_engines, make_provisioner, provision
from hmipv6.sim.scenario import load
from hmipv6.wire.ipv6 import DestinationOptions, HomeAddressOption, IPv6Packet, decode
from hmipv6.wire.mobility import BindingAcknowledgement, BindingUpdate, BUFlags

LCOA_1 = IPv6Address("2001:db8:a1::5")
LCOA_2 = IPv6Address("2001:db8:a2::5")


class _Process:
    """One daemon process of map1 (and the mobile node's engines, for its IPsec)."""

    def __init__(self, store_dir: Path, durable: bool) -> None:
        sc = load("figure1", [f"nodes.map1.binding_store={'durable' if durable else 'memory'}"])
        prov = make_provisioner(sc)
        self.bindings = SqliteStore(store_path(store_dir, "map1")) if durable else None
        nodes = build_engines(sc, "hmipv6", prov,
                              durable_store=lambda name: self._bindings(name))
        provision(sc, "hmipv6", prov, nodes)
        m = nodes["map1"]
        assert isinstance(m, MobilityAnchorPoint)
        self.map = m
        self.sa_store = keep_sa_state(m, store_dir)
        self.mn: Node = nodes["mn"]
        self.rcoa = IPv6Address(int(m.rcoa_prefix.network_address) + 0x77)

    def _bindings(self, name: str) -> SqliteStore:
        assert self.bindings is not None
        return self.bindings if name == "map1" else SqliteStore(":memory:")

    def close(self) -> None:
        for s in (self.bindings, self.sa_store):
            if s is not None:
                s.close()


def _bu(mn: IPsec, m: MobilityAnchorPoint, lcoa: IPv6Address, rcoa: IPv6Address,
        seq: int) -> bytes:
    packet = IPv6Packet(lcoa, m.address, BindingUpdate(seq, BUFlags.A | BUFlags.M, 400),
                        (DestinationOptions((HomeAddressOption(rcoa),)),))
    return mn.protect(0.0, packet).encode()


def _answer(m: MobilityAnchorPoint, mn: IPsec, now: float) -> tuple[list[int], list[str]]:
    """The BA statuses the mobile node's IPsec accepts, and the MAP's drop reasons (the
    mobile node's drops are returned as ``mn:<reason>``)."""
    statuses, reasons = [], []
    for t in m.datagrams_to_send(now):
        p = decode(t.data)
        if p.routing_home_address is None:
            continue  # the proxy Neighbor Advertisement
        try:
            ba = mn.unprotect(now, p).packet.payload
        except Exception as exc:
            reasons.append(f"mn:{getattr(exc, 'reason', type(exc).__name__)}")
            continue
        assert isinstance(ba, BindingAcknowledgement)
        statuses.append(int(ba.status))
    while (e := m.next_event()) is not None:
        if isinstance(e, PacketDropped):
            reasons.append(e.reason)
    return statuses, reasons


@pytest.mark.req("SEC-02")
@pytest.mark.parametrize("durable", [False, True], ids=["memory-store", "durable-store"])
def test_a_bu_captured_before_a_map_restart_does_not_pass_again(tmp_path: Path,
                                                                durable: bool) -> None:
    first = _Process(tmp_path, durable)
    mn = first.mn.security
    assert isinstance(mn, IPsec)
    captured = _bu(mn, first.map, LCOA_1, first.rcoa, 1)
    first.map.receive(0.0, "eth0", captured)
    first.map.receive(1.0, "eth0", _bu(mn, first.map, LCOA_2, first.rcoa, 2))
    assert _answer(first.map, mn, 1.0) == ([0, 0], [])
    first.close()

    again = _Process(tmp_path, durable)  # the same run, a new MAP process
    m = again.map
    m.receive(2.0, "eth0", captured)
    assert _answer(m, mn, 2.0) == ([], ["replay"])
    entry = m.cache.get(first.rcoa, 2.0)
    if durable:
        assert entry is not None and entry.care_of == LCOA_2 and entry.sequence == 2
    else:
        assert entry is None  # before: a binding to the old LCoA_1
    # The mobile node recovers at once: its next BU is answered with a BA it accepts
    # (before: the MAP's counter restarted at 1 and the BA was dropped as a replay).
    m.receive(3.0, "eth0", _bu(mn, m, LCOA_2, first.rcoa, 3))
    assert _answer(m, mn, 3.0) == ([0], [])
    entry = m.cache.get(first.rcoa, 3.0)
    assert entry is not None and entry.care_of == LCOA_2
    again.close()


def test_sa_state_survives_through_the_store_and_never_goes_back(tmp_path: Path) -> None:
    """The store holds the state the SAs had when each packet was accepted or sent; an SA
    restored from it keeps counting from there (never below what it already had)."""
    first = _Process(tmp_path, False)
    mn = first.mn.security
    assert isinstance(mn, IPsec)
    for seq in range(1, 6):
        first.map.receive(float(seq), "eth0", _bu(mn, first.map, LCOA_1, first.rcoa, seq))
    _answer(first.map, mn, 6.0)
    sec = first.map.security
    assert isinstance(sec, IPsec)
    want = sorted((sa.direction, sa.next_sequence, sa.replay.right, sa.replay.bitmap)
                  for sa in sec.sad if sa.packets)
    assert want == [("in", 1, 5, 0b11111), ("out", 6, 0, 0)]
    first.close()
    again = _Process(tmp_path, False)
    sec2 = again.map.security
    assert isinstance(sec2, IPsec)
    got = sorted((sa.direction, sa.next_sequence, sa.replay.right, sa.replay.bitmap)
                 for sa in sec2.sad if (sa.direction == "in" and sa.replay.right)
                 or (sa.direction == "out" and sa.next_sequence > 1))
    assert got == want
    again.close()


def test_state_is_restored_only_into_the_same_sa() -> None:
    """An SA negotiated afresh after a restart (IKEv2 under RFC 5380) may reuse an SPI; its
    keys differ, so it starts from zero instead of inheriting another SA's window."""
    store = RetainedStore()
    key_a, key_b = bytes(range(32)), bytes(range(1, 33))
    params = SAParams.make(spi=0x1234, src=None, dst=None, auth_key=key_a)
    first = IPsec(name="a")
    first.attach_state(store)
    sa = first.add_sa(params, "out")
    for _ in range(3):
        sa.take_sequence()
    first._keep(sa)
    same, other = IPsec(name="a"), IPsec(name="a")
    same.add_sa(params, "out")
    other.add_sa(replace(params, auth_key=key_b), "out")
    assert (same.attach_state(store), other.attach_state(store)) == (1, 0)
    (sa_same,), (sa_other,) = list(same.sad), list(other.sad)
    assert (sa_same.next_sequence, sa_other.next_sequence) == (4, 1)
