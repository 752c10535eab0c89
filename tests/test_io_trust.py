"""Issue 13, image and matrix I/O: files convcli writes read back as written, 16-bit and
float colour kept bit for bit, CMYK said."""

from __future__ import annotations

import io

import numpy as np
import pytest

from convcli import imageio
from tests.conftest import SAMPLES

# ------------------------------------------------------------------ .npy layout round trip


def test_two_step_pipeline_through_npy_equals_the_one_step_run(cli, tmp_path):
    photo = SAMPLES / "chelsea.png"  # 300x451 RGB
    one = cli("apply", photo, "-k", "gaussian:1", "-k", "sobel-x", "-o", tmp_path / "one.npy")
    assert one.exit_code == 0, one.stderr
    first = cli("apply", photo, "-k", "gaussian:1", "-o", tmp_path / "blur.npy")
    assert first.exit_code == 0, first.stderr
    assert np.load(tmp_path / "blur.npy").shape == (300, 451, 3)
    # The image defaults (same size, reflect) asked for explicitly: matrices follow PyTorch.
    second = cli(
        "apply", tmp_path / "blur.npy", "-k", "sobel-x", "-p", "same", "--border", "reflect",
        "-o", tmp_path / "two.npy",
    )  # fmt: skip
    assert second.exit_code == 0, second.stderr
    assert second.stderr == ""  # an image's layout is not ambiguous: no note
    two, expected = np.load(tmp_path / "two.npy"), np.load(tmp_path / "one.npy")
    assert two.shape == expected.shape == (300, 451, 3)  # written back as it was read
    assert np.array_equal(two, expected)


def test_a_piped_npy_follows_the_same_rule(cli, tmp_path):
    photo = SAMPLES / "chelsea.png"
    cli("apply", photo, "-k", "gaussian:1", "-o", tmp_path / "blur.npy")
    data = (tmp_path / "blur.npy").read_bytes()  # what `-o - --to npy` puts in the pipe
    second = cli("apply", "-", "-k", "sobel-x", "-p", "same", "--border", "reflect",
                 "-o", tmp_path / "two.npy", input=data)  # fmt: skip
    assert (second.exit_code, second.stderr) == (0, "")
    cli("apply", photo, "-k", "gaussian:1", "-k", "sobel-x", "-o", tmp_path / "one.npy")
    assert np.array_equal(np.load(tmp_path / "two.npy"), np.load(tmp_path / "one.npy"))
    cube = io.BytesIO()
    np.save(cube, np.zeros((3, 3, 3), np.float32))
    noted = cli("apply", "-", "-k", "identity", "--format", "json", input=cube.getvalue())
    assert noted.stderr == (
        "note: stdin.npy: shape 3x3x3 is read as CxHxW (PyTorch order); "
        "if it is HxWxC, give --channels-last\n"
    )


def test_image_layout_npy_is_read_as_hwc_and_pytorch_layout_as_chw(cli, tmp_path):
    hwc = np.arange(5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2)
    np.save(tmp_path / "hwc.npy", hwc)
    np.save(tmp_path / "chw.npy", np.ascontiguousarray(np.moveaxis(hwc, -1, 0)))
    for name, expected in (("hwc.npy", hwc), ("chw.npy", np.moveaxis(hwc, -1, 0))):
        result = cli("apply", tmp_path / name, "-k", "identity", "-o", tmp_path / f"o-{name}")
        assert (result.exit_code, result.stderr) == (0, "")
        assert np.array_equal(np.load(tmp_path / f"o-{name}"), expected)


def test_an_ambiguous_array_gets_a_note_naming_channels_last(cli, tmp_path):
    values = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    np.save(tmp_path / "cube.npy", values)
    result = cli("apply", tmp_path / "cube.npy", "-k", "identity", "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == (
        f"note: {tmp_path / 'cube.npy'}: shape 3x3x3 is read as CxHxW (PyTorch order); "
        "if it is HxWxC, give --channels-last\n"
    )
    told = cli("apply", tmp_path / "cube.npy", "-k", "identity", "--channels-last",
               "-o", tmp_path / "hwc.npy")  # fmt: skip
    assert (told.exit_code, told.stderr) == (0, "")
    assert np.array_equal(np.load(tmp_path / "hwc.npy"), values)


