"""Pure-Python layer geometry: output sizes, pads, parameters, MACs, receptive fields.

Nothing here imports NumPy, so ``convcli shape`` starts fast. Semantics are PyTorch's,
exactly (floor division, pooling stride defaulting to the kernel, ``ceil_mode`` never
starting a window in the right padding, pool padding at most ``kernel // 2``); ``same``
padding is TensorFlow/Keras's. Text parsing lives in :mod:`convcli.layers`.

Public API
----------
Per axis (plain ints; ``padding`` is an int for both sides or a ``(before, after)`` pair):

- ``dims_text(values) -> str``: ``(3, 5)`` -> ``"3x5"``, for messages and tables.
- ``effective_kernel(kernel, dilation=1) -> int``
- ``conv_output_size(size, kernel, stride=1, padding=0, dilation=1) -> int``
- ``pool_output_size(size, kernel, stride=None, padding=0, dilation=1, ceil_mode=False) -> int``
- ``transposed_output_size(size, kernel, stride=1, padding=0, dilation=1, output_padding=0) -> int``
- ``same_padding(size, kernel, stride=1, dilation=1) -> tuple[int, int]``
- ``dropped_inputs(size, out_size, kernel, stride, pad_before, dilation=1) -> int``
- ``target_options(size, target, kernel, dilation=1, stride=None, kind="conv",
  ceil_mode=False) -> list[TargetOption]``

Layers and chains:

- ``Shape(channels, height, width, batch=None)``; ``Shape.features(n)`` for a flat shape.
- ``Layer(kind, out_channels=None, kernel=None, stride=None, padding=(0, 0, 0, 0), ...)``,
  ``Layer.to_word()``, ``expand(layer) -> list[Layer]`` (sepconv -> dwconv + pwconv).
- ``analyze(input_shape, layers, dtype_bytes=4) -> ChainReport``; its ``layers`` are
  :class:`LayerReport` (kind, input, output, params, macs, flops, window_ops, padding,
  rf, jump, rf_padding, memory_bytes, warnings, parts) and ``total`` a :class:`Totals`.
- ``COUNTING_CONVENTION``: the sentence printed under every table.

Every impossible layer raises :class:`convcli.errors.ConvcliError` whose one-line message
starts with ``layer N 'WORD'`` and names the parameter and the value; a parameter that is
out of range on its own (stride 0, negative padding, a key the type does not take) raises
:class:`convcli.errors.SpecError`.

>>> report = analyze(Shape(3, 12, 12), [Layer("conv", out_channels=256, kernel=(5, 5))])
>>> str(report.output), report.total.params
('256x8x8', 19456)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Literal

from convcli.errors import ConvcliError, SpecError

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]  # top, bottom, left, right
PaddingSpec = Pads | Literal["same", "valid"]

#: Layer kinds, in the order the help lists them.
KINDS: tuple[str, ...] = (
    "conv",
    "dwconv",
    "pwconv",
    "sepconv",
    "deconv",
    "maxpool",
    "avgpool",
    "gap",
    "flatten",
    "fc",
)
POOL_KINDS = frozenset({"maxpool", "avgpool"})
CONV_KINDS = frozenset({"conv", "dwconv", "pwconv", "sepconv", "deconv"})
#: Kinds that slide a window over H and W (so they need a spatial input).
SPATIAL_KINDS = CONV_KINDS | POOL_KINDS | {"gap"}

COUNTING_CONVENTION = (
    "Parameters include bias. MACs = multiply-accumulates of the layer's weights (no bias "
    "adds), the mult-adds of the MobileNet paper; FLOPs = 2 x MACs. Transposed convolution "
    "is counted from the input side. Pooling's window operations are listed separately, "
    "never folded into MACs."
)

DTYPE_BYTES: dict[str, int] = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
}


# ---------------------------------------------------------------------------------------
# Per-axis formulas


def dims_text(values: Sequence[object]) -> str:
    """Sizes joined by ``x``, the way they are typed: ``(3, 5)`` -> ``3x5``.

    >>> dims_text((64, 56, 56))
    '64x56x56'
    """
    return "x".join(str(v) for v in values)


def _pair_of(padding: int | Pair) -> Pair:
    return (padding, padding) if isinstance(padding, int) else (padding[0], padding[1])


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """The span of a dilated kernel.

    Notes
    -----
    ``ke = d (k - 1) + 1``.

    >>> effective_kernel(3, 2)
    5
    """
    return dilation * (kernel - 1) + 1


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int | Pair = 0, dilation: int = 1
) -> int:
    """Output length of a convolution along one axis (may be < 1: the caller checks).

    Notes
    -----
    ``o = floor((i + p_before + p_after - ke) / s) + 1`` with ``ke = d (k - 1) + 1``.

    >>> conv_output_size(224, 7, stride=2, padding=3)
    112
    """
    before, after = _pair_of(padding)
    return (size + before + after - effective_kernel(kernel, dilation)) // stride + 1


def pool_output_size(
    size: int,
    kernel: int,
    stride: int | None = None,
    padding: int | Pair = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of max/avg pooling along one axis, PyTorch's rule.

    Notes
    -----
    Stride defaults to the kernel. Floor mode is the convolution formula. With
    ``ceil_mode``, ``o = ceil((i + p_b + p_a - ke) / s) + 1``, then one less if the last
    window would start in the right padding, i.e. if ``(o - 1) s >= i + p_b``.

    >>> pool_output_size(5, 2, stride=2, padding=1, ceil_mode=True)
    3
    """
    stride = kernel if stride is None else stride
    before, after = _pair_of(padding)
    span = size + before + after - effective_kernel(kernel, dilation)
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + before:
        out -= 1
    return out


