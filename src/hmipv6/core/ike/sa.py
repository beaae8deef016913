"""An established IKE SA and its Child SAs, after IKE_AUTH: INFORMATIONAL (Delete, liveness)
and CREATE_CHILD_SA (Child SA and IKE SA rekeying) in both roles (RFC 7296 §1.3, §1.4,
§2.4, §2.8, §2.8.1, §2.8.2, §2.18).

Theory of operation
-------------------
Sans-IO like :mod:`.exchange`: :meth:`IkeSa.receive` takes a decoded message and its octets
and returns the messages to send; :meth:`IkeSa.next_timer` / :meth:`IkeSa.handle_timer`
drive retransmissions of this end's own requests and the optional periodic work of
:class:`SaPolicy` (Child SA and IKE SA rekeying, dead peer detection). Either end may send
requests (§2.2: each direction has its own Message IDs, a window of one here); a request
is answered once, its response cached and resent for a retransmitted request (§2.1).

Requests this end receives (§1.4, §1.3):

- INFORMATIONAL with Delete payloads: ESP SPIs name the sender's inbound SAs, i.e. our
  outbound ones; both directions are removed from the SAD and the response carries Delete
  for the paired SAs (§1.4.1). A Delete of the IKE SA removes it and its Child SAs (unless
  they were already moved to a newer IKE SA) and is answered with an empty INFORMATIONAL.
  An empty INFORMATIONAL is a liveness check (DPD) and is answered empty.
- CREATE_CHILD_SA with REKEY_SA: a new Child SA replacing the one whose SPI is named
  (the sender's inbound SPI), same selectors and mode (USE_TRANSPORT_MODE), new SPIs,
  KEYMAT from ``prf+(SK_d, [g^ir] | Ni | Nr)``; our new outbound SA is used at once, the old
  inbound one stays until the initiator deletes it (§2.8).
- CREATE_CHILD_SA with an IKE proposal (8-octet SPI): a new IKE SA (§1.3.2, §2.18) whose
  SPIi is the requester's and SPIr ours, keys from ``prf(SK_d(old), g^ir | Ni | Nr)``; the
  Child SAs move to it; the old one is deleted by the rekey's initiator.
- CREATE_CHILD_SA for an additional Child SA: NO_ADDITIONAL_SAS (one SA per MN–MAP pair),
  unless the MAP holds no Child SA on this IKE SA any more (it deleted it): then a new one
  for the same selectors (§1.3.1).
- Any rekey request on an IKE SA that is already replaced: TEMPORARY_FAILURE (§2.8.2).

Simultaneous rekeying (§2.8.1, §2.8.2): when our rekey of an SA and the peer's rekey of the
same SA cross, both exchanges complete; the one of the two new SAs created in the exchange
holding the lowest of the four nonces (octet-wise) is deleted by the end that initiated it,
the other survives and its initiator deletes the old SA. A Delete of the old IKE SA arriving
while our crossing rekey is still open means the peer's new IKE SA survived: it inherits the
Child SAs.

Redundant SAs: an SA whose Delete the peer owes (the old SA of a rekey it started, the new SA
it created and lost a crossing with) is deleted by this end after
``SaPolicy.redundant_sa_timeout`` (:data:`REDUNDANT_SA_TIMEOUT`), so a peer that dropped its
side of the exchange does not leave it behind for good.

The mobile node's end (``mn_side``), when the MAP deletes its last Child SA and keeps the IKE
SA, asks for a new Child SA on it (CREATE_CHILD_SA without REKEY_SA, §1.3.1; collected in
:attr:`IkeSa.created_children`); a refusal closes the IKE SA.

Owners (:class:`~.exchange.IkeInitiator`, :class:`~.exchange.IkeResponder`) route messages
to an :class:`IkeSa` by its SPI pair and collect :attr:`IkeSa.spawned` (new IKE SAs from a
rekey) and drop SAs whose :attr:`IkeSa.state` is ``"deleted"``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import TYPE_CHECKING, Final, Literal

from hmipv6.core.ike import crypto as cr
from hmipv6.core.ike.message import (
    Delete,
    ExchangeType,
    Flags,
    KeyExchange,
    Message,
    Nonce,
    Notify,
    NotifyType,
    Payload,
    Proposal,
    ProtocolId,
    SecurityAssociationPayload,
    TrafficSelector,
    TrafficSelectors,
)
from hmipv6.core.ike.proposals import IkeSuite, esp_proposals, ike_proposal, select_esp, select_ike, suite_of
from hmipv6.core.ipsec.keys import MH_SIGNALLING_TYPES, SUITES
from hmipv6.core.ipsec.sad import SAParams
from hmipv6.core.ipsec.spd import MOBILITY_HEADER, Policy
from hmipv6.errors import DecodeError

if TYPE_CHECKING:
    from hmipv6.core.ipsec import IPsec

__all__ = ["NO_POLICY", "ChildSA", "IkeSa", "SaPolicy", "install_child", "key_lengths", "new_esp_spi",
           "remove_child"]

NONCE_LEN: Final = 32
RETRANSMIT_BASE: Final = 1.0
MAX_RETRANSMITS: Final = 5
REDUNDANT_SA_TIMEOUT: Final = 30.0
"""Seconds an SA waits for the Delete the peer owes (RFC 7296 §2.8: the old SA of a rekey this
end answered; §2.8.1/§2.8.2: the loser of a simultaneous rekey, closed by its creator) before
this end deletes it itself. The RFC sets no bound; a peer can miss its Delete (strongSwan
aborts its rekey when our Delete of the old IKE SA overtakes our answer to it), so, like
strongSwan, the redundant SA is not kept for good. strongSwan waits 30 s too."""


@dataclass(frozen=True, slots=True)
class ChildSA:
    """What was installed: SPIs, suite and keys, per direction from this node's view."""

    suite: str
    inbound: SAParams
    outbound: SAParams


