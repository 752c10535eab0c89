"""Row strips with a halo: bounded extra memory, and both cores busy.

A convolution's output is cut into bands of rows. Each band reads a band of the padded
input (its rows plus the kernel's halo), gathered straight from the unpadded input, so
the whole padded image never exists. Bands run on a small thread pool: NumPy releases
the GIL inside its loops, so two bands really do run at once on two cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_PARALLEL_ELEMENTS = 1 << 18
"""Below this many output elements, threads cost more than they save."""


def worker_count() -> int:
    """Threads to use: the cores this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def axis_source(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position of a padded axis, the input index it copies, or -1 for a zero.

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
    positions = np.arange(-before, size + after)
    inside = (positions >= 0) & (positions < size)
    if mode == "zeros":
        return np.where(inside, positions, -1)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    if mode == "circular":
        return positions % size
    if mode == "reflect":  # edge not repeated
        folded = np.abs(positions)
        return np.where(folded >= size, 2 * (size - 1) - folded, folded)
    # symmetric: edge repeated
    folded = np.where(positions < 0, -positions - 1, positions)
    return np.where(folded >= size, 2 * size - 1 - folded, folded)


def _runs(indices: np.ndarray) -> list[tuple[int, int, int]]:
    """Split indices into runs ``(start_in_indices, first_value, length)`` of +1 steps.

    Runs of -1 (zeros) are reported with ``first_value`` -1.
    """
    runs: list[tuple[int, int, int]] = []
    start = 0
    count = len(indices)
    while start < count:
        first = int(indices[start])
        stop = start + 1
        if first < 0:
            while stop < count and indices[stop] < 0:
                stop += 1
        else:
            while stop < count and indices[stop] == first + (stop - start):
                stop += 1
        runs.append((start, first, stop - start))
        start = stop
    return runs


class PaddedRows:
    """Gathers bands of rows of a padded image without padding the whole image.

    Parameters
    ----------
    x : ndarray, shape (C, H, W)
        The unpadded input channels that one band needs.
    pads : (top, bottom, left, right)
    mode : str
        Border mode.
    """

    def __init__(self, x: np.ndarray, pads: Sequence[int], mode: str) -> None:
        top, bottom, left, right = pads
        self.x = x
        self.mode = mode
        height, width = x.shape[-2:]
        self.rows = axis_source(height, top, bottom, mode)
        columns = axis_source(width, left, right, mode)
        self.left, self.width = left, width
        # Border columns copy from the centre of the band itself (offset by `left`).
        self.left_columns = [(k, int(s)) for k, s in enumerate(columns[:left])]
        self.right_columns = [
            (left + width + k, int(s)) for k, s in enumerate(columns[left + width :])
        ]
        self.padded_width = width + left + right

    def fill(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Write padded rows ``start:stop`` (padded coordinates) into ``out``.

        ``out`` has shape ``(C, stop - start, padded_width)`` and is returned.
        """
        left, width = self.left, self.width
        centre = out[..., left : left + width]
        for offset, first, length in _runs(self.rows[start:stop]):
            if first < 0:
                centre[..., offset : offset + length, :] = 0
            else:
                centre[..., offset : offset + length, :] = self.x[..., first : first + length, :]
        for target, source in (*self.left_columns, *self.right_columns):
            if self.mode == "zeros" or source < 0:
                out[..., target] = 0
            else:
                out[..., target] = centre[..., source]
        return out


def band_rows(out_rows: int, rows_per_band: int) -> list[tuple[int, int]]:
    """Cut ``out_rows`` output rows into bands of about ``rows_per_band`` rows."""
    rows_per_band = max(1, rows_per_band)
    return [
        (start, min(start + rows_per_band, out_rows)) for start in range(0, out_rows, rows_per_band)
    ]


def run_bands(
    bands: list[tuple[int, int]],
    work: Callable[[list[tuple[int, int]]], None],
    parallel: bool,
) -> None:
    """Run ``work`` over the bands, split round-robin between the worker threads.

    Each call of ``work`` gets its own share of bands and allocates its own scratch
    buffers once, so buffers are reused band after band (no page faults per band).
    """
    workers = min(worker_count(), len(bands)) if parallel else 1
    if workers <= 1:
        work(bands)
        return
    shares = [bands[k::workers] for k in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work, share) for share in shares]:
            future.result()
