"""A PNG decoder in NumPy and zlib, for what Pillow cannot give: 16 bits per colour channel.

Pillow decodes 16-bit RGB, RGBA and grey+alpha PNGs to 8 bits per channel. This module
reads 8- and 16-bit grey, grey+alpha, RGB and RGBA PNGs (colour types 0, 2, 4, 6;
interlaced or not) into ``H×W[×C]`` arrays with every bit; :mod:`convcli.imageio` uses it
for the 16-bit colour files only (Pillow stays the reader of everything else).

The five row filters (PNG spec 9.2) are undone vectorised: None, Sub (a running sum per
byte lane) and Up (one subtraction) row by row; when any row uses Average or Paeth, whose
value depends on the reconstructed byte to its left, the whole image is undone along its
anti-diagonals instead (pixel ``(y, x)`` needs only ``(y, x-1)``, ``(y-1, x)`` and
``(y-1, x-1)``, so all pixels with the same ``x + y`` are independent): ``H + W`` vector
steps instead of ``H × W`` scalar ones.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["PngHeader", "decode_png", "png_header"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: PNG colour type -> channels (palette, type 3, is Pillow's to read).
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


class PngError(ValueError):
    """The bytes are not a PNG this decoder reads (the message says why)."""


@dataclass(frozen=True)
class PngHeader:
    """What ``IHDR`` says: size, bits per sample, colour type and interlace method."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int

    @property
    def channels(self) -> int:
        return _CHANNELS.get(self.colour_type, 0)

    @property
    def decodable(self) -> bool:
        """Whether :func:`decode_png` reads it (8/16-bit, no palette; Adam7 or not)."""
        return self.bit_depth in (8, 16) and self.channels > 0 and self.interlace in (0, 1)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk up to IEND, each CRC checked."""
    if not data.startswith(_SIGNATURE):
        raise PngError("not a PNG file")
    chunks = []
    position = len(_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(body) < length or len(crc) < 4:
            raise PngError("truncated PNG (a chunk ends early)")
        if struct.unpack(">I", crc)[0] != zlib.crc32(body, zlib.crc32(kind)):
            raise PngError(f"corrupt PNG ({kind.decode('latin-1')} chunk fails its CRC)")
        chunks.append((kind, body))
        position += 12 + length
        if kind == b"IEND":
            return chunks
    raise PngError("truncated PNG (no IEND chunk)")


def png_header(data: bytes) -> PngHeader:
    """The ``IHDR`` of a PNG from its first 33 bytes.

    Examples
    --------
    >>> header = struct.pack(">IIBBBBB", 4, 3, 16, 2, 0, 0, 0)
    >>> chunk = struct.pack(">I", 13) + b"IHDR" + header
    >>> png_header(_SIGNATURE + chunk + b"crc.").channels
    3
    """
    if not data.startswith(_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 29:
        raise PngError("not a PNG file")
    width, height, bit_depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return PngHeader(width, height, bit_depth, colour_type, interlace)


def _unfilter_rows(filters: np.ndarray, rows: np.ndarray, bpp: int) -> np.ndarray:
    """None, Sub and Up rows undone one row at a time (each row one or two vector ops)."""
    height, row_bytes = rows.shape
    out = np.empty_like(rows)
    previous = np.zeros(row_bytes, np.uint8)
    for y in range(height):
        row = rows[y]
        if filters[y] == 1:  # Sub: a running sum (modulo 256) of each byte lane
            np.cumsum(row.reshape(-1, bpp), axis=0, dtype=np.uint8, out=out[y].reshape(-1, bpp))
        elif filters[y] == 2:  # Up
            np.add(row, previous, out=out[y])
        else:
            out[y] = row
        previous = out[y]
    return out


def _skewed(rows: np.ndarray, width: int, bpp: int) -> np.ndarray:
    """(H, W*bpp) -> (W+H-1, H, bpp) with ``[x + y, y] = pixel (y, x)`` (zeros elsewhere)."""
    height = rows.shape[0]
    pixels = rows.reshape(height, width, bpp)
    skewed = np.zeros((width + height - 1, height, bpp), np.uint8)
    for y in range(height):
        skewed[y : y + width, y] = pixels[y]
    return skewed


def _predict(
    kind: int, a: np.ndarray, b: np.ndarray, c: np.ndarray, work: list[np.ndarray]
) -> np.ndarray:
    """PNG's predictor of filter ``kind`` from left ``a``, above ``b``, above-left ``c``
    (int16 arrays; ``work`` are scratch arrays of their shape). A new array."""
    if kind == 0:
        return np.zeros_like(a)
    if kind in (1, 2):
        return (a if kind == 1 else b).copy()
    if kind == 3:
        return (a + b) >> 1
    # Paeth: the one of a, b, c nearest to a + b - c, ties to a then b.
    pa, pb, pc, near, other = work
    np.subtract(b, c, out=pa)
    np.subtract(a, c, out=pb)
    np.add(pa, pb, out=pc)
    np.abs(pa, out=pa)
    np.abs(pb, out=pb)
    np.abs(pc, out=pc)
    predicted = np.where(np.less_equal(pb, pc, out=other), b, c)
    np.less_equal(pa, pb, out=near)
    near &= np.less_equal(pa, pc, out=other)
    np.copyto(predicted, a, where=near)
    return predicted


def _unfilter_diagonals(filters: np.ndarray, rows: np.ndarray, width: int, bpp: int) -> np.ndarray:
    """All five filters, undone along anti-diagonals ``d = x + y`` (see the module doc).

    ``done[d + 2, y + 1]`` is pixel ``(y, x = d - y)`` once reconstructed: two zero
    diagonals before the first and a zero row above the top are the zeros PNG assumes
    outside the image, so left ``a``, above ``b`` and above-left ``c`` are plain slices.
    """
    height = rows.shape[0]
    filtered = _skewed(rows, width, bpp)
    done = np.zeros((width + height + 1, height + 1, bpp), np.int16)
    # One mask per filter type, by row; a type no row uses costs nothing, and when every
    # row uses one type its predictor is taken whole.
    kinds = sorted(set(filters.tolist()))  # not np.unique: it imports numpy.ma (~10 ms)
    masks = [(kind, (filters == kind)[:, None]) for kind in kinds if kind]
    uniform = len(kinds) == 1
    scratch = [np.empty((height, bpp), np.int16) for _ in range(3)]
    scratch += [np.empty((height, bpp), bool) for _ in range(2)]
    for d in range(width + height - 1):
        top, bottom = max(0, d - width + 1), min(height, d + 1)
        a = done[d + 1, top + 1 : bottom + 1]
        b = done[d + 1, top:bottom]
        c = done[d, top:bottom]
        work = [buffer[: bottom - top] for buffer in scratch]
        if uniform:
            predicted = _predict(kinds[0], a, b, c, work)
        else:
            predicted = np.zeros_like(a)
            for kind, mask in masks:
                np.copyto(predicted, _predict(kind, a, b, c, work), where=mask[top:bottom])
        predicted += filtered[d, top:bottom]
        np.bitwise_and(predicted, 0xFF, out=done[d + 2, top + 1 : bottom + 1])
    out = np.empty((height, width, bpp), np.uint8)
    for y in range(height):
        out[y] = done[y + 2 : y + 2 + width, y + 1]
    return out.reshape(height, width * bpp)


def decode_png(data: bytes) -> np.ndarray:
    """The pixels of an 8- or 16-bit grey, grey+alpha, RGB or RGBA PNG (Adam7 or not).

    Parameters
    ----------
    data : bytes
        The whole file.

    Returns
    -------
    ndarray, shape (H, W) or (H, W, C), uint8 or uint16 (native byte order)
        Every bit of every sample, as stored (no gamma or colour conversion).

    Raises
    ------
    PngError
        Not a PNG, a kind this decoder does not read (palette, 1-4 bits),
        a failed CRC, a truncated or corrupt image stream, or an unknown filter type.

    Examples
    --------
    >>> import io
    >>> from convcli.imageio import write_png
    >>> values = np.arange(24, dtype=np.uint16).reshape(2, 4, 3) * 2731
    >>> buffer = io.BytesIO()
    >>> write_png(buffer, values)
    >>> bool(np.array_equal(decode_png(buffer.getvalue()), values))
    True
    """
    header = png_header(data)
    if not header.decodable:
        raise PngError(
            f"PNG of bit depth {header.bit_depth}, colour type {header.colour_type}, "
            f"interlace {header.interlace}: not read here"
        )
    stream = b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")
    bpp = header.channels * header.bit_depth // 8
    passes = _ADAM7 if header.interlace else ((0, 0, 1, 1),)
    # (x0, y0, dx, dy) -> the pass's size; passes with no pixels have no bytes at all.
    sizes = [
        (-(-(header.width - x0) // dx), -(-(header.height - y0) // dy)) for x0, y0, dx, dy in passes
    ]
    expected = sum(height * (1 + width * bpp) for width, height in sizes if width and height)
    try:
        raw = zlib.decompressobj().decompress(stream, expected)
    except zlib.error as error:
        raise PngError(f"corrupt PNG image data ({error})") from None
    if len(raw) < expected:
        raise PngError(f"truncated PNG image data ({len(raw)} of {expected} bytes)")
    out = np.empty((header.height, header.width, bpp), np.uint8)
    offset = 0
    for (x0, y0, dx, dy), (width, height) in zip(passes, sizes, strict=True):
        if not width or not height:
            continue
        size = height * (1 + width * bpp)
        table = np.frombuffer(raw, np.uint8, size, offset).reshape(height, 1 + width * bpp)
        offset += size
        out[y0::dy, x0::dx] = _unfilter(table, width, bpp).reshape(height, width, bpp)
    dtype = np.dtype(">u2") if header.bit_depth == 16 else np.dtype(np.uint8)
    shape: tuple[int, ...] = (header.height, header.width, header.channels)
    if header.channels == 1:
        shape = shape[:2]
    return out.view(dtype).reshape(shape).astype(dtype.newbyteorder("="))


#: Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = (
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
    (0, 1, 1, 2),
)  # fmt: skip


def _unfilter(table: np.ndarray, width: int, bpp: int) -> np.ndarray:
    """Scanlines with their filter-type bytes -> the raw bytes, (H, W * bpp)."""
    filters, rows = table[:, 0], table[:, 1:]
    if int(filters.max()) > 4:
        raise PngError(f"corrupt PNG (filter type {int(filters.max())})")
    if np.any(filters >= 3):
        return _unfilter_diagonals(filters, rows, width, bpp)
    return _unfilter_rows(filters, rows, bpp)
