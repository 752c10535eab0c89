"""conv_transpose2d against torch: strides, dilations, output_padding, groups, ranks.

Why: ``convcli.core.conv_transpose2d`` scatters taps by output phase, a different
arithmetic from torch's; the output size rules (output_padding below the stride or the
dilation, outputs that come out empty) are where it can differ from torch without a
values test noticing. Torch runs in the compute dtype (its accept/refuse decision) and in
float64 (the reference); where torch float32 accepts what convcli refuses, torch float64's
decision is kept with the mismatch (``torch_float64``), since torch float32 (oneDNN) accepts
some calls float64 refuses.
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
    nan_pattern_equal,
    pair,
    rand_values,
    torch_call,
)

import convcli.core as core

TOL = {np.float32: 1e-5, np.float64: 1e-12}  # per output, over its bound sum(|x| |w|)
ENGINE = "-"  # conv_transpose2d has one engine (no algorithm parameter)
NAMES = ("stride", "dilation", "padding", "output_padding", "groups", "output", "kernel")


def int_or_pair(rng: np.random.Generator, lo: int, hi: int, p_single: float = 0.5) -> Any:
    """An int or a pair in [lo, hi]."""
    if rng.random() < p_single:
        return int(rng.integers(lo, hi + 1))
    return (int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1)))


def draw_channels(rng: np.random.Generator, rank: int) -> tuple[str, int, int, int]:
    """(kind, in channels, groups, out channels per group)."""
    kind = str(rng.choice(["dense", "grouped", "depthwise", "single"]))
    if kind == "single" or rank == 2:
        cin, groups, cout_g = 1, 1, int(rng.integers(1, 4))
    elif kind == "dense":
        cin, groups, cout_g = int(rng.integers(1, 9)), 1, int(rng.integers(1, 9))
    elif kind == "grouped":
        groups = int(rng.choice([2, 3, 4]))
        cin, cout_g = (
            groups * int(rng.integers(1, 8 // groups + 1)),
            int(rng.integers(1, 8 // groups + 1)),
        )
    else:
        cin = int(rng.integers(1, 9))
        groups, cout_g = cin, int(rng.integers(1, 3))
    return kind, cin, groups, 1 if rank == 2 else cout_g


def draw_output_padding(rng: np.random.Generator, stride: Any, dilation: Any) -> Any:
    """Mostly valid (below max(stride, dilation) on each axis), sometimes not."""
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    if rng.random() < 0.5:
        return 0
    if rng.random() < 0.85:
        return (int(rng.integers(0, max(sh, dh))), int(rng.integers(0, max(sw, dw))))
    return int_or_pair(rng, 0, 4)


def draw_weight(
    rng: np.random.Generator, shape: tuple[int, ...], cd: Any
) -> tuple[np.ndarray, str]:
    """Normal, whole-number, sparse or zero taps (zero taps must still carry NaN)."""
    wkind = str(rng.choice(["normal", "int", "sparse", "zeros"], p=[0.6, 0.2, 0.15, 0.05]))
    weight = rng.standard_normal(shape)
    if wkind == "int":
        weight = rng.integers(-3, 4, shape).astype(float)
    elif wkind == "sparse":
        weight *= rng.random(shape) < 0.4
    elif wkind == "zeros":
        weight[:] = 0
    return weight.astype(rng.choice([cd, np.float64])), wkind


def inject_invalid(rng: np.random.Generator, case: dict[str, Any]) -> None:
    """Make one argument invalid (recorded in ``case['invalid']``)."""
    invalid = case["invalid"] = str(
        rng.choice(["stride", "dilation", "padding", "output_padding", "groups"])
    )
    bad = {"stride": 0, "dilation": (1, 0), "padding": -1, "output_padding": -1, "groups": 0}
    case[invalid] = bad[invalid]


def draw_case(rng: np.random.Generator) -> dict[str, Any]:
    """One conv_transpose2d call's arguments, with what the checks need to know."""
    rank = int(rng.choice([4] * 8 + [3, 2]))
    kind, cin, groups, cout_g = draw_channels(rng, rank)
    n = int(rng.integers(1, 3)) if rank == 4 else 1
    kh, kw = (int(v) for v in rng.integers(1, 8, 2))
    h, w = (int(v) for v in rng.integers(1, 13, 2))
    stride = int_or_pair(rng, 1, 4) if rng.random() < 0.8 else 1
    dilation = int_or_pair(rng, 1, 3) if rng.random() < 0.4 else 1
    padding = int_or_pair(rng, 0, 4) if rng.random() < 0.7 else 0
    output_padding = draw_output_padding(rng, stride, dilation)
    xdtype = np.dtype(rng.choice([np.float32, np.float64, np.int32, np.uint8]))
    cd = compute_dtype(np.zeros(0, xdtype))
    special = xdtype.kind == "f" and rng.random() < 0.05
    x = rand_values(rng, (n, cin, h, w), xdtype, special)
    weight, wkind = draw_weight(rng, (cin, cout_g, kh, kw), cd)
    bias = rng.standard_normal(cout_g * groups).astype(weight.dtype) if rng.random() < 0.5 else None
    case = dict(
        weight=weight[0, 0] if rank == 2 and rng.random() < 0.6 else weight,
        bias=bias,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
        special=special,
        invalid=None,
        rank=rank,
        wkind=wkind,
        groupkind=kind,
    )
    if rng.random() < 0.08:
        inject_invalid(rng, case)
    case["x"], case["layout"] = layout(rng, x.reshape(x.shape[4 - rank :]))
    return case


