"""The ``fast`` extra's JPEG decoder (:mod:`convcli._jpeg`, simplejpeg): the pixels and
metadata Pillow gives, every one, on the samples and on JPEGs of every kind Pillow
writes; anything it does not handle like Pillow goes to Pillow.

simplejpeg is in the ``test`` extra: these tests never skip.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from convcli import _jpeg, imageio
from convcli.errors import ConvcliError
from tests.conftest import SAMPLES, invoke

SHARED = ("camera.png", "chelsea.png")


def jpeg_bytes(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def pillow_picture(data: bytes, monkeypatch) -> imageio.Picture:
    """The Picture convcli reads without simplejpeg."""
    with monkeypatch.context() as patch:
        patch.setattr(_jpeg, "_codec", None)
        return imageio.load_image(io.BytesIO(data))


def count_decodes(patch) -> list[bool]:
    """Patch :func:`convcli._jpeg.decode` to log, for each call, whether it decoded."""
    calls: list[bool] = []
    decode = _jpeg.decode

    def counted(data: bytes, mode: str):
        pixels = decode(data, mode)
        calls.append(pixels is not None)
        return pixels

    patch.setattr(_jpeg, "decode", counted)
    return calls


def fast_picture(data: bytes, monkeypatch) -> imageio.Picture:
    """The Picture convcli reads with simplejpeg, which must have decoded it."""
    with monkeypatch.context() as patch:
        calls = count_decodes(patch)
        picture = imageio.load_image(io.BytesIO(data))
    assert calls == [True]
    return picture


def assert_same_picture(fast: imageio.Picture, slow: imageio.Picture) -> None:
    assert fast.pixels.dtype == slow.pixels.dtype == np.uint8
    assert fast.pixels.shape == slow.pixels.shape
    assert np.array_equal(fast.pixels, slow.pixels)
    for name in ("channels", "depth", "format", "mode", "icc_profile", "dpi", "notes"):
        assert getattr(fast, name) == getattr(slow, name), name


def sample(name: str, mode: str) -> np.ndarray:
    with Image.open(SAMPLES / name) as image:
        return np.asarray(image.convert(mode))


def test_simplejpeg_is_installed():
    """The test extra has it: a CI without it would test Pillow twice."""
    assert _jpeg.codec() is not None


@pytest.mark.parametrize("name", SHARED)
@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize(
    "options",
    [
        {"quality": 90},
        {"quality": 100},
        {"quality": 20},
        {"quality": 90, "subsampling": 0},  # 4:4:4
        {"quality": 90, "subsampling": 1},  # 4:2:2
        {"quality": 75, "progressive": True},
        {"quality": 75, "optimize": True},
    ],
    ids=["q90", "q100", "q20", "444", "422", "progressive", "optimized"],
)
def test_samples_decode_to_pillows_pixels(name, mode, options, monkeypatch):
    data = jpeg_bytes(sample(name, mode), **options)
    assert_same_picture(fast_picture(data, monkeypatch), pillow_picture(data, monkeypatch))


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 5, 3), (17, 33, 3), (9, 31), (2, 1)])
def test_odd_sizes_and_noise_decode_to_pillows_pixels(shape, monkeypatch):
    """Sizes that are not whole MCUs (the edge blocks are upsampled from padding)."""
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = jpeg_bytes(pixels, quality=95)
    assert_same_picture(fast_picture(data, monkeypatch), pillow_picture(data, monkeypatch))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_icc_and_dpi_as_pillow_reads_them(orientation, monkeypatch):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = jpeg_bytes(
        sample("chelsea.png", "RGB")[:120, :200],
        quality=90,
        exif=exif.tobytes(),
        dpi=(300, 150),
        icc_profile=b"not a real profile",
    )
    fast = fast_picture(data, monkeypatch)
    assert_same_picture(fast, pillow_picture(data, monkeypatch))
    assert fast.pixels.shape[:2] == ((200, 120) if orientation >= 5 else (120, 200))
    assert fast.icc_profile == b"not a real profile"
    assert fast.dpi == (300, 150)


def test_the_comparison_sees_a_different_idct():
    """The tests above would fail on a decoder that is merely close: libjpeg-turbo's fast
    IDCT gives other pixels on the same file."""
    data = jpeg_bytes(sample("camera.png", "L"), quality=95)
    accurate = _jpeg.decode(data, "L")
    with Image.open(io.BytesIO(data)) as image:
        assert np.array_equal(accurate, np.asarray(image))
    fast = _jpeg.codec().decode_jpeg(data, colorspace="GRAY", fastdct=True)[:, :, 0]
    assert not np.array_equal(fast, accurate)


def test_truncated_jpeg_is_the_same_error(monkeypatch):
    """libjpeg-turbo warns on a truncated file; the strict decoder hands it to Pillow,
    whose error convcli reports as for any corrupt image."""
    data = jpeg_bytes(sample("chelsea.png", "RGB"), quality=90)
    cut = data[: len(data) // 2]
    with pytest.raises(_jpeg.TruncatedJpeg):  # Pillow's own error then stands, below
        _jpeg.decode(cut, "RGB")
    with pytest.raises(ConvcliError) as fast:
        imageio.load_image(io.BytesIO(cut), name="cut.jpg")
    with monkeypatch.context() as patch:
        patch.setattr(_jpeg, "_codec", None)
        with pytest.raises(ConvcliError) as slow:
            imageio.load_image(io.BytesIO(cut), name="cut.jpg")
    assert str(fast.value) == str(slow.value)
    assert str(fast.value).startswith("cut.jpg: corrupt or truncated image")


def test_cmyk_is_left_to_pillow(monkeypatch):
    """CMYK JPEGs keep Pillow's conversion and its note."""
    cmyk = Image.fromarray(sample("chelsea.png", "RGB")).convert("CMYK")
    buffer = io.BytesIO()
    cmyk.save(buffer, "JPEG", quality=90)
    calls = []
    monkeypatch.setattr(_jpeg, "decode", lambda data, mode: calls.append(mode))
    picture = imageio.load_image(io.BytesIO(buffer.getvalue()), name="cmyk.jpg")
    assert calls == ["CMYK"]  # asked, and declined (None): Pillow decoded it
    assert picture.channels == "RGB"
    assert picture.notes and picture.notes[0].startswith("cmyk.jpg: CMYK converted to RGB")


