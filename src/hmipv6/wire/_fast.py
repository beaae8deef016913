"""Fast construction of frozen slotted dataclasses for decoders.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``,
which costs about as much as parsing the field. Decoders have already validated their values,
so they build instances with :func:`maker`: a private mutable *twin* class with exactly the
same slots (and bases) takes the values with plain attribute stores, then the instance's
class is switched to the frozen one (``__class__`` assignment between layout-compatible
classes). The result is an ordinary, equal, hashable, still-frozen instance of ``cls``; when
the layouts are not compatible, the slots are written through their descriptors instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def _descriptor_maker(cls: type[T], names: list[str]) -> Callable[..., T]:
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    o = _new(_cls)"]
    for i, n in enumerate(names):
        ns[f"_s{i}"] = getattr(cls, n).__set__
        lines.append(f"    _s{i}(o, {n})")
    lines.append("    return o")
    exec("\n".join(lines), ns)
    fn: Callable[..., T] = ns["make"]
    return fn


def maker(cls: type[T]) -> Callable[..., T]:
    """A positional constructor for ``cls`` taking every field in declaration order."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if tuple(getattr(cls, "__slots__", ())) != tuple(names):
        return _descriptor_maker(cls, names)
    ns: dict[str, Any] = {}
    args = ", ".join(names)
    body = "".join(f"    self.{n} = {n}\n" for n in names) or "    pass\n"
    exec(f"def __init__(self, {args}):\n{body}" if names else f"def __init__(self):\n{body}", ns)
    twin = type(f"_{cls.__name__}Twin", cls.__bases__,
                {"__slots__": tuple(names), "__init__": ns["__init__"]})
    try:
        probe = twin(*([None] * len(names)))
        probe.__class__ = cls
    except TypeError:
        return _descriptor_maker(cls, names)
    # The twin's __init__ is not called: the instance is allocated and its slots stored
    # here, in one frame (a third less time than calling the twin).
    ns = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    stores = "".join(f"    o.{n} = {n}\n" for n in names)
    exec(f"def make({args}):\n    o = _new(_twin)\n{stores}    o.__class__ = _cls\n    return o",
         ns)
    fn: Callable[..., T] = ns["make"]
    return fn
