"""Generate tests/data/pool_nd_torch.json: what PyTorch says about 1-D and 3-D pools.

tests/test_pool_nd.py checks ``convcli shape`` against every case and never imports torch.
shape_torch.json covers 2-D pools; 1-D and 3-D differ in one place, found by a randomized
comparison: ``AvgPool3d`` (alone) refuses an input smaller than its kernel on any axis,
whatever the padding or ``ceil_mode``. Re-run with the PyTorch venv (seconds):

    python tests/data/make_pool_nd_fixture.py

One row per case: ``op`` (max, avg), ``input`` (spatial sizes, one channel), ``kernel``,
``stride`` (null = default), ``padding``, ``ceil_mode``; then ``output`` (spatial sizes)
or null and ``error`` (the first line of torch's message).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).with_name("pool_nd_torch.json")
INPUTS = {
    1: [(1,), (2,), (3,), (5,), (8,)],
    3: [(1, 4, 4), (2, 8, 8), (3, 3, 3), (5, 2, 7), (8, 8, 8)],
}
KERNELS = {1: [1, 2, 3, 5], 3: [1, 2, 3, 5, (3, 1, 2)]}
MODULES = {(1, "max"): nn.MaxPool1d, (1, "avg"): nn.AvgPool1d,
           (3, "max"): nn.MaxPool3d, (3, "avg"): nn.AvgPool3d}  # fmt: skip


def case(rank: int, op: str, size, kernel, stride, padding: int, ceil_mode: bool) -> list:
    module = MODULES[rank, op](kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    try:
        output = list(module(torch.zeros(1, 1, *size)).shape[2:])
        error = None
    except RuntimeError as failure:
        output, error = None, str(failure).splitlines()[0]
    return [op, list(size), kernel if isinstance(kernel, int) else list(kernel), stride,
            padding, ceil_mode, output, error]  # fmt: skip


def main() -> None:
    rows = [
        case(rank, op, size, kernel, stride, padding, ceil_mode)
        for rank in (1, 3)
        for op, size, kernel, stride, padding, ceil_mode in itertools.product(
            ("max", "avg"), INPUTS[rank], KERNELS[rank], (None, 2), (0, 1), (False, True)
        )
    ]
    fields = ["op", "input", "kernel", "stride", "padding", "ceil_mode", "output", "error"]
    OUT.write_text(json.dumps({"torch": torch.__version__, "fields": fields, "cases": rows}) + "\n")
    print(f"{len(rows)} cases, {sum(r[-1] is not None for r in rows)} refused -> {OUT}")


if __name__ == "__main__":
    main()
