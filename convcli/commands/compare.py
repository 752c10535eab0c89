"""``convcli compare``: standard vs depthwise-separable (and spatially separable) cost."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from convcli.errors import SpecError
from convcli.render import OutputFormat

if TYPE_CHECKING:
    from convcli.compare import KernelSeparability, NetworkComparison

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


_LAYER = "One layer"
_NETWORK = "Whole network"
_EXTRA = "Kernel and timing"
_OUTPUT = "Output"


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
    kernel: Annotated[
        str | None,
        typer.Option(
            "-k",
            "--kernel",
            help="Kernel size, 3 or 3x5 (HxW). Taken from --kernel-matrix when omitted.",
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    out_channels: Annotated[
        int | None,
        typer.Option(
            "-c",
            "--out-channels",
            help="Output channels C_out of the layer.",
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    stride: Annotated[
        str,
        typer.Option("-s", "--stride", help="Stride, 2 or 2x1.", rich_help_panel=_LAYER),
    ] = "1",
    padding: Annotated[
        str,
        typer.Option(
            "-p",
            "--padding",
            help="Padding: 1, 1x2, top,bottom,left,right, valid or same (TensorFlow's).",
            rich_help_panel=_LAYER,
        ),
    ] = "0",
    dilation: Annotated[
        str,
        typer.Option("-d", "--dilation", help="Dilation, 2 or 2x1.", rich_help_panel=_LAYER),
    ] = "1",
    depth_multiplier: Annotated[
        int,
        typer.Option(
            "--depth-multiplier",
            help="M: the depthwise part makes C_in x M channels.",
            rich_help_panel=_LAYER,
        ),
    ] = 1,
    no_bias: Annotated[
        bool,
        typer.Option(
            "--no-bias",
            help="Layers without bias (the MobileNet paper's count: batch norm follows).",
            rich_help_panel=_LAYER,
        ),
    ] = False,
    channels_last: Annotated[
        bool,
        typer.Option(
            "--channels-last",
            help="Read INPUT (and print shapes) as HxWxC, TensorFlow's order: 12x12x3.",
            rich_help_panel=_LAYER,
        ),
    ] = False,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="A published network: lenet5, alexnet, vgg16, mobilenet_v1.",
            rich_help_panel=_NETWORK,
            show_default=False,
        ),
    ] = None,
    net: Annotated[
        Path | None,
        typer.Option(
            "--net",
            help="A net file: one LAYER word per line, # comments, optional 'input SIZE'.",
            rich_help_panel=_NETWORK,
            show_default=False,
        ),
    ] = None,
    width_mult: Annotated[
        float | None,
        typer.Option(
            "--width-mult",
            help="MobileNet's width multiplier alpha (1, 0.75, 0.5, 0.25 in the paper).",
            rich_help_panel=_NETWORK,
            show_default=False,
        ),
    ] = None,
    resolution: Annotated[
        int | None,
        typer.Option(
            "--resolution",
            help="Input height and width (MobileNet's rho as a size: 224, 192, 160, 128).",
            rich_help_panel=_NETWORK,
            show_default=False,
        ),
    ] = None,
    kernel_matrix: Annotated[
        str | None,
        typer.Option(
            "--kernel-matrix",
            metavar="STEP",
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
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", help="table, plain, json or csv.", rich_help_panel=_OUTPUT),
    ] = OutputFormat.table,
) -> None:
    """Standard vs depthwise-separable (and spatially separable) convolution cost.

    Compares a standard convolution with its depthwise-separable and spatially
    separable forms: parameters, MACs and FLOPs side by side, and their ratios.

    With --preset or --net, compare a whole network as given against the same network
    with every depthwise-separable block replaced by a standard convolution, and split
    its cost by kind of layer.
    """
    from convcli import compare as library
    from convcli.errors import SpecError
    from convcli.layers import parse_padding, parse_pair, parse_size
    from convcli.render import compare as render

    if preset is not None or net is not None:
        single_only = {
            "-k/--kernel": kernel is not None,
            "-c/--out-channels": out_channels is not None,
            "-s/--stride": stride != "1",
            "-p/--padding": padding != "0",
            "-d/--dilation": dilation != "1",
            "--depth-multiplier": depth_multiplier != 1,
            "--no-bias": no_bias,
            "--kernel-matrix": kernel_matrix is not None,
            "--bench": bench,
        }
        clashes = [name for name, given in single_only.items() if given]
        if clashes:
            raise SpecError(
                f"{clashes[0]} describes one layer; it cannot be used with --preset/--net"
            )
        result = _network(input_size, preset, net, width_mult, resolution, channels_last)
        render.render_network(result, output_format, channels_last)
        return
    if width_mult is not None:
        raise SpecError("--width-mult needs --preset mobilenet_v1")
    if resolution is not None:
        raise SpecError("--resolution needs --preset or --net")
    if input_size is None:
        raise SpecError("missing INPUT (e.g. 3x224x224), or give --preset/--net")

    shape = parse_size(input_size, channels_last=channels_last)
    stride_pair = parse_pair(stride, "-s/--stride")
    padding_spec = parse_padding(padding, "-p/--padding: ")
    dilation_pair = parse_pair(dilation, "-d/--dilation")
    kernels = []
    if kernel_matrix is not None:
        kernels = library.describe_kernel(
            kernel_matrix, shape, stride_pair, padding_spec, dilation_pair
        )
    kernel_pair = _kernel_size(kernel, kernels)
    if out_channels is None:
        if not kernels:
            raise SpecError("missing -c/--out-channels (C_out of the layer to compare)")
        if bench:
            raise SpecError("--bench needs a layer to time: give -c/--out-channels")
        render.render_layer(None, output_format, kernels, None, channels_last)
        return
    result = library.compare_layer(
        shape,
        kernel_pair,
        out_channels,
        stride=stride_pair,
        padding=padding_spec,
        dilation=dilation_pair,
        depth_multiplier=depth_multiplier,
        bias=not no_bias,
    )
    if kernels and not all(kernel.separable for kernel in kernels):
        # The layer's kernels are this one: its rank decides whether the split applies.
        rank = max(kernel.rank for kernel in kernels)
        result = replace(result, spatial=None, spatial_note=f"the kernel has rank {rank}, not 1")
    timing = None
    if bench:
        timing = library.bench_layer(result, repeat=repeat, algorithm=algorithm.value)
    render.render_layer(result, output_format, kernels, timing, channels_last)


def _kernel_size(kernel: str | None, kernels: list[KernelSeparability]) -> tuple[int, int]:
    """``-k``, or the shape of the ``--kernel-matrix`` (they must agree when both given)."""
    from convcli.errors import SpecError
    from convcli.layers import parse_pair

    from_matrix = None
    if kernels:
        matrix = kernels[0].matrix
        from_matrix = (len(matrix), len(matrix[0]))
    if kernel is None:
        if from_matrix is None:
            raise SpecError("missing -k/--kernel (3 or 3x5), or give --kernel-matrix")
        return from_matrix
    pair = parse_pair(kernel, "-k/--kernel")
    if from_matrix is not None and pair != from_matrix:
        raise SpecError(
            f"-k/--kernel {pair[0]}x{pair[1]} disagrees with the --kernel-matrix shape "
            f"{from_matrix[0]}x{from_matrix[1]}"
        )
    return pair


def _network(
    input_size: str | None,
    preset: str | None,
    net: Path | None,
    width_mult: float | None,
    resolution: int | None,
    channels_last: bool,
) -> NetworkComparison:
    """Load the network of ``--preset`` or ``--net`` and compare it."""
    from convcli import compare as library
    from convcli.network import load_network, resolve_inputs
    from convcli.presets import get_preset_name, with_resolution

    network = load_network((), net, preset, width_mult)
    inputs, _ = resolve_inputs(network, input_size, channels_last)
    if not inputs:
        raise SpecError(f"missing INPUT: the net file {net} has no 'input SIZE' line")
    first = next(iter(inputs))
    inputs[first] = with_resolution(inputs[first], resolution)
    name = get_preset_name(preset) if preset is not None else net.name if net else ""
    return library.compare_network(network, inputs, name=name)
