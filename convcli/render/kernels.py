"""Rendering for ``convcli kernels``: the catalogue, and one kernel's matrix and factors.

Formats: ``table`` (Rich), ``plain`` (text with no markup; for one kernel the matrix rows are
data and everything else is a ``#`` comment, so the output is itself a kernel file: blank
lines between channels, a ``||`` line closing each output filter of a 4-D kernel; a step no
kernel file holds is refused),
``json`` (a stable schema, below) and ``csv`` (the catalogue, or one 2-D matrix).

JSON for one step::

    {"step": "sobel-x", "kind": "kernel" | "magnitude" | "compass" | "pool", "name": ...,
     "description": "...", "zero_sum": true,
     "stride": [h, w] | null, "padding": [h, w] | "same" | "valid" | null,
     "dilation": [h, w] | null, "border": "reflect" | null,
     "offset": 64 (only for a vips .mat file with an offset),
     # kernels:   "shape", "matrix", "sum", "integer", "rank", "separable", "factors"
     #            ({"column": [...], "row": [...]} or null)
     # magnitude: "formula", "components": [{"label": "gx", <kernel keys>}, {"label": "gy", ...}]
     # compass:   "formula", "components": [{"label": "n", <kernel keys>}, ... 8 directions]
     # pools:     "op", "kernel_size", "stride", "padding", "ceil_mode"}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convcli.geometry import dims_text
from convcli.numbers import format_number, json_nested, json_number
from convcli.render import (
    CsvTable,
    OutputFormat,
    Record,
    ResultView,
    print_fitting,
    render,
    stacked,
    stdout_console,
)

if TYPE_CHECKING:
    import numpy as np
    from rich.table import Table

    from convcli.kernels import KernelDescription, KernelInfo

_CATALOGUE_HEADER = ("name", "kind", "size", "arguments", "description")


# ---- numbers -------------------------------------------------------------------------------------


_TABLE_DIGITS = 4  # significant digits on screen: a 7x7 Gaussian stays readable
_PLAIN_DIGITS = 6


def _tap(value: float, digits: int | None = None) -> str:
    """A kernel tap as text: kernels are written exactly, so the shortest float64 text."""
    return format_number(value, digits, shortest="float64")


def _vector_text(vector: np.ndarray, spaced: bool = False) -> str:
    return "[" + (", " if spaced else ",").join(_tap(v, _TABLE_DIGITS) for v in vector) + "]"


def factors_text(factors: tuple[np.ndarray, np.ndarray], spaced: bool = False) -> str:
    """``([1,2,1], [-1,0,1])`` -> ``[1,2,1]^T x [-1,0,1]`` (column times row); ``spaced``
    writes ``[1, 2, 1]``, so that a long factor wraps between its numbers."""
    column, row = factors
    return f"{_vector_text(column, spaced)}^T x {_vector_text(row, spaced)}"


def _matrix_rows(matrix: np.ndarray, digits: int | None) -> list[list[str]]:
    return [[_tap(v, digits) for v in row] for row in matrix]


def _aligned(rows: list[list[str]]) -> list[str]:
    """Right-aligned columns, one space apart (readable back by ``@file.txt``)."""
    width = max(len(cell) for row in rows for cell in row)
    return [" ".join(cell.rjust(width) for cell in row) for row in rows]


def _slices(matrix: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The 2-D slices of a 2-, 3- or 4-D kernel, each with a label ("" for 2-D)."""
    if matrix.ndim == 2:
        return [("", matrix)]
    if matrix.ndim == 3:
        return [(f"input channel {c + 1}", matrix[c]) for c in range(matrix.shape[0])]
    return [
        (f"output {o + 1}, input channel {c + 1}", matrix[o, c])
        for o in range(matrix.shape[0])
        for c in range(matrix.shape[1])
    ]


def _padding_text(pads: Sequence[int]) -> str:
    """``(1, 1, 2, 2)`` -> ``1x2``; uneven pads spelled out as top,bottom,left,right."""
    top, bottom, left, right = pads
    if top == bottom and left == right:
        return f"{top}x{left}"
    return f"{top},{bottom},{left},{right} (top,bottom,left,right)"


# ---- the catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueView(ResultView):
    """The named kernels and pooling steps, one row each."""

    infos: Sequence[KernelInfo]

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        return [(i.name, i.kind, i.size, i.arguments, i.description) for i in self.infos]

    def to_dict(self) -> list[dict[str, str]]:
        return [dict(zip(_CATALOGUE_HEADER, row, strict=True)) for row in self._rows()]

    def csv_table(self) -> CsvTable:
        return _CATALOGUE_HEADER, self._rows()

    def plain_lines(self) -> list[str]:
        rows = self._rows()
        name_width = max(len(row[0]) for row in rows)
        size_width = max(len(row[2]) for row in rows)
        return [
            f"{name:<{name_width}}  {size:<{size_width}}  {description}"
            for name, _kind, size, _arguments, description in rows
        ]

    def print_table(self) -> None:
        _render_catalogue_table(self._rows())


