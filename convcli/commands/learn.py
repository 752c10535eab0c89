"""``convcli learn``: recover the kernel that maps INPUT to TARGET ("what filter was this?")."""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from convcli.commands import Border
from convcli.commands._help import MatrixArgumentsCommand
from convcli.commands.options import shared_option
from convcli.render import OutputFormat

if TYPE_CHECKING:
    from convcli.geometry import PaddingSpec
    from convcli.learn import KernelFit, LearnRequest

COMMAND_CLASS = MatrixArgumentsCommand  # "-1 0; 2 3" is an INPUT, not an unknown option

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
them) or inline matrices ("0 1; 2 3", channels split by |). A 3-D .npy next to an image,
or whose last axis is 1-4 and the others larger, is read HxWxC, as apply writes it; a
matrix may start with a minus ("-1 0; 0 1"). Least squares is exact for a linear filter;
a target that no linear kernel explains (a median filter, --map abs) is an error with its
residual; a lossy (JPEG) target needs --tol.
"""

_KERNEL = "Kernel"
_TARGET = "Target"
_DESCENT = "Gradient descent"
_OUTPUT = "Output"


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
        shared_option(
            "padding",
            help="Padding the filter used: N, HxW, top,bottom,left,right, valid or same. "
            "Default: inferred from the sizes (valid when TARGET is smaller by k-1, 'same' "
            "when equal, the odd pixel after).",
            panel=_KERNEL,
        ),
    ] = None,
    border: Annotated[
        Border | None,
        shared_option(
            "border",
            help="How the padding was filled: zeros, reflect (OpenCV REFLECT_101, scipy "
            "mirror), replicate, circular, symmetric (scipy reflect). Default: reflect for "
            "images, zeros for matrices; when only the edge pixels disagree, the other modes "
            "are tried.",
            panel=_KERNEL,
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
        shared_option(
            "channels_last",
            help="Read 3-D .npy matrices as HxWxC. Default: HxWxC next to an image or when "
            "the last axis is 1-4 and the others larger (as apply writes images), else CxHxW.",
            panel=_TARGET,
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
            ".csv, or .npy; a per-channel set is a (C,C,kh,kw) layer (.txt or .npy).",
            show_default=False,
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    force: Annotated[
        bool,
        shared_option("force", help="Replace an existing --save file.", panel=_OUTPUT),
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
        shared_option(
            "format",
            help="table (default on a terminal), plain (default otherwise), json or csv.",
            panel=_OUTPUT,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        shared_option("quiet", help="No loss lines, notes or progress on stderr.", panel=_OUTPUT),
    ] = False,
) -> None:
    """Recover the kernel (and bias) mapping INPUT to TARGET: "what filter was this?"

    Solves for the kernel by linear least squares over every pixel and channel, then
    reports it rounded to the digits the data support, the residual (RMSE and max error
    in TARGET's units) and how well-conditioned the problem was. Kernels are
    cross-correlation kernels, as `apply` uses them.
    """
    from convcli import imageio
    from convcli import learn as library
    from convcli.render import learn as render
    from convcli.render import note

    request = _request(
        size, padding, border, (bias, per_channel, gray, allow_misfit), map_mode, tolerance,
        method, (epochs, lr, seed, batch_size),
    )  # fmt: skip
    if save is not None and not save.strip():  # Path("") would be "."
        from convcli.errors import SpecError

        raise SpecError("--save needs a file name (.txt, .csv or .npy), got ''")
    save_path = None if save is None else Path(save)  # (a str: Typer's Path stats it first)
    if save_path is not None:
        _check_save_path(save_path, per_channel, force, [input_path, target_path])
    source, target = imageio.read_operand_pair(input_path, target_path, channels_last)
    prepared = library.prepare(source, target, request)
    for line in [] if quiet else prepared.notes:
        note(f"note: {line}")
    progress = None
    if method is Method.gd:
        progress = render.DescentProgress(epochs, quiet=quiet)
        descent = replace(request.descent, on_epoch=progress.epoch, on_steps=progress.steps)
        request = replace(request, descent=descent)
        progress.start(prepared.pixels)
    try:
        fit = library.solve(prepared, request)
    finally:
        if progress is not None:
            progress.stop()
    report = prepared.report()
    saved = None
    if save_path is not None:
        saved = _save_kernel(fit, save_path, force, render.fact_lines(fit, report))
    chosen = output_format or (OutputFormat.table if sys.stdout.isatty() else OutputFormat.plain)
    render.render_fit(fit, chosen, report, saved)
    for line in [] if quiet else library.fit_notes(fit, saved):
        note(f"note: {line}")


def _request(
    size: str | None,
    padding: str | None,
    border: Border | None,
    flags: tuple[bool, bool, bool, bool],
    map_mode: TargetMap,
    tolerance: float | None,
    method: Method,
    descent: tuple[int, float, int, int],
) -> LearnRequest:
    """The options as one :class:`convcli.learn.LearnRequest`, each checked in one line."""
    from convcli.errors import SpecError
    from convcli.learn import DescentOptions, LearnRequest, parse_kernel_size
    from convcli.limits import MAX_VALUE

    kernel_size = parse_kernel_size(size) if size is not None else None
    if method is Method.gd and kernel_size is None:
        raise SpecError("--method gd needs --size: the size search uses least squares")
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):
        raise SpecError(f"--tol must be a finite number > 0, got {tolerance:g}")
    epochs, lr, seed, batch_size = descent
    if method is not Method.gd and descent != (10, 0.03, 0, 1):  # the options' defaults
        raise SpecError(
            "--epochs, --lr, --seed and --batch-size are for --method gd; least squares "
            "would ignore them"
        )
    if method is Method.gd and not (math.isfinite(lr) and 0 < lr <= MAX_VALUE):
        raise SpecError(f"--lr must be a finite number > 0, got {lr:g}")
    bias, per_channel, gray, allow_misfit = flags
    return LearnRequest(
        kernel_size=kernel_size,
        padding=_parse_padding(padding) if padding is not None else None,
        border=None if border is None else border.value,
        bias=bias,
        per_channel=per_channel,
        map_mode=map_mode.value,
        gray=gray,
        tolerance=tolerance,
        method=method.value,
        descent=DescentOptions(epochs=epochs, lr=lr, seed=seed, batch_size=batch_size),
        allow_misfit=allow_misfit,
    )


def _parse_padding(text: str) -> PaddingSpec:
    from convcli.layers import parse_padding_option
    from convcli.limits import MAX_PADDING

    return parse_padding_option(text, MAX_PADDING)


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
    if per_channel and suffix == ".csv":
        raise SpecError(
            f"--save '{path}': a per-channel kernel set is a (C,C,kh,kw) layer, which .txt "
            "(filters closed by ||) or .npy holds; CSV holds one 2-D kernel"
        )
    check_output_path(str(path), [word for word in inputs if Path(word).exists()], force=force)


def _save_kernel(fit: KernelFit, path: Path, force: bool, facts: list[tuple[str, str]]) -> str:
    from convcli import imageio
    from convcli.render.learn import kernel_file_text

    suffix = path.suffix.lower()
    if suffix == ".npy":
        imageio.save_npy(str(path), fit.weight(), force=force)
    else:
        text = kernel_file_text(
            fit, "," if suffix == ".csv" else " ", comments=suffix == ".txt", facts=facts
        )
        imageio.write_bytes(str(path), text.encode("utf-8"), force=force)
    return str(path)
