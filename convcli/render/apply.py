"""Rendering for ``convcli apply``: matrix results as numbers, and the ``--explain`` notes.

NumPy is imported inside the functions (``--help`` must not pay for it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from convcli.render import OutputFormat, stdout_console

if TYPE_CHECKING:
    import numpy as np

    from convcli.batch import ApplyResult


def format_number(value: float) -> str:
    """One number as a person would write it: ``19``, ``-1``, ``0.5``, ``1e-20``.

    Whole numbers print without a decimal point (``-0`` as ``0``); others with the
    shortest float32 representation that reads back to the same value.

    Examples
    --------
    >>> [format_number(v) for v in (19.0, -0.0, 0.1, 2.5e-7, float("nan"))]
    ['19', '0', '0.1', '2.5e-07', 'nan']
    """
    import numpy as np

    if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(np.float32(value))


def json_number(value: float) -> int | float | None:
    """A number for JSON: whole numbers as ints, NaN/inf as null (JSON has no NaN)."""
    if not math.isfinite(value):
        return None
    if float(value).is_integer() and abs(value) < 1e16:
        return int(value)
    return float(f"{value:.9g}")  # float32 precision, without float64 noise


def _channels(values: np.ndarray) -> list[np.ndarray]:
    """(H, W) -> [it]; (C, H, W) -> its channels."""
    return [values] if values.ndim == 2 else list(values)


def matrix_text(values: np.ndarray, separator: str = " ") -> str:
    """Rows of numbers, each column right-aligned, channels separated by a blank line.

    Examples
    --------
    >>> import numpy as np
    >>> print(matrix_text(np.array([[19.0, 25.0], [37.0, 43.0]])), end="")
    19 25
    37 43
    >>> print(matrix_text(np.array([[1, -1, 0.5], [10, 2, 3]])), end="")
     1 -1 0.5
    10  2   3
    """
    blocks = []
    for channel in _channels(values):
        cells = [[format_number(float(v)) for v in row] for row in channel]
        if separator == ",":
            blocks.append("\n".join(",".join(row) for row in cells))
            continue
        widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=True)]
        blocks.append(
            "\n".join(
                separator.join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
                for row in cells
            )
        )
    return "\n\n".join(blocks) + "\n"


def matrix_json(values: np.ndarray) -> dict[str, Any]:
    """``{"shape": [...], "data": [...]}`` with whole numbers as ints."""

    def nested(array: Any) -> Any:
        if getattr(array, "ndim", 0) == 0:
            return json_number(float(array))
        return [nested(item) for item in array]

    return {"shape": list(values.shape), "data": nested(values)}


def print_matrix(values: np.ndarray, output_format: OutputFormat | None) -> None:
    """Print a matrix result on stdout in the chosen format (default: plain numbers)."""
    import sys

    if output_format in (None, OutputFormat.plain):
        sys.stdout.write(matrix_text(values))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(matrix_text(values, separator=","))
    elif output_format is OutputFormat.json:
        # One line: a matrix reads better as [[19, 25], [37, 43]] than one number per line.
        sys.stdout.write(json.dumps(matrix_json(values)) + "\n")
    else:
        _print_table(values)


def _print_table(values: np.ndarray) -> None:
    from rich.table import Table

    console = stdout_console()
    channels = _channels(values)
    for index, channel in enumerate(channels, start=1):
        title = f"channel {index}" if len(channels) > 1 else None
        table = Table(title=title, show_header=False, box=None, padding=(0, 1))
        for _ in range(channel.shape[1]):
            table.add_column(justify="right")
        for row in channel:
            table.add_row(*(format_number(float(v)) for v in row))
        console.print(table)


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


def explain_lines(result: ApplyResult) -> list[str]:
    """What ``--explain`` prints on stderr: per step, its operation, pads and algorithm."""
    lines = [f"input: {result.input} ({result.kind}, {_shape_text(result.in_shape)} as CxHxW)"]
    for report in result.reports:
        line = (
            f"step {report.index} '{report.text}': {report.operation}; "
            f"{_shape_text(report.in_shape)} -> {_shape_text(report.out_shape)}"
        )
        if report.pads is not None:
            top, bottom, left, right = report.pads
            line += (
                f"; pads top {top}, bottom {bottom}, left {left}, right {right} ({report.border})"
            )
        lines.append(line)
        for label, name, reason in report.algorithms:
            prefix = f"{label}: " if label else ""
            lines.append(f"  {prefix}algorithm {name}: {reason}")
    if result.strips:
        lines.append(
            f"strips: filtered in {result.strips} strips of rows, each read with the "
            "rows its kernels reach above and below (the same pixels as the whole at once)"
        )
    if result.map_reason:
        lines.append(f"map: {result.map_reason}")
    if result.output is not None:
        lines.append(f"output: {result.output} ({result.output_description})")
    if result.timings:
        phases = ", ".join(f"{name} {_ms(seconds)}" for name, seconds in result.timings.items())
        lines.append(f"time: {phases} (total {_ms(result.seconds)} after start-up)")
    return lines


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.2f} s"
