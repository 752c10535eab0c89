"""Generate tests/data/borders_cv2.json: OpenCV's copyMakeBorder on tiny images, big pads.

tests/test_core_padding.py pads the same images with convcli's ``pad2d`` and compares bit
for bit. The cases are the ones PyTorch refuses (pads as large as or larger than the
input), where convcli folds the border back repeatedly as OpenCV's ``borderInterpolate``
does. The suite never imports cv2 (a benchmark-only dependency). Re-run after changing
the cases, with a venv that has opencv-python-headless:

    python tests/data/make_border_fixture.py

The file holds ``cases``: a list of ``{"mode", "image", "pads", "padded"}``, with convcli's
mode name, the image (H x W, whole numbers), pads ``(top, bottom, left, right)`` and
OpenCV's result.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).with_name("borders_cv2.json")
MODES = {
    "reflect": cv2.BORDER_REFLECT_101,
    "symmetric": cv2.BORDER_REFLECT,
    "replicate": cv2.BORDER_REPLICATE,
    "circular": cv2.BORDER_WRAP,
    "zeros": cv2.BORDER_CONSTANT,
}
PADS = [(10, 0, 0, 10), (3, 7, 9, 1), (10, 10, 10, 10), (0, 5, 4, 0), (1, 2, 2, 1)]


def main() -> None:
    rng = np.random.default_rng(13)
    cases = []
    for height in range(1, 5):
        for width in range(1, 5):
            image = rng.integers(0, 100, (height, width)).astype(np.float32)
            for mode, border in MODES.items():
                for pads in PADS:
                    padded = cv2.copyMakeBorder(image, *pads, border, value=0)
                    cases.append(
                        {
                            "mode": mode,
                            "image": image.astype(int).tolist(),
                            "pads": list(pads),
                            "padded": padded.astype(int).tolist(),
                        }
                    )
    OUT.write_text(json.dumps({"opencv": cv2.__version__, "cases": cases}, separators=(",", ":")))
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