def test_whole_numbers_float32_cannot_hold_are_noted_not_silently_changed(cli, tmp_path):
    values = np.array([[16_777_217, 3], [2**31 - 1, -16_777_216]], np.int64)
    np.save(tmp_path / "ids.npy", values)
    result = cli("apply", tmp_path / "ids.npy", "-k", "identity", "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == (
        f"note: {tmp_path / 'ids.npy'}: 2 whole numbers past 2^24 (16,777,216) changed in "
        "float32, which convcli computes in (e.g. 16777217 -> 16777216)\n"
    )
    strict = cli("apply", tmp_path / "ids.npy", "-k", "identity", "--strict")
    assert strict.exit_code == 1
    # Fractions rounding to float32's digits is the documented precision: no note; nor for
    # whole numbers float32 holds exactly (2^24 itself, even numbers up to 2^25).
    exact = cli("apply", "--matrix", "16777216 33554430 0.1", "-k", "identity")
    assert (exact.exit_code, exact.stderr) == (0, "")


@pytest.mark.parametrize(
    ("shape", "channels_last", "noted"),
    [
        ((360, 640, 3), True, False),
        ((1, 360, 640, 4), True, False),
        ((3, 360, 640), False, False),
        ((64, 56, 56), False, False),
        ((3, 640, 3), False, True),
        ((16, 3, 3), False, True),
        ((2, 2, 2), False, True),
    ],
)
def test_matrix_layout_rule(shape, channels_last, noted):
    got, notes = imageio.matrix_layout(shape, "m.npy", False)
    assert got is channels_last
    assert bool(notes) is noted
    assert imageio.matrix_layout(shape, "m.npy", True) == (True, [])


def test_probe_shape_follows_the_same_rule(tmp_path):
    np.save(tmp_path / "hwc.npy", np.zeros((7, 9, 3), np.float32))
    assert imageio.probe_shape(tmp_path / "hwc.npy") == ((3, 7, 9), False)


# ------------------------------------------------------------------ 16-bit and float colour


def _filtered_rows(values: np.ndarray, filters: list[int]) -> bytes:
    """Scanlines of ``values`` (H, W, C) with the given filter type per row, cycled.

    Encoding a filter needs only the original bytes, so this is a few vector lines; it is
    what makes every one of the five filters reach the decoder (libpng and Pillow choose
    theirs per row, convcli's writer uses Up only)."""
    height = values.shape[0]
    bpp = values.shape[2] * values.dtype.itemsize
    samples = values.astype(">u2") if values.dtype == np.uint16 else values
    x = np.ascontiguousarray(samples).view(np.uint8).reshape(height, -1).astype(np.int16)
    a, b, c = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    a[:, bpp:], b[1:], c[1:, bpp:] = x[:, :-bpp], x[:-1], x[:-1, :-bpp]
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    predictors = [np.zeros_like(x), a, b, (a + b) >> 1, paeth]
    kinds = np.resize(np.asarray(filters), height)
    return b"".join(
        bytes([kind]) + ((x[y] - predictors[kind][y]) & 0xFF).astype(np.uint8).tobytes()
        for y, kind in enumerate(kinds)
    )


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]  # fmt: skip


def filtered_png(values: np.ndarray, filters: list[int], interlace: bool = False) -> bytes:
    """A PNG of ``values`` (H×W[×C], uint8 or uint16) whose rows use ``filters`` in turn,
    written by hand; ``interlace``: Adam7, each pass filtered on its own."""
    import struct
    import zlib

    planes = values if values.ndim == 3 else values[:, :, None]
    height, width, channels = planes.shape
    if interlace:
        passes = [planes[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7]
        raw = b"".join(_filtered_rows(p, filters) for p in passes if p.shape[0] and p.shape[1])
    else:
        raw = _filtered_rows(planes, filters)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    depth = 16 if values.dtype == np.uint16 else 8
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, int(interlace))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )  # fmt: skip


