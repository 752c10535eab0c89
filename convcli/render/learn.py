"""Rendering for ``convcli learn``: the recovered kernel and its report, and GD progress.

Formats: ``table`` (Rich), ``plain`` (a kernel file: facts as ``#`` comments, then the
rows, so ``convcli learn ... > k.txt`` gives a file ``apply -k @k.txt`` reads), ``json``
(a stable schema, full-precision values next to the rounded ones) and ``csv`` (one row).
Loss lines and the progress bar go to stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convcli.numbers import json_nested, json_number
from convcli.render import (
    CsvTable,
    OutputFormat,
    ResultView,
    render,
    stderr_console,
    stdout_console,
)

if TYPE_CHECKING:
    import numpy as np

    from convcli.learn import FitContext, KernelFit

LONG_RUN_STEPS = 200_000
"""Gradient-descent runs with at least this many pixel steps get a progress bar."""


# --------------------------------------------------------------------------------------------
# Numbers and words
# --------------------------------------------------------------------------------------------


def format_value(value: float, decimals: int) -> str:
    """``value`` to ``decimals`` places, trailing zeros dropped, ``-0`` as ``0``.

    >>> format_value(-0.9999999, 6), format_value(0.0751136, 6), format_value(-1e-9, 6)
    ('-1', '0.075114', '0')
    """
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _short(value: float) -> str:
    """A residual or a condition number in 4 significant digits."""
    if value != value or value in (float("inf"), float("-inf")):
        return "inf"
    return f"{value:.4g}"


def conditioning_verdict(condition_number: float) -> str:
    """A word for a condition number of the column-scaled design matrix.

    >>> conditioning_verdict(2.2), conditioning_verdict(500), conditioning_verdict(1e6)
    ('well-conditioned', 'fairly conditioned', 'ill-conditioned')
    """
    if condition_number == float("inf"):
        return "singular"
    if condition_number < 100:
        return "well-conditioned"
    if condition_number < 1e4:
        return "fairly conditioned"
    return "ill-conditioned"


def _padding_words(fit: KernelFit) -> str:
    top, bottom, left, right = fit.pads
    kernel_height, kernel_width = fit.kernel_size
    text = f"{top},{bottom},{left},{right}"
    same = (
        (kernel_height - 1) // 2,
        kernel_height // 2,
        (kernel_width - 1) // 2,
        kernel_width // 2,
    )
    if fit.pads == (0, 0, 0, 0):
        return f"{text} (valid)"
    if fit.pads == same:
        return f"{text} (same)"
    if fit.pads == (kernel_height - 1,) * 2 + (kernel_width - 1,) * 2:
        return f"{text} (full)"
    return text


def _size_text(size: tuple[int, ...]) -> str:
    return "x".join(str(item) for item in size)


def _channel_blocks(fit: KernelFit, kernel: np.ndarray) -> list[np.ndarray]:
    return list(kernel) if fit.per_channel else [kernel]


def _cells(matrix: np.ndarray, decimals: int) -> list[list[str]]:
    """Rounded values as text: integers when all are, else the same decimals for all."""
    import numpy as np

    if np.all(matrix == np.round(matrix)):
        return [[format_value(float(value), 0) for value in row] for row in matrix]
    return [[f"{float(value) + 0.0:.{decimals}f}" for value in row] for row in matrix]


def _rows_text(matrix: np.ndarray, decimals: int, separator: str = " ") -> list[str]:
    cells = _cells(matrix, decimals)
    if separator != " ":
        return [separator.join(row) for row in cells]
    width = max(len(cell) for row in cells for cell in row)
    return [" ".join(cell.rjust(width) for cell in row) for row in cells]


def _bias_text(fit: KernelFit) -> str:
    bias = fit.rounded_bias()
    if bias is None:
        return "none"
    if isinstance(bias, float):
        return format_value(bias, fit.decimals)
    return ",".join(format_value(float(value), fit.decimals) for value in bias)


def _apply_hint(fit: KernelFit, saved: str) -> str:
    hint = f"apply -k @{saved}" if not saved.endswith(".npy") else f"apply -k {saved}"
    if fit.bias is not None:
        hint += f" --bias {_bias_text(fit)}"
    return hint


def fact_lines(
    fit: KernelFit,
    context: FitContext,
    saved: str | None = None,
) -> list[tuple[str, str]]:
    """The report as (label, text) pairs, shared by the table and the plain format.

    Parameters
    ----------
    fit : KernelFit
    context : FitContext
        Units, what was left out and the ``--map`` read with.
    saved : str, optional
        The ``--save`` file written.
    """
    if fit.per_channel:
        sharing = f", one per channel ({fit.channels})"
    else:
        sharing = f", one shared by {fit.channels} channels" if fit.channels > 1 else ""
    lines = [
        ("kernel", f"{_size_text(fit.kernel_size)}{sharing}, cross-correlation orientation"),
        *(
            [
                (
                    "size search",
                    ", ".join(f"{_size_text(size)} {outcome}" for size, outcome in fit.searched),
                )
            ]
            if fit.searched
            else []
        ),
        ("bias", _bias_text(fit)),
        ("padding", _padding_words(fit)),
        ("border", fit.border if fit.pads != (0, 0, 0, 0) else "none needed (no padding)"),
    ]
    if fit.method == "gd":
        start, end = fit.losses[0][1], fit.losses[-1][1]
        lines.append(
            (
                "method",
                f"gradient descent, {len(fit.losses) - 1} epochs: loss (mean squared error) "
                f"{_short(start)} -> {_short(end)}",
            )
        )
    else:
        lines.append(("method", "linear least squares"))
    if fit.fits:
        verdict = "fits"
    elif fit.method == "gd":
        verdict = "above tolerance (not converged: more epochs, or --method lstsq)"
    else:
        verdict = "DOES NOT FIT"
    lines.append(
        (
            "residual",
            f"RMSE {_short(fit.rmse)}, max error {_short(fit.max_error)} "
            f"(in {context.units}; tolerance {_short(fit.tolerance)}): {verdict}",
        )
    )
    lines.append(
        (
            "conditioning",
            f"condition number {_short(fit.condition_number)} "
            f"({conditioning_verdict(fit.condition_number)}), rank {fit.rank} of {fit.unknowns}",
        )
    )
    if fit.method == "lstsq":
        lines.append(
            (
                "precision",
                f"standard error {_short(fit.stderr)}: shown to {fit.decimals} decimals",
            )
        )
    pixels = f"{fit.samples:,} fitted"
    if fit.excluded:
        pixels += f", {fit.excluded:,} left out ({context.excluded_reason or 'masked'})"
    if context.map_mode not in ("raw", "auto"):
        pixels += f"; TARGET read as --map {context.map_mode}"
    lines.append(("pixels", pixels))
    if saved is not None:
        lines.append(("saved", f"{saved} (use: convcli {_apply_hint(fit, saved)})"))
    return lines


def kernel_file_text(
    fit: KernelFit,
    separator: str = " ",
    comments: bool = True,
    *,
    facts: list[tuple[str, str]] | None = None,
) -> str:
    """The rounded kernel as text ``apply -k @FILE`` reads: rows on lines, ``#`` comments.

    A per-channel set is written as the layer it is, ``(C, C, kh, kw)``: output filter
    ``c`` holds channel ``c``'s kernel and zeros for the other channels, its blocks apart
    by blank lines and closed by a ``||`` line. Blocks alone would read back as one 3-D
    kernel summing over the channels.

    Parameters
    ----------
    fit : KernelFit
        The recovered kernel, rounded to its ``decimals``.
    separator : str
        Between the values of a row (``" "``: right-aligned columns).
    comments : bool
        Start with ``#`` lines: the facts, the bias and the per-channel warning.
    facts : list of (str, str), optional
        ``(label, text)`` lines from :func:`fact_lines`.
    """
    lines: list[str] = []
    if comments:
        lines.append("# recovered by convcli learn")
        for label, text in facts or []:
            lines.append(f"# {label}: {text}")
        if fit.bias is not None:
            lines.append(f"# bias {_bias_text(fit)}: apply adds it with --bias")
        if fit.per_channel:
            lines.append("# one kernel per channel, as a layer: filter c reads channel c alone")
    kernels = _channel_blocks(fit, fit.rounded_kernel())
    blocks = ["\n".join(_rows_text(kernel, fit.decimals, separator)) for kernel in kernels]
    if fit.per_channel:
        zeros = "\n".join(_rows_text(0 * kernels[0] + 0.0, 0, separator))  # no -0
        filters = [[block if c == j else zeros for j in range(len(blocks))] for c, block in
                   enumerate(blocks)]  # fmt: skip
        return "\n".join(lines + ["\n\n".join(f) + "\n||" for f in filters]) + "\n"
    return "\n".join(lines + ["\n\n".join(blocks)]) + "\n"


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


def fit_json(
    fit: KernelFit,
    context: FitContext,
    saved: str | None = None,
) -> dict[str, Any]:
    """The JSON document: stable keys, rounded and full-precision kernels, numbers by the
    one JSON policy (:func:`convcli.numbers.json_number`; the ``_full`` values and the
    condition number keep float64's digits).

    Parameters
    ----------
    fit : KernelFit
    context : FitContext
    saved : str, optional
        The ``--save`` file written.
    """
    bias = fit.rounded_bias()
    full_bias = fit.bias
    return {
        "kernel": json_nested(fit.rounded_kernel()),
        "kernel_full": json_nested(fit.kernel, None),
        "kernel_size": list(fit.kernel_size),
        "per_channel": fit.per_channel,
        "channels": fit.channels,
        "bias": None if bias is None else json_nested(bias),
        "bias_full": None if full_bias is None else json_nested(full_bias, None),
        "decimals": fit.decimals,
        "padding": list(fit.pads),
        "border": fit.border,
        "method": fit.method,
        "map": context.map_mode,
        "residual": {
            "rmse": json_number(fit.rmse),
            "max_error": json_number(fit.max_error),
            "tolerance": json_number(fit.tolerance),
            "units": context.units,
        },
        "fits": fit.fits,
        "conditioning": {
            "condition_number": json_number(fit.condition_number, None),
            "verdict": conditioning_verdict(fit.condition_number),
            "rank": fit.rank,
            "unknowns": fit.unknowns,
        },
        "standard_error": fit.stderr if fit.method == "lstsq" else None,
        "pixels": {
            "fitted": fit.samples,
            "excluded": fit.excluded,
            "excluded_reason": context.excluded_reason if fit.excluded else None,
        },
        "losses": [{"epoch": epoch, "loss": loss} for epoch, loss in fit.losses],
        "size_search": [{"size": list(size), "outcome": outcome} for size, outcome in fit.searched],
        "saved": saved,
    }


_CSV_HEADER = (
    "kernel_size",
    "kernel",
    "bias",
    "padding",
    "border",
    "method",
    "rmse",
    "max_error",
    "tolerance",
    "fits",
    "condition_number",
    "rank",
    "unknowns",
    "fitted",
    "excluded",
)


@dataclass(frozen=True)
class FitView(ResultView):
    """The recovered kernel and its report.

    ``plain`` is a kernel file (facts as ``#`` comments, then the rows), ``csv`` one row,
    ``json`` :func:`fit_json`.
    """

    fit: KernelFit
    context: FitContext
    saved: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return fit_json(self.fit, self.context, self.saved)

    def csv_table(self) -> CsvTable:
        fit = self.fit
        blocks = _channel_blocks(fit, fit.rounded_kernel())
        kernel_text = " | ".join(
            "; ".join(_rows_text(block, fit.decimals, ",")) for block in blocks
        )
        row = (
            _size_text(fit.kernel_size),
            kernel_text,
            "" if fit.bias is None else _bias_text(fit),
            ",".join(str(pad) for pad in fit.pads),
            fit.border,
            fit.method,
            repr(fit.rmse),
            repr(fit.max_error),
            repr(fit.tolerance),
            str(fit.fits).lower(),
            repr(fit.condition_number),
            fit.rank,
            fit.unknowns,
            fit.samples,
            fit.excluded,
        )
        return _CSV_HEADER, [row]

    def _facts(self) -> list[tuple[str, str]]:
        return fact_lines(self.fit, self.context, self.saved)

    def plain_lines(self) -> list[str]:
        return kernel_file_text(self.fit, facts=self._facts()).splitlines()

    def print_table(self) -> None:
        _render_table(self.fit, self._facts())


def render_fit(
    fit: KernelFit,
    output_format: OutputFormat,
    context: FitContext,
    saved: str | None = None,
) -> None:
    """Print the recovered kernel and its report to stdout in ``output_format``.

    Parameters
    ----------
    fit : KernelFit
        The recovered kernel.
    output_format : OutputFormat
        How to print it (:class:`FitView`).
    context : FitContext
        Units, what was left out and the ``--map`` read with.
    saved : str, optional
        The ``--save`` file written.
    """
    render(FitView(fit, context, saved), output_format)


def _render_table(fit: KernelFit, facts: list[tuple[str, str]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()
    method = "least squares" if fit.method == "lstsq" else "gradient descent"
    for index, block in enumerate(_channel_blocks(fit, fit.rounded_kernel())):
        title = f"Recovered {_size_text(fit.kernel_size)} kernel ({method})"
        if fit.per_channel:
            title += f", channel {index + 1}"
        console.print(Text(title, style="bold"))
        grid = Table(box=box.SIMPLE, show_header=False)
        for _ in range(fit.kernel_size[1]):
            grid.add_column(justify="right")
        for row in _cells(block, fit.decimals):
            grid.add_row(*row)
        console.print(grid)
    report = Table(box=box.SIMPLE, show_header=False)
    report.add_column(style="bold")
    report.add_column()
    for label, text in facts:
        style = "red" if label == "residual" and not fit.fits else None
        report.add_row(label, Text(text, style=style or ""))
    console.print(report)


# --------------------------------------------------------------------------------------------
# Gradient-descent progress
# --------------------------------------------------------------------------------------------


class DescentProgress:
    """Loss lines every few epochs on stderr, and a Rich bar for long runs on a terminal.

    The loss is printed at the start (epoch 0), every ``max(1, epochs // 5)`` epochs (every
    2 of 10, as the seed prints them) and at the last epoch.
    """

    def __init__(self, epochs: int, *, quiet: bool = False) -> None:
        self.epochs = epochs
        self.quiet = quiet
        self.every = max(1, epochs // 5)
        self._progress: Any = None
        self._task: Any = None

    def start(self, pixels_per_epoch: int) -> None:
        total = pixels_per_epoch * self.epochs
        if self.quiet or total < LONG_RUN_STEPS or not sys.stderr.isatty():
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=stderr_console(),
            transient=True,
        )
        self._task = self._progress.add_task("gradient descent", total=total)
        self._progress.start()

    def steps(self, count: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, count)

    def epoch(self, epoch: int, loss: float) -> None:
        if self.quiet:
            return
        if epoch in (0, self.epochs) or epoch % self.every == 0:
            width = len(str(self.epochs))
            line = f"epoch {epoch:>{width}}/{self.epochs}, loss {loss:.6g}"
            if self._progress is not None:
                self._progress.console.print(line, markup=False, highlight=False)
            else:
                sys.stderr.write(line + "\n")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
