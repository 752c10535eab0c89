"""pad2d against torch's F.pad, and against np.pad beyond torch's limits.

Why: every engine pads through ``pad2d`` (or its border rule), so a wrong row here is a
wrong border everywhere. Within torch's limits the values must be F.pad's; beyond them
(reflect pads >= the size, circular > the size, symmetric, which torch lacks) convcli folds
as OpenCV does, which is ``np.pad``'s answer. Negative pads: F.pad crops, pad2d refuses
(its pads are >= 0, documented): a mismatch run.py knows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from common import NP_MODES, TORCH_MODES, Book, Recorder, call, layout, rand_values, torch_call

import convcli.core as core

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
DTYPES = (np.float32, np.float64, np.int32, np.uint8, np.int64, np.float16, np.bool_)


def draw_pads(rng: np.random.Generator, mode: str, h: int, w: int) -> tuple[int, ...]:
    """(top, bottom, left, right): within torch's limits, at their edge, wide or negative."""
    sizes = (h, h, w, w)
    r = rng.random()
    if r < 0.55:
        limit = {"reflect": lambda s: s - 1, "circular": lambda s: s}.get(mode, lambda s: 12)
        return tuple(int(rng.integers(0, max(limit(s), 0) + 1)) for s in sizes)
    if r < 0.75:
        edge = {"reflect": lambda s: s - 1, "circular": lambda s: s}.get(mode, lambda s: s)
        return tuple(max(0, edge(s) + int(rng.integers(0, 2))) for s in sizes)
    if r < 0.95:
        return tuple(int(v) for v in rng.integers(0, 30, 4))
    return tuple(int(v) for v in rng.integers(-2, 3, 4))


def draw_case(rng: np.random.Generator) -> dict[str, Any]:
    """One pad2d call: ranks 2 to 5 (leading axes are left alone), every dtype."""
    rank = int(rng.choice([2, 3, 3, 4, 4, 5]))
    h, w = (int(v) for v in rng.integers(1, 13, 2))
    lead = tuple(int(v) for v in rng.integers(1, 4, rank - 2))
    mode = str(rng.choice(MODES))
    dtype = np.dtype(rng.choice(DTYPES))
    special = dtype.kind == "f" and rng.random() < 0.3
    x = rand_values(rng, lead + (h, w), dtype, special=special)
    pads = draw_pads(rng, mode, h, w)
    x, kind = layout(rng, x)
    return dict(x=x, pads=pads, mode=mode, layout=kind)


def torch_pad(x: np.ndarray, pads: tuple[int, ...], mode: str) -> tuple[str, Any]:
    """F.pad's answer shaped as x's rank ('n/a' for symmetric, which torch lacks)."""
    if mode not in TORCH_MODES:
        return "n/a", None
    top, bottom, left, right = pads
    xt = torch.from_numpy(np.ascontiguousarray(x.astype(np.float64)))
    added = 0
    if mode != "zeros":  # torch's border modes take (C, H, W) or (N, C, H, W) only
        while xt.ndim < 3:
            xt, added = xt[None], added + 1
        if xt.ndim == 5:
            xt = xt.reshape(-1, *xt.shape[2:])
    status, out = torch_call(F.pad, xt, (left, right, top, bottom), TORCH_MODES[mode])
    if status != "ok":
        return status, out
    out = out.numpy()
    for _ in range(added):
        out = out[0]
    return "ok", out.reshape(x.shape[:-2] + out.shape[-2:])


def np_reference(x: np.ndarray, pads: tuple[int, ...], mode: str) -> tuple[str, Any]:
    """np.pad's answer beyond torch's limits (it refuses a border mode on an empty axis)."""
    top, bottom, left, right = pads
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    try:
        return "ok", np.pad(x.astype(np.float64), widths, NP_MODES[mode])
    except ValueError as error:
        return "refuse", str(error)


def check(rec: Recorder, case: str, p: dict[str, Any]) -> None:
    """One pad2d call: refused as documented, or torch's (np.pad's) values, input untouched."""
    x, pads, mode = p["x"], p["pads"], p["mode"]
    meta = dict(pads=pads, mode=mode, xshape=x.shape, xdtype=str(x.dtype), layout=p["layout"])
    before = x.copy()
    status, out = call(core.pad2d, x, pads, mode)
    tstatus, tout = torch_pad(x, pads, mode)
    if status == "other":
        rec.mismatch("non-ValueError", case, **meta, err=out)
        return
    if not np.array_equal(before, x, equal_nan=x.dtype.kind == "f"):
        rec.mismatch("input-mutated", case, **meta)
    if min(pads) < 0:
        check_negative(rec, case, meta, (status, out), tstatus)
        return
    engine = "F.pad" if tstatus == "ok" else "np.pad (beyond torch)"
    rstatus, ref = (tstatus, tout) if tstatus == "ok" else np_reference(x, pads, mode)
    if status != "ok" or rstatus != "ok":
        if status != "ok" and rstatus != "ok":
            rec.compare(f"{engine} (refusals)")
        elif status == "ok":
            rec.mismatch("accepted-where-reference-refuses", case, engine, **meta, ref=ref)
        else:
            kind = "refused-where-torch-accepts" if tstatus == "ok" else "refused-beyond-torch"
            rec.mismatch(kind, case, engine, **meta, msg=out)
        return
    rec.compare(engine)
    if out.dtype != x.dtype:
        rec.mismatch("wrong-dtype", case, engine, **meta, got=str(out.dtype))
    if out.shape != ref.shape:
        rec.mismatch("wrong-shape", case, engine, **meta, got=out.shape, want=ref.shape)
    elif not np.array_equal(out.astype(np.float64), ref.astype(np.float64), equal_nan=True):
        rec.mismatch("wrong-values", case, engine, **meta)


def check_negative(rec: Recorder, case: str, meta: dict, result: tuple, tstatus: str) -> None:
    """Negative pads are refused, naming the pads, whatever torch does with them."""
    status, out = result
    if status == "ok":
        rec.mismatch("accepted-negative-pads", case, **meta)
    elif "pad" not in out:
        rec.mismatch("message-not-naming-param", case, **meta, msg=out)
    elif tstatus == "ok":  # F.pad crops: known (run.py's allow-list)
        rec.mismatch("refused-where-torch-accepts", case, **meta, msg=out)
    else:
        rec.compare("refusals")


def main(book: Book, cases: int, seed: int) -> None:
    """``cases`` random cases."""
    run(book["pad2d"], cases, (seed, 0))


def run(rec: Recorder, cases: int, seed: Any, tag: str = "small") -> None:
    """``cases`` random cases; case ids are ``<tag>/<index>``."""
    rng = np.random.default_rng(seed)
    for index in range(cases):
        rec.cases += 1
        check(rec, f"{tag}/{index}", draw_case(rng))
