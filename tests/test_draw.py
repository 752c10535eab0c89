"""``convcli draw``: frames, pixels against the geometry, formats, determinism, errors."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from convcli.network import Source, size_network
from convcli.render import draw as render
from convcli.steps import conv_geometry, pool_geometry, transposed_geometry
from convcli.teaching import LayerQuestion, answer_layer, trace_network

MATRIX = "0 1 2; 3 4 5; 6 7 8"


def run(cli, *args: str):
    result = cli("draw", *args)
    assert result.exit_code == 0, result.stderr
    return result


def frames_of(path: Path) -> list[Image.Image]:
    with Image.open(path) as image:
        out = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            out.append(image.convert("RGB"))
        return out


def expected_left(geometry, position, chosen=None) -> dict:
    """Each left cell's state in the frame at ``position``, from the geometry alone."""
    if geometry.transposed:
        rows, cols = range(geometry.rows.size), range(geometry.cols.size)
        states = {(r, c): "input" for r in rows for c in cols}
        states[position] = "tap-input"
        return states
    states = {
        (r, c): geometry.cell_kind(r, c) for r in geometry.rows.grid for c in geometry.cols.grid
    }
    for tap in geometry.taps(*position):
        states[(tap.row, tap.col)] = "tap-" + tap.kind
    if chosen is not None:
        states[chosen] = "chosen"
    return states


def check_frames(images, drawing, geometry) -> None:
    """Every frame: every cell's fill colour is what the geometry says."""
    assert len(images) == len(drawing.frames)
    for image, frame in zip(images, drawing.frames, strict=True):
        chosen = None
        if frame.left and "chosen" in frame.left.values():
            chosen = next(cell for cell, state in frame.left.items() if state == "chosen")
        for cell, state in expected_left(geometry, frame.position, chosen).items():
            pixel = image.getpixel(drawing.layout.left.inside(*cell))
            assert pixel == render.rgb(state), (frame.position, cell, state, pixel)
        if not geometry.transposed:
            current = drawing.layout.right.inside(*frame.position)
            assert image.getpixel(current) == render.rgb("output-current")
        else:
            targets = {(t.row, t.col): t.kind for t in geometry.taps(*frame.position)}
            for cell, kind in targets.items():
                state = "target" if kind == "output" else "target-cropped"
                assert image.getpixel(drawing.layout.right.inside(*cell)) == render.rgb(state)


@pytest.mark.parametrize(
    ("args", "geometry"),
    [
        (("7", "-k", "5"), conv_geometry(7, 5)),
        (("5", "-k", "3", "-p", "1", "-s", "2"), conv_geometry(5, 3, 2, 1)),
        (("6x5", "-k", "3x2", "-p", "0,1,2,0", "-s", "2x1", "-d", "1x2"),
         conv_geometry((6, 5), (3, 2), (2, 1), (0, 1, 2, 0), (1, 2))),
        (("5", "-k", "2", "--op", "maxpool", "-p", "1", "--ceil-mode"),
         pool_geometry("max", 5, 2, None, 1, 1, True)),
        (("5", "-k", "3", "--op", "avgpool", "-s", "2", "--ceil-mode"),
         pool_geometry("avg", 5, 3, 2, 0, 1, True)),
        (("3", "-k", "3", "--op", "deconv", "-s", "2", "-p", "1", "--output-padding", "1"),
         transposed_geometry(3, 3, 2, 1, 1)),
    ],
)  # fmt: skip
def test_gif_frames_follow_the_geometry(cli, tmp_path, args, geometry):
    out = tmp_path / "a.gif"
    run(cli, *args, "-o", out)
    images = frames_of(out)
    rows, cols = geometry.in_size if geometry.transposed else geometry.out_size
    assert len(images) == rows * cols  # one frame per output (transposed: per input)
    check_frames(images, render.prepare(geometry), geometry)


def test_padding_cells_are_drawn_where_the_geometry_says(cli, tmp_path):
    out = tmp_path / "p.png"
    run(cli, "4x3", "-k", "3", "-p", "2,1,0,1", "-o", out, "--at", "1,1")
    (image,) = frames_of(out)
    geometry = conv_geometry((4, 3), 3, 1, (2, 1, 0, 1))
    layout = render.prepare(geometry).layout
    padding = {
        (r, c)
        for r in geometry.rows.grid
        for c in geometry.cols.grid
        if image.getpixel(layout.left.inside(r, c))
        in (render.rgb("padding"), render.rgb("tap-padding"))
    }
    assert padding == {
        (r, c) for r in range(-2, 5) for c in range(0, 4) if not (0 <= r < 4 and c < 3)
    }
    assert layout.left.rows == tuple(range(-2, 5)) and layout.left.cols == (0, 1, 2, 3)


