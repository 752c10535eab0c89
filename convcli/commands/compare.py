"""``convcli compare``: standard vs depthwise-separable (and spatially separable) cost."""

# Annotations written, not strings: Typer reads them on every run (see commands/shape.py).
from enum import Enum
from typing import Annotated

import typer

from convcli.commands import options
from convcli.errors import SpecError
from convcli.render import OutputFormat

EPILOG = """\
[bold]Examples[/]

  convcli compare 3x12x12 -k 5 -c 256 --no-bias        [dim]# 1,228,800 vs 53,952 MACs[/]

  convcli compare 12x12x3 --channels-last -k 5 -c 256 --no-bias

  convcli compare 512x14x14 -k 3 -c 512 -p 1 --no-bias  [dim]# MobileNet paper, Table 3[/]

  convcli compare 3x64x64 -c 32 --kernel-matrix sobel-x  [dim]# [1,2,1]^T x [-1,0,1][/]

  convcli compare 64x56x56 -k 3 -c 128 -p same --bench  [dim]# time both forms in NumPy[/]

  convcli compare --preset mobilenet_v1                  [dim]# Table 4: 4867M vs 569M MACs[/]

  convcli compare --preset mobilenet_v1 --width-mult 0.5 --resolution 160

  convcli compare --net samples/mobilenet_v1.net --format json

The closed form 1/C_out + 1/k^2 (times M with a depth multiplier) is the ratio of MACs.
The spatial form runs every k x k kernel as a k x 1 pass then a 1 x k pass: exact when
every kernel has rank 1 (--kernel-matrix checks one kernel).
"""


class Algorithm(str, Enum):
    """``--algorithm``: the core's engine for --bench (``auto`` chooses per call)."""

    auto = "auto"
    direct = "direct"
    gemm = "gemm"
    fft = "fft"


_EXTRA = "Kernel and timing"
Format = Annotated[
    OutputFormat,
    options.shared_option(
        "format",
        "table, json, csv, or plain (one line per form or layer, then the ratios).",
        options.OUTPUT,
    ),
]


def compare(
    input_size: Annotated[
        str | None,
        typer.Argument(
            metavar="[INPUT]",
            help=(
                "Input size: 224, 224x160 (HxW), 3x224x224 (CxHxW) or 8x3x224x224. Optional "
                "with --preset (the paper's input) or a net file with an 'input' line."
            ),
            show_default=False,
        ),
    ] = None,
    kernel: options.Kernel = None,
    out_channels: options.OutChannels = None,
    stride: options.Stride = None,
    padding: options.Padding = None,
    dilation: options.Dilation = None,
    depth_multiplier: options.DepthMultiplier = None,
    no_bias: options.NoBias = False,
    channels_last: options.ChannelsLast = False,
    preset: options.Preset = None,
    net: options.Net = None,
    width_mult: options.WidthMult = None,
    resolution: options.Resolution = None,
    kernel_matrix: Annotated[
        str | None,
        typer.Option(
            "--kernel-matrix",
            metavar="STEP",
            autocompletion=options.complete_step,
            help=(
                'A 2-D kernel in any apply syntax (sobel-x, "1 2 1; 2 4 2; 1 2 1", '
                "@k.txt, k.npy): its SVD rank, column x row factors, and what separating saves."
            ),
            rich_help_panel=_EXTRA,
            show_default=False,
        ),
    ] = None,
    bench: Annotated[
        bool,
        typer.Option(
            "--bench",
            help=(
                "Time both forms through the NumPy core on random data of that size (a "
                "warm-up, then the median of --repeat runs)."
            ),
            rich_help_panel=_EXTRA,
        ),
    ] = False,
    repeat: Annotated[
        int,
        typer.Option("--repeat", help="Timed runs for --bench.", rich_help_panel=_EXTRA),
    ] = 5,
    algorithm: Annotated[
        Algorithm,
        typer.Option(
            "--algorithm",
            help="The NumPy core's engine for --bench; auto lets it choose, as apply does.",
            rich_help_panel=_EXTRA,
        ),
    ] = Algorithm.auto,
    output_format: Format = OutputFormat.table,
) -> None:
    """Standard vs depthwise-separable (and spatially separable) convolution cost.

    Compares a standard convolution with its depthwise-separable and spatially
    separable forms: parameters, MACs and FLOPs side by side, and their ratios.

    With --preset or --net, compare a whole network as given against the same network
    with every depthwise-separable block replaced by a standard convolution, and split
    its cost by kind of layer.
    """
    from convcli import compare as library
    from convcli.network import Source
    from convcli.render import compare as render

    one_layer = {
        "-k/--kernel": kernel is not None, "-c/--out-channels": out_channels is not None,
        "-s/--stride": stride is not None, "-p/--padding": padding is not None,
        "-d/--dilation": dilation is not None, "--depth-multiplier": depth_multiplier is not None,
        "--no-bias": no_bias, "--kernel-matrix": kernel_matrix is not None, "--bench": bench,
    }  # fmt: skip
    if preset is not None or net is not None:
        clash = options.first_given(one_layer)
        if clash:
            raise SpecError(f"{clash} describes one layer; it cannot be used with --preset/--net")
        source = Source((), net, preset, width_mult, None, input_size, channels_last, resolution)
        render.render_network(library.compare_source(source), output_format, channels_last)
        return
    if width_mult is not None:
        raise SpecError("--width-mult needs --preset mobilenet_v1")
    if resolution is not None:
        raise SpecError("--resolution needs --preset or --net")
    if input_size is None:
        raise SpecError("missing INPUT (e.g. 3x224x224), or give --preset/--net")
    question = library.LayerQuestion(
        input_size, kernel, out_channels, stride, padding, dilation, depth_multiplier,
        not no_bias, channels_last, kernel_matrix, bench, repeat, algorithm.value,
    )  # fmt: skip
    answer = library.answer_layer(question)
    render.render_layer(answer.comparison, output_format, answer.kernels, answer.timing,
                        channels_last)  # fmt: skip
