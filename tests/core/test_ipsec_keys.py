"""Manual keys (configuration mappings, ``ip xfrm state`` lines), seed-derived provisioning,
and the Wireshark ESP SA export of core.ipsec (SEC-06 manual keying)."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest

from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import Provisioner, derive_key, parse_xfrm_state, sa_from_config
from hmipv6.core.ipsec.wireshark import esp_sa_line
from hmipv6.errors import LocalProtocolError
from hmipv6.wire.ipv6 import decode
from tests.core.ipsec_support import LCOA_A, MAP, RCOA_A, local_bu

KEY = "0x" + bytes(range(32)).hex()


@pytest.mark.req("SEC-06")
def test_SEC_06_xfrm_line_and_config_mapping_give_the_same_sa() -> None:
    line = (f"ip xfrm state add src {RCOA_A} dst {MAP} proto esp spi 0x1001 reqid 1 "
            f"mode transport auth-trunc 'hmac(sha256)' {KEY} 128 enc cipher_null \"\"")
    a = parse_xfrm_state(line, peer="mn-a")
    b = sa_from_config({"spi": "0x1001", "proto": "esp", "src": str(RCOA_A), "dst": str(MAP),
                        "peer": "mn-a", "enc": "NULL", "auth": "HMAC-SHA-256-128",
                        "auth_key": KEY})
    assert a == b
    assert a.src == IPv6Network(f"{RCOA_A}/128") and a.auth_key == bytes(range(32))


@pytest.mark.req("SEC-06")
def test_SEC_06_manually_keyed_sa_pair_protects_a_local_bu() -> None:
    mn, map_ = IPsec(name="mn-a"), IPsec(name="map")
    line = (f"ip xfrm state add src {RCOA_A} dst {MAP} proto esp spi 0x1001 mode transport "
            f"aead 'rfc4106(gcm(aes))' 0x{bytes(range(20)).hex()} 128")
    mn.add_sa(parse_xfrm_state(line, peer="map"), "out")
    map_.add_sa(parse_xfrm_state(line, peer="mn-a"), "in")
    from hmipv6.core.ipsec import Policy

    mn.add_policy(Policy.mobility(remote=MAP))
    map_.add_policy(Policy.mobility(local=MAP))
    got = map_.unprotect(0.0, decode(mn.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()))
    assert got.peer == "mn-a"


@pytest.mark.parametrize("line", [
    "ip xfrm state add src ::1 dst ::2 proto esp spi 0x1001 mode tunnel",
    "ip xfrm state add src ::1 dst ::2 proto esp spi 0x1001 auth 'hmac(sha256)' 0x00",
    "ip xfrm state add src ::1 dst ::2 proto esp spi 0x1001 enc 'cbc(des3_ede)' 0x00",
    "ip xfrm state add src ::1 dst ::2 proto esp spi 0x1001 enc cipher_null \"\"",  # no auth
    "ip xfrm state add src ::1 dst ::2 proto esp spi 0x10",  # reserved SPI
])
def test_unsupported_or_unsafe_xfrm_lines_are_refused(line: str) -> None:
    with pytest.raises(LocalProtocolError):
        parse_xfrm_state(line)


def test_config_rejects_unknown_keys_and_bad_hex() -> None:
    with pytest.raises(LocalProtocolError):
        sa_from_config({"spi": 4096, "auth_key": KEY, "colour": "blue"})
    with pytest.raises(LocalProtocolError):
        sa_from_config({"spi": 4096, "auth_key": "0xzz"})


def test_provisioned_keys_are_seed_derived_and_spis_unique() -> None:
    assert derive_key(1, "x", 32) == derive_key(1, "x", 32) != derive_key(2, "x", 32)
    prov = Provisioner(1)
    nodes = [IPsec(name=f"mn{i}") for i in range(50)]
    map_ = IPsec(name="map")
    for i, n in enumerate(nodes):
        prov.mn_map(n, f"mn{i}", map_, "map", MAP, IPv6Network("2001:db8:ffff::/64"))
    spis = [p.spi for p in prov.issued]
    assert len(spis) == len(set(spis)) == 100 and min(spis) >= 256
    assert len(map_.spd.policies) == 1  # one MAP policy however many MNs
    # One object for the MN-MAP entry every mobile node of the MAP holds.
    assert len({id(n.spd.policies[0]) for n in nodes}) == 1
    assert nodes[0].spd.policies[0].remote == IPv6Network(f"{MAP}/128")


def test_the_two_ends_of_an_sa_share_its_transforms_and_interoperate() -> None:
    """Provisioner.pair keys each SA once: the receiving end takes the sending end's
    transforms (SecurityAssociation.keyed_like), and a packet sealed at one end opens at the
    other, for every suite; an SA keyed differently gets transforms of its own."""
    from hmipv6.core.ipsec import Policy
    from hmipv6.core.ipsec.keys import SUITES
    from hmipv6.core.ipsec.sad import SecurityAssociation

    for suite in SUITES:
        prov = Provisioner(7, suite)
        mn, map_ = IPsec(name="mn-a"), IPsec(name="map")
        prov.mn_map(mn, "mn-a", map_, "map", MAP, IPv6Network(f"{RCOA_A}/64", strict=False))
        for out in (sa for sa in mn.sad if sa.direction == "out"):
            inbound = map_.sad.inbound(out.params.protocol, out.spi)
            assert inbound is not None and inbound.esp is out.esp
            assert inbound.integrity is out.integrity and inbound.encryption is out.encryption
        for out in (sa for sa in map_.sad if sa.direction == "out"):
            inbound = mn.sad.inbound(out.params.protocol, out.spi)
            assert inbound is not None and inbound.esp is out.esp
        got = map_.unprotect(0.0, decode(mn.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()))
        assert got.peer == "mn-a"
        assert len(map_.spd.policies) == 1 and isinstance(map_.spd.policies[0], Policy)
    p = next(iter(mn.sad)).params
    other = SecurityAssociation(p.with_peer("x"), "in", keyed_like=None)
    differs = SecurityAssociation(
        sa_from_config({"spi": p.spi, "auth_key": "0x" + "22" * 32}), "in", keyed_like=other)
    assert differs.esp is not other.esp and differs.integrity is not other.integrity


def test_derive_key_is_hkdf_sha256() -> None:
    """derive_key (Expand of a once-extracted key) is RFC 5869 HKDF, Extract then Expand."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    for seed, ikm in ((1, b"1"), ("s", b"s"), (b"\x00raw", b"\x00raw")):
        for label, length in (("spi|a->b|0", 4), ("auth|a->b|4096", 32), ("enc|x", 20),
                              ("long", 80)):
            assert derive_key(seed, label, length) == HKDF(
                algorithm=hashes.SHA256(), length=length, salt=b"hmipv6 simulated SA",
                info=label.encode()).derive(ikm)


