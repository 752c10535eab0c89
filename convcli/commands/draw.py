"""``convcli draw``: pictures and animations of a layer's geometry, for learners."""

# Annotations written, not strings: Typer reads them on every run (see commands/shape.py).
from enum import Enum
from typing import Annotated

import typer

from convcli.commands import Border, options
from convcli.render import OutputFormat

EPILOG = """\
[bold]Examples[/]

  convcli draw 5 -k 3 -p 1 -s 2 -o padding_strides.gif      [dim]# one frame per output[/]

  convcli draw 7 -k 3 -d 2 -o dilation.svg --animate          [dim]# SVG with SMIL[/]

  convcli draw 2 -k 3 -s 2 --op deconv -o transposed.apng     [dim]# one frame per input[/]

  convcli draw 5 -k 2 --op maxpool -s 2 -p 1 --ceil-mode -o pool.png --at 2,2

  convcli draw --matrix "0 1 2; 3 4 5; 6 7 8" -k "0 1; 2 3" -o d2l.gif --steps

  convcli draw 3x224x224 conv:64,k=7,s=2,p=3 maxpool:k=3,s=2,p=1 --picture rf -o rf.png

  convcli draw --preset resnet18 --picture sizes -o sizes.png

  convcli draw --preset mobilenet_v1 --picture by-kind -o by-kind.png

Formats from the suffix: .gif and .apng animate (one frame per output position in
sliding order; transposed: per input position), .png is one position (--at), .svg a
still or, with --animate, an SMIL animation. With a matrix the cells hold the numbers
and --steps prints the same sums as text. Dumoulin & Visin's conv_arithmetic figures:
see the README ("Teaching").
"""


class Op(str, Enum):
    """``--op``: the layer drawn."""

    conv = "conv"
    deconv = "deconv"
    maxpool = "maxpool"
    avgpool = "avgpool"
    minpool = "minpool"
    median = "median"


class Picture(str, Enum):
    """``--picture``: what is drawn."""

    window = "window"
    rf = "rf"
    sizes = "sizes"
    by_kind = "by-kind"


class DrawFormat(str, Enum):
    """``--to``: the file format (default: from the suffix of -o)."""

    gif = "gif"
    apng = "apng"
    png = "png"
    svg = "svg"


_LAYER = options.LAYER
_OUTPUT = options.OUTPUT
_PICTURE = "Picture"


def _suffix_format(output: str, to: DrawFormat | None) -> DrawFormat:
    from pathlib import Path

    from convcli.errors import SpecError

    if to is not None:
        return to
    suffix = Path(output).suffix.lower().lstrip(".")
    try:
        return DrawFormat(suffix)
    except ValueError:
        where = "-o -: give --to gif|apng|png|svg" if output == "-" else f"-o {output!r}"
        raise SpecError(f"{where}: draw writes .gif, .apng, .png or .svg") from None


