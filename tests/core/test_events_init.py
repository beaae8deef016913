"""Every event class's ``__init__`` sets its slots through their descriptors
(``core.events._slot_setting_init``) instead of the frozen dataclass's ``object.__setattr__``
per field: it must build the same events, with the same parameters, defaults and errors,
and leave them frozen."""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, FrozenInstanceError, fields
from ipaddress import IPv6Address
from typing import Any

import pytest

from hmipv6.core import events

CLASSES = [getattr(events, name) for name in events.__all__]


def _sample(cls: type[Any], with_defaults: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i, f in enumerate(fields(cls)):
        if f.default is not MISSING and not with_defaults:
            continue
        values[f.name] = (float(i) + 0.5, f"v{i}", IPv6Address(f"2001:db8::{i + 1}"), (i,))[i % 4]
    return values


def _built_by_dataclass(cls: type[Any], kwargs: dict[str, Any]) -> Any:
    obj = object.__new__(cls)
    cls._dataclass_init(obj, **kwargs)
    return obj


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_event_init_builds_what_the_dataclass_init_builds(cls: type[Any]) -> None:
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    for with_defaults in (True, False):
        kwargs = _sample(cls, with_defaults)
        ours, theirs = cls(**kwargs), _built_by_dataclass(cls, kwargs)
        assert ours == theirs and repr(ours) == repr(theirs) and hash(ours) == hash(theirs)
        assert all(getattr(ours, f.name) is getattr(theirs, f.name) for f in fields(cls))
    kwargs = _sample(cls, True)
    with pytest.raises(FrozenInstanceError):
        cls(**kwargs).time = 1.0
    with pytest.raises(TypeError):
        cls(*kwargs.values())  # keyword-only
    with pytest.raises(TypeError):
        cls(**kwargs, unknown=1)
    required = [f.name for f in fields(cls) if f.default is MISSING]
    with pytest.raises(TypeError):
        cls(**{k: v for k, v in kwargs.items() if k != required[-1]})


def test_every_event_class_has_the_slot_setting_init() -> None:
    assert len(CLASSES) > 20
    for cls in CLASSES:
        assert cls.__init__ is not cls._dataclass_init
        assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
