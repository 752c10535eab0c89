"""Rendering for ``convcli shape``: the layer report and the ``--target`` answer.

Formats: ``table`` (Rich: one row per layer and a total row, then any warnings and the
counting convention), ``json`` (:func:`report_dict`), ``csv`` (one row per layer, then a
total row) and ``plain`` (the final shape alone, for ``$(...)``). When the full table is
wider than the terminal, numbers are abbreviated (``21.7M``) and the receptive field is
folded into one ``size/jump/pad`` column, so a one-layer report fits 80 columns.
Rich is imported only when a table is drawn.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from convcli.geometry import COUNTING_CONVENTION, ChainReport, LayerReport, Shape, dims_text
from convcli.render import OutputFormat, print_csv, print_json, stdout_console, thousands

if TYPE_CHECKING:
    from rich.table import Table

    from convcli.commands.shape import TargetReport


def number(value: Fraction | int) -> int | float:
    """A Fraction as JSON wants it: an int when whole, else a float.

    >>> number(Fraction(5, 2)), number(Fraction(4, 1))
    (2.5, 4)
    """
    value = Fraction(value)
    if value.denominator == 1:
        return int(value)
    return round(float(value), 6)


def per_axis(values: tuple[Fraction, Fraction] | tuple[int, int]) -> str:
    """``7`` when both axes agree, else ``7x3`` (H x W).

    >>> per_axis((Fraction(5, 2), Fraction(5, 2))), per_axis((7, 3))
    ('2.5', '7x3')
    """
    texts = [str(number(v)) for v in values]
    return texts[0] if texts[0] == texts[1] else "x".join(texts)


def compact(value: int) -> str:
    """Three significant digits with an SI suffix above 9,999: ``21.7M``.

    >>> compact(1792), compact(21676032), compact(8388608)
    ('1,792', '21.7M', '8.39M')
    """
    if value < 10_000:
        return thousands(value)
    for suffix, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return thousands(value)  # pragma: no cover


def memory(size: int) -> str:
    """Bytes in binary units: ``3.06 MiB``.

    >>> memory(512), memory(3211264)
    ('512 B', '3.06 MiB')
    """
    if size < 1024:
        return f"{size} B"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} B"  # pragma: no cover


def _layer_dict(layer: LayerReport) -> dict[str, Any]:
    data: dict[str, Any] = {
        "position": layer.position,
        "type": layer.kind,
        "spec": layer.spec,
        "input": layer.input.dims(),
        "output": layer.output.dims(),
        "params": layer.params,
        "macs": layer.macs,
        "flops": layer.flops,
        "window_ops": layer.window_ops,
        "padding": list(layer.padding),
        "rf": [number(v) for v in layer.rf],
        "jump": [number(v) for v in layer.jump],
        "rf_padding": [number(v) for v in layer.rf_padding],
        "memory_bytes": layer.memory_bytes,
        "warnings": list(layer.warnings),
    }
    if layer.parts:
        data["parts"] = [_layer_dict(part) for part in layer.parts]
    return data


def report_dict(report: ChainReport) -> dict[str, Any]:
    """The JSON schema: ``input``, ``output``, ``layers``, ``total``, ``convention``.

    Shapes are lists of ints in ``[N,] C, H, W`` order; a flat shape is ``[N,] F``. A
    sepconv layer also has ``parts`` (its depthwise and pointwise layers).
    """
    return {
        "input": report.input.dims(),
        "output": report.output.dims(),
        "layers": [_layer_dict(layer) for layer in report.layers],
        "total": {
            "params": report.total.params,
            "macs": report.total.macs,
            "flops": report.total.flops,
            "window_ops": report.total.window_ops,
            "memory_bytes": report.total.memory_bytes,
        },
        "bytes_per_element": report.dtype_bytes,
        "convention": COUNTING_CONVENTION,
    }


_CSV_HEADER = [
    "position", "type", "spec", "input", "output", "params", "macs", "flops", "window_ops",
    "pad_top", "pad_bottom", "pad_left", "pad_right", "rf_h", "rf_w", "jump_h", "jump_w",
    "rf_padding_h", "rf_padding_w", "memory_bytes", "warnings",
]  # fmt: skip


def _csv_rows(report: ChainReport, channels_last: bool) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for layer in report.layers:
        rows.append([
            layer.position, layer.kind, layer.spec, layer.input.format(channels_last),
            layer.output.format(channels_last), layer.params, layer.macs, layer.flops,
            layer.window_ops, *layer.padding, *map(number, layer.rf), *map(number, layer.jump),
            *map(number, layer.rf_padding), layer.memory_bytes, "; ".join(layer.warnings),
        ])  # fmt: skip
    total = report.total
    rows.append([
        "total", "", "", report.input.format(channels_last), report.output.format(channels_last),
        total.params, total.macs, total.flops, total.window_ops, "", "", "", "", "", "", "", "",
        "", "", total.memory_bytes, "",
    ])  # fmt: skip
    return rows


def plain_shape(shape: Shape, channels_last: bool = False, square_input: bool = False) -> str:
    """The final shape for ``--format plain``, in the form the input was typed.

    An input typed as one number (``224``) gives one number back while the output is a
    square without channels, so ``$(convcli shape ...)`` can feed the next command.

    >>> plain_shape(Shape(None, 112, 112), square_input=True), plain_shape(Shape(64, 56, 56))
    ('112', '64x56x56')
    """
    if square_input and shape.channels is None and shape.height == shape.width:
        return str(shape.height)
    return shape.format(channels_last)


def render_report(
    report: ChainReport,
    output_format: OutputFormat,
    channels_last: bool = False,
    square_input: bool = False,
) -> None:
    """Print a :class:`ChainReport` in the chosen format (``square_input``: see
    :func:`plain_shape`)."""
    if output_format == OutputFormat.plain:
        print(plain_shape(report.output, channels_last, square_input))
    elif output_format == OutputFormat.json:
        print_json(report_dict(report))
    elif output_format == OutputFormat.csv:
        print_csv(_CSV_HEADER, _csv_rows(report, channels_last))
    else:
        _print_table(report, channels_last)


def _build_table(report: ChainReport, channels_last: bool, narrow: bool) -> Table:
    from rich import box
    from rich.table import Table

    count = compact if narrow else thousands
    # Parameters stay exact up to a million: they are what people check against papers.
    count_params = (lambda n: thousands(n) if n < 10**6 else compact(n)) if narrow else thousands
    show_position = not (narrow and len(report.layers) == 1)
    show_window_ops = report.total.window_ops > 0 and not narrow
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"input {report.input.format(channels_last)}",
        title_justify="left",
        pad_edge=False,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    if show_position:
        table.add_column("#", justify="right")
    table.add_column("layer", overflow="fold")
    table.add_column("output", no_wrap=True)
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("FLOPs", justify="right")
    if show_window_ops:
        table.add_column("window ops", justify="right")
    table.add_column("pads t,b,l,r" if not narrow else "pads", no_wrap=True)
    if narrow:
        table.add_column("RF/j/p", no_wrap=True)
    else:
        table.add_column("RF", justify="right")
        table.add_column("jump", justify="right")
        table.add_column("RF pad", justify="right")
    table.add_column("memory", justify="right", no_wrap=True)

    def row(layer: LayerReport, name: str, style: str | None = None, section: bool = False) -> None:
        is_part = style is not None
        cells = ([""] if is_part else [str(layer.position)]) if show_position else []
        cells += [
            name,
            layer.output.format(channels_last),
            count_params(layer.params),
            count(layer.macs),
            count(layer.flops),
        ]
        if show_window_ops:
            cells.append(count(layer.window_ops) if layer.window_ops else "")
        cells.append(",".join(map(str, layer.padding)))
        if narrow:
            cells.append("/".join(per_axis(v) for v in (layer.rf, layer.jump, layer.rf_padding)))
        else:
            cells += [per_axis(layer.rf), per_axis(layer.jump), per_axis(layer.rf_padding)]
        cells.append(memory(layer.memory_bytes))
        table.add_row(*cells, style=style, end_section=section)

    from rich.markup import escape

    for index, layer in enumerate(report.layers):
        last = index == len(report.layers) - 1
        row(layer, escape(layer.spec), section=last and not layer.parts)
        for part_index, part in enumerate(layer.parts):
            name = f"  {'depthwise' if part.kind == 'dwconv' else 'pointwise'}"
            row(part, name, style="dim", section=last and part_index == len(layer.parts) - 1)

    total = report.total
    cells = [""] if show_position else []
    cells += [
        "total",
        report.output.format(channels_last),
        count_params(total.params),
        count(total.macs),
        count(total.flops),
    ]
    if show_window_ops:
        cells.append(count(total.window_ops))
    cells += ["", ""] if narrow else ["", "", "", ""]
    cells.append(memory(total.memory_bytes))
    table.add_row(*cells, style="bold")
    return table


def _natural_width(table: Table) -> int:
    """The width the table takes when nothing has to be squeezed."""
    import io

    from rich.console import Console

    scratch = Console(file=io.StringIO(), width=10_000, color_system=None)
    scratch.print(table)
    return max(len(line.rstrip()) for line in scratch.file.getvalue().splitlines())


def _print_table(report: ChainReport, channels_last: bool) -> None:
    from rich.markup import escape

    console = stdout_console()
    table = _build_table(report, channels_last, narrow=False)
    narrow = _natural_width(table) > console.width
    if narrow:
        table = _build_table(report, channels_last, narrow=True)
    console.print(table)
    for layer in report.layers:
        for warning in layer.warnings:
            console.print(
                f"[yellow]warning:[/] layer {layer.position} '{escape(layer.spec)}': {warning}",
                highlight=False,
            )
    if narrow:
        console.print(
            "RF/j/p: receptive field size / jump (effective stride) / effective padding, in "
            "input pixels",
            highlight=False,
        )
    if narrow and report.total.window_ops:
        console.print(
            f"pooling window operations (not in MACs): {thousands(report.total.window_ops)}",
            highlight=False,
        )
    console.print(f"[dim]{COUNTING_CONVENTION}[/]", highlight=False)


# ---- --target -------------------------------------------------------------------------------


def _pytorch_text(option: Any) -> str:
    if option.pytorch:
        return option.pytorch
    before, after = option.pads
    return f"F.pad {before} before, {after} after, then padding=0"


def _tensorflow_text(option: Any, kind: str) -> str:
    if kind == "deconv":
        return "-"
    if option.tf_same:
        return "padding='SAME'"
    if option.pads == (0, 0):
        return "padding='VALID'"
    return "tf.pad, then 'VALID'"


def render_targets(result: TargetReport, output_format: OutputFormat) -> None:
    """Print the ``--target`` options: strides and paddings in PyTorch and TF terms."""
    entries = [(axis, option) for axis, options in result.axes for option in options]
    deconv = result.kind == "deconv"
    if output_format == OutputFormat.json:
        print_json({
            "input": result.input.dims(),
            "target": list(result.target),
            "type": result.kind,
            "kernel": list(result.kernel),
            "dilation": list(result.dilation),
            "options": [
                {
                    "axis": axis,
                    "stride": option.stride,
                    "padding": list(option.pads),
                    "output_padding": option.output_padding,
                    "pytorch": _pytorch_text(option),
                    "tf_same": option.tf_same,
                }
                for axis, option in entries
            ],
        })  # fmt: skip
        return
    if output_format == OutputFormat.csv:
        print_csv(
            ["axis", "stride", "pad_before", "pad_after", "output_padding", "pytorch", "tf_same"],
            [
                [axis, o.stride, *o.pads, o.output_padding, _pytorch_text(o), o.tf_same]
                for axis, o in entries
            ],
        )
        return
    if output_format == OutputFormat.plain:
        for axis, option in entries:
            prefix = "" if axis == "h,w" else f"{axis} "
            extra = f" output_padding {option.output_padding}" if deconv else ""
            same = " (TF SAME)" if option.tf_same else ""
            print(f"{prefix}stride {option.stride} pad {option.pads[0]},{option.pads[1]}"
                  f"{extra}{same}")  # fmt: skip
        return

    from rich import box
    from rich.table import Table

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
    for axis, option in entries:
        cells = [axis] if per_axis_rows else []
        cells += [str(option.stride), f"{option.pads[0]},{option.pads[1]}"]
        if deconv:
            cells.append(str(option.output_padding))
        cells += [_pytorch_text(option), _tensorflow_text(option, result.kind)]
        table.add_row(*cells)
    console = stdout_console()
    console.print(table)
