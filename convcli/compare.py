"""Standard against depthwise-separable (and spatially separable) convolution: the costs.

Every form is built as :class:`~convcli.geometry.Layer` objects and costed by
:func:`convcli.geometry.analyze`, so the formulas live in one place and the output sizes
are the ones ``convcli shape`` prints. Pure Python: NumPy is needed only by
:func:`describe_kernel` (``--kernel-matrix``) and :func:`bench_layer` (``--bench``), which
import it inside.

One layer (:func:`compare_layer`), input ``C_in x H x W``, kernel ``kh x kw``:

- standard: ``C_out`` kernels ``kh x kw x C_in``;
- depthwise: ``C_in * M`` kernels ``kh x kw x 1`` (M the depth multiplier);
- pointwise: ``C_out`` kernels ``1 x 1 x C_in*M``;
- separable: depthwise then pointwise (Keras's SeparableConv2D: the bias, if any, is on
  the pointwise part only, as ``convcli shape sepconv:...`` counts it);
- spatial: every ``kh x kw`` kernel as a column times a row, run as a ``kh x 1`` pass
  then a ``1 x kw`` pass (applies when ``kh > 1`` and ``kw > 1``).

A whole network (:func:`compare_network`): as given, against the same network with every
depthwise-separable block (a ``sepconv``, or a ``dwconv`` followed by a 1x1 convolution)
replaced by one standard convolution with the same kernel, stride, padding and output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from convcli.errors import ConvcliError, SpecError
from convcli.geometry import (
    ELEMENTWISE_KINDS,
    NORM_KINDS,
    ChainReport,
    Layer,
    LayerReport,
    PaddingSpec,
    Pads,
    Pair,
    Shape,
    analyze,
    dims_text,
    expand,
)
from convcli.network import Network, Source, Step, analyze_network

__all__ = [
    "BenchResult",
    "Block",
    "Cost",
    "KernelSeparability",
    "KindShare",
    "LayerComparison",
    "NetworkComparison",
    "bench_layer",
    "compare_layer",
    "compare_network",
    "describe_kernel",
    "layer_kind",
    "ratio",
]


# ---------------------------------------------------------------------------------------
# Costs


@dataclass(frozen=True)
class Cost:
    """The cost of one form: a layer or a chain of layers.

    ``layers`` are the LAYER words of the form, ``output`` the shape it produces (None for
    a sum over layers that do not form one chain, such as all the depthwise layers of a
    network).
    """

    params: int
    macs: int
    output: Shape | None
    layers: tuple[str, ...] = ()

    @property
    def flops(self) -> int:
        """``2 x MACs``."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        """``{"params", "macs", "flops", "output", "layers"}`` (output as a list of dims)."""
        return {
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "output": None if self.output is None else self.output.dims(),
            "layers": list(self.layers),
        }


def _cost(reports: Sequence[LayerReport]) -> Cost:
    """The summed cost of consecutive layer reports; the output is the last one's."""
    return Cost(
        params=sum(r.params for r in reports),
        macs=sum(r.macs for r in reports),
        output=reports[-1].output,
        layers=tuple(r.layer.to_word() for r in reports),
    )


def ratio(part: int, whole: int) -> float | None:
    """``part / whole``, or None when ``whole`` is 0 (a form with no weights or MACs).

    >>> ratio(1, 4), ratio(1, 0)
    (0.25, None)
    """
    return part / whole if whole else None


class _AgainstStandard:
    """The ratios of a result that holds a ``separable`` form (the network as given, for
    a network) and its ``standard`` twin."""

    separable: Cost
    standard: Cost

    @property
    def params_ratio(self) -> float | None:
        """separable (as given) / standard parameters."""
        return ratio(self.separable.params, self.standard.params)

    @property
    def macs_ratio(self) -> float | None:
        """separable (as given) / standard MACs."""
        return ratio(self.separable.macs, self.standard.macs)


# ---------------------------------------------------------------------------------------
# One layer


