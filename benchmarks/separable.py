"""Standard vs depthwise-separable convolution, timed: convcli's NumPy core against torch.

The layers are MobileNet v1's (Howard et al. 2017, Table 1, one per resolution) and the
12x12x3 -> 256 (k=5) example of ``convcli compare``. Each form runs on the same random
float32 input in both libraries (results checked equal first); the table prints medians
and the measured speed-up of the separable form beside the theoretical one (MACs ratio,
from :func:`convcli.compare.compare_layer`).

Run it with a Python that has NumPy, SciPy and (for the peer) torch, e.g.::

    /work/torchenv/bin/python benchmarks/separable.py [--repeat 5] [--algorithm gemm]

(the project venv works too; torch is then left out). ``--algorithm auto`` lets the core
choose per call, as ``convcli compare --bench`` does by default.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convcli.compare import compare_layer  # noqa: E402
from convcli.core import conv2d  # noqa: E402
from convcli.geometry import Shape  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the project venv has no torch
    torch = None

# (C_in, H, W, C_out, kernel, stride, padding)
LAYERS = [
    (3, 12, 12, 256, 5, 1, 0),
    (32, 112, 112, 64, 3, 1, 1),
    (128, 56, 56, 128, 3, 1, 1),
    (256, 28, 28, 256, 3, 1, 1),
    (512, 14, 14, 512, 3, 1, 1),
    (1024, 7, 7, 1024, 3, 1, 1),
]


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--algorithm", default="gemm", help="the core's engine (auto: it chooses)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(args.torch_threads)
    rng = np.random.default_rng(0)
    print(
        f"{'layer':<28} {'MACs x':>7} | {'ours std':>9} {'ours sep':>9} {'ours x':>7}"
        + (f" | {'torch std':>9} {'torch sep':>9} {'torch x':>7}" if torch else "")
    )
    for c_in, height, width, c_out, k, stride, pad in LAYERS:
        result = compare_layer(
            Shape(c_in, height, width),
            (k, k),
            c_out,
            stride=(stride, stride),
            padding=(pad,) * 4,
            bias=False,
        )
        theoretical = result.standard.macs / result.separable.macs
        x = rng.standard_normal((1, c_in, height, width), dtype=np.float32)
        w_std = rng.standard_normal((c_out, c_in, k, k), dtype=np.float32)
        w_dw = rng.standard_normal((c_in, 1, k, k), dtype=np.float32)
        w_pw = rng.standard_normal((c_out, c_in, 1, 1), dtype=np.float32)
        geometry = {"stride": stride, "padding": pad, "algorithm": args.algorithm}

        def ours_std(x=x, w=w_std, geometry=geometry):
            return conv2d(x, w, **geometry)

        def ours_sep(x=x, c_in=c_in, w_dw=w_dw, w_pw=w_pw, geometry=geometry):
            middle = conv2d(x, w_dw, groups=c_in, **geometry)
            return conv2d(middle, w_pw, algorithm=geometry["algorithm"])

        std_ms, sep_ms = median_ms(ours_std, args.repeat), median_ms(ours_sep, args.repeat)
        line = (
            f"{c_in}x{height}x{width} k{k} -> {c_out:<6}".ljust(28)
            + f" {theoretical:>7.2f} | {std_ms:>9.2f} {sep_ms:>9.2f} {std_ms / sep_ms:>7.2f}"
        )
        if torch is not None:
            tx, tstd = torch.from_numpy(x), torch.from_numpy(w_std)
            tdw, tpw = torch.from_numpy(w_dw), torch.from_numpy(w_pw)

            def torch_std(tx=tx, tstd=tstd, stride=stride, pad=pad):
                with torch.no_grad():
                    return F.conv2d(tx, tstd, stride=stride, padding=pad)

            def torch_sep(tx=tx, tdw=tdw, tpw=tpw, stride=stride, pad=pad, c_in=c_in):
                with torch.no_grad():
                    middle = F.conv2d(tx, tdw, stride=stride, padding=pad, groups=c_in)
                    return F.conv2d(middle, tpw)

            # Same numbers before timing: float32 rounding only.
            np.testing.assert_allclose(ours_sep(), torch_sep().numpy(), rtol=1e-3, atol=1e-2)
            np.testing.assert_allclose(ours_std(), torch_std().numpy(), rtol=1e-3, atol=1e-2)
            t_std, t_sep = median_ms(torch_std, args.repeat), median_ms(torch_sep, args.repeat)
            line += f" | {t_std:>9.2f} {t_sep:>9.2f} {t_std / t_sep:>7.2f}"
        print(line, flush=True)
    print(
        f"medians of {args.repeat} runs after a warm-up, ms; 'x' = standard / separable time; "
        f"'MACs x' = the theoretical speed-up; ours = convcli.core.conv2d(algorithm="
        f"{args.algorithm!r})" + (f", torch {torch.__version__} CPU" if torch else "")
    )


if __name__ == "__main__":
    main()
