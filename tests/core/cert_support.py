"""A test CA and end-entity certificates (P-256, SHA-256) made with ``cryptography``, for the
IKEv2 certificate-authentication tests. (No tests here.)"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hmipv6.core.ike.certs import Credentials

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _key(seed: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(0x1000 + seed, ec.SECP256R1())


KeyPair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def make_ca(name: str = "hmipv6 test CA", seed: int = 1) -> KeyPair:
    key = _key(seed)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(seed)
            .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def make_cert(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], cn: str,
              san: x509.GeneralName, seed: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key(seed)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca[0].subject).public_key(key.public_key()).serial_number(seed)
            .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .sign(ca[1], hashes.SHA256()))
    return cert, key


def credentials(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], identity: str,
                seed: int, *, trust: tuple[x509.Certificate, ...] | None = None) -> Credentials:
    san: x509.GeneralName = (x509.RFC822Name(identity) if "@" in identity
                             else x509.DNSName(identity))
    cert, key = make_cert(ca, identity, san, seed)
    return Credentials(cert, key, trust if trust is not None else (ca[0],), identity)


def pem(obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write(path: Path, obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem(obj))
    return path