def test_transposed_cropped_border_is_shaded_as_padding(cli, tmp_path):
    out = tmp_path / "t.apng"
    run(cli, "2", "-k", "3", "--op", "deconv", "-s", "2", "-p", "1", "-o", out)
    images = frames_of(out)
    geometry = transposed_geometry(2, 3, 2, 1)
    drawing = render.prepare(geometry)
    assert len(images) == 4 and geometry.out_size == (3, 3)
    last = images[-1]
    for r in geometry.rows.grid:
        for c in geometry.cols.grid:
            cropped = not (0 <= r < 3 and 0 <= c < 3)
            pixel = last.getpixel(drawing.layout.right.inside(r, c))
            if (r, c) not in {(t.row, t.col) for t in geometry.taps(1, 1)}:
                assert (pixel == render.rgb("padding")) == cropped, (r, c)


def test_numbers_and_chosen_element(cli, tmp_path):
    out = tmp_path / "m.gif"
    run(cli, "--matrix", MATRIX, "-k", "2", "--op", "maxpool", "-s", "1", "-o", out)
    images = frames_of(out)
    answer = answer_layer(LayerQuestion("2", matrix=MATRIX, op="maxpool", stride="1"))
    drawing = render.prepare(answer.geometry, answer.layer)
    check_frames(images, drawing, answer.geometry)
    for image, frame in zip(images, drawing.frames, strict=True):
        chosen = answer.layer.element(0, *frame.position).chosen
        assert image.getpixel(drawing.layout.left.inside(chosen.row, chosen.col)) == render.rgb(
            "chosen"
        )
        window = answer.layer.element(0, *frame.position).parts[0].terms
        values = ", ".join(str(int(t.value)) for t in window)
        result = int(answer.layer.output[0][frame.position])
        row, col = frame.position
        assert frame.caption == [f"Y[{row},{col}] = max({values}) = {result}"]


def test_captions_tell_the_steps_story(cli, tmp_path):
    answer = answer_layer(LayerQuestion("0 1; 2 3", matrix=MATRIX))
    drawing = render.prepare(answer.geometry, answer.layer)
    assert [frame.caption for frame in drawing.frames] == [
        ["Y[0,0] = 0*0 + 1*1 + 3*2 + 4*3 = 19"],
        ["Y[0,1] = 1*0 + 2*1 + 4*2 + 5*3 = 25"],
        ["Y[1,0] = 3*0 + 4*1 + 6*2 + 7*3 = 37"],
        ["Y[1,1] = 4*0 + 5*1 + 7*2 + 8*3 = 43"],
    ]
    assert drawing.frames[3].right_text == {(0, 0): "19", (0, 1): "25", (1, 0): "37", (1, 1): "43"}
    assert drawing.frames[1].left_small == {(0, 1): "0", (0, 2): "1", (1, 1): "2", (1, 2): "3"}


def test_same_bytes_and_small_file(cli, tmp_path):
    seven = "; ".join(" ".join(str((r * 7 + c) % 10) for c in range(7)) for r in range(7))
    kernel = "; ".join(" ".join(str((r + c) % 3 - 1) for c in range(5)) for r in range(5))
    first, second = tmp_path / "1.gif", tmp_path / "2.gif"
    run(cli, "--matrix", seven, "-k", kernel, "-o", first)
    run(cli, "--matrix", seven, "-k", kernel, "-o", second)
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_size < 200_000
    assert len(frames_of(first)) == 9


