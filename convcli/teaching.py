"""What ``convcli draw`` asks the library: one layer's geometry (and numbers) from the words
typed on the command line, and, for networks, the receptive field of one output pixel
traced back through the layers and the tensor sizes per layer.

Parsing of the typed words lives here so that the command only wires: parse (Typer) ->
:func:`answer_layer` or :func:`trace_network` -> render (:mod:`convcli.render.draw`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from convcli.errors import ConvcliError, SpecError
from convcli.steps import (
    Arithmetic,
    Geometry,
    conv_arithmetic,
    conv_geometry,
    conv_transpose_arithmetic,
    pool_arithmetic,
    pool_geometry,
    transposed_geometry,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from convcli.compare import NetworkComparison
    from convcli.geometry import ChainReport, Shape
    from convcli.network import Source

__all__ = [
    "NETWORK_PICTURES",
    "OPS",
    "NetworkPicture",
    "network_picture",
    "LayerQuestion",
    "LayerAnswer",
    "Region",
    "answer_layer",
    "trace_network",
]

#: ``--op`` choices: the layer kinds ``draw`` shows.
OPS: tuple[str, ...] = ("conv", "deconv", "maxpool", "avgpool", "minpool", "median")
_POOL = {"maxpool": "max", "avgpool": "avg", "minpool": "min", "median": "median"}
_SIZE = re.compile(r"^\s*\d+(\s*[x×*]\s*\d+)?\s*$")
#: Largest grid side ``draw`` draws (cells, padding included), and most animation frames.
MAX_SIDE = 64
MAX_FRAMES = 1024
#: Most pixels of all an animation's frames together: Pillow holds every frame while it
#: writes a GIF or APNG (1,024 frames of 1610x861 took 2.9 GB and 16 s).
MAX_ANIMATION_PIXELS = 1 << 29


@dataclass(frozen=True)
class LayerQuestion:
    """The words of ``convcli draw`` for one layer, as typed (None: not given).

    ``input`` is a size (``5``, ``5x7``) or a matrix file (``.npy``, ``.csv``, ``.txt``);
    ``matrix`` the ``--matrix`` values; ``kernel`` a size (``3``, ``3x5``) or, for
    convolutions, a kernel STEP (``"0 1; 2 3"``, ``sobel-x``, ``@k.txt``).
    """

    kernel: str
    input: str | None = None
    matrix: str | None = None
    op: str = "conv"
    stride: str | None = None
    padding: str | None = None
    dilation: str | None = None
    output_padding: str | None = None
    ceil_mode: bool = False
    border: str | None = None


@dataclass
class LayerAnswer:
    """A layer to draw: its geometry and, with a matrix input, its arithmetic."""

    geometry: Geometry
    layer: Arithmetic | None = None


def _pair(text: str, name: str, low: int | None = None) -> tuple[int, int]:
    from convcli.layers import parse_pair

    return parse_pair(text, name, low=low)


def _input_values(question: LayerQuestion) -> tuple[tuple[int, int], np.ndarray | None]:
    """The input's size, and its values when it is a matrix (one channel)."""
    from convcli import imageio

    if question.matrix is not None and question.input is not None:
        raise SpecError("give INPUT (a size or a matrix file) or --matrix, not both")
    values = None
    if question.matrix is not None:
        values = imageio.parse_matrix(question.matrix, "--matrix")
        name = "--matrix"
    elif question.input is None:
        raise SpecError("missing INPUT: a size (5, 5x7), a matrix file, or --matrix VALUES")
    elif _SIZE.match(question.input):
        size = _pair(question.input, "INPUT")
        if min(size) < 1:
            raise SpecError(f"INPUT must be at least 1x1, got {question.input!r}")
        return size, None
    elif imageio.is_matrix_path(question.input):
        values = imageio.load_matrix(question.input)
        name = question.input
    else:
        raise SpecError(
            f"INPUT must be a size (5, 5x7) or a matrix file (.npy, .csv, .txt), "
            f"got {question.input!r}"
        )
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2:
        raise SpecError(
            f"{name}: draw shows one channel, got shape {tuple(values.shape)}; "
            "`convcli apply --steps` shows sums over channels"
        )
    return (int(values.shape[0]), int(values.shape[1])), values


def _options_typed(question: LayerQuestion) -> str:
    """The layer's options as typed, ``--op maxpool -k 2 -p 2``, to name them in a refusal."""
    typed = (
        ("--op", question.op),
        ("-k", question.kernel),
        ("-s", question.stride),
        ("-p", question.padding),
        ("-d", question.dilation),
        ("--output-padding", question.output_padding),
    )
    return " ".join(f"{flag} {value}" for flag, value in typed if value)


