"""``convcli apply`` end to end: matrices printed, images written, and every refusal."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from convcli import imageio
from convcli.cli import app
from tests.conftest import SAMPLES

MATRIX = "0 1 2; 3 4 5; 6 7 8"


def write_png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels).save(path)
    return path


def read_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def assert_one_error(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def only_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------- matrices


def test_matrix_correlation_prints_rows(cli):
    result = cli("apply", "--matrix", MATRIX, "-k", "0 1; 2 3")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "19 25\n37 43\n", "")


def test_matrix_max_pool(cli):
    result = cli("apply", "--matrix", MATRIX, "-k", "maxpool:2,s=1")
    assert result.stdout == "4 5\n7 8\n"


EDGE_INPUT = "; ".join(["1 1 0 0 0 0 1 1"] * 6)  # ones, columns 2..5 zero


@pytest.mark.parametrize("kernel", ["diff-x", "1,-1"])
def test_the_one_minus_one_edge_example(cli, kernel):
    result = cli("apply", "--matrix", EDGE_INPUT, "-k", kernel, "--format", "json")
    assert result.exit_code == 0
    import json

    payload = json.loads(result.stdout)
    assert payload["shape"] == [6, 7]
    assert payload["data"] == [[0, 1, 0, 0, 0, -1, 0]] * 6
    plain = cli("apply", "--matrix", EDGE_INPUT, "-k", kernel).stdout
    assert plain.splitlines()[0] == "0 1 0 0 0 -1 0"  # each column right-aligned


def test_matrix_channels_and_formats(cli):
    two = cli("apply", "--matrix", "0 1; 2 3 | 4 5; 6 7", "-k", "1")
    assert two.stdout == "0 1\n2 3\n\n4 5\n6 7\n"
    summed = cli("apply", "--matrix", "0 1; 2 3 | 4 5; 6 7", "-k", "1 | 1")
    assert summed.stdout == "4  6\n8 10\n"
    fractions = cli("apply", "--matrix", "1 2 3", "-k", "0.5 0.25")
    assert fractions.stdout == "1 1.75\n"
    csv = cli("apply", "--matrix", MATRIX, "-k", "0 1; 2 3", "--format", "csv")
    assert csv.stdout == "19,25\n37,43\n"
    json_text = cli("apply", "--matrix", MATRIX, "-k", "0 1; 2 3", "--format", "json").stdout
    assert json_text == '{"shape": [2, 2], "data": [[19, 25], [37, 43]]}\n'


def test_matrix_padding_stride_and_border_options(cli):
    padded = cli("apply", "--matrix", MATRIX, "-k", "box:3", "-p", "1", "--normalize")
    assert padded.exit_code == 0
    # (0+1+3+4)/9 in float32: the last digit depends on the engine's summation order.
    assert float(padded.stdout.splitlines()[0].split()[0]) == pytest.approx(8 / 9, rel=1e-6)
    strided = cli("apply", "--matrix", MATRIX, "-k", "1", "-s", "2")
    assert strided.stdout == "0 2\n6 8\n"
    replicate = cli(
        "apply", "--matrix", "1 2", "-k", "1 1 1", "-p", "0,0,1,1", "--border", "replicate"
    )
    assert replicate.stdout == "4 5\n"
    flipped = cli("apply", "--matrix", "1 2 3", "-k", "1 0 -1", "--convolve")
    assert flipped.stdout == "2\n"


def test_matrix_files_in_and_out(cli, tmp_path):
    np.save(tmp_path / "m.npy", np.arange(9).reshape(3, 3))
    (tmp_path / "m.csv").write_text("0,1,2\n3,4,5\n6,7,8\n")
    for name in ("m.npy", "m.csv"):
        result = cli("apply", tmp_path / name, "-k", "0 1; 2 3")
        assert result.stdout == "19 25\n37 43\n"
    saved = cli("apply", tmp_path / "m.npy", "-k", "0 1; 2 3", "-o", tmp_path / "out.npy")
    assert (saved.exit_code, saved.stdout) == (0, "")
    assert np.load(tmp_path / "out.npy").tolist() == [[19, 25], [37, 43]]
    cli("apply", "--matrix", MATRIX, "-k", "0 1; 2 3", "-o", tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text() == "19,25\n37,43\n"


def test_four_d_layer_with_bias(cli, tmp_path):
    weight = np.ones((2, 2, 1, 1))
    weight[1] *= -1
    np.save(tmp_path / "layer.npy", weight)
    result = cli(
        "apply", "--matrix", "1 2 | 10 20", "-k", tmp_path / "layer.npy", "--bias", "0.5,1"
    )
    assert result.stdout == "11.5 22.5\n\n-10 -21\n"


def test_explain_says_algorithm_pads_and_map(cli, tmp_path):
    write_png(tmp_path / "in.png", np.zeros((8, 8), np.uint8))
    result = cli(
        "apply", tmp_path / "in.png", "-k", "sobel-x", "-o", tmp_path / "o.png", "--explain"
    )
    lines = result.stderr.splitlines()
    assert lines[1].startswith("step 1 'sobel-x': 3x3 kernel; 1x8x8 -> 1x8x8; ")
    assert lines[1].endswith("pads top 1, bottom 1, left 1, right 1 (reflect)")
    assert lines[2].startswith("  algorithm ")
    assert "map: auto: kernel 'sobel-x' sums to zero (an edge kernel): abs" in lines
    assert lines[-2] == f"output: {tmp_path / 'o.png'} (PNG, 8-bit L)"
    assert lines[-1].startswith("time: read ") and "after start-up" in lines[-1]


# ------------------------------------------------------------------------- images


def numpy_sobel_magnitude(rgb: np.ndarray) -> np.ndarray:
    """Reference: reflect-padded Sobel magnitude per channel, abs, clipped, rounded."""
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    padded = np.pad(rgb.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="reflect")
    height, width = rgb.shape[:2]
    gx = np.zeros(rgb.shape)
    gy = np.zeros(rgb.shape)
    for i in range(3):
        for j in range(3):
            window = padded[i : i + height, j : j + width]
            gx += sobel_x[i, j] * window
            gy += sobel_x.T[i, j] * window
    return np.rint(np.clip(np.hypot(gx, gy), 0, 255)).astype(np.uint8)


def test_sobel_magnitude_on_a_photo_matches_numpy(cli, tmp_path):
    photo = SAMPLES / "chelsea.png"
    result = cli("apply", photo, "-k", "sobel", "-o", tmp_path / "edges.png")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    ours = read_pixels(tmp_path / "edges.png").astype(int)
    expected = numpy_sobel_magnitude(read_pixels(photo)).astype(int)
    assert ours.shape == expected.shape == (300, 451, 3)
    assert np.abs(ours - expected).max() <= 1  # float32 vs float64 at .5 ties
    assert np.mean(ours != expected) < 1e-3


def ramp_png(tmp_path: Path) -> Path:
    return write_png(tmp_path / "ramp.png", np.arange(0, 256, 15, dtype=np.uint8)[None, :])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("clip", [0] * 18),
        ("abs", list(range(0, 256, 15))),
        ("offset", [128 - v if v < 128 else 0 for v in range(0, 256, 15)]),
        ("minmax", [255 - v for v in range(0, 256, 15)]),
    ],
)
def test_map_modes_on_a_ramp(cli, tmp_path, mode, expected):
    out = tmp_path / "out.png"
    result = cli("apply", ramp_png(tmp_path), "-k", "-1", "--map", mode, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert read_pixels(out)[0].tolist() == expected


def test_map_auto_is_abs_for_edges_and_clip_otherwise(cli, tmp_path):
    ramp = ramp_png(tmp_path)
    cli("apply", ramp, "-k", "-1", "-o", tmp_path / "negated.png")
    assert read_pixels(tmp_path / "negated.png").max() == 0  # clip
    cli("apply", ramp, "-k", "diff-x", "-o", tmp_path / "edges.png")
    assert read_pixels(tmp_path / "edges.png")[0, :-1].tolist() == [15] * 17  # abs


def test_float_outputs_keep_raw_values(cli, tmp_path):
    ramp = ramp_png(tmp_path)
    cli("apply", ramp, "-k", "-1", "-o", tmp_path / "raw.npy")
    values = np.load(tmp_path / "raw.npy")
    assert values.dtype == np.float32
    assert values[0].tolist() == [-v for v in range(0, 256, 15)]  # H x W for grey
    cli("apply", ramp, "-k", "-1", "-o", tmp_path / "raw.pfm")
    assert imageio.load_image(tmp_path / "raw.pfm").pixels[0, 3] == -45
    cli("apply", ramp, "-k", "-1", "--map", "raw", "-o", tmp_path / "raw.tif")
    assert imageio.load_image(tmp_path / "raw.tif").pixels[0, 3] == -45


def test_sixteen_bit_grey_png_round_trips_without_loss(cli, tmp_path):
    values = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1031 + 5).astype(np.uint16)
    imageio.save_image(values, tmp_path / "in16.png")
    result = cli("apply", tmp_path / "in16.png", "-k", "identity", "-o", tmp_path / "out16.png")
    assert result.exit_code == 0
    with Image.open(tmp_path / "out16.png") as written:
        assert written.mode == "I;16"
        assert np.array_equal(np.asarray(written), values)


def test_rgba_with_a_transparent_red_region_blurred_shows_no_red(cli, tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:, :8] = (0, 0, 255, 255)  # opaque blue
    rgba[:, 8:] = (255, 0, 0, 0)  # transparent red
    write_png(tmp_path / "in.png", rgba)
    result = cli("apply", tmp_path / "in.png", "-k", "gaussian:2", "-o", tmp_path / "out.png")
    assert result.exit_code == 0
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "RGBA"
        out = np.asarray(written)
    assert out[..., 0].max() == 0
    assert out[:, 7, 3].min() < 255 and out[:, 9, 3].max() > 0  # alpha was blurred too


def checkerboard_png(tmp_path: Path) -> Path:
    board = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    return write_png(tmp_path / "board.png", board)


def test_avgpool_of_a_checkerboard_is_188_in_linear_light_and_128_without(cli, tmp_path):
    board = checkerboard_png(tmp_path)
    cli("apply", board, "-k", "avgpool:2", "-o", tmp_path / "plain.png")
    cli("apply", board, "-k", "avgpool:2", "--linear", "-o", tmp_path / "linear.png")
    assert read_pixels(tmp_path / "plain.png").tolist() == [[128] * 4] * 4
    assert read_pixels(tmp_path / "linear.png").tolist() == [[188] * 4] * 4


def test_gray_gives_luma_and_drops_the_rgb_profile(cli, tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.png", icc_profile=b"rgb profile", dpi=(300, 300))
    cli("apply", tmp_path / "red.png", "-k", "identity", "--gray", "-o", tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as written:
        assert written.mode == "L"
        assert np.asarray(written).max() == 76  # 0.299 * 255
        assert "icc_profile" not in written.info
        assert written.info["dpi"] == pytest.approx((300, 300), abs=0.02)
    cli("apply", tmp_path / "red.png", "-k", "identity", "-o", tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as written:
        assert written.info["icc_profile"] == b"rgb profile"


def test_jpeg_quality_and_png_compression(cli, tmp_path):
    photo = SAMPLES / "camera.png"
    for quality in (30, 95):
        cli(
            "apply",
            photo,
            "-k",
            "identity",
            "-o",
            tmp_path / f"q{quality}.jpg",
            "--quality",
            quality,
        )
    assert (tmp_path / "q30.jpg").stat().st_size < (tmp_path / "q95.jpg").stat().st_size
    for level in (0, 9):
        cli(
            "apply",
            photo,
            "-k",
            "identity",
            "-o",
            tmp_path / f"l{level}.png",
            "--png-compression",
            level,
        )
    assert (tmp_path / "l0.png").stat().st_size > (tmp_path / "l9.png").stat().st_size
    assert np.array_equal(read_pixels(tmp_path / "l9.png"), read_pixels(photo))


def test_stdout_and_stdin(tmp_path):
    board = checkerboard_png(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["apply", str(board), "-k", "avgpool:2", "-o", "-", "--to", "png"])
    assert result.exit_code == 0
    assert np.asarray(Image.open(io.BytesIO(result.stdout_bytes))).tolist() == [[128] * 4] * 4
    piped = runner.invoke(
        app, ["apply", "-", "-k", "avgpool:2", "-o", "-"], input=board.read_bytes()
    )
    assert piped.stdout_bytes == result.stdout_bytes  # default: the input's format, PNG
    matrix = runner.invoke(app, ["apply", "-", "-k", "0 1; 2 3"], input="0 1 2\n3 4 5\n6 7 8\n")
    assert matrix.stdout == "19 25\n37 43\n"


# ------------------------------------------------------------------------- refusals


def test_kernel_larger_than_the_padded_input(cli, tmp_path):
    result = cli("apply", "--matrix", MATRIX, "-k", "box:5")
    assert_one_error(result, 1, "step 1 'box:5'", "kernel size 5x5", "padded input 3x3")
    write_png(tmp_path / "tiny.png", np.zeros((3, 3), np.uint8))
    out = tmp_path / "out.png"
    image = cli("apply", tmp_path / "tiny.png", "-k", "box:5", "-p", "0", "-o", out)
    assert_one_error(image, 1, "kernel size 5x5", "padded input 3x3")
    assert not out.exists()


def broken_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each broken file, and what the error line says after its name."""
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    reasons = {
        "truncated": "corrupt or truncated image (image file is truncated",
        "corrupt PNG": "corrupt PNG file (Pillow cannot read its header)",
        "corrupt JPEG": "corrupt or truncated image (broken data stream when reading image file)",
    }
    files = {}
    for format_name, suffix in (("PNG", "png"), ("JPEG", "jpg")):
        buffer = io.BytesIO()
        image.save(buffer, format_name)
        data = buffer.getvalue()
        truncated = tmp_path / f"truncated.{suffix}"
        truncated.write_bytes(data[: len(data) * 2 // 3])
        files[f"truncated {format_name}"] = (truncated, reasons["truncated"])
        corrupt = tmp_path / f"corrupt.{suffix}"
        corrupt.write_bytes(data[:40] + bytes(64) + data[104:])  # headers zeroed, full length
        files[f"corrupt {format_name}"] = (corrupt, reasons[f"corrupt {format_name}"])
    return files


@pytest.mark.parametrize(
    "which", ["truncated PNG", "corrupt PNG", "truncated JPEG", "corrupt JPEG"]
)
def test_truncated_or_corrupt_input(cli, tmp_path, which):
    source, reason = broken_files(tmp_path)[which]
    out = tmp_path / "out.png"
    result = cli("apply", source, "-k", "box:3", "-o", out)
    assert_one_error(result, 1, f"Error: {source}: {reason}")
    assert not out.exists()


def test_text_file_given_as_an_image(cli, tmp_path):
    (tmp_path / "notes.png").write_text("these are notes, not pixels\n")
    out = tmp_path / "out.png"
    result = cli("apply", tmp_path / "notes.png", "-k", "box:3", "-o", out)
    assert_one_error(result, 1, "notes.png: not an image (convcli reads PNG, JPEG, TIFF, BMP,")
    assert not out.exists()


def test_output_exists_needs_force(cli, tmp_path):
    board = checkerboard_png(tmp_path)
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    result = cli("apply", board, "-k", "box:3", "-o", out)
    assert_one_error(result, 1, f"output '{out}' exists; use --force to overwrite it")
    assert out.read_bytes() == b"precious"
    assert only_files(tmp_path) == ["board.png", "out.png"]
    forced = cli("apply", board, "-k", "box:3", "-o", out, "--force")
    assert forced.exit_code == 0
    assert read_pixels(out).shape == (8, 8)


def test_output_equal_to_input_is_refused_even_with_force(cli, tmp_path):
    board = checkerboard_png(tmp_path)
    before = board.read_bytes()
    result = cli("apply", board, "-k", "box:3", "-o", board, "--force")
    assert_one_error(result, 1, "is the input file; convcli never overwrites an input")
    assert board.read_bytes() == before
    assert only_files(tmp_path) == ["board.png"]


@pytest.fixture
def unwritable_folder(tmp_path, monkeypatch):
    """A folder nobody may write into: chmod for users, chattr +i for root (which ignores modes)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    locked_by = "mode"
    if os.access(folder, os.W_OK):  # root
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        locked_by = "immutable" if done.returncode == 0 else "simulated"
        if locked_by == "simulated":  # no chattr: make the OS calls answer as for a user
            real_access = os.access
            monkeypatch.setattr(
                os, "access", lambda p, m: False if Path(p) == folder else real_access(p, m)
            )
    yield folder
    if locked_by == "immutable":
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_unwritable_folder(cli, tmp_path, unwritable_folder):
    board = checkerboard_png(tmp_path)
    out = unwritable_folder / "out.png"
    result = cli("apply", board, "-k", "box:3", "-o", out)
    assert_one_error(result, 1, f"cannot write to folder '{unwritable_folder}'")
    assert not out.exists()
    assert only_files(unwritable_folder) == []


def test_missing_output_folder(cli, tmp_path):
    result = cli(
        "apply", checkerboard_png(tmp_path), "-k", "box:3", "-o", tmp_path / "no" / "o.png"
    )
    out = tmp_path / "no" / "o.png"
    assert_one_error(result, 1, f"output '{out}': folder '{tmp_path / 'no'}' does not exist")


@pytest.mark.parametrize("suffix", ["png", "jpg"])  # convcli's PNG writer; Pillow's JPEG
def test_ctrl_c_while_writing_leaves_no_file(cli, tmp_path, monkeypatch, suffix):
    board = checkerboard_png(tmp_path)

    def interrupted_save(self, fp, *args, **kwargs):
        fp.write(b"half of it")
        raise KeyboardInterrupt

    def interrupted_chunk(kind, data):
        if kind == b"IDAT":
            raise KeyboardInterrupt
        return real_chunk(kind, data)

    real_chunk = imageio._png_chunk
    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    monkeypatch.setattr(imageio, "_png_chunk", interrupted_chunk)
    result = cli("apply", board, "-k", "box:3", "-o", tmp_path / f"out.{suffix}")
    assert result.exit_code == 130  # Typer's Ctrl-C exit, silent
    assert only_files(tmp_path) == ["board.png"]


def test_usage_conflicts_exit_2(cli, tmp_path):
    board = checkerboard_png(tmp_path)
    raw_png = cli("apply", board, "-k", "sobel", "--map", "raw", "-o", tmp_path / "o.png")
    assert_one_error(raw_png, 2, "--map raw keeps float values, which PNG cannot hold")
    two = cli("apply", board, board, "-k", "box:3", "-o", tmp_path / "o.png")
    assert_one_error(two, 2, "2 inputs given")
    both = cli("apply", board, "--matrix", MATRIX, "-k", "1")
    assert_one_error(both, 2, "either INPUT files or --matrix")
    no_output = cli("apply", board, "-k", "box:3")
    assert_one_error(no_output, 2, "is an image: give -o FILE")
    unknown = cli("apply", board, "-k", "box:3", "-o", tmp_path / "o.zzz")
    assert_one_error(
        unknown, 2, f"-o/--output '{tmp_path / 'o.zzz'}': cannot tell the output format"
    )
    store = cli("apply", board, "-k", "box:3", "-o", "s3://")
    assert_one_error(store, 2, "-o/--output 's3://': cannot tell the output format")
    matrix_to_png = cli("apply", "--matrix", MATRIX, "-k", "1", "-o", tmp_path / "m.png")
    assert_one_error(matrix_to_png, 2, "a matrix result is written as .npy, .csv or .txt")
    assert only_files(tmp_path) == ["board.png"]


def test_rgba_to_jpeg_is_refused(cli, tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 4, 4), np.uint8))
    result = cli("apply", tmp_path / "a.png", "-k", "box:3", "-o", tmp_path / "a.jpg")
    assert_one_error(
        result,
        1,
        f"output '{tmp_path / 'a.jpg'}': JPEG has no alpha channel and the result is RGBA",
    )
    assert not (tmp_path / "a.jpg").exists()


def test_max_pixels_option(cli, tmp_path):
    board = checkerboard_png(tmp_path)
    result = cli("apply", board, "-k", "box:3", "-o", tmp_path / "o.png", "--max-pixels", "63")
    assert_one_error(result, 1, "8x8 is 64 pixels, more than --max-pixels 63")


def test_a_step_too_large_for_a_named_file_is_refused_from_its_header(cli, tmp_path, monkeypatch):
    # One check, in process.py, for a single file and every file of a batch: the header
    # is enough, so the image is never decoded, and the error names the file.
    board = checkerboard_png(tmp_path)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before the chain was checked")

    monkeypatch.setattr(imageio, "load_image", no_decoding)
    out = tmp_path / "o.png"
    result = cli("apply", board, "-k", "sobel-x:p=100", "-o", out, "--max-pixels", "10000")
    assert_one_error(
        result, 1,
        f"{board}: step 1 'sobel-x:p=100' would make a 206x206 output from 8x8 "
        "(42,436 pixels, more than --max-pixels 10,000",
    )  # fmt: skip
    assert not out.exists()


def test_sixteen_bit_rgb_png_keeps_sixteen_bits(cli, tmp_path):
    from tests.test_imageio import png_16bit

    values = (np.arange(48, dtype=np.uint16).reshape(4, 4, 3) * 1000) + 3
    (tmp_path / "rgb16.png").write_bytes(png_16bit(values))
    result = cli("apply", tmp_path / "rgb16.png", "-k", "identity", "-o", tmp_path / "o.png")
    assert (result.exit_code, result.stderr) == (0, "")
    assert imageio.load_image(tmp_path / "o.png").pixels.tolist() == values.tolist()


def test_depth_16_rescales_and_npy_keeps_the_image_layout(cli, tmp_path):
    write_png(tmp_path / "g.png", np.array([[0, 1, 128, 255]], np.uint8))
    cli("apply", tmp_path / "g.png", "-k", "identity", "--depth", "16", "-o", tmp_path / "g16.png")
    assert read_pixels(tmp_path / "g16.png").tolist() == [[0, 257, 32896, 65535]]
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 2] = 9
    write_png(tmp_path / "rgb.png", rgb)
    cli("apply", tmp_path / "rgb.png", "-k", "identity", "-o", tmp_path / "rgb.npy")
    values = np.load(tmp_path / "rgb.npy")
    assert values.shape == (2, 3, 3)  # H x W x C, as NumPy and Pillow have images
    assert values[..., 2].tolist() == [[9] * 3] * 2


def test_to_overrides_the_suffix(cli, tmp_path):
    board = checkerboard_png(tmp_path)
    cli("apply", board, "-k", "identity", "-o", tmp_path / "board.out", "--to", "jpeg")
    assert (tmp_path / "board.out").read_bytes()[:3] == b"\xff\xd8\xff"


def test_process_one_is_usable_as_a_library(tmp_path):
    from convcli.batch import ApplyOptions, MatrixInput, process_one
    from convcli.kernels import parse_step
    from convcli.pipeline import StepOptions

    values = np.arange(9, dtype=np.float64).reshape(3, 3)
    result = process_one(MatrixInput(values), None, [parse_step("0 1; 2 3")])
    assert result.values.tolist() == [[19, 25], [37, 43]]
    assert (result.kind, result.in_shape, result.out_shape) == ("matrix", (1, 3, 3), (1, 2, 2))
    board = checkerboard_png(tmp_path)
    options = ApplyOptions(steps=StepOptions(padding=0), map_mode="minmax")
    written = process_one(board, tmp_path / "o.png", [parse_step("box:3")], options)
    assert written.output == str(tmp_path / "o.png")
    assert written.out_shape == (1, 6, 6)
    assert set(written.timings) == {"read", "filter", "write"}


def _run_with_tty_stdout(*args: str) -> tuple[int, bytes, str]:
    """``convcli ARGS`` in a process whose stdout is a terminal (a pty): (code, what
    reached the terminal, stderr)."""
    import pty
    import sys

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "convcli", *args],
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        os.close(follower)
        follower = -1
        shown = b""
        while True:  # the terminal side: everything the program wrote to it
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: no writer left
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    return done.returncode, shown, done.stderr


def test_dash_o_to_a_terminal_is_refused(tmp_path):
    image = write_png(tmp_path / "in.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    code, shown, stderr = _run_with_tty_stdout(
        "apply", str(image), "-k", "box:3", "-o", "-", "--to", "png"
    )
    assert code == 2
    assert shown == b""
    assert stderr == (
        "Error: -o - writes PNG data to stdout, which is a terminal: redirect it (> out.png), "
        "pipe it (| ...), or give -o FILE\n"
    )
    code, shown, stderr = _run_with_tty_stdout("apply", "--matrix", MATRIX, "-k", "1", "-o", "-",
                                               "--to", "npy")  # fmt: skip
    assert (code, shown) == (2, b"")
    assert stderr.startswith(
        "Error: -o - writes NPY data to stdout, which is a terminal: redirect it (> out.npy)"
    )
    # Without --to the input decides the format: no file name is guessed.
    code, shown, stderr = _run_with_tty_stdout("apply", str(image), "-k", "box:3", "-o", "-")
    assert (code, shown) == (2, b"")
    assert stderr.startswith(
        "Error: -o - writes binary data to stdout, which is a terminal: redirect it (> FILE)"
    )


def test_dash_o_text_to_a_terminal_and_binary_to_a_pipe_still_work(tmp_path):
    code, shown, stderr = _run_with_tty_stdout(
        "apply", "--matrix", MATRIX, "-k", "1", "-o", "-", "--to", "csv"
    )
    assert (code, stderr) == (0, "")
    assert shown.replace(b"\r\n", b"\n") == b"0,1,2\n3,4,5\n6,7,8\n"
    image = write_png(tmp_path / "in.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    import sys

    piped = subprocess.run(
        [sys.executable, "-m", "convcli", "apply", str(image), "-k", "identity", "-o", "-"],
        capture_output=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(piped.stdout))), read_pixels(image))


@pytest.mark.parametrize(
    "spelling",
    [
        ["-k", "-1 1"],  # the word after -k is its value, minus sign or not
        ["-k", "-1,1"],
        ["--kernel", "-1 1"],
        ["--kernel=-1,1"],
        ["-k-1,1"],
    ],
)
def test_a_kernel_starting_with_a_minus_sign_needs_no_dashes(cli, spelling):
    # The README's advice: no `--` (after it every word is an INPUT) and no `-k=` (the
    # short form keeps the = in the value).
    result = cli("apply", "--matrix", "1 2 4; 8 16 32", *spelling)
    assert result.exit_code == 0, result.stderr
    assert [line.split() for line in result.stdout.splitlines()] == [["1", "2"], ["8", "16"]]


def test_the_spellings_the_readme_warns_about_fail_with_one_line(cli):
    assert_one_error(cli("apply", "--matrix", "1 2 4", "-k=-1,1"), 2, "kernel '=-1,1'")
    assert_one_error(cli("apply", "--matrix", "1 2 4", "-k", "--", "-1 1"), 2)


FIVE = "1 2 3 4 5; 6 7 8 9 10; 11 12 13 14 15; 16 17 18 19 20; 21 22 23 24 25"
DROPPED = (
    "warning: step 1 'maxpool:2': floor division drops 1 input row at the bottom\n"
    "warning: step 1 'maxpool:2': floor division drops 1 input column at the right\n"
)


@pytest.mark.parametrize("output_format", [None, "plain", "json", "csv", "table"])
def test_pooling_an_odd_size_warns_on_stderr_in_every_format(cli, output_format):
    chosen = ["--format", output_format] if output_format else []
    result = cli("apply", "--matrix", FIVE, "-k", "maxpool:2", *chosen)
    assert result.exit_code == 0
    assert result.stderr == DROPPED
    assert "warning" not in result.stdout and "19" in result.stdout


def test_strict_makes_a_warning_exit_1(cli):
    result = cli("apply", "--matrix", FIVE, "-k", "maxpool:2", "--strict", "--format", "json")
    assert result.exit_code == 1
    assert result.stderr == DROPPED + "Error: --strict: 2 warning(s) or note(s) above\n"
    quiet = cli("apply", "--matrix", FIVE, "-k", "maxpool:2", "--strict", "-q")
    assert (quiet.exit_code, quiet.stderr) == (
        1,
        "Error: --strict: 2 warning(s) or note(s) (not shown: -q/--quiet)\n",
    )
    clean = cli("apply", "--matrix", FIVE, "-k", "maxpool:2", "-p", "1", "--strict")
    assert (clean.exit_code, clean.stderr) == (0, "")


def test_strict_counts_the_note_on_a_step_name(cli):
    # An ImageMagick name read convcli's way is told once, before any work; --strict counts it.
    result = cli("apply", "--matrix", "1 2 3; 4 5 6; 7 8 9", "-k", "Laplacian", "--strict")
    assert result.exit_code == 1
    assert result.stderr.startswith("note: 'Laplacian' read as convcli's laplacian")
    assert result.stderr.endswith("Error: --strict: 1 warning(s) or note(s) above\n")
    assert result.stdout.split() == ["0"]


def test_global_padding_reaches_pools_and_the_median(cli):
    pooled = cli("apply", "--matrix", FIVE, "-k", "maxpool:2", "-p", "1")
    assert pooled.stdout.split() == ["1", "3", "5", "11", "13", "15", "21", "23", "25"]
    median = cli("apply", "--matrix", FIVE, "-k", "median:3", "-p", "1", "--format", "json")
    assert '"shape": [5, 5]' in median.stdout.replace("\n", "").replace("  ", "")
    assert_one_error(
        cli("apply", "--matrix", FIVE, "-k", "box:3", "-k", "maxpool:2", "-p", "2"),
        1,
        "step 2 'maxpool:2': padding 2 is more than half the window (1 at most",
        "give this one p=0",
    )


def test_an_image_pooled_with_odd_sides_warns_and_strict_fails(tmp_path, cli):
    image = write_png(tmp_path / "odd.png", np.arange(35 * 21, dtype=np.uint8).reshape(35, 21))
    result = cli("apply", image, "-k", "maxpool:2", "-o", tmp_path / "half.png")
    assert result.exit_code == 0
    assert result.stderr == DROPPED
    assert read_pixels(tmp_path / "half.png").shape == (17, 10)
    same = cli(
        "apply", image, "-k", "maxpool:2", "-p", "same", "-o", tmp_path / "s.png", "--strict"
    )
    assert (same.exit_code, same.stderr) == (0, "")
    assert read_pixels(tmp_path / "s.png").shape == (18, 11)


def test_strict_in_a_batch_counts_each_files_notes(tmp_path, cli):
    image = write_png(tmp_path / "in.png", np.zeros((8, 8), np.uint8))
    first = cli("apply", image, "-O", tmp_path / "out", "-k", "box:3", "--strict")
    assert first.exit_code == 0, first.stderr
    again = cli("apply", image, "-O", tmp_path / "out", "-k", "box:3", "--strict")
    assert again.exit_code == 1
    assert again.stderr.endswith("Error: --strict: 1 warning(s) or note(s) above\n")
    assert "note: skipped" in again.stderr


def test_strict_counts_a_warning_python_raised_while_working(monkeypatch, cli):
    import warnings

    import convcli.pipeline

    real = convcli.pipeline.run_steps

    def noisy(*args, **kwargs):
        warnings.warn("overflow encountered in multiply", RuntimeWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(convcli.pipeline, "run_steps", noisy)
    import convcli.process

    monkeypatch.setattr(convcli.process, "run_steps", noisy)
    loose = cli("apply", "--matrix", MATRIX, "-k", "1")
    assert loose.exit_code == 0
    assert loose.stderr == "note: while working: overflow encountered in multiply\n"
    strict = cli("apply", "--matrix", MATRIX, "-k", "1", "--strict")
    assert strict.exit_code == 1
    assert strict.stderr == (
        "note: while working: overflow encountered in multiply\n"
        "Error: --strict: a warning while working (note above)\n"
    )


def test_draw_dash_o_to_a_terminal_is_refused_but_svg_text_is_not():
    code, shown, stderr = _run_with_tty_stdout("draw", "3", "-k", "2", "-o", "-", "--to", "png")
    assert (code, shown) == (2, b"")
    assert stderr.startswith("Error: -o - writes PNG data to stdout, which is a terminal")
    code, shown, stderr = _run_with_tty_stdout("draw", "3", "-k", "2", "-o", "-", "--to", "gif")
    assert (code, shown) == (2, b"")
    assert stderr.startswith(
        "Error: -o - writes GIF data to stdout, which is a terminal: redirect it (> out.gif)"
    )
    code, shown, stderr = _run_with_tty_stdout("draw", "3", "-k", "2", "-o", "-", "--to", "svg")
    assert code == 0, stderr
    assert b"<svg" in shown
