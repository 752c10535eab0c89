"""Whole-process time and peak memory of ``convcli apply`` on a photo, against the peers a
user would reach for (issue 5).

Each command reads the image, filters it and writes the result, as a fresh process, so
start-up, decoding and encoding count as they do for a user. Peak RSS is measured by GNU
time around each command (the largest single process).

Sections (``--only``):

``4k``: a 3840x2160 PNG (``samples/chelsea.png`` bicubic-upscaled; ``--grain`` adds
    sensor-like noise, which makes every PNG encoder slower), three tasks:

    - Sobel-x, PNG out, as the issue states it: ``convcli apply -k sobel-x`` (its default,
      zlib level 1, and at level 6; and with ``--map clip``, which writes the pixels ``vips
      conv`` and ImageMagick write: negative responses cut to 0, where convcli's default
      keeps their magnitude, so a third more non-zero bytes to compress), ``vips conv``
      with the Sobel-x mask and ``vips sobel``
      (each at libvips' default compression, 6, and at 1), ImageMagick ``convert
      -morphology Convolve Sobel`` (default, and ``png:compression-level=1``), a plain
      Pillow + SciPy script (``ndimage.correlate`` in float64, Pillow's default PNG) and an
      OpenCV script (level 1);
    - Sobel gradient magnitude: ``convcli -k sobel`` against OpenCV (Sobel x, y,
      ``cv2.magnitude``: the same formula and border; pixels compared);
    - Gaussian sigma 2: ``convcli -k gaussian:2``, OpenCV ``GaussianBlur`` 13x13, ``vips
      gaussblur 2``, ImageMagick ``-gaussian-blur 0x2``.

``big``: a 12000x12000 RGB JPEG (the sample upscaled; quality 90, made here, never
    committed), Sobel-x, JPEG out at quality 90: ``convcli`` (``--max-pixels 0``), ``vips
    conv``, ``vips sobel``, ImageMagick (with a policy file that lifts Debian's 128 MP /
    1 GiB limits, in a temporary folder via ``MAGICK_CONFIGURE_PATH``) and, with
    ``--naive``, the plain Pillow + SciPy script (~8 GB). One run each.

``small``: ``samples/chelsea.png`` itself (451x300): start-up dominates.

Commands run interleaved, one warm-up each, ``--runs`` times; medians, ratios to the
first convcli line of each task and the peak RSS are printed.

    .venv/bin/python benchmarks/apply_process.py [--runs 5] [--only 4k|big|small]
        [--task sobel-x|magnitude|gaussian] [--grain] [--naive]

Needs opencv-python-headless in the venv and ``vips``/``convert`` on PATH
(benchmarks/setup-peers.sh); a missing peer is skipped with a note.
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
IMAGEMAGICK_POLICY = """<policymap>
  <policy domain="resource" name="memory" value="16GiB"/>
  <policy domain="resource" name="map" value="16GiB"/>
  <policy domain="resource" name="width" value="64KP"/>
  <policy domain="resource" name="height" value="64KP"/>
  <policy domain="resource" name="area" value="16GP"/>
  <policy domain="resource" name="disk" value="16GiB"/>