@dataclass(frozen=True)
class LayerComparison(_AgainstStandard):
    """A standard convolution against its depthwise-separable and spatially separable forms.

    ``spatial`` is None where it does not apply (a kernel with one row or one column);
    ``spatial_note`` says why.
    """

    input: Shape
    kernel: Pair
    out_channels: int
    depth_multiplier: int
    standard: Cost
    depthwise: Cost
    pointwise: Cost
    separable: Cost
    spatial: Cost | None
    spatial_note: str = ""
    stride: Pair = (1, 1)
    pads: Pads = (0, 0, 0, 0)  # (top, bottom, left, right) applied
    dilation: Pair = (1, 1)
    bias: bool = True

    @property
    def closed_form(self) -> float:
        """``M (1 / C_out + 1 / (kh kw))``: the MAC ratio the formulas predict.

        With M = 1 this is the textbook ``1/C_out + 1/k^2``. It is exact for MACs: the
        depthwise and pointwise parts run on the standard layer's output grid.
        """
        kh, kw = self.kernel
        return self.depth_multiplier * (1 / self.out_channels + 1 / (kh * kw))

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``convcli compare`` for one layer."""
        spatial_ratio = None
        if self.spatial is not None:
            spatial_ratio = {
                "params": ratio(self.spatial.params, self.standard.params),
                "macs": ratio(self.spatial.macs, self.standard.macs),
            }
        return {
            "input": self.input.dims(),
            "kernel": list(self.kernel),
            "out_channels": self.out_channels,
            "depth_multiplier": self.depth_multiplier,
            "standard": self.standard.to_dict(),
            "depthwise": self.depthwise.to_dict(),
            "pointwise": self.pointwise.to_dict(),
            "separable": self.separable.to_dict(),
            "spatial": None if self.spatial is None else self.spatial.to_dict(),
            "ratio": {
                "params": self.params_ratio,
                "macs": self.macs_ratio,
                "closed_form": self.closed_form,
                "spatial": spatial_ratio,
            },
        }


def compare_layer(
    input_shape: Shape,
    kernel: Pair,
    out_channels: int,
    stride: Pair = (1, 1),
    padding: PaddingSpec = (0, 0, 0, 0),
    dilation: Pair = (1, 1),
    depth_multiplier: int = 1,
    bias: bool = True,
) -> LayerComparison:
    """Cost one convolution in its standard, depthwise-separable and spatially separable forms.

    Parameters
    ----------
    input_shape : Shape
        ``(N,) C_in, H, W``; no channel count means one channel.
    kernel, stride, dilation : (int, int)
        ``(h, w)``.
    padding : (top, bottom, left, right) or "same" or "valid"
    out_channels : int
        ``C_out``, >= 1.
    depth_multiplier : int
        ``M``, >= 1: the depthwise part makes ``C_in * M`` channels.
    bias : bool
        Whether the layers have a bias (standard: ``C_out``; separable: on the pointwise part).

    Returns
    -------
    LayerComparison

    Raises
    ------
    SpecError
        ``out_channels`` or ``depth_multiplier`` below 1, a spatial input missing.
    ConvcliError
        Impossible geometry (as :func:`convcli.geometry.analyze` reports it).

    Notes
    -----
    Standard MACs ``N C_out H_out W_out C_in kh kw``; depthwise ``N C_in M H_out W_out kh kw``;
    pointwise ``N C_out H_out W_out C_in M``; so separable / standard
    ``= M (1 / C_out + 1 / (kh kw))``. The spatial form is a ``kh x 1`` depthwise pass with
    multiplier ``C_out`` (one column per kernel) then a ``1 x kw`` convolution with
    ``C_out`` groups summing the ``C_in`` rows of each output: ``C_in C_out (kh + kw)``
    weights instead of ``C_in C_out kh kw`` (the channels are shuffled between the passes,
    which costs nothing). It equals the standard layer exactly when every kernel has rank 1.

    Examples
    --------
    >>> result = compare_layer(Shape(3, 12, 12), (5, 5), 256, bias=False)
    >>> result.standard.macs, result.depthwise.macs, result.pointwise.macs, result.separable.macs
    (1228800, 4800, 49152, 53952)
    """
    if out_channels < 1:
        raise SpecError(f"out_channels must be >= 1, got {out_channels}")
    if depth_multiplier < 1:
        raise SpecError(f"--depth-multiplier must be >= 1, got {depth_multiplier}")
    if input_shape.is_flat:
        raise SpecError(f"compare needs a spatial input (H x W), got {input_shape}")
    # A default stride stays unset so the words read as typed (conv:256,k=5, not s=1).
    standard_layer = Layer(
        "conv",
        out_channels=out_channels,
        bias=bias,
        kernel=kernel,
        stride=None if stride == (1, 1) else stride,
        padding=padding,
        dilation=dilation,
    )
    separable_layer = replace(standard_layer, kind="sepconv", depth_multiplier=depth_multiplier)
    standard = analyze(input_shape, [standard_layer]).layers[0]
    separable = analyze(input_shape, [separable_layer]).layers[0]
    depthwise_report, pointwise_report = separable.parts
    depthwise, pointwise = _cost([depthwise_report]), _cost([pointwise_report])
    spatial, spatial_note = _spatial_form(input_shape, standard, bias)
    return LayerComparison(
        input=input_shape,
        kernel=kernel,
        out_channels=out_channels,
        depth_multiplier=depth_multiplier,
        standard=_cost([standard]),
        depthwise=depthwise,
        pointwise=pointwise,
        separable=Cost(
            params=depthwise.params + pointwise.params,
            macs=depthwise.macs + pointwise.macs,
            output=pointwise.output,
            layers=(separable_layer.to_word(),),
        ),
        spatial=spatial,
        spatial_note=spatial_note,
        stride=stride,
        pads=standard.padding,
        dilation=dilation,
        bias=bias,
    )


def _split_passes(layer: Layer, pads: Pads) -> tuple[Layer, Layer]:
    """A ``kh x kw`` window as a ``kh x 1`` pass then a ``1 x kw`` pass, with the stride,
    dilation and the pads actually applied split by axis (so ``same`` stays exact)."""
    assert layer.kernel is not None
    top, bottom, left, right = pads
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.stride or (1, 1), layer.dilation
    column = replace(
        layer,
        kernel=(kh, 1),
        stride=None if sh == 1 else (sh, 1),
        padding=(top, bottom, 0, 0),
        dilation=(dh, 1),
    )
    row = replace(
        layer,
        kernel=(1, kw),
        stride=None if sw == 1 else (1, sw),
        padding=(0, 0, left, right),
        dilation=(1, dw),
    )
    return column, row


def _spatial_form(input_shape: Shape, standard: LayerReport, bias: bool) -> tuple[Cost | None, str]:
    """The standard layer with every kernel a column times a row (see :func:`compare_layer`)."""
    layer = standard.layer
    kh, kw = layer.kernel  # type: ignore[misc]
    if kh == 1 or kw == 1:
        return None, f"a {kh}x{kw} kernel is already one-dimensional"
    out_channels = standard.output.channel_count
    column, row = _split_passes(layer, standard.padding)
    passes = [
        replace(
            column, kind="dwconv", out_channels=None, depth_multiplier=out_channels, bias=False
        ),
        replace(row, kind="conv", out_channels=out_channels, groups=out_channels, bias=bias),
    ]
    return _cost(analyze(input_shape, passes).layers), ""


# ---------------------------------------------------------------------------------------
# Whole networks


#: Kinds of layer in the paper's Table 2 order, with the labels the tables print.
KIND_LABELS: dict[str, str] = {
    "conv_1x1": "conv 1x1",
    "depthwise": "depthwise conv",
    "full_conv": "full conv",
    "transposed_conv": "transposed conv",
    "fully_connected": "fully connected",
}


def layer_kind(report: LayerReport) -> str | None:
    """The Table 2 kind of a (non-sepconv) layer: a :data:`KIND_LABELS` key, or None for
    layers with no weights (pooling, flatten).

    >>> layer_kind(analyze(Shape(8, 4, 4), [Layer("conv", groups=8, kernel=(3, 3))]).layers[0])
    'depthwise'
    """
    layer = report.layer
    if layer.kind == "fc":
        return "fully_connected"
    if layer.kind == "deconv":
        return "transposed_conv"
    if layer.kind not in ("conv", "dwconv", "pwconv"):
        return None
    groups = report.input.channel_count if layer.kind == "dwconv" else layer.groups
    if groups > 1 and groups == report.input.channel_count:
        return "depthwise"
    if layer.kernel in (None, (1, 1)):
        return "conv_1x1"
    return "full_conv"


def _pointwise_partner(layer: Layer) -> bool:
    """Whether ``layer`` can close a depthwise-separable block: a plain 1x1 convolution."""
    if layer.kind not in ("pwconv", "conv") or layer.groups != 1:
        return False
    if layer.kernel not in (None, (1, 1)) or layer.stride not in (None, (1, 1)):
        return False
    return layer.padding in ((0, 0, 0, 0), "valid", "same") and layer.dilation == (1, 1)


def _standard_replacement(depthwise: Layer, pointwise: Layer | None) -> Layer:
    """One standard convolution doing the work of a depthwise-separable block."""
    out_channels = depthwise.out_channels if pointwise is None else pointwise.out_channels
    bias = depthwise.bias or (pointwise is not None and pointwise.bias)
    return Layer(
        "conv",
        out_channels=out_channels,
        kernel=depthwise.kernel,
        stride=depthwise.stride,
        padding=depthwise.padding,
        dilation=depthwise.dilation,
        bias=bias,
    )


@dataclass(frozen=True)
class Block:
    """One row of a network comparison: a layer, or a depthwise-separable block.

    ``separable`` is the block as given (one or two layers), ``standard`` what it becomes
    (the same layer when ``replaced`` is False). ``position`` is the 1-based position of
    its first layer in the network.
    """

    position: int
    separable: Cost
    standard: Cost
    replaced: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "replaced": self.replaced,
            "separable": self.separable.to_dict(),
            "standard": self.standard.to_dict(),
        }


@dataclass(frozen=True)
class KindShare:
    """The MACs and parameters of one kind of layer, and their shares of the network's."""

    kind: str
    macs: int
    params: int
    macs_share: float
    params_share: float

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "macs": self.macs,
            "macs_share": self.macs_share,
            "params": self.params,
            "params_share": self.params_share,
        }


