"""2-D convolution (cross-correlation, as deep-learning layers do) and its transpose.

PyTorch's ``torch.nn.functional.conv2d`` / ``conv_transpose2d`` semantics over NumPy
arrays, with five interchangeable algorithms chosen by cost:

``direct``
    shift-and-add: one scaled, shifted view of the input per tap and channel pair.
``separable``
    every kernel has rank 1 (SVD): a vertical 1-D pass (a BLAS product per row), then
    a horizontal one (NumPy passes; box filters by doubling).
``columns``
    dense kernels on one input channel per group: per output row, one BLAS product
    filters the rows it reads with every kernel column, then ``kw`` shifted adds.
``gemm``
    im2col + a matrix multiply per row (per band for large weights): for many channels.
``fft``
    ``scipy.fft`` overlap-save over bands: for large kernels.

All five run over row bands with a halo, on two threads when the image is large
(:mod:`convcli.core._engines`, :mod:`convcli.core._strips`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from convcli._records import dataclass
from convcli._threads import blas_threads
from convcli.core import _scratch
from convcli.core._choice import choose
from convcli.core._engines import execute
from convcli.core._strips import run_bands
from convcli.core.padding import (
    PaddingLike,
    check_padding_mode,
    check_pads_fit,
    resolve_padding,
    to_pair,
)
from convcli.core.separable import rank1_factors

ALGORITHMS: tuple[str, ...] = ("auto", "direct", "separable", "columns", "gemm", "fft")
"""Values accepted by ``algorithm=``."""


# --------------------------------------------------------------------------- dtypes


def compute_dtype(x: np.ndarray) -> np.dtype:
    """The dtype the core computes in and returns, decided from the input alone.

    float64 stays float64; everything else (integers, bools, float16, float32) is
    computed in float32, as the tools this mirrors do.
    """
    if np.iscomplexobj(x):
        raise ValueError(f"x must be real, got dtype {x.dtype}")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"x must be numeric, got dtype {x.dtype}")
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


def _as_array(value: ArrayLike, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged lists
        raise ValueError(f"{name} must be a rectangular array: {error}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    return array


# ------------------------------------------------------------------- validated problem


@dataclass(frozen=True)
class ConvProblem:
    """A validated convolution: 4-D arrays in the compute dtype, and its geometry.

    Attributes
    ----------
    x : ndarray, shape (N, C_in, H, W)
    weight : ndarray, shape (C_out, C_in / groups, kh, kw)
    bias : ndarray, shape (C_out,), or None
    rank : int
        Rank of the caller's ``x`` (2, 3 or 4); the result gets it back.
    rows_from : int
        The row of a larger image at which ``x`` starts (see :func:`conv2d`).
    """

    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    pads: tuple[int, int, int, int]
    padding_mode: str
    rank: int
    rows_from: int = 0

    @property
    def kernel_size(self) -> tuple[int, int]:
        return self.weight.shape[2], self.weight.shape[3]

    @property
    def effective_kernel(self) -> tuple[int, int]:
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation
        return dh * (kh - 1) + 1, dw * (kw - 1) + 1

    @property
    def out_size(self) -> tuple[int, int]:
        top, bottom, left, right = self.pads
        height, width = self.x.shape[2:]
        eh, ew = self.effective_kernel
        sh, sw = self.stride
        return (height + top + bottom - eh) // sh + 1, (width + left + right - ew) // sw + 1

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.x.shape[0], self.weight.shape[0], *self.out_size)

    @cached_property
    def rank1(self) -> list[list[tuple[np.ndarray, np.ndarray]]] | None:
        """Per (out channel, in-group channel): rank-1 factors, or None if any kernel has rank > 1.

        An all-zero kernel is given as ``(zeros, zeros)``. Computed once per problem.
        """
        return _rank1_table(self.weight)


def _promote_weight(weight: np.ndarray, transposed: bool) -> np.ndarray:
    if weight.ndim == 4:
        return weight
    if weight.ndim == 2:
        return weight[None, None]
    if weight.ndim == 3 and not transposed:  # (C_in, kh, kw): one output channel
        return weight[None]
    expected = (
        "2-D (kh, kw) or 4-D (C_in, C_out/groups, kh, kw)"
        if transposed
        else ("2-D (kh, kw), 3-D (C_in, kh, kw) or 4-D (C_out, C_in/groups, kh, kw)")
    )
    raise ValueError(f"weight must be {expected}, got shape {weight.shape}")


def _prepare_inputs(
    x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None, groups: int, transposed: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, int]:
    """Common checks: ranks, dtypes, groups and bias. Returns 4-D x, 4-D weight, bias."""
    x_array = _as_array(x, "x")
    if x_array.ndim not in (2, 3, 4):
        raise ValueError(
            f"x must be (H, W), (C, H, W) or (N, C, H, W), got {x_array.ndim}-D shape "
            f"{x_array.shape}"
        )
    dtype = compute_dtype(x_array)
    rank = x_array.ndim
    x4 = x_array.reshape((1,) * (4 - rank) + x_array.shape).astype(dtype, copy=False)
    weight4 = _promote_weight(_as_array(weight, "weight"), transposed).astype(dtype, copy=False)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise ValueError(f"groups must be an integer, got {groups!r}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    in_channels = x4.shape[1]
    if in_channels == 0:  # PyTorch then returns no channels whatever the weight says
        raise ValueError(f"x must have at least 1 channel, got shape {x_array.shape}")
    if 0 in weight4.shape[:2]:
        raise ValueError(
            f"weight must have at least 1 channel on each side, got shape {weight4.shape}"
        )
    if min(weight4.shape[2:]) < 1:
        raise ValueError(f"weight must have a kernel of at least 1x1, got shape {weight4.shape}")
    if in_channels % groups:
        raise ValueError(f"groups={groups} does not divide in_channels={in_channels}")
    if transposed:
        if weight4.shape[0] != in_channels:
            raise ValueError(
                f"weight has {weight4.shape[0]} input channels (shape {weight4.shape}), "
                f"x has in_channels={in_channels}"
            )
        out_channels = weight4.shape[1] * groups
    else:
        out_channels = weight4.shape[0]
        if out_channels % groups:
            raise ValueError(f"groups={groups} does not divide out_channels={out_channels}")
        if weight4.shape[1] * groups != in_channels:
            raise ValueError(
                f"weight expects {weight4.shape[1] * groups} input channels "
                f"(shape {weight4.shape}, groups={groups}), x has in_channels={in_channels}"
            )
    if rank == 2 and out_channels != 1:
        raise ValueError(
            f"an (H, W) input gives one output channel, weight has out_channels={out_channels}: "
            "pass x as (1, H, W)"
        )
    bias_array = None
    if bias is not None:
        bias_array = _as_array(bias, "bias").astype(dtype, copy=False)
        if bias_array.shape != (out_channels,):
            raise ValueError(
                f"bias must have shape ({out_channels},) (one value per output channel), "
                f"got {bias_array.shape}"
            )
    return x4, weight4, bias_array, rank, groups


def prepare_conv(  # noqa: PLR0913 (conv2d's parameters, but the algorithm)
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    rows_from: int = 0,
) -> ConvProblem:
    """Validate :func:`conv2d`'s arguments (first, naming the parameter) into a problem.

    Parameters
    ----------
    x, weight, bias, stride, padding, dilation, groups, padding_mode, rows_from
        As :func:`conv2d` (``x`` of shape (H, W), (C, H, W) or (N, C, H, W); ``weight``
        (C_out, C_in/groups, kh, kw); ``padding`` a :data:`~convcli.core.padding.PaddingLike`).
    """
    stride_pair = to_pair(stride, "stride")
    dilation_pair = to_pair(dilation, "dilation")
    check_padding_mode(padding_mode)
    x4, weight4, bias_array, rank, groups = _prepare_inputs(x, weight, bias, groups, False)
    height, width = x4.shape[2:]
    kernel = weight4.shape[2:]
    pads = resolve_padding(padding, (height, width), kernel, stride_pair, dilation_pair)
    if height == 0 or width == 0:
        raise ValueError(f"x must have a non-empty height and width, got shape {x4.shape[2:]}")
    check_pads_fit(pads, (height, width), padding_mode)
    if not isinstance(rows_from, (int, np.integer)) or isinstance(rows_from, bool):
        raise ValueError(f"rows_from must be an integer, got {rows_from!r}")
    problem = ConvProblem(
        x4,
        weight4,
        bias_array,
        stride_pair,
        dilation_pair,
        groups,
        pads,
        padding_mode,
        rank,
        int(rows_from),
    )
    padded = (height + pads[0] + pads[1], width + pads[2] + pads[3])
    effective = problem.effective_kernel
    if padded[0] < effective[0] or padded[1] < effective[1]:
        raise ValueError(
            f"kernel size {effective[0]}x{effective[1]} (dilation included) is larger than "
            f"the padded input {padded[0]}x{padded[1]}"
        )
    return problem


# ------------------------------------------------------------------------- rank-1 split


def _snap(column: np.ndarray, row: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale the factors so the row's largest entry is 1; snap to integers when exact.

    Taps equal to 0 or +-1 then cost nothing or no multiply, and integer kernels
    (Sobel, box) are applied exactly. A constant kernel (a box filter) becomes a constant
    column and a row of ones exactly, whatever the SVD's rounding: both are then summed
    by doubling (a 63-tap factor rounded 1 ulp apart would cost 63 passes instead of 11).
    """
    if np.all(kernel == kernel.flat[0]):
        return np.full(kernel.shape[0], kernel.flat[0]), np.ones(kernel.shape[1])
    pivot = row[np.argmax(np.abs(row))]
    column, row = column * pivot, row / pivot
    snapped_column, snapped_row = np.round(column), np.round(row)
    if np.array_equal(np.outer(snapped_column, snapped_row), kernel):
        return snapped_column, snapped_row
    tiny = 1e-13 * max(np.abs(column).max(), 1e-300)
    column = np.where(np.abs(column) <= tiny, 0.0, column)
    row = np.where(np.abs(row) <= 1e-13, 0.0, row)
    return column, row


