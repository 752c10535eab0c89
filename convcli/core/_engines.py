"""The four convolution algorithms, and the band loop that runs them.

Every engine computes one rectangle of output (``group_out`` channels x rows x cols)
from one block of padded input (``group_in`` channels, with the kernel's halo). The
driver, :func:`execute`, cuts the output into row bands and each band into a wide
interior piece, read straight from the input as a view, and two narrow edge pieces
that are gathered with their padding; bands are shared between two threads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.core._strips import MIN_PARALLEL_ELEMENTS, PaddedRows, band_rows, run_bands

if TYPE_CHECKING:
    from convcli.core.conv import ConvProblem

BAND_BYTES = 1 << 19
"""Target size of one band of input for the pass-based engines: stays in the L2 cache."""

FFT_BAND_BYTES = 1 << 23
"""FFT bands are taller: each band recomputes a halo of (kernel height - 1) rows."""

GEMM_BAND_BYTES = 1 << 23
"""Upper bound on one band's im2col matrix."""

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
    """The input samples that tap ``(i, j)`` multiplies, for ``rows x cols`` outputs."""
    top, left = i * dilation[0], j * dilation[1]
    return block[
        ...,
        top : top + stride[0] * (rows - 1) + 1 : stride[0],
        left : left + stride[1] * (cols - 1) + 1 : stride[1],
    ]


def accumulate(
    target: np.ndarray, taps: list[tuple[Any, np.ndarray]], scratch: np.ndarray, first: bool
) -> bool:
    """``target (+)= sum(weight * view)`` without temporaries; returns the new ``first``.

    ``first`` means ``target`` holds garbage: the first write overwrites it (no zero
    fill). Taps of 0 are skipped; taps sharing a weight are summed before one multiply
    (a 5-tap Gaussian costs 7 passes, not 9); taps of +-1 need no multiply at all
    (Sobel's ``[-1, 0, 1]`` is one subtraction). Each pass reads and writes arrays of
    the band's size, which stay in cache.
    """
    groups: dict[float, list[np.ndarray]] = {}
    for weight, view in taps:
        if weight != 0:
            groups.setdefault(float(weight), []).append(view)
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
        np.negative(minus[0], out=target)
        minus = minus[1:]
        first = False
    for view in plus:
        np.add(target, view, out=target)
    for view in minus:
        np.subtract(target, view, out=target)
    return first


def _flat(buffer: np.ndarray, *shape: int) -> np.ndarray:
    """The front of a flat scratch buffer as a contiguous array of ``shape``."""
    return buffer[: math.prod(shape)].reshape(shape)


