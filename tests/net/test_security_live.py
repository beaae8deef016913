"""Issue 9 on real kernels: an attacker's station on access router ar1's cell (one more veth
port on the cell's bridge, in a namespace of its own) sends, during the CBR flow of figure1, a
rogue Router Advertisement every 100 ms (a prefix of its own and a MAP option with Dist 1,
Pref 15, built by scapy) and three bursts of forged Binding Errors "from" the MAP to the
mobile node (status 1, then status 2 0.5 ms later). The same run without the attacker is the
baseline. The mobile node must drop every rogue RA, keep its MAP, never register its LCoA with
the home agent, and lose no packet outside its handovers (issue 9, items 1 and 5)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from hmipv6.core.node import link_local_for
from hmipv6.net.topology import Topology
from hmipv6.sim.scenario import AccessRouterSpec, MapSpec, MobileNodeSpec, load
from hmipv6.sim.traffic import decode_probe
from hmipv6.wire.addr import interface_address
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, IPv6Packet, decode
from hmipv6.wire.mobility import BEStatus, BindingError, BindingUpdate
from hmipv6.wire.pcap import decode_ethernet, read_pcap
from tests.conftest import need_root
from tests.security.mn_attack_support import ATTACKER, ROGUE_MAP, scapy_rogue_ra

pytestmark = pytest.mark.netns

ETH_P_ALL = 0x0003
MOVE_AT = 5.0
OVERRIDES = (f"moves[1].at={MOVE_AT}s", "flows[0].stop=7s")
INTERVAL = 0.01
"""figure1's CBR interval."""
DURATION = 8.0
RA_TIMES = [1.0 + i * 0.1 for i in range(38)]  # 1.0 s .. 4.7 s, before the move at 5 s
BE_BURSTS = (2.0, 3.0, 4.0)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class CellAttacker:
    """A station of its own on ``router``'s cell bridge, sending frames at scheduled times."""

    def __init__(self, router: str = "ar1") -> None:
        self.router = router
        self.namespace = f"hm-{os.getpid()}-atk"
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self, topo: Topology, t0: float) -> None:
        from pyroute2 import netns

        sc = topo.scenario
        mn = sc.nodes["mn"]
        ar = sc.nodes[self.router]
        map1 = sc.nodes["map1"]
        assert isinstance(mn, MobileNodeSpec) and isinstance(ar, AccessRouterSpec)
        assert isinstance(map1, MapSpec)
        iid = int(mn.interface_id)
        lcoa = interface_address(ar.prefix, iid)
        rcoa = interface_address(map1.address, iid)
        mac = link_local_for(ATTACKER, "wlan0")[1]
        mn_mac = link_local_for("mn", "wlan0")[1]
        ar_ns = topo.namespace(self.router)
        _ip("netns", "add", self.namespace)
        _ip("netns", "exec", self.namespace, "sysctl", "-qw",
            "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        _ip("-n", ar_ns, "link", "add", "m-atk", "type", "veth", "peer", "name", "atk0",
            "netns", self.namespace)
        _ip("-n", ar_ns, "link", "set", "m-atk", "master", "wlan0", "up")
        _ip("-n", self.namespace, "link", "set", "atk0", "address",
            ":".join(f"{b:02x}" for b in mac), "up")
        sock = netns.create_socket(self.namespace, socket.AF_PACKET, socket.SOCK_RAW,
                                   socket.htons(ETH_P_ALL))
        sock.bind(("atk0", ETH_P_ALL))
        self._sock = sock
        ipv6 = b"\x86\xdd"
        ra = b"\x33\x33\x00\x00\x00\x01" + mac + ipv6 + scapy_rogue_ra()
        frames: list[tuple[float, bytes]] = [(t0 + t, ra) for t in RA_TIMES]
        map_address = map1.address
        for at in BE_BURSTS:
            for dt, status in ((0.0, BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION),
                               (0.0005, BEStatus.UNRECOGNIZED_MH_TYPE)):
                be = IPv6Packet(map_address, lcoa, BindingError(status, rcoa)).encode()
                frames.append((t0 + at + dt, mn_mac + mac + ipv6 + be))
        frames.sort(key=lambda f: f[0])

        def loop() -> None:
            for at, frame in frames:
                if self._stop.wait(max(at - time.monotonic(), 0.0)):
                    return
                sock.send(frame)
                self.sent += 1

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True, timeout=30)


