"""Scenario files (format version 1, docs/scenario.md): TOML in, typed values out.

Theory of operation
-------------------
:func:`load` reads a scenario by path or by built-in name (``figure1`` is
``hmipv6/scenarios/figure1.toml``), applies ``--set key=value`` overrides to the raw TOML
tables, expands generators, then validates everything into frozen, keyword-only dataclasses:
a :class:`Scenario` holding :class:`Parameters` (the ``[defaults]``), one spec per node
(:class:`CorrespondentSpec`, :class:`HomeAgentSpec`, :class:`RouterSpec`, :class:`MapSpec`,
:class:`AccessRouterSpec`, :class:`MobileNodeSpec`, each with its own merged parameters), and
the :class:`Link`, :class:`Cell`, :class:`Move`, :class:`Flow` and :class:`Fault` entries.
Durations become float seconds, bandwidths bits per second, addresses
:class:`~ipaddress.IPv6Address` / :class:`~ipaddress.IPv6Network`.

Validation is strict because users typo keys: every table accepts only its documented keys,
every node reference must name a node of the right role, every duration/address/prefix must
parse, every mobile node must attach to some cell, and the routing computed by
:mod:`hmipv6.sim.routing` must reach every prefix from every node without loops. The first
problem found raises one :class:`ScenarioError` whose message names the file, the key (dotted,
with array indices: ``flows[0].interval``) and what is wrong; a key that came from ``--set``
says so. Nothing else escapes: no ``KeyError``, no traceback for the user.

Derived values are computed here, once, so both worlds agree: interface names (a node's wired
links are ``eth0``, ``eth1``, ... in ``[[links]]`` order; an access router's cell and a mobile
node's radio are ``wlan0``), mobile nodes' interface identifiers (from the name when absent),
and the routing tables (:attr:`Scenario.routing`).

Every key, default and unit is documented in ``docs/scenario.md`` (``tests/test_docs.py``
checks it against the tables below), among them ``[[routes]]`` (static next hops),
``[[sas]]`` (manually keyed SAs, as ``ip xfrm state add`` lines), ``trusted_routers`` in
``[[cells]]`` and ``trusted_upstream`` on relaying nodes (router trust, a stand-in for SEND)
and ``[generate.mobile_nodes]``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import shlex
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn, TypeVar

from hmipv6.core.ipsec.keys import parse_xfrm_state
from hmipv6.core.ipsec.sad import SAParams
from hmipv6.errors import HMIPv6Error, LocalProtocolError
from hmipv6.sim.routing import Destination, RoutingError, RoutingTables, StaticRoute, compute_routes
from hmipv6.wire.addr import interface_address

__all__ = [
    "BUILTIN_SCENARIOS",
    "FORMAT",
    "AccessRouterSpec",
    "Cell",
    "CorrespondentSpec",
    "Fault",
    "Flow",
    "HomeAgentSpec",
    "IkeSpec",
    "InterfaceSpec",
    "Link",
    "ManualSAs",
    "MapSpec",
    "MobileNodeSpec",
    "Move",
    "NodeSpec",
    "Parameters",
    "RouterSpec",
    "Scenario",
    "ScenarioError",
    "Trust",
    "builtin_path",
    "description_of",
    "load",
    "loads",
    "parse_bandwidth",
    "parse_duration",
]

FORMAT = "hmipv6-scenario/1"

BUILTIN_SCENARIOS = ("figure1", "two-domains", "dynamic-discovery", "map-failure",
                     "route-optimisation", "many-mobiles")

ROLES = ("correspondent", "home-agent", "router", "map", "access-router", "mobile-node")
PROTOCOLS = ("mipv6", "hmipv6", "fhmipv6")
"""``fhmipv6``: HMIPv6 with fast handovers anchored at the MAP (RFC 4140 Appendix A)."""
PROFILES = ("rfc4140", "rfc5380")
DAD_MODES = ("standard", "optimistic", "none")
SECURITY_MODES = ("esp", "ah", "none")
MAP_SELECTIONS = ("furthest", "preference", "nearest")
FLOW_KINDS = ("cbr", "ping")
FAULT_KINDS = ("crash", "restart", "link-down", "link-up", "preference")

BU_LIFETIME_UNIT = 4.0
"""Seconds per unit of a Binding Update's Lifetime field (RFC 6275 §6.1.7)."""
MAX_BU_LIFETIME = 0xFFFF * BU_LIFETIME_UNIT
"""The longest lifetime a Binding Update can carry (16 bits of 4-second units)."""

CBR_HEADER_SIZE = 16
"""Octets of a CBR payload taken by flow id, sequence number and send time (hmipv6.sim.traffic)."""


class ScenarioError(HMIPv6Error):
    """A scenario that cannot run: names the file, the key and the problem."""

    def __init__(self, file: str, key: str | None, problem: str, *, from_set: bool = False,
                 origin: str | None = None) -> None:
        """``origin``: the command-line option the key's value came from (``--set``,
        ``--seed``, ``--duration``); ``from_set`` is ``origin="--set"``."""
        origin = origin or ("--set" if from_set else None)
        where = file if key is None else f"{file}: {key}" + (f" (from {origin})" if origin
                                                               else "")
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


# --------------------------------------------------------------------------------------------
# Values


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|ms|us|µs)\s*$")
_DURATION_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_BANDWIDTH = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmg]?)bps\s*$", re.IGNORECASE)
_BANDWIDTH_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def parse_duration(value: object) -> float:
    """Seconds from ``"20s"``, ``"150ms"``, ``"2.5s"``, ``"40us"`` or a number of seconds.
    Raises ``ValueError`` with the reason."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"bad duration {value!r}: expected a number of seconds or a string "
                         'like "20s", "150ms", "2.5s"')
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m is None:
            raise ValueError(f"bad duration {value!r}: expected a number of seconds or a string "
                             'like "20s", "150ms", "2.5s"')
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"bad duration {value!r}: must be finite and not negative")
    return seconds


def parse_bandwidth(value: object) -> float:
    """Bits per second from ``"100Mbps"``, ``"11Mbps"``, ``"64kbps"``, ``"1Gbps"`` or a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"bad bandwidth {value!r}: expected bits per second or a string "
                         'like "100Mbps", "11Mbps"')
    if isinstance(value, str):
        m = _BANDWIDTH.match(value)
        if m is None:
            raise ValueError(f"bad bandwidth {value!r}: expected bits per second or a string "
                             'like "100Mbps", "11Mbps"')
        bps = float(m.group(1)) * _BANDWIDTH_UNITS[m.group(2).lower()]
    else:
        bps = float(value)
    if not math.isfinite(bps) or bps <= 0:
        raise ValueError(f"bad bandwidth {value!r}: must be finite and positive")
    return bps


# --------------------------------------------------------------------------------------------
# The typed scenario

