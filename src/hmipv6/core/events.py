"""Observable events of the protocol engines (after h2's and aioquic's ``events.py``).

Frozen, keyword-only dataclasses named in the past tense. The simulator's metrics and the
daemons' logs are built from these, never from engine internals. Every event carries
``time`` (the ``now`` at which it happened) so a log line needs nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from ipaddress import IPv6Address
from typing import Any

__all__ = [
    "BindingAcknowledged",
    "BindingCacheUpdated",
    "BindingRemoved",
    "BindingUpdateSent",
    "CareOfAddressConfigured",
    "DataReceived",
    "Event",
    "FastBindingAcknowledged",
    "FastBindingUpdateSent",
    "FastHandoverBufferFlushed",
    "HandoverAcknowledgeReceived",
    "HandoverCompleted",
    "HandoverInitiateSent",
    "LinkChanged",
    "MapFailed",
    "MapRecovered",
    "MapSelected",
    "MovementDetected",
    "PacketDropped",
    "ProxyRouterAdvertisementReceived",
    "RegionalCareOfAddressRequested",
    "RouterAdvertisementReceived",
    "SimultaneousBindingEnded",
    "SimultaneousBindingStarted",
    "UnsolicitedNeighborAdvertisementSent",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    time: float
    """Engine time (the ``now`` passed in) at which the event happened."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketDropped(Event):
    """A packet was discarded; ``reason`` is a short slug that is also a counter name."""

    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkChanged(Event):
    """A mobile node's link went down or came up (the L2 handover edges)."""

    ifname: str
    up: bool
    router: str | None = None
    """Name of the access router of the attached link, when known."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterAdvertisementReceived(Event):
    ifname: str
    router: IPv6Address
    """The advertising router's link-local address."""
    prefixes: tuple[str, ...]
    maps: tuple[IPv6Address, ...]
    """MAP addresses carried in the RA's MAP options."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MovementDetected(Event):
    ifname: str
    new_prefix: str
    map_changed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CareOfAddressConfigured(Event):
    ifname: str
    address: IPv6Address
    kind: str
    """"lcoa" (on-link care-of address) or "rcoa" (regional, RFC 4140 §3)."""
    usable: bool = True
    """False while a standard DAD is still running (RFC 4862 §5.4)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MapSelected(Event):
    map: IPv6Address
    rcoa: IPv6Address
    dist: int
    pref: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MapFailed(Event):
    map: IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class MapRecovered(Event):
    map: IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingUpdateSent(Event):
    """A Binding Update left the node (first transmission or retransmission)."""

    to: IPv6Address
    kind: str
    """"local" (to a MAP), "home" (to the HA), "correspondent", or "previous-map"."""
    home_address: IPv6Address
    care_of_address: IPv6Address
    sequence: int
    lifetime: int
    retransmission: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingAcknowledged(Event):
    """A Binding Acknowledgement for an outstanding BU was accepted."""

    by: IPv6Address
    kind: str
    status: int
    sequence: int
    lifetime: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingCacheUpdated(Event):
    """A binding cache entry was created or refreshed (MAP, HA or CN)."""

    home_address: IPv6Address
    """The address bound: the RCoA at a MAP, the home address at an HA or CN."""
    care_of_address: IPv6Address
    lifetime: int
    created: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingRemoved(Event):
    home_address: IPv6Address
    reason: str
    """"deregistered", "expired", "replaced", or "lost" (the node restarted with a volatile
    binding cache, RFC 4140 §10)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoverCompleted(Event):
    """The mobile node's registrations for a new attachment are all acknowledged."""

    kind: str
    """"initial", "intra-domain", "inter-domain" or "mipv6" (SCENARIO.md)."""
    lcoa: IPv6Address
    rcoa: IPv6Address | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReceived(Event):
    """An application payload reached this node (after every decapsulation)."""

    src: IPv6Address
    dst: IPv6Address
    ifname: str
    size: int
    tunnelled: int
    """How many IPv6-in-IPv6 layers were removed on the way in."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionalCareOfAddressRequested(Event):
    """A mobile node needs an RCoA that the MAP allocates (RFC 5380 §5 R flag, RFC 4877 §9):
    key management should obtain one and hand it to ``MobileNode.assign_rcoa``."""

    map: IPv6Address
    lcoa: IPv6Address


# -- Fast handovers (FMIPv6 with HMIPv6: RFC 4140 Appendix A, RFC 5568) --------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyRouterAdvertisementReceived(Event):
    """A mobile node heard the PrRtAdv answering its RtSolPr (RFC 5568 §6.1.2)."""

    ifname: str
    prefix: str | None
    """The new access router's prefix (None: the PAR knew nothing of the new AP)."""
    maps: tuple[IPv6Address, ...]
    """MAP options of the new access router (RFC 4140 Appendix A)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FastBindingUpdateSent(Event):
    """A mobile node sent a Fast Binding Update to its MAP (RFC 4140 Appendix A)."""

    to: IPv6Address
    rcoa: IPv6Address
    pcoa: IPv6Address
    ncoa: IPv6Address
    sequence: int
    predictive: bool
    """True when sent from the previous link (RFC 5568 §3.1), False from the new one (§3.3)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FastBindingAcknowledged(Event):
    """A mobile node accepted the FBack for its outstanding FBU."""

    by: IPv6Address
    status: int
    sequence: int
    ncoa: IPv6Address
    """The NCoA to use (the one proposed, or the one the NAR assigned)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsolicitedNeighborAdvertisementSent(Event):
    """A mobile node announced its NCoA on the new link (UNA, RFC 5568 §6.3)."""

    ifname: str
    address: IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoverInitiateSent(Event):
    """A MAP sent (or re-sent) a Handover Initiate to a NAR (RFC 4140 Appendix A)."""

    nar: IPv6Address
    ncoa: IPv6Address
    sequence: int
    retransmission: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoverAcknowledgeReceived(Event):
    """A MAP accepted a NAR's Handover Acknowledge."""

    nar: IPv6Address
    code: int
    ncoa: IPv6Address | None
    """Where the MAP now forwards (None: the NAR refused the handover)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimultaneousBindingStarted(Event):
    """A MAP sends what arrives for ``rcoa`` to every address of ``care_of_addresses``
    until ``until`` (RFC 4140 Appendix A, simultaneous bindings)."""

    rcoa: IPv6Address
    care_of_addresses: tuple[IPv6Address, ...]
    until: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SimultaneousBindingEnded(Event):
    rcoa: IPv6Address
    care_of: IPv6Address | None
    """The single care-of address the binding now has."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FastHandoverBufferFlushed(Event):
    """A NAR delivered the packets it buffered for an arriving mobile node (RFC 5568 §3.1)."""

    address: IPv6Address
    packets: int
    dropped: int
    """Packets the bounded buffer had to refuse."""


# -- construction ---------------------------------------------------------------------------

def _slot_setting_init(cls: type[Event]) -> Callable[..., None]:
    """The ``__init__`` of a frozen event class that sets each field through its slot's
    descriptor, as the dataclass's own sets it through ``object.__setattr__`` (same keyword-
    only parameters, defaults and order; about 30% cheaper: the engines make one event per
    RA heard, datagram delivered, BU sent ...). The instances stay frozen: assigning a field
    still raises ``FrozenInstanceError``."""
    names = [f.name for f in fields(cls)]
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    if any(f.default_factory is not MISSING for f in fields(cls)):
        raise TypeError(f"{cls.__name__}: a default factory needs the dataclass __init__")
    params = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in names)
    body = "".join(f"    _set_{n}(self, {n})\n" for n in names)
    scope: dict[str, Any] = {f"_set_{n}": getattr(cls, n).__set__ for n in names}
    scope.update({f"_default_{n}": v for n, v in defaults.items()})
    exec(f"def __init__(self, *, {params}) -> None:\n{body}", scope)
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


for _name in __all__:
    _cls = globals()[_name]
    _cls._dataclass_init = _cls.__init__  # (kept for the tests)
    _cls.__init__ = _slot_setting_init(_cls)
del _name, _cls
