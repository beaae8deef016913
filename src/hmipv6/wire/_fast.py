"""Fast construction of frozen slotted dataclasses for decoders.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``,
which costs about as much as parsing the field. Decoders have already validated their values,
so they build instances with :func:`maker`, which writes the slots through their descriptors
directly. The result is an ordinary, equal, hashable, still-frozen instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def maker(cls: type[T]) -> Callable[..., T]:
    """A positional constructor for ``cls`` taking every field in declaration order."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    o = _new(_cls)"]
    for i, n in enumerate(names):
        ns[f"_s{i}"] = getattr(cls, n).__set__
        lines.append(f"    _s{i}(o, {n})")
    lines.append("    return o")
    exec("\n".join(lines), ns)
    fn: Callable[..., T] = ns["make"]
    return fn
