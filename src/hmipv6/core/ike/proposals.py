"""SA proposals: what this implementation offers and how a responder picks one transform of
each type from what it is offered (RFC 7296 §2.7, §3.3).

Theory of operation
-------------------
§2.7: the responder "MUST choose a single proposal" and, within it, one transform of each
type; the initiator lists transforms in preference order, so the responder takes, in the
initiator's order, the first proposal in which every transform type it needs has an
acceptable transform, and in each type the first acceptable one. The answer carries that
proposal's number and exactly the chosen transforms (§3.3: "containing a single proposal").

IKE SA: ENCR_AES_CBC with a 128- or 256-bit key, PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128
and DH group 19 or 14 (the RFC 8247 MUSTs this project has primitives for); AEAD IKE
proposals (no INTEG) are skipped. Child SA (ESP): the suites of
:data:`hmipv6.core.ipsec.keys.SUITES` named in :data:`ESP_TRANSFORMS`; the ESN type, when
present, must offer "no ESN". A Diffie-Hellman transform in a Child SA proposal is only
meaningful in CREATE_CHILD_SA (PFS); in IKE_AUTH only NONE may appear (§1.2), so IKE_AUTH
selection ignores the type, CREATE_CHILD_SA selection picks a supported group or NONE.

strongSwan's default proposals (5.9: an AEAD IKE proposal and a non-AEAD one with several
encryption, integrity, PRF and DH transforms; ESP AES-GCM and AES-CBC proposals) select
AES-CBC-128 / HMAC-SHA2-256 / PRF-HMAC-SHA2-256 for IKE, and AES-GCM-16-128 for ESP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hmipv6.core.ike import crypto as cr
from hmipv6.core.ike.message import Proposal, ProtocolId, Transform, TransformType

__all__ = ["ESP_TRANSFORMS", "IKE_KEY_BITS", "IkeSuite", "esp_proposals", "ike_proposal",
           "select_esp", "select_ike", "suite_of"]

ESP_TRANSFORMS: Final[dict[str, tuple[Transform, ...]]] = {
    "esp-null-hmac-sha256": (Transform(TransformType.ENCR, cr.ENCR_NULL),
                             Transform(TransformType.INTEG, cr.AUTH_HMAC_SHA2_256_128),
                             Transform(TransformType.ESN, cr.ESN_NONE)),
    "esp-aes-cbc-hmac-sha256": (Transform(TransformType.ENCR, cr.ENCR_AES_CBC, 128),
                                Transform(TransformType.INTEG, cr.AUTH_HMAC_SHA2_256_128),
                                Transform(TransformType.ESN, cr.ESN_NONE)),
    "esp-aes-gcm": (Transform(TransformType.ENCR, cr.ENCR_AES_GCM_16, 128),
                    Transform(TransformType.ESN, cr.ESN_NONE)),
}
"""The Child SA suites, as transforms (ESP, transport mode)."""

IKE_KEY_BITS: Final = (128, 256)
"""AES-CBC key sizes accepted for the IKE SA (128 is offered)."""

DH_NONE: Final = 0


@dataclass(frozen=True, slots=True)
class IkeSuite:
    """The IKE SA's negotiated algorithms: AES-CBC key length (octets) and DH group."""

    enc_len: int
    group: int

    @property
    def encr_name(self) -> str:
        """Wireshark's name (``packet-isakmp.c``) for the encryption algorithm."""
        return f"AES-CBC-{self.enc_len * 8} [RFC3602]"


def ike_proposal(number: int, groups: Sequence[int], spi: bytes = b"",
                 key_bits: int = 128) -> Proposal:
    """This implementation's IKE proposal, ``groups`` in preference order."""
    return Proposal(number, ProtocolId.IKE, spi, (
        Transform(TransformType.ENCR, cr.ENCR_AES_CBC, key_bits),
        Transform(TransformType.PRF, cr.PRF_HMAC_SHA2_256),
        Transform(TransformType.INTEG, cr.AUTH_HMAC_SHA2_256_128),
        *(Transform(TransformType.DH, g) for g in groups)))


def esp_proposals(suites: Sequence[str], spi: bytes, group: int | None = None
                  ) -> tuple[Proposal, ...]:
    """One ESP proposal per suite (with DH ``group`` for PFS in CREATE_CHILD_SA)."""
    dh = (Transform(TransformType.DH, group),) if group else ()
    return tuple(Proposal(i + 1, ProtocolId.ESP, spi, ESP_TRANSFORMS[s] + dh)
                 for i, s in enumerate(suites))


