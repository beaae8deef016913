"""ESP and AH processing of core.ipsec: round trips, ICV, anti-replay, padding, vectors.

Rows: SEC-01 (protected BU accepted; unprotected or badly authenticated BU dropped and
counted), SEC-02 (integrity, replay), SEC-07 (MN–HA BU protected the same way).
"""

from __future__ import annotations

import pytest

from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.algorithms import HmacSha256_128
from hmipv6.core.ipsec.esp import trailer
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.core.ipsec.replay import ReplayWindow
from hmipv6.core.security import SecurityDrop
from hmipv6.errors import DecodeError
from hmipv6.wire.ipv6 import (
    AuthenticationHeader,
    DestinationOptions,
    EncapsulatingSecurityPayload,
    HomeAddressOption,
    IPv6Packet,
    decode,
)
from hmipv6.wire.udp import UDP
from tests.core.ipsec_support import (
    HA,
    HOA_A,
    LCOA_A,
    MAP,
    RCOA_A,
    domain,
    local_bu,
    raw_bu,
    to_mn,
)

SUITES = ["esp-null-hmac-sha256", "esp-aes-cbc-hmac-sha256", "esp-aes-gcm", "ah-hmac-sha256"]


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes((data[index] ^ 0x01,)) + data[index + 1:]


@pytest.mark.req("SEC-01")
@pytest.mark.parametrize("suite", SUITES)
def test_SEC_01_protected_local_bu_round_trips_and_names_the_peer(suite: str) -> None:
    d = domain(suite)
    bu = local_bu(LCOA_A, RCOA_A)
    out = d.mn_a.protect(0.0, bu)
    wire = out.encode()
    if suite.startswith("esp"):
        assert isinstance(out.payload, EncapsulatingSecurityPayload)
        # RFC 6275 §6.3: the HAO stays in front of ESP, in the clear.
        assert out.extension_headers == bu.extension_headers
        assert wire[6] == 60 and wire[40] == 50
    else:
        assert out.header(AuthenticationHeader) is not None
        assert wire[40] == 51  # Destination Options header announces AH
    got = d.map.unprotect(0.0, decode(wire))
    assert got.packet.encode() == bu.encode()
    assert got.peer == "mn-a"
    proto = suite.split("-")[0]
    assert d.mn_a.counters == {f"{proto}-out": 1}
    assert d.map.counters == {f"{proto}-in": 1}


@pytest.mark.req("SEC-01")
@pytest.mark.parametrize("suite", SUITES)
def test_SEC_01_ba_to_the_rcoa_is_protected_and_accepted_by_the_mn(suite: str) -> None:
    d = domain(suite)
    ba = to_mn(LCOA_A, RCOA_A, raw_bu())  # any Mobility Header will do
    out = d.map.protect(0.0, ba, peer="mn-a")
    got = d.mn_a.unprotect(0.0, decode(out.encode()))
    assert got.packet.encode() == ba.encode() and got.peer == "map"


@pytest.mark.req("SEC-01")
def test_SEC_01_unprotected_local_bu_is_dropped_and_counted() -> None:
    d = domain()
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(local_bu(LCOA_A, RCOA_A).encode()))
    assert exc.value.reason == "unprotected"
    assert d.map.counters == {"unprotected": 1}


@pytest.mark.req("SEC-01", "SEC-02")
@pytest.mark.parametrize("suite", SUITES)
def test_SEC_02_a_bu_with_one_flipped_bit_fails_its_icv(suite: str) -> None:
    d = domain(suite)
    wire = d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()
    # Flip a bit in every protected octet after the fixed headers, one at a time.
    start = 40 + 24  # IPv6 header, Destination Options with the HAO
    for i in range(start, len(wire)):
        try:
            # As the engine does: decode with checksums verified, then unprotect. (AH is
            # verified on the re-encoded packet, so a flipped MH checksum is caught here.)
            bad = decode(_flip(wire, i))
        except DecodeError:
            continue  # AH length/next header or MH checksum: dropped as malformed
        with pytest.raises(SecurityDrop) as exc:
            d.map.unprotect(0.0, bad)
        assert exc.value.reason in ("bad-icv", "unknown-spi", "replay"), i
    flipped_icv = _flip(wire, len(wire) - 1)
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(flipped_icv, verify=False))
    assert exc.value.reason == "bad-icv"
    # The genuine packet is still accepted: failed packets did not move the window.
    assert d.map.unprotect(0.0, decode(wire)).peer == "mn-a"


