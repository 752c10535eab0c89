"""Benchmark the NumPy core on a 4K photograph: convolution and pooling vs their peers.

One run times, on a 3840x2160 RGB float32 image made from a sample photograph (resized
up), per channel, same-size output unless pooling: Sobel-x 3x3, ``[1, -1]``, Gaussian
5x5 (sigma 1), a dense random 31x31 kernel and a 15x15 box with :func:`convcli.conv2d`,
and the pooling cases of ``benchmarks/pool_cases.py`` (max-pool 2x2/2, avg-pool 2x2/2,
3x3 max filter, ...), against OpenCV, ``scipy.ndimage`` and, where installed, torch.
Every peer's values are checked against ours before it is timed (borders are compared
too where the peer has our border rule). Prints medians, ratios and the issue's goals::

    .venv/bin/python benchmarks/bench_core.py [--repeat 7] [--image PATH] [--quick]

``--quick`` skips the peers that take seconds per call (``ndimage.correlate`` with the
large kernels). Run it on a quiet machine: the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pool_cases.py sits next to us

from convcli.core import choose_algorithm, conv2d  # noqa: E402

try:  # the pooling helper's cases; the table runs without them if the file is missing
    from pool_cases import BenchCase, pool_cases  # noqa: E402
except ImportError:  # pragma: no cover - only when benchmarks/pool_cases.py is absent
    from dataclasses import dataclass, field

    pool_cases = None

    @dataclass(frozen=True)
    class BenchCase:  # type: ignore[no-redef]
        name: str
        ours: Callable[[], np.ndarray]
        peers: dict[str, Callable[[], np.ndarray]] = field(default_factory=dict)
        compare: Callable[[np.ndarray], np.ndarray] = lambda array: array
        repeat: int | None = None


SAMPLES = Path("/work/shared/samples")
SLOW_SECONDS = 2.0  # a peer slower than this is timed once

# name -> (peer family, most allowed time as a multiple of that peer's)
GOALS: dict[str, tuple[str, float]] = {
    "Sobel-x 3x3": ("OpenCV", 2.0),
    "[1,-1]": ("OpenCV", 2.0),
    "Gaussian 5x5 s=1": ("OpenCV", 3.0),
    "dense 31x31": ("OpenCV", 1.2),
}
SCIPY_SPEEDUP = 3.0  # every operation: at least this much faster than scipy.ndimage


def load_photo(path: Path | None, width: int, height: int) -> np.ndarray:
    """A sample photograph, resized up to width x height, as float32 (3, H, W) in [0, 1]."""
    from PIL import Image

    if path is None:
        path = sorted(SAMPLES.glob("*.png"))[0]
    with Image.open(path) as photo:
        rgb = photo.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255)


def gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    return np.outer(taps, taps).astype(np.float32)


def conv_cases(image: np.ndarray, quick: bool) -> list[BenchCase]:
    """The convolution cases: ours is a depthwise conv2d, as ``convcli apply`` runs it."""
    import cv2
    import scipy.fft
    import scipy.signal
    from scipy import ndimage

    channels = image.shape[0]
    interleaved = np.ascontiguousarray(image.transpose(1, 2, 0))  # OpenCV's layout, H x W x C
    reflect101 = cv2.BORDER_REFLECT_101

    def ours(kernel: np.ndarray) -> Callable[[], np.ndarray]:
        weight = np.broadcast_to(kernel, (channels, 1, *kernel.shape))
        return lambda: conv2d(
            image, weight, padding="same", groups=channels, padding_mode="reflect"
        )

    def planes(function: Callable[[np.ndarray], np.ndarray]) -> Callable[[], np.ndarray]:
        return lambda: np.stack([function(plane) for plane in image])

    def opencv(function: Callable[[np.ndarray], np.ndarray]) -> Callable[[], np.ndarray]:
        return lambda: function(interleaved).transpose(2, 0, 1)

    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    diff = np.array([[1, -1]], np.float32)
    gauss = gaussian_kernel(1.0, 2)
    dense = np.random.default_rng(31).standard_normal((31, 31)).astype(np.float32)
    box = np.full((15, 15), 1 / 225, np.float32)

    def fftconvolve(plane: np.ndarray) -> np.ndarray:
        with scipy.fft.set_workers(os.cpu_count() or 1):  # zero borders: interior compared
            return scipy.signal.fftconvolve(plane, dense[::-1, ::-1], mode="same")

    cases = [
        BenchCase(
            "Sobel-x 3x3",
            ours(sobel),
            {
                "OpenCV": opencv(lambda a: cv2.Sobel(a, cv2.CV_32F, 1, 0, borderType=reflect101)),
                "OpenCV filter2D": opencv(
                    lambda a: cv2.filter2D(a, -1, sobel, borderType=reflect101)
                ),
                "scipy.ndimage": planes(lambda p: ndimage.sobel(p, axis=1, mode="mirror")),
                "scipy.ndimage.correlate": planes(
                    lambda p: ndimage.correlate(p, sobel, mode="mirror")
                ),
            },
        ),
        BenchCase(
            "[1,-1]",
            ours(diff),
            {
                # anchor (0, 0) and origin -1: out[x] = in[x] - in[x+1], PyTorch's 'same'
                "OpenCV": opencv(
                    lambda a: cv2.filter2D(a, -1, diff, anchor=(0, 0), borderType=reflect101)
                ),
                "scipy.ndimage": planes(
                    lambda p: ndimage.correlate1d(p, diff[0], axis=1, mode="mirror", origin=-1)
                ),
                "scipy.ndimage.correlate": planes(
                    lambda p: ndimage.correlate(p, diff, mode="mirror", origin=(0, -1))
                ),
            },
        ),
        BenchCase(
            "Gaussian 5x5 s=1",
            ours(gauss),
            {
                "OpenCV": opencv(lambda a: cv2.GaussianBlur(a, (5, 5), 1.0, borderType=reflect101)),
                "OpenCV filter2D": opencv(
                    lambda a: cv2.filter2D(a, -1, gauss, borderType=reflect101)
                ),
                "scipy.ndimage": planes(
                    lambda p: ndimage.gaussian_filter(p, 1.0, truncate=2.0, mode="mirror")
                ),
                "scipy.ndimage.correlate": planes(
                    lambda p: ndimage.correlate(p, gauss, mode="mirror")
                ),
            },
        ),
        BenchCase(
            "dense 31x31",
            ours(dense),
            {
                "OpenCV": opencv(lambda a: cv2.filter2D(a, -1, dense, borderType=reflect101)),
                "scipy.signal.fftconvolve": planes(fftconvolve),
                **(
                    {}
                    if quick
                    else {
                        "scipy.ndimage.correlate": planes(
                            lambda p: ndimage.correlate(p, dense, mode="mirror")
                        )
                    }
                ),
            },
            compare=lambda array: array[:, 15:-15, 15:-15],
            repeat=3,
        ),
        BenchCase(
            "box 15x15",
            ours(box),
            {
                "OpenCV": opencv(lambda a: cv2.blur(a, (15, 15), borderType=reflect101)),
                "OpenCV filter2D": opencv(
                    lambda a: cv2.filter2D(a, -1, box, borderType=reflect101)
                ),
                "scipy.ndimage": planes(lambda p: ndimage.uniform_filter(p, 15, mode="mirror")),
                **(
                    {}
                    if quick
                    else {
                        "scipy.ndimage.correlate": planes(
                            lambda p: ndimage.correlate(p, box, mode="mirror")
                        )
                    }
                ),
            },
            repeat=5,
        ),
    ]
    return cases


def timed(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median wall time of up to ``repeat`` calls (one call if it is slow), and a result."""
    start = time.perf_counter()
    result = function()
    first = time.perf_counter() - start
    if first > SLOW_SECONDS:
        return first, result
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def agrees(got: np.ndarray, expected: np.ndarray) -> bool:
    """Same values to float32 rounding, relative to the output's magnitude."""
    if got.shape != expected.shape:
        return False
    scale = max(1.0, float(np.abs(expected).max()))
    return bool(np.abs(got.astype(np.float64) - expected).max() <= 2e-5 * scale)


