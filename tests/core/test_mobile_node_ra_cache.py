"""The Router Advertisement reading shared by every mobile node (issue 12, simulator throughput).

``_ra_view`` reads an RA's options once per RA object (every station of a cell receives the
same object) and ``_map_records`` makes the MAP records once per RA, instant, interface and
router. Both must answer exactly what reading the RA afresh answers: the view is a pure
function of the RA's content, the records of the RA and the reception context.
"""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import hmipv6.core.mobile_node as mn
from hmipv6.core.map_selection import MapRecord
from hmipv6.core.mobile_node import MobileNodeConfig
from hmipv6.wire.icmpv6 import MTU, MapOption, PrefixInformation, RouterAdvertisement
from tests.core.test_mobile_node_support import AR1_LL, AR2_LL, LCOA1, P1, make
from tests.core.test_mobile_node_support import ra as ra_bytes

MAP_A = IPv6Address("2001:db8:100::1")
MAP_B = IPv6Address("2001:db8:200::1")
ROUTER = IPv6Address("fe80::1")


def _ra(prefix: str = "2001:db8:a00::",
        maps: tuple[IPv6Address, ...] = (MAP_A, MAP_B)) -> RouterAdvertisement:
    return RouterAdvertisement(cur_hop_limit=64, router_lifetime=1800, options=(
        PrefixInformation(64, True, True, False, 2592000, 604800, IPv6Address(prefix)),
        PrefixInformation(64, True, False, False, 2592000, 604800, IPv6Address("2001:db8:b::")),
        PrefixInformation(64, True, True, False, 0, 0, IPv6Address("2001:db8:c::")),
        MTU(1400),
        *(MapOption(dist=1 + i, pref=10, r=False, valid_lifetime=600, address=a)
          for i, a in enumerate(maps))))


def test_view_is_the_content_of_the_ra() -> None:
    ra = _ra()
    prefixes, networks, names, options, mtus, maps, heard = mn._ra_view(ra)
    # RFC 4862 §5.5.3: only autonomous prefixes with a non-zero valid lifetime configure.
    assert [str(p.prefix) for p in prefixes] == ["2001:db8:a00::"]
    assert networks == (IPv6Network("2001:db8:a00::/64"),)
    assert names == ("2001:db8:a00::/64",)
    assert [o.address for o in options] == [MAP_A, MAP_B]
    assert [m.mtu for m in mtus] == [1400]
    assert maps == (MAP_A, MAP_B) and heard == frozenset((MAP_A, MAP_B))


def test_view_is_shared_by_object_and_equal_for_equal_content() -> None:
    ra = _ra()
    first = mn._ra_view(ra)
    assert mn._ra_view(ra) is first  # the same RA object: read once
    other = _ra()  # an equal RA, another object: read again, the same answer
    again = mn._ra_view(other)
    assert again == first
    changed = _ra(prefix="2001:db8:a01::", maps=(MAP_B,))
    view = mn._ra_view(changed)
    assert view[2] == ("2001:db8:a01::/64",) and view[5] == (MAP_B,)
    assert mn._ra_view(ra) is first


def test_view_cache_is_bounded_and_never_answers_for_another_object() -> None:
    views = [(ra, mn._ra_view(ra)) for ra in (_ra(prefix=f"2001:db8:{i:x}::")
                                              for i in range(mn._RA_VIEWS_LIMIT + 10))]
    assert len(mn._RA_VIEWS) <= mn._RA_VIEWS_LIMIT
    for ra, view in views:
        assert mn._ra_view(ra) == view
        assert mn._RA_VIEWS[id(ra)][0] is ra


def test_records_depend_on_the_reception_context() -> None:
    ra = _ra()
    options = mn._ra_view(ra)[3]
    records = mn._map_records(ra, options, 5.0, "wlan0", ROUTER)
    assert records == tuple(
        MapRecord(address=o.address, dist=o.dist, pref=o.pref, r=o.r, valid_lifetime=o.valid_lifetime,
                  received_at=5.0, ifname="wlan0", router=ROUTER, position=i)
        for i, o in enumerate(options))
    assert mn._map_records(ra, options, 5.0, "wlan0", IPv6Address("fe80::1")) is records
    later = mn._map_records(ra, options, 6.0, "wlan0", ROUTER)
    assert [r.received_at for r in later] == [6.0, 6.0]
    assert [r.ifname for r in mn._map_records(ra, options, 6.0, "wlan1", ROUTER)] == ["wlan1"] * 2
    other = IPv6Address("fe80::2")
    assert [r.router for r in mn._map_records(ra, options, 6.0, "wlan1", other)] == [other] * 2
    equal = _ra()
    assert mn._map_records(equal, mn._ra_view(equal)[3], 6.0, "wlan1", other) is not records


