"""IKE_SA_INIT + IKE_AUTH between a mobile node (initiator) and its MAP (responder), creating
one IKE SA and one transport-mode ESP Child SA for the MN's RCoA (RFC 7296 §1.2; RFC 5380
§12.1, X5380-05; RFC 4140 §12.1, SEC-03/SEC-04/SEC-06).

Theory of operation
-------------------
Sans-IO, like the engines: :class:`IkeInitiator` and :class:`IkeResponder` take IKE messages
(the payload of a UDP datagram on port 500) with ``receive(now, data)`` and return the IKE
messages to send back; ``next_timer()`` / ``handle_timer(now)`` drive the initiator's
retransmissions (§2.1: only the initiator retransmits, with exponential back-off; the
responder answers a retransmitted request with its cached response). All randomness (IKE
SPIs, nonces, DH private keys, ESP SPIs, SK IVs) comes from the ``random.Random`` handed in:
deterministic in simulations; **real deployments must hand in ``random.SystemRandom()``**.

Algorithms (one suite, the RFC 8247 MUSTs this project has primitives for): IKE SA
ENCR_AES_CBC-128, PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128, DH group 19 (ECP-256) or 14
(MODP-2048); Child SA (ESP, transport mode, no ESN) from the suites of
:data:`hmipv6.core.ipsec.keys.SUITES` (``esp-null-hmac-sha256``, ``esp-aes-cbc-hmac-sha256``,
``esp-aes-gcm``). Authentication: shared key MIC (method 2) with a PSK per MN identity.

Identities and the RCoA. The IDi payload names the MN's credentials (ID_KEY_ID, ID_FQDN or
ID_RFC822_ADDR select the PSK; ID_IPV6_ADDR is also accepted, the PSK then being configured
under the address text, so the identity can literally be the RCoA). The RCoA the SA is set
for (SEC-03) is carried in TSi as a single address; with the RFC 5380 R flag / RFC 4877 §9
the MN leaves it to the MAP: it sends a CP(CFG_REQUEST) with an empty INTERNAL_IP6_ADDRESS
and TSi ``::``-``ffff:..``, the MAP allocates an RCoA from its prefix and returns it in
CP(CFG_REPLY) and the narrowed TSi. The Child SA is installed into the node's existing
:class:`~hmipv6.core.ipsec.IPsec`: an outbound and an inbound ESP SA whose selectors are the
RCoA and the MAP address, the SPD entry protecting BU/BA/BRR (as :class:`~hmipv6.core.ipsec.
keys.Provisioner` makes it), and the PAD entry; on the MAP the RCoA is *claimed* for the MN's
identity (``pad.claim``), so the later local BU's ``pad.may_use`` check passes for this MN
only.

SEC-04, the notify. RFC 4140 §12.1 speaks of IKEv1's INVALID-ID-INFORMATION, which RFC 7296
removed. Here the identity authenticates fine; what is refused is the Child SA for an RCoA
another identity holds, i.e. its traffic selectors. The MAP therefore answers IKE_AUTH with
IDr and AUTH (the IKE SA is authenticated, §1.2) and a **TS_UNACCEPTABLE** notify (38)
instead of SA/TSi/TSr (§2.21.2: "the Child SA creation failed"), and installs nothing. The
MN's outcome is :class:`RcoaRefused` (the engine's MN-23 then forms a new RCoA and runs the
exchange again). A wrong PSK gives AUTHENTICATION_FAILED (24) alone (§2.21.2) and no SA on
either side; an unknown identity is treated the same way (no oracle for which IDs exist).

Not implemented: CREATE_CHILD_SA (rekeying), INFORMATIONAL (Delete, liveness), cookies,
NAT traversal, certificates/EAP, IKE SA AES-GCM; a responder receiving them answers nothing
and counts ``unsupported``. The responder keeps one state per SPIi (a new IKE_SA_INIT with
the same SPIi replaces a finished one), with the cached last response for retransmitted
requests, and at most ``max_sas`` states (oldest evicted); it keeps no IKE SA for later
exchanges, since none are implemented.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Final

from hmipv6.core.ike import crypto as cr
from hmipv6.core.ike.message import (
    CFG_REPLY,
    CFG_REQUEST,
    INTERNAL_IP6_ADDRESS,
    Auth,
    AuthMethod,
    ConfigAttribute,
    Configuration,
    ExchangeType,
    Flags,
    Identification,
    IdType,
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
    Transform,
    TransformType,
    decode,
)
from hmipv6.core.ipsec.keys import MH_SIGNALLING_TYPES, SUITES
from hmipv6.core.ipsec.sad import SAParams
from hmipv6.core.ipsec.spd import MOBILITY_HEADER, Policy
from hmipv6.errors import DecodeError, LocalProtocolError

if TYPE_CHECKING:
    from hmipv6.core.ipsec import IPsec

__all__ = [
    "ChildSA",
    "Established",
    "Failed",
    "IkeInitiator",
    "IkeResponder",
    "Outcome",
    "RcoaRefused",
    "id_payload",
]

NONCE_LEN: Final = 32
IKE_ENC_KEY: Final = 16
RETRANSMIT_BASE: Final = 1.0
MAX_RETRANSMITS: Final = 5

_ESP_TRANSFORMS: Final[dict[str, tuple[Transform, ...]]] = {
    "esp-null-hmac-sha256": (Transform(TransformType.ENCR, cr.ENCR_NULL),
                             Transform(TransformType.INTEG, cr.AUTH_HMAC_SHA2_256_128),
                             Transform(TransformType.ESN, cr.ESN_NONE)),
    "esp-aes-cbc-hmac-sha256": (Transform(TransformType.ENCR, cr.ENCR_AES_CBC, 128),
                                Transform(TransformType.INTEG, cr.AUTH_HMAC_SHA2_256_128),
                                Transform(TransformType.ESN, cr.ESN_NONE)),
    "esp-aes-gcm": (Transform(TransformType.ENCR, cr.ENCR_AES_GCM_16, 128),
                    Transform(TransformType.ESN, cr.ESN_NONE)),
}


def _ike_transforms(group: int) -> tuple[Transform, ...]:
    return (Transform(TransformType.ENCR, cr.ENCR_AES_CBC, 128),
            Transform(TransformType.PRF, cr.PRF_HMAC_SHA2_256),
            Transform(TransformType.INTEG, cr.AUTH_HMAC_SHA2_256_128),
            Transform(TransformType.DH, group))


def id_payload(who: str | IPv6Address) -> Identification:
    """The ID payload body for ``who``: an address gives ID_IPV6_ADDR, a string with ``@``
    ID_RFC822_ADDR, with a dot ID_FQDN, otherwise ID_KEY_ID."""
    if isinstance(who, IPv6Address):
        return Identification(IdType.ID_IPV6_ADDR, who.packed)
    if "@" in who:
        return Identification(IdType.ID_RFC822_ADDR, who.encode())
    if "." in who:
        return Identification(IdType.ID_FQDN, who.encode())
    return Identification(IdType.ID_KEY_ID, who.encode())


# -- outcomes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildSA:
    """What was installed: SPIs, suite and keys, per direction from this node's view."""

    suite: str
    inbound: SAParams
    outbound: SAParams


