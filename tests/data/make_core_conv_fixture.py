"""Generate tests/data/core_conv_torch.npz: PyTorch's conv2d / conv_transpose2d outputs.

The test suite never imports torch; it compares :mod:`convcli.core.conv` with the values
recorded here. Re-run after changing the grid (needs a Python with torch and numpy)::

    /work/torchenv/bin/python tests/data/make_core_conv_fixture.py

The grid: kernel sizes 1..7 (square and not) and one large (15x15), strides, every
padding form (int, pair, four values, "valid", "same"), the four PyTorch padding modes
plus ``symmetric`` (NumPy's name: padded with ``np.pad`` and then convolved by torch
with no padding), dilations, groups (including depthwise with multiplier 1 and 2),
even and odd sizes, batched and unbatched input, float32 and float64; transposed
convolutions with strides, padding, output_padding, dilation and groups; and inputs
PyTorch rejects (recorded with its message, the test checks that convcli rejects
them too).

Every case stores its arguments as JSON and its arrays under ``"<index>/<name>"``.
Inputs are rounded to float16 values (exact in float32), which keeps the file small.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

OUT = Path(__file__).with_name("core_conv_torch.npz")
TORCH_MODES = ("zeros", "reflect", "replicate", "circular")
MODES = (*TORCH_MODES, "symmetric")
rng = np.random.default_rng(20240611)


def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow/Keras 'same' (REFERENCE.md), written out independently of convcli."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def per_side(padding, size, kernel, stride, dilation):
    """(top, bottom, left, right) for every padding form."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return same_pads(size[0], kernel[0], stride[0], dilation[0]) + same_pads(
            size[1], kernel[1], stride[1], dilation[1]
        )
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def sample(shape, dtype):
    return rng.standard_normal(shape).astype(np.float16).astype(dtype)


