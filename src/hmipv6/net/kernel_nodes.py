"""Ordinary Linux nodes in a testbed: routers and correspondents run by the kernel itself.

Theory of operation
-------------------
By default (``kernel_nodes``; ``hmipv6 testbed run --daemon-nodes`` turns it off), a
scenario's ``router`` nodes (without ``relay_maps``, which needs the MAP option relay) and
``correspondent`` nodes without ``route_optimisation`` (an unmodified correspondent: it never
processes a binding update) run no daemon: their namespace is a plain Linux IPv6 host or
router, configured through netlink
(pyroute2) from the same scenario:

- sysctls written before any interface exists, so each inherits them: IPv6 on, no DAD (the
  testbed's addresses are unique by construction), no router advertisements accepted, no
  router solicitations, no SLAAC; ``forwarding = 1`` on a router;
- every interface's MAC is the engine's deterministic one (as for a daemon), so the kernel's
  EUI-64 link-local address is the one every daemon's routes already name as next hop;
- the node's own address (a correspondent's, a router's optional one) as a /128 on its
  first interface;
- one static route per routed prefix of the scenario (:mod:`hmipv6.sim.routing`: access
  router prefixes, RCoA prefixes, home prefixes, /128s) via the next hop's link-local
  address, as the simulator's engines have them.

What the kernel sends is shaped with the links' model by the node's relay
(:mod:`hmipv6.net.relay`; :mod:`hmipv6.net.topology` puts it between the kernel's interfaces
and the links).

Checksums: a veth offloads transmit checksums by default (``CHECKSUM_PARTIAL``: the frame
leaves with only the pseudo-header sum in the TCP/UDP checksum field, completed by whichever
kernel finally needs it). A daemon reads the frame's octets with ``AF_PACKET`` and carries
them on in a tunnel, so no kernel ever completes it; :func:`disable_tx_checksum_offload`
turns the offload off on every interface of a kernel node (``ETHTOOL_STXCSUM``, what
``ethtool -K IF tx off`` does), and the kernel computes every checksum before sending.

Neighbours: the kernel resolves its next hops with Neighbor Discovery. The daemons answer
Neighbor Solicitations for their own addresses, link-local ones included (RFC 4861 §7.2.3;
:meth:`hmipv6.core.router.Router.on_neighbor_solicitation`, the anchors'
``_on_neighbor_solicitation``), and address their frames to the kernel's MAC through its
EUI-64 link-local address (:func:`hmipv6.net.daemon.mac_for`), so no static neighbour entry
is needed, but for one kind of neighbour: a correspondent run by a daemon (one a scenario
flow starts or ends at, or one with route optimisation) has no Neighbor Discovery responder
in its engine (:class:`hmipv6.core.correspondent.CorrespondentNode`, a host that never needed
one in the simulator), so a kernel node next to it gets a permanent neighbour entry for its
link-local address, the engine's deterministic MAC. The MAP and the home agent are network
functions on this path: the kernel routes the RCoA prefix and the home prefix to them, and
they tunnel to the care-of address and send what they decapsulate on to the kernel's next
hop.
"""

from __future__ import annotations

import array
import fcntl
import socket
import struct
from typing import Any

from hmipv6.core.node import link_local_for
from hmipv6.sim.scenario import CorrespondentSpec, RouterSpec, Scenario

__all__ = ["KERNEL_SYSCTLS", "configure", "disable_tx_checksum_offload", "kernel_node_names"]

_SIOCETHTOOL, _ETHTOOL_STXCSUM = 0x8946, 0x17
NUD_PERMANENT = 0x80

KERNEL_SYSCTLS = (
    ("net.ipv6.conf.all.disable_ipv6", "0"), ("net.ipv6.conf.default.disable_ipv6", "0"),
    ("net.ipv6.conf.all.accept_dad", "0"), ("net.ipv6.conf.default.accept_dad", "0"),
    ("net.ipv6.conf.all.accept_ra", "0"), ("net.ipv6.conf.default.accept_ra", "0"),
    ("net.ipv6.conf.all.autoconf", "0"), ("net.ipv6.conf.default.autoconf", "0"),
    ("net.ipv6.conf.all.router_solicitations", "0"),
    ("net.ipv6.conf.default.router_solicitations", "0"),
)
"""Written in every kernel node's namespace before its interfaces exist."""
FORWARDING = (("net.ipv6.conf.all.forwarding", "1"), ("net.ipv6.conf.default.forwarding", "1"))


def kernel_node_names(sc: Scenario) -> frozenset[str]:
    """The nodes that run as plain kernels (module docstring). A node a scenario flow starts
    or ends at keeps its daemon: the flows' probes are the engines' (use applications,
    :mod:`hmipv6.net.apps`, for kernel traffic)."""
    endpoints = {n for f in sc.flows for n in (f.src, f.dst)}
    out = set()
    for name, spec in sc.nodes.items():
        if name in endpoints:
            continue
        if (isinstance(spec, RouterSpec) and not spec.relay_maps) or (
                isinstance(spec, CorrespondentSpec) and not spec.route_optimisation):
            out.add(name)
    return frozenset(out)


def sysctls(sc: Scenario, name: str) -> tuple[tuple[str, str], ...]:
    return KERNEL_SYSCTLS + (FORWARDING if isinstance(sc.nodes[name], RouterSpec) else ())


def configure(sc: Scenario, name: str, ns: Any, kernel: frozenset[str] = frozenset()) -> None:
    """Address, routes and static neighbours of kernel node ``name`` through ``ns`` (a
    pyroute2 ``NetNS`` of its namespace, interfaces already up); ``kernel``: every kernel
    node of the run."""
    spec = sc.nodes[name]
    ifaces = sc.interfaces.get(name, ())
    for iface in ifaces:
        peer = iface.peer
        if (peer is None or iface.peer_ifname is None or peer in kernel
                or not isinstance(sc.nodes[peer], CorrespondentSpec)):
            continue
        # A correspondent's engine has no Neighbor Discovery responder (module docstring):
        # its link-local address, the next hop, is resolved statically.
        peer_ll, mac = link_local_for(peer, iface.peer_ifname)
        ns.neigh("add", dst=str(peer_ll), lladdr=":".join(f"{b:02x}" for b in mac),
                 ifindex=ns.link_lookup(ifname=iface.name)[0], state=NUD_PERMANENT,
                 family=10)
    address = getattr(spec, "address", None)
    if address is not None and ifaces:
        idx = ns.link_lookup(ifname=ifaces[0].name)[0]
        ns.addr("add", index=idx, address=str(address), prefixlen=128,
                flags=0x02)  # IFA_F_NODAD
    routing = sc.routing
    if routing is None or name not in routing.nodes:
        return
    for hop in routing.table(name):
        if hop.via is None:
            continue
        iface = sc.interface_towards(name, hop.via)
        assert iface.peer_ifname is not None
        gateway = link_local_for(hop.via, iface.peer_ifname)[0]
        ns.route("add", dst=str(hop.prefix), gateway=str(gateway),
                 oif=ns.link_lookup(ifname=iface.name)[0], family=10)


def disable_tx_checksum_offload(ifname: str) -> None:
    """``ethtool -K ifname tx off`` (module docstring), in the calling thread's namespace."""
    value = array.array("B", struct.pack("=II", _ETHTOOL_STXCSUM, 0))
    addr, _ = value.buffer_info()
    ifreq = struct.pack("16sP", ifname.encode(), addr)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), _SIOCETHTOOL, ifreq)
