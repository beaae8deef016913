"""Golden Mobility Header vectors: whole IPv6 packets, built once with scapy 2.8.0.

``PACKETS[name]`` is the packet's hex; ``SCAPY[name]`` the scapy expression that built it,
evaluated with ``from scapy.layers.inet6 import *`` by ``tests/oracle/test_scapy_mobility.py``,
which checks that scapy still builds exactly these octets. ``tests/wire/test_mobility.py``
checks hmipv6 against the hex alone, so unit tests need no scapy (and the shared fuzz harness,
``tests/wire/fuzzing.py``, mutates every packet here). Every field is set explicitly because of
scapy's defaults (BU flags KHA and lifetime 3, BA flags K, Nonce Indices / Binding
Authorization Data option length 16; see ORACLES.md). In scapy, ``mhtime`` counts 4-second
units, BU ``flags`` is 7 bits named ``PRMKLHA`` and BA ``flags`` 3 bits named ``PRK``, and the
Binding Authorization Data authenticator is a 96-bit integer, not bytes.

Addresses: a MAP domain (MAP, RCoA, LCoA), a home network (HA, HoA) and a correspondent (CN).
"""

from __future__ import annotations

MAP = "2001:db8:100::1"
RCOA = "2001:db8:100::10"
LCOA = "2001:db8:a::10"
HA = "2001:db8:1::1"
HOA = "2001:db8:1::10"
CN = "2001:db8:2::20"

PACKETS: dict[str, str] = {
    "brr": (
        "6000000000202b4020010db800010000000000000000000120010db80100000000000000000000108702020100000000"
        "20010db80001000000000000000000103b00000068eb0000"
    ),
    "hoti": (
        "600000000010874020010db800010000000000000000001020010db80002000000000000000000203b01010057ae0000"
        "0102030405060708"
    ),
    "coti": (
        "600000000010874020010db801000000000000000000001020010db80002000000000000000000203b010200156f0000"
        "1112131415161718"
    ),
    "hot": (
        "600000000018874020010db800020000000000000000002020010db80001000000000000000000103b0203000d701234"
        "0102030405060708484b544f4b454e21"
    ),
    "cot": (
        "600000000018874020010db800020000000000000000002020010db80100000000000000000000103b0204009f434321"
        "1112131415161718434b544f4b454e21"
    ),
    "bu_local": (
        "6000000000283c4020010db8000a0000000000000000001020010db8010000000000000000000001870201020000c910"
        "20010db80100000000000000000000103b010500d87c00018800006401020000"
    ),
    "bu_home_altcoa": (
        "6000000000383c4020010db801000000000000000000001020010db8000100000000000000000001870201020000c910"
        "20010db80001000000000000000000103b030500605e0002d00000960100031020010db8010000000000000000000010"
    ),
    "bu_cn_rr": (
        "6000000000383c4020010db801000000000000000000001020010db8000200000000000000000020870201020000c910"
        "20010db80001000000000000000000103b030500787400030000003c040400050006050ca5a5a5a5a5a5a5a5a5a5a5a5"
    ),
    "bu_bad_only": (
        "6000000000383c4020010db801000000000000000000001020010db8000200000000000000000020870201020000c910"
        "20010db80001000000000000000000103b0305007bba000400000000010400000000050ca5a5a5a5a5a5a5a5a5a5a5a5"
    ),
    "bu_nemo_reserved": (
        "6000000000283c4020010db801000000000000000000001020010db8000100000000000000000001870201020000c910"
        "20010db80001000000000000000000103b0105009bdaffffc705ffff01020000"
    ),
    "ba_local": (
        "6000000000282b4020010db801000000000000000000000120010db8000a000000000000000000108702020100000000"
        "20010db80100000000000000000000103b0106005f7d00000001006401020000"
    ),
    "ba_home_bra": (
        "6000000000282b4020010db800010000000000000000000120010db80100000000000000000000108702020100000000"
        "20010db80001000000000000000000103b0106005e7d0180000200960202004b"
    ),
    "ba_bra_altcoa": (
        "6000000000402b4020010db800010000000000000000000120010db80100000000000000000000108702020100000000"
        "20010db80001000000000000000000103b0406002e1600c00003000402020001010400000000031020010db8000a0000"
        "0000000000000010"
    ),
    "ba_rejected": (
        "6000000000282b4020010db801000000000000000000000120010db8000a000000000000000000108702020100000000"
        "20010db80100000000000000000000103b010600d8a787310009000001020000"
    ),
    "be_hao": (
        "600000000018874020010db800020000000000000000002020010db80100000000000000000000103b02070031f00100"
        "20010db8000100000000000000000010"
    ),
    "be_unrecognized": (
        "600000000018874020010db801000000000000000000000120010db8000a000000000000000000103b0207005ed10200"
        "00000000000000000000000000000000"
    ),
    "unknown_type": (
        "600000000010874020010db8000a0000000000000000001020010db80100000000000000000000013b012a0029c10001"
        "0203040506070809"
    ),
    "unknown_option": (
        "6000000000303c4020010db8000a0000000000000000001020010db8010000000000000000000001870201020000c910"
        "20010db80100000000000000000000103b0205001a4f000588000008c80378797a01050000000000"
    ),
    "explicit_pad1": (
        "6000000000283c4020010db8000a0000000000000000001020010db8010000000000000000000001870201020000c910"
        "20010db80100000000000000000000103b010500d9d500068800000800000000"
    ),
    "ba_odd_header": (
        "6000000000282b4020010db801000000000000000000000120010db8000a000000000000000000108702020100000000"
        "20010db8010000000000000000000010060106aacc2fc8000007000101020000"
    ),
}