@pytest.mark.req("SEC-02")
def test_SEC_02_the_home_address_is_covered_by_ah_but_not_by_esp() -> None:
    """AH covers the HAO (RFC 6275 §9.3.1); ESP in transport mode does not, which is why the
    MAP must check that the RCoA belongs to the SA's peer (SEC-03, the PAD)."""
    d = domain("ah-hmac-sha256")
    wire = d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()
    hao_at = 40 + 6
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(_flip(wire, hao_at + 15), verify=False))
    assert exc.value.reason == "bad-icv"
    # The mutable fields are not covered: hop limit, traffic class, flow label.
    mutable = bytearray(wire)
    mutable[7] = 3
    mutable[1] |= 0x0F
    assert d.map.unprotect(0.0, decode(bytes(mutable))).peer == "mn-a"


@pytest.mark.req("SEC-02")
@pytest.mark.parametrize("suite", SUITES)
def test_SEC_02_a_replayed_bu_is_dropped(suite: str) -> None:
    d = domain(suite)
    wire = d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()
    d.map.unprotect(0.0, decode(wire))
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(1.0, decode(wire))
    assert exc.value.reason == "replay"
    assert d.map.counters["replay"] == 1


@pytest.mark.req("SEC-02")
def test_SEC_02_reordering_within_the_window_is_accepted_and_beyond_it_dropped() -> None:
    d = domain()
    wires = [d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode() for _ in range(70)]
    d.map.unprotect(0.0, decode(wires[69]))  # sequence 70 arrives first
    d.map.unprotect(0.0, decode(wires[10]))  # 11: inside the 64-packet window
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(wires[5]))  # 6: left of the window (70 - 64 = 6)
    assert exc.value.reason == "replay"
    d.map.unprotect(0.0, decode(wires[6]))  # 7 is the window's left edge
    with pytest.raises(SecurityDrop):
        d.map.unprotect(0.0, decode(wires[10]))


@pytest.mark.req("SEC-02")
def test_SEC_02_replay_window_rfc4303_3_4_3() -> None:
    w = ReplayWindow(64)
    assert not w.check(0)  # sequence numbers start at 1
    for seq in (1, 2, 5, 3):
        assert w.check(seq)
        w.accept(seq)
    assert not w.check(2) and w.check(4)
    w.accept(200)
    assert w.right == 200 and not w.check(136) and w.check(137)
    assert not w.check(200) and w.check(201)


def test_unknown_spi_is_dropped_and_counted() -> None:
    d = domain()
    other = domain(seed=99)  # different keys and SPIs
    wire = other.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()
    with pytest.raises(SecurityDrop) as exc:
        d.map.unprotect(0.0, decode(wire))
    assert exc.value.reason == "unknown-spi"
    assert d.map.counters == {"unknown-spi": 1}


def test_esp_trailer_padding_rfc4303_2_4() -> None:
    assert trailer(2, 135, 4) == bytes((0, 135))
    assert trailer(0, 135, 4) == bytes((1, 2, 2, 135))
    assert trailer(16, 17, 16) == bytes(range(1, 15)) + bytes((14, 17))


def test_esp_sequence_numbers_start_at_1_and_increase() -> None:
    d = domain()
    seqs = [d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).payload.sequence  # type: ignore[union-attr]
            for _ in range(3)]
    assert seqs == [1, 2, 3]


