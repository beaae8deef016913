"""strongSwan (charon 5.9, configured with swanctl, default proposals) against hmipv6's IKEv2 over
real UDP port 500 between two network namespaces, in both roles (issue 10; RFC 7296; RFC 5380
§12.1, X5380-05; RFC 4877 §9).

- charon as the MAP's IKEv2 responder (an IPv6 address pool as the RCoA source) against the
  hmipv6 mobile node engine (``MobileNode`` + ``IkeClient``): the exchange completes with
  strongSwan's default proposals, the MN's local BU carries the pooled RCoA and is sealed with
  the keys charon derived (read from charon's log), every IKE key is byte-identical, charon's
  DPD, Child SA rekey, IKE SA rekey and Deletes are answered, the MN's own rekeys and DPD
  complete, the MN retries with charon's COOKIE (``cookie_threshold = 1``), and when charon
  deletes only the Child SA the MN gets a new one on the IKE SA and registers again.
- charon as the initiator (the MN) against the hmipv6 MAP (``IkeResponder``): the same, with
  the MAP demanding a cookie (threshold 1), allocating the RCoA through CP.
- a tunnel-mode-only charon: the MN deletes the Child SA charon made and fails cleanly.

Every capture dissects in tshark without malformed packets, and every encrypted payload
decrypts, with a correct ICV, given the exported ``ikev2_decryption_table`` lines.
"""

from __future__ import annotations

import random
import re
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest

from hmipv6.core.ike import Established, Failed, IkeInitiator, IkeResponder
from hmipv6.core.ike.client import IkeClient
from hmipv6.core.ike.sa import IkeSa, SaPolicy
from hmipv6.core.ike.transport import ike_packet
from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.sad import SAParams
from hmipv6.core.mobile_node import MobileNode, MobileNodeConfig
from hmipv6.wire.addr import interface_address
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, IPv6Packet
from hmipv6.wire.mobility import BindingUpdate
from hmipv6.wire.udp import UDP
from tests.core.test_mobile_node_support import HA, HOA, IID, P1, Harness, mapopt, ra
from tests.net.strongswan_support import (
    Charon,
    InitiatorEngine,
    UdpIke,
    capture,
    charon_keys,
    labelled,
    namespaces,
    need_strongswan,
    tshark_check,
    tshark_verbose,
)

pytestmark = [pytest.mark.netns, pytest.mark.oracle]

MAP = IPv6Address("2001:db8:100::1")
LCOA = interface_address(P1, IID)
POOL = IPv6Network("2001:db8:100:1::/120")
PSK = "hmipv6 and strongSwan share this key"
SUITES = ("esp-aes-gcm", "esp-aes-cbc-hmac-sha256")


def secrets() -> str:
    return f'''secrets {{
  ike-mn {{
    id-1 = mn@example.org
    id-2 = map.example.org
    secret = "{PSK}"
  }}
}}
'''


def map_conf(mode: str = "transport_proxy") -> str:
    """strongSwan as the MAP's IKEv2 responder (the README's worked example)."""
    return f'''connections {{
  map {{
    version = 2
    local_addrs = {MAP}
    pools = rcoa
    mobike = no
    encap = no
    dpd_delay = 2s
    local {{
      auth = psk
      id = map.example.org
    }}
    remote {{
      auth = psk
      id = mn@example.org
    }}
    children {{
      mh {{
        mode = {mode}
      }}
    }}
  }}
}}
pools {{
  rcoa {{
    addrs = {POOL}
  }}
}}
''' + secrets()


def mn_conf(dpd_delay: str = "2s") -> str:
    """strongSwan as the mobile node, asking the MAP for an address (CP)."""
    return f'''connections {{
  mn {{
    version = 2
    local_addrs = {LCOA}
    remote_addrs = {MAP}
    vips = ::
    mobike = no
    encap = no
    dpd_delay = {dpd_delay}
    local {{
      auth = psk
      id = mn@example.org
    }}
    remote {{
      auth = psk
      id = map.example.org
    }}
    children {{
      mh {{
        mode = transport_proxy
        start_action = none
      }}
    }}
  }}
}}
''' + secrets()