class Engine:
    """One algorithm, run on one block of one image and one group at a time."""

    band_bytes = BAND_BYTES

    def __init__(self, problem: ConvProblem) -> None:
        self.problem = problem
        self.group_in = problem.weight.shape[1]
        self.group_out = problem.weight.shape[0] // problem.groups
        self.dtype = problem.x.dtype

    def rows_per_band(self) -> int:
        p = self.problem
        padded_width = p.x.shape[3] + p.pads[2] + p.pads[3]
        row_bytes = self.group_in * padded_width * self.dtype.itemsize * p.stride[0]
        return max(1, self.band_bytes // max(row_bytes, 1))

    def scratch(self, rows: int, in_cols: int, cols: int) -> dict[str, np.ndarray]:
        """Buffers one thread reuses for every block of at most these sizes."""
        return {}

    def run(
        self, block: np.ndarray, group: int, target: np.ndarray, buffers: dict[str, np.ndarray]
    ) -> None:
        """Write ``target`` (shape (group_out, rows, cols)) from a padded ``block``."""
        raise NotImplementedError


class Direct(Engine):
    """Shift-and-add: every non-zero tap of every channel pair is one scaled view."""

    def scratch(self, rows, in_cols, cols):
        return {"product": np.empty(rows * cols, self.dtype)}

    def run(self, block, group, target, buffers):
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
            if accumulate(target[o], taps, product, first=True):
                target[o] = 0


class Separable(Engine):
    """Rank-1 kernels: a vertical pass with the column factor, then a horizontal one."""

    def scratch(self, rows, in_cols, cols):
        return {
            "vertical": np.empty(rows * in_cols, self.dtype),
            "vertical_product": np.empty(rows * in_cols, self.dtype),
            "product": np.empty(rows * cols, self.dtype),
        }

    def run(self, block, group, target, buffers):
        p = self.problem
        rows, cols = target.shape[1:]
        in_cols = block.shape[-1]
        vertical = _flat(buffers["vertical"], rows, in_cols)
        vertical_product = _flat(buffers["vertical_product"], rows, in_cols)
        product = _flat(buffers["product"], rows, cols)
        table = p.rank1
        assert table is not None
        (sh, sw), (dh, dw) = p.stride, p.dilation
        for o in range(self.group_out):
            out_channel = group * self.group_out + o
            first = True
            for c in range(self.group_in):
                column, row = table[out_channel][c]
                vertical_taps = [
                    (column[i], tap_view(block[c], i, 0, rows, in_cols, (sh, 1), (dh, 1)))
                    for i in range(len(column))
                ]
                if accumulate(vertical, vertical_taps, vertical_product, first=True):
                    continue  # an all-zero kernel adds nothing
                horizontal_taps = [
                    (row[j], tap_view(vertical, 0, j, rows, cols, (1, sw), (1, dw)))
                    for j in range(len(row))
                ]
                first = accumulate(target[o], horizontal_taps, product, first)
            if first:
                target[o] = 0


class Gemm(Engine):
    """im2col: copy the taps' views into one matrix, then one BLAS multiply per block."""

    band_bytes = GEMM_BAND_BYTES

    def rows_per_band(self) -> int:
        p = self.problem
        kh, kw = p.kernel_size
        row_bytes = self.group_in * kh * kw * p.out_size[1] * self.dtype.itemsize
        return max(1, self.band_bytes // max(row_bytes, 1))

    def scratch(self, rows, in_cols, cols):
        kh, kw = self.problem.kernel_size
        return {
            "columns": np.empty(self.group_in * kh * kw * rows * cols, self.dtype),
            "product": np.empty(self.group_out * rows * cols, self.dtype),
        }

    def run(self, block, group, target, buffers):
        p = self.problem
        rows, cols = target.shape[1:]
        kh, kw = p.kernel_size
        columns = _flat(buffers["columns"], self.group_in, kh, kw, rows, cols)
        for i in range(kh):
            for j in range(kw):
                columns[:, i, j] = tap_view(block, i, j, rows, cols, p.stride, p.dilation)
        depth = self.group_in * kh * kw
        weights = p.weight[group * self.group_out : (group + 1) * self.group_out]
        product = _flat(buffers["product"], self.group_out, rows * cols)
        np.matmul(
            weights.reshape(self.group_out, depth),
            columns.reshape(depth, rows * cols),
            out=product,
        )
        target[...] = product.reshape(self.group_out, rows, cols)


class Fft(Engine):
    """Overlap-save with ``scipy.fft``: a band's valid part is free of wrap-around."""

    band_bytes = FFT_BAND_BYTES

    def __init__(self, problem: ConvProblem) -> None:
        super().__init__(problem)
        import scipy.fft  # ~0.25 s of start-up: only on this path

        self.fft = scipy.fft
        self.spectra: dict[tuple[int, int], np.ndarray] = {}

    def rows_per_band(self) -> int:
        return max(super().rows_per_band(), 4 * self.problem.effective_kernel[0])

    def _spectrum(self, shape: tuple[int, int]) -> np.ndarray:
        """Spectra of the flipped, dilated kernels at this FFT size (cached per size)."""
        if shape not in self.spectra:
            p = self.problem
            eh, ew = p.effective_kernel
            dh, dw = p.dilation
            dilated = np.zeros(p.weight.shape[:2] + (eh, ew), self.dtype)
            dilated[..., ::dh, ::dw] = p.weight
            # Correlation = convolution with the kernel flipped on both axes.
            self.spectra[shape] = self.fft.rfft2(dilated[..., ::-1, ::-1], s=shape)
        return self.spectra[shape]

    def run(self, block, group, target, buffers):
        p = self.problem
        rows, cols = target.shape[1:]
        eh, ew = p.effective_kernel
        sh, sw = p.stride
        in_rows, in_cols = block.shape[-2:]
        shape = (
            self.fft.next_fast_len(in_rows, real=True),
            self.fft.next_fast_len(in_cols, real=True),
        )
        spectrum = self._spectrum(shape)[group * self.group_out : (group + 1) * self.group_out]
        block_spectrum = self.fft.rfft2(block, s=shape)
        # Sum over the group's input channels: (O, C, f) x (C, f) -> (O, f).
        product = np.einsum("ocij,cij->oij", spectrum, block_spectrum)
        full = self.fft.irfft2(product, s=shape)
        target[...] = full[
            :,
            eh - 1 : eh - 1 + sh * (rows - 1) + 1 : sh,
            ew - 1 : ew - 1 + sw * (cols - 1) + 1 : sw,
        ]


ENGINES: dict[str, type[Engine]] = {
    "direct": Direct,
    "separable": Separable,
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


def execute(problem: ConvProblem, algorithm: str) -> np.ndarray:
    """Run ``algorithm`` over row bands (on worker threads when large); a 4-D result."""
    engine = ENGINES[algorithm](problem)
    batch, _, _, width = problem.x.shape
    out = np.empty(problem.out_shape, problem.x.dtype)
    if out.size == 0:
        return out
    bands = band_rows(out.shape[2], engine.rows_per_band())
    pieces = column_pieces(problem)
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

    def work(share: list[tuple[int, int]]) -> None:
        block_buffer = np.empty(group_in * most_in_rows * padded_width, out.dtype)
        buffers = engine.scratch(most_rows, padded_width, out.shape[3])
        for start, stop in share:
            row_start, row_stop = start * sh, (stop - 1) * sh + eh
            for n in range(batch):
                for g in range(problem.groups):
                    channels = slice(g * group_out, (g + 1) * group_out)
                    for col_first, col_last in pieces:
                        col_start, col_stop = col_first * sw, (col_last - 1) * sw + ew
                        block = gatherers[n][g].block(
                            row_start, row_stop, col_start, col_stop, block_buffer
                        )
                        target = out[n, channels, start:stop, col_first:col_last]
                        engine.run(block, g, target, buffers)
                    if problem.bias is not None:
                        out[n, channels, start:stop] += problem.bias[channels, None, None]

    run_bands(bands, work, parallel=out.size >= MIN_PARALLEL_ELEMENTS)
    return out