@dataclass(frozen=True, slots=True)
class Established:
    """IKE SA and Child SA are up; ``peer`` is the far end's identity."""

    peer: str
    rcoa: IPv6Address
    child: ChildSA
    keys: cr.IkeKeys = field(repr=False)


@dataclass(frozen=True, slots=True)
class RcoaRefused:
    """SEC-04: the MAP authenticated this MN but refused a Child SA for ``rcoa`` (another
    identity holds it; notify TS_UNACCEPTABLE). The MN should pick a new RCoA (MN-23)."""

    peer: str
    rcoa: IPv6Address | None
    notify: int


@dataclass(frozen=True, slots=True)
class Failed:
    """No SA: ``reason`` is ``notify`` (``notify`` holds the type), ``timeout``,
    ``auth-mismatch`` (the responder's AUTH did not verify) or ``bad-response``."""

    reason: str
    notify: int | None = None
    peer: str | None = None


Outcome = Established | RcoaRefused | Failed


# -- shared pieces -----------------------------------------------------------------------------


def _chosen(proposal: Proposal, spi: bytes) -> SecurityAssociationPayload:
    return SecurityAssociationPayload((Proposal(proposal.number, proposal.protocol, spi,
                                                proposal.transforms),))


def _suite_of(p: Proposal) -> str | None:
    ts = {(t.type, t.id, t.key_length) for t in p.transforms}
    for name, want in _ESP_TRANSFORMS.items():
        if ts == {(t.type, t.id, t.key_length) for t in want}:
            return name
    return None


