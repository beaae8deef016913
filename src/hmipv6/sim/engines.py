"""Engines from a scenario, for both worlds: the simulator and the testbed's daemons.

Theory of operation
-------------------
:func:`build_engines` turns every node spec of a :class:`~hmipv6.sim.scenario.Scenario` into
its sans-IO engine (``correspondent`` → :class:`CorrespondentNode`, ``home-agent`` →
:class:`HomeAgent`, ``router`` → :class:`Router` (with ``relay_maps``: an
:class:`AccessRouter` relaying MAP options, RFC 4140 §7.1.1), ``map`` →
:class:`MobilityAnchorPoint`, ``access-router`` → :class:`AccessRouter`, ``mobile-node`` →
:class:`MobileNode`), each with its own ``random.Random`` seeded from ``"{seed}/node/{name}"``,
interfaces named as the scenario derives them and static routes whose next hops are the
neighbours' deterministic link-local addresses (:func:`~hmipv6.core.node.link_local_for`).
:func:`provision` installs the seed-derived MN–MAP and MN–HA security associations.

Under the ``rfc5380`` profile (HMIPv6) the MAP option's R flag means the MAP allocates the RCoA
(RFC 5380 §5, RFC 4877 §9), obtained with IKEv2 (§12.1, X5380-05): every MAP is an
:class:`~hmipv6.core.ike.engines.IkeMobilityAnchorPoint` with an
:class:`~hmipv6.core.ike.exchange.IkeResponder` (rng ``"{seed}/ike/{name}"``) holding one
pre-shared key per mobile node identity (the node name), and every mobile node an
:class:`~hmipv6.core.ike.client.IkeClient` with the matching key per MAP address; the keys are
derived from the seed (:func:`ike_psk`, HKDF as for the provisioned SAs). The MN–MAP SAs are
then not provisioned: the Child SA negotiated over UDP 500 protects the local BU (always an
ESP suite, ``esp-null-hmac-sha256``, even with ``security = "ah"``). With ``security =
"none"`` IKE still runs (the RCoA must come from the MAP) with a private IPsec on each side
whose SAs nothing uses. :func:`ike_exports` gives the negotiated SAs for ``--export-sa``.

Nothing here owns a clock or touches the OS: the simulator (``sim.network``) builds every
engine in one process; a testbed daemon (``net.daemon``) builds them all too (it is cheap and
gives every process the same configuration and keys) and drives only its own.

:func:`observe` hooks what a node's applications receive (as a socket would) and
:func:`emit_probe` hands one flow probe (``sim.traffic`` payload) to its sending engine.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from ipaddress import IPv6Address
from typing import Any

from hmipv6.core.access_router import AccessRouter, AccessRouterConfig, MapConfig, RaConfig
from hmipv6.core.binding_cache import BindingCache, BindingStore, RetainedStore
from hmipv6.core.correspondent import CorrespondentNode
from hmipv6.core.fast_handover import (
    FastAccessRouter,
    FastHandoverConfig,
    FastMobileNode,
    FastMobilityAnchorPoint,
    NeighbourRouter,
)
from hmipv6.core.home_agent import HomeAgent
from hmipv6.core.ike.certs import Credentials
from hmipv6.core.ike.client import IkeClient
from hmipv6.core.ike.engines import IkeMobilityAnchorPoint
from hmipv6.core.ike.exchange import COOKIE_THRESHOLD, IkeResponder, id_payload
from hmipv6.core.ike.sa import SaPolicy
from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import Provisioner, derive_key
from hmipv6.core.ipsec.spd import Policy
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.map_probe import ProbeConfig
from hmipv6.core.mobile_node import MobileNode, MobileNodeConfig
from hmipv6.core.node import Node, link_local_for
from hmipv6.core.router import Router
from hmipv6.core.security import NullSecurity, Security
from hmipv6.sim.scenario import (
    AccessRouterSpec,
    CorrespondentSpec,
    Flow,
    HomeAgentSpec,
    MapSpec,
    MobileNodeSpec,
    RouterSpec,
    Scenario,
)
from hmipv6.sim.traffic import CBR_PORT_BASE, echo_fields
from hmipv6.wire.icmpv6 import EchoReply, EchoRequest, MapOption
from hmipv6.wire.ipv6 import IPv6Packet
from hmipv6.wire.udp import UDP

__all__ = ["FAST_MH_TYPES", "SUITES", "UNPROTECTED", "Entropy", "build_engines", "emit_probe",
           "fast_neighbours", "ike_credentials", "ike_exports", "ike_identity", "ike_psk",
           "make_provisioner", "observe", "provision", "seed_keyed", "system_entropy",
           "uses_ike"]

FAST_MH_TYPES = (8, 9)
"""FBU and FBack: under ``fhmipv6`` the MN–MAP SA protects them like the BU and BA (RFC 4140
Appendix A: the FBU goes to the MAP; §12.1's protection of the local BU applies)."""

SUITES = {"esp": "esp-null-hmac-sha256", "ah": "ah-hmac-sha256"}
"""``defaults.security`` → the provisioning suite of :mod:`hmipv6.core.ipsec.keys`."""


def _rng(seed: int, what: str) -> random.Random:
    return random.Random(f"{seed}/{what}")


Entropy = Callable[[str], random.Random]
"""``entropy(what)``: the random source of one engine (``what`` = ``"node/<name>"``) or of one
node's IKEv2 exchanges (``"ike/<name>"``), for :func:`build_engines`."""


def system_entropy(what: str) -> random.Random:
    """The operating system's CSPRNG (``random.SystemRandom``, ``os.urandom``) for every
    draw: what real networks use (:class:`hmipv6.net.daemon.Daemon`). The engines draw their
    secrets from their random source: IKEv2 SPIs, nonces and Diffie-Hellman private keys
    (RFC 7296 §2.10: nonces "MUST be randomly chosen"; §5: "The security of this protocol is
    critically dependent on the randomness of the randomly chosen parameters"), the MAP's
    RCoA allocation, the correspondent's Kcn ("MUST be a random number", RFC 6275 §5.2.1)
    and nonces (§5.2.2) and the mobile node's return-routability cookies, the access
    router's MAP-probe nonces. Seeded from the scenario, as a simulation needs them, they
    would be the same on every run and derivable by anyone holding the scenario file, which
    every host of a network shares."""
    return random.SystemRandom()


def uses_ike(sc: Scenario, protocol: str) -> bool:
    """MN–MAP keys and RCoAs come from IKEv2 (RFC 5380 profile, HMIPv6; module docstring)."""
    return protocol == "hmipv6" and sc.profile == "rfc5380"


def ike_psk(sc: Scenario, mn: str, map_: str) -> bytes:
    """The IKEv2 pre-shared key between mobile node ``mn`` and MAP ``map_``: the mobile
    node's ``[nodes.<mn>.ike] psk`` when the scenario sets one, else derived from the seed."""
    spec = sc.nodes[mn]
    if isinstance(spec, MobileNodeSpec) and spec.ike.psk is not None:
        return spec.ike.psk
    return derive_key(sc.seed, f"ike-psk|{mn}|{map_}", 32)


def ike_credentials(spec: MapSpec | MobileNodeSpec) -> Credentials | None:
    """Certificate authentication for the node (``[nodes.X.ike] certificate``), if set."""
    ik = spec.ike
    if ik.certificate is None or ik.private_key is None:
        return None
    return Credentials.from_pem(ik.certificate, ik.private_key, ik.ca, ik.identity)


def ike_identity(spec: MapSpec | MobileNodeSpec) -> str:
    """The node's IKEv2 identity (``[nodes.X.ike] identity``, else its name)."""
    return spec.ike.identity or spec.name


def ike_exports(nodes: dict[str, Node]) -> tuple[str, str]:
    """The IKE-negotiated ESP SAs (Wireshark ``esp_sa`` lines) and IKE SAs (Wireshark
    ``ikev2_decryption_table`` lines) of every mobile node, in node order."""
    esp, ike = "", ""
    for node in nodes.values():
        if isinstance(node, MobileNode) and node.ike is not None:
            esp += node.ike.esp_sa_table()
            ike += node.ike.ikev2_decryption_table()
    return esp, ike


def export_sa_tables(provisioned: str | None, negotiated: list[tuple[str, str]]
                     ) -> tuple[str, str]:
    """What ``--export-sa`` writes, in both worlds: Wireshark's ``esp_sa`` table (the
    seed-provisioned SAs, ``provisioned``, ``None`` when ``security = "none"``; then the
    IKE-negotiated ones not already in it) and ``ikev2_decryption_table``, from the
    (``esp``, ``ikev2``) lines of each node's IKE (:func:`ike_exports`), in node order."""
    table = provisioned or ""
    have = set(table.splitlines())
    ike = ""
    for esp_lines, ike_lines in negotiated:
        if provisioned is not None:
            for line in esp_lines.splitlines():
                if line not in have:
                    have.add(line)
                    table += line + "\n"
        ike += ike_lines
    return table, ike


def provisioned_sa_table(sc: Scenario, protocol: str) -> str | None:
    """The ``esp_sa`` table of the SAs :func:`provision` installs for ``sc`` under
    ``protocol`` (``None`` when ``security = "none"``): seed-derived, so every world that
    builds the scenario's engines installs exactly these (a testbed's daemons each do)."""
    prov = make_provisioner(sc)
    if prov is None:
        return None
    provision(sc, protocol, prov, build_engines(sc, protocol, prov))
    return prov.esp_sa_table()


def make_provisioner(sc: Scenario) -> Provisioner | None:
    """The scenario's key provisioner (``None`` when ``security = "none"``)."""
    security = sc.defaults.security
    return Provisioner(sc.seed, SUITES[security]) if security in SUITES else None


def _map_options(sc: Scenario, spec: AccessRouterSpec) -> tuple[MapOption, ...]:
    out = []
    for m in spec.advertise_maps:
        ms = sc.nodes[m]
        assert isinstance(ms, MapSpec)
        out.append(MapOption(dist=1, pref=ms.preference, r=True,
                             valid_lifetime=int(ms.valid_lifetime), address=ms.address))
    return tuple(out)


def fast_neighbours(sc: Scenario, ar: str) -> dict[bytes, NeighbourRouter]:
    """``fhmipv6``: what access router ``ar`` knows of its neighbours (RFC 5568 §3.1
    [AP-ID, AR-Info]), derived from the topology: every other access router advertising one
    of its MAPs, keyed by that router's access point (its ``wlan0`` link-layer address)."""
    spec = sc.nodes[ar]
    assert isinstance(spec, AccessRouterSpec)
    out: dict[bytes, NeighbourRouter] = {}
    for name, other in sc.nodes.items():
        if (name == ar or not isinstance(other, AccessRouterSpec)
                or not set(other.advertise_maps) & set(spec.advertise_maps)):
            continue
        mac = link_local_for(name, "wlan0")[1]
        out[mac] = NeighbourRouter(ap_lla=mac, nar_lla=mac, nar_address=other.address,
                                   prefix=other.prefix, maps=_map_options(sc, other))
    return out


def trusted_routers(sc: Scenario) -> frozenset[IPv6Address] | None:
    """The routers whose RAs the mobile nodes act on (``[[cells]] trusted_routers``): the
    link-local addresses they advertise from on their cells; ``None`` when a cell trusts any
    router (a stand-in for SEND, RFC 3971: see the scenario README)."""
    trusted: set[IPv6Address] = set()
    for c in sc.cells:
        if c.trusted_routers is None:
            return None
        trusted.update(link_local_for(r, "wlan0")[0] for r in c.trusted_routers)
    return frozenset(trusted)


def trusted_upstream(sc: Scenario, name: str, relay_from: tuple[str, ...]
                     ) -> frozenset[IPv6Address] | None:
    """The upstream routers whose discovery RAs node ``name`` relays from (its spec's
    ``trusted_upstream``): their link-local addresses on the links to ``name`` (the only
    sources their RAs have there); ``None`` for ``"any"``."""
    trust = getattr(sc.nodes[name], "trusted_upstream", "neighbours")
    ifaces = [i for i in sc.interfaces.get(name, ()) if i.peer is not None
              and i.peer_ifname is not None]
    if trust == "any":
        return None
    if trust == "neighbours":
        return frozenset(link_local_for(i.peer, i.peer_ifname)[0] for i in ifaces
                         if i.name in relay_from and i.peer is not None
                         and i.peer_ifname is not None)
    return frozenset(link_local_for(i.peer, i.peer_ifname)[0] for i in ifaces
                     if i.peer in trust and i.peer is not None and i.peer_ifname is not None)


def build_engines(sc: Scenario, protocol: str, provisioner: Provisioner | None, *,
                  durable_store: Callable[[str], BindingStore] | None = None,
                  entropy: Entropy | None = None) -> dict[str, Node]:
    """One engine per node spec, in scenario order, with interfaces and static routes.
    ``fhmipv6`` builds the fast-handover subclasses (:mod:`hmipv6.core.fast_handover`) of the
    MAP, access router and mobile node engines, otherwise configured as for ``hmipv6``.
    ``durable_store(name)``: the binding store of a MAP or HA whose ``binding_store`` is
    ``"durable"`` (default: a :class:`~hmipv6.core.binding_cache.RetainedStore`, the
    simulator's; a testbed daemon passes SQLite for its own node). ``entropy``: each engine's
    random source (:data:`Entropy`); default ``random.Random("<seed>/<what>")``, so the same
    scenario and seed replay the same run; daemons on real networks pass
    :func:`system_entropy`."""
    draw: Entropy = entropy if entropy is not None else partial(_rng, sc.seed)

    def cache(name: str, kind: str) -> BindingCache | None:
        if kind != "durable":
            return None  # the engine's default: an InMemoryStore, lost on crash
        return BindingCache(RetainedStore() if durable_store is None else durable_store(name))

    fast = protocol == "fhmipv6"
    hmip = protocol == "hmipv6" or fast
    ro_cns = tuple(s.address for s in sc.of_role(CorrespondentSpec) if s.route_optimisation)
    relay_maps = any(getattr(s, "relay_maps", False) for s in sc.nodes.values())
    mn_trust = trusted_routers(sc)

    def security(name: str) -> Security:
        return NullSecurity() if provisioner is None else IPsec(name=name)

    nodes: dict[str, Node] = {}
    for name, spec in sc.nodes.items():
        ifaces = [i.name for i in sc.interfaces.get(name, ())]
        rng = draw(f"node/{name}")
        p = spec.parameters
        node: Node
        if isinstance(spec, CorrespondentSpec):
            node = CorrespondentNode(name, address=spec.address, ifname=ifaces[0],
                                     route_optimisation=spec.route_optimisation, rng=rng)
        elif isinstance(spec, HomeAgentSpec):
            node = HomeAgent(name, address=spec.address, ifname=ifaces[0],
                             home_prefixes=(spec.home_prefix,),
                             max_lifetime=max(600, int(p.binding_lifetime)), rng=rng,
                             security=security(name), cache=cache(name, spec.binding_store))
        elif isinstance(spec, MapSpec):
            # Dynamic discovery (RFC 4140 §7.1.2): the MAP sends its option down every
            # interface other than its first (upstream) one; with relay_maps it also
            # relays what it hears on that one (§7.1.1, AR-03).
            extra: dict[str, Any] = {}
            map_cls: type[MobilityAnchorPoint] = (
                IkeMobilityAnchorPoint if uses_ike(sc, protocol) else MobilityAnchorPoint)
            if fast:
                map_cls = FastMobilityAnchorPoint
                extra = {"fast": FastHandoverConfig(simultaneous_bindings=p.simultaneous_bindings),
                         "fast_neighbours": {
                             a.prefix: a.address for a in sc.of_role(AccessRouterSpec)
                             if name in a.advertise_maps}}
            node = map_cls(
                name, **extra, address=spec.address, ifname=ifaces[0], rcoa_prefix=spec.rcoa_prefix,
                prefix_valid_lifetime=int(spec.valid_lifetime),
                max_lifetime=max(600, int(p.binding_lifetime)),
                valid_lcoa_prefixes=spec.valid_lcoa_prefixes or None,
                allow_forwarding_to="any", preference=spec.preference,
                advertise_on=tuple(ifaces[1:]) if relay_maps and hmip else (),
                relay_from=tuple(ifaces[:1]) if spec.relay_maps and hmip else (),
                ra_interval=max(p.ra_interval[1], 1.0), rng=rng,
                security=security(name), cache=cache(name, spec.binding_store))
            node.relay.trusted = trusted_upstream(sc, name, node.relay.relay_from)
            if isinstance(node, IkeMobilityAnchorPoint):
                sec = node.security
                ik = spec.ike
                node.ike = IkeResponder(
                    sec if isinstance(sec, IPsec) else IPsec(name=name),
                    identity=ike_identity(spec), address=spec.address,
                    rcoa_prefix=spec.rcoa_prefix,
                    psks={id_payload(ike_identity(m)).name: ike_psk(sc, m.name, name)
                          for m in sc.of_role(MobileNodeSpec)},
                    rng=draw(f"ike/{name}"),
                    suites=ik.proposals or ("esp-null-hmac-sha256", "esp-aes-cbc-hmac-sha256",
                                            "esp-aes-gcm"),
                    dh_groups=ik.dh_groups or (19, 14),
                    cookie_threshold=COOKIE_THRESHOLD if ik.cookie_threshold is None
                    else ik.cookie_threshold,
                    policy=SaPolicy(ik.child_rekey, ik.ike_rekey, ik.dpd),
                    credentials=ike_credentials(spec))
        elif isinstance(spec, AccessRouterSpec):
            maps: list[MapConfig] = []
            if hmip:
                for m in spec.advertise_maps:
                    ms = sc.nodes[m]
                    assert isinstance(ms, MapSpec)
                    maps.append(MapConfig(address=ms.address, pref=ms.preference,
                                          valid_lifetime=int(ms.valid_lifetime),
                                          probe=spec.probe_maps))
            wired = tuple(i for i in ifaces if i != "wlan0")
            cfg = AccessRouterConfig(
                interfaces={"wlan0": RaConfig(prefix=spec.prefix, router_address=spec.address,
                                              min_interval=p.ra_interval[0],
                                              max_interval=p.ra_interval[1])},
                maps=tuple(maps),
                relay_from=wired if spec.relay_maps and hmip else (),
                trusted_upstream=trusted_upstream(sc, name, wired),
                profile=sc.profile,
                probe=ProbeConfig() if spec.probe_maps and hmip else None)
            if fast:
                node = FastAccessRouter(name, rng=rng, config=cfg,
                                        neighbours=fast_neighbours(sc, name))
            else:
                node = AccessRouter(name, rng=rng, config=cfg)
        elif isinstance(spec, MobileNodeSpec):
            has = sc.nodes[spec.home_agent]
            assert isinstance(has, HomeAgentSpec)
            mcfg = MobileNodeConfig(
                home_address=spec.home_address, home_agent=has.address,
                interface_id=int(spec.interface_id), dad=p.dad,  # type: ignore[arg-type]
                map_selection=spec.map_selection,  # type: ignore[arg-type]
                profile=sc.profile,  # type: ignore[arg-type]
                binding_lifetime=int(p.binding_lifetime), hmipv6=hmip,
                route_optimisation=bool(ro_cns), correspondents=ro_cns,
                trusted_routers=mn_trust)
            mn_sec = security(name)
            ike = None
            if uses_ike(sc, protocol):
                maps_ = sc.of_role(MapSpec)
                ik = spec.ike
                ike = IkeClient(mn_sec if isinstance(mn_sec, IPsec) else IPsec(name=name),
                                identity=ike_identity(spec),
                                psks={m.address: ike_psk(sc, name, m.name) for m in maps_},
                                map_identities={m.address: ik.peer_identity or ike_identity(m)
                                                for m in maps_},
                                rng=draw(f"ike/{name}"),
                                suites=ik.proposals or ("esp-null-hmac-sha256",),
                                dh_group=(ik.dh_groups or (19,))[0],
                                policy=SaPolicy(ik.child_rekey, ik.ike_rekey, ik.dpd),
                                credentials=ike_credentials(spec))
            if fast:
                node = FastMobileNode(name, mcfg, interfaces=("wlan0",), rng=rng,
                                      security=mn_sec, fast=FastHandoverConfig(
                                          simultaneous_bindings=p.simultaneous_bindings))
            else:
                node = MobileNode(name, mcfg, interfaces=("wlan0",), rng=rng, security=mn_sec,
                                  ike=ike)
        elif isinstance(spec, RouterSpec) and spec.relay_maps and hmip and ifaces:
            # A relaying router (RFC 4140 §7.1.1): the access router's relay engine with
            # discovery-only RAs (no prefix) on the links below its first (upstream) one.
            slow = (max(p.ra_interval[0], 0.75), max(p.ra_interval[1], 1.0))
            node = AccessRouter(name, rng=rng, config=AccessRouterConfig(
                interfaces={i: RaConfig(prefix=None, min_interval=slow[0],
                                        max_interval=slow[1]) for i in ifaces[1:]},
                relay_from=tuple(ifaces[:1]), profile=sc.profile, probe=None,
                trusted_upstream=trusted_upstream(sc, name, tuple(ifaces[:1]))))
            if spec.address is not None:
                node.add_interface(ifaces[0], (spec.address,))
        else:
            assert isinstance(spec, RouterSpec)
            node = Router(name, rng=rng)
            if spec.address is not None and ifaces:
                node.add_interface(ifaces[0], (spec.address,))
        for ifname in ifaces:
            if ifname not in node.interfaces:
                node.add_interface(ifname)
        nodes[name] = node
    _fill_link_addresses(sc, nodes)
    routing = sc.routing
    if routing is not None:
        for name in routing.nodes:
            node = nodes[name]
            for hop in routing.table(name):
                if hop.via is None:
                    continue
                iface = sc.interface_towards(name, hop.via)
                assert iface.peer_ifname is not None
                node.add_route(hop.prefix, iface.name,
                               link_local_for(hop.via, iface.peer_ifname)[0])
    return nodes


def _fill_link_addresses(sc: Scenario, nodes: dict[str, Node]) -> None:
    """Every MAP's and home agent's duplicate address check (``BindingAnchor.dad_conflict``,
    RFC 6275 §10.3.1, RFC 4140 §6.1): the addresses the scenario configures on other nodes
    inside the prefixes the anchor binds (RCoA prefix, home prefix). Mobile nodes' home
    addresses are not in use on the home link while they are away, so they are left out."""
    configured = [(name, sc.address_of(name)) for name, spec in sc.nodes.items()
                  if not isinstance(spec, MobileNodeSpec)]
    for name, node in nodes.items():
        if isinstance(node, MobilityAnchorPoint | HomeAgent):
            node.link_addresses |= {a for other, a in configured
                                    if other != name and a is not None and node.serves(a)}


def provision(sc: Scenario, protocol: str, provisioner: Provisioner | None,
              nodes: dict[str, Node]) -> None:
    """Install the seed-derived SAs of every MN–MAP (HMIPv6 only, and not under the RFC 5380
    profile: IKEv2 negotiates those) and MN–HA pair, or the scenario's manually keyed ones
    (``[[sas]]``) for the pairs it configures."""
    if provisioner is None:
        return
    # ``[[sas]]``: configured pairs replace their seed-derived SAs; their SPIs are kept out
    # of the derived ones.
    manual = {(m.mn, m.peer): (m.to_peer, m.from_peer) for m in sc.manual_sas}
    provisioner.reserve(p.spi for pair in manual.values() for p in pair)
    maps = _provisioned_maps(sc, protocol)
    for spec in sc.of_role(MobileNodeSpec):
        mn_sec = nodes[spec.name].security
        assert isinstance(mn_sec, IPsec)
        for m in maps:
            map_sec = nodes[m.name].security
            assert isinstance(map_sec, IPsec)
            provisioner.mn_map(mn_sec, spec.name, map_sec, m.name, m.address, m.rcoa_prefix,
                               manual.get((spec.name, m.name)))
            if protocol == "fhmipv6":
                ipsec = provisioner.protocol
                mn_pol = Policy.make(remote=m.address, protocol=135, types=FAST_MH_TYPES,
                                     ipsec=ipsec, name="FBU/FBack MN-MAP")
                map_pol = Policy.make(local=m.address, protocol=135, types=FAST_MH_TYPES,
                                      ipsec=ipsec, name="FBU/FBack MAP-MN")
                if mn_pol not in mn_sec.spd:
                    mn_sec.add_policy(mn_pol)
                if map_pol not in map_sec.spd:
                    map_sec.add_policy(map_pol)
        ha = sc.nodes[spec.home_agent]
        assert isinstance(ha, HomeAgentSpec)
        ha_sec = nodes[ha.name].security
        assert isinstance(ha_sec, IPsec)
        provisioner.mn_ha(mn_sec, spec.name, ha_sec, ha.name, spec.home_address, ha.address,
                          manual.get((spec.name, ha.name)))
        provisioner.mn_defaults(mn_sec, spec.home_address)


def _provisioned_maps(sc: Scenario, protocol: str) -> list[MapSpec]:
    """The MAPs :func:`provision` keys every mobile node with (HMIPv6, not under the RFC 5380
    profile, whose IKEv2 negotiates those SAs)."""
    if protocol in ("hmipv6", "fhmipv6") and not uses_ike(sc, protocol):
        return sc.of_role(MapSpec)
    return []


UNPROTECTED = 'no protection at all (security = "none")'
""":func:`seed_keyed`'s one entry when nothing protects a node's binding signalling."""


def seed_keyed(sc: Scenario, protocol: str, node: str) -> list[str]:
    """What would protect ``node``'s binding signalling with keys derived from the scenario's
    seed (so known to every host holding the scenario file, which a network shares): the
    MN–MAP and MN–HA SA pairs :func:`provision` derives (``security = "esp"`` / ``"ah"``)
    that no ``[[sas]]`` configures, and under the RFC 5380 profile the IKEv2 pre-shared keys
    of mobile nodes configured with neither ``psk`` nor ``certificate`` (:func:`ike_psk`).
    With ``security = "none"`` nothing protects it (:data:`UNPROTECTED`). Empty for a node
    without signalling keys (routers, correspondents) and for a fully configured one."""
    spec = sc.nodes[node]
    if not isinstance(spec, (MobileNodeSpec, MapSpec, HomeAgentSpec)):
        return []
    if make_provisioner(sc) is None:
        return [UNPROTECTED]
    manual = {(m.mn, m.peer) for m in sc.manual_sas}
    out: list[str] = []
    for mn in sc.of_role(MobileNodeSpec):
        peers = [("MN-MAP SAs", m.name) for m in _provisioned_maps(sc, protocol)]
        peers.append(("MN-HA SAs", mn.home_agent))
        out += [f"{kind} {mn.name}-{peer}" for kind, peer in peers
                if node in (mn.name, peer) and (mn.name, peer) not in manual]
        if uses_ike(sc, protocol) and mn.ike.psk is None and mn.ike.certificate is None:
            out += [f"IKEv2 PSK {mn.name}-{m.name}" for m in sc.of_role(MapSpec)
                    if node in (mn.name, m.name)]
    return out


def observe(node: Node, seen: Callable[[float, bytes], bool],
            requested: Callable[[float, bytes], object] | None = None) -> None:
    """Watch what the node's applications receive, as a socket would: ``seen(now, data)`` gets
    the data of every UDP datagram delivered, and of every Echo Reply reaching a node other
    than a mobile node (it returns True when a flow's sink took it, and the engine then does
    not see the reply: an access router's MAP-probe replies, RFC 4140 §10, stay the
    engine's). ``requested(now, data)``, where given, gets the data of every Echo Request
    reaching the node (a ping flow's probes arriving at its destination, data like any other for the
    destination's handovers); the engine still answers it (RFC 4443 §4.2)."""
    on_data = node.on_data
    on_icmpv6 = node.on_icmpv6

    def data_hook(now: float, ifname: str, packet: IPv6Packet, payload: Any,
                  tunnelled: int) -> None:
        on_data(now, ifname, packet, payload, tunnelled)
        data = getattr(payload, "data", None)
        if isinstance(data, bytes):
            seen(now, data)

    def icmp_hook(now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        if isinstance(message, EchoReply) and seen(now, message.data):
            return
        if requested is not None and isinstance(message, EchoRequest):
            requested(now, message.data)
        on_icmpv6(now, ifname, packet, message, tunnelled)

    def request_hook(now: float, ifname: str, packet: IPv6Packet, message: Any,
                     tunnelled: int) -> None:
        if requested is not None and isinstance(message, EchoRequest):
            requested(now, message.data)
        on_icmpv6(now, ifname, packet, message, tunnelled)

    node.on_data = data_hook  # type: ignore[method-assign]
    if not isinstance(node, MobileNode):
        node.on_icmpv6 = icmp_hook  # type: ignore[method-assign]
    elif requested is not None:
        # A mobile node's Echo Replies reach it as data already; only a ping flow's Echo
        # Requests to it need the hook (give ``requested`` only where one arrives: every
        # ICMPv6 message a station hears then goes through one call more).
        node.on_icmpv6 = request_hook  # type: ignore[method-assign]


def emit_probe(sc: Scenario, flow: Flow, src: Node, now: float, sequence: int,
               payload: bytes) -> None:
    """Hand one probe of ``flow`` to its sending engine: a UDP datagram (both ports
    ``CBR_PORT_BASE + flow``) for ``cbr``, an Echo Request for ``ping``."""
    dst = sc.address_of(flow.dst)
    assert dst is not None
    if src.crashed:
        return
    if flow.kind == "cbr":
        port = CBR_PORT_BASE + flow.index
        if isinstance(src, MobileNode):
            src.send(now, dst, UDP(port, port, payload))
        elif isinstance(src, CorrespondentNode):
            src.send(now, dst, payload, src_port=port, dst_port=port)
        else:
            own = sc.address_of(flow.src)
            assert own is not None
            src.send_packet(now, IPv6Packet(own, dst, UDP(port, port, payload)))
    else:
        ident, seq = echo_fields(flow.index, sequence)
        req = EchoRequest(identifier=ident, sequence=seq, data=payload)
        if isinstance(src, MobileNode):
            src.send(now, dst, req)
        else:
            own = sc.address_of(flow.src)
            assert own is not None
            src.send_packet(now, IPv6Packet(own, dst, req))