@dataclass(frozen=True, slots=True)
class SaPolicy:
    """Periodic work on an established IKE SA (seconds; ``None`` = never): rekey the Child
    SA, rekey the IKE SA, send a liveness check when nothing was heard for ``dpd``."""

    child_rekey: float | None = None
    ike_rekey: float | None = None
    dpd: float | None = None
    redundant_sa_timeout: float = REDUNDANT_SA_TIMEOUT
    """After this long, an SA the peer should have deleted is deleted by this end (see
    :data:`REDUNDANT_SA_TIMEOUT`)."""


NO_POLICY: Final = SaPolicy()
"""No periodic work (the default)."""


def key_lengths(suite: str) -> tuple[int, int]:
    """(encryption key octets, integrity key octets) of a Child SA suite."""
    _, _, enc_len, _, auth_len = SUITES[suite]
    return enc_len, auth_len


def new_esp_spi(ipsec: IPsec, rng: random.Random) -> int:
    """A free inbound ESP SPI (≥ 256, RFC 4303 §2.1)."""
    while True:
        spi = rng.getrandbits(32)
        if spi >= 256 and ipsec.sad.inbound("esp", spi) is None:
            return spi


def install_child(ipsec: IPsec, suite: str, keymat: tuple[bytes, bytes, bytes, bytes], *,
                  mn_side: bool, exchange_initiator: bool, spi_in: int, spi_out: int,
                  rcoa: IPv6Address, map_address: IPv6Address, peer: str) -> ChildSA:
    """Install a Child SA pair (transport mode, selectors RCoA ↔ MAP), the SPD entry
    protecting BU/BA/BRR and, on the MN, the PAD entry (as ``Provisioner.mn_map`` does for
    manual keys). ``keymat`` is ordered from the exchange initiator's view (§2.17)."""
    proto, enc, _, auth, _ = SUITES[suite]
    ei, ai, er, ar = keymat
    out_keys, in_keys = ((ei, ai), (er, ar)) if exchange_initiator else ((er, ar), (ei, ai))
    src_out, dst_out = (rcoa, map_address) if mn_side else (map_address, rcoa)
    outbound = SAParams.make(spi=spi_out, protocol=proto, peer=peer, src=src_out, dst=dst_out,
                             enc=enc, auth=auth, enc_key=out_keys[0], auth_key=out_keys[1])
    inbound = SAParams.make(spi=spi_in, protocol=proto, peer=peer, src=dst_out, dst=src_out,
                            enc=enc, auth=auth, enc_key=in_keys[0], auth_key=in_keys[1])
    ipsec.add_sa(inbound, "in")
    ipsec.add_sa(outbound, "out")
    if mn_side:
        policy = Policy.make(remote=map_address, protocol=MOBILITY_HEADER,
                             types=MH_SIGNALLING_TYPES, ipsec=proto, name="MH MN-MAP")
        ipsec.authorise(peer, [map_address])
    else:
        policy = Policy.make(local=map_address, protocol=MOBILITY_HEADER,
                             types=MH_SIGNALLING_TYPES, ipsec=proto, name="MH MAP-MN")
    if policy not in ipsec.spd.policies:
        ipsec.add_policy(policy)
    return ChildSA(suite, inbound, outbound)


def remove_child(ipsec: IPsec, child: ChildSA, *, inbound: bool = True,
                 outbound: bool = True) -> None:
    """Remove a Child SA's SAs (either direction) from the SAD."""
    for sa in list(ipsec.sad):
        if (outbound and sa.direction == "out" and sa.params == child.outbound) or (
                inbound and sa.direction == "in" and sa.params == child.inbound):
            ipsec.sad.remove(sa)


@dataclass(slots=True)
class _Request:
    kind: Literal["dpd", "delete-child", "delete-ike", "rekey-child", "rekey-ike", "create-child"]
    mid: int = 0
    data: bytes = b""
    deadline: float = 0.0
    tries: int = 0
    child: ChildSA | None = None
    nonce: bytes = b""
    dh: cr.DiffieHellman | None = None
    spi: int = 0
    group: int | None = None
    peer_nonces: tuple[bytes, bytes] | None = None
    """Set when the peer's rekey of the same SA crossed ours: (its Ni, our Nr)."""
    peer_created: object = None
    """The SA the crossing peer rekey created (ChildSA or IkeSa)."""


@dataclass(slots=True)
class _Children:
    """Child SAs shared between an IKE SA and the IKE SAs that replace it."""

    items: list[ChildSA] = field(default_factory=list)
    owner: IkeSa | None = None
    awaiting: dict[int, float] = field(default_factory=dict)
    """Child SAs (by inbound SPI) the peer should delete (the old SA of a rekey it started, the
    loser of a simultaneous rekey it created), with the time since when (§2.8, §2.8.1)."""

    def remove(self, child: ChildSA) -> None:
        """Forget ``child`` (deleted): no longer installed, so no longer awaited either."""
        if child in self.items:
            self.items.remove(child)
        self.awaiting.pop(child.inbound.spi, None)

    def clear(self) -> None:
        self.items.clear()
        self.awaiting.clear()