def _ike_group_of(p: Proposal, groups: Sequence[int]) -> int | None:
    """The DH group if ``p`` is exactly our IKE suite with one of ``groups``."""
    dhs = p.of_type(TransformType.DH)
    if p.protocol != ProtocolId.IKE or len(dhs) != 1 or dhs[0].id not in groups:
        return None
    want = {(t.type, t.id, t.key_length) for t in _ike_transforms(dhs[0].id)}
    return dhs[0].id if {(t.type, t.id, t.key_length) for t in p.transforms} == want else None


def _new_spi(ipsec: IPsec, rng: random.Random) -> int:
    while True:
        spi = rng.getrandbits(32)
        if spi >= 256 and ipsec.sad.inbound("esp", spi) is None:
            return spi


def _install(ipsec: IPsec, suite: str, keymat: tuple[bytes, bytes, bytes, bytes], *,
             initiator: bool, spi_in: int, spi_out: int, rcoa: IPv6Address,
             map_address: IPv6Address, peer: str) -> ChildSA:
    """Install the Child SA pair, policy and PAD entry (what Provisioner.mn_map does for
    manual keys) on the MN (``initiator``) or on the MAP."""
    proto, enc, _, auth, _ = SUITES[suite]
    ei, ai, er, ar = keymat
    mn_to_map = dict(src=rcoa, dst=map_address, enc=enc, auth=auth, enc_key=ei, auth_key=ai)
    map_to_mn = dict(src=map_address, dst=rcoa, enc=enc, auth=auth, enc_key=er, auth_key=ar)
    out_kw, in_kw = (mn_to_map, map_to_mn) if initiator else (map_to_mn, mn_to_map)
    outbound = SAParams.make(spi=spi_out, protocol=proto, peer=peer, **out_kw)  # type: ignore[arg-type]
    inbound = SAParams.make(spi=spi_in, protocol=proto, peer=peer, **in_kw)  # type: ignore[arg-type]
    ipsec.add_sa(inbound, "in")
    ipsec.add_sa(outbound, "out")
    if initiator:
        policy = Policy.make(remote=map_address, protocol=MOBILITY_HEADER,
                             types=MH_SIGNALLING_TYPES, ipsec=proto, name="MH MN-MAP")
        ipsec.authorise(peer, [map_address])
    else:
        policy = Policy.make(local=map_address, protocol=MOBILITY_HEADER,
                             types=MH_SIGNALLING_TYPES, ipsec=proto, name="MH MAP-MN")
    if policy not in ipsec.spd.policies:
        ipsec.add_policy(policy)
    return ChildSA(suite, inbound, outbound)


def _key_lengths(suite: str) -> tuple[int, int]:
    _, _, enc_len, _, auth_len = SUITES[suite]
    return enc_len, auth_len


# -- initiator (the mobile node) ---------------------------------------------------------------


