"""Batch throughput: ``convcli apply DIR -k KERNEL -O OUT -j 2`` against a plain OpenCV
script with a 2-process pool, ImageMagick's ``mogrify`` and a shell loop over ``vips``, on
many 1920x1080 JPEGs (issues 5 and 14).

The photos are made in a temporary folder from ``samples/chelsea.png``: each a different
crop, scale, mirror and brightness, bicubic to 1920x1080, with a little grain (so no two
files are alike and JPEG has real texture to code), saved at quality 90. Every tool reads
them and writes JPEG at quality 90 after the same filter (``--kernel``):

``sobel-x`` (the default, issue 5's run), a 3x3 Sobel-x:

- ``convcli apply IN -k sobel-x -O OUT -j 2`` (and ``-j 1``, one process);
- the OpenCV script: ``cv2.imread`` -> ``cv2.filter2D`` in float32 -> ``|.|``
  (``cv2.convertScaleAbs``, what convcli's ``--map auto`` does for an edge kernel) ->
  ``cv2.imwrite`` at quality 90, over a 2-process ``concurrent.futures`` pool;
- ``mogrify -path OUT -quality 90 -morphology Convolve Sobel IN/*.jpg`` (ImageMagick 6,
  one process, its own OpenMP threads);
- ``for f in IN/*.jpg; do vips conv $f OUT/...[Q=90] sobel_x.mat; done`` (libvips 8.14,
  one process per file, its own threads), and ``vips sobel`` (``|gx| + |gy|``) the same way;
- the ``vips conv`` loop spread over two processes with ``xargs -P 2``, for a like-for-like
  comparison with ``-j 2``.

``gaussian:SIGMA`` (issue 14 uses ``gaussian:2``):

- ``convcli apply IN -k gaussian:2 -O OUT -j 2`` (and ``-j 1``, and ``-j 2`` with the
  ``fast`` extra's modules refused at import: the codecs' share of the gain);
- the OpenCV script: ``cv2.imread`` -> ``cv2.GaussianBlur(img, (k, k), sigma)`` with
  convcli's kernel size ``k`` (``convcli kernels gaussian:2``: 13) -> ``cv2.imwrite`` at
  quality 90, over a 2-process pool (as a user writes it: OpenCV's own threads left on);
- ``mogrify -blur Rxsigma`` (the same radius, in two 1-D passes; ImageMagick's 2-D
  ``-morphology Convolve Gaussian:6x2`` takes ~2 s a file);
- ``vips convsep`` with the same sampled taps (float precision), in a shell loop and
  over ``xargs -P 2``.

Any other named kernel runs convcli and the OpenCV script (``cv2.filter2D`` with the same
matrix, ``|.|`` for a zero-sum kernel, else clipped) only.

The OpenCV script is written into the benchmark's temporary folder and run as its own
process with the interpreter given by ``--opencv-python`` (default: this one), so its
start-up and imports count as convcli's do. Runs are interleaved (one warm-up round
first); medians, files per second, the ratio of each throughput to convcli ``-j 2``'s and
convcli's to the OpenCV script's are printed, with the largest peak RSS of any one process
of the run (``wait4``) and the load average before and after (other work on the machine
is part of every figure). One output of each peer is compared with convcli's (mean and
largest difference in pixel values): the same filter, up to rounding and JPEG.

    .venv/bin/python benchmarks/batch_process.py [--files 200] [--runs 3]
        [--kernel gaussian:2] [--opencv-python PATH]

Needs opencv-python-headless (the ``bench`` extra), ``vips``, ``convert``/``mogrify`` on
PATH (benchmarks/setup-peers.sh); a missing peer is skipped with a note.
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
#: convcli as if the ``fast`` extra were not installed (its modules refused at import).
CONVCLI_PLAIN = [
    sys.executable,
    "-c",
    "import runpy, sys; sys.modules['simplejpeg'] = sys.modules['isal'] = None; "
    "runpy.run_module('convcli', run_name='__main__', alter_sys=True)",
]
SOBEL_X_MAT = "3 3 1 0\n-1 0 1\n-2 0 2\n-1 0 1\n"  # libvips matrix file: size, scale, offset
VIPS_LOOP = 'for f in "$1"/*.jpg; do vips {op} "$f" "$2/$(basename "$f")[Q=90]" {extra}; done'
VIPS_XARGS = (
    'ls "$1"/*.jpg | xargs -P 2 -I{{}} sh -c '
    '\'vips {op} "$1" "$2/$(basename "$1")[Q=90]" "$3"\' _ {{}} "$2" "$3"'
)

#: The OpenCV peer, as a user would write it: read, filter, write, a 2-process pool.
#: FILTER is filled in for the kernel; QUALITY and the folders come from the arguments.
OPENCV_SCRIPT = """\
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

{threads}
KERNEL = np.array({matrix}, dtype=np.float32)


