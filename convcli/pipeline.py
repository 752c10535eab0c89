"""Run ``-k`` steps on an array, and the colour handling around them. Pure NumPy.

An image or matrix arrives here as a ``(C, H, W)`` float32 array (PyTorch's layout, the
core's); :func:`run_steps` passes it through the steps left to right. Around that,
:func:`filter_picture` does what images need and matrices do not:

1. ``--gray``: ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B``, Pillow's ``L``;
2. ``--linear``: decode sRGB to linear light, filter, encode back;
3. alpha: colour multiplied by alpha before filtering and divided by the filtered alpha
   after, so the colour hidden under transparent pixels never bleeds into the result;
4. ``--map``: bring the results back to ``0 .. full scale`` (see :func:`map_values`).

Defaults differ by kind on purpose: images keep their size (``padding="same"``, border
``reflect``), matrices follow PyTorch (padding 0, zeros).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import field

import numpy as np

from convcli._records import dataclass
from convcli.core._engines import rows_independent
from convcli.core.conv import choose_algorithm, conv2d
from convcli.core.padding import PaddingLike, resolve_padding
from convcli.core.pool import (
    avg_pool2d,
    choose_median_for,
    max_pool2d,
    median_filter2d,
    min_pool2d,
    pool_output_size,
)
from convcli.errors import ConvcliError, SpecError
from convcli.geometry import conv_output_size, dropped_inputs, effective_kernel
from convcli.kernels import KernelStep, PoolStep
from convcli.numbers import format_number
from convcli.peers import fixed_point_blur

__all__ = [
    "MAP_MODES",
    "LUMA_WEIGHTS",
    "StepOptions",
    "StepReport",
    "PictureResult",
    "PlannedStep",
    "StripPlan",
    "filter_picture",
    "linear_to_srgb",
    "map_values",
    "mixes_channels",
    "plan_picture_strips",
    "plan_strips",
    "prepare_steps",
    "resolve_map",
    "result_range",
    "run_steps",
    "srgb_to_linear",
    "to_gray",
]

#: ``--map`` choices.
MAP_MODES: tuple[str, ...] = ("auto", "clip", "abs", "offset", "minmax", "raw")

#: ITU-R BT.601 luma weights for R, G, B (what Pillow's ``convert("L")`` uses).
LUMA_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)

# Alpha (as a fraction of full scale) at or below which a pixel counts as fully transparent.
_TRANSPARENT = 1e-6

Step = KernelStep | PoolStep


@dataclass(frozen=True, eq=False)
class StepOptions:
    """The global options that apply to kernel steps which do not set their own.

    Attributes
    ----------
    stride, dilation : (int, int) or None
        ``--stride`` / ``--dilation``; None is 1.
    padding : PaddingLike or None
        ``--padding``; None is the kind's default (images ``"same"``, matrices 0).
    border : str or None
        ``--border``; None is the kind's default (images ``reflect``, matrices ``zeros``).
    convolve : bool
        ``--convolve``: flip every kernel (true convolution).
    normalize : bool
        ``--normalize``: divide every kernel by its sum.
    bias : ndarray, shape (C_out,) or (1,), or None
        ``--bias``, added by the chain's only kernel step.
    """

    stride: tuple[int, int] | None = None
    padding: PaddingLike | None = None
    dilation: tuple[int, int] | None = None
    border: str | None = None
    convolve: bool = False
    normalize: bool = False
    bias: np.ndarray | None = None


@dataclass
class StepReport:
    """What one step did, for ``--explain``.

    Attributes
    ----------
    index : int
        1-based position in the chain.
    text : str
        The STEP as typed.
    in_shape, out_shape : tuple of int
        ``(C, H, W)`` before and after.
    operation : str
        ``"depthwise 3x3 kernel"``, ``"3-D kernel summing 3 channels"``, ``"max pool 2x2"``...
    pads : (top, bottom, left, right) or None
        Pads applied (None when the step pads nothing itself, e.g. pools without ``p=``).
    border : str or None
        How the padding was filled.
    algorithms : list of (label, name, reason)
        The core's choice for each convolution the step ran (two for a magnitude).
    warnings : list of str
        What the step's geometry loses, for stderr: ``"step 2 'maxpool:2': floor division
        drops 1 input row at the bottom"`` (the wording of ``convcli shape``).
    """

    index: int
    text: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    operation: str
    pads: tuple[int, int, int, int] | None = None
    border: str | None = None
    algorithms: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


def mixes_channels(step: Step) -> bool:
    """True for 3-D and 4-D kernels: they combine channels instead of filtering each."""
    return isinstance(step, KernelStep) and step.weight.ndim >= 3


def float32_changes(values: np.ndarray, name: str) -> list[str]:
    """Notes for values that float32, which convcli computes in, changes beyond rounding.

    Whole numbers past 2^24 = 16,777,216 that become another whole number (a count or an
    ID), and values all below float32's smallest (1.4e-45), which become 0. Fractions
    rounding to float32's 7 digits is the documented working precision and is not noted.

    Parameters
    ----------
    values : ndarray, any shape
        The numbers as read (float64).
    name : str
        What holds them, as messages name it (``"--matrix"``, ``"step 1 '16777217'"``).

    Returns
    -------
    list of str
        One note at most.

    >>> (note,) = float32_changes(np.array([16777217.0, 1.0]), "--matrix")
    >>> note.endswith("(e.g. 16777217 -> 16777216)")
    True
    >>> float32_changes(np.array([0.1, 3.0]), "--matrix")
    []
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    largest = float(np.abs(flat).max()) if flat.size else 0.0
    if largest and not np.float32(largest):  # subnormals keep some digits; these keep none
        return [f"{name}: every value is below float32's smallest (1.4e-45) and becomes 0"]
    if largest <= 2**24:
        return []
    # Up to 2^53 a whole float64 is an exact integer (a count, an ID); past it every float64
    # is whole, and 3e38 was written as a float.
    whole = (flat == np.round(flat)) & (np.abs(flat) <= 2**53)
    changed = whole & (flat != flat.astype(np.float32))
    count = int(np.count_nonzero(changed))
    if not count:
        return []
    first = float(flat[int(np.argmax(changed))])
    return [f"{name}: {count:,} whole number{'s' if count > 1 else ''} past 2^24 (16,777,216) "
            f"changed in float32, which convcli computes in (e.g. {first:.0f} -> "
            f"{float(np.float32(first)):.0f})"]  # fmt: skip