def _at(text: str | None):  # -> tuple[int, int] | None
    import re

    from convcli.errors import SpecError

    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,6})\s*[,x]\s*(\d{1,6})\s*", text)
    if not match:
        raise SpecError(f"--at must be ROW,COL (from 0), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def draw(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[INPUT] [LAYER...]",
            help=(
                "A size (5, 5x7) or a matrix file (.npy, .csv, .txt) for one layer; for "
                "--picture rf/sizes, an input size (3x224x224) and LAYER words as in shape."
            ),
            show_default=False,
        ),
    ] = None,
    kernel: Annotated[
        str | None,
        options.shared_option(
            "kernel",
            metavar="K",
            help=(
                'Kernel size (3, 3x5), or its values for numbers ("0 1; 2 3", sobel-x, '
                "@k.txt); pools take a size."
            ),
            panel=_LAYER,
        ),
    ] = None,
    op: Annotated[
        Op,
        typer.Option(
            "--op",
            help="The layer: a convolution, transposed convolution or pool.",
            rich_help_panel=_LAYER,
        ),
    ] = Op.conv,  # fmt: skip
    stride: options.Stride = None,
    padding: options.Padding = None,
    dilation: options.Dilation = None,
    output_padding: options.OutputPadding = None,
    ceil_mode: options.CeilMode = False,
    border: Annotated[
        Border | None,
        options.shared_option(
            "border",
            panel=_LAYER,
            help="conv/median with a matrix: how padding is filled (default zeros).",
        ),
    ] = None,  # fmt: skip
    matrix: Annotated[
        str | None,
        typer.Option(
            "--matrix",
            metavar="VALUES",
            rich_help_panel=_LAYER,
            show_default=False,
            help='Input values, for numbers in the cells: "0 1 2; 3 4 5; 6 7 8".',
        ),
    ] = None,  # fmt: skip
    picture: Annotated[
        Picture,
        typer.Option(
            "--picture",
            rich_help_panel=_PICTURE,
            help=(
                "window: the sliding window of one layer; rf: one output pixel's receptive "
                "field traced back to the input; sizes: tensor sizes per layer (bars); "
                "by-kind: compare's split of MACs and parameters by kind of layer."
            ),
        ),
    ] = Picture.window,
    net: options.Net = None,
    preset: options.Preset = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="ROW,COL",
            rich_help_panel=_PICTURE,
            show_default=False,
            help="The position of a still (.png, .svg; default the first), or the "
            "output pixel of --picture rf (default the centre).",
        ),
    ] = None,  # fmt: skip
    animate: Annotated[
        bool,
        typer.Option(
            "--animate", rich_help_panel=_PICTURE, help="Animate an .svg (SMIL) or a .png (APNG)."
        ),
    ] = False,  # fmt: skip
    delay: Annotated[
        int,
        typer.Option(
            "--delay",
            min=20,
            max=10_000,
            rich_help_panel=_PICTURE,
            help="Milliseconds per frame (the last is held three times as long).",
        ),
    ] = 700,  # fmt: skip
    cell: Annotated[
        int | None,
        typer.Option(
            "--cell",
            min=12,
            max=96,
            rich_help_panel=_PICTURE,
            show_default=False,
            help="Cell size in pixels (default 36 with numbers, 24 without).",
        ),
    ] = None,  # fmt: skip
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            rich_help_panel=_OUTPUT,
            help="The picture: .gif, .apng, .png or .svg; '-' is stdout (with --to).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    to: Annotated[
        DrawFormat | None,
        typer.Option(
            "--to",
            rich_help_panel=_OUTPUT,
            show_default=False,
            help="The format, overriding the suffix (needed with -o -).",
        ),
    ] = None,  # fmt: skip
    force: Annotated[
        bool,
        options.shared_option("force", help="Replace an existing file.", panel=_OUTPUT),
    ] = False,
    show_steps: Annotated[
        bool,
        typer.Option(
            "--steps",
            rich_help_panel=_OUTPUT,
            help="With a matrix: print the arithmetic (as apply --steps) on stdout.",
        ),
    ] = False,  # fmt: skip
    all_steps: Annotated[
        bool,
        typer.Option("--all-steps", rich_help_panel=_OUTPUT, help="--steps with every element."),
    ] = False,  # fmt: skip
    output_format: Annotated[
        OutputFormat | None,
        options.shared_option(
            "format",
            panel=_OUTPUT,
            help="How --steps prints: table (default), plain (ASCII) or json (csv: no, steps "
            "are not a grid of values).",
        ),
    ] = None,  # fmt: skip
) -> None:
    """Draw a layer's geometry: the sliding window over the padded input, frame by frame.

    A convolution, transposed convolution or pool of any size, kernel, stride, padding,
    dilation and output padding, as PyTorch computes it; or, for a chain or network, the
    receptive field of one output pixel and the tensor sizes per layer. Pillow only; the
    same command gives the same bytes.
    """
    from convcli.errors import SpecError

    words = list(words or [])
    if picture is not Picture.window:
        one_layer = {
            "-k/--kernel": kernel is not None, "--op": op is not Op.conv,
            "-s/--stride": stride is not None, "-p/--padding": padding is not None,
            "-d/--dilation": dilation is not None, "--output-padding": output_padding is not None,
            "--ceil-mode": ceil_mode, "--border": border is not None,
            "--matrix": matrix is not None,
            "--animate": animate, "--cell": cell is not None, "--steps": show_steps or all_steps,
        }  # fmt: skip
        clash = options.first_given(one_layer)
        if clash:
            raise SpecError(
                f"{clash} is for one layer's window; --picture {picture.value} draws a "
                "network (LAYER words, --net, --preset)"
            )
        _draw_network(words, picture, net, preset, at, output, to, force)
        return
    if net is not None or preset is not None:
        raise SpecError("--net/--preset are for --picture rf, sizes or by-kind")
    if len(words) > 1:
        raise SpecError(
            f"one INPUT draws one layer (-k, --op ...), got {len(words)} words; LAYER words "
            "are for --picture rf or sizes"
        )
    if kernel is None:
        raise SpecError('missing -k/--kernel: a size (3, 3x5) or values ("0 1; 2 3")')
    if output_format is not None and not (show_steps or all_steps):
        raise SpecError(
            "--format is how --steps prints; the picture's format is -o's suffix or --to"
        )
    if output is None and not (show_steps or all_steps):
        raise SpecError("missing -o FILE (.gif, .apng, .png, .svg), or --steps to print the sums")
    from convcli.teaching import LayerQuestion, answer_layer

    question = LayerQuestion(
        kernel, words[0] if words else None, matrix, op.value, stride, padding, dilation,
        output_padding, ceil_mode, border.value if border else None,
    )  # fmt: skip
    file_format = _suffix_format(output, to) if output is not None else None
    if file_format is not None and file_format is not DrawFormat.svg:  # SVG is text
        options.refuse_terminal_stdout(output, file_format.value)
    if output is not None and output != "-":
        from convcli.imageio import check_output_path

        check_output_path(output, [w for w in words if w], force=force)
    answer = answer_layer(question)
    if show_steps or all_steps:
        if answer.layer is None:
            raise SpecError("--steps needs numbers: give --matrix VALUES or a matrix file")
        from convcli.commands._teaching import ALL_STEPS_HINT
        from convcli.render.steps import DEFAULT_LIMIT, render_steps

        limit = None if all_steps else DEFAULT_LIMIT
        render_steps([answer.layer], output_format, limit=limit, hint=ALL_STEPS_HINT)
    if output is None or file_format is None:
        return
    _write_window(answer, file_format, output, _at(at), animate, delay, cell, force)


