"""The arithmetic of convolution and pooling, element by element, for learners.

Two layers of answers, both pure (no printing, no Pillow):

- **Geometry** (pure Python): :func:`conv_geometry`, :func:`transposed_geometry` and
  :func:`pool_geometry` place every window of a layer on a grid of any size: which input
  cells (padding included) each output reads, or, for a transposed convolution, which
  output cells each input writes. Sizes come from :mod:`convcli.geometry`'s per-axis
  formulas, the ones ``convcli shape`` and the NumPy core use. ``convcli draw`` draws this.
- **Arithmetic** (NumPy): :func:`conv_arithmetic`, :func:`conv_transpose_arithmetic`,
  :func:`pool_arithmetic` and :func:`chain_arithmetic` (the ``-k`` steps of ``apply``) run
  the core and give, for each output element, the terms that make it: the window's values,
  the weights, the products, per-channel sums, bias; the chosen element of a max/min pool,
  the divisor of an average. ``apply --steps`` prints them.

Coordinates are those of the input (negative or past the end: padding) and of the output,
0-based, ``(row, col)``, as NumPy and PyTorch index; channels first.

Examples
--------
>>> import numpy as np
>>> layer = conv_arithmetic(np.arange(9.0).reshape(3, 3), [[0, 1], [2, 3]])
>>> element = layer.element(0, 0, 0)
>>> [(t.value, t.weight) for t in element.parts[0].terms], element.value
([(0.0, 0.0), (1.0, 1.0), (3.0, 2.0), (4.0, 3.0)], 19.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convcli.errors import ConvcliError, SpecError
from convcli.geometry import (
    conv_output_size,
    pool_output_size,
    transposed_output_size,
)

if TYPE_CHECKING:
    import numpy as np

    from convcli.core.padding import PaddingLike
    from convcli.kernels import KernelStep, PoolStep
    from convcli.pipeline import StepOptions

__all__ = [
    "POOL_OPS",
    "Arithmetic",
    "Axis",
    "ChannelSum",
    "Element",
    "Geometry",
    "Scatter",
    "Tap",
    "Target",
    "Term",
    "chain_arithmetic",
    "conv_arithmetic",
    "conv_geometry",
    "conv_transpose_arithmetic",
    "pool_arithmetic",
    "pool_geometry",
    "transposed_geometry",
]

#: The pooling operations: PyTorch's max and average pools, convcli's min pool and median.
POOL_OPS: tuple[str, ...] = ("max", "avg", "min", "median")

Pair = tuple[int, int]


# ---------------------------------------------------------------------------------------
# Geometry (pure Python)


@dataclass(frozen=True)
class Axis:
    """Where the windows of one spatial axis fall.

    For a convolution or a pool, window ``o`` reads the input positions
    ``o * stride + j * dilation - before`` for ``j`` in ``range(kernel)``; for a transposed
    convolution, input ``i`` writes the output positions given by the same formula with
    ``before`` the rows its padding crops. Positions outside ``[0, size)`` (``[0, out)`` when
    transposed) are padding (cropped rows).

    Attributes
    ----------
    size, out : int
        Input and output lengths.
    kernel, stride, dilation : int
    before, after : int
        Padding on each side (for a transposed convolution: rows cropped from the output).
    output_padding : int
        Transposed only: extra rows at the end of the output.
    extent : int
        Conv/pool: the padded length every window fits in (in ceil mode it can pass the
        padding: those cells are *outside*, never read). Transposed: the uncropped output.
    """

    size: int
    kernel: int
    stride: int
    dilation: int
    before: int
    after: int
    out: int
    output_padding: int = 0
    transposed: bool = False

    @property
    def span(self) -> int:
        """The length a dilated kernel covers: ``d (k - 1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def extent(self) -> int:
        if self.transposed:
            return self.out + self.before + self.after
        last = (self.out - 1) * self.stride + self.span
        return max(self.size + self.before + self.after, last)

    def taps(self, index: int) -> list[int]:
        """Conv/pool: the input positions window ``index`` reads; transposed: the output
        positions input ``index`` writes.

        >>> Axis(5, 3, 2, 1, 1, 1, 3).taps(1)
        [1, 2, 3]
        """
        start = index * self.stride - self.before
        return [start + j * self.dilation for j in range(self.kernel)]

    def kind(self, position: int) -> str:
        """``"input"``, ``"padding"`` or ``"outside"`` (past the padding, ceil mode only) for
        a conv/pool grid position; ``"output"`` or ``"cropped"`` for a transposed one."""
        if self.transposed:
            return "output" if 0 <= position < self.out else "cropped"
        if 0 <= position < self.size:
            return "input"
        if -self.before <= position < self.size + self.after:
            return "padding"
        return "outside"

    @property
    def grid(self) -> range:
        """The positions a picture shows: padding and overhang included (conv/pool), the
        uncropped output (transposed)."""
        return range(-self.before, -self.before + self.extent)

    def unread(self) -> list[int]:
        """Conv/pool: the padded positions no window reads (padding included), ascending."""
        read = {p for o in range(self.out) for p in self.taps(o)}
        return [p for p in self.grid if p not in read and self.kind(p) != "outside"]


@dataclass(frozen=True)
class Tap:
    """One cell of a window: where it is, which kernel tap lands there, and its kind.

    Conv/pool: ``(row, col)`` is an input position and ``kind`` one of ``"input"``,
    ``"padding"``, ``"outside"``. Transposed: an output position, ``"output"`` or
    ``"cropped"``.
    """

    row: int
    col: int
    tap: Pair
    kind: str


@dataclass(frozen=True)
class Geometry:
    """The windows of one 2-D layer.

    Attributes
    ----------
    op : {"conv", "deconv", "max", "avg", "min", "median"}
    rows, cols : Axis
    ceil_mode : bool
        Pools: PyTorch's ``ceil_mode``.

    Examples
    --------
    >>> g = conv_geometry((3, 3), 2, stride=2, padding=1)
    >>> g.out_size, [(t.row, t.col, t.kind) for t in g.taps(0, 1)]
    ((2, 2), [(-1, 1, 'padding'), (-1, 2, 'padding'), (0, 1, 'input'), (0, 2, 'input')])
    """

    op: str
    rows: Axis
    cols: Axis
    ceil_mode: bool = False

    @property
    def transposed(self) -> bool:
        return self.op == "deconv"

    @property
    def in_size(self) -> Pair:
        return (self.rows.size, self.cols.size)

    @property
    def out_size(self) -> Pair:
        return (self.rows.out, self.cols.out)

    @property
    def kernel_size(self) -> Pair:
        return (self.rows.kernel, self.cols.kernel)

    @property
    def stride(self) -> Pair:
        return (self.rows.stride, self.cols.stride)

    @property
    def dilation(self) -> Pair:
        return (self.rows.dilation, self.cols.dilation)

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)``: padding, or rows cropped when transposed."""
        return (self.rows.before, self.rows.after, self.cols.before, self.cols.after)

    @property
    def output_padding(self) -> Pair:
        return (self.rows.output_padding, self.cols.output_padding)

    def frames(self) -> list[Pair]:
        """The positions in sliding order, row by row: the outputs of a convolution or
        pool, the inputs of a transposed convolution (each scatters its kernel)."""
        rows, cols = self.in_size if self.transposed else self.out_size
        return [(r, c) for r in range(rows) for c in range(cols)]

    def taps(self, row: int, col: int) -> list[Tap]:
        """The cells of the window at frame ``(row, col)``, in kernel order (row-major)."""
        row_taps, col_taps = self.rows.taps(row), self.cols.taps(col)
        out = []
        for i, r in enumerate(row_taps):
            row_kind = self.rows.kind(r)
            for j, c in enumerate(col_taps):
                out.append(Tap(r, c, (i, j), _cell_kind(row_kind, self.cols.kind(c))))
        return out

    def cell_kind(self, row: int, col: int) -> str:
        """The kind of a grid cell: the padded input of a conv/pool, the uncropped output
        of a transposed convolution."""
        return _cell_kind(self.rows.kind(row), self.cols.kind(col))

    def describe(self) -> str:
        """``"conv 3x3, stride 2, padding 1 -> 3x3"``: the layer in one phrase."""
        name = {"conv": "conv", "deconv": "transposed conv", "max": "max pool",
                "avg": "avg pool", "min": "min pool", "median": "median"}[self.op]  # fmt: skip
        parts = [f"{name} {self.kernel_size[0]}x{self.kernel_size[1]}"]
        if self.stride != (1, 1) or self.op in ("max", "avg", "min"):
            parts.append(f"stride {_pair_text(self.stride)}")
        if any(self.pads):
            parts.append(f"padding {_pads_text(self.pads)}")
        if self.dilation != (1, 1):
            parts.append(f"dilation {_pair_text(self.dilation)}")
        if any(self.output_padding):
            parts.append(f"output_padding {_pair_text(self.output_padding)}")
        if self.ceil_mode:
            parts.append("ceil mode")
        in_h, in_w = self.in_size
        out_h, out_w = self.out_size
        return f"{', '.join(parts)}: {in_h}x{in_w} -> {out_h}x{out_w}"


def _cell_kind(row_kind: str, col_kind: str) -> str:
    for kind in ("outside", "cropped", "padding"):
        if kind in (row_kind, col_kind):
            return kind
    return row_kind


def _pair_text(pair: Sequence[int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _pads_text(pads: Sequence[int]) -> str:
    top, bottom, left, right = pads
    if top == bottom and left == right:
        return _pair_text((top, left))
    return f"{top},{bottom},{left},{right}"


def _pair(value: int | Sequence[int], name: str, minimum: int) -> Pair:
    from convcli.core.padding import to_pair

    try:
        return to_pair(value, name, minimum)
    except ValueError as error:
        raise ConvcliError(str(error)) from None


def _pads(
    padding: object, in_size: Pair, kernel: Pair, stride: Pair, dilation: Pair
) -> tuple[int, int, int, int]:
    from convcli.core.padding import resolve_padding

    try:
        return resolve_padding(padding, in_size, kernel, stride, dilation)  # type: ignore[arg-type]
    except ValueError as error:
        raise ConvcliError(str(error)) from None


def _check_fits(op: str, in_size: Pair, out: Pair, kernel: Pair, pads: Sequence[int]) -> None:
    if min(out) < 1:
        raise ConvcliError(
            f"kernel_size {_pair_text(kernel)} (padding {_pads_text(pads)}) does not fit the "
            f"input {in_size[0]}x{in_size[1]}: the {op} output would be {out[0]}x{out[1]}"
        )


def conv_geometry(
    in_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: object = 0,
    dilation: int | Sequence[int] = 1,
) -> Geometry:
    """The windows of a convolution (``torch.nn.Conv2d``'s geometry).

    Parameters
    ----------
    in_size, kernel_size, stride, dilation : int or (int, int)
    padding : int, (h, w), (top, bottom, left, right), "valid" or "same"
        ``"same"`` is TensorFlow's (out = ceil(in / stride), the odd pixel bottom/right).

    Raises
    ------
    ConvcliError
        A value PyTorch rejects, or a kernel that does not fit, naming it.

    Examples
    --------
    >>> conv_geometry(5, 3, padding="same").pads, conv_geometry(7, 3, dilation=2).out_size
    ((1, 1, 1, 1), (3, 3))
    """
    size = _pair(in_size, "input size", 1)
    kernel = _pair(kernel_size, "kernel_size", 1)
    strides = _pair(stride, "stride", 1)
    dilations = _pair(dilation, "dilation", 1)
    pads = _pads(padding, size, kernel, strides, dilations)
    axes = [
        Axis(size[a], kernel[a], strides[a], dilations[a], pads[2 * a], pads[2 * a + 1], 0)
        for a in (0, 1)
    ]
    out = tuple(
        conv_output_size(ax.size, ax.kernel, ax.stride, (ax.before, ax.after), ax.dilation)
        for ax in axes
    )
    _check_fits("conv", size, out, kernel, pads)  # type: ignore[arg-type]
    rows, cols = (_with_out(ax, o) for ax, o in zip(axes, out, strict=True))
    return Geometry("conv", rows, cols)


def _with_out(axis: Axis, out: int) -> Axis:
    from dataclasses import replace

    return replace(axis, out=out)


def pool_geometry(
    op: str,
    in_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: object = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> Geometry:
    """The windows of a pool: ``"max"``, ``"avg"``, ``"min"`` (PyTorch's rules: stride
    defaults to the kernel, padding at most ``kernel_size // 2``, no dilation for ``avg``,
    in ceil mode no window starts in the right padding) or ``"median"`` (a filter: stride
    1 by default, any padding).

    Parameters
    ----------
    op : {"max", "avg", "min", "median"}
        The pool (or the median filter).
    in_size : int or (int, int)
        Input height and width.
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Default: the kernel for pools, 1 for the median.
    padding : int, (h, w), (top, bottom, left, right), "valid" or "same"
        Pads per side (pools at most ``kernel_size // 2``).
    dilation : int or (int, int)
        Spacing of the window's taps (not for ``avg``).
    ceil_mode : bool
        Round the output size up, PyTorch's ``ceil_mode``.

    Examples
    --------
    >>> g = pool_geometry("max", 5, 2, padding=1, ceil_mode=True)
    >>> g.out_size, g.rows.kind(4), g.rows.kind(5)
    ((3, 3), 'input', 'padding')
    >>> pool_geometry("max", 5, 2, padding=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcli.errors.ConvcliError: padding must be at most half the kernel size ... got 2
    """
    if op not in POOL_OPS:
        raise ConvcliError(f"op must be one of {', '.join(POOL_OPS)}, got {op!r}")
    size = _pair(in_size, "input size", 1)
    kernel = _pair(kernel_size, "kernel_size", 1)
    default = (1, 1) if op == "median" else kernel
    strides = default if stride is None else _pair(stride, "stride", 1)
    dilations = _pair(dilation, "dilation", 1)
    if op in ("avg", "median") and dilations != (1, 1):
        raise ConvcliError(
            f"{op} pooling has no dilation (as in PyTorch), got {_pair_text(dilations)}"
        )
    if op == "median" and ceil_mode:
        raise ConvcliError("ceil_mode is for max, avg and min pools, not the median filter")
    pads = _pads(padding, size, kernel, strides, dilations)
    limit = (kernel[0] // 2, kernel[1] // 2)
    if op != "median" and (max(pads[:2]) > limit[0] or max(pads[2:]) > limit[1]):
        raise ConvcliError(
            f"padding must be at most half the kernel size (kernel_size // 2 = "
            f"{_pair_text(limit)}) on each side, got {_pads_text(pads)}"
        )
    axes = []
    for a in (0, 1):
        before, after = pads[2 * a], pads[2 * a + 1]
        if op == "median":
            out = conv_output_size(size[a], kernel[a], strides[a], (before, after))
        else:
            out = pool_output_size(
                size[a], kernel[a], strides[a], (before, after), dilations[a], ceil_mode
            )
        axes.append(Axis(size[a], kernel[a], strides[a], dilations[a], before, after, out))
    _check_fits(f"{op} pool", size, (axes[0].out, axes[1].out), kernel, pads)
    return Geometry(op, axes[0], axes[1], ceil_mode=bool(ceil_mode) and op != "median")


def transposed_geometry(
    in_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
) -> Geometry:
    """The scatter of a transposed convolution (``torch.nn.ConvTranspose2d``'s geometry).

    Input ``(r, c)`` writes its kernel, scaled by its value, at output rows
    ``r * stride + i * dilation - padding``; the padding crops rows off each side of the
    full output, ``output_padding`` adds rows at the bottom/right.

    Parameters
    ----------
    in_size : int or (int, int)
        Input height and width.
    kernel_size : int or (int, int)
        Kernel height and width.
    stride : int or (int, int)
        Spacing of the input's scattered kernels in the output.
    padding : int or (int, int)
        Rows (columns) cropped off each side of the full output.
    output_padding : int or (int, int)
        Rows (columns) added at the bottom (right); less than ``max(stride, dilation)``.
    dilation : int or (int, int)
        Spacing of the kernel's taps.

    Examples
    --------
    >>> g = transposed_geometry(3, 3, stride=2, padding=1, output_padding=1)
    >>> g.out_size, g.rows.extent, g.rows.kind(-1), g.rows.kind(6)
    ((6, 6), 8, 'cropped', 'cropped')
    """
    size = _pair(in_size, "input size", 1)
    kernel = _pair(kernel_size, "kernel_size", 1)
    strides = _pair(stride, "stride", 1)
    dilations = _pair(dilation, "dilation", 1)
    if isinstance(padding, str):
        raise ConvcliError(f"padding must be an int or HxW for a transposed conv, got {padding!r}")
    pads = _pair(padding, "padding", 0)
    extra = _pair(output_padding, "output_padding", 0)
    for axis, e, s, d in zip("hw", extra, strides, dilations, strict=True):
        if e >= max(s, d):
            raise ConvcliError(
                f"output_padding must be smaller than stride or dilation, got "
                f"output_padding={e} with stride={s}, dilation={d} ({axis} axis)"
            )
    axes = []
    for a in (0, 1):
        out = transposed_output_size(
            size[a], kernel[a], strides[a], pads[a], dilations[a], extra[a]
        )
        axes.append(
            Axis(
                size[a], kernel[a], strides[a], dilations[a], pads[a], pads[a], out, extra[a], True
            )
        )
    out_size = (axes[0].out, axes[1].out)
    if min(out_size) < 1:
        raise ConvcliError(
            f"transposed conv output would be {out_size[0]}x{out_size[1]}: padding "
            f"{_pair_text(pads)} is too large for input {size[0]}x{size[1]} and kernel "
            f"{_pair_text(kernel)}"
        )
    return Geometry("deconv", axes[0], axes[1])


# ---------------------------------------------------------------------------------------
# Arithmetic (NumPy)


@dataclass(frozen=True)
class Term:
    """One input value of an output element, and the weight it is multiplied by.

    ``(channel, row, col)`` is where the value comes from in the layer's input (outside
    ``[0, H) x [0, W)``: padding). ``weight`` is None in pools. ``kind`` is ``"input"``,
    ``"padding"`` or ``"outside"`` (ceil-mode overhang: shown, never counted). ``tap`` is
    the kernel position ``(i, j)``.
    """

    channel: int
    row: int
    col: int
    value: float
    weight: float | None = None
    kind: str = "input"
    tap: Pair = (0, 0)

    @property
    def product(self) -> float:
        return self.value * (1.0 if self.weight is None else self.weight)


@dataclass(frozen=True)
class ChannelSum:
    """The terms of one input channel, and their sum (pools: the window, and the result)."""

    channel: int
    terms: tuple[Term, ...]
    total: float


@dataclass(frozen=True)
class Element:
    """How one output element is computed.

    Attributes
    ----------
    position : (channel, row, col)
        In the output.
    op : {"conv", "deconv", "max", "avg", "min", "median", "magnitude"}
    parts : tuple of ChannelSum
        Convolutions: one per input channel read (a 1x1 kernel: one term each). Pools: one,
        the window (with padding and ceil-mode overhang cells, ``kind`` saying which).
    value : float
        The result: ``sum(part.total) + bias``, the max/min/median, ``sum / divisor``, or
        ``sqrt(gx**2 + gy**2)``.
    bias : float or None
    chosen : Term or None
        Max/min/median: the window cell that gives the value (the first, on ties).
    divisor : int or None
        Average pools: what the sum is divided by (PyTorch's ``count_include_pad`` rule).
    components : tuple of Element
        A gradient magnitude's ``(gx, gy)`` elements.
    """

    position: tuple[int, int, int]
    op: str
    parts: tuple[ChannelSum, ...]
    value: float
    bias: float | None = None
    chosen: Term | None = None
    divisor: int | None = None
    components: tuple[Element, ...] = ()


@dataclass(frozen=True)
class Target:
    """One output cell a transposed convolution's input writes to."""

    channel: int
    row: int
    col: int
    weight: float
    product: float
    cropped: bool
    tap: Pair


@dataclass(frozen=True)
class Scatter:
    """A transposed convolution's input element and the scaled kernel it scatters."""

    channel: int
    row: int
    col: int
    value: float
    targets: tuple[Target, ...]


@dataclass(eq=False)
class Arithmetic:
    """One layer run on one input, with the terms of every output element on demand.

    Attributes
    ----------
    op : {"conv", "deconv", "max", "avg", "min", "median", "magnitude"}
    geometry : Geometry
    x : ndarray, shape (C, H, W), float32
        The layer's input.
    output : ndarray, shape (C_out, H_out, W_out), float32
        What the NumPy core computed.
    weights : tuple of ndarray
        Convolutions: the 4-D weight, PyTorch's layout (``(C_out, C_in/g, kh, kw)``,
        transposed ``(C_in, C_out/g, kh, kw)``); a magnitude has two (gx, gy).
    groups : int
    bias : ndarray or None
    border : str
        How convolution/median padding is filled; pools pad with what never wins.
    count_include_pad : bool
        Average pools: whether padding counts in the divisor.
    text : str
        The step as typed (chains), or "".
    index : int
        Position in a chain, from 1.
    """

    op: str
    geometry: Geometry
    x: np.ndarray
    output: np.ndarray
    weights: tuple[np.ndarray, ...] = ()
    groups: int = 1
    bias: np.ndarray | None = None
    border: str = "zeros"
    count_include_pad: bool = True
    text: str = ""
    index: int = 1
    _padded: np.ndarray | None = field(default=None, repr=False)

    # --- shapes and order ---------------------------------------------------------

    @property
    def in_channels(self) -> int:
        return int(self.x.shape[0])

    @property
    def out_channels(self) -> int:
        return int(self.output.shape[0])

    @property
    def count(self) -> int:
        """How many output elements there are."""
        return int(self.output.size)

    @property
    def depthwise(self) -> bool:
        """A 2-D kernel on each channel (groups = channels, one output each), or a pool."""
        if self.op in POOL_OPS:
            return True
        return self.groups == self.in_channels and self.out_channels == self.in_channels

    def positions(self) -> Iterator[tuple[int, int, int]]:
        """Output elements in the order the window slides: channel by channel, row-major."""
        channels, rows, cols = self.output.shape
        for c in range(channels):
            for r in range(rows):
                for col in range(cols):
                    yield (c, r, col)

    @property
    def fill(self) -> float:
        """What pools pad with (never changes the result): -inf for max, +inf for min."""
        return {"max": -math.inf, "min": math.inf}.get(self.op, 0.0)

    @property
    def padded(self) -> np.ndarray:
        """The input as the windows see it: padded on every side, and for ceil-mode pools
        extended over the overhang (never read). Conv/median: the border fill; pools:
        :attr:`fill`. Indexed by ``position + before`` per axis."""
        if self._padded is None:
            import numpy as np

            g = self.geometry
            if self.op in ("conv", "median", "magnitude"):
                from convcli.core.padding import pad2d

                padded = pad2d(self.x.astype(np.float64), g.pads, self.border)
            else:
                rows, cols = g.rows, g.cols
                padded = np.full((self.in_channels, rows.extent, cols.extent), self.fill)
                padded[
                    :, rows.before : rows.before + rows.size, cols.before : cols.before + cols.size
                ] = self.x
            self._padded = padded
        return self._padded

    def value_at(self, channel: int, row: int, col: int) -> float:
        """The input value at a (possibly padded) position.

        Parameters
        ----------
        channel : int
            Input channel.
        row, col : int
            Position in input coordinates; outside ``[0, size)`` it is padding.
        """
        g = self.geometry
        return float(self.padded[channel, row + g.rows.before, col + g.cols.before])

    # --- elements -----------------------------------------------------------------

    def element(self, channel: int, row: int, col: int) -> Element:
        """The terms of output ``(channel, row, col)`` and the value they give.

        Parameters
        ----------
        channel : int
            Output channel.
        row, col : int
            Position in the output.

        Raises
        ------
        IndexError
            A position outside the output.
        """
        c_out, h_out, w_out = self.output.shape
        if not (0 <= channel < c_out and 0 <= row < h_out and 0 <= col < w_out):
            raise IndexError(
                f"no output element ({channel}, {row}, {col}) in {c_out}x{h_out}x{w_out}"
            )
        position = (channel, row, col)
        if self.op == "deconv":
            return self._deconv_element(position)
        if self.op in POOL_OPS:
            return self._pool_element(position)
        if self.op == "magnitude":
            parts = [self._conv_element(position, weight, None) for weight in self.weights]
            value = math.sqrt(sum(part.value**2 for part in parts))
            return Element(position, "magnitude", (), value, components=tuple(parts))
        bias = None if self.bias is None else float(self.bias[channel])
        return self._conv_element(position, self.weights[0], bias)

    def _conv_element(
        self, position: tuple[int, int, int], weight: np.ndarray, bias: float | None
    ) -> Element:
        channel, row, col = position
        per_group = weight.shape[0] // self.groups
        in_per_group = weight.shape[1]
        first = (channel // per_group) * in_per_group
        taps = self.geometry.taps(row, col)
        parts = []
        for k in range(in_per_group):
            terms = tuple(
                Term(
                    first + k,
                    t.row,
                    t.col,
                    self.value_at(first + k, t.row, t.col),
                    float(weight[channel, k, t.tap[0], t.tap[1]]),
                    t.kind,
                    t.tap,
                )
                for t in taps
            )
            parts.append(ChannelSum(first + k, terms, math.fsum(t.product for t in terms)))
        total = math.fsum(part.total for part in parts) + (bias or 0.0)
        return Element(position, "conv", tuple(parts), total, bias=bias)

    def _pool_element(self, position: tuple[int, int, int]) -> Element:
        channel, row, col = position
        g = self.geometry
        terms = tuple(
            Term(channel, t.row, t.col, self.value_at(channel, t.row, t.col), None, t.kind, t.tap)
            for t in g.taps(row, col)
        )
        counted = [t for t in terms if t.kind != "outside"]
        chosen = None
        divisor = None
        if self.op == "avg":
            divisor = self._divisor(row, col)
            total = math.fsum(t.value for t in counted)
            value = total / divisor
        else:
            values = [t.value for t in counted]
            if self.op == "max":
                target = max(values)
            elif self.op == "min":
                target = min(values)
            else:  # the upper middle value: always one of the inputs (SciPy's rank n // 2)
                target = sorted(values)[len(values) // 2]
            chosen = next(t for t in counted if t.value == target)
            total = value = target
        part = ChannelSum(channel, terms, total)
        return Element(position, self.op, (part,), value, chosen=chosen, divisor=divisor)

    def _divisor(self, row: int, col: int) -> int:
        """PyTorch's average-pool divisor: per axis ``end - start`` with ``end`` at most the
        end of the padding (the ceil-mode overhang never counts); without
        ``count_include_pad`` both are first clipped to the input."""
        counts = []
        for axis, index in ((self.geometry.rows, row), (self.geometry.cols, col)):
            start = index * axis.stride - axis.before
            end = min(start + axis.kernel, axis.size + axis.after)
            if not self.count_include_pad:
                start, end = max(start, 0), min(end, axis.size)
            counts.append(end - start)
        return counts[0] * counts[1]

    def _deconv_element(self, position: tuple[int, int, int]) -> Element:
        channel, row, col = position
        weight = self.weights[0]  # (C_in, C_out/g, kh, kw)
        out_per_group = weight.shape[1]
        in_per_group = self.in_channels // self.groups
        group = channel // out_per_group
        rows, cols = self.geometry.rows, self.geometry.cols
        row_sources = _sources(rows, row)
        col_sources = _sources(cols, col)
        parts = []
        for k in range(in_per_group):
            c_in = group * in_per_group + k
            terms = tuple(
                Term(
                    c_in,
                    r,
                    c,
                    float(self.x[c_in, r, c]),
                    float(weight[c_in, channel % out_per_group, i, j]),
                    "input",
                    (i, j),
                )
                for r, i in row_sources
                for c, j in col_sources
            )
            parts.append(ChannelSum(c_in, terms, math.fsum(t.product for t in terms)))
        bias = None if self.bias is None else float(self.bias[channel])
        total = math.fsum(part.total for part in parts) + (bias or 0.0)
        return Element(position, "deconv", tuple(parts), total, bias=bias)

    def scatter(self, channel: int, row: int, col: int) -> Scatter:
        """Transposed convolution: input ``(channel, row, col)`` times the kernel, and the
        output cells each product is added to (cropped ones are dropped).

        Parameters
        ----------
        channel : int
            Input channel.
        row, col : int
            Position in the input.
        """
        if self.op != "deconv":
            raise ValueError("scatter() is for transposed convolutions")
        weight = self.weights[0]
        out_per_group = weight.shape[1]
        group = channel // (self.in_channels // self.groups)
        value = float(self.x[channel, row, col])
        targets = []
        for o in range(out_per_group):
            for t in self.geometry.taps(row, col):
                w = float(weight[channel, o, t.tap[0], t.tap[1]])
                targets.append(
                    Target(
                        group * out_per_group + o,
                        t.row,
                        t.col,
                        w,
                        value * w,
                        t.kind == "cropped",
                        t.tap,
                    )
                )
        return Scatter(channel, row, col, value, tuple(targets))

    def scatters(self) -> Iterator[Scatter]:
        """Every input element's scatter, in sliding order (channel by channel)."""
        for c in range(self.in_channels):
            for r, col in self.geometry.frames():
                yield self.scatter(c, r, col)


def _sources(axis: Axis, out: int) -> list[tuple[int, int]]:
    """Transposed: the ``(input position, kernel tap)`` pairs that write output ``out``."""
    found = []
    for i in range(axis.size):
        for j, position in enumerate(axis.taps(i)):
            if position == out:
                found.append((i, j))
    return found


# ---------------------------------------------------------------------------------------
# Building the arithmetic


def _as_chw(x: Any, name: str = "x") -> np.ndarray:
    import numpy as np

    array = np.asarray(x, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ConvcliError(f"{name} must have shape (H, W) or (C, H, W), got {array.shape}")
    return array


def _core_error(error: ValueError) -> ConvcliError:
    return error if isinstance(error, ConvcliError) else ConvcliError(str(error))


def conv_arithmetic(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> Arithmetic:
    """A convolution's arithmetic: :func:`convcli.core.conv.conv2d`'s arguments.

    Parameters
    ----------
    x : array_like, shape (H, W) or (C_in, H, W)
    weight : array_like, shape (kh, kw), (C_in, kh, kw) or (C_out, C_in/groups, kh, kw)
        A 2-D kernel on a one-channel input, a 3-D kernel summing channels, or a layer.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.stack([np.arange(9.0).reshape(3, 3), np.arange(1.0, 10).reshape(3, 3)])
    >>> layer = conv_arithmetic(x, [[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    >>> [part.total for part in layer.element(0, 0, 0).parts], layer.output[0].tolist()
    ([19.0, 37.0], [[56.0, 72.0], [104.0, 120.0]])
    """
    import numpy as np

    from convcli.core.conv import conv2d

    x3 = _as_chw(x)
    w = np.asarray(weight, dtype=np.float32)
    if w.ndim in (2, 3):
        w = w.reshape((1,) * (4 - w.ndim) + w.shape)
    try:
        output = conv2d(x3, w, bias, stride, padding, dilation, groups, padding_mode)
    except ValueError as error:
        raise _core_error(error) from None
    geometry = conv_geometry(x3.shape[1:], w.shape[2:], stride, padding, dilation)
    bias_array = None if bias is None else np.asarray(bias, dtype=np.float32).reshape(-1)
    return Arithmetic("conv", geometry, x3, output, (w,), groups, bias_array, padding_mode)


def conv_transpose_arithmetic(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> Arithmetic:
    """A transposed convolution's arithmetic: :func:`~convcli.core.conv.conv_transpose2d`'s
    arguments (weight ``(C_in, C_out/groups, kh, kw)``, or ``(kh, kw)``).

    Parameters
    ----------
    x : array_like, shape (H, W) or (C_in, H, W)
        The input (one image).
    weight : array_like, shape (C_in, C_out/groups, kh, kw) or (kh, kw)
        The kernel, PyTorch's layout.
    bias : array_like, shape (C_out,), optional
        Added to every output of its channel.
    stride, padding, output_padding, groups, dilation
        As :func:`convcli.core.conv.conv_transpose2d`.

    Examples
    --------
    >>> layer = conv_transpose_arithmetic([[0, 1], [2, 3]], [[0, 1], [2, 3]])
    >>> layer.output[0].tolist()
    [[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]]
    >>> [(t.row, t.col, t.product) for t in layer.scatter(0, 0, 1).targets]
    [(0, 1, 0.0), (0, 2, 1.0), (1, 1, 2.0), (1, 2, 3.0)]
    """
    import numpy as np

    from convcli.core.conv import conv_transpose2d

    x3 = _as_chw(x)
    w = np.asarray(weight, dtype=np.float32)
    if w.ndim == 2:
        w = w[None, None]
    try:
        output = conv_transpose2d(x3, w, bias, stride, padding, output_padding, groups, dilation)
    except ValueError as error:
        raise _core_error(error) from None
    geometry = transposed_geometry(
        x3.shape[1:], w.shape[2:], stride, padding, output_padding, dilation
    )
    bias_array = None if bias is None else np.asarray(bias, dtype=np.float32).reshape(-1)
    return Arithmetic("deconv", geometry, x3, output, (w,), groups, bias_array)


def pool_arithmetic(  # noqa: PLR0913 (the pools' torch parameters, one function for all)
    x: Any,
    op: str,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: object = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    padding_mode: str = "reflect",
) -> Arithmetic:
    """A pool's arithmetic: ``op`` is ``"max"``, ``"avg"``, ``"min"`` or ``"median"``
    (``padding_mode`` is the median's border; pools pad with what never wins).

    Parameters
    ----------
    x : array_like, shape (H, W) or (C, H, W)
        The input (one image).
    op : {"max", "avg", "min", "median"}
        The pool (or the median filter).
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Default: the kernel for pools, 1 for the median.
    padding : int, (h, w), (top, bottom, left, right), "valid" or "same"
        Pads per side.
    dilation : int or (int, int)
        Spacing of the window's taps.
    ceil_mode : bool
        Round the output size up (PyTorch's ``ceil_mode``).
    count_include_pad : bool
        ``avg``: whether padding counts in the divisor (PyTorch's default True).
    padding_mode : str
        The median's border mode (:data:`~convcli.core.padding.PADDING_MODES`).

    Examples
    --------
    >>> import numpy as np
    >>> layer = pool_arithmetic(np.arange(9.0).reshape(3, 3), "max", 2, stride=1)
    >>> element = layer.element(0, 1, 1)
    >>> [t.value for t in element.parts[0].terms], element.value, element.chosen.row
    ([4.0, 5.0, 7.0, 8.0], 8.0, 2)
    """
    from convcli.core import pool

    x3 = _as_chw(x)
    geometry = pool_geometry(op, x3.shape[1:], kernel_size, stride, padding, dilation, ceil_mode)
    try:
        if op == "median":
            output = pool.median_filter2d(
                x3, kernel_size, geometry.stride, geometry.pads, padding_mode
            )
        elif op == "avg":
            output = pool.avg_pool2d(
                x3, kernel_size, geometry.stride, geometry.pads, ceil_mode, count_include_pad
            )
        else:
            function = pool.max_pool2d if op == "max" else pool.min_pool2d
            output = function(x3, kernel_size, geometry.stride, geometry.pads, dilation, ceil_mode)
    except ValueError as error:
        raise _core_error(error) from None
    border = padding_mode if op == "median" else "zeros"
    return Arithmetic(op, geometry, x3, output, border=border, count_include_pad=count_include_pad)


def chain_arithmetic(
    x: Any,
    steps: Sequence[KernelStep | PoolStep],
    options: StepOptions | None = None,
    *,
    image: bool = False,
) -> list[Arithmetic]:
    """The ``-k`` steps of ``convcli apply`` run on ``x``, each with its arithmetic.

    Each step is resolved exactly as ``apply`` resolves it (global ``--stride``,
    ``--padding``, ``--dilation``, ``--border``, ``--convolve``, ``--normalize``,
    ``--bias``; the matrix defaults unless ``image``), and each step's input is the
    previous step's output as the NumPy core computed it.

    Parameters
    ----------
    x : array_like, shape (H, W) or (C, H, W)
    steps : sequence of KernelStep or PoolStep
        As parsed by :func:`convcli.kernels.parse_step`.
    options : StepOptions, optional

    Returns
    -------
    list of Arithmetic
        One per step, with ``text`` and ``index`` set.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> layers = chain_arithmetic([[0, 1, 2], [3, 4, 5], [6, 7, 8]],
    ...                           [parse_step("0 1; 2 3"), parse_step("maxpool:2")])
    >>> [layer.output.tolist() for layer in layers]
    [[[[19.0, 25.0], [37.0, 43.0]]], [[[43.0]]]]
    """
    import numpy as np

    from convcli.kernels import KernelStep

    # The apply pipeline's own planner: the same pads, border, weights and checks.
    from convcli.pipeline import StepOptions, _defaults, _plan_step, prepare_steps

    options = options or StepOptions()
    kernel_steps = [step for step in steps if isinstance(step, KernelStep)]
    if options.bias is not None and len(kernel_steps) != 1:
        raise ConvcliError(
            f"--bias is added by the chain's only kernel step; this chain has {len(kernel_steps)}"
        )
    current = _as_chw(x)
    layers: list[Arithmetic] = []
    for index, step in enumerate(prepare_steps(steps, options), start=1):
        if isinstance(step, KernelStep) and (step.directions is not None or step.gate):
            what = "the maximum of 8 kernels" if step.gate == 0 else "gated by threshold="
            raise SpecError(
                f"--steps shows one sum of products per element; '{step.text.strip()}' is "
                f"{what} (show one direction, e.g. kirsch:n, or unsharp without threshold=)"
            )
        planned = _plan_step(index, step, tuple(current.shape), options, _defaults(image))
        output = np.asarray(planned.run(current), dtype=np.float32)
        text = step.text.strip()
        if isinstance(step, KernelStep):
            geometry = conv_geometry(
                current.shape[1:],
                step.weight.shape[-2:],
                planned.stride,
                planned.pads,
                planned.dilation,
            )
            passes = planned.passes
            op = "magnitude" if len(passes) == 2 else "conv"
            layer = Arithmetic(
                op,
                geometry,
                current,
                output,
                tuple(p.weight for p in passes),
                passes[0].groups,
                passes[0].bias,
                planned.border,
            )
        else:
            padding = planned.pads  # the pipeline resolved p=, -p and the defaults
            geometry = pool_geometry(
                step.op,
                current.shape[1:],
                step.kernel_size,
                step.stride,
                padding,
                1,
                step.ceil_mode,
            )
            layer = Arithmetic(step.op, geometry, current, output, border=planned.border)
        layer.text, layer.index = text, index
        layers.append(layer)
        current = output
    return layers
