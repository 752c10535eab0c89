"""What shell completion costs the start-up: this tree against an earlier revision.

Completion is on (``--install-completion``, ``--show-completion``, ``_CONVCLI_COMPLETE``),
and should cost nothing measurable on a normal run. Timed as whole processes, each started
the same way (``python -m convcli``), the earlier revision from a ``git archive`` of it on
PYTHONPATH: ``shape 3x224x224 conv:64,k=3`` and ``--help`` for both, ``import typer`` for
the floor, and one completion request (``-k gau``, which loads the kernel catalogue) for
scale. All run ``--runs`` times, interleaved after one warm-up each; medians and their ratio
to ``import typer`` are printed, then after/before for each command.

    /work/venv/bin/python benchmarks/completion_startup.py [--runs 20] [--base 56c3c95]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from graph_startup import ENV, ROOT

SHAPE = ["shape", "3x224x224", "conv:64,k=3"]
COMPLETE = {
    "_CONVCLI_COMPLETE": "complete_bash",
    "COMP_WORDS": "convcli apply x.png -k gau",
    "COMP_CWORD": "4",
}


def extract(revision: str, into: str) -> str:
    """The ``convcli`` package as it was at ``revision``, unpacked below ``into``."""
    archive = Path(into) / "base.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", revision, "convcli"], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--base", default="56c3c95", help="the revision before completion")
    args = parser.parse_args()
    convcli = [sys.executable, "-m", "convcli"]
    with tempfile.TemporaryDirectory() as folder:
        before = {**ENV, "PYTHONPATH": extract(args.base, folder)}
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "import typer": ([sys.executable, "-c", "import typer"], ENV),
            "shape, before": ([*convcli, *SHAPE], before),
            "shape, after": ([*convcli, *SHAPE], ENV),
            "--help, before": ([*convcli, "--help"], before),
            "--help, after": ([*convcli, "--help"], ENV),
            "complete -k gau, after": (convcli, {**ENV, **COMPLETE}),
        }
        for command, env in cases.values():
            timed(command, env)  # warm-up: .pyc files, page cache
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, (command, env) in cases.items():
                samples[name].append(timed(command, env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    floor = medians["import typer"]
    print(f"{'command':26} {'median ms':>10} {'vs import typer':>16}")
    for name, median in medians.items():
        print(f"{name:26} {1000 * median:10.1f} {median / floor:15.2f}x")
    for name in ("shape", "--help"):
        ratio = medians[f"{name}, after"] / medians[f"{name}, before"]
        print(f"{name}: after / before = {ratio:.3f}")


if __name__ == "__main__":
    main()
