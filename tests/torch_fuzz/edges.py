"""Fixed edge cases the random draws never reach: empty axes (batch, channels, height,
width, either side of a weight), torch's one-element tuples (``stride=(2,)``), and the
calls torch float32 accepts but float64 refuses.

Why: the first run of the fuzzers found convcli raising ZeroDivisionError and IndexError
on empty axes, and refusing one-element tuples, where torch answers; these cases keep them
fixed. Each runs with float32 and float64 input, torch in the same dtype; where torch
float32 accepts and convcli refuses, torch float64's decision goes with the mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from common import Book, Recorder, call, torch_call
from fuzz_conv import ENGINES as CONV_ENGINES
from fuzz_pad import check as check_pad
from fuzz_pool import ENGINES as POOL_ENGINES

import convcli.core as core

# (label, x shape, weight shape, keyword arguments), the same for convcli and torch.
CONV = (
    ("empty batch", (0, 1, 4, 4), (1, 1, 2, 2), {}),
    ("x with 0 channels", (1, 0, 4, 4), (2, 0, 2, 2), {}),
    ("weight with 0 output channels", (1, 1, 4, 4), (0, 1, 2, 2), {}),
    ("empty height", (1, 1, 0, 4), (1, 1, 1, 1), {}),
    ("stride=(2,)", (1, 1, 8, 8), (1, 1, 3, 3), {"stride": (2,)}),
    ("padding=(1,)", (1, 1, 8, 8), (1, 1, 3, 3), {"padding": (1,)}),
    ("dilation=(2,)", (1, 1, 8, 8), (1, 1, 3, 3), {"dilation": (2,)}),
)
TRANSPOSE = (
    ("empty batch", (0, 1, 4, 4), (1, 1, 2, 2), {}),
    ("x with 0 channels", (1, 0, 4, 4), (0, 1, 2, 2), {}),
    ("weight with 0 output channels", (1, 1, 4, 4), (1, 0, 2, 2), {}),
    ("stride=(2,)", (1, 1, 8, 8), (1, 1, 3, 3), {"stride": (2,)}),
    ("padding=(1,)", (1, 1, 8, 8), (1, 1, 3, 3), {"padding": (1,)}),
    ("output_padding=(1,)", (1, 1, 8, 8), (1, 1, 3, 3), {"stride": 2, "output_padding": (1,)}),
    ("output exactly 0 wide", (1, 1, 3, 1), (1, 2, 4, 4), {"stride": 2, "padding": (2, 2)}),
    ("dilation 0 on a 1-tap axis", (2, 1, 12, 2), (1, 3, 6, 1), {"stride": 3, "dilation": (1, 0)}),
)
POOLS = (
    ("empty batch", (0, 1, 4, 4), {"kernel_size": 2}),
    ("x with 0 channels", (1, 0, 4, 4), {"kernel_size": 2}),
    ("empty height", (1, 1, 0, 4), {"kernel_size": 1}),
    ("empty width", (1, 1, 4, 0), {"kernel_size": 1}),
    ("kernel_size=(2,)", (1, 1, 8, 8), {"kernel_size": (2,)}),
    ("stride=(1,)", (1, 1, 8, 8), {"kernel_size": 2, "stride": (1,)}),
    ("padding=(1,)", (1, 1, 8, 8), {"kernel_size": 2, "padding": (1,)}),
    ("dilation=(2,)", (1, 1, 8, 8), {"kernel_size": 2, "dilation": (2,)}),
)
PAD_SHAPES = ((0, 1, 4, 4), (1, 0, 4, 4), (1, 1, 0, 4), (1, 1, 4, 0), (0, 4), (4, 0))


def compare(rec: Recorder, case: str, engine: str, info: dict, calls: tuple) -> None:
    """convcli's outcome against torch's in the input's dtype: both refuse, or the same
    shape and values (float32: to 1e-5 of the largest value)."""
    convcli_call, torch_in = calls
    status, out = convcli_call()
    tstatus, tout = torch_in(info["xdtype"])
    if status == "other":
        rec.mismatch("non-ValueError", case, engine, **info, err=out)
    elif status != "ok" and engine in ("separable", "reshape") and engine in out:
        rec.count(f"{engine} n/a")  # the engine does not apply, and says so
    elif tstatus == "ok" and status != "ok":
        float64 = torch_in("float64")[0]
        float32_only = info["xdtype"] == "float32" and float64 != "ok"
        rec.mismatch(
            "refused-where-torch-accepts", case, engine, **info, msg=out,
            torch_shape=tuple(tout.shape), torch_float64=float64, float32_only=float32_only,
        )  # fmt: skip
    elif tstatus != "ok" and status == "ok":
        rec.mismatch("accepted-where-torch-refuses", case, engine, **info, torch=tout)
    elif tstatus != "ok":
        rec.compare(f"{engine} (refusals)")
    elif out.shape != tuple(tout.shape):
        rec.mismatch("wrong-shape", case, engine, **info, got=out.shape, want=tuple(tout.shape))
    else:
        rec.compare(engine)
        t = tout.numpy().astype(np.float64)
        scale = max(float(np.abs(t).max(initial=0.0)), 1.0)
        tol = 1e-5 if info["xdtype"] == "float32" else 1e-12
        if not np.allclose(out, t, rtol=0, atol=tol * scale):
            rec.mismatch("wrong-values", case, engine, **info)


def tensors(dtype: str, *arrays: np.ndarray) -> list[Any]:
    """The arrays as torch tensors of ``dtype``."""
    return [torch.from_numpy(np.ascontiguousarray(a.astype(dtype))) for a in arrays]


def conv_edges(book: Book, rng: np.random.Generator) -> None:
    """conv2d (every engine) and conv_transpose2d on the CONV and TRANSPOSE cases."""
    for function, table, engines in (
        ("conv2d", CONV, CONV_ENGINES),
        ("conv_transpose2d", TRANSPOSE, ("-",)),
    ):
        rec = book[f"{function} edges"]
        torch_fn: Callable[..., Any] = getattr(F, function)
        convcli_fn: Callable[..., Any] = getattr(core, function)
        for (label, xshape, wshape, kwargs), dtype in _with_dtypes(table):
            rec.cases += 1
            x = rng.standard_normal(xshape).astype(dtype)
            w = rng.standard_normal(wshape).astype(dtype)
            info = dict(xshape=xshape, wshape=wshape, xdtype=dtype, **kwargs)
            torch_in = partial(torch_in_dtype, torch_fn, (x, w), kwargs)
            for engine in engines:
                options = {} if engine == "-" else {"algorithm": engine}
                convcli_call = partial(call, convcli_fn, x, w, **kwargs, **options)
                compare(rec, label, engine, info, (convcli_call, torch_in))


def torch_in_dtype(
    fn: Callable[..., Any], arrays: tuple, kwargs: dict, dtype: str
) -> tuple[str, Any]:
    """torch's ``fn`` of the arrays in ``dtype``."""
    return torch_call(fn, *tensors(dtype, *arrays), **kwargs)


