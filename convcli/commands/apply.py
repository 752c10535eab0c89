"""``convcli apply``: run kernels and pooling on an image or a matrix."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from convcli.render import OutputFormat

EPILOG = """\
[bold]Examples[/]

  convcli apply --matrix "0 1 2; 3 4 5; 6 7 8" -k "0 1; 2 3"

  convcli apply --matrix "0 1 2; 3 4 5; 6 7 8" -k maxpool:2,s=1

  convcli apply photo.png -k sobel -o edges.png     [dim]# same size as photo.png[/]

  convcli apply photo.png -k gaussian:2 -k sobel-x --map offset -o gx.png

  convcli apply photo.jpg -k avgpool:2 --linear -o half.jpg --quality 92

  cat photo.png | convcli apply - -k box:5 -o - --to png > out.png

  convcli apply photo.png -k sobel-x -o gx.npy      [dim]# raw float32, HxWxC[/]

Images keep their size (--padding same, --border reflect);
matrices follow PyTorch (--padding 0, zeros).
"""


class Border(str, Enum):
    """``--border``: how the padding is filled (PyTorch / NumPy names)."""

    zeros = "zeros"
    reflect = "reflect"
    replicate = "replicate"
    circular = "circular"
    symmetric = "symmetric"


class MapMode(str, Enum):
    """``--map``: how results come back to the pixel range."""

    auto = "auto"
    clip = "clip"
    abs = "abs"
    offset = "offset"
    minmax = "minmax"
    raw = "raw"


class Depth(str, Enum):
    """``--depth``: bits per channel of an image output."""

    eight = "8"
    sixteen = "16"
    float = "float"


class ToFormat(str, Enum):
    """``--to``: output format (overrides the suffix of -o; needed for -o - with a matrix)."""

    png = "png"
    jpeg = "jpeg"
    jpg = "jpg"
    tiff = "tiff"
    tif = "tif"
    bmp = "bmp"
    webp = "webp"
    gif = "gif"
    pfm = "pfm"
    npy = "npy"
    csv = "csv"
    txt = "txt"


_FORMAT_NAMES = {"jpg": "JPEG", "tif": "TIFF"}

_STEPS = "Steps"
_IMAGES = "Images"
_OUTPUT = "Output"
_MATRICES = "Matrices"


def _parse_bias(text: str):  # -> np.ndarray
    """``--bias 0.5``, ``--bias "1,2,3"`` or ``--bias bias.npy``."""
    import numpy as np

    from convcli import imageio
    from convcli.errors import SpecError

    if imageio.is_matrix_path(text):
        values = imageio.load_matrix(text).ravel()
    else:
        try:
            values = np.array(
                [float(part) for part in text.replace(",", " ").split()], dtype=np.float32
            )
        except ValueError:
            raise SpecError(
                f"--bias must be numbers (0.5 or 1,2,3) or a .npy/.csv/.txt file, got {text!r}"
            ) from None
    if values.size == 0:
        raise SpecError("--bias needs at least one value")
    return values.astype(np.float32)


def apply(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="INPUT...",
            help=(
                "Image file (PNG, JPEG, TIFF, BMP, WebP, GIF, PFM...; format from content), "
                "'-' for stdin, or a matrix file (.npy, .csv, .txt). Omit it with --matrix."
            ),
            show_default=False,
        ),
    ] = None,
    kernel: Annotated[
        list[str],
        typer.Option(
            "-k",
            "--kernel",
            metavar="STEP",
            help=(
                "A step, repeatable, run left to right: a named kernel (sobel, gaussian:1.5, "
                'box:5, diff-x...), a pool (maxpool:2,s=1, avgpool:2, median:3), a matrix ("1,-1", '
                '"1 0 -1; 2 0 -2; 1 0 -1"), or a file (@k.txt, k.npy). See `convcli kernels`.'
            ),
            rich_help_panel=_STEPS,
            show_default=False,
        ),
    ] = ...,  # type: ignore[assignment]
    stride: Annotated[
        str | None,
        typer.Option(
            "-s",
            "--stride",
            metavar="N|HxW",
            help="Stride of kernel steps that set no s= (default 1).",
            rich_help_panel=_STEPS,
        ),
    ] = None,
    padding: Annotated[
        str | None,
        typer.Option(
            "-p",
            "--padding",
            metavar="PAD",
            help=(
                "Padding of kernel steps that set no p=: N, HxW, top,bottom,left,right, valid "
                "or same (TensorFlow's: out = ceil(in/stride)). Default: same for images, "
                "0 for matrices."
            ),
            rich_help_panel=_STEPS,
        ),
    ] = None,
    dilation: Annotated[
        str | None,
        typer.Option(
            "-d",
            "--dilation",
            metavar="N|HxW",
            help="Dilation of kernel steps that set no d= (default 1).",
            rich_help_panel=_STEPS,
        ),
    ] = None,
    border: Annotated[
        Border | None,
        typer.Option(
            "--border",
            help=(
                "How padding is filled. reflect = 4 3 2|1 2 3 4 5 (OpenCV BORDER_REFLECT_101, "
                "scipy 'mirror'); symmetric = 3 2 1|1 2 3 (scipy 'reflect', ImageMagick Mirror); "
                "replicate = 1 1 1|1 2 3 (edge); circular = wrap; zeros. Default: reflect for "
                "images, zeros for matrices."
            ),
            rich_help_panel=_STEPS,
            show_default=False,
        ),
    ] = None,
    convolve: Annotated[
        bool,
        typer.Option(
            "--convolve",
            help=(
                "Flip kernels (true convolution). Without it kernels are applied as written "
                "(cross-correlation, as PyTorch and OpenCV filter2D do)."
            ),
            rich_help_panel=_STEPS,
        ),
    ] = False,
    normalize: Annotated[
        bool,
        typer.Option("--normalize", help="Divide each kernel by its sum.", rich_help_panel=_STEPS),
    ] = False,
    bias: Annotated[
        str | None,
        typer.Option(
            "--bias",
            metavar="VALUES|FILE",
            help=(
                "Bias added by the chain's kernel step, one value per output channel "
                '(0.5, "1,2,3" or bias.npy): a 4-D (C_out,C_in,kh,kw) .npy kernel is a conv layer.'
            ),
            rich_help_panel=_STEPS,
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="On stderr: each step's operation, pads and algorithm (and why), the --map used.",
            rich_help_panel=_STEPS,
        ),
    ] = False,
    map_mode: Annotated[
        MapMode,
        typer.Option(
            "--map",
            help=(
                "Back to the pixel range: clip; abs (edges both ways); offset (0 -> mid-grey); "
                "minmax (stretch to 0..max); raw (float outputs). auto: abs for zero-sum "
                "kernels, clip otherwise, raw for .npy/.pfm."
            ),
            rich_help_panel=_IMAGES,
        ),
    ] = MapMode.auto,
    gray: Annotated[
        bool,
        typer.Option(
            "--gray",
            "--grey",
            help="Convert to ITU-R BT.601 luma first (as Pillow's L); alpha is kept.",
            rich_help_panel=_IMAGES,
        ),
    ] = False,
    linear: Annotated[
        bool,
        typer.Option(
            "--linear",
            help="Filter in linear light: decode sRGB, filter, encode back.",
            rich_help_panel=_IMAGES,
        ),
    ] = False,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-pixels",
            min=0,
            help=(
                "Refuse larger images before decoding them (0: no limit). "
                "Default: Pillow's decompression-bomb limit, 89,478,485."
            ),
            rich_help_panel=_IMAGES,
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help=(
                "Write the result here, format from the suffix; '-' is stdout. Images need it; "
                "matrices print to stdout without it (.npy, .csv, .txt)."
            ),
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    to: Annotated[
        ToFormat | None,
        typer.Option(
            "--to",
            help="Output format, for -o - (default: the input's format) or to override a suffix.",
            rich_help_panel=_OUTPUT,
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing output file (never an input).",
            rich_help_panel=_OUTPUT,
        ),
    ] = False,
    depth: Annotated[
        Depth | None,
        typer.Option(
            "--depth",
            help=(
                "Bits per channel of an image output: 8, 16 (PNG/TIFF grey) or float (TIFF "
                "grey; .npy and .pfm are always float). Default: the input's."
            ),
            rich_help_panel=_OUTPUT,
            show_default=False,
        ),
    ] = None,
    quality: Annotated[
        int,
        typer.Option(
            "--quality", min=1, max=100, help="JPEG/WebP quality.", rich_help_panel=_OUTPUT
        ),
    ] = 90,
    png_compression: Annotated[
        int,
        typer.Option(
            "--png-compression",
            min=0,
            max=9,
            help=(
                "PNG zlib level. 1 (default) is ~4x faster than Pillow's 6 on a 4K photo, "
                "files a little larger."
            ),
            rich_help_panel=_OUTPUT,
        ),
    ] = 1,
    matrix: Annotated[
        str | None,
        typer.Option(
            "--matrix",
            metavar="VALUES",
            help='Input values instead of a file: "0 1 2; 3 4 5" (rows by ;, channels by |).',
            rich_help_panel=_MATRICES,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="How a matrix result prints: plain numbers (default), json, csv or table.",
            rich_help_panel=_MATRICES,
            show_default=False,
        ),
    ] = None,
    channels_last: Annotated[
        bool,
        typer.Option(
            "--channels-last",
            help="Read a 3-D .npy matrix as HxWxC (write it back so) instead of CxHxW.",
            rich_help_panel=_MATRICES,
        ),
    ] = False,
) -> None:
    """Run kernels and pooling on an image or a matrix.

    Kernels are applied as cross-correlation (the kernel laid on the image as written),
    as PyTorch and OpenCV do; a 2-D kernel filters each channel, a 3-D (C,kh,kw) kernel
    sums over channels, a 4-D .npy kernel is a conv layer. Work is in float32.
    """
    from convcli.batch import ApplyOptions, MatrixInput, process_one
    from convcli.errors import SpecError
    from convcli.imageio import parse_matrix
    from convcli.kernels import parse_step
    from convcli.layers import parse_padding, parse_pair
    from convcli.pipeline import StepOptions
    from convcli.render import note
    from convcli.render.apply import explain_lines, print_matrix

    sources = list(inputs or [])
    if matrix is not None:
        if sources:
            raise SpecError("give either INPUT files or --matrix, not both")
        sources = [MatrixInput(parse_matrix(matrix, "--matrix"))]  # type: ignore[list-item]
    if not sources:
        raise SpecError("missing INPUT (an image, a matrix file, '-' for stdin) or --matrix")
    if len(sources) > 1:
        raise SpecError(
            f"{len(sources)} inputs given; apply takes one input per run for now "
            "(batch mode with -O/--out-dir is not available yet)"
        )
    steps = [parse_step(text) for text in kernel]
    step_options = StepOptions(
        stride=parse_pair(stride, "--stride") if stride else None,
        padding=parse_padding(padding, "--") if padding else None,
        dilation=parse_pair(dilation, "--dilation") if dilation else None,
        border=border.value if border else None,
        convolve=convolve,
        normalize=normalize,
        bias=_parse_bias(bias) if bias is not None else None,
    )
    for name, pair in (("--stride", step_options.stride), ("--dilation", step_options.dilation)):
        if pair is not None and min(pair) < 1:
            raise SpecError(
                f"{name} must be >= 1, got {stride if name == '--stride' else dilation}"
            )
    if isinstance(step_options.padding, tuple) and min(step_options.padding) < 0:
        raise SpecError(f"--padding must be >= 0, got {padding}")
    options = ApplyOptions(
        steps=step_options,
        map_mode=map_mode.value,
        gray=gray,
        linear=linear,
        to=_FORMAT_NAMES.get(to.value, to.value.upper()) if to else None,
        depth=depth.value if depth else None,
        quality=quality,
        png_compression=png_compression,
        force=force,
        max_pixels=max_pixels,
        channels_last=channels_last,
    )
    result = process_one(sources[0], output, steps, options)
    for line in result.notes:
        note(f"note: {line}")
    if explain:
        for line in explain_lines(result):
            note(line)
    if result.values is not None:
        print_matrix(result.values, output_format)