def peak_extra_memory(function: Callable[[], object]) -> int:
    """Peak bytes NumPy allocated during one call (the result included)."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per operation")
    parser.add_argument("--image", type=Path, help="photograph to resize (default: a sample)")
    parser.add_argument("--size", default="3840x2160", help="WIDTHxHEIGHT")
    parser.add_argument("--quick", action="store_true", help="skip the peers taking seconds")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    image = load_photo(args.image, width, height)

    cases = conv_cases(image, args.quick)
    if pool_cases is not None:
        cases += pool_cases(image)
    else:
        print("benchmarks/pool_cases.py not found: pooling cases left out")

    load = os.getloadavg()
    print(
        f"RGB float32 {width}x{height} from {args.image or 'a sample photo'}; "
        f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print("ratio = our time / peer time (< 1: we are faster); median of "
          f"{args.repeat} calls (1 when a call takes > {SLOW_SECONDS:.0f} s)")  # fmt: skip
    header = f"{'operation':<22}{'implementation':<26}{'median ms':>10}{'ours/peer':>10}  values"
    print(header)
    print("-" * len(header))
    verdicts = []
    for case in cases:
        repeat = min(args.repeat, case.repeat or args.repeat)
        ours_seconds, ours_result = timed(case.ours, repeat)
        expected = case.compare(np.asarray(ours_result))
        print(f"{case.name:<22}{'convcli':<26}{ours_seconds * 1e3:>10.1f}{'':>10}")
        best: dict[str, float] = {}
        for name, peer in case.peers.items():
            seconds, result = timed(peer, repeat)
            same = agrees(case.compare(np.asarray(result)), expected)
            # Goals compare with the fastest OpenCV and the fastest scipy.ndimage function
            # that give our values (scipy.signal and NumPy are shown, not judged).
            family = "scipy" if name.startswith("scipy.ndimage") else name.split(" ")[0]
            if same:
                best[family] = min(best.get(family, np.inf), seconds)
            verdict = "same" if same else "DIFFERENT (not used for goals)"
            print(f"{'':<22}{name:<26}{seconds * 1e3:>10.1f}{ours_seconds / seconds:>10.2f}  "
                  f"{verdict}")  # fmt: skip
        if case.name in GOALS and "OpenCV" in best:
            _, factor = GOALS[case.name]
            ratio = ours_seconds / best["OpenCV"]
            verdicts.append((case.name, f"<= {factor}x OpenCV", f"{ratio:.2f}x", ratio <= factor))
        if "scipy" in best:
            speedup = best["scipy"] / ours_seconds
            goal = f">= {SCIPY_SPEEDUP:.0f}x faster than scipy.ndimage"
            verdicts.append((case.name, goal, f"{speedup:.1f}x", speedup >= SCIPY_SPEEDUP))

    sobel = np.broadcast_to(
        np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32), (3, 1, 3, 3)
    )

    def sobel_call() -> np.ndarray:
        return conv2d(image, sobel, padding="same", groups=3, padding_mode="reflect")

    peak = peak_extra_memory(sobel_call)
    ratio = peak / image.nbytes
    verdicts.append(("Sobel-x 3x3", "peak extra memory <= 2x input", f"{ratio:.2f}x", ratio <= 2))

    print()
    print("algorithm chosen by auto (choose_algorithm):")
    for name, kernel in (
        ("Sobel-x 3x3", sobel[0, 0]),
        ("[1,-1]", np.array([[1, -1]], np.float32)),
        ("Gaussian 5x5 s=1", gaussian_kernel(1.0, 2)),
        ("dense 31x31", np.random.default_rng(31).standard_normal((31, 31)).astype(np.float32)),
        ("box 15x15", np.full((15, 15), 1 / 225, np.float32)),
    ):
        weight = np.broadcast_to(kernel, (3, 1, *kernel.shape))
        algorithm, reason = choose_algorithm(
            image.shape, weight, padding="same", groups=3, padding_mode="reflect"
        )
        print(f"  {name:<18} {algorithm:<10} {reason}")
    print()
    print("goals:")
    for name, goal, measured, met in verdicts:
        print(f"  {'met    ' if met else 'NOT MET'}  {name:<22} {goal:<38} measured {measured}")


if __name__ == "__main__":
    main()
