"""Benchmark the NumPy core on a 4K photograph: convolution and pooling vs their peers.

One run times, on a 3840x2160 RGB float32 image made from a sample photograph (resized
up), per channel, same-size output unless pooling: Sobel-x 3x3, ``[1, -1]``, Gaussian
5x5 (sigma 1), a dense random 31x31 kernel and a 15x15 box with :func:`convcli.conv2d`,
and the pooling cases of ``benchmarks/pool_cases.py`` (max-pool 2x2/2, avg-pool 2x2/2,
3x3 max filter, ...), against OpenCV, ``scipy.ndimage`` and, where installed, torch.
Then issue 14's cases (``--only`` picks them by name): box filters 3..63 (nine sizes) against
``cv2.blur``, dense random kernels 3x3..11x11 against ``cv2.filter2D``, Gaussians of
sigma 2 and 4 against ``cv2.GaussianBlur``, and medians 5x5..9x9 against
``cv2.medianBlur`` on the same dtype (float32 for 5x5, the largest it takes in float;
the photograph as 8 bits for 5x5, 7x7 and 9x9) and ``scipy.ndimage.median_filter``.
Every peer's values are checked against ours before it is timed (borders are compared
too where the peer has our border rule), and calls are interleaved (ours, then each
peer, ``--repeat`` times) so that a change in load hits all of them alike. For each
convolution the cost model's estimate of the engine ``auto`` chose is printed next to
the measured time. Prints medians, ratios and the goals::

    .venv/bin/python benchmarks/bench_core.py [--repeat 7] [--image PATH] [--quick]
        [--only box,median] [--skip-base | --base-only] [--size 512x512,3840x2160,...]

Several sizes (``--size 512x512,3840x2160,11314x5657``: 0.26, 8.3 and 64 MP) add a
table of ns per pixel and ratio to OpenCV per size, for issue 14's size-scaling goal.

``--quick`` skips the peers that take seconds per call (``ndimage.correlate`` with the
large kernels, SciPy's large medians). Run it on a quiet machine: the load average is
printed with the table.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pool_cases.py sits next to us

from convcli.core import choose_algorithm, conv2d, median_filter2d  # noqa: E402
from convcli.core._choice import estimate_times  # noqa: E402
from convcli.core.conv import prepare_conv  # noqa: E402

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

BOX_SIZES = (3, 5, 7, 11, 15, 23, 31, 47, 63)  # issue 14: every size from 3 to 63

# name -> (peer family, most allowed time as a multiple of that peer's)
GOALS: dict[str, tuple[str, float]] = {
    "Sobel-x 3x3": ("OpenCV", 2.0),
    "[1,-1]": ("OpenCV", 2.0),
    "Gaussian 5x5 s=1": ("OpenCV", 3.0),
    "dense 31x31": ("OpenCV", 1.2),
    # issue 14
    **{f"box {k}x{k}": ("OpenCV", 2.0) for k in BOX_SIZES},
    **{f"dense {k}x{k}": ("OpenCV", 2.5) for k in (3, 5, 7, 11)},
    "Gaussian s=2 13x13": ("OpenCV", 2.0),
    "Gaussian s=4 25x25": ("OpenCV", 2.0),
    "median 5x5 float32": ("OpenCV", 3.0),
    "median 5x5 8-bit": ("OpenCV", 3.0),
    "median 7x7 8-bit": ("OpenCV", 5.0),
    "median 9x9 8-bit": ("OpenCV", 5.0),
}
ESTIMATE_FACTOR = 2.0  # the cost model's estimate within this factor of the measured time
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


class Calls:
    """How each side is called on one image: ours as ``convcli apply`` runs a kernel (a
    depthwise conv2d, reflect border, same size), OpenCV on its H x W x C layout, SciPy
    plane by plane."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.channels = image.shape[0]
        self.interleaved = np.ascontiguousarray(image.transpose(1, 2, 0))  # OpenCV's layout

    @cached_property
    def eight(self) -> np.ndarray:
        """The photograph as 8-bit values, (C, H, W)."""
        return np.ascontiguousarray(np.round(self.image * 255).astype(np.uint8))

    @cached_property
    def eight_interleaved(self) -> np.ndarray:
        return np.ascontiguousarray(self.eight.transpose(1, 2, 0))

    def ours(self, kernel: np.ndarray) -> Callable[[], np.ndarray]:
        image, channels = self.image, self.channels
        weight = depthwise(kernel, channels)

        def call() -> np.ndarray:
            return conv2d(image, weight, padding="same", groups=channels, padding_mode="reflect")

        call.kernel = kernel  # type: ignore[attr-defined]  # for the cost model's estimate
        return call

    def planes(self, function: Callable[[np.ndarray], np.ndarray]) -> Callable[[], np.ndarray]:
        return lambda: np.stack([function(plane) for plane in self.image])

    def opencv(
        self, function: Callable[[np.ndarray], np.ndarray], source: np.ndarray | None = None
    ) -> Callable[[], np.ndarray]:
        array = self.interleaved if source is None else source
        return lambda: function(array).transpose(2, 0, 1)


