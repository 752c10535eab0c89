"""Rendering for ``convcli compare``: one layer's forms side by side, or a whole network.

Formats: ``table`` (Rich), ``plain`` (aligned text, no markup), ``json`` (the schema of
:meth:`convcli.compare.LayerComparison.to_dict` and
:meth:`convcli.compare.NetworkComparison.to_dict`, plus ``kernel`` and ``bench`` when
asked for) and ``csv`` (one row per form, or per layer/block with a total row).
Rich is imported only when a table is drawn; NumPy never.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convcli.compare import ratio
from convcli.geometry import COUNTING_CONVENTION
from convcli.numbers import format_number, thousands
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
    from rich.table import Table

    from convcli.compare import (
        BenchResult,
        Cost,
        KernelSeparability,
        KindShare,
        LayerComparison,
        NetworkComparison,
    )

_BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int = _BAR_WIDTH) -> str:
    """A horizontal bar of block characters, ``fraction`` of ``width`` cells long.

    >>> bar(0.5, 4), bar(0.0, 4), len(bar(1.0, 4))
    ('██', '', 4)
    """
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def ratio_text(value: float | None) -> str:
    """``0.0439 (22.8x fewer)``; ``1 (same)``; ``-`` when undefined.

    >>> ratio_text(0.04390625), ratio_text(2.5), ratio_text(1.0)
    ('0.0439 (22.8x fewer)', '2.5 (2.5x more)', '1 (same)')
    """
    if value is None:
        return "-"
    if value == 1:
        return "1 (same)"
    if value < 1:
        return f"{value:.3g} ({1 / value:.3g}x fewer)" if value else "0"
    return f"{value:.3g} ({value:.3g}x more)"


def _percent(share: float) -> str:
    return f"{100 * share:.2f}%"


def _shape(cost: Cost, channels_last: bool = False) -> str:
    return "-" if cost.output is None else cost.output.format(channels_last)


def _words(cost: Cost) -> str:
    return " + ".join(cost.layers)


# ---- one layer -----------------------------------------------------------------------------------


def _forms(result: LayerComparison) -> list[tuple[str, Cost | None]]:
    return [
        ("standard", result.standard),
        ("depthwise", result.depthwise),
        ("pointwise", result.pointwise),
        ("separable", result.separable),
        ("spatial", result.spatial),
    ]


def kernels_text(result: LayerComparison, form: str) -> str:
    """The kernels of a form, as the MobileNet paper writes them: ``256 x 5x5x3``."""
    kh, kw = result.kernel
    in_channels = result.input.channel_count
    middle = in_channels * result.depth_multiplier
    out_channels = result.out_channels
    return {
        "standard": f"{out_channels} x {kh}x{kw}x{in_channels}",
        "depthwise": f"{middle} x {kh}x{kw}x1",
        "pointwise": f"{out_channels} x 1x1x{middle}",
        "separable": f"{middle} x {kh}x{kw}x1 + {out_channels} x 1x1x{middle}",
        "spatial": f"{thousands(out_channels * in_channels)} x ({kh}x1 + 1x{kw})",
    }[form]


def closed_form_text(result: LayerComparison) -> str:
    """``1/C_out + 1/k^2 = 1/256 + 1/25 = 0.0439`` (with ``M (...)`` when M > 1)."""
    kh, kw = result.kernel
    body = f"1/{result.out_channels} + 1/{kh * kw}"
    if result.depth_multiplier == 1:
        return f"1/C_out + 1/k^2 = {body} = {result.closed_form:.4g}"
    multiplier = result.depth_multiplier
    return f"M (1/C_out + 1/k^2) = {multiplier} x ({body}) = {result.closed_form:.4g}"


def _layer_summary_lines(result: LayerComparison) -> list[str]:
    lines = [
        f"separable / standard: params {ratio_text(result.params_ratio)}, "
        f"MACs {ratio_text(result.macs_ratio)}",
        f"closed form {closed_form_text(result)}",
    ]
    if result.spatial is not None:
        params = ratio(result.spatial.params, result.standard.params)
        macs = ratio(result.spatial.macs, result.standard.macs)
        lines.append(
            f"spatial / standard: params {ratio_text(params)}, MACs {ratio_text(macs)} "
            "(exact only when every kernel has rank 1)"
        )
    else:
        lines.append(f"spatial form: does not apply ({result.spatial_note})")
    return lines


def _kernel_lines(
    kernel: KernelSeparability, channels_last: bool = False, spaced: bool = False
) -> list[str]:
    def vector(values: Sequence[float]) -> str:
        return "[" + (", " if spaced else ",").join(format_number(v, 4) for v in values) + "]"

    rows, columns = len(kernel.matrix), len(kernel.matrix[0])
    singular = ", ".join(format_number(v, 4) for v in kernel.singular_values)
    lines = [f"kernel {kernel.label}: {rows}x{columns}, SVD rank {kernel.rank} (singular values "
             f"{singular})"]  # fmt: skip
    if kernel.factors is not None and min(rows, columns) == 1:
        lines.append(
            f"  already one-dimensional ({rows}x{columns}): nothing to split; direct "
            f"{thousands(kernel.direct.macs)} MACs (output {_shape(kernel.direct, channels_last)})"
        )
        return lines
    if kernel.factors is None or kernel.separated is None:
        lines.append(
            f"  not spatially separable: rank {kernel.rank} > 1, so no column x row split; "
            f"direct {thousands(kernel.direct.macs)} MACs (output "
            f"{_shape(kernel.direct, channels_last)})"
        )
        return lines
    column, row = kernel.factors
    lines.append(f"  spatially separable: {vector(column)}^T x {vector(row)}")
    direct, separated = kernel.direct, kernel.separated
    lines.append(
        f"  per channel, {rows * columns} -> {rows + columns} multiply-adds per output; "
        f"on the input: {thousands(direct.macs)} -> {thousands(separated.macs)} MACs "
        f"({ratio_text(ratio(separated.macs, direct.macs))}), "
        f"{thousands(direct.params)} -> {thousands(separated.params)} weights"
    )
    return lines


def _csv_row(name: str, cost: Cost, reference: Cost, channels_last: bool) -> list[Any]:
    """One CSV row: the form's costs and its ratios to ``reference`` (empty when undefined)."""
    ratios = [ratio(cost.params, reference.params), ratio(cost.macs, reference.macs)]
    return [
        name,
        cost.params,
        cost.macs,
        cost.flops,
        _shape(cost, channels_last),
        *("" if value is None else value for value in ratios),
    ]


