"""Row strips with a halo: bounded extra memory, and both cores busy.

A convolution's output is cut into bands of rows. Each band reads a band of the padded
input (its rows plus the kernel's halo), gathered straight from the unpadded input, so
the whole padded image never exists. Bands run on a small thread pool: NumPy releases
the GIL inside its loops, so two bands really do run at once on two cores.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import wait

import numpy as np

from convcli._threads import blas_threads, cpu_count, helper_threads
from convcli.core.padding import border_sources

MIN_PARALLEL_ELEMENTS = 1 << 18
"""Below this many output elements, threads cost more than they save."""

UFUNC_BUFFER = 512
"""Elements of NumPy's ufunc buffers (:func:`numpy.setbufsize`; NumPy's default is 8192)
while the core's passes run (:func:`run_bands`). NumPy's iterator copies a 2-D pass
whose rows are shorter than its buffer through the buffer, to loop over more elements at
once; for one add or max per element the copies cost more than the pass. Measured on RGB
float32 (NumPy 2.4, A/B, 5 rounds): 1080p, box 31x31 22.1 -> 12.6 ms, 3x3 max filter 5.95
-> 3.49 ms; 512x512, box 31x31 4.2 -> 2.9 ms; 4K (rows of 3,840) and the BLAS-bound
engines unchanged."""


def axis_source(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position of a padded axis, the input index it copies, or -1 for a zero.

    :func:`convcli.core.padding.source_index` as an array: the one border rule
    (:func:`convcli.core.padding.border_index`), shared with
    :func:`convcli.core.padding.pad2d`.

    Parameters
    ----------
    size : int
        Length of the unpadded axis.
    before, after : int
        Pads on each side (already checked against ``mode``).
    mode : str
        One of :data:`convcli.core.padding.PADDING_MODES`.

    Returns
    -------
    ndarray of intp, shape (before + size + after,)
    """
    head, tail = border_sources(size, before, after, mode)
    middle = np.arange(size, dtype=np.intp)
    return np.concatenate([np.asarray(head, np.intp), middle, np.asarray(tail, np.intp)])


