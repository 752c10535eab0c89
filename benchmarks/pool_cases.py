"""Pooling benchmark cases: convcli.core.pool against scipy.ndimage, OpenCV and torch.

bench_core.py imports :func:`pool_cases` and runs the cases in its table; this file also
runs on its own:

    .venv/bin/python benchmarks/pool_cases.py [--repeat 7] [--size 3840x2160]

The input is an RGB float32 image in the library's layout, ``(3, H, W)``, default 4K
(3840x2160). Every peer computes the same values from the same array, one channel at a
time where the peer has no channel axis (checked before timing):

- max-pool 2x2/2: scipy ``maximum_filter`` (size 2) then every 2nd pixel; OpenCV
  ``cv2.dilate`` (2x2) then every 2nd pixel; NumPy's ``reshape(...).max``; torch.
- avg-pool 2x2/2: scipy ``uniform_filter`` (size 2) then every 2nd pixel; OpenCV
  ``cv2.resize(INTER_AREA)`` to half size (exactly the 2x2 mean); torch.
- 3x3 max filter, stride 1, same size: scipy ``maximum_filter`` (size 3, ``nearest``:
  equal to -inf padding for a 3x3 max); OpenCV ``cv2.dilate`` (3x3, its default border
  never wins); torch ``max_pool2d(3, 1, 1)``.
- 7x7 max filter, the same way (our running max by doubling: 4 passes instead of 6).
- 3x3 median, same size, reflect border: scipy ``median_filter`` (``mirror``); OpenCV
  ``cv2.medianBlur`` (replicate border, so only the interior is compared); torch has none.

Peers that are not importable are left out (torch is not in the project venv).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from convcli.core.pool import avg_pool2d, max_pool2d, median_filter2d


@dataclass(frozen=True)
class BenchCase:
    """One operation: our callable, the peers' callables, and how to compare values.

    ``ours`` and every peer take no arguments and return an array shaped like ours;
    ``compare`` picks the part of both results that must agree (default: all of it).
    """

    name: str
    ours: Callable[[], np.ndarray]
    peers: dict[str, Callable[[], np.ndarray]] = field(default_factory=dict)
    compare: Callable[[np.ndarray], np.ndarray] = lambda array: array
    repeat: int | None = None  # a smaller repeat count for slow cases


def _per_channel(function: Callable[[np.ndarray], np.ndarray], image: np.ndarray):
    return lambda: np.stack([function(plane) for plane in image])


def pool_cases(image: np.ndarray) -> list[BenchCase]:
    """The pooling cases for ``image``, a float32 array of shape (C, H, W)."""
    from scipy import ndimage

    try:
        import cv2
    except ImportError:
        cv2 = None
    try:
        import torch
        import torch.nn.functional as torch_functional
    except ImportError:
        torch = None

    channels, height, width = image.shape
    even = image[:, : height // 2 * 2, : width // 2 * 2]

    def numpy_reshape_max() -> np.ndarray:
        blocks = even.reshape(channels, height // 2, 2, width // 2, 2)
        return blocks.max(axis=(2, 4))

    max_pool = {
        "scipy.ndimage": lambda: ndimage.maximum_filter(image, size=(1, 2, 2))[:, 1::2, 1::2],
        "numpy reshape.max": numpy_reshape_max,
    }
    avg_pool = {
        "scipy.ndimage": lambda: ndimage.uniform_filter(image, size=(1, 2, 2))[:, 1::2, 1::2],
    }
    max_filter = {
        "scipy.ndimage": lambda: ndimage.maximum_filter(image, size=(1, 3, 3), mode="nearest"),
    }
    max_filter7 = {
        "scipy.ndimage": lambda: ndimage.maximum_filter(image, size=(1, 7, 7), mode="nearest"),
    }
    median = {
        "scipy.ndimage": lambda: ndimage.median_filter(image, size=(1, 3, 3), mode="mirror"),
    }
    if cv2 is not None:
        square2, square3 = np.ones((2, 2), np.uint8), np.ones((3, 3), np.uint8)
        max_pool["OpenCV"] = _per_channel(lambda p: cv2.dilate(p, square2)[1::2, 1::2], image)
        half = (width // 2, height // 2)
        avg_pool["OpenCV"] = _per_channel(
            lambda p: cv2.resize(p, half, interpolation=cv2.INTER_AREA), even
        )
        max_filter["OpenCV"] = _per_channel(lambda p: cv2.dilate(p, square3), image)
        square7 = np.ones((7, 7), np.uint8)
        max_filter7["OpenCV"] = _per_channel(lambda p: cv2.dilate(p, square7), image)
        median["OpenCV"] = _per_channel(lambda p: cv2.medianBlur(p, 3), image)
    if torch is not None:
        tensor = torch.from_numpy(image)
        max_pool["torch"] = lambda: torch_functional.max_pool2d(tensor, 2).numpy()
        avg_pool["torch"] = lambda: torch_functional.avg_pool2d(tensor, 2).numpy()
        max_filter["torch"] = lambda: torch_functional.max_pool2d(tensor, 3, 1, 1).numpy()
        max_filter7["torch"] = lambda: torch_functional.max_pool2d(tensor, 7, 1, 3).numpy()

    return [
        BenchCase("max-pool 2x2/2", lambda: max_pool2d(image, 2), max_pool),
        BenchCase("avg-pool 2x2/2", lambda: avg_pool2d(image, 2), avg_pool),
        BenchCase(
            "max filter 3x3/1 same",
            lambda: max_pool2d(image, 3, stride=1, padding="same"),
            max_filter,
        ),
        BenchCase(
            "max filter 7x7/1 same",
            lambda: max_pool2d(image, 7, stride=1, padding="same"),
            max_filter7,
        ),
        BenchCase(
            "median 3x3 same",
            lambda: median_filter2d(image, 3),
            median,
            compare=lambda array: array[:, 1:-1, 1:-1],
            repeat=3,
        ),
    ]


def check(case: BenchCase) -> dict[str, bool]:
    """Whether each peer gives our values (float32 rounding), on the compared part."""
    expected = case.compare(case.ours())
    agree = {}
    for name, peer in case.peers.items():
        got = case.compare(np.asarray(peer()))
        agree[name] = got.shape == expected.shape and np.allclose(got, expected, atol=1e-5)
    return agree


def median_seconds(function: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per operation")
    parser.add_argument("--size", default="3840x2160", help="image WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    image = np.random.default_rng(0).random((3, height, width), dtype=np.float32)
    print(f"RGB float32 {width}x{height}, (3, H, W); median of {args.repeat} runs; "
          "ours/peer = our time / the peer's (< 1: we are faster)")  # fmt: skip
    print(f"{'operation':<24}{'implementation':<20}{'median ms':>10}{'ours/peer':>10}  values")
    for case in pool_cases(image):
        agree = check(case)
        repeat = min(args.repeat, case.repeat or args.repeat)
        ours = median_seconds(case.ours, repeat)
        print(f"{case.name:<24}{'convcli':<20}{ours * 1e3:>10.1f}")
        for name, peer in case.peers.items():
            seconds = median_seconds(peer, repeat)
            verdict = "same" if agree[name] else "DIFFERENT"
            print(f"{'':<24}{name:<20}{seconds * 1e3:>10.1f}{ours / seconds:>10.2f}  {verdict}")


if __name__ == "__main__":
    main()