def test_wireshark_esp_sa_line_format() -> None:
    sa = sa_from_config({"spi": "0x00001001", "src": "*", "dst": str(MAP), "auth_key": KEY})
    assert esp_sa_line(sa) == (f'"IPv6","*","{MAP}","0x00001001","NULL","",'
                               f'"HMAC-SHA-256-128 [RFC4868]","{KEY}"')
    gcm = sa_from_config({"spi": 4097, "src": str(IPv6Address("2001:db8::1")), "dst": "*",
                          "enc": "AES-GCM-16", "enc_key": "0x" + "11" * 20, "auth": "NULL"})
    assert esp_sa_line(gcm).split(",")[4:7] == ['"AES-GCM with 16 octet ICV [RFC4106]"',
                                                '"0x' + "11" * 20 + '"', '"NULL"']


def test_with_peer_equals_dataclasses_replace() -> None:
    """SAParams.with_peer (the provisioner's copy for each end) is ``replace(peer=...)``,
    every field and precomputed selector range included."""
    from dataclasses import fields, replace

    from hmipv6.core.ipsec.sad import SAParams

    for src, dst in ((None, "2001:db8::1"), ("2001:db8:1::/64", None), ("2001:db8::5", "::/0")):
        p = SAParams.make(spi=4242, protocol="esp", src=src, dst=dst, peer="x",
                          auth_key=bytes(range(32)))
        for peer in ("map1", None):
            a, b = p.with_peer(peer), replace(p, peer=peer)
            assert a == b and type(a) is SAParams
            assert all(getattr(a, f.name) == getattr(b, f.name) for f in fields(SAParams))
