"""One layer meets its input: output shape, parameters, MACs, receptive field.

Pure Python (no NumPy), like :mod:`convcli.geometry`, whose formulas and types it
uses. :func:`layer_report` is the only entry point; the graph walk in
:mod:`convcli.network` calls it once per layer with the tensors the layer reads.

Counting conventions (see ``geometry.COUNTING_CONVENTION``): parameters include bias;
MACs are the multiply-accumulates of weights (convolutions, fully connected layers and
attention's two matmuls), the figure torchvision publishes; batch norm's running
statistics are ``buffers``, not parameters; norms, activations and merges count
``elementwise_ops`` (two per element for a norm, one for the rest), pooling counts
``window_ops``, and neither is folded into MACs unless ``count_elementwise`` asks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from convcli._records import dataclass
from convcli.errors import ConvcliError, SpecError
from convcli.geometry import (
    ACTIVATIONS,
    CONV_KINDS,
    NORM_KINDS,
    POOL_KINDS,
    Field,
    Layer,
    LayerReport,
    Shape,
    conv_output_size,
    dims_text,
    dropped_inputs,
    effective_kernel,
    expand,
    pool_output_size,
    same_padding,
    transposed_output_size,
)
from convcli.numbers import compact

_AXIS_NAMES = {1: ("position",), 2: ("row", "column"), 3: ("frame", "row", "column")}
_AXIS_ENDS = {1: ("end",), 2: ("bottom", "right"), 3: ("back", "bottom", "right")}
_INPUT_FORMS = {1: "C x L", 2: "C x H x W", 3: "C x D x H x W"}

#: Most elements a layer's output may have: a googol, far past any real tensor. A network
#: that doubles its channels in a repeat (``repeat:15000 tag:x cat:x end``) reaches counts
#: of thousands of digits, which Python will not even print.
MAX_ELEMENTS = 10**100


@dataclass(frozen=True)
class _Costs:
    """What a layer adds, before it becomes a :class:`LayerReport`."""

    output: Shape
    field: Field
    params: int = 0
    macs: int = 0
    window_ops: int = 0
    buffers: int = 0
    elementwise_ops: int = 0
    padding: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()
    parts: tuple[LayerReport, ...] = ()


def layer_report(
    position: int,
    layer: Layer,
    inputs: Sequence[Shape],
    fields: Sequence[Field],
    dtype_bytes: int = 4,
    label: str | None = None,
    count_elementwise: bool = False,
) -> tuple[LayerReport, Field]:
    """Apply one layer to the tensors it reads.

    Parameters
    ----------
    position : int
        The layer's number in messages (from 1).
    layer : Layer
        The layer.
    inputs : sequence of Shape
        The current tensor first, then the tensors named in ``layer.refs``.
    fields : sequence of Field
        Their receptive fields, in the same order.
    dtype_bytes : int
        Bytes per activation element, for ``memory_bytes``.
    label : str, optional
        The prefix of error messages (default ``layer N 'WORD'``).
    count_elementwise : bool
        Count element operations as MACs (ptflops's and fvcore's habit).

    Returns
    -------
    (LayerReport, Field)
        The report, and the output's receptive field.

    Raises
    ------
    ConvcliError
        Impossible geometry for this input (exit 1).
    SpecError
        A value out of range on its own (exit 2).
    """
    label = label or layer.label(position)
    _check_ranges(layer, label)
    costs = _COSTERS[_family(layer.kind)](layer, inputs, fields, label, dtype_bytes)
    if costs.output.elements > MAX_ELEMENTS:
        raise ConvcliError(
            f"{label}: its output would have {compact(costs.output.elements)} elements "
            "(at most 1e+100: does the network grow without bound?)"
        )
    macs = costs.macs + (costs.elementwise_ops if count_elementwise else 0)
    shape = inputs[0]
    rank = len(costs.field.size)
    pads = costs.padding or (0,) * (2 * (shape.rank or 2))
    report = LayerReport(
        position=position,
        layer=layer,
        input=shape,
        output=costs.output,
        params=costs.params,
        macs=macs,
        window_ops=costs.window_ops,
        padding=pads,
        rf=costs.field.size[:rank],
        jump=costs.field.jump[:rank],
        rf_padding=costs.field.padding[:rank],
        memory_bytes=costs.output.elements * dtype_bytes,
        warnings=costs.warnings,
        parts=costs.parts,
        buffers=costs.buffers,
        elementwise_ops=costs.elementwise_ops,
        rf_global=costs.field.whole,
    )
    return report, costs.field


def _family(kind: str) -> str:
    if kind == "sepconv":
        return "sepconv"
    if kind in CONV_KINDS or kind in POOL_KINDS:
        return "window"
    if kind in NORM_KINDS or kind in ACTIVATIONS or kind == "dropout":
        return "elementwise"
    return kind


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
    positive("scale", layer.scale)
    positive("heads", [layer.heads])
    if layer.size is not None:
        positive("output size", layer.size)
    if layer.out_channels is not None:
        positive("out channels" if layer.kind != "fc" else "units", [layer.out_channels])
    if not isinstance(layer.padding, str):
        for value in layer.padding:
            if value < 0:
                raise SpecError(f"{label}: padding must be >= 0, got {value}")
    for value in layer.output_padding:
        if value < 0:
            raise SpecError(f"{label}: output_padding must be >= 0, got {value}")


def _need_map(shape: Shape, kind: str, label: str, rank: int | None = None) -> None:
    """A spatial input of the layer's rank (any rank when ``rank`` is None)."""
    if shape.is_tokens:
        raise ConvcliError(f"{label}: {kind} needs a spatial input, got {shape} tokens")
    if shape.is_flat:
        raise ConvcliError(
            f"{label}: {kind} needs a spatial input ({_INPUT_FORMS.get(rank or 2)}), got "
            f"{shape.channels} flat features"
        )
    if rank is not None and shape.rank != rank:
        raise ConvcliError(
            f"{label}: a {rank}-D layer needs a {_INPUT_FORMS[rank]} input, got {shape} "
            f"({shape.rank}-D)"
        )


