"""``@dataclass`` for the modules on ``convcli shape``'s path, cheaper to define (issue 14).

Python 3.11's ``dataclass(frozen=True)`` compiles six methods per class with ``exec``;
the 24 classes ``convcli shape`` defines before it does anything spent about a sixth of
the command's CPU time there. This decorator compiles nothing: ``__init__`` is one code
object shared by every record (:func:`_template`), renamed per class with
``CodeType.replace`` so that Python binds the arguments as it would for a compiled
``__init__`` (same signature, defaults, and errors for a wrong call), its body handing them
to the class's filler; ``__eq__``, ``__hash__``, ``__repr__`` and a frozen class's
``__setattr__``/``__delattr__`` are the same functions for every class, closed over its
field names. :mod:`dataclasses` still processes the fields (``fields()``, ``replace()``,
``__match_args__`` work as ever). All behave as :mod:`dataclasses` writes them
(tests/test_startup.py compares them, signature, docstring and call errors included); an
instance takes ~1 us longer to make (a loop over the fields instead of straight-line
code), against ~0.1 ms saved per class defined. A class using what this does not
cover (its own ``__eq__``/``__hash__``/``__repr__``/``__setattr__``, ``__post_init__``,
``field(init=False)``, keyword-only fields, ``ClassVar``/``InitVar``) gets
:func:`dataclasses.dataclass` itself.

Type checkers see :func:`dataclasses.dataclass` itself.
"""

from __future__ import annotations

import dataclasses
import re
import reprlib
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

_T = TypeVar("_T")
#: A processed class's fields, as ``dataclasses.fields`` gives them.
Fields = tuple[dataclasses.Field[Any], ...]


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The fields ``names`` of an object, as a tuple (what dataclasses compare and hash)."""
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda self: (one(self),)
    return attrgetter(*names) if names else lambda self: ()


def _methods(fields: Fields, frozen: bool) -> dict[str, Any]:
    """``__eq__``, ``__hash__`` (None unless frozen) and ``__repr__`` as dataclasses write
    them for a class of ``fields`` (``dataclasses.fields`` of it, processed)."""
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
    if any(not f.init or f.kw_only or f.name == "self" for f in fields):
        return False  # (dataclasses call __init__'s first parameter otherwise then)
    defaults = [f.default is not MISSING or f.default_factory is not MISSING for f in fields]
    return defaults == sorted(defaults)  # else dataclasses raises its own TypeError


def _template(self):  # type: ignore[no-untyped-def]
    """The code of every record's ``__init__`` (renamed per class by :func:`_init`)."""
    _records_fill(self, locals())  # type: ignore[name-defined]  # noqa: F821


def _filler(
    fields: Fields, frozen: bool
) -> tuple[Callable[[Any, dict[str, Any]], None], list[Any]]:
    """What ``__init__``'s body calls with its arguments (as a dict), and the defaults."""
    names = tuple(f.name for f in fields)
    store = object.__setattr__ if frozen else setattr
    defaults: list[Any] = []
    makers: dict[str, Callable[[], Any]] = {}
    for f in fields:
        if f.default is not MISSING:
            defaults.append(f.default)
        elif f.default_factory is not MISSING:
            defaults.append(_FACTORY)
            makers[f.name] = f.default_factory

    def fill(self: Any, values: dict[str, Any]) -> None:
        for name in names:
            store(self, name, values[name])

    def fill_made(self: Any, values: dict[str, Any]) -> None:
        for name in names:
            value = values[name]
            if value is _FACTORY and name in makers:
                value = makers[name]()
            store(self, name, value)

    return (fill_made if makers else fill), defaults


def _init(cls: type, fields: Fields, frozen: bool) -> Callable[..., None]:
    """``__init__`` as dataclasses writes it for ``cls`` (of ``fields``), without compiling
    one: the shared :func:`_template` code with the fields as its parameters."""
    fill, defaults = _filler(fields, frozen)
    names = ("self", *(f.name for f in fields))
    changes: dict[str, Any] = {"co_argcount": len(names), "co_nlocals": len(names),
                               "co_varnames": names, "co_name": "__init__"}  # fmt: skip
    if sys.version_info >= (3, 11):
        changes["co_qualname"] = f"{cls.__qualname__}.__init__"
    code = _template.__code__.replace(**changes)
    init: Callable[..., None] = types.FunctionType(
        code, {"_records_fill": fill, "locals": locals}, "__init__", tuple(defaults) or None
    )
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init


def _frozen(cls: type, fields: Fields) -> dict[str, Any]:
    """A frozen dataclass's ``__setattr__`` and ``__delattr__``."""
    names = frozenset(f.name for f in fields)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]

    return {"__setattr__": __setattr__, "__delattr__": __delattr__}


# How dataclasses read a string annotation's first name (their own pattern, compiled once).
_IDENTIFIER = getattr(dataclasses, "_MODULE_IDENTIFIER_RE", None) or re.compile(
    r"^(?:\s*(\w+)\s*\.)?\s*(\w+)"
)