def told_before_work(steps: Sequence[Step], options: StepOptions) -> list[str]:
    """Every line to say about a chain before any work, prefixed ``note:`` or ``warning:``:
    how each step was read (an ImageMagick name), how float32 changes its kernels
    (:func:`kernel_notes`), and what may not be what was meant (:func:`chain_warnings`).

    Parameters
    ----------
    steps : sequence of KernelStep or PoolStep
        The chain.
    options : StepOptions
        The global options.

    Returns
    -------
    list of str
        Lines for stderr, in that order.
    """
    read = [f"note: {line}" for s in steps if isinstance(s, KernelStep) for line in s.notes]
    return (
        read
        + [f"note: {line}" for line in kernel_notes(steps)]
        + [f"warning: {line}" for line in chain_warnings(steps, options)]
    )


def kernel_notes(steps: Sequence[Step]) -> list[str]:
    """How float32 changes the chain's kernels (:func:`float32_changes`), one note each, as
    a matrix's values get.

    Parameters
    ----------
    steps : sequence of KernelStep or PoolStep
        The chain.

    Returns
    -------
    list of str
        Notes naming the step.

    >>> from convcli.kernels import parse_step
    >>> kernel_notes([parse_step("16777217")])[0][:40]
    "step 1 '16777217': 1 whole number past 2"
    """
    return [
        line
        for index, step in enumerate(steps, start=1)
        if isinstance(step, KernelStep)
        for line in float32_changes(step.weight, _where(index, step))
    ]


def chain_warnings(steps: Sequence[Step], options: StepOptions) -> list[str]:
    """What may not be what was meant in a chain, whatever its input: said once, before
    any file (a batch's thousand files would repeat it).

    Kernels that are all zero (``log:1,size=2``: the output is constant), and global
    options that no step takes (``-k maxpool:2 -s 1`` once ran at stride 2 without a word).
    How float32 changes a kernel's taps is a note on reading it (:func:`kernel_notes`).

    Parameters
    ----------
    steps : sequence of KernelStep or PoolStep
        The chain, prepared (see :func:`prepare_steps`).
    options : StepOptions
        The global options.

    Returns
    -------
    list of str
        One line per doubt, naming the step or the option.

    >>> from convcli.kernels import parse_step
    >>> chain_warnings([parse_step("maxpool:2")], StepOptions(stride=(1, 1)))[0][:45]
    '-s/--stride 1 reaches no step: kernel steps t'
    """
    told = [
        f"{_where(index, step)}: every tap of the kernel is 0: the output is constant"
        for index, step in enumerate(steps, start=1)
        if isinstance(step, KernelStep) and not np.any(step.weight)  # log:1,size=2
    ]
    return told + _options_no_step_takes(steps, options)


def _options_no_step_takes(steps: Sequence[Step], options: StepOptions) -> list[str]:
    """-s, -d and --border given where no step takes them: a pool keeps its own stride and
    takes no dilation; its padding never wins (max, min) or counts as zeros (avg)."""
    kernels = [step for step in steps if isinstance(step, KernelStep)]
    pools = [step for step in steps if isinstance(step, PoolStep)]
    told = []
    if options.stride is not None and all(kernel.stride is not None for kernel in kernels):
        other = [p for p in pools if not _gives(p, "s") and p.stride != options.stride]
        if other:
            told.append(
                f"-s/--stride {_pair_text(options.stride)} reaches no step: kernel steps take "
                f"it; '{other[0].text.strip()}' keeps its stride {_pair_text(other[0].stride)} "
                "(give it its own: s=)"
            )
    if options.dilation not in (None, (1, 1)) and all(k.dilation is not None for k in kernels):
        told.append("-d/--dilation reaches no step: kernel steps take it; pools take none")
    border_takers = [k for k in kernels if k.border is None] + [
        p for p in pools if p.op == "median"
    ]
    padded = [p for p in pools if p.op != "median" and (options.padding or _gives(p, "p"))]
    if options.border not in (None, "zeros") and not border_takers and padded:
        told.append(
            f"--border {options.border} reaches no step: kernel and median steps take it; a "
            "pool's padding never wins (max, min) or counts as zeros (avg), as in PyTorch"
        )
    return told


def prepare_steps(steps: Sequence[Step], options: StepOptions) -> list[Step]:
    """Apply ``--convolve`` (flip) and ``--normalize`` (divide by the sum) to kernel steps."""
    prepared: list[Step] = []
    for step in steps:
        if isinstance(step, KernelStep):
            if options.convolve:
                step = step.flipped()
            if options.normalize:
                step = step.normalized()
        prepared.append(step)
    return prepared


def _where(index: int, step: Step) -> str:
    return f"step {index} '{step.text.strip()}'"


def _pair_text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _pads_text(pads: tuple[int, int, int, int]) -> str:
    return str(pads[0]) if len(set(pads)) == 1 else ",".join(map(str, pads))


def _gives(step: PoolStep, key: str) -> bool:
    """Whether ``KEY=`` was typed in the step (PoolStep keeps a default otherwise)."""
    return re.search(rf"[:,]\s*{key}\s*=", step.text) is not None


def step_padding(step: Step, options: StepOptions | None, default: PaddingLike) -> PaddingLike:
    """The padding ``step`` runs with: its own ``p=``, else ``--padding``, else ``default``
    for kernel and median steps (images ``"same"``: they keep the size; matrices 0) and 0
    for pools (PyTorch's). The one rule of the pipeline and of the paper walk in
    :mod:`convcli.limits`.

    Parameters
    ----------
    step : Step
        A parsed kernel or pool step.
    options : StepOptions or None
        The global options (``--padding``); None when there are none.
    default : PaddingLike
        The kind's default for kernel and median steps (images ``"same"``, matrices 0).

    >>> from convcli.kernels import parse_step
    >>> step_padding(parse_step("maxpool:2"), StepOptions(padding=1), "same")
    1
    >>> step_padding(parse_step("median:3"), None, "same")
    'same'
    >>> step_padding(parse_step("maxpool:2"), None, "same")
    0
    """
    if isinstance(step, KernelStep):
        if step.padding is not None:  # parse_padding's forms: a PaddingSpec
            return step.padding
    elif _gives(step, "p"):
        return step.padding
    given = options.padding if options is not None else None
    if given is not None:
        return given
    return default if isinstance(step, KernelStep) or step.op == "median" else 0