def test_config_keeps_addresses_and_the_shared_trusted_set() -> None:
    trusted = frozenset({IPv6Address("fe80::1"), IPv6Address("fe80::2")})
    home = IPv6Address("2001:db8:f::1000")
    config = MobileNodeConfig(home_address=home, home_agent="2001:db8:f::1",  # type: ignore[arg-type]
                              correspondents=("2001:db8:c::1",),  # type: ignore[arg-type]
                              trusted_routers=trusted)
    assert config.trusted_routers is trusted
    assert config.home_address is home
    assert config.home_agent == IPv6Address("2001:db8:f::1")
    assert config.correspondents == (IPv6Address("2001:db8:c::1"),)
    mixed = MobileNodeConfig(home_address=home, home_agent=home,
                             trusted_routers=frozenset({"fe80::1"}))  # type: ignore[arg-type]
    assert mixed.trusted_routers == frozenset({IPv6Address("fe80::1")})
    assert all(type(r) is IPv6Address for r in mixed.trusted_routers or ())


def test_networks_are_one_object_per_prefix() -> None:
    first = mn._ra_view(_ra(prefix="2001:db8:a07::"))[1][0]
    again = mn._ra_view(_ra(prefix="2001:db8:a07::"))[1][0]  # another RA, the same prefix
    assert again is first and first == IPv6Network("2001:db8:a07::/64")
    # Host bits: masked in the network (strict=False), kept in the name as advertised.
    assert mn._network(IPv6Address("2001:db8:a07::5")) is first
    assert mn._network_text(IPv6Address("2001:db8:a07::5")) == "2001:db8:a07::5/64"
    assert mn._network_text(IPv6Address("2001:db8:a07::")) == "2001:db8:a07::/64"


def test_network_caches_are_bounded_and_answer_equal_after_a_clear() -> None:
    first = mn._network(IPv6Address("2001:db8:a08::"))
    for i in range(mn._NETWORKS_LIMIT + 1):
        prefix = IPv6Address((0x2001_0db8_f000 << 80) | (i << 64))
        assert mn._network(prefix) == IPv6Network(f"{prefix}/64")
        assert mn._network_text(prefix) == f"{prefix}/64"
    assert len(mn._NETWORKS) <= mn._NETWORKS_LIMIT
    assert len(mn._NETWORK_TEXTS) <= mn._NETWORKS_LIMIT
    again = mn._network(IPv6Address("2001:db8:a08::"))
    assert again == first and str(again) == "2001:db8:a08::/64"


def test_routes_from_ras_use_the_shared_network_objects() -> None:
    h = make()
    h.attach()
    h.feed(ra_bytes(P1))
    default = [r for r in h.mn.routes if r.prefix.prefixlen == 0]
    assert [(r.prefix, r.next_hop) for r in default] == [(IPv6Network("::/0"), AR1_LL)]
    assert default[0].prefix is mn._DEFAULT_ROUTE
    link = h.mn.links["wlan0"]
    assert link.prefix == P1 and link.prefix is mn._network(P1.network_address)
    assert h.mn.lcoa() == LCOA1
    h.feed(ra_bytes(P1, src=AR2_LL))  # another router: the default route moves to it
    assert [(r.prefix, r.next_hop) for r in h.mn.routes if r.prefix.prefixlen == 0] == [
        (IPv6Network("::/0"), AR2_LL)]


def test_link_local_source_is_remembered_by_object_only() -> None:
    source = IPv6Address("fe80::7")
    assert mn._link_local(source) and mn._link_local_seen[0] is source
    assert not mn._link_local(IPv6Address("2001:db8::7"))
    assert mn._link_local_seen[0] is source  # a global address is never remembered
    h = make()
    h.attach()
    h.feed(ra_bytes(P1, src=IPv6Address("2001:db8:a1::1")))  # RFC 4861 §6.1.2: not link-local
    assert h.mn.links["wlan0"].router is None and h.mn.counters["dropped.invalid-ra"] == 1
    h.feed(ra_bytes(P1))
    assert h.mn.links["wlan0"].router == AR1_LL
