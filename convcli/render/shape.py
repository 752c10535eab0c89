"""Rendering for ``convcli shape``: the layer report and the ``--target`` answer.

Each result has its view (:class:`ReportView`, :class:`TargetView`) for the one
dispatcher, :func:`convcli.render.render`. Formats: ``table`` (Rich: one row per layer
and a total row, then any warnings and the counting convention), ``json``
(:meth:`convcli.geometry.ChainReport.to_dict`), ``csv`` (one row per layer, then a
total row) and ``plain`` (the final shape alone, for ``$(...)``). When the full table is
wider than the terminal, numbers are abbreviated (``21.7M``) and the receptive field is
folded into one ``size/jump/pad`` column, so a one-layer report fits 80 columns.
Rich is imported only when a table is drawn.
"""

from __future__ import annotations

import sys
from dataclasses import field
from typing import TYPE_CHECKING, Any

from convcli._records import dataclass
from convcli.geometry import ChainReport, LayerReport, Shape, dims_text
from convcli.numbers import compact, json_fraction, memory, thousands
from convcli.render import (
    PIPE_WIDTH,
    CsvTable,
    OutputFormat,
    ResultView,
    render,
    stdout_console,
    stdout_is_plain,
    wrap_like_rich,
)

if TYPE_CHECKING:
    from fractions import Fraction

    from rich.table import Table

    from convcli.geometry import TargetOption
    from convcli.layers import TargetReport


def per_axis(values: tuple[Fraction | int, ...]) -> str:
    """``7`` when every axis agrees, else ``7x3`` (H x W; D x H x W in 3-D).

    >>> from fractions import Fraction
    >>> per_axis((Fraction(5, 2), Fraction(5, 2))), per_axis((7, 3)), per_axis((9,))
    ('2.5', '7x3', '9')
    """
    texts = [str(json_fraction(v)) for v in values]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)


_CSV_FIRST = [
    "position", "type", "spec", "input", "output", "params", "macs", "flops", "window_ops",
]  # fmt: skip
_CSV_LAST = ["memory_bytes", "warnings", "buffers", "elementwise_ops", "inputs", "block"]
_AXES = ("d", "h", "w")
_SIDES = ("front", "back", "top", "bottom", "left", "right")