def _write_window(answer, file_format, output, at, animate, delay, cell, force) -> None:
    from convcli.render.draw import layer_picture

    data, count = layer_picture(
        answer, file_format.value, at, animate=animate, delay=delay, cell=cell
    )
    _write(output, data, force, f"{count} frame{'s' if count > 1 else ''}")


def _write(output: str, data: bytes, force: bool, what: str) -> None:
    import sys

    from convcli.imageio import write_bytes
    from convcli.render import note

    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    write_bytes(output, data, force=force)
    note(f"wrote {output}: {what}, {len(data):,} bytes")


def _draw_network(words, picture, net, preset, at, output, to, force) -> None:
    from convcli.errors import SpecError
    from convcli.network import Source
    from convcli.render.draw import network_png
    from convcli.teaching import network_picture

    if output is None:
        raise SpecError(f"--picture {picture.value} needs -o FILE.png")
    file_format = _suffix_format(output, to)
    if file_format is not DrawFormat.png:
        raise SpecError(
            f"--picture {picture.value} draws a still: -o FILE.png, not .{file_format.value}"
        )
    options.refuse_terminal_stdout(output, "png")
    if output != "-":
        from convcli.imageio import check_output_path

        check_output_path(output, [], force=force)
    input_size = words[0] if words else None
    source = Source(tuple(words[1:]), net, preset, None, None, input_size)
    data = network_png(network_picture(source, picture.value, _at(at)))
    _write(output, data, force, f"{picture.value} picture")
