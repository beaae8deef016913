"""``AddressSet`` answers as a ``set`` of ``IPv6Address`` would, whatever the sequence of
additions and discards; its integer view follows the members."""

from __future__ import annotations

from ipaddress import IPv6Address

from hypothesis import given
from hypothesis import strategies as st

from hmipv6.core.addresses import AddressSet

_ADDRESSES = st.integers(0, 7).map(lambda i: IPv6Address(0x20010DB8 << 96 | i))


@given(st.lists(_ADDRESSES, max_size=4),
       st.lists(st.tuples(st.booleans(), _ADDRESSES), max_size=30))
def test_behaves_as_a_set(initial: list[IPv6Address], ops: list[tuple[bool, IPv6Address]]) -> None:
    ours, reference = AddressSet(initial), set(initial)
    for add, address in ops:
        if add:
            ours.add(address)
            reference.add(address)
        else:
            ours.discard(address)
            reference.discard(address)
        assert len(ours) == len(reference)
        assert set(ours) == reference
        assert set(ours.ints) == {int(a) for a in reference}
        for i in range(8):
            probe = IPv6Address(0x20010DB8 << 96 | i)
            assert (probe in ours) == (probe in reference)


def test_other_objects_are_not_members() -> None:
    a = IPv6Address("2001:db8::1")
    s = AddressSet((a,))
    assert a in s and IPv6Address("2001:db8::1") in s
    assert "2001:db8::1" not in s and int(a) not in s and None not in s
