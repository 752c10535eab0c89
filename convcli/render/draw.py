"""Pictures of a layer's geometry (``convcli draw``): GIF, APNG, PNG (Pillow) and SVG (text).

In the spirit of Dumoulin & Visin's convolution arithmetic animations: the input on the
left (its padding shaded grey, the kernel's footprint outlined, the cells it reads dark
blue), the output on the right (the cell being computed dark green, those done light
green). A transposed convolution is drawn the other way round: each input cell in turn
scatters its kernel onto the uncropped output, whose cropped border is shaded as padding.
One frame per output position in sliding order (transposed: per input position).

With a matrix, the cells hold the numbers (the input's values, the kernel's weights in the
corner of the cells it reads, the outputs as they are computed, the pool's chosen value in
red) and a caption gives the sum that ``--steps`` prints, so both tell the same story.

Drawing is deterministic: palette images with a fixed palette, a bitmap-rendered font,
no timestamps, so the same command gives the same bytes. Every cell state has its own
colour (:data:`STATE_COLOURS`); :class:`Layout` says where each cell is drawn, so tests
can check the pixels against the geometry.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convcli.numbers import format_number
from convcli.render.steps import ASCII, UNICODE, Symbols, element_lines

if TYPE_CHECKING:
    from PIL import Image, ImageFont

    from convcli.compare import NetworkComparison
    from convcli.geometry import ChainReport
    from convcli.steps import Arithmetic, Geometry
    from convcli.teaching import LayerAnswer, NetworkPicture, Region

Cell = tuple[int, int]

#: The palette: name -> RGB. Index order is fixed (the palette of every image).
COLOURS: dict[str, tuple[int, int, int]] = {
    "background": (255, 255, 255),
    "grid": (70, 70, 70),
    "faint": (190, 190, 190),
    "text": (20, 20, 20),
    "light-text": (255, 255, 255),
    "muted-text": (110, 110, 110),
    "footprint": (8, 48, 107),
    "input": (166, 206, 227),
    "padding": (228, 228, 228),
    "outside": (255, 255, 255),
    "tap-input": (31, 120, 180),
    "tap-padding": (125, 125, 125),
    "tap-outside": (247, 206, 206),
    "chosen": (215, 48, 39),
    "output": (237, 248, 233),
    "output-done": (161, 217, 155),
    "output-current": (35, 139, 69),
    "target-cropped": (125, 125, 125),
}

#: A cell's state -> its fill colour. Cropped output cells (transposed) look like padding.
STATE_COLOURS: dict[str, str] = {
    "input": "input",
    "padding": "padding",
    "outside": "outside",
    "cropped": "padding",
    "tap-input": "tap-input",
    "tap-padding": "tap-padding",
    "tap-outside": "tap-outside",
    "chosen": "chosen",
    "output": "output",
    "output-done": "output-done",
    "output-current": "output-current",
    "target": "output-current",
    "target-cropped": "target-cropped",
    "cropped-done": "padding",
}
_DARK = {"tap-input", "tap-padding", "chosen", "output-current", "target", "target-cropped"}
_INDEX = {name: index for index, name in enumerate(COLOURS)}


def rgb(state: str) -> tuple[int, int, int]:
    """The fill colour of a cell state."""
    return COLOURS[STATE_COLOURS[state]]


# ---------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class Grid:
    """Where one grid is drawn: its top-left corner, its row and column positions (as the
    geometry numbers them: padding negative), and the cell size in pixels."""

    x: int
    y: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    cell: int

    @property
    def width(self) -> int:
        return len(self.cols) * self.cell + 1

    @property
    def height(self) -> int:
        return len(self.rows) * self.cell + 1

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of a cell, edges included (the grid lines)."""
        x0 = self.x + self.cols.index(col) * self.cell
        y0 = self.y + self.rows.index(row) * self.cell
        return (x0, y0, x0 + self.cell, y0 + self.cell)

    def inside(self, row: int, col: int) -> tuple[int, int]:
        """A pixel inside the cell that no text or outline covers (its fill colour)."""
        x0, y0, _, _ = self.box(row, col)
        return (x0 + 4, y0 + 4)


@dataclass(frozen=True)
class Layout:
    """The whole picture: the title, the two grids with their labels, the caption."""

    width: int
    height: int
    cell: int
    margin: int
    title: str
    left: Grid
    right: Grid
    left_label: str
    right_label: str
    label_y: int
    caption_y: int
    line_height: int
    font_size: int


MARGIN = 12
LINE = 18
FONT = 13
SMALL = 9
#: Default cell sizes: with numbers, and for geometry only.
CELL_NUMBERS = 36
CELL_PLAIN = 24