def _csv_rank(report: ChainReport) -> int:
    """How many spatial axes the CSV columns have: 2, or 3 when any layer is 3-D.

    The columns of 1-D and 2-D reports stay those of 2-D; a 3-D layer adds the depth
    axis in front (D x H x W, as in JSON's lists).
    """
    ranks = [max(len(layer.padding) // 2, len(layer.rf)) for layer in report.layers]
    return max([2, *ranks])


def _csv_header(rank: int) -> list[str]:
    """The ``shape`` CSV header for ``rank`` spatial axes: one column per side and axis.

    >>> _csv_header(3)[9:18]  # doctest: +NORMALIZE_WHITESPACE
    ['pad_front', 'pad_back', 'pad_top', 'pad_bottom', 'pad_left', 'pad_right',
     'rf_d', 'rf_h', 'rf_w']
    >>> _csv_header(2)[9:15]
    ['pad_top', 'pad_bottom', 'pad_left', 'pad_right', 'rf_h', 'rf_w']
    """
    pads = [f"pad_{side}" for side in _SIDES[-2 * rank :]]
    fields = [f"{name}_{axis}" for name in ("rf", "jump", "rf_padding") for axis in _AXES[-rank:]]
    return [*_CSV_FIRST, *pads, *fields, *_CSV_LAST]


def _cells(values: tuple[Fraction | int, ...], count: int) -> list[Any]:
    """``count`` CSV cells, one value each, aligned on the last axis (W): a layer with
    fewer axes than the report (1-D among 2-D, 2-D among 3-D) leaves the first ones empty."""
    return [""] * (count - len(values)) + [json_fraction(v) for v in values]


def _field_cells(layer: LayerReport, rank: int) -> list[Any]:
    """The receptive field's cells: size, jump, padding per axis, or ``global`` in each."""
    if layer.rf_global:
        return ["global"] * (3 * rank)
    return [
        cell for values in (layer.rf, layer.jump, layer.rf_padding) for cell in _cells(values, rank)
    ]


def _csv_rows(report: ChainReport, channels_last: bool, rank: int) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for layer in report.layers:
        rows.append([
            layer.position, layer.kind, layer.spec, layer.input.format(channels_last),
            layer.output.format(channels_last), layer.params, layer.macs, layer.flops,
            layer.window_ops, *_cells(layer.padding, 2 * rank), *_field_cells(layer, rank),
            layer.memory_bytes, "; ".join(layer.warnings), layer.buffers, layer.elementwise_ops,
            " ".join(layer.inputs), " / ".join(layer.block),
        ])  # fmt: skip
    total = report.total
    rows.append([
        "total", "", "", report.input.format(channels_last), report.output.format(channels_last),
        total.params, total.macs, total.flops, total.window_ops, *[""] * (5 * rank),
        total.memory_bytes, "", total.buffers, total.elementwise_ops, "", "",
    ])  # fmt: skip
    return rows


def plain_shape(shape: Shape, channels_last: bool = False, square_input: bool = False) -> str:
    """The final shape for ``--format plain``, in the form the input was typed.

    An input typed as one number (``224``) gives one number back while the output is a
    square without channels, so ``$(convcli shape ...)`` can feed the next command.

    Parameters
    ----------
    shape : Shape
        The output shape.
    channels_last : bool
        Write H x W x C.
    square_input : bool
        The input was typed as one number.

    >>> plain_shape(Shape(None, 112, 112), square_input=True), plain_shape(Shape(64, 56, 56))
    ('112', '64x56x56')
    """
    if square_input and shape.channels is None and shape.height == shape.width:
        return str(shape.height)
    return shape.format(channels_last)


@dataclass(frozen=True)
class ReportView(ResultView):
    """A :class:`ChainReport` as ``shape`` prints it: ``table`` (one row per layer and a
    total row, then the graph's outputs and the counting convention), ``json``
    (:meth:`ChainReport.to_dict`), ``csv`` (one row per layer, then a total row) and
    ``plain`` (the final shapes alone, see :func:`plain_shape`). Notes and warnings go to
    stderr, whatever the format.

    ``square_input``: see :func:`plain_shape`; ``depth``: see
    :func:`convcli.network.fold_blocks` (tables only).
    """

    report: ChainReport
    channels_last: bool = False
    square_input: bool = False
    depth: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.report.to_dict()

    def csv_table(self) -> CsvTable:
        rank = _csv_rank(self.report)
        return _csv_header(rank), _csv_rows(self.report, self.channels_last, rank)

    def plain_lines(self) -> list[str]:
        outputs = self.report.outputs.values() or [self.report.output]
        return [plain_shape(shape, self.channels_last, self.square_input) for shape in outputs]

    def print_table(self) -> None:
        _print_table(self.report, self.channels_last, self.depth)

    def notes(self) -> list[str]:
        report = self.report
        return [*report.notes, *(f"warning: {w}" for w in report.warnings)]


def render_report(
    report: ChainReport,
    output_format: OutputFormat,
    channels_last: bool = False,
    square_input: bool = False,
    depth: int | None = None,
) -> None:
    """Print a :class:`ChainReport` in the chosen format (see :class:`ReportView`).

    Parameters
    ----------
    report : ChainReport
        The analysed network.
    output_format : OutputFormat
        table, json, csv or plain.
    channels_last : bool
        Print shapes as H x W x C in the text formats (JSON keeps C, H, W).
    square_input : bool
        The input was typed as one number (see :func:`plain_shape`).
    depth : int or None
        Fold blocks deeper than this (tables only; see :func:`convcli.network.fold_blocks`).
    """
    render(ReportView(report, channels_last, square_input, depth), output_format)


def _rf_text(layer: LayerReport, narrow: bool) -> list[str]:
    if layer.rf_global:
        return ["global"] if narrow else ["global", "", ""]
    values = [per_axis(v) for v in (layer.rf, layer.jump, layer.rf_padding)]
    return ["/".join(values)] if narrow else values


@dataclass
class _Grid:
    """A table as plain cells, before Rich (or the fast path) draws it."""

    title: str
    columns: list[tuple[str, dict[str, Any]]]
    rows: list[tuple[list[str], str | None, bool]] = field(default_factory=list)

    @property
    def width(self) -> int:
        """The natural width: every column as wide as its widest cell, two spaces apart."""
        widths = self.column_widths()
        return sum(widths) + 2 * (len(widths) - 1)

    def column_widths(self) -> list[int]:
        cells = [[name for name, _ in self.columns]] + [cells for cells, _, _ in self.rows]
        return [max(len(row[i]) for row in cells) for i in range(len(self.columns))]

    def text(self) -> str:
        """The table as Rich draws it with ``box.SIMPLE_HEAD``, no edge, one space of right
        padding, when nothing is squeezed: the same characters, without styles."""
        widths = self.column_widths()
        width = self.width

        def line(cells: list[str]) -> str:
            parts = []
            for (_, options), cell, size in zip(self.columns, cells, widths, strict=True):
                right = options.get("justify") == "right"
                parts.append(cell.rjust(size) if right else cell.ljust(size))
            return "  ".join(parts)

        lines = [self.title.ljust(width), line([name for name, _ in self.columns]), "─" * width]
        for cells, _, section in self.rows:
            lines.append(line(cells))
            if section:
                lines.append(" " * width)
        return "\n".join(lines) + "\n"

    def records(self, width: int) -> str:
        """The table as records, for a terminal too narrow even for its narrow form: each
        row's position, layer and inputs on one line, then its other cells as ``name
        value`` fields, wrapped between fields (never inside one) at ``width``."""
        names = [name for name, _ in self.columns]
        heads = [names.index(name) for name in ("#", "layer", "from") if name in names]
        lines = [self.title]
        for cells, _, _ in self.rows:
            head = [cells[i] if names[i] != "from" else f"from {cells[i]}" for i in heads]
            lines.append("  ".join(part for part in head if part.strip() not in ("", "from")))
            fields = [
                cell if name in ("output", "memory") else f"{name} {cell}"
                for i, (name, cell) in enumerate(zip(names, cells, strict=True))
                if i not in heads and cell
            ]
            line = "   "
            for text in fields:
                if len(line) > 3 and len(line) + 2 + len(text) > width:
                    lines.append(line)
                    line = "   "
                line += ("  " if len(line) > 3 else "") + text
            lines.append(line)
        return "\n".join(lines) + "\n"

    def rich(self) -> Table:
        from rich import box
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, title=self.title, title_justify="left",
                      pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))  # fmt: skip
        for name, options in self.columns:
            table.add_column(name, **options)
        for cells, style, section in self.rows:
            table.add_row(*map(escape, cells), style=style, end_section=section)
        return table