def _bench_lines(bench: BenchResult) -> list[str]:
    return [
        f"bench (NumPy core, algorithm {bench.algorithm}, float32, median of {bench.repeat} "
        "after a warm-up): "
        f"standard {bench.standard_seconds * 1e3:.3g} ms, separable "
        f"{bench.separable_seconds * 1e3:.3g} ms",
        f"  speed-up measured {bench.measured_speedup:.3g}x, theoretical (MACs) "
        f"{bench.theoretical_speedup:.3g}x",
    ]


def _notes(
    result: LayerComparison | None,
    kernels: Sequence[KernelSeparability],
    bench: BenchResult | None,
    channels_last: bool,
    spaced: bool = False,
) -> list[str]:
    """The lines under the table: ratios, each kernel's separability, the timings
    (``spaced``: vectors as ``[1, 2, 1]``, so that a long one wraps between numbers)."""
    notes: list[str] = []
    if result is not None:
        notes += _layer_summary_lines(result)
    for kernel in kernels:
        notes += _kernel_lines(kernel, channels_last, spaced)
    if bench is not None:
        notes += _bench_lines(bench)
    return notes


@dataclass(frozen=True)
class LayerView(ResultView):
    """One layer's comparison as ``compare`` prints it (``result`` may be None when only
    ``--kernel-matrix`` was asked for), the kernel's separability and the timings.

    JSON is :meth:`convcli.compare.LayerComparison.to_dict` plus ``kernel`` and ``bench``
    when asked for; CSV one row per form; ``channels_last`` prints shapes as HxWxC in the
    text formats (JSON keeps C, H, W).
    """

    result: LayerComparison | None
    kernels: Sequence[KernelSeparability] = ()
    bench: BenchResult | None = None
    channels_last: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.result.to_dict() if self.result is not None else {}
        if self.kernels:
            data["kernel"] = [kernel.to_dict() for kernel in self.kernels]
        if self.bench is not None:
            data["bench"] = self.bench.to_dict()
        return data

    def csv_table(self) -> CsvTable:
        header = ["form", "params", "macs", "flops", "output", "params_ratio", "macs_ratio"]
        forms: list[tuple[str, Cost | None, Cost]] = []
        if self.result is not None:
            forms += [(name, cost, self.result.standard) for name, cost in _forms(self.result)]
        for kernel in self.kernels:
            forms += [
                ("kernel direct", kernel.direct, kernel.direct),
                ("kernel separated", kernel.separated, kernel.direct),
            ]
        rows = [
            _csv_row(name, cost, reference, self.channels_last)
            for name, cost, reference in forms
            if cost is not None
        ]
        return header, rows

    def _under(self, spaced: bool = False) -> list[str]:
        return _notes(self.result, self.kernels, self.bench, self.channels_last, spaced)

    def plain_lines(self) -> list[str]:
        result, lines = self.result, []
        if result is not None:
            lines += [
                f"{name:<10} params {cost.params:>14,}  MACs {cost.macs:>16,}  "
                f"FLOPs {cost.flops:>16,}  output {_shape(cost, self.channels_last):<12}  "
                f"{_words(cost)}"
                for name, cost in _forms(result)
                if cost is not None
            ]
        lines += self._under()
        if result is not None:
            lines.append(COUNTING_CONVENTION)
        return lines

    def print_table(self) -> None:
        from rich.text import Text

        console = stdout_console()
        result, channels_last = self.result, self.channels_last
        if result is not None:
            title = _layer_title(result, channels_last)
            print_fitting(
                console,
                [_layer_table(result, title, channels_last)],
                _layer_compact(result, title, channels_last),
                [
                    Text(title, style="table.title"),
                    stacked(console, _layer_records(result, channels_last)),
                    Text(COUNTING_CONVENTION, style="table.caption"),
                ],
            )
        print_fitting(
            console,
            [Text(line) for line in self._under()],
            [Text(line) for line in self._under(spaced=True)],
        )