def make_layout(geometry: Geometry, cell: int, title: str, caption_lines: int) -> Layout:
    """Place the grids: left the (padded) input, right the output; transposed: left the
    input, right the uncropped output.

    Parameters
    ----------
    geometry : Geometry
        The layer's grids.
    cell : int
        Cell side in pixels.
    title : str
        The line above the grids.
    caption_lines : int
        Lines kept for the caption under them.
    """
    g = geometry
    if g.transposed:
        left_rows, left_cols = range(g.rows.size), range(g.cols.size)
        right_rows, right_cols = g.rows.grid, g.cols.grid
        labels = ("input", "output (grey: cropped)" if any(g.pads) else "output")
    else:
        left_rows, left_cols = g.rows.grid, g.cols.grid
        right_rows, right_cols = range(g.rows.out), range(g.cols.out)
        labels = ("input (grey: padding)" if any(g.pads) else "input", "output")
    top = MARGIN + LINE + 6
    gap = max(2 * cell, 40)
    left_h = len(left_rows) * cell + 1
    right_h = len(right_rows) * cell + 1
    grids_h = max(left_h, right_h)
    left = Grid(MARGIN, top + (grids_h - left_h) // 2, tuple(left_rows), tuple(left_cols), cell)
    gap = max(gap, int(text_width(labels[0], SMALL + 2)) - left.width + 16)
    right_x = MARGIN + left.width + gap
    right = Grid(
        right_x, top + (grids_h - right_h) // 2, tuple(right_rows), tuple(right_cols), cell
    )
    label_y = top + grids_h + 4
    caption_y = label_y + LINE + 4
    right_label = text_width(labels[1], SMALL + 2)
    width = int(
        max(right_x + max(right.width, right_label) + MARGIN, 2 * MARGIN + text_width(title), 320)
    )
    height = caption_y + max(caption_lines, 1) * LINE + MARGIN
    return Layout(width, height, cell, MARGIN, title, left, right, labels[0], labels[1],
                  label_y, caption_y, LINE, FONT)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Frames


@dataclass
class Frame:
    """One picture: every cell's state and text, the footprint, the caption."""

    position: Cell
    left: dict[Cell, str]
    right: dict[Cell, str]
    left_text: dict[Cell, str] = field(default_factory=dict)
    left_small: dict[Cell, str] = field(default_factory=dict)
    right_text: dict[Cell, str] = field(default_factory=dict)
    footprint: tuple[str, Cell, Cell] | None = None  # ("left"|"right", first, last)
    caption: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The frame as data: each grid's cells as ``[row, col, state]`` (and
        ``[row, col, text]``), the footprint as ``{"side", "first", "last"}``."""

        def cells(mapping: dict[Cell, str]) -> list[list[Any]]:
            return [[row, col, value] for (row, col), value in mapping.items()]

        footprint = None
        if self.footprint is not None:
            side, first, last = self.footprint
            footprint = {"side": side, "first": list(first), "last": list(last)}
        return {
            "position": list(self.position),
            "left": cells(self.left),
            "right": cells(self.right),
            "left_text": cells(self.left_text),
            "left_small": cells(self.left_small),
            "right_text": cells(self.right_text),
            "footprint": footprint,
            "caption": list(self.caption),
        }


def _base_left(geometry: Geometry) -> dict[Cell, str]:
    g = geometry
    if g.transposed:
        return {(r, c): "input" for r in range(g.rows.size) for c in range(g.cols.size)}
    return {(r, c): g.cell_kind(r, c) for r in g.rows.grid for c in g.cols.grid}


def _tap_state(kind: str) -> str:
    return {"input": "tap-input", "padding": "tap-padding", "outside": "tap-outside"}[kind]


def _footprint(taps: Sequence) -> tuple[Cell, Cell]:
    rows = [t.row for t in taps]
    cols = [t.col for t in taps]
    return (min(rows), min(cols)), (max(rows), max(cols))


def build_frames(
    geometry: Geometry,
    layer: Arithmetic | None = None,
    symbols: Symbols = ASCII,
    only: Cell | None = None,
) -> list[Frame]:
    """Every frame, in sliding order: one per output position (transposed: per input).

    Parameters
    ----------
    geometry : Geometry
    layer : Arithmetic, optional
        With it, the cells hold numbers and the captions give the sums (one channel).
    symbols : Symbols
        ASCII for raster pictures (the bundled font has no ``×``), Unicode for SVG.
    only : (int, int), optional
        Build the frame of this position alone (a still), as it is in the sequence.

    Examples
    --------
    >>> from convcli.steps import conv_geometry
    >>> frames = build_frames(conv_geometry(4, 3))
    >>> len(frames), frames[1].left[(0, 1)], frames[1].left[(0, 0)], frames[1].right[(0, 1)]
    (4, 'tap-input', 'input', 'output-current')
    """
    if geometry.transposed:
        return _scatter_frames(geometry, layer, symbols, only)
    g = geometry
    base_left = _base_left(g)
    out_cells = [(r, c) for r in range(g.rows.out) for c in range(g.cols.out)]
    left_text: dict[Cell, str] = {}
    if layer is not None:
        left_text = {cell: format_number(layer.value_at(0, *cell)) for cell in base_left
                     if g.cell_kind(*cell) != "outside"}  # fmt: skip
    frames = []
    for index, position in enumerate(g.frames()):
        if only is not None and position != only:
            continue
        taps = g.taps(*position)
        left = dict(base_left)
        small: dict[Cell, str] = {}
        for tap in taps:
            left[(tap.row, tap.col)] = _tap_state(tap.kind)
        caption = [f"Y[{position[0]},{position[1]}]"]
        if layer is not None:
            element = layer.element(0, *position)
            if element.chosen is not None:
                left[(element.chosen.row, element.chosen.col)] = "chosen"
            if layer.weights:
                weight = layer.weights[0][0, 0]
                for tap in taps:
                    small[(tap.row, tap.col)] = format_number(float(weight[tap.tap]))
            caption = element_lines(element, layer, symbols)
        done = set(out_cells[:index])
        right = {cell: "output-done" if cell in done else "output" for cell in out_cells}
        right[position] = "output-current"
        right_text = {}
        if layer is not None:
            right_text = {
                cell: format_number(float(layer.output[0][cell])) for cell in done | {position}
            }
        first, last = _footprint(taps)
        frames.append(
            Frame(
                position, left, right, left_text, small, right_text, ("left", first, last), caption
            )
        )
    return frames


def _scatter_frames(
    geometry: Geometry, layer: Arithmetic | None, symbols: Symbols, only: Cell | None = None
) -> list[Frame]:
    g = geometry
    base_left = _base_left(g)
    base_right = {(r, c): g.cell_kind(r, c) for r in g.rows.grid for c in g.cols.grid}
    left_text = {}
    if layer is not None:
        left_text = {cell: format_number(float(layer.x[0][cell])) for cell in base_left}
    sums: dict[Cell, float] = {}
    touched: set[Cell] = set()
    frames = []
    for position in g.frames():
        taps = g.taps(*position)
        # The sums and the cells touched so far carry over: every position adds to them,
        # drawn or not.
        right = {}
        if only is None or position == only:
            for cell, kind in base_right.items():
                if cell in touched:
                    right[cell] = "cropped-done" if kind == "cropped" else "output-done"
                else:
                    right[cell] = kind
            for tap in taps:
                right[(tap.row, tap.col)] = "target-cropped" if tap.kind == "cropped" else "target"
        touched.update((tap.row, tap.col) for tap in taps)
        scatter = layer.scatter(0, *position) if layer is not None else None
        for target in scatter.targets if scatter is not None else ():
            cell = (target.row, target.col)
            sums[cell] = sums.get(cell, 0.0) + target.product
        if not right:
            continue
        left = dict(base_left)
        left[position] = "tap-input"
        caption = [f"X[{position[0]},{position[1]}] scatters the kernel"]
        right_text: dict[Cell, str] = {}
        if scatter is not None:
            right_text = {cell: format_number(value) for cell, value in sums.items()}
            value = format_number(scatter.value)
            parts = [f"Y[{t.row},{t.col}] += {value}{symbols.times}{_signed(t.weight)}"
                     for t in scatter.targets]  # fmt: skip
            caption = [f"X[{position[0]},{position[1]}] = {value}: " + ", ".join(parts)]
        first, last = _footprint(taps)
        frames.append(
            Frame(
                position,
                left,
                right,
                dict(left_text),
                {},
                right_text,
                ("right", first, last),
                caption,
            )  # fmt: skip
        )
    return frames


def _signed(value: float) -> str:
    text = format_number(value)
    return f"({text})" if text.startswith("-") else text


def wrap(lines: Sequence[str], width: int, measure: Callable[[str], float]) -> list[str]:
    """Break caption lines at ``" + "`` or ``", "`` so that each fits ``width`` pixels.

    Parameters
    ----------
    lines : sequence of str
        The caption.
    width : int
        Room in pixels.
    measure : callable
        Text -> its width in pixels.
    """
    out: list[str] = []
    for line in lines:
        while measure(line) > width:
            cut = None
            for separator in (" + ", ", ", " "):
                position = line.rfind(separator, 0, len(line))
                while position > 0 and measure(line[: position + len(separator)]) > width:
                    position = line.rfind(separator, 0, position)
                if position > 0:
                    cut = position + len(separator)
                    break
            if cut is None:
                break
            out.append(line[:cut].rstrip())
            line = "    " + line[cut:]
        out.append(line)
    return out


# ---------------------------------------------------------------------------------------
# Raster (Pillow)


_FONTS: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def font(size: int):  # -> ImageFont
    """Pillow's bundled font at ``size`` (the same glyphs on every machine)."""
    if size not in _FONTS:
        from PIL import ImageFont

        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