def check_keys(log: str, sa: IkeSa, *, occurrence: int = -1) -> None:
    """charon's SKEYSEED and SK_* dumps (the ``occurrence``-th IKE SA it derived) equal ours."""
    keys = charon_keys(log)
    k = sa.keys
    assert labelled(keys, "SKEYSEED")[occurrence] == k.skeyseed
    for label, mine in (("Sk_d secret", k.sk_d), ("Sk_ai secret", k.sk_ai),
                        ("Sk_ar secret", k.sk_ar), ("Sk_ei secret", k.sk_ei),
                        ("Sk_er secret", k.sk_er), ("Sk_pi secret", k.sk_pi),
                        ("Sk_pr secret", k.sk_pr)):
        assert labelled(keys, label)[occurrence] == mine, label


def check_child_keys(log: str, inbound: SAParams, outbound: SAParams, *, mn_side: bool,
                     exchange_initiator: bool) -> None:
    """charon's latest Child SA key dumps equal ours ("initiator" = of the exchange)."""
    keys = charon_keys(log)
    ei = labelled(keys, "encryption initiator key")[-1]
    er = labelled(keys, "encryption responder key")[-1]
    mine_i, mine_r = (outbound, inbound) if exchange_initiator else (inbound, outbound)
    assert ei == mine_i.enc_key and er == mine_r.enc_key
    del mn_side


def charon_ike_sas(raw: str) -> int:
    """How many IKE SAs ``swanctl --list-sas --raw`` lists (in any state)."""
    return len(re.findall(r"^list-sa event ", raw, re.MULTILINE))


def charon_spis(text: str) -> set[int]:
    return {int(x, 16) for x in re.findall(r"spi-(?:in|out)=([0-9a-f]{8})", text)}


def check_capture(pcap: Path, uat: list[str]) -> int:
    rows = tshark_check(pcap, uat)
    assert rows
    encrypted = 0
    for row in rows:
        malformed, severity = row[0], row[1]
        assert malformed == "", row
        assert severity in ("", "2097152"), row  # at most "chat" level notes, no warnings/errors
        if row[3]:
            encrypted += 1
            assert row[4], f"not decrypted: {row}"
    text = tshark_verbose(pcap, uat)
    assert text.count("[correct]") == encrypted and "incorrect" not in text.lower()
    return encrypted


# -- strongSwan as the MAP's IKEv2 responder, hmipv6 as the mobile node --------------------------