def _lost_between(out: Path, start: float, stop: float) -> list[float]:
    """When the flow's packets the mobile node never received were sent, for those sent in
    [start, stop) (its daemon's log: each probe received carries its sequence number and its
    sending time; a missing number was sent one interval after the one before it)."""
    received: dict[int, float] = {}
    for line in (out / "logs" / "mn.jsonl").read_text().splitlines():
        d = json.loads(line)
        if d["kind"] == "arrival" and d["flow"] == 0:
            probe = decode_probe(bytes.fromhex(d["probe"]))
            assert probe is not None
            received[probe.sequence] = probe.sent_at
    seqs = sorted(received)
    lost = []
    for seq in range(seqs[0], seqs[-1] + 1):
        if seq not in received:
            before = max(x for x in seqs if x < seq)
            lost.append(received[before] + (seq - before) * INTERVAL)
    return [t for t in lost if start <= t < stop]


def test_rogue_ra_and_forged_binding_errors_on_a_live_cell(tmp_path: Path) -> None:
    need_root()
    from hmipv6.net.testbed import run

    base = run("figure1", overrides=OVERRIDES, duration=DURATION, out=tmp_path / "base").report
    attacker = CellAttacker()
    try:
        attacked = run("figure1", overrides=OVERRIDES, duration=DURATION,
                       out=tmp_path / "attacked", on_start=attacker.start).report
    finally:
        attacker.close()
    assert attacker.sent == len(RA_TIMES) + 2 * len(BE_BURSTS)
    sc = load("figure1", OVERRIDES)
    map1 = sc.nodes["map1"]
    assert isinstance(map1, MapSpec)
    for report in (base, attacked):
        mn = report["nodes"]["mn"]
        # The home agent still binds the home address to the RCoA at map1; it was told once.
        assert report["nodes"]["ha"]["binding_cache"][0]["coa"] == mn["rcoa"]
        assert IPv6Address(mn["rcoa"]) in map1.rcoa_prefix
        assert report["signalling"]["to_home_agent"] == 1
        assert [h["kind"] for h in report["handovers"]] == ["initial", "intra-domain"]
    # No packet lost beyond the handover's own: none of those sent while the attacker was at
    # work in the mobile node's cell (from its first RA to 0.2 s before the move, leaving
    # the packets in flight at the move to the handover), as without the attacker.
    window = (RA_TIMES[0], MOVE_AT - 0.2)
    assert _lost_between(tmp_path / "base", *window) == []
    assert _lost_between(tmp_path / "attacked", *window) == []
    # (The same count sees the handover's own losses, and any lost in flight at the move.)
    for run_dir, report in ((tmp_path / "base", base), (tmp_path / "attacked", attacked)):
        own = _lost_between(run_dir, MOVE_AT - 0.2, MOVE_AT + 1.0)
        assert len(own) >= report["handovers"][1]["lost"] > 0
    counters = attacked["nodes"]["mn"]["counters"]
    assert 0 < counters["dropped.untrusted-map-option"] <= len(RA_TIMES)
    assert counters["untrusted_map_options"] == counters["dropped.untrusted-map-option"]
    assert counters["binding_error.1"] == len(BE_BURSTS)
    assert counters["binding_error.2"] == len(BE_BURSTS)
    assert "dropped.untrusted-map-option" not in base["nodes"]["mn"]["counters"]
    assert attacked["flows"][0]["received"] > attacked["flows"][0]["sent"] // 2
    # What ar1 heard on its cell (the capture of its bridge, which sees multicast and what
    # is sent to the router, not the unicast BEs between two other ports): every rogue RA,
    # and nothing from the mobile node to the rogue MAP; its binding updates are under ESP.
    mn_mac = link_local_for("mn", "wlan0")[1]
    frames = _frames(tmp_path / "attacked" / "pcap" / "cell-ar1.pcap")
    assert sum(1 for src, _ in frames if src == link_local_for(ATTACKER, "wlan0")[1]) \
        == len(RA_TIMES)
    from_mn = [p for src, p in frames if src == mn_mac]
    assert from_mn and all(ROGUE_MAP not in _addresses(p) for p in from_mn)
    assert not [p for p in from_mn if _innermost(p).payload.__class__ is BindingUpdate]
    assert any(isinstance(_innermost(p).payload, EncapsulatingSecurityPayload) for p in from_mn)


def _frames(path: Path) -> list[tuple[bytes, IPv6Packet]]:
    """(source MAC, packet) of every IPv6 frame of an Ethernet capture."""
    out = []
    for rec in read_pcap(path.read_bytes()).records:
        eth, off = decode_ethernet(rec.data)
        if eth.ethertype == 0x86DD:
            out.append((rec.data[6:12], decode(rec.data[off:])))
    return out


def _innermost(p: IPv6Packet) -> IPv6Packet:
    while isinstance(p.payload, IPv6Packet):
        p = p.payload
    return p


def _addresses(p: IPv6Packet) -> set[IPv6Address]:
    out = {p.src, p.dst}
    while isinstance(p.payload, IPv6Packet):
        p = p.payload
        out |= {p.src, p.dst}
    return out