class IkeInitiator:
    """The MN side: ``start(now)`` gives IKE_SA_INIT; ``receive`` the rest; ``outcome`` at the
    end. ``rcoa=None`` asks the MAP for an RCoA (RFC 5380 R flag, RFC 4877 §9 CP). The IKE
    proposal offers every supported DH group, ``dh_group`` first and in the KE payload; an
    INVALID_KE_PAYLOAD answer makes it retry once with the group the MAP asks for (§1.2)."""

    def __init__(self, ipsec: IPsec, *, identity: str | IPv6Address, psk: bytes,
                 map_address: IPv6Address, rcoa: IPv6Address | None,
                 rng: random.Random, dh_group: int = 19,
                 suites: Sequence[str] = ("esp-null-hmac-sha256",),
                 map_identity: str | None = None) -> None:
        for s in suites:
            if s not in _ESP_TRANSFORMS:
                raise LocalProtocolError(f"unknown Child SA suite {s!r}")
        if dh_group not in cr.DH_GROUPS:
            raise LocalProtocolError(f"unsupported DH group {dh_group}")
        self.ipsec = ipsec
        self.id = id_payload(identity)
        self.psk = psk
        self.map_address = map_address
        self.rcoa = rcoa
        self.rng = rng
        self.group = dh_group
        self.suites = tuple(suites)
        self.map_identity = map_identity
        self.spi_i = rng.getrandbits(64) or 1
        self.spi_r = 0
        self.outcome: Outcome | None = None
        self.keys: cr.IkeKeys | None = None
        self.counters: Counter[str] = Counter()
        self.ni = b""
        self.nr = b""
        self.shared_secret = b""
        """Ni, Nr and g^ir once IKE_SA_INIT completed (for known-answer tests and debugging)."""
        self._dh: cr.DiffieHellman | None = None
        self._init_req = b""
        self._init_resp = b""
        self._esp_spi = 0
        self._request = b""
        self._mid = 0
        self._deadline: float | None = None
        self._tries = 0
        self._retry_ke = False

    # -- timers --------------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> list[bytes]:
        if self._deadline is None or now < self._deadline:
            return []
        if self._tries >= MAX_RETRANSMITS:
            self._finish(Failed("timeout"))
            return []
        self._tries += 1
        self.counters["retransmit"] += 1
        self._deadline = now + RETRANSMIT_BASE * (2 ** self._tries)
        return [self._request]

    def _send(self, now: float, data: bytes) -> list[bytes]:
        self._request = data
        self._tries = 0
        self._deadline = now + RETRANSMIT_BASE
        return [data]

    def _finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._deadline = None

    # -- exchange ------------------------------------------------------------------------------

    def start(self, now: float) -> bytes:
        """The IKE_SA_INIT request."""
        if self._mid != 0 or self._init_req:
            raise LocalProtocolError("exchange already started")
        self.ni = self.rng.randbytes(NONCE_LEN)
        return self._send(now, self._sa_init())[0]

    def _sa_init(self) -> bytes:
        self._dh = cr.DiffieHellman(self.group, self.rng)
        msg = Message(self.spi_i, 0, ExchangeType.IKE_SA_INIT, Flags.INITIATOR, 0, (
            SecurityAssociationPayload((Proposal(1, ProtocolId.IKE, b"", (
                *_ike_transforms(self.group),
                *(Transform(TransformType.DH, g) for g in cr.DH_GROUPS if g != self.group))),)),
            KeyExchange(self.group, self._dh.public),
            Nonce(self.ni)))
        self._init_req = msg.encode()
        return self._init_req

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def receive(self, now: float, data: bytes) -> list[bytes]:
        """Process a response; returns the next request (if any). Bad input is counted
        (``malformed``, ``bad-icv``, ``unexpected``) and dropped."""
        if self.outcome is not None:
            self.counters["unexpected"] += 1
            return []
        try:
            msg = decode(data)
            if not msg.is_response or msg.from_initiator or msg.spi_i != self.spi_i \
                    or msg.message_id != self._mid:
                self.counters["unexpected"] += 1
                return []
            if self._mid == 0 and msg.exchange == ExchangeType.IKE_SA_INIT:
                return self._on_sa_init(now, msg, data)
            if self._mid == 1 and msg.exchange == ExchangeType.IKE_AUTH and msg.spi_r == self.spi_r:
                return self._on_auth(msg, data)
        except cr.IntegrityFailure:
            self.counters["bad-icv"] += 1
            return []
        except DecodeError:
            self.counters["malformed"] += 1
            return []
        self.counters["unexpected"] += 1
        return []

    def _on_sa_init(self, now: float, msg: Message, data: bytes) -> list[bytes]:
        notes = [p for p in msg.payloads if isinstance(p, Notify) and p.is_error]
        if notes:
            n = notes[0]
            if n.type == NotifyType.INVALID_KE_PAYLOAD and len(n.data) == 2 and not self._retry_ke:
                group = int.from_bytes(n.data, "big")
                if group in cr.DH_GROUPS and group != self.group:
                    # §1.2: retry IKE_SA_INIT with the group the responder asked for.
                    self._retry_ke = True
                    self.group = group
                    return self._send(now, self._sa_init())
            self._finish(Failed("notify", n.type))
            return []
        sas = [p for p in msg.payloads if isinstance(p, SecurityAssociationPayload)]
        kes = [p for p in msg.payloads if isinstance(p, KeyExchange)]
        nrs = [p for p in msg.payloads if isinstance(p, Nonce)]
        if len(sas) != 1 or len(kes) != 1 or len(nrs) != 1 or msg.spi_r == 0 \
                or len(sas[0].proposals) != 1 \
                or _ike_group_of(sas[0].proposals[0], (self.group,)) is None \
                or kes[0].group != self.group:
            raise DecodeError("IKE_SA_INIT response lacks an acceptable SA, KE or Nr",
                              field="ike.sa_init", offset=28)
        assert self._dh is not None
        shared = self.shared_secret = self._dh.shared(kes[0].data)
        self.spi_r = msg.spi_r
        self.nr = nrs[0].data
        self._init_resp = data
        self.keys = cr.derive_ike_keys(self.ni, self.nr, shared, self.spi_i, self.spi_r,
                                       enc_len=IKE_ENC_KEY)
        self._esp_spi = _new_spi(self.ipsec, self.rng)
        auth = cr.psk_auth(self.psk, self.keys.sk_pi, self._init_req, self.nr,
                           self.id.encode_body())
        spi = self._esp_spi.to_bytes(4, "big")
        proposals = tuple(Proposal(i + 1, ProtocolId.ESP, spi, _ESP_TRANSFORMS[s])
                          for i, s in enumerate(self.suites))
        if self.rcoa is None:
            cp: tuple[Payload, ...] = (Configuration(CFG_REQUEST, (ConfigAttribute(INTERNAL_IP6_ADDRESS),)),)
            tsi = TrafficSelector(IPv6Address(0), IPv6Address((1 << 128) - 1), MOBILITY_HEADER)
        else:
            cp = ()
            tsi = TrafficSelector.address(self.rcoa, MOBILITY_HEADER)
        idr: tuple[Payload, ...] = ()
        if self.map_identity is not None:
            i = id_payload(self.map_identity)
            idr = (Identification(i.id_type, i.data, True),)
        inner: tuple[Payload, ...] = (
            self.id, *idr, Auth(AuthMethod.SHARED_KEY_MIC, auth), *cp,
            SecurityAssociationPayload(proposals), TrafficSelectors((tsi,)),
            TrafficSelectors((TrafficSelector.address(self.map_address, MOBILITY_HEADER),), True),
            Notify(NotifyType.USE_TRANSPORT_MODE))
        self._mid = 1
        req = Message(self.spi_i, self.spi_r, ExchangeType.IKE_AUTH, Flags.INITIATOR, 1, inner)
        return self._send(now, cr.seal_sk(req, self.keys.sk_ei, self.keys.sk_ai, self.rng))

    def _on_auth(self, msg: Message, data: bytes) -> list[bytes]:
        assert self.keys is not None
        inner = cr.open_sk(data, msg, self.keys.sk_er, self.keys.sk_ar)
        errors = [p for p in inner if isinstance(p, Notify) and p.is_error]
        ids = [p for p in inner if isinstance(p, Identification) and p.responder]
        auths = [p for p in inner if isinstance(p, Auth)]
        if (errors and errors[0].type == NotifyType.AUTHENTICATION_FAILED) or not ids or not auths:
            self._finish(Failed("notify", errors[0].type if errors else None))
            return []
        idr = ids[0]
        want = cr.psk_auth(self.psk, self.keys.sk_pr, self._init_resp, self.ni, idr.encode_body())
        if auths[0].method != AuthMethod.SHARED_KEY_MIC or auths[0].data != want or (
                self.map_identity is not None and idr.name != self.map_identity):
            self._finish(Failed("auth-mismatch", peer=idr.name))
            return []
        peer = idr.name
        if errors:
            # The IKE SA is authenticated but the Child SA was refused (§2.21.2).
            self._finish(RcoaRefused(peer, self.rcoa, errors[0].type)
                         if errors[0].type == NotifyType.TS_UNACCEPTABLE
                         else Failed("notify", errors[0].type, peer))
            return []
        sas = [p for p in inner if isinstance(p, SecurityAssociationPayload)]
        tsis = [p for p in inner if isinstance(p, TrafficSelectors) and not p.responder]
        cps = [p for p in inner if isinstance(p, Configuration) and p.cfg_type == CFG_REPLY]
        if len(sas) != 1 or len(sas[0].proposals) != 1 or not tsis:
            self._finish(Failed("bad-response", peer=peer))
            return []
        prop = sas[0].proposals[0]
        suite = _suite_of(prop)
        rcoa = self.rcoa
        if rcoa is None:
            got = cps[0].ip6_addresses() if cps else []
            rcoa = got[0][0] if got else None
        sel = tsis[0].selectors[0]
        if suite not in self.suites or len(prop.spi) != 4 or rcoa is None \
                or not (sel.start == sel.end == rcoa):
            self._finish(Failed("bad-response", peer=peer))
            return []
        self.rcoa = rcoa
        enc_len, auth_len = _key_lengths(suite)
        keymat = cr.child_keymat(self.keys.sk_d, self.ni, self.nr, enc_len, auth_len)
        child = _install(self.ipsec, suite, keymat, initiator=True, spi_in=self._esp_spi,
                         spi_out=int.from_bytes(prop.spi, "big"), rcoa=rcoa,
                         map_address=self.map_address, peer=peer)
        self._finish(Established(peer, rcoa, child, self.keys))
        return []