Trust = tuple[str, ...] | Literal["any", "neighbours"]
"""Whose router-to-router RAs (dynamic MAP discovery, RFC 4140 §7.1.1) a relaying node trusts:
these node names, ``"any"`` (no check), or ``"neighbours"`` (the default: the nodes at the
other end of the interfaces it relays from)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameters:
    """Protocol parameters (``[defaults]``, each overridable per node)."""

    ra_interval: tuple[float, float] = (0.03, 0.07)
    """MinRtrAdvInterval, MaxRtrAdvInterval of access routers (seconds)."""
    dad: str = "optimistic"
    """``standard`` (RFC 4862, 1 s) | ``optimistic`` (RFC 4429) | ``none``."""
    l2_handover: float = 0.05
    """Link-layer detach -> attach gap (seconds)."""
    binding_lifetime: float = 420.0
    """Requested binding lifetime (seconds; 4 s .. 262140 s, rounded down to a multiple of 4
    s by the mobile node: RFC 6275 §6.1.7's 4-second units)."""
    security: str = "esp"
    """MN-MAP signalling protection: ``esp`` | ``ah`` | ``none``."""
    fh_anticipation: float = 0.05
    """``fhmipv6``: how long before a move the link layer announces it (the L2 trigger that
    starts a predictive fast handover, :meth:`FastMobileNode.anticipate`)."""
    simultaneous_bindings: float = 1.0
    """``fhmipv6``: seconds a MAP sends to both the old and the new care-of address."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IkeSpec:
    """``[nodes.<map or mobile node>.ike]``: IKEv2 settings under ``profile = "rfc5380"``
    (src/hmipv6/scenarios/README.md). ``None`` fields keep the built-in defaults."""

    identity: str | None = None
    """IDi / IDr: the node name by default; the form picks the ID type (an address:
    ID_IPV6_ADDR, ``a@b``: ID_RFC822_ADDR, a dotted name: ID_FQDN, else ID_KEY_ID), or a
    ``fqdn:`` / ``email:`` / ``keyid:`` / ``ipv6:`` prefix forces it (strongSwan's spelling)."""
    psk: bytes | None = None
    """Mobile node: the pre-shared key with its MAPs (``psk``, ``psk_hex`` or ``psk_file``);
    derived from the seed when absent."""
    peer_identity: str | None = None
    """Mobile node: the MAP identity to require (IDr); the MAP's own identity by default."""
    proposals: tuple[str, ...] | None = None
    """Child SA suites offered (MN, in order) or accepted (MAP)."""
    dh_groups: tuple[int, ...] | None = None
    """DH groups (19, 14): the MN proposes the first in its KE payload."""
    child_rekey: float | None = None
    ike_rekey: float | None = None
    dpd: float | None = None
    """Seconds between Child SA rekeys, IKE SA rekeys, and of silence before a liveness
    check; none by default."""
    cookie_threshold: int | None = None
    """MAP: half-open exchanges from which on IKE_SA_INIT needs a cookie (RFC 7296 §2.6)."""
    certificate: bytes | None = None
    private_key: bytes | None = None
    ca: tuple[bytes, ...] = ()
    """Certificate authentication (PEM: the node's X.509 certificate with a P-256 key, the
    key, the CAs it trusts for its peers); ``identity`` must then be in the certificate's
    subjectAltName (or absent: the subject DN)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """What every node has; the subclasses add their role's keys."""

    name: str
    role: str
    parameters: Parameters


@dataclass(frozen=True, slots=True, kw_only=True)
class CorrespondentSpec(NodeSpec):
    address: IPv6Address
    route_optimisation: bool = False
    """Accepts binding updates from mobile nodes (return routability)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeAgentSpec(NodeSpec):
    address: IPv6Address
    binding_store: str = "memory"
    """``"memory"`` (lost on crash) or ``"durable"`` (kept through crash / restart)."""

    @property
    def home_prefix(self) -> IPv6Network:
        """The /64 of the home agent's address."""
        return IPv6Network((int(self.address) >> 64 << 64, 64))


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSpec(NodeSpec):
    address: IPv6Address | None = None
    relay_maps: bool = False
    """Dynamic MAP discovery (RFC 4140 §7.1.1): relay the MAP options heard on the first
    wired interface (upstream) down the others with Dist + 1."""
    trusted_upstream: Trust = "neighbours"
    """Whose discovery RAs a relaying node learns MAP options from (:data:`Trust`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MapSpec(NodeSpec):
    address: IPv6Address
    preference: int = 10
    """RFC 4140 §7.2 MAP option preference (0..15; 0 means "do not use")."""
    valid_lifetime: float = 3600.0
    valid_lcoa_prefixes: tuple[IPv6Network, ...] = ()
    relay_maps: bool = False
    """Relay the MAP options heard on the first wired interface (upstream) together with
    this MAP's own option (RFC 4140 §7.1.1, AR-03)."""
    trusted_upstream: Trust = "neighbours"
    binding_store: str = "memory"
    """``"memory"`` (lost on crash, RFC 4140 §10) or ``"durable"`` (kept through crash /
    restart: the simulator's retained store, SQLite in the testbed)."""
    ike: IkeSpec = IkeSpec()

    @property
    def rcoa_prefix(self) -> IPv6Network:
        """The /64 of the MAP's address, where RCoAs are formed (RFC 4140 §6.1)."""
        return IPv6Network((int(self.address) >> 64 << 64, 64))


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRouterSpec(NodeSpec):
    prefix: IPv6Network
    address: IPv6Address
    """Defaults to the first address of the prefix."""
    advertise_maps: tuple[str, ...] = ()
    relay_maps: bool = False
    probe_maps: bool = False
    trusted_upstream: Trust = "neighbours"


@dataclass(frozen=True, slots=True, kw_only=True)
class MobileNodeSpec(NodeSpec):
    home_agent: str
    home_address: IPv6Address
    interface_id: IPv6Address
    """Lower 64 bits only; derived from the name when the scenario gives none."""
    map_selection: str = "furthest"
    ike: IkeSpec = IkeSpec()


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A wired point-to-point link."""

    key: str
    between: tuple[str, str]
    ifnames: tuple[str, str]
    """The interface name at each end."""
    delay: float
    bandwidth: float
    loss: float = 0.0
    queue: int = 100
    """Packets that may wait for the transmitter in each direction (tail drop beyond)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """The wireless access (a shared medium) of one access router."""

    key: str
    router: str
    delay: float
    bandwidth: float
    loss: float = 0.0
    queue: int = 100
    trusted_routers: tuple[str, ...] | None = None
    """The routers whose RAs mobile nodes act on in this cell (a stand-in for SEND, RFC
    3971); ``None``: any (``trusted_routers = "any"``). Default: the cell's own router."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    key: str
    mn: str
    at: float
    attach: str | None
    """The access router whose cell the MN joins; ``None``: it only detaches."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    key: str
    index: int
    """Position in ``[[flows]]``: the flow id carried in its packets."""
    src: str
    dst: str
    kind: str
    interval: float
    size: int
    """CBR: UDP payload octets; ping: echo data octets."""
    start: float
    stop: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AppSpec:
    """``[[apps]]``: a real command run in a node's namespace by the testbed."""

    key: str
    name: str
    node: str
    at: float
    run: tuple[str, ...]
    """The words, placeholders (``{<node>}``, ``{python}``) not yet substituted."""

    def argv(self, sc: Scenario, python: str) -> tuple[str, ...]:
        """The command with ``{<node>}`` replaced by that node's address and ``{python}``
        by ``python``."""
        def sub(m: re.Match[str]) -> str:
            ref = m.group(1)
            return python if ref == "python" else str(sc.address_of(ref))
        return tuple(_APP_PLACEHOLDER.sub(sub, w) for w in self.run)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    key: str
    at: float
    node: str
    kind: str
    value: int | None = None
    """New MAP preference for ``kind = "preference"``."""
    peer: str | None = None
    """For link-down/link-up: the other end of the one wired link; ``None``: all the node's
    links (and an access router's cell)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualSAs:
    """``[[sas]]``: a mobile node's manually keyed SA pair with one MAP or with its home
    agent (SEC-06; RFC 4301 §4.5), from two ``ip xfrm state add`` lines; it replaces the
    pair's seed-derived SAs, in the simulator and in the testbed."""

    key: str
    mn: str
    peer: str
    """The MAP or the home agent."""
    to_peer: SAParams
    """Carries the mobile node's traffic to the peer (its ``dst`` covers the peer)."""
    from_peer: SAParams


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceSpec:
    node: str
    name: str
    kind: str
    """``wired`` or ``wireless``."""
    peer: str | None
    """The node at the other end of a wired link; ``None`` on a cell."""
    peer_ifname: str | None
    link: int | None
    """Index into ``Scenario.links``, or into ``Scenario.cells`` for a cell."""


@dataclass(frozen=True, kw_only=True)
class Scenario:
    source: str
    """Where it was read from (a path, or ``<string>``)."""
    name: str
    duration: float
    seed: int
    protocol: str
    profile: str
    defaults: Parameters
    nodes: Mapping[str, NodeSpec]
    links: tuple[Link, ...]
    cells: tuple[Cell, ...]
    moves: tuple[Move, ...]
    """Sorted by time (then by file order)."""
    flows: tuple[Flow, ...]
    faults: tuple[Fault, ...]
    """Sorted by time (then by file order)."""
    static_routes: tuple[StaticRoute, ...] = ()
    manual_sas: tuple[ManualSAs, ...] = ()
    description: str = ""
    """One line saying what the scenario shows (``hmipv6 scenarios`` prints it)."""
    apps: tuple[AppSpec, ...] = ()
    """``[[apps]]``: real commands for the testbed (the simulator does not run them)."""
    interfaces: Mapping[str, tuple[InterfaceSpec, ...]] = field(compare=False,
                                                               default_factory=dict)
    routing: RoutingTables | None = field(compare=False, default=None, repr=False)

    def of_role(self, cls: type[_N]) -> list[_N]:
        """The nodes of one spec class, in file order."""
        return [n for n in self.nodes.values() if isinstance(n, cls)]

    def cell_of(self, router: str) -> Cell | None:
        for c in self.cells:
            if c.router == router:
                return c
        return None

    def interface_towards(self, node: str, neighbour: str) -> InterfaceSpec:
        """``node``'s interface on its wired link to ``neighbour``."""
        for i in self.interfaces[node]:
            if i.peer == neighbour:
                return i
        raise KeyError(f"{node!r} has no link to {neighbour!r}")

    def address_of(self, node: str) -> IPv6Address | None:
        """A node's configured global address (an MN's home address)."""
        return _address_of(self.nodes[node])

    def pinged(self, node: str) -> bool:
        """Is ``node`` the destination of a ping flow (its Echo Requests are then data for
        its handovers)?"""
        return any(f.kind == "ping" and f.dst == node for f in self.flows)


def _address_of(spec: NodeSpec) -> IPv6Address | None:
    if isinstance(spec, MobileNodeSpec):
        return spec.home_address
    a = getattr(spec, "address", None)
    return a if isinstance(a, IPv6Address) else None


_N = TypeVar("_N", bound=NodeSpec)


# --------------------------------------------------------------------------------------------
# Loading


def builtin_path(name: str) -> Path | None:
    """The file of a built-in scenario (``figure1`` -> ``.../scenarios/figure1.toml``)."""
    if name not in BUILTIN_SCENARIOS:
        return None
    return Path(str(resources.files("hmipv6") / "scenarios" / f"{name}.toml"))


def description_of(path: str | Path) -> str:
    """``[scenario] description`` of a scenario file, read without validating the rest (so
    listing scenarios is fast); ``""`` when absent or unreadable."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    section = raw.get("scenario")
    text = section.get("description") if isinstance(section, dict) else None
    return text if isinstance(text, str) else ""


def load(path_or_name: str | Path, overrides: Sequence[str] = (), *, seed: int | None = None,
         duration: float | None = None, protocols: Sequence[str] = (),
         protocols_from: str = "--protocol") -> Scenario:
    """Read, override (``"defaults.l2_handover=100ms"``), expand and validate a scenario.

    A name of a built-in scenario (``figure1``) means the built-in one unless a *file* of
    that name exists here; a path with a ``/`` or ending in ``.toml`` is always a file (a
    directory named ``figure1`` in the current directory does not hide the built-in).
    ``seed`` (``--seed``) replaces ``scenario.seed`` before the ``--set`` overrides;
    ``duration`` (``--duration``) replaces ``scenario.duration`` after them and after the
    generators (see :class:`_Loader`); ``protocols``: the protocols the run will use
    (``--protocol`` / ``--compare``, named by ``protocols_from``), each checked against the
    scenario as ``scenario.protocol`` is."""
    path = Path(path_or_name)
    if isinstance(path_or_name, str) and not path.is_file() and _looks_like_name(path_or_name):
        builtin = builtin_path(path_or_name)
        if builtin is not None:
            path = builtin
    source = str(path_or_name) if path == Path(path_or_name) else f"{path_or_name} ({path})"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = f" (built-in scenarios: {', '.join(BUILTIN_SCENARIOS)})" if "/" not in str(
            path_or_name) and not str(path_or_name).endswith(".toml") else ""
        raise ScenarioError(str(path_or_name), None, f"no such file{hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(str(path_or_name), None, f"cannot read: {e}") from None
    return loads(text, source=source, overrides=overrides, seed=seed, duration=duration,
                 protocols=protocols, protocols_from=protocols_from)


def _looks_like_name(text: str) -> bool:
    """A bare name (no ``/``, no ``.toml``): may name a built-in scenario."""
    return "/" not in text and "\\" not in text and not text.endswith(".toml")


def loads(text: str, *, source: str = "<string>", overrides: Sequence[str] = (),
          seed: int | None = None, duration: float | None = None,
          protocols: Sequence[str] = (), protocols_from: str = "--protocol") -> Scenario:
    """Like :func:`load`, from TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(source, None, f"not valid TOML: {e}") from None
    return _Loader(source, raw, overrides, seed=seed, duration=duration, protocols=protocols,
                   protocols_from=protocols_from).scenario()


def protocol_problem(protocol: str, profile: str) -> str | None:
    """Why ``protocol`` cannot run under ``profile`` (None: it can). One rule for the
    simulator and the testbed."""
    if protocol == "fhmipv6" and profile != "rfc4140":
        return ("fhmipv6 runs under profile rfc4140 only (the MN-MAP keys of rfc5380 come "
                "from IKEv2, whose policies do not cover FBU/FBack)")
    return None


_TOP_KEYS = ("scenario", "defaults", "nodes", "links", "cells", "moves", "flows", "faults",
             "routes", "sas", "generate", "apps")
_SCENARIO_KEYS = ("name", "description", "duration", "seed", "protocol", "profile")
_PARAM_KEYS = ("ra_interval", "dad", "l2_handover", "binding_lifetime", "security",
               "fh_anticipation", "simultaneous_bindings")
_ROLE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # role: (required, optional)
    "correspondent": (("address",), ("route_optimisation",)),
    "home-agent": (("address",), ("binding_store",)),
    "router": ((), ("address", "relay_maps", "trusted_upstream")),
    "map": (("address",), ("preference", "valid_lifetime", "valid_lcoa_prefixes", "relay_maps",
                           "binding_store", "trusted_upstream", "ike")),
    "access-router": (("prefix",), ("address", "advertise_maps", "relay_maps", "probe_maps",
                                    "trusted_upstream")),
    "mobile-node": (("home_agent", "home_address"), ("interface_id", "map_selection", "ike")),
}
_IKE_CERT_KEYS = ("certificate", "private_key", "ca")
_IKE_KEYS = {
    "map": ("identity", "proposals", "dh_groups", "child_rekey", "ike_rekey", "dpd",
            "cookie_threshold", *_IKE_CERT_KEYS),
    "mobile-node": ("identity", "psk", "psk_hex", "psk_file", "peer_identity", "proposals",
                    "dh_groups", "child_rekey", "ike_rekey", "dpd", *_IKE_CERT_KEYS),
}
_STORES = ("memory", "durable")
_LINK_KEYS = ("between", "delay", "bandwidth", "loss", "queue")
_CELL_KEYS = ("router", "delay", "bandwidth", "loss", "queue", "trusted_routers")
_MOVE_KEYS = ("mn", "at", "attach", "detach")
_FLOW_KEYS = ("from", "to", "kind", "interval", "size", "start", "stop")
_FAULT_KEYS = ("at", "node", "kind", "value", "peer")
_APP_KEYS = ("node", "run", "at", "name")
_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_APP_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_-]*)\}")
_ROUTE_KEYS = ("node", "prefix", "via")
_SA_KEYS = ("between", "xfrm")
_GEN_MN_KEYS = ("count", "name", "home_agent", "first_home_address", "cells", "columns",
                "dwell", "node", "flow")
