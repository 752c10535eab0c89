"""``convcli shape``: output size, parameters, MACs/FLOPs and receptive field of layers.

The command only wires: the options become a :class:`convcli.network.Source` (or a
``--target`` question for :func:`convcli.layers.target_report`), one library call
answers, :mod:`convcli.render.shape` prints. Nothing here imports NumPy, SciPy or
Pillow, so ``convcli shape`` starts fast.
"""

# No `from __future__ import annotations` here: Typer reads the command's signature on
# every run, and string annotations made it compile and eval each one twice (~3 ms of
# `convcli shape`'s start-up, issue 14); written ones are evaluated once, at import.
from typing import Annotated, Literal

import typer

from convcli.commands import options
from convcli.errors import SpecError
from convcli.render import OutputFormat

EPILOG = """\
[bold]Examples[/]

  convcli shape 3x12x12 -k 5 -c 256              [dim]# 256x8x8, 19,456 parameters[/]

  convcli shape 224 -k 3 -s 2 -p same            [dim]# TF SAME: 112, pads 0,1,0,1[/]

  convcli shape 3x224x224 conv:64,k=7,s=2,p=3 maxpool:k=3,s=2,p=1 conv:128,k=3,p=1

  convcli shape 64x16x16 deconv:32,k=4,s=2,p=1   [dim]# 32x32x32[/]

  convcli shape 3x224x224 --net samples/resnet_stem.net --format json

  convcli shape 3x224x224 --preset mobilenet_v1  [dim]# 568,740,352 MACs, 4,210,088 params[/]

  convcli shape --preset mobilenet_v1 --width-mult 0.5 --resolution 160

  convcli shape 224 -k 7 -s 2 --target 112       [dim]# which paddings give 112?[/]

  convcli shape 3x224x224 -k 3 -s 2 -p 1 -c 64 --expect 64x112x112   [dim]# CI check[/]

  x=$(convcli shape 3x224x224 -k 7 -s 2 -p 3 -c 64 --format plain)   [dim]# 64x112x112[/]

  convcli shape --preset resnet50 --depth 1       [dim]# 25,557,032 params, as torchvision[/]

  convcli shape 8x8x8 tag:x conv:8,k=3,p=1,bn,act=relu add:x

  convcli shape model.onnx       [dim]# an ONNX model: pip install 'convcli\\[onnx]'[/]

  convcli shape 3x320x320 model.onnx --to-net model.net   [dim]# as words, re-sized[/]

LAYER words: TYPE[:ARG,...], TYPE one of conv, dwconv, pwconv, sepconv,
deconv, maxpool, avgpool, gap, flatten, fc; the first bare ARG is out
channels (units for fc), then k= s= p= d= g= bias= ceil= op= dm= bn act=.

Networks: tag:NAME from:NAME add:NAME cat:NAME mul:NAME out:NAME,
repeat:N ... end, def:NAME,P ... end (words use %P), use:NAME,VALUE;
bn ln gn:G relu relu6 silu gelu sigmoid hswish dropout up:2 shuffle:2
pad:T,B,L,R crop:NAME se:SQ; conv1d conv3d ...; tokens cls posemb
attn:H mlp:N head:N. Presets: resnet18 resnet50 mobilenet_v2
efficientnet_b0 densenet121 vgg16_bn unet r3d_18 vit_b_16, and lenet5
alexnet vgg16 mobilenet_v1. The README describes the language.
"""


# --op and --dtype are Literal choices, not Enums: Typer offers and checks them alike, and
# an Enum class costs ~0.2 ms to create on every run (issue 14).
#: ``--op``: the kind of the single layer built from options.
Op = Literal["conv", "dwconv", "pwconv", "sepconv", "deconv", "maxpool", "avgpool"]
#: ``--dtype``: the activation element type, for memory.
Dtype = Literal["float32", "float16", "bfloat16", "float64", "int8", "uint8"]


