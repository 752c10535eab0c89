"""Image and matrix files: read, write, and the atomic write that never leaves a partial file.

This is the only module that imports Pillow (and tifffile). Everything it reads comes back
as a NumPy array in the layout NumPy and Pillow use, ``H×W`` (grey) or ``H×W×C``, in the
file's own numbers:

==========================  ===============  =======  ======================================
file read                   array            depth    notes
==========================  ===============  =======  ======================================
``L``, ``1``                uint8 H×W        ``8``    ``1`` (bilevel) becomes 0/255
``LA``, ``La``              uint8 H×W×2      ``8``
``RGB`` (and CMYK, YCbCr)   uint8 H×W×3      ``8``    converted by Pillow (CMYK: a note)
``RGBA``, ``RGBa``          uint8 H×W×4      ``8``
``P``, ``PA``               uint8            ``8``    RGB, or RGBA when the palette has
                                                      transparency
``I;16`` (any byte order)   uint16 H×W       ``16``   16-bit stays 16-bit
16-bit LA, RGB, RGBA PNG    uint16 H×W×C     ``16``   convcli's reader, :mod:`convcli._png`
16-bit LA, RGB, RGBA TIFF   uint16 H×W×C     ``16``   tifffile (Pillow has no such modes)
float LA, RGB, RGBA TIFF    float32 H×W×C    float    tifffile
``I`` (32-bit integer)      uint16 H×W       ``16``   when every value fits in 0..65535,
                                                      else float
``F`` (32-bit float)        float32 H×W      float
==========================  ===============  =======  ======================================

The *depth* says what full scale means when values are mapped back: 255 for ``8``, 65535
for ``16`` and 1.0 for ``float`` (see :data:`FULL_SCALE`).

Writing goes through :func:`atomic_output`: a temporary file in the target folder, renamed
into place only when everything was written, removed on any error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import math
import os
import re
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from convcli import _signals, storage
from convcli._records import dataclass
from convcli._threads import cpu_count, ordered_map
from convcli.errors import ConvcliError, OutputExistsError, SpecError
from convcli.limits import (
    MAX_TEXT_BYTES,
    npy_header,
    open_regular,
    parse_npy,
    read_limited,
    read_stream,
    reading,
    refuse_special_output,
    shorten,
)
from convcli.numbers import format_number  # render/apply.py still imports it from here

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FULL_SCALE",
    "MATRIX_SUFFIXES",
    "READ_FORMATS",
    "Picture",
    "atomic_output",
    "check_output_path",
    "format_for_path",
    "gif_losses",
    "nearest_existing",
    "one_file_by_both_names",
    "image_suffixes",
    "is_matrix_path",
    "load_image",
    "load_matrix",
    "matrix_layout",
    "output_array",
    "Operand",
    "read_operand_pair",
    "parse_matrix",
    "probe_shape",
    "save_image",
    "save_npy",
    "write_bytes",
    "write_png",
]

#: Pillow's decompression-bomb limit (pixels), the default of ``--max-pixels``.
DEFAULT_MAX_PIXELS: int = int(Image.MAX_IMAGE_PIXELS or 89_478_485)

#: Full-scale value of each depth: what "white" is when results are mapped back.
FULL_SCALE: dict[str, float] = {"8": 255.0, "16": 65535.0, "float": 1.0}

#: File suffixes read as numeric matrices rather than images.
MATRIX_SUFFIXES: tuple[str, ...] = (".npy", ".csv", ".txt")

#: The raster formats convcli opens with Pillow, by Pillow's name, tried in this order.
#: Nothing else is ever decoded, whatever a file's name or first bytes claim: Pillow would
#: also hand PostScript to Ghostscript (EPS), and decode dozens of rare formats. PFM is read
#: by convcli itself.
READ_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF", "PPM", "AVIF")

_READABLE = "convcli reads PNG, JPEG, TIFF, BMP, WebP, GIF, PNM, AVIF and PFM"

#: Bytes an image file may have per allowed pixel (--max-pixels): 16-bit RGBA is 8, a
#: float RGB PFM 12; 16 leaves room for metadata.
FILE_BYTES_PER_PIXEL = 16

#: Suffix -> format. Formats convcli writes itself: NPY, PFM, CSV, TXT; the rest go to Pillow.
_FORMAT_BY_SUFFIX: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".pfm": "PFM",
    ".npy": "NPY",
    ".csv": "CSV",
    ".txt": "TXT",
}

#: Formats that hold float values (TIFF: grey through Pillow, colour through tifffile).
FLOAT_FORMATS: frozenset[str] = frozenset({"NPY", "PFM", "TIFF", "CSV", "TXT"})
#: Formats that hold nothing but float values.
FLOAT_ONLY_FORMATS: frozenset[str] = frozenset({"NPY", "PFM", "CSV", "TXT"})
#: Formats that hold 16 bits per channel: grey (Pillow, or convcli's PNG writer) and
#: grey+alpha/RGB/RGBA (convcli's PNG writer, tifffile for TIFF).
SIXTEEN_BIT_FORMATS: frozenset[str] = frozenset({"PNG", "TIFF"})
#: Formats without an alpha channel.
NO_ALPHA_FORMATS: frozenset[str] = frozenset({"JPEG", "PPM"})

_GREY_MODES = {"L": "L", "1": "L", "LA": "LA", "La": "LA", "RGBa": "RGBA", "PA": "RGBA"}

# Image.open's own bomb check reads a module global; it is switched off (under this lock)
# while we open a file, because --max-pixels replaces it and may be larger than Pillow's.
_OPEN_LOCK = threading.Lock()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import (single-threaded): temporary files get the permissions a plain
# open() would have given the output.
_FILE_PERMISSIONS = 0o666 & ~_current_umask()


@dataclass
class Picture:
    """An image read from a file, in its own numbers.

    Attributes
    ----------
    pixels : ndarray, shape (H, W) or (H, W, C), uint8, uint16 or float32
        The decoded pixels (EXIF orientation applied).
    channels : str
        ``"L"``, ``"LA"``, ``"RGB"`` or ``"RGBA"``: what the last axis holds.
    depth : str
        ``"8"``, ``"16"`` or ``"float"``; full scale is ``FULL_SCALE[depth]``.
    format : str or None
        Pillow's format name of the file (``"PNG"``, ``"JPEG"``...).
    mode : str
        The Pillow mode as stored in the file (``"P"``, ``"I;16B"``...).
    icc_profile : bytes or None
        The embedded colour profile, kept for the output.
    dpi : (float, float) or None
        Resolution, kept for the output.
    notes : list of str
        One-line remarks for stderr (bits Pillow cannot give, frames skipped...).
    """

    pixels: np.ndarray
    channels: str
    depth: str
    format: str | None
    mode: str
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def has_alpha(self) -> bool:
        return self.channels in ("LA", "RGBA")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def is_matrix_path(path: str | os.PathLike[str]) -> bool:
    """True when the file is read as a numeric matrix (``.npy``, ``.csv``, ``.txt``)."""
    return Path(path).suffix.lower() in MATRIX_SUFFIXES


def _display_name(source: str | os.PathLike[str] | BinaryIO, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return "stdin"


def _read_bytes(
    source: str | os.PathLike[str] | BinaryIO, name: str, limit: int | None, what: str
) -> bytes:
    """All of a regular file (or stream), refused beyond ``limit`` bytes; one line on error.

    Only regular files are opened, without blocking: a FIFO, ``/dev/zero`` or a folder is
    refused before a byte is read.
    """
    if isinstance(source, (str, os.PathLike)):
        return read_limited(source, name, limit, what)
    return read_stream(source, name, limit, what)


def image_byte_limit(max_pixels: int | None) -> int | None:
    """The largest image file read for ``--max-pixels`` (None: no limit)."""
    if not max_pixels:
        return None
    return FILE_BYTES_PER_PIXEL * max_pixels + (64 << 20)


#: Serialises the redirection of file descriptor 2 (see :func:`_quiet_c_libraries`).
_STDERR_LOCK = threading.Lock()
_stderr_depth = 0
_stderr_saved: int | None = None


@contextlib.contextmanager
def _quiet_c_libraries() -> Iterator[None]:
    """Send what C libraries print on file descriptor 2 to /dev/null meanwhile.

    libtiff prints its warnings and errors itself ("TIFFReadDirectory: Warning, ..."); Pillow
    then raises (or not) on its own, and convcli says one line about it. Nested and
    concurrent uses share one redirection.
    """
    global _stderr_depth, _stderr_saved
    with _STDERR_LOCK:
        if _stderr_depth == 0:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            try:
                saved = os.dup(2)
                null = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(null, 2)
                finally:
                    os.close(null)
                _stderr_saved = saved
            except OSError:  # no descriptor 2: nothing to quieten
                _stderr_saved = None
        _stderr_depth += 1
    try:
        yield
    finally:
        with _STDERR_LOCK:
            _stderr_depth -= 1
            if _stderr_depth == 0 and _stderr_saved is not None:
                os.dup2(_stderr_saved, 2)
                os.close(_stderr_saved)
                _stderr_saved = None


def _warning_note(name: str, caught: list[warnings.WarningMessage]) -> list[str]:
    """Pillow's warnings about a file as one note (they are about the file, not convcli)."""
    messages: list[str] = []
    for warning in caught:
        text = " ".join(str(warning.message).split())
        if text and text not in messages:
            messages.append(text)
    if not messages:
        return []
    return [f"{name}: the decoder warned: {shorten('; '.join(messages), 200)}"]


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)