def text_width(text: str, size: int = FONT) -> float:
    return font(size).getlength(text)


def _fit(text: str, limit: float, size: int) -> str:
    """Shorter forms of a number until it fits the cell."""
    if text_width(text, size) <= limit:
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    for digits in (4, 3, 2, 1):
        shorter = f"{value:.{digits}g}"
        if text_width(shorter, size) <= limit:
            return shorter
    return f"{value:.0e}"


def _palette() -> list[int]:
    flat = [channel for colour in COLOURS.values() for channel in colour]
    return flat + [0] * (768 - len(flat))


def raster(layout: Layout, frame: Frame) -> Image.Image:
    """One frame as a palette image (the palette is :data:`COLOURS`)."""
    from PIL import Image, ImageDraw

    image = Image.new("P", (layout.width, layout.height), _INDEX["background"])
    image.putpalette(_palette())
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"  # no anti-aliasing: the palette stays exact
    draw.text((layout.margin, layout.margin), layout.title, fill=_INDEX["text"], font=font(FONT))
    for grid, states, texts, small in (
        (layout.left, frame.left, frame.left_text, frame.left_small),
        (layout.right, frame.right, frame.right_text, {}),
    ):
        for cell, state in states.items():
            x0, y0, x1, y1 = grid.box(*cell)
            outline = "faint" if state == "outside" else "grid"
            draw.rectangle(
                (x0, y0, x1, y1), fill=_INDEX[STATE_COLOURS[state]], outline=_INDEX[outline]
            )
            colour = _INDEX["light-text" if state in _DARK else "text"]
            if state in ("padding", "cropped", "cropped-done"):
                colour = _INDEX["muted-text"]
            if cell in texts:
                size = FONT if layout.cell >= 30 else SMALL
                text = _fit(texts[cell], layout.cell - 4, size)
                width = text_width(text, size)
                top = y0 + (layout.cell - size) // 2 - (3 if cell in small else 1)
                draw.text((x0 + (layout.cell - width) / 2, top), text, fill=colour, font=font(size))
            if cell in small:
                text = _fit(small[cell], layout.cell - 4, SMALL)
                width = text_width(text, SMALL)
                draw.text((x1 - 2 - width, y1 - SMALL - 3), text, fill=colour, font=font(SMALL))
    if frame.footprint is not None:
        side, first, last = frame.footprint
        grid = layout.left if side == "left" else layout.right
        x0, y0, _, _ = grid.box(*first)
        _, _, x1, y1 = grid.box(*last)
        draw.rectangle((x0, y0, x1, y1), outline=_INDEX["footprint"], width=2)
    label = _INDEX["muted-text"]
    draw.text((layout.left.x, layout.label_y), layout.left_label, fill=label, font=font(SMALL + 2))
    draw.text(
        (layout.right.x, layout.label_y), layout.right_label, fill=label, font=font(SMALL + 2)
    )
    for number_, line in enumerate(frame.caption):
        y = layout.caption_y + number_ * layout.line_height
        draw.text((layout.margin, y), line, fill=_INDEX["text"], font=font(FONT))
    return image


