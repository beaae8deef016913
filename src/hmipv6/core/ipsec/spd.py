"""The Security Policy Database (RFC 4301 §4.4.1), at the size this project needs.

Theory of operation
-------------------
An ordered list of :class:`Policy` entries; the first whose selectors match decides
(RFC 4301 §4.4.1: the SPD is ordered, first match wins). Each entry says PROTECT (with ESP,
AH, or either), BYPASS, or DISCARD. Traffic no entry matches gets the database's default
action (BYPASS, since only signalling is protected here; a node that wants "deny by default"
sets DISCARD).

Selectors are symmetric, as in RFC 4301: ``local`` and ``remote`` address ranges, the upper
layer protocol (Next Header of the payload: 135 Mobility Header, 58 ICMPv6...) and a set of
message types (MH Type, RFC 6275 §6.1.1; ICMPv6 Type, RFC 4443 §2.1). Outbound, ``local`` is
compared with the effective source and ``remote`` with the effective destination; inbound the
other way round. Addresses are the effective ones (Home Address option, Type 2 routing
header), as RFC 6275 §9.3.2 prescribes ("The IPsec Security Policy Database lookup MUST be
based on the mobile node's home address").

The message type is only computed when an entry that constrains it is otherwise matched
(``type_of`` is called lazily), so bypassed data traffic costs no encoding.

Rows served: SEC-01 (MN↔MAP mobility signalling, RFC 4140 §12.1), SEC-07 (MN↔HA signalling
unchanged from RFC 6275 §5.1), AR-06 (router-to-router RAs, RFC 4140 §7), AR-08 (AR↔MAP
probes, RFC 4140 §10).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from hmipv6.core.ipsec.sad import (
    IPsecProtocol,
    Range,
    RangeIndex,
    Selector,
    Versioned,
    as_selector,
    in_range,
    to_range,
)

__all__ = ["ICMPV6", "MOBILITY_HEADER", "Action", "Policy", "SecurityPolicyDatabase"]

MOBILITY_HEADER = 135
ICMPV6 = 58
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
ICMPV6_ROUTER_ADVERTISEMENT = 134


class Action(enum.Enum):
    PROTECT = "protect"
    BYPASS = "bypass"
    DISCARD = "discard"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """One SPD entry."""

    local: Selector = None
    """This node's (effective) address range; ``None`` = any."""
    remote: Selector = None
    """The far end's (effective) address range; ``None`` = any."""
    protocol: int | None = None
    """Upper-layer protocol (Next Header of the payload); ``None`` = any."""
    types: frozenset[int] | None = None
    """MH or ICMPv6 message types; ``None`` = any."""
    action: Action = Action.PROTECT
    ipsec: IPsecProtocol | None = "esp"
    """For PROTECT: the protocol required (``None``: ESP or AH, ESP preferred outbound)."""
    name: str = ""
    """For humans and drop details, e.g. ``"MH MN-MAP"``."""
    _local_range: Range = field(default=None, init=False, repr=False, compare=False)
    _remote_range: Range = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_local_range", to_range(self.local))
        object.__setattr__(self, "_remote_range", to_range(self.remote))

    @classmethod
    def make(cls, *, local: IPv6Address | IPv6Network | str | None = None,
             remote: IPv6Address | IPv6Network | str | None = None, protocol: int | None = None,
             types: Iterable[int] | None = None, action: Action = Action.PROTECT,
             ipsec: IPsecProtocol | None = "esp", name: str = "") -> Policy:
        """Like the constructor, with selectors given as addresses, networks or strings."""
        return cls(local=as_selector(local), remote=as_selector(remote), protocol=protocol,
                   types=frozenset(types) if types is not None else None, action=action,
                   ipsec=ipsec, name=name)

    @classmethod
    def mobility(cls, *, local: IPv6Address | IPv6Network | str | None = None,
                 remote: IPv6Address | IPv6Network | str | None = None,
                 ipsec: IPsecProtocol | None = "esp", name: str = "MH") -> Policy:
        """RFC 4140 §12.1 / RFC 6275 §5.1: mobility signalling must be protected."""
        return cls.make(local=local, remote=remote, protocol=MOBILITY_HEADER, ipsec=ipsec,
                        name=name)

    @classmethod
    def router_advertisements(cls, *, local: IPv6Address | IPv6Network | str | None = None,
                              remote: IPv6Address | IPv6Network | str | None = None,
                              ipsec: IPsecProtocol | None = "ah",
                              name: str = "RA router-router") -> Policy:
        """AR-06 (RFC 4140 §7): RAs between routers for dynamic MAP discovery."""
        return cls.make(local=local, remote=remote, protocol=ICMPV6,
                        types=(ICMPV6_ROUTER_ADVERTISEMENT,), ipsec=ipsec, name=name)

    @classmethod
    def map_probes(cls, *, local: IPv6Address | IPv6Network | str | None = None,
                   remote: IPv6Address | IPv6Network | str | None = None,
                   ipsec: IPsecProtocol | None = "esp", name: str = "AR-MAP probe") -> Policy:
        """AR-08 (RFC 4140 §10): the AR's ICMPv6 Echo probes of the MAP and the replies."""
        return cls.make(local=local, remote=remote, protocol=ICMPV6,
                        types=(ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY), ipsec=ipsec, name=name)

    def matches(self, local: IPv6Address, remote: IPv6Address, protocol: int,
                type_of: Callable[[], int | None]) -> bool:
        if self.protocol is not None and protocol != self.protocol:
            return False
        if not (in_range(self._local_range, local) and in_range(self._remote_range, remote)):
            return False
        return self.types is None or type_of() in self.types