def _signature(data: bytes) -> str | None:
    """The format a file's first bytes claim, for a better message when Pillow gives up."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)


def _read_failure(name: str, error: BaseException, data: bytes = b"") -> ConvcliError:
    """One line for an image Pillow could not decode."""
    if isinstance(error, UnidentifiedImageError):
        claimed = _signature(data)
        if claimed is not None:
            return ConvcliError(f"{name}: corrupt {claimed} file (Pillow cannot read its header)")
        return ConvcliError(f"{name}: not an image ({_READABLE})")
    reason = shorten(" ".join(str(error).split()) or type(error).__name__, 160)
    if isinstance(error, (KeyError, TypeError, AttributeError)):
        reason = f"{type(error).__name__}: {reason}"
    if isinstance(error, FileNotFoundError):
        return ConvcliError(f"{name}: no such file")
    if isinstance(error, IsADirectoryError):
        return ConvcliError(f"{name}: is a directory, not an image")
    if isinstance(error, PermissionError):
        return ConvcliError(f"{name}: permission denied")
    if isinstance(error, OSError) and error.strerror:
        reason = error.strerror
    return ConvcliError(f"{name}: corrupt or truncated image ({reason})")


def _rawmode(image: Image.Image) -> str:
    """The raw mode of the first decoder tile (``"RGB;16B"`` for a 16-bit RGB PNG), or ''."""
    for tile in getattr(image, "tile", None) or []:
        args = tile[3] if len(tile) > 3 else None
        if isinstance(args, str):
            return args
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            return args[0]
    return ""


def _read_pfm(data: bytes, name: str) -> Picture:
    """A Portable Float Map (``PF`` colour or ``Pf`` grey), which Pillow reads only in grey."""
    match = re.match(rb"(P[Ff])\s+(\d+)\s+(\d+)\s+(\S+)\s", data)
    if match is None:
        raise ConvcliError(f"{name}: corrupt PFM header")
    colour = match.group(1) == b"PF"
    width, height = int(match.group(2)), int(match.group(3))
    try:
        scale = float(match.group(4))
    except ValueError:
        raise ConvcliError(f"{name}: corrupt PFM header (scale '{match.group(4)!r}')") from None
    channels = 3 if colour else 1
    if width == 0 or height == 0:
        raise ConvcliError(f"{name}: empty image ({width}x{height})")
    if not math.isfinite(scale) or scale == 0:
        raise ConvcliError(f"{name}: corrupt PFM header (scale {scale})")
    dtype = np.dtype("<f4" if scale < 0 else ">f4")
    count = width * height * channels
    body = data[match.end() :]
    if len(body) < count * 4:
        raise ConvcliError(
            f"{name}: corrupt or truncated image (PFM needs {count * 4} bytes, has {len(body)})"
        )
    values = np.frombuffer(body, dtype=dtype, count=count).astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ConvcliError(f"{name}: the PFM holds NaN or infinite values")
    shape = (height, width, 3) if colour else (height, width)
    pixels = np.ascontiguousarray(values.reshape(shape)[::-1])  # PFM stores rows bottom-up
    return Picture(pixels, "RGB" if colour else "L", "float", "PFM", "F")


def load_image(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> Picture:
    """Decode an image file completely, or fail with one line naming the file.

    Parameters
    ----------
    source : path or binary file object
        The file (any format Pillow reads; the format comes from the content), or a
        file object such as stdin's buffer.
    max_pixels : int or None
        Refuse images with more pixels than this, from the header, before decoding.
        None or 0: no limit. Default: Pillow's decompression-bomb limit.
    name : str, optional
        How to call the file in messages (default: the path, or ``stdin``).

    Returns
    -------
    Picture
        See the module docstring for the modes and arrays.

    Raises
    ------
    ConvcliError
        Missing, unreadable, unidentifiable, truncated or corrupt file, or too many pixels.

    Notes
    -----
    GIF and multi-page TIFF give their first frame (with a note). EXIF orientation is applied.
    16-bit grey+alpha, RGB and RGBA PNGs are decoded by :mod:`convcli._png` and 16-bit or
    float colour TIFFs by tifffile, every bit kept (Pillow would give 8 bits).

    Examples
    --------
    >>> import io
    >>> buffer = io.BytesIO()
    >>> Image.new("L", (3, 2), 7).save(buffer, "PNG")
    >>> picture = load_image(io.BytesIO(buffer.getvalue()))
    >>> picture.pixels.shape, picture.depth, picture.channels
    ((2, 3), '8', 'L')
    """
    name = _display_name(source, name)
    data = _read_bytes(source, name, image_byte_limit(max_pixels), "image")
    return _decode(data, name, max_pixels)


def _decode(data: bytes, name: str, max_pixels: int | None) -> Picture:
    """An image from its bytes: PFM here, :data:`READ_FORMATS` through Pillow, nothing else.

    Whatever Pillow raises or warns becomes one error or one note naming the file, and
    what libtiff prints on stderr goes nowhere.
    """
    if data[:3] in (b"PF\n", b"Pf\n", b"PF ", b"Pf ", b"PF\r", b"Pf\r"):
        picture = _read_pfm(data, name)
        _check_pixels(name, picture.pixels.shape[1], picture.pixels.shape[0], max_pixels)
        return picture
    from convcli._jpeg import TruncatedJpeg

    truncated = None
    with warnings.catch_warnings(record=True) as caught, _quiet_c_libraries():
        warnings.simplefilter("always")
        try:
            wide = _decode_wide(data, name, max_pixels)
            if wide is None:
                try:
                    wide = _decode_turbo_jpeg(data, name, max_pixels)
                except TruncatedJpeg as error:  # Pillow's own error, if it has one, first
                    truncated = error
            if wide is None:
                image, notes, file_format = _open_first_frame(data, name, max_pixels)
                wide = _picture_from_pillow(image, name, notes, file_format)
            picture = wide
            if truncated is not None:  # Pillow read it: the missing rows came out grey
                raise ConvcliError(f"{name}: corrupt or truncated JPEG ({truncated})")
        except ConvcliError:
            raise
        except MemoryError:
            raise ConvcliError(f"{name}: out of memory decoding it (try --max-pixels)") from None
        except RecursionError:
            raise ConvcliError(f"{name}: corrupt image (nested too deeply)") from None
        except Exception as error:  # any decoder failure is this file's, in one line
            raise _read_failure(name, error, data) from None
    picture.notes.extend(_warning_note(name, caught))
    return picture


def _open_header(data: bytes, name: str, max_pixels: int | None) -> Image.Image:
    """Pillow's image with only its header read, its size checked."""
    with _OPEN_LOCK:
        saved_limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            image = Image.open(io.BytesIO(data), formats=READ_FORMATS)
        finally:
            Image.MAX_IMAGE_PIXELS = saved_limit
    if image.width < 1 or image.height < 1:
        raise ConvcliError(f"{name}: empty image ({image.width}x{image.height})")
    _check_pixels(name, image.width, image.height, max_pixels)
    return image


def _open_first_frame(
    data: bytes, name: str, max_pixels: int | None
) -> tuple[Image.Image, list[str], str | None]:
    image = _open_header(data, name, max_pixels)
    file_format = image.format
    notes = _lost_bits_notes(image, name)
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(f"{name}: {frames} frames; using the first")
        image.seek(0)
    image.load()
    # in_place: without an orientation tag, the default returns a copy (576 MB for a
    # 12000x12000 RGB photo in Pillow's 4-bytes-per-pixel layout).
    ImageOps.exif_transpose(image, in_place=True)
    if image.width < 1 or image.height < 1:
        raise ConvcliError(f"{name}: empty image ({image.width}x{image.height})")
    _check_pixels(name, image.width, image.height, max_pixels)
    return image, notes, file_format


def _check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels and width * height > max_pixels:
        raise ConvcliError(
            f"{name}: {width}x{height} is {width * height:,} pixels, more than "
            f"--max-pixels {max_pixels:,}"
        )


# ------------------------------------------------- 16-bit and float colour (PNG and TIFF)

#: TIFF tags read to route a file: BitsPerSample, SamplesPerPixel, Photometric, SampleFormat.
_TIFF_BITS, _TIFF_SAMPLES, _TIFF_PHOTOMETRIC, _TIFF_SAMPLE_FORMAT = 258, 277, 262, 339