def test_max_pixels_refused_before_decoding(monkeypatch):
    data = jpeg_bytes(sample("chelsea.png", "RGB"), quality=90)
    monkeypatch.setattr(_jpeg, "decode", lambda data, mode: pytest.fail("decoded"))
    with pytest.raises(ConvcliError, match=r"more than --max-pixels 1,000"):
        imageio.load_image(io.BytesIO(data), max_pixels=1000, name="big.jpg")


def test_apply_writes_the_same_bytes_with_or_without_simplejpeg(tmp_path, monkeypatch):
    """The round trip through convcli: decoding is where simplejpeg comes in, and the
    files written (by Pillow) are the same bytes either way."""
    source = tmp_path / "photo.jpg"
    source.write_bytes(jpeg_bytes(sample("chelsea.png", "RGB"), quality=92))
    fast = invoke("apply", str(source), "-k", "gaussian:2", "-o", str(tmp_path / "fast.jpg"))
    assert fast.exit_code == 0, fast.output
    monkeypatch.setattr(_jpeg, "_codec", None)
    slow = invoke("apply", str(source), "-k", "gaussian:2", "-o", str(tmp_path / "slow.jpg"))
    assert slow.exit_code == 0, slow.output
    written = (tmp_path / "fast.jpg").read_bytes()
    assert written == (tmp_path / "slow.jpg").read_bytes()
    with Image.open(io.BytesIO(written)) as image:
        assert image.size == (451, 300)