def render_layer(
    result: LayerComparison | None,
    output_format: OutputFormat,
    kernels: Sequence[KernelSeparability] = (),
    bench: BenchResult | None = None,
    channels_last: bool = False,
) -> None:
    """Print one layer's comparison (see :class:`LayerView`).

    Parameters
    ----------
    result : LayerComparison or None
        The layer's forms; None with ``--kernel-matrix`` alone.
    output_format : OutputFormat
        table, json, csv or plain.
    kernels : sequence of KernelSeparability
        Each kernel's separability.
    bench : BenchResult or None
        The timings, when measured.
    channels_last : bool
        Print shapes as H x W x C in the text formats (JSON keeps C, H, W).
    """
    render(LayerView(result, kernels, bench, channels_last), output_format)


def _layer_title(result: LayerComparison, channels_last: bool) -> str:
    kh, kw = result.kernel
    return (
        f"{result.input.format(channels_last)} with a {kh}x{kw} kernel to "
        f"{result.out_channels} channels"
        + (f", depth multiplier {result.depth_multiplier}" if result.depth_multiplier > 1 else "")
        + ("" if result.bias else ", no bias")
    )


def _share_text(result: LayerComparison, cost: Cost) -> str:
    share = ratio(cost.macs, result.standard.macs)
    return "-" if share is None else f"{share:.4g}"


def _cost_cells(result: LayerComparison, cost: Cost, channels_last: bool) -> list[str]:
    """A form's output, params, MACs, FLOPs and MACs against the standard form."""
    counts = [thousands(n) for n in (cost.params, cost.macs, cost.flops)]
    return [_shape(cost, channels_last), *counts, _share_text(result, cost)]