def transposed_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int | Pair = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """Output length of a transposed convolution along one axis.

    Notes
    -----
    ``o = (i - 1) s - p_before - p_after + d (k - 1) + output_padding + 1``
    (PyTorch's ``ConvTranspose2d``; its padding crops the output, symmetric there).

    >>> transposed_output_size(16, 4, stride=2, padding=1)
    32
    """
    before, after = _pair_of(padding)
    return (
        (size - 1) * stride - before - after + effective_kernel(kernel, dilation) + output_padding
    )


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> Pair:
    """TensorFlow/Keras ``SAME`` padding along one axis, as ``(before, after)``.

    Notes
    -----
    ``o = ceil(i / s)``; total ``max((o - 1) s + ke - i, 0)``; ``before = total // 2``, the
    odd pixel goes after (bottom/right). At stride 1 this is PyTorch's ``padding='same'``.

    >>> same_padding(224, 3, stride=2), same_padding(224, 7, stride=2)
    ((0, 1), (2, 3))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def dropped_inputs(
    size: int, out_size: int, kernel: int, stride: int, pad_before: int, dilation: int = 1
) -> int:
    """How many real input rows (or columns) at the far end no window reads.

    Floor division can leave the last rows uncovered; rows of padding left over do not
    count, only real input.

    Notes
    -----
    The last window ends at ``(o - 1) s - p_before + ke`` in input coordinates, so
    ``dropped = max(0, i - ((o - 1) s - p_before + ke))``.

    >>> dropped_inputs(224, 109, 7, 2, 0)
    1
    """
    last_end = (out_size - 1) * stride - pad_before + effective_kernel(kernel, dilation)
    return max(0, size - last_end)


@dataclass(frozen=True)
class TargetOption:
    """One way to reach a target output length along one axis.

    ``pads`` is ``(before, after)``; ``pytorch`` is the PyTorch argument that produces it
    (``"padding=1"``, ``"padding='same'"``, ``"padding=1, output_padding=1"``, or ``""``
    when PyTorch needs an explicit ``F.pad`` because the pads differ); ``tf_same`` is true
    when TensorFlow's ``padding='SAME'`` gives exactly these pads.
    """

    stride: int
    pads: Pair
    output_padding: int
    pytorch: str
    tf_same: bool


def target_options(
    size: int,
    target: int,
    kernel: int,
    dilation: int = 1,
    stride: int | None = None,
    kind: str = "conv",
    ceil_mode: bool = False,
) -> list[TargetOption]:
    """Paddings (and strides, when ``stride`` is None) that turn ``size`` into ``target``.

    Per side at most ``ke - 1`` of padding is considered (more only adds windows that
    see nothing but padding); pools keep PyTorch's ``kernel // 2`` limit. Each stride
    lists the TensorFlow ``SAME`` split if it lands on the target, then the symmetric
    paddings PyTorch can express, else the smallest asymmetric pair. Transposed
    convolutions list symmetric crops with the ``output_padding`` they need.

    Without a stride, strides up to the kernel span ``ke`` are listed (a larger stride
    skips input pixels between windows), or the smallest stride that works if none of
    those does; for transposed convolutions, the strides and crops that need the least
    ``output_padding``.

    >>> [(o.stride, o.pads, o.tf_same) for o in target_options(224, 112, 3, stride=2)]
    [(2, (0, 1), True), (2, (1, 1), False)]
    """
    ke = effective_kernel(kernel, dilation)
    if kind == "deconv":
        options: list[TargetOption] = []
        for s in [stride] if stride is not None else range(1, target + 1):
            for p in range(ke):
                # The output_padding that closes the gap, if PyTorch allows it.
                op = target - transposed_output_size(size, kernel, s, p, dilation)
                if 0 <= op < max(s, dilation):
                    text = f"padding={p}" + (f", output_padding={op}" if op else "")
                    options.append(TargetOption(s, (p, p), op, text, False))
        # A large stride with a large output_padding is legal but never what one wants:
        # keep the options that need the least output_padding.
        least = min((option.output_padding for option in options), default=0)
        return [option for option in options if option.output_padding == least]

    def for_stride(s: int) -> list[TargetOption]:
        limit = kernel // 2 if kind in POOL_KINDS else ke - 1
        found: list[Pair] = []
        for before in range(limit + 1):
            for after in range(limit + 1):
                if kind in POOL_KINDS:
                    out = pool_output_size(size, kernel, s, (before, after), dilation, ceil_mode)
                else:
                    out = conv_output_size(size, kernel, s, (before, after), dilation)
                if out == target:
                    found.append((before, after))
        if not found:
            return []
        tf_pads = same_padding(size, kernel, s, dilation)
        tf_ok = -(-size // s) == target and tf_pads in found
        chosen: list[Pair] = [tf_pads] if tf_ok else []
        chosen += [pads for pads in found if pads[0] == pads[1] and pads not in chosen]
        if not chosen:
            chosen.append(min(found, key=lambda pads: (pads[0] + pads[1], pads)))
        result = []
        for pads in chosen:
            if pads[0] != pads[1]:
                text = ""
            elif s == 1 and size == target and pads == tf_pads and kind not in POOL_KINDS:
                text = f"padding={pads[0]} or padding='same'"
            else:
                text = f"padding={pads[0]}"
            result.append(TargetOption(s, pads, 0, text, tf_ok and pads == tf_pads))
        return result

    if stride is not None:
        return for_stride(stride)
    options = [option for s in range(1, ke + 1) for option in for_stride(s)]
    if options:
        return options
    for s in range(ke + 1, max(size, target) + 1):
        options = for_stride(s)
        if options:
            return options
    return []


# ---------------------------------------------------------------------------------------
# Shapes and layers


@dataclass(frozen=True)
class Shape:
    """A tensor shape: ``(N,) C, H, W``; a flat shape has ``height = width = None``.

    ``channels`` is None when the user gave only ``H x W`` (a single-channel matrix: costs
    count one channel, and the channel is not printed until a layer sets it).
    """

    channels: int | None
    height: int | None
    width: int | None
    batch: int | None = None

    @classmethod
    def features(cls, count: int, batch: int | None = None) -> Shape:
        """A flat shape of ``count`` features (after ``flatten`` or ``fc``)."""
        return cls(count, None, None, batch)

    @property
    def is_flat(self) -> bool:
        """True after ``flatten`` or ``fc``: features only, no height or width."""
        return self.height is None

    @property
    def channel_count(self) -> int:
        """Channels for cost formulas: 1 when not given."""
        return 1 if self.channels is None else self.channels

    @property
    def batch_count(self) -> int:
        """Batch size for cost formulas: 1 when not given."""
        return 1 if self.batch is None else self.batch

    @property
    def elements(self) -> int:
        """Elements in one sample times the batch."""
        spatial = 1 if self.is_flat else self.height * self.width  # type: ignore[operator]
        return self.batch_count * self.channel_count * spatial

    def dims(self) -> list[int]:
        """``[N,] [C,] H, W`` (or ``[N,] F`` when flat): what JSON prints."""
        dims = [d for d in (self.batch, self.channels) if d is not None]
        if not self.is_flat:
            dims += [self.height, self.width]  # type: ignore[list-item]
        return dims

    def format(self, channels_last: bool = False) -> str:
        """``64x56x56``; ``56x56x64`` in channels-last order."""
        if channels_last and not self.is_flat and self.channels is not None:
            dims = [d for d in (self.batch,) if d is not None]
            dims += [self.height, self.width, self.channels]  # type: ignore[list-item]
            return dims_text(dims)
        return dims_text(self.dims())

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class Layer:
    """One layer, as the user described it (before it meets an input shape).

    ``kernel``, ``stride``, ``dilation`` and ``output_padding`` are ``(h, w)`` pairs;
    ``stride=None`` means the default (1, or the kernel for pools). ``padding`` is
    ``(top, bottom, left, right)``, ``"same"`` or ``"valid"``. ``out_channels`` is None
    when not given: convolutions then keep the input's channel count; ``fc`` needs it
    (it is the number of units). ``depth_multiplier`` applies to dwconv and sepconv.
    ``word`` is the text that named the layer in error messages (see :meth:`to_word`);
    ``source`` optionally says where it came from (``net.net:3``).
    """

    kind: str
    out_channels: int | None = None
    kernel: Pair | None = None
    stride: Pair | None = None
    padding: PaddingSpec = (0, 0, 0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False
    output_padding: Pair = (0, 0)
    depth_multiplier: int = 1
    word: str = ""
    source: str = ""

    def label(self, position: int) -> str:
        """``layer 2 'conv:64,k=3'`` (plus its source), the prefix of every error."""
        where = f" ({self.source})" if self.source else ""
        return f"layer {position} '{self.word or self.to_word()}'{where}"

    def to_word(self) -> str:
        """The canonical LAYER word: ``conv:64,k=3,s=2,p=1``; defaults are left out."""

        def pair(value: Pair) -> str:
            return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"

        args: list[str] = []
        if self.out_channels is not None:
            args.append(str(self.out_channels))
        if self.kernel is not None and self.kind not in ("pwconv", "gap", "flatten", "fc"):
            args.append(f"k={pair(self.kernel)}")
        if self.stride is not None:
            args.append(f"s={pair(self.stride)}")
        if isinstance(self.padding, str):
            args.append(f"p={self.padding}")
        elif any(self.padding):
            top, bottom, left, right = self.padding
            if top == bottom and left == right:
                args.append(f"p={pair((top, left))}")
            else:
                args.append(f"p={top},{bottom},{left},{right}")
        if self.dilation != (1, 1):
            args.append(f"d={pair(self.dilation)}")
        if self.groups != 1:
            args.append(f"g={self.groups}")
        if self.output_padding != (0, 0):
            args.append(f"op={pair(self.output_padding)}")
        if self.depth_multiplier != 1:
            args.append(f"dm={self.depth_multiplier}")
        if self.ceil_mode:
            args.append("ceil=true")
        if not self.bias and self.kind in CONV_KINDS | {"fc"}:
            args.append("bias=false")
        return self.kind + (":" + ",".join(args) if args else "")


def expand(layer: Layer) -> list[Layer]:
    """A sepconv as its two real layers (depthwise without bias, then pointwise); any
    other layer as itself.

    The depthwise part takes the kernel, stride, padding, dilation and depth multiplier;
    the pointwise part the output channels and the bias flag (Keras's SeparableConv2D).
    """
    if layer.kind != "sepconv":
        return [layer]
    depthwise = replace(
        layer, kind="dwconv", out_channels=None, bias=False, word=f"{layer.word} (depthwise)"
    )
    pointwise = Layer(
        "pwconv",
        out_channels=layer.out_channels,
        kernel=(1, 1),
        bias=layer.bias,
        word=f"{layer.word} (pointwise)",
        source=layer.source,
    )
    return [depthwise, pointwise]


@dataclass(frozen=True)
class LayerReport:
    """What one layer does to its input.

    ``padding`` is the pads applied ``(top, bottom, left, right)`` (for ``deconv``, the
    rows cropped from the output); ``rf``/``jump``/``rf_padding`` are the receptive field
    of one output position in input pixels, per axis ``(h, w)`` (Fractions: a transposed
    convolution makes them fractional). ``window_ops`` counts pooling's window reads
    (never in ``macs``). ``parts`` holds a sepconv's depthwise and pointwise reports.
    """

    position: int
    layer: Layer
    input: Shape
    output: Shape
    params: int
    macs: int
    window_ops: int
    padding: Pads
    rf: tuple[Fraction, Fraction]
    jump: tuple[Fraction, Fraction]
    rf_padding: tuple[Fraction, Fraction]
    memory_bytes: int
    warnings: tuple[str, ...] = ()
    parts: tuple[LayerReport, ...] = ()

    @property
    def kind(self) -> str:
        return self.layer.kind

    @property
    def spec(self) -> str:
        """The word the user typed, or the canonical word of an option-built layer."""
        return self.layer.word or self.layer.to_word()

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass(frozen=True)
class Totals:
    """The sums over a chain's layers (see :class:`LayerReport` for each count)."""

    params: int
    macs: int
    window_ops: int
    memory_bytes: int

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass(frozen=True)
class ChainReport:
    """The result of :func:`analyze`: the input, one report per layer, the totals.

    ``total.memory_bytes`` sums every layer's output activations (the input excluded).
    """

    input: Shape
    layers: tuple[LayerReport, ...]
    total: Totals
    dtype_bytes: int = 4

    @property
    def output(self) -> Shape:
        return self.layers[-1].output if self.layers else self.input


@dataclass
class _Field:
    """Receptive-field state per axis, in input pixels (Araujo et al., Distill 2019)."""

    size: list[Fraction] = field(default_factory=lambda: [Fraction(1), Fraction(1)])
    jump: list[Fraction] = field(default_factory=lambda: [Fraction(1), Fraction(1)])
    padding: list[Fraction] = field(default_factory=lambda: [Fraction(0), Fraction(0)])
    #: The spatial extent (H, W) of the last spatial map, for fc after flatten.
    extent: Pair = (1, 1)

    def window(self, axis: int, kernel: int, stride: int, pad_before: int) -> None:
        """A sliding window: ``r += (ke - 1) j``, ``P += p j``, ``j *= s``."""
        self.size[axis] += (kernel - 1) * self.jump[axis]
        self.padding[axis] += pad_before * self.jump[axis]
        self.jump[axis] *= stride

    def transposed(
        self, axis: int, kernel: int, dilation: int, stride: int, crop_before: int
    ) -> None:
        """A transposed conv: the jump divides by the stride; the size grows by the widest
        run of inputs any one output reads; the centre stays where the equivalent direct
        conv (stride 1 on the zero-inserted input, padding ``ke - 1 - crop``) puts it.

        An output reads the inputs whose taps land on it: taps ``t`` with the same
        ``t d mod s``. The widest such group spans ``(t_last - t_first) d / s + 1`` inputs
        (2 for k=4, s=2). The equivalent conv's span, ``(ke - 1) / s + 1``, is only right
        on average; the padding is shifted by half the difference to keep the centre.
        """
        jump = self.jump[axis]
        spans = []
        for phase in range(stride):
            taps = [t for t in range(kernel) if (t * dilation) % stride == phase]
            if taps:
                spans.append((taps[-1] - taps[0]) * dilation // stride + 1)
        ke = effective_kernel(kernel, dilation)
        continuous_growth = Fraction(ke - 1, stride) * jump
        growth = (max(spans) - 1) * jump
        self.padding[axis] += (ke - 1 - crop_before) * jump / stride
        self.padding[axis] += (growth - continuous_growth) / 2
        self.size[axis] += growth
        self.jump[axis] = jump / stride

    def snapshot(self) -> tuple[tuple[Fraction, Fraction], ...]:
        return tuple(self.size), tuple(self.jump), tuple(self.padding)  # type: ignore[return-value]


def _check_ranges(layer: Layer, label: str) -> None:
    """Values that are wrong whatever the input: exit 2, as a usage error."""

    def positive(name: str, values: Sequence[int]) -> None:
        for value in values:
            if value < 1:
                raise SpecError(f"{label}: {name} must be >= 1, got {value}")

    if layer.kernel is not None:
        positive("kernel", layer.kernel)
    if layer.stride is not None:
        positive("stride", layer.stride)
    positive("dilation", layer.dilation)
    positive("groups", [layer.groups])
    positive("depth multiplier", [layer.depth_multiplier])
    if layer.out_channels is not None:
        positive("out channels" if layer.kind != "fc" else "units", [layer.out_channels])
    if not isinstance(layer.padding, str):
        for value in layer.padding:
            if value < 0:
                raise SpecError(f"{label}: padding must be >= 0, got {value}")
    for value in layer.output_padding:
        if value < 0:
            raise SpecError(f"{label}: output_padding must be >= 0, got {value}")


def _resolve_padding(layer: Layer, label: str, size: Pair, kernel: Pair, stride: Pair) -> Pads:
    """The four pads actually applied (``same``/``valid`` resolved for this input)."""
    if layer.padding == "valid":
        return (0, 0, 0, 0)
    if layer.padding != "same":
        return layer.padding  # type: ignore[return-value]
    if layer.kind == "deconv":
        pads: list[int] = []
        for axis in range(2):
            # Keras's Conv2DTranspose 'same': output = input * stride, so the output is
            # cropped by ke + output_padding - stride, the odd row at the bottom/right.
            ke = effective_kernel(kernel[axis], layer.dilation[axis])
            crop = ke + layer.output_padding[axis] - stride[axis]
            if crop < 0:
                raise ConvcliError(
                    f"{label}: padding 'same' cannot be honoured: an output of {size[axis]} x "
                    f"{stride[axis]} = {size[axis] * stride[axis]} needs output_padding "
                    f"{-crop + layer.output_padding[axis]}, got {layer.output_padding[axis]}"
                )
            pads += [crop // 2, crop - crop // 2]
        return tuple(pads)  # type: ignore[return-value]
    top_bottom = same_padding(size[0], kernel[0], stride[0], layer.dilation[0])
    left_right = same_padding(size[1], kernel[1], stride[1], layer.dilation[1])
    return (*top_bottom, *left_right)  # type: ignore[return-value]


def analyze(input_shape: Shape, layers: Sequence[Layer], dtype_bytes: int = 4) -> ChainReport:
    """Run a chain of layers over an input shape: sizes, costs, receptive fields.

    Parameters
    ----------
    input_shape : Shape
        ``(N,) C, H, W``; ``C`` may be None (one channel).
    layers : sequence of Layer
        Applied in order; positions in messages count from 1.
    dtype_bytes : int
        Bytes per activation element, for ``memory_bytes``.

    Returns
    -------
    ChainReport

    Raises
    ------
    ConvcliError
        Impossible geometry (output < 1, groups, pool padding, output_padding, ``same``).
    SpecError
        A value out of range on its own (stride 0, negative padding, missing kernel).

    Notes
    -----
    Conv params ``C_out (C_in / g) kh kw (+ C_out)``, MACs ``N C_out H_out W_out (C_in/g) kh
    kw``; transposed conv MACs ``N H_in W_in C_in (C_out / g) kh kw``; fc ``units (in + 1)``
    params and ``N units in`` MACs. Receptive field: ``r += (ke - 1) j``, ``P += p_before j``,
    ``j *= s`` (Araujo et al.); a transposed conv divides the jump by its stride and grows
    the field by the widest run of inputs one output reads (see ``_Field.transposed``);
    gap and fc cover the whole map.

    >>> chain = [Layer("conv", kernel=(3, 3), padding=(d, d, d, d), dilation=(d, d))
    ...          for d in (1, 2, 4, 8)]
    >>> [int(r.rf[0]) for r in analyze(Shape(1, 64, 64), chain).layers]
    [3, 7, 15, 31]
    """
    field_state = _Field()
    if not input_shape.is_flat:
        field_state.extent = (input_shape.height, input_shape.width)  # type: ignore[assignment]
    reports: list[LayerReport] = []
    shape = input_shape
    for position, layer in enumerate(layers, start=1):
        if layer.kind == "sepconv":
            label = layer.label(position)
            _check_ranges(layer, label)
            parts = []
            for part in expand(layer):
                parts.append(_one_layer(position, part, shape, field_state, dtype_bytes, label))
                shape = parts[-1].output
            depthwise, pointwise = parts
            report = replace(
                depthwise,
                layer=layer,
                output=pointwise.output,
                params=depthwise.params + pointwise.params,
                macs=depthwise.macs + pointwise.macs,
                memory_bytes=depthwise.memory_bytes + pointwise.memory_bytes,
                parts=tuple(parts),
            )
        else:
            report = _one_layer(position, layer, shape, field_state, dtype_bytes, None)
        reports.append(report)
        shape = report.output
    total = Totals(
        params=sum(r.params for r in reports),
        macs=sum(r.macs for r in reports),
        window_ops=sum(r.window_ops for r in reports),
        memory_bytes=sum(r.memory_bytes for r in reports),
    )
    return ChainReport(input_shape, tuple(reports), total, dtype_bytes)


def _one_layer(
    position: int,
    layer: Layer,
    shape: Shape,
    field_state: _Field,
    dtype_bytes: int,
    label: str | None,
) -> LayerReport:
    """Apply one (non-sepconv) layer; ``label`` overrides the error prefix for parts."""
    label = label or layer.label(position)
    _check_ranges(layer, label)
    kind = layer.kind
    batch = shape.batch_count
    in_channels = shape.channel_count
    warnings: list[str] = []
    no_pads: Pads = (0, 0, 0, 0)

    if kind in ("flatten", "fc"):
        features = shape.elements // batch
        if kind == "flatten":
            output = Shape.features(features, shape.batch)
            params = macs = 0
        else:
            if layer.out_channels is None:
                raise SpecError(f"{label}: fc needs its number of units (fc:UNITS)")
            units = layer.out_channels
            params = units * features + (units if layer.bias else 0)
            macs = batch * units * features
            output = Shape.features(units, shape.batch)
            # A unit sees every position of the last spatial map.
            for axis in range(2):
                field_state.window(axis, field_state.extent[axis], 1, 0)
            field_state.extent = (1, 1)
        size, jump, rf_padding = field_state.snapshot()
        return LayerReport(
            position,
            layer,
            shape,
            output,
            params,
            macs,
            0,
            no_pads,
            size,
            jump,
            rf_padding,
            output.elements * dtype_bytes,
        )

    if shape.is_flat:
        raise ConvcliError(
            f"{label}: {kind} needs a spatial input (C x H x W), got {shape.channels} flat features"
        )
    in_size: Pair = (shape.height, shape.width)  # type: ignore[assignment]

    if kind == "gap":
        output = Shape(shape.channels, 1, 1, shape.batch)
        for axis in range(2):
            field_state.window(axis, in_size[axis], 1, 0)
        field_state.extent = (1, 1)
        size, jump, rf_padding = field_state.snapshot()
        window_ops = batch * in_channels * in_size[0] * in_size[1]
        return LayerReport(
            position,
            layer,
            shape,
            output,
            0,
            0,
            window_ops,
            no_pads,
            size,
            jump,
            rf_padding,
            output.elements * dtype_bytes,
        )

    if layer.kernel is None:
        if kind != "pwconv":
            raise SpecError(f"{label}: {kind} needs a kernel size (k=K or k=KHxKW)")
        kernel: Pair = (1, 1)
    else:
        kernel = layer.kernel
    if kind == "pwconv" and kernel != (1, 1):
        raise SpecError(f"{label}: pwconv has a 1x1 kernel, got k={dims_text(kernel)}")
    is_pool = kind in POOL_KINDS
    stride: Pair = layer.stride or (kernel if is_pool else (1, 1))
    dilation = layer.dilation
    if kind == "avgpool" and dilation != (1, 1):
        raise SpecError(
            f"{label}: avgpool takes no dilation (PyTorch's AvgPool2d has none), got "
            f"d={dims_text(dilation)}"
        )

    # Channels and groups.
    groups = layer.groups
    if kind == "dwconv":
        groups = in_channels
        multiplier = layer.depth_multiplier
        if layer.out_channels is not None:
            if layer.out_channels % in_channels:
                raise ConvcliError(
                    f"{label}: dwconv out channels must be a multiple of the input's "
                    f"{in_channels}, got {layer.out_channels}"
                )
            if layer.depth_multiplier != 1 and layer.out_channels != in_channels * multiplier:
                raise ConvcliError(
                    f"{label}: out channels {layer.out_channels} disagree with dm="
                    f"{multiplier} on {in_channels} input channels"
                )
            multiplier = layer.out_channels // in_channels
        out_channels = in_channels * multiplier
    elif is_pool:
        out_channels = in_channels
    else:
        out_channels = in_channels if layer.out_channels is None else layer.out_channels
    if kind in CONV_KINDS:
        if in_channels % groups:
            raise ConvcliError(
                f"{label}: input channels {in_channels} must be divisible by groups {groups}"
            )
        if out_channels % groups:
            raise ConvcliError(
                f"{label}: out channels {out_channels} must be divisible by groups {groups}"
            )

    if kind == "deconv":
        for axis in range(2):
            limit = max(stride[axis], dilation[axis])
            if layer.output_padding[axis] >= limit:
                raise ConvcliError(
                    f"{label}: output_padding must be smaller than max(stride, dilation) = "
                    f"{limit}, got {layer.output_padding[axis]}"
                )
    elif layer.output_padding != (0, 0):
        raise SpecError(f"{label}: output_padding (op) applies only to deconv")

    pads = _resolve_padding(layer, label, in_size, kernel, stride)
    if is_pool:
        for axis in range(2):
            limit = kernel[axis] // 2
            widest = max(pads[2 * axis], pads[2 * axis + 1])
            if widest <= limit:
                continue
            if layer.padding == "same":
                raise ConvcliError(
                    f"{label}: padding 'same' cannot be honoured: it needs {widest} on one "
                    f"side, more than kernel // 2 = {limit} (PyTorch's pooling rule)"
                )
            raise ConvcliError(
                f"{label}: padding must be at most kernel // 2 = {limit} (PyTorch's rule, on "
                f"the undilated kernel {kernel[axis]}), got {widest}"
            )

    out_size: list[int] = []
    for axis in range(2):
        side = (pads[2 * axis], pads[2 * axis + 1])
        if kind == "deconv":
            out = transposed_output_size(
                in_size[axis],
                kernel[axis],
                stride[axis],
                side,
                dilation[axis],
                layer.output_padding[axis],
            )
        elif is_pool:
            out = pool_output_size(
                in_size[axis], kernel[axis], stride[axis], side, dilation[axis], layer.ceil_mode
            )
        else:
            out = conv_output_size(in_size[axis], kernel[axis], stride[axis], side, dilation[axis])
        out_size.append(out)
    if min(out_size) < 1:
        effective = [effective_kernel(k, d) for k, d in zip(kernel, dilation, strict=True)]
        raise ConvcliError(
            f"{label}: output size must be >= 1, got {dims_text(out_size)} (input "
            f"{dims_text(in_size)}, effective kernel {dims_text(effective)}, stride "
            f"{dims_text(stride)}, padding {','.join(map(str, pads))})"
        )

    if kind != "deconv":
        names = ("row", "column")
        ends = ("bottom", "right")
        for axis in range(2):
            dropped = dropped_inputs(
                in_size[axis],
                out_size[axis],
                kernel[axis],
                stride[axis],
                pads[2 * axis],
                dilation[axis],
            )
            if dropped:
                warnings.append(
                    f"floor division drops {dropped} input {names[axis]}"
                    f"{'s' if dropped > 1 else ''} at the {ends[axis]}"
                )

    for axis in range(2):
        if kind == "deconv":
            field_state.transposed(axis, kernel[axis], dilation[axis], stride[axis], pads[2 * axis])
        else:
            ke = effective_kernel(kernel[axis], dilation[axis])
            field_state.window(axis, ke, stride[axis], pads[2 * axis])
    field_state.extent = (out_size[0], out_size[1])
    size, jump, rf_padding = field_state.snapshot()

    # An H x W input with no channel count stays channel-less until a layer sets one.
    channel_less = shape.channels is None and layer.out_channels is None and out_channels == 1
    output = Shape(None if channel_less else out_channels, out_size[0], out_size[1], shape.batch)

    taps = kernel[0] * kernel[1]
    params = macs = window_ops = 0
    if kind in CONV_KINDS:
        params = out_channels * (in_channels // groups) * taps
        params += out_channels if layer.bias else 0
        if kind == "deconv":
            macs = batch * in_size[0] * in_size[1] * in_channels * (out_channels // groups) * taps
        else:
            macs = batch * out_channels * out_size[0] * out_size[1] * (in_channels // groups) * taps
    else:
        window_ops = batch * out_channels * out_size[0] * out_size[1] * taps

    return LayerReport(
        position,
        layer,
        shape,
        output,
        params,
        macs,
        window_ops,
        pads,
        size,
        jump,
        rf_padding,
        output.elements * dtype_bytes,
        tuple(warnings),
    )
