"""``@dataclass`` for the modules on ``convcli shape``'s path, cheaper to define (issue 14).

Python 3.11's ``dataclass(frozen=True)`` compiles six methods per class with ``exec``;
the 24 classes ``convcli shape`` defines before it does anything spent about a sixth of
the command's CPU time there. This decorator lets :mod:`dataclasses` process the fields
(``fields()``, ``replace()``, ``__match_args__`` work as ever) and compiles one method per
class, ``__init__``; ``__eq__``, ``__hash__``, ``__repr__`` and a frozen class's
``__setattr__``/``__delattr__`` are the same functions for every class, closed over its
field names. They behave as :mod:`dataclasses` writes them (tests/test_startup.py
compares them, signature and docstring included). A class using what this does not
cover (its own ``__eq__``/``__hash__``/``__repr__``/``__setattr__``, ``__post_init__``,
``field(init=False)``, keyword-only fields, ``ClassVar``/``InitVar``) gets
:func:`dataclasses.dataclass` itself.

Type checkers see :func:`dataclasses.dataclass` itself.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from dataclasses import MISSING
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

    return {"__eq__": __eq__, "__hash__": __hash__ if frozen else None, "__repr__": __repr__}


class _Factory:
    """The default of a field with a ``default_factory`` (dataclasses print it so)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()
_OWN = frozenset({"__eq__", "__hash__", "__repr__", "__setattr__", "__delattr__", "__init__"})


def _covered(cls: type) -> bool:
    """Whether :func:`_record` builds ``cls`` exactly as dataclasses would."""
    if _OWN & set(cls.__dict__) or hasattr(cls, "__post_init__"):
        return False
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(fields) != len(cls.__dict__["__dataclass_fields__"]):  # ClassVar, InitVar
        return False
    if any(not f.init or f.kw_only for f in fields):
        return False
    defaults = [f.default is not MISSING or f.default_factory is not MISSING for f in fields]
    return defaults == sorted(defaults)  # else dataclasses raises its own TypeError


def _init(cls: type, frozen: bool) -> Callable[..., None]:
    """``__init__`` as dataclasses writes it for ``cls``: one compiled function."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    env: dict[str, Any] = {"_records_set": object.__setattr__, "_records_factory": _FACTORY}
    params, body = [], []
    for number, f in enumerate(fields):
        value = f.name
        if f.default is not MISSING:
            env[f"_records_default_{number}"] = f.default
            params.append(f"{f.name}=_records_default_{number}")
        elif f.default_factory is not MISSING:
            env[f"_records_make_{number}"] = f.default_factory
            params.append(f"{f.name}=_records_factory")
            value = f"_records_make_{number}() if {f.name} is _records_factory else {f.name}"
        else:
            params.append(f.name)
        body.append(f"_records_set(self, {f.name!r}, {value})" if frozen
                    else f"self.{f.name} = {value}")  # fmt: skip
    source = f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    namespace: dict[str, Any] = {}
    exec(source, env, namespace)  # the one compiled method: a call binds arguments fast
    init: Callable[..., None] = namespace["__init__"]
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init


def _frozen(cls: type) -> dict[str, Any]:
    """A frozen dataclass's ``__setattr__`` and ``__delattr__``."""
    names = frozenset(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]

    return {"__setattr__": __setattr__, "__delattr__": __delattr__}


def _record(cls: type[_T], frozen: bool, eq: bool = True) -> type[_T]:
    had_doc = bool(cls.__dict__.get("__doc__"))
    if _OWN & set(cls.__dict__):
        return dataclasses.dataclass(frozen=frozen, eq=eq)(cls)
    # What processing replaces (a field(...) by its default) or removes (a factory's
    # field(...)), to put back if dataclasses must do it all after all.
    annotations = cls.__dict__.get("__annotations__", {})
    saved = {name: cls.__dict__[name] for name in (*annotations, "__doc__") if name in cls.__dict__}
    if not had_doc:  # written below from __init__: dataclasses would read object's here
        cls.__doc__ = "(being processed)"
    processed = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    if not _covered(processed):
        for name in ("__dataclass_fields__", "__dataclass_params__", "__match_args__"):
            delattr(processed, name)
        for name, value in saved.items():
            setattr(processed, name, value)
        if not had_doc:
            processed.__doc__ = None
        return dataclasses.dataclass(frozen=frozen, eq=eq)(cls)
    methods = {"__init__": _init(processed, frozen), **_methods(processed, frozen)}
    if not eq:  # identity: object's __eq__ and __hash__, as dataclasses leave them
        del methods["__eq__"], methods["__hash__"]
    if frozen:
        methods.update(_frozen(processed))
    for name, method in methods.items():
        if callable(method):
            method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(processed, name, method)
    if not had_doc:  # dataclasses write the signature there
        import inspect

        processed.__doc__ = processed.__name__ + str(inspect.signature(processed)).replace(
            " -> None", ""
        )
    return processed


if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass
else:

    def dataclass(cls=None, /, *, frozen=False, eq=True):
        """``@dataclass``, ``@dataclass(frozen=True)``, ``@dataclass(eq=False)``, as
        :func:`dataclasses.dataclass` with its other defaults (``repr=True``)."""
        if cls is None:
            return lambda cls: _record(cls, frozen, eq)
        return _record(cls, frozen, eq)
