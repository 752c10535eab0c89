"""Rank-1 (spatially separable) kernels, found by SVD.

One function serves both the core's algorithm choice and ``convcli kernels``'s display.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def rank1_factors(kernel: ArrayLike, rtol: float = 1e-6) -> tuple[np.ndarray, np.ndarray] | None:
    """Split a 2-D kernel into a column and a row whose outer product is the kernel.

    Parameters
    ----------
    kernel : array_like, shape (kh, kw)
        The kernel, in any orientation (the factors keep it).
    rtol : float
        Largest second singular value, relative to the first, still treated as zero.

    Returns
    -------
    (column, row) : tuple of ndarray, shapes (kh,) and (kw,), float64, or None
        ``np.outer(column, row)`` equals ``kernel`` to within ``rtol`` of its largest
        singular value; ``None`` when the kernel has rank 2 or more, or is all zeros.

    Notes
    -----
    With ``K = U S V^T``, the kernel is separable when ``s_2 <= rtol * s_1``; then
    ``K ~= (sqrt(s_1) u_1) (sqrt(s_1) v_1)^T``. Signs are chosen so that the row's
    largest-magnitude entry is positive, which makes the split deterministic.

    Examples
    --------
    >>> col, row = rank1_factors([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    >>> np.allclose(np.outer(col, row), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    True
    """
    matrix = np.asarray(kernel, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {matrix.shape}")
    left, singular, right_t = np.linalg.svd(matrix)
    if singular.size == 0 or singular[0] == 0.0:
        return None
    if singular.size > 1 and singular[1] > rtol * singular[0]:
        return None
    scale = np.sqrt(singular[0])
    column = left[:, 0] * scale
    row = right_t[0] * scale
    if row[np.argmax(np.abs(row))] < 0:
        column, row = -column, -row
    return column, row
