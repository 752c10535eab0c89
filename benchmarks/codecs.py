"""Codecs (issue 14): simplejpeg against Pillow for JPEG, isal and zlib-ng against zlib for
the deflate of convcli's PNG writer, each timed on the same data in one run.

- JPEG, on 1920x1080 photos made as ``batch_process.py`` makes them (quality 90): decode
  (Pillow ``open`` + ``load`` + ``np.asarray``, which is what convcli did, against
  ``simplejpeg.decode_jpeg`` with Pillow's settings), encode (``Image.fromarray`` + save
  against ``simplejpeg.encode_jpeg`` and ``cv2.imencode``); whether the pixels and bytes
  are Pillow's, the largest pixel difference and the file sizes.
- PNG, on a 3840x2160 RGB photo (the sample upscaled, with grain): ``imageio.write_png``
  (Up filter, deflate in blocks) on one thread with its deflate from ``zlib`` (level 1,
  convcli's default), ``isal.isal_zlib`` (levels 0..3) and ``zlib_ng`` (level 1); the size,
  and that Pillow reads every file back to the same pixels. Inflating the stream (what
  :mod:`convcli._png` does for 16-bit colour) with each library too.
- Import cost of each module (after NumPy), in a fresh interpreter, best of 7.

Times are the best of ``--repeat`` calls (the machine is shared: the best is the least
disturbed).

    .venv/bin/python benchmarks/codecs.py [--photos 10] [--repeat 5]

Needs the ``fast`` and ``bench`` extras, and ``isal`` and ``zlib-ng`` (pip install isal
zlib-ng); a missing one is skipped with a note.
"""

from __future__ import annotations

import argparse
import importlib
import io
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apply_process import upscaled  # noqa: E402
from batch_process import make_photos  # noqa: E402

from convcli import imageio  # noqa: E402


