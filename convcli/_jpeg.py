"""JPEG decoding through simplejpeg (libjpeg-turbo's TurboJPEG API) when the ``fast``
extra is installed: the library Pillow uses, called so that the pixels do not change.

Pillow decodes into its own 4-bytes-per-pixel image, which :mod:`convcli.imageio` then
copies into a NumPy array (``tobytes``: chunks, then joined). simplejpeg decodes straight
into a NumPy array: a 1080p photo in ~9 ms instead of ~14 ms. With Pillow's settings
(accurate integer IDCT, fancy chroma upsampling, no scaling) its pixels are Pillow's,
every one (``tests/test_codecs.py``).

Writing stays with Pillow: simplejpeg 1.9's encoder uses libjpeg-turbo's fast DCT
whatever its ``fastdct`` says, so its files differ from Pillow's (and OpenCV's, which
are Pillow's byte for byte) by up to 14 levels and are less accurate (see the README's
codec table).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["codec", "decode"]

_MISSING = object()
_codec: Any = _MISSING


def codec() -> Any:
    """The simplejpeg module, or None when it is not installed (imported once, on first
    use; never on the ``shape`` or ``--help`` path)."""
    global _codec
    if _codec is _MISSING:
        try:
            import simplejpeg  # type: ignore[import-untyped]
        except ImportError:
            simplejpeg = None
        _codec = simplejpeg
    return _codec


def decode(data: bytes, mode: str) -> np.ndarray | None:
    """A baseline or progressive JPEG's pixels as Pillow decodes them, or None.

    Parameters
    ----------
    data : bytes
        The whole file.
    mode : str
        Pillow's mode for it (read from the header): ``"RGB"`` or ``"L"``; any other
        (CMYK, YCCK) is left to Pillow.

    Returns
    -------
    ndarray, shape (H, W, 3) for RGB or (H, W) for L, uint8; or None
        None also when libjpeg-turbo warns (a damaged file): decoding is strict, so that
        Pillow's reading of such a file decides what it is (an error, as for any corrupt
        image).

    Raises
    ------
    TruncatedJpeg
        The data ends before the image does, which Pillow would fill with grey.
    """
    simplejpeg = codec()
    if simplejpeg is None or mode not in ("RGB", "L"):
        return None
    try:
        pixels = simplejpeg.decode_jpeg(
            data,
            colorspace="RGB" if mode == "RGB" else "GRAY",
            fastdct=False,  # Pillow's (libjpeg's default) accurate integer IDCT
            fastupsample=False,  # and its fancy (triangle) chroma upsampling
            strict=True,
        )
    except (ValueError, RuntimeError, OSError) as error:
        if "premature end" in str(error).lower():  # the scan stops early: rows are missing
            raise TruncatedJpeg(str(error)) from None
        return None
    return pixels[:, :, 0] if mode == "L" else pixels


class TruncatedJpeg(ValueError):
    """libjpeg-turbo found the compressed data ending before the image did. Pillow decodes
    such a file without a word (an end marker after half the data gave half a grey
    picture), so this is said: the message is libjpeg-turbo's."""
