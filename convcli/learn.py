"""Recover the convolution kernel that maps an input to a target: "what filter was this?".

Pure NumPy, arrays in and numbers out. Two solvers share one problem set-up:

- :func:`fit_kernel` solves the linear least-squares problem over every output pixel
  and channel (exact for a linear filter) and says how well-conditioned it was;
- :func:`fit_kernel_gd` reproduces the seed material's gradient descent (squared error,
  a randomly initialised kernel, plain SGD steps), for teaching;
- :func:`learn_kernel` is the front door: it infers the padding from the sizes, tries
  kernel sizes when none is given, and refuses a target no linear kernel explains.

Arrays follow the library's PyTorch layout: ``(H, W)`` or ``(C, H, W)``. Kernels are
cross-correlation kernels, as ``convcli apply`` and PyTorch use them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from convcli.core.padding import PaddingLike, check_padding_mode, pad2d, resolve_padding
from convcli.errors import ConvcliError, SpecError
from convcli.geometry import Pads2d
from convcli.limits import MAX_DESCENT_STEPS, MAX_LEARN_TAPS

if TYPE_CHECKING:
    from convcli.imageio import Operand

KernelSize = tuple[int, int]

SIZE_CANDIDATES: tuple[KernelSize, ...] = ((1, 1), (1, 2), (2, 1), (3, 3), (5, 5), (7, 7))
"""Sizes tried, smallest first, when no kernel size is given: the odd squares up to 7
and the two shapes of the ``[1,-1]`` edge detector."""

MAX_DECIMALS = 6
"""Kernels are printed with at most this many decimals (float32 work is not finer)."""

_ROWS_PER_CHUNK = 1 << 15  # design-matrix rows built at once: bounds memory on big images

SINGULAR_RATIO = 1e-7
"""Smallest singular value, relative to the largest (unit-norm columns), that still
determines a direction of the kernel: float32 pixel data carry about 7 digits, so a
direction weaker than this is noise, and the system counts as singular."""


class SizeMismatchError(ConvcliError):
    """TARGET's size cannot come from INPUT's with this kernel size and padding, or
    leaves fewer target pixels than unknowns."""


class NoFitError(ConvcliError):
    """Least squares leaves a residual above the tolerance: no linear kernel fits.

    :attr:`fit` is the best (misfitting) fit, for callers that want to say more.
    """

    def __init__(self, message: str, fit: KernelFit) -> None:
        super().__init__(message)
        self.fit = fit


@dataclass(frozen=True)
class FitOptions:
    """What the solvers assume about the filter and which target pixels they fit.

    Attributes
    ----------
    padding : int, (ph, pw), (top, bottom, left, right), "valid", "same" or None
        ``None`` infers it from the sizes (:func:`infer_pads`).
    border : str or sequence of str
        How the input was padded (``zeros``, ``reflect``, ``replicate``, ``circular``,
        ``symmetric``). :func:`learn_kernel` also takes several, tried in order: the
        first is used, the others only when the interior fits and the edges do not.
    bias : bool
        Also fit a constant added to every output.
    per_channel : bool
        One kernel per channel instead of one shared by all channels.
    mask : ndarray of bool, broadcastable to the target's shape, or None
        Target pixels to fit (``False`` excludes, e.g. clipped 8-bit values). NaN target
        pixels are always excluded.
    tolerance : float or None
        Largest max-error counted as a fit; default :func:`default_tolerance`.
    """

    padding: PaddingLike | None = None
    border: str | Sequence[str] = "zeros"
    bias: bool = False
    per_channel: bool = False
    mask: ArrayLike | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class DescentOptions:
    """Gradient descent's settings (:func:`fit_kernel_gd`).

    Attributes
    ----------
    epochs : int
        Passes over all target pixels.
    lr : float
        Learning rate (step size).
    seed : int or None
        Seeds the initial kernel and the pixel order.
    batch_size : int
        Pixels per step: 1 is per-pixel SGD; a batch of all pixels is one full-batch
        step per epoch.
    on_epoch : callable(epoch, loss), optional
        Called with the mean squared error at the start (epoch 0) and after each epoch.
    on_steps : callable(count), optional
        Called as steps are done (for a progress bar), with the number since the last call.
    """

    epochs: int = 10
    lr: float = 0.03
    seed: int | None = 0
    batch_size: int = 1
    on_epoch: Callable[[int, float], None] | None = None
    on_steps: Callable[[int], None] | None = None


_FIT_FIELDS = frozenset(item.name for item in fields(FitOptions))
_DESCENT_FIELDS = frozenset(item.name for item in fields(DescentOptions))


def _options(
    options: FitOptions | None, descent: DescentOptions | None, given: dict[str, Any]
) -> tuple[FitOptions, DescentOptions, set[str]]:
    """The options objects with the keyword arguments (``border="reflect"``...) laid over
    them, and the names of the descent keywords given (least squares refuses them)."""
    unknown = set(given) - _FIT_FIELDS - _DESCENT_FIELDS
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    fit = replace(options or FitOptions(), **{k: v for k, v in given.items() if k in _FIT_FIELDS})
    descent_given = {k: v for k, v in given.items() if k in _DESCENT_FIELDS}
    steps = replace(descent or DescentOptions(), **descent_given)
    return fit, steps, set(descent_given) | ({"descent"} if descent is not None else set())


def _single_border(border: str | Sequence[str]) -> str:
    if not isinstance(border, str):
        raise TypeError("fit_kernel and fit_kernel_gd take one border mode (a str)")
    return border


def parse_kernel_size(text: str) -> KernelSize:
    """Read a kernel size word: ``"3"`` (3x3), ``"3x5"`` (height x width), ``"1x2"``.

    Raises
    ------
    SpecError
        Naming ``--size`` and the word when it is not one or two positive integers.

    Examples
    --------
    >>> parse_kernel_size("3"), parse_kernel_size("1x2"), parse_kernel_size("3X5")
    ((3, 3), (1, 2), (3, 5))
    """
    match = re.fullmatch(r"\s*(\d{1,9})\s*(?:[xX×]\s*(\d{1,9})\s*)?", str(text))
    if match is None:
        shown = str(text) if len(str(text)) <= 60 else str(text)[:44] + "..."
        raise SpecError(f"--size must be K or KHxKW (e.g. 3, 3x5, 1x2), got {shown!r}")
    height = int(match.group(1))
    width = int(match.group(2)) if match.group(2) is not None else height
    if height < 1 or width < 1:
        raise SpecError(f"--size must be at least 1x1, got {text!r}")
    if height * width > MAX_LEARN_TAPS:
        raise SpecError(
            f"--size {height}x{width} has {height * width:,} taps, more than the "
            f"{MAX_LEARN_TAPS:,} learn solves for (31x31 is {31 * 31})"
        )
    return height, width


def format_size(size: Sequence[int]) -> str:
    """``(6, 8)`` -> ``"6x8"``."""
    return "x".join(str(int(item)) for item in size)


def infer_pads(in_size: KernelSize, target_size: KernelSize, kernel_size: KernelSize) -> Pads2d:
    """The padding that makes a ``kernel_size`` convolution of ``in_size`` give ``target_size``.

    Parameters
    ----------
    in_size, target_size, kernel_size : (height, width)

    Returns
    -------
    (top, bottom, left, right) : tuple of int
        ``total = target - in + k - 1`` pixels per axis, split as PyTorch's and
        TensorFlow's ``"same"`` split it: ``total // 2`` before, the odd pixel after.

    Raises
    ------
    ConvcliError
        When no padding from 0 ("valid") to ``k - 1`` per side ("full") gives the target
        size; the message names the sizes that kernel can give, and the kernel size that
        would fit without padding.

    Notes
    -----
    Stride 1: ``out = in + before + after - k + 1``. A pad wider than ``k - 1`` would
    make outputs that see only padding, which no filter of an image produces.

    Examples
    --------
    >>> infer_pads((6, 8), (6, 7), (1, 2))
    (0, 0, 0, 0)
    >>> infer_pads((6, 8), (6, 8), (1, 2))
    (0, 0, 0, 1)
    >>> infer_pads((5, 5), (5, 5), (3, 3))
    (1, 1, 1, 1)
    """
    pads: list[int] = []
    for size, target, kernel in zip(in_size, target_size, kernel_size, strict=True):
        total = target - size + kernel - 1
        if not 0 <= total <= 2 * (kernel - 1):
            raise SizeMismatchError(_no_padding_fits(in_size, target_size, kernel_size))
        pads += [total // 2, total - total // 2]
    return pads[0], pads[1], pads[2], pads[3]


def _no_padding_fits(in_size: KernelSize, target_size: KernelSize, kernel_size: KernelSize) -> str:
    """The one-line message for sizes that no padding of this kernel explains."""
    valid = [size - kernel + 1 for size, kernel in zip(in_size, kernel_size, strict=True)]
    full = [size + kernel - 1 for size, kernel in zip(in_size, kernel_size, strict=True)]
    span = ", ".join(
        f"{axis} {low}..{high}" if low != high else f"{axis} {low}"
        for axis, low, high in zip(("heights", "widths"), valid, full, strict=True)
    )
    message = (
        f"TARGET {format_size(target_size)} cannot come from INPUT {format_size(in_size)} "
        f"with a {format_size(kernel_size)} kernel and any padding: that kernel gives "
        f"{span} ({format_size(valid)} with no padding, {format_size(in_size)} 'same', "
        f"{format_size(full)} 'full')"
    )
    fitting = [size - target + 1 for size, target in zip(in_size, target_size, strict=True)]
    if min(fitting) >= 1:
        message += f"; a {format_size(fitting)} kernel fits these sizes with no padding"
    return message


@dataclass(frozen=True)
class KernelFit:
    """A recovered kernel and how well it explains the target.

    Attributes
    ----------
    kernel : ndarray, shape (kh, kw) or (C, kh, kw), float64
        One shared 2-D kernel, or one per channel (``per_channel``).
    bias : float, ndarray of shape (C,), or None
        The fitted bias (``None`` when no bias was fitted).
    kernel_size : (kh, kw)
    pads : (top, bottom, left, right)
        The padding applied to the input (inferred or given).
    border : str
        The border mode the padding used.
    method : {"lstsq", "gd"}
    rmse, max_error : float
        Root-mean-square and largest absolute error over the fitted pixels, in the
        target's units.
    tolerance : float
        Largest ``max_error`` still counted as a fit.
    fits : bool
        ``max_error <= tolerance``.
    condition_number : float
        Ratio of the largest to the smallest singular value of the design matrix with
        unit-norm columns (``inf`` when singular); scale-free.
    rank, unknowns : int
        Rank of the design matrix and the number of unknowns per fitted kernel.
    samples : int
        Equations (target pixels) used.
    excluded : int
        Target pixels left out of the fit (e.g. saturated 8-bit values).
    stderr : float
        Largest standard error of a kernel coefficient (``sigma * sqrt(diag((A^T A)^-1))``),
        0 for an exact fit; sets how many decimals are worth printing.
    channels : int
        Channels of the input and target.
    losses : list of (epoch, loss)
        Gradient descent only: mean squared error after each epoch, epoch 0 = start.
    searched : list of ((kh, kw), outcome)
        When :func:`learn_kernel` searched the size: each size tried and what came of it
        (``"fits"``, ``"max error 3.2"``, ``"singular"``, ``"sizes do not match"``).
    """

    kernel: np.ndarray
    bias: float | np.ndarray | None
    kernel_size: KernelSize
    pads: Pads2d
    border: str
    method: str
    rmse: float
    max_error: float
    tolerance: float
    condition_number: float
    rank: int
    unknowns: int
    samples: int
    excluded: int
    stderr: float
    channels: int
    per_channel: bool = False
    losses: list[tuple[int, float]] = field(default_factory=list)
    searched: list[tuple[KernelSize, str]] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.max_error <= self.tolerance

    @property
    def singular(self) -> bool:
        return self.rank < self.unknowns

    @property
    def decimals(self) -> int:
        """Decimals worth printing: down to the first uncertain digit, at most 6.

        Gradient descent has no standard error (it stops before converging): 4.
        """
        if self.method == "gd":
            return 4
        if not self.stderr > 0 or not math.isfinite(self.stderr):
            return MAX_DECIMALS
        return max(1, min(MAX_DECIMALS, math.ceil(-math.log10(self.stderr))))

    def rounded_kernel(self) -> np.ndarray:
        """The kernel rounded to :attr:`decimals` (``-0`` shown as ``0``)."""
        return np.round(self.kernel, self.decimals) + 0.0

    def weight(self) -> np.ndarray:
        """The rounded kernel as ``apply -k FILE.npy`` takes it: (kh, kw) shared, or a
        per-channel set as a depthwise (C, C, kh, kw) layer (zeros off the diagonal).

        Examples
        --------
        >>> x = np.ones((6, 8)); x[:, 2:6] = 0
        >>> learn_kernel(np.stack([x, 2 * x]), np.stack([x, 2 * x])[:, :, :-1] * 3,
        ...              (1, 2), per_channel=True).weight().shape
        (2, 2, 1, 2)
        """
        weight = self.rounded_kernel()
        if not self.per_channel:
            return weight
        channels = weight.shape[0]
        layer = np.zeros((channels, channels, *self.kernel_size))
        layer[np.arange(channels), np.arange(channels)] = weight
        return layer

    def rounded_bias(self) -> float | np.ndarray | None:
        """The bias rounded like the kernel."""
        if self.bias is None:
            return None
        rounded = np.round(self.bias, self.decimals) + 0.0
        return float(rounded) if np.ndim(rounded) == 0 else rounded


def fit_notes(fit: KernelFit, saved: str | None = None) -> list[str]:
    """What a caller should be told on stderr about ``fit``: gradient descent that stopped
    above the tolerance (its kernel is then not the answer), and a fitted bias a saved
    kernel file does not hold.

    Parameters
    ----------
    fit : KernelFit
        The fit.
    saved : str or None
        The file the kernel was saved to (``--save``).

    Returns
    -------
    list of str
        The notes, without the ``note:`` prefix.
    """
    notes = []
    if fit.method == "gd" and not fit.fits:
        notes.append(
            f"gradient descent stopped above the tolerance (max error {fit.max_error:.4g} > "
            f"{fit.tolerance:.4g}): more --epochs, or --method lstsq for the exact kernel"
        )
    bias = fit.rounded_bias()
    if saved is not None and bias is not None:
        shown = ",".join(f"{value:g}" for value in np.ravel(bias))
        comment = " (the bias as a comment)" if saved.lower().endswith(".txt") else ""
        notes.append(
            f"{saved} holds the kernel only{comment}: give apply the fitted bias with "
            f"--bias {shown}"
        )
    return notes


def default_tolerance(target: ArrayLike) -> float:
    """Largest max-error still counted as "fits" for this target.

    Integer targets (8- or 16-bit images) were rounded to whole levels, so 1 level;
    float targets come from float32 arithmetic, so ``1e-5`` of the largest magnitude.

    Examples
    --------
    >>> default_tolerance(np.zeros(3, np.uint8)), default_tolerance([0.0, -200.0])
    (1.0, 0.002)
    """
    array = np.asarray(target)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        return 1.0
    largest = float(np.max(np.abs(array))) if array.size else 0.0
    # Relative whatever the scale (a floor of 1e-9 let any target under 1e-9 "fit" any
    # kernel); float32's smallest normal keeps an all-zero target's test meaningful.
    return max(1e-5 * largest, float(np.finfo(np.float32).tiny))


@dataclass
class _Problem:
    """The set-up both solvers share: padded-input windows, target, mask, groups."""

    windows: np.ndarray  # (C, H_out, W_out, kh, kw) view into the padded input
    target: np.ndarray  # (C, H_out, W_out) float64
    mask: np.ndarray  # (C, H_out, W_out) bool: pixels that enter the fit
    kernel_size: KernelSize
    pads: Pads2d
    border: str
    bias: bool
    groups: list[list[int]]  # channels sharing one kernel: [[0, 1, 2]] or [[0], [1], [2]]
    per_channel: bool
    default_tolerance: float

    @property
    def unknowns(self) -> int:
        return self.kernel_size[0] * self.kernel_size[1] + int(self.bias)

    def chunks(self, channels: list[int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Design-matrix rows ``[window | 1]`` and targets for the masked pixels, in chunks."""
        _, out_height, out_width, kernel_height, kernel_width = self.windows.shape
        rows_per_block = max(1, _ROWS_PER_CHUNK // max(out_width, 1))
        for channel in channels:
            for start in range(0, out_height, rows_per_block):
                stop = min(start + rows_per_block, out_height)
                keep = self.mask[channel, start:stop].ravel()
                if not keep.any():
                    continue
                block = self.windows[channel, start:stop].reshape(-1, kernel_height * kernel_width)
                design = block[keep]
                if self.bias:
                    design = np.hstack([design, np.ones((design.shape[0], 1))])
                yield design, self.target[channel, start:stop].ravel()[keep]

    def predict(self, kernels: np.ndarray, biases: np.ndarray) -> np.ndarray:
        """The target each group's kernel and bias produce, shape (C, H_out, W_out)."""
        out = np.empty(self.target.shape)
        for group, channels in enumerate(self.groups):
            for channel in channels:
                out[channel] = np.einsum("hwij,ij->hw", self.windows[channel], kernels[group])
                out[channel] += biases[group]
        return out


def _as_chw(array: ArrayLike, name: str) -> np.ndarray:
    values = np.asarray(array)
    if values.ndim == 2:
        values = values[np.newaxis]
    if values.ndim != 3:
        raise ConvcliError(f"{name} must be (H, W) or (C, H, W), got shape {values.shape}")
    if values.shape[-1] == 0 or values.shape[-2] == 0:
        raise ConvcliError(f"{name} is empty: shape {values.shape}")
    return values.astype(np.float64, copy=False)


def _set_up(x: ArrayLike, y: ArrayLike, kernel_size: KernelSize, options: FitOptions) -> _Problem:
    padding, border, mask = options.padding, _single_border(options.border), options.mask
    bias, per_channel = options.bias, options.per_channel
    inputs = _as_chw(x, "INPUT")
    target = _as_chw(y, "TARGET")
    tolerance = default_tolerance(y)  # before the float conversion: integer targets differ
    if inputs.shape[0] != target.shape[0]:
        raise ConvcliError(
            f"INPUT has {inputs.shape[0]} channel(s) but TARGET has {target.shape[0]}: "
            "learn fits kernels that map each channel to the same channel"
        )
    check_padding_mode(border)
    in_size = (inputs.shape[1], inputs.shape[2])
    target_size = (target.shape[1], target.shape[2])
    if padding is None:
        pads = infer_pads(in_size, target_size, kernel_size)
    else:
        pads = resolve_padding(padding, in_size, kernel_size)
        out_size = (
            in_size[0] + pads[0] + pads[1] - kernel_size[0] + 1,
            in_size[1] + pads[2] + pads[3] - kernel_size[1] + 1,
        )
        if out_size != target_size:
            raise SizeMismatchError(
                f"padding {padding!r} (pads {pads}) and a {format_size(kernel_size)} kernel "
                f"turn INPUT {format_size(in_size)} into {format_size(out_size)}, but TARGET "
                f"is {format_size(target_size)}; leave the padding out to infer it"
            )
    padded = pad2d(inputs, pads, border)
    windows = sliding_window_view(padded, kernel_size, axis=(-2, -1))
    keep = np.isfinite(target)
    if mask is not None:
        keep &= np.broadcast_to(np.asarray(mask, dtype=bool), target.shape)
    channels = list(range(inputs.shape[0]))
    groups = [[channel] for channel in channels] if per_channel else [channels]
    return _Problem(
        windows, target, keep, kernel_size, pads, border, bias, groups, per_channel, tolerance
    )


@dataclass
class _Solution:
    kernels: np.ndarray  # (G, kh, kw)
    biases: np.ndarray  # (G,)
    condition_number: float  # worst over the groups
    rank: int  # lowest over the groups
    variance_factors: np.ndarray  # (G,): max_j diag((A^T A)^+)_j; stderr = sigma * sqrt(this)


def _normal_equations(
    chunks: Iterator[tuple[np.ndarray, np.ndarray]], unknowns: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """``A^T A`` and ``A^T b`` summed over the chunks, and the number of rows."""
    gram = np.zeros((unknowns, unknowns))
    moment = np.zeros(unknowns)
    rows = 0
    for design, values in chunks:
        gram += design.T @ design
        moment += design.T @ values
        rows += design.shape[0]
    return gram, moment, rows


def _solve(problem: _Problem) -> _Solution:
    """Least squares for each group of channels, through the normal equations.

    The design matrix is never held whole: its Gram matrix is summed a chunk of rows at
    a time (one matrix product per chunk), then scaled to unit-norm columns and solved
    by ``np.linalg.lstsq`` with a cut-off at ``SINGULAR_RATIO``.
    """
    n = problem.unknowns
    kernel_length = problem.kernel_size[0] * problem.kernel_size[1]
    kernels, biases, factors = [], [], []
    worst_condition, worst_rank = 1.0, n
    for channels in problem.groups:
        gram, moment, rows = _normal_equations(problem.chunks(channels), n)
        if rows < n:
            raise SizeMismatchError(
                f"only {rows} target pixels for {n} unknowns: the images are too small "
                f"for a {format_size(problem.kernel_size)} kernel"
                + (" with a bias" if problem.bias else "")
            )
        # Unit-norm columns make the condition number scale-free (pixels in 0..255 next
        # to a bias column of ones would otherwise look ill-conditioned).
        norms = np.sqrt(np.diag(gram))
        norms[norms == 0] = 1.0
        scaled = gram / np.outer(norms, norms)
        eigenvalues = np.linalg.eigvalsh(scaled)  # ascending; singular values squared
        cut = eigenvalues[-1] * SINGULAR_RATIO**2
        rank = int(np.sum(eigenvalues > cut))
        solution, *_ = np.linalg.lstsq(scaled, moment / norms, rcond=SINGULAR_RATIO**2)
        solution /= norms
        pseudo_inverse = np.linalg.pinv(scaled, rcond=SINGULAR_RATIO**2, hermitian=True)
        factors.append(
            float(np.max(np.diag(pseudo_inverse)[:kernel_length] / norms[:kernel_length] ** 2))
        )
        if rank == n:
            worst_condition = max(worst_condition, math.sqrt(eigenvalues[-1] / eigenvalues[0]))
        else:
            worst_condition = math.inf
        worst_rank = min(worst_rank, rank)
        kernels.append(solution[:kernel_length].reshape(problem.kernel_size))
        biases.append(solution[kernel_length] if problem.bias else 0.0)
    return _Solution(
        np.array(kernels), np.array(biases), worst_condition, worst_rank, np.array(factors)
    )


def _report(
    problem: _Problem,
    solution: _Solution,
    method: str,
    tolerance: float | None,
    losses: list[tuple[int, float]] | None = None,
) -> KernelFit:
    """Measure the residual of a solution and package everything as a :class:`KernelFit`."""
    errors = problem.predict(solution.kernels, solution.biases) - problem.target
    used = errors[problem.mask]
    samples = int(used.size)
    rmse = float(np.sqrt(np.mean(used**2))) if samples else 0.0
    max_error = float(np.max(np.abs(used))) if samples else 0.0
    stderr = 0.0
    for group, channels in enumerate(problem.groups):
        group_errors = errors[channels][problem.mask[channels]]
        if group_errors.size > problem.unknowns:
            variance = float(np.sum(group_errors**2)) / (group_errors.size - problem.unknowns)
            stderr = max(stderr, math.sqrt(variance * solution.variance_factors[group]))
    per_channel = problem.per_channel
    kernel = solution.kernels if per_channel else solution.kernels[0]
    bias: float | np.ndarray | None = None
    if problem.bias:
        bias = solution.biases.copy() if per_channel else float(solution.biases[0])
    return KernelFit(
        kernel=kernel,
        bias=bias,
        kernel_size=problem.kernel_size,
        pads=problem.pads,
        border=problem.border,
        method=method,
        rmse=rmse,
        max_error=max_error,
        tolerance=problem.default_tolerance if tolerance is None else float(tolerance),
        condition_number=solution.condition_number,
        rank=solution.rank,
        unknowns=problem.unknowns,
        samples=samples,
        excluded=int(problem.mask.size - np.count_nonzero(problem.mask)),
        stderr=stderr,
        channels=int(problem.target.shape[0]),
        per_channel=per_channel,
        losses=list(losses or []),
    )


def fit_kernel(
    x: ArrayLike,
    y: ArrayLike,
    kernel_size: KernelSize,
    options: FitOptions | None = None,
    **given: Any,
) -> KernelFit:
    """Least-squares kernel (and bias) mapping ``x`` to ``y`` by cross-correlation.

    Parameters
    ----------
    x : array_like, shape (H, W) or (C, H, W)
        The input.
    y : array_like, shape (H_out, W_out) or (C, H_out, W_out)
        The target, with as many channels as ``x``. An integer dtype (8-bit image)
        sets the default tolerance to one level.
    kernel_size : (kh, kw)
    options : FitOptions, optional
        Padding, border (one mode), bias, per-channel kernels, mask, tolerance.
    **given
        The same fields as keywords (``border="reflect"``), laid over ``options``.

    Returns
    -------
    KernelFit
        ``fit.singular`` is true when the data cannot determine the kernel; then the
        kernel is the minimum-norm solution and :func:`learn_kernel` raises instead.

    Notes
    -----
    Each output pixel is one equation ``y[c,i,j] = sum_uv k[u,v] xp[c,i+u,j+v] + b``
    over the padded input ``xp``: ``A k = y``. ``A^T A`` and ``A^T y`` are summed a
    chunk of rows at a time (memory stays small on large images), the columns scaled to
    unit norm, and ``np.linalg.lstsq`` solves the normal equations with singular values
    below :data:`SINGULAR_RATIO` of the largest cut off. The condition number
    ``s_max / s_min`` is that of the column-scaled ``A``. Normal equations square it, so
    a problem with condition 1e4 keeps about 8 digits in float64: more than float32
    pixel data hold. (A QR of ``A`` itself was the first version: LAPACK's threaded QR
    on tall matrices was up to 100x slower on a busy two-core machine.)

    Examples
    --------
    >>> x = np.ones((6, 8)); x[:, 2:6] = 0
    >>> y = x[:, :-1] - x[:, 1:]
    >>> fit = fit_kernel(x, y, (1, 2))
    >>> fit.rounded_kernel().tolist(), fit.pads, fit.fits
    ([[1.0, -1.0]], (0, 0, 0, 0), True)
    """
    fit_options, _, descent = _options(options, None, given)
    if descent:
        raise TypeError(f"options only gradient descent takes: {', '.join(sorted(descent))}")
    problem = _set_up(x, y, kernel_size, fit_options)
    return _report(problem, _solve(problem), "lstsq", fit_options.tolerance)


_REPORT_EVERY = 4096  # gradient-descent steps between progress callbacks


@dataclass
class _Descent:
    """Gradient descent's moving parts: the kernels and biases it updates in place, which
    kernel each channel uses, and where the fitted pixels are."""

    kernels: np.ndarray  # (G, kh, kw)
    biases: np.ndarray  # (G,)
    group_of_channel: np.ndarray  # (C,) intp
    pixel_index: tuple[np.ndarray, ...]  # (channels, rows, columns) of the fitted pixels


def _per_pixel_pass(
    problem: _Problem, state: _Descent, order: np.ndarray, settings: DescentOptions
) -> None:
    """One epoch of per-pixel SGD steps, in ``order``, updating ``state`` in place.

    The default batch of one, written with Python ints and one window view per step:
    2.5x faster than the general batched step at batch size 1.
    """
    lr, bias, on_steps = settings.lr, problem.bias, settings.on_steps
    kernels, biases = state.kernels, state.biases
    channels, rows, columns = (index.tolist() for index in state.pixel_index)
    groups = state.group_of_channel[state.pixel_index[0]].tolist()
    windows, target = problem.windows, problem.target
    for done, pixel in enumerate(order.tolist(), start=1):
        channel, row, column, group = channels[pixel], rows[pixel], columns[pixel], groups[pixel]
        window = windows[channel, row, column]
        error = (
            float(np.vdot(window, kernels[group])) + biases[group] - target[channel, row, column]
        )
        kernels[group] -= (2.0 * lr * error) * window
        if bias:
            biases[group] -= 2.0 * lr * error
        if on_steps is not None and done % _REPORT_EVERY == 0:
            on_steps(_REPORT_EVERY)
    if on_steps is not None and order.size % _REPORT_EVERY:
        on_steps(order.size % _REPORT_EVERY)


def _batch_pass(
    problem: _Problem, state: _Descent, order: np.ndarray, settings: DescentOptions
) -> None:
    """One epoch of mini-batch steps (the gradient of the batch's mean squared error)."""
    pending = 0
    on_steps = settings.on_steps
    for start in range(0, order.size, settings.batch_size):
        batch = order[start : start + settings.batch_size]
        channels, rows, columns = (index[batch] for index in state.pixel_index)
        groups = state.group_of_channel[channels]
        windows = problem.windows[channels, rows, columns]
        predicted = np.einsum("bij,bij->b", windows, state.kernels[groups]) + state.biases[groups]
        errors = predicted - problem.target[channels, rows, columns]
        scale = 2.0 * settings.lr / batch.size
        np.add.at(state.kernels, groups, -scale * errors[:, None, None] * windows)
        if problem.bias:
            np.add.at(state.biases, groups, -scale * errors)
        pending += batch.size
        if on_steps is not None and pending >= _REPORT_EVERY:
            on_steps(pending)
            pending = 0
    if on_steps is not None and pending:
        on_steps(pending)


def _check_descent(settings: DescentOptions) -> None:
    if settings.epochs < 0:
        raise SpecError(f"--epochs must be >= 0, got {settings.epochs}")
    if not (math.isfinite(settings.lr) and settings.lr > 0):
        raise SpecError(f"--lr must be > 0, got {settings.lr}")
    if settings.batch_size < 1:
        raise SpecError(f"--batch-size must be >= 1, got {settings.batch_size}")


def _start_descent(problem: _Problem, rng: np.random.Generator) -> _Descent:
    """PyTorch's ``nn.Conv2d`` start: kernel and bias uniform in ``+-1/sqrt(kh*kw)``."""
    kernel_size = problem.kernel_size
    bound = 1.0 / math.sqrt(kernel_size[0] * kernel_size[1])
    group_count = len(problem.groups)
    kernels = rng.uniform(-bound, bound, (group_count, *kernel_size))
    biases = rng.uniform(-bound, bound, group_count) if problem.bias else np.zeros(group_count)
    group_of_channel = np.zeros(problem.target.shape[0], dtype=np.intp)
    for group, channels in enumerate(problem.groups):
        group_of_channel[channels] = group
    pixel_index = np.nonzero(problem.mask)
    if pixel_index[0].size == 0:
        raise ConvcliError("no target pixels left to fit (all excluded)")
    return _Descent(kernels, biases, group_of_channel, pixel_index)


#: A loss this many times the random start's is divergence, not a slow start (SGD's loss
#: wanders by 10x at a large --lr and still settles; a diverging one grows by 1e10 an epoch).
_DIVERGED = 1e6


def fit_kernel_gd(
    x: ArrayLike,
    y: ArrayLike,
    kernel_size: KernelSize,
    options: FitOptions | None = None,
    descent: DescentOptions | None = None,
    **given: Any,
) -> KernelFit:
    """Gradient descent on the squared error, as the seed material trains its 1x2 kernel.

    Parameters
    ----------
    x, y, kernel_size, options
        As for :func:`fit_kernel`.
    descent : DescentOptions, optional
        Epochs, learning rate, seed, batch size and the progress callbacks.
    **given
        Fields of either options object as keywords (``epochs=10, bias=True``).

    Returns
    -------
    KernelFit
        With ``method="gd"`` and ``losses`` = ``[(0, start), (1, ...), ...]``; the
        condition number is that of the same least-squares problem.

    Raises
    ------
    ConvcliError
        When the loss overflows (learning rate too large for the data's scale); the
        message suggests a stable rate.

    Notes
    -----
    Loss: ``L = mean_p (k . w_p + b - y_p)^2`` over target pixels ``p`` with windows
    ``w_p``. Each step moves ``k -= lr * 2 * mean_batch(e_p w_p)`` (and ``b`` by
    ``e_p``) over a shuffled batch. The initial kernel and bias are uniform in
    ``+-1/sqrt(kh*kw)``, PyTorch's default for ``nn.Conv2d``.

    Why per-pixel steps: with the seed's 6x8 example the mean loss has curvatures 1.43
    and 0.29 along ``[1,1]`` and ``[1,-1]``, so ten full-batch steps of 0.03 would barely
    leave the random start; ten passes of per-pixel steps (420 steps) reach
    ``[1,-1]`` to about 1e-2, like the seed's full-batch steps on the summed loss.

    Examples
    --------
    >>> x = np.ones((6, 8)); x[:, 2:6] = 0
    >>> fit = fit_kernel_gd(x, x[:, :-1] - x[:, 1:], (1, 2), seed=0)
    >>> fit.losses[-1][1] < fit.losses[0][1], np.allclose(fit.kernel, [[1, -1]], atol=0.05)
    (True, True)
    """
    fit_options, settings, _ = _options(options, descent, given)
    _check_descent(settings)
    problem = _set_up(x, y, kernel_size, fit_options)
    rng = np.random.default_rng(settings.seed)
    state = _start_descent(problem, rng)

    def loss() -> float:
        predicted = problem.predict(state.kernels, state.biases)
        errors = predicted[problem.mask] - problem.target[problem.mask]
        return float(np.mean(errors**2))

    losses = [(0, loss())]
    if settings.on_epoch is not None:
        settings.on_epoch(0, losses[0][1])
    one_pass = _per_pixel_pass if settings.batch_size == 1 else _batch_pass
    for epoch in range(1, settings.epochs + 1):
        one_pass(problem, state, rng.permutation(state.pixel_index[0].size), settings)
        current = loss()
        if not math.isfinite(current) or current > min(1e100, _DIVERGED * losses[0][1] or 1e100):
            largest = float(np.max(np.sum(problem.windows**2, axis=(-2, -1)))) + problem.bias
            raise ConvcliError(
                f"gradient descent diverged at epoch {epoch} (loss {current:.3g}): "
                f"--lr {settings.lr:g} is too large for this data; per-pixel steps are "
                f"stable below about {1.0 / largest:.2g}"
            )
        losses.append((epoch, current))
        if settings.on_epoch is not None:
            settings.on_epoch(epoch, current)
    # The same problem's conditioning, for the report; no standard error for GD.
    conditioning = _solve(problem)
    solution = _Solution(
        state.kernels,
        state.biases,
        conditioning.condition_number,
        conditioning.rank,
        np.zeros(len(problem.groups)),
    )
    return _report(problem, solution, "gd", fit_options.tolerance, losses)


def _interior_mask(
    target_size: KernelSize, in_size: KernelSize, kernel_size: KernelSize, pads: Pads2d
) -> np.ndarray:
    """Output pixels whose window lies wholly inside the input (no border mode involved)."""
    rows = np.arange(target_size[0])
    columns = np.arange(target_size[1])
    inside_rows = (rows >= pads[0]) & (rows + kernel_size[0] - 1 < pads[0] + in_size[0])
    inside_columns = (columns >= pads[2]) & (columns + kernel_size[1] - 1 < pads[2] + in_size[1])
    return inside_rows[:, np.newaxis] & inside_columns[np.newaxis, :]


def _describe_misfit(fit: KernelFit) -> str:
    return (
        f"RMSE {fit.rmse:.4g} and max error {fit.max_error:.4g} "
        f"(tolerance {fit.tolerance:.4g}) over {fit.samples:,} pixels"
    )


def _singular_message(fit: KernelFit) -> str:
    return (
        f"the system is singular (rank {fit.rank} of {fit.unknowns} unknowns): INPUT has "
        f"too little structure to determine a {format_size(fit.kernel_size)} kernel "
        "(a flat image is explained by any kernel with the same sum)"
    )


def _fit_one_size(
    inputs: np.ndarray,
    target: np.ndarray,
    kernel_size: KernelSize,
    options: FitOptions,
    borders: Sequence[str],
) -> tuple[KernelFit, str | None]:
    """Least squares for one kernel size, trying border modes only if they can matter.

    Returns the chosen fit and, when it does not fit, a note for the error message.
    """
    first = fit_kernel(inputs, target, kernel_size, replace(options, border=borders[0]))
    if first.fits or first.singular or first.pads == (0, 0, 0, 0) or len(borders) == 1:
        return first, None
    # The border mode changes only the edge pixels: if the interior does not fit either,
    # no other mode will, and one extra solve says so.
    interior = _interior_mask(target.shape[-2:], inputs.shape[-2:], kernel_size, first.pads)
    mask = interior if options.mask is None else np.asarray(options.mask, dtype=bool) & interior
    inner = fit_kernel(inputs, target, kernel_size, replace(options, border=borders[0], mask=mask))
    if inner.singular or not inner.fits:
        return first, None
    for border in borders[1:]:
        candidate = fit_kernel(inputs, target, kernel_size, replace(options, border=border))
        if candidate.fits:
            return candidate, None
    return first, (
        f"the interior fits (max error {inner.max_error:.4g}) but no border mode "
        f"({', '.join(borders)}) explains the edge pixels"
    )


@dataclass
class _Search:
    """What trying kernel sizes found: misfitting fits, sizes that could not be, and a
    line per size for the report."""

    sizes: list[KernelSize]
    explicit: bool  # one size was asked for: its failures are raised, not searched past
    fits: list[KernelFit] = field(default_factory=list)
    geometry_errors: list[str] = field(default_factory=list)
    searched: list[tuple[KernelSize, str]] = field(default_factory=list)
    note: str | None = None

    def attempt(
        self,
        inputs: np.ndarray,
        target: np.ndarray,
        size: KernelSize,
        options: tuple[FitOptions, Sequence[str]],
    ) -> KernelFit | None:
        """The fit for ``size``, or None when the sizes cannot match or it is singular."""
        try:
            fit, note = _fit_one_size(inputs, target, size, *options)
        except SizeMismatchError as error:
            if self.explicit:
                raise
            self.geometry_errors.append(str(error))
            self.searched.append((size, "sizes do not match"))
            return None
        if fit.singular:
            if self.explicit:
                raise ConvcliError(_singular_message(fit))
            self.searched.append((size, "singular"))
            return None
        self.searched.append((size, "fits" if fit.fits else f"max error {fit.max_error:.4g}"))
        if not fit.fits:
            self.fits.append(fit)
            self.note = self.note or note
        return fit

    def result(self, fit: KernelFit) -> KernelFit:
        return fit if self.explicit else replace(fit, searched=self.searched)

    def failure(self, shapes: tuple[Sequence[int], Sequence[int]], padding: object) -> ConvcliError:
        """No size gave a usable fit: the sizes cannot match, or every system is singular."""
        first, last = format_size(self.sizes[0]), format_size(self.sizes[-1])
        if len(self.geometry_errors) == len(self.sizes):
            how = "any padding" if padding is None else f"padding {padding!r}"
            in_size, target_size = shapes
            return SizeMismatchError(
                f"no kernel from {first} to {last} explains TARGET {format_size(target_size)} "
                f"from INPUT {format_size(in_size)} with {how} (and more target pixels than "
                f"unknowns); {_size_hint(in_size, target_size)}"
            )
        return ConvcliError(
            "the system is singular for every kernel size tried: INPUT has too little "
            "structure to determine a kernel (a flat image?)"
        )

    def misfit(self, best: KernelFit) -> NoFitError:
        if self.explicit:
            what = f"no linear {format_size(best.kernel_size)} kernel fits: the best leaves"
        else:
            what = (
                f"no linear kernel from {format_size(self.sizes[0])} to "
                f"{format_size(self.sizes[-1])} fits: the best, "
                f"{format_size(best.kernel_size)}, leaves"
            )
        message = (
            f"{what} {_describe_misfit(best)}; TARGET is not a linear filter of INPUT with "
            "this kernel size, padding and border (--tol sets the tolerance, "
            "--allow-misfit shows the best kernel anyway)"
        )
        if self.note:
            message += f"; {self.note}"
        return NoFitError(message, best)


def _borders(border: str | Sequence[str]) -> list[str]:
    borders = [border] if isinstance(border, str) else list(border)
    if not borders:
        raise ValueError("border must name at least one border mode")
    for mode in borders:
        check_padding_mode(mode)
    return borders


def learn_kernel(
    x: ArrayLike,
    y: ArrayLike,
    kernel_size: KernelSize | None = None,
    options: FitOptions | None = None,
    descent: DescentOptions | None = None,
    *,
    method: str = "lstsq",
    require_fit: bool = True,
    candidates: Sequence[KernelSize] = SIZE_CANDIDATES,
    **given: Any,
) -> KernelFit:
    """Recover the kernel that maps ``x`` to ``y``: the front door of this module.

    Parameters
    ----------
    x : array_like, shape (H, W) or (C, H, W)
    y : array_like, shape (H_out, W_out) or (C, H_out, W_out)
    kernel_size : (kh, kw), optional
        ``None`` tries ``candidates`` smallest first and keeps the first that fits
        (least squares only).
    options : FitOptions, optional
        As for :func:`fit_kernel`, except that ``border`` may list several modes to try
        in order of preference: the first is used, and the others only when the interior
        pixels fit but the edge pixels do not.
    descent : DescentOptions, optional
        Gradient descent only (``method="gd"``).
    method : {"lstsq", "gd"}
        Least squares (:func:`fit_kernel`) or gradient descent (:func:`fit_kernel_gd`).
    require_fit : bool
        Least squares only: raise when no kernel fits within the tolerance, rather than
        return the best (misfitting) one.
    candidates : sequence of (kh, kw)
        Sizes tried when ``kernel_size`` is None.
    **given
        Fields of either options object as keywords (``border="reflect", bias=True``).

    Returns
    -------
    KernelFit

    Raises
    ------
    ConvcliError
        Mismatched channel counts; sizes no padding of the kernel explains (naming the
        sizes that would fit); a singular system (a flat image); least squares that
        leave a residual above the tolerance ("no linear kernel of this size fits",
        with the residual), unless ``require_fit`` is false.
    SpecError
        ``method="gd"`` without a kernel size, or an unknown method.

    Examples
    --------
    >>> x = np.ones((6, 8)); x[:, 2:6] = 0
    >>> fit = learn_kernel(x, x[:, :-1] - x[:, 1:])
    >>> fit.kernel_size, fit.rounded_kernel().tolist()
    ((1, 2), [[1.0, -1.0]])
    """
    fit_options, settings, descent_given = _options(options, descent, given)
    borders = _borders(fit_options.border)
    if fit_options.tolerance is None:  # from y as given: an integer dtype means rounded levels
        fit_options = replace(fit_options, tolerance=default_tolerance(y))
    if method == "gd":
        if kernel_size is None:
            raise SpecError("--method gd needs --size: the size search uses least squares")
        return fit_kernel_gd(x, y, kernel_size, replace(fit_options, border=borders[0]), settings)
    if method != "lstsq":
        raise SpecError(f"--method must be lstsq or gd, got {method!r}")
    if descent_given:
        raise TypeError(f"options only gradient descent takes: {', '.join(sorted(descent_given))}")
    inputs, target = _as_chw(x, "INPUT"), _as_chw(y, "TARGET")
    if inputs.shape[0] != target.shape[0]:  # the same check fit_kernel makes, said first
        _set_up(inputs, target, (1, 1), FitOptions(padding="valid"))
    search = _Search([kernel_size] if kernel_size is not None else list(candidates),
                     explicit=kernel_size is not None)  # fmt: skip
    for size in search.sizes:
        fit = search.attempt(inputs, target, size, (fit_options, borders))
        if fit is not None and (fit.fits or (not require_fit and search.explicit)):
            return search.result(fit)
    if not search.fits:
        raise search.failure((inputs.shape[-2:], target.shape[-2:]), fit_options.padding)
    best = min(search.fits, key=lambda item: item.rmse)
    if not require_fit:
        return search.result(best)
    raise search.misfit(best)


# --------------------------------------------------------------------------------------------
# From operands as read (convcli.imageio.read_operand_pair) to a fit: what `convcli learn` does
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LearnRequest:
    """Everything ``convcli learn`` asks besides its two operands.

    Attributes
    ----------
    kernel_size : (kh, kw) or None
        None searches :data:`SIZE_CANDIDATES`.
    padding : padding spec or None
        None infers it from the sizes.
    border : str or None
        None: reflect first for an image INPUT, zeros for a matrix, then the other modes.
    bias, per_channel : bool
        As in :class:`FitOptions`.
    map_mode : {"auto", "raw", "clip", "offset"}
        How ``apply --map`` brought an 8/16-bit TARGET to its range (see :func:`prepare`).
    gray : bool
        Fit BT.601 luma of colour images (as ``apply --gray``).
    tolerance : float or None
        Largest |error| still a fit, in TARGET's units; None: 1 level or 1e-5 of the range.
    method : {"lstsq", "gd"}
    descent : DescentOptions
        Gradient descent's settings and callbacks.
    allow_misfit : bool
        Return the best kernel even when it does not fit.
    """

    kernel_size: KernelSize | None = None
    padding: PaddingLike | None = None
    border: str | None = None
    bias: bool = False
    per_channel: bool = False
    map_mode: str = "auto"
    gray: bool = False
    tolerance: float | None = None
    method: str = "lstsq"
    descent: DescentOptions = field(default_factory=DescentOptions)
    allow_misfit: bool = False


@dataclass
class PreparedTarget:
    """INPUT and TARGET ready for the solver, and the words to describe the fit.

    Attributes
    ----------
    inputs : ndarray, shape (C, H, W)
    values : ndarray, shape (C, H_out, W_out)
        TARGET with what ``apply --map`` did undone (offset, depth scaling).
    mask : ndarray of bool, shape (C, H_out, W_out)
        The pixels to fit (clipped ones left out).
    tolerance : float or None
    units : str
        ``"8-bit levels"``, ``"16-bit levels"``, ``"TARGET's units"``...
    map_mode : str
        The ``--map`` resolved (``auto`` decided).
    borders : list of str
        Border modes to try, in order.
    excluded_reason : str or None
        Why pixels were left out (for the report).
    notes : list of str
        For stderr: the operands' notes and this preparation's.
    lossy : str or None
        TARGET's file format when it compresses with loss (``"JPEG"``).
    """

    inputs: np.ndarray
    values: np.ndarray
    mask: np.ndarray
    tolerance: float | None
    units: str
    map_mode: str
    borders: list[str]
    excluded_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    lossy: str | None = None

    @property
    def pixels(self) -> int:
        """Target pixels that enter the fit."""
        return int(np.count_nonzero(self.mask))

    def report(self) -> FitContext:
        """The words the renderers print beside a fit."""
        return FitContext(self.units, self.excluded_reason, self.map_mode)


@dataclass(frozen=True)
class FitContext:
    """What a fit is measured in and what was left out, for the report.

    Attributes
    ----------
    units : str
        ``"8-bit levels"``, ``"TARGET's units"``...
    excluded_reason : str or None
        Why target pixels were left out (``"saturated at 0 or 255"``).
    map_mode : str
        The ``--map`` the target was read with.
    """

    units: str = "TARGET's units"
    excluded_reason: str | None = None
    map_mode: str = "raw"


_DEPTH_UNITS = {255.0: "8-bit levels", 65535.0: "16-bit levels"}


def _luma(values: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (1, H, W) float32 BT.601 luma for RGB; anything else unchanged."""
    from convcli.pipeline import to_gray

    if values.shape[0] != 3:
        return values
    return np.asarray(to_gray(values.astype(np.float32), has_alpha=False))


def _resolve_map(target: Operand, map_mode: str) -> str:
    integer = target.values.dtype.kind in "ui"
    mode = map_mode
    if mode == "auto":
        mode = "clip" if target.kind == "image" and integer else "raw"
    if mode in ("clip", "offset") and target.kind != "image":
        raise SpecError(
            f"--map {mode} describes an image target's pixel range; TARGET "
            f"'{target.name}' is a matrix (its values are used as they are)"
        )
    return mode


def _depth_scale(source: Operand, target: Operand) -> tuple[float, list[str]]:
    """apply scales to the output's depth (8-bit in, 16-bit out: x 257): the factor that
    undoes it, so the kernel comes out in the input's units."""
    if source.kind != "image" or target.kind != "image" or source.full_scale == target.full_scale:
        return 1.0, []
    source_scale, target_scale = float(source.full_scale or 1), float(target.full_scale or 1)
    return source_scale / target_scale, [
        f"TARGET is scaled by {target_scale / source_scale:g} against INPUT (full scale "
        f"{target_scale:g} vs {source_scale:g}); the fit undoes it"
    ]


def border_order(border: str | None, kind: str) -> list[str]:
    """The border mode asked for, or the kind's default first and the others after.

    Examples
    --------
    >>> border_order(None, "image")[:2], border_order("zeros", "image")
    (['reflect', 'zeros'], ['zeros'])
    """
    from convcli.core.padding import PADDING_MODES

    if border is not None:
        return [border]
    first = "reflect" if kind == "image" else "zeros"
    return [first, *(mode for mode in PADDING_MODES if mode != first)]


def prepare(source: Operand, target: Operand, request: LearnRequest) -> PreparedTarget:
    """Undo what ``apply --map`` did, where it can be undone, and say which pixels to fit.

    ``clip`` cut values to ``0 .. full scale``: those pixels no longer depend linearly on
    the input, so they are left out. ``offset`` added ``full scale / 2`` (127.5 in 8
    bits) before the same cut: it is subtracted again. The kernel then comes out in the
    input's units, the one ``apply`` used. ``gray`` takes luma of colour operands after
    the mask was made (a pixel is fitted only if all three channels were).

    Parameters
    ----------
    source, target : convcli.imageio.Operand
        INPUT and TARGET as :func:`convcli.imageio.read_operand_pair` reads them.
    request : LearnRequest
        ``map_mode``, ``tolerance``, ``gray``, ``border`` and (for the step limit)
        ``method`` and ``descent.epochs`` are used here.

    Returns
    -------
    PreparedTarget

    Raises
    ------
    SpecError
        ``--map clip/offset`` on a matrix target; gradient descent with more steps than
        :data:`convcli.limits.MAX_DESCENT_STEPS`.
    """
    values = target.values
    integer = values.dtype.kind in "ui"
    mode = _resolve_map(target, request.map_mode)
    units = _DEPTH_UNITS.get(float(target.full_scale or 0), "TARGET's units")
    scale, notes = _depth_scale(source, target)
    tolerance = request.tolerance
    mask = np.ones(values.shape, dtype=bool)
    excluded_reason = None
    if mode in ("clip", "offset"):
        full_scale = float(target.full_scale or 0)
        mask = (values > 0) & (values < full_scale)
        excluded_reason = f"saturated at 0 or {full_scale:g}"
    if mode == "offset" or scale != 1.0:
        shifted = values.astype(np.float64)
        if mode == "offset":
            shifted -= float(target.full_scale or 0) / 2
        values = shifted * scale
        if tolerance is None:
            tolerance = scale if integer else max(1e-5 * float(np.max(np.abs(values))), 1e-9)
        units = _DEPTH_UNITS.get(float(source.full_scale or 0), "INPUT's units")
    inputs = source.values
    if request.gray:
        inputs = _luma(inputs)
        if values.shape[0] == 3:
            # Luma of rounded levels is within half a level of the truth too (the weights
            # sum to 1), so the tolerance stays 1 level.
            if tolerance is None and values.dtype.kind in "ui":
                tolerance = 1.0
            values, mask = _luma(values), np.all(mask, axis=0, keepdims=True)
    prepared = PreparedTarget(
        inputs, values, mask, tolerance, units, mode,
        border_order(request.border, source.kind), excluded_reason,
        [*source.notes, *target.notes, *notes], target.format if target.lossy else None,
    )  # fmt: skip
    _check_steps(prepared, request)
    return prepared


def _check_steps(prepared: PreparedTarget, request: LearnRequest) -> None:
    if request.method != "gd":
        return
    steps = request.descent.epochs * prepared.pixels
    if steps > MAX_DESCENT_STEPS:
        raise SpecError(
            f"--epochs {request.descent.epochs} over {prepared.pixels:,} target pixels is "
            f"{steps:,} descent steps, more than {MAX_DESCENT_STEPS:,}; use fewer epochs "
            "(or least squares, which is exact)"
        )


def _misfit_advice(prepared: PreparedTarget) -> str:
    """What to try when no kernel fits, from what is known about TARGET."""
    if prepared.lossy:
        return (
            f"TARGET is a {prepared.lossy} file, whose lossy compression moved its pixels "
            "by more than rounding: raise --tol to the error you accept (the max error "
            "above), or use a lossless TARGET (PNG, TIFF, .npy)"
        )
    if prepared.map_mode == "clip" and prepared.units.endswith("levels"):
        return (
            "if TARGET came from `apply` with --map abs (its default for edge kernels such "
            "as sobel-x) the sign is lost: write .npy, or use --map offset in apply and here"
        )
    return ""


def solve(prepared: PreparedTarget, request: LearnRequest) -> KernelFit:
    """The kernel for a prepared pair (:func:`prepare`), by the method asked.

    Raises
    ------
    NoFitError
        No kernel fits within the tolerance (unless ``allow_misfit``); the message ends
        with advice from what TARGET is (lossy JPEG, an 8-bit ``--map`` target).
    """
    options = FitOptions(
        padding=request.padding,
        border=prepared.borders,
        bias=request.bias,
        per_channel=request.per_channel,
        mask=prepared.mask,
        tolerance=prepared.tolerance,
    )
    try:
        return learn_kernel(
            prepared.inputs,
            prepared.values,
            request.kernel_size,
            options,
            request.descent if request.method == "gd" else None,
            method=request.method,
            require_fit=not request.allow_misfit,
        )
    except NoFitError as error:
        advice = _misfit_advice(prepared)
        if not advice:
            raise
        raise NoFitError(f"{error}; {advice}", error.fit) from None


def _size_hint(in_size: Sequence[int], target_size: Sequence[int]) -> str:
    fitting = [size - target + 1 for size, target in zip(in_size, target_size, strict=True)]
    if min(fitting) >= 1:
        return f"a {format_size(fitting)} kernel fits these sizes with no padding"
    return "TARGET is larger than INPUT plus any kernel's 'full' padding"
