"""The Mobility Header against scapy 2.8 (W-03, W-04, W-05, W-07, W-11).

For every golden vector: scapy's build of the message is byte-identical to hmipv6's, scapy
dissects hmipv6's octets to the fields of the hmipv6 value, and hmipv6 decodes scapy's octets to
that same value. tshark does not check the Mobility Header checksum (ORACLES.md), so the
checksum is checked against scapy and against a plain loop over 16-bit words.

scapy quirks met here (each one is why a field is set explicitly in ``vectors_mobility.SCAPY``):
- ``MIP6MH_BU`` defaults ``flags`` to KHA and ``mhtime`` to 3; ``MIP6MH_BA`` defaults flags to K.
- ``mhtime`` counts 4-second units; hmipv6 stores seconds.
- BU ``flags`` is a 7-bit field named ``PRMKLHA`` (least significant bit first) followed by a
  9-bit ``reserved``; BA ``flags`` is 3 bits ``PRK`` followed by a 5-bit ``res2``.
- ``MIP6OptNonceIndices`` and ``MIP6OptBindingAuthData`` default ``olen`` to 16 (wrong: 4 and
  12); the authenticator is a 96-bit integer field, so other lengths cannot be built.
- ``MIP6MH_HoTI.reserved`` is an integer but ``MIP6MH_CoTI.reserved`` a 2-octet string.
- ``MIP6MH_Generic`` (unknown MH Types) dissects one 8-octet unit too little message data.
- Re-computing the checksum of a *dissected* BU whose HAO follows padding gives a wrong value
  (checked below): compare the dissected ``cksum`` field, never a rebuild of a dissection.
"""

from __future__ import annotations

import os

import pytest

from hmipv6.wire import (
    AlternateCareOfAddress,
    BAFlags,
    BindingAcknowledgement,
    BindingAuthorizationData,
    BindingError,
    BindingRefreshAdvice,
    BindingRefreshRequest,
    BindingUpdate,
    BUFlags,
    CareOfTest,
    CareOfTestInit,
    HomeTest,
    HomeTestInit,
    IPv6Packet,
    MobilityMessage,
    MobilityOption,
    NonceIndices,
    Pad1,
    PadN,
    UnknownMobilityMessage,
    UnknownMobilityOption,
    addr,
    decode,
)
from tests.wire.test_mobility import VALUES, hao, mh_checksum, mh_of, rh2
from tests.wire.vectors_mobility import LCOA, MAP, PACKETS, RCOA, SCAPY

if os.environ.get("HMIPV6_REQUIRE_ORACLES") == "1":
    import scapy  # noqa: F401  (a missing oracle fails the CI run)
else:
    pytest.importorskip("scapy")

from scapy.layers import inet6 as s6
from scapy.packet import Packet

pytestmark = pytest.mark.oracle

SCAPY_MH = {
    0: s6.MIP6MH_BRR, 1: s6.MIP6MH_HoTI, 2: s6.MIP6MH_CoTI, 3: s6.MIP6MH_HoT, 4: s6.MIP6MH_CoT,
    5: s6.MIP6MH_BU, 6: s6.MIP6MH_BA, 7: s6.MIP6MH_BE,
}


def build(expr: str) -> Packet:
    return eval(expr, vars(s6).copy())  # type: ignore[no-any-return]


def scapy_mh(packet: Packet) -> Packet:
    layer: Packet | None = packet
    while layer is not None and not isinstance(layer, (*SCAPY_MH.values(), s6.MIP6MH_Generic)):
        layer = layer.payload if layer.payload else None
    assert layer is not None, packet.summary()
    return layer


def scapy_options(mh: Packet) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for o in getattr(mh, "options", []) or []:
        if isinstance(o, s6.MIP6OptBRAdvice):
            out.append(("bra", o.rinter * 4))
        elif isinstance(o, s6.MIP6OptAltCoA):
            out.append(("altcoa", addr(o.acoa)))
        elif isinstance(o, s6.MIP6OptNonceIndices):
            out.append(("ni", o.hni, o.coni))
        elif isinstance(o, s6.MIP6OptBindingAuthData):
            out.append(("bad", o.authenticator.to_bytes(o.olen, "big")))
        elif isinstance(o, s6.MIP6OptUnknown):
            out.append(("unknown", o.otype, bytes(o.odata)))
        # Pad1/PadN: scapy lists the padding it dissects; compared through the octets.
    return out