@dataclass(frozen=True)
class NetworkComparison(_AgainstStandard):
    """A network as given against its all-standard-convolution twin.

    ``separable`` and ``standard`` are the network totals, ``depthwise`` and ``pointwise``
    the totals of the two halves of the replaced blocks, ``blocks`` the rows, ``by_kind``
    the split of the given network's MACs and parameters by kind of layer (the MobileNet
    paper's Table 2).
    """

    input: Shape
    standard: Cost
    separable: Cost
    depthwise: Cost
    pointwise: Cost
    blocks: tuple[Block, ...]
    by_kind: tuple[KindShare, ...]
    name: str = ""

    @property
    def replaced(self) -> int:
        """How many depthwise-separable blocks were replaced."""
        return sum(block.replaced for block in self.blocks)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``convcli compare --preset/--net``: one layer's keys plus ``layers``."""
        return {
            "network": self.name or None,
            "input": self.input.dims(),
            "standard": self.standard.to_dict(),
            "depthwise": self.depthwise.to_dict(),
            "pointwise": self.pointwise.to_dict(),
            "separable": self.separable.to_dict(),
            "spatial": None,
            "ratio": {"params": self.params_ratio, "macs": self.macs_ratio, "closed_form": None},
            "layers": [block.to_dict() for block in self.blocks],
            "by_kind": [share.to_dict() for share in self.by_kind],
        }


