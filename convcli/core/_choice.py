"""Which algorithm ``conv2d(algorithm="auto")`` runs: the cheapest by a cost model.

Each engine's time is estimated from what it really does, counted the way the engines
count it (:func:`convcli.core._engines.accumulate_passes` mirrors ``accumulate``):

- ``direct``: one pass over the band per tap group (multiply, add), per output channel;
- ``separable``: one BLAS product per output row for the vertical 1-D pass (box columns:
  running sums by blocks, about five passes' worth whatever their length), then NumPy
  passes for the horizontal one, per channel pair;
- ``columns`` (one input channel per group): per output row one BLAS product making
  ``kw`` filtered rows (``kh`` multiply-adds per element), then ``kw - 1`` adds;
- ``gemm``: copying ``C_in/g * kh * kw`` views per output pixel, then BLAS multiply-adds
  (memory-bound when there are few output channels);
- ``fft``: two transforms per channel per band, ``O(area * log(area))``, whatever the
  kernel size, plus the spectra products; and SciPy's import the first time.

The constants are one thread's nanoseconds (CPU time), measured on a 2-core machine on 4K
RGB images; only their ratios decide the pick, and a wrong pick costs a constant factor,
never correctness. What ``--explain`` prints is :func:`wall_time` of that work: the
engines share it between the cores, but not its first few milliseconds.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from convcli.core._engines import (
    BAND_BYTES,
    BANDED_COLUMNS_PER_PASS,
    COLUMNS_BAND_BYTES,
    FFT_BAND_BYTES,
    GEMM_BAND_BYTES,
    accumulate_passes,
    banded_window,
    column_pieces,
    depthwise_channel_chunk,
    horizontal_by_product,
    is_wide_depthwise,
    is_window,
    separable_band_rows,
    vertical_by_blocks,
    window_passes,
)

if TYPE_CHECKING:
    from convcli.core.conv import ConvProblem

NS_OUTPUT = 0.6  # read the input, write the output (page faults included), per output
NS_PASS = 0.2  # one in-cache NumPy pass, per element
NS_SEPARABLE = 0.3  # the second stage's buffer traffic, per output
NS_CALL = 3000.0  # one NumPy call from Python, with its share of the band loop
NS_IM2COL = 1.2  # one element copied into the im2col matrix and streamed by BLAS (one thread)
NS_MAC = 0.02  # one BLAS multiply-add
BANDED_CALLS = 4  # separable's banded products: copy, finite check, product, tail product
NS_ROW_PRODUCT = 0.14  # separable's per-row vertical products, per output (+ NS_MAC per tap)
NS_BLOCK_SUMS = 1.0  # separable's box columns by blocks: prefixes, suffixes and their sums
NS_COLUMN = 0.3  # columns: one filtered row element written by BLAS and read back
NS_SMALL_MAC = 0.024  # columns: a multiply-add of its small (group_out*kw, kh) products
NS_SKEWED_SUM = 0.09  # columns: one filtered row summed by the product with ones, per output
NS_FFT = 0.16  # one transform, per element and per log2(size)
NS_SPECTRA_PRODUCT = 1.5  # one channel pair's spectra multiplied and summed, per element
NS_FFT_CALL = 3e4  # one transform's fixed cost
NS_SCIPY_IMPORT = 2.5e8
NS_ONE_THREAD = 3e6
"""About this much of a call's work runs on one thread's time even with several threads:
the helper's start, and the Python calls of small bands taking turns at the GIL. Fitted to
``benchmarks/bench_core.py`` at 0.26, 2 and 8 MP (2 cores): without it, a call's work
halved put the 0.26 MP estimates at 0.22-0.5x of the measured times; left whole, 2 and 8 MP
at 1.5-3.1x."""
# Above this many (out, in) kernels, the per-kernel engines (separable, direct) cannot beat
# one matrix multiply, and estimating them kernel by kernel in Python would cost more than
# the convolution: a 512 -> 512 layer has 262,144 kernels (7 s of SVDs for a 1x1 layer).
MAX_KERNELS_ONE_BY_ONE = 1024


def _smooth_at_least(n: int) -> int:
    """The smallest 2-3-5-smooth number >= n (what scipy.fft.next_fast_len returns)."""
    best = max(n, 1) * 2
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def _kernel_count(problem: ConvProblem) -> int:
    return problem.weight.shape[0] * problem.weight.shape[1]


def _direct(problem: ConvProblem, out_pixels: int, bands: int) -> float:
    if _kernel_count(problem) > MAX_KERNELS_ONE_BY_ONE:
        passes = int(np.count_nonzero(problem.weight))  # about one pass per non-zero tap
    else:
        by_kernel: dict[bytes, int] = {}  # depthwise image filters repeat one kernel
        passes = 0
        for kernels in problem.weight:
            key = kernels.tobytes()
            if key not in by_kernel:
                by_kernel[key] = accumulate_passes(kernels)
            passes += by_kernel[key]
    outputs = out_pixels * problem.weight.shape[0]
    if is_wide_depthwise(problem):  # one call per tap per channel chunk, not per group
        chunks = math.ceil(problem.weight.shape[0] / depthwise_channel_chunk(problem))
        kh, kw = problem.kernel_size
        calls = problem.x.shape[0] * chunks * kh * kw * 2
        return outputs * NS_OUTPUT + out_pixels * passes * NS_PASS + calls * NS_CALL
    return outputs * NS_OUTPUT + out_pixels * passes * NS_PASS + bands * passes * NS_CALL


def _separable(problem: ConvProblem, out_pixels: int, bands: int) -> float | None:
    table = problem.rank1
    if table is None:
        return None
    (sh, sw), out_rows = problem.stride, problem.out_size[0]
    padded_width = problem.x.shape[3] + problem.pads[2] + problem.pads[3]
    batch = problem.x.shape[0]
    vertical_elements = batch * out_rows * padded_width
    cost = 0.0
    calls = 0
    x = problem.x
    # Rows BLAS can read; all-zero strides are choose_algorithm's stand-in for a shape.
    by_blas = (x.strides[3] == x.itemsize and x.strides[2] >= x.shape[3] * x.itemsize) or (
        x.strides[2:] == (0, 0)
    )
    # The box columns' calls are counted by the engine's own bands, each of which runs
    # every kernel once: their number grows with the box's height.
    block_calls = 0
    row_bytes = x.shape[3] * x.itemsize
    for factors in table:
        first = True
        for column, row in factors:
            if not column.any():
                continue
            blocks = vertical_by_blocks(column, sh, row_bytes)
            per_element, vertical_calls = _vertical(
                column, sh, problem.dilation[0], by_blas, blocks
            )
            cost += vertical_elements * per_element
            if blocks:
                block_calls += vertical_calls
            else:
                calls += vertical_calls
            per_output, horizontal_calls = _horizontal(row, sw, problem.dilation[1], first)
            cost += out_pixels * per_output
            calls += horizontal_calls
            first = False
    outputs = out_pixels * problem.weight.shape[0]
    engine_bands = batch * math.ceil(out_rows / separable_band_rows(problem))
    cost += engine_bands * block_calls * NS_CALL
    return cost + outputs * (NS_OUTPUT + NS_SEPARABLE) + bands * calls * NS_CALL


def _vertical(
    column: np.ndarray, stride: int, spacing: int, by_blas: bool, blocks: bool
) -> tuple[float, int]:
    """Separable's vertical pass: its cost per element and its NumPy calls per band."""
    if blocks:  # prefixes and suffixes, one call per row of a block
        scale = float(column[0]) != 1
        return NS_BLOCK_SUMS + scale * NS_PASS, (2 * len(column) + 3) * spacing + scale
    if by_blas:  # a BLAS product per row
        return NS_ROW_PRODUCT + len(column) * NS_MAC, 1
    passes = _one_pass(column, stride, True)
    return passes * NS_PASS, passes


