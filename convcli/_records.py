"""``@dataclass`` for the modules on ``convcli shape``'s path, cheaper to define (issue 14).

Python 3.11's ``dataclass(frozen=True)`` compiles six methods per class with ``exec``;
the 24 classes ``convcli shape`` defines before it does anything spent about a sixth of
the command's CPU time there. This decorator asks :mod:`dataclasses` for ``__init__``
(and a frozen class's ``__setattr__``/``__delattr__``) only, and gives every class the
same ``__eq__``, ``__hash__`` and ``__repr__`` built from its field names, with nothing to
compile. They behave as :mod:`dataclasses` writes them (tests/test_startup.py compares
them): equal when the class is the same and the compared fields are equal, hashed on
the same fields, ``Name(field=value, ...)``. A class that writes any of the three itself
gets plain :func:`dataclasses.dataclass`.

Type checkers see :func:`dataclasses.dataclass` itself.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

_T = TypeVar("_T")


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The fields ``names`` of an object, as a tuple (what dataclasses compare and hash)."""
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda self: (one(self),)
    return attrgetter(*names) if names else lambda self: ()


def _methods(cls: type, frozen: bool) -> dict[str, Any]:
    """``__eq__``, ``__hash__`` (None unless frozen) and ``__repr__`` as dataclasses write
    them for ``cls``, whose fields are already processed."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    compared = _values(tuple(f.name for f in fields if f.compare))
    hashed = _values(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
    shown = tuple(f.name for f in fields if f.repr)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        inside = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({inside})"

    for method in (__eq__, __hash__, __repr__):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
    return {"__eq__": __eq__, "__hash__": __hash__ if frozen else None, "__repr__": __repr__}


def _record(cls: type[_T], frozen: bool) -> type[_T]:
    if {"__eq__", "__hash__", "__repr__"} & set(cls.__dict__):
        return dataclasses.dataclass(frozen=frozen)(cls)
    cls = dataclasses.dataclass(frozen=frozen, eq=False, repr=False)(cls)
    for name, method in _methods(cls, frozen).items():
        setattr(cls, name, method)
    return cls


if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass
else:

    def dataclass(cls=None, /, *, frozen=False):
        """``@dataclass`` or ``@dataclass(frozen=True)``, as :func:`dataclasses.dataclass`
        with its defaults (``eq=True``, ``repr=True``)."""
        if cls is None:
            return lambda cls: _record(cls, frozen)
        return _record(cls, frozen)