# ---------------------------------------------------------------------------------------
# Sliding windows: convolutions and pools


def _resolve_padding(
    layer: Layer, label: str, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int]
) -> tuple[int, ...]:
    """The pads actually applied, ``(before, after)`` per axis (``same``/``valid``
    resolved for this input)."""
    rank = len(size)
    if layer.padding == "valid":
        return (0,) * (2 * rank)
    if layer.padding != "same":
        return tuple(layer.padding)  # type: ignore[arg-type]
    pads: list[int] = []
    for axis in range(rank):
        if layer.kind != "deconv":
            pads += same_padding(size[axis], kernel[axis], stride[axis], layer.dilation[axis])
            continue
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
    return tuple(pads)


def _window_channels(layer: Layer, in_channels: int, label: str) -> tuple[int, int]:
    """``(out_channels, groups)`` of a convolution or pool."""
    kind, groups = layer.kind, layer.groups
    if kind in POOL_KINDS:
        return in_channels, 1
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
    else:
        out_channels = in_channels if layer.out_channels is None else layer.out_channels
    if in_channels % groups:
        raise ConvcliError(
            f"{label}: input channels {in_channels} must be divisible by groups {groups}"
        )
    if out_channels % groups:
        raise ConvcliError(
            f"{label}: out channels {out_channels} must be divisible by groups {groups}"
        )
    return out_channels, groups