def _horizontal(row: np.ndarray, stride: int, spacing: int, first: bool) -> tuple[float, int]:
    """Separable's horizontal pass: its cost per output and its NumPy calls per band."""
    if horizontal_by_product(row, stride, spacing):
        columns = banded_window(len(row), spacing)
        add = 0 if first else NS_PASS
        return columns * NS_PASS / BANDED_COLUMNS_PER_PASS + add, BANDED_CALLS + (not first)
    passes = _one_pass(row, stride, first)
    return passes * NS_PASS, passes


def _one_pass(factor: np.ndarray, stride: int, first: bool) -> int:
    if is_window(factor, stride):
        return window_passes(len(factor), float(factor[0]), first)
    return accumulate_passes(factor, first)


def _columns(problem: ConvProblem, out_pixels: int) -> float | None:
    out_channels, group_in, kh, kw = problem.weight.shape
    if group_in != 1:
        return None
    batch, out_rows = problem.x.shape[0], problem.out_size[0]
    padded_width = problem.x.shape[3] + problem.pads[2] + problem.pads[3]
    filtered = batch * out_rows * padded_width * out_channels * kw
    bands = (
        batch
        * problem.groups
        * math.ceil(
            out_rows * out_channels // problem.groups * kw * padded_width * 4 / COLUMNS_BAND_BYTES
        )
    )
    if problem.stride[1] == 1 and kw > 1:  # the shifted rows summed by one product
        shifted_sum, calls = kw * NS_SKEWED_SUM, 2
    else:
        shifted_sum, calls = (kw - 1) * NS_PASS, kw + 1
    return (
        filtered * (NS_COLUMN + kh * NS_SMALL_MAC)
        + out_pixels * out_channels * (shifted_sum + NS_OUTPUT)
        + bands * calls * NS_CALL
    )