SCAPY: dict[str, str] = {
    "brr": (
        "IPv6(src='2001:db8:1::1', dst='2001:db8:100::10') / IPv6ExtHdrRouting(type=2, segleft=1,"
        " addresses=['2001:db8:1::10']) / MIP6MH_BRR(res=0, res2=0)"
    ),
    "hoti": (
        "IPv6(src='2001:db8:1::10', dst='2001:db8:2::20') / MIP6MH_HoTI(res=0, reserved=0, cookie"
        "=b'\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08')"
    ),
    "coti": (
        "IPv6(src='2001:db8:100::10', dst='2001:db8:2::20') / MIP6MH_CoTI(res=0, reserved=0, cook"
        "ie=b'\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18')"
    ),
    "hot": (
        "IPv6(src='2001:db8:2::20', dst='2001:db8:1::10') / MIP6MH_HoT(res=0, index=0x1234, cooki"
        "e=b'\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08', token=b'HKTOKEN!')"
    ),
    "cot": (
        "IPv6(src='2001:db8:2::20', dst='2001:db8:100::10') / MIP6MH_CoT(res=0, index=0x4321, coo"
        "kie=b'\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18', token=b'CKTOKEN!')"
    ),
    "bu_local": (
        "IPv6(src='2001:db8:a::10', dst='2001:db8:100::1') / IPv6ExtHdrDestOpt(options=[HAO(hoa='"
        "2001:db8:100::10')]) / MIP6MH_BU(res=0, seq=1, flags='AM', reserved=0, mhtime=100)"
    ),
    "bu_home_altcoa": (
        "IPv6(src='2001:db8:100::10', dst='2001:db8:1::1') / IPv6ExtHdrDestOpt(options=[HAO(hoa='"
        "2001:db8:1::10')]) / MIP6MH_BU(res=0, seq=2, flags='AHK', reserved=0, mhtime=150, option"
        "s=[MIP6OptAltCoA(acoa='2001:db8:100::10')])"
    ),
    "bu_cn_rr": (
        "IPv6(src='2001:db8:100::10', dst='2001:db8:2::20') / IPv6ExtHdrDestOpt(options=[HAO(hoa="
        "'2001:db8:1::10')]) / MIP6MH_BU(res=0, seq=3, flags='', reserved=0, mhtime=60, options=["
        'MIP6OptNonceIndices(olen=4, hni=5, coni=6), MIP6OptBindingAuthData(olen=12, authenticato'
        'r=0xa5a5a5a5a5a5a5a5a5a5a5a5)])'
    ),
    "bu_bad_only": (
        "IPv6(src='2001:db8:100::10', dst='2001:db8:2::20') / IPv6ExtHdrDestOpt(options=[HAO(hoa="
        "'2001:db8:1::10')]) / MIP6MH_BU(res=0, seq=4, flags='', reserved=0, mhtime=0, options=[M"
        'IP6OptBindingAuthData(olen=12, authenticator=0xa5a5a5a5a5a5a5a5a5a5a5a5)])'
    ),
    "bu_nemo_reserved": (
        "IPv6(src='2001:db8:100::10', dst='2001:db8:1::1') / IPv6ExtHdrDestOpt(options=[HAO(hoa='"
        "2001:db8:1::10')]) / MIP6MH_BU(res=0, seq=65535, flags='AHRP', reserved=0x105, mhtime=65"
        '535)'
    ),
    "ba_local": (
        "IPv6(src='2001:db8:100::1', dst='2001:db8:a::10') / IPv6ExtHdrRouting(type=2, segleft=1,"
        " addresses=['2001:db8:100::10']) / MIP6MH_BA(res=0, status=0, flags=0, res2=0, seq=1, mh"
        'time=100)'
    ),
    "ba_home_bra": (
        "IPv6(src='2001:db8:1::1', dst='2001:db8:100::10') / IPv6ExtHdrRouting(type=2, segleft=1,"
        " addresses=['2001:db8:1::10']) / MIP6MH_BA(res=0, status=1, flags='K', res2=0, seq=2, mh"
        'time=150, options=[MIP6OptBRAdvice(rinter=75)])'
    ),
    "ba_bra_altcoa": (
        "IPv6(src='2001:db8:1::1', dst='2001:db8:100::10') / IPv6ExtHdrRouting(type=2, segleft=1,"
        " addresses=['2001:db8:1::10']) / MIP6MH_BA(res=0, status=0, flags='KR', res2=0, seq=3, m"
        "htime=4, options=[MIP6OptBRAdvice(rinter=1), MIP6OptAltCoA(acoa='2001:db8:a::10')])"
    ),
    "ba_rejected": (
        "IPv6(src='2001:db8:100::1', dst='2001:db8:a::10') / IPv6ExtHdrRouting(type=2, segleft=1,"
        " addresses=['2001:db8:100::10']) / MIP6MH_BA(res=0, status=135, flags='P', res2=0x11, se"
        'q=9, mhtime=0)'
    ),
    "be_hao": (
        "IPv6(src='2001:db8:2::20', dst='2001:db8:100::10') / MIP6MH_BE(res=0, status=1, reserved"
        "=0, ha='2001:db8:1::10')"
    ),
    "be_unrecognized": (
        "IPv6(src='2001:db8:100::1', dst='2001:db8:a::10') / MIP6MH_BE(res=0, status=2, reserved="
        "0, ha='::')"
    ),
    "unknown_type": (
        "IPv6(src='2001:db8:a::10', dst='2001:db8:100::1') / MIP6MH_Generic(res=0, mhtype=42, msg"
        "=b'\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x09')"
    ),
    "unknown_option": (
        "IPv6(src='2001:db8:a::10', dst='2001:db8:100::1') / IPv6ExtHdrDestOpt(options=[HAO(hoa='"
        "2001:db8:100::10')]) / MIP6MH_BU(res=0, seq=5, flags='AM', reserved=0, mhtime=8, options"
        "=[MIP6OptUnknown(otype=200, odata=b'xyz')])"
    ),
    "explicit_pad1": (
        "IPv6(src='2001:db8:a::10', dst='2001:db8:100::1') / IPv6ExtHdrDestOpt(options=[HAO(hoa='"
        "2001:db8:100::10')]) / MIP6MH_BU(res=0, seq=6, flags='AM', reserved=0, mhtime=8, autopad"
        '=0, options=[Pad1(), Pad1(), Pad1(), Pad1()])'
    ),
    "ba_odd_header": (
        "IPv6(src='2001:db8:100::1', dst='2001:db8:a::10') / IPv6ExtHdrRouting(type=2, segleft=1,"
        " addresses=['2001:db8:100::10']) / MIP6MH_BA(nh=6, res=0xAA, status=200, flags=0, res2=0"
        ', seq=7, mhtime=1)'
    ),
}
