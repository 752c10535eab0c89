"""16-bit colour PNG: convcli's NumPy+zlib decoder against OpenCV (libpng) and Pillow.

Pillow decodes 16-bit RGB(A) PNG to 8 bits, so convcli reads those files itself
(convcli/_png.py). This measures what that costs, on a 3840x2160 image made from the
chelsea sample, with the row filters a PNG may use:

- ``up``: every row Up (what convcli's own writer makes): rows undone one by one;
- ``paeth``: every row Paeth (what libpng's adaptive choice mostly gives on photos);
- ``mixed``: the five filters in turn.

Each filter kind is timed at 16 bits (convcli vs ``cv2.imdecode(IMREAD_UNCHANGED)``, which
keeps 16 bits) and at 8 bits (convcli vs Pillow, the decoder convcli keeps for 8-bit files).
All decoders run ``--runs`` times interleaved, after a warm-up; medians and the ratio
convcli / peer are printed. Also printed: the import time of tifffile (loaded only when a
16-bit or float colour TIFF is read or written) and its installed size.

    /work/venv/bin/python benchmarks/png16_read.py [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the test's PNG encoder is reused

from convcli._png import decode_png  # noqa: E402
from tests.test_io_trust import filtered_png  # noqa: E402

FILTERS = {"up": [2], "paeth": [4], "mixed": [0, 1, 2, 3, 4]}


def main() -> int:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with Image.open(ROOT / "samples" / "chelsea.png") as image:
        eight = np.asarray(image.convert("RGB").resize((3840, 2160)))
    noise = np.random.default_rng(0).integers(0, 256, eight.shape)
    sixteen = (eight.astype(np.uint16) * 257 + noise).astype(np.uint16)
    cases = {}
    for kind, filters in FILTERS.items():
        data16, data8 = filtered_png(sixteen, filters), filtered_png(eight, filters)
        buffer16 = np.frombuffer(data16, np.uint8)
        assert np.array_equal(decode_png(data16), sixteen)
        assert np.array_equal(decode_png(data8), eight)
        cases[f"{kind:5s} 16-bit convcli"] = lambda d=data16: decode_png(d)
        cases[f"{kind:5s} 16-bit OpenCV "] = lambda b=buffer16: cv2.imdecode(
            b, cv2.IMREAD_UNCHANGED
        )
        cases[f"{kind:5s}  8-bit convcli"] = lambda d=data8: decode_png(d)
        cases[f"{kind:5s}  8-bit Pillow "] = lambda d=data8: np.asarray(Image.open(io.BytesIO(d)))
    times: dict[str, list[float]] = {name: [] for name in cases}
    for run in cases.values():  # warm-up
        run()
    for _ in range(runs):
        for name, run in cases.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    names = list(cases)
    print(f"3840x2160 RGB, {runs} interleaved runs, median seconds")
    for ours, peer in zip(names[0::2], names[1::2], strict=True):
        ratio = medians[ours] / medians[peer]
        print(
            f"{ours}  {medians[ours]:6.3f}   {peer.strip()[-7:]} {medians[peer]:6.3f}  x{ratio:.1f}"
        )
    command = [sys.executable, "-X", "importtime", "-c", "import numpy; import tifffile"]
    lines = subprocess.run(command, capture_output=True, text=True).stderr.splitlines()
    own = next(line for line in reversed(lines) if line.rstrip().endswith("tifffile"))
    print(f"import tifffile (after numpy): {int(own.split('|')[1]) / 1000:.0f} ms")
    import tifffile

    folder = Path(tifffile.__file__).parent
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    print(f"tifffile installed: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
