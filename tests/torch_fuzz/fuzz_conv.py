"""conv2d against torch: every engine, dtype, rank, group layout and padding mode.

Why: ``convcli.core.conv2d`` promises ``torch.nn.functional.conv2d``'s values (and
``nn.Conv2d``'s padding modes) whatever engine ``auto`` picks, and the engines (direct,
separable, columns, gemm, fft) share no arithmetic, so each one is compared on every case.
The reference is float64: ``np.pad`` (which folds wide pads as convcli does, where torch
refuses them) then torch's conv2d without padding; where torch can express the call, its
own float32 result is compared as well. About one case in ten injects one invalid argument,
which must be refused with a ValueError naming it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from common import (
    NP_MODES,
    TORCH_MODES,
    Book,
    Recorder,
    Sizes,
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

ENGINES = ("auto", "direct", "separable", "columns", "gemm", "fft")
# Per output, over its bound sum(|x| |w|); the FFT over the largest bound (its error spreads).
TOL = {np.float32: 1e-5, np.float64: 1e-12}
TOL_FFT = {np.float32: 1e-4, np.float64: 1e-11}
INVALID = (
    "stride",
    "dilation",
    "padding",
    "groups",
    "bias",
    "padding_mode",
    "algorithm",
    "padding_str",
    "padding_len",
    "weight_channels",
)
# The parameter a refusal must name, where the injected argument's name is not it.
NAMED = {"padding_str": "padding", "padding_len": "padding", "weight_channels": "weight"}


def pick_pair(rng: np.random.Generator, lo: int, hi: int, p_one: float = 0.5) -> Any:
    """1 (often), an int or a pair in [lo, hi]."""
    if rng.random() < p_one:
        return 1
    if rng.random() < 0.5:
        return int(rng.integers(lo, hi + 1))
    return (int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1)))


def make_weight(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> tuple[Any, str]:
    """A kernel of a kind some engine treats apart: rank 1 (separable), boxes (block sums),
    zeros and sparse taps (the zero-tap paths), whole numbers (exact sums), or a mix."""
    cout, cin_g, kh, kw = shape
    kind = str(
        rng.choice(
            ["normal", "normal", "int", "rank1", "rank1int", "box", "zeros", "sparse", "mixed"]
        )
    )
    if kind == "mixed":
        planes = [make_weight(rng, (1, cin_g, kh, kw), dtype)[0][0] for _ in range(cout)]
        return np.stack(planes), kind
    if kind == "normal":
        w = rng.standard_normal(shape)
    elif kind == "int":
        w = rng.integers(-3, 4, shape).astype(float)
    elif kind == "rank1":
        w = rng.standard_normal((cout, cin_g, kh, 1)) * rng.standard_normal((cout, cin_g, 1, kw))
    elif kind == "rank1int":
        column = rng.integers(-2, 3, (cout, cin_g, kh, 1))
        w = (column * rng.integers(-2, 3, (cout, cin_g, 1, kw))).astype(float)
    elif kind == "box":
        w = np.full(shape, float(rng.choice([1.0, 1.0 / (kh * kw), -0.5, 3.0])))
    elif kind == "zeros":
        w = np.zeros(shape)
    else:
        w = rng.standard_normal(shape) * (rng.random(shape) < 0.5)
    return w.astype(dtype), kind


def draw_channels(rng: np.random.Generator, rank: int) -> tuple[str, int, int, int]:
    """(kind, in channels, groups, out channels): dense, grouped, depthwise and single."""
    kind = str(rng.choice(["dense", "dense", "grouped", "depthwise", "depthwise_mult", "single"]))
    if kind == "single" or rank == 2:
        cin, groups, cout = 1, 1, int(rng.integers(1, 5))
    elif kind == "dense":
        cin, groups, cout = int(rng.integers(1, 9)), 1, int(rng.integers(1, 9))
    elif kind == "grouped":
        groups = int(rng.choice([2, 3, 4]))
        cin = groups * int(rng.integers(1, 8 // groups + 1))
        cout = groups * int(rng.integers(1, 8 // groups + 1))
    elif kind == "depthwise":
        cin = int(rng.integers(1, 9))
        groups, cout = cin, cin
    else:
        cin = int(rng.integers(1, 5))
        groups, cout = cin, cin * int(rng.integers(2, 4))
    return kind, cin, groups, 1 if rank == 2 else cout


def draw_padding(rng: np.random.Generator) -> Any:
    """An int, a pair, four sides (convcli's extension), 'same' or 'valid'."""
    r = rng.random()
    if r < 0.25:
        return int(rng.integers(0, 4))
    if r < 0.45:
        return (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
    if r < 0.55:
        return tuple(int(v) for v in rng.integers(0, 4, 4))
    return "same" if r < 0.85 else "valid"


def draw_case(rng: np.random.Generator, sizes: Sizes) -> dict[str, Any]:
    """One conv2d call's arguments, with what the checks need to know about them."""
    rank = int(rng.choice([4] * 8 + [3, 2]))
    kind, cin, groups, cout = draw_channels(rng, rank)
    n = int(rng.integers(1, 3)) if rank == 4 else 1
    kh, kw = (int(v) for v in rng.integers(1, sizes.max_k + 1, 2))
    h, w = (int(v) for v in rng.integers(sizes.min_hw, sizes.max_hw + 1, 2))
    floats = [np.float32, np.float32, np.float64, np.float64]
    xdtype = np.dtype(rng.choice(floats + [np.int32, np.uint8, np.int64, np.float16]))
    cd = compute_dtype(np.zeros(0, xdtype))
    special = xdtype.kind == "f" and rng.random() < 0.06
    x = rand_values(rng, (n, cin, h, w), xdtype, special)
    wdtype = np.dtype(rng.choice([cd, np.float64]))
    weight, wkind = make_weight(rng, (cout, cin // groups, kh, kw), wdtype)
    bias = rng.standard_normal(cout).astype(wdtype) if rng.random() < 0.5 else None
    if rank == 2 and rng.random() < 0.7:
        weight = weight[0, 0]
    elif cout == 1 and groups == 1 and rng.random() < 0.2:
        weight = weight[0]
    case = dict(
        x=x.reshape(x.shape[4 - rank :]),
        weight=weight,
        bias=bias,
        groups=groups,
        rank=rank,
        stride=pick_pair(rng, 1, 3),
        dilation=pick_pair(rng, 1, 3, p_one=0.65),
        padding=draw_padding(rng),
        wkind=wkind,
        groupkind=kind,
        special=special,
        invalid=None,
        padding_mode=str(
            rng.choice(["zeros", "zeros", "reflect", "replicate", "circular", "symmetric"])
        ),
    )
    if rng.random() < 0.1:
        inject_invalid(rng, case, (cout, cin, kh, kw))
    case["x"], case["layout"] = layout(rng, case["x"])
    return case


def inject_invalid(rng: np.random.Generator, case: dict[str, Any], sizes: tuple) -> None:
    """Make one argument invalid (recorded in ``case['invalid']``)."""
    cout, cin, kh, kw = sizes
    invalid = case["invalid"] = str(rng.choice(INVALID))
    if invalid == "stride":
        case["stride"] = 0 if rng.random() < 0.5 else (1, 0)
    elif invalid == "dilation":
        case["dilation"] = 0 if rng.random() < 0.5 else (0, 2)
    elif invalid == "padding":
        case["padding"] = -1 if rng.random() < 0.5 else (0, -2)
        case["padding_mode"] = "zeros"
    elif invalid == "groups":
        case["groups"] = int(rng.choice([0, -1, cin + 1 if cin > 1 else 0]))
    elif invalid == "bias":
        case["bias"] = np.zeros(cout + 1, np.asarray(case["weight"]).dtype)
    elif invalid == "padding_str":
        case["padding"] = "full"
    elif invalid == "padding_len":
        case["padding"] = (1, 1, 1)
    elif invalid == "weight_channels":
        case["weight"] = np.zeros((cout, cin + 1, kh, kw), np.asarray(case["weight"]).dtype)
    elif invalid == "padding_mode":
        case["padding_mode"] = "mirror"


def resolve(padding: Any, h: int, w: int, k: tuple, s: tuple, d: tuple) -> tuple[int, ...]:
    """(top, bottom, left, right), 'same' by TensorFlow's rule (odd pixel bottom/right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        out: list[int] = []
        for size, kk, ss, dd in zip((h, w), k, s, d, strict=True):
            total = max((-(-size // ss) - 1) * ss + dd * (kk - 1) + 1 - size, 0)
            out += [total // 2, total - total // 2]
        return tuple(out)
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


def weight4(weight: Any) -> np.ndarray:
    """The weight as (C_out, C_in/groups, kh, kw), as conv2d promotes it."""
    w = np.asarray(weight)
    return w[None, None] if w.ndim == 2 else (w[None] if w.ndim == 3 else w)


def as4(x: np.ndarray) -> np.ndarray:
    """x as (N, C, H, W), C-contiguous (torch.from_numpy takes no negative strides)."""
    return np.ascontiguousarray(x.reshape((1,) * (4 - x.ndim) + x.shape))


def torch_native(p: dict[str, Any], cd: Any) -> tuple[str, Any] | None:
    """What nn.Conv2d / F.conv2d does in the compute dtype (None: torch cannot say it)."""
    padding, mode = p["padding"], p["padding_mode"]
    if mode not in TORCH_MODES or (isinstance(padding, tuple) and len(padding) == 4):
        return None
    xt = torch.from_numpy(as4(np.asarray(p["x"]).astype(cd)))
    w = weight4(p["weight"]).astype(cd)
    wt = torch.from_numpy(np.ascontiguousarray(w))
    bt = None if p["bias"] is None else torch.from_numpy(np.asarray(p["bias"]).astype(cd))
    stride, dilation, groups = p["stride"], p["dilation"], p["groups"]
    if mode == "zeros":
        status, out = torch_call(F.conv2d, xt, wt, bt, stride, padding, dilation, groups)
        return (status, out.numpy() if status == "ok" else out)
    # nn.Conv2d pads with F.pad for the other modes, then convolves without padding.
    if padding == "same":
        if pair(stride) != (1, 1):
            return "refuse", "ValueError: padding='same' is not supported for strided convolutions"
        (dh, dw), (kh, kw) = pair(dilation), w.shape[2:]
        th, tw = dh * (kh - 1), dw * (kw - 1)
        pads = (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    else:
        ph, pw = (0, 0) if padding == "valid" else pair(padding)
        pads = (pw, pw, ph, ph)
    status, padded = torch_call(F.pad, xt, pads, TORCH_MODES[mode])
    if status != "ok":
        return status, padded
    status, out = torch_call(F.conv2d, padded, wt, bt, stride, 0, dilation, groups)
    return (status, out.numpy() if status == "ok" else out)


def reference(p: dict[str, Any], cd: Any) -> tuple[Any, Any, tuple[int, ...]]:
    """float64 (reference, bound sum(|x| |w|), pads); (None, None, pads): no output."""
    x = as4(np.asarray(p["x"]).astype(cd).astype(np.float64))
    w = weight4(p["weight"]).astype(cd).astype(np.float64)
    b = None if p["bias"] is None else np.asarray(p["bias"]).astype(cd).astype(np.float64)
    s, d = pair(p["stride"]), pair(p["dilation"])
    pads = resolve(p["padding"], x.shape[2], x.shape[3], w.shape[2:], s, d)
    widths = ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3]))
    xp = np.pad(x, widths, NP_MODES[p["padding_mode"]])
    if xp.shape[2] < d[0] * (w.shape[2] - 1) + 1 or xp.shape[3] < d[1] * (w.shape[3] - 1) + 1:
        return None, None, pads
    xt, wt = torch.from_numpy(xp), torch.from_numpy(np.ascontiguousarray(w))
    bt = None if b is None else torch.from_numpy(b)
    ref = F.conv2d(xt, wt, bt, s, 0, d, p["groups"]).numpy()
    bound_bias = None if bt is None else bt.abs()
    finite_x = xt.abs().nan_to_num(0, 0, 0)
    bound = F.conv2d(finite_x, wt.abs(), bound_bias, s, 0, d, p["groups"]).numpy()
    return ref, bound, pads


def is_extension(p: dict[str, Any], pads: tuple[int, ...], hw: tuple[int, int]) -> bool:
    """Whether torch refuses these arguments where convcli documents an extension: four
    sides, symmetric, 'same' with a stride, reflect/circular pads wider than the input."""
    h, w = hw
    top, bottom, left, right = pads
    mode = p["padding_mode"]
    return (
        (isinstance(p["padding"], tuple) and len(p["padding"]) == 4)
        or mode == "symmetric"
        or (p["padding"] == "same" and pair(p["stride"]) != (1, 1))
        or (mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w))
        or (mode == "circular" and (max(top, bottom) > h or max(left, right) > w))
    )


def shown(p: dict[str, Any]) -> dict[str, Any]:
    """What a mismatch line says about the case."""
    keys = ("stride", "padding", "dilation", "groups", "padding_mode", "wkind", "layout", "rank")
    x = np.asarray(p["x"])
    info = {key: p[key] for key in keys}
    info.update(groupkind=p["groupkind"], invalid=p["invalid"], special=p["special"])
    info.update(extension=p.get("ext", False))
    info.update(xshape=x.shape, xdtype=str(x.dtype), wshape=np.shape(p["weight"]))
    return info


def conv_args(p: dict[str, Any]) -> dict[str, Any]:
    """conv2d's keyword arguments but the algorithm."""
    keys = ("bias", "stride", "padding", "dilation", "groups", "padding_mode")
    return {key: p[key] for key in keys}


def check_invalid(rec: Recorder, case: str, p: dict[str, Any], rng: np.random.Generator) -> None:
    """An injected invalid argument: refused by a ValueError naming it, whatever the engine."""
    meta = shown(p)
    algo = "bogus" if p["invalid"] == "algorithm" else str(rng.choice(ENGINES))
    native = None
    if p["invalid"] not in ("algorithm", "padding_mode"):
        try:
            native = torch_native(p, compute_dtype(np.asarray(p["x"])))
        except Exception:  # noqa: BLE001 (the harness cannot express it: torch refuses too)
            native = None
    rec.count("invalid injected")
    if native is not None and native[0] == "ok":
        rec.mismatch("harness-torch-accepts-injected", case, algo, **meta)
    status, out = call(core.conv2d, p["x"], p["weight"], algorithm=algo, **conv_args(p))
    if status == "ok":
        rec.mismatch("accepted-invalid", case, algo, **meta)
    elif status == "other":
        rec.mismatch("non-ValueError", case, algo, **meta, err=out)
    else:
        name = NAMED.get(p["invalid"], p["invalid"])
        if name not in out and not (name == "weight" and "channels" in out):
            rec.mismatch("message-not-naming-param", case, algo, **meta, param=name, msg=out)
        else:
            rec.compare("refusals")


def check_refused(rec: Recorder, case: str, p: dict[str, Any], native: Any) -> None:
    """Arguments with no output (torch refuses, or the window does not fit): every engine
    must refuse them too, naming what is wrong."""
    torch_says = native and str(native[1])[:200]
    for algo in ENGINES:
        status, out = call(core.conv2d, p["x"], p["weight"], algorithm=algo, **conv_args(p))
        if status == "ok":
            rec.mismatch(
                "accepted-where-torch-refuses",
                case,
                algo,
                **shown(p),
                torch=torch_says,
                out_shape=out.shape,
            )
        elif status == "other":
            rec.mismatch("non-ValueError", case, algo, **shown(p), err=out)
        elif not any(word in out for word in ("kernel", "padding", "input", "x must")):
            rec.mismatch("message-not-naming-param", case, algo, **shown(p), msg=out)
        else:
            rec.compare("refusals")


def check_case(rec: Recorder, case: str, p: dict[str, Any], rng: np.random.Generator) -> None:
    """One drawn case: invalid, refused or compared engine by engine."""
    if p["invalid"]:
        check_invalid(rec, case, p, rng)
        return
    x = np.asarray(p["x"])
    cd = compute_dtype(x)
    ref, bound, pads = reference(p, cd)
    ext = p["ext"] = is_extension(p, pads, as4(x).shape[2:])
    native = torch_native(p, cd)
    if ext:
        rec.count("extension cases (reference only)")
    else:
        rec.count("torch-native cases")
        if (ref is not None) != (native[0] == "ok"):
            rec.mismatch("harness-ref-vs-torch-decision", case, **shown(p), torch=str(native[1]))
    if ref is None or (not ext and native[0] != "ok"):
        check_refused(rec, case, p, native)
        return
    shape = ref.shape[4 - x.ndim :] if x.ndim > 2 else ref.shape[2:]
    native_out = native[1] if native is not None and native[0] == "ok" and not ext else None
    if native_out is not None:
        if native_out.shape != ref.shape:
            rec.mismatch("harness-shape", case, **shown(p))
        elif not p["special"]:
            rec.compare("torch (itself)")
            rec.err("torch (itself)", np.dtype(cd).name, errors(native_out, ref, bound)[1], case)
    for algo in ENGINES:
        compare_engine(rec, case, p, algo, (ref.reshape(shape), bound.reshape(shape), native_out))


def engine_refusal_expected(rec: Recorder, p: dict[str, Any], algo: str, message: str) -> bool:
    """An engine that does not apply says so: columns (one input channel per group) and
    separable (rank-1 kernels); a rank-1 kernel separable refuses is a mismatch."""
    if algo == "columns" and weight4(p["weight"]).shape[1] != 1 and "columns" in message:
        rec.count("columns n/a (C_in/groups > 1)")
        return True
    if algo == "separable" and "separable" in message:
        rec.count("separable n/a (rank > 1)")
        return p["wkind"] not in ("rank1int", "box", "zeros")
    return False


def compare_engine(
    rec: Recorder, case: str, p: dict[str, Any], algo: str, refs: tuple[Any, Any, Any]
) -> None:
    """One engine's output: dtype, shape, input untouched, values (NaN and infinities in
    the same places as the reference's, finite values within the tolerance)."""
    ref, bound, native_out = refs
    x_before = np.array(p["x"], copy=True)
    status, out = call(core.conv2d, p["x"], p["weight"], algorithm=algo, **conv_args(p))
    if status == "other":
        rec.mismatch("non-ValueError", case, algo, **shown(p), err=out)
        return
    if status == "value_error":
        if not engine_refusal_expected(rec, p, algo, out):
            if algo == "separable" and "separable" in out:
                kind = "separable-refused-exact-rank1"
            else:
                kind = "refused-extension" if p["ext"] else "refused-where-torch-accepts"
            rec.mismatch(kind, case, algo, **shown(p), msg=out)
        return
    rec.compare(algo)
    cd = compute_dtype(x_before)
    if not np.array_equal(x_before, np.asarray(p["x"]), equal_nan=x_before.dtype.kind == "f"):
        rec.mismatch("input-mutated", case, algo, **shown(p))
    if out.dtype != cd:
        rec.mismatch("wrong-dtype", case, algo, **shown(p), got=str(out.dtype))
    if out.shape != ref.shape:
        rec.mismatch("wrong-shape", case, algo, **shown(p), got=out.shape, want=ref.shape)
    elif p["special"]:
        check_nonfinite(rec, case, p, algo, out, (ref, bound))
    else:
        check_values(rec, case, p, algo, out, refs)


def check_nonfinite(
    rec: Recorder, case: str, p: dict[str, Any], algo: str, out: Any, refs: tuple
) -> None:
    """NaN and infinities: where the float64 reference has them (IEEE: 0 x NaN is NaN),
    and the finite outputs within the tolerance."""
    ref, bound = refs
    cd = compute_dtype(np.asarray(p["x"]))
    if not nan_pattern_equal(out, ref):
        o64 = out.astype(np.float64)
        lost = int((np.isnan(ref) & ~np.isnan(o64)).sum())
        spread = int((np.isnan(o64) & ~np.isnan(ref)).sum())
        same_inf = np.isinf(o64) & np.isinf(ref)
        infdiff = int((np.isinf(o64) != np.isinf(ref)).sum() + (same_inf & (o64 != ref)).sum())
        tags = [
            t for t, v in (("nan-lost", lost), ("nan-spread", spread), ("inf-diff", infdiff)) if v
        ]
        rec.mismatch(
            "nonfinite:" + "+".join(tags),
            case,
            algo,
            **shown(p),
            lost=lost,
            spread=spread,
            infdiff=infdiff,
        )
    finite = np.isfinite(ref) & np.isfinite(bound)
    if finite.any():
        e = errors(np.where(finite, out, 0), np.where(finite, ref, 0), np.where(finite, bound, 0))
        if (e[3] if algo == "fft" else e[1]) > (TOL_FFT if algo == "fft" else TOL)[cd]:
            rec.mismatch("nonfinite-case-wrong-finite-values", case, algo, **shown(p), err=e)


def check_values(
    rec: Recorder, case: str, p: dict[str, Any], algo: str, out: Any, refs: tuple
) -> None:
    """Finite inputs: within the tolerance of the float64 reference (the FFT's judged over
    the largest bound) and of torch's own float32 result where torch can say it."""
    ref, bound, native_out = refs
    x = np.asarray(p["x"])
    cd = compute_dtype(x)
    if native_out is not None:
        vs_torch = errors(out, native_out.reshape(out.shape).astype(np.float64), bound)
        if vs_torch[3] > (1e-4 if cd == np.float32 else 1e-11):
            rec.mismatch("differs-from-torch-native", case, algo, **shown(p), err=vs_torch)
    e = errors(out, ref, bound)
    picked = algo
    if algo == "auto":
        args = conv_args(p)
        del args["bias"]
        picked = core.choose_algorithm(np.shape(x), p["weight"], **args)[0]
    if np.isnan(e[3]):  # the exact answer is all zeros: absolute error over the input's scale
        finite = np.abs(x.astype(np.float64))
        scale = float(np.nanmax(finite)) * float(np.abs(weight4(p["weight"])).sum())
        rec.count(f"{algo}: all-zero outputs")
        e = (e[0], e[1], e[2], e[0] / max(scale, 1e-300))
    judged = e[3] if picked == "fft" else e[1]
    rec.err(algo, np.dtype(cd).name, judged, case)
    if not np.all(np.isfinite(out)) or judged > (TOL_FFT if picked == "fft" else TOL)[cd]:
        rec.mismatch("wrong-values", case, algo, **shown(p), err=e, picked=picked)


# Sizes drawn, and the share of the cases each gets (1/n): the medium and large images reach
# the engines' bands, blocks and FFT sizes that small ones never do.
PROFILES = (
    ("small", 1, Sizes()),
    ("medium", 20, Sizes(20, 80, 15)),
    ("large", 300, Sizes(200, 300, 9)),
)


def main(book: Book, cases: int, seed: int) -> None:
    """``cases`` small cases, and a share of that in medium and large ones (PROFILES)."""
    for salt, (tag, share, sizes) in enumerate(PROFILES):
        run(book["conv2d"], cases // share, (seed, salt), sizes, tag)


def run(rec: Recorder, cases: int, seed: Any, sizes: Sizes = Sizes(), tag: str = "small") -> None:
    """``cases`` random cases of the given sizes; case ids are ``<tag>/<index>``."""
    rng = np.random.default_rng(seed)
    for index in range(cases):
        p = draw_case(rng, sizes)
        rec.cases += 1
        check_case(rec, f"{tag}/{index}", p, rng)
