"""A scenario's topology built from network namespaces, veth pairs and bridges (pyroute2).

Theory of operation
-------------------
:func:`plan` is pure: it names, for one scenario and run, every namespace and kernel
interface. :class:`Topology` creates them through netlink (pyroute2) and always deletes them.

- One namespace per node, ``hm-<pid>-<node>``.
- One veth pair per ``[[links]]`` entry, each end named as the engine's interface
  (``eth0``...), in its node's namespace.
- One Linux bridge per cell, named ``wlan0`` (the access router's engine interface) in the
  access router's namespace (multicast snooping off, so RAs reach every port), and one veth
  pair per (mobile node, cell): the bridge port ``m-<mn>`` on the router's side, ``c-<ar>``
  on the mobile node's. A mobile node "attaches" to a cell when its ``c-<ar>`` end is set up
  and detaches when it is set down (the bridge port loses its carrier); every cell end of a
  mobile node carries the same MAC (the engine's ``wlan0``), since it is one radio.
- Every interface's MAC is the engine's deterministic one
  (:func:`~hmipv6.core.node.link_local_for`), so a daemon turns a next hop's link-local
  address into a MAC without Neighbor Discovery (the address is the MAC's modified EUI-64).
- Kernel nodes (``kernel``, :mod:`hmipv6.net.kernel_nodes`) are the exception: plain Linux
  routers and correspondents with the kernel's IPv6 on, their address and static routes
  configured once their interfaces are up.
- A relayed kernel node (``relayed``, :mod:`hmipv6.net.relay`) has its links emulated by a
  relay process in its namespace: the kernel's interface ``eth0`` is one end of a veth pair
  whose other end, ``r-eth0``, stays in the namespace, and the link's veth end there is
  ``x-eth0`` (the wire). The relay carries frames between ``r-eth0`` and ``x-eth0``, shaping
  the kernel's. Both relay ends have IPv6 disabled (``net.ipv6.conf.<if>.disable_ipv6``), so
  the kernel neither addresses nor routes them; ``x-eth0`` carries the engine's MAC as
  ``eth0`` does. A capture or a ``link-down`` fault on a relayed node's link uses ``x-eth0``:
  the kernel's own ``eth0`` stays up and keeps its routes, as a router's does when its
  neighbour's cable is pulled (the kernel sees the relay drop the frames).
- The kernel's own IPv6 is disabled in every other namespace (``net.ipv6.conf.{all,default}.
  disable_ipv6 = 1``, written before any interface exists, so each inherits it). The engines
  are the IPv6 stack, in user space, on ``AF_PACKET`` sockets: this kernel has no MIP6 and
  no ip6_tunnel, and drops packets carrying a Type 2 routing header before raw sockets see
  them. With the kernel's IPv6 off it sends no DAD, RS, MLD or ICMPv6 errors of its own, and
  never answers or forwards the engines' packets: only the daemons speak, and a capture shows
  exactly what they sent. ``AF_PACKET`` sees frames whatever that setting.

Teardown (:meth:`Topology.destroy`, also from ``__exit__`` and ``atexit``) removes every
namespace it created; their interfaces go with them. :func:`remove_stale` removes the
namespaces of runs whose process has died.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType

from hmipv6.core.node import link_local_for
from hmipv6.sim.scenario import MobileNodeSpec, Scenario

__all__ = ["Plan", "Port", "Topology", "plan", "relay_names", "remove_stale"]

PREFIX = "hm-"


def relay_names(ifname: str) -> tuple[str, str]:
    """A relayed kernel interface's two relay ends (module docstring): (inner, wire)."""
    return f"r-{ifname}"[:15], f"x-{ifname}"[:15]


@dataclass(frozen=True, slots=True)
class Port:
    """One kernel interface of a node."""

    node: str
    kernel: str
    """Its name in the node's namespace."""
    engine: str
    """The engine interface it carries (``wlan0`` for every cell end of a mobile node; empty
    for a bridge port, which only the bridge uses)."""
    mac: bytes
    cell: str | None = None
    """For a mobile node's cell end: the access router of that cell."""