def _window_checks(
    layer: Layer, label: str, kernel: Sequence[int], stride: Sequence[int], pads: Sequence[int]
) -> None:
    """PyTorch's rules on output_padding, dilation and pool padding."""
    kind, dilation = layer.kind, layer.dilation
    if kind == "avgpool" and set(dilation) != {1}:
        raise SpecError(
            f"{label}: avgpool takes no dilation (PyTorch's AvgPool2d has none), got "
            f"d={dims_text(dilation)}"
        )
    if kind == "deconv":
        for axis, value in enumerate(layer.output_padding):
            limit = max(stride[axis], dilation[axis])
            if value >= limit:
                raise ConvcliError(
                    f"{label}: output_padding must be smaller than max(stride, dilation) = "
                    f"{limit}, got {value}"
                )
    elif any(layer.output_padding):
        raise SpecError(f"{label}: output_padding (op) applies only to deconv")
    if kind not in POOL_KINDS:
        return
    for axis, size in enumerate(kernel):
        limit, widest = size // 2, max(pads[2 * axis], pads[2 * axis + 1])
        if widest <= limit:
            continue
        if layer.padding == "same":
            raise ConvcliError(
                f"{label}: padding 'same' cannot be honoured: it needs {widest} on one "
                f"side, more than kernel // 2 = {limit} (PyTorch's pooling rule)"
            )
        raise ConvcliError(
            f"{label}: padding must be at most kernel // 2 = {limit} (PyTorch's rule, on "
            f"the undilated kernel {size}), got {widest}"
        )


def _window_sizes(
    layer: Layer,
    label: str,
    in_size: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[int],
) -> list[int]:
    """The output size per axis (an error below 1)."""
    if layer.kind == "avgpool" and len(in_size) == 3 and any(map(int.__lt__, in_size, kernel)):
        raise ConvcliError(  # pool3d_shape_check's check_input_size, for AvgPool3d alone
            f"{label}: input {dims_text(in_size)} is smaller than the kernel "
            f"{dims_text(kernel)}: PyTorch's AvgPool3d refuses that whatever the padding "
            "(AvgPool1d, AvgPool2d and MaxPool3d take it)"
        )
    out_size: list[int] = []
    for axis, size in enumerate(in_size):
        side = (pads[2 * axis], pads[2 * axis + 1])
        dilation = layer.dilation[axis]
        if layer.kind == "deconv":
            out = transposed_output_size(
                size, kernel[axis], stride[axis], side, dilation, layer.output_padding[axis]
            )
        elif layer.kind in POOL_KINDS:
            out = pool_output_size(size, kernel[axis], stride[axis], side, dilation,
                                   layer.ceil_mode)  # fmt: skip
        else:
            out = conv_output_size(size, kernel[axis], stride[axis], side, dilation)
        out_size.append(out)
    if min(out_size) < 1:
        effective = [effective_kernel(k, d) for k, d in zip(kernel, layer.dilation, strict=True)]
        raise ConvcliError(
            f"{label}: output size must be >= 1, got {dims_text(out_size)} (input "
            f"{dims_text(in_size)}, effective kernel {dims_text(effective)}, stride "
            f"{dims_text(stride)}, padding {','.join(map(str, pads))})"
        )
    return out_size


