"""core.ike: certificate authentication in IKE_AUTH (RFC 7296 §2.15, §3.6-§3.8; ECDSA P-256
with SHA-256, AUTH method 9, RFC 4754), hmipv6 against hmipv6. strongSwan checks the same in
tests/net/test_strongswan.py."""

from __future__ import annotations

import random

import pytest
from cryptography import x509

from hmipv6.core.ike import Established, Failed, IkeInitiator, IkeResponder, NotifyType
from hmipv6.core.ike import crypto as cr
from hmipv6.core.ike.certs import Credentials
from hmipv6.core.ike.message import AuthMethod, Certificate, CertificateRequest, IdType, decode
from hmipv6.core.ike.transport import run_exchange
from hmipv6.core.ipsec import IPsec
from hmipv6.errors import LocalProtocolError
from tests.core.cert_support import credentials, make_ca, make_cert
from tests.core.ipsec_support import LCOA_A, MAP, RCOA_PREFIX
from tests.core.test_ike import map_engine, send_bu

CA = make_ca()
OTHER_CA = make_ca("another CA", seed=2)


def pair(mn_creds: Credentials, map_creds: Credentials, seed: int = 1
         ) -> tuple[IkeInitiator, IkeResponder, IPsec, IPsec]:
    mn, mp = IPsec(name="mn"), IPsec(name="map")
    ini = IkeInitiator(mn, identity="unused", psk=b"", map_address=MAP, rcoa=None,
                       rng=random.Random(seed), credentials=mn_creds,
                       map_identity="map.example.org")
    res = IkeResponder(mp, identity="unused", address=MAP, rcoa_prefix=RCOA_PREFIX, psks={},
                       rng=random.Random(seed + 1), credentials=map_creds)
    return ini, res, mn, mp


@pytest.mark.req("X5380-05", "SEC-05", "SEC-06")
def test_certificates_authenticate_both_ends_and_the_bu_is_accepted() -> None:
    trace: list[tuple[float, object]] = []
    mn_creds, map_creds = credentials(CA, "mn@example.org", 11), credentials(CA, "map.example.org", 12)
    ini, res, mn, mp = pair(mn_creds, map_creds)
    out = run_exchange(ini, res, lcoa=LCOA_A, trace=trace)  # type: ignore[arg-type]
    assert isinstance(out, Established) and out.peer == "map.example.org"
    (ev,) = res.events
    assert isinstance(ev, Established) and ev.peer == "mn@example.org"
    # IKE_AUTH carries CERT (DER), CERTREQ (SHA-1 of the CA key) and AUTH method 9 each way.
    keys = ini.keys
    assert keys is not None
    req_raw, resp_raw = (p.payload.data for _, p in trace[2:4])  # type: ignore[attr-defined]
    req = cr.open_sk(req_raw, decode(req_raw), keys.sk_ei, keys.sk_ai)
    resp = cr.open_sk(resp_raw, decode(resp_raw), keys.sk_er, keys.sk_ar)
    for inner, who in ((req, "mn@example.org"), (resp, "map.example.org")):
        (cert,) = [p for p in inner if isinstance(p, Certificate)]
        got = x509.load_der_x509_certificate(cert.data)
        san = got.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert who in [str(v) for v in san.get_values_for_type(x509.DNSName)] + \
            [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
        assert [p.method for p in inner if hasattr(p, "method")] == [AuthMethod.ECDSA_SHA256_P256]
    assert next(p for p in req if isinstance(p, CertificateRequest)).authorities.__len__() == 20
    ba = send_bu(map_engine(mp), mn, LCOA_A, out.rcoa, 1, peer="map.example.org")
    assert ba is not None and ba.status == 0
    # Deterministic signatures (RFC 6979): the same seeds give the same octets.
    trace2: list[tuple[float, object]] = []
    ini2, res2, _, _ = pair(mn_creds, map_creds)
    run_exchange(ini2, res2, lcoa=LCOA_A, trace=trace2)  # type: ignore[arg-type]
    assert [p.encode() for _, p in trace] == [p.encode() for _, p in trace2]  # type: ignore[attr-defined]


@pytest.mark.req("SEC-05")
def test_certificate_from_an_untrusted_ca_is_an_authentication_failure() -> None:
    ini, res, mn, mp = pair(credentials(OTHER_CA, "mn@example.org", 13),
                            credentials(CA, "map.example.org", 12))
    out = run_exchange(ini, res, lcoa=LCOA_A)
    assert out == Failed("notify", NotifyType.AUTHENTICATION_FAILED)
    assert res.counters["cert: certificate not issued by a trusted CA"] == 1
    assert len(mn.sad) == 0 and len(mp.sad) == 0


def test_identity_not_in_the_certificate_is_refused() -> None:
    # The MN's certificate says mn@example.org, its IDi says eve@example.org.
    cert, key = make_cert(CA, "mn", x509.RFC822Name("mn@example.org"), 14)
    creds = Credentials(cert, key, (CA[0],))
    lying = Credentials.__new__(Credentials)
    object.__setattr__(lying, "certificate", cert)
    object.__setattr__(lying, "key", key)
    object.__setattr__(lying, "trust", (CA[0],))
    object.__setattr__(lying, "identity", "eve@example.org")
    ini, res, _, _ = pair(lying, credentials(CA, "map.example.org", 12))
    assert run_exchange(ini, res, lcoa=LCOA_A) == Failed("notify", NotifyType.AUTHENTICATION_FAILED)
    assert res.counters["cert: identity not in the certificate"] == 1
    # Without an identity the subject DN is sent (ID_DER_ASN1_DN) and matches.
    assert creds.id_payload(False).id_type == IdType.ID_DER_ASN1_DN
    ini, res, _, _ = pair(creds, credentials(CA, "map.example.org", 12))
    assert isinstance(run_exchange(ini, res, lcoa=LCOA_A), Established)


def test_map_with_a_bad_signature_is_refused_by_the_mn() -> None:
    class Forger(IkeResponder):
        def _authenticate(self, st, inner):  # type: ignore[no-untyped-def]
            payloads, outcome, child = super()._authenticate(st, inner)
            forged = tuple(type(p)(p.method, bytes(64)) if hasattr(p, "method") else p  # type: ignore[attr-defined]
                           for p in payloads)
            return forged, outcome, child

    mn, mp = IPsec(name="mn"), IPsec(name="map")
    ini = IkeInitiator(mn, identity="x", psk=b"", map_address=MAP, rcoa=None,
                       rng=random.Random(1), credentials=credentials(CA, "mn@example.org", 11))
    res = Forger(mp, identity="x", address=MAP, rcoa_prefix=RCOA_PREFIX, psks={},
                 rng=random.Random(2), credentials=credentials(CA, "map.example.org", 12))
    out = run_exchange(ini, res, lcoa=LCOA_A)
    assert isinstance(out, Failed) and out.reason == "auth-mismatch"
    assert ini.counters["cert: signature does not verify"] == 1


def test_bad_credentials_are_refused_when_loaded() -> None:
    cert, key = make_cert(CA, "mn", x509.RFC822Name("mn@example.org"), 15)
    _, other_key = make_cert(CA, "x", x509.DNSName("x"), 16)
    with pytest.raises(LocalProtocolError, match="does not belong"):
        Credentials(cert, other_key, (CA[0],))
    with pytest.raises(LocalProtocolError, match="subjectAltName"):
        Credentials(cert, key, (CA[0],), "map.example.org")
    with pytest.raises(LocalProtocolError, match="trusted CA"):
        Credentials(cert, key, ())