class IkeSa:
    """One established IKE SA (module docstring). ``original_initiator`` sets the I flag and
    which SK_e/SK_a keys this end sends with; ``mn_side`` which way the Child SA selectors
    point (the MN's RCoA to the MAP or back)."""

    def __init__(self, ipsec: IPsec, *, rng: random.Random, spi_i: int, spi_r: int,
                 keys: cr.IkeKeys, suite: IkeSuite, original_initiator: bool, mn_side: bool,
                 peer: str, rcoa: IPv6Address | None, map_address: IPv6Address,
                 child_suites: tuple[str, ...], groups: tuple[int, ...],
                 peer_address: IPv6Address | None = None, policy: SaPolicy = NO_POLICY,
                 next_mid: int = 0, peer_mid: int = 0, now: float = 0.0,
                 children: _Children | None = None, pfs_group: int | None = None) -> None:
        self.ipsec = ipsec
        self.rng = rng
        self.spi_i = spi_i
        self.spi_r = spi_r
        self.keys = keys
        self.suite = suite
        self.original_initiator = original_initiator
        self.mn_side = mn_side
        self.peer = peer
        self.rcoa = rcoa
        self.map_address = map_address
        self.child_suites = child_suites
        self.groups = groups
        self.peer_address = peer_address
        self.policy = policy
        self.pfs_group = pfs_group
        """DH group offered when this end rekeys a Child SA (``None``: no PFS)."""
        self.state: Literal["established", "rekeyed", "deleted"] = "established"
        self.children = children if children is not None else _Children()
        if self.children.owner is None or children is None:
            self.children.owner = self
        self.counters: Counter[str] = Counter()
        self.events: list[tuple[str, object]] = []
        """What happened, in order: ("child-rekeyed", ChildSA), ("child-created", ChildSA),
        ("ike-rekeyed", IkeSa), ("child-deleted", ChildSA), ("ike-deleted", self),
        ("dpd-ok", None), ("failed", str)."""
        self.spawned: list[IkeSa] = []
        """IKE SAs created by rekeying this one (owners register and clear them)."""
        self.rekeyed_children: list[tuple[ChildSA, ChildSA]] = []
        """(old, new) per completed Child SA rekey, for key comparisons."""
        self.created_children: list[ChildSA] = []
        """Child SAs this end created on this IKE SA after the peer deleted the last one (the
        mobile node's renewal, :meth:`create_child`); owners take them to re-register."""
        self._next_mid = next_mid
        self._peer_mid = peer_mid
        self._last_peer_req = b""
        self._last_resp = b""
        self._pending: _Request | None = None
        self._queue: list[_Request] = []
        self._deleting: set[int] = set()
        self._last_heard = now
        self._established_at = now
        self._child_at = now
        self._redundant_since: float | None = None
        """When this IKE SA became redundant with its Delete owed by the peer (§2.8.2)."""

    # -- keys and framing ----------------------------------------------------------------------

    def _out_keys(self) -> tuple[bytes, bytes]:
        k = self.keys
        return (k.sk_ei, k.sk_ai) if self.original_initiator else (k.sk_er, k.sk_ar)

    def _in_keys(self) -> tuple[bytes, bytes]:
        k = self.keys
        return (k.sk_er, k.sk_ar) if self.original_initiator else (k.sk_ei, k.sk_ai)

    def _seal(self, exchange: int, mid: int, response: bool, payloads: tuple[Payload, ...]) -> bytes:
        flags = (Flags.INITIATOR if self.original_initiator else Flags.NONE) | (
            Flags.RESPONSE if response else Flags.NONE)
        enc, integ = self._out_keys()
        return cr.seal_sk(Message(self.spi_i, self.spi_r, exchange, flags, mid, payloads),
                          enc, integ, self.rng)

    @property
    def child(self) -> ChildSA | None:
        """The current Child SA (the latest installed)."""
        return self.children.items[-1] if self.children.items else None

    def owns_children(self) -> bool:
        return self.children.owner is self

    # -- timers --------------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        if self.state == "deleted":
            return None
        times = [self._pending.deadline] if self._pending is not None else []
        if self._pending is None and self.state == "rekeyed" and self._redundant_since is not None:
            times.append(self._redundant_since + self.policy.redundant_sa_timeout)
        if self.state == "established" and self._pending is None and self.owns_children():
            p = self.policy
            times += [t + p.redundant_sa_timeout for _, t in self._awaited_children()]
            if p.child_rekey is not None and self.child is not None:
                times.append(self._child_at + p.child_rekey)
            if p.ike_rekey is not None:
                times.append(self._established_at + p.ike_rekey)
            if p.dpd is not None:
                times.append(self._last_heard + p.dpd)
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[bytes]:
        if self.state == "deleted":
            return []
        req = self._pending
        if req is not None:
            if now < req.deadline:
                return []
            if req.tries >= MAX_RETRANSMITS:
                # §2.4: no answer after retransmissions: the peer is dead; forget everything.
                self.events.append(("failed", f"{req.kind}: no response"))
                self.counters["peer-dead"] += 1
                self._delete_all()
                return []
            req.tries += 1
            req.deadline = now + RETRANSMIT_BASE * (2 ** req.tries)
            self.counters["retransmit"] += 1
            return [req.data]
        p = self.policy
        if self.state == "rekeyed" and self._redundant_since is not None \
                and now >= self._redundant_since + p.redundant_sa_timeout:
            return self._close_redundant(now)
        if self.state != "established" or not self.owns_children():
            return []
        for c, since in self._awaited_children():
            if now >= since + p.redundant_sa_timeout:
                # §2.8/§2.8.1: the peer never deleted this Child SA: this end does.
                self.counters["redundant-child-deleted"] += 1
                return self.delete_child(now, c)
        if p.ike_rekey is not None and now >= self._established_at + p.ike_rekey:
            self._established_at = now
            return self.rekey_ike(now)
        if p.child_rekey is not None and self.child is not None \
                and now >= self._child_at + p.child_rekey:
            self._child_at = now
            return self.rekey_child(now)
        if p.dpd is not None and now >= self._last_heard + p.dpd:
            self._last_heard = now
            return self.dpd(now)
        return []

    def _awaited_children(self) -> list[tuple[ChildSA, float]]:
        """The Child SAs whose Delete the peer owes and that we are not deleting ourselves
        (a deleted Child SA leaves ``awaiting`` with it: :meth:`_Children.remove`)."""
        by_spi = {c.inbound.spi: c for c in self.children.items}
        return [(by_spi[s], t) for s, t in self.children.awaiting.items()
                if s in by_spi and s not in self._deleting]

    def _await_peer_delete(self, now: float) -> None:
        """This IKE SA is redundant and the peer is to delete it (§2.8, §2.8.2)."""
        self.state = "rekeyed"
        self._redundant_since = now

    def _close_redundant(self, now: float) -> list[bytes]:
        """The peer never deleted this redundant IKE SA: send the Delete ourselves and forget
        the SA at once. The peer most likely holds no such SA any more (it dropped its rekey),
        so its answer is not waited for (it would arrive for an unknown SPI pair and be
        dropped); the Child SAs belong to the surviving IKE SA and stay."""
        self.counters["redundant-deleted"] += 1
        out = self._send(now, _Request("delete-ike"))
        self._delete_all()
        return out

    # -- requests this end starts -------------------------------------------------------------

    def dpd(self, now: float) -> list[bytes]:
        """An empty INFORMATIONAL (liveness check, §1.4)."""
        return self._start(now, _Request("dpd"))

    def delete_child(self, now: float, child: ChildSA | None = None) -> list[bytes]:
        """Delete a Child SA (the current one by default): our outbound SA stops at once."""
        c = child or self.child
        if c is None:
            return []
        remove_child(self.ipsec, c, inbound=False)
        self._deleting.add(c.inbound.spi)
        return self._start(now, _Request("delete-child", child=c))

    def delete(self, now: float) -> list[bytes]:
        """Delete this IKE SA (and its Child SAs, if it owns them)."""
        return self._start(now, _Request("delete-ike"))

    def rekey_child(self, now: float, child: ChildSA | None = None) -> list[bytes]:
        c = child or self.child
        if c is None or self.state != "established":
            return []
        return self._start(now, _Request("rekey-child", child=c, group=self.pfs_group))

    def rekey_ike(self, now: float) -> list[bytes]:
        if self.state != "established":
            return []
        return self._start(now, _Request("rekey-ike", group=self.suite.group))

    def create_child(self, now: float) -> list[bytes]:
        """A new Child SA on this IKE SA (CREATE_CHILD_SA without REKEY_SA, RFC 7296 §1.3.1):
        same selectors (the RCoA and the MAP, Mobility Header) and transport mode as the one
        from IKE_AUTH."""
        if self.state != "established" or self.rcoa is None:
            return []
        return self._start(now, _Request("create-child", group=self.pfs_group))

    def _start(self, now: float, req: _Request) -> list[bytes]:
        if self.state == "deleted":
            return []
        if self._pending is not None:
            self._queue.append(req)
            return []
        return self._send(now, req)

    def _send(self, now: float, req: _Request) -> list[bytes]:
        req.mid = self._next_mid
        self._next_mid += 1
        exchange, payloads = self._build(req)
        req.data = self._seal(exchange, req.mid, False, payloads)
        req.deadline = now + RETRANSMIT_BASE
        req.tries = 0
        self._pending = req
        self.counters[f"sent-{req.kind}"] += 1
        return [req.data]

    def _build(self, req: _Request) -> tuple[int, tuple[Payload, ...]]:
        if req.kind == "dpd":
            return ExchangeType.INFORMATIONAL, ()
        if req.kind == "delete-child":
            assert req.child is not None
            return ExchangeType.INFORMATIONAL, (
                Delete(ProtocolId.ESP, (req.child.inbound.spi.to_bytes(4, "big"),)),)
        if req.kind == "delete-ike":
            return ExchangeType.INFORMATIONAL, (Delete(ProtocolId.IKE),)
        req.nonce = self.rng.randbytes(NONCE_LEN)
        ke: tuple[Payload, ...] = ()
        if req.group is not None:
            req.dh = cr.DiffieHellman(req.group, self.rng)
            ke = (KeyExchange(req.group, req.dh.public),)
        if req.kind == "rekey-ike":
            req.spi = self._new_ike_spi()
            assert req.group is not None
            sa = SecurityAssociationPayload((ike_proposal(
                1, (req.group, *(g for g in self.groups if g != req.group)),
                req.spi.to_bytes(8, "big"), self.suite.enc_len * 8),))
            return ExchangeType.CREATE_CHILD_SA, (sa, Nonce(req.nonce), *ke)
        req.spi = new_esp_spi(self.ipsec, self.rng)
        tsi, tsr = self._selectors(initiator=True)
        if req.child is None:  # create-child (§1.3.1): our suites in our order
            rekey: tuple[Payload, ...] = ()
            suites = self.child_suites
        else:
            rekey = (Notify(NotifyType.REKEY_SA, ProtocolId.ESP,
                            req.child.inbound.spi.to_bytes(4, "big")),)
            suites = (req.child.suite, *(s for s in self.child_suites if s != req.child.suite))
        return ExchangeType.CREATE_CHILD_SA, (
            *rekey, Notify(NotifyType.USE_TRANSPORT_MODE),
            SecurityAssociationPayload(esp_proposals(suites, req.spi.to_bytes(4, "big"),
                                                     req.group)),
            Nonce(req.nonce), *ke, tsi, tsr)

    def _selectors(self, *, initiator: bool) -> tuple[TrafficSelectors, TrafficSelectors]:
        """TSi / TSr of this SA's Child SA from the view of an exchange this end initiates
        (``initiator``) or answers."""
        assert self.rcoa is not None
        mn = TrafficSelector.address(self.rcoa, MOBILITY_HEADER)
        mp = TrafficSelector.address(self.map_address, MOBILITY_HEADER)
        mine, theirs = (mn, mp) if self.mn_side else (mp, mn)
        i, r = (mine, theirs) if initiator else (theirs, mine)
        return TrafficSelectors((i,)), TrafficSelectors((r,), True)

    def _selectors_match(self, inner: tuple[Payload, ...]) -> bool:
        """TSi admits the RCoA and TSr this MAP, both for the Mobility Header (§2.9; the
        answer carries exactly those, :meth:`_selectors`)."""
        tsis = [p for p in inner if isinstance(p, TrafficSelectors) and not p.responder]
        tsrs = [p for p in inner if isinstance(p, TrafficSelectors) and p.responder]
        if len(tsis) != 1 or len(tsrs) != 1 or self.rcoa is None:
            return False
        return all(any(ts.contains(a) and ts.covers_protocol(MOBILITY_HEADER)
                       for ts in tss.selectors)
                   for tss, a in ((tsis[0], self.rcoa), (tsrs[0], self.map_address)))

    def _new_ike_spi(self) -> int:
        return self.rng.getrandbits(64) or 1

    # -- receiving ------------------------------------------------------------------------------

    def receive(self, now: float, msg: Message, data: bytes,
                source: IPv6Address | None = None) -> list[bytes]:
        """A message for this SA (SPIs already matched), from ``source`` when known: an
        authenticated message moves :attr:`peer_address` there (the MN changed its LCoA; our
        own requests follow it, as responses follow requests, §2.11). Bad input is counted
        and dropped."""
        if self.state == "deleted":
            self.counters["after-delete"] += 1
            return []
        try:
            before = self._last_heard, self._peer_mid
            out = (self._on_response(now, msg, data) if msg.is_response
                   else self._on_request(now, msg, data))
            if source is not None and (self._last_heard, self._peer_mid) != before:
                self.peer_address = source
            return out
        except cr.IntegrityFailure:
            self.counters["bad-icv"] += 1
        except DecodeError:
            self.counters["malformed"] += 1
        return []

    def _on_request(self, now: float, msg: Message, data: bytes) -> list[bytes]:
        if msg.from_initiator == self.original_initiator:
            self.counters["unexpected"] += 1  # our own direction's I flag: reflected
            return []
        if msg.message_id != self._peer_mid:
            if msg.message_id + 1 == self._peer_mid and data == self._last_peer_req:
                self.counters["retransmit-answered"] += 1
                return [self._last_resp]
            self.counters["bad-message-id"] += 1
            return []
        enc, integ = self._in_keys()
        inner = cr.open_sk(data, msg, enc, integ)
        self._last_heard = now
        if msg.exchange == ExchangeType.INFORMATIONAL:
            payloads = self._on_informational(now, inner)
        elif msg.exchange == ExchangeType.CREATE_CHILD_SA:
            payloads = self._on_create_child(now, inner)
        else:
            self.counters["unsupported"] += 1
            payloads = (Notify(NotifyType.INVALID_SYNTAX),)
        resp = self._seal(msg.exchange, msg.message_id, True, payloads)
        self._peer_mid += 1
        self._last_peer_req = data
        self._last_resp = resp
        out = [resp]
        if self.state == "established" or msg.exchange != ExchangeType.INFORMATIONAL:
            out += self._drain(now)
        return out

    def _drain(self, now: float) -> list[bytes]:
        if self._pending is None and self._queue and self.state != "deleted":
            return self._send(now, self._queue.pop(0))
        return []

    # -- INFORMATIONAL ------------------------------------------------------------------------

    def _on_informational(self, now: float, inner: tuple[Payload, ...]) -> tuple[Payload, ...]:
        deletes = [p for p in inner if isinstance(p, Delete)]
        if not inner:
            self.counters["dpd-answered"] += 1
            return ()
        if any(d.protocol == ProtocolId.IKE for d in deletes):
            # §1.4.1: the IKE SA and, if it still owns them, its Child SAs are gone.
            self.counters["ike-delete-answered"] += 1
            req = self._pending
            if req is not None and req.kind == "rekey-ike" and isinstance(req.peer_created, IkeSa) \
                    and self.owns_children():
                # §2.8.2: our rekey crossed the peer's and the peer deletes the old SA before
                # our rekey completed: the peer's new IKE SA (which we answered) survived,
                # and inherits the Child SAs; ours, if the peer made it, is the peer's to close.
                self._retire(req.peer_created)
            self._delete_all()
            return ()
        paired: list[bytes] = []
        for d in deletes:
            if d.protocol != ProtocolId.ESP:
                continue
            for raw in d.spis:
                spi = int.from_bytes(raw, "big")
                c = next((c for c in self.children.items if c.outbound.spi == spi), None)
                if c is None:
                    self.counters["delete-unknown-spi"] += 1
                    continue
                # §1.4.1: remove both directions, answer with the paired (inbound) SPI.
                remove_child(self.ipsec, c)
                self.children.remove(c)
                self.events.append(("child-deleted", c))
                self.counters["child-delete-answered"] += 1
                if self._pending is not None and self._pending.kind == "delete-child" \
                        and self._pending.child == c:
                    continue  # both ends deleted it at once: no pair in our answer (§1.4.1)
                paired.append(c.inbound.spi.to_bytes(4, "big"))
        if self.mn_side and paired and not self.children.items and self.owns_children() \
                and self.state == "established" and self.rcoa is not None:
            # The MAP deleted the Child SA protecting our BUs but kept the IKE SA: ask for a
            # new one on it (§1.3.1), sent once this request is answered.
            self.counters["child-renewal"] += 1
            self._queue.append(_Request("create-child", group=self.pfs_group))
        return (Delete(ProtocolId.ESP, tuple(paired)),) if paired else ()

    def _delete_all(self) -> None:
        if self.owns_children():
            for c in self.children.items:
                remove_child(self.ipsec, c)
                self.events.append(("child-deleted", c))
            self.children.clear()
        self.state = "deleted"
        self._pending = None
        self._queue.clear()
        self.events.append(("ike-deleted", self))

    # -- CREATE_CHILD_SA (responder) ----------------------------------------------------------

    def _on_create_child(self, now: float, inner: tuple[Payload, ...]) -> tuple[Payload, ...]:
        def refuse(ntype: int, data: bytes = b"") -> tuple[Payload, ...]:
            self.counters[f"notify-{ntype}"] += 1
            return (Notify(ntype, data=data),)

        if self.state != "established":
            return refuse(NotifyType.TEMPORARY_FAILURE)  # §2.8.2: an SA being closed
        sas = [p for p in inner if isinstance(p, SecurityAssociationPayload)]
        nis = [p for p in inner if isinstance(p, Nonce)]
        kes = [p for p in inner if isinstance(p, KeyExchange)]
        rekey = [p for p in inner if isinstance(p, Notify) and p.type == NotifyType.REKEY_SA]
        if len(sas) != 1 or len(nis) != 1 or len(kes) > 1:
            return refuse(NotifyType.INVALID_SYNTAX)
        ni = nis[0].data
        if not rekey and any(p.protocol == ProtocolId.IKE for p in sas[0].proposals):
            return self._answer_ike_rekey(now, sas[0], ni, kes, refuse)
        old: ChildSA | None = None
        if not rekey:
            # One Child SA per MN–MAP pair: a new one only in place of one this MAP deleted
            # (the mobile node's renewal, §1.3.1), for the same RCoA and MAP, Mobility Header.
            if self.children.items or self.mn_side or self.rcoa is None:
                return refuse(NotifyType.NO_ADDITIONAL_SAS)
            if not self._selectors_match(inner):
                return refuse(NotifyType.TS_UNACCEPTABLE)
        else:
            spi = int.from_bytes(rekey[0].spi, "big")
            old = next((c for c in self.children.items if c.outbound.spi == spi), None)
            if old is None or rekey[0].protocol != ProtocolId.ESP:
                return refuse(NotifyType.CHILD_SA_NOT_FOUND)
            if old.inbound.spi in self._deleting:
                return refuse(NotifyType.TEMPORARY_FAILURE)  # §2.8.1: already replaced by ours
        if not any(isinstance(p, Notify) and p.type == NotifyType.USE_TRANSPORT_MODE for p in inner):
            return refuse(NotifyType.NO_PROPOSAL_CHOSEN)  # the mode cannot change on a rekey
        picked = select_esp(sas[0].proposals, self.child_suites, groups=self.groups)
        if picked is None:
            return refuse(NotifyType.NO_PROPOSAL_CHOSEN)
        chosen, suite, group = picked
        ke_out: tuple[Payload, ...] = ()
        shared = b""
        if group is not None:
            if not kes or kes[0].group != group:
                return refuse(NotifyType.INVALID_KE_PAYLOAD, group.to_bytes(2, "big"))
            dh = cr.DiffieHellman(group, self.rng)
            shared = dh.shared(kes[0].data)
            ke_out = (KeyExchange(group, dh.public),)
        nr = self.rng.randbytes(NONCE_LEN)
        spi_in = new_esp_spi(self.ipsec, self.rng)
        enc_len, auth_len = key_lengths(suite)
        keymat = cr.child_keymat(self.keys.sk_d, ni, nr, enc_len, auth_len, shared)
        assert self.rcoa is not None
        new = install_child(self.ipsec, suite, keymat, mn_side=self.mn_side,
                            exchange_initiator=False, spi_in=spi_in,
                            spi_out=int.from_bytes(chosen.spi, "big"), rcoa=self.rcoa,
                            map_address=self.map_address, peer=self.peer)
        self.children.items.append(new)
        self._child_at = now
        if old is None:
            self.events.append(("child-created", new))
            self.counters["child-create-answered"] += 1
        else:
            remove_child(self.ipsec, old, inbound=False)  # the new outbound SA is used from now
            self.children.awaiting[old.inbound.spi] = now  # §2.8: the initiator deletes it
            self.rekeyed_children.append((old, new))
            self.events.append(("child-rekeyed", new))
            self.counters["child-rekey-answered"] += 1
            self._note_crossing("rekey-child", old, ni, nr, new)
        tsi, tsr = self._selectors(initiator=False)
        return (Notify(NotifyType.USE_TRANSPORT_MODE),
                SecurityAssociationPayload((Proposal(chosen.number, chosen.protocol,
                                                     spi_in.to_bytes(4, "big"),
                                                     chosen.transforms),)),
                Nonce(nr), *ke_out, tsi, tsr)

    def _answer_ike_rekey(self, now: float, sa: SecurityAssociationPayload, ni: bytes,
                          kes: list[KeyExchange], refuse: object) -> tuple[Payload, ...]:
        assert callable(refuse)
        picked = select_ike(sa.proposals, self.groups, spi_size=8)
        if picked is None:
            return refuse(NotifyType.NO_PROPOSAL_CHOSEN)  # type: ignore[no-any-return]
        chosen, suite = picked
        if not kes or kes[0].group != suite.group:
            return refuse(NotifyType.INVALID_KE_PAYLOAD,  # type: ignore[no-any-return]
                          suite.group.to_bytes(2, "big"))
        dh = cr.DiffieHellman(suite.group, self.rng)
        shared = dh.shared(kes[0].data)
        nr = self.rng.randbytes(NONCE_LEN)
        spi_i = int.from_bytes(chosen.spi, "big")
        spi_r = self._new_ike_spi()
        new = self._successor(spi_i, spi_r, ni, nr, shared, suite, original_initiator=False,
                              now=now)
        self.counters["ike-rekey-answered"] += 1
        self._note_crossing("rekey-ike", None, ni, nr, new)
        if self._pending is None or self._pending.kind != "rekey-ike":
            self._retire(new)
            self._redundant_since = now  # §2.8: the initiator deletes the old one
        return (SecurityAssociationPayload((Proposal(chosen.number, chosen.protocol,
                                                     spi_r.to_bytes(8, "big"),
                                                     chosen.transforms),)),
                Nonce(nr), KeyExchange(suite.group, dh.public))

    def _successor(self, spi_i: int, spi_r: int, ni: bytes, nr: bytes, shared: bytes,
                   suite: IkeSuite, *, original_initiator: bool, now: float) -> IkeSa:
        keys = cr.rekey_ike_keys(self.keys.sk_d, shared, ni, nr, spi_i, spi_r,
                                 enc_len=suite.enc_len)
        new = IkeSa(self.ipsec, rng=self.rng, spi_i=spi_i, spi_r=spi_r, keys=keys, suite=suite,
                    original_initiator=original_initiator, mn_side=self.mn_side, peer=self.peer,
                    rcoa=self.rcoa, map_address=self.map_address,
                    child_suites=self.child_suites, groups=self.groups,
                    peer_address=self.peer_address, policy=self.policy, now=now,
                    children=self.children, pfs_group=self.pfs_group)
        new._child_at = self._child_at
        self.spawned.append(new)
        self.events.append(("ike-rekeyed", new))
        return new

    def _retire(self, new: IkeSa) -> None:
        """``new`` replaces this IKE SA: it inherits the Child SAs (§2.8.2)."""
        self.children.owner = new
        self.state = "rekeyed"

    def _note_crossing(self, kind: str, old: ChildSA | None, ni: bytes, nr: bytes,
                       created: object) -> None:
        req = self._pending
        if req is not None and req.kind == kind and (kind == "rekey-ike" or req.child == old):
            req.peer_nonces = (ni, nr)  # §2.8.1/§2.8.2: simultaneous rekeying
            req.peer_created = created
            self.counters["simultaneous-rekey"] += 1

    # -- responses to our requests ------------------------------------------------------------

    def _on_response(self, now: float, msg: Message, data: bytes) -> list[bytes]:
        req = self._pending
        if req is None or msg.message_id != req.mid or msg.from_initiator == self.original_initiator:
            self.counters["unexpected"] += 1
            return []
        enc, integ = self._in_keys()
        inner = cr.open_sk(data, msg, enc, integ)
        self._pending = None
        self._last_heard = now
        out: list[bytes] = []
        errors = [p for p in inner if isinstance(p, Notify) and p.is_error]
        if req.kind == "dpd":
            self.events.append(("dpd-ok", None))
        elif req.kind == "delete-child":
            assert req.child is not None
            remove_child(self.ipsec, req.child)
            self.children.remove(req.child)
            self.events.append(("child-deleted", req.child))
        elif req.kind == "delete-ike":
            self._delete_all()
            return []
        elif errors:
            out += self._rekey_refused(now, req, errors[0])
        elif req.kind in ("rekey-child", "create-child"):
            out += self._rekey_child_done(now, req, inner)
        else:
            out += self._rekey_ike_done(now, req, inner)
        return out + self._drain(now)

    def _rekey_refused(self, now: float, req: _Request, n: Notify) -> list[bytes]:
        if n.type == NotifyType.INVALID_KE_PAYLOAD and len(n.data) == 2 and req.tries < 99:
            group = int.from_bytes(n.data, "big")
            if group in self.groups and group != req.group:
                # §1.3: retry with the group the responder asked for.
                retry = _Request(req.kind, child=req.child, group=group, tries=99)
                return self._send(now, retry)
        self.counters[f"rekey-refused-{n.type}"] += 1
        self.events.append(("failed", f"{req.kind}: notify {n.type}"))
        if req.kind == "create-child" and not self.children.items:
            # No Child SA and the peer will not give us one: close the IKE SA too, so the
            # mobile node runs IKEv2 again (it does when it has no SA with its MAP left).
            return self.delete(now)
        return []

    def _rekey_child_done(self, now: float, req: _Request, inner: tuple[Payload, ...]) -> list[bytes]:
        """The answer to our Child SA rekey (``req.child`` the old SA) or creation."""
        sas = [p for p in inner if isinstance(p, SecurityAssociationPayload)]
        nrs = [p for p in inner if isinstance(p, Nonce)]
        kes = [p for p in inner if isinstance(p, KeyExchange)]
        transport = any(isinstance(p, Notify) and p.type == NotifyType.USE_TRANSPORT_MODE
                        for p in inner)
        if len(sas) != 1 or len(sas[0].proposals) != 1 or len(nrs) != 1:
            raise DecodeError("CREATE_CHILD_SA response lacks SA or Nr", field="ike.sa", offset=28)
        prop = sas[0].proposals[0]
        suite = suite_of(prop)
        if suite not in self.child_suites or len(prop.spi) != 4 or suite is None:
            raise DecodeError("CREATE_CHILD_SA response chose no offered suite", field="ike.sa",
                              offset=28)
        shared = b""
        if req.dh is not None:
            if not kes or kes[0].group != req.dh.group:
                raise DecodeError("CREATE_CHILD_SA response lacks KEr", field="ike.ke", offset=28)
            shared = req.dh.shared(kes[0].data)
        nr = nrs[0].data
        enc_len, auth_len = key_lengths(suite)
        keymat = cr.child_keymat(self.keys.sk_d, req.nonce, nr, enc_len, auth_len, shared)
        assert self.rcoa is not None
        new = install_child(self.ipsec, suite, keymat, mn_side=self.mn_side,
                            exchange_initiator=True, spi_in=req.spi,
                            spi_out=int.from_bytes(prop.spi, "big"), rcoa=self.rcoa,
                            map_address=self.map_address, peer=self.peer)
        self.children.items.append(new)
        if not transport:
            # §1.3.1: the responder did not accept transport mode: delete the new SA.
            self.events.append(("failed", f"{req.kind}: tunnel mode"))
            return self.delete_child(now, new)
        if req.child is None:
            self.created_children.append(new)
            self.events.append(("child-created", new))
            self.counters["child-created"] += 1
            self._child_at = now
            return []
        remove_child(self.ipsec, req.child, inbound=False)
        self.rekeyed_children.append((req.child, new))
        self.events.append(("child-rekeyed", new))
        self._child_at = now
        if req.peer_nonces is not None and isinstance(req.peer_created, ChildSA):
            # §2.8.1: the SA from the exchange holding the lowest nonce is closed by its creator.
            if min(req.nonce, nr) < min(req.peer_nonces):
                return self.delete_child(now, new)  # the old one: the peer deletes it
            self.children.awaiting[req.peer_created.inbound.spi] = now  # the peer's loser
            return self.delete_child(now, req.child)
        return self.delete_child(now, req.child)

    def _rekey_ike_done(self, now: float, req: _Request, inner: tuple[Payload, ...]) -> list[bytes]:
        sas = [p for p in inner if isinstance(p, SecurityAssociationPayload)]
        nrs = [p for p in inner if isinstance(p, Nonce)]
        kes = [p for p in inner if isinstance(p, KeyExchange)]
        if len(sas) != 1 or len(nrs) != 1 or len(kes) != 1 or req.dh is None:
            raise DecodeError("IKE rekey response lacks SA, Nr or KEr", field="ike.sa", offset=28)
        picked = select_ike(sas[0].proposals, (req.dh.group,), spi_size=8)
        if picked is None or kes[0].group != req.dh.group or len(sas[0].proposals) != 1:
            raise DecodeError("IKE rekey response chose nothing offered", field="ike.sa", offset=28)
        chosen, suite = picked
        nr = nrs[0].data
        new = self._successor(req.spi, int.from_bytes(chosen.spi, "big"), req.nonce, nr,
                              req.dh.shared(kes[0].data), suite, original_initiator=True, now=now)
        if req.peer_nonces is not None and isinstance(req.peer_created, IkeSa):
            # §2.8.2: three IKE SAs; the new one holding the lowest nonce is deleted by its
            # creator, the other inherits the Child SAs.
            if min(req.nonce, nr) < min(req.peer_nonces):
                self._retire(req.peer_created)
                self._redundant_since = now  # the old one: the peer deletes it
                return new.delete(now)
            self._retire(new)
            req.peer_created._await_peer_delete(now)  # the peer's loser: the peer deletes it
            return self.delete(now)
        self._retire(new)
        # The old IKE SA is deleted by the rekey's initiator, on the old SA (§1.3.2).
        return self._send(now, _Request("delete-ike"))
