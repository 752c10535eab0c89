"""Write edges_rgb.npy: a 4-D (C_out=2, C_in=3, 3, 3) kernel, a tiny conv layer for RGB input.

Output channel 0 is Sobel-x on the luma (0.299 R + 0.587 G + 0.114 B), output channel 1 is
Sobel-y on the luma, both in cross-correlation orientation. Re-run from the repository root:

    .venv/bin/python samples/kernels/make_edges_rgb.py
"""

from pathlib import Path

import numpy as np

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

layer = np.stack([LUMA[:, None, None] * SOBEL_X, LUMA[:, None, None] * SOBEL_X.T])
np.save(Path(__file__).with_name("edges_rgb.npy"), layer)
