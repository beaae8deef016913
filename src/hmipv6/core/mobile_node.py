"""The HMIPv6 mobile node (RFC 4140 §6.1, §7.2, §8-§10, §12; RFC 6275 §11; RFC 5380 profile).

Theory of operation
-------------------
Inputs are Router Advertisements (what access routers say about prefixes and MAPs), Binding
Acknowledgements and the other Mobility Header messages, Neighbor Discovery for DAD, the
link-layer commands ``link_up``/``link_down`` and application ``send``. After each input the
node *reconciles* what it has with what it wants (:meth:`MobileNode._reconcile`):

1. the *primary link*: an up link with a usable LCoA, preferring one whose access router
   advertises the MAP in use (RFC 4140 §7.2, multihoming, MN-21);
2. the *MAP*: chosen among the MAP options advertised on the usable links by the configured
   policy (:mod:`.map_selection`, RFC 4140 §9.1); a MAP already in use whose Pref fell to 0 is
   kept while nothing else is selectable (§7.2: "can refresh existing bindings but cannot
   create new ones", MN-17); none at all means plain Mobile IPv6 (§7.2, MN-02, MN-18);
3. the *registrations*, in the order of RFC 4140 §6.1: a local BU to the MAP binding the RCoA
   to the LCoA; once the MAP's BA has come back, a BU to the home agent binding the home
   address to the RCoA ("SHOULD wait for the binding acknowledgement from the MAP before
   registering with its HA", MN-09); then correspondent registrations after return
   routability (§6.1.1, §12.2, MN-11). In plain Mobile IPv6 mode the HA and correspondents
   bind the home address to the LCoA directly.

Every RCoA the node holds is a *region* (one per MAP). The region of the MAP in use is
*current*; other regions are kept lazily (RFC 4140 §9: "Eager" to bind, "Lazy" in releasing,
MN-16): refreshed while their MAP is still advertised, updated with each new LCoA under the
RFC 4140 profile ("the mobile node MUST perform the binding update procedure for each RCoA",
MN-15; optional under RFC 5380 §6.1, X5380-03), dropped when their binding expires or their
MAP fails. When the MAP changes, the previous region gets one local BU with the new LCoA (RFC
4140 §8, "kind" ``previous-map``, MN-14).

Packets. All signalling and data leave through :meth:`~hmipv6.core.node.Node.send_packet`;
what the node originates is first passed to the security collaborator, then wrapped in the
tunnel headers (which are not protected: RFC 4140 §12.1 protects the BU, not the tunnel):

- local BU: ``LCoA → MAP [HAO=RCoA] BU(A|M)`` (RFC 4140 §4.1, §6.1, MN-06);
- after the MAP's BA, everything goes through the MN-MAP tunnel (RFC 4140 §6.1, MN-08):
  ``⟦LCoA → MAP⟧ RCoA → HA [HAO=HoA] BU(A|H)`` (MN-09), reverse-tunnelled data
  ``⟦LCoA → MAP⟧ ⟦RCoA → HA⟧ HoA → peer``, HoTI the same way (RFC 4140 §12.2), CoTI and
  route-optimised data ``⟦LCoA → MAP⟧ RCoA → CN [HAO=HoA]`` (RFC 4140 §6.1.1);
- so the LCoA appears only in outer headers towards the MAP (location privacy, §6.6, MN-20),
  except with correspondents on the same link when ``onlink_correspondent_binding`` is set
  (§6.1: "a mobile node may send a BU containing its LCoA ... to correspondent nodes, which
  are connected to its same link", MN-24).

Retransmission and lifetimes follow RFC 6275 §11.7-§11.8 (:mod:`.binding_update_list`,
MN-22). Every observable step is an event (``core/events.py``), enough to compute the report's
handover timeline: LinkChanged (l2_down, l2_up), RouterAdvertisementReceived, MovementDetected,
CareOfAddressConfigured (coa_ready = first ``usable`` LCoA), MapSelected, BindingUpdateSent,
BindingAcknowledged (``kind`` local/home/...), HandoverCompleted, DataReceived (first_data).

Limitations (documented, not hidden): the node is always away from home (no home-link
detection or deregistration, RFC 6275 §11.5.5); no Mobile Prefix Discovery or DHAAD; a
duplicate LCoA found by DAD is replaced by one with a random interface identifier (RFC 4862
§5.4.5 would stop; a mobile node must keep moving); under the RFC 5380 profile an RCoA the MAP
allocates (R flag, RFC 4877 §9) is obtained from key management: the node emits
:class:`RegionalCareOfAddressRequested` (and calls ``rcoa_allocator`` if given) and waits for
:meth:`MobileNode.assign_rcoa`.

Host stack (``host_delivery``). A driver with a real host IP stack behind the home address
(the testbed's TUN device) sets ``host_delivery``: every packet whose final destination is
the home address, other than the Mobility Header and Neighbor Discovery messages the engine
consumes itself, is queued for the host (:meth:`MobileNode.packets_for_host`) as the plain
packet the correspondent meant, ``peer → HoA`` (a type 2 routing header and a Home Address
option, RFC 6275 §6.3-§6.4, removed; the upper-layer checksum was computed over the home
address, so it stays valid), and the engine's own Echo responder and data sink stand aside.
What the host sends from the home address enters through :meth:`MobileNode.send_from_host`
and takes the path ``send`` takes (route-optimised when a correspondent binding exists,
otherwise reverse-tunnelled through the HA and the MAP), its octets carried unchanged inside
the tunnels; a packet larger than the path allows is answered to the host with ICMPv6
Packet Too Big (RFC 8201 §4, RFC 5380 §11).

IKEv2 with the MAP (RFC 5380 §12.1, X5380-05). With an ``ike`` collaborator
(:class:`~hmipv6.core.ike.client.IkeClient`, which owns one sans-IO
:class:`~hmipv6.core.ike.exchange.IkeInitiator` per MAP) that key management is in-band: on
that request the node starts an exchange with the MAP (if it has a PSK for it), sends the IKE
messages in UDP 500 → 500 from the LCoA of the link advertising the MAP, unprotected (IKE
bypasses IPsec), feeds back the port-500 datagrams the MAP returns (``on_data``) and
arms the initiator's retransmission deadline as timer ``ike:<MAP>``. Established → the
Child SA is in the node's IPsec and :meth:`assign_rcoa` registers the allocated RCoA with an
ESP-protected local BU; RcoaRefused or Failed → :meth:`rcoa_refused` (MN-23; at most
``max_rcoa_attempts`` exchanges per MAP, then the MAP is given up for this LCoA). When the
MAP deletes only the Child SA, the IKE SA asks for a new one (CREATE_CHILD_SA, RFC 7296
§1.3.1) and the node then sends a local BU protected with it; when it deletes the IKE SA
(or stops answering), the node runs IKEv2 again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Any, Literal

from hmipv6.core import return_routability as rr
from hmipv6.core.addresses import AddressSet
from hmipv6.core.binding_update_list import BindingKind, BindingUpdateList, BulEntry
from hmipv6.core.events import (
    BindingAcknowledged,
    BindingUpdateSent,
    CareOfAddressConfigured,
    HandoverCompleted,
    LinkChanged,
    MapFailed,
    MapRecovered,
    MapSelected,
    MovementDetected,
    RegionalCareOfAddressRequested,
    RouterAdvertisementReceived,
)
from hmipv6.core.ike.exchange import Established
from hmipv6.core.ike.message import IKE_PORT
from hmipv6.core.ike.transport import ike_packet
from hmipv6.core.map_selection import MapPolicy, MapRecord, MapStore, Profile, select_map, selectable
from hmipv6.core.node import Node
from hmipv6.core.security import Security, SecurityDrop
from hmipv6.errors import DecodeError, EncodeError
from hmipv6.wire.addr import (
    ALL_ROUTERS,
    UNSPECIFIED,
    addr,
    interface_address,
    solicited_node,
    text,
)
from hmipv6.wire.icmpv6 import (
    MTU,
    EchoReply,
    EchoRequest,
    MapOption,
    NeighborAdvertisement,
    NeighborSolicitation,
    PacketTooBig,
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    TargetLinkLayerAddress,
    options_of,
)
from hmipv6.wire.ipv6 import (
    DestinationOptions,
    HomeAddressOption,
    IPv6Packet,
    Payload,
    RawPayload,
    RoutingHeaderType2,
    decode,
)
from hmipv6.wire.mobility import (
    AlternateCareOfAddress,
    BAStatus,
    BEStatus,
    BindingAcknowledgement,
    BindingError,
    BindingRefreshRequest,
    BindingUpdate,
    BUFlags,
    CareOfTest,
    CareOfTestInit,
    HomeTest,
    HomeTestInit,
    MHType,
    NonceIndices,
)
from hmipv6.wire.udp import UDP

if TYPE_CHECKING:
    from hmipv6.core.ike.client import IkeClient
    from hmipv6.core.ike.exchange import Outcome

__all__ = ["DadMode", "MobileNode", "MobileNodeConfig"]

DadMode = Literal["standard", "optimistic", "none"]

MAX_RTR_SOLICITATION_DELAY = 1.0
"""RFC 4861 §10."""
RTR_SOLICITATION_INTERVAL = 4.0
"""RFC 4861 §10."""
MAX_RTR_SOLICITATIONS = 3
"""RFC 4861 §10."""
RETRANS_TIMER = 1.0
"""RFC 4861 §10 (1,000 ms), the DAD wait of RFC 4862 §5.4 with DupAddrDetectTransmits 1."""
DISCARD_PORT = 9
"""Raw ``bytes`` handed to :meth:`MobileNode.send` travel as UDP to the discard port."""
TUNNEL_OVERHEAD = 40
"""One IPv6-in-IPv6 header (RFC 2473)."""
LINK_MTU = 1500
"""The access links' MTU unless configured (Ethernet, RFC 2464 §2)."""

_RaView = tuple[tuple[PrefixInformation, ...], tuple[IPv6Network, ...], tuple[str, ...],
                tuple[MapOption, ...], tuple[MTU, ...], tuple[IPv6Address, ...],
                frozenset[IPv6Address]]
"""What ``MobileNode._on_ra`` reads from an RA (prefixes, their networks and names, MAP
options, MTU options, the MAP addresses in order and as a set)."""

_BU = int(MHType.BU)

_RA_VIEWS: dict[int, tuple[RouterAdvertisement, _RaView]] = {}
"""``id(ra)`` -> (``ra``, its view), shared by every mobile node: the same RA object reaches
every station of a cell. The entry holds the RA, so its id cannot be reused while cached."""
_RA_VIEWS_LIMIT = 256
_last_records: list[Any] = [None, 0.0, "", None, ()]
"""(RA, time, ifname, router, MapRecords) of the last RA turned into records: the stations
of a cell hear one RA at the same instant, and the (immutable) records are shared."""


_NETWORKS: dict[int, IPv6Network] = {}
"""The /64 (as an integer, the address shifted right by 64) -> its network: one object per
prefix, so a link's prefix and the next RA's are the same object (``in`` and ``==`` then
stop at identity instead of comparing networks field by field)."""
_NETWORK_TEXTS: dict[int, str] = {}
"""An advertised prefix (as an integer) -> its name, ``prefix/64`` as the RA event gives it."""
_NETWORKS_LIMIT = 4096
_DEFAULT_ROUTE = IPv6Network("::/0")
"""The default route through the access router (one object, not parsed per new router)."""


def _network(prefix: IPv6Address) -> IPv6Network:
    """The /64 network of an advertised prefix (RFC 4862 §5.5.3: prefix + 64-bit IID)."""
    key = int(prefix) >> 64
    net = _NETWORKS.get(key)
    if net is None:
        if len(_NETWORKS) >= _NETWORKS_LIMIT:
            _NETWORKS.clear()
        net = _NETWORKS[key] = IPv6Network(f"{prefix}/64", strict=False)
    return net


def _network_text(prefix: IPv6Address) -> str:
    """``prefix/64`` (the prefix as advertised, host bits and all)."""
    key = int(prefix)
    name = _NETWORK_TEXTS.get(key)
    if name is None:
        if len(_NETWORK_TEXTS) >= _NETWORKS_LIMIT:
            _NETWORK_TEXTS.clear()
        name = _NETWORK_TEXTS[key] = f"{prefix}/64"
    return name


