"""Daemon log lines round-trip engine events (no root needed)."""

from __future__ import annotations

import json
from ipaddress import IPv6Address

from hmipv6.core.events import BindingAcknowledged, RouterAdvertisementReceived
from hmipv6.core.node import link_local_for
from hmipv6.net.daemon import mac_for
from hmipv6.net.eventlog import decode_event, encode_event


def test_events_round_trip_through_json() -> None:
    for e in (RouterAdvertisementReceived(time=1.5, ifname="wlan0", router=IPv6Address("fe80::1"),
                                          prefixes=("2001:db8::/64",),
                                          maps=(IPv6Address("2001:db8::1"),)),
              BindingAcknowledged(time=2.0, by=IPv6Address("2001:db8::1"), kind="local",
                                  status=0, sequence=3, lifetime=400)):
        assert decode_event(json.loads(json.dumps(encode_event(e)))) == e


def test_the_mac_is_inside_every_link_local_address() -> None:
    ll, mac = link_local_for("ar1", "wlan0")
    assert mac_for(ll) == mac
    assert mac_for(IPv6Address("2001:db8::1")) is None
