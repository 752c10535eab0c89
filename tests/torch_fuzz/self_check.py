"""``run.py --self-check``: break core functions on purpose and check the harness notices.

Why: a harness that prints "no mismatch" proves nothing until it has been seen to fail. Each
mutant replaces one ``convcli.core`` function by a wrapper with a plausible bug (an argument
ignored, a border mode confused, the lower middle for the upper); a short run of the fuzzer
that covers it must then report a mismatch outside the allow-list. The functions are put
back after each mutant.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fuzz_conv
import fuzz_median
import fuzz_pad
import fuzz_pool
import fuzz_transpose
import numpy as np
from common import Book

import convcli.core as core


def max_without_ceil(orig: Callable[..., Any]) -> Callable[..., Any]:
    """max_pool2d that ignores ceil_mode."""

    def wrapper(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, **kw):
        return orig(x, kernel_size, stride, padding, dilation, False, **kw)

    return wrapper


def avg_always_counting_pads(orig: Callable[..., Any]) -> Callable[..., Any]:
    """avg_pool2d that ignores count_include_pad."""

    def wrapper(x, kernel_size, stride=None, padding=0, ceil_mode=False, cip=True, div=None, **kw):
        return orig(x, kernel_size, stride, padding, ceil_mode, True, div, **kw)

    return wrapper


def pad_reflect_as_symmetric(orig: Callable[..., Any]) -> Callable[..., Any]:
    """pad2d that repeats the edge pixel in reflect mode (symmetric's rule)."""

    def wrapper(x, pads, mode="zeros", out=None):
        return orig(x, pads, "symmetric" if mode == "reflect" else mode, out)

    return wrapper


def conv_without_bias(orig: Callable[..., Any]) -> Callable[..., Any]:
    """conv2d that drops the bias."""

    def wrapper(x, weight, bias=None, *args, **kw):
        return orig(x, weight, None, *args, **kw)

    return wrapper


def transpose_without_output_padding(orig: Callable[..., Any]) -> Callable[..., Any]:
    """conv_transpose2d that ignores output_padding."""

    def wrapper(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        return orig(x, weight, bias, stride, padding, 0, groups, dilation)

    return wrapper


def median_lower_middle(orig: Callable[..., Any]) -> Callable[..., Any]:
    """median_filter2d that takes the lower of the two middle values (even windows)."""

    def wrapper(x, *args, **kw):
        x = np.asarray(x)
        out = orig(-x.astype(np.float64), *args, **kw)
        return (-out).astype(np.float64 if x.dtype == np.float64 else np.float32)

    return wrapper


# (function replaced, its broken version, a short run of the fuzzer that covers it)
MUTANTS: tuple[tuple[str, Callable[..., Any], Callable[[Book, int], None]], ...] = (
    ("max_pool2d", max_without_ceil, lambda book, seed: fuzz_pool.run(book, 400, seed)),
    ("avg_pool2d", avg_always_counting_pads, lambda book, seed: fuzz_pool.run(book, 400, seed)),
    ("pad2d", pad_reflect_as_symmetric, lambda book, seed: fuzz_pad.run(book["pad2d"], 300, seed)),
    ("conv2d", conv_without_bias, lambda book, seed: fuzz_conv.run(book["conv2d"], 200, seed)),
    (
        "conv_transpose2d",
        transpose_without_output_padding,
        lambda book, seed: fuzz_transpose.run(book["conv_transpose2d"], 300, seed),
    ),
    (
        "median_filter2d",
        median_lower_middle,
        lambda book, seed: fuzz_median.run(book["median_filter2d"], 300, seed),
    ),
)


def self_check(folder: Path, seed: int, known: Callable[[dict[str, Any]], Any]) -> int:
    """Run every mutant; 0 when each was caught, 1 otherwise (printed per mutant).

    ``known`` is run.py's allow-list test: a known difference does not count as caught.
    """
    missed = 0
    for name, breaks, fuzz in MUTANTS:
        original = getattr(core, name)
        book = Book(folder / f"self-check-{name}")
        book.folder.mkdir(parents=True, exist_ok=True)
        setattr(core, name, breaks(original))
        try:
            fuzz(book, seed)
        finally:
            setattr(core, name, original)
        found = [r for rec in book.recorders.values() for r in rec.mismatches if not known(r)]
        kinds = sorted({r["kind"] for r in found})
        verdict = f"caught: {len(found)} mismatches ({', '.join(kinds)})" if found else "MISSED"
        print(f"{name} broken ({breaks.__doc__}): {verdict}")
        missed += not found
    print(
        "self-check OK: every mutant was caught"
        if not missed
        else f"self-check FAILED: {missed} missed"
    )
    return 1 if missed else 0