def _dropped_warnings(
    layer: Layer, in_size: Sequence[int], out_size: Sequence[int], kernel: Sequence[int],
    stride: Sequence[int], pads: Sequence[int],
) -> tuple[str, ...]:  # fmt: skip
    """Floor division leaving real input rows unread, and kernels smaller than their
    stride (which read one row in s)."""
    if layer.kind == "deconv":
        return ()
    rank = len(in_size)
    warnings: list[str] = []
    for axis in range(rank):
        dropped = dropped_inputs(in_size[axis], out_size[axis], kernel[axis], stride[axis],
                                 pads[2 * axis], layer.dilation[axis])  # fmt: skip
        # A kernel narrower than its stride skips s - ke rows between windows anyway
        # (ResNet's 1x1 stride-2 shortcut): only rows beyond that gap are dropped.
        ke = effective_kernel(kernel[axis], layer.dilation[axis])
        dropped -= max(0, min(dropped, stride[axis] - ke))
        if dropped:
            name = _AXIS_NAMES[rank][axis]
            warnings.append(
                f"floor division drops {dropped} input {name}{'s' if dropped > 1 else ''} at "
                f"the {_AXIS_ENDS[rank][axis]}"
            )
    for axis in range(rank):
        ke = effective_kernel(kernel[axis], layer.dilation[axis])
        # A 1x1 kernel with stride 2 is the usual projection shortcut: only wider
        # kernels that still skip rows are flagged.
        if 1 < ke < stride[axis]:
            warnings.append(
                f"kernel {ke} is smaller than its stride {stride[axis]}: it reads "
                f"{ke} {_AXIS_NAMES[rank][axis]}s in {stride[axis]}"
            )
            break
    for axis in range(rank):
        # Every tap sits at o*s + t*d - p: with a common factor g of s and d, the rows of
        # the other g - 1 residues are never read (k=3, s=2, d=2 reads the even rows only).
        shared = math.gcd(stride[axis], layer.dilation[axis])
        if shared > 1 and kernel[axis] > 1:
            name = _AXIS_NAMES[rank][axis]
            warnings.append(
                f"stride {stride[axis]} and dilation {layer.dilation[axis]} share the factor "
                f"{shared}: the taps read 1 {name} in {shared}, the others never"
            )
            break
    return tuple(warnings)