def _flat_reports(reports: Sequence[LayerReport]) -> list[LayerReport]:
    """Every real layer of ``reports``, a sepconv counted as its two parts."""
    return [part for report in reports for part in (report.parts or (report,))]


def _by_kind(reports: Sequence[LayerReport], total_macs: int, total_params: int) -> list[KindShare]:
    sums: dict[str, list[int]] = {}
    for report in reports:
        kind = layer_kind(report)
        if kind is not None:
            entry = sums.setdefault(kind, [0, 0])
            entry[0] += report.macs
            entry[1] += report.params
    return [
        KindShare(
            kind,
            sums[kind][0],
            sums[kind][1],
            sums[kind][0] / total_macs if total_macs else 0.0,
            sums[kind][1] / total_params if total_params else 0.0,
        )
        for kind in KIND_LABELS
        if kind in sums
    ]


def _weights(reports: Sequence[LayerReport]) -> int:
    """Parameters of the layers with weights (norms left out: they do not change when a
    block is made standard, and the paper's tables leave them out)."""
    return sum(r.params for r in reports if r.kind not in NORM_KINDS)


def _pairs(steps: Sequence[Step]) -> dict[int, int]:
    """Depthwise-separable blocks: step index of each ``dwconv`` -> its 1x1 partner's.

    The partner may follow norms, activations and dropout, but no branch (``tag``,
    ``from``, ``out``) or merge in between: across those the depthwise output is used
    elsewhere and cannot disappear.
    """
    pairs: dict[int, int] = {}
    for index, step in enumerate(steps):
        if step.layer is None or step.layer.kind != "dwconv":
            continue
        for later in range(index + 1, len(steps)):
            follower = steps[later].layer
            if follower is None or follower.refs:
                break
            if follower.kind in ELEMENTWISE_KINDS:
                continue
            if _pointwise_partner(follower):
                pairs[index] = later
            break
    return pairs