def write_tiff(path, values: np.ndarray) -> None:
    import tifffile

    channels = values.shape[2]
    tifffile.imwrite(
        path,
        values,
        photometric="rgb" if channels >= 3 else "minisblack",
        extrasamples=["unassalpha"] if channels in (2, 4) else None,
    )


@pytest.mark.parametrize("channels", [2, 3, 4])
@pytest.mark.parametrize("filters", [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4]])
def test_png_reader_undoes_every_filter_bit_for_bit(channels, filters):
    from convcli._png import decode_png

    rng = np.random.default_rng(channels * 10 + len(filters))
    wide = rng.integers(0, 65536, (9, 13, channels), dtype=np.uint16)
    assert np.array_equal(decode_png(filtered_png(wide, filters)), wide)
    narrow = rng.integers(0, 256, (9, 13, channels), dtype=np.uint8)
    assert np.array_equal(decode_png(filtered_png(narrow, filters)), narrow)


def test_png_reader_matches_pillow_on_the_sample_photos():
    from PIL import Image

    from convcli._png import decode_png

    for name in ("chelsea.png", "camera.png"):  # Pillow-written: adaptive filters
        data = (SAMPLES / name).read_bytes()
        with Image.open(SAMPLES / name) as image:
            assert np.array_equal(decode_png(data), np.asarray(image))


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("source", ["png", "tif"])
@pytest.mark.parametrize("target", ["png", "tif"])
def test_sixteen_bit_colour_round_trip_keeps_every_bit(cli, tmp_path, channels, source, target):
    values = np.random.default_rng(7).integers(0, 65536, (21, 34, channels), dtype=np.uint16)
    if channels == 4:
        values[..., 3] = 65535  # opaque: the identity kernel then leaves every colour bit
    path = tmp_path / f"in.{source}"
    if source == "png":
        path.write_bytes(filtered_png(values, [0, 1, 2, 3, 4]))
    else:
        write_tiff(path, values)
    picture = imageio.load_image(path)
    assert (picture.depth, picture.pixels.dtype, picture.notes) == ("16", np.uint16, [])
    assert np.array_equal(picture.pixels, values)
    result = cli("apply", path, "-k", "identity", "-o", tmp_path / f"out.{target}")
    assert (result.exit_code, result.stderr) == (0, "")
    written = imageio.load_image(tmp_path / f"out.{target}")
    assert written.channels == ("RGB", "RGBA")[channels - 3]
    assert np.array_equal(written.pixels, values)


def test_sixteen_bit_rgba_with_transparency_round_trips_through_the_writers(tmp_path):
    values = np.random.default_rng(8).integers(0, 65536, (11, 7, 4), dtype=np.uint16)
    for suffix in ("png", "tif"):
        imageio.save_image(values, tmp_path / f"x.{suffix}")
        assert np.array_equal(imageio.load_image(tmp_path / f"x.{suffix}").pixels, values)


def test_filtered_sixteen_bit_colour_equals_the_float_computation(cli, tmp_path):
    from scipy import ndimage

    from convcli.kernels import parse_step

    rng = np.random.default_rng(9)
    values = rng.integers(0, 65536, (24, 30, 3), dtype=np.uint16)
    (tmp_path / "in.png").write_bytes(filtered_png(values, [4, 3]))
    for output in ("out.png", "out.npy"):
        result = cli("apply", tmp_path / "in.png", "-k", "gaussian:1", "-o", tmp_path / output)
        assert (result.exit_code, result.stderr) == (0, "")
    written = imageio.load_image(tmp_path / "out.png").pixels
    raw = np.load(tmp_path / "out.npy")  # the same chain, float32, never rounded
    assert written.dtype == np.uint16
    assert np.array_equal(written, np.floor(np.clip(raw, 0, 65535) + 0.5).astype(np.uint16))
    # ... and that float chain is the convolution itself (scipy, float64, OpenCV's border).
    kernel = parse_step("gaussian:1").weight
    expected = np.stack(
        [
            ndimage.correlate(values[..., c].astype(np.float64), kernel, mode="mirror")
            for c in range(3)
        ],
        axis=-1,
    )
    assert np.abs(raw - expected).max() < 0.05
    assert np.abs(written.astype(np.int64) - np.rint(expected)).max() <= 1
    assert len(np.unique(written & 0xFF)) > 200  # the low byte is real, not a copy of the high


