"""Options shared by several commands, declared once (Typer's ``Annotated`` style).

Every alias defaults to ``None`` (or ``False``) in the command's signature, so "not
given" is visible; values stay text here and are parsed to typed values by the library,
with one message form naming the option (``-p/--padding: ...``). Help panels are shared
names so the commands' help pages group alike.
"""

# No `from __future__ import annotations`: Typer reads the signatures of the callbacks and
# completion functions below on every run that builds a command (typer.utils.
# get_params_from_function), and a string annotation is compiled and evaluated there each
# time (issue 14); written ones were evaluated once, at import.
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer
from typer.models import OptionInfo

from convcli.errors import ConvcliError
from convcli.render import OutputFormat

LAYER = "Layer"
NETWORK = "Network"
CHECKS = "Checks"
OUTPUT = "Output"

#: The spelling of every option more than one command takes, written once. A command whose
#: option needs its own help or panel (apply's -p speaks of steps, learn's of the filter it
#: recovers) builds it with shared_option(NAME, help, panel): same spelling, own words.
SharedName = Literal[
    "kernel", "stride", "padding", "dilation", "out_channels", "border", "format",
    "channels_last", "force", "quiet",
]  # fmt: skip
_SPELLINGS: dict[SharedName, tuple[str, ...]] = {
    "kernel": ("-k", "--kernel"),
    "stride": ("-s", "--stride"),
    "padding": ("-p", "--padding"),
    "dilation": ("-d", "--dilation"),
    "out_channels": ("-c", "--out-channels"),
    "border": ("--border",),
    "format": ("--format",),
    "channels_last": ("--channels-last",),
    "force": ("--force",),
    "quiet": ("-q", "--quiet"),
}


def shared_option(
    name: SharedName,
    help: str,
    panel: str,
    *,
    metavar: str | None = None,
    autocompletion: Callable[[str], list[tuple[str, str]]] | None = None,
) -> OptionInfo:
    """The ``typer.Option`` of a shared option: its one spelling, a command's help and panel.

    Parameters
    ----------
    name : SharedName
        Which option (``"padding"`` is ``-p/--padding``).
    help : str
        The help text, as the command explains the option.
    panel : str
        The help panel it is listed under.
    metavar : str or None
        The value's placeholder (``N|HxW``); None lets Typer name the type.
    autocompletion : callable or None
        Shell completion for the value (see ``complete_step``).

    Returns
    -------
    typer.models.OptionInfo
        For ``Annotated[TYPE, shared_option(...)]`` in a command's signature. The default is
        the signature's (``None`` or ``False``), so "not given" stays visible; a default of
        ``None`` is never printed, other defaults are (``[default: table]``).
    """
    return typer.Option(
        *_SPELLINGS[name],
        help=help,
        rich_help_panel=panel,
        metavar=metavar,
        autocompletion=autocompletion,
    )


# The layer options of shape, compare and draw, worded alike.
Kernel = Annotated[str | None, shared_option("kernel", "Kernel size: 3 or 5x3 (HxW).", LAYER)]
Stride = Annotated[
    str | None,
    shared_option("stride", "Stride: 2 or 2x1. Default 1; the kernel for pools.", LAYER),
]
Padding = Annotated[
    str | None,
    shared_option(
        "padding",
        "Padding: 1, 2x1 (HxW), top,bottom,left,right, valid, or same (TensorFlow's: "
        "out = ceil(in/stride), the odd pixel bottom/right). Default 0.",
        LAYER,
    ),
]
Dilation = Annotated[str | None, shared_option("dilation", "Dilation: 2 or 2x1. Default 1.", LAYER)]
OutChannels = Annotated[
    int | None,
    shared_option("out_channels", "Output channels. Default: the input's channel count.", LAYER),
]
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
    shared_option(
        "channels_last", "Read INPUT (and print shapes) as HxWxC, TensorFlow's order: 224x224x3.",
        LAYER,
    ),
]  # fmt: skip
Net = Annotated[
    Path | None,
    typer.Option("--net", rich_help_panel=NETWORK, show_default=False,
                 help="A net file: LAYER and network words, # comments, 'input SIZE' lines."),
]  # fmt: skip


# ---- shell completion ----------------------------------------------------------------------------
#
# Typer calls these only while completing (`_CONVCLI_COMPLETE=complete_bash convcli ...`), never
# on a normal run, so what they import costs start-up nothing. Enum options (--format, --border,
# --op, --map...) complete by themselves. Each returns (value, help) pairs.


def complete_preset(incomplete: str) -> list[tuple[str, str]]:
    """``--preset res`` -> the resnet presets."""
    from convcli.presets import preset_names

    return [(name, "preset") for name in preset_names() if name.startswith(incomplete)]