def best(function: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` calls, in milliseconds (one warm-up call first)."""
    function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def import_cost(module: str) -> float | None:
    """Milliseconds to import ``module`` after NumPy, in a fresh interpreter (best of 7)."""
    code = (
        "import time, numpy; started = time.perf_counter(); "
        f"import {module}; print(time.perf_counter() - started)"
    )
    times = []
    for _ in range(7):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode:
            return None
        times.append(float(done.stdout))
    return min(times) * 1000


def optional(name: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        print(f"  (skipped {name}: not installed)")
        return None


def pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image)


def pillow_encode(pixels: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_table(count: int, repeat: int) -> None:
    simplejpeg = optional("simplejpeg")
    cv2 = optional("cv2")
    with tempfile.TemporaryDirectory() as folder:
        make_photos(Path(folder), count)
        files = [path.read_bytes() for path in sorted(Path(folder).iterdir())]
    pixels = [pillow_decode(data) for data in files]

    def each(function: Callable[[int], object]) -> float:
        return sum(best(lambda i=i: function(i), repeat) for i in range(count)) / count

    def row(label: str, milliseconds: float, remark: str = "") -> None:
        print(f"  {label:<44} {milliseconds:7.2f}  {remark}")

    print(f"\n== JPEG, {count} photos 1920x1080 (quality 90), ms per photo, best of {repeat} ==")
    row("decode: Pillow open+load+np.asarray", each(lambda i: pillow_decode(files[i])))
    if simplejpeg is not None:

        def turbo(i: int) -> np.ndarray:
            return simplejpeg.decode_jpeg(files[i], fastdct=False, fastupsample=False)

        same = all(np.array_equal(turbo(i), pixels[i]) for i in range(count))
        row("decode: simplejpeg (accurate IDCT, fancy)", each(turbo), f"Pillow's pixels: {same}")
    if cv2 is not None:
        cv2.setNumThreads(1)
        flags = cv2.IMREAD_COLOR

        def cv2_decode(i: int) -> np.ndarray:
            return cv2.imdecode(np.frombuffer(files[i], np.uint8), flags)

        same = all(np.array_equal(cv2_decode(i)[:, :, ::-1], pixels[i]) for i in range(count))
        row("decode: cv2.imdecode", each(cv2_decode), f"Pillow's pixels: {same}")
    reference = [pillow_encode(p) for p in pixels]
    size = sum(map(len, reference)) / count / 1024
    row(
        "encode q90: Pillow fromarray+save",
        each(lambda i: pillow_encode(pixels[i])),
        f"{size:.0f} KiB",
    )
    others: dict[str, Callable[[int], bytes]] = {}
    if simplejpeg is not None:
        others["encode q90: simplejpeg (4:2:0)"] = lambda i: simplejpeg.encode_jpeg(
            pixels[i], quality=90, colorsubsampling="420", fastdct=False
        )
    if cv2 is not None:
        others["encode q90: cv2.imencode"] = lambda i: cv2.imencode(
            ".jpg", pixels[i][:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90]
        )[1].tobytes()
    for label, encode in others.items():
        written = [encode(i) for i in range(count)]
        same = all(a == b for a, b in zip(written, reference, strict=True))
        worst = max(
            int(np.abs(pillow_decode(a).astype(int) - pillow_decode(b)).max())
            for a, b in zip(written, reference, strict=True)
        )
        size = sum(map(len, written)) / count / 1024
        remark = f"Pillow's bytes: {same}; up to {worst} levels apart; {size:.0f} KiB"
        row(label, each(encode), remark)


def png_table(repeat: int) -> None:
    """write_png's deflate from each library, on one thread."""
    pixels = np.asarray(upscaled((3840, 2160), grain=True))
    libraries: dict[str, tuple[types.ModuleType, list[int]]] = {"zlib": (imageio.zlib, [1, 6])}
    isal = optional("isal.isal_zlib")
    if isal is not None:
        libraries["isal"] = (isal, [0, 1, 2, 3])
    zlib_ng = optional("zlib_ng.zlib_ng")
    if zlib_ng is not None:
        libraries["zlib-ng"] = (zlib_ng, [1, 6])
    print(f"\n== PNG 3840x2160 RGB (grain), write_png on 1 thread, best of {repeat} ==")
    print(f"  {'deflate':<22} {'write ms':>9} {'MiB':>7} {'inflate ms':>11}  Pillow reads it back")
    original = imageio.zlib
    try:
        for name, (library, levels) in libraries.items():
            for level in levels:
                imageio.zlib = library  # the writer's deflate, swapped for this row
                buffer = io.BytesIO()

                def write(buffer: io.BytesIO = buffer, level: int = level) -> None:
                    buffer.seek(0)
                    buffer.truncate()
                    imageio.write_png(buffer, pixels, level=level, threads=1)

                milliseconds = best(write, repeat)
                data = buffer.getvalue()
                with Image.open(io.BytesIO(data)) as image:
                    same = np.array_equal(np.asarray(image), pixels)
                stream = b"".join(_idat_payloads(data))
                inflate = best(lambda library=library, s=stream: library.decompress(s), repeat)
                print(
                    f"  {name + ' level ' + str(level):<22} {milliseconds:9.1f} "
                    f"{len(data) / 2**20:7.2f} {inflate:11.1f}  {same}"
                )
    finally:
        imageio.zlib = original


def _idat_payloads(data: bytes) -> list[bytes]:
    """The zlib stream of a PNG, chunk by chunk."""
    payloads, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            payloads.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    return payloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("== import cost after NumPy, ms (fresh interpreter, best of 7) ==")
    for module in ("PIL.Image", "simplejpeg", "isal.isal_zlib", "zlib_ng.zlib_ng", "cv2"):
        cost = import_cost(module)
        print(f"  {module:<20} {'not installed' if cost is None else f'{cost:.1f}'}")
    jpeg_table(args.photos, args.repeat)
    png_table(args.repeat)


if __name__ == "__main__":
    main()