def one(paths):
    source, target = paths
    image = cv2.imread(source, cv2.IMREAD_COLOR)
    {filter}
    if not cv2.imwrite(target, out, [cv2.IMWRITE_JPEG_QUALITY, {quality}]):
        raise SystemExit(f"cannot write {{target}}")


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    names = sorted(name for name in os.listdir(source) if name.endswith(".jpg"))
    jobs = [(os.path.join(source, name), os.path.join(target, name)) for name in names]
    with ProcessPoolExecutor({workers}) as pool:
        for _ in pool.map(one, jobs, chunksize=4):
            pass
"""
OPENCV_GAUSSIAN = "out = cv2.GaussianBlur(image, ({size}, {size}), {sigma})"
OPENCV_EDGE = "out = cv2.convertScaleAbs(cv2.filter2D(image, cv2.CV_32F, KERNEL))"
OPENCV_CLIP = "out = cv2.filter2D(image, -1, KERNEL)"


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


def kernel_matrix(kernel: str) -> tuple[np.ndarray, float | None]:
    """convcli's matrix for ``kernel`` (cross-correlation orientation), and the sigma of a
    Gaussian (None for any other kernel)."""
    from convcli.kernels import KernelStep, parse_step

    step = parse_step(kernel)
    if not isinstance(step, KernelStep) or step.magnitude or step.directions:
        raise SystemExit(f"--kernel {kernel}: give one named kernel (not a pool or magnitude)")
    matrix = np.asarray(step.weight, dtype=np.float64)
    if matrix.ndim != 2:
        raise SystemExit(f"--kernel {kernel}: a 2-D kernel, please")
    arguments = dict(step.arguments)
    sigma = float(arguments["sigma"]) if step.name == "gaussian" else None
    return matrix, sigma


def opencv_script(matrix: np.ndarray, sigma: float | None, quality: int, threads: str) -> str:
    """The OpenCV peer's source for this kernel (``threads``: a line of code, or '')."""
    if sigma is not None:
        action = OPENCV_GAUSSIAN.format(size=matrix.shape[0], sigma=sigma)
    elif abs(float(matrix.sum())) < 1e-9:
        action = OPENCV_EDGE
    else:
        action = OPENCV_CLIP
    return OPENCV_SCRIPT.format(
        matrix=matrix.tolist(), filter=action, quality=quality, workers=2, threads=threads
    )


def vips_mask(matrix: np.ndarray, sigma: float | None) -> str:
    """A libvips matrix file: the whole kernel, or a Gaussian's one row (for ``convsep``)."""
    rows = matrix[matrix.shape[0] // 2 : matrix.shape[0] // 2 + 1] if sigma else matrix
    if sigma:
        rows = rows / rows.sum()
    lines = [" ".join(repr(float(v)) for v in row) for row in rows]
    return f"{rows.shape[1]} {rows.shape[0]} 1 0\n" + "\n".join(lines) + "\n"


def commands(
    source: Path, work: Path, kernel: str, opencv_python: str, shell_peers: bool = True
) -> dict[str, list[str]]:
    """Label -> argv (``OUT`` in it is replaced by a fresh folder for each run)."""
    matrix, sigma = kernel_matrix(kernel)
    script = work / "opencv_batch.py"
    script.write_text(opencv_script(matrix, sigma, 90, ""))
    # The same with OpenCV's own threads off: one thread per process, as convcli's -j 2
    # workers have (on a shared machine, more threads take a larger share of the cores).
    single = work / "opencv_batch_1thread.py"
    single.write_text(opencv_script(matrix, sigma, 90, "cv2.setNumThreads(1)"))
    mask = work / "mask.mat"
    mask.write_text(SOBEL_X_MAT if kernel == "sobel-x" else vips_mask(matrix, sigma))
    loop = ["bash", "-c"]
    found = {
        "convcli apply -j 2": [
            *CONVCLI, "apply", str(source), "-k", kernel, "-O", "OUT", "-j", "2", "-q",
        ],
        "convcli apply -j 1": [
            *CONVCLI, "apply", str(source), "-k", kernel, "-O", "OUT", "-j", "1", "-q",
        ],
        "convcli apply -j 2, without the fast extra": [
            *CONVCLI_PLAIN, "apply", str(source), "-k", kernel, "-O", "OUT", "-j", "2", "-q",
        ],
        "OpenCV script, 2-process pool": [opencv_python, str(script), str(source), "OUT"],
        "... cv2.setNumThreads(1)": [opencv_python, str(single), str(source), "OUT"],
    }  # fmt: skip
    if not shell_peers:
        return found
    if kernel == "sobel-x":
        found |= {
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
                *loop, VIPS_XARGS.format(op="conv"), "_", str(source), "OUT", str(mask),
            ],
        }  # fmt: skip
    elif sigma is not None:
        radius = matrix.shape[0] // 2
        found |= {
            f"mogrify -blur {radius}x{sigma:g} (two passes)": [
                "bash", "-c",
                f'mogrify -path "$2" -quality 90 -blur {radius}x{sigma:g} "$1"/*.jpg',
                "_", str(source), "OUT",
            ],
            "shell loop: vips convsep (same taps)": [
                *loop, VIPS_LOOP.format(op="convsep", extra=f'"{mask}"'), "_", str(source),
                "OUT",
            ],
            "xargs -P 2: vips convsep (same taps)": [
                *loop, VIPS_XARGS.format(op="convsep"), "_", str(source), "OUT", str(mask),
            ],
        }  # fmt: skip
    return found