def _short_help(text: str, longest: int = 50) -> str:
    """A completion's help on one short line: Typer renders it at 80 columns, and a help
    that wraps gives fish a stray line, which it offers as a candidate."""
    text = text.split(": ")[0].split("; ")[0]
    if len(text) > longest:
        text = text[: longest - 3].rsplit(" ", 1)[0] + "..."
    return text


def complete_step(incomplete: str) -> list[tuple[str, str]]:
    """``-k gau`` -> ``gaussian`` (and every named kernel or pool that starts so). A step
    with arguments, a matrix or a ``@file`` is left to the shell's own completion."""
    if ":" in incomplete or (incomplete and not incomplete.replace("-", "").isalnum()):
        return []
    from convcli.kernels import catalogue

    return [
        (info.name, _short_help(info.description))
        for info in catalogue()
        if info.name.startswith(incomplete.lower())
    ]


#: Words of the network language that are not layer kinds (see convcli.network).
_NETWORK_WORDS = ("tag", "from", "out", "repeat", "end", "def", "use", "input")


def complete_layer(incomplete: str) -> list[tuple[str, str]]:
    """``shape 224 con`` -> ``conv``, ``conv1d``...: layer kinds and network words (a word
    already past its ``:`` is left alone)."""
    if ":" in incomplete:
        return []
    from convcli.geometry import KINDS, RANKED_KINDS

    words = [*KINDS, *(f"{kind}{rank}d" for kind in sorted(RANKED_KINDS) for rank in (1, 3))]
    words += _NETWORK_WORDS
    return [(word, "") for word in words if word.startswith(incomplete.lower())]


Preset = Annotated[
    str | None,
    typer.Option("--preset", rich_help_panel=NETWORK, show_default=False,
                 autocompletion=complete_preset,
                 help="A published network: resnet50, mobilenet_v2, unet, vit_b_16, ... (INPUT "
                 "optional; convcli shape --help lists them all)."),
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
    shared_option(
        "format", "table, json, csv, or plain (the final shape only, for $(...)).", OUTPUT
    ),
]


# ---- --strict ------------------------------------------------------------------------------------
#
# One mechanism for every command: the command counts the notes and warnings it told
# (check_strict), and the CLI's error boundary, which tells the warnings Python raised while
# the command worked (NumPy's overflow...) after it returns, asks strict_requested().

_strict_run = {"on": False}


def _remember_strict(value: bool) -> bool:
    _strict_run["on"] = bool(value)
    return value


def strict_requested() -> bool:
    """Whether this run was given ``--strict``."""
    return _strict_run["on"]


def forget_strict() -> None:
    """A new run (the CLI calls it first; tests run many in one process)."""
    _strict_run["on"] = False


def check_strict(strict: bool, count: int, *, shown: bool = True) -> None:
    """``--strict``: exit 1 when the command told ``count`` > 0 notes or warnings.

    >>> check_strict(True, 2)
    Traceback (most recent call last):
    convcli.errors.ConvcliError: --strict: 2 warning(s) or note(s) above
    """
    if strict and count:
        where = "above" if shown else "(not shown: -q/--quiet)"
        raise ConvcliError(f"--strict: {count} warning(s) or note(s) {where}")


Strict = Annotated[
    bool,
    typer.Option("--strict", callback=_remember_strict, rich_help_panel=CHECKS,
                 help="Exit 1 when there is any warning or note on stderr (dropped rows, "
                 "ambiguous input, lost precision...)."),
]  # fmt: skip


def refuse_terminal_stdout(output: str | None, file_format: str | None) -> None:
    """``-o -`` when stdout is a terminal and the data is binary (``file_format`` ``"png"``,
    ``"gif"``...; ``""`` when the input decides; None for text): it would garble the
    terminal, so it is refused before any work. Pipes and redirections are not terminals
    and pass."""
    import sys

    from convcli.errors import SpecError

    if output == "-" and file_format is not None and sys.stdout.isatty():
        data, target = (
            (f"{file_format.upper()} data", f"out.{file_format}")
            if file_format
            else ("binary data", "FILE")
        )
        raise SpecError(
            f"-o - writes {data} to stdout, which is a terminal: redirect it (> {target}), "
            "pipe it (| ...), or give -o FILE"
        )


def first_given(given: dict[str, bool]) -> str | None:
    """The first option (by its spelling) that was given, for "X cannot be used with Y"
    refusals: ``first_given({"-k/--kernel": False, "-s/--stride": True})`` -> ``-s/--stride``."""
    return next((name for name, was_given in given.items() if was_given), None)
