"""Start-up time of ``convcli shape`` and ``--help`` as whole processes, against ``import typer``.

The goals (issue 14): ``convcli shape 224 -k 3 -s 2 -p 1`` (piped, table) costs at most
1.3x a bare ``python -c "import typer"``, ``convcli --help`` 1.5x; the shape path may not
import NumPy, SciPy or Pillow.
A minimal Typer app is timed too (running a command, and its Rich ``--help``): the floor
for any Typer CLI.
Each command runs ``--runs`` times, interleaved (so a busy machine slows all of them
alike) after one warm-up each; medians and ratios are printed, of the wall-clock time and
of the CPU time the process used (user + system, from ``getrusage``): on a machine shared
with other work the CPU time moves far less than the wall clock, and it is what start-up
costs the user's machine.

``--instructions`` also counts the instructions each command executes (one run each under
Valgrind's callgrind, hash seed fixed): a figure the machine's load does not move, for
comparing two trees on a busy machine (CPU time still decides the goal).

    .venv/bin/python benchmarks/startup.py [--runs 30] [--before DIR] [--instructions]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

# The floor for any Typer CLI. (Typer 0.29 would import pydantic and build a TypeAdapter per
# parameter when a command runs, a cost `import typer` alone does not show: pyproject caps it.)
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

# The same app with the help convcli has: Typer formats it with Rich (typer.rich_utils).
RICH_HELP_APP = 'typer.Typer(rich_markup_mode="rich", add_completion=False)'

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
    "convcli --help": [sys.executable, "-m", "convcli", "--help"],
    "convcli shape --help": [sys.executable, "-m", "convcli", "shape", "--help"],
    "minimal Typer app, one command, 4 options": [
        sys.executable, "-c", MINIMAL_TYPER_APP, "shape", "224", "-k", "3", "-s", "2", "-p", "1",
    ],
    "minimal Typer app --help (Rich help, as convcli)": [
        sys.executable, "-c", MINIMAL_TYPER_APP.replace("typer.Typer()", RICH_HELP_APP), "--help",
    ],
    "python -c 'import numpy' (for scale)": [sys.executable, "-c", "import numpy"],
}  # fmt: skip
# --before DIR: the convcli commands also run from an older copy of the package (e.g.
# `git archive BASE convcli | tar -x -C DIR`), interleaved with the current one, both
# started alike: an editable install's import hook would find the installed copy first.
_LAUNCH = (
    "import sys\n"
    "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
    "sys.path.insert(0, {path!r})\n"
    "sys.argv = ['convcli', *{args!r}]\n"
    "from convcli.cli import main\n"
    "main()\n"
)


def launched(path: str, args: list[str]) -> list[str]:
    """``convcli ARGS`` run from the package under ``path``."""
    return [sys.executable, "-c", _LAUNCH.format(path=path, args=args)]


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


def time_once(command: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def instructions(command: list[str]) -> int:
    """The instructions one run of ``command`` executes (callgrind's ``Collected``)."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True,
        env={**ENV, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    return int(re.findall(r"Collected : (\d+)", done.stderr)[-1])


def print_instructions() -> None:
    """Instructions per command (millions) and their ratios to ``import typer``."""
    counts = {name: instructions(command) for name, command in COMMANDS.items()}
    print(f"\ninstructions executed (callgrind, one run each)\n{'command':45} {'M instr':>8} "
          f"{'x typer':>8} {'x app':>6}")  # fmt: skip
    for name, count in counts.items():
        print(f"{name:45} {count / 1e6:8.1f} {count / counts[BASELINE]:7.3f}x "
              f"{count / counts[FLOOR]:5.3f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--before", help="a directory holding an older convcli package")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions (needs valgrind)"
    )
    args = parser.parse_args()
    if args.instructions and not shutil.which("valgrind"):
        parser.error("--instructions needs valgrind on PATH")
    if args.before:
        import convcli

        current = os.path.dirname(os.path.dirname(os.path.abspath(convcli.__file__)))
        for name, command in list(COMMANDS.items()):
            if command[1:3] == ["-m", "convcli"]:
                for label, path in (("before", args.before), ("after", current)):
                    COMMANDS[f"{name} [{label}]"] = launched(path, command[3:])

    for command in COMMANDS.values():
        time_once(command)  # warm-up: .pyc files, page cache
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            wall, cpu = time_once(command)
            walls[name].append(wall)
            cpus[name].append(cpu)

    print(f"{args.runs} runs each, interleaved; medians (and the least CPU time); ratios to "
          "`import typer` and to the minimal Typer app")  # fmt: skip
    print(f"{'command':45} {'wall ms':>8} {'x typer':>8} {'x app':>6} "
          f"{'CPU ms':>8} {'x typer':>8} {'x app':>6} {'min CPU x typer':>16}")  # fmt: skip
    wall_base, cpu_base = (statistics.median(m[BASELINE]) for m in (walls, cpus))
    wall_floor, cpu_floor = (statistics.median(m[FLOOR]) for m in (walls, cpus))
    least_base = min(cpus[BASELINE])  # the least disturbed run: steadier on a shared machine
    for name in COMMANDS:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:45} {1000 * wall:8.1f} {wall / wall_base:7.2f}x {wall / wall_floor:5.2f}x "
              f"{1000 * cpu:8.1f} {cpu / cpu_base:7.2f}x {cpu / cpu_floor:5.2f}x "
              f"{min(cpus[name]) / least_base:15.2f}x")  # fmt: skip
    loaded = heavy_modules_loaded()
    print(f"heavy modules imported by the shape path: {', '.join(loaded) or 'none'}")
    if args.instructions:
        print_instructions()


if __name__ == "__main__":
    main()