def _ra_view(ra: RouterAdvertisement) -> _RaView:
    """What :meth:`MobileNode._on_ra` reads from an RA's options: the usable prefixes (RFC
    4862 §5.5.3), their /64 networks and names, the MAP options, the MTU options, the MAP
    addresses. A pure function of the (immutable) RA, memoised by the RA object."""
    hit = _RA_VIEWS.get(id(ra))
    if hit is not None and hit[0] is ra:
        return hit[1]
    prefixes = tuple(p for p in options_of(ra.options, PrefixInformation)
                     if p.autonomous and p.prefix_length == 64 and p.valid_lifetime > 0
                     and p.preferred_lifetime <= p.valid_lifetime
                     and not p.prefix.is_link_local and not p.prefix.is_multicast)
    networks = tuple(_network(p.prefix) for p in prefixes)
    options = options_of(ra.options, MapOption)
    maps = tuple(o.address for o in options)
    result = (prefixes, networks, tuple(_network_text(p.prefix) for p in prefixes), options,
              options_of(ra.options, MTU), maps, frozenset(maps))
    if len(_RA_VIEWS) >= _RA_VIEWS_LIMIT:
        _RA_VIEWS.clear()
    _RA_VIEWS[id(ra)] = (ra, result)
    return result


_link_local_seen: list[IPv6Address | None] = [None]
"""The last RA source found link-local: every station of a cell checks the same address
object (held here, so its identity cannot be reused)."""


def _link_local(address: IPv6Address) -> bool:
    """``address.is_link_local``, remembering the address when it is."""
    if address.is_link_local:
        _link_local_seen[0] = address
        return True
    return False


_HEARD_UNICAST, _HEARD_NS, _HEARD_RS, _HEARD_OTHER = range(4)


def _heard(packet: IPv6Packet, raw: bytes) -> tuple[IPv6Packet, int, int]:
    """What :meth:`MobileNode.overheard` needs from a frame whatever the station: the
    packet, what it is (unicast; a Neighbor Solicitation or a Router Solicitation to a
    multicast address, ICMPv6 right after the IPv6 header; anything else) and the address
    the station compares with its own (the destination of unicast, the target of a
    solicitation). Every station of a cell hears the same packet object: the last answer
    is kept in :data:`_last_heard` (holding the packet, so its identity cannot be reused)."""
    if raw[24] != 0xFF:  # unicast (RFC 4291 §2.7: multicast's first octet is 0xff)
        heard = (packet, _HEARD_UNICAST, int(packet.dst))
    elif raw[6] != 58:  # not ICMPv6 right after the IPv6 header
        heard = (packet, _HEARD_OTHER, 0)
    else:
        message = packet.payload
        kind = type(message)
        if kind is NeighborSolicitation:
            heard = (packet, _HEARD_NS, int(message.target))  # type: ignore[union-attr]
        else:
            heard = (packet, _HEARD_RS if kind is RouterSolicitation else _HEARD_OTHER, 0)
    _last_heard[0] = heard
    return heard


_last_heard: list[tuple[IPv6Packet | None, int, int]] = [(None, _HEARD_OTHER, 0)]


def _map_records(ra: RouterAdvertisement, options: tuple[MapOption, ...], now: float,
                 ifname: str, router: IPv6Address) -> tuple[MapRecord, ...]:
    """MN-01 (RFC 4140 §7.2): the MAP options of ``ra`` as stored, heard at ``now`` on
    ``ifname`` from ``router``; the same tuple for every station hearing it then."""
    last = _last_records
    if last[0] is ra and last[1] == now and last[2] == ifname and (
            last[3] is router or last[3] == router):
        records: tuple[MapRecord, ...] = last[4]
        return records
    records = tuple(MapRecord(address=o.address, dist=o.dist, pref=o.pref, r=o.r,
                              valid_lifetime=o.valid_lifetime, received_at=now, ifname=ifname,
                              router=router, position=i) for i, o in enumerate(options))
    last[:] = (ra, now, ifname, router, records)
    return records


@dataclass(frozen=True, slots=True, kw_only=True)
class MobileNodeConfig:
    """A mobile node's configuration; defaults are the RFCs'."""

    home_address: IPv6Address
    home_agent: IPv6Address
    interface_id: int = 0x0A_000B_000C_000D
    """64-bit interface identifier for the LCoA and the RCoA (RFC 4140 §6)."""
    dad: DadMode = "standard"
    map_selection: MapPolicy = "furthest"
    profile: Profile = "rfc4140"
    binding_lifetime: int = 420
    """Seconds requested from MAP, HA and correspondents (rounded down to 4 s units)."""
    hmipv6: bool = True
    """False: plain Mobile IPv6 even where MAPs are advertised (for comparison runs)."""
    route_optimisation: bool = False
    correspondents: tuple[IPv6Address, ...] = ()
    """Correspondents to register with (return routability) when route optimisation is on."""
    onlink_correspondent_binding: bool = False
    """MN-24: bind the LCoA (not the RCoA) at correspondents on the same link."""
    previous_map_update: bool = True
    """MN-14: a local BU to the previous MAP with the new LCoA on a MAP change."""
    multiple_maps: bool = False
    """Register with every selectable advertised MAP, not only the selected one (§7.2 MAY)."""
    bind_every_rcoa: bool | None = None
    """Update every held RCoA on each new LCoA; None = the profile's rule (RFC 4140 MUST,
    RFC 5380 MAY: only the RCoA in use, X5380-03)."""
    max_rtr_solicitation_delay: float = MAX_RTR_SOLICITATION_DELAY
    rtr_solicitation_interval: float = RTR_SOLICITATION_INTERVAL
    max_rtr_solicitations: int = MAX_RTR_SOLICITATIONS
    retrans_timer: float = RETRANS_TIMER
    dup_addr_detect_transmits: int = 1
    initial_bindack_timeout_first_reg: float = 1.5
    initial_bindack_timeout: float = 1.0
    max_bindack_timeout: float = 32.0
    max_bu_retransmissions: int | None = None
    """None: RFC 6275 §11.8 "MAY continue ... indefinitely"."""
    max_rcoa_attempts: int = 3
    """MN-23: new RCoAs tried at one MAP before giving it up."""
    link_mtu: int = LINK_MTU
    """Used until an RA carries an MTU option."""
    trusted_routers: frozenset[IPv6Address] | None = None
    """The routers (their RAs' link-local source addresses) whose Router Advertisements this
    node acts on; ``None``: any. A stand-in for SEND (RFC 3971), which RFC 4140 §12 and RFC
    6275 §15 rely on to stop a rogue router advertising a MAP: an RA from anyone else is
    dropped, its MAP options counted (``dropped.untrusted-map-option``)."""

    def __post_init__(self) -> None:
        # addr(): an IPv6Address is kept as it is (IPv6Address(an address) formats it as text
        # and parses the text back; a simulator builds a thousand of these configurations).
        object.__setattr__(self, "home_address", addr(self.home_address))
        object.__setattr__(self, "home_agent", addr(self.home_agent))
        object.__setattr__(self, "correspondents",
                           tuple(addr(c) for c in self.correspondents))
        trusted = self.trusted_routers
        if trusted is not None and not (isinstance(trusted, frozenset)
                                        and all(type(r) is IPv6Address for r in trusted)):
            # (A frozenset of addresses is kept as given: every node of a scenario shares it.)
            object.__setattr__(self, "trusted_routers", frozenset(addr(r) for r in trusted))
        iid: object = self.interface_id
        if isinstance(iid, str | IPv6Address):
            iid = int(IPv6Address(iid))
        if not isinstance(iid, int):
            raise ValueError(f"interface_id must be an int or an address, not {iid!r}")
        object.__setattr__(self, "interface_id", iid & 0xFFFF_FFFF_FFFF_FFFF)
        if self.dad not in ("standard", "optimistic", "none"):
            raise ValueError(f"dad must be standard, optimistic or none, not {self.dad!r}")
        if self.map_selection not in ("furthest", "preference", "nearest"):
            raise ValueError(f"unknown MAP selection policy {self.map_selection!r}")
        if self.profile not in ("rfc4140", "rfc5380"):
            raise ValueError(f"unknown profile {self.profile!r}")

    @property
    def update_every_rcoa(self) -> bool:
        if self.bind_every_rcoa is not None:
            return self.bind_every_rcoa
        return self.profile == "rfc4140"


@dataclass(slots=True)
class LinkState:
    """What the mobile node knows about one of its links."""

    ifname: str
    iid: int
    up: bool = False
    up_since: float = 0.0
    router_name: str | None = None
    router: IPv6Address | None = None
    """The access router's link-local address (from its RA)."""
    prefix: IPv6Network | None = None
    lcoa: IPv6Address | None = None
    dad: Literal["tentative", "optimistic", "preferred"] | None = None
    mtu: int = 1500
    solicitations: int = 0
    heard_maps: frozenset[IPv6Address] = frozenset()
    """MAP addresses of the last RA heard on this link (kept across link changes, for
    movement detection)."""

    @property
    def usable(self) -> bool:
        return self.up and self.lcoa is not None and self.dad in ("optimistic", "preferred")


@dataclass(slots=True)
class Region:
    """One RCoA at one MAP."""

    map: IPv6Address
    rcoa: IPv6Address | None
    """None while waiting for a MAP-allocated RCoA (RFC 5380 R flag)."""
    attempts: int = 1


@dataclass(slots=True)
class CorrespondentState:
    """Return routability with one correspondent (RFC 6275 §5.2, §11.6)."""

    cn: IPv6Address
    care_of: IPv6Address | None = None
    home_cookie: bytes | None = None
    care_of_cookie: bytes | None = None
    home_token: tuple[int, bytes, float] | None = None
    """(nonce index, keygen token, time received)."""
    care_of_token: tuple[int, bytes, IPv6Address, float] | None = None
    kbm: bytes | None = None
    timeout: float = 1.0
    disabled: bool = False
    """RFC 6275 §11.3.6: "cease the attempt to use route optimization"."""


@dataclass(slots=True)
class _Handover:
    kind: str
    lcoa: IPv6Address
    map: IPv6Address | None
    done: bool = False


