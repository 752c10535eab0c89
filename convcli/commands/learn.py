"""``convcli learn``: recover the kernel that maps INPUT to TARGET ("what filter was this?")."""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcli.commands import Border
from convcli.render import OutputFormat

if TYPE_CHECKING:
    import numpy as np

    from convcli.learn import KernelFit

EPILOG = """\
[bold]Examples[/]

  convcli learn "1 1 0 0 0 0 1 1; 1 1 0 0 0 0 1 1" "0 1 0 0 0 -1 0; 0 1 0 0 0 -1 0"
  [dim]# the seed's [1,-1] edge detector, found by least squares (size searched)[/]

  convcli learn in.npy out.npy --size 1x2 --method gd --epochs 10 --lr 0.03 --seed 0
  [dim]# the seed's gradient descent: loss every 2 epochs on stderr, then the report[/]

  convcli apply photo.png -k sharpen -o sharp.npy && convcli learn photo.png sharp.npy
  [dim]# float target: sharpen recovered to ~1e-6, same size so padding 'same'[/]

  convcli apply photo.png -k sobel-x --map offset -o gx.png
  convcli learn photo.png gx.png --size 3 --map offset --save sobel.txt
  [dim]# 8-bit target: 127.5 offset undone, saturated pixels left out; apply -k @sobel.txt[/]

INPUT and TARGET are image files, matrix files (.npy, .csv, .txt), '-' (stdin, one of
them) or inline matrices ("0 1; 2 3", channels split by |). A 3-D .npy next to an image is
read HxWxC, as apply writes it; put '--' before a matrix that starts with a minus. Least
squares is exact for a linear filter; a target that no linear kernel explains (a median
filter, --map abs) is an error with its residual.
"""

_KERNEL = "Kernel"
_TARGET = "Target"
_DESCENT = "Gradient descent"
_OUTPUT = "Output"

# An inline matrix: numbers and the separators of the -k / --matrix syntax, nothing else.
_INLINE_MATRIX = re.compile(r"^[\s\d.,;|eE+\-\[\]]+$")


class Method(str, Enum):
    """``--method``: least squares (exact) or the seed's gradient descent."""

    lstsq = "lstsq"
    gd = "gd"


class TargetMap(str, Enum):
    """``--map``: how apply brought TARGET to its pixel range (the invertible ones)."""

    auto = "auto"
    raw = "raw"
    clip = "clip"
    offset = "offset"


@dataclass
class Operand:
    """INPUT or TARGET as read: (C, H, W) values and what kind of thing they came from."""

    name: str
    values: Any  # ndarray (C, H, W), the file's own numbers (uint8/uint16/float)
    kind: str  # "image" or "matrix"
    full_scale: float | None = None  # 255, 65535 or 1.0 for images
    notes: list[str] = field(default_factory=list)


