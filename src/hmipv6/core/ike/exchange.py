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

Algorithms (:mod:`.proposals`; the responder picks one transform of each type from the
offered proposals, RFC 7296 §2.7): IKE SA ENCR_AES_CBC-128/256, PRF_HMAC_SHA2_256,
AUTH_HMAC_SHA2_256_128, DH group 19 (ECP-256) or 14 (MODP-2048); Child SA (ESP, transport
mode, no ESN) from the suites of :data:`hmipv6.core.ipsec.keys.SUITES`
(``esp-null-hmac-sha256``, ``esp-aes-cbc-hmac-sha256``, ``esp-aes-gcm``). Authentication:
shared key MIC (method 2) with a PSK per MN identity.

Traffic selectors (§2.9): the responder narrows TSi to the RCoA and TSr to its own address,
both for the Mobility Header; IPv4 selectors (TS_IPV4_ADDR_RANGE) offered beside them are
ignored, and when nothing acceptable is left the answer is TS_UNACCEPTABLE. Mode (§1.3.1):
the initiator asks for transport mode (USE_TRANSPORT_MODE); a response without it means the
responder made a tunnel-mode SA, which the initiator deletes at once (INFORMATIONAL Delete)
and reports as ``Failed("tunnel-mode")``; a responder offered no transport mode answers
NO_PROPOSAL_CHOSEN.

