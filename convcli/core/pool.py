"""Pooling with PyTorch's semantics: max, average and min pooling, and a median filter.

Every function takes ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)`` arrays and returns the
same rank. float64 stays float64; every other real dtype (integers, bools, float16,
float32) is computed and returned as float32.

Three algorithms compute the same pools (``algorithm=``):

``"direct"``
    Pad explicitly (``-inf`` for max, ``+inf`` for min, zeros for average), then reduce
    the ``kh * kw`` strided views of the padded array. The reference: obviously right,
    ``kh * kw`` passes over the output.
``"reshape"``
    Non-overlapping windows only (stride = kernel, no dilation, no padding, no ceil-mode
    overhang): split each axis into ``(out, kernel)`` by reshaping, then reduce the kernel
    axis one slice at a time (pairs of rows, then of columns), which is about 10x faster
    than ``reshape(...).max(axis)``.
``"separable"``
    A window reduction is a reduction over rows of a reduction over columns, so each axis
    is done on its own, with the padding left implicit (each kernel tap only touches the
    outputs whose source lies inside the input; interior outputs take ``k - 1`` passes).
    For max/min with a long kernel and a short stride, an axis uses a running max by
    doubling instead (about ``log2(k) + 1`` passes: 4 instead of 6 for k = 7). Work runs
    in bands of output rows whose intermediate is about 2 MiB, so it stays in cache and
    no image-sized temporary is allocated; on big inputs the bands run on all cores.

``"auto"`` (the default) picks ``"reshape"`` when it applies and ``"separable"``
otherwise.

The median filter runs an exact min/max network shared between neighbouring windows
(:mod:`convcli.core._median`), in uint8 or uint16 when the values allow, or SciPy's
selection for strides > 1 and windows over 15 (see :func:`choose_median`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from convcli import geometry
from convcli._records import dataclass
from convcli.core import _scratch
from convcli.core._strips import MIN_PARALLEL_ELEMENTS, band_rows, run_bands
from convcli.core.padding import (
    PaddingLike,
    check_padding_mode,
    check_pads_fit,
    pad2d,
    resolve_padding,
    to_pair,
)

POOL_ALGORITHMS: tuple[str, ...] = ("auto", "direct", "reshape", "separable")
"""The values accepted by the ``algorithm`` argument of the pooling functions."""

IntPair = int | Sequence[int]
"""An int for both axes, or ``(height, width)``."""

# Intermediate strips of about this many bytes: about one core's L2, big enough that
# NumPy's per-call overhead stays negligible (1 to 8 MiB measured alike on 4K; 2 MiB is
# the size of this machine's L2 per core).
_STRIP_BYTES = 2 << 20


# --------------------------------------------------------------------------- inputs


def _as_planes(x: ArrayLike, keep_small: bool = False) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` as float32/float64 planes ``(P, H, W)``, and its leading shape to restore.

    ``keep_small`` keeps uint8 and uint16 as they are (the median runs on them directly).
    """
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"x must hold real numbers, got dtype {array.dtype}")
    if keep_small and array.dtype in (np.uint8, np.uint16):
        pass
    elif array.dtype != np.float64:
        array = array.astype(np.float32, copy=False)
    if array.ndim not in (2, 3, 4):
        raise ValueError(
            f"x must have shape (H, W), (C, H, W) or (N, C, H, W), got shape {array.shape}"
        )
    # PyTorch accepts an empty batch but no empty channel or spatial axis.
    non_batch = array.shape[1:] if array.ndim == 4 else array.shape
    if 0 in non_batch:
        raise ValueError(f"x must not have an empty axis besides the batch, got {array.shape}")
    lead = array.shape[:-2]
    return array.reshape((-1,) + array.shape[-2:]), lead


def _shown(pair: Sequence[int]) -> int | tuple[int, ...]:
    """A pair as users wrote it: one int when both axes agree."""
    return pair[0] if len(set(pair)) == 1 else tuple(pair)


# ------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class AxisWindows:
    """Where the pooling windows of one spatial axis fall.

    Window ``i`` reads input positions ``i * stride + j * dilation - pad_before`` for
    ``j = 0 .. kernel - 1``; positions outside ``[0, size)`` are padding (or, in ceil
    mode, overhang past the padding).
    """

    size: int
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    out_size: int

    @property
    def extent(self) -> int:
        """Length of the padded axis that covers every window (overhang included)."""
        return (self.out_size - 1) * self.stride + self.dilation * (self.kernel - 1) + 1

    def counts(self, include_pad: bool) -> np.ndarray:
        """Per output, the positions of its window inside the padded (or bare) input.

        Notes
        -----
        PyTorch's rule: ``start = i*s - p_before``, ``end = min(start + k, size + p_after)``;
        with padding counted the divisor is ``end - start``, so the ceil-mode overhang past
        the padding never counts; without, ``start`` and ``end`` are first clipped to
        ``[0, size)``.
        """
        start = np.arange(self.out_size) * self.stride - self.pad_before
        end = np.minimum(start + self.kernel, self.size + self.pad_after)
        if not include_pad:
            start = np.maximum(start, 0)
            end = np.minimum(end, self.size)
        return end - start