def learn(
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="What went into the filter: an image, a .npy/.csv/.txt matrix, '-', or "
            'an inline matrix ("0 1; 2 3").',
            show_default=False,
        ),
    ],
    target_path: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="What came out: the same forms as INPUT, as many channels.",
            show_default=False,
        ),
    ],
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            "-k",
            help="Kernel size: K (KxK), KHxKW (3x5, 1x2). Omitted: try 1, 1x2, 2x1, 3, 5, 7 "
            "and keep the smallest that fits.",
            show_default=False,
            rich_help_panel=_KERNEL,
        ),
    ] = None,
    padding: Annotated[
        str | None,
        typer.Option(
            "--padding",
            "-p",
            help="Padding the filter used: N, HxW, top,bottom,left,right, valid or same. "
            "Default: inferred from the sizes (valid when TARGET is smaller by k-1, 'same' "
            "when equal, the odd pixel after).",
            show_default=False,
            rich_help_panel=_KERNEL,
        ),
    ] = None,
    border: Annotated[
        Border | None,
        typer.Option(
            "--border",
            help="How the padding was filled: zeros, reflect (OpenCV REFLECT_101, scipy "
            "mirror), replicate, circular, symmetric (scipy reflect). Default: reflect for "
            "images, zeros for matrices; when only the edge pixels disagree, the other modes "
            "are tried.",
            show_default=False,
            rich_help_panel=_KERNEL,
        ),
    ] = None,
    bias: Annotated[
        bool,
        typer.Option(
            "--bias", help="Also fit a constant added to every output.", rich_help_panel=_KERNEL
        ),
    ] = False,
    per_channel: Annotated[
        bool,
        typer.Option(
            "--per-channel",
            help="One kernel per colour channel (default: one 2-D kernel shared by all).",
            rich_help_panel=_KERNEL,
        ),
    ] = False,
    map_mode: Annotated[
        TargetMap,
        typer.Option(
            "--map",
            help="How `apply --map` brought an 8/16-bit TARGET to its range. clip: pixels at "
            "0 or full scale are cut, so they are left out of the fit; offset: also subtract "
            "the mid-grey offset (127.5 in 8 bits); raw: use every pixel as it is; auto: clip "
            "for 8/16-bit image targets, raw otherwise. (abs and minmax lose information.)",
            rich_help_panel=_TARGET,
        ),
    ] = TargetMap.auto,
    gray: Annotated[
        bool,
        typer.Option(
            "--gray",
            help="Convert colour images to BT.601 luma first (as `apply --gray` does).",
            rich_help_panel=_TARGET,
        ),
    ] = False,
    channels_last: Annotated[
        bool,
        typer.Option(
            "--channels-last",
            help="Read 3-D .npy matrices as HxWxC (default: CxHxW, or HxWxC next to an image).",
            rich_help_panel=_TARGET,
        ),
    ] = False,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tol",
            help="Largest |error| still counted as a fit, in TARGET's units. Default: 1 "
            "level for 8/16-bit targets (rounding), 1e-5 of the largest |value| for floats.",
            show_default=False,
            rich_help_panel=_TARGET,
        ),
    ] = None,
    method: Annotated[
        Method,
        typer.Option(
            "--method",
            help="lstsq: linear least squares (exact for a linear filter); gd: the seed's "
            "gradient descent on the squared error.",
            rich_help_panel=_DESCENT,
        ),
    ] = Method.lstsq,
    epochs: Annotated[
        int,
        typer.Option(
            "--epochs",
            min=0,
            max=100_000,
            help="gd: passes over all target pixels.",
            rich_help_panel=_DESCENT,
        ),
    ] = 10,
    lr: Annotated[
        float,
        typer.Option("--lr", help="gd: learning rate.", rich_help_panel=_DESCENT),
    ] = 0.03,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            min=0,
            max=2**63 - 1,
            help="gd: seeds the initial kernel and the pixel order.",
            rich_help_panel=_DESCENT,
        ),
    ] = 0,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            help="gd: pixels per step; 1 is per-pixel SGD (an epoch = one pass of per-pixel "
            "steps), the pixel count is one full-batch step per epoch.",
            rich_help_panel=_DESCENT,
        ),
    ] = 1,
    save: Annotated[
        str | None,
        typer.Option(
            "--save",
            help="Write the kernel: .txt (the -k syntax, read back by `apply -k @FILE`), "
            ".csv, or .npy (a per-channel set as a (C,C,kh,kw) layer).",
            show_default=False,
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing --save file.", rich_help_panel=_OUTPUT),
    ] = False,
    allow_misfit: Annotated[
        bool,
        typer.Option(
            "--allow-misfit",
            help="Print the best kernel even when it does not fit (exit 0), instead of failing.",
            rich_help_panel=_OUTPUT,
        ),
    ] = False,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="table (default on a terminal), plain (default otherwise), json or csv.",
            show_default=False,
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No loss lines, notes or progress on stderr.",
            rich_help_panel=_OUTPUT,
        ),
    ] = False,
) -> None:
    """Recover the kernel (and bias) mapping INPUT to TARGET: "what filter was this?"

    Solves for the kernel by linear least squares over every pixel and channel, then
    reports it rounded to the digits the data support, the residual (RMSE and max error
    in TARGET's units) and how well-conditioned the problem was. Kernels are
    cross-correlation kernels, as `apply` uses them.
    """
    from convcli.errors import ConvcliError, SpecError
    from convcli.learn import NoFitError, learn_kernel, parse_kernel_size
    from convcli.limits import MAX_DESCENT_STEPS, MAX_VALUE
    from convcli.render import learn as render
    from convcli.render import note

    kernel_size = parse_kernel_size(size) if size is not None else None
    padding_spec = _parse_padding(padding) if padding is not None else None
    if method is Method.gd and kernel_size is None:
        raise SpecError("--method gd needs --size: the size search uses least squares")
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):
        raise SpecError(f"--tol must be a finite number > 0, got {tolerance:g}")
    if method is Method.gd and not (math.isfinite(lr) and 0 < lr <= MAX_VALUE):
        raise SpecError(f"--lr must be a finite number > 0, got {lr:g}")
    save_path = None if save is None else Path(save)  # (a str: Typer's Path stats it first)
    if save_path is not None:
        _check_save_path(save_path, per_channel, force, [input_path, target_path])

    source, target = _read_pair(input_path, target_path, channels_last)
    prepared = _prepare_target(source, target, map_mode, tolerance)
    if method is Method.gd:
        steps = epochs * int(prepared.mask.sum())
        if steps > MAX_DESCENT_STEPS:
            raise SpecError(
                f"--epochs {epochs} over {int(prepared.mask.sum()):,} target pixels is "
                f"{steps:,} descent steps, more than {MAX_DESCENT_STEPS:,}; use fewer epochs "
                "(or least squares, which is exact)"
            )
    if gray:
        source.values = _luma(source.values)
        if prepared.values.shape[0] == 3:
            _gray_target(prepared)
    borders = _border_order(border, source)
    notes = source.notes + target.notes + prepared.notes
    if not quiet:
        for line in notes:
            note(f"note: {line}")

    gd_options: dict[str, Any] = {}
    progress = None
    if method is Method.gd:
        progress = render.DescentProgress(epochs, quiet=quiet)
        gd_options = {
            "epochs": epochs,
            "lr": lr,
            "seed": seed,
            "batch_size": batch_size,
            "on_epoch": progress.epoch,
            "on_steps": progress.steps,
        }
    try:
        if progress is not None:
            progress.start(int(prepared.mask.sum()))
        fit = learn_kernel(
            source.values,
            prepared.values,
            kernel_size,
            method=method.value,
            padding=padding_spec,
            border=borders,
            bias=bias,
            per_channel=per_channel,
            mask=prepared.mask,
            tolerance=prepared.tolerance,
            require_fit=not allow_misfit,
            **gd_options,
        )
    except NoFitError as error:
        if prepared.map_mode == "clip" and prepared.units.endswith("levels"):
            raise ConvcliError(
                f"{error}; if TARGET came from `apply` with --map abs (its default for edge "
                "kernels such as sobel-x) the sign is lost: write .npy, or use --map offset "
                "in apply and here"
            ) from None
        raise
    finally:
        if progress is not None:
            progress.stop()
    report = {
        "units": prepared.units,
        "excluded_reason": prepared.excluded_reason,
        "map_mode": prepared.map_mode,
    }
    saved = None
    if save_path is not None:
        saved = _save_kernel(fit, save_path, force, render.fact_lines(fit, **report))
    chosen = output_format or (OutputFormat.table if sys.stdout.isatty() else OutputFormat.plain)
    render.render_fit(fit, chosen, saved=saved, **report)


