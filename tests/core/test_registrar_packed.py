"""The octet-level twin of is_unicast_routable agrees with the ipaddress-based rule."""

from __future__ import annotations

from ipaddress import IPv6Address

from hypothesis import given
from hypothesis import strategies as st

from hmipv6.core.registrar import is_unicast_routable, is_unicast_routable_packed

EDGES = ["::", "::1", "ff02::1", "ff00::", "fe80::1", "febf:ffff::1", "fec0::1", "fe7f::1",
         "2001:db8::1", "::2"]


@given(st.one_of(st.binary(min_size=16, max_size=16),
                 st.sampled_from([IPv6Address(a).packed for a in EDGES])))
def test_packed_rule_equals_address_rule(raw: bytes) -> None:
    assert is_unicast_routable_packed(raw) == is_unicast_routable(IPv6Address(raw))
