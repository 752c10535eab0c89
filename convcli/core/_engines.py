"""The five convolution algorithms, and the band loop that runs them.

Every engine computes one rectangle of output (``group_out`` channels x rows x cols)
from one block of padded input (``group_in`` channels, with the kernel's halo). The
driver, :func:`execute`, cuts the output into row bands and each band into a wide
interior piece, read straight from the input as a view, and two narrow edge pieces
that are gathered with their padding; bands are shared between two threads (NumPy and
BLAS release the GIL inside their loops), with BLAS held to one thread meanwhile
(:func:`convcli._threads.blas_threads`: nested pools oversubscribe the cores).

- ``Direct``: shift-and-add, one pass per group of equal taps (:func:`accumulate`).
- ``Separable``: per rank-1 kernel, a vertical pass as per-row BLAS products on the real
  columns (read in place), the band's border columns copied after it, then horizontal
  NumPy passes that write whole output rows, or for long factors (a Gaussian of 9 taps
  or more) one BLAS product per block of 32 outputs with a banded matrix
  (:func:`banded_product`); box columns are summed by blocks anchored to the image's rows
  (:func:`block_sums`: three passes whatever k), box rows by factored doubling
  (:func:`window_sum`: 8 passes for 63 taps).
- ``Columns``: dense kernels on one input channel per group: per output row one BLAS
  product filters the rows it reads with every kernel column, then a second sums the
  shifted filtered rows (a row of ones times a skewed view; ``kw - 1`` adds if strided).
- ``Gemm``: im2col of a band, one matrix product per output row (or per band, for
  large weights) and group.
- ``Fft``: overlap-save over full-width bands with ``scipy.fft``.

All but ``Fft`` and band-sized ``Gemm`` products compute each output row on its own
(:func:`rows_independent`), so strips of an image give the whole image's bits.

NaN and infinities follow IEEE arithmetic, as in PyTorch: one reaches every output whose
window holds it, through a zero tap too (``0 x NaN`` is NaN). BLAS products do that by
themselves, and so do ``Direct`` and ``Separable`` for a kernel without a zero tap (boxes,
Gaussians). For one with zero taps (Sobel), which they skip, and for the FFT, which spreads
a NaN over its band, :func:`execute` runs the engine on a band's values with its non-finite
ones taken as 0 and computes again, tap by tap with the zero taps kept, the outputs whose
windows read a non-finite value (:class:`NonFiniteOutputs`). Finite bands pay one BLAS
product with a row of ones to find that out: an extra read of each band, 8-16% of a Sobel at 4K
(Separable's vertical pass, in the cache, could tell the same for less: not done yet).
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.core import _scratch
from convcli.core._strips import (
    MIN_PARALLEL_ELEMENTS,
    PaddedRows,
    band_rows,
    border_copies,
    run_bands,
)
from convcli.core.padding import pad2d

if TYPE_CHECKING:
    from convcli.core.conv import ConvProblem

BAND_BYTES = 1 << 21
"""Target size of one band of input for the pass-based engines.

Measured on 4K RGB with two threads: 2 MB bands beat 512 kB ones by a third (Sobel
30 ms vs 39 ms), because each band costs ~50 us of Python while holding the GIL; the
passes still run in the L2/L3 caches."""

FFT_BAND_BYTES = 1 << 23
"""FFT bands are taller: each band recomputes a halo of (kernel height - 1) rows."""

GEMM_BAND_BYTES = 1 << 23
"""Upper bound on one band's im2col matrix."""

GEMM_ROW_WEIGHTS = 1 << 16
"""Gemm multiplies one output row at a time when a group's weight matrix (``group_out x
group_in*kh*kw``) has at most this many entries, as every image kernel has: repacking it
for each row is then cheap. Larger ones (deep layers on small maps, 2-3x slower row by
row) get one product per band, whose rounding depends on the band: no strips for them
(:func:`rows_independent`)."""

MIN_DEPTHWISE_GROUPS = 8
"""Depthwise layers with at least this many groups run ``direct`` across all channels
at once (:func:`depthwise_direct`): the per-group loop would cost more than the sums."""

MIN_INTERIOR_COLUMNS = 16
"""Narrower interiors are not worth a separate piece."""


def tap_view(
    block: np.ndarray,
    i: int,
    j: int,
    rows: int,
    cols: int,
    stride: Sequence[int],
    dilation: Sequence[int],
) -> np.ndarray:
    """The input samples that tap ``(i, j)`` multiplies, for ``rows x cols`` outputs.

    Parameters
    ----------
    block : ndarray, shape (..., rows_in, cols_in)
        A padded block of the input.
    i, j : int
        The tap's row and column in the kernel.
    rows, cols : int
        Outputs wanted along each axis.
    stride, dilation : (int, int)
        The convolution's.
    """
    top, left = i * dilation[0], j * dilation[1]
    return block[
        ...,
        top : top + stride[0] * (rows - 1) + 1 : stride[0],
        left : left + stride[1] * (cols - 1) + 1 : stride[1],
    ]


def accumulate(
    target: np.ndarray,
    taps: list[tuple[Any, np.ndarray]],
    scratch: np.ndarray,
    first: bool,
    keep_zeros: bool = False,
) -> bool:
    """``target (+)= sum(weight * view)`` without temporaries; returns the new ``first``.

    ``first`` means ``target`` holds garbage: the first write overwrites it (no zero
    fill). Taps of 0 are skipped; taps sharing a weight are summed before one multiply
    (a 5-tap Gaussian costs 7 passes, not 9); taps of +-1 need no multiply at all
    (Sobel's ``[-1, 0, 1]`` is one subtraction). Each pass reads and writes arrays of
    the band's size, which stay in cache.

    Parameters
    ----------
    target : ndarray
        Receives the sum, in place.
    taps : list of (weight, view)
        Views of ``target``'s shape (see :func:`tap_view`) and the weight of each.
    scratch : ndarray
        Of ``target``'s shape and dtype, for the products.
    first : bool
        Whether ``target`` holds garbage (overwritten, not added to).
    keep_zeros : bool
        Multiply by zero taps too (one pass each), so that a NaN or an infinity they read
        makes the sum NaN, as IEEE arithmetic (and PyTorch) does.
    """
    groups: dict[float, list[np.ndarray]] = {}
    for weight, view in taps:
        groups.setdefault(float(weight), []).append(view)
    zeros = groups.pop(0.0, [])
    if keep_zeros and zeros:  # each on its own: a sum of finite views could overflow
        first = _add_zero_taps(target, zeros, scratch, first)
    scale = target.dtype.type
    for weight, views in groups.items():
        if abs(weight) == 1:
            continue
        holder = target if first else scratch
        if len(views) == 1:
            np.multiply(views[0], scale(weight), out=holder)
        else:
            np.add(views[0], views[1], out=holder)
            for view in views[2:]:
                np.add(holder, view, out=holder)
            np.multiply(holder, scale(weight), out=holder)
        if not first:
            np.add(target, scratch, out=target)
        first = False
    plus = groups.get(1.0, [])
    minus = groups.get(-1.0, [])
    if first and plus:
        if len(plus) > 1:
            np.add(plus[0], plus[1], out=target)
            plus = plus[2:]
        elif minus:
            np.subtract(plus[0], minus[0], out=target)
            plus, minus = [], minus[1:]
        else:
            np.copyto(target, plus[0])
            plus = []
        first = False
    elif first and minus:
        # Not np.negative: NumPy 2.4's SIMD negative misreads (n, 1)-shaped strided views.
        np.multiply(minus[0], scale(-1), out=target)
        minus = minus[1:]
        first = False
    for view in plus:
        np.add(target, view, out=target)
    for view in minus:
        np.subtract(target, view, out=target)
    return first


def _add_zero_taps(
    target: np.ndarray, views: list[np.ndarray], scratch: np.ndarray, first: bool
) -> bool:
    """``target (+)= 0 x view`` for each view: NaN where a view is not finite, else 0."""
    zero = target.dtype.type(0)
    for view in views:
        np.multiply(view, zero, out=target if first else scratch)
        if not first:
            np.add(target, scratch, out=target)
        first = False
    return first


def factor_taps(
    source: np.ndarray, factor: np.ndarray, stride: int, spacing: int, rows: int
) -> list[tuple[Any, np.ndarray]]:
    """The ``(weight, view)`` taps of a 1-D ``factor`` along axis 0 of ``source``, for
    ``rows`` outputs at ``stride``, taps ``spacing`` apart (for :func:`accumulate`).

    Parameters
    ----------
    source : ndarray
        Read along axis 0.
    factor : ndarray, shape (k,)
        The taps' weights.
    stride, spacing : int
        The pass's stride and dilation.
    rows : int
        Outputs wanted.
    """
    span = stride * (rows - 1) + 1
    return [
        (factor[i], source[i * spacing : i * spacing + span : stride]) for i in range(len(factor))
    ]


