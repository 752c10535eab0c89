"""Kernel recovery by least squares: convcli.learn.fit_kernel against direct solvers.

    .venv/bin/python benchmarks/learn_lstsq.py [--repeat 5] [--image samples/chelsea.png]

The target is the input (a real RGB photograph, float64 in 0..255) correlated with a known
kernel, 'same' size, reflect border; every solver gets the same equations (one row per
output pixel and channel, one column per kernel tap) and must recover the kernel:

- ``convcli``: :func:`convcli.learn.fit_kernel`: ``A^T A`` and ``A^T b`` summed over
  chunks of rows, unit-norm columns, ``np.linalg.lstsq`` on the small normal matrix; it
  also measures the residual, the condition number and the standard errors;
- ``numpy lstsq``: ``np.linalg.lstsq`` (LAPACK gelsd, SVD) on the whole design matrix
  built with ``sliding_window_view`` (the textbook way);
- ``scipy gelsy``: ``scipy.linalg.lstsq(..., lapack_driver="gelsy")`` (QR with pivoting);
- ``opencv QR``: ``cv2.solve(A, b, flags=cv2.DECOMP_QR)``, if OpenCV is installed.

The direct solvers' times include building the design matrix (they need it whole); the
kernel error is ``max |k - k_true|``. Medians of ``--repeat`` runs, ratios to convcli.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from convcli.core import conv2d
from convcli.core.padding import pad2d, resolve_padding
from convcli.kernels import parse_step
from convcli.learn import fit_kernel

ROOT = Path(__file__).resolve().parent.parent


def design(x: np.ndarray, y: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The whole design matrix ``A`` (pixels x taps) and ``b`` for a 'same' reflect fit."""
    pads = resolve_padding("same", x.shape[-2:], size)
    windows = sliding_window_view(pad2d(x, pads, "reflect"), size, axis=(-2, -1))
    return windows.reshape(-1, size[0] * size[1]), y.reshape(-1)


def solvers() -> dict[str, Callable[[np.ndarray, np.ndarray, tuple[int, int]], np.ndarray]]:
    def ours(x, y, size):
        return fit_kernel(x, y, size, border="reflect").kernel

    def numpy_lstsq(x, y, size):
        matrix, values = design(x, y, size)
        return np.linalg.lstsq(matrix, values, rcond=None)[0].reshape(size)

    def scipy_gelsy(x, y, size):
        import scipy.linalg

        matrix, values = design(x, y, size)
        return scipy.linalg.lstsq(matrix, values, lapack_driver="gelsy")[0].reshape(size)

    found = {"convcli": ours, "numpy lstsq": numpy_lstsq, "scipy gelsy": scipy_gelsy}
    try:
        import cv2

        def opencv_qr(x, y, size):
            matrix, values = design(x, y, size)
            ok, solution = cv2.solve(matrix, values[:, None], flags=cv2.DECOMP_QR)
            return solution.reshape(size)

        found["opencv QR"] = opencv_qr
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--image", type=Path, default=ROOT / "samples" / "chelsea.png")
    arguments = parser.parse_args()
    with Image.open(arguments.image) as image:
        x = np.asarray(image.convert("RGB"), dtype=np.float64).transpose(2, 0, 1).copy()
    print(
        f"input {arguments.image.name}: {x.shape[1]}x{x.shape[2]} RGB, medians of "
        f"{arguments.repeat} runs"
    )
    for step in ("sobel-x", "gaussian:1"):
        truth = parse_step(step).weight
        size = truth.shape
        y = np.stack(
            [conv2d(channel, truth, padding="same", padding_mode="reflect") for channel in x]
        )
        print(f"\n{step} ({size[0]}x{size[1]}, {y.size:,} equations)")
        baseline = None
        for name, solve in solvers().items():
            times, kernel = [], None
            for _ in range(arguments.repeat):
                started = time.perf_counter()
                kernel = solve(x, y, size)
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            baseline = baseline or median
            error = float(np.max(np.abs(kernel - truth)))
            print(
                f"  {name:<12} {median * 1e3:8.1f} ms  x{median / baseline:5.2f}  "
                f"max |k - k_true| {error:.1e}"
            )


if __name__ == "__main__":
    main()
