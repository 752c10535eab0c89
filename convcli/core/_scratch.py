"""Scratch arrays kept between calls of the core, so that they are not faulted in again.

Each call of a convolution engine needs megabytes of scratch (a padded block, a band's
passes). Freshly allocated, every page of it is a page fault on first touch, and glibc
hands large blocks back to the kernel when they are freed: a 512x512 RGB Gaussian then
spends as long in the kernel as in its sums. Buffers given back here are lent to the next
call instead (at most :data:`MAX_KEPT_BYTES` in all). Their contents are garbage, as
``np.empty``'s are: every user overwrites before it reads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

MAX_KEPT_BYTES = 64 << 20
"""Scratch kept between calls, at most (the largest buffers go first beyond it)."""

_kept: list[np.ndarray] = []
_lock = threading.Lock()


def take(size: int, dtype: np.dtype) -> np.ndarray:
    """A flat scratch array of at least ``size`` values of ``dtype`` (its front is used).

    A kept buffer up to twice the size is lent rather than a new one made.

    Parameters
    ----------
    size : int
        Values needed.
    dtype : numpy.dtype
        Their type.
    """
    dtype = np.dtype(dtype)
    with _lock:
        fitting = [
            index
            for index, kept in enumerate(_kept)
            if kept.dtype == dtype and size <= kept.size <= 2 * max(size, 1)
        ]
        if fitting:
            return _kept.pop(min(fitting, key=lambda index: _kept[index].size))
    return np.empty(size, dtype)


def give(*buffers: np.ndarray) -> None:
    """Keep ``buffers`` for the next :func:`take` (the caller must not use them again)."""
    with _lock:
        _kept.extend(buffers)
        _kept.sort(key=lambda kept: kept.nbytes)
        while _kept and sum(kept.nbytes for kept in _kept) > MAX_KEPT_BYTES:
            _kept.pop()


@contextlib.contextmanager
def lent(dtype: np.dtype, *sizes: int) -> Iterator[list[np.ndarray]]:
    """Buffers of at least ``sizes`` values of ``dtype`` (:func:`take`), given back when
    the block ends, however it ends (:func:`give`).

    Parameters
    ----------
    dtype : numpy.dtype
        The buffers' type.
    *sizes : int
        Values each buffer needs, in order.

    Examples
    --------
    >>> with lent(np.float32, 6, 4) as (first, second):
    ...     first[:6].reshape(2, 3).shape, second.size >= 4
    ((2, 3), True)
    """
    buffers = [take(size, dtype) for size in sizes]
    try:
        yield buffers
    finally:
        give(*buffers)