class _PolicyList(list[Policy]):
    """The SPD's ordered entries: a plain list that tells its database when it changes (tests
    and tools edit ``spd.policies`` in place), so the lookup cache is never stale."""

    __slots__ = ("_changed",)

    def __init__(self, policies: Iterable[Policy], changed: Callable[[], None]) -> None:
        super().__init__(policies)
        self._changed = changed


def _changing(name: str) -> Callable[..., Any]:
    method = getattr(list, name)

    def changing(self: _PolicyList, *args: Any, **kwargs: Any) -> Any:
        self._changed()
        return method(self, *args, **kwargs)

    changing.__name__ = name
    return changing


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
              "insert", "pop", "remove", "clear", "sort", "reverse"):
    setattr(_PolicyList, _name, _changing(_name))
del _name


class SecurityPolicyDatabase(Versioned):
    """An ordered policy list with a default action.

    Lookups are cached per protocol (the entries that could apply to it: a mobile node's
    entries all concern the Mobility Header, so its ICMPv6 costs nothing) and per (local,
    remote, protocol): the cache holds, in SPD order, the entries whose address and protocol
    selectors match (found, on a miss, through a
    :class:`~hmipv6.core.ipsec.sad.RangeIndex` of the protocol's entries rather than by a
    scan); a lookup then returns the first of
    them whose message types (computed lazily, as before) match. So a node with thousands
    of entries (a home agent or MAP serving thousands of mobile nodes) decides in constant
    time, with exactly the first-match result of scanning the list. Any change to
    :attr:`policies` or :attr:`default` empties the cache and bumps :attr:`version`."""

    _CACHE_LIMIT = 8192

    def __init__(self, policies: Iterable[Policy] = (), *,
                 default: Action = Action.BYPASS) -> None:
        super().__init__()
        self._cache: dict[tuple[int, int, int], tuple[Policy, ...]] = {}
        """Candidates by (local, remote, protocol), the addresses as integers: hashing an
        ``IPv6Address`` formats it as hexadecimal text first, a microsecond per lookup."""
        self._by_protocol: dict[int, tuple[tuple[Policy, ...], bool, bool]] = {}
        """Per protocol: the entries that could apply, and whether any of them selects on the
        local address, on the remote address (if none does, that address is left out of
        the cache key: every remote peer of a MAP's single "MH from anyone" entry shares
        one cache line)."""
        self._bypassed: dict[int, bool] = {}
        """:meth:`bypasses` per protocol (asked for every packet a mobile node receives)."""
        self._index: dict[int, RangeIndex[Policy]] = {}
        """Per protocol: the entries that could apply, indexed by their address selectors
        (see :class:`~hmipv6.core.ipsec.sad.RangeIndex`), so that a cache miss does not scan
        every entry (a home agent has one per mobile node)."""
        self._members: set[Policy] | None = None
        self._policies = _PolicyList(policies, self._changed)
        self._default = default

    @property
    def default(self) -> Action:
        """The action for traffic no entry matches; setting it is a change like any other."""
        return self._default

    @default.setter
    def default(self, action: Action) -> None:
        self._default = action
        self._changed()

    @property
    def policies(self) -> list[Policy]:
        """The ordered entries (a list; editing it in place is allowed)."""
        return self._policies

    @policies.setter
    def policies(self, policies: Iterable[Policy]) -> None:
        self._changed()
        self._policies = _PolicyList(policies, self._changed)

    def _changed(self) -> None:
        self._cache.clear()
        self._by_protocol.clear()
        self._bypassed.clear()
        self._index.clear()
        self._members = None
        self._bump()

    def add(self, policy: Policy) -> Policy:
        """Append ``policy`` (it applies after every entry already present)."""
        members = self._members
        self._policies.append(policy)
        if members is not None:
            members.add(policy)
            self._members = members
        return policy

    def __contains__(self, policy: object) -> bool:
        """Is an entry equal to ``policy`` present? (Constant time: provisioning thousands of
        mobile nodes asks this for every policy it installs.)"""
        if self._members is None:
            self._members = set(self._policies)
        return policy in self._members

    def _for_protocol(self, protocol: int) -> tuple[tuple[Policy, ...], bool, bool]:
        same = tuple(p for p in self._policies if p.protocol is None or p.protocol == protocol)
        entry = self._by_protocol[protocol] = (
            same, any(p._local_range is not None for p in same),
            any(p._remote_range is not None for p in same))
        self._index[protocol] = RangeIndex(same, [(p._local_range, p._remote_range) for p in same])
        return entry

    def bypasses(self, protocol: int) -> bool:
        """Is every packet of ``protocol`` bypassed, whatever its addresses and message type
        (no entry can apply to the protocol and the default is BYPASS)? Then an unprotected
        packet needs no lookup (a mobile node's ICMPv6 and UDP)."""
        bypassed = self._bypassed.get(protocol)
        if bypassed is None:
            entry = self._by_protocol.get(protocol)
            if entry is None:
                entry = self._for_protocol(protocol)
            bypassed = self._bypassed[protocol] = (not entry[0]
                                                   and self._default is Action.BYPASS)
        return bypassed

    def lookup(self, local: IPv6Address, remote: IPv6Address, protocol: int,
               type_of: Callable[[], int | None]) -> Policy | None:
        """The first matching entry, or ``None`` (then :attr:`default` applies)."""
        entry = self._by_protocol.get(protocol)
        if entry is None:
            entry = self._for_protocol(protocol)
        same, by_local, by_remote = entry
        if not same:
            return None
        lo = int(local) if by_local else 0
        re = int(remote) if by_remote else 0
        key = (lo, re, protocol)
        candidates = self._cache.get(key)
        if candidates is None:
            candidates = self._index[protocol].matching(lo, re)
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = candidates
        for p in candidates:
            if p.types is None or type_of() in p.types:
                return p
        return None