def test_svg_still_and_animation(cli, tmp_path):
    still, moving = tmp_path / "s.svg", tmp_path / "m.svg"
    run(cli, "5", "-k", "3", "-s", "2", "-p", "1", "-o", still, "--at", "1,2")
    run(cli, "5", "-k", "3", "-s", "2", "-p", "1", "-o", moving, "--animate")
    geometry = conv_geometry(5, 3, 2, 1)
    layout = render.prepare(geometry, unicode=True).layout
    namespace = "{http://www.w3.org/2000/svg}"
    rects = {
        (float(r.get("x")), float(r.get("y"))): r.get("fill")
        for r in ET.parse(still).getroot().iter(f"{namespace}rect")
        if r.get("width") == str(layout.cell)
    }
    for cell, state in expected_left(geometry, (1, 2)).items():
        x0, y0, _, _ = layout.left.box(*cell)
        red, green, blue = render.rgb(state)
        assert rects[(x0 + 0.5, y0 + 0.5)] == f"#{red:02x}{green:02x}{blue:02x}"
    dark = {render.rgb(s) for s in ("tap-input", "tap-padding")}
    tapped = {
        cell
        for cell in expected_left(geometry, (1, 2))
        if tuple(
            int(
                rects[(layout.left.box(*cell)[0] + 0.5, layout.left.box(*cell)[1] + 0.5)][
                    i : i + 2
                ],
                16,
            )
            for i in (1, 3, 5)
        )
        in dark
    }
    assert tapped == {(r, c) for r in (1, 2, 3) for c in (3, 4, 5)}  # by hand: rows 2-4 padded
    root = ET.parse(moving).getroot()
    groups = [g for g in root.iter(f"{namespace}g") if g.find(f"{namespace}animate") is not None]
    assert len(groups) == 9  # one per output position


def test_png_still_at_position(cli, tmp_path):
    out = tmp_path / "s.png"
    run(cli, "5", "-k", "3", "-o", out, "--at", "2,1")
    (image,) = frames_of(out)
    geometry = conv_geometry(5, 3)
    drawing = render.prepare(geometry)
    frame = next(f for f in drawing.frames if f.position == (2, 1))
    check_frames([image], render.Drawing(drawing.layout, [frame]), geometry)


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("100", "-k", "3", "-o", "x.gif"), 1, "INPUT '100': the input grid would be 100x100"),
        (("5", "-k", "3", "--op", "maxpool", "-p", "2", "-o", "x.gif"), 1,
         "--op maxpool -k 3 -p 2: padding must be at most half"),
        (("5", "-k", "3", "--op", "avgpool", "-d", "2", "-o", "x.gif"), 1,
         "--op avgpool -k 3 -d 2: avg pooling has no dilation"),
        (("5", "-k", "3", "--op", "deconv", "-s", "2", "--output-padding", "2", "-o", "x.gif"), 1,
         "output_padding=2"),
        (("2", "-k", "3", "-o", "x.gif"), 1,
         "--op conv -k 3: kernel_size 3 (padding 0) does not fit the input 2x2"),
        (("5", "-k", "3", "-o", "x.jpg"), 2, "-o 'x.jpg'"),
        (("5", "-k", "3", "-o", "x.png", "--at", "9,9"), 2, "--at 9,9"),
        (("5", "-k", "3", "-o", "x.gif", "--at", "0,0"), 2, "--at"),
        (("--matrix", "1 2; 3 4", "-k", "2", "-o", "x.gif"), 2, "numbers need the kernel's values"),
        (("5", "-k", "3", "-p", "1x2", "--op", "deconv", "-p", "1,0,1,1", "-o", "x.gif"), 2,
         "-p/--padding '1,0,1,1'"),
        (("5", "-k", "sobel", "-o", "x.gif"), 2, "gradient magnitude"),
        (("5", "-k", "3"), 2, "missing -o FILE"),
        (("5", "-k", "3", "--steps"), 2, "--steps needs numbers"),
        (("5", "-k", "3", "--ceil-mode", "-o", "x.gif"), 2, "--ceil-mode"),
        (("--matrix", "1 2 | 3 4", "-k", "1", "-o", "x.gif"), 2, "draw shows one channel"),
    ],
)  # fmt: skip
def test_errors_are_one_line(cli, tmp_path, monkeypatch, args, code, fragment):
    monkeypatch.chdir(tmp_path)
    result = cli("draw", *args)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force(cli, tmp_path):
    out = tmp_path / "x.gif"
    out.write_bytes(b"keep")
    result = cli("draw", "5", "-k", "3", "-o", out)
    assert result.exit_code == 1 and "--force" in result.stderr and out.read_bytes() == b"keep"
    run(cli, "5", "-k", "3", "-o", out, "--force")
    assert out.read_bytes()[:6] == b"GIF89a"


