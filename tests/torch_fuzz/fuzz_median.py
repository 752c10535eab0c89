"""median_filter2d against SciPy and a sorting reference, every engine.

Why: the median network (``convcli.core._median``) is compiled code of min/max steps over
narrow dtypes and tiles, nothing like SciPy's selection, so both engines are compared on
every case. The references:

- sorted: np.pad (convcli's border modes by NumPy's names), every window sorted, element
  ``kh*kw // 2`` (the upper middle, as the docstring says); NaN in a window gives NaN;
- scipy: where the padding is centred at stride 1 with odd kernels,
  ``scipy.ndimage.median_filter`` on the unpadded input with the documented mode mapping,
  which must agree with the sorted reference (else the harness is wrong).

Uses no torch; it runs with the others because the median is part of the core's promise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from common import NP_MODES, Book, Recorder, Sizes, call, layout, pair, rand_values
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

import convcli.core as core

SCIPY_MODES = {
    "zeros": "constant",
    "reflect": "mirror",
    "replicate": "nearest",
    "circular": "wrap",
    "symmetric": "reflect",
}
ENGINES = ("auto", "network", "scipy")
DTYPES = (np.float32, np.float64, np.uint8, np.uint16, np.int32, np.float16)


def draw_geometry(rng: np.random.Generator, max_k: int) -> dict[str, Any]:
    """kernel_size, stride and padding (int, pair, four sides, 'same' or 'valid')."""
    side = lambda: int(rng.integers(1, max_k + 1))  # noqa: E731
    kernel = side() if rng.random() < 0.6 else (side(), side())
    stride: Any = 1
    if rng.random() >= 0.6:
        pick = lambda: int(rng.integers(1, 4))  # noqa: E731
        stride = pick() if rng.random() < 0.5 else (pick(), pick())
    r = rng.random()
    if r < 0.5:
        padding: Any = "same"
    elif r < 0.6:
        padding = "valid"
    elif r < 0.8:
        padding = int(rng.integers(0, 5))
    elif r < 0.9:
        padding = (int(rng.integers(0, 5)), int(rng.integers(0, 5)))
    else:
        padding = tuple(int(v) for v in rng.integers(0, 9, 4))
    return dict(kernel=kernel, stride=stride, padding=padding)


def draw_case(rng: np.random.Generator, sizes: Sizes) -> dict[str, Any]:
    """One median call: ties and whole numbers (the narrow-dtype path), NaN/inf."""
    rank = int(rng.choice([2, 3, 4]))
    lead = tuple(int(v) for v in rng.integers(1, 4, rank - 2))
    h, w = (int(v) for v in rng.integers(sizes.min_hw, sizes.max_hw + 1, 2))
    case = draw_geometry(rng, sizes.max_k)
    case["mode"] = str(rng.choice(["reflect", "zeros", "replicate", "circular", "symmetric"]))
    dtype = np.dtype(rng.choice(DTYPES))
    x = rand_values(rng, lead + (h, w), dtype)
    if dtype.kind == "f" and rng.random() < 0.3:
        x = np.round(x * 2).astype(dtype)
        if rng.random() < 0.5:
            x = np.abs(x)
    if dtype == np.uint16 and rng.random() < 0.5:
        x = (x.astype(np.uint32) * 250).astype(np.uint16)
    case["special"] = dtype.kind == "f" and rng.random() < 0.1
    if case["special"]:
        n = max(1, x.size // 30)
        x.reshape(-1)[rng.integers(0, x.size, n)] = rng.choice([np.nan, np.inf, -np.inf], n)
    case["x"], case["layout"] = layout(rng, x)
    return case


def resolve(padding: Any, h: int, w: int, k: tuple, s: tuple) -> tuple[int, ...]:
    """(top, bottom, left, right); 'same' by TensorFlow's rule."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        out: list[int] = []
        for size, kk, ss in zip((h, w), k, s, strict=True):
            total = max((-(-size // ss) - 1) * ss + kk - size, 0)
            out += [total // 2, total - total // 2]
        return tuple(out)
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


def sorted_reference(x: np.ndarray, k: tuple, s: tuple, pads: tuple, mode: str) -> Any:
    """Every window sorted (None: no window fits)."""
    cd = np.float64 if x.dtype == np.float64 else np.float32
    planes = x.astype(cd).astype(np.float64).reshape((-1,) + x.shape[-2:])
    top, bottom, left, right = pads
    padded = np.pad(planes, ((0, 0), (top, bottom), (left, right)), NP_MODES[mode])
    if padded.shape[1] < k[0] or padded.shape[2] < k[1]:
        return None
    windows = sliding_window_view(padded, k, axis=(1, 2))[:, :: s[0], :: s[1]]
    flat = windows.reshape(windows.shape[:3] + (-1,))
    median = np.sort(flat, axis=-1)[..., flat.shape[-1] // 2]
    median = np.where(np.isnan(flat).any(-1), np.nan, median)
    return median.reshape(x.shape[:-2] + median.shape[-2:])


def scipy_agrees(rec: Recorder, case: str, p: dict[str, Any], ref: np.ndarray, meta: dict) -> bool:
    """Where SciPy can say it (odd kernels, centred pads, stride 1, finite values), check
    the sorted reference against it; True when it did."""
    x, k, pads = p["x"], pair(p["kernel"]), meta["pads"]
    centred = all(
        kk % 2 == 1 and pads[2 * i] == kk // 2 == pads[2 * i + 1] for i, kk in enumerate(k)
    )
    if pair(p["stride"]) != (1, 1) or p["special"] or not centred:
        return False
    cd = np.float64 if x.dtype == np.float64 else np.float32
    planes = x.astype(cd).reshape((-1,) + x.shape[-2:])
    sref = ndimage.median_filter(planes, size=(1, *k), mode=SCIPY_MODES[p["mode"]], cval=0.0)
    if not np.array_equal(sref.reshape(x.shape).astype(np.float64), ref, equal_nan=True):
        rec.mismatch("harness-scipy-vs-sorted", case, **meta)
    return True


def check_engine(
    rec: Recorder, case: str, p: dict[str, Any], algo: str, ref: Any, meta: dict
) -> None:
    """One engine: refused where no window fits (naming kernel_size), else the reference's
    values bit for bit, NaN where a window holds one."""
    x, k, s = p["x"], pair(p["kernel"]), pair(p["stride"])
    args = (x, p["kernel"], p["stride"], p["padding"], p["mode"])
    status, out = call(core.median_filter2d, *args, algorithm=algo)
    if status == "other":
        rec.mismatch("non-ValueError", case, algo, **meta, err=out)
    elif ref is None:
        if status == "ok":
            rec.mismatch("accepted-empty-output", case, algo, **meta, shape=out.shape)
        elif "kernel_size" not in out:
            rec.mismatch("message-not-naming-param", case, algo, **meta, msg=out)
        else:
            rec.compare(f"{algo} (refusals)")
    elif status != "ok":
        if algo == "network" and (s != (1, 1) or max(k) > 15) and "network" in out:
            rec.count("network n/a (stride > 1 or side > 15)")
        else:
            rec.mismatch("refused-valid", case, algo, **meta, msg=out)
    else:
        rec.compare(algo)
        cd = np.float64 if x.dtype == np.float64 else np.float32
        if out.dtype != cd:
            rec.mismatch("wrong-dtype", case, algo, **meta, got=str(out.dtype))
        if out.shape != ref.shape:
            rec.mismatch("wrong-shape", case, algo, **meta, got=out.shape, want=ref.shape)
        elif not np.array_equal(out.astype(np.float64), ref, equal_nan=True):
            nans = np.isnan(ref)
            nan_only = np.array_equal(np.where(nans, 0, out), np.where(nans, 0, ref))
            kind = "nan-not-propagated" if p["special"] and nan_only else "wrong-values"
            rec.mismatch(kind, case, algo, **meta)
        else:
            rec.err(algo, np.dtype(cd).name, 0.0, case)


# Sizes drawn, and the share of the cases each gets (1/n): medium images and windows up to
# 17 reach the network's tiles and SciPy's own path (sides over 15).
PROFILES = (("small", 1, Sizes()), ("medium", 15, Sizes(16, 90, 17)))


def main(book: Book, cases: int, seed: int) -> None:
    """``cases`` small cases, and a share of that in medium ones (PROFILES)."""
    for salt, (tag, share, sizes) in enumerate(PROFILES):
        run(book["median_filter2d"], cases // share, (seed, salt), sizes, tag)


def run(rec: Recorder, cases: int, seed: Any, sizes: Sizes = Sizes(), tag: str = "small") -> None:
    """``cases`` random cases of the given sizes; case ids are ``<tag>/<index>``."""
    rng = np.random.default_rng(seed)
    for index in range(cases):
        p = draw_case(rng, sizes)
        case = f"{tag}/{index}"
        rec.cases += 1
        x, k, s = p["x"], pair(p["kernel"]), pair(p["stride"])
        pads = resolve(p["padding"], x.shape[-2], x.shape[-1], k, s)
        ref = sorted_reference(x, k, s, pads, p["mode"])
        meta = {key: p[key] for key in ("kernel", "stride", "padding", "mode", "special", "layout")}
        meta.update(xshape=x.shape, xdtype=str(x.dtype), pads=pads)
        if ref is not None and scipy_agrees(rec, case, p, ref, meta):
            rec.count("checked against scipy.ndimage too")
        for algo in ENGINES:
            check_engine(rec, case, p, algo, ref, meta)
