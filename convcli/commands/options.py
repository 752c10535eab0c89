"""Options shared by several commands, declared once (Typer's ``Annotated`` style).

Every alias defaults to ``None`` (or ``False``) in the command's signature, so "not
given" is visible; values stay text here and are parsed to typed values by the library,
with one message form naming the option (``-p/--padding: ...``). Help panels are shared
names so the commands' help pages group alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convcli.render import OutputFormat

LAYER = "Layer"
NETWORK = "Network"
CHECKS = "Checks"
OUTPUT = "Output"

Kernel = Annotated[
    str | None,
    typer.Option("-k", "--kernel", help="Kernel size: 3 or 5x3 (HxW).", rich_help_panel=LAYER,
                 show_default=False),
]  # fmt: skip
Stride = Annotated[
    str | None,
    typer.Option("-s", "--stride", help="Stride: 2 or 2x1. Default 1; the kernel for pools.",
                 rich_help_panel=LAYER, show_default=False),
]  # fmt: skip
Padding = Annotated[
    str | None,
    typer.Option(
        "-p", "--padding", rich_help_panel=LAYER, show_default=False,
        help="Padding: 1, 2x1 (HxW), top,bottom,left,right, valid, or same (TensorFlow's: "
        "out = ceil(in/stride), the odd pixel bottom/right). Default 0.",
    ),
]  # fmt: skip
Dilation = Annotated[
    str | None,
    typer.Option("-d", "--dilation", help="Dilation: 2 or 2x1. Default 1.", rich_help_panel=LAYER,
                 show_default=False),
]  # fmt: skip
OutChannels = Annotated[
    int | None,
    typer.Option("-c", "--out-channels", rich_help_panel=LAYER, show_default=False,
                 help="Output channels. Default: the input's channel count."),
]  # fmt: skip
DepthMultiplier = Annotated[
    int | None,
    typer.Option("--depth-multiplier", rich_help_panel=LAYER, show_default=False,
                 help="dwconv/sepconv: output channels per input channel (M)."),
]  # fmt: skip
OutputPadding = Annotated[
    str | None,
    typer.Option("--output-padding", metavar="N|HxW", rich_help_panel=LAYER, show_default=False,
                 help="deconv: extra rows/columns at the bottom/right "
                 "(must be < max(stride, dilation))."),
]  # fmt: skip
CeilMode = Annotated[
    bool,
    typer.Option("--ceil-mode", help="Pools: round the output size up (PyTorch's ceil_mode).",
                 rich_help_panel=LAYER),
]  # fmt: skip
NoBias = Annotated[
    bool,
    typer.Option("--no-bias", help="Convolutions without bias (batch norm follows).",
                 rich_help_panel=LAYER),
]  # fmt: skip
ChannelsLast = Annotated[
    bool,
    typer.Option("--channels-last", rich_help_panel=LAYER,
                 help="Read INPUT (and print shapes) as HxWxC, TensorFlow's order: 224x224x3."),
]  # fmt: skip
Net = Annotated[
    Path | None,
    typer.Option("--net", rich_help_panel=NETWORK, show_default=False,
                 help="A net file: LAYER and network words, # comments, 'input SIZE' lines."),
]  # fmt: skip
Preset = Annotated[
    str | None,
    typer.Option("--preset", rich_help_panel=NETWORK, show_default=False,
                 help="A published network: resnet50, mobilenet_v2, unet, vit_b_16, ... (INPUT "
                 "optional; the list is under Examples)."),
]  # fmt: skip
WidthMult = Annotated[
    float | None,
    typer.Option("--width-mult", rich_help_panel=NETWORK, show_default=False,
                 help="MobileNet v1's width multiplier alpha (1, 0.75, 0.5, 0.25 in the paper)."),
]  # fmt: skip
Resolution = Annotated[
    int | None,
    typer.Option("--resolution", rich_help_panel=NETWORK, show_default=False,
                 help="Set the input's height and width (MobileNet's rho: 224, 192, 160, 128)."),
]  # fmt: skip
Format = Annotated[
    OutputFormat,
    typer.Option("--format", rich_help_panel=OUTPUT,
                 help="table, json, csv, or plain (the final shape only, for $(...))."),
]  # fmt: skip


def first_given(given: dict[str, bool]) -> str | None:
    """The first option (by its spelling) that was given, for "X cannot be used with Y"
    refusals: ``first_given({"-k/--kernel": False, "-s/--stride": True})`` -> ``-s/--stride``."""
    return next((name for name, was_given in given.items() if was_given), None)
