"""Generate tests/data/shape_torch.json: what PyTorch says about layer shapes and costs.

tests/test_geometry.py checks convcli.geometry against every case and never imports torch.
Re-run after changing the grid, with the PyTorch venv (about a minute on 2 cores):

    /work/torchenv/bin/python tests/data/make_shape_fixture.py

Real ``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.MaxPool2d`` and ``nn.AvgPool2d`` run on
small zero tensors over a broad grid: odd, even and tiny sizes, square and rectangular
kernels 1..7, strides 1..4, symmetric and asymmetric padding (asymmetric via ``F.pad``
before a padding-0 conv), dilation 1..3, groups, ``ceil_mode``, ``output_padding``.

The JSON has one table per layer type, each ``{"fields": [...], "cases": [[...], ...]}``
(one row per case, to keep the file small):

- ``conv``: input ``[C, H, W]``, ``kernel``, ``stride``, ``padding`` ``[top, bottom, left,
  right]``, ``dilation``, ``groups``, ``out_channels``, ``bias``; then ``output`` (``[C, H,
  W]``), ``params`` (sum of ``numel`` over the module's parameters) and ``flops``
  (``torch.utils.flop_counter.FlopCounterMode``, 2 per multiply-accumulate), or
  ``output = null`` and ``error`` (what torch rejected: ``size``, ``groups``).
- ``deconv``: the same with ``output_padding``; padding is symmetric per axis
  (``ConvTranspose2d`` has no other kind); errors also ``output_padding``.
- ``pool``: ``op`` (max, avg), input, kernel, stride (null = default), padding ``[h, w]``,
  dilation, ``ceil_mode``; ``output`` or ``error`` (``size``, ``padding``).
- ``same``: stride-1 ``Conv2d(padding='same')``: input ``[H, W]``, kernel, dilation, and the
  ``pads`` ``[top, bottom, left, right]`` torch applied, read off a delta kernel's output.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

OUT = Path(__file__).with_name("shape_torch.json")
SIZES = [(1, 1), (2, 2), (3, 3), (5, 5), (8, 8), (11, 11), (16, 16), (7, 12), (17, 4)]
KERNELS = [1, 2, 3, 4, 5, 7, (3, 5), (1, 7), (7, 1)]
STRIDES = [1, 2, 3, 4, (2, 1)]
PADDINGS = [0, 1, 2, 3, (1, 0), (0, 1, 0, 1), (1, 0, 2, 0), (2, 3, 2, 3)]
DILATIONS = [1, 2, 3, (1, 2)]
# (in_channels, out_channels, groups): cycled through the grid, some invalid on purpose.
CHANNELS = [
    (1, 1, 1),
    (3, 8, 1),
    (4, 8, 2),
    (6, 4, 2),
    (3, 6, 3),
    (4, 6, 4),
    (6, 9, 3),
    (4, 4, 4),
    (4, 6, 3),
    (2, 3, 1),
]


def pair(value):
    return [value, value] if isinstance(value, int) else list(value)


def four(value):
    if isinstance(value, int):
        return [value] * 4
    if len(value) == 2:
        return [value[0], value[0], value[1], value[1]]
    return list(value)


def classify(error: Exception) -> str:
    text = str(error).lower()
    if "output padding" in text or "output_padding" in text:
        return "output_padding"
    if "groups" in text:
        return "groups"
    if "pad should be" in text or "pad should be at most half" in text:
        return "padding"
    if any(m in text for m in ("too small", "output size", "negative dimension", "greater than")):
        return "size"
    raise RuntimeError(f"unclassified torch error: {error}")


def measure(build, input_shape, pads=None) -> tuple[list[int], int, int]:
    """Build a module on CPU, run it on zeros: output ``[C, H, W]``, FLOPs, parameters.

    oneDNN's grouped kernels fail with "could not construct a memory descriptor" before
    torch's own size check runs; the meta device runs that check, so it names the reason.
    """

    def run(device: str):
        module = build(device)
        x = torch.zeros(1, *input_shape, device=device)
        if pads is not None:
            x = F.pad(x, (pads[2], pads[3], pads[0], pads[1]))
        with FlopCounterMode(display=False) as counter:
            y = module(x)
        params = sum(p.numel() for p in module.parameters())
        return list(y.shape[1:]), counter.get_total_flops(), params

    try:
        return run("cpu")
    except RuntimeError as error:
        if "memory descriptor" not in str(error):
            raise
        run("meta")  # raises torch's real reason
        raise RuntimeError(f"cpu rejected what meta accepts: {input_shape}") from error


def conv_cases() -> list[list]:
    rows = []
    conv_sizes = [size for size in SIZES if size not in ((2, 2), (11, 11))]
    grid = itertools.product(conv_sizes, KERNELS, STRIDES, PADDINGS, DILATIONS)
    for index, (size, kernel, stride, padding, dilation) in enumerate(grid):
        c_in, c_out, groups = CHANNELS[index % len(CHANNELS)]
        bias = index % 3 != 0
        pads = four(padding)
        row = [[c_in, *size], pair(kernel), pair(stride), pads, pair(dilation), groups, c_out, bias]

        def build(
            device,
            c_in=c_in,
            c_out=c_out,
            kernel=kernel,
            stride=stride,
            dilation=dilation,
            groups=groups,
            bias=bias,
        ):
            # Padding 0 here: the pads, symmetric or not, are applied by F.pad.
            return nn.Conv2d(c_in, c_out, kernel, stride, 0, dilation, groups, bias, device=device)

        try:
            output, flops, params = measure(build, [c_in, *size], pads)
            rows.append([*row, output, params, flops, None])
        except (RuntimeError, ValueError) as error:
            rows.append([*row, None, None, None, classify(error)])
    return rows


def deconv_cases() -> list[list]:
    rows = []
    grid = itertools.product(
        SIZES[:6], [1, 2, 3, 4, (3, 5)], [1, 2, 3, (2, 1)], [0, 1, 2, (1, 0)], [0, 1, 2], [1, 2]
    )
    for index, (size, kernel, stride, padding, output_padding, dilation) in enumerate(grid):
        c_in, c_out, groups = CHANNELS[index % len(CHANNELS)]
        bias = index % 2 == 0
        row = [
            [c_in, *size],
            pair(kernel),
            pair(stride),
            four(padding),
            pair(dilation),
            groups,
            c_out,
            bias,
            pair(output_padding),
        ]

        def build(
            device,
            c_in=c_in,
            c_out=c_out,
            kernel=kernel,
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            groups=groups,
            bias=bias,
            dilation=dilation,
        ):
            return nn.ConvTranspose2d(
                c_in,
                c_out,
                kernel,
                stride,
                padding,
                output_padding,
                groups,
                bias,
                dilation,
                device=device,
            )

        try:
            output, flops, params = measure(build, [c_in, *size])
            rows.append([*row, output, params, flops, None])
        except (RuntimeError, ValueError) as error:
            rows.append([*row, None, None, None, classify(error)])
    return rows


def pool_cases() -> list[list]:
    rows = []
    for op in ("max", "avg"):
        grid = itertools.product(
            SIZES,
            [1, 2, 3, 4, 5, (2, 3)],
            [None, 1, 2, 3, (1, 2)],
            [0, 1, 2, (1, 0)],
            [1, 2] if op == "max" else [1],
            [False, True],
        )
        for size, kernel, stride, padding, dilation, ceil_mode in grid:
            row = [
                op,
                [2, *size],
                pair(kernel),
                None if stride is None else pair(stride),
                pair(padding),
                pair(dilation),
                ceil_mode,
            ]
            try:
                if op == "max":
                    module = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
                else:
                    module = nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil_mode)
                output = list(module(torch.zeros(1, 2, *size)).shape[1:])
                rows.append([*row, output, None])
            except (RuntimeError, ValueError) as error:
                rows.append([*row, None, classify(error)])
    return rows


def same_cases() -> list[list]:
    rows = []
    for size, kernel, dilation in itertools.product(SIZES, KERNELS + [6, (2, 4)], [1, 2, 3]):
        kh, kw = pair(kernel)
        module = nn.Conv2d(1, 1, (kh, kw), padding="same", dilation=dilation, bias=False)
        with torch.no_grad():
            module.weight.zero_()
            module.weight[0, 0, 0, 0] = 1.0  # out[y, x] = padded[y, x]
            x = torch.arange(1, size[0] * size[1] + 1, dtype=torch.float32).reshape(1, 1, *size)
            y = module(x)[0, 0]
        where = (y == 1).nonzero()
        if len(where):
            top, left = (int(v) for v in where[0])
        else:  # the first input pixel is never at a window's top-left tap
            top, left = None, None
        # Output size equals input size, so the totals follow from the effective kernel.
        total_h = dilation * (kh - 1)
        total_w = dilation * (kw - 1)
        pads = None if top is None else [top, total_h - top, left, total_w - left]
        rows.append([list(size), [kh, kw], dilation, list(y.shape), pads])
    return rows


def main() -> None:
    torch.manual_seed(0)
    tables = {
        "conv": (
            [
                "input",
                "kernel",
                "stride",
                "padding",
                "dilation",
                "groups",
                "out_channels",
                "bias",
                "output",
                "params",
                "flops",
                "error",
            ],
            conv_cases(),
        ),
        "deconv": (
            [
                "input",
                "kernel",
                "stride",
                "padding",
                "dilation",
                "groups",
                "out_channels",
                "bias",
                "output_padding",
                "output",
                "params",
                "flops",
                "error",
            ],
            deconv_cases(),
        ),
        "pool": (
            [
                "op",
                "input",
                "kernel",
                "stride",
                "padding",
                "dilation",
                "ceil_mode",
                "output",
                "error",
            ],
            pool_cases(),
        ),
        "same": (["input", "kernel", "dilation", "output", "pads"], same_cases()),
    }
    lines = ["{", f'  "torch": {json.dumps(torch.__version__)},']
    for position, (name, (fields, cases)) in enumerate(tables.items()):
        lines.append(f'  "{name}": {{"fields": {json.dumps(fields)}, "cases": [')
        lines += [
            "    " + json.dumps(case, separators=(",", ":")) + ("," if i < len(cases) - 1 else "")
            for i, case in enumerate(cases)
        ]
        lines.append("  ]}" + ("," if position < len(tables) - 1 else ""))
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n")
    counts = {name: len(cases) for name, (_, cases) in tables.items()}
    print(f"wrote {OUT} {counts}")


if __name__ == "__main__":
    main()