def test_depth_16_works_on_colour(cli, tmp_path):
    result = cli("apply", SAMPLES / "chelsea.png", "-k", "identity", "--depth", "16",
                 "-o", tmp_path / "deep.png")  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")
    deep = imageio.load_image(tmp_path / "deep.png")
    eight = imageio.load_image(SAMPLES / "chelsea.png").pixels
    assert (deep.depth, deep.channels) == ("16", "RGB")
    assert np.array_equal(deep.pixels, eight.astype(np.uint16) * 257)


def test_float_rgb_tiff_is_written_as_map_raw_promises(cli, tmp_path):
    import tifffile

    result = cli("apply", SAMPLES / "chelsea.png", "-k", "sobel-x", "--map", "raw",
                 "-o", tmp_path / "gx.tif")  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")
    cli("apply", SAMPLES / "chelsea.png", "-k", "sobel-x", "-o", tmp_path / "gx.npy")
    written = tifffile.imread(tmp_path / "gx.tif")
    assert (written.dtype, written.shape) == (np.float32, (300, 451, 3))
    assert written.min() < 0  # raw: negative edges kept
    assert np.array_equal(written, np.load(tmp_path / "gx.npy"))
    again = imageio.load_image(tmp_path / "gx.tif")
    assert (again.depth, again.channels) == ("float", "RGB")
    assert np.array_equal(again.pixels, written)


def test_png_reader_reads_only_what_it_can_and_leaves_the_rest_to_pillow():
    from convcli._png import PngHeader

    assert PngHeader(4, 4, 16, 2, 0).decodable
    assert PngHeader(4, 4, 16, 2, 1).decodable  # Adam7
    assert not PngHeader(4, 4, 8, 3, 0).decodable  # palette
    assert not PngHeader(4, 4, 4, 0, 0).decodable  # 4-bit grey


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (13, 17), (16, 16)])
def test_interlaced_png_every_bit(size):
    from PIL import Image

    from convcli._png import decode_png

    rng = np.random.default_rng(size[0] * 100 + size[1])
    wide = rng.integers(0, 65536, (*size, 4), dtype=np.uint16)
    assert np.array_equal(decode_png(filtered_png(wide, [0, 1, 2, 3, 4], True)), wide)
    narrow = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    data = filtered_png(narrow, [4, 3, 1], True)
    with Image.open(io.BytesIO(data)) as image:  # Pillow reads 8-bit Adam7: a second opinion
        assert np.array_equal(np.asarray(image), narrow)
    assert np.array_equal(decode_png(data), narrow)
    picture = imageio.load_image(io.BytesIO(filtered_png(wide[..., :3], [4], True)))
    assert (picture.depth, picture.notes) == ("16", [])
    assert np.array_equal(picture.pixels, wide[..., :3])


# ------------------------------------------------------------------ CMYK


def test_cmyk_input_gets_one_note_saying_what_was_done(cli, tmp_path):
    from PIL import Image

    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(tmp_path / "red.jpg", quality=95)
    result = cli("apply", tmp_path / "red.jpg", "-k", "identity", "-o", tmp_path / "out.png")
    assert result.exit_code == 0
    assert result.stderr == (
        f"note: {tmp_path / 'red.jpg'}: CMYK converted to RGB by Pillow's plain formula "
        "(no colour management: colours may shift); the output is RGB\n"
    )
    out = imageio.load_image(tmp_path / "out.png")
    assert out.channels == "RGB"
    assert out.pixels[3, 4, 0] > 240 and out.pixels[3, 4, 1] < 15