def test_damaged_files_read_as_pillow_reads_them(monkeypatch):
    """Bytes flipped anywhere (headers, tables, entropy data): each damaged file gives the
    same pixels, or the same error, with simplejpeg as without it."""
    data = jpeg_bytes(sample("chelsea.png", "RGB")[:96, :128], quality=85)
    rng = np.random.default_rng(14)
    outcomes = set()
    decoded = count_decodes(monkeypatch)
    for _ in range(60):
        damaged = bytearray(data)
        for position in rng.integers(2, len(data), size=int(rng.integers(1, 4))):
            damaged[position] = int(rng.integers(0, 256))
        results = []
        for codec in (_jpeg.codec(), None):
            with monkeypatch.context() as patch:
                patch.setattr(_jpeg, "_codec", codec)
                try:
                    picture = imageio.load_image(io.BytesIO(bytes(damaged)), name="x.jpg")
                    results.append(("read", picture.pixels.shape, picture.pixels.tobytes()))
                except ConvcliError as error:
                    results.append(("error", str(error)))
        # The one difference: data ending early, which Pillow fills with grey and
        # libjpeg-turbo tells (the fast extra's JPEGs are refused then).
        if results[0] != results[1]:
            assert results[0][0] == "error" and "premature end" in results[0][1].lower()
            assert results[1][0] == "read"
            continue
        outcomes.add(results[0][0])
    assert outcomes == {"read", "error"}  # both kinds of damage were met
    assert any(decoded) and not all(decoded)  # simplejpeg read some, declined others


# --------------------------------------------------------------------------- PNG deflate


def read_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def png_written(pixels: np.ndarray, monkeypatch, isal: bool, **options) -> bytes:
    """write_png's file with isal's deflate (the fast extra) or zlib's."""
    with monkeypatch.context() as patch:
        if not isal:
            patch.setattr(imageio, "_isal", None)
        buffer = io.BytesIO()
        imageio.write_png(buffer, pixels, **options)
    return buffer.getvalue()


def test_isal_is_installed():
    assert imageio._deflater(1)[0].__name__ == "isal.isal_zlib"
    assert [imageio._deflater(level)[1] for level in range(10)] == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert imageio._deflater(0)[0] is zlib  # stored blocks: zlib's, whatever is installed


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
@pytest.mark.parametrize("level", [1, 6, 9])
def test_isal_png_has_zlibs_pixels(mode, level, monkeypatch):
    """Every channel layout and depth, several blocks on two threads (the blocks joined
    by sync flushes, Adler-32 combined): Pillow reads the same pixels from isal's file as
    from zlib's, and the two files differ (isal really wrote it)."""
    rgb = sample("chelsea.png", "RGB")
    pixels = {
        "L": sample("camera.png", "L"),
        "LA": np.dstack([sample("chelsea.png", "L"), rgb[:, :, 0]]),
        "RGB": rgb,
        "RGBA": np.dstack([rgb, rgb[:, :, 1]]),
        "I;16": sample("camera.png", "L").astype(np.uint16) * 257,
    }[mode]
    monkeypatch.setattr(imageio, "PNG_BLOCK_BYTES", 20_000)  # many blocks
    fast = png_written(pixels, monkeypatch, True, level=level, threads=2)
    slow = png_written(pixels, monkeypatch, False, level=level, threads=2)
    assert fast != slow
    assert np.array_equal(read_png(fast), pixels)
    assert np.array_equal(read_png(slow), pixels)
    idat = b"".join(
        fast[start + 8 : start + 8 + int.from_bytes(fast[start : start + 4], "big")]
        for start in _chunk_starts(fast, b"IDAT")
    )
    assert zlib.decompress(idat)  # one valid zlib stream, its Adler-32 checked


def _chunk_starts(data: bytes, kind: bytes) -> list[int]:
    starts, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        if data[position + 4 : position + 8] == kind:
            starts.append(position)
        position += 12 + length
    return starts


def test_png_level_0_is_the_same_stored_file_either_way(monkeypatch):
    pixels = sample("chelsea.png", "RGB")
    fast = png_written(pixels, monkeypatch, True, level=0)
    assert fast == png_written(pixels, monkeypatch, False, level=0)
    assert np.array_equal(read_png(fast), pixels)