def _layer_table(result: LayerComparison, title: str, channels_last: bool) -> Table:
    """The wide table: every form with its kernels, layers and costs on one row."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=escape(title),
        title_justify="left",
        caption=COUNTING_CONVENTION,
        caption_justify="left",
    )
    table.add_column("form")
    table.add_column("kernels")
    table.add_column("layers")
    table.add_column("output", justify="right")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("FLOPs", justify="right")
    table.add_column("MACs vs standard", justify="right")
    for name, cost in _forms(result):
        style = "bold" if name in ("standard", "separable") else None
        if cost is None:
            table.add_row(
                name,
                "",
                f"[dim]does not apply: {escape(result.spatial_note)}[/]",
                "",
                "",
                "",
                "",
                "",
            )
            continue
        table.add_row(
            name,
            kernels_text(result, name),
            escape("\n".join(cost.layers)),
            *_cost_cells(result, cost, channels_last),
            style=style,
        )
        if name == "pointwise":
            table.add_section()
    return table


def _layer_compact(result: LayerComparison, title: str, channels_last: bool) -> list[Any]:
    """The table split in two, for a narrower terminal: the numbers of each form, then its
    kernels and layers."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    numbers = Table(title=escape(title), title_justify="left")
    numbers.add_column("form")
    for column in ("output", "params", "MACs", "FLOPs", "MACs vs standard"):
        numbers.add_column(column, justify="right")
    words = Table()
    for column in ("form", "kernels", "layers"):
        words.add_column(column)
    for name, cost in _forms(result):
        style = "bold" if name in ("standard", "separable") else None
        if cost is None:
            numbers.add_row(name, *["[dim]-[/]"] * 5)
            continue
        numbers.add_row(name, *_cost_cells(result, cost, channels_last), style=style)
        words.add_row(name, kernels_text(result, name), escape("\n".join(cost.layers)), style=style)
        if name == "pointwise":
            numbers.add_section()
            words.add_section()
    return [numbers, words, Text(COUNTING_CONVENTION, style="table.caption")]


def _layer_records(result: LayerComparison, channels_last: bool) -> list[Record]:
    """One record per form, for a terminal too narrow for either table."""
    records = []
    for name, cost in _forms(result):
        if cost is None:
            records.append(Record(name, [[("", f"does not apply: {result.spatial_note}")]]))
            continue
        records.append(
            Record(
                name,
                [
                    [("", kernels_text(result, name)), ("", _words(cost))],
                    [
                        ("output", _shape(cost, channels_last)),
                        ("params", thousands(cost.params)),
                        ("MACs", thousands(cost.macs)),
                        ("FLOPs", thousands(cost.flops)),
                        ("MACs vs standard", _share_text(result, cost)),
                    ],
                ],
                style="bold" if name in ("standard", "separable") else "",
            )
        )
    return records


# ---- a network -----------------------------------------------------------------------------------


def _by_kind_rows(shares: Sequence[KindShare]) -> list[list[str]]:
    return [
        [share.label, thousands(share.macs), _percent(share.macs_share), thousands(share.params),
         _percent(share.params_share)]
        for share in shares
    ]  # fmt: skip


_NETWORK_CSV_HEADER = [
    "position", "given", "output", "params", "macs", "standard", "standard_params",
    "standard_macs",
]  # fmt: skip