def _standard_network(network: Network) -> tuple[Network, list[list[int]], list[bool]]:
    """The network with every separable block made one standard convolution.

    Returns the new network, for each of its layers the indices of the given layers it
    stands for, and whether it replaced a block.
    """
    steps = network.steps
    pairs = _pairs(steps)
    dropped = {i for start, end in pairs.items() for i in range(start + 1, end + 1)}
    layer_index = {i: n for n, i in enumerate(i for i, s in enumerate(steps) if s.layer)}
    new_steps: list[Step] = []
    groups: list[list[int]] = []
    replaced: list[bool] = []
    for index, step in enumerate(steps):
        if index in dropped:
            continue
        layer = step.layer
        if layer is None:
            new_steps.append(step)
            continue
        if index in pairs:
            partner = steps[pairs[index]].layer
            members = [i for i in range(index, pairs[index] + 1) if steps[i].layer]
            new_steps.append(replace(step, layer=_standard_replacement(layer, partner)))
            groups.append([layer_index[i] for i in members])
            replaced.append(True)
        elif layer.kind == "sepconv":
            depthwise, pointwise = expand(layer)
            new_steps.append(replace(step, layer=_standard_replacement(depthwise, pointwise)))
            groups.append([layer_index[index]])
            replaced.append(True)
        else:
            new_steps.append(step)
            groups.append([layer_index[index]])
            replaced.append(False)
    return Network(network.inputs, tuple(new_steps)), groups, replaced


def compare_network(
    network: Network | Shape, inputs: dict[str, Shape] | Sequence[Layer], name: str = ""
) -> NetworkComparison:
    """Cost a network as given and with its depthwise-separable blocks made standard.

    Parameters
    ----------
    network : Network
        The network (a ``sepconv``, or a ``dwconv`` followed by a plain 1x1 convolution,
        possibly after norms and activations, is a depthwise-separable block). For a
        plain chain, an input :class:`Shape` and a sequence of layers may be given
        instead of a network and its inputs.
    inputs : dict of str to Shape
        The network's inputs (:func:`convcli.network.resolve_inputs`).
    name : str
        A label for the JSON (``"mobilenet_v1"``, a file name).

    Returns
    -------
    NetworkComparison

    Raises
    ------
    ConvcliError, SpecError
        As :func:`convcli.network.analyze_network` raises them for the given network.

    Notes
    -----
    Each block ``dwconv(k, s, p, d) -> [norms, activations] -> 1x1 conv(C_out)`` becomes
    ``conv(C_out, k, s, p, d)`` (with a bias if either conv had one); the norms and
    activations between the two are dropped with the depthwise output they worked on.
    A ``dwconv`` with no 1x1 convolution after it is not a separable block and stays.
    Parameters are those of convolutions, fully connected layers and attention (norms
    left out); shares are of the given network's totals.

    Examples
    --------
    >>> from convcli.layers import parse_layer
    >>> net = [parse_layer(w) for w in ("dwconv:k=3,p=1,bias=0", "pwconv:64,bias=0")]
    >>> result = compare_network(Shape(32, 8, 8), net)
    >>> result.separable.macs, result.standard.macs
    (149504, 1179648)
    """
    if isinstance(network, Shape):
        network, inputs = Network.chain(inputs), {"input": network}  # type: ignore[arg-type, dict-item]
    assert isinstance(inputs, dict)
    given = analyze_network(network, inputs)
    standard_net, groups, replaced = _standard_network(network)
    standard = analyze_network(standard_net, inputs)

    blocks: list[Block] = []
    depthwise_reports: list[LayerReport] = []
    pointwise_reports: list[LayerReport] = []
    for members, was_replaced, standard_report in zip(
        groups, replaced, standard.layers, strict=True
    ):
        given_reports = [given.layers[i] for i in members]
        if was_replaced:
            parts = [p for p in _flat_reports(given_reports) if p.kind not in ELEMENTWISE_KINDS]
            depthwise_reports.append(parts[0])
            pointwise_reports.append(parts[-1])
        blocks.append(
            Block(
                position=given_reports[0].position,
                separable=Cost(
                    params=_weights(given_reports),
                    macs=sum(r.macs for r in given_reports),
                    output=given_reports[-1].output,
                    layers=tuple(r.spec for r in given_reports),
                ),
                standard=replace(_cost([standard_report]), params=_weights([standard_report])),
                replaced=was_replaced,
            )
        )

    def total(report: ChainReport) -> Cost:
        return Cost(_weights(report.layers), report.total.macs, report.output)

    def half(reports: list[LayerReport]) -> Cost:
        return Cost(sum(r.params for r in reports), sum(r.macs for r in reports), None)

    flat = _flat_reports(given.layers)
    return NetworkComparison(
        input=next(iter(inputs.values())),
        standard=total(standard),
        separable=total(given),
        depthwise=half(depthwise_reports),
        pointwise=half(pointwise_reports),
        blocks=tuple(blocks),
        by_kind=tuple(_by_kind(flat, given.total.macs, _weights(given.layers))),
        name=name,
    )


# ---------------------------------------------------------------------------------------
# A concrete kernel (--kernel-matrix) and a timing run (--bench): these need NumPy.


