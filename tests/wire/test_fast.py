"""The decoders' fast constructors build exactly what the dataclass constructors build."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import hmipv6.wire.icmpv6 as icmpv6
import hmipv6.wire.ipv6 as ipv6
import hmipv6.wire.mobility as mobility
from hmipv6.wire._fast import maker

CLASSES = sorted({c for m in (ipv6, icmpv6, mobility) for _, c in inspect.getmembers(m, inspect.isclass)
                  if dataclasses.is_dataclass(c) and c.__module__ == m.__name__
                  and c.__dataclass_params__.frozen},  # type: ignore[attr-defined]
                 key=lambda c: c.__qualname__)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_maker_builds_an_equal_frozen_instance(cls: type) -> None:
    values = [object() for _ in dataclasses.fields(cls)]
    made = maker(cls)(*values)
    assert type(made) is cls
    assert [getattr(made, f.name) for f in dataclasses.fields(cls)] == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, dataclasses.fields(cls)[0].name, 1) if dataclasses.fields(cls) else (
            (_ for _ in ()).throw(dataclasses.FrozenInstanceError()))
    assert not hasattr(made, "__dict__")


def test_maker_output_equals_and_hashes_like_the_constructor() -> None:
    from hmipv6.wire import addr
    from hmipv6.wire.mobility import BindingUpdate, BUFlags

    a = maker(ipv6.HomeAddressOption)(addr("2001:db8::1"))
    assert a == ipv6.HomeAddressOption(addr("2001:db8::1"))
    assert hash(a) == hash(ipv6.HomeAddressOption(addr("2001:db8::1")))
    bu = maker(BindingUpdate)(7, BUFlags.A | BUFlags.M, 400, (), 59, 0)
    assert bu == BindingUpdate(7, BUFlags.A | BUFlags.M, 400)