def _dropped_warnings(
    planned: PlannedStep, in_size: Sequence[int], out_size: Sequence[int], kernel: Sequence[int]
) -> list[str]:
    """Rows and columns at the far end that no window reads, as ``convcli shape`` warns
    for the same geometry (a window narrower than its stride skips rows between windows
    by design: only rows past the last window's reach count)."""
    warnings = []
    for axis, (name, end) in enumerate((("row", "bottom"), ("column", "right"))):
        stride, dilation = planned.stride[axis], planned.dilation[axis]
        dropped = dropped_inputs(
            in_size[axis], out_size[axis], kernel[axis], stride, planned.pads[2 * axis], dilation
        )
        dropped -= max(0, min(dropped, stride - effective_kernel(kernel[axis], dilation)))
        if dropped > 0:
            plural = "s" if dropped > 1 else ""
            warnings.append(
                f"{planned.where}: floor division drops {dropped} input {name}{plural} at the {end}"
            )
    return warnings


def _conv_weight(weight: np.ndarray, channels: int, where: str) -> tuple[np.ndarray, int, str]:
    """The 4-D weight and groups for ``weight`` on ``channels`` channels, and a description."""
    kernel = "x".join(str(n) for n in weight.shape[-2:])
    if weight.ndim == 2:
        stacked = np.broadcast_to(weight, (channels, 1, *weight.shape))
        what = f"{kernel} kernel" + (f", depthwise on {channels} channels" if channels > 1 else "")
        return stacked, channels, what
    if weight.ndim == 3:
        if weight.shape[0] != channels:
            raise ConvcliError(
                f"{where}: a 3-D kernel {weight.shape[0]}x{kernel} (C_in x kh x kw) sums over "
                f"{weight.shape[0]} input channels, the input has {channels}"
            )
        return weight[None], 1, f"{weight.shape[0]}x{kernel} kernel summing {channels} channels"
    out_channels, group_in = weight.shape[:2]
    if group_in == 0 or channels % group_in:
        raise ConvcliError(
            f"{where}: a 4-D kernel {tuple(weight.shape)} takes {group_in} input channels "
            f"(per group), the input has {channels}"
        )
    groups = channels // group_in
    if out_channels % groups:
        raise ConvcliError(
            f"{where}: a 4-D kernel {tuple(weight.shape)} on {channels} channels needs "
            f"groups={groups}, which does not divide its {out_channels} output channels"
        )
    grouped = f", groups={groups}" if groups > 1 else ""
    return weight, groups, f"conv layer {channels}->{out_channels}, {kernel}{grouped}"


@dataclass
class _ConvPass:
    """One ``conv2d`` call of a kernel step (a magnitude step makes two)."""

    label: str
    weight: np.ndarray  # (C_out, C_in/groups, kh, kw), float32
    bias: np.ndarray | None
    groups: int
    algorithm: str


@dataclass
class PlannedStep:
    """One step with everything resolved for an input of a known shape.

    Attributes
    ----------
    step : KernelStep or PoolStep
    where : str
        ``"step 2 'sobel'"``, the prefix of this step's error messages.
    report : StepReport
        Shapes, pads, border and the core's algorithm choice, for ``--explain``.
    pads : (top, bottom, left, right)
        For kernel and median steps: the pads resolved on the whole input.
    stride, dilation : (int, int)
    border : str
    passes : list
        The ``conv2d`` calls of a kernel step, each with the algorithm the core chose for
        the whole input (strips reuse it, so they compute exactly what the whole would).
    """

    step: Step
    where: str
    report: StepReport
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    border: str = "zeros"
    passes: list[_ConvPass] = field(default_factory=list)

    @property
    def keeps_rows(self) -> bool:
        """Whether strips of rows can run this step: one output row per input row, at
        stride 1, each reading a fixed band of neighbours (its vertical pads), and a
        border that needs only rows near its own edge (not ``circular``)."""
        if isinstance(self.step, PoolStep) and self.step.op != "median":
            return False
        if self.stride != (1, 1) or self.report.in_shape[-2:] != self.report.out_shape[-2:]:
            return False
        if self.border == "circular" and (self.pads[0] or self.pads[1]):
            return False
        # A strip rounds like the whole only if each output row is computed on its own:
        # not by FFT (the transform size depends on the band) nor by one BLAS product per
        # band (BLAS rounds by the product's shape), see core._engines.rows_independent.
        return all(rows_independent(p.algorithm, p.weight.shape, p.groups) for p in self.passes)

    def _gated(self, x: np.ndarray, result: np.ndarray, top_edge: bool) -> np.ndarray:
        """``unsharp`` with ``threshold=``: keep the input where the change is smaller than
        the gate. The output row ``i`` of a strip is its input row ``i + top pad`` unless the
        strip starts at the image's top (its pads are the image's)."""
        assert isinstance(self.step, KernelStep)
        first = 0 if top_edge else self.pads[0]
        source = x[:, first : first + result.shape[1]]
        if source.shape != result.shape:
            raise ConvcliError(
                f"{self.where}: threshold= compares the result with the input, so it needs "
                f"an output the size of the input (stride 1, padding same); got "
                f"{result.shape[1]}x{result.shape[2]} from {x.shape[1]}x{x.shape[2]}"
            )
        keep = np.abs(result - source) < np.float32(self.step.gate)
        return np.where(keep, source, result).astype(np.float32, copy=False)

    def _runs_fixed_point(self, x: np.ndarray) -> bool:
        """Whether ``--like vips``'s integer blur applies: whole values 0..255 (8 bits), at
        stride and dilation 1, with the centred pads it was made for."""
        assert isinstance(self.step, KernelStep)
        mask = self.step.fixed_point
        if mask is None or (self.stride, self.dilation) != ((1, 1), (1, 1)):
            return False
        half = len(mask.taps) // 2
        if (self.pads[2], self.pads[3]) != (half, half) or self.pads[0] != self.pads[1]:
            return False
        return bool(x.size and x.min() >= 0 and x.max() <= 255 and (x == np.floor(x)).all())

    def run(
        self, x: np.ndarray, top_edge: bool = True, bottom_edge: bool = True, rows_from: int = 0
    ) -> np.ndarray:
        """Run the step on ``x``, the whole input or a strip of its rows.

        A strip that does not touch the image's top (bottom) edge is not padded there:
        its extra rows are the halo, consumed by the kernel, so each output row sees the
        same neighbours it would see in the whole image (and the core anchors its box
        sums to the image's rows, from ``rows_from``).

        Parameters
        ----------
        x : ndarray, shape (C, H, W), float32
            The whole input, or a strip of its rows with the halo the plan gave it.
        top_edge, bottom_edge : bool
            Whether ``x`` starts (ends) at the image's top (bottom) edge, where the step pads.
        rows_from : int
            The row of the step's whole input at which ``x`` starts (0 for the whole).
        """
        top, bottom, left, right = self.pads
        pads = (top if top_edge else 0, bottom if bottom_edge else 0, left, right)
        step = self.step
        if isinstance(step, KernelStep) and self._runs_fixed_point(x):
            assert step.fixed_point is not None
            return fixed_point_blur(x, step.fixed_point, pads, self.border)
        try:
            if isinstance(step, PoolStep):
                if step.op == "median":
                    if not self.report.algorithms:  # once, for the whole input's shape
                        shape = self.report.in_shape
                        chosen = choose_median_for(x, step.kernel_size, self.stride, shape)
                        self.report.algorithms.append(("", *chosen))
                    algorithm = self.report.algorithms[0][1]
                    return median_filter2d(
                        x, step.kernel_size, self.stride, pads, self.border, algorithm=algorithm
                    )
                pool = _POOLS[step.op]
                return pool(x, step.kernel_size, step.stride, pads, ceil_mode=step.ceil_mode)
            results = [
                conv2d(
                    x,
                    conv.weight,
                    conv.bias,
                    self.stride,
                    pads,
                    self.dilation,
                    conv.groups,
                    self.border,
                    conv.algorithm,
                    rows_from=rows_from,
                )
                for conv in self.passes
            ]
        except ConvcliError:
            raise
        except ValueError as error:
            raise ConvcliError(f"{self.where}: {error}") from None
        if step.gate:
            return self._gated(x, results[0], top_edge)
        if step.directions is not None:
            return np.maximum.reduce(results)
        if len(results) == 1:
            return results[0]
        magnitude, other = results
        np.multiply(magnitude, magnitude, out=magnitude)
        np.multiply(other, other, out=other)
        magnitude += other
        return np.sqrt(magnitude, out=magnitude)


