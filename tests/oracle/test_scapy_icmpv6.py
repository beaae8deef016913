"""scapy as an independent oracle for the ICMPv6 / Neighbor Discovery codecs (W-01, W-07, W-09).

For every golden vector, the same packet built with scapy (every field set explicitly) and
with hmipv6 gives identical octets, those octets are the checked-in ones of
``tests/wire/vectors_icmpv6.py``, and each side decodes the other's octets to the same field
values. Hypothesis then drives random RA / PIO / MAP / NA / HA-information values through both.

scapy 2.8 quirks met here (each builder sets every field so none of them leaks in):
- ``ICMPv6ND_RA.prf`` defaults to 1 (High), not 0 (Medium); ``routerlifetime`` to 1800.
- ``ICMPv6NDOptMAP`` defaults ``dist=1, pref=15, R=1, validlifetime=0xffffffff``; its ``len``
  is neither computed (``len=5`` is sent as 5 with a 24-octet body) nor honoured on dissection
  (24 octets are parsed whatever ``len`` says, and the rest becomes the next option), so scapy
  cannot be used to check W-02; hmipv6 rejects such an option.
- ``ICMPv6ND_NA`` defaults ``R=1, O=1``; ``ICMPv6NDOptPrefixInfo`` defaults ``L=1, A=1`` and both
  lifetimes 0xffffffff; ``ICMPv6NDOptHAInfo`` defaults ``lifetime=1``.
- ``ICMPv6HAADRequest`` / ``ICMPv6HAADReply`` carry an ``R`` bit (from a Mobile IPv6 draft; RFC
  6275 §6.5-§6.6 has 16 reserved bits) defaulting to 1, i.e. reserved = 0x8000 on the wire.
- ``ICMPv6MPAdv.flags`` (M, O) defaults to 2, i.e. M set.
- ``ICMPv6NDOptSrcLLAddr`` without an Ethernet layer below defaults to 00:00:00:00:00:00.
- ``ICMPv6DestUnreach`` / ``ICMPv6TimeExceeded`` split the unused word into RFC 4884's
  ``length`` octet and 3 ``unused`` octets (hmipv6 keeps the 32 bits as ``unused``).
- ``ICMPv6NDOptHAInfo.pref`` is unsigned, as RFC 6275 §7.4 defines it (hmipv6 agrees).

Run as a script to print the vectors again: ``python -m tests.oracle.test_scapy_icmpv6``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from ipaddress import IPv6Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmipv6.wire import IPv6Packet, decode
from hmipv6.wire import icmpv6 as I
from tests.wire import vectors_icmpv6 as V

if os.environ.get("HMIPV6_REQUIRE_ORACLES") == "1":
    import scapy  # noqa: F401  (CI: a missing oracle fails the run)
else:
    pytest.importorskip("scapy")

from scapy.layers.inet import UDP as SUDP
from scapy.layers.inet6 import (
    HAO,
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6HAADReply,
    ICMPv6HAADRequest,
    ICMPv6MPAdv,
    ICMPv6MPSol,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_Redirect,
    ICMPv6ND_RS,
    ICMPv6NDOptAdvInterval,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptHAInfo,
    ICMPv6NDOptMAP,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptRedirectedHdr,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrRouting,
)

pytestmark = pytest.mark.oracle

LL_R, LL_MN, MAC_R, MAC_MN = "fe80::1", "fe80::200:ff:fe00:2", "02:00:00:00:00:01", "02:00:00:00:00:02"
PFX, MAP, HA, HA2 = "2001:db8:1::", "2001:db8:ff::1", "2001:db8:10::1", "2001:db8:10::2"
HOA, COA, CN = "2001:db8:10::100", "2001:db8:1::200:ff:fe00:2", "2001:db8:99::1"


def invoking() -> bytes:
    return bytes(IPv6(src=COA, dst=CN, hlim=64) / SUDP(sport=1234, dport=5678) / b"hello")


def pio(**kw: Any) -> Any:
    f = {"type": 3, "len": 4, "prefixlen": 64, "L": 1, "A": 1, "R": 0, "res1": 0,
         "validlifetime": 86400, "preferredlifetime": 14400, "res2": 0, "prefix": PFX} | kw
    return ICMPv6NDOptPrefixInfo(**f)


def map_opt(**kw: Any) -> Any:
    # Quirk: every field explicit, len included (scapy neither computes nor checks it).
    f = {"type": 23, "len": 3, "dist": 1, "pref": 10, "R": 1, "res": 0, "validlifetime": 3600,
         "addr": MAP} | kw
    return ICMPv6NDOptMAP(**f)


def ra(**kw: Any) -> Any:
    # Quirk: prf defaults to High (1) in scapy; RFC 4191's default is Medium (0).
    f = {"code": 0, "chlim": 64, "M": 0, "O": 0, "H": 0, "prf": 0, "P": 0, "res": 0,
         "routerlifetime": 1800, "reachabletime": 0, "retranstimer": 0} | kw
    return ICMPv6ND_RA(**f)


SCAPY: dict[str, Callable[[], Any]] = {
    "rs": lambda: IPv6(src=LL_MN, dst="ff02::2", hlim=255) / ICMPv6ND_RS(code=0, res=0)
    / ICMPv6NDOptSrcLLAddr(type=1, len=1, lladdr=MAC_MN),
    "ra": lambda: IPv6(src=LL_R, dst="ff02::1", hlim=255)
    / ra(O=1, H=1, reachabletime=30000, retranstimer=1000)
    / ICMPv6NDOptSrcLLAddr(type=1, len=1, lladdr=MAC_R) / ICMPv6NDOptMTU(type=5, len=1, res=0, mtu=1500)
    / pio() / ICMPv6NDOptAdvInterval(type=7, len=1, res=0, advint=1500)
    / ICMPv6NDOptHAInfo(type=8, len=1, res=0, pref=10, lifetime=1800)  # quirk: lifetime defaults 1
    / map_opt(),
    "ra_low_pref": lambda: IPv6(src=LL_R, dst="ff02::1", hlim=255)
    / ra(chlim=0, M=1, prf=3, P=1, routerlifetime=0)
    / pio(L=0, R=1, validlifetime=0xFFFFFFFF, preferredlifetime=0, prefix="2001:db8:1::1")
    / map_opt(dist=15, pref=0, R=0, validlifetime=0),
    "ns": lambda: IPv6(src=LL_MN, dst="ff02::1:ff00:1", hlim=255)
    / ICMPv6ND_NS(code=0, res=0, tgt="2001:db8:1::1") / ICMPv6NDOptSrcLLAddr(type=1, len=1, lladdr=MAC_MN),
    "ns_dad": lambda: IPv6(src="::", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(code=0, res=0, tgt=COA),
    # Quirk: NA defaults R=1 O=1.
    "na": lambda: IPv6(src=LL_R, dst=LL_MN, hlim=255)
    / ICMPv6ND_NA(code=0, R=1, S=1, O=1, res=0, tgt="2001:db8:1::1")
    / ICMPv6NDOptDstLLAddr(type=2, len=1, lladdr=MAC_R),
    "redirect": lambda: IPv6(src=LL_R, dst=LL_MN, hlim=255)
    / ICMPv6ND_Redirect(code=0, res=0, tgt="fe80::3", dst=CN)
    / ICMPv6NDOptDstLLAddr(type=2, len=1, lladdr="02:00:00:00:00:03")
    / ICMPv6NDOptRedirectedHdr(type=4, len=7, res=b"\0" * 6, pkt=invoking()[:48]),
    "echo_request": lambda: IPv6(src=LL_R, dst=MAP, hlim=64)
    / ICMPv6EchoRequest(code=0, id=0x1234, seq=7, data=b"hmipv6 probe"),
    "echo_reply": lambda: IPv6(src=MAP, dst=LL_R, hlim=64)
    / ICMPv6EchoReply(code=0, id=0x1234, seq=7, data=b"hmipv6 probe"),
    # Quirk: the unused word is RFC 4884's length octet plus 3 unused octets in scapy.
    "dest_unreach": lambda: IPv6(src=MAP, dst=COA, hlim=64)
    / ICMPv6DestUnreach(code=3, length=0, unused=0) / invoking(),
    "packet_too_big": lambda: IPv6(src=MAP, dst=COA, hlim=64) / ICMPv6PacketTooBig(code=0, mtu=1280)
    / invoking(),
    "time_exceeded": lambda: IPv6(src=MAP, dst=COA, hlim=64)
    / ICMPv6TimeExceeded(code=0, length=0, unused=0) / invoking(),
    "param_problem": lambda: IPv6(src=MAP, dst=COA, hlim=64) / ICMPv6ParamProblem(code=1, ptr=6)
    / invoking(),
    # Quirk: scapy's HAAD messages have an R bit defaulting to 1 (reserved 0x8000).
    "haad_request": lambda: IPv6(src=COA, dst="2001:db8:10::fdff:ffff:ffff:fffe", hlim=64)
    / ICMPv6HAADRequest(code=0, id=0x4242, R=0, res=0),
    "haad_reply": lambda: IPv6(src=HA, dst=COA, hlim=64)
    / ICMPv6HAADReply(code=0, id=0x4242, R=0, res=0, addresses=[HA, HA2]),
    "mps_hao": lambda: IPv6(src=COA, dst=HA, hlim=64) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)])
    / ICMPv6MPSol(code=0, id=0x5151, res=0),
    # Quirk: MPAdv flags default to 2 (M set); routing type defaults to 0.
    "mpa_rh2": lambda: IPv6(src=HA, dst=COA, hlim=64)
    / IPv6ExtHdrRouting(type=2, segleft=1, reserved=0, addresses=[HOA])
    / ICMPv6MPAdv(code=0, id=0x5151, flags=0, res=0)
    / pio(R=1, prefix=HA),
}

# scapy layer -> [(scapy field, hmipv6 attribute, conversion of the scapy value)]
_same: Callable[[Any], Any] = lambda v: v  # noqa: E731
_mac: Callable[[Any], Any] = lambda v: bytes.fromhex(v.replace(":", ""))  # noqa: E731
_ip: Callable[[Any], Any] = IPv6Address
FIELDS: dict[type, list[tuple[str, str, Callable[[Any], Any]]]] = {
    ICMPv6ND_RA: [("chlim", "cur_hop_limit", _same), ("M", "managed", bool), ("O", "other", bool),
                  ("H", "home_agent", bool), ("prf", "preference", _same),
                  ("routerlifetime", "router_lifetime", _same),
                  ("reachabletime", "reachable_time", _same), ("retranstimer", "retrans_timer", _same)],
    ICMPv6ND_RS: [("res", "reserved", _same)],
    ICMPv6ND_NS: [("tgt", "target", _ip), ("res", "reserved", _same)],
    ICMPv6ND_NA: [("tgt", "target", _ip), ("R", "router", bool), ("S", "solicited", bool),
                  ("O", "override", bool)],
    ICMPv6ND_Redirect: [("tgt", "target", _ip), ("dst", "destination", _ip)],
    ICMPv6EchoRequest: [("id", "identifier", _same), ("seq", "sequence", _same), ("data", "data", _same)],
    ICMPv6EchoReply: [("id", "identifier", _same), ("seq", "sequence", _same), ("data", "data", _same)],
    ICMPv6DestUnreach: [("code", "code", _same)],
    ICMPv6PacketTooBig: [("mtu", "mtu", _same)],
    ICMPv6TimeExceeded: [("code", "code", _same)],
    ICMPv6ParamProblem: [("code", "code", _same), ("ptr", "pointer", _same)],
    ICMPv6HAADRequest: [("id", "identifier", _same)],
    ICMPv6HAADReply: [("id", "identifier", _same),
                      ("addresses", "addresses", lambda v: tuple(map(IPv6Address, v)))],
    ICMPv6MPSol: [("id", "identifier", _same)],
    ICMPv6MPAdv: [("id", "identifier", _same), ("flags", "managed", lambda v: bool(v & 2)),
                  ("flags", "other", lambda v: bool(v & 1))],
    ICMPv6NDOptSrcLLAddr: [("lladdr", "lladdr", _mac)],
    ICMPv6NDOptDstLLAddr: [("lladdr", "lladdr", _mac)],
    ICMPv6NDOptMTU: [("mtu", "mtu", _same)],
    ICMPv6NDOptPrefixInfo: [("prefixlen", "prefix_length", _same), ("L", "on_link", bool),
                            ("A", "autonomous", bool), ("R", "router_address", bool),
                            ("validlifetime", "valid_lifetime", _same),
                            ("preferredlifetime", "preferred_lifetime", _same),
                            ("prefix", "prefix", _ip)],
    ICMPv6NDOptAdvInterval: [("advint", "interval", _same)],
    ICMPv6NDOptHAInfo: [("pref", "preference", _same), ("lifetime", "lifetime", _same)],
    ICMPv6NDOptMAP: [("dist", "dist", _same), ("pref", "pref", _same), ("R", "r", bool),
                     ("res", "reserved", _same), ("validlifetime", "valid_lifetime", _same),
                     ("addr", "address", _ip)],
    ICMPv6NDOptRedirectedHdr: [],
}


def compare_fields(scapy_pkt: Any, ours: IPv6Packet) -> int:
    """Walk scapy's ICMPv6 layers (message, then options) beside hmipv6's message and options;
    assert every mapped field agrees. Returns how many layers were compared."""
    msg = ours.payload
    ours_layers: list[object] = [msg, *getattr(msg, "options", ())]
    layers = []
    layer = scapy_pkt
    while layer is not None and layer.__class__.__name__ != "NoPayload":
        if type(layer) in FIELDS:
            layers.append(layer)
        layer = layer.payload if layer.payload else None
    assert len(layers) == len(ours_layers), (layers, ours_layers)
    for s, o in zip(layers, ours_layers, strict=True):
        for sf, of, conv in FIELDS[type(s)]:
            assert conv(getattr(s, sf)) == getattr(o, of), (type(s).__name__, sf, of)
        if isinstance(s, ICMPv6NDOptRedirectedHdr):
            assert isinstance(o, I.RedirectedHeader) and bytes(s.pkt) == o.packet
    return len(layers)


@pytest.mark.req("W-09", "W-01", "W-07", "W-11")
@pytest.mark.parametrize("name", sorted(V.VECTORS))
def test_W09_scapy_and_hmipv6_build_the_same_octets_and_read_each_other(name: str) -> None:
    vec = V.VECTORS[name]
    theirs = bytes(SCAPY[name]())
    ours = vec.packet.encode()
    assert theirs == ours == vec.octets
    assert decode(theirs) == vec.packet
    n = compare_fields(IPv6(ours), vec.packet)
    assert n >= 1


@pytest.mark.req("W-07")
@pytest.mark.parametrize("name", ["mps_hao", "mpa_rh2"])
def test_W07_scapy_agrees_on_the_effective_address_checksum(name: str) -> None:
    # Checked on a freshly built scapy packet: re-computing the checksum of a *dissected*
    # packet whose HAO follows padding makes scapy fall back to the care-of address (quirk).
    from hmipv6.wire.checksum import checksum

    built = SCAPY[name]()
    kind = ICMPv6MPSol if name == "mps_hao" else ICMPv6MPAdv
    theirs = IPv6(bytes(built))[kind].cksum
    ours = V.VECTORS[name].octets
    assert theirs == int.from_bytes(ours[64 + 2 : 64 + 4], "big")
    # ... and that is not the checksum over the IPv6 header's own (care-of) addresses.
    msg = ours[64:66] + b"\0\0" + ours[68:]
    assert checksum(ours[8:24], ours[24:40], 58, msg) != theirs


@pytest.mark.req("W-01")
def test_W01_scapy_quirk_map_len_is_not_honoured_but_hmipv6_rejects_it() -> None:
    from hmipv6.errors import DecodeError

    bad = bytes(IPv6(src=LL_R, dst="ff02::1", hlim=255) / ra() / map_opt(len=4) / (b"\0" * 8))
    sp = IPv6(bad)
    assert sp[ICMPv6NDOptMAP].len == 4 and sp[ICMPv6NDOptMAP].dist == 1  # parsed regardless
    with pytest.raises(DecodeError) as ei:
        decode(bad)
    assert ei.value.field == "icmpv6.option.map.length" and ei.value.offset == 40 + 16 + 1


addrs = st.integers(0, (1 << 128) - 1).map(IPv6Address)
u32 = st.integers(0, 0xFFFFFFFF)


@pytest.mark.req("W-01", "W-09", "W-11")
@settings(max_examples=150, deadline=None)
@given(dist=st.integers(1, 15), pref=st.integers(0, 15), r=st.booleans(), res=st.integers(0, 127),
       life=u32, address=addrs, plen=st.integers(0, 128), lar=st.tuples(*[st.booleans()] * 3),
       valid=u32, preferred=u32, prefix=addrs, chlim=st.integers(0, 255),
       mohp=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.integers(0, 3)),
       hapref=st.integers(0, 0xFFFF), halife=st.integers(0, 0xFFFF), advint=u32)
def test_W01_W09_random_ra_with_pio_map_hainfo_identical_to_scapy(
        dist: int, pref: int, r: bool, res: int, life: int, address: IPv6Address, plen: int,
        lar: tuple[bool, bool, bool], valid: int, preferred: int, prefix: IPv6Address, chlim: int,
        mohp: tuple[bool, bool, bool, int], hapref: int, halife: int, advint: int) -> None:
    m, o, h, prf = mohp
    ours = IPv6Packet(IPv6Address(LL_R), IPv6Address("ff02::1"), I.RouterAdvertisement(
        chlim, m, o, h, prf, 600, 0, 0, options=(
            I.PrefixInformation(plen, *lar, valid, preferred, prefix),
            I.AdvertisementInterval(advint), I.HomeAgentInformation(hapref, halife),
            I.MapOption(dist, pref, r, life, address, res))), hop_limit=255)
    theirs = IPv6(src=LL_R, dst="ff02::1", hlim=255) / ra(
        chlim=chlim, M=int(m), O=int(o), H=int(h), prf=prf, routerlifetime=600) / pio(
        prefixlen=plen, L=int(lar[0]), A=int(lar[1]), R=int(lar[2]), validlifetime=valid,
        preferredlifetime=preferred, prefix=str(prefix)) / ICMPv6NDOptAdvInterval(
        type=7, len=1, res=0, advint=advint) / ICMPv6NDOptHAInfo(
        type=8, len=1, res=0, pref=hapref, lifetime=halife) / map_opt(
        dist=dist, pref=pref, R=int(r), res=res, validlifetime=life, addr=str(address))
    raw = ours.encode()
    assert bytes(theirs) == raw
    assert decode(raw) == ours
    assert compare_fields(IPv6(raw), ours) == 5


@pytest.mark.req("W-09", "W-11")
@settings(max_examples=100, deadline=None)
@given(target=addrs, flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
       mac=st.binary(min_size=6, max_size=6))
def test_W09_random_neighbor_advertisement_identical_to_scapy(
        target: IPv6Address, flags: tuple[bool, bool, bool], mac: bytes) -> None:
    ours = IPv6Packet(IPv6Address(LL_R), IPv6Address(LL_MN), I.NeighborAdvertisement(
        target, *flags, options=(I.TargetLinkLayerAddress(mac),)), hop_limit=255)
    theirs = IPv6(src=LL_R, dst=LL_MN, hlim=255) / ICMPv6ND_NA(
        code=0, R=int(flags[0]), S=int(flags[1]), O=int(flags[2]), res=0, tgt=str(target)) \
        / ICMPv6NDOptDstLLAddr(type=2, len=1, lladdr=":".join(f"{b:02x}" for b in mac))
    raw = ours.encode()
    assert bytes(theirs) == raw
    assert decode(raw) == ours
    compare_fields(IPv6(raw), ours)


if __name__ == "__main__":
    print("INVOKING =", invoking().hex())
    for key, build in SCAPY.items():
        print(f"{key!r}: {bytes(build()).hex()!r},")