ARGS = ("stride", "padding", "output_padding", "groups", "dilation")


def torch_transpose(p: dict[str, Any], dtype: Any, absolute: bool = False) -> tuple[str, Any]:
    """torch's conv_transpose2d in ``dtype`` (``absolute``: of |x| and |w|, the bound)."""
    x = np.asarray(p["x"])
    w = np.asarray(p["weight"])
    x4 = np.ascontiguousarray(x.reshape((1,) * (4 - x.ndim) + x.shape).astype(dtype))
    w4 = np.ascontiguousarray((w[None, None] if w.ndim == 2 else w).astype(dtype))
    bias = None if p["bias"] is None else np.asarray(p["bias"]).astype(dtype)
    xt, wt = torch.from_numpy(x4), torch.from_numpy(w4)
    bt = None if bias is None else torch.from_numpy(bias)
    if absolute:
        xt, wt = xt.abs().nan_to_num(0, 0, 0), wt.abs()
        bt = None if bt is None else bt.abs()
    return torch_call(F.conv_transpose2d, xt, wt, bt, *(p[key] for key in ARGS))


def shown(p: dict[str, Any]) -> dict[str, Any]:
    """What a mismatch line says about the case."""
    keys = ARGS + ("layout", "rank", "wkind", "groupkind", "invalid", "special")
    x = np.asarray(p["x"])
    return {key: p[key] for key in keys} | dict(
        xshape=x.shape, xdtype=str(x.dtype), wshape=np.shape(p["weight"])
    )


def check_outcome(rec: Recorder, case: str, p: dict[str, Any], results: tuple) -> bool:
    """Accept/refuse against torch in the compute dtype; True when there are values to compare."""
    (status, out), (tstatus, tout) = results
    if status == "other":
        rec.mismatch("non-ValueError", case, **shown(p), err=out, torch=str(tout)[:200])
        return False
    if tstatus != "ok":
        if status == "ok":
            rec.mismatch(
                "accepted-where-torch-refuses", case, **shown(p), torch=tout, shape=out.shape
            )
        elif not any(name in out for name in NAMES):
            rec.mismatch("message-not-naming-param", case, **shown(p), msg=out, torch=tout)
        else:
            rec.compare("refusals")
        return False
    if status != "ok":
        float64 = torch_transpose(p, np.float64)[0]
        float32_only = compute_dtype(np.asarray(p["x"])) == np.float32 and float64 != "ok"
        rec.mismatch(
            "refused-where-torch-accepts", case, **shown(p), msg=out,
            torch_shape=tuple(tout.shape), torch_float64=float64, float32_only=float32_only,
        )  # fmt: skip
        return False
    return True


def check_values(rec: Recorder, case: str, p: dict[str, Any], out: np.ndarray, tout: Any) -> None:
    """Shape, dtype and values against torch float64 (NaN/inf where it has them)."""
    cd = compute_dtype(np.asarray(p["x"]))
    name = np.dtype(cd).name
    x = np.asarray(p["x"])
    want = tuple(tout.shape[4 - x.ndim :] if x.ndim > 2 else tout.shape[2:])
    if out.shape != want:
        rec.mismatch("wrong-shape", case, **shown(p), got=out.shape, want=want)
        return
    if out.dtype != cd:
        rec.mismatch("wrong-dtype", case, **shown(p), got=str(out.dtype))
    ref = torch_transpose(p, np.float64)[1].numpy().reshape(out.shape)
    if p["special"]:
        if not nan_pattern_equal(out, ref):
            o64 = out.astype(np.float64)
            lost = int((np.isnan(ref) & ~np.isnan(o64)).sum())
            spread = int((np.isnan(o64) & ~np.isnan(ref)).sum())
            rec.mismatch("nonfinite-pattern", case, **shown(p), lost=lost, spread=spread)
        return
    bound = torch_transpose(p, np.float64, absolute=True)[1].numpy().reshape(out.shape)
    e = errors(out, ref, bound)
    rec.err(ENGINE, name, e[1], case)
    rec.compare("torch (itself)")
    rec.err("torch (itself)", name, errors(tout.numpy().reshape(out.shape), ref, bound)[1], case)
    if e[1] > TOL[cd]:
        rec.mismatch("wrong-values", case, **shown(p), err=e)


def main(book: Book, cases: int, seed: int) -> None:
    """``cases`` random cases."""
    run(book["conv_transpose2d"], cases, (seed, 0))


def run(rec: Recorder, cases: int, seed: Any, tag: str = "small") -> None:
    """``cases`` random cases; case ids are ``<tag>/<index>``."""
    rng = np.random.default_rng(seed)
    for index in range(cases):
        p = draw_case(rng)
        case = f"{tag}/{index}"
        rec.cases += 1
        kwargs = {key: p[key] for key in ARGS} | {"bias": p["bias"]}
        result = call(core.conv_transpose2d, p["x"], p["weight"], **kwargs)
        torch_result = torch_transpose(p, compute_dtype(np.asarray(p["x"])))
        if check_outcome(rec, case, p, (result, torch_result)):
            rec.compare(ENGINE)
            check_values(rec, case, p, result[1], torch_result[1])