def _plan_kernel(
    shape: tuple[int, ...],
    step: KernelStep,
    planned: PlannedStep,
    options: StepOptions,
    defaults: tuple[PaddingLike, str],
    bias: np.ndarray | None,
) -> None:
    where, report = planned.where, planned.report
    stride = step.stride or options.stride or (1, 1)
    dilation = step.dilation or options.dilation or (1, 1)
    padding = step_padding(step, options, defaults[0])
    if isinstance(padding, tuple) and len(padding) == 2:
        padding = (padding[0], padding[0], padding[1], padding[1])
    border = step.border or options.border or defaults[1]
    channels, height, width = shape
    for label, weight in step.components():
        weight4, groups, what = _conv_weight(weight, channels, where)
        weight4 = weight4.astype(np.float32)
        step_bias = None
        if bias is not None:
            out_channels = weight4.shape[0]
            step_bias = np.broadcast_to(bias, (out_channels,)) if bias.size == 1 else bias
            if step_bias.shape != (out_channels,):
                raise ConvcliError(
                    f"{where}: --bias has {bias.size} values, the kernel has "
                    f"{out_channels} output channels"
                )
        try:
            algorithm, reason = choose_algorithm(
                shape, weight4, stride, padding, dilation, groups, border
            )
        except ValueError as error:
            raise ConvcliError(f"{where}: {error}") from None
        report.algorithms.append((label, algorithm, reason))
        planned.passes.append(_ConvPass(label, weight4, step_bias, groups, algorithm))
        report.operation = (
            f"gradient magnitude sqrt(gx² + gy²) of {what}" if step.magnitude else what
        )
        if step.directions is not None:
            report.operation = f"maximum of 8 directions of {what}"
    if step.fixed_point is not None:
        mask = step.fixed_point
        taps = " ".join(str(t) for t in mask.taps)
        scale = mask.divisor << mask.product_shift
        report.operation += (
            f"; on 8-bit values vips gaussblur's way: integer taps {taps} / {scale} along rows, "
            "then columns, rounding each pass"
        )
    kernel_size = step.weight.shape[-2:]
    pads = resolve_padding(padding, (height, width), kernel_size, stride, dilation)
    planned.pads, planned.stride, planned.dilation, planned.border = pads, stride, dilation, border
    report.pads, report.border = pads, border
    out_height = conv_output_size(height, kernel_size[0], stride[0], pads[:2], dilation[0])
    out_width = conv_output_size(width, kernel_size[1], stride[1], pads[2:], dilation[1])
    report.out_shape = (planned.passes[0].weight.shape[0], out_height, out_width)
    report.warnings = _dropped_warnings(planned, shape[1:], report.out_shape[1:], kernel_size)


_POOLS: dict[str, Callable[..., np.ndarray]] = {
    "max": max_pool2d,
    "avg": avg_pool2d,
    "min": min_pool2d,
}