def _first(p: Proposal, ttype: int, ok: set[tuple[int, int | None]]) -> Transform | None:
    return next((t for t in p.of_type(ttype) if (t.id, t.key_length) in ok), None)


def select_ike(proposals: Sequence[Proposal], groups: Sequence[int], *, spi_size: int = 0
               ) -> tuple[Proposal, IkeSuite] | None:
    """§2.7 for an IKE SA (``spi_size`` 0 in IKE_SA_INIT, 8 when rekeying the IKE SA):
    the chosen proposal (the initiator's number and SPI, one transform per type) and the
    suite, or ``None`` (NO_PROPOSAL_CHOSEN)."""
    encs: set[tuple[int, int | None]] = {(cr.ENCR_AES_CBC, b) for b in IKE_KEY_BITS}
    for p in proposals:
        if p.protocol != ProtocolId.IKE or len(p.spi) != spi_size:
            continue
        enc = _first(p, TransformType.ENCR, encs)
        prf = _first(p, TransformType.PRF, {(cr.PRF_HMAC_SHA2_256, None)})
        integ = _first(p, TransformType.INTEG, {(cr.AUTH_HMAC_SHA2_256_128, None)})
        dh = _first(p, TransformType.DH, {(g, None) for g in groups})
        if enc is None or prf is None or integ is None or dh is None:
            continue
        if any(t.type not in (TransformType.ENCR, TransformType.PRF, TransformType.INTEG,
                              TransformType.DH) for t in p.transforms):
            continue  # a transform type we do not know: this proposal cannot be honoured
        assert enc.key_length is not None
        return (Proposal(p.number, p.protocol, p.spi, (enc, prf, integ, dh)),
                IkeSuite(enc.key_length // 8, dh.id))
    return None


def suite_of(p: Proposal) -> str | None:
    """The suite name of a single-transform-per-type ESP proposal (a responder's answer;
    an absent ESN type means no ESN, a DH transform is not part of the suite)."""
    if any(t.id != cr.ESN_NONE for t in p.of_type(TransformType.ESN)):
        return None
    skip = (TransformType.DH, TransformType.ESN)
    ts = {(t.type, t.id, t.key_length) for t in p.transforms if t.type not in skip}
    for name, want in ESP_TRANSFORMS.items():
        if ts == {(t.type, t.id, t.key_length) for t in want if t.type not in skip}:
            return name
    return None


def select_esp(proposals: Sequence[Proposal], suites: Sequence[str], *,
               groups: Sequence[int] | None = None) -> tuple[Proposal, str, int | None] | None:
    """§2.7 for a Child SA: (chosen proposal with the initiator's SPI, suite name, DH group
    or ``None``), or ``None``. ``groups`` is ``None`` in IKE_AUTH (DH transforms ignored,
    §1.2); in CREATE_CHILD_SA the proposal's DH type, if present, needs NONE or one of
    ``groups``."""
    for p in proposals:
        if p.protocol != ProtocolId.ESP or len(p.spi) != 4 or int.from_bytes(p.spi, "big") < 256:
            continue
        esns = p.of_type(TransformType.ESN)
        if esns and not any(t.id == cr.ESN_NONE for t in esns):
            continue
        if any(t.type not in (TransformType.ENCR, TransformType.INTEG, TransformType.ESN,
                              TransformType.DH) for t in p.transforms):
            continue
        dh: Transform | None = None
        dhs = p.of_type(TransformType.DH)
        if groups is not None and dhs:
            dh = next((t for t in dhs if t.id == DH_NONE or t.id in groups), None)
            if dh is None:
                continue
        integs: list[Transform | None] = [*p.of_type(TransformType.INTEG)] or [None]
        for enc in p.of_type(TransformType.ENCR):
            for integ in integs:
                chosen = (enc, *((integ,) if integ is not None else ()),
                          Transform(TransformType.ESN, cr.ESN_NONE))
                name = suite_of(Proposal(p.number, p.protocol, p.spi, chosen))
                if name is not None and name in suites:
                    extra = (dh,) if dh is not None else ()
                    group = dh.id if dh is not None and dh.id != DH_NONE else None
                    esn = chosen if esns else chosen[:-1]
                    return Proposal(p.number, p.protocol, p.spi, esn + extra), name, group
    return None
