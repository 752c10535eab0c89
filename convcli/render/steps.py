"""Rendering of the arithmetic (``apply --steps``, ``draw --steps``): text and JSON.

Each layer prints as: a heading; the input, padded, with the padding in ``[ ]``; the kernel
(dilated: with its holes); what the settings do (stride, unread rows, dilation, PyTorch's
pooling rules); one line per output element in the order the window slides (the window's
values times the weights, the sum); the output. A transposed convolution first shows each
input element scattering its scaled kernel, then each output's sum.

``--format plain`` (or a terminal that cannot encode them) uses ASCII: ``*`` for ``×``,
``^2`` for ``²``, ``.`` for the holes ``·``. ``table`` is the same text, styled by Rich.

JSON::

    {"steps": [{"index": 1, "step": "0 1; 2 3", "op": "conv", "description": "...",
                "input_shape": [C, H, W], "output_shape": [C, H, W],
                "kernel_size": [kh, kw], "stride": [sh, sw], "padding": [t, b, l, r],
                "dilation": [dh, dw], "output_padding": [h, w], "ceil_mode": false,
                "border": "zeros", "groups": 1, "count_include_pad": true,
                "input": [...], "weight": [...] | null, "bias": [...] | null,
                "output": [...],
                "elements": [ELEMENT, ...], "scatters": [SCATTER, ...] (transposed),
                "shown": n, "total": N}],
     "output": [...]}
    ELEMENT = {"output": [c, y, x], "op": "conv", "value": 19, "bias": null,
               "channels": [{"channel": 0, "sum": 19,
                             "terms": [{"input": [c, y, x], "value": 0, "weight": 0,
                                        "product": 0, "padding": false}, ...]}],
               # pools: "window" (terms without weight, "outside": true past the padding),
               #        "chosen": [c, y, x] (max/min/median), "divisor": n (avg)
               # magnitude: "components": [ELEMENT (gx), ELEMENT (gy)]}
    SCATTER = {"input": [c, y, x], "value": v,
               "targets": [{"output": [c, y, x], "weight": w, "product": p,
                            "cropped": false}, ...]}

Arrays are nested lists (C, H, W); infinities (a max pool's padding) are null.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from convcli.numbers import format_number, json_nested, json_number
from convcli.render import OutputFormat, ResultView, render, stdout_console

if TYPE_CHECKING:
    import numpy as np

    from convcli.steps import Arithmetic, ChannelSum, Element, Scatter, Term

#: Output elements shown per layer unless every one is asked for (whole output rows).
DEFAULT_LIMIT = 48
#: Largest padded input (or kernel) printed as a matrix unless every one is asked for.
MATRIX_SIDE = 24


@dataclass(frozen=True)
class Symbols:
    """The characters of the text: Unicode, or ASCII for ``--format plain``."""

    times: str
    hole: str
    squared: str
    arrow: str

    @classmethod
    def for_output(cls, ascii_only: bool) -> Symbols:
        """Unicode unless asked for ASCII or stdout cannot encode it."""
        if not ascii_only:
            try:
                "×·²→".encode(sys.stdout.encoding or "ascii")
            except (UnicodeEncodeError, LookupError):
                ascii_only = True
        return ASCII if ascii_only else UNICODE


UNICODE = Symbols("×", "·", "²", "→")
ASCII = Symbols("*", ".", "^2", "->")

Segment = tuple[str, str]  # (text, Rich style or "")
Line = list[Segment]


def _weight(value: float) -> str:
    text = format_number(value)
    return f"({text})" if text.startswith("-") else text


def _index(position: Sequence[int], with_channel: bool, name: str = "Y") -> str:
    channel, row, col = position
    return f"{name}[{channel},{row},{col}]" if with_channel else f"{name}[{row},{col}]"


def _term_segments(term: Term, symbols: Symbols, with_weight: bool = True) -> Line:
    value = format_number(term.value)
    value_segment = (f"[{value}]", "dim") if term.kind != "input" else (value, "")
    if not with_weight or term.weight is None:
        return [value_segment]
    return [value_segment, (f"{symbols.times}{_weight(term.weight)}", "")]


def _joined(pieces: list[Line], separator: str) -> Line:
    line: Line = []
    for index, piece in enumerate(pieces):
        if index:
            line.append((separator, ""))
        line.extend(piece)
    return line


def _products(part: ChannelSum, symbols: Symbols) -> Line:
    return _joined([_term_segments(t, symbols) for t in part.terms], " + ")


def _bias_segments(bias: float | None) -> Line:
    if bias is None:
        return []
    return [(" + ", ""), (format_number(bias), ""), (" (bias)", "dim")]


def _result(value: float) -> Line:
    return [(" = ", ""), (format_number(value), "bold")]


# ---------------------------------------------------------------------------------------
# Element lines


def _conv_lines(element: Element, layer: Arithmetic, symbols: Symbols) -> list[Line]:
    label = _index(element.position, layer.out_channels > 1)
    parts = element.parts
    one_by_one = layer.geometry.kernel_size == (1, 1)
    if not any(part.terms for part in parts):  # a transposed conv's stride leaves gaps
        if element.bias is None:
            return [
                [(label, "bold"), (" = ", ""), ("0", "bold"), ("  (no product lands here)", "dim")]
            ]
        bias = [(format_number(element.bias), ""), (" (bias)", "dim")]
        return [[(label, "bold"), (" = ", ""), *bias, *_result(element.value)]]
    if len(parts) == 1 or one_by_one:
        products = _joined([_products(part, symbols) for part in parts], " + ")
        return [[(label, "bold"), (" = ", ""), *products, *_bias_segments(element.bias),
                 *_result(element.value)]]  # fmt: skip
    pad = " " * (len(label) + 2)
    lines: list[Line] = []
    for number_, part in enumerate(parts):
        lead = [(label, "bold"), (": ", "")] if number_ == 0 else [(pad, "")]
        lines.append([*lead, (f"channel {part.channel}: ", "dim"), *_products(part, symbols),
                      *_result(part.total)])  # fmt: skip
    totals = _joined([[(format_number(part.total), "")] for part in parts], " + ")
    lines.append([(pad, ""), ("total: ", "dim"), *totals, *_bias_segments(element.bias),
                  *_result(element.value)])  # fmt: skip
    return lines


def _magnitude_lines(element: Element, layer: Arithmetic, symbols: Symbols) -> list[Line]:
    label = _index(element.position, layer.out_channels > 1)
    pad = " " * (len(label) + 2)
    lines: list[Line] = []
    gx, gy = element.components
    for name, component, lead in (
        ("gx", gx, [(label, "bold"), (": ", "")]),
        ("gy", gy, [(pad, "")]),
    ):
        lines.append([*lead, (f"{name}: ", "dim"), *_products(component.parts[0], symbols),
                      *_result(component.value)])  # fmt: skip
    squares = f"sqrt({_weight(gx.value)}{symbols.squared} + {_weight(gy.value)}{symbols.squared})"
    lines.append([(pad, ""), (squares, ""), *_result(element.value)])
    return lines


def _pool_lines(element: Element, layer: Arithmetic, symbols: Symbols) -> list[Line]:
    label = _index(element.position, layer.out_channels > 1)
    window = element.parts[0].terms
    counted = [t for t in window if t.kind != "outside"]
    outside = len(window) - len(counted)
    pieces = []
    for term in counted:
        segments = _term_segments(term, symbols, with_weight=False)
        if term is element.chosen:
            segments = [(text, "bold reverse") for text, _ in segments]
        pieces.append(segments)
    if element.op == "avg":
        body: Line = [("(", ""), *_joined(pieces, " + "), (f") / {element.divisor}", "")]
    else:
        body = [(f"{element.op}(", ""), *_joined(pieces, ", "), (")", "")]
    line: Line = [(label, "bold"), (" = ", ""), *body, *_result(element.value)]
    if outside:
        line.append((f"  ({outside} cells past the padded input: not in the window)", "dim"))
    return [line]


def _scatter_line(scatter: Scatter, layer: Arithmetic, symbols: Symbols) -> Line:
    with_channel = layer.out_channels > 1
    source = _index((scatter.channel, scatter.row, scatter.col), layer.in_channels > 1, "X")
    value = format_number(scatter.value)
    line: Line = [(source, "bold"), (f" = {value}: ", "")]
    pieces = []
    for target in scatter.targets:
        name = _index((target.channel, target.row, target.col), with_channel)
        text = f"{name} += {value}{symbols.times}{_weight(target.weight)}"
        pieces.append([(f"[{text}]", "dim")] if target.cropped else [(text, "")])
    line.extend(_joined(pieces, ", "))
    return line


def element_lines(element: Element, layer: Arithmetic, symbols: Symbols = UNICODE) -> list[str]:
    """The text of one output element, as ``--steps`` prints it.

    Parameters
    ----------
    element : Element
        One output element's terms.
    layer : Arithmetic
        Its layer.
    symbols : Symbols
        Unicode or ASCII characters.

    >>> import numpy as np
    >>> from convcli.steps import conv_arithmetic
    >>> layer = conv_arithmetic(np.arange(9.0).reshape(3, 3), [[0, 1], [2, 3]])
    >>> element_lines(layer.element(0, 0, 0), layer)
    ['Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19']
    """
    return ["".join(text for text, _ in line) for line in _element(element, layer, symbols)]


def _element(element: Element, layer: Arithmetic, symbols: Symbols) -> list[Line]:
    if element.op == "magnitude":
        return _magnitude_lines(element, layer, symbols)
    if element.op in ("max", "avg", "min", "median"):
        return _pool_lines(element, layer, symbols)
    return _conv_lines(element, layer, symbols)


# ---------------------------------------------------------------------------------------
# Matrices and notes


def _matrix_lines(rows: list[list[Line]], indent: str = "  ") -> list[Line]:
    """Right-aligned cells, one space apart (cells are lists of segments)."""
    if not rows:
        return []
    width = max(sum(len(t) for t, _ in cell) for row in rows for cell in row)
    out = []
    for row in rows:
        line: Line = [(indent, "")]
        for index, cell in enumerate(row):
            size = sum(len(t) for t, _ in cell)
            line.append((" " * (width - size + (1 if index else 0)), ""))
            line.extend(cell)
        out.append(line)
    return out


def _plain_matrix(matrix: np.ndarray) -> list[list[Line]]:
    return [[[(format_number(float(v)), "")] for v in row] for row in matrix]


def _padded_matrix(layer: Arithmetic, channel: int) -> list[list[Line]]:
    g = layer.geometry
    rows = [r for r in g.rows.grid if g.rows.kind(r) != "outside"]
    cols = [c for c in g.cols.grid if g.cols.kind(c) != "outside"]
    out = []
    for r in rows:
        cells = []
        for c in cols:
            text = format_number(layer.value_at(channel, r, c))
            cells.append([(text, "")] if g.cell_kind(r, c) == "input" else [(f"[{text}]", "dim")])
        out.append(cells)
    return out


def _kernel_matrix(
    kernel: np.ndarray, dilation: Sequence[int], symbols: Symbols
) -> list[list[Line]]:
    kh, kw = kernel.shape
    dh, dw = dilation
    rows = []
    for r in range((kh - 1) * dh + 1):
        cells = []
        for c in range((kw - 1) * dw + 1):
            if r % dh or c % dw:
                cells.append([(symbols.hole, "dim")])
            else:
                cells.append([(format_number(float(kernel[r // dh, c // dw])), "")])
        rows.append(cells)
    return rows


def _kernel_slices(layer: Arithmetic) -> list[tuple[str, np.ndarray]]:
    """The 2-D kernels to show, each with a label."""
    if layer.op == "magnitude":
        return [("kernel gx", layer.weights[0][0, 0]), ("kernel gy", layer.weights[1][0, 0])]
    weight = layer.weights[0]
    if layer.op == "deconv":
        if weight.shape[:2] == (1, 1):
            return [("", weight[0, 0])]
        return [(f"kernel K[{c},{o}] (input {c} to output {o})", weight[c, o])
                for c in range(weight.shape[0]) for o in range(weight.shape[1])]  # fmt: skip
    if layer.depthwise and layer.in_channels > 1 and _same_planes(weight):
        return [("", weight[0, 0])]
    if weight.shape[:2] == (1, 1):
        return [("", weight[0, 0])]
    if weight.shape[0] == 1:
        return [(f"kernel K[{c}] (channel {c})", weight[0, c]) for c in range(weight.shape[1])]
    return [
        (f"K[{o},{c}]", weight[o, c])
        for o in range(weight.shape[0])
        for c in range(weight.shape[1])
    ]


def _same_planes(weight: np.ndarray) -> bool:
    import numpy as np

    return bool(np.all(weight == weight[:1]))


def _axis_notes(layer: Arithmetic) -> list[str]:
    """What the stride and floor division leave unread, per axis."""
    g = layer.geometry
    notes = []
    for axis, rows in ((g.rows, "rows"), (g.cols, "columns")):
        unread = axis.unread()
        inputs = [p for p in unread if 0 <= p < axis.size]
        before = sum(1 for p in unread if p < 0)
        after = sum(1 for p in unread if p >= axis.size)
        if inputs:
            last = max(p for o in range(axis.out) for p in axis.taps(o))
            gaps = [p for p in inputs if p < last]
            tail = [p for p in inputs if p > last]
            if gaps:
                listed = ", ".join(str(p) for p in gaps)
                notes.append(f"input {rows} never read: {listed} (the stride skips them)")
            if tail:
                listed = ", ".join(str(p) for p in tail)
                notes.append(
                    f"input {rows} never read: {listed} "
                    "(floor division: no whole window reaches them)"
                )
        for count, side in ((before, ("top", "left")), (after, ("bottom", "right"))):
            if count:
                where = side[0] if rows == "rows" else side[1]
                what = "row" if rows == "rows" else "column"
                amount = f"the {where} {what}" if count == 1 else f"{count} {rows} at the {where}"
                notes.append(f"never read: {amount} of padding")
    return notes


def _notes(layer: Arithmetic, symbols: Symbols) -> list[str]:
    g = layer.geometry
    notes: list[str] = []
    (sh, sw), (dh, dw) = g.stride, g.dilation
    if layer.op == "deconv":
        notes.append(
            f"transposed convolution: each input element scatters value {symbols.times} kernel "
            "into the output; where the scattered kernels overlap, the products add up"
        )
        if (sh, sw) != (1, 1):
            notes.append(
                f"stride {_pair(g.stride)}: neighbouring inputs land {_pair(g.stride)} apart "
                "in the output"
            )
        if any(g.pads):
            notes.append(
                f"padding {_pair(g.pads[::2])} crops {_pair(g.pads[::2])} from each side of the "
                f"full {g.rows.extent}x{g.cols.extent} output (products there, in [ ], are dropped)"
            )
        if any(g.output_padding):
            notes.append(
                f"output_padding {_pair(g.output_padding)} adds rows/columns at the bottom/right"
            )
        if (dh, dw) != (1, 1):
            notes.append(
                f"dilation {_pair(g.dilation)}: the kernel's taps land {_pair(g.dilation)} apart"
            )
        return notes
    if (sh, sw) != (1, 1):
        starts_r = ", ".join(str(o * sh) for o in range(g.rows.out))
        starts_c = ", ".join(str(o * sw) for o in range(g.cols.out))
        where = "of the padded input" if any(g.pads) else ""
        notes.append(
            f"stride {_pair(g.stride)}: windows start at rows {starts_r} and columns "
            f"{starts_c} {where}".rstrip()
        )
    if (dh, dw) != (1, 1):
        notes.append(
            f"dilation {_pair(g.dilation)}: the kernel's taps are {_pair(g.dilation)} apart, "
            "so the "
            f"{g.kernel_size[0]}x{g.kernel_size[1]} kernel spans {g.rows.span}x{g.cols.span}; "
            f"the holes ({symbols.hole}) are skipped"
        )
    notes.extend(_axis_notes(layer))
    if layer.op in ("max", "min") and any(g.pads):
        fill = "-inf" if layer.op == "max" else "+inf"
        notes.append(f"{layer.op} pool padding is {fill}: it never wins (PyTorch)")
    if layer.op == "avg" and any(g.pads):
        if layer.count_include_pad:
            notes.append(
                "avg pool: the padding zeros count in the divisor "
                "(PyTorch's count_include_pad=True)"
            )
        else:
            notes.append(
                "avg pool: only real input cells count in the divisor (count_include_pad=False)"
            )
    if g.ceil_mode:
        divides = " (the average divides by the cells inside)" if layer.op == "avg" else ""
        notes.append(
            "ceil mode: a last window may run past the padded input; its cells there are not "
            f"part of the window{divides}, and no window starts in the right padding (PyTorch)"
        )
    if layer.op == "median":
        notes.append(
            "median: the middle value of the sorted window; for an even count, the upper one"
        )
    if layer.op in ("conv", "magnitude") and any(g.pads) and layer.border != "zeros":
        notes.append(f"padding filled by --border {layer.border}")
    if layer.op == "conv" and g.kernel_size == (1, 1) and layer.weights[0].shape[1] > 1:
        notes.append(
            f"1x1 kernel: each output is a weighted sum of the {layer.weights[0].shape[1]} "
            f"channels at the same pixel, X[c,y,x] {symbols.times} K[c]"
        )
    return notes


def _pair(pair: Sequence[int]) -> str:
    return str(pair[0]) if len(set(pair)) == 1 else "x".join(str(v) for v in pair)


def _shape(shape: Sequence[int], channels: bool) -> str:
    return "x".join(str(v) for v in (shape if channels else shape[1:]))


def _heading(layer: Arithmetic) -> str:
    g = layer.geometry
    channels = layer.in_channels > 1 or layer.out_channels > 1
    kernel = f"{g.kernel_size[0]}x{g.kernel_size[1]}"
    if layer.op == "magnitude":
        what = f"gradient magnitude of two {kernel} kernels"
    elif layer.op in ("max", "avg", "min"):
        what = f"{kernel} {layer.op} pool"
    elif layer.op == "median":
        what = f"{kernel} median filter"
    elif layer.op == "deconv":
        what = f"{kernel} transposed convolution"
    elif layer.depthwise and layer.in_channels > 1:
        what = f"{kernel} kernel on each of the {layer.in_channels} channels"
    elif layer.weights[0].shape[0] == 1 and layer.weights[0].shape[1] > 1:
        what = f"{kernel} kernel summing {layer.weights[0].shape[1]} channels"
    elif layer.in_channels > 1 or layer.out_channels > 1:
        groups = f", groups {layer.groups}" if layer.groups > 1 else ""
        what = f"{kernel} conv layer, {layer.in_channels} -> {layer.out_channels} channels{groups}"
    else:
        what = f"{kernel} kernel"
    settings = []
    if g.stride != (1, 1) or layer.op in ("max", "avg", "min"):
        settings.append(f"stride {_pair(g.stride)}")
    if any(g.pads):
        top, bottom, left, right = g.pads
        pads = (
            _pair((top, left))
            if (top, left) == (bottom, right)
            else f"{top},{bottom},{left},{right}"
        )
        fill = {"max": "-inf", "min": "+inf", "avg": "zeros", "deconv": "cropped"}.get(
            layer.op, layer.border
        )
        settings.append(f"padding {pads} ({fill})")
    if g.dilation != (1, 1):
        settings.append(f"dilation {_pair(g.dilation)}")
    if any(g.output_padding):
        settings.append(f"output_padding {_pair(g.output_padding)}")
    if g.ceil_mode:
        settings.append("ceil mode")
    shapes = f"{_shape(layer.x.shape, channels)} -> {_shape(layer.output.shape, channels)}"
    name = f"step {layer.index} '{layer.text}': " if layer.text else ""
    return f"{name}{what}{', ' if settings else ''}{', '.join(settings)}: {shapes}"


def _shown_rows(layer: Arithmetic, limit: int | None) -> int:
    """How many elements to show: whole output rows, at least one, at most ``limit``."""
    total = layer.count
    if limit is None or total <= limit:
        return total
    row = layer.output.shape[-1] if layer.op != "deconv" else layer.output.shape[-1]
    return max(row, (limit // row) * row)


def _input_lines(layer: Arithmetic, limit: int | None, hint: str) -> list[Line]:
    """The input, padded (padding in ``[ ]``), or a remark when it is too large."""
    g = layer.geometry
    big = limit is not None and (len(g.rows.grid) > MATRIX_SIDE or len(g.cols.grid) > MATRIX_SIDE)
    padded = any(g.pads) and layer.op != "deconv"
    title = "input X" + (", padded (padding in [ ])" if padded else "")
    if big:
        remark = (f"{title}: {_shape(layer.x.shape, True)}, not shown (larger than "
                  f"{MATRIX_SIDE}x{MATRIX_SIDE}{hint})")  # fmt: skip
        return [[(remark, "dim")]]
    lines: list[Line] = [[(title + ":", "")]]
    for channel in range(layer.in_channels):
        if layer.in_channels > 1:
            lines.append([(f" channel {channel}:", "dim")])
        matrix = _padded_matrix(layer, channel) if padded else _plain_matrix(layer.x[channel])
        lines.extend(_matrix_lines(matrix))
    return lines


def _weight_lines(layer: Arithmetic, symbols: Symbols) -> list[Line]:
    """The kernel (dilated: with its holes) and the bias."""
    lines: list[Line] = []
    dilation = layer.geometry.dilation
    for label, kernel in _kernel_slices(layer):
        holes = f", dilated ({symbols.hole}: holes)" if dilation != (1, 1) else ""
        lines.append([((label or "kernel K") + holes + ":", "")])
        lines.extend(_matrix_lines(_kernel_matrix(kernel, dilation, symbols)))
    if layer.bias is not None:
        lines.append([("bias: " + " ".join(format_number(float(b)) for b in layer.bias), "")])
    return lines


def _scatter_lines(layer: Arithmetic, symbols: Symbols, limit: int | None, hint: str) -> list[Line]:
    """A transposed convolution's scatters (whole input rows, up to ``limit``)."""
    g = layer.geometry
    total = layer.in_channels * g.rows.size * g.cols.size
    shown = (
        total
        if limit is None or total <= limit
        else max(g.cols.size, (limit // g.cols.size) * g.cols.size)
    )
    lines = [_scatter_line(scatter, layer, symbols)
             for scatter in islice(layer.scatters(), shown)]  # fmt: skip
    if shown < total:
        lines.append([(f"... {total - shown} more input elements not shown{hint}", "dim")])
    lines.append([("each output is the sum of what landed on it:", "")])
    return lines


def _output_lines(layer: Arithmetic) -> list[Line]:
    lines: list[Line] = [[("output Y:", "")]]
    for channel in range(layer.out_channels):
        if layer.out_channels > 1:
            lines.append([(f" channel {channel}:", "dim")])
        lines.extend(_matrix_lines(_plain_matrix(layer.output[channel])))
    return lines


def layer_lines(
    layer: Arithmetic,
    symbols: Symbols = UNICODE,
    limit: int | None = DEFAULT_LIMIT,
    hint: str = "",
    *,
    show_input: bool = True,
) -> list[Line]:
    """Every line of one layer: heading, input, kernel, notes, elements, output.

    Parameters
    ----------
    layer : Arithmetic
        The layer and its numbers.
    symbols : Symbols
        Unicode or ASCII.
    limit : int or None
        Output elements shown (whole rows); None: all.
    hint : str
        Appended to "not shown" remarks.
    show_input : bool
        Print the input matrix (a chain's later step may refer to the previous output).
    """
    lines: list[Line] = [[(_heading(layer), "bold")]]
    if show_input:
        lines += _input_lines(layer, limit, hint)
    if layer.weights:
        lines += _weight_lines(layer, symbols)
    lines += [[(note, "dim")] for note in _notes(layer, symbols)]
    if layer.op == "deconv":
        lines += _scatter_lines(layer, symbols, limit, hint)
    shown = _shown_rows(layer, limit)
    for position in islice(layer.positions(), shown):
        lines.extend(_element(layer.element(*position), layer, symbols))
    if shown < layer.count:
        lines.append([(f"... {layer.count - shown} more output elements not shown{hint}", "dim")])
    return lines + _output_lines(layer)


def steps_text(
    layers: Sequence[Arithmetic],
    symbols: Symbols = UNICODE,
    limit: int | None = DEFAULT_LIMIT,
    hint: str = "",
) -> list[Line]:
    """All the layers of a chain, a blank line between them; a later step's input (the
    previous output) is printed again only when it is padded.

    Parameters
    ----------
    layers : sequence of Arithmetic
        The chain's steps.
    symbols : Symbols
        Unicode or ASCII characters.
    limit : int or None
        Output elements shown per layer (whole rows); None: all.
    hint : str
        Appended to "not shown" remarks.
    """
    lines: list[Line] = []
    for number_, layer in enumerate(layers):
        if number_:
            lines.append([])
        show_input = number_ == 0 or (any(layer.geometry.pads) and layer.op != "deconv")
        block = layer_lines(layer, symbols, limit, hint, show_input=show_input)
        lines.append(block[0])
        if not show_input:
            lines.append([(f"input X: the output of step {layers[number_ - 1].index}", "dim")])
        lines.extend(block[1:])
    return lines


# ---------------------------------------------------------------------------------------
# JSON


def _term_json(term: Term, with_weight: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "input": [term.channel, term.row, term.col],
        "value": json_number(term.value),
    }
    if with_weight:
        data["weight"] = json_number(term.weight or 0.0)
        data["product"] = json_number(term.product)
    data["padding"] = term.kind == "padding"
    if term.kind == "outside":
        data["outside"] = True
    return data


def element_json(element: Element) -> dict[str, Any]:
    """One output element's terms as data."""
    data: dict[str, Any] = {"output": list(element.position), "op": element.op,
                            "value": json_number(element.value)}  # fmt: skip
    if element.op == "magnitude":
        data["components"] = [element_json(part) for part in element.components]
        return data
    if element.op in ("max", "avg", "min", "median"):
        data["window"] = [_term_json(t, False) for t in element.parts[0].terms]
        if element.chosen is not None:
            chosen = element.chosen
            data["chosen"] = [chosen.channel, chosen.row, chosen.col]
        if element.divisor is not None:
            data["sum"] = json_number(element.parts[0].total)
            data["divisor"] = element.divisor
        return data
    data["bias"] = None if element.bias is None else json_number(element.bias)
    data["channels"] = [
        {
            "channel": part.channel,
            "sum": json_number(part.total),
            "terms": [_term_json(t, True) for t in part.terms],
        }  # fmt: skip
        for part in element.parts
    ]
    return data


def _scatter_json(scatter: Scatter) -> dict[str, Any]:
    return {
        "input": [scatter.channel, scatter.row, scatter.col],
        "value": json_number(scatter.value),
        "targets": [
            {
                "output": [t.channel, t.row, t.col],
                "weight": json_number(t.weight),
                "product": json_number(t.product),
                "cropped": t.cropped,
            }  # fmt: skip
            for t in scatter.targets
        ],
    }


def layer_json(layer: Arithmetic, limit: int | None = None) -> dict[str, Any]:
    """One layer as data (see the module docstring)."""
    g = layer.geometry
    shown = _shown_rows(layer, limit)
    data: dict[str, Any] = {
        "index": layer.index,
        "step": layer.text or None,
        "op": layer.op,
        "description": _heading(layer),
        "input_shape": list(layer.x.shape),
        "output_shape": list(layer.output.shape),
        "kernel_size": list(g.kernel_size),
        "stride": list(g.stride),
        "padding": list(g.pads),
        "dilation": list(g.dilation),
        "output_padding": list(g.output_padding),
        "ceil_mode": g.ceil_mode,
        "border": layer.border if layer.op in ("conv", "magnitude", "median") else None,
        "groups": layer.groups,
        "count_include_pad": layer.count_include_pad if layer.op == "avg" else None,
        "input": json_nested(layer.x),
        "weight": [json_nested(w) for w in layer.weights]
        if len(layer.weights) > 1
        else (json_nested(layer.weights[0]) if layer.weights else None),
        "bias": None if layer.bias is None else json_nested(layer.bias),
        "output": json_nested(layer.output),
    }
    elements = []
    for number_, position in enumerate(layer.positions()):
        if number_ >= shown:
            break
        elements.append(element_json(layer.element(*position)))
    data["elements"] = elements
    if layer.op == "deconv":
        data["scatters"] = [_scatter_json(s) for s in layer.scatters()]
    data["shown"] = len(elements)
    data["total"] = layer.count
    return data


# ---------------------------------------------------------------------------------------
# Printing


@dataclass(frozen=True)
class StepsView(ResultView):
    """The arithmetic of ``layers`` (one layer, or a chain's steps) as text or data.

    ``table``: text with Unicode symbols, styled on a terminal; ``plain``: ASCII text;
    ``json``: the terms as data (see the module docstring); no CSV. ``limit``: output
    elements shown per layer (whole rows), None for all; ``hint`` is appended to "not
    shown" remarks (how to see everything).
    """

    layers: Sequence[Arithmetic]
    limit: int | None = DEFAULT_LIMIT
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        steps = [layer_json(layer, self.limit) for layer in self.layers]
        return {"steps": steps, "output": json_nested(self.layers[-1].output)}

    def csv_table(self) -> Any:
        from convcli.errors import SpecError

        raise SpecError("--steps prints text or JSON: use --format table, plain or json, not csv")

    def _lines(self, ascii_only: bool) -> list[Line]:
        return steps_text(self.layers, Symbols.for_output(ascii_only), self.limit, self.hint)

    def plain_lines(self) -> list[str]:
        return ["".join(text for text, _ in line) for line in self._lines(True)]

    def print_table(self) -> None:
        lines = self._lines(False)
        if not sys.stdout.isatty():
            sys.stdout.write("".join("".join(text for text, _ in line) + "\n" for line in lines))
            return
        from rich.text import Text

        console = stdout_console()
        for line in lines:
            text = Text(no_wrap=False)
            for segment, style in line:
                text.append(segment, style=style or None)
            console.print(text, highlight=False, soft_wrap=True)


def render_steps(
    layers: Sequence[Arithmetic],
    output_format: OutputFormat | None,
    *,
    limit: int | None = DEFAULT_LIMIT,
    hint: str = "",
) -> None:
    """Print the arithmetic of ``layers`` on stdout (see :class:`StepsView`).

    Parameters
    ----------
    layers : sequence of Arithmetic
        One layer, or a chain's steps.
    output_format : OutputFormat or None
        None or table: Unicode text, styled on a terminal; plain: ASCII; json: data.
    limit : int or None
        Output elements shown per layer (whole rows); None: all.
    hint : str
        Appended to "not shown" remarks (how to see everything).

    Raises
    ------
    ConvcliError
        ``--format csv``.
    """
    render(StepsView(layers, limit, hint), output_format)
