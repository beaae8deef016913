"""Issue 9, item 2: the home registration's care-of address must be inside ESP (RFC 6275
§11.7.1: the Alternate Care-of Address option "MUST be included in all home registrations, as
the ESP protocol will not be able to protect care-of addresses in the IPv6 header").

The attack: someone on the path between the MAP and the home agent rewrites the source
address of the mobile node's ESP-protected home BU (scapy edits the real packet the real
mobile node sent). ESP authenticates neither the outer source nor, with transport mode on the
home address, anything that would notice; without the option the home agent would bind the
home address to the attacker's address and tunnel the node's traffic there."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from scapy.layers.inet6 import IPv6

from hmipv6.core.home_agent import HomeAgent
from hmipv6.core.ipsec import IPsec
from hmipv6.core.ipsec.keys import Provisioner
from hmipv6.wire.ipv6 import (
    DestinationOptions,
    EncapsulatingSecurityPayload,
    HomeAddressOption,
    IPv6Packet,
    decode,
)
from hmipv6.wire.mobility import (
    AlternateCareOfAddress,
    BAStatus,
    BindingAcknowledgement,
    BindingUpdate,
    BUFlags,
)
from tests.security.mn_attack_support import Attack, baseline

HA = IPv6Address("2001:db8:f::1")
HOA = IPv6Address("2001:db8:f::100")
ATTACKER = IPv6Address("2001:db8:666::66")


@pytest.mark.req("SEC-07", "MN-09")
def test_rewritten_source_of_the_home_bu_does_not_move_the_binding() -> None:
    lost = baseline("figure1").report["flows"][0]["lost"]
    attack = Attack("figure1")
    ha = attack.net.nodes["ha"]
    assert isinstance(ha, HomeAgent)
    deliver = ha.receive
    rewritten: list[bytes] = []

    def on_path(now: float, ifname: str, data: bytes) -> None:
        pkt = IPv6(data)
        if pkt.dst == str(HA) and pkt.nh == 60 and pkt.src != str(ATTACKER):
            # A home BU (HAO, then ESP): the attacker rewrites the source address.
            pkt.src = str(ATTACKER)
            data = bytes(pkt)
            rewritten.append(data)
        deliver(now, ifname, data)

    ha.receive = on_path  # type: ignore[method-assign]
    attack.run()
    assert rewritten, "the home BU never crossed the rewriting point"
    inner = decode(rewritten[0])
    assert inner.src == ATTACKER and isinstance(inner.payload, EncapsulatingSecurityPayload)
    mn = attack.mn()
    entry = ha.cache.get(HOA)
    assert entry is not None and entry.care_of == mn.rcoa() != ATTACKER
    assert attack.report["flows"][0]["lost"] >= lost  # nothing tunnelled to the attacker
    assert attack.report["flows"][0]["received"] > 1000


def _ha_and_mn() -> tuple[HomeAgent, IPsec]:
    prov = Provisioner(11)
    mn, ha_sec = IPsec(name="mn"), IPsec(name="ha")
    prov.mn_ha(mn, "mn", ha_sec, "ha", HOA, HA)
    ha = HomeAgent("ha", address=HA, ifname="home", security=ha_sec)
    ha.add_interface("up")
    ha.add_route("::/0", "up")
    return ha, mn


def _answer(ha: HomeAgent, mn: IPsec) -> BindingAcknowledgement:
    (t,) = [t for t in ha.datagrams_to_send(0.0) if t.ifname == "up"]
    ba = mn.unprotect(0.0, decode(t.data)).packet.payload
    assert isinstance(ba, BindingAcknowledgement)
    return ba


@pytest.mark.req("SEC-07")
def test_home_agent_refuses_an_esp_home_bu_without_alternate_care_of_address() -> None:
    """A home BU that passed ESP but carries its care-of address only in the clear source:
    refused (129, administratively prohibited), no binding; the same BU with the option is
    bound to the option's address, whatever the source says."""
    rcoa = IPv6Address("2001:db8:100::99")
    ha, mn = _ha_and_mn()
    hao = (DestinationOptions((HomeAddressOption(HOA),)),)
    bare = IPv6Packet(rcoa, HA, BindingUpdate(1, BUFlags.A | BUFlags.H, 100), hao)
    ha.receive(0.0, "up", mn.protect(0.0, bare).encode())
    ba = _answer(ha, mn)
    assert ba.status == BAStatus.ADMINISTRATIVELY_PROHIBITED
    assert ha.cache.get(HOA) is None
    assert ha.counters["home-bu-without-alternate-coa"] == 1
    good = IPv6Packet(ATTACKER, HA, BindingUpdate(2, BUFlags.A | BUFlags.H, 100,
                                                  (AlternateCareOfAddress(rcoa),)), hao)
    ha.receive(0.0, "up", mn.protect(0.0, good).encode())
    assert _answer(ha, mn).status == BAStatus.ACCEPTED
    entry = ha.cache.get(HOA)
    assert entry is not None and entry.care_of == rcoa


@pytest.mark.req("MN-09")
def test_mobile_node_home_bu_carries_its_care_of_address_inside_esp() -> None:
    """The real mobile node's home BU, opened with the home agent's SA: the Alternate CoA is
    the RCoA (RFC 6275 §11.7.1), the source the same."""
    attack = Attack("figure1")
    ha = attack.net.nodes["ha"]
    assert isinstance(ha, HomeAgent) and isinstance(ha.security, IPsec)
    seen: list[bytes] = []
    deliver = ha.receive

    def tap(now: float, ifname: str, data: bytes) -> None:
        pkt = decode(data)
        if pkt.dst == HA and isinstance(pkt.payload, EncapsulatingSecurityPayload):
            seen.append(data)
        deliver(now, ifname, data)

    ha.receive = tap  # type: ignore[method-assign]
    attack.run()
    assert seen
    pkt = decode(seen[0])
    assert pkt.home_address == HOA
    # Opened with a copy of the home agent's inbound SA (a fresh replay window: the home
    # agent's own has already seen this sequence number).
    esp = pkt.payload
    assert isinstance(esp, EncapsulatingSecurityPayload)
    sa = ha.security.sad.inbound("esp", esp.spi)
    assert sa is not None
    reader = IPsec(name="reader")
    reader.add_sa(sa.params, "in")
    bu_packet = reader.unprotect(0.0, pkt).packet
    bu = bu_packet.payload
    assert isinstance(bu, BindingUpdate) and bu.flags & BUFlags.H
    (alt,) = [o for o in bu.options if isinstance(o, AlternateCareOfAddress)]
    assert alt.address == pkt.src == attack.mn().rcoa()