@dataclass(frozen=True)
class KernelSeparability:
    """Whether a 2-D kernel is spatially separable, and what separating it saves.

    ``direct`` is the kernel run as ``convcli apply`` runs a 2-D kernel on the input (each
    channel filtered on its own, i.e. a depthwise convolution); ``separated`` the same as a
    column pass then a row pass (None unless ``rank == 1``).
    """

    label: str
    matrix: list[list[float]]
    rank: int
    singular_values: list[float]
    factors: tuple[list[float], list[float]] | None
    direct: Cost
    separated: Cost | None

    @property
    def separable(self) -> bool:
        return self.factors is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "shape": [len(self.matrix), len(self.matrix[0])],
            "matrix": self.matrix,
            "rank": self.rank,
            "singular_values": self.singular_values,
            "separable": self.separable,
            "factors": None
            if self.factors is None
            else {"column": self.factors[0], "row": self.factors[1]},
            "direct": self.direct.to_dict(),
            "separated": None if self.separated is None else self.separated.to_dict(),
            "ratio": None
            if self.separated is None
            else {
                "params": ratio(self.separated.params, self.direct.params),
                "macs": ratio(self.separated.macs, self.direct.macs),
            },
        }


def describe_kernel(
    step: str,
    input_shape: Shape,
    stride: Pair = (1, 1),
    padding: PaddingSpec = (0, 0, 0, 0),
    dilation: Pair = (1, 1),
) -> list[KernelSeparability]:
    """SVD rank, factors and costs of a 2-D kernel given in any ``apply`` kernel syntax.

    Parameters
    ----------
    step : str
        A STEP (``sobel-x``, ``"1 2 1; 2 4 2; 1 2 1"``, ``@k.txt``, ``k.npy``). A gradient
        magnitude (``sobel``) gives its two kernels.
    input_shape : Shape
        What the kernel runs over (each channel on its own).
    stride, padding, dilation
        The window's geometry; the step's own ``s=``, ``p=``, ``d=`` take precedence.

    Returns
    -------
    list of KernelSeparability
        One per kernel (two for a gradient magnitude).

    Raises
    ------
    SpecError
        A pooling step, or a kernel that is not 2-D (3-D and 4-D kernels mix channels).

    Notes
    -----
    ``K = U S V^T``; the rank counts singular values above NumPy's tolerance, and a rank-1
    kernel is ``(sqrt(s_1) u_1)(sqrt(s_1) v_1)^T``, run as a ``kh x 1`` then a ``1 x kw``
    pass: ``kh + kw`` multiply-adds per output instead of ``kh kw`` (the column pass also
    runs over the padded columns the row pass needs).
    """
    import numpy as np

    from convcli import kernels as kernel_library

    parsed = kernel_library.parse_step(step)
    if not isinstance(parsed, kernel_library.KernelStep):
        raise SpecError(f"--kernel-matrix needs a kernel, got the pooling step {step!r}")
    if parsed.weight.ndim != 2:
        raise SpecError(
            f"--kernel-matrix needs a 2-D kernel (kh x kw), got {step!r} of shape "
            f"{dims_text(parsed.weight.shape)}"
        )
    description = kernel_library.describe(parsed)
    parts = description.parts or (description,)
    stride = parsed.stride or stride
    dilation = parsed.dilation or dilation
    padding = parsed.padding if parsed.padding is not None else padding  # type: ignore[assignment]
    results = []
    for part in parts:
        matrix = np.asarray(part.matrix, dtype=np.float64)
        direct_layer = Layer(
            "dwconv",
            kernel=(matrix.shape[0], matrix.shape[1]),
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=False,
        )
        direct = analyze(input_shape, [direct_layer]).layers[0]
        separated = None
        if part.factors is not None and min(matrix.shape) > 1:  # 1 x k is one pass already
            column, row = _split_passes(direct_layer, direct.padding)
            separated = _cost(analyze(input_shape, [column, row]).layers)
        label = step if len(parts) == 1 else f"{part.summary} of {step}"
        results.append(
            KernelSeparability(
                label=label,
                matrix=matrix.tolist(),
                rank=int(part.rank),  # type: ignore[arg-type]
                singular_values=list(part.singular_values),
                factors=None
                if part.factors is None
                else (part.factors[0].tolist(), part.factors[1].tolist()),
                direct=_cost([direct]),
                separated=separated,
            )
        )
    return results