def torch_pool(op: str, x: np.ndarray, kwargs: dict, dtype: str) -> tuple[str, Any]:
    """torch's pool (min as -max(-x)) in ``dtype``."""
    (xt,) = tensors(dtype, x)
    if op == "avg":
        return torch_call(F.avg_pool2d, xt, **kwargs)
    sign = 1 if op == "max" else -1
    status, out = torch_call(F.max_pool2d, sign * xt, **kwargs)
    return (status, sign * out) if status == "ok" else (status, out)


def pool_edges(book: Book, rng: np.random.Generator) -> None:
    """The pools (every engine) on the POOLS cases."""
    for op in ("max", "avg", "min"):
        rec = book[f"{op}_pool2d edges"]
        convcli_fn = getattr(core, f"{op}_pool2d")
        for (label, xshape, kwargs), dtype in _with_dtypes(POOLS):
            if op == "avg" and "dilation" in kwargs:
                continue
            rec.cases += 1
            x = rng.standard_normal(xshape).astype(dtype)
            info = dict(xshape=xshape, xdtype=dtype, **kwargs)
            torch_in = partial(torch_pool, op, x, kwargs)
            for engine in POOL_ENGINES:
                convcli_call = partial(call, convcli_fn, x, **kwargs, algorithm=engine)
                compare(rec, label, engine, info, (convcli_call, torch_in))


def pad_edges(book: Book) -> None:
    """pad2d on empty axes, every mode: F.pad's answer, np.pad's beyond it."""
    rec = book["pad2d edges"]
    for shape in PAD_SHAPES:
        for mode in ("zeros", "reflect", "replicate", "circular", "symmetric"):
            rec.cases += 1
            p = dict(x=np.ones(shape, np.float32), pads=(1, 1, 1, 1), mode=mode, layout="c")
            check_pad(rec, f"empty axis {shape}", p)


def _with_dtypes(table: tuple) -> list[tuple[Any, str]]:
    """Every case of a table with float32 and with float64 input."""
    return [(entry, dtype) for entry in table for dtype in ("float32", "float64")]


def main(book: Book, cases: int = 0, seed: int = 0) -> None:
    """Every fixed edge case (``cases`` and ``seed`` are not used)."""
    rng = np.random.default_rng(3)
    conv_edges(book, rng)
    pool_edges(book, rng)
    pad_edges(book)
