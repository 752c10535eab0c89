"""What shell completion costs the start-up: this tree against an earlier revision.

Completion is on (``--install-completion``, ``--show-completion``, ``_CONVCLI_COMPLETE``),
and should cost nothing measurable on a normal run. Timed as whole processes, each started
the same way (``python -m convcli``), the earlier revision from a ``git archive`` of it on
PYTHONPATH: ``shape 3x224x224 conv:64,k=3`` and ``--help`` for both, ``import typer`` for
the floor, and one completion request (``-k gau``, which loads the kernel catalogue) for
scale. All run ``--runs`` times, interleaved after one warm-up each (which also writes each
tree's bytecode, so neither compiles its sources on the timed runs); medians of wall-clock
and of CPU time (user + system: steadier on a shared machine) and their ratio to ``import
typer`` are printed, then after/before for each command.

    /work/venv/bin/python benchmarks/completion_startup.py [--runs 20] [--base 56c3c95]
"""

from __future__ import annotations

import argparse
import resource
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


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one whole process."""
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, cwd=ROOT)
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr.decode()}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
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
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, (command, env) in cases.items():
                samples[name].append(timed(command, env))
    wall = {name: statistics.median(s[0] for s in runs) for name, runs in samples.items()}
    cpu = {name: statistics.median(s[1] for s in runs) for name, runs in samples.items()}
    print(f"{'command':26} {'wall ms':>8} {'vs typer':>9} {'CPU ms':>8} {'vs typer':>9}")
    for name in cases:
        print(
            f"{name:26} {1000 * wall[name]:8.1f} {wall[name] / wall['import typer']:8.2f}x "
            f"{1000 * cpu[name]:8.1f} {cpu[name] / cpu['import typer']:8.2f}x"
        )
    for name in ("shape", "--help"):
        after, before = f"{name}, after", f"{name}, before"
        print(
            f"{name}: after / before = {wall[after] / wall[before]:.3f} (wall), "
            f"{cpu[after] / cpu[before]:.3f} (CPU)"
        )


if __name__ == "__main__":
    main()
