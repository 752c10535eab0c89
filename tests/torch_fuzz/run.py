"""Differential fuzzing of convcli.core against torch 2.13 (and SciPy for the median).

Run it after any change to ``convcli/core``: random cases of conv2d (every engine),
conv_transpose2d, the pools, pad2d and median_filter2d, exhaustive one-axis geometry
sweeps, and fixed edge cases, each compared with torch's answer (accept or refuse, shape,
dtype, values, NaN and infinities). It prints per function and engine the cases compared,
the worst errors and the mismatches by kind, writes every mismatch as a JSON line to the
output folder, and exits 1 on any mismatch outside ``KNOWN`` below (0 otherwise).

Run with the PyTorch venv (torch 2.13.0 CPU, with NumPy and SciPy; ``pip install
torch==2.13.0`` in a separate venv), from anywhere: it tests the convcli of the checkout it
sits in. The default counts take about two minutes of CPU on one core; the suite never
imports torch (pyproject's ``--ignore=tests/torch_fuzz``):

    /work/torchenv/bin/python tests/torch_fuzz/run.py
    /work/torchenv/bin/python tests/torch_fuzz/run.py --only conv2d pad2d --cases 500 --seed 7
    /work/torchenv/bin/python tests/torch_fuzz/run.py --self-check

A case is reproduced by the same ``--seed`` and ``--cases`` (its id, ``medium/123``, is the
size profile and the index). ``--self-check`` breaks a few functions on purpose and fails
unless the harness notices each one: it shows the harness can fail.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FUZZERS = ("conv2d", "conv_transpose2d", "pools", "pad2d", "median_filter2d")
FIXED = ("sweeps", "edges")  # fixed grids and cases: no count, no seed
# As many cases as the first runs of 2026-12-06 (about two minutes of CPU in all).
DEFAULT_CASES = {
    "conv2d": 12000,
    "conv_transpose2d": 6000,
    "pools": 18000,
    "pad2d": 5000,
    "median_filter2d": 6000,
}


def pair(value: Any) -> tuple:
    """An int or a pair (as JSON gives it back) as a pair."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


@dataclass(frozen=True)
class Known:
    """A difference from torch that is torch's own inconsistency or a documented choice."""

    function: str
    kind: str
    why: str
    applies: Callable[[dict[str, Any]], bool]


# The allow-list: these mismatches are reported as known and do not fail the run. Add to it
# only what is torch's own inconsistency or a choice documented in convcli's docstrings.
KNOWN = (
    # torch float32 (oneDNN) returns an empty output where torch float64 refuses the same
    # call ("Output size is too small"); convcli refuses it in every dtype, naming padding.
    Known(
        "conv_transpose2d",
        "refused-where-torch-accepts",
        "empty output: torch float32 accepts, float64 refuses",
        lambda r: bool(r.get("float32_only")) and 0 in r["torch_shape"],
    ),
    # torch float32 accepts dilation 0 along a kernel axis of one tap; float64 refuses it
    # ("dilation should be greater than zero"); convcli refuses any dilation < 1.
    Known(
        "conv_transpose2d",
        "refused-where-torch-accepts",
        "dilation 0: torch float32 accepts, float64 refuses",
        lambda r: bool(r.get("float32_only")) and 0 in pair(r.get("dilation", 1)),
    ),
    # F.pad crops where a pad is negative; pad2d takes pads >= 0 (its docstring) and
    # refuses others, naming the pads.
    Known(
        "pad2d",
        "refused-where-torch-accepts",
        "negative pads: F.pad crops, pad2d refuses",
        lambda r: min(r["pads"]) < 0,
    ),
    # torch returns 0 output channels for an x with 0 channels whatever the weight says;
    # convcli refuses such an x on purpose (conv.py, _prepare_inputs).
    Known(
        "conv2d",
        "refused-where-torch-accepts",
        "x with 0 channels: torch returns 0 channels, convcli refuses",
        lambda r: len(r["xshape"]) >= 3 and r["xshape"][-3] == 0,
    ),
)


