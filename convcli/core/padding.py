"""Padding: resolve a padding spec into per-side pads, and pad arrays by border mode.

The resolution half (:func:`as_padding_spec`, :func:`resolve_padding`, :func:`to_pair`) is
pure Python, so that size calculators can import it without NumPy; NumPy is imported only
inside :func:`pad2d`.

Border modes, one behaviour with many names (input ``1 2 3 4 5``, 3 pixels each side):

============  ===================  ===========  =============  ======================
convcli       result               NumPy pad    scipy.ndimage  OpenCV
============  ===================  ===========  =============  ======================
zeros         ``0 0 0|1..5|0 0 0``  constant     constant       BORDER_CONSTANT
reflect       ``4 3 2|1..5|4 3 2``  reflect      mirror         BORDER_REFLECT_101
replicate     ``1 1 1|1..5|5 5 5``  edge         nearest        BORDER_REPLICATE
circular      ``3 4 5|1..5|1 2 3``  wrap         wrap           BORDER_WRAP
symmetric     ``3 2 1|1..5|5 4 3``  symmetric    reflect        BORDER_REFLECT
============  ===================  ===========  =============  ======================

:func:`border_index` is the one rule for every mode, used by :func:`pad2d` and by the
strips of :mod:`convcli.core._strips`. Adding a border mode: its name in
:data:`PADDING_MODES` and one branch in :func:`border_index` (this file), its scipy name
in ``convcli/core/pool.py``'s ``_SCIPY_MODES``, and the help text of ``--border``.
Pads wider than the input fold back repeatedly, as in OpenCV (PyTorch refuses them).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING

from convcli.geometry import Pads2d, same_padding

if TYPE_CHECKING:  # NumPy is imported lazily: see the module docstring
    import numpy as np
    from numpy.typing import ArrayLike

    from convcli.geometry import PaddingSpec

PADDING_MODES: tuple[str, ...] = ("zeros", "reflect", "replicate", "circular", "symmetric")
"""The border modes, by their PyTorch/NumPy names (see the module docstring)."""

PaddingLike = int | str | Sequence[int]
"""What ``padding=`` accepts (as NumPy's ``ArrayLike``): ``int``, ``(ph, pw)``,
``(top, bottom, left, right)``, ``"valid"`` or ``"same"``. :func:`as_padding_spec`
turns it into the one parsed form, :data:`convcli.geometry.PaddingSpec`."""


def _as_int(value: object, name: str) -> int:
    """``value`` as a Python int, refusing bools, floats and strings (named in the error)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def to_pair(value: int | Sequence[int], name: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair as ``(height, width)`` values, each at least ``minimum``.

    Parameters
    ----------
    value : int or sequence of 1 or 2 ints
        The same value for both axes (an int, or PyTorch's ``(k,)``), or
        ``(height, width)``.
    name : str
        The parameter's name, used in error messages (``"stride"``, ``"dilation"``).
    minimum : int
        Smallest allowed value.

    Returns
    -------
    (int, int)

    Examples
    --------
    >>> to_pair(2, "stride"), to_pair((2,), "stride")
    ((2, 2), (2, 2))
    >>> to_pair(0, "stride")
    Traceback (most recent call last):
    ...
    ValueError: stride must be >= 1, got 0
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        pair = (_as_int(value, name),) * 2
    elif len(value) == 1:  # PyTorch's (k,): the same for both axes
        pair = (_as_int(value[0], name),) * 2
    else:
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        pair = (_as_int(value[0], name), _as_int(value[1], name))
    for item in pair:
        if item < minimum:
            shown = pair[0] if pair[0] == pair[1] else tuple(pair)
            raise ValueError(f"{name} must be >= {minimum}, got {shown}")
    return pair


#: The TensorFlow/Keras ``"same"`` rule along one axis, ``(before, after)``: the one rule,
#: :func:`convcli.geometry.same_padding`, under the name this module always exported.
same_pads = same_padding


def as_padding_spec(padding: PaddingLike) -> PaddingSpec:
    """Normalise what ``padding=`` accepts into the parsed form, checked.

    The one place a loose padding becomes a :data:`convcli.geometry.PaddingSpec`: an int
    pads all four sides, a pair ``(ph, pw)`` pads top and bottom by ``ph`` and left and
    right by ``pw`` (PyTorch), four values are per side; ``"same"`` and ``"valid"`` stay
    words (``"same"`` needs the sizes, see :func:`resolve_padding`).

    Raises
    ------
    ValueError
        Naming ``padding`` when the value is malformed or negative.

    Examples
    --------
    >>> as_padding_spec(1), as_padding_spec((1, 2)), as_padding_spec("same")
    ((1, 1, 1, 1), (1, 1, 2, 2), 'same')
    >>> as_padding_spec(-1)
    Traceback (most recent call last):
    ...
    ValueError: padding must be >= 0, got -1
    """
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(
                f"padding must be an int, (h, w), (top, bottom, left, right), "
                f"'valid' or 'same', got {padding!r}"
            )
        return padding  # type: ignore[return-value]
    if isinstance(padding, Sequence):
        if len(padding) == 1:  # PyTorch's (p,)
            pads = (_as_int(padding[0], "padding"),) * 4
        elif len(padding) == 2:
            pad_h, pad_w = (_as_int(item, "padding") for item in padding)
            pads = (pad_h, pad_h, pad_w, pad_w)
        elif len(padding) == 4:
            pads = tuple(_as_int(item, "padding") for item in padding)  # type: ignore[assignment]
        else:
            raise ValueError(
                f"padding must have 1 value, 2 (h, w) or 4 (top, bottom, left, right), "
                f"got {len(padding)}: {tuple(padding)!r}"
            )
    else:
        pads = (_as_int(padding, "padding"),) * 4
    if min(pads) < 0:
        shown = pads[0] if len(set(pads)) == 1 else pads
        raise ValueError(f"padding must be >= 0, got {shown}")
    return pads


def resolve_padding(
    padding: PaddingLike,
    in_size: tuple[int, int] | None = None,
    kernel_size: tuple[int, int] | None = None,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> Pads2d:
    """Turn a padding spec into the pads applied on each side.

    Parameters
    ----------
    padding : int, (ph, pw), (top, bottom, left, right), "valid" or "same"
        An int pads all four sides; a pair pads top and bottom by ``ph``, left and right
        by ``pw`` (PyTorch); four values are per side; ``"valid"`` is no padding;
        ``"same"`` follows TensorFlow/Keras (see :func:`same_pads`).
    in_size : (height, width), optional
        Needed only for ``"same"``.
    kernel_size : (kh, kw), optional
        Needed only for ``"same"``.
    stride, dilation : int or (int, int)
        Used only for ``"same"``.

    Returns
    -------
    (top, bottom, left, right) : tuple of int

    Raises
    ------
    ValueError
        Naming ``padding`` when the spec is malformed or negative.

    Examples
    --------
    >>> resolve_padding(1), resolve_padding((1, 2)), resolve_padding("valid")
    ((1, 1, 1, 1), (1, 1, 2, 2), (0, 0, 0, 0))
    >>> resolve_padding("same", (224, 224), (7, 7), stride=2)
    (2, 3, 2, 3)
    """
    spec = as_padding_spec(padding)
    if spec == "valid":
        return (0, 0, 0, 0)
    if spec != "same":
        return spec  # type: ignore[return-value]
    if in_size is None or kernel_size is None:
        raise ValueError("padding='same' needs the input size and the kernel size")
    stride_h, stride_w = to_pair(stride, "stride")
    dilation_h, dilation_w = to_pair(dilation, "dilation")
    top, bottom = same_padding(in_size[0], kernel_size[0], stride_h, dilation_h)
    left, right = same_padding(in_size[1], kernel_size[1], stride_w, dilation_w)
    return (top, bottom, left, right)


def check_padding_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`PADDING_MODES`, else raise a ValueError."""
    if mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {mode!r}")
    return mode


def check_pads_fit(pads: Pads2d, in_size: tuple[int, int], mode: str) -> None:
    """Reject the pads that ``mode`` cannot produce from an input of ``in_size``.

    Only an empty axis is refused (every mode but ``zeros`` copies from it): pads larger
    than the input fold back repeatedly, as OpenCV's ``borderInterpolate`` does (see
    :func:`border_index`), where PyTorch refuses ``reflect`` pads >= the size.

    Parameters
    ----------
    pads : (top, bottom, left, right)
        Non-negative pads.
    in_size : (height, width)
        The unpadded input's size.
    mode : str
        A border mode of :data:`PADDING_MODES`.
    """
    height, width = in_size
    sides = (("top", height), ("bottom", height), ("left", width), ("right", width))
    for pad, (side, size) in zip(pads, sides, strict=True):
        if pad and mode != "zeros" and size == 0:
            axis = "height" if side in ("top", "bottom") else "width"
            raise ValueError(f"padding_mode={mode!r} cannot pad an input of {axis} 0")


def border_index(position: int, size: int, mode: str) -> int:
    """The input index that ``position`` of a padded axis copies, or -1 for a zero.

    THE border rule: :func:`pad2d` and the strips of :mod:`convcli.core._strips` both
    use it, so a new border mode is one branch here (plus its name in
    :data:`PADDING_MODES` and the help text).

    Parameters
    ----------
    position : int
        Index along the unpadded axis: negative in the pad before it, ``>= size`` in the
        pad after it.
    size : int
        Length of the unpadded axis (at least 1 unless ``mode`` is ``zeros``).
    mode : {"zeros", "reflect", "replicate", "circular", "symmetric"}

    Returns
    -------
    int
        In ``range(size)``, or -1 where ``zeros`` pads.

    Notes
    -----
    Pads wider than the input fold back again and again, as OpenCV's
    ``borderInterpolate`` does (``reflect`` has period ``2 * (size - 1)``, ``symmetric``
    ``2 * size``, ``circular`` ``size``; a 1-pixel axis under ``reflect`` repeats its
    pixel). PyTorch refuses ``reflect`` pads >= the size and ``circular`` pads > it;
    convcli extends them like OpenCV, so a kernel larger than a small image still runs.

    Examples
    --------
    >>> [border_index(p, 3, "reflect") for p in range(-5, 8)]
    [1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]
    >>> [border_index(p, 2, "symmetric") for p in range(-4, 6)]
    [0, 1, 1, 0, 0, 1, 1, 0, 0, 1]
    """
    if 0 <= position < size:
        return position
    if mode == "zeros":
        return -1
    if mode == "replicate":
        return 0 if position < 0 else size - 1
    if mode == "circular":
        return position % size
    if mode == "reflect":  # edge not repeated: ... 2 1 | 0 1 2 | 1 0 ...
        period = 2 * (size - 1)
        if period == 0:
            return 0
        folded = position % period
        return folded if folded < size else period - folded
    if mode == "symmetric":  # edge repeated: ... 1 0 | 0 1 2 | 2 1 ...
        folded = position % (2 * size)
        return folded if folded < size else 2 * size - 1 - folded
    check_padding_mode(mode)  # raises for an unknown name
    raise AssertionError(f"padding_mode {mode!r} has no rule in border_index")


def border_sources(size: int, before: int, after: int, mode: str) -> tuple[list[int], list[int]]:
    """The input indices the ``before`` and ``after`` pads of an axis copy (-1: a zero).

    Parameters
    ----------
    size : int
        Length of the unpadded axis.
    before, after : int
        Pads before and after it.
    mode : str
        A border mode of :data:`PADDING_MODES` (see :func:`border_index`).

    Examples
    --------
    >>> border_sources(5, 3, 2, "reflect")
    ([3, 2, 1], [3, 2])
    """
    return (
        [border_index(p, size, mode) for p in range(-before, 0)],
        [border_index(p, size, mode) for p in range(size, size + after)],
    )


def source_index(size: int, before: int, after: int, mode: str) -> list[int]:
    """For each position of a padded axis, the input index it copies, or -1 for a zero.

    Parameters
    ----------
    size, before, after, mode
        As :func:`border_sources`.

    Examples
    --------
    >>> source_index(5, 3, 3, "reflect")
    [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]
    """
    head, tail = border_sources(size, before, after, mode)
    return head + list(range(size)) + tail


def pad2d(
    x: ArrayLike, pads: Pads2d, mode: str = "zeros", out: np.ndarray | None = None
) -> np.ndarray:
    """Pad the last two axes of ``x`` by ``(top, bottom, left, right)`` in a border mode.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
        ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``; leading axes are left alone.
    pads : (top, bottom, left, right)
        Non-negative pads, e.g. from :func:`resolve_padding`.
    mode : {"zeros", "reflect", "replicate", "circular", "symmetric"}
        See the module docstring for the other libraries' names.
    out : ndarray, shape (..., H + top + bottom, W + left + right), optional
        Written in place and returned (saves a fresh allocation in hot loops).

    Returns
    -------
    ndarray, shape (..., H + top + bottom, W + left + right), dtype of ``x``

    Raises
    ------
    ValueError
        For an unknown mode, negative pads, or a mode other than ``zeros`` on an empty
        axis. Pads wider than the input fold back repeatedly (OpenCV's rule, see
        :func:`border_index`), where PyTorch would refuse them.

    Notes
    -----
    Rows are padded first (inside the original columns), then columns over the full
    padded height; every mode is separable per axis, so the corners come out right.

    Examples
    --------
    >>> pad2d([[1, 2, 3, 4, 5]], (0, 0, 3, 3), "reflect").tolist()
    [[4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2]]
    >>> pad2d([[1, 2, 3, 4, 5]], (0, 0, 3, 3), "symmetric").tolist()
    [[3, 2, 1, 1, 2, 3, 4, 5, 5, 4, 3]]
    """
    import numpy as np

    array = np.asarray(x)
    if array.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (H, W), got shape {array.shape}")
    check_padding_mode(mode)
    if any(_as_int(pad, "pads") < 0 for pad in pads):  # F.pad crops; this one does not
        raise ValueError(f"pads must be >= 0, got {tuple(pads)}")
    top, bottom, left, right = resolve_padding(tuple(pads))
    height, width = array.shape[-2:]
    check_pads_fit((top, bottom, left, right), (height, width), mode)
    shape = array.shape[:-2] + (height + top + bottom, width + left + right)
    if out is None:
        out = np.empty(shape, dtype=array.dtype)
    elif out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    out[..., top : top + height, left : left + width] = array
    if mode == "zeros":
        out[..., :top, :] = 0
        out[..., top + height :, :] = 0
        out[..., top : top + height, :left] = 0
        out[..., top : top + height, left + width :] = 0
        return out
    if top or bottom:
        above, below = border_sources(height, top, bottom, mode)
        inner = out[..., :, left : left + width]
        inner[..., :top, :] = array[..., above, :]
        inner[..., top + height :, :] = array[..., below, :]
    if left or right:
        # Columns come from the already row-padded output, so corners follow both rules.
        before, after = border_sources(width, left, right, mode)
        out[..., :left] = out[..., [left + index for index in before]]
        out[..., left + width :] = out[..., [left + index for index in after]]
    return out


__all__ = [
    "PADDING_MODES",
    "Pads2d",
    "PaddingLike",
    "as_padding_spec",
    "check_padding_mode",
    "border_index",
    "border_sources",
    "check_pads_fit",
    "pad2d",
    "resolve_padding",
    "same_pads",
    "source_index",
    "to_pair",
]
