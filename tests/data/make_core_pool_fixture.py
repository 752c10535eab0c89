"""Generate tests/data/core_pool_torch.npz: PyTorch's pooling outputs over a broad grid.

The test suite (tests/test_core_pool.py) compares convcli.core.pool against these values
and never imports torch. Re-run after changing the grid, with the PyTorch venv:

    /work/torchenv/bin/python tests/data/make_core_pool_fixture.py

The file holds:

- ``input_<H>x<W>``: float32 inputs of shape (1, 2, H, W), values on a 1/8 grid in
  [-4, 4) so that padding mistakes (0 instead of -inf) show up and max/min compress well;
- ``values``: every accepted case's output, flattened and concatenated (float32);
- ``cases``: JSON, one object per case: ``op`` (max, min, avg), ``input``, the
  ``torch.nn.functional`` arguments, and either ``shape`` + ``offset`` into ``values`` or
  ``error`` (the parameter our ValueError must name) + ``torch_error`` (torch's message).

min pooling is ``-max_pool2d(-x)`` (torch has no min pool).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

OUT = Path(__file__).with_name("core_pool_torch.npz")
SIZES = [(5, 5), (6, 7), (8, 8), (9, 6), (7, 10), (10, 9)]
KERNELS = [1, 2, 3, 4, 5, 6, 7, (1, 3), (3, 1), (2, 3), (3, 2), (2, 5), (4, 7), (7, 3), (5, 2)]
STRIDES = [None, 1, 2, 3, (1, 2), (3, 1)]
DILATIONS = [1, 2, (1, 3), (2, 1)]


def as_pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def paddings(kernel):
    """A few legal paddings per kernel: none, the maximum, each axis alone, and 1."""
    kh, kw = as_pair(kernel)
    options = {
        (0, 0),
        (kh // 2, kw // 2),
        (kh // 2, 0),
        (0, kw // 2),
        (min(1, kh // 2), 1 if kw > 1 else 0),
    }
    return [p[0] if p[0] == p[1] else p for p in sorted(options)]


def run(op, x, params):
    t = torch.from_numpy(x)
    if op == "max":
        return F.max_pool2d(t, **params)
    if op == "min":
        return -F.max_pool2d(-t, **params)
    return F.avg_pool2d(t, **params)


def main() -> None:
    rng = np.random.default_rng(2024)
    inputs = {
        f"input_{h}x{w}": (rng.integers(-32, 32, size=(1, 2, h, w)) / 8).astype(np.float32)
        for h, w in SIZES
    }
    names = list(inputs)
    cases: list[dict] = []
    values: list[np.ndarray] = []
    offset = 0
    counter = itertools.count()

    def add(op, params, input_name=None, error=None):
        nonlocal offset
        input_name = input_name or names[next(counter) % len(names)]
        case = {"op": op, "input": input_name, **params}
        try:
            result = run(op, inputs[input_name], params).numpy()
        except (RuntimeError, ValueError) as exc:
            case["torch_error"] = str(exc).splitlines()[0]
            # Grid cases can only fail on size; explicit rejections name their parameter.
            case["error"] = error or "kernel_size"
            if error is None and "too small" not in case["torch_error"]:
                raise
        else:
            if error is not None:
                raise AssertionError(f"torch accepted a case meant to be rejected: {case}")
            case["shape"] = list(result.shape)
            case["offset"] = offset
            values.append(result.ravel())
            offset += result.size
        cases.append(case)

    for kernel, stride, ceil_mode in itertools.product(KERNELS, STRIDES, (False, True)):
        for padding in paddings(kernel):
            base = {
                "kernel_size": kernel,
                "stride": stride,
                "padding": padding,
                "ceil_mode": ceil_mode,
            }
            for dilation in DILATIONS:
                add("max", {**base, "dilation": dilation})
            add("min", {**base, "dilation": DILATIONS[next(counter) % len(DILATIONS)]})
            for count_include_pad in (True, False):
                add("avg", {**base, "count_include_pad": count_include_pad})
            if padding != 0 or ceil_mode:
                add("avg", {**base, "count_include_pad": True, "divisor_override": 3})
    for divisor in (1, -2, 7):
        add("avg", {"kernel_size": 3, "stride": 2, "padding": 1, "divisor_override": divisor})

    # What torch rejects, and the parameter our message must name.
    rejected = [
        ("max", {"kernel_size": 2, "padding": 2}, "padding"),
        ("max", {"kernel_size": 3, "stride": 1, "padding": 2}, "padding"),
        ("max", {"kernel_size": (3, 5), "padding": (1, 3)}, "padding"),
        ("max", {"kernel_size": 2, "dilation": 3, "padding": 2}, "padding"),
        ("avg", {"kernel_size": 4, "padding": 3}, "padding"),
        ("max", {"kernel_size": 2, "padding": -1}, "padding"),
        ("avg", {"kernel_size": 2, "padding": -1}, "padding"),
        ("max", {"kernel_size": 0, "stride": 1}, "kernel_size"),
        ("max", {"kernel_size": -1, "stride": 1}, "kernel_size"),
        ("avg", {"kernel_size": (2, 0), "stride": 1}, "kernel_size"),
        ("max", {"kernel_size": 2, "stride": 0}, "stride"),
        ("max", {"kernel_size": 2, "stride": -1}, "stride"),
        ("avg", {"kernel_size": 2, "stride": (1, 0)}, "stride"),
        ("max", {"kernel_size": 2, "dilation": 0}, "dilation"),
        ("max", {"kernel_size": 2, "dilation": (1, -1)}, "dilation"),
        ("max", {"kernel_size": 9}, "kernel_size"),
        ("avg", {"kernel_size": 9}, "kernel_size"),
        ("max", {"kernel_size": 4, "dilation": 3}, "kernel_size"),
        ("max", {"kernel_size": 9, "padding": 4, "dilation": 2}, "kernel_size"),
        ("avg", {"kernel_size": 2, "divisor_override": 0}, "divisor_override"),
    ]
    for op, params, error in rejected:
        add(op, params, input_name="input_8x8", error=error)

    np.savez_compressed(
        OUT,
        cases=np.array(json.dumps(cases)),
        values=np.concatenate(values).astype(np.float32),
        torch_version=np.array(torch.__version__),
        **inputs,
    )
    accepted = sum("shape" in c for c in cases)
    print(
        f"{OUT.name}: {len(cases)} cases ({accepted} accepted, {len(cases) - accepted} "
        f"rejected), {offset} values, {OUT.stat().st_size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