def _special(annotation: Any, namespace: dict[str, Any]) -> bool:
    """Whether dataclasses might read ``annotation`` as ClassVar, InitVar or KW_ONLY (or it
    is no string): then they process the class themselves."""
    if not isinstance(annotation, str):
        return True
    match = _IDENTIFIER.match(annotation)
    if match is None:
        return False
    module_name, name = match.groups()
    for thing in (
        namespace.get(name),
        module_name and getattr(namespace.get(module_name), name, None),
    ):
        if thing is not None and (
            thing is typing.ClassVar
            or thing is dataclasses.InitVar
            or thing is dataclasses.KW_ONLY
            or isinstance(thing, dataclasses.InitVar)
            or typing.get_origin(thing) is typing.ClassVar
        ):
            return True
    return False


def _plain_fields(cls: type) -> dict[str, dataclasses.Field[Any]] | None:
    """The fields ``dataclasses.dataclass(init=False, repr=False, eq=False)`` would give
    ``cls``, made without it (its checks of every string annotation against ClassVar,
    InitVar and KW_ONLY cost half of a record's definition), or None when the class is not
    the plain case :func:`_record` covers: dataclasses then process it."""
    module = sys.modules.get(cls.__module__)
    if module is None or not (3, 10) <= sys.version_info < (3, 13):  # 3.13: __replace__
        return None
    if hasattr(cls, "__abstractmethods__") or hasattr(cls, "__post_init__"):
        return None
    if any(hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]):
        return None
    annotations = cls.__dict__.get("__annotations__", {})
    made: dict[str, dataclasses.Field[Any]] = {}
    with_default = False
    for name, annotation in annotations.items():
        default: Any = getattr(cls, name, MISSING)
        if name == "self" or _special(annotation, module.__dict__):
            return None
        if isinstance(default, types.MemberDescriptorType):  # __slots__
            return None
        one: dataclasses.Field[Any] = (
            default
            if isinstance(default, dataclasses.Field)
            else dataclasses.field(default=default)
        )
        if not one.init or one.kw_only not in (MISSING, False):
            return None
        if one.default is not MISSING and one.default.__class__.__hash__ is None:
            return None  # a mutable default: dataclasses refuse it
        has_default = one.default is not MISSING or one.default_factory is not MISSING
        if with_default and not has_default:
            return None  # dataclasses refuse it
        with_default = with_default or has_default
        made[name] = one
    if any(isinstance(v, dataclasses.Field) and k not in annotations for k, v in vars(cls).items()):
        return None  # a field without annotation: dataclasses refuse it
    for name, one in made.items():
        one.name, one.type, one.kw_only = name, annotations[name], False
        one._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
    return made


def _params() -> Any:
    """The ``__dataclass_params__`` dataclasses give a class processed with init, repr and
    eq off (what :func:`_record` asked them for before), made once."""
    global _PARAMS
    if _PARAMS is None:
        # With a docstring: a class without one gets its signature written there, and
        # object's __init__ has only a text signature, which inspect parses with tokenize's
        # large pattern (compiled on first use: ~6 ms of every `convcli shape`, issue 14).
        blank = type("_Params", (), {"__module__": __name__, "__doc__": "(params)"})
        _PARAMS = dataclasses.dataclass(init=False, repr=False, eq=False)(
            blank
        ).__dataclass_params__  # type: ignore[attr-defined]
    return _PARAMS


_PARAMS: Any = None


def _process(cls: type, fields: dict[str, dataclasses.Field[Any]]) -> None:
    """What ``dataclasses._process_class`` does with a plain class's fields: defaults on
    the class (a factory's field removed), the fields, the params, ``__match_args__``."""
    for name, one in fields.items():
        if isinstance(getattr(cls, name, None), dataclasses.Field):
            if one.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, one.default)
    setattr(cls, "__dataclass_params__", _params())  # noqa: B010 (names dataclasses read)
    setattr(cls, "__dataclass_fields__", fields)  # noqa: B010
    if "__match_args__" not in cls.__dict__:
        setattr(cls, "__match_args__", tuple(fields))  # noqa: B010


def _record(cls: type[_T], frozen: bool, eq: bool = True) -> type[_T]:
    had_doc = bool(cls.__dict__.get("__doc__"))
    if _OWN & set(cls.__dict__):
        return dataclasses.dataclass(frozen=frozen, eq=eq)(cls)
    fields = _plain_fields(cls)
    if fields is not None:
        _process(cls, fields)
        return _finish(cls, frozen, had_doc, eq)
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
    return _finish(processed, frozen, had_doc, eq)


def _finish(processed: type[_T], frozen: bool, had_doc: bool, eq: bool) -> type[_T]:
    """A class whose fields are processed, with the shared methods of a record."""
    cls = processed
    # Read once for all the methods below (dataclasses.fields filters every field each time).
    fields = dataclasses.fields(processed)  # type: ignore[arg-type]
    methods = {"__init__": _init(processed, fields, frozen), **_methods(fields, frozen)}
    if not eq:  # identity: object's __eq__ and __hash__, as dataclasses leave them
        del methods["__eq__"], methods["__hash__"]
    if frozen:
        methods.update(_frozen(processed, fields))
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
