"""IPsec for mobility signalling, in user space: ESP and AH in transport mode with SA, SP and
peer authorisation databases (RFC 4301, RFC 4302, RFC 4303; RFC 4140 §12; RFC 6275 §5.1).

Theory of operation
-------------------
:class:`IPsec` implements the engines' :class:`~hmipv6.core.security.Security` protocol.
The kernel of this project's machines has no ESP/AH in XFRM, so the processing is ours; only
the primitives (AES, HMAC-SHA-256) come from ``cryptography``.

Outbound, :meth:`IPsec.protect` (RFC 4301 §5.1):

1. looks the packet up in the SPD by (effective source, effective destination, upper-layer
   protocol, message type), effective meaning the Home Address option's and Type 2 routing
   header's addresses (RFC 6275 §9.3.2), so a local BU, sent from the LCoA with the RCoA in
   its HAO, is selected by its RCoA (RFC 4140 §12.1: the SA is set for the RCoA);
2. BYPASS returns the packet untouched; DISCARD raises :class:`SecurityDrop`
   (``policy-discard``); PROTECT picks the outbound SA whose selectors cover the traffic,
   narrowed by the ``peer`` hint, else by the PAD's record of who holds the destination
   address; none raises ``SecurityDrop("no-sa")``;
3. ESP: the payload is encoded (its checksum over the effective addresses), sealed
   (:mod:`.esp`) and becomes the packet's payload; the HAO and RH2 stay in front
   (RFC 6275 §6.3, §6.4). AH: inserted at the same place (:mod:`.ah`).

Inbound, :meth:`IPsec.unprotect` (RFC 4301 §5.2):

1. an AH header or an ESP payload is processed with the SA found by (protocol, SPI)
   (``unknown-spi``), replay pre-check (``replay``), ICV (``bad-icv``), window update,
   decryption and trailer (``bad-padding``), then the decrypted payload is decoded
   (``malformed`` if it does not decode or its checksum fails);
2. the result is checked against the SA's selectors (``selector-mismatch``), against the PAD
   entry of the SA's peer — may this peer speak for this effective source address?
   (``unauthorised-address``) — and against the SPD (``policy-discard``,
   ``wrong-protection`` when policy demands AH and ESP came, or the reverse);
3. an unprotected packet that a PROTECT entry matches is dropped (``unprotected``).

Every outcome counts in :attr:`IPsec.counters` (drops under their reason, accepted traffic
under ``esp-in``/``ah-in``/``bypass-in`` and ``esp-out``/``ah-out``/``bypass-out``), and the
drops reach the engine as :class:`SecurityDrop` whose ``reason`` it reports in
``PacketDropped``.

Identity and RCoA ownership (RFC 4140 §12.1, SEC-03/SEC-04/MN-23): :attr:`Inbound.peer` is the
identity bound to the SA the packet arrived on. Which peer installed which RCoA is recorded
in the PAD (:mod:`.pad`), driven by the MAP engine: ``ipsec.pad.may_use(peer, rcoa)`` before
accepting a BU, ``claim`` when the binding is created, ``release`` when it is deleted.

Octet-level ESP for fast paths (the MAP's protected local BU): :meth:`IPsec.open_esp_mh`
runs the inbound steps above on the octets of a packet carrying a Mobility Header (the same
checks: :mod:`.esp`'s replay pre-check, ICV and trailer, :meth:`IPsec._check_inbound`)
without changing anything and answers ``None`` wherever :meth:`IPsec.unprotect` would not
accept, so the caller falls back to the general path, which drops and counts.
:meth:`IPsec.answer_esp` then does the rest in one step: the SA :meth:`IPsec.protect` would
pick for the answer (the same SPD lookup and SA choice), the PAD's authorisation and holder
record, the replay window's commit (RFC 4303 §3.4.3: only after the ICV verified, and only
once the caller accepts the packet), and the sealed answer. :meth:`IPsec.open_esp_octets` is
the same inbound processing for any payload. The policy decisions of this path (inbound
SPD/selector/PAD checks, outbound SA choice) are remembered per inbound SA, with the SA's
constants, in a :class:`~.lane.Lane` (so that one mobile node's BU touches few objects), and
the inbound ones also per (SA, addresses, protocol, type); all are forgotten whenever the
SPD, the SAD or a PAD entry changes. An outbound choice that depended on who holds the
destination is never remembered.

Determinism: no entropy is used; IVs are derived (see :mod:`.algorithms`), so the same
scenario seed gives the same ESP octets.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from hmac import compare_digest
from ipaddress import IPv6Address, IPv6Network

from hmipv6.core.binding_cache import BindingStore
from hmipv6.core.counts import Counts
from hmipv6.core.ipsec import ah as _ah
from hmipv6.core.ipsec import esp as _esp
from hmipv6.core.ipsec.lane import Lane
from hmipv6.core.ipsec.pad import PeerAuthorizationDatabase, PeerEntry
from hmipv6.core.ipsec.sad import (
    MAX_SEQUENCE,
    Direction,
    IPsecProtocol,
    SADatabase,
    SAParams,
    SecurityAssociation,
    Versioned,
)
from hmipv6.core.ipsec.spd import Action, Policy, SecurityPolicyDatabase
from hmipv6.core.security import Inbound, SecurityDrop
from hmipv6.errors import DecodeError
from hmipv6.wire.addr import from_packed
from hmipv6.wire.ipv6 import (
    AuthenticationHeader,
    EncapsulatingSecurityPayload,
    IPv6Packet,
    Payload,
    RawPayload,
    decode,
    decode_payload,
)

__all__ = [
    "Action",
    "IPsec",
    "PeerAuthorizationDatabase",
    "PeerEntry",
    "Policy",
    "SADatabase",
    "SAParams",
    "SecurityAssociation",
    "SecurityPolicyDatabase",
]

_EXTENSION_HEADERS = frozenset((0, 43, 44, 51, 60))
_DATABASES = frozenset(("sad", "spd", "pad"))
_EITHER: tuple[IPsecProtocol, ...] = ("esp", "ah")
_MEMO_LIMIT = 1 << 16
_TYPE_OFFSET = {135: 2, 58: 0}
"""Where the message type sits in an upper-layer payload: MH Type (RFC 6275 §6.1.1),
ICMPv6 Type (RFC 4443 §2.1)."""


def _type_in(protocol: int, data: bytes) -> int | None:
    off = _TYPE_OFFSET.get(protocol)
    if off is None or len(data) <= off:
        return None
    return data[off]


_STATE = struct.Struct("!QQ")
"""An SA's sequence state in a :meth:`IPsec.attach_state` store: the next outbound sequence
number and the replay window's right edge, then the window's bitmap."""


def _state_key(sa: SecurityAssociation) -> bytes:
    """16 octets (the store interface's key size): "sa", protocol, direction, SPI, and 8
    octets of a digest of the SA's keys, so that state is only ever restored into the same
    SA: an SA negotiated afresh (IKEv2) that happens to reuse an SPI starts from zero."""
    p = sa.params
    keys = hashlib.blake2s(p.enc_key + b"|" + p.auth_key, digest_size=8).digest()
    return (b"sa" + (b"e" if p.protocol == "esp" else b"a")
            + (b"i" if sa.direction == "in" else b"o") + p.spi.to_bytes(4, "big") + keys)


class IPsec:
    """A node's IPsec: SAD, SPD, PAD, and the ESP/AH processing between them."""

    def __init__(self, *, sad: SADatabase | None = None, spd: SecurityPolicyDatabase | None = None,
                 pad: PeerAuthorizationDatabase | None = None, name: str = "") -> None:
        self._stale = True
        """Set by any change of the SAD, the SPD or a PAD entry (they call
        :meth:`_invalidate`): the memoised decisions and lanes are dropped before next use."""
        self._in_clear: dict[int, bool] = {}
        """:meth:`admits_in_clear`'s answers by protocol (ICMPv6: every Neighbor Discovery
        message a mobile node hears; UDP: its data); forgotten with every change
        (:meth:`_invalidate`)."""
        self.sad = sad if sad is not None else SADatabase()
        self.spd = spd if spd is not None else SecurityPolicyDatabase()
        self.pad = pad if pad is not None else PeerAuthorizationDatabase()
        self.name = name
        """This node's own identity (what its peers see as ``Inbound.peer``)."""
        self.counters = Counts()
        """Outcomes: drop reasons, ``esp-in``/``ah-in``/``bypass-in``, ``esp-out``/...."""
        self._memo_can: dict[tuple[int, int, int, int | None], bool] = {}
        """:meth:`can_protect` answers, forgotten with the other memoised decisions."""
        self._memo_in: dict[tuple[SecurityAssociation, bytes, bytes, int, int | None],
                            bool] = {}
        self._lanes: dict[bytes, Lane] = {}
        """Inbound ESP SAs by SPI octets, as lanes (:mod:`.lane`) for :meth:`open_esp_mh`."""
        self._epoch = 0
        """Bumped whenever the memoised decisions and the lanes are dropped."""
        self.state_store: BindingStore | None = None
        """Where SA sequence state is kept across a process restart (:meth:`attach_state`)."""

    # -- configuration -------------------------------------------------------------------------

    sad: SADatabase
    spd: SecurityPolicyDatabase
    pad: PeerAuthorizationDatabase

    def __setattr__(self, name: str, value: object) -> None:
        # Plain attributes (read on every packet), but installing a database makes this
        # IPsec watch its changes and forget what it memoised from the previous one.
        object.__setattr__(self, name, value)
        if name in _DATABASES:
            assert isinstance(value, Versioned)
            value.watch(self._invalidate)
            object.__setattr__(self, "_stale", True)
            object.__setattr__(self, "_in_clear", {})

    def _invalidate(self) -> None:
        self._stale = True
        self._in_clear = {}

    def add_sa(self, params: SAParams, direction: Direction,
               keyed_like: SecurityAssociation | None = None) -> SecurityAssociation:
        """Install an SA (``keyed_like``: :attr:`SecurityAssociation.keyed_like`)."""
        sa = self.sad.add(params, direction, keyed_like)
        if self.state_store is not None:
            self._restore(sa)
        return sa

    # -- SA sequence state that outlives the process (RFC 4303 §3.3.3, §3.4.3) -----------------

    def attach_state(self, store: BindingStore) -> int:
        """Keep every SA's sequence state in ``store`` (a durable one: the testbed daemon's
        SQLite file) from now on, and first restore what it holds for the SAs installed
        (returns how many). RFC 4303 §3.3.3: the sender's counter must not restart while
        the SA lives (a restarted MAP sending from 1 again has its BAs dropped by the mobile
        node as replays); §3.4.3: nor may the receiver's window (a BU captured before the
        restart would pass again). Each change is written before the packet it concerns
        is accepted or handed out (signalling SAs carry a few packets per binding, so one
        write per packet costs what the binding's own write costs)."""
        self.state_store = store
        restored = sum(self._restore(sa) for sa in self.sad)
        self._stale = True  # lanes see the same window objects; drop memos anyway
        return restored

    def _restore(self, sa: SecurityAssociation) -> bool:
        store = self.state_store
        record = store.get(_state_key(sa)) if store is not None else None
        if record is None:
            return False
        next_sequence, right = _STATE.unpack_from(record)
        sa.next_sequence = max(sa.next_sequence, next_sequence)
        w = sa.replay
        if right >= w.right:
            w.right = right
            w.bitmap = int.from_bytes(record[_STATE.size:], "big") & w._mask
        return True

    def _keep(self, sa: SecurityAssociation) -> None:
        store = self.state_store
        if store is not None:
            w = sa.replay
            store.put(_state_key(sa), _STATE.pack(sa.next_sequence, w.right)
                      + w.bitmap.to_bytes((w.size + 7) // 8, "big"))

    def add_policy(self, policy: Policy) -> Policy:
        return self.spd.add(policy)

    def authorise(self, identity: str,
                  addresses: Iterable[IPv6Address | IPv6Network | str] | None = None) -> PeerEntry:
        return self.pad.authorise(identity, addresses)

    def _drop(self, exc: SecurityDrop) -> SecurityDrop:
        self.counters[exc.reason] += 1
        return exc

    # -- outbound (RFC 4301 §5.1) --------------------------------------------------------------

    def protect(self, now: float, packet: IPv6Packet, peer: str | None = None) -> IPv6Packet:
        payload = packet.payload
        if payload is None or isinstance(payload, EncapsulatingSecurityPayload) or packet.header(
                AuthenticationHeader) is not None:
            return packet  # nothing to protect, or already protected
        src = packet.effective_src
        dst = packet.effective_dst
        protocol = payload.next_header
        encoded: list[bytes] = []

        def type_of() -> int | None:
            if protocol not in _TYPE_OFFSET:
                return None
            if not encoded:
                encoded.append(payload.encode_payload(src.packed, dst.packed))
            return _type_in(protocol, encoded[0])

        try:
            sa, _ = self._outbound(src, dst, protocol, type_of, peer)
        except SecurityDrop as exc:
            raise self._drop(exc) from None
        if sa is None:
            self.counters["bypass-out"] += 1
            return packet
        if sa.params.protocol == "ah":
            self.counters["ah-out"] += 1
            sealed = _ah.seal(sa, packet)
            if self.state_store is not None:
                self._keep(sa)
            return sealed
        headers = packet.extension_headers
        at = _ah.split_index(headers)
        if at == len(headers):
            data = encoded[0] if encoded else payload.encode_payload(src.packed, dst.packed)
            nh = protocol
        else:
            # Headers that belong to the final destination travel inside ESP.
            whole = packet.encode()
            front = IPv6Packet(packet.src, packet.dst, None, headers[:at]).encode()
            data = whole[len(front):]
            nh = headers[at].header_type
        self.counters["esp-out"] += 1
        esp = _esp.seal(sa, nh, data)
        if self.state_store is not None:
            self._keep(sa)
        return IPv6Packet(packet.src, packet.dst, esp, headers[:at],
                          packet.hop_limit, packet.traffic_class, packet.flow_label)

    def can_protect(self, src: IPv6Address, dst: IPv6Address, protocol: int,
                    message_type: int | None = None) -> bool:
        """Would :meth:`protect` send traffic with these effective addresses, upper-layer
        protocol and message type (BYPASS, or PROTECT with an SA for it) rather than refuse
        it? Changes nothing and counts nothing (the mobile node asks before choosing a MAP,
        RFC 4140 §12.1). Answers are remembered until the SPD, SAD or PAD changes."""
        if self._stale:
            self._memo_fresh()
        key = (int(src), int(dst), protocol, message_type)
        ok = self._memo_can.get(key)
        if ok is None:
            try:
                self._outbound(src, dst, protocol, lambda: message_type, None)
                ok = True
            except SecurityDrop:
                ok = False
            if len(self._memo_can) >= _MEMO_LIMIT:
                self._memo_can.clear()
            self._memo_can[key] = ok
        return ok

    def _outbound(self, src: IPv6Address, dst: IPv6Address, protocol: int,
                  type_of: Callable[[], int | None], peer: str | None
                  ) -> tuple[SecurityAssociation | None, bool]:
        """The SA outbound traffic is protected with (``None`` for BYPASS), and whether the
        choice depended on who holds ``dst`` in the PAD. Raises :class:`SecurityDrop` (not
        yet counted) for DISCARD or a missing SA."""
        policy = self.spd.lookup(src, dst, protocol, type_of)
        action = policy.action if policy is not None else self.spd.default
        if action is Action.BYPASS:
            return None, False
        if action is Action.DISCARD:
            raise SecurityDrop("policy-discard", f"outbound {src} -> {dst}")
        assert policy is not None
        return self._outbound_sa(policy, src, dst, peer)

    def _outbound_sa(self, policy: Policy, src: IPv6Address, dst: IPv6Address,
                     peer: str | None) -> tuple[SecurityAssociation, bool]:
        protocols: tuple[IPsecProtocol, ...] = (policy.ipsec,) if policy.ipsec else _EITHER
        for proto in protocols:
            sas = self.sad.outbound(src, dst, proto, peer)
            narrowed_by_holder = len(sas) > 1
            if narrowed_by_holder:
                holder = self.pad.owner(dst)
                narrowed = [sa for sa in sas if sa.peer == holder] if holder is not None else []
                if len(narrowed) != 1:
                    # RFC 4301 §5.1: no SA can be chosen for this traffic, so it is discarded
                    # (never sealed with whichever peer's SA comes first).
                    raise SecurityDrop(
                        "ambiguous-sa",
                        f"{len(sas)} outbound SAs cover {src} -> {dst} and none is its holder's")
                sas = narrowed
            if sas:
                return sas[0], narrowed_by_holder
        raise SecurityDrop(
            "no-sa", f"policy {policy.name or 'PROTECT'} needs an SA for {src} -> {dst}"
            + (f" with peer {peer}" if peer else ""))

    def inbound_requirement(self, local: IPv6Address, remote: IPv6Address, protocol: int,
                            message_type: int | None) -> str | None:
        """What inbound policy says of *unprotected* traffic from ``remote`` to ``local``
        (effective addresses) of ``protocol`` and ``message_type``: ``None`` when it may
        pass in clear, else the drop reason (``unprotected`` when the SPD requires
        protection, ``policy-discard`` when it discards). The engines ask it for every
        address of theirs (``Node._mobility_policy_ok``), so a message sent to a link-local
        address meets the policy of the global one."""
        policy = self.spd.lookup(local, remote, protocol, lambda: message_type)
        action = policy.action if policy is not None else self.spd.default
        if action is Action.BYPASS:
            return None
        reason = "unprotected" if action is Action.PROTECT else "policy-discard"
        self.counters[reason] += 1
        return reason

    # -- inbound (RFC 4301 §5.2) ---------------------------------------------------------------

    def admits_in_clear(self, next_header: int) -> bool:
        """The first step of :meth:`unprotect` for a packet with neither ESP nor AH whose
        payload is of protocol ``next_header``: True, counted as ``bypass-in`` exactly as
        :meth:`unprotect` counts it, when it passes at once (RFC 4301 §5.2 step 3: no SPD
        entry can apply to its protocol and the default is BYPASS, whatever its addresses:
        a mobile node's ICMPv6); False (nothing counted) when :meth:`unprotect` has to look
        further. Engines with a shortcut for such packets ask this instead of building an
        :class:`Inbound`. The answer per protocol is remembered until the SPD, SAD or PAD
        changes."""
        ok = self._in_clear.get(next_header)
        if ok is None:
            ok = self._in_clear[next_header] = self.spd.bypasses(next_header)
        if ok:
            self.counters["bypass-in"] += 1
        return ok

    def unprotect(self, now: float, packet: IPv6Packet) -> Inbound:
        payload = packet.payload
        if (not isinstance(payload, EncapsulatingSecurityPayload)
                and packet.header(AuthenticationHeader) is None
                and self.admits_in_clear(payload.next_header if payload is not None else 59)):
            return Inbound(packet=packet, peer=None)
        try:
            return self._unprotect(packet)
        except SecurityDrop as exc:
            raise self._drop(exc) from None

    def _unprotect(self, packet: IPv6Packet) -> Inbound:
        sa: SecurityAssociation | None = None
        clear: bytes | None = None
        ah = packet.header(AuthenticationHeader)
        if ah is not None:
            assert isinstance(ah, AuthenticationHeader)
            sa = self.sad.inbound("ah", ah.spi)
            if sa is None:
                raise SecurityDrop("unknown-spi", f"AH SPI 0x{ah.spi:08x}")
            packet = _ah.open_(sa, packet, ah)
            if self.state_store is not None:
                self._keep(sa)
        payload = packet.payload
        if isinstance(payload, EncapsulatingSecurityPayload):
            esp_sa = self.sad.inbound("esp", payload.spi)
            if esp_sa is None:
                raise SecurityDrop("unknown-spi", f"ESP SPI 0x{payload.spi:08x}")
            if sa is not None and sa.peer != esp_sa.peer:
                raise SecurityDrop("selector-mismatch", "AH and ESP SAs of different peers")
            sa = esp_sa
            nh, clear = _esp.open_(sa, payload)
            if self.state_store is not None:
                self._keep(sa)
            src = packet.effective_src
            dst = packet.effective_dst
            packet = self._decapsulated(packet, nh, clear, src, dst)
            payload = packet.payload
            if nh != (payload.next_header if payload is not None else 59):
                clear = None  # extension headers were inside: the octets are not the payload's
        else:
            src = packet.effective_src
            dst = packet.effective_dst
        protocol = payload.next_header if payload is not None else 59

        def type_of() -> int | None:
            if protocol not in _TYPE_OFFSET or payload is None:
                return None
            if clear is not None:
                return _type_in(protocol, clear)
            known = getattr(payload, "mh_type", None) if protocol == 135 else None
            if isinstance(known, int):
                return known
            return _type_in(protocol, payload.encode_payload(src.packed, dst.packed))

        self._check_inbound(sa, src, dst, protocol, type_of)
        if sa is None:
            self.counters["bypass-in"] += 1
            return Inbound(packet=packet, peer=None)
        self.counters[f"{sa.params.protocol}-in"] += 1
        return Inbound(packet=packet, peer=sa.params.peer)

    def _check_inbound(self, sa: SecurityAssociation | None, src: IPv6Address,
                       dst: IPv6Address, protocol: int, type_of: Callable[[], int | None]
                       ) -> None:
        """RFC 4301 §5.2 steps 3-4 for a packet with effective addresses ``src`` -> ``dst``
        that arrived on ``sa`` (``None``: unprotected): SPD, the SA's selectors, the PAD.
        Raises :class:`SecurityDrop` (not yet counted)."""
        policy = self.spd.lookup(dst, src, protocol, type_of)
        action = policy.action if policy is not None else self.spd.default
        if action is Action.DISCARD:
            raise SecurityDrop("policy-discard", f"inbound {src} -> {dst}")
        if sa is None:
            if action is Action.PROTECT:
                # A matching PROTECT entry, or the SPD's default (no entry matched).
                name = (policy.name if policy is not None else None) or (
                    "PROTECT" if policy is not None else "default PROTECT")
                raise SecurityDrop("unprotected",
                                   f"policy {name} requires protection for {src} -> {dst}")
            return
        params = sa.params
        if not params.matches(src, dst):
            raise SecurityDrop("selector-mismatch",
                               f"{src} -> {dst} is not covered by SA 0x{params.spi:08x}")
        peer = params.peer
        # The PAD's range check, memoised (the answer's authorisation asks it again).
        if peer is not None and self.pad.entry(peer) is not None and not self.pad.authorised(
                peer, src):
            raise SecurityDrop("unauthorised-address", f"peer {peer} may not use {src}")
        if (action is Action.PROTECT and policy is not None and policy.ipsec is not None
                and policy.ipsec != params.protocol):
            raise SecurityDrop("wrong-protection",
                               f"policy {policy.name or 'PROTECT'} requires {policy.ipsec}")

    # -- octet-level ESP for fast paths ----------------------------------------------------------

    def open_esp_octets(self, esp: bytes, src: bytes, dst: bytes
                        ) -> tuple[SecurityAssociation, int, int, bytes] | None:
        """Inbound processing of the ESP octets ``esp`` (from the SPI on) of a packet whose
        effective addresses are ``src`` -> ``dst`` (16 octets each) and that carries no AH:
        the same steps and checks as :meth:`unprotect` (SA by SPI, replay pre-check, ICV,
        trailer, SPD, selectors, PAD) but changing nothing. Returns (SA, sequence number,
        next header, payload octets), or ``None`` wherever :meth:`unprotect` would not
        accept the packet (the caller then takes the general path, which drops and counts).
        The payload is not decoded: the caller must only accept octets that decode (a
        checksum it verified). Commit with :func:`.esp.accept`."""
        sa = self.sad.esp_inbound.get(int.from_bytes(esp[:4], "big"))
        if sa is None or len(esp) < 8:
            return None
        try:
            seq, nh, payload = _esp.open_octets(sa, esp, False)  # changes nothing
        except SecurityDrop:
            return None
        if nh in _EXTENSION_HEADERS:
            return None
        mtype = payload[2] if nh == 135 and len(payload) > 2 else _type_in(nh, payload)
        if self._stale:
            self._memo_fresh()
        ok = self._inbound_ok(sa, src, dst, nh, mtype)
        return (sa, seq, nh, payload) if ok else None

    def _esp_out(self, src: bytes, dst: bytes, message_type: int, peer: str
                 ) -> tuple[SecurityAssociation | None, bool]:
        """The ESP SA :meth:`protect` would seal a Mobility Header of ``message_type`` from
        ``src`` to ``dst`` (effective addresses, 16 octets each) with — same policy lookup
        and SA choice — or ``None`` when it would do anything else (bypass, AH, a refusal, an
        ambiguity); and whether the choice depended on who holds ``dst`` in the PAD."""
        try:
            sa, by_holder = self._outbound(from_packed(src), from_packed(dst), 135,
                                           lambda: message_type, peer)
        except SecurityDrop:
            return None, False
        if sa is not None and sa.params.protocol != "esp":
            return None, by_holder
        return sa, by_holder

    def _memo_fresh(self) -> bool:
        """Empty the memoised policy decisions of the octet-level path (and the lanes) if what
        they were computed from changed since: the SPD (its entries and its default), the
        SAD, the PAD's peer entries, each of which reports its changes (:meth:`_invalidate`).
        Returns whether they were kept. Hot paths test :attr:`_stale` first."""
        if not self._stale:
            return True
        self._memo_in.clear()
        self._memo_can.clear()
        self._lanes.clear()
        self._epoch += 1
        self._stale = False
        return False

    def open_esp_mh(self, esp: bytes, src: bytes, dst: bytes) -> tuple[Lane, int, bytes] | None:
        """:meth:`open_esp_octets` for a packet that must carry a Mobility Header (RFC 4140
        §12.1 and RFC 6275 §5.1 protect it): (the SA's :class:`~.lane.Lane`, sequence number,
        MH octets), or ``None`` wherever :meth:`unprotect` would not accept the packet or it
        carries anything else (the caller then takes the general path). Changes nothing;
        :meth:`answer_esp` commits. With NULL encryption the octets are verified in place
        with the lane's HMAC (RFC 4303 §3.4.3 replay pre-check, §3.4.4 ICV, §2.4 trailer, the
        same steps as :func:`.esp.open_octets`); other suites go through
        :meth:`open_esp_octets`."""
        if len(esp) < 8:
            return None
        if self._stale:
            self._memo_fresh()
        lanes = self._lanes
        lane = lanes.get(esp[:4])
        if lane is None:
            sa = self.sad.esp_inbound.get(int.from_bytes(esp[:4], "big"))
            if sa is None:
                return None
            if len(lanes) >= _MEMO_LIMIT:
                lanes.clear()
            lane = lanes[esp[:4]] = Lane(sa, self._epoch)
        mac = lane.mac
        if mac is None:
            opened = self.open_esp_octets(esp, src, dst)
            if opened is None or opened[2] != 135:
                return None
            return lane, opened[1], opened[3]
        n = len(esp)
        if n < lane.min_len:
            return None
        seq = int.from_bytes(esp[4:8], "big")
        w = lane.window
        right = w.right
        if seq <= right and (seq == 0 or right - seq >= w.size or w.bitmap >> (right - seq) & 1):
            return None
        end = n - lane.icv_len
        h = mac.copy()
        h.update(esp[:end])
        if not compare_digest(h.finalize()[:lane.icv_len], esp[end:]):
            return None
        pad = esp[end - 2]
        stop = end - 2 - pad
        if esp[end - 1] != 135 or stop < 11 or (pad and esp[stop:end - 2] != _esp.PADDING[:pad]):
            return None
        mh = esp[8:stop]
        if src != lane.address or dst != lane.local:
            lane.set_address(src, dst)
        if mh[2] != lane.inbound_type:
            lane.inbound_type, lane.inbound = mh[2], self._inbound_ok(lane.sa, src, dst, 135,
                                                                      mh[2])
        return (lane, seq, mh) if lane.inbound else None

    def _inbound_ok(self, sa: SecurityAssociation, src: bytes, dst: bytes, nh: int,
                    mtype: int | None) -> bool:
        """:meth:`_check_inbound` as a yes/no, memoised (see :meth:`_memo_fresh`)."""
        memo = self._memo_in
        key = (sa, src, dst, nh, mtype)
        ok = memo.get(key)
        if ok is None:
            try:
                self._check_inbound(sa, from_packed(src), from_packed(dst), nh, lambda: mtype)
                ok = True
            except SecurityDrop:
                ok = False
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = ok
        return ok

    def answer_esp(self, lane: Lane, seq: int, payload: bytes, src: bytes, dst: bytes,
                   message_type: int, claim: bool) -> bytes | None:
        """Accept the packet :meth:`open_esp_mh` has just verified on ``lane`` (sequence
        number ``seq``) and seal its answer: ``payload``, the octets of a Mobility Header of
        type ``message_type`` whose effective addresses are ``src`` -> ``dst``. In one step it
        does what the general path does: the SPD picks the outbound SA
        (as :meth:`protect` would); the PAD must let the lane's identity use ``dst`` and, when
        ``claim``, records it as the holder (RFC 4140 §12.1, SEC-03/SEC-04); the replay window
        moves (RFC 4303 §3.4.3: only now that the packet is accepted); the answer is sealed
        (§3.3). Returns the ESP octets (SPI to ICV) to put after the answer's clear headers
        (a Type 2 routing header stays in front: RFC 6275 §6.4), or ``None`` having changed
        nothing where a step would refuse."""
        if self._stale:
            self._memo_fresh()
        peer = lane.peer
        if peer is None or lane.epoch != self._epoch:
            return None  # no identity, or the lane was dropped since the request
        if message_type != lane.answer_type or dst != lane.address or src != lane.local:
            out, by_holder = self._esp_out(src, dst, message_type, peer)
            if out is None:
                return None
            authorised = self.pad.authorised_packed(peer, dst)
            if by_holder or dst != lane.address or src != lane.local:
                # The choice depended on who holds ``dst`` (decided afresh every time), or
                # this answer is not to the lane's far end: nothing is remembered.
                if (out.next_sequence > MAX_SEQUENCE or not authorised
                        or not self.pad.hold_packed(peer, dst, claim)):
                    return None
                return self._commit_and_seal(lane, seq, out, payload)
            lane.set_answer(message_type, out, authorised)
        out = lane.answer
        if out is None or out.next_sequence > MAX_SEQUENCE or not lane.authorised:
            return None
        pad = self.pad
        if lane.held != pad.holders_version:  # else: no claim or release since it held dst
            if not pad.hold_packed(peer, dst, claim):
                return None
            lane.held = pad.holders_version
        mac = lane.answer_mac
        if mac is None:
            return self._commit_and_seal(lane, seq, out, payload)
        # RFC 4303 §3.4.3, as ReplayWindow.accept: the window slides to a newer number, or
        # the bit of an older one inside it is set.
        w = lane.window
        right = w.right
        if seq > right:
            shift = seq - right
            w.bitmap = ((w.bitmap << shift) | 1) & w._mask if shift < w.size else 1
            w.right = seq
        else:
            w.bitmap |= 1 << (right - seq)
        lane.sa.packets += 1
        counters = self.counters
        counters["esp-in"] += 1
        counters["esp-out"] += 1
        # RFC 4303 §3.3 with NULL encryption: SPI, Sequence Number, payload, trailer (§2.4),
        # then the ICV over all of them (§3.3.4).
        out_seq = out.next_sequence
        out.next_sequence = out_seq + 1
        out.packets += 1
        body = b"".join((lane.answer_spi, out_seq.to_bytes(4, "big"), payload,
                         lane.answer_trailers[len(payload) % lane.answer_block][135]))
        h = mac.copy()
        h.update(body)
        if self.state_store is not None:
            self._keep(lane.sa)
            self._keep(out)
        return body + h.finalize()[:lane.answer_icv]

    def _commit_and_seal(self, lane: Lane, seq: int, out: SecurityAssociation, payload: bytes
                         ) -> bytes:
        """The last steps of :meth:`answer_esp` through :mod:`.esp` (any suite)."""
        _esp.accept(lane.sa, seq)
        self.counters["esp-in"] += 1
        self.counters["esp-out"] += 1
        sealed = _esp.seal_raw(out, 135, payload)
        if self.state_store is not None:
            self._keep(lane.sa)
            self._keep(out)
        return sealed

    @staticmethod
    def _decapsulated(packet: IPv6Packet, nh: int, data: bytes, src: IPv6Address,
                      dst: IPv6Address) -> IPv6Packet:
        """``packet`` with its ESP payload replaced by what it carried."""
        try:
            if nh in _EXTENSION_HEADERS:
                # Extension headers travelled inside ESP: rebuild the clear packet and decode.
                clear = IPv6Packet(packet.src, packet.dst, RawPayload(nh, data),
                                   packet.extension_headers, packet.hop_limit,
                                   packet.traffic_class, packet.flow_label)
                return decode(clear.encode())
            inner: Payload | None = decode_payload(nh, data, src.packed, dst.packed)
        except DecodeError as exc:
            raise SecurityDrop("malformed", f"inside ESP: {exc}") from None
        return IPv6Packet(packet.src, packet.dst, inner, packet.extension_headers,
                          packet.hop_limit, packet.traffic_class, packet.flow_label)

    # -- inspection ----------------------------------------------------------------------------

    def esp_sa_table(self) -> str:
        """The installed ESP SAs in Wireshark's ``esp_sa`` format (see :mod:`.wireshark`)."""
        from hmipv6.core.ipsec.wireshark import esp_sa_table

        return esp_sa_table(sa.params for sa in self.sad)