def _durations(count: int, delay: int) -> list[int]:
    """Each frame ``delay`` ms, the last held three times as long."""
    return [delay] * (count - 1) + [3 * delay]


def animation_bytes(layout: Layout, frames: Sequence[Frame], kind: str, delay: int) -> bytes:
    """An animated GIF (``kind="gif"``) or APNG (``"apng"``): one frame per position.

    Parameters
    ----------
    layout : Layout
        Where everything goes.
    frames : sequence of Frame
        One per position.
    kind : {"gif", "apng"}
        The file format.
    delay : int
        Milliseconds per frame.
    """
    first = raster(layout, frames[0])
    rest: Iterable[Image.Image] = (raster(layout, frame) for frame in frames[1:])
    if kind == "apng":  # Pillow's APNG writer takes a list (a generator gave one frame)
        rest = list(rest)
    buffer = io.BytesIO()  # (Pillow's GIF writer draws the frames as it takes them)
    durations = _durations(len(frames), delay)
    if len(frames) == 1:
        durations = durations[:1]
    if kind == "gif":
        first.save(buffer, format="GIF", save_all=True, append_images=rest,
                   duration=durations, loop=0)  # fmt: skip
    else:
        first.save(buffer, format="PNG", save_all=True, append_images=rest,
                   duration=durations, loop=0, default_image=False)  # fmt: skip
    return buffer.getvalue()


def png_bytes(layout: Layout, frame: Frame) -> bytes:
    """One frame as a PNG."""
    buffer = io.BytesIO()
    raster(layout, frame).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------
# SVG (text)