def render_catalogue(infos: Sequence[KernelInfo], output_format: OutputFormat) -> None:
    """Print the named kernels and pooling steps."""
    render(CatalogueView(infos), output_format)


def _render_catalogue_table(rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from convcli.kernels import GEOMETRY_ARGUMENTS

    # Every kernel takes the geometry arguments: said once, under the table.
    rows = [
        (name, kind, size, arguments.removesuffix(GEOMETRY_ARGUMENTS).rstrip(", "), text)
        for name, kind, size, arguments, text in rows
    ]

    title = "Named kernels and pooling steps (-k STEP)"
    table = Table(title=title, title_justify="left")
    for column in ("Name", "Size", "Arguments", "What it does"):
        table.add_column(column, no_wrap=column != "What it does")
    previous_kind = rows[0][1]
    for name, kind, size, arguments, description in rows:
        if (kind == "pool") != (previous_kind == "pool"):
            table.add_section()
        previous_kind = kind
        table.add_row(f"[bold]{escape(name)}[/]", size, escape(arguments), escape(description))
    console = stdout_console()
    footer = Text(
        f"Every kernel also takes {GEOMETRY_ARGUMENTS} (its own stride, padding, dilation, "
        'border). Also: inline matrices ("1 0 -1; 2 0 -2; 1 0 -1", "[[1,-1]]", "3x3: ..."), '
        "files (@kernel.txt, kernel.npy, kernel.csv, vips .mat). `convcli kernels STEP` "
        "shows one."
    )

    def records(pools: bool) -> list[Record]:
        # A kernel without arguments of its own: size and description share a line.
        return [
            Record(name, [[("", size), ("arguments", arguments)], [("", description)]])
            if arguments
            else Record(name, [[("", size), ("", description)]])
            for name, kind, size, arguments, description in rows
            if (kind == "pool") == pools
        ]

    indent = max(len(row[0]) for row in rows) + 2
    print_fitting(
        console,
        [table, footer],
        [
            Text(title, style="table.title"),
            stacked(console, records(False), indent),
            Text(""),
            stacked(console, records(True), indent),
            footer,
        ],
    )


# ---- one step ------------------------------------------------------------------------------------


def _kernel_facts(info: KernelDescription) -> dict[str, Any]:
    """JSON keys of one (component) kernel."""
    assert info.matrix is not None and info.total is not None
    return {
        "shape": list(info.matrix.shape),
        "matrix": json_nested(info.matrix, None),
        "sum": json_number(info.total, None) if info.integer else info.total,
        "integer": info.integer,
        "rank": info.rank,
        "separable": info.separable,
        "factors": None
        if info.factors is None
        else {
            "column": json_nested(info.factors[0], None),
            "row": json_nested(info.factors[1], None),
        },
    }


def _step_json(info: KernelDescription) -> dict[str, Any]:
    from convcli.kernels import PoolStep

    step = info.step
    data: dict[str, Any] = {
        "step": info.text,
        "kind": info.kind,
        "name": info.name,
        "description": info.summary,
    }
    if isinstance(step, PoolStep):
        data.update(
            zero_sum=False,
            op=step.op,
            kernel_size=list(step.kernel_size),
            stride=list(step.stride),
            padding=list(step.padding),
            ceil_mode=step.ceil_mode,
        )
        return data
    data.update(
        zero_sum=step.zero_sum,
        stride=None if step.stride is None else list(step.stride),
        padding=list(step.padding) if isinstance(step.padding, tuple) else step.padding,
        dilation=None if step.dilation is None else list(step.dilation),
        border=step.border,
    )
    if step.offset:  # only vips .mat files have one
        data["offset"] = json_number(step.offset, None)
    if info.parts:
        data["formula"] = info.formula
        data["components"] = [{"label": part.summary, **_kernel_facts(part)} for part in info.parts]
    else:
        data.update(_kernel_facts(info))
    return data


def _fact_lines(info: KernelDescription, spaced: bool = False) -> list[tuple[str, str]]:
    """``(label, value)`` lines under one kernel's matrix."""
    assert info.matrix is not None and info.total is not None
    total = _tap(info.total, _PLAIN_DIGITS)
    lines = [("shape", dims_text(info.matrix.shape)), ("sum", total)]
    if info.rank is not None:
        lines.append(("rank", str(info.rank)))
    if info.separable is None:
        lines.append(("separable", "n/a (not a 2-D kernel)"))
    elif info.factors is not None:
        lines.append(("separable", f"yes: {factors_text(info.factors, spaced)}"))
    else:
        lines.append(("separable", "no"))
    return lines


def _step_lines(info: KernelDescription) -> list[tuple[str, str]]:
    """``(label, value)`` lines about the step as a whole: pools, overrides, zero sum."""
    from convcli.kernels import PoolStep

    step = info.step
    if isinstance(step, PoolStep):
        lines = [
            ("op", step.op),
            ("window", dims_text(step.kernel_size)),
            ("stride", dims_text(step.stride)),
            ("padding", dims_text(step.padding)),
        ]
        if step.op != "median":
            lines.append(("ceil mode", "yes" if step.ceil_mode else "no"))
        return lines
    lines = []
    geometry: list[tuple[str, object]] = [
        ("stride", step.stride),
        ("padding", step.padding),
        ("dilation", step.dilation),
    ]
    for label, value in geometry:
        if isinstance(value, str):
            lines.append((label, value))
        elif isinstance(value, int):
            lines.append((label, str(value)))
        elif isinstance(value, Sequence):
            lines.append((label, _padding_text(value) if len(value) == 4 else dims_text(value)))
    if step.border is not None:
        lines.append(("border", step.border))
    if step.offset:
        lines.append(("offset", f"{_tap(step.offset, _PLAIN_DIGITS)} (added to the result)"))
    if step.gate:
        lines.append(("threshold", f"input kept where |change| < {_tap(step.gate, 6)}"))
    if info.parts:
        lines.append(("result", info.formula))
    lines.append(("zero sum", "yes (--map auto uses abs)" if step.zero_sum else "no"))
    return lines


def _blocks(
    info: KernelDescription, spaced: bool = False
) -> list[tuple[str, np.ndarray | None, list[tuple[str, str]]]]:
    """``(heading, matrix or None, facts)`` in display order, shared by table and plain."""
    step_facts = _step_lines(info)
    if info.kind == "pool":
        return [("", None, step_facts)]
    if info.parts:
        blocks = [(part.summary, part.matrix, _fact_lines(part, spaced)) for part in info.parts]
        return [*blocks, ("", None, step_facts)]
    return [("", info.matrix, _fact_lines(info, spaced) + step_facts)]


def _plain_lines(info: KernelDescription) -> list[str]:
    out = [f"# {info.text}: {info.summary}"]
    for heading, matrix, facts in _blocks(info):
        if heading:
            out.append(f"# {heading}")
        out += [f"# {label}: {value}" for label, value in facts]
        if matrix is None:
            continue
        for index, (slice_label, plane) in enumerate(_slices(matrix)):
            if index:
                out.append("")  # a blank line starts the next channel when read back
            if slice_label:
                out.append(f"# {slice_label}")
            # Every digit: plain is what `> k.txt` and `-k @k.txt` read back (6 digits
            # made box:3 sum to 0.999999 and log:1 lose its zero sum).
            out += _aligned(_matrix_rows(plane, None))
            if matrix.ndim == 4 and (index + 1) % matrix.shape[1] == 0:
                # Closes an output filter, the last too: blank lines alone read back 3-D
                # (channels summed), and a single filter stays 4-D.
                out.append("||")
    return out


def _render_table(info: KernelDescription) -> None:
    from rich.markup import escape

    from convcli.limits import MAX_TABLE_CELLS

    console = stdout_console()
    console.print(f"[bold]{escape(info.text)}[/]  {escape(info.summary)}", highlight=False)
    for (heading, matrix, facts), (*_, spaced_facts) in zip(
        _blocks(info), _blocks(info, spaced=True), strict=True
    ):
        if heading:
            console.print(f"[bold]{escape(heading)}[/]", highlight=False)
        if matrix is not None and matrix.size > MAX_TABLE_CELLS:
            console.print(
                f"({dims_text(matrix.shape)}: {matrix.size:,} values, too many for a table; "
                "--format plain, json or csv prints them)",
                style="dim",
                markup=False,
                highlight=False,
            )
            matrix = None
        for slice_label, plane in _slices(matrix) if matrix is not None else []:
            if slice_label:
                console.print(slice_label, style="dim", highlight=False)
            rows = _matrix_rows(plane, _TABLE_DIGITS)
            print_fitting(console, [_matrix_table(rows)], _matrix_blocks(rows, console.width))
        print_fitting(console, [_facts_grid(facts)], [_facts_grid(spaced_facts)])


def _matrix_table(rows: list[list[str]], first: int = 0, count: int | None = None) -> Table:
    """The matrix in a box; a block of ``count`` columns from ``first`` gets numbered columns."""
    from rich import box
    from rich.table import Table

    block = count is not None
    end = len(rows[0]) if count is None else first + count
    table = Table(show_header=block, header_style="dim", box=box.SQUARE)
    for column in range(first, end):
        table.add_column(str(column + 1) if block else "", justify="right")
    for row in rows:
        table.add_row(*row[first:end])
    return table


def _matrix_blocks(rows: list[list[str]], width: int) -> list[Any]:
    """A matrix too wide for the terminal, as blocks of whole columns (numbered), as
    Octave and MATLAB print one."""
    from rich.text import Text

    columns = len(rows[0])
    cell = max(len(str(columns)), *(len(value) for row in rows for value in row))
    fitting = max(1, (width - 1) // (cell + 3))  # a cell, its padding and a border
    per_block = -(-columns // -(-columns // fitting))  # as even as the blocks can be
    out: list[Any] = []
    for first in range(0, columns, per_block):
        count = min(per_block, columns - first)
        last = first + count
        label = f"column {first + 1}" if count == 1 else f"columns {first + 1}-{last}"
        out += [Text(f"{label} of {columns}", style="dim"), _matrix_table(rows, first, count)]
    return out


def _facts_grid(facts: list[tuple[str, str]]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    for label, value in facts:
        grid.add_row(label, escape(value))
    return grid


_NOT_ONE_MATRIX = {
    "pool": "a pooling step",
    "magnitude": "a magnitude of two kernels",
    "compass": "the maximum of 8 kernels",
}


def _not_one_kernel(info: KernelDescription) -> str | None:
    """What makes a step more than the one linear kernel a kernel file holds, or None:
    such a file would read back (``-k @FILE``) as another filter."""
    from convcli.kernels import KernelStep

    if info.kind in ("magnitude", "compass"):
        return _NOT_ONE_MATRIX[info.kind]
    if isinstance(info.step, KernelStep) and info.step.gate:
        return "a kernel with a threshold= gate"
    return None


@dataclass(frozen=True)
class StepView(ResultView):
    """One step: its matrix (or pool geometry), sum, rank and separable factors."""

    info: KernelDescription

    def to_dict(self) -> dict[str, Any]:
        return _step_json(self.info)

    def csv_table(self) -> CsvTable:
        """One 2-D matrix, exact (a CSV is read back), with no header row.

        Raises
        ------
        ConvcliError
            For something that is not one 2-D matrix.
        """
        info = self.info
        what = _not_one_kernel(info)
        if what is None and (info.kind != "kernel" or info.matrix is None or info.matrix.ndim != 2):
            ndim = info.matrix.ndim if info.matrix is not None else 0
            what = _NOT_ONE_MATRIX.get(info.kind, f"a {ndim}-D kernel")
        if what is not None:
            from convcli.errors import SpecError  # an option the step cannot take

            raise SpecError(
                f"--format csv writes one 2-D matrix; '{info.text}' is {what} (use --format json)"
            )
        assert info.matrix is not None
        rows = _matrix_rows(info.matrix, None)
        return rows[0], rows[1:]  # a matrix file has no header: its first row stands there

    def plain_lines(self) -> list[str]:
        """The step as a kernel file: ``-k @FILE`` reads its matrix back (a pool: only
        ``#`` lines).

        Raises
        ------
        ConvcliError
            For a step that is not one linear kernel (a magnitude, a maximum over
            directions, a gate): its file would read back as another filter.
        """
        what = _not_one_kernel(self.info)
        if what is not None:
            from convcli.errors import SpecError  # an option the step cannot take

            raise SpecError(
                f"--format plain writes one kernel, as -k @FILE reads it back; "
                f"'{self.info.text}' is {what}, which no kernel file holds (use --format json)"
            )
        return _plain_lines(self.info)

    def print_table(self) -> None:
        _render_table(self.info)


def render_step(info: KernelDescription, output_format: OutputFormat) -> None:
    """Print one step in ``output_format`` (:class:`StepView`).

    Raises
    ------
    ConvcliError
        ``--format csv`` for something that is not one 2-D matrix.
    """
    render(StepView(info), output_format)


@dataclass(frozen=True)
class PeerCallView(ResultView):
    """A peer's command or call for a step, one line each, printed as they are (to paste)."""

    text: str
    peer: str
    lines: Sequence[str]

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.text, "as": self.peer, "lines": list(self.lines)}

    def plain_lines(self) -> Sequence[str]:
        return self.lines


def render_peer_call(
    text: str, peer: str, lines: Sequence[str], output_format: OutputFormat
) -> None:
    """Print the peer's command for a step (``kernels STEP --as PEER``).

    Parameters
    ----------
    text : str
        The step as the user typed it.
    peer : str
        The peer named by ``--as``.
    lines : sequence of str
        The peer's command or call, one line each, printed as they are (to paste).
    output_format : OutputFormat
        ``json`` prints ``{"step", "as", "lines"}``; every other format the lines.
    """
    # Lines of code are no table: CSV prints them as they are, like plain and table.
    plain = output_format in (OutputFormat.csv, OutputFormat.plain)
    render(PeerCallView(text, peer, lines), OutputFormat.plain if plain else output_format)
