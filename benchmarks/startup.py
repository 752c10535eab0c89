"""Start-up time of ``convcli shape`` as a whole process, against ``import typer``.

The goal: ``convcli shape 224 -k 3 -s 2 -p 1`` costs at most 1.3x a bare
``python -c "import typer"``: the shape path may not import NumPy, SciPy or Pillow.
With Typer 0.29, running any command also imports pydantic and builds a validator per
parameter, so a minimal one-command Typer app is timed too: the floor for any Typer CLI.
Each command runs ``--runs`` times, interleaved (so a busy machine slows all of them
alike) after one warm-up each; medians and ratios are printed.

    .venv/bin/python benchmarks/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

# The floor for any Typer CLI: Typer 0.29 (installed here) imports pydantic and builds a
# TypeAdapter per parameter when a command runs, a cost `import typer` alone does not show.
MINIMAL_TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def shape(size: str, k: str = typer.Option("1", "-k"), s: str = typer.Option("1", "-s"),
          p: str = typer.Option("0", "-p")):
    print(size)
@app.command()
def other() -> None:
    pass
app()
"""

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    "convcli shape 224 -k 3 -s 2 -p 1 (table)": [
        sys.executable, "-m", "convcli", "shape", "224", "-k", "3", "-s", "2", "-p", "1",
    ],
    "convcli shape ... --format plain": [
        sys.executable, "-m", "convcli", "shape", "224", "-k", "3", "-s", "2", "-p", "1",
        "--format", "plain",
    ],
    "minimal Typer app, one command, 4 options": [
        sys.executable, "-c", MINIMAL_TYPER_APP, "shape", "224", "-k", "3", "-s", "2", "-p", "1",
    ],
    "python -c 'import numpy' (for scale)": [sys.executable, "-c", "import numpy"],
}  # fmt: skip
BASELINE = "python -c 'import typer'"
FLOOR = "minimal Typer app, one command, 4 options"
HEAVY = ("numpy", "scipy", "PIL")
# As installed: bytecode cached. PYTHONDONTWRITEBYTECODE would recompile convcli's sources
# on every run and time the compiler instead of the start-up.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def heavy_modules_loaded() -> list[str]:
    """Which of NumPy, SciPy, Pillow the shape command imports (should be none)."""
    code = (
        "import sys\n"
        "sys.argv = ['convcli', 'shape', '224', '-k', '3', '-s', '2', '-p', '1']\n"
        "from convcli.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        f"sys.stderr.write('HEAVY:' + ' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    return done.stderr.rsplit("HEAVY:", 1)[-1].split()


def time_once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    for command in COMMANDS.values():
        time_once(command)  # warm-up: .pyc files, page cache
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            samples[name].append(time_once(command))

    baseline = statistics.median(samples[BASELINE])
    floor = statistics.median(samples[FLOOR])
    print(f"{'command':45} {'median ms':>10} {'vs import typer':>16} {'vs minimal app':>15}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:45} {1000 * median:10.1f} {median / baseline:15.2f}x {median / floor:14.2f}x")
    loaded = heavy_modules_loaded()
    print(f"heavy modules imported by the shape path: {', '.join(loaded) or 'none'}")


if __name__ == "__main__":
    main()