def _runs(indices: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Split source indices into runs ``(offset, first, length, step)``, step +1 or -1.

    A run of zeros (index -1) has ``first`` -1. Reflected borders come out as one
    descending run, so a band is gathered with a handful of slice copies.
    """
    runs: list[tuple[int, int, int, int]] = []
    values = indices.tolist()
    count = len(values)
    offset = 0
    while offset < count:
        first = values[offset]
        stop = offset + 1
        step = 1
        if first < 0:
            while stop < count and values[stop] < 0:
                stop += 1
        else:
            if first > 0 and stop < count and values[stop] == first - 1:
                step = -1
            while stop < count and values[stop] == first + step * (stop - offset):
                stop += 1
        runs.append((offset, first, stop - offset, step))
        offset = stop
    return runs


def _padded_runs(
    indices: np.ndarray, start: int, stop: int, before: int, size: int
) -> list[tuple[int, int, int, int]]:
    """:func:`_runs` of ``indices[start:stop]`` for an axis padded by ``before``: the part
    inside the input is one ascending run, known without looking (a 4K band's rows
    would cost ~0.2 ms of Python per block), so only the pads are scanned."""
    inner_start, inner_stop = max(start, before), min(stop, before + size)
    if inner_start >= inner_stop:
        return _runs(indices[start:stop])
    runs = _runs(indices[start:inner_start])
    runs.append((inner_start - start, inner_start - before, inner_stop - inner_start, 1))
    shift = inner_stop - start
    runs += [
        (shift + offset, first, length, step)
        for offset, first, length, step in _runs(indices[inner_stop:stop])
    ]
    return runs


def _source_slice(first: int, length: int, step: int) -> slice:
    if step == 1:
        return slice(first, first + length)
    end = first - length
    return slice(first, end if end >= 0 else None, -1)


def border_copies(
    size: int, before: int, after: int, mode: str
) -> list[tuple[slice, slice | None]]:
    """How to fill the padded borders of an axis from its own (already filled) centre.

    Returns ``(target, source)`` slice pairs in padded coordinates; ``source`` is None
    where the border is zeros. Used to pad a band's columns after a vertical pass,
    which commutes with padding columns.

    Parameters
    ----------
    size, before, after, mode
        As :func:`convcli.core.padding.border_sources`.
    """
    sources = axis_source(size, before, after, mode)
    copies: list[tuple[slice, slice | None]] = []
    for start, stop in ((0, before), (before + size, before + size + after)):
        for offset, first, length, step in _runs(sources[start:stop]):
            target = slice(start + offset, start + offset + length)
            if first < 0:
                copies.append((target, None))
            else:
                copies.append((target, _source_slice(first + before, length, step)))
    return copies


class PaddedRows:
    """Gathers rectangles of a padded image without padding the whole image.

    Parameters
    ----------
    x : ndarray, shape (C, H, W)
        The unpadded input channels that one block needs.
    pads : (top, bottom, left, right)
    mode : str
        Border mode.
    """

    def __init__(self, x: np.ndarray, pads: Sequence[int], mode: str) -> None:
        top, bottom, left, right = pads
        self.x = x
        height, width = x.shape[-2:]
        self.rows = axis_source(height, top, bottom, mode)
        self.columns = axis_source(width, left, right, mode)
        self.top, self.left = top, left
        self.height, self.width = height, width
        self.column_runs: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}

    def interior(self, row_start: int, row_stop: int, col_start: int, col_stop: int) -> bool:
        """Whether padded rows/columns ``start:stop`` all lie inside the unpadded input.

        Parameters
        ----------
        row_start, row_stop : int
            Rows, in padded coordinates.
        col_start, col_stop : int
            Columns, in padded coordinates.
        """
        return (
            row_start >= self.top
            and row_stop <= self.top + self.height
            and col_start >= self.left
            and col_stop <= self.left + self.width
        )

    def block(
        self, row_start: int, row_stop: int, col_start: int, col_stop: int, buffer: np.ndarray
    ) -> np.ndarray:
        """Padded rows and columns ``start:stop`` (padded coordinates), shape (C, rows, cols).

        A view of the input when the rectangle needs no padding (no copy); otherwise
        gathered into the front of ``buffer`` (a flat array, large enough).

        Parameters
        ----------
        row_start, row_stop, col_start, col_stop : int
            As :meth:`interior`.
        buffer : ndarray, shape (n,)
            Flat scratch of the input's dtype, at least ``C * rows * cols`` long.
        """
        if self.interior(row_start, row_stop, col_start, col_stop):
            top, left = self.top, self.left
            return self.x[..., row_start - top : row_stop - top, col_start - left : col_stop - left]
        shape = (self.x.shape[0], row_stop - row_start, col_stop - col_start)
        out = buffer[: math.prod(shape)].reshape(shape)
        key = (col_start, col_stop)
        if key not in self.column_runs:  # the same few column ranges come back every band
            self.column_runs[key] = _padded_runs(
                self.columns, col_start, col_stop, self.left, self.width
            )
        column_runs = self.column_runs[key]
        row_runs = _padded_runs(self.rows, row_start, row_stop, self.top, self.height)
        for row_offset, row_first, row_length, row_step in row_runs:
            target_rows = slice(row_offset, row_offset + row_length)
            if row_first < 0:
                out[:, target_rows] = 0
                continue
            source = self.x[:, _source_slice(row_first, row_length, row_step)]
            for col_offset, col_first, col_length, col_step in column_runs:
                target = out[:, target_rows, col_offset : col_offset + col_length]
                if col_first < 0:
                    target[...] = 0
                else:
                    target[...] = source[..., _source_slice(col_first, col_length, col_step)]
        return out


def band_rows(out_rows: int, rows_per_band: int) -> list[tuple[int, int]]:
    """Cut ``out_rows`` output rows into bands of about ``rows_per_band`` rows."""
    rows_per_band = max(1, rows_per_band)
    return [
        (start, min(start + rows_per_band, out_rows)) for start in range(0, out_rows, rows_per_band)
    ]


def run_bands(
    bands: list[tuple[int, int]],
    work: Callable[[Iterable[tuple[int, int]]], None],
    parallel: bool,
    *,
    numpy_buffer: bool = False,
) -> None:
    """Run ``work`` over the bands, handed out one at a time to this thread and to the
    process's helper threads (:func:`convcli._threads.helper_threads`).

    Each call of ``work`` gets an iterable of bands and allocates its own scratch buffers
    once, so buffers are reused band after band (no page faults per band). Bands are
    handed out dynamically, each to the first thread that is free: on cores shared with
    other processes, a thread that loses its core for a while no longer holds back a
    fixed share of the bands while the other one waits (a static split made the slowest
    thread set the time). A helper the scheduler has not started by the time this thread
    has run out of bands is cancelled, not waited for (small images on a busy machine).
    Which thread computes a band does not change its bits.

    BLAS gets one thread while the bands run on several (the bands already fill the
    cores: nested pools oversubscribe them, see :func:`convcli._threads.blas_threads`),
    and at most :func:`cpu_count` threads otherwise (a batch worker's share; one in the
    threads of :func:`convcli._threads.ordered_map`).

    Parameters
    ----------
    bands : list of (int, int)
        The pieces of work, in order: a band's output rows (pools), (band, image x
        group) pairs (convolutions), indices of tiles (the median network).
    work : callable
        Takes an iterable of bands and computes them all (with buffers of its own).
    parallel : bool
        Whether to share the bands between worker threads (False: this thread only).
    numpy_buffer : bool
        Keep NumPy's ufunc buffer size; by default every thread runs ``work`` with
        :data:`UFUNC_BUFFER`.
    """
    if not numpy_buffer:
        work = _with_ufunc_buffer(work, UFUNC_BUFFER)
    cores = cpu_count()
    workers = min(cores, len(bands)) if parallel else 1
    with blas_threads(1 if workers > 1 else cores):
        if workers <= 1:
            work(bands)
            return
        queue = _BandQueue(bands)
        helpers = [helper_threads().submit(queue.run, work) for _ in range(workers - 1)]
        try:
            queue.run(work)  # this thread takes bands too
        finally:  # a helper that has not started by now finds nothing left: not waited for
            started = [helper for helper in helpers if not helper.cancel()]
            wait(started)
        for helper in started:
            helper.result()  # a helper's failure, raised here


def _with_ufunc_buffer(
    work: Callable[[Iterable[tuple[int, int]]], None], size: int
) -> Callable[[Iterable[tuple[int, int]]], None]:
    """``work`` run with NumPy's ufunc buffer of ``size`` elements, set and restored in
    the thread that runs it (NumPy keeps the setting per thread)."""

    def sized(share: Iterable[tuple[int, int]]) -> None:
        before = np.setbufsize(size)
        try:
            work(share)
        finally:
            np.setbufsize(before)

    return sized


class _BandQueue:
    """Bands handed out one by one to the threads that call :meth:`run`; a failure in one
    thread stops the handing out, so the others finish their current band and return."""

    def __init__(self, bands: list[tuple[int, int]]) -> None:
        self.bands = iter(bands)
        self.lock = threading.Lock()
        self.failed = False

    def take(self) -> Iterator[tuple[int, int]]:
        while True:
            with self.lock:
                band = None if self.failed else next(self.bands, None)
            if band is None:
                return
            yield band

    def run(self, work: Callable[[Iterable[tuple[int, int]]], None]) -> None:
        try:
            work(self.take())
        except BaseException:
            self.failed = True
            raise