# --------------------------------------------------------------------------------------------
# Reading INPUT and TARGET
# --------------------------------------------------------------------------------------------


def _parse_padding(text: str):  # -> PaddingSpec
    from convcli.layers import parse_padding
    from convcli.limits import check_padding, reading, shorten

    with reading(f"--padding {shorten(text)!r}"):
        padding = parse_padding(text, "--")
        check_padding(padding, "--")
    return padding


def _read_pair(input_word: str, target_word: str, channels_last: bool) -> tuple[Operand, Operand]:
    from convcli.errors import SpecError

    if input_word == "-" and target_word == "-":
        raise SpecError("INPUT and TARGET cannot both be '-' (stdin holds one file)")
    source = _read_operand(input_word, "INPUT")
    target = _read_operand(target_word, "TARGET")
    for operand in (source, target):
        if operand.kind == "image":  # H x W (x C) -> C x H x W
            pixels = operand.values
            operand.values = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    # apply writes a 3-D .npy from an image as HxWxC: read it so next to an image.
    image_channels = {op.values.shape[0] for op in (source, target) if op.kind == "image"}
    for operand in (source, target):
        if operand.kind == "matrix":
            operand.values = _matrix_to_chw(operand, channels_last, image_channels)
    return source, target


def _read_operand(word: str, role: str) -> Operand:
    """One positional word -> Operand: a file, stdin, or an inline matrix."""
    from convcli import imageio
    from convcli.errors import ConvcliError
    from convcli.limits import read_stream, shorten

    if word == "-":
        limit = imageio.image_byte_limit(imageio.DEFAULT_MAX_PIXELS)
        data = read_stream(sys.stdin.buffer, "stdin", limit, "piped input")
        piped = imageio.load_piped(data)
        if isinstance(piped, imageio.Picture):
            return _image_operand(piped, "stdin")
        return Operand("stdin", piped, "matrix")
    exists = os.path.lexists(word)  # never raises (a NUL byte, a name too long)
    if not exists and _INLINE_MATRIX.match(word) and any(ch.isdigit() for ch in word):
        try:
            return Operand(role, imageio.parse_matrix(word, role), "matrix")
        except ConvcliError as error:
            raise ConvcliError(
                f"{role} {shorten(word)!r}: not a file, and not a matrix ({error})"
            ) from None
    if not exists:
        raise ConvcliError(
            f"{role} '{shorten(word)}': no such file (nor an inline matrix like \"0 1; 2 3\")"
        )
    if imageio.is_matrix_path(word):
        return Operand(word, imageio.load_matrix(word), "matrix")
    return _image_operand(imageio.load_image(word), word)


