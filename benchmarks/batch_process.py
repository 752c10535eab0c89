"""Batch throughput: ``convcli apply DIR -k sobel-x -O OUT -j 2`` against ImageMagick's
``mogrify`` and a shell loop over ``vips``, on many 1920x1080 JPEGs (issue 5).

The photos are made in a temporary folder from ``samples/chelsea.png``: each a different
crop, scale, mirror and brightness, bicubic to 1920x1080, with a little grain (so no two
files are alike and JPEG has real texture to code), saved at quality 90. Every tool reads
them and writes JPEG at quality 90 after a 3x3 Sobel-x:

- ``convcli apply IN -k sobel-x -O OUT -j 2`` (and ``-j 1``, one process);
- ``mogrify -path OUT -quality 90 -morphology Convolve Sobel IN/*.jpg`` (ImageMagick 6,
  one process, its own OpenMP threads);
- ``for f in IN/*.jpg; do vips conv $f OUT/...[Q=90] sobel_x.mat; done`` (libvips 8.14,
  one process per file, its own threads), and ``vips sobel`` (``|gx| + |gy|``) the same way;
- the ``vips conv`` loop spread over two processes with ``xargs -P 2``, for a like-for-like
  comparison with ``-j 2``.

Runs are interleaved (one warm-up round first); medians, files per second and the ratio of
each throughput to convcli ``-j 2``'s are printed, with the largest peak RSS of any one
process of the run (``wait4``).

    .venv/bin/python benchmarks/batch_process.py [--files 200] [--runs 3]

Needs ``vips``, ``convert``/``mogrify`` on PATH (benchmarks/setup-peers.sh); a missing
peer is skipped with a note.
"""

from __future__ import annotations

import argparse
import os
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
SOBEL_X_MAT = "3 3 1 0\n-1 0 1\n-2 0 2\n-1 0 1\n"  # libvips matrix file: size, scale, offset
VIPS_LOOP = 'for f in "$1"/*.jpg; do vips {op} "$f" "$2/$(basename "$f")[Q=90]" {extra}; done'
VIPS_XARGS = (
    'ls "$1"/*.jpg | xargs -P 2 -I{{}} sh -c '
    '\'vips conv "$1" "$2/$(basename "$1")[Q=90]" "$3"\' _ {{}} "$2" "$3"'
)


def make_photos(folder: Path, count: int) -> None:
    """``count`` distinct 1920x1080 JPEG photos (quality 90) made from the sample."""
    rng = np.random.default_rng(5)
    with Image.open(ROOT / "samples" / "chelsea.png") as sample:
        photo = sample.convert("RGB")
    width, height = photo.size
    for index in range(count):
        crop_width = int(width * rng.uniform(0.6, 1.0))
        crop_height = min(height, int(crop_width * 9 / 16))
        left = int(rng.integers(0, width - crop_width + 1))
        top = int(rng.integers(0, height - crop_height + 1))
        piece = photo.crop((left, top, left + crop_width, top + crop_height))
        if index % 2:
            piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        big = np.asarray(piece.resize((1920, 1080), Image.Resampling.BICUBIC), np.float32)
        big = big * rng.uniform(0.8, 1.2) + rng.normal(0, 3, big.shape)
        pixels = np.clip(big + 0.5, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{index:04d}.jpg", quality=90)


def commands(source: Path, out: Path, mask: Path) -> dict[str, list[str]]:
    """Label -> argv (``OUT`` in it is replaced by a fresh folder for each run)."""
    loop = ["bash", "-c"]
    return {
        "convcli apply -j 2": [
            *CONVCLI, "apply", str(source), "-k", "sobel-x", "-O", "OUT", "-j", "2", "-q",
        ],
        "convcli apply -j 1": [
            *CONVCLI, "apply", str(source), "-k", "sobel-x", "-O", "OUT", "-j", "1", "-q",
        ],
        "mogrify -morphology Convolve Sobel": [
            "bash", "-c",
            'mogrify -path "$2" -quality 90 -morphology Convolve Sobel "$1"/*.jpg',
            "_", str(source), "OUT",
        ],
        "shell loop: vips conv (sobel-x mask)": [
            *loop, VIPS_LOOP.format(op="conv", extra=f'"{mask}"'), "_", str(source), "OUT",
        ],
        "shell loop: vips sobel (|gx|+|gy|)": [
            *loop, VIPS_LOOP.format(op="sobel", extra=""), "_", str(source), "OUT",
        ],
        "xargs -P 2: vips conv (sobel-x mask)": [
            *loop, VIPS_XARGS, "_", str(source), "OUT", str(mask),
        ],
    }  # fmt: skip


def available(argv: list[str]) -> bool:
    text = " ".join(argv)
    needed = ["vips"] if "vips " in text else ["mogrify"] if "mogrify" in text else []
    return all(shutil.which(tool) for tool in needed)


def run(argv: list[str], out: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB of the largest single process of the run).

    The peak comes from GNU time run around the command: a child's ``ru_maxrss`` keeps
    the high-water mark of the process it was forked from, so measured straight from this
    (large) Python process every command would seem to use as much as it does.
    """
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    filled = [str(out) if part == "OUT" else part for part in argv]
    report = out.parent / "time.txt"
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(report), *filled],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        errors = done.stderr.decode(errors="replace").strip()[-500:]
        raise SystemExit(f"{' '.join(filled)} failed: {errors}")
    return elapsed, int(report.read_text().split()[-1]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # As an installed package has them (see apply_process.py).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "convcli")], check=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source = work / "in"
        source.mkdir()
        started = time.perf_counter()
        make_photos(source, args.files)
        print(f"made {args.files} 1920x1080 JPEGs in {time.perf_counter() - started:.1f} s")
        mask = work / "sobel_x.mat"
        mask.write_text(SOBEL_X_MAT)
        peers = commands(source, work / "out", mask)
        usable = {label: argv for label, argv in peers.items() if available(argv)}
        for label in peers.keys() - usable.keys():
            print(f"  (skipped {label}: not installed)")
        times: dict[str, list[float]] = {label: [] for label in usable}
        memory: dict[str, int] = dict.fromkeys(usable, 0)
        for round_index in range(args.runs + 1):  # round 0 warms the page cache
            for label, argv in usable.items():
                seconds, peak = run(argv, work / "out")
                if round_index:
                    times[label].append(seconds)
                    memory[label] = max(memory[label], peak)
        written = sorted(p.name for p in (work / "out").iterdir())
        assert len(written) == args.files, len(written)
    print(
        f"\n== {args.files} JPEGs 1920x1080, Sobel-x, JPEG q90 out; {args.runs} runs, "
        f"interleaved; {os.cpu_count()} cores =="
    )
    baseline = args.files / statistics.median(next(iter(times.values())))
    print(f"  {'':<40} {'median':>9} {'files/s':>8} {'vs convcli -j 2':>16} {'peak RSS':>9}")
    for label, samples in times.items():
        median = statistics.median(samples)
        rate = args.files / median
        print(
            f"  {label:<40} {median:8.2f}s {rate:8.1f} {rate / baseline:15.2f}x "
            f"{memory[label]:7d} MB"
        )


if __name__ == "__main__":
    main()