def our_options(opts: tuple[MobilityOption, ...]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for o in opts:
        if isinstance(o, BindingRefreshAdvice):
            out.append(("bra", o.refresh_interval))
        elif isinstance(o, AlternateCareOfAddress):
            out.append(("altcoa", o.address))
        elif isinstance(o, NonceIndices):
            out.append(("ni", o.home_nonce_index, o.care_of_nonce_index))
        elif isinstance(o, BindingAuthorizationData):
            out.append(("bad", o.authenticator))
        elif isinstance(o, UnknownMobilityOption):
            out.append(("unknown", o.option_type, o.data))
        else:
            assert isinstance(o, Pad1 | PadN)
    return out


def scapy_fields(mh: Packet) -> dict[str, object]:
    """scapy's view of a Mobility Header, in hmipv6's units and names."""
    f: dict[str, object] = {"payload_proto": mh.nh, "header_reserved": mh.res or 0,
                            "checksum": mh.cksum}
    if isinstance(mh, s6.MIP6MH_BU):
        f.update(sequence=mh.seq, flags=(int(mh.flags) << 9) | mh.reserved,
                 lifetime=mh.mhtime * 4)
    elif isinstance(mh, s6.MIP6MH_BA):
        f.update(status=mh.status, flags=(int(mh.flags) << 5) | (mh.res2 or 0), sequence=mh.seq,
                 lifetime=mh.mhtime * 4)
    elif isinstance(mh, s6.MIP6MH_BE):
        f.update(status=mh.status, home_address=addr(mh.ha), reserved=mh.reserved)
    elif isinstance(mh, s6.MIP6MH_BRR):
        f.update(reserved=mh.res2 or 0)
    elif isinstance(mh, s6.MIP6MH_HoTI | s6.MIP6MH_CoTI):
        # scapy quirk: HoTI's ``reserved`` is an int, CoTI's a 2-octet string.
        res = mh.reserved or 0
        f.update(cookie=bytes(mh.cookie),
                 reserved=int.from_bytes(res, "big") if isinstance(res, bytes) else res)
    elif isinstance(mh, s6.MIP6MH_HoT | s6.MIP6MH_CoT):
        f.update(index=mh.index, cookie=bytes(mh.cookie), keygen_token=bytes(mh.token))
    elif isinstance(mh, s6.MIP6MH_Generic):
        # scapy quirk: Generic dissects 8 * Header Len - 6 octets of message data (one 8-octet
        # unit short) and leaves the rest as its payload.
        f.update(mh_type=mh.mhtype, data=bytes(mh.msg) + bytes(mh.payload))
    if not isinstance(mh, s6.MIP6MH_Generic):
        f["options"] = scapy_options(mh)
    return f


def our_fields(m: MobilityMessage, checksum: int) -> dict[str, object]:
    f: dict[str, object] = {"payload_proto": m.payload_proto, "header_reserved": m.header_reserved,
                            "checksum": checksum}
    if isinstance(m, BindingUpdate):
        f.update(sequence=m.sequence, flags=int(m.flags), lifetime=m.lifetime)
    elif isinstance(m, BindingAcknowledgement):
        f.update(status=int(m.status), flags=int(m.flags), sequence=m.sequence, lifetime=m.lifetime)
    elif isinstance(m, BindingError):
        f.update(status=int(m.status), home_address=m.home_address, reserved=m.reserved)
    elif isinstance(m, BindingRefreshRequest):
        f.update(reserved=m.reserved)
    elif isinstance(m, HomeTestInit | CareOfTestInit):
        f.update(cookie=m.cookie, reserved=m.reserved)
    elif isinstance(m, HomeTest):
        f.update(index=m.home_nonce_index, cookie=m.cookie, keygen_token=m.keygen_token)
    elif isinstance(m, CareOfTest):
        f.update(index=m.care_of_nonce_index, cookie=m.cookie, keygen_token=m.keygen_token)
    elif isinstance(m, UnknownMobilityMessage):
        f.update(mh_type=m.mh_type, data=m.data)
    if not isinstance(m, UnknownMobilityMessage):
        f["options"] = our_options(m.options)
    return f


@pytest.mark.req("W-03", "W-04", "W-05", "W-11")
@pytest.mark.parametrize("name", sorted(SCAPY))
def test_W03_W04_W05_scapy_and_hmipv6_build_the_same_octets(name: str) -> None:
    theirs = bytes(build(SCAPY[name]))
    assert theirs == bytes.fromhex(PACKETS[name])  # the checked-in vector is still scapy's
    assert VALUES[name].encode() == theirs


@pytest.mark.req("W-03", "W-04", "W-05", "W-11")
@pytest.mark.parametrize("name", sorted(SCAPY))
def test_W03_W04_W05_each_decodes_the_others_octets_to_the_same_fields(name: str) -> None:
    ours = VALUES[name].encode()
    # scapy dissects hmipv6's octets ...
    _, mh = mh_of(ours)
    seen = scapy_fields(scapy_mh(s6.IPv6(ours)))
    assert seen == our_fields(VALUES[name].payload, int.from_bytes(mh[4:6], "big"))  # type: ignore[arg-type]
    # ... and hmipv6 decodes scapy's octets (checksum verified) to the fields scapy was told.
    theirs = bytes(build(SCAPY[name]))
    decoded = decode(theirs)
    assert decoded == VALUES[name]
    _, their_mh = mh_of(theirs)
    told = scapy_fields(scapy_mh(s6.IPv6(theirs)))
    assert our_fields(decoded.payload, int.from_bytes(their_mh[4:6], "big")) == told  # type: ignore[arg-type]


@pytest.mark.req("W-07")
@pytest.mark.parametrize("name", sorted(SCAPY))
def test_W07_checksum_agrees_with_scapy_and_a_word_loop(name: str) -> None:
    packet = VALUES[name]
    ours = packet.encode()
    _, mh = mh_of(ours)
    ours_ck = int.from_bytes(mh[4:6], "big")
    scapy_ck = scapy_mh(s6.IPv6(bytes(build(SCAPY[name])))).cksum
    loop_ck = mh_checksum(packet.effective_src, packet.effective_dst, mh)
    assert ours_ck == scapy_ck == loop_ck


@pytest.mark.req("W-07")
def test_W07_scapy_quirk_rechecksumming_a_dissected_bu_with_hao() -> None:
    # Documented quirk: a rebuild of scapy's dissection of a BU whose HAO follows padding gets a
    # checksum over the care-of address. hmipv6 and scapy's own build agree on the right one.
    b = bytes.fromhex(PACKETS["bu_local"])
    dissected = s6.IPv6(b)
    right = dissected[s6.MIP6MH_BU].cksum
    assert right == mh_checksum(RCOA, MAP, mh_of(b)[1])
    dissected[s6.MIP6MH_BU].cksum = None
    rebuilt = s6.IPv6(bytes(dissected))[s6.MIP6MH_BU].cksum
    if rebuilt == right:
        pytest.skip("scapy no longer has the HAO re-checksum quirk; drop this note")
    assert rebuilt == mh_checksum(LCOA, MAP, mh_of(b)[1])


def _bu_flags_from_scapy(bits: int) -> BUFlags:
    return BUFlags(bits << 9)


@pytest.mark.req("W-03", "W-04", "W-11")
@pytest.mark.parametrize("seq,bits,units", [(0, 0, 0), (1, 0x44, 100), (65535, 0x7F, 65535),
                                            (4140, 0x01, 7), (300, 0x22, 1)])
def test_W03_W04_bu_and_ba_over_a_range_of_fields(seq: int, bits: int, units: int) -> None:
    bu = s6.IPv6(src=LCOA, dst=MAP) / s6.IPv6ExtHdrDestOpt(options=[s6.HAO(hoa=RCOA)]) / s6.MIP6MH_BU(
        res=0, seq=seq, flags=bits, reserved=0, mhtime=units)
    ours = IPv6Packet(addr(LCOA), addr(MAP),
                      BindingUpdate(seq, _bu_flags_from_scapy(bits), units * 4), hao(RCOA))
    assert ours.encode() == bytes(bu)
    assert decode(bytes(bu)) == ours
    ba = s6.IPv6(src=MAP, dst=LCOA) / s6.IPv6ExtHdrRouting(type=2, segleft=1, addresses=[RCOA]) / \
        s6.MIP6MH_BA(res=0, status=(seq % 256), flags=bits & 7, res2=0, seq=seq, mhtime=units)
    ours_ba = IPv6Packet(addr(MAP), addr(LCOA),
                         BindingAcknowledgement(seq % 256, BAFlags((bits & 7) << 5), seq, units * 4),
                         rh2(RCOA))
    assert ours_ba.encode() == bytes(ba)
    assert decode(bytes(ba)) == ours_ba