class MnOverUdp:
    """The hmipv6 mobile node engine with its IkeClient, seen as an IKE engine by :class:`UdpIke`:
    UDP 500 payloads in and out; other packets it sends (the local BU) are kept."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.ipsec = IPsec(name="mn")
        self.client = IkeClient(self.ipsec, identity="mn@example.org",
                                psks={MAP: PSK.encode()}, rng=rng,
                                map_identities={MAP: "map.example.org"}, suites=SUITES)
        self.mn = MobileNode("mn", MobileNodeConfig(
            home_address=HOA, home_agent=HA, interface_id=IID, dad="none",
            max_rtr_solicitation_delay=0.0, profile="rfc5380"), interfaces=("wlan0",),
            rng=rng, security=self.ipsec, ike=self.client)
        self.h = Harness(self.mn)
        self.other: list[IPv6Packet] = []

    def _split(self, packets: list[IPv6Packet]) -> list[bytes]:
        out: list[bytes] = []
        for p in packets:
            if isinstance(p.payload, UDP) and p.payload.dst_port == 500 and p.dst == MAP:
                out.append(p.payload.data)
            else:
                self.other.append(p)
        return out

    def start(self, now: float) -> list[bytes]:
        self.h.now = now
        self.h.attach()
        return self._split(self.h.feed(ra(P1, [mapopt(MAP, r=True)])))

    def receive(self, now: float, data: bytes, source: IPv6Address | None = None) -> list[bytes]:
        self.h.now = max(self.h.now, now)
        return self._split(self.h.feed(ike_packet(MAP, LCOA, data)))

    def next_timer(self) -> float | None:
        return self.mn.next_timer()

    def handle_timer(self, now: float) -> list[bytes]:
        return self._split(self.h.advance(now))

    @property
    def ini(self) -> IkeInitiator:
        return self.client.initiators[MAP]

    def sa(self) -> IkeSa:
        cur = self.ini.current
        assert cur is not None
        return cur


@pytest.mark.req("X5380-05", "SEC-06", "SEC-03")
def test_strongswan_map_responder_against_the_hmipv6_mobile_node(tmp_path: Path) -> None:
    shim = need_strongswan(tmp_path)
    with namespaces(LCOA, MAP) as ns:
        charon = Charon(ns.b, tmp_path / "charon", shim, settings="cookie_threshold = 1")
        try:
            _mn_session(charon, ns, tmp_path)
        finally:
            charon.stop()


def _mn_session(charon: Charon, ns: Any, tmp_path: Path) -> None:
    charon.load(map_conf())
    eng = MnOverUdp(seed=7)
    with capture(ns.a, ns.if_a, tmp_path / "mn.pcapng") as pcap:
        drv = UdpIke(ns.a, LCOA, MAP, eng)
        try:
            # A half-open IKE SA at charon first, so our exchange meets its cookie threshold.
            drv.call(lambda now: [IkeInitiator(IPsec(), identity="x", psk=b"x", map_address=MAP,
                                               rcoa=None, rng=random.Random(99)).start(now)])
            charon.wait_log(r"sending packet.*\(\d+ bytes\)")
            drv.call(eng.start)
            drv.wait_for(lambda: isinstance(eng.client.established.get(MAP), Established)
                         and any(isinstance(p.payload, EncapsulatingSecurityPayload)
                                 for p in eng.other))
            est = eng.client.established[MAP]
            assert eng.ini.counters["cookie-retry"] == 1  # RFC 7296 §2.6, initiator side
            sas = charon.list_sas()
            vip = IPv6Address(re.search(r"remote-vips=\[([0-9a-f:]+)\]", sas).group(1))  # type: ignore[union-attr]
            assert vip in POOL and est.rcoa == vip
            log = charon.log_text()
            check_keys(log, eng.sa())
            check_child_keys(log, est.child.inbound, est.child.outbound, mn_side=True,
                             exchange_initiator=True)
            assert "selected proposal: IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256" in log
            assert "ESP:AES_GCM_16_128" in log
            # The MN's local BU: ESP with charon's inbound SPI, carrying the pooled RCoA;
            # opened with the keys charon derived (not ours).
            bu_pkt = next(p for p in eng.other if isinstance(p.payload, EncapsulatingSecurityPayload))
            assert bu_pkt.src == LCOA and bu_pkt.dst == MAP
            ci = labelled(charon_keys(log), "encryption initiator key")[-1]
            theirs = IPsec(name="charon")
            theirs.add_sa(SAParams.make(spi=est.child.outbound.spi, protocol="esp", peer="mn",
                                        src=vip, dst=MAP, enc="AES-GCM-16", auth="NULL",
                                        enc_key=ci, auth_key=b""), "in")
            opened = theirs.unprotect(0.0, bu_pkt)
            inner = opened.packet
            assert isinstance(inner.payload, BindingUpdate) and inner.home_address == vip
            # DPD from charon (dpd_delay 2 s, it sees no ESP) is answered.
            drv.wait_for(lambda: eng.sa().counters["dpd-answered"] >= 1, timeout=30)
            # charon rekeys the Child SA, then the IKE SA.
            charon.swanctl("--rekey", "--child", "mh")
            drv.wait_for(lambda: eng.sa().counters["child-rekey-answered"] == 1
                         and eng.sa().counters["child-delete-answered"] == 1)
            child = eng.sa().child
            assert child is not None
            charon.wait_log(r"CHILD_SA mh\{\d+\} established", count=2)
            check_child_keys(charon.log_text(), child.inbound, child.outbound, mn_side=True,
                             exchange_initiator=False)
            assert {child.inbound.spi, child.outbound.spi} <= charon_spis(charon.list_sas())
            first = eng.sa()
            charon.swanctl("--rekey", "--ike", "map")
            drv.wait_for(lambda: eng.ini.current is not first and first.state == "deleted")
            check_keys(charon.wait_log("SKEYSEED", count=2), eng.sa())
            # The MN rekeys the Child SA, then the IKE SA, and checks liveness.
            drv.call(lambda now: eng.sa().rekey_child(now))
            drv.wait_for(lambda: eng.sa().counters["sent-delete-child"] == 1
                         and eng.sa()._pending is None)
            child = eng.sa().child
            assert child is not None
            assert {child.inbound.spi, child.outbound.spi} <= charon_spis(charon.list_sas())
            check_child_keys(charon.log_text(), child.inbound, child.outbound, mn_side=True,
                             exchange_initiator=True)
            second = eng.sa()
            drv.call(lambda now: second.rekey_ike(now))
            drv.wait_for(lambda: second.state == "deleted" and eng.ini.current is not None)
            check_keys(charon.wait_log("SKEYSEED", count=3), eng.sa())
            assert f"{eng.sa().spi_i:016x}" in charon.list_sas()
            drv.call(lambda now: eng.sa().dpd(now))
            drv.wait_for(lambda: ("dpd-ok", None) in eng.sa().events)
            # charon deletes the Child SA: the MN answers, asks for a new one on the same IKE
            # SA (CREATE_CHILD_SA, RFC 7296 §1.3.1) and registers again with it.
            old_child, sent = eng.sa().child, len(eng.other)
            charon.swanctl("--terminate", "--child", "mh")
            drv.wait_for(lambda: eng.mn.counters["ike_child_renewed"] == 1
                         and len(eng.other) > sent, timeout=30)
            child = eng.sa().child
            assert child is not None and child != old_child and len(eng.sa().children.items) == 1
            assert eng.sa().counters["child-delete-answered"] == 1
            assert charon_spis(charon.list_sas()) == {child.inbound.spi, child.outbound.spi}
            assert len(eng.ipsec.sad) == 2 and eng.client.established[MAP].child == child
            log = charon.log_text()
            assert re.search(r"CHILD_SA mh\{\d+\} established", log.split("received DELETE")[-1])
            check_child_keys(log, child.inbound, child.outbound, mn_side=True,
                             exchange_initiator=True)
            # The new local BU: under the new SA, opened with the key charon derived.
            (bu_pkt,) = eng.other[sent:]
            assert isinstance(bu_pkt.payload, EncapsulatingSecurityPayload)
            assert bu_pkt.payload.spi == child.outbound.spi
            theirs = IPsec(name="charon")
            theirs.add_sa(SAParams.make(
                spi=child.outbound.spi, protocol="esp", peer="mn", src=vip, dst=MAP,
                enc="AES-GCM-16", auth="NULL", auth_key=b"",
                enc_key=labelled(charon_keys(log), "encryption initiator key")[-1]), "in")
            inner = theirs.unprotect(0.0, bu_pkt).packet
            assert isinstance(inner.payload, BindingUpdate) and inner.home_address == vip
            # charon deletes the IKE SA: answered, state removed.
            first = eng.ini
            charon.swanctl("--terminate", "--ike", "map")
            drv.wait_for(lambda: not first.ike_sas)
            # The MN lost its SAs with the MAP: it negotiates again (with charon's cookie
            # again if its threshold is still met) and gets the same RCoA from the pool.
            drv.wait_for(lambda: eng.mn.counters["ike_reestablished"] == 1)
            assert eng.mn.counters["ike_restarted"] == 1 and eng.ini is not first
            again = eng.client.established[MAP]
            assert again.rcoa == vip and eng.mn.rcoa() == vip
            assert again.child.outbound.spi in charon_spis(charon.list_sas())
        finally:
            drv.close()
    uat = eng.client.ikev2_decryption_table().splitlines()
    assert len(uat) == 4
    assert check_capture(pcap, uat) >= 16


# -- strongSwan as the initiator (the MN), hmipv6 as the MAP ------------------------------------


@pytest.mark.req("X5380-05", "SEC-06")
def test_strongswan_initiator_against_the_hmipv6_map(tmp_path: Path) -> None:
    shim = need_strongswan(tmp_path)
    with namespaces(LCOA, MAP) as ns:
        charon = Charon(ns.a, tmp_path / "charon", shim)
        try:
            _map_session(charon, ns, tmp_path)
        finally:
            charon.stop()


def _map_session(charon: Charon, ns: Any, tmp_path: Path) -> None:
    charon.load(mn_conf())
    res = IkeResponder(IPsec(name="map"), identity="map.example.org", address=MAP,
                       rcoa_prefix=IPv6Network("2001:db8:100::/64"),
                       psks={"mn@example.org": PSK.encode()}, rng=random.Random(5),
                       suites=SUITES, cookie_threshold=1)
    # One half-open exchange already: charon's IKE_SA_INIT must come back with our cookie.
    res.receive(0.0, IkeInitiator(IPsec(), identity="x", psk=b"x", map_address=MAP, rcoa=None,
                                  rng=random.Random(98)).start(0.0), IPv6Address("2001:db8::99"))
    with capture(ns.b, ns.if_b, tmp_path / "map.pcapng") as pcap:
        drv = UdpIke(ns.b, MAP, LCOA, res)
        try:
            out = charon.swanctl("--initiate", "--child", "mh", timeout=60)
            assert "initiate completed successfully" in out
            # One COOKIE; charon's retry with it (curve25519 KE) gets INVALID_KE_PAYLOAD(19),
            # and its second retry carries the cookie again (§2.6 with §1.2). (More if charon
            # retransmitted on a loaded machine.)
            assert res.counters["notify-16390"] >= 1 and res.counters["cookie-accepted"] >= 2
            assert res.counters["notify-17"] >= 1
            (ev,) = [e for e in res.events if isinstance(e, Established)]
            assert ev.peer == "mn@example.org" and ev.child.suite == "esp-aes-gcm"
            sas = charon.list_sas()
            assert f"local-vips=[{ev.rcoa}]" in sas
            sa = res.current
            assert sa is not None
            log = charon.log_text()
            check_keys(log, sa)
            check_child_keys(log, ev.child.inbound, ev.child.outbound, mn_side=False,
                             exchange_initiator=False)
            assert "TRANSPORT_PROXY" in charon.swanctl("--list-sas")
            drv.wait_for(lambda: res.current is not None
                         and res.current.counters["dpd-answered"] >= 1, timeout=30)
            # charon rekeys the Child SA and the IKE SA; then the MAP does both.
            charon.swanctl("--rekey", "--child", "mh")
            drv.wait_for(lambda: sa.counters["child-delete-answered"] == 1)
            child = sa.child
            assert child is not None
            assert {child.inbound.spi, child.outbound.spi} <= charon_spis(charon.list_sas())
            charon.swanctl("--rekey", "--ike", "mn")
            drv.wait_for(lambda: sa.state == "deleted" and res.current is not None)
            check_keys(charon.wait_log("SKEYSEED", count=2), res.current)  # type: ignore[arg-type]
            drv.call(lambda now: res.current.rekey_child(now))  # type: ignore[union-attr]
            drv.wait_for(lambda: res.current.counters["sent-delete-child"] == 1  # type: ignore[union-attr]
                         and res.current._pending is None)  # type: ignore[union-attr]
            child = res.current.child  # type: ignore[union-attr]
            assert child is not None
            assert {child.inbound.spi, child.outbound.spi} <= charon_spis(charon.list_sas())
            check_child_keys(charon.log_text(), child.inbound, child.outbound, mn_side=False,
                             exchange_initiator=True)
            second = res.current
            drv.call(lambda now: second.rekey_ike(now))  # type: ignore[union-attr]
            drv.wait_for(lambda: second.state == "deleted" and res.current is not None)  # type: ignore[union-attr]
            check_keys(charon.wait_log("SKEYSEED", count=3), res.current)  # type: ignore[arg-type]
            drv.call(lambda now: res.current.dpd(now))  # type: ignore[union-attr]
            drv.wait_for(lambda: ("dpd-ok", None) in res.current.events)  # type: ignore[union-attr]
            charon.swanctl("--terminate", "--ike", "mn")
            drv.wait_for(lambda: not res.ike_sas)
            assert len(res.ipsec.sad) == 0
        finally:
            drv.close()
    uat = res.ikev2_decryption_lines()
    assert len(uat) == 3
    assert check_capture(pcap, uat) >= 14


# -- a tunnel-mode-only strongSwan ---------------------------------------------------------------


@pytest.mark.req("X5380-05", "SEC-01")
def test_tunnel_mode_only_strongswan_is_refused_cleanly(tmp_path: Path) -> None:
    shim = need_strongswan(tmp_path)
    with namespaces(LCOA, MAP) as ns:
        charon = Charon(ns.b, tmp_path / "charon", shim)
        try:
            charon.load(map_conf(mode="tunnel"))
            mn = IPsec(name="mn")
            ini = IkeInitiator(mn, identity="mn@example.org", psk=PSK.encode(), map_address=MAP,
                               rcoa=None, rng=random.Random(3), suites=SUITES,
                               map_identity="map.example.org")

            with capture(ns.a, ns.if_a, tmp_path / "tunnel.pcapng") as pcap:
                drv = UdpIke(ns.a, LCOA, MAP, InitiatorEngine(ini))
                try:
                    drv.call(lambda now: [ini.start(now)])
                    drv.wait_for(lambda: ini.outcome is not None and ini.current is not None
                                 and ini.current._pending is None)
                    assert ini.outcome == Failed("tunnel-mode", peer="map.example.org")
                    assert len(mn.sad) == 0  # nothing kept
                    charon.wait_log(r"received DELETE for ESP CHILD_SA")
                    sas = charon.list_sas()
                    assert "ESTABLISHED" in sas and "child-sas {}" in sas.replace("\n", "")
                finally:
                    drv.close()
            check_capture(pcap, ini.ikev2_decryption_lines())
        finally:
            charon.stop()


# -- certificate authentication (ECDSA P-256, AUTH method 9) -----------------------------------


@pytest.mark.req("X5380-05", "SEC-05", "SEC-06")
@pytest.mark.parametrize("charon_role", ["map", "mn"])
def test_certificate_authentication_with_strongswan(tmp_path: Path, charon_role: str) -> None:
    from tests.core.cert_support import credentials, make_ca, write

    shim = need_strongswan(tmp_path)
    ca = make_ca()
    mn_creds = credentials(ca, "mn@example.org", 21)
    map_creds = credentials(ca, "map.example.org", 22)
    theirs = map_creds if charon_role == "map" else mn_creds
    d = tmp_path / "charon"
    write(d / "x509ca" / "ca.pem", ca[0])
    write(d / "x509" / "me.pem", theirs.certificate)
    write(d / "private" / "me.pem", theirs.key)
    conf = (map_conf() if charon_role == "map" else mn_conf()).split("secrets {")[0]
    conf = conf.replace("auth = psk\n      id = map.example.org",
                        "auth = pubkey\n      id = map.example.org" +
                        ("\n      certs = me.pem" if charon_role == "map" else ""))
    conf = conf.replace("auth = psk\n      id = mn@example.org",
                        "auth = pubkey\n      id = mn@example.org" +
                        ("\n      certs = me.pem" if charon_role == "mn" else ""))
    assert conf.count("auth = pubkey") == 2 and "certs = me.pem" in conf
    with namespaces(LCOA, MAP) as ns:
        charon = Charon(ns.b if charon_role == "map" else ns.a, d, shim)
        try:
            charon.load(conf)
            if charon_role == "map":
                ini = IkeInitiator(IPsec(name="mn"), identity="-", psk=b"", map_address=MAP,
                                   rcoa=None, rng=random.Random(4), suites=SUITES,
                                   map_identity="map.example.org", credentials=mn_creds)

                with capture(ns.a, ns.if_a, tmp_path / "cert.pcapng") as pcap:
                    drv = UdpIke(ns.a, LCOA, MAP, InitiatorEngine(ini))
                    try:
                        drv.call(lambda now: [ini.start(now)])
                        drv.wait_for(lambda: ini.outcome is not None)
                    finally:
                        drv.close()
                out = ini.outcome
                assert isinstance(out, Established), (out, dict(ini.counters))
                log = charon.log_text()
                assert 'received cert request for "CN=hmipv6 test CA"' in log
                assert "authentication of 'mn@example.org' with ECDSA-256 signature successful" in log
                cur = ini.current
                assert cur is not None
                check_keys(log, cur)
                uat = ini.ikev2_decryption_lines()
            else:
                res = IkeResponder(IPsec(name="map"), identity="-", address=MAP,
                                   rcoa_prefix=IPv6Network("2001:db8:100::/64"), psks={},
                                   rng=random.Random(6), suites=SUITES, credentials=map_creds)
                with capture(ns.b, ns.if_b, tmp_path / "cert.pcapng") as pcap:
                    drv = UdpIke(ns.b, MAP, LCOA, res)
                    try:
                        out_text = charon.swanctl("--initiate", "--child", "mh", timeout=60)
                    finally:
                        drv.close()
                assert "initiate completed successfully" in out_text
                (ev,) = res.events
                assert isinstance(ev, Established) and ev.peer == "mn@example.org"
                log = charon.log_text()
                assert "authentication of 'map.example.org' with ECDSA-256 signature successful" in log
                cur = res.current
                assert cur is not None
                check_keys(log, cur)
                uat = res.ikev2_decryption_lines()
        finally:
            charon.stop()
    check_capture(pcap, uat)


# -- simultaneous rekeying (RFC 7296 §2.8.1, §2.8.2) -------------------------------------------


@pytest.mark.req("X5380-05")
class _LowNonces(random.Random):
    """A seeded generator whose 32-octet draws (the IKE nonces, ``NONCE_LEN``) are, once
    :attr:`low` is set, below any nonce a peer draws at random but with probability 2^-64,
    each lower than the one before: the exchange holding the lowest nonce is then the one
    this end answered, so this end wins a simultaneous rekey (RFC 7296 §2.8.2)."""

    low = False
    _k = 0

    def randbytes(self, n: int) -> bytes:
        if not (self.low and n == 32):
            return super().randbytes(n)
        self._k += 1
        return bytes(8) + (2 ** 64 - self._k).to_bytes(8, "big") + super().randbytes(16)


@pytest.mark.parametrize("crossing", ["child", "ike", "ike-late-answer"])
def test_simultaneous_child_and_ike_sa_rekeys_with_strongswan(tmp_path: Path,
                                                              crossing: str) -> None:
    """charon and the hmipv6 MAP rekey the same SA at once: the MAP's request is put on the
    wire after charon's arrived and before the MAP answers it, so both exchanges cross. Both
    ends then keep exactly one Child SA (the same SPIs) and, for ``crossing = "ike"``, after
    a second crossing of IKE SA rekeys, one IKE SA (the same SPIs). When the MAP wins and
    its Delete of the old IKE SA reaches charon before its answer to charon's rekey, charon
    drops its rekey without deleting the IKE SA the MAP made in answer to it; the MAP deletes
    that redundant SA itself after ``redundant_sa_timeout`` (2 s here, 30 s by default).
    ``ike`` leaves the winner and that order to chance; ``ike-late-answer`` makes the MAP win
    (its nonces, :class:`_LowNonces`) and holds its answer back until charon has answered its
    Delete."""
    shim = need_strongswan(tmp_path)
    with namespaces(LCOA, MAP) as ns:
        charon = Charon(ns.a, tmp_path / "charon", shim)
        try:
            # No DPD from charon: a liveness check in progress would make charon delay its
            # rekey until ours completed (no crossing).
            charon.load(mn_conf(dpd_delay="0s"))
            rng = _LowNonces(8)
            res = IkeResponder(IPsec(name="map"), identity="map.example.org", address=MAP,
                               rcoa_prefix=IPv6Network("2001:db8:100::/64"),
                               psks={"mn@example.org": PSK.encode()}, rng=rng,
                               suites=SUITES, policy=SaPolicy(redundant_sa_timeout=2.0))
            with capture(ns.b, ns.if_b, tmp_path / "simultaneous.pcapng") as pcap:
                drv = UdpIke(ns.b, MAP, LCOA, res)
                try:
                    assert "completed successfully" in charon.swanctl("--initiate", "--child", "mh")
                    sa = res.current
                    assert sa is not None
                    # Child SA: our request waits until charon's arrives, then crosses it.
                    with drv.lock:
                        drv.preface = sa.rekey_child(drv.now())
                    charon.swanctl("--rekey", "--child", "mh")
                    drv.wait_for(lambda: sa.counters["simultaneous-rekey"] == 1
                                 and sa._pending is None and len(sa.children.items) == 1
                                 and not drv.preface, timeout=30)
                    charon.wait_log(r"detected CHILD_REKEY collision with CHILD_REKEY")
                    child = sa.child
                    assert child is not None
                    drv.wait_for(lambda: charon_spis(charon.list_sas())
                                 == {child.inbound.spi, child.outbound.spi}, timeout=30)
                    assert len(res.ipsec.sad) == 2
                    if crossing == "child":
                        # The survivor works: a DPD on the IKE SA that carried the crossing.
                        drv.call(lambda now: sa.dpd(now))
                        drv.wait_for(lambda: ("dpd-ok", None) in sa.events)
                    else:
                        # IKE SA: the same crossing.
                        with drv.lock:
                            if crossing == "ike-late-answer":
                                rng.low = drv.hold_answer = True
                            drv.preface = sa.rekey_ike(drv.now())
                        charon.swanctl("--rekey", "--ike", "mn")
                        drv.wait_for(lambda: sa.counters["simultaneous-rekey"] == 2
                                     and len(res.ike_sas) == 1 and res.current is not None
                                     and res.current is not sa, timeout=30)
                        new = res.current
                        assert new is not None
                        charon.wait_log(r"detected IKE_REKEY collision with IKE_REKEY")
                        drv.wait_for(lambda: f"{new.spi_i:016x}" in charon.list_sas()
                                     and charon_ike_sas(charon.list_sas()) == 1, timeout=30)
                        # No redundant IKE SA on either side, also after the MAP's timeout.
                        drv.wait_for(lambda: drv.now() > 3.0 + max(
                            (s._redundant_since or 0.0) for s in res.all_sas), timeout=30)
                        assert charon_ike_sas(charon.list_sas()) == 1
                        with drv.lock:
                            assert list(res.ike_sas.values()) == [new]
                            if crossing == "ike-late-answer":
                                # The MAP won and its redundant IKE SA was deleted by it.
                                assert sa.counters["sent-delete-ike"] == 1
                                assert new.original_initiator  # the survivor is its rekey
                                assert sum(s.counters["redundant-deleted"]
                                           for s in res.all_sas) == 1
                        check_keys(charon.log_text(), new, occurrence=labelled(
                            charon_keys(charon.log_text()), "Sk_d secret").index(new.keys.sk_d))
                        # The survivor works: a DPD on it, and the Child SA is still there.
                        drv.call(lambda now: new.dpd(now))
                        drv.wait_for(lambda: ("dpd-ok", None) in new.events)
                        assert new.child is not None
                        assert charon_spis(charon.list_sas()) == {
                            new.child.inbound.spi, new.child.outbound.spi}  # type: ignore[union-attr]
                finally:
                    drv.close()
            check_capture(pcap, res.ikev2_decryption_lines())
        finally:
            charon.stop()