def test_apply_png_round_trip_with_isal(tmp_path, monkeypatch):
    """convcli apply through the writer with isal and without: the same pixels."""
    source = SAMPLES / "chelsea.png"
    fast = invoke("apply", str(source), "-k", "sobel-x", "-o", str(tmp_path / "fast.png"))
    assert fast.exit_code == 0, fast.output
    monkeypatch.setattr(imageio, "_isal", None)
    slow = invoke("apply", str(source), "-k", "sobel-x", "-o", str(tmp_path / "slow.png"))
    assert slow.exit_code == 0, slow.output
    fast_bytes, slow_bytes = (
        (tmp_path / "fast.png").read_bytes(),
        (tmp_path / "slow.png").read_bytes(),
    )
    assert fast_bytes != slow_bytes
    assert np.array_equal(read_png(fast_bytes), read_png(slow_bytes))
    assert read_png(fast_bytes).shape == (300, 451, 3)


# --------------------------------------------------------------------------------------------
# Output arrays laid out for the writer (planes for JPEG and WebP)
# --------------------------------------------------------------------------------------------


def test_jpeg_and_webp_colour_output_is_planes_and_other_outputs_are_plain():
    for shape, name in [((5, 7, 3), "JPEG"), ((5, 7, 4), "WEBP"), ((5, 7, 3), "WEBP")]:
        planar = imageio.output_array(shape, np.uint8, name)
        assert planar.shape == shape and planar.strides == (7, 1, 35)
        assert planar.base is not None and planar.base.shape == (shape[2], 5, 7)
    for shape, dtype, name in [
        ((5, 7, 3), np.uint8, "PNG"),
        ((5, 7), np.uint8, "JPEG"),
        ((5, 7, 2), np.uint8, "WEBP"),
        ((5, 7, 3), np.uint16, "TIFF"),
        ((5, 7, 3), np.uint8, "TIFF"),
    ]:
        plain = imageio.output_array(shape, dtype, name)
        assert plain.shape == shape and plain.dtype == dtype and plain.flags.c_contiguous


@pytest.mark.parametrize(("name", "channels", "quality"), [
    ("JPEG", 3, 90), ("JPEG", 3, 50), ("WEBP", 3, 80), ("WEBP", 4, 80),
])  # fmt: skip
def test_planes_encode_the_same_bytes_without_a_copy(
    tmp_path, name, channels, quality, monkeypatch
):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8)
    laid_out = imageio.output_array(pixels.shape, np.uint8, name)
    laid_out[...] = pixels
    copies = []
    original = Image.fromarray
    monkeypatch.setattr(Image, "fromarray", lambda *a, **k: copies.append(1) or original(*a, **k))
    suffix = name.lower()
    imageio.save_image(laid_out, tmp_path / f"planes.{suffix}", quality=quality, dpi=(300, 300))
    assert copies == []  # merged from the planes, not copied by fromarray
    imageio.save_image(pixels, tmp_path / f"plain.{suffix}", quality=quality, dpi=(300, 300))
    assert copies == [1]
    plain_bytes = (tmp_path / f"plain.{suffix}").read_bytes()
    assert (tmp_path / f"planes.{suffix}").read_bytes() == plain_bytes
    # Views that only look alike (not the start of their base, or other strides) are
    # copied as before.
    shifted = np.empty((channels + 1, 37, 53), np.uint8)[1:].transpose(1, 2, 0)
    shifted[...] = pixels
    imageio.save_image(shifted, tmp_path / f"shifted.{suffix}", quality=quality, dpi=(300, 300))
    assert (tmp_path / f"shifted.{suffix}").read_bytes() == plain_bytes
    reshaped = np.empty(37 * 53 * channels, np.uint8).reshape(37, 53, channels)  # a 1-D base
    reshaped[...] = pixels
    imageio.save_image(reshaped, tmp_path / f"reshaped.{suffix}", quality=quality)
    assert Image.open(tmp_path / f"reshaped.{suffix}").size == (53, 37)
    swapped = np.empty((channels, 53, 37), np.uint8).transpose(2, 1, 0)
    swapped[...] = pixels
    imageio.save_image(swapped, tmp_path / f"swapped.{suffix}", quality=quality, dpi=(300, 300))
    assert (tmp_path / f"swapped.{suffix}").read_bytes() == plain_bytes
