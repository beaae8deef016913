"""An attacker station on a simulated cell: the helpers of the mobile-node-side security tests
(rogue MAP, forged Binding Errors, rewritten home BUs). No tests here.

The attacker is one more station of an access router's :class:`~hmipv6.sim.links.Cell`, as a
laptop on the same Wi-Fi would be: what it sends reaches the other stations through the same
shared medium, at scheduled simulated times, and every engine involved is the real one.
Packets are built with scapy (an independent encoder) where that helps.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv6Address
from typing import Any

from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptMAP, ICMPv6NDOptPrefixInfo, IPv6

from hmipv6.core.events import Event, PacketDropped
from hmipv6.core.mobile_node import MobileNode
from hmipv6.core.node import link_local_for
from hmipv6.sim.network import Network, SimulationResult, run
from hmipv6.sim.report import build_report
from hmipv6.sim.scenario import Scenario, load
from hmipv6.wire.icmpv6 import MapOption, PrefixInformation, RouterAdvertisement
from hmipv6.wire.ipv6 import IPv6Packet

ATTACKER = "attacker"
ATTACKER_LL, ATTACKER_MAC = link_local_for(ATTACKER, "wlan0")
ROGUE_MAP = IPv6Address("2001:db8:666::1")
"""The attacker's MAP: an address it controls, reachable through the Internet."""
ALL_NODES = IPv6Address("ff02::1")

__all__ = ["ATTACKER", "ATTACKER_LL", "ROGUE_MAP", "Attack", "rogue_ra", "scapy_rogue_ra"]


def rogue_ra(prefix: str | None = None, *, pref: int = 15, dist: int = 1,
             src: IPv6Address = ATTACKER_LL, map_address: IPv6Address = ROGUE_MAP) -> bytes:
    """A Router Advertisement as RFC 4861 §4.2 makes it valid (link-local source, hop limit
    255) advertising ``map_address`` with the best preference (RFC 4140 §4.2 MAP option)."""
    options: list[object] = [MapOption(dist=dist, pref=pref, r=True, valid_lifetime=3600,
                                       address=map_address)]
    if prefix is not None:
        options.insert(0, PrefixInformation(
            prefix_length=64, on_link=True, autonomous=True, router_address=False,
            valid_lifetime=2592000, preferred_lifetime=604800,
            prefix=IPv6Address(prefix.split("/")[0])))
    ra = RouterAdvertisement(router_lifetime=1800, options=tuple(options))  # type: ignore[arg-type]
    return IPv6Packet(src, ALL_NODES, ra, hop_limit=255).encode()


def scapy_rogue_ra(*, pref: int = 15, dist: int = 1, src: IPv6Address = ATTACKER_LL,
                   map_address: IPv6Address = ROGUE_MAP) -> bytes:
    """The rogue RA built by scapy, an independent encoder: its ``ICMPv6NDOptMAP`` (RFC 4140
    §4.2, type 23) with Dist, Pref, R and the MAP's address, and a Prefix Information option
    for a prefix of the attacker's (scapy computes the checksum)."""
    pkt = (IPv6(src=str(src), dst=str(ALL_NODES), hlim=255)
           / ICMPv6ND_RA(routerlifetime=1800)
           / ICMPv6NDOptPrefixInfo(prefix="2001:db8:666:1::", prefixlen=64, L=1, A=1)
           / ICMPv6NDOptMAP(dist=dist, pref=pref, R=1, validlifetime=3600,
                            addr=str(map_address)))
    return bytes(pkt)


class Attack:
    """A built scenario with an attacker station attached to the cell of ``router``."""

    def __init__(self, scenario: Scenario | str, router: str = "ar1", *,
                 protocol: str = "hmipv6", overrides: tuple[str, ...] = ()) -> None:
        sc = scenario if isinstance(scenario, Scenario) else load(scenario, overrides)
        self.net = Network(sc, protocol=protocol, keep_events=True)
        self.cell = self.net.cells[router].cell
        self.heard: list[bytes] = []
        self.report: dict[str, Any] = {}
        """The run's report (format ``hmipv6-report/1``), once :meth:`run` returned."""
        self.cell.attach(ATTACKER, self.heard.append)

    def at(self, time: float, make: Callable[[], bytes | None], to: str | None = None) -> None:
        """Transmit what ``make()`` returns (None: nothing) at simulated ``time``."""
        def fire() -> None:
            data = make()
            if data is not None:
                self.cell.send(ATTACKER, data, to if to is None or self.cell.is_attached(to)
                               else None)
        self.net.sched.schedule(time, fire)

    def every(self, start: float, stop: float, interval: float,
              make: Callable[[], bytes | None], to: str | None = None) -> None:
        t = start
        while t < stop:
            self.at(t, make, to)
            t += interval

    def run(self) -> SimulationResult:
        net = self.net
        net.run()
        net.metrics.finish({i: s.sent for i, s in net.sources.items()})
        self.report = build_report(net)
        return SimulationResult(report=self.report, counters={}, network=net)

    def mn(self, name: str = "mn") -> MobileNode:
        node = self.net.nodes[name]
        assert isinstance(node, MobileNode)
        return node

    def events(self, node: str, kind: type[Event] = Event) -> list[Event]:
        log = self.net.event_log or []
        return [e for n, e in log if n == node and isinstance(e, kind)]

    def drops(self, node: str, reason: str) -> list[PacketDropped]:
        return [e for e in self.events(node, PacketDropped)
                if isinstance(e, PacketDropped) and e.reason == reason]


def baseline(scenario: str, *, protocol: str = "hmipv6",
             overrides: tuple[str, ...] = ()) -> SimulationResult:
    """The same run without any attacker."""
    return run(scenario, protocol=protocol, overrides=overrides)