@dataclass(frozen=True)
class BenchResult:
    """Median wall times of the standard and depthwise-separable forms on random data."""

    standard_seconds: float
    separable_seconds: float
    repeat: int
    theoretical_speedup: float
    algorithm: str = "auto"

    @property
    def measured_speedup(self) -> float:
        """standard / separable wall time."""
        return self.standard_seconds / self.separable_seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "standard_seconds": self.standard_seconds,
            "separable_seconds": self.separable_seconds,
            "measured_speedup": self.measured_speedup,
            "theoretical_speedup": self.theoretical_speedup,
            "repeat": self.repeat,
            "algorithm": self.algorithm,
        }


def _median_seconds(run: Callable[[], None], repeat: int) -> float:
    import statistics
    import time

    run()  # warm-up: first-touch page faults, caches, lazy imports
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


#: Most memory --bench may take: what ``apply`` allows one step at its default --max-pixels.
BENCH_BYTES = 64 * 89_478_485

#: Most timed runs --bench makes: the median has long stopped moving by then, and on a layer
#: near BENCH_BYTES one run takes seconds (unbounded, a mistyped count ran for ever).
BENCH_REPEAT = 1000


def _check_bench_memory(comparison: LayerComparison) -> None:
    """Refuse a --bench whose arrays would not fit, from their sizes, before allocating:
    the input, the separable form's middle map and an output (float32), with the core's
    working copies about as much again."""
    shapes = [comparison.input, comparison.standard.output, comparison.depthwise.output]
    needed = 2 * 4 * sum(shape.elements for shape in shapes if shape is not None)
    if needed > BENCH_BYTES:
        raise ConvcliError(
            f"--bench on {comparison.input}: about {needed / 2**30:.1f} GiB of arrays, more than "
            f"--bench's {BENCH_BYTES / 2**30:.1f} GiB: time a smaller INPUT"
        )


def bench_layer(
    comparison: LayerComparison, repeat: int = 5, seed: int = 0, algorithm: str = "auto"
) -> BenchResult:
    """Time both forms through :func:`convcli.conv2d` on random float32 data of that size.

    Parameters
    ----------
    comparison : LayerComparison
        From :func:`compare_layer`; its geometry and input size are used.
    repeat : int
        Timed runs after one warm-up, 1 to :data:`BENCH_REPEAT`; the median is reported.
    seed : int
        For the random input and weights.
    algorithm : str
        Passed to :func:`convcli.conv2d` for every convolution (``auto`` lets the core
        choose per call, as ``convcli apply`` does).

    Returns
    -------
    BenchResult
        ``theoretical_speedup`` is standard / separable MACs.
    """
    import numpy as np

    from convcli.core import conv2d

    if not 1 <= repeat <= BENCH_REPEAT:
        raise SpecError(f"--repeat must be from 1 to {BENCH_REPEAT}, got {repeat}")
    if comparison.separable.macs == 0:
        raise ConvcliError("nothing to time: the separable form has no multiply-adds")
    rng = np.random.default_rng(seed)
    shape = comparison.input
    in_channels = shape.channel_count
    middle = in_channels * comparison.depth_multiplier
    out_channels = comparison.out_channels
    kh, kw = comparison.kernel
    geometry = {
        "stride": comparison.stride,
        "padding": comparison.pads,
        "dilation": comparison.dilation,
        "algorithm": algorithm,
    }
    height, width = shape.spatial
    _check_bench_memory(comparison)
    x = rng.standard_normal((shape.batch_count, in_channels, height, width), dtype=np.float32)
    standard_weight = rng.standard_normal((out_channels, in_channels, kh, kw), dtype=np.float32)
    depthwise_weight = rng.standard_normal((middle, 1, kh, kw), dtype=np.float32)
    pointwise_weight = rng.standard_normal((out_channels, middle, 1, 1), dtype=np.float32)
    bias = rng.standard_normal(out_channels, dtype=np.float32) if comparison.bias else None

    def run_standard() -> None:
        conv2d(x, standard_weight, bias, **geometry)

    def run_separable() -> None:
        middle_map = conv2d(x, depthwise_weight, None, groups=in_channels, **geometry)
        conv2d(middle_map, pointwise_weight, bias, algorithm=algorithm)

    return BenchResult(
        standard_seconds=_median_seconds(run_standard, repeat),
        separable_seconds=_median_seconds(run_separable, repeat),
        repeat=repeat,
        theoretical_speedup=comparison.standard.macs / comparison.separable.macs,
        algorithm=algorithm,
    )


# ---------------------------------------------------------------------------------------
# The command's questions, as typed


