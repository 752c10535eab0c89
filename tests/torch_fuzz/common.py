"""What the differential fuzzers share: drawing inputs, calling without raising, measuring
errors, and the Recorder (Book) that keeps what each function's checks saw.

Every fuzzer draws its inputs the same way (NaN and infinities, memory layouts other than
C order), calls convcli and torch so that no exception stops the run, measures errors
against the same float64 reference and records into one Book, so that ``run.py`` prints one
summary for all of them. Imports torch: never imported by the test suite.
"""

from __future__ import annotations

import json
import math
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

# No autograd, one thread: the machine is shared, and torch's threads change nothing the
# comparison looks at (run.py holds NumPy's and convcli's threads to one as well).
torch.set_grad_enabled(False)
torch.set_num_threads(1)

# convcli's padding modes by np.pad's names (the reference beyond torch's limits) and
# torch's (F.pad); symmetric has no torch name.
NP_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
    "symmetric": "symmetric",
}
TORCH_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


@dataclass(frozen=True)
class Sizes:
    """Image and kernel sides drawn: small cases reach every edge of the geometry, larger
    ones the bands, blocks and tiles the engines use only on bigger images."""

    min_hw: int = 1
    max_hw: int = 24
    max_k: int = 7


def pair(value: Any) -> tuple[int, ...]:
    """An int or a pair as a pair (a one-element tuple counts for both axes, as in torch;
    other lengths are left as they are, for the caller's unpacking to refuse)."""
    if isinstance(value, (list, tuple)):
        return tuple(value) * 2 if len(value) == 1 else tuple(value)
    return (value, value)


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """convcli's outcome: ('ok', value), ('value_error', message) or ('other', what).

    convcli refuses bad arguments with a ValueError naming the parameter; anything else
    escaping is a mismatch of its own (``non-ValueError``), so it is kept apart.
    """
    try:
        return "ok", fn(*args, **kwargs)
    except ValueError as error:
        return "value_error", str(error)
    except Exception as error:  # noqa: BLE001 (any other exception is what we look for)
        trace = traceback.format_exc(limit=-3)
        return "other", f"{type(error).__name__}: {error} | {trace[-400:]}"


def torch_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """torch's outcome: ('ok', tensor) or ('refuse', first line of its message)."""
    try:
        return "ok", fn(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 (torch refuses with several types)
        return "refuse", f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"


def compute_dtype(x: np.ndarray) -> type:
    """The dtype convcli computes in (and returns): float64 for float64, float32 otherwise."""
    return np.float64 if x.dtype == np.float64 else np.float32


def layout(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, str]:
    """The same values in a random memory layout: C order, F order, a reversed or a strided
    view; engines that assume C order (or write through views) show up here."""
    kind = str(rng.choice(["c", "c", "c", "f", "rev", "step"]))
    if kind == "f":
        return np.asfortranarray(x), kind
    if kind == "rev":
        big = np.ascontiguousarray(x[..., ::-1, ::-1])
        return big[..., ::-1, ::-1], kind
    if kind == "step":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        big[..., ::2] = x
        return big[..., ::2], kind
    return np.ascontiguousarray(x), kind


def rand_values(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, special: bool = False
) -> np.ndarray:
    """Values of several styles (normal, whole numbers, large, uniform); with ``special``,
    one in twenty becomes NaN or an infinity."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 255) + 1, shape).astype(dtype)
    style = rng.choice(["normal", "normal", "ints", "big", "uniform"])
    if style == "normal":
        values = rng.standard_normal(shape)
    elif style == "ints":
        values = rng.integers(-5, 6, shape).astype(float)
    elif style == "big":
        values = rng.standard_normal(shape) * 1e3 + 50
    else:
        values = rng.random(shape)
    values = values.astype(dtype)
    if special and values.size:
        n = max(1, values.size // 20)
        where = rng.integers(0, values.size, n)
        values.reshape(-1)[where] = rng.choice([np.nan, -np.inf, np.inf], n)
    return values


def errors(out: Any, ref64: np.ndarray, bound64: np.ndarray) -> tuple[float, float, float, float]:
    """Errors over the finite reference values: (largest absolute error, largest error per
    output over its bound sum(|x| |w|), largest error over max |ref|, largest error over the
    largest bound).

    The bound makes float32 rounding comparable across outputs of any size; the last form
    judges the FFT, whose error spreads over the image. All outputs exactly 0 (every tap in
    the padding or the dilation gaps) have no scale: the last form is then NaN.
    """
    out64 = np.asarray(out, np.float64)
    finite = np.isfinite(ref64)
    if not finite.any():
        return 0.0, 0.0, 0.0, 0.0
    diff = np.abs(out64 - ref64)[finite]
    bound = bound64[finite]
    scale = max(np.abs(ref64[finite]).max(), 1e-30)
    with np.errstate(divide="ignore", invalid="ignore"):
        normed = np.where(bound > 0, diff / np.maximum(bound, 1e-300), diff)
    if bound.max() > 0:
        overall = diff.max() / bound.max()
    else:
        overall = 0.0 if diff.max() == 0 else float("nan")
    return float(diff.max()), float(normed.max()), float(diff.max() / scale), float(overall)


def nan_pattern_equal(a: Any, b: Any) -> bool:
    """Same shape, and NaN, +inf and -inf in the same places."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return a.shape == b.shape and all(
        np.array_equal(test(a), test(b)) for test in (np.isnan, np.isposinf, np.isneginf)
    )