def _rank1_table(weight: np.ndarray) -> list[list[tuple[np.ndarray, np.ndarray]]] | None:
    """Rank-1 factors of every kernel in ``weight``, or None if one has rank > 1.

    The SVDs run with BLAS on one thread: on matrices this small its threads only cost
    (waking them took 70 ms of a 63x63 SVD's 71 on a loaded machine).
    """
    with blas_threads(1):
        return _rank1_factors_of(weight)


_FACTORS: dict[tuple[bytes, tuple[int, ...], str], tuple[np.ndarray, np.ndarray] | None] = {}
"""Rank-1 factors by kernel (bytes, shape, dtype), kept across calls: a batch of files or
a chain of steps asks again for the same few kernels, and each SVD with its checks costs
~0.1 ms of Python (a third of a small image's Sobel). At most :data:`MAX_FACTORS`."""

MAX_FACTORS = 4096


def _kernel_factors(kernel: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The snapped rank-1 factors of one kernel (float64), or None if its rank is > 1."""
    key = (kernel.tobytes(), kernel.shape, kernel.dtype.str)
    if key in _FACTORS:
        return _FACTORS[key]
    kernel64 = kernel.astype(np.float64)
    factor_pair: tuple[np.ndarray, np.ndarray] | None
    if not kernel64.any():
        factor_pair = (np.zeros(kernel.shape[0]), np.zeros(kernel.shape[1]))
    else:
        factors = rank1_factors(kernel64, rtol=rtol)
        factor_pair = None if factors is None else _snap(*factors, kernel64)
    if len(_FACTORS) < MAX_FACTORS:
        _FACTORS[key] = factor_pair
    return factor_pair


def _rank1_factors_of(weight: np.ndarray) -> list[list[tuple[np.ndarray, np.ndarray]]] | None:
    rtol = 1e-12 if weight.dtype == np.float64 else 1e-6
    table = []
    for per_out in weight:
        row_of_factors = []
        for kernel in per_out:
            factor_pair = _kernel_factors(kernel, rtol)
            if factor_pair is None:
                return None
            column, row = factor_pair
            row_of_factors.append((column.astype(weight.dtype), row.astype(weight.dtype)))
        table.append(row_of_factors)
    return table


# ----------------------------------------------------------------- algorithm choice


def choose_algorithm(
    x: ArrayLike | tuple[int, ...],
    weight: ArrayLike,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> tuple[str, str]:
    """Which algorithm ``conv2d(..., algorithm="auto")`` would run, and why.

    Parameters
    ----------
    x : array_like, shape (H, W), (C, H, W) or (N, C, H, W); or a tuple of ints
        The input, or just its shape (only the shape is used).
    weight, stride, padding, dilation, groups, padding_mode
        As for :func:`conv2d`.

    Returns
    -------
    (name, reason) : tuple of str
        ``name`` is one of ``"direct"``, ``"separable"``, ``"columns"``, ``"gemm"``,
        ``"fft"``;
        ``reason`` is one line, with the cost estimates compared.

    Notes
    -----
    Each algorithm's time is estimated from the array passes it makes (counted the way
    the engines make them), its im2col copies and BLAS multiply-adds, or its FFT work,
    with constants measured on a 2-core machine (:mod:`convcli.core._choice`); the
    cheapest wins. ``separable`` is a candidate only when every kernel has rank 1.

    Examples
    --------
    >>> choose_algorithm((1, 512, 512), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])[0]
    'separable'
    """
    if isinstance(x, tuple) and all(isinstance(v, (int, np.integer)) for v in x):
        x = np.broadcast_to(np.zeros((), np.float32), x)
    problem = prepare_conv(x, weight, None, stride, padding, dilation, groups, padding_mode)
    return choose(problem)


# -------------------------------------------------------------------------- public API


def conv2d(  # noqa: PLR0913 (torch.nn.functional.conv2d's parameters, plus three of ours)
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    algorithm: str = "auto",
    *,
    rows_from: int = 0,
) -> np.ndarray:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` (and ``nn.Conv2d``) computes it.

    Parameters
    ----------
    x : array_like, shape (H, W), (C_in, H, W) or (N, C_in, H, W)
        Integer input is computed in float32; float64 stays float64.
    weight : array_like, shape (C_out, C_in/groups, kh, kw), (C_in, kh, kw) or (kh, kw)
        Applied as written (no flip). A 3-D weight is one output channel summing over
        the input channels; a 2-D one needs a single input channel (or ``groups=C_in``
        after stacking it to ``(C_in, 1, kh, kw)``).
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int, (ph, pw), (top, bottom, left, right), "valid" or "same"
        ``"same"`` follows TensorFlow/Keras: ``out = ceil(in / stride)``, the odd pixel
        of padding bottom/right (PyTorch's ``'same'`` for stride 1, also allowed with
        stride > 1 here).
    groups : int
        ``groups = C_in`` with weight ``(C_in * m, 1, kh, kw)`` is a depthwise conv.
    padding_mode : {"zeros", "reflect", "replicate", "circular", "symmetric"}
        How the padding is filled (see :mod:`convcli.core.padding` for other libraries'
        names). Pads wider than the input fold back repeatedly, as in OpenCV's
        ``borderInterpolate`` (PyTorch refuses ``reflect`` pads >= the size and
        ``circular`` pads > it), so a kernel larger than a small image still runs.
    algorithm : {"auto", "direct", "separable", "columns", "gemm", "fft"}
        ``auto`` picks by estimated cost (see :func:`choose_algorithm`); ``columns``
        needs one input channel per group (image filters, depthwise layers).
    rows_from : int
        The row of a larger image at which ``x`` starts, when ``x`` is a strip of that
        image's rows (its halo included, padded only at the image's own edges): box
        sums are anchored to the image's rows, so that the strip's output rows have the
        whole image's bits. 0 (the default) for a whole image.

    Returns
    -------
    ndarray, shape (H_out, W_out), (C_out, H_out, W_out) or (N, C_out, H_out, W_out)
        Same rank as ``x``; float32, or float64 for float64 input.

    Raises
    ------
    ValueError
        Naming the parameter, for every combination PyTorch rejects (and for
        ``algorithm="separable"`` on a kernel of rank > 1).

    Notes
    -----
    ``out[n, o, y, x] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
    xpad[n, g*C_in/groups + c, y*sh + i*dh, x*sw + j*dw]`` where ``g`` is ``o``'s group,
    and ``H_out = floor((H + top + bottom - dh*(kh-1) - 1) / sh) + 1`` (same for W).

    Examples
    --------
    >>> conv2d(np.arange(9).reshape(3, 3), [[0, 1], [2, 3]]).tolist()
    [[19.0, 25.0], [37.0, 43.0]]
    >>> conv2d(np.ones((4, 6)), [[1, -1]], padding="same", padding_mode="replicate").shape
    (4, 6)
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    problem = prepare_conv(
        x, weight, bias, stride, padding, dilation, groups, padding_mode, rows_from=rows_from
    )
    if algorithm == "auto":
        algorithm, _ = choose(problem)
    elif algorithm == "separable" and problem.rank1 is None:
        raise ValueError(
            "algorithm='separable' needs every kernel to have rank 1 (SVD), "
            f"weight of shape {problem.weight.shape} does not"
        )
    elif algorithm == "columns" and problem.weight.shape[1] != 1:
        raise ValueError(
            "algorithm='columns' needs one input channel per group (C_in/groups = 1), "
            f"weight of shape {problem.weight.shape} has {problem.weight.shape[1]}"
        )
    out = execute(problem, algorithm)
    return out.reshape(out.shape[4 - problem.rank :])


def conv_transpose2d(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> np.ndarray:
    """Transposed 2-D convolution, as ``torch.nn.functional.conv_transpose2d``.

    The gradient of :func:`conv2d` with respect to its input: every input pixel
    scatters ``weight`` into the output.

    Parameters
    ----------
    x : array_like, shape (H, W), (C_in, H, W) or (N, C_in, H, W)
    weight : array_like, shape (C_in, C_out/groups, kh, kw) or (kh, kw)
        Note PyTorch's order: input channels first.
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int or (int, int)
        Crops ``padding`` rows/columns from each side of the full output (the input
        padding of the :func:`conv2d` this transposes).
    output_padding : int or (int, int)
        Extra rows/columns at the bottom/right; must be < max(stride, dilation).
    groups : int

    Returns
    -------
    ndarray, same rank as ``x``, shape (..., C_out, H_out, W_out)

    Notes
    -----
    ``H_out = (H - 1)*sh - 2*ph + dh*(kh - 1) + output_padding_h + 1``;
    ``full[n, o, y*sh + i*dh, x*sw + j*dw] += x[n, c, y, x] * weight[c, o', i, j]``,
    then ``out = full[..., ph : ph + H_out, pw : pw + W_out]``.

    Examples
    --------
    >>> conv_transpose2d([[1, 2], [3, 4]], [[1, 1], [1, 1]], stride=2).tolist()[0]
    [1.0, 1.0, 2.0, 2.0]
    """
    stride_pair = to_pair(stride, "stride")
    dilation_pair = to_pair(dilation, "dilation")
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int or a pair for conv_transpose2d, got {padding!r}")
    pad_pair = to_pair(padding, "padding", minimum=0)
    extra_pair = to_pair(output_padding, "output_padding", minimum=0)
    x4, weight4, bias_array, rank, groups = _prepare_inputs(x, weight, bias, groups, True)
    for axis, extra, s, d in zip("hw", extra_pair, stride_pair, dilation_pair, strict=True):
        if extra >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than stride or dilation, got "
                f"output_padding={extra} with stride={s}, dilation={d} ({axis} axis)"
            )
    height, width = x4.shape[2:]
    kh, kw = weight4.shape[2:]
    full_size = [
        (size - 1) * s + d * (k - 1) + extra + 1
        for size, s, d, k, extra in zip(
            (height, width), stride_pair, dilation_pair, (kh, kw), extra_pair, strict=True
        )
    ]
    out_size = [full - 2 * p for full, p in zip(full_size, pad_pair, strict=True)]
    if height == 0 or width == 0:
        raise ValueError(f"x must have a non-empty height and width, got shape {x4.shape[2:]}")
    if min(out_size) < 1:
        raise ValueError(
            f"conv_transpose2d output would be {out_size[0]}x{out_size[1]}: padding={padding} "
            f"is too large for input {height}x{width} and kernel {kh}x{kw}"
        )
    out = _scatter_taps(
        x4, weight4, groups, (stride_pair, dilation_pair), full_size, (pad_pair, out_size)
    )
    if bias_array is not None:
        out += bias_array[:, None, None]
    return out.reshape(out.shape[4 - rank :])


TRANSPOSE_CHUNK_BYTES = 1 << 26
"""Most bytes of tap products one piece of :func:`_scatter_taps` holds at once (64 MB)."""

TRANSPOSE_BLOCKS = 2
"""Output-channel blocks per group and phase: the threads' pieces of a transposed
convolution. Quiet, 64->32 4x4/2 on 128x128 and 256->128 3x3/2 on 32x32 took 13.7/4.8 ms
with 1 block, 13.4/4.9 with 2, 14.0/5.4 with 4, 17.3/6.7 with 8; more pieces balance the
threads better when a core is taken."""

MIN_PARALLEL_MACS = 1 << 22
"""Below this many multiply-adds, a transposed convolution stays on one thread."""


@dataclass(frozen=True)
class _PhaseScatter:
    """A transposed convolution cut into pieces ``(group x phase, first channel)``: each
    multiplies its phase's taps for ``block`` output channels and sums them into a plane
    of its own (the first tap copied in, the others added), then copies the plane's
    cropped part into the output. The pieces write
    disjoint parts of the output, so threads share them in any order."""

    x4: np.ndarray
    weight4: np.ndarray
    steps: tuple[tuple[int, int], tuple[int, int]]
    phases: list[tuple[tuple[int, int], list[tuple[int, int]]]]
    block: int
    plane_size: tuple[int, int]
    crop: tuple[Sequence[int], Sequence[int]]
    out: np.ndarray

    @property
    def chunk(self) -> int:
        """Taps multiplied in one product: their products for a whole block of channels
        hold at most :data:`TRANSPOSE_CHUNK_BYTES` (a last, smaller block takes as many)."""
        batch, _, height, width = self.x4.shape
        per_tap = batch * self.block * height * width * self.x4.itemsize
        return max(1, TRANSPOSE_CHUNK_BYTES // max(per_tap, 1))

    def sizes(self) -> tuple[int, int]:
        """Values of the products' and the plane's scratch one thread needs."""
        batch, _, height, width = self.x4.shape
        most_taps = min(self.chunk, max((len(taps) for _, taps in self.phases), default=0))
        per_tap = batch * self.block * height * width
        return most_taps * per_tap, batch * self.block * math.prod(self.plane_size)

    def run(self, pieces: Iterable[tuple[int, int]]) -> None:
        """Compute ``pieces`` with one thread's scratch, lent by :mod:`._scratch`."""
        with _scratch.lent(self.x4.dtype, *self.sizes()) as buffers:
            for piece in pieces:
                self.piece(piece, *buffers)

    def piece(self, piece: tuple[int, int], products: np.ndarray, plane: np.ndarray) -> None:
        """One group's phase for output channels ``first .. first + block``."""
        batch, in_channels, height, width = self.x4.shape
        group_out = self.weight4.shape[1]
        group_in = in_channels // (self.out.shape[1] // group_out)
        (stride, dilation), (pads, out_size) = self.steps, self.crop
        index, first = piece
        g, p = divmod(index, len(self.phases))
        phase, taps = self.phases[p]
        count = min(self.block, group_out - first)
        inputs = self.x4[:, g * group_in : (g + 1) * group_in].reshape(batch, group_in, -1)
        weights = self.weight4[g * group_in : (g + 1) * group_in, first : first + count]
        plane_view = plane[: batch * count * math.prod(self.plane_size)]
        planes = plane_view.reshape(batch, count, *self.plane_size)
        per_tap = batch * count * height * width
        chunk = self.chunk  # from the whole block: the buffer holds that many
        for start in range(0, len(taps), chunk):
            part = taps[start : start + chunk]
            matrix = np.concatenate([weights[:, :, i, j].T for i, j in part])
            product = products[: len(part) * per_tap].reshape(batch, -1, height * width)
            np.matmul(matrix, inputs, out=product)
            for t, (i, j) in enumerate(part):
                row, col = (i * dilation[0]) // stride[0], (j * dilation[1]) // stride[1]
                contribution = product[:, t * count : (t + 1) * count].reshape(
                    batch, count, height, width
                )
                region = planes[:, :, row : row + height, col : col + width]
                if start + t:
                    region += contribution
                else:  # the phase's first tap is copied in (a third of an add's time)
                    _zero_around(planes, row, col, height, width)
                    np.copyto(region, contribution)
        kept, into = _phase_crop(phase, stride, pads, out_size, self.plane_size)
        channel = g * group_out + first
        self.out[:, channel : channel + count][into] = planes[kept]


def _zero_around(planes: np.ndarray, row: int, col: int, height: int, width: int) -> None:
    """Zero ``planes`` (..., rows, cols) outside rows ``row .. row + height`` and columns
    ``col .. col + width``."""
    planes[..., :row, :] = 0
    planes[..., row + height :, :] = 0
    planes[..., row : row + height, :col] = 0
    planes[..., row : row + height, col + width :] = 0


def _scatter_taps(
    x4: np.ndarray,
    weight4: np.ndarray,
    groups: int,
    steps: tuple[tuple[int, int], tuple[int, int]],
    full_size: Sequence[int],
    crop: tuple[Sequence[int], Sequence[int]],
) -> np.ndarray:
    """The transposed convolution: every input pixel times every tap, added at
    ``(y*sh + i*dh, x*sw + j*dw)`` of the full output, of which ``crop = (pads, out_size)``
    is returned (rows ``pads[0] .. pads[0] + out_size[0]``, columns alike).

    Output rows and columns fall into ``sh x sw`` phases (their position mod the stride);
    the taps landing in one phase are multiplied together, in one matrix product
    ``(taps*C_out/g, C_in/g) @ (C_in/g, H*W)`` (one large product, not a small one per
    tap), and added into a contiguous plane of that phase at their offsets; the cropped
    part of each plane is then copied once into its strided place of the output. Per-tap
    products added into strided views of the output took 2x torch's time on a 64->32
    4x4/2 layer.

    The work is cut into :class:`_PhaseScatter`'s pieces, :data:`TRANSPOSE_BLOCKS` blocks of
    output channels per group and phase, which the threads take one at a time
    (:func:`convcli.core._strips.run_bands`, BLAS on one thread in each): one product
    split by OpenBLAS between two threads waited for the slower, and with both cores
    busy a 256->128 3x3/2 layer on 32x32 took 64 ms instead of 10-11. The products and the
    plane are scratch kept between calls (:mod:`convcli.core._scratch`): fresh, their
    pages were faulted in on every call, half that layer's time when quiet.
    """
    batch, _, height, width = x4.shape
    group_out = weight4.shape[1]
    stride, dilation = steps
    out = np.zeros((batch, groups * group_out, *crop[1]), x4.dtype)
    if batch == 0:
        return out
    phases = list(_phase_taps(weight4, stride, dilation).items())
    kept = sum(len(phase_taps) for _, phase_taps in phases)
    if kept < weight4.shape[2] * weight4.shape[3] and not _all_finite(x4):
        # A NaN or an infinity times a zero tap is NaN (IEEE, as in PyTorch): every tap.
        phases = list(_phase_taps(weight4, stride, dilation, every=True).items())
    block = -(-group_out // TRANSPOSE_BLOCKS)
    plane_size = (-(-full_size[0] // stride[0]), -(-full_size[1] // stride[1]))
    scatter = _PhaseScatter(x4, weight4, steps, phases, block, plane_size, crop, out)
    pieces = [
        (g * len(phases) + p, first)
        for g in range(groups)
        for p in range(len(phases))
        for first in range(0, group_out, block)
    ]
    taps = sum(len(phase_taps) for _, phase_taps in phases)
    macs = batch * taps * weight4.shape[0] * group_out * height * width
    run_bands(pieces, scatter.run, macs >= MIN_PARALLEL_MACS)
    return out


def _all_finite(x: np.ndarray) -> bool:
    """Whether ``x`` holds no NaN or infinity: one sum (a finite sum that overflows is
    looked at value by value)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(x.sum()) or np.isfinite(x).all())


def _phase_taps(
    weight4: np.ndarray, stride: tuple[int, int], dilation: tuple[int, int], every: bool = False
) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """The non-zero taps ``(i, j)`` (``every`` tap with ``every``) by the phase
    ``(i*dh % sh, j*dw % sw)`` they land in."""
    phases: dict[tuple[int, int], list[tuple[int, int]]] = {}
    if weight4.size == 0:  # no channels: every tap is zero
        return phases
    for i in range(weight4.shape[2]):
        for j in range(weight4.shape[3]):
            # A learned tap's first weight is almost never 0: the whole tap is read
            # (strided: ~20 us a tap of 256 x 128 channels, 0.2 ms for 3x3) only when it is.
            if every or weight4[0, 0, i, j] or weight4[:, :, i, j].any():
                key = ((i * dilation[0]) % stride[0], (j * dilation[1]) % stride[1])
                phases.setdefault(key, []).append((i, j))
    return phases


def _phase_crop(
    phase: tuple[int, int],
    stride: tuple[int, int],
    pads: Sequence[int],
    out_size: Sequence[int],
    plane_size: Sequence[int],
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Where a phase's plane meets the cropped output: ``(plane index, output index)``.

    Plane row ``y`` is full row ``y*s + phase``, output row ``y*s + phase - pad``: the
    plane's rows from the first one at or past the pad, every ``s``-th output row from there.

    Parameters
    ----------
    phase : (py, px)
        The plane's offset in the full output, each under its stride.
    stride : (sh, sw)
    pads : (top, left)
        Rows and columns cropped off the full output's start.
    out_size : (H_out, W_out)
    plane_size : (rows, cols)
        The plane's size (at least the full output's positions in this phase).
    """
    kept: list[slice] = [slice(None), slice(None)]
    into: list[slice] = [slice(None), slice(None)]
    for p, s, pad, size, length in zip(phase, stride, pads, out_size, plane_size, strict=True):
        first = max(0, -(-(pad - p) // s))  # the first plane index at or past the pad
        start = first * s + p - pad
        count = max(0, min(length - first, -(-(size - start) // s)))
        kept.append(slice(first, first + count))
        into.append(slice(start, start + (count - 1) * s + 1 if count else start, s))
    return tuple(kept), tuple(into)


__all__ = ["ALGORITHMS", "choose_algorithm", "compute_dtype", "conv2d", "conv_transpose2d"]
