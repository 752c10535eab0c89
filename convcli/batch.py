"""One input through the steps to one output: :func:`process_one`, the unit of work of
``convcli apply``; and many files: :func:`find_inputs`, :func:`plan_batch`, :func:`run_batch`.

:func:`process_one` reads the input (image, ``.npy``/``.csv``/``.txt`` matrix, ``--matrix``
values or stdin), runs the steps (:mod:`convcli.pipeline`; big images strip by strip), maps
the result back and writes it atomically (:mod:`convcli.imageio`), or returns a matrix
result for printing. A batch names every output first (refusing collisions before any
work), then calls :func:`process_one` once per file on worker processes. Nothing here
prints: remarks come back in the results, failures as :class:`ConvcliError`, progress
through callbacks.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from convcli import _signals, imageio
from convcli._threads import cpu_count, ordered_map, set_thread_share
from convcli.errors import ConvcliError, OutputExistsError, SpecError
from convcli.kernels import KernelStep, PoolStep
from convcli.peers import round_pixels
from convcli.pipeline import (
    PictureResult,
    StepOptions,
    StepReport,
    StripPlan,
    filter_picture,
    plan_picture_strips,
    prepare_steps,
    resolve_map,
    run_steps,
)

__all__ = [
    "DEFAULT_NAME",
    "NAME_FIELDS",
    "STATUSES",
    "ApplyOptions",
    "ApplyResult",
    "BatchInput",
    "BatchItem",
    "BatchReport",
    "MatrixInput",
    "find_inputs",
    "plan_batch",
    "process_one",
    "run_batch",
    "steps_slug",
]

Step = KernelStep | PoolStep

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
    """A matrix as read -> (C, H, W) float32."""
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
    max_pixels = imageio.DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels
    if isinstance(source, MatrixInput):
        return source.name, source.values, source.values.ndim
    name = str(source)
    if name == "-":
        data = sys.stdin.buffer.read()
        piped = imageio.load_piped(data, max_pixels=max_pixels)
        if isinstance(piped, imageio.Picture):
            return "stdin", piped, 0
        return imageio.piped_name(data), piped, piped.ndim
    if imageio.is_matrix_path(name):
        values = imageio.load_matrix(name)
        return name, values, values.ndim
    return name, imageio.load_image(name, max_pixels=max_pixels), 0


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
        raise SpecError(
            f"cannot tell the output format from '{output}'; give a known suffix or --to FORMAT"
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


def _output_array(height: int, width: int, channels: int, depth: str) -> np.ndarray:
    """An empty output image: (H, W) for one channel, else (H, W, C)."""
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.empty(shape, _OUTPUT_DTYPES[depth])


def _to_output_pixels(
    values: np.ndarray,
    in_scale: float,
    depth: str,
    out: np.ndarray | None = None,
    rounding: str = "half-up",
) -> np.ndarray:
    """(C, H, W) float in the input's units -> (H, W[, C]) array of the output depth.

    ``values`` is overwritten (it is the pipeline's own result): three passes over the
    image and no image-sized temporary besides the output, which is ``out`` if given
    (rows of a larger output, see :func:`_output_array`).
    """
    channels, height, width = values.shape
    if out is None:
        out = _output_array(height, width, channels, depth)
    target = out[:, :, None] if out.ndim == 2 else out
    if depth != "float":
        out_scale = imageio.FULL_SCALE[depth]
        if out_scale != in_scale:
            values *= np.float32(out_scale / in_scale)
        np.clip(values, 0, out_scale, out=values)
        # Round half up (as Pillow does): mid-grey 127.5 -> 128, and offset maps -15 to 113;
        # the cast below truncates, which for these non-negative values is the floor.
        # --like peers round their own way (round_pixels).
        round_pixels(values, rounding, out_scale)
    # Channel by channel: ~2.5x faster than one copy through np.moveaxis (1080p RGB:
    # 2.4 ms against 6.3 ms), whose inner loop strides over the float planes.
    for channel in range(channels):
        np.copyto(target[:, :, channel], values[channel], casting="unsafe")
    return out


def _chw_float32(pixels: np.ndarray) -> np.ndarray:
    """(H, W[, C]) pixels -> (C, H, W) float32, contiguous (a new array)."""
    x = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
    return np.ascontiguousarray(x, dtype=np.float32)


#: Elements of a strip's float32 array (8 MB): strips of a 4K RGB image are then ~180
#: rows, which measured fastest with two strips at a time on two cores (~80 ms for a
#: Sobel-x, against ~110 ms one strip at a time and ~150 ms for the whole image at once).
STRIP_ELEMENTS = 1 << 21


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
    output_text = None if output is None else str(output)
    if output_text is not None and output_text != "-":
        inputs = [*protected]
        if not isinstance(source, MatrixInput) and str(source) != "-":
            inputs.append(source)
        imageio.check_output_path(output_text, inputs, force=options.force)
    prepared = prepare_steps(steps, options.steps)
    name, loaded, rank = _read_input(source, options)
    _check_chain_of(name, loaded, steps, options)
    timings = {"read": time.perf_counter() - started}
    if isinstance(loaded, imageio.Picture):
        result = _process_picture(name, loaded, output_text, prepared, options, timings)
    else:
        result = _process_matrix(name, loaded, rank, output_text, prepared, options, timings)
    result.seconds = time.perf_counter() - started
    result.timings = timings
    return result


def _check_chain_of(
    name: str, loaded: imageio.Picture | np.ndarray, steps: Sequence[Step], options: ApplyOptions
) -> None:
    """Walk the chain on paper for this input's size before any filtering, so a step whose
    output or memory would pass --max-pixels is refused for every input of a batch (and
    stdin), not only for a single named file."""
    from convcli.limits import check_chain

    max_pixels = imageio.DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels
    if not max_pixels:
        return
    if isinstance(loaded, imageio.Picture):
        pixels = loaded.pixels
        depth = 1 if pixels.ndim == 2 else pixels.shape[2]
        shape, image = (depth, pixels.shape[0], pixels.shape[1]), True
    else:
        shape = loaded.shape if loaded.ndim == 3 else (1, *loaded.shape[-2:])
        image = False
    try:
        check_chain(tuple(shape), steps, options.steps, image=image, max_pixels=max_pixels)
    except ConvcliError as error:
        raise ConvcliError(f"{name}: {error}") from None


def _process_matrix(
    name: str,
    raw: np.ndarray,
    rank: int,
    output: str | None,
    steps: Sequence[Step],
    options: ApplyOptions,
    timings: dict[str, float],
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
    values, reports = run_steps(x, steps, options.steps, image=False)
    shown = _matrix_output_array(values, rank, channels_last)
    timings["filter"] = time.perf_counter() - started
    started = time.perf_counter()
    result = ApplyResult(
        name, None, "matrix", tuple(x.shape), tuple(values.shape), reports=reports, notes=notes
    )
    if output is None:
        result.values = shown
        return result
    format_name = (options.to or "").upper() or (
        "TXT" if output == "-" else imageio.format_for_path(output) or ""
    )
    if format_name == "NPY":
        imageio.save_npy(output, shown, force=options.force)
    elif format_name in ("CSV", "TXT"):
        imageio.save_matrix_text(output, shown, csv=format_name == "CSV", force=options.force)
    else:
        shown_format = format_name or Path(output).suffix or output
        raise SpecError(f"a matrix result is written as .npy, .csv or .txt, not {shown_format}")
    result.output = output
    result.output_description = f"{format_name}, shape {'x'.join(map(str, shown.shape))}"
    timings["write"] = time.perf_counter() - started
    return result


def _process_picture(
    name: str,
    picture: imageio.Picture,
    output: str | None,
    steps: Sequence[Step],
    options: ApplyOptions,
    timings: dict[str, float],
) -> ApplyResult:
    started = time.perf_counter()
    notes = list(picture.notes)
    if output is None:
        raise SpecError(
            f"{name} is an image: give -o FILE for the result (or -o - --to png for stdout)"
        )
    format_name = _output_format(output, options, picture.format)
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
    pixels = picture.pixels
    shape = (1 if pixels.ndim == 2 else pixels.shape[2], *pixels.shape[:2])
    plan = None
    if options.strip_rows != 0:
        plan = plan_picture_strips(
            shape, picture.channels, steps, options.steps, map_mode=map_mode, gray=options.gray
        )

    def output_depth(filtered: PictureResult) -> str:
        """Decided from the first result (its channels), checked against the format."""
        channels = filtered.values.shape[0]
        if filtered.channels in ("LA", "RGBA") and format_name in imageio.NO_ALPHA_FORMATS:
            raise ConvcliError(
                f"{format_name} has no alpha channel and the result is {filtered.channels}; "
                "write PNG, TIFF or WebP"
            )
        if float_output:
            return "float"
        return _integer_depth(format_name, options, picture.depth, channels, notes)

    def filter_rows(rows: np.ndarray, **strip: Any) -> PictureResult:
        """The chain on ``rows`` of the input (all of it, or one strip's with ``strip``)."""
        return filter_picture(
            _chw_float32(rows),
            picture.channels,
            in_scale,
            steps,
            options.steps,
            map_mode=map_mode,
            gray=options.gray,
            linear=options.linear,
            **strip,
        )

    strip_count = 0
    if plan is None:
        filtered = filter_rows(pixels)
        depth = output_depth(filtered)
        out_pixels = _to_output_pixels(filtered.values, in_scale, depth, rounding=options.rounding)
    else:
        height, width = shape[1:]
        rows = options.strip_rows or _auto_strip_rows(shape, plan)

        def filter_strip(start: int) -> tuple[PictureResult, np.ndarray]:
            stop = min(height, start + rows)
            first, last = plan.rows_needed(start, stop)
            strip = filter_rows(pixels[first:last], strips=plan, rows_from=first)
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
        out_pixels = _output_array(height, width, values.shape[0], depth)
        _to_output_pixels(values, in_scale, depth, out_pixels[:rows], options.rounding)
        starts = range(rows, height, rows)
        for _ in ordered_map(write_strip, starts, options.threads or cpu_count()):
            pass
        strip_count = 1 + len(starts)
    notes.extend(filtered.notes)
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
        format=format_name,
        force=options.force,
        quality=options.quality,
        png_compression=options.png_compression,
        icc_profile=icc_profile,
        dpi=picture.dpi,
        threads=options.threads,
    )
    timings["write"] = time.perf_counter() - started
    description = f"{format_name}, {_DEPTH_NAMES[depth]} {channels_name}"
    return ApplyResult(
        input=name,
        output=output,
        kind="image",
        in_shape=shape,
        out_shape=out_shape,
        reports=reports,
        map_reason=map_reason,
        output_description=description,
        notes=notes,
        strips=strip_count,
    )


# --------------------------------------------------------------------------------------------
# Many files
# --------------------------------------------------------------------------------------------

#: ``--name`` default: ``{dir}`` is empty except under a folder given with ``--recursive``,
#: where it keeps the sub-folders (so photos/a/x.png and photos/b/x.png do not collide).
DEFAULT_NAME = "{dir}{stem}-{step}.{ext}"

#: The fields ``--name`` may use.
NAME_FIELDS: tuple[str, ...] = ("stem", "ext", "step", "parent", "dir")

#: A batch item's status: not yet run, written, skipped (output exists), failed, or not
#: run because the batch stopped (``--fail-fast``, Ctrl-C).
STATUSES: tuple[str, ...] = ("pending", "done", "skipped", "failed", "cancelled")

# File extension for an output format given with --to (what people name such files).
_EXTENSIONS = {"JPEG": "jpg", "TIFF": "tif"}

_SLUG_LENGTH = 60


@dataclass
class BatchInput:
    """An input file of a batch, and the sub-folder it was found in.

    Attributes
    ----------
    path : str
    folder : str
        ``"a/b/"`` for a file found in ``a/b`` under a folder given with ``--recursive``,
        ``""`` otherwise (the ``{dir}`` of ``--name``).
    """

    path: str
    folder: str = ""


@dataclass
class BatchItem:
    """One file of a batch: where it goes and what came of it.

    Attributes
    ----------
    input, output : str
    status : str
        One of :data:`STATUSES`.
    error : str or None
        Why it failed, one line.
    note : str or None
        Why it was skipped (``"output exists"``: when the batch was planned, or written
        meanwhile by another run), or ``"finished as the batch stopped"``.
    notes : list of str
        :attr:`ApplyResult.notes` of a file done.
    seconds : float
        Time spent on it (in its worker).
    """

    input: str
    output: str
    status: str = "pending"
    error: str | None = None
    note: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BatchReport:
    """A finished (or stopped) batch.

    Attributes
    ----------
    items : list of BatchItem
        In input order.
    seconds : float
        Wall time of :func:`run_batch`.
    jobs : int
        Worker processes used (1: in this process).
    interrupted : bool
        Ctrl-C (SIGINT) or SIGTERM stopped it.
    signal : int or None
        Which signal stopped it (the CLI exits with 128 + it: 130, 143).
    stopped : bool
        ``fail_fast`` stopped it at a failure.
    """

    items: list[BatchItem]
    seconds: float = 0.0
    jobs: int = 1
    interrupted: bool = False
    signal: int | None = None
    stopped: bool = False

    def count(self, status: str) -> int:
        """How many items have ``status``."""
        return sum(item.status == status for item in self.items)


def find_inputs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    recursive: bool = False,
    exclude: str | os.PathLike[str] | None = None,
) -> list[BatchInput]:
    """The files a batch works on: files as given, folders' images in name order.

    Parameters
    ----------
    paths : sequence of paths
        Files (taken whatever their suffix, missing ones too: they fail as files do) and
        folders (their images, by suffix; hidden files skipped).
    recursive : bool
        Descend into sub-folders (hidden ones and symbolic links to folders are skipped).
    exclude : path, optional
        A folder never descended into (the output folder, so a second run does not read
        the first run's outputs).

    Returns
    -------
    list of BatchInput
        Each file once (the first mention wins).
    """
    suffixes = imageio.image_suffixes()
    excluded = os.path.realpath(exclude) if exclude is not None else None
    found: list[BatchInput] = []
    seen: set[str] = set()

    def add(path: str, folder: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.append(BatchInput(path, folder))

    def wanted(name: str) -> bool:
        return not name.startswith(".") and Path(name).suffix.lower() in suffixes

    def is_file(path: str) -> bool:
        # A broken symbolic link is taken, and fails as a missing file does (it is not
        # dropped silently); folders, pipes and devices are not.
        return os.path.isfile(path) or (os.path.islink(path) and not os.path.exists(path))

    for given in map(str, paths):
        if not os.path.isdir(given):
            add(given, "")
            continue
        if not recursive:
            for entry in sorted(os.scandir(given), key=lambda e: e.name):
                if wanted(entry.name) and is_file(entry.path):
                    add(entry.path, "")
            continue
        for root, folders, files in os.walk(given):
            folders[:] = sorted(
                name
                for name in folders
                if not name.startswith(".")
                and os.path.realpath(os.path.join(root, name)) != excluded
            )
            relative = os.path.relpath(root, given)
            folder = "" if relative == "." else Path(relative).as_posix() + "/"
            for name in sorted(files):
                if wanted(name) and is_file(os.path.join(root, name)):
                    add(os.path.join(root, name), folder)
    return found


def steps_slug(steps: Sequence[Step]) -> str:
    """The ``{step}`` of ``--name``: the steps' slugs joined by ``_``, at most 60 characters.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> steps_slug([parse_step("gaussian:1.5"), parse_step("sobel")])
    'gaussian-1.5_sobel'
    """
    import hashlib

    slug = "_".join(step.slug for step in steps) or "identity"
    if len(slug) <= _SLUG_LENGTH:
        return slug
    digest = hashlib.sha1(slug.encode()).hexdigest()[:8]
    return f"{slug[: _SLUG_LENGTH - 9]}-{digest}"


def _check_name(template: str) -> None:
    import string

    try:
        fields = [
            field for _, field, _, _ in string.Formatter().parse(template) if field is not None
        ]
    except ValueError as error:
        raise SpecError(f"--name {template!r}: {error}") from None
    for name in fields:
        if name not in NAME_FIELDS:
            known = ", ".join("{" + known + "}" for known in NAME_FIELDS)
            shown = "{" + name + "}" if name else "{}"
            raise SpecError(f"--name {template!r}: unknown field {shown}; use {known}")


def _output_name(template: str, source: BatchInput, slug: str, options: ApplyOptions) -> str:
    path = Path(source.path)
    if options.to:
        ext = _EXTENSIONS.get(options.to, options.to.lower())
    elif path.suffix:
        ext = path.suffix[1:]
    else:
        raise SpecError(f"'{source.path}' has no suffix to name its output by; give --to FORMAT")
    fields = {
        "stem": path.stem,
        "ext": ext,
        "step": slug,
        "parent": path.absolute().parent.name,
        "dir": source.folder,
    }
    try:
        name = template.format(**fields)
    except (ValueError, IndexError, KeyError) as error:
        raise SpecError(f"--name {template!r}: {error}") from None
    relative = Path(name)
    if not name or name.endswith("/") or relative.is_absolute() or ".." in relative.parts:
        raise SpecError(
            f"--name {template!r} gives {name!r} for '{source.path}'; it must name a file "
            "inside the output folder"
        )
    return name


def plan_batch(
    inputs: Sequence[BatchInput],
    out_dir: str | os.PathLike[str],
    steps: Sequence[Step],
    options: ApplyOptions = ApplyOptions(),
    *,
    name: str = DEFAULT_NAME,
) -> list[BatchItem]:
    """Name every output, before any work: refuse collisions, skip existing outputs.

    Parameters
    ----------
    inputs : sequence of BatchInput
        From :func:`find_inputs`.
    out_dir : path
        The output folder (created by :func:`run_batch`).
    steps : sequence of KernelStep or PoolStep
        For ``{step}``.
    options : ApplyOptions
        ``to`` sets ``{ext}``; without ``force`` an existing output is skipped.
    name : str
        The ``--name`` template; fields :data:`NAME_FIELDS`.

    Returns
    -------
    list of BatchItem
        ``pending``, or ``skipped`` (with a note) when the output exists.

    Raises
    ------
    SpecError
        An unknown field or a name outside the folder; two inputs that would write the
        same output; an output that is one of the inputs.
    """
    _check_name(name)
    slug = steps_slug(steps)
    items: list[BatchItem] = []
    writers: dict[str, str] = {}
    input_files = {os.path.realpath(source.path): source.path for source in inputs}
    root = os.path.realpath(out_dir)
    for source in inputs:
        relative = _output_name(name, source, slug, options)
        output = os.path.join(out_dir, relative)
        _check_inside(out_dir, root, relative, name, source.path)
        key = os.path.normcase(os.path.abspath(output))
        if key in writers:
            raise SpecError(
                f"'{writers[key]}' and '{source.path}' would both write '{output}'; "
                "put {parent} or {dir} (with --recursive) in --name"
            )
        writers[key] = source.path
        overwritten = input_files.get(os.path.realpath(output))
        if overwritten is not None:
            raise SpecError(
                f"the output of '{source.path}' would be '{output}', an input; "
                "convcli never overwrites an input"
            )
        item = BatchItem(source.path, output)
        if os.path.lexists(output) and not options.force:
            item.status, item.note = "skipped", "output exists"
        items.append(item)
    return items


def _check_inside(
    out_dir: str | os.PathLike[str], root: str, relative: str, template: str, source: str
) -> None:
    """Refuse an output whose folder leads out of the output folder through a symbolic link
    (``--name "sub/{stem}.{ext}"`` with ``OUT/sub`` linking elsewhere). The output file
    itself may be a link: the rename replaces the link, never what it points to."""
    folder = os.path.dirname(relative)
    if not folder:
        return
    where = os.path.realpath(os.path.join(out_dir, folder))
    if where == root or where.startswith(root.rstrip(os.sep) + os.sep):
        return
    link = Path(out_dir)
    for part in Path(folder).parts:
        link = link / part
        if link.is_symlink():
            break
    raise SpecError(
        f"--name {template!r} gives {relative!r} for '{source}', and '{link}' is a symbolic "
        f"link out of the output folder (to '{where}'); convcli writes inside -O only"
    )


# --------------------------------------------------------------------------------------------
# Running a batch: in this process (-j 1) or on worker processes
# --------------------------------------------------------------------------------------------

#: What came of one file: (status, error, note, notes, seconds) for :class:`BatchItem`.
Outcome = tuple[str, str | None, str | None, list[str], float]

#: Seconds a worker has, after SIGTERM, to abandon its file before it is killed (a worker
#: stops between two NumPy calls: a strip of rows, a block of a PNG; milliseconds).
STOP_GRACE = 5.0


def _error_text(error: BaseException) -> str:
    """One line for a file's failure."""
    if isinstance(error, OSError) and not isinstance(error, ConvcliError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}"
    if isinstance(error, MemoryError):
        return "out of memory (try --max-pixels or fewer --jobs)"
    return " ".join(str(error).split()) or type(error).__name__


def _process_file(
    source: str, output: str, steps: Sequence[Step], options: ApplyOptions
) -> Outcome:
    """What came of one file (its failures are caught and told, not raised).

    An output that exists by now (another run wrote it since the batch was planned) is
    skipped, as it would have been had it existed then. Interrupted (a signal) goes
    through: the write is abandoned, its temporary file removed.
    """
    started = time.perf_counter()
    if os.path.islink(source) and not os.path.exists(source):
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
    return "done", None, None, result.notes, time.perf_counter() - started


def _written_since(path: str, since: float) -> bool:
    try:
        return os.stat(path).st_mtime >= since - 0.1  # file times lag the clock a little
    except OSError:
        return False


def run_batch(
    items: Sequence[BatchItem],
    steps: Sequence[Step],
    options: ApplyOptions = ApplyOptions(),
    *,
    jobs: int | None = None,
    fail_fast: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_result: Callable[[BatchItem], None] | None = None,
) -> BatchReport:
    """Run :func:`process_one` on every pending item, on ``jobs`` worker processes.

    Parameters
    ----------
    items : sequence of BatchItem
        From :func:`plan_batch`; updated in place.
    steps, options
        As for :func:`process_one` (``options.threads``, if None, becomes each worker's
        share of the cores).
    jobs : int, optional
        Worker processes (default: one per core); 1 runs in this process.
    fail_fast : bool
        Stop at the first failure: queued files are not started, running ones finish.
    on_start : callable (files to run, jobs), optional
        Called once the workers are up (before: a progress bar's thread must not exist
        when the workers are forked).
    on_result : callable (BatchItem), optional
        Called in this process as each file is done, skipped (its output appeared since
        the plan) or failed, in completion order.

    Returns
    -------
    BatchReport

    Notes
    -----
    Results do not depend on ``jobs``: each file is processed alone, in the same way.

    Signals (in the main thread; see :mod:`convcli._signals`): SIGINT or SIGTERM stops the
    batch. Queued files never start; each worker abandons its file (its temporary file
    removed) and leaves; files that finished meanwhile keep their result; the report has
    ``interrupted`` and ``signal`` set and the unfinished files ``cancelled``. Every output
    is then either complete or absent. Workers ignore SIGINT (Ctrl-C reaches the whole
    process group; this process decides) and receive SIGTERM when this process dies, even
    by SIGKILL (Linux; elsewhere they leave after their current file).
    """
    started, started_at = time.perf_counter(), time.time()
    todo = [item for item in items if item.status == "pending"]
    jobs = max(1, min(jobs or cpu_count(), len(todo) or 1))
    report = BatchReport(list(items), jobs=jobs)
    if options.threads is None:
        options = replace(options, threads=max(1, cpu_count() // jobs))
    for folder in sorted({os.path.dirname(item.output) or "." for item in todo}):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            reason = (error.strerror or str(error)).lower()
            raise ConvcliError(f"cannot create output folder '{folder}': {reason}") from None

    def record(item: BatchItem, outcome: Outcome) -> bool:
        """Store a file's outcome and tell it; True when the batch must stop (fail-fast)."""
        item.status, item.error, item.note, item.notes, item.seconds = outcome
        if on_result is not None:
            on_result(item)
        return fail_fast and item.status == "failed"

    # Everything here is bookkeeping a signal must not cut, but the work of a file in
    # this process (-j 1); the pool's loop polls for a signal instead.
    with _signals.handled(), _signals.deferred():
        try:
            if jobs == 1:
                if on_start is not None:
                    on_start(len(todo), jobs)
                for item in todo:
                    with _signals.interruptible():
                        outcome = _process_file(item.input, item.output, steps, options)
                    if record(item, outcome):
                        report.stopped = True
                        break
            else:
                report.stopped = _run_in_workers(todo, steps, options, jobs, on_start, record)
        except _signals.Interrupted:
            pass
        signum = _signals.take()
        if signum is not None:
            report.interrupted, report.signal = True, signum
            _signals.remove_leftovers()
        for item in todo:
            if item.status == "pending":
                item.status = "cancelled"
                if _written_since(item.output, started_at):
                    # Published just before its worker was stopped (the rename is atomic,
                    # so the file is whole): the report says what is on disk.
                    item.status, item.note = "done", "finished as the batch stopped"
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------------------------
# The worker pool
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    """A worker process, the parent's end of its pipe, and the file it works on."""

    process: Any  # multiprocessing.Process
    connection: Any  # multiprocessing.connection.Connection
    item: BatchItem | None = None


def _worker_main(
    connection: Any,
    inherited: Sequence[Any],
    steps: Sequence[Step],
    options: ApplyOptions,
    parent: int,
) -> None:
    """A worker: files from the pipe, outcomes back, until None, EOF or SIGTERM.

    It leaves through ``os._exit``: no exit handlers (they could wait on a lock a thread
    of the parent held when it forked), and a SIGTERM has already cleaned up.
    """
    _signals.become_worker()
    code = 0
    try:
        for end in inherited:  # the parent's ends of the pipes, copied by fork: without
            end.close()  # them a pipe reads EOF when the parent dies
        _signals.die_with_parent(parent)
        set_thread_share(options.threads)
        while True:
            task = connection.recv()
            if task is None:
                break
            outcome = _process_file(task[0], task[1], steps, options)
            with _signals.deferred():
                connection.send(outcome)
    except _signals.Interrupted as stop:
        _signals.remove_leftovers()
        code = stop.exit_code
    except (EOFError, OSError):  # the parent went away
        code = 1
    os._exit(code)


def _start_worker(
    context: Any, steps: Sequence[Step], options: ApplyOptions, others: Sequence[_Worker]
) -> _Worker:
    parent_end, child_end = context.Pipe()
    # A forked child holds copies of every pipe end open here: it closes the parent's.
    inherited = [parent_end] + [w.connection for w in others]
    if context.get_start_method() != "fork":
        inherited = []
    process = context.Process(
        target=_worker_main,
        args=(child_end, inherited, steps, options, os.getpid()),
        name="convcli-worker",
        daemon=True,
    )
    process.start()
    child_end.close()
    return _Worker(process, parent_end)


def _remove_temporaries(item: BatchItem, pid: int) -> None:
    """Remove the temporary file a killed worker left for ``item`` (only its own: the
    process id is in the name, so another run's files are never touched)."""
    for leftover in imageio.temporaries_of(item.output, pid):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _death(process: Any) -> str:
    """Why a worker died, for its file's failure."""
    import signal

    code = process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        why = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"worker process killed by {name}{why}"
    if code is not None and code - 128 in _signals.SIGNALS:
        return f"worker process stopped by {signal.Signals(code - 128).name}"
    return f"worker process exited with code {code}"


def _run_in_workers(
    todo: Sequence[BatchItem],
    steps: Sequence[Step],
    options: ApplyOptions,
    jobs: int,
    on_start: Callable[[int, int], None] | None,
    record: Callable[[BatchItem, Outcome], bool],
) -> bool:
    """The worker pool of :func:`run_batch`; True when stopped by a failure (fail-fast).

    Runs with signals deferred: it polls for one (every 0.1 s at most) and then stops the
    workers, keeping the results of the files that finished meanwhile.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    # fork: workers start in milliseconds with everything imported. Nothing else runs in
    # this process yet (the progress bar starts in on_start, after the fork).
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    queue = deque(todo)
    workers: list[_Worker] = []
    stopped = False
    try:
        for _ in range(jobs):
            workers.append(_start_worker(context, steps, options, workers))
        if on_start is not None:
            on_start(len(todo), jobs)
        while not _signals.received():
            for worker in workers:
                if worker.item is None and queue and not stopped:
                    worker.item = queue.popleft()
                    with contextlib.suppress(OSError):  # a dead worker: seen below
                        worker.connection.send((worker.item.input, worker.item.output))
            if not any(worker.item for worker in workers):
                break
            waited = [w.connection for w in workers if w.item] + [
                w.process.sentinel for w in workers
            ]
            ready = set(wait(waited, timeout=0.1))
            if _signals.received():
                break
            for worker in list(workers):
                outcome = None
                if worker.item is not None and worker.connection in ready:
                    with contextlib.suppress(EOFError, OSError):
                        outcome = worker.connection.recv()
                if outcome is not None:
                    item, worker.item = worker.item, None
                    stopped = record(item, outcome) or stopped
                elif worker.process.sentinel in ready or not worker.process.is_alive():
                    workers.remove(worker)  # killed (out of memory...): its file fails
                    worker.process.join()
                    worker.connection.close()
                    if worker.item is not None:
                        _remove_temporaries(worker.item, worker.process.pid)
                        failure = ("failed", _death(worker.process), None, [], 0.0)
                        stopped = record(worker.item, failure) or stopped
                    if queue and not stopped and len(workers) < jobs:
                        workers.append(_start_worker(context, steps, options, workers))
    except BaseException:
        _stop_workers(workers, record)
        raise
    if _signals.received():
        _stop_workers(workers, record)
    else:
        _close_workers(workers, record)
    return stopped


def _close_workers(workers: list[_Worker], record: Callable[[BatchItem, Outcome], bool]) -> None:
    """The end of a batch: idle workers are told to leave."""
    for worker in workers:
        with contextlib.suppress(OSError):
            worker.connection.send(None)
    deadline = time.monotonic() + STOP_GRACE
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
    if any(worker.process.is_alive() for worker in workers):
        _stop_workers(workers, record)
    for worker in workers:
        worker.connection.close()


def _stop_workers(workers: list[_Worker], record: Callable[[BatchItem, Outcome], bool]) -> None:
    """Stop the workers now: SIGTERM (each abandons its file, removing its temporary file,
    and leaves), SIGKILL after :data:`STOP_GRACE` seconds (its temporary file is removed
    here). A file finished before the stop keeps its result."""
    from multiprocessing.connection import wait

    for worker in workers:
        with contextlib.suppress(OSError):
            worker.process.terminate()
    running = list(workers)
    deadline = time.monotonic() + STOP_GRACE
    while running:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait([worker.process.sentinel for worker in running], timeout=left)
        running = [worker for worker in running if worker.process.is_alive()]
    for worker in running:
        worker.process.kill()
    for worker in workers:
        worker.process.join()
        item = worker.item
        if item is not None:
            outcome = None
            with contextlib.suppress(EOFError, OSError):
                if worker.connection.poll(0):  # sent before the signal reached it
                    outcome = worker.connection.recv()
            if outcome is not None:
                record(item, outcome)
            elif worker in running:  # killed: it could not clean up
                _remove_temporaries(item, worker.process.pid)
        worker.item = None
        worker.connection.close()