def conv_cases(image: np.ndarray, quick: bool) -> list[BenchCase]:
    """The convolution cases of the original table (Sobel, [1,-1], Gaussian, dense, box)."""
    calls = Calls(image)
    return _small_kernel_cases(calls) + _large_kernel_cases(calls, quick)


def _small_kernel_cases(calls: Calls) -> list[BenchCase]:
    import cv2
    from scipy import ndimage

    ours, planes, opencv = calls.ours, calls.planes, calls.opencv
    reflect101 = cv2.BORDER_REFLECT_101
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    diff = np.array([[1, -1]], np.float32)
    gauss = gaussian_kernel(1.0, 2)
    return [
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
    ]


def _large_kernel_cases(calls: Calls, quick: bool) -> list[BenchCase]:
    import cv2
    import scipy.fft
    import scipy.signal
    from scipy import ndimage

    ours, planes, opencv = calls.ours, calls.planes, calls.opencv
    reflect101 = cv2.BORDER_REFLECT_101
    dense = np.random.default_rng(31).standard_normal((31, 31)).astype(np.float32)
    box = np.full((15, 15), 1 / 225, np.float32)

    def fftconvolve(plane: np.ndarray) -> np.ndarray:
        with scipy.fft.set_workers(os.cpu_count() or 1):  # zero borders: interior compared
            return scipy.signal.fftconvolve(plane, dense[::-1, ::-1], mode="same")

    return [
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


def depthwise(kernel: np.ndarray, channels: int = 3) -> np.ndarray:
    return np.broadcast_to(kernel, (channels, 1, *kernel.shape))


def conv_estimate(image: np.ndarray, kernel: np.ndarray) -> tuple[str, float]:
    """The engine ``auto`` runs for ``kernel`` on ``image``, and its estimated wall seconds."""
    options = dict(padding="same", groups=image.shape[0], padding_mode="reflect")
    weight = depthwise(kernel, image.shape[0])
    algorithm, _ = choose_algorithm(image.shape, weight, **options)
    problem = prepare_conv(image, weight, **options)
    return algorithm, estimate_times(problem)[algorithm] / 1e9


def median_estimate(values: np.ndarray, k: int) -> tuple[str, float]:
    """The engine ``auto`` runs for a k x k median of ``values``, and its estimated wall
    seconds."""
    from convcli.core.pool import choose_median_for, median_dtype, median_times

    algorithm, _ = choose_median_for(values, k)
    itemsize = np.dtype(median_dtype(values)).itemsize
    return algorithm, median_times(values.size, (k, k), (1, 1), itemsize)[algorithm] / 1e9


def ours_median(values: np.ndarray, k: int) -> Callable[[], np.ndarray]:
    """Our k x k median of ``values``, carrying its cost model estimate."""

    def call() -> np.ndarray:
        return median_filter2d(values, k)

    call.estimate = lambda: median_estimate(values, k)  # type: ignore[attr-defined]
    return call


def issue14_cases(image: np.ndarray, quick: bool) -> list[BenchCase]:
    """Box 3..63, dense 3..11, Gaussians of sigma 2 and 4, medians 5x5..9x9 (issue 14)."""
    calls = Calls(image)
    return _filter_cases(calls) + _median_cases(calls, quick)


def _filter_cases(calls: Calls) -> list[BenchCase]:
    import cv2

    ours, opencv = calls.ours, calls.opencv
    reflect101 = cv2.BORDER_REFLECT_101
    rng = np.random.default_rng(14)
    cases = []
    for k in BOX_SIZES:
        if k == 15:
            continue  # in the base table
        box = np.full((k, k), 1 / k**2, np.float32)
        cases.append(
            BenchCase(
                f"box {k}x{k}",
                ours(box),
                {"OpenCV": opencv(lambda a, k=k: cv2.blur(a, (k, k), borderType=reflect101))},
                repeat=5,
            )
        )
    for k in (3, 5, 7, 11):
        dense = rng.standard_normal((k, k)).astype(np.float32)
        cases.append(
            BenchCase(
                f"dense {k}x{k}",
                ours(dense),
                {
                    "OpenCV": opencv(
                        lambda a, d=dense: cv2.filter2D(a, -1, d, borderType=reflect101)
                    )
                },
                repeat=5,
            )
        )
    for sigma in (2, 4):
        radius = 3 * sigma
        size = 2 * radius + 1
        gauss = gaussian_kernel(sigma, radius)
        cases.append(
            BenchCase(
                f"Gaussian s={sigma} {size}x{size}",
                ours(gauss),
                {
                    "OpenCV": opencv(
                        lambda a, n=size, s=sigma: cv2.GaussianBlur(
                            a, (n, n), s, borderType=reflect101
                        )
                    )
                },
                repeat=5,
            )
        )
    return cases


def _median_cases(calls: Calls, quick: bool) -> list[BenchCase]:
    import cv2
    from scipy import ndimage

    image, eight, opencv = calls.image, calls.eight, calls.opencv
    eight_interleaved = calls.eight_interleaved
    cases = []

    def interior(k: int) -> Callable[[np.ndarray], np.ndarray]:
        m = k // 2  # OpenCV's median repeats the edge: compare away from it
        return lambda array: np.asarray(array, np.float32)[:, m:-m, m:-m]

    median5 = {"OpenCV": opencv(lambda a: cv2.medianBlur(a, 5))}
    if not quick:
        median5["scipy.ndimage"] = lambda: ndimage.median_filter(
            image, size=(1, 5, 5), mode="mirror"
        )
    cases.append(
        BenchCase(
            "median 5x5 float32",
            ours_median(image, 5),
            median5,
            compare=interior(5),
            repeat=5,
        )
    )
    for k in (5, 7, 9):
        peers = {"OpenCV": opencv(lambda a, k=k: cv2.medianBlur(a, k), eight_interleaved)}
        if not quick and k == 5:
            peers["scipy.ndimage"] = lambda: ndimage.median_filter(
                eight, size=(1, 5, 5), mode="mirror"
            )
        cases.append(
            BenchCase(
                f"median {k}x{k} 8-bit",
                ours_median(eight, k),
                peers,
                compare=interior(k),
                repeat=5,
            )
        )
    for k in (7, 9):
        peers = {}
        if not quick:
            peers["scipy.ndimage"] = lambda k=k: ndimage.median_filter(
                image, size=(1, k, k), mode="mirror"
            )
        cases.append(
            BenchCase(
                f"median {k}x{k} float32",
                ours_median(image, k),
                peers,
                compare=interior(k),
                repeat=3,
            )
        )
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


def timed_together(
    functions: dict[str, Callable[[], object]], repeat: int
) -> tuple[dict[str, float], dict[str, object], dict[str, float]]:
    """Median wall times of interleaved calls: each round calls every function once, so
    load that comes and goes weighs on all of them alike. A function slower than
    :data:`SLOW_SECONDS` on its first (warm-up) call is timed by that call alone. Also
    the median CPU time of the process per call (all threads)."""
    results, times, slow = {}, {name: [] for name in functions}, {}
    cpu: dict[str, list[float]] = {name: [] for name in functions}
    for name, function in functions.items():
        start, start_cpu = time.perf_counter(), time.process_time()
        results[name] = function()
        first = time.perf_counter() - start
        if first > SLOW_SECONDS:
            slow[name] = first
            cpu[name].append(time.process_time() - start_cpu)
    for _ in range(repeat):
        for name, function in functions.items():
            if name in slow:
                continue
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    medians = {name: slow.get(name) or statistics.median(times[name]) for name in functions}
    return medians, results, {name: statistics.median(cpu[name]) for name in functions}


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


def select_cases(image: np.ndarray, args: argparse.Namespace) -> list[BenchCase]:
    """The cases the options ask for, on ``image``."""
    cases = [] if args.skip_base else conv_cases(image, args.quick)
    if pool_cases is not None and not args.skip_base:
        cases += pool_cases(image)
    elif pool_cases is None:
        print("benchmarks/pool_cases.py not found: pooling cases left out")
    if not args.base_only:
        cases += issue14_cases(image, args.quick)
    if args.only:
        words = args.only.split(",")
        cases = [case for case in cases if any(word in case.name for word in words)]
    return cases


Verdict = tuple[str, str, str, bool]


def run_table(
    image: np.ndarray, cases: list[BenchCase], repeat: int
) -> tuple[list[Verdict], dict[str, tuple[float, float | None]]]:
    """Time every case against its peers (interleaved) and print one table.

    Returns the goal verdicts, and per case our median seconds and the fastest OpenCV
    call's that gives our values (None without one).
    """
    load = os.getloadavg()
    height, width = image.shape[1:]
    print(
        f"RGB float32 {width}x{height} ({width * height / 1e6:.2f} MP); "
        f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print("ratio = our time / peer time (< 1: we are faster); median of "
          f"{repeat} interleaved calls (1 when a call takes > {SLOW_SECONDS:.0f} s); "
          "cpu = CPU time of all threads per call; "
          "est = the cost model's estimate for the engine auto chose")  # fmt: skip
    header = (
        f"{'operation':<22}{'implementation':<26}{'median ms':>10}{'ours/peer':>10}"
        f"{'cpu ms':>9}  values"
    )
    print(header)
    print("-" * len(header))
    verdicts: list[Verdict] = []
    timings: dict[str, tuple[float, float | None]] = {}
    for case in cases:
        times = min(repeat, case.repeat or repeat)
        medians, results, cpu = timed_together({"convcli": case.ours, **case.peers}, times)
        ours_seconds = medians["convcli"]
        expected = case.compare(np.asarray(results["convcli"]))
        kernel = getattr(case.ours, "kernel", None)
        estimated = getattr(case.ours, "estimate", None)
        note = ""
        if kernel is not None or estimated is not None:
            algorithm, estimate = estimated() if estimated else conv_estimate(image, kernel)
            off = max(estimate / ours_seconds, ours_seconds / estimate)
            note = f"  {algorithm}, est {estimate * 1e3:.1f} ms ({estimate / ours_seconds:.2f}x)"
            goal = f"estimate within {ESTIMATE_FACTOR:.0f}x of measured"
            ratio = f"{estimate / ours_seconds:.2f}x"
            verdicts.append((case.name, goal, ratio, off <= ESTIMATE_FACTOR))
        print(f"{case.name:<22}{'convcli':<26}{ours_seconds * 1e3:>10.1f}{'':>10}"
              f"{cpu['convcli'] * 1e3:>9.1f}{note}")  # fmt: skip
        best: dict[str, float] = {}
        for name in case.peers:
            seconds = medians[name]
            same = agrees(case.compare(np.asarray(results[name])), expected)
            # Goals compare with the fastest OpenCV and the fastest scipy.ndimage function
            # that give our values (scipy.signal and NumPy are shown, not judged).
            family = "scipy" if name.startswith("scipy.ndimage") else name.split(" ")[0]
            if same:
                best[family] = min(best.get(family, np.inf), seconds)
            verdict = "same" if same else "DIFFERENT (not used for goals)"
            print(f"{'':<22}{name:<26}{seconds * 1e3:>10.1f}{ours_seconds / seconds:>10.2f}"
                  f"{cpu[name] * 1e3:>9.1f}  {verdict}")  # fmt: skip
        timings[case.name] = (ours_seconds, best.get("OpenCV"))
        if case.name in GOALS and "OpenCV" in best:
            _, factor = GOALS[case.name]
            ratio = ours_seconds / best["OpenCV"]
            verdicts.append((case.name, f"<= {factor}x OpenCV", f"{ratio:.2f}x", ratio <= factor))
        if "scipy" in best:
            speedup = best["scipy"] / ours_seconds
            goal = f">= {SCIPY_SPEEDUP:.0f}x faster than scipy.ndimage"
            verdicts.append((case.name, goal, f"{speedup:.1f}x", speedup >= SCIPY_SPEEDUP))
    return verdicts, timings


def sobel_memory(image: np.ndarray) -> float:
    """Peak extra memory of a Sobel-x on ``image``, as a multiple of the input's bytes."""
    sobel = depthwise(np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32))

    def call() -> np.ndarray:
        return conv2d(image, sobel, padding="same", groups=3, padding_mode="reflect")

    return peak_extra_memory(call) / image.nbytes


def print_choices(image: np.ndarray, cases: list[BenchCase]) -> None:
    """The algorithm ``auto`` picks for each convolution case, and why."""
    print()
    print("algorithm chosen by auto (choose_algorithm):")
    for case in cases:
        kernel = getattr(case.ours, "kernel", None)
        if kernel is None:
            continue
        algorithm, reason = choose_algorithm(
            image.shape, depthwise(kernel), padding="same", groups=3, padding_mode="reflect"
        )
        print(f"  {case.name:<18} {algorithm:<10} {reason}")


def print_scaling(sizes: list[str], tables: list[dict[str, tuple[float, float | None]]]) -> None:
    """Per case and image size: ns per pixel (ours) and the ratio to OpenCV."""
    print()
    print("size scaling: our ns per pixel (all channels) / ratio to the fastest same-valued OpenCV")
    pixels = [math.prod(int(part) for part in size.split("x")) for size in sizes]
    print(f"{'operation':<22}" + "".join(f"{size:>22}" for size in sizes))
    for name in tables[0]:
        cells = []
        for table, count in zip(tables, pixels, strict=True):
            ours, peer = table.get(name, (math.nan, None))
            ratio = f"{ours / peer:.2f}x" if peer else "-"
            cells.append(f"{ours * 1e9 / count:>12.2f} ns {ratio:>6}")
        print(f"{name:<22}" + "".join(f"{cell:>22}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per operation")
    parser.add_argument("--image", type=Path, help="photograph to resize (default: a sample)")
    parser.add_argument(
        "--size", default="3840x2160", help="WIDTHxHEIGHT, or several joined by commas"
    )
    parser.add_argument("--quick", action="store_true", help="skip the peers taking seconds")
    parser.add_argument("--only", help="comma-separated words: run the cases naming one")
    parser.add_argument("--skip-base", action="store_true", help="only issue 14's cases")
    parser.add_argument("--base-only", action="store_true", help="only the original table")
    args = parser.parse_args()
    try:
        import cv2  # noqa: F401  (the peer of every row)
    except ImportError:
        sys.exit("bench_core.py compares with OpenCV: pip install opencv-python-headless")
    sizes = args.size.split(",")
    verdicts: list[Verdict] = []
    tables = []
    for size in sizes:
        width, height = (int(part) for part in size.split("x"))
        image = load_photo(args.image, width, height)
        cases = select_cases(image, args)
        size_verdicts, timings = run_table(image, cases, args.repeat)
        verdicts += [(f"{name} @{size}", *rest) for name, *rest in size_verdicts]
        tables.append(timings)
        if not args.skip_base and not args.only:
            ratio = sobel_memory(image)
            verdicts.append(
                (f"Sobel-x 3x3 @{size}", "peak extra memory <= 2x input", f"{ratio:.2f}x",
                 ratio <= 2)
            )  # fmt: skip
            print_choices(image, cases)
        del image, cases
        print()
    if len(sizes) > 1:
        print_scaling(sizes, tables)
    load = os.getloadavg()
    print()
    print(f"goals (load average at the end {load[0]:.2f}):")
    for name, goal, measured, met in verdicts:
        print(f"  {'met    ' if met else 'NOT MET'}  {name:<32} {goal:<38} measured {measured}")


if __name__ == "__main__":
    main()
