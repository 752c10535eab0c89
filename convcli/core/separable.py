"""Rank-1 (spatially separable) kernels: the rank by SVD, the factors from the kernel.

One function serves both the core's algorithm choice and ``convcli kernels``'s display.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def rank1_factors(
    kernel: ArrayLike, rtol: float = 1e-6, *, singular: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Split a 2-D kernel into a column and a row whose outer product is the kernel.

    Parameters
    ----------
    kernel : array_like, shape (kh, kw)
        The kernel, in any orientation (the factors keep it).
    rtol : float
        Largest second singular value, relative to the first, still treated as zero.
    singular : ndarray, optional
        The kernel's singular values, largest first, when the caller has them already
        (``np.linalg.svd(kernel, compute_uv=False)``): not computed again.

    Returns
    -------
    (column, row) : tuple of ndarray, shapes (kh,) and (kw,), float64, or None
        ``np.outer(column, row)`` equals ``kernel`` to within ``rtol`` of its largest
        singular value; ``None`` when the kernel has rank 2 or more, or is all zeros.

    Notes
    -----
    With ``K = U S V^T``, the kernel is separable when ``s_2 <= rtol * s_1``. The factors
    are then read off the kernel itself, not off ``U`` and ``V``: with ``K[i, j]`` its
    largest-magnitude entry, ``column = K[:, j]`` and ``row = K[i, :] / K[i, j]``, rescaled
    to equal norms, as ``sqrt(s_1) u_1`` and ``sqrt(s_1) v_1`` have. For an exactly rank-1
    kernel their outer product is the kernel to rounding, and their bits depend on the
    kernel alone, not on the LAPACK build (the SVD's vectors differ in their last bits
    from one BLAS and CPU to another, and they would reach every separable filter's output
    and ``convcli kernels``). When a nearly rank-1 kernel leaves more than
    ``rtol * s_1`` between the outer product and the kernel, the SVD's factors are used.
    Signs are chosen so that the row's largest-magnitude entry is positive.

    Examples
    --------
    >>> col, row = rank1_factors([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    >>> np.allclose(np.outer(col, row), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    True
    """
    matrix = np.asarray(kernel, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {matrix.shape}")
    if singular is None:
        singular = np.linalg.svd(matrix, compute_uv=False)
    if singular.size == 0 or singular[0] == 0.0:
        return None
    if singular.size > 1 and singular[1] > rtol * singular[0]:
        return None
    column, row = _pivot_factors(matrix)
    if np.abs(np.outer(column, row) - matrix).max() > rtol * singular[0]:
        left, singular, right_t = np.linalg.svd(matrix)
        scale = np.sqrt(singular[0])
        column, row = left[:, 0] * scale, right_t[0] * scale
    if row[np.argmax(np.abs(row))] < 0:
        column, row = -column, -row
    return column, row


def _pivot_factors(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's column and row through its largest entry, scaled to equal norms.

    Norms by ``math.fsum`` (correctly rounded), not BLAS, so that the bits are the same
    on every machine.
    """
    i, j = np.unravel_index(np.argmax(np.abs(matrix)), matrix.shape)
    column = matrix[:, j].copy()
    row = matrix[i] / matrix[i, j]
    column_norm = math.sqrt(math.fsum(v * v for v in column.tolist()))
    row_norm = math.sqrt(math.fsum(v * v for v in row.tolist()))
    scale = math.sqrt(row_norm / column_norm)
    return column * scale, row / scale
