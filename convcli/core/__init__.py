"""The NumPy core: convolution and pooling with PyTorch's semantics. Pure: arrays in,
arrays out; no Pillow, no printing.

Names are resolved lazily (PEP 562), so that the pure-Python parts, such as
:func:`convcli.core.padding.resolve_padding`, can be imported without NumPy.
"""

from __future__ import annotations

from convcli._lazy import attach

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


__getattr__, __dir__ = attach(__name__, _LAZY)
