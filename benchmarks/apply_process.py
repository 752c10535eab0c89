"""Whole-process time of ``convcli apply`` on a photo, against the peers a user would reach for.

Each command reads a PNG, filters it and writes a PNG (zlib level 1 wherever the tool lets
us choose), as a fresh process, so start-up, decoding and encoding count as they do for a
user. Two tasks:

- Sobel gradient magnitude: ``convcli apply -k sobel``; a Python script with OpenCV
  (``cv2.Sobel`` x and y, ``cv2.magnitude``: the same formula and border); ``vips sobel``
  (libvips 8.14 computes ``|gx| + |gy|``, not the magnitude: timed, not compared).
- Gaussian blur, sigma 2: ``convcli apply -k gaussian:2`` (13x13, radius 3 sigma);
  OpenCV ``GaussianBlur`` (its own size rule for 8-bit: 13x13); ``vips gaussblur 2``;
  ImageMagick ``-gaussian-blur 0x2``.

Inputs: ``samples/chelsea.png`` (451x300) and a 3840x2160 bicubic upscale of it made in
a temporary folder (a smooth image: PNG encoding is cheaper than on a real 4K photo).
Commands run interleaved, one warm-up each, ``--runs`` times; medians and ratios to
convcli are printed, and how far OpenCV's pixels are from convcli's.

    .venv/bin/python benchmarks/apply_process.py [--runs 5] [--only small|4k]

Needs opencv-python-headless in the venv and ``vips``/``convert`` on PATH
(benchmarks/setup-peers.sh); a missing peer is skipped with a note.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CONVCLI = [sys.executable, "-m", "convcli"]

OPENCV_SOBEL = """
import sys, cv2, numpy as np
image = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED).astype(np.float32)
gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)
gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101)
out = np.clip(np.rint(cv2.magnitude(gx, gy)), 0, 255).astype(np.uint8)
cv2.imwrite(sys.argv[2], out, [cv2.IMWRITE_PNG_COMPRESSION, 1])
"""

OPENCV_GAUSSIAN = """
import sys, cv2
image = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)
out = cv2.GaussianBlur(image, (13, 13), 2, borderType=cv2.BORDER_REFLECT_101)
cv2.imwrite(sys.argv[2], out, [cv2.IMWRITE_PNG_COMPRESSION, 1])
"""


def commands(source: Path, out: Path) -> dict[str, dict[str, list[str]]]:
    """Task -> {label: argv}; convcli first in each task (the ratios' baseline)."""
    png = str(out / "{label}.png")
    return {
        "sobel magnitude": {
            "convcli apply -k sobel": [
                *CONVCLI, "apply", str(source), "-k", "sobel", "-o", png, "--force",
            ],
            "python + OpenCV (Sobel x, y, magnitude)": [
                sys.executable, "-c", OPENCV_SOBEL, str(source), png,
            ],
            "vips sobel (|gx|+|gy|)": ["vips", "sobel", str(source), png + "[compression=1]"],
        },
        "gaussian sigma 2": {
            "convcli apply -k gaussian:2": [
                *CONVCLI, "apply", str(source), "-k", "gaussian:2", "-o", png, "--force",
            ],
            "python + OpenCV GaussianBlur 13x13": [
                sys.executable, "-c", OPENCV_GAUSSIAN, str(source), png,
            ],
            "vips gaussblur 2": ["vips", "gaussblur", str(source), png + "[compression=1]", "2"],
            "ImageMagick convert -gaussian-blur 0x2": [
                "convert", str(source), "-gaussian-blur", "0x2",
                "-define", "png:compression-level=1", png,
            ],
        },
    }  # fmt: skip


def available(argv: list[str]) -> bool:
    if argv[0] == sys.executable:
        if "cv2" in " ".join(argv):
            return subprocess.run([sys.executable, "-c", "import cv2"]).returncode == 0
        return True
    return shutil.which(argv[0]) is not None


def run(argv: list[str], label: str) -> float:
    filled = [part.replace("{label}", _slug(label)) for part in argv]
    started = time.perf_counter()
    done = subprocess.run(filled, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed: {done.stderr.decode(errors='replace').strip()}")
    return elapsed


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in label)[:40]


def bench(source: Path, out: Path, runs: int) -> None:
    with Image.open(source) as image:
        size = f"{image.width}x{image.height} {image.mode}"
    print(f"\n== {source.name} ({size}), {runs} runs each, interleaved; median wall time ==")
    for task, peers in commands(source, out).items():
        usable = {label: argv for label, argv in peers.items() if available(argv)}
        for label in peers.keys() - usable.keys():
            print(f"  (skipped {label}: not installed)")
        times: dict[str, list[float]] = {label: [] for label in usable}
        for label, argv in usable.items():  # warm-up (page cache, .pyc)
            run(argv, label)
        for _ in range(runs):
            for label, argv in usable.items():
                times[label].append(run(argv, label))
        baseline = statistics.median(next(iter(times.values())))
        print(f"  {task}")
        for label, samples in times.items():
            median = statistics.median(samples)
            print(f"    {label:<44} {median * 1000:8.0f} ms   x{median / baseline:5.2f}")
        ours = out / f"{_slug(next(iter(usable)))}.png"
        opencv = [label for label in usable if "OpenCV" in label]
        if opencv:
            with Image.open(ours) as a, Image.open(out / f"{_slug(opencv[0])}.png") as b:
                first, second = np.asarray(a, dtype=int), np.asarray(b, dtype=int)
            diff = np.abs(first - second)
            print(f"    convcli vs OpenCV pixels: max diff {diff.max()}, mean {diff.mean():.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("small", "4k"))
    args = parser.parse_args()
    small = ROOT / "samples" / "chelsea.png"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        if args.only != "4k":
            bench(small, out, args.runs)
        if args.only != "small":
            big = out / "chelsea-4k.png"
            with Image.open(small) as image:
                image.resize((3840, 2160), Image.Resampling.BICUBIC).save(big, compress_level=1)
            bench(big, out, args.runs)


if __name__ == "__main__":
    main()