def _is_wide_tiff(image: Image.Image) -> bool:
    """A grey+alpha or RGB(A) TIFF with more than 8 bits or float samples, which Pillow
    would give in 8 bits (or not at all)."""
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return False
    bits = tags.get(_TIFF_BITS, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    formats = tags.get(_TIFF_SAMPLE_FORMAT, (1,))
    formats = formats if isinstance(formats, tuple) else (formats,)
    wide = max(bits) > 8 or 3 in formats
    return wide and tags.get(_TIFF_SAMPLES, 1) >= 2 and tags.get(_TIFF_PHOTOMETRIC) in (1, 2)


def _decode_wide(data: bytes, name: str, max_pixels: int | None) -> Picture | None:
    """A 16-bit grey+alpha/RGB/RGBA PNG (convcli's own reader) or a 16-bit or float
    colour TIFF (tifffile), every bit kept; None for anything Pillow reads whole."""
    claimed = _signature(data)
    if claimed == "TIFF":
        try:
            image = _open_header(data, name, max_pixels)
        except UnidentifiedImageError:  # float RGB: Pillow has no mode for it
            try:
                return _read_tiff(data, name, max_pixels)
            except ConvcliError:
                raise
            except Exception:  # not a TIFF tifffile reads either: Pillow's word stands
                raise UnidentifiedImageError(name) from None
        return _read_tiff(data, name, max_pixels) if _is_wide_tiff(image) else None
    if claimed != "PNG":
        return None
    from convcli._png import PngError, decode_png, png_header

    try:
        header = png_header(data)
    except PngError:
        return None  # Pillow says what is wrong with it
    if header.bit_depth != 16 or header.channels < 2 or not header.decodable:
        return None  # grey 16-bit is Pillow's I;16 already
    image = _open_header(data, name, max_pixels)  # size checked, metadata read
    try:
        pixels = decode_png(data)
    except PngError as error:
        raise ConvcliError(f"{name}: {error}") from None
    info = image.info
    channels = {2: "LA", 3: "RGB", 4: "RGBA"}[header.channels]
    picture = Picture(pixels, channels, "16", "PNG", image.mode, info.get("icc_profile"))
    picture.dpi = _dpi(info.get("dpi"))
    picture.pixels = _oriented(pixels, image.getexif().get(_ORIENTATION, 1))
    return picture


def _decode_turbo_jpeg(data: bytes, name: str, max_pixels: int | None) -> Picture | None:
    """An RGB or grey JPEG decoded by simplejpeg (the ``fast`` extra): the pixels Pillow
    gives, straight into a NumPy array (~9 ms instead of ~14 ms for a 1080p photo: no
    copy out of Pillow's 4-bytes-per-pixel image). None for anything else (no
    simplejpeg, CMYK, a multi-picture file, a warning from libjpeg-turbo): Pillow reads
    it, and says what is wrong with it."""
    from convcli import _jpeg

    if _jpeg.codec() is None or _signature(data) != "JPEG":
        return None
    image = _open_header(data, name, max_pixels)  # size checked, metadata read
    if image.format != "JPEG" or getattr(image, "n_frames", 1) != 1:
        return None
    pixels = _jpeg.decode(data, image.mode)
    if pixels is None or pixels.shape[:2] != (image.height, image.width):
        return None
    pixels = _oriented(pixels, image.getexif().get(_ORIENTATION, 1))
    _check_pixels(name, pixels.shape[1], pixels.shape[0], max_pixels)
    dpi = image.info.get("dpi")
    return Picture(
        pixels,
        image.mode,
        "8",
        "JPEG",
        image.mode,
        image.info.get("icc_profile"),
        tuple(dpi) if dpi else None,  # as _picture_from_pillow has it
    )


def _dpi(value: object) -> tuple[float, float] | None:
    if isinstance(value, tuple) and len(value) == 2:
        return float(value[0]), float(value[1])
    return None


#: The EXIF (and TIFF) orientation tag, and what each value asks of the pixels.
_ORIENTATION = 0x0112


def _oriented(pixels: np.ndarray, orientation: object) -> np.ndarray:
    """The pixels turned upright as EXIF orientation 1..8 asks (what Pillow's
    ``exif_transpose`` does for the images it decodes)."""
    turns = {
        2: lambda p: p[:, ::-1],
        3: lambda p: p[::-1, ::-1],
        4: lambda p: p[::-1],
        5: lambda p: p.swapaxes(0, 1),
        6: lambda p: np.rot90(p, -1),
        7: lambda p: p[::-1, ::-1].swapaxes(0, 1),
        8: lambda p: np.rot90(p, 1),
    }
    turn = turns.get(orientation) if isinstance(orientation, int) else None
    return pixels if turn is None else np.ascontiguousarray(turn(pixels))


def _read_tiff(data: bytes, name: str, max_pixels: int | None) -> Picture:
    """The first page of a TIFF through tifffile: 16-bit and float colour, every bit."""
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tiff:
        page = tiff.pages.first
        _check_pixels(name, int(page.imagewidth), int(page.imagelength), max_pixels)
        pixels = page.asarray()
        if page.axes.startswith("S"):  # planar: one plane per channel
            pixels = np.moveaxis(pixels, 0, -1)
        notes = (
            [f"{name}: {len(tiff.pages)} frames; using the first"] if len(tiff.pages) > 1 else []
        )
        tags = page.tags
        icc = tags.valueof(34675)
        dpi = None
        if tags.valueof(296, 2) == 2 and tags.get(282) is not None and tags.get(283) is not None:
            dpi = (float(np.divide(*tags.valueof(282))), float(np.divide(*tags.valueof(283))))
        orientation = tags.valueof(274, 1)
    if pixels.ndim != 3 or not 2 <= pixels.shape[2] <= 4:
        raise ConvcliError(f"{name}: a TIFF of shape {pixels.shape}; convcli reads 1 to 4 channels")
    if pixels.dtype == np.uint16:
        depth = "16"
    elif pixels.dtype.kind == "f":
        depth, pixels = "float", pixels.astype(np.float32)
    else:
        raise ConvcliError(
            f"{name}: a TIFF of {pixels.dtype} samples; convcli reads 8- and 16-bit unsigned "
            "and float colour TIFF"
        )
    if depth == "float" and not np.all(np.isfinite(pixels)):
        raise ConvcliError(f"{name}: the TIFF holds NaN or infinite values")
    channels = {2: "LA", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    mode = f"{channels};{'16' if depth == '16' else 'F'}"
    picture = Picture(_oriented(pixels, orientation), channels, depth, "TIFF", mode, icc, dpi)
    picture.notes = notes
    return picture


def _lost_bits_notes(image: Image.Image, name: str) -> list[str]:
    """Say so when the file has 16 bits per channel that Pillow's mode cannot hold."""
    rawmode = _rawmode(image)
    if ";16" in rawmode and image.mode in ("RGB", "RGBA", "LA"):
        return [
            f"{name}: 16-bit {image.mode} image; Pillow decodes it to 8 bits per channel "
            "(the low 8 bits are lost)"
        ]
    return []


#: Above this many bytes, an 8-bit image is copied out of Pillow in strips: ``np.asarray``
#: goes through ``tobytes()``, which holds the pixels twice more (its chunks, then joined):
#: for a 12000x12000 RGB photo, 1.4 GB at the peak instead of 1.0 GB, and slower.
STRIP_COPY_BYTES = 64 << 20


def _eight_bit_array(image: Image.Image) -> np.ndarray:
    """An L, LA, RGB or RGBA Pillow image as a new (H, W[, C]) uint8 array."""
    channels = len(image.getbands())
    width, height = image.size
    if width * height * channels <= STRIP_COPY_BYTES:
        return np.asarray(image)
    shape = (height, width, channels) if channels > 1 else (height, width)
    pixels = np.empty(shape, np.uint8)
    rows = max(1, (8 << 20) // (width * channels))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = image.crop((0, top, width, bottom)).tobytes()
        pixels[top:bottom] = np.frombuffer(strip, np.uint8).reshape(bottom - top, *shape[1:])
    return pixels


def _picture_from_pillow(
    image: Image.Image, name: str, notes: list[str], file_format: str | None
) -> Picture:
    mode = image.mode
    icc_profile = image.info.get("icc_profile")
    dpi = image.info.get("dpi")
    depth = "8"
    if mode.startswith("I;16"):
        pixels = np.asarray(image).astype(np.uint16)  # native byte order
        channels, depth = "L", "16"
    elif mode == "I":
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            pixels = values.astype(np.float32)
            channels, depth = "L", "float"
            notes.append(f"{name}: 32-bit integer values outside 0..65535, read as float")
        else:
            pixels = values.astype(np.uint16)
            channels, depth = "L", "16"
    elif mode == "F":
        pixels = np.asarray(image, dtype=np.float32)
        channels, depth = "L", "float"
        if not np.all(np.isfinite(pixels)):  # as colour float TIFFs, PFM and .npy are
            raise ConvcliError(f"{name}: the {file_format or 'image'} holds NaN or infinite values")
    else:
        if mode == "P":
            target = "RGBA" if "transparency" in image.info else "RGB"
        elif mode in _GREY_MODES:
            target = _GREY_MODES[mode]
        elif mode in ("L", "LA", "RGB", "RGBA"):
            target = mode
        else:  # CMYK, YCbCr, LAB, HSV, RGBX...
            target = "RGBA" if "A" in mode else "RGB"
            if mode == "CMYK":
                dropped = "; its ICC profile is dropped" if icc_profile is not None else ""
                icc_profile = None
                notes.append(
                    f"{name}: CMYK converted to RGB by Pillow's plain formula (no colour "
                    f"management: colours may shift){dropped}; the output is RGB"
                )
        if target != mode:
            image = image.convert(target)
        pixels = _eight_bit_array(image)
        channels = target
    return Picture(
        pixels=np.ascontiguousarray(pixels),
        channels=channels,
        depth=depth,
        format=file_format,
        mode=mode,
        icc_profile=icc_profile,
        dpi=tuple(dpi) if dpi else None,  # type: ignore[arg-type]
        notes=notes,
    )


#: How a ``.npy`` that came through a pipe is named: its layout is then read by the same
#: rule as a ``.npy`` file's (:func:`matrix_layout`), where piped text is not.
PIPED_NPY_NAME = "stdin.npy"


def piped_name(data: bytes) -> str:
    """The name of what a pipe held in messages and layout rules: ``stdin``, or
    :data:`PIPED_NPY_NAME` for a ``.npy`` array.

    Examples
    --------
    >>> piped_name(b"\\x93NUMPY..."), piped_name(b"1 2; 3 4")
    ('stdin.npy', 'stdin')
    """
    return PIPED_NPY_NAME if data.startswith(b"\x93NUMPY") else "stdin"


def load_piped(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture | np.ndarray:
    """What a pipe held, named ``stdin``: a ``.npy`` array, an image, or a text matrix.

    A pipe has no file name to tell the kind, so it is told from the content: the ``.npy``
    magic, else whatever Pillow decodes, else text (binary data keeps the image error).

    Examples
    --------
    >>> load_piped(b"1 2; 3 4").tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    if piped_name(data) == PIPED_NPY_NAME:
        return load_matrix(io.BytesIO(data), name="stdin", kind="npy", max_pixels=max_pixels)
    limit = image_byte_limit(max_pixels)
    if limit is not None and len(data) > limit:
        raise ConvcliError(f"stdin: more than the {limit:,} bytes convcli reads (image)")
    try:
        return _decode(data, "stdin", max_pixels)
    except ConvcliError:
        # Enough to tell, cut at a line's end (not inside a UTF-8 character).
        sample = data if len(data) <= MAX_TEXT_BYTES else data[:4096].rpartition(b"\n")[0]
        if not data.strip() or not _looks_like_text(sample):
            raise
    if len(data) > MAX_TEXT_BYTES:  # text, too long to be read as a matrix: said so
        raise ConvcliError(
            f"stdin: {len(data):,} bytes, more than the {MAX_TEXT_BYTES:,} convcli reads for a "
            "text matrix; use .npy for more"
        )
    return load_matrix(io.BytesIO(data), name="stdin", kind="txt", max_pixels=max_pixels)


#: Channels the pipeline works on, by Pillow mode (colour and alpha, after conversion).
_MODE_CHANNELS = {"1": 1, "L": 1, "LA": 2, "La": 2, "RGB": 3, "RGBA": 4, "RGBa": 4, "PA": 4,
                  "I": 1, "F": 1, "CMYK": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBX": 3}  # fmt: skip


def probe_shape(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    channels_last: bool = False,
    gray: bool = False,
) -> tuple[tuple[int, int, int], bool] | None:
    """``((C, H, W), is_image)`` of an input file from its header alone, or None when it
    cannot be told (the reader will then say what is wrong with the file).

    Images: Pillow reads the header of a :data:`READ_FORMATS` file (nothing decoded);
    ``.npy``: its header; text matrices: parsed (they are small). C counts the channels
    the steps will filter (alpha included, one colour channel with ``gray``).

    Parameters
    ----------
    path : str or PathLike
        The input file.
    max_pixels : int or None
        ``--max-pixels``: a larger image is refused (None: no limit).
    channels_last : bool
        ``--channels-last``: a 3-D matrix is (H, W, C) (see :func:`matrix_layout`).
    gray : bool
        The image is read as one grey channel (``--gray``).
    """
    name = str(path)
    try:
        if is_matrix_path(name):
            if name.lower().endswith(".npy"):
                data = _npy_header(name)
                shape = data
            else:
                shape = load_matrix(name, max_pixels=max_pixels).shape
            if len(shape) == 4 and shape[0] == 1:
                shape = shape[1:]
            if len(shape) == 1:
                shape = (1, 1, shape[0])
            elif len(shape) == 2:
                shape = (1, *shape)
            elif len(shape) == 3 and matrix_layout(shape, name, channels_last)[0]:
                shape = (shape[2], shape[0], shape[1])
            if len(shape) != 3:
                return None
            return (int(shape[0]), int(shape[1]), int(shape[2])), False
        descriptor, _ = open_regular(name, name, "image")
        with os.fdopen(descriptor, "rb") as handle:
            if handle.read(3) in (b"PF\n", b"Pf\n", b"PF ", b"Pf ", b"PF\r", b"Pf\r"):
                return None
            handle.seek(0)
            with warnings.catch_warnings(), _quiet_c_libraries(), _OPEN_LOCK:
                warnings.simplefilter("ignore")
                saved_limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None
                try:
                    with Image.open(handle, formats=READ_FORMATS) as image:
                        mode, width, height = image.mode, image.width, image.height
                        transparent = "transparency" in image.info
                finally:
                    Image.MAX_IMAGE_PIXELS = saved_limit
    except Exception:  # any trouble is the reader's to tell
        return None
    if mode == "P":
        channels = 4 if transparent else 3
    else:
        channels = _MODE_CHANNELS.get(mode, 1 if mode.startswith("I;16") else 4)
    if gray:
        channels = 2 if channels in (2, 4) else 1
    return (channels, height, width), True


#: Most channels an image has (grey, grey+alpha, RGB, RGBA): what tells an image's
#: H×W×C layout from PyTorch's C×H×W when a 3-D matrix is read.
IMAGE_CHANNELS = 4


def matrix_layout(shape: Sequence[int], name: str, channels_last: bool) -> tuple[bool, list[str]]:
    """How a matrix of this shape is read: ``(channels_last, notes)``.

    A ``.npy`` has no place for a layout (NumPy's header takes only its own keys), so the
    shape decides, by a rule that reads back every file convcli writes as it was written:
    a 3-D array (after a leading sample axis of 1) whose last axis has 1 to 4 values and
    the other two more is H×W×C, an image's layout (what ``apply -o x.npy`` writes from an
    image, and what NumPy and Pillow give); one whose first axis has 1 to 4 values and the
    last more, or neither 1 to 4, is PyTorch's C×H×W. When both readings are possible
    (``3x3x3``, ``16x3x3``), it is read as C×H×W with a note naming ``--channels-last``.
    With ``channels_last`` the answer is always H×W×C. Text matrices and ``--matrix`` mark
    their channels (``|``, blank lines), so only a ``.npy`` (by its ``name``) is guessed.

    Parameters
    ----------
    shape : sequence of int
        The array's shape as read.
    name : str
        The file name (the rule applies to ``.npy`` names only), used in the note.
    channels_last : bool
        ``--channels-last`` was given.

    Returns
    -------
    (bool, list of str)
        Whether the last axis holds the channels, and the note for an ambiguous shape.

    Examples
    --------
    >>> matrix_layout((360, 640, 3), "x.npy", False)
    (True, [])
    >>> matrix_layout((3, 360, 640), "x.npy", False)
    (False, [])
    >>> matrix_layout((3, 5, 3), "x.npy", False)[1]
    ['x.npy: shape 3x5x3 is read as CxHxW (PyTorch order); if it is HxWxC, give --channels-last']
    """
    dims = tuple(shape[1:]) if len(shape) == 4 and shape[0] == 1 else tuple(shape)
    if channels_last or len(dims) != 3 or not name.lower().endswith(".npy"):
        return channels_last, []  # text and --matrix say their channels (| or blank lines)
    first, middle, last = (int(size) for size in dims)
    first_fits, last_fits = first <= IMAGE_CHANNELS, last <= IMAGE_CHANNELS
    if last_fits and not first_fits and middle > IMAGE_CHANNELS:
        return True, []
    if first_fits == last_fits and not first_fits:
        return False, []
    if first_fits and not last_fits:
        return False, []
    shown = "x".join(str(size) for size in dims)
    return False, [
        f"{name}: shape {shown} is read as CxHxW (PyTorch order); "
        "if it is HxWxC, give --channels-last"
    ]


def _npy_header(path: str) -> tuple[int, ...]:
    descriptor, size = open_regular(path, path, ".npy matrix")
    with os.fdopen(descriptor, "rb") as handle:
        start = handle.read(min(size, (1 << 16) + 16))
    return tuple(npy_header(start, path)[0])


def _looks_like_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


def parse_matrix(text: str, where: str) -> np.ndarray:
    """Numbers typed or stored as text -> float64 array, shape (H, W) or (C, H, W).

    Rows are split by ``;`` or line breaks, values by spaces or commas, channels by ``|``
    or blank lines; ``#`` starts a comment. The same syntax as an inline ``-k`` kernel.

    Examples
    --------
    >>> parse_matrix("0 1 2; 3 4 5", "--matrix").shape
    (2, 3)
    >>> parse_matrix("0 1; 2 3 | 4 5; 6 7", "--matrix").shape
    (2, 2, 2)
    """
    from convcli.kernels import parse_matrix_text  # the one matrix syntax, shared with -k

    with reading(where):
        lines = [line.split("#", 1)[0].rstrip() for line in text.splitlines()]
        body = "\n".join(lines).strip()
        if not body:
            raise SpecError(f"{where}: no values")
        values = parse_matrix_text(body, where, allow_newlines=True)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim > 3:
            raise SpecError(f"{where}: a matrix has 2 or 3 dimensions (C,H,W), got {values.shape}")
    return values


def load_matrix(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    name: str | None = None,
    kind: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Read a numeric matrix from ``.npy``, ``.csv`` or ``.txt``.

    Parameters
    ----------
    source : path or binary file object
        A regular file (FIFOs and devices are refused), or a file object.
    name : str, optional
        How to call it in messages.
    kind : {"npy", "csv", "txt"}, optional
        Default: from the suffix.
    max_pixels : int or None
        A ``.npy`` may hold at most ``4 * max_pixels`` values (checked from its header,
        before its data are read). None or 0: no limit. Text files are at most
        :data:`convcli.limits.MAX_TEXT_BYTES`.

    Returns
    -------
    ndarray, float64, as stored (1-D becomes one row)
        The caller decides the layout; ``.npy`` may hold any number of dimensions.

    Raises
    ------
    ConvcliError
        Missing or unreadable file, non-numeric content.
    """
    name = _display_name(source, name)
    if kind is None:
        kind = Path(name).suffix.lower().lstrip(".")
    if kind == "npy":
        values_limit = 4 * max_pixels if max_pixels else None
        byte_limit = 8 * values_limit + (1 << 20) if values_limit else None
        data = _read_bytes(source, name, byte_limit, ".npy matrix")
        values = parse_npy(data, name, max_values=values_limit)
    else:
        data = _read_bytes(source, name, MAX_TEXT_BYTES, "text matrix")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConvcliError(f"{name}: not a text matrix (not UTF-8 text)") from None
        try:
            values = parse_matrix(text, f"matrix file '{shorten(name)}'")
        except SpecError as error:  # a bad file is failed work (exit 1), not a usage error
            raise ConvcliError(str(error)) from None
    if values.ndim == 0 or values.size == 0:
        raise ConvcliError(f"{name}: the matrix is empty (shape {values.shape})")
    if values.ndim == 1:
        values = values[None, :]
    if not np.all(np.isfinite(values)):
        raise ConvcliError(f"{name}: the matrix has NaN or infinite values")
    return values


# --------------------------------------------------------------------------------------------
# Operands of ``learn``: files, stdin or inline matrices, as (C, H, W)
# --------------------------------------------------------------------------------------------

#: An inline matrix: numbers and the separators of the -k / --matrix syntax, nothing else.
_INLINE_MATRIX = re.compile(r"^[\s\d.,;|eE+\-\[\]]+$")

#: Formats whose compression changes pixel values: a kernel cannot match them to a level.
LOSSY_FORMATS: frozenset[str] = frozenset({"JPEG", "WEBP", "AVIF"})


@dataclass
class Operand:
    """One of ``learn``'s INPUT and TARGET, as read.

    Attributes
    ----------
    name : str
        The file name, ``stdin``, or the role (``INPUT``) of an inline matrix.
    values : ndarray, shape (C, H, W)
        The file's own numbers (uint8/uint16 for images, float for matrices); alpha dropped.
    kind : {"image", "matrix"}
    full_scale : float or None
        255, 65535 or 1.0 for images (:data:`FULL_SCALE`), None for matrices.
    notes : list of str
        Remarks for stderr (alpha ignored, bits lost, a layout guessed...).
    format : str or None
        The image file's format (``"JPEG"``...): a lossy one is said when nothing fits.
    """

    name: str
    values: np.ndarray
    kind: str
    full_scale: float | None = None
    notes: list[str] = field(default_factory=list)
    format: str | None = None

    @property
    def lossy(self) -> bool:
        """Whether its file format compresses with loss (JPEG, lossy WebP or AVIF)."""
        return self.kind == "image" and self.format in LOSSY_FORMATS


def read_operand_pair(
    input_word: str, target_word: str, channels_last: bool = False
) -> tuple[Operand, Operand]:
    """INPUT and TARGET of ``learn``: each a file, ``-`` (stdin, one of them) or an inline
    matrix (``"0 1; 2 3"``), as (C, H, W).

    A 3-D ``.npy`` is read by :func:`matrix_layout`'s rule, and as H×W×C next to an image
    with as many channels (``apply`` writes an image's ``.npy`` so).

    Parameters
    ----------
    input_word, target_word : str
        A file name, ``-`` or an inline matrix each.
    channels_last : bool
        Read 3-D matrices as H×W×C.

    Returns
    -------
    (Operand, Operand)
        INPUT and TARGET, values (C, H, W).

    Raises
    ------
    SpecError
        Both words are ``-``.
    ConvcliError
        A missing or unreadable file, or a word that is neither a file nor a matrix.
    """
    if input_word == "-" and target_word == "-":
        raise SpecError("INPUT and TARGET cannot both be '-' (stdin holds one file)")
    source = _read_operand(input_word, "INPUT")
    target = _read_operand(target_word, "TARGET")
    image_channels = {op.values.shape[0] for op in (source, target) if op.kind == "image"}
    for operand in (source, target):
        if operand.kind == "matrix":
            operand.values = _operand_chw(operand, channels_last, image_channels)
    return source, target


def _read_operand(word: str, role: str) -> Operand:
    """One positional word -> Operand: a file, stdin, or an inline matrix."""
    if word == "-":
        limit = image_byte_limit(DEFAULT_MAX_PIXELS)
        data = read_stream(sys.stdin.buffer, "stdin", limit, "piped input")
        piped = load_piped(data)
        if isinstance(piped, Picture):
            return _image_operand(piped, "stdin")
        return Operand(piped_name(data), piped, "matrix")
    exists = os.path.lexists(word)  # never raises (a NUL byte, a name too long)
    if not exists and _INLINE_MATRIX.match(word) and any(ch.isdigit() for ch in word):
        try:
            return Operand(role, parse_matrix(word, role), "matrix")
        except ConvcliError as error:
            raise ConvcliError(
                f"{role} {shorten(word)!r}: not a file, and not a matrix ({error})"
            ) from None
    if not exists:
        raise ConvcliError(
            f"{role} '{shorten(word)}': no such file (nor an inline matrix like \"0 1; 2 3\")"
        )
    if is_matrix_path(word):
        return Operand(word, load_matrix(word), "matrix")
    return _image_operand(load_image(word), word)


def _image_operand(picture: Picture, name: str) -> Operand:
    """An image as (C, H, W) in its own numbers, alpha left out (with a note)."""
    pixels = picture.pixels
    notes = list(picture.notes)
    if picture.has_alpha:
        pixels = pixels[..., :-1]
        if pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        notes.append(f"{name}: alpha channel ignored (the fit uses the colour channels)")
    values = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return Operand(name, values, "image", FULL_SCALE[picture.depth], notes, picture.format)


def _operand_chw(operand: Operand, channels_last: bool, image_channels: set[int]) -> np.ndarray:
    values = operand.values
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim == 2:
        return values[None]
    if values.ndim != 3:
        raise ConvcliError(
            f"{operand.name}: a matrix has 2 or 3 dimensions (C,H,W), got shape {values.shape}"
        )
    if values.shape[-1] in image_channels and values.shape[0] > IMAGE_CHANNELS:
        return values.transpose(2, 0, 1)  # next to an image: as apply writes it
    last, notes = matrix_layout(values.shape, operand.name, channels_last)
    operand.notes.extend(notes)
    return values.transpose(2, 0, 1) if last else values


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def image_suffixes() -> frozenset[str]:
    """File suffixes (lower case, with the dot) of the images convcli reads: what a batch
    takes from a folder.

    Examples
    --------
    >>> {".png", ".jpg", ".tif", ".pfm"} <= image_suffixes()
    True
    """
    Image.init()
    readable = {
        suffix
        for suffix, name in Image.registered_extensions().items()
        if name in READ_FORMATS and name in Image.OPEN
    }
    return frozenset(readable | {".pfm"})


def format_for_path(path: str | os.PathLike[str]) -> str | None:
    """The output format a file name asks for: ``"PNG"``, ``"NPY"``..., or None if unknown.

    Examples
    --------
    >>> format_for_path("out.JPG"), format_for_path("x.npy"), format_for_path("x.zzz")
    ('JPEG', 'NPY', None)
    """
    suffix = Path(path).suffix.lower()
    if suffix in _FORMAT_BY_SUFFIX:
        return _FORMAT_BY_SUFFIX[suffix]
    Image.init()
    pillow_format = Image.registered_extensions().get(suffix)
    if pillow_format is not None and pillow_format in Image.SAVE:
        return pillow_format
    return None


def check_output_path(
    path: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]] = (),
    *,
    force: bool = False,
) -> None:
    """Refuse an output before any work is done: fail fast, leave nothing behind.

    Parameters
    ----------
    path : str or PathLike
        The output file.
    inputs : sequence of str or PathLike
        The inputs, which the output may not overwrite.
    force : bool
        An existing output may be replaced.

    Raises
    ------
    ConvcliError
        The output is one of the inputs (even with ``force``), exists without ``force``,
        is a folder, or its folder is missing or not writable.
    """
    target = Path(path)
    if target.exists():
        for source in inputs:
            with contextlib.suppress(OSError):
                if os.path.samefile(source, target):
                    raise ConvcliError(
                        f"output '{path}' is the input file; convcli never overwrites an input"
                    )
        if target.is_dir():
            raise ConvcliError(f"output '{path}' is a folder; give a file name")
        refuse_special_output(target)
        if not force:
            raise OutputExistsError(f"output '{path}' exists; use --force to overwrite it")
    folder = target.parent
    if not folder.is_dir():
        raise ConvcliError(f"output '{path}': {_why_no_folder(folder)}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConvcliError(f"cannot write to folder '{folder}': permission denied")


def nearest_existing(folder: Path) -> Path | None:
    """``folder`` or its nearest parent that exists (None: not even the root): what stands
    where an output folder would go, a file in the way or the folder to make it in.

    Parameters
    ----------
    folder : Path
        The folder an output needs.

    >>> nearest_existing(Path("/no-such-folder/below")) == Path("/")
    True
    """
    return next((place for place in (folder, *folder.parents) if place.exists()), None)


def one_file_by_both_names(folder: str | os.PathLike[str], first: str, second: str) -> bool:
    """Whether the disk of ``folder`` takes the names ``first`` and ``second`` for one file:
    ``X.PNG`` and ``x.png`` on macOS's and Windows' disks by default, ``café`` with its é
    as one character or as e and an accent on macOS's.

    A folder not made yet is asked through the nearest folder that exists (it will be made
    there). The answer is the disk's, not a guess from the platform or from Python's own
    case folding: in a new hidden folder there, a file named ``first`` is made and looked
    up as ``second``, and both are removed. False when it cannot be told (no folder there,
    none that takes a new file, a name the disk refuses).

    Parameters
    ----------
    folder : path
        An output folder.
    first, second : str
        Two file or folder names (no separators).
    """
    where = nearest_existing(Path(folder))
    if where is None or not where.is_dir():
        return False
    with _signals.deferred():  # the probe is made and removed whole
        try:
            probe = tempfile.mkdtemp(prefix=".convcli-names-", dir=where)
        except OSError:
            return False
        made = os.path.join(probe, first)
        try:
            os.close(os.open(made, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            other = os.path.join(probe, second)
            return os.path.lexists(other) and os.path.samefile(made, other)
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                os.unlink(made)
            with contextlib.suppress(OSError):
                os.rmdir(probe)


def _why_no_folder(folder: Path) -> str:
    """Why ``folder`` cannot hold the output: missing, a file standing where it would be,
    or a folder that makes no files (``/proc``)."""
    standing = nearest_existing(folder)
    if standing is not None and not standing.is_dir():
        return f"'{standing}' is a file, not a folder"
    if standing == folder:
        return f"folder '{folder}' takes no new files"
    return f"folder '{folder}' does not exist"


def _make_temporary(target: Path) -> tuple[int, str]:
    """A new temporary file next to ``target`` (same file system, so the rename is atomic):
    ``.NAME.PID-XXXXXXXX.part``, the writer's process id in it (see :func:`temporaries_of`).

    Made in a :func:`convcli._signals.deferred` section and recorded for removal at once:
    a SIGINT or SIGTERM can cut neither the making nor the recording.
    """
    with _signals.deferred():
        made = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}-", suffix=".part", dir=target.parent
        )
        _signals.remove_on_stop(made[1])
    return made


def temporaries_of(path: str | os.PathLike[str], pid: int) -> list[Path]:
    """The temporary files process ``pid`` made (and left, if it was killed) for ``path``."""
    target = Path(path)
    pattern = f".{glob.escape(target.name)}.{pid}-*.part"
    try:
        return sorted(target.parent.glob(pattern))
    except OSError:
        return []


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[BinaryIO]:
    """Write a file all or nothing: yield a temporary file, rename it into place at the end.

    Parameters
    ----------
    path : path
        The final file.
    force : bool
        Replace an existing file. Without it an existing file is an error, checked again at
        the moment of the rename (a hard link never replaces an existing name).

    Raises
    ------
    ConvcliError
        The folder is missing or not writable, or the output appeared meanwhile.

    Notes
    -----
    The temporary file ``.NAME.PID-XXXXXXXX.part`` lives in the target folder, so the final
    ``rename`` is atomic; it is removed in a ``finally`` on any error, Ctrl-C or SIGTERM
    (and by :func:`convcli._signals.remove_leftovers` if a signal cut that ``finally``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_output(folder / "a.bin") as handle:
    ...     _ = handle.write(b"data")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.bin']
    """
    if storage.is_url(str(path)):  # an object: encoded in memory, put whole at the end
        with storage.object_output(str(path), force=force) as buffer:
            yield buffer
        return
    target = Path(path)
    try:
        descriptor, temporary = _make_temporary(target)
    except FileNotFoundError:
        raise ConvcliError(f"output '{path}': {_why_no_folder(target.parent)}") from None
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise ConvcliError(f"cannot write to folder '{target.parent}': {reason}") from None
    try:
        os.fchmod(descriptor, _FILE_PERMISSIONS)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                yield handle
        except OSError as error:
            if error.errno not in _FULL:
                raise
            reason = str(error.strerror or error).lower()
            raise ConvcliError(f"output '{path}': {reason}") from None
        _signals.checkpoint()  # a signal whose Interrupted vanished: not published
        _publish(temporary, target, force)
    finally:
        # A signal cutting this short leaves the file to _signals.remove_leftovers().
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        _signals.forget(temporary)


class _WritesInPython:
    """``handle`` without its file descriptor, so that Pillow writes through ``write``.

    Given a descriptor, Pillow's C encoders write to it and drop what a short write left
    out: on a full disk (or at a file-size limit) a BMP, JPEG or TIFF came out truncated
    with exit 0. Python's writes raise instead.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


#: Write errors that are the output's (a full disk, a quota, a file size limit), named so.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _publish(temporary: str, target: Path, force: bool) -> None:
    if force:
        refuse_special_output(target)
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)  # fails if the name exists: no clobbering, no race
    except FileExistsError:
        raise OutputExistsError(f"output '{target}' exists; use --force to overwrite it") from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise OutputExistsError(
                f"output '{target}' exists; use --force to overwrite it"
            ) from None
        os.replace(temporary, target)


def gif_losses(pixels: np.ndarray, output: str) -> list[str]:
    """What writing ``pixels`` as GIF loses, as a note (nothing when it loses nothing).

    Parameters
    ----------
    pixels : ndarray, shape (H, W) or (H, W, C), uint8
        The output's pixels.
    output : str
        The output, as the note names it.

    Returns
    -------
    list of str
        One note at most: more than 256 colours reduced to a palette, and alpha between
        transparent and opaque made one or the other (GIF has one transparent index).
    """
    colour = pixels.ndim == 3 and pixels.shape[2] >= 3
    alpha = pixels[..., -1] if pixels.ndim == 3 and pixels.shape[2] in (2, 4) else None
    losses = []
    if colour and Image.fromarray(np.ascontiguousarray(pixels[..., :3])).getcolors(256) is None:
        losses.append("more than 256 colours, reduced to a palette")
    if alpha is not None and np.any((alpha > 0) & (alpha < 255)):
        losses.append("partial transparency made on or off")
    return [f"output '{output}': GIF: {'; '.join(losses)}; write PNG to keep it"] if losses else []


def write_bytes(path: str | os.PathLike[str], data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` atomically, or to stdout when ``path`` is ``-``.

    Parameters
    ----------
    path : str or PathLike
        The file, or ``-`` for stdout.
    data : bytes
        What to write.
    force : bool
        An existing file may be replaced.
    """
    if str(path) == "-":
        sys.stdout.flush()
        view = memoryview(data)
        try:
            while view:  # stdout's writer can report a short write rather than raise
                written = sys.stdout.buffer.write(view)
                if not written:
                    raise OSError(errno.ENOSPC, "no room left")  # never loop on nothing
                view = view[written:]
            sys.stdout.buffer.flush()
        except OSError as error:
            if error.errno not in _FULL:
                raise
            raise ConvcliError(f"stdout: {str(error.strerror or error).lower()}") from None
        return
    with atomic_output(path, force=force) as handle:
        handle.write(data)


def save_npy(path: str | os.PathLike[str], values: np.ndarray, *, force: bool = False) -> None:
    """Save an array as ``.npy`` (atomically; ``-`` is stdout).

    Parameters
    ----------
    path : str or PathLike
        The file, or ``-`` for stdout.
    values : numpy.ndarray, any shape
        The array (saved without pickles).
    force : bool
        An existing file may be replaced.
    """
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    write_bytes(path, buffer.getvalue(), force=force)


def _pfm_bytes(pixels: np.ndarray) -> bytes:
    """Portable Float Map: ``Pf`` grey or ``PF`` RGB, little-endian, rows bottom-up."""
    if pixels.ndim == 3 and pixels.shape[2] not in (1, 3):
        raise ConvcliError(
            f"PFM holds 1 or 3 channels, the result has {pixels.shape[2]}; write .npy or .tif"
        )
    colour = pixels.ndim == 3 and pixels.shape[2] == 3
    height, width = pixels.shape[:2]
    header = f"{'PF' if colour else 'Pf'}\n{width} {height}\n-1.0\n".encode("ascii")
    body = np.ascontiguousarray(pixels[::-1], dtype="<f4").tobytes()
    return header + body


def _write_tiff(
    handle: BinaryIO,
    pixels: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
) -> None:
    """A 16-bit or float32 grey+alpha/RGB/RGBA TIFF (tifffile; Pillow has no such modes),
    uncompressed as Pillow writes TIFF, alpha marked unassociated (convcli's RGBA)."""
    import tifffile

    channels = pixels.shape[2]
    options: dict[str, object] = {
        "photometric": "rgb" if channels >= 3 else "minisblack",
        "planarconfig": "contig",
        "extrasamples": ("unassalpha",) if channels in (2, 4) else None,
        "iccprofile": icc_profile,
    }
    if dpi is not None:
        options.update(resolution=dpi, resolutionunit="INCH")
    buffer = io.BytesIO()  # tifffile takes a file object's name for a path: give it none
    try:
        tifffile.imwrite(buffer, np.ascontiguousarray(pixels), **options)  # type: ignore[arg-type]
    except (ValueError, TypeError, OSError) as error:
        raise ConvcliError(f"cannot write this {pixels.dtype} image as TIFF: {error}") from None
    handle.write(buffer.getbuffer())


#: Formats Pillow writes from an image that :func:`_pillow_image` merges from planes.
_PLANAR_FORMATS = ("JPEG", "WEBP")


def output_array(shape: tuple[int, ...], dtype: Any, format_name: str) -> np.ndarray:
    """An empty image of ``shape`` and ``dtype``, laid out for ``format_name``'s writer.

    Parameters
    ----------
    shape : (H, W) or (H, W, C)
    dtype : numpy dtype
    format_name : str
        ``"JPEG"``, ``"PNG"``, ...

    Returns
    -------
    ndarray, shape ``shape``
        8-bit RGB or RGBA for JPEG and WebP is a (C, H, W) array of planes seen as
        (H, W, C): each channel is written contiguously (float to uint8 in SIMD, 0.5 ms
        a 1080p plane against 1.8 ms into every third byte), and Pillow interleaves the
        planes in C (``Image.merge``, 0.6 ms for 1080p RGB) where NumPy took 1.8 ms more.
        Anything else is a plain C-ordered array.
    """
    if format_name in _PLANAR_FORMATS and np.dtype(dtype) == np.uint8 and shape[2:] in ((3,), (4,)):
        return np.empty((shape[2], *shape[:2]), np.uint8).transpose(1, 2, 0)
    return np.empty(shape, dtype)


def _planes(pixels: np.ndarray) -> np.ndarray | None:
    """The (C, H, W) uint8 planes that ``pixels`` (H, W, C) is a view of, or None."""
    base = pixels.base
    if not (isinstance(base, np.ndarray) and pixels.ndim == 3 and pixels.dtype == np.uint8):
        return None
    if base.shape != (pixels.shape[2], *pixels.shape[:2]) or not base.flags.c_contiguous:
        return None
    same_start = base.ctypes.data == pixels.ctypes.data
    laid_out = pixels.strides == (base.strides[1], base.strides[2], base.strides[0])
    return base if same_start and laid_out else None


def _pillow_image(pixels: np.ndarray, format_name: str) -> Image.Image:
    """The Pillow image for an output array (uint8 1-4 channels, uint16 or float32 grey)."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.ndim == 3 and channels == 1:
        pixels = pixels[:, :, 0]
    planes = _planes(pixels) if format_name in _PLANAR_FORMATS else None
    if planes is not None:  # see output_array
        size = (pixels.shape[1], pixels.shape[0])
        bands = [Image.frombuffer("L", size, plane, "raw", "L", 0, 1) for plane in planes]
        return Image.merge("RGB" if len(bands) == 3 else "RGBA", bands)
    if pixels.dtype == np.uint8:
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels)
        if mode is None:
            raise ConvcliError(f"{format_name} cannot hold {channels} channels; write .npy instead")
        return Image.fromarray(np.ascontiguousarray(pixels), mode=mode)
    if channels != 1:
        depth = "16-bit" if pixels.dtype == np.uint16 else "float"
        raise ConvcliError(
            f"{format_name} cannot hold {depth} images with {channels} channels; "
            "write .tif or .npy (or .pfm for float RGB, .png for 16-bit)"
        )
    if pixels.dtype == np.uint16:
        return Image.fromarray(np.ascontiguousarray(pixels))  # mode I;16
    return Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")


# --------------------------------------------------------------------------------------------
# PNG, written here: Up filter and zlib blocks compressed on every core
# --------------------------------------------------------------------------------------------

#: (dtype, channels) -> (bit depth, PNG colour type).
_PNG_TYPES: dict[tuple[str, int], tuple[int, int]] = {
    ("uint8", 1): (8, 0),
    ("uint8", 2): (8, 4),
    ("uint8", 3): (8, 2),
    ("uint8", 4): (8, 6),
    ("uint16", 1): (16, 0),
    ("uint16", 2): (16, 4),
    ("uint16", 3): (16, 2),
    ("uint16", 4): (16, 6),
}

#: Raw (filtered) bytes per compressed block: enough to keep zlib efficient, small
#: enough that a 4K image makes a dozen blocks to share between the cores.
PNG_BLOCK_BYTES = 2 << 20

_ADLER_BASE = 65521

_ISAL_MISSING = object()
_isal: Any = _ISAL_MISSING


def _deflater(level: int) -> tuple[Any, int]:
    """The module whose ``compressobj`` deflates :func:`write_png`'s blocks, and its level.

    isal's deflate (the ``fast`` extra; imported once, on first use, ~1.4 ms) where
    installed: on a 4K photo its level 1 writes in ~105 ms what zlib's level 1 writes in
    ~615 ms, 9% smaller (``benchmarks/codecs.py``). zlib levels 1-3, 4-6 and 7-9 become
    isal's 1, 2 and 3; level 0 stays zlib's stored blocks, and without isal zlib does it
    all. Same pixels either way; the bytes differ between the two.
    """
    global _isal
    if _isal is _ISAL_MISSING:
        try:
            from isal import isal_zlib

            _isal = isal_zlib
        except ImportError:
            _isal = None
    if level == 0 or _isal is None:
        return zlib, level
    return _isal, (level + 2) // 3


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings joined, from the checksum of each (zlib's formula).

    Parameters
    ----------
    first : int
        The Adler-32 of the first string.
    second : int
        The Adler-32 of the second string.
    second_length : int
        The second string's length in bytes.

    Examples
    --------
    >>> import zlib
    >>> adler32_combine(zlib.adler32(b"conv"), zlib.adler32(b"cli"), 3) == zlib.adler32(b"convcli")
    True
    """
    remainder = second_length % _ADLER_BASE
    low = first & 0xFFFF
    high = (remainder * low) % _ADLER_BASE
    low = (low + (second & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    high = (high + (first >> 16) + (second >> 16) + _ADLER_BASE - remainder) % _ADLER_BASE
    return low | (high << 16)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    header = struct.pack(">I", len(data)) + kind
    return header + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _up_filtered(rows: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """PNG filter type 2 (Up) of byte rows: each byte minus the byte above, modulo 256.

    ``rows`` is (n, row_bytes) uint8; ``previous`` the row above the first (None at the
    top, where PNG takes zeros). Returns (n, 1 + row_bytes) with the filter-type byte.
    """
    count, row_bytes = rows.shape
    out = np.empty((count, row_bytes + 1), np.uint8)
    out[:, 0] = 2
    if previous is None:
        out[0, 1:] = rows[0]
    else:
        np.subtract(rows[0], previous, out=out[0, 1:])
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])
    return out


def write_png(
    handle: BinaryIO,
    pixels: np.ndarray,
    *,
    level: int = 1,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    threads: int | None = None,
) -> None:
    """Encode a PNG into ``handle``: the Up filter on every row, and the zlib stream made of
    blocks of rows compressed in parallel threads.

    Parameters
    ----------
    handle : binary file
    pixels : ndarray, shape (H, W) or (H, W, C)
        uint8 with 1 to 4 channels (L, LA, RGB, RGBA) or uint16 grey.
    level : int
        zlib level, 0..9.
    icc_profile, dpi
        Written as ``iCCP`` and ``pHYs`` chunks.
    threads : int, optional
        Threads compressing blocks (default: one per core).

    Notes
    -----
    Each block is deflated on its own and ends with a sync flush (the last with the final
    block), so the blocks joined are one valid deflate stream, as pigz makes them; the
    Adler-32 of the whole is combined from the blocks'. zlib releases the GIL, so the
    blocks really compress side by side. The Up filter (one vectorised subtraction) gives
    files within ~2% of Pillow's per-row adaptive choice at level 1 (smaller on smooth
    images, larger on grainy photos), in a fraction of the time (4K: ~0.12 s, not ~0.5 s).

    With the ``fast`` extra the blocks are deflated by isal (see :func:`_deflater`):
    about 6x faster and a little smaller than zlib at level 1, other bytes, same pixels.

    Examples
    --------
    >>> buffer = io.BytesIO()
    >>> write_png(buffer, np.arange(12, dtype=np.uint8).reshape(3, 4))
    >>> np.asarray(Image.open(buffer)).tolist()
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    """
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    bit_depth, colour_type = _PNG_TYPES[(pixels.dtype.name, channels)]
    height, width = pixels.shape[:2]
    if pixels.dtype == np.uint16:
        pixels = pixels.astype(">u2")  # PNG stores 16-bit samples big-endian
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1)
    row_bytes = rows.shape[1]
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    handle.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header))
    if icc_profile is not None:
        handle.write(_png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile)))
    if dpi is not None:
        per_metre = [int(value / 0.0254 + 0.5) for value in dpi]
        handle.write(_png_chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1)))

    block_rows = max(1, PNG_BLOCK_BYTES // (row_bytes + 1))
    starts = list(range(0, height, block_rows))
    deflate, deflate_level = _deflater(level)

    def compress(start: int) -> tuple[bytes, int, int]:
        stop = min(height, start + block_rows)
        previous = rows[start - 1] if start else None
        filtered = _up_filtered(rows[start:stop], previous)
        data = filtered.data  # the buffer zlib reads, without a copy
        compressor = deflate.compressobj(deflate_level, deflate.DEFLATED, -15, 9)
        last = stop == height
        packed = compressor.compress(data) + compressor.flush(
            deflate.Z_FINISH if last else deflate.Z_SYNC_FLUSH
        )
        return packed, zlib.adler32(data), filtered.size

    flevel = 0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3
    flags = flevel << 6
    zlib_header = bytes([0x78, flags + (31 - ((0x78 << 8) + flags) % 31) % 31])
    checksum = 1
    blocks = ordered_map(compress, starts, min(threads or cpu_count(), len(starts)))
    for index, (packed, block_checksum, length) in enumerate(blocks):
        checksum = adler32_combine(checksum, block_checksum, length)
        if index == 0:
            packed = zlib_header + packed
        if index == len(starts) - 1:
            packed += struct.pack(">I", checksum)
        handle.write(_png_chunk(b"IDAT", packed))
    handle.write(_png_chunk(b"IEND", b""))


def _encoder(
    pixels: np.ndarray, format_name: str, settings: EncodeOptions
) -> Callable[[BinaryIO], None]:
    """The function that writes ``pixels`` as ``format_name`` into a binary file: convcli's
    PNG writer, tifffile for 16-bit and float colour TIFF, Pillow for the rest."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    icc_profile, dpi = settings.icc_profile, settings.dpi
    if format_name == "PNG" and (pixels.dtype.name, channels) in _PNG_TYPES:
        return lambda handle: write_png(
            handle,
            pixels,
            level=settings.png_compression,
            icc_profile=icc_profile,
            dpi=dpi,
            threads=settings.threads,
        )
    if format_name == "TIFF" and channels > 1 and pixels.dtype != np.uint8:
        return lambda handle: _write_tiff(handle, pixels, icc_profile=icc_profile, dpi=dpi)
    image = _pillow_image(pixels, format_name)
    options: dict[str, object] = {}
    if format_name == "PNG":
        options["compress_level"] = settings.png_compression
    if format_name in ("JPEG", "WEBP"):
        options["quality"] = settings.quality
    if icc_profile is not None and format_name in ("PNG", "JPEG", "TIFF", "WEBP"):
        options["icc_profile"] = icc_profile
    if dpi is not None and format_name in ("PNG", "JPEG", "TIFF", "BMP"):
        options["dpi"] = dpi

    def encode(handle: BinaryIO) -> None:
        try:
            image.save(_WritesInPython(handle), format=format_name, **options)
        except (OSError, ValueError, KeyError, TypeError) as error:
            if isinstance(error, OSError) and error.errno in _FULL:
                raise  # the output's to name (atomic_output), not the image's
            reason = str(error).strip("'\"") or type(error).__name__
            raise ConvcliError(
                f"cannot write this {image.mode} image as {format_name}: {reason}"
            ) from None

    return encode


@dataclass(frozen=True)
class EncodeOptions:
    """How :func:`save_image` encodes.

    Attributes
    ----------
    quality : int
        JPEG and WebP quality, 1..100.
    png_compression : int
        zlib level 0..9 for PNG. PNG is written by :func:`write_png` (Up filter, blocks
        compressed on every core): at the default, 1, a 4K photo takes ~0.12 s where
        Pillow takes ~0.5 s at level 1 and ~1.9 s at its default 6.
    icc_profile : bytes or None
        Carried into formats that hold one (PNG, JPEG, TIFF, WebP).
    dpi : (float, float) or None
        Carried into PNG, JPEG, TIFF and BMP.
    threads : int or None
        Threads for the PNG writer (default: one per core).
    """

    quality: int = 90
    png_compression: int = 1
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    threads: int | None = None


def save_image(
    pixels: np.ndarray,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    force: bool = False,
    options: EncodeOptions | None = None,
    **given: Any,
) -> None:
    """Encode an image and write it atomically (``-`` writes the bytes to stdout).

    Parameters
    ----------
    pixels : ndarray, shape (H, W) or (H, W, C)
        uint8 (1 to 4 channels), uint16 (1 to 4 channels: PNG, TIFF; grey elsewhere) or
        float32 (TIFF: 1 to 4 channels; PFM: 1 or 3).
    path : path or "-"
    format : str, optional
        ``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"PFM"``, ... Default: from the suffix.
    force : bool
        Replace an existing file.
    options : EncodeOptions, optional
        Quality, PNG compression, ICC profile, DPI, threads.
    **given
        The same fields as keywords (``quality=95``), laid over ``options``.

    Raises
    ------
    ConvcliError
        Unknown format, or pixels the format cannot hold.
    """
    format_name = (format or format_for_path(path) or "").upper()
    if not format_name:
        raise SpecError(f"cannot tell the output format from '{path}'; use --to FORMAT")
    if format_name == "NPY":
        save_npy(path, pixels, force=force)
        return
    if format_name == "PFM":
        write_bytes(path, _pfm_bytes(np.asarray(pixels, dtype=np.float32)), force=force)
        return
    encode = _encoder(pixels, format_name, replace(options or EncodeOptions(), **given))
    if str(path) == "-":  # whole or nothing on stdout too
        buffer = io.BytesIO()
        encode(buffer)
        write_bytes(path, buffer.getvalue())
        return
    # Straight into the temporary file: no second copy of the encoded image in memory.
    with atomic_output(path, force=force) as handle:
        encode(handle)


# --------------------------------------------------------------------- text matrices


def matrix_text(values: np.ndarray, separator: str = " ") -> str:
    """Rows of numbers, each column right-aligned, channels separated by a blank line.

    Examples
    --------
    >>> import numpy as np
    >>> print(matrix_text(np.array([[19.0, 25.0], [37.0, 43.0]])), end="")
    19 25
    37 43
    >>> print(matrix_text(np.array([[1, -1, 0.5], [10, 2, 3]])), end="")
     1 -1 0.5
    10  2   3
    """
    blocks = []
    for channel in [values] if values.ndim == 2 else values:
        cells = [[format_number(float(v)) for v in row] for row in channel]
        if separator == ",":
            blocks.append("\n".join(",".join(row) for row in cells))
            continue
        widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=True)]
        blocks.append(
            "\n".join(
                separator.join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
                for row in cells
            )
        )
    return "\n\n".join(blocks) + "\n"


def save_matrix_text(
    path: str | Path, values: np.ndarray, *, csv: bool = False, force: bool = False
) -> None:
    """Write ``values`` as :func:`matrix_text` (``.txt``) or as one 2-D CSV matrix.

    Parameters
    ----------
    path : str or Path
        The file, or ``-`` for stdout.
    values : numpy.ndarray, (H, W) or (C, H, W)
        The matrix (channels as blocks in ``.txt``).
    csv : bool
        Write CSV (one 2-D matrix only).
    force : bool
        An existing file may be replaced.

    Raises
    ------
    ConvcliError
        For CSV of anything but a 2-D matrix (CSV holds one).
    """
    if csv and values.ndim != 2:
        raise ConvcliError(
            f"CSV holds one 2-D matrix, the result has shape {values.shape}; write .npy or .txt"
        )
    text = matrix_text(values, separator="," if csv else " ")
    write_bytes(path, text.encode("utf-8"), force=force)