</policymap>
"""

PILLOW_SCIPY_SOBEL_X = """
import sys
import numpy as np
from PIL import Image
from scipy import ndimage
Image.MAX_IMAGE_PIXELS = None
image = np.asarray(Image.open(sys.argv[1]).convert("RGB"), dtype=np.float64)
kernel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
planes = [ndimage.correlate(image[..., c], kernel, mode="mirror") for c in range(3)]
out = np.clip(np.abs(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)
Image.fromarray(out).save(sys.argv[2], **({"quality": 90} if sys.argv[2].endswith(".jpg") else {}))
"""

OPENCV_SOBEL_X = """
import sys, cv2, numpy as np
image = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)
gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)
cv2.imwrite(sys.argv[2], cv2.convertScaleAbs(gx), [cv2.IMWRITE_PNG_COMPRESSION, 1])
"""

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


def png_tasks(source: Path, mask: Path) -> dict[str, dict[str, list[str]]]:
    """Task -> {label: argv}; ``{out}`` is the output file. convcli first (the baseline)."""
    src = str(source)
    return {
        "sobel-x": {
            "convcli apply -k sobel-x (level 1, default)": [
                *CONVCLI, "apply", src, "-k", "sobel-x", "-o", "{out}.png", "--force",
            ],
            "convcli apply -k sobel-x --png-compression 6": [
                *CONVCLI, "apply", src, "-k", "sobel-x", "-o", "{out}.png", "--force",
                "--png-compression", "6",
            ],
            "convcli ... --map clip (vips conv's pixels)": [
                *CONVCLI, "apply", src, "-k", "sobel-x", "-o", "{out}.png", "--force",
                "--map", "clip",
            ],
            "convcli ... --map clip --png-compression 6": [
                *CONVCLI, "apply", src, "-k", "sobel-x", "-o", "{out}.png", "--force",
                "--map", "clip", "--png-compression", "6",
            ],
            "vips conv sobel-x mask (default, 6)": ["vips", "conv", src, "{out}.png", str(mask)],
            "vips conv sobel-x mask, compression 1": [
                "vips", "conv", src, "{out}.png[compression=1]", str(mask),
            ],
            "vips sobel (|gx|+|gy|, default 6)": ["vips", "sobel", src, "{out}.png"],
            "vips sobel, compression 1": ["vips", "sobel", src, "{out}.png[compression=1]"],
            "convert -morphology Convolve Sobel (default)": [
                "convert", src, "-morphology", "Convolve", "Sobel", "{out}.png",
            ],
            "convert ... png:compression-level=1": [
                "convert", src, "-morphology", "Convolve", "Sobel",
                "-define", "png:compression-level=1", "{out}.png",
            ],
            "python Pillow + SciPy (float64, default PNG)": [
                sys.executable, "-c", PILLOW_SCIPY_SOBEL_X, src, "{out}.png",
            ],
            "python + OpenCV (Sobel x, level 1)": [
                sys.executable, "-c", OPENCV_SOBEL_X, src, "{out}.png",
            ],
        },
        "magnitude": {
            "convcli apply -k sobel": [
                *CONVCLI, "apply", src, "-k", "sobel", "-o", "{out}.png", "--force",
            ],
            "python + OpenCV (Sobel x, y, magnitude)": [
                sys.executable, "-c", OPENCV_SOBEL, src, "{out}.png",
            ],
        },
        "gaussian": {
            "convcli apply -k gaussian:2": [
                *CONVCLI, "apply", src, "-k", "gaussian:2", "-o", "{out}.png", "--force",
            ],
            "python + OpenCV GaussianBlur 13x13": [
                sys.executable, "-c", OPENCV_GAUSSIAN, src, "{out}.png",
            ],
            "vips gaussblur 2": ["vips", "gaussblur", src, "{out}.png[compression=1]", "2"],
            "convert -gaussian-blur 0x2": [
                "convert", src, "-gaussian-blur", "0x2",
                "-define", "png:compression-level=1", "{out}.png",
            ],
        },
    }  # fmt: skip


def big_task(source: Path, mask: Path, naive: bool) -> dict[str, list[str]]:
    src = str(source)
    commands = {
        "convcli apply -k sobel-x --max-pixels 0": [
            *CONVCLI, "apply", src, "-k", "sobel-x", "-o", "{out}.jpg", "--force",
            "--max-pixels", "0", "--quality", "90",
        ],
        "vips conv sobel-x mask": ["vips", "conv", src, "{out}.jpg[Q=90]", str(mask)],
        "vips sobel": ["vips", "sobel", src, "{out}.jpg[Q=90]"],
        "convert -morphology Convolve Sobel": [
            "convert", src, "-morphology", "Convolve", "Sobel", "-quality", "90", "{out}.jpg",
        ],
    }  # fmt: skip
    if naive:
        commands["python Pillow + SciPy (float64)"] = [
            sys.executable, "-c", PILLOW_SCIPY_SOBEL_X, src, "{out}.jpg",
        ]  # fmt: skip
    return commands


def available(argv: list[str]) -> bool:
    if argv[0] == sys.executable:
        module = "cv2" if "cv2" in " ".join(argv) else "scipy" if "scipy" in " ".join(argv) else ""
        if module:
            return subprocess.run([sys.executable, "-c", f"import {module}"]).returncode == 0
        return True
    return shutil.which(argv[0]) is not None


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in label)[:40]


def run(argv: list[str], label: str, out: Path, env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB) of one run.

    GNU time measures the peak: a child's ``ru_maxrss`` keeps the high-water mark of the
    process it was forked from, so read straight from this Python process it would be
    this process's size for every small command.
    """
    target = str(out / _slug(label))
    filled = [part.replace("{out}", target) for part in argv]
    report = out / "time.txt"
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(report), *filled], capture_output=True, env=env
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed: {done.stderr.decode(errors='replace').strip()}")
    return elapsed, int(report.read_text().split()[-1]) // 1024


