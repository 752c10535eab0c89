"""``convcli shape``: output size, parameters, MACs/FLOPs and receptive field of layers.

This module imports only Typer and the pure-Python :mod:`convcli.geometry` and
:mod:`convcli.layers` (Rich comes in with the renderer), so ``convcli shape`` starts
without NumPy, SciPy or Pillow.

The layers come from one function, :func:`layers_from` (LAYER words, ``--net``, or the
single-layer options gathered in :class:`LayerOptions`); a new source of layers (such as
``--preset``) is one more branch there and one more option below.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from convcli.errors import ConvcliError, SpecError
from convcli.geometry import DTYPE_BYTES, ChainReport, Layer, Shape, target_options
from convcli.layers import KEYS, parse_padding, parse_pair, parse_size
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

_LAYER = "One layer (instead of LAYER words)"
_CHAIN = "Chain"
_CHECKS = "Checks"
_OUTPUT = "Output"


class Op(str, Enum):
    """``--op``: the kind of the single layer built from options."""

    conv = "conv"
    dwconv = "dwconv"
    pwconv = "pwconv"
    sepconv = "sepconv"
    deconv = "deconv"
    maxpool = "maxpool"
    avgpool = "avgpool"


class Dtype(str, Enum):
    """``--dtype``: the activation element type, for memory."""

    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"
    uint8 = "uint8"


@dataclass(frozen=True)
class LayerOptions:
    """The single-layer options of ``convcli shape`` (``-k -s -p -d -g -c --op ...``)."""

    op: Op = Op.conv
    kernel: str | None = None
    stride: str | None = None
    padding: str | None = None
    dilation: str | None = None
    groups: int | None = None
    out_channels: int | None = None
    output_padding: str | None = None
    depth_multiplier: int | None = None
    ceil_mode: bool = False
    no_bias: bool = False

    #: option spelling -> LAYER key, to say which options a kind takes
    _OPTION_KEYS = (
        ("-s/--stride", "stride", "s"),
        ("-p/--padding", "padding", "p"),
        ("-d/--dilation", "dilation", "d"),
        ("-g/--groups", "groups", "g"),
        ("--output-padding", "output_padding", "op"),
        ("--depth-multiplier", "depth_multiplier", "dm"),
        ("--ceil-mode", "ceil_mode", "ceil"),
        ("--no-bias", "no_bias", "bias"),
    )

    def given(self) -> bool:
        """Whether any layer option was given (``--op`` alone counts)."""
        return self.op != Op.conv or any(
            getattr(self, option.name) not in (None, False)
            for option in fields(self)
            if option.name != "op"
        )

    def to_layer(self) -> Layer:
        """The one layer these options describe (its word is the canonical LAYER word)."""
        kind = self.op.value
        for option, attribute, key in self._OPTION_KEYS:
            if getattr(self, attribute) not in (None, False) and key not in KEYS[kind]:
                raise SpecError(f"{option} does not apply to --op {kind}")
        if self.kernel is None and kind != "pwconv":
            raise SpecError(f"missing -k/--kernel: the kernel size of the {kind} (e.g. -k 3)")
        if kind == "pwconv" and self.kernel is not None and self.kernel.strip() not in ("1", "1x1"):
            raise SpecError(f"-k/--kernel must be 1 for --op pwconv, got {self.kernel}")
        values: dict[str, object] = {}
        if self.kernel is not None:
            values["kernel"] = parse_pair(self.kernel, "-k/--kernel")
        if kind == "pwconv":
            values["kernel"] = (1, 1)
        if self.stride is not None:
            values["stride"] = parse_pair(self.stride, "-s/--stride")
        if self.padding is not None:
            values["padding"] = parse_padding(self.padding, "-p/--padding: ")
        if self.dilation is not None:
            values["dilation"] = parse_pair(self.dilation, "-d/--dilation")
        if self.output_padding is not None:
            values["output_padding"] = parse_pair(self.output_padding, "--output-padding")
        if self.groups is not None:
            values["groups"] = self.groups
        if self.depth_multiplier is not None:
            values["depth_multiplier"] = self.depth_multiplier
        layer = Layer(
            kind,
            out_channels=self.out_channels,
            ceil_mode=self.ceil_mode,
            bias=not self.no_bias,
            **values,  # type: ignore[arg-type]
        )
        return replace(layer, word=layer.to_word())


def looks_like_size(text: str) -> bool:
    """Sizes start with a digit; LAYER words with a letter."""
    return text.strip()[:1].isdigit()


def _expected_dims(text: str) -> list[int]:
    cleaned = text.strip().lower()
    parts = cleaned.rstrip("tf").split("x")
    if not all(part.isdigit() for part in parts):
        raise SpecError(f"--expect must be a shape such as 64x56x56, got {text!r}")
    return [int(part) for part in parts]


def shape(
    input_size: Annotated[
        str | None,
        typer.Argument(
            metavar="INPUT",
            help=(
                "Input size: 224 (H=W), 224x160 (HxW), 3x224x224 (CxHxW), 8x3x224x224 (NxCxHxW). "
                "May be left out when the net file has an 'input SIZE' line."
            ),
            show_default=False,
        ),
    ] = None,
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="LAYER",
            help="Layers, applied left to right: conv:64,k=3,s=2,p=1 maxpool:k=2 fc:10 ...",
            show_default=False,
        ),
    ] = None,
    kernel: Annotated[
        str | None,
        typer.Option("-k", "--kernel", help="Kernel size: 3 or 5x3 (HxW).", rich_help_panel=_LAYER),
    ] = None,
    stride: Annotated[
        str | None,
        typer.Option(
            "-s",
            "--stride",
            help="Stride: 2 or 2x1. Default 1; the kernel for pools.",
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    padding: Annotated[
        str | None,
        typer.Option(
            "-p",
            "--padding",
            help=(
                "Padding: 1, 2x1 (HxW), top,bottom,left,right, valid, or same (TensorFlow's: "
                "out = ceil(in/stride), the odd pixel bottom/right). Default 0."
            ),
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    dilation: Annotated[
        str | None,
        typer.Option(
            "-d",
            "--dilation",
            help="Dilation: 2 or 2x1. Default 1.",
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    groups: Annotated[
        int | None,
        typer.Option(
            "-g",
            "--groups",
            help="Groups (conv, pwconv, deconv). Default 1.",
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    out_channels: Annotated[
        int | None,
        typer.Option(
            "-c",
            "--out-channels",
            help="Output channels. Default: the input's channel count.",
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    op: Annotated[
        Op,
        typer.Option("--op", help="Kind of layer.", rich_help_panel=_LAYER),
    ] = Op.conv,
    ceil_mode: Annotated[
        bool,
        typer.Option(
            "--ceil-mode",
            help="Pools: round the output size up (PyTorch's ceil_mode).",
            rich_help_panel=_LAYER,
        ),
    ] = False,
    no_bias: Annotated[
        bool,
        typer.Option("--no-bias", help="Convolutions without bias.", rich_help_panel=_LAYER),
    ] = False,
    output_padding: Annotated[
        str | None,
        typer.Option(
            "--output-padding",
            help="deconv: extra rows/columns at the bottom/right "
            "(must be < max(stride, dilation)).",
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    depth_multiplier: Annotated[
        int | None,
        typer.Option(
            "--depth-multiplier",
            help="dwconv/sepconv: output channels per input channel.",
            rich_help_panel=_LAYER,
            show_default=False,
        ),
    ] = None,
    net: Annotated[
        Path | None,
        typer.Option(
            "--net",
            help="A net file: LAYER words, one layer per line, # comments, optional 'input SIZE'.",
            rich_help_panel=_CHAIN,
            show_default=False,
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="A published network: resnet50, mobilenet_v2, unet, vit_b_16, ... (see below; "
            "INPUT optional).",
            rich_help_panel=_CHAIN,
            show_default=False,
        ),
    ] = None,
    width_mult: Annotated[
        float | None,
        typer.Option(
            "--width-mult",
            help="MobileNet's width multiplier alpha (1, 0.75, 0.5, 0.25 in the paper).",
            rich_help_panel=_CHAIN,
            show_default=False,
        ),
    ] = None,
    resolution: Annotated[
        int | None,
        typer.Option(
            "--resolution",
            help="Set the input's height and width (MobileNet's rho: 224, 192, 160, 128).",
            rich_help_panel=_CHAIN,
            show_default=False,
        ),
    ] = None,
    channels_last: Annotated[
        bool,
        typer.Option(
            "--channels-last",
            help="Read INPUT (and print shapes) as HxWxC, TensorFlow's order: 224x224x3.",
            rich_help_panel=_CHAIN,
        ),
    ] = False,
    dtype: Annotated[
        Dtype,
        typer.Option("--dtype", help="Activation type, for memory.", rich_help_panel=_CHAIN),
    ] = Dtype.float32,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            metavar="SHAPE",
            help="Exit 1 unless the final shape is SHAPE (e.g. 64x56x56).",
            rich_help_panel=_CHECKS,
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="SIZE",
            help=(
                "List the paddings (and strides, without -s) that give this output size (112 "
                "or 112x56) for -k and -d, in PyTorch and TensorFlow terms."
            ),
            rich_help_panel=_CHECKS,
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 1 when there is any warning or note (dropped rows, ambiguous input).",
            rich_help_panel=_CHECKS,
        ),
    ] = False,
    count_elementwise: Annotated[
        bool,
        typer.Option(
            "--count-elementwise",
            help="Count norms', activations' and merges' element operations as MACs "
            "(ptflops's and fvcore's habit). Default: listed apart, as torchvision counts.",
            rich_help_panel=_CHAIN,
        ),
    ] = False,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            min=1,
            help="Show N levels of blocks: 1 = the top-level words and one row per top-level "
            "use: or repeat iteration (torchinfo's depth); totals are unchanged.",
            rich_help_panel=_OUTPUT,
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="table, json, csv, or plain (the final shape only, for $(...)).",
            rich_help_panel=_OUTPUT,
        ),
    ] = OutputFormat.table,
) -> None:
    """Output size, parameters, MACs and receptive field of layers, exactly as PyTorch.

    Sizes, parameters, MACs/FLOPs, receptive field and activation memory of a layer or
    a chain of layers, computed exactly as PyTorch does.

    Give one layer with options (-k 3 -s 2 -p 1 -c 64), or a chain of LAYER words, or
    --net FILE. Every report shows the pads applied on each side and flags layers where
    floor division drops input rows or columns.
    """
    from convcli.render import shape as render

    words = list(words or [])
    if input_size is not None and not looks_like_size(input_size):
        words.insert(0, input_size)  # no INPUT: the net file must give it
        input_size = None
    options = LayerOptions(
        op=op,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        out_channels=out_channels,
        output_padding=output_padding,
        depth_multiplier=depth_multiplier,
        ceil_mode=ceil_mode,
        no_bias=no_bias,
    )
    if target is not None:
        input_shape = parse_size(input_size, channels_last) if input_size is not None else None
        if input_shape is None:
            raise SpecError("missing INPUT size (e.g. 224 or 3x224x224)")
        if words or net is not None:
            raise SpecError("--target works on one layer given with options (-k, -d, -s)")
        render.render_targets(target_report(input_shape, target, options), output_format)
        return

    from convcli.network import analyze_network, load_network, resolve_inputs

    layer = options.to_layer() if options.given() else None
    network = load_network(words, net, preset, width_mult, layer)
    inputs, notes = resolve_inputs(network, input_size, channels_last)
    if resolution is not None and inputs:
        from convcli.presets import with_resolution

        first = next(iter(inputs))
        inputs[first] = with_resolution(inputs[first], resolution)
    report = analyze_network(network, inputs, DTYPE_BYTES[dtype.value], count_elementwise, notes)
    square_input = input_size is not None and input_size.strip().isdigit()
    render.render_report(report, output_format, channels_last, square_input, depth)
    if expect is not None:
        check_expected(report, expect, channels_last)
    if strict and (report.warnings or report.notes):
        raise ConvcliError(
            f"--strict: {len(report.warnings) + len(report.notes)} warning(s) or note(s) above"
        )


def check_expected(report: ChainReport, expect: str, channels_last: bool = False) -> None:
    """Raise :class:`ConvcliError` (exit 1) unless the outputs have the ``--expect``
    shapes: one per output, separated by commas, in the order of ``out:``.

    The batch may be left out of SHAPE; a channel-less output also matches ``1xHxW``.
    """
    wanted = [text for text in expect.split(",") if text.strip()]
    outputs = list(report.outputs.items()) or [("output", report.output)]
    if len(wanted) != len(outputs):
        raise ConvcliError(
            f"--expect gives {len(wanted)} shape(s), the network has {len(outputs)} output(s) "
            f"({', '.join(name for name, _ in outputs)})"
        )
    for (name, output), text in zip(outputs, wanted, strict=True):
        if not matches(output, text, channels_last):
            label = f" for output {name!r}" if len(outputs) > 1 else ""
            raise ConvcliError(
                f"expected shape {text.strip()}{label}, got {output.format(channels_last)}"
            )


def matches(output: Shape, expect: str, channels_last: bool = False) -> bool:
    """Whether ``output`` is the shape ``expect`` (batch optional; ``1xHxW`` for a
    channel-less map)."""
    wanted = _expected_dims(expect)
    got = output.format(channels_last).rstrip("t")
    candidates = [[int(d) for d in got.split("x")]]
    if output.batch is not None:
        candidates.append(candidates[0][1:])
    if output.channels is None and not output.is_flat:
        candidates.append([1, *candidates[0]] if not channels_last else [*candidates[0], 1])
        if output.height == output.width:
            candidates.append([output.height])  # type: ignore[list-item]
    return wanted in candidates


@dataclass(frozen=True)
class TargetReport:
    """``--target``: the options per axis (one entry when both axes agree)."""

    input: Shape
    target: tuple[int, int]
    kernel: tuple[int, int]
    dilation: tuple[int, int]
    kind: str
    axes: list[tuple[str, list]]  # ("h"/"w"/"h,w", [TargetOption, ...])


def target_report(input_shape: Shape, target: str, options: LayerOptions) -> TargetReport:
    """Solve ``--target`` for the single layer the options describe."""
    if options.kernel is None and options.op != Op.pwconv:
        raise SpecError("--target needs -k/--kernel")
    if options.padding is not None:
        raise SpecError("--target finds the padding: leave out -p/--padding")
    if input_shape.is_flat:
        raise SpecError("--target needs a spatial INPUT")
    try:
        target_pair = parse_pair(target, "--target")
    except SpecError:
        raise SpecError(f"--target must be a size such as 112 or 112x56, got {target!r}") from None
    if min(target_pair) < 1:
        raise SpecError(f"--target must be >= 1, got {target}")
    kernel = parse_pair(options.kernel, "-k/--kernel") if options.kernel else (1, 1)
    dilation = parse_pair(options.dilation, "-d/--dilation") if options.dilation else (1, 1)
    stride = parse_pair(options.stride, "-s/--stride") if options.stride else None
    for name, values in (("kernel", kernel), ("dilation", dilation), ("stride", stride or (1, 1))):
        if min(values) < 1:
            raise SpecError(f"{name} must be >= 1, got {min(values)}")
    kind = options.op.value if options.op.value in ("deconv", "maxpool", "avgpool") else "conv"
    if kind == "avgpool" and dilation != (1, 1):
        raise SpecError(
            f"avgpool takes no dilation (PyTorch's AvgPool2d has none), got -d {options.dilation}"
        )
    sizes = (input_shape.height, input_shape.width)
    per_axis = []
    for axis in range(2):
        per_axis.append(
            target_options(
                sizes[axis],
                target_pair[axis],
                kernel[axis],
                dilation[axis],
                None if stride is None else stride[axis],
                kind,
                options.ceil_mode,
            )
        )
    if per_axis[0] == per_axis[1]:
        axes = [("h,w", per_axis[0])]
    else:
        axes = [("h", per_axis[0]), ("w", per_axis[1])]
    if not all(found for _, found in axes):
        missing = [name for name, found in axes if not found]
        raise ConvcliError(
            f"no padding{'' if stride else ' or stride'} gives {target} from "
            f"{input_shape.height}x{input_shape.width} with kernel {options.kernel}"
            f"{f', dilation {options.dilation}' if options.dilation else ''}"
            f"{f', stride {options.stride}' if options.stride else ''} "
            f"(axis {', '.join(missing)})"
        )
    return TargetReport(input_shape, target_pair, kernel, dilation, kind, axes)