def pool_output_size(
    size: int,
    kernel: int,
    stride: int,
    pad_before: int,
    pad_after: int,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of pooling along one axis, exactly as PyTorch computes it.

    Parameters
    ----------
    size : int
        Input length along the axis.
    kernel : int
        Window length (undilated).
    stride : int
        Step of the window.
    pad_before, pad_after : int
        Padding on each side.
    dilation : int
        Spacing of the window's taps.
    ceil_mode : bool
        Round up, PyTorch's ``ceil_mode``.

    Notes
    -----
    ``out = floor((size + p_before + p_after - d(k-1) - 1 [+ s - 1 if ceil]) / s) + 1``;
    in ceil mode the last window may not start in the right padding, so one is taken
    off when ``(out - 1) * s >= size + p_before``. May be < 1 (the caller rejects it).

    Examples
    --------
    >>> pool_output_size(5, 2, 2, 1, 1, ceil_mode=True), pool_output_size(5, 2, 2, 1, 1)
    (3, 3)
    >>> pool_output_size(6, 3, 2, 0, 0, ceil_mode=True), pool_output_size(6, 3, 2, 0, 0)
    (3, 2)
    """
    # One formula for the whole project: the shape calculator's (pure Python).
    return geometry.pool_output_size(
        size, kernel, stride, (pad_before, pad_after), dilation, ceil_mode
    )


def _pool_windows(
    shape: tuple[int, int],
    kernel_size: IntPair,
    stride: IntPair | None,
    padding: PaddingLike,
    dilation: IntPair,
    ceil_mode: bool,
) -> tuple[AxisWindows, AxisWindows]:
    """Check the pooling arguments in PyTorch's order and place the windows of each axis."""
    kernel = to_pair(kernel_size, "kernel_size", minimum=1)
    empty = stride is None or (isinstance(stride, Sequence) and len(stride) == 0)
    strides = kernel if empty else to_pair(stride, "stride", minimum=1)  # type: ignore[arg-type]
    dilations = to_pair(dilation, "dilation", minimum=1)
    top, bottom, left, right = resolve_padding(padding, shape, kernel, strides, dilations)
    limit = (kernel[0] // 2, kernel[1] // 2)
    if max(top, bottom) > limit[0] or max(left, right) > limit[1]:
        raise ValueError(
            f"padding must be at most half the kernel size (kernel_size // 2 = "
            f"{_shown(limit)}) on each side, got {_shown((top, bottom, left, right))}"
        )
    pads = ((top, bottom), (left, right))
    axes = tuple(
        AxisWindows(
            size=shape[axis],
            kernel=kernel[axis],
            stride=strides[axis],
            dilation=dilations[axis],
            pad_before=pads[axis][0],
            pad_after=pads[axis][1],
            out_size=pool_output_size(
                shape[axis],
                kernel[axis],
                strides[axis],
                *pads[axis],
                dilations[axis],
                bool(ceil_mode),
            ),
        )
        for axis in (0, 1)
    )
    if min(axes[0].out_size, axes[1].out_size) < 1:
        raise ValueError(
            f"kernel_size {_shown(kernel)} (dilation {_shown(dilations)}, padding "
            f"{_shown((top, bottom, left, right))}) does not fit the input {shape[0]}x{shape[1]}: "
            f"the output would be {axes[0].out_size}x{axes[1].out_size}"
        )
    return axes  # type: ignore[return-value]


# ----------------------------------------------------------------------- reductions


@dataclass(frozen=True)
class _Reduction:
    """A window reduction: its ufunc and the padding value that never changes it."""

    ufunc: np.ufunc
    identity: float
    idempotent: bool  # op(a, a) == a: overlapping parts may be reduced twice


_MAX = _Reduction(np.maximum, -np.inf, True)
_MIN = _Reduction(np.minimum, np.inf, True)
_SUM = _Reduction(np.add, 0.0, False)


def _along(axis: int, index: slice | int) -> tuple[slice | int, ...]:
    """An index tuple that applies ``index`` to ``axis`` of a 3-D array."""
    return (slice(None),) * axis + (index,)


def _direct(planes: np.ndarray, windows: tuple[AxisWindows, ...], op: _Reduction) -> np.ndarray:
    """Reduce the ``kh * kw`` strided views of an explicitly padded copy (the reference)."""
    rows, cols = windows
    height = max(rows.extent, rows.pad_before + rows.size)
    width = max(cols.extent, cols.pad_before + cols.size)
    padded = np.full((planes.shape[0], height, width), op.identity, dtype=planes.dtype)
    padded[:, rows.pad_before : rows.pad_before + rows.size,
           cols.pad_before : cols.pad_before + cols.size] = planes  # fmt: skip
    out = np.full((planes.shape[0], rows.out_size, cols.out_size), op.identity, planes.dtype)
    for tap_row in range(rows.kernel):
        first_row = tap_row * rows.dilation
        row_index = slice(first_row, first_row + (rows.out_size - 1) * rows.stride + 1, rows.stride)
        for tap_col in range(cols.kernel):
            first_col = tap_col * cols.dilation
            col_index = slice(
                first_col, first_col + (cols.out_size - 1) * cols.stride + 1, cols.stride
            )
            op.ufunc(out, padded[:, row_index, col_index], out=out)
    return out


def _direct_counts(windows: tuple[AxisWindows, ...], include_pad: bool) -> np.ndarray:
    """Divisors by brute force: pool a mask of the counted positions with a sum."""
    masks = []
    for axis in windows:
        mask = np.zeros(max(axis.extent, axis.pad_before + axis.size))
        if include_pad:
            mask[: axis.pad_before + axis.size + axis.pad_after] = 1
        else:
            mask[axis.pad_before : axis.pad_before + axis.size] = 1
        masks.append(mask)
    plane = np.multiply.outer(*masks)[None]
    # The mask is already padded: pool it with the same windows and no further padding.
    bare = tuple(
        AxisWindows(len(mask), a.kernel, a.stride, a.dilation, 0, 0, a.out_size)
        for a, mask in zip(windows, masks, strict=True)
    )
    return _direct(plane, bare, _SUM)[0]


AxisPass = Callable[[np.ndarray, int, AxisWindows, _Reduction, np.ndarray, int], None]


def _strided_pass(
    source: np.ndarray, axis: int, win: AxisWindows, op: _Reduction, out: np.ndarray, first: int
) -> None:
    """``out[i - first] = reduce_j source[i*s + j*d - p_before]`` along ``axis``, for the
    outputs ``first .. first + out.shape[axis] - 1``, skipping taps that fall outside.

    The outputs every tap reaches (the interior) take ``k - 1`` passes with no fill; only
    the few border outputs start from the identity.
    """
    stop = first + out.shape[axis]
    taps = []  # (offset, first output it reaches, one past the last)
    for tap in range(win.kernel):
        offset = tap * win.dilation - win.pad_before
        low = max(first, -(offset // win.stride))  # ceil(-offset / stride)
        high = min(stop, (win.size - 1 - offset) // win.stride + 1)
        taps.append((offset, low, high))
    inner_low = max(low for _, low, _ in taps)
    inner_high = min(high for _, _, high in taps)
    if inner_low >= inner_high:  # no output sees every tap: all of it is border
        inner_low = inner_high = first

    def source_view(offset: int, low: int, high: int) -> np.ndarray:
        start = low * win.stride + offset
        return source[_along(axis, slice(start, start + (high - low - 1) * win.stride + 1,
                                         win.stride))]  # fmt: skip

    def target(low: int, high: int) -> np.ndarray:
        return out[_along(axis, slice(low - first, high - first))]

    if inner_low < inner_high:
        inner = target(inner_low, inner_high)
        views = [source_view(offset, inner_low, inner_high) for offset, _, _ in taps]
        if len(views) == 1:
            np.copyto(inner, views[0])
        else:
            op.ufunc(views[0], views[1], out=inner)
            for view in views[2:]:
                op.ufunc(inner, view, out=inner)
    for border_low, border_high in ((first, inner_low), (inner_high, stop)):
        if border_low >= border_high:
            continue
        target(border_low, border_high).fill(op.identity)
        for offset, low, high in taps:
            low, high = max(low, border_low), min(high, border_high)
            if low < high:
                part = target(low, high)
                op.ufunc(part, source_view(offset, low, high), out=part)


def _doubling_pass(
    source: np.ndarray, axis: int, win: AxisWindows, op: _Reduction, out: np.ndarray, first: int
) -> None:
    """Running max/min by doubling: windows of 1, 2, 4, ... taps, then two overlapping ones.

    ``m_{2t}[q] = op(m_t[q], m_t[q + t*d])``; a window of ``k`` taps starting at ``q`` is
    ``op(m_T[q], m_T[q + (k - T) d])`` with ``T`` the largest power of two <= ``k``
    (the two halves overlap, which max and min do not mind).
    """
    count = out.shape[axis]
    low = first * win.stride - win.pad_before  # first input position read
    length = (count - 1) * win.stride + win.dilation * (win.kernel - 1) + 1
    shape = list(source.shape)
    shape[axis] = length
    values = math.prod(shape)
    # Kept between bands and calls (_scratch): fresh, these were ~19,000 page faults a 4K
    # 15x15 max (60 ms of the kernel's time against 90 ms of ours).
    with _scratch.lent(source.dtype, values, values) as buffers:
        level, spare = (buffer[:values].reshape(shape) for buffer in buffers)
        inside_start, inside_stop = max(low, 0), min(low + length, win.size)
        inside = slice(inside_start - low, max(inside_stop, inside_start) - low)
        level[_along(axis, slice(0, inside.start))] = op.identity
        level[_along(axis, slice(inside.stop, None))] = op.identity
        level[_along(axis, inside)] = source[_along(axis, slice(inside_start, inside.stop + low))]
        # Two buffers in turn: an in-place shifted ufunc would make NumPy copy its input.
        taps = 1
        while 2 * taps <= win.kernel:
            shift = taps * win.dilation
            size = level.shape[axis] - shift
            doubled = spare[_along(axis, slice(0, size))]
            op.ufunc(level[_along(axis, slice(0, size))],
                     level[_along(axis, slice(shift, shift + size))], out=doubled)  # fmt: skip
            spare, level = level, doubled
            taps *= 2
        last = (count - 1) * win.stride + 1
        first_half = level[_along(axis, slice(0, last, win.stride))]
        shift = (win.kernel - taps) * win.dilation
        second_half = level[_along(axis, slice(shift, shift + last, win.stride))]
        op.ufunc(first_half, second_half, out=out)


def _separable_pass(
    source: np.ndarray, axis: int, win: AxisWindows, op: _Reduction, out: np.ndarray, first: int
) -> None:
    """One axis of the separable algorithm: strided taps, or doubling when cheaper."""
    count = out.shape[axis]
    # Passes over the data: k - 1 strided taps, against one padded copy, bit_length - 1
    # doublings over the whole span, and the final pair.
    strided_cost = (win.kernel - 1) * count
    span = (count - 1) * win.stride + win.dilation * (win.kernel - 1) + 1
    doubling_cost = span * win.kernel.bit_length() + count
    if op.idempotent and doubling_cost < strided_cost:
        _doubling_pass(source, axis, win, op, out, first)
    else:
        _strided_pass(source, axis, win, op, out, first)


def _reshape_pass(
    source: np.ndarray, axis: int, win: AxisWindows, op: _Reduction, out: np.ndarray, first: int
) -> None:
    """Non-overlapping windows: split ``axis`` into ``(out, kernel)`` and reduce slices."""
    count = out.shape[axis]
    block = source[_along(axis, slice(first * win.kernel, (first + count) * win.kernel))]
    split = block.reshape(block.shape[:axis] + (count, win.kernel) + block.shape[axis + 1 :])
    taps = [split[_along(axis + 1, tap)] for tap in range(win.kernel)]
    if len(taps) == 1:
        np.copyto(out, taps[0])
        return
    op.ufunc(taps[0], taps[1], out=out)
    for tap in taps[2:]:
        op.ufunc(out, tap, out=out)


def _by_axes(
    planes: np.ndarray,
    windows: tuple[AxisWindows, ...],
    op: _Reduction,
    axis_pass: AxisPass,
    divisor: np.ndarray | None = None,
) -> np.ndarray:
    """Rows then columns, in bands of output rows so the intermediate stays in cache.

    Bands run on both cores (NumPy releases the GIL in its loops); each worker reuses
    one strip buffer. ``divisor`` (a scalar or ``(H_out, W_out)``) divides each band
    while it is still in cache.
    """
    rows, cols = windows
    count, _, width = planes.shape
    out = np.empty((count, rows.out_size, cols.out_size), dtype=planes.dtype)
    row_bytes = max(1, count * width * planes.itemsize)
    strip_rows = max(1, min(rows.out_size, _STRIP_BYTES // row_bytes))
    if divisor is not None:
        divisor = divisor.astype(planes.dtype)

    def work(bands: Iterable[tuple[int, int]]) -> None:
        with _scratch.lent(planes.dtype, count * strip_rows * width) as (buffer,):
            strip = buffer[: count * strip_rows * width].reshape(count, strip_rows, width)
            for first, stop in bands:
                reduced_rows = strip[:, : stop - first]
                band = out[:, first:stop]
                axis_pass(planes, 1, rows, op, reduced_rows, first)
                axis_pass(reduced_rows, 2, cols, op, band, 0)
                if divisor is not None:
                    band /= divisor if divisor.ndim == 0 else divisor[first:stop]

    run_bands(band_rows(rows.out_size, strip_rows), work, out.size >= MIN_PARALLEL_ELEMENTS)
    return out


def _reshape_applies(windows: tuple[AxisWindows, ...]) -> bool:
    return all(
        w.stride == w.kernel
        and w.dilation == 1
        and w.pad_before == w.pad_after == 0
        and w.out_size * w.kernel <= w.size
        for w in windows
    )


def _reduce(
    planes: np.ndarray,
    windows: tuple[AxisWindows, ...],
    op: _Reduction,
    algorithm: str,
    divisor: np.ndarray | None = None,
) -> np.ndarray:
    """Reduce every window with ``op`` by ``algorithm``, then divide by ``divisor``."""
    if algorithm not in POOL_ALGORITHMS:
        raise ValueError(
            f"algorithm must be one of {', '.join(POOL_ALGORITHMS)}, got {algorithm!r}"
        )
    if algorithm == "auto":
        algorithm = "reshape" if _reshape_applies(windows) else "separable"
    if algorithm == "direct":
        out = _direct(planes, windows, op)
        if divisor is not None:
            out /= divisor.astype(out.dtype)
        return out
    if algorithm == "reshape":
        if not _reshape_applies(windows):
            raise ValueError(
                "algorithm='reshape' needs non-overlapping windows: stride equal to "
                "kernel_size, no dilation, no padding and no ceil-mode overhang"
            )
        return _by_axes(planes, windows, op, _reshape_pass, divisor)
    return _by_axes(planes, windows, op, _separable_pass, divisor)


def _restore(out: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    return out.reshape(lead + out.shape[-2:])


# ------------------------------------------------------------------------ public API


def _extreme_pool(
    x: ArrayLike,
    kernel_size: IntPair,
    stride: IntPair | None,
    padding: PaddingLike,
    dilation: IntPair,
    ceil_mode: bool,
    algorithm: str,
    op: _Reduction,
) -> np.ndarray:
    planes, lead = _as_planes(x)
    windows = _pool_windows(planes.shape[-2:], kernel_size, stride, padding, dilation, ceil_mode)
    return _restore(_reduce(planes, windows, op, algorithm), lead)


def max_pool2d(
    x: ArrayLike,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: PaddingLike = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    *,
    algorithm: str = "auto",
) -> np.ndarray:
    """Max pooling, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    x : array_like, shape (H, W), (C, H, W) or (N, C, H, W)
        Input; each channel is pooled on its own.
    kernel_size : int or (kh, kw)
        Window size.
    stride : int or (sh, sw), optional
        Step between windows; ``None`` (default) means ``kernel_size``, as in PyTorch.
    padding : int, (ph, pw), (top, bottom, left, right), "valid" or "same"
        Implicit ``-inf`` padding (padding never wins), at most ``kernel_size // 2`` on each
        side as PyTorch requires. PyTorch takes only an int or a pair; the 4-value form and
        ``"same"`` (TensorFlow's: ``out = ceil(in / stride)``, odd pixel bottom/right) are
        convcli extensions, checked against the same limit.
    dilation : int or (dh, dw)
        Spacing between window taps.
    ceil_mode : bool
        Round the output size up; the last window must still start inside the input or
        the left padding.
    algorithm : {"auto", "direct", "reshape", "separable"}
        See the module docstring; all give the same values.

    Returns
    -------
    ndarray, shape (H_out, W_out), (C, H_out, W_out) or (N, C, H_out, W_out)
        float64 for float64 input, float32 otherwise.

    Raises
    ------
    ValueError
        Naming the parameter, for everything PyTorch rejects: kernel_size, stride or
        dilation < 1, negative padding, padding > kernel_size // 2, an output smaller than
        1x1; and for an input of another rank.

    Notes
    -----
    ``out[i, j] = max_{a<kh, b<kw} xpad[i*sh + a*dh, j*sw + b*dw]``, with
    ``H_out = floor((H + p_top + p_bottom - dh(kh-1) - 1) / sh) + 1`` (see
    :func:`pool_output_size` for ceil mode). A window that only covers padding (possible
    with dilation) gives ``-inf``, as in PyTorch; NaN propagates.

    Examples
    --------
    >>> max_pool2d(np.arange(16).reshape(4, 4), 3, stride=2, padding=1).tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    return _extreme_pool(x, kernel_size, stride, padding, dilation, ceil_mode, algorithm, _MAX)


def min_pool2d(
    x: ArrayLike,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: PaddingLike = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    *,
    algorithm: str = "auto",
) -> np.ndarray:
    """Min pooling: :func:`max_pool2d` with ``min``, padding with ``+inf``.

    PyTorch has no min pool; this equals ``-max_pool2d(-x, ...)`` with the same
    parameters, checks and output shape (see :func:`max_pool2d`).

    Parameters
    ----------
    x : array_like, shape (H, W), (C, H, W) or (N, C, H, W)
        The input.
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Default: the kernel size.
    padding : PaddingLike
        At most ``kernel_size // 2`` per side; pads are ``+inf`` (never the minimum).
    dilation : int or (int, int)
        Spacing of the window's taps.
    ceil_mode : bool
        Round the output size up (no window starts in the right padding).
    algorithm : str
        As :func:`max_pool2d`'s.

    Examples
    --------
    >>> min_pool2d(np.arange(9).reshape(3, 3), 2, stride=1).tolist()
    [[0.0, 1.0], [3.0, 4.0]]
    """
    return _extreme_pool(x, kernel_size, stride, padding, dilation, ceil_mode, algorithm, _MIN)


def avg_pool2d(
    x: ArrayLike,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: PaddingLike = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    *,
    algorithm: str = "auto",
) -> np.ndarray:
    """Average pooling, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    x : array_like, shape (H, W), (C, H, W) or (N, C, H, W)
        Input; each channel is pooled on its own.
    kernel_size, stride, padding, ceil_mode
        As in :func:`max_pool2d` (no dilation, as in PyTorch); padding is zeros.
    count_include_pad : bool
        Count the padding zeros in the divisor (never the ceil-mode overhang past the
        padding); ``False`` divides by the number of real pixels in the window.
    divisor_override : int, optional
        Divide every window sum by this non-zero integer instead.
    algorithm : {"auto", "direct", "reshape", "separable"}
        See the module docstring; all give the same values to float rounding.

    Returns
    -------
    ndarray, same rank as ``x``
        float64 for float64 input, float32 otherwise.

    Raises
    ------
    ValueError
        As :func:`max_pool2d`, and for a zero or non-integer ``divisor_override``.

    Notes
    -----
    ``out[i, j] = sum_{a<kh, b<kw} xpad[i*sh + a, j*sw + b] / divisor[i, j]``. Along each
    axis, with ``start = i*s - p_before`` and ``end = min(start + k, size + p_after)``,
    the count is ``end - start`` when padding counts, else the same after clipping both
    to ``[0, size)``; the divisor is the product of the two axes' counts.

    Examples
    --------
    >>> avg_pool2d(np.arange(9).reshape(3, 3), 2, stride=1).tolist()
    [[2.0, 3.0], [5.0, 6.0]]
    >>> avg_pool2d(np.ones((2, 2)), 2, padding=1, count_include_pad=False).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    planes, lead = _as_planes(x)
    windows = _pool_windows(planes.shape[-2:], kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        divisor = np.asarray(_divisor(divisor_override))
    elif algorithm == "direct":
        divisor = _direct_counts(windows, bool(count_include_pad))
    else:
        row_counts, col_counts = (w.counts(bool(count_include_pad)) for w in windows)
        if row_counts.min() == row_counts.max() and col_counts.min() == col_counts.max():
            divisor = np.asarray(row_counts[0] * col_counts[0])  # one number: cheaper
        else:
            divisor = np.multiply.outer(row_counts, col_counts)
    return _restore(_reduce(planes, windows, _SUM, algorithm, divisor), lead)


def _divisor(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"divisor_override must be a non-zero integer, got {value!r}")
    if value == 0:
        raise ValueError("divisor_override must be non-zero, got 0")
    return operator.index(value)


MEDIAN_ALGORITHMS: tuple[str, ...] = ("auto", "network", "scipy")
"""The values accepted by ``median_filter2d(algorithm=...)``."""

# The median's cost model (ns of one thread's work; see choose_median). A min/max pass per
# output pixel by value size: uint8 and uint16 pack 4x and 2x more values per SIMD op.
# Measured for the network in blocks of two rows (2026-12-05, Intel Xeon, one thread, 4K
# RGB 5x5, arrays of 256 kB): per pass 0.042 (uint8) and 0.17 (float32), plus ~0.6 ns a
# pixel for a fresh float32 result; bench_core's 512x512 medians cost up to 2x more a
# pixel than its 4K ones. An AMD EPYC with AVX-512 (2026-12-06) took 1.2-2.5x the
# Xeon's time: these sit between the two, every bench_core median estimate within 2x of
# the measured time on both (0.6-1.6x).
NS_MEDIAN_PASS = {1: 0.08, 2: 0.15, 4: 0.3, 8: 0.6}
NS_SCIPY_MEDIAN_TAP = 15.0  # scipy.ndimage's selection, per output and window tap (1 core)
NS_SCIPY_IMPORT = 2.5e8
MAX_NETWORK_SIDE = 15
"""Larger windows go to SciPy: the network's passes grow about as k^3 (891 for 15x15),
while SciPy's selection grows as k^2."""


def median_dtype(planes: np.ndarray) -> np.dtype:
    """The narrowest dtype that holds every value exactly: uint8 or uint16 for images of
    whole numbers (what ``convcli apply`` reads), else the planes' own dtype.

    The median is one of the inputs, so computing it in uint8 and converting back gives
    the same values, 4x faster per pass. Checking costs about three passes over the
    input: its minimum, its maximum, and a round trip through the narrow type in chunks
    that stay in the cache (:func:`_holds_exactly`).
    """
    if planes.dtype.kind != "f" or planes.size == 0:
        return planes.dtype
    flat = planes.reshape(-1)
    sample = flat[:: max(1, flat.size // 4096)]  # most float images fail here, at no cost
    if not np.array_equal(sample, np.rint(sample)):
        return planes.dtype
    low, high = float(planes.min()), float(planes.max())
    if not (low >= 0 and high <= 65535):  # also False for NaN
        return planes.dtype
    narrow = np.dtype(np.uint8) if high <= 255 else np.dtype(np.uint16)
    return narrow if _holds_exactly(flat, narrow) else planes.dtype


HOLDS_CHUNK = 1 << 16
"""Values per chunk of :func:`_holds_exactly` (256 kB of float32: in L2). Whole arrays
made 1.5 passes of temporaries: 4K RGB took 37 ms to check, 19 ms in chunks."""


def _holds_exactly(flat: np.ndarray, narrow: np.dtype) -> bool:
    """Whether every value of the 1-D ``flat`` (within ``narrow``'s range) survives a round
    trip through ``narrow``, checked chunk by chunk in two small reused buffers."""
    cast = np.empty(min(flat.size, HOLDS_CHUNK), narrow)
    same = np.empty(cast.size, bool)
    for start in range(0, flat.size, HOLDS_CHUNK):
        chunk = flat[start : start + HOLDS_CHUNK]
        count = chunk.size
        np.copyto(cast[:count], chunk, casting="unsafe")
        np.equal(cast[:count], chunk, out=same[:count])
        if not same[:count].all():
            return False
    return True


def median_costs(
    out_pixels: int, kernel: tuple[int, int], strides: tuple[int, int], itemsize: int
) -> dict[str, float]:
    """Estimated work, in ns of one thread, of each median algorithm that applies
    (``network``: stride 1 and sides up to :data:`MAX_NETWORK_SIDE`; SciPy's runs on one
    thread, the network's is shared as :func:`convcli.core._choice.wall_time` says).

    Parameters
    ----------
    out_pixels : int
        Output values to compute (all planes).
    kernel : (kh, kw)
        Window size.
    strides : (sh, sw)
        Window steps.
    itemsize : int
        Bytes per value the filter runs on (1, 2, 4 or 8).
    """
    import sys

    from convcli.core._median import network_passes

    kh, kw = kernel
    costs = {"scipy": out_pixels * kh * kw * NS_SCIPY_MEDIAN_TAP}
    if "scipy.ndimage" not in sys.modules:
        costs["scipy"] += NS_SCIPY_IMPORT
    if strides == (1, 1) and max(kh, kw) <= MAX_NETWORK_SIDE:
        passes = network_passes(kh, kw)
        costs["network"] = out_pixels * (passes * NS_MEDIAN_PASS[itemsize] + 1.0)
    return costs


def median_times(
    out_pixels: int, kernel: tuple[int, int], strides: tuple[int, int], itemsize: int
) -> dict[str, float]:
    """Estimated wall-clock ns of each median algorithm that applies: SciPy's selection
    runs on one thread, the network on all.

    Parameters
    ----------
    out_pixels : int
        Output values to compute (all planes).
    kernel : (kh, kw)
        Window size.
    strides : (sh, sw)
        Window steps.
    itemsize : int
        Bytes per value the filter runs on (1, 2, 4 or 8).
    """
    from convcli.core._choice import wall_times

    costs = median_costs(out_pixels, kernel, strides, itemsize)
    return wall_times(costs, one_thread=frozenset({"scipy"}))


def choose_median(
    shape: tuple[int, ...],
    kernel_size: IntPair,
    stride: IntPair = 1,
    itemsize: int = 4,
) -> tuple[str, str]:
    """Which algorithm ``median_filter2d(..., algorithm="auto")`` runs, and why.

    ``shape`` is the input's, ``itemsize`` the bytes of the values the filter runs on (1
    for an image of whole numbers 0..255, see :func:`median_dtype`).

    Parameters
    ----------
    shape : tuple of int
        The input's shape, the last two axes (H, W).
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int)
        Window steps.
    itemsize : int
        Bytes per value the filter runs on.

    Examples
    --------
    >>> choose_median((3, 2160, 3840), 5)[0], choose_median((64, 64), 21)[0]
    ('network', 'scipy')
    """
    kernel = to_pair(kernel_size, "kernel_size", minimum=1)
    strides = to_pair(stride, "stride", minimum=1)
    pixels = int(np.prod(shape[:-2], dtype=np.int64)) * shape[-2] * shape[-1]
    out_pixels = pixels // (strides[0] * strides[1])
    walls = median_times(out_pixels, kernel, strides, itemsize)
    best = min(walls, key=walls.__getitem__)
    if best == "network":
        from convcli.core._median import network_passes

        passes = network_passes(*kernel)
        reason = f"exact min/max network shared between windows ({passes:g} passes a pixel)"
    elif strides != (1, 1):
        reason = "stride > 1: SciPy's selection, every stride-th window"
    else:
        reason = "SciPy's selection (the network grows as k^3)"
    from convcli.core._choice import cost_ranking

    return best, f"{reason} (estimated: {cost_ranking(walls)})"


def choose_median_for(
    x: ArrayLike,
    kernel_size: IntPair,
    stride: IntPair = 1,
    shape: tuple[int, ...] | None = None,
) -> tuple[str, str]:
    """:func:`choose_median` for the values ``x`` holds, as ``algorithm="auto"`` decides.

    Parameters
    ----------
    x : array_like, shape (H, W), (C, H, W) or (N, C, H, W)
        The input (or a strip of it): whole numbers 0..255 or 0..65535 run in 8 or 16
        bits (:func:`median_dtype`), which changes the network's estimate.
    kernel_size, stride : int or (int, int)
    shape : tuple of int, optional
        The whole input's shape when ``x`` is a strip of it (the estimate is for the
        whole); ``x``'s own shape by default.

    Returns
    -------
    (algorithm, reason) : (str, str)
        What ``--explain`` prints; pass ``algorithm`` to :func:`median_filter2d`.

    Examples
    --------
    >>> choose_median_for(np.zeros((3, 64, 64)), 5)[0]
    'network'
    """
    planes, _ = _as_planes(x, keep_small=True)
    kernel = to_pair(kernel_size, "kernel_size", minimum=1)
    strides = to_pair(stride, "stride", minimum=1)
    itemsize = planes.dtype.itemsize
    if strides == (1, 1) and max(kernel) <= MAX_NETWORK_SIDE:
        itemsize = median_dtype(planes).itemsize
    return choose_median(planes.shape if shape is None else shape, kernel, strides, itemsize)


def median_filter2d(
    x: ArrayLike,
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: PaddingLike = "same",
    padding_mode: str = "reflect",
    *,
    algorithm: str = "auto",
) -> np.ndarray:
    """Median of each window, per channel (never across channels).

    PyTorch has no median filter; the signature follows ``conv2d``'s, with the defaults of
    a denoising filter (SciPy, OpenCV, scikit-image): the output keeps the input's size.

    Parameters
    ----------
    x : array_like, shape (H, W), (C, H, W) or (N, C, H, W)
        Input.
    kernel_size : int or (kh, kw)
        Window size.
    stride : int or (sh, sw)
        Step between windows (default 1).
    padding : int, (ph, pw), (top, bottom, left, right), "valid" or "same"
        As for convolution: any non-negative amount; ``"same"`` (default) keeps the size at
        stride 1 (TensorFlow's rule, odd pixel bottom/right).
    padding_mode : {"reflect", "zeros", "replicate", "circular", "symmetric"}
        How the border is filled (see :mod:`convcli.core.padding`); default ``"reflect"``
        (``4 3 2 | 1 2 3 4 5``, OpenCV's default, SciPy's ``mirror``).
    algorithm : {"auto", "network", "scipy"}
        ``network``: an exact min/max network (stride 1, sides up to 15); ``scipy``:
        ``scipy.ndimage.median_filter``. ``auto`` picks by estimated cost
        (:func:`choose_median`). Both give the same values.

    Returns
    -------
    ndarray, same rank as ``x``
        float64 for float64 input, float32 otherwise.

    Raises
    ------
    ValueError
        Naming the parameter: kernel_size or stride < 1, bad padding or padding_mode,
        a border mode on an empty axis, or an output smaller than 1x1. Pads wider
        than the input fold back repeatedly, as in OpenCV (see
        :func:`convcli.core.padding.border_index`).

    Notes
    -----
    ``out[i, j] = median{xpad[i*sh + a, j*sw + b] : a < kh, b < kw}``, with
    ``H_out = floor((H + p_top + p_bottom - kh) / sh) + 1``. For an even number of taps it
    is the upper of the two middle values (SciPy's rank ``kh*kw // 2``), so the result is
    always one of the inputs. The network (:mod:`convcli.core._median`) runs in tiles on
    all cores, in uint8 or uint16 when every value is a whole number that fits
    (:func:`median_dtype`): 5x5 on 4K RGB in ~0.3 s (float32), ~40x faster than
    ``scipy.ndimage.median_filter``, 3x3 in ~70 ms (~25 ms in uint8). NaN in a window makes
    that output NaN. SciPy fills a same-size border itself, or gets the input padded by
    :func:`convcli.core.padding.pad2d`.

    Examples
    --------
    >>> median_filter2d([[1, 9, 2], [8, 3, 7], [4, 6, 5]], 3, padding=0).tolist()
    [[5.0]]
    """
    if algorithm not in MEDIAN_ALGORITHMS:
        raise ValueError(
            f"algorithm must be one of {', '.join(MEDIAN_ALGORITHMS)}, got {algorithm!r}"
        )
    planes, lead = _as_planes(x, keep_small=True)
    kernel = to_pair(kernel_size, "kernel_size", minimum=1)
    strides = to_pair(stride, "stride", minimum=1)
    height, width = planes.shape[-2:]
    pads = resolve_padding(padding, (height, width), kernel, strides)
    check_padding_mode(padding_mode)
    top, bottom, left, right = pads
    out_height = (height + top + bottom - kernel[0]) // strides[0] + 1
    out_width = (width + left + right - kernel[1]) // strides[1] + 1
    if min(out_height, out_width) < 1:
        raise ValueError(
            f"kernel_size {_shown(kernel)} (padding {_shown(pads)}) does not fit the input "
            f"{height}x{width}: the output would be {out_height}x{out_width}"
        )
    check_pads_fit(pads, (height, width), padding_mode)
    if algorithm == "network" and (strides != (1, 1) or max(kernel) > MAX_NETWORK_SIDE):
        raise ValueError(
            f"algorithm='network' needs stride 1 and kernel sides up to {MAX_NETWORK_SIDE}, "
            f"got kernel_size {_shown(kernel)}, stride {_shown(strides)}"
        )
    narrow = None
    if algorithm == "auto":
        algorithm = "scipy"
        if strides == (1, 1) and max(kernel) <= MAX_NETWORK_SIDE:
            # Only the network gains from narrow values; checking them costs 3 passes.
            narrow = median_dtype(planes)
            algorithm, _ = choose_median(planes.shape, kernel, strides, narrow.itemsize)
    if algorithm == "network":
        narrow = median_dtype(planes) if narrow is None else narrow
        return _restore(_median_network(planes, kernel, pads, padding_mode, narrow), lead)
    planes = planes.astype(_result_dtype(planes), copy=False)
    same_size = (top + bottom, left + right) == (kernel[0] - 1, kernel[1] - 1)
    by_border = same_size and strides == (1, 1)
    median = _median_by_scipy_border if by_border else _median_of_padded
    out = median(planes, kernel, strides, pads, padding_mode)
    if np.isnan(planes).any():  # SciPy's selection drops or keeps NaN by its place
        out[_nan_windows(planes, kernel, strides, pads, padding_mode)] = np.nan
    return _restore(out, lead)


def _result_dtype(planes: np.ndarray) -> np.dtype:
    return np.dtype(np.float64 if planes.dtype == np.float64 else np.float32)


def _median_network(
    planes: np.ndarray,
    kernel: tuple[int, int],
    pads: tuple[int, int, int, int],
    mode: str,
    narrow: np.dtype,
) -> np.ndarray:
    """The exact median by min/max networks, computed in ``narrow`` (:func:`median_dtype`)."""
    from convcli.core._median import median_by_network

    result = _result_dtype(planes)
    if kernel == (1, 1):
        return pad2d(planes, pads, mode).astype(result, copy=False)
    height = planes.shape[1] + pads[0] + pads[1] - kernel[0] + 1
    width = planes.shape[2] + pads[2] + pads[3] - kernel[1] + 1
    out = np.empty((planes.shape[0], height, width), result)
    median_by_network(planes, kernel, pads, mode, out, narrow)  # tiles cast in and out
    return out


# convcli's border modes by their scipy.ndimage names (see convcli.core.padding).
_SCIPY_MODES = {
    "zeros": "constant",
    "reflect": "mirror",
    "replicate": "nearest",
    "circular": "wrap",
    "symmetric": "reflect",
}


def _median_by_scipy_border(
    planes: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int],
    mode: str,
) -> np.ndarray:
    """Same-size output at stride 1: SciPy pads by itself, so no padded copy is made.

    SciPy's window for output ``q`` starts at ``q - k//2 - origin``; ours starts at
    ``q - p_before``, hence ``origin = p_before - k//2`` (always in SciPy's range when
    ``p_before + p_after = k - 1``).
    """
    from scipy import ndimage  # type: ignore[import-untyped]  # only here: cheap import

    origin = (0, pads[0] - kernel[0] // 2, pads[2] - kernel[1] // 2)
    return ndimage.median_filter(
        planes, size=(1, *kernel), mode=_SCIPY_MODES[mode], cval=0.0, origin=origin
    )


def _median_of_padded(
    planes: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int],
    mode: str,
) -> np.ndarray:
    """Any padding and stride: pad explicitly, filter, keep every stride-th window."""
    from scipy import ndimage  # type: ignore[import-untyped]

    padded = pad2d(planes, pads, mode)
    filtered = ndimage.median_filter(padded, size=(1, *kernel), mode="nearest")
    return np.ascontiguousarray(_window_starts(filtered, kernel, strides))


def _window_starts(
    filtered: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]
) -> np.ndarray:
    """The outputs of a SciPy filter of a padded array (origin 0) that are our windows:
    the window starting at padded position r is SciPy's output r + k//2, every stride-th
    (SciPy's own border mode is never reached there)."""
    out_height = (filtered.shape[1] - kernel[0]) // strides[0] + 1
    out_width = (filtered.shape[2] - kernel[1]) // strides[1] + 1
    return filtered[
        :,
        kernel[0] // 2 : kernel[0] // 2 + (out_height - 1) * strides[0] + 1 : strides[0],
        kernel[1] // 2 : kernel[1] // 2 + (out_width - 1) * strides[1] + 1 : strides[1],
    ]


def _nan_windows(
    planes: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int],
    mode: str,
) -> np.ndarray:
    """Which outputs' windows hold a NaN (a bool array of the output's shape)."""
    from scipy import ndimage  # type: ignore[import-untyped]

    padded = pad2d(np.isnan(planes).view(np.uint8), pads, mode)
    return _window_starts(
        ndimage.maximum_filter(padded, size=(1, *kernel), mode="nearest"), kernel, strides
    ).astype(bool)


__all__ = [
    "MEDIAN_ALGORITHMS",
    "POOL_ALGORITHMS",
    "AxisWindows",
    "avg_pool2d",
    "choose_median",
    "choose_median_for",
    "max_pool2d",
    "median_filter2d",
    "min_pool2d",
    "pool_output_size",
]