def _layer_geometry(
    question: LayerQuestion,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int] | None,
    padding: object,
    dilation: tuple[int, int],
) -> Geometry:
    """The layer's geometry from its parsed options; a rule of the layer they break
    (impossible geometry, exit 1) is refused naming the options as typed, as ``shape``
    names its layer."""
    op = question.op
    build: Callable[[], Geometry]
    if op == "deconv":  # its own words parsed first: their errors are usage errors (exit 2)
        pads = _symmetric(padding, question.padding)
        extra = _pair(question.output_padding, "--output-padding") if question.output_padding else 0
        build = functools.partial(
            transposed_geometry, size, kernel, stride or 1, pads, extra, dilation
        )
    elif op == "conv":
        build = functools.partial(conv_geometry, size, kernel, stride or 1, padding, dilation)
    else:
        build = functools.partial(
            pool_geometry, _POOL[op], size, kernel, stride, padding, dilation, question.ceil_mode
        )
    try:
        return build()
    except ConvcliError as error:
        raise ConvcliError(f"{_options_typed(question)}: {error}") from None


def _kernel(question: LayerQuestion) -> tuple[tuple[int, int], np.ndarray | None]:
    """The kernel's size, and its weights when given as values."""
    text = question.kernel
    if _SIZE.match(text):
        size = _pair(text, "-k/--kernel")
        if min(size) < 1:
            raise SpecError(f"-k/--kernel must be >= 1, got {min(size)}")
        return size, None
    if question.op not in ("conv", "deconv"):
        raise SpecError(f"--op {question.op} takes -k N or HxW (the window), got {text!r}")
    from convcli.kernels import KernelStep, parse_step

    step = parse_step(text)
    if not isinstance(step, KernelStep) or step.magnitude is not None or step.weight.ndim != 2:
        what = "a gradient magnitude of two kernels (use its -x or -y kernel)"
        if isinstance(step, KernelStep) and step.magnitude is None:
            what = f"a {step.weight.ndim}-D kernel"
        elif not isinstance(step, KernelStep):
            what = "a pool (use --op maxpool -k N)"
        raise SpecError(f"-k/--kernel '{text}': draw shows one 2-D kernel; this is {what}")
    return (int(step.weight.shape[0]), int(step.weight.shape[1])), step.weight


def answer_layer(question: LayerQuestion) -> LayerAnswer:
    """Parse a ``draw`` question, check it as PyTorch would, and place its windows.

    Raises
    ------
    SpecError
        A malformed word, or an option the operation does not take, naming it.
    ConvcliError
        A layer PyTorch rejects, or one too large to draw (more than :data:`MAX_SIDE`
        cells a side).

    Examples
    --------
    >>> answer = answer_layer(LayerQuestion("3", "5", padding="1", stride="2"))
    >>> answer.geometry.out_size, answer.layer is None
    ((3, 3), True)
    >>> answer = answer_layer(LayerQuestion("0 1; 2 3", matrix="0 1 2; 3 4 5; 6 7 8"))
    >>> answer.layer.output[0].tolist()
    [[19.0, 25.0], [37.0, 43.0]]
    """
    from convcli.layers import parse_padding_option

    op = question.op
    if op not in OPS:
        raise SpecError(f"--op must be one of {', '.join(OPS)}, got {op!r}")
    if question.output_padding is not None and op != "deconv":
        raise SpecError("--output-padding is for --op deconv (a transposed convolution)")
    if question.ceil_mode and op not in ("maxpool", "avgpool", "minpool"):
        raise SpecError("--ceil-mode is for --op maxpool, avgpool and minpool")
    if question.border is not None and op not in ("conv", "median"):
        raise SpecError(f"--border fills the padding of conv and median; --op {op} pads itself")
    size, values = _input_values(question)
    kernel, weight = _kernel(question)
    stride = _pair(question.stride, "-s/--stride", low=1) if question.stride else None
    dilation = _pair(question.dilation, "-d/--dilation", low=1) if question.dilation else (1, 1)
    padding: object = parse_padding_option(question.padding) if question.padding else 0
    geometry = _layer_geometry(question, size, kernel, stride, padding, dilation)
    _check_drawable(geometry, question)
    if values is None:
        return LayerAnswer(geometry)
    if weight is None and op in ("conv", "deconv"):
        raise SpecError(
            f'numbers need the kernel\'s values: give -k a matrix ("0 1; 2 3") or a named '
            f"kernel, not the size {question.kernel!r}"
        )
    g = geometry
    if op == "conv":
        layer = conv_arithmetic(values, weight, None, g.stride, g.pads, g.dilation, 1,
                                question.border or "zeros")  # fmt: skip
    elif op == "deconv":
        layer = conv_transpose_arithmetic(values, weight, None, g.stride, g.pads[::2],
                                          g.output_padding, 1, g.dilation)  # fmt: skip
    else:
        layer = pool_arithmetic(values, _POOL[op], g.kernel_size, g.stride, g.pads, g.dilation,
                                g.ceil_mode, True, question.border or "zeros")  # fmt: skip
    return LayerAnswer(layer.geometry, layer)


