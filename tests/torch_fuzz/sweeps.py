"""Exhaustive one-axis geometry sweeps: conv2d (every padding mode torch has, int, 'same'
and 'valid' padding), conv_transpose2d and the pools, against torch in float64.

Why: random cases rarely land on the exact edges of the size formulas (a window that
just fits, a ceil_mode window that starts in the padding, output_padding equal to the
stride); every small geometry along one axis does. Each axis is independent, so one axis
swept (the other of size 1, or 3 for conv2d) covers the rules; the checks are accept/refuse,
the shape and the values.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from common import TORCH_MODES, Book, Recorder, call, torch_call

import convcli.core as core

METRIC = "max |convcli - torch| (float64, allclose at 1e-10 / 1e-12)"


def torch_conv(xt: Any, wt: Any, s: tuple, pad: Any, d: tuple, mode: str) -> tuple[str, Any]:
    """nn.Conv2d's forward for a problem along H: F.pad for the border modes."""
    if mode == "zeros":
        return torch_call(F.conv2d, xt, wt, None, s, pad, d)
    k = wt.shape[2]
    if pad == "same":
        if s != (1, 1):
            return "refuse", "same+stride"
        total = d[0] * (k - 1)
        pads = (0, 0, total // 2, total - total // 2)
    else:
        pads = (0, 0, 0, 0) if pad == "valid" else (0, 0, pad[0], pad[0])
    status, padded = torch_call(F.pad, xt, pads, TORCH_MODES[mode])
    if status != "ok":
        return status, padded
    return torch_call(F.conv2d, padded, wt, None, s, 0, d)


def conv_extension(mode: str, size: int, k: int, s: int, p: Any, d: int) -> bool:
    """What convcli takes beyond torch: 'same' with a stride, reflect pads >= the size,
    circular pads > the size (either given or from 'same')."""
    half = d * (k - 1) - d * (k - 1) // 2 if p == "same" else p
    if p == "same" and s > 1:
        return True
    if isinstance(half, str):
        return False
    return (mode == "reflect" and half >= size) or (mode == "circular" and half > size)


def check_pair(rec: Recorder, algo: str, meta: dict, results: tuple, rtol: float) -> None:
    """convcli's outcome against torch's (``extension``: convcli may accept what torch refuses)."""
    (status, out), (tstatus, tout), extension = results
    if status == "other":
        rec.mismatch("non-ValueError", "sweep", algo, **meta, err=out)
    elif tstatus == "ok" and status != "ok":
        rec.mismatch("refused-where-torch-accepts", "sweep", algo, **meta, msg=out,
                     torch_shape=tuple(tout.shape))  # fmt: skip
    elif tstatus != "ok" and status == "ok" and not extension:
        rec.mismatch("accepted-where-torch-refuses", "sweep", algo, **meta, torch=tout)
    elif tstatus == "ok":
        rec.compare(algo)
        t = tout.numpy()
        if out.shape != t.shape:
            rec.mismatch("wrong-shape", "sweep", algo, **meta, got=out.shape, want=t.shape)
            return
        rec.err(algo, "float64", float(np.abs(out - t).max(initial=0.0)), "sweep")
        if not np.allclose(out, t, rtol=rtol, atol=rtol):
            rec.mismatch("wrong-values", "sweep", algo, **meta)
    elif status == "ok":
        rec.count(f"{algo}: extension (torch refuses)")
    elif not any(name in out for name in ("kernel", "padding", "stride", "dilation", "output")):
        rec.mismatch("message-not-naming-param", "sweep", algo, **meta, msg=out, torch=tout)
    else:
        rec.compare(f"{algo} (refusals)")


def sweep_conv(rec: Recorder) -> None:
    """conv2d along H: sizes 1-8, kernels 1-5, strides, pads, dilations, four modes."""
    rng = np.random.default_rng(7)
    modes = ("zeros", "reflect", "replicate", "circular")
    paddings = (0, 1, 2, 3, 4, 5, 8, "same", "valid")
    grid = itertools.product(modes, range(1, 9), range(1, 6), (1, 2, 3), paddings, (1, 2, 3))
    for mode, size, k, s, p, d in grid:
        rec.cases += 1
        x = rng.standard_normal((1, 2, size, 3))
        w = rng.standard_normal((3, 2, k, 1))
        pad = p if isinstance(p, str) else (p, 0)
        torch_result = torch_conv(
            torch.from_numpy(x), torch.from_numpy(w), (s, 1), pad, (d, 1), mode
        )
        meta = dict(mode=mode, size=size, k=k, stride=s, padding=p, dilation=d)
        extension = conv_extension(mode, size, k, s, p, d)
        for algo in ("auto", "direct", "gemm", "fft"):
            result = call(core.conv2d, x, w, None, (s, 1), pad, (d, 1), 1, mode, algo)
            check_pair(rec, algo, meta, (result, torch_result, extension), 1e-10)


def sweep_transpose(rec: Recorder) -> None:
    """conv_transpose2d along H: sizes, kernels, strides, pads, output_padding, dilations."""
    rng = np.random.default_rng(8)
    grid = itertools.product(range(1, 7), range(1, 6), (1, 2, 3), range(5), range(4), (1, 2, 3))
    for size, k, s, p, op, d in grid:
        rec.cases += 1
        x = rng.standard_normal((1, 2, size, 2))
        w = rng.standard_normal((2, 3, k, 1))
        args = (None, (s, 1), (p, 0), (op, 0), 1, (d, 1))
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        torch_result = torch_call(F.conv_transpose2d, xt, wt, *args)
        result = call(core.conv_transpose2d, x, w, *args)
        meta = dict(size=size, k=k, stride=s, padding=p, output_padding=op, dilation=d)
        check_pair(rec, "-", meta, (result, torch_result, False), 1e-10)


def pool_calls(op: str, x: np.ndarray, geometry: tuple, ceil: bool, cip: bool) -> tuple:
    """(convcli's outcome, torch's outcome) of one pool along one axis."""
    kk, ss, pp, dd = geometry
    xt = torch.from_numpy(x)
    if op == "avg":
        return (
            call(core.avg_pool2d, x, kk, ss, pp, ceil, cip),
            torch_call(F.avg_pool2d, xt, kk, ss, pp, ceil, cip),
        )
    sign, fn = (1, core.max_pool2d) if op == "max" else (-1, core.min_pool2d)
    status, out = torch_call(F.max_pool2d, sign * xt, kk, ss, pp, dd, ceil)
    return call(fn, x, kk, ss, pp, dd, ceil), (status, sign * out if status == "ok" else out)


def sweep_pools(book: Book) -> None:
    """max/avg/min along H and W: sizes 1-10, kernels 1-5, strides (None too), pads 0-3,
    dilations, ceil_mode and count_include_pad."""
    rng = np.random.default_rng(5)
    grid = itertools.product(
        (0, 1), ("max", "avg", "min"), range(1, 11), range(1, 6), (None, 1, 2, 3, 4), range(4),
        (1, 2, 3), (False, True), (True, False),
    )  # fmt: skip
    for axis, op, size, k, s, p, d, ceil, cip in grid:
        if (op == "avg" and d != 1) or (op != "avg" and not cip):
            continue  # avg has no dilation, max/min no count_include_pad
        rec = book[f"{op}_pool2d sweep"]
        rec.metric = METRIC
        rec.cases += 1
        along = (lambda v: (v, 1)) if axis == 0 else (lambda v: (1, v))
        pad = (p, 0) if axis == 0 else (0, p)
        geometry = (along(k), None if s is None else along(s), pad, along(d))
        x = rng.standard_normal((1, 2, size, 1) if axis == 0 else (1, 2, 1, size))
        meta = dict(op=op, axis=axis, size=size, kernel=k, stride=s, padding=p, dilation=d,
                    ceil_mode=ceil, count_include_pad=cip)  # fmt: skip
        result, torch_result = pool_calls(op, x, geometry, ceil, cip)
        check_pair(rec, "auto", meta, (result, torch_result, False), 1e-12)


def main(book: Book, cases: int = 0, seed: int = 0) -> None:
    """Every sweep (fixed grids: ``cases`` and ``seed`` are not used)."""
    for name, sweep in (("conv2d sweep", sweep_conv), ("conv_transpose2d sweep", sweep_transpose)):
        rec = book[name]
        rec.metric = METRIC
        sweep(rec)
    sweep_pools(book)
