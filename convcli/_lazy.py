"""Lazily loaded public names (PEP 562), for ``convcli`` and ``convcli.core``.

A package lists ``name -> module`` and gets a ``__getattr__`` that imports the module on
first use, so ``import convcli`` (and the ``convcli shape`` path) never pays for NumPy.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def attach(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose ``names`` load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``; it must already be in ``sys.modules``.
    names : dict of str to str
        Public name -> module that defines it.

    Examples
    --------
    >>> import convcli
    >>> getattr_, dir_ = attach("convcli", {"conv2d": "convcli.core"})
    >>> getattr_("conv2d") is convcli.conv2d
    True
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module_name = names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