def _symmetric(padding: object, text: str | None) -> tuple[int, int]:
    if padding in (0, "valid"):
        return (0, 0)
    if isinstance(padding, tuple) and padding[0] == padding[1] and padding[2] == padding[3]:
        return (padding[0], padding[2])
    raise SpecError(
        f"-p/--padding {text!r}: a transposed convolution crops the same on both sides "
        "(N or HxW, as in PyTorch)"
    )


def _check_drawable(geometry: Geometry, question: LayerQuestion) -> None:
    g = geometry
    left = (g.rows.size, g.cols.size) if g.transposed else (len(g.rows.grid), len(g.cols.grid))
    right = (len(g.rows.grid), len(g.cols.grid)) if g.transposed else g.out_size
    for what, (rows, cols) in (("input grid", left), ("output grid", right)):
        if max(rows, cols) > MAX_SIDE:
            given = question.input if question.input is not None else "--matrix"
            raise ConvcliError(
                f"INPUT {given!r}: the {what} would be {rows}x{cols} cells, more than draw's "
                f"{MAX_SIDE}x{MAX_SIDE}; draw a smaller example (the geometry is the same)"
            )


# ---------------------------------------------------------------------------------------
# Networks: the receptive field traced back, the tensor sizes


@dataclass(frozen=True)
class Region:
    """One layer's map and the part of it one output pixel depends on.

    ``rows``/``cols`` are ``(first, last)`` positions, clipped to the map; ``whole`` when
    every position counts (global pooling, attention, fully connected).
    """

    position: int  # 0: the input
    label: str
    shape: str
    size: tuple[int, int]
    rows: tuple[int, int]
    cols: tuple[int, int]
    whole: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The region as data: ``rows``/``cols`` as ``[first, last]``."""
        return {
            "position": self.position,
            "label": self.label,
            "shape": self.shape,
            "size": list(self.size),
            "rows": list(self.rows),
            "cols": list(self.cols),
            "whole": self.whole,
        }


def _axis_region(
    at: int, rf: Fraction, jump: Fraction, pad: Fraction, size: int
) -> tuple[int, int]:
    import math

    first = at * jump - pad
    last = first + rf - 1
    low, high = max(0, math.floor(first)), min(size - 1, math.ceil(last))
    return (low, max(low, high))


def trace_network(report: ChainReport, at: tuple[int, int] | None = None) -> list[Region]:
    """Trace one output pixel of the last map back through every layer that has a map.

    Parameters
    ----------
    report : ChainReport
        From :func:`convcli.network.size_network`.
    at : (row, col), optional
        The output pixel; default the centre of the last 2-D map (the last larger than
        1x1: a global pool's output has nothing left to trace).

    Returns
    -------
    list of Region
        The input first, then each layer whose output is a 2-D map, with the region of it
        the pixel depends on. Per layer, the field of the chosen pixel in that layer's
        coordinates is the composition of the layers after it (Araujo et al.): from the
        receptive fields ``r``, jumps ``j`` and paddings ``p`` relative to the input,
        ``r' = (r_L - r_l) / j_l + 1``, ``j' = j_L / j_l``, ``p' = (p_L - p_l) / j_l``.
        Over branches the fields are the widest path's.

    Raises
    ------
    ConvcliError
        No 2-D map, or ``at`` outside the last one.

    Examples
    --------
    >>> from convcli.network import Source, size_network
    >>> report = size_network(Source(("conv:8,k=3", "conv:8,k=3"), input_size="1x9x9"))
    >>> [(r.size, r.rows) for r in trace_network(report)]
    [((9, 9), (2, 6)), ((7, 7), (2, 4)), ((5, 5), (2, 2))]
    """
    layers = [r for r in report.layers if r.output.rank == 2 and len(r.output.spatial) == 2]
    if report.input.rank != 2 or not layers:
        raise ConvcliError("the receptive-field picture needs 2-D maps (CxHxW layers)")
    while len(layers) > 1 and layers[-1].output.spatial == (1, 1):
        layers.pop()  # after a global pool: trace the last map that still has positions
    last = layers[-1]
    height, width = last.output.spatial
    row, col = at if at is not None else (height // 2, width // 2)
    if not (0 <= row < height and 0 <= col < width):
        raise SpecError(f"--at {row},{col} is outside the last map ({height}x{width})")
    regions = []
    zero, one = Fraction(0), Fraction(1)
    Axes = tuple[Fraction, ...]
    entries: list[tuple[int, str, Shape, Axes, Axes, Axes]] = [
        (0, "input", report.input, (one, one), (one, one), (zero, zero))
    ]

    def exact(values: tuple[Fraction | int, ...]) -> Axes:  # ints until a transposed layer
        return tuple(Fraction(value) for value in values)

    entries += [(r.position, r.spec, r.output, exact(r.rf), exact(r.jump), exact(r.rf_padding))
                for r in layers]  # fmt: skip
    final_rf, final_jump, final_pad = exact(last.rf), exact(last.jump), exact(last.rf_padding)
    for index, (position, label, shape, rf, jump, pad) in enumerate(entries):
        size = (shape.spatial[0], shape.spatial[1])
        whole = last.rf_global and index < len(entries) - 1
        if index == len(entries) - 1:
            rows, cols = (row, row), (col, col)
        elif whole:
            rows, cols = (0, size[0] - 1), (0, size[1] - 1)
        else:
            rows, cols = (
                _axis_region(
                    at_axis,
                    (final_rf[axis] - rf[axis]) / jump[axis] + 1,
                    final_jump[axis] / jump[axis],
                    (final_pad[axis] - pad[axis]) / jump[axis],
                    size[axis],
                )
                for axis, at_axis in ((0, row), (1, col))
            )
        regions.append(Region(position, label, str(shape), size, rows, cols, whole))
    return regions


# ---------------------------------------------------------------------------------------
# The network pictures of ``draw --picture``

#: ``--picture`` kinds that draw a network.
NETWORK_PICTURES: tuple[str, ...] = ("rf", "sizes", "by-kind")


@dataclass(frozen=True)
class NetworkPicture:
    """What a network picture shows: the receptive field of one output pixel traced back
    (``rf``: ``regions``), the tensor sizes (``sizes``: ``report``), or compare's split by
    kind of layer (``by-kind``: ``comparison``)."""

    kind: str
    regions: tuple[Region, ...] = ()
    report: ChainReport | None = None
    comparison: NetworkComparison | None = None

    def to_dict(self) -> dict[str, Any]:
        """The picture's data: ``picture`` (the kind) and what it draws."""
        data: dict[str, Any] = {"picture": self.kind}
        if self.regions:
            data["regions"] = [region.to_dict() for region in self.regions]
        if self.report is not None:
            data["report"] = self.report.to_dict()
        if self.comparison is not None:
            data["comparison"] = self.comparison.to_dict()
        return data


def network_picture(source: Source, kind: str, at: tuple[int, int] | None = None) -> NetworkPicture:
    """The data of ``draw --picture KIND`` for a network.

    Parameters
    ----------
    source : Source
        The network as given: INPUT and LAYER words, ``--net`` or ``--preset``.
    kind : {"rf", "sizes", "by-kind"}
        The picture.
    at : (row, col), optional
        ``rf`` only: the output pixel to trace (default the centre of the last map).

    Raises
    ------
    SpecError
        ``by-kind`` without a net file or preset (it compares a network), ``rf``/``sizes``
        without a network, ``--at`` for ``sizes`` or ``by-kind``.
    """
    named = source.net is not None or source.preset is not None
    if kind == "by-kind":
        if not named:
            raise SpecError("--picture by-kind compares a network: give --preset or --net")
        from convcli.compare import compare_source

        return NetworkPicture(kind, comparison=compare_source(source))
    if not (named or source.words):
        raise SpecError(
            f"--picture {kind} draws a network: INPUT and LAYER words, --net or --preset"
        )
    from convcli.network import size_network

    report = size_network(source)
    if kind == "rf":
        return NetworkPicture(kind, regions=tuple(trace_network(report, at)))
    if at is not None:
        raise SpecError("--at is for --picture rf and for stills of one layer")
    return NetworkPicture(kind, report=report)