@dataclass(frozen=True)
class NetworkView(ResultView):
    """A network as given against its all-standard twin, and the Table 2 split (JSON:
    :meth:`convcli.compare.NetworkComparison.to_dict`; CSV: one row per block and a
    total row). ``channels_last`` prints shapes as HxWxC in the text formats.
    """

    result: NetworkComparison
    channels_last: bool = False

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()

    def csv_table(self) -> CsvTable:
        result, channels_last = self.result, self.channels_last
        rows: list[list[Any]] = [
            [block.position, _words(block.separable), _shape(block.separable, channels_last),
             block.separable.params, block.separable.macs,
             _words(block.standard) if block.replaced else "", block.standard.params,
             block.standard.macs]
            for block in result.blocks
        ]  # fmt: skip
        rows.append(["total", "", _shape(result.separable, channels_last),
                     result.separable.params, result.separable.macs, "",
                     result.standard.params, result.standard.macs])  # fmt: skip
        return _NETWORK_CSV_HEADER, rows

    def _summary(self) -> list[str]:
        result = self.result
        return [
            f"{result.name or 'network'} on {result.input.format(self.channels_last)}: "
            f"{result.replaced} depthwise-separable block"
            f"{'' if result.replaced == 1 else 's'} replaced by standard convolutions",
            f"as given: {thousands(result.separable.macs)} MACs, "
            f"{thousands(result.separable.params)} params; all standard: "
            f"{thousands(result.standard.macs)} MACs, {thousands(result.standard.params)} params",
            f"given / standard: params {ratio_text(result.params_ratio)}, MACs "
            f"{ratio_text(result.macs_ratio)}",
        ]

    def plain_lines(self) -> list[str]:
        result, channels_last = self.result, self.channels_last
        lines = []
        for block in result.blocks:
            standard = _words(block.standard) if block.replaced else "(same)"
            lines.append(
                f"{block.position:>3}  {_words(block.separable):<60} "
                f"{_shape(block.separable, channels_last):>12}"
                f"  params {block.separable.params:>12,}  MACs {block.separable.macs:>15,}"
                f"  | {standard:<32} params {block.standard.params:>12,}"
                f"  MACs {block.standard.macs:>15,}"
            )
        lines += self._summary()
        lines.append("by kind of layer (share of the network as given):")
        lines += [
            f"  {row[0]:<16} MACs {row[1]:>15} {row[2]:>8}   params {row[3]:>12} {row[4]:>8}"
            for row in _by_kind_rows(result.by_kind)
        ]
        lines.append(COUNTING_CONVENTION)
        return lines

    def print_table(self) -> None:
        _print_network_table(self.result, self.channels_last, self._summary()[1:])


def render_network(
    result: NetworkComparison, output_format: OutputFormat, channels_last: bool = False
) -> None:
    """Print a network's comparison (see :class:`NetworkView`).

    Parameters
    ----------
    result : NetworkComparison
        The network against its all-standard twin.
    output_format : OutputFormat
        table, json, csv or plain.
    channels_last : bool
        Print shapes as H x W x C in the text formats (JSON keeps C, H, W).
    """
    render(NetworkView(result, channels_last), output_format)