def _plan_pool(
    shape: tuple[int, ...],
    step: PoolStep,
    planned: PlannedStep,
    options: StepOptions,
    defaults: tuple[PaddingLike, str],
) -> None:
    size = _pair_text(step.kernel_size)
    report = planned.report
    planned.stride = step.stride
    padding = step_padding(step, options, defaults[0])
    (height, width), (kh, kw), (sh, sw) = shape[-2:], step.kernel_size, step.stride
    try:
        planned.pads = top, bottom, left, right = resolve_padding(
            padding, (height, width), step.kernel_size, step.stride
        )
    except ValueError as error:
        raise ConvcliError(f"{planned.where}: {error}") from None
    if step.op == "median":
        # A median filter is a denoiser: on images it keeps the size like a kernel does.
        planned.border = options.border or defaults[1]
        report.operation = f"median filter {size}"
        report.pads, report.border = planned.pads, planned.border
        out_size = (
            conv_output_size(height, kh, sh, (top, bottom)),
            conv_output_size(width, kw, sw, (left, right)),
        )
    else:
        report.operation = f"{step.op} pool {size}, stride {_pair_text(step.stride)}"
        if max(top, bottom) > kh // 2 or max(left, right) > kw // 2:
            hint = (
                ""
                if _gives(step, "p")
                else ("; -p/--padding pads every step without its own p=: give this one p=0")
            )
            raise ConvcliError(
                f"{planned.where}: padding {_pads_text(planned.pads)} is more than half the "
                f"window ({_pair_text((kh // 2, kw // 2))} at most, as in PyTorch){hint}"
            )
        if any(planned.pads):
            report.pads = planned.pads
            report.border = "-inf/+inf (never wins)" if step.op != "avg" else "zeros"
        out_size = (
            pool_output_size(height, kh, sh, top, bottom, ceil_mode=step.ceil_mode),
            pool_output_size(width, kw, sw, left, right, ceil_mode=step.ceil_mode),
        )
    report.out_shape = (shape[0], *out_size)
    if min(out_size) >= 1:  # an empty output is the core's error to tell
        report.warnings = _dropped_warnings(planned, (height, width), out_size, (kh, kw))


def _plan_step(
    index: int,
    step: Step,
    shape: tuple[int, ...],
    options: StepOptions,
    defaults: tuple[PaddingLike, str],
) -> PlannedStep:
    where = _where(index, step)
    report = StepReport(index, step.text.strip(), tuple(shape), tuple(shape), "")
    planned = PlannedStep(step, where, report)
    if isinstance(step, KernelStep):
        bias = options.bias
        if step.offset:  # a vips .mat file's offset: added like a bias
            offset = np.float32(step.offset)
            bias = np.array([offset], np.float32) if bias is None else bias + offset
        _plan_kernel(shape, step, planned, options, defaults, bias)
    else:
        _plan_pool(shape, step, planned, options, defaults)
    return planned


def _defaults(image: bool) -> tuple[PaddingLike, str]:
    return ("same", "reflect") if image else (0, "zeros")


def _check_bias(steps: Sequence[Step], options: StepOptions) -> None:
    kernel_steps = [step for step in steps if isinstance(step, KernelStep)]
    if options.bias is not None and len(kernel_steps) != 1:
        raise SpecError(
            f"--bias is added by the chain's only kernel step; this chain has {len(kernel_steps)}"
        )


def run_steps(
    x: np.ndarray,
    steps: Sequence[Step],
    options: StepOptions = StepOptions(),
    *,
    image: bool = False,
) -> tuple[np.ndarray, list[StepReport]]:
    """Pass ``x`` through the steps, left to right.

    Parameters
    ----------
    x : ndarray, shape (C, H, W), float32
        The input channels.
    steps : sequence of KernelStep or PoolStep
        Already prepared (see :func:`prepare_steps`).
    options : StepOptions
        Global stride, padding, dilation and border for kernel steps that set none, and
        ``--bias`` (for the chain's only kernel step).
    image : bool
        Image defaults (padding ``"same"``, border ``reflect``) instead of PyTorch's
        (padding 0, zeros).

    Returns
    -------
    (y, reports) : ndarray, shape (C_out, H_out, W_out), float32; list of StepReport

    Raises
    ------
    ConvcliError
        Naming the step: a kernel larger than the padded input, channel counts that do
        not match, a border the input is too small for...

    Notes
    -----
    A 2-D kernel filters each channel on its own (depthwise: weight ``(C, 1, kh, kw)``,
    ``groups = C``); a 3-D ``(C, kh, kw)`` kernel sums over the channels (one output
    channel); a 4-D ``(C_out, C_in, kh, kw)`` kernel is a conv layer. A magnitude step gives
    ``sqrt(corr(x, gx)² + corr(x, gy)²)``.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> x = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    >>> run_steps(x, [parse_step("0 1; 2 3")])[0].tolist()
    [[[19.0, 25.0], [37.0, 43.0]]]
    """
    defaults = _defaults(image)
    _check_bias(steps, options)
    reports: list[StepReport] = []
    for index, step in enumerate(steps, start=1):
        planned = _plan_step(index, step, tuple(x.shape), options, defaults)
        x = np.asarray(planned.run(x), dtype=np.float32)
        planned.report.out_shape = tuple(x.shape)
        reports.append(planned.report)
    return x, reports


@dataclass
class StripPlan:
    """A chain of steps planned for a whole image, to be run strip by strip.

    Attributes
    ----------
    steps : list of PlannedStep
        Planned on the whole image's shape: the same pads and algorithms for every strip.
    height : int
        Rows of the whole image.
    halo_top, halo_bottom : int
        Rows of context a strip needs above and below its own rows (the chain's pads).
    min_rows : int
        Fewest input rows a strip is read with: at an edge, every step must have more
        rows than it pads there (``reflect`` mirrors them).
    """

    steps: list[PlannedStep]
    height: int
    halo_top: int
    halo_bottom: int
    min_rows: int = 1

    @property
    def reports(self) -> list[StepReport]:
        return [planned.report for planned in self.steps]

    def rows_needed(self, start: int, stop: int) -> tuple[int, int]:
        """The input rows ``[first, last)`` that output rows ``[start, stop)`` read.

        A short strip is widened upwards (and then downwards) to :attr:`min_rows`; its
        extra output rows are simply not used.
        """
        first, last = max(0, start - self.halo_top), min(self.height, stop + self.halo_bottom)
        short = self.min_rows - (last - first)
        if short > 0:
            first = max(0, first - short)
            last = min(self.height, first + self.min_rows)
        return first, last

    def run(self, x: np.ndarray, first: int) -> tuple[np.ndarray, int]:
        """Run the chain on input rows ``[first, first + len)`` (from :meth:`rows_needed`).

        Returns
        -------
        (y, y_first) : ndarray (C_out, rows, W_out), float32; int
            The output rows computed and the index of the first of them.
        """
        top_edge = first == 0
        bottom_edge = first + x.shape[-2] == self.height
        rows_from = first  # the row of each step's whole input at which x starts
        for planned in self.steps:
            x = np.asarray(planned.run(x, top_edge, bottom_edge, rows_from), dtype=np.float32)
            if not top_edge:  # the step's top pad was read from the halo
                rows_from += planned.pads[0]
        return x, (0 if top_edge else first + self.halo_top)