def available(argv: list[str]) -> bool:
    text = " ".join(argv)
    if "opencv_batch" in argv[1]:
        found = subprocess.run([argv[0], "-c", "import cv2"], capture_output=True)
        return found.returncode == 0
    needed = ["vips"] if "vips " in text else ["mogrify"] if "mogrify" in text else []
    return all(shutil.which(tool) for tool in needed)


def run(argv: list[str], out: Path) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in MB of the largest single process of the run, CPU seconds
    of the run: user + system of the command and every child it waited for).

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
        ["/usr/bin/time", "-f", "%M %U %S", "-o", str(report), *filled],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        errors = done.stderr.decode(errors="replace").strip()[-500:]
        raise SystemExit(f"{' '.join(filled)} failed: {errors}")
    peak, user, system = report.read_text().split()[-3:]
    return elapsed, int(peak) // 1024, float(user) + float(system)


def first_output(out: Path) -> np.ndarray:
    """The decoded pixels of the first file (by name) a run wrote."""
    first = sorted(out.iterdir())[0]
    with Image.open(first) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kernel", default="sobel-x", help="a named kernel (gaussian:2)")
    parser.add_argument(
        "--opencv-python", default=sys.executable, help="the interpreter that has cv2"
    )
    parser.add_argument(
        "--no-shell-peers", action="store_true", help="convcli and OpenCV only (no vips, mogrify)"
    )
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
        peers = commands(source, work, args.kernel, args.opencv_python, not args.no_shell_peers)
        usable = {label: argv for label, argv in peers.items() if available(argv)}
        for label in peers.keys() - usable.keys():
            print(f"  (skipped {label}: not installed)")
        times: dict[str, list[float]] = {label: [] for label in usable}
        cpu: dict[str, list[float]] = {label: [] for label in usable}
        memory: dict[str, int] = dict.fromkeys(usable, 0)
        outputs: dict[str, np.ndarray] = {}
        load_before = os.getloadavg()
        for round_index in range(args.runs + 1):  # round 0 warms the page cache
            for label, argv in usable.items():
                seconds, peak, used = run(argv, work / "out")
                if round_index:
                    times[label].append(seconds)
                    cpu[label].append(used)
                    memory[label] = max(memory[label], peak)
                else:
                    outputs[label] = first_output(work / "out")
                    written = len(list((work / "out").iterdir()))
                    assert written == args.files, (label, written)
        load_after = os.getloadavg()
    report(args, times, cpu, memory, outputs, (load_before, load_after))


def report(
    args: argparse.Namespace,
    times: dict[str, list[float]],
    cpu: dict[str, list[float]],
    memory: dict[str, int],
    outputs: dict[str, np.ndarray],
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> None:
    """The table: medians, files/s, ratios, CPU per file, peak RSS, and each peer's pixels
    vs convcli's.

    CPU milliseconds per file (user + system, all processes) move far less than wall time
    when other work shares the cores; 2 cores divided by it is the throughput a quiet
    machine would allow if the work spread perfectly.
    """
    print(
        f"\n== {args.files} JPEGs 1920x1080, {args.kernel}, JPEG q90 out; {args.runs} runs, "
        f"interleaved; {os.cpu_count()} cores; load average (1 min) "
        f"{loads[0][0]:.2f} before, {loads[1][0]:.2f} after =="
    )
    rates = {label: args.files / statistics.median(samples) for label, samples in times.items()}
    baseline = next(iter(rates.values()))
    reference = outputs[next(iter(outputs))]
    print(
        f"  {'':<44} {'median':>9} {'files/s':>8} {'vs convcli -j 2':>16} {'CPU ms/file':>12}"
        f" {'peak RSS':>9}"
        f"  {'pixels vs convcli (mean/max)':>28}"
    )
    for label, samples in times.items():
        difference = np.abs(outputs[label] - reference) if label in outputs else None
        compared = f"{difference.mean():.2f} / {difference.max()}" if difference is not None else ""
        cpu_ms = statistics.median(cpu[label]) / args.files * 1000
        print(
            f"  {label:<44} {statistics.median(samples):8.2f}s {rates[label]:8.1f} "
            f"{rates[label] / baseline:15.2f}x {cpu_ms:12.1f} {memory[label]:7d} MB  {compared:>28}"
        )
    one = rates.get("convcli apply -j 1")
    if one:
        print(f"\n  convcli -j 2 / -j 1: {baseline / one:.2f}x")
    opencv = rates.get("OpenCV script, 2-process pool")
    if opencv:
        print(f"  convcli -j 2 / OpenCV script: {baseline / opencv:.2f}x of its throughput")
        ours = statistics.median(cpu[next(iter(cpu))])
        theirs = statistics.median(cpu["OpenCV script, 2-process pool"])
        print(f"  CPU per file, OpenCV script / convcli -j 2: {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
