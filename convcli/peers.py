"""Other tools' habits as convcli's own settings: ``apply --like`` and ``kernels --as``.

convcli's numbers equal OpenCV's, ImageMagick's, libvips' and scipy's once four defaults
agree (measured on the sample photos, see ``tests/data/make_peer_fixtures.py``):

============  ==========  ==========  ===========  ============  ==========================
peer          border      edge map    rounding     even anchor   ``gaussian:SIGMA``
============  ==========  ==========  ===========  ============  ==========================
convcli       reflect     abs         half-up      after         radius int(3 sigma + 0.5)
opencv        reflect     clip        half-even    before        GaussianBlur on 8 bits:
                                                                 cvRound(6 sigma + 1) | 1
                                                                 taps, 8-bit fixed point
magick        replicate   clip        q16          before        Gaussian:0xSIGMA: width
                                                                 until a tap < 1/65535
vips          replicate   clip        down         before        gaussblur: taps >= 0.2;
                                                                 on 8 bits its integer
                                                                 mask, two rounded passes
scipy         symmetric   clip        down         before        gaussian_filter: radius
                                                                 int(4 sigma + 0.5)
============  ==========  ==========  ===========  ============  ==========================

- *border* uses convcli's names (``reflect`` is OpenCV's BORDER_REFLECT_101, ``symmetric``
  scipy's ``reflect``, ``replicate`` ImageMagick's and vips' edge copy).
- *edge map*: what ``--map auto`` does with a zero-sum kernel's negative results. convcli
  shows edges both ways (``abs``); every peer writing 8 bits saturates them to 0 (``clip``).
- *rounding* (see :data:`ROUNDINGS`): how a float result becomes an integer pixel.
- *even anchor*: for an even kernel side, which side gets the extra pixel of padding.
  PyTorch's ``'same'`` (convcli's default) pads after, so ``[1,-1]`` gives
  ``in[x] - in[x+1]``; every peer centres the kernel at index ``k // 2`` and pads before.
- ImageMagick's ``-morphology Convolve`` flips the kernel (true convolution): with
  ``--like magick`` a matrix typed or read from a file is flipped too, so that the same text
  gives the same picture in both tools. Named kernels keep their meaning (``sobel-x`` stays
  positive where brightness rises to the right); ``kernels sobel-x --as magick`` prints the
  flipped matrix ImageMagick needs.

This module is pure: steps and arrays in, steps, arrays and text out.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from convcli._records import dataclass
from convcli.errors import ConvcliError, SpecError
from convcli.numbers import format_number

if TYPE_CHECKING:
    import numpy as np

    from convcli.kernels import KernelStep, PoolStep
    from convcli.pipeline import StepOptions

__all__ = [
    "PEERS",
    "ROUNDINGS",
    "FixedPoint",
    "Peer",
    "gaussian_taps",
    "fixed_point_blur",
    "fixed_point_pass",
    "get_peer",
    "like_settings",
    "like_steps",
    "magick_width",
    "peer_call",
    "round_pixels",
    "vips_fixed_point",
    "vips_gaussmat",
]

#: How a float result becomes an integer pixel (after the map, in the output's units):
#: ``half-up`` floor(v + 0.5), convcli's and Pillow's; ``half-even`` OpenCV's
#: ``saturate_cast`` (``cvRound``); ``down`` floor, what a C cast does (vips, and scipy
#: writing into an integer array); ``q16`` ImageMagick Q16: rounded to 16 bits, then
#: written in 8 bits as ``q // 257``.
ROUNDINGS: tuple[str, ...] = ("half-up", "half-even", "down", "q16")


@dataclass(frozen=True)
class Peer:
    """One tool's defaults, in convcli's vocabulary.

    Attributes
    ----------
    name : str
        ``--like`` / ``--as`` value.
    title : str
        How the tool is called in messages.
    border : str
        Its default border, by convcli's name.
    edge_map : str
        What ``--map auto`` does for zero-sum kernels.
    rounding : str
        One of :data:`ROUNDINGS`.
    flip_matrices : bool
        Typed and file matrices are convolved (flipped), as ImageMagick's Convolve does.
    gaussian : str
        The rule :func:`gaussian_taps` follows for ``gaussian:SIGMA``.
    blur_rounding : str or None
        The rounding of the peer's own Gaussian blur when it differs from ``rounding``:
        OpenCV's GaussianBlur on 8 bits is fixed point and rounds half up, its filter2D
        rounds half to even.
    integer_blur : bool
        Its Gaussian blur runs gaussmat's integer mask in two rounded passes on 8-bit
        images (libvips' default precision): see :func:`fixed_point_blur`.
    """

    name: str
    title: str
    border: str
    edge_map: str
    rounding: str
    flip_matrices: bool
    gaussian: str
    blur_rounding: str | None = None
    integer_blur: bool = False


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer("opencv", "OpenCV", "reflect", "clip", "half-even", False, "opencv", "half-up"),
        Peer("magick", "ImageMagick", "replicate", "clip", "q16", True, "magick"),
        Peer("vips", "libvips", "replicate", "clip", "down", False, "vips", integer_blur=True),
        Peer("scipy", "scipy.ndimage", "symmetric", "clip", "down", False, "scipy"),
    )
}


def get_peer(name: str, option: str = "--like") -> Peer:
    """The :class:`Peer` called ``name``.

    Raises
    ------
    SpecError
        Naming the option and the value.
    """
    key = name.strip().lower()
    aliases = {"cv2": "opencv", "imagemagick": "magick", "libvips": "vips", "ndimage": "scipy"}
    key = aliases.get(key, key)
    if key not in PEERS:
        raise SpecError(f"{option} must be one of {', '.join(PEERS)}, got {name!r}")
    return PEERS[key]


# --------------------------------------------------------------------------------------------
# Gaussian taps, each tool's way
# --------------------------------------------------------------------------------------------


def _opencv_taps(sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(img8, (0, 0), sigma)``: getGaussianKernelBitExact's 8-bit taps.

    Size ``cvRound(sigma * 6 + 1) | 1`` (8-bit images); the sampled taps are turned into
    multiples of 1/256 by error diffusion from the ends, the centre takes what is left so
    that they sum to exactly 1 (OpenCV 4.x ``getGaussianKernelFixedPoint_ED``).
    """
    import numpy as np

    size = int(np.rint(sigma * 6 + 1)) | 1
    radius = size // 2
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    exact = np.exp(-(offsets**2) / (2 * sigma * sigma))
    exact /= exact.sum()
    fixed = np.zeros(size, dtype=np.int64)
    error = 0.0
    for index in range(radius):
        adjusted = exact[index] * 256 + error
        value = int(np.rint(adjusted))
        error = adjusted - value
        fixed[index] = fixed[size - 1 - index] = value
    fixed[radius] = 256 - 2 * int(fixed[:radius].sum())
    return fixed / 256.0


def magick_width(sigma: float, largest: int = 1 << 16) -> int:
    """ImageMagick 6's GetOptimalKernelWidth2D(0, sigma): grow the kernel until its edge
    tap, normalised in 2-D, drops below one Q16 level (1/65535); gives up (returning a
    width above ``largest``) past ``largest``.

    >>> [magick_width(s) for s in (0.5, 1, 2, 3)]
    [5, 9, 15, 23]
    """
    alpha = 1.0 / (2.0 * sigma * sigma)
    beta = 1.0 / (2.0 * math.pi * sigma * sigma)
    width = 5
    while width <= largest + 2:
        half = (width - 1) // 2
        line = sum(math.exp(-(u * u) * alpha) for u in range(-half, half + 1))
        value = math.exp(-(half * half) * alpha) * beta / (line * line * beta)
        if value < 1.0 / 65535 or value < 1e-12:
            return width - 2
        width += 2
    return width


def _vips_width(sigma: float, min_ampl: float = 0.2) -> int:
    """vips_gaussmat's width: taps down to ``min_ampl`` (gaussblur's default 0.2)."""
    largest = max(1, int(8 * sigma))
    reach = next(
        (x for x in range(largest) if math.exp(-(x * x) / (2 * sigma * sigma)) < min_ampl),
        largest,
    )
    return max(1, 2 * reach - 1)


#: libvips keeps its vector path unless the fixed-point taps overshoot the mask's gain by
#: this fraction: measured on gaussblur for sigma 0.3 .. 12 by 0.1, where sigma 0.6 alone
#: (taps 11 43 11: 65/64) ran the C path, and sigma 3 (257/256) and 10.8 (1012/1024) the
#: vector one. Arbitrary 3x1 masks with the same 65/64 go either way (libvips's own test
#: is finer), so the rule is stated for gaussmat's masks only.
_VIPS_OVERSHOOT = 1 / 64


@dataclass(frozen=True)
class FixedPoint:
    """A 1-D integer mask run as libvips runs it on 8-bit pixels (``vips_convi``).

    Each product ``tap * pixel`` is rounded down by ``product_shift`` bits (half up),
    the products are summed, and the sum is divided by ``divisor``, rounding half up, then
    clipped to 0..255. libvips' vector path (Orc) holds the mask in 8-bit fixed point
    (``divisor`` and the product shift are powers of two); its C path (``product_shift``
    0) divides the exact integer sum by the mask's scale.

    Attributes
    ----------
    taps : tuple of int
        The integer mask, centred.
    product_shift : int
    divisor : int
    """

    taps: tuple[int, ...]
    product_shift: int
    divisor: int


def vips_gaussmat(sigma: float, min_ampl: float = 0.2) -> tuple[int, ...]:
    """``vips_gaussmat(sigma, min_ampl, separable=TRUE)`` at its default integer precision:
    ``rint(20 exp(-x^2 / 2 sigma^2))`` for the taps down to ``min_ampl`` (the scale is
    their sum).

    >>> [vips_gaussmat(s) for s in (1, 2)]
    [(12, 20, 12), (6, 12, 18, 20, 18, 12, 6)]
    """
    import numpy as np

    size = _vips_width(sigma, min_ampl)
    offsets = np.arange(size, dtype=np.float64) - size // 2
    return tuple(int(v) for v in np.rint(20 * np.exp(-(offsets**2) / (2 * sigma * sigma))))


def vips_fixed_point(taps: tuple[int, ...]) -> FixedPoint:
    """How ``vips conv --precision integer`` runs the 1-D mask ``taps`` (scale: their sum)
    on an 8-bit image, read from libvips 8.14's output (``tests/data/make_peer_fixtures.py``).

    The vector path takes each tap ``t / scale`` in fixed point with ``e = 7 - ceil(log2(max)
    + 1)`` fraction bits, rounds each product down by ``ceil(log2(n))`` bits (``n`` the
    non-zero taps, so that their sum fits in 16 bits) and the sum by the rest of ``e``.
    When the fixed-point taps overshoot the mask's gain by 1/64 or more, libvips falls back
    to its C path: the exact integer sum divided by the scale, rounded half up.

    Examples
    --------
    >>> vips_fixed_point((12, 20, 12))
    FixedPoint(taps=(35, 58, 35), product_shift=2, divisor=32)
    >>> vips_fixed_point((5, 20, 5))  # 11 + 43 + 11 = 65/64: the C path
    FixedPoint(taps=(5, 20, 5), product_shift=0, divisor=30)
    """
    import numpy as np

    scale = sum(taps)
    scaled = np.array(taps, dtype=np.float64) / scale
    exponent = 7 - math.ceil(math.log2(float(scaled.max())) + 1)
    fixed = np.rint(scaled * 2.0**exponent).astype(np.int64)
    count = int(np.count_nonzero(fixed))
    shift = math.ceil(math.log2(count)) if count > 1 else 0
    if int(fixed.sum()) - 2**exponent >= _VIPS_OVERSHOOT * 2**exponent or shift > exponent:
        return FixedPoint(tuple(taps), 0, scale)
    return FixedPoint(tuple(int(v) for v in fixed), shift, 2 ** (exponent - shift))


def fixed_point_pass(x: np.ndarray, mask: FixedPoint, axis: int) -> np.ndarray:
    """One pass of ``mask`` along ``axis`` of the padded 8-bit values ``x`` (valid part).

    Parameters
    ----------
    x : ndarray, float32
        Whole numbers 0..255, padded by ``len(taps) // 2`` on both sides of ``axis``.
    mask : FixedPoint
    axis : int

    Returns
    -------
    ndarray, float32
        Whole numbers 0..255, shorter by ``len(taps) - 1`` along ``axis``. float32 holds
        every product (at most 127 * 255) and sum (below 2**24) exactly, and dividing by a
        power of two is exact, so ``floor`` gives the integer shifts.
    """
    import numpy as np

    axis %= x.ndim
    size = x.shape[axis] - len(mask.taps) + 1
    half = np.float32(2**mask.product_shift // 2)
    scale = np.float32(1 / 2**mask.product_shift)
    total = np.zeros(x.shape[:axis] + (size,) + x.shape[axis + 1 :], dtype=np.float32)
    product = np.empty_like(total)
    for index, tap in enumerate(mask.taps):
        if tap:
            window = x[(slice(None),) * axis + (slice(index, index + size),)]
            np.multiply(window, np.float32(tap), out=product)
            if mask.product_shift:
                product += half
                product *= scale
                np.floor(product, out=product)
            total += product
    total += np.float32(mask.divisor // 2)
    if mask.divisor & (mask.divisor - 1):  # the C path's scale: divide, then check whole
        total = np.floor(total.astype(np.float64) / mask.divisor).astype(np.float32)
    else:
        total *= np.float32(1 / mask.divisor)
        np.floor(total, out=total)
    return np.clip(total, 0, 255, out=total)


def fixed_point_blur(
    x: np.ndarray, mask: FixedPoint, pads: tuple[int, int, int, int], border: str
) -> np.ndarray:
    """``vips gaussblur`` at integer precision: ``mask`` along rows, the 8-bit result
    along columns.

    Parameters
    ----------
    x : ndarray, shape (C, H, W), float32
        Whole numbers 0..255 (a strip of rows, with its halo, works too).
    mask : FixedPoint
    pads : (top, bottom, left, right)
        Left and right ``len(taps) // 2``; top and bottom that, or 0 inside a strip.
    border : str
        How the pads are filled (vips copies edges: ``replicate``); padding first equals
        vips's padding of each pass, since a border is separable per axis.

    Returns
    -------
    ndarray, shape (C, H + top + bottom - len(taps) + 1, W), float32
    """
    import numpy as np

    from convcli.core.padding import pad2d

    padded = pad2d(x.astype(np.float32, copy=False), pads, border)
    rows = fixed_point_pass(padded, mask, axis=-1)
    return fixed_point_pass(rows, mask, axis=-2)


def gaussian_taps(sigma: float, rule: str) -> np.ndarray:
    """The 1-D Gaussian a tool uses for ``sigma``, normalised (the 2-D kernel is the outer
    product of it with itself).

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels.
    rule : {"opencv", "magick", "vips", "scipy"}
        Whose radius and taps.

    Returns
    -------
    ndarray, shape (size,), float64

    Examples
    --------
    >>> [len(gaussian_taps(2.0, rule)) for rule in ("opencv", "magick", "vips", "scipy")]
    [13, 15, 7, 17]
    >>> (gaussian_taps(1.0, "opencv") * 256).tolist()
    [1.0, 14.0, 62.0, 102.0, 62.0, 14.0, 1.0]
    """
    import numpy as np

    if rule == "opencv":
        return _opencv_taps(sigma)
    size = {
        "magick": lambda: magick_width(sigma),
        "vips": lambda: _vips_width(sigma),
        "scipy": lambda: 2 * int(4.0 * sigma + 0.5) + 1,
    }[rule]()
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    taps = np.exp(-(offsets**2) / (2 * sigma * sigma))
    return taps / taps.sum()


# --------------------------------------------------------------------------------------------
# --like: steps and pixels
# --------------------------------------------------------------------------------------------


def _anchor_pads(shape: tuple[int, ...], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pads that centre a kernel at index ``k // 2`` (the extra pixel before)."""
    (height, width), (dy, dx) = shape[-2:], dilation
    return (
        dy * (height // 2),
        dy * ((height - 1) // 2),
        dx * (width // 2),
        dx * ((width - 1) // 2),
    )


def like_steps(
    steps: list[KernelStep | PoolStep], peer: Peer, options: StepOptions
) -> list[KernelStep | PoolStep]:
    """The steps as ``peer`` would run them.

    Parameters
    ----------
    steps : list of KernelStep or PoolStep
        As parsed (before ``--convolve`` and ``--normalize``).
    peer : Peer
    options : StepOptions
        The global options given: an explicit ``--padding`` keeps its pads, ``--convolve``
        already flips every kernel.

    Returns
    -------
    list of KernelStep or PoolStep
        Kernel steps that set no ``p=`` (and no ``--padding``) get the peer's anchor pads;
        ``gaussian:SIGMA`` without ``size=`` gets the peer's taps; with ``magick``, matrices
        (not named kernels) are flipped.
    """
    import numpy as np

    from convcli.kernels import KernelStep

    adapted: list[KernelStep | PoolStep] = []
    for step in steps:
        if not isinstance(step, KernelStep):
            adapted.append(step)
            continue
        arguments = dict(step.arguments)
        if step.name == "gaussian" and "size" not in arguments:
            sigma = float(arguments.get("sigma", 1.0))  # type: ignore[arg-type]
            taps = gaussian_taps(sigma, peer.gaussian)
            fixed = vips_fixed_point(vips_gaussmat(sigma)) if peer.integer_blur else None
            step = replace(step, weight=np.outer(taps, taps), fixed_point=fixed)
        if peer.flip_matrices and step.name is None and not options.convolve:
            step = step.flipped()
        if step.padding is None and options.padding is None:
            dilation = step.dilation or options.dilation or (1, 1)
            step = replace(step, padding=_anchor_pads(step.weight.shape, dilation))
        adapted.append(step)
    return adapted


def like_settings(
    name: str, steps: list[KernelStep | PoolStep], options: StepOptions
) -> tuple[list[KernelStep | PoolStep], StepOptions, dict[str, str]]:
    """Everything ``apply --like NAME`` changes: the steps, the global step options (the
    peer's border unless ``--border`` was given) and the ``ApplyOptions`` fields
    ``rounding`` and ``edge_map``.

    Parameters
    ----------
    name : str
        The peer: ``opencv``, ``magick``, ``vips`` or ``scipy``.
    steps : list of KernelStep or PoolStep
        The parsed ``-k`` steps, in order.
    options : StepOptions
        The global step options as given; an explicit ``--border`` is kept.

    Returns
    -------
    steps, options, fields : tuple
        The steps in the peer's habits, the options with its border, and the
        ``ApplyOptions`` fields ``{"rounding": ..., "edge_map": ...}``.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> from convcli.pipeline import StepOptions
    >>> steps, options, fields = like_settings("scipy", [parse_step("1,-1")], StepOptions())
    >>> steps[0].padding, options.border, fields
    ((0, 0, 1, 0), 'symmetric', {'rounding': 'down', 'edge_map': 'clip'})
    """
    from convcli.kernels import KernelStep

    peer = get_peer(name)
    if options.border is None:
        options = replace(options, border=peer.border)
    rounding = peer.rounding
    blurs = [_sigma(step) is not None for step in steps if isinstance(step, KernelStep)]
    if peer.blur_rounding and blurs and all(blurs):  # the chain is the peer's own blur
        rounding = peer.blur_rounding
    fields = {"rounding": rounding, "edge_map": peer.edge_map}
    return like_steps(steps, peer, options), options, fields


def round_pixels(values: np.ndarray, rounding: str, full_scale: float) -> np.ndarray:
    """Prepare clipped results for a truncating cast to integers, by ``rounding``.

    Parameters
    ----------
    values : ndarray, float32
        Results in the output's units, already clipped to ``0 .. full_scale``; changed in
        place.
    rounding : str
        One of :data:`ROUNDINGS`.
    full_scale : float
        255 or 65535: the output's integer range.

    Returns
    -------
    ndarray
        ``values``, whose truncation is the rounded pixel.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([0.5, 1.5, 2.4, 2.999], np.float32)
    >>> [round_pixels(v.copy(), r, 255).astype(np.uint8).tolist() for r in ROUNDINGS]
    [[1, 2, 2, 3], [0, 2, 2, 3], [0, 1, 2, 2], [0, 1, 2, 3]]
    """
    import numpy as np

    if rounding == "half-up":
        values += np.float32(0.5)
    elif rounding == "half-even":
        np.rint(values, out=values)
    elif rounding == "q16":
        if full_scale == 255:
            # ImageMagick Q16 holds round(v * 257), and writes 8 bits as q // 257.
            values *= np.float32(257)
            values += np.float32(0.5)
            np.floor(values, out=values)
            values /= np.float32(257)
        else:
            values += np.float32(0.5)
    elif rounding == "down":
        # A whole number computed in float32 may come out a hair below (99.99999): the
        # peers' exact sums (vips divides integer sums by the scale) keep it whole. A
        # 2**-22 of full scale (0.00006 of an 8-bit level) absorbs float32's error there.
        values += np.float32(full_scale * 2.0**-22)
    else:
        raise SpecError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    return values


# --------------------------------------------------------------------------------------------
# --as: the peer's own command for a step
# --------------------------------------------------------------------------------------------

_OPENCV_BORDERS = {
    "reflect": "cv2.BORDER_REFLECT_101",
    "symmetric": "cv2.BORDER_REFLECT",
    "replicate": "cv2.BORDER_REPLICATE",
    "zeros": "cv2.BORDER_CONSTANT",
}
_MAGICK_BORDERS = {"replicate": "Edge", "symmetric": "Mirror", "circular": "Tile", "zeros": "Black"}
_SCIPY_BORDERS = {
    "reflect": "mirror",
    "symmetric": "reflect",
    "replicate": "nearest",
    "circular": "wrap",
    "zeros": "constant",
}


def _number(value: float) -> str:
    """A tap as the shortest text that reads back exactly (whole numbers without ``.0``)."""
    return format_number(value, shortest="float64")


def _rows(weight: np.ndarray) -> list[str]:
    return [", ".join(_number(v) for v in row) for row in weight]


def _python_matrix(weight: np.ndarray, dtype: str = "np.float32") -> str:
    """``np.array([[...]], dtype)``; a kernel of fractions n/d as whole numbers ``/ d``; one
    tap repeated more often than a table shows as ``np.full`` (box:1025: the same values
    as its literal, which was 24 MB)."""
    import numpy as np

    from convcli.limits import MAX_TABLE_CELLS

    tap = weight.flat[0]
    if weight.size > MAX_TABLE_CELLS and bool(np.all(weight == tap)):
        return f"np.full({weight.shape}, {_number(tap)}, {dtype})"
    scale = _integer_scale(weight)
    if scale == 1:
        return "np.array([" + ", ".join(f"[{row}]" for row in _rows(weight)) + f"], {dtype})"
    rows = _rows(np.round(weight * scale))
    return "np.array([" + ", ".join(f"[{row}]" for row in rows) + f"], {dtype}) / {scale}"


def _refuse(peer: Peer, text: str, why: str) -> ConvcliError:
    return ConvcliError(f"--as {peer.name}: '{text.strip()}' {why}")


def _check_geometry(step: KernelStep, peer: Peer, border: str, spellings: dict[str, str]) -> None:
    if step.stride not in (None, (1, 1)) or step.dilation not in (None, (1, 1)):
        raise _refuse(peer, step.text, f"sets s= or d=; {peer.title} filters at stride 1")
    if step.padding is not None:
        raise _refuse(peer, step.text, f"sets p=; {peer.title} keeps the image's size")
    if border not in spellings:
        raise _refuse(peer, step.text, f"uses border {border}, which {peer.title} lacks here")


def peer_call(step: KernelStep | PoolStep, peer: Peer) -> list[str]:
    """The ``peer`` command or call that gives what ``apply -k STEP --like PEER`` gives.

    Parameters
    ----------
    step : KernelStep or PoolStep
        As parsed (``--like`` adapts it here the way ``apply`` would).
    peer : Peer

    Returns
    -------
    list of str
        Lines of shell (``magick``, ``vips``) or Python (``opencv``, ``scipy``; ``img`` is
        the image as a NumPy array, H x W or H x W x C).

    Raises
    ------
    ConvcliError
        For what the peer cannot do as one call: pooling, strides, dilation, explicit
        padding, a border it lacks, a gradient magnitude in ImageMagick or vips.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> peer_call(parse_step("sobel-x"), PEERS["opencv"])[-1]
    'out = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)'
    """
    from convcli.kernels import KernelStep
    from convcli.pipeline import StepOptions

    if not isinstance(step, KernelStep):
        raise _refuse(peer, step.text, "is a pooling step; only kernels are translated")
    if step.weight.ndim != 2:
        raise _refuse(peer, step.text, "is not a 2-D kernel")
    if step.directions is not None:
        raise _refuse(peer, step.text, "is the maximum of 8 kernels; translate one direction")
    if step.gate:
        raise _refuse(peer, step.text, "has threshold=, which no single linear call does")
    if step.offset and peer.name == "magick":
        raise _refuse(peer, step.text, "has an offset; ImageMagick's Convolve adds none")
    border = step.border or peer.border
    (adapted,) = like_steps([replace(step, padding=None)], peer, StepOptions())
    assert isinstance(adapted, KernelStep)
    makers = {"opencv": _opencv_call, "magick": _magick_call, "vips": _vips_call}
    return makers.get(peer.name, _scipy_call)(step, adapted, peer, border)


def _sigma(step: KernelStep) -> float | None:
    """The sigma of ``gaussian:SIGMA`` without ``size=`` (what the peers' blurs take)."""
    arguments = dict(step.arguments)
    if step.name != "gaussian" or "size" in arguments:
        return None
    return float(arguments.get("sigma", 1.0))  # type: ignore[arg-type]


def _opencv_call(step: KernelStep, adapted: KernelStep, peer: Peer, border: str) -> list[str]:
    _check_geometry(step, peer, border, _OPENCV_BORDERS)
    flag = _OPENCV_BORDERS[border]
    sigma = _sigma(step)
    if sigma is not None:
        return [f"out = cv2.GaussianBlur(img, (0, 0), {sigma:g}, borderType={flag})"]
    if step.magnitude is not None:
        gx, gy = step.magnitude
        return [
            f"kx, ky = {_python_matrix(gx)}, {_python_matrix(gy)}",
            f"gx = cv2.filter2D(img, cv2.CV_32F, kx, borderType={flag})",
            f"gy = cv2.filter2D(img, cv2.CV_32F, ky, borderType={flag})",
            "out = cv2.convertScaleAbs(cv2.magnitude(gx, gy))",
        ]
    if not step.offset and _large_box(adapted.weight):
        height, width = adapted.weight.shape
        return [f"out = cv2.blur(img, ({width}, {height}), borderType={flag})"]  # (w, h)
    delta = f", delta={_number(step.offset)}" if step.offset else ""
    return [
        f"k = {_python_matrix(adapted.weight)}",
        f"out = cv2.filter2D(img, -1, k{delta}, borderType={flag})",
    ]


def _large_box(weight: np.ndarray) -> bool:
    """A mean filter with more taps than a table shows: ``cv2.blur``, not a literal.

    Its literal would be megabytes of one number (box:1025), and filter2D runs a kernel that
    large through the DFT, whose float error rounds more pixels away from ``--like opencv``
    than blur's running sums do (measured on noise: 4 against 9 pixels of 360,000 at
    1025x1025, 0 against 1 at 101x101). Smaller boxes keep the literal the fixture script
    checks: blur's 8-bit fixed point rounds the exact halves of an even box (box:4) up,
    filter2D (and ``--like opencv``) to even.
    """
    import numpy as np

    from convcli.limits import MAX_TABLE_CELLS

    if weight.size <= MAX_TABLE_CELLS:
        return False
    tap = float(weight.flat[0])
    return bool(np.all(weight == tap)) and abs(tap * weight.size - 1.0) <= 1e-9


def _magick_call(step: KernelStep, adapted: KernelStep, peer: Peer, border: str) -> list[str]:
    _check_geometry(step, peer, border, _MAGICK_BORDERS)
    if step.magnitude is not None:
        raise _refuse(
            peer, step.text, "is a gradient magnitude; ImageMagick Q16 clamps each gradient first"
        )
    virtual = "" if border == "replicate" else f"-virtual-pixel {_MAGICK_BORDERS[border]} "
    sigma = _sigma(step)
    if sigma is not None:
        kernel = f"Gaussian:0x{sigma:g}"
    else:
        # Convolve flips its kernel: hand it the correlation kernel rotated by 180 degrees.
        rotated = adapted.weight[::-1, ::-1]
        height, width = rotated.shape
        kernel = f"'{width}x{height}: " + " ".join(row.replace(" ", "") for row in _rows(rotated))
        kernel += "'"
    return [f"convert in.png {virtual}-morphology Convolve {kernel} out.png"]


def _integer_scale(weight: np.ndarray) -> int:
    """The smallest whole number (up to 4096) that makes every tap whole; 1 if none does."""
    import numpy as np

    # Every scale at once against a few distinct taps at a time, largest first (tiny taps
    # are whole at any scale): each block rules scales out, so a 1025x1025 kernel costs a
    # sort, not 4096 passes over its million taps.
    scales = np.arange(1.0, 4097.0)[:, None]
    values = np.unique(weight)
    values = values[np.argsort(-np.abs(values), kind="stable")]
    for start in range(0, values.size, 64):
        scaled = values[None, start : start + 64] * scales
        whole = np.abs(scaled - np.round(scaled)) <= 1e-9 * scales
        scales = scales[whole.all(axis=1)]
        if not scales.size:
            return 1
    return int(scales[0, 0])


def _vips_call(step: KernelStep, adapted: KernelStep, peer: Peer, border: str) -> list[str]:
    _check_geometry(step, peer, border, {"replicate": "copy"})
    if step.magnitude is not None:
        raise _refuse(peer, step.text, "is a gradient magnitude; vips conv writes one kernel")
    sigma = _sigma(step)
    if sigma is not None:
        # 8-bit images: the default (integer) precision, which --like vips reproduces.
        return [f"vips gaussblur in.png out.png {sigma:g}"]
    import numpy as np

    scale = _integer_scale(adapted.weight)
    scaled = np.round(adapted.weight * scale) if scale > 1 else adapted.weight
    height, width = scaled.shape
    header = f"{width} {height} {scale} {_number(step.offset)}"
    lines = [header] + [" ".join(_number(v) for v in r) for r in scaled]
    body = "\\n".join(lines)
    return [f"printf '{body}\\n' > k.mat", "vips conv in.png out.png k.mat"]


def _scipy_call(step: KernelStep, adapted: KernelStep, peer: Peer, border: str) -> list[str]:
    _check_geometry(step, peer, border, _SCIPY_BORDERS)
    mode = _SCIPY_BORDERS[border]
    lines = ["f = img.astype(np.float64)  # an image H x W x C: k[:, :, None]"]
    sigma = _sigma(step)
    if sigma is not None:
        lines = [
            "f = img.astype(np.float64)  # an image H x W x C: sigma=(s, s, 0)",
            f"out = ndimage.gaussian_filter(f, {sigma:g}, mode='{mode}', truncate=4.0)",
        ]
    elif step.magnitude is not None:
        gx, gy = step.magnitude
        lines += [
            f"kx, ky = {_python_matrix(gx, 'float')}, {_python_matrix(gy, 'float')}",
            f"out = np.hypot(ndimage.correlate(f, kx, mode='{mode}'), "
            f"ndimage.correlate(f, ky, mode='{mode}'))",
        ]
    else:
        lines += [
            f"k = {_python_matrix(adapted.weight, 'float')}",
            f"out = ndimage.correlate(f, k, mode='{mode}')"
            + (f" + {_number(step.offset)}" if step.offset else ""),
        ]
    return [*lines, "out = np.clip(out, 0, 255).astype(np.uint8)"]
