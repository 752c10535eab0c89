"""convcli.imageio: modes, depths, notes, refusals, and the all-or-nothing write."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from convcli import imageio
from convcli.errors import ConvcliError, SpecError
from tests.conftest import SAMPLES


def png_16bit(values: np.ndarray) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour): H×W×C uint16."""
    height, width, channels = values.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def encoded(image: Image.Image, format_name: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def load_bytes(data: bytes, **options: object) -> imageio.Picture:
    return imageio.load_image(io.BytesIO(data), name="test", **options)


# ---------------------------------------------------------------------------- reading modes


@pytest.mark.parametrize(
    ("mode", "channels", "shape"),
    [
        ("L", "L", (2, 3)),
        ("LA", "LA", (2, 3, 2)),
        ("RGB", "RGB", (2, 3, 3)),
        ("RGBA", "RGBA", (2, 3, 4)),
    ],
)
def test_eight_bit_modes_keep_their_channels(mode, channels, shape):
    picture = load_bytes(encoded(Image.new(mode, (3, 2)), "PNG"))
    assert (picture.channels, picture.depth, picture.pixels.shape) == (channels, "8", shape)
    assert picture.pixels.dtype == np.uint8
    assert picture.format == "PNG"


def test_palette_becomes_rgb_or_rgba_with_transparency():
    palette = Image.new("P", (2, 2), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    opaque = load_bytes(encoded(palette, "PNG"))
    assert opaque.channels == "RGB"
    assert opaque.pixels[0, 0].tolist() == [255, 0, 0]
    transparent = load_bytes(encoded(palette, "PNG", transparency=1))
    assert transparent.channels == "RGBA"
    assert transparent.pixels[0, 0].tolist() == [255, 0, 0, 0]


def test_bilevel_becomes_0_and_255():
    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((1, 0), 1)
    assert load_bytes(encoded(bilevel, "PNG")).pixels.tolist() == [[0, 255]]


def test_sixteen_bit_grey_stays_sixteen_bit():
    values = np.array([[[0], [1], [257]], [[32768], [65534], [65535]]], dtype=np.uint16)
    picture = load_bytes(png_16bit(values))
    assert (picture.channels, picture.depth, picture.pixels.dtype) == ("L", "16", np.uint16)
    assert picture.pixels.tolist() == values[:, :, 0].tolist()
    assert picture.notes == []


def test_sixteen_bit_rgb_png_keeps_its_bits():
    values = (np.arange(12, dtype=np.uint16).reshape(1, 4, 3) * 5000) + 7
    picture = load_bytes(png_16bit(values))
    assert (picture.channels, picture.depth, picture.pixels.dtype) == ("RGB", "16", np.uint16)
    assert picture.pixels.tolist() == values.tolist()
    assert picture.notes == []


def test_float_and_integer_modes():
    values = np.array([[0.25, -1.5], [3.0, 0.0]], dtype=np.float32)
    picture = load_bytes(encoded(Image.fromarray(values, mode="F"), "TIFF"))
    assert (picture.depth, picture.pixels.dtype) == ("float", np.float32)
    assert picture.pixels.tolist() == values.tolist()
    small = load_bytes(encoded(Image.fromarray(np.array([[0, 65535]], np.int32), "I"), "TIFF"))
    assert (small.depth, small.pixels.tolist()) == ("16", [[0, 65535]])
    large = load_bytes(encoded(Image.fromarray(np.array([[-5, 70000]], np.int32), "I"), "TIFF"))
    assert (large.depth, large.pixels.tolist()) == ("float", [[-5.0, 70000.0]])
    assert large.notes == ["test: 32-bit integer values outside 0..65535, read as float"]


def test_exif_orientation_is_applied():
    image = Image.fromarray(np.array([[10, 20, 30]], dtype=np.uint8))  # 1 row, 3 columns
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    picture = load_bytes(encoded(image, "PNG", exif=exif))
    assert picture.pixels.tolist() == [[10], [20], [30]]


def test_gif_gives_the_first_frame_with_a_note():
    frames = [Image.new("L", (2, 2), value) for value in (0, 200)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    picture = load_bytes(data)
    assert picture.pixels.max() == 0
    assert picture.notes == ["test: 2 frames; using the first"]


def test_icc_profile_and_dpi_are_read():
    data = encoded(Image.new("RGB", (2, 2)), "PNG", icc_profile=b"fake profile", dpi=(300, 300))
    picture = load_bytes(data)
    assert picture.icc_profile == b"fake profile"
    assert picture.dpi == pytest.approx((300, 300), abs=0.01)


# ---------------------------------------------------------------------------- refusals


def test_max_pixels_refuses_from_the_header_before_decoding():
    header = png_16bit(np.zeros((1, 1, 1), np.uint16))  # reuse its chunks, with a bigger IHDR
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    crc = zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF
    bomb = header[:8] + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", crc)
    bomb += header[33:]  # the 1x1 file's IDAT and IEND
    # The file holds one pixel's data: decoding it would fail as truncated.
    with pytest.raises(ConvcliError) as caught:
        load_bytes(bomb)
    assert str(caught.value) == (
        "test: 20000x20000 is 400,000,000 pixels, more than --max-pixels 89,478,485"
    )
    with pytest.raises(ConvcliError, match="corrupt or truncated"):
        load_bytes(bomb, max_pixels=0)  # no limit: it gets as far as decoding


def test_max_pixels_replaces_pillows_own_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    picture = load_bytes(encoded(Image.new("L", (8, 8)), "PNG"), max_pixels=100)
    assert picture.pixels.shape == (8, 8)
    assert Image.MAX_IMAGE_PIXELS == 10  # restored
    with pytest.raises(ConvcliError, match="more than --max-pixels 63"):
        load_bytes(encoded(Image.new("L", (8, 8)), "PNG"), max_pixels=63)


@pytest.mark.parametrize("format_name", ["PNG", "JPEG"])
def test_truncated_file_is_an_error(format_name):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    data = encoded(image, format_name)
    with pytest.raises(ConvcliError) as caught:
        load_bytes(data[: len(data) // 2])
    assert str(caught.value).startswith("test: corrupt or truncated image (image file is truncated")


def test_text_is_not_an_image():
    with pytest.raises(ConvcliError) as caught:
        load_bytes(b"hello, world\n")
    assert (
        str(caught.value)
        == "test: not an image (convcli reads PNG, JPEG, TIFF, BMP, WebP, GIF, PNM, AVIF and PFM)"
    )


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ConvcliError, match=r"nope.png: no such file$"):
        imageio.load_image(tmp_path / "nope.png")
    with pytest.raises(ConvcliError, match="is a directory, not an image"):
        imageio.load_image(tmp_path)


# ---------------------------------------------------------------------------- matrices


def test_load_matrix_npy_csv_txt(tmp_path):
    np.save(tmp_path / "m.npy", np.arange(6).reshape(2, 3))
    (tmp_path / "m.csv").write_text("0,1,2\n3,4,5\n")
    (tmp_path / "m.txt").write_text("# two channels\n0 1\n2 3\n\n4 5\n6 7\n")
    assert imageio.load_matrix(tmp_path / "m.npy").tolist() == [[0, 1, 2], [3, 4, 5]]
    assert imageio.load_matrix(tmp_path / "m.csv").tolist() == [[0, 1, 2], [3, 4, 5]]
    assert imageio.load_matrix(tmp_path / "m.txt").shape == (2, 2, 2)


def test_load_matrix_refuses_words(tmp_path):
    (tmp_path / "words.txt").write_text("hello world\n")
    with pytest.raises(ConvcliError) as caught:
        imageio.load_matrix(tmp_path / "words.txt")
    assert not isinstance(caught.value, SpecError)  # a bad file: exit 1
    assert "'hello' is not a number" in str(caught.value)


def test_parse_matrix_channels():
    values = imageio.parse_matrix("0 1; 2 3 | 4 5; 6 7", "--matrix")
    assert values.tolist() == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]


# ---------------------------------------------------------------------------- writing


def test_format_for_path():
    assert imageio.format_for_path("a.PNG") == "PNG"
    assert imageio.format_for_path("a.tif") == "TIFF"
    assert imageio.format_for_path("a.pfm") == "PFM"
    assert imageio.format_for_path("a.qoi") == "QOI"  # anything else Pillow writes
    assert imageio.format_for_path("a.unknown") is None


def test_sixteen_bit_png_round_trip(tmp_path):
    values = np.array([[0, 1, 2, 65535], [300, 40000, 7, 12345]], dtype=np.uint16)
    imageio.save_image(values, tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as written:
        assert written.mode == "I;16"
    assert imageio.load_image(tmp_path / "g.png").pixels.tolist() == values.tolist()


@pytest.mark.parametrize("shape", [(3, 4), (3, 4, 3)])
def test_pfm_round_trip(tmp_path, shape):
    values = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    imageio.save_image(values, tmp_path / "f.pfm")
    header = (tmp_path / "f.pfm").read_bytes()[:12]
    assert header == (b"PF\n4 3\n-1.0\n" if len(shape) == 3 else b"Pf\n4 3\n-1.0\n")
    assert np.array_equal(imageio.load_image(tmp_path / "f.pfm").pixels, values)


def test_float_tiff_round_trip(tmp_path):
    values = np.array([[-1.5, 0.25], [1e6, 3.0]], dtype=np.float32)
    imageio.save_image(values, tmp_path / "f.tif")
    picture = imageio.load_image(tmp_path / "f.tif")
    assert picture.depth == "float"
    assert picture.pixels.tolist() == values.tolist()


def test_icc_dpi_and_png_level_are_written(tmp_path):
    pixels = np.broadcast_to(np.arange(64, dtype=np.uint8)[:, None, None], (64, 64, 3))
    for level in (0, 9):
        imageio.save_image(
            pixels,
            tmp_path / f"l{level}.png",
            png_compression=level,
            icc_profile=b"profile",
            dpi=(150, 150),
        )
    assert (tmp_path / "l0.png").stat().st_size > (tmp_path / "l9.png").stat().st_size
    with Image.open(tmp_path / "l9.png") as written:
        assert written.info["icc_profile"] == b"profile"
        assert written.info["dpi"] == pytest.approx((150, 150), abs=0.02)  # stored per metre
    imageio.save_image(pixels, tmp_path / "q.jpg", quality=95, icc_profile=b"profile")
    with Image.open(tmp_path / "q.jpg") as written:
        assert written.info["icc_profile"] == b"profile"


def test_rgba_as_jpeg_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(ConvcliError, match="cannot write this RGBA image as JPEG"):
        imageio.save_image(np.zeros((2, 2, 4), np.uint8), tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_is_a_usage_error(tmp_path):
    with pytest.raises(SpecError, match="cannot tell the output format from"):
        imageio.save_image(np.zeros((2, 2), np.uint8), tmp_path / "x.zzz")


# ---------------------------------------------------------------------------- atomic write


def test_atomic_output_publishes_with_plain_permissions(tmp_path):
    with imageio.atomic_output(tmp_path / "a.bin") as handle:
        handle.write(b"data")
    assert (tmp_path / "a.bin").read_bytes() == b"data"
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


@pytest.mark.parametrize("interruption", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_output_leaves_nothing_on_error_or_ctrl_c(tmp_path, interruption):
    with pytest.raises(type(interruption)), imageio.atomic_output(tmp_path / "a.bin") as handle:
        handle.write(b"half")
        raise interruption
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_never_clobbers_without_force(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    refused = pytest.raises(ConvcliError, match="exists; use --force to overwrite it")
    with refused, imageio.atomic_output(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"old"
    with imageio.atomic_output(target, force=True) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_check_output_path(tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(b"x")
    link = tmp_path / "link.png"
    link.symlink_to(source)
    for target in (source, link):
        with pytest.raises(ConvcliError, match="is the input file; convcli never overwrites"):
            imageio.check_output_path(target, [source], force=True)
    with pytest.raises(ConvcliError, match="exists; use --force"):
        imageio.check_output_path(source, [tmp_path / "other.png"])
    imageio.check_output_path(source, [tmp_path / "other.png"], force=True)
    with pytest.raises(ConvcliError, match=r"^output '.*out.png': folder '.*missing' does not"):
        imageio.check_output_path(tmp_path / "missing" / "out.png")
    with pytest.raises(ConvcliError, match="is a folder"):
        imageio.check_output_path(tmp_path, force=True)
    imageio.check_output_path(tmp_path / "new.png", [source])


def test_write_bytes_to_stdout(capsysbinary):
    imageio.write_bytes("-", b"\x89PNG raw")
    assert capsysbinary.readouterr().out == b"\x89PNG raw"


def test_save_npy_keeps_values(tmp_path):
    values = np.array([[1.5, -2.0]], dtype=np.float32)
    imageio.save_npy(tmp_path / "v.npy", values)
    loaded = np.load(tmp_path / "v.npy")
    assert loaded.dtype == np.float32
    assert loaded.tolist() == values.tolist()


@pytest.mark.parametrize(
    ("format_name", "options"),
    [("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True}), ("GIF", {}), ("PNG", {})],
)
def test_formats_read_back_exactly(format_name, options):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    picture = load_bytes(encoded(Image.fromarray(grey), format_name, **options))
    assert picture.format == format_name
    pixels = picture.pixels if picture.pixels.ndim == 2 else picture.pixels[..., 0]
    assert pixels.tolist() == grey.tolist()


# ---------------------------------------------------------------------------- PNG writer


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(kind, body) of every chunk, each CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        position += 12 + length
    return chunks


@pytest.mark.parametrize(
    ("shape", "dtype", "mode"),
    [
        ((5, 7), np.uint8, "L"),
        ((5, 7, 2), np.uint8, "LA"),
        ((5, 7, 3), np.uint8, "RGB"),
        ((5, 7, 4), np.uint8, "RGBA"),
        ((5, 7), np.uint16, "I;16"),
    ],
)
@pytest.mark.parametrize("block_bytes", [8, 1 << 20])  # a block per row; one block
def test_png_writer_round_trips_every_mode(monkeypatch, shape, dtype, mode, block_bytes):
    monkeypatch.setattr(imageio, "PNG_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    buffer = io.BytesIO()
    imageio.write_png(buffer, pixels, threads=2)
    chunks = png_chunks(buffer.getvalue())
    idat = b"".join(body for kind, body in chunks if kind == b"IDAT")
    assert len([kind for kind, _ in chunks if kind == b"IDAT"]) == (5 if block_bytes == 8 else 1)
    zlib.decompress(idat)  # one valid zlib stream: header, blocks joined, Adler-32 at the end
    with Image.open(io.BytesIO(buffer.getvalue())) as written:
        assert written.mode == mode
        assert np.array_equal(np.asarray(written), pixels)


@pytest.mark.parametrize("level", range(10))
def test_png_writer_levels_and_zlib_header(level):
    pixels = np.tile(np.arange(200, dtype=np.uint8), (40, 1))
    buffer = io.BytesIO()
    imageio.write_png(buffer, pixels, level=level)
    idat = b"".join(body for kind, body in png_chunks(buffer.getvalue()) if kind == b"IDAT")
    assert (idat[0] * 256 + idat[1]) % 31 == 0  # the zlib header check
    assert idat[1] >> 6 == (0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3)
    assert np.array_equal(imageio.load_image(io.BytesIO(buffer.getvalue())).pixels, pixels)


def test_adler32_combine_matches_zlib():
    rng = np.random.default_rng(2)
    first, second = rng.bytes(70_001), rng.bytes(131_073)  # lengths past the modulus
    combined = imageio.adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)
    assert imageio.adler32_combine(1, zlib.adler32(second), len(second)) == zlib.adler32(second)


def test_png_writer_size_is_close_to_pillows_at_level_1():
    """The Up filter on every row against Pillow's per-row adaptive choice, on a photo."""
    with Image.open(SAMPLES / "chelsea.png") as photo:
        pixels = np.asarray(photo.convert("RGB"))
    ours = io.BytesIO()
    imageio.write_png(ours, pixels, level=1)
    pillows = encoded(Image.fromarray(pixels), "PNG", compress_level=1)
    assert len(ours.getvalue()) < 1.03 * len(pillows)  # 239,474 against 235,319 bytes


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_big_images_are_copied_out_of_pillow_in_strips(monkeypatch, mode):
    channels = len(mode)
    rng = np.random.default_rng(4)
    values = rng.integers(0, 256, (37, 23, channels), dtype=np.uint8)
    image = Image.fromarray(values[..., 0] if channels == 1 else values, mode)
    data = encoded(image, "PNG")
    monkeypatch.setattr(imageio, "STRIP_COPY_BYTES", 100)  # strips of 1 row
    picture = load_bytes(data)
    assert picture.channels == mode
    assert np.array_equal(picture.pixels, values[..., 0] if channels == 1 else values)
    assert picture.pixels.flags.writeable and picture.pixels.flags.c_contiguous


def test_load_piped_tells_the_kind_from_the_content():
    buffer = io.BytesIO()
    np.save(buffer, np.arange(4.0).reshape(2, 2))
    assert imageio.load_piped(buffer.getvalue()).tolist() == [[0.0, 1.0], [2.0, 3.0]]
    buffer = io.BytesIO()
    Image.new("L", (3, 2), 7).save(buffer, "PNG")
    assert imageio.load_piped(buffer.getvalue()).pixels.shape == (2, 3)
    assert imageio.load_piped(b"1 2; 3 4\n").tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ConvcliError) as binary:
        imageio.load_piped(b"\x00\x01\xfe junk")
    assert (
        str(binary.value)
        == "stdin: not an image (convcli reads PNG, JPEG, TIFF, BMP, WebP, GIF, PNM, AVIF and PFM)"
    )
