"""Fast construction of frozen slotted dataclasses for decoders, and deferred fields.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``,
which costs about as much as parsing the field. Decoders have already validated their values,
so they build instances with :func:`maker`: a private mutable *twin* class with exactly the
same slots (and bases) takes the values with plain attribute stores, then the instance's
class is switched to the frozen one (``__class__`` assignment between layout-compatible
classes). The result is an ordinary, equal, hashable, still-frozen instance of ``cls``; when
the layouts are not compatible, the slots are written through their descriptors instead.

:func:`deferred_field` gives a slotted dataclass one private slot beyond its fields, so a
decoder can leave one field unset and store there how to build it; the field is built on its
first read (an unset slot raises ``AttributeError``, which Python answers by calling the
class's ``__getattr__``) and is an ordinary slot from then on. Equality, hashing, ``repr``,
``dataclasses.replace`` and pickling all read fields by attribute, so they see the built value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


def _descriptor_maker(cls: type[T], names: Sequence[str]) -> Callable[..., T]:
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    o = _new(_cls)"]
    for i, n in enumerate(names):
        ns[f"_s{i}"] = getattr(cls, n).__set__
        lines.append(f"    _s{i}(o, {n})")
    lines.append("    return o")
    exec("\n".join(lines), ns)
    fn: Callable[..., T] = ns["make"]
    return fn


def maker(cls: type[T], names: Sequence[str] | None = None) -> Callable[..., T]:
    """A positional constructor for ``cls`` taking every field in declaration order, or the
    slots ``names`` (the others stay unset: see :func:`deferred_field`)."""
    field_names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    names = field_names if names is None else tuple(names)
    slots = tuple(getattr(cls, "__slots__", ()))
    if slots[: len(field_names)] != field_names:
        return _descriptor_maker(cls, names)
    ns: dict[str, Any] = {}
    args = ", ".join(names)
    body = "".join(f"    self.{n} = {n}\n" for n in names) or "    pass\n"
    exec(f"def __init__(self, {args}):\n{body}" if names else f"def __init__(self):\n{body}", ns)
    twin = type(f"_{cls.__name__}Twin", cls.__bases__, {"__slots__": slots, "__init__": ns["__init__"]})
    try:
        probe = twin(*([None] * len(names)))
        probe.__class__ = cls
    except TypeError:
        return _descriptor_maker(cls, names)
    # The twin's __init__ is not called: a bare twin (no __init__: calling it allocates
    # faster than object.__new__) is allocated and its slots stored here, in one frame.
    bare = type(f"_{cls.__name__}Bare", cls.__bases__, {"__slots__": slots})
    ns = {"_bare": bare, "_cls": cls}
    stores = "".join(f"    o.{n} = {n}\n" for n in names)
    exec(f"def make({args}):\n    o = _bare()\n{stores}    o.__class__ = _cls\n    return o", ns)
    fn: Callable[..., T] = ns["make"]
    return fn


def bare_twin(cls: type[T], names: Sequence[str] | None = None) -> type:
    """The bare twin that :func:`maker` allocates ``cls``'s instances through, for a decoder
    that stores the slots itself (one call less per instance): allocate ``twin()``, store
    every slot of ``names`` (default: every field), then set ``__class__`` to ``cls``.
    Raises TypeError when ``cls`` has no layout-compatible twin."""
    make = maker(cls, names)
    bare = make.__globals__.get("_bare")
    if not isinstance(bare, type) or make.__globals__.get("_cls") is not cls:
        raise TypeError(f"{cls.__name__} has no layout-compatible twin")
    return bare


def deferred_field(name: str, private: str) -> Callable[[type[T]], type[T]]:
    """Class decorator for a ``@dataclass(frozen=True, slots=True)`` class: rebuild it with
    the extra slot ``private`` (not a field). An instance whose field ``name`` is unset and
    whose ``private`` slot holds ``(build, *args)`` gets ``name = build(*args)`` on the first
    read of ``name``; ``private`` is then cleared. Instances built by the dataclass's own
    ``__init__`` set every field and never use ``private``."""

    def rebuild(cls: type[T]) -> type[T]:
        names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        if tuple(getattr(cls, "__slots__", ())) != names or name not in names:
            raise TypeError(f"{cls.__name__} is not a slotted dataclass with a field {name!r}")

        def missing(self: object, attr: str) -> NoReturn:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}",
                                 name=attr, obj=self)

        def __getattr__(self: object, attr: str) -> Any:
            # Only reached when normal lookup failed, i.e. for an unset slot. (Installed on
            # the class, not declared in it: mypy would then accept any attribute name.)
            if attr != name:
                missing(self, attr)
            try:
                thunk = private_slot.__get__(self, new)
            except AttributeError:
                thunk = None
            if thunk is None:
                missing(self, attr)
            value = thunk[0](*thunk[1:])
            field_slot.__set__(self, value)
            private_slot.__delete__(self)
            return value

        ns = dict(cls.__dict__)
        for n in (*names, "__slots__", "__weakref__", "__dict__"):
            ns.pop(n, None)
        ns["__slots__"] = (*names, private)
        ns["__getattr__"] = __getattr__
        new: type[T] = type(cls.__name__, cls.__bases__, ns)
        new.__qualname__ = cls.__qualname__
        field_slot = new.__dict__[name]
        private_slot = new.__dict__[private]
        return new

    return rebuild