def accumulate_passes(weights: Sequence[float] | np.ndarray, first: bool = True) -> int:
    """How many array passes :func:`accumulate` makes for these tap weights.

    Counted with NumPy, not tap by tap: the cost model asks it for every kernel, and a
    63x63 box has 3,969 taps (~3 ms of Python per call, as much as filtering a
    512x512 image with it).

    Examples
    --------
    >>> accumulate_passes([1, 2, 1]), accumulate_passes([-1, 0, 1]), accumulate_passes([2, 3])
    (3, 1, 3)
    """
    values = np.asarray(weights, dtype=np.float64).ravel()
    key = (values.tobytes(), first)
    known = _PASSES.get(key)
    if known is not None:
        return known
    values = values[values != 0]
    unit = np.abs(values) == 1
    units = int(np.count_nonzero(unit))
    others = values[~unit]
    groups = len(set(others.tolist()))  # not np.unique: it imports numpy.ma (~10 ms)
    # Each weight shared by `count` taps: `count` passes (sum, then one multiply), plus
    # one add into the target unless it is the first write.
    passes = len(others) + groups - (1 if first and groups else 0)
    first = first and not groups
    if units:
        passes += units - 1 if first and units > 1 else units
    if len(_PASSES) < MAX_PASSES_KNOWN:
        _PASSES[key] = passes
    return passes


_PASSES: dict[tuple[bytes, bool], int] = {}
""":func:`accumulate_passes` by weights: the cost model asks for the same kernels again."""

MAX_PASSES_KNOWN = 4096


MIN_WINDOW = 5
"""Uniform 1-D factors (box filters) at least this long are summed by doubling."""


def is_window(factor: np.ndarray, stride: int) -> bool:
    """Whether a 1-D pass with ``factor`` is a box window summed by :func:`window_sum`."""
    return stride == 1 and len(factor) >= MIN_WINDOW and bool(np.all(factor == factor[0]))


ROWS_CHUNK_BYTES = 9 << 18
"""Most bytes of one doubling level of :class:`Separable`'s horizontal pass over box rows:
a band's rows are summed in chunks of about this size. Measured per output, one thread, 63
taps: 3840 wide, the band's 136 rows at once (2.1 MB a level) 1.83 ns, 68 at a time 1.95;
11314 wide (64 MP), 124 rows at once (5.6 MB) 3.58 ns, 42 at a time 2.19, 31 1.81."""

MIN_BLOCK_ROWS = 11
"""Box columns shorter than this stay one BLAS product per row in the vertical pass."""

BLOCK_COLUMN_BYTES = 1 << 18
"""A box column of at least :data:`MIN_BLOCK_ROWS` taps is summed by blocks
(:func:`block_sums`) when the rows one output reads hold at least this many bytes (taps x
row width x item size): BLAS's per-row gemv reads them all for each output row and slows
once they spill out of the 1 MB L2, the blocks' cost does not grow with the taps.
Measured on RGB float32, one thread (BLAS vs blocks, medians of 9 interleaved calls):
3840 wide, 11 taps (169 kB) 75 vs 72 ms, 15 taps 86 vs 79, 23 taps (353 kB) 144 vs 110,
31 taps 152 vs 132; 2048 wide, 15 taps (123 kB) 53 vs 63; 1024 wide, 63 taps (258 kB)
54 vs 56; 512 wide, 63 taps 8.7 vs 8.1."""


def vertical_by_blocks(column: np.ndarray, stride: int, row_bytes: int) -> bool:
    """Whether :class:`Separable`'s vertical pass sums ``column`` by blocks, not BLAS.

    Parameters
    ----------
    column : ndarray, shape (k,)
        The column factor.
    stride : int
        The vertical stride (blocks need 1).
    row_bytes : int
        Bytes of one row of the input's real columns.
    """
    return (
        is_window(column, stride)
        and len(column) >= MIN_BLOCK_ROWS
        and len(column) * row_bytes >= BLOCK_COLUMN_BYTES
    )


def window_passes(count: int, weight: float, first: bool = True) -> int:
    """How many array passes a ``count``-tap box pass makes (see :func:`window_sum`).

    Parameters
    ----------
    count : int
        Taps of the box.
    weight : float
        Their common weight (1 needs no multiply).
    first : bool
        Whether the pass writes its target (no add to what is there).

    Examples
    --------
    >>> [window_passes(k, 1.0) for k in (2, 3, 15, 16, 31, 63)]
    [1, 2, 5, 4, 8, 8]
    """
    passes = max(sum(_chain_passes(factor) for factor in window_factors(count)), 1)
    return passes + (weight != 1) + (not first)


def _chain_passes(factor: int) -> int:
    """Passes of one stage of :func:`window_sum`: a doubling per bit after the leading
    one, and an add of the stage's source per one bit among them."""
    return factor.bit_length() - 1 + bin(factor).count("1") - 1