@pytest.mark.parametrize("orientation", range(1, 9))
def test_wide_tiff_orientation_is_applied_as_pillow_does_for_8_bit(tmp_path, orientation):
    import tifffile

    values = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tag = [(274, "H", 1, orientation, True)]
    tifffile.imwrite(tmp_path / "n.tif", values, photometric="rgb", extratags=tag)
    wide = values.astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "w.tif", wide, photometric="rgb", extratags=tag)
    narrow = imageio.load_image(tmp_path / "n.tif").pixels  # Pillow's exif_transpose
    turned = imageio.load_image(tmp_path / "w.tif").pixels  # tifffile + convcli's turn
    assert np.array_equal(turned, narrow.astype(np.uint16) * 257)


def test_an_hwc_matrix_prints_and_writes_text_by_channel_and_reads_back_the_same(cli, tmp_path):
    hwc = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
    np.save(tmp_path / "rgb.npy", hwc)
    text = tmp_path / "rgb.txt"
    assert cli("apply", tmp_path / "rgb.npy", "-k", "identity", "-o", text).exit_code == 0
    blocks = text.read_text().strip().split("\n\n")
    assert len(blocks) == 3  # channels, not the 5 rows of H x W x C
    assert blocks[1].splitlines()[0].split() == [str(v) for v in range(1, 21, 3)]
    again = tmp_path / "again.npy"
    assert cli("apply", text, "-k", "diff-x", "-o", again).exit_code == 0
    direct = tmp_path / "direct.npy"
    assert cli("apply", tmp_path / "rgb.npy", "-k", "diff-x", "-o", direct).exit_code == 0
    np.testing.assert_array_equal(np.moveaxis(np.load(again), 0, -1), np.load(direct))
    printed = cli("apply", tmp_path / "rgb.npy", "-k", "identity")
    assert printed.stdout == text.read_text()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("shape", [(3, 3), (3, 3, 3)], ids=["grey", "rgb"])
def test_a_float_tiff_holding_nan_or_infinity_is_refused_grey_or_colour(cli, tmp_path, bad, shape):
    import tifffile

    pixels = np.ones(shape, np.float32)
    pixels[0, 0] = bad
    tifffile.imwrite(tmp_path / "f.tif", pixels, photometric="rgb" if pixels.ndim == 3 else None)
    result = cli("apply", tmp_path / "f.tif", "-k", "box:3", "-o", tmp_path / "o.npy")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {tmp_path / 'f.tif'}: the TIFF holds NaN or infinite values\n",
    )
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("shape", [(1, 5, 7, 3), (1, 3, 5, 7)], ids=["hwc", "chw"])
def test_a_leading_sample_axis_is_written_back(cli, tmp_path, shape):
    np.save(tmp_path / "s.npy", np.arange(np.prod(shape), dtype=np.float32).reshape(shape))
    out = tmp_path / "o.npy"
    assert cli("apply", tmp_path / "s.npy", "-k", "identity", "-o", out).exit_code == 0
    np.testing.assert_array_equal(np.load(out), np.load(tmp_path / "s.npy"))


def test_a_jpeg_whose_data_ends_early_is_refused_not_half_grey(cli, tmp_path):
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (64, 96, 3), np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.jpg", quality=90)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2] + b"\xff\xd9")  # an end marker
    result = cli("apply", tmp_path / "cut.jpg", "-k", "box:3", "-o", tmp_path / "out.png")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {tmp_path / 'cut.jpg'}: corrupt or truncated JPEG (Corrupt JPEG data: "
        "premature end of data segment)\n",
    )
    assert not (tmp_path / "out.png").exists()
    assert (
        cli("apply", tmp_path / "whole.jpg", "-k", "box:3", "-o", tmp_path / "ok.png").exit_code
        == 0
    )