def _gemm(problem: ConvProblem, out_pixels: int) -> float:
    out_channels, group_in, kh, kw = problem.weight.shape
    depth = group_in * kh * kw
    group_out = out_channels // problem.groups
    # With few output channels the multiply only streams the matrix once: memory-bound.
    per_element = NS_IM2COL + group_out * NS_MAC
    copies = math.ceil(out_pixels * depth * 4 / GEMM_BAND_BYTES) * problem.groups * kh * kw
    return (
        out_pixels * problem.groups * depth * per_element
        + out_pixels * out_channels * NS_OUTPUT
        + copies * NS_CALL
    )


def _fft(problem: ConvProblem) -> float:
    batch, in_channels, height, width = problem.x.shape
    out_channels, group_in = problem.weight.shape[:2]
    eh, sh = problem.effective_kernel[0], problem.stride[0]
    out_rows = problem.out_size[0]
    padded_width = _smooth_at_least(width + problem.pads[2] + problem.pads[3])
    band_rows = max(4 * eh, FFT_BAND_BYTES // (padded_width * 8 * 8))
    band_rows = min(band_rows, out_rows)
    bands = math.ceil(out_rows / band_rows)
    area = _smooth_at_least((band_rows - 1) * sh + eh) * padded_width
    transforms = batch * bands * (in_channels + out_channels)
    cost = transforms * area * math.log2(max(area, 2)) * NS_FFT
    cost += batch * bands * out_channels * group_in * area * NS_SPECTRA_PRODUCT
    cost += transforms * NS_FFT_CALL
    cost += batch * out_channels * problem.out_size[0] * problem.out_size[1] * NS_OUTPUT
    if "scipy.fft" not in sys.modules:
        cost += NS_SCIPY_IMPORT
    return cost


def estimate_costs(problem: ConvProblem) -> dict[str, float]:
    """Estimated work, in nanoseconds of one thread, of every algorithm that applies
    (:func:`wall_time` turns it into the time a call takes)."""
    batch = problem.x.shape[0]
    out_rows, out_cols = problem.out_size
    out_pixels = batch * out_rows * out_cols
    padded_width = problem.x.shape[3] + problem.pads[2] + problem.pads[3]
    row_bytes = problem.weight.shape[1] * padded_width * problem.x.dtype.itemsize
    bands = batch * problem.groups * math.ceil(out_rows / max(1, BAND_BYTES // row_bytes))
    bands *= len(column_pieces(problem))  # each band runs once per column piece
    costs = {
        "direct": _direct(problem, out_pixels, bands),
        "gemm": _gemm(problem, out_pixels),
        "fft": _fft(problem),
    }
    columns = _columns(problem, out_pixels)
    if columns is not None:
        costs["columns"] = columns
    separable = None
    if _kernel_count(problem) <= MAX_KERNELS_ONE_BY_ONE:
        separable = _separable(problem, out_pixels, bands)
    if separable is not None:
        costs["separable"] = separable
    return costs


def estimate_times(problem: ConvProblem) -> dict[str, float]:
    """Estimated wall-clock ns of every algorithm that applies (:func:`wall_times` of
    :func:`estimate_costs`).

    Parameters
    ----------
    problem : ConvProblem
        The prepared convolution.
    """
    # A wide depthwise layer's direct pass is one loop of whole-layer passes: one thread.
    one_thread = frozenset({"direct"}) if is_wide_depthwise(problem) else frozenset()
    return wall_times(estimate_costs(problem), one_thread=one_thread)


def choose(problem: ConvProblem) -> tuple[str, str]:
    """The fastest algorithm and a one-line reason (with the estimates compared)."""
    times = estimate_times(problem)
    best = min(times, key=times.__getitem__)
    out_channels, group_in, kh, kw = problem.weight.shape
    taps = int(np.count_nonzero(problem.weight))
    reasons = {
        "direct": f"{taps} non-zero taps over {group_in} input channel(s) per output: "
        "shift-and-add is cheapest",
        "separable": f"every {kh}x{kw} kernel has rank 1 (SVD): a {kh}-tap vertical and a "
        f"{kw}-tap horizontal pass instead of {kh * kw} taps",
        "columns": f"{kh}x{kw} kernel on one input channel: BLAS filters each row "
        f"with the {kw} kernel columns, then {kw - 1} shifted adds",
        "gemm": f"{group_in * kh * kw} products per output for {out_channels} output "
        "channels: im2col + matrix multiply",
        "fft": f"{kh}x{kw} kernel: the FFT's cost does not grow with the kernel",
    }
    return best, f"{reasons[best]} (estimated: {cost_ranking(times)})"


def wall_time(work: float, threads: int | None = None) -> float:
    """Estimated wall-clock ns of ``work`` ns of one thread's computing on ``threads`` threads.

    Parameters
    ----------
    work : float
        One thread's nanoseconds (what :func:`estimate_costs` returns).
    threads : int, optional
        Threads sharing it (default: the cores this process may use, 1 in a batch worker).

    Notes
    -----
    ``wall = work`` up to :data:`NS_ONE_THREAD` (``t``), then ``t + (work - t) / threads``.
    Monotonic in ``work``, so ranking by it picks what ranking by work picks.

    Examples
    --------
    >>> wall_time(2e6, threads=2), wall_time(43e6, threads=2), wall_time(43e6, threads=1)
    (2000000.0, 23000000.0, 43000000.0)
    """
    if threads is None:
        from convcli._threads import cpu_count

        threads = cpu_count()
    if threads <= 1 or work <= NS_ONE_THREAD:
        return work
    return NS_ONE_THREAD + (work - NS_ONE_THREAD) / threads


def wall_times(
    costs: dict[str, float], threads: int | None = None, one_thread: frozenset[str] = frozenset()
) -> dict[str, float]:
    """Each algorithm's estimated wall-clock ns from its work (:func:`wall_time`).

    Parameters
    ----------
    costs : dict of str to float
        One thread's work per algorithm, in ns (:func:`estimate_costs`).
    threads : int, optional
        Threads sharing the work (default: the cores this process may use).
    one_thread : frozenset of str
        Algorithms that run on one thread whatever the cores: their work is their time.

    Examples
    --------
    >>> wall_times({"network": 9e6, "scipy": 9e6}, threads=2, one_thread=frozenset({"scipy"}))
    {'network': 6000000.0, 'scipy': 9000000.0}
    """
    return {
        name: work if name in one_thread else wall_time(work, threads)
        for name, work in costs.items()
    }


def cost_ranking(times: dict[str, float]) -> str:
    """``"a ~1.2 ms, b ~3.4 ms"``: estimated ns per algorithm, cheapest first (--explain).

    Examples
    --------
    >>> cost_ranking({"fft": 3.4e6, "direct": 1.2e6})
    'direct ~1.2 ms, fft ~3.4 ms'
    """
    return ", ".join(
        f"{name} ~{times[name] / 1e6:.3g} ms" for name in sorted(times, key=times.__getitem__)
    )