def bench(
    title: str,
    peers: dict[str, list[str]],
    out: Path,
    runs: int,
    env: dict[str, str],
    warm_up: bool = True,
) -> None:
    usable = {label: argv for label, argv in peers.items() if available(argv)}
    for label in peers.keys() - usable.keys():
        print(f"  (skipped {label}: not installed)")
    times: dict[str, list[float]] = {label: [] for label in usable}
    memory: dict[str, int] = dict.fromkeys(usable, 0)
    if warm_up:
        for label, argv in usable.items():  # page cache, .pyc
            run(argv, label, out, env)
    for _ in range(runs):
        for label, argv in usable.items():
            seconds, peak = run(argv, label, out, env)
            times[label].append(seconds)
            memory[label] = max(memory[label], peak)
    baseline = statistics.median(next(iter(times.values())))
    print(f"  {title}")
    print(f"    {'':<48} {'median':>9} {'vs convcli':>10} {'peak RSS':>9}")
    for label, samples in times.items():
        median = statistics.median(samples)
        print(
            f"    {label:<48} {median * 1000:7.0f} ms {median / baseline:9.2f}x "
            f"{memory[label]:6d} MB"
        )


def compare_pixels(out: Path, ours: str, theirs: str) -> None:
    with Image.open(out / f"{_slug(ours)}.png") as a, Image.open(out / f"{_slug(theirs)}.png") as b:
        first, second = np.asarray(a, dtype=int), np.asarray(b, dtype=int)
    diff = np.abs(first - second)
    print(f"    {ours} vs {theirs}: max diff {diff.max()}, mean {diff.mean():.4f}")


def upscaled(size: tuple[int, int], grain: bool) -> Image.Image:
    with Image.open(ROOT / "samples" / "chelsea.png") as sample:
        image = sample.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    if not grain:
        return image
    noise = np.random.default_rng(0).normal(0, 4, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(image) + noise + 0.5, 0, 255).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("small", "4k", "big"))
    parser.add_argument("--task", choices=("sobel-x", "magnitude", "gaussian"))
    parser.add_argument("--grain", action="store_true", help="add noise to the 4K photo")
    parser.add_argument("--naive", action="store_true", help="also the ~8 GB SciPy script (big)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")
    # As an installed package has them: without .pyc files (PYTHONDONTWRITEBYTECODE, or
    # sources just edited) every run would compile convcli again (~25 ms).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "convcli")], check=True)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        mask = out / "sobel_x.mat"
        mask.write_text(SOBEL_X_MAT)
        env = dict(os.environ)
        sources = []
        if args.only in (None, "small"):
            sources.append(ROOT / "samples" / "chelsea.png")
        if args.only in (None, "4k"):
            big = out / "photo-4k.png"
            upscaled((3840, 2160), args.grain).save(big)  # Pillow's default level, 6
            sources.append(big)
        for source in sources:
            with Image.open(source) as image:
                size = f"{image.width}x{image.height} {image.mode}"
            print(f"\n== {source.name} ({size}), {args.runs} runs each, interleaved ==")
            for task, peers in png_tasks(source, mask).items():
                if args.task in (None, task):
                    bench(task, peers, out, args.runs, env)
                    if task == "magnitude" and "python + OpenCV" in " ".join(peers):
                        compare_pixels(out, *list(peers)[:2])
        if args.only in (None, "big"):
            photo = out / "photo-12000.jpg"
            Image.MAX_IMAGE_PIXELS = None
            upscaled((12000, 12000), False).save(photo, quality=90)
            (out / "policy").mkdir()
            (out / "policy" / "policy.xml").write_text(IMAGEMAGICK_POLICY)
            env["MAGICK_CONFIGURE_PATH"] = str(out / "policy")
            print("\n== 12000x12000 RGB JPEG, Sobel-x, JPEG q90 out; one run each ==")
            bench("sobel-x", big_task(photo, mask, args.naive), out, 1, env, warm_up=False)


if __name__ == "__main__":
    main()