def _hex(name: str) -> str:
    red, green, blue = COLOURS[name]
    return f"#{red:02x}{green:02x}{blue:02x}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _svg_cells(layout: Layout, frame: Frame, only: set[tuple[str, Cell]] | None) -> list[str]:
    out = []
    for side, grid, states, texts, small in (
        ("left", layout.left, frame.left, frame.left_text, frame.left_small),
        ("right", layout.right, frame.right, frame.right_text, {}),
    ):
        for cell, state in states.items():
            if only is not None and (side, cell) not in only:
                continue
            x0, y0, _, _ = grid.box(*cell)
            stroke = _hex("faint" if state == "outside" else "grid")
            out.append(
                f'<rect x="{x0 + 0.5}" y="{y0 + 0.5}" width="{layout.cell}" height="{layout.cell}" '
                f'fill="{_hex(STATE_COLOURS[state])}" stroke="{stroke}"/>'
            )
            colour = "light-text" if state in _DARK else "text"
            if state in ("padding", "cropped", "cropped-done"):
                colour = "muted-text"
            if cell in texts:
                size = FONT if layout.cell >= 30 else SMALL
                y = y0 + layout.cell / 2 + size / 2 - (3 if cell in small else 1)
                out.append(
                    f'<text x="{x0 + layout.cell / 2}" y="{y}" font-size="{size}" '
                    f'text-anchor="middle" fill="{_hex(colour)}">{_escape(texts[cell])}</text>'
                )
            if cell in small:
                out.append(
                    f'<text x="{x0 + layout.cell - 2}" y="{y0 + layout.cell - 3}" '
                    f'font-size="{SMALL}" text-anchor="end" fill="{_hex(colour)}">'
                    f"{_escape(small[cell])}</text>"
                )
    return out


def _svg_overlay(layout: Layout, frame: Frame) -> list[str]:
    out = []
    if frame.footprint is not None:
        side, first, last = frame.footprint
        grid = layout.left if side == "left" else layout.right
        x0, y0, _, _ = grid.box(*first)
        _, _, x1, y1 = grid.box(*last)
        out.append(
            f'<rect x="{x0 + 1}" y="{y0 + 1}" width="{x1 - x0 - 1}" height="{y1 - y0 - 1}" '
            f'fill="none" stroke="{_hex("footprint")}" stroke-width="2"/>'
        )
    for number_, line in enumerate(frame.caption):
        y = layout.caption_y + number_ * layout.line_height + FONT
        out.append(
            f'<text x="{layout.margin}" y="{y}" font-size="{FONT}" fill="{_hex("text")}" '
            f'xml:space="preserve">{_escape(line)}</text>'
        )
    return out


def svg_text(layout: Layout, frames: Sequence[Frame], delay: int, animate: bool) -> str:
    """An SVG: the first frame as a still, or with ``animate`` every frame in turn (SMIL:
    each frame is a group shown during its share of the loop).

    Parameters
    ----------
    layout, frames : Layout, sequence of Frame
        From :func:`prepare` (a still shows the first frame).
    delay : int
        Milliseconds per frame (animated).
    animate : bool
        Every frame in turn, or the first as a still.
    """
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width}" height="{layout.height}" '
        f'viewBox="0 0 {layout.width} {layout.height}" '
        'font-family="DejaVu Sans, Verdana, sans-serif">',
        f'<rect width="{layout.width}" height="{layout.height}" fill="{_hex("background")}"/>',
        f'<text x="{layout.margin}" y="{layout.margin + FONT}" font-size="{FONT}" '
        f'fill="{_hex("text")}">{_escape(layout.title)}</text>',
    ]
    for grid, label in ((layout.left, layout.left_label), (layout.right, layout.right_label)):
        head.append(
            f'<text x="{grid.x}" y="{layout.label_y + SMALL + 2}" font-size="{SMALL + 2}" '
            f'fill="{_hex("muted-text")}">{_escape(label)}</text>'
        )
    first = frames[0]
    body = _svg_cells(layout, first, None)
    if not animate or len(frames) == 1:
        return "\n".join([*head, *body, *_svg_overlay(layout, first), "</svg>"]) + "\n"
    total = sum(_durations(len(frames), delay))
    start = 0
    groups = []
    for frame, duration in zip(frames, _durations(len(frames), delay), strict=True):
        changed = {
            (side, cell)
            for side, states, texts, base_states, base_texts in (
                ("left", frame.left, frame.left_text, first.left, first.left_text),
                ("right", frame.right, frame.right_text, first.right, first.right_text),
            )
            for cell in states
            if states[cell] != base_states.get(cell) or texts.get(cell) != base_texts.get(cell)
        }
        changed |= {
            ("left", cell)
            for cell in frame.left_small
            if frame.left_small.get(cell) != first.left_small.get(cell)
        }
        changed |= {("left", cell) for cell in first.left_small if cell not in frame.left_small}
        begin, end = start / total, (start + duration) / total
        start += duration
        if begin == 0:
            values, times = "visible;hidden", f"0;{end:.6g}"
        elif end >= 1:
            values, times = "hidden;visible", f"0;{begin:.6g}"
        else:
            values, times = "hidden;visible;hidden", f"0;{begin:.6g};{end:.6g}"
        groups.append('<g visibility="hidden">')
        groups.append(
            f'<animate attributeName="visibility" values="{values}" keyTimes="{times}" '
            f'calcMode="discrete" dur="{total / 1000:g}s" repeatCount="indefinite"/>'
        )
        groups.extend(_svg_cells(layout, frame, changed))
        groups.extend(_svg_overlay(layout, frame))
        groups.append("</g>")
    return "\n".join([*head, *body, *groups, "</svg>"]) + "\n"