def jsonable(obj: Any) -> Any:
    """Arguments as JSON can hold them (arrays as shapes: a mismatch line stays short)."""
    if isinstance(obj, np.ndarray):
        return {"array_shape": list(obj.shape), "dtype": str(obj.dtype)}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, dict):
        return {key: jsonable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(value) for value in obj]
    return obj


class Recorder:
    """What one function's checks saw: cases drawn, cases compared and the worst error per
    engine and dtype, tallies (refusals both sides agree on, engines that do not apply),
    and mismatches, each also written as one JSON line to ``mismatches-<function>.jsonl``
    (so a long run that is stopped still leaves what it found)."""

    def __init__(self, function: str, folder: Path) -> None:
        self.function = function
        self.path = folder / f"mismatches-{function.replace(' ', '-')}.jsonl"
        self.path.write_text("")
        self.cases = 0
        self.metric = ""  # what the worst errors measure, said in the summary
        self.compared: Counter[str] = Counter()
        self.tallies: Counter[str] = Counter()
        self.worst: dict[tuple[str, str], tuple[float, str]] = {}
        self.mismatches: list[dict[str, Any]] = []

    def count(self, key: str) -> None:
        """One more of a tally that is not a comparison (e.g. 'both refuse')."""
        self.tallies[key] += 1

    def compare(self, engine: str) -> None:
        """One more case whose values (or outcome) an engine had compared."""
        self.compared[engine] += 1

    def err(self, engine: str, dtype: str, value: float | None, case: str) -> None:
        """Keep the largest judged error per engine and dtype (NaN: not measured)."""
        if value is None or math.isnan(value):
            return
        if value > self.worst.get((engine, dtype), (-1.0, ""))[0]:
            self.worst[(engine, dtype)] = (value, case)

    def mismatch(self, kind: str, case: str, engine: str = "-", **info: Any) -> None:
        """Record a difference: its kind, the case, the engine and what shows it."""
        record = {"function": self.function, "kind": kind, "case": case, "engine": engine}
        record.update(jsonable(info))
        self.mismatches.append(record)
        with self.path.open("a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")


class Book:
    """The Recorders of a run, one per function, made on first use in that order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.recorders: dict[str, Recorder] = {}

    def __getitem__(self, function: str) -> Recorder:
        if function not in self.recorders:
            self.recorders[function] = Recorder(function, self.folder)
        return self.recorders[function]
