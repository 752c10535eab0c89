"""convcli: convolution and pooling, as a calculator, a library and an image filter.

``import convcli`` is cheap: the NumPy-backed functions below are imported on first
use, so that ``convcli shape`` and ``--help`` never pay for NumPy, SciPy or Pillow.

>>> import convcli
>>> convcli.conv2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]]).tolist()
[[19.0, 25.0], [37.0, 43.0]]
"""

from __future__ import annotations

from convcli._lazy import attach

__version__ = "0.1.0"

# Public name -> module that defines it. Resolved lazily by __getattr__ (PEP 562).
_LAZY: dict[str, str] = {
    "conv2d": "convcli.core",
    "conv_transpose2d": "convcli.core",
    "max_pool2d": "convcli.core",
    "avg_pool2d": "convcli.core",
    "min_pool2d": "convcli.core",
    "median_filter2d": "convcli.core",
    "choose_algorithm": "convcli.core",
    "analyze": "convcli.geometry",
    "Layer": "convcli.geometry",
    "Shape": "convcli.geometry",
    "conv_output_size": "convcli.geometry",
    "pool_output_size": "convcli.geometry",
    "transposed_output_size": "convcli.geometry",
    "same_padding": "convcli.geometry",
    "parse_layer": "convcli.layers",
    "parse_size": "convcli.layers",
    "parse_step": "convcli.kernels",
    "KernelStep": "convcli.kernels",
    "PoolStep": "convcli.kernels",
    "learn_kernel": "convcli.learn",
    "fit_kernel": "convcli.learn",
    "fit_kernel_gd": "convcli.learn",
    "KernelFit": "convcli.learn",
    "compare_layer": "convcli.compare",
    "compare_network": "convcli.compare",
    "preset_layers": "convcli.presets",
    "preset_names": "convcli.presets",
    "load_image": "convcli.imageio",
    "save_image": "convcli.imageio",
    "run_steps": "convcli.pipeline",
    "filter_picture": "convcli.pipeline",
    "StepOptions": "convcli.pipeline",
    "process_one": "convcli.batch",
    "ApplyOptions": "convcli.batch",
    "find_inputs": "convcli.batch",
    "plan_batch": "convcli.batch",
    "run_batch": "convcli.batch",
    "BatchInput": "convcli.batch",
    "BatchItem": "convcli.batch",
    "BatchReport": "convcli.batch",
    "plan_strips": "convcli.pipeline",
    "StripPlan": "convcli.pipeline",
    "write_png": "convcli.imageio",
}

__all__ = ["__version__", *_LAZY]


__getattr__, __dir__ = attach(__name__, _LAZY)