def shape(
    input_size: Annotated[
        str | None,
        typer.Argument(
            metavar="INPUT",
            help=(
                "Input size: 224 (H=W), 224x160 (HxW), 3x224x224 (CxHxW), 8x3x224x224 (NxCxHxW), "
                "768f (features), 197x768t (tokens). May be left out when the net file or "
                "preset has an input."
            ),
            show_default=False,
        ),
    ] = None,
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="LAYER",
            autocompletion=options.complete_layer,
            help="Layers and network words, left to right: conv:64,k=3,s=2,p=1 maxpool:k=2 ...",
            show_default=False,
        ),
    ] = None,
    kernel: options.Kernel = None,
    stride: options.Stride = None,
    padding: options.Padding = None,
    dilation: options.Dilation = None,
    groups: Annotated[
        int | None,
        typer.Option(
            "-g",
            "--groups",
            help="Groups (conv, pwconv, deconv). Default 1.",
            rich_help_panel=options.LAYER,
            show_default=False,
        ),
    ] = None,  # fmt: skip
    out_channels: options.OutChannels = None,
    op: Annotated[
        Op, typer.Option("--op", help="Kind of layer.", rich_help_panel=options.LAYER)
    ] = "conv",
    ceil_mode: options.CeilMode = False,
    no_bias: options.NoBias = False,
    output_padding: options.OutputPadding = None,
    depth_multiplier: options.DepthMultiplier = None,
    net: options.Net = None,
    preset: options.Preset = None,
    width_mult: options.WidthMult = None,
    resolution: options.Resolution = None,
    channels_last: options.ChannelsLast = False,
    dtype: Annotated[
        Dtype,
        typer.Option(
            "--dtype", help="Activation type, for memory.", rich_help_panel=options.NETWORK
        ),
    ] = "float32",  # fmt: skip
    count_elementwise: Annotated[
        bool,
        typer.Option(
            "--count-elementwise",
            rich_help_panel=options.NETWORK,
            help="Count norms', activations' and merges' element operations as MACs "
            "(ptflops's and fvcore's habit). Default: listed apart, as torchvision "
            "counts.",
        ),
    ] = False,  # fmt: skip
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            metavar="SHAPE",
            rich_help_panel=options.CHECKS,
            show_default=False,
            help="Exit 1 unless the final shape is SHAPE (e.g. 64x56x56); one per "
            "output, comma-separated, for several outputs.",
        ),
    ] = None,  # fmt: skip
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="SIZE",
            rich_help_panel=options.CHECKS,
            show_default=False,
            help="List the paddings (and strides, without -s) that give this output "
            "size (112 or 112x56) for -k and -d, in PyTorch and TensorFlow terms.",
        ),
    ] = None,  # fmt: skip
    strict: options.Strict = False,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            min=1,
            rich_help_panel=options.OUTPUT,
            show_default=False,
            help="Show N levels of blocks: 1 = the top-level words and one row per "
            "top-level use: or repeat iteration (torchinfo's depth); totals are "
            "unchanged.",
        ),
    ] = None,  # fmt: skip
    to_net: Annotated[
        str | None,
        typer.Option(
            "--to-net",
            metavar="FILE",
            rich_help_panel=options.OUTPUT,
            show_default=False,
            help="Write the network as a net file (- for stdout, instead of the report): "
            "an ONNX model as convcli's words, to edit and re-size as text.",
        ),
    ] = None,  # fmt: skip
    force: Annotated[
        bool,
        options.shared_option(
            "force", help="Replace an existing --to-net file.", panel=options.OUTPUT
        ),
    ] = False,
    output_format: options.Format = OutputFormat.table,
) -> None:
    """Sizes, parameters, MACs and receptive field of layers, exactly as PyTorch.

    Sizes, parameters, MACs/FLOPs, receptive field and activation memory of a layer, a
    chain, or a whole network with branches, computed exactly as PyTorch does.

    Give one layer with options (-k 3 -s 2 -p 1 -c 64), or LAYER words, or --net FILE,
    or --preset NAME. Every report shows the pads applied on each side and flags layers
    where floor division drops input rows or columns.
    """
    from convcli.geometry import DTYPE_BYTES, check_expected, read_expected
    from convcli.layers import LayerOptions, parse_size, target_report
    from convcli.network import Source, analyze_network
    from convcli.render import shape as render

    if expect is not None:
        read_expected(expect)  # a typo in --expect is refused before the report is printed
    if to_net is not None:
        from convcli.onnx_net import check_net_target

        check_net_target(to_net)
    layer = LayerOptions(
        op, kernel, stride, padding, dilation, groups, out_channels, output_padding,
        depth_multiplier, ceil_mode, no_bias,
    )  # fmt: skip
    if target is not None:
        if words or net is not None or input_size is None:
            raise SpecError(
                "--target works on one layer given with options (-k, -d, -s) and an INPUT size"
                if input_size is not None
                else "missing INPUT size (e.g. 224 or 3x224x224)"
            )
        if to_net is not None or expect is not None:  # they would be ignored
            given = "--to-net" if to_net is not None else "--expect"
            raise SpecError(
                f"--target lists the settings that give a size; {given} is for a network"
            )
        answer = target_report(parse_size(input_size, channels_last), target, layer)
        render.render_targets(answer, output_format)
        return
    source = Source(tuple(words or ()), net, preset, width_mult,
                    layer.to_layer() if layer.given() else None, input_size, channels_last,
                    resolution)  # fmt: skip
    network, inputs, notes = loaded = source.load()  # once: --to-net writes what was sized
    report = analyze_network(network, inputs, DTYPE_BYTES[dtype], count_elementwise, notes)
    if to_net is not None:  # only a network that sizes (and meets --expect) is written
        from convcli.onnx_net import write_net

        if expect is not None:
            check_expected(report, expect, channels_last)
        write_net(source, to_net, force=force, loaded=loaded)
        if to_net == "-":
            return
    square_input = input_size is not None and input_size.strip().isdigit()
    render.render_report(report, output_format, channels_last, square_input, depth)
    if expect is not None:
        check_expected(report, expect, channels_last)
    options.check_strict(strict, len(report.warnings) + len(report.notes))