def _image_operand(picture, name: str) -> Operand:  # picture: imageio.Picture
    from convcli.imageio import FULL_SCALE

    pixels = picture.pixels
    notes = list(picture.notes)
    if picture.has_alpha:
        pixels = pixels[..., :-1]
        if pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        notes.append(f"{name}: alpha channel ignored (the fit uses the colour channels)")
    return Operand(name, pixels, "image", FULL_SCALE[picture.depth], notes)


def _matrix_to_chw(operand: Operand, channels_last: bool, image_channels: set[int]):
    from convcli.errors import ConvcliError

    values = operand.values
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim == 2:
        return values[None]
    if values.ndim != 3:
        raise ConvcliError(
            f"{operand.name}: a matrix has 2 or 3 dimensions (C,H,W), got shape {values.shape}"
        )
    if channels_last or (values.shape[-1] in image_channels and values.shape[0] > 4):
        return values.transpose(2, 0, 1)
    return values


def _luma(values):  # (C, H, W) -> (1, H, W) float32 for RGB; anything else unchanged
    import numpy as np

    from convcli.pipeline import to_gray

    if values.shape[0] != 3:
        return values
    return to_gray(values.astype(np.float32), has_alpha=False)


def _gray_target(prepared: PreparedTarget) -> None:
    """``--gray`` on a colour TARGET: luma of the values, after its mask was made.

    A pixel is fitted only if all three channels were; luma of rounded levels is within
    half a level of the truth too (the weights sum to 1), so the tolerance stays 1 level.
    """
    if prepared.tolerance is None and prepared.values.dtype.kind in "ui":
        prepared.tolerance = 1.0
    prepared.values = _luma(prepared.values)
    prepared.mask = prepared.mask.all(axis=0, keepdims=True)


def _border_order(border: Border | None, source: Operand) -> list[str]:
    """The border mode asked for, or the kind's default first and the others after."""
    from convcli.core.padding import PADDING_MODES

    if border is not None:
        return [border.value]
    first = "reflect" if source.kind == "image" else "zeros"
    return [first, *(mode for mode in PADDING_MODES if mode != first)]


@dataclass
class PreparedTarget:
    """TARGET ready for the solver: values, which pixels to fit, and the units of it all."""

    values: Any  # ndarray (C, H, W)
    mask: Any  # ndarray of bool (C, H, W)
    tolerance: float | None
    units: str
    map_mode: str
    excluded_reason: str | None = None
    notes: list[str] = field(default_factory=list)


