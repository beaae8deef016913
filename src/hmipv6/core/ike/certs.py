"""Certificate authentication for IKE_AUTH (RFC 7296 §2.15, §3.6-§3.8) with X.509 from
``cryptography``: ECDSA with SHA-256 on the P-256 curve, AUTH method 9 (RFC 4754).

Theory of operation
-------------------
Method 9 is chosen because strongSwan and other implementations use it for a P-256 key when
the peer announced no RFC 7427 hash algorithms (this implementation announces none), and
because its signature has a fixed form: ``r | s``, 32 octets each, over SHA-256 of the signed
octets (RFC 4754 §3, §7). The signed octets are §2.15's ``RealMessage | NonceOfThePeer |
prf(SK_p, RestOfIDPayload)``, the same as for a shared key. Signatures are deterministic
(RFC 6979), so a seeded simulation stays byte-identical.

An end with :class:`Credentials` sends IDi/IDr, its certificate (CERT, encoding 4, DER) and
AUTH method 9; the initiator also sends CERTREQ naming its trust anchors (SHA-1 of their
SubjectPublicKeyInfo, §3.7) so that a peer that sends its certificate only when asked does.
A received AUTH method 9 is accepted when (:func:`verify_peer`): the first CERT payload is an
X.509 certificate with a P-256 key directly issued by one of the trust anchors (signature
checked with ``verify_directly_issued_by``), the ID payload names that certificate (ID_FQDN,
ID_RFC822_ADDR or ID_IPV6_ADDR in its subjectAltName; ID_DER_ASN1_DN equal to its subject),
and the signature verifies. Not checked: validity periods and revocation (the engines have
no wall clock; a deployment checks them when it loads the credentials), chains longer than
one CA, RSA keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from hmipv6.core.ike.message import (
    CERT_X509_SIGNATURE,
    Auth,
    AuthMethod,
    Certificate,
    CertificateRequest,
    Identification,
    IdType,
)
from hmipv6.errors import LocalProtocolError

__all__ = ["Credentials", "ca_hashes", "verify_peer"]


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def ca_hashes(trust: Sequence[x509.Certificate]) -> bytes:
    """§3.7: the concatenated SHA-1 hashes of the trust anchors' SubjectPublicKeyInfo."""
    return b"".join(hashlib.sha1(_spki(c)).digest() for c in trust)


@dataclass(frozen=True, slots=True)
class Credentials:
    """This end's certificate and P-256 key, its identity (in the certificate's
    subjectAltName, or ``None`` for its subject DN) and the CAs it trusts for peers."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    trust: tuple[x509.Certificate, ...]
    identity: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, ec.EllipticCurvePrivateKey) or self.key.curve.name != "secp256r1":
            raise LocalProtocolError("certificate authentication needs a P-256 (secp256r1) key")
        if _spki(self.certificate) != self.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            raise LocalProtocolError("the private key does not belong to the certificate")
        if not self.trust:
            raise LocalProtocolError("certificate authentication needs at least one trusted CA")
        if self.identity is not None and not _names(self.certificate, self._id()):
            raise LocalProtocolError(f"{self.identity!r} is not in the certificate's "
                                     "subjectAltName")

    @classmethod
    def from_pem(cls, certificate: bytes, key: bytes, trust: Sequence[bytes],
                 identity: str | None = None) -> Credentials:
        k = serialization.load_pem_private_key(key, password=None)
        if not isinstance(k, ec.EllipticCurvePrivateKey):
            raise LocalProtocolError("certificate authentication needs an ECDSA P-256 key")
        return cls(x509.load_pem_x509_certificate(certificate), k,
                   tuple(x509.load_pem_x509_certificate(t) for t in trust), identity)

    def _id(self) -> Identification:
        from hmipv6.core.ike.exchange import id_payload

        if self.identity is None:
            return Identification(IdType.ID_DER_ASN1_DN, self.certificate.subject.public_bytes())
        return id_payload(self.identity)

    def id_payload(self, responder: bool) -> Identification:
        i = self._id()
        return Identification(i.id_type, i.data, responder)

    def cert_payload(self) -> Certificate:
        return Certificate(CERT_X509_SIGNATURE,
                           self.certificate.public_bytes(serialization.Encoding.DER))

    def certreq_payload(self) -> CertificateRequest:
        return CertificateRequest(CERT_X509_SIGNATURE, ca_hashes(self.trust))

    def sign(self, octets: bytes) -> Auth:
        """AUTH method 9 over the signed octets: ``r | s`` (RFC 4754 §7), RFC 6979 nonces."""
        der = self.key.sign(octets, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return Auth(AuthMethod.ECDSA_SHA256_P256, r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def _names(cert: x509.Certificate, ident: Identification) -> bool:
    """The ID payload names this certificate (§3.5 with its subjectAltName / subject)."""
    if ident.id_type == IdType.ID_DER_ASN1_DN:
        return ident.data == cert.subject.public_bytes()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    text = ident.data.decode("utf-8", "replace")
    if ident.id_type == IdType.ID_FQDN:
        return text.lower() in (n.lower() for n in san.get_values_for_type(x509.DNSName))
    if ident.id_type == IdType.ID_RFC822_ADDR:
        return text.lower() in (n.lower() for n in san.get_values_for_type(x509.RFC822Name))
    if ident.id_type == IdType.ID_IPV6_ADDR and len(ident.data) == 16:
        return IPv6Address(ident.data) in san.get_values_for_type(x509.IPAddress)
    return False


def verify_peer(trust: Sequence[x509.Certificate], certs: Sequence[Certificate],
                ident: Identification, auth: Auth, octets: bytes) -> str | None:
    """Check a peer's AUTH method 9 (module docstring); ``None`` when it holds, else why not."""
    if auth.method != AuthMethod.ECDSA_SHA256_P256 or len(auth.data) != 64:
        return "not an ECDSA P-256 SHA-256 signature"
    der = next((c.data for c in certs if c.encoding == CERT_X509_SIGNATURE), None)
    if der is None:
        return "no X.509 certificate"
    try:
        cert = x509.load_der_x509_certificate(der)
        pub = cert.public_key()
    except ValueError:
        return "certificate does not parse"
    if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
        return "certificate key is not P-256"
    issued = False
    for ca in trust:
        try:
            cert.verify_directly_issued_by(ca)
            issued = True
            break
        except (ValueError, TypeError, InvalidSignature):
            continue
    if not issued:
        return "certificate not issued by a trusted CA"
    try:
        named = _names(cert, ident)
    except ValueError:  # a malformed extension, parsed lazily by cryptography
        return "certificate extensions do not parse"
    if not named:
        return "identity not in the certificate"
    sig = encode_dss_signature(int.from_bytes(auth.data[:32], "big"),
                               int.from_bytes(auth.data[32:], "big"))
    try:
        pub.verify(sig, octets, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "signature does not verify"
    return None
