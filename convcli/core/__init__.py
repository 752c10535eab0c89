"""The NumPy core: convolution and pooling with PyTorch's semantics. Pure: arrays in,
arrays out; no Pillow, no printing.

Names are resolved lazily (PEP 562), so that the pure-Python parts, such as
:func:`convcli.core.padding.resolve_padding`, can be imported without NumPy.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> submodule that defines it.
_LAZY: dict[str, str] = {
    "conv2d": "convcli.core.conv",
    "conv_transpose2d": "convcli.core.conv",
    "choose_algorithm": "convcli.core.conv",
    "ALGORITHMS": "convcli.core.conv",
    "pad2d": "convcli.core.padding",
    "resolve_padding": "convcli.core.padding",
    "PADDING_MODES": "convcli.core.padding",
    "max_pool2d": "convcli.core.pool",
    "avg_pool2d": "convcli.core.pool",
    "min_pool2d": "convcli.core.pool",
    "median_filter2d": "convcli.core.pool",
    "pool_output_size": "convcli.core.pool",
    "POOL_ALGORITHMS": "convcli.core.pool",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'convcli.core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
