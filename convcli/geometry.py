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

import math
from collections.abc import Sequence
from dataclasses import field, replace
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from convcli._records import dataclass
from convcli.errors import ConvcliError, SpecError
from convcli.numbers import json_fraction

if TYPE_CHECKING:
    from fractions import Fraction

#: A receptive-field value: an int until a transposed layer divides it (then a Fraction;
#: ``fractions`` is imported only then, ~2 ms of ``convcli shape``'s start-up).
Exact: TypeAlias = "int | Fraction"

Pair = tuple[int, int]
Pads = tuple[int, ...]  # (before, after) per axis: top, bottom, left, right in 2-D
#: The 2-D case of :data:`Pads`, the one the pixel core applies: ``(top, bottom, left, right)``.
Pads2d = tuple[int, int, int, int]
#: THE padding, parsed: pads per side, or a word resolved once the sizes are known. The
#: looser "what ``padding=`` accepts" (an int, a pair...) is ``convcli.core.padding.PaddingLike``,
#: turned into this by ``convcli.core.padding.as_padding_spec``.
PaddingSpec = Pads | Literal["same", "valid"]

COUNTING_CONVENTION = (
    "Parameters include bias. MACs = multiply-accumulates of the layer's weights (no bias "
    "adds), the mult-adds of the MobileNet paper; FLOPs = 2 x MACs. Transposed convolution "
    "is counted from the input side. Pooling's window operations are listed separately, "
    "never folded into MACs."
)
#: Added under the table when a network has norms, activations, merges or attention.
ELEMENTWISE_CONVENTION = (
    "Batch norm's running mean and variance are buffers, not parameters. Element "
    "operations (2 per element for a norm, 1 for an activation or a merge, 1 per "
    "attention score for its softmax) are listed apart and not in MACs; attention's MACs "
    "are its four projections and its two T x T matmuls."
)
#: Replaces the sentence above when --count-elementwise folds them into MACs.
ELEMENTWISE_COUNTED = (
    "Batch norm's running mean and variance are buffers, not parameters. Element "
    "operations of norms, activations and merges are counted as MACs here "
    "(--count-elementwise, the habit of ptflops and fvcore)."
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

    Parameters
    ----------
    size : int
        Input length along the axis.
    kernel : int
        Kernel length (undilated).
    stride : int
        Step of the window.
    padding : int or (int, int)
        Padding per side, or ``(before, after)``.
    dilation : int
        Spacing of the kernel's taps.

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

    Parameters
    ----------
    size, kernel : int
        Input and (undilated) kernel lengths, as in :func:`conv_output_size`.
    stride : int or None
        Step of the window; None: the kernel.
    padding : int or (int, int)
        Padding per side (at most ``kernel // 2``), or ``(before, after)``.
    dilation : int
        Dilation.
    ceil_mode : bool
        Round the division up (PyTorch's ``ceil_mode``).

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

    Parameters
    ----------
    size, kernel : int
        Input and (undilated) kernel lengths, as in :func:`conv_output_size`.
    stride : int
        Step between the scattered kernels.
    padding : int or (int, int)
        Rows cropped from each side of the output.
    dilation : int
        Dilation.
    output_padding : int
        Extra rows after (``< max(stride, dilation)``).

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

    Parameters
    ----------
    size, kernel : int
        Input and (undilated) kernel lengths, as in :func:`conv_output_size`.
    stride : int
        Step of the window.
    dilation : int
        Dilation.

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

    Parameters
    ----------
    size : int
        Input length along the axis.
    out_size : int
        Output length (from the size formula).
    kernel : int
        Kernel length (undilated).
    stride : int
        Step of the window.
    pad_before : int
        Padding before the input.
    dilation : int
        Dilation.

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

    @property
    def pytorch_call(self) -> str:
        """How to get these pads in PyTorch: :attr:`pytorch`, or an explicit ``F.pad``."""
        if self.pytorch:
            return self.pytorch
        before, after = self.pads
        return f"F.pad {before} before, {after} after, then padding=0"

    def to_dict(self) -> dict[str, Any]:
        """The option as data (``pytorch`` is :attr:`pytorch_call`)."""
        return {
            "stride": self.stride,
            "padding": list(self.pads),
            "output_padding": self.output_padding,
            "pytorch": self.pytorch_call,
            "tf_same": self.tf_same,
        }


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

    Parameters
    ----------
    size : int
        Input length along the axis.
    target : int
        The output length wanted.
    kernel : int
        Kernel length (undilated).
    dilation : int
        Dilation.
    stride : int or None
        The stride; None: search the strides too.
    kind : str
        The layer kind (``conv``, ``deconv``, ``maxpool``, ...).
    ceil_mode : bool
        Pools: PyTorch's ``ceil_mode``.

    >>> [(o.stride, o.pads, o.tf_same) for o in target_options(224, 112, 3, stride=2)]
    [(2, (0, 1), True), (2, (1, 1), False)]
    """
    if kind == "deconv":
        return _transposed_targets(size, target, kernel, dilation, stride)
    ke = effective_kernel(kernel, dilation)
    search = _PadSearch(size, target, kernel, dilation, kind, ceil_mode and kind in POOL_KINDS)
    if search.ceil and search.ceil_tries * (1 if stride else ke) > _CEIL_SEARCH:
        raise SpecError(
            f"--target with --ceil-mode tries the paddings of every stride up to the kernel "
            f"span: kernel {kernel}, dilation {dilation} has too many; give -s/--stride"
            if stride is None
            else f"--target with --ceil-mode: kernel {kernel} is too large to search"
        )
    if stride is not None:
        search.check_listable(range(stride, stride + 1))
        return search.for_stride(stride)
    if ke > _STRIDES_TRIED:  # every stride up to the span is listed: not a billion
        raise _too_many_strides(target, size, ke, kernel, dilation)
    search.check_listable(range(1, ke + 1))
    options = [option for s in range(1, ke + 1) for option in search.for_stride(s)]
    return options or search.least_stride_from(ke + 1)


#: Paddings a ceil-mode ``--target`` search tries at most (:attr:`_PadSearch.ceil_tries`
#: a stride), which bounds its time: ~1 s, counting and listing.
_CEIL_SEARCH = 400_000


@dataclass(frozen=True)
class _PadSearch:
    """The question of :func:`target_options` (not transposed), answered per stride.

    Per side at most ``ke - 1`` of padding is considered, ``kernel // 2`` for pools
    (PyTorch's limit); in floor mode the output depends only on the total padding, in
    ceil mode also on the padding before (:meth:`ceil_befores`).
    """

    size: int
    target: int
    kernel: int
    dilation: int
    kind: str
    ceil: bool

    @property
    def ke(self) -> int:
        return effective_kernel(self.kernel, self.dilation)

    @property
    def limit(self) -> int:
        return self.kernel // 2 if self.kind in POOL_KINDS else self.ke - 1

    def totals(self, s: int) -> range:
        """The total paddings P that give ``target`` in floor mode: the output depends
        only on P, ``(target - 1) s <= size + P - ke < target s``."""
        low = max((self.target - 1) * s + self.ke - self.size, 0)
        return range(low, min(self.target * s - 1 + self.ke - self.size, 2 * self.limit) + 1)

    @property
    def ceil_tries(self) -> int:
        """The paddings :meth:`for_stride` tries at most for one stride in ceil mode: each
        symmetric one, then each total."""
        return 3 * self.limit + 2

    def ceil_befores(self, s: int, total: int) -> range:
        """The paddings before that give ``target`` with this total in ceil mode.

        ``o = ceil((size + total - ke) / s) + 1`` does not depend on the split; PyTorch
        then drops the last window if it starts in the right padding, ``(o - 1) s >=
        size + before``: for the small ``before`` only. So the befores that give the
        target are one run (those ``<= (o - 1) s - size`` when ``o - 1`` is the target,
        the others when ``o`` is), within ``total - limit .. limit``.
        """
        out = -(-(self.size + total - self.ke) // s) + 1
        first, last = max(0, total - self.limit), min(total, self.limit)
        dropped = (out - 1) * s - self.size  # the largest before whose last window drops
        if out == self.target:
            return range(max(first, dropped + 1), last + 1)
        if out - 1 == self.target:
            return range(first, min(last, dropped) + 1)
        return range(0)

    def even_totals(self, s: int) -> range:
        """The even totals of :meth:`totals`: each is a symmetric padding (floor mode)."""
        totals = self.totals(s)
        return range(totals.start + totals.start % 2, totals.stop, 2)

    def check_listable(self, strides: range) -> None:
        """Refuse a list longer than :data:`_OPTIONS_LISTED` before making it: the
        symmetric paddings of ``strides`` are counted first (``shape 1 -k 32 -d 100
        --target 1`` listed 2.4 million options in 16 s and 1.5 GB)."""
        count = sum(
            len(self._symmetric(s)) if self.ceil else len(self.even_totals(s)) for s in strides
        )  # ceil mode's are tried one by one: within its budget
        if count <= _OPTIONS_LISTED:
            return
        where = f"stride {strides.start}" if len(strides) == 1 else (
            f"strides {strides.start} to {strides.stop - 1:,}"
        )  # fmt: skip
        raise SpecError(
            f"--target {self.target} from {self.size}: {count:,} paddings reach it at {where} "
            f"with kernel {self.kernel}, dilation {self.dilation} ({_OPTIONS_LISTED:,} are "
            "listed at most)" + ("" if len(strides) == 1 else "; give -s/--stride")
        )

    def _symmetric(self, s: int) -> list[Pair]:
        if self.ceil:
            return [(p, p) for p in range(self.limit + 1) if p in self.ceil_befores(s, 2 * p)]
        return [(p // 2, p // 2) for p in self.even_totals(s)]  # totals stop at 2 limit

    def _fallback(self, s: int) -> list[Pair]:
        """The smallest asymmetric pair (by total, then before), when neither SAME nor a
        symmetric pair works."""
        if self.ceil:
            for total in range(2 * self.limit + 1):
                befores = self.ceil_befores(s, total)
                if befores:
                    return [(befores[0], total - befores[0])]
            return []
        smallest = self.totals(s)[0]
        before = max(0, smallest - self.limit)
        return [(before, smallest - before)]

    def least_stride_from(self, first: int) -> list[TargetOption]:
        """The options of the smallest stride from ``first`` on that gives ``target``.

        Not by trying every stride up to the size (a 61-pixel input asked for 10**9 took
        forever). In floor mode it is computed: a total padding P in ``0 .. 2 limit`` with
        ``(t - 1) s <= size + P - ke < t s``. Ceil mode's output is floor mode's or one
        more, so only the strides where floor mode gives ``t - 1`` or ``t`` are searched,
        as many as the ceil search's budget allows.
        """
        t, spread, most = self.target, self.size - self.ke, self.size - self.ke + 2 * self.limit
        low = max(first, spread // t + 1)  # size + P - ke < t s, for P >= 0
        if not self.ceil:
            return self.for_stride(low) if (t - 1) * low <= most else []
        # Past the size (and the padded span) every stride gives the same output.
        high = most // (t - 2) if t > 2 else max(most, self.size + self.limit) + 1
        affordable = low + _CEIL_SEARCH // self.ceil_tries
        for s in range(low, min(high, affordable) + 1):
            options = self.for_stride(s)
            if options:
                return options
        if high > affordable:
            raise SpecError(
                f"--target {t} with --ceil-mode: no stride from {first} to {affordable} "
                "gives it and the search stops there; give -s/--stride"
            )
        return []

    def for_stride(self, s: int) -> list[TargetOption]:
        """The TensorFlow ``SAME`` split if it lands on the target, then the symmetric
        pads, else the smallest asymmetric pair."""
        if not self.ceil and not self.totals(s):
            return []
        tf_pads = same_padding(self.size, self.kernel, s, self.dilation)
        if self.ceil:  # the befores run within the limit, so do the afters then
            gives = tf_pads[0] in self.ceil_befores(s, sum(tf_pads))
        else:
            gives = max(tf_pads) <= self.limit and sum(tf_pads) in self.totals(s)
        tf_ok = -(-self.size // s) == self.target and gives
        chosen: list[Pair] = [tf_pads] if tf_ok else []
        chosen += [pads for pads in self._symmetric(s) if pads not in chosen]
        if not chosen:
            chosen = self._fallback(s)
        return [TargetOption(s, pads, 0, self._text(s, pads, tf_pads), tf_ok and pads == tf_pads)
                for pads in chosen]  # fmt: skip

    def _text(self, s: int, pads: Pair, tf_pads: Pair) -> str:
        """The PyTorch argument for ``pads`` ("" when the sides differ)."""
        if pads[0] != pads[1]:
            return ""
        if s == 1 and self.size == self.target and pads == tf_pads and self.kind not in POOL_KINDS:
            return f"padding={pads[0]} or padding='same'"
        return f"padding={pads[0]}"


#: Most strides a ``--target`` search without ``-s`` tries; past it the list (and the
#: time) grows with the square of the kernel span.
_STRIDES_TRIED = 10_000

#: Most symmetric paddings a ``--target`` search lists (with at most one more option a
#: stride: TensorFlow's SAME split or the smallest asymmetric pair). More than anyone
#: reads; ~0.1 s.
_OPTIONS_LISTED = 10_000


def _too_many_strides(target: int, size: int, count: int, kernel: int, dilation: int) -> SpecError:
    """The refusal of a ``--target`` search with more than :data:`_STRIDES_TRIED` strides."""
    return SpecError(
        f"--target {target} from {size}: {count:,} strides to try with kernel {kernel}, "
        f"dilation {dilation}; give -s/--stride"
    )


def _transposed_targets(
    size: int, target: int, kernel: int, dilation: int, stride: int | None
) -> list[TargetOption]:
    """:func:`target_options` for a transposed convolution: per stride, the crop that
    needs the least ``output_padding``, and of those the strides needing the least.

    For a stride s the output is ``(size - 1) s - 2p + ke + op``; the smallest crop ``p``
    with ``op >= 0`` gives the least ``op``. Strides past ``(target + ke) / (size - 1)``
    cannot reach the target, and those under ``(target - ke) / (size - 1)`` need more
    ``output_padding`` than that one (or too much); a one-pixel input needs
    ``max(s, d) > op >= target - ke``. More strides than :data:`_STRIDES_TRIED` between
    those bounds (a huge kernel or target) are refused, not tried one by one.
    """
    ke = effective_kernel(kernel, dilation)
    if stride is not None:
        strides = range(stride, stride + 1)
    elif size > 1:
        strides = range(
            max(1, (target - ke) // (size - 1)), min(target, (target + ke) // (size - 1)) + 1
        )
    else:  # the output ke - 2p + op does not depend on s, but op < max(s, d) does
        least_op = max(0, target - ke)
        strides = range(1 if dilation > least_op else max(1, least_op), target + 1)
    if len(strides) > _STRIDES_TRIED:
        raise _too_many_strides(target, size, len(strides), kernel, dilation)
    options: list[TargetOption] = []
    for s in strides:
        p = max(0, -(-((size - 1) * s + ke - target) // 2))
        op = target - transposed_output_size(size, kernel, s, p, dilation)
        if p < ke and 0 <= op < max(s, dilation):
            text = f"padding={p}" + (f", output_padding={op}" if op else "")
            options.append(TargetOption(s, (p, p), op, text, False))
    # A large stride with a large output_padding is legal but never what one wants:
    # keep the options that need the least output_padding.
    least = min((option.output_padding for option in options), default=0)
    return [option for option in options if option.output_padding == least]


# ---------------------------------------------------------------------------------------
# Shapes and layers


@dataclass(frozen=True)
class Shape:
    """A tensor shape: ``(N,) C, H, W``, and its 1-D, 3-D, flat and token forms.

    ``channels`` is None when the user gave only ``H x W`` (a single-channel matrix: costs
    count one channel, and the channel is not printed until a layer sets it). A flat shape
    (after ``flatten`` or ``fc``) has ``height = width = None``; a 1-D map ``C x L`` keeps
    its length in ``width`` (``height`` None); a 3-D map ``C x D x H x W`` adds ``depth``.
    Transformer tokens ``T x C`` have ``tokens = T`` and no spatial size.
    """

    channels: int | None
    height: int | None
    width: int | None
    batch: int | None = None
    depth: int | None = None
    tokens: int | None = None

    @classmethod
    def features(cls, count: int, batch: int | None = None) -> Shape:
        """A flat shape of ``count`` features (after ``flatten`` or ``fc``)."""
        return cls(count, None, None, batch)

    @classmethod
    def of(cls, channels: int | None, spatial: Sequence[int], batch: int | None = None) -> Shape:
        """A map of any rank: ``spatial`` is ``()`` (flat), ``(L,)``, ``(H, W)`` or
        ``(D, H, W)``.

        Parameters
        ----------
        channels : int or None
            Channels; None for a map without them.
        spatial : sequence of int
            The spatial sizes (``()``, ``(L,)``, ``(H, W)`` or ``(D, H, W)``).
        batch : int or None
            The batch, when given.

        >>> str(Shape.of(64, (8, 28, 28)))
        '64x8x28x28'
        """
        dims = tuple(spatial)
        if len(dims) == 3:
            return cls(channels, dims[1], dims[2], batch, depth=dims[0])
        if len(dims) == 2:
            return cls(channels, dims[0], dims[1], batch)
        if len(dims) == 1:
            return cls(channels, None, dims[0], batch)
        return cls(channels, None, None, batch)

    @classmethod
    def token_shape(cls, tokens: int, channels: int, batch: int | None = None) -> Shape:
        """``T`` tokens of ``C`` features (a transformer's sequence).

        Parameters
        ----------
        tokens : int
            Sequence length T.
        channels : int
            Features per token C.
        batch : int or None
            The batch, when given.
        """
        return cls(channels, None, None, batch, tokens=tokens)

    @property
    def spatial(self) -> tuple[int, ...]:
        """The sizes a window slides over: ``()``, ``(L,)``, ``(H, W)`` or ``(D, H, W)``."""
        dims = (self.depth, self.height, self.width)
        return tuple(d for d in dims if d is not None)

    @property
    def rank(self) -> int:
        """Spatial dimensions: 0 (flat or tokens), 1, 2 or 3."""
        return len(self.spatial)

    @property
    def is_flat(self) -> bool:
        """True after ``flatten`` or ``fc``: features only, no spatial size, no tokens."""
        return self.rank == 0 and self.tokens is None

    @property
    def is_tokens(self) -> bool:
        """True for a transformer's ``T x C`` sequence."""
        return self.tokens is not None

    @property
    def channel_count(self) -> int:
        """Channels for cost formulas: 1 when not given."""
        return 1 if self.channels is None else self.channels

    @property
    def batch_count(self) -> int:
        """Batch size for cost formulas: 1 when not given."""
        return 1 if self.batch is None else self.batch

    @property
    def positions(self) -> int:
        """Spatial positions (or tokens) of one sample: 1 when flat."""
        count = self.tokens or 1
        for size in self.spatial:
            count *= size
        return count

    @property
    def elements(self) -> int:
        """Elements in one sample times the batch."""
        return self.batch_count * self.channel_count * self.positions

    def with_channels(self, channels: int | None) -> Shape:
        """The same positions with another channel count."""
        return replace(self, channels=channels)

    def dims(self) -> list[int]:
        """``[N,] [C,] H, W`` (``[N,] F`` when flat, ``[N,] T, C`` for tokens): what
        JSON prints."""
        if self.tokens is not None:
            return [d for d in (self.batch, self.tokens, self.channel_count) if d is not None]
        dims = [d for d in (self.batch, self.channels) if d is not None]
        return dims + list(self.spatial)

    def format(self, channels_last: bool = False) -> str:
        """``64x56x56``; ``56x56x64`` in channels-last order; ``197x768t`` for tokens."""
        if self.tokens is not None:
            return dims_text(self.dims()) + "t"
        if channels_last and self.rank and self.channels is not None:
            dims = [d for d in (self.batch,) if d is not None]
            return dims_text([*dims, *self.spatial, self.channels])
        return dims_text(self.dims())

    def __str__(self) -> str:
        return self.format()


#: Kinds that take a rank suffix (``conv1d``, ``maxpool3d``): they slide a window.
RANKED_KINDS = frozenset({"conv", "dwconv", "pwconv", "sepconv", "deconv", "maxpool", "avgpool"})
POOL_KINDS = frozenset({"maxpool", "avgpool"})
CONV_KINDS = frozenset({"conv", "dwconv", "pwconv", "sepconv", "deconv"})
NORM_KINDS = frozenset({"bn", "ln", "gn"})
#: Activation words, each the PyTorch module it stands for.
ACTIVATIONS: dict[str, str] = {
    "relu": "ReLU",
    "relu6": "ReLU6",
    "silu": "SiLU",
    "gelu": "GELU",
    "sigmoid": "Sigmoid",
    "hswish": "Hardswish",
    "hsigmoid": "Hardsigmoid",
    "lrelu": "LeakyReLU",
    "tanh": "Tanh",
    "softmax": "Softmax",
}
MERGE_KINDS = frozenset({"add", "cat", "mul"})
TOKEN_KINDS = frozenset({"tokens", "cls", "posemb", "attn", "mlp", "head"})

#: Layer kinds, in the order the help lists them.
KINDS: tuple[str, ...] = (
    "conv", "dwconv", "pwconv", "sepconv", "deconv", "maxpool", "avgpool", "gap", "gmp",
    "flatten", "fc", "bn", "ln", "gn", *ACTIVATIONS, "dropout", "up", "shuffle", "pad",
    "crop", "se", "add", "cat", "mul", *sorted(TOKEN_KINDS),
)  # fmt: skip
#: Kinds that slide a window over H and W (so they need a spatial input).
SPATIAL_KINDS = CONV_KINDS | POOL_KINDS | {"gap", "gmp", "up", "shuffle", "pad", "crop", "se"}
#: Kinds whose cost is element operations only (never MACs).
ELEMENTWISE_KINDS = NORM_KINDS | frozenset(ACTIVATIONS) | {"dropout"}


@dataclass(frozen=True)
class Layer:
    """One layer, as the user described it (before it meets an input shape).

    ``kernel``, ``stride``, ``dilation`` and ``output_padding`` have one entry per
    spatial axis (``rank`` of them: ``(h, w)`` for the usual 2-D layer); ``stride=None``
    means the default (1, or the kernel for pools). ``padding`` is ``(before, after)`` per
    axis (``(top, bottom, left, right)`` in 2-D), ``"same"`` or ``"valid"``.
    ``out_channels`` is None when not given: convolutions then keep the input's channel
    count; ``fc`` needs it (the number of units); it is also the squeeze width of ``se``
    and the hidden width of ``mlp``. ``depth_multiplier`` applies to dwconv and sepconv.
    ``norm``/``act`` are the ``,bn`` and ``act=`` keys (layers of their own after this
    one); ``refs`` the tensors a merge or ``crop`` reads; ``size`` the output of an
    adaptive pool; ``scale`` the factor of ``up``/``shuffle``; ``mode`` up's
    interpolation; ``heads`` attention's. ``word`` is the text that named the layer in
    error messages (see :meth:`to_word`); ``source`` optionally says where it came from
    (``net.net:3``).
    """

    kind: str
    out_channels: int | None = None
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: PaddingSpec = (0, 0, 0, 0)
    dilation: tuple[int, ...] = (1, 1)
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False
    output_padding: tuple[int, ...] = (0, 0)
    depth_multiplier: int = 1
    word: str = ""
    source: str = ""
    rank: int = 2
    norm: str = ""
    act: str = ""
    refs: tuple[str, ...] = ()
    size: tuple[int, ...] | None = None
    scale: tuple[int, ...] = (1, 1)
    mode: str = "nearest"
    heads: int = 1

    def label(self, position: int) -> str:
        """``layer 2 'conv:64,k=3'`` (plus its source), the prefix of every error."""
        where = f" ({self.source})" if self.source else ""
        return f"layer {position} '{self.word or self.to_word()}'{where}"

    def to_word(self) -> str:
        """The canonical LAYER word: ``conv:64,k=3,s=2,p=1``; defaults are left out."""

        def axes(value: Sequence[int]) -> str:
            return str(value[0]) if len(set(value)) == 1 else dims_text(value)

        args: list[str] = []
        if self.out_channels is not None:
            args.append(str(self.out_channels))
        if self.kernel is not None and self.kind not in ("pwconv", "gap", "flatten", "fc"):
            args.append(f"k={axes(self.kernel)}")
        if self.stride is not None:
            args.append(f"s={axes(self.stride)}")
        if isinstance(self.padding, str):
            args.append(f"p={self.padding}")
        elif any(self.padding):
            befores, afters = self.padding[0::2], self.padding[1::2]
            if befores == afters:
                args.append(f"p={axes(befores)}")
            else:
                args.append("p=" + ",".join(map(str, self.padding)))
        if set(self.dilation) != {1}:
            args.append(f"d={axes(self.dilation)}")
        if self.groups != 1:
            args.append(f"g={self.groups}")
        if any(self.output_padding):
            args.append(f"op={axes(self.output_padding)}")
        if self.depth_multiplier != 1:
            args.append(f"dm={self.depth_multiplier}")
        if self.ceil_mode:
            args.append("ceil=true")
        if not self.bias and self.kind in CONV_KINDS | {"fc"}:
            args.append("bias=false")
        suffix = f"{self.rank}d" if self.kind in RANKED_KINDS and self.rank != 2 else ""
        return self.kind + suffix + (":" + ",".join(args) if args else "")


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
        kernel=(1,) * layer.rank,
        stride=None,
        padding=(0,) * (2 * layer.rank),
        dilation=(1,) * layer.rank,
        output_padding=(0,) * layer.rank,
        bias=layer.bias,
        word=f"{layer.word} (pointwise)",
        source=layer.source,
        rank=layer.rank,
    )
    return [depthwise, pointwise]


# ---------------------------------------------------------------------------------------
# Receptive fields


def transposed_span(kernel: int, dilation: int, stride: int) -> int:
    """The most input positions one output of a transposed convolution reads: the widest
    of its output phases (outputs ``y`` with the same ``(y + padding) % stride``).

    Taps ``t`` whose ``t * dilation`` falls in one phase repeat every ``stride / g`` taps
    (``g = gcd(dilation, stride)``), so the widest phase is the one of tap 0, and its
    span is counted without a loop over the taps (one over a kernel of millions of
    taps took seconds, and a fuzz test under tracing never ended).

    Parameters
    ----------
    kernel : int
        Taps along the axis.
    dilation : int
        Input positions between taps.
    stride : int
        The layer's stride (the input's upsampling).

    Returns
    -------
    int
        ``(kernel - 1) // (stride / g) * (dilation / g) + 1``.

    Examples
    --------
    >>> transposed_span(4, 1, 2), transposed_span(3, 1, 2), transposed_span(5, 2, 4)
    (2, 2, 3)
    """
    g = math.gcd(dilation, stride)
    return (kernel - 1) // (stride // g) * (dilation // g) + 1


@dataclass(frozen=True)
class Field:
    """Receptive-field state of one tensor, per spatial axis, in input pixels (Araujo et
    al., Distill 2019).

    ``size``/``jump``/``padding`` are the field of one position; ``extent`` the spatial
    size of the last map (what ``fc`` and ``gap`` cover); ``whole`` is true once every
    position depends on the whole input (attention, a broadcast gate).
    """

    size: tuple[Exact, ...]
    jump: tuple[Exact, ...]
    padding: tuple[Exact, ...]
    extent: tuple[int, ...]
    whole: bool = False

    @classmethod
    def start(cls, shape: Shape) -> Field:
        """The field of an input: one pixel, per axis."""
        rank = max(shape.rank, 1) if not shape.is_tokens else 1
        one, zero = (1,) * rank, (0,) * rank
        return cls(one, one, zero, shape.spatial or (1,) * rank)

    def window(self, kernels: Sequence[int], strides: Sequence[int], befores: Sequence[int],
               extent: Sequence[int] | None = None) -> Field:  # fmt: skip
        """A sliding window per axis: ``r += (ke - 1) j``, ``P += p j``, ``j *= s``.

        Parameters
        ----------
        kernels : sequence of int
            Effective kernel per axis.
        strides : sequence of int
            Stride per axis.
        befores : sequence of int
            Padding before, per axis.
        extent : sequence of int or None
            The input's size per axis (a field wider than it is global); None: unbounded.
        """
        size = tuple(r + (k - 1) * j for r, k, j in zip(self.size, kernels, self.jump, strict=True))
        padding = tuple(p + b * j for p, b, j in zip(self.padding, befores, self.jump, strict=True))
        jump = tuple(j * s for j, s in zip(self.jump, strides, strict=True))
        return replace(self, size=size, jump=jump, padding=padding,
                       extent=tuple(extent) if extent is not None else self.extent)  # fmt: skip

    def transposed(
        self,
        kernels: Sequence[int],
        dilations: Sequence[int],
        strides: Sequence[int],
        crops: Sequence[int],
        extent: Sequence[int],
    ) -> Field:
        """A transposed conv per axis: the jump divides by the stride; the size grows by
        the widest run of inputs any one output reads; the centre stays where the
        equivalent direct conv (stride 1 on the zero-inserted input, padding
        ``ke - 1 - crop``) puts it.

        An output reads the inputs whose taps land on it: taps ``t`` with the same
        ``t d mod s``. The widest such group spans ``(t_last - t_first) d / s + 1`` inputs
        (2 for k=4, s=2). The equivalent conv's span, ``(ke - 1) / s + 1``, is only right
        on average; the padding is shifted by half the difference to keep the centre.

        Parameters
        ----------
        kernels : sequence of int
            Kernel per axis.
        dilations : sequence of int
            Dilation per axis.
        strides : sequence of int
            Stride per axis.
        crops : sequence of int
            Padding (crop) per axis.
        extent : sequence of int
            The input's size per axis.
        """
        from fractions import Fraction

        size, jump, padding = ([Fraction(v) for v in values]
                               for values in (self.size, self.jump, self.padding))  # fmt: skip
        for axis, (kernel, dilation, stride) in enumerate(
            zip(kernels, dilations, strides, strict=True)
        ):
            ke = effective_kernel(kernel, dilation)
            continuous_growth = Fraction(ke - 1, stride) * jump[axis]
            growth = (transposed_span(kernel, dilation, stride) - 1) * jump[axis]
            padding[axis] += (ke - 1 - crops[axis]) * jump[axis] / stride
            padding[axis] += (growth - continuous_growth) / 2
            size[axis] += growth
            jump[axis] = jump[axis] / stride
        return Field(tuple(size), tuple(jump), tuple(padding), tuple(extent), self.whole)

    def merge(self, other: Field) -> Field:
        """Two paths meet: the larger field per axis (with that path's padding)."""
        if len(other.size) != len(self.size) or other.whole:
            return replace(self, whole=True) if not other.whole else other
        size, jump, padding = [], [], []
        for axis in range(len(self.size)):
            mine = self.size[axis] >= other.size[axis]
            source = self if mine else other
            size.append(source.size[axis])
            jump.append(max(self.jump[axis], other.jump[axis]))
            padding.append(source.padding[axis])
        return replace(self, size=tuple(size), jump=tuple(jump), padding=tuple(padding),
                       whole=self.whole)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Reports


@dataclass(frozen=True)
class LayerReport:
    """What one layer does to its input.

    ``padding`` is the pads applied, ``(before, after)`` per axis (``(top, bottom, left,
    right)`` in 2-D; for ``deconv``, the rows cropped from the output); ``rf``/``jump``/
    ``rf_padding`` are the receptive field of one output position in input pixels, per
    axis (Fractions: a transposed convolution makes them fractional), and ``rf_global``
    is true when every output depends on the whole input (then they are not shown).
    ``params`` are learnable parameters; ``buffers`` non-learnable state (batch norm's
    running mean and variance); ``macs`` the weights' multiply-accumulates; ``window_ops``
    pooling's window reads and ``elementwise_ops`` the element operations of norms,
    activations and merges (never in ``macs``). ``parts`` holds a sepconv's depthwise and
    pointwise reports (and the pieces of ``se`` and ``mlp``). ``reads`` names the tensors
    the layer reads when that is not just the previous layer's output (by tag where they
    have one), ``inputs`` the ids of every tensor it reads (``#3`` is layer 3's output,
    inputs by name); ``block`` is the
    path of ``use:``/``repeat`` blocks the layer came from and ``instance`` numbers each
    of them (for ``--depth``).
    """

    position: int
    layer: Layer
    input: Shape
    output: Shape
    params: int
    macs: int
    window_ops: int
    padding: tuple[int, ...]
    rf: tuple[Exact, ...]
    jump: tuple[Exact, ...]
    rf_padding: tuple[Exact, ...]
    memory_bytes: int
    warnings: tuple[str, ...] = ()
    parts: tuple[LayerReport, ...] = ()
    buffers: int = 0
    elementwise_ops: int = 0
    rf_global: bool = False
    reads: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    block: tuple[str, ...] = ()
    instance: tuple[int, ...] = ()

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

    def _field(self, values: tuple[Exact, ...]) -> list[int | float] | str:
        """Per-axis numbers, or ``"global"`` once every output sees the whole input."""
        return "global" if self.rf_global else [json_fraction(v) for v in values]

    def to_dict(self) -> dict[str, Any]:
        """The layer in ``shape``'s JSON schema (see :meth:`ChainReport.to_dict`)."""
        data: dict[str, Any] = {
            "position": self.position,
            "type": self.kind,
            "spec": self.spec,
            "input": self.input.dims(),
            "output": self.output.dims(),
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "window_ops": self.window_ops,
            "padding": list(self.padding),
            "rf": self._field(self.rf),
            "jump": self._field(self.jump),
            "rf_padding": self._field(self.rf_padding),
            "memory_bytes": self.memory_bytes,
            "warnings": list(self.warnings),
            "buffers": self.buffers,
            "elementwise_ops": self.elementwise_ops,
            "inputs": list(self.inputs),
            "block": list(self.block),
        }
        if self.parts:
            data["parts"] = [part.to_dict() for part in self.parts]
        return data


@dataclass(frozen=True)
class Totals:
    """The sums over a network's layers (see :class:`LayerReport` for each count)."""

    params: int
    macs: int
    window_ops: int
    memory_bytes: int
    buffers: int = 0
    elementwise_ops: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def to_dict(self) -> dict[str, int]:
        """The sums as data (``flops`` included)."""
        return {
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "window_ops": self.window_ops,
            "memory_bytes": self.memory_bytes,
            "buffers": self.buffers,
            "elementwise_ops": self.elementwise_ops,
        }

    @classmethod
    def of(cls, reports: Sequence[LayerReport]) -> Totals:
        """The sums over ``reports``."""
        return cls(
            params=sum(r.params for r in reports),
            macs=sum(r.macs for r in reports),
            window_ops=sum(r.window_ops for r in reports),
            memory_bytes=sum(r.memory_bytes for r in reports),
            buffers=sum(r.buffers for r in reports),
            elementwise_ops=sum(r.elementwise_ops for r in reports),
        )


@dataclass(frozen=True)
class ChainReport:
    """The result of :func:`analyze` (and of :func:`convcli.network.analyze_network`):
    the input, one report per layer, the totals.

    ``total.memory_bytes`` sums every layer's output activations (the input excluded).
    ``inputs`` and ``outputs`` name the network's tensors (``{"input": ...}`` and the last
    tensor for a chain); ``output_totals`` are the totals of the layers each output
    depends on; ``notes`` are remarks about the reading of the input (ambiguous sizes).
    """

    input: Shape
    layers: tuple[LayerReport, ...]
    total: Totals
    dtype_bytes: int = 4
    inputs: dict[str, Shape] = field(default_factory=dict)
    outputs: dict[str, Shape] = field(default_factory=dict)
    output_totals: dict[str, Totals] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    count_elementwise: bool = False

    @property
    def output(self) -> Shape:
        if self.outputs:
            return next(iter(self.outputs.values()))
        return self.layers[-1].output if self.layers else self.input

    @property
    def warnings(self) -> list[str]:
        """Every layer's warnings, each prefixed with its layer: ``layer 3 'conv': ...``."""
        return [
            f"layer {r.position} '{r.spec}': {warning}"
            for r in self.layers
            for warning in r.warnings
        ]

    @property
    def convention(self) -> str:
        """The counting convention printed under the report (and in its JSON)."""
        total = self.total
        if not (total.buffers or total.elementwise_ops or self.count_elementwise):
            return COUNTING_CONVENTION
        extra = ELEMENTWISE_COUNTED if self.count_elementwise else ELEMENTWISE_CONVENTION
        return f"{COUNTING_CONVENTION} {extra}"

    def to_dict(self) -> dict[str, Any]:
        """``shape``'s JSON schema: ``input``, ``output``, ``layers``, ``total``,
        ``convention``, and the graph: ``inputs`` and ``outputs`` by name (each output with
        the totals of the layers it depends on), every layer's ``inputs`` (tensor ids:
        ``#3`` is layer 3's output) and ``block``.

        Shapes are lists of ints in ``[N,] C, H, W`` order (``[N,] C, D, H, W`` in 3-D,
        ``[N,] C, L`` in 1-D, ``[N,] T, C`` for tokens); a flat shape is ``[N,] F``. A
        sepconv, ``se`` or ``mlp`` layer also has ``parts``. ``rf``, ``jump`` and
        ``rf_padding`` are ``"global"`` once every output sees the whole input.
        """
        return {
            "input": self.input.dims(),
            "output": self.output.dims(),
            "layers": [layer.to_dict() for layer in self.layers],
            "total": self.total.to_dict(),
            "inputs": {name: shape.dims() for name, shape in self.inputs.items()},
            "outputs": {
                name: {"shape": shape.dims(), "total": self.output_totals[name].to_dict()}
                for name, shape in self.outputs.items()
            },
            "notes": list(self.notes),
            "bytes_per_element": self.dtype_bytes,
            "convention": self.convention,
        }


def analyze(
    input_shape: Shape,
    layers: Sequence[Layer],
    dtype_bytes: int = 4,
    count_elementwise: bool = False,
) -> ChainReport:
    """Run a chain of layers over an input shape: sizes, costs, receptive fields.

    A chain is the simplest network; :func:`convcli.network.analyze_network` walks
    branches and merges with the same per-layer rules (:func:`convcli.costs.layer_report`).

    Parameters
    ----------
    input_shape : Shape
        ``(N,) C, H, W`` (or a 1-D, 3-D, flat or token shape); ``C`` may be None.
    layers : sequence of Layer
        Applied in order; positions in messages count from 1.
    dtype_bytes : int
        Bytes per activation element, for ``memory_bytes``.
    count_elementwise : bool
        Count norms', activations' and merges' element operations as MACs.

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
    Conv params ``C_out (C_in / g) prod(k) (+ C_out)``, MACs ``N C_out prod(out) (C_in/g)
    prod(k)``; transposed conv MACs ``N prod(in) C_in (C_out / g) prod(k)``; fc ``units
    (in + 1)`` params and ``N units in`` MACs. Receptive field: ``r += (ke - 1) j``,
    ``P += p_before j``, ``j *= s`` (Araujo et al.); a transposed conv divides the jump by
    its stride and grows the field by the widest run of inputs one output reads (see
    :meth:`Field.transposed`); gap and fc cover the whole map.

    >>> chain = [Layer("conv", kernel=(3, 3), padding=(d, d, d, d), dilation=(d, d))
    ...          for d in (1, 2, 4, 8)]
    >>> [int(r.rf[0]) for r in analyze(Shape(1, 64, 64), chain).layers]
    [3, 7, 15, 31]
    """
    from convcli.network import Network, analyze_network

    network = Network.chain(layers)
    return analyze_network(network, {"input": input_shape}, dtype_bytes, count_elementwise)


# ---------------------------------------------------------------------------------------
# --expect


def _expected_dims(text: str) -> list[int]:
    cleaned = text.strip().lower()
    parts = cleaned.rstrip("tf").split("x")
    if not all(part.isdigit() for part in parts):
        raise SpecError(f"--expect must be a shape such as 64x56x56, got {text!r}")
    return [int(part) for part in parts]


def read_expected(expect: str) -> list[str]:
    """The shapes of ``--expect``, checked for syntax (before anything is computed).

    Parameters
    ----------
    expect : str
        ``--expect``: SHAPE[,SHAPE...].

    Returns
    -------
    list of str
        One SHAPE per output, as typed.

    >>> read_expected("64x56x56, 10")
    ['64x56x56', ' 10']
    """
    wanted = [text for text in expect.split(",") if text.strip()]
    for text in wanted or [expect]:
        _expected_dims(text)
    return wanted


def check_expected(report: ChainReport, expect: str, channels_last: bool = False) -> None:
    """Raise :class:`ConvcliError` (exit 1) unless the outputs have the ``--expect``
    shapes: one per output, separated by commas, in the order of ``out:``.

    The batch may be left out of SHAPE; a channel-less output also matches ``1xHxW``.

    Parameters
    ----------
    report : ChainReport
        The analysed network.
    expect : str
        ``--expect``: SHAPE[,SHAPE...], one per output.
    channels_last : bool
        Read SHAPE as H x W x C.

    >>> report = analyze(Shape(3, 8, 8), [Layer("conv", 4, kernel=(3, 3))])
    >>> check_expected(report, "4x6x6")
    >>> check_expected(report, "4x8x8")
    Traceback (most recent call last):
    ...
    convcli.errors.ConvcliError: expected shape 4x8x8, got 4x6x6
    """
    wanted = read_expected(expect)
    outputs = list(report.outputs.items()) or [("output", report.output)]
    if len(wanted) != len(outputs):
        raise ConvcliError(
            f"--expect gives {len(wanted)} shape(s), the network has {len(outputs)} output(s) "
            f"({', '.join(name for name, _ in outputs)})"
        )
    for (name, output), text in zip(outputs, wanted, strict=True):
        if not matches(output, text, channels_last):
            label = f" for output {name!r}" if len(outputs) > 1 else ""
            raise ConvcliError(
                f"expected shape {text.strip()}{label}, got {output.format(channels_last)}"
            )


def matches(output: Shape, expect: str, channels_last: bool = False) -> bool:
    """Whether ``output`` is the shape ``expect`` (batch optional; ``1xHxW`` for a
    channel-less map).

    Parameters
    ----------
    output : Shape
        The shape computed.
    expect : str
        One SHAPE as typed.
    channels_last : bool
        Read SHAPE as H x W x C.

    >>> matches(Shape(None, 112, 112), "112"), matches(Shape(64, 56, 56, 8), "64x56x56")
    (True, True)
    """
    wanted = _expected_dims(expect)
    got = output.format(channels_last).rstrip("t")
    candidates = [[int(d) for d in got.split("x")]]
    if output.batch is not None:
        candidates.append(candidates[0][1:])
    if output.channels is None and not output.is_flat:
        candidates.append([1, *candidates[0]] if not channels_last else [*candidates[0], 1])
        if output.height == output.width:
            candidates.append([output.height])  # type: ignore[list-item]
    return wanted in candidates
