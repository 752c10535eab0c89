"""Whole-process time of ``convcli shape model.onnx`` on ResNet-50, against torchinfo.

The goal: a ResNet-50 exported to ONNX is sized in under 0.5 s, the whole process, with
no framework installed (only the ``onnx`` package). Timed, each a whole process with its
output read from a pipe, ``--runs`` times interleaved after one warm-up each:

(1) ``convcli shape 3x224x224 -k 3 -s 2 -p 1 -c 64``: one layer, the start-up floor;
(2) ``convcli shape resnet50.onnx``: torch's default export, its 98 MiB of weights in an
    external data file (never read);
(3) ``convcli shape resnet50_inline.onnx``: the same model with its weights inside the
    file (read whole: protobuf cannot skip them);
(4) ``convcli shape resnet50.onnx --format json``;
(5) torchinfo on the same ResNet-50 from its Python code: a process of the PyTorch venv
    (``--torch-python``) that imports torch and torchinfo, builds ResNet-50 with the
    builder of tests/data/make_graph_fixture.py and prints ``torchinfo.summary(model,
    input_size=(1, 3, 224, 224), depth=3)``.

The two ONNX files are written once into benchmarks/out/ by the PyTorch venv (torch's
default exporter, ``dynamo=True``, opset 20; batch norms folded into the convolutions as
it does by default); convcli runs from this python's venv, which needs ``onnx``. The last
line checks that (2) imports neither NumPy nor torch (convcli loads only onnx's protobuf
classes and its C++ shape inference).

    /work/venv/bin/python benchmarks/onnx_shape.py [--runs 15] \\
        [--torch-python /work/torchenv/bin/python]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

# The start-up harness, the torchinfo script and the one-layer reference are shared with
# the net-file benchmark (run as scripts, so benchmarks/ is on sys.path).
from graph_startup import ENV, ONE_LAYER, TORCHINFO, TORCHINFO_SCRIPT, convcli_command, run

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
MODEL = OUT / "resnet50.onnx"
INLINE = OUT / "resnet50_inline.onnx"
TARGET = 0.5  # seconds for (2)

EXPORT_SCRIPT = f"""
import sys, warnings
sys.path.insert(0, {str(ROOT / "tests" / "data")!r})
import torch
from make_graph_fixture import Bottleneck, ResNet
warnings.simplefilter("ignore")
model = ResNet(Bottleneck, [3, 4, 6, 3]).eval()
x = torch.zeros(1, 3, 224, 224)
program = torch.onnx.export(model, (x,), dynamo=True)
program.save({str(MODEL)!r}, external_data=True)
program.save({str(INLINE)!r}, external_data=False)
"""

ONNX = "(2) shape resnet50.onnx (external weights)"
INLINE_NAME = "(3) shape resnet50_inline.onnx (98 MiB)"


def export(torch_python: str) -> None:
    if MODEL.exists() and INLINE.exists():
        return
    OUT.mkdir(exist_ok=True)
    print(f"exporting ResNet-50 to {OUT} with {torch_python} ...", flush=True)
    run([torch_python, "-c", EXPORT_SCRIPT])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--torch-python", default="/work/torchenv/bin/python")
    args = parser.parse_args()
    if not Path(args.torch_python).exists():
        sys.exit(f"{args.torch_python} not found: it exports the model and runs torchinfo")
    export(args.torch_python)
    convcli = convcli_command()
    to_time = {
        ONE_LAYER: [*convcli, "shape", "3x224x224", "-k", "3", "-s", "2", "-p", "1", "-c", "64"],
        ONNX: [*convcli, "shape", str(MODEL)],
        INLINE_NAME: [*convcli, "shape", str(INLINE)],
        "(4) shape resnet50.onnx --format json": [*convcli, "shape", str(MODEL), "--format",
                                                  "json"],
        TORCHINFO: [args.torch_python, "-c", TORCHINFO_SCRIPT],
    }  # fmt: skip
    outputs = {name: run(command)[1] for name, command in to_time.items()}  # warm-up
    assert "Total params: 25,557,032" in outputs[TORCHINFO], outputs[TORCHINFO][-300:]
    total = next(line for line in outputs[ONNX].splitlines() if "total" in line)
    print("convcli's total row:", " ".join(total.split()))
    samples: dict[str, list[float]] = {name: [] for name in to_time}
    for _ in range(args.runs):
        for name, command in to_time.items():
            samples[name].append(run(command)[0])
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{args.runs} runs each, interleaved; {os.cpu_count()} cores")
    print(f"{'command':45} {'median ms':>10} {'min ms':>8}")
    for name, values in samples.items():
        print(f"{name:45} {1000 * medians[name]:10.1f} {1000 * min(values):8.1f}")
    verdict = "met" if medians[ONNX] < TARGET else "NOT met"
    print(f"(2) = {medians[ONNX]:.3f} s, target < {TARGET} s: {verdict}")
    print(f"(5) / (2) = {medians[TORCHINFO] / medians[ONNX]:.1f}x")

    script = convcli if convcli[0] == sys.executable else [sys.executable, *convcli]
    done = subprocess.run([script[0], "-X", "importtime", *script[1:], "shape", str(MODEL)],
                          capture_output=True, text=True, env=ENV, cwd=ROOT)  # fmt: skip
    names = {line.rsplit("|", 1)[1].strip().split(".")[0]
             for line in done.stderr.splitlines() if line.startswith("import time:")}  # fmt: skip
    heavy = sorted(names & {"numpy", "torch", "ml_dtypes", "scipy", "PIL"})
    print(f"(2) imports NumPy/torch/ml_dtypes/SciPy/Pillow: {', '.join(heavy) or 'none'}")
    if heavy or medians[ONNX] >= TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