def _window(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape, rank = inputs[0], layer.rank
    _need_map(shape, layer.kind, label, rank)
    if layer.kernel is None:
        if layer.kind != "pwconv":
            raise SpecError(f"{label}: {layer.kind} needs a kernel size (k=K or k=KHxKW)")
        kernel: tuple[int, ...] = (1,) * rank
    else:
        kernel = layer.kernel
    if layer.kind == "pwconv" and set(kernel) != {1}:
        raise SpecError(f"{label}: pwconv has a 1x1 kernel, got k={dims_text(kernel)}")
    is_pool = layer.kind in POOL_KINDS
    stride = layer.stride or (kernel if is_pool else (1,) * rank)
    in_channels = shape.channel_count
    out_channels, groups = _window_channels(layer, in_channels, label)
    pads = _resolve_padding(layer, label, shape.spatial, kernel, stride)
    _window_checks(layer, label, kernel, stride, pads)
    out_size = _window_sizes(layer, label, shape.spatial, kernel, stride, pads)
    warnings = _dropped_warnings(layer, shape.spatial, out_size, kernel, stride, pads)
    if layer.kind == "deconv":
        field = fields[0].transposed(kernel, layer.dilation, stride, pads[0::2], out_size)
    else:
        spans = [effective_kernel(k, d) for k, d in zip(kernel, layer.dilation, strict=True)]
        field = fields[0].window(spans, stride, pads[0::2], out_size)
    # An H x W input with no channel count stays channel-less until a layer sets one.
    channel_less = shape.channels is None and layer.out_channels is None and out_channels == 1
    output = Shape.of(None if channel_less else out_channels, out_size, shape.batch)
    taps = 1
    for size in kernel:
        taps *= size
    batch = shape.batch_count
    if is_pool:
        return _Costs(output, field, window_ops=output.elements * taps, padding=pads,
                      warnings=warnings)  # fmt: skip
    params = out_channels * (in_channels // groups) * taps + (out_channels if layer.bias else 0)
    if layer.kind == "deconv":
        macs = batch * shape.positions * in_channels * (out_channels // groups) * taps
    else:
        macs = output.elements * (in_channels // groups) * taps
    return _Costs(output, field, params=params, macs=macs, padding=pads, warnings=warnings)


def _sepconv(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    parts: list[LayerReport] = []
    shape, field = inputs[0], fields[0]
    position = 0
    for part in expand(layer):
        report, field = layer_report(position, part, [shape], [field], dtype_bytes, label)
        parts.append(report)
        shape = report.output
    depthwise, pointwise = parts
    return _Costs(
        output=pointwise.output,
        field=field,
        params=depthwise.params + pointwise.params,
        macs=depthwise.macs + pointwise.macs,
        padding=depthwise.padding,
        warnings=depthwise.warnings,
        parts=tuple(parts),
    )


# ---------------------------------------------------------------------------------------
# Dense layers, adaptive pools, element-wise layers


def _fc(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape, field = inputs[0], fields[0]
    if layer.out_channels is None:
        raise SpecError(f"{label}: fc needs its number of units (fc:UNITS)")
    units = layer.out_channels
    if shape.is_tokens:
        # PyTorch's Linear acts on the last dimension: each token on its own.
        features = shape.channel_count
        output = replace(shape, channels=units)
    else:
        features = shape.elements // shape.batch_count
        output = Shape.features(units, shape.batch)
        # A unit sees every position of the last spatial map.
        field = field.window(field.extent, (1,) * len(field.extent), (0,) * len(field.extent),
                             (1,) * len(field.extent))  # fmt: skip
    params = units * features + (units if layer.bias else 0)
    macs = output.elements * features
    return _Costs(output, field, params=params, macs=macs)


def _flatten(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    return _Costs(Shape.features(shape.elements // shape.batch_count, shape.batch), fields[0])


def _adaptive_bins(size: int, out: int) -> int:
    """The widest bin of PyTorch's adaptive pooling: bin i spans
    ``[floor(i n / o), ceil((i + 1) n / o))``.

    Exact up to 4,096 bins; beyond, ``ceil(n / o) + 1`` bounds it (no bin is wider).
    """
    if size % out == 0:
        return size // out
    if out > 4096:
        return -(-size // out) + 1
    return max(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))


def _gap(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    _need_map(shape, layer.kind, label)
    out_size = layer.size or (1,) * shape.rank
    if len(out_size) == 1 and shape.rank > 1:
        out_size = out_size * shape.rank
    if len(out_size) != shape.rank:
        raise SpecError(
            f"{label}: output size {dims_text(out_size)} has {len(out_size)} axes, the input "
            f"{shape} has {shape.rank}"
        )
    bins = [_adaptive_bins(n, o) for n, o in zip(shape.spatial, out_size, strict=True)]
    # One bin covers the map: the jump stays (as for a chain's gap); equal bins step by
    # n / o; unequal bins have no single jump, and the widest bin is reported.
    jumps = [n // o if o > 1 and n % o == 0 else 1
             for n, o in zip(shape.spatial, out_size, strict=True)]  # fmt: skip
    field = fields[0].window(bins, jumps, (0,) * shape.rank, out_size)
    output = Shape.of(shape.channels, out_size, shape.batch)
    taps = 1
    for size in bins:
        taps *= size
    # Exact for equal bins (the usual case); otherwise the widest bin bounds it.
    window_ops = shape.elements if set(out_size) == {1} else output.elements * taps
    return _Costs(output, field, window_ops=window_ops)


def _elementwise(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    channels = shape.channel_count
    if layer.kind == "dropout":
        return _Costs(shape, fields[0])
    if layer.kind not in NORM_KINDS:
        return _Costs(shape, fields[0], elementwise_ops=shape.elements)
    if layer.kind == "gn" and channels % layer.groups:
        raise ConvcliError(
            f"{label}: channels {channels} must be divisible by the {layer.groups} groups"
        )
    if layer.kind == "bn" and shape.is_tokens:
        raise ConvcliError(f"{label}: bn needs channels to normalise, got {shape} tokens")
    buffers = 2 * channels if layer.kind == "bn" else 0
    return _Costs(shape, fields[0], params=2 * channels, buffers=buffers,
                  elementwise_ops=2 * shape.elements)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Resampling: up, shuffle, pad, crop


def _scale_of(layer: Layer, rank: int) -> tuple[int, ...]:
    scale = layer.scale
    return scale * rank if len(scale) == 1 else scale[-rank:] if len(scale) >= rank else scale


def _up(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    _need_map(shape, layer.kind, label)
    scale = _scale_of(layer, shape.rank)
    if len(scale) != shape.rank:
        raise SpecError(f"{label}: scale {dims_text(scale)} does not fit a {shape.rank}-D map")
    out_size = [n * s for n, s in zip(shape.spatial, scale, strict=True)]
    # The field as a transposed layer of kernel s (nearest) or 2s (linear), stride s.
    reach = 2 if layer.mode != "nearest" else 1
    field = fields[0].transposed([reach * s for s in scale], [1] * shape.rank, scale,
                                 [(reach - 1) * s // 2 for s in scale], out_size)  # fmt: skip
    output = Shape.of(shape.channels, out_size, shape.batch)
    ops = output.elements if layer.mode != "nearest" else 0
    return _Costs(output, field, elementwise_ops=ops)


def _shuffle(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    _need_map(shape, layer.kind, label, 2)
    factor = layer.scale[0]
    if shape.channel_count % (factor * factor):
        raise ConvcliError(
            f"{label}: channels {shape.channel_count} must be divisible by {factor}^2 = "
            f"{factor * factor}"
        )
    out_size = [n * factor for n in shape.spatial]
    field = fields[0].transposed([factor] * 2, [1, 1], [factor] * 2, [0, 0], out_size)
    return _Costs(Shape.of(shape.channel_count // factor**2, out_size, shape.batch), field)


def _pad(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    _need_map(shape, layer.kind, label)
    if isinstance(layer.padding, str):
        raise SpecError(f"{label}: pad takes numbers (pad:T,B,L,R or pad:N), not {layer.padding}")
    pads = tuple(layer.padding)
    if len(pads) != 2 * shape.rank:
        raise SpecError(f"{label}: {len(pads)} pads do not fit a {shape.rank}-D map")
    out_size = [n + pads[2 * a] + pads[2 * a + 1] for a, n in enumerate(shape.spatial)]
    field = fields[0].window([1] * shape.rank, [1] * shape.rank, pads[0::2], out_size)
    return _Costs(Shape.of(shape.channels, out_size, shape.batch), field, padding=pads)


def _crop(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape, target = inputs[0], inputs[1]
    _need_map(shape, layer.kind, label)
    if target.rank != shape.rank or any(
        t > n for t, n in zip(target.spatial, shape.spatial, strict=True)
    ):
        raise ConvcliError(
            f"{label}: cannot crop {shape} to the size of '{layer.refs[0]}' ({target})"
        )
    # torchvision's center_crop: the first kept row is round((n - t) / 2).
    befores = [int(round((n - t) / 2)) for n, t in zip(shape.spatial, target.spatial, strict=True)]
    field = fields[0].window([1] * shape.rank, [1] * shape.rank, [-b for b in befores],
                             target.spatial)  # fmt: skip
    return _Costs(Shape.of(shape.channels, target.spatial, shape.batch), field)


# ---------------------------------------------------------------------------------------
# Squeeze-excitation, merges


def _se(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    """gap -> 1x1 conv to SQ -> act -> 1x1 conv back to C -> sigmoid -> multiply."""
    shape, field = inputs[0], fields[0]
    _need_map(shape, layer.kind, label)
    if layer.out_channels is None:
        raise SpecError(f"{label}: se needs its squeeze width (se:SQ)")
    squeeze, channels = layer.out_channels, shape.channel_count
    ones = (1,) * shape.rank
    words = (
        Layer("gap", rank=shape.rank, word="gap"),
        Layer("conv", squeeze, kernel=ones, rank=shape.rank, padding=(0,) * (2 * shape.rank),
              dilation=ones, output_padding=(0,) * shape.rank, word=f"conv:{squeeze},k=1"),
        Layer(layer.act or "relu", word=layer.act or "relu"),
        Layer("conv", channels, kernel=ones, rank=shape.rank, padding=(0,) * (2 * shape.rank),
              dilation=ones, output_padding=(0,) * shape.rank, word=f"conv:{channels},k=1"),
        Layer("sigmoid", word="sigmoid"),
    )  # fmt: skip
    parts, _, _ = _run_parts(words, shape, field, dtype_bytes, label)
    product = shape.elements
    mul = LayerReport(0, Layer("mul", word="mul"), shape, shape, 0, 0, 0, (), (), (), (),
                      product * dtype_bytes, elementwise_ops=product)  # fmt: skip
    return _summed(shape, replace(field, whole=True), [*parts, mul])


def _run_parts(
    words: Sequence[Layer], shape: Shape, field: Field, dtype_bytes: int, label: str
) -> tuple[list[LayerReport], Shape, Field]:
    """The pieces of a composite word (``se``, ``mlp``) applied in turn."""
    parts: list[LayerReport] = []
    for part in words:
        report, field = layer_report(0, part, [shape], [field], dtype_bytes, label)
        parts.append(report)
        shape = report.output
    return parts, shape, field


def _summed(output: Shape, field: Field, parts: Sequence[LayerReport]) -> _Costs:
    """A composite word's costs: the sums of its pieces, which it keeps as ``parts``."""
    return _Costs(
        output=output,
        field=field,
        params=sum(p.params for p in parts),
        macs=sum(p.macs for p in parts),
        window_ops=sum(p.window_ops for p in parts),
        elementwise_ops=sum(p.elementwise_ops for p in parts),
        parts=tuple(parts),
    )


def _merge_field(fields: Sequence[Field]) -> Field:
    merged = fields[0]
    for other in fields[1:]:
        merged = merged.merge(other)
    return merged


def _add(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    for name, other in zip(layer.refs, inputs[1:], strict=True):
        if other != shape:
            raise ConvcliError(
                f"{label}: cannot add '{name}' ({other}) to the current tensor ({shape}): "
                "shapes must match"
            )
    return _Costs(shape, _merge_field(fields), elementwise_ops=shape.elements * len(layer.refs))


def _broadcasts(small: Shape, big: Shape) -> bool:
    """``C x 1 x 1`` onto ``C x H x W`` (a gate), same channels and rank."""
    return (small.channels == big.channels and small.rank == big.rank
            and set(small.spatial) == {1})  # fmt: skip


def _mul(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape, field = inputs[0], fields[0]
    for name, other, other_field in zip(layer.refs, inputs[1:], fields[1:], strict=True):
        if other == shape:
            field = field.merge(other_field)
        elif _broadcasts(other, shape) or _broadcasts(shape, other):
            shape = shape if _broadcasts(other, shape) else other
            field = replace(field.merge(other_field), whole=True)
        else:
            raise ConvcliError(
                f"{label}: cannot multiply the current tensor ({inputs[0]}) by '{name}' "
                f"({other}): shapes must match, or one must be C x 1 x 1"
            )
    return _Costs(shape, field, elementwise_ops=shape.elements * len(layer.refs))


def _cat(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    channels = shape.channel_count
    for name, other in zip(layer.refs, inputs[1:], strict=True):
        if other.spatial != shape.spatial or other.tokens != shape.tokens:
            raise ConvcliError(
                f"{label}: cannot concatenate '{name}' ({other}) with the current tensor "
                f"({shape}): sizes must match"
            )
        channels += other.channel_count
    return _Costs(shape.with_channels(channels), _merge_field(fields))


# ---------------------------------------------------------------------------------------
# Transformer words


def _need_tokens(shape: Shape, kind: str, label: str) -> None:
    if not shape.is_tokens:
        raise ConvcliError(
            f"{label}: {kind} needs tokens (T x C), got {shape}; 'tokens' turns a map into them"
        )


def _tokens(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    _need_map(shape, layer.kind, label)
    output = Shape.token_shape(shape.positions, shape.channel_count, shape.batch)
    return _Costs(output, fields[0])


def _cls(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    _need_tokens(shape, layer.kind, label)
    output = replace(shape, tokens=shape.tokens + 1)  # type: ignore[operator]
    return _Costs(output, fields[0], params=shape.channel_count)


def _posemb(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    shape = inputs[0]
    _need_tokens(shape, layer.kind, label)
    return _Costs(shape, fields[0], params=shape.positions * shape.channel_count,
                  elementwise_ops=shape.elements)  # fmt: skip


def _attn(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    """Multi-head self-attention: q, k, v and output projections (with bias), and the two
    ``T x T`` matmuls (``q k^T`` and ``softmax(.) v``), as PyTorch's MultiheadAttention."""
    shape = inputs[0]
    _need_tokens(shape, layer.kind, label)
    width, tokens, batch = shape.channel_count, shape.positions, shape.batch_count
    if width % layer.heads:
        raise ConvcliError(f"{label}: width {width} must be divisible by {layer.heads} heads")
    params = 4 * width * width + (4 * width if layer.bias else 0)
    macs = batch * (4 * tokens * width * width + 2 * tokens * tokens * width)
    softmax = batch * layer.heads * tokens * tokens
    return _Costs(shape, replace(fields[0], whole=True), params=params, macs=macs,
                  elementwise_ops=softmax)  # fmt: skip


def _mlp(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    """fc to HIDDEN, the activation (GELU), fc back to C: a transformer's MLP."""
    shape = inputs[0]
    _need_tokens(shape, layer.kind, label)
    if layer.out_channels is None:
        raise SpecError(f"{label}: mlp needs its hidden width (mlp:HIDDEN)")
    words = (
        Layer("fc", layer.out_channels, bias=layer.bias, word=f"fc:{layer.out_channels}"),
        Layer(layer.act or "gelu", word=layer.act or "gelu"),
        Layer("fc", shape.channel_count, bias=layer.bias, word=f"fc:{shape.channel_count}"),
    )
    parts, output, field = _run_parts(words, shape, fields[0], dtype_bytes, label)
    return _summed(output, field, parts)


def _head(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    """The class token (token 0) through fc:N."""
    shape = inputs[0]
    _need_tokens(shape, layer.kind, label)
    if layer.out_channels is None:
        raise SpecError(f"{label}: head needs its number of classes (head:N)")
    features, units = shape.channel_count, layer.out_channels
    output = Shape.features(units, shape.batch)
    params = units * features + (units if layer.bias else 0)
    return _Costs(output, fields[0], params=params, macs=shape.batch_count * units * features)


def _opaque(
    layer: Layer, inputs: Sequence[Shape], fields: Sequence[Field], label: str, dtype_bytes: int
) -> _Costs:
    """An operator convcli does not count (``opaque:NAME,out=SHAPE``, what an ONNX import
    writes for one): its output shape is given, batch kept from the input; no parameters,
    MACs or element operations; every output may depend on the whole input."""
    shape = inputs[0]
    if layer.out_channels is None or layer.size is None:
        raise SpecError(f"{label}: opaque needs its output shape (out=CxHxW, Ff or TxCt)")
    if layer.mode == "tokens":
        output = Shape.token_shape(layer.size[0], layer.out_channels, shape.batch)
    elif layer.mode == "flat":
        output = Shape.features(layer.out_channels, shape.batch)
    else:
        output = Shape.of(layer.out_channels, layer.size, shape.batch)
    return _Costs(output, replace(Field.start(output), whole=True))


_COSTERS = {
    "window": _window,
    "sepconv": _sepconv,
    "fc": _fc,
    "flatten": _flatten,
    "gap": _gap,
    "gmp": _gap,
    "elementwise": _elementwise,
    "up": _up,
    "shuffle": _shuffle,
    "pad": _pad,
    "crop": _crop,
    "se": _se,
    "add": _add,
    "mul": _mul,
    "cat": _cat,
    "tokens": _tokens,
    "cls": _cls,
    "posemb": _posemb,
    "attn": _attn,
    "mlp": _mlp,
    "head": _head,
    "opaque": _opaque,
}
