"""max_pool2d, avg_pool2d and min_pool2d against torch, every pooling engine.

Why: the pools have engines of their own (direct windows, reshape for non-overlapping
windows, separable doubling), and ceil_mode, count_include_pad, divisor_override and
dilation each change which windows exist and what they divide by. min_pool2d is compared
with ``-max_pool2d(-x)``. convcli's extensions (four sides, "same") are compared with torch
pooling an explicitly padded input (-inf/+inf for max/min, counts for avg), at
ceil_mode=False; at ceil_mode=True the engines only have to agree on refusing cleanly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from common import (
    Book,
    Recorder,
    call,
    compute_dtype,
    errors,
    layout,
    pair,
    rand_values,
    torch_call,
)

import convcli.core as core

ENGINES = ("auto", "direct", "reshape", "separable")
TOL = {np.float32: 1e-5, np.float64: 1e-12}  # avg: per output, over its bound mean(|x|)
NAMES = ("kernel_size", "stride", "padding", "dilation", "divisor_override")
FLOATS = [np.float32, np.float32, np.float64, np.float64, np.float16]


def int_or_pair(rng: np.random.Generator, lo: int, hi: int, p_int: float = 0.6) -> Any:
    """An int or a pair in [lo, hi]."""
    if rng.random() < p_int:
        return int(rng.integers(lo, hi + 1))
    return (int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1)))


def draw_geometry(rng: np.random.Generator, op: str) -> dict[str, Any]:
    """kernel_size (sometimes a one-element tuple), stride (None and () mean the kernel),
    padding (torch's, four sides or 'same'), dilation (not for avg)."""
    kernel = int_or_pair(rng, 1, 7) if rng.random() >= 0.05 else (int(rng.integers(1, 8)),)
    r = rng.random()
    stride = None if r < 0.3 else (() if r < 0.33 else int_or_pair(rng, 1, 4))
    r = rng.random()
    if r < 0.75:
        padding = int_or_pair(rng, 0, 3, 0.7) if rng.random() < 0.7 else 0
    elif r < 0.85:
        padding = tuple(int(v) for v in rng.integers(0, 4, 4))
    else:
        padding = "same"
    dilation = 1 if op == "avg" or rng.random() < 0.6 else int_or_pair(rng, 1, 3)
    divisor = None
    if op == "avg" and rng.random() < 0.15:
        divisor = int(rng.choice([-3, -1, 1, 2, 3, 5, 9, 100]))
    return dict(kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=bool(rng.random() < 0.4), count_include_pad=bool(rng.random() < 0.5),
                divisor_override=divisor)  # fmt: skip


def inject_invalid(rng: np.random.Generator, case: dict[str, Any]) -> None:
    """Make one argument invalid (dilation and divisor_override only where they exist)."""
    invalid = str(rng.choice(["kernel_size", "stride", "padding", "dilation", "divisor_override"]))
    if invalid == "dilation" and case["op"] == "avg":
        return
    if invalid == "divisor_override" and case["op"] != "avg":
        return
    bad = {"kernel_size": 0, "stride": (1, 0), "padding": -1, "dilation": 0, "divisor_override": 0}
    case["kernel" if invalid == "kernel_size" else invalid] = bad[invalid]
    case["invalid"] = invalid


def draw_case(rng: np.random.Generator) -> dict[str, Any]:
    """One pooling call's arguments, with ties and -0.0 (max/min must keep torch's pick)."""
    op = str(rng.choice(["max", "max", "avg", "avg", "min"]))
    rank = int(rng.choice([4] * 6 + [3, 3, 2]))
    n = int(rng.integers(1, 3)) if rank == 4 else 1
    c = int(rng.integers(1, 9)) if rank >= 3 else 1
    h, w = (int(v) for v in rng.integers(1, 25, 2))
    case = dict(op=op, invalid=None, rank=rank, **draw_geometry(rng, op))
    if rng.random() < 0.07:
        inject_invalid(rng, case)
    xdtype = np.dtype(rng.choice(FLOATS + [np.int32, np.uint8]))
    special = xdtype.kind == "f" and rng.random() < 0.25
    x = rand_values(rng, (n, c, h, w), xdtype, special)
    if xdtype.kind == "f" and rng.random() < 0.2:
        x = np.round(x).astype(xdtype)
        x[x == 0] = -0.0
    case["x"], case["layout"] = layout(rng, x.reshape(x.shape[4 - rank :]))
    case["special"] = special
    return case


def convcli_call(p: dict[str, Any], algo: str) -> tuple[str, Any]:
    """convcli's pool for the case's op, with one engine."""
    geometry = (p["x"], p["kernel"], p["stride"], p["padding"])
    if p["op"] == "avg":
        extra = (p["ceil_mode"], p["count_include_pad"], p["divisor_override"])
        return call(core.avg_pool2d, *geometry, *extra, algorithm=algo)
    fn = core.max_pool2d if p["op"] == "max" else core.min_pool2d
    return call(fn, *geometry, p["dilation"], p["ceil_mode"], algorithm=algo)


def torch_pool(p: dict[str, Any], xt: Any, padding: Any = None) -> tuple[str, Any]:
    """torch's pool of ``xt`` (min as -max(-x)); ``padding`` overrides the case's."""
    padding = p["padding"] if padding is None else padding
    geometry = (p["kernel"], p["stride"], padding)
    if p["op"] == "avg":
        extra = (p["ceil_mode"], p["count_include_pad"], p["divisor_override"])
        return torch_call(F.avg_pool2d, xt, *geometry, *extra)
    sign = 1 if p["op"] == "max" else -1
    status, out = torch_call(F.max_pool2d, sign * xt, *geometry, p["dilation"], p["ceil_mode"])
    return (status, sign * out) if status == "ok" else (status, out)


def extension_pads(p: dict[str, Any], h: int, w: int) -> tuple[tuple[int, ...], tuple[int, int]]:
    """The (top, bottom, left, right) pads of four sides or 'same', and the kernel."""
    kernel = p["kernel"]
    kh, kw = (kernel[0],) * 2 if isinstance(kernel, tuple) and len(kernel) == 1 else pair(kernel)
    if p["padding"] != "same":
        return tuple(p["padding"]), (kh, kw)
    strides = pair(p["stride"]) if p["stride"] not in (None, ()) else (kh, kw)
    out: list[int] = []
    for size, k, s, d in zip((h, w), (kh, kw), strides, pair(p["dilation"]), strict=True):
        total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
        out += [total // 2, total - total // 2]
    return tuple(out), (kh, kw)


def extension_reference(p: dict[str, Any], x64: np.ndarray) -> tuple[str, Any]:
    """torch pooling an explicitly padded input (ceil_mode False): (status, tensor)."""
    (top, bottom, left, right), (kh, kw) = extension_pads(p, *x64.shape[-2:])
    if max(top, bottom) > kh // 2 or max(left, right) > kw // 2:
        return "refuse", "pads > kernel // 2"
    xt = torch.from_numpy(x64)
    pads = (left, right, top, bottom)
    plain = dict(p, padding=0, ceil_mode=False)
    if p["op"] == "avg":
        status, summed = torch_pool(
            dict(plain, count_include_pad=True, divisor_override=1), F.pad(xt, pads)
        )
        if status != "ok":
            return status, summed
        if p["divisor_override"] is not None:
            return "ok", summed / p["divisor_override"]
        ones = F.pad(torch.ones_like(xt), pads, value=1.0 if p["count_include_pad"] else 0.0)
        count = F.avg_pool2d(ones, p["kernel"], p["stride"], 0, False, True, 1)
        return "ok", summed / count
    fill = -np.inf if p["op"] == "max" else np.inf
    return torch_pool(plain, F.pad(xt, pads, value=fill))


def is_extension(p: dict[str, Any]) -> bool:
    """Four sides or 'same': convcli's padding, which torch's pools do not take."""
    padding = p["padding"]
    return isinstance(padding, str) or (isinstance(padding, tuple) and len(padding) == 4)


def shown(p: dict[str, Any]) -> dict[str, Any]:
    """What a mismatch line says about the case."""
    keys = ("kernel", "stride", "padding", "dilation", "ceil_mode", "count_include_pad")
    keys += ("divisor_override", "invalid", "special", "layout", "rank")
    x = np.asarray(p["x"])
    return {key: p[key] for key in keys} | dict(xshape=x.shape, xdtype=str(x.dtype))


def as_batch(p: dict[str, Any]) -> np.ndarray:
    """x as (C, H, W) or (N, C, H, W) in float64 (torch's pools need a channel axis)."""
    x = np.asarray(p["x"])
    x3 = x.reshape((1,) * (3 - x.ndim) + x.shape) if x.ndim < 3 else x
    return np.ascontiguousarray(x3.astype(compute_dtype(x)).astype(np.float64))


def torch_reference(rec: Recorder, case: str, p: dict[str, Any]) -> tuple[str, Any]:
    """torch's float64 answer (and, for torch's own padding, its decision in the compute
    dtype, which must be the same)."""
    x64 = as_batch(p)
    if is_extension(p):
        rec.count("extension cases (explicitly padded reference)")
        return extension_reference(p, x64)
    rec.count("torch-native cases")
    status, out = torch_pool(p, torch.from_numpy(x64))
    x = np.asarray(p["x"])
    x_cd = x.reshape((1,) * (3 - x.ndim) + x.shape) if x.ndim < 3 else x
    narrow = torch.from_numpy(np.ascontiguousarray(x_cd.astype(compute_dtype(x))))
    if torch_pool(p, narrow)[0] != status:
        rec.mismatch("harness-torch-dtype-decision", case, **shown(p))
    return status, out


def check_refusal(
    rec: Recorder, case: str, p: dict[str, Any], algo: str, result: tuple, torch_says: Any
) -> None:
    """torch refuses: so must every engine, naming a parameter."""
    status, out = result
    if status == "ok":
        rec.mismatch(
            "accepted-where-torch-refuses",
            case,
            algo,
            **shown(p),
            torch=torch_says,
            shape=out.shape,
        )
    elif not any(name in out for name in NAMES):
        rec.mismatch("message-not-naming-param", case, algo, **shown(p), msg=out, torch=torch_says)
    else:
        rec.compare(f"{algo} (refusals)")


def check_values(
    rec: Recorder, case: str, p: dict[str, Any], algo: str, out: np.ndarray, ref: np.ndarray
) -> None:
    """Shape and dtype; max/min bit for bit (NaN where torch has it); avg within the
    tolerance of its bound, the average of |x|."""
    x = np.asarray(p["x"])
    cd = compute_dtype(x)
    ref = ref.reshape(ref.shape[3 - x.ndim :]) if x.ndim < 3 else ref
    if out.shape != ref.shape:
        rec.mismatch("wrong-shape", case, algo, **shown(p), got=out.shape, want=ref.shape)
        return
    if out.dtype != cd:
        rec.mismatch("wrong-dtype", case, algo, **shown(p), got=str(out.dtype))
    o64 = out.astype(np.float64)
    if p["op"] != "avg":
        if not np.array_equal(o64, ref, equal_nan=True):
            same_nan = np.array_equal(np.isnan(o64), np.isnan(ref))
            rec.mismatch("wrong-values" if same_nan else "nan-pattern", case, algo, **shown(p))
        return
    if not (
        np.array_equal(np.isnan(o64), np.isnan(ref))
        and np.array_equal(np.isinf(o64), np.isinf(ref))
    ):
        rec.mismatch("nonfinite-pattern", case, algo, **shown(p))
        return
    magnitude = np.abs(as_batch(p))
    magnitude[~np.isfinite(magnitude)] = 0
    divisor = p["divisor_override"]
    bounded = dict(p, divisor_override=None if divisor is None else abs(divisor))
    if is_extension(p):
        bound = extension_reference(bounded, magnitude)[1]
    else:
        bound = torch_pool(bounded, torch.from_numpy(magnitude))[1]
    bound = bound.numpy().reshape(ref.shape)
    finite = np.isfinite(ref)
    e = errors(np.where(finite, o64, 0), np.where(finite, ref, 0), np.where(finite, bound, 0))
    rec.err(algo, np.dtype(cd).name, e[1], case)
    if e[1] > TOL[cd]:
        rec.mismatch("wrong-values", case, algo, **shown(p), err=e)


def check_case(rec: Recorder, case: str, p: dict[str, Any]) -> None:
    """One drawn case through every engine."""
    if is_extension(p) and (p["ceil_mode"] or p["invalid"]):
        rec.count("extension at ceil_mode or invalid (clean outcome only)")
        for algo in ENGINES:
            status, out = convcli_call(p, algo)
            if status == "other":
                rec.mismatch("non-ValueError", case, algo, **shown(p), err=out)
        return
    tstatus, tout = torch_reference(rec, case, p)
    for algo in ENGINES:
        status, out = convcli_call(p, algo)
        if status == "other":
            rec.mismatch("non-ValueError", case, algo, **shown(p), err=out, torch=str(tout)[:200])
        elif tstatus != "ok":
            check_refusal(rec, case, p, algo, (status, out), tout)
        elif status != "ok":
            if algo == "reshape" and "reshape" in out:
                rec.count("reshape n/a")
            else:
                rec.mismatch("refused-where-torch-accepts", case, algo, **shown(p), msg=out)
        else:
            rec.compare(algo)
            check_values(rec, case, p, algo, out, tout.numpy())


def main(book: Book, cases: int, seed: int) -> None:
    """``cases`` random cases."""
    run(book, cases, (seed, 0))


def run(book: Book, cases: int, seed: Any, tag: str = "small") -> None:
    """``cases`` random cases, recorded as max_pool2d, avg_pool2d or min_pool2d."""
    rng = np.random.default_rng(seed)
    for index in range(cases):
        p = draw_case(rng)
        rec = book[f"{p['op']}_pool2d"]
        rec.cases += 1
        check_case(rec, f"{tag}/{index}", p)