@functools.cache
def window_factors(count: int) -> tuple[int, ...]:
    """The factors whose stages :func:`window_sum` sums ``count`` taps in, fewest passes.

    A box of ``a * b`` taps is a box of ``b`` taps, ``a`` apart, over a box of ``a``:
    ``63 = 3 * 21`` costs 2 + 6 passes where the binary expansion of 63 costs 10.

    Examples
    --------
    >>> window_factors(63), window_factors(31), window_factors(15)
    ((3, 21), (31,), (3, 5))
    """
    best: tuple[int, ...] = (count,)
    for a in range(2, math.isqrt(count) + 1):
        if count % a == 0:
            candidate = window_factors(a) + window_factors(count // a)
            cost = sum(_chain_passes(f) for f in candidate)
            if cost < sum(_chain_passes(f) for f in best):
                best = candidate
    return best


def window_sum(
    source: np.ndarray,
    count: int,
    spacing: int,
    target: np.ndarray,
    buffers: Sequence[np.ndarray],
) -> None:
    """``target[y] = sum_{i < count} source[y + i * spacing]`` along axis 0, by doubling.

    ``count`` is split into factors (:func:`window_factors`), each summed over the last
    one's windows; a factor is built from the leading bit of its binary expansion
    down: each further bit doubles the window (one pass: the window plus itself
    shifted) and, for a one bit, adds one more tap (one pass). A 63-tap box costs 8
    passes instead of 62, each sum of values inside its window only (an infinity or NaN
    spreads as in the direct sum), and ``target`` is written once, by the last pass.

    Parameters
    ----------
    source : ndarray
        Read along axis 0.
    count : int
        Taps summed.
    spacing : int
        Rows between taps (the dilation).
    target : ndarray
        Receives the sums: its rows (at most ``len(source) - (count - 1) * spacing``)
        are the outputs, its other axes ``source``'s.
    buffers : sequence of three ndarray
        Scratch, at least ``source``'s shape.
    """
    out_len = target.shape[0]
    if count == 1:
        np.copyto(target, source[:out_len])
        return
    factors = window_factors(count)
    stage_source, source_slot = source, -1  # the stage's single tap, and its buffer
    level, level_slot = source, -1  # level[y] = sum of `taps` of the stage's taps
    width = 1  # taps of `source` in one tap of the stage
    for index, factor in enumerate(factors):
        step = width * spacing
        taps = 1
        bits = bin(factor)[3:]
        moves = [move for bit in bits for move in ("double", "one")[: 1 + (bit == "1")]]
        for number, move in enumerate(moves):
            shift, other = (taps * step, level) if move == "double" else (taps * step, stage_source)
            taps = 2 * taps if move == "double" else taps + 1
            needed = out_len + (count - width * taps) * spacing  # rows later passes read
            if index == len(factors) - 1 and number == len(moves) - 1:
                out, slot = target, -1
            else:
                slot = next(i for i in range(3) if i not in (level_slot, source_slot))
                out = buffers[slot][:needed, : level.shape[1]]
            np.add(level[:needed], other[shift : shift + needed], out=out)
            level, level_slot = out, slot
        width *= factor
        stage_source, source_slot = level, level_slot


def block_sums(
    source: np.ndarray,
    count: int,
    phase: int,
    target: np.ndarray,
    buffers: tuple[np.ndarray, np.ndarray],
) -> None:
    """``target[y] = sum_{i < count} source[y + i]`` along axis 0, by blocks (van Herk /
    Gil-Werman): three passes (prefixes, suffixes, their sums) whatever ``count`` is.

    The rows are cut into blocks of ``count`` rows, starting where ``(phase + row) %
    count == 0``. Within each block, running sums go down from its first row (prefixes)
    and up from its last (suffixes), one NumPy call per row of a block, every block at
    once; a window that starts inside a block is that block's suffix plus the next
    block's prefix, a window that starts on a block is that block's suffix alone. Each
    sum holds only values of one window, so an infinity or NaN spreads as in the direct
    sum and no further (and warns only where the direct sum would); with ``phase`` the
    source's row in a whole image, a strip of that image gets the whole image's bits: an
    output's sums depend on its window's values and the image's fixed grid of blocks.

    Parameters
    ----------
    source : ndarray
        Read along axis 0: at least ``len(target) + count - 1`` rows.
    count : int
        Taps summed (the window's rows).
    phase : int
        The row, in the whole image, of ``source``'s first row (any integer: only its
        remainder by ``count`` matters).
    target : ndarray
        Receives the sums; its other axes are ``source``'s.
    buffers : (ndarray, ndarray)
        Scratch for the prefixes and suffixes: at least ``source``'s shape.
    """
    rows = target.shape[0]
    last = rows + count - 1  # rows the windows read
    prefix, suffix = buffers[0][:last], buffers[1][:last]
    start = -phase % count  # the first block's first row
    np.copyto(prefix[start::count], source[start:last:count])
    for j in range(1, min(count - 1, last - start)):
        np.add(
            prefix[start + j - 1 : last - 1 : count],
            source[start + j : last : count],
            out=prefix[start + j :: count],
        )
    # A block's whole prefix would only serve the window that is the block itself, which
    # is its suffix alone: -0.0 there adds nothing (x + -0.0 is x, bit for bit, -0.0
    # included), and no sum is made that no window makes (no overflow of its own).
    prefix[start + count - 1 :: count] = -0.0
    # Suffixes are needed up to the end of the block of the last window's first row.
    end = rows - 1 + (start - rows) % count
    first_end = (start - 1) % count
    np.copyto(suffix[first_end : end + 1 : count], source[first_end : end + 1 : count])
    for j in range(1, count):
        top = (first_end - j) % count
        if top < end:
            np.add(
                suffix[top + 1 : end + 1 : count][: len(range(top, end, count))],
                source[top:end:count],
                out=suffix[top:end:count],
            )
    np.add(suffix[:rows], prefix[count - 1 :], out=target)


def spaced_block_sums(
    source: np.ndarray,
    count: int,
    spacing: int,
    phase: int,
    target: np.ndarray,
    buffers: tuple[np.ndarray, np.ndarray],
) -> None:
    """:func:`block_sums` with taps ``spacing`` rows apart (a dilated box): each residue of
    the rows modulo ``spacing`` is a sequence of its own, with blocks of ``count`` of its
    rows anchored in the whole image as :func:`block_sums` anchors them.

    Parameters
    ----------
    source, count, target, buffers
        As :func:`block_sums`; ``source`` has at least
        ``len(target) + (count - 1) * spacing`` rows.
    spacing : int
        Rows between taps (the dilation).
    phase : int
        The row, in the whole image, of ``source``'s first row.
    """
    if spacing == 1:
        block_sums(source, count, phase, target, buffers)
        return
    for residue in range(min(spacing, target.shape[0])):
        # Row `residue + m * spacing` of the image sequence is element `m + offset` of its
        # own sequence, offset = floor((phase + residue) / spacing).
        block_sums(
            source[residue::spacing],
            count,
            (phase + residue) // spacing,
            target[residue::spacing],
            buffers,
        )


BANDED_BLOCK = 32
"""Output columns per block of :func:`banded_product`. Measured on 1080p bands, one
thread: 16 to 48 are within 10% for 5 to 49 taps; 8 doubles the copy, 64 the zeros."""

BANDED_CHUNK = 64
"""Blocks per BLAS product in :func:`banded_product`: every product has this fixed shape
(plus one per row for the rest), small enough that OpenBLAS never splits it between
threads, so an element's bits do not depend on the image's width or the band."""

BANDED_COPY_BYTES = 1 << 20
"""Windows copied and multiplied at a time by :func:`banded_product` (a quarter of that
measured up to 30% slower at 4K: more, smaller products)."""

BANDED_COLUMNS_PER_PASS = 3.5
"""One in-cache NumPy pass costs, per output, as much as this many columns of the banded
matrix (the window's copy and its multiply-adds). Measured on bands of 1280-3840 columns,
one thread, 13 taps: the banded product 1.9-2.2 ns per output (44 columns) at every width,
the NumPy passes 0.13-0.32 ns each, depending on the width (2.4 ns per output for 19 passes
at 3840, 5.6 at 1920). A 7-tap Gaussian (10 passes, 38 columns) stays with the passes."""


def banded_window(taps: int, spacing: int) -> int:
    """Values of a row that one block of :data:`BANDED_BLOCK` outputs reads (the banded
    matrix's rows, the multiply-adds per output) for a factor of ``taps`` taps."""
    return BANDED_BLOCK + (taps - 1) * spacing


def horizontal_by_product(factor: np.ndarray, stride: int, spacing: int) -> bool:
    """Whether :class:`Separable`'s horizontal pass multiplies by a banded matrix.

    Only at stride 1, and not for box factors (summed by doubling); then when the
    factor's NumPy passes would cost more than the banded matrix's columns (a 13-tap
    Gaussian: 19 passes against 44 columns, yes; a 7-tap one: 10 against 38, no).

    Parameters
    ----------
    factor : ndarray, shape (k,)
        The row factor.
    stride, spacing : int
        The pass's stride and dilation.
    """
    if stride != 1 or is_window(factor, stride):
        return False
    return accumulate_passes(factor) * BANDED_COLUMNS_PER_PASS > banded_window(len(factor), spacing)


def banded_matrix(factor: np.ndarray, spacing: int, cols: int, dtype: np.dtype) -> np.ndarray:
    """The ``(cols + (k - 1) * spacing, cols)`` matrix whose product with a window of a
    row is that window's correlation with ``factor``: column ``c`` holds ``factor`` from
    row ``c`` on, its taps ``spacing`` apart.

    Parameters
    ----------
    factor : ndarray, shape (k,)
        The taps.
    spacing : int
        Columns between taps (the dilation).
    cols : int
        Outputs per window.
    dtype : numpy.dtype
        The data's (BLAS multiplies in one type).

    Examples
    --------
    >>> banded_matrix(np.array([1.0, 2.0]), 1, 2, np.dtype(np.float64))
    array([[1., 0.],
           [2., 1.],
           [0., 2.]])
    """
    span = (len(factor) - 1) * spacing
    matrix = np.zeros((cols + span, cols), dtype)
    for c in range(cols):
        matrix[c : c + span + 1 : spacing, c] = factor
    return matrix


def banded_product(
    source: np.ndarray,
    matrices: tuple[np.ndarray, np.ndarray],
    target: np.ndarray,
    copies: np.ndarray,
) -> None:
    """``target[r] = correlate(source[r], factor)`` by blocks of :data:`BANDED_BLOCK` outputs.

    Each block's window of the row (``BANDED_BLOCK + span`` values) is copied into
    ``copies`` (BLAS cannot read overlapping rows in place) and multiplied by the banded
    matrix: about ``BANDED_BLOCK + span`` multiply-adds per output, at BLAS speed, instead
    of one NumPy pass per tap. The last ``cols % BANDED_BLOCK`` outputs of a row are one
    product with the matrix's corner. Every product has a shape fixed by the row's width
    (see :data:`BANDED_CHUNK`), so a row's bits depend on its values only.

    A window with an infinity or NaN would spread it through the matrix's zeros (0 x inf
    is NaN): the caller computes such rows otherwise.

    Parameters
    ----------
    source : ndarray, shape (rows, cols + span)
        Rows to filter, unit column stride.
    matrices : (ndarray, ndarray)
        :func:`banded_matrix` for ``BANDED_BLOCK`` columns and for the row's last
        ``cols % BANDED_BLOCK`` (the first's corner).
    target : ndarray, shape (rows, cols)
        Receives the result, unit column stride.
    copies : ndarray
        Flat scratch for the windows of at least one row (``(cols // BANDED_BLOCK) *
        (BANDED_BLOCK + span)`` values); as many rows as fit are copied and multiplied
        at a time.
    """
    block, rest = matrices
    rows, cols = target.shape
    window = block.shape[0]
    blocks = cols // BANDED_BLOCK
    whole = blocks // BANDED_CHUNK * BANDED_CHUNK
    group = max(1, copies.size // max(blocks * window, 1))  # rows copied at once
    for first in range(0, rows if blocks else 0, group):
        count = min(group, rows - first)
        copied = _flat(copies, count, blocks, window)
        np.copyto(copied, _windows(source[first:], (count, blocks, window), BANDED_BLOCK))
        outputs = _windows(target[first:], (count, blocks, BANDED_BLOCK), BANDED_BLOCK)
        if whole:
            np.matmul(_chunked(copied[:, :whole]), block, out=_chunked(outputs[:, :whole]))
        if whole < blocks:
            np.matmul(copied[:, whole:], block, out=outputs[:, whole:])
    if rest.shape[1]:
        start = blocks * BANDED_BLOCK
        np.matmul(source[:, None, start : start + rest.shape[0]], rest, out=target[:, None, start:])


def _chunked(view: np.ndarray) -> np.ndarray:
    """A ``(rows, n, width)`` view as ``(rows, n // BANDED_CHUNK, BANDED_CHUNK, width)``."""
    rows, count, width = view.shape
    row_stride, step, column_stride = view.strides
    return np.lib.stride_tricks.as_strided(
        view,
        (rows, count // BANDED_CHUNK, BANDED_CHUNK, width),
        (row_stride, step * BANDED_CHUNK, step, column_stride),
    )


def _windows(array: np.ndarray, shape: tuple[int, int, int], step: int) -> np.ndarray:
    """``array``'s rows seen as ``shape[1]`` windows of ``shape[2]`` columns, ``step`` apart."""
    row_stride, column_stride = array.strides
    return np.lib.stride_tricks.as_strided(
        array, shape, (row_stride, step * column_stride, column_stride)
    )


def _flat(buffer: np.ndarray, *shape: int) -> np.ndarray:
    """The front of a flat scratch buffer as a contiguous array of ``shape``."""
    return buffer[: math.prod(shape)].reshape(shape)


def _transposed(buffer: np.ndarray, rows: int, cols: int, count: int) -> Any:
    """``count`` contiguous ``(rows, cols)`` arrays from the front of a flat scratch buffer,
    each seen transposed; the array itself when ``count`` is 1."""
    size = rows * cols
    arrays = tuple(_flat(buffer[i * size :], rows, cols).T for i in range(count))
    return arrays[0] if count == 1 else arrays


class LazyBuffers(dict):
    """Flat scratch buffers by name, each allocated on first use (sizes given upfront)."""

    def __init__(self, dtype: np.dtype, **sizes: int) -> None:
        super().__init__()
        self.dtype = dtype
        self.sizes = sizes

    def __missing__(self, name: str) -> np.ndarray:
        buffer = _scratch.take(self.sizes[name], self.dtype)
        self[name] = buffer
        return buffer


class Engine:
    """One algorithm, run on one block of one image and one group at a time."""

    band_bytes = BAND_BYTES
    #: Whether bands are cut into edge and interior pieces (interior read in place).
    split_columns = True
    #: Whether bands are shared between threads (BLAS runs its own threads instead).
    thread_bands = True
    #: Whether the engine pads columns itself: it then gets blocks of the real columns.
    pads_columns = False

    def __init__(self, problem: ConvProblem) -> None:
        self.problem = problem
        self.group_in = problem.weight.shape[1]
        self.group_out = problem.weight.shape[0] // problem.groups
        self.dtype = problem.x.dtype

    def ieee_non_finite(self) -> bool:
        """Whether NaN and infinities reach every output whose window holds them, as IEEE
        arithmetic (PyTorch) has it, so that no band needs :class:`NonFiniteOutputs`. Passes
        that skip zero taps do, for a kernel without any (boxes, Gaussians)."""
        return not bool((self.problem.weight == 0).any())

    def rows_per_band(self) -> int:
        p = self.problem
        padded_width = p.x.shape[3] + p.pads[2] + p.pads[3]
        row_bytes = self.group_in * padded_width * self.dtype.itemsize * p.stride[0]
        return max(1, self.band_bytes // max(row_bytes, 1))

    def scratch(self, rows: int, in_cols: int, cols: int) -> dict[str, np.ndarray]:
        """Buffers one thread reuses for every block of at most these sizes.

        Parameters
        ----------
        rows : int
            Output rows of the tallest block.
        in_cols : int
            Padded input columns of the widest block.
        cols : int
            Output columns of the widest block.
        """
        return {}

    def run(
        self, block: np.ndarray, group: int, target: np.ndarray, buffers: dict[str, np.ndarray]
    ) -> None:
        """Write ``target`` (shape (group_out, rows, cols)) from a padded ``block``.

        Parameters
        ----------
        block : ndarray, shape (group_in, rows_in, cols_in)
            The group's padded input rows and columns (real columns only when
            :attr:`pads_columns`).
        group : int
            Which group of channels (selects its weights).
        target : ndarray, shape (group_out, rows, cols)
            A view of the output, written in place.
        buffers : dict of str to ndarray
            What :meth:`scratch` made, reused block after block.
        """
        raise NotImplementedError

    def run_rows(
        self,
        block: np.ndarray,
        group: int,
        target: np.ndarray,
        buffers: dict[str, np.ndarray],
        first_row: int,
    ) -> None:
        """:meth:`run` on a block that starts at padded input row ``first_row``: engines
        whose sums are anchored to the image's rows (:class:`Separable`'s box columns)
        need it, the others ignore it.

        Parameters
        ----------
        block, group, target, buffers
            As :meth:`run`.
        first_row : int
            The block's first row, in the padded input's rows.
        """
        self.run(block, group, target, buffers)


class Direct(Engine):
    """Shift-and-add: every non-zero tap of every channel pair is one scaled view."""

    #: Multiply by zero taps too (see :func:`accumulate`).
    keep_zero_taps = False

    def scratch(self, rows, in_cols, cols):
        """Direct's buffers (see :meth:`Engine.scratch`).

        Parameters
        ----------
        rows, in_cols, cols : int
            As :meth:`Engine.scratch`.
        """
        return {"product": _scratch.take(rows * cols, self.dtype)}

    def run(self, block, group, target, buffers):
        """Direct's pass over one block (see :meth:`Engine.run`).

        Parameters
        ----------
        block, group, target, buffers
            As :meth:`Engine.run`.
        """
        p = self.problem
        rows, cols = target.shape[1:]
        product = _flat(buffers["product"], rows, cols)
        kh, kw = p.kernel_size
        for o in range(self.group_out):
            kernels = p.weight[group * self.group_out + o]
            taps = [
                (kernels[c, i, j], tap_view(block[c], i, j, rows, cols, p.stride, p.dilation))
                for c in range(self.group_in)
                for i in range(kh)
                for j in range(kw)
            ]
            if accumulate(target[o], taps, product, True, self.keep_zero_taps):
                target[o] = 0


def separable_band_rows(problem: ConvProblem) -> int:
    """Output rows per band of :class:`Separable` (the cost model counts its calls by them).

    :data:`BAND_BYTES` of input, but each band re-reads a halo of kh - 1 rows: for tall
    kernels (a 63x63 box), bands of at least 2 halos keep that below a third of the
    vertical pass (taller bands of two threads spill out of the shared L3: 4 halos
    measured slower for 63x63).
    """
    p = problem
    padded_width = p.x.shape[3] + p.pads[2] + p.pads[3]
    row_bytes = p.weight.shape[1] * padded_width * p.x.dtype.itemsize * p.stride[0]
    return max(1, BAND_BYTES // max(row_bytes, 1), 2 * (p.effective_kernel[0] - 1))


class Separable(Engine):
    """Rank-1 kernels: a vertical pass with the column factor, then a horizontal one."""

    #: Uniform factors (box filters) at least this long are summed by doubling.
    min_window = MIN_WINDOW
    # The vertical pass commutes with padding columns: it runs on the real columns, read
    # in place, and the band's border columns are copied afterwards, so the horizontal
    # pass writes whole, aligned output rows.
    pads_columns = True

    def ieee_non_finite(self) -> bool:
        """Whether no factor has a zero tap: the passes run the factors, whose tiny taps
        the split snaps to 0 (a Gaussian's far tails), not the kernel's own taps."""
        return all(
            bool(column.all() and row.all())
            for per_output in self.problem.rank1 or []
            for column, row in per_output
        )

    def __init__(self, problem: ConvProblem) -> None:
        super().__init__(problem)
        _, _, left, right = problem.pads
        self.left = left
        self.border = border_copies(problem.x.shape[3], left, right, problem.padding_mode)
        self._banded_matrices: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self._ones_by_length: dict[int, np.ndarray] = {}

    def rows_per_band(self) -> int:
        return separable_band_rows(self.problem)

    def scratch(self, rows, in_cols, cols):
        """Separable's buffers (see :meth:`Engine.scratch`).

        Parameters
        ----------
        rows, in_cols, cols : int
            As :meth:`Engine.scratch`.
        """
        p = self.problem
        in_rows = (rows - 1) * p.stride[0] + p.effective_kernel[0]
        return LazyBuffers(
            self.dtype,
            vertical=rows * in_cols,
            vertical_product=rows * in_cols,  # only for the NumPy-pass fallback
            product=rows * cols,
            levels=3 * in_rows * in_cols,  # only for box factors
            # only for banded products: the windows of some rows, copied
            copies=max(
                (cols // BANDED_BLOCK) * banded_window(p.kernel_size[1], p.dilation[1]),
                BANDED_COPY_BYTES // self.dtype.itemsize,
            ),
        )

    def _pass(
        self,
        source: np.ndarray,
        factor: np.ndarray,
        stride: int,
        spacing: int,
        target: np.ndarray,
        product: Callable[[], np.ndarray],
        levels: Callable[[], tuple[np.ndarray, ...]],
        first: bool,
    ) -> bool:
        """One 1-D pass along axis 0 of ``source`` into ``target``; returns ``first``.

        ``product`` and ``levels`` give scratch arrays shaped like ``target`` and
        ``source``, allocated only if this pass needs them.
        """
        rows = target.shape[0]
        if is_window(factor, stride):
            holder = target if first else product()
            window_sum(source, len(factor), spacing, holder, levels())
            if factor[0] != 1:
                np.multiply(holder, factor[0], out=holder)
            if not first:
                np.add(target, holder, out=target)
            return False
        taps = factor_taps(source, factor, stride, spacing, rows)
        needs_scratch = not first or len({float(v) for v in factor if v != 0}) > 1
        return accumulate(target, taps, product() if needs_scratch else target, first)

    def _banded(
        self,
        source: np.ndarray,
        factor: np.ndarray,
        target: np.ndarray,
        first: bool,
        buffers: dict[str, np.ndarray],
    ) -> bool:
        """The horizontal pass as banded products (:func:`banded_product`); returns False.

        Rows of ``source`` holding an infinity or a NaN (their sum is not finite) are
        filtered by NumPy passes instead, so that they spread as in the direct sum and no
        further: which way a row goes depends on its own values only.
        """
        rows, cols = target.shape
        holder = target if first else _flat(buffers["product"], rows, cols)
        with np.errstate(invalid="ignore", over="ignore"):  # a check, not the result
            # A product with ones (BLAS gemv), not source.sum(axis=1): 12 us a band of
            # 120 x 1932 against 42. Any order of the adds keeps an infinity or a NaN
            # non-finite; a finite row that overflows only takes the exact way too.
            odd = np.flatnonzero(~np.isfinite(source @ self._ones(source.shape[1])))
        # 0 x inf in the odd rows' products is no warning of the result: they are redone.
        with np.errstate(invalid="ignore") if odd.size else contextlib.nullcontext():
            banded_product(source, self._matrices(factor), holder, buffers["copies"])
        if odd.size:
            rows_t = source[odd].T  # the passes run along axis 0
            spacing = self.problem.dilation[1]
            taps = factor_taps(rows_t, factor, 1, spacing, cols)
            sums = np.empty((cols, odd.size), self.dtype)
            accumulate(sums, taps, np.empty_like(sums), True)
            holder[odd] = sums.T
        if not first:
            np.add(target, holder, out=target)
        return False

    def _rows_pass(
        self,
        vertical: np.ndarray,
        row: np.ndarray,
        target: np.ndarray,
        buffers: dict[str, np.ndarray],
        first: bool,
    ) -> bool:
        """The horizontal NumPy passes (:meth:`_pass` along axis 0 of transposed views, same
        memory); returns ``first``. Box rows go in chunks of rows whose doubling levels
        hold at most :data:`ROWS_CHUNK_BYTES` each, so that they stay in the cache."""
        rows, cols = target.shape
        in_cols = vertical.shape[1]
        (_, sw), (_, dw) = self.problem.stride, self.problem.dilation
        step = rows
        if is_window(row, sw):
            chunks = -(-rows * in_cols * self.dtype.itemsize // ROWS_CHUNK_BYTES)
            step = -(-rows // chunks)
        done = first
        for start in range(0, rows, step):
            count = min(step, rows - start)
            product = functools.partial(_transposed, buffers["product"], count, cols, 1)
            levels = functools.partial(_transposed, buffers["levels"], count, in_cols, 3)
            done = self._pass(
                vertical[start : start + count].T,
                row,
                sw,
                dw,
                target[start : start + count].T,
                product,
                levels,
                first,
            )
        return done

    def _ones(self, count: int) -> np.ndarray:
        """``count`` ones of the compute dtype, made once per length."""
        ones = self._ones_by_length.get(count)
        if ones is None:
            ones = self._ones_by_length[count] = np.ones(count, self.dtype)
        return ones

    def _matrices(self, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`banded_matrix` for whole blocks and for a row's last outputs, made once
        per factor."""
        key = factor.tobytes()
        known = self._banded_matrices.get(key)
        if known is None:
            p = self.problem
            block = banded_matrix(factor, p.dilation[1], BANDED_BLOCK, self.dtype)
            rest = p.out_size[1] % BANDED_BLOCK
            corner = block[: rest + block.shape[0] - BANDED_BLOCK, :rest].copy()
            known = self._banded_matrices[key] = (block, corner)
        return known

    def _vertical(  # noqa: PLR0913 (a pass's operands, its two scratch makers, its row)
        self,
        source: np.ndarray,
        column: np.ndarray,
        target: np.ndarray,
        product: Callable[[], np.ndarray],
        levels: Callable[[], tuple[np.ndarray, ...]],
        first_row: int,
    ) -> None:
        """The vertical pass: one BLAS product per output row when BLAS can read ``source``.

        ``target[r] = column @ source[r*sh + i*dh for i < kh]``, every row in one stacked
        ``np.matmul`` (NumPy loops over the rows in C): ``kh`` multiply-adds per output in
        BLAS instead of ``kh`` NumPy passes, about 3x faster for 5 taps.

        One product per row, not several rows per product: BLAS rounds an element
        according to the product's shape and the element's place in it (a different
        micro-kernel or FMA use for the last rows, gemv for one row, and so on, varying with
        ``OPENBLAS_CORETYPE``), so a row computed with its band's other rows would round
        differently in a strip of an image than in the whole image (``convcli apply``
        promises strips bit-identical to the whole). Every row's product has the same shape
        and strides, so a row's value depends only on the input rows it reads.

        A tall box column is summed by blocks anchored to the image's rows
        (:func:`block_sums`, ``first_row`` the block's padded row): about four passes
        beat the k multiply-adds per output of a gemv on wide images
        (:data:`BLOCK_COLUMN_BYTES`).
        """
        p = self.problem
        if vertical_by_blocks(column, p.stride[0], source.shape[1] * source.itemsize):
            width = source.shape[1]
            prefixes, suffixes = levels()[:2]
            scratch = (prefixes[:, :width], suffixes[:, :width])
            phase = p.rows_from - p.pads[0] + first_row  # the block's row in the image
            spaced_block_sums(source, len(column), p.dilation[0], phase, target, scratch)
            if column[0] != 1:
                np.multiply(target, column[0], out=target)
            return
        itemsize = source.itemsize
        blas_readable = source.strides[1] == itemsize and source.strides[0] >= (
            source.shape[1] * itemsize
        )
        if not blas_readable:
            self._pass(source, column, p.stride[0], p.dilation[0], target, product, levels, True)
            return
        (sh, _), (dh, _) = self.problem.stride, self.problem.dilation
        row_stride, column_stride = source.strides
        windows = np.lib.stride_tricks.as_strided(  # windows[r] = the kh rows out row r reads
            source,
            (target.shape[0], len(column), source.shape[1]),
            (row_stride * sh, row_stride * dh, column_stride),
            writeable=False,
        )
        np.matmul(column[None], windows, out=target[:, None])

    def run_rows(self, block, group, target, buffers, first_row):
        """Separable's pass over one block that starts at padded row ``first_row``.

        Parameters
        ----------
        block, group, target, buffers, first_row
            As :meth:`Engine.run_rows`.
        """
        self.run(block, group, target, buffers, first_row)

    def run(self, block, group, target, buffers, first_row=0):
        """Separable's pass over one block (see :meth:`Engine.run`).

        Parameters
        ----------
        block, group, target, buffers
            As :meth:`Engine.run`.
        first_row : int
            As :meth:`Engine.run_rows`.
        """
        p = self.problem
        rows, cols = target.shape[1:]
        in_rows, width = block.shape[1:]
        in_cols = width + p.pads[2] + p.pads[3]
        real = slice(self.left, self.left + width)
        vertical = _flat(buffers["vertical"], rows, in_cols)

        def vertical_product() -> np.ndarray:
            return _flat(buffers["vertical_product"], rows, in_cols)[:, real]

        def vertical_levels() -> tuple[np.ndarray, ...]:
            size = in_rows * in_cols
            levels = buffers["levels"]
            return tuple(_flat(levels[i * size :], in_rows, in_cols) for i in range(3))

        table = p.rank1
        assert table is not None
        sw, dw = p.stride[1], p.dilation[1]
        for o in range(self.group_out):
            out_channel = group * self.group_out + o
            first = True
            for c in range(self.group_in):
                column, row = table[out_channel][c]
                if not column.any():
                    continue  # an all-zero kernel adds nothing
                self._vertical(
                    block[c],
                    column,
                    vertical[:, real],
                    vertical_product,
                    vertical_levels,
                    first_row,
                )
                for border, source in self.border:
                    if source is None:
                        vertical[:, border] = 0
                    else:
                        vertical[:, border] = vertical[:, source]
                if horizontal_by_product(row, sw, dw):
                    first = self._banded(vertical, row, target[o], first, buffers)
                else:
                    first = self._rows_pass(vertical, row, target[o], buffers, first)
            if first:
                target[o] = 0


class Gemm(Engine):
    """im2col: copy the taps' views into one matrix, then BLAS multiplies per block.

    One product per output row (stacked in one ``np.matmul``) when the weights are small
    (:data:`GEMM_ROW_WEIGHTS`): BLAS rounds an element according to the product's shape
    and the element's place in it (gemv for one output channel, tail kernels, FMA or not,
    varying with ``OPENBLAS_CORETYPE``), so with one product per band an output row would
    round differently in a strip of an image than in the whole image. Row products all
    have the same shape and strides: a row's value depends only on the rows it reads.
    """

    band_bytes = GEMM_BAND_BYTES
    thread_bands = False  # OpenBLAS already uses every core; two callers oversubscribe

    def ieee_non_finite(self) -> bool:
        return True  # every tap is in the product

    def __init__(self, problem: ConvProblem) -> None:
        super().__init__(problem)
        self.by_rows = gemm_by_rows(problem.weight.shape, problem.groups)

    def rows_per_band(self) -> int:
        p = self.problem
        kh, kw = p.kernel_size
        row_bytes = self.group_in * kh * kw * p.out_size[1] * self.dtype.itemsize
        return max(1, self.band_bytes // max(row_bytes, 1))

    def scratch(self, rows, in_cols, cols):
        """Gemm's buffers (see :meth:`Engine.scratch`).

        Parameters
        ----------
        rows, in_cols, cols : int
            As :meth:`Engine.scratch`.
        """
        kh, kw = self.problem.kernel_size
        return {
            "columns": _scratch.take(self.group_in * kh * kw * rows * cols, self.dtype),
            "product": _scratch.take(self.group_out * rows * cols, self.dtype),
        }

    def run(self, block, group, target, buffers):
        """Gemm's pass over one block (see :meth:`Engine.run`).

        Parameters
        ----------
        block, group, target, buffers
            As :meth:`Engine.run`.
        """
        p = self.problem
        rows, cols = target.shape[1:]
        kh, kw = p.kernel_size
        depth = self.group_in * kh * kw
        weights = p.weight[group * self.group_out : (group + 1) * self.group_out]
        weights = weights.reshape(self.group_out, depth)
        if self.by_rows:  # im2col row by row: (rows, depth, cols), one product per row
            columns = _flat(buffers["columns"], rows, self.group_in, kh, kw, cols)
            for i in range(kh):
                for j in range(kw):
                    view = tap_view(block, i, j, rows, cols, p.stride, p.dilation)
                    columns[:, :, i, j] = view.swapaxes(0, 1)
            product = _flat(buffers["product"], rows, self.group_out, cols)
            np.matmul(weights, columns.reshape(rows, depth, cols), out=product)
            target[...] = product.swapaxes(0, 1)
            return
        columns = _flat(buffers["columns"], self.group_in, kh, kw, rows, cols)
        for i in range(kh):
            for j in range(kw):
                columns[:, i, j] = tap_view(block, i, j, rows, cols, p.stride, p.dilation)
        product = _flat(buffers["product"], self.group_out, rows * cols)
        np.matmul(weights, columns.reshape(depth, rows * cols), out=product)
        target[...] = product.reshape(self.group_out, rows, cols)


COLUMNS_BAND_BYTES = 1 << 21
"""Upper bound on one band's column filters (``rows x group_out*kw x padded width``)."""


class Columns(Engine):
    """Dense kernels on one input channel per group: BLAS makes the kernel's columns.

    Per output row, one product ``(group_out*kw, kh) @ (kh, padded width)`` filters the
    ``kh`` input rows it reads with each kernel column ``w[o, :, j]`` (the rows are read
    in place through a strided view, no im2col); the output row is then the sum of those
    ``kw`` filtered rows, each shifted by ``j*dw`` columns: at stride 1 a second BLAS
    product with a row of ones, reading the filtered rows with a skewed stride that
    shifts them (:meth:`_skewed_sums`), else ``kw - 1`` NumPy adds. That is ``kh*kw``
    multiply-adds in BLAS and ``kw`` passes per output instead of ``kh*kw`` passes for
    ``direct`` (a random 5x5: 3.6 vs 10.3 ns per output on one core; 11x11: 9.9 vs 47.5,
    with the adds). Bands span the whole padded width, so every row's product has the same
    shape and strides, and a row's value depends only on the rows it reads (strips give
    the whole image's bits, as for ``separable``).
    """

    split_columns = False

    def ieee_non_finite(self) -> bool:
        return True  # every tap is in the products

    def __init__(self, problem: ConvProblem) -> None:
        super().__init__(problem)
        kh, kw = problem.kernel_size
        # matrices[g][o*kw + j, i] = weight[g*group_out + o, 0, i, j]
        self.matrices = [
            np.ascontiguousarray(
                problem.weight[g * self.group_out : (g + 1) * self.group_out, 0]
                .transpose(0, 2, 1)
                .reshape(self.group_out * kw, kh)
            )
            for g in range(problem.groups)
        ]

    def rows_per_band(self) -> int:
        p = self.problem
        padded_width = p.x.shape[3] + p.pads[2] + p.pads[3]
        row_bytes = self.group_out * p.kernel_size[1] * padded_width * self.dtype.itemsize
        return max(1, COLUMNS_BAND_BYTES // max(row_bytes, 1))

    def scratch(self, rows, in_cols, cols):
        """Columns's buffers (see :meth:`Engine.scratch`).

        Parameters
        ----------
        rows, in_cols, cols : int
            As :meth:`Engine.scratch`.
        """
        p = self.problem
        in_rows = (rows - 1) * p.stride[0] + p.effective_kernel[0]
        return LazyBuffers(
            self.dtype,
            filtered=rows * self.group_out * p.kernel_size[1] * in_cols,
            copy=in_rows * in_cols,  # only for a block BLAS cannot read in place
        )

    def run(self, block, group, target, buffers):
        """Columns's pass over one block (see :meth:`Engine.run`).

        Parameters
        ----------
        block, group, target, buffers
            As :meth:`Engine.run`.
        """
        p = self.problem
        rows, cols = target.shape[1:]
        (kh, kw), (sh, sw), (dh, dw) = p.kernel_size, p.stride, p.dilation
        source = block[0]
        itemsize = source.itemsize
        if source.strides[1] != itemsize or source.strides[0] < source.shape[1] * itemsize:
            copy = _flat(buffers["copy"], *source.shape)
            np.copyto(copy, source)
            source = copy
        width = source.shape[1]
        row_stride = source.strides[0]
        windows = np.lib.stride_tricks.as_strided(  # windows[r] = the kh rows out row r reads
            source, (rows, kh, width), (row_stride * sh, row_stride * dh, itemsize), writeable=False
        )
        filtered = _flat(buffers["filtered"], rows, self.group_out * kw, width)
        np.matmul(self.matrices[group], windows, out=filtered)
        if sw == 1 and kw > 1:
            self._skewed_sums(filtered, target)
            return
        span = sw * (cols - 1) + 1
        for o in range(self.group_out):
            columns = [filtered[:, o * kw + j, j * dw : j * dw + span : sw] for j in range(kw)]
            if kw == 1:
                np.copyto(target[o], columns[0])
                continue
            np.add(columns[0], columns[1], out=target[o])
            for column in columns[2:]:
                np.add(target[o], column, out=target[o])

    def _skewed_sums(self, filtered: np.ndarray, target: np.ndarray) -> None:
        """``target[o, r, x] = sum_j filtered[r, o*kw + j, x + j*dw]`` as one BLAS product
        per row: read with a row stride of ``width + dw``, the filtered rows are already
        shifted, and a row of ones sums them (1.2 against 2.4 ns per output for the 6
        NumPy adds of a 7x7 kernel at 4K, one thread).
        """
        rows, _, width = filtered.shape
        kw, dw = self.problem.kernel_size[1], self.problem.dilation[1]
        cols, item = target.shape[2], filtered.itemsize
        ones = np.ones((1, kw), self.dtype)
        for o in range(self.group_out):
            shifted = np.lib.stride_tricks.as_strided(
                filtered[:, o * kw :],
                (rows, kw, cols),
                (filtered.strides[0], (width + dw) * item, item),
                writeable=False,
            )
            np.matmul(ones, shifted, out=target[o][:, None, :])


class Fft(Engine):
    """Overlap-save with ``scipy.fft``: a band's valid part is free of wrap-around.

    Bands span the full padded width (one FFT shape for all of them, so each distinct
    kernel is transformed once); their height is picked to minimise the total work,
    since every band recomputes a halo of (kernel height - 1) rows.
    """

    split_columns = False

    def ieee_non_finite(self) -> bool:
        return False  # a transform spreads one NaN over the whole band

    def __init__(self, problem: ConvProblem) -> None:
        super().__init__(problem)
        import scipy.fft  # type: ignore[import-untyped]  # ~0.25 s of start-up: only here

        self.fft = scipy.fft
        self.lock = threading.Lock()
        self.spectra: dict[tuple[int, int], list[list[np.ndarray]]] = {}
        self.shape: tuple[int, int] | None = None

    def rows_per_band(self) -> int:
        p = self.problem
        out_rows = p.out_size[0]
        (eh, _), (sh, _) = p.effective_kernel, p.stride
        width = p.x.shape[3] + p.pads[2] + p.pads[3]
        fast = self.fft.next_fast_len

        def cost(rows: int) -> float:
            length = fast((rows - 1) * sh + eh, real=True)
            bands = -(-out_rows // rows)
            # Past ~4 MB per transform, cache misses make long bands dearer.
            penalty = 1.0 + max(0.0, length * width * 8 / FFT_BAND_BYTES - 1.0) * 0.3
            return bands * length * math.log2(length * width) * penalty

        candidates = {out_rows} | {min(out_rows, 1 << k) for k in range(4, 13)}
        candidates |= {
            min(out_rows, max(1, (fast(n * eh, real=True) - eh) // sh + 1))
            for n in (2, 3, 4, 6, 8, 12, 16)
        }
        return min(sorted(candidates), key=cost)

    def scratch(self, rows, in_cols, cols):
        """Fft's buffers (see :meth:`Engine.scratch`).

        Parameters
        ----------
        rows, in_cols, cols : int
            As :meth:`Engine.scratch`.
        """
        # One transform shape for every band (the last, shorter one is zero-padded).
        p = self.problem
        in_rows = (rows - 1) * p.stride[0] + p.effective_kernel[0]
        fast = self.fft.next_fast_len
        self.shape = (fast(in_rows, real=True), fast(in_cols, real=True))
        return {}

    def _spectra(self, shape: tuple[int, int]) -> list[list[np.ndarray]]:
        """Spectra of the flipped, dilated kernels at ``shape``, one per distinct kernel."""
        with self.lock:
            if shape not in self.spectra:
                p = self.problem
                eh, ew = p.effective_kernel
                dh, dw = p.dilation
                distinct: dict[bytes, np.ndarray] = {}
                table = []
                for per_out in p.weight:
                    row = []
                    for kernel in per_out:
                        key = kernel.tobytes()
                        if key not in distinct:
                            dilated = np.zeros((eh, ew), self.dtype)
                            dilated[::dh, ::dw] = kernel
                            # Correlation = convolution with the kernel flipped both ways.
                            distinct[key] = self.fft.rfft2(dilated[::-1, ::-1], s=shape)
                        row.append(distinct[key])
                    table.append(row)
                self.spectra[shape] = table
            return self.spectra[shape]

    def run(self, block, group, target, buffers):
        """Fft's pass over one block (see :meth:`Engine.run`).

        Parameters
        ----------
        block, group, target, buffers
            As :meth:`Engine.run`.
        """
        p = self.problem
        rows, cols = target.shape[1:]
        eh, ew = p.effective_kernel
        sh, sw = p.stride
        shape = self.shape
        assert shape is not None, "scratch() sets the FFT shape"
        spectra = self._spectra(shape)
        block_spectra = self.fft.rfft2(block, s=shape)  # (C, fh, fw // 2 + 1)
        for o in range(self.group_out):
            kernels = spectra[group * self.group_out + o]
            if self.group_in == 1:
                product = (
                    block_spectra[0] if o == self.group_out - 1 else np.empty_like(block_spectra[0])
                )
                np.multiply(block_spectra[0], kernels[0], out=product)
            else:
                product = block_spectra[0] * kernels[0]
                for c in range(1, self.group_in):
                    product += block_spectra[c] * kernels[c]
            full = self.fft.irfft2(product, s=shape)
            target[o] = full[
                eh - 1 : eh - 1 + sh * (rows - 1) + 1 : sh,
                ew - 1 : ew - 1 + sw * (cols - 1) + 1 : sw,
            ]


ENGINES: dict[str, type[Engine]] = {
    "direct": Direct,
    "separable": Separable,
    "columns": Columns,
    "gemm": Gemm,
    "fft": Fft,
}


def column_pieces(problem: ConvProblem) -> list[tuple[int, int]]:
    """Output column ranges: left edge, interior (reads no padding), right edge."""
    width = problem.x.shape[3]
    left = problem.pads[2]
    stride = problem.stride[1]
    effective = problem.effective_kernel[1]
    out_cols = problem.out_size[1]
    first = min(-(-left // stride), out_cols)
    last = max(min((width + left - effective) // stride + 1, out_cols), first)
    if last - first < MIN_INTERIOR_COLUMNS:
        return [(0, out_cols)]
    return [
        (start, stop)
        for start, stop in ((0, first), (first, last), (last, out_cols))
        if stop > start
    ]


def gemm_by_rows(weight_shape: Sequence[int], groups: int) -> bool:
    """Whether :class:`Gemm` makes one product per output row (:data:`GEMM_ROW_WEIGHTS`)."""
    out_channels, group_in, kh, kw = weight_shape
    return out_channels // groups * group_in * kh * kw <= GEMM_ROW_WEIGHTS


def rows_independent(algorithm: str, weight_shape: Sequence[int], groups: int) -> bool:
    """Whether ``algorithm`` computes each output row the same whatever other rows it
    computes with it, so that a strip of rows (with its halo) gives the whole input's bits.

    ``direct`` and ``separable``'s NumPy passes work element by element, and their BLAS
    products (separable's vertical pass, columns', gemm's by rows) are one per row. Not
    ``fft`` (the transform size depends on the band), nor ``gemm`` with one product per
    band.

    Parameters
    ----------
    algorithm : str
        ``direct``, ``separable``, ``gemm``, ``columns`` or ``fft``.
    weight_shape : (C_out, C_in/groups, kh, kw)
        The kernel's shape.
    groups : int
        Channel groups.
    """
    if algorithm == "gemm":
        return gemm_by_rows(weight_shape, groups)
    return algorithm in ("direct", "separable", "columns")


def is_wide_depthwise(problem: ConvProblem) -> bool:
    """One input channel per group, and enough groups to vectorise across them."""
    return problem.weight.shape[1] == 1 and problem.groups >= MIN_DEPTHWISE_GROUPS


def depthwise_channel_chunk(problem: ConvProblem) -> int:
    """How many output channels :func:`depthwise_direct` sums at once (about a band)."""
    top, bottom, left, right = problem.pads
    height, width = problem.x.shape[2:]
    plane_bytes = (height + top + bottom) * (width + left + right) * problem.x.itemsize
    return max(1, BAND_BYTES // max(plane_bytes, 1))


def depthwise_direct(problem: ConvProblem) -> np.ndarray:
    """Shift-and-add for a depthwise layer, every channel of a chunk in one pass per tap.

    Each tap is one multiply of a (channels, rows, cols) view by a per-channel weight
    vector, so the Python cost is taps x chunks instead of taps x groups x bands: on
    512 channels of 14x14, 1 ms instead of 13 ms through the per-group engines.
    """
    p = problem
    batch, in_channels = p.x.shape[:2]
    out_channels = p.weight.shape[0]
    multiplier = out_channels // in_channels
    (kh, kw), (sh, sw), (dh, dw) = p.kernel_size, p.stride, p.dilation
    rows, cols = p.out_size
    out = np.empty(p.out_shape, p.x.dtype)
    chunk = depthwise_channel_chunk(p)
    product = np.empty((min(chunk, out_channels), rows, cols), p.x.dtype)
    for n in range(batch):
        for first in range(0, out_channels, chunk):
            last = min(first + chunk, out_channels)
            sources: Any = slice(first, last)
            if multiplier > 1:  # output channel o reads input channel o // multiplier
                sources = np.arange(first, last) // multiplier
            block = pad2d(p.x[n, sources], p.pads, p.padding_mode)
            target, scratch = out[n, first:last], product[: last - first]
            for i in range(kh):
                for j in range(kw):
                    view = block[
                        :,
                        i * dh : i * dh + (rows - 1) * sh + 1 : sh,
                        j * dw : j * dw + (cols - 1) * sw + 1 : sw,
                    ]
                    weights = p.weight[first:last, 0, i, j, None, None]
                    if i == 0 and j == 0:
                        np.multiply(view, weights, out=target)
                    else:
                        np.multiply(view, weights, out=scratch)
                        target += scratch
    if p.bias is not None:
        out += p.bias[:, None, None]
    return out


class NonFiniteOutputs:
    """The outputs of a band whose windows read a NaN or an infinity, computed again with
    IEEE arithmetic for an engine that does not give it (see the module docstring).

    Which outputs are redone depends only on the values each one reads (the rest keep the
    engine's bits), so strips of an image still give the whole image's bits.
    """

    def __init__(self, problem: ConvProblem) -> None:
        self.problem = problem
        self.exact = Direct(problem)
        self.exact.keep_zero_taps = True

    @staticmethod
    def bad_rows(block: np.ndarray) -> np.ndarray | None:
        """Which rows of ``block`` (C, rows, cols) hold a value that is not finite, or None
        when none does: one BLAS product with a row of ones (any order of the adds keeps a
        NaN or an infinity; a finite row that overflows is then looked at value by value).
        """
        with np.errstate(invalid="ignore", over="ignore"):
            sums = block @ np.ones(block.shape[-1], block.dtype)
        if np.isfinite(sums).all():
            return None
        bad = ~np.isfinite(block).all(axis=(0, 2))
        return bad if bad.any() else None

    @staticmethod
    def finite(block: np.ndarray) -> np.ndarray:
        """``block`` with its NaN and infinities as 0, for the engine's own pass."""
        return np.where(np.isfinite(block), block, 0)

    def mend(
        self, bad: np.ndarray, rows: PaddedRows, group: int, target: np.ndarray, corner: tuple
    ) -> None:
        """Compute again the outputs of ``target`` whose windows read a value that is not
        finite (rows marked in ``bad``, then the columns in them), tap by tap.

        Parameters
        ----------
        bad : ndarray of bool, shape (rows_in,)
            The band's padded input rows that hold a value that is not finite.
        rows : PaddedRows
            The group's input, to gather the redone rows with their padding.
        group : int
            The group of channels.
        target : ndarray, shape (group_out, rows, cols)
            The band's output piece, mended in place.
        corner : (int, int, int)
            The band's first padded input row, and the piece's padded columns (start, stop).
        """
        p = self.problem
        (kh, kw), (eh, ew) = p.kernel_size, p.effective_kernel
        (sh, sw), (dh, dw) = p.stride, p.dilation
        row_start, col_start, col_stop = corner
        for first, last in _runs_hit(bad, target.shape[1], kh, sh, dh):
            top, bottom = row_start + first * sh, row_start + (last - 1) * sh + eh
            size = self.exact.group_in * (bottom - top) * (col_stop - col_start)
            block = rows.block(top, bottom, col_start, col_stop, np.empty(size, p.x.dtype))
            # Only the columns whose windows read a bad one: a NaN "no data" pixel under a
            # 97x97 kernel is 97 columns of the row, not the image's width.
            bad_columns = ~np.isfinite(block).all(axis=(0, 1))
            for left, right in _runs_hit(bad_columns, target.shape[2], kw, sw, dw):
                piece = block[:, :, left * sw : (right - 1) * sw + ew]
                part = target[:, first:last, left:right]
                kept = part.copy()  # the engine's bits, for the outputs no bad value reaches
                product = {"product": np.empty(part[0].size, p.x.dtype)}
                with np.errstate(invalid="ignore", over="ignore"):  # NaN is the answer here
                    self.exact.run(piece, group, part, product)
                reached = self._reached(~np.isfinite(piece).all(axis=0), part.shape[1:])
                np.copyto(part, kept, where=~reached)

    def _reached(self, bad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Which outputs (``shape``) have a window holding a value marked in ``bad`` (the
        piece's padded rows x columns): the window is rows x columns, so by rows, then
        columns. Only they are redone: the others keep the engine's bits, whatever their
        neighbours hold (strips of an image still give its bits)."""
        p = self.problem
        (kh, kw), (sh, sw), (dh, dw) = p.kernel_size, p.stride, p.dilation
        by_rows = _hits(bad, shape[0], kh, sh, dh)
        return _hits(by_rows.T, shape[1], kw, sw, dw).T


def _hits(bad: np.ndarray, count: int, taps: int, stride: int, spacing: int) -> np.ndarray:
    """Which of ``count`` outputs along axis 0 have a window (``taps`` taps ``spacing``
    apart, windows ``stride`` apart) reading a position marked in ``bad``; other axes kept."""
    hit = np.zeros((count, *bad.shape[1:]), bool)
    for i in range(taps):
        hit |= bad[i * spacing : i * spacing + (count - 1) * stride + 1 : stride]
    return hit


def _runs_hit(
    bad: np.ndarray, count: int, taps: int, stride: int, spacing: int
) -> list[tuple[int, int]]:
    """``(start, stop)`` runs of the outputs :func:`_hits` marks along one axis."""
    hit = _hits(bad, count, taps, stride, spacing)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], hit.view(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def execute(problem: ConvProblem, algorithm: str) -> np.ndarray:
    """Run ``algorithm`` over row bands (on worker threads when large); a 4-D result."""
    if algorithm == "direct" and is_wide_depthwise(problem):
        return depthwise_direct(problem)
    engine = ENGINES[algorithm](problem)
    non_finite = None if engine.ieee_non_finite() else NonFiniteOutputs(problem)
    batch, _, _, width = problem.x.shape
    out = np.empty(problem.out_shape, problem.x.dtype)
    if out.size == 0:
        return out
    bands = band_rows(out.shape[2], engine.rows_per_band())
    pieces = column_pieces(problem) if engine.split_columns else [(0, problem.out_size[1])]
    if engine.pads_columns:
        pieces = [(0, problem.out_size[1])]
    (eh, ew), (sh, sw) = problem.effective_kernel, problem.stride
    group_in, group_out = engine.group_in, engine.group_out
    padded_width = width + problem.pads[2] + problem.pads[3]
    gatherers = [
        [
            PaddedRows(
                problem.x[n, g * group_in : (g + 1) * group_in], problem.pads, problem.padding_mode
            )
            for g in range(problem.groups)
        ]
        for n in range(batch)
    ]
    most_rows = max(stop - start for start, stop in bands)
    most_in_rows = (most_rows - 1) * sh + eh
    # The threads share (band, image x group) pieces, not whole bands: a small image is one
    # band, and its planes are then still computed two at a time (a 512x512 RGB box: one
    # band of three depthwise groups).
    lanes = batch * problem.groups
    units = [(band, lane) for band in range(len(bands)) for lane in range(lanes)]

    def work(share: Iterable[tuple[int, int]]) -> None:
        block_buffer = _scratch.take(group_in * most_in_rows * padded_width, out.dtype)
        buffers = engine.scratch(most_rows, padded_width, out.shape[3])
        try:
            compute(share, block_buffer, buffers)
        finally:  # lent to the next call: not faulted in again
            _scratch.give(block_buffer, *buffers.values())

    def compute(
        share: Iterable[tuple[int, int]], block_buffer: np.ndarray, buffers: dict[str, np.ndarray]
    ) -> None:
        for band, lane in share:
            start, stop = bands[band]
            n, g = divmod(lane, problem.groups)
            row_start, row_stop = start * sh, (stop - 1) * sh + eh
            channels = slice(g * group_out, (g + 1) * group_out)
            for col_first, col_last in pieces:
                padded = col_first * sw, (col_last - 1) * sw + ew
                col_start, col_stop = padded
                if engine.pads_columns:  # the real columns only
                    col_start, col_stop = problem.pads[2], problem.pads[2] + width
                block = gatherers[n][g].block(
                    row_start, row_stop, col_start, col_stop, block_buffer
                )
                target = out[n, channels, start:stop, col_first:col_last]
                if non_finite is not None and (bad := non_finite.bad_rows(block)) is not None:
                    engine.run_rows(non_finite.finite(block), g, target, buffers, row_start)
                    non_finite.mend(bad, gatherers[n][g], g, target, (row_start, *padded))
                else:
                    engine.run_rows(block, g, target, buffers, row_start)
            if problem.bias is not None:
                out[n, channels, start:stop] += problem.bias[channels, None, None]

    run_bands(units, work, parallel=engine.thread_bands and out.size >= MIN_PARALLEL_ELEMENTS)
    return out