_GEN_FLOW_KEYS = ("from", "kind", "interval", "size", "start", "stop", "every")


def _role_article(role: str) -> str:
    return ("an " if role[0] in "aeiou" else "a ") + role


def default_interface_id(name: str) -> IPv6Address:
    """A stable 64-bit interface identifier derived from a node's name (never zero)."""
    h = int.from_bytes(hashlib.blake2s(name.encode(), digest_size=8).digest(), "big")
    return IPv6Address(h or 1)


class _Loader:
    """Validates one scenario (module docstring).

    Command-line values are applied in this order: ``seed`` (``--seed``), the overrides
    (``--set``, in order), the generators, then ``duration`` (``--duration``): the scenario's
    ``duration`` becomes it; moves and faults after it are left out and flows are cut at it
    (a flow starting at or after it sends nothing), except values given with ``--set``, which
    are checked against it. Generators expand over the longer of the two durations, so a
    shortened run is the start of the same scenario. Each error names the option a key's
    value came from."""

    def __init__(self, source: str, raw: dict[str, Any], overrides: Sequence[str], *,
                 seed: int | None = None, duration: float | None = None,
                 protocols: Sequence[str] = (), protocols_from: str = "--protocol") -> None:
        self.source = source
        self.raw = raw
        self.origins: dict[str, str] = {}
        """Key (as shown in errors) -> the option that set it."""
        self.cut = duration
        self.protocols = tuple(protocols)
        self.protocols_from = protocols_from
        if seed is not None:
            self._override(f"scenario.seed={seed}", origin="--seed")
        for item in overrides:
            self._override(item)

    # -- errors and value readers ----------------------------------------------------------

    def origin(self, key: str | None) -> str | None:
        """The option a key's value came from (``--set``, ``--seed``, ``--duration``)."""
        if key is None:
            return None
        found = None
        for k, origin in self.origins.items():
            if key == k or key.startswith(k + ".") or key.startswith(k + "["):
                found = origin
        return found

    def fail(self, key: str | None, problem: str) -> NoReturn:
        raise ScenarioError(self.source, key, problem, origin=self.origin(key))

    def end(self, duration: float) -> str:
        """The end of the scenario, for messages (``8s``, ``8s, from --duration``)."""
        return _secs(duration) + (", from --duration" if self.cut is not None else "")

    def table(self, value: object, key: str, allowed: Iterable[str],
              required: Iterable[str] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {_show(value)}")
        allowed = tuple(allowed)
        for k in value:
            if k not in allowed:
                self.fail(f"{key}.{k}" if key else k,
                          f"unknown key (expected one of: {', '.join(allowed)})")
        for k in required:
            if k not in value:
                self.fail(f"{key}.{k}" if key else k, "missing (required)")
        return value

    def array_of_tables(self, name: str) -> list[dict[str, Any]]:
        value = self.raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(name, f"expected an array of tables ([[{name}]]), got {_show(value)}")
        return value

    def duration(self, value: object, key: str, *, positive: bool = False) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as e:
            self.fail(key, str(e))
        if positive and seconds == 0:
            self.fail(key, f"must be greater than zero, got {_show(value)}")
        return seconds

    def bandwidth(self, value: object, key: str) -> float:
        try:
            return parse_bandwidth(value)
        except ValueError as e:
            self.fail(key, str(e))

    def address(self, value: object, key: str) -> IPv6Address:
        if not isinstance(value, str):
            self.fail(key, f"expected an IPv6 address string, got {_show(value)}")
        try:
            a = IPv6Address(value)
        except ValueError:
            self.fail(key, f"{value!r} is not an IPv6 address")
        if a.is_unspecified or a.is_multicast or a.is_loopback or a.is_link_local:
            self.fail(key, f"{value!r} is not a global unicast address")
        return a

    def prefix(self, value: object, key: str) -> IPv6Network:
        if not isinstance(value, str):
            self.fail(key, f"expected an IPv6 prefix string, got {_show(value)}")
        try:
            return IPv6Network(value)
        except ValueError as e:
            self.fail(key, f"{value!r} is not an IPv6 prefix ({e})")

    def integer(self, value: object, key: str, lo: int, hi: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {_show(value)}")
        if value < lo or (hi is not None and value > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            self.fail(key, f"{value} is out of range ({rng})")
        return value

    def probability(self, value: object, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a probability between 0 and 1, got {_show(value)}")
        if not 0.0 <= value <= 1.0:
            self.fail(key, f"{value} is not a probability between 0 and 1")
        return float(value)

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_show(value)}")
        return value

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_show(value)}")
        return value

    def choice(self, value: object, key: str, choices: Sequence[str]) -> str:
        s = self.string(value, key)
        if s not in choices:
            self.fail(key, f"{s!r} is not one of: {', '.join(repr(c) for c in choices)}")
        return s

    def node_ref(self, value: object, key: str, *roles: str) -> str:
        name = self.string(value, key)
        spec = self.nodes_raw.get(name)
        if spec is None:
            self.fail(key, f"unknown node {name!r}")
        role = spec.get("role")
        if roles and role not in roles:
            wanted = " or ".join(_role_article(r) for r in roles)
            self.fail(key, f"{name!r} is {_role_article(str(role))}, expected {wanted}")
        return name

    # -- overrides and generators ----------------------------------------------------------

    def _override(self, item: str, origin: str = "--set") -> None:
        if "=" not in item:
            self.fail("--set", f"expected key=value, got {item!r}")
        path, text = item.split("=", 1)
        path = path.strip()
        parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
        if not parts or any(not p.strip() for p in parts):
            self.fail("--set", f"bad key {path!r}")
        try:
            value: object = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        where: Any = self.raw
        shown = ""
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(where, list):
                if not part.isdigit() or int(part) >= len(where):
                    self.fail(f"--set {path}", f"no entry {part} in {shown} "
                              f"(it has {len(where)})")
                shown = f"{shown}[{part}]"
                if last:
                    where[int(part)] = value
                else:
                    where = where[int(part)]
                continue
            if not isinstance(where, dict):
                self.fail(f"--set {path}", f"{shown} is not a table")
            if shown == "nodes" and part not in where:
                self.fail(f"--set {path}", f"unknown node {part!r}")
            shown = f"{shown}.{part}" if shown else part
            if last:
                where[part] = value
            else:
                where = where.setdefault(part, {})
        self.origins[shown] = origin

    def _generate(self) -> None:
        gen = self.table(self.raw.get("generate", {}), "generate", ("mobile_nodes",))
        if "mobile_nodes" in gen:
            self._generate_mobile_nodes(gen["mobile_nodes"])

    def _generate_mobile_nodes(self, value: object) -> None:
        key = "generate.mobile_nodes"
        g = self.table(value, key, _GEN_MN_KEYS, ("count", "home_agent"))
        count = self.integer(g["count"], f"{key}.count", 1, 100_000)
        stem = self.string(g.get("name", "mn"), f"{key}.name")
        ha = self.node_ref(g["home_agent"], f"{key}.home_agent", "home-agent")
        ha_addr = self.address(self.nodes_raw[ha].get("address"), f"nodes.{ha}.address")
        first = self.address(g.get("first_home_address",
                                   str(IPv6Address(int(ha_addr) >> 64 << 64 | 0x1000))),
                             f"{key}.first_home_address")
        cell_routers = [c.get("router") for c in self.array_of_tables("cells")]
        cells_value = g.get("cells", cell_routers)
        if not isinstance(cells_value, list) or not cells_value:
            self.fail(f"{key}.cells", "expected a non-empty list of access routers with cells")
        cells = [self.node_ref(c, f"{key}.cells", "access-router") for c in cells_value]
        for c in cells:
            if c not in cell_routers:
                self.fail(f"{key}.cells", f"access router {c!r} has no [[cells]] entry")
        columns = self.integer(g.get("columns", len(cells)), f"{key}.columns", 1)
        dwell_value = g.get("dwell", ["5s", "15s"])
        if not isinstance(dwell_value, list) or len(dwell_value) != 2:
            self.fail(f"{key}.dwell", "expected [shortest, longest] durations")
        lo = self.duration(dwell_value[0], f"{key}.dwell", positive=True)
        hi = self.duration(dwell_value[1], f"{key}.dwell", positive=True)
        if hi < lo:
            self.fail(f"{key}.dwell", "longest dwell is shorter than the shortest")
        extra = self.table(g.get("node", {}), f"{key}.node",
                           (*_PARAM_KEYS, "map_selection"))
        flow = self.table(g["flow"], f"{key}.flow", _GEN_FLOW_KEYS, ("from",)) if "flow" in g \
            else None
        every = self.integer(flow.get("every", 1), f"{key}.flow.every", 1) if flow else 0
        duration = self.duration(self.raw.get("scenario", {}).get("duration", 0),
                                 "scenario.duration")
        if self.cut is not None:  # the longer of the two (class docstring)
            duration = max(duration, self.cut)
        seed = self.raw.get("scenario", {}).get("seed", 1)

        rng = random.Random(f"{seed}/{key}")
        width = len(str(count - 1))
        moves = self.raw.setdefault("moves", [])
        flows = self.raw.setdefault("flows", [])
        rows = (len(cells) + columns - 1) // columns
        for i in range(count):
            name = f"{stem}{i:0{width}d}"
            if name in self.nodes_raw:
                self.fail(f"{key}.name", f"generated node {name!r} already exists")
            home = IPv6Address(int(first) + i)
            self.nodes_raw[name] = {"role": "mobile-node", "home_agent": ha,
                                    "home_address": str(home), **extra}
            at = 0.0
            pos = rng.randrange(len(cells))
            while at < duration:
                moves.append({"mn": name, "at": at, "attach": cells[pos]})
                at += rng.uniform(lo, hi)
                row, col = divmod(pos, columns)
                options = [rr * columns + cc
                           for rr, cc in ((row - 1, col), (row + 1, col), (row, col - 1),
                                          (row, col + 1))
                           if 0 <= rr < rows and 0 <= cc < columns
                           and rr * columns + cc < len(cells)]
                if options:
                    pos = rng.choice(options)
            if flow is not None and i % every == 0:
                entry = {k: v for k, v in flow.items() if k != "every"}
                entry["to"] = name
                flows.append(entry)

    # -- the scenario ----------------------------------------------------------------------

    def scenario(self) -> Scenario:
        raw = self.table(self.raw, "", _TOP_KEYS, ("scenario", "nodes"))
        nodes_raw = raw["nodes"]
        if not isinstance(nodes_raw, dict) or not nodes_raw:
            self.fail("nodes", "expected at least one [nodes.<name>] table")
        self.nodes_raw: dict[str, dict[str, Any]] = nodes_raw
        for name, spec in nodes_raw.items():
            if not _NAME.match(name):
                self.fail(f"nodes.{name}", "bad node name (letters, digits, '-' and '_', "
                          "starting with a letter)")
            if not isinstance(spec, dict):
                self.fail(f"nodes.{name}", f"expected a table, got {_show(spec)}")
            if "role" not in spec:
                self.fail(f"nodes.{name}.role", f"missing (required; one of: {', '.join(ROLES)})")
            self.choice(spec["role"], f"nodes.{name}.role", ROLES)

        s = self.table(raw["scenario"], "scenario", _SCENARIO_KEYS, ("duration",))
        duration = self.duration(s["duration"], "scenario.duration", positive=True)
        if self.cut is not None:
            if self.cut <= 0:
                raise ScenarioError(self.source, "--duration",
                                    f"must be greater than zero, got {_secs(self.cut)}")
            duration = self.cut
        seed = self.integer(s.get("seed", 1), "scenario.seed", 0)
        name = self.string(s.get("name", Path(self.source.split(" (")[0]).stem),
                           "scenario.name")
        description = self.string(s.get("description", ""), "scenario.description")
        protocol = self.choice(s.get("protocol", "hmipv6"), "scenario.protocol", PROTOCOLS)
        profile = self.choice(s.get("profile", "rfc4140"), "scenario.profile", PROFILES)
        defaults = self.parameters(self.table(raw.get("defaults", {}), "defaults", _PARAM_KEYS),
                                   "defaults", Parameters())

        self._generate()
        nodes = {n: self.node(n, spec, defaults) for n, spec in self.nodes_raw.items()}
        self.check_protocols(protocol, profile, nodes)
        if profile == "rfc5380":
            for relaying in (k for k, v in nodes.items() if getattr(v, "relay_maps", False)):
                # RFC 5380 §7: manual MAP configuration only (X5380-06).
                self.fail(f"nodes.{relaying}.relay_maps", "dynamic MAP discovery is not part "
                          "of the rfc5380 profile: configure MAP options manually")

        links, interfaces = self.links(nodes)
        cells = self.cells(nodes)
        for c in cells:
            interfaces[c.router].append(InterfaceSpec(node=c.router, name="wlan0",
                                                      kind="wireless", peer=None,
                                                      peer_ifname=None,
                                                      link=cells.index(c)))
        for n in nodes.values():
            if isinstance(n, MobileNodeSpec):
                interfaces[n.name].append(InterfaceSpec(node=n.name, name="wlan0",
                                                        kind="wireless", peer=None,
                                                        peer_ifname=None, link=None))
        for n in nodes.values():
            trust = getattr(n, "trusted_upstream", "neighbours")
            neighbours = {i.peer for i in interfaces[n.name] if i.kind == "wired"}
            for i, peer in enumerate(trust if isinstance(trust, tuple) else ()):
                if peer not in neighbours:
                    self.fail(f"nodes.{n.name}.trusted_upstream[{i}]",
                              f"{peer!r} is not linked to {n.name!r}: only a neighbour's "
                              "discovery RAs reach it")
        moves = self.moves(nodes, cells, duration)
        flows = self.flows(nodes, duration)
        faults = self.faults(nodes, links, duration)
        static = self.static_routes(nodes)
        manual = self.manual_sas(nodes, defaults, profile)
        apps = self.apps(nodes, duration)
        routing = self.routing(nodes, links, static)
        return Scenario(source=self.source, name=name, description=description,
                        duration=duration, seed=seed,
                        protocol=protocol, profile=profile, defaults=defaults,
                        nodes=MappingProxyType(nodes), links=tuple(links), cells=tuple(cells),
                        moves=moves, flows=flows, faults=faults, static_routes=static,
                        manual_sas=manual, apps=apps,
                        interfaces=MappingProxyType({k: tuple(v) for k, v in interfaces.items()}),
                        routing=routing)

    def check_protocols(self, protocol: str, profile: str, nodes: dict[str, NodeSpec]) -> None:
        """The run's protocols (``--protocol`` / ``--compare``, else ``scenario.protocol``)
        against the profile and the MAP configuration: the same rule in both worlds."""
        for p in dict.fromkeys((protocol, *self.protocols)):
            from_option = p != protocol
            asked = f" (asked by {self.protocols_from})" if from_option else ""
            problem = protocol_problem(p, profile)
            if problem is not None:
                key = "scenario.profile" if from_option else "scenario.protocol"
                self.fail(key, f"profile {profile!r} cannot run protocol {p!r}{asked}: {problem}")
            if p == "fhmipv6":
                for name, spec in nodes.items():
                    if (isinstance(spec, AccessRouterSpec) and spec.relay_maps
                            and not spec.advertise_maps):
                        # RFC 5568 §3.1: the PAR must know its neighbours [AP-ID, AR-Info];
                        # ours come from the MAPs each access router is configured with.
                        self.fail(f"nodes.{name}.relay_maps", f"protocol 'fhmipv6'{asked} "
                                  "needs each access router configured with its MAPs "
                                  "(advertise_maps): under dynamic MAP discovery an access "
                                  "router knows no neighbour to hand over to (RFC 5568 §3.1), "
                                  "so fhmipv6 would run as plain hmipv6")

    def parameters(self, t: dict[str, Any], key: str, base: Parameters) -> Parameters:
        ra = base.ra_interval
        if "ra_interval" in t:
            v = t["ra_interval"]
            if not isinstance(v, list) or len(v) != 2:
                self.fail(f"{key}.ra_interval", "expected [MinRtrAdvInterval, MaxRtrAdvInterval], "
                          f"got {_show(v)}")
            ra = (self.duration(v[0], f"{key}.ra_interval[0]", positive=True),
                  self.duration(v[1], f"{key}.ra_interval[1]", positive=True))
            if ra[0] > ra[1]:
                self.fail(f"{key}.ra_interval", "MinRtrAdvInterval is greater than MaxRtrAdvInterval")
            if ra[0] < 0.03 or ra[1] < 0.07:
                # RFC 6275 §7.5: MinRtrAdvInterval >= 0.03 s, MaxRtrAdvInterval >= 0.07 s.
                self.fail(f"{key}.ra_interval", f"[{_secs(ra[0])}, {_secs(ra[1])}]: RFC 6275 §7.5 "
                          "allows MinRtrAdvInterval >= 30ms and MaxRtrAdvInterval >= 70ms")
        return Parameters(
            ra_interval=ra,
            dad=self.choice(t["dad"], f"{key}.dad", DAD_MODES) if "dad" in t else base.dad,
            l2_handover=self.duration(t["l2_handover"], f"{key}.l2_handover")
            if "l2_handover" in t else base.l2_handover,
            binding_lifetime=self.binding_lifetime(t["binding_lifetime"],
                                                   f"{key}.binding_lifetime")
            if "binding_lifetime" in t else base.binding_lifetime,
            security=self.choice(t["security"], f"{key}.security", SECURITY_MODES)
            if "security" in t else base.security,
            fh_anticipation=self.duration(t["fh_anticipation"], f"{key}.fh_anticipation")
            if "fh_anticipation" in t else base.fh_anticipation,
            simultaneous_bindings=self.duration(t["simultaneous_bindings"],
                                                f"{key}.simultaneous_bindings", positive=True)
            if "simultaneous_bindings" in t else base.simultaneous_bindings,
        )

    def binding_lifetime(self, value: object, key: str) -> float:
        """RFC 6275 §6.1.7: the Binding Update's Lifetime counts 4-second units in 16 bits,
        so a lifetime under 4 s would be sent as 0 (a deregistration) and one over
        65535 * 4 s cannot be sent: both are refused. Others are rounded down to a multiple
        of 4 s by the mobile node."""
        seconds = self.duration(value, key, positive=True)
        if seconds < BU_LIFETIME_UNIT:
            self.fail(key, f"{_secs(seconds)} is under 4s: a Binding Update's lifetime is in "
                      "units of 4 seconds (RFC 6275 §6.1.7), so it would be sent as 0, which "
                      "deletes the binding (a deregistration)")
        if seconds > MAX_BU_LIFETIME:
            self.fail(key, f"{_secs(seconds)} is over {_secs(MAX_BU_LIFETIME)}, the longest "
                      "lifetime a Binding Update carries (65535 units of 4 seconds, "
                      "RFC 6275 §6.1.7)")
        return seconds

    def node(self, name: str, t: dict[str, Any], defaults: Parameters) -> NodeSpec:
        key = f"nodes.{name}"
        role = t["role"]
        required, optional = _ROLE_KEYS[role]
        t = self.table(t, key, ("role", *required, *optional, *_PARAM_KEYS), required)
        common: dict[str, Any] = {"name": name, "role": role,
                                  "parameters": self.parameters(t, key, defaults)}
        if role == "correspondent":
            return CorrespondentSpec(**common, address=self.address(t["address"], f"{key}.address"),
                                     route_optimisation=self.boolean(
                                         t.get("route_optimisation", False),
                                         f"{key}.route_optimisation"))
        if role == "home-agent":
            return HomeAgentSpec(**common, address=self.address(t["address"], f"{key}.address"),
                                 binding_store=self.choice(t.get("binding_store", "memory"),
                                                           f"{key}.binding_store", _STORES))
        if role == "router":
            return RouterSpec(**common, address=self.address(t["address"], f"{key}.address")
                              if "address" in t else None,
                              relay_maps=self.boolean(t.get("relay_maps", False),
                                                      f"{key}.relay_maps"),
                              trusted_upstream=self.trust(t, key))
        if role == "map":
            lcoa = t.get("valid_lcoa_prefixes", [])
            if not isinstance(lcoa, list):
                self.fail(f"{key}.valid_lcoa_prefixes", f"expected a list of prefixes, got {_show(lcoa)}")
            return MapSpec(**common, address=self.address(t["address"], f"{key}.address"),
                           preference=self.integer(t.get("preference", 10), f"{key}.preference",
                                                   0, 15),
                           valid_lifetime=self.duration(t.get("valid_lifetime", 3600),
                                                        f"{key}.valid_lifetime", positive=True),
                           valid_lcoa_prefixes=tuple(
                               self.prefix(p, f"{key}.valid_lcoa_prefixes[{i}]")
                               for i, p in enumerate(lcoa)),
                           relay_maps=self.boolean(t.get("relay_maps", False),
                                                   f"{key}.relay_maps"),
                           binding_store=self.choice(t.get("binding_store", "memory"),
                                                     f"{key}.binding_store", _STORES),
                           trusted_upstream=self.trust(t, key),
                           ike=self.ike(t.get("ike", {}), f"{key}.ike", role))
        if role == "access-router":
            prefix = self.prefix(t["prefix"], f"{key}.prefix")
            if prefix.prefixlen != 64:
                self.fail(f"{key}.prefix", f"{prefix} is not a /64 (stateless autoconfiguration "
                          "needs 64-bit interface identifiers, RFC 4862 §5.5.3)")
            address = self.address(t["address"], f"{key}.address") if "address" in t \
                else prefix.network_address + 1
            if address not in prefix:
                self.fail(f"{key}.address", f"{address} is not in the prefix {prefix}")
            maps = t.get("advertise_maps", [])
            if not isinstance(maps, list):
                self.fail(f"{key}.advertise_maps", f"expected a list of MAP names, got {_show(maps)}")
            return AccessRouterSpec(
                **common, prefix=prefix, address=address,
                advertise_maps=tuple(self.node_ref(m, f"{key}.advertise_maps[{i}]", "map")
                                     for i, m in enumerate(maps)),
                relay_maps=self.boolean(t.get("relay_maps", False), f"{key}.relay_maps"),
                probe_maps=self.boolean(t.get("probe_maps", False), f"{key}.probe_maps"),
                trusted_upstream=self.trust(t, key))
        # mobile-node
        ha = self.node_ref(t["home_agent"], f"{key}.home_agent", "home-agent")
        hoa = self.address(t["home_address"], f"{key}.home_address")
        ha_addr = self.address(self.nodes_raw[ha].get("address"), f"nodes.{ha}.address")
        home_prefix = IPv6Network((int(ha_addr) >> 64 << 64, 64))
        if hoa not in home_prefix:
            self.fail(f"{key}.home_address",
                      f"{hoa} is not in the home prefix {home_prefix} of home agent {ha!r}")
        if hoa == ha_addr:
            self.fail(f"{key}.home_address", f"{hoa} is the home agent's own address")
        if "interface_id" in t:
            iid_text = self.string(t["interface_id"], f"{key}.interface_id")
            try:
                iid = IPv6Address(iid_text)
            except ValueError:
                self.fail(f"{key}.interface_id", f"{iid_text!r} is not an interface identifier "
                          'written as an IPv6 address (e.g. "::a:b:c:d")')
            if int(iid) >> 64 or int(iid) == 0:
                self.fail(f"{key}.interface_id",
                          f"{iid_text!r} must be non-zero and fit in the low 64 bits")
        else:
            iid = default_interface_id(name)
        return MobileNodeSpec(**common, home_agent=ha, home_address=hoa, interface_id=iid,
                              map_selection=self.choice(t.get("map_selection", "furthest"),
                                                        f"{key}.map_selection", MAP_SELECTIONS),
                              ike=self.ike(t.get("ike", {}), f"{key}.ike", role))

    def ike(self, value: object, key: str, role: str) -> IkeSpec:
        """``[nodes.X.ike]`` (:class:`IkeSpec`)."""
        from hmipv6.core.ike.crypto import DH_GROUPS
        from hmipv6.core.ike.proposals import ESP_TRANSFORMS

        t = self.table(value, key, _IKE_KEYS[role])
        def read(name_key: str, value: object) -> bytes:
            name = Path(self.string(value, name_key))
            base = Path(self.source.split(" (")[-1].rstrip(")")).parent
            path = name if name.is_absolute() else base / name
            try:
                return path.read_bytes()
            except OSError as e:
                self.fail(name_key, f"cannot read {path}: {e.strerror}")

        psk: bytes | None = None
        given = [k for k in ("psk", "psk_hex", "psk_file") if k in t]
        if len(given) > 1:
            self.fail(f"{key}.{given[1]}", f"give one of psk, psk_hex, psk_file (also {given[0]})")
        if "psk" in t:
            psk = self.string(t["psk"], f"{key}.psk").encode()
        elif "psk_hex" in t:
            try:
                psk = bytes.fromhex(self.string(t["psk_hex"], f"{key}.psk_hex"))
            except ValueError:
                self.fail(f"{key}.psk_hex", "not hexadecimal octets")
        elif "psk_file" in t:
            psk = read(f"{key}.psk_file", t["psk_file"]).rstrip(b"\r\n")
        if psk is not None and len(psk) < 16:
            self.fail(f"{key}.{given[0]}", f"{len(psk)} octets: use at least 16 (RFC 7296 §2.15)")
        proposals = None
        if "proposals" in t:
            raw = t["proposals"]
            if not isinstance(raw, list) or not raw:
                self.fail(f"{key}.proposals", f"expected a non-empty list, got {_show(raw)}")
            proposals = tuple(self.choice(v, f"{key}.proposals[{i}]", tuple(ESP_TRANSFORMS))
                              for i, v in enumerate(raw))
        groups = None
        if "dh_groups" in t:
            raw = t["dh_groups"]
            if not isinstance(raw, list) or not raw:
                self.fail(f"{key}.dh_groups", f"expected a non-empty list, got {_show(raw)}")
            groups = tuple(self.integer(v, f"{key}.dh_groups[{i}]", 0) for i, v in enumerate(raw))
            for i, g in enumerate(groups):
                if g not in DH_GROUPS:
                    self.fail(f"{key}.dh_groups[{i}]", f"{g} is not supported (19 or 14)")
        identity = self.string(t["identity"], f"{key}.identity") if "identity" in t else None
        if identity is not None:
            from hmipv6.core.ike.exchange import id_payload

            try:
                id_payload(identity)
            except ValueError:
                self.fail(f"{key}.identity", f"{identity!r}: ipv6: needs an IPv6 address")
        cert = key_pem = None
        cas: tuple[bytes, ...] = ()
        if any(k in t for k in _IKE_CERT_KEYS):
            for k in _IKE_CERT_KEYS:
                if k not in t:
                    self.fail(f"{key}.{k}", "missing: certificate, private_key and ca go together")
            raw_ca = t["ca"] if isinstance(t["ca"], list) else [t["ca"]]
            cert = read(f"{key}.certificate", t["certificate"])
            key_pem = read(f"{key}.private_key", t["private_key"])
            cas = tuple(read(f"{key}.ca[{i}]", v) for i, v in enumerate(raw_ca))
            from hmipv6.core.ike.certs import Credentials
            from hmipv6.errors import HMIPv6Error

            try:
                Credentials.from_pem(cert, key_pem, cas, identity)
            except (ValueError, TypeError, HMIPv6Error) as e:
                self.fail(f"{key}.certificate", str(e))
        return IkeSpec(
            certificate=cert, private_key=key_pem, ca=cas,
            identity=identity, psk=psk,
            peer_identity=self.string(t["peer_identity"], f"{key}.peer_identity")
            if "peer_identity" in t else None,
            proposals=proposals, dh_groups=groups,
            child_rekey=self.duration(t["child_rekey"], f"{key}.child_rekey", positive=True)
            if "child_rekey" in t else None,
            ike_rekey=self.duration(t["ike_rekey"], f"{key}.ike_rekey", positive=True)
            if "ike_rekey" in t else None,
            dpd=self.duration(t["dpd"], f"{key}.dpd", positive=True) if "dpd" in t else None,
            cookie_threshold=self.integer(t["cookie_threshold"], f"{key}.cookie_threshold", 0)
            if "cookie_threshold" in t else None)

    def links(self, nodes: dict[str, NodeSpec]
              ) -> tuple[list[Link], dict[str, list[InterfaceSpec]]]:
        interfaces: dict[str, list[InterfaceSpec]] = {n: [] for n in nodes}
        links: list[Link] = []
        pairs: dict[frozenset[str], str] = {}
        for i, t in enumerate(self.array_of_tables("links")):
            key = f"links[{i}]"
            t = self.table(t, key, _LINK_KEYS, ("between",))
            between = t["between"]
            if not isinstance(between, list) or len(between) != 2:
                self.fail(f"{key}.between", f"expected two node names, got {_show(between)}")
            a, b = (self.node_ref(n, f"{key}.between") for n in between)
            for n in (a, b):
                if isinstance(nodes[n], MobileNodeSpec):
                    self.fail(f"{key}.between", f"{n!r} is a mobile node: it reaches the network "
                              "through [[cells]] and [[moves]], not wired links")
            if a == b:
                self.fail(f"{key}.between", f"a link from {a!r} to itself")
            pair = frozenset((a, b))
            if pair in pairs:
                self.fail(f"{key}.between", f"{a!r} and {b!r} are already linked by {pairs[pair]}")
            pairs[pair] = key
            ifa = f"eth{sum(1 for x in interfaces[a] if x.kind == 'wired')}"
            ifb = f"eth{sum(1 for x in interfaces[b] if x.kind == 'wired')}"
            interfaces[a].append(InterfaceSpec(node=a, name=ifa, kind="wired", peer=b,
                                               peer_ifname=ifb, link=i))
            interfaces[b].append(InterfaceSpec(node=b, name=ifb, kind="wired", peer=a,
                                               peer_ifname=ifa, link=i))
            links.append(Link(key=key, between=(a, b), ifnames=(ifa, ifb),
                              delay=self.duration(t.get("delay", "1ms"), f"{key}.delay"),
                              bandwidth=self.bandwidth(t.get("bandwidth", "100Mbps"),
                                                       f"{key}.bandwidth"),
                              loss=self.probability(t.get("loss", 0.0), f"{key}.loss"),
                              queue=self.integer(t.get("queue", 100), f"{key}.queue", 1)))
        return links, interfaces

    def cells(self, nodes: dict[str, NodeSpec]) -> list[Cell]:
        cells: list[Cell] = []
        seen: dict[str, str] = {}
        for i, t in enumerate(self.array_of_tables("cells")):
            key = f"cells[{i}]"
            t = self.table(t, key, _CELL_KEYS, ("router",))
            router = self.node_ref(t["router"], f"{key}.router", "access-router")
            if router in seen:
                self.fail(f"{key}.router", f"{router!r} already has a cell ({seen[router]})")
            seen[router] = key
            cells.append(Cell(key=key, router=router,
                              delay=self.duration(t.get("delay", "1ms"), f"{key}.delay"),
                              bandwidth=self.bandwidth(t.get("bandwidth", "11Mbps"),
                                                       f"{key}.bandwidth"),
                              loss=self.probability(t.get("loss", 0.0), f"{key}.loss"),
                              queue=self.integer(t.get("queue", 100), f"{key}.queue", 1),
                              trusted_routers=self.trusted_routers(t, key, router)))
        return cells

    def trusted_routers(self, t: dict[str, Any], key: str, router: str) -> tuple[str, ...] | None:
        value = t.get("trusted_routers", [router])
        if value == "any":
            return None
        if not isinstance(value, list):
            self.fail(f"{key}.trusted_routers",
                      f'expected a list of access routers or "any", got {_show(value)}')
        return tuple(self.node_ref(r, f"{key}.trusted_routers[{i}]", "access-router")
                     for i, r in enumerate(value))

    def trust(self, t: dict[str, Any], key: str) -> Trust:
        value = t.get("trusted_upstream", "neighbours")
        if value in ("any", "neighbours"):
            return "any" if value == "any" else "neighbours"
        if not isinstance(value, list):
            self.fail(f"{key}.trusted_upstream",
                      f'expected a list of node names, "any" or "neighbours", got {_show(value)}')
        return tuple(self.node_ref(n, f"{key}.trusted_upstream[{i}]")
                     for i, n in enumerate(value))

    def moves(self, nodes: dict[str, NodeSpec], cells: list[Cell], duration: float
              ) -> tuple[Move, ...]:
        with_cells = {c.router for c in cells}
        moves: list[Move] = []
        when: dict[tuple[str, float], str] = {}
        for i, t in enumerate(self.array_of_tables("moves")):
            key = f"moves[{i}]"
            t = self.table(t, key, _MOVE_KEYS, ("mn", "at"))
            mn = self.node_ref(t["mn"], f"{key}.mn", "mobile-node")
            at = self.duration(t["at"], f"{key}.at")
            if at > duration:
                if self.cut is not None and self.origin(f"{key}.at") is None:
                    continue  # after the end of a shortened run (--duration)
                self.fail(f"{key}.at", f"{_secs(at)} is after the end of the scenario "
                          f"({self.end(duration)})")
            if (mn, at) in when:
                self.fail(f"{key}.at", f"{mn!r} already moves at {_secs(at)} ({when[(mn, at)]})")
            when[(mn, at)] = key
            detach = self.boolean(t.get("detach", False), f"{key}.detach")
            if detach == ("attach" in t):
                self.fail(key, 'give exactly one of attach = "<access router>" or detach = true')
            attach = None
            if not detach:
                attach = self.node_ref(t["attach"], f"{key}.attach", "access-router")
                if attach not in with_cells:
                    self.fail(f"{key}.attach", f"access router {attach!r} has no [[cells]] entry")
            moves.append(Move(key=key, mn=mn, at=at, attach=attach))
        attaching = {m.mn for m in moves if m.attach is not None}
        for n in nodes.values():
            if isinstance(n, MobileNodeSpec) and n.name not in attaching:
                self.fail(f"nodes.{n.name}", "mobile node never attaches to a cell: give it a "
                          '[[moves]] entry with attach = "<access router with a cell>"')
        return tuple(sorted(moves, key=lambda m: m.at))

    def flows(self, nodes: dict[str, NodeSpec], duration: float) -> tuple[Flow, ...]:
        flows: list[Flow] = []
        for i, t in enumerate(self.array_of_tables("flows")):
            key = f"flows[{i}]"
            t = self.table(t, key, _FLOW_KEYS, ("from", "to"))
            src = self.node_ref(t["from"], f"{key}.from")
            dst = self.node_ref(t["to"], f"{key}.to")
            for k, n in (("from", src), ("to", dst)):
                spec = nodes[n]
                if isinstance(spec, RouterSpec) and spec.address is None:
                    self.fail(f"{key}.{k}", f"router {n!r} has no address to "
                              f"{'send from' if k == 'from' else 'receive at'}")
            if src == dst:
                self.fail(f"{key}.to", f"a flow from {src!r} to itself")
            kind = self.choice(t.get("kind", "cbr"), f"{key}.kind", FLOW_KINDS)
            start = self.duration(t.get("start", 0), f"{key}.start")
            stop = self.duration(t.get("stop", duration), f"{key}.stop")
            idle = False
            if self.cut is not None:  # a shortened or longer run (--duration)
                if stop > duration and self.origin(f"{key}.stop") is None:
                    stop = duration
                if start >= duration and self.origin(f"{key}.start") is None:
                    start = stop = duration  # starts after the end: sends nothing
                    idle = True
            if stop > duration:
                self.fail(f"{key}.stop", f"{_secs(stop)} is after the end of the scenario "
                          f"({self.end(duration)})")
            if start >= stop and not idle:
                self.fail(f"{key}.start", f"{_secs(start)} is not before stop ({_secs(stop)})")
            min_size = CBR_HEADER_SIZE if kind == "cbr" else 0
            flows.append(Flow(key=key, index=i, src=src, dst=dst, kind=kind,
                              interval=self.duration(t.get("interval", "10ms"), f"{key}.interval",
                                                     positive=True),
                              size=self.integer(t.get("size", 160), f"{key}.size", min_size,
                                                65_000),
                              start=start, stop=stop))
        return tuple(flows)

    def apps(self, nodes: dict[str, NodeSpec], duration: float) -> tuple[AppSpec, ...]:
        """``[[apps]]``: ``node`` runs the command ``run`` (a list of words, or one string
        split as a shell would, without a shell) at ``at``; ``{<node>}`` in a word is that
        node's address (a mobile node's home address), ``{python}`` this Python."""
        out: list[AppSpec] = []
        names: set[str] = set()
        for i, t in enumerate(self.array_of_tables("apps")):
            key = f"apps[{i}]"
            t = self.table(t, key, _APP_KEYS, ("node", "run"))
            node = self.node_ref(t["node"], f"{key}.node")
            run = t["run"]
            if isinstance(run, str):
                try:
                    words = shlex.split(run)
                except ValueError as e:
                    self.fail(f"{key}.run", str(e))
            elif isinstance(run, list) and all(isinstance(w, str) for w in run):
                words = list(run)
            else:
                self.fail(f"{key}.run", f"expected a string or a list of strings, got {_show(run)}")
            if not words:
                self.fail(f"{key}.run", "empty command")
            for w in words:
                for ref in _APP_PLACEHOLDER.findall(w):
                    if ref != "python" and (ref not in nodes or
                                            _address_of(nodes[ref]) is None):
                        self.fail(f"{key}.run", f"{{{ref}}}: no node with an address called "
                                  f"{ref!r}")
            at = self.duration(t.get("at", 0), f"{key}.at")
            if at >= duration:
                self.fail(f"{key}.at", f"{_secs(at)} is not before the end of the scenario "
                          f"({_secs(duration)})")
            tool = re.sub(r"[^A-Za-z0-9_.-]", "", Path(words[0]).name) or "app"
            name = self.string(t.get("name", f"{i}-{node}-{tool}"), f"{key}.name")
            if not _APP_NAME.match(name):
                self.fail(f"{key}.name", f"bad name {name!r} (letters, digits, '-', '_', '.')")
            if name in names:
                self.fail(f"{key}.name", f"{name!r} is used twice")
            names.add(name)
            out.append(AppSpec(key=key, name=name, node=node, at=at, run=tuple(words)))
        return tuple(out)

    def faults(self, nodes: dict[str, NodeSpec], links: list[Link], duration: float
               ) -> tuple[Fault, ...]:
        faults: list[Fault] = []
        for i, t in enumerate(self.array_of_tables("faults")):
            key = f"faults[{i}]"
            t = self.table(t, key, _FAULT_KEYS, ("at", "node", "kind"))
            at = self.duration(t["at"], f"{key}.at")
            if at > duration:
                if self.cut is not None and self.origin(f"{key}.at") is None:
                    continue  # after the end of a shortened run (--duration)
                self.fail(f"{key}.at", f"{_secs(at)} is after the end of the scenario "
                          f"({self.end(duration)})")
            kind = self.choice(t["kind"], f"{key}.kind", FAULT_KINDS)
            node = self.node_ref(t["node"], f"{key}.node",
                                 *(("map",) if kind == "preference" else ()))
            value = None
            if kind == "preference":
                if "value" not in t:
                    self.fail(f"{key}.value", "missing (required for kind = \"preference\")")
                value = self.integer(t["value"], f"{key}.value", 0, 15)
            elif "value" in t:
                self.fail(f"{key}.value", 'only for kind = "preference"')
            peer = None
            if "peer" in t:
                if kind not in ("link-down", "link-up"):
                    self.fail(f"{key}.peer", 'only for kind = "link-down" or "link-up"')
                peer = self.node_ref(t["peer"], f"{key}.peer")
                if not any(set(link.between) == {node, peer} for link in links):
                    self.fail(f"{key}.peer", f"no [[links]] entry between {node!r} and {peer!r}")
            faults.append(Fault(key=key, at=at, node=node, kind=kind, value=value, peer=peer))
        faults.sort(key=lambda f: f.at)
        crashed: set[str] = set()
        for f in faults:
            if f.kind == "crash":
                if f.node in crashed:
                    self.fail(f"{f.key}.kind", f"{f.node!r} has already crashed")
                crashed.add(f.node)
            elif f.kind == "restart":
                if f.node not in crashed:
                    self.fail(f"{f.key}.kind", f"{f.node!r} restarts without having crashed")
                crashed.discard(f.node)
        return tuple(faults)

    def static_routes(self, nodes: dict[str, NodeSpec]) -> tuple[StaticRoute, ...]:
        out: list[StaticRoute] = []
        for i, t in enumerate(self.array_of_tables("routes")):
            key = f"routes[{i}]"
            t = self.table(t, key, _ROUTE_KEYS, _ROUTE_KEYS)
            out.append(StaticRoute(node=self.node_ref(t["node"], f"{key}.node"),
                                   prefix=self.prefix(t["prefix"], f"{key}.prefix"),
                                   via=self.node_ref(t["via"], f"{key}.via"), key=key))
        return tuple(out)

    def manual_sas(self, nodes: dict[str, NodeSpec], defaults: Parameters, profile: str
                   ) -> tuple[ManualSAs, ...]:
        out: list[ManualSAs] = []
        pairs: set[tuple[str, str]] = set()
        spis: dict[tuple[str, int], str] = {}  # (receiving node, SPI) -> where it was set
        for i, t in enumerate(self.array_of_tables("sas")):
            key = f"sas[{i}]"
            t = self.table(t, key, _SA_KEYS, _SA_KEYS)
            between = t["between"]
            if not isinstance(between, list) or len(between) != 2:
                self.fail(f"{key}.between", "expected [mobile node, its MAP or home agent], got "
                          f"{_show(between)}")
            names = [self.node_ref(n, f"{key}.between[{j}]", "mobile-node", "map", "home-agent")
                     for j, n in enumerate(between)]
            mns = [n for n in names if isinstance(nodes[n], MobileNodeSpec)]
            if len(mns) != 1:
                self.fail(f"{key}.between", "expected one mobile node and one MAP or home agent")
            mn = mns[0]
            peer = names[1] if names[0] == mn else names[0]
            mspec, pspec = nodes[mn], nodes[peer]
            assert isinstance(mspec, MobileNodeSpec)
            if isinstance(pspec, HomeAgentSpec):
                if mspec.home_agent != peer:
                    self.fail(f"{key}.between", f"{mn!r}'s home agent is {mspec.home_agent!r}")
                mn_addr, what = mspec.home_address, "home address"
            else:
                assert isinstance(pspec, MapSpec)
                if profile == "rfc5380":
                    self.fail(f"{key}.between", "under profile rfc5380 the MN-MAP SAs are "
                              "negotiated with IKEv2 (RFC 5380 §12.1)")
                mn_addr = interface_address(pspec.rcoa_prefix, mspec.interface_id)
                what = "RCoA"
            if defaults.security == "none":
                self.fail(key, 'manually keyed SAs need [defaults] security = "esp" or "ah", '
                          'not "none"')
            if (mn, peer) in pairs:
                self.fail(f"{key}.between", f"a second [[sas]] for {mn} and {peer}")
            pairs.add((mn, peer))
            lines = t["xfrm"]
            if not isinstance(lines, list) or len(lines) != 2:
                self.fail(f"{key}.xfrm", "expected two 'ip xfrm state add' lines, one each way")
            params: list[SAParams] = []
            for j, line in enumerate(lines):
                try:
                    params.append(parse_xfrm_state(self.string(line, f"{key}.xfrm[{j}]")))
                except LocalProtocolError as e:
                    self.fail(f"{key}.xfrm[{j}]", str(e))
            peer_addr = pspec.address
            to = [p for p in params if _covers(p.dst, peer_addr) and _covers(p.src, mn_addr)]
            back = [p for p in params if _covers(p.src, peer_addr) and _covers(p.dst, mn_addr)]
            if len(to) != 1 or len(back) != 1 or to[0] is back[0]:
                self.fail(f"{key}.xfrm", f"expected one SA from {mn}'s {what} {mn_addr} (or a "
                          f"prefix holding it) to {peer} {peer_addr}, and one back")
            protocol = defaults.security  # "esp" or "ah": the protocol its policies require
            for j, p in enumerate(params):
                if p.protocol != protocol:
                    self.fail(f"{key}.xfrm[{j}]", f"proto {p.protocol}, but the scenario's "
                              f"security {defaults.security!r} protects with {protocol}")
                receiver = peer if p is to[0] else mn
                seen = spis.setdefault((receiver, p.spi), f"{key}.xfrm[{j}]")
                if seen != f"{key}.xfrm[{j}]":
                    self.fail(f"{key}.xfrm[{j}]", f"SPI 0x{p.spi:08x} already reaches "
                              f"{receiver} ({seen})")
            out.append(ManualSAs(key=key, mn=mn, peer=peer, to_peer=to[0], from_peer=back[0]))
        return tuple(out)

    def routing(self, nodes: dict[str, NodeSpec], links: list[Link],
                static: tuple[StaticRoute, ...]) -> RoutingTables:
        dests: list[Destination] = []
        hoas: dict[IPv6Address, str] = {}
        for n in nodes.values():
            key = f"nodes.{n.name}"
            if isinstance(n, MobileNodeSpec):
                if n.home_address in hoas:
                    self.fail(f"{key}.home_address",
                              f"{n.home_address} is also the home address of {hoas[n.home_address]!r}")
                hoas[n.home_address] = n.name
                continue
            if isinstance(n, HomeAgentSpec):
                dests.append(Destination(prefix=n.home_prefix, owner=n.name, key=f"{key}.address"))
            elif isinstance(n, MapSpec):
                dests.append(Destination(prefix=n.rcoa_prefix, owner=n.name, key=f"{key}.address"))
            elif isinstance(n, AccessRouterSpec):
                dests.append(Destination(prefix=n.prefix, owner=n.name, key=f"{key}.prefix"))
            address = getattr(n, "address", None)
            if isinstance(address, IPv6Address):
                dests.append(Destination(prefix=IPv6Network(address), owner=n.name,
                                         key=f"{key}.address"))
        wired = [n for n, spec in nodes.items() if not isinstance(spec, MobileNodeSpec)]
        try:
            return compute_routes(wired, [(*link.between, link.delay) for link in links], dests,
                                  static)
        except RoutingError as e:
            self.fail(e.key, e.problem)


def _covers(selector: IPv6Network | None, address: IPv6Address) -> bool:
    return selector is None or address in selector


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _secs(seconds: float) -> str:
    return f"{seconds:g}s"
