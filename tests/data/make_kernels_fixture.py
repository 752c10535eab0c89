"""Generate tests/data/kernels_cv2.json: OpenCV's filters on one small image, as references.

tests/test_kernels.py correlates the same image with convcli's named kernels and compares;
the suite never imports cv2 (a benchmark-only dependency). Re-run after changing the cases,
with the project venv (opencv-python-headless is installed there for benchmarks):

    .venv/bin/python tests/data/make_kernels_fixture.py

Every case uses BORDER_REFLECT_101 (convcli's ``reflect``, scipy's ``mirror``) and float64.
The file holds ``image`` (7x9, values on a 1/8 grid) and ``cases``: ``step`` -> the filtered
image as OpenCV computes it, and ``sign`` (-1 where OpenCV's convention is the negative of
ours: its Laplacian has a negative centre).

Not compared: ``gaussian:size=N`` alone. convcli takes sigma from the formula OpenCV documents
for getGaussianKernel, ``0.3*((N-1)/2 - 1) + 0.8``, but OpenCV itself returns fixed,
rounded tables there (size 9 gives multiples of 1/256), so the two differ by ~1e-3.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).with_name("kernels_cv2.json")
BORDER = cv2.BORDER_REFLECT_101


def main() -> None:
    rng = np.random.default_rng(2024)
    image = np.round(rng.uniform(0, 8, size=(7, 9)) * 8) / 8
    cases = {
        "sobel-x": (cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=3, borderType=BORDER), 1),
        "sobel-y": (cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=3, borderType=BORDER), 1),
        "scharr-x": (cv2.Scharr(image, cv2.CV_64F, 1, 0, borderType=BORDER), 1),
        "scharr-y": (cv2.Scharr(image, cv2.CV_64F, 0, 1, borderType=BORDER), 1),
        "laplacian": (cv2.Laplacian(image, cv2.CV_64F, ksize=1, borderType=BORDER), -1),
        "box:3": (cv2.blur(image, (3, 3), borderType=BORDER), 1),
        "box:3x5": (cv2.blur(image, (5, 3), borderType=BORDER), 1),  # cv2 sizes are (w, h)
        "gaussian:1.5,size=7": (cv2.GaussianBlur(image, (7, 7), 1.5, borderType=BORDER), 1),
    }
    OUT.write_text(
        json.dumps(
            {
                "opencv": cv2.__version__,
                "image": image.tolist(),
                "cases": {
                    step: {"sign": sign, "output": output.tolist()}
                    for step, (output, sign) in cases.items()
                },
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {OUT} ({len(cases)} cases, OpenCV {cv2.__version__})")


if __name__ == "__main__":
    main()