def plan_strips(
    shape: tuple[int, int, int],
    steps: Sequence[Step],
    options: StepOptions = StepOptions(),
    *,
    image: bool = True,
) -> StripPlan | None:
    """Plan ``steps`` on an input of ``shape``; None when the chain cannot run in strips.

    A chain runs in strips of rows when every step keeps the image's size at stride 1
    (kernel steps, gradient magnitudes, median filters; see :attr:`PlannedStep.keeps_rows`).
    Each strip is read with a halo of ``sum(top pads)`` rows above and ``sum(bottom pads)``
    below, and every step pads only at the image's real edges, so a strip's rows equal
    those of the whole image bit for bit.

    Parameters
    ----------
    shape : (C, H, W)
        The input's shape.
    steps : sequence of Step
        Parsed steps, in order.
    options : StepOptions
        The global step options.
    image : bool
        Whether the input is an image (``same`` padding and ``reflect`` border by default).

    Raises
    ------
    ConvcliError, SpecError
        As :func:`run_steps` would, before any work.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> plan = plan_strips((3, 1000, 1500), [parse_step("gaussian:1"), parse_step("sobel")])
    >>> plan.halo_top, plan.halo_bottom
    (4, 4)
    """
    defaults = _defaults(image)
    _check_bias(steps, options)
    planned_steps: list[PlannedStep] = []
    current = tuple(shape)
    for index, step in enumerate(steps, start=1):
        planned = _plan_step(index, step, current, options, defaults)
        if not planned.keeps_rows:
            return None  # (and the shapes after a pool are not planned here)
        planned_steps.append(planned)
        current = planned.report.out_shape
    halo_top = sum(planned.pads[0] for planned in planned_steps)
    halo_bottom = sum(planned.pads[1] for planned in planned_steps)
    widest_pad = max((max(planned.pads[:2]) for planned in planned_steps), default=0)
    min_rows = halo_top + halo_bottom + widest_pad + 1
    return StripPlan(planned_steps, shape[1], halo_top, halo_bottom, min_rows)