def torch_conv(x, w, b, stride, padding, dilation, groups, mode):
    """PyTorch's answer, through nn.Conv2d's own path whenever it can express the case."""
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    bt = None if b is None else torch.from_numpy(b)
    unbatched = x.ndim == 3
    stride2, dilation2 = pair(stride), pair(dilation)
    torch_native = not (
        mode == "symmetric"
        or (isinstance(padding, (list, tuple)) and len(padding) == 4)
        or (padding == "same" and stride2 != (1, 1))
    )
    if torch_native:
        # nn.Conv2d's module path: F.pad for non-zero modes, then conv2d (as torch does).
        conv = torch.nn.Conv2d(
            w.shape[1] * groups,
            w.shape[0],
            w.shape[2:],
            stride,
            padding,
            dilation,
            groups,
            b is not None,
            mode,
            dtype=xt.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(wt)
            if b is not None:
                conv.bias.copy_(bt)
            return conv(xt).numpy()
    size = x.shape[-2:]
    top, bottom, left, right = per_side(padding, size, w.shape[2:], stride2, dilation2)
    if mode == "symmetric":
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        limits = (size[0], size[0], size[1], size[1])
        if any(p > s for p, s in zip((top, bottom, left, right), limits, strict=True)):
            raise RuntimeError("symmetric padding larger than the input")  # convcli's rule
        padded = torch.from_numpy(np.pad(x, widths, mode="symmetric"))
    elif mode == "zeros":
        padded = F.pad(xt, (left, right, top, bottom))
    else:
        padded = F.pad(xt if not unbatched else xt[None], (left, right, top, bottom), mode=mode)
        padded = padded[0] if unbatched else padded
    return F.conv2d(padded, wt, bt, stride, 0, dilation, groups).numpy()


cases: list[dict] = []
arrays: dict[str, np.ndarray] = {}


def add(kind, args, inputs, compute):
    index = len(cases)
    try:
        expected = compute()
        error = None
    except Exception as exc:  # torch's rejection: record it
        expected, error = None, " ".join(str(exc).split())[:300]
    record = {"kind": kind, "args": args, "error": error}
    for name, value in inputs.items():
        if value is not None:
            arrays[f"{index}/{name}"] = value
    if expected is not None:
        arrays[f"{index}/expected"] = expected.astype(inputs["x"].dtype)
    cases.append(record)


def conv_case(
    batch,
    in_channels,
    out_channels,
    size,
    kernel,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    mode="zeros",
    bias=True,
    dtype=np.float32,
    unbatched=False,
):
    x = sample((batch, in_channels, *size), dtype)
    if unbatched:
        x = x[0]
    w = sample((out_channels, max(in_channels // groups, 1), *kernel), dtype)
    b = sample((out_channels,), dtype) if bias else None
    args = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": mode,
    }
    add(
        "conv2d",
        args,
        {"x": x, "weight": w, "bias": b},
        lambda: torch_conv(x, w, b, stride, padding, dilation, groups, mode),
    )


def transposed_case(
    batch,
    in_channels,
    out_channels,
    size,
    kernel,
    stride=1,
    padding=0,
    output_padding=0,
    dilation=1,
    groups=1,
    bias=True,
    dtype=np.float32,
):
    x = sample((batch, in_channels, *size), dtype)
    w = sample((in_channels, out_channels // groups, *kernel), dtype)
    b = sample((out_channels,), dtype) if bias else None
    args = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "groups": groups,
        "dilation": dilation,
    }

    def compute():
        return F.conv_transpose2d(
            torch.from_numpy(x),
            torch.from_numpy(w),
            None if b is None else torch.from_numpy(b),
            stride,
            padding,
            output_padding,
            groups,
            dilation,
        ).numpy()

    add("conv_transpose2d", args, {"x": x, "weight": w, "bias": b}, compute)


def choice(options):
    return options[int(rng.integers(len(options)))]


# 1. Every kernel size (1..7, and one large) x every mode x every padding form.
for k in (1, 2, 3, 4, 5, 6, 7, 15):
    for mode in MODES:
        for padding in (0, 1, (1, 2), (0, 1, 2, 1), "valid", "same"):
            size = (k + int(rng.integers(0, 6)), k + int(rng.integers(0, 6)))
            if k == 15:
                size = (18, 19)
            stride = 1 if padding == "same" and rng.random() < 0.6 else choice((1, 2, 3, (1, 2)))
            conv_case(1, 2, 2, size, (k, k), stride=stride, padding=padding, mode=mode)

# 2. Rectangular kernels, dilation, groups and depthwise, on random geometry.
for _ in range(320):
    groups = choice((1, 1, 2, 3))
    depthwise = rng.random() < 0.3
    in_channels = groups * int(rng.integers(1, 3))
    if depthwise:
        groups = in_channels
    out_channels = groups * (choice((1, 1, 2)) if depthwise else int(rng.integers(1, 3)))
    kernel = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
    dilation = choice((1, 1, 2, (2, 1), (1, 3)))
    effective = [pair(dilation)[a] * (kernel[a] - 1) + 1 for a in (0, 1)]
    size = (effective[0] + int(rng.integers(0, 7)), effective[1] + int(rng.integers(0, 7)))
    conv_case(
        choice((1, 1, 2)),
        in_channels,
        out_channels,
        size,
        kernel,
        stride=choice((1, 1, 2, 3, (2, 1))),
        padding=choice((0, 1, 2, (2, 0), (1, 0, 0, 2), "valid", "same")),
        dilation=dilation,
        groups=groups,
        mode=choice(MODES),
        bias=rng.random() < 0.7,
        dtype=choice((np.float32, np.float32, np.float64)),
        unbatched=rng.random() < 0.3,
    )

# 3. Transposed convolutions.
for _ in range(160):
    groups = choice((1, 1, 2))
    stride = choice((1, 2, 3, (2, 1)))
    dilation = choice((1, 1, 2))
    limit = [max(pair(stride)[a], pair(dilation)[a]) for a in (0, 1)]
    output_padding = (int(rng.integers(0, limit[0])), int(rng.integers(0, limit[1])))
    transposed_case(
        choice((1, 2)),
        groups * int(rng.integers(1, 3)),
        groups * int(rng.integers(1, 3)),
        (int(rng.integers(2, 7)), int(rng.integers(2, 7))),
        (int(rng.integers(1, 6)), int(rng.integers(1, 6))),
        stride=stride,
        padding=choice((0, 1, (1, 0))),
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
        bias=rng.random() < 0.7,
        dtype=choice((np.float32, np.float64)),
    )

# 4. What PyTorch rejects (the test expects convcli to reject the same).
conv_case(1, 1, 1, (4, 4), (5, 5))  # kernel larger than input
conv_case(1, 1, 1, (4, 4), (3, 3), dilation=2)  # dilated kernel larger than input
conv_case(1, 1, 1, (3, 5), (3, 3), padding=3, mode="reflect")  # reflect pad >= size
conv_case(1, 1, 1, (3, 5), (3, 3), padding=(0, 5), mode="reflect")
conv_case(1, 1, 1, (3, 5), (3, 3), padding=4, mode="circular")  # circular pad > size
conv_case(1, 1, 1, (4, 4), (3, 3), stride=0)
conv_case(1, 1, 1, (4, 4), (3, 3), dilation=0)
conv_case(1, 1, 1, (4, 4), (3, 3), padding=-1)
conv_case(1, 4, 3, (4, 4), (3, 3), groups=3)  # groups does not divide in_channels
conv_case(1, 4, 3, (4, 4), (3, 3), groups=2)  # groups does not divide out_channels
transposed_case(1, 1, 1, (3, 3), (3, 3), stride=2, output_padding=2)  # op >= max(s, d)
transposed_case(1, 1, 1, (3, 3), (3, 3), stride=1, dilation=2, output_padding=2)
transposed_case(1, 1, 1, (2, 2), (2, 2), padding=3)  # negative output
transposed_case(1, 1, 1, (3, 3), (3, 3), stride=0)

arrays["cases"] = np.array(json.dumps(cases))
np.savez_compressed(OUT, **arrays)
rejected = sum(case["error"] is not None for case in cases)
print(
    f"wrote {OUT.name}: {len(cases)} cases ({rejected} rejected by torch), "
    f"{OUT.stat().st_size / 1e6:.2f} MB"
)
