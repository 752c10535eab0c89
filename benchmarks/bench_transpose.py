"""Benchmark ``conv_transpose2d`` against torch CPU on the same shapes (issue 14).

torch is not in the project's venv; run this with a Python that has torch and NumPy, the
repository on the path (it imports ``convcli`` from the checkout)::

    /path/to/torch-python benchmarks/bench_transpose.py [--repeat 7]

Each shape is a decoder layer as a network would run it (float32, batch 1): values are
checked equal to torch's (float32 rounding) before timing; calls are interleaved.

Each library's threads may keep spinning for a while after its call, on the cores the
other's next call needs: torch's OpenMP threads (told to sleep here instead,
``OMP_WAIT_POLICY=PASSIVE``, unless set: the interleaved convcli call ran up to 2x slower
than alone, 256->128 3x3/2 13.5 ms against 6.3) and OpenBLAS's (convcli's products on two
BLAS threads made torch's next call 2-3x slower: 28-32 ms against 10-11 for 64->32).
So each timed call follows an untimed one of the same library.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convcli.core import conv_transpose2d  # noqa: E402

# (name, x shape, weight shape, stride, padding, output_padding, groups)
SHAPES = [
    ("64->32, 4x4/2, 128x128", (1, 64, 128, 128), (64, 32, 4, 4), 2, 1, 0, 1),
    ("256->128, 3x3/2, 32x32", (1, 256, 32, 32), (256, 128, 3, 3), 2, 1, 1, 1),
    ("16->3, 5x5/1, 256x256", (1, 16, 256, 256), (16, 3, 5, 5), 1, 2, 0, 1),
    ("3->3 depthwise 2x2/2, 512x512", (1, 3, 512, 512), (3, 1, 2, 2), 2, 0, 0, 3),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP
    try:
        import torch
        import torch.nn.functional as functional
    except ImportError:
        sys.exit("bench_transpose.py compares with torch: pip install torch==2.13.0 (CPU)")
    rng = np.random.default_rng(6)
    load = os.getloadavg()
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), NumPy "
          f"{np.__version__}; load average {load[0]:.2f}; median of {args.repeat} "
          "interleaved calls, ms")  # fmt: skip
    print(f"{'layer':<32}{'convcli':>10}{'torch':>10}{'ours/torch':>12}  values")
    for name, x_shape, w_shape, stride, padding, extra, groups in SHAPES:
        x = rng.standard_normal(x_shape).astype(np.float32)
        weight = rng.standard_normal(w_shape).astype(np.float32)
        tx, tw = torch.from_numpy(x), torch.from_numpy(weight)

        def ours(x=x, weight=weight, stride=stride, padding=padding, extra=extra, g=groups):
            return conv_transpose2d(x, weight, None, stride, padding, extra, g)

        def theirs(tx=tx, tw=tw, stride=stride, padding=padding, extra=extra, g=groups):
            with torch.no_grad():
                return functional.conv_transpose2d(tx, tw, None, stride, padding, extra, g)

        expected = theirs().numpy()
        got = ours()
        scale = max(1.0, float(np.abs(expected).max()))
        same = got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4 * scale
        times: dict[str, list[float]] = {"ours": [], "torch": []}
        for _ in range(args.repeat):
            for label, function in (("ours", ours), ("torch", theirs)):
                function()  # untimed: the other library's threads settle meanwhile
                start = time.perf_counter()
                function()
                times[label].append(time.perf_counter() - start)
        mine, peer = (statistics.median(times[label]) * 1e3 for label in ("ours", "torch"))
        verdict = "same" if same else "DIFFERENT"
        print(f"{name:<32}{mine:>10.1f}{peer:>10.1f}{mine / peer:>12.2f}  {verdict}")


if __name__ == "__main__":
    main()