def _pads_header(report: ChainReport) -> str:
    """The pads column's name for the widest layer's sides (a 1-D layer has two)."""
    rank = max([1, *(len(layer.padding) // 2 for layer in report.layers)])
    return {1: "pads l,r", 2: "pads t,b,l,r"}.get(rank, "pads front,back,t,b,l,r")


def _build_table(
    report: ChainReport, rows: list[LayerReport], channels_last: bool, narrow: bool
) -> _Grid:
    count = compact if narrow else thousands
    # Parameters stay exact up to a million: they are what people check against papers.
    count_params = (lambda n: thousands(n) if n < 10**6 else compact(n)) if narrow else thousands
    show_position = not (narrow and len(rows) == 1)
    show_from = any(row.reads for row in rows)
    show_window_ops = report.total.window_ops > 0 and not narrow
    show_elementwise = report.total.elementwise_ops > 0 and not narrow
    inputs = ", ".join(f"{name} {shape.format(channels_last)}" if len(report.inputs) > 1
                       else shape.format(channels_last)
                       for name, shape in report.inputs.items())  # fmt: skip
    grid = _Grid(f"input {inputs}", [])
    columns = grid.columns
    if show_position:
        columns.append(("#", {"justify": "right"}))
    if show_from:
        columns.append(("from", {"overflow": "fold"}))
    columns += [("layer", {"overflow": "fold"}), ("output", {"no_wrap": True}),
                ("params", {"justify": "right"}), ("MACs", {"justify": "right"}),
                ("FLOPs", {"justify": "right"})]  # fmt: skip
    if show_window_ops:
        columns.append(("window ops", {"justify": "right"}))
    if show_elementwise:
        columns.append(("element ops", {"justify": "right"}))
    columns.append((_pads_header(report) if not narrow else "pads", {"no_wrap": True}))
    if narrow:
        columns.append(("RF/j/p", {"no_wrap": True}))
    else:
        columns += [(name, {"justify": "right"}) for name in ("RF", "jump", "RF pad")]
    columns.append(("memory", {"justify": "right", "no_wrap": True}))

    def row(layer: LayerReport, name: str, style: str | None = None, section: bool = False) -> None:
        is_part = style is not None
        cells = ([""] if is_part else [str(layer.position)]) if show_position else []
        if show_from:
            cells.append("" if is_part else " ".join(layer.reads))
        cells += [name, layer.output.format(channels_last), count_params(layer.params),
                  count(layer.macs), count(layer.flops)]  # fmt: skip
        if show_window_ops:
            cells.append(count(layer.window_ops) if layer.window_ops else "")
        if show_elementwise:
            cells.append(count(layer.elementwise_ops) if layer.elementwise_ops else "")
        cells.append(",".join(map(str, layer.padding)))
        cells += _rf_text(layer, narrow)
        cells.append(memory(layer.memory_bytes))
        grid.rows.append((cells, style, section))

    for index, layer in enumerate(rows):
        last = index == len(rows) - 1
        row(layer, layer.spec, section=last and not layer.parts)
        for part_index, part in enumerate(layer.parts):
            name = {"dwconv": "depthwise", "pwconv": "pointwise"}.get(part.kind, part.spec)
            row(part, f"  {name}", style="dim",
                section=last and part_index == len(layer.parts) - 1)  # fmt: skip

    total = report.total
    cells = [""] if show_position else []
    cells += [""] if show_from else []
    cells += ["total", report.output.format(channels_last), count_params(total.params),
              count(total.macs), count(total.flops)]  # fmt: skip
    if show_window_ops:
        cells.append(count(total.window_ops))
    if show_elementwise:
        cells.append(count(total.elementwise_ops))
    cells += ["", ""] if narrow else ["", "", "", ""]
    cells.append(memory(total.memory_bytes))
    grid.rows.append((cells, "bold", False))
    return grid


def _print_table(report: ChainReport, channels_last: bool, depth: int | None = None) -> None:
    rows = list(report.layers)
    if depth is not None:
        from convcli.network import fold_blocks

        rows = fold_blocks(rows, depth)
    plain = stdout_is_plain()
    # Off a terminal the width is known without Rich (importing it is a quarter of
    # `convcli shape`'s start-up); on one, Rich measures it.
    console = None if plain else stdout_console()
    width = PIPE_WIDTH if console is None else console.width
    grid = _build_table(report, rows, channels_last, narrow=False)
    narrow = grid.width > width
    if narrow:
        grid = _build_table(report, rows, channels_last, narrow=True)
    lines = _lines_under(report, channels_last, narrow)
    if console is None and grid.width <= width:
        # Piped: the same characters Rich would draw, without its per-cell cost (a
        # 180-row ResNet-50 table took 0.5 s in Rich) or its import.
        wrapped = [wrap_like_rich(line, width) for line in lines]
        if all(part is not None for part in wrapped):
            under = "".join(f"{text}\n" for part in wrapped for text in part or ())
            sys.stdout.write(grid.text() + under)
            sys.stdout.flush()
            return
    console = console or stdout_console()
    if grid.width > width:  # even the narrow table: squeezed, Rich would cut and fold cells
        console.print(grid.records(width), end="", highlight=False, markup=False)
    elif console.file is sys.stdout and not console.is_terminal and grid.width <= console.width:
        sys.stdout.write(grid.text())
        sys.stdout.flush()
    else:
        console.print(grid.rich())
    for line in lines[:-1]:
        console.print(line, highlight=False)
    console.print(f"[dim]{lines[-1]}[/]", highlight=False)


def _lines_under(report: ChainReport, channels_last: bool, narrow: bool) -> list[str]:
    """The lines under the table, Rich markup allowed; the last one (the counting
    convention) is printed dim."""
    lines = []
    if len(report.outputs) > 1:
        for name, shape in report.outputs.items():
            part = report.output_totals[name]
            lines.append(f"output {name} {shape.format(channels_last)}: {thousands(part.params)} "
                         f"params, {thousands(part.macs)} MACs")  # fmt: skip
    if narrow:
        lines.append("RF/j/p: receptive field size / jump (effective stride) / effective "
                     "padding, in input pixels")  # fmt: skip
    if narrow and report.total.window_ops:
        lines.append(f"pooling window operations (not in MACs): "
                     f"{thousands(report.total.window_ops)}")  # fmt: skip
    if report.total.buffers:
        lines.append(f"buffers (batch norm running statistics, not parameters): "
                     f"{thousands(report.total.buffers)}")  # fmt: skip
    if narrow and report.total.elementwise_ops:
        lines.append(f"element operations (not in MACs): "
                     f"{thousands(report.total.elementwise_ops)}")  # fmt: skip
    lines.append(report.convention)
    return lines


# ---- --target -------------------------------------------------------------------------------


def _tensorflow_text(option: TargetOption, kind: str) -> str:
    if kind == "deconv":
        return "-"
    if option.tf_same:
        return "padding='SAME'"
    if option.pads == (0, 0):
        return "padding='VALID'"
    return "tf.pad, then 'VALID'"


_TARGET_CSV_HEADER = [
    "axis", "stride", "pad_before", "pad_after", "output_padding", "pytorch", "tf_same",
]  # fmt: skip


@dataclass(frozen=True)
class TargetView(ResultView):
    """The ``--target`` options: strides and paddings in PyTorch and TF terms (JSON:
    :meth:`convcli.layers.TargetReport.to_dict`)."""

    result: TargetReport

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()

    def csv_table(self) -> CsvTable:
        rows = [
            [axis, o.stride, *o.pads, o.output_padding, o.pytorch_call, o.tf_same]
            for axis, o in self.result.entries
        ]
        return _TARGET_CSV_HEADER, rows

    def plain_lines(self) -> list[str]:
        deconv = self.result.kind == "deconv"
        lines = []
        for axis, option in self.result.entries:
            prefix = "" if axis == "h,w" else f"{axis} "
            extra = f" output_padding {option.output_padding}" if deconv else ""
            same = " (TF SAME)" if option.tf_same else ""
            lines.append(f"{prefix}stride {option.stride} pad {option.pads[0]},"
                         f"{option.pads[1]}{extra}{same}")  # fmt: skip
        return lines

    def print_table(self) -> None:
        stdout_console().print(_target_table(self.result))


def render_targets(result: TargetReport, output_format: OutputFormat) -> None:
    """Print the ``--target`` options (see :class:`TargetView`)."""
    render(TargetView(result), output_format)


def _target_table(result: TargetReport) -> Table:
    from rich import box
    from rich.table import Table

    deconv = result.kind == "deconv"
    size = f"{result.input.height}x{result.input.width}"
    target = dims_text(result.target)
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"{size} -> {target}, {result.kind} kernel {per_axis(result.kernel)}"
        + (f", dilation {per_axis(result.dilation)}" if result.dilation != (1, 1) else ""),
        title_justify="left",
        pad_edge=False,
        show_edge=False,
    )
    per_axis_rows = len(result.axes) > 1
    if per_axis_rows:
        table.add_column("axis")
    table.add_column("stride", justify="right")
    table.add_column("crop" if deconv else "pads before,after", no_wrap=True)
    if deconv:
        table.add_column("output_padding", justify="right")
    table.add_column("PyTorch")
    table.add_column("TensorFlow/Keras")
    for axis, option in result.entries:
        cells = [axis] if per_axis_rows else []
        cells += [str(option.stride), f"{option.pads[0]},{option.pads[1]}"]
        if deconv:
            cells.append(str(option.output_padding))
        cells += [option.pytorch_call, _tensorflow_text(option, result.kind)]
        table.add_row(*cells)
    return table