def _prepare_target(
    source: Operand, target: Operand, map_mode: TargetMap, tolerance: float | None
) -> PreparedTarget:
    """Undo what ``apply --map`` did, where it can be undone, and say which pixels to fit.

    ``clip`` cut values to ``0 .. full scale``: those pixels no longer depend linearly on
    the input, so they are left out. ``offset`` added ``full scale / 2`` (127.5 in 8
    bits) before the same cut: it is subtracted again. The kernel then comes out in the
    input's units, the one ``apply`` used.
    """
    import numpy as np

    from convcli.errors import SpecError

    values = target.values
    integer = values.dtype.kind in "ui"
    mode = map_mode.value
    if mode == "auto":
        mode = "clip" if target.kind == "image" and integer else "raw"
    notes: list[str] = []
    if mode in ("clip", "offset") and target.kind != "image":
        raise SpecError(
            f"--map {mode} describes an image target's pixel range; TARGET "
            f"'{target.name}' is a matrix (its values are used as they are)"
        )
    depth_names = {255.0: "8-bit levels", 65535.0: "16-bit levels"}
    units = depth_names.get(float(target.full_scale or 0), "TARGET's units")
    scale = 1.0
    if source.kind == "image" and target.kind == "image" and source.full_scale != target.full_scale:
        # apply scales to the output's depth (8-bit in, 16-bit out: x 257): undo it so the
        # kernel is in the input's units.
        scale = float(source.full_scale) / float(target.full_scale)
        notes.append(
            f"TARGET is scaled by {1 / scale:g} against INPUT (full scale "
            f"{target.full_scale:g} vs {source.full_scale:g}); the fit undoes it"
        )
    mask = np.ones(values.shape, dtype=bool)
    excluded_reason = None
    if mode in ("clip", "offset"):
        full_scale = float(target.full_scale)
        mask = (values > 0) & (values < full_scale)
        excluded_reason = f"saturated at 0 or {full_scale:g}"
    if mode == "offset" or scale != 1.0:
        shifted = values.astype(np.float64)
        if mode == "offset":
            shifted -= float(target.full_scale) / 2
        values = shifted * scale
        if tolerance is None:
            tolerance = scale if integer else max(1e-5 * float(np.max(np.abs(values))), 1e-9)
        units = depth_names.get(float(source.full_scale or 0), "INPUT's units")
    return PreparedTarget(values, mask, tolerance, units, mode, excluded_reason, notes)


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------

_SAVE_SUFFIXES = (".txt", ".csv", ".npy")


def _check_save_path(path: Path, per_channel: bool, force: bool, inputs: list[str]) -> None:
    """Refuse a --save target before the (possibly long) fit, not after it."""
    from convcli.errors import SpecError
    from convcli.imageio import check_output_path

    if "\x00" in str(path) or not str(path):
        raise SpecError("--save needs a file name (without NUL bytes)")
    suffix = path.suffix.lower()
    if suffix not in _SAVE_SUFFIXES:
        raise SpecError(f"--save writes .txt, .csv or .npy, got '{path}'")
    if per_channel and suffix != ".npy":
        raise SpecError(
            f"--save '{path}': a per-channel kernel set is a depthwise layer, which only "
            ".npy holds (as a (C,C,kh,kw) layer apply reads); a .txt/.csv kernel with "
            "channels would be summed over channels"
        )
    check_output_path(str(path), [word for word in inputs if Path(word).exists()], force=force)


def _save_kernel(fit: KernelFit, path: Path, force: bool, facts: list[tuple[str, str]]) -> str:
    import numpy as np

    from convcli import imageio
    from convcli.render.learn import kernel_file_text

    suffix = path.suffix.lower()
    if suffix == ".npy":  # the rounded kernel, as printed, in every format
        weight: np.ndarray = fit.rounded_kernel()
        if fit.per_channel:  # (C, kh, kw) -> a depthwise (C, C, kh, kw) layer, zeros off-diagonal
            channels = weight.shape[0]
            layer = np.zeros((channels, channels, *fit.kernel_size))
            layer[np.arange(channels), np.arange(channels)] = weight
            weight = layer
        imageio.save_npy(str(path), weight, force=force)
    else:
        text = kernel_file_text(
            fit, "," if suffix == ".csv" else " ", comments=suffix == ".txt", facts=facts
        )
        imageio.write_bytes(str(path), text.encode("utf-8"), force=force)
    return str(path)