# --------------------------------------------------------------------------------------------
# Colour
# --------------------------------------------------------------------------------------------


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """Decode sRGB (0..1) to linear light (IEC 61966-2-1).

    Notes
    -----
    ``c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4``. Values outside 0..1 are
    extended with the sign kept (``f(-c) = -f(c)``), so nothing is lost.

    Examples
    --------
    >>> round(float(srgb_to_linear(np.float32(0.5))), 4)
    0.214
    """
    values = np.asarray(values, dtype=np.float32)
    magnitude = np.abs(values)
    curve = np.where(
        magnitude <= 0.04045,
        magnitude / np.float32(12.92),
        ((magnitude + np.float32(0.055)) / np.float32(1.055)) ** np.float32(2.4),
    )
    return np.copysign(curve, values).astype(np.float32)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Encode linear light (0..1) to sRGB, the inverse of :func:`srgb_to_linear`.

    Notes
    -----
    ``c <= 0.0031308 ? 12.92 c : 1.055 c ** (1/2.4) - 0.055``, sign kept outside 0..1.

    Examples
    --------
    >>> round(float(linear_to_srgb(np.float32(0.5))) * 255, 2)  # black and white averaged
    187.52
    """
    values = np.asarray(values, dtype=np.float32)
    magnitude = np.abs(values)
    curve = np.where(
        magnitude <= 0.0031308,
        magnitude * np.float32(12.92),
        np.float32(1.055) * magnitude ** np.float32(1 / 2.4) - np.float32(0.055),
    )
    return np.copysign(curve, values).astype(np.float32)


def to_gray(x: np.ndarray, has_alpha: bool) -> np.ndarray:
    """RGB(A) ``(C, H, W)`` -> luma (and alpha): ``0.299 R + 0.587 G + 0.114 B``.

    Grey input (1 or 2 channels) is returned unchanged.

    Examples
    --------
    >>> red = np.array([[[255.0]], [[0.0]], [[0.0]]], np.float32)
    >>> round(float(to_gray(red, has_alpha=False)[0, 0, 0]), 3)
    76.245
    """
    colour_channels = x.shape[0] - (1 if has_alpha else 0)
    if colour_channels == 1:
        return x
    red, green, blue = (np.float32(w) for w in LUMA_WEIGHTS)
    luma = red * x[0] + green * x[1] + blue * x[2]
    planes = [luma, x[-1]] if has_alpha else [luma]
    return np.stack(planes).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Mapping back
# --------------------------------------------------------------------------------------------


def resolve_map(
    requested: str, steps: Sequence[Step], *, float_output: bool, edges: str = "abs"
) -> tuple[str, str]:
    """The ``--map`` mode that will run, and why (for ``--explain``).

    ``auto`` is ``raw`` for float outputs, ``edges`` (``abs``; ``clip`` under ``--like``)
    when any kernel step sums to zero (edges, gradient magnitudes: the result is a signed
    difference), ``clip`` otherwise.

    Parameters
    ----------
    requested : str
        ``--map`` as given: ``auto``, ``clip``, ``abs``, ``offset``, ``minmax`` or ``raw``.
    steps : sequence of Step
        The parsed steps (``auto`` looks for a zero-sum kernel among them).
    float_output : bool
        Whether the output keeps floats (``.npy``, float TIFF): ``auto`` is then ``raw``.
    edges : str
        What ``auto`` picks for edge kernels (``abs``; ``clip`` under ``--like``).

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> resolve_map("auto", [parse_step("sobel-x")], float_output=False)
    ('abs', "auto: kernel 'sobel-x' sums to zero (an edge kernel): abs")
    """
    if requested not in MAP_MODES:
        raise SpecError(f"--map must be one of {', '.join(MAP_MODES)}, got {requested!r}")
    if requested != "auto":
        return requested, f"{requested} (as asked)"
    if float_output:
        return "raw", "auto: the output holds floats: raw values"
    for step in steps:
        if isinstance(step, KernelStep) and step.zero_sum:
            why = f"auto: kernel '{step.text.strip()}' sums to zero (an edge kernel): {edges}"
            return edges, why
    return "clip", "auto: no zero-sum kernel: clip"


def result_range(
    steps: Sequence[Step], options: StepOptions, low: float, high: float
) -> tuple[float, float, float] | None:
    """Where the chain's results lie for inputs in ``low .. high``, and how far float32
    rounding may take them past it; None when a step's range is not known.

    Parameters
    ----------
    steps : sequence of KernelStep or PoolStep
        Prepared (see :func:`prepare_steps`).
    options : StepOptions
        ``--bias``, added by the chain's only kernel step.
    low, high : float
        The inputs' range.

    Returns
    -------
    (lowest, highest, rounding) : tuple of float, or None
        The exact interval, and a bound on the computed values' distance outside it.
        None for a gradient magnitude, a compass set, an ``unsharp`` gate or a
        fixed-point blur.

    Notes
    -----
    The interval first takes in 0 (zero padding, and average pooling's padding, read
    zeros). A kernel of weights ``w`` (each output filter of a 4-D one) maps ``[a, b]`` to
    ``[P a + N b + c, P b + N a + c]`` with ``P`` the sum of its positive weights, ``N`` of
    its negative ones and ``c`` its bias; pooling (max, min, average, median) keeps it.
    Each kernel adds ``n u S`` to the rounding, ``n`` its taps, ``u = 2**-23`` and ``S``
    the largest magnitude its sums reach (the classic bound for a sum of ``n`` terms in
    float32, with room for the separable passes), and carries the rounding of the steps
    before it times the sum of its weights' magnitudes.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> result_range([parse_step("1 2 1")], StepOptions(), 0, 255)[:2]
    (0.0, 1020.0)
    >>> result_range([parse_step("0 -1 0; -1 5 -1; 0 -1 0")], StepOptions(), 0, 255)[:2]
    (-1020.0, 1275.0)
    """
    lowest, highest, rounding = float(min(low, 0.0)), float(max(high, 0.0)), 0.0
    for step in steps:
        if isinstance(step, PoolStep):
            continue
        if step.magnitude is not None or step.directions is not None:
            return None
        if step.gate or step.fixed_point is not None:
            return None
        weight = np.asarray(step.weight, dtype=np.float64)
        filters = weight.reshape(weight.shape[0], -1) if weight.ndim == 4 else weight.reshape(1, -1)
        positive = np.where(filters > 0, filters, 0).sum(axis=1)
        negative = np.where(filters < 0, filters, 0).sum(axis=1)
        bias = step.offset + (0.0 if options.bias is None else np.asarray(options.bias))
        bias_low, bias_high = float(np.min(bias)), float(np.max(bias))
        ends = (positive * lowest + negative * highest, positive * highest + negative * lowest)
        reach = (positive - negative) * max(abs(lowest), abs(highest)) + abs(bias_high)
        rounding += filters.shape[1] * 2.0**-23 * float(reach.max()) + rounding * float(
            (positive - negative).max()
        )
        lowest, highest = float(ends[0].min()) + bias_low, float(ends[1].max()) + bias_high
    return lowest, highest, rounding


def map_values(
    values: np.ndarray, mode: str, full_scale: float, *, in_place: bool = False
) -> np.ndarray:
    """Bring filter results back to ``0 .. full_scale``.

    Parameters
    ----------
    values : ndarray, float32
        Results, in the input's units.
    mode : {"clip", "abs", "offset", "minmax", "raw"}
        ``clip``: values outside the range are cut; ``abs``: the magnitude of signed
        responses (edges both ways), cut at full scale; ``offset``: zero moves to mid-grey
        (``full_scale / 2``, 128 in 8 bits), so negative responses stay visible; ``minmax``:
        the results' lowest value becomes 0 and the highest full scale (all channels
        together; a constant result gives 0); ``raw``: unchanged.
    full_scale : float
        255, 65535 or 1.0.
    in_place : bool
        Overwrite ``values`` (a float32 array of the caller's) instead of allocating:
        on a 4K RGB image each fresh result costs ~100 MB and its page faults.

    Returns
    -------
    ndarray, float32, same shape

    Examples
    --------
    >>> ramp = np.array([-300.0, -10.0, 0.0, 100.0, 300.0], np.float32)
    >>> map_values(ramp, "clip", 255).tolist(), map_values(ramp, "abs", 255).tolist()
    ([0.0, 0.0, 0.0, 100.0, 255.0], [255.0, 10.0, 0.0, 100.0, 255.0])
    >>> map_values(ramp, "offset", 255).tolist()
    [0.0, 117.5, 127.5, 227.5, 255.0]
    >>> map_values(ramp, "minmax", 255).tolist()
    [0.0, 123.25, 127.5, 170.0, 255.0]
    """
    values = np.asarray(values, dtype=np.float32)
    scale = np.float32(full_scale)
    out = values if in_place and values.flags.writeable else None
    if mode == "raw":
        return values
    if mode == "clip":
        return np.clip(values, 0, scale, out=out)
    if mode == "abs":
        magnitude = np.abs(values, out=out)
        return np.minimum(magnitude, scale, out=magnitude)
    if mode == "offset":
        shifted = np.add(values, scale / 2, out=out)
        return np.clip(shifted, 0, scale, out=shifted)
    if mode == "minmax":
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if high <= low:
            return np.zeros_like(values)
        return ((values - np.float32(low)) * np.float32(full_scale / (high - low))).astype(
            np.float32
        )
    raise SpecError(f"--map must be one of {', '.join(MAP_MODES)}, got {mode!r}")


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------


@dataclass
class PictureResult:
    """The filtered picture and how it was made.

    Attributes
    ----------
    values : ndarray, shape (C, H, W), float32
        In the input's units: ``0 .. full_scale`` after a map, anything with ``raw``.
    channels : str
        ``"L"``, ``"LA"``, ``"RGB"``, ``"RGBA"``, or ``"N"`` for other channel counts
        (a conv layer's outputs).
    reports : list of StepReport
    notes : list of str
        Remarks for stderr (alpha dropped...).
    first_row : int
        The output row at which ``values`` starts (0 unless filtered in strips).
    """

    values: np.ndarray
    channels: str
    reports: list[StepReport]
    notes: list[str] = field(default_factory=list)
    first_row: int = 0


def _channels_name(count: int, has_alpha: bool) -> str:
    if has_alpha:
        return {2: "LA", 4: "RGBA"}.get(count, "N")
    return {1: "L", 3: "RGB"}.get(count, "N")


@dataclass(frozen=True)
class PictureOptions:
    """How an image's values are handled around the steps.

    Attributes
    ----------
    map_mode : {"clip", "abs", "offset", "minmax", "raw"}
        ``--map``, already resolved (see :func:`resolve_map`).
    gray : bool
        ``--gray``: convert RGB to BT.601 luma first (alpha kept).
    linear : bool
        ``--linear``: filter in linear light.
    """

    map_mode: str = "clip"
    gray: bool = False
    linear: bool = False


def filter_picture(
    x: np.ndarray,
    channels: str,
    full_scale: float,
    steps: Sequence[Step],
    options: StepOptions = StepOptions(),
    picture: PictureOptions = PictureOptions(),
    *,
    strips: StripPlan | None = None,
    rows_from: int = 0,
) -> PictureResult:
    """Filter an image's channels the way an image should be filtered.

    Parameters
    ----------
    x : ndarray, shape (C, H, W), float32
        Pixels in the file's units (``0 .. full_scale``).
    channels : {"L", "LA", "RGB", "RGBA"}
        What the channels are; the last is alpha for ``LA`` and ``RGBA``.
    full_scale : float
        255, 65535 or 1.0 (float images).
    steps : sequence of KernelStep or PoolStep
        Prepared steps (see :func:`prepare_steps`).
    options : StepOptions
    picture : PictureOptions
        ``--map`` (resolved), ``--gray``, ``--linear``.
    strips : StripPlan, optional
        Run the steps as planned for the whole picture (:func:`plan_picture_strips`):
        ``x`` is then a strip of its rows, starting at row ``rows_from``, halo included.
    rows_from : int
        The whole picture's row at which ``x`` starts (with ``strips``).

    Returns
    -------
    PictureResult
        With ``strips``: the output rows the strip gives, from ``first_row`` on.

    Notes
    -----
    With alpha ``a`` (0..1), colour ``c`` is filtered as ``K*(a c)`` and alpha as ``K*a``;
    the result is ``K*(a c) / K*a`` where ``K*a > 0`` and 0 where the result is fully
    transparent. When a step sums to zero (edges), ``K*a`` is ~0 and there is nothing to
    divide by: the result is the edge response of the premultiplied colour (the outline
    of a transparent shape is an edge) and the output is opaque. Steps that mix channels
    (3-D/4-D kernels) see colour only; alpha is dropped with a note.
    """
    map_mode, gray, linear = picture.map_mode, picture.gray, picture.linear
    notes: list[str] = []
    has_alpha = channels in ("LA", "RGBA")
    if gray:
        x = to_gray(x, has_alpha)
    if linear and full_scale == 1.0:
        raise SpecError("--linear decodes sRGB: it needs an 8- or 16-bit image, not floats")
    colour = x[:-1] if has_alpha else x
    alpha = x[-1] / np.float32(full_scale) if has_alpha else None
    if linear:
        colour = srgb_to_linear(colour / np.float32(full_scale))
    work_scale = 1.0 if linear else full_scale
    edges = any(isinstance(s, KernelStep) and s.zero_sum for s in steps)
    if alpha is not None and any(mixes_channels(s) for s in steps):
        notes.append("alpha dropped: a 3-D/4-D kernel mixes channels and sees colour only")
        alpha = None
    first_row = 0

    def run(work: np.ndarray) -> tuple[np.ndarray, list[StepReport]]:
        nonlocal first_row
        if strips is None:
            return run_steps(work, steps, options, image=True)
        result, first_row = strips.run(work, rows_from)
        return result, strips.reports

    if alpha is None:
        result, reports = run(np.ascontiguousarray(colour))
        out_alpha = None
    else:
        stacked = np.concatenate([colour * alpha, alpha[None] * np.float32(work_scale)])
        result, reports = run(stacked)
        result, filtered_alpha = result[:-1], result[-1] / np.float32(work_scale)
        if edges:
            out_alpha = np.ones_like(filtered_alpha)
            notes.append(
                "edge kernel on an image with alpha: the edges of the premultiplied colour, "
                "written opaque"
            )
        else:
            visible = filtered_alpha > _TRANSPARENT
            safe = np.where(visible, filtered_alpha, np.float32(1))
            result = np.where(visible, result / safe, np.float32(0))
            out_alpha = np.clip(filtered_alpha, 0, 1)
    if map_mode == "minmax" and result.size and result.min() == result.max():
        flat = format_number(float(result.flat[0]))
        notes.append(f"--map minmax: the result is flat (every value {flat}), written as 0")
    result = map_values(result, map_mode, work_scale, in_place=True)
    if linear:
        result = linear_to_srgb(result) * np.float32(full_scale)
    if out_alpha is None:
        values = np.asarray(result, dtype=np.float32)
    else:
        planes = [result, out_alpha[None] * np.float32(full_scale)]
        values = np.concatenate(planes).astype(np.float32, copy=False)
    name = _channels_name(values.shape[0], out_alpha is not None)
    return PictureResult(values, name, reports, notes, first_row)


def plan_picture_strips(
    shape: tuple[int, int, int],
    channels: str,
    steps: Sequence[Step],
    options: StepOptions = StepOptions(),
    *,
    map_mode: str = "clip",
    gray: bool = False,
) -> StripPlan | None:
    """Plan the steps for :func:`filter_picture` on a whole picture, to run in strips.

    Parameters
    ----------
    shape : (C, H, W)
        The picture's shape, as given to :func:`filter_picture`.
    channels, steps, options, map_mode, gray
        As for :func:`filter_picture`.

    Returns
    -------
    StripPlan or None
        None when the picture must be filtered whole: a step that changes the size or
        strides (pools), an FFT-sized kernel, a ``circular`` border, or ``--map minmax``
        (which needs the whole result's range).

    Raises
    ------
    ConvcliError, SpecError
        As :func:`filter_picture` would, before any work.
    """
    if map_mode == "minmax":
        return None
    has_alpha = channels in ("LA", "RGBA")
    colour = shape[0] - (1 if has_alpha else 0)
    if gray and colour == 3:
        colour = 1
    keeps_alpha = has_alpha and not any(mixes_channels(step) for step in steps)
    work_shape = (colour + (1 if keeps_alpha else 0), shape[1], shape[2])
    return plan_strips(work_shape, steps, options, image=True)
