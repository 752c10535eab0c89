"""One input through the steps to one output: :func:`process_one`, the unit of work of
``convcli apply`` (a single file, each file of a local batch, each task of a Dask batch).

:func:`process_one` reads the input (image, ``.npy``/``.csv``/``.txt`` matrix, ``--matrix``
values, stdin, or an fsspec URL), plans the output (format, depth, ``--map``), runs the
steps (:mod:`convcli.pipeline`; big images strip by strip), maps the result back, encodes
it and writes it atomically (:mod:`convcli.imageio`; an object store in one put), or
returns a matrix result for printing. :func:`process_file` wraps it for a batch: its
failures become an :data:`Outcome`, never an exception. Nothing here prints: remarks come
back in the results, failures as :class:`ConvcliError`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from convcli import imageio, storage
from convcli._records import dataclass
from convcli._threads import cpu_count, ordered_map
from convcli.errors import ConvcliError, OutputExistsError, SpecError
from convcli.kernels import KernelStep, PoolStep
from convcli.peers import round_pixels
from convcli.pipeline import (
    PictureOptions,
    PictureResult,
    StepOptions,
    StepReport,
    StripPlan,
    filter_picture,
    float32_changes,
    plan_picture_strips,
    prepare_steps,
    resolve_map,
    result_range,
    run_steps,
)

__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "MatrixInput",
    "Outcome",
    "matrix_to_chw",
    "process_file",
    "process_one",
    "steps_arithmetic",
]

Step = KernelStep | PoolStep

#: ``(rows_done, rows)``: how far the filtering of one input is (see :func:`process_one`).
RowProgress = Callable[[int, int], None]


_DEPTH_NAMES = {"8": "8-bit", "16": "16-bit", "float": "float32"}


@dataclass(frozen=True, eq=False)
class ApplyOptions:
    """Everything but the input, the output and the steps.

    Attributes
    ----------
    steps : StepOptions
        Global stride/padding/dilation/border, ``--convolve``, ``--normalize``, ``--bias``.
    map_mode : str
        ``--map``: auto, clip, abs, offset, minmax or raw.
    gray, linear : bool
        ``--gray`` (BT.601 luma first), ``--linear`` (filter in linear light).
    to : str or None
        Output format (``"PNG"``, ``"NPY"``...) overriding the output's suffix.
    depth : {"8", "16", "float"} or None
        Output depth; None: the input's, as far as the format holds it.
    quality : int
        JPEG/WebP quality.
    png_compression : int
        PNG zlib level 0..9 (default 1: fast).
    force : bool
        Replace an existing output.
    max_pixels : int or None
        Refuse larger images before decoding (None: Pillow's limit; 0: no limit).
    strip_rows : int or None
        Rows per strip when the steps allow filtering in strips (see
        :func:`convcli.pipeline.plan_strips`); None: about 8 MB of float32 per strip;
        0: always the whole image at once. The results are the same either way.
    threads : int or None
        Threads for strips and PNG blocks (None: one per core). A batch gives each of its
        worker processes its share.
    channels_last : bool
        Read a 3-D ``.npy`` matrix as (H, W, C) and write it back that way.
    rounding : str
        How float results become integer pixels (:data:`convcli.peers.ROUNDINGS`).
    edge_map : str
        What ``--map auto`` does with zero-sum kernels (``abs``; ``--like`` peers ``clip``).
    """

    steps: StepOptions = field(default_factory=StepOptions)
    map_mode: str = "auto"
    gray: bool = False
    linear: bool = False
    to: str | None = None
    depth: str | None = None
    quality: int = 90
    png_compression: int = 1
    force: bool = False
    max_pixels: int | None = None
    channels_last: bool = False
    strip_rows: int | None = None
    threads: int | None = None
    rounding: str = "half-up"
    edge_map: str = "abs"


@dataclass(frozen=True, eq=False)
class MatrixInput:
    """Values given directly (``--matrix``), shape (H, W) or (C, H, W)."""

    values: np.ndarray
    name: str = "--matrix"


@dataclass
class ApplyResult:
    """What :func:`process_one` did.

    Attributes
    ----------
    input : str
        The input's name.
    output : str or None
        Where the result was written; None when it is returned in ``values`` to print.
    kind : {"image", "matrix"}
    in_shape, out_shape : tuple of int
        (C, H, W) before and after the steps.
    values : ndarray or None
        A matrix result to print: (H, W) for one channel from a 2-D input, else (C, H, W).
    reports : list of StepReport
        One per step (operation, pads, algorithm and why).
    map_reason : str
        Which ``--map`` ran and why ('' for printed matrices).
    output_description : str
        ``"PNG, 8-bit RGB"`` and the like.
    notes : list of str
        Remarks for stderr.
    seconds : float
        Wall time of the whole call.
    timings : dict of str to float
        Seconds spent reading, filtering (with the mapping back) and writing.
    strips : int
        How many strips of rows the image was filtered in (0: whole, at once).
    """

    input: str
    output: str | None
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    values: np.ndarray | None = None
    reports: list[StepReport] = field(default_factory=list)
    map_reason: str = ""
    output_description: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    strips: int = 0


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def matrix_to_chw(values: np.ndarray, name: str, channels_last: bool) -> np.ndarray:
    """A matrix as read -> (C, H, W) float32.

    Parameters
    ----------
    values : ndarray, shape (H, W), (C, H, W), (H, W, C) or (1, C, H, W)
        The matrix as read from its file.
    name : str
        The file's name, for messages and the layout note.
    channels_last : bool
        ``--channels-last``: a 3-D matrix is (H, W, C). Otherwise
        :func:`convcli.imageio.matrix_layout` decides by the shape.
    """
    if values.ndim == 4:
        if values.shape[0] != 1:
            raise ConvcliError(
                f"{name}: a 4-D matrix must hold one sample (1,C,H,W), got shape {values.shape}"
            )
        values = values[0]
    if values.ndim == 2:
        values = values[None]
    elif values.ndim == 3 and imageio.matrix_layout(values.shape, name, channels_last)[0]:
        values = np.moveaxis(values, -1, 0)
    elif values.ndim != 3:
        raise ConvcliError(f"{name}: a matrix has 2 or 3 dimensions, got shape {values.shape}")
    return np.ascontiguousarray(values, dtype=np.float32)


def _read_input(
    source: str | os.PathLike[str] | MatrixInput, options: ApplyOptions
) -> tuple[str, imageio.Picture | np.ndarray, int]:
    """(name, Picture or raw matrix values, matrix rank as read) for any kind of input."""
    max_pixels = _max_pixels(options)
    if isinstance(source, MatrixInput):
        return source.name, source.values, source.values.ndim
    name = str(source)
    if name == "-":
        data = sys.stdin.buffer.read()
        piped = imageio.load_piped(data, max_pixels=max_pixels)
        if isinstance(piped, imageio.Picture):
            return "stdin", piped, 0
        return imageio.piped_name(data), piped, piped.ndim
    if storage.is_url(name):
        return _read_object(name, max_pixels)
    if imageio.is_matrix_path(name):
        values = imageio.load_matrix(name)
        return name, values, values.ndim
    return name, imageio.load_image(name, max_pixels=max_pixels), 0


def _read_object(url: str, max_pixels: int) -> tuple[str, imageio.Picture | np.ndarray, int]:
    """An input named by an fsspec URL: its bytes fetched whole, then decoded as a file."""
    import io

    data = storage.read_bytes(url)
    if imageio.is_matrix_path(url):
        values = imageio.load_piped(data, max_pixels=max_pixels)
        if isinstance(values, np.ndarray):
            return url, values, values.ndim
        raise ConvcliError(f"{url}: an image, not the matrix its suffix says")
    return url, imageio.load_image(io.BytesIO(data), max_pixels=max_pixels, name=url), 0


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def _output_format(output: str, options: ApplyOptions, default: str | None) -> str:
    if options.to:
        return options.to.upper()
    if output == "-":
        return default or "PNG"
    found = imageio.format_for_path(output)
    if found is None:
        raise SpecError(  # a batch's names keep a known suffix: this is -o's
            f"-o/--output '{output}': cannot tell the output format; give a known suffix "
            "or --to FORMAT"
        )
    return found


def _float_output(format_name: str, options: ApplyOptions, picture_depth: str) -> bool:
    """Whether the output holds floats (decided before filtering: --map auto depends on it)."""
    if format_name in imageio.FLOAT_ONLY_FORMATS:
        if options.depth not in (None, "float"):
            raise SpecError(f"--depth {options.depth}: {format_name} holds float values only")
        return True
    if options.depth == "float" or (options.depth is None and options.map_mode == "raw"):
        if format_name not in imageio.FLOAT_FORMATS:
            asked = "--depth float" if options.depth == "float" else "--map raw"
            raise SpecError(
                f"{asked} keeps float values, which {format_name} cannot hold; "
                "write .npy, .pfm or .tif, or choose --map clip, abs, offset or minmax"
            )
        return True
    if options.depth is None and picture_depth == "float":
        return format_name in imageio.FLOAT_FORMATS
    return False


def _integer_depth(
    format_name: str, options: ApplyOptions, picture_depth: str, channels: int, notes: list[str]
) -> str:
    """The integer depth to write: the asked or the input's, if the format can hold it."""
    wanted = options.depth or picture_depth
    if wanted == "float":  # float pixels (0..1) into an integer format: the most bits it has
        wanted = "16"
        notes.append(f"float image written to {format_name} as integers (0..1 -> full scale)")
    if wanted == "16" and format_name not in imageio.SIXTEEN_BIT_FORMATS:
        notes.append(f"{format_name} holds 8 bits per channel: the result is written in 8 bits")
        return "8"
    return wanted


_OUTPUT_DTYPES = {"8": np.uint8, "16": np.uint16, "float": np.float32}


def _output_array(
    height: int, width: int, channels: int, depth: str, format_name: str
) -> np.ndarray:
    """An empty output image: (H, W) for one channel, else (H, W, C), laid out for the
    format's writer (:func:`convcli.imageio.output_array`)."""
    shape = (height, width) if channels == 1 else (height, width, channels)
    return imageio.output_array(shape, _OUTPUT_DTYPES[depth], format_name)


def _to_output_pixels(
    values: np.ndarray,
    in_scale: float,
    depth: str,
    out: np.ndarray,
    rounding: str = "half-up",
) -> None:
    """(C, H, W) float in the input's units -> ``out``, (H, W[, C]) of the output depth.

    ``values`` (the pipeline's own result, already mapped to ``0 .. in_scale`` by
    ``--map``) may be overwritten: one pass over the image for the default rounding
    (three for the others, and a fourth when the scale changes), and no image-sized
    temporary besides ``out`` (made by :func:`_output_array`, or rows of it).
    """
    channels = values.shape[0]
    target = out[:, :, None] if out.ndim == 2 else out
    offset = None
    if depth != "float":
        out_scale = imageio.FULL_SCALE[depth]
        if out_scale != in_scale:
            values *= np.float32(out_scale / in_scale)
        if rounding == "half-up":
            # Round half up (as Pillow does): mid-grey 127.5 -> 128, and offset maps -15
            # to 113. The +0.5 rides along with the truncating cast below, and there is
            # no clip: every --map an integer output allows leaves 0 .. full scale, give
            # or take rounding far under 0.5, which the truncation absorbs (1080p RGB:
            # 6.7 ms instead of 10.5 for clip, add and cast).
            offset = np.float32(0.5)
        else:  # --like peers round their own way (round_pixels), from clipped values
            np.clip(values, 0, out_scale, out=values)
            round_pixels(values, rounding, out_scale)
    # Channel by channel: ~2.5x faster than one copy through np.moveaxis (1080p RGB:
    # 2.4 ms against 6.3 ms), whose inner loop strides over the float planes. The cast
    # runs in SIMD only into contiguous integers: into interleaved pixels it goes through
    # a plane of them, then one strided copy (1080p: 0.5 + 0.6 ms a channel against 1.8).
    plane = None
    if channels > 1 and target.strides[1] != target.itemsize:  # interleaved (H, W, C)
        plane = np.empty(target.shape[:2], target.dtype)
    for channel in range(channels):
        into = target[:, :, channel] if plane is None else plane
        if offset is None:
            np.copyto(into, values[channel], casting="unsafe")
        else:
            np.add(values[channel], offset, out=into, casting="unsafe")
        if plane is not None:
            target[:, :, channel] = plane


def _chw_float32(pixels: np.ndarray) -> np.ndarray:
    """(H, W[, C]) pixels -> (C, H, W) float32, contiguous (a new array)."""
    if pixels.ndim == 2:
        return pixels.astype(np.float32)[None]
    # Channel by channel, as in _to_output_pixels: 1080p RGB 3.2 ms against 5.1 ms for
    # one np.ascontiguousarray of the moved axes.
    planes = np.empty((pixels.shape[2], *pixels.shape[:2]), np.float32)
    for channel, plane in enumerate(planes):
        np.copyto(plane, pixels[:, :, channel])
    return planes


#: Elements of a strip's float32 array (8 MB): strips of a 4K RGB image are then ~180
#: rows, which measured fastest with two strips at a time on two cores (~80 ms for a
#: Sobel-x, against ~110 ms one strip at a time and ~150 ms for the whole image at once).
STRIP_ELEMENTS = 1 << 21


#: Most elements (C x H x W) filtered whole when only one thread works on the image (a
#: batch worker's share of the cores). Strips then only bound the memory, and the whole
#: image at once skips the strips' halo rows and set-up: 1080p RGB, Gaussian sigma=2,
#: 38.5 -> 36.4 ms of CPU per file. 8M elements is 32 MB of float32 per array.
ONE_THREAD_WHOLE_ELEMENTS = 1 << 23


def _map_mode_to_run(
    plan: _OutputPlan, picture: imageio.Picture, steps: Sequence[Step], options: ApplyOptions
) -> str:
    """``plan.map_mode``, or ``raw`` where ``clip`` cannot change an integer output.

    The clip is a pass over the image (1080p RGB: ~1 ms of a batch file's ~37). When the
    chain's results provably stay within ``0 .. full scale`` give or take less than half
    an output level (:func:`convcli.pipeline.result_range`: blurs, boxes, pools of 8- or
    16-bit pixels), the rounding to integers gives the same pixels without it.
    """
    colour_only = picture.channels in ("L", "RGB") and not (options.gray or options.linear)
    integers_in = picture.depth in ("8", "16")  # float pixels may lie anywhere, NaN too
    if plan.map_mode != "clip" or plan.float_output or not (colour_only and integers_in):
        return plan.map_mode
    if any(isinstance(step, KernelStep) and step.weight.ndim > 2 for step in steps):
        return plan.map_mode  # channels mixed: the output depth depends on the result
    bounds = result_range(steps, options.steps, 0.0, plan.in_scale)
    if bounds is None:
        return plan.map_mode
    channels = 1 if picture.channels == "L" else 3
    depth = _integer_depth(plan.format_name, options, picture.depth, channels, [])
    half_level = 0.5 * plan.in_scale / imageio.FULL_SCALE[depth]
    lowest, highest, rounding = bounds
    fits = lowest - rounding > -half_level and highest + rounding < plan.in_scale + half_level
    return "raw" if fits else plan.map_mode


def _in_strips(shape: tuple[int, int, int], options: ApplyOptions) -> bool:
    """Whether to plan strips: unless told not to (``strip_rows=0``), or left to decide
    (None) with one thread and an image of at most :data:`ONE_THREAD_WHOLE_ELEMENTS`."""
    if options.strip_rows is not None:
        return options.strip_rows != 0
    one_thread = (options.threads or cpu_count()) == 1
    return not (one_thread and math.prod(shape) <= ONE_THREAD_WHOLE_ELEMENTS)


def _auto_strip_rows(shape: tuple[int, int, int], plan: StripPlan) -> int:
    """Rows per strip: about :data:`STRIP_ELEMENTS` per array, and well above the halo
    (the halo is computed twice, once for each neighbouring strip)."""
    channels, _, width = shape
    halo = plan.halo_top + plan.halo_bottom
    return max(STRIP_ELEMENTS // max(1, channels * width), 4 * halo, 16)


def _matrix_output_array(values: np.ndarray, rank: int, channels_last: bool) -> np.ndarray:
    """(C, H, W) result -> the layout its input had: (H, W) for one channel of a 2-D input."""
    if values.shape[0] == 1 and rank == 2:
        return values[0]
    if channels_last:
        return np.ascontiguousarray(np.moveaxis(values, 0, -1))
    return values


# --------------------------------------------------------------------------------------------
# The unit of work
# --------------------------------------------------------------------------------------------


def process_one(
    source: str | os.PathLike[str] | MatrixInput,
    output: str | os.PathLike[str] | None,
    steps: Sequence[Step],
    options: ApplyOptions = ApplyOptions(),
    *,
    protected: Sequence[str | os.PathLike[str]] = (),
    progress: RowProgress | None = None,
) -> ApplyResult:
    """Read one input, run the steps, write (or return) the result.

    Parameters
    ----------
    source : path, ``"-"`` (stdin) or MatrixInput
        An image (format from content), a ``.npy``/``.csv``/``.txt`` matrix, or values.
    output : path, ``"-"`` (stdout) or None
        None returns a matrix result in :attr:`ApplyResult.values` (images need a file).
    steps : sequence of KernelStep or PoolStep
        As parsed; ``--convolve``/``--normalize`` are applied here.
    options : ApplyOptions
    protected : sequence of paths
        More files that must never be overwritten (a batch's other inputs).
    progress : callable ``(rows_done, rows) -> None``, optional
        Told ``(0, H)`` before filtering, then after each strip (or once, at the end, for
        a picture filtered whole); the caller decides whether to show it.

    Returns
    -------
    ApplyResult

    Raises
    ------
    ConvcliError
        Any failure, in one line naming the file or the step; nothing is left at
        ``output`` (the write is atomic).
    SpecError
        Options that contradict each other or the output format.
    """
    started = time.perf_counter()
    if isinstance(source, str):
        source = storage.local_path(source)  # file:// is a path: the local atomic write
    output_text = None if output is None else storage.local_path(str(output), "-o/--output")
    if output_text is not None and output_text != "-" and not storage.is_url(output_text):
        inputs = [*protected]
        if not isinstance(source, MatrixInput) and str(source) != "-":
            inputs.append(source)
        imageio.check_output_path(output_text, inputs, force=options.force)
    prepared = prepare_steps(steps, options.steps)
    header_shape = _shape_from_header(source, options)
    if header_shape is not None:  # refused before decoding a file the chain cannot take
        _check_chain_on_paper(str(source), header_shape, steps, options)
    name, loaded, rank = _read_input(source, options)
    if header_shape is None:
        _check_chain_on_paper(name, _shape_of(loaded), steps, options)
    timings = {"read": time.perf_counter() - started}
    progress = progress or _untold
    if isinstance(loaded, imageio.Picture):
        result = _process_picture(name, loaded, output_text, prepared, options, timings, progress)
    else:
        result = _process_matrix(
            name, loaded, rank, output_text, prepared, options, timings, progress
        )
    result.seconds = time.perf_counter() - started
    result.timings = timings
    return result


#: An input's size for the chain check: ``((C, H, W), is_image)``.
InputShape = tuple[tuple[int, int, int], bool]


def _max_pixels(options: ApplyOptions) -> int:
    return imageio.DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels


def _shape_from_header(
    source: str | os.PathLike[str] | MatrixInput, options: ApplyOptions
) -> InputShape | None:
    """A named local file's size from its header alone, or None when it must be read
    first (stdin, a URL, values, a text matrix, which has no header and would be parsed
    twice, an unreadable header, an image the reader refuses)."""
    if isinstance(source, MatrixInput) or not _max_pixels(options):
        return None
    name = str(source)
    if name == "-" or storage.is_url(name):
        return None
    if imageio.is_matrix_path(name) and not name.lower().endswith(".npy"):
        return None
    probed = imageio.probe_shape(
        name, max_pixels=_max_pixels(options), channels_last=options.channels_last,
        gray=options.gray,
    )  # fmt: skip
    if probed is None or probed[0][1] * probed[0][2] > _max_pixels(options):
        return None  # the reader says what is wrong, in its own words
    return probed


def _shape_of(loaded: imageio.Picture | np.ndarray) -> InputShape:
    """The size of an input as read (a Picture's channels, or a matrix's rank 2 or 3)."""
    if isinstance(loaded, imageio.Picture):
        pixels = loaded.pixels
        depth = 1 if pixels.ndim == 2 else pixels.shape[2]
        return (depth, pixels.shape[0], pixels.shape[1]), True
    shape = loaded.shape if loaded.ndim == 3 else (1, *loaded.shape[-2:])
    return (shape[0], shape[1], shape[2]), False


def _check_chain_on_paper(
    name: str, input_shape: InputShape, steps: Sequence[Step], options: ApplyOptions
) -> None:
    """Walk the chain on paper for this input's size before any filtering, so a step whose
    output or memory would pass --max-pixels is refused for every input (a single file,
    each file of a batch, stdin), naming the input."""
    from convcli.limits import check_chain

    if not _max_pixels(options):
        return
    shape, image = input_shape
    try:
        check_chain(shape, steps, options.steps, image=image, max_pixels=_max_pixels(options))
    except ConvcliError as error:
        raise ConvcliError(f"{name}: {error}") from None


def steps_arithmetic(
    source: str | os.PathLike[str] | MatrixInput, steps: Sequence[Step], options: ApplyOptions
) -> list[Any]:  # list[convcli.steps.Arithmetic]
    """``apply --steps``: each step's arithmetic on one matrix, as ``apply`` would run it.

    Parameters
    ----------
    source : path or MatrixInput
        ``--matrix`` values or a ``.npy``/``.csv``/``.txt`` file (read as ``(C, H, W)``).
    steps : sequence of KernelStep or PoolStep
        As parsed.
    options : ApplyOptions
        apply's options; those for images only (``--gray``, ``--linear``, ``--map``) are
        refused.

    Returns
    -------
    list of convcli.steps.Arithmetic
        One per step (see :func:`convcli.steps.chain_arithmetic`).

    Raises
    ------
    SpecError
        An image or stdin, or an option for images.
    ConvcliError
        A step whose output would pass ``--max-pixels`` (walked on paper first).
    """
    from convcli.steps import chain_arithmetic

    if options.gray or options.linear or options.map_mode not in ("auto", "raw"):
        raise SpecError("--gray, --linear and --map are for images; --steps works on matrices")
    if isinstance(source, MatrixInput):
        values, name = source.values, source.name
    else:
        name = str(source)
        if name == "-" or not imageio.is_matrix_path(name):
            raise SpecError(
                f"--steps shows the arithmetic of a matrix (--matrix, .npy, .csv, .txt); "
                f"'{name}' is not one"
            )
        values = imageio.load_matrix(name)
    x = matrix_to_chw(values, name, options.channels_last)
    _check_chain_on_paper(name, _shape_of(x), steps, options)
    return chain_arithmetic(x, steps, options.steps)


def _integer_blur_first_only(steps: Sequence[Step], whole_input: bool) -> list[Step]:
    """``--like vips``'s integer Gaussian (``KernelStep.fixed_point``) runs on 8-bit values
    as read: only for the first step, and only when the input's values are those whole
    numbers (an 8-bit image without alpha, --gray or --linear; a matrix). Decided here, once
    per input, never by the values a strip happens to hold, so strips and the whole image
    take the same path."""
    from dataclasses import replace

    return [
        replace(step, fixed_point=None)
        if isinstance(step, KernelStep) and step.fixed_point and (index or not whole_input)
        else step
        for index, step in enumerate(steps)
    ]


def _untold(rows_done: int, rows: int) -> None:
    """No one is watching."""


def _process_matrix(
    name: str,
    raw: np.ndarray,
    rank: int,
    output: str | None,
    steps: Sequence[Step],
    options: ApplyOptions,
    timings: dict[str, float],
    progress: RowProgress,
) -> ApplyResult:
    started = time.perf_counter()
    if options.map_mode not in ("auto", "raw"):
        raise SpecError(
            f"--map {options.map_mode} maps images to a pixel range; matrix results are raw numbers"
        )
    if options.gray or options.linear:
        raise SpecError("--gray and --linear are for images; the input is a matrix")
    channels_last, notes = imageio.matrix_layout(raw.shape, name, options.channels_last)
    x = matrix_to_chw(raw, name, channels_last)
    notes.extend(float32_changes(raw, name))
    progress(0, x.shape[1])
    values, reports = run_steps(
        x, _integer_blur_first_only(steps, True), options.steps, image=False
    )
    progress(x.shape[1], x.shape[1])
    # Text marks channels with blank lines (C x H x W), whatever the input's layout: an
    # H x W x C result printed row block by row block read back as H channels.
    as_text = _matrix_output_array(values, rank, channels_last=False)
    timings["filter"] = time.perf_counter() - started
    started = time.perf_counter()
    result = ApplyResult(
        name, None, "matrix", tuple(x.shape), tuple(values.shape), reports=reports, notes=notes
    )
    if output is None:
        result.values = as_text
        return result
    format_name = (options.to or "").upper() or (
        "TXT" if output == "-" else imageio.format_for_path(output) or ""
    )
    shown = _matrix_output_array(values, rank, channels_last and format_name == "NPY")
    if rank == 4 and format_name == "NPY":  # (1, ...) read: the sample axis written back
        shown = shown[None]
    check_result_format(True, format_name or Path(output).suffix or output, "")
    if format_name == "NPY":
        imageio.save_npy(output, shown, force=options.force)
    else:
        imageio.save_matrix_text(output, shown, csv=format_name == "CSV", force=options.force)
    result.output = output
    result.output_description = f"{format_name}, shape {'x'.join(map(str, shown.shape))}"
    timings["write"] = time.perf_counter() - started
    return result


def _channels_in_format(plan: _OutputPlan, filtered: PictureResult) -> list[str]:
    """Refuse a result with alpha (or 2 or 4 feature maps) for a format without alpha; the
    notes for what the format makes of the channels otherwise."""
    format_name, channels = plan.format_name, filtered.values.shape[0]
    planes = filtered.channels == "N" and channels in (2, 4)  # a 4-D kernel's outputs
    if (planes or filtered.channels in ("LA", "RGBA")) and format_name in imageio.NO_ALPHA_FORMATS:
        what = f"{channels} channels" if planes else filtered.channels
        raise ConvcliError(
            f"output '{plan.output}': {format_name} has no alpha channel and the result "
            f"is {what}; write PNG, TIFF or WebP" + (", or .npy" if planes else "")
        )
    if planes and format_name not in imageio.FLOAT_ONLY_FORMATS:
        return [
            f"the result has {channels} channels, not colour: {format_name} stores them "
            f"as {'LA' if channels == 2 else 'RGBA'}, the last as transparency; "
            "write .npy to keep them as planes"
        ]
    return []


@dataclass
class _OutputPlan:
    """What the output of a picture will be, decided before filtering."""

    output: str
    format_name: str
    float_output: bool
    map_mode: str
    map_reason: str
    in_scale: float


def check_result_format(matrix: bool, format_name: str, where: str) -> None:
    """Refuse a format the result cannot be written in: a matrix's is .npy, .csv or .txt;
    an image's is any but text. One rule for a file and for a batch's plan.

    Parameters
    ----------
    matrix : bool
        Whether the input (so the result) is a matrix rather than an image.
    format_name : str
        The output format (``"PNG"``, ``"NPY"``...; a suffix when none is known).
    where : str
        The message's start (``"output 'x.txt': "``), or ``""``.
    """
    if matrix and format_name not in ("NPY", "CSV", "TXT"):
        raise SpecError(
            f"{where}a matrix result is written as .npy, .csv or .txt, not {format_name}"
        )
    if not matrix and format_name in ("CSV", "TXT"):
        raise SpecError(
            f"{where}{format_name} is for matrix results and the input is an image; write an "
            "image format, .npy or .pfm"
        )


def _plan_output(
    picture: imageio.Picture, output: str, options: ApplyOptions, steps: Sequence[Step]
) -> _OutputPlan:
    """The output's format, whether it holds floats, and the ``--map`` that follows."""
    format_name = _output_format(output, options, picture.format)
    check_result_format(False, format_name, f"output '{output}': ")
    float_output = _float_output(format_name, options, picture.depth)
    map_mode, map_reason = resolve_map(
        options.map_mode, steps, float_output=float_output, edges=options.edge_map
    )
    if not float_output and map_mode == "raw":
        raise SpecError(
            f"--map raw keeps float values, which {format_name} cannot hold at --depth "
            f"{options.depth}; choose clip, abs, offset or minmax"
        )
    in_scale = imageio.FULL_SCALE[picture.depth]
    return _OutputPlan(output, format_name, float_output, map_mode, map_reason, in_scale)


def _process_picture(
    name: str,
    picture: imageio.Picture,
    output: str | None,
    steps: Sequence[Step],
    options: ApplyOptions,
    timings: dict[str, float],
    progress: RowProgress,
) -> ApplyResult:
    started = time.perf_counter()
    notes = list(picture.notes)
    if output is None:
        raise SpecError(
            f"{name} is an image: give -o FILE for the result (or -o - --to png for stdout)"
        )
    plan = _plan_output(picture, output, options, steps)
    pixels = picture.pixels
    shape = (1 if pixels.ndim == 2 else pixels.shape[2], *pixels.shape[:2])
    eight_bit = picture.depth == "8" and picture.channels in ("L", "RGB")
    whole = eight_bit and not (options.gray or options.linear)
    steps = _integer_blur_first_only(steps, whole)
    filtered, out_pixels, depth, strip_count = _filter_picture(
        picture, plan, steps, options, notes, progress
    )
    notes.extend(filtered.notes)
    if plan.format_name == "GIF":
        notes.extend(imageio.gif_losses(out_pixels, plan.output))
    channels_name, reports = filtered.channels, filtered.reports
    out_shape = (1 if out_pixels.ndim == 2 else out_pixels.shape[2], *out_pixels.shape[:2])
    # The decoded input and the float results are not needed any more: free them before
    # encoding, which makes its own copy (a 12000x12000 RGB photo is 432 MB decoded).
    picture.pixels = pixels = np.empty((0, 0), np.uint8)
    del filtered
    timings["filter"] = time.perf_counter() - started
    started = time.perf_counter()
    icc_profile = picture.icc_profile
    colour_in = picture.channels in ("RGB", "RGBA")
    colour_out = channels_name in ("RGB", "RGBA")
    if colour_in != colour_out:
        icc_profile = None  # an RGB profile does not describe grey (or N-channel) data
    imageio.save_image(
        out_pixels,
        output,
        format=plan.format_name,
        force=options.force,
        quality=options.quality,
        png_compression=options.png_compression,
        icc_profile=icc_profile,
        dpi=picture.dpi,
        threads=options.threads,
    )
    timings["write"] = time.perf_counter() - started
    description = f"{plan.format_name}, {_DEPTH_NAMES[depth]} {channels_name}"
    return ApplyResult(
        input=name,
        output=output,
        kind="image",
        in_shape=shape,
        out_shape=out_shape,
        reports=reports,
        map_reason=plan.map_reason,
        output_description=description,
        notes=notes,
        strips=strip_count,
    )


def _filter_picture(
    picture: imageio.Picture,
    plan: _OutputPlan,
    steps: Sequence[Step],
    options: ApplyOptions,
    notes: list[str],
    progress: RowProgress,
) -> tuple[PictureResult, np.ndarray, str, int]:
    """The steps on the whole picture, or strip by strip on every core, straight into the
    output's pixels.

    Parameters
    ----------
    picture : Picture
    plan : _OutputPlan
    steps : sequence of KernelStep or PoolStep
    options : ApplyOptions
    notes : list of str
        Receives the remarks on the output's depth.
    progress : callable ``(rows_done, rows) -> None``
        Told before the work and after each strip (or at the end, whole).

    Returns
    -------
    filtered : PictureResult
        The first (or only) result: its channels, reports and notes.
    out_pixels : ndarray, shape (H, W) or (H, W, C)
        Of the output's depth.
    depth : str
    strips : int
        How many strips (0: whole).
    """
    pixels = picture.pixels
    shape = (1 if pixels.ndim == 2 else pixels.shape[2], *pixels.shape[:2])
    in_scale, format_name = plan.in_scale, plan.format_name
    map_mode = _map_mode_to_run(plan, picture, steps, options)
    strips = None
    if _in_strips(shape, options):
        strips = plan_picture_strips(
            shape, picture.channels, steps, options.steps, map_mode=map_mode, gray=options.gray
        )

    def output_depth(filtered: PictureResult) -> str:
        """Decided from the first result (its channels), checked against the format."""
        notes.extend(_channels_in_format(plan, filtered))
        if plan.float_output:
            return "float"
        channels = filtered.values.shape[0]
        return _integer_depth(format_name, options, picture.depth, channels, notes)

    def filter_rows(rows: np.ndarray, **strip: Any) -> PictureResult:
        """The chain on ``rows`` of the input (all of it, or one strip's with ``strip``)."""
        return filter_picture(
            _chw_float32(rows),
            picture.channels,
            in_scale,
            steps,
            options.steps,
            PictureOptions(map_mode, options.gray, options.linear),
            **strip,
        )

    height, width = shape[1:]
    progress(0, height)
    if strips is None:
        filtered = filter_rows(pixels)
        depth = output_depth(filtered)
        channels, out_height, out_width = filtered.values.shape  # pooling changes the size
        out_pixels = _output_array(out_height, out_width, channels, depth, format_name)
        _to_output_pixels(filtered.values, in_scale, depth, out_pixels, options.rounding)
        progress(height, height)
        return filtered, out_pixels, depth, 0
    rows = options.strip_rows or _auto_strip_rows(shape, strips)

    def filter_strip(start: int) -> tuple[PictureResult, np.ndarray]:
        stop = min(height, start + rows)
        first, last = strips.rows_needed(start, stop)
        strip = filter_rows(pixels[first:last], strips=strips, rows_from=first)
        return strip, strip.values[:, start - strip.first_row : stop - strip.first_row]

    def write_strip(start: int) -> None:
        values = filter_strip(start)[1]
        _to_output_pixels(
            values, in_scale, depth, out_pixels[start : start + rows], options.rounding
        )

    # The first strip tells the output's channels and depth; the others then run on
    # every core, each writing its own rows of the output.
    filtered, values = filter_strip(0)
    depth = output_depth(filtered)
    out_pixels = _output_array(height, width, values.shape[0], depth, format_name)
    _to_output_pixels(values, in_scale, depth, out_pixels[:rows], options.rounding)
    progress(min(rows, height), height)
    starts = range(rows, height, rows)
    strip_results = ordered_map(write_strip, starts, options.threads or cpu_count())
    for start, _ in zip(starts, strip_results, strict=True):
        progress(min(start + rows, height), height)
    return filtered, out_pixels, depth, 1 + len(starts)


# --------------------------------------------------------------------------------------------
# One file of a batch
# --------------------------------------------------------------------------------------------

#: What came of one file: (status, error, note, notes, seconds) for :class:`BatchItem`.
Outcome = tuple[str, str | None, str | None, list[str], float]


def _error_text(error: BaseException) -> str:
    """One line for a file's failure."""
    if isinstance(error, OSError) and not isinstance(error, ConvcliError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}"
    if isinstance(error, MemoryError):
        return "out of memory (try --max-pixels or fewer --jobs)"
    if isinstance(error, ConvcliError):  # one line by rule: a line break is a file name's,
        return str(error) or type(error).__name__  # kept exact (the report's input has it)
    return " ".join(str(error).split()) or type(error).__name__


def process_file(source: str, output: str, steps: Sequence[Step], options: ApplyOptions) -> Outcome:
    """What came of one file (its failures are caught and told, not raised).

    Parameters
    ----------
    source : str
        The input: a path or an fsspec URL.
    output : str
        The output named by the batch's plan (a path or a URL).
    steps : sequence of KernelStep or PoolStep
        The prepared steps.
    options : ApplyOptions
        Everything but the input, the output and the steps.

    An output that exists by now (another run wrote it since the batch was planned) is
    skipped, as it would have been had it existed then. Interrupted (a signal) goes
    through: the write is abandoned, its temporary file removed.
    """
    started = time.perf_counter()
    if not storage.is_url(source) and os.path.islink(source) and not os.path.exists(source):
        try:
            to = f" (to '{os.readlink(source)}')"
        except OSError:
            to = ""
        error = f"{source}: broken symbolic link{to}"
        return "failed", error, None, [], time.perf_counter() - started
    try:
        result = process_one(source, output, steps, options)
    except OutputExistsError:
        return "skipped", None, "output exists", [], time.perf_counter() - started
    except (ConvcliError, OSError, ValueError, MemoryError) as error:
        return "failed", _error_text(error), None, [], time.perf_counter() - started
    # A file's own warnings (a pool's floor dropping its last row) go with its notes; the
    # chain's are said once by the caller (pipeline.chain_warnings).
    told = [*result.notes, *(line for report in result.reports for line in report.warnings)]
    return "done", None, None, told, time.perf_counter() - started