# ---------------------------------------------------------------------------------------
# The whole picture


@dataclass(frozen=True)
class Drawing:
    """A layer ready to draw: its layout and frames."""

    layout: Layout
    frames: list[Frame]

    def to_dict(self) -> dict[str, Any]:
        """The picture's size and title, and every frame (:meth:`Frame.to_dict`)."""
        layout = self.layout
        return {
            "width": layout.width,
            "height": layout.height,
            "title": layout.title,
            "frames": [frame.to_dict() for frame in self.frames],
        }


#: Picture formats :func:`picture_bytes` writes.
PICTURE_FORMATS = ("gif", "apng", "png", "svg")


def picture_bytes(
    layout: Layout, frames: Sequence[Frame], file_format: str, delay: int, animate: bool
) -> bytes:
    """The picture in one of :data:`PICTURE_FORMATS` (a new one is a branch here).

    Parameters
    ----------
    layout : Layout
        Where everything goes (:func:`prepare`).
    frames : sequence of Frame
        The frames to draw: one for a still.
    file_format : {"gif", "apng", "png", "svg"}
        The file format; ``png`` with ``animate`` is an APNG.
    delay : int
        Milliseconds per frame of an animation.
    animate : bool
        Animate an SVG (or a PNG) rather than draw its first frame.
    """
    if file_format == "svg":
        return svg_text(layout, frames, delay, animate).encode()
    if file_format == "png" and not animate:
        return png_bytes(layout, frames[0])
    kind = "gif" if file_format == "gif" else "apng"
    return animation_bytes(layout, frames, kind, delay)


def prepare(
    geometry: Geometry,
    layer: Arithmetic | None = None,
    *,
    cell: int | None = None,
    unicode: bool = False,
    only: Cell | None = None,
) -> Drawing:
    """Frames and a layout that fits their captions.

    Parameters
    ----------
    geometry : Geometry
        The layer's grids.
    layer : Arithmetic or None
        Its numbers (a matrix input); None: geometry only.
    cell : int or None
        Cell side in pixels; None: the default for numbers or for geometry.
    unicode : bool
        Captions with Unicode symbols (SVG).
    only : (int, int) or None
        The one position of a still (every frame otherwise).

    Examples
    --------
    >>> from convcli.steps import conv_geometry
    >>> drawing = prepare(conv_geometry(5, 3, padding=1))
    >>> len(drawing.frames), drawing.layout.left.rows[0], drawing.layout.right.rows[-1]
    (25, -1, 4)
    """
    size = cell or (CELL_NUMBERS if layer is not None else CELL_PLAIN)
    symbols = UNICODE if unicode else ASCII
    frames = build_frames(geometry, layer, symbols, only)
    title = geometry.describe()
    probe = make_layout(geometry, size, title, 1)
    room = probe.width - 2 * MARGIN
    for frame in frames:
        frame.caption = wrap(frame.caption, room, text_width)
    lines = max(len(frame.caption) for frame in frames)
    return Drawing(make_layout(geometry, size, title, lines), frames)


# ---------------------------------------------------------------------------------------
# Networks: the receptive field traced back, tensor sizes, compare's split by kind


#: Largest side of one map's square in the receptive-field picture, and most panels.
PANEL = 120
MAX_PANELS = 80
MAX_BARS = 400


def _canvas(width: int, height: int):  # -> (Image, ImageDraw)
    from PIL import Image, ImageDraw

    image = Image.new("P", (width, height), _INDEX["background"])
    image.putpalette(_palette())
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    return image, draw


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _clip(text: str, width: float, size: int = SMALL + 2) -> str:
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "...", size) > width:
        text = text[:-1]
    return text + "..."


def rf_panels(regions: Sequence[Region]) -> list[Region]:
    """The maps worth a panel: the input, the last map, and each layer whose size or region
    differs from the previous panel's (norms and activations repeat their input's)."""
    panels: list[tuple[tuple[Any, ...], Region]] = []
    for index, region in enumerate(regions):
        key = (region.size, region.rows, region.cols, region.whole)
        last = index == len(regions) - 1
        if panels and not last and key == panels[-1][0]:
            continue
        panels.append((key, region))
    return [region for _, region in panels]