def test_stdout_with_to():
    from typer.testing import CliRunner

    from convcli.cli import app

    result = CliRunner().invoke(app, ["draw", "3", "-k", "2", "-o", "-", "--to", "png"])
    assert result.exit_code == 0
    image = Image.open(io.BytesIO(result.stdout_bytes))
    layout = render.prepare(conv_geometry(3, 2)).layout
    assert (image.format, image.size) == ("PNG", (layout.width, layout.height))


# Dumoulin & Visin's catalogue: input, settings and the output size of each figure.
CATALOGUE = [
    ("no_padding_no_strides", ("4", "-k", "3"), (2, 2)),
    ("arbitrary_padding_no_strides", ("5", "-k", "4", "-p", "2"), (6, 6)),
    ("same_padding_no_strides", ("5", "-k", "3", "-p", "same"), (5, 5)),
    ("full_padding_no_strides", ("5", "-k", "3", "-p", "2"), (7, 7)),
    ("no_padding_strides", ("5", "-k", "3", "-s", "2"), (2, 2)),
    ("padding_strides", ("5", "-k", "3", "-s", "2", "-p", "1"), (3, 3)),
    ("padding_strides_odd", ("6", "-k", "3", "-s", "2", "-p", "1"), (3, 3)),
    ("dilation", ("7", "-k", "3", "-d", "2"), (3, 3)),
    ("no_padding_no_strides_transposed", ("2", "-k", "3", "--op", "deconv"), (4, 4)),
    ("arbitrary_padding_no_strides_transposed", ("6", "-k", "4", "-p", "2", "--op", "deconv"),
     (5, 5)),
    ("same_padding_no_strides_transposed", ("5", "-k", "3", "-p", "1", "--op", "deconv"), (5, 5)),
    ("full_padding_no_strides_transposed", ("7", "-k", "3", "-p", "2", "--op", "deconv"), (5, 5)),
    ("no_padding_strides_transposed", ("2", "-k", "3", "-s", "2", "--op", "deconv"), (5, 5)),
    ("padding_strides_transposed", ("3", "-k", "3", "-s", "2", "-p", "1", "--op", "deconv"),
     (5, 5)),
    ("padding_strides_odd_transposed",
     ("3", "-k", "3", "-s", "2", "-p", "1", "--output-padding", "1", "--op", "deconv"), (6, 6)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "args", "out_size"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_conv_arithmetic_catalogue(name, args, out_size):
    words = dict(zip(args[1::2], args[2::2], strict=False))
    question = LayerQuestion(
        words["-k"], args[0], op=words.get("--op", "conv"), stride=words.get("-s"),
        padding=words.get("-p"), dilation=words.get("-d"),
        output_padding=words.get("--output-padding"),
    )  # fmt: skip
    geometry = answer_layer(question).geometry
    assert geometry.out_size == out_size
    frames = render.prepare(geometry).frames
    rows, cols = geometry.in_size if geometry.transposed else geometry.out_size
    assert len(frames) == rows * cols


# ------------------------------------------------------------------------ network pictures


def test_receptive_field_picture_regions(cli, tmp_path):
    words = ("conv:8,k=3,p=1", "maxpool:k=2", "conv:16,k=3", "conv:16,k=3,s=2")
    out = tmp_path / "rf.png"
    run(cli, "3x32x32", *words, "--picture", "rf", "-o", out)
    regions = trace_network(size_network(Source(words, input_size="3x32x32")))
    assert [(r.rows, r.cols) for r in regions] == [
        ((11, 22), (11, 22)), ((12, 21), (12, 21)), ((6, 10), (6, 10)), ((6, 8), (6, 8)),
        ((3, 3), (3, 3))]  # fmt: skip
    (image,) = frames_of(out)
    _, _, _, placed = render.receptive_field_layout(regions)
    for region, x, y, w, h in placed:
        x0, y0, x1, y1 = render.region_box(region, x, y, w, h)
        assert image.getpixel((x0, y0)) == render.rgb("tap-input")
        assert image.getpixel((x1, y1)) == render.rgb("tap-input")
        assert image.getpixel((x + 1, y + 1)) == render.rgb("input")  # outside the region


def test_sizes_and_by_kind_pictures(cli, tmp_path):
    sizes, kinds = tmp_path / "s.png", tmp_path / "k.png"
    run(cli, "3x16x16", "conv:8,k=3,p=1", "maxpool:k=2", "conv:32,k=3,p=1", "--picture", "sizes",
        "-o", sizes)  # fmt: skip
    report = size_network(Source(("conv:8,k=3,p=1", "maxpool:k=2", "conv:32,k=3,p=1"),
                                 input_size="3x16x16"))  # fmt: skip
    rows = render.sizes_rows(report)
    assert [round(r[1], 4) for r in rows] == [0.375, 1.0, 0.25, 1.0]  # 768, 2048, 512, 2048
    (image,) = frames_of(sizes)
    width = image.size[0]
    bar_pixels = [
        sum(1 for x in range(width)
            if image.getpixel((x, 12 + 18 + 6 + 16 * i + 8)) == render.rgb(colour))
        for i, (_, _, colour, _) in enumerate(rows)
    ]  # fmt: skip
    assert bar_pixels == [round(300 * r[1]) for r in rows]
    run(cli, "--preset", "mobilenet_v1", "--picture", "by-kind", "-o", kinds)
    assert frames_of(kinds)[0].size[0] > 300


def test_network_picture_errors(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("draw", "3x16x16", "conv:8,k=3", "--picture", "rf", "-o", "x.gif")
    assert result.exit_code == 2 and "-o FILE.png" in result.stderr
    result = cli("draw", "3x16x16", "conv:8,k=3", "--picture", "rf", "-o", "x.png", "--at", "20,0")
    assert result.exit_code == 2 and "--at 20,0 is outside the last map (14x14)" in result.stderr
    result = cli("draw", "3x16x16", "conv:8,k=3", "--picture", "by-kind", "-o", "x.png")
    assert result.exit_code == 2 and "--preset or --net" in result.stderr
    result = cli("draw", "3x16x16", "conv:8,k=3", "--picture", "rf", "-k", "3", "-o", "x.png")
    assert result.exit_code == 2 and "-k/--kernel is for one layer's window" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_trace_starts_before_a_global_pool():
    report = size_network(Source(("conv:8,k=3,s=2", "gap"), input_size="1x9x9"))
    regions = trace_network(report)
    assert [r.size for r in regions] == [(9, 9), (4, 4)]  # the 1x1 output of gap is skipped
    assert regions[-1].rows == (2, 2) and regions[0].rows == (4, 6)  # pixel 2 reads rows 4..6


def test_an_animation_too_large_is_refused_before_its_frames_are_drawn(cli, tmp_path):
    import tracemalloc

    tracemalloc.start()
    many = cli("draw", "64", "-k", "3", "-o", tmp_path / "a.gif")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (many.exit_code, many.stderr) == (
        1,
        "Error: 3,844 frames to animate, more than draw's 1,024: draw a smaller example, or one "
        "position (-o FILE.png --at ROW,COL)\n",
    )
    assert peak < 50e6  # the frames were once made first: 1.15 GB
    large = cli("draw", "32", "-k", "1", "-o", tmp_path / "b.gif")
    assert (large.exit_code, large.stderr) == (
        1,
        "Error: 1,024 frames of 1610x861 pixels to animate, more than draw's 536,870,912 pixels "
        "in all: draw a smaller example, a smaller --cell, or one position "
        "(-o FILE.png --at ROW,COL)\n",
    )
    assert not (tmp_path / "a.gif").exists() and not (tmp_path / "b.gif").exists()


def test_an_apng_keeps_every_frame(cli, tmp_path):
    from PIL import Image

    out = tmp_path / "c.apng"
    assert cli("draw", "4", "-k", "3", "-p", "1", "-o", out).exit_code == 0
    assert Image.open(out).n_frames == 16


def test_a_still_builds_its_own_frame_only(cli, tmp_path):
    import tracemalloc

    tracemalloc.start()
    result = cli("draw", "62", "-k", "3", "-p", "1", "-o", tmp_path / "a.png", "--at", "30,30")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    assert peak < 100e6  # all 3,844 frames were built for one: 1.15 GB
    outside = cli("draw", "62", "-k", "3", "-p", "1", "-o", tmp_path / "b.png", "--at", "62,0")
    assert outside.stderr == "Error: --at 62,0 is outside the output (62x62)\n"