def _floor4(seconds: float) -> int:
    """Lifetimes travel in 4-second units (RFC 6275 §6.1.7); never round up (MN-10)."""
    return max(int(seconds) // 4 * 4, 0)


class MobileNode(Node):
    """An HMIPv6 (and plain Mobile IPv6) mobile node.

    Commands: :meth:`link_up`, :meth:`link_down`, :meth:`send`, :meth:`assign_rcoa`,
    :meth:`rcoa_refused`. Queries: :attr:`current_map`, :meth:`rcoa`, :meth:`lcoa`,
    :meth:`upper_layer_mtu`, :attr:`bul`.
    """

    def __init__(self, name: str, config: MobileNodeConfig, *, interfaces: tuple[str, ...] = ("wlan0",),
                 rng: random.Random | None = None, security: Security | None = None,
                 rcoa_allocator: Callable[[IPv6Address, IPv6Address], IPv6Address | None] | None
                 = None, ike: IkeClient | None = None) -> None:
        super().__init__(name, rng=rng, security=security)
        self.config = config
        self.links: dict[str, LinkState] = {}
        self._lcoa_ints: frozenset[int] = frozenset()
        """The links' LCoAs as integers (kept by :meth:`_set_lcoa`): :meth:`_on_ns` ignores
        a solicitation for none of them at once."""
        for ifname in interfaces:
            self._ensure_link(ifname)
        self.maps = MapStore()
        self.regions: dict[IPv6Address, Region] = {}
        self.current_map: IPv6Address | None = None
        self.bul = BindingUpdateList(self.rng, first_reg_timeout=config.initial_bindack_timeout_first_reg,
                                     initial_timeout=config.initial_bindack_timeout,
                                     max_timeout=config.max_bindack_timeout)
        self.correspondents: dict[IPv6Address, CorrespondentState] = {
            cn: CorrespondentState(cn) for cn in config.correspondents}
        self.rcoa_allocator = rcoa_allocator
        self.ike = ike
        self._ike_restart: set[IPv6Address] = set()
        """MAPs whose IKE SA was lost and is being negotiated again."""
        """IKEv2 key management with R-flag MAPs under the RFC 5380 profile (module doc)."""
        self._rcoa_iid = config.interface_id
        self._failed_maps: set[IPv6Address] = set()
        self._rejected: set[tuple[IPv6Address, IPv6Address]] = set()
        """(MAP, LCoA) pairs a MAP refused (e.g. status 129, RFC 4140 §6.2)."""
        self._virtual = AddressSet((config.home_address,))
        """Addresses that live on no interface: the home address and the RCoAs (asked by
        integer on every packet, see :mod:`~hmipv6.core.addresses`)."""
        self._handover: _Handover | None = None
        self._attachment: tuple[IPv6Address, IPv6Address | None] | None = None
        self._last_prefix: IPv6Network | None = None
        self._trusted_router: IPv6Address | None = None
        """The last router whose RA passed the trust check."""
        self._unusable_maps: set[IPv6Address] = set()
        """MAPs advertised to us that we could not protect a BU to (reported once each)."""
        self._be_reregistered: dict[tuple[IPv6Address, IPv6Address], float] = {}
        """When a Binding Error last made us re-register (destination, home address)."""
        self.host_delivery = False
        """Hand the home address's traffic to a host stack (module docstring)."""
        self._host: list[bytes] = []

    # == configuration helpers =================================================================

    def _ensure_link(self, ifname: str) -> LinkState:
        link = self.links.get(ifname)
        if link is None:
            if ifname not in self.interfaces:
                self.add_interface(ifname)
            self.interfaces[ifname].up = False
            link = self.links[ifname] = LinkState(ifname, self.config.interface_id,
                                                  mtu=self.config.link_mtu)
        return link

    def is_local(self, address: IPv6Address) -> bool:
        a = int(address)  # Node.is_local's integer set, and the virtual addresses'
        return a in self._virtual.ints or a in self._local_ints

    # == queries ===============================================================================

    def rcoa(self, map_address: IPv6Address | None = None) -> IPv6Address | None:
        """The RCoA at ``map_address`` (default: the MAP in use)."""
        m = map_address if map_address is not None else self.current_map
        region = self.regions.get(m) if m is not None else None
        return region.rcoa if region is not None else None

    def lcoa(self) -> IPv6Address | None:
        """The LCoA of the primary link."""
        link = self._primary_link()
        return link.lcoa if link is not None else None

    def upper_layer_mtu(self, dst: IPv6Address | None = None) -> int:
        """The MTU offered to upper layers for packets to ``dst``: the link MTU less 40 octets
        per tunnel the packet will travel in (RFC 5380 §11: "mobile nodes MUST consider the
        encapsulation of traffic between the node and the MAP when calculating the available
        MTU for upper layers", X5380-04): two levels when reverse-tunnelled through MAP and
        HA, one through the MAP alone (route optimisation, RCoA as source) or the HA alone
        (plain Mobile IPv6), none for a correspondent bound to the LCoA."""
        link = self._primary_link()
        base = link.mtu if link is not None else self.config.link_mtu
        return base - TUNNEL_OVERHEAD * self._tunnel_levels(dst)

    def _tunnel_levels(self, dst: IPv6Address | None, use_rcoa: bool = False) -> int:
        region = self._bound_region()
        if use_rcoa:
            return 1
        if dst is not None:
            ro = self._ro_entry(dst)
            if ro is not None:
                return 1 if region is not None and ro.acked_care_of == region.rcoa else 0
        return 2 if region is not None else 1

    # == commands ==============================================================================

    def link_up(self, now: float, ifname: str, router: str | None = None) -> None:
        """Layer 2 attached ``ifname`` (to the access router named ``router``): solicit an RA
        after a random delay of 0..MAX_RTR_SOLICITATION_DELAY (RFC 4861 §6.3.7, MN-25)."""
        link = self._ensure_link(ifname)
        if link.up:
            self.link_down(now, ifname)
        link.up, link.up_since, link.router_name, link.solicitations = True, now, router, 0
        self.interfaces[ifname].up = True
        self.emit(LinkChanged(time=now, ifname=ifname, up=True, router=router))
        delay = self.config.max_rtr_solicitation_delay
        # RFC 4861 §6.3.7: "delay the transmission for a random amount of time between 0 and
        # MAX_RTR_SOLICITATION_DELAY".
        wait = self.rng.uniform(0.0, delay) if delay > 0 else 0.0
        if wait <= 0:
            self._send_rs(now, link)
        else:
            self.timers.set(f"rs:{ifname}", now + wait)

    def link_down(self, now: float, ifname: str) -> None:
        """Layer 2 detached ``ifname``: its addresses, router and MAP options are gone;
        bindings stay (they point at the old LCoA until a new BU replaces them)."""
        link = self.links.get(ifname)
        if link is None or not link.up:
            return
        link.up = False
        self.interfaces[ifname].up = False
        self.emit(LinkChanged(time=now, ifname=ifname, up=False, router=link.router_name))
        for t in (f"rs:{ifname}", f"dad:{ifname}"):
            self.timers.cancel(t)
        self._drop_lcoa(link)
        if link.prefix is not None:
            self.remove_route(link.prefix)
        link.prefix = None
        link.router = None
        self.routes = [r for r in self.routes if r.ifname != ifname]
        self.maps.forget_link(ifname)
        self._reconcile(now)

    def send(self, now: float, dst: IPv6Address | str, payload: bytes | Payload, *,
             use_rcoa: bool = False) -> bool:
        """An application sends ``payload`` to ``dst``. Source and path (RFC 6275 §11.3.1,
        RFC 4140 §6.1, §6.1.1, §6.5): with ``use_rcoa`` the RCoA as source without a Home
        Address option, through the MAP tunnel (MN-19); to a route-optimised correspondent
        from the care-of address it is bound to with HAO = home address (through the MAP
        when that is the RCoA); otherwise from the home address, reverse-tunnelled through
        the HA (and the MAP). Returns False, counting a drop, when no path exists yet."""
        dst = addr(dst)
        body: Payload = UDP(DISCARD_PORT, DISCARD_PORT, payload) if isinstance(payload, bytes) else payload
        if isinstance(body, UDP) and 48 + len(body.data) > self.upper_layer_mtu(dst):
            self.drop(now, "packet-too-big", f"{len(body.data)} octets to {dst}")
            return False
        return self._send_upper(now, dst, body, use_rcoa=use_rcoa)

    def assign_rcoa(self, now: float, map_address: IPv6Address | str, rcoa: IPv6Address | str) -> None:
        """Key management allocated ``rcoa`` at ``map_address`` (RFC 5380 §5/§6.1 R flag, RFC
        4877 §9; X5380-02). The node registers it with a local BU."""
        m, a = IPv6Address(map_address), IPv6Address(rcoa)
        region = self.regions.get(m)
        if region is None:
            region = self.regions[m] = Region(m, None)
        if region.rcoa is not None and region.rcoa != a:
            self._release_region_address(region)
        region.rcoa = a
        self._virtual.add(a)
        self._reconcile(now)

    def rcoa_refused(self, now: float, map_address: IPv6Address | str) -> None:
        """Key management reports the MAP refused our RCoA (RFC 4140 §12.1:
        INVALID-ID-INFORMATION; "the mobile node SHOULD generate a new RCoA", MN-23)."""
        region = self.regions.get(IPv6Address(map_address))
        if region is not None:
            self._renew_rcoa(now, region)

    # == timers ================================================================================

    def on_timer(self, now: float, name: str) -> None:
        kind, _, rest = name.partition(":")
        if kind == "rs":
            link = self.links.get(rest)
            if link is not None and link.up and link.router is None:
                self._send_rs(now, link)
        elif kind == "dad":
            link = self.links.get(rest)
            if link is not None and link.lcoa is not None and link.dad in ("tentative", "optimistic"):
                link.dad = "preferred"
                self.add_address(link.ifname, link.lcoa)
                self.emit(CareOfAddressConfigured(time=now, ifname=link.ifname, address=link.lcoa,
                                                  kind="lcoa", usable=True))
                self._reconcile(now)
        elif kind in ("bu", "refresh", "expire"):
            dest_s, _, hoa_s = rest.partition("|")
            entry = self.bul.get(IPv6Address(dest_s), IPv6Address(hoa_s))
            if entry is not None:
                {"bu": self._on_retransmit, "refresh": self._on_refresh,
                 "expire": self._on_expire}[kind](now, entry)
        elif kind == "rr":
            st = self.correspondents.get(IPv6Address(rest))
            if st is not None and not st.disabled:
                st.timeout = min(st.timeout * 2, self.config.max_bindack_timeout)
                self._start_rr(now, st, retransmission=True)
        elif kind == "ike" and self.ike is not None:
            m = IPv6Address(rest)
            out, outcome = self.ike.handle_timer(now, m)
            self._ike_output(now, m, out, outcome)
        elif kind == "maps":
            self.counters["map_options_expired"] += len(self.maps.expire(now))
            self._arm_map_expiry()
            self._reconcile(now)

    def _arm_map_expiry(self) -> None:
        t = self.maps.next_expiry()
        if t is None:
            self.timers.cancel("maps")
        else:
            self.timers.set("maps", t)

    # == receiving =============================================================================

    _multicast_icmpv6_lane: bool = True
    """May :meth:`process` take its shortcut for multicast ICMPv6? Only while the class keeps
    the receive path the shortcut stands for (decided once per class)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._multicast_icmpv6_lane = (cls.process is MobileNode.process
                                      and cls.deliver is Node.deliver
                                      and cls.dispatch is MobileNode.dispatch)
        cls._not_for_us_lane = (cls.process is MobileNode.process
                                and cls.is_local is MobileNode.is_local and not cls.is_router)
        cls._overheard_lane = (cls.receive_packet is Node.receive_packet
                               and not cls._receives_octets and cls._multicast_icmpv6_lane
                               and cls.on_icmpv6 is MobileNode.on_icmpv6
                               and cls._on_ns is MobileNode._on_ns)

    _not_for_us_lane: bool = True
    """May :meth:`process` drop a unicast packet for none of its addresses at once?"""

    _overheard_lane: bool = True
    """Does :meth:`overheard` stand for the class's own receive path (its multicast ICMPv6
    goes through :meth:`process`'s shortcut to this class's :meth:`on_icmpv6` and
    :meth:`_on_ns`)?"""

    def overheard(self, now: float, packet: IPv6Packet, raw: bytes) -> bool:
        """What a mobile node only counts among the frames of its cell (issue 12: most of
        what a station hears), taken here for the simulator's cells without
        :meth:`receive_packet`, :meth:`process` and :meth:`on_icmpv6` in between:

        - another node's Neighbor Solicitation (a DAD probe, an address resolution) for
          none of our LCoAs: ``ns_ignored``, as :meth:`_on_ns` counts it;
        - another node's Router Solicitation: RFC 4861 §6.1.1, "Hosts MUST silently
          discard any received Router Solicitation messages" (``dropped.unhandled-icmpv6``,
          as ``Node.on_icmpv6`` counts it);
        - unicast for none of our addresses (flooded for a station that left):
          ``dropped.not-for-us``, as :meth:`process` drops it.

        The two ICMPv6 messages must come as :meth:`process`'s shortcut takes them (to a
        multicast address, ICMPv6 with no extension header, no host stack, IPsec admitting
        ICMPv6 in clear, counted ``bypass-in`` by ``admits_in_clear``). A node that reports
        its drops as events (:attr:`report_drops`, the engine's default; the simulator's
        runs without an event log count them only) is left to :meth:`receive_packet`, whose
        events the driver drains. ``tests/core/test_mobile_node_lanes.py`` holds this to
        :meth:`receive_packet`."""
        if self.report_drops or self.crashed or not self._overheard_lane:
            return False  # (a reported drop is an event for the driver: receive_packet's)
        heard = _last_heard[0]
        if heard[0] is not packet:
            heard = _heard(packet, raw)
        kind, address = heard[1], heard[2]
        if kind == _HEARD_UNICAST:
            if (address in self._local_ints or address in self._virtual.ints
                    or not self._not_for_us_lane):
                return False
            self.drop(now, "not-for-us")
            return True
        if kind == _HEARD_OTHER or self.host_delivery:
            return False
        if kind == _HEARD_NS and address in self._lcoa_ints:
            return False  # ours: _on_ns answers it or finds a duplicate
        admits = getattr(self.security, "admits_in_clear", None)  # (not in every Security)
        if admits is None or not admits(58):
            return False  # (nothing counted) the general path's SPD lookup decides
        if kind == _HEARD_NS:
            self.counters["ns_ignored"] += 1
        else:
            self.drop(now, "unhandled-icmpv6")
        return True

    def process(self, now: float, ifname: str, packet: IPv6Packet, raw: bytes | None) -> None:
        """A shortcut for what every station of a cell hears: an ICMPv6 message to a
        multicast address (Router Advertisements, other nodes' DAD probes and Router
        Solicitations) without extension headers goes straight to :meth:`on_icmpv6`, which
        is where the general path takes it (``Node.process`` -> ``Node.deliver``: no type 2
        routing header, no tunnel, inbound IPsec lets it in -> ``dispatch``: not for a host
        stack, next header 58). The security module counts it as its ``unprotect`` would;
        when that would have to look further (an SPD entry for ICMPv6), the general path
        runs. And a unicast packet for none of the node's addresses is dropped here, as
        ``Node.process`` drops it (``dropped.not-for-us``: a mobile node forwards nothing)."""
        dst = packet.dst
        # Multicast (RFC 4291 §2.7: first octet 0xff), read from the octets when there are
        # some (the destination's first octet is the header's 25th) rather than the address.
        if (raw[24] if raw is not None else int(dst) >> 120) != 0xFF:
            # Unicast for none of our addresses (a frame flooded to the cell for a station
            # that left): Node.process drops it at once; is_local inlined (on the integer
            # sets it reads: Node's, which the address methods keep with _local, and the
            # virtual addresses').
            if (self._not_for_us_lane and (d := int(dst)) not in self._local_ints
                    and d not in self._virtual.ints):
                self.drop(now, "not-for-us", text(dst) if self.report_drops else "")
                return
        elif self._multicast_icmpv6_lane:
            message = packet.payload
            if (message is not None and message.next_header == 58
                    and not packet.extension_headers and not self.host_delivery):
                admits = getattr(self.security, "admits_in_clear", None)
                if admits is not None and admits(58):
                    self.on_icmpv6(now, ifname, packet, message, 0)
                    return
        super().process(now, ifname, packet, raw)

    def owns_routing_home_address(self, address: IPv6Address) -> bool:
        # RFC 6275 §6.4/§11.3.3: the address in a type 2 routing header must be one of the
        # node's own home addresses -- the home address, or an RCoA, which plays that part
        # towards a MAP (RFC 4140 §6.1). Checked by Node.deliver.
        return address in self._virtual

    def dispatch(self, now: float, ifname: str, packet: IPv6Packet, payload: Payload | None,
                 peer: str | None, tunnelled: int) -> None:
        if self.host_delivery and self._for_host(packet, payload):
            self._to_host(now, packet, payload)
            return
        super().dispatch(now, ifname, packet, payload, peer, tunnelled)

    def on_decapsulated(self, now: float, ifname: str, outer: IPv6Packet, inner: IPv6Packet,
                        tunnelled: int) -> None:
        # RFC 6275 §11.3.3: a tunnelled packet must come from the home agent; RFC 4140 §6.1
        # adds the MAP, which tunnels to the LCoA what arrives for the RCoA.
        if outer.src != self.config.home_agent and outer.src not in self.regions:
            self.drop(now, "unexpected-tunnel", f"from {outer.src}")
            return
        super().on_decapsulated(now, ifname, outer, inner, tunnelled)

    def on_data(self, now: float, ifname: str, packet: IPv6Packet, payload: Payload | None,
                tunnelled: int) -> None:
        ike = self.ike
        if (ike is not None and isinstance(payload, UDP) and payload.dst_port == IKE_PORT
                and not tunnelled and packet.src in ike.initiators):
            # IKE from a MAP we run an exchange with (RFC 7296 §2.11: UDP port 500).
            out, outcome = ike.receive(now, packet.src, payload.data)
            self._ike_output(now, packet.src, out, outcome)
            return
        super().on_data(now, ifname, packet, payload, tunnelled)

    def on_icmpv6(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                  tunnelled: int) -> None:
        # Neighbor Solicitations first, then Router Solicitations: other stations' DAD probes
        # and solicitations are what a cell carries most (the message classes are disjoint,
        # so the order changes nothing else).
        if isinstance(message, NeighborSolicitation):
            self._on_ns(now, ifname, packet, message)
        elif isinstance(message, RouterSolicitation):
            # RFC 4861 §6.1.1: "Hosts MUST silently discard any received Router Solicitation
            # messages" (every other station's, after each move): discarded and counted as
            # anything else not handled here, without the type checks below.
            super().on_icmpv6(now, ifname, packet, message, tunnelled)
        elif isinstance(message, RouterAdvertisement):
            self._on_ra(now, ifname, packet, message, tunnelled)
        elif isinstance(message, NeighborAdvertisement):
            self._on_na(now, ifname, packet, message)
        elif isinstance(message, EchoRequest):
            self._on_echo_request(now, packet, message)
        elif isinstance(message, EchoReply):
            self.on_data(now, ifname, packet, UDP(0, 0, message.data), tunnelled)
        else:
            super().on_icmpv6(now, ifname, packet, message, tunnelled)

    def on_mobility(self, now: float, ifname: str, packet: IPv6Packet, message: Any,
                    peer: str | None, tunnelled: int) -> None:
        if isinstance(message, BindingAcknowledgement):
            self._on_ba(now, packet, message)
        elif isinstance(message, HomeTest):
            self._on_hot(now, packet, message)
        elif isinstance(message, CareOfTest):
            self._on_cot(now, packet, message)
        elif isinstance(message, BindingRefreshRequest):
            self._on_brr(now, packet)
        elif isinstance(message, BindingError):
            self._on_be(now, packet, message, peer)
        else:
            super().on_mobility(now, ifname, packet, message, peer, tunnelled)

    # -- Neighbor Discovery --------------------------------------------------------------------

    def _send_rs(self, now: float, link: LinkState) -> None:
        link.solicitations += 1
        iface = self.interfaces[link.ifname]
        rs = RouterSolicitation(options=(SourceLinkLayerAddress(iface.lladdr),))
        self.send_packet(now, IPv6Packet(iface.link_local, ALL_ROUTERS, rs, hop_limit=255),
                         ifname=link.ifname, protect=False)
        if link.solicitations < self.config.max_rtr_solicitations:
            self.timers.set(f"rs:{link.ifname}", now + self.config.rtr_solicitation_interval)

    def _on_ra(self, now: float, ifname: str, packet: IPv6Packet, ra: RouterAdvertisement,
               tunnelled: int) -> None:
        link = self.links.get(ifname)
        src = packet.src  # (`is` before `==`: the same router's RAs carry one address object)
        # RFC 4861 §6.1.2: a valid RA comes from a link-local source with hop limit 255.
        if tunnelled or (src is not _link_local_seen[0] and not _link_local(src)) \
                or packet.hop_limit != 255 or ra.code != 0:
            self.drop(now, "invalid-ra", f"from {packet.src}")
            return
        if link is None or not link.up:
            self.drop(now, "link-down", f"RA on {ifname}")
            return
        prefixes, networks, names, options, mtus, maps, heard = _ra_view(ra)
        trusted = self.config.trusted_routers
        if trusted is not None and src is not self._trusted_router \
                and src != self._trusted_router and src not in trusted:
            # RFC 4140 §12 / RFC 6275 §15: a MAP option is only as good as the router that
            # sent it (SEND, RFC 3971, authenticates routers; the trusted list stands in).
            if options:
                self.counters["untrusted_map_options"] += len(options)
                self.drop(now, "untrusted-map-option", f"{len(options)} MAP option(s) "
                          f"({', '.join(str(o.address) for o in options)}) from {packet.src}")
            else:
                self.drop(now, "untrusted-ra", f"from {packet.src}")
            return
        self._trusted_router = src  # the same router's next RA is not looked up again
        records = _map_records(ra, options, now, ifname, src)
        self.emit(RouterAdvertisementReceived(
            time=now, ifname=ifname, router=src, prefixes=names, maps=maps))
        self.timers.cancel(f"rs:{ifname}")
        # Does this RA only renew what the node holds (see _quiet_ra)?
        renews = self.maps.renews(records, ifname)
        if link.router is not src and link.router != src:
            renews = False
            link.router = src
            self.add_route(_DEFAULT_ROUTE, ifname, src)
        for m in mtus:
            if m.mtu >= 1280 and m.mtu != link.mtu:
                renews = False
                link.mtu = m.mtu
        # MN-01 (RFC 4140 §7.2): "A mobile node MUST store the received option(s)".
        self.maps.update(records, ifname)
        maps_changed = heard is not link.heard_maps and heard != link.heard_maps
        link.heard_maps = heard
        self._arm_map_expiry()
        for r in records:
            if r.valid_lifetime == 0:
                renews = False
                self._map_failed(now, r.address)
            elif self._failed_maps and r.address in self._failed_maps:  # (no hash if empty)
                renews = False
                self._failed_maps.discard(r.address)
                self.emit(MapRecovered(time=now, map=r.address))
        current = link.prefix
        keep = current is not None and current in networks
        if renews and keep and not maps_changed:
            self._quiet_ra(now)
            return
        if prefixes and not keep:
            new = networks[0]
            # RFC 4140 §3/§9 (MN-25): a new prefix, or a changed set of MAPs, is movement.
            if (new is not self._last_prefix and new != self._last_prefix) or maps_changed:
                self.emit(MovementDetected(time=now, ifname=ifname, new_prefix=str(new),
                                           map_changed=maps_changed))
            self._last_prefix = new
            self._configure_lcoa(now, link, new)
        elif maps_changed and current is not None:
            self.emit(MovementDetected(time=now, ifname=ifname, new_prefix=str(current),
                                       map_changed=True))
        self._reconcile(now)

    def _quiet_ra(self, now: float) -> None:
        """An RA that changed nothing the node decides on: the router, MTU, prefix and MAP
        options it had (RFC 4140 §7.2: the stored options only renewed), no MAP failed or
        recovered. What it changed are reception times, which only the expiry timer reads.
        So the reconciliation the other RAs end with would find nothing to do: every change
        of what it reads (a BA, a binding's or an option's expiry, DAD, a link change) is
        followed by one, and each time it could act at is armed as a timer. It is skipped:
        most RAs a node hears are these, and the reconciliation costs as much as the rest
        of the RA. (``tests/core/test_quiet_ra.py`` replaces this method with a reconciliation
        and checks that it changes nothing, over runs of every built-in scenario.)"""

    def _configure_lcoa(self, now: float, link: LinkState, prefix: IPv6Network) -> None:
        """RFC 4140 §6.1 / RFC 4862 §5.5.3: LCoA = advertised prefix + interface identifier,
        with DAD as configured (MN-05)."""
        self._drop_lcoa(link)
        if link.prefix is not None and link.prefix is not prefix and link.prefix != prefix:
            self.remove_route(link.prefix)
        link.prefix = prefix
        self.add_route(prefix, link.ifname)
        lcoa = interface_address(prefix, link.iid)
        self._set_lcoa(link, lcoa)
        mode = self.config.dad
        if mode == "none" or self.config.dup_addr_detect_transmits <= 0:
            link.dad = "preferred"
            self.add_address(link.ifname, lcoa)
            self.emit(CareOfAddressConfigured(time=now, ifname=link.ifname, address=lcoa, kind="lcoa"))
            return
        # RFC 4429 §3.3: an Optimistic address may be used at once; RFC 4862 §5.4: a tentative
        # one only after DAD (RetransTimer per transmission) found no duplicate.
        link.dad = "optimistic" if mode == "optimistic" else "tentative"
        if mode == "optimistic":
            self.add_address(link.ifname, lcoa)
        self.emit(CareOfAddressConfigured(time=now, ifname=link.ifname, address=lcoa, kind="lcoa",
                                          usable=mode == "optimistic"))
        for _ in range(self.config.dup_addr_detect_transmits):
            # RFC 4862 §5.4.2: NS from the unspecified address to the solicited-node address.
            self.send_packet(now, IPv6Packet(UNSPECIFIED, solicited_node(lcoa), NeighborSolicitation(lcoa),
                                             hop_limit=255), ifname=link.ifname, protect=False)
        self.timers.set(f"dad:{link.ifname}",
                        now + self.config.retrans_timer * self.config.dup_addr_detect_transmits)

    def _drop_lcoa(self, link: LinkState) -> None:
        if link.lcoa is not None:
            self.remove_address(link.ifname, link.lcoa)
        self._set_lcoa(link, None)
        link.dad = None
        self.timers.cancel(f"dad:{link.ifname}")

    def _set_lcoa(self, link: LinkState, lcoa: IPv6Address | None) -> None:
        """Every change of a link's LCoA goes through here, to keep :attr:`_lcoa_ints`."""
        link.lcoa = lcoa
        self._lcoa_ints = frozenset(int(lk.lcoa) for lk in self.links.values()
                                    if lk.lcoa is not None)

    def _duplicate(self, now: float, link: LinkState) -> None:
        """RFC 4862 §5.4.5: the address is a duplicate and MUST NOT be used. A mobile node
        cannot wait for an operator, so it retries with a random interface identifier."""
        self.counters["dad_failed"] += 1
        self.drop(now, "duplicate-address", str(link.lcoa))
        link.iid = self._random_iid(avoid=link.iid)
        if link.prefix is not None:
            self._configure_lcoa(now, link, link.prefix)
        self._reconcile(now)

    def _on_na(self, now: float, ifname: str, packet: IPv6Packet, na: NeighborAdvertisement) -> None:
        link = self.links.get(ifname)
        if link is not None and na.target == link.lcoa and link.dad in ("tentative", "optimistic"):
            # RFC 4862 §5.4.4: an NA for the tentative address means it is a duplicate.
            self._duplicate(now, link)
            return
        self.counters["na_ignored"] += 1

    def _on_ns(self, now: float, ifname: str, packet: IPv6Packet, ns: NeighborSolicitation) -> None:
        if int(ns.target) not in self._lcoa_ints:  # for none of our LCoAs: as below, at once
            self.counters["ns_ignored"] += 1
            return
        link = self.links.get(ifname)
        if link is None or ns.target != link.lcoa or packet.hop_limit != 255:
            self.counters["ns_ignored"] += 1
            return
        if link.dad in ("tentative", "optimistic"):
            if packet.src == UNSPECIFIED:
                # RFC 4862 §5.4.3: someone else is doing DAD for the same address.
                self._duplicate(now, link)
            return
        # RFC 4861 §7.2.4: answer for an address we own; to all-nodes when DAD asked.
        iface = self.interfaces[ifname]
        solicited = packet.src != UNSPECIFIED
        dst = packet.src if solicited else IPv6Address("ff02::1")
        na = NeighborAdvertisement(ns.target, solicited=solicited, override=True,
                                   options=(TargetLinkLayerAddress(iface.lladdr),))
        self.send_packet(now, IPv6Packet(ns.target, dst, na, hop_limit=255), ifname=ifname,
                         protect=False)

    def _on_echo_request(self, now: float, packet: IPv6Packet, req: EchoRequest) -> None:
        reply = EchoReply(req.identifier, req.sequence, req.data)
        me = packet.effective_dst
        peer = packet.effective_src
        self._send_upper(now, peer, reply, use_rcoa=me != self.config.home_address and me in self._virtual,
                         from_lcoa=me if me not in self._virtual else None)

    # == choosing links and MAPs ===============================================================

    def _usable_links(self) -> list[LinkState]:
        return [lk for lk in self.links.values() if lk.usable]

    def _choose_map(self, now: float, links: list[LinkState]) -> MapRecord | None:
        if not self.config.hmipv6:
            return None
        failed, rejected = self._failed_maps, self._rejected
        candidates = [r for lk in links for r in self.maps.advertised(lk.ifname)
                      if not (failed and r.address in failed)
                      and not (rejected and (r.address, lk.lcoa) in rejected)
                      and self._map_usable(now, r)]
        best = select_map(candidates, now, self.config.map_selection, self.config.profile)
        if best is not None:
            return best
        # MN-17 (RFC 4140 §7.2): Pref 0 -- "the mobile node can refresh existing bindings but
        # cannot create new ones": keep the MAP in use if it still has a binding for us.
        if self.current_map is not None and self._region_bound(self.current_map, now):
            for r in candidates:
                if r.address == self.current_map and r.valid_lifetime > 0 and now < r.expires_at:
                    return r
        return None

    def _map_usable(self, now: float, record: MapRecord) -> bool:
        """RFC 4140 §12.1: the local BU "MUST be protected by IPsec" -- so a MAP is usable only
        if this node can protect its signalling to it: the security policy lets a local BU
        to it pass (an SA covers it, or policy does not ask for one), or, under the RFC 5380
        profile with R, IKEv2 can authenticate it (a PSK for it; RFC 5380 §12.1) or key
        management hands out its RCoAs. A MAP without either is never registered with (no
        clear BU, no BA accepted from it): the node keeps the MAP it has (item 1, issue 9)."""
        address = record.address
        if self.config.profile == "rfc5380" and record.r and (
                self.rcoa_allocator is not None
                or (self.ike is not None and self.ike.knows(address))):
            return True
        can_protect = getattr(self.security, "can_protect", None)
        if can_protect is None:
            return True  # no IPsec at all (security = "none"): nothing is protected anyway
        region = self.regions.get(address)
        rcoa = region.rcoa if region is not None and region.rcoa is not None \
            else interface_address(address, self._rcoa_iid)
        usable = bool(can_protect(rcoa, address, 135, _BU))
        if not usable and address not in self._unusable_maps:
            self._unusable_maps.add(address)
            self.counters["maps_without_sa"] += 1
            self.drop(now, "map-without-sa",
                      f"MAP {address} advertised by {record.router}: no SA to protect a BU")
        return usable

    def _primary_link(self, map_address: IPv6Address | None = None,
                      links: list[LinkState] | None = None) -> LinkState | None:
        """The link whose LCoA is in use; ``links``: the usable links when the caller has
        them already (``_usable_links()`` otherwise)."""
        if links is None:
            links = self._usable_links()
        if len(links) < 2:
            return links[0] if links else None  # the only choice, whatever MN-21 prefers
        target = map_address if map_address is not None else self.current_map
        if target is not None:
            # RFC 4140 §7.2 (MN-21): "it SHOULD use an LCoA on the link defined by the AR that
            # advertises its current MAP".
            on = set(self.maps.advertised_on(target))
            preferred = [lk for lk in links if lk.ifname in on]
            if preferred:
                links = preferred
        return max(links, key=lambda lk: (lk.up_since, lk.ifname))

    def _region_bound(self, map_address: IPv6Address, now: float) -> bool:
        region = self.regions.get(map_address)
        if region is None or region.rcoa is None:
            return False
        e = self.bul.get(map_address, region.rcoa)
        return e is not None and e.acked_care_of is not None and e.remaining(now) > 0

    def _bound_region(self, now: float | None = None) -> Region | None:
        """The current region once its MAP acknowledged a binding (the MN-MAP tunnel is up)."""
        if self.current_map is None:
            return None
        region = self.regions.get(self.current_map)
        if region is None or region.rcoa is None:
            return None
        e = self.bul.get(region.map, region.rcoa)
        if e is None or e.acked_care_of is None:
            return None
        if now is not None and e.remaining(now) <= 0:
            return None
        return region

    # == reconciliation ========================================================================

    def _reconcile(self, now: float) -> None:
        if self.crashed:
            return
        links = self._usable_links()
        if not links:
            return
        target = self._choose_map(now, links)
        link = self._primary_link(target.address if target is not None else None, links)
        assert link is not None and link.lcoa is not None
        lcoa = link.lcoa
        if target is None:
            if self.current_map is not None:
                self._leave_current(now, lcoa)
            self._track_handover(now, lcoa, None)
            self._ensure_home(now, lcoa)
        else:
            region = self._region_for(now, target, lcoa)
            entry: BulEntry | None = None
            current = self.current_map
            if current is not target.address and current != target.address \
                    and region.rcoa is not None:
                old = self.current_map
                self.current_map = target.address
                self.emit(MapSelected(time=now, map=target.address, rcoa=region.rcoa, dist=target.dist,
                                      pref=target.pref))
                self._track_handover(now, lcoa, target.address)
                entry = self._update_region(now, region, lcoa, "local", target)
                if old is not None and old in self.regions:
                    self._previous_map_update(now, self.regions[old], lcoa)
            elif region.rcoa is not None:
                self._track_handover(now, lcoa, target.address)
                entry = self._update_region(now, region, lcoa, "local", target)
            self._update_other_regions(now, lcoa, links)
            bound = self._target_bound(now, region, entry)
            if bound is not None and bound.rcoa is not None:
                # MN-09: only now, after the MAP's BA, the home registration with the RCoA.
                self._ensure_home(now, bound.rcoa)
        self._ensure_correspondents(now)
        self._check_handover(now)

    def _target_bound(self, now: float, region: Region, entry: BulEntry | None) -> Region | None:
        """``_bound_region(now)`` at the end of ``_reconcile``, from what it has at hand: when
        ``_update_region`` ran for the target's ``region`` (``entry``, its BUL entry, is not
        None), the target is the current MAP and nothing since touched that region or entry
        (the other regions' updates skip the current MAP; the previous-MAP BU has its own
        entry), so the current region's entry is ``entry``."""
        if entry is None:
            return self._bound_region(now)
        if entry.acked_care_of is None or entry.remaining(now) <= 0:
            return None
        return region

    def _region_for(self, now: float, target: MapRecord, lcoa: IPv6Address) -> Region:
        region = self.regions.get(target.address)
        if region is not None:
            return region
        region = self.regions[target.address] = Region(target.address, None)
        if self.config.profile == "rfc5380" and target.r:
            self._request_rcoa(now, region, lcoa)
            return region
        # MN-04 (RFC 4140 §6): "This RCoA is formed in a stateless manner by combining the
        # mobile node's interface identifier and the subnet prefix received in the MAP option"
        # (the MAP address's /64, §5).
        region.rcoa = interface_address(target.address, self._rcoa_iid)
        self._virtual.add(region.rcoa)
        return region

    def _request_rcoa(self, now: float, region: Region, lcoa: IPv6Address) -> None:
        # X5380-02 (RFC 5380 §5): R set means "the mobile node is allocated the RCoA by the
        # MAP based on Section 9 of [RFC4877]" -- key management hands it to us.
        self.emit(RegionalCareOfAddressRequested(time=now, map=region.map, lcoa=lcoa))
        if self.rcoa_allocator is not None:
            allocated = self.rcoa_allocator(region.map, lcoa)
            if allocated is not None:
                region.rcoa = IPv6Address(allocated)
                self._virtual.add(region.rcoa)
                return
        if self.ike is not None and self.ike.knows(region.map):
            # X5380-05: IKEv2 with CP(CFG_REQUEST) INTERNAL_IP6_ADDRESS (RFC 4877 §9).
            self.counters["ike_started"] += 1
            self._ike_output(now, region.map, self.ike.start(now, region.map), None)

    def _ike_output(self, now: float, map_address: IPv6Address, out: list[bytes],
                    outcome: Outcome | None) -> None:
        """Send the IKE messages for ``map_address`` from the LCoA of the link advertising it
        (unprotected: IKE bypasses IPsec), re-arm the retransmission timer, act on an
        outcome (assign the allocated RCoA, or MN-23 on a refusal or failure)."""
        assert self.ike is not None
        link = self._primary_link(map_address)
        for data in out:
            if link is None or link.lcoa is None:
                self.counters["ike_unsent"] += 1  # no LCoA now: the retransmission will go
                break
            self.send_packet(now, ike_packet(link.lcoa, map_address, data), ifname=link.ifname,
                             next_hop=link.router, protect=False)
        deadline = self.ike.next_timer(map_address)
        if deadline is None:
            self.timers.cancel(f"ike:{map_address}")
        else:
            self.timers.set(f"ike:{map_address}", deadline)
        region = self.regions.get(map_address)
        if outcome is None:
            if self.ike.take_renewed(map_address) is not None and region is not None:
                # The MAP deleted only our Child SA and we got a new one on the same IKE SA
                # (RFC 7296 §1.3.1): register again, protected with it (RFC 4140 §12.1).
                self.counters["ike_child_renewed"] += 1
                self._reregister(now, region)
            if region is not None and region.rcoa is not None and self.ike.lost(map_address):
                # The MAP deleted our IKE SA (or went silent) and with it the SA protecting
                # our BUs: negotiate again, asking for an address as before (RFC 4877 §9).
                self.counters["ike_restarted"] += 1
                self._ike_restart.add(map_address)
                self._ike_output(now, map_address, self.ike.start(now, map_address), None)
            return
        if region is not None and region.rcoa is not None and map_address in self._ike_restart \
                and isinstance(outcome, Established):
            self._ike_restart.discard(map_address)
            self.counters["ike_reestablished"] += 1
            if outcome.rcoa != region.rcoa:
                self.assign_rcoa(now, map_address, outcome.rcoa)  # the MAP gave another one
            return
        if region is None or region.rcoa is not None:
            self.counters["ike_outcome_unused"] += 1  # the region went away meanwhile
            return
        if isinstance(outcome, Established):
            self.counters["ike_established"] += 1
            self.assign_rcoa(now, map_address, outcome.rcoa)
        else:
            self.counters["ike_refused"] += 1
            self.rcoa_refused(now, map_address)

    def _reregister(self, now: float, region: Region) -> None:
        """A fresh local BU for ``region``'s binding (same care-of address and kind), unless
        one is in flight (its retransmission goes out with the current SA anyway)."""
        if region.rcoa is None:
            return
        e = self.bul.get(region.map, region.rcoa)
        if e is None or e.pending or e.state == "failed" or e.kind not in ("local", "previous-map"):
            return
        self._send_local_bu(now, region, e.care_of_address, e.kind,
                            self._local_lifetime(self.maps.current(region.map)))

    def _local_lifetime(self, record: MapRecord | None) -> int:
        life = self.config.binding_lifetime
        if record is not None and record.valid_lifetime > 0:
            # RFC 4140 §5: the Valid Lifetime is "the time for which the RCoA is valid".
            life = min(life, record.valid_lifetime)
        return _floor4(life)

    def _update_region(self, now: float, region: Region, lcoa: IPv6Address, kind: BindingKind,
                       record: MapRecord | None) -> BulEntry | None:
        """Make the MAP bind ``region``'s RCoA to ``lcoa`` unless it does or is being asked to;
        the region's BUL entry afterwards (None while the region has no RCoA)."""
        if region.rcoa is None:
            return None
        e = self.bul.get(region.map, region.rcoa)
        if e is not None and (e.care_of_address is lcoa or e.care_of_address == lcoa) and (
                e.state == "failed" or e.pending or e.remaining(now) > 0):
            return e
        return self._send_local_bu(now, region, lcoa, kind, self._local_lifetime(record))

    def _update_other_regions(self, now: float, lcoa: IPv6Address, links: list[LinkState]) -> None:
        advertised = self._advertised_maps(links) if self.config.multiple_maps else None
        if advertised is not None and self.config.hmipv6:
            # RFC 4140 §7.2: "A mobile node MAY choose to register with more than one MAP
            # simultaneously"; RFC 4140 §9: "Eager" to bind each new MAP.
            for r in advertised.values():
                if (r.address not in self.regions and r.address not in self._failed_maps
                        and selectable(r, now) and (r.address, lcoa) not in self._rejected
                        and self._map_usable(now, r)):
                    region = self._region_for(now, r, lcoa)
                    self._update_region(now, region, lcoa, "local", r)
        if not self.config.update_every_rcoa:
            return
        for region in list(self.regions.values()):
            if region.map is self.current_map or region.map == self.current_map \
                    or region.rcoa is None:
                continue
            if advertised is None:  # looked up once, when a region other than the current needs it
                advertised = self._advertised_maps(links)
            rec = advertised.get(region.map)
            if rec is None or rec.valid_lifetime == 0:
                continue
            e = self.bul.get(region.map, region.rcoa)
            if e is None or e.acked_care_of is None:
                continue
            # MN-15 (RFC 4140 §6.1): "the mobile node MUST perform the binding update procedure
            # for each RCoA" -- always with the LCoA, never another MAP's RCoA.
            self._update_region(now, region, lcoa, e.kind if e.kind == "previous-map" else "local", rec)

    def _advertised_maps(self, links: list[LinkState]) -> dict[IPv6Address, MapRecord]:
        """MAP address -> its option in the latest RA of each of ``links``."""
        return {r.address: r for lk in links for r in self.maps.advertised(lk.ifname)}

    def _previous_map_update(self, now: float, old: Region, lcoa: IPv6Address) -> None:
        """MN-14 (RFC 4140 §6.1): "a mobile node SHOULD send a local BU to its previous MAP,
        specifying its new LCoA. Packets in transit that reach the previous MAP are then
        forwarded to the new LCoA." The binding is not extended: it lapses when it would have."""
        if not self.config.previous_map_update or old.rcoa is None or old.map in self._failed_maps:
            return
        e = self.bul.get(old.map, old.rcoa)
        if e is None or e.acked_care_of is None or e.care_of_address == lcoa:
            return
        remaining = _floor4(e.remaining(now))
        if remaining <= 0:
            return
        self._send_local_bu(now, old, lcoa, "previous-map", remaining)

    def _leave_current(self, now: float, lcoa: IPv6Address) -> None:
        old = self.regions.get(self.current_map) if self.current_map is not None else None
        self.current_map = None
        if old is not None:
            self._previous_map_update(now, old, lcoa)

    def _ensure_home(self, now: float, coa: IPv6Address) -> None:
        """The home registration binds the home address to ``coa`` (RCoA or, in Mobile IPv6
        mode, the LCoA)."""
        hoa, ha = self.config.home_address, self.config.home_agent
        e = self.bul.get(ha, hoa)
        if e is not None and (e.care_of_address is coa or e.care_of_address == coa) and (
                e.state == "failed" or e.pending or e.remaining(now) > 0):
            return
        lifetime = self._home_lifetime(now, coa)
        if lifetime <= 0:
            return
        entry = self.bul.start(now, destination=ha, home_address=hoa, care_of_address=coa,
                               kind="home", lifetime=lifetime)
        self._transmit_bu(now, entry)

    def _home_lifetime(self, now: float, coa: IPv6Address) -> int:
        life = float(self.config.binding_lifetime)
        region = self._region_of_rcoa(coa)
        if region is not None:
            # MN-10 (RFC 4140 §6.1): "the binding lifetime MUST NOT be larger than the mobile
            # node's binding lifetime with the MAP, which is received in the BA".
            local = self.bul.get(region.map, coa)
            life = min(life, local.remaining(now) if local is not None else 0.0)
        return _floor4(life)

    def _region_of_rcoa(self, address: IPv6Address) -> Region | None:
        for region in self.regions.values():
            if region.rcoa == address:
                return region
        return None

    # -- correspondents (route optimisation) ---------------------------------------------------

    def _desired_cn_coa(self, now: float, cn: IPv6Address) -> IPv6Address | None:
        link = self._primary_link()
        if link is None or link.lcoa is None:
            return None
        if self.config.onlink_correspondent_binding and link.prefix is not None and cn in link.prefix:
            # MN-24 (RFC 4140 §6.1): "a mobile node may send a BU containing its LCoA (instead
            # of its RCoA) to correspondent nodes, which are connected to its same link".
            return link.lcoa
        region = self._bound_region(now)
        if self.current_map is not None:
            return region.rcoa if region is not None else None
        return link.lcoa

    def _ensure_correspondents(self, now: float) -> None:
        if not self.config.route_optimisation:
            return
        home = self.bul.get(self.config.home_agent, self.config.home_address)
        if home is None or home.acked_care_of is None or home.remaining(now) <= 0:
            return  # HoTI travels through the home agent: register there first.
        for st in self.correspondents.values():
            if st.disabled:
                continue
            coa = self._desired_cn_coa(now, st.cn)
            if coa is None:
                continue
            e = self.bul.get(st.cn, self.config.home_address)
            if e is not None and e.care_of_address == coa and (e.pending or e.remaining(now) > 0):
                continue
            if st.care_of == coa and f"rr:{st.cn}" in self.timers:
                continue  # return routability for this CoA under way
            st.care_of, st.timeout = coa, self.config.initial_bindack_timeout
            self._start_rr(now, st)

    def _start_rr(self, now: float, st: CorrespondentState, retransmission: bool = False) -> None:
        """RFC 6275 §11.6.1 / RFC 4140 §12.2: HoTI from the home address (through the HA, so
        double-encapsulated via the MAP), CoTI from the care-of address. A home keygen token
        younger than MAX_TOKEN_LIFETIME is reused (§5.2.7)."""
        coa = st.care_of
        if coa is None:
            return
        tested = False
        if not self._home_token_fresh(now, st):
            st.home_token = None
            # RFC 6275 §11.8: "Retransmitted Home Test Init and Care-of Test Init messages MUST
            # use new cookie values."
            st.home_cookie = self.rng.getrandbits(64).to_bytes(8, "big")
            self._send_upper(now, st.cn, HomeTestInit(st.home_cookie), via_home=True)
            tested = True
        if not self._care_of_token_fresh(now, st):
            st.care_of_token = None
            st.care_of_cookie = self.rng.getrandbits(64).to_bytes(8, "big")
            self._send_from_coa(now, IPv6Packet(coa, st.cn, CareOfTestInit(st.care_of_cookie)))
            tested = True
        if tested:
            # Only a test init exchange counts. With both tokens fresh this is a binding from
            # them (a refresh, or a binding that waited for the home binding to leave it 4 s,
            # tried again at each reconciliation), not a start of return routability.
            self.counters["rr_started" if not retransmission else "rr_retransmitted"] += 1
        self.timers.set(f"rr:{st.cn}", now + st.timeout)
        self._maybe_bind_cn(now, st)

    @staticmethod
    def _home_token_fresh(now: float, st: CorrespondentState) -> bool:
        """A home keygen token younger than MAX_TOKEN_LIFETIME (RFC 6275 §5.2.7), with a
        margin for the Binding Update still to travel."""
        return st.home_token is not None and now - st.home_token[2] < rr.MAX_TOKEN_LIFETIME * 0.9

    @staticmethod
    def _care_of_token_fresh(now: float, st: CorrespondentState) -> bool:
        """A care-of keygen token as fresh, and for the care-of address being bound."""
        return (st.care_of_token is not None and st.care_of_token[2] == st.care_of
                and now - st.care_of_token[3] < rr.MAX_TOKEN_LIFETIME * 0.9)

    def _on_hot(self, now: float, packet: IPv6Packet, hot: HomeTest) -> None:
        st = self.correspondents.get(packet.src)
        if st is None or st.home_cookie is None or hot.cookie != st.home_cookie \
                or packet.effective_dst != self.config.home_address:
            self.drop(now, "unexpected-hot", str(packet.src))
            return
        st.home_cookie = None
        st.home_token = (hot.home_nonce_index, hot.keygen_token, now)
        self._maybe_bind_cn(now, st)

    def _on_cot(self, now: float, packet: IPv6Packet, cot: CareOfTest) -> None:
        st = self.correspondents.get(packet.src)
        if st is None or st.care_of_cookie is None or cot.cookie != st.care_of_cookie \
                or packet.dst != st.care_of:
            self.drop(now, "unexpected-cot", str(packet.src))
            return
        st.care_of_cookie = None
        st.care_of_token = (cot.care_of_nonce_index, cot.keygen_token, packet.dst, now)
        self._maybe_bind_cn(now, st)

    def _maybe_bind_cn(self, now: float, st: CorrespondentState) -> None:
        if st.home_token is None or st.care_of_token is None or st.care_of is None:
            return
        if st.care_of_token[2] != st.care_of:
            return
        self.timers.cancel(f"rr:{st.cn}")
        st.kbm = rr.binding_management_key(st.home_token[1], st.care_of_token[1])
        life = float(min(self.config.binding_lifetime, rr.MAX_RR_BINDING_LIFETIME))
        home = self.bul.get(self.config.home_agent, self.config.home_address)
        if home is not None:
            life = min(life, home.remaining(now))
        region = self._region_of_rcoa(st.care_of)
        if region is not None:
            local = self.bul.get(region.map, st.care_of)
            life = min(life, local.remaining(now) if local is not None else 0.0)
        lifetime = _floor4(life)
        if lifetime <= 0:
            return
        entry = self.bul.start(now, destination=st.cn, home_address=self.config.home_address,
                               care_of_address=st.care_of, kind="correspondent", lifetime=lifetime)
        self._transmit_bu(now, entry)

    # == Binding Updates =======================================================================

    def _send_local_bu(self, now: float, region: Region, lcoa: IPv6Address, kind: BindingKind,
                       lifetime: int) -> BulEntry:
        assert region.rcoa is not None
        entry = self.bul.start(now, destination=region.map, home_address=region.rcoa,
                               care_of_address=lcoa, kind=kind, lifetime=lifetime)
        self._transmit_bu(now, entry)
        return entry

    def _timer_key(self, entry: BulEntry) -> str:
        return f"{text(entry.destination)}|{text(entry.home_address)}"

    def _transmit_bu(self, now: float, entry: BulEntry, retransmission: bool = False) -> None:
        hoa = self.config.home_address
        ok = True
        if entry.kind in ("local", "previous-map"):
            # MN-06 (RFC 4140 §4.1, §6.1): "the M and A flags MUST be set"; the RCoA in the Home
            # Address option; "No alternate-CoA option is needed"; "The LCoA is used as the
            # source address of the BU".
            bu = BindingUpdate(entry.sequence, BUFlags.A | BUFlags.M, entry.lifetime)
            pkt = IPv6Packet(entry.care_of_address, entry.destination, bu,
                             (DestinationOptions((HomeAddressOption(entry.home_address),)),))
            ok = self._send_from_coa(now, pkt)
        elif entry.kind == "home":
            # RFC 6275 §11.7.1: "The care-of address for the binding MUST be used as the
            # Source Address ... unless an Alternate Care-of Address mobility option is
            # included ... This option MUST be included in all home registrations, as the ESP
            # protocol will not be able to protect care-of addresses in the IPv6 header."
            bu = BindingUpdate(entry.sequence, BUFlags.A | BUFlags.H, entry.lifetime,
                               (AlternateCareOfAddress(entry.care_of_address),))
            pkt = IPv6Packet(entry.care_of_address, entry.destination, bu,
                             (DestinationOptions((HomeAddressOption(hoa),)),))
            ok = self._send_from_coa(now, pkt)
        else:
            st = self.correspondents.get(entry.destination)
            if st is None or st.kbm is None or st.home_token is None or st.care_of_token is None:
                self.bul.remove(entry)
                return
            bu = BindingUpdate(entry.sequence, BUFlags.A, entry.lifetime,
                               (NonceIndices(st.home_token[0], st.care_of_token[0]),))
            bu = rr.authorize(st.kbm, entry.care_of_address, entry.destination, bu)
            pkt = IPv6Packet(entry.care_of_address, entry.destination, bu,
                             (DestinationOptions((HomeAddressOption(hoa),)),))
            ok = self._send_from_coa(now, pkt)
        key = self._timer_key(entry)
        self.timers.set(f"bu:{key}", now + entry.timeout)
        if ok:
            self.emit(BindingUpdateSent(time=now, to=entry.destination, kind=entry.kind,
                                        home_address=entry.home_address,
                                        care_of_address=entry.care_of_address, sequence=entry.sequence,
                                        lifetime=entry.lifetime, retransmission=retransmission))

    def _on_retransmit(self, now: float, entry: BulEntry) -> None:
        if not entry.pending:
            return
        limit = self.config.max_bu_retransmissions
        if limit is not None and entry.retransmissions >= limit:
            self.bul.fail(entry)
            self.counters["bu_gave_up"] += 1
            self._after_failure(now, entry)
            return
        if entry.kind in ("local", "previous-map"):
            region = self.regions.get(entry.destination)
            if (region is not None and region.map != self.current_map and now >= entry.expires_at
                    and self.maps.current(region.map) is None):
                # RFC 4140 §9 "Lazy": a MAP no longer advertised is not chased past the end of
                # the binding we had with it.
                self._remove_region(region)
                return
            if entry.care_of_address not in self._lcoas():
                self.bul.remove(entry)  # that LCoA is gone; reconcile sends a fresh BU
                self._reconcile(now)
                return
        # MN-22 (RFC 6275 §11.8): doubled timeout, a new sequence number.
        self.bul.retransmit(now, entry)
        self._transmit_bu(now, entry, retransmission=True)

    def _on_refresh(self, now: float, entry: BulEntry) -> None:
        if entry.pending or entry.state == "failed":
            return
        if entry.kind == "correspondent":
            st = self.correspondents.get(entry.destination)
            if st is not None and not st.disabled and st.care_of == entry.care_of_address:
                st.timeout = self.config.initial_bindack_timeout
                self._start_rr(now, st)
            return
        if entry.kind == "home":
            lifetime = self._home_lifetime(now, entry.care_of_address)
            if lifetime > 0:
                new = self.bul.start(now, destination=entry.destination, home_address=entry.home_address,
                                     care_of_address=entry.care_of_address, kind="home", lifetime=lifetime)
                self._transmit_bu(now, new)
            return
        region = self.regions.get(entry.destination)
        if region is None or region.rcoa != entry.home_address:
            return
        rec = self.maps.current(region.map)
        # RFC 4140 §9 (MN-16, "Lazy"): keep the binding while the MAP option is still heard.
        if region.map != self.current_map and (rec is None or rec.valid_lifetime == 0):
            return
        link = self._primary_link()
        if link is None or link.lcoa is None:
            return
        self._send_local_bu(now, region, link.lcoa, "local", self._local_lifetime(rec))

    def _on_expire(self, now: float, entry: BulEntry) -> None:
        if entry.remaining(now) > 0:
            return
        self.counters[f"binding_expired.{entry.kind}"] += 1
        if entry.kind in ("local", "previous-map"):
            region = self.regions.get(entry.destination)
            if (region is not None and region.rcoa == entry.home_address
                    and region.map != self.current_map
                    and (not entry.pending or self.maps.current(region.map) is None)):
                self._remove_region(region)
                return
            entry.acked_care_of = None
        elif entry.kind == "correspondent":
            st = self.correspondents.get(entry.destination)
            if st is not None:
                st.care_of = None
            if not entry.pending:
                self._cancel_entry_timers(entry)
                self.bul.remove(entry)
        else:
            entry.acked_care_of = None
        self._reconcile(now)

    def _cancel_entry_timers(self, entry: BulEntry) -> None:
        key = self._timer_key(entry)
        for t in ("bu", "refresh", "expire"):
            self.timers.cancel(f"{t}:{key}")

    # == Binding Acknowledgements and friends ==================================================

    def _on_ba(self, now: float, packet: IPv6Packet, ba: BindingAcknowledgement) -> None:
        src = packet.src
        rh2 = packet.routing_home_address
        if ba.status == BAStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW:
            pending = [e for e in self.bul.pending_to(src) if e.home_address == rh2]
            if pending and (pending[0].kind != "correspondent" or self._ba_authentic(pending[0], ba)):
                # RFC 6275 §11.7.3: "update its binding sequence number appropriately to match
                # the sequence number given in the Binding Acknowledgement".
                self.bul.sequences.resync(src, ba.sequence)
                self._emit_ba(now, pending[0], ba)
                self.bul.retransmit(now, pending[0])
                self._transmit_bu(now, pending[0], retransmission=True)
                return
            self._ignore_ba(now, "ba-unmatched", packet, ba)
            return
        entry = self.bul.match(src, ba.sequence)
        if entry is None:
            # RFC 6275 §11.7.3 (MN-07): a BA whose sequence number matches no outstanding BU
            # "MUST be silently ignored".
            self._ignore_ba(now, "ba-unmatched", packet, ba)
            return
        if rh2 != entry.home_address:
            # MN-07 (RFC 4140 §6.1): "The mobile node MUST silently ignore binding
            # acknowledgements that do not contain a routing header type 2, which includes the
            # mobile node's RCoA."
            self._ignore_ba(now, "ba-without-rh2", packet, ba)
            return
        if entry.kind == "correspondent" and not self._ba_authentic(entry, ba):
            self._ignore_ba(now, "ba-bad-authenticator", packet, ba)
            return
        self._cancel_entry_timers(entry)
        self._emit_ba(now, entry, ba)
        if ba.accepted:
            self.bul.acknowledge(entry, ba.lifetime)
            key = self._timer_key(entry)
            if entry.granted > 0:
                self.timers.set(f"refresh:{key}", entry.refresh_at)
                self.timers.set(f"expire:{key}", entry.expires_at)
            if entry.kind == "correspondent":
                st = self.correspondents.get(entry.destination)
                if st is not None:
                    st.timeout = self.config.initial_bindack_timeout
            self._reconcile(now)
            return
        self._on_rejected(now, entry, int(ba.status))

    def _ba_authentic(self, entry: BulEntry, ba: BindingAcknowledgement) -> bool:
        """RFC 6275 §11.7.3: from a correspondent, "the Binding Authorization Data mobility
        option MUST be present and have a valid value"."""
        st = self.correspondents.get(entry.destination)
        return st is not None and st.kbm is not None and rr.verify(
            st.kbm, entry.care_of_address, entry.destination, ba)

    def _ignore_ba(self, now: float, reason: str, packet: IPv6Packet, ba: BindingAcknowledgement) -> None:
        self.drop(now, reason, f"BA seq {ba.sequence} status {int(ba.status)} from {packet.src}")

    def _emit_ba(self, now: float, entry: BulEntry, ba: BindingAcknowledgement) -> None:
        self.emit(BindingAcknowledged(time=now, by=entry.destination, kind=entry.kind,
                                      status=int(ba.status), sequence=ba.sequence, lifetime=ba.lifetime))

    def _on_rejected(self, now: float, entry: BulEntry, status: int) -> None:
        self.counters[f"bu_rejected.{entry.kind}"] += 1
        if entry.kind in ("local", "previous-map"):
            region = self.regions.get(entry.destination)
            if region is not None and region.rcoa == entry.home_address \
                    and status == BAStatus.DUPLICATE_ADDRESS_DETECTION_FAILED:
                # MN-23 (RFC 4140 §12.1): the MAP refused the RCoA -- "the mobile node SHOULD
                # generate a new RCoA" and try again.
                self._renew_rcoa(now, region)
                return
            # RFC 6275 §11.7.3: "record in its Binding Update List that future Binding Updates
            # SHOULD NOT be sent to this destination" -- for this LCoA (RFC 4140 §6.2: a MAP may
            # refuse LCoAs outside its valid on-link prefixes with 129).
            self.bul.fail(entry)
            self._rejected.add((entry.destination, entry.care_of_address))
            if region is not None and region.map != self.current_map:
                self._remove_region(region)
            elif region is not None:
                self._drop_current(now)
            self._reconcile(now)
            return
        if entry.kind == "correspondent" and status in (
                BAStatus.EXPIRED_HOME_NONCE_INDEX, BAStatus.EXPIRED_CARE_OF_NONCE_INDEX,
                BAStatus.EXPIRED_NONCES):
            # RFC 6275 §11.7.2: expired nonces -- run return routability again.
            st = self.correspondents.get(entry.destination)
            self.bul.remove(entry)
            if st is not None:
                if status != BAStatus.EXPIRED_CARE_OF_NONCE_INDEX:
                    st.home_token = None
                if status != BAStatus.EXPIRED_HOME_NONCE_INDEX:
                    st.care_of_token = None
                st.timeout = self.config.initial_bindack_timeout
                self._start_rr(now, st)
            return
        self.bul.fail(entry)
        if entry.kind == "correspondent":
            st = self.correspondents.get(entry.destination)
            if st is not None:
                st.disabled = True
        self._after_failure(now, entry)

    def _after_failure(self, now: float, entry: BulEntry) -> None:
        if entry.kind in ("local", "previous-map"):
            self._rejected.add((entry.destination, entry.care_of_address))
            region = self.regions.get(entry.destination)
            if region is not None and region.map == self.current_map:
                self._drop_current(now)
            elif region is not None:
                self._remove_region(region)
            self._reconcile(now)

    def _drop_current(self, now: float) -> None:
        if self.current_map is not None:
            region = self.regions.get(self.current_map)
            self.current_map = None
            if region is not None:
                self._remove_region(region)

    def _renew_rcoa(self, now: float, region: Region) -> None:
        old = region.rcoa
        if region.attempts >= self.config.max_rcoa_attempts:
            self.counters["rcoa_given_up"] += 1
            link = self._primary_link()
            if link is not None and link.lcoa is not None:
                self._rejected.add((region.map, link.lcoa))
            if region.map == self.current_map:
                self._drop_current(now)
            else:
                self._remove_region(region)
            self._reconcile(now)
            return
        region.attempts += 1
        self.counters["rcoa_renewed"] += 1
        if old is not None:
            e = self.bul.get(region.map, old)
            if e is not None:
                self._cancel_entry_timers(e)
                self.bul.remove(e)
            self._release_region_address(region)
        was_current = region.map == self.current_map
        if was_current:
            self.current_map = None  # re-selected below, with MapSelected for the new RCoA
        rec = self.maps.current(region.map)
        if self.config.profile == "rfc5380" and rec is not None and rec.r:
            # MN-23 under R: ask the MAP for a new allocation; the region (and its attempt
            # count) stays, without an RCoA until the answer.
            region.rcoa = None
            link = self._primary_link(region.map)
            if link is not None and link.lcoa is not None:
                self._request_rcoa(now, region, link.lcoa)
        else:
            self._rcoa_iid = self._random_iid(avoid=self._rcoa_iid)
            region.rcoa = interface_address(region.map, self._rcoa_iid)
            self._virtual.add(region.rcoa)
        self._reconcile(now)

    def _release_region_address(self, region: Region) -> None:
        if region.rcoa is not None and region.rcoa != self.config.home_address:
            self._virtual.discard(region.rcoa)

    def _remove_region(self, region: Region) -> None:
        if region.rcoa is not None:
            e = self.bul.get(region.map, region.rcoa)
            if e is not None:
                self._cancel_entry_timers(e)
                self.bul.remove(e)
        self._release_region_address(region)
        self.regions.pop(region.map, None)

    def _map_failed(self, now: float, address: IPv6Address) -> None:
        """MN-18 (RFC 4140 §7.2): "A valid lifetime of zero indicates a MAP failure ... a
        mobile node MUST choose another MAP and create new bindings. Any existing bindings with
        this MAP can be assumed to be lost. If no other MAP is available, the mobile node MUST
        revert to using the Mobile IPv6 protocol"."""
        if address in self._failed_maps:
            return
        self._failed_maps.add(address)
        self.emit(MapFailed(time=now, map=address))
        region = self.regions.get(address)
        if region is None:
            return
        if self.current_map == address:
            self.current_map = None
        self._remove_region(region)

    def _on_brr(self, now: float, packet: IPv6Packet) -> None:
        """RFC 6275 §11.7.4: answer a Binding Refresh Request only for a Binding Update List
        entry of its source (MN-22)."""
        entries = [e for e in self.bul.for_destination(packet.src) if e.state != "failed"]
        if not entries:
            self.drop(now, "unsolicited-brr", str(packet.src))
            return
        for e in entries:
            if e.kind == "correspondent":
                st = self.correspondents.get(e.destination)
                if st is not None and not st.disabled:
                    st.care_of_token = None
                    st.timeout = self.config.initial_bindack_timeout
                    self._start_rr(now, st)
            elif not e.pending:
                self._on_refresh(now, e)
        self._reconcile(now)

    def _on_be(self, now: float, packet: IPv6Packet, be: BindingError, peer: str | None) -> None:
        """RFC 6275 §11.3.6, with Binding Errors treated as hints (RFC 6275 §15.1: they are
        not protected, so anyone on the path can forge one). A BE must match state -- an
        entry of the Binding Update List for its source and its Home Address -- and an
        unprotected one never tears down a binding with a MAP or the home agent, whose
        signalling is protected: it can only trigger a protected re-registration (whose BA
        decides), so no forged BE makes the node leave its MAP or expose its LCoA."""
        entries = self.bul.for_destination(packet.src)
        if not entries:
            # "If the mobile node does not have such an entry, it MUST ignore the message."
            self.drop(now, "unsolicited-be", str(packet.src))
            return
        # RFC 6275 §9.3.3: the Home Address field is the home address of the packet the BE
        # answers -- for our BUs and data, the home address or an RCoA we registered there.
        entries = [e for e in entries if e.home_address == be.home_address]
        if not entries:
            self.drop(now, "be-unmatched", f"home address {be.home_address} from {packet.src}")
            return
        self.counters[f"binding_error.{int(be.status)}"] += 1
        for e in entries:
            if e.kind == "correspondent":
                self._on_be_correspondent(now, e, be)
            elif peer is not None:
                self._on_be_protected(now, e, be)
            elif be.status == BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION:
                # "If the Binding Error Message was sent by the home agent, the mobile node
                # SHOULD send a Binding Update to the home agent" (a MAP likewise) -- protected,
                # so its BA, not this BE, decides; the binding in use is kept meanwhile.
                self._be_reregister(now, e)
            else:
                # Status 2 from a MAP or home agent that acknowledged protected BUs
                # contradicts them: ignored (a hint without a protected reason).
                self.drop(now, "be-inconsistent",
                          f"status {int(be.status)} from {packet.src} for {e.kind} binding")
        self._reconcile(now)

    def _on_be_correspondent(self, now: float, e: BulEntry, be: BindingError) -> None:
        """RFC 6275 §11.3.6 for a correspondent's BE: falling back to the home agent's
        route exposes nothing (the correspondent only ever saw the RCoA)."""
        if be.status == BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION:
            # "MUST remove the entry and route further communications through the home
            # agent. It MAY also optionally start a return routability procedure."
            self._cancel_entry_timers(e)
            self.bul.remove(e)
            st = self.correspondents.get(e.destination)
            if st is not None:
                st.care_of = None
        elif be.status == BEStatus.UNRECOGNIZED_MH_TYPE and e.pending:
            # "the mobile node SHOULD cease the use of any extensions ... should cease the
            # attempt to use route optimization."
            self._cancel_entry_timers(e)
            self.bul.fail(e)
            st = self.correspondents.get(e.destination)
            if st is not None:
                st.disabled = True

    def _on_be_protected(self, now: float, e: BulEntry, be: BindingError) -> None:
        """A BE from a MAP or the home agent that arrived under IPsec (its source is
        authenticated): RFC 6275 §11.3.6 applies as written."""
        if be.status == BEStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION:
            e.acked_care_of = None
            self._be_reregister(now, e)
        elif be.status == BEStatus.UNRECOGNIZED_MH_TYPE and e.pending:
            self._cancel_entry_timers(e)
            self.bul.fail(e)
            self._after_failure(now, e)

    def _be_reregister(self, now: float, e: BulEntry) -> None:
        """The protected Binding Update a BE asks for: one at a time (none while a BU to that
        destination is outstanding), at most one per ``initial_bindack_timeout`` per entry,
        so a flood of BEs cannot become a flood of BUs."""
        last = self._be_reregistered.get((e.destination, e.home_address))
        if e.pending or e.state == "failed" or (
                last is not None and now - last < self.config.initial_bindack_timeout):
            self.counters["binding_error_rate_limited"] += 1
            return
        self._be_reregistered[(e.destination, e.home_address)] = now
        self.counters["binding_error_reregistration"] += 1
        if e.kind == "previous-map":
            return  # that binding lapses on its own (RFC 4140 §6.1); nothing to refresh
        self._on_refresh(now, e)

    # == handover bookkeeping ==================================================================

    def _track_handover(self, now: float, lcoa: IPv6Address, map_address: IPv6Address | None) -> None:
        key = (lcoa, map_address)
        if key == self._attachment:
            return
        prev = self._attachment
        self._attachment = key
        if map_address is None:
            kind = "mipv6"
        elif prev is None:
            kind = "initial"
        elif prev[1] == map_address:
            kind = "intra-domain"
        else:
            kind = "inter-domain"
        self._handover = _Handover(kind, lcoa, map_address)

    def _check_handover(self, now: float) -> None:
        h = self._handover
        if h is None or h.done:
            return
        home = self.bul.get(self.config.home_agent, self.config.home_address)
        if h.map is None:
            done = home is not None and home.acked_care_of == h.lcoa and not home.pending
            rcoa = None
        else:
            region = self.regions.get(h.map)
            rcoa = region.rcoa if region is not None else None
            local = self.bul.get(h.map, rcoa) if rcoa is not None else None
            done = (local is not None and local.acked_care_of == h.lcoa and not local.pending
                    and home is not None and home.acked_care_of == rcoa and not home.pending)
        if done:
            h.done = True
            self.emit(HandoverCompleted(time=now, kind=h.kind, lcoa=h.lcoa, rcoa=rcoa))

    # == sending ===============================================================================

    def _lcoas(self) -> set[IPv6Address]:
        return {lk.lcoa for lk in self.links.values() if lk.usable and lk.lcoa is not None}

    def _link_of(self, lcoa: IPv6Address) -> LinkState | None:
        for lk in self.links.values():
            if lk.lcoa == lcoa and lk.usable:
                return lk
        return None

    def _send_from_coa(self, now: float, packet: IPv6Packet) -> bool:
        """Send a packet whose source is a care-of address: from an LCoA straight onto that
        LCoA's link; from an RCoA through the MN-MAP tunnel of that RCoA's MAP (MN-08)."""
        link = self._link_of(packet.src)
        if link is not None:
            return self.send_packet(now, packet, ifname=link.ifname, next_hop=link.router)
        region = self._region_of_rcoa(packet.src)
        if region is not None:
            inner = self._protect(now, packet)
            return inner is not None and self._tunnel_to_map(now, region, inner)
        self.drop(now, "no-care-of-address", f"source {packet.src}")
        return False

    def _protect(self, now: float, packet: IPv6Packet) -> IPv6Packet | None:
        """Outbound policy for a packet about to be tunnelled (the tunnel header itself is
        not protected): ``None``, counted, when policy refuses it (RFC 4301 §5.1: no SA for
        traffic that must be protected -- never sent in clear)."""
        try:
            return self.security.protect(now, packet, None)
        except SecurityDrop as exc:
            self.drop(now, exc.reason, f"outbound to {packet.dst}: {exc}")
            return None

    def _tunnel_to_map(self, now: float, region: Region, inner: IPv6Packet) -> bool:
        """RFC 4140 §6.1: "The outer header contains the mobile node's LCoA in the source
        address field and the MAP's address in the destination address field. The inner header
        contains the mobile node's RCoA in the source address field". The LCoA is taken on the
        link advertising that MAP (MN-21)."""
        link = self._primary_link(region.map)
        if link is None or link.lcoa is None:
            self.drop(now, "no-care-of-address", f"tunnel to {region.map}")
            return False
        outer = IPv6Packet(link.lcoa, region.map, inner)
        return self.send_packet(now, outer, ifname=link.ifname, next_hop=link.router, protect=False)

    def _ro_entry(self, dst: IPv6Address) -> BulEntry | None:
        e = self.bul.get(dst, self.config.home_address)
        if e is None or e.kind != "correspondent" or e.acked_care_of is None:
            return None
        return e

    def _send_upper(self, now: float, dst: IPv6Address, body: Payload, *, use_rcoa: bool = False,
                    via_home: bool = False, from_lcoa: IPv6Address | None = None) -> bool:
        hoa = self.config.home_address
        if from_lcoa is not None:
            link = self._link_of(from_lcoa)
            if link is not None:
                return self.send_packet(now, IPv6Packet(from_lcoa, dst, body), ifname=link.ifname,
                                        next_hop=link.router)
        if use_rcoa:
            region = self._bound_region(now)
            if region is None or region.rcoa is None:
                self.drop(now, "no-rcoa", f"to {dst}")
                return False
            # MN-19 (RFC 4140 §6.5): "a mobile node can use its RCoA as the source address
            # without using a Home Address option".
            inner = self._protect(now, IPv6Packet(region.rcoa, dst, body))
            return inner is not None and self._tunnel_to_map(now, region, inner)
        if not via_home:
            ro = self._ro_entry(dst)
            if ro is not None and ro.remaining(now) > 0 and ro.acked_care_of is not None:
                # RFC 4140 §6.1.1: "the mobile node MUST use the same care-of address used to
                # create a binding cache entry in the correspondent node (RCoA) as a source
                # address ... also include a Home Address option".
                pkt = IPv6Packet(ro.acked_care_of, dst, body,
                                 (DestinationOptions((HomeAddressOption(hoa),)),))
                if self._link_of(ro.acked_care_of) is not None or \
                        self._region_of_rcoa(ro.acked_care_of) is not None:
                    return self._send_from_coa(now, pkt)
        inner = self._protect(now, IPv6Packet(hoa, dst, body))
        return inner is not None and self._reverse_tunnel(now, dst, inner)

    def _reverse_tunnel(self, now: float, dst: IPv6Address, inner: Payload) -> bool:
        """RFC 6275 §11.3.1: reverse-tunnel ``inner`` (from the home address; a packet, or
        its octets as a next-header-41 payload) through the home agent, inside the MN-MAP
        tunnel when the home binding is an RCoA (RFC 4140 §6.1)."""
        home = self.bul.get(self.config.home_agent, self.config.home_address)
        coa = home.acked_care_of if home is not None else None
        if home is None or coa is None or home.remaining(now) <= 0:
            self.drop(now, "no-home-binding", f"to {dst}")
            return False
        region = self._region_of_rcoa(coa)
        if region is not None:
            return self._tunnel_to_map(now, region, IPv6Packet(region.rcoa or coa, self.config.home_agent,
                                                               inner))
        link = self._link_of(coa) or self._primary_link()
        if link is None or link.lcoa is None:
            self.drop(now, "no-care-of-address", f"to {dst}")
            return False
        return self.send_packet(now, IPv6Packet(link.lcoa, self.config.home_agent, inner),
                                ifname=link.ifname, next_hop=link.router, protect=False)

    # == the host stack behind the home address (module docstring) ============================

    def packets_for_host(self) -> list[bytes]:
        """The packets for the host stack since the last call (``host_delivery``)."""
        out, self._host = self._host, []
        return out

    def _for_host(self, packet: IPv6Packet, payload: Payload | None) -> bool:
        if packet.effective_dst != self.config.home_address:
            return False
        nh = payload.next_header if payload is not None else 59
        if nh == 135:
            return False  # the Mobility Header is the engine's (BA, BRR, HoT, BE)
        if nh == 58:
            # RFC 4861: Neighbor Discovery (types 133-137) is link-local business.
            return not 133 <= getattr(payload, "icmp_type", 0) <= 137
        return not (isinstance(payload, UDP) and payload.dst_port == IKE_PORT)

    def _to_host(self, now: float, packet: IPv6Packet, payload: Payload | None) -> None:
        # RFC 6275 §9.3.1 / §11.3.3: after the type 2 routing header and the Home Address
        # option are processed, the packet is the correspondent's, from its effective source
        # to the home address.
        rest = tuple(h for h in packet.extension_headers
                     if not isinstance(h, RoutingHeaderType2)
                     and not (isinstance(h, DestinationOptions) and h.home_address is not None))
        try:
            data = IPv6Packet(packet.effective_src, self.config.home_address, payload, rest,
                              packet.hop_limit, packet.traffic_class, packet.flow_label).encode()
        except EncodeError as exc:
            self.drop(now, "host-unencodable", str(exc))
            return
        self.counters["host-delivered"] += 1
        self._host.append(data)

    def send_from_host(self, now: float, data: bytes) -> bool:
        """The host stack sent ``data`` (an IPv6 packet) from the home address: carry it as
        :meth:`send` would. Returns False, counting a drop, when it cannot go."""
        try:
            packet = decode(data)
        except DecodeError as exc:
            self.drop(now, "host-malformed", str(exc))
            return False
        hoa, dst = self.config.home_address, packet.dst
        if packet.src != hoa or dst.is_multicast or dst.is_link_local:
            # The host's link-scoped chatter (MLD, RS) has no link to go to: the home link is
            # elsewhere.
            self.counters["host-not-routed"] += 1
            return False
        mtu = self.upper_layer_mtu(dst)
        if len(data) > mtu:
            # RFC 8201 §4 / RFC 5380 §11: the host learns the tunnels' MTU.
            self.drop(now, "packet-too-big", f"{len(data)} octets to {dst}")
            # From the tunnel entry point (RFC 2473 §7.1): the care-of address in use.
            self._host.append(IPv6Packet(self.lcoa() or hoa, hoa,
                                         PacketTooBig(mtu, data[:1232])).encode())
            return False
        if not packet.extension_headers and packet.payload is not None:
            ro = self._ro_entry(dst)
            if ro is not None and ro.remaining(now) > 0:
                return self._send_upper(now, dst, packet.payload)
        inner = self.security.protect(now, packet, None)
        body: Payload = RawPayload(41, data) if inner is packet else inner
        return self._reverse_tunnel(now, dst, body)

    # == misc ==================================================================================

    def _random_iid(self, avoid: int) -> int:
        """A random interface identifier (RFC 4941 §3.3.1 style: universal/local bit zero)."""
        while True:
            iid = self.rng.getrandbits(64) & ~(1 << 57)
            if iid not in (avoid, 0):
                return iid

    def restart(self, now: float) -> None:
        super().restart(now)
        for ifname, link in self.links.items():
            if link.up:
                link.up = False
                self.link_up(now, ifname, link.router_name)