def receptive_field_layout(
    regions: Sequence[Region],
) -> tuple[int, int, int, list[tuple[Region, int, int, int, int]]]:
    """``(width, height, columns, [(region, x, y, w, h)])``: each map a box of at most
    :data:`PANEL` pixels a side (aspect kept), in rows of panels."""
    from convcli.errors import ConvcliError

    panels = rf_panels(regions)
    if len(panels) > MAX_PANELS:
        raise ConvcliError(
            f"the receptive-field picture would have {len(panels)} maps, more than "
            f"{MAX_PANELS}; draw a shorter chain"
        )
    columns = min(len(panels), 6)
    slot_w, slot_h = PANEL + 40, PANEL + 3 * LINE + 10
    placed = []
    for index, region in enumerate(panels):
        height, width = region.size
        scale = PANEL / max(height, width)
        w, h = max(2, round(width * scale)), max(2, round(height * scale))
        x = MARGIN + (index % columns) * slot_w
        y = MARGIN + LINE + 6 + (index // columns) * slot_h
        placed.append((region, x, y, w, h))
    rows = -(-len(panels) // columns)
    return 2 * MARGIN + columns * slot_w - 8, MARGIN + LINE + 6 + rows * slot_h, columns, placed


def region_box(region: Region, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int]:
    """The pixels of ``region`` inside its map's box (at least 2 pixels a side).

    Parameters
    ----------
    region : Region
        The part of the map one output depends on.
    x : int
        The map box's left.
    y : int
        The map box's top.
    w : int
        The map box's width.
    h : int
        The map box's height.
    """
    height, width = region.size
    (r0, r1), (c0, c1) = region.rows, region.cols
    x0 = x + (c0 * w) // width
    x1 = max(x + ((c1 + 1) * w) // width - 1, x0 + 1)
    y0 = y + (r0 * h) // height
    y1 = max(y + ((r1 + 1) * h) // height - 1, y0 + 1)
    return (x0, y0, x1, y1)


def receptive_field_png(regions: Sequence[Region]) -> bytes:
    """One output pixel traced back: each map a box, the region it depends on dark."""
    width, height, _, placed = receptive_field_layout(regions)
    last = regions[-1]
    title = (
        f"receptive field of output pixel ({last.rows[0]},{last.cols[0]}) of "
        f"{last.shape}, traced back to the input"
    )
    image, draw = _canvas(max(width, int(text_width(title)) + 2 * MARGIN), height)
    draw.text((MARGIN, MARGIN), title, fill=_INDEX["text"], font=font(FONT))
    for region, x, y, w, h in placed:
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=_INDEX["input"], outline=_INDEX["grid"])
        x0, y0, x1, y1 = region_box(region, x, y, w, h)
        draw.rectangle((x0, y0, x1, y1), fill=_INDEX["tap-input"])
        rows = region.rows[1] - region.rows[0] + 1
        cols = region.cols[1] - region.cols[0] + 1
        name = "input" if region.position == 0 else f"#{region.position} {region.label}"
        seen = "all of it" if region.whole else f"region {rows}x{cols}"
        for number_, text in enumerate((name, region.shape, seen)):
            colour = _INDEX["text" if number_ == 0 else "muted-text"]
            y_text = y + PANEL + 4 + number_ * (SMALL + 5)
            draw.text((x, y_text), _clip(text, PANEL + 30), fill=colour, font=font(SMALL + 2))
    return _png(image)


def _bars(title: str, rows: Sequence[tuple[str, float, str, str]], note: str = "") -> bytes:
    """Horizontal bars: ``(label, fraction 0..1, colour, value text)`` per row."""
    from convcli.errors import ConvcliError

    if len(rows) > MAX_BARS:
        raise ConvcliError(f"{len(rows)} bars to draw, more than {MAX_BARS}")
    label_w = min(260, max((text_width(r[0], SMALL + 2) for r in rows), default=0) + 8)
    bar_w = 300
    value_w = max((text_width(r[3], SMALL + 2) for r in rows), default=0) + 8
    width = int(2 * MARGIN + label_w + bar_w + value_w + 8)
    top = MARGIN + LINE + 6
    height = top + len(rows) * 16 + (LINE + 4 if note else 0) + MARGIN
    image, draw = _canvas(max(width, int(text_width(title)) + 2 * MARGIN), height)
    draw.text((MARGIN, MARGIN), title, fill=_INDEX["text"], font=font(FONT))
    for index, (label, fraction, colour, value) in enumerate(rows):
        y = top + index * 16
        draw.text(
            (MARGIN, y + 1), _clip(label, label_w - 8), fill=_INDEX["text"], font=font(SMALL + 2)
        )
        x0 = MARGIN + label_w
        length = round(max(0.0, min(1.0, fraction)) * bar_w)
        if length:
            draw.rectangle((x0, y + 2, x0 + length - 1, y + 13), fill=_INDEX[colour])
        draw.text((x0 + length + 6, y + 1), value, fill=_INDEX["muted-text"], font=font(SMALL + 2))
    if note:
        draw.text(
            (MARGIN, top + len(rows) * 16 + 4),
            note,
            fill=_INDEX["muted-text"],
            font=font(SMALL + 2),
        )
    return _png(image)


def sizes_rows(report: ChainReport) -> list[tuple[str, float, str, str]]:
    """One bar per tensor: the input, then each layer's output; length by elements."""
    from convcli.render import thousands

    tensors = [("input", report.input)] + [
        (f"#{r.position} {r.spec}", r.output) for r in report.layers
    ]
    largest = max(shape.elements for _, shape in tensors) or 1
    return [
        (
            label,
            shape.elements / largest,
            "tap-input" if index == 0 else "input",
            f"{shape} ({thousands(shape.elements)})",
        )  # fmt: skip
        for index, (label, shape) in enumerate(tensors)
    ]


def sizes_png(report: ChainReport) -> bytes:
    """Tensor sizes per layer (channels x H x W), bars by element count."""
    return _bars("tensor sizes per layer (elements, linear scale)", sizes_rows(report))


def by_kind_rows(comparison: NetworkComparison) -> list[tuple[str, float, str, str]]:
    """Two bars per kind of layer: its share of MACs, its share of parameters."""
    rows = []
    for share in comparison.by_kind:
        rows.append(
            (
                f"{share.label}  MACs",
                share.macs_share,
                "tap-input",
                f"{100 * share.macs_share:.2f}%",
            )
        )
        rows.append((f"{share.label}  params", share.params_share, "output-current",
                     f"{100 * share.params_share:.2f}%"))  # fmt: skip
    return rows


def by_kind_png(comparison: NetworkComparison) -> bytes:
    """compare's split by kind of layer (the MobileNet paper's Table 2) as bars."""
    return _bars(
        "share of MACs and of parameters by kind of layer, as given", by_kind_rows(comparison)
    )


def network_png(picture: NetworkPicture) -> bytes:
    """The PNG of a network picture (:func:`convcli.teaching.network_picture`)."""
    if picture.comparison is not None:
        return by_kind_png(picture.comparison)
    if picture.report is not None:
        return sizes_png(picture.report)
    return receptive_field_png(picture.regions)


def layer_picture(
    answer: LayerAnswer,
    file_format: str,
    at: tuple[int, int] | None = None,
    *,
    animate: bool = False,
    delay: int = 700,
    cell: int | None = None,
) -> tuple[bytes, int]:
    """One layer's window as a picture: ``(its bytes, how many frames it holds)``.

    Parameters
    ----------
    answer : LayerAnswer
        The layer (:func:`convcli.teaching.answer_layer`).
    file_format : {"gif", "apng", "png", "svg"}
        GIF and APNG animate every position; PNG and SVG draw one still unless ``animate``.
    at : (row, col), optional
        The position of a still (default the first).
    animate : bool
        Animate an SVG or PNG.
    delay : int
        Milliseconds per frame.
    cell : int, optional
        Cell side in pixels.

    Raises
    ------
    SpecError
        ``at`` with an animation, or outside the output (transposed: the input).
    ConvcliError
        More frames to animate than :data:`convcli.teaching.MAX_FRAMES`.
    """
    from convcli.errors import ConvcliError, SpecError
    from convcli.teaching import MAX_ANIMATION_PIXELS, MAX_FRAMES

    animated = file_format in ("gif", "apng") or animate
    if at is not None and animated:
        raise SpecError(f"--at picks the position of a still; a .{file_format} shows them all")
    positions = answer.geometry.frames()  # counted before any frame is made
    count = len(positions)
    if animated and count > MAX_FRAMES:
        raise ConvcliError(
            f"{count:,} frames to animate, more than draw's {MAX_FRAMES:,}: draw a smaller "
            "example, or one position (-o FILE.png --at ROW,COL)"
        )
    if at is not None and at not in positions:
        what = "input" if answer.geometry.transposed else "output"
        rows, cols = positions[-1]
        raise SpecError(f"--at {at[0]},{at[1]} is outside the {what} ({rows + 1}x{cols + 1})")
    only = None if animated else at or positions[0]  # a still: its frame alone is made
    drawing = prepare(
        answer.geometry, answer.layer, cell=cell, unicode=file_format == "svg", only=only
    )
    frames = drawing.frames
    pixels = count * drawing.layout.width * drawing.layout.height
    if animated and file_format != "svg" and pixels > MAX_ANIMATION_PIXELS:
        raise ConvcliError(
            f"{count:,} frames of {drawing.layout.width}x{drawing.layout.height} pixels to "
            f"animate, more than draw's {MAX_ANIMATION_PIXELS:,} pixels in all: draw a smaller "
            "example, a smaller --cell, or one position (-o FILE.png --at ROW,COL)"
        )
    data = picture_bytes(drawing.layout, frames, file_format, delay, animate)
    return data, len(frames) if animated else 1