def known(record: dict[str, Any]) -> Known | None:
    """The allow-list entry a mismatch falls under (by function, its sweep and edges rows
    included), or None."""
    function = record["function"].split()[0]
    for entry in KNOWN:
        if entry.function == function and entry.kind == record["kind"]:
            try:
                if entry.applies(record):
                    return entry
            except (KeyError, TypeError, ValueError):  # a record without what it tests
                continue
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description="Compare convcli.core with torch 2.13 on random and fixed cases.",
    )
    parser.add_argument(
        "--only", nargs="+", choices=FUZZERS + FIXED, default=list(FUZZERS + FIXED),
        help="what to run (default: everything)",
    )  # fmt: skip
    parser.add_argument(
        "--cases", action="append", default=[], metavar="[FUNCTION=]N",
        help="random cases for every fuzzer (N) or one (conv2d=N); repeatable; "
        f"defaults: {', '.join(f'{k}={v}' for k, v in DEFAULT_CASES.items())}",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--out", type=Path, default=None,
        help="folder for the mismatch lines and summary.txt (default: a new temporary folder)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=1,
        help="convcli's worker threads (default 1: the machine is shared)",
    )  # fmt: skip
    parser.add_argument(
        "--self-check", action="store_true",
        help="break pools, pad2d, conv2d and the median on purpose; fail unless each is caught",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.counts = dict(DEFAULT_CASES)
    for spec in args.cases:
        name, _, number = spec.rpartition("=")
        if (name and name not in FUZZERS) or not number.isdigit():
            parser.error(
                f"--cases: expected N or FUNCTION=N (one of {', '.join(FUZZERS)}), got {spec!r}"
            )
        for function in [name] if name else FUZZERS:
            args.counts[function] = int(number)
    return args


def prepare(threads: int) -> None:
    """Hold NumPy's BLAS and convcli to ``threads`` and import this checkout's convcli.

    Environment variables first: BLAS reads them when NumPy is first imported.
    """
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from convcli import _threads

    _threads.set_thread_share(threads)


# What --only names -> the module that runs it (each has main(book, cases, seed)).
PARTS = {
    "conv2d": "fuzz_conv",
    "conv_transpose2d": "fuzz_transpose",
    "pools": "fuzz_pool",
    "pad2d": "fuzz_pad",
    "median_filter2d": "fuzz_median",
    "sweeps": "sweeps",
    "edges": "edges",
}


def run_parts(book: Any, only: list[str], counts: dict[str, int], seed: int) -> float:
    """Run what ``only`` names into ``book``, in PARTS' order; CPU seconds in all."""
    total = 0.0
    for name, module in PARTS.items():
        if name in only:
            start = time.process_time()
            importlib.import_module(module).main(book, counts.get(name, 0), seed)
            seconds = time.process_time() - start
            print(f"ran {name} in {seconds:.1f} s of CPU", file=sys.stderr, flush=True)
            total += seconds
    return total


METRICS = {
    "conv2d": "|out - ref| / sum(|x| |w|) per output, float64 reference (FFT: / the largest sum)",
    "conv_transpose2d": "|out - ref| / sum(|x| |w|) per output, float64 reference",
    "avg_pool2d": "|out - ref| / mean(|x|) per output, float64 reference",
    "max_pool2d": "exact: 0 means bit for bit",
    "min_pool2d": "exact: 0 means bit for bit",
    "median_filter2d": "exact: 0 means bit for bit",
}


def engine_rows(rec: Any, dtypes: list[str], kinds: dict[str, Counter[str]]) -> list[str]:
    """One line per engine: compared cases, worst error per dtype, mismatches by kind."""
    seen = list(dict.fromkeys([*rec.compared, *(e for e, _ in rec.worst), *kinds]))
    engines = sorted(seen, key=lambda e: ("refusals" in e, seen.index(e)))  # values first
    lines = []
    for engine in engines:
        worst = []
        for dtype in dtypes:
            value = rec.worst.get((engine, dtype))
            worst.append(f"{value[0]:>15.2e}" if value else f"{'':>15}")
        found = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.get(engine, Counter()).items()))
        lines.append(f"  {engine:<34}{rec.compared[engine]:>9}{''.join(worst)}  {found or '-'}")
    return lines


def summarize(rec: Any) -> tuple[list[str], int, int]:
    """A function's block of the summary, its unknown and known mismatch counts."""
    kinds: dict[str, Counter[str]] = {}
    unknown = known_count = 0
    reasons: Counter[str] = Counter()
    for record in rec.mismatches:
        entry = known(record)
        label = f"{record['kind']} (known)" if entry else record["kind"]
        kinds.setdefault(record["engine"], Counter())[label] += 1
        if entry:
            known_count += 1
            reasons[entry.why] += 1
        else:
            unknown += 1
    dtypes = sorted({dtype for _, dtype in rec.worst})
    metric = rec.metric or METRICS.get(rec.function, "")
    lines = [f"{rec.function}: {rec.cases} cases; worst error: {metric or '-'}"]
    header = "".join(f"{'worst ' + d:>15}" for d in dtypes)
    lines.append(f"  {'engine':<34}{'compared':>9}{header}  mismatches")
    lines += engine_rows(rec, dtypes, kinds)
    lines += [f"  known: {n} x {why}" for why, n in reasons.items()]
    if rec.tallies:
        lines.append("  also: " + ", ".join(f"{k} {v}" for k, v in sorted(rec.tallies.items())))
    return lines, unknown, known_count


def report(book: Any, folder: Path, header: list[str]) -> int:
    """Print and save the summary; the number of mismatches outside the allow-list."""
    lines = list(header)
    unknown = known_count = 0
    for rec in book.recorders.values():
        block, bad, fine = summarize(rec)
        lines += block + [""]
        unknown += bad
        known_count += fine
    if unknown:
        lines.append(
            f"FAIL: {unknown} mismatches outside the allow-list ({known_count} known); "
            f"see {folder}/mismatches-*.jsonl"
        )
    else:
        lines.append(
            f"OK: no mismatch outside the allow-list ({known_count} known); lines in {folder}"
        )
    text = "\n".join(lines)
    (folder / "summary.txt").write_text(text + "\n")
    print(text)
    return unknown


def main(argv: list[str] | None = None) -> int:
    """Run, print the summary, exit 1 on any mismatch outside KNOWN."""
    args = parse_args(argv)
    prepare(args.threads)
    folder = args.out or Path(tempfile.mkdtemp(prefix="convcli-torch-fuzz-"))
    folder.mkdir(parents=True, exist_ok=True)
    if args.self_check:
        from self_check import self_check

        return self_check(folder, args.seed, known)
    import common
    import torch

    import convcli

    if not torch.__version__.startswith("2.13."):
        print(f"note: KNOWN was made with torch 2.13, this is {torch.__version__}", file=sys.stderr)
    book = common.Book(folder)
    seconds = run_parts(book, args.only, args.counts, args.seed)
    header = [
        f"convcli {convcli.__version__} from {Path(convcli.__file__).parent}, "
        f"torch {torch.__version__}, seed {args.seed}, {seconds:.0f} s of CPU",
        "",
    ]
    return 1 if report(book, folder, header) else 0


if __name__ == "__main__":
    sys.exit(main())