@dataclass
class Plan:
    run: str
    namespaces: dict[str, str] = field(default_factory=dict)
    """Node → namespace name."""
    ports: dict[str, list[Port]] = field(default_factory=dict)
    captures: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Capture name (``a-b`` per link, ``cell-<ar>`` per cell, as the simulator's pcaps) →
    (node, kernel interface) to capture on."""


def _short(name: str, fallback: str) -> str:
    return name if len(name) <= 15 else fallback[:15]


def plan(sc: Scenario, run: str | None = None) -> Plan:
    """Names of every namespace and interface of ``sc`` for the run ``run`` (default: this
    process id)."""
    p = Plan(run if run is not None else str(os.getpid()))
    for name in sc.nodes:
        p.namespaces[name] = f"{PREFIX}{p.run}-{name}"
        p.ports[name] = []
    for link in sc.links:
        a, b = link.between
        for end, ifname in zip(link.between, link.ifnames, strict=True):
            p.ports[end].append(Port(end, ifname, ifname, link_local_for(end, ifname)[1]))
        p.captures[f"{a}-{b}"] = (a, link.ifnames[0])
    mns = sc.of_role(MobileNodeSpec)
    for ci, c in enumerate(sc.cells):
        ar = c.router
        p.ports[ar].append(Port(ar, "wlan0", "wlan0", link_local_for(ar, "wlan0")[1]))
        p.captures[f"cell-{ar}"] = (ar, "wlan0")
        for mi, mn in enumerate(mns):
            mac = link_local_for(mn.name, "wlan0")[1]
            p.ports[ar].append(Port(ar, _short(f"m-{mn.name}", f"m{mi}"), "", mac))
            p.ports[mn.name].append(Port(mn.name, _short(f"c-{ar}", f"c{ci}"), "wlan0", mac,
                                         cell=ar))
    return p


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _write_sysctl(namespace: str, key: str, value: str) -> None:
    from pyroute2 import netns

    # /proc/sys/net belongs to the namespace of the thread that opens it.
    netns.pushns(namespace)
    try:
        with open(f"/proc/sys/{key.replace('.', '/')}", "w", encoding="ascii") as f:
            f.write(value)
    finally:
        netns.popns()


class Topology:
    """The namespaces and links of one run (module docstring). A context manager."""

    def __init__(self, sc: Scenario, run: str | None = None,
                 kernel: frozenset[str] = frozenset(),
                 relayed: frozenset[str] = frozenset()) -> None:
        self.scenario = sc
        self.plan = plan(sc, run)
        self.kernel = kernel
        """Nodes run by the kernel (no daemon; :mod:`hmipv6.net.kernel_nodes`)."""
        self.relayed = relayed & kernel
        """Kernel nodes whose links a relay emulates (:mod:`hmipv6.net.relay`)."""
        self.created: list[str] = []
        self._atexit = False
        self._pid = os.getpid()

    def __enter__(self) -> Topology:
        if not self.created:
            self.create()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.destroy()

    def namespace(self, node: str) -> str:
        return self.plan.namespaces[node]

    def wire(self, node: str, ifname: str) -> str:
        """The interface of ``node`` on the link itself: ``x-<ifname>`` for a relayed node,
        else ``ifname``."""
        return relay_names(ifname)[1] if node in self.relayed else ifname

    def create(self) -> None:
        from pyroute2 import NetNS, netns

        from hmipv6.net import kernel_nodes

        if not self._atexit:
            atexit.register(self.destroy)
            self._atexit = True
        sc, p = self.scenario, self.plan
        try:
            for ns in p.namespaces.values():
                self.created.append(ns)
                netns.create(ns)
                if ns not in netns.listnetns():  # seen once, with runs in parallel: retry
                    netns.create(ns)
            for node, ns in p.namespaces.items():
                if node in self.kernel:
                    for key, value in kernel_nodes.sysctls(sc, node):
                        _write_sysctl(ns, key, value)
                    continue
                for key in ("all", "default"):
                    _write_sysctl(ns, f"net.ipv6.conf.{key}.disable_ipv6", "1")
            for link in sc.links:
                (a, b), (ia, ib) = link.between, link.ifnames
                wa, wb = self.wire(a, ia), self.wire(b, ib)
                with NetNS(p.namespaces[a]) as na, NetNS(p.namespaces[b]) as nb:
                    na.link("add", ifname=wa, kind="veth",
                            peer={"ifname": wb, "net_ns_fd": p.namespaces[b]})
                    for node, ns, ifname, wire in ((a, na, ia, wa), (b, nb, ib, wb)):
                        if node in self.relayed:
                            self._relay_ends(node, ns, ifname)
                        self._up(ns, wire, link_local_for(node, ifname)[1])
                        if node in self.relayed:
                            self._up(ns, ifname, link_local_for(node, ifname)[1])
            for c in sc.cells:
                ar = c.router
                with NetNS(p.namespaces[ar]) as nr:
                    nr.link("add", ifname="wlan0", kind="bridge", br_mcast_snooping=0,
                            br_stp_state=0)
                    self._up(nr, "wlan0", link_local_for(ar, "wlan0")[1])
                    bridge = nr.link_lookup(ifname="wlan0")[0]
                    router_ports = {q.mac: q for q in p.ports[ar] if not q.engine}
                    for port in p.ports.values():
                        for q in port:
                            if q.cell != ar:
                                continue
                            rp = router_ports[q.mac]
                            nr.link("add", ifname=rp.kernel, kind="veth",
                                    peer={"ifname": q.kernel,
                                          "net_ns_fd": p.namespaces[q.node]})
                            idx = nr.link_lookup(ifname=rp.kernel)[0]
                            nr.link("set", index=idx, master=bridge)
                            # The bridge-side end never needs to be found by MAC: random.
                            nr.link("set", index=idx, state="up")
                            with NetNS(p.namespaces[q.node]) as nm:
                                i = nm.link_lookup(ifname=q.kernel)[0]
                                nm.link("set", index=i, address=_mac(q.mac))
            for node in sorted(self.kernel):
                with NetNS(p.namespaces[node]) as nk:
                    kernel_nodes.configure(sc, node, nk, self.kernel)
                netns.pushns(p.namespaces[node])
                try:
                    for q in p.ports[node]:
                        kernel_nodes.disable_tx_checksum_offload(q.kernel)
                finally:
                    netns.popns()
        except BaseException:
            self.destroy()
            raise

    def _relay_ends(self, node: str, ns: object, ifname: str) -> None:
        """The kernel's ``ifname`` paired with the relay's inner end, and IPv6 off on both
        relay ends (module docstring); the caller sets them up."""
        inner, wire = relay_names(ifname)
        ns.link("add", ifname=ifname, kind="veth",  # type: ignore[attr-defined]
                peer={"ifname": inner})
        for end in (inner, wire):
            _write_sysctl(self.plan.namespaces[node], f"net/ipv6/conf/{end}/disable_ipv6", "1")
        i = ns.link_lookup(ifname=inner)[0]  # type: ignore[attr-defined]
        ns.link("set", index=i, state="up")  # type: ignore[attr-defined]

    @staticmethod
    def _up(ns: object, ifname: str, mac: bytes) -> None:
        i = ns.link_lookup(ifname=ifname)[0]  # type: ignore[attr-defined]
        ns.link("set", index=i, address=_mac(mac), state="up")  # type: ignore[attr-defined]

    def set_attached(self, mn: str, ar: str, up: bool) -> None:
        """Attach (set up) or detach (set down) the mobile node's end of ``ar``'s cell."""
        from pyroute2 import NetNS

        port = next(q for q in self.plan.ports[mn] if q.cell == ar)
        with NetNS(self.plan.namespaces[mn]) as nm:
            i = nm.link_lookup(ifname=port.kernel)[0]
            nm.link("set", index=i, state="up" if up else "down")

    def set_link(self, node: str, ifname: str, up: bool) -> None:
        """Set the kernel interface ``ifname`` of ``node`` (a veth end, a cell's bridge) up or
        down (a ``link-down`` / ``link-up`` fault)."""
        from pyroute2 import NetNS

        with NetNS(self.plan.namespaces[node]) as ns:
            i = ns.link_lookup(ifname=self.wire(node, ifname))[0]
            ns.link("set", index=i, state="up" if up else "down")

    def destroy(self) -> None:
        """Remove every namespace this topology created (idempotent). Only in the process
        that created them: pyroute2 forks helpers, which must not run this at their exit."""
        from pyroute2 import netns

        if os.getpid() != self._pid:
            return
        while self.created:
            ns = self.created.pop()
            with suppress(OSError):
                netns.remove(ns)


def _occupied() -> set[tuple[int, int]]:
    """(device, inode) of every network namespace some process is in."""
    out = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with suppress(OSError):
                st = os.stat(f"/proc/{pid}/ns/net")
                out.add((st.st_dev, st.st_ino))
    return out


def remove_stale() -> list[str]:
    """Remove the ``hm-<pid>-*`` namespaces of runs whose process no longer exists and in
    which no process runs (a daemon still inside means the run is not over); nothing else."""
    from pyroute2 import netns

    removed = []
    occupied: set[tuple[int, int]] | None = None
    for ns in sorted(netns.listnetns()):
        if not ns.startswith(PREFIX):
            continue
        pid = ns[len(PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        if occupied is None:
            occupied = _occupied()
        try:
            st = os.stat(f"/run/netns/{ns}")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in occupied:
            continue
        with suppress(OSError):
            netns.remove(ns)
            removed.append(ns)
    return removed


@contextmanager
def built(sc: Scenario, run: str | None = None) -> Iterator[Topology]:
    """``with built(sc) as topo:`` — create, yield, always delete."""
    topo = Topology(sc, run)
    try:
        topo.create()
        yield topo
    finally:
        topo.destroy()