# -- responder (the MAP) ----------------------------------------------------------------------


@dataclass(slots=True)
class _HalfOpen:
    spi_i: int
    spi_r: int
    ni: bytes
    nr: bytes
    keys: cr.IkeKeys
    init_req: bytes
    init_resp: bytes
    last_req: bytes = b""
    last_resp: bytes = b""
    finished: bool = False


class IkeResponder:
    """The MAP side: many initiators, one :class:`IPsec`. ``psks`` maps identity names (the
    text of IDi; the address text for ID_IPV6_ADDR) to pre-shared keys."""

    def __init__(self, ipsec: IPsec, *, identity: str | IPv6Address, address: IPv6Address,
                 rcoa_prefix: IPv6Network, psks: Mapping[str, bytes], rng: random.Random,
                 dh_groups: Sequence[int] = (19, 14),
                 suites: Sequence[str] = ("esp-null-hmac-sha256", "esp-aes-cbc-hmac-sha256",
                                          "esp-aes-gcm"),
                 max_sas: int = 4096) -> None:
        self.ipsec = ipsec
        ident = id_payload(identity)
        self.id = Identification(ident.id_type, ident.data, True)
        self.address = address
        self.rcoa_prefix = rcoa_prefix
        self.psks = dict(psks)
        self.rng = rng
        self.groups = tuple(dh_groups)
        self.suites = tuple(suites)
        self.counters: Counter[str] = Counter()
        self.events: list[Outcome] = []
        """Per finished IKE_AUTH: :class:`Established` (peer = the MN), :class:`RcoaRefused`
        or :class:`Failed`."""
        self.max_sas = max_sas
        """IKE SA states kept (oldest evicted first, counted ``evicted``): no cookies (§2.6)
        are implemented, so this bounds what a flood of IKE_SA_INIT requests can cost."""
        self._sas: dict[int, _HalfOpen] = {}
        self._by_spi_i: dict[int, int] = {}

    def next_timer(self) -> float | None:
        return None  # §2.1: the responder never retransmits on its own

    def handle_timer(self, now: float) -> list[bytes]:
        return []

    def sa(self, spi_r: int) -> _HalfOpen | None:
        return self._sas.get(spi_r)

    def receive(self, now: float, data: bytes) -> list[bytes]:
        """Process one request; returns the response (or nothing). Malformed input is dropped
        and counted (``malformed``, ``bad-icv``, ``unknown-spi``, ``unsupported``)."""
        try:
            msg = decode(data)
            if msg.is_response or not msg.from_initiator:
                self.counters["unexpected"] += 1
                return []
            if msg.exchange == ExchangeType.IKE_SA_INIT and msg.message_id == 0 and msg.spi_r == 0:
                return self._on_sa_init(msg, data)
            if msg.exchange == ExchangeType.IKE_AUTH and msg.message_id == 1:
                return self._on_auth(msg, data)
            self.counters["unsupported"] += 1
            return []
        except cr.IntegrityFailure:
            self.counters["bad-icv"] += 1
            return []
        except DecodeError:
            self.counters["malformed"] += 1
            return []

    def _notify_init(self, msg: Message, ntype: int, data: bytes = b"") -> list[bytes]:
        self.counters[f"notify-{ntype}"] += 1
        return [Message(msg.spi_i, 0, ExchangeType.IKE_SA_INIT, Flags.RESPONSE, 0,
                        (Notify(ntype, data=data),)).encode()]

    def _on_sa_init(self, msg: Message, data: bytes) -> list[bytes]:
        known = self._by_spi_i.get(msg.spi_i)
        if known is not None:
            st = self._sas[known]
            if st.init_req == data:
                self.counters["retransmit"] += 1
                return [st.init_resp]
            if not st.finished:
                self.counters["unexpected"] += 1
                return []
        sas = [p for p in msg.payloads if isinstance(p, SecurityAssociationPayload)]
        kes = [p for p in msg.payloads if isinstance(p, KeyExchange)]
        nis = [p for p in msg.payloads if isinstance(p, Nonce)]
        if len(sas) != 1 or len(kes) != 1 or len(nis) != 1:
            return self._notify_init(msg, NotifyType.INVALID_SYNTAX)
        chosen = None
        group = None
        for prop in sas[0].proposals:
            for g in prop.of_type(TransformType.DH):
                sub = Proposal(prop.number, prop.protocol, prop.spi, tuple(
                    t for t in prop.transforms if t.type != TransformType.DH or t.id == g.id))
                if _ike_group_of(sub, self.groups) is not None:
                    chosen, group = sub, g.id
                    break
            if chosen is not None:
                break
        if chosen is None or group is None or prop.spi:
            return self._notify_init(msg, NotifyType.NO_PROPOSAL_CHOSEN)
        if kes[0].group != group:
            return self._notify_init(msg, NotifyType.INVALID_KE_PAYLOAD, group.to_bytes(2, "big"))
        dh = cr.DiffieHellman(group, self.rng)
        shared = dh.shared(kes[0].data)
        spi_r = 0
        while spi_r == 0 or spi_r in self._sas:
            spi_r = self.rng.getrandbits(64)
        nr = self.rng.randbytes(NONCE_LEN)
        resp = Message(msg.spi_i, spi_r, ExchangeType.IKE_SA_INIT, Flags.RESPONSE, 0, (
            _chosen(chosen, b""), KeyExchange(group, dh.public), Nonce(nr))).encode()
        keys = cr.derive_ike_keys(nis[0].data, nr, shared, msg.spi_i, spi_r, enc_len=IKE_ENC_KEY)
        if known is not None:
            self._sas.pop(known, None)
        while len(self._sas) >= max(1, self.max_sas):
            old = self._sas.pop(next(iter(self._sas)))
            if self._by_spi_i.get(old.spi_i) == old.spi_r:
                del self._by_spi_i[old.spi_i]
            self.counters["evicted"] += 1
        self._sas[spi_r] = _HalfOpen(msg.spi_i, spi_r, nis[0].data, nr, keys, data, resp)
        self._by_spi_i[msg.spi_i] = spi_r
        self.counters["ike-sa-init"] += 1
        return [resp]

    def _on_auth(self, msg: Message, data: bytes) -> list[bytes]:
        st = self._sas.get(msg.spi_r)
        if st is None or st.spi_i != msg.spi_i:
            self.counters["unknown-spi"] += 1
            return []
        if st.last_req:
            if data == st.last_req:
                self.counters["retransmit"] += 1
                return [st.last_resp]
            self.counters["unexpected"] += 1
            return []
        inner = cr.open_sk(data, msg, st.keys.sk_ei, st.keys.sk_ai)
        payloads, outcome = self._authenticate(st, inner)
        resp = Message(st.spi_i, st.spi_r, ExchangeType.IKE_AUTH, Flags.RESPONSE, 1, payloads)
        st.last_req = data
        st.last_resp = cr.seal_sk(resp, st.keys.sk_er, st.keys.sk_ar, self.rng)
        st.finished = True
        self.events.append(outcome)
        return [st.last_resp]

    def _authenticate(self, st: _HalfOpen, inner: tuple[Payload, ...]
                      ) -> tuple[tuple[Payload, ...], Outcome]:
        ids = [p for p in inner if isinstance(p, Identification) and not p.responder]
        auths = [p for p in inner if isinstance(p, Auth)]
        if len(ids) != 1 or len(auths) != 1:
            self.counters["notify-7"] += 1
            return (Notify(NotifyType.INVALID_SYNTAX),), Failed("notify", NotifyType.INVALID_SYNTAX)
        peer = ids[0].name
        psk = self.psks.get(peer)
        ok = psk is not None and auths[0].method == AuthMethod.SHARED_KEY_MIC and auths[0].data == \
            cr.psk_auth(psk, st.keys.sk_pi, st.init_req, st.nr, ids[0].encode_body())
        if not ok or psk is None:
            self.counters["auth-failed"] += 1
            return ((Notify(NotifyType.AUTHENTICATION_FAILED),),
                    Failed("notify", NotifyType.AUTHENTICATION_FAILED, peer))
        my_auth = Auth(AuthMethod.SHARED_KEY_MIC,
                       cr.psk_auth(psk, st.keys.sk_pr, st.init_resp, st.ni, self.id.encode_body()))
        authed: tuple[Payload, ...] = (self.id, my_auth)
        child, outcome = self._child(st, peer, inner)
        return authed + child, outcome

    def _child(self, st: _HalfOpen, peer: str, inner: tuple[Payload, ...]
               ) -> tuple[tuple[Payload, ...], Outcome]:
        def refuse(ntype: int, rcoa: IPv6Address | None = None) -> tuple[tuple[Payload, ...], Outcome]:
            self.counters[f"notify-{ntype}"] += 1
            if ntype == NotifyType.TS_UNACCEPTABLE:
                return (Notify(ntype),), RcoaRefused(peer, rcoa, ntype)
            return (Notify(ntype),), Failed("notify", ntype, peer)

        sas = [p for p in inner if isinstance(p, SecurityAssociationPayload)]
        tsis = [p for p in inner if isinstance(p, TrafficSelectors) and not p.responder]
        tsrs = [p for p in inner if isinstance(p, TrafficSelectors) and p.responder]
        cps = [p for p in inner if isinstance(p, Configuration) and p.cfg_type == CFG_REQUEST]
        transport = any(isinstance(p, Notify) and p.type == NotifyType.USE_TRANSPORT_MODE
                        for p in inner)
        if len(sas) != 1 or len(tsis) != 1 or len(tsrs) != 1:
            return refuse(NotifyType.INVALID_SYNTAX)
        pick = next((p for p in sas[0].proposals if p.protocol == ProtocolId.ESP and len(p.spi) == 4
                     and _suite_of(p) in self.suites and int.from_bytes(p.spi, "big") >= 256), None)
        if pick is None or not transport:
            # Only transport mode is offered (RFC 4140 §12.1 protects signalling end to end).
            return refuse(NotifyType.NO_PROPOSAL_CHOSEN)
        if not any(ts.contains(self.address) for ts in tsrs[0].selectors):
            return refuse(NotifyType.TS_UNACCEPTABLE)
        pad = self.ipsec.pad
        cp_reply: tuple[Payload, ...] = ()
        if cps and any(a.type == INTERNAL_IP6_ADDRESS for a in cps[0].attributes):
            rcoa = self._allocate(peer)
            if rcoa is None:
                return refuse(NotifyType.INTERNAL_ADDRESS_FAILURE)
            cp_reply = (Configuration(CFG_REPLY, (ConfigAttribute(
                INTERNAL_IP6_ADDRESS, rcoa.packed + bytes((128,))),)),)
        else:
            sel = tsis[0].selectors[0]
            if len(tsis[0].selectors) != 1 or sel.start != sel.end or sel.start not in self.rcoa_prefix:
                return refuse(NotifyType.TS_UNACCEPTABLE)
            rcoa = sel.start
        if pad.entry(peer) is None:
            self.ipsec.authorise(peer, [self.rcoa_prefix])
        if not pad.claim(peer, rcoa):
            return refuse(NotifyType.TS_UNACCEPTABLE, rcoa)  # SEC-04
        suite = _suite_of(pick)
        assert suite is not None
        spi = _new_spi(self.ipsec, self.rng)
        enc_len, auth_len = _key_lengths(suite)
        keymat = cr.child_keymat(st.keys.sk_d, st.ni, st.nr, enc_len, auth_len)
        child = _install(self.ipsec, suite, keymat, initiator=False, spi_in=spi,
                         spi_out=int.from_bytes(pick.spi, "big"), rcoa=rcoa,
                         map_address=self.address, peer=peer)
        self.counters["child-sa"] += 1
        return ((*cp_reply, _chosen(pick, spi.to_bytes(4, "big")),
                 TrafficSelectors((TrafficSelector.address(rcoa, MOBILITY_HEADER),)),
                 TrafficSelectors((TrafficSelector.address(self.address, MOBILITY_HEADER),), True),
                 Notify(NotifyType.USE_TRANSPORT_MODE)),
                Established(peer, rcoa, child, st.keys))

    def _allocate(self, peer: str) -> IPv6Address | None:
        """A free RCoA in the MAP's prefix for ``peer`` (RFC 4877 §9 allocation): one it
        already holds, else a random interface identifier nobody holds."""
        held = sorted(a for a in self.ipsec.pad.owned_by(peer) if a in self.rcoa_prefix)
        if held:
            return held[0]
        size = self.rcoa_prefix.num_addresses
        base = int(self.rcoa_prefix.network_address)
        for _ in range(64):
            a = IPv6Address(base + self.rng.randrange(2, size) if size > 2 else base)
            if a != self.address and self.ipsec.pad.owner(a) is None:
                return a
        return None