@dataclass(frozen=True)
class LayerQuestion:
    """``convcli compare INPUT -k K -c C ...``: one layer as the user typed it.

    Text fields are parsed once by :func:`answer_layer`, which names the option in every
    message; ``None`` means "not given".
    """

    input_size: str
    kernel: str | None = None
    out_channels: int | None = None
    stride: str | None = None
    padding: str | None = None
    dilation: str | None = None
    depth_multiplier: int | None = None
    bias: bool = True
    channels_last: bool = False
    kernel_matrix: str | None = None
    bench: bool = False
    repeat: int = 5
    algorithm: str = "auto"


@dataclass(frozen=True)
class LayerAnswer:
    """What :func:`answer_layer` found: the comparison (None when only a kernel was asked
    about), the kernels of ``--kernel-matrix`` and the ``--bench`` timing."""

    comparison: LayerComparison | None
    kernels: list[KernelSeparability]
    timing: BenchResult | None = None


def answer_layer(question: LayerQuestion) -> LayerAnswer:
    """Parse and answer a one-layer ``compare``.

    >>> answer = answer_layer(LayerQuestion("3x12x12", kernel="5", out_channels=256, bias=False))
    >>> answer.comparison.standard.macs, answer.comparison.separable.macs
    (1228800, 53952)
    """
    from convcli.layers import parse_padding_option, parse_pair, parse_size

    if not question.bench and (question.repeat != 5 or question.algorithm != "auto"):
        given = "--repeat" if question.repeat != 5 else "--algorithm"
        raise SpecError(f"{given} is for --bench (it would be ignored without it)")
    shape = parse_size(question.input_size, channels_last=question.channels_last)
    stride = parse_pair(question.stride or "1", "-s/--stride", low=1)
    padding = parse_padding_option(question.padding or "0")
    dilation = parse_pair(question.dilation or "1", "-d/--dilation", low=1)
    kernels: list[KernelSeparability] = []
    if question.kernel_matrix is not None:
        kernels = describe_kernel(question.kernel_matrix, shape, stride, padding, dilation)
    kernel = _kernel_size(question.kernel, kernels)
    if question.out_channels is None:
        if not kernels:
            raise SpecError("missing -c/--out-channels (C_out of the layer to compare)")
        if question.bench:
            raise SpecError("--bench needs a layer to time: give -c/--out-channels")
        return LayerAnswer(None, kernels)
    if question.out_channels < 1:
        raise SpecError(f"-c/--out-channels must be >= 1, got {question.out_channels}")
    result = compare_layer(shape, kernel, question.out_channels, stride=stride,
                           padding=padding, dilation=dilation,
                           depth_multiplier=1 if question.depth_multiplier is None
                           else question.depth_multiplier,
                           bias=question.bias)  # fmt: skip
    if kernels and not all(k.separable for k in kernels):
        # The layer's kernels are this one: its rank decides whether the split applies.
        rank = max(k.rank for k in kernels)
        result = replace(result, spatial=None, spatial_note=f"the kernel has rank {rank}, not 1")
    timing = None
    if question.bench:
        timing = bench_layer(result, repeat=question.repeat, algorithm=question.algorithm)
    return LayerAnswer(result, kernels, timing)


def _kernel_size(kernel: str | None, kernels: list[KernelSeparability]) -> Pair:
    """``-k``, or the shape of the ``--kernel-matrix`` (they must agree when both given)."""
    from convcli.layers import parse_pair

    from_matrix = None
    if kernels:
        matrix = kernels[0].matrix
        from_matrix = (len(matrix), len(matrix[0]))
    if kernel is None:
        if from_matrix is None:
            raise SpecError("missing -k/--kernel (3 or 3x5), or give --kernel-matrix")
        return from_matrix
    pair = parse_pair(kernel, "-k/--kernel", low=1)
    if from_matrix is not None and pair != from_matrix:
        raise SpecError(
            f"-k/--kernel {pair[0]}x{pair[1]} disagrees with the --kernel-matrix shape "
            f"{from_matrix[0]}x{from_matrix[1]}"
        )
    return pair


def compare_source(source: Source) -> NetworkComparison:
    """``convcli compare --preset/--net``: load the network (as ``shape`` does) and compare
    it with its all-standard twin.

    >>> result = compare_source(Source(preset="mobilenet_v2"))
    >>> result.standard.macs, result.standard.params
    (1224972288, 11112136)
    """
    network, inputs, _ = source.load()
    if not inputs:
        raise SpecError(f"missing INPUT: the net file {source.net} has no 'input SIZE' line")
    if source.preset is not None:
        from convcli.presets import get_preset_name

        name = get_preset_name(source.preset)
    else:
        name = Path(source.net).name if source.net else ""
    return compare_network(network, inputs, name=name)