def test_seed_derived_esp_octets_are_deterministic() -> None:
    for suite in SUITES:
        one = domain(suite, seed=3).mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()
        two = domain(suite, seed=3).mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()
        three = domain(suite, seed=4).mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).encode()
        assert one == two != three


def test_cbc_ivs_differ_per_packet() -> None:
    d = domain("esp-aes-cbc-hmac-sha256")
    ivs = {d.mn_a.protect(0.0, local_bu(LCOA_A, RCOA_A)).payload.data[:16]  # type: ignore[union-attr]
           for _ in range(50)}
    assert len(ivs) == 50


def test_data_traffic_bypasses() -> None:
    d = domain()
    pkt = IPv6Packet(LCOA_A, MAP, UDP(1, 2, b"x"))
    assert d.mn_a.protect(0.0, pkt) is pkt
    assert d.map.unprotect(0.0, decode(pkt.encode())).peer is None
    assert d.map.counters == {"bypass-in": 1}


def test_checksum_inside_esp_uses_the_home_address() -> None:
    """The payload is encoded with the HAO address in the pseudo-header (RFC 6275 §6.1.1), so
    after decryption the UDP checksum verifies; a UDP policy puts it under ESP."""
    from hmipv6.core.ipsec import Policy

    d = domain()
    d.mn_a.add_policy(Policy.make(remote=MAP, protocol=17))
    d.map.add_policy(Policy.make(local=MAP, protocol=17))
    pkt = IPv6Packet(LCOA_A, MAP, UDP(1, 2, b"hello"),
                     (DestinationOptions((HomeAddressOption(RCOA_A),)),))
    got = d.map.unprotect(0.0, decode(d.mn_a.protect(0.0, pkt).encode()))
    assert got.packet == pkt


@pytest.mark.req("SEC-07")
@pytest.mark.parametrize("suite", SUITES)
def test_SEC_07_mn_ha_binding_update_protected_by_its_own_sa(suite: str) -> None:
    """RFC 4140 §12.3: MN–HA security unchanged: the BU to the HA (source RCoA, HAO = home
    address, tunnelled by the MAP) is protected with the MN–HA SA keyed for the home
    address; the HA drops it unprotected or with a bad ICV."""
    prov = Provisioner(5, suite)
    mn, ha = IPsec(name="mn-a"), IPsec(name="ha")
    prov.mn_ha(mn, "mn-a", ha, "ha", HOA_A, HA)
    bu = IPv6Packet(RCOA_A, HA, raw_bu(), (DestinationOptions((HomeAddressOption(HOA_A),)),))
    wire = mn.protect(0.0, bu).encode()
    with pytest.raises(SecurityDrop) as exc:
        ha.unprotect(0.0, decode(bu.encode()))
    assert exc.value.reason == "unprotected"
    with pytest.raises(SecurityDrop) as exc:
        ha.unprotect(0.0, decode(_flip(wire, len(wire) - 1), verify=False))
    assert exc.value.reason == "bad-icv"
    assert ha.unprotect(0.0, decode(wire)).peer == "mn-a"
    assert ha.counters == {"unprotected": 1, "bad-icv": 1, f"{suite[:suite.index('-')]}-in": 1}


# RFC 4231 §4: HMAC-SHA-256 test cases; our ICV is the first 128 bits (RFC 4868 §2.3).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c7"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a7"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944"),
]


@pytest.mark.parametrize(("key", "data", "icv"), RFC4231)
def test_hmac_sha256_128_rfc4231_vectors(key: bytes, data: bytes, icv: str) -> None:
    mac = HmacSha256_128(key, any_key_length=True)
    assert mac.icv(data).hex() == icv
    assert mac.verify(bytes.fromhex(icv), data)


def test_hmac_sha256_128_requires_a_256_bit_key_rfc4868() -> None:
    from hmipv6.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        HmacSha256_128(b"Jefe")
