"""Record what convcli prints for a corpus of commands, so a refactor can prove it changed
nothing: ``tests/test_cli_corpus.py`` re-runs every command and compares exit code, stdout
and stderr byte for byte.

Re-record only when an output is meant to change (and say why in the commit)::

    python tests/data/make_cli_corpus.py

It writes ``tests/data/cli_corpus.json`` next to this script. Commands run in-process
through the CLI runner, as the tests run them (not a terminal: tables are 200 columns).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

CORPUS: list[list[str]] = [
    # shape: one layer, chains, options, formats, presets, nets, targets, errors
    ["shape", "3x12x12", "-k", "5", "-c", "256"],
    ["shape", "224", "-k", "3", "-s", "2", "-p", "same"],
    ["shape", "224", "-k", "3", "-s", "2", "-p", "same", "--format", "json"],
    ["shape", "3x224x224", "conv:64,k=7,s=2,p=3", "maxpool:k=3,s=2,p=1", "conv:128,k=3,p=1"],
    ["shape", "64x16x16", "deconv:32,k=4,s=2,p=1", "--format", "csv"],
    ["shape", "--net", "samples/resnet_stem.net", "--format", "json"],
    ["shape", "--net", "samples/dilated.net"],
    ["shape", "--net", "samples/autoencoder.net", "--format", "csv"],
    ["shape", "3x224x224", "--preset", "mobilenet_v1", "--width-mult", "0.5",
     "--resolution", "160"],
    ["shape", "--preset", "vgg16", "--format", "plain"],
    ["shape", "--preset", "resnet50", "--depth", "1"],
    ["shape", "--preset", "unet", "--format", "json"],
    ["shape", "--preset", "vit_b_16", "--depth", "1"],
    ["shape", "--preset", "r3d_18", "--format", "csv"],
    ["shape", "--preset", "efficientnet_b0", "--depth", "2"],
    ["shape", "--preset", "densenet121", "--format", "plain"],
    ["shape", "224", "-k", "7", "-s", "2", "--target", "112"],
    ["shape", "224", "-k", "7", "--target", "112", "--format", "json"],
    ["shape", "16", "--op", "deconv", "-k", "4", "--target", "32"],
    ["shape", "3x224x224", "-k", "3", "-s", "2", "-c", "64", "--expect", "64x112x112"],
    ["shape", "3x224x224", "-k", "7", "-s", "2", "-c", "8", "--strict"],
    ["shape", "224x224x3", "--channels-last", "-k", "3", "-s", "2", "-p", "1", "-c", "8"],
    ["shape", "5", "--op", "maxpool", "-k", "2", "-s", "2", "-p", "1", "--ceil-mode"],
    ["shape", "8x8x8", "tag:x", "conv:8,k=3,p=1,bn,act=relu", "add:x", "se:2", "--format", "json"],
    ["shape", "4x100", "conv1d:8,k=5,s=2", "maxpool1d:k=2"],
    ["shape", "768f", "fc:1000", "--count-elementwise"],
    ["shape", "3x8x8", "conv:4,k=3,zz=1"],
    ["shape", "3x8x8", "pool2d:k=2"],
    ["shape", "8x8x8", "tag:x", "conv:4,k=1", "add:x"],
    ["shape", "3y8", "-k", "3"],
    # compare
    ["compare", "3x12x12", "-k", "5", "-c", "256", "--no-bias"],
    ["compare", "512x14x14", "-k", "3", "-c", "512", "-p", "1", "--no-bias", "--format", "json"],
    ["compare", "3x64x64", "-c", "32", "--kernel-matrix", "sobel-x"],
    ["compare", "--preset", "mobilenet_v1"],
    ["compare", "--preset", "mobilenet_v2", "--format", "json"],
    ["compare", "--net", "samples/mobilenet_v1.net", "--format", "csv"],
    # kernels
    ["kernels"],
    ["kernels", "sobel-x"],
    ["kernels", "gaussian:1", "--format", "json"],
    # apply on matrices
    ["apply", "--matrix", "0 1 2; 3 4 5; 6 7 8", "-k", "0 1; 2 3"],
    ["apply", "--matrix", "0 1 2; 3 4 5; 6 7 8", "-k", "maxpool:2,s=1"],
    ["apply", "--matrix", "1 1 0 0 0 0 1 1; 1 1 0 0 0 0 1 1", "-k", "diff-x", "--format", "json"],
    ["apply", "--matrix", "0 1 2; 3 4 5; 6 7 8 | 1 2 3; 4 5 6; 7 8 9", "-k", "0 1; 2 3 | 1 2; 3 4"],
    # learn
    # learn: its residuals are float noise that BLAS may change, so only a refusal here
    ["learn", "tests/data/corpus_x.txt", "tests/data/corpus_y.txt", "--size", "9"],
]  # fmt: skip


def record(args: list[str]) -> dict[str, object]:
    from tests.conftest import invoke

    result = invoke(*args)
    return {"args": args, "exit_code": result.exit_code, "stdout": result.stdout,
            "stderr": result.stderr}  # fmt: skip


if __name__ == "__main__":
    import os

    os.chdir(ROOT)
    entries = [record(args) for args in CORPUS]
    (HERE / "cli_corpus.json").write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")
    print(f"recorded {len(entries)} commands")