Cookies (§2.6): above ``cookie_threshold`` half-open exchanges, the responder answers an
IKE_SA_INIT that carries no valid COOKIE with a COOKIE notify only, keeping no state
(``Cookie = <VersionIDofSecret> | SHA-256(Ni | IPi | SPIi | <secret>)``, the secret drawn
from the responder's rng and "periodically changed": a new one once it has made or checked
cookies for ``cookie_secret_lifetime`` seconds, the previous one still accepted, chosen by the
cookie's VersionIDofSecret); so a flood from spoofed sources never evicts a genuine half-open
exchange. The initiator retries an IKE_SA_INIT answered with a COOKIE with the cookie as
its first payload and everything else unchanged.

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

After IKE_AUTH both ends keep an :class:`~.sa.IkeSa` (INFORMATIONAL: Delete, liveness;
CREATE_CHILD_SA: Child SA and IKE SA rekeying, in both roles; :mod:`.sa`), found by the SPI
pair of each later message. Not implemented: NAT traversal, certificates/EAP, IKE SA
AES-GCM. The responder keeps one half-open state per SPIi (a new IKE_SA_INIT with the same
SPIi replaces a finished one), with the cached last response for retransmitted requests,
and at most ``max_sas`` half-open or failed states (finished ones evicted first).
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Final

from hmipv6.core.ike import crypto as cr
from hmipv6.core.ike.message import (
    CFG_REPLY,
    CFG_REQUEST,
    INTERNAL_IP6_ADDRESS,
    Auth,
    AuthMethod,
    Certificate,
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
    SecurityAssociationPayload,
    TrafficSelector,
    TrafficSelectors,
    decode,
)
from hmipv6.core.ike.proposals import (
    ESP_TRANSFORMS,
    IkeSuite,
    esp_proposals,
    ike_proposal,
    select_esp,
    select_ike,
    suite_of,
)
from hmipv6.core.ike.sa import (
    NO_POLICY,
    ChildSA,
    IkeSa,
    SaPolicy,
    install_child,
    key_lengths,
    new_esp_spi,
)
from hmipv6.core.ipsec.spd import MOBILITY_HEADER
from hmipv6.errors import DecodeError, LocalProtocolError

if TYPE_CHECKING:
    from hmipv6.core.ike.certs import Credentials
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
RETRANSMIT_BASE: Final = 1.0
MAX_RETRANSMITS: Final = 5
COOKIE_THRESHOLD: Final = 32
"""Half-open IKE SAs above which the responder demands cookies (§2.6) by default."""
COOKIE_SECRET_LIFETIME: Final = 60.0
"""Seconds the responder makes cookies with one secret before the next cookie it makes or
checks draws a new one (§2.6: the secret is "periodically changed"), by default."""


def id_payload(who: str | IPv6Address) -> Identification:
    """The ID payload body for ``who``: an address gives ID_IPV6_ADDR, a string with ``@``
    ID_RFC822_ADDR, with a dot ID_FQDN, otherwise ID_KEY_ID. A ``"fqdn:"``, ``"email:"``,
    ``"keyid:"`` or ``"ipv6:"`` prefix (strongSwan's spelling) forces the type."""
    if isinstance(who, IPv6Address):
        return Identification(IdType.ID_IPV6_ADDR, who.packed)
    for prefix, kind in (("fqdn:", IdType.ID_FQDN), ("email:", IdType.ID_RFC822_ADDR),
                         ("keyid:", IdType.ID_KEY_ID)):
        if who.startswith(prefix):
            return Identification(kind, who[len(prefix):].encode())
    if who.startswith("ipv6:"):
        return Identification(IdType.ID_IPV6_ADDR, IPv6Address(who[5:]).packed)
    if "@" in who:
        return Identification(IdType.ID_RFC822_ADDR, who.encode())
    if "." in who:
        return Identification(IdType.ID_FQDN, who.encode())
    return Identification(IdType.ID_KEY_ID, who.encode())


# -- outcomes ----------------------------------------------------------------------------------


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
    ``auth-mismatch`` (the responder's AUTH did not verify), ``bad-response`` or
    ``tunnel-mode`` (the responder made a tunnel-mode Child SA, deleted again, §1.3.1)."""

    reason: str
    notify: int | None = None
    peer: str | None = None


Outcome = Established | RcoaRefused | Failed


# -- shared pieces -----------------------------------------------------------------------------


def _chosen(proposal: Proposal, spi: bytes) -> SecurityAssociationPayload:
    return SecurityAssociationPayload((Proposal(proposal.number, proposal.protocol, spi,
                                                proposal.transforms),))


def _has(inner: Sequence[Payload], ntype: int) -> bool:
    return any(isinstance(p, Notify) and p.type == ntype for p in inner)


class _SaOwner:
    """Routing of post-IKE_AUTH messages to :class:`~.sa.IkeSa` objects by SPI pair."""

    def __init__(self) -> None:
        self.ike_sas: dict[tuple[int, int], IkeSa] = {}
        self.all_sas: list[IkeSa] = []
        """Every IKE SA this end has had, rekeyed and deleted ones included (for exports)."""

    def _adopt(self, sa: IkeSa) -> None:
        self.ike_sas[(sa.spi_i, sa.spi_r)] = sa
        self.all_sas.append(sa)

    def ikev2_decryption_lines(self) -> list[str]:
        """Wireshark ``ikev2_decryption_table`` records of every IKE SA in :attr:`all_sas`."""
        from hmipv6.core.ike.client import ikev2_decryption_line

        return [ikev2_decryption_line(sa.spi_i, sa.spi_r, sa.keys, sa.suite.encr_name)
                for sa in self.all_sas]

    def _tidy(self) -> None:
        for sa in list(self.ike_sas.values()):
            for new in sa.spawned:
                self._adopt(new)
            sa.spawned.clear()
        for key, sa in list(self.ike_sas.items()):
            if sa.state == "deleted":
                del self.ike_sas[key]

    def _route(self, now: float, msg: Message, data: bytes,
               source: IPv6Address | None = None) -> list[bytes] | None:
        sa = self.ike_sas.get((msg.spi_i, msg.spi_r))
        if sa is None:
            return None
        out = sa.receive(now, msg, data, source)
        self._tidy()
        return out

    @property
    def current(self) -> IkeSa | None:
        """The IKE SA that owns the Child SAs (the newest after rekeys)."""
        for sa in self.ike_sas.values():
            if sa.state == "established" and sa.owns_children():
                return sa
        return None

    def sa_timer(self) -> float | None:
        times = [t for sa in self.ike_sas.values() if (t := sa.next_timer()) is not None]
        return min(times) if times else None

    def sa_handle_timer(self, now: float) -> list[bytes]:
        return [data for _, data in self.handle_timer_to(now)]

    def handle_timer_to(self, now: float) -> list[tuple[IPv6Address | None, bytes]]:
        """The due IKE SAs' timer work, each message with its SA's peer address."""
        out: list[tuple[IPv6Address | None, bytes]] = []
        for sa in list(self.ike_sas.values()):
            t = sa.next_timer()
            if t is not None and t <= now:
                out += [(sa.peer_address, m) for m in sa.handle_timer(now)]
        self._tidy()
        return out

    def sa_events(self) -> list[tuple[str, object]]:
        return [e for sa in self.ike_sas.values() for e in sa.events]


# -- initiator (the mobile node) ---------------------------------------------------------------


class IkeInitiator(_SaOwner):
    """The MN side: ``start(now)`` gives IKE_SA_INIT; ``receive`` the rest; ``outcome`` at the
    end. ``rcoa=None`` asks the MAP for an RCoA (RFC 5380 R flag, RFC 4877 §9 CP). The IKE
    proposal offers every supported DH group, ``dh_group`` first and in the KE payload; an
    INVALID_KE_PAYLOAD answer makes it retry once with the group the MAP asks for (§1.2), a
    COOKIE answer makes it retry with the cookie (§2.6). After IKE_AUTH the IKE SA stays in
    :attr:`ike_sas` (Delete, DPD and rekeys in both directions; ``policy`` for periodic
    ones)."""

    def __init__(self, ipsec: IPsec, *, identity: str | IPv6Address, psk: bytes,
                 map_address: IPv6Address, rcoa: IPv6Address | None,
                 rng: random.Random, dh_group: int = 19,
                 suites: Sequence[str] = ("esp-null-hmac-sha256",),
                 map_identity: str | IPv6Address | None = None,
                 policy: SaPolicy = NO_POLICY, pfs_group: int | None = None,
                 credentials: Credentials | None = None) -> None:
        super().__init__()
        for s in suites:
            if s not in ESP_TRANSFORMS:
                raise LocalProtocolError(f"unknown Child SA suite {s!r}")
        if dh_group not in cr.DH_GROUPS:
            raise LocalProtocolError(f"unsupported DH group {dh_group}")
        self.ipsec = ipsec
        self.credentials = credentials
        """Certificate authentication (:mod:`.certs`, AUTH method 9) instead of ``psk``."""
        self.id = credentials.id_payload(False) if credentials is not None else id_payload(identity)
        self.psk = psk
        self.map_address = map_address
        self.rcoa = rcoa
        self.rng = rng
        self.group = dh_group
        self.suites = tuple(suites)
        self.map_identity = map_identity
        self.policy = policy
        self.pfs_group = pfs_group
        self.spi_i = rng.getrandbits(64) or 1
        self.spi_r = 0
        self.outcome: Outcome | None = None
        self.keys: cr.IkeKeys | None = None
        self.suite: IkeSuite | None = None
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
        self._cookie: bytes | None = None

    # -- timers --------------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        times = [t for t in (self._deadline, self.sa_timer()) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[bytes]:
        out = self.sa_handle_timer(now)
        if self._deadline is None or now < self._deadline:
            return out
        if self._tries >= MAX_RETRANSMITS:
            self._finish(Failed("timeout"))
            return out
        self._tries += 1
        self.counters["retransmit"] += 1
        self._deadline = now + RETRANSMIT_BASE * (2 ** self._tries)
        return [*out, self._request]

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
        self._dh = cr.DiffieHellman(self.group, self.rng)
        return self._send(now, self._sa_init())[0]

    def _sa_init(self) -> bytes:
        assert self._dh is not None
        cookie: tuple[Payload, ...] = ()
        if self._cookie is not None:
            cookie = (Notify(NotifyType.COOKIE, data=self._cookie),)  # §2.6: first payload
        msg = Message(self.spi_i, 0, ExchangeType.IKE_SA_INIT, Flags.INITIATOR, 0, (
            *cookie,
            SecurityAssociationPayload((ike_proposal(
                1, (self.group, *(g for g in cr.DH_GROUPS if g != self.group))),)),
            KeyExchange(self.group, self._dh.public),
            Nonce(self.ni)))
        self._init_req = msg.encode()
        return self._init_req

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def receive(self, now: float, data: bytes) -> list[bytes]:
        """Process a message from the MAP; returns what to send. Bad input is counted
        (``malformed``, ``bad-icv``, ``unexpected``) and dropped."""
        try:
            msg = decode(data)
            routed = self._route(now, msg, data)
            if routed is not None:
                return routed
            if self.outcome is not None:
                self.counters["unexpected"] += 1
                return []
            if not msg.is_response or msg.from_initiator or msg.spi_i != self.spi_i \
                    or msg.message_id != self._mid:
                self.counters["unexpected"] += 1
                return []
            if self._mid == 0 and msg.exchange == ExchangeType.IKE_SA_INIT:
                return self._on_sa_init(now, msg, data)
            if self._mid == 1 and msg.exchange == ExchangeType.IKE_AUTH and msg.spi_r == self.spi_r:
                return self._on_auth(now, msg, data)
        except cr.IntegrityFailure:
            self.counters["bad-icv"] += 1
            return []
        except DecodeError:
            self.counters["malformed"] += 1
            return []
        self.counters["unexpected"] += 1
        return []

    def _on_sa_init(self, now: float, msg: Message, data: bytes) -> list[bytes]:
        cookies = [p for p in msg.payloads if isinstance(p, Notify) and p.type == NotifyType.COOKIE]
        if cookies and msg.spi_r == 0:
            if not 1 <= len(cookies[0].data) <= 64 or self.counters["cookie-retry"] >= 3:
                raise DecodeError("bad COOKIE, or too many", field="ike.notify.cookie", offset=28)
            # §2.6: retry with the cookie as the first payload, all others unchanged.
            self.counters["cookie-retry"] += 1
            self._cookie = cookies[0].data
            return self._send(now, self._sa_init())
        notes = [p for p in msg.payloads if isinstance(p, Notify) and p.is_error]
        if notes:
            n = notes[0]
            if n.type == NotifyType.INVALID_KE_PAYLOAD and len(n.data) == 2 and not self._retry_ke:
                group = int.from_bytes(n.data, "big")
                if group in cr.DH_GROUPS and group != self.group:
                    # §1.2: retry IKE_SA_INIT with the group the responder asked for.
                    self._retry_ke = True
                    self.group = group
                    self._dh = cr.DiffieHellman(self.group, self.rng)
                    return self._send(now, self._sa_init())
            self._finish(Failed("notify", n.type))
            return []
        sas = [p for p in msg.payloads if isinstance(p, SecurityAssociationPayload)]
        kes = [p for p in msg.payloads if isinstance(p, KeyExchange)]
        nrs = [p for p in msg.payloads if isinstance(p, Nonce)]
        picked = select_ike(sas[0].proposals, (self.group,)) if len(sas) == 1 else None
        if len(kes) != 1 or len(nrs) != 1 or msg.spi_r == 0 or picked is None \
                or len(sas[0].proposals) != 1 or kes[0].group != self.group:
            raise DecodeError("IKE_SA_INIT response lacks an acceptable SA, KE or Nr",
                              field="ike.sa_init", offset=28)
        self.suite = picked[1]
        assert self._dh is not None
        shared = self.shared_secret = self._dh.shared(kes[0].data)
        self.spi_r = msg.spi_r
        self.nr = nrs[0].data
        self._init_resp = data
        self.keys = cr.derive_ike_keys(self.ni, self.nr, shared, self.spi_i, self.spi_r,
                                       enc_len=self.suite.enc_len)
        self._esp_spi = new_esp_spi(self.ipsec, self.rng)
        creds = self.credentials
        if creds is not None:
            # §2.15 / RFC 4754: sign; send the certificate, and ask for the MAP's (§3.7).
            my_auth = creds.sign(cr.signed_octets(self.keys.sk_pi, self._init_req, self.nr,
                                                  self.id.encode_body()))
            cert: tuple[Payload, ...] = (creds.cert_payload(), creds.certreq_payload())
        else:
            my_auth = Auth(AuthMethod.SHARED_KEY_MIC, cr.psk_auth(
                self.psk, self.keys.sk_pi, self._init_req, self.nr, self.id.encode_body()))
            cert = ()
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
            self.id, *cert[:1], *cert[1:], *idr, my_auth, *cp,
            SecurityAssociationPayload(esp_proposals(self.suites, self._esp_spi.to_bytes(4, "big"))),
            TrafficSelectors((tsi,)),
            TrafficSelectors((TrafficSelector.address(self.map_address, MOBILITY_HEADER),), True),
            Notify(NotifyType.USE_TRANSPORT_MODE))
        self._mid = 1
        req = Message(self.spi_i, self.spi_r, ExchangeType.IKE_AUTH, Flags.INITIATOR, 1, inner)
        return self._send(now, cr.seal_sk(req, self.keys.sk_ei, self.keys.sk_ai, self.rng))

    def _ike_sa(self, now: float, peer: str) -> IkeSa:
        assert self.keys is not None and self.suite is not None
        sa = IkeSa(self.ipsec, rng=self.rng, spi_i=self.spi_i, spi_r=self.spi_r, keys=self.keys,
                   suite=self.suite, original_initiator=True, mn_side=True, peer=peer,
                   rcoa=self.rcoa, map_address=self.map_address, child_suites=self.suites,
                   groups=cr.DH_GROUPS, peer_address=self.map_address, policy=self.policy,
                   next_mid=2, peer_mid=0, now=now, pfs_group=self.pfs_group)
        self._adopt(sa)
        return sa

    def _on_auth(self, now: float, msg: Message, data: bytes) -> list[bytes]:
        assert self.keys is not None
        inner = cr.open_sk(data, msg, self.keys.sk_er, self.keys.sk_ar)
        errors = [p for p in inner if isinstance(p, Notify) and p.is_error]
        ids = [p for p in inner if isinstance(p, Identification) and p.responder]
        auths = [p for p in inner if isinstance(p, Auth)]
        if (errors and errors[0].type == NotifyType.AUTHENTICATION_FAILED) or not ids or not auths:
            self._finish(Failed("notify", errors[0].type if errors else None))
            return []
        idr = ids[0]
        if self.credentials is not None:
            from hmipv6.core.ike.certs import verify_peer

            bad = verify_peer(self.credentials.trust,
                              [p for p in inner if isinstance(p, Certificate)], idr, auths[0],
                              cr.signed_octets(self.keys.sk_pr, self._init_resp, self.ni,
                                               idr.encode_body()))
            if bad is not None:
                self.counters[f"cert: {bad}"] += 1
        else:
            want = cr.psk_auth(self.psk, self.keys.sk_pr, self._init_resp, self.ni,
                               idr.encode_body())
            bad = None if auths[0].method == AuthMethod.SHARED_KEY_MIC and auths[0].data == want \
                else "psk"
        expected = None if self.map_identity is None else id_payload(self.map_identity)
        if bad is not None or (
                expected is not None and (idr.id_type, idr.data) != (expected.id_type, expected.data)):
            self._finish(Failed("auth-mismatch", peer=idr.name))
            return []
        peer = idr.name
        self._deadline = None
        if errors:
            # The IKE SA is authenticated but the Child SA was refused (§2.21.2).
            self._ike_sa(now, peer)
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
        suite = suite_of(prop)
        rcoa = self.rcoa
        if rcoa is None:
            got = cps[0].ip6_addresses() if cps else []
            rcoa = got[0][0] if got else None
        sel = tsis[0].selectors[0]
        if suite not in self.suites or suite is None or len(prop.spi) != 4 or rcoa is None \
                or not (sel.start == sel.end == rcoa):
            self._finish(Failed("bad-response", peer=peer))
            return []
        self.rcoa = rcoa
        enc_len, auth_len = key_lengths(suite)
        keymat = cr.child_keymat(self.keys.sk_d, self.ni, self.nr, enc_len, auth_len)
        sa = self._ike_sa(now, peer)
        child = install_child(self.ipsec, suite, keymat, mn_side=True, exchange_initiator=True,
                              spi_in=self._esp_spi, spi_out=int.from_bytes(prop.spi, "big"),
                              rcoa=rcoa, map_address=self.map_address, peer=peer)
        sa.children.items.append(child)
        if not _has(inner, NotifyType.USE_TRANSPORT_MODE):
            # §1.3.1: the responder made a tunnel-mode SA; transport mode is required here
            # (RFC 4877 §4.1 protects signalling end to end): delete it at once.
            self.counters["tunnel-mode-refused"] += 1
            self._finish(Failed("tunnel-mode", peer=peer))
            return sa.delete_child(now, child)
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
    suite: IkeSuite
    peer_address: IPv6Address | None = None
    last_req: bytes = b""
    last_resp: bytes = b""
    finished: bool = False


class IkeResponder(_SaOwner):
    """The MAP side: many initiators, one :class:`IPsec`. ``psks`` maps identity names (the
    text of IDi; the address text for ID_IPV6_ADDR) to pre-shared keys."""

    def __init__(self, ipsec: IPsec, *, identity: str | IPv6Address, address: IPv6Address,
                 rcoa_prefix: IPv6Network, psks: Mapping[str, bytes], rng: random.Random,
                 dh_groups: Sequence[int] = (19, 14),
                 suites: Sequence[str] = ("esp-null-hmac-sha256", "esp-aes-cbc-hmac-sha256",
                                          "esp-aes-gcm"),
                 max_sas: int = 4096, cookie_threshold: int | None = COOKIE_THRESHOLD,
                 cookie_secret_lifetime: float | None = COOKIE_SECRET_LIFETIME,
                 policy: SaPolicy = NO_POLICY, credentials: Credentials | None = None) -> None:
        super().__init__()
        self.ipsec = ipsec
        self.credentials = credentials
        """Certificate authentication (:mod:`.certs`): peers signing with AUTH method 9 are
        accepted when their certificate chains to ``credentials.trust``, and answered with
        this certificate and a signature."""
        ident = credentials.id_payload(True) if credentials is not None else id_payload(identity)
        self.id = Identification(ident.id_type, ident.data, True)
        self.address = address
        self.rcoa_prefix = rcoa_prefix
        self.psks = dict(psks)
        self.rng = rng
        self.groups = tuple(dh_groups)
        self.suites = tuple(suites)
        self.policy = policy
        self.counters: Counter[str] = Counter()
        self.events: list[Outcome] = []
        """Per finished IKE_AUTH: :class:`Established` (peer = the MN), :class:`RcoaRefused`
        or :class:`Failed`."""
        self.max_sas = max_sas
        """Half-open (and failed) IKE SA states kept; beyond it the oldest finished one, else
        the oldest half-open one, is evicted (counted ``evicted``)."""
        self.cookie_threshold = cookie_threshold
        """Half-open exchanges from which on IKE_SA_INIT needs a COOKIE (§2.6); ``None``:
        never."""
        self.cookie_secret_lifetime = cookie_secret_lifetime
        """Seconds a cookie secret is used (from the first cookie it made or checked) before
        the next cookie draws a new one; ``None``: only :meth:`rotate_cookie_secret`."""
        self._secret = (0, rng.randbytes(32))
        self._old_secret: tuple[int, bytes] | None = None
        self._secret_since: float | None = None
        self._sas: dict[int, _HalfOpen] = {}
        self._by_spi_i: dict[int, int] = {}

    def next_timer(self) -> float | None:
        return self.sa_timer()  # §2.1: only this end's own requests are retransmitted

    def handle_timer(self, now: float) -> list[bytes]:
        return self.sa_handle_timer(now)

    def sa(self, spi_r: int) -> _HalfOpen | None:
        return self._sas.get(spi_r)

    @property
    def half_open(self) -> int:
        return sum(1 for st in self._sas.values() if not st.finished)

    def rotate_cookie_secret(self) -> None:
        """A new cookie secret; cookies made with the previous one stay valid (§2.6.1)."""
        self._old_secret = self._secret
        self._secret = ((self._secret[0] + 1) & 0xFFFFFFFF, self.rng.randbytes(32))
        self._secret_since = None

    def _cookie_secret(self, now: float) -> tuple[int, bytes]:
        """The secret cookies are made with at ``now`` (§2.6: "periodically changed"): a new
        one once the current one has been in use for ``cookie_secret_lifetime``. Drawn when
        a cookie is needed, not on a timer, so a responder never under load draws none. A
        cookie stays valid until the second change after it was made: at least one
        lifetime, time enough for the initiator's retry."""
        since = self._secret_since
        lifetime = self.cookie_secret_lifetime
        if since is not None and lifetime is not None and now - since >= lifetime:
            self.rotate_cookie_secret()
            since = None
        if since is None:
            self._secret_since = now
        return self._secret

    def _cookie(self, version: tuple[int, bytes], ni: bytes, source: IPv6Address | None,
                spi_i: int) -> bytes:
        ip = source.packed if source is not None else b""
        return version[0].to_bytes(4, "big") + hashlib.sha256(
            ni + ip + spi_i.to_bytes(8, "big") + version[1]).digest()

    def receive(self, now: float, data: bytes, source: IPv6Address | None = None) -> list[bytes]:
        """Process one message (``source``: the datagram's source address, for cookies);
        returns the response (or nothing). Malformed input is dropped and counted
        (``malformed``, ``bad-icv``, ``unknown-spi``, ``unsupported``)."""
        try:
            msg = decode(data)
            routed = self._route(now, msg, data, source)
            if routed is not None:
                return routed
            if msg.is_response or not msg.from_initiator:
                self.counters["unexpected"] += 1
                return []
            if msg.exchange == ExchangeType.IKE_SA_INIT and msg.message_id == 0 and msg.spi_r == 0:
                return self._on_sa_init(now, msg, data, source)
            if msg.exchange == ExchangeType.IKE_AUTH and msg.message_id == 1:
                return self._on_auth(now, msg, data)
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

    def _cookie_ok(self, now: float, msg: Message, ni: bytes, source: IPv6Address | None
                   ) -> bool:
        """Does the request start with a COOKIE this responder made for it (§2.6)? The
        cookie's VersionIDofSecret picks the secret to recompute it with: the current one
        or the one before it."""
        first = msg.payloads[0] if msg.payloads else None
        if not isinstance(first, Notify) or first.type != NotifyType.COOKIE:
            return False
        version = int.from_bytes(first.data[:4], "big")
        for secret in (self._cookie_secret(now), self._old_secret):
            if secret is not None and secret[0] == version:
                return hmac.compare_digest(first.data, self._cookie(secret, ni, source,
                                                                    msg.spi_i))
        return False

    def _on_sa_init(self, now: float, msg: Message, data: bytes, source: IPv6Address | None
                    ) -> list[bytes]:
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
        if self.cookie_threshold is not None and self.half_open >= self.cookie_threshold:
            if not self._cookie_ok(now, msg, nis[0].data, source):
                # §2.6: under load, no state until the initiator proves it gets our packets.
                return self._notify_init(msg, NotifyType.COOKIE, self._cookie(
                    self._cookie_secret(now), nis[0].data, source, msg.spi_i))
            self.counters["cookie-accepted"] += 1
        picked = select_ike(sas[0].proposals, self.groups)
        if picked is None:
            return self._notify_init(msg, NotifyType.NO_PROPOSAL_CHOSEN)
        chosen, suite = picked
        if kes[0].group != suite.group:
            return self._notify_init(msg, NotifyType.INVALID_KE_PAYLOAD,
                                     suite.group.to_bytes(2, "big"))
        dh = cr.DiffieHellman(suite.group, self.rng)
        shared = dh.shared(kes[0].data)
        spi_r = 0
        while spi_r == 0 or spi_r in self._sas:
            spi_r = self.rng.getrandbits(64)
        nr = self.rng.randbytes(NONCE_LEN)
        certreq: tuple[Payload, ...] = ()
        if self.credentials is not None:
            certreq = (self.credentials.certreq_payload(),)  # §3.7: ask for the MN's certificate
        resp = Message(msg.spi_i, spi_r, ExchangeType.IKE_SA_INIT, Flags.RESPONSE, 0, (
            _chosen(chosen, b""), KeyExchange(suite.group, dh.public), Nonce(nr),
            *certreq)).encode()
        keys = cr.derive_ike_keys(nis[0].data, nr, shared, msg.spi_i, spi_r,
                                  enc_len=suite.enc_len)
        if known is not None:
            self._sas.pop(known, None)
        self._evict()
        self._sas[spi_r] = _HalfOpen(msg.spi_i, spi_r, nis[0].data, nr, keys, data, resp, suite,
                                     source)
        self._by_spi_i[msg.spi_i] = spi_r
        self.counters["ike-sa-init"] += 1
        return [resp]

    def _evict(self) -> None:
        while len(self._sas) >= max(1, self.max_sas):
            victim = next((k for k, st in self._sas.items() if st.finished), None)
            if victim is None:
                victim = next(iter(self._sas))
            old = self._sas.pop(victim)
            if self._by_spi_i.get(old.spi_i) == old.spi_r:
                del self._by_spi_i[old.spi_i]
            self.counters["evicted"] += 1

    def _on_auth(self, now: float, msg: Message, data: bytes) -> list[bytes]:
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
        payloads, outcome, child = self._authenticate(st, inner)
        resp = Message(st.spi_i, st.spi_r, ExchangeType.IKE_AUTH, Flags.RESPONSE, 1, payloads)
        st.last_req = data
        st.last_resp = cr.seal_sk(resp, st.keys.sk_er, st.keys.sk_ar, self.rng)
        st.finished = True
        self.events.append(outcome)
        if outcome.peer is not None and not (isinstance(outcome, Failed)
                                             and outcome.notify == NotifyType.AUTHENTICATION_FAILED):
            rcoa = outcome.rcoa if not isinstance(outcome, Failed) else None
            sa = IkeSa(self.ipsec, rng=self.rng, spi_i=st.spi_i, spi_r=st.spi_r, keys=st.keys,
                       suite=st.suite, original_initiator=False, mn_side=False,
                       peer=outcome.peer, rcoa=rcoa, map_address=self.address,
                       child_suites=self.suites, groups=self.groups,
                       peer_address=st.peer_address, policy=self.policy, next_mid=0,
                       peer_mid=2, now=now)
            sa._last_peer_req, sa._last_resp = data, st.last_resp  # IKE_AUTH retransmissions
            if child is not None:
                sa.children.items.append(child)
            self._adopt(sa)
            del self._sas[st.spi_r]
            if self._by_spi_i.get(st.spi_i) == st.spi_r:
                del self._by_spi_i[st.spi_i]
        return [st.last_resp]

    def _authenticate(self, st: _HalfOpen, inner: tuple[Payload, ...]
                      ) -> tuple[tuple[Payload, ...], Outcome, ChildSA | None]:
        ids = [p for p in inner if isinstance(p, Identification) and not p.responder]
        auths = [p for p in inner if isinstance(p, Auth)]
        if len(ids) != 1 or len(auths) != 1:
            self.counters["notify-7"] += 1
            return ((Notify(NotifyType.INVALID_SYNTAX),),
                    Failed("notify", NotifyType.INVALID_SYNTAX), None)
        peer = ids[0].name
        creds = self.credentials
        octets = cr.signed_octets(st.keys.sk_pi, st.init_req, st.nr, ids[0].encode_body())
        mine = cr.signed_octets(st.keys.sk_pr, st.init_resp, st.ni, self.id.encode_body())
        authed: tuple[Payload, ...]
        if auths[0].method == AuthMethod.ECDSA_SHA256_P256 and creds is not None:
            from hmipv6.core.ike.certs import verify_peer

            bad = verify_peer(creds.trust, [p for p in inner if isinstance(p, Certificate)],
                              ids[0], auths[0], octets)
            if bad is not None:
                self.counters[f"cert: {bad}"] += 1
            authed = (self.id, creds.cert_payload(), creds.sign(mine))
        else:
            psk = self.psks.get(peer)
            bad = None if psk is not None and auths[0].method == AuthMethod.SHARED_KEY_MIC \
                and auths[0].data == cr.prf(cr.prf(psk, cr.KEY_PAD), octets) else "psk"
            authed = (self.id, Auth(AuthMethod.SHARED_KEY_MIC,
                                    cr.prf(cr.prf(psk or b"", cr.KEY_PAD), mine)))
        if bad is not None:
            self.counters["auth-failed"] += 1
            return ((Notify(NotifyType.AUTHENTICATION_FAILED),),
                    Failed("notify", NotifyType.AUTHENTICATION_FAILED, peer), None)
        child, outcome, installed = self._child(st, peer, inner)
        return authed + child, outcome, installed

    def _child(self, st: _HalfOpen, peer: str, inner: tuple[Payload, ...]
               ) -> tuple[tuple[Payload, ...], Outcome, ChildSA | None]:
        def refuse(ntype: int, rcoa: IPv6Address | None = None
                   ) -> tuple[tuple[Payload, ...], Outcome, ChildSA | None]:
            self.counters[f"notify-{ntype}"] += 1
            if ntype == NotifyType.TS_UNACCEPTABLE:
                return (Notify(ntype),), RcoaRefused(peer, rcoa, ntype), None
            return (Notify(ntype),), Failed("notify", ntype, peer), None

        sas = [p for p in inner if isinstance(p, SecurityAssociationPayload)]
        tsis = [p for p in inner if isinstance(p, TrafficSelectors) and not p.responder]
        tsrs = [p for p in inner if isinstance(p, TrafficSelectors) and p.responder]
        cps = [p for p in inner if isinstance(p, Configuration) and p.cfg_type == CFG_REQUEST]
        if len(sas) != 1 or len(tsis) != 1 or len(tsrs) != 1:
            return refuse(NotifyType.INVALID_SYNTAX)
        picked = select_esp(sas[0].proposals, self.suites)
        if picked is None or not _has(inner, NotifyType.USE_TRANSPORT_MODE):
            # Only transport mode is offered (RFC 4140 §12.1 protects signalling end to end).
            return refuse(NotifyType.NO_PROPOSAL_CHOSEN)
        pick, suite, _ = picked
        # §2.9: narrow TSr to this MAP's address for the Mobility Header (IPv4 ones ignored).
        if not any(ts.contains(self.address) and ts.covers_protocol(MOBILITY_HEADER)
                   for ts in tsrs[0].selectors):
            return refuse(NotifyType.TS_UNACCEPTABLE)
        pad = self.ipsec.pad
        cp_reply: tuple[Payload, ...] = ()
        v6 = [ts for ts in tsis[0].selectors
              if isinstance(ts.start, IPv6Address) and ts.covers_protocol(MOBILITY_HEADER)]
        if cps and any(a.type == INTERNAL_IP6_ADDRESS for a in cps[0].attributes):
            rcoa = self._allocate(peer)
            if rcoa is None:
                return refuse(NotifyType.INTERNAL_ADDRESS_FAILURE)
            if not any(ts.contains(rcoa) for ts in v6):
                return refuse(NotifyType.TS_UNACCEPTABLE, rcoa)
            cp_reply = (Configuration(CFG_REPLY, (ConfigAttribute(
                INTERNAL_IP6_ADDRESS, rcoa.packed + bytes((128,))),)),)
        else:
            sel = next((ts for ts in v6 if ts.start == ts.end
                        and not isinstance(ts.start, IPv4Address) and ts.start in self.rcoa_prefix),
                       None)
            if sel is None or not isinstance(sel.start, IPv6Address):
                return refuse(NotifyType.TS_UNACCEPTABLE)
            rcoa = sel.start
        if pad.entry(peer) is None:
            self.ipsec.authorise(peer, [self.rcoa_prefix])
        if not pad.claim(peer, rcoa):
            return refuse(NotifyType.TS_UNACCEPTABLE, rcoa)  # SEC-04
        spi = new_esp_spi(self.ipsec, self.rng)
        enc_len, auth_len = key_lengths(suite)
        keymat = cr.child_keymat(st.keys.sk_d, st.ni, st.nr, enc_len, auth_len)
        child = install_child(self.ipsec, suite, keymat, mn_side=False, exchange_initiator=False,
                              spi_in=spi, spi_out=int.from_bytes(pick.spi, "big"), rcoa=rcoa,
                              map_address=self.address, peer=peer)
        self.counters["child-sa"] += 1
        return ((*cp_reply, _chosen(pick, spi.to_bytes(4, "big")),
                 TrafficSelectors((TrafficSelector.address(rcoa, MOBILITY_HEADER),)),
                 TrafficSelectors((TrafficSelector.address(self.address, MOBILITY_HEADER),), True),
                 Notify(NotifyType.USE_TRANSPORT_MODE)),
                Established(peer, rcoa, child, st.keys), child)

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