def _print_network_table(
    result: NetworkComparison, channels_last: bool, summary: Sequence[str]
) -> None:
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()
    name = result.name or "network"
    title = (
        f"{name} on {result.input.format(channels_last)}: as given vs every "
        "depthwise-separable block as a standard convolution"
    )
    print_fitting(
        console,
        [_network_table(result, title, channels_last)],
        [
            *_network_halves(result, title, channels_last),
            Text(COUNTING_CONVENTION, style="table.caption"),
        ],
        [
            Text(title, style="table.title"),
            stacked(console, _network_records(result, channels_last)),
            Text(COUNTING_CONVENTION, style="table.caption"),
        ],
    )
    print_fitting(console, [Text(line) for line in summary])

    kinds = Table(
        title="by kind of layer, as given (the MobileNet paper's Table 2)",
        title_justify="left",
    )
    for column in ("kind", "MACs", "share", "params", "share"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for row in _by_kind_rows(result.by_kind):
        kinds.add_row(*row)
    kind_records = [
        Record(row[0], [[("MACs", f"{row[1]} ({row[2]})"), ("params", f"{row[3]} ({row[4]})")]])
        for row in _by_kind_rows(result.by_kind)
    ]
    print_fitting(
        console,
        [kinds],
        [Text(str(kinds.title), style="table.title"), stacked(console, kind_records)],
    )
    print_fitting(
        console,
        [_share_chart(result.by_kind, _BAR_WIDTH)],
        [_share_chart(result.by_kind, max(8, console.width - 40))],
    )


def _times_text(standard: Cost, given: Cost, replaced: bool = True) -> str:
    times = ratio(standard.macs, given.macs)
    return f"{times:.3g}" if times is not None and replaced else ""


_GIVEN_COLUMNS = ("#", "as given", "output", "params", "MACs")
_STANDARD_COLUMNS = ("as standard conv", "params", "MACs", "MACs x")


def _network_rows(
    result: NetworkComparison, channels_last: bool
) -> tuple[list[list[str]], list[list[str]]]:
    """The cells of each block as given and as standard (blocks, then the total row), the
    one source of the wide table and of its two halves."""
    from rich.markup import escape

    given = [
        [str(block.position), escape("\n".join(block.separable.layers)),
         _shape(block.separable, channels_last), thousands(block.separable.params),
         thousands(block.separable.macs)]
        for block in result.blocks
    ]  # fmt: skip
    standard = [
        [escape(_words(block.standard)) if block.replaced else "[dim]same[/]",
         thousands(block.standard.params), thousands(block.standard.macs),
         _times_text(block.standard, block.separable, block.replaced)]
        for block in result.blocks
    ]  # fmt: skip
    separable = result.separable
    given.append(["", "total", _shape(separable, channels_last), thousands(separable.params),
                  thousands(separable.macs)])  # fmt: skip
    standard.append(["total", thousands(result.standard.params),
                     thousands(result.standard.macs),
                     _times_text(result.standard, result.separable)])  # fmt: skip
    return given, standard


def _filled(table: Table, columns: Sequence[str], rows: list[list[str]]) -> Table:
    """``table`` with its columns and rows; the last row is the bold total, after a rule."""
    for column in columns:
        table.add_column(column, justify="left" if column.startswith("as ") else "right")
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_section()
    table.add_row(*rows[-1], style="bold")
    return table


def _network_table(result: NetworkComparison, title: str, channels_last: bool) -> Table:
    """The wide table: each block as given and as a standard convolution on one row."""
    from rich.markup import escape
    from rich.table import Table

    given, standard = _network_rows(result, channels_last)
    table = Table(title=escape(title), title_justify="left", caption=COUNTING_CONVENTION,
                  caption_justify="left")  # fmt: skip
    rows = [left + right for left, right in zip(given, standard, strict=True)]
    return _filled(table, _GIVEN_COLUMNS + _STANDARD_COLUMNS, rows)


def _network_halves(result: NetworkComparison, title: str, channels_last: bool) -> list[Table]:
    """The table split in two, for a narrower terminal: the network as given, then as
    standard convolutions, the blocks numbered alike."""
    from rich.markup import escape
    from rich.table import Table

    given, standard = _network_rows(result, channels_last)
    numbered = [[row[0], *other] for row, other in zip(given, standard, strict=True)]
    return [
        _filled(Table(title=escape(title), title_justify="left"), _GIVEN_COLUMNS, given),
        _filled(Table(), ("#", *_STANDARD_COLUMNS), numbered),
    ]


def _network_records(result: NetworkComparison, channels_last: bool) -> list[Record]:
    """One record per block (and the totals), for a terminal too narrow for either table."""

    def costs(cost: Cost) -> list[tuple[str, str]]:
        return [("params", thousands(cost.params)), ("MACs", thousands(cost.macs))]

    records = []
    for block in result.blocks:
        standard = _words(block.standard) if block.replaced else "same"
        times = _times_text(block.standard, block.separable, block.replaced)
        records.append(
            Record(
                str(block.position),
                [
                    [("", _words(block.separable))],
                    [("output", _shape(block.separable, channels_last)), *costs(block.separable)],
                    [
                        ("as standard", standard),
                        *costs(block.standard),
                        *([("MACs x", times)] if times else []),
                    ],
                ],
            )
        )
    times = _times_text(result.standard, result.separable)
    records.append(
        Record(
            "total",
            [
                [("output", _shape(result.separable, channels_last)), *costs(result.separable)],
                [
                    ("as standard", ""),
                    *costs(result.standard),
                    *([("MACs x", times)] if times else []),
                ],
            ],
            style="bold",
        )
    )
    return records


def _share_chart(shares: Sequence[KindShare], bar_width: int) -> Table:
    from rich.table import Table

    chart = Table(title="share of MACs and of parameters", title_justify="left", box=None)
    chart.add_column("kind")
    chart.add_column("", justify="left")
    chart.add_column("bar", justify="left", no_wrap=True)
    chart.add_column("share", justify="right")
    for share in shares:
        chart.add_row(
            share.label,
            "MACs",
            f"[cyan]{bar(share.macs_share, bar_width)}[/]",
            _percent(share.macs_share),
        )
        chart.add_row(
            "",
            "params",
            f"[magenta]{bar(share.params_share, bar_width)}[/]",
            _percent(share.params_share),
        )
    return chart
