"""Whole-process time of ``convcli shape`` on ResNet-50, against one layer and against torchinfo.

The goal: ``convcli shape --net samples/resnet50.net`` (about 175 layer rows, read from the
net file) costs at most 1.5x ``convcli shape 3x224x224 -k 3 -s 2 -p 1 -c 64`` (one layer):
parsing, expanding and costing a whole network should add little to the start-up. Also
timed: the same net as JSON, the built-in ``--preset resnet50 --depth 1``, and, for scale,
torchinfo on the same ResNet-50: a process of the PyTorch venv (``--torch-python``) that
imports torch and torchinfo, builds ResNet-50 in plain torch with the builder of
tests/data/make_graph_fixture.py and prints ``torchinfo.summary(model, input_size=(1, 3,
224, 224), depth=3)``; reported as torchinfo / convcli on the net file.

Each command is a whole process, its output read from a pipe; all run ``--runs`` times,
interleaved (so a busy machine slows all of them alike) after one warm-up each; median and
minimum wall-clock times are printed, with each median's ratio to the one-layer command.
Last, the net-file command runs under ``python -X importtime`` and must import none of
NumPy, SciPy, Pillow (the exit status is 1 if it does).

    /work/venv/bin/python benchmarks/graph_startup.py [--runs 15] \
        [--torch-python /work/torchenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NET = str(ROOT / "samples" / "resnet50.net")
HEAVY = ("numpy", "scipy", "PIL")
TARGET = 1.5  # (2) / (1)
# As installed: bytecode cached. PYTHONDONTWRITEBYTECODE would recompile the sources on
# every run and time the compiler instead of the start-up.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

# Run by the PyTorch venv's python; the builder lives in tests/data (torchvision is not
# installed there). verbose=0: summary() would otherwise print the table a second time.
TORCHINFO_SCRIPT = f"""
import sys
sys.path.insert(0, {str(ROOT / "tests" / "data")!r})
import torch
import torchinfo
from make_graph_fixture import Bottleneck, ResNet
model = ResNet(Bottleneck, [3, 4, 6, 3])
print(torchinfo.summary(model, input_size=(1, 3, 224, 224), depth=3, verbose=0))
"""

ONE_LAYER = "(1) shape 3x224x224 -k 3 -s 2 -p 1 -c 64"
NET_TABLE = "(2) shape --net resnet50.net"
TORCHINFO = "(5) torchinfo.summary, ResNet-50"


def convcli_command() -> list[str]:
    """The ``convcli`` console script beside this python, else on PATH, else ``-m convcli``."""
    beside = Path(sys.executable).parent / "convcli"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("convcli")
    return [found] if found else [sys.executable, "-m", "convcli"]


def commands(convcli: list[str], torch_python: str | None) -> dict[str, list[str]]:
    found = {
        ONE_LAYER: [*convcli, "shape", "3x224x224", "-k", "3", "-s", "2", "-p", "1", "-c", "64"],
        NET_TABLE: [*convcli, "shape", "--net", NET],
        "(3) shape --net resnet50.net --format json": [
            *convcli, "shape", "--net", NET, "--format", "json",
        ],
        "(4) shape --preset resnet50 --depth 1": [
            *convcli, "shape", "--preset", "resnet50", "--depth", "1",
        ],
    }  # fmt: skip
    if torch_python is not None:
        found[TORCHINFO] = [torch_python, "-c", TORCHINFO_SCRIPT]
    return found


def run(command: list[str]) -> tuple[float, str]:
    """Wall-clock seconds of the whole process, and its standard output (read from a pipe)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    return elapsed, done.stdout


def check_output(name: str, stdout: str) -> None:
    """Make sure the warm-up produced what is being timed, not an error message."""
    if name == NET_TABLE:
        rows = sum(1 for line in stdout.splitlines() if line.lstrip()[:1].isdigit())
        assert rows >= 170, f"{name}: {rows} layer rows"
    elif "json" in name:
        assert len(json.loads(stdout)["layers"]) >= 170, name
    elif name == TORCHINFO:
        assert "Total params: 25,557,032" in stdout, stdout[-500:]


def heavy_modules_imported(convcli: list[str]) -> tuple[list[str], int]:
    """NumPy, SciPy, Pillow modules the net-file command imports (should be none), and how
    many modules it imports in all."""
    # The console script is a Python file; run it under -X importtime like a module.
    script = convcli if convcli[0] == sys.executable else [sys.executable, *convcli]
    command = [script[0], "-X", "importtime", *script[1:], "shape", "--net", NET]
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT)
    names = [
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line and "cumulative" not in line
    ]
    heavy = sorted({name for name in names if name.split(".")[0] in HEAVY})
    return heavy, len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--torch-python", default="/work/torchenv/bin/python")
    args = parser.parse_args()

    torch_python = args.torch_python if Path(args.torch_python).exists() else None
    if torch_python is None:
        print(f"{args.torch_python} not found: torchinfo (5) skipped")
    convcli = convcli_command()
    to_time = commands(convcli, torch_python)
    for name, command in to_time.items():
        check_output(name, run(command)[1])  # warm-up: .pyc files, page cache
    samples: dict[str, list[float]] = {name: [] for name in to_time}
    for _ in range(args.runs):
        for name, command in to_time.items():
            samples[name].append(run(command)[0])

    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"convcli: {' '.join(convcli)}; {args.runs} runs each, interleaved")
    print(f"{'command':45} {'median ms':>10} {'min ms':>8} {'vs (1)':>7}")
    for name, values in samples.items():
        ratio = medians[name] / medians[ONE_LAYER]
        print(f"{name:45} {1000 * medians[name]:10.1f} {1000 * min(values):8.1f} {ratio:6.2f}x")
    ratio = medians[NET_TABLE] / medians[ONE_LAYER]
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"(2) / (1) = {ratio:.2f}x, target <= {TARGET}x: {verdict}")
    if TORCHINFO in medians:
        print(f"(5) / (2) = {medians[TORCHINFO] / medians[NET_TABLE]:.2f}x")

    heavy, imported = heavy_modules_imported(convcli)
    print(
        f"python -X importtime convcli shape --net resnet50.net: {imported} modules; "
        f"NumPy/SciPy/Pillow among them: {', '.join(heavy) or 'none'}"
    )
    if heavy:
        sys.exit(1)


if __name__ == "__main__":
    main()
