"""Named kernels, the STEP syntax of ``-k``, and what a kernel is made of.

A STEP is one word of ``convcli apply -k`` and ``convcli kernels``:

- a named kernel with layer-word arguments: ``sobel-x``, ``gaussian:1.5,size=7``, ``box:5``,
  ``log:1.4``, ``sobel-x:s=2,border=replicate``;
- a pooling step: ``maxpool:3,s=1,p=1``, ``avgpool:2``, ``minpool:3``, ``median:5``;
- an inline matrix: ``"1,-1"``, ``"1 0 -1; 2 0 -2; 1 0 -1"``, ``"[[1,-1]]"``, ImageMagick's
  ``"3x3: -1,0,1 -2,0,2 -1,0,1"``; channels split by ``|`` make a 3-D kernel, output
  filters split (or each closed) by ``||`` a 4-D one, ``C_out x C_in x kh x kw``;
- a file: ``@kernel.txt`` (any inline syntax, or whitespace rows with ``#`` comments and blank
  lines between channels, as ``kernels --format plain`` writes it), ``kernel.npy`` (2-, 3- or
  4-D), ``kernel.csv``, and libvips'
  ``kernel.mat`` (``W H [SCALE [OFFSET]]``, then H rows of W values: the taps are the values
  divided by SCALE, OFFSET is added to the result);
- ImageMagick's ``Gaussian:RADIUSxSIGMA`` (``Gaussian:0x2``: radius 0 picks ImageMagick's
  width for the sigma). A capitalised ImageMagick name that means something else here
  (``Sobel`` is one kernel there, a gradient magnitude here) is read convcli's way, with a
  note.

Every kernel is held in cross-correlation orientation (the kernel is laid on the image as
written, as PyTorch, OpenCV ``filter2D`` and ``scipy.ndimage.correlate`` do); ``sobel-x`` is
positive where brightness rises to the right and y points down. This module is pure: arrays
and numbers in and out, no printing, no Pillow.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import re
from collections.abc import Callable
from dataclasses import field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli._records import dataclass
from convcli.core.padding import PADDING_MODES
from convcli.core.separable import rank1_factors
from convcli.errors import ConvcliError, SpecError
from convcli.geometry import PaddingSpec, dims_text
from convcli.layers import (
    check_range,
    parse_bool,
    parse_padding,
    parse_pair,
    split_layer_arguments,
)

if TYPE_CHECKING:
    from convcli.peers import FixedPoint
from convcli.limits import (
    MAX_DILATION,
    MAX_KERNEL_SIDE,
    MAX_MEDIAN_WINDOW,
    MAX_PADDING,
    MAX_SPAN,
    MAX_STRIDE,
    MAX_TEXT_BYTES,
    MAX_VALUE,
    MIN_SIGMA,
    check_kernel_shape,
    check_nesting,
    check_padding,
    check_value,
    parse_npy,
    read_limited,
    reading,
    shorten,
)

__all__ = [
    "KernelDescription",
    "KernelInfo",
    "KernelStep",
    "PoolStep",
    "box_kernel",
    "catalogue",
    "describe",
    "gaussian_kernel",
    "laplacian_of_gaussian_kernel",
    "parse_step",
]

#: A sum this small relative to the sum of magnitudes counts as zero (edge kernels).
_ZERO_SUM_RTOL = 1e-6
#: rank1_factors' default: a second singular value this small (relative) counts as zero.
_RANK1_RTOL = 1e-6


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


# eq=False: the fields hold arrays, whose ``==`` is elementwise; identity equality is honest.
@dataclass(frozen=True, eq=False)
class KernelStep:
    """A kernel to correlate with, and the per-step geometry that overrides the global options.

    Attributes
    ----------
    text : str
        The STEP as the user typed it.
    slug : str
        A short filename-safe name for output naming: ``"sobel-x"``, ``"gaussian-1"``,
        ``"kernel-3x3"``.
    weight : ndarray, shape (kh, kw), (c_in, kh, kw) or (c_out, c_in, kh, kw), float64
        The kernel in cross-correlation orientation. For a gradient magnitude, the x kernel.
    magnitude : (ndarray, ndarray) or None
        For ``sobel``, ``scharr``, ``prewitt`` and ``roberts``: the two kernels ``(gx, gy)``;
        the step's result is ``sqrt(corr(x, gx)**2 + corr(x, gy)**2)``.
    stride, dilation : (int, int) or None
        ``s=`` and ``d=`` of the step; None means the global ``--stride`` / ``--dilation``.
    padding : (top, bottom, left, right) or "same" or "valid" or None
        ``p=`` of the step, as :func:`convcli.layers.parse_padding` reads it (``p=1``,
        ``p=1x2``, ``p=0,1,0,1``, ``p=same``); None means the global ``--padding``.
    border : str or None
        ``border=`` of the step (a :data:`~convcli.core.padding.PADDING_MODES` name); None
        means the global ``--border``.
    name : str or None
        The catalogue name for a named kernel, None for inline and file kernels.
    arguments : tuple of (str, object)
        The maker's arguments of a named kernel, e.g. ``(("sigma", 2.0),)`` for
        ``gaussian:2`` (``apply --like`` rebuilds a Gaussian the peer's way from them).
    notes : tuple of str
        Remarks for stderr about how the STEP was read (an ImageMagick spelling...).
    offset : float
        Added to the result (a vips ``.mat`` file's offset), before ``--bias``.
    directions : tuple of ndarray or None
        For ``kirsch`` and ``compass``: the 8 direction kernels (n, nw, w, sw, s, se, e,
        ne); the step's result is their maximum response.
    gate : float
        ``unsharp``'s ``amount * threshold``: where the change ``|result - input|`` is
        below it, the input is kept (0: a plain linear kernel).
    fixed_point : FixedPoint or None
        ``apply --like vips``'s ``gaussian:SIGMA``: on whole 8-bit values the step runs this
        integer mask along rows, then columns, as ``vips gaussblur`` does (rounding each
        pass); ``weight`` (its float taps) serves other values.
    """

    text: str
    slug: str
    weight: np.ndarray
    magnitude: tuple[np.ndarray, np.ndarray] | None = None
    stride: tuple[int, int] | None = None
    padding: PaddingSpec | None = None
    dilation: tuple[int, int] | None = None
    border: str | None = None
    name: str | None = None
    arguments: tuple[tuple[str, object], ...] = ()
    notes: tuple[str, ...] = ()
    offset: float = 0.0
    directions: tuple[np.ndarray, ...] | None = None
    gate: float = 0.0
    fixed_point: FixedPoint | None = None

    @property
    def zero_sum(self) -> bool:
        """True for edge kernels (sum ~ 0, each output filter of a 4-D kernel) and magnitudes.

        ``--map auto`` maps such results with ``abs``.
        """
        if self.magnitude is not None or self.directions is not None:
            return True
        filters = (
            self.weight.reshape(self.weight.shape[0], -1)
            if self.weight.ndim == 4
            else [self.weight.ravel()]
        )
        return all(_sums_to_zero(values) for values in filters)

    def flipped(self) -> KernelStep:
        """The step for true convolution (``--convolve``): both spatial axes reversed."""
        magnitude = None
        if self.magnitude is not None:
            magnitude = (_flip_spatial(self.magnitude[0]), _flip_spatial(self.magnitude[1]))
        directions = None
        if self.directions is not None:
            directions = tuple(_flip_spatial(kernel) for kernel in self.directions)
        return replace(
            self, weight=_flip_spatial(self.weight), magnitude=magnitude, directions=directions
        )

    def components(self) -> list[tuple[str, np.ndarray]]:
        """The kernels the step correlates with, labelled: ``gx``/``gy`` for a magnitude,
        the 8 directions of a compass set, else the one kernel (label ``""``)."""
        if self.magnitude is not None:
            return [("gx", self.magnitude[0]), ("gy", self.magnitude[1])]
        if self.directions is not None:
            return list(zip(COMPASS_DIRECTIONS, self.directions, strict=True))
        return [("", self.weight)]

    def normalized(self) -> KernelStep:
        """The step divided by its sum (``--normalize``); a 4-D kernel per output filter.

        Raises
        ------
        ConvcliError
            When the sum is ~0 (an edge kernel or a gradient magnitude): nothing to divide by.
        """
        if self.magnitude is not None:
            raise ConvcliError(
                f"--normalize: kernel '{self.text}' is a gradient magnitude; its kernels sum to 0"
            )
        flat = self.weight.reshape(self.weight.shape[0] if self.weight.ndim == 4 else 1, -1)
        zero = [values for values in flat if _sums_to_zero(values)]
        if not zero:
            sums = flat.sum(axis=1)  # one per output channel of a 4-D kernel
            divisor = sums[:, None, None, None] if self.weight.ndim == 4 else sums[0]
            return replace(self, weight=self.weight / divisor)
        total = float(zero[0].sum())
        within = "" if total == 0 else (
            f" ({total:.3g}: 0 within float32's precision, {_ZERO_SUM_RTOL:g} of its taps' total "
            f"{float(np.abs(zero[0]).sum()):.3g})"
        )  # fmt: skip
        raise ConvcliError(
            f"--normalize: kernel '{self.text}' sums to 0{within}, cannot divide by it"
        )


@dataclass(frozen=True)
class PoolStep:
    """A pooling or median step.

    Attributes
    ----------
    text, slug : str
        As for :class:`KernelStep`.
    op : str
        ``"max"``, ``"avg"``, ``"min"`` or ``"median"``.
    kernel_size, stride, padding : (int, int)
        Window, step and zero/neutral padding per side, as (height, width). The stride
        defaults to the window for pools (PyTorch) and to 1 for the median filter.
    ceil_mode : bool
        PyTorch's ``ceil_mode`` (pools only).
    """

    text: str
    slug: str
    op: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    ceil_mode: bool = False


def _flip_spatial(weight: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(weight[..., ::-1, ::-1])


def _sums_to_zero(values: np.ndarray) -> bool:
    scale = float(np.abs(values).sum())
    return scale == 0.0 or abs(float(values.sum())) <= _ZERO_SUM_RTOL * scale


# --------------------------------------------------------------------------------------------
# Kernel makers (public: usable from Python without the STEP syntax)
# --------------------------------------------------------------------------------------------


def _radius_from_sigma(sigma: float, truncate: float) -> int:
    # scipy.ndimage's rule, so that gaussian:SIGMA matches gaussian_filter(truncate=3).
    return int(truncate * sigma + 0.5)


def _offsets(size: int) -> np.ndarray:
    """Sample positions of a ``size``-tap kernel, centred on 0 (half-integers when even)."""
    return np.arange(size, dtype=np.float64) - (size - 1) / 2.0


def gaussian_kernel(sigma: float = 1.0, size: int | None = None) -> np.ndarray:
    """A sampled, normalised 2-D Gaussian.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels, > 0.
    size : int, optional
        Side length; default ``2 * int(3 * sigma + 0.5) + 1`` (radius about 3 sigma).

    Returns
    -------
    ndarray, shape (size, size), float64
        Sums to 1.

    Notes
    -----
    ``g(u) = exp(-u**2 / (2 sigma**2))`` sampled at integer offsets from the centre,
    normalised in 1-D; the 2-D kernel is ``outer(g, g)`` (separable by construction).
    Equal to ``scipy.ndimage.gaussian_filter(impulse, sigma, truncate=3.0)``.

    Examples
    --------
    >>> gaussian_kernel(1.0).shape
    (7, 7)
    """
    if size is None:
        size = 2 * _radius_from_sigma(sigma, 3.0) + 1
    taps = np.exp(-0.5 * (_offsets(size) / sigma) ** 2)
    taps /= taps.sum()
    return np.outer(taps, taps)


def laplacian_of_gaussian_kernel(sigma: float = 1.0, size: int | None = None) -> np.ndarray:
    """A sampled Laplacian of Gaussian with positive centre, shifted to sum to exactly 0.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels, > 0.
    size : int, optional
        Side length; default ``2 * int(4 * sigma + 0.5) + 1`` (radius about 4 sigma, scipy's
        ``gaussian_laplace`` truncation: the LoG's negative ring reaches further than a Gaussian).

    Returns
    -------
    ndarray, shape (size, size), float64

    Notes
    -----
    ``LoG(u, v) = (1 - R) exp(-R) / (pi sigma**4)`` with ``R = (u**2 + v**2) / (2 sigma**2)``:
    minus the Laplacian of the unit Gaussian, so the centre is positive like ``laplacian``.
    Truncation leaves a small positive sum; its mean is subtracted from every tap (as MATLAB's
    ``fspecial('log')`` does) so that flat regions give exactly 0.

    Examples
    --------
    >>> k = laplacian_of_gaussian_kernel(1.4)
    >>> k.shape, bool(k[5, 5] > 0), abs(float(k.sum())) < 1e-12
    ((13, 13), True, True)
    """
    if size is None:
        size = 2 * _radius_from_sigma(sigma, 4.0) + 1
    offsets = _offsets(size)
    ratio = (offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2.0 * sigma**2)
    kernel = (1.0 - ratio) * np.exp(-ratio) / (math.pi * sigma**4)
    return kernel - kernel.mean()


def box_kernel(height: int = 3, width: int | None = None) -> np.ndarray:
    """The mean filter: ``ones((height, width)) / (height * width)``.

    Examples
    --------
    >>> box_kernel(2).tolist()
    [[0.25, 0.25], [0.25, 0.25]]
    """
    width = height if width is None else width
    return np.full((height, width), 1.0 / (height * width))


def unsharp_kernel(sigma: float = 1.0, amount: float = 1.0, size: int | None = None) -> np.ndarray:
    """Unsharp mask as one linear kernel: ``(1 + amount) * identity - amount * gaussian``.

    The input plus ``amount`` times its detail (input minus its Gaussian blur).

    Parameters
    ----------
    sigma : float
        The blur's standard deviation, > 0.
    amount : float
        How much detail is added (ImageMagick's ``-unsharp`` gain; 1 doubles it).
    size : int, optional
        Side length; default the Gaussian's, ``2 * int(3 * sigma + 0.5) + 1``.

    Returns
    -------
    ndarray, shape (size, size), float64
        Sums to 1 (flat regions are unchanged).

    Examples
    --------
    >>> k = unsharp_kernel(1.0, 0.5)
    >>> k.shape, round(float(k.sum()), 12), round(float(k[3, 3]), 4)
    ((7, 7), 1.0, 1.4204)
    """
    kernel = -amount * gaussian_kernel(sigma, size)
    kernel[kernel.shape[0] // 2, kernel.shape[1] // 2] += 1.0 + amount
    return kernel


def dog_kernel(sigma: float = 1.0, ratio: float = 1.6, size: int | None = None) -> np.ndarray:
    """Difference of Gaussians: ``gaussian(sigma) - gaussian(ratio * sigma)``.

    Parameters
    ----------
    sigma : float
        The narrower Gaussian's standard deviation, > 0.
    ratio : float
        The wider one's sigma over ``sigma`` (1.6 approximates the Laplacian of Gaussian,
        Marr and Hildreth).
    size : int, optional
        Side length; default that of the wider Gaussian, radius ``int(3 * ratio * sigma + 0.5)``.

    Returns
    -------
    ndarray, shape (size, size), float64
        Positive centre (with ``ratio > 1``), both Gaussians normalised on the same support,
        so the sum is 0 (ImageMagick's ``DoG`` has the same sign).

    Examples
    --------
    >>> k = dog_kernel(1.0)
    >>> k.shape, bool(k[5, 5] > 0), abs(float(k.sum())) < 1e-12
    ((11, 11), True, True)
    """
    if size is None:
        size = 2 * _radius_from_sigma(max(sigma, sigma * ratio), 3.0) + 1
    return gaussian_kernel(sigma, size) - gaussian_kernel(sigma * ratio, size)


#: Compass directions, counter-clockwise from north in steps of 45 degrees.
COMPASS_DIRECTIONS: tuple[str, ...] = ("n", "nw", "w", "sw", "s", "se", "e", "ne")


def compass_kernels(north: np.ndarray) -> tuple[np.ndarray, ...]:
    """The 8 rotations of a 3x3 compass kernel by 45 degrees (see :data:`COMPASS_DIRECTIONS`):
    the outer ring of taps turns one place counter-clockwise per direction.

    Examples
    --------
    >>> north = np.array([[5, 5, 5], [-3, 0, -3], [-3, -3, -3]])
    >>> compass_kernels(north)[1].astype(int).tolist()  # north-west
    [[5, 5, -3], [5, 0, -3], [-3, -3, -3]]
    """
    ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
    values = [north[position] for position in ring]
    kernels = []
    for shift in range(8):
        kernel = north.astype(np.float64)
        for index, position in enumerate(ring):
            kernel[position] = values[(index + shift) % 8]
        kernels.append(kernel)
    return tuple(kernels)


def _identity(height: int = 1, width: int | None = None) -> np.ndarray:
    width = height if width is None else width
    kernel = np.zeros((height, width))
    kernel[(height - 1) // 2, (width - 1) // 2] = 1.0
    return kernel


def _matrix(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


# Correlation orientation; x to the right, y down. The y kernels are the x kernels transposed.
_SOBEL_X = _matrix([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
_SCHARR_X = _matrix([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])
_PREWITT_X = _matrix([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])
# Roberts cross, signed like sobel-x: positive where brightness rises towards the bottom-right
# (diag) and towards the bottom-left (anti).
_ROBERTS_DIAG = _matrix([[-1, 0], [0, 1]])
_ROBERTS_ANTI = _matrix([[0, -1], [1, 0]])
# North kernels: positive where brightness rises upwards (towards the top row).
_KIRSCH = compass_kernels(_matrix([[5, 5, 5], [-3, 0, -3], [-3, -3, -3]]))
_COMPASS = compass_kernels(_matrix([[1, 1, 1], [1, -2, 1], [-1, -1, -1]]))


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelInfo:
    """One catalogue entry, as ``convcli kernels`` lists it.

    Attributes
    ----------
    name : str
        The STEP name.
    size : str
        Default size, e.g. ``"3x3"``, ``"7x7 at sigma 1"``, ``"KxK"``.
    arguments : str
        The arguments the STEP takes, defaults in brackets: ``"SIGMA (1), size=N, ..."``.
    description : str
        What it does, in one line.
    kind : str
        ``"kernel"``, ``"magnitude"``, ``"compass"`` or ``"pool"``.
    """

    name: str
    size: str
    arguments: str
    description: str
    kind: str = "kernel"


@dataclass(frozen=True)
class _Named:
    """How to build a named step: its catalogue entry and a maker from parsed arguments."""

    info: KernelInfo
    positional: str | None  # meaning of the first bare argument: "sigma", "size" or None
    keys: tuple[str, ...]  # keyword arguments specific to this kernel (beyond s/p/d/border)
    make: Callable[..., np.ndarray] | None  # None for magnitudes and pools
    parts: tuple[np.ndarray, np.ndarray] | None = None  # (gx, gy) of a magnitude
    pool_op: str | None = None
    directions: tuple[np.ndarray, ...] | None = None  # a compass set (max of 8)


#: The arguments every named kernel takes (the catalogue's table says so once).
GEOMETRY_ARGUMENTS = "s=, p=, d=, border="
_GEOMETRY_ARGS = GEOMETRY_ARGUMENTS


def _fixed(matrix: np.ndarray, name: str, description: str) -> _Named:
    height, width = matrix.shape
    return _Named(
        KernelInfo(name, f"{height}x{width}", _GEOMETRY_ARGS, description),
        None,
        (),
        lambda: matrix.copy(),
    )


def _magnitude(name: str, gx: np.ndarray, gy: np.ndarray, what: str) -> _Named:
    height, width = gx.shape
    return _Named(
        KernelInfo(name, f"{height}x{width}", _GEOMETRY_ARGS, what, kind="magnitude"),
        None,
        (),
        None,
        parts=(gx, gy),
    )


def _compass(name: str, kernels: tuple[np.ndarray, ...], what: str) -> _Named:
    return _Named(
        KernelInfo(name, "3x3", f"DIR (all 8: max), {_GEOMETRY_ARGS}", what, kind="compass"),
        "direction",
        ("direction",),
        None,
        directions=kernels,
    )


def _pool(name: str, op: str, description: str) -> _Named:
    # The median filter slides (stride 1) and has no ceil mode; pools step by their window.
    keys = ("k", "s", "p") if op == "median" else ("k", "s", "p", "ceil")
    arguments = "K, s= (1), p= (0)" if op == "median" else "K, s= (K), p= (0), ceil=no"
    return _Named(
        KernelInfo(name, "KxK", arguments, description, kind="pool"),
        "size",
        keys,
        None,
        pool_op=op,
    )


_NAMED: dict[str, _Named] = {
    named.info.name: named
    for named in [
        _magnitude(
            "sobel",
            _SOBEL_X,
            _SOBEL_X.T,
            "Sobel gradient magnitude sqrt(gx^2 + gy^2)",
        ),
        _fixed(
            _SOBEL_X,
            "sobel-x",
            "Sobel x derivative, positive where brightness rises to the "
            "right: [1,2,1]^T x [-1,0,1]",
        ),
        _fixed(
            _SOBEL_X.T, "sobel-y", "Sobel y derivative, positive where brightness rises downwards"
        ),
        _magnitude(
            "scharr",
            _SCHARR_X,
            _SCHARR_X.T,
            "Scharr gradient magnitude, more isotropic",
        ),
        _fixed(_SCHARR_X, "scharr-x", "Scharr x derivative: [3,10,3]^T x [-1,0,1]"),
        _fixed(_SCHARR_X.T, "scharr-y", "Scharr y derivative (y down)"),
        _magnitude("prewitt", _PREWITT_X, _PREWITT_X.T, "Prewitt gradient magnitude"),
        _fixed(_PREWITT_X, "prewitt-x", "Prewitt x derivative: [1,1,1]^T x [-1,0,1]"),
        _fixed(_PREWITT_X.T, "prewitt-y", "Prewitt y derivative (y down)"),
        _magnitude(
            "roberts",
            _ROBERTS_DIAG,
            _ROBERTS_ANTI,
            "Roberts cross gradient magnitude",
        ),
        _fixed(
            _ROBERTS_DIAG,
            "roberts-diag",
            "Roberts cross, positive where brightness rises towards the bottom-right",
        ),
        _fixed(
            _ROBERTS_ANTI,
            "roberts-anti",
            "Roberts cross, positive where brightness rises towards the bottom-left",
        ),
        _fixed(
            _matrix([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]),
            "laplacian",
            "4-neighbour, positive centre (IM Laplacian:1)",
        ),
        _fixed(
            _matrix([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
            "laplacian8",
            "8-neighbour Laplacian, positive centre",
        ),
        _Named(
            KernelInfo(
                "log",
                "9x9 at sigma 1",
                f"SIGMA (1), size=N, {_GEOMETRY_ARGS}",
                "Laplacian of Gaussian, positive centre, zero sum; radius int(4*sigma+0.5)",
            ),
            "sigma",
            ("sigma", "size"),
            laplacian_of_gaussian_kernel,
        ),
        _Named(
            KernelInfo(
                "gaussian",
                "7x7 at sigma 1",
                f"SIGMA (1), size=N, {_GEOMETRY_ARGS}",
                "Gaussian blur, sampled, sums to 1; radius int(3*sigma+0.5)",
            ),
            "sigma",
            ("sigma", "size"),
            gaussian_kernel,
        ),
        _Named(
            KernelInfo(
                "box",
                "3x3",
                f"N or HxW (3), {_GEOMETRY_ARGS}",
                "Mean (box) blur: every tap 1/(H*W)",
            ),
            "size",
            ("size",),
            box_kernel,
        ),
        _Named(
            KernelInfo(
                "dog",
                "11x11 at sigma 1",
                f"SIGMA (1), ratio= (1.6), size=N, {_GEOMETRY_ARGS}",
                "Difference of Gaussians g(sigma) - g(ratio*sigma)",
            ),
            "sigma",
            ("sigma", "ratio", "size"),
            dog_kernel,
        ),
        _Named(
            KernelInfo(
                "unsharp",
                "7x7 at sigma 1",
                f"SIGMA (1), amount= (1), threshold= (0), size=N, {_GEOMETRY_ARGS}",
                "Unsharp mask in + amount*(in - blur), kept as in where that change is "
                "below amount*threshold",
            ),
            "sigma",
            ("sigma", "amount", "threshold", "size"),
            unsharp_kernel,
        ),
        _compass(
            "kirsch",
            _KIRSCH,
            "Kirsch compass: max of 8 directions, or one (kirsch:n)",
        ),
        _compass(
            "compass",
            _COMPASS,
            "Prewitt compass (ImageMagick's Compass), as kirsch",
        ),
        _fixed(
            _matrix([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
            "sharpen",
            "Sharpen: identity + 4-neighbour Laplacian (sum 1)",
        ),
        _fixed(
            _matrix([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
            "emboss",
            "Emboss, light from the bottom-right (sum 1)",
        ),
        _fixed(_matrix([[1, -1]]), "diff-x", "Forward difference [1,-1]: out = in[x] - in[x+1]"),
        _fixed(_matrix([[1], [-1]]), "diff-y", "Forward difference down: out = in[y] - in[y+1]"),
        _Named(
            KernelInfo(
                "identity",
                "1x1",
                f"N or HxW (1), {_GEOMETRY_ARGS}",
                "Identity: a single 1 at the centre",
            ),
            "size",
            ("size",),
            _identity,
        ),
        _pool("maxpool", "max", "Max pooling (PyTorch MaxPool2d)"),
        _pool("avgpool", "avg", "Average pooling (PyTorch AvgPool2d, padding counted)"),
        _pool("minpool", "min", "Min pooling (erosion-like)"),
        _pool("median", "median", "Median filter over a KxK window"),
    ]
}


def catalogue() -> list[KernelInfo]:
    """The named kernels and pooling steps, in display order.

    Examples
    --------
    >>> [info.name for info in catalogue()][:3]
    ['sobel', 'sobel-x', 'sobel-y']
    """
    return [named.info for named in _NAMED.values()]


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_FILE_SUFFIXES = (".npy", ".csv", ".txt", ".mat")
_IMAGEMAGICK = re.compile(r"^\s*(\d+)(?:x(\d+))?\s*([+-]\d+[+-]\d+)?\s*:(.*)$", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def parse_step(text: str) -> KernelStep | PoolStep:
    """Parse one ``-k`` STEP.

    Parameters
    ----------
    text : str
        A named kernel or pool with arguments, an inline matrix, or a file (see the module
        docstring for the syntax).

    Returns
    -------
    KernelStep or PoolStep

    Raises
    ------
    SpecError
        The words cannot be parsed (unknown name, ragged matrix, non-numeric value, bad
        argument). One line, naming the step.
    ConvcliError
        A kernel file is missing or unreadable.

    Examples
    --------
    >>> parse_step("sobel-x").weight.tolist()
    [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    >>> parse_step("maxpool:3,s=1,p=1").stride
    (1, 1)
    >>> parse_step("1 0 -1; 2 0 -2").weight.shape
    (2, 3)
    """
    with reading(_where(text)):
        return _parse_step(text)


def _where(text: str) -> str:
    """``kernel 'TEXT'``, the prefix of a step's messages (long words shortened)."""
    return f"kernel '{shorten(text.strip())}'"


def _parse_step(text: str) -> KernelStep | PoolStep:
    stripped = text.strip()
    if not stripped:
        raise SpecError("kernel step is empty")
    name = stripped.split(":", 1)[0].strip().lower().replace("_", "-")
    if _NAME.match(name) and name in _NAMED:
        step = _named_step(text, name, stripped.partition(":")[2])
        note = _magick_note(stripped.split(":", 1)[0].strip(), stripped.partition(":")[2])
        if note is not None and isinstance(step, KernelStep):
            step = replace(step, notes=(*step.notes, note))
        return step
    if _names_a_file(stripped):
        path_text = stripped.removeprefix("@").strip()
        if not path_text:
            raise SpecError(f"{_where(text)}: the file name after '@' is missing")
        return _file_step(text, path_text)
    if (
        stripped[0] in "[(0123456789+-."
        or _IMAGEMAGICK.match(stripped)
        or re.match(r"(nan|inf(inity)?)(?![\w-])", stripped, re.IGNORECASE)  # said: not finite
    ):
        where = _where(text)
        weight = parse_matrix_text(stripped, where, allow_newlines=False)
        weight = _as_kernel_array(weight, where)
        return KernelStep(text=text, slug=_shape_slug(weight), weight=weight)
    if _NAME.match(name):
        raise SpecError(f"unknown kernel '{shorten(name)}'{_did_you_mean(name)}")
    raise SpecError(
        f'{_where(text)}: not a kernel name, a matrix ("1 0 -1; 2 0 -2") or a file (@kernel.txt)'
    )


def _names_a_file(stripped: str) -> bool:
    return stripped.startswith("@") or stripped.lower().endswith(_FILE_SUFFIXES)


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, list(_NAMED), n=3, cutoff=0.6)
    if close:
        return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
    return " (see `convcli kernels` for the list)"


def _shape_slug(weight: np.ndarray) -> str:
    return "kernel-" + dims_text(weight.shape)


def _name_slug(text: str) -> str:
    """``gaussian:1.5,size=7`` -> ``gaussian-1.5-size7``: safe in any file system."""
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", text.strip().lower().replace("=", ""))
    return slug.strip("-.") or "kernel"


# ---- named steps -----------------------------------------------------------------------------


def _split_arguments(where: str, argument_text: str) -> tuple[list[str], dict[str, str]]:
    """``"1.5,size=7"`` -> (["1.5"], {"size": "7"}); bare arguments must come first.

    Split like a LAYER word, so ``p=1,2,3,4`` (top, bottom, left, right) stays one argument.
    """
    positional: list[str] = []
    keywords: dict[str, str] = {}
    if not argument_text.strip():
        return positional, keywords
    for piece in split_layer_arguments(argument_text):
        if not piece:
            raise SpecError(f"{where}: empty argument")
        key, equals, value = piece.partition("=")
        if equals:
            key = key.strip().lower()
            if key in keywords:
                raise SpecError(f"{where}: argument '{key}' given twice")
            keywords[key] = value.strip()
        elif keywords:
            raise SpecError(f"{where}: bare argument '{piece}' after key=value arguments")
        else:
            positional.append(piece)
    return positional, keywords


def _int_value(where: str, key: str, value: str, minimum: int, maximum: int) -> int:
    if not re.fullmatch(r"\s*[+-]?\d{1,9}\s*", value):
        raise SpecError(f"{where}: {key} must be an integer, got '{shorten(value)}'")
    return _within(where, key, int(value), minimum, maximum)


def _within(where: str, key: str, number: int, minimum: int, maximum: int) -> int:
    return check_range(number, key, minimum, maximum, where=f"{where}: ")


def _pair_value(where: str, key: str, value: str, minimum: int, maximum: int) -> tuple[int, int]:
    """``"3"`` -> (3, 3); ``"3x5"`` -> (3, 5) (height x width), each in minimum..maximum."""
    height, width = parse_pair(value, key, f"{where}: ")
    return (
        _within(where, key, height, minimum, maximum),
        _within(where, key, width, minimum, maximum),
    )


#: Largest sigma with an explicit size= (beyond it a Gaussian is a box, a LoG all zeros).
_MAX_SIGMA = 1000.0


def _plain_float(where: str, key: str, value: str) -> float:
    """``value`` as a number typed in decimal (see :data:`_PLAIN_NUMBER`)."""
    if not is_plain_number(value):
        raise SpecError(f"{where}: {key} must be a number, got '{shorten(value)}'")
    return float(value)


def _float_value(where: str, key: str, value: str) -> float:
    number = _plain_float(where, key, value)
    if math.isnan(number) or number <= 0:  # inf is refused by the range below
        raise SpecError(f"{where}: {key} must be > 0, got '{shorten(value)}'")
    if not MIN_SIGMA <= number <= _MAX_SIGMA:
        raise SpecError(f"{where}: {key} must be {MIN_SIGMA}..{_MAX_SIGMA:g}, got {number:g}")
    return number


def _positive(where: str, key: str, value: str, zero: bool = False) -> float:
    """A finite number > 0 (>= 0 with ``zero``), at most 1000."""
    number = _plain_float(where, key, value)
    if not (math.isfinite(number) and (number >= 0 if zero else number > 0) and number <= 1000):
        bound = ">= 0" if zero else "> 0"
        raise SpecError(f"{where}: {key} must be {bound} and at most 1000, got '{shorten(value)}'")
    return number


def _dog_ratio(where: str, value: str) -> float:
    """``dog``'s ``ratio=``: above 1, at most 1000. SIGMA is the narrower Gaussian (the
    positive centre); skimage's difference_of_gaussians refuses a high_sigma below its
    low_sigma too. Ratio 1 cancels the two Gaussians, below 1 turns the kernel over."""
    number = _plain_float(where, "ratio", value)
    if not (math.isfinite(number) and 1.0 < number <= 1000):
        raise SpecError(
            f"{where}: ratio must be > 1 and at most 1000 (the wider Gaussian's sigma over "
            f"SIGMA; 1 cancels them, below 1 turns the centre negative), got '{shorten(value)}'"
        )
    return number


def _named_step(text: str, name: str, argument_text: str) -> KernelStep | PoolStep:
    named = _NAMED[name]
    where = _where(text)
    positional, keywords = _split_arguments(where, argument_text)
    if len(positional) > (1 if named.positional else 0):
        takes = (
            f"one bare argument ({named.positional})" if named.positional else "no bare argument"
        )
        raise SpecError(f"{where}: {name} takes {takes}, got {len(positional)}")
    geometry_keys = ("s", "p", "d", "border") if named.pool_op is None else ()
    allowed = named.keys + geometry_keys
    for key in keywords:
        if key not in allowed:
            expected = ", ".join(allowed) if allowed else "none"
            raise SpecError(f"{where}: unknown argument '{key}' (expected one of: {expected})")
    slug = _name_slug(text)
    if named.pool_op is not None:
        return _pool_step(text, slug, where, named.pool_op, positional, keywords)

    geometry = _geometry(where, keywords)
    dilation = geometry["dilation"]
    if named.parts is not None:
        gx, gy = (part.copy() for part in named.parts)
        return KernelStep(
            text=text, slug=slug, weight=gx, magnitude=(gx, gy), name=name, **geometry
        )
    if named.directions is not None:
        return _compass_step(text, slug, where, name, named.directions, positional, keywords)
    arguments = _maker_arguments(where, named, positional, keywords)
    gate = float(arguments.pop("threshold", 0.0)) * float(arguments.get("amount", 1.0))  # type: ignore[arg-type]
    check_kernel_shape(_made_shape(named, arguments, where), where)
    assert named.make is not None
    weight = named.make(**arguments)
    check_span(weight.shape, dilation, where)
    return KernelStep(
        text=text,
        slug=slug,
        weight=weight,
        name=name,
        arguments=tuple(sorted(arguments.items())),
        gate=gate,
        **geometry,
    )


def _geometry(where: str, keywords: dict[str, str]) -> dict[str, Any]:
    """``s=``, ``p=``, ``d=`` and ``border=`` of a named kernel, as KernelStep fields."""
    stride = _pair_value(where, "s", keywords["s"], 1, MAX_STRIDE) if "s" in keywords else None
    dilation = _pair_value(where, "d", keywords["d"], 1, MAX_DILATION) if "d" in keywords else None
    padding = parse_padding(keywords["p"], f"{where}: ") if "p" in keywords else None
    check_padding(padding, f"{where}: ")
    border = keywords.get("border")
    if border is not None and border.lower() not in PADDING_MODES:
        choices = ", ".join(PADDING_MODES)
        raise SpecError(f"{where}: border must be one of {choices}, got '{shorten(border)}'")
    return {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "border": border.lower() if border else None,
    }


def _compass_step(
    text: str,
    slug: str,
    where: str,
    name: str,
    directions: tuple[np.ndarray, ...],
    positional: list[str],
    keywords: dict[str, str],
) -> KernelStep:
    """``kirsch`` (the maximum of the 8 directions) or ``kirsch:DIR`` (one of them)."""
    if positional and "direction" in keywords:
        raise SpecError(f"{where}: direction given twice")
    direction = (positional[0] if positional else keywords.get("direction", "")).strip().lower()
    geometry = _geometry(where, keywords)
    if not direction:
        kernels = tuple(kernel.copy() for kernel in directions)
        return KernelStep(
            text=text, slug=slug, weight=kernels[0], name=name, directions=kernels, **geometry
        )
    if direction not in COMPASS_DIRECTIONS:
        raise SpecError(
            f"{where}: direction must be one of {', '.join(COMPASS_DIRECTIONS)}, "
            f"got '{shorten(direction)}'"
        )
    weight = directions[COMPASS_DIRECTIONS.index(direction)].copy()
    return KernelStep(text=text, slug=slug, weight=weight, name=name, **geometry)


def _made_shape(named: _Named, arguments: dict[str, object], where: str) -> tuple[int, int]:
    """The shape ``named.make(**arguments)`` will build, known before it builds it."""
    if named.positional == "sigma":
        size = arguments.get("size")
        if size is None:
            truncate = 4.0 if named.make is laplacian_of_gaussian_kernel else 3.0
            sigma = float(arguments.get("sigma", 1.0))  # type: ignore[arg-type]
            ratio = arguments.get("ratio", 1.6 if named.make is dog_kernel else 1.0)
            sigma *= max(1.0, float(ratio))  # type: ignore[arg-type]
            size = 2 * _radius_from_sigma(sigma, truncate) + 1
            if size > MAX_KERNEL_SIDE:
                largest = (MAX_KERNEL_SIDE // 2 + 0.5) / truncate
                raise SpecError(
                    f"{where}: sigma {sigma:g} makes a {size}x{size} kernel, larger than "
                    f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}, the largest convcli builds (sigma "
                    f"below {largest:.4g}, or give size=)"
                )
        return int(size), int(size)  # type: ignore[call-overload]
    default = 1 if named.info.name == "identity" else 3
    height = int(arguments.get("height", default))  # type: ignore[call-overload]
    width = int(arguments.get("width", height))  # type: ignore[call-overload]
    return height, width


def check_span(shape: tuple[int, ...], dilation: tuple[int, int] | None, where: str) -> None:
    """The dilated span ``d * (k - 1) + 1`` of a kernel on each axis at most ``MAX_SPAN``.

    Parameters
    ----------
    shape : tuple of int, (..., kH, kW)
        The kernel's shape; its last two axes are checked.
    dilation : (int, int) or None
        The step's dilation; None (no dilation) passes.
    where : str
        Starts the error message (the kernel as the user wrote it).

    Raises
    ------
    SpecError
        Naming the kernel, its size and the dilation.
    """
    if dilation is None:
        return
    for axis, (size, step) in enumerate(zip(shape[-2:], dilation, strict=True)):
        span = step * (size - 1) + 1
        if span > MAX_SPAN:
            raise SpecError(
                f"{where}: dilation {step} spreads the {size}-tap "
                f"{'height' if axis == 0 else 'width'} to {span} pixels, more than {MAX_SPAN}"
            )


def _maker_arguments(
    where: str, named: _Named, positional: list[str], keywords: dict[str, str]
) -> dict[str, object]:
    """The keyword arguments of ``named.make`` from the STEP's arguments."""
    if named.positional == "sigma":
        if positional and "sigma" in keywords:
            raise SpecError(f"{where}: sigma given twice")
        arguments: dict[str, object] = {}
        sigma_text = positional[0] if positional else keywords.get("sigma")
        magick = _MAGICK_RADIUS_SIGMA.fullmatch(sigma_text or "")
        if magick and named.make is gaussian_kernel and "size" not in keywords:
            return _magick_gaussian(where, magick.group(1), magick.group(2))
        if "size" in keywords:
            arguments["size"] = _int_value(where, "size", keywords["size"], 1, MAX_KERNEL_SIDE)
        if sigma_text is not None:
            arguments["sigma"] = _float_value(where, "sigma", sigma_text)
        elif "size" in arguments and named.make is gaussian_kernel:
            # A size alone implies a sigma by the formula OpenCV documents for
            # getGaussianKernel (OpenCV itself returns rounded tables; we keep the formula).
            arguments["sigma"] = 0.3 * ((arguments["size"] - 1) * 0.5 - 1) + 0.8  # type: ignore[operator]
        for key in ("amount", "threshold"):
            if key in keywords:
                arguments[key] = _positive(where, key, keywords[key], zero=key == "threshold")
        if "ratio" in keywords:
            arguments["ratio"] = _dog_ratio(where, keywords["ratio"])
        return arguments
    if named.positional == "size":
        if positional and "size" in keywords:
            raise SpecError(f"{where}: size given twice")
        size_text = positional[0] if positional else keywords.get("size")
        if size_text is None:
            return {}
        height, width = _pair_value(where, "size", size_text, 1, MAX_KERNEL_SIDE)
        return {"height": height, "width": width}
    return {}


#: ImageMagick's Gaussian:RADIUSxSIGMA (``0x2``, ``3x1.5``).
_MAGICK_RADIUS_SIGMA = re.compile(r"\s*(\d+(?:\.\d*)?)x(\d*\.?\d+(?:e[+-]?\d+)?)\s*")


def _magick_gaussian(where: str, radius_text: str, sigma_text: str) -> dict[str, object]:
    """``Gaussian:RxS`` as ImageMagick reads it: radius R (0: ImageMagick's width for S)."""
    from convcli.peers import magick_width

    sigma = _float_value(where, "sigma", sigma_text)
    radius = float(radius_text)
    size = magick_width(sigma, MAX_KERNEL_SIDE) if radius == 0 else 2 * math.ceil(radius) + 1
    if size > MAX_KERNEL_SIDE:
        raise SpecError(
            f"{where}: ImageMagick's Gaussian:{radius_text}x{sigma_text} is {size} taps wide, "
            f"more than {MAX_KERNEL_SIDE}"
        )
    return {"sigma": sigma, "size": size}


#: Capitalised ImageMagick kernel names whose meaning differs here: the note to give.
_MAGICK_MEANINGS = {
    "sobel": "ImageMagick's Sobel is one kernel, the x derivative (sobel-x here); "
    "convcli's sobel is the gradient magnitude of sobel-x and sobel-y",
    "prewitt": "ImageMagick's Prewitt is one kernel, the x derivative (prewitt-x here); "
    "convcli's prewitt is the gradient magnitude of prewitt-x and prewitt-y",
    "roberts": "ImageMagick's Roberts is one diagonal kernel; convcli's roberts is the "
    "gradient magnitude of roberts-diag and roberts-anti",
    "laplacian": "ImageMagick's Laplacian (Laplacian:0) is the 8-neighbour kernel, "
    "laplacian8 here; convcli's laplacian is the 4-neighbour one (ImageMagick's Laplacian:1)",
    "gaussian": "ImageMagick reads Gaussian:N as radius N; convcli reads sigma N "
    "(Gaussian:0xN is ImageMagick's sigma N)",
    "log": "ImageMagick reads LoG:N as radius N; convcli reads sigma N",
    "kirsch": "ImageMagick's Kirsch is one direction (kirsch:e here, once its Convolve flips "
    "it); convcli's kirsch is the maximum of all 8",
    "compass": "ImageMagick's Compass is one direction (compass:e here, once its Convolve "
    "flips it); convcli's compass is the maximum of all 8",
    "dog": "ImageMagick's DoG takes RADIUS,SIGMA1,SIGMA2; convcli's dog takes SIGMA,ratio=R",
}


def _magick_note(head: str, argument_text: str) -> str | None:
    """The note for an ImageMagick-style capitalised name that means something else here."""
    key = head.lower()
    if head == key or key not in _MAGICK_MEANINGS:
        return None
    if key in ("gaussian", "log"):
        first = argument_text.split(",", 1)[0].strip()
        if not first or "=" in first or _MAGICK_RADIUS_SIGMA.fullmatch(first):
            return None
    return f"'{head}' read as convcli's {key}: {_MAGICK_MEANINGS[key]}"


def _pool_step(
    text: str,
    slug: str,
    where: str,
    op: str,
    positional: list[str],
    keywords: dict[str, str],
) -> PoolStep:
    if positional and "k" in keywords:
        raise SpecError(f"{where}: kernel size given twice (bare and k=)")
    size_text = positional[0] if positional else keywords.get("k")
    if size_text is None:
        raise SpecError(
            f"{where}: the window size is missing, e.g. '{text.split(':')[0].strip()}:3'"
        )
    largest = MAX_MEDIAN_WINDOW if op == "median" else MAX_KERNEL_SIDE
    kernel_size = _pair_value(where, "kernel size", size_text, 1, largest)
    default_stride = (1, 1) if op == "median" else kernel_size
    stride = (
        _pair_value(where, "s", keywords["s"], 1, MAX_STRIDE) if "s" in keywords else default_stride
    )
    padding = _pair_value(where, "p", keywords["p"], 0, MAX_PADDING) if "p" in keywords else (0, 0)
    if op != "median":
        for axis, (pad, size) in enumerate(zip(padding, kernel_size, strict=True)):
            if pad > size // 2:
                raise SpecError(
                    f"{where}: padding must be at most half the window (PyTorch), got p={pad} "
                    f"for k={size} on the {'height' if axis == 0 else 'width'} axis"
                )
    ceil_mode = parse_bool(keywords["ceil"], "ceil", f"{where}: ") if "ceil" in keywords else False
    return PoolStep(
        text=text,
        slug=slug,
        op=op,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        ceil_mode=ceil_mode,
    )


# ---- matrices ----------------------------------------------------------------------------------


def parse_matrix_text(text: str, where: str, allow_newlines: bool) -> np.ndarray:
    """Inline / file matrix syntax -> float64 array of 2 to 4 dimensions.

    The one matrix syntax of convcli: ``-k`` kernels and ``--matrix`` inputs both use it.

    Parameters
    ----------
    text : str
        The matrix: rows split by ``;``, channels by ``|``, output filters by ``||``,
        values by commas or spaces; or nested brackets; or an ImageMagick ``3x3: ...``
        kernel. A ``||`` at the end closes the last filter (one filter is 4-D so).
    where : str
        Starts every error message (e.g. ``"kernel '1 2; 3'"``).
    allow_newlines : bool
        For files: line breaks separate rows and blank lines channels too, in addition
        to ``;`` and ``|``.

    Returns
    -------
    numpy.ndarray, float64, (H, W), (C, H, W) or (O, C, H, W)

    Examples
    --------
    >>> parse_matrix_text("1 0; 0 1 | 2 0; 0 2 || 3 0; 0 3 | 4 0; 0 4", "k", False).shape
    (2, 2, 2, 2)
    >>> parse_matrix_text("1 2; 3 4 ||", "k", False).shape
    (1, 1, 2, 2)
    """
    stripped = text.strip()
    if stripped[:1] in "[(":
        check_nesting(stripped, where)
        return _parse_nested(stripped, where)
    imagemagick = _IMAGEMAGICK.match(stripped)
    if imagemagick:
        return _parse_imagemagick(imagemagick, where)
    if "||" not in stripped:
        return _parse_channels(stripped, where, allow_newlines, "")
    parts = stripped.split("||")
    if not parts[-1].strip():
        parts.pop()  # the || that closes the last filter
    outputs = []
    for index, part in enumerate(parts, start=1):
        if not part.strip():
            raise SpecError(f"{where}: no values in output {index}")
        output = _parse_channels(part.strip(), where, allow_newlines, f"output {index}, ")
        outputs.append(output if output.ndim == 3 else output[None])
    _check_same_shapes(outputs, where, "output", "filter")
    return np.stack(outputs)


def _parse_channels(text: str, where: str, allow_newlines: bool, output: str) -> np.ndarray:
    """One filter's text: its channels (``|``, blank lines in files) -> (H, W) or (C, H, W).
    ``output`` (``"output 2, "``) starts where an error is."""
    if allow_newlines:
        blocks = [block for block in re.split(r"\n\s*\n", text) if block.strip()]
        channels_text = [
            channel for block in blocks for channel in block.replace("\n", ";").split("|")
        ]
    else:
        channels_text = text.split("|")
    several = len(channels_text) > 1
    channels = [
        _parse_rows(channel, where, f"{output}channel {index}" if several else output[:-2])
        for index, channel in enumerate(channels_text, start=1)
    ]
    if not several:
        return channels[0]
    _check_same_shapes(channels, where, f"{output}channel", "channel")
    return np.stack(channels)


def _check_same_shapes(parts: list[np.ndarray], where: str, label: str, noun: str) -> None:
    first = parts[0].shape
    for index, part in enumerate(parts[1:], start=2):
        if part.shape != first:
            raise SpecError(
                f"{where}: {label} {index} is {dims_text(part.shape)}, {label} 1 is "
                f"{dims_text(first)} (every {noun} must have the same shape)"
            )


#: A number as a user types one: Python's float() also takes "1_000" and other scripts'
#: digits ("١"), which no one means in a matrix.
_PLAIN_NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)"


def is_plain_number(text: str) -> bool:
    """Whether ``text`` is a number as typed in decimal (``nan`` and ``inf`` included, to
    be refused as not finite by the caller); ``1_000`` and other scripts' digits are not.

    Parameters
    ----------
    text : str
        One value.

    >>> is_plain_number("-.5e3"), is_plain_number("1_000")
    (True, False)
    """
    return re.fullmatch(_PLAIN_NUMBER, text.strip(), re.IGNORECASE) is not None


def _number(token: str, where: str) -> float:
    if not is_plain_number(token):
        raise SpecError(f"{where}: '{shorten(token)}' is not a number")
    value = float(token)
    if not math.isfinite(value):
        raise SpecError(f"{where}: '{shorten(token)}' is not a finite number")
    return check_value(value, where)


def _count(values: int) -> str:
    return f"{values} value" if values == 1 else f"{values} values"


def _parse_rows(text: str, where: str, place: str) -> np.ndarray:
    """``"1 0 -1; 2 0 -2"`` -> shape (2, 3). Values split by commas and/or whitespace.
    ``place`` (``"channel 2"``, ``"output 1, channel 2"`` or ``""``) says where in errors."""
    rows_text = [row for row in text.split(";") if row.strip()]
    in_channel = f" in {place}" if place else ""
    if not rows_text:
        raise SpecError(f"{where}: no values{in_channel}")
    rows: list[list[float]] = []
    for row_text in rows_text:
        if re.search(r"(^|,)\s*,", row_text.strip()):  # "1,,2" once read as "1,2"
            raise SpecError(f"{where}: a value is missing between commas{in_channel} in "
                            f"'{shorten(row_text.strip())}'")  # fmt: skip
        tokens = [token for token in re.split(r"[\s,]+", row_text.strip()) if token]
        rows.append([_number(token, where) for token in tokens])
    for index, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise SpecError(
                f"{where}: ragged matrix{in_channel}: row {index} has {_count(len(row))}, "
                f"row 1 has {_count(len(rows[0]))}"
            )
    return np.array(rows, dtype=np.float64)


def _parse_nested(text: str, where: str) -> np.ndarray:
    """JSON or Python nesting: ``[[1,-1]]``; a flat list is one row."""
    try:
        nested = json.loads(text)
    except ValueError:
        try:
            nested = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise SpecError(f"{where}: not a valid nested list (JSON or Python)") from None
    _check_nested_numbers(nested, where)
    try:
        weight = np.array(nested, dtype=np.float64)
    except ValueError:
        raise SpecError(f"{where}: ragged matrix (rows of different lengths)") from None
    return _as_kernel_array(weight, where, kernel=False)


def _check_nested_numbers(value: object, where: str) -> None:
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_nested_numbers(item, where)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = value if isinstance(value, str) else repr(value)
        raise SpecError(f"{where}: '{shorten(shown)}' is not a number")
    else:
        try:
            number = float(value)
        except OverflowError:  # a 400-digit integer
            raise SpecError(f"{where}: '{shorten(value)}' is beyond float32's range") from None
        if not math.isfinite(number):
            raise SpecError(f"{where}: '{value}' is not a finite number")
        check_value(number, where)


def _parse_imagemagick(match: re.Match[str], where: str) -> np.ndarray:
    """ImageMagick's ``WxH: v v v ...`` (width first, values row-major); ``N:`` is NxN."""
    width = int(match.group(1))
    height = int(match.group(2)) if match.group(2) else width
    if match.group(3):
        raise SpecError(
            f"{where}: ImageMagick origin offsets ('{match.group(3)}') are not "
            "supported; the origin is the centre"
        )
    tokens = [token for token in re.split(r"[\s,]+", match.group(4).strip()) if token]
    if len(tokens) != width * height:
        raise SpecError(
            f"{where}: {width}x{height} (width x height) needs {_count(width * height)}, "
            f"got {len(tokens)}"
        )
    if width == 0 or height == 0:
        raise SpecError(f"{where}: a kernel needs at least one value")
    values = [_number(token, where) for token in tokens]
    return np.array(values, dtype=np.float64).reshape(height, width)


def _as_kernel_array(weight: np.ndarray, where: str, *, kernel: bool = True) -> np.ndarray:
    """Check the dimensions of a parsed or loaded kernel; a 1-D kernel is one row.

    ``kernel`` False (a nested list that may be a ``--matrix``): no limit on the sides.
    """
    if weight.ndim == 1:
        weight = weight[None, :]
    if weight.ndim not in (2, 3, 4):
        raise SpecError(f"{where}: a kernel must have 1 to 4 dimensions, got shape {weight.shape}")
    if weight.size == 0:
        raise SpecError(f"{where}: a kernel needs at least one value, got shape {weight.shape}")
    if kernel:
        check_kernel_shape(weight.shape, where)
    if not np.all(np.isfinite(weight)):
        raise SpecError(f"{where}: the kernel has NaN or infinite values")
    largest = float(np.max(np.abs(weight)))
    if largest > MAX_VALUE:
        check_value(largest, where, "tap")
    return weight


# ---- files -------------------------------------------------------------------------------------


#: Largest ``.npy`` kernel file: MAX_KERNEL_VALUES float64 taps and a header.
_MAX_NPY_BYTES = 8 * (1 << 22) + (1 << 16)


def _file_step(text: str, path_text: str) -> KernelStep:
    """A kernel from a file: regular files only, refused before reading when too large."""
    path = Path(path_text.strip()).expanduser()
    where = f"kernel file '{shorten(path_text.strip())}'"
    with reading(where, error=ConvcliError):
        if not path.exists() and not path.is_symlink():
            raise ConvcliError(f"{where}: not found")
        offset = 0.0
        if path.suffix.lower() == ".npy":
            data = read_limited(path, where, _MAX_NPY_BYTES, "kernel .npy")
            loaded = parse_npy(data, where, max_values=1 << 22)
            weight = _as_kernel_array(loaded, where)
        elif path.suffix.lower() == ".mat":
            data = read_limited(path, where, MAX_TEXT_BYTES, "vips .mat file")
            weight, offset = _parse_vips_mat(data, where)
        else:
            data = read_limited(path, where, MAX_TEXT_BYTES, "kernel text file")
            try:
                content = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ConvcliError(f"{where}: not UTF-8 text") from None
            lines = [line.split("#", 1)[0].rstrip() for line in content.splitlines()]
            body = "\n".join(lines).strip()
            if not body:
                raise SpecError(f"{where}: no values")
            weight = _as_kernel_array(parse_matrix_text(body, where, allow_newlines=True), where)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or _shape_slug(weight)
    return KernelStep(text=text, slug=slug, weight=weight, offset=offset)


def _parse_vips_mat(data: bytes, where: str) -> tuple[np.ndarray, float]:
    r"""A libvips matrix file: ``W H [SCALE [OFFSET]]``, then H rows of W numbers.

    vips computes ``sum(pixel * value) / SCALE + OFFSET``: the kernel is the values divided
    by SCALE (default 1), and OFFSET (default 0) is added to the result.

    Examples
    --------
    >>> weight, offset = _parse_vips_mat(b"2 1 4 128\n1 3\n", "k.mat")
    >>> weight.tolist(), offset
    ([[0.25, 0.75]], 128.0)
    """
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConvcliError(f"{where}: not UTF-8 text") from None
    lines = [line.split() for line in content.splitlines() if line.strip()]
    if not lines:
        raise SpecError(f"{where}: no values")
    header = lines[0]
    if not 2 <= len(header) <= 4 or not all(re.fullmatch(r"[0-9]{1,6}", v) for v in header[:2]):
        raise SpecError(
            f"{where}: a vips .mat file starts with 'WIDTH HEIGHT [SCALE [OFFSET]]', "
            f"got '{shorten(' '.join(header))}'"
        )
    width, height = int(header[0]), int(header[1])
    scale, offset = _scale_offset(header[2:], where)
    rows = lines[1:]
    if len(rows) != height or any(len(row) != width for row in rows):
        shapes = ", ".join(str(len(row)) for row in rows[:4])
        raise SpecError(
            f"{where}: the header says {width}x{height} (width x height), the file has "
            f"{len(rows)} rows of {shapes or 'no'} values"
        )
    weight = np.array([[_number(v, where) for v in row] for row in rows], dtype=np.float64)
    return _as_kernel_array(weight / scale, where), offset


def _scale_offset(values: list[str], where: str) -> tuple[float, float]:
    """SCALE (default 1, not 0) and OFFSET (default 0) of a vips .mat header."""
    scale = _number(values[0], where) if values else 1.0
    offset = _number(values[1], where) if len(values) > 1 else 0.0
    if scale == 0:
        raise SpecError(f"{where}: the scale (third number of the header) must not be 0")
    return scale, offset


# --------------------------------------------------------------------------------------------
# Describing a kernel
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class KernelDescription:
    """What ``convcli kernels STEP`` shows about a step.

    Attributes
    ----------
    text : str
        The STEP as typed.
    kind : str
        ``"kernel"``, ``"magnitude"``, ``"compass"`` or ``"pool"``.
    summary : str
        The catalogue line for a named step, else where the kernel came from.
    matrix : ndarray or None
        The kernel (for a magnitude: gx); None for a pool.
    total : float or None
        Sum of all taps.
    integer : bool
        Every tap is a whole number (they print without decimals).
    rank : int or None
        Matrix rank of a 2-D kernel; None for 3-D/4-D kernels and pools.
    singular_values : tuple of float
        A 2-D kernel's, largest first, those under the rank tolerance as 0.0 (the SVD's
        rounding, which differs between BLAS builds); empty otherwise.
    factors : (ndarray, ndarray) or None
        ``(column, row)`` with ``outer(column, row) == matrix`` for a rank-1 2-D kernel,
        scaled to the smallest whole numbers when the kernel is integer, else so that both
        factors sum to the same value (a normalised Gaussian gives the 1-D Gaussian twice).
    parts : tuple of KernelDescription
        For a magnitude: the descriptions of gx and gy; for a compass set, of its 8
        directions.
    formula : str
        How a magnitude or compass step combines its parts ("" otherwise).
    step : KernelStep or PoolStep
        The parsed step.
    name : str or None
        The catalogue name (``"sobel-x"``, ``"maxpool"``), None for inline and file kernels.
    """

    text: str
    kind: str
    summary: str
    step: KernelStep | PoolStep
    name: str | None = None
    matrix: np.ndarray | None = None
    total: float | None = None
    integer: bool = False
    rank: int | None = None
    singular_values: tuple[float, ...] = ()
    factors: tuple[np.ndarray, np.ndarray] | None = None
    parts: tuple[KernelDescription, ...] = field(default_factory=tuple)
    formula: str = ""

    @property
    def separable(self) -> bool | None:
        """True/False for a 2-D kernel, None when the question does not apply."""
        if self.rank is None:
            return None
        return self.factors is not None


def describe(step: KernelStep | PoolStep) -> KernelDescription:
    """The matrix, sum, rank and separable factors of a step, for display.

    Examples
    --------
    >>> info = describe(parse_step("sobel-x"))
    >>> info.factors[0].tolist(), info.factors[1].tolist()
    ([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    """
    if isinstance(step, PoolStep):
        named = next(named for named in _NAMED.values() if named.pool_op == step.op)
        return KernelDescription(
            text=step.text,
            kind="pool",
            summary=named.info.description,
            step=step,
            name=named.info.name,
        )
    if step.name is not None:
        summary = _NAMED[step.name].info.description
    elif _names_a_file(step.text.strip()):
        summary = f"kernel from file {step.text.strip().removeprefix('@')}"
    else:
        summary = "inline kernel"
    if step.magnitude is None and step.directions is None:
        return _describe_matrix(step.text, summary, step, step.weight)
    parts = tuple(
        _describe_matrix(f"{label} of {step.text}", label, step, matrix)
        for label, matrix in step.components()
    )
    compass = step.directions is not None
    return KernelDescription(
        text=step.text,
        kind="compass" if compass else "magnitude",
        formula=(
            f"max over {', '.join(COMPASS_DIRECTIONS)} of corr(x, k)"
            if compass
            else "sqrt(corr(x, gx)^2 + corr(x, gy)^2)"
        ),
        summary=summary,
        step=step,
        name=step.name,
        matrix=step.weight,
        total=0.0,
        integer=parts[0].integer,
        parts=parts,
    )


def _describe_matrix(
    text: str, summary: str, step: KernelStep, matrix: np.ndarray
) -> KernelDescription:
    integer = bool(np.all(matrix == np.round(matrix))) and float(np.abs(matrix).max()) < 2**53
    total = float(matrix.sum())
    if integer:
        total = float(round(total))
    rank = factors = None
    singular_values: tuple[float, ...] = ()
    if matrix.ndim == 2:
        # One SVD, for the rank (NumPy's matrix_rank tolerance) and for rank1_factors (a
        # 1025x1025 SVD takes seconds). Values under the rank tolerance are the SVD's
        # rounding, which differs between BLAS builds: they are kept as 0.
        singular = np.linalg.svd(matrix, compute_uv=False)
        largest = float(singular[0]) if singular.size else 0.0
        tolerance = largest * max(matrix.shape) * np.finfo(np.float64).eps
        singular_values = tuple(float(v) if v > tolerance else 0.0 for v in singular)
        rank = sum(v > 0 for v in singular_values)
        split = rank1_factors(matrix, _RANK1_RTOL, singular=singular)
        if split is not None:
            factors = _nice_factors(matrix, *split, integer=integer)
    return KernelDescription(
        text=text,
        kind="kernel",
        summary=summary,
        step=step,
        name=step.name,
        matrix=matrix,
        total=total,
        integer=integer,
        rank=rank,
        singular_values=singular_values,
        factors=factors,
    )


def _nice_factors(
    matrix: np.ndarray, column: np.ndarray, row: np.ndarray, integer: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rescale an SVD split ``outer(column, row)`` into the form people write down.

    Integer kernels: the column becomes a primitive integer vector (a column of the kernel
    divided by the gcd of its entries); then the row is integer too (Bezout). Others: both
    factors get the same sum when neither sums to 0 (Gaussian = g x g, box = b x b).
    A factor with one sign throughout (a smoothing factor) is made positive.
    """
    if integer:
        rounded = np.round(matrix).astype(np.int64)
        nonzero_column = int(np.flatnonzero(np.any(rounded != 0, axis=0))[0])
        column_ints = rounded[:, nonzero_column]
        column_ints = column_ints // math.gcd(*(int(v) for v in column_ints))
        pivot = int(np.flatnonzero(column_ints)[0])
        column = column_ints.astype(np.float64)
        row = matrix[pivot] / column[pivot]
    else:
        column_sum, row_sum = float(column.sum()), float(row.sum())
        scale_rtol = 1e-9
        if (
            abs(column_sum) > scale_rtol * np.abs(column).sum()
            and abs(row_sum) > scale_rtol * np.abs(row).sum()
        ):
            scale = math.sqrt(abs(column_sum * row_sum)) / abs(column_sum)
            column, row = column * scale, row / scale
    column_one_sign = bool(np.all(column >= 0) or np.all(column <= 0))
    row_one_sign = bool(np.all(row >= 0) or np.all(row <= 0))
    if (column_one_sign and column.sum() < 0) or (
        not column_one_sign and row_one_sign and row.sum() < 0
    ):
        column, row = -column, -row
    return column, row
